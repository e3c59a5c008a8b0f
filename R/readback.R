# Reading an annotated container back: per-cell metadata, reductions, and the prediction table
# that scnym_annotate() wrote (for scnym_discover() and the plots). Internal S3 generics with a
# method per container (Seurat v4/v5, SingleCellExperiment); run records are read by
# read_records() in the file of the run record.

# The per-cell metadata of `x` as a data.frame (`meta.data` for Seurat, `colData` otherwise).
read_cell_metadata <- function(x) {
  UseMethod("read_cell_metadata")
}

read_cell_metadata.Seurat <- function(x) {
  x[[]]
}

read_cell_metadata.SummarizedExperiment <- function(x) {
  as.data.frame(SummarizedExperiment::colData(x))
}

# The names of the reductions of `x`.
reduction_names <- function(x) {
  UseMethod("reduction_names")
}

reduction_names.Seurat <- function(x) {
  SeuratObject::Reductions(x)
}

reduction_names.SingleCellExperiment <- function(x) {
  SingleCellExperiment::reducedDimNames(x)
}

# The reduction `name` of `x` (cells x dimensions, row names: cells), or NULL when absent.
read_reduction <- function(x, name) {
  if (!name %in% reduction_names(x)) return(NULL)
  reduction_values(x, name)
}

reduction_values <- function(x, name) {
  UseMethod("reduction_values")
}

reduction_values.Seurat <- function(x, name) {
  SeuratObject::Embeddings(x, reduction = name)
}

reduction_values.SingleCellExperiment <- function(x, name) {
  emb <- SingleCellExperiment::reducedDim(x, name)
  if (is.null(rownames(emb))) rownames(emb) <- colnames(x)
  emb
}

# The prediction table scnym_annotate() wrote into `x` under `key_added`, as a DataFrame like
# scnym_predict() returns (columns `label`, `confidence`, and when present `pruned_label`,
# `novelty` and `embedding`; in metadata() the run's model summary and settings). Errors when
# the columns, or the embedding when `embedding = TRUE`, are missing.
read_predictions <- function(x, key_added, embedding = TRUE, call = rlang::caller_env()) {
  md <- read_cell_metadata(x)
  conf_col <- paste0(key_added, "_confidence")
  reduction <- tolower(key_added)
  emb <- read_reduction(x, reduction)
  if (!all(c(key_added, conf_col) %in% names(md)) || (embedding && is.null(emb))) {
    scnym_abort(c("{.arg x} has no scNym predictions to read.",
                  x = paste("Expected metadata columns {.field {key_added}} and",
                            "{.field {conf_col}} and the {.val {reduction}} embedding."),
                  i = "Run {.fn scnym_annotate} first, or pass {.arg model}."),
                kind = "invalid_argument", call = call)
  }
  cells <- colnames(x)
  pred <- S4Vectors::DataFrame(label = as.character(md[[key_added]]),
                               confidence = as.numeric(md[[conf_col]]), row.names = cells)
  pruned_col <- paste0(key_added, "_pruned")
  if (pruned_col %in% names(md)) pred$pruned_label <- as.character(md[[pruned_col]])
  novelty_col <- paste0(key_added, "_novelty")
  if (novelty_col %in% names(md)) pred$novelty <- as.numeric(md[[novelty_col]])
  if (!is.null(emb)) pred$embedding <- as.matrix(emb)[cells, , drop = FALSE]
  record <- read_records(x, "scnym_annotate")[[key_added]]
  if (!is.null(record)) {
    S4Vectors::metadata(pred) <- record[c("model", "missing_genes", "calibrated", "prune_below",
                                          "novelty_above")]
  }
  pred
}
