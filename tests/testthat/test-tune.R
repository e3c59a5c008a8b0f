# scnym_tune(): reverse cross-validation without target labels.

tune_data <- function() {
  scnym_simulate(n_reference = 250, n_query = 200, n_genes = 150, n_types = 3,
                 output = "matrix", seed = 5)
}

test_that("the grid is a data frame of settings; a list gives all combinations", {
  expect_equal(tune_grid(NULL)$preset, c("default", "no_dan", "no_ssl"))
  g <- tune_grid(list(ssl_weight = c(0.1, 1), adv_weight = c(0, 0.1)))
  expect_equal(nrow(g), 4)
  expect_named(g, c("ssl_weight", "adv_weight"))
  cfg <- tune_config(data.frame(preset = "no_dan", max_epochs = 7), list(max_epochs = 3, patience = 5))
  expect_s3_class(cfg, "scnym_config")
  expect_equal(cfg$max_epochs, 7)
  expect_equal(cfg$patience, 5)
  expect_equal(cfg$adv_weight, scnym_config("no_dan")$adv_weight)
})

test_that("folds are stratified tenths", {
  set.seed(1)
  y <- rep(c("a", "b", "c"), c(53, 27, 10))
  parts <- stratified_tenths(y)
  expect_setequal(unique(parts), 1:10)
  for (k in unique(y)) {
    tab <- tabulate(parts[y == k], 10)
    expect_lte(max(tab) - min(tab), 1)
  }
  expect_lte(max(tabulate(parts, 10)) - min(tabulate(parts, 10)), 1)
})

test_that("reverse cross-validation scores each setting on held-out labelled cells", {
  sim <- tune_data()
  x <- sim$reference$counts
  y <- sim$reference$metadata$cell_type
  base <- list(max_epochs = 4, min_epochs = 1)
  grid <- data.frame(preset = c("default", "no_ssl"))
  tuned <- scnym_tune(x, labels = y, target = sim$query$counts, grid = grid, n_folds = 2,
                      base = base, seed = 3, verbose = FALSE)
  expect_s3_class(tuned, "scnym_tuning")
  expect_named(tuned$summary, c("setting", "preset", "mean_reverse_accuracy",
                                "sd_reverse_accuracy", "n_folds", "best"))
  expect_equal(nrow(tuned$folds), 4)
  expect_true(all(is.na(tuned$folds$error)))
  expect_true(all(tuned$folds$reverse_accuracy >= 0 & tuned$folds$reverse_accuracy <= 1))
  expect_equal(tuned$summary$mean_reverse_accuracy,
               as.vector(tapply(tuned$folds$reverse_accuracy, tuned$folds$setting, mean)))
  best <- which.max(tuned$summary$mean_reverse_accuracy)
  expect_equal(which(tuned$summary$best), best)
  expect_equal(tuned$best_config$preset, grid$preset[best])
  expect_output(print(tuned), "reverse cross-validation")

  # fold 1 of setting 1 by hand: same split, same seed
  parts <- with_rng_seed(3, stratified_tenths(y))
  test <- parts == 1
  cfg <- scnym_config("default", max_epochs = 4, min_epochs = 1)
  fwd <- scnym_train(x[, !test], labels = y[!test], target = sim$query$counts, config = cfg,
                     seed = 4, threads = 1, verbose = FALSE)
  pseudo <- scnym_predict(fwd, sim$query$counts)$label
  rev <- scnym_train(sim$query$counts, labels = pseudo, target = x, config = cfg, seed = 4,
                     threads = 1, verbose = FALSE)
  acc <- mean(scnym_predict(rev, x[, test])$label == y[test])
  expect_equal(tuned$folds$reverse_accuracy[1], acc)
})

