# Turning what users pass (Seurat, SingleCellExperiment/SummarizedExperiment, dense matrix,
# dgCMatrix or another Matrix class, DelayedArray) into one internal form: a genes x cells
# `dgCMatrix`, double matrix or DelayedMatrix with gene and cell names, plus the per-cell metadata
# used to look up label and domain columns. Matrices are not copied unless their type has to
# change, and a DelayedMatrix (e.g. HDF5-backed) is only ever read block by block
# (`input_blocks()`, `read_cells()`), so that it is never held whole in R.

#' Extract a genes x cells expression matrix and cell metadata from a supported object
#'
#' @param x The user's object.
#' @param assay,layer Seurat assay and layer (slot on SeuratObject v4); `NULL` for defaults.
#' @param assay_type SummarizedExperiment assay name or index; `NULL` for the default.
#' @param arg Name of the user's argument, for messages.
#' @return A list: `mat` (genes x cells `dgCMatrix`, double matrix or DelayedMatrix), `genes`,
#'   `cells`, `meta`
#'   (a data.frame or `DataFrame` of per-cell metadata, or `NULL`), `source` (a short description).
#' @noRd
extract_input <- function(x, assay = NULL, layer = NULL, assay_type = NULL, arg = "x",
                          call = rlang::caller_env()) {
  if (inherits(x, "Seurat")) {
    out <- extract_seurat(x, assay, layer, arg, call)
  } else if (methods::is(x, "SummarizedExperiment")) {
    out <- extract_se(x, assay_type, arg, call)
  } else {
    out <- list(mat = as_expression_matrix(x, arg, call), meta = NULL, source = "matrix")
  }
  mat <- out$mat
  if (ncol(mat) == 0L || nrow(mat) == 0L) {
    scnym_abort(c("{.arg {arg}} is empty: it has {nrow(mat)} gene{?s} and {ncol(mat)} cell{?s}.",
                  i = "Pass a matrix or object with at least one gene and one cell."),
                kind = "invalid_data", call = call)
  }
  genes <- rownames(mat)
  if (is.null(genes)) {
    scnym_abort(c("{.arg {arg}} has no gene names.",
                  i = paste("Set the row names of the matrix to gene names",
                            "(genes are rows, cells are columns).")),
                kind = "invalid_data", call = call)
  }
  check_names(genes, "gene", "rownames", "Every row needs a gene name.", arg, call)
  cells <- colnames(mat)
  if (is.null(cells)) {
    cells <- paste0("cell", seq_len(ncol(mat)))
  }
  check_names(cells, "cell", "colnames",
              paste("Every column needs a cell name, e.g.",
                    "{.code colnames(x) <- paste0(\"cell\", seq_len(ncol(x)))}."),
              arg, call)
  out$genes <- genes
  out$cells <- cells
  out
}

# Is `x` a container results are written into (Seurat, SummarizedExperiment and its
# subclasses), rather than a matrix?
is_container <- function(x) {
  inherits(x, "Seurat") || methods::is(x, "SummarizedExperiment")
}

# Cell names of any supported input, without reading its values.
input_cell_names <- function(x, call = rlang::caller_env()) {
  cells <- colnames(x)
  n <- ncol(x)
  if (is.null(n)) {
    scnym_abort(c(paste("{.arg x} must be a Seurat object, a SingleCellExperiment or a genes x",
                        "cells matrix."),
                  x = "Got {.obj_type_friendly {x}}."), kind = "invalid_argument", call = call)
  }
  if (is.null(cells)) cells <- paste0("cell", seq_len(n))
  cells
}

