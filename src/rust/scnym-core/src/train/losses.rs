//! The training losses, each defined once, on logits: `train::step` only calls these and weighs
//! their values. They keep the logits' precision (f32 in training, f64 in the gradient tests).

use crate::error::Result;
use tch::{Kind, Tensor};

/// Supervised loss: mean over rows of `-sum_k y_k log softmax(z)_k` (soft-label cross-entropy).
pub(crate) fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let log_p = logits.f_log_softmax(1, None::<Kind>)?;
    Ok(log_p
        .f_mul(targets)?
        .f_sum_dim_intlist(1, false, None::<Kind>)?
        .f_mean(None::<Kind>)?
        .f_neg()?)
}

/// Interpolation consistency: `sum over rows of ||softmax(z) - y||^2`, divided by `denominator`
/// (the full target batch size, confident or not).
pub(crate) fn consistency_loss(
    logits: &Tensor,
    targets: &Tensor,
    denominator: f64,
) -> Result<Tensor> {
    let p = logits.f_softmax(1, None::<Kind>)?;
    let d = p.f_sub(targets)?;
    Ok(d.f_mul(&d)?
        .f_sum(None::<Kind>)?
        .f_div_scalar(denominator)?)
}

/// The pull of unconfident target rows toward the uniform distribution: the consistency loss
/// against `1 / n_classes` in every class.
pub(crate) fn pull_to_uniform(logits: &Tensor, denominator: f64) -> Result<Tensor> {
    consistency_loss(logits, &uniform_like(logits)?, denominator)
}

/// The uniform distribution over the columns of `logits`, in every row.
fn uniform_like(logits: &Tensor) -> Result<Tensor> {
    let n_columns = logits.size().get(1).copied().unwrap_or(1).max(1);
    Ok(logits
        .f_zeros_like()?
        .f_add_scalar(1.0 / n_columns as f64)?)
}

/// Domain loss of the adversary: mean cross-entropy against integer domain codes, each row's
/// term times its weight in `row_weights` (when given).
pub(crate) fn cross_entropy(
    logits: &Tensor,
    labels: &Tensor,
    row_weights: Option<&Tensor>,
) -> Result<Tensor> {
    let log_p = logits
        .f_log_softmax(1, None::<Kind>)?
        .f_gather(1, &labels.f_unsqueeze(1)?, false)?
        .f_squeeze_dim(1)?;
    let log_p = match row_weights {
        Some(w) => log_p.f_mul(w)?,
        None => log_p,
    };
    log_p.f_mean(None::<Kind>)?.f_neg().map_err(Into::into)
}

/// The adversarial loss over the nuisance covariates: `sum_c w_c * CE(logits_c, codes_c)`, with
/// each head's logits, domain codes and weight, and the rows weighted by `row_weights`.
pub(crate) fn adversary_loss(
    heads: &[(Tensor, Tensor, f64)],
    row_weights: Option<&Tensor>,
) -> Result<Tensor> {
    sum_over_heads(
        heads.iter().map(|(logits, codes, weight)| {
            Ok((cross_entropy(logits, codes, row_weights)?, *weight))
        }),
    )
}

/// The encoder's confusion loss over the nuisance covariates: `sum_c w_c * H(u_c, softmax(logits_c))`,
/// the cross-entropy of each head's domain probabilities against its uniform distribution `u_c`
/// (smallest when the head cannot tell the domains apart; Tzeng et al. 2015).
pub(crate) fn confusion_loss(heads: &[(Tensor, f64)]) -> Result<Tensor> {
    sum_over_heads(
        heads.iter().map(|(logits, weight)| {
            Ok((soft_cross_entropy(logits, &uniform_like(logits)?)?, *weight))
        }),
    )
}

