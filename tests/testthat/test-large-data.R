# DelayedMatrix (HDF5-backed) inputs: read block by block, with results identical to the same
# cells in memory. A small automatic block size makes 1,024-cell blocks here.

local_small_blocks <- function(n_genes, env = parent.frame()) {
  old <- DelayedArray::getAutoBlockSize()
  withr::defer(DelayedArray::setAutoBlockSize(old), envir = env)
  DelayedArray::setAutoBlockSize(1024 * n_genes * 8)
}

test_that("an HDF5-backed input trains and predicts exactly as the same cells in memory", {
  skip_if_not_installed("HDF5Array")
  skip_if_no_sce()
  sim <- scnym_simulate(n_reference = 2300, n_query = 2200, n_genes = 300, seed = 3)
  dir <- withr::local_tempdir()
  ref_h5 <- HDF5Array::saveHDF5SummarizedExperiment(sim$reference, file.path(dir, "ref"),
                                                    as.sparse = TRUE)
  query_h5 <- HDF5Array::saveHDF5SummarizedExperiment(sim$query, file.path(dir, "query"))
  local_small_blocks(300)
  expect_identical(lengths(scnym:::input_blocks(SummarizedExperiment::assay(ref_h5))),
                   c(1024L, 1024L, 252L))
  cfg <- scnym_config(max_epochs = 2, min_epochs = 1)
  train <- function(ref, query) {
    scnym_train(ref, labels = "cell_type", target = query, config = cfg, seed = 1,
                verbose = FALSE, threads = 1)
  }
  m_mem <- train(sim$reference, sim$query)
  m_h5 <- train(ref_h5, query_h5)
  losses <- c("loss", "loss_sup", "loss_ssl", "loss_adv", "val_loss", "val_accuracy")
  expect_identical(m_h5$history[losses], m_mem$history[losses])
  p_mem <- scnym_predict(m_mem, sim$query, threads = 1)
  p_h5 <- scnym_predict(m_h5, query_h5, threads = 1)
  expect_identical(as.data.frame(p_h5), as.data.frame(p_mem))
  # the workers read their blocks themselves; the embedding can be left out
  p_par <- scnym_predict(m_h5, query_h5, threads = 1, embedding = FALSE,
                         BPPARAM = BiocParallel::SnowParam(2))
  expect_null(p_par$embedding)
  expect_identical(as.data.frame(p_par), as.data.frame(p_mem[setdiff(names(p_mem), "embedding")]))
  # annotation keeps the HDF5 cells in the core once, for training and prediction
  ann <- scnym_annotate(query_h5, reference = ref_h5, labels = "cell_type", config = cfg,
                        seed = 1, threads = 1, verbose = FALSE)
  expect_identical(ann$scNym, p_mem$label)
  expect_identical(unname(SingleCellExperiment::reducedDim(ann, "scnym")),
                   unname(p_mem$embedding))
})

test_that("a DelayedMatrix's values are checked block by block", {
  skip_if_not_installed("DelayedArray")
  sim <- scnym_simulate(n_reference = 300, n_query = 2100, n_genes = 150, output = "matrix",
                        seed = 2)
  model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                       config = scnym_config(max_epochs = 1, min_epochs = 1), seed = 1,
                       verbose = FALSE, threads = 1)
  local_small_blocks(150)
  q <- sim$query$counts
  # with input = "auto" in a pass of their own; with the kind given, while the blocks are
  # predicted (on the workers too)
  runs <- list(list(input = "auto"), list(input = "counts"),
               list(input = "counts", BPPARAM = BiocParallel::SnowParam(2)))
  for (run in runs) {
    predict_delayed <- function(m) {
      do.call(scnym_predict, c(list(model, DelayedArray::DelayedArray(m)), run))
    }
    bad <- q
    bad[, 2050] <- 0
    expect_error(predict_delayed(bad), "query_cell02050", class = "scnym_error_invalid_data")
    bad <- as.matrix(q)
    bad[3, 1500] <- -1
    expect_error(predict_delayed(bad), "1 negative value", class = "scnym_error_invalid_data")
    bad[3, 1500] <- NA
    expect_error(predict_delayed(bad), "missing or infinite", class = "scnym_error_invalid_data")
  }
  expect_identical(scnym_predict(model, DelayedArray::DelayedArray(q), input = "counts",
                                 threads = 1),
                   scnym_predict(model, q, threads = 1))
  expect_warning(scnym_predict(model, DelayedArray::DelayedArray(q) / 1000, input = "counts"),
                 class = "scnym_warning_input_mismatch")
  expect_error(scnym_predict(model, DelayedArray::DelayedArray(q > 0)), "logical",
               class = "scnym_error_invalid_argument")
  # log-normalised blocks are read as such, like the same values in memory
  lognorm <- q
  lognorm@x <- log1p(lognorm@x / rep(Matrix::colSums(q), diff(q@p)) * 1e4)
  expect_identical(scnym_predict(model, DelayedArray::DelayedArray(lognorm), threads = 1),
                   scnym_predict(model, lognorm, threads = 1))
})
