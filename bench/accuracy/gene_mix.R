#!/usr/bin/env Rscript
# Would a member on the most variable genes help the default ensemble? A probe for the next
# step of gene selection (DEVELOPMENT.md, "Gene selection"), not a method of the package.
#
# On both Kang tasks, 3 seeds, trains the default (every gene, an ensemble of two) and
# scnym_config(n_variable_genes = 2000) with the same seed, and averages their calibrated
# probabilities with weight w on the variable-gene model (w = 0: the default, 1: the option).
# The novelty would stay the every-gene members' (CellBench's unseen lines are flagged by it),
# so only Kang's labels are measured: accuracy, macro-F1 (tasks.R), recall of pDC and Mk.
#
# Usage: Rscript bench/accuracy/gene_mix.R [--jobs 2]
# Writes bench/results/accuracy/gene_mix.txt; trainings cached in bench/accuracy/cache/gene_mix.
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
here <- accuracy_root()
jobs <- as.integer(parse_opt(args, "jobs", "2"))

grid <- expand.grid(seed = 0:2, task = c("kang_ctrl_to_stim", "kang_stim_to_ctrl"),
                    stringsAsFactors = FALSE)
train_one <- function(i) {
  x <- load_task(grid$task[i])
  probabilities <- function(config) {
    m <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts,
                     seed = grid$seed[i], threads = 1, verbose = FALSE, input = "counts",
                     config = config)
    pred <- scnym_predict(m, x$query_counts, input = "counts", embedding = FALSE)
    pred[x$query_cells, ]$probabilities
  }
  message(grid$task[i], " seed ", grid$seed[i], " trained")
  list(truth = x$query_labels, every_gene = probabilities(scnym_config()),
       variable = probabilities(scnym_config(n_variable_genes = 2000)))
}
runs <- cached_runs(file.path(here, "bench", "accuracy", "cache", "gene_mix"),
                    sprintf("%s__%d", grid$task, grid$seed), train_one, jobs)

recall <- function(truth, predicted, k) mean(predicted[truth == k] == k)
rows <- do.call(rbind, lapply(seq_along(runs), function(i) {
  r <- runs[[i]]
  classes <- colnames(r$every_gene)
  do.call(rbind, lapply(c(0, 1 / 3, 1 / 2, 2 / 3, 1), function(w) {
    p <- (1 - w) * r$every_gene + w * r$variable
    label <- classes[max.col(p, "first")]
    data.frame(task = grid$task[i], w = round(w, 2), accuracy = mean(label == r$truth),
               macro_f1 = macro_f1(r$truth, label), pDC = recall(r$truth, label, "pDC"),
               Mk = recall(r$truth, label, "Mk"))
  }))
}))
means <- stats::aggregate(cbind(accuracy, macro_f1, pDC, Mk) ~ task + w, rows, mean)
out <- file.path(here, "bench", "results", "accuracy", "gene_mix.txt")
sink(out, split = TRUE)
cat(sprintf("# %s; scnym %s (git %s); Kang, seeds 0-2, means; w: weight of the model on the",
            format(Sys.time(), "%Y-%m-%d %H:%M"), utils::packageVersion("scnym"), git_commit(here)),
    "2,000 most variable genes in the average of calibrated probabilities\n")
print(format(means[order(means$task, means$w), ], digits = 3), row.names = FALSE)
sink()
