# scnym_evaluate() and scnym_mixing_entropy() against independent, deliberately naive computations.

fake_predictions <- function(n = 200, classes = c("B", "NK", "T", "Mono"), seed = 1, sharp = 3) {
  set.seed(seed)
  logits <- matrix(rnorm(n * length(classes), sd = sharp), n, length(classes))
  p <- exp(logits) / rowSums(exp(logits))
  dimnames(p) <- list(sprintf("cell%03d", seq_len(n)), classes)
  pred <- data.frame(label = classes[max.col(p, ties.method = "first")],
                     confidence = apply(p, 1, max), row.names = rownames(p))
  pred$pruned_label <- ifelse(pred$confidence > 0.5, pred$label, NA)
  pred$probabilities <- p
  pred$embedding <- matrix(rnorm(n * 5), n, 5, dimnames = list(rownames(p), NULL))
  attr(pred, "calibrated") <- TRUE
  pred
}

# truth: the predicted label for a fraction of cells, otherwise a random class
fake_truth <- function(pred, agree = 0.7, seed = 2) {
  set.seed(seed)
  classes <- colnames(pred$probabilities)
  ifelse(runif(nrow(pred)) < agree, pred$label, sample(classes, nrow(pred), TRUE))
}

naive_auc <- function(score, pos) {
  s1 <- score[pos]
  s0 <- score[!pos]
  tot <- 0
  for (a in s1) for (b in s0) tot <- tot + (a > b) + 0.5 * (a == b)
  tot / (length(s1) * length(s0))
}

test_that("accuracy, kappa, macro-F1 and the confusion table match a confusion-matrix computation", {
  pred <- fake_predictions()
  truth <- fake_truth(pred)
  ev <- scnym_evaluate(pred, truth)
  expect_s3_class(ev, "scnym_evaluation")
  classes <- colnames(pred$probabilities)
  cm <- matrix(0, length(classes), length(classes), dimnames = list(classes, classes))
  for (i in seq_along(truth)) cm[truth[i], pred$label[i]] <- cm[truth[i], pred$label[i]] + 1
  n <- sum(cm)
  acc <- sum(diag(cm)) / n
  pe <- sum(rowSums(cm) * colSums(cm)) / n^2
  f1 <- 2 * diag(cm) / (rowSums(cm) + colSums(cm))
  expect_equal(ev$summary$accuracy, acc)
  expect_equal(ev$summary$kappa, (acc - pe) / (1 - pe))
  expect_equal(ev$summary$macro_f1, mean(f1))
  expect_equal(unclass(ev$confusion)[classes, classes], cm, ignore_attr = TRUE)
  pc <- ev$per_class
  rownames(pc) <- pc$class
  expect_equal(pc[classes, "recall"], unname(diag(cm) / rowSums(cm)))
  expect_equal(pc[classes, "precision"], unname(diag(cm) / colSums(cm)))
  expect_equal(pc[classes, "n_true"], unname(rowSums(cm)))
  expect_true(ev$summary$calibrated)
})

test_that("Cohen's kappa agrees with the textbook two-rater example", {
  # 50 items: rater A yes/no = 25/25, rater B yes/no = 30/20, agreement on 20 yes and 15 no.
  truth <- c(rep("yes", 20), rep("yes", 5), rep("no", 10), rep("no", 15))
  label <- c(rep("yes", 20), rep("no", 5), rep("yes", 10), rep("no", 15))
  pred <- data.frame(label = label, confidence = rep(0.9, 50))
  # p_o = 0.7, p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = 0.4
  expect_equal(scnym_evaluate(pred, truth)$summary$kappa, 0.4)
})

test_that("the one-vs-rest AUC matches pairwise counting, with ties", {
  pred <- fake_predictions(n = 120)
  # introduce ties
  pred$probabilities[1:30, "B"] <- round(pred$probabilities[1:30, "B"], 1)
  truth <- fake_truth(pred, agree = 0.5)
  ev <- scnym_evaluate(pred, truth)
  classes <- colnames(pred$probabilities)
  aucs <- vapply(classes, function(k) naive_auc(pred$probabilities[, k], truth == k), numeric(1))
  pc <- ev$per_class
  expect_equal(pc$auc[match(classes, pc$class)], unname(aucs))
  expect_equal(ev$summary$mean_auc, mean(aucs))
})

