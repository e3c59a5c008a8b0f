#!/usr/bin/env Rscript
# Summary of the accuracy benchmark: reads every cached prediction
# (bench/results/accuracy/predictions/<method>/<task>__seed<k>.csv.gz) and writes, to
# bench/results/accuracy/:
#   summary.csv       one row per task x method (mean and sd over seeds): accuracy and macro-F1
#                     over the query cells whose true type is in the reference, the share of those
#                     cells the method flags, and for the CellBench tasks the unseen-type metrics
#   per_class.csv     recall per task x method x class for classes with < 30 reference cells
#   table.md          accuracy and macro-F1 (one row per task, a column per method, best in bold,
#                     an "all tasks mean" row), rare-class recall, unseen types, failures
#   README-table.md   a compact table for the package README
#   accuracy.png      tasks x methods (accuracy and macro-F1)
#
# Metrics: accuracy = share of known query cells whose predicted label is the truth (a flagged
# cell still counts with its predicted label); macro-F1 as sklearn's average = "macro" over the
# classes present in the truth or the predictions of those cells (as bench/kang/run.R).
# CellBench (A549 and H838 absent from the reference): AUROC of `score` with known cells as the
# positives (higher score = more "known"; ties count one half), the share of unseen cells
# flagged, and the share of known cells labelled correctly and not flagged.
#
# Usage: Rscript bench/accuracy/summarise.R [--methods scnym,scnym_x] (scnym labels to show;
#        default: every cached scnym* label) [--peers singler,seurat,...] (default: all cached)
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
suppressPackageStartupMessages(library(ggplot2))

args <- commandArgs(trailingOnly = TRUE)
here <- accuracy_root()
res_dir <- file.path(here, "bench", "results", "accuracy")
pred_dir <- file.path(res_dir, "predictions")
peer_order <- c("seurat", "singler", "celltypist", "logreg", "svm", "scanvi")
peer_names <- c(seurat = "Seurat", singler = "SingleR", celltypist = "CellTypist",
                logreg = "LogReg", svm = "LinearSVM", scanvi = "scANVI")
cached <- basename(list.dirs(pred_dir, recursive = FALSE))
scnym_methods <- parse_list_opt(args, "methods", paste(sort(grep("^scnym", cached, value = TRUE)),
                                                       collapse = ","))
peers <- parse_list_opt(args, "peers", paste(intersect(peer_order, cached), collapse = ","))
methods <- c(scnym_methods, peers)
all_tasks <- names(accuracy_tasks())
display <- function(m) ifelse(m %in% names(peer_names), peer_names[m], m)

ref_labels <- lapply(stats::setNames(all_tasks, all_tasks), task_reference_labels)
runs <- list()
rare <- list()
for (m in methods) {
  files <- Sys.glob(file.path(pred_dir, m, "*__seed*.csv.gz"))
  for (f in files) {
    task <- sub("__seed[0-9]+\\.csv\\.gz$", "", basename(f))
    if (!task %in% all_tasks) next
    seed <- as.integer(sub("^.*__seed([0-9]+)\\.csv\\.gz$", "\\1", basename(f)))
    p <- utils::read.csv(f, stringsAsFactors = FALSE, na.strings = c("NA", ""))
    p$flagged <- as.logical(p$flagged)
    ref_n <- table(ref_labels[[task]])
    known <- p$truth %in% names(ref_n)
    correct <- !is.na(p$predicted) & p$predicted == p$truth
    row <- data.frame(method = m, task = task, seed = seed, n_query = nrow(p),
                      n_known = sum(known), accuracy = mean(correct[known]),
                      macro_f1 = macro_f1(p$truth[known], p$predicted[known]),
                      known_flagged = mean(p$flagged[known]),
                      auroc_unseen = NA_real_, unseen_flagged = NA_real_,
                      known_correct_unflagged = NA_real_)
    if (isTRUE(accuracy_tasks()[[task]]$unseen)) {
      row$auroc_unseen <- auroc(p$score[known], p$score[!known])
      row$unseen_flagged <- mean(p$flagged[!known])
      row$known_correct_unflagged <- mean(correct[known] & !p$flagged[known])
    }
    runs[[length(runs) + 1L]] <- row
    small <- names(ref_n)[ref_n < 30]
    for (k in intersect(small, unique(p$truth))) {
      rare[[length(rare) + 1L]] <- data.frame(method = m, task = task, seed = seed, class = k,
                                              n_reference = as.integer(ref_n[[k]]),
                                              n_query = sum(p$truth == k),
                                              recall = mean(correct[p$truth == k]))
    }
  }
}
if (!length(runs)) stop("no cached predictions under ", pred_dir)
runs <- do.call(rbind, runs)
rare <- do.call(rbind, rare)

