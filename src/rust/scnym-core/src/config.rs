//! Training configuration: plain data with named presets, validated before use and saved with
//! every model (the seed included).

use crate::data::Values;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};

/// Every setting of a training run. Build one with [`Config::preset`] and change fields as needed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name of the preset the configuration started from.
    pub preset: String,
    /// Input normalisation: a cell's counts become `ln(1 + scale_factor * count / total)`
    /// (3,000 by default, measured on the accuracy benchmark between Seurat's 1e4 and 1e3; 1e6,
    /// counts per million, in the paper preset). Models saved before it existed load with 1e6.
    #[serde(default = "counts_per_million")]
    pub scale_factor: f64,
    /// The `total` of that normalisation counts each gene of the cell up to this fraction of the
    /// cell's total count ([`Values::cell_size`]): one gene holding most of a cell's counts (an
    /// islet hormone, haemoglobin) no longer shrinks the values of its other genes, which a
    /// reference of cells without it would read as another type. 0.2 by default, measured on the
    /// accuracy benchmark (DEVELOPMENT.md); 1 (the plain total) in the paper preset and in models
    /// saved before it existed.
    #[serde(default = "one_f64")]
    pub max_gene_fraction: f64,
    /// Number of genes the model keeps: the reference's most variable ones (see
    /// [`crate::data::variable_genes`]), chosen among the genes shared with the target; 0 (the
    /// default, as in the paper) keeps every shared gene. Opt-in: on the accuracy benchmark
    /// 2,000 of Kang's 14,053 genes raised macro-F1 from 0.83 to 0.88, but the cells of cell
    /// types absent from the reference lay closer to the reference cells, so the novelty score
    /// flagged fewer of them (DEVELOPMENT.md).
    #[serde(default)]
    pub n_variable_genes: usize,
    /// Width of every hidden block (and of the embedding).
    pub hidden_width: usize,
    /// Number of hidden blocks (Linear -> BatchNorm -> ReLU -> Dropout).
    pub n_hidden: usize,
    /// Dropout probability of the hidden blocks.
    pub dropout: f64,
    /// Cells per mini-batch (labeled and target each); shrunk for small data.
    pub batch_size: usize,
    /// Maximum number of epochs.
    pub max_epochs: usize,
    /// Adadelta learning rate.
    pub lr: f64,
    /// Adadelta decay of the running averages.
    pub rho: f64,
    /// Adadelta epsilon.
    pub eps: f64,
    /// L2 weight decay (added to the gradient).
    pub weight_decay: f64,
    /// Maximum weight of the interpolation-consistency (semi-supervised) loss.
    pub ssl_weight: f64,
    /// Epochs over which the SSL weight ramps up from 0.
    pub ssl_ramp_epochs: usize,
    /// Shape of the SSL ramp: "linear" or "sigmoid".
    pub ssl_ramp: String,
    /// Maximum weight of the reversed gradient from the domain adversary (0 disables it).
    pub adv_weight: f64,
    /// Epochs over which the adversary weight ramps up (sigmoid).
    pub adv_ramp_epochs: usize,
    /// What the encoder does against the adversary: "reversal" (the paper's gradient reversal:
    /// it maximises the adversary's cross-entropy) or "confusion" (it makes the adversary's
    /// domain probabilities uniform, Tzeng et al. 2015). Models saved before it existed load
    /// with "reversal".
    #[serde(default = "default_adv_objective")]
    pub adv_objective: String,
    /// Pseudolabel confidence threshold tau: target cells below it are neither mixed nor used.
    pub pseudolabel_min_confidence: f64,
    /// Per-class pseudolabel thresholds (FlexMatch): `pseudolabel_min_confidence` scaled down for
    /// classes that few target cells reach with confidence (false: one threshold for all, as in
    /// the paper). Absent in models saved before it existed.
    #[serde(default)]
    pub pseudolabel_adaptive: bool,
    /// Only confident target cells train the adversary.
    pub adv_confident_only: bool,
    /// How far the adversary weighs each labelled cell of a step toward the target's class mix
    /// (0: not at all; 1: fully, by the share of its class among the target cells' latest
    /// confident pseudolabels over its share among the step's labelled cells; in between, that
    /// weight times this plus 1 minus this). Fully weighed, the adversary aligns the target with a
    /// reference of the target's class mix (importance-weighted adversarial training, Combes et
    /// al., NeurIPS 2020) rather than with the class-balanced batches; part of the way, a class the
    /// pseudolabels miss still trains the adversary. Needs the pseudolabels: without
    /// semisupervision the labelled cells are unweighted. 0 in every preset (it did not
    /// generalise: DEVELOPMENT.md); models saved before it existed load with 0.
    #[serde(default)]
    pub adv_class_weights: f64,
    /// Weight, relative to the consistency loss, of pulling target cells below tau toward the
    /// uniform distribution, so that cells resembling no training class get low confidence
    /// (0 in every preset: they are ignored, as in the reference; on a target without new types
    /// the pull also drags shifted known cells down). Absent in models saved before it existed.
    #[serde(default)]
    pub unconfident_weight: f64,
    /// Class balance of the labeled mini-batches: cells are drawn with probability proportional
    /// to `n_k^-class_balance` for a cell of a class with `n_k` training cells (0: a plain shuffle,
    /// as in the paper; 1: every class equally often). Models saved before it existed load with 0.
    #[serde(default)]
    pub class_balance: f64,
    /// Minimum number of optimizer steps per epoch: small references repeat their cells within an
    /// epoch instead of taking one step (0: one pass over the labeled cells, as in the paper; 2
    /// by default, which changes nothing for references of more than two batches). Models saved
    /// before it existed load with 0.
    #[serde(default)]
    pub min_steps_per_epoch: usize,
    /// Maximum number of optimizer steps per epoch (0: no maximum, as in the paper). A reference
    /// of more than `max_steps_per_epoch * batch_size` labeled cells trains each epoch on that
    /// many of them, drawn anew every epoch, so that the epoch schedules (ramps, early stopping)
    /// and the training time stay those of a reference of that size: 200 by default (51,200
    /// cells), which changes nothing for smaller references. Models saved before it existed load
    /// with 0.
    #[serde(default)]
    pub max_steps_per_epoch: usize,
    /// Number of models on every gene trained with seeds `seed`, `seed + 1`, ... whose
    /// probabilities are averaged (a deep ensemble; 1: a single model), joined by as many on the
    /// most variable genes (`member_variable_genes`). A [`crate::train::Trainer`] trains one
    /// member; the caller trains the others and joins them with [`crate::Model::ensemble`].
    /// Absent in models saved before it existed (1).
    #[serde(default = "one")]
    pub ensemble_size: usize,
    /// With more model genes than this, the ensemble has `ensemble_size` further members (seeds
    /// `seed + ensemble_size`, ...) that read only the reference's `member_variable_genes` most
    /// variable genes (see [`crate::data::variable_genes`]); the members on every gene alone give
    /// the novelty score. 0: no such members. 2,000 by default: on the accuracy benchmark they
    /// raised Kang's macro-F1 and the recall of its rare classes, while the every-gene members
    /// keep flagging the cells of types absent from the reference (DEVELOPMENT.md). With no more
    /// model genes, the ensemble keeps `ensemble_size` members and the last half of them
    /// (rounded down) read the three quarters most variable genes instead. The caller (R)
    /// chooses the members and their genes and gives those to the members' trainers
    /// (`ModelInfo::input_genes`). Models saved before it existed load with 0.
    #[serde(default)]
    pub member_variable_genes: usize,
    /// Weight of each member on the most variable genes in the ensemble's average of
    /// probabilities (and attributions), relative to a member on every gene (1: every member
    /// counts the same; 0: the members on every gene alone). 2 by default: on the accuracy
    /// benchmark it raised Kang's macro-F1 and rare-class recall at equal accuracy, while the
    /// unseen types, scored by the every-gene members, stayed flagged (DEVELOPMENT.md). Models
    /// saved before it existed load with 1.
    #[serde(default = "one_f64")]
    pub variable_gene_weight: f64,
    /// Labelled reference cells kept in the model file (class-balanced: every cell of the rarer
    /// classes, an equal share of the others) so that the model can later be adapted to a new
    /// query without the reference data ([`crate::train::Trainer::adapt`]); 0 keeps none. The
    /// cells' normalised expression is then in the file. Absent in models saved before it
    /// existed (0).
    #[serde(default)]
    pub reference_sample: usize,
    /// Temperature used to sharpen pseudolabels.
    pub sharpen_temperature: f64,
    /// MixUp Beta(alpha, alpha) parameter (0 disables MixUp).
    pub mixup_alpha: f64,
    /// Probability of masking each gene during augmentation (the members on every gene; see
    /// `variable_gene_mask_prob` for the others).
    pub mask_prob: f64,
    /// Probability of masking each gene during augmentation in the members on the most variable
    /// genes (`member_variable_genes`), in place of `mask_prob`. 0.5 by default: those members
    /// give no novelty score, so they can learn not to lean on any one gene, which raised
    /// accuracy where some genes no longer tell the types apart in the query (a proxy for a query
    /// from another species) without changing the novelty score (DEVELOPMENT.md).
    /// Models saved before it existed load with 0.1, the `mask_prob` of the default then.
    #[serde(default = "variable_gene_mask_prob_before")]
    pub variable_gene_mask_prob: f64,
    /// Augmentation: in each step every gene's expression in the labelled cells is multiplied by
    /// a factor of its own, `exp(gene_scale_sd * z)` with `z ~ N(0, 1)` drawn per gene and step,
    /// before the cells are renormalised, as a technology's or a species' capture differs per
    /// gene (0: no scaling, as in the paper). Models saved before it existed load with 0.
    #[serde(default)]
    pub gene_scale_sd: f64,
    /// Fraction of labeled cells held out for model selection.
    pub val_fraction: f64,
    /// No model selection before this epoch.
    pub min_epochs: usize,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    /// Seed of every random choice (weights, splits, shuffles, masks, MixUp, dropout).
    pub seed: u64,
    /// Threads: > 0 sets libtorch's thread count at the start of every engine call, and training,
    /// prediction and integrated gradients split their work over that many threads of the
    /// engine's own (libtorch single-threaded inside each); 0 uses libtorch's current setting.
    pub threads: usize,
    /// "cpu", "cuda" or "auto" (CUDA when available).
    pub device: String,
}

