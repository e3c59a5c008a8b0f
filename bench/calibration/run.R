# Kang PBMC, both directions, seeds 0-2: expected calibration error (10 bins) of the target
# predictions before (T = 1) and after the temperature the engine fits on its held-out labeled
# cells, with accuracy, macro-F1 and training time. Default preset, threads = 1.
# Usage: Rscript bench/calibration/run.R   (needs the installed package and SCNYM_DATA_DIR)
suppressPackageStartupMessages({
  library(scnym)
  library(Matrix)
})
data_dir <- file.path(Sys.getenv("SCNYM_DATA_DIR", "../shared/data"), "kang_ifnb_seurat2800")
out_dir <- file.path("bench", "results", "calibration")
counts <- as(readMM(gzfile(file.path(data_dir, "matrix.mtx.gz"))), "CsparseMatrix")
cells <- read.delim(file.path(data_dir, "cells.tsv"), stringsAsFactors = FALSE)
dimnames(counts) <- list(readLines(file.path(data_dir, "genes.tsv")), cells$cell_id)

run <- function(seed, from, to) {
  src <- cells$domain == from
  tgt <- cells$domain == to
  t0 <- Sys.time()
  model <- scnym_train(counts[, src], labels = cells$label[src], target = counts[, tgt],
                       seed = seed, threads = 1, verbose = FALSE)
  secs <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  truth <- cells$label[tgt]
  before <- scnym_evaluate(scnym_predict(model, counts[, tgt], calibrated = FALSE), truth)$summary
  after <- scnym_evaluate(scnym_predict(model, counts[, tgt], calibrated = TRUE), truth)$summary
  data.frame(task = paste0(from, "_to_", to), seed = seed, temperature = model$temperature,
             accuracy = after$accuracy, macro_f1 = after$macro_f1, ece_before = before$ece,
             ece_after = after$ece, epochs = nrow(model$history), best_epoch = model$best_epoch,
             train_seconds = secs)
}

res <- do.call(rbind, lapply(0:2, function(seed) {
  rbind(run(seed, "ctrl", "stim"), run(seed, "stim", "ctrl"))
}))
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
utils::write.table(res, file.path(out_dir, "kang.tsv"), sep = "\t", quote = FALSE,
                   row.names = FALSE)
print(res, digits = 3)
print(aggregate(cbind(accuracy, macro_f1, ece_before, ece_after, train_seconds) ~ task,
                data = res, FUN = mean), digits = 3)
