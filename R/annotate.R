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
                                  calibrated = TRUE, prune_below = 0.5,
                                  novelty_above = 2.5, store_model = FALSE,
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
  pred <- run$predictions
  cols <- annotation_columns(pred, key_added)
  out <- SeuratObject::AddMetaData(x, metadata = cols)
  emb <- pred$embedding
  colnames(emb) <- paste0(reduction_key(key_added), seq_len(ncol(emb)))
  used_assay <- run$query$data$assay %||% SeuratObject::DefaultAssay(x)
  out[[tolower(key_added)]] <- SeuratObject::CreateDimReducObject(
    embeddings = emb, key = reduction_key(key_added), assay = used_assay
  )
  records <- SeuratObject::Tool(out, slot = "scnym_annotate") %||% list()
  records[[key_added]] <- run$record
  out@tools[["scnym_annotate"]] <- records
  out <- log_seurat_command(out, run$record, used_assay, key_added)
  out
}

#' @rdname scnym_annotate
#' @export
scnym_annotate.SummarizedExperiment <- function(x, reference = NULL, labels = NULL, ...,
                                                domain = NULL, reference_domain = NULL,
                                                key_added = "scNym", calibrated = TRUE,
                                                prune_below = 0.5,
                                                novelty_above = 2.5,
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
  pred <- run$predictions
  cols <- annotation_columns(pred, key_added)
  out <- x
  for (name in names(cols)) {
    SummarizedExperiment::colData(out)[[name]] <- cols[[name]]
  }
  if (methods::is(out, "SingleCellExperiment")) {
    emb <- pred$embedding
    colnames(emb) <- paste0(reduction_key(key_added), seq_len(ncol(emb)))
    rownames(emb) <- colnames(out)
    SingleCellExperiment::reducedDim(out, tolower(key_added)) <- emb
  }
  meta <- S4Vectors::metadata(out)
  records <- meta[["scnym_annotate"]] %||% list()
  records[[key_added]] <- run$record
  meta[["scnym_annotate"]] <- records
  S4Vectors::metadata(out) <- meta
  out
}

