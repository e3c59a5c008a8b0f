#' Predict cell types with a trained scNym model
#'
#' Aligns the query's genes to the model's by name (model genes missing from `x` are set to zero,
#' with a warning giving their share; extra genes of `x` are ignored), normalises it like the
#' training data and returns one row per cell.
#'
#' **Novelty and pruned labels.** `novelty` measures how far a cell lies from the reference cells
#' of its predicted class in the scNym embedding: the mean cosine distance to the 5 nearest of up
#' to 50 training cells per class stored with the model, divided by the upper quartile of that
#' distance among the held-out (validation) reference cells. Three held-out reference cells in
#' four lie within a novelty of 1; cells of a type absent from the reference lie ten and more
#' times farther. `pruned_label` is the predicted label, or `NA` ("unassigned") when the cell's
#' label is uncertain (confidence, the largest class probability, calibrated when
#' `calibrated = TRUE`, below `prune_below`) or the cell is novel: `novelty > novelty_above`, or,
#' for a label in doubt, `novelty > novelty_above * 0.3 / (1 - confidence)` (at confidence 0.5 a
#' novelty above 6 with the default 10): a cell of a type absent from the reference that resembles
#' none of its types lies nearer to them than a cell line does, but its label is also in doubt.
#' On the accuracy benchmark (`bench/accuracy/`, 3 seeds each) the defaults flag 97.2% and 100%
#' of the cells of two cell lines absent from the reference (two references) with 100% and 99.2%
#' of the known lines' cells labelled correctly and kept, 77-78% of a PBMC query's B cells when
#' the reference has no B cells (48-65% with `novelty > novelty_above` alone), and, in
#' queries without new types, 1.3% of a PBMC query's cells and 0.7-6.7% (mean 3.2%) of pancreas
#' queries' from another technology.
#' `novelty` is `NA` for models without a novelty reference (saved by scnym before 0.99.0, or
#' trained without validation cells); their labels are pruned by the confidence alone.
#'
#' Cell names (column names) must be unique and not missing. Ctrl-C stops a prediction with an
#' error of class `scnym_error_interrupted`.
#'
#' **Large data.** A `DelayedMatrix` (an HDF5-backed SingleCellExperiment from
#' [HDF5Array::loadHDF5SummarizedExperiment()], a `TENxMatrix`, ...) is never read whole: its
#' values are checked block by block in a first pass, and predicted block by block in a second,
#' so memory does not grow with the number of cells beyond the results (with
#' `embedding = FALSE`, about 100 bytes per cell and class). A block holds as many cells as fill
#' DelayedArray's automatic block size ([DelayedArray::getAutoBlockSize()], 100 MB by default)
#' with dense values, in whole batches of 1,024 cells: 6,144 cells at 2,000 genes. The prediction
#' is identical to that of the same cells in memory.
#'
#' **Calibration.** After training, the engine fits a temperature `T >= 1` on the held-out
#' labelled cells (minimising their cross-entropy). These cells are also seen, without their
#' labels, as unlabelled cells during training, like the query, so `T` transfers to the query;
#' it never sharpens. `calibrated = TRUE` returns `softmax(logits / T)`, `calibrated = FALSE`
#' the raw `softmax(logits)`. The predicted label is the same either way.
#'
#' @param model An `scnym_model` from [scnym_train()] or [scnym_load()].
#' @param x Query cells: a Seurat object, a SingleCellExperiment (or SummarizedExperiment), or a
#'   genes x cells matrix (dense, `dgCMatrix` or `DelayedMatrix`) with gene names as row names.
#' @param ... Unused; must be empty.
#' @param assay,layer For Seurat input: the assay (default: the default assay) and the layer
#'   (`"counts"` or `"data"`; the `slot` on SeuratObject v4; default `"counts"` when present).
#' @param assay_type For SingleCellExperiment input: the assay (default `"counts"`, else
#'   `"logcounts"`, else the first assay, with a message).
#' @param input How to read the values: `"auto"` (whole numbers are counts; other values up to
#'   `log(1 + 1e6)` are log-normalised; larger non-integer values are counts, with a message),
#'   `"counts"` or `"lognorm"`. See [scnym_train()].
#' @param calibrated Use the model's fitted temperature for probabilities and confidence.
#' @param prune_below Confidence below which `pruned_label` is `NA` (see Details; 0 turns the
#'   confidence pruning off).
#' @param novelty_above Novelty above which `pruned_label` is `NA`; less for a label in doubt
#'   (see Details; `Inf` turns the novelty pruning off).
#' @param threads Number of libtorch threads (default: the model configuration's setting; with
#'   several `BPPARAM` workers, 1 per worker, so that the workers do not oversubscribe the cores).
#' @param embedding Return the embedding column? It holds a row of the model's hidden width
#'   (256 numbers, 2 KB) per cell: set `FALSE` for queries of millions of cells.
#' @param BPPARAM A [BiocParallel::BiocParallelParam-class] object (default
#'   [BiocParallel::SerialParam()]). With several workers the cells are split into one contiguous
#'   block per worker, in whole batches of the core's prediction (1,024 cells; fewer cells stay
#'   in one process), each worker predicts its block (rebuilding the model from its bytes when it
#'   is another process) and the blocks are joined in cell order: the result is identical to a
#'   serial run with `threads = 1`. A `MulticoreParam` that is not started yet forks its workers
#'   once the cells are read, and they read their blocks from the memory they share with this
#'   session instead of receiving a copy. The blocks of a `DelayedMatrix` (see "Large data") are
#'   spread over the workers, which read them themselves. Any backend works,
#'   e.g. [BiocParallel::MulticoreParam()] on one machine or [BiocParallel::BatchtoolsParam()] on
#'   a cluster.
#' @return An [S4Vectors::DataFrame], one row per cell (row names: cell names), as SingleR
#'   returns its results, with columns
#'   * `label`: the predicted cell type (character);
#'   * `confidence`: the largest class probability (numeric in \[0, 1\]);
#'   * `novelty`: distance to the reference cells of the label, in units of the held-out
#'     reference cells' upper quartile (numeric >= 0; `NA` without a novelty reference);
#'   * `disagreement` (ensembles only, see `ensemble_size` in [scnym_config()]): how much the
#'     members disagree on the cell, the mutual information between prediction and member in
#'     nats (each member weighted as in the average of probabilities; 0 when they agree);
#'   * `pruned_label`: `label`, or `NA` when the cell is novel (`novelty > novelty_above`, or
#'     above `novelty_above * 0.3 / (1 - confidence)`) or `confidence < prune_below`;
#'   * `probabilities`: a nested matrix column, cells x classes (column names: the model's
#'     classes);
#'   * `embedding` (unless `embedding = FALSE`): a nested matrix column, cells x the model's
#'     hidden width (256 by default): the activations of the last hidden layer.
#'
#'   [S4Vectors::metadata()] holds the run's settings: `model` (a summary of the model: classes,
#'   training cells per class, number of genes, domains, preset, seed, epochs, temperature,
#'   validation accuracy, versions), `missing_genes` (model genes absent from `x`), `calibrated`,
#'   `prune_below` and `novelty_above`. `as.data.frame()` flattens the matrix columns into
#'   `probabilities.<class>` and `embedding.scnym_<i>` columns (names made syntactic).
#'
#'   The result is the same whatever `x` is. For a Seurat object or a SingleCellExperiment,
#'   [scnym_annotate()] writes the per-cell columns into the object's cell metadata and the
#'   embedding as a reduction instead; for a table, `DataFrame` is what Bioconductor's `colData()`
#'   holds, and `as.data.frame()` gives Seurat's `AddMetaData()` a data.frame.
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, output = "matrix")
#' model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
#'                      target = sim$query$counts,
#'                      config = scnym_config(max_epochs = 5, min_epochs = 1),
#'                      verbose = FALSE, threads = 1)
#' pred <- scnym_predict(model, sim$query$counts)
#' pred
#' head(pred[, c("label", "confidence", "novelty", "pruned_label")])
#' S4Vectors::metadata(pred)$model$classes
#' mean(pred$label == sim$query$metadata$cell_type)
#' @export
scnym_predict <- function(model, x, ..., assay = NULL, layer = NULL, assay_type = NULL,
                          input = c("auto", "counts", "lognorm"), calibrated = TRUE,
                          prune_below = 0.4, novelty_above = 10, embedding = TRUE,
                          threads = NULL,
                          BPPARAM = BiocParallel::SerialParam()) { # nolint: object_name_linter.
  rlang::check_dots_empty()
  call <- rlang::current_env()
  check_model(model)
  input <- arg_choice(input, c("auto", "counts", "lognorm"))
  check_flag(calibrated)
  check_number(prune_below, min = 0, max = 1)
  check_number(novelty_above, min = 0)
  check_flag(embedding)
  check_threads(threads)
  check_bpparam(BPPARAM)
  with_interrupt_class({
    query <- prepare_query(model, x, assay = assay, layer = layer, assay_type = assay_type,
                           input = input, arg = "x", BPPARAM = BPPARAM, defer = TRUE,
                           call = call)
    predict_prepared(model, query, calibrated = calibrated, prune_below = prune_below,
                     novelty_above = novelty_above, embedding = embedding, threads = threads,
                     BPPARAM = BPPARAM, call = call)
  }, call = call)
}

