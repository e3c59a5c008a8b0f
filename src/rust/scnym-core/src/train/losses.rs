//! Loss functions on logits.

use crate::error::Result;
use tch::{Kind, Tensor};

/// Mean over rows of `-sum_k y_k log softmax(z)_k` (soft-label cross-entropy).
pub(crate) fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let log_p = logits.f_log_softmax(1, Kind::Float)?;
    Ok(log_p
        .f_mul(targets)?
        .f_sum_dim_intlist(1, false, Kind::Float)?
        .f_mean(Kind::Float)?
        .f_neg()?)
}

/// Interpolation consistency: `sum over rows of ||softmax(z) - y||^2`, divided by `denominator`
/// (the full target batch size, confident or not).
pub(crate) fn consistency_loss(
    logits: &Tensor,
    targets: &Tensor,
    denominator: f64,
) -> Result<Tensor> {
    let p = logits.f_softmax(1, Kind::Float)?;
    let d = p.f_sub(targets)?;
    Ok(d.f_mul(&d)?.f_sum(Kind::Float)?.f_div_scalar(denominator)?)
}

/// Mean cross-entropy against integer class codes.
pub(crate) fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let log_p = logits.f_log_softmax(1, Kind::Float)?;
    Ok(log_p
        .f_gather(1, &labels.f_unsqueeze(1)?, false)?
        .f_mean(Kind::Float)?
        .f_neg()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn val(t: &Tensor) -> f64 {
        t.f_double_value(&[]).unwrap()
    }

    #[test]
    fn losses_match_hand_computation() {
        let opts = (Kind::Float, Device::Cpu);
        let z = Tensor::f_from_slice(&[0.0f32, 0.0, 1.0, 3.0])
            .unwrap()
            .f_view([2, 2])
            .unwrap();
        let y = Tensor::f_from_slice(&[1.0f32, 0.0, 0.5, 0.5])
            .unwrap()
            .f_view([2, 2])
            .unwrap();
        let lse2 = (1.0f64.exp() + 3.0f64.exp()).ln();
        let expect = ((2.0f64).ln() + 0.5 * (lse2 - 1.0) + 0.5 * (lse2 - 3.0)) / 2.0;
        assert!((val(&soft_cross_entropy(&z, &y).unwrap()) - expect).abs() < 1e-5);
        let labels = Tensor::f_from_slice(&[0i64, 1]).unwrap();
        let expect_ce = ((2.0f64).ln() + (lse2 - 3.0)) / 2.0;
        assert!((val(&cross_entropy(&z, &labels).unwrap()) - expect_ce).abs() < 1e-5);
        let p1 = 1.0 / (1.0 + (-2.0f64).exp());
        let expect_c = (0.25 + 0.25 + (1.0 - p1 - 0.5).powi(2) + (p1 - 0.5).powi(2)) / 4.0;
        assert!((val(&consistency_loss(&z, &y, 4.0).unwrap()) - expect_c).abs() < 1e-5);
        let _ = opts;
    }
}
