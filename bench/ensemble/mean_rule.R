#!/usr/bin/env Rscript
# How an ensemble's members are combined, on Kang both directions: the arithmetic mean of the
# members' calibrated probabilities (scnym's rule) against their normalised geometric mean (the
# softmax of the mean log-probability, sharper where members disagree). Single networks as in
# bench/ensemble/run.R (ensemble_size = 1, member_variable_genes = 0, threads = 1, seeds 0-6);
# ensembles of k = 1, 3, 5 with seeds s..s+k-1 for s = 0, 1, 2. Prints, per task and k, the means
# over s of the expected calibration error (10 equal-width bins of confidence), accuracy and mean
# confidence, on the query cells of reference types.
# Usage: Rscript bench/ensemble/mean_rule.R [--jobs 2]
#        (its output of 2026-12-04: bench/results/ensemble/mean_rule.txt)
Sys.setenv(OMP_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "..", "accuracy", "tasks.R"))
suppressPackageStartupMessages({
  library(scnym)
  library(Matrix)
})
args <- commandArgs(trailingOnly = TRUE)
jobs <- if ("--jobs" %in% args) as.integer(args[[match("--jobs", args) + 1L]]) else 1L

ece <- function(prob, truth) {
  confidence <- apply(prob, 1, max)
  correct <- colnames(prob)[max.col(prob, "first")] == truth
  bin <- cut(confidence, seq(0, 1, 0.1), include.lowest = TRUE)
  gaps <- tapply(seq_along(confidence), bin,
                 function(i) length(i) * abs(mean(confidence[i]) - mean(correct[i])))
  sum(gaps, na.rm = TRUE) / length(confidence)
}
summarise <- function(prob, truth) {
  c(ece = ece(prob, truth), accuracy = mean(colnames(prob)[max.col(prob, "first")] == truth),
    confidence = mean(apply(prob, 1, max)))
}

for (task in c("kang_ctrl_to_stim", "kang_stim_to_ctrl")) {
  x <- load_task(task)
  known <- x$query_labels %in% x$ref_labels
  truth <- x$query_labels[known]
  probs <- parallel::mclapply(0:6, function(s) {
    model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts, seed = s,
                         threads = 1, verbose = FALSE, input = "counts",
                         config = scnym_config(ensemble_size = 1, member_variable_genes = 0))
    pred <- scnym_predict(model, x$query_counts, input = "counts", embedding = FALSE)
    pred[x$query_cells, ]$probabilities[known, , drop = FALSE]
  }, mc.cores = jobs, mc.preschedule = FALSE)
  for (k in c(1L, 3L, 5L)) {
    by_seed <- sapply(0:2, function(s) {
      members <- probs[s + seq_len(k)]
      arithmetic <- Reduce(`+`, members) / k
      geometric <- exp(Reduce(`+`, lapply(members, function(p) log(pmax(p, 1e-12)))) / k)
      geometric <- geometric / rowSums(geometric)
      c(arithmetic = summarise(arithmetic, truth), geometric = summarise(geometric, truth))
    })
    m <- rowMeans(by_seed)
    cat(sprintf(paste("%-18s k = %d  arithmetic: ECE %.4f, accuracy %.4f, confidence %.4f |",
                      "geometric: ECE %.4f, accuracy %.4f, confidence %.4f\n"),
                task, k, m[["arithmetic.ece"]], m[["arithmetic.accuracy"]],
                m[["arithmetic.confidence"]], m[["geometric.ece"]], m[["geometric.accuracy"]],
                m[["geometric.confidence"]]))
  }
}
