#!/usr/bin/env Rscript
# One training on a benchmark task, as a user gets it (threads = libtorch's default), for timing
# the default (two ensemble members, trained at the same time) against one network:
#   /usr/bin/time -v Rscript bench/ensemble/time_default.R kang_ctrl_to_stim 2
#   /usr/bin/time -v Rscript bench/ensemble/time_default.R kang_ctrl_to_stim 1
# (the two in turn, several times each, each timed as a whole process)
# Arguments: task (bench/accuracy/tasks.R), ensemble_size.
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "..", "accuracy", "tasks.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
x <- load_task(args[[1]])
model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts, seed = 0,
                     verbose = FALSE, input = "counts",
                     config = scnym_config(ensemble_size = as.integer(args[[2]])))
cat(sprintf("%s ensemble_size %s: %.1f s training\n", args[[1]], args[[2]],
            model$training$seconds))
