#' Save and load scNym models
#'
#' `scnym_save()` writes a model to the engine's portable file format (safetensors weights plus
#' JSON metadata: format version, configuration with seed, genes, classes, domains, training
#' history, temperature and library versions); `scnym_load()` reads it back. The file does not
#' depend on R: the same file is read by the Rust core alone. Models also survive
#' [saveRDS()]/[readRDS()] (the weights are kept as a raw vector and the native model is rebuilt
#' on first use).
#'
#' `scnym_load()` refuses, with a classed error, a path that does not exist
#' (`scnym_error_io`), a truncated or corrupt file and a file written by a newer format version
#' (`scnym_error_model_file`).
#'
#' @param model An `scnym_model`.
#' @param path File path (conventionally with extension `.scnym`).
#' @param overwrite Replace an existing file?
#' @return `scnym_save()` returns `path` invisibly; `scnym_load()` an `scnym_model`.
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, output = "matrix")
#' model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
#'                      config = scnym_config(max_epochs = 3, min_epochs = 1),
#'                      verbose = FALSE, threads = 1)
#' path <- tempfile(fileext = ".scnym")
#' scnym_save(model, path)
#' same <- scnym_load(path)
#' identical(same$classes, model$classes)
#' @export
scnym_save <- function(model, path, overwrite = FALSE) {
  check_model(model)
  check_string(path)
  check_flag(overwrite)
  # The file holds the bytes: refuse bytes that are not a valid model or that the model's
  # fields no longer describe.
  loaded <- rust_result(rs_model_from_bytes(model$bytes))
  check_model_view(model, model_view(loaded$meta), call = rlang::current_env())
  if (dir.exists(path)) {
    scnym_abort(c("{.path {path}} is a directory.",
                  i = "Give the path of a file in it, e.g. {.file {path}/model.scnym}."),
                kind = "io")
  }
  if (file.exists(path) && !overwrite) {
    scnym_abort(c("{.path {path}} already exists.",
                  i = "Use {.code overwrite = TRUE} to replace it, or choose another path."),
                kind = "io")
  }
  dir <- dirname(path)
  if (!dir.exists(dir)) {
    scnym_abort(c("The directory {.path {dir}} does not exist.",
                  i = "Create it first, e.g. {.code dir.create(\"{dir}\", recursive = TRUE)}."),
                kind = "io")
  }
  # Write beside the target and rename (atomic on one file system), so a failed or interrupted
  # write never leaves half a file at `path`; the temporary file is removed on every exit, and
  # those of saves killed outright (kill -9) are removed by the next save into the directory.
  remove_stale_temp_files(dir)
  tmp <- tempfile(pattern = paste0(temp_prefix(), Sys.getpid(), "-"), tmpdir = dir,
                  fileext = ".tmp")
  on.exit(unlink(tmp), add = TRUE)
  ok <- tryCatch({
    writeBin(model$bytes, tmp)
    file.rename(tmp, path)
  }, error = function(e) FALSE, warning = function(w) FALSE)
  if (!isTRUE(ok)) {
    scnym_abort("Could not write the model to {.path {path}}.", kind = "io")
  }
  invisible(path)
}

# Temporary files of scnym_save() are named `.scnym-<host>-<pid>-<random>.tmp`.
temp_prefix <- function() {
  paste0(".scnym-", Sys.info()[["nodename"]], "-")
}

# Removes the temporary files in `dir` of saves on this host, by this user, whose process no
# longer runs.
remove_stale_temp_files <- function(dir) {
  prefix <- temp_prefix()
  files <- list.files(dir, pattern = "^[.]scnym-.*[.]tmp$", all.files = TRUE, full.names = TRUE)
  files <- files[startsWith(basename(files), prefix)]
  files <- files[file.info(files, extra_cols = TRUE)$uname %in% Sys.info()[["effective_user"]]]
  pids <- as.integer(sub("-.*$", "", substring(basename(files), nchar(prefix) + 1L)))
  alive <- vapply(pids, function(pid) !is.na(pid) && isTRUE(tools::pskill(pid, 0L)), logical(1))
  unlink(files[!alive & !is.na(pids)])
  invisible()
}

#' @rdname scnym_save
#' @export
scnym_load <- function(path) {
  check_string(path)
  if (!file.exists(path)) {
    scnym_abort(c("Model file {.path {path}} does not exist.",
                  i = "Check the path; models are written by {.fn scnym_save}."),
                kind = "io")
  }
  if (dir.exists(path)) {
    scnym_abort("{.path {path}} is a directory, not a model file.", kind = "io")
  }
  size <- file.size(path)
  bytes <- readBin(path, what = "raw", n = size)
  loaded <- rust_result(rs_model_from_bytes(bytes))
  new_scnym_model(bytes, loaded$meta, handle = loaded$handle)
}