# Gene (row) and cell (column) names name the model's inputs and the results: they must be
# present and unique. `what` is "gene" or "cell", `accessor` "rownames" or "colnames", and
# `missing_hint` says how to name them.
check_names <- function(names, what, accessor, missing_hint, arg, call) {
  bad <- is.na(names) | !nzchar(names)
  if (any(bad)) {
    scnym_abort(c(paste0("{.arg {arg}} has {sum(bad)} missing or empty ", what, " name{?s}."),
                  i = missing_hint),
                kind = "invalid_data", call = call)
  }
  dup <- unique(names[duplicated(names)])
  if (length(dup)) {
    scnym_abort(c(paste0("{.arg {arg}} has {length(dup)} duplicated ", what, " name{?s}: ",
                         "{.val {first_few(dup)}}."),
                  i = paste0("Make them unique first, e.g. {.code ", accessor,
                             "(x) <- make.unique(", accessor, "(x))}.")),
                kind = "invalid_data", call = call)
  }
  invisible(names)
}

# A genes x cells dgCMatrix, double matrix or numeric DelayedMatrix from a matrix-like object.
as_expression_matrix <- function(x, arg, call) {
  if (inherits(x, "dgCMatrix")) {
    return(x)
  }
  if (is.matrix(x)) {
    if (is.double(x)) return(x)
    if (is.integer(x)) {
      storage.mode(x) <- "double"
      return(x)
    }
    scnym_abort(c("{.arg {arg}} must be a numeric matrix, not a {typeof(x)} matrix.",
                  i = "Pass counts or log-normalised expression as numbers."),
                kind = "invalid_argument", call = call)
  }
  if (inherits(x, "DelayedArray")) {
    if (length(dim(x)) != 2L) {
      scnym_abort("{.arg {arg}} must be a two-dimensional DelayedArray (genes x cells).",
                  kind = "invalid_argument", call = call)
    }
    if (!DelayedArray::type(x) %in% c("double", "integer")) {
      scnym_abort("{.arg {arg}} must hold numbers, not {DelayedArray::type(x)} values.",
                  kind = "invalid_argument", call = call)
    }
    return(x)
  }
  if (inherits(x, "Matrix")) {
    if (!methods::is(x, "dMatrix") && !methods::is(x, "lMatrix") && !methods::is(x, "nMatrix")) {
      scnym_abort("{.arg {arg}} must hold numbers; got a {.cls {class(x)[[1]]}}.",
                  kind = "invalid_argument", call = call)
    }
    if (!methods::is(x, "dMatrix")) {
      scnym_abort("{.arg {arg}} must hold numbers, not logical values ({.cls {class(x)[[1]]}}).",
                  kind = "invalid_argument", call = call)
    }
    sparse <- methods::as(methods::as(x, "CsparseMatrix"), "generalMatrix")
    return(methods::as(sparse, "dMatrix"))
  }
  hint <- if (is.data.frame(x)) {
    c(i = "Convert it with {.code as.matrix()} (genes as rows, cells as columns).")
  } else {
    c(i = paste("Pass a Seurat or SingleCellExperiment object, or a genes x cells matrix",
                "({.cls matrix}, {.cls dgCMatrix} or {.cls DelayedMatrix})."))
  }
  scnym_abort(c(paste("{.arg {arg}} must be a Seurat object, a SingleCellExperiment or a genes x",
                      "cells matrix."),
                x = "Got {.obj_type_friendly {x}}.", hint),
              kind = "invalid_argument", call = call)
}

is_delayed <- function(mat) inherits(mat, "DelayedArray")

# Cells per block when a DelayedMatrix is read block by block: as many as fill DelayedArray's
# automatic block size (DelayedArray::getAutoBlockSize(), 100 MB by default) with dense double
# values, in whole batches of the core's prediction (at least one), so that a prediction made
# block by block forms the batches of a single pass.
block_cells <- function(mat) {
  batch <- rust_result(rs_backend_info())$eval_batch
  per_cell <- 8 * max(1, nrow(mat))
  as.integer(batch * max(1, floor(DelayedArray::getAutoBlockSize() / per_cell / batch)))
}

# The columns of an input matrix in the blocks it is read in: one block for a matrix in memory,
# blocks of block_cells() columns for a DelayedMatrix.
input_blocks <- function(mat) {
  n <- ncol(mat)
  size <- if (is_delayed(mat)) block_cells(mat) else n
  if (n <= size) return(list(seq_len(n)))
  unname(split(seq_len(n), ceiling(seq_len(n) / size)))
}