test_that("BPPARAM spreads the (setting, fold) pairs over workers; results identical to serial", {
  sim <- scnym_simulate(n_reference = 200, n_query = 150, n_genes = 120, n_types = 3,
                        output = "matrix", seed = 5)
  y <- sim$reference$metadata$cell_type
  # the tuning without its timings, and the progress lines without theirs
  tune <- function(bp) {
    run <- testthat::evaluate_promise(
      scnym_tune(sim$reference$counts, labels = y, target = sim$query$counts,
                 grid = data.frame(preset = c("default", "no_ssl")), n_folds = 2,
                 base = list(max_epochs = 2, min_epochs = 1), seed = 3, verbose = TRUE,
                 BPPARAM = bp)
    )
    run$result$folds$seconds <- NULL
    list(tuning = run$result,
         progress = sub(" [(][0-9]+ s[)]$", "", grep("^setting", run$messages, value = TRUE)))
  }
  serial <- tune(BiocParallel::SerialParam())
  expect_identical(sub(":.*", "", serial$progress),
                   c("setting 1/2, fold 1/2", "setting 1/2, fold 2/2", "setting 2/2, fold 1/2",
                     "setting 2/2, fold 2/2"))
  expect_true(all(is.na(serial$tuning$folds$error)))
  expect_identical(tune(BiocParallel::SnowParam(2)), serial)
  # the pairs went to the two workers: BiocParallel logs one file per task
  logs <- withr::local_tempdir()
  expect_identical(tune(BiocParallel::MulticoreParam(2, log = TRUE, logdir = logs)), serial)
  expect_length(list.files(logs), 2)
  expect_error(scnym_tune(sim$reference$counts, labels = y, target = sim$query$counts,
                          BPPARAM = 2),
               class = "scnym_error_invalid_argument")
})

test_that("target cells can be the unlabelled cells of x, and labels a column name", {
  skip_if_not_installed("SingleCellExperiment")
  sim <- scnym_simulate(n_reference = 200, n_query = 150, n_genes = 150, n_types = 3, seed = 6,
                        output = "matrix")
  both <- SingleCellExperiment::SingleCellExperiment(
    list(counts = cbind(sim$reference$counts, sim$query$counts)))
  both$label <- c(sim$reference$metadata$cell_type, rep(NA, 150))
  tuned <- scnym_tune(both, labels = "label", grid = list(ssl_weight = c(0.5, 1)), n_folds = 1,
                      base = list(max_epochs = 3, min_epochs = 1), verbose = FALSE)
  expect_equal(nrow(tuned$summary), 2)
  expect_equal(tuned$summary$ssl_weight, c(0.5, 1))
  expect_true(all(tuned$summary$n_folds == 1))
})

test_that("failing folds are recorded; when every fold fails the error is classed", {
  sim <- tune_data()
  y <- sim$reference$metadata$cell_type
  # a target that shares no gene with the reference: every forward training fails
  alien <- sim$query$counts
  rownames(alien) <- paste0("other_", rownames(alien))
  err <- expect_error(
    scnym_tune(sim$reference$counts, labels = y, target = alien, n_folds = 2,
               base = list(max_epochs = 2, min_epochs = 1), verbose = FALSE,
               grid = data.frame(preset = "default")),
    class = "scnym_error_training_failed"
  )
  expect_match(conditionMessage(err), "share no gene")
})

test_that("scnym_tune() refuses bad inputs with classed errors", {
  sim <- tune_data()
  x <- sim$reference$counts
  y <- sim$reference$metadata$cell_type
  expect_snapshot(error = TRUE, {
    scnym_tune(x, labels = y, target = sim$query$counts, n_folds = 0)
    scnym_tune(x, labels = y, target = sim$query$counts, n_folds = 11)
    scnym_tune(x, labels = y, target = sim$query$counts, base = list(1))
    scnym_tune(x, labels = y, target = sim$query$counts, grid = list(1, 2))
    scnym_tune(x, labels = y, target = sim$query$counts, grid = data.frame())
    scnym_tune(x, labels = y, target = sim$query$counts, grid = data.frame(no_such = 1))
    scnym_tune(x, labels = y, target = sim$query$counts, grid = data.frame(dropout = 2))
    scnym_tune(x, labels = y)
    scnym_tune(x, labels = rep("a", ncol(x)), target = sim$query$counts)
    scnym_tune(x, target = sim$query$counts)
    scnym_tune(x, labels = y, target = sim$query$counts, verbose = NA)
  })
  expect_error(scnym_tune(x, labels = y, target = sim$query$counts, n_folds = 0),
               class = "scnym_error_invalid_argument")
})
