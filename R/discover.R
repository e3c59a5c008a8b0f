# New cell type discovery: cluster the low-confidence cells in the scNym embedding (SPEC section 9).

#' Propose new cell types among low-confidence cells
#'
#' Cells that the model labels with confidence `<= threshold`, and cells whose label was pruned
#' (`pruned_label` `NA`: cells far from the reference cells of their label, see
#' [scnym_predict()]), are candidates for cell types absent from the training data.
#' `scnym_discover()` builds a `k`-nearest-neighbour graph of the candidates in the scNym
#' embedding (or in `space`), partitions it with the Leiden algorithm ([igraph::cluster_leiden()],
#' modularity objective) at each of `resolutions`, keeps the partition with the highest
#' Calinski-Harabasz score (computed in the same space), and describes each candidate cluster.
#' The default training (see [scnym_config()]) keeps cells of new types at low confidence and
#' far from the reference cells, so that they become candidates.
#'
#' Which space: the scNym embedding is shaped to tell the *training* classes apart, and with
#' `unconfident_weight > 0` (see [scnym_config()]) cells unlike any of them are pulled toward a
#' uniform prediction, which also flattens their differences in the embedding. To tell several
#' new types apart from each other, cluster in a space built from expression instead, such as
#' principal components (`space = "pca"` for a Seurat or SingleCellExperiment object that has
#' them, or a matrix). On the CellBench cell lines trained with the pull, two lines absent from
#' training mix in the embedding and separate in expression principal components
#' (`bench/trust/cellbench_unseen.R --unconfident-weight 1`).
#'
#' Each cluster gets a `call`, decided in this order:
#' 1. `"boundary"`: at least `boundary_fraction` of the `k` nearest neighbours of the cluster's
#'    cells, searched among *all* cells, are confidently labelled (confidence
#'    `>= known_confidence`, by default 0.9, the pseudolabel threshold of the default
#'    preset). The cluster lies within or at the edge of known
#'    populations: cells between known types, doublets or transitional states rather than a type
#'    of their own. (Cells of a new type often get middling confidence, 0.5 to 0.9; they do not
#'    count as confidently labelled neighbours.)
#' 2. `"rare class"`: otherwise, if the cluster's predicted class (the most frequent predicted
#'    label in it) had fewer than `rare_cells` training cells: an isolated group the model may
#'    simply have seen too few examples of.
#' 3. `"new type"`: otherwise: an isolated group of low-confidence cells whose best guess is a
#'    class the model knew well; likely a cell type absent from the training data.
#'
#' @param x A prediction table: the `DataFrame` from [scnym_predict()], or a data.frame with
#'   columns `label`, `confidence` and, unless `space` is given, `embedding`; or a Seurat or
#'   SingleCellExperiment object, either annotated by [scnym_annotate()] (the metadata columns
#'   `key_added` and `<key_added>_confidence`, the reduction or reduced dimension
#'   `tolower(key_added)` and the run's record, for the training cells per class, are read) or
#'   to be predicted with `model`.
#' @param space Where to cluster. `NULL` (default): the scNym embedding (the `embedding` column of
#'   a prediction table, the reduction or reduced dimension `tolower(key_added)` of an object). A
#'   numeric matrix with a row per cell of `x` (matched by row names when both have them, else in
#'   order), e.g. principal components of the expression. For a Seurat or SingleCellExperiment
#'   object, also the name of one of its reductions or reduced dimensions, e.g. `"pca"`.
#' @param model The `scnym_model` that made the predictions. It supplies the number of training
#'   cells per class, and for a Seurat or SingleCellExperiment object, the predictions (then
#'   `x` is predicted afresh). Optional otherwise: without it the counts come from
#'   `training_counts`, else from the model summary in `metadata()` of a table from
#'   [scnym_predict()] or in the record of [scnym_annotate()]; without any, `n_training_cells`
#'   is `NA` and no cluster is called a rare class.
#' @param threshold Cells with confidence at or below this are candidates.
#' @param k Number of nearest neighbours in the graph (and in the boundary test).
#' @param resolutions Leiden resolution parameters to try.
#' @param rare_cells A predicted class with fewer training cells than this makes a `"rare class"`.
#' @param boundary_fraction Fraction of confidently labelled neighbours from which a cluster is
#'   a `"boundary"`.
#' @param known_confidence Confidence from which a neighbour counts as confidently labelled.
#' @param training_counts Optional number of training cells per class, a vector named by class;
#'   by default taken from `model` (see there).
#' @param seed Seed for Leiden's random moves (`NULL`: the session's RNG); the session's RNG
#'   state is restored afterwards.
#' @param key_added For objects: the prefix of the metadata columns read and written.
#' @param BPPARAM A [BiocParallel::BiocParallelParam-class] object (default
#'   [BiocParallel::SerialParam()]): the nearest-neighbour searches (of the graph and of the
#'   boundary test) split their cells among the workers ([BiocNeighbors::findKNN()]), and for an
#'   object with `model`, so does the prediction (see [scnym_predict()]). The result is
#'   identical to a serial run.
#' @param ... For a Seurat or SingleCellExperiment object: the arguments of the prediction-table
#'   method (`threshold`, `k`, `resolutions`, ...). Unused otherwise.
#' @return For a prediction table, an object of class `scnym_discovery`, a list with:
#' * `clusters`: one row per candidate cluster, largest first: `cluster` (`"N1"`, `"N2"`, ...),
#'   `n_cells`, `mean_confidence`, `predicted_class` (the most frequent predicted label),
#'   `predicted_fraction` (the share of cells with that label), `n_training_cells` (training cells
#'   of `predicted_class`), `confident_neighbor_fraction` (the share of the cells' neighbours
#'   with confidence `>= known_confidence`; see the rule above) and `call`
#'   (`"boundary"`, `"rare class"` or `"new type"`);
#' * `cells`: one row per candidate cell: `cell`, `cluster`, `label`, `confidence`;
#' * `partitions`: one row per resolution: `resolution`, `n_clusters`, `calinski_harabasz`
#'   (`NA` for a single cluster) and `chosen`;
#' * `settings`: the arguments used.
#'
#' For a Seurat or SingleCellExperiment object, the object, with metadata columns
#' `<key_added>_candidate` (the cluster of each candidate cell, `NA` for the others) and
#' `<key_added>_candidate_call` (the cluster's call), and the `scnym_discovery` object stored in
#' `Tool(x)` / the `tools` slot (Seurat, under `"scnym_discover"`) or `metadata(x)$scnym_discover`
#' (SingleCellExperiment).
#' @seealso [scnym_evaluate()] for the confidence of known and novel cells.
#' @examples
#' set.seed(1)
#' # three known types, confident; two unseen types, low confidence and apart in the embedding
#' centers <- matrix(rnorm(5 * 8, sd = 4), 5, 8)
#' type <- rep(1:5, each = 60)
#' emb <- centers[type, ] + matrix(rnorm(300 * 8), 300, 8)
#' pred <- data.frame(label = c("a", "b", "c", "a", "b")[type],
#'                    confidence = ifelse(type <= 3, 0.95, 0.4),
#'                    row.names = paste0("cell", 1:300))
#' pred$embedding <- emb
#' disc <- scnym_discover(pred, training_counts = c(a = 100, b = 100, c = 100))
#' disc$clusters
#' table(disc$cells$cluster, type[type > 3])
#' @export
scnym_discover <- function(x, ...) {
  UseMethod("scnym_discover")
}

