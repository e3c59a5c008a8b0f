# The `scnym_model` class: everything serialisable (the engine's model file as a raw vector and
# its parsed metadata) plus a cache environment holding the native model handle, rebuilt from
# the bytes on demand, so that saveRDS()/readRDS() and sessions in between work.

#' Build an scnym_model from the engine's model bytes and metadata
#'
#' @param bytes Raw vector: the engine's portable model file (safetensors weights + JSON).
#' @param meta_json The model's metadata as JSON (from the core).
#' @param handle Optional native handle already holding this model.
#' @param training Optional list of R-side facts about the training run.
#' @noRd
new_scnym_model <- function(bytes, meta_json, handle = NULL, training = NULL) {
  view <- model_view(meta_json)
  cache <- new.env(parent = emptyenv())
  cache$handle <- handle
  cache$view <- view
  structure(c(list(bytes = bytes), view, list(training = training, cache = cache)),
            class = "scnym_model")
}

#' The fields of an `scnym_model` that mirror its model file, from the file's metadata
#'
#' They are read-only: `model_handle()` checks on every use that the model's fields still equal
#' these, so that predictions in memory cannot disagree with the saved file.
#' @param meta_json The model's metadata as JSON (from the core).
#' @noRd
model_view <- function(meta_json) {
  meta <- jsonlite::fromJSON(meta_json, simplifyVector = TRUE)
  class_counts <- as.integer(meta$class_counts)
  names(class_counts) <- meta$classes
  # parsed unsimplified: levels of equal length would become a matrix
  covariates <- jsonlite::parse_json(meta_json)$covariates
  cov_names <- vapply(covariates, function(cv) cv$name, "")
  levels <- stats::setNames(lapply(covariates, function(cv) as.character(unlist(cv$levels))),
                            cov_names)
  domains <- if (length(levels) == 1L) {
    levels[[1L]]
  } else {
    unlist(lapply(cov_names, function(k) paste0(k, ":", levels[[k]])))
  }
  list(
    config = config_object(meta$config),
    genes = as.character(meta$genes),
    classes = as.character(meta$classes),
    domains = domains,
    covariates = levels,
    domain_weights = stats::setNames(vapply(covariates, function(cv) as.numeric(cv$weight), 0),
                                     cov_names),
    class_counts = class_counts,
    history = history_frame(meta$history),
    best_epoch = as.integer(meta$best_epoch),
    temperature = as.numeric(meta$temperature),
    versions = meta$versions,
    format_version = meta$format_version,
    ensemble_size = as.integer(meta$ensemble_size %||% 1L),
    member_seeds = as.numeric(meta$member_seeds %||% meta$config$seed),
    member_genes = as.integer(meta$member_genes %||% length(meta$genes)),
    reference_sample = as.integer(meta$reference_sample$n_cells %||% 0L)
  )
}

# The per-epoch history as a data.frame (one row per epoch).
history_frame <- function(history) {
  cols <- c("epoch", "loss", "loss_sup", "loss_ssl", "loss_adv", "ssl_weight", "adv_weight",
            "val_loss", "val_accuracy", "is_best", "seconds")
  if (length(history) == 0L || (is.data.frame(history) && nrow(history) == 0L)) {
    out <- as.data.frame(stats::setNames(rep(list(numeric()), length(cols)), cols))
    out$epoch <- integer()
    out$is_best <- logical()
    return(out)
  }
  history <- as.data.frame(history)
  for (col in setdiff(cols, names(history))) history[[col]] <- NA_real_
  history <- history[c(cols, setdiff(names(history), cols))]
  history$epoch <- as.integer(history$epoch)
  history$is_best <- as.logical(history$is_best)
  for (col in setdiff(cols, c("epoch", "is_best"))) {
    history[[col]] <- as.numeric(history[[col]])
  }
  rownames(history) <- NULL
  history
}

#' The native handle of a model (rebuilt from its bytes when absent)
#'
#' After `readRDS()` (or in a new session) the cached external pointer is NULL; the model is then
#' rebuilt from `model$bytes` once and cached again.
#' @param model An `scnym_model`.
#' @return An external pointer to the core's model.
#' @noRd
model_handle <- function(model, call = rlang::caller_env()) {
  check_model(model, call = call)
  cache <- model$cache
  if (!is.environment(cache)) {
    cache <- new.env(parent = emptyenv())
  }
  if (is.null(cache$handle) || !handle_alive(cache$handle)) {
    loaded <- rust_result(rs_model_from_bytes(model$bytes), call = call)
    cache$handle <- loaded$handle
    cache$view <- model_view(loaded$meta)
  }
  check_model_view(model, cache$view, call = call)
  cache$handle
}

# Refuses a model whose fields were edited after it was built (they no longer describe its
# weights).
check_model_view <- function(model, view, call) {
  changed <- names(view)[!vapply(names(view), function(f) identical(model[[f]], view[[f]]),
                                 logical(1))]
  if (length(changed)) {
    scnym_abort(c(paste("The field{?s} {.field {changed}} of {.arg model} {?was/were} changed",
                        "after it was built and no longer match{?es/} its weights."),
                  i = paste("The fields of an {.cls scnym_model} are read-only: use the model as",
                            "{.fn scnym_train} or {.fn scnym_load} returned it.")),
                kind = "invalid_argument", call = call)
  }
  invisible(model)
}

# An external pointer restored by readRDS() is NULL; a live one is not.
handle_alive <- function(handle) {
  typeof(handle) == "externalptr" && !identical(handle, methods::new("externalptr"))
}

