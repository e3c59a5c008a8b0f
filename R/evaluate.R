# Evaluation of predictions against known labels: classification metrics, calibration, detection
# of cell types absent from the model, and domain mixing in the embedding (SPEC section 9).

#' Evaluate scNym predictions against known labels
#'
#' Scores a prediction table from [scnym_predict()] against the true labels of the same cells:
#' classification metrics, calibration of the confidence, how well the confidence flags cells of
#' types the model never saw, and (when `domain` is given) how well domains mix in the embedding.
#' Target labels are only read here, never used to train.
#'
#' Cells whose true label is `NA` are left out. Cells whose true label is not one of the model's
#' classes (the columns of `predictions$probabilities`) are *novel*: they can never be labelled
#' correctly, so the classification and calibration metrics are computed on the *evaluable* cells
#' (true label known to the model), as the reference implementation does, and the novel cells are
#' scored separately by how low their confidence is.
#'
#' Definitions (`n` evaluable cells, `K` classes):
#' * accuracy: fraction of cells with `label == truth`;
#' * Cohen's kappa: `(p_o - p_e) / (1 - p_e)` with `p_o` the accuracy and `p_e` the sum over
#'   classes of the product of the true and predicted class frequencies;
#' * macro-F1: the mean of the per-class F1 over the classes that occur in the truth or the
#'   predictions (a class never predicted has precision and F1 0);
#' * mean AUC: the mean over classes of the one-vs-rest area under the ROC curve of that class's
#'   probability (classes with both positive and negative cells only; ties count one half);
#' * calibration: the confidences are cut into `n_bins` equal-width bins
#'   `(m - 1) / n_bins < confidence <= m / n_bins` (the first bin also holds 0);
#'   `ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)|` and overconfidence
#'   `OE = sum_m |B_m|/n conf(B_m) max(conf(B_m) - acc(B_m), 0)`;
#' * novel-type detection: the AUROC of the confidence for separating evaluable cells (positive,
#'   expected high) from novel cells (expected low), and the fraction of novel cells with
#'   confidence `<= novel_threshold`;
#' * entropy of mixing: see [scnym_mixing_entropy()].
#'
#' @param predictions A prediction table: the `DataFrame` from [scnym_predict()], or a data.frame
#'   with columns `label` and `confidence`, and for the AUC and the novel-type metrics the
#'   matrix column `probabilities` (whose column names are the model's classes). A table with
#'   only `label` and `confidence` (for example another tool's output) is accepted: the model's
#'   classes are then taken to be the predicted labels and the AUC is `NA`.
#' @param truth The true labels, one per row of `predictions`: a character vector or factor, in
#'   the row order of `predictions` or named by cell (then matched to the row names). `NA` leaves
#'   a cell out.
#' @param domain Optional domain of each cell (same rules as `truth`). When given and
#'   `predictions` has an `embedding` column, the entropy of mixing of the domains in the
#'   embedding is reported. Use predictions of training and target cells together for this.
#' @param n_bins Number of equal-width confidence bins for the calibration metrics.
#' @param novel_threshold Confidence at or below which a cell counts as flagged (not trusted) in
#'   the novel-type metrics.
#' @param mixing_cells,mixing_neighbors Passed to [scnym_mixing_entropy()] as `n_cells` and `k`.
#' @param seed Seed for the cell sample of the entropy of mixing (`NULL`: use the session's RNG).
#'   The session's RNG state is restored afterwards.
#' @return An object of class `scnym_evaluation`, a list with:
#' * `summary`: a one-row data frame with `n_cells` (cells with a true label), `n_evaluable`,
#'   `n_novel`, `accuracy`, `kappa`, `macro_f1`, `mean_auc`, `ece`, `oe` (overconfidence error),
#'   `mean_confidence` (evaluable cells), `novel_auroc`, `novel_flagged` (fraction of novel cells
#'   with confidence `<= novel_threshold`), `known_flagged` (the same for evaluable cells),
#'   `entropy_of_mixing` (`NA` without `domain`) and `calibrated` (the `calibrated` attribute of
#'   `predictions`, `NA` when absent);
#' * `per_class`: a data frame with one row per class (model classes and true classes): `class`,
#'   `in_model` (the model knows the class), `n_true`, `n_predicted`, `n_correct`, `recall`,
#'   `precision`, `f1`, `auc` (one-vs-rest, `NA` when not computable) and `mean_confidence` (of
#'   the cells whose true label is the class);
#' * `confusion`: a table of true (rows) by predicted (columns) labels over all cells with a
#'   true label, novel ones included;
#' * `calibration`: the calibration curve as a data frame with one row per bin: `bin`, `lower`,
#'   `upper`, `n_cells`, `confidence` (mean confidence in the bin), `accuracy` (fraction correct)
#'   and `gap` (`accuracy - confidence`); empty bins have `NA`;
#' * `settings`: a list with `n_bins`, `novel_threshold` and `classes`.
#' @seealso [scnym_plot_calibration()] to draw the calibration curve, [scnym_calibration()] to
#'   compare calibrated and uncalibrated predictions.
#' @examples
#' set.seed(1)
#' classes <- c("B", "T", "NK")
#' p <- matrix(runif(300), 100, 3, dimnames = list(paste0("cell", 1:100), classes))
#' p <- p / rowSums(p)
#' pred <- data.frame(label = classes[max.col(p)], confidence = apply(p, 1, max),
#'                    row.names = rownames(p))
#' pred$probabilities <- p
#' truth <- ifelse(runif(100) < 0.7, pred$label, sample(classes, 100, TRUE))
#' ev <- scnym_evaluate(pred, truth)
#' ev
#' ev$per_class
#' @export
scnym_evaluate <- function(predictions, truth, domain = NULL, n_bins = 10L,
                           novel_threshold = 0.5, mixing_cells = 1000L,
                           mixing_neighbors = 100L, seed = 1L) {
  check_prediction_table(predictions, c("label", "confidence"))
  check_count(n_bins, "n_bins", min = 2)
  check_probability(novel_threshold, "novel_threshold")
  cells <- evaluation_cells(predictions, truth)
  classes <- cells$classes
  truth_k <- cells$truth
  label_k <- cells$label
  conf_k <- cells$confidence
  evaluable <- cells$evaluable
  n_eval <- sum(evaluable)
  t_e <- truth_k[evaluable]
  l_e <- label_k[evaluable]
  c_e <- conf_k[evaluable]
  correct <- l_e == t_e

  per_class <- per_class_metrics(t_e, l_e, truth_k, classes, conf_k, cells$prob)
  calibration <- calibration_curve(c_e, correct, n_bins)
  errors <- calibration_errors(calibration, n_eval)
  present <- per_class$n_true > 0 | per_class$n_predicted > 0
  present <- present & per_class$in_model
  macro_f1 <- if (n_eval > 0) mean(per_class$f1[present]) else NA_real_
  auc <- per_class$auc[per_class$in_model]
  mean_auc <- if (all(is.na(auc))) NA_real_ else mean(auc, na.rm = TRUE)

  novel <- !evaluable
  novel_auroc <- if (n_eval > 0 && any(novel)) auroc(conf_k, evaluable) else NA_real_
  mixing <- evaluation_mixing(predictions, domain, mixing_cells, mixing_neighbors, seed)
  calibrated <- prediction_setting(predictions, "calibrated")
  summary <- data.frame(
    n_cells = length(truth_k), n_evaluable = n_eval, n_novel = sum(novel),
    accuracy = if (n_eval > 0) mean(correct) else NA_real_,
    kappa = if (n_eval > 0) cohen_kappa(t_e, l_e) else NA_real_,
    macro_f1 = macro_f1, mean_auc = mean_auc, ece = errors$ece, oe = errors$oe,
    mean_confidence = if (n_eval > 0) mean(c_e) else NA_real_,
    novel_auroc = novel_auroc,
    novel_flagged = if (any(novel)) mean(conf_k[novel] <= novel_threshold) else NA_real_,
    known_flagged = if (n_eval > 0) mean(c_e <= novel_threshold) else NA_real_,
    entropy_of_mixing = mixing,
    calibrated = if (is.null(calibrated)) NA else isTRUE(calibrated)
  )
  structure(list(summary = summary, per_class = per_class,
                 confusion = confusion_table(truth_k, label_k, classes),
                 calibration = calibration,
                 settings = list(n_bins = as.integer(n_bins), novel_threshold = novel_threshold,
                                 classes = classes)),
            class = "scnym_evaluation")
}

