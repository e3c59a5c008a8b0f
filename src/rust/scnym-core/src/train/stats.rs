//! Per-epoch training statistics (kept in the model's history).

use serde::{Deserialize, Serialize};

/// What one epoch did.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean total loss over the epoch's mini-batches.
    pub loss: f64,
    /// Mean supervised (MixUp cross-entropy) loss.
    pub loss_sup: f64,
    /// Mean interpolation-consistency loss (unweighted).
    pub loss_ssl: f64,
    /// Mean domain-adversary cross-entropy.
    pub loss_adv: f64,
    /// SSL weight used in this epoch.
    pub ssl_weight: f64,
    /// Adversary weight (of the reversed gradient or the confusion loss) used in this epoch.
    pub adv_weight: f64,
    /// Cross-entropy on the validation cells (NaN without a validation set).
    #[serde(with = "nan_as_null")]
    pub val_loss: f64,
    /// Accuracy on the validation cells (NaN without a validation set).
    #[serde(with = "nan_as_null")]
    pub val_accuracy: f64,
    /// Whether these weights became the selected ("best") ones.
    pub is_best: bool,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
}

/// JSON has no NaN: non-finite values are written as `null` and read back as NaN.
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}
