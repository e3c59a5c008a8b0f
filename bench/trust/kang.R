#!/usr/bin/env Rscript
# Kang PBMC (ctrl vs IFN-beta stim): calibration, explanations and the ablation of scNym.
#
# For each task (ctrl -> stim, stim -> ctrl), preset (default = full scNym, no_ssl, no_dan) and
# seed (0, 1, 2): train on the training domain with the target domain as unlabelled cells
# (scnym_train, threads = 1), predict the target with and without the fitted temperature, and
# score against the author labels with scnym_evaluate(): accuracy, kappa, macro-F1, mean AUC,
# ECE and overconfidence (10 bins) before and after temperature scaling, and the entropy of
# mixing of ctrl/stim in the embedding of all cells. Target labels are used only to score.
# For the full model: integrated gradients per predicted class on the target cells (up to 300
# cells per class, 100 steps), with the ranks of known markers.
# Also for the full model: the ECE the same predictions get with other temperatures computed
# from the uncalibrated probabilities (T = 1, T fitted on the validation cells but never below
# 1), to show how the choice of the fitting rule matters (no target label enters any of them).
#
# Usage: Rscript bench/trust/kang.R [--seeds 0,1,2] [--tasks ctrl_to_stim,stim_to_ctrl]
#                                   [--presets default,no_ssl,no_dan] [--ig-seeds 0,1,2]
# Output: bench/results/trust/kang/ (runs.tsv, summary.md, calibration.tsv, ig_markers.tsv,
#         ig_top30.tsv, one folder per run with metrics.json and predictions.tsv.gz)
# A run whose metrics.json exists is skipped (FORCE=1 reruns).
this_file <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE)[1])
source(file.path(dirname(this_file), "common.R"))

seeds <- as.integer(strsplit(trust_opt("seeds", "0,1,2"), ",")[[1]])
tasks <- strsplit(trust_opt("tasks", "ctrl_to_stim,stim_to_ctrl"), ",")[[1]]
presets <- strsplit(trust_opt("presets", "default,no_ssl,no_dan"), ",")[[1]]
ig_seeds <- as.integer(strsplit(trust_opt("ig-seeds", "0,1,2"), ",")[[1]])
out_root <- file.path(trust_repo(), "bench", "results", "trust", "kang")
dir.create(out_root, recursive = TRUE, showWarnings = FALSE)
force <- identical(Sys.getenv("FORCE"), "1")

d <- load_kang()
markers <- list(B = c("MS4A1", "CD79A"), NK = c("GNLY", "NKG7"), Mk = c("PPBP"),
                `CD14 Mono` = c("CD14", "LYZ"), `CD16 Mono` = c("FCGR3A"))

# softmax(log(p) / T): the temperature applied to uncalibrated probabilities.
rescale <- function(p, temperature) {
  l <- log(pmax(p, 1e-300)) / temperature
  l <- l - apply(l, 1, max)
  e <- exp(l)
  e / rowSums(e)
}
with_temperature <- function(pred, temperature) {
  p <- rescale(pred$probabilities, temperature)
  out <- data.frame(label = colnames(p)[max.col(p, ties.method = "first")],
                    confidence = apply(p, 1, max), row.names = rownames(pred))
  out$probabilities <- p
  out
}
nll_temperature <- function(p, y, lower, upper = 20) {
  idx <- cbind(seq_along(y), match(y, colnames(p)))
  stats::optimize(function(t) -mean(log(pmax(rescale(p, t)[idx], 1e-300))),
                  c(lower, upper))$minimum
}

