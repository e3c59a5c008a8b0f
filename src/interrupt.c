// Ctrl-C from inside a Rust loop. R_CheckUserInterrupt longjmps when an interrupt is pending;
// inside R_ToplevelExec that jump ends at this call instead of crossing Rust frames, so the
// interrupt is consumed and reported as a return value.
#include <Rinternals.h>
#include <R_ext/Utils.h>

static void check_interrupt(void *unused) {
  (void)unused;
  R_CheckUserInterrupt();
}

int scnym_interrupt_pending(void) {
  return R_ToplevelExec(check_interrupt, NULL) == FALSE;
}