# Truth x predicted label counts; the model's classes first, then other values in sorted order.
confusion_table <- function(truth, label, classes) {
  levels_of <- function(v) unique(c(classes, sort(unique(v))))
  table(truth = factor(truth, levels = levels_of(truth)),
        predicted = factor(label, levels = levels_of(label)))
}

# The cells scnym_evaluate() scores (those with a true label) as vectors: `truth`, `label` (NA
# as "<NA>"), `confidence`, `evaluable` (the true label is one of the model's `classes`), and
# `prob`, the class probabilities of the evaluable cells (NULL without them).
evaluation_cells <- function(predictions, truth, call = rlang::caller_env()) {
  truth <- align_cell_vector(truth, predictions, "truth", call = call)
  keep <- !is.na(truth)
  if (!any(keep)) {
    scnym_abort(c("{.arg truth} has no non-missing label.",
                  i = "Give the true label of at least one cell."), kind = "invalid_argument",
                call = call)
  }
  label <- as.character(predictions$label)
  label[is.na(label)] <- "<NA>"
  prob <- prediction_probabilities(predictions)
  classes <- if (is.null(prob)) sort(setdiff(unique(label), "<NA>")) else colnames(prob)
  evaluable <- truth[keep] %in% classes
  list(truth = truth[keep], label = label[keep],
       confidence = as.numeric(predictions$confidence)[keep], evaluable = evaluable,
       prob = if (!is.null(prob)) prob[keep, , drop = FALSE][evaluable, , drop = FALSE],
       classes = classes)
}