#' @rdname scnym_discover
#' @export
scnym_discover.default <- function(x, ...) {
  scnym_abort(c("{.arg x} must be a prediction table, a Seurat object or a SingleCellExperiment.",
                x = "Got {.obj_type_friendly {x}}."), kind = "invalid_argument")
}

#' @rdname scnym_discover
#' @export
scnym_discover.data.frame <- function(x, model = NULL, threshold = 0.5, k = 15L,
                                      resolutions = c(0.1, 0.2, 0.3, 0.5, 1.0), rare_cells = 50L,
                                      boundary_fraction = 0.5, known_confidence = 0.9,
                                      training_counts = NULL, seed = 1L, space = NULL,
                                      BPPARAM = # nolint: object_name_linter.
                                        BiocParallel::SerialParam(), ...) {
  check_prediction_table(x, c("label", "confidence", if (is.null(space)) "embedding"), arg = "x")
  check_probability(threshold, "threshold")
  check_count(k, "k", min = 1)
  check_count(rare_cells, "rare_cells", min = 0)
  check_probability(boundary_fraction, "boundary_fraction")
  check_probability(known_confidence, "known_confidence")
  check_positive(resolutions, "resolutions")
  check_bpparam(BPPARAM)
  counts <- discovery_training_counts(model, training_counts) %||%
    model_class_counts(prediction_setting(x, "model"))
  emb <- discovery_space(x, space)
  cells <- rownames(x)
  if (is.null(cells)) cells <- as.character(seq_len(nrow(x)))
  label <- as.character(x$label)
  conf <- as.numeric(x$confidence)
  pruned <- if (is.null(x$pruned_label)) FALSE else is.na(x$pruned_label)
  cand <- which((!is.na(conf) & conf <= threshold) | pruned)
  settings <- list(threshold = threshold, k = as.integer(k), resolutions = resolutions,
                   rare_cells = rare_cells, boundary_fraction = boundary_fraction,
                   known_confidence = known_confidence, seed = seed,
                   space = if (is.null(space)) "scNym embedding" else attr(emb, "space_name"))

  if (length(cand) == 0) {
    cli::cli_inform(paste("No cell has confidence <= {threshold} or a pruned label: no candidate",
                          "clusters."))
    return(new_discovery(empty_clusters(), data.frame(cell = character(), cluster = character(),
                                                      label = character(), confidence = numeric()),
                         data.frame(resolution = resolutions, n_clusters = 0L,
                                    calinski_harabasz = NA_real_, chosen = FALSE),
                         settings))
  }
  fit <- leiden_best_partition(emb[cand, , drop = FALSE], k, resolutions, seed, BPPARAM)
  # clusters numbered by decreasing size
  ids <- sort(unique(fit$membership))
  ids <- ids[order(-tabulate(match(fit$membership, ids), length(ids)), ids)]
  cluster <- match(fit$membership, ids)
  confident_nb <- confident_neighbor_fraction(emb, cand, conf, k, known_confidence, BPPARAM)
  clusters <- describe_clusters(cluster, label[cand], conf[cand], confident_nb, counts,
                                rare_cells, boundary_fraction)
  cell_table <- data.frame(cell = cells[cand], cluster = paste0("N", cluster), label = label[cand],
                           confidence = conf[cand])
  new_discovery(clusters, cell_table, fit$partitions, settings)
}

