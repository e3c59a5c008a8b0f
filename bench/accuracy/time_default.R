#!/usr/bin/env Rscript
# One training on a benchmark task as a user gets it (threads = libtorch's default), to time
# today's default against the procedure of scnym 0.1.0's default (the "paper" preset: one
# network, one shuffled pass per epoch, counts per million), the two run in turn, each timed as a
# whole process:
#   /usr/bin/time -v Rscript bench/accuracy/time_default.R TASK default
#   /usr/bin/time -v Rscript bench/accuracy/time_default.R TASK paper
# Arguments: task (bench/accuracy/tasks.R), preset. Prints the training seconds and epochs.
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
x <- load_task(args[[1]])
model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts, seed = 0,
                     verbose = FALSE, input = "counts", config = scnym_config(args[[2]]))
cat(sprintf("%s %s: %.1f s training, %d epochs\n", args[[1]], args[[2]],
            model$training$seconds, nrow(model$history)))
