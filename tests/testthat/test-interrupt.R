test_that("Ctrl-C during training raises scnym_error_interrupted and R stays usable", {
  skip_on_cran()
  skip_on_os("windows")
  out <- run_and_interrupt(function(started, result) c(
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
  ), after = 2)
  expect_identical(out, c("interrupted", "2"))
})