#' @rdname scnym_discover
#' @export
scnym_discover.DataFrame <- function(x, ...) {
  scnym_discover.data.frame(x, ...)
}

# Boundary test: for each candidate cell (rows `cand` of `emb`), the fraction of its `k` nearest
# neighbours among all cells that the model labels with confidence >= `known_confidence`.
confident_neighbor_fraction <- function(emb, cand, conf, k, known_confidence,
                                        BPPARAM) { # nolint: object_name_linter.
  k_all <- min(as.integer(k), nrow(emb) - 1L)
  if (k_all < 1) return(rep(0, length(cand)))
  nn_all <- knn_search(emb, k_all, subset = cand, BPPARAM = BPPARAM)
  known <- !is.na(conf) & conf >= known_confidence
  rowMeans(matrix(known[nn_all], nrow = length(cand)))
}

# One row per candidate cluster (`cluster`: 1, 2, ... by decreasing size) with its call:
# "boundary", "rare class" or "new type" (see scnym_discover()).
describe_clusters <- function(cluster, label, conf, confident_nb, counts, rare_cells,
                              boundary_fraction) {
  rows <- lapply(seq_len(max(cluster)), function(j) {
    sel <- cluster == j
    tab <- sort(table(label[sel]), decreasing = TRUE)
    top <- names(tab)[1]
    n_train <- if (is.null(counts) || is.na(counts[top])) NA_real_ else unname(counts[top])
    cnf <- mean(confident_nb[sel])
    call <- if (cnf >= boundary_fraction) {
      "boundary"
    } else if (!is.na(n_train) && n_train < rare_cells) {
      "rare class"
    } else {
      "new type"
    }
    data.frame(cluster = paste0("N", j), n_cells = sum(sel), mean_confidence = mean(conf[sel]),
               predicted_class = top, predicted_fraction = as.numeric(tab[1]) / sum(sel),
               n_training_cells = n_train, confident_neighbor_fraction = cnf, call = call)
  })
  do.call(rbind, rows)
}

