# Diagnostic plots: each builds, and draws what it claims from the data it is given.

plot_predictions <- function(n = 150, seed = 1) {
  set.seed(seed)
  classes <- c("B", "T", "NK")
  type <- rep(classes, length.out = n)
  logits <- matrix(rnorm(n * 3), n, 3) + 3 * outer(type, classes, "==")
  p <- exp(logits) / rowSums(exp(logits))
  dimnames(p) <- list(sprintf("c%03d", seq_len(n)), classes)
  # shaped like scnym_predict()'s DataFrame, its threshold in metadata()
  pred <- S4Vectors::DataFrame(label = classes[max.col(p)], confidence = apply(p, 1, max),
                               row.names = rownames(p))
  pred$pruned_label <- ifelse(pred$confidence >= 0.5, pred$label, NA)
  pred$probabilities <- p
  pred$embedding <- matrix(rnorm(n * 6), n, 6) + 4 * outer(type == "B", rep(1, 6))
  S4Vectors::metadata(pred)$prune_below <- 0.6
  list(pred = pred, truth = type)
}

built <- function(p) ggplot2::ggplot_build(p)

test_that("the confidence plot has one violin per label and the threshold line", {
  fx <- plot_predictions()
  p <- scnym_plot_confidence(fx$pred)
  expect_s3_class(p, "ggplot")
  b <- built(p)
  expect_equal(length(unique(b$data[[1]]$x)), length(unique(fx$pred$label)))
  # the threshold of the predictions' metadata (not the default 0.5)
  expect_equal(b$data[[3]]$yintercept, 0.6)
  p2 <- scnym_plot_confidence(fx$pred, truth = fx$truth, threshold = 0.7, max_points = 20)
  b2 <- built(p2)
  expect_equal(nrow(b2$data[[2]]), 20)
  expect_equal(b2$data[[3]]$yintercept, 0.7)
  expect_true(all(p2$layers[[2]]$data$prediction %in% c("correct", "wrong")))
  expect_equal(p2$data$prediction == "correct", fx$pred$label == fx$truth)
})

test_that("the probability heatmap has a tile per cell and class, grouped by label", {
  fx <- plot_predictions()
  p <- scnym_plot_probabilities(fx$pred)
  expect_s3_class(p, "ggplot")
  expect_equal(nrow(p$data), 150 * 3)
  # within a group, cells are ordered by decreasing confidence
  b <- p$data[p$data$class == "B" & p$data$group == "B", ]
  conf <- fx$pred$confidence[fx$pred$label == "B"]
  expect_equal(b$probability, sort(fx$pred$probabilities[fx$pred$label == "B", "B"],
                                   decreasing = TRUE), ignore_attr = TRUE)
  expect_silent(built(p))
  p2 <- scnym_plot_probabilities(fx$pred, group = fx$truth, max_cells = 60)
  expect_equal(nrow(p2$data) / 3, 60)
  expect_setequal(as.character(unique(p2$data$group)), c("B", "T", "NK"))
})

test_that("the calibration plot draws one curve per setting with the bins' accuracy", {
  fx <- plot_predictions()
  ev <- scnym_evaluate(fx$pred, fx$truth)
  p <- scnym_plot_calibration(ev)
  expect_s3_class(p, "ggplot")
  filled <- ev$calibration[ev$calibration$n_cells > 0, ]
  expect_equal(p$data$accuracy, filled$accuracy)
  expect_match(p$labels$subtitle, sprintf("ECE %.3f", ev$summary$ece), fixed = TRUE)
  expect_silent(built(p))
  raw <- fx$pred
  raw$confidence <- pmin(1, raw$confidence * 1.2)
  p2 <- scnym_plot_calibration(list(before = scnym_evaluate(raw, fx$truth), after = ev))
  expect_setequal(levels(p2$data$setting), c("before", "after"))
  expect_match(p2$labels$subtitle, "before: ECE")
  p3 <- scnym_plot_calibration(fx$pred, fx$truth)
  expect_equal(p3$data$accuracy, p$data$accuracy)
  expect_s3_class(ggplot2::autoplot(ev), "ggplot")
})

