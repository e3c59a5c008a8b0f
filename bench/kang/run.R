#!/usr/bin/env Rscript
# Kang PBMC (ctrl vs IFN-beta stim) label transfer through scnym_annotate() on Seurat objects,
# next to the reference scNym's runs of the same tasks (bench/results/reference/).
#
# For each task (ctrl -> stim, stim -> ctrl) and seed: build Seurat objects of the training and
# target cells from raw counts, call scnym_annotate(query, reference, labels = "label") with the
# default preset and threads = 1, and score the target cells against the author labels
# (accuracy, macro-F1 as sklearn's average = "macro" over classes in truth or predictions, as
# bench/reference/summarise.py). Training wall time is the time spent in scnym_train's loop
# (model$training$seconds); total time includes prediction and write-back.
#
# Usage: Rscript bench/kang/run.R [--seeds 0,1,2] [--tasks ctrl_to_stim,stim_to_ctrl]
#                                 [--preset default] [--set name=value,...] [--label default]
#                                 [--out bench/results/kang] [--no-reference] [--summarise-only]
# `--set` overrides configuration parameters (for investigations; the benchmark table uses the
# default preset unchanged). The machine's load average is recorded with every run: wall times
# on a shared machine are upper bounds.
# Data: $SCNYM_DATA_DIR/kang_ifnb_seurat2800 (default /work/shared/data relative: ../shared/data).
suppressPackageStartupMessages({
  library(scnym)
  library(Matrix)
})
`%||%` <- function(a, b) if (is.null(a)) b else a

args <- commandArgs(trailingOnly = TRUE)
opt <- function(name, default) {
  i <- match(paste0("--", name), args)
  if (is.na(i)) default else args[[i + 1L]]
}
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
here <- normalizePath(file.path(dirname(script), "..", ".."))
if (!file.exists(file.path(here, "DESCRIPTION"))) here <- getwd() # a copy run from the repo root
seeds <- as.integer(strsplit(opt("seeds", "0,1,2"), ",")[[1]])
tasks <- strsplit(opt("tasks", "ctrl_to_stim,stim_to_ctrl"), ",")[[1]]
preset <- opt("preset", "default")
overrides <- opt("set", "")
label <- opt("label", if (nzchar(overrides)) gsub("[=,]", "_", overrides) else preset)
with_reference <- !"--no-reference" %in% args
summarise_only <- "--summarise-only" %in% args
source(file.path(here, "bench", "config-overrides.R"))
config <- do.call(scnym_config, c(list(preset), parse_overrides(overrides)))
load_avg <- function() as.numeric(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3])
out_dir <- opt("out", file.path(here, "bench", "results", "kang"))
ref_dir <- opt("reference", file.path(here, "bench", "results", "reference"))
data_root <- Sys.getenv("SCNYM_DATA_DIR", file.path(here, "..", "shared", "data"))
data_dir <- file.path(data_root, "kang_ifnb_seurat2800")
if (!dir.exists(data_dir)) stop("Kang data not found at ", data_dir, " (set SCNYM_DATA_DIR)")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)

counts <- as(readMM(gzfile(file.path(data_dir, "matrix.mtx.gz"))), "CsparseMatrix")
genes <- readLines(file.path(data_dir, "genes.tsv"))
cells <- utils::read.delim(file.path(data_dir, "cells.tsv"), stringsAsFactors = FALSE)
dimnames(counts) <- list(genes, cells$cell_id)
rownames(cells) <- cells$cell_id
# Seurat turns underscores in feature names into dashes; Kang's names have none, but be safe.
seurat_of <- function(keep) {
  suppressWarnings(SeuratObject::CreateSeuratObject(
    counts = counts[, keep], meta.data = cells[keep, c("label", "domain")],
    min.cells = 0, min.features = 0))
}

macro_f1 <- function(truth, pred) {
  classes <- sort(union(truth, pred))
  mean(vapply(classes, function(k) {
    tp <- sum(truth == k & pred == k)
    if (tp == 0) return(0)
    2 * tp / (2 * tp + sum(truth != k & pred == k) + sum(truth == k & pred != k))
  }, numeric(1)))
}

