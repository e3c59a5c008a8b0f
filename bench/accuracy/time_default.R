#!/usr/bin/env Rscript
# One training on a benchmark task as a user gets it (threads = libtorch's default), timed as a
# whole process, to compare today's default with scnym 0.1.0's (the issue's "today": commit
# b7ddbd0, installed in a library of its own), the two run in turn:
#   git worktree add /tmp/scnym-0.1.0 b7ddbd0
#   R CMD INSTALL -l /tmp/lib-0.1.0 /tmp/scnym-0.1.0
#   R_LIBS=/tmp/lib-0.1.0 /usr/bin/time -v Rscript bench/accuracy/time_default.R TASK default
#   /usr/bin/time -v Rscript bench/accuracy/time_default.R TASK default
# (the "paper" preset runs 0.1.0's procedure on today's engine).
# Arguments: task (bench/accuracy/tasks.R), preset, and optionally overrides as in
# run_scnym.R's --set (name=value,...). Prints the training seconds and epochs.
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
source(file.path(dirname(script), "..", "config-overrides.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
overrides <- if (length(args) > 2L) args[[3]] else ""
x <- load_task(args[[1]])
config <- do.call(scnym_config, c(list(args[[2]]), parse_overrides(overrides)))
model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts, seed = 0,
                     verbose = FALSE, input = "counts", config = config)
cat(sprintf("%s %s%s: %.1f s training, %d epochs\n", args[[1]], args[[2]],
            if (nzchar(overrides)) paste0(" ", overrides) else "", model$training$seconds,
            nrow(model$history)))
