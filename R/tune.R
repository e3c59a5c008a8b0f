# Hyperparameter selection without target labels: reverse cross-validation (SPEC section 9).

#' Choose training settings by reverse cross-validation
#'
#' Compares training settings without any target label, by reverse cross-validation (Zhong et al.
#' 2010; used by the scNym paper): a setting is good when a model trained on the target cells'
#' *predicted* labels recovers the true labels of held-out reference cells.
#'
#' For each setting and each fold:
#' 1. a stratified tenth of the labelled cells is held out as the fold's test set (folds use
#'    disjoint tenths); the other nine tenths train a model with the target cells (forward), and
#'    [scnym_train()] holds out `val_fraction` of them for model selection (about 80/10/10 in
#'    all);
#' 2. the forward model labels the target cells (pseudolabels);
#' 3. a reverse model is trained on the target cells with those pseudolabels, with the labelled
#'    cells of the fold (training and test, labels hidden) as its target;
#' 4. the reverse accuracy is the reverse model's accuracy on the held-out test cells.
#'
#' The setting with the best mean reverse accuracy over the folds wins. Every setting sees the same
#' folds and the same training seeds, so differences come from the settings. Each fold trains two
#' models per setting: keep the grid and `n_folds` small, or lower `max_epochs` in `base`.
#'
#' @param x Labelled reference cells (any input [scnym_train()] accepts); cells with `NA`
#'   labels are the target when `target` is `NULL`.
#' @param labels Labels of `x`: a metadata column name or a vector.
#' @param target Target cells (any input [scnym_train()] accepts), or `NULL` (see `x`).
#' @param grid The settings to compare: a data frame with one row per setting whose columns are
#'   [scnym_config()] parameters (and optionally `preset`), or a named list of values whose
#'   combinations are tried. Default: the presets `"default"`, `"no_dan"` and `"no_ssl"` (does
#'   semisupervision or the adversary help on these data?).
#' @param n_folds Number of folds (1 to 10; the paper used 5).
#' @param base A named list of [scnym_config()] parameters applied to every setting (for
#'   example `list(max_epochs = 30)`); a setting's own values win.
#' @param seed Seed of the folds and of the training runs; the session's RNG state is restored
#'   afterwards.
#' @param threads Number of libtorch threads of each training (and of each `BPPARAM` worker).
#' @param verbose Report progress (one line per setting and fold).
#' @param BPPARAM A [BiocParallel::BiocParallelParam-class] object (default
#'   [BiocParallel::SerialParam()]). With several workers the (setting, fold) pairs are spread
#'   over them, each trained with `threads` libtorch threads (1 by default, so that the workers
#'   do not oversubscribe the cores); the progress lines are printed in order once every pair has
#'   returned. The result is identical to a serial run, except for the `seconds` of each fold.
#' @param assay,layer,assay_type,input As in [scnym_train()].
#' @return An object of class `scnym_tuning`, a list with:
#' * `summary`: one row per setting: `setting` (its number), the grid's columns,
#'   `mean_reverse_accuracy`, `sd_reverse_accuracy`, `n_folds` (folds that completed) and `best`
#'   (logical);
#' * `folds`: one row per setting and fold: `setting`, `fold`, `reverse_accuracy`,
#'   `forward_val_accuracy` (the forward model's validation accuracy), `pseudolabel_classes`
#'   (the number of classes among the pseudolabels), `seconds` and `error` (the message when
#'   the fold failed, else `NA`);
#' * `best_config`: the [scnym_config()] of the best setting;
#' * `grid`: the settings as a data frame.
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, output = "matrix")
#' tuned <- scnym_tune(sim$reference$counts, labels = sim$reference$metadata$cell_type,
#'                     target = sim$query$counts, n_folds = 2,
#'                     base = list(max_epochs = 5, min_epochs = 1), threads = 1,
#'                     verbose = FALSE)
#' tuned$summary
#' tuned$best_config
#' @export
scnym_tune <- function(x, labels, target = NULL, grid = NULL, n_folds = 3L, base = list(),
                       seed = 1L, threads = 1L, verbose = TRUE, assay = NULL, layer = NULL,
                       assay_type = NULL, input = c("auto", "counts", "lognorm"),
                       BPPARAM = BiocParallel::SerialParam()) { # nolint: object_name_linter.
  input <- rlang::arg_match(input)
  check_count(n_folds, "n_folds", min = 1)
  if (n_folds > 10) {
    scnym_abort(c("{.arg n_folds} must be at most 10.", x = "Got {n_folds}.",
                  i = "Each fold holds out a tenth of the labelled cells."),
                kind = "invalid_argument")
  }
  if (!is.list(base) || (length(base) && is.null(names(base)))) {
    scnym_abort(c("{.arg base} must be a named list of {.fn scnym_config} parameters.",
                  x = "Got {.obj_type_friendly {base}}."), kind = "invalid_argument")
  }
  check_count(seed, "seed", min = 0)
  if (!is.logical(verbose) || length(verbose) != 1 || is.na(verbose)) {
    scnym_abort("{.arg verbose} must be TRUE or FALSE.", kind = "invalid_argument")
  }
  check_bpparam(BPPARAM)
  grid <- tune_grid(grid)
  configs <- lapply(seq_len(nrow(grid)), function(i) tune_config(grid[i, , drop = FALSE], base))
  data <- tune_inputs(x, if (missing(labels)) NULL else labels, target,
                      list(assay = assay, layer = layer, assay_type = assay_type))
  parts <- with_rng_seed(seed, stratified_tenths(data$y))

  folds <- tune_folds(data, parts, configs, n_folds, seed, threads, input, verbose, BPPARAM)
  summary <- cbind(data.frame(setting = seq_len(nrow(grid))), grid,
                   tune_summary(folds$reverse_accuracy, folds$setting))
  if (all(is.na(summary$mean_reverse_accuracy))) {
    scnym_abort(c("Every reverse cross-validation fold failed.",
                  x = "First error: {folds$error[1]}"), kind = "training_failed")
  }
  best <- which.max(summary$mean_reverse_accuracy)
  summary$best <- seq_len(nrow(summary)) == best
  rownames(summary) <- NULL
  structure(list(summary = summary, folds = folds, best_config = configs[[best]], grid = grid),
            class = "scnym_tuning")
}

