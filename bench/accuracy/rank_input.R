#!/usr/bin/env Rscript
# Rank-based input, the way SingleR (Spearman correlation) and singleCellNet (gene pairs) stay
# robust across platforms: each cell's nonzero values replaced by their rank among them divided
# by their number (ties averaged; zeros stay zero), in reference and query alike, and given to
# scnym as `input = "lognorm"` (used as they are). The "counts" arm is the default as
# run_scnym.R calls it. Both arms train with the default configuration (scnym_train(...,
# target = query, threads = 1), scnym_predict() defaults). Prints accuracy and macro-F1 per task
# (means over seeds) and over the tasks.
# Usage: Rscript bench/accuracy/rank_input.R [--jobs 2] [--seeds 0,1,2] [--tasks ...]
#          (default tasks: the ten panc8 tasks)
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
jobs <- as.integer(parse_opt(args, "jobs", "2"))
seeds <- as.integer(parse_list_opt(args, "seeds", "0,1,2"))
tasks <- parse_list_opt(args, "tasks", paste(grep("^panc8_", names(accuracy_tasks()),
                                                  value = TRUE), collapse = ","))

# Each column's nonzero values as their within-cell rank over their number.
rank_cells <- function(m) {
  m <- methods::as(m, "CsparseMatrix")
  for (j in seq_len(ncol(m))) {
    k <- seq.int(m@p[j] + 1L, length.out = m@p[j + 1L] - m@p[j])
    m@x[k] <- rank(m@x[k]) / length(k)
  }
  m
}

run_arm <- function(job) {
  x <- load_task(job$task)
  ranked <- job$arm == "rank"
  input <- if (ranked) "lognorm" else "counts"
  ref <- if (ranked) rank_cells(x$ref_counts) else x$ref_counts
  query <- if (ranked) rank_cells(x$query_counts) else x$query_counts
  model <- scnym_train(ref, labels = x$ref_labels, target = query, seed = job$seed,
                       threads = 1, verbose = FALSE, input = input)
  label <- scnym_predict(model, query, input = input)[x$query_cells, "label"]
  known <- x$query_labels %in% x$ref_labels
  data.frame(task = job$task, arm = job$arm, seed = job$seed,
             accuracy = mean(label[known] == x$query_labels[known]),
             macro_f1 = macro_f1(x$query_labels[known], label[known]))
}

grid <- expand.grid(seed = seeds, arm = c("counts", "rank"), task = tasks,
                    stringsAsFactors = FALSE)
res <- parallel::mclapply(lapply(seq_len(nrow(grid)), function(i) as.list(grid[i, ])), run_arm,
                          mc.cores = jobs, mc.preschedule = FALSE)
by_task <- aggregate(cbind(accuracy, macro_f1) ~ task + arm, bind_runs(res), mean)
cat(sprintf("# Rscript bench/accuracy/rank_input.R --jobs %d --seeds %s (%s, %s)\n", jobs,
            paste(seeds, collapse = ","), format(Sys.time(), "%Y-%m-%d"),
            git_commit(accuracy_root())))
cat("# scnym default on counts, and on within-cell ranks; means over seeds\n")
print_metric_tables(by_task, "task", "arm")
cat("\nmean over the tasks:\n")
print(aggregate(cbind(accuracy, macro_f1) ~ arm, by_task, mean), digits = 4, row.names = FALSE)
