//! The networks and the trained model.

pub(crate) mod adversary;
pub(crate) mod classifier;
pub(crate) mod dropout;
pub(crate) mod grl;
pub(crate) mod layers;
mod packed;

use crate::config::Config;
use crate::data::FirstLayerMode;
use crate::error::{Error, Result};
use crate::novelty::{NoveltyIndex, NoveltyMeta};
use crate::reference_sample::{ReferenceSample, SampleMeta};
use crate::train::EpochStats;
use classifier::Classifier;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::Device;

/// Version of the model file format this build writes (and the newest it reads). Version 2 adds
/// the novelty reference (read as absent from version 1 files); version 3 replaces the one list
/// of `domains` by the nuisance `covariates` (older files read as one covariate `"domain"` of
/// weight 1, see `persist`) and adds the optional reference sample of adaptation (absent from
/// older files); version 4 measures novelty in units of the validation cells' upper quartile
/// of distances instead of their largest (older files converted, see `persist`); version 5 adds
/// members that read only some genes (`input_genes`, absent from older files: every gene).
pub const FORMAT_VERSION: u32 = 5;

/// One nuisance covariate the domain adversary removes from the embedding (batch, donor,
/// technology): its name, its levels (the domain codes of training index them) and the weight of
/// its adversary head, a factor on the adversarial weight `adv_weight`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Covariate {
    pub name: String,
    pub levels: Vec<String>,
    pub weight: f64,
}

impl Covariate {
    /// The one covariate of a model trained before covariates existed (format 1 and 2 files).
    pub fn single(levels: Vec<String>) -> Covariate {
        Covariate {
            name: "domain".to_string(),
            levels,
            weight: 1.0,
        }
    }
}

/// Whether `genes` can be the genes a model of `n_genes` genes reads (`ModelMeta::input_genes`):
/// ascending, distinct, within `0..n_genes`, at least one.
pub(crate) fn valid_input_genes(genes: &[usize], n_genes: usize) -> bool {
    !genes.is_empty() && genes.windows(2).all(|w| w[0] < w[1]) && genes[genes.len() - 1] < n_genes
}

/// How the first layer is computed unless changed (measured faster; see bench/engine).
pub(crate) const DEFAULT_FIRST_LAYER: FirstLayerMode = FirstLayerMode::Auto;

/// Model outputs for a set of cells; every matrix is row-major (cells x ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    pub n_cells: usize,
    pub n_classes: usize,
    pub embedding_dim: usize,
    pub logits: Vec<f32>,
    pub probabilities: Vec<f32>,
    pub embedding: Vec<f32>,
    /// Novelty score of each cell (see [`crate::novelty`]); empty for a model without a
    /// novelty reference (saved before it existed, or trained without validation cells).
    pub novelty: Vec<f32>,
    /// Disagreement of an ensemble's members on each cell: the mutual information between the
    /// prediction and the member, `H(mean p) - mean H(p)` in nats, both means weighted by
    /// [`Model::member_weights`]; empty for a single model.
    pub disagreement: Vec<f32>,
}

/// Everything about a model except its weights; saved as JSON in the model file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelMeta {
    pub format_version: u32,
    pub config: Config,
    pub genes: Vec<String>,
    pub classes: Vec<String>,
    /// The nuisance covariates of training (one adversary head each).
    pub covariates: Vec<Covariate>,
    /// Labeled training cells per class (validation cells included).
    pub class_counts: Vec<usize>,
    pub history: Vec<EpochStats>,
    /// Epoch whose weights the model holds.
    pub best_epoch: usize,
    /// Softmax temperature used for calibrated probabilities.
    pub temperature: f64,
    /// Versions of scnym-core, tch and libtorch that trained the model.
    pub versions: BTreeMap<String, String>,
    /// The novelty reference's sizes and unit (`None` in version 1 files and without
    /// validation cells).
    #[serde(default)]
    pub novelty: Option<NoveltyMeta>,
    /// The stored reference sample's size (`None` without one, and in files before version 3).
    #[serde(default)]
    pub reference_sample: Option<SampleMeta>,
    /// The genes (ascending indices into `genes`) this model reads; its first-layer rows of the
    /// others are zero. `None`: every gene (and in files before version 5).
    #[serde(default)]
    pub input_genes: Option<Vec<usize>>,
}