const PRESETS: &[&str] = &[
    "default",
    "paper",
    "no_new_identity",
    "new_identity_discovery",
    "no_dan",
    "no_ssl",
];

fn one() -> usize {
    1
}

fn one_f64() -> f64 {
    1.0
}

fn variable_gene_mask_prob_before() -> f64 {
    0.1
}

fn counts_per_million() -> f64 {
    1e6
}

/// How one configuration parameter is checked and described: the one definition behind the
/// core's validation and R's checks and messages (`rs_config_schema`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    /// "count" (whole number), "number", "flag", "choice" or "seed" (a whole number; R also
    /// accepts NULL, drawn when training).
    pub kind: &'static str,
    pub min: f64,
    /// Largest allowed value (`None`: unbounded).
    pub max: Option<f64>,
    pub min_open: bool,
    pub max_open: bool,
    pub choices: &'static [&'static str],
    /// What the parameter does, in a few words (used in messages).
    pub doc: &'static str,
}

const fn param(
    name: &'static str,
    kind: &'static str,
    min: f64,
    max: f64,
    doc: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        min,
        max: Some(max),
        min_open: false,
        max_open: false,
        choices: &[],
        doc,
    }
}

const fn count(name: &'static str, min: f64, max: f64, doc: &'static str) -> ParamSpec {
    param(name, "count", min, max, doc)
}

