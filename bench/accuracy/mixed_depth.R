#!/usr/bin/env Rscript
# Would an ensemble of networks of different depths help the small panc8 references? On each
# panc8 task and seed s it trains single-member models (ensemble_size = 1, the default otherwise)
# with 3 hidden layers at seeds s and s + 1, and with 1 and 2 hidden layers at seed s + 1, and
# scores the average of two members' calibrated probabilities: 3 + 3 layers is the default's
# two-member ensemble (the same seeds), 3 + 1 and 3 + 2 mix the depths. Prints the means over
# seeds per task and over tasks.
# Usage: Rscript bench/accuracy/mixed_depth.R [--jobs 2] [--seeds 0,1,2]
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
jobs <- as.integer(parse_opt(args, "jobs", "2"))
seeds <- as.integer(parse_list_opt(args, "seeds", "0,1,2"))
tasks <- grep("^panc8_", names(accuracy_tasks()), value = TRUE)
grid <- expand.grid(seed = seeds, task = tasks, stringsAsFactors = FALSE)

one_run <- function(i) {
  task <- grid$task[i]
  seed <- grid$seed[i]
  x <- load_task(task)
  probabilities <- function(seed, n_hidden) {
    config <- scnym_config(n_hidden = n_hidden, ensemble_size = 1L)
    model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts,
                         seed = seed, threads = 1, verbose = FALSE, input = "counts",
                         config = config)
    scnym_predict(model, x$query_counts, input = "counts")[x$query_cells, ]$probabilities
  }
  deep <- probabilities(seed, 3L)
  second <- list("3+3" = probabilities(seed + 1L, 3L), "3+1" = probabilities(seed + 1L, 1L),
                 "3+2" = probabilities(seed + 1L, 2L))
  known <- x$query_labels %in% x$ref_labels
  do.call(rbind, lapply(names(second), function(arm) {
    p <- (deep + second[[arm]]) / 2
    label <- colnames(p)[max.col(p, "first")]
    data.frame(task = task, seed = seed, arm = arm,
               accuracy = mean(label[known] == x$query_labels[known]),
               macro_f1 = macro_f1(x$query_labels[known], label[known]))
  }))
}

res <- do.call(rbind, parallel::mclapply(seq_len(nrow(grid)), one_run, mc.cores = jobs))
by_task <- aggregate(cbind(accuracy, macro_f1) ~ task + arm, res, mean)
wide <- reshape(by_task, idvar = "task", timevar = "arm", direction = "wide")
cat(sprintf("# Rscript bench/accuracy/mixed_depth.R --jobs %d --seeds %s (%s)\n", jobs,
            paste(seeds, collapse = ","), format(Sys.time(), "%Y-%m-%d")))
cat("# means over seeds; accuracy.<arm> and macro_f1.<arm>, arm = hidden layers of the two members\n")
print(wide, digits = 3, row.names = FALSE)
cat("\nmean over the panc8 tasks:\n")
print(aggregate(cbind(accuracy, macro_f1) ~ arm, by_task, mean), digits = 4, row.names = FALSE)
