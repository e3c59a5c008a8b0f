# Diagnostic plots (ggplot2): confidence, probability heatmap, calibration, training history and
# the embedding.

#' @importFrom rlang .data
NULL

#' Confidence of the predictions, per predicted label
#'
#' A violin of the confidence of the cells given each label, with the cells as points, and the
#' pruning threshold as a dashed line. With `truth`, points show whether the label was right.
#'
#' @param x A prediction table from [scnym_predict()], or a Seurat or SingleCellExperiment object
#'   annotated by [scnym_annotate()].
#' @param truth Optional true labels (as in [scnym_evaluate()]): points are coloured by whether
#'   the prediction is correct.
#' @param threshold Where to draw the pruning threshold (`NULL`: none). By default the
#'   `prune_below` attribute of the table, else [scnym_predict()]'s default (0.4).
#' @param max_points Largest number of cells drawn as points (a random sample beyond it; the
#'   violins use every cell).
#' @param key_added For objects: the metadata prefix written by [scnym_annotate()].
#' @return A ggplot object.
#' @family diagnostic plots
#' @examples
#' set.seed(1)
#' p <- matrix(rexp(600), 200, 3, dimnames = list(NULL, c("B", "T", "NK")))
#' p <- p / rowSums(p)
#' pred <- data.frame(label = colnames(p)[max.col(p)], confidence = apply(p, 1, max))
#' scnym_plot_confidence(pred)
#' @export
scnym_plot_confidence <- function(x, truth = NULL, threshold = NULL, max_points = 5000L,
                                  key_added = "scNym") {
  pred <- plot_input(x, key_added, c("label", "confidence"))
  check_count(max_points, "max_points", min = 0)
  if (is.null(threshold)) {
    threshold <- prediction_setting(pred, "prune_below")
    if (is.null(threshold)) threshold <- formals(scnym_predict)$prune_below
  }
  df <- data.frame(label = as.character(pred$label), confidence = pred$confidence)
  df$label[is.na(df$label)] <- "<NA>"
  counts <- table(df$label)
  df$label <- factor(df$label, levels = names(sort(counts, decreasing = TRUE)))
  if (!is.null(truth)) {
    truth <- align_cell_vector(truth, pred, "truth")
    df$prediction <- ifelse(is.na(truth), "no truth",
                            ifelse(as.character(df$label) == truth, "correct", "wrong"))
  }
  pts <- df
  if (nrow(pts) > max_points) {
    pts <- pts[with_rng_seed(1L, sample.int(nrow(pts), max_points)), , drop = FALSE]
  }
  p <- ggplot2::ggplot(df, ggplot2::aes(x = .data$label, y = .data$confidence)) +
    ggplot2::geom_violin(scale = "width", fill = "grey90", colour = "grey60")
  p <- if (is.null(truth)) {
    p + ggplot2::geom_jitter(data = pts, width = 0.25, height = 0, size = 0.5, alpha = 0.5)
  } else {
    p + ggplot2::geom_jitter(data = pts, ggplot2::aes(colour = .data$prediction), width = 0.25,
                             height = 0, size = 0.5, alpha = 0.6) +
      ggplot2::scale_colour_manual(values = c(correct = "#1b9e77", wrong = "#d95f02",
                                              `no truth` = "grey50"), name = NULL)
  }
  if (!is.null(threshold)) {
    p <- p + ggplot2::geom_hline(yintercept = threshold, linetype = "dashed", colour = "firebrick")
  }
  p + ggplot2::scale_y_continuous(limits = c(0, 1)) +
    ggplot2::labs(x = "predicted label", y = "confidence") +
    ggplot2::theme_bw() +
    ggplot2::theme(axis.text.x = ggplot2::element_text(angle = 45, hjust = 1))
}

