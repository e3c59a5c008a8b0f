#!/usr/bin/env Rscript
# Deep ensembles against a single network (issue: ensembles): Kang PBMC both directions and the
# CellBench task with two cell lines absent from the reference (tasks of bench/accuracy/tasks.R).
#
# An ensemble of k members with seed s is the average of the single networks with seeds s, ...,
# s + k - 1 (scnym_train() trains member i exactly as a single network with seed s + i - 1;
# tests/testthat/test-train.R checks that the ensemble's probabilities equal the average). So
# this script trains single networks (ensemble_size = 1 and no members on the variable genes,
# member_variable_genes = 0; default otherwise; threads = 1) with
# seeds 0..(max(k) + 1) once per task and forms the ensembles k = 1, 2, 3, 5 for seeds 0, 1, 2
# from them. Training time of an ensemble = the sum of its members' times (sequential, 1 thread).
#
# Metrics on the query cells of reference types: accuracy, macro-F1, expected calibration error
# (10 bins, calibrated probabilities; scnym_evaluate()) of the members' mean probabilities
# (scnym's rule) and, beside it, of their normalised geometric mean (softmax of the mean
# log-probability, sharper where the members disagree); on CellBench the AUROC of the mean
# novelty and of the disagreement for unseen vs known cells, and the share of unseen cells left
# unassigned by scnym_predict()'s default rule (confidence < 0.4 or novelty > 10).
#
# Usage: Rscript bench/ensemble/run.R [--jobs 2]   (writes bench/results/ensemble/)
Sys.setenv(OMP_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "..", "accuracy", "tasks.R"))
suppressPackageStartupMessages({
  library(scnym)
  library(Matrix)
})
args <- commandArgs(trailingOnly = TRUE)
jobs <- if ("--jobs" %in% args) as.integer(args[[match("--jobs", args) + 1L]]) else 1L
sizes <- c(1L, 2L, 3L, 5L)
base_seeds <- 0:2
tasks <- c("kang_ctrl_to_stim", "kang_stim_to_ctrl", "cellbench_celseq2_3cl")
out_dir <- file.path(accuracy_root(), "bench", "results", "ensemble")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
load_avg <- function() as.numeric(strsplit(readLines("/proc/loadavg"), " ")[[1]][1])

single <- function(job) {
  x <- load_task(job$task)
  t0 <- Sys.time()
  model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts,
                       seed = job$seed, threads = 1, verbose = FALSE, input = "counts",
                       config = scnym_config(ensemble_size = 1, member_variable_genes = 0))
  secs <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  pred <- scnym_predict(model, x$query_counts, input = "counts")[x$query_cells, ]
  list(task = job$task, seed = job$seed, seconds = secs, load = load_avg(),
       probabilities = pred$probabilities, novelty = pred$novelty, truth = x$query_labels,
       known = x$query_labels %in% x$ref_labels)
}

grid <- expand.grid(seed = 0:(max(base_seeds) + max(sizes) - 1L), task = tasks,
                    stringsAsFactors = FALSE)
jobs_list <- lapply(seq_len(nrow(grid)), function(i) as.list(grid[i, ]))
runs <- parallel::mclapply(jobs_list, single, mc.cores = jobs, mc.preschedule = FALSE)
failed <- vapply(runs, inherits, TRUE, "try-error")
if (any(failed)) stop("failed runs: ", paste(unlist(runs[failed]), collapse = "\n"))

# scnym_evaluate() of the prediction table of probabilities `prob` on the `known` cells
evaluate_known <- function(prob, truth, known) {
  table <- data.frame(label = colnames(prob)[max.col(prob, ties.method = "first")],
                      confidence = apply(prob, 1, max), row.names = rownames(prob))
  table$probabilities <- prob
  scnym_evaluate(table[known, , drop = FALSE], truth[known])$summary
}

rows <- list()
for (task in tasks) {
  by_seed <- runs[vapply(runs, function(r) r$task == task, TRUE)]
  by_seed <- by_seed[order(vapply(by_seed, `[[`, 0, "seed"))]
  for (k in sizes) for (s in base_seeds) {
    members <- by_seed[s + seq_len(k)]
    prob <- Reduce(`+`, lapply(members, `[[`, "probabilities")) / k
    novelty <- Reduce(`+`, lapply(members, `[[`, "novelty")) / k
    entropy <- function(p) -rowSums(ifelse(p > 0, p * log(p), 0))
    disagreement <- pmax(entropy(prob) -
                           Reduce(`+`, lapply(members, function(m) entropy(m$probabilities))) / k,
                         0)
    confidence <- apply(prob, 1, max)
    truth <- members[[1]]$truth
    known <- members[[1]]$known
    geometric <- exp(Reduce(`+`, lapply(members, function(m) log(pmax(m$probabilities, 1e-12)))) /
                       k)
    ev <- evaluate_known(prob, truth, known)
    ev_geometric <- evaluate_known(geometric / rowSums(geometric), truth, known)
    unassigned <- confidence < 0.4 | novelty > 10
    rows[[length(rows) + 1L]] <- data.frame(
      task = task, ensemble_size = k, seed = s, accuracy = ev$accuracy, macro_f1 = ev$macro_f1,
      ece = ev$ece, ece_geometric = ev_geometric$ece,
      auroc_novelty = auroc(novelty[!known], novelty[known]),
      auroc_disagreement = if (k > 1) auroc(disagreement[!known], disagreement[known]) else NA_real_,
      unseen_unassigned = if (any(!known)) mean(unassigned[!known]) else NA_real_,
      known_unassigned = mean(unassigned[known]),
      train_seconds = sum(vapply(members, `[[`, 0, "seconds")),
      load_average = mean(vapply(members, `[[`, 0, "load")))
  }
}
res <- do.call(rbind, rows)
utils::write.csv(res, file.path(out_dir, "runs.csv"), row.names = FALSE)
metrics <- c("accuracy", "macro_f1", "ece", "ece_geometric", "auroc_novelty", "auroc_disagreement",
             "unseen_unassigned", "known_unassigned", "train_seconds", "load_average")
mean_na <- function(v) if (all(is.na(v))) NA_real_ else mean(v, na.rm = TRUE)
summary <- aggregate(res[metrics], res[c("task", "ensemble_size")], mean_na)
summary <- summary[order(summary$task, summary$ensemble_size), ]
utils::write.csv(summary, file.path(out_dir, "summary.csv"), row.names = FALSE)
fmt <- function(v) ifelse(is.na(v), "-", formatC(v, format = "f", digits = 3))
md <- c("# Deep ensembles against one network", "",
        paste("Generated by `Rscript bench/ensemble/run.R` on", format(Sys.Date()), "(means over",
              "seeds 0-2; an ensemble of k with seed s averages the single networks with seeds",
              "s..s+k-1; 1 thread; time = sum of the members' training times, on a shared",
              "2-core machine: see load_average)."), "",
        "| task | k | accuracy | macro-F1 | ECE | ECE, geometric mean | AUROC novelty | AUROC disagreement | unseen unassigned | known unassigned | training s | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        sprintf("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %.1f |", summary$task,
                summary$ensemble_size, fmt(summary$accuracy), fmt(summary$macro_f1),
                fmt(summary$ece), fmt(summary$ece_geometric), fmt(summary$auroc_novelty), fmt(summary$auroc_disagreement),
                fmt(summary$unseen_unassigned), fmt(summary$known_unassigned),
                summary$train_seconds, summary$load_average))
writeLines(md, file.path(out_dir, "table.md"))
cat(md, sep = "\n")
