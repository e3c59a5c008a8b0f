test_that("Ctrl-C during training raises scnym_error_interrupted and R stays usable", {
  skip_on_cran()
  skip_on_os("windows")
  dir <- tempfile("scnym-interrupt-")
  dir.create(dir)
  script <- file.path(dir, "train.R")
  started <- file.path(dir, "started")
  result <- file.path(dir, "result.txt")
  writeLines(c(
    "suppressMessages(library(scnym))",
    "sim <- scnym_simulate(n_reference = 1500, n_query = 1500, output = 'matrix', seed = 1)",
    sprintf("file.create('%s')", started),
    "out <- tryCatch(",
    "  scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,",
    "              target = sim$query$counts, threads = 1, verbose = FALSE, seed = 1,",
    "              config = scnym_config(max_epochs = 100000, patience = 100000)),",
    "  scnym_error_interrupted = function(e) 'interrupted')",
    "again <- scnym_train(sim$reference$counts[, 1:200],",
    "                     labels = sim$reference$metadata$cell_type[1:200], threads = 1,",
    "                     config = scnym_config(max_epochs = 2, min_epochs = 1), verbose = FALSE)",
    sprintf("writeLines(c(out, nrow(again$history)), '%s')", result)
  ), script)
  rscript <- file.path(R.home("bin"), "Rscript")
  pid <- as.integer(system2("sh", c("-c", shQuote(sprintf("'%s' '%s' >/dev/null 2>&1 & echo $!",
                                                        rscript, script))), stdout = TRUE))
  waited <- 0
  while (!file.exists(started) && waited < 120) {
    Sys.sleep(0.5)
    waited <- waited + 0.5
  }
  expect_true(file.exists(started))
  Sys.sleep(2)
  tools::pskill(pid, tools::SIGINT)
  waited <- 0
  while (!file.exists(result) && waited < 120) {
    Sys.sleep(0.5)
    waited <- waited + 0.5
  }
  expect_true(file.exists(result))
  expect_identical(readLines(result), c("interrupted", "2"))
})