# The columns `cols` of an input matrix as a dgCMatrix or double matrix in memory. A DelayedMatrix
# reads only those columns: a range of at most block_cells() columns in one block read, other
# columns through a delayed subset.
read_cells <- function(mat, cols) {
  if (!is_delayed(mat)) {
    if (length(cols) == ncol(mat)) return(mat)
    if (inherits(mat, "dgCMatrix") && is_range(cols)) return(dgc_columns(mat, cols))
    return(mat[, cols, drop = FALSE])
  }
  sparse <- DelayedArray::is_sparse(mat)
  lo <- min(cols)
  hi <- max(cols)
  if (hi - lo < block_cells(mat)) {
    viewport <- DelayedArray::ArrayViewport(dim(mat), IRanges::IRanges(c(1L, lo), c(nrow(mat), hi)))
    block <- DelayedArray::read_block(mat, viewport, as.sparse = sparse)
    block <- if (sparse) methods::as(block, "dgCMatrix") else as.matrix(block)
    if (length(cols) != hi - lo + 1L) block <- block[, cols - lo + 1L, drop = FALSE]
  } else {
    block <- mat[, cols, drop = FALSE]
    block <- if (sparse) methods::as(block, "dgCMatrix") else as.matrix(block)
  }
  if (!sparse && !is.double(block)) storage.mode(block) <- "double"
  block
}

# Are `cols` consecutive increasing numbers (a block of prediction_blocks())?
is_range <- function(cols) {
  length(cols) > 0L && cols[length(cols)] - cols[1L] + 1L == length(cols) &&
    !is.unsorted(cols, strictly = TRUE)
}

# The columns `cols` (a range, see is_range()) of a dgCMatrix, sliced from its slots: Matrix's
# `[` took 0.74 s for 100,000 cells of 300 non-zero counts, most of a worker's reading time.
dgc_columns <- function(mat, cols) {
  p <- dgc_pointers(mat, cols)
  values <- seq.int(p[1L] + 1L, length.out = p[length(p)] - p[1L])
  methods::new("dgCMatrix", i = mat@i[values], x = mat@x[values], p = p - p[1L],
               Dim = c(nrow(mat), length(cols)),
               Dimnames = list(rownames(mat), colnames(mat)[cols]))
}

# The column pointers of the columns `cols` (a range) of a dgCMatrix: positions in its whole
# `@i` and `@x`.
dgc_pointers <- function(mat, cols) {
  mat@p[seq.int(cols[1L], cols[length(cols)] + 1L)]
}

seurat_object_v5 <- function() {
  utils::packageVersion("SeuratObject") >= "5.0.0"
}

extract_seurat <- function(x, assay, layer, arg, call) {
  rlang::check_installed("SeuratObject", reason = "to read Seurat objects.")
  assays <- SeuratObject::Assays(x)
  if (is.null(assay)) {
    assay <- SeuratObject::DefaultAssay(x)
  }
  if (!is.character(assay) || length(assay) != 1L || !assay %in% assays) {
    scnym_abort(c("Assay {.val {format_value(assay)}} is not in {.arg {arg}}.",
                  i = "Available assays: {.val {assays}}."),
                kind = "invalid_argument", call = call)
  }
  get_layer <- function(name) seurat_layer(x, assay, name, arg, call)
  if (is.null(layer)) {
    counts <- tryCatch(get_layer("counts"), error = function(e) NULL)
    layer <- if (!is.null(counts) && ncol(counts) > 0L && nrow(counts) > 0L) "counts" else "data"
  }
  if (!is.character(layer) || length(layer) != 1L || !layer %in% c("counts", "data")) {
    scnym_abort(c("{.arg layer} must be {.val counts} or {.val data}.",
                  x = "Got {.val {format_value(layer)}}.",
                  i = "scNym needs raw counts or log-normalised values, not scaled data."),
                kind = "invalid_argument", call = call)
  }
  mat <- tryCatch(get_layer(layer), error = function(e) {
    scnym_abort(c("Cannot read layer {.val {layer}} of assay {.val {assay}} in {.arg {arg}}.",
                  x = conditionMessage(e)),
                kind = "invalid_data", call = call)
  })
  if (ncol(mat) == 0L && ncol(x) > 0L) {
    scnym_abort(c("Layer {.val {layer}} of assay {.val {assay}} in {.arg {arg}} is empty.",
                  i = "Use {.code layer = \"{setdiff(c('counts', 'data'), layer)}\"}."),
                kind = "invalid_data", call = call)
  }
  list(mat = as_expression_matrix(mat, arg, call), meta = x[[]],
       source = paste0("Seurat assay ", assay, ", ", layer),
       assay = assay, layer = layer)
}

