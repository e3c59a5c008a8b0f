#!/usr/bin/env Rscript
# scnym on the accuracy benchmark's tasks, called the way a user would:
#   model <- scnym_train(ref_counts, labels = ref_labels, target = query_counts, seed = s,
#                        threads = 1, verbose = FALSE, input = "counts",
#                        config = scnym_config(<preset>, <overrides>))
#   pred  <- scnym_predict(model, query_counts, input = "counts")
# (input = "counts" because some panc8 technologies hold non-integer corrected counts.)
# Writes bench/results/accuracy/predictions/<label>/<task>__seed<k>.csv.gz (cell, truth,
# predicted = label, score = -novelty (higher = more like the reference; the calibrated
# confidence for a model without a novelty reference), flagged = is.na(pruned_label), the
# defaults of scnym_predict()) and one row per task/seed to bench/results/accuracy/runs/<label>.csv
# (training seconds, epochs, best epoch, temperature, accuracy, load average; a rerun of a
# task/seed replaces its row). It always recomputes: scnym is what changes.
#
# Usage: Rscript bench/accuracy/run_scnym.R [--tasks a,b] [--seeds 0,1,2] [--preset default]
#          [--set name=value,...] [--label NAME] [--jobs 1]
#   --label  method name in the cache; default "scnym" for the default preset unchanged, else
#            "scnym_<preset>" and/or the overrides (e.g. scnym_unconfident_weight_1)
#   --jobs   task/seed runs in parallel (parallel::mclapply), each with threads = 1
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages({
  library(scnym)
  library(Matrix)
})

args <- commandArgs(trailingOnly = TRUE)
opt <- function(name, default) parse_opt(args, name, default)
here <- accuracy_root()
tasks <- parse_list_opt(args, "tasks", paste(names(accuracy_tasks()), collapse = ","))
unknown <- setdiff(tasks, names(accuracy_tasks()))
if (length(unknown)) stop("unknown task(s): ", paste(unknown, collapse = ", "))
seeds <- as.integer(parse_list_opt(args, "seeds", "0,1,2"))
preset <- opt("preset", "default")
overrides <- opt("set", "")
jobs <- as.integer(opt("jobs", "1"))
source(file.path(dirname(script), "..", "config-overrides.R"))
default_label <- function() {
  parts <- c(if (preset != "default") preset,
             if (nzchar(overrides)) gsub("[=,]", "_", overrides))
  if (!length(parts)) "scnym" else paste(c("scnym", parts), collapse = "_")
}
label <- opt("label", default_label())
if (!grepl("^scnym", label)) label <- paste0("scnym_", label) # summarise.R finds scnym*
config <- do.call(scnym_config, c(list(preset), parse_overrides(overrides)))
load_avg <- function() as.numeric(strsplit(readLines("/proc/loadavg"), " ")[[1]][1])
commit <- git_commit(here)

one_run <- function(job) {
  task <- job$task
  seed <- job$seed
  x <- load_task(task)
  load_before <- load_avg()
  t0 <- proc.time()[["elapsed"]]
  model <- scnym::scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts,
                              seed = seed, threads = 1, verbose = FALSE, input = "counts",
                              config = config)
  pred <- scnym::scnym_predict(model, x$query_counts, input = "counts")
  total <- proc.time()[["elapsed"]] - t0
  pred <- pred[x$query_cells, , drop = FALSE]
  score <- if (anyNA(pred$novelty)) pred$confidence else -pred$novelty
  write_predictions(prediction_file(here, label, task, seed), x$query_cells, x$query_labels,
                    pred$label, score, is.na(pred$pruned_label))
  known <- x$query_labels %in% x$ref_labels
  data.frame(label = label, task = task, seed = seed, preset = preset, overrides = overrides,
             n_reference = ncol(x$ref_counts), n_query = ncol(x$query_counts),
             accuracy = round(mean(pred$label[known] == x$query_labels[known]), 4),
             train_seconds = round(model$training$seconds, 2), total_seconds = round(total, 2),
             epochs = nrow(model$history), best_epoch = model$best_epoch,
             temperature = round(model$temperature, 4), load_average_before = load_before,
             load_average_after = load_avg(), git_commit = commit,
             time = format(Sys.time(), "%Y-%m-%d %H:%M:%S"))
}

# Largest tasks first, so parallel jobs end together.
grid <- expand.grid(seed = seeds, task = tasks, stringsAsFactors = FALSE)
grid <- grid[order(-grepl("^kang_", grid$task), match(grid$task, tasks), grid$seed), ]
job_list <- lapply(seq_len(nrow(grid)), function(i) as.list(grid[i, ]))
run_safely <- function(job) {
  r <- tryCatch(one_run(job), error = function(e) e)
  if (inherits(r, "error")) {
    reason <- conditionMessage(r)
    record_failure(here, label, job$task, job$seed, reason)
    message(sprintf("%s %-26s seed %d FAILED: %s", label, job$task, job$seed, reason))
    return(NULL)
  }
  clear_failure(here, label, job$task, job$seed)
  message(sprintf("%s %-26s seed %d accuracy %.3f, training %.1f s, %d epochs (best %d)",
                  label, job$task, job$seed, r$accuracy, r$train_seconds, r$epochs,
                  r$best_epoch))
  r
}
rows <- if (jobs > 1L) {
  parallel::mclapply(job_list, run_safely, mc.cores = jobs, mc.preschedule = FALSE)
} else {
  lapply(job_list, run_safely)
}
rows <- do.call(rbind, Filter(is.data.frame, rows))
if (!is.null(rows)) {
  f <- file.path(here, "bench", "results", "accuracy", "runs", paste0(label, ".csv"))
  dir.create(dirname(f), recursive = TRUE, showWarnings = FALSE)
  if (file.exists(f)) {
    old <- utils::read.csv(f, stringsAsFactors = FALSE)
    old <- old[!paste(old$task, old$seed) %in% paste(rows$task, rows$seed), , drop = FALSE]
    rows <- rbind(old[, names(rows)], rows)
  }
  rows <- rows[order(match(rows$task, names(accuracy_tasks())), rows$seed), ]
  utils::write.csv(rows, f, row.names = FALSE)
}
