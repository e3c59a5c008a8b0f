//! Training: data and metadata in, one epoch per call, a [`Model`](crate::Model) out.

mod early_stopping;
mod losses;
mod optim;
mod schedules;
mod split;
mod stats;
mod step;
mod temperature;
mod thresholds;
mod trainer;

pub use stats::EpochStats;
pub use trainer::{run_epochs_together, Trainer};

use crate::data::CsrMatrix;
pub use crate::model::Covariate;

/// Labeled training cells: expression, class codes (0..n_classes) and domain codes, one vector
/// per covariate (`domains[c][cell]` indexes the levels of covariate `c`).
pub struct TrainData {
    pub x: CsrMatrix,
    pub labels: Vec<i64>,
    pub domains: Vec<Vec<i64>>,
}

/// Unlabeled target cells: expression and domain codes (one vector per covariate).
pub struct TargetData {
    pub x: CsrMatrix,
    pub domains: Vec<Vec<i64>>,
}

/// Names behind the codes: model genes (columns of `x`), classes (label codes) and the nuisance
/// covariates (their levels name the domain codes of training and target cells); and which of
/// the genes the model reads (`input_genes`, ascending column indices; `None`: every gene).
#[derive(Clone, Debug, Default)]
pub struct ModelInfo {
    pub genes: Vec<String>,
    pub classes: Vec<String>,
    pub covariates: Vec<Covariate>,
    pub input_genes: Option<Vec<usize>>,
}

pub(crate) use temperature::fit_temperature;
pub use trainer::EVAL_BATCH;