#' One layer of a Seurat assay as a genes x cells matrix, in the object's cell order
#'
#' On SeuratObject 5 a layer split by `split()` (`counts.1`, `counts.2`, ...) is read whole: its
#' parts are joined (genes: the union, zero where a part lacks a gene) and ordered like the
#' assay's cells. On SeuratObject 4 the slot of that name.
#' @noRd
seurat_layer <- function(x, assay, layer, arg, call) {
  if (!seurat_object_v5()) {
    return(SeuratObject::GetAssayData(x, assay = assay, slot = layer))
  }
  ns <- asNamespace("SeuratObject")
  layer_data <- get("LayerData", envir = ns)
  object <- x[[assay]]
  have <- get("Layers", envir = ns)(object)
  parts <- have[have == layer | startsWith(have, paste0(layer, "."))]
  if (length(parts) <= 1L) {
    return(layer_data(object, layer = if (length(parts)) parts else layer))
  }
  mats <- lapply(parts, function(p) {
    as_sparse(as_expression_matrix(layer_data(object, layer = p), arg, call))
  })
  genes <- unique(unlist(lapply(mats, rownames)))
  mats <- lapply(mats, function(m) {
    if (identical(rownames(m), genes)) return(m)
    rows <- match(rownames(m), genes)
    full <- Matrix::sparseMatrix(i = rows[m@i + 1L], p = m@p, x = m@x,
                                 dims = c(length(genes), ncol(m)))
    dimnames(full) <- list(genes, colnames(m))
    full
  })
  joined <- do.call(cbind, mats)
  cells <- SeuratObject::Cells(object)
  joined[, match(cells[cells %in% colnames(joined)], colnames(joined)), drop = FALSE]
}

# A dgCMatrix from a double matrix or dgCMatrix.
as_sparse <- function(m) {
  if (inherits(m, "dgCMatrix")) m else methods::as(m, "CsparseMatrix")
}

extract_se <- function(x, assay_type, arg, call) {
  rlang::check_installed("SummarizedExperiment", reason = "to read SingleCellExperiment objects.")
  available <- SummarizedExperiment::assayNames(x)
  if (is.null(assay_type)) {
    assay_type <- intersect(c("counts", "logcounts"), available)[1]
    if (is.na(assay_type)) {
      if (length(SummarizedExperiment::assays(x)) == 0L) {
        scnym_abort("{.arg {arg}} has no assays.", kind = "invalid_data", call = call)
      }
      assay_type <- 1L
      scnym_inform(c(i = paste("{.arg {arg}} has no assay {.val counts} or {.val logcounts}:",
                               "using its first assay, {.val {available[1] %||% 1L}}."),
                     i = "Choose one with {.arg assay_type}."),
                   kind = "assay_choice")
    }
  }
  ok <- (is.character(assay_type) && length(assay_type) == 1L && assay_type %in% available) ||
    (is.numeric(assay_type) && length(assay_type) == 1L && assay_type >= 1 &&
       assay_type <= length(SummarizedExperiment::assays(x)))
  if (!ok) {
    scnym_abort(c("Assay {.val {format_value(assay_type)}} is not in {.arg {arg}}.",
                  i = "Available assays: {.val {available}}."),
                kind = "invalid_argument", call = call)
  }
  mat <- SummarizedExperiment::assay(x, assay_type, withDimnames = TRUE)
  list(mat = as_expression_matrix(mat, arg, call), meta = SummarizedExperiment::colData(x),
       source = paste0(class(x)[[1]], " assay ", assay_type), assay_type = assay_type)
}