# Expected and overconfidence calibration errors from the calibration curve of `n_eval` cells.
calibration_errors <- function(calibration, n_eval) {
  if (n_eval == 0) return(list(ece = NA_real_, oe = NA_real_))
  w <- calibration$n_cells / n_eval
  filled <- calibration$n_cells > 0
  list(ece = sum((w * abs(calibration$gap))[filled]),
       oe = sum((w * calibration$confidence * pmax(-calibration$gap, 0))[filled]))
}

# scnym_evaluate()'s entropy of mixing of `domain` in the predictions' embedding (NA: no domain).
evaluation_mixing <- function(predictions, domain, n_cells, k, seed,
                              call = rlang::caller_env()) {
  if (is.null(domain)) return(NA_real_)
  domain <- align_cell_vector(domain, predictions, "domain", call = call)
  emb <- predictions[["embedding"]]
  if (is.null(emb)) {
    scnym_abort(c("{.arg predictions} has no {.field embedding} column.",
                  i = "The entropy of mixing needs the embedding from {.fn scnym_predict}."),
                kind = "invalid_argument", call = call)
  }
  scnym_mixing_entropy(emb, domain, n_cells = n_cells, k = k, seed = seed)
}

#' @method print scnym_evaluation
#' @export
print.scnym_evaluation <- function(x, ...) {
  s <- x$summary
  f <- function(v, d = 3) if (is.na(v)) "NA" else formatC(v, format = "f", digits = d)
  out <- cli::format_inline("{.cls scnym_evaluation}: {s$n_cells} cell{?s} with a true label, ",
                            "{s$n_evaluable} of a class the model knows, {s$n_novel} novel")
  cal <- if (is.na(s$calibrated)) "" else if (s$calibrated) " (calibrated)" else " (uncalibrated)"
  out <- c(out,
    paste0("* accuracy ", f(s$accuracy), ", Cohen's kappa ", f(s$kappa), ", macro-F1 ",
           f(s$macro_f1), ", mean AUC ", f(s$mean_auc)),
    paste0("* calibration", cal, ": ECE ", f(s$ece, 4), ", overconfidence ", f(s$oe, 4),
           ", mean confidence ", f(s$mean_confidence)))
  if (s$n_novel > 0) {
    out <- c(out, paste0(
      "* novel types: AUROC of confidence ", f(s$novel_auroc), ", ", f(100 * s$novel_flagged, 1),
      "% of novel and ", f(100 * s$known_flagged, 1), "% of known cells at confidence <= ",
      x$settings$novel_threshold))
  }
  if (!is.na(s$entropy_of_mixing)) {
    out <- c(out, paste0("* entropy of mixing of domains: ", f(s$entropy_of_mixing)))
  }
  cat(out, sep = "\n")
  pc <- x$per_class
  pc <- pc[pc$n_true > 0, , drop = FALSE]
  out <- data.frame(class = pc$class, n = pc$n_true, recall = round(pc$recall, 3),
                    precision = round(pc$precision, 3), f1 = round(pc$f1, 3),
                    auc = round(pc$auc, 3))
  print(out, row.names = FALSE)
  invisible(x)
}

