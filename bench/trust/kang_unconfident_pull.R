#!/usr/bin/env Rscript
# What the unconfident pull (config unconfident_weight) costs when the target holds no new cell
# type: Kang PBMC, both directions, preset new_identity_discovery with unconfident_weight 0 (the
# preset as it is) and 1, seeds 0, 1, 2, threads = 1. Reported: accuracy, macro-F1, ECE and the
# share of cells at confidence <= 0.5 (calibrated predictions, the default of scnym_predict).
# Truth is used only to score. Output: bench/results/trust/kang_unconfident_pull/.
#
# Usage: Rscript bench/trust/kang_unconfident_pull.R [--seeds 0,1,2]   (FORCE=1 reruns)
this_file <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE)[1])
source(file.path(dirname(this_file), "common.R"))

seeds <- as.integer(strsplit(trust_opt("seeds", "0,1,2"), ",")[[1]])
out_root <- file.path(trust_repo(), "bench", "results", "trust", "kang_unconfident_pull")
dir.create(out_root, recursive = TRUE, showWarnings = FALSE)
runs_file <- file.path(out_root, "runs.tsv")

if (!file.exists(runs_file) || identical(Sys.getenv("FORCE"), "1")) {
  d <- load_kang()
  rows <- list()
  for (direction in c("ctrl_to_stim", "stim_to_ctrl")) {
    source_domain <- if (direction == "ctrl_to_stim") "ctrl" else "stim"
    tr <- d$cells$domain == source_domain
    tg <- !tr
    for (weight in c(0, 1)) for (seed in seeds) {
      message(sprintf("[run ] %s weight %g seed %d", direction, weight, seed))
      t0 <- proc.time()[["elapsed"]]
      model <- scnym_train(d$counts[, tr], labels = d$cells$label[tr], target = d$counts[, tg],
                           domain = d$cells$domain[tr], target_domain = d$cells$domain[tg],
                           config = scnym_config("new_identity_discovery",
                                                 unconfident_weight = weight),
                           seed = seed, threads = 1, verbose = FALSE)
      train_s <- proc.time()[["elapsed"]] - t0
      pred <- scnym_predict(model, d$counts[, tg], threads = 1)
      s <- scnym_evaluate(pred, d$cells$label[tg])$summary
      rows[[length(rows) + 1]] <- data.frame(
        direction = direction, unconfident_weight = weight, seed = seed, accuracy = s$accuracy,
        macro_f1 = s$macro_f1, ece = s$ece, conf_le_0.5 = mean(pred$confidence <= 0.5),
        mean_confidence = mean(pred$confidence), train_seconds = train_s)
    }
  }
  write_tsv(do.call(rbind, rows), runs_file)
  write_json(run_info(), file.path(out_root, "info.json"))
}

runs <- utils::read.delim(runs_file)
f3 <- function(x) formatC(x, format = "f", digits = 3)
agg <- function(v) sprintf("%s (%s-%s)", f3(stats::median(v)), f3(min(v)), f3(max(v)))
lines <- c("# Kang PBMC with new_identity_discovery: the unconfident pull (bench/trust/kang_unconfident_pull.R)",
           "", sprintf("Generated %s. No cell type is new in the target. Medians (min-max) over seeds %s.",
                       format(Sys.time(), tz = "UTC", usetz = TRUE),
                       paste(sort(unique(runs$seed)), collapse = ", ")), "",
           "| direction | unconfident_weight | accuracy | macro-F1 | ECE | confidence <= 0.5 |",
           "|---|---|---|---|---|---|")
for (key in unique(paste(runs$direction, runs$unconfident_weight))) {
  r <- runs[paste(runs$direction, runs$unconfident_weight) == key, ]
  lines <- c(lines, sprintf("| %s | %g | %s | %s | %s | %s |", r$direction[1],
                            r$unconfident_weight[1], agg(r$accuracy), agg(r$macro_f1), agg(r$ece),
                            agg(r$conf_le_0.5)))
}
writeLines(lines, file.path(out_root, "summary.md"))
message("wrote ", file.path(out_root, "summary.md"))