const fn number(name: &'static str, min: f64, max: f64, doc: &'static str) -> ParamSpec {
    param(name, "number", min, max, doc)
}

/// A number in `[min, max)`.
const fn below(name: &'static str, min: f64, max: f64, doc: &'static str) -> ParamSpec {
    ParamSpec {
        max_open: true,
        ..number(name, min, max, doc)
    }
}

/// A number above 0, unbounded.
const fn positive(name: &'static str, doc: &'static str) -> ParamSpec {
    ParamSpec {
        max: None,
        min_open: true,
        ..number(name, 0.0, 0.0, doc)
    }
}

const fn flag(name: &'static str, doc: &'static str) -> ParamSpec {
    param(name, "flag", 0.0, 1.0, doc)
}

const fn choice(
    name: &'static str,
    choices: &'static [&'static str],
    doc: &'static str,
) -> ParamSpec {
    ParamSpec {
        choices,
        ..param(name, "choice", 0.0, 0.0, doc)
    }
}

/// Every parameter of [`Config`] but `preset`, in the order R shows them.
pub const SCHEMA: &[ParamSpec] = &[
    number(
        "scale_factor",
        1.0,
        1e6,
        "input normalisation: ln(1 + scale_factor * count / total)",
    ),
    ParamSpec {
        min_open: true,
        ..number(
            "max_gene_fraction",
            0.0,
            1.0,
            "share of a cell's total count one gene can add to the total of its normalisation",
        )
    },
    count(
        "n_variable_genes",
        0.0,
        1e9,
        "genes kept: the reference's most variable (0 = every gene shared with the target)",
    ),
    count(
        "hidden_width",
        1.0,
        65536.0,
        "width of every hidden layer (and of the embedding)",
    ),
    count("n_hidden", 1.0, 64.0, "number of hidden layers"),
    below("dropout", 0.0, 1.0, "dropout probability"),
    count(
        "batch_size",
        2.0,
        1048576.0,
        "cells per mini-batch (labelled and target each)",
    ),
    count("max_epochs", 1.0, 1e6, "maximum number of epochs"),
    positive("lr", "Adadelta learning rate"),
    below("rho", 0.0, 1.0, "Adadelta decay"),
    positive("eps", "Adadelta epsilon"),
    number("weight_decay", 0.0, 1.0, "L2 weight decay"),
    number(
        "ssl_weight",
        0.0,
        1e6,
        "maximum weight of the semisupervised loss",
    ),
    count(
        "ssl_ramp_epochs",
        0.0,
        1e6,
        "epochs over which the SSL weight ramps up",
    ),
    choice("ssl_ramp", &["linear", "sigmoid"], "shape of the SSL ramp"),
    number(
        "adv_weight",
        0.0,
        1e6,
        "maximum weight of the domain adversary's reversed gradient",
    ),
    count(
        "adv_ramp_epochs",
        0.0,
        1e6,
        "epochs over which the adversary weight ramps up",
    ),
    choice(
        "adv_objective",
        &["reversal", "confusion"],
        "what the encoder does against the adversary",
    ),
    number(
        "pseudolabel_min_confidence",
        0.0,
        1.0,
        "pseudolabel confidence threshold",
    ),
    flag(
        "pseudolabel_adaptive",
        "per-class pseudolabel thresholds (FlexMatch)",
    ),
    flag(
        "adv_confident_only",
        "only confident target cells train the adversary",
    ),
    number(
        "adv_class_weights",
        0.0,
        1.0,
        "how far the adversary weighs labelled cells toward the target's class mix",
    ),
    number(
        "unconfident_weight",
        0.0,
        1e6,
        "weight of pulling unconfident target cells toward uniform",
    ),
    number(
        "class_balance",
        0.0,
        1.0,
        "class balance of labelled mini-batches (0 = shuffle, 1 = equal)",
    ),
    count(
        "min_steps_per_epoch",
        0.0,
        100000.0,
        "minimum optimizer steps per epoch",
    ),
    count(
        "max_steps_per_epoch",
        0.0,
        1e9,
        "maximum optimizer steps per epoch (0 = one pass over the labelled cells)",
    ),
    count(
        "ensemble_size",
        1.0,
        50.0,
        "number of models on every gene (seeds seed, seed + 1, ...) averaged",
    ),
    count(
        "member_variable_genes",
        0.0,
        1e9,
        "as many members again on the reference's most variable genes (0 = none)",
    ),
    number(
        "variable_gene_weight",
        0.0,
        1e3,
        "weight of a member on the variable genes in the ensemble's average",
    ),
    count(
        "reference_sample",
        0.0,
        1e6,
        "reference cells kept in the model for scnym_adapt()",
    ),
    ParamSpec {
        min_open: true,
        ..number(
            "sharpen_temperature",
            0.0,
            100.0,
            "pseudolabel sharpening temperature",
        )
    },
    number(
        "mixup_alpha",
        0.0,
        1000.0,
        "MixUp Beta(alpha, alpha) parameter (0 = no MixUp)",
    ),
    below(
        "mask_prob",
        0.0,
        1.0,
        "probability of masking a gene in augmentation",
    ),
    below(
        "variable_gene_mask_prob",
        0.0,
        1.0,
        "probability of masking a gene in augmentation, members on the variable genes",
    ),
    number(
        "gene_scale_sd",
        0.0,
        5.0,
        "standard deviation of the log of each gene's scaling factor in augmentation",
    ),
    number(
        "val_fraction",
        0.0,
        0.5,
        "fraction of labelled cells held out for model selection",
    ),
    count(
        "min_epochs",
        0.0,
        1e6,
        "no model selection before this epoch",
    ),
    count(
        "patience",
        1.0,
        1e6,
        "stop after this many epochs without improvement",
    ),
    param(
        "seed",
        "seed",
        0.0,
        2147483647.0,
        "random seed (NULL: drawn from R's RNG when training)",
    ),
    count("threads", 0.0, 4096.0, "libtorch threads (0 = its default)"),
    choice("device", &["cpu", "cuda", "auto"], "compute device"),
];

