//! scnym-core: the scNym engine (Kimmel & Kelley, Genome Research 2021) on libtorch.
//!
//! Semi-supervised, domain-adversarial cell type classification: a [`train::Trainer`] fits a
//! classifier on labeled training cells and unlabeled target cells one epoch at a time and
//! returns a [`Model`], which predicts, explains (integrated gradients) and saves itself. This
//! crate knows nothing of R; the binding crate converts types and errors.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

pub mod config;
pub mod data;
pub mod error;
mod interpret;
pub mod model;
pub mod novelty;
mod par;
mod persist;
mod predict;
pub mod reference_sample;
mod rng;
mod tensor_io;
#[cfg(test)]
mod test_util;
pub mod train;

pub use model::{Model, ModelMeta, Predictions};

use std::collections::BTreeMap;

/// Version of tch this crate is built with (pinned in Cargo.toml).
pub const TCH_VERSION: &str = "0.24.0";

/// Versions of scnym-core, tch and the libtorch it was compiled against.
pub fn backend_versions() -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert(
        "scnym-core".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    v.insert("tch".to_string(), TCH_VERSION.to_string());
    v.insert(
        "libtorch".to_string(),
        env!("SCNYM_CORE_LIBTORCH_VERSION").to_string(),
    );
    v
}
