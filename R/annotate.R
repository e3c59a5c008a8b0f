#' Annotate cells with scNym in one call
#'
#' Trains a model on a labelled reference with the cells of `x` as the unlabelled target (or
#' uses a given model), predicts every cell of `x` and writes the results into `x`:
#' * cell metadata columns `<key_added>` (predicted label), `<key_added>_confidence`,
#'   `<key_added>_novelty` and `<key_added>_pruned` (the label, or `NA` when the cell is novel or
#'   the confidence is below `prune_below`; see [scnym_predict()]) - `meta.data` for Seurat,
#'   `colData` for SingleCellExperiment;
#' * the scNym embedding as a reduction named `tolower(key_added)` (`"scnym"` by default):
#'   `x[["scnym"]]` for Seurat, `reducedDim(x, "scnym")` for SingleCellExperiment;
#' * a record of the run (time, package version, model summary, settings, missing genes, label
#'   counts; the model itself with `store_model = TRUE`): `Tool(x, "scnym_annotate")[[key_added]]`
#'   for Seurat, `metadata(x)$scnym_annotate[[key_added]]` for SingleCellExperiment.
#'
#' `reference` can be
#' * an `scnym_model` (from [scnym_train()] or [scnym_load()]): no training;
#' * a labelled reference of any type [scnym_train()] accepts (Seurat, SingleCellExperiment,
#'   matrix): `labels` names its label column (or is a vector); a model is trained on it with `x`
#'   as the target;
#' * `NULL`: `x` holds both the reference and the query; `labels` is a column of `x` in which the
#'   query cells are `NA`. Every cell of `x` receives a prediction.
#'
#' Nothing in `x` changes when any step fails.
#'
#' The same predictions as a table, for any input, come from [scnym_predict()]: an
#' `S4Vectors::DataFrame` (Seurat users included; `as.data.frame()` gives a data.frame), whose
#' per-cell columns are the ones written here under `key_added`.
#'
#' @param x The query: a Seurat object or a SingleCellExperiment (or SummarizedExperiment; it
#'   has no place for the embedding, which is then left out).
#' @param reference An `scnym_model`, a labelled reference object, or `NULL` (see Details).
#' @param labels Labels of the reference cells: a metadata column name or a vector (of the
#'   reference, or of `x` when `reference = NULL`).
#' @param ... Further arguments to [scnym_train()] when a model is trained: `config`, `seed`,
#'   `threads`, `device`, `verbose`, `input`, `domain_weight`.
#' @param domain Domain of each cell of `x` (a column name of `x` or a vector); several query
#'   domains are allowed. Several nuisance covariates as in [scnym_train()]: column names of `x`
#'   or a data.frame with one column per covariate.
#' @param reference_domain Domain of each reference cell (a column name of the reference or a
#'   vector), with the same covariates as `domain`.
#' @param key_added Name of the metadata column with the labels; also the prefix of the other
#'   columns and (lower case) the name of the reduction.
#' @param calibrated,prune_below,novelty_above As in [scnym_predict()].
#' @param store_model Keep the model in the run record (it can be large: about 4 bytes x genes x
#'   256).
#' @param assay,layer For Seurat objects (also a Seurat reference): the assay and layer
#'   (`"counts"` or `"data"`).
#' @param assay_type For SingleCellExperiment objects (also such a reference): the assay.
#' @return `x` with the columns, reduction and record described above.
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, n_genes = 200)
#' query <- scnym_annotate(sim$query, sim$reference, labels = "cell_type",
#'                         config = scnym_config(max_epochs = 8, min_epochs = 1),
#'                         seed = 1, threads = 1, verbose = FALSE)
#' table(query$scNym, query$cell_type)
#' dim(SingleCellExperiment::reducedDim(query, "scnym"))
#' @export
scnym_annotate <- function(x, reference = NULL, labels = NULL, ...) {
  UseMethod("scnym_annotate")
}

#' @rdname scnym_annotate
#' @export
scnym_annotate.default <- function(x, reference = NULL, labels = NULL, ...) {
  hint <- if (is.matrix(x) || inherits(x, c("Matrix", "DelayedArray"))) {
    c(i = "For a matrix use {.fn scnym_predict}, which returns a table of predictions.")
  } else {
    c(i = "Pass a Seurat or SingleCellExperiment object.")
  }
  scnym_abort(c("{.fn scnym_annotate} writes results into a Seurat or SingleCellExperiment object.",
                x = "{.arg x} is {.obj_type_friendly {x}}.", hint),
              kind = "invalid_argument")
}