#' @rdname scnym_predict
#' @param object An `scnym_model` (for the [predict()] method).
#' @param newdata Query cells, as `x` of `scnym_predict()`.
#' @method predict scnym_model
#' @export
predict.scnym_model <- function(object, newdata, ...) {
  scnym_predict(object, newdata, ...)
}

#' Read, check and gene-align query cells for a model
#'
#' Used by `scnym_predict()` and by the interpretation functions.
#' @param model An `scnym_model`.
#' @param x Any supported input (Seurat, SCE/SE, dense matrix, dgCMatrix, DelayedMatrix).
#' @param assay,layer,assay_type,input As in [scnym_predict()].
#' @param arg Name of `x` in messages.
#' @param BPPARAM Workers that check the blocks of a DelayedMatrix.
#' @param defer For a DelayedMatrix whose kind of values `input` gives: check the values while
#'   `predict_prepared()` reads them for the prediction, instead of in a pass of their own.
#' @return A list: `data` (the extracted and checked input: `mat`, `genes`, `cells`, `meta`,
#'   `input`, ...; see `core_input()` for what the core reads), `cells` (cell names),
#'   `missing_genes` (model genes absent from `x`) and, when the checks are deferred, `deferred`
#'   (`input` and `arg`).
#' @noRd
prepare_query <- function(model, x, assay = NULL, layer = NULL, assay_type = NULL,
                          input = "auto", arg = "x", BPPARAM = NULL, # nolint: object_name_linter.
                          defer = FALSE, call = rlang::caller_env()) {
  data <- extract_input(x, assay = assay, layer = layer, assay_type = assay_type, arg = arg,
                        call = call)
  scan <- !(defer && input != "auto" && is_delayed(data$mat))
  data <- check_values(data, input, arg, BPPARAM = BPPARAM, scan = scan, call = call)
  query <- align_query(model, data, arg = arg, call = call)
  if (!scan) query$deferred <- list(input = input, arg = arg)
  query
}