/// `sum_c w_c * loss_c` over the heads' `(loss_c, w_c)`, in head order.
fn sum_over_heads(terms: impl Iterator<Item = Result<(Tensor, f64)>>) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for term in terms {
        let (loss, weight) = term?;
        let term = loss.f_mul_scalar(weight)?;
        total = Some(match total {
            Some(t) => t.f_add(&term)?,
            None => term,
        });
    }
    total.ok_or_else(|| crate::error::Error::internal("an adversary without heads"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(t: &Tensor) -> f64 {
        t.f_double_value(&[]).unwrap()
    }

    #[test]
    fn losses_match_hand_computation() {
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
        assert!((val(&cross_entropy(&z, &labels, None).unwrap()) - expect_ce).abs() < 1e-5);
        // row weights 0.5 and 1.5: the mean of the weighted terms
        let w = Tensor::f_from_slice(&[0.5f32, 1.5]).unwrap();
        let expect_wce = (0.5 * (2.0f64).ln() + 1.5 * (lse2 - 3.0)) / 2.0;
        assert!((val(&cross_entropy(&z, &labels, Some(&w)).unwrap()) - expect_wce).abs() < 1e-5);
        let p1 = 1.0 / (1.0 + (-2.0f64).exp());
        let expect_c = (0.25 + 0.25 + (1.0 - p1 - 0.5).powi(2) + (p1 - 0.5).powi(2)) / 4.0;
        assert!((val(&consistency_loss(&z, &y, 4.0).unwrap()) - expect_c).abs() < 1e-5);
        // row 1 is uniform already; row 2 is (1 - p1, p1)
        let expect_u = (2.0 * (p1 - 0.5).powi(2)) / 3.0;
        assert!((val(&pull_to_uniform(&z, 3.0).unwrap()) - expect_u).abs() < 1e-5);
        // the adversary over two covariates: the weighted sum of their cross-entropies
        let z2 = Tensor::f_from_slice(&[2.0f32, 0.0, -1.0, 0.5, 0.5, 0.0])
            .unwrap()
            .f_view([2, 3])
            .unwrap();
        let codes2 = Tensor::f_from_slice(&[2i64, 0]).unwrap();
        let ce2 = val(&cross_entropy(&z2, &codes2, None).unwrap());
        let heads = [
            (z.shallow_clone(), labels.shallow_clone(), 0.5),
            (z2.shallow_clone(), codes2.shallow_clone(), 2.0),
        ];
        let expect_adv = 0.5 * expect_ce + 2.0 * ce2;
        assert!((val(&adversary_loss(&heads, None).unwrap()) - expect_adv).abs() < 1e-5);
        let wce2 = val(&cross_entropy(&z2, &codes2, Some(&w)).unwrap());
        let expect_wadv = 0.5 * expect_wce + 2.0 * wce2;
        assert!((val(&adversary_loss(&heads, Some(&w)).unwrap()) - expect_wadv).abs() < 1e-5);
        // one head of weight 1 is its cross-entropy, bit for bit
        let one = adversary_loss(
            &heads[..1]
                .iter()
                .map(|(l, c, _)| (l.shallow_clone(), c.shallow_clone(), 1.0))
                .collect::<Vec<_>>(),
            None,
        )
        .unwrap();
        assert_eq!(val(&one), val(&cross_entropy(&z, &labels, None).unwrap()));
        // confusion: each head's cross-entropy against uniform domain probabilities, weighted;
        // row 1 of z is uniform already (log 2), row 2 is (1 - p1, p1)
        let expect_conf_z = ((2.0f64).ln() + 0.5 * (lse2 - 1.0) + 0.5 * (lse2 - 3.0)) / 2.0;
        let lse3 = [
            2.0f64.exp() + 1.0 + (-1.0f64).exp(),
            2.0 * 0.5f64.exp() + 1.0,
        ];
        let expect_conf_z2 = ((lse3[0].ln() - 1.0 / 3.0) + (lse3[1].ln() - 1.0 / 3.0)) / 2.0;
        let conf = confusion_loss(&[(z.shallow_clone(), 0.5), (z2.shallow_clone(), 2.0)]).unwrap();
        assert!((val(&conf) - (0.5 * expect_conf_z + 2.0 * expect_conf_z2)).abs() < 1e-5);
    }
}
