#!/usr/bin/env Rscript
# Where the time of a 2-worker prediction goes: scnym_predict() of 200,000 cells
# (predict_data.R) with BiocParallel::MulticoreParam(2), cut into the steps predict_prepared()
# runs, each timed on its own with scnym's internal functions, beside the serial prediction with
# 1 thread and one worker's half of the cells alone. Outputs as scnym_predict()'s defaults
# (calibrated, with the embedding). Two rounds; the load average before each.
# Usage: Rscript bench/scale/predict_workers_parts.R [LIB]
lib <- commandArgs(trailingOnly = TRUE)[1]
suppressPackageStartupMessages({
  library(scnym, lib.loc = if (!is.na(lib)) lib)
  library(BiocParallel)
})
script_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(script_dir, "predict_data.R"))
data <- predict_bench_data(200000L)
model <- data$model
ns <- asNamespace("scnym")
invisible(scnym_predict(model, data$x[, 1:5000], threads = 1)) # warm up
timed <- function(label, expr) {
  seconds <- system.time(value <- expr)[["elapsed"]]
  cat(sprintf("  %-48s %5.2f s\n", label, seconds))
  invisible(value)
}
for (round in 1:2) {
  cat(sprintf("round %d, load average %s\n", round,
              strsplit(readLines("/proc/loadavg"), " ")[[1]][1]))
  timed("scnym_predict(), 1 process, 1 thread", scnym_predict(model, data$x, threads = 1))
  timed("scnym_predict(), MulticoreParam(2)",
        scnym_predict(model, data$x, BPPARAM = MulticoreParam(2)))
  query <- timed("  prepare_query() (extract, check, align)",
                 ns$prepare_query(model, data$x, input = "auto"))
  blocks <- ns$prediction_blocks(length(query$cells), 2L)
  timed("  one worker's half alone, 1 thread",
        ns$predict_packed(ns$core_data(query$data, blocks[[1]], model$genes, view = TRUE),
                          model, TRUE, 1L, TRUE))
  timed("  starting and stopping 2 forked workers",
        {
          bp <- MulticoreParam(2)
          bpstart(bp)
          bpstop(bp)
        })
  parts <- timed("  predict_forked() (fork, both halves, return)",
                 ns$predict_forked(blocks, query$data, model, TRUE, 1L, TRUE, MulticoreParam(2)))
  out <- timed("  join the blocks into R matrices",
               ns$rust_result(ns$rs_predictions_join(ns$model_handle(model), parts,
                                                     query$cells)))
  timed("  prediction_table()",
        ns$prediction_table(out, model, query$missing_genes, TRUE, 0.4, 10))
}