#' @rdname scnym_discover
#' @export
scnym_discover.Seurat <- function(x, ..., model = NULL, key_added = "scNym", space = NULL,
                                  BPPARAM = # nolint: object_name_linter.
                                    BiocParallel::SerialParam()) {
  discover_object(x, ..., model = model, key_added = key_added, space = space, BPPARAM = BPPARAM)
}

#' @rdname scnym_discover
#' @export
scnym_discover.SingleCellExperiment <- function(x, ..., model = NULL, key_added = "scNym",
                                                space = NULL,
                                                BPPARAM = # nolint: object_name_linter.
                                                  BiocParallel::SerialParam()) {
  discover_object(x, ..., model = model, key_added = key_added, space = space, BPPARAM = BPPARAM)
}

#' @method print scnym_discovery
#' @export
print.scnym_discovery <- function(x, ...) {
  s <- x$settings # nolint: object_usage_linter. (used in cli strings)
  n <- nrow(x$cells)
  if (n == 0) {
    cat(cli::format_inline("{.cls scnym_discovery}: no cell with confidence <= ",
                           "{s$threshold}."), "\n")
    return(invisible(x))
  }
  chosen <- x$partitions[x$partitions$chosen, , drop = FALSE] # nolint: object_usage_linter.
  cat(cli::format_inline(
    "{.cls scnym_discovery}: {n} candidate cell{?s} (confidence <= {s$threshold}) in ",
    "{nrow(x$clusters)} cluster{?s} (Leiden in the {s$space %||% 'scNym embedding'}, ",
    "resolution {chosen$resolution}: the best Calinski-Harabasz score of ",
    "{nrow(x$partitions)} resolution{?s})"), "\n")
  cl <- x$clusters
  num <- c("mean_confidence", "predicted_fraction", "confident_neighbor_fraction")
  cl[num] <- lapply(cl[num], round, 3)
  print(cl, row.names = FALSE)
  invisible(x)
}

# ---- internals ---------------------------------------------------------------------------------

# Discovery in a Seurat or SingleCellExperiment object, on the predictions of `model` or on
# those scnym_annotate() wrote; the calls are written back as cell columns and the result as a
# record.
discover_object <- function(x, ..., model, key_added, space,
                            BPPARAM, # nolint: object_name_linter.
                            call = rlang::caller_env()) {
  check_bpparam(BPPARAM, call = call)
  pred <- if (is.null(model)) {
    read_predictions(x, key_added, embedding = is.null(space), call = call)
  } else {
    scnym_predict(model, x, BPPARAM = BPPARAM)
  }
  res <- scnym_discover(pred, model = model, ..., space = object_space(x, space, call = call),
                        BPPARAM = BPPARAM)
  x <- write_cell_columns(x, discovery_columns(res, colnames(x), key_added))
  write_record(x, "scnym_discover", res)
}

