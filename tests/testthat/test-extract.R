test_that("matrix types become a dgCMatrix or a double matrix without copies of names", {
  sim <- sim_matrices()
  x <- sim$reference$counts
  d <- scnym:::extract_input(x)
  expect_identical(d$mat, x)
  expect_identical(d$genes, rownames(x))
  expect_identical(d$cells, colnames(x))
  dense <- as.matrix(x)
  storage.mode(dense) <- "integer"
  dd <- scnym:::extract_input(dense)
  expect_type(dd$mat, "double")
  expect_identical(scnym:::extract_input(methods::as(x, "TsparseMatrix"))$mat, x)
  skip_if_not_installed("DelayedArray")
  # a DelayedMatrix stays one: it is read for the columns asked, a range or scattered ones
  dx <- DelayedArray::DelayedArray(x)
  expect_identical(scnym:::extract_input(dx)$mat, dx)
  expect_identical(unname(scnym:::read_cells(dx, 3:9)), unname(x[, 3:9]))
  expect_identical(unname(scnym:::read_cells(dx, c(40L, 2L, 7L))), unname(x[, c(40, 2, 7)]))
  dense <- DelayedArray::DelayedArray(as.matrix(x))
  expect_identical(unname(scnym:::read_cells(dense, 3:9)), unname(as.matrix(x)[, 3:9]))
})

test_that("unnamed cells get names; metadata is kept for column lookup", {
  x <- sim_matrices()$reference$counts
  colnames(x) <- NULL
  d <- scnym:::extract_input(x)
  expect_identical(d$cells[1:2], c("cell1", "cell2"))
  skip_if_no_sce()
  sce <- scnym_simulate(n_reference = 30, n_query = 20, output = "SingleCellExperiment")
  ds <- scnym:::extract_input(sce$reference)
  expect_identical(ds$source, "SingleCellExperiment assay counts")
  expect_identical(scnym:::cell_values("cell_type", ds, "labels", "x", NULL),
                   sce$reference$cell_type)
})

test_that("Seurat extraction reads the counts layer by default and the data layer on request", {
  skip_if_no_seurat()
  so <- scnym_simulate(n_reference = 30, n_query = 20, output = "Seurat")$reference
  d <- scnym:::extract_input(so)
  expect_identical(d$layer, "counts")
  expect_identical(d$assay, "RNA")
  expect_identical(d$mat, seurat_layer_data(so, "counts"))
  expect_identical(scnym:::cell_values("cell_type", d, "labels", "x", NULL),
                   unname(so$cell_type))
  skip_if_no_seurat_package()
  so <- Seurat::NormalizeData(so, verbose = FALSE)
  dd <- scnym:::extract_input(so, layer = "data")
  expect_identical(dd$layer, "data")
  expect_identical(dd$mat, seurat_layer_data(so, "data"))
})

test_that("the auto rule tells counts from log-normalised data", {
  x <- sim_matrices()$reference$counts
  d <- scnym:::check_values(scnym:::extract_input(x), "auto", "x")
  expect_identical(d$input, "counts")
  expect_identical(d$mat, x)
  per_cell <- function(scale) {
    m <- x
    m@x <- m@x / rep(Matrix::colSums(x), diff(x@p)) * scale
    m
  }
  cpm <- per_cell(1e6)
  cpm@x <- log1p(cpm@x)
  dc <- scnym:::check_values(scnym:::extract_input(cpm), "auto", "x")
  expect_identical(dc$input, "lognorm")
  # log-normalised values cross as pseudo-counts (the core normalises them again)
  expect_identical(dc$mat, cpm)
  expect_equal(scnym:::core_data(dc, NULL, rownames(x))$x, per_cell(1e6)@x)
  cp10k <- per_cell(1e4)
  cp10k@x <- log1p(cp10k@x)
  d10 <- scnym:::check_values(scnym:::extract_input(cp10k), "auto", "x")
  expect_identical(d10$input, "lognorm")
  expect_equal(scnym:::core_data(d10, NULL, rownames(x))$x, per_cell(1e4)@x)
  # non-integer values above log(1 + 1e6) are counts, with a message under input = "auto"
  frac <- x * 1.5 + 20
  expect_message(auto <- scnym:::check_values(scnym:::extract_input(frac), "auto", "x"),
                 class = "scnym_message_input_guess")
  expect_identical(auto$input, "counts")
  expect_identical(scnym:::check_values(scnym:::extract_input(frac), "counts", "x")$input,
                   "counts")
})

test_that("cell values come from a column, a vector or a named vector", {
  sim <- sim_matrices()
  d <- scnym:::extract_input(sim$reference$counts)
  lab <- sim$reference$metadata$cell_type
  expect_identical(scnym:::cell_values(lab, d, "labels", "x", NULL), lab)
  expect_identical(scnym:::cell_values(factor(lab), d, "labels", "x", NULL), lab)
  named <- stats::setNames(lab, d$cells)
  expect_identical(scnym:::cell_values(rev(named), d, "labels", "x", NULL), lab)
  expect_null(scnym:::cell_values(NULL, d, "labels", "x", NULL))
})
