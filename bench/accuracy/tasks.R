#!/usr/bin/env Rscript
# The accuracy benchmark's tasks, defined in this one place.
#
# Sourced by peers_r.R, run_scnym.R and summarise.R (functions only); run as a script it exports
# every task to bench/accuracy/cache/tasks/<task>/ for the Python peers (gitignored):
#   reference.mtx, query.mtx   genes x cells MatrixMarket (raw values as given: counts, or the
#                              non-integer corrected counts of some panc8 technologies)
#   genes.tsv                  one gene per line (the matrices' rows)
#   reference.tsv, query.tsv   cell, label, domain (header)
#
# Tasks (reference -> query; genes: the data set's genes, the same for both sides, ERCC dropped):
#   kang_ctrl_to_stim, kang_stim_to_ctrl   Kang PBMC (kang_ifnb_seurat2800), one condition each
#   panc8_loto_<tech>                      panc8: the other four technologies (400 cells) -> <tech>
#   panc8_single_<tech>                    panc8: <tech> (100 cells) -> the other four
#   cellbench_celseq2_3cl, cellbench_dropseq_3cl
#                                          CellBench: that 3-line domain -> the celseq2_5cl_p1/p2/p3
#                                          plates; singlets only (both sides), ERCC dropped; A549
#                                          and H838 are absent from the reference ("unseen")
#
# Usage: Rscript bench/accuracy/tasks.R [--tasks a,b] [--force]
# Data: $SCNYM_DATA_DIR (default ../shared/data relative to the repository root).

accuracy_root <- function() {
  script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
  here <- if (length(script)) normalizePath(file.path(dirname(script), "..", "..")) else getwd()
  if (!file.exists(file.path(here, "DESCRIPTION"))) here <- getwd()
  here
}

accuracy_data_root <- function(here = accuracy_root()) {
  Sys.getenv("SCNYM_DATA_DIR", file.path(here, "..", "shared", "data"))
}

panc8_techs <- c("celseq", "celseq2", "fluidigmc1", "indrop", "smartseq2")
cellbench_query_domains <- c("celseq2_5cl_p1", "celseq2_5cl_p2", "celseq2_5cl_p3")

# Every task: data set, reference domains, query domains, and a one-line description.
accuracy_tasks <- function() {
  t <- list(
    kang_ctrl_to_stim = list(data = "kang_ifnb_seurat2800", ref = "ctrl", query = "stim"),
    kang_stim_to_ctrl = list(data = "kang_ifnb_seurat2800", ref = "stim", query = "ctrl")
  )
  for (tech in panc8_techs) {
    t[[paste0("panc8_loto_", tech)]] <- list(data = "panc8_small_bbknnR",
                                              ref = setdiff(panc8_techs, tech), query = tech)
  }
  for (tech in panc8_techs) {
    t[[paste0("panc8_single_", tech)]] <- list(data = "panc8_small_bbknnR", ref = tech,
                                                query = setdiff(panc8_techs, tech))
  }
  for (dom in c("celseq2_3cl", "dropseq_3cl")) {
    t[[paste0("cellbench_", dom)]] <- list(data = "cellbench_celllines", ref = dom,
                                           query = cellbench_query_domains, unseen = TRUE)
  }
  t
}

# The cells of a data set that the tasks use (CellBench: demuxlet singlets only).
read_cells <- function(name, data_root = accuracy_data_root()) {
  cells <- utils::read.delim(file.path(data_root, name, "cells.tsv"), stringsAsFactors = FALSE)
  if (name == "cellbench_celllines") cells <- cells[as.logical(cells$singlet), ]
  cells
}

# Reference labels of a task (one per reference cell), without reading the counts.
task_reference_labels <- function(task, data_root = accuracy_data_root()) {
  spec <- accuracy_tasks()[[task]]
  cells <- read_cells(spec$data, data_root)
  cells$label[cells$domain %in% spec$ref]
}

