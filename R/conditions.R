# Errors: every user-facing error is a classed condition `scnym_error_<kind>` (and `scnym_error`),
# raised with cli bullets and the user's call. Errors from the Rust core arrive as
# `scnym_rust_error` values (see src/rust/scnym-r/src/boundary.rs) and are raised here.

#' Raise a classed scnym error
#'
#' @param message A cli-formatted message: a string or a named character vector of bullets.
#' @param kind The error kind; the condition has class `scnym_error_<kind>` and `scnym_error`.
#' @param call The user's call to report.
#' @param ... Extra fields stored in the condition.
#' @param .envir Environment in which cli interpolates `message`.
#' @noRd
scnym_abort <- function(message, kind, call = rlang::caller_env(), ...,
                        .envir = parent.frame()) {
  cli::cli_abort(message, class = c(paste0("scnym_error_", kind), "scnym_error"),
                 call = call, ..., .envir = .envir)
}

#' Raise a classed scnym warning
#' @noRd
scnym_warn <- function(message, kind, ..., .envir = parent.frame()) {
  cli::cli_warn(message, class = c(paste0("scnym_warning_", kind), "scnym_warning"), ...,
                .envir = .envir)
}

#' Inform with a classed scnym message (`scnym_message_<kind>`, `scnym_message`)
#' @noRd
scnym_inform <- function(message, kind, ..., .envir = parent.frame()) {
  cli::cli_inform(message, class = c(paste0("scnym_message_", kind), "scnym_message"), ...,
                  .envir = .envir)
}

#' Evaluate `expr`, turning a user interrupt (Ctrl-C) into `scnym_error_interrupted`
#'
#' Rust loops report Ctrl-C as an "interrupted" error; an interrupt that arrives while R code
#' runs, or while Rust code that does not poll runs, surfaces as R's base `interrupt` condition
#' once control is back in R. Both end as the same classed error.
#' @noRd
with_interrupt_class <- function(expr, call = rlang::caller_env()) {
  tryCatch(expr, interrupt = function(cnd) {
    scnym_abort(c("Interrupted by the user.", i = unname(rust_error_hints["interrupted"])),
                kind = "interrupted", call = call)
  })
}

# Remedies shown under an error from the Rust core, by kind.
rust_error_hints <- c(
  interrupted = "Interrupted by the user; nothing was changed.",
  non_finite_loss = paste("Try a lower learning rate ({.code scnym_config(lr = 0.1)}) or check",
                          "the input for extreme values."),
  model_file = paste("Save the model again with {.fn scnym_save}, or install the scnym version",
                     "that wrote it."),
  internal = "This is a bug in scnym: please report it with the code that triggered it."
)

#' Return a value from the Rust core, or raise the error it carries
#'
#' @param x The value returned by an `rs_*` function.
#' @param call The user's call to report.
#' @noRd
rust_result <- function(x, call = rlang::caller_env()) {
  if (!inherits(x, "scnym_rust_error")) {
    return(x)
  }
  # The message is interpolated as a value, so braces or % in it are shown as they are.
  bullets <- c("{x$message}")
  hint <- rust_error_hints[x$kind]
  if (!is.na(hint)) bullets <- c(bullets, i = unname(hint))
  scnym_abort(bullets, kind = x$kind, call = call)
}