/// A trained classifier with its metadata.
pub struct Model {
    pub(crate) net: Classifier,
    pub(crate) meta: ModelMeta,
    pub(crate) device: Device,
    pub(crate) mode: FirstLayerMode,
    pub(crate) novelty: Option<NoveltyIndex>,
    /// Labelled reference cells for adaptation (kept by the first member only).
    pub(crate) sample: Option<ReferenceSample>,
    /// The further members of an ensemble (same genes and classes; none for a single model).
    pub(crate) others: Vec<Model>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("genes", &self.meta.genes.len())
            .field("classes", &self.meta.classes)
            .field("best_epoch", &self.meta.best_epoch)
            .field("temperature", &self.meta.temperature)
            .finish()
    }
}

impl Model {
    pub(crate) fn from_parts(
        net: Classifier,
        meta: ModelMeta,
        device: Device,
        mode: FirstLayerMode,
        novelty: Option<NoveltyIndex>,
        sample: Option<ReferenceSample>,
    ) -> Result<Model> {
        let mut meta = meta;
        meta.novelty = novelty.as_ref().map(|n| n.meta.clone());
        meta.reference_sample = sample.as_ref().map(ReferenceSample::meta);
        Ok(Model {
            net,
            meta,
            device,
            mode,
            novelty,
            sample,
            others: Vec::new(),
        })
    }

    /// An ensemble of independently trained models of the same genes and classes: predictions
    /// average the members' probabilities. The first model's metadata describes the ensemble,
    /// and only its reference sample is kept.
    pub fn ensemble(models: Vec<Model>) -> Result<Model> {
        let mut models = models.into_iter();
        let mut first = models
            .next()
            .ok_or_else(|| Error::arg("an ensemble needs at least one model"))?;
        if first.meta.input_genes.is_some() && !models.as_slice().is_empty() {
            // it gives the embedding and the novelty score, both of every gene
            return Err(Error::arg(
                "the first member of an ensemble must read every gene",
            ));
        }
        for mut m in models {
            if m.meta.genes != first.meta.genes || m.meta.classes != first.meta.classes {
                return Err(Error::arg(
                    "ensemble members must have the same genes and classes",
                ));
            }
            let rest = std::mem::take(&mut m.others);
            m.sample = None;
            m.meta.reference_sample = None;
            first.others.push(m);
            first.others.extend(rest);
        }
        Ok(first)
    }

    /// Number of members (1 for a single model).
    pub fn n_members(&self) -> usize {
        1 + self.others.len()
    }

    /// Each member's weight in the ensemble's average of probabilities: 1 for a member on every
    /// gene, `variable_gene_weight` for one on the variable genes.
    pub(crate) fn member_weights(&self) -> Vec<f32> {
        let w = self.meta.config.variable_gene_weight as f32;
        std::iter::once(self)
            .chain(&self.others)
            .map(|m| if m.meta.input_genes.is_some() { w } else { 1.0 })
            .collect()
    }

    /// Member `i` (0 is the first, this model itself).
    pub(crate) fn member(&self, i: usize) -> Result<&Model> {
        match i {
            0 => Ok(self),
            _ => self.others.get(i - 1).ok_or_else(|| {
                Error::arg(format!(
                    "member {} of an ensemble of {}",
                    i + 1,
                    self.n_members()
                ))
            }),
        }
    }

    /// Number of reference cells stored for adaptation (0: none).
    pub fn reference_sample_size(&self) -> usize {
        self.sample.as_ref().map_or(0, |s| s.x.n_rows())
    }

    /// The members' metadata, first member first.
    pub fn member_metas(&self) -> Vec<&ModelMeta> {
        std::iter::once(&self.meta)
            .chain(self.others.iter().map(|m| &m.meta))
            .collect()
    }

    /// The model's metadata.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// Number of model genes (input columns).
    pub fn n_genes(&self) -> usize {
        self.meta.genes.len()
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.meta.classes.len()
    }

    /// Sets the softmax temperature used by calibrated predictions (a positive finite number).
    pub fn set_temperature(&mut self, t: f64) -> Result<()> {
        if !(t.is_finite() && t > 0.0) {
            return Err(Error::arg(format!(
                "the temperature must be a positive finite number, not {t}"
            )));
        }
        self.meta.temperature = t;
        Ok(())
    }

    /// Chooses how the first layer multiplies batches (both give the same result up to rounding).
    pub fn set_first_layer_mode(&mut self, mode: FirstLayerMode) {
        self.mode = mode;
    }
}
