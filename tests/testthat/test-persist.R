test_that("scnym_save and scnym_load round-trip a model", {
  m <- sim_model()
  q <- sim_matrices()$query$counts
  path <- tempfile(fileext = ".scnym")
  expect_invisible(scnym_save(m, path))
  expect_identical(readBin(path, "raw", file.size(path)), m$bytes)
  back <- scnym_load(path)
  expect_s3_class(back, "scnym_model")
  for (field in c("genes", "classes", "domains", "covariates", "domain_weights", "class_counts",
                  "best_epoch", "temperature", "config", "history", "versions")) {
    expect_identical(back[[field]], m[[field]], info = field)
  }
  expect_identical(scnym_predict(back, q)$probabilities, scnym_predict(m, q)$probabilities)
  expect_error(scnym_save(m, path), class = "scnym_error_io")
  expect_invisible(scnym_save(m, path, overwrite = TRUE))
})

test_that("a model survives saveRDS/readRDS with identical probabilities", {
  m <- sim_model()
  q <- sim_matrices()$query$counts
  before <- scnym_predict(m, q)
  path <- tempfile(fileext = ".rds")
  saveRDS(m, path)
  back <- readRDS(path)
  expect_false(scnym:::handle_alive(back$cache$handle))
  after <- scnym_predict(back, q)
  expect_identical(after$probabilities, before$probabilities)
  expect_identical(after$embedding, before$embedding)
  expect_true(scnym:::handle_alive(back$cache$handle))
  # in a fresh R process too
  skip_on_cran()
  script <- tempfile(fileext = ".R")
  out <- tempfile(fileext = ".rds")
  qpath <- tempfile(fileext = ".rds")
  saveRDS(q, qpath)
  writeLines(c("suppressMessages(library(scnym))",
               sprintf("m <- readRDS('%s'); q <- readRDS('%s')", path, qpath),
               sprintf("saveRDS(scnym_predict(m, q)$probabilities, '%s')", out)), script)
  system2(file.path(R.home("bin"), "Rscript"), script, stdout = FALSE, stderr = FALSE)
  expect_identical(readRDS(out), before$probabilities)
})

test_that("a missing, corrupt or newer model file is refused with a classed error", {
  m <- sim_model()
  expect_snapshot(scnym_load("does/not/exist.scnym"), error = TRUE)
  expect_error(scnym_load(tempdir()), class = "scnym_error_io")
  truncated <- tempfile(fileext = ".scnym")
  writeBin(m$bytes[seq_len(length(m$bytes) %/% 2)], truncated)
  expect_error(scnym_load(truncated), class = "scnym_error_model_file")
  garbage <- tempfile(fileext = ".scnym")
  writeBin(as.raw(1:200), garbage)
  expect_error(scnym_load(garbage), class = "scnym_error_model_file")
  flipped <- tempfile(fileext = ".scnym")
  bytes <- m$bytes
  i <- length(bytes) - 10L
  bytes[i] <- as.raw(bitwXor(as.integer(bytes[i]), 1L))
  writeBin(bytes, flipped)
  expect_error(scnym_load(flipped), class = "scnym_error_model_file")
  newer <- tempfile(fileext = ".scnym")
  text <- rawToChar(m$bytes[9:min(length(m$bytes), 9 + 4000)], multiple = TRUE)
  at <- regexpr("format_version\\\\\":5", paste(text, collapse = ""))
  expect_gt(at, 0)
  bytes <- m$bytes
  pos <- 8L + at + attr(at, "match.length") - 1L
  expect_identical(rawToChar(bytes[pos]), "5")
  bytes[pos] <- charToRaw("9")
  writeBin(bytes, newer)
  err <- expect_error(scnym_load(newer), class = "scnym_error_model_file")
  expect_match(conditionMessage(err), "newer version")
})

test_that("a model file of format 1 (before the novelty reference) loads and predicts as before", {
  # Written by scnym 0.1.0 (format 1): tiny model (16 hidden units) on scnym_simulate(seed = 1).
  m <- scnym_load(test_path("fixtures", "model-format1.safetensors"))
  q <- readRDS(test_path("fixtures", "model-format1-query.rds"))
  then <- utils::read.csv(test_path("fixtures", "model-format1-predictions.csv"))
  p <- scnym_predict(m, q, threads = 1)
  expect_identical(p$label, then$label)
  expect_equal(p$confidence, then$confidence, tolerance = 1e-6)
  expect_true(all(is.na(p$novelty)))
  expect_identical(is.na(p$pruned_label), p$confidence < 0.4)
  # trained on counts per million, before scale_factor existed: it keeps that scale
  expect_identical(m$config$scale_factor, 1e6)
  expect_identical(m$config$max_gene_fraction, 1)
  # its domains are one covariate "domain" of weight 1 (format 3 records covariates); saved again
  # it is a file of today's format (5) with the same predictions
  expect_identical(m$covariates, list(domain = c("reference", "query")))
  expect_identical(m$domains, c("reference", "query"))
  expect_identical(m$domain_weights, c(domain = 1))
  expect_identical(m$format_version, 5L)
  path <- tempfile(fileext = ".scnym")
  scnym_save(m, path)
  again <- scnym_load(path)
  expect_identical(again$covariates, m$covariates)
  expect_identical(scnym_predict(again, q, threads = 1)$probabilities, p$probabilities)
})

test_that("a model file of format 3 loads with its novelty converted to today's unit", {
  # Written by scnym 0.99.0 at format 3 (novelty in units of the validation cells' largest
  # distance): scnym_simulate(n_reference = 300, n_query = 60, n_genes = 100, n_types = 3,
  # n_query_only = 1, output = "matrix", seed = 1), trained with seed 1, threads 1 and
  # scnym_config(hidden_width = 16, max_epochs = 8, min_epochs = 4, ensemble_size = 1).
  m <- scnym_load(test_path("fixtures", "model-format3.scnym"))
  q <- readRDS(test_path("fixtures", "model-format3-query.rds"))
  then <- utils::read.csv(test_path("fixtures", "model-format3-predictions.csv"))
  p <- scnym_predict(m, q, threads = 1)
  expect_identical(m$format_version, 5L)
  expect_identical(p$label, then$label)
  expect_equal(p$confidence, then$confidence, tolerance = 1e-6)
  # today's unit is the upper quartile, converted by the typical largest / upper quartile (3.4)
  expect_equal(p$novelty, then$novelty * 3.4, tolerance = 1e-5)
  expect_identical(is.na(p$pruned_label), expected_pruned(p$novelty, p$confidence))
})
