#!/usr/bin/env Rscript
# Prediction of many cells from R with BiocParallel workers against one process (model and
# query: predict_data.R); the median of 3 timings of scnym_predict() for each setting, in one R
# session, with the embedding (the default) and without ("identical" compares with the first
# setting of each).
# Usage: Rscript bench/scale/predict_workers.R [N = 200000]   (writes to standard output)
suppressPackageStartupMessages({
  library(scnym)
  library(BiocParallel)
})
n <- as.integer(commandArgs(trailingOnly = TRUE)[1])
if (is.na(n)) n <- 200000L
script_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(script_dir, "predict_data.R"))
data <- predict_bench_data(n)
model <- data$model
x <- data$x
settings <- list(
  "1 process, 1 thread" = list(threads = 1L, BPPARAM = SerialParam(), embedding = TRUE),
  "1 process, 2 threads" = list(threads = 2L, BPPARAM = SerialParam(), embedding = TRUE),
  "MulticoreParam(2), 1 thread each" = list(threads = NULL, BPPARAM = MulticoreParam(2),
                                            embedding = TRUE),
  "no embedding: 1 process, 1 thread" = list(threads = 1L, BPPARAM = SerialParam(),
                                             embedding = FALSE),
  "no embedding: MulticoreParam(2)" = list(threads = NULL, BPPARAM = MulticoreParam(2),
                                           embedding = FALSE)
)
load <- function() strsplit(readLines("/proc/loadavg"), " ")[[1]][1]
cat(sprintf("%d cells x %d genes (%.0f non-zeros per cell); load average before %s\n", n,
            nrow(x), length(x@x) / n, load()))
ref <- NULL
for (name in names(settings)) {
  s <- settings[[name]]
  secs <- numeric(3)
  for (i in seq_along(secs)) {
    secs[i] <- system.time(p <- scnym_predict(model, x, threads = s$threads,
                                              embedding = s$embedding,
                                              BPPARAM = s$BPPARAM))[["elapsed"]]
  }
  if (is.null(ref) || is.null(p$embedding) != is.null(ref$embedding)) ref <- p
  cat(sprintf("%-34s median %6.2f s (%s), %6.0f cells/s; identical to the first: %s\n", name,
              stats::median(secs), paste(sprintf("%.2f", secs), collapse = ", "),
              n / stats::median(secs), identical(p, ref)))
}
cat(sprintf("load average after %s\n", load()))
