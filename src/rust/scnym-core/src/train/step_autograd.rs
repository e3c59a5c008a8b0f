//! The same training step as [`super::step`], through libtorch's autograd: used on devices other
//! than the CPU, and as the reference the manual step is tested against.

use super::losses::{consistency_loss, cross_entropy, soft_cross_entropy};
use super::step::{StepPlan, StepResult};
use crate::error::{Error, Result};
use crate::model::classifier::Classifier;
use crate::model::dropout::dropout_mask;
use crate::model::grl::gradient_reversal;
use crate::rng::EngineRng;
use tch::Tensor;

/// Where dropout masks come from.
pub(crate) enum Masks<'a> {
    /// Drawn from a generator.
    Random(&'a mut EngineRng),
    /// Given keep flags per layer over all trunk rows (as returned by the manual step).
    #[cfg_attr(not(test), allow(dead_code))]
    Given(&'a [Vec<u8>]),
}

/// Train-mode blocks over rows `[start, start + n)` of the trunk input `x`; its first `free` rows
/// skip dropout.
fn trunk_group(
    net: &Classifier,
    x: &Tensor,
    start: usize,
    free: i64,
    masks: &mut Masks,
) -> Result<Tensor> {
    let n = x.size()[0];
    let w = net.shape.width as i64;
    let mut h = x.shallow_clone();
    for (l, norm) in net.norms.iter().enumerate() {
        if l > 0 {
            h = net.hidden[l - 1].forward(&h)?;
        }
        h = norm.forward(&h, true)?.f_relu()?;
        if net.dropout > 0.0 {
            let mask = match masks {
                Masks::Random(rng) => dropout_mask(n, w, net.dropout, rng, h.device())?,
                Masks::Given(keep) => {
                    let flags = keep.get(l).ok_or_else(|| Error::internal("missing mask"))?;
                    let lo = start * w as usize;
                    let scale = (1.0 / (1.0 - net.dropout)) as f32;
                    let v: Vec<f32> = flags[lo..lo + (n * w) as usize]
                        .iter()
                        .map(|&k| k as f32 * scale)
                        .collect();
                    Tensor::f_from_slice(&v)?
                        .f_view([n, w])?
                        .f_to_device(h.device())?
                }
            };
            if free > 0 {
                let _ = mask.f_narrow(0, 0, free)?.f_fill_(1.0)?;
            }
            h = h.f_mul(&mask)?;
        }
    }
    Ok(h)
}

/// Runs the step with autograd (the classifier's and adversary's parameters must track gradients).
pub(crate) fn autograd_step(
    net: &Classifier,
    plan: &StepPlan,
    mut masks: Masks,
) -> Result<StepResult> {
    let device = plan.h_pre.device();
    let long = |v: &[i64]| -> Result<Tensor> { Ok(Tensor::f_from_slice(v)?.f_to_device(device)?) };
    let (n_u, n_l) = (plan.n_u as i64, plan.n_l as i64);
    let (n_c, n_uc) = (plan.conf.len() as i64, plan.unconf.len() as i64);
    let n_s = n_c + n_l;
    let n_classes = net.shape.n_classes as i64;
    let h = plan.h_pre.f_detach()?.f_set_requires_grad(true)?;
    let source: Vec<i64> = (0..n_s)
        .map(|k| {
            if k < n_c {
                plan.conf[k as usize] as i64
            } else {
                n_u + (k - n_c)
            }
        })
        .collect();
    let s_rows = h.f_index_select(0, &long(&source)?)?;
    let gamma = Tensor::f_from_slice(plan.gamma)?
        .f_to_device(device)?
        .f_unsqueeze(1)?;
    let one_minus = gamma.f_neg()?.f_add_scalar(1.0)?;
    let perm = long(plan.perm)?;
    let mix = |a: &Tensor| -> Result<Tensor> {
        Ok(a.f_mul(&gamma)?
            .f_add(&a.f_index_select(0, &perm)?.f_mul(&one_minus)?)?)
    };
    let h_mix = mix(&s_rows)?;
    let targets = Tensor::f_from_slice(plan.targets)?
        .f_to_device(device)?
        .f_view([n_s, n_classes])?;
    let y_mix = mix(&targets)?;
    let unconf: Vec<i64> = plan.unconf.iter().map(|&i| i as i64).collect();
    let unconf_rows = h.f_index_select(0, &long(&unconf)?)?;

    // group A: [unconfident; target-dominant MixUp], group B: labeled-dominant MixUp; the
    // unconfident rows skip dropout when they have a loss
    let free = if plan.unconfident_weight > 0.0 {
        n_uc
    } else {
        0
    };
    let (logits_uc, logits_u, logits_l) = if n_uc + n_c >= 2 {
        let a = Tensor::f_cat(&[&unconf_rows, &h_mix.f_narrow(0, 0, n_c)?], 0)?;
        let emb_a = trunk_group(net, &a, 0, free, &mut masks)?;
        let emb_b = trunk_group(
            net,
            &h_mix.f_narrow(0, n_c, n_l)?,
            (n_uc + n_c) as usize,
            0,
            &mut masks,
        )?;
        (
            net.head(&emb_a.f_narrow(0, 0, n_uc)?)?,
            net.head(&emb_a.f_narrow(0, n_uc, n_c)?)?,
            net.head(&emb_b)?,
        )
    } else {
        let a = Tensor::f_cat(&[&unconf_rows, &h_mix], 0)?;
        let emb = trunk_group(net, &a, 0, free, &mut masks)?;
        let logits = net.head(&emb)?;
        (
            logits.f_narrow(0, 0, n_uc)?,
            logits.f_narrow(0, n_uc, n_c)?,
            logits.f_narrow(0, n_uc + n_c, n_l)?,
        )
    };
    let loss_sup = soft_cross_entropy(&logits_l, &y_mix.f_narrow(0, n_c, n_l)?)?;
    let mut total = loss_sup.shallow_clone();
    let mut ssl = 0.0;
    if n_c > 0 {
        let loss_ssl = consistency_loss(&logits_u, &y_mix.f_narrow(0, 0, n_c)?, n_u as f64)?;
        ssl += loss_ssl.f_double_value(&[])?;
        total = total.f_add(&loss_ssl.f_mul_scalar(plan.lambda_ssl)?)?;
    }
    if free > 0 {
        let uniform = logits_uc
            .f_zeros_like()?
            .f_add_scalar(1.0 / n_classes as f64)?;
        let loss_uc = consistency_loss(&logits_uc, &uniform, n_u as f64)?
            .f_mul_scalar(plan.unconfident_weight)?;
        ssl += loss_uc.f_double_value(&[])?;
        total = total.f_add(&loss_uc.f_mul_scalar(plan.lambda_ssl)?)?;
    }
    let mut adv = 0.0;
    let mut inputs: Vec<&Tensor> = net.autograd_params();
    if let Some(ap) = &plan.adversary {
        let emb = trunk_group(net, &h, (n_uc + n_s) as usize, 0, &mut masks)?;
        let e = emb.f_index_select(0, &long(ap.loss_rows)?)?;
        let domain_logits = ap.net.forward(&gradient_reversal(&e, ap.lambda)?)?;
        let loss_adv = cross_entropy(&domain_logits, &long(ap.codes)?)?;
        adv = loss_adv.f_double_value(&[])?;
        total = total.f_add(&loss_adv)?;
        inputs.extend(ap.net.params());
    }
    let n_classifier = net.autograd_params().len();
    inputs.push(&h);
    let grads = Tensor::f_run_backward(&[&total], &inputs, false, false)?;
    let (d_h, rest) = grads
        .split_last()
        .ok_or_else(|| Error::internal("no gradients"))?;
    let zero_if_undefined = |g: &Tensor, like: &Tensor| -> Result<Tensor> {
        if g.defined() {
            Ok(g.shallow_clone())
        } else {
            Ok(like.f_zeros_like()?)
        }
    };
    let mut classifier_grads = Vec::with_capacity(n_classifier);
    for (g, p) in rest[..n_classifier].iter().zip(net.autograd_params()) {
        classifier_grads.push(zero_if_undefined(g, p)?);
    }
    let adversary_grads = rest[n_classifier..]
        .iter()
        .map(|g| g.shallow_clone())
        .collect();
    Ok(StepResult {
        sup: loss_sup.f_double_value(&[])?,
        ssl,
        adv,
        total: total.f_double_value(&[])?,
        classifier_grads,
        adversary_grads,
        d_h_pre: d_h.shallow_clone(),
        keep: Vec::new(),
    })
}
