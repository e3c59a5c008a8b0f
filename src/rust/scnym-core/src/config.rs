//! Training configuration: plain data with named presets, validated before use and saved with
//! every model (the seed included).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Every setting of a training run. Build one with [`Config::preset`] and change fields as needed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name of the preset the configuration started from.
    pub preset: String,
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
    /// Pseudolabel confidence threshold tau: target cells below it are neither mixed nor used.
    pub pseudolabel_min_confidence: f64,
    /// Per-class pseudolabel thresholds (FlexMatch): `pseudolabel_min_confidence` scaled down for
    /// classes that few target cells reach with confidence (false: one threshold for all, as in
    /// the paper). Absent in models saved before it existed.
    #[serde(default)]
    pub pseudolabel_adaptive: bool,
    /// Only confident target cells train the adversary.
    pub adv_confident_only: bool,
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
    /// epoch instead of taking one step (0: one pass over the labeled cells, as in the paper).
    /// Models saved before it existed load with 0.
    #[serde(default)]
    pub min_steps_per_epoch: usize,
    /// Number of models trained with seeds `seed`, `seed + 1`, ... whose probabilities are
    /// averaged (a deep ensemble; 1: a single model). A [`crate::train::Trainer`] trains one
    /// member; the caller trains the others and joins them with [`crate::Model::ensemble`].
    /// Absent in models saved before it existed (1).
    #[serde(default = "one")]
    pub ensemble_size: usize,
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
    /// Probability of masking each gene during augmentation.
    pub mask_prob: f64,
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

impl Default for Config {
    fn default() -> Self {
        Config {
            preset: "default".to_string(),
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
            pseudolabel_min_confidence: 0.9,
            pseudolabel_adaptive: false,
            adv_confident_only: true,
            unconfident_weight: 0.0,
            class_balance: 0.5,
            min_steps_per_epoch: 0,
            ensemble_size: 2,
            reference_sample: 0,
            sharpen_temperature: 0.5,
            mixup_alpha: 0.3,
            mask_prob: 0.1,
            val_fraction: 0.1,
            min_epochs: 20,
            patience: 40,
            seed: 0,
            threads: 0,
            device: "cpu".to_string(),
        }
    }
}

impl Config {
    /// The configuration of a named preset: "default" (alias "new_identity_discovery": only
    /// confident target cells are pseudolabelled and train the adversary), "no_new_identity"
    /// (every target cell is), "paper" (the reference's procedure: "no_new_identity" with
    /// labeled batches from a plain shuffle, no class balance, a single model), "no_dan" or
    /// "no_ssl".
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
                    c.class_balance = 0.0;
                    c.ensemble_size = 1;
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

