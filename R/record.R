# The run record: what a run of scnym did, kept with its results. One place builds it
# (`model_summary()`, `annotation_record()`), one stores it in a container (`write_record()`,
# plus `log_command()` for Seurat's command log) and one reads it back (`read_records()`).
# Seurat keeps records in the tools slot (`Tool(x, "scnym_annotate")`), SummarizedExperiment
# and SingleCellExperiment in `metadata(x)`, a prediction table in `metadata()` of its
# DataFrame (see prediction_table()).

# What the results of a model depend on: its classes, training cells per class, genes, domains,
# settings and fit. Kept in the metadata of every prediction table and in annotation records.
model_summary <- function(model) {
  list(classes = model$classes, class_counts = model$class_counts,
       n_genes = length(model$genes), domains = model$domains,
       covariates = model$covariates, domain_weights = model$domain_weights,
       preset = model$config$preset, seed = model$config$seed,
       n_epochs = nrow(model$history), best_epoch = model$best_epoch,
       temperature = model$temperature,
       val_accuracy = model_best(model)$val_accuracy, versions = model$versions)
}

# The record of a scnym_annotate() run: time, version, model summary, settings, missing genes,
# written columns and label counts (and the model itself with `store_model`).
annotation_record <- function(model, trained, pred, query, settings, key_added, store_model) {
  columns <- names(annotation_columns(pred[0, , drop = FALSE], key_added))
  record <- c(
    list(time = Sys.time(),
         scnym_version = as.character(utils::packageVersion("scnym")),
         trained = trained,
         model = model_summary(model),
         training = model$training,
         n_cells = nrow(pred),
         source = query$data$source,
         missing_genes = query$missing_genes),
    settings,
    list(columns = columns,
         reduction = tolower(key_added),
         label_counts = table(pred$label, useNA = "no"),
         n_pruned = sum(is.na(pred$pruned_label)),
         mean_confidence = mean(pred$confidence))
  )
  if (store_model) record$model_object <- model
  record
}

# The records a container holds under `tool` (a list, NULL when none).
read_records <- function(x, tool) {
  UseMethod("read_records")
}

read_records.Seurat <- function(x, tool) {
  methods::slot(x, "tools")[[tool]]
}

read_records.SummarizedExperiment <- function(x, tool) {
  S4Vectors::metadata(x)[[tool]]
}

# `x` with `value` stored under `tool`, or under `tool` and then `key` when `key` is given (so
# that several runs, e.g. several `key_added`, keep their own records).
write_record <- function(x, tool, value, key = NULL) {
  if (!is.null(key)) {
    records <- read_records(x, tool) %||% list()
    records[[key]] <- value
    value <- records
  }
  set_records(x, tool, value)
}

set_records <- function(x, tool, value) {
  UseMethod("set_records")
}

set_records.Seurat <- function(x, tool, value) {
  tools <- methods::slot(x, "tools")
  tools[[tool]] <- value
  methods::slot(x, "tools") <- tools
  x
}

set_records.SummarizedExperiment <- function(x, tool, value) {
  meta <- S4Vectors::metadata(x)
  meta[[tool]] <- value
  S4Vectors::metadata(x) <- meta
  x
}

# Adds the run to the container's command log: Seurat's `x@commands` (best effort: the log is
# informational). Other containers have none; their record in metadata() stands for it.
log_command <- function(x, record, assay, key_added) {
  UseMethod("log_command")
}

log_command.default <- function(x, record, assay, key_added) {
  x
}

log_command.Seurat <- function(x, record, assay, key_added) {
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
    x@commands[[name]] <- cmd
  }
  x
}