# Trains (or takes) a model and predicts the cells of `x`; nothing is written yet.
annotate_run <- function(x, reference, labels, ..., domain, reference_domain, key_added,
                         calibrated, prune_below, novelty_above, store_model, extract,
                         call) {
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
  train_args <- list(...)
  allowed <- c("config", "seed", "threads", "device", "verbose", "input", "domain_weight")
  unknown <- setdiff(names(train_args), allowed)
  if (length(unknown) || (length(train_args) && is.null(names(train_args)))) {
    scnym_abort(c("Unknown argument{?s} {.arg {unknown}}.",
                  i = "Arguments passed on to {.fn scnym_train}: {.arg {allowed}}."),
                kind = "invalid_argument", call = call)
  }
  input <- train_args$input %||% "auto"
  check_choice(input, c("auto", "counts", "lognorm"), arg = "input", call = call)
  threads <- train_args$threads
  check_threads(threads, call = call)
  trained <- FALSE
  if (inherits(reference, "scnym_model")) {
    if (!is.null(labels)) {
      scnym_abort(c("{.arg labels} is given, but {.arg reference} is a trained model.",
                    i = "Labels are only needed to train on a reference object."),
                  kind = "invalid_argument", call = call)
    }
    model <- reference
  } else {
    if (is.null(labels)) {
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
    domain_weight <- train_args$domain_weight
    train_args <- train_args[setdiff(names(train_args), c("input", "domain_weight"))]
    if (is.null(reference)) {
      ref_data <- extract_input(x, assay = extract$assay, layer = extract$layer,
                                assay_type = extract$assay_type, arg = "x", call = call)
      plan <- training_plan(ref_data, NULL, labels, domain, NULL, call = call,
                            domain_weight = domain_weight)
      if (!is.null(reference_domain)) {
        scnym_abort(c("{.arg reference_domain} is given but {.arg reference} is {.code NULL}.",
                      i = paste("With reference and query in {.arg x}, give all domains with",
                                "{.arg domain}.")),
                    kind = "invalid_argument", call = call)
      }
      model <- train_from_data(ref_data, NULL, plan, train_args, input, call)
    } else {
      ref_data <- extract_input(reference, assay = extract$assay, layer = extract$layer,
                                assay_type = extract$assay_type, arg = "reference", call = call)
      tgt_data <- extract_input(x, assay = extract$assay, layer = extract$layer,
                                assay_type = extract$assay_type, arg = "x", call = call)
      plan <- training_plan(ref_data, tgt_data, labels, reference_domain, domain, call = call,
                            domain_weight = domain_weight,
                            names = c(x = "reference", labels = "labels",
                                      domain = "reference_domain", target = "x",
                                      target_domain = "domain"))
      model <- train_from_data(ref_data, tgt_data, plan, train_args, input, call)
    }
    trained <- TRUE
  }
  query <- prepare_query(model, x, assay = extract$assay, layer = extract$layer,
                         assay_type = extract$assay_type, input = input, arg = "x", call = call)
  pred <- predict_prepared(model, query, calibrated = calibrated, prune_below = prune_below,
                           novelty_above = novelty_above, threads = threads, call = call)
  replaced <- intersect(names(annotation_columns(pred[0, , drop = FALSE], key_added)),
                        colnames(query$data$meta))
  if (length(replaced)) {
    scnym_inform(c(i = paste("Replacing the existing column{?s} {.field {replaced}} of {.arg x}",
                             "with the new annotation."),
                   i = "To keep the old values, choose another name with {.arg key_added}."),
                 kind = "replaced_columns")
  }
  record <- list(
    time = Sys.time(),
    scnym_version = as.character(utils::packageVersion("scnym")),
    trained = trained,
    model = list(classes = model$classes, class_counts = model$class_counts,
                 n_genes = length(model$genes), domains = model$domains,
                 covariates = model$covariates, domain_weights = model$domain_weights,
                 preset = model$config$preset, seed = model$config$seed,
                 n_epochs = nrow(model$history), best_epoch = model$best_epoch,
                 temperature = model$temperature,
                 val_accuracy = model_best(model)$val_accuracy, versions = model$versions),
    training = model$training,
    n_cells = nrow(pred),
    source = query$data$source,
    missing_genes = query$missing_genes,
    calibrated = calibrated,
    prune_below = prune_below,
    novelty_above = novelty_above,
    columns = names(annotation_columns(pred[0, , drop = FALSE], key_added)),
    reduction = tolower(key_added),
    label_counts = table(pred$label, useNA = "no"),
    n_pruned = sum(is.na(pred$pruned_label)),
    mean_confidence = mean(pred$confidence)
  )
  if (store_model) record$model_object <- model
  list(predictions = pred, record = record, query = query, model = model)
}

# Checks the values and trains from already extracted data (used by scnym_annotate()).
train_from_data <- function(ref, tgt, plan, train_args, input, call) {
  verbose <- train_args$verbose %||% TRUE
  check_flag(verbose, call = call)
  seed <- train_args$seed
  check_whole(seed, min = 0, max = .Machine$integer.max, arg = "seed", call = call,
              allow_null = TRUE)
  device <- train_args$device
  if (!is.null(device)) check_choice(device, c("cpu", "cuda", "auto"), arg = "device", call = call)
  config <- as_config(train_args$config %||% scnym_config(), call = call)
  ref <- check_values(ref, input, if (is.null(tgt)) "x" else "reference", call = call)
  if (!is.null(tgt)) tgt <- check_values(tgt, input, "x", call = call)
  if (is.null(seed)) {
    seed <- if (is.null(config$seed)) sample.int(.Machine$integer.max, 1L) else config$seed
  }
  config$seed <- as.integer(seed)
  if (!is.null(train_args$threads)) config$threads <- as.integer(train_args$threads)
  if (!is.null(device)) config$device <- device
  train_prepared(ref, tgt, plan, config, verbose = verbose, call = call)
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

# Adds an entry to the Seurat command log (best effort: the log is informational).
log_seurat_command <- function(object, record, assay, key_added) {
  name <- paste0("scnym_annotate.", assay, ".", key_added)
  params <- list(key_added = key_added, calibrated = record$calibrated,
                 prune_below = record$prune_below, trained = record$trained,
                 preset = record$model$preset, seed = record$model$seed)
  cmd <- tryCatch(
    methods::new("SeuratCommand", name = name, time.stamp = record$time, assay.used = assay,
                 call.string = paste0("scnym_annotate(key_added = \"", key_added, "\")"),
                 params = params),
    error = function(e) NULL
  )
  if (!is.null(cmd)) {
    object@commands[[name]] <- cmd
  }
  object
}