ece <- function(conf, correct, n_bins = 10) {
  b <- pmin(pmax(ceiling(conf * n_bins), 1), n_bins)
  sum(vapply(seq_len(n_bins), function(m) {
    s <- b == m
    if (!any(s)) return(0)
    sum(s) / length(conf) * abs(mean(correct[s]) - mean(conf[s]))
  }, numeric(1)))
}

info <- scnym_backend_info(gemm_size = 0)
commit <- tryCatch(system2("git", c("-C", here, "rev-parse", "--short", "HEAD"), stdout = TRUE,
                           stderr = FALSE), error = function(e) NA_character_)
# The benchmark (default preset, no overrides) writes to out_dir; anything else is an
# investigation and goes to its own folder, leaving the benchmark runs alone.
is_benchmark <- preset == "default" && !nzchar(overrides)
if (!is_benchmark && label == "default") label <- preset
run_root <- if (is_benchmark) out_dir else file.path(out_dir, label)
for (task in if (summarise_only) character() else tasks) {
  doms <- strsplit(task, "_to_")[[1]]
  reference <- seurat_of(cells$domain == doms[[1]])
  query <- seurat_of(cells$domain == doms[[2]])
  for (seed in seeds) {
    run_dir <- file.path(run_root, sprintf("kang_%s_seed%d", task, seed))
    dir.create(run_dir, recursive = TRUE, showWarnings = FALSE)
    dir.create(run_dir, showWarnings = FALSE)
    message(sprintf("== %s, seed %d", task, seed))
    load_before <- load_avg()
    t0 <- proc.time()[["elapsed"]]
    annotated <- scnym_annotate(query, reference, labels = "label", config = config,
                                seed = seed, threads = 1, verbose = TRUE)
    total <- proc.time()[["elapsed"]] - t0
    record <- SeuratObject::Tool(annotated, "scnym_annotate")$scNym
    meta <- annotated[[]]
    truth <- meta$label
    pred <- meta$scNym
    known <- truth %in% record$model$classes
    conf_cal <- meta$scNym_confidence
    metrics <- list(
      task = paste0("kang_", task), seed = seed, preset = preset, label = label,
      overrides = overrides, threads = 1L,
      n_train = ncol(reference), n_target = ncol(query),
      accuracy = mean(pred[known] == truth[known]),
      macro_f1 = macro_f1(truth[known], pred[known]),
      ece_calibrated = ece(conf_cal[known], pred[known] == truth[known]),
      mean_confidence = mean(conf_cal),
      epochs = record$model$n_epochs,
      train_seconds = record$training$seconds,
      total_seconds = total,
      best_epoch = record$model$best_epoch,
      temperature = record$model$temperature,
      val_accuracy = record$model$val_accuracy,
      versions = c(record$model$versions, list(scnym = record$scnym_version)),
      blas_ok = info$blas_ok, git_commit = commit,
      load_average_before = load_before, load_average_after = load_avg()
    )
    writeLines(jsonlite::toJSON(metrics, auto_unbox = TRUE, pretty = TRUE, digits = NA),
               file.path(run_dir, "metrics.json"))
    utils::write.table(data.frame(cell_id = colnames(annotated), label = truth, predicted = pred,
                                  confidence = conf_cal, pruned = meta$scNym_pruned),
                       file.path(run_dir, "predictions.tsv"), sep = "\t", quote = FALSE,
                       row.names = FALSE)
    message(sprintf("   accuracy %.4f, macro-F1 %.4f, training %.1f s, total %.1f s",
                    metrics$accuracy, metrics$macro_f1, metrics$train_seconds, total))
  }
}

# Every run of this label found on disk (so --summarise-only rebuilds the tables).
cols <- c("task", "seed", "accuracy", "macro_f1", "ece_calibrated", "train_seconds",
          "total_seconds", "best_epoch", "temperature")
ours <- do.call(rbind, lapply(Sys.glob(file.path(run_root, "kang_*_seed*", "metrics.json")),
                              function(f) as.data.frame(jsonlite::fromJSON(f)[cols])))