# Reads one data set (cached per session): genes x cells dgCMatrix with dimnames, and cells.
.accuracy_cache <- new.env()
read_dataset <- function(name, data_root = accuracy_data_root()) {
  if (!is.null(.accuracy_cache[[name]])) return(.accuracy_cache[[name]])
  dir <- file.path(data_root, name)
  if (!dir.exists(dir)) stop("data set not found at ", dir, " (set SCNYM_DATA_DIR)")
  counts <- methods::as(Matrix::readMM(gzfile(file.path(dir, "matrix.mtx.gz"))), "CsparseMatrix")
  genes <- readLines(file.path(dir, "genes.tsv"))
  cells <- utils::read.delim(file.path(dir, "cells.tsv"), stringsAsFactors = FALSE)
  dimnames(counts) <- list(genes, cells$cell_id)
  keep_genes <- rep(TRUE, length(genes))
  if (name == "cellbench_celllines") {
    full <- utils::read.delim(file.path(dir, "genes_full.tsv"), stringsAsFactors = FALSE)
    keep_genes <- !as.logical(full$is_ercc)
  }
  keep_cells <- cells$cell_id %in% read_cells(name, data_root)$cell_id
  d <- list(counts = counts[keep_genes, keep_cells], cells = cells[keep_cells, ])
  .accuracy_cache[[name]] <- d
  d
}

# One task: reference and query counts (genes x cells, same genes), labels, domains.
load_task <- function(task, data_root = accuracy_data_root()) {
  spec <- accuracy_tasks()[[task]]
  if (is.null(spec)) stop("unknown task ", task)
  d <- read_dataset(spec$data, data_root)
  r <- d$cells$domain %in% spec$ref
  q <- d$cells$domain %in% spec$query
  list(task = task, spec = spec,
       ref_counts = d$counts[, r], ref_labels = d$cells$label[r], ref_domains = d$cells$domain[r],
       query_counts = d$counts[, q], query_labels = d$cells$label[q],
       query_domains = d$cells$domain[q],
       ref_cells = d$cells$cell_id[r], query_cells = d$cells$cell_id[q])
}