#' Per-cell values from a metadata column name or a vector
#'
#' @param value `NULL`, a single column name of `data$meta`, or a vector with one value per cell
#'   (a named vector must be named by the cells).
#' @param data An extracted input.
#' @param arg,data_arg Argument names for messages.
#' @param labels Are these class labels? Numbers or logical values are then announced (they
#'   become class names such as `"1"` or `"TRUE"`).
#' @return A character vector, one value per cell (NA allowed), or `NULL` when `value` is `NULL`.
#' @noRd
cell_values <- function(value, data, arg, data_arg, call, labels = FALSE) {
  if (is.null(value)) {
    return(NULL)
  }
  n <- length(data$cells)
  if (is.factor(value)) {
    value <- as.character(value)
  }
  if (!is.atomic(value) || !is.null(dim(value))) {
    scnym_abort(c("{.arg {arg}} must be a column name or a vector with one value per cell.",
                  x = "Got {.obj_type_friendly {value}}."),
                kind = "invalid_argument", call = call)
  }
  if (is.character(value) && length(value) == 1L && n != 1L) {
    return(as_labels(metadata_column(value, data, arg, data_arg, call), arg, labels, call))
  }
  if (length(value) != n) {
    scnym_abort(c(paste("{.arg {arg}} has {length(value)} value{?s}, but {.arg {data_arg}} has",
                        "{n} cell{?s}."),
                  i = paste("Give one value per cell (in the order of the cells), or a metadata",
                            "column name.")),
                kind = "invalid_argument", call = call)
  }
  if (!is.null(names(value)) && !identical(names(value), data$cells)) {
    if (setequal(names(value), data$cells) && !anyDuplicated(names(value))) {
      value <- value[data$cells]
    } else {
      scnym_abort(c("The names of {.arg {arg}} do not match the cell names of {.arg {data_arg}}.",
                    i = "Name the vector by cell, or pass it unnamed in the order of the cells."),
                  kind = "invalid_argument", call = call)
    }
  }
  as_labels(unname(value), arg, labels, call)
}

# Per-cell values as character; numbers or logical values used as labels are announced.
as_labels <- function(value, arg, labels, call) {
  if (labels && (is.numeric(value) || is.logical(value)) && !all(is.na(value))) {
    shown <- sort(unique(value[!is.na(value)])) # nolint: object_usage_linter. (used by cli)
    scnym_inform(c(i = paste("{.arg {arg}} holds {typeof(value)} values; they are used as class",
                             "names: {.val {first_few(shown)}}.")),
                 kind = "label_type")
  }
  as.character(value)
}

#' The data crossing into Rust for some cells of an extracted input
#'
#' @param data An extracted and value-checked input (see `check_values()`).
#' @param cells Integer indices of the cells to pass, or `NULL` for all.
#' @param model_genes The model's gene names (defines `gene_map`).
#' @param view For a range of the cells of a dgCMatrix of counts: point into its values instead
#'   of copying them (the list then holds the whole matrix's values: never serialise it).
#' @return A list read by `src/rust/scnym-r/src/engine.rs`: the cells read into memory (a
#'   DelayedMatrix only for these cells), as raw counts or pseudo-counts (log-normalised input is
#'   turned back by `unlog()`), which the core normalises with the configuration's `scale_factor`
#'   and `max_gene_fraction`.
#' @noRd
core_data <- function(data, cells = NULL, model_genes, view = FALSE) {
  mat <- data$mat
  if (view && inherits(mat, "dgCMatrix") && !identical(data$input, "lognorm") &&
        is_range(cells)) {
    part <- list(kind = "csr", n_cells = length(cells), n_genes = nrow(mat),
                 p = dgc_pointers(mat, cells), i = mat@i, x = mat@x)
  } else {
    mat <- read_cells(mat, cells %||% seq_len(ncol(mat)))
    if (identical(data$input, "lognorm")) {
      mat <- unlog(mat)
    }
    part <- matrix_list(mat)
  }
  gene_map <- match(data$genes, model_genes) - 1L
  gene_map[is.na(gene_map)] <- -1L
  c(part, list(gene_map = gene_map, n_model_genes = length(model_genes)))
}

