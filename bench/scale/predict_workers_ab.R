#!/usr/bin/env Rscript
# Two package builds side by side on the 2-worker prediction: in the library LIB, 3 pairs of
# scnym_predict() of 200,000 cells (predict_data.R), serial with 1 thread and with
# BiocParallel::MulticoreParam(2) (1 thread per worker), each pair's times, ratio and the load
# average. Run it for each library in turn, alternating, e.g.
#   for r in 1 2; do for lib in OLD NEW; do
#     Rscript bench/scale/predict_workers_ab.R $lib; done; done
args <- commandArgs(trailingOnly = TRUE)
lib <- args[1]
suppressPackageStartupMessages({
  library(scnym, lib.loc = lib)
  library(BiocParallel)
})
script_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(script_dir, "predict_data.R"))
data <- predict_bench_data(200000L)
invisible(scnym_predict(data$model, data$x[, 1:3000], threads = 1)) # warm up
load <- function() strsplit(readLines("/proc/loadavg"), " ")[[1]][1]
for (i in 1:3) {
  serial <- system.time(scnym_predict(data$model, data$x, threads = 1))[["elapsed"]]
  workers <- system.time(scnym_predict(data$model, data$x,
                                       BPPARAM = MulticoreParam(2)))[["elapsed"]]
  cat(sprintf("%s: serial, 1 thread %.2f s; MulticoreParam(2) %.2f s; ratio %.2f; load %s\n",
              lib, serial, workers, serial / workers, load()))
}