metric_cols <- c("accuracy", "macro_f1", "known_flagged", "auroc_unseen", "unseen_flagged",
                 "known_correct_unflagged")
summary <- do.call(rbind, lapply(split(runs, list(runs$method, runs$task), drop = TRUE),
                                 function(d) {
  out <- data.frame(task = d$task[[1]], method = d$method[[1]], n_seeds = nrow(d),
                    n_query = d$n_query[[1]], n_known = d$n_known[[1]])
  for (col in metric_cols) {
    out[[col]] <- mean(d[[col]])
    out[[paste0(col, "_sd")]] <- if (nrow(d) > 1) stats::sd(d[[col]]) else NA_real_
  }
  out
}))
summary <- summary[order(match(summary$task, all_tasks), match(summary$method, methods)), ]
rownames(summary) <- NULL
utils::write.csv(summary, file.path(res_dir, "summary.csv"), row.names = FALSE)
per_class <- do.call(rbind, lapply(split(rare, list(rare$method, rare$task, rare$class),
                                         drop = TRUE), function(d) {
  data.frame(task = d$task[[1]], class = d$class[[1]], method = d$method[[1]],
             n_reference = d$n_reference[[1]], n_query = d$n_query[[1]], n_seeds = nrow(d),
             recall = mean(d$recall))
}))
per_class <- per_class[order(match(per_class$task, all_tasks), per_class$class,
                             match(per_class$method, methods)), ]
utils::write.csv(per_class, file.path(res_dir, "per_class.csv"), row.names = FALSE)

# Failures recorded by the peers (no prediction file was written for them).
failures <- do.call(rbind, lapply(methods, function(m) {
  fs <- Sys.glob(file.path(res_dir, "failures", m, "*.txt"))
  if (!length(fs)) return(NULL)
  data.frame(method = m, file = sub("\\.txt$", "", basename(fs)),
             reason = vapply(fs, function(f) paste(readLines(f), collapse = " "), ""))
}))

f3 <- function(x) ifelse(is.na(x), "NA", formatC(x, format = "f", digits = 3))
# A markdown table of one metric: rows, a column per method, the row's best in bold.
wide <- function(d, rows, row_col, metric, higher = TRUE) {
  mat <- matrix(NA_real_, length(rows), length(methods), dimnames = list(rows, methods))
  for (i in seq_len(nrow(d))) {
    if (d$method[[i]] %in% methods) mat[d[[row_col]][[i]], d$method[[i]]] <- d[[metric]][[i]]
  }
  mat
}
md_table <- function(mat, first = "task", bold = TRUE, extra = NULL) {
  head <- paste0("| ", first, " | ", paste(display(colnames(mat)), collapse = " | "), " |")
  sep <- paste0("|", paste(rep("---", ncol(mat) + 1), collapse = "|"), "|")
  body <- vapply(seq_len(nrow(mat)), function(i) {
    v <- mat[i, ]
    cells <- f3(v)
    if (bold && any(!is.na(v))) {
      best <- !is.na(v) & abs(v - max(v, na.rm = TRUE)) < 5e-4
      cells[best] <- paste0("**", cells[best], "**")
    }
    paste0("| ", rownames(mat)[[i]], " | ", paste(cells, collapse = " | "), " |")
  }, "")
  c(head, sep, body, extra)
}
mean_row <- function(mat, name) {
  n <- colSums(!is.na(mat))
  v <- colMeans(mat, na.rm = TRUE)
  cells <- ifelse(n == nrow(mat), paste0("**", f3(v), "**"), paste0(f3(v), " (", n, "/",
                                                                    nrow(mat), " tasks)"))
  complete <- n == nrow(mat)
  if (any(complete)) {
    best <- complete & abs(v - max(v[complete])) < 5e-4
    cells <- ifelse(complete & !best, f3(v), cells)
  }
  paste0("| ", name, " | ", paste(cells, collapse = " | "), " |")
}