# Reverse cross-validation of every setting on every fold: one row per setting and fold. With
# several BPPARAM workers the (setting, fold) pairs are spread over them and the progress lines
# printed once all have returned; serially each line follows its fold.
tune_folds <- function(data, parts, configs, n_folds, seed, threads, input, verbose,
                       BPPARAM) { # nolint: object_name_linter.
  pairs <- Map(c, setting = rep(seq_along(configs), each = n_folds),
               fold = rep(seq_len(n_folds), times = length(configs)))
  total <- c(setting = length(configs), fold = n_folds)
  if (BiocParallel::bpnworkers(BPPARAM) > 1L && length(pairs) > 1L) {
    rows <- BiocParallel::bplapply(pairs, tune_pair, data = data, parts = parts,
                                   configs = configs, seed = seed, threads = threads,
                                   input = input, BPPARAM = BPPARAM)
    if (verbose) for (row in rows) tune_progress(row, total)
  } else {
    rows <- lapply(pairs, function(pair) {
      row <- tune_pair(pair, data, parts, configs, seed, threads, input)
      if (verbose) tune_progress(row, total)
      row
    })
  }
  do.call(rbind, rows)
}

# One (setting, fold) pair of tune_folds() as a one-row data frame.
tune_pair <- function(pair, data, parts, configs, seed, threads, input) {
  f <- pair[["fold"]]
  row <- tune_fold(data, parts == f, configs[[pair[["setting"]]]], seed = seed + f,
                   threads = threads, input = input)
  cbind(data.frame(setting = pair[["setting"]], fold = f), row)
}

# The progress line of a row of tune_folds(); `total`: the numbers of settings and folds.
tune_progress <- function(row, total) {
  msg <- if (is.na(row$error)) { # nolint: object_usage_linter. (used in the cli string)
    sprintf("reverse accuracy %.3f", row$reverse_accuracy)
  } else {
    paste("failed:", row$error)
  }
  cli::cli_inform(paste("setting {row$setting}/{total[['setting']]},",
                        "fold {row$fold}/{total[['fold']]}: {msg} ({round(row$seconds)} s)"))
}

#' @method print scnym_tuning
#' @export
print.scnym_tuning <- function(x, ...) {
  s <- x$summary
  cat(cli::format_inline("{.cls scnym_tuning}: reverse cross-validation of {nrow(s)} setting{?s} ",
                         "over {max(x$folds$fold)} fold{?s}"), "\n")
  shown <- s
  shown$mean_reverse_accuracy <- round(shown$mean_reverse_accuracy, 4)
  shown$sd_reverse_accuracy <- round(shown$sd_reverse_accuracy, 4)
  print(shown, row.names = FALSE)
  failed <- sum(!is.na(x$folds$error))
  if (failed) cat(sprintf("# %d fold(s) failed; see $folds$error\n", failed))
  invisible(x)
}

# ---- internals ---------------------------------------------------------------------------------

