#' Describe the libtorch backend
#'
#' Reports the libtorch version scnym was compiled against and the one loaded in this session,
#' whether CUDA is available, the number of threads libtorch uses, and a matrix-multiply rate
#' measured inside R. On Linux scnym loads libtorch so that its matrix multiply uses libtorch's own
#' BLAS (MKL) even when R's BLAS is the slow reference BLAS; `blas_ok` tells whether that worked.
#'
#' @param gemm_size Size `n` of the `n x n` float32 matrix multiply timed; `0` skips the timing.
#' @return A list of class `scnym_backend_info` with elements `libtorch_compiled`,
#'   `libtorch_runtime`, `libtorch_path`, `cuda_available`, `cuda_devices`, `threads`, `mkl`,
#'   `r_blas` (R's BLAS library), `blas_ok` (libtorch bound to its own BLAS), `deepbind_status`
#'   (the loader's error message, empty when it worked), `gemm_gflops`
#'   (median GFLOP/s of the multiply), `scnym_core` (the Rust core's version) and `eval_batch`
#'   (cells per forward pass of a prediction).
#' @examples
#' info <- scnym_backend_info(gemm_size = 256)
#' info$threads
#' @export
scnym_backend_info <- function(gemm_size = 1024) {
  if (!is.numeric(gemm_size) || length(gemm_size) != 1 || is.na(gemm_size) || gemm_size < 0) {
    scnym_abort(c("{.arg gemm_size} must be one non-negative number.",
                  x = "Got {.obj_type_friendly {gemm_size}}."), kind = "invalid_argument")
  }
  info <- rust_result(rs_backend_info())
  path <- loaded_libtorch_path()
  info$libtorch_runtime <- libtorch_version_at(path)
  info$libtorch_path <- path
  info$r_blas <- unname(extSoftVersion()["BLAS"])
  info$blas_ok <- identical(the$deepbind, "")
  info$deepbind_status <- the$deepbind
  info$gemm_gflops <- if (gemm_size > 0) {
    rust_result(rs_gemm_gflops(as.integer(gemm_size), 5L))
  } else {
    NA_real_
  }
  structure(info, class = "scnym_backend_info")
}

#' @method print scnym_backend_info
#' @export
print.scnym_backend_info <- function(x, ...) {
  cuda <- if (isTRUE(x$cuda_available)) paste(x$cuda_devices, "device(s)") else "not available"
  gemm <- if (is.na(x$gemm_gflops)) "not measured" else
    paste(format(x$gemm_gflops, digits = 3), "GFLOP/s")
  cat("<scnym backend>\n",
      "  libtorch:       compiled ", x$libtorch_compiled, ", loaded ", x$libtorch_runtime, "\n",
      "  library:        ", x$libtorch_path, "\n",
      "  threads:        ", x$threads, " (MKL: ", x$mkl, ")\n",
      "  CUDA:           ", cuda, "\n",
      "  R BLAS:         ", x$r_blas, "\n",
      "  own BLAS:       ", if (isTRUE(x$blas_ok)) "yes (libtorch bound to its MKL)" else
        paste("NO:", x$deepbind_status), "\n",
      "  float32 matmul: ", gemm, "\n", sep = "")
  invisible(x)
}

# .Call into the loader, a DLL of its own (src/loader/deepbind.c) loaded by .onLoad.
loader_call <- function(name) {
  .Call(getNativeSymbolInfo(name, the$loader))
}

# The libtorch_cpu library mapped into this process (Linux), else the one scnym was built with.
loaded_libtorch_path <- function() {
  maps <- tryCatch(readLines("/proc/self/maps", warn = FALSE), error = function(e) character())
  hit <- grep("libtorch_cpu\\.so", maps, value = TRUE)
  if (length(hit)) {
    return(sub("^.* (/.*libtorch_cpu\\.so.*)$", "\\1", hit[[1]]))
  }
  if (is.null(the$loader)) {
    return(NA_character_)
  }
  loader_call("scnym_libtorch_path")
}

# libtorch's version from the files beside a libtorch_cpu library (wheel or libtorch layouts).
libtorch_version_at <- function(lib_path) {
  root <- dirname(dirname(lib_path))
  version_py <- file.path(root, "version.py")
  if (file.exists(version_py)) {
    line <- grep("^__version__", readLines(version_py, warn = FALSE), value = TRUE)
    if (length(line)) return(sub("^[^'\"]*['\"]([0-9.]+).*$", "\\1", line[[1]]))
  }
  header <- file.path(root, "include", "torch", "headeronly", "version.h")
  if (file.exists(header)) {
    line <- grep("define TORCH_VERSION \"", readLines(header, warn = FALSE), value = TRUE)
    if (length(line)) return(sub("^.*\"([0-9.]+).*$", "\\1", line[[1]]))
  }
  NA_character_
}