# Aligns extracted and checked cells (see prepare_query()) to the model's genes.
align_query <- function(model, data, arg = "x", call = rlang::caller_env()) {
  present <- model$genes %in% data$genes
  if (!any(present)) {
    scnym_abort(c("None of the model's {length(model$genes)} genes is in {.arg {arg}}.",
                  i = paste("Model genes look like {.val {first_few(model$genes, 3)}};",
                            "{.arg {arg}} has {.val {first_few(data$genes, 3)}}."),
                  i = paste("Use the same gene identifiers (e.g. symbols vs Ensembl IDs) as the",
                            "reference.")),
                kind = "invalid_data", call = call)
  }
  missing <- model$genes[!present]
  if (length(missing)) {
    pct <- round(100 * length(missing) / length(model$genes), 1)
    scnym_warn(c(paste0("{length(missing)} of the model's {length(model$genes)} genes (", pct,
                        "%) are missing from {.arg {arg}} and set to zero."),
                 i = "Missing genes include {.val {first_few(missing, 5)}}."),
               kind = "missing_genes")
  }
  list(data = data, cells = data$cells, missing_genes = missing)
}

# Runs the core's prediction on a prepared query and builds the prediction table. A DelayedMatrix
# not kept in the core is read and predicted block by block (see input_blocks()), on the BPPARAM
# workers when there are several; other cells cross at once, or in one contiguous block per
# worker.
predict_prepared <- function(model, query, calibrated, prune_below, novelty_above,
                             embedding = TRUE, threads = NULL,
                             BPPARAM = NULL, # nolint: object_name_linter.
                             call = rlang::caller_env()) {
  data <- query$data
  workers <- if (is.null(BPPARAM)) 1L else BiocParallel::bpnworkers(BPPARAM)
  threads <- as.integer(threads %||% if (workers > 1L) 1L else 0L)
  if (is_delayed(data$mat) && !is_kept(data, model$genes)) {
    source <- data[c("mat", "genes", "input")]
    dimnames(source$mat) <- NULL
    check <- !is.null(query$deferred)
    streamed <- predict_streamed(input_blocks(source$mat), query$cells, predict_columns, workers,
                                 BPPARAM, source = source, model = model, calibrated = calibrated,
                                 threads = threads, embedding = embedding, check = check)
    if (check) {
      check_value_summary(join_value_summaries(streamed$values), data, query$deferred$input,
                          query$deferred$arg, call)
    }
    out <- streamed$out
  } else {
    blocks <- prediction_blocks(length(query$cells), workers)
    if (length(blocks) > 1L) {
      parts <- if (forks_share(BPPARAM)) {
        predict_forked(blocks, data, model, calibrated, threads, embedding, BPPARAM)
      } else {
        BiocParallel::bplapply(lapply(blocks, function(b) core_data(data, b, model$genes)),
                               predict_packed, model = model, calibrated = calibrated,
                               threads = threads, embedding = embedding, BPPARAM = BPPARAM)
      }
      out <- rust_result(rs_predictions_join(model_handle(model, call = call), parts,
                                             query$cells), call = call)
    } else {
      out <- predict_block(core_input(data, NULL, model$genes), query$cells, model, calibrated,
                           threads, embedding, call = call)
    }
  }
  prediction_table(out, model, query$missing_genes, calibrated, prune_below, novelty_above)
}