#' Heatmap of class probabilities, cells by classes
#'
#' In the spirit of SingleR's score heatmap: one column per cell, one row per class, coloured by
#' the probability of that class; cells are grouped by their predicted label (or by `group`)
#' and ordered by confidence within a group. A clean prediction shows one bright row per group;
#' cells torn between classes show two.
#'
#' @param x A prediction table from [scnym_predict()] with its `probabilities` column.
#' @param group Optional grouping of the cells (one value per cell, for example the true labels);
#'   default: the predicted label.
#' @param max_cells Largest number of cells shown (a random sample, stratified by group, beyond
#'   it).
#' @param seed Seed of that sample; the session's RNG state is restored afterwards.
#' @return A ggplot object.
#' @family diagnostic plots
#' @examples
#' set.seed(1)
#' p <- matrix(rexp(600), 200, 3, dimnames = list(NULL, c("B", "T", "NK")))
#' p <- p^3 / rowSums(p^3)
#' pred <- data.frame(label = colnames(p)[max.col(p)], confidence = apply(p, 1, max))
#' pred$probabilities <- p
#' scnym_plot_probabilities(pred)
#' @export
scnym_plot_probabilities <- function(x, group = NULL, max_cells = 2000L, seed = 1L) {
  check_prediction_table(x, c("label", "confidence", "probabilities"), arg = "x")
  check_count(max_cells, "max_cells", min = 1)
  prob <- prediction_probabilities(x)
  grp <- if (is.null(group)) as.character(x$label) else align_cell_vector(group, x, "group")
  grp[is.na(grp)] <- "<NA>"
  keep <- seq_len(nrow(x))
  if (length(keep) > max_cells) {
    keep <- with_rng_seed(seed, {
      share <- max_cells / length(keep)
      unlist(lapply(split(keep, grp), function(i) {
        i[sample.int(length(i), max(1L, round(length(i) * share)))]
      }), use.names = FALSE)
    })
  }
  ord <- keep[order(grp[keep], -x$confidence[keep])]
  classes <- colnames(prob)
  df <- data.frame(
    cell = factor(rep(seq_along(ord), times = length(classes))),
    class = factor(rep(classes, each = length(ord)), levels = rev(classes)),
    probability = as.vector(prob[ord, , drop = FALSE]),
    group = factor(rep(grp[ord], times = length(classes)),
                   levels = intersect(c(classes, sort(unique(grp))), unique(grp)))
  )
  ggplot2::ggplot(df, ggplot2::aes(x = .data$cell, y = .data$class, fill = .data$probability)) +
    ggplot2::geom_raster() +
    ggplot2::facet_grid(~group, scales = "free_x", space = "free_x") +
    ggplot2::scale_fill_viridis_c(limits = c(0, 1), name = "probability") +
    ggplot2::labs(x = if (is.null(group)) "cells, by predicted label" else "cells, by group",
                  y = "class") +
    ggplot2::theme_minimal() +
    ggplot2::theme(axis.text.x = ggplot2::element_blank(), axis.ticks.x = ggplot2::element_blank(),
                   panel.grid = ggplot2::element_blank(), panel.spacing.x = ggplot2::unit(1, "pt"),
                   strip.text.x = ggplot2::element_text(angle = 90, hjust = 0))
}

#' Calibration curve (reliability diagram)
#'
#' Accuracy against mean confidence in each confidence bin, with the diagonal of perfect
#' calibration; point size shows how many cells a bin holds. Several curves (for example before
#' and after temperature scaling) are drawn in one panel.
#'
#' @param x An `scnym_evaluation` from [scnym_evaluate()], an `scnym_calibration` from
#'   [scnym_calibration()], a named list of `scnym_evaluation` objects (one curve each), or a
#'   prediction table (then give `truth`).
#' @param truth True labels, when `x` is a prediction table.
#' @param n_bins Number of bins, when `x` is a prediction table.
#' @return A ggplot object.
#' @family diagnostic plots
#' @examples
#' set.seed(1)
#' conf <- runif(500, 0.3, 1)
#' pred <- data.frame(label = rep("a", 500), confidence = conf)
#' truth <- ifelse(runif(500) < conf^2, "a", "b")
#' scnym_plot_calibration(pred, truth)
#' @export
scnym_plot_calibration <- function(x, truth = NULL, n_bins = 10L) {
  curves <- calibration_curves(x, truth, n_bins)
  df <- curves$data[curves$data$n_cells > 0, , drop = FALSE]
  several <- length(unique(df$setting)) > 1
  aes_pts <- if (several) {
    ggplot2::aes(x = .data$confidence, y = .data$accuracy, colour = .data$setting)
  } else {
    ggplot2::aes(x = .data$confidence, y = .data$accuracy)
  }
  ggplot2::ggplot(df, aes_pts) +
    ggplot2::geom_abline(slope = 1, intercept = 0, linetype = "dashed", colour = "grey50") +
    ggplot2::geom_line() +
    ggplot2::geom_point(ggplot2::aes(size = .data$n_cells)) +
    ggplot2::scale_size_area(max_size = 5, name = "cells") +
    ggplot2::coord_equal(xlim = c(0, 1), ylim = c(0, 1)) +
    ggplot2::labs(x = "mean confidence in bin", y = "accuracy in bin", colour = NULL,
                  subtitle = curves$subtitle) +
    ggplot2::theme_bw()
}

