# Shared helpers of the bench/trust scripts: data loading, reference results, output.
suppressPackageStartupMessages({
  library(scnym)
  library(Matrix)
})

# The repository root: two levels above this file (bench/trust/common.R), found when sourced.
trust_root <- local({
  f <- tryCatch(sys.frame(1)$ofile, error = function(e) NULL)
  if (is.null(f)) getwd() else normalizePath(file.path(dirname(f), "..", ".."))
})
trust_repo <- function() trust_root

trust_opt <- function(name, default) {
  args <- commandArgs(trailingOnly = TRUE)
  i <- match(paste0("--", name), args)
  if (is.na(i)) default else args[[i + 1L]]
}

trust_data_root <- function() {
  Sys.getenv("SCNYM_DATA_DIR", file.path(trust_repo(), "..", "shared", "data"))
}

# A data folder (matrix.mtx.gz genes x cells, genes.tsv, cells.tsv) as a dgCMatrix + cell table.
read_folder <- function(dir) {
  if (!dir.exists(dir)) stop("data folder not found: ", dir, " (set SCNYM_DATA_DIR)")
  counts <- as(readMM(gzfile(file.path(dir, "matrix.mtx.gz"))), "CsparseMatrix")
  genes <- readLines(file.path(dir, "genes.tsv"))
  cells <- utils::read.delim(file.path(dir, "cells.tsv"), stringsAsFactors = FALSE,
                             colClasses = c(cell_id = "character", label = "character",
                                            domain = "character"))
  dimnames(counts) <- list(genes, cells$cell_id)
  rownames(cells) <- cells$cell_id
  list(counts = counts, cells = cells)
}

load_kang <- function() read_folder(file.path(trust_data_root(), "kang_ifnb_seurat2800"))

# CellBench singlets without ERCC spike-ins, the training plate and the three 5-line plates.
load_cellbench_unseen <- function() {
  dir <- file.path(trust_data_root(), "cellbench_celllines")
  d <- read_folder(dir)
  full <- utils::read.delim(file.path(dir, "genes_full.tsv"), stringsAsFactors = FALSE)
  stopifnot(nrow(full) == nrow(d$counts))
  keep_genes <- !as.logical(full$is_ercc)
  singlet <- as.logical(d$cells$singlet)
  doms <- c("celseq2_3cl", "celseq2_5cl_p1", "celseq2_5cl_p2", "celseq2_5cl_p3")
  keep_cells <- singlet & d$cells$domain %in% doms
  list(counts = d$counts[keep_genes, keep_cells], cells = d$cells[keep_cells, ])
}

# Reference scNym predictions of a task and seed, with the truth; NULL when absent.
reference_predictions <- function(task, seed) {
  f <- file.path(trust_repo(), "bench", "results", "reference", sprintf("%s_seed%d", task, seed),
                 "predictions.tsv")
  if (!file.exists(f)) return(NULL)
  p <- utils::read.delim(f, stringsAsFactors = FALSE, colClasses = c(cell_id = "character"))
  pf <- sub("predictions.tsv$", "probabilities.tsv", f)
  out <- data.frame(label = p$predicted, confidence = p$confidence, row.names = p$cell_id)
  if (file.exists(pf)) {
    pr <- utils::read.delim(pf, check.names = FALSE, colClasses = c(cell_id = "character"))
    m <- as.matrix(pr[, -1, drop = FALSE])
    rownames(m) <- pr$cell_id
    out$probabilities <- m[rownames(out), , drop = FALSE]
  }
  out
}

write_tsv <- function(x, path) {
  utils::write.table(x, path, sep = "\t", quote = FALSE, row.names = FALSE)
}

write_json <- function(x, path) {
  writeLines(jsonlite::toJSON(x, auto_unbox = TRUE, pretty = TRUE, digits = NA, na = "null"),
             path)
}

run_info <- function() {
  info <- scnym_backend_info(gemm_size = 0)
  list(date = format(Sys.time(), tz = "UTC", usetz = TRUE), r = R.version.string,
       scnym = as.character(utils::packageVersion("scnym")),
       scnym_path = find.package("scnym"),
       scnym_built_from = Sys.getenv("SCNYM_BUILT_FROM", NA),
       git = tryCatch(system2("git", c("-C", trust_repo(), "rev-parse", "--short", "HEAD"),
                              stdout = TRUE), error = function(e) NA),
       libtorch = info$libtorch_runtime, threads = 1L,
       loadavg = tryCatch(readLines("/proc/loadavg"), error = function(e) NA))
}

# Trained models are kept outside the repository (large), for later inspection.
model_cache <- function(name) {
  dir <- Sys.getenv("SCNYM_TRUST_MODELS", file.path(Sys.getenv("HOME"), ".cache", "scnym", "trust-models"))
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  file.path(dir, paste0(name, ".rds"))
}
