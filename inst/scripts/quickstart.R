# scnym quick start: annotate a simulated query from a labelled reference across a domain shift.
#
#   Rscript inst/scripts/quickstart.R [output directory]
#
# Simulates a reference and a query (cell types with marker genes; the query has a batch effect,
# an induced response programme and lower depth), runs scnym_annotate() on SingleCellExperiment
# objects (Seurat objects work the same way), prints the accuracy against the simulated truth
# and a table of labels, and writes the results to the output directory (default:
# tools::R_user_dir("scnym", "cache")/quickstart).
suppressPackageStartupMessages(library(scnym))

args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args)) {
  args[[1]]
} else {
  file.path(tools::R_user_dir("scnym", "cache"), "quickstart")
}
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
use_sce <- requireNamespace("SingleCellExperiment", quietly = TRUE)
format <- if (use_sce) "SingleCellExperiment" else "Seurat"

cat("scnym", as.character(utils::packageVersion("scnym")), "- quick start\n")
sim <- scnym_simulate(n_reference = 1000, n_query = 1000, output = format, seed = 1)
reference <- sim$reference
query <- sim$query
cat(sprintf("Simulated a reference of %d cells and a shifted query of %d cells (%s objects).\n\n",
            ncol(reference), ncol(query), format))

started <- Sys.time()
set.seed(42)
query <- scnym_annotate(query, reference, labels = "cell_type", threads = 1)
seconds <- as.numeric(difftime(Sys.time(), started, units = "secs"))

truth <- query$cell_type
predicted <- query$scNym
cat(sprintf("\nAccuracy on the query: %.3f (%d of %d cells) in %.1f s\n", mean(predicted == truth),
            sum(predicted == truth), length(truth), seconds))
n_pruned <- sum(is.na(query$scNym_pruned))
cat(sprintf("Mean confidence %.3f; %d cell%s unassigned (pruned label NA: novel or ambiguous)\n\n",
            mean(query$scNym_confidence), n_pruned, if (n_pruned == 1) "" else "s"))
cat("Predicted (rows) vs simulated truth (columns):\n")
print(table(predicted = predicted, truth = truth))

pred_file <- file.path(out_dir, "query_predictions.tsv")
utils::write.table(data.frame(cell = colnames(query), truth = unname(truth),
                              scNym = unname(predicted),
                              scNym_confidence = unname(query$scNym_confidence),
                              scNym_novelty = unname(query$scNym_novelty),
                              scNym_pruned = unname(query$scNym_pruned)),
                   pred_file, sep = "\t", quote = FALSE, row.names = FALSE)
obj_file <- file.path(out_dir, "query_annotated.rds")
saveRDS(query, obj_file)
cat("\nResults written:\n")
if (use_sce) {
  cat("  in the object: colData(query)$scNym, $scNym_confidence, $scNym_novelty, $scNym_pruned;",
      "reducedDim(query, \"scnym\"); metadata(query)$scnym_annotate\n")
} else {
  cat("  in the object: query$scNym, query$scNym_confidence, query$scNym_novelty,",
      "query$scNym_pruned;",
      "query[[\"scnym\"]]; Tool(query, \"scnym_annotate\")\n")
}
cat("  ", pred_file, "\n", sep = "")
cat("  ", obj_file, " (the annotated object)\n", sep = "")
cat("\nOn your own data:\n")
cat("  seurat_query <- scnym_annotate(seurat_query, seurat_reference, labels = \"cell_type\")\n")
cat("  sce_query <- scnym_annotate(sce_query, sce_reference, labels = \"cell_type\")\n")