# The cells 1..n in one contiguous block per worker, in whole evaluation batches of the core, so
# that every batch is the one a serial run forms: one block when serial or when the cells fill a
# single batch.
prediction_blocks <- function(n, workers) {
  if (workers <= 1L) return(list(seq_len(n)))
  batch <- ceiling(seq_len(n) / rust_result(rs_backend_info())$eval_batch)
  workers <- min(workers, max(batch))
  unname(split(seq_len(n), ceiling(batch * workers / max(batch))))
}

# What forked workers read from this process's memory instead of receiving it: the cells of
# predict_forked(), set only while it runs.
fork_shared <- new.env(parent = emptyenv())

# Can workers of BPPARAM read cells from this process's memory (see predict_forked())? They can
# when they are forked from it after the cells are there: a MulticoreParam that is not started.
forks_share <- function(BPPARAM) { # nolint: object_name_linter.
  methods::is(BPPARAM, "MulticoreParam") && !BiocParallel::bpisup(BPPARAM)
}

# predict_packed() of the cells `blocks` (index vectors) of a checked input `data` on forked
# workers that read the cells from the memory they share with this process (copy-on-write):
# the cells are not serialised to them, as they are for other workers (a block of 100,000 cells
# of 300 non-zero counts is 370 MB). The workers are forked here, once `data` is in place.
predict_forked <- function(blocks, data, model, calibrated, threads, embedding,
                           BPPARAM) { # nolint: object_name_linter.
  fork_shared$data <- data
  on.exit(rm("data", envir = fork_shared), add = TRUE)
  BiocParallel::bpstart(BPPARAM)
  on.exit(BiocParallel::bpstop(BPPARAM), add = TRUE)
  BiocParallel::bplapply(blocks, predict_shared_block, model = model, calibrated = calibrated,
                         threads = threads, embedding = embedding, BPPARAM = BPPARAM)
}

# predict_packed() of the cells `rows` of the input shared by predict_forked(), in a forked worker.
predict_shared_block <- function(rows, model, calibrated, threads, embedding) {
  predict_packed(core_data(fork_shared$data, rows, model$genes, view = TRUE), model, calibrated,
                 threads, embedding)
}

# The core's prediction of the cells of one data list, in a worker: its outputs as one raw
# vector of f32 values, which crosses back to this process in half the bytes of R's doubles and
# without a value-by-value conversion; rs_predictions_join() joins the blocks.
predict_packed <- function(core, model, calibrated, threads, embedding) {
  rust_result(rs_model_predict(model_handle(model), core, calibrated, as.integer(threads),
                               embedding, NULL, TRUE))
}

# The core's prediction of the columns `cols` of a DelayedMatrix (`source`: the `mat`, `genes` and
# `input` of a checked input), read here; without the embedding unless `embedding`; with
# `check`, also the value summary of the columns read (`values`).
predict_columns <- function(cols, source, model, calibrated, threads, embedding, check) {
  block <- read_cells(source$mat, cols)
  values <- if (check) block_value_summary(cols, block = block)
  if (check && values$n_na + values$n_nan + values$n_inf + values$n_negative > 0) {
    return(list(values = values)) # refused by check_value_summary()
  }
  source$mat <- block
  out <- predict_block(core_data(source, NULL, model$genes), NULL, model, calibrated, threads,
                       embedding)
  out$values <- values
  out
}