impl ParamSpec {
    fn in_range(&self, v: f64) -> bool {
        let above = if self.min_open {
            v > self.min
        } else {
            v >= self.min
        };
        let below = match self.max {
            None => true,
            Some(m) if self.max_open => v < m,
            Some(m) => v <= m,
        };
        v.is_finite() && above && below
    }

    /// Whether a JSON value (a field of a serialised [`Config`]) is allowed. The seed is any
    /// whole number the core can hold; its range is R's.
    fn accepts(&self, value: &serde_json::Value) -> bool {
        match self.kind {
            "count" => value.as_u64().is_some_and(|v| self.in_range(v as f64)),
            "number" => value.as_f64().is_some_and(|v| self.in_range(v)),
            "flag" => value.is_boolean(),
            "choice" => value.as_str().is_some_and(|v| self.choices.contains(&v)),
            _ => value.is_u64(),
        }
    }

    /// The allowed values in words, e.g. "a whole number in [1, 64]".
    pub fn allowed(&self) -> String {
        let range = format!(
            "{}{}, {}{}",
            if self.min_open { "(" } else { "[" },
            self.min,
            self.max.map_or("Inf".to_string(), |m| m.to_string()),
            if self.max_open || self.max.is_none() {
                ")"
            } else {
                "]"
            }
        );
        match self.kind {
            "count" | "seed" => format!("a whole number in {range}"),
            "number" => format!("a number in {range}"),
            "flag" => "true or false".to_string(),
            _ => format!("one of \"{}\"", self.choices.join("\", \"")),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            preset: "default".to_string(),
            scale_factor: 3e3,
            max_gene_fraction: 0.2,
            n_variable_genes: 0,
            hidden_width: 256,
            n_hidden: 3,
            dropout: 0.5,
            batch_size: 256,
            max_epochs: 100,
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 1e-4,
            ssl_weight: 1.0,
            ssl_ramp_epochs: 100,
            ssl_ramp: "linear".to_string(),
            adv_weight: 0.1,
            adv_ramp_epochs: 20,
            adv_objective: default_adv_objective(),
            pseudolabel_min_confidence: 0.9,
            pseudolabel_adaptive: false,
            adv_confident_only: true,
            adv_class_weights: 0.0,
            unconfident_weight: 0.0,
            class_balance: 0.5,
            min_steps_per_epoch: 2,
            max_steps_per_epoch: 200,
            ensemble_size: 2,
            member_variable_genes: 2000,
            variable_gene_weight: 2.0,
            reference_sample: 0,
            sharpen_temperature: 0.5,
            mixup_alpha: 0.3,
            mask_prob: 0.1,
            variable_gene_mask_prob: 0.5,
            gene_scale_sd: 0.0,
            val_fraction: 0.1,
            min_epochs: 20,
            patience: 40,
            seed: 0,
            threads: 0,
            device: "cpu".to_string(),
        }
    }
}