    /// Checks every field; the error names the field and the allowed range.
    pub fn validate(&self) -> Result<()> {
        fn bad(field: &str, value: impl std::fmt::Display, want: &str) -> Error {
            Error::arg(format!("config: {field} must be {want}, not {value}"))
        }
        fn finite_in(field: &str, v: f64, lo: f64, hi: f64, want: &str) -> Result<()> {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err(bad(field, v, want))
            }
        }
        if !PRESETS.contains(&self.preset.as_str()) {
            return Err(bad(
                "preset",
                format!("\"{}\"", self.preset),
                &format!("one of {}", PRESETS.join(", ")),
            ));
        }
        if self.hidden_width == 0 || self.hidden_width > 65_536 {
            return Err(bad("hidden_width", self.hidden_width, "in 1..=65536"));
        }
        if self.n_hidden == 0 || self.n_hidden > 64 {
            return Err(bad("n_hidden", self.n_hidden, "in 1..=64"));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(bad("dropout", self.dropout, "in [0, 1)"));
        }
        if self.batch_size < 2 || self.batch_size > 1 << 20 {
            return Err(bad("batch_size", self.batch_size, "in 2..=1048576"));
        }
        if self.max_epochs == 0 || self.max_epochs > 1_000_000 {
            return Err(bad("max_epochs", self.max_epochs, "in 1..=1000000"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(bad("lr", self.lr, "a positive number"));
        }
        if !(self.rho.is_finite() && (0.0..1.0).contains(&self.rho)) {
            return Err(bad("rho", self.rho, "in [0, 1)"));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(bad("eps", self.eps, "a positive number"));
        }
        finite_in("weight_decay", self.weight_decay, 0.0, 1.0, "in [0, 1]")?;
        finite_in(
            "ssl_weight",
            self.ssl_weight,
            0.0,
            1e6,
            "a finite number >= 0",
        )?;
        if self.ssl_ramp != "linear" && self.ssl_ramp != "sigmoid" {
            return Err(bad(
                "ssl_ramp",
                format!("\"{}\"", self.ssl_ramp),
                "\"linear\" or \"sigmoid\"",
            ));
        }
        finite_in(
            "adv_weight",
            self.adv_weight,
            0.0,
            1e6,
            "a finite number >= 0",
        )?;
        finite_in(
            "pseudolabel_min_confidence",
            self.pseudolabel_min_confidence,
            0.0,
            1.0,
            "in [0, 1]",
        )?;
        finite_in("class_balance", self.class_balance, 0.0, 1.0, "in [0, 1]")?;
        if self.min_steps_per_epoch > 100_000 {
            return Err(bad(
                "min_steps_per_epoch",
                self.min_steps_per_epoch,
                "in 0..=100000",
            ));
        }
        if !(1..=50).contains(&self.ensemble_size) {
            return Err(bad("ensemble_size", self.ensemble_size, "in 1..=50"));
        }
        if self.reference_sample > 1_000_000 {
            return Err(bad(
                "reference_sample",
                self.reference_sample,
                "in 0..=1000000",
            ));
        }
        finite_in(
            "unconfident_weight",
            self.unconfident_weight,
            0.0,
            1e6,
            "a finite number >= 0",
        )?;
        if !(self.sharpen_temperature.is_finite()
            && self.sharpen_temperature > 0.0
            && self.sharpen_temperature <= 100.0)
        {
            return Err(bad(
                "sharpen_temperature",
                self.sharpen_temperature,
                "in (0, 100]",
            ));
        }
        finite_in("mixup_alpha", self.mixup_alpha, 0.0, 1e3, "in [0, 1000]")?;
        if !(self.mask_prob.is_finite() && (0.0..1.0).contains(&self.mask_prob)) {
            return Err(bad("mask_prob", self.mask_prob, "in [0, 1)"));
        }
        if !(self.val_fraction.is_finite() && (0.0..=0.5).contains(&self.val_fraction)) {
            return Err(bad("val_fraction", self.val_fraction, "in [0, 0.5]"));
        }
        if self.patience == 0 {
            return Err(bad("patience", self.patience, "at least 1"));
        }
        if self.threads > 4096 {
            return Err(bad("threads", self.threads, "in 0..=4096"));
        }
        if !["cpu", "cuda", "auto"].contains(&self.device.as_str()) {
            return Err(bad(
                "device",
                format!("\"{}\"", self.device),
                "\"cpu\", \"cuda\" or \"auto\"",
            ));
        }
        Ok(())
    }

    /// The libtorch device the configuration asks for ("cuda"/"auto" fall back to the CPU).
    pub fn torch_device(&self) -> tch::Device {
        match self.device.as_str() {
            "cuda" | "auto" => tch::Device::cuda_if_available(),
            _ => tch::Device::Cpu,
        }
    }
}

/// Applies a thread setting: `threads > 0` sets libtorch's intra-op thread count, 0 leaves it.
pub(crate) fn apply_threads(threads: usize) -> Result<()> {
    if threads > 4096 {
        return Err(Error::arg(format!(
            "threads must be in 0..=4096, not {threads}"
        )));
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
        assert_eq!((d.min_steps_per_epoch, d.class_balance), (0, 0.5));
        assert_eq!((d.ensemble_size, p.ensemble_size), (2, 1));
        assert_eq!(p.class_balance, 0.0);
        assert!(!d.pseudolabel_adaptive && !p.pseudolabel_adaptive);
        assert_eq!(
            (d.pseudolabel_min_confidence, p.pseudolabel_min_confidence),
            (0.9, 0.0)
        );
        assert!(d.adv_confident_only && !p.adv_confident_only);
        let paper_from_default = Config {
            preset: "paper".into(),
            class_balance: 0.0,
            pseudolabel_min_confidence: 0.0,
            adv_confident_only: false,
            ensemble_size: 1,
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
            "class_balance",
            "min_steps_per_epoch",
            "pseudolabel_adaptive",
            "ensemble_size",
        ] {
            v.as_object_mut().unwrap().remove(field);
        }
        let old: Config = serde_json::from_value(v).unwrap();
        assert_eq!((old.class_balance, old.min_steps_per_epoch), (0.0, 0));
        assert_eq!(old.ensemble_size, 1);
        assert!(!old.pseudolabel_adaptive);
    }
}
