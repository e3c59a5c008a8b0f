//! One training step: the hidden blocks in train mode, the losses of [`super::losses`], and their
//! gradients by libtorch's autograd, on any device.
//!
//! The first layer is not in here: the trainer computes `h_pre = X W1 + b1` with the sparse kernels
//! (`data::batch`) and the weight gradient `dW1 = X^T d_h_pre` from the gradient returned here.
//!
//! Trunk passes, each its own BatchNorm batch as the reference's separate forward passes:
//! ```text
//! A  the unconfident target rows (with `unconfident_weight`: no dropout and the pull to uniform),
//!    then the MixUp rows whose dominant partner is a target cell (consistency)
//! B  the MixUp rows whose dominant partner is a labeled cell (supervised)
//! C  the unmixed step rows [target; labeled] into the adversary heads (one per nuisance
//!    covariate): through one gradient reversal, or (`adv_objective = "confusion"`) detached for
//!    the heads and through the heads held fixed for the encoder's confusion loss
//! ```
//! A joins B when it has fewer than two rows (BatchNorm needs two).

use super::losses::{
    adversary_loss, confusion_loss, consistency_loss, pull_to_uniform, soft_cross_entropy,
};
use crate::error::{Error, Result};
use crate::model::adversary::Adversary;
use crate::model::classifier::Classifier;
use crate::model::dropout::dropout_mask;
use crate::model::grl::gradient_reversal;
use crate::rng::EngineRng;
use tch::Tensor;

/// One adversary head of a step: the network, the domain codes of the loss rows in its covariate
/// and the covariate's weight.
pub(crate) struct AdversaryHead<'a> {
    pub net: &'a Adversary,
    pub codes: &'a [i64],
    pub weight: f64,
}

/// The adversary's part of a step.
pub(crate) struct AdversaryPlan<'a> {
    pub heads: Vec<AdversaryHead<'a>>,
    /// Which step rows (indices into `0..n_u + n_l`) enter its loss.
    pub loss_rows: &'a [i64],
    /// Weight of each loss row in the heads' cross-entropies (`None`: all 1).
    pub row_weights: Option<&'a [f32]>,
    /// Weight of the encoder's adversarial term (the reversed gradient, or the confusion loss).
    pub lambda: f64,
    /// The encoder's adversarial term: the confusion loss instead of gradient reversal.
    pub confusion: bool,
}

/// Everything a step computes on; all random choices but the dropout masks are made.
pub(crate) struct StepPlan<'a> {
    /// First-layer output `X W + b` of the step rows: `n_u` target rows, then `n_l` labeled rows.
    pub h_pre: &'a Tensor,
    pub n_u: usize,
    pub n_l: usize,
    /// Confident and unconfident target rows (indices into `0..n_u`).
    pub conf: &'a [usize],
    pub unconf: &'a [usize],
    /// Targets of the MixUp set S (`n_s = conf.len() + n_l` rows x classes): sharpened
    /// pseudolabels of the confident target rows, then one-hot labels.
    pub targets: &'a [f32],
    /// MixUp partner and weight of each row of S.
    pub perm: &'a [i64],
    pub gamma: &'a [f32],
    pub lambda_ssl: f64,
    /// Weight, within the SSL loss, of pulling the unconfident target rows toward the uniform
    /// distribution (0: they only feed BatchNorm statistics).
    pub unconfident_weight: f64,
    pub adversary: Option<AdversaryPlan<'a>>,
}

/// Losses and gradients of a step.
pub(crate) struct StepResult {
    pub sup: f64,
    /// Consistency plus the weighted pull to uniform (before `lambda_ssl`).
    pub ssl: f64,
    /// The adversary heads' loss (their weighted cross-entropies).
    pub adv: f64,
    /// `sup + lambda_ssl * ssl + adv`, plus `lambda` times the encoder's confusion loss with
    /// `confusion`.
    pub total: f64,
    /// Gradients of the classifier's autograd parameters, in `Classifier::autograd_params` order.
    pub classifier_grads: Vec<Tensor>,
    /// Gradients of the adversary heads' parameters, head by head in `Adversary::params` order.
    pub adversary_grads: Vec<Tensor>,
    /// Gradient with respect to `h_pre` ([n_u + n_l, width]).
    pub d_h_pre: Tensor,
}

