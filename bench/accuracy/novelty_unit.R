#!/usr/bin/env Rscript
# Which unit and thresholds for scnym's novelty score and pruned labels (scnym_predict()).
#
# Trains the default on every accuracy task (tasks.R): Kang and CellBench with seeds 0, 1, 2, the
# ten panc8 tasks with seed 0; predicts the query and the model's own validation cells. A cell's
# raw novelty is a distance; a unit is a quantile p of the validation cells' novelty (the unit
# the model uses cancels out, so the result does not depend on the installed version's unit).
# For each unit (p = 0.5, 0.75, 0.9, 1 = the largest, the unit before model format 4) and
# threshold T it reports what the rule "pruned when novelty > T" does; then, for the chosen
# unit, a confidence cut C, alone (A = 0) or only above a novelty A (before format 4 the cut
# applied only beyond the largest validation novelty):
#   cb_kept_min     CellBench: smallest share, over the 6 trainings, of correctly labelled
#                   known-line cells that stay unpruned (target >= 0.99)
#   cb_unseen_min   CellBench: smallest share of the unseen lines' cells pruned (target >= 0.9)
#   kang_flag_max   Kang (no new type): largest share of cells pruned (target <= 0.03)
#   panc8_flag_mean panc8 (no new type but 4 endothelial cells): mean share of known cells pruned
#   *_wrong_pruned  share of the wrongly labelled known cells that are pruned (higher is better)
# and the ratio of the validation cells' largest novelty to their upper quartile (the conversion
# of model files before format 4).
#
# Usage: Rscript bench/accuracy/novelty_unit.R [--jobs 2] [--cache DIR]
#   trainings are cached as DIR/<task>__<seed>.rds (default bench/accuracy/cache/novelty_unit)
# Writes bench/results/accuracy/novelty_unit.txt.
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
here <- accuracy_root()
jobs <- as.integer(parse_opt(args, "jobs", "2"))
cache <- parse_opt(args, "cache", file.path(here, "bench", "accuracy", "cache", "novelty_unit"))

grid <- expand.grid(seed = 0:2, task = names(accuracy_tasks()), stringsAsFactors = FALSE)
grid <- grid[!grepl("^panc8", grid$task) | grid$seed == 0, ]
grid <- grid[order(-grepl("^kang", grid$task)), ]
train_one <- function(i) {
  task <- grid$task[i]
  seed <- grid$seed[i]
  x <- load_task(task)
  m <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts, seed = seed,
                   threads = 1, verbose = FALSE, input = "counts")
  val <- scnym_predict(m, x$ref_counts[, m$training$validation_cells, drop = FALSE],
                       input = "counts", embedding = FALSE)
  q <- scnym_predict(m, x$query_counts, input = "counts", embedding = FALSE)[x$query_cells, ]
  message(task, " seed ", seed, " trained")
  list(task = task, seed = seed, version = as.character(utils::packageVersion("scnym")),
       val_novelty = val$novelty, truth = x$query_labels,
       known = x$query_labels %in% x$ref_labels, label = q$label,
       confidence = q$confidence, novelty = q$novelty)
}
runs <- cached_runs(cache, sprintf("%s__%d", grid$task, grid$seed), train_one, jobs)
kind <- ifelse(grepl("^cellbench", grid$task), "cb",
               ifelse(grepl("^kang", grid$task), "kang", "panc8"))
in_unit <- function(r, p) r$novelty / unname(stats::quantile(r$val_novelty, p))
rule_stats <- function(pruned_of) {
  per <- vapply(runs, function(r) {
    pruned <- pruned_of(r)
    k <- r$known
    right <- k & r$label == r$truth
    wrong <- k & r$label != r$truth
    c(kept = sum(!pruned & right) / sum(right), flag_known = mean(pruned[k]),
      flag_unseen = if (any(!k)) mean(pruned[!k]) else NA,
      wrong_pruned = if (any(wrong)) mean(pruned[wrong]) else NA)
  }, numeric(4))
  data.frame(cb_kept_min = min(per["kept", kind == "cb"]),
             cb_unseen_min = min(per["flag_unseen", kind == "cb"]),
             cb_unseen_mean = mean(per["flag_unseen", kind == "cb"]),
             kang_flag_max = max(per["flag_known", kind == "kang"]),
             kang_wrong_pruned = mean(per["wrong_pruned", kind == "kang"]),
             panc8_flag_mean = mean(per["flag_known", kind == "panc8"]),
             panc8_wrong_pruned = mean(per["wrong_pruned", kind == "panc8"], na.rm = TRUE))
}
meets <- function(s) s$cb_kept_min >= 0.99 & s$cb_unseen_min >= 0.9 & s$kang_flag_max <= 0.03
show <- function(d) print(format(d, digits = 3), row.names = FALSE)

out <- file.path(here, "bench", "results", "accuracy", "novelty_unit.txt")
sink(out, split = TRUE)
cat(sprintf("# %s; scnym %s (git %s); %d trainings\n", format(Sys.time(), "%Y-%m-%d %H:%M"),
            runs[[1]]$version, git_commit(here), length(runs)))
ratio <- vapply(runs, function(r) max(r$val_novelty) / stats::quantile(r$val_novelty, 0.75), 1)
cat(sprintf("validation cells per training: %s\n",
            paste(range(lengths(lapply(runs, `[[`, "val_novelty"))), collapse = "-")))
cat(sprintf("largest / upper quartile of the validation novelty: median %.2f, range %.2f-%.2f\n\n",
            stats::median(ratio), min(ratio), max(ratio)))

cat("## Unit (quantile p of the validation cells) x threshold T: pruned when novelty > T\n")
units <- do.call(rbind, lapply(c(0.5, 0.75, 0.9, 1), function(p) {
  do.call(rbind, lapply(c(2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 14), function(t) {
    s <- rule_stats(function(r) in_unit(r, p) > t)
    cbind(p = p, T = t, s, meets_targets = meets(s))
  }))
}))
show(units)

cat("\n## Unit p = 0.75, T = 10, and a confidence cut C (alone: A = 0; or only above novelty A)\n")
conf <- do.call(rbind, lapply(c(0.3, 0.4, 0.5), function(cut) {
  do.call(rbind, lapply(c(0, 5, 8), function(a) {
    s <- rule_stats(function(r) {
      n <- in_unit(r, 0.75)
      n > 10 | (r$confidence < cut & n > a)
    })
    cbind(C = cut, A = a, s, meets_targets = meets(s))
  }))
}))
show(conf)
sink()
