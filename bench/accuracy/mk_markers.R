#!/usr/bin/env Rscript
# What the Kang "Mk" cells are, and which of them each method labels Mk: the counts of ten
# platelet/megakaryocyte markers in the cells labelled Mk and in all others, per side of
# kang_ctrl_to_stim, then, from the cached predictions (bench/results/accuracy/predictions/),
# each method's calls for the query's Mk cells split by whether they carry >= 3 marker counts.
#   Rscript bench/accuracy/mk_markers.R > bench/results/accuracy/mk_markers.txt
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
x <- load_task("kang_ctrl_to_stim")
markers <- intersect(c("PPBP", "PF4", "GNG11", "SPARC", "TUBB1", "GP9", "ITGA2B", "CLU", "SDPR",
                       "NRGN"), rownames(x$query_counts))
cat("kang_ctrl_to_stim; markers:", paste(markers, collapse = ", "), "\n\n")
marker_counts <- function(m) Matrix::colSums(m[markers, , drop = FALSE])
side <- function(name, m, labels) {
  mc <- marker_counts(m)
  mk <- labels == "Mk"
  cat(sprintf(paste("%s: %d Mk cells, %d with >= 1 marker count, %d with >= 3 (median %g);",
                    "other cells with >= 3: %d of %d (%s)\n"),
              name, sum(mk), sum(mc[mk] >= 1), sum(mc[mk] >= 3), stats::median(mc[mk]),
              sum(mc[!mk] >= 3), sum(!mk),
              paste(names(table(labels[!mk & mc >= 3])), table(labels[!mk & mc >= 3]),
                    sep = " ", collapse = ", ")))
  invisible(mc)
}
side("reference", x$ref_counts, x$ref_labels)
mc <- side("query", x$query_counts, x$query_labels)

positive <- x$query_cells[x$query_labels == "Mk" & mc >= 3]
negative <- x$query_cells[x$query_labels == "Mk" & mc < 3]
cat(sprintf(paste("\nRecall of the query's Mk cells per method (mean over cached seeds): all %d,",
                  "the %d with >= 3 marker counts, the %d without; the labels most often given",
                  "instead\n\n"), length(positive) + length(negative), length(positive),
            length(negative)))
root <- file.path(accuracy_root(), "bench", "results", "accuracy", "predictions")
for (method in sort(list.files(root))) {
  files <- Sys.glob(file.path(root, method, "kang_ctrl_to_stim__seed*.csv.gz"))
  if (!length(files)) next
  p <- do.call(rbind, lapply(files, utils::read.csv, stringsAsFactors = FALSE))
  recall <- function(cells) mean(p$predicted[p$cell %in% cells] %in% "Mk")
  wrong <- sort(table(p$predicted[p$cell %in% positive & !p$predicted %in% "Mk"]),
                decreasing = TRUE)
  cat(sprintf("%-45s all %.3f | markers %.3f | none %.3f | instead: %s\n", method,
              recall(c(positive, negative)), recall(positive), recall(negative),
              paste(utils::head(names(wrong), 3), collapse = ", ")))
}
