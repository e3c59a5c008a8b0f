# Domains of training: the nuisance covariates (batch, donor, technology, ...) that the domain
# adversary removes from the embedding, one adversary head per covariate. `training_plan()`
# calls `plan_domains()`; the rest are its helpers.

#' The covariates, their levels, weights and per-cell codes of a training run
#'
#' @param ref,tgt Extracted reference and target data (`tgt` may be `NULL`).
#' @param labels The labels of `ref` (NA: unlabelled).
#' @param labelled,target_ref Indices of `ref`'s labelled cells and of its cells used as target.
#' @param domain,target_domain,domain_weight As in `scnym_train()`.
#' @param nm Argument names for messages (`x`, `domain`, `target`, `target_domain`).
#' @return A list: `levels` (a named list, one character vector of levels per covariate),
#'   `weights` (named numeric), `ref_codes` (a list, per covariate the 0-based codes of the
#'   labelled cells) and `target_codes` (per covariate the codes of the target cells: `target_ref`
#'   then `tgt`).
#' @noRd
plan_domains <- function(ref, tgt, labels, labelled, target_ref, domain, target_domain,
                         domain_weight, nm, call) {
  dom <- domain_covariates(domain, ref, nm$domain, nm$x, call)
  tdom <- NULL
  if (!is.null(tgt)) {
    tdom <- domain_covariates(target_domain, tgt, nm$target_domain, nm$target, call)
  }
  if (!is.null(dom) && !is.null(tdom)) {
    tdom <- match_covariates(dom, tdom, nm, call)
  }
  covariates <- names(dom %||% tdom) %||% "domain"
  if (is.null(dom)) {
    side <- ifelse(is.na(labels), "query", "reference")
    dom <- stats::setNames(rep(list(side), length(covariates)), covariates)
  }
  if (!is.null(tgt) && is.null(tdom)) {
    tdom <- rep(list(rep("query", length(tgt$cells))), length(covariates))
  }
  levels <- codes_ref <- codes_tgt <- stats::setNames(vector("list", length(covariates)),
                                                      covariates)
  for (k in seq_along(covariates)) {
    values <- c(dom[[k]][labelled], dom[[k]][target_ref], tdom[[k]])
    levels[[k]] <- unique(values)
    codes_ref[[k]] <- match(dom[[k]][labelled], levels[[k]]) - 1L
    codes_tgt[[k]] <- match(c(dom[[k]][target_ref], tdom[[k]]), levels[[k]]) - 1L
  }
  single <- lengths(levels) < 2L
  if (length(covariates) > 1L && any(single)) {
    scnym_abort(c(paste("Covariate{?s} {.val {covariates[single]}} {?has/have} a single level",
                        "among the training cells."),
                  i = paste("The adversary can only remove a covariate with two levels or more:",
                            "drop {cli::qty(sum(single))}{?it/them} from {.arg {nm$domain}}.")),
                kind = "invalid_data", call = call)
  }
  list(levels = levels, weights = domain_weights(domain_weight, covariates, call),
       ref_codes = codes_ref, target_codes = codes_tgt)
}

# One side's covariates: NULL, or a named list of character vectors with one value per cell.
# `value` is a vector or a metadata column name (one covariate), several metadata column names,
# or a data.frame (also a Bioconductor DataFrame) or list with one element per covariate.
domain_covariates <- function(value, data, arg, data_arg, call) {
  if (is.null(value)) {
    return(NULL)
  }
  n <- length(data$cells)
  cols <- if (is.null(data$meta)) character() else colnames(data$meta)
  if (is.character(value) && length(value) > 1L && length(value) != n && any(value %in% cols)) {
    value <- stats::setNames(as.list(value), value)
  }
  if (methods::is(value, "DataFrame")) {
    value <- as.data.frame(value) # Bioconductor's DataFrame, e.g. colData(x)[, c("donor", "tech")]
  }
  if (is.list(value)) {
    out <- covariate_list(value, data, arg, data_arg, call)
  } else {
    name <- if (is.character(value) && length(value) == 1L && n != 1L) value else "domain"
    out <- stats::setNames(list(cell_values(value, data, arg, data_arg, call = call)), name)
  }
  check_covariates_complete(out, arg, call)
}

