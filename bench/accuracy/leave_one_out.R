#!/usr/bin/env Rscript
# Cell types absent from the reference, within one tissue: a Kang task with one cell type (or
# several, joined by "+") taken out of the reference (the query keeps it), trained and predicted
# as run_scnym.R does
# (scnym_train(..., target = query, threads = 1, input = "counts"), scnym_predict() defaults).
# CellBench's unseen lines differ from the known ones in every gene; these types have close
# relatives in the reference (B -> B Activated, NK -> CD8 T, CD14 -> CD16 Mono), the case a
# user meets when the reference lacks a subtype; B and B Activated together leave the B cells no
# relative (they are called T cells), the case of a reference without a lineage.
# Per run: the held-out type's cells flagged (pruned_label NA) and the other cells flagged (also
# by the former rule, "fixed": confidence < 0.4 or novelty > 10 whatever the confidence), the
# AUROC of the novelty and of 1 - confidence for telling the held-out cells from the others,
# the accuracy on the other cells, and what the held-out cells were called most. Then the mean
# over seeds per task and type.
#
# Usage: Rscript bench/accuracy/leave_one_out.R [--types "B,NK,B+B Activated"]
#          [--tasks kang_ctrl_to_stim,kang_stim_to_ctrl] [--seeds 0,1,2] [--set name=value,...]
#          [--jobs 2] [--out bench/results/accuracy/leave_one_out.txt]
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
source(file.path(dirname(script), "..", "config-overrides.R"))
suppressPackageStartupMessages(library(scnym))

args <- commandArgs(trailingOnly = TRUE)
here <- accuracy_root()
types <- parse_list_opt(args, "types", "B,CD14 Mono,NK,B+B Activated,CD14 Mono+CD16 Mono")
tasks <- parse_list_opt(args, "tasks", "kang_ctrl_to_stim,kang_stim_to_ctrl")
seeds <- as.integer(parse_list_opt(args, "seeds", "0,1,2"))
overrides <- parse_opt(args, "set", "")
jobs <- as.integer(parse_opt(args, "jobs", "2"))
out <- parse_opt(args, "out", file.path(here, "bench", "results", "accuracy", "leave_one_out.txt"))
config <- do.call(scnym_config, c(list("default"), parse_overrides(overrides)))

one_run <- function(job) {
  x <- load_task(job$task)
  held_types <- strsplit(job$type, "+", fixed = TRUE)[[1]]
  keep <- !x$ref_labels %in% held_types
  model <- scnym_train(x$ref_counts[, keep], labels = x$ref_labels[keep],
                       target = x$query_counts, seed = job$seed, threads = 1, verbose = FALSE,
                       input = "counts", config = config)
  pred <- scnym_predict(model, x$query_counts, input = "counts")
  held <- x$query_labels %in% held_types
  flagged <- is.na(pred$pruned_label)
  fixed <- pred$confidence < 0.4 | pred$novelty > 10
  calls <- sort(table(pred$label[held]), decreasing = TRUE)
  data.frame(task = job$task, type = job$type, seed = job$seed, n_held_out = sum(held),
             held_out_flagged = mean(flagged[held]), others_flagged = mean(flagged[!held]),
             held_out_flagged_fixed = mean(fixed[held]), others_flagged_fixed = mean(fixed[!held]),
             auroc_novelty = auroc(pred$novelty[held], pred$novelty[!held]),
             auroc_confidence = auroc(-pred$confidence[held], -pred$confidence[!held]),
             others_accuracy = mean(pred$label[!held] == x$query_labels[!held]),
             called = names(calls)[1], called_share = as.numeric(calls[1]) / sum(held))
}

grid <- expand.grid(seed = seeds, type = types, task = tasks, stringsAsFactors = FALSE)
job_list <- lapply(seq_len(nrow(grid)), function(i) as.list(grid[i, ]))
rows <- parallel::mclapply(job_list, one_run, mc.cores = jobs, mc.preschedule = FALSE)
failed <- !vapply(rows, is.data.frame, logical(1))
if (any(failed)) {
  stop("runs failed: ", paste(vapply(rows[failed], as.character, ""), collapse = "; "))
}
runs <- do.call(rbind, rows)
metrics <- c("held_out_flagged", "others_flagged", "held_out_flagged_fixed",
             "others_flagged_fixed", "auroc_novelty", "auroc_confidence", "others_accuracy")
means <- aggregate(runs[metrics], runs[c("task", "type")], mean)
means$n_held_out <- aggregate(runs["n_held_out"], runs[c("task", "type")], mean)$n_held_out
means$called <- aggregate(runs["called"], runs[c("task", "type")],
                          function(v) names(sort(table(v), decreasing = TRUE))[1])$called
means <- means[order(match(means$task, tasks), match(means$type, types)), ]

options(width = 200, digits = 3)
sink(out)
cat(sprintf("# Rscript bench/accuracy/leave_one_out.R%s\n",
            if (length(args)) paste0(" ", paste(shQuote(args), collapse = " ")) else ""))
cat(sprintf("# %s; scnym %s (git %s); seeds %s; settings: %s\n",
            format(Sys.time(), "%Y-%m-%d %H:%M"), packageVersion("scnym"), git_commit(here),
            paste(seeds, collapse = ","), if (nzchar(overrides)) overrides else "default"))
cat("\n## Means over seeds\n")
print(means, row.names = FALSE)
cat("\n## Every run\n")
print(runs, row.names = FALSE)
sink()
cat(readLines(out), sep = "\n")