tasks_present <- all_tasks[all_tasks %in% summary$task]
acc <- wide(summary, tasks_present, "task", "accuracy")
f1 <- wide(summary, tasks_present, "task", "macro_f1")
seeds_of <- vapply(methods, function(m) {
  s <- sort(unique(runs$seed[runs$method == m]))
  paste(s, collapse = ",")
}, "")
uneven <- vapply(methods, function(m) {
  n <- summary$n_seeds[summary$method == m]
  if (length(unique(n)) > 1) sprintf("%s: %d to %d seeds per task", display(m), min(n), max(n))
  else ""
}, "")
uneven_note <- if (any(nzchar(uneven))) {
  paste0("Runs still missing: ", paste(uneven[nzchar(uneven)], collapse = "; "),
         " (`n_seeds` in summary.csv).")
} else character()
md <- c("# Accuracy benchmark: scnym next to its peers",
        "",
        sprintf("Generated by `bench/accuracy/summarise.R` on %s from the cached predictions in",
                format(Sys.time(), "%Y-%m-%d %H:%M")),
        "`bench/results/accuracy/predictions/`. Tasks and peers: `bench/accuracy/README.md`.",
        paste0("Seeds: ", paste(sprintf("%s %s", display(methods), seeds_of), collapse = "; "),
               " (deterministic peers run once). Values are means over seeds; standard",
               " deviations are in `summary.csv`."),
        uneven_note,
        "",
        "## Accuracy (query cells whose type is in the reference)",
        "", md_table(acc, extra = mean_row(acc, "**all tasks mean**")), "",
        "## Macro-F1 (same cells; classes in truth or predictions)",
        "", md_table(f1, extra = mean_row(f1, "**all tasks mean**")), "")
if (!is.null(rare) && nrow(per_class)) {
  key <- paste(per_class$task, per_class$class, sep = " / ")
  lab <- unique(data.frame(key = key, task = per_class$task, class = per_class$class,
                           nr = per_class$n_reference, nq = per_class$n_query))
  lab$row <- sprintf("%s / %s (%d ref, %d query)", lab$task, lab$class, lab$nr, lab$nq)
  per_class$row <- lab$row[match(key, lab$key)]
  rec <- wide(per_class, lab$row, "row", "recall")
  md <- c(md, "## Recall of rare classes (< 30 reference cells)", "",
          md_table(rec, first = "task / class"), "")
}
unseen <- summary[!is.na(summary$auroc_unseen), ]
if (nrow(unseen)) {
  rows <- character()
  mats <- list()
  for (task in unique(unseen$task)) {
    d <- unseen[unseen$task == task, ]
    for (metric in c("auroc_unseen", "unseen_flagged", "known_correct_unflagged")) {
      nm <- sprintf("%s: %s", task, c(auroc_unseen = "AUROC known vs unseen",
                                      unseen_flagged = "unseen flagged",
                                      known_correct_unflagged = "known correct, not flagged")[[metric]])
      d$row <- nm
      mats[[nm]] <- wide(d, nm, "row", metric)
    }
  }
  md <- c(md, "## Unseen cell types (CellBench: A549 and H838 absent from the reference)", "",
          paste("AUROC of each method's own score (higher = known); flagged = the method's own",
                "unassigned call (rules in README.md)."), "",
          md_table(do.call(rbind, mats), first = "task: metric"), "")
}
if (!is.null(failures) && nrow(failures)) {
  md <- c(md, "## Failures (no predictions)", "",
          sprintf("- %s, %s: %s", display(failures$method), failures$file, failures$reason), "")
}
writeLines(md, file.path(res_dir, "table.md"))

multi_seed <- sprintf("%s seeds %s", display(methods), seeds_of)[grepl(",", seeds_of)]
seeds_note <- if (length(multi_seed)) paste0(" (", paste(multi_seed, collapse = "; "), ")") else ""

# Compact README table: one row per method, task groups as columns.
groups <- list("Kang (2)" = grep("^kang_", all_tasks, value = TRUE),
               "panc8 leave-one-out (5)" = grep("^panc8_loto_", all_tasks, value = TRUE),
               "panc8 one-tech reference (5)" = grep("^panc8_single_", all_tasks, value = TRUE),
               "CellBench known (2)" = grep("^cellbench_", all_tasks, value = TRUE))
