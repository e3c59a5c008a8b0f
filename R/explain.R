# Explanations: integrated gradients (SPEC section 8) summarised as tidy gene rankings.

#' Explain the model's decisions with integrated gradients
#'
#' Ranks genes by how much they push the model toward a class, with integrated gradients
#' (Sundararajan et al. 2017) on the class probability: for a cell `x` and class `k`,
#' `IG_g(x, k) = x_g * (1/M) sum_{m=1..M} d p_k(m/M x) / d x_g`, with a zero baseline and
#' `M = steps`, computed on the model's log-normalised input (`log(1 + scale_factor * count /
#' total)`, with `max_gene_fraction` in the total, see [scnym_config()]). The attributions of a
#' cell add up to `p_k(x) - p_k(0)` (completeness). A gene with a large positive attribution
#' raises the probability of the class; a negative one lowers it.
#'
#' Two ways to choose the cells:
#' * **Per class** (the default, `cells = NULL`): for each class in `classes`, the cells whose
#'   `group` is that class (by default their predicted label) are explained toward it, at most
#'   `n_cells` of them (a random sample), and their attributions averaged: what the model looks
#'   at when it calls a cell type.
#' * **Chosen cells toward a chosen class** (`cells` and `target`): for example the cells of true
#'   type `k'` that the model called `k`, explained toward `k`: why the errors happen.
#'
#' @param model An `scnym_model`.
#' @param x Cells: a Seurat object, a SingleCellExperiment (or SummarizedExperiment), or a genes x
#'   cells matrix (dense, `dgCMatrix` or `DelayedMatrix`), as for [scnym_predict()].
#' @param classes Classes to explain in the per-class mode (default: every class of the model
#'   that some cell's `group` names). Ignored when `cells` is given.
#' @param group Per-class mode: the group of each cell (for example true labels); groups that are
#'   classes of the model are explained toward that class. Default: the predicted labels
#'   ([scnym_predict()] is run on `x`).
#' @param cells Chosen-cells mode: the cells to explain, as cell names, indices or a logical
#'   vector over the cells of `x`.
#' @param target Chosen-cells mode: the class to explain the cells toward.
#' @param n_cells At most this many cells per class (or of `cells`) are explained, a random
#'   sample beyond it (the paper uses 300).
#' @param steps Number of integration steps `M`.
#' @param store Also keep the attributions of every explained cell (toward its class). For a
#'   Seurat object or a SingleCellExperiment, `scnym_explain()` then returns the object with
#'   them as an assay named `assay_name` (Seurat: an `Assay5` on SeuratObject 5, an `Assay` on
#'   SeuratObject 4, over the model's genes, in its `data` layer; SingleCellExperiment: an assay
#'   over the rows of `x`, zero for genes outside the model) and the table in `Tool(x)` / the
#'   `tools` slot under `"scnym_explain"` (Seurat) or `metadata(x)$scnym_explain`. Cells not
#'   explained have zeros. For a matrix, the table gets an attribute `cell_attributions`: a
#'   sparse genes x explained-cells matrix.
#' @param assay_name Name of the assay written when `store = TRUE`.
#' @param seed Seed of the cell sample (`NULL`: the session's RNG); the session's RNG state is
#'   restored afterwards.
#' @param threads Number of libtorch threads (default: the model configuration's setting; with
#'   several `BPPARAM` workers, 1 per worker, so that the workers do not oversubscribe the cores).
#' @param BPPARAM A [BiocParallel::BiocParallelParam-class] object (default
#'   [BiocParallel::SerialParam()]). In the per-class mode the classes are spread over the
#'   workers: the cells of each class are taken in this process and sent to a worker, which
#'   computes their integrated gradients (rebuilding the model from its bytes when it is another
#'   process); the prediction that gives the default `group` runs on the workers too (see
#'   [scnym_predict()]). The result is identical to a serial run with `threads = 1`. The
#'   chosen-cells mode explains its one class in this process.
#' @param ... Passed to [scnym_predict()] and to the input reader: `assay`, `layer`,
#'   `assay_type`, `input`.
#' @return A data frame of class `scnym_explanation`, one row per class and model gene, ordered
#'   by class and rank, with columns
#' * `class`: the class the cells were explained toward;
#' * `gene`: a gene of the model;
#' * `attribution`: the mean integrated gradient of the gene over the explained cells;
#' * `rank`: 1 for the gene with the largest attribution within the class;
#' * `n_cells`: the number of cells averaged.
#'
#' Attributes: `steps`, `mode` (`"class"` or `"cells"`) and, for `store = TRUE` on a matrix,
#' `cell_attributions`. With `store = TRUE` on an object, the object (see `store`).
#' @seealso [scnym_plot_explain()] to draw the top genes per class.
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, output = "matrix")
#' model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
#'                      target = sim$query$counts,
#'                      config = scnym_config(max_epochs = 5, min_epochs = 1),
#'                      seed = 1, threads = 1, verbose = FALSE)
#' ex <- scnym_explain(model, sim$query$counts, n_cells = 20, steps = 20)
#' head(ex[ex$rank <= 5, ], 10)
#' scnym_plot_explain(ex, n_genes = 5)
#' @export
scnym_explain <- function(model, x, classes = NULL, group = NULL, cells = NULL, target = NULL,
                          n_cells = 300L, steps = 100L, store = FALSE, assay_name = "scnym_ig",
                          seed = 1L, threads = NULL,
                          BPPARAM = BiocParallel::SerialParam(), # nolint: object_name_linter.
                          ...) {
  if (!inherits(model, "scnym_model")) {
    scnym_abort(c("{.arg model} must be an {.cls scnym_model}.",
                  x = "Got {.obj_type_friendly {model}}."), kind = "invalid_argument")
  }
  check_count(n_cells, "n_cells", min = 1)
  check_count(steps, "steps", min = 1)
  if (!is.logical(store) || length(store) != 1 || is.na(store)) {
    scnym_abort("{.arg store} must be TRUE or FALSE.", kind = "invalid_argument")
  }
  check_bpparam(BPPARAM)
  all_cells <- input_cell_names(x)
  # An object is read once; the cells of each class are then taken from its expression matrix
  # (SeuratObject 5 cannot subset an object to a single cell).
  args <- list(...)
  values <- if (is_container(x)) {
    extract_input(x, assay = args$assay, layer = args$layer, assay_type = args$assay_type)$mat
  } else {
    x
  }
  dots <- args[setdiff(names(args), c("assay", "layer", "assay_type"))]
  plan <- if (!is.null(cells)) {
    explain_cells_plan(model, all_cells, cells, target)
  } else {
    do.call(explain_class_plan, c(list(model, values, all_cells, classes, group, target,
                                       threads, BPPARAM), dots))
  }
  mode <- attr(plan, "mode")
  plan <- with_rng_seed(seed, lapply(plan, function(i) {
    if (length(i) > n_cells) sort(i[sample.int(length(i), n_cells)]) else i
  }))
  per_class <- explain_classes(model, values, plan, steps, store, threads, dots, BPPARAM)
  out <- do.call(rbind, lapply(per_class, `[[`, "table"))
  out <- out[order(match(out$class, names(plan)), out$rank), , drop = FALSE]
  rownames(out) <- NULL
  class(out) <- c("scnym_explanation", "data.frame")
  attr(out, "steps") <- as.integer(steps)
  attr(out, "mode") <- mode
  if (!store) return(out)
  ig_cells <- do.call(cbind, lapply(per_class, `[[`, "cells"))
  store_attributions(x, out, ig_cells, assay_name)
}

