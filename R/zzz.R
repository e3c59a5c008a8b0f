# Package state that lives for the session.
the <- new.env(parent = emptyenv())

.onLoad <- function(libname, pkgname) {
  # Load libtorch with RTLD_DEEPBIND first (src/loader/deepbind.c), so its matrix multiply uses
  # its own MKL and not R's BLAS; then the package library, which reuses that libtorch.
  loader <- file.path(libname, pkgname, "libs", paste0("scnym_deepbind", .Platform$dynlib.ext))
  # SCNYM_DEEPBIND=0 turns this off (to measure what it buys: bench/gemm/).
  the$deepbind <- if (identical(Sys.getenv("SCNYM_DEEPBIND"), "0")) {
    "disabled by SCNYM_DEEPBIND=0"
  } else if (file.exists(loader)) {
    the$loader <- dyn.load(loader)
    loader_call("scnym_preload_libtorch")
  } else {
    "loader not installed"
  }
  library.dynam("scnym", pkgname, libname)
}

.onUnload <- function(libpath) {
  library.dynam.unload("scnym", libpath)
}

.onAttach <- function(libname, pkgname) {
  if (!identical(the$deepbind, "")) {
    packageStartupMessage(
      "scnym: libtorch could not be bound to its own BLAS (", the$deepbind, "); its matrix ",
      "multiply may go through R's BLAS, which is up to 10x slower when that is the reference ",
      "BLAS. Install an optimized BLAS for R (Debian: libopenblas0-openmp) and see ",
      "scnym_backend_info()."
    )
  }
}
