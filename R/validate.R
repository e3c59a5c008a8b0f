# Argument and data checks. Everything here runs before any Rust code, names the argument at
# fault and says how to fix it; each failure is a classed `scnym_error_<kind>` condition raised
# with the user's call. None of these functions modifies its input.

# Largest value a log1p-CPM matrix can hold: a cell whose counts all fall on one gene.
max_log1p_cpm <- log1p(1e6)

check_flag <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    scnym_abort(c("{.arg {arg}} must be {.code TRUE} or {.code FALSE}.",
                  x = "Got {.obj_type_friendly {x}}."),
                kind = "invalid_argument", call = call)
  }
  invisible(x)
}

check_string <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env(),
                         allow_null = FALSE) {
  if (allow_null && is.null(x)) {
    return(invisible(x))
  }
  if (!is.character(x) || length(x) != 1L || is.na(x) || !nzchar(x)) {
    scnym_abort(c("{.arg {arg}} must be a single non-empty string.",
                  x = "Got {.obj_type_friendly {x}}."),
                kind = "invalid_argument", call = call)
  }
  invisible(x)
}

check_number <- function(x, min = -Inf, max = Inf, arg = rlang::caller_arg(x),
                         call = rlang::caller_env(), allow_null = FALSE) {
  if (allow_null && is.null(x)) {
    return(invisible(x))
  }
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x < min || x > max) {
    scnym_abort(c("{.arg {arg}} must be a single number between {min} and {max}.",
                  x = "Got {.val {format_value(x)}}."),
                kind = "invalid_argument", call = call)
  }
  invisible(x)
}

check_whole <- function(x, min = 0, max = Inf, arg = rlang::caller_arg(x),
                        call = rlang::caller_env(), allow_null = FALSE) {
  if (allow_null && is.null(x)) {
    return(invisible(x))
  }
  if (!is_whole_number(x) || x < min || x > max) {
    range <- if (is.finite(max)) paste("between", min, "and", max) else paste("at least", min)
    scnym_abort(c(paste0("{.arg {arg}} must be a single whole number ", range, "."),
                  x = "Got {.val {format_value(x)}}."),
                kind = "invalid_argument", call = call)
  }
  invisible(x)
}

is_whole_number <- function(x) {
  is.numeric(x) && length(x) == 1L && !is.na(x) && x == round(x)
}

check_choice <- function(x, choices, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.character(x) || length(x) != 1L || is.na(x) || !x %in% choices) {
    scnym_abort(c("{.arg {arg}} must be one of {.or {.val {choices}}}.",
                  x = "Got {.val {format_value(x)}}."),
                kind = "invalid_argument", call = call)
  }
  invisible(x)
}

check_threads <- function(threads, call = rlang::caller_env()) {
  check_whole(threads, min = 1, max = 1024, arg = "threads", call = call, allow_null = TRUE)
}

check_bpparam <- function(BPPARAM, call = rlang::caller_env()) { # nolint: object_name_linter.
  if (!methods::is(BPPARAM, "BiocParallelParam")) {
    scnym_abort(c("{.arg BPPARAM} must be a BiocParallel parameter object.",
                  x = "Got {.obj_type_friendly {BPPARAM}}.",
                  i = paste("Use e.g. {.code BiocParallel::SerialParam()} or",
                            "{.code BiocParallel::MulticoreParam(2)}.")),
                kind = "invalid_argument", call = call)
  }
  invisible(BPPARAM)
}

check_model <- function(model, arg = rlang::caller_arg(model), call = rlang::caller_env()) {
  if (!inherits(model, "scnym_model")) {
    scnym_abort(c("{.arg {arg}} must be an {.cls scnym_model}.",
                  x = "Got {.obj_type_friendly {model}}.",
                  i = "Train one with {.fn scnym_train} or read one with {.fn scnym_load}."),
                kind = "invalid_argument", call = call)
  }
  invisible(model)
}

# A short printable form of any value, for error messages.
format_value <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.atomic(x) && length(x) == 1L) return(x)
  if (is.atomic(x) && length(x) > 1L) return(first_few(x, 3L))
  paste0("<", class(x)[[1]], ">")
}

# The first few elements of a vector, for `{.val}` in messages (cli adds "..., and" the last).
first_few <- function(x, n = 5L) {
  cli::cli_vec(as.character(x), list("vec-trunc" = n))
}

