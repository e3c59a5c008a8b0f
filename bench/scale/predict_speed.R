#!/usr/bin/env Rscript
# Prediction throughput from R of one installed scnym: scnym_predict() with its defaults
# (embedding included) of N cells in memory, at THREADS libtorch threads, after one warm-up call;
# model and query: predict_data.R. To compare two builds on this noisy machine, run
# them in turn in one loop, e.g.
#   for i in 1 2 3; do for lib in OLD NEW; do Rscript bench/scale/predict_speed.R $lib 2; done; done
# Usage: Rscript bench/scale/predict_speed.R LIBRARY THREADS [N = 200000]
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(scnym, lib.loc = args[[1]]))
threads <- as.integer(args[[2]])
n <- if (length(args) > 2) as.integer(args[[3]]) else 200000L
script_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(script_dir, "predict_data.R"))
data <- predict_bench_data(n)
model <- data$model
x <- data$x
invisible(scnym_predict(model, x, threads = threads))
secs <- replicate(3, system.time(scnym_predict(model, x, threads = threads))[["elapsed"]])
cat(sprintf("%s (%s), %d threads: median %.2f s (%s), %.0f cells/s, load %s\n", args[[1]],
            utils::packageVersion("scnym", lib.loc = args[[1]]), threads, stats::median(secs),
            paste(sprintf("%.2f", secs), collapse = ", "), n / stats::median(secs),
            strsplit(readLines("/proc/loadavg"), " ")[[1]][1]))