# The core's prediction of the cells of one data list (a block of cells, or all), their names
# `cells` (or NULL) as row names: the outputs the core has (see rs_model_predict()), the
# embedding only when `embedding`.
predict_block <- function(core, cells, model, calibrated, threads, embedding,
                          call = rlang::caller_env()) {
  out <- rust_result(rs_model_predict(model_handle(model, call = call), core, calibrated,
                                      as.integer(threads), embedding, cells, FALSE), call = call)
  out[!vapply(out, is.null, logical(1))]
}

# `FUN(block, ...)` for the blocks of cells `blocks`, a round of a few blocks per BPPARAM worker
# at a time (started once for all rounds), each block's outputs written into the joined outputs
# as its round returns: besides the result, neither the workers nor this process hold more than
# a round of blocks. Returns `out` (the joined outputs, their matrices' rows named `cells`) and
# `values` (the blocks' `values` elements, taken out of the outputs).
predict_streamed <- function(blocks, cells, FUN, # nolint: object_name_linter.
                             workers, BPPARAM, ...) { # nolint: object_name_linter.
  n <- sum(lengths(blocks))
  out <- NULL
  values <- vector("list", length(blocks))
  parallel <- workers > 1L && length(blocks) > 1L
  if (parallel && !BiocParallel::bpisup(BPPARAM)) {
    BiocParallel::bpstart(BPPARAM)
    on.exit(BiocParallel::bpstop(BPPARAM), add = TRUE)
  }
  size <- if (parallel) 4L * workers else 1L
  for (round in split(seq_along(blocks), ceiling(seq_along(blocks) / size))) {
    parts <- bp_lapply(blocks[round], FUN, ..., BPPARAM = if (parallel) BPPARAM)
    for (i in seq_along(round)) {
      part <- parts[[i]]
      values[round[i]] <- list(part$values)
      part$values <- NULL
      if (!length(part)) next
      if (is.null(out)) {
        out <- lapply(part, function(v) {
          if (is.matrix(v)) {
            matrix(NA_real_, n, ncol(v), dimnames = list(cells, colnames(v)))
          } else {
            rep(NA_real_, n)
          }
        })
      }
      rows <- blocks[[round[i]]]
      for (name in names(part)) {
        if (is.matrix(part[[name]])) {
          out[[name]][rows, ] <- part[[name]]
        } else {
          out[[name]][rows] <- part[[name]]
        }
      }
    }
  }
  list(out = out, values = values)
}

# Which labels pruned_label drops (see scnym_predict()): uncertain cells and novel ones, where a
# doubtful label lowers the novelty that counts as novel (`novelty_above` at confidence 0.7 and
# above, in proportion to 1 - confidence below it).
prune_labels <- function(confidence, novelty, prune_below, novelty_above) {
  novel_above <- novelty_above * pmin(1, 0.3 / (1 - confidence))
  confidence < prune_below | (!is.na(novelty) & novelty > novel_above)
}

# The prediction table (see scnym_predict()) of the core's outputs `out`, whose matrices are
# named (rows: cells; see predict_block()).
prediction_table <- function(out, model, missing_genes, calibrated, prune_below, novelty_above) {
  prob <- out$probabilities
  cells <- rownames(prob)
  best <- max.col(prob, ties.method = "first")
  label <- model$classes[best]
  confidence <- prob[cbind(seq_len(nrow(prob)), best)]
  novelty <- out$novelty %||% rep(NA_real_, length(label))
  pruned_label <- label
  pruned_label[prune_labels(confidence, novelty, prune_below, novelty_above)] <- NA_character_
  table <- S4Vectors::DataFrame(label = label, confidence = confidence, novelty = novelty,
                                row.names = cells)
  if (!is.null(out$disagreement)) table$disagreement <- out$disagreement
  table$pruned_label <- pruned_label
  table$probabilities <- prob
  if (!is.null(out$embedding)) table$embedding <- out$embedding
  S4Vectors::metadata(table) <- list(model = model_summary(model), missing_genes = missing_genes,
                                     calibrated = calibrated, prune_below = prune_below,
                                     novelty_above = novelty_above)
  table
}

# A setting of a prediction table: an entry of metadata() of a DataFrame from scnym_predict(),
# or an attribute of a data.frame (the tables of scnym 0.99.0 and earlier); NULL when absent.
prediction_setting <- function(predictions, name) {
  if (methods::is(predictions, "DataFrame")) {
    return(S4Vectors::metadata(predictions)[[name]])
  }
  attr(predictions, name, exact = TRUE)
}

