# The bad-input cases of issue 10 (a hostile run): each one failed on the code before the fix
# with a base-R error, no error at all or no word to the user.

expect_scnym_condition <- function(expr, class, pattern = NULL) {
  cnd <- expect_condition(expr, class = class)
  if (!is.null(pattern)) expect_match(conditionMessage(cnd), pattern)
  invisible(cnd)
}

quick_train <- function(...) {
  scnym_train(..., config = quick_config(), seed = 1, threads = 1, verbose = FALSE)
}

test_that("duplicated, NA or empty cell names are classed errors naming the fix", {
  m <- sim_model()
  q <- sim_matrices()$query$counts
  dup <- q
  colnames(dup)[2] <- colnames(dup)[1]
  err <- expect_scnym_condition(scnym_predict(m, dup), "scnym_error_invalid_data",
                                "1 duplicated cell name")
  expect_match(paste(cli::ansi_strip(conditionMessage(err))), "make.unique")
  na <- q
  colnames(na)[3] <- NA
  expect_scnym_condition(scnym_predict(m, na), "scnym_error_invalid_data",
                         "1 missing or empty cell name")
  empty <- q
  colnames(empty)[3] <- ""
  expect_scnym_condition(scnym_predict(m, empty), "scnym_error_invalid_data")
  skip_if_no_sce()
  sce <- SingleCellExperiment::SingleCellExperiment(list(counts = dup))
  expect_scnym_condition(scnym_annotate(sce, m), "scnym_error_invalid_data", "`x`")
})

test_that("a model whose fields were edited is refused: memory and file cannot disagree", {
  m <- sim_model()
  q <- sim_matrices()$query$counts
  edits <- list(
    short_classes = function(x) {
      x$classes <- x$classes[-1]
      x
    },
    null_classes = function(x) {
      x$classes <- NULL
      x
    },
    renamed_classes = function(x) {
      x$classes <- rev(x$classes)
      x
    },
    genes = function(x) {
      x$genes <- rev(x$genes)
      x
    },
    temperature = function(x) {
      x$temperature <- 100
      x
    }
  )
  path <- tempfile(fileext = ".scnym")
  for (name in names(edits)) {
    edited <- edits[[name]](m)
    err <- expect_scnym_condition(scnym_predict(edited, q), "scnym_error_invalid_argument",
                                  "read-only")
    expect_s3_class(err, "scnym_error")
    expect_scnym_condition(scnym_save(edited, path), "scnym_error_invalid_argument")
    expect_false(file.exists(path))
  }
  # after a round trip through saveRDS (no native handle yet) too
  rds <- tempfile(fileext = ".rds")
  saveRDS(edits$temperature(m), rds)
  expect_scnym_condition(scnym_predict(readRDS(rds), q), "scnym_error_invalid_argument",
                         "temperature")
  # the unedited model is untouched by the failed uses
  expect_identical(scnym_predict(m, q)$label, scnym_predict(sim_model(), q)$label)
})

test_that("training on a target that shares few genes warns with the numbers", {
  sim <- sim_matrices()
  tgt <- sim$query$counts
  rownames(tgt)[-(1:5)] <- paste0("other_", seq_len(nrow(tgt) - 5L))
  expect_scnym_condition(
    quick_train(sim$reference$counts, labels = sim$reference$metadata$cell_type, target = tgt),
    "scnym_warning_few_shared_genes", "share only 5 of the 150 genes"
  )
  # most genes shared: no warning
  half <- sim$query$counts[1:100, ]
  expect_no_warning(quick_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                                target = half))
})

test_that("empty labels are refused; numeric or logical labels are announced", {
  sim <- sim_matrices()
  x <- sim$reference$counts
  lab <- sim$reference$metadata$cell_type
  empty <- lab
  empty[c(3, 9)] <- ""
  expect_scnym_condition(quick_train(x, labels = empty), "scnym_error_invalid_data",
                         "2 empty labels")
  blank <- lab
  blank[4] <- "  "
  expect_scnym_condition(quick_train(x, labels = blank), "scnym_error_invalid_data")
  codes <- as.integer(factor(lab))
  msg <- expect_scnym_condition(quick_train(x, labels = codes), "scnym_message_label_type",
                                "integer values")
  expect_s3_class(msg, "scnym_message")
  model <- suppressMessages(quick_train(x, labels = codes))
  expect_identical(model$classes, as.character(sort(unique(codes))))
  expect_scnym_condition(quick_train(x, labels = lab == lab[1]), "scnym_message_label_type",
                         "logical values")
  expect_no_message(quick_train(x, labels = lab))
})

test_that("an SCE assay named neither counts nor logcounts is announced", {
  skip_if_no_sce()
  m <- sim_model()
  q <- sim_matrices()$query$counts
  sce <- SingleCellExperiment::SingleCellExperiment(list(raw = q))
  out <- expect_scnym_condition(scnym_annotate(sce, m), "scnym_message_assay_choice", "raw")
  expect_message(scnym_predict(m, sce, assay_type = "raw"), NA)
})

test_that("log-normalised values given with input = \"counts\" warn", {
  m <- sim_model()
  q <- sim_matrices()$query$counts
  ln <- q
  ln@x <- log1p(ln@x / rep(Matrix::colSums(q), diff(q@p)) * 1e4)
  expect_scnym_condition(scnym_predict(m, ln, input = "counts"),
                         "scnym_warning_input_mismatch", "looks log-normalised")
  expect_no_warning(scnym_predict(m, ln))
  expect_no_warning(scnym_predict(m, q, input = "counts"))
})