fn default_adv_objective() -> String {
    "reversal".to_string()
}

impl Config {
    /// The configuration of a named preset: "default" (alias "new_identity_discovery": only
    /// confident target cells are pseudolabelled and train the adversary), "no_new_identity"
    /// (every target cell is), "paper" (the reference's procedure: "no_new_identity" with
    /// labeled batches from one plain shuffled pass per epoch, no class balance, a single
    /// model), "no_dan" or "no_ssl".
    pub fn preset(name: &str) -> Result<Config> {
        let mut c = Config {
            preset: name.to_string(),
            ..Config::default()
        };
        match name {
            "default" | "new_identity_discovery" => {}
            "no_new_identity" | "paper" => {
                c.pseudolabel_min_confidence = 0.0;
                c.adv_confident_only = false;
                if name == "paper" {
                    c.scale_factor = 1e6;
                    c.max_gene_fraction = 1.0;
                    c.class_balance = 0.0;
                    c.min_steps_per_epoch = 0;
                    c.max_steps_per_epoch = 0;
                    c.ensemble_size = 1;
                    c.member_variable_genes = 0;
                }
            }
            "no_dan" => c.adv_weight = 0.0,
            "no_ssl" => {
                c.ssl_weight = 0.0;
                c.adv_weight = 0.0;
            }
            other => {
                return Err(Error::arg(format!(
                    "unknown preset \"{other}\"; use one of {}",
                    PRESETS.join(", ")
                )))
            }
        }
        Ok(c)
    }

