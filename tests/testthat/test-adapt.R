# scnym_adapt(): a saved model with a stored reference sample adapted to a new query.

# A model of sim_matrices() trained without the query, keeping `n` reference cells (cached).
sample_model <- function(n = 80L, ensemble_size = 1L) {
  key <- paste("sample_model", n, ensemble_size)
  if (is.null(fixture_cache[[key]])) {
    sim <- sim_matrices()
    fixture_cache[[key]] <- scnym_train(
      sim$reference$counts, labels = sim$reference$metadata$cell_type,
      config = scnym_config(max_epochs = 30, min_epochs = 1, hidden_width = 32,
                            reference_sample = n, ensemble_size = ensemble_size),
      seed = 3, threads = 1, verbose = FALSE)
  }
  fixture_cache[[key]]
}

test_that("training keeps a class-balanced reference sample of the requested size", {
  model <- sample_model()
  expect_identical(model$reference_sample, 80L)
  expect_identical(sim_model()$reference_sample, 0L)
  expect_output(print(model$config), "reference sample: 80 labelled cells")
  # more cells than the reference has: all of them
  sim <- sim_matrices()
  all_cells <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                           config = quick_config(reference_sample = 10000, ensemble_size = 1),
                           seed = 3, threads = 1, verbose = FALSE)
  expect_identical(all_cells$reference_sample, ncol(sim$reference$counts))
})

test_that("scnym_adapt() adapts every member, reproducibly, and keeps the sample", {
  sim <- sim_matrices()
  model <- sample_model(ensemble_size = 2L)
  adapted <- scnym_adapt(model, sim$query$counts, epochs = 3, seed = 9, threads = 1,
                         verbose = FALSE)
  expect_s3_class(adapted, "scnym_model")
  expect_identical(nrow(adapted$history), 3L)
  expect_identical(adapted$ensemble_size, 2L)
  expect_identical(adapted$member_seeds, c(9, 10))
  expect_true(adapted$training$adapted)
  expect_identical(adapted$training$n_target, ncol(sim$query$counts))
  expect_identical(adapted$reference_sample, model$reference_sample)
  expect_identical(adapted$class_counts, model$class_counts)
  expect_identical(adapted$domains, c("reference", "query"))
  expect_gt(max(adapted$history$ssl_weight), 0)
  expect_gt(max(adapted$history$adv_weight), 0)
  pred <- scnym_predict(adapted, sim$query$counts)
  before <- scnym_predict(model, sim$query$counts)
  truth <- sim$query$metadata$cell_type
  expect_gt(mean(before$label == truth), 0.8)
  expect_gt(mean(pred$label == truth), mean(before$label == truth) - 0.05)
  expect_false(identical(pred$probabilities, before$probabilities))
  again <- scnym_adapt(model, sim$query$counts, epochs = 3, seed = 9, threads = 1,
                       verbose = FALSE)
  expect_identical(scnym_predict(again, sim$query$counts)$probabilities, pred$probabilities)
  # given domains
  doms <- rep(c("s1", "s2"), length.out = ncol(sim$query$counts))
  two <- scnym_adapt(model, sim$query$counts, target_domain = doms, epochs = 2, seed = 9,
                     threads = 1, verbose = FALSE)
  expect_identical(two$domains, c("reference", "s1", "s2"))
})

test_that("the reference sample survives saving, and a loaded model adapts as the original", {
  sim <- sim_matrices()
  model <- sample_model()
  path <- withr::local_tempfile(fileext = ".scnym")
  scnym_save(model, path)
  loaded <- scnym_load(path)
  expect_identical(loaded$reference_sample, model$reference_sample)
  a <- scnym_adapt(model, sim$query$counts, epochs = 2, seed = 1, threads = 1, verbose = FALSE)
  b <- scnym_adapt(loaded, sim$query$counts, epochs = 2, seed = 1, threads = 1, verbose = FALSE)
  expect_identical(scnym_predict(b, sim$query$counts)$probabilities,
                   scnym_predict(a, sim$query$counts)$probabilities)
  # an adapted model can be saved and adapted again
  scnym_save(a, path, overwrite = TRUE)
  expect_s3_class(scnym_adapt(scnym_load(path), sim$query$counts, epochs = 1, seed = 1,
                              threads = 1, verbose = FALSE), "scnym_model")
})

test_that("scnym_adapt() works on SingleCellExperiment queries", {
  skip_if_no_sce()
  sim <- sim_matrices()
  sce <- SingleCellExperiment::SingleCellExperiment(assays = list(counts = sim$query$counts))
  a <- scnym_adapt(sample_model(), sce, epochs = 2, seed = 1, threads = 1, verbose = FALSE)
  b <- scnym_adapt(sample_model(), sim$query$counts, epochs = 2, seed = 1, threads = 1,
                   verbose = FALSE)
  expect_identical(scnym_predict(a, sce)$probabilities,
                   scnym_predict(b, sim$query$counts)$probabilities)
})

test_that("scnym_adapt() refuses models without a sample and bad arguments", {
  sim <- sim_matrices()
  model <- sample_model()
  expect_error(scnym_adapt(sim_model(), sim$query$counts, verbose = FALSE),
               class = "scnym_error_invalid_argument", regexp = "reference_sample")
  old <- scnym_load(test_path("fixtures", "model-format1.safetensors"))
  expect_error(scnym_adapt(old, sim$query$counts, verbose = FALSE),
               class = "scnym_error_invalid_argument")
  expect_error(scnym_adapt(model, sim$query$counts, epochs = 0, verbose = FALSE),
               class = "scnym_error_invalid_argument", regexp = "epochs")
  expect_error(scnym_adapt(model, sim$query$counts, target_domain = "reference",
                           verbose = FALSE),
               class = "scnym_error_invalid_argument")
  reference_domain <- rep("reference", ncol(sim$query$counts))
  expect_error(scnym_adapt(model, sim$query$counts, target_domain = reference_domain,
                           verbose = FALSE),
               class = "scnym_error_invalid_data", regexp = "reference")
  expect_error(scnym_adapt(model, sim$query$counts, epochs = 2, verbose = FALSE, 5),
               class = "rlib_error_dots_nonempty")
  expect_error(scnym_adapt(model, sim$query$counts[0, ], verbose = FALSE),
               class = "scnym_error")
  expect_error(scnym_config(reference_sample = -1), class = "scnym_error_invalid_argument",
               regexp = "reference_sample")
})

test_that("real data: adapting a panc8 model to a held-out technology keeps its accuracy", {
  path <- skip_if_no_data("panc8_small_bbknnR")
  skip_on_cran()
  panc8 <- read_data_set(path)
  query <- panc8$cells$domain == "celseq"
  model <- scnym_train(panc8$counts[, !query], labels = panc8$cells$label[!query],
                       config = scnym_config(reference_sample = 300), seed = 0, threads = 1,
                       verbose = FALSE, input = "counts")
  truth <- panc8$cells$label[query]
  accuracy <- function(m) {
    mean(scnym_predict(m, panc8$counts[, query], input = "counts")$label == truth)
  }
  adapted <- scnym_adapt(model, panc8$counts[, query], seed = 0, threads = 1, verbose = FALSE,
                         input = "counts")
  expect_identical(nrow(adapted$history), 10L)
  expect_gt(accuracy(adapted), accuracy(model) - 0.03)
  expect_gt(accuracy(adapted), 0.85)
})
