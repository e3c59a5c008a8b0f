#!/usr/bin/env Rscript
# R peers of the accuracy benchmark: SingleR and Seurat v4 label transfer.
#
# Both are deterministic: one run each (written as seed 0). Each writes per-cell predictions to
# bench/results/accuracy/predictions/<method>/<task>__seed0.csv.gz (cell, truth, predicted,
# score, flagged) and is skipped when that file exists (--force recomputes). A failure is
# recorded in bench/results/accuracy/failures/<method>/<task>__seed0.txt and never stops the
# run. Run times go to bench/results/accuracy/runs/<method>.csv.
#
# SingleR (Debian r-bioc-singler): reference and query log-normalised with
#   scuttle::normalizeCounts (library-size factors, log2(x + 1)); SingleR() with its defaults
#   (de.method = "classic", fine-tuning on); predicted = labels, flagged = is.na(pruned.labels),
#   score = delta.next (the fine-tuned score of the call minus that of the runner-up).
# Seurat v4 (FindTransferAnchors + TransferData): NormalizeData (LogNormalize, 1e4), reference
#   FindVariableFeatures (vst, 2000), ScaleData, RunPCA; query NormalizeData;
#   FindTransferAnchors(reference.reduction = "pca", dims = 1:30) and TransferData(dims = 1:30).
#   When either side has < 200 cells (the panc8 tasks): npcs/dims 20, k.filter 50, k.score 20
#   (k.anchor stays 5). TransferData's k.weight is min(50, anchors - 1).
#   score = prediction.score.max, flagged = prediction.score.max < 0.5.
#
# Usage: Rscript bench/accuracy/peers_r.R [--methods singler,seurat] [--tasks a,b] [--force]
# Threads: one (SingleR's default SerialParam; BLAS capped through the environment).
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages(library(Matrix))

args <- commandArgs(trailingOnly = TRUE)
here <- accuracy_root()
methods <- parse_list_opt(args, "methods", "singler,seurat")
tasks <- parse_list_opt(args, "tasks", paste(names(accuracy_tasks()), collapse = ","))
force <- "--force" %in% args
load_avg <- function() as.numeric(strsplit(readLines("/proc/loadavg"), " ")[[1]][1])

run_singler <- function(x) {
  suppressPackageStartupMessages({
    library(SingleR)
  })
  ref <- scuttle::normalizeCounts(x$ref_counts)
  query <- scuttle::normalizeCounts(x$query_counts)
  p <- SingleR::SingleR(test = query, ref = ref, labels = x$ref_labels)
  list(predicted = p$labels, score = p$delta.next, flagged = is.na(p$pruned.labels),
       note = "")
}

run_seurat <- function(x) {
  suppressPackageStartupMessages({
    library(Seurat)
  })
  small <- min(ncol(x$ref_counts), ncol(x$query_counts)) < 200
  dims <- if (small) 1:20 else 1:30
  k_filter <- if (small) 50 else 200
  k_score <- if (small) 20 else 30
  meta <- data.frame(label = x$ref_labels, row.names = colnames(x$ref_counts))
  ref <- suppressWarnings(CreateSeuratObject(x$ref_counts, meta.data = meta, min.cells = 0,
                                             min.features = 0))
  ref <- NormalizeData(ref, verbose = FALSE)
  ref <- FindVariableFeatures(ref, selection.method = "vst", nfeatures = 2000, verbose = FALSE)
  ref <- ScaleData(ref, verbose = FALSE)
  ref <- RunPCA(ref, npcs = max(dims), verbose = FALSE)
  query <- suppressWarnings(CreateSeuratObject(x$query_counts, min.cells = 0, min.features = 0))
  query <- NormalizeData(query, verbose = FALSE)
  anchors <- FindTransferAnchors(reference = ref, query = query, reference.reduction = "pca",
                                 dims = dims, k.anchor = 5, k.filter = k_filter,
                                 k.score = k_score, verbose = FALSE)
  n_anchors <- nrow(anchors@anchors)
  k_weight <- min(50L, n_anchors - 1L)
  pred <- TransferData(anchorset = anchors, refdata = ref$label, dims = dims,
                       k.weight = k_weight, verbose = FALSE)
  list(predicted = pred$predicted.id, score = pred$prediction.score.max,
       flagged = pred$prediction.score.max < 0.5,
       note = sprintf("dims 1:%d, k.filter %d, k.score %d, k.weight %d, %d anchors",
                      max(dims), k_filter, k_score, k_weight, n_anchors))
}

runners <- list(singler = run_singler, seurat = run_seurat)
runs_dir <- file.path(here, "bench", "results", "accuracy", "runs")
dir.create(runs_dir, recursive = TRUE, showWarnings = FALSE)
for (method in methods) {
  if (is.null(runners[[method]])) stop("unknown method ", method)
  for (task in tasks) {
    out <- prediction_file(here, method, task, 0L)
    if (file.exists(out) && !force) {
      message(sprintf("%-8s %-26s cached", method, task))
      next
    }
    x <- load_task(task)
    load_before <- load_avg()
    t0 <- proc.time()[["elapsed"]]
    res <- tryCatch(runners[[method]](x), error = function(e) e)
    secs <- proc.time()[["elapsed"]] - t0
    if (inherits(res, "error")) {
      reason <- conditionMessage(res)
      record_failure(here, method, task, 0L, reason)
      message(sprintf("%-8s %-26s FAILED: %s", method, task, reason))
      status <- "failed"
      note <- reason
      acc <- NA_real_
    } else {
      write_predictions(out, x$query_cells, x$query_labels, res$predicted, res$score,
                        res$flagged)
      clear_failure(here, method, task, 0L)
      known <- x$query_labels %in% x$ref_labels
      acc <- mean(res$predicted[known] == x$query_labels[known])
      message(sprintf("%-8s %-26s accuracy %.3f, %.1f s %s", method, task, acc, secs,
                      res$note))
      status <- "ok"
      note <- res$note
    }
    row <- data.frame(method = method, task = task, seed = 0L, status = status,
                      seconds = round(secs, 2), accuracy = round(acc, 4),
                      load_average = load_before, note = note,
                      time = format(Sys.time(), "%Y-%m-%d %H:%M:%S"))
    f <- file.path(runs_dir, paste0(method, ".csv"))
    utils::write.table(row, f, sep = ",", row.names = FALSE, col.names = !file.exists(f),
                       append = file.exists(f), qmethod = "double")
  }
}
