// scnym_deepbind: loads libtorch_cpu with RTLD_DEEPBIND before the package library, so that
// libtorch's own calls to sgemm_ & co. bind to the MKL inside it instead of the BLAS R loaded
// first (with Debian's reference BLAS that is an 11x slower matrix multiply).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <Rinternals.h>
#include <R_ext/Rdynload.h>

#ifndef SCNYM_LIBTORCH_CPU
#error "SCNYM_LIBTORCH_CPU must name libtorch_cpu.so"
#endif

static SEXP scnym_preload_libtorch(void) {
  void *handle = dlopen(SCNYM_LIBTORCH_CPU, RTLD_NOW | RTLD_GLOBAL | RTLD_DEEPBIND);
  const char *err = handle ? "" : dlerror();
  return mkString(err ? err : "unknown dlopen error");
}

static SEXP scnym_libtorch_path(void) { return mkString(SCNYM_LIBTORCH_CPU); }

static const R_CallMethodDef call_methods[] = {
    {"scnym_preload_libtorch", (DL_FUNC)&scnym_preload_libtorch, 0},
    {"scnym_libtorch_path", (DL_FUNC)&scnym_libtorch_path, 0},
    {NULL, NULL, 0}};

void R_init_scnym_deepbind(DllInfo *dll) {
  R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
  R_useDynamicSymbols(dll, FALSE);
}