# The coordinates to cluster in: the prediction table's embedding, or `space` aligned to its rows.
discovery_space <- function(x, space, call = rlang::caller_env()) {
  if (is.null(space)) {
    return(check_numeric_matrix(x$embedding, "x$embedding", call = call))
  }
  if (is.character(space)) {
    scnym_abort(c("{.arg space} names a reduction, but a prediction table has none.",
                  i = paste("Pass the coordinates as a matrix, or call on the Seurat or",
                            "SingleCellExperiment object.")),
                kind = "invalid_argument", call = call)
  }
  name <- attr(space, "space_name")
  sp <- check_numeric_matrix(space, "space", call = call)
  if (!is.null(rownames(sp)) && !is.null(rownames(x))) {
    idx <- match(rownames(x), rownames(sp))
    if (anyNA(idx)) {
      scnym_abort(c("{.arg space} has no row for {sum(is.na(idx))} cell{?s} of {.arg x}.",
                    i = "Give it a row per cell, named like the rows of {.arg x}."),
                  kind = "invalid_argument", call = call)
    }
    sp <- sp[idx, , drop = FALSE]
  } else if (nrow(sp) != nrow(x)) {
    scnym_abort(c("{.arg space} must have a row per cell of {.arg x}.",
                  x = "It has {nrow(sp)} row{?s}; {.arg x} has {nrow(x)}."),
                kind = "invalid_argument", call = call)
  }
  structure(sp, space_name = if (is.null(name)) "user matrix" else name)
}

# `space` of an object method: a reduction name resolved to its coordinates, else as given.
object_space <- function(x, space, call = rlang::caller_env()) {
  if (!is.character(space)) return(space)
  if (length(space) != 1L || is.na(space)) {
    scnym_abort(c("{.arg space} must be one reduction name or a matrix.",
                  x = "Got {.val {space}}."), kind = "invalid_argument", call = call)
  }
  emb <- read_reduction(x, space)
  if (is.null(emb)) {
    have <- reduction_names(x)
    scnym_abort(c("{.arg x} has no reduction {.val {space}}.",
                  i = if (length(have)) "It has {.val {have}}." else "It has none.",
                  i = "Compute one first (e.g. principal components), or pass a matrix."),
                kind = "invalid_argument", call = call)
  }
  structure(as.matrix(emb), space_name = space)
}

new_discovery <- function(clusters, cells, partitions, settings) {
  structure(list(clusters = clusters, cells = cells, partitions = partitions,
                 settings = settings), class = "scnym_discovery")
}

empty_clusters <- function() {
  data.frame(cluster = character(), n_cells = integer(), mean_confidence = numeric(),
             predicted_class = character(), predicted_fraction = numeric(),
             n_training_cells = numeric(), confident_neighbor_fraction = numeric(),
             call = character())
}

# Training cells per class, named by class, from the model or the user; NULL when unknown.
discovery_training_counts <- function(model, training_counts, call = rlang::caller_env()) {
  if (!is.null(training_counts)) {
    if (!is.numeric(training_counts) || is.null(names(training_counts))) {
      scnym_abort(c("{.arg training_counts} must be a numeric vector named by class.",
                    x = "Got {.obj_type_friendly {training_counts}}."),
                  kind = "invalid_argument", call = call)
    }
    return(training_counts)
  }
  if (is.null(model)) return(NULL)
  if (!inherits(model, "scnym_model")) {
    scnym_abort(c("{.arg model} must be an {.cls scnym_model}.",
                  x = "Got {.obj_type_friendly {model}}."), kind = "invalid_argument", call = call)
  }
  model_class_counts(model)
}

# Number of training cells per class of a model, named by class.
model_class_counts <- function(model) {
  counts <- model_field(model, "class_counts")
  classes <- model_field(model, "classes")
  if (is.null(counts)) return(NULL)
  if (is.data.frame(counts)) {
    nm <- intersect(c("class", "label"), names(counts))[1]
    val <- setdiff(names(counts)[vapply(counts, is.numeric, logical(1))], nm)[1]
    return(stats::setNames(as.numeric(counts[[val]]), as.character(counts[[nm]])))
  }
  counts <- unlist(counts)
  if (is.null(names(counts))) names(counts) <- classes
  stats::setNames(as.numeric(counts), names(counts))
}