group_mean <- function(m, tasks, col) {
  v <- summary[[col]][summary$method == m & summary$task %in% tasks]
  if (length(v) < length(tasks)) return(NA_real_)
  mean(v)
}
compact <- data.frame(method = display(methods))
for (g in names(groups)) {
  compact[[g]] <- vapply(methods, function(m) {
    a <- group_mean(m, groups[[g]], "accuracy")
    b <- group_mean(m, groups[[g]], "macro_f1")
    if (is.na(a)) "NA" else sprintf("%s / %s", f3(a), f3(b))
  }, "")
}
compact[["unseen AUROC (2)"]] <- vapply(methods, function(m) {
  f3(group_mean(m, groups[["CellBench known (2)"]], "auroc_unseen"))
}, "")
compact[["unseen flagged (2)"]] <- vapply(methods, function(m) {
  f3(group_mean(m, groups[["CellBench known (2)"]], "unseen_flagged"))
}, "")
compact[["all 14 tasks"]] <- vapply(methods, function(m) {
  a <- group_mean(m, all_tasks, "accuracy")
  b <- group_mean(m, all_tasks, "macro_f1")
  if (is.na(a)) "NA" else sprintf("%s / %s", f3(a), f3(b))
}, "")
readme <- c(paste("| method |", paste(names(compact)[-1], collapse = " | "), "|"),
            paste0("|", paste(rep("---", ncol(compact)), collapse = "|"), "|"),
            apply(compact, 1, function(r) paste0("| ", paste(r, collapse = " | "), " |")),
            "",
            paste("Accuracy / macro-F1 on the query cells whose type is in the reference, mean",
                  paste0("over the tasks of each group and over the cached seeds", seeds_note,
                         ";"),
                  "unseen: CellBench with A549 and H838 absent from the reference, AUROC of the",
                  "method's own score (known vs unseen; scnym: the novelty, for the other",
                  "methods their confidence) and the share of unseen cells the",
                  "method leaves unassigned. Details: bench/results/accuracy/table.md."))
writeLines(readme, file.path(res_dir, "README-table.md"))
# The package README shows the same table between two markers.
readme_path <- file.path(here, "README.md")
if (file.exists(readme_path)) {
  lines <- readLines(readme_path)
  begin <- grep("<!-- accuracy-table:begin", lines, fixed = TRUE)
  end <- grep("<!-- accuracy-table:end", lines, fixed = TRUE)
  if (length(begin) == 1L && length(end) == 1L && begin < end) {
    writeLines(c(lines[seq_len(begin)], readme, lines[end:length(lines)]), readme_path)
  }
}

# Plot: tasks x methods, accuracy and macro-F1.
long <- rbind(data.frame(task = summary$task, method = summary$method, metric = "accuracy",
                         value = summary$accuracy),
              data.frame(task = summary$task, method = summary$method, metric = "macro-F1",
                         value = summary$macro_f1))
long$task <- factor(long$task, levels = rev(tasks_present))
long$method <- factor(display(long$method), levels = display(methods))
plot <- ggplot(long, aes(x = method, y = task, fill = value)) +
  geom_tile(colour = "white") +
  geom_text(aes(label = formatC(value, format = "f", digits = 2)), size = 2.6) +
  facet_wrap(~metric) +
  scale_fill_gradient(low = "#f7fbff", high = "#2171b5", limits = c(min(0.5, long$value,
                                                                        na.rm = TRUE), 1),
                      name = NULL) +
  labs(x = NULL, y = NULL, title = "Label transfer: query cells of reference types",
       subtitle = paste0("mean over seeds", seeds_note, "; other methods one run")) +
  theme_minimal(base_size = 9) +
  theme(axis.text.x = element_text(angle = 45, hjust = 1), panel.grid = element_blank())
ggsave(file.path(res_dir, "accuracy.png"), plot, width = 2.2 + 0.75 * length(methods) * 2,
       height = 1 + 0.3 * length(tasks_present), dpi = 120, bg = "white")
message("wrote summary.csv, per_class.csv, table.md, README-table.md, accuracy.png in ", res_dir)