#' Compare calibrated and uncalibrated confidence on labelled cells
#'
#' Predicts `x` with the model twice, with and without the temperature fitted on the held-out
#' training cells (see [scnym_predict()]), and reports the expected calibration error and the
#' overconfidence error of each, with both calibration curves.
#'
#' @param model An `scnym_model`.
#' @param x Cells to predict (any input [scnym_predict()] accepts).
#' @param truth True labels of the cells of `x` (see [scnym_evaluate()]).
#' @param n_bins Number of confidence bins.
#' @param ... Passed to [scnym_predict()].
#' @return An object of class `scnym_calibration`, a list with `summary` (a data frame with one
#'   row per setting: `calibrated` (logical), `temperature` (the temperature applied; 1 when
#'   uncalibrated), `accuracy`, `ece`, `oe`, `mean_confidence`), `curves` (the two calibration
#'   curves of [scnym_evaluate()] stacked, with a column `calibrated`) and `evaluations` (the two
#'   `scnym_evaluation` objects, named `uncalibrated` and `calibrated`).
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, output = "matrix")
#' model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
#'                      target = sim$query$counts,
#'                      config = scnym_config(max_epochs = 5, min_epochs = 1),
#'                      seed = 1, threads = 1, verbose = FALSE)
#' cal <- scnym_calibration(model, sim$query$counts, truth = sim$query$metadata$cell_type)
#' cal
#' scnym_plot_calibration(cal)
#' @export
scnym_calibration <- function(model, x, truth, n_bins = 10L, ...) {
  raw <- scnym_predict(model, x, calibrated = FALSE, ...)
  cal <- scnym_predict(model, x, calibrated = TRUE, ...)
  ev <- list(uncalibrated = scnym_evaluate(raw, truth, n_bins = n_bins),
             calibrated = scnym_evaluate(cal, truth, n_bins = n_bins))
  temperature <- model_field(model, "temperature")
  if (is.null(temperature)) temperature <- NA_real_
  summary <- data.frame(
    calibrated = c(FALSE, TRUE), temperature = c(1, temperature),
    accuracy = vapply(ev, function(e) e$summary$accuracy, numeric(1)),
    ece = vapply(ev, function(e) e$summary$ece, numeric(1)),
    oe = vapply(ev, function(e) e$summary$oe, numeric(1)),
    mean_confidence = vapply(ev, function(e) e$summary$mean_confidence, numeric(1)),
    row.names = NULL
  )
  curves <- rbind(cbind(ev$uncalibrated$calibration, calibrated = FALSE),
                  cbind(ev$calibrated$calibration, calibrated = TRUE))
  structure(list(summary = summary, curves = curves, evaluations = ev),
            class = "scnym_calibration")
}

#' @method print scnym_calibration
#' @export
print.scnym_calibration <- function(x, ...) {
  cat(cli::format_inline("{.cls scnym_calibration}: expected calibration error before and ",
                         "after temperature scaling"), "\n")
  s <- x$summary
  s[, c("accuracy", "ece", "oe", "mean_confidence")] <-
    round(s[, c("accuracy", "ece", "oe", "mean_confidence")], 4)
  s$temperature <- round(s$temperature, 3)
  print(s, row.names = FALSE)
  invisible(x)
}