#' @method print scnym_explanation
#' @export
print.scnym_explanation <- function(x, ..., n = 5L) {
  if (is.null(attr(x, "steps")) || !all(c("class", "gene", "attribution", "rank") %in% names(x))) {
    # a subset that lost the table's attributes: print it as the data frame it is
    print(as.data.frame(unclass(x), stringsAsFactors = FALSE), ...)
    return(invisible(x))
  }
  cls <- unique(x$class)
  cat(cli::format_inline(
    "{.cls scnym_explanation}: integrated gradients ({attr(x, 'steps')} steps) toward ",
    "{length(cls)} class{?es}, {length(unique(x$gene))} gene{?s}"), "\n")
  for (k in cls) {
    s <- x[x$class == k & x$rank <= n, , drop = FALSE]
    s <- s[order(s$rank), ]
    cat(sprintf("  %s (%d cells): %s\n", k, s$n_cells[1],
                paste(sprintf("%s %.3g", s$gene, s$attribution), collapse = ", ")))
  }
  invisible(x)
}

#' Top genes per class by integrated gradients
#'
#' A bar chart of the `n_genes` genes with the largest mean attribution toward each class.
#'
#' @param x An `scnym_explanation` from [scnym_explain()].
#' @param n_genes Number of genes per class.
#' @param classes Classes to show (default: all in `x`).
#' @return A ggplot object.
#' @family diagnostic plots
#' @examples
#' ex <- data.frame(class = rep(c("B", "NK"), each = 4),
#'                  gene = c("MS4A1", "CD79A", "CD74", "LYZ", "GNLY", "NKG7", "GZMB", "CD3E"),
#'                  attribution = c(0.3, 0.2, 0.1, -0.05, 0.4, 0.3, 0.1, -0.1),
#'                  rank = rep(1:4, 2), n_cells = 50)
#' scnym_plot_explain(ex, n_genes = 3)
#' @export
scnym_plot_explain <- function(x, n_genes = 10L, classes = NULL) {
  if (!is.data.frame(x) || !all(c("class", "gene", "attribution", "rank") %in% names(x))) {
    scnym_abort(c("{.arg x} must be a table from {.fn scnym_explain}.",
                  x = "Got {.obj_type_friendly {x}}."), kind = "invalid_argument")
  }
  check_count(n_genes, "n_genes", min = 1)
  if (!is.null(classes)) {
    bad <- setdiff(classes, x$class)
    if (length(bad)) {
      scnym_abort("{.arg classes} {.val {bad}} {?is/are} not in {.arg x}.",
                  kind = "invalid_argument")
    }
    x <- x[x$class %in% classes, , drop = FALSE]
  }
  top <- as.data.frame(x[x$rank <= n_genes, c("class", "gene", "attribution", "rank")])
  top$class <- factor(top$class, levels = unique(x$class))
  top$key <- paste(top$class, top$gene, sep = "\r")
  top$key <- factor(top$key, levels = top$key[order(top$class, -top$rank)])
  ggplot2::ggplot(top, ggplot2::aes(x = .data$attribution, y = .data$key)) +
    ggplot2::geom_col(fill = "steelblue") +
    ggplot2::facet_wrap(~class, scales = "free_y") +
    ggplot2::scale_y_discrete(labels = function(k) sub("^.*\r", "", k)) +
    ggplot2::labs(x = "mean integrated gradient", y = NULL) +
    ggplot2::theme_bw()
}