run_one <- function(task, preset, seed) {
  doms <- strsplit(task, "_to_")[[1]]
  run_dir <- file.path(out_root, sprintf("%s_%s_seed%d", task, preset, seed))
  if (file.exists(file.path(run_dir, "metrics.json")) && !force) {
    message("[skip] ", basename(run_dir))
    return(jsonlite::fromJSON(file.path(run_dir, "metrics.json")))
  }
  dir.create(run_dir, showWarnings = FALSE)
  message(sprintf("[run ] %s %s seed %d (%s)", task, preset, seed, format(Sys.time())))
  tr <- d$cells$domain == doms[1]
  tg <- d$cells$domain == doms[2]
  truth <- d$cells$label[tg]
  t0 <- proc.time()[["elapsed"]]
  model <- scnym_train(d$counts[, tr], labels = d$cells$label[tr], target = d$counts[, tg],
                       domain = d$cells$domain[tr], target_domain = d$cells$domain[tg],
                       config = scnym_config(preset), seed = seed, threads = 1, verbose = FALSE)
  train_s <- proc.time()[["elapsed"]] - t0
  saveRDS(model, model_cache(sprintf("kang_%s_%s_seed%d", task, preset, seed)))
  raw <- scnym_predict(model, d$counts[, tg], calibrated = FALSE, threads = 1)
  cal <- scnym_predict(model, d$counts[, tg], calibrated = TRUE, threads = 1)
  ev_raw <- scnym_evaluate(raw, truth)
  ev_cal <- scnym_evaluate(cal, truth)
  all_pred <- scnym_predict(model, d$counts, calibrated = TRUE, threads = 1)
  mixing <- scnym_mixing_entropy(all_pred$embedding, d$cells$domain, n_cells = 1000, k = 100,
                                 seed = 1)
  # other temperature rules, from the validation cells' uncalibrated probabilities
  val <- model$training$validation_cells
  pv <- scnym_predict(model, d$counts[, val], calibrated = FALSE, threads = 1)
  yv <- d$cells[val, "label"]
  t_floor1 <- nll_temperature(pv$probabilities, yv, lower = 1)
  ece_at <- function(t) scnym_evaluate(with_temperature(raw, t), truth)$summary$ece
  s_raw <- ev_raw$summary
  s_cal <- ev_cal$summary
  metrics <- list(
    task = task, preset = preset, seed = seed, n_target = nrow(raw),
    accuracy = s_cal$accuracy, kappa = s_cal$kappa, macro_f1 = s_cal$macro_f1,
    mean_auc = s_cal$mean_auc, ece_uncalibrated = s_raw$ece, ece_calibrated = s_cal$ece,
    oe_uncalibrated = s_raw$oe, oe_calibrated = s_cal$oe,
    mean_conf_uncalibrated = s_raw$mean_confidence, mean_conf_calibrated = s_cal$mean_confidence,
    temperature = model$temperature, val_accuracy = mean(pv$label == yv),
    val_mean_conf = mean(pv$confidence),
    temperature_floor1 = t_floor1, ece_floor1 = ece_at(t_floor1),
    entropy_of_mixing = mixing, best_epoch = model$best_epoch,
    epochs_run = nrow(model$history), train_seconds = train_s,
    n_pruned = sum(is.na(cal$pruned_label))
  )
  write_json(c(metrics, list(info = run_info())), file.path(run_dir, "metrics.json"))
  pt <- data.frame(cell_id = rownames(cal), truth = truth, label = cal$label,
                   confidence = round(cal$confidence, 6),
                   confidence_uncalibrated = round(raw$confidence, 6))
  gz <- gzfile(file.path(run_dir, "predictions.tsv.gz"), "w")
  utils::write.table(pt, gz, sep = "\t", quote = FALSE, row.names = FALSE)
  close(gz)
  write_tsv(ev_cal$per_class, file.path(run_dir, "per_class.tsv"))
  write_tsv(rbind(cbind(setting = "uncalibrated", ev_raw$calibration),
                  cbind(setting = "calibrated", ev_cal$calibration)),
            file.path(run_dir, "calibration_curve.tsv"))

  if (preset == "default" && seed %in% ig_seeds) {
    t1 <- proc.time()[["elapsed"]]
    ex <- scnym_explain(model, d$counts[, tg], group = cal$label, n_cells = 300, steps = 100,
                        seed = seed, threads = 1)
    ig_s <- proc.time()[["elapsed"]] - t1
    top <- ex[ex$rank <= 30, ]
    write_tsv(cbind(task = task, seed = seed, top), file.path(run_dir, "ig_top30.tsv"))
    mk <- do.call(rbind, lapply(names(markers), function(k) {
      s <- ex[ex$class == k, ]
      data.frame(task = task, seed = seed, class = k, marker = markers[[k]],
                 rank = s$rank[match(markers[[k]], s$gene)], n_cells = s$n_cells[1],
                 n_genes = nrow(s))
    }))
    write_tsv(mk, file.path(run_dir, "ig_markers.tsv"))
    write_json(list(ig_seconds = ig_s, n_cells = sum(tapply(ex$n_cells, ex$class, `[`, 1))),
               file.path(run_dir, "ig_timing.json"))
  }
  metrics
}

rows <- list()
for (task in tasks) for (seed in seeds) for (preset in presets) {
  m <- run_one(task, preset, seed)
  rows[[length(rows) + 1]] <- as.data.frame(m[setdiff(names(m), "info")])
}
runs <- do.call(rbind, rows)
write_tsv(runs, file.path(out_root, "runs.tsv"))

# ---- summaries ---------------------------------------------------------------------------------
ref_rows <- list()
for (task in tasks) for (seed in seeds) {
  ref <- reference_predictions(paste0("kang_", task), seed)
  if (is.null(ref)) next
  e <- scnym_evaluate(ref, d$cells[rownames(ref), "label"])$summary
  ref_rows[[length(ref_rows) + 1]] <- data.frame(task = task, seed = seed, accuracy = e$accuracy,
                                                 macro_f1 = e$macro_f1, ece = e$ece, oe = e$oe)
}
refs <- if (length(ref_rows)) do.call(rbind, ref_rows) else NULL
if (!is.null(refs)) write_tsv(refs, file.path(out_root, "reference.tsv"))

