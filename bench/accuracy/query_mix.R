#!/usr/bin/env Rscript
# Does the class-weighted adversary (adv_class_weights) hold when the query's class mix moves far
# from the reference's? Held-out tasks (another species, another tissue sample) often differ in
# composition as much as in expression. On each task the query keeps only `--keep` (default
# 0.15) of the cells of its two most common classes (the same cells for every seed and arm), so
# that the mix the adversary aligns with differs strongly from the reference's. Each arm trains
# as run_scnym.R does (scnym_train(..., target = shifted query, threads = 1, input = "counts"))
# and scores the shifted query: the default with each adv_class_weights of `--arms`.
# Prints the means over seeds per task and over all tasks.
# Usage: Rscript bench/accuracy/query_mix.R [--jobs 2] [--seeds 0,1,2] [--keep 0.15]
#          [--arms 0,0.5,1] [--tasks kang_ctrl_to_stim,...] (default: Kang and panc8)
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
jobs <- as.integer(parse_opt(args, "jobs", "2"))
seeds <- as.integer(parse_list_opt(args, "seeds", "0,1,2"))
keep <- as.numeric(parse_opt(args, "keep", "0.15"))
tasks <- parse_list_opt(args, "tasks",
                        paste(grep("^(kang|panc8)_", names(accuracy_tasks()), value = TRUE),
                              collapse = ","))
strengths <- as.numeric(parse_list_opt(args, "arms", "0,0.5,1"))
arms <- setNames(lapply(strengths, function(s) scnym_config(adv_class_weights = s)),
                 paste0("adv_class_weights_", strengths))
grid <- expand.grid(seed = seeds, task = tasks, arm = names(arms), stringsAsFactors = FALSE)

# The query cells kept: all but (1 - keep) of the two most common classes, drawn once per task.
shifted_query <- function(x) {
  common <- names(sort(table(x$query_labels), decreasing = TRUE))[1:2]
  set.seed(1)
  drop <- unlist(lapply(common, function(k) {
    cells <- which(x$query_labels == k)
    cells[sample.int(length(cells), round((1 - keep) * length(cells)))]
  }))
  setdiff(seq_along(x$query_labels), drop)
}

one_run <- function(i) {
  task <- grid$task[i]
  x <- load_task(task)
  q <- shifted_query(x)
  model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts[, q],
                       seed = grid$seed[i], threads = 1, verbose = FALSE, input = "counts",
                       config = arms[[grid$arm[i]]])
  label <- scnym_predict(model, x$query_counts[, q], input = "counts")$label
  truth <- x$query_labels[q]
  known <- truth %in% x$ref_labels
  data.frame(task = task, seed = grid$seed[i], arm = grid$arm[i], query_cells = length(q),
             accuracy = mean(label[known] == truth[known]),
             macro_f1 = macro_f1(truth[known], label[known]))
}

res <- do.call(rbind, parallel::mclapply(seq_len(nrow(grid)), one_run, mc.cores = jobs,
                                         mc.preschedule = FALSE))
by_task <- aggregate(cbind(accuracy, macro_f1) ~ task + arm + query_cells, res, mean)
wide <- reshape(by_task, idvar = c("task", "query_cells"), timevar = "arm", direction = "wide")
cat(sprintf(paste("# Rscript bench/accuracy/query_mix.R --jobs %d --seeds %s --keep %s",
                  "--arms %s (%s, %s)\n"), jobs, paste(seeds, collapse = ","), keep,
            paste(strengths, collapse = ","), format(Sys.time(), "%Y-%m-%d"),
            git_commit(accuracy_root())))
cat("# the query's two most common classes thinned to", keep, "of their cells; means over seeds\n")
print(wide, digits = 3, row.names = FALSE)
cat("\nmean over the tasks:\n")
print(aggregate(cbind(accuracy, macro_f1) ~ arm, by_task, mean), digits = 4, row.names = FALSE)