# Build the kNN graph of the candidate cells, run Leiden at each resolution, pick the partition
# with the best Calinski-Harabasz score.
leiden_best_partition <- function(emb, k, resolutions, seed,
                                  BPPARAM) { # nolint: object_name_linter.
  n <- nrow(emb)
  if (n < 3) {
    return(list(membership = rep(1L, n),
                partitions = data.frame(resolution = resolutions, n_clusters = 1L,
                                        calinski_harabasz = NA_real_,
                                        chosen = seq_along(resolutions) == 1)))
  }
  g <- knn_graph(emb, min(as.integer(k), n - 1L), BPPARAM)
  memberships <- with_rng_seed(seed, lapply(resolutions, function(r) {
    cl <- igraph::cluster_leiden(g, objective_function = "modularity",
                                 resolution_parameter = r, n_iterations = -1)
    as.integer(igraph::membership(cl))
  }))
  ch <- vapply(memberships, function(m) calinski_harabasz(emb, m), numeric(1))
  best <- if (all(is.na(ch))) 1L else which.max(ch)
  list(membership = memberships[[best]],
       partitions = data.frame(resolution = resolutions,
                               n_clusters = vapply(memberships, function(m) length(unique(m)),
                                                   integer(1)),
                               calinski_harabasz = ch, chosen = seq_along(resolutions) == best))
}

# Undirected, unweighted k-nearest-neighbour graph (an edge when either cell is among the other's
# k nearest neighbours), searched on the BPPARAM workers.
knn_graph <- function(emb, k, BPPARAM = BiocParallel::SerialParam()) { # nolint: object_name_linter.
  nn <- knn_search(emb, k, BPPARAM = BPPARAM)
  edges <- cbind(rep(seq_len(nrow(emb)), times = k), as.vector(nn))
  g <- igraph::graph_from_edgelist(edges, directed = FALSE)
  g <- igraph::add_vertices(g, max(0, nrow(emb) - igraph::vcount(g)))
  igraph::simplify(g)
}

# Calinski-Harabasz index: (between-cluster dispersion / (K - 1)) / (within / (n - K)); NA when
# K < 2 or K = n.
calinski_harabasz <- function(x, membership) {
  n <- nrow(x)
  groups <- unique(membership)
  kk <- length(groups)
  if (kk < 2 || kk >= n) return(NA_real_)
  mu <- colMeans(x)
  f <- factor(membership, levels = groups)
  sums <- rowsum(x, f, reorder = FALSE)
  sizes <- as.vector(table(f))
  centers <- sums / sizes
  between <- sum(sizes * rowSums((centers - matrix(mu, kk, ncol(x), byrow = TRUE))^2))
  within <- sum((x - centers[as.integer(f), , drop = FALSE])^2)
  if (within == 0) return(Inf)
  (between / (kk - 1)) / (within / (n - kk))
}

# A field of a model: top level (as scnym_train() builds it) or under `meta`.
model_field <- function(model, name) {
  v <- model[[name]]
  if (is.null(v) && is.list(model$meta)) v <- model$meta[[name]]
  v
}

# The cell columns scnym_discover() writes: each candidate cell's cluster and the cluster's
# call (NA for the other cells), a row per cell of `cells`.
discovery_columns <- function(res, cells, key_added) {
  cl <- rep(NA_character_, length(cells))
  call <- rep(NA_character_, length(cells))
  i <- match(res$cells$cell, cells)
  cl[i] <- res$cells$cluster
  call[i] <- res$clusters$call[match(res$cells$cluster, res$clusters$cluster)]
  out <- data.frame(cl, call, row.names = cells, stringsAsFactors = FALSE)
  names(out) <- paste0(key_added, c("_candidate", "_candidate_call"))
  out
}