#' Entropy of mixing of domains in an embedding
#'
#' Measures how well cells of different domains (batches, conditions, technologies) mix in an
#' embedding, as in the scNym paper: sample `n_cells` cells, find each one's `k` nearest
#' neighbours (Euclidean distance, the cell itself excluded) among all cells, compute the Shannon
#' entropy (natural logarithm) of the domain proportions among those neighbours, and average.
#' Perfect mixing of `D` equally sized domains gives `log(D)`; no mixing gives 0.
#'
#' @param embedding A numeric matrix, cells by dimensions (for example
#'   `predictions$embedding` from [scnym_predict()]).
#' @param domain The domain of each cell (a vector with one value per row of `embedding`).
#' @param n_cells Number of cells sampled (all cells when fewer).
#' @param k Number of nearest neighbours (at most the number of cells minus one).
#' @param seed Seed for the sample (`NULL`: use the session's RNG); the session's RNG state is
#'   restored afterwards.
#' @return The mean entropy, a number between 0 and `log(number of domains)`.
#' @examples
#' set.seed(1)
#' emb <- matrix(rnorm(400), 200, 2)
#' # well mixed: domains assigned at random
#' scnym_mixing_entropy(emb, sample(c("a", "b"), 200, TRUE), k = 20)
#' # not mixed: domains separated along the first axis
#' scnym_mixing_entropy(emb, ifelse(emb[, 1] > 0, "a", "b"), k = 20)
#' @export
scnym_mixing_entropy <- function(embedding, domain, n_cells = 1000L, k = 100L, seed = 1L) {
  embedding <- check_numeric_matrix(embedding, "embedding")
  n <- nrow(embedding)
  if (length(domain) != n) {
    scnym_abort(c("{.arg domain} must have one value per row of {.arg embedding}.",
                  x = paste("{.arg domain} has length {length(domain)},",
                            "{.arg embedding} has {n} row{?s}.")),
                kind = "invalid_argument")
  }
  if (anyNA(domain)) {
    scnym_abort(c("{.arg domain} contains missing values.",
                  i = "Drop those cells or give them a domain."), kind = "invalid_argument")
  }
  check_count(n_cells, "n_cells", min = 1)
  check_count(k, "k", min = 1)
  if (n < 2) {
    scnym_abort("The entropy of mixing needs at least 2 cells.", kind = "invalid_argument")
  }
  k <- min(as.integer(k), n - 1L)
  domain <- as.integer(factor(domain))
  idx <- with_rng_seed(seed, if (n > n_cells) sort(sample.int(n, n_cells)) else seq_len(n))
  nn <- knn_search(embedding, k, subset = idx)
  nd <- max(domain)
  ent <- apply(nn, 1, function(j) {
    p <- tabulate(domain[j], nbins = nd) / length(j)
    p <- p[p > 0]
    -sum(p * log(p))
  })
  mean(ent)
}

# ---- internal helpers (shared with discover.R, plots.R, explain.R, tune.R) --------------------

# Area under the ROC curve of `score` for `positive` (logical) vs the rest, by ranks (ties 1/2).
auroc <- function(score, positive) {
  n_pos <- sum(positive)
  n_neg <- sum(!positive)
  if (n_pos == 0 || n_neg == 0) return(NA_real_)
  r <- rank(score, ties.method = "average")
  (sum(r[positive]) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
}

cohen_kappa <- function(truth, label) {
  lev <- unique(c(truth, label))
  t <- factor(truth, levels = lev)
  l <- factor(label, levels = lev)
  po <- mean(truth == label)
  pe <- sum(as.numeric(table(t)) / length(t) * as.numeric(table(l)) / length(l))
  if (isTRUE(all.equal(pe, 1))) return(if (po == 1) 1 else 0)
  (po - pe) / (1 - pe)
}

per_class_metrics <- function(t_e, l_e, truth_all, classes, conf_all, prob_e) {
  all_classes <- unique(c(classes, sort(setdiff(unique(truth_all), classes))))
  rows <- lapply(all_classes, function(k) {
    is_t <- t_e == k
    is_p <- l_e == k
    n_true <- if (k %in% classes) sum(is_t) else sum(truth_all == k)
    n_pred <- sum(is_p)
    n_cor <- sum(is_t & is_p)
    known <- k %in% classes
    recall <- if (n_true > 0) n_cor / n_true else NA_real_
    precision <- if (!known) {
      NA_real_
    } else if (n_pred > 0) {
      n_cor / n_pred
    } else if (n_true > 0) {
      0
    } else {
      NA_real_
    }
    f1 <- if (known && n_true + n_pred > 0) 2 * n_cor / (n_true + n_pred) else NA_real_
    auc <- if (known && !is.null(prob_e)) auroc(prob_e[, k], is_t) else NA_real_
    mc <- if (n_true > 0) mean(conf_all[truth_all == k]) else NA_real_
    data.frame(class = k, in_model = k %in% classes, n_true = n_true, n_predicted = n_pred,
               n_correct = n_cor, recall = recall, precision = precision, f1 = f1, auc = auc,
               mean_confidence = mc)
  })
  do.call(rbind, rows)
}

calibration_curve <- function(confidence, correct, n_bins) {
  bin <- pmin(pmax(ceiling(confidence * n_bins), 1), n_bins)
  n <- tabulate(bin, nbins = n_bins)
  conf <- vapply(seq_len(n_bins), function(b) if (n[b]) mean(confidence[bin == b]) else NA_real_,
                 numeric(1))
  acc <- vapply(seq_len(n_bins), function(b) if (n[b]) mean(correct[bin == b]) else NA_real_,
                numeric(1))
  data.frame(bin = seq_len(n_bins), lower = (seq_len(n_bins) - 1) / n_bins,
             upper = seq_len(n_bins) / n_bins, n_cells = n, confidence = conf, accuracy = acc,
             gap = acc - conf)
}