f3 <- function(x) formatC(x, format = "f", digits = 3)
ms <- function(x) sprintf("%s ± %s", f3(mean(x)), f3(if (length(x) > 1) stats::sd(x) else NA))
lines <- c("# Kang PBMC: calibration, ablation and explanations (bench/trust/kang.R)", "",
           sprintf("Generated %s; threads = 1; seeds %s.", format(Sys.time(), tz = "UTC", usetz = TRUE),
                   paste(seeds, collapse = ", ")), "",
           "## Ablation (target cells, calibrated predictions; mean ± sd over seeds)", "",
           "| task | model | n | accuracy | macro-F1 | kappa | ECE | entropy of mixing | epochs (mean) | train s (mean) |",
           "|---|---|---|---|---|---|---|---|---|---|")
for (task in tasks) for (preset in presets) {
  r <- runs[runs$task == task & runs$preset == preset, ]
  if (!nrow(r)) next
  lines <- c(lines, sprintf("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |", task,
                            c(default = "scNym (full)", no_ssl = "no_ssl", no_dan = "no_dan")[[preset]],
                            nrow(r), ms(r$accuracy), ms(r$macro_f1), ms(r$kappa),
                            ms(r$ece_calibrated), ms(r$entropy_of_mixing),
                            sprintf("%.0f", mean(r$epochs_run)),
                            sprintf("%.0f", mean(r$train_seconds))))
}
if (!is.null(refs)) {
  lines <- c(lines, "", "Reference scNym (bench/results/reference, same tasks and seeds):", "",
             "| task | n | accuracy | macro-F1 | ECE |", "|---|---|---|---|---|")
  for (task in unique(refs$task)) {
    r <- refs[refs$task == task, ]
    lines <- c(lines, sprintf("| %s | %d | %s | %s | %s |", task, nrow(r), ms(r$accuracy),
                              ms(r$macro_f1), ms(r$ece)))
  }
}
full <- runs[runs$preset == "default", ]
cal_tab <- full[, c("task", "seed", "temperature", "val_accuracy", "val_mean_conf",
                    "ece_uncalibrated", "ece_calibrated", "temperature_floor1", "ece_floor1",
                    "mean_conf_uncalibrated", "mean_conf_calibrated", "accuracy")]
if (!is.null(refs)) {
  cal_tab$ece_reference <- refs$ece[match(paste(cal_tab$task, cal_tab$seed),
                                          paste(refs$task, refs$seed))]
}
write_tsv(cal_tab, file.path(out_root, "calibration.tsv"))
lines <- c(lines, "", "## Calibration of the full model on the target cells", "",
           "ECE before (T = 1) and after temperature scaling (T fitted by the engine on the held-out",
           "training-domain cells), next to the reference scNym's ECE on the same task and seed, and",
           "the ECE with the temperature fitted on the same cells but kept >= 1 (never sharpening).", "",
           "| task | seed | T (engine) | val acc / conf | target acc / conf before | ECE before | ECE after | ECE reference | T >= 1 | ECE with T >= 1 |",
           "|---|---|---|---|---|---|---|---|---|---|")
for (i in seq_len(nrow(cal_tab))) {
  r <- cal_tab[i, ]
  lines <- c(lines, sprintf("| %s | %d | %s | %s / %s | %s / %s | %s | %s | %s | %s | %s |", r$task,
                            r$seed, f3(r$temperature), f3(r$val_accuracy), f3(r$val_mean_conf),
                            f3(r$accuracy), f3(r$mean_conf_uncalibrated), f3(r$ece_uncalibrated),
                            f3(r$ece_calibrated),
                            if (is.null(r$ece_reference)) "NA" else f3(r$ece_reference),
                            f3(r$temperature_floor1), f3(r$ece_floor1)))
}
mk_files <- Sys.glob(file.path(out_root, "*_default_seed*", "ig_markers.tsv"))
if (length(mk_files)) {
  mk <- do.call(rbind, lapply(mk_files, utils::read.delim, stringsAsFactors = FALSE))
  write_tsv(mk, file.path(out_root, "ig_markers.tsv"))
  top <- do.call(rbind, lapply(Sys.glob(file.path(out_root, "*_default_seed*", "ig_top30.tsv")),
                               utils::read.delim, stringsAsFactors = FALSE))
  write_tsv(top, file.path(out_root, "ig_top30.tsv"))
  lines <- c(lines, "", "## Integrated gradients: rank of known markers in their class (full model)", "",
             "Per predicted class, up to 300 target cells, 100 steps; rank 1 = largest mean attribution",
             "among all model genes. Pass: at least one marker of the class in its top 30.", "",
             "| task | seed | class | cells | marker ranks | top 30 |", "|---|---|---|---|---|---|")
  for (key in unique(paste(mk$task, mk$seed, mk$class, sep = "\r"))) {
    r <- mk[paste(mk$task, mk$seed, mk$class, sep = "\r") == key, ]
    ranks <- paste(sprintf("%s %s", r$marker, ifelse(is.na(r$rank), "absent", r$rank)), collapse = ", ")
    lines <- c(lines, sprintf("| %s | %d | %s | %d | %s | %s |", r$task[1], r$seed[1], r$class[1],
                              r$n_cells[1], ranks, if (any(r$rank <= 30, na.rm = TRUE)) "yes" else "**no**"))
  }
}
writeLines(lines, file.path(out_root, "summary.md"))
message("wrote ", file.path(out_root, "summary.md"))