#' Check expression values and decide whether they are counts
#'
#' Implements the rule of `input = "auto"` (documented in [scnym_train()]): whole numbers are
#' counts; other values at most `log(1 + 1e6)` are log-normalised expression; larger non-integer
#' values are non-integer counts (such as corrected CEL-seq counts), with a message. Also refuses
#' NA/NaN/Inf, negative values, empty inputs and cells without any expression. The values are
#' scanned by the core (`value_summary()`), a DelayedMatrix block by block.
#'
#' @param data An extracted input (see `extract_input()`).
#' @param input One of `"auto"`, `"counts"`, `"lognorm"`.
#' @param arg The name of the user's argument, for messages.
#' @param BPPARAM Workers that scan the blocks of a DelayedMatrix.
#' @param scan `FALSE` leaves the values to be checked while they are read (a prediction from a
#'   DelayedMatrix whose kind of values is given: see `predict_prepared()`), taking them as
#'   `input` says.
#' @return `data` with `input` (the kind found): `core_data()` turns log-normalised values back
#'   into pseudo-counts (`expm1`) so that the core normalises every input the same way.
#' @noRd
check_values <- function(data, input, arg, BPPARAM = NULL, # nolint: object_name_linter.
                         scan = TRUE, call = rlang::caller_env()) {
  mat <- data$mat
  if (ncol(mat) == 0L || nrow(mat) == 0L) {
    scnym_abort(c("{.arg {arg}} is empty: it has {nrow(mat)} gene{?s} and {ncol(mat)} cell{?s}.",
                  i = "Pass a matrix or object with at least one gene and one cell."),
                kind = "invalid_data", call = call)
  }
  data$input <- if (scan) {
    check_value_summary(value_summary(mat, BPPARAM), data, input, arg, call)
  } else {
    input
  }
  data
}

# The checks of check_values() on a value summary; returns the kind of values (see value_kind()).
check_value_summary <- function(s, data, input, arg, call) {
  check_finite_values(s, arg, call)
  if (s$n_negative > 0) {
    scnym_abort(c(paste("{.arg {arg}} contains {s$n_negative} negative value{?s} (minimum",
                        "{signif(s$min, 3)})."),
                  x = paste("scNym needs raw counts or log-normalised expression, not scaled or",
                            "centred data."),
                  i = "Use the counts (or log-normalised) values instead of scaled data."),
                kind = "invalid_data", call = call)
  }
  if (length(s$empty_cells)) {
    empty <- data$cells[s$empty_cells] # nolint: object_usage_linter.
    scnym_abort(c(paste("{.arg {arg}} has {length(empty)} cell{?s} without any expression:",
                        "{.val {first_few(empty)}}."),
                  i = "Remove them first, e.g. {.code x[, colSums(x) > 0]}."),
                kind = "invalid_data", call = call)
  }
  value_kind(s, input, arg, call)
}

# The core's summary of an input matrix's values (see `rs_value_summary()`), over the blocks a
# DelayedMatrix is read in (on the BPPARAM workers when given).
value_summary <- function(mat, BPPARAM = NULL) { # nolint: object_name_linter.
  blocks <- input_blocks(mat)
  if (length(blocks) == 1L) return(block_value_summary(blocks[[1L]], mat))
  dimnames(mat) <- NULL
  join_value_summaries(bp_lapply(blocks, block_value_summary, mat = mat, BPPARAM = BPPARAM))
}

# The value summary of the columns `cols` of an input matrix (empty cells as column indices), or
# of `block`, those columns already read.
block_value_summary <- function(cols, mat, block = read_cells(mat, cols)) {
  s <- rust_result(rs_value_summary(matrix_list(block)))
  s$empty_cells <- cols[s$empty_cells]
  s
}

# The value summary of all cells from those of consecutive blocks.
join_value_summaries <- function(parts) {
  field <- function(name) unlist(lapply(parts, `[[`, name))
  list(n_na = sum(field("n_na")), n_nan = sum(field("n_nan")), n_inf = sum(field("n_inf")),
       n_negative = sum(field("n_negative")), min = min(field("min")), max = max(field("max")),
       whole = all(field("whole")), empty_cells = field("empty_cells"))
}

# Refuses NA, NaN and infinite values (counted in a value summary), naming which occur.
check_finite_values <- function(s, arg, call) {
  n_bad <- s$n_na + s$n_nan + s$n_inf
  if (n_bad == 0) {
    return(invisible())
  }
  what <- c("NaN" = s$n_nan > 0, "NA" = s$n_na > 0, "Inf" = s$n_inf > 0)
  scnym_abort(c(paste0("{.arg {arg}} contains ", n_bad, " missing or infinite value",
                       if (n_bad == 1) "" else "s", " (",
                       paste(names(what)[what], collapse = "/"), ")."),
                i = "Replace or remove them; expression values must be finite."),
              kind = "invalid_data", call = call)
}

