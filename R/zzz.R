# Package state that lives for the session.
the <- new.env(parent = emptyenv())

.onLoad <- function(libname, pkgname) {
  # Load libtorch with RTLD_DEEPBIND first (src/loader/deepbind.c), so its matrix multiply uses
  # its own MKL and not R's BLAS; then the package library, which reuses that libtorch.
  loader <- file.path(libname, pkgname, "libs", paste0("scnym_deepbind", .Platform$dynlib.ext))
  the$deepbind <- if (file.exists(loader)) {
    dyn.load(loader)
    .Call("scnym_preload_libtorch", PACKAGE = "scnym_deepbind")
  } else {
    "loader not installed"
  }
  library.dynam("scnym", pkgname, libname)
}

.onUnload <- function(libpath) {
  library.dynam.unload("scnym", libpath)
}
