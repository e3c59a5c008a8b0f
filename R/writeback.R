# Writing results into a container: per-cell columns, a reduction (embedding) and an assay, each
# an internal S3 generic with a method per container (Seurat v4/v5, SummarizedExperiment,
# SingleCellExperiment). scnym_annotate(), scnym_discover() and scnym_explain(store = TRUE) write
# through these only; records of runs are in R/record.R. A matrix is no container: its results
# are the returned table.

# `x` with the columns of `cols` (a data.frame with a row per cell of `x`, named by cell) as
# per-cell metadata, replacing columns of the same name: `meta.data` for Seurat, `colData`
# otherwise.
write_cell_columns <- function(x, cols) {
  UseMethod("write_cell_columns")
}

write_cell_columns.Seurat <- function(x, cols) {
  SeuratObject::AddMetaData(x, metadata = cols)
}

write_cell_columns.SummarizedExperiment <- function(x, cols) {
  cd <- SummarizedExperiment::colData(x)
  for (name in names(cols)) cd[[name]] <- cols[[name]]
  SummarizedExperiment::colData(x) <- cd
  x
}

# `x` with `emb` (cells x dimensions, column names starting with `key`) as the reduction `name`;
# `assay` is the assay it was computed from (Seurat). A SummarizedExperiment has no place for it
# and is returned unchanged.
write_reduction <- function(x, name, emb, key, assay) {
  UseMethod("write_reduction")
}

write_reduction.Seurat <- function(x, name, emb, key, assay) {
  x[[name]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = key, assay = assay)
  x
}

write_reduction.SingleCellExperiment <- function(x, name, emb, key, assay) {
  rownames(emb) <- colnames(x)
  SingleCellExperiment::reducedDim(x, name) <- emb
  x
}

write_reduction.SummarizedExperiment <- function(x, name, emb, key, assay) {
  x
}

# `x` with `values` (a genes x cells matrix over some of the cells of `x`, named by gene and
# cell) as an assay `name` over all cells, zero elsewhere: for Seurat an `Assay5` on
# SeuratObject 5 or an `Assay` on SeuratObject 4 over the genes of `values`, in its data layer;
# for a SummarizedExperiment an assay over the rows of `x` (genes outside `values` are zero).
write_assay <- function(x, name, values) {
  UseMethod("write_assay")
}

write_assay.Seurat <- function(x, name, values) {
  full <- place_sparse(values, rownames(values), input_cell_names(x))
  assay <- if (seurat_object_v5()) {
    get("CreateAssay5Object", envir = asNamespace("SeuratObject"))(data = full)
  } else {
    SeuratObject::CreateAssayObject(data = full)
  }
  SeuratObject::Key(assay) <- paste0(gsub("[^[:alnum:]]", "", name), "_")
  # SeuratObject 5.3 looks for a counts layer when an assay is added and warns when there is
  # none (its own suppressWarnings() misses it); these assays have only a data layer.
  withCallingHandlers(x[[name]] <- assay, warning = function(w) {
    if (startsWith(conditionMessage(w), "No layers found matching")) {
      invokeRestart("muffleWarning")
    }
  })
  x
}

write_assay.SummarizedExperiment <- function(x, name, values) {
  full <- place_sparse(values, rownames(x), input_cell_names(x))
  SummarizedExperiment::assay(x, name, withDimnames = FALSE) <- full
  x
}

# A sparse `rows` x `cells` matrix holding the entries of `m` (matched by row and column names;
# rows of `m` not in `rows` are dropped, everything else is zero).
place_sparse <- function(m, rows, cells) {
  t <- Matrix::summary(methods::as(m, "CsparseMatrix"))
  r <- match(rownames(m), rows)[t$i]
  ok <- !is.na(r)
  Matrix::sparseMatrix(i = r[ok], j = match(colnames(m), cells)[t$j][ok], x = t$x[ok],
                       dims = c(length(rows), length(cells)), dimnames = list(rows, cells))
}