#' @rdname scnym_plot_explain
#' @param object An `scnym_explanation` (for `autoplot()`).
#' @param ... Passed to `scnym_plot_explain()`.
#' @rawNamespace S3method(ggplot2::autoplot, scnym_explanation)
autoplot.scnym_explanation <- function(object, ...) { # nolint: object_name_linter.
  scnym_plot_explain(object, ...)
}

# ---- internals ---------------------------------------------------------------------------------

# Chosen-cells mode: the cells to explain toward `target`, as a one-element plan.
explain_cells_plan <- function(model, all_cells, cells, target, call = rlang::caller_env()) {
  model_classes <- model_field(model, "classes")
  idx <- resolve_cells(cells, all_cells, call = call)
  if (is.null(target) || !is.character(target) || length(target) != 1 ||
      !target %in% model_classes) {
    scnym_abort(c("With {.arg cells}, {.arg target} must name one class of the model.",
                  i = "Classes: {.val {utils::head(model_classes, 10)}}."),
                kind = "invalid_argument", call = call)
  }
  structure(stats::setNames(list(idx), target), mode = "cells")
}

# The integrated gradients of the cells of each class of `plan` (class name -> cell indices of
# `values`) toward that class: for each class, its table rows and (`store`) its cells'
# attributions. The cells of each class are cut here and the classes spread over the BPPARAM
# workers when there are several, each with one libtorch thread unless `threads` is given.
explain_classes <- function(model, values, plan, steps, store, threads, dots,
                            BPPARAM) { # nolint: object_name_linter.
  jobs <- lapply(names(plan), function(k) list(class = k, x = subset_cells(values, plan[[k]])))
  workers <- BiocParallel::bpnworkers(BPPARAM)
  if (workers > 1L) threads <- threads %||% 1L
  bp_lapply(jobs, explain_class, model = model, steps = steps, store = store, threads = threads,
            dots = dots, BPPARAM = BPPARAM)
}

# One class of explain_classes(): `job` holds the class and the cells to explain toward it.
explain_class <- function(job, model, steps, store, threads, dots) {
  ig <- do.call(model_integrated_gradients,
                c(list(model, job$x, target_class = job$class, steps = steps, threads = threads),
                  dots))
  att <- colMeans(ig)
  list(table = data.frame(class = job$class, gene = colnames(ig), attribution = unname(att),
                          rank = rank(-att, ties.method = "first"), n_cells = nrow(ig)),
       cells = if (store) Matrix::Matrix(t(ig), sparse = TRUE))
}