# Writes a task for the Python peers; skipped when already there (unless force).
export_task <- function(task, cache_dir, force = FALSE, data_root = accuracy_data_root()) {
  dir <- file.path(cache_dir, task)
  done <- file.path(dir, "query.tsv")
  if (file.exists(done) && !force) return(invisible(dir))
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  x <- load_task(task, data_root)
  writeLines(rownames(x$ref_counts), file.path(dir, "genes.tsv"))
  Matrix::writeMM(x$ref_counts, file.path(dir, "reference.mtx"))
  Matrix::writeMM(x$query_counts, file.path(dir, "query.mtx"))
  utils::write.table(data.frame(cell = x$ref_cells, label = x$ref_labels, domain = x$ref_domains),
                     file.path(dir, "reference.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
  utils::write.table(data.frame(cell = x$query_cells, label = x$query_labels,
                                domain = x$query_domains),
                     file.path(dir, "query.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
  invisible(dir)
}

# Macro-F1 over the classes in the truth or the predictions (sklearn's average = "macro"); an NA
# prediction counts as wrong.
macro_f1 <- function(truth, pred) {
  classes <- sort(union(truth, pred[!is.na(pred)]))
  mean(vapply(classes, function(k) {
    tp <- sum(truth == k & pred == k, na.rm = TRUE)
    if (tp == 0) return(0)
    fp <- sum(truth != k & pred == k, na.rm = TRUE)
    fn <- sum(truth == k & (is.na(pred) | pred != k))
    2 * tp / (2 * tp + fp + fn)
  }, numeric(1)))
}

# Area under the ROC curve of scores `pos` (positives) against `neg` (ties count one half; NA
# scores dropped; NA without both).
auroc <- function(pos, neg) {
  pos <- pos[!is.na(pos)]
  neg <- neg[!is.na(neg)]
  if (!length(pos) || !length(neg)) return(NA_real_)
  r <- rank(c(pos, neg))
  (sum(r[seq_along(pos)]) - length(pos) * (length(pos) + 1) / 2) / (length(pos) * length(neg))
}

# Shared helpers for the peers' prediction caches.
prediction_file <- function(here, method, task, seed) {
  file.path(here, "bench", "results", "accuracy", "predictions", method,
            sprintf("%s__seed%d.csv.gz", task, seed))
}

write_predictions <- function(path, cell, truth, predicted, score, flagged) {
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  tmp <- paste0(path, ".tmp")
  con <- gzfile(tmp, "w")
  utils::write.csv(data.frame(cell = cell, truth = truth, predicted = predicted, score = score,
                              flagged = flagged), con, row.names = FALSE)
  close(con)
  file.rename(tmp, path)
}

# Records why a method failed on a task (the summary reports it; the cache keeps no file, so a
# rerun tries again).
record_failure <- function(here, method, task, seed, reason) {
  dir <- file.path(here, "bench", "results", "accuracy", "failures", method)
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  writeLines(gsub("[\r\n]+", " ", reason), file.path(dir, sprintf("%s__seed%d.txt", task, seed)))
}

clear_failure <- function(here, method, task, seed) {
  f <- file.path(here, "bench", "results", "accuracy", "failures", method,
                 sprintf("%s__seed%d.txt", task, seed))
  if (file.exists(f)) file.remove(f)
}

# Trainings kept between runs of a benchmark script: calls `train(i)` for each `i` whose result
# is not yet in `dir` as `<keys[i]>.rds` (on `jobs` processes), then reads every result back.
cached_runs <- function(dir, keys, train, jobs) {
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  files <- file.path(dir, paste0(keys, ".rds"))
  todo <- which(!file.exists(files))
  parallel::mclapply(todo, function(i) saveRDS(train(i), files[i]), mc.cores = jobs,
                     mc.preschedule = FALSE)
  lapply(files, readRDS)
}

# The short hash of the checked-out commit (NA outside a git checkout).
git_commit <- function(here) {
  tryCatch(system2("git", c("-C", here, "rev-parse", "--short", "HEAD"), stdout = TRUE,
                   stderr = FALSE), error = function(e) NA_character_)
}

# The best peer's accuracy and macro-F1 per task (`task`, `best_accuracy`, `best_f1`; each the
# largest over the peers, not necessarily of one peer), from summarise.R's summary.csv.
best_peer <- function(here) {
  s <- utils::read.csv(file.path(here, "bench", "results", "accuracy", "summary.csv"))
  stats::aggregate(cbind(best_accuracy = accuracy, best_f1 = macro_f1) ~ task,
                   s[!grepl("^scnym", s$method), ], max)
}

# The value after `--name` in a benchmark script's arguments (`default` when absent);
# parse_list_opt() splits a comma-separated one.
parse_opt <- function(args, name, default) {
  i <- match(paste0("--", name), args)
  if (is.na(i)) default else args[[i + 1L]]
}

parse_list_opt <- function(args, name, default) {
  v <- parse_opt(args, name, default)
  if (is.null(v) || !nzchar(v)) return(character())
  strsplit(v, ",")[[1]]
}

# The results of parallel runs as one data frame; stops with the errors when a run failed.
bind_runs <- function(res) {
  failed <- !vapply(res, is.data.frame, TRUE)
  if (any(failed)) {
    stop("runs failed: ", paste(unique(unlist(lapply(res[failed], as.character))),
                                collapse = "; "))
  }
  do.call(rbind, res)
}

# Prints accuracy and macro-F1 of `by` (means per `rows` and `cols`) as two tables: a row per
# value of `rows`, a column per value of `cols`.
print_metric_tables <- function(by, rows, cols, heading = "") {
  for (m in c("accuracy", "macro_f1")) {
    cat("\n", m, heading, ":\n", sep = "")
    wide <- stats::reshape(by[, c(rows, cols, m)], idvar = rows, timevar = cols,
                           direction = "wide")
    names(wide) <- sub(paste0("^", m, "\\."), "", names(wide))
    print(wide, digits = 3, row.names = FALSE)
  }
}

if (sys.nframe() == 0L) {
  args <- commandArgs(trailingOnly = TRUE)
  here <- accuracy_root()
  tasks <- parse_list_opt(args, "tasks", paste(names(accuracy_tasks()), collapse = ","))
  cache <- file.path(here, "bench", "accuracy", "cache", "tasks")
  for (task in tasks) {
    dir <- export_task(task, cache, force = "--force" %in% args)
    x <- utils::read.delim(file.path(dir, "query.tsv"))
    r <- utils::read.delim(file.path(dir, "reference.tsv"))
    message(sprintf("%-28s reference %4d cells (%d types), query %4d cells, %d genes", task,
                    nrow(r), length(unique(r$label)), nrow(x),
                    length(readLines(file.path(dir, "genes.tsv")))))
  }
}