#' Integrated gradients of cells toward given classes
#'
#' For the trust engineer's explanation functions: aligns `x` like [scnym_predict()] and asks the
#' core for integrated gradients (zero baseline, `steps` steps, on the class probability).
#' @param model An `scnym_model`.
#' @param x Any supported input.
#' @param target_class Class names, one per cell of `x` (or a single name for every cell).
#' @param steps Number of integration steps.
#' @param threads libtorch threads (`NULL`: the model configuration's setting).
#' @param ... `assay`, `layer`, `assay_type`, `input` as in [scnym_predict()].
#' @return A dense cells x model-genes matrix (dimnames: cell names, model genes).
#' @noRd
model_integrated_gradients <- function(model, x, target_class, steps = 100L, threads = NULL,
                                       ..., call = rlang::caller_env()) {
  check_model(model, call = call)
  check_whole(steps, min = 1, max = 1e5, call = call)
  check_threads(threads, call = call)
  args <- list(...)
  query <- prepare_query(model, x, assay = args$assay, layer = args$layer,
                         assay_type = args$assay_type, input = args$input %||% "auto",
                         arg = "x", call = call)
  n <- length(query$cells)
  if (is.factor(target_class)) target_class <- as.character(target_class)
  if (!is.character(target_class) || !(length(target_class) %in% c(1L, n))) {
    scnym_abort(c("{.arg target_class} must be class names: one per cell ({n}) or a single one.",
                  x = "Got {.obj_type_friendly {target_class}} of length {length(target_class)}."),
                kind = "invalid_argument", call = call)
  }
  target_class <- rep_len(target_class, n)
  unknown <- setdiff(unique(target_class), model$classes)
  if (length(unknown)) {
    scnym_abort(c(paste("{.arg target_class} holds {length(unknown)} name{?s} that {?is/are}",
                        "not a class of the model: {.val {first_few(unknown)}}."),
                  i = "Classes: {.val {first_few(model$classes, 10)}}."),
                kind = "invalid_argument", call = call)
  }
  codes <- match(target_class, model$classes) - 1L
  threads <- if (is.null(threads)) 0L else as.integer(threads)
  core <- core_input(query$data, NULL, model$genes)
  out <- rust_result(rs_model_integrated_gradients(model_handle(model, call = call), core,
                                                   codes, as.integer(steps), threads),
                     call = call)
  dimnames(out) <- list(query$cells, model$genes)
  out
}

# Probability matrix of a prediction table, or NULL.
prediction_probabilities <- function(predictions) {
  prob <- predictions[["probabilities"]]
  if (is.null(prob)) return(NULL)
  prob <- as.matrix(prob)
  if (is.null(colnames(prob))) {
    scnym_abort(c("{.field probabilities} of {.arg predictions} has no column names.",
                  i = "Its columns must be named by class, as {.fn scnym_predict} returns them."),
                kind = "invalid_argument")
  }
  prob
}

# A prediction table: the DataFrame of scnym_predict(), or a data.frame.
is_prediction_table <- function(x) {
  is.data.frame(x) || methods::is(x, "DataFrame")
}

check_prediction_table <- function(predictions, columns, arg = "predictions",
                                   call = rlang::caller_env()) {
  if (!is_prediction_table(predictions)) {
    scnym_abort(c("{.arg {arg}} must be a prediction table from {.fn scnym_predict}.",
                  x = "Got {.obj_type_friendly {predictions}}."),
                kind = "invalid_argument", call = call)
  }
  miss <- setdiff(columns, names(predictions))
  if (length(miss)) {
    scnym_abort(c("{.arg {arg}} lacks the column{?s} {.field {miss}}.",
                  i = "Pass the table returned by {.fn scnym_predict}."),
                kind = "invalid_argument", call = call)
  }
  if ("confidence" %in% columns) {
    conf <- predictions$confidence
    if (!is.numeric(conf) || any(!is.na(conf) & (conf < 0 | conf > 1))) {
      scnym_abort(c("The {.field confidence} column of {.arg {arg}} must hold numbers in [0, 1]."),
                  kind = "invalid_argument", call = call)
    }
  }
  if (nrow(predictions) == 0) {
    scnym_abort("{.arg {arg}} has no rows.", kind = "invalid_argument", call = call)
  }
  invisible(predictions)
}