# Per-class mode: for each class to explain, the cells whose group is that class.
explain_class_plan <- function(model, x, all_cells, classes, group, target, threads,
                               BPPARAM, ..., # nolint: object_name_linter.
                               call = rlang::caller_env()) {
  model_classes <- model_field(model, "classes")
  n <- length(all_cells)
  if (!is.null(target)) {
    scnym_abort(c("{.arg target} is only used with {.arg cells}.",
                  i = "Give the cells to explain toward {.val {target}} with {.arg cells}."),
                kind = "invalid_argument", call = call)
  }
  if (is.null(group)) {
    grp <- as.character(scnym_predict(model, x, threads = threads, BPPARAM = BPPARAM,
                                      ...)$label)
  } else {
    if (is.factor(group)) group <- as.character(group)
    if (!is.atomic(group) || length(group) != n) {
      scnym_abort(c("{.arg group} must have one value per cell.",
                    x = "It has length {length(group)}; {.arg x} has {n} cell{?s}."),
                  kind = "invalid_argument", call = call)
    }
    grp <- as.character(group)
  }
  if (is.null(classes)) {
    classes <- intersect(model_classes, unique(grp))
  } else {
    bad <- setdiff(classes, model_classes)
    if (length(bad)) {
      scnym_abort(c(paste("{.arg classes} holds {length(bad)} name{?s} that {?is/are} not a",
                          "class of the model: {.val {bad}}."),
                    i = "Classes: {.val {utils::head(model_classes, 10)}}."),
                  kind = "invalid_argument", call = call)
    }
    empty <- classes[!classes %in% grp]
    if (length(empty)) {
      cli::cli_inform("No cell of {.val {empty}}: not explained.")
      classes <- setdiff(classes, empty)
    }
  }
  if (!length(classes)) {
    scnym_abort(c("No cell belongs to a class to explain.",
                  i = "Check {.arg group} and {.arg classes}."), kind = "invalid_argument",
                call = call)
  }
  structure(stats::setNames(lapply(classes, function(k) which(grp == k)), classes),
            mode = "class")
}

# Per-cell attributions (genes x explained cells) into a container, as an assay with the table
# as a record; for a matrix, onto the table.
store_attributions <- function(x, out, ig_cells, assay_name) {
  if (!is_container(x)) {
    attr(out, "cell_attributions") <- ig_cells
    return(out)
  }
  write_record(write_assay(x, assay_name, ig_cells), "scnym_explain", out)
}

# Integer indices of `cells` (names, indices or logical) among `all_cells`.
resolve_cells <- function(cells, all_cells, call = rlang::caller_env()) {
  n <- length(all_cells)
  idx <- if (is.logical(cells)) {
    if (length(cells) != n || anyNA(cells)) {
      scnym_abort(c("A logical {.arg cells} must have one TRUE/FALSE per cell of {.arg x}.",
                    x = "It has length {length(cells)}; {.arg x} has {n} cell{?s}."),
                  kind = "invalid_argument", call = call)
    }
    which(cells)
  } else if (is.character(cells)) {
    m <- match(cells, all_cells)
    if (anyNA(m)) {
      scnym_abort(paste("{sum(is.na(m))} of {.arg cells} {?is/are} not a cell of {.arg x}:",
                        "{.val {utils::head(cells[is.na(m)], 5)}}."),
                  kind = "invalid_argument", call = call)
    }
    m
  } else if (is.numeric(cells)) {
    if (anyNA(cells) || any(cells < 1 | cells > n | cells != round(cells))) {
      scnym_abort("{.arg cells} holds indices outside 1..{n}.", kind = "invalid_argument",
                  call = call)
    }
    as.integer(cells)
  } else {
    scnym_abort(c("{.arg cells} must be cell names, indices or a logical vector.",
                  x = "Got {.obj_type_friendly {cells}}."), kind = "invalid_argument", call = call)
  }
  idx <- unique(idx)
  if (!length(idx)) {
    scnym_abort("{.arg cells} selects no cell.", kind = "invalid_argument", call = call)
  }
  idx
}

# Columns (cells) `i` of an expression matrix (dense, sparse or DelayedArray).
subset_cells <- function(x, i) {
  if (length(i) == ncol(x) && all(i == seq_len(ncol(x)))) return(x)
  x[, i, drop = FALSE]
}