# A genes x cells dgCMatrix or double matrix as the core reads it (a cells x genes CSR matrix, or
# row-major dense values); `rs_value_summary()` reads this too.
matrix_list <- function(mat) {
  if (inherits(mat, "dgCMatrix")) {
    return(list(kind = "csr", n_cells = ncol(mat), n_genes = nrow(mat), p = mat@p, i = mat@i,
                x = mat@x))
  }
  list(kind = "dense", n_cells = ncol(mat), n_genes = nrow(mat), x = mat)
}

# Are the cells of `data` kept in the core for these model genes (see keep_in_core())?
is_kept <- function(data, genes) {
  identical(data$kept_in_core$genes, as.character(genes))
}

# What a core function reads for cells `cells` (all when NULL) of a checked input: the cells kept
# in the core for these genes, or else a data list (see core_data()).
core_input <- function(data, cells, genes) {
  if (!is_kept(data, genes)) {
    return(core_data(data, cells, genes))
  }
  subset <- !is.null(cells) && length(cells) != length(data$cells)
  list(store = data$kept_in_core$store, cells = if (subset) as.integer(cells) - 1L)
}

# A cell store of cells `cells` (increasing indices; all when NULL) of a checked input, normalised
# as a model trained with `config` on `genes` reads them, for core functions that read the same
# cells more than once (the members of an ensemble, annotation's training and prediction). A
# DelayedMatrix is read and stored block by block, so that it is never held whole in R. Returns
# what core functions take (see core_input()).
cells_store <- function(data, cells, genes, config, call = rlang::caller_env()) {
  if (is_kept(data, genes)) {
    return(core_input(data, cells, genes))
  }
  json <- config_json(config, seed = 0L)
  wanted <- if (is.null(cells)) NULL else seq_len(ncol(data$mat)) %in% cells
  store <- NULL
  for (cols in input_blocks(data$mat)) {
    if (!is.null(wanted)) cols <- cols[wanted[cols]]
    if (!length(cols)) next
    part <- core_data(data, cols, genes)
    if (is.null(store)) {
      store <- rust_result(rs_cells_new(part, json), call = call)
    } else {
      rust_result(rs_cells_append(store, part), call = call)
    }
  }
  list(store = store, cells = NULL)
}

# Keeps the cells of an extracted input in the core, normalised once as a model trained with
# `config` on `genes` reads them: core_input() and cells_store() then refer to them instead of
# passing them again. scnym_annotate() uses it so that the query crosses into Rust once for
# training and prediction (the store costs one normalised copy of the cells while it lives).
keep_in_core <- function(data, genes, config, call = rlang::caller_env()) {
  data$kept_in_core <- list(store = cells_store(data, NULL, genes, config, call = call)$store,
                            genes = as.character(genes))
  data
}

# A metadata column of an extracted input (an atomic vector or factor).
metadata_column <- function(value, data, arg, data_arg, call) {
  cols <- if (is.null(data$meta)) character() else colnames(data$meta)
  if (!value %in% cols) {
    hint <- if (length(cols)) {
      c(i = "Columns of {.arg {data_arg}}: {.val {first_few(cols, 10)}}.")
    } else {
      c(i = "{.arg {data_arg}} has no cell metadata: pass a vector with one value per cell.")
    }
    scnym_abort(c(paste("Column {.val {value}} (from {.arg {arg}}) is not in the cell metadata",
                        "of {.arg {data_arg}}."),
                  hint), kind = "invalid_argument", call = call)
  }
  column <- data$meta[[value]]
  if (!is.null(dim(column)) || !(is.atomic(column) || is.factor(column))) {
    scnym_abort("Column {.val {value}} of {.arg {data_arg}} must be a vector or factor.",
                kind = "invalid_argument", call = call)
  }
  if (is.factor(column)) as.character(column) else column
}
