# Median float32 GEMM rate of libtorch inside R (n x n, 5 repetitions after a warm-up).
args <- commandArgs(trailingOnly = TRUE)
n <- if (length(args)) as.integer(args[[1]]) else 1024L
threads <- if (length(args) > 1) as.integer(args[[2]]) else 1L
suppressPackageStartupMessages(library(scnym))
invisible(scnym:::rs_set_threads(threads))
rates <- replicate(3, scnym_backend_info(gemm_size = n)$gemm_gflops)
info <- scnym_backend_info(gemm_size = 0)
cat(sprintf(paste0('{"where": "R", "n": %d, "threads": %d, "gflops": %.2f, "r_blas": "%s", ',
                   '"own_blas": %s}\n'),
            n, threads, stats::median(rates), info$r_blas, tolower(info$blas_ok)))
