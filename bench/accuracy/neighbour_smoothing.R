#!/usr/bin/env Rscript
# Would averaging each query cell's probabilities with those of its nearest query neighbours
# (in the scNym embedding) help, as CellTypist's majority voting over query clusters does? On
# each task and seed it trains the default as run_scnym.R does (scnym_train(..., target = query,
# threads = 1, input = "counts"), scnym_predict() defaults) and scores the label of
#   none:              the default's probabilities P;
#   mean_k<k>_a<a>:    (1 - a) P + a * (mean of P over the cell's k nearest query cells, itself
#                      included: BiocNeighbors::findKNN on the embedding);
#   product_k<k>_a<a>: P * (that mean)^a (neighbours as a second expert, which keeps a
#                      confident call of a class its neighbours lack);
#   unconfident_k<k>:  the mean with a = 0.5 for cells whose confidence is below 0.9 only.
# Prints accuracy and macro-F1 per task and over all tasks, and the recall of Kang's rare classes
# (means over seeds).
# Usage: Rscript bench/accuracy/neighbour_smoothing.R [--jobs 2] [--seeds 0,1,2] [--tasks ...]
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
jobs <- as.integer(parse_opt(args, "jobs", "2"))
seeds <- as.integer(parse_list_opt(args, "seeds", "0,1,2"))
tasks <- parse_list_opt(args, "tasks", paste(names(accuracy_tasks()), collapse = ","))
rare <- c("Mk", "pDC", "Eryth")

variants <- function(prob, emb, confidence) {
  out <- list(none = prob)
  for (k in c(10, 20)) {
    nn <- BiocNeighbors::findKNN(emb, k = k - 1L, get.distance = FALSE)$index
    neighbours <- (prob + Reduce(`+`, lapply(seq_len(k - 1L), function(j) prob[nn[, j], ]))) / k
    for (a in c(0.25, 0.5)) {
      out[[sprintf("mean_k%d_a%.2f", k, a)]] <- (1 - a) * prob + a * neighbours
    }
    out[[sprintf("product_k%d_a0.50", k)]] <- prob * sqrt(neighbours)
    low <- confidence < 0.9
    smoothed <- prob
    smoothed[low, ] <- 0.5 * prob[low, ] + 0.5 * neighbours[low, ]
    out[[sprintf("unconfident_k%d", k)]] <- smoothed
  }
  out
}

one_run <- function(job) {
  x <- load_task(job$task)
  model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts,
                       seed = job$seed, threads = 1, verbose = FALSE, input = "counts")
  pred <- scnym_predict(model, x$query_counts, input = "counts")
  prob <- as.matrix(pred$probabilities)
  known <- x$query_labels %in% x$ref_labels
  truth <- x$query_labels[known]
  v <- variants(prob, as.matrix(pred$embedding), pred$confidence)
  do.call(rbind, lapply(names(v), function(name) {
    label <- colnames(prob)[max.col(v[[name]], ties.method = "first")][known]
    r <- data.frame(task = job$task, seed = job$seed, variant = name,
                    accuracy = mean(label == truth), macro_f1 = macro_f1(truth, label))
    for (cl in rare) r[[cl]] <- if (cl %in% truth) mean(label[truth == cl] == cl) else NA
    r
  }))
}

grid <- expand.grid(seed = seeds, task = tasks, stringsAsFactors = FALSE)
grid <- grid[order(-grepl("^(kang|cellbench)_", grid$task)), ]
res <- parallel::mclapply(seq_len(nrow(grid)), function(i) one_run(as.list(grid[i, ])),
                          mc.cores = jobs, mc.preschedule = FALSE)
res <- bind_runs(res)
cat(sprintf("# Rscript bench/accuracy/neighbour_smoothing.R --jobs %d --seeds %s (%s, %s)\n",
            jobs, paste(seeds, collapse = ","), format(Sys.time(), "%Y-%m-%d"),
            git_commit(accuracy_root())))
cat("# means over seeds; every variant scores the same trained models\n")
by_task <- aggregate(cbind(accuracy, macro_f1) ~ task + variant, res, mean)
print_metric_tables(by_task, "variant", "task", " (rows: variants)")
cat("\nmean over the tasks:\n")
print(aggregate(cbind(accuracy, macro_f1) ~ variant, by_task, mean), digits = 4,
      row.names = FALSE)
kang <- res[grepl("^kang_", res$task), ]
if (nrow(kang) > 0) {
  cat("\nKang, recall of the rare classes:\n")
  print(aggregate(cbind(Mk, pDC, Eryth) ~ task + variant, kang, mean, na.action = na.pass),
        digits = 3, row.names = FALSE)
}