test_that("the history plot shows losses, weights and validation accuracy", {
  h <- data.frame(epoch = 1:10, loss = 10:1, loss_sup = 10:1 / 2, loss_ssl = 0.1, loss_adv = 0.7,
                  ssl_weight = 1:10 / 100, adv_weight = 0.1, val_loss = 10:1 / 3,
                  val_accuracy = 1:10 / 10, is_best = 1:10 == 8, seconds = 1)
  m <- structure(list(history = h, best_epoch = 8L), class = "scnym_model")
  p <- scnym_plot_history(m)
  expect_s3_class(p, "ggplot")
  expect_setequal(levels(p$data$panel), c("loss", "loss weight", "validation accuracy"))
  expect_equal(nrow(p$data), 10 * 8)
  expect_equal(p$data$value[p$data$panel == "validation accuracy"], h$val_accuracy)
  expect_silent(built(p))
  expect_s3_class(ggplot2::autoplot(m), "ggplot")
  # history under `meta` also works, and missing columns are skipped
  m2 <- structure(list(meta = list(history = h[, c("epoch", "loss", "val_accuracy")],
                                   best_epoch = 3L)), class = "scnym_model")
  expect_equal(nrow(scnym_plot_history(m2)$data), 20)
})

test_that("the embedding plot projects with UMAP and colours by label, confidence or domain", {
  skip_if_not_installed("uwot")
  fx <- plot_predictions(n = 90)
  coords <- scnym_umap(fx$pred, n_neighbors = 10)
  expect_equal(dim(coords), c(90, 2))
  expect_equal(rownames(coords), rownames(fx$pred))
  expect_identical(scnym_umap(fx$pred, n_neighbors = 10), coords)
  p <- scnym_plot_embedding(fx$pred, coords = coords)
  expect_equal(p$data$colour, fx$pred$label)
  expect_equal(p$data$umap_1, unname(coords[, 1]))
  pc <- scnym_plot_embedding(fx$pred, color_by = "confidence", coords = coords)
  expect_true(is.numeric(pc$data$colour))
  dom <- rep(c("ctrl", "stim"), 45)
  pd <- scnym_plot_embedding(fx$pred, color_by = "domain", domain = dom, coords = coords[90:1, ])
  expect_equal(pd$data$colour, dom)
  expect_equal(pd$data$umap_1, unname(coords[, 1]))
  pp <- scnym_plot_embedding(fx$pred, color_by = "pruned_label", coords = coords)
  expect_true("(pruned)" %in% pp$data$colour || all(!is.na(fx$pred$pruned_label)))
  pv <- scnym_plot_embedding(fx$pred, color_by = fx$truth, coords = coords)
  expect_equal(pv$data$colour, fx$truth)
  expect_silent(built(pc))
  p_umap <- scnym_plot_embedding(fx$pred, n_neighbors = 10)
  expect_equal(p_umap$data$umap_1, unname(coords[, 1]))
})

test_that("plots read an object annotated by scnym_annotate()", {
  skip_if_not_installed("SingleCellExperiment")
  fx <- plot_predictions(n = 60)
  counts <- matrix(rpois(600, 2), 10, 60, dimnames = list(paste0("g", 1:10), rownames(fx$pred)))
  sce <- SingleCellExperiment::SingleCellExperiment(list(counts = counts))
  sce$scNym <- fx$pred$label
  sce$scNym_confidence <- fx$pred$confidence
  p <- scnym_plot_confidence(sce)
  expect_equal(nrow(p$data), 60)
  expect_error(scnym_plot_embedding(sce), class = "scnym_error_invalid_argument")
})

test_that("plot functions refuse bad inputs with classed errors", {
  fx <- plot_predictions(n = 30)
  no_prob <- fx$pred
  no_prob$probabilities <- NULL
  expect_snapshot(error = TRUE, {
    scnym_plot_confidence(1:3)
    scnym_plot_probabilities(no_prob)
    scnym_plot_calibration("x")
    scnym_plot_calibration(fx$pred)
    scnym_plot_history(list())
    scnym_plot_embedding(fx$pred, color_by = "colour", coords = matrix(0, 30, 2))
    scnym_plot_embedding(fx$pred, color_by = "domain", coords = matrix(0, 30, 2))
    scnym_plot_embedding(fx$pred, coords = matrix(0, 30, 3))
    scnym_plot_embedding(fx$pred, coords = matrix(0, 10, 2))
  })
  expect_error(scnym_plot_history(structure(list(history = data.frame()), class = "scnym_model")),
               class = "scnym_error_invalid_argument")
  expect_error(scnym_plot_probabilities(fx$pred, max_cells = 0), class = "scnym_error_invalid_argument")
  skip_if_not_installed("uwot")
  expect_error(scnym_umap(matrix(rnorm(4), 2, 2)), class = "scnym_error_invalid_argument")
})