calibration_curves <- function(x, truth, n_bins, call = rlang::caller_env()) {
  evs <- if (inherits(x, "scnym_evaluation")) {
    list(x)
  } else if (inherits(x, "scnym_calibration")) {
    x$evaluations
  } else if (is_prediction_table(x)) {
    if (is.null(truth)) {
      scnym_abort(c("{.arg truth} is needed to plot the calibration of a prediction table."),
                  kind = "invalid_argument", call = call)
    }
    list(scnym_evaluate(x, truth, n_bins = n_bins))
  } else if (is.list(x) && length(x) && all(vapply(x, inherits, logical(1), "scnym_evaluation"))) {
    if (is.null(names(x)) || any(!nzchar(names(x)))) names(x) <- paste("curve", seq_along(x))
    x
  } else {
    scnym_abort(c(paste("{.arg x} must be an evaluation, a calibration report, a list of",
                        "evaluations or a prediction table."),
                  x = "Got {.obj_type_friendly {x}}."), kind = "invalid_argument", call = call)
  }
  if (is.null(names(evs))) names(evs) <- "predictions"
  data <- do.call(rbind, lapply(names(evs), function(nm) {
    cbind(evs[[nm]]$calibration, setting = nm)
  }))
  data$setting <- factor(data$setting, levels = names(evs))
  subtitle <- paste(vapply(names(evs), function(nm) {
    s <- evs[[nm]]$summary
    sprintf("%sECE %.3f, OE %.3f", if (length(evs) > 1) paste0(nm, ": ") else "", s$ece, s$oe)
  }, character(1)), collapse = "; ")
  list(data = data, subtitle = subtitle)
}

#' Training history of a model
#'
#' Per epoch: the training losses (total, supervised, semisupervised, adversarial) and the
#' validation loss; the weights of the semisupervised loss and of the adversary; the validation
#' accuracy. A dotted line marks the epoch whose weights were kept.
#'
#' @param model An `scnym_model`.
#' @return A ggplot object.
#' @family diagnostic plots
#' @examples
#' # a model-like object with a made-up history
#' h <- data.frame(epoch = 1:30, loss = exp(-(1:30) / 10) + 0.2, loss_sup = exp(-(1:30) / 10),
#'                 loss_ssl = 0.05, loss_adv = 0.7, ssl_weight = (1:30) / 100,
#'                 adv_weight = 0.1, val_loss = exp(-(1:30) / 12) + 0.25,
#'                 val_accuracy = 1 - exp(-(1:30) / 8) / 2, is_best = (1:30) == 25,
#'                 seconds = 1)
#' m <- structure(list(history = h, best_epoch = 25L), class = "scnym_model")
#' scnym_plot_history(m)
#' @export
scnym_plot_history <- function(model) {
  if (!inherits(model, "scnym_model")) {
    scnym_abort(c("{.arg model} must be an {.cls scnym_model}.",
                  x = "Got {.obj_type_friendly {model}}."), kind = "invalid_argument")
  }
  h <- model_field(model, "history")
  if (is.null(h) || nrow(h) == 0) {
    scnym_abort("The model has no training history.", kind = "invalid_argument")
  }
  series <- list(
    loss = c(loss = "total", loss_sup = "supervised", loss_ssl = "semisupervised",
             loss_adv = "adversarial", val_loss = "validation"),
    `loss weight` = c(ssl_weight = "semisupervised", adv_weight = "adversarial"),
    `validation accuracy` = c(val_accuracy = "validation")
  )
  df <- do.call(rbind, lapply(names(series), function(panel) {
    s <- series[[panel]]
    s <- s[names(s) %in% names(h)]
    do.call(rbind, lapply(names(s), function(col) {
      data.frame(epoch = h$epoch, value = as.numeric(h[[col]]), series = s[[col]], panel = panel)
    }))
  }))
  df <- df[!is.na(df$value), , drop = FALSE]
  df$panel <- factor(df$panel, levels = names(series))
  df$series <- factor(df$series, levels = unique(unlist(series)))
  best <- model_field(model, "best_epoch")
  p <- ggplot2::ggplot(df, ggplot2::aes(x = .data$epoch, y = .data$value, colour = .data$series)) +
    ggplot2::geom_line() +
    ggplot2::facet_wrap(~panel, ncol = 1, scales = "free_y") +
    ggplot2::labs(x = "epoch", y = NULL, colour = NULL) +
    ggplot2::theme_bw()
  if (length(best) == 1 && !is.na(best)) {
    p <- p + ggplot2::geom_vline(xintercept = best, linetype = "dotted")
  }
  p
}