# "counts" or "lognorm" for non-negative finite values (a value summary) under the rule of
# `input`.
value_kind <- function(s, input, arg, call) {
  top <- s$max
  limit <- signif(max_log1p_cpm, 4) # nolint: object_usage_linter. (used by cli)
  whole <- s$whole
  if (input == "counts") {
    if (!whole && top <= max_log1p_cpm) {
      scnym_warn(c(paste("{.arg {arg}} looks log-normalised (non-integer values, all at most",
                         "{signif(top, 4)}), but {.code input = \"counts\"} reads it as counts."),
                   i = paste("Use {.code input = \"lognorm\"} or {.code input = \"auto\"} for",
                             "such values.")),
                 kind = "input_mismatch")
    }
    return("counts")
  }
  if (input == "lognorm") {
    if (top > max_log1p_cpm) {
      scnym_abort(c(paste("{.arg {arg}} cannot be log-normalised: its largest value",
                          "{signif(top, 4)} is above log(1 + 1e6) = {limit}."),
                    i = paste("Pass raw counts with {.code input = \"counts\"}, or",
                              "{.code input = \"auto\"}.")),
                  kind = "invalid_data", call = call)
    }
    return("lognorm")
  }
  if (whole) {
    return("counts")
  }
  if (top <= max_log1p_cpm) {
    return("lognorm")
  }
  scnym_inform(c(i = paste("{.arg {arg}} has non-integer values up to {signif(top, 4)} (above",
                           "log(1 + 1e6) = {limit}): read as non-integer counts (e.g. corrected",
                           "counts)."),
                 i = "Set {.code input = \"counts\"} to say so and silence this message."),
               kind = "input_guess")
  "counts"
}

# Log-normalised values back to pseudo-counts: the core normalises them over the genes given,
# whatever their scale was (log1p-CPM, Seurat's log1p-CP10k, ...).
unlog <- function(mat) {
  if (inherits(mat, "dgCMatrix")) {
    mat@x <- expm1(mat@x)
    return(mat)
  }
  expm1(mat)
}

# `match.arg()` for arguments whose default is the vector of choices, with a classed error.
arg_choice <- function(x, choices, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (identical(x, choices)) {
    return(choices[[1]])
  }
  check_choice(x, choices, arg = arg, call = call)
}

# A per-cell vector aligned to the rows of a table: by names when the vector is named and covers
# the row names, otherwise by position (lengths must agree).
align_cell_vector <- function(v, table, arg, call = rlang::caller_env()) {
  if (is.factor(v)) v <- as.character(v)
  if (!is.atomic(v) || is.null(v)) {
    scnym_abort(c("{.arg {arg}} must be a vector with one value per cell.",
                  x = "Got {.obj_type_friendly {v}}."), kind = "invalid_argument", call = call)
  }
  rn <- rownames(table)
  if (!is.null(names(v)) && !is.null(rn) && all(rn %in% names(v))) {
    return(unname(v[rn]))
  }
  if (length(v) != nrow(table)) {
    scnym_abort(c("{.arg {arg}} must have one value per cell.",
                  x = paste("{.arg {arg}} has length {length(v)} but there {?is/are}",
                            "{nrow(table)} cell{?s}."),
                  i = "Give a vector in the cells' order, or one named by cell."),
                kind = "invalid_argument", call = call)
  }
  unname(v)
}

check_count <- function(x, arg, min = 1, call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1 || is.na(x) || x < min || x != round(x)) {
    scnym_abort(c("{.arg {arg}} must be a whole number of at least {min}.",
                  x = "Got {.val {x}}."), kind = "invalid_argument", call = call)
  }
  invisible(x)
}

check_probability <- function(x, arg, call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1 || is.na(x) || x < 0 || x > 1) {
    scnym_abort(c("{.arg {arg}} must be one number between 0 and 1.",
                  x = "Got {.val {x}}."), kind = "invalid_argument", call = call)
  }
  invisible(x)
}

check_positive <- function(x, arg, call = rlang::caller_env()) {
  if (!is.numeric(x) || !length(x) || anyNA(x) || any(x <= 0)) {
    scnym_abort(c("{.arg {arg}} must be positive numbers.", x = "Got {.val {x}}."),
                kind = "invalid_argument", call = call)
  }
  invisible(x)
}

check_numeric_matrix <- function(x, arg, call = rlang::caller_env()) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!is.matrix(x) || !is.numeric(x) || anyNA(x) || any(!is.finite(x))) {
    scnym_abort(c("{.arg {arg}} must be a numeric matrix without missing or infinite values.",
                  x = "Got {.obj_type_friendly {x}}."), kind = "invalid_argument", call = call)
  }
  x
}