# Refuses NA values in any covariate; returns the covariates.
check_covariates_complete <- function(covariates, arg, call) {
  for (k in seq_along(covariates)) {
    if (anyNA(covariates[[k]])) {
      msg <- "{.arg {arg}} has {sum(is.na(covariates[[k]]))} NA value{?s}"
      msg <- if (length(covariates) > 1L) {
        paste(msg, "in covariate {.val {names(covariates)[k]}}.")
      } else {
        paste0(msg, ".")
      }
      scnym_abort(c(msg,
                    i = "Give every cell a domain (e.g. its batch or condition)."),
                  kind = "invalid_data", call = call)
    }
  }
  covariates
}

# The covariates of a data.frame or list (one named element per covariate; a data.frame's row
# names, when set, name its cells).
covariate_list <- function(value, data, arg, data_arg, call) {
  keys <- names(value)
  if (!length(value) || is.null(keys) || any(!nzchar(keys)) || anyDuplicated(keys)) {
    scnym_abort(c(paste("{.arg {arg}} must have one column (element) per covariate, with",
                        "unique names."),
                  x = if (length(value)) "Its names are {.val {keys %||% \"\"}}." else
                    "It has none.",
                  i = paste("E.g. {.code data.frame(donor = ..., tech = ...)} or",
                            "{.code c(\"donor\", \"tech\")}.")),
                kind = "invalid_argument", call = call)
  }
  cells <- if (is.data.frame(value) && .row_names_info(value) > 0L) rownames(value) else NULL
  out <- lapply(keys, function(key) {
    v <- value[[key]]
    if (!is.null(cells)) names(v) <- cells
    cell_values(v, data, sprintf("%s$%s", arg, key), data_arg, call = call)
  })
  stats::setNames(out, keys)
}

# The target's covariates in the order of the reference's; one covariate on each side is taken
# as the same whatever their names, several must have the same names.
match_covariates <- function(dom, tdom, nm, call) {
  if (length(dom) == 1L && length(tdom) == 1L) {
    return(stats::setNames(tdom, names(dom)))
  }
  if (!setequal(names(dom), names(tdom)) || length(dom) != length(tdom)) {
    scnym_abort(c(paste("{.arg {nm$domain}} and {.arg {nm$target_domain}} must name the same",
                        "covariates."),
                  x = "{.arg {nm$domain}}: {.val {names(dom)}}.",
                  x = "{.arg {nm$target_domain}}: {.val {names(tdom)}}.",
                  i = "Give both the same columns (or leave {.arg {nm$target_domain}} NULL)."),
                kind = "invalid_argument", call = call)
  }
  tdom[names(dom)]
}

# One positive weight per covariate (default 1), in the covariates' order.
domain_weights <- function(weight, covariates, call) {
  k <- length(covariates)
  if (is.null(weight)) {
    return(stats::setNames(rep(1, k), covariates))
  }
  if (!is.numeric(weight) || length(weight) != k || anyNA(weight) ||
        any(!is.finite(weight) | weight <= 0)) {
    scnym_abort(c("{.arg domain_weight} must be {k} positive number{?s}, one per covariate.",
                  i = "The covariate{?s} {?is/are} {.val {covariates}}.",
                  x = "Got {.obj_type_friendly {weight}} of length {length(weight)}."),
                kind = "invalid_argument", call = call)
  }
  if (!is.null(names(weight))) {
    if (!setequal(names(weight), covariates) || anyDuplicated(names(weight))) {
      scnym_abort(c("The names of {.arg domain_weight} must be the covariates.",
                    x = "Got {.val {names(weight)}}; the covariates are {.val {covariates}}."),
                  kind = "invalid_argument", call = call)
    }
    weight <- weight[covariates]
  }
  stats::setNames(as.numeric(weight), covariates)
}

# The domains of a model or plan in words: "2 domains (reference, query)" for one covariate,
# "2 covariates: tech (5 domains, weight 1), donor (3 domains, weight 0.5)" for several
# (`list_levels = FALSE` leaves out the levels of one covariate).
domains_text <- function(levels, weights = NULL, list_levels = FALSE) {
  n <- lengths(levels)
  plural <- function(k) sprintf("%d domain%s", k, if (k == 1L) "" else "s")
  if (length(levels) == 1L) {
    if (!list_levels) return(plural(n))
    return(sprintf("%s (%s)", plural(n), paste(levels[[1L]], collapse = ", ")))
  }
  each <- vapply(seq_along(levels), function(k) {
    w <- if (is.null(weights)) "" else sprintf(", weight %s", format(weights[[k]]))
    sprintf("%s (%s%s)", names(levels)[k], plural(n[[k]]), w)
  }, "")
  sprintf("%d covariates: %s", length(levels), paste(each, collapse = ", "))
}