test_that("ECE, overconfidence and the calibration curve match a binned computation", {
  pred <- fake_predictions(n = 500, sharp = 2)
  truth <- fake_truth(pred, agree = 0.6)
  ev <- scnym_evaluate(pred, truth)
  conf <- pred$confidence
  ok <- pred$label == truth
  breaks <- seq(0, 1, by = 0.1)
  b <- findInterval(conf, breaks, left.open = TRUE, rightmost.closed = TRUE)
  ece <- 0
  oe <- 0
  for (m in unique(b)) {
    sel <- b == m
    w <- sum(sel) / length(conf)
    ece <- ece + w * abs(mean(ok[sel]) - mean(conf[sel]))
    oe <- oe + w * mean(conf[sel]) * max(mean(conf[sel]) - mean(ok[sel]), 0)
  }
  expect_equal(ev$summary$ece, ece)
  expect_equal(ev$summary$oe, oe)
  cal <- ev$calibration
  expect_equal(nrow(cal), 10)
  expect_named(cal, c("bin", "lower", "upper", "n_cells", "confidence", "accuracy", "gap"))
  expect_equal(cal$n_cells, tabulate(b, 10))
  filled <- cal$n_cells > 0
  expect_equal(cal$accuracy[filled], as.vector(tapply(ok, b, mean)[as.character(cal$bin[filled])]))
  expect_true(all(is.na(cal$accuracy[!filled])))
  # a perfectly calibrated toy: confidence 0.75 in every cell and 75% correct
  p2 <- data.frame(label = rep("a", 8), confidence = rep(0.75, 8))
  p2$probabilities <- matrix(c(0.75, 0.25), 8, 2, byrow = TRUE, dimnames = list(NULL, c("a", "b")))
  ev2 <- scnym_evaluate(p2, c(rep("a", 6), rep("b", 2)))
  expect_equal(ev2$summary$ece, 0)
  expect_equal(ev2$summary$oe, 0)
  # confidence 1 falls in the last bin
  ev3 <- scnym_evaluate(data.frame(label = "a", confidence = 1), "a")
  expect_equal(ev3$calibration$n_cells[10], 1)
  # bins are closed on the right: confidence 0.5 is in bin 5, 0.55 in bin 6
  ev4 <- scnym_evaluate(data.frame(label = c("a", "a"), confidence = c(0.5, 0.55)), c("a", "a"))
  expect_equal(ev4$calibration$n_cells[5:6], c(1, 1))
})

test_that("cells of types the model never saw are scored as novel", {
  pred <- fake_predictions(n = 200)
  truth <- fake_truth(pred, agree = 1)
  novel <- 151:200
  truth[novel] <- sample(c("A549", "H838"), 50, TRUE)
  pred$confidence[novel] <- pred$confidence[novel] / 3
  ev <- scnym_evaluate(pred, truth)
  expect_equal(ev$summary$n_novel, 50)
  expect_equal(ev$summary$n_evaluable, 150)
  expect_equal(ev$summary$accuracy, 1)
  known <- seq_len(150)
  expect_equal(ev$summary$novel_auroc, naive_auc(pred$confidence, seq_len(200) %in% known))
  expect_equal(ev$summary$novel_flagged, mean(pred$confidence[novel] <= 0.5))
  expect_equal(ev$summary$known_flagged, mean(pred$confidence[known] <= 0.5))
  pc <- ev$per_class
  expect_false(pc$in_model[pc$class == "A549"])
  expect_equal(pc$n_true[pc$class == "A549"] + pc$n_true[pc$class == "H838"], 50)
  expect_true("A549" %in% rownames(ev$confusion))
  expect_equal(sum(ev$confusion), 200)
})

test_that("truth is matched by cell name and NA cells are left out", {
  pred <- fake_predictions(n = 50)
  truth <- fake_truth(pred)
  names(truth) <- rownames(pred)
  shuffled <- rev(truth)
  expect_equal(scnym_evaluate(pred, shuffled)$summary, scnym_evaluate(pred, unname(truth))$summary)
  truth_na <- truth
  truth_na[1:10] <- NA
  ev <- scnym_evaluate(pred, truth_na)
  expect_equal(ev$summary$n_cells, 40)
  expect_equal(ev$summary$accuracy, mean(pred$label[11:50] == truth[11:50]))
})

test_that("a table without probabilities still gives accuracy and calibration", {
  pred <- fake_predictions(n = 80)
  truth <- fake_truth(pred)
  plain <- data.frame(label = pred$label, confidence = pred$confidence)
  ev <- scnym_evaluate(plain, truth)
  full <- scnym_evaluate(pred, truth)
  expect_equal(ev$summary$accuracy, full$summary$accuracy)
  expect_equal(ev$summary$ece, full$summary$ece)
  expect_true(is.na(ev$summary$mean_auc))
  expect_true(is.na(ev$summary$calibrated))
})

test_that("a DataFrame as scnym_predict() returns it evaluates like the data.frame", {
  # fake_predictions() is a data.frame with the settings as attributes (the tables of scnym
  # 0.99.0 and earlier); scnym_predict() returns a DataFrame with them in metadata()
  pred <- fake_predictions(n = 80)
  truth <- fake_truth(pred)
  df <- S4Vectors::DataFrame(label = pred$label, confidence = pred$confidence,
                             row.names = rownames(pred))
  df$probabilities <- pred$probabilities
  df$embedding <- pred$embedding
  S4Vectors::metadata(df)$calibrated <- FALSE
  domain <- rep(c("a", "b"), 40)
  ev <- scnym_evaluate(df, truth, domain = domain)
  full <- scnym_evaluate(pred, truth, domain = domain)
  expect_equal(ev$per_class, full$per_class)
  expect_equal(ev$summary[names(ev$summary) != "calibrated"],
               full$summary[names(full$summary) != "calibrated"])
  expect_false(ev$summary$calibrated)
  expect_true(full$summary$calibrated)
})

