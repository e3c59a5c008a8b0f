# scnym_annotate() on the Kang PBMC data (2,800 cells x 14,053 genes): how often the query is
# extracted and checked, how long that takes, how long a short annotation takes, and the results
# (to compare two versions of the package for identical output).
# The calls are counted in one annotation, its time is the median of 5 more.
# Two runs: (a) reference and query in one Seurat object (`reference = NULL`, labels NA on the
# stim cells); (b) a ctrl reference object and a stim query object. Both seeded, 1 thread, 2
# epochs; each keeps its model (`store_model = TRUE`), which then predicts the stim cells from
# their matrix with scnym_predict().
# Usage: Rscript bench/annotate/run.R LABEL      writes $SCNYM_BENCH_TMP/LABEL.rds (default
#                                                /tmp/scnym-bench-annotate) and appends a row per
#                                                run to bench/results/annotate/timing.csv
#        Rscript bench/annotate/run.R compare A B  says whether runs A and B gave identical results
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(scnym))
tmp <- Sys.getenv("SCNYM_BENCH_TMP", "/tmp/scnym-bench-annotate")
dir.create(tmp, showWarnings = FALSE, recursive = TRUE)

if (identical(args[1], "compare")) {
  a <- readRDS(file.path(tmp, paste0(args[2], ".rds")))
  b <- readRDS(file.path(tmp, paste0(args[3], ".rds")))
  for (run in names(a)) {
    for (part in names(a[[run]])) {
      same <- identical(a[[run]][[part]], b[[run]][[part]])
      cat(sprintf("%-9s %-14s %s\n", run, part, if (same) "identical" else "DIFFERENT"))
    }
  }
  quit(save = "no")
}
label <- args[1]
data_dir <- Sys.getenv("SCNYM_DATA_DIR", "../shared/data")
path <- file.path(data_dir, "kang_ifnb_seurat2800")
counts <- methods::as(Matrix::readMM(gzfile(file.path(path, "matrix.mtx.gz"))), "CsparseMatrix")
cells <- utils::read.delim(file.path(path, "cells.tsv"), stringsAsFactors = FALSE)
dimnames(counts) <- list(readLines(file.path(path, "genes.tsv")), cells$cell_id)
rownames(cells) <- cells$cell_id
stim <- cells$domain == "stim"
cells$ref_label <- ifelse(stim, NA, cells$label)
seurat_of <- function(keep) {
  suppressWarnings(SeuratObject::CreateSeuratObject(
    counts = counts[, keep], meta.data = cells[keep, ], min.cells = 0, min.features = 0))
}

# Count the calls of the internal readers while `expr` runs.
ns <- asNamespace("scnym")
calls <- new.env()
count_calls <- function(fun) {
  calls[[fun]] <- 0L
  trace(fun, where = ns, print = FALSE,
        tracer = bquote(assign(.(fun), get(.(fun), envir = .(calls)) + 1L, envir = .(calls))))
}
invisible(lapply(c("extract_input", "check_values"), count_calls))

results <- list()
timing <- NULL
run <- function(name, x, reference, labels) {
  annotate <- function() {
    scnym_annotate(x, reference, labels = labels,
                   config = scnym_config(max_epochs = 2, min_epochs = 1), seed = 0, threads = 1,
                   verbose = FALSE, store_model = TRUE)
  }
  for (fun in ls(calls)) calls[[fun]] <- 0L
  out <- annotate()
  n_calls <- as.list(calls)
  seconds <- stats::median(replicate(5, system.time(annotate())[["elapsed"]]))
  model <- SeuratObject::Tool(out, "scnym_annotate")$scNym$model_object
  pred <- scnym_predict(model, counts[, stim], threads = 1)
  md <- out[[]]
  results[[name]] <<- list(
    columns = md[, c("scNym", "scNym_confidence", "scNym_novelty", "scNym_pruned")],
    reduction = SeuratObject::Embeddings(out, "scnym"),
    label = pred$label, pruned_label = pred$pruned_label, confidence = pred$confidence,
    novelty = pred$novelty, probabilities = pred$probabilities, embedding = pred$embedding)
  timing <<- rbind(timing, data.frame(
    label = label, run = name, git_commit = Sys.getenv("SCNYM_BENCH_COMMIT", NA),
    annotate_seconds = seconds, extract_input_calls = n_calls$extract_input,
    check_values_calls = n_calls$check_values))
}
run("one_object", seurat_of(rep(TRUE, ncol(counts))), NULL, "ref_label")
run("two_objects", seurat_of(stim), seurat_of(!stim), "label")

# The work done once per extraction of the one-object query: read the layer and metadata, check
# the values (median of 5).
both <- seurat_of(rep(TRUE, ncol(counts)))
untrace("extract_input", where = ns)
untrace("check_values", where = ns)
once <- stats::median(replicate(5, system.time(
  ns$check_values(ns$extract_input(both), "auto", "x"))[["elapsed"]]))
timing$extract_check_seconds <- round(once, 3)
saveRDS(results, file.path(tmp, paste0(label, ".rds")))
out_dir <- file.path("bench", "results", "annotate")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
csv <- file.path(out_dir, "timing.csv")
utils::write.table(timing, csv, sep = ",", row.names = FALSE, append = file.exists(csv),
                   col.names = !file.exists(csv))
print(timing)