    /// Names accepted by [`Config::preset`] ("new_identity_discovery" is an alias of "default").
    pub fn preset_names() -> &'static [&'static str] {
        PRESETS
    }

    /// Checks every field against [`SCHEMA`]; the error names the field and the allowed values.
    pub fn validate(&self) -> Result<()> {
        if !PRESETS.contains(&self.preset.as_str()) {
            return Err(Error::arg(format!(
                "config: preset must be one of {}, not \"{}\"",
                PRESETS.join(", "),
                self.preset
            )));
        }
        let fields = serde_json::to_value(self)
            .map_err(|e| Error::internal(format!("cannot read the configuration: {e}")))?;
        for spec in SCHEMA {
            let value = &fields[spec.name];
            if !spec.accepts(value) {
                return Err(Error::arg(format!(
                    "config: {} must be {}, not {value}",
                    spec.name,
                    spec.allowed()
                )));
            }
        }
        // a cell of one gene reads ln(1 + scale_factor / max_gene_fraction): normalised values
        // stay within ln(1 + 1e6), as normalised input (a model's reference sample) must
        if self.scale_factor > 1e6 * self.max_gene_fraction {
            return Err(Error::arg(format!(
                "config: scale_factor / max_gene_fraction must be at most 1e6, not {} / {}; \
                 lower scale_factor or raise max_gene_fraction (1 with counts per million)",
                self.scale_factor, self.max_gene_fraction
            )));
        }
        Ok(())
    }

    /// How raw counts are read: normalised to `ln(1 + scale_factor * count / size)`, the size
    /// counting each gene up to `max_gene_fraction` of the cell's total.
    pub fn raw_counts(&self) -> Values {
        Values::Counts {
            scale_factor: self.scale_factor,
            max_gene_fraction: self.max_gene_fraction,
        }
    }

    /// The libtorch device the configuration asks for ("cuda"/"auto" fall back to the CPU).
    pub fn torch_device(&self) -> tch::Device {
        match self.device.as_str() {
            "cuda" | "auto" => tch::Device::cuda_if_available(),
            _ => tch::Device::Cpu,
        }
    }
}