#' @rdname scnym_annotate
#' @export
scnym_annotate.Seurat <- function(x, reference = NULL, labels = NULL, ..., domain = NULL,
                                  reference_domain = NULL, key_added = "scNym",
                                  calibrated = TRUE, prune_below = 0.4,
                                  novelty_above = 10, store_model = FALSE,
                                  assay = NULL, layer = NULL) {
  call <- rlang::current_env()
  run <- with_interrupt_class(
    annotate_run(x, reference, labels, ..., domain = domain, reference_domain = reference_domain,
                 key_added = key_added, calibrated = calibrated, prune_below = prune_below,
                 novelty_above = novelty_above, store_model = store_model,
                 extract = list(assay = assay, layer = layer),
                 call = call),
    call = call
  )
  write_annotation(x, run, key_added)
}

#' @rdname scnym_annotate
#' @export
scnym_annotate.SummarizedExperiment <- function(x, reference = NULL, labels = NULL, ...,
                                                domain = NULL, reference_domain = NULL,
                                                key_added = "scNym", calibrated = TRUE,
                                                prune_below = 0.4,
                                                novelty_above = 10,
                                                store_model = FALSE, assay_type = NULL) {
  call <- rlang::current_env()
  run <- with_interrupt_class(
    annotate_run(x, reference, labels, ..., domain = domain, reference_domain = reference_domain,
                 key_added = key_added, calibrated = calibrated, prune_below = prune_below,
                 novelty_above = novelty_above, store_model = store_model,
                 extract = list(assay_type = assay_type),
                 call = call),
    call = call
  )
  write_annotation(x, run, key_added)
}

# Writes an annotation run into its container: the cell columns, the embedding as a reduction,
# the run record and (Seurat) the command log entry.
write_annotation <- function(x, run, key_added) {
  pred <- run$predictions
  x <- write_cell_columns(x, annotation_columns(pred, key_added))
  emb <- pred$embedding
  colnames(emb) <- paste0(reduction_key(key_added), seq_len(ncol(emb)))
  assay <- run$query$data$assay
  x <- write_reduction(x, tolower(key_added), emb, key = reduction_key(key_added), assay = assay)
  x <- write_record(x, "scnym_annotate", run$record, key = key_added)
  log_command(x, run$record, assay, key_added)
}

# Trains (or takes) a model and predicts the cells of `x`; nothing is written yet. The cells of
# `x` are extracted, checked and passed to the core once, for training (as its target or its
# labelled and unlabelled cells) and for the prediction.
annotate_run <- function(x, reference, labels, ..., domain, reference_domain, key_added,
                         calibrated, prune_below, novelty_above, store_model, extract,
                         call) {
  check_annotate_settings(key_added, calibrated, prune_below, novelty_above, store_model, call)
  train_args <- annotate_train_args(list(...), call)
  read <- function(object, arg) {
    extract_input(object, assay = extract$assay, layer = extract$layer,
                  assay_type = extract$assay_type, arg = arg, call = call)
  }
  fit <- annotate_model(x, reference, labels, domain, reference_domain, train_args, read, call)
  query <- align_query(fit$model, fit$data, arg = "x", call = call)
  pred <- predict_prepared(fit$model, query, calibrated = calibrated, prune_below = prune_below,
                           novelty_above = novelty_above, threads = train_args$threads,
                           call = call)
  replaced <- intersect(names(annotation_columns(pred[0, , drop = FALSE], key_added)),
                        colnames(query$data$meta))
  if (length(replaced)) {
    scnym_inform(c(i = paste("Replacing the existing column{?s} {.field {replaced}} of {.arg x}",
                             "with the new annotation."),
                   i = "To keep the old values, choose another name with {.arg key_added}."),
                 kind = "replaced_columns")
  }
  settings <- list(calibrated = calibrated, prune_below = prune_below,
                   novelty_above = novelty_above)
  record <- annotation_record(fit$model, fit$trained, pred, query, settings, key_added,
                              store_model)
  list(predictions = pred, record = record, query = query, model = fit$model)
}

check_annotate_settings <- function(key_added, calibrated, prune_below, novelty_above,
                                    store_model, call) {
  check_string(key_added, call = call)
  if (!grepl("^[A-Za-z][A-Za-z0-9_.]*$", key_added)) {
    scnym_abort(c(paste("{.arg key_added} must start with a letter and hold only letters, digits,",
                        "{.code _} and {.code .}."),
                  x = "Got {.val {key_added}}."),
                kind = "invalid_argument", call = call)
  }
  check_flag(calibrated, call = call)
  check_number(prune_below, min = 0, max = 1, call = call)
  check_number(novelty_above, min = 0, call = call)
  check_flag(store_model, call = call)
}

# The arguments of scnym_annotate() passed on to training (`...`), with `input` filled in.
annotate_train_args <- function(train_args, call) {
  allowed <- c("config", "seed", "threads", "device", "verbose", "input", "domain_weight")
  unknown <- setdiff(names(train_args), allowed)
  if (length(unknown) || (length(train_args) && is.null(names(train_args)))) {
    scnym_abort(c("Unknown argument{?s} {.arg {unknown}}.",
                  i = "Arguments passed on to {.fn scnym_train}: {.arg {allowed}}."),
                kind = "invalid_argument", call = call)
  }
  train_args$input <- train_args$input %||% "auto"
  check_choice(train_args$input, c("auto", "counts", "lognorm"), arg = "input", call = call)
  check_threads(train_args$threads, call = call)
  train_args
}

