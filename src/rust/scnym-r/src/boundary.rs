//! The one place where errors cross into R.
//!
//! Every exported function runs its body through [`guard`], which returns either the value or a
//! `scnym_rust_error` list (`kind`, `message`) that the R side raises as a classed condition
//! (`scnym_error_<kind>`). Nothing is passed to `Rf_error`, so a `%` in a message cannot crash R
//! (extendr 0.9 uses messages as format strings), and panics are caught before extendr sees them.

use extendr_api::prelude::*;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}
static QUIET_PANIC_HOOK: Once = Once::new();

/// An error on its way to R: a stable kind (the condition class is `scnym_error_<kind>`) and a
/// message. Core, libtorch and extendr errors all convert into it.
#[derive(Debug)]
pub struct RError {
    kind: String,
    message: String,
}

impl RError {
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        RError {
            kind: kind.to_string(),
            message: message.into(),
        }
    }
}

impl From<scnym_core::error::Error> for RError {
    fn from(err: scnym_core::error::Error) -> Self {
        RError::new(err.kind(), err.to_string())
    }
}

impl From<tch::TchError> for RError {
    fn from(err: tch::TchError) -> Self {
        RError::new("torch", err.to_string())
    }
}

impl From<extendr_api::Error> for RError {
    fn from(err: extendr_api::Error) -> Self {
        RError::new("invalid_argument", err.to_string())
    }
}

pub type RResult<T> = std::result::Result<T, RError>;

/// Runs `body`, turning an `Err` or a panic into an R error value.
pub fn guard<F>(body: F) -> Robj
where
    F: FnOnce() -> RResult<Robj>,
{
    install_panic_hook();
    let _ = scnym_core::config::single_thread_if_forked();
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(err)) => error_value(&err.kind, &err.message),
        Err(payload) => {
            let recorded = LAST_PANIC.with(|p| p.borrow_mut().take());
            let message = recorded.unwrap_or_else(|| panic_text(payload.as_ref()));
            error_value(
                "internal",
                &format!("internal error in scnym's Rust core (please report): {message}"),
            )
        }
    }
}

/// Records a panic's message and location instead of printing it to stderr; `guard` reports it.
fn install_panic_hook() {
    QUIET_PANIC_HOOK.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let mut text = panic_text(info.payload());
            if let Some(loc) = info.location() {
                text.push_str(&format!(" ({}:{})", loc.file(), loc.line()));
            }
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
        }));
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Cuts libtorch's C++ backtrace ("Exception raised from ...") off a message.
pub fn clean_message(message: &str) -> String {
    let cut = message
        .find("Exception raised from")
        .unwrap_or(message.len());
    message[..cut].trim().to_string()
}

fn error_value(kind: &str, message: &str) -> Robj {
    let mut value: Robj = list!(kind = kind, message = clean_message(message)).into();
    // Setting a class on a fresh list cannot fail; if it ever did, R would see a plain list.
    let _ = value.set_class(&["scnym_rust_error"]);
    value
}

extern "C" {
    /// In src/interrupt.c: runs R_CheckUserInterrupt inside R_ToplevelExec, so a pending Ctrl-C is
    /// consumed without a longjmp over Rust frames. Returns 1 when an interrupt was pending.
    fn scnym_interrupt_pending() -> std::os::raw::c_int;
}

/// True when the user pressed Ctrl-C. Call only from R's main thread.
pub fn interrupt_pending() -> bool {
    // SAFETY: a plain C call on R's main thread; the C side never longjmps out.
    unsafe { scnym_interrupt_pending() != 0 }
}

/// Test hook: returns an error of the given kind and message through the normal path.
#[extendr]
fn rs_debug_error(kind: &str, message: &str) -> Robj {
    guard(|| Err(RError::new(kind, message)))
}

/// Test hook: panics inside Rust with the given message.
#[extendr]
fn rs_debug_panic(message: &str) -> Robj {
    let message = message.to_string();
    guard(move || panic!("{message}"))
}

/// Test hook: a busy Rust loop of up to `seconds` that checks for Ctrl-C like training does.
#[extendr]
fn rs_debug_busy_loop(seconds: f64) -> Robj {
    guard(|| {
        let start = std::time::Instant::now();
        let mut spins: f64 = 0.0;
        while start.elapsed().as_secs_f64() < seconds {
            for i in 0..100_000 {
                spins += (i as f64).sqrt();
            }
            if interrupt_pending() {
                return Err(RError::new("interrupted", "interrupted by the user"));
            }
        }
        Ok(r!(spins))
    })
}

extendr_module! {
    mod boundary;
    fn rs_debug_error;
    fn rs_debug_panic;
    fn rs_debug_busy_loop;
}