test_that("replacing an existing annotation column is announced", {
  m <- sim_model()
  q <- sim_matrices()$query$counts
  skip_if_no_sce()
  sce <- SingleCellExperiment::SingleCellExperiment(list(counts = q))
  expect_no_message(once <- scnym_annotate(sce, m))
  expect_scnym_condition(scnym_annotate(once, m), "scnym_message_replaced_columns", "scNym")
  expect_no_message(scnym_annotate(once, m, key_added = "second"))
  skip_if_no_seurat()
  so <- SeuratObject::CreateSeuratObject(counts = q)
  so$scNym_confidence <- 1
  expect_scnym_condition(scnym_annotate(so, m), "scnym_message_replaced_columns",
                         "scNym_confidence")
})

test_that("input = \"auto\" reads non-integer counts as counts, with a message", {
  m <- sim_model()
  q <- sim_matrices()$query$counts
  corrected <- q
  corrected@x <- corrected@x * 1.37 + 20
  msg <- expect_scnym_condition(scnym_predict(m, corrected), "scnym_message_input_guess",
                                "non-integer counts")
  same <- suppressMessages(scnym_predict(m, corrected))
  expect_identical(same$probabilities, scnym_predict(m, corrected, input = "counts")$probabilities)
  expect_no_message(scnym_predict(m, corrected, input = "counts"))
  # the panc8 data set: some technologies hold corrected, non-integer counts
  path <- skip_if_no_data("panc8_small_bbknnR")
  d <- read_data_set(path)
  expect_false(all(d$counts@x == round(d$counts@x)))
  expect_gt(max(d$counts@x), log1p(1e6))
  ref <- d$cells$domain != "smartseq2"
  suppressMessages(
    expect_message(model <- scnym_train(d$counts[, ref], labels = d$cells$label[ref],
                                        target = d$counts[, !ref], config = quick_config(),
                                        seed = 1, threads = 1, verbose = FALSE),
                   class = "scnym_message_input_guess")
  )
  pred <- suppressMessages(scnym_predict(model, d$counts[, !ref]))
  expect_identical(nrow(pred), sum(!ref))
})

test_that("a failed save leaves no temporary file behind", {
  m <- sim_model()
  dir <- tempfile("scnym-save-")
  dir.create(dir)
  target <- file.path(dir, "sub")
  dir.create(target)
  expect_scnym_condition(scnym_save(m, target, overwrite = TRUE), "scnym_error_io", "directory")
  long <- file.path(dir, paste0(strrep("m", 300), ".scnym"))
  expect_scnym_condition(scnym_save(m, long), "scnym_error_io", "Could not write")
  leftovers <- list.files(dir, all.files = TRUE, recursive = TRUE, no.. = TRUE)
  expect_identical(leftovers, character())
  ok <- file.path(dir, "m.scnym")
  scnym_save(m, ok)
  expect_identical(list.files(dir, all.files = TRUE, recursive = TRUE, no.. = TRUE), "m.scnym")
})

test_that("Ctrl-C during scnym_predict raises scnym_error_interrupted", {
  skip_on_cran()
  skip_on_os("windows")
  out <- run_and_interrupt(function(started, result) c(
    "suppressMessages(library(scnym))",
    "sim <- scnym_simulate(n_reference = 300, n_query = 300, output = 'matrix', seed = 1)",
    "m <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,",
    "                 threads = 1, verbose = FALSE, seed = 1,",
    "                 config = scnym_config(max_epochs = 2, min_epochs = 1))",
    "big <- do.call(cbind, rep(list(sim$query$counts), 100))",
    "colnames(big) <- paste0('c', seq_len(ncol(big)))",
    sprintf("file.create('%s')", started),
    "out <- tryCatch(repeat scnym_predict(m, big, threads = 1),",
    "  scnym_error_interrupted = function(e) 'scnym_error_interrupted',",
    "  interrupt = function(e) 'base interrupt')",
    "again <- scnym_predict(m, sim$query$counts, threads = 1)",
    sprintf("writeLines(c(out, nrow(again)), '%s')", result)
  ), after = 3)
  expect_identical(out, c("scnym_error_interrupted", "300"))
})

test_that("the next save removes temporary files of a save killed outright (kill -9)", {
  skip_on_os("windows")
  m <- sim_model()
  dir <- tempfile("scnym-killed-")
  dir.create(dir)
  # a finished process's id stands for the killed save; this process is alive
  dead <- as.integer(system2("sh", c("-c", shQuote("sh -c 'echo $$'")), stdout = TRUE))
  prefix <- paste0(".scnym-", Sys.info()[["nodename"]], "-")
  stale <- file.path(dir, paste0(prefix, dead, "-3a9f.tmp"))
  live <- file.path(dir, paste0(prefix, Sys.getpid(), "-77b1.tmp"))
  other <- file.path(dir, "keep.tmp")
  for (f in c(stale, live, other)) writeBin(as.raw(1:10), f)
  scnym_save(m, file.path(dir, "m.scnym"))
  expect_false(file.exists(stale))
  expect_true(file.exists(live))
  expect_true(file.exists(other))
})
