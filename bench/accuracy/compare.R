#!/usr/bin/env Rscript
# scnym variants against the best peer per task, in one line each: the tasks a variant has, its
# mean accuracy and macro-F1 over them (means over seeds first), and on how many of them it is
# more than 0.01 below the best peer (the accuracy issue's per-task target) with the largest gap.
# For screening variants (e.g. a sweep whose predictions sit outside predictions/, so that
# summarise.R's table does not list them); the table stays summarise.R's.
#
# On the tasks with unseen types (CellBench) it also gives the AUROC of the score (known cells
# positive), the share of unseen cells flagged and of known cells labelled correctly and not
# flagged (as summarise.R), the mean and the lowest over those tasks.
#
# Usage: Rscript bench/accuracy/compare.R [--dir DIR,...] [--tasks PATTERN] [--detail] LABEL ...
#   --dir     folders of <label>/<task>__seed<k>.csv.gz, searched in turn for each label
#             (default bench/results/accuracy/predictions)
#   --tasks   regular expression the task names must match (default: every task)
#   --detail  also print every task's means and gaps
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
args <- commandArgs(trailingOnly = TRUE)
options(width = 160)
here <- accuracy_root()
dirs <- parse_list_opt(args, "dir", file.path(here, "bench", "results", "accuracy", "predictions"))
pattern <- parse_opt(args, "tasks", ".")
detail <- "--detail" %in% args
labels <- args[!startsWith(args, "--") & !args %in% c(paste(dirs, collapse = ","), pattern)]
if (!length(labels)) stop("give at least one label (a folder under --dir)")

rows <- list()
for (m in labels) {
  dir <- Filter(function(d) dir.exists(file.path(d, m)), dirs)[1]
  for (f in if (is.na(dir)) character() else Sys.glob(file.path(dir, m, "*__seed*.csv.gz"))) {
    task <- sub("__seed[0-9]+\\.csv\\.gz$", "", basename(f))
    if (!grepl(pattern, task)) next
    p <- utils::read.csv(f, stringsAsFactors = FALSE, na.strings = c("NA", ""))
    p$flagged <- as.logical(p$flagged)
    known <- p$truth %in% task_reference_labels(task)
    unseen <- isTRUE(accuracy_tasks()[[task]]$unseen)
    correct <- !is.na(p$predicted) & p$predicted == p$truth
    rows[[length(rows) + 1L]] <- data.frame(
      label = m, task = task, accuracy = mean(correct[known]),
      macro_f1 = macro_f1(p$truth[known], p$predicted[known]),
      auroc_unseen = if (unseen) auroc(p$score[known], p$score[!known]) else NA,
      unseen_flagged = if (unseen) mean(p$flagged[!known]) else NA,
      known_kept = if (unseen) mean(correct[known] & !p$flagged[known]) else NA)
  }
}
if (!length(rows)) {
  stop("no predictions of ", paste(labels, collapse = ", "), " under ",
       paste(dirs, collapse = ", "))
}
res <- aggregate(cbind(accuracy, macro_f1, auroc_unseen, unseen_flagged, known_kept) ~ label + task,
                 do.call(rbind, rows), mean, na.action = stats::na.pass)
res <- merge(res, best_peer(here))
res$gap_accuracy <- res$accuracy - res$best_accuracy
res$gap_f1 <- res$macro_f1 - res$best_f1
for (m in labels) {
  d <- res[res$label == m, ]
  if (!nrow(d)) next
  cat(sprintf(paste("%-44s %2d tasks  accuracy %.4f  macro-F1 %.4f  | below best peer - 0.01:",
                    "accuracy %d (worst %+.3f), macro-F1 %d (worst %+.3f)\n"),
              m, nrow(d), mean(d$accuracy), mean(d$macro_f1), sum(d$gap_accuracy < -0.01 - 1e-9),
              min(d$gap_accuracy), sum(d$gap_f1 < -0.01 - 1e-9), min(d$gap_f1)))
  u <- d[!is.na(d$unseen_flagged), ]
  if (nrow(u)) {
    cat(sprintf(paste("%-44s unseen types (%d tasks): AUROC %.4f (lowest %.4f), flagged %.3f",
                      "(lowest %.3f), known kept %.3f (lowest %.3f)\n"), "", nrow(u),
                mean(u$auroc_unseen), min(u$auroc_unseen), mean(u$unseen_flagged),
                min(u$unseen_flagged), mean(u$known_kept), min(u$known_kept)))
  }
}
if (detail) {
  res <- res[order(res$task, match(res$label, labels)), ]
  print(res[, c("task", "label", "accuracy", "macro_f1", "gap_accuracy", "gap_f1",
                "auroc_unseen", "unseen_flagged", "known_kept")], digits = 3, row.names = FALSE)
}