/// The hidden blocks in train mode on the trunk input `x`; its first `free` rows skip dropout.
fn trunk_train(net: &Classifier, x: &Tensor, free: i64, rng: &mut EngineRng) -> Result<Tensor> {
    let n = x.size()[0];
    let w = net.shape.width as i64;
    let mut h = x.shallow_clone();
    for (l, norm) in net.norms.iter().enumerate() {
        if l > 0 {
            h = net.hidden[l - 1].forward(&h)?;
        }
        h = norm.forward(&h, true)?.f_relu()?;
        if net.dropout > 0.0 {
            let mask = dropout_mask(n, w, net.dropout, rng, h.device())?;
            if free > 0 {
                let _ = mask.f_narrow(0, 0, free)?.f_fill_(1.0)?;
            }
            h = h.f_mul(&mask)?;
        }
    }
    Ok(h)
}

/// Runs the step: losses, and gradients of the classifier's autograd parameters, the adversary's
/// parameters and `h_pre` (the parameters must track gradients).
pub(crate) fn train_step(
    net: &Classifier,
    plan: &StepPlan,
    rng: &mut EngineRng,
) -> Result<StepResult> {
    let device = plan.h_pre.device();
    let long = |v: &[i64]| -> Result<Tensor> { Ok(Tensor::f_from_slice(v)?.f_to_device(device)?) };
    let (n_u, n_l) = (plan.n_u as i64, plan.n_l as i64);
    let (n_c, n_uc) = (plan.conf.len() as i64, plan.unconf.len() as i64);
    let n_s = n_c + n_l;
    let n_classes = net.shape.n_classes as i64;
    if plan.perm.len() as i64 != n_s
        || plan.gamma.len() as i64 != n_s
        || plan.targets.len() as i64 != n_s * n_classes
    {
        return Err(Error::internal("inconsistent step plan"));
    }
    let h = plan.h_pre.f_detach()?.f_set_requires_grad(true)?;

    // MixUp of S = [confident target rows; labeled rows] and of their targets
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

    // passes A and B; unconfident rows with a loss skip dropout: the model is to be unsure of
    // them as it predicts (in eval mode), not under every dropout mask, which it can only achieve
    // by wiping out their embedding
    let free = if plan.unconfident_weight > 0.0 {
        n_uc
    } else {
        0
    };
    let (logits_uc, logits_u, logits_l) = if n_uc + n_c >= 2 {
        let a = Tensor::f_cat(&[&unconf_rows, &h_mix.f_narrow(0, 0, n_c)?], 0)?;
        let emb_a = trunk_train(net, &a, free, rng)?;
        let emb_b = trunk_train(net, &h_mix.f_narrow(0, n_c, n_l)?, 0, rng)?;
        (
            net.head(&emb_a.f_narrow(0, 0, n_uc)?)?,
            net.head(&emb_a.f_narrow(0, n_uc, n_c)?)?,
            net.head(&emb_b)?,
        )
    } else {
        let a = Tensor::f_cat(&[&unconf_rows, &h_mix], 0)?;
        let logits = net.head(&trunk_train(net, &a, free, rng)?)?;
        (
            logits.f_narrow(0, 0, n_uc)?,
            logits.f_narrow(0, n_uc, n_c)?,
            logits.f_narrow(0, n_uc + n_c, n_l)?,
        )
    };

    // the losses: total = sup + lambda_ssl * (consistency + weighted pull) + adv
    let loss_sup = soft_cross_entropy(&logits_l, &y_mix.f_narrow(0, n_c, n_l)?)?;
    let mut ssl_terms = Vec::new();
    if n_c > 0 {
        ssl_terms.push(consistency_loss(
            &logits_u,
            &y_mix.f_narrow(0, 0, n_c)?,
            n_u as f64,
        )?);
    }
    if free > 0 {
        let pull = pull_to_uniform(&logits_uc, n_u as f64)?;
        ssl_terms.push(pull.f_mul_scalar(plan.unconfident_weight)?);
    }
    let mut total = loss_sup.shallow_clone();
    let mut ssl = 0.0;
    for term in &ssl_terms {
        ssl += term.f_double_value(&[])?;
        total = total.f_add(&term.f_mul_scalar(plan.lambda_ssl)?)?;
    }
    let mut adv = 0.0;
    let mut inputs: Vec<&Tensor> = net.autograd_params();
    let n_classifier = inputs.len();
    if let Some(ap) = &plan.adversary {
        // pass C. Every head learns its covariate from sum_c w_c CE_c. With gradient reversal the
        // encoder's gradient is -lambda * sum_c w_c dCE_c/de; with confusion it is
        // lambda * d(confusion loss)/de, through the heads' parameters held fixed.
        let emb = trunk_train(net, &h, 0, rng)?;
        let e = emb.f_index_select(0, &long(ap.loss_rows)?)?;
        let into_heads = if ap.confusion {
            e.f_detach()?
        } else {
            gradient_reversal(&e, ap.lambda)?
        };
        let mut heads = Vec::with_capacity(ap.heads.len());
        let mut fooled = Vec::new();
        for head in &ap.heads {
            if head.codes.len() != ap.loss_rows.len() {
                return Err(Error::internal("inconsistent adversary plan"));
            }
            heads.push((
                head.net.forward(&into_heads)?,
                long(head.codes)?,
                head.weight,
            ));
            if ap.confusion {
                fooled.push((head.net.detached()?.forward(&e)?, head.weight));
            }
            inputs.extend(head.net.params());
        }
        let row_weights = match ap.row_weights {
            Some(w) if w.len() == ap.loss_rows.len() => {
                Some(Tensor::f_from_slice(w)?.f_to_device(device)?)
            }
            Some(_) => return Err(Error::internal("inconsistent adversary plan")),
            None => None,
        };
        let loss_adv = adversary_loss(&heads, row_weights.as_ref())?;
        adv = loss_adv.f_double_value(&[])?;
        total = total.f_add(&loss_adv)?;
        if ap.confusion {
            total = total.f_add(&confusion_loss(&fooled)?.f_mul_scalar(ap.lambda)?)?;
        }
    }

    inputs.push(&h);
    let grads = Tensor::f_run_backward(&[&total], &inputs, false, false)?;
    let (d_h, rest) = grads
        .split_last()
        .ok_or_else(|| Error::internal("no gradients"))?;
    // the first layer's bias has none: `h_pre` comes in detached (its gradient, the column sums
    // of `d_h_pre`, is zero anyway: every BatchNorm pass removes a per-column shift)
    let classifier_grads = rest[..n_classifier]
        .iter()
        .zip(net.autograd_params())
        .map(|(g, p)| {
            Ok(if g.defined() {
                g.shallow_clone()
            } else {
                p.f_zeros_like()?
            })
        })
        .collect::<Result<Vec<_>>>()?;
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::classifier::Shape;
    use crate::model::layers::Linear;
    use rand::SeedableRng;
    use tch::{Device, Kind};

    fn double(t: &Tensor, grad: bool) -> Tensor {
        t.f_detach()
            .unwrap()
            .f_to_kind(Kind::Double)
            .unwrap()
            .f_set_requires_grad(grad)
            .unwrap()
    }

    fn entry(t: &Tensor, i: i64) -> f64 {
        t.f_view([-1]).unwrap().f_double_value(&[i]).unwrap()
    }

    /// Adds `by` to entry `i` of `t` in place.
    fn nudge(t: &Tensor, i: i64, by: f64) {
        let _guard = tch::no_grad_guard();
        let mut e = t.f_view([-1]).unwrap().f_narrow(0, i, 1).unwrap();
        let _ = e.f_add_scalar_(by).unwrap();
    }

    /// The step's gradients equal central finite differences of its losses, in float64 on a tiny
    /// network with dropout (the same masks every run: the generator is reseeded), MixUp, the
    /// consistency loss, the pull to uniform and the adversary (behind gradient reversal, or
    /// with the encoder's confusion loss), its rows weighted or not.
    fn check(
        n_u: usize,
        n_l: usize,
        conf: Vec<usize>,
        unconf: Vec<usize>,
        unconfident_weight: f64,
        confusion: bool,
        weighted: bool,
    ) {
        tch::set_num_threads(1);
        let mut rng = EngineRng::seed_from_u64(11);
        let shape = Shape {
            n_genes: 5,
            width: 6,
            n_hidden: 2,
            n_classes: 3,
        };
        let net32 = Classifier::new(shape, 0.3, &mut rng, Device::Cpu, None).unwrap();
        let tensors = net32
            .tensors()
            .into_iter()
            .map(|t| double(t, false))
            .collect();
        let mut net = Classifier::from_tensors(shape, 0.3, tensors).unwrap();
        net.set_requires_grad(true).unwrap();
        // BatchNorm affine parameters away from their initial 1 and 0
        nudge(&net.norms[0].weight, 1, 0.4);
        nudge(&net.norms[1].bias, 2, -0.3);
        // two adversary heads (two covariates: 3 and 2 levels)
        let linear = |l: &Linear| Linear {
            weight: double(&l.weight, true),
            bias: double(&l.bias, true),
        };
        let adversaries: Vec<Adversary> = [3, 2]
            .into_iter()
            .map(|levels| {
                let a32 = Adversary::new(6, levels, &mut rng, Device::Cpu).unwrap();
                Adversary {
                    hidden: linear(&a32.hidden),
                    output: linear(&a32.output),
                }
            })
            .collect();
        let n0 = n_u + n_l;
        let h_pre = double(
            &Tensor::f_randn([n0 as i64, 6], (Kind::Float, Device::Cpu)).unwrap(),
            false,
        );
        let n_s = conf.len() + n_l;
        let mut targets = vec![0f32; n_s * 3];
        for k in 0..n_s {
            if k < conf.len() {
                targets[k * 3..(k + 1) * 3].copy_from_slice(&[0.1, 0.7, 0.2]);
            } else {
                targets[k * 3 + k % 3] = 1.0;
            }
        }
        let mix = crate::data::mixup_plan(n_s, 0.3, &mut rng).unwrap();
        let loss_rows: Vec<i64> = (0..n0 as i64).collect();
        let codes: Vec<i64> = (0..n0)
            .map(|i| if i < n_u { 2 } else { (i % 2) as i64 })
            .collect();
        let codes2: Vec<i64> = (0..n0).map(|i| ((i / 3) % 2) as i64).collect();
        let row_weights: Vec<f32> = (0..n0).map(|i| 0.5 * (1 + i % 3) as f32).collect();
        let (lambda_ssl, lambda_adv) = (0.7, 0.4);
        let plan = StepPlan {
            h_pre: &h_pre,
            n_u,
            n_l,
            conf: &conf,
            unconf: &unconf,
            targets: &targets,
            perm: &mix.perm,
            gamma: &mix.gamma,
            lambda_ssl,
            unconfident_weight,
            adversary: Some(AdversaryPlan {
                heads: vec![
                    AdversaryHead {
                        net: &adversaries[0],
                        codes: &codes,
                        weight: 1.0,
                    },
                    AdversaryHead {
                        net: &adversaries[1],
                        codes: &codes2,
                        weight: 0.6,
                    },
                ],
                loss_rows: &loss_rows,
                row_weights: weighted.then_some(&row_weights[..]),
                lambda: lambda_adv,
                confusion,
            }),
        };
        let run = || train_step(&net, &plan, &mut EngineRng::seed_from_u64(3)).unwrap();
        let result = run();
        assert!(result.sup > 0.0 && result.ssl > 0.0 && result.adv > 0.0);
        // the total beyond the three reported losses: lambda_adv times the confusion loss
        let beyond = |r: &StepResult| r.total - (r.sup + lambda_ssl * r.ssl + r.adv);
        if confusion {
            assert!(beyond(&result) > 1e-6);
        } else {
            assert!(beyond(&result).abs() < 1e-12);
        }

        // what the gradients are of: the classifier and h_pre receive the adversary's gradient
        // (the weighted sum over both heads) reversed and scaled by lambda_adv; each head its own
        // weighted loss (the heads share no parameters, so the gradient of the sum); with
        // confusion the classifier and h_pre receive lambda_adv times the confusion loss's
        let trunk_objective = |r: &StepResult| {
            let against = if confusion {
                beyond(r)
            } else {
                -lambda_adv * r.adv
            };
            r.sup + lambda_ssl * r.ssl + against
        };
        let adversary_objective = |r: &StepResult| r.adv;
        let eps = 1e-6;
        let mut checked = 0;
        let mut compare = |t: &Tensor, g: &Tensor, objective: &dyn Fn(&StepResult) -> f64| {
            let n = t.numel() as i64;
            for i in [0, n / 2, n - 1] {
                nudge(t, i, eps);
                let up = objective(&run());
                nudge(t, i, -2.0 * eps);
                let down = objective(&run());
                nudge(t, i, eps);
                let fd = (up - down) / (2.0 * eps);
                let ad = entry(g, i);
                assert!(
                    (fd - ad).abs() <= 1e-6 * (1.0 + ad.abs()),
                    "finite difference {fd} against autograd {ad} (entry {i} of a {:?} tensor)",
                    t.size()
                );
                checked += 1;
            }
        };
        for (p, g) in net
            .autograd_params()
            .into_iter()
            .zip(&result.classifier_grads)
        {
            compare(p, g, &trunk_objective);
        }
        let head_params: Vec<&Tensor> = adversaries.iter().flat_map(|a| a.params()).collect();
        assert_eq!(head_params.len(), result.adversary_grads.len());
        for (p, g) in head_params.into_iter().zip(&result.adversary_grads) {
            compare(p, g, &adversary_objective);
        }
        compare(&h_pre, &result.d_h_pre, &trunk_objective);
        assert_eq!(checked, 3 * (net.autograd_params().len() + 2 * 4 + 1));
    }

    #[test]
    fn gradients_match_finite_differences() {
        // consistency, pull to uniform, supervised, adversary
        check(6, 8, vec![0, 2, 3, 5], vec![1, 4], 0.8, false, false);
        // the adversary's rows weighted
        check(6, 8, vec![0, 2, 3, 5], vec![1, 4], 0.8, false, true);
        // pull only (no confident row), with pass A joining pass B
        check(3, 5, vec![], vec![1], 1.0, false, false);
        // consistency without the pull
        check(4, 5, vec![0, 1, 3], vec![2], 0.0, false, false);
        // the encoder confuses the adversary instead of reversing its gradient
        check(6, 8, vec![0, 2, 3, 5], vec![1, 4], 0.8, true, true);
    }

    /// A loss has one definition, in `losses`: the step's code calls those functions and only
    /// weighs and adds their values. A new loss is a function there and a call here.
    #[test]
    fn the_step_composes_losses_only_from_the_losses_module() {
        let code: String = include_str!("step.rs")
            .split("#[cfg(test)]")
            .next()
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        for op in [
            "softmax",
            "f_log",
            "f_exp",
            "f_pow",
            "f_square",
            "f_gather",
            "f_mean",
            "f_sum",
            "f_norm",
            "mse_loss",
            "nll_loss",
            "entropy_loss",
        ] {
            assert!(
                !code.contains(op),
                "step.rs computes `{op}`: put the loss in losses.rs"
            );
        }
        let losses = include_str!("losses.rs")
            .split("#[cfg(test)]")
            .next()
            .unwrap();
        let defined: Vec<&str> = losses
            .split("pub(crate) fn ")
            .skip(1)
            .filter_map(|s| s.split('(').next())
            .collect();
        assert_eq!(defined.len(), 6, "{defined:?}");
        // every loss is used by the step, directly or inside another loss (the adversary's
        // cross-entropy inside the weighted sum over covariates)
        for name in defined {
            let call = format!("{name}(");
            assert!(
                code.contains(&call) || losses.matches(&call).count() > 1,
                "the step does not use {name}"
            );
        }
    }
}
