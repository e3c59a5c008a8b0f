# Shared fixtures for the R API tests: small simulated data, models trained once per session,
# and a skip helper for the real data sets (read from SCNYM_DATA_DIR, default ../shared/data
# relative to the repository root).

# The directory holding the real data sets, or "" when absent.
scnym_data_dir <- function() {
  dir <- Sys.getenv("SCNYM_DATA_DIR", "")
  if (!nzchar(dir)) {
    root <- tryCatch(normalizePath(testthat::test_path("..", ".."), mustWork = TRUE),
                     error = function(e) "")
    dir <- file.path(root, "..", "shared", "data")
  }
  if (dir.exists(dir)) normalizePath(dir) else ""
}

# Skips unless the named real data set (a folder of the data directory) is present.
skip_if_no_data <- function(name) {
  dir <- scnym_data_dir()
  if (!nzchar(dir) || !dir.exists(file.path(dir, name))) {
    testthat::skip(paste0("real data set ", name, " not found (set SCNYM_DATA_DIR)"))
  }
  file.path(dir, name)
}

# Reads a data folder (matrix.mtx.gz genes x cells, genes.tsv, cells.tsv) as a dgCMatrix with
# the cell table.
read_data_set <- function(path) {
  counts <- methods::as(Matrix::readMM(gzfile(file.path(path, "matrix.mtx.gz"))), "CsparseMatrix")
  genes <- readLines(file.path(path, "genes.tsv"))
  cells <- utils::read.delim(file.path(path, "cells.tsv"), stringsAsFactors = FALSE)
  dimnames(counts) <- list(genes, cells$cell_id)
  rownames(cells) <- cells$cell_id
  list(counts = counts, cells = cells)
}

fixture_cache <- new.env(parent = emptyenv())

# A small simulated reference/query pair as matrices (cached).
sim_matrices <- function() {
  if (is.null(fixture_cache$sim)) {
    fixture_cache$sim <- scnym_simulate(n_reference = 240, n_query = 200, n_genes = 150,
                                        n_types = 4, output = "matrix", seed = 11)
  }
  fixture_cache$sim
}

# The core's normalisation written independently in R: each cell (a column of `counts`, a dense
# genes x cells matrix) as log(1 + scale_factor * count / size), the size counting each gene up
# to `max_gene_fraction` of the cell's total. Cells x genes, as the core holds them.
lognorm_capped <- function(counts, scale_factor, max_gene_fraction) {
  total <- colSums(counts)
  size <- colSums(pmin(counts, rep(max_gene_fraction * total, each = nrow(counts))))
  log1p(t(counts) / size * scale_factor)
}

# The pruning rule written independently of prune_labels(): a cell is unassigned when its
# confidence is below `prune_below`, or its novelty above `novelty_above`, lowered in proportion
# to 1 - confidence below confidence 0.7.
expected_pruned <- function(novelty, confidence, novelty_above = 10, prune_below = 0.4) {
  novelty > novelty_above * pmin(1, 0.3 / (1 - confidence)) | confidence < prune_below
}

# A quick configuration for tests: a few epochs of a small network.
quick_config <- function(preset = "default", ...) {
  scnym_config(preset, max_epochs = 4, min_epochs = 1, hidden_width = 32, ...)
}

# A model trained once on sim_matrices() (cached).
sim_model <- function() {
  if (is.null(fixture_cache$model)) {
    sim <- sim_matrices()
    fixture_cache$model <- scnym_train(sim$reference$counts,
                                       labels = sim$reference$metadata$cell_type,
                                       target = sim$query$counts, config = quick_config(),
                                       seed = 5, threads = 1, verbose = FALSE)
  }
  fixture_cache$model
}

skip_if_no_seurat <- function() {
  testthat::skip_if_not_installed("SeuratObject")
}

skip_if_no_sce <- function() {
  testthat::skip_if_not_installed("SingleCellExperiment")
}

seurat_v5 <- function() {
  utils::packageVersion("SeuratObject") >= "5.0.0"
}

# Skips unless the Seurat package itself can run: Debian's Seurat 4.3 does not work with
# SeuratObject 5 (the `make test-seurat5` process).
# Checked without loading Seurat (skip_if_not_installed() would load it).
skip_if_no_seurat_package <- function() {
  if (!nzchar(system.file(package = "Seurat"))) testthat::skip("Seurat is not installed")
  if (seurat_v5() && utils::packageVersion("Seurat") < "5.0.0") {
    testthat::skip("Seurat 4 does not run with SeuratObject 5")
  }
}

# A layer of the default assay: `layer =` on SeuratObject 5 (`slot =` is defunct there), the slot
# on SeuratObject 4.
seurat_layer_data <- function(x, layer) {
  if (seurat_v5()) {
    SeuratObject::LayerData(x, layer = layer)
  } else {
    SeuratObject::GetAssayData(x, slot = layer)
  }
}

`seurat_layer_data<-` <- function(x, layer, value) {
  if (seurat_v5()) {
    SeuratObject::LayerData(x, layer = layer) <- value
    x
  } else {
    SeuratObject::SetAssayData(x, slot = layer, new.data = value)
  }
}

# Runs an R script in a background Rscript, sends it Ctrl-C (SIGINT) `after` seconds after it
# created its start marker, and returns the lines it wrote to its result file. `script` is a
# function of the two paths (start marker, result file) returning the script's lines.
run_and_interrupt <- function(script, after) {
  dir <- tempfile("scnym-interrupt-")
  dir.create(dir)
  started <- file.path(dir, "started")
  result <- file.path(dir, "result.txt")
  path <- file.path(dir, "script.R")
  writeLines(script(started, result), path)
  rscript <- file.path(R.home("bin"), "Rscript")
  pid <- as.integer(system2("sh", c("-c", shQuote(sprintf("'%s' '%s' >/dev/null 2>&1 & echo $!",
                                                        rscript, path))), stdout = TRUE))
  wait_for <- function(file) {
    waited <- 0
    while (!file.exists(file) && waited < 120) {
      Sys.sleep(0.5)
      waited <- waited + 0.5
    }
    testthat::expect_true(file.exists(file))
  }
  wait_for(started)
  Sys.sleep(after)
  tools::pskill(pid, tools::SIGINT)
  wait_for(result)
  if (file.exists(result)) readLines(result) else character()
}

# An error of class `scnym_error_<kind>` (and `scnym_error`).
expect_scnym_error <- function(expr, kind) {
  err <- expect_error(expr, class = paste0("scnym_error_", kind))
  expect_s3_class(err, "scnym_error")
}
