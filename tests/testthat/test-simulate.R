test_that("scnym_simulate returns matrices with cell types and a domain shift", {
  sim <- scnym_simulate(n_reference = 120, n_query = 80, n_genes = 100, n_types = 3,
                        output = "matrix")
  expect_named(sim, c("reference", "query"))
  expect_s4_class(sim$reference$counts, "dgCMatrix")
  expect_equal(dim(sim$reference$counts), c(100L, 120L))
  expect_equal(dim(sim$query$counts), c(100L, 80L))
  expect_identical(rownames(sim$reference$counts), rownames(sim$query$counts))
  expect_named(sim$query$metadata, c("cell_type", "domain"))
  expect_identical(rownames(sim$query$metadata), colnames(sim$query$counts))
  expect_setequal(unique(sim$reference$metadata$domain), "reference")
  expect_setequal(unique(sim$query$metadata$domain), "query")
  expect_true(all(Matrix::colSums(sim$reference$counts) > 0))
  expect_true(all(sim$reference$counts@x == round(sim$reference$counts@x)))
  # the shift: the query has lower depth
  expect_lt(median(Matrix::colSums(sim$query$counts)),
            median(Matrix::colSums(sim$reference$counts)))
})

test_that("a seed makes it reproducible and leaves R's RNG alone", {
  set.seed(99)
  before <- .Random.seed
  a <- scnym_simulate(n_reference = 50, n_query = 50, output = "matrix", seed = 4)
  expect_identical(.Random.seed, before)
  b <- scnym_simulate(n_reference = 50, n_query = 50, output = "matrix", seed = 4)
  expect_identical(a, b)
  c <- scnym_simulate(n_reference = 50, n_query = 50, output = "matrix", seed = 5)
  expect_false(identical(a$reference$counts, c$reference$counts))
})

test_that("a seed gives the same data whatever RNGkind() the session uses, and keeps it", {
  a <- scnym_simulate(n_reference = 50, n_query = 50, output = "matrix", seed = 4)
  old <- RNGkind("L'Ecuyer-CMRG", "Box-Muller")
  on.exit(do.call(RNGkind, as.list(old)))
  kind <- RNGkind()
  b <- scnym_simulate(n_reference = 50, n_query = 50, output = "matrix", seed = 4)
  expect_identical(RNGkind(), kind)
  expect_identical(a, b)
})

test_that("query-only cell types appear only in the query", {
  sim <- scnym_simulate(n_reference = 100, n_query = 300, n_types = 3, n_query_only = 1,
                        output = "matrix")
  expect_length(unique(sim$reference$metadata$cell_type), 3)
  extra <- setdiff(sim$query$metadata$cell_type, sim$reference$metadata$cell_type)
  expect_length(extra, 1)
})

test_that("SingleCellExperiment and Seurat outputs", {
  skip_if_no_sce()
  sce <- scnym_simulate(n_reference = 60, n_query = 40, output = "SingleCellExperiment")
  expect_s4_class(sce$reference, "SingleCellExperiment")
  expect_equal(SummarizedExperiment::assayNames(sce$query), "counts")
  expect_true(all(c("cell_type", "domain") %in% names(SummarizedExperiment::colData(sce$query))))
  skip_if_no_seurat()
  so <- scnym_simulate(n_reference = 60, n_query = 40, output = "Seurat")
  expect_s4_class(so$query, "Seurat")
  expect_equal(ncol(so$query), 40)
  expect_true(all(c("cell_type", "domain") %in% colnames(so$query[[]])))
})

test_that("bad arguments are refused", {
  expect_error(scnym_simulate(n_types = 1), class = "scnym_error_invalid_argument")
  expect_error(scnym_simulate(output = "loom"), class = "scnym_error_invalid_argument")
  expect_error(scnym_simulate(shift = -1), class = "scnym_error_invalid_argument")
})