# Validation accuracy and loss at the best epoch.
model_best <- function(model) {
  h <- model$history
  row <- h[h$epoch == model$best_epoch, , drop = FALSE]
  if (nrow(row) == 0L) {
    return(list(val_accuracy = NA_real_, val_loss = NA_real_))
  }
  list(val_accuracy = row$val_accuracy[[1]], val_loss = row$val_loss[[1]])
}

#' @method print scnym_model
#' @export
print.scnym_model <- function(x, ...) {
  best <- model_best(x)
  n_epochs <- nrow(x$history)
  fmt <- function(v, d = 3) if (is.na(v)) "NA" else format(round(v, d), nsmall = min(d, 2))
  cat(sprintf("<scnym_model> %d classes, %d genes, %s\n", length(x$classes),
              length(x$genes), domains_text(x$covariates, x$domain_weights, list_levels = TRUE)))
  cat(sprintf("  preset \"%s\", seed %s; %d epoch%s, best epoch %d (validation accuracy %s)\n",
              x$config$preset, format(x$config$seed), n_epochs, if (n_epochs == 1L) "" else "s",
              x$best_epoch, fmt(best$val_accuracy)))
  if ((x$ensemble_size %||% 1L) > 1L) {
    cat(sprintf("  ensemble of %d models (seeds %s); epochs and temperature of the first\n",
                x$ensemble_size, paste(format(x$member_seeds), collapse = ", ")))
    some <- which(x$member_genes < length(x$genes))
    if (length(some)) {
      cat(sprintf("  member%s %s read%s the %s most variable genes only\n",
                  if (length(some) > 1L) "s" else "", paste(some, collapse = ", "),
                  if (length(some) > 1L) "" else "s",
                  paste(unique(format(x$member_genes[some], big.mark = ",")), collapse = "/")))
    }
  }
  cat(sprintf("  temperature %s (used by calibrated predictions)\n", fmt(x$temperature)))
  counts <- paste0(names(x$class_counts), " (", x$class_counts, ")")
  shown <- utils::head(counts, 8L)
  more <- if (length(counts) > 8L) sprintf(", ... %d more", length(counts) - 8L) else ""
  cat("  classes (training cells): ", paste(shown, collapse = ", "), more, "\n", sep = "")
  invisible(x)
}

#' Summarise a trained scNym model
#'
#' @param object An `scnym_model` from [scnym_train()] or [scnym_load()].
#' @param ... Unused.
#' @return A `summary.scnym_model` list with `classes` (a data.frame with columns `class` and
#'   `n_train`, the number of labelled training cells), `n_genes`, `genes`, `domains`,
#'   `covariates`, `domain_weights` (as in [scnym_train()]), `config`
#'   (the [scnym_config()]), `history` (one row per epoch: `epoch`, `loss`, `loss_sup`,
#'   `loss_ssl`, `loss_adv`, `ssl_weight`, `adv_weight`, `val_loss`, `val_accuracy`, `is_best`,
#'   `seconds`), `best_epoch`, `val_accuracy` and `val_loss` (at the best epoch), `temperature`,
#'   `versions` and `training` (cell counts and wall time of the run, when trained in R).
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, output = "matrix")
#' model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
#'                      target = sim$query$counts,
#'                      config = scnym_config(max_epochs = 5, min_epochs = 1),
#'                      verbose = FALSE, threads = 1)
#' summary(model)
#' @method summary scnym_model
#' @export
summary.scnym_model <- function(object, ...) {
  best <- model_best(object)
  structure(list(
    classes = data.frame(class = names(object$class_counts),
                         n_train = unname(object$class_counts), stringsAsFactors = FALSE),
    n_genes = length(object$genes),
    genes = object$genes,
    domains = object$domains,
    covariates = object$covariates,
    domain_weights = object$domain_weights,
    config = object$config,
    history = object$history,
    best_epoch = object$best_epoch,
    val_accuracy = best$val_accuracy,
    val_loss = best$val_loss,
    temperature = object$temperature,
    versions = object$versions,
    training = object$training
  ), class = "summary.scnym_model")
}

#' @method print summary.scnym_model
#' @export
print.summary.scnym_model <- function(x, ...) {
  domains <- if (length(x$covariates) > 1L) {
    domains_text(x$covariates, x$domain_weights)
  } else {
    paste("domains:", paste(x$domains, collapse = ", "))
  }
  cat(sprintf("scNym model: %d classes, %d genes, %s\n\n", nrow(x$classes), x$n_genes, domains))
  cat("Classes (labelled training cells):\n")
  print(x$classes, row.names = FALSE)
  cat("\n")
  print(x$config)
  h <- x$history
  cat(sprintf(paste("\nTraining: %d epochs; best epoch %d: validation accuracy %s, loss %s;",
                    "temperature %s\n"),
              nrow(h), x$best_epoch, format(round(x$val_accuracy, 4)),
              format(round(x$val_loss, 4)), format(round(x$temperature, 3))))
  if (!is.null(x$training$seconds)) {
    cat(sprintf("Trained on %d labelled and %d target cells in %.1f s\n",
                x$training$n_labelled, x$training$n_target, x$training$seconds))
  }
  if (nrow(h)) {
    cat("\nHistory (every 10th epoch, the best and the last):\n")
    keep <- unique(c(which(h$epoch %% 10 == 0), which(h$epoch == x$best_epoch), nrow(h)))
    shown <- h[sort(keep), c("epoch", "loss", "loss_sup", "loss_ssl", "loss_adv", "ssl_weight",
                             "adv_weight", "val_loss", "val_accuracy")]
    print(format(shown, digits = 3), row.names = FALSE)
  }
  invisible(x)
}
