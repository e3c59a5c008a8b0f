#!/usr/bin/env Rscript
# The query cells that the default (`scnym`) mislabels in at least half of its cached seeds, what
# they express, and how every cached method and variant calls them: what stands between a task
# and its per-task target when the gap is a cell or two.
#
# For each such cell: its label, the default's calls, the cached methods and variants that call
# it right in every run, in some runs or in none, and its log-CP10k of the reference's marker
# genes of its label and of the class it is called (markers: the 8 genes with the largest mean
# log-CP10k difference between the class and the rest of the task's reference).
#
#   Rscript bench/accuracy/persistent_misses.R [--tasks a,b] [--dir d1,d2]
#     > bench/results/accuracy/persistent_misses.txt
# --dir: prediction folders to read methods from (default: predictions and sweep under
#        bench/results/accuracy); the default's seeds are read from the first.
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
args <- commandArgs(trailingOnly = TRUE)
results <- file.path(accuracy_root(), "bench", "results", "accuracy")
tasks <- parse_list_opt(args, "tasks", "panc8_loto_smartseq2,panc8_loto_fluidigmc1")
dirs <- parse_list_opt(args, "dir", paste(file.path(results, c("predictions", "sweep")),
                                          collapse = ","))

read_runs <- function(dir, method, task) {
  files <- Sys.glob(file.path(dir, method, paste0(task, "__seed*.csv.gz")))
  lapply(files, utils::read.csv, stringsAsFactors = FALSE)
}
log_cp10k <- function(m) {
  m <- methods::as(m, "CsparseMatrix")
  m@x <- log1p(1e4 * m@x / rep(Matrix::colSums(m), diff(m@p)))
  m
}

for (task in tasks) {
  x <- load_task(task)
  ref <- log_cp10k(x$ref_counts)
  query <- log_cp10k(x$query_counts)
  colnames(query) <- x$query_cells
  markers <- lapply(stats::setNames(nm = sort(unique(x$ref_labels))), function(k) {
    inside <- x$ref_labels == k
    d <- Matrix::rowMeans(ref[, inside, drop = FALSE]) -
      Matrix::rowMeans(ref[, !inside, drop = FALSE])
    names(sort(d, decreasing = TRUE))[1:8]
  })
  default <- read_runs(dirs[1], "scnym", task)
  calls <- do.call(cbind, lapply(default, function(p) p$predicted[match(x$query_cells, p$cell)]))
  wrong <- rowSums(calls != x$query_labels)
  missed <- which(wrong >= length(default) / 2)
  cat(sprintf(paste("== %s: %d query cells; the default (%d seeds) misses %s cells per seed,",
                    "%d of them in at least half of its seeds\n"),
              task, length(x$query_cells), length(default),
              format(mean(colSums(calls != x$query_labels)), digits = 3), length(missed)))
  # every method's and variant's runs of the task, read once
  runs <- lapply(stats::setNames(nm = unique(unlist(lapply(dirs, list.files)))), function(m) {
    unlist(lapply(dirs, function(d) read_runs(d, m, task)), recursive = FALSE)
  })
  runs <- runs[lengths(runs) > 0L]
  for (i in missed) {
    cell <- x$query_cells[i]
    truth <- x$query_labels[i]
    called <- names(which.max(table(calls[i, calls[i, ] != truth])))
    cat(sprintf("\n%s: label %s; the default calls %s\n", cell, truth,
                paste(calls[i, ], collapse = " ")))
    for (k in c(truth, called)) {
      v <- query[markers[[k]], cell]
      cat(sprintf("  markers of %-8s %s\n", k,
                  paste(sprintf("%s %.1f", names(v), v), collapse = ", ")))
    }
    right <- vapply(runs, function(r) {
      hit <- vapply(r, function(p) p$predicted[p$cell == cell] == truth, logical(1))
      c(sum(hit), length(hit))
    }, numeric(2))
    group <- function(keep) {
      k <- which(keep)
      if (!length(k)) return("none")
      paste(sprintf("%s (%d/%d)", names(runs)[k], right[1, k], right[2, k]), collapse = ", ")
    }
    cat("  right in every run:", group(right[1, ] == right[2, ]), "\n")
    cat("  right in some runs:", group(right[1, ] > 0 & right[1, ] < right[2, ]), "\n")
    cat(sprintf("  right in no run: %d methods and variants (%d runs)\n",
                sum(right[1, ] == 0), sum(right[2, right[1, ] == 0])))
  }
  cat("\n")
}