#' UMAP of the scNym embedding
#'
#' Projects the 256-dimensional scNym embedding to two dimensions with UMAP ([uwot::umap()]) and
#' colours the cells by predicted label, confidence, domain or any per-cell value. Compute the
#' projection once with [scnym_umap()] and pass it as `coords` to draw several colourings.
#'
#' @param x A prediction table from [scnym_predict()] (with its `embedding` column), or a Seurat
#'   or SingleCellExperiment object annotated by [scnym_annotate()].
#' @param color_by `"label"`, `"confidence"`, `"pruned_label"`, `"domain"` (then give `domain`),
#'   or a vector with one value per cell (numbers give a continuous scale).
#' @param domain Domain of each cell, for `color_by = "domain"`.
#' @param coords Optional two-column matrix of coordinates from [scnym_umap()] (rows named by
#'   cell or in the order of `x`).
#' @param point_size Point size.
#' @param key_added For objects: the metadata prefix written by [scnym_annotate()].
#' @param ... Passed to [scnym_umap()] when `coords` is `NULL`.
#' @return A ggplot object (its data holds the coordinates `umap_1`, `umap_2` and `colour`).
#' @family diagnostic plots
#' @examples
#' set.seed(1)
#' type <- rep(c("B", "T", "NK"), each = 50)
#' emb <- matrix(rnorm(150 * 10), 150, 10) + 3 * (type == "B") - 3 * (type == "NK")
#' pred <- data.frame(label = type, confidence = runif(150, 0.5, 1))
#' pred$embedding <- emb
#' if (requireNamespace("uwot", quietly = TRUE)) {
#'   scnym_plot_embedding(pred, color_by = "confidence")
#' }
#' # with coordinates of your own, uwot is not needed
#' scnym_plot_embedding(pred, coords = emb[, c(1, 2)], color_by = "label")
#' @export
scnym_plot_embedding <- function(x, color_by = "label", domain = NULL, coords = NULL,
                                 point_size = 0.6, key_added = "scNym", ...) {
  pred <- plot_input(x, key_added, c("label", "confidence", "embedding"))
  coords <- if (is.null(coords)) scnym_umap(pred, ...) else embedding_coords(coords, pred)
  if (is.character(color_by) && length(color_by) == 1 && nrow(pred) != 1) {
    legend <- color_by
    colour <- embedding_colour(pred, color_by, domain)
  } else {
    legend <- "value"
    colour <- align_cell_vector(color_by, pred, "color_by")
  }
  df <- data.frame(umap_1 = coords[, 1], umap_2 = coords[, 2])
  df$colour <- colour
  p <- ggplot2::ggplot(df, ggplot2::aes(x = .data$umap_1, y = .data$umap_2,
                                        colour = .data$colour)) +
    ggplot2::geom_point(size = point_size, stroke = 0) +
    ggplot2::labs(x = "UMAP 1", y = "UMAP 2", colour = legend) +
    ggplot2::theme_bw() + ggplot2::coord_equal()
  if (is.numeric(colour)) {
    p + ggplot2::scale_colour_viridis_c()
  } else {
    p + ggplot2::guides(colour = ggplot2::guide_legend(override.aes = list(size = 2)))
  }
}

# scnym_plot_embedding()'s `coords`, checked, in the order of the cells of `pred`.
embedding_coords <- function(coords, pred, call = rlang::caller_env()) {
  coords <- check_numeric_matrix(coords, "coords", call = call)
  if (ncol(coords) != 2) {
    scnym_abort(c("{.arg coords} must have two columns.", x = "It has {ncol(coords)}."),
                kind = "invalid_argument", call = call)
  }
  if (!is.null(rownames(coords)) && !is.null(rownames(pred)) &&
      all(rownames(pred) %in% rownames(coords))) {
    coords <- coords[rownames(pred), , drop = FALSE]
  } else if (nrow(coords) != nrow(pred)) {
    scnym_abort(c("{.arg coords} must have one row per cell.",
                  x = "It has {nrow(coords)} row{?s} for {nrow(pred)} cell{?s}."),
                kind = "invalid_argument", call = call)
  }
  coords
}