# The model of an annotation (`reference` itself, or trained on `reference` or on the labelled
# cells of `x`) and `data`, the cells of `x` extracted by `read()` and checked, read once.
annotate_model <- function(x, reference, labels, domain, reference_domain, train_args, read,
                           call) {
  input <- train_args$input
  check_annotate_labels(labels, reference, call)
  if (inherits(reference, "scnym_model")) {
    data <- check_values(read(x, "x"), input, "x", call = call)
    return(list(model = reference, trained = FALSE, data = data))
  }
  if (is.null(reference)) {
    data <- read(x, "x")
    plan <- training_plan(data, NULL, labels, domain, NULL, call = call,
                          domain_weight = train_args$domain_weight)
    if (!is.null(reference_domain)) {
      scnym_abort(c("{.arg reference_domain} is given but {.arg reference} is {.code NULL}.",
                    i = paste("With reference and query in {.arg x}, give all domains with",
                              "{.arg domain}.")),
                  kind = "invalid_argument", call = call)
    }
    training <- annotate_training(train_args, call)
    data <- check_values(data, input, "x", call = call)
    plan <- choose_genes(data, plan, training$config, call = call)
    data <- keep_in_core(data, plan$genes, training$config, call = call)
    model <- train_prepared(data, NULL, plan, training$config, training$verbose, call = call)
    return(list(model = model, trained = TRUE, data = data))
  }
  same <- identical(reference, x)
  ref <- read(reference, "reference")
  data <- if (same) ref else read(x, "x")
  plan <- training_plan(ref, data, labels, reference_domain, domain, call = call,
                        domain_weight = train_args$domain_weight,
                        names = c(x = "reference", labels = "labels",
                                  domain = "reference_domain", target = "x",
                                  target_domain = "domain"))
  training <- annotate_training(train_args, call)
  ref <- check_values(ref, input, "reference", call = call)
  plan <- choose_genes(ref, plan, training$config, call = call)
  data <- keep_in_core(if (same) ref else check_values(data, input, "x", call = call),
                       plan$genes, training$config, call = call)
  if (same) ref <- data
  model <- train_prepared(ref, data, plan, training$config, training$verbose, call = call)
  list(model = model, trained = TRUE, data = data)
}

# `labels` go with a reference to train on, not with a trained model.
check_annotate_labels <- function(labels, reference, call) {
  if (inherits(reference, "scnym_model")) {
    if (!is.null(labels)) {
      scnym_abort(c("{.arg labels} is given, but {.arg reference} is a trained model.",
                    i = "Labels are only needed to train on a reference object."),
                  kind = "invalid_argument", call = call)
    }
  } else if (is.null(labels)) {
    scnym_abort(c("{.arg labels} is missing.",
                  i = if (is.null(reference)) {
                    paste("With {.code reference = NULL}, name the column of {.arg x} holding",
                          "reference labels (NA for query cells).")
                  } else {
                    paste("Name the label column of {.arg reference}, or pass one label per",
                          "reference cell.")
                  }),
                kind = "invalid_argument", call = call)
  }
}

# The training configuration of scnym_annotate() (seed, threads and device set) and `verbose`.
annotate_training <- function(train_args, call) {
  verbose <- train_args$verbose %||% TRUE
  check_flag(verbose, call = call)
  seed <- train_args$seed
  check_whole(seed, min = 0, max = .Machine$integer.max, arg = "seed", call = call,
              allow_null = TRUE)
  device <- train_args$device
  if (!is.null(device)) check_choice(device, c("cpu", "cuda", "auto"), arg = "device", call = call)
  config <- as_config(train_args$config %||% scnym_config(), call = call)
  if (is.null(seed)) {
    seed <- if (is.null(config$seed)) sample.int(.Machine$integer.max, 1L) else config$seed
  }
  config$seed <- as.integer(seed)
  if (!is.null(train_args$threads)) config$threads <- as.integer(train_args$threads)
  if (!is.null(device)) config$device <- device
  list(config = config, verbose = verbose)
}

annotation_columns <- function(pred, key_added) {
  cols <- data.frame(pred$label, pred$confidence, pred$novelty, pred$pruned_label,
                     row.names = rownames(pred), stringsAsFactors = FALSE)
  names(cols) <- c(key_added, paste0(key_added, c("_confidence", "_novelty", "_pruned")))
  cols
}

# Seurat reduction keys: alphanumerics followed by an underscore.
reduction_key <- function(key_added) {
  paste0(gsub("[^A-Za-z0-9]", "", tolower(key_added)), "_")
}