ours <- ours[ours$task %in% paste0("kang_", tasks) & ours$seed %in% seeds, ]
ours$tool <- if (is_benchmark) "scnym (R/Rust)" else paste0("scnym (R/Rust), ", label)
out_dir <- run_root

# The reference's runs of the same tasks (bench/reference/run-reference.sh), scored the same way.
ref_rows <- list()
for (d in if (with_reference) Sys.glob(file.path(ref_dir, "kang_*_seed*")) else character()) {
  mf <- file.path(d, "metrics.json")
  pf <- file.path(d, "predictions.tsv")
  if (!file.exists(mf) || !file.exists(pf)) next
  m <- jsonlite::fromJSON(mf)
  p <- utils::read.delim(pf, stringsAsFactors = FALSE)
  truth <- cells[p$cell_id, "label"]
  train_dom <- sub("^kang_(.*)_to_.*$", "\\1", sub("_seed[0-9]+$", "", basename(d)))
  known <- truth %in% unique(cells$label[cells$domain == train_dom])
  ref_rows[[length(ref_rows) + 1L]] <- data.frame(
    task = sub("_seed[0-9]+$", "", basename(d)),
    seed = as.integer(sub("^.*_seed", "", basename(d))),
    accuracy = mean(p$predicted[known] == truth[known]),
    macro_f1 = macro_f1(truth[known], p$predicted[known]),
    ece_calibrated = NA_real_,
    train_seconds = m$train_time_s %||% NA_real_,
    total_seconds = m$wall_time_s %||% NA_real_,
    best_epoch = m$best_epoch %||% NA_integer_, temperature = NA_real_,
    tool = "reference scNym (Python)")
}
all_runs <- do.call(rbind, c(list(ours), ref_rows))
utils::write.table(all_runs, file.path(out_dir, "runs.tsv"), sep = "\t", quote = FALSE,
                   row.names = FALSE)

agg <- do.call(rbind, lapply(split(all_runs, list(all_runs$tool, all_runs$task), drop = TRUE),
                             function(d) {
  data.frame(tool = d$tool[[1]], task = d$task[[1]], n_seeds = nrow(d),
             accuracy = mean(d$accuracy), accuracy_sd = stats::sd(d$accuracy),
             macro_f1 = mean(d$macro_f1), macro_f1_sd = stats::sd(d$macro_f1),
             train_seconds = mean(d$train_seconds), total_seconds = mean(d$total_seconds))
}))
agg <- agg[order(agg$task, agg$tool), ]
utils::write.table(agg, file.path(out_dir, "summary.tsv"), sep = "\t", quote = FALSE,
                   row.names = FALSE)
f <- function(x, d = 3) ifelse(is.na(x), "NA", formatC(x, format = "f", digits = d))
md <- c("# Kang PBMC label transfer: scnym (R/Rust) vs the reference scNym",
        "",
        sprintf("Generated by `bench/kang/run.R` on %s; preset `%s`%s, threads = 1, seeds %s.",
                format(Sys.time(), "%Y-%m-%d %H:%M"), preset,
                if (nzchar(overrides)) paste0(" with ", overrides) else "",
                paste(seeds, collapse = ", ")),
        paste("Accuracy and macro-F1 over the target cells (mean and sd over seeds); wall times",
              "in seconds on a shared 2-core machine (load averages in each metrics.json)."),
        "",
        "| task | tool | seeds | accuracy | macro-F1 | training s | total s |",
        "|---|---|---|---|---|---|---|",
        sprintf("| %s | %s | %d | %s +- %s | %s +- %s | %s | %s |", agg$task, agg$tool, agg$n_seeds,
                f(agg$accuracy), f(agg$accuracy_sd), f(agg$macro_f1), f(agg$macro_f1_sd),
                f(agg$train_seconds, 1), f(agg$total_seconds, 1)),
        "",
        "Peers on ctrl -> stim (issue 4): reference scNym 0.896 / 0.747; scANVI 0.912 / 0.846;",
        "linear SVM 0.887; Seurat label transfer 0.867; SingleR 0.834.",
        "",
        "Per run: `runs.tsv`; per-cell predictions and metrics: `kang_<task>_seed<k>/`.")
writeLines(md, file.path(out_dir, "summary.md"))
cat(md, sep = "\n")