test_that("the entropy of mixing matches a full distance-matrix computation", {
  set.seed(3)
  emb <- matrix(rnorm(300 * 4), 300, 4)
  dom <- sample(c("ctrl", "stim", "x"), 300, TRUE)
  d <- as.matrix(dist(emb))
  diag(d) <- Inf
  naive <- function(cells, k) {
    mean(vapply(cells, function(i) {
      nb <- order(d[i, ])[seq_len(k)]
      p <- table(dom[nb]) / k
      -sum(p * log(p))
    }, numeric(1)))
  }
  expect_equal(scnym_mixing_entropy(emb, dom, n_cells = 1000, k = 30), naive(1:300, 30))
  # with a sample of cells: the sample drawn with the same seed
  set.seed(7)
  cells <- sort(sample.int(300, 50))
  expect_equal(scnym_mixing_entropy(emb, dom, n_cells = 50, k = 10, seed = 7), naive(cells, 10))
  # separated domains: 0; evaluate() passes it through
  sep <- ifelse(emb[, 1] > 100, "a", "b")
  expect_equal(scnym_mixing_entropy(emb, sep, k = 10), 0)
  pred <- data.frame(label = rep("a", 300), confidence = rep(1, 300))
  pred$embedding <- emb
  expect_equal(scnym_evaluate(pred, rep("a", 300), domain = dom, mixing_neighbors = 30)$summary$entropy_of_mixing,
               naive(1:300, 30))
})

test_that("the entropy of mixing leaves the session's RNG untouched", {
  set.seed(11)
  emb <- matrix(rnorm(40), 20, 2)
  before <- .Random.seed
  scnym_mixing_entropy(emb, rep(1:2, 10), n_cells = 5, k = 3)
  expect_identical(.Random.seed, before)
})

test_that("scnym_evaluate() prints a readable summary", {
  pred <- fake_predictions(n = 60)
  truth <- fake_truth(pred)
  truth[1:5] <- "Unseen"
  out <- capture.output(print(scnym_evaluate(pred, truth)))
  expect_true(any(grepl("accuracy", out)))
  expect_true(any(grepl("novel types", out)))
})

test_that("scnym_evaluate() refuses bad inputs with classed errors", {
  pred <- fake_predictions(n = 20)
  truth <- fake_truth(pred)
  expect_snapshot(error = TRUE, {
    scnym_evaluate(list(label = "a"), "a")
    scnym_evaluate(pred[, "label", drop = FALSE], truth)
    scnym_evaluate(pred, truth[1:5])
    scnym_evaluate(pred, rep(NA, 20))
    scnym_evaluate(pred, truth, n_bins = 1)
    scnym_evaluate(pred, truth, novel_threshold = 2)
    scnym_evaluate(pred[0, ], character())
  })
  expect_error(scnym_evaluate(pred, truth[1:5]), class = "scnym_error_invalid_argument")
  bad <- pred
  bad$confidence[1] <- 1.5
  expect_error(scnym_evaluate(bad, truth), class = "scnym_error_invalid_argument")
  no_emb <- pred
  no_emb$embedding <- NULL
  expect_error(scnym_evaluate(no_emb, truth, domain = rep("a", 20)),
               class = "scnym_error_invalid_argument")
  expect_error(scnym_mixing_entropy(matrix(1:4, 2), c("a", "b", "c")),
               class = "scnym_error_invalid_argument")
  expect_error(scnym_mixing_entropy(matrix(1:4, 2), c("a", NA)),
               class = "scnym_error_invalid_argument")
  expect_error(scnym_mixing_entropy(matrix(c(1, NA), 1), "a"),
               class = "scnym_error_invalid_argument")
  expect_error(scnym_mixing_entropy(matrix(1, 1, 1), "a"), class = "scnym_error_invalid_argument")
})

test_that("the kNN search is exact: the same neighbours as brute force", {
  brute <- function(x, k, subset) {
    d <- as.matrix(stats::dist(x))
    t(vapply(subset, function(i) {
      di <- d[i, ]
      di[i] <- Inf
      order(di)[seq_len(k)]
    }, integer(k)))
  }
  set.seed(4)
  x <- matrix(rnorm(400 * 6), 400, 6) + 4 * rep(0:3, each = 100)
  expect_identical(knn_search(x, 10), brute(x, 10, seq_len(400)))
  sub <- c(5L, 399L, 17L, 200L)
  expect_identical(knn_search(x, 7, subset = sub), brute(x, 7, sub))
  expect_identical(knn_search(x[1:5, ], 4), brute(x[1:5, ], 4, 1:5))
  # integer coordinates and duplicated cells: no warning, each cell still left out of its own
  xi <- rbind(matrix(1:6, 3, 2), matrix(1:6, 3, 2))
  expect_no_warning(nn <- knn_search(xi, 2))
  expect_false(any(nn == seq_len(6)))
  expect_true(all(rowSums((xi - xi[nn[, 1], ])^2) == 0))
})