# The labelled source cells (matrix and labels) and the target matrix.
tune_inputs <- function(x, labels, target, extract, call = rlang::caller_env()) {
  ref <- extract_input(x, assay = extract$assay, layer = extract$layer,
                       assay_type = extract$assay_type, arg = "x", call = call)
  lab <- cell_values(labels, ref, "labels", "x", call = call)
  if (is.null(lab)) {
    scnym_abort(c("{.arg labels} is missing.", i = "Give the cell types of {.arg x}."),
                kind = "invalid_argument", call = call)
  }
  if (is.null(target)) {
    tgt_mat <- ref$mat[, is.na(lab), drop = FALSE]
    if (ncol(tgt_mat) == 0) {
      scnym_abort(c("There are no target cells.",
                    i = "Pass {.arg target}, or give the target cells of {.arg x} an NA label."),
                  kind = "invalid_argument", call = call)
    }
  } else {
    tgt_mat <- extract_input(target, assay = extract$assay, layer = extract$layer,
                             assay_type = extract$assay_type, arg = "target", call = call)$mat
  }
  labelled <- which(!is.na(lab))
  y <- lab[labelled]
  if (length(unique(y)) < 2) {
    scnym_abort("{.arg labels} has a single class; nothing to tune.", kind = "invalid_data",
                call = call)
  }
  list(src = ref$mat[, labelled, drop = FALSE], y = y, tgt = tgt_mat)
}

# One fold as a one-row data frame; a failure is recorded in `error` (an interrupt is not).
tune_fold <- function(data, test, config, seed, threads, input) {
  t0 <- proc.time()[["elapsed"]]
  res <- tryCatch(
    reverse_fold(data$src, data$y, test, data$tgt, config, seed = seed, threads = threads,
                 input = input),
    scnym_error_interrupted = function(e) stop(e),
    error = function(e) list(error = conditionMessage(e))
  )
  data.frame(reverse_accuracy = res$reverse_accuracy %||% NA_real_,
             forward_val_accuracy = res$forward_val_accuracy %||% NA_real_,
             pseudolabel_classes = res$pseudolabel_classes %||% NA_integer_,
             seconds = proc.time()[["elapsed"]] - t0,
             error = res$error %||% NA_character_)
}

# Mean and sd of the reverse accuracy per setting, over the folds that completed.
tune_summary <- function(accuracy, setting) {
  acc <- split(accuracy, setting)
  ok <- lapply(acc, function(a) a[!is.na(a)])
  data.frame(
    mean_reverse_accuracy = vapply(ok, function(a) if (length(a)) mean(a) else NA_real_,
                                   numeric(1)),
    sd_reverse_accuracy = vapply(ok, function(a) if (length(a) > 1) stats::sd(a) else NA_real_,
                                 numeric(1)),
    n_folds = vapply(ok, length, integer(1))
  )
}

# The grid as a data frame, one row per setting.
tune_grid <- function(grid, call = rlang::caller_env()) {
  if (is.null(grid)) {
    return(data.frame(preset = c("default", "no_dan", "no_ssl"), stringsAsFactors = FALSE))
  }
  if (is.list(grid) && !is.data.frame(grid)) {
    if (!length(grid) || is.null(names(grid)) || any(!nzchar(names(grid)))) {
      scnym_abort(c("{.arg grid} must be a data frame or a named list of values.",
                    x = "Got {.obj_type_friendly {grid}}."), kind = "invalid_argument", call = call)
    }
    grid <- expand.grid(grid, stringsAsFactors = FALSE, KEEP.OUT.ATTRS = FALSE)
  }
  if (!is.data.frame(grid) || nrow(grid) == 0 || ncol(grid) == 0) {
    scnym_abort(c(paste("{.arg grid} must be a data frame with at least one row and column,",
                        "or a named list."),
                  x = "Got {.obj_type_friendly {grid}}."), kind = "invalid_argument", call = call)
  }
  grid
}

# A validated configuration for one grid row (errors name the bad parameter).
tune_config <- function(row, base, call = rlang::caller_env()) {
  vals <- lapply(as.list(row), function(v) if (is.factor(v)) as.character(v) else v)
  preset <- vals$preset %||% base$preset %||% "default"
  vals$preset <- NULL
  base$preset <- NULL
  params <- utils::modifyList(base, vals)
  do.call(scnym_config, c(list(preset = preset), params))
}

# A stratified assignment of cells to ten parts (1..10), at random within each class.
stratified_tenths <- function(y) {
  parts <- integer(length(y))
  offset <- 0L
  for (k in sort(unique(y))) {
    i <- which(y == k)
    i <- i[sample.int(length(i))]
    parts[i] <- ((seq_along(i) + offset - 1L) %% 10L) + 1L
    offset <- offset + length(i)
  }
  parts
}

# One fold of reverse cross-validation.
reverse_fold <- function(src, y, test, tgt, config, seed, threads, input) {
  train <- !test
  fwd <- scnym_train(src[, train, drop = FALSE], labels = y[train], target = tgt, config = config,
                     seed = seed, threads = threads, verbose = FALSE, input = input)
  pseudo <- scnym_predict(fwd, tgt, threads = threads, input = input)$label
  rev <- scnym_train(tgt, labels = pseudo, target = src, config = config, seed = seed,
                     threads = threads, verbose = FALSE, input = input)
  pred <- scnym_predict(rev, src[, test, drop = FALSE], threads = threads, input = input)$label
  list(reverse_accuracy = mean(pred == y[test]),
       forward_val_accuracy = model_best(fwd)$val_accuracy,
       pseudolabel_classes = length(unique(pseudo)))
}