/// The process that first called into the engine (0 until then): see [`single_thread_if_forked`].
static FIRST_PROCESS: AtomicU32 = AtomicU32::new(0);

/// Keeps libtorch single-threaded in a forked child (BiocParallel's `MulticoreParam` workers,
/// `parallel::mclapply`) and says whether this process is one. libtorch's OpenMP thread pool does
/// not survive `fork()`: a child of a process whose libtorch ran a parallel region waits forever
/// for the pool's threads in its own first one (reading a model of 2,000 genes is one). Call it
/// before any libtorch work of an entry point; the first call records the process, later calls
/// in a fork of it set libtorch to one thread, which [`apply_threads`] then keeps. The engine's
/// own threads (see `par`) follow libtorch's count, so a forked worker runs on one thread.
pub fn single_thread_if_forked() -> bool {
    let pid = std::process::id();
    // the first call stores this process; later ones read the stored one
    let forked = match FIRST_PROCESS.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => false,
        Err(first) => first != pid,
    };
    if forked && tch::get_num_threads() != 1 {
        tch::set_num_threads(1);
    }
    forked
}

/// Applies a thread setting: `threads > 0` sets libtorch's intra-op thread count, 0 leaves it.
/// The engine splits its own work (see `par`) over that many threads. In a forked child the
/// count stays 1 (see [`single_thread_if_forked`]).
pub fn apply_threads(threads: usize) -> Result<()> {
    if threads > 4096 {
        return Err(Error::arg(format!(
            "threads must be in 0..=4096, not {threads}"
        )));
    }
    if single_thread_if_forked() {
        return Ok(());
    }
    if threads > 0 && tch::get_num_threads() != threads as i32 {
        tch::set_num_threads(threads as i32);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_that_first_calls_the_engine_is_not_a_fork() {
        assert!(!single_thread_if_forked());
        assert!(!single_thread_if_forked());
        assert_eq!(FIRST_PROCESS.load(Ordering::SeqCst), std::process::id());
    }

    #[test]
    fn the_schema_covers_every_field_and_bounds_it() {
        let fields = serde_json::to_value(Config::default()).unwrap();
        let mut keys: Vec<&str> = fields
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "preset")
            .collect();
        let mut names: Vec<&str> = SCHEMA.iter().map(|p| p.name).collect();
        keys.sort_unstable();
        names.sort_unstable();
        assert_eq!(keys, names);
        let refused = |c: Config, want: &str| {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        };
        let d = Config::default;
        refused(
            Config {
                dropout: 1.0,
                ..d()
            },
            "dropout must be a number in [0, 1), not 1.0",
        );
        refused(Config { lr: 0.0, ..d() }, "lr must be a number in (0, Inf)");
        refused(
            Config { n_hidden: 0, ..d() },
            "n_hidden must be a whole number in [1, 64]",
        );
        refused(
            Config {
                ensemble_size: 51,
                ..d()
            },
            "ensemble_size",
        );
        refused(
            Config {
                ssl_ramp: "cubic".into(),
                ..d()
            },
            r#"one of "linear", "sigmoid""#,
        );
        refused(
            Config {
                preset: "x".into(),
                ..d()
            },
            "preset must be one of",
        );
        refused(
            Config {
                mixup_alpha: f64::NAN,
                ..d()
            },
            "mixup_alpha",
        );
        // counts per million with a cap would normalise a one-gene cell above ln(1 + 1e6)
        refused(
            Config {
                scale_factor: 1e6,
                ..d()
            },
            "scale_factor / max_gene_fraction must be at most 1e6, not 1000000 / 0.2",
        );
        Config {
            scale_factor: 1e6,
            max_gene_fraction: 1.0,
            ..d()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn presets_validate() {
        for name in Config::preset_names() {
            let c = Config::preset(name).unwrap();
            c.validate().unwrap();
        }
        assert!(Config::preset("nope").is_err());
        let c = Config::preset("no_ssl").unwrap();
        assert_eq!((c.ssl_weight, c.adv_weight), (0.0, 0.0));
        let c = Config::preset("new_identity_discovery").unwrap();
        assert_eq!(c.pseudolabel_min_confidence, 0.9);
        assert!(c.adv_confident_only);
        // the package default departs from the paper (bench/accuracy); "paper" keeps its procedure
        let (d, p) = (
            Config::preset("default").unwrap(),
            Config::preset("paper").unwrap(),
        );
        assert_eq!((d.min_steps_per_epoch, d.class_balance), (2, 0.5));
        assert_eq!(p.min_steps_per_epoch, 0);
        assert_eq!((d.ensemble_size, p.ensemble_size), (2, 1));
        assert_eq!(p.class_balance, 0.0);
        assert!(!d.pseudolabel_adaptive && !p.pseudolabel_adaptive);
        assert_eq!(
            (d.pseudolabel_min_confidence, p.pseudolabel_min_confidence),
            (0.9, 0.0)
        );
        assert!(d.adv_confident_only && !p.adv_confident_only);
        assert_eq!((d.adv_class_weights, p.adv_class_weights), (0.0, 0.0));
        let paper_from_default = Config {
            preset: "paper".into(),
            scale_factor: 1e6,
            max_gene_fraction: 1.0,
            class_balance: 0.0,
            min_steps_per_epoch: 0,
            max_steps_per_epoch: 0,
            pseudolabel_min_confidence: 0.0,
            adv_confident_only: false,
            ensemble_size: 1,
            member_variable_genes: 0,
            ..d
        };
        assert_eq!(p, paper_from_default);
        // the pull is opt-in: without new types it drags known ones down (bench/trust)
        for name in Config::preset_names() {
            assert_eq!(Config::preset(name).unwrap().unconfident_weight, 0.0);
        }
    }

    #[test]
    fn json_round_trip_and_unknown_fields() {
        let c = Config::preset("no_dan").unwrap();
        let s = serde_json::to_string(&c).unwrap();
        let back: Config = serde_json::from_str(&s).unwrap();
        assert_eq!(c, back);
        let with_extra = s.replacen('{', "{\"bogus\":1,", 1);
        assert!(serde_json::from_str::<Config>(&with_extra).is_err());
        // configurations saved before unconfident_weight existed load with the pull off
        let mut v: serde_json::Value = serde_json::from_str(&s).unwrap();
        v.as_object_mut().unwrap().remove("unconfident_weight");
        let old: Config = serde_json::from_value(v).unwrap();
        assert_eq!(old.unconfident_weight, 0.0);
        // and before the sampling and adaptive-threshold fields: the paper's procedure
        let mut v: serde_json::Value = serde_json::from_str(&s).unwrap();
        for field in [
            "scale_factor",
            "max_gene_fraction",
            "n_variable_genes",
            "class_balance",
            "min_steps_per_epoch",
            "max_steps_per_epoch",
            "pseudolabel_adaptive",
            "ensemble_size",
            "member_variable_genes",
            "variable_gene_weight",
            "variable_gene_mask_prob",
            "adv_class_weights",
        ] {
            v.as_object_mut().unwrap().remove(field);
        }
        let old: Config = serde_json::from_value(v).unwrap();
        assert_eq!((old.class_balance, old.min_steps_per_epoch), (0.0, 0));
        assert_eq!(old.max_steps_per_epoch, 0);
        assert_eq!(old.ensemble_size, 1);
        assert_eq!(old.member_variable_genes, 0);
        assert_eq!(old.variable_gene_weight, 1.0);
        assert_eq!(old.variable_gene_mask_prob, 0.1);
        assert_eq!(old.scale_factor, 1e6);
        assert_eq!(old.max_gene_fraction, 1.0);
        assert_eq!(old.n_variable_genes, 0);
        assert!(!old.pseudolabel_adaptive);
        assert_eq!(old.adv_class_weights, 0.0);
    }
}