# The values scnym_plot_embedding() colours by, for `color_by` given as a name.
embedding_colour <- function(pred, color_by, domain, call = rlang::caller_env()) {
  switch(color_by,
    label = as.character(pred$label),
    confidence = pred$confidence,
    pruned_label = {
      if (is.null(pred$pruned_label)) {
        scnym_abort("{.arg x} has no {.field pruned_label} column.", kind = "invalid_argument",
                    call = call)
      }
      ifelse(is.na(pred$pruned_label), "(pruned)", as.character(pred$pruned_label))
    },
    domain = {
      if (is.null(domain)) {
        scnym_abort(c("{.code color_by = \"domain\"} needs {.arg domain}.",
                      i = "Give the domain of each cell."), kind = "invalid_argument", call = call)
      }
      as.character(align_cell_vector(domain, pred, "domain", call = call))
    },
    {
      choices <- c("label", "confidence", "pruned_label", "domain") # nolint: object_usage_linter.
      scnym_abort(c("Unknown {.arg color_by} {.val {color_by}}.",
                    i = "Use {.or {.val {choices}}}, or a vector with one value per cell."),
                  kind = "invalid_argument", call = call)
    }
  )
}

#' UMAP coordinates of the scNym embedding
#'
#' @param x A prediction table from [scnym_predict()] (with its `embedding` column), a Seurat or
#'   SingleCellExperiment object annotated by [scnym_annotate()], or a numeric matrix (cells by
#'   dimensions).
#' @param n_neighbors,min_dist UMAP parameters (see [uwot::umap()]).
#' @param seed Seed of UMAP's random initialisation and optimisation (single-threaded, so
#'   reproducible); the session's RNG state is restored afterwards.
#' @param key_added For objects: the metadata prefix written by [scnym_annotate()].
#' @return A matrix with one row per cell (row names: cell names) and columns `umap_1`, `umap_2`.
#' @family diagnostic plots
#' @examples
#' if (requireNamespace("uwot", quietly = TRUE)) {
#'   emb <- matrix(rnorm(100 * 5), 100, 5)
#'   head(scnym_umap(emb))
#' }
#' @export
scnym_umap <- function(x, n_neighbors = 15L, min_dist = 0.3, seed = 1L, key_added = "scNym") {
  rlang::check_installed("uwot", reason = "to compute UMAP coordinates.")
  if (is.matrix(x)) {
    emb <- x
  } else {
    pred <- plot_input(x, key_added, "embedding")
    emb <- pred$embedding
    rownames(emb) <- rownames(pred)
  }
  emb <- check_numeric_matrix(emb, "embedding")
  check_count(n_neighbors, "n_neighbors", min = 2)
  nn <- min(as.integer(n_neighbors), nrow(emb) - 1L)
  if (nn < 2) {
    scnym_abort("UMAP needs at least 3 cells.", kind = "invalid_argument")
  }
  coords <- with_rng_seed(seed, uwot::umap(emb, n_neighbors = nn, min_dist = min_dist,
                                           n_threads = 1, n_sgd_threads = 0, verbose = FALSE))
  coords <- as.matrix(coords)
  dimnames(coords) <- list(rownames(emb), c("umap_1", "umap_2"))
  coords
}

# A prediction table from a table or an annotated object, with the needed columns.
plot_input <- function(x, key_added, columns, call = rlang::caller_env()) {
  if (inherits(x, c("Seurat", "SingleCellExperiment"))) {
    x <- read_predictions(x, key_added, embedding = "embedding" %in% columns, call = call)
    columns <- intersect(columns, names(x))
  }
  check_prediction_table(x, columns, arg = "x", call = call)
  x
}

#' @rdname scnym_plot_history
#' @param object An `scnym_model` (for `autoplot()`).
#' @param ... Unused.
#' @rawNamespace S3method(ggplot2::autoplot, scnym_model)
autoplot.scnym_model <- function(object, ...) { # nolint: object_name_linter.
  scnym_plot_history(object)
}

#' @rdname scnym_plot_calibration
#' @param object An `scnym_evaluation` or `scnym_calibration` (for `autoplot()`).
#' @param ... Unused.
#' @rawNamespace S3method(ggplot2::autoplot, scnym_evaluation)
autoplot.scnym_evaluation <- function(object, ...) { # nolint: object_name_linter.
  scnym_plot_calibration(object)
}

#' @rdname scnym_plot_calibration
#' @rawNamespace S3method(ggplot2::autoplot, scnym_calibration)
autoplot.scnym_calibration <- function(object, ...) { # nolint: object_name_linter.
  scnym_plot_calibration(object)
}
