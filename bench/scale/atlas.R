#!/usr/bin/env Rscript
# Atlas scale from HDF5 (see make_atlas.R for the data), one step per process so that each peak
# RSS (the process's VmHWM: R and the Rust core together) is that step's own.
#   Rscript bench/scale/atlas.R train REF_DIR MODEL.rds
#       default scnym_train() of the HDF5-backed reference (labels: cell_type), seed 1
#   Rscript bench/scale/atlas.R predict MODEL.rds QUERY_DIR COPIES WORKERS
#       scnym_predict(embedding = FALSE) of the query's cells repeated COPIES times (a
#       DelayedMatrix over the same HDF5 file, cells renamed), with WORKERS BiocParallel workers
# Prints one line per step: wall time, cells/s, epochs, the process's peak RSS, load average.
suppressPackageStartupMessages({
  library(scnym)
  library(SingleCellExperiment)
  library(BiocParallel)
})
args <- commandArgs(trailingOnly = TRUE)
peak_gb <- function() {
  line <- grep("^VmHWM:", readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line)) / 1024^2
}
load <- function() strsplit(readLines("/proc/loadavg"), " ")[[1]][1]
cat(sprintf("%s: load average %s\n", paste(args, collapse = " "), load()))
if (args[[1]] == "train") {
  sce <- readRDS(file.path(args[[2]], "sce.rds"))
  secs <- system.time(model <- scnym_train(sce, labels = "cell_type", seed = 1))[["elapsed"]]
  saveRDS(model, args[[3]])
  best <- model$history[model$best_epoch, ]
  cat(sprintf(paste("train %d cells x %d genes: %.0f s (%.1f min), %d epochs (best %d, validation",
                    "accuracy %.4f), %.0f cells per second of the call, peak RSS %.2f GB, load %s\n"),
              ncol(sce), nrow(sce), secs, secs / 60, nrow(model$history), model$best_epoch,
              best$val_accuracy, ncol(sce) / secs, peak_gb(), load()))
} else {
  model <- readRDS(args[[2]])
  copies <- as.integer(args[[4]])
  workers <- as.integer(args[[5]])
  counts <- counts(readRDS(file.path(args[[3]], "sce.rds")))
  if (copies > 1L) {
    counts <- do.call(cbind, rep(list(counts), copies))
    colnames(counts) <- sprintf("cell%09d", seq_len(ncol(counts)))
  }
  param <- if (workers > 1L) MulticoreParam(workers) else SerialParam()
  secs <- system.time(pred <- scnym_predict(model, counts, input = "counts", embedding = FALSE,
                                            BPPARAM = param))[["elapsed"]]
  truth <- rep(readRDS(file.path(args[[3]], "sce.rds"))$cell_type, copies)
  cat(sprintf(paste("predict %d cells (%d workers): %.0f s, %.0f cells/s, accuracy %.4f,",
                    "peak RSS %.2f GB, load %s\n"),
              nrow(pred), workers, secs, nrow(pred) / secs, mean(pred$label == truth), peak_gb(),
              load()))
}
