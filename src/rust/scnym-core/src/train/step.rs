//! Forward and backward passes of one training step, by hand.
//!
//! libtorch computes the matrix products (MKL GEMM); BatchNorm, ReLU, dropout, MixUp, the losses
//! and their gradients run as fused loops in Rust over the tensors' memory. Compared with
//! autograd over libtorch element-wise ops this makes a few passes over memory per layer instead of
//! a dozen allocations and passes, and one GEMM per layer for all rows of the step. The result is
//! checked against autograd in this module's tests.
//!
//! Rows of the trunk input (one matrix; BatchNorm statistics per group, as the reference's
//! separate forward passes):
//! ```text
//! [0, n_uc)                 unconfident target rows (BatchNorm statistics; with     } group A
//!                            `unconfident_weight`, no dropout and a loss)
//! [n_uc, n_uc + n_c)        MixUp rows whose dominant partner is a target cell    }
//! [n_uc + n_c, n_uc + n_s)  MixUp rows whose dominant partner is a labeled cell     group B
//! [n_uc + n_s, R)           the unmixed step rows [target; labeled] for the adversary  group C
//! ```
//! Group A joins group B when it has fewer than two rows (BatchNorm needs two).

use crate::error::{Error, Result};
use crate::model::adversary::Adversary;
use crate::model::classifier::Classifier;
use crate::model::layers::BatchNorm;
use crate::par;
use crate::rng::EngineRng;
use crate::tensor_io::{new_f32, read_f32, write_f32};
use rand::Rng;
use tch::{Kind, Tensor};

const BN_EPS: f64 = 1e-5;
const BN_MOMENTUM: f32 = 0.1;

/// The adversary's part of a step.
pub(crate) struct AdversaryPlan<'a> {
    pub net: &'a Adversary,
    /// Which step rows (indices into `0..n_u + n_l`) enter its loss.
    pub loss_rows: &'a [i64],
    /// Their domain codes.
    pub codes: &'a [i64],
    /// Gradient reversal weight.
    pub lambda: f64,
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
    /// Threads for the large matrix products (the engine's own, see `par`).
    pub threads: usize,
}

/// Losses and gradients of a step.
pub(crate) struct StepResult {
    pub sup: f64,
    pub ssl: f64,
    pub adv: f64,
    pub total: f64,
    /// Gradients of the classifier's autograd parameters, in `Classifier::autograd_params` order.
    pub classifier_grads: Vec<Tensor>,
    /// Gradients of the adversary's parameters, in `Adversary::params` order.
    pub adversary_grads: Vec<Tensor>,
    /// Gradient with respect to `h_pre` ([n_u + n_l, width]).
    pub d_h_pre: Tensor,
    /// Dropout keep flags per layer (rows x width), for tests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub keep: Vec<Vec<u8>>,
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    let t = t.f_detach()?.f_contiguous()?;
    read_f32(&t, |s| s.to_vec())
}

/// The manual step runs on the CPU only (it reads and writes tensor memory); other devices use
/// the autograd step.
pub(crate) fn supports(device: tch::Device) -> bool {
    device == tch::Device::Cpu
}

fn tensor(values: &[f32], rows: usize, cols: usize) -> Result<Tensor> {
    if values.len() != rows * cols {
        return Err(Error::internal("buffer of the wrong size"));
    }
    new_f32(&[rows as i64, cols as i64], |d| d.copy_from_slice(values))
}

/// Column sums of a row-major [rows, cols] buffer.
fn column_sums(values: &[f32], cols: usize) -> Vec<f32> {
    let mut acc = vec![0f64; cols];
    for row in values.chunks_exact(cols) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v as f64;
        }
    }
    acc.into_iter().map(|a| a as f32).collect()
}

/// One BatchNorm -> ReLU -> dropout block in train mode, kept for the backward pass.
struct Block {
    zhat: Vec<f32>,
    inv_std: Vec<Vec<f32>>,
    act: Tensor,
    keep: Vec<u8>,
}

/// Per-column mean and (biased) variance of rows `[s, e)`, f32 accumulation in two passes.
fn column_stats(z: &[f32], s: usize, e: usize, width: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (e - s) as f32;
    let block = &z[s * width..e * width];
    let mut mean = vec![0f32; width];
    for row in block.chunks_exact(width) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0f32; width];
    for row in block.chunks_exact(width) {
        for ((q, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
            let d = v - m;
            *q += d * d;
        }
    }
    var.iter_mut().for_each(|q| *q /= n);
    (mean, var)
}

/// Rows `[0, dropout_free)` skip dropout.
fn block_forward(
    z: &Tensor,
    norm: &BatchNorm,
    groups: &[(usize, usize)],
    width: usize,
    dropout: f64,
    dropout_free: usize,
    rng: &mut EngineRng,
) -> Result<Block> {
    let z = z.f_contiguous()?;
    let rows = z.numel() / width;
    let gamma = to_vec(&norm.weight)?;
    let beta = to_vec(&norm.bias)?;
    let mut keep = vec![1u8; rows * width];
    let mut scale = 1f32;
    if dropout > 0.0 {
        let mut draws = vec![0u16; rows * width];
        rng.fill(&mut draws[..]);
        let threshold = (dropout * 65536.0).round() as u32;
        for (k, &u) in keep.iter_mut().zip(&draws) {
            *k = (u as u32 >= threshold) as u8;
        }
        scale = (1.0 / (1.0 - dropout)) as f32;
        keep[..dropout_free * width].fill(1);
    }
    let mut zhat = vec![0f32; rows * width];
    let mut inv_stds = Vec::with_capacity(groups.len());
    let mut stats = Vec::with_capacity(groups.len());
    let act = read_f32(&z, |zv| {
        new_f32(&[rows as i64, width as i64], |a| {
            for &(s, e) in groups {
                let (mean, var) = column_stats(zv, s, e, width);
                let inv_std: Vec<f32> = var
                    .iter()
                    .map(|&q| (1.0 / (q as f64 + BN_EPS).sqrt()) as f32)
                    .collect();
                // y = gamma * zhat + beta; out = relu(y) * keep * scale
                // per row: zip over every per-column array so that the loop vectorises
                let params: Vec<[f32; 4]> = (0..width)
                    .map(|c| [mean[c], inv_std[c], gamma[c], beta[c]])
                    .collect();
                for r in s..e {
                    let scale = if r < dropout_free { 1.0 } else { scale };
                    let span = r * width..(r + 1) * width;
                    let (zr, hr) = (&zv[span.clone()], &mut zhat[span.clone()]);
                    let (ar, kr) = (&mut a[span.clone()], &keep[span]);
                    for ((((h, o), &zc), &k), &[m, is, g, b]) in hr
                        .iter_mut()
                        .zip(ar.iter_mut())
                        .zip(zr)
                        .zip(kr)
                        .zip(&params)
                    {
                        let v = (zc - m) * is;
                        *h = v;
                        *o = (g * v + b).max(0.0) * (k as f32 * scale);
                    }
                }
                stats.push((mean, var, (e - s) as f32));
                inv_stds.push(inv_std);
            }
        })
    })??;
    // running statistics, group by group (momentum 0.1, unbiased variance), as successive
    // forward passes in train mode would leave them
    let mut running_mean = norm.running_mean.shallow_clone();
    let mut running_var = norm.running_var.shallow_clone();
    write_f32(&mut running_mean, |rm| {
        write_f32(&mut running_var, |rv| {
            for (mean, var, n) in &stats {
                let unbias = if *n > 1.0 { n / (n - 1.0) } else { 1.0 };
                for c in 0..width {
                    rm[c] = (1.0 - BN_MOMENTUM) * rm[c] + BN_MOMENTUM * mean[c];
                    rv[c] = (1.0 - BN_MOMENTUM) * rv[c] + BN_MOMENTUM * var[c] * unbias;
                }
            }
        })
    })??;
    Ok(Block {
        zhat,
        inv_std: inv_stds,
        act,
        keep,
    })
}

/// Backward through BatchNorm -> ReLU -> dropout (none on rows `[0, dropout_free)`): returns
/// (dZ as a [rows, width] tensor, dgamma, dbeta).
fn block_backward(
    block: &Block,
    d_act: &[f32],
    gamma: &[f32],
    groups: &[(usize, usize)],
    width: usize,
    dropout: f64,
    dropout_free: usize,
) -> Result<(Tensor, Vec<f32>, Vec<f32>)> {
    let scale = if dropout > 0.0 {
        (1.0 / (1.0 - dropout)) as f32
    } else {
        1.0
    };
    let rows = d_act.len() / width;
    let mut dgamma = vec![0f32; width];
    let mut dbeta = vec![0f32; width];
    let dz = read_f32(&block.act, |act| {
        new_f32(&[rows as i64, width as i64], |dz| {
            // dY = dA * scale where the output is positive (kept and past the ReLU), else 0;
            // branch-free (the sign pattern is random) and with the scale in a local
            let split = dropout_free * width;
            for (lo, hi, s) in [(0, split, 1.0), (split, dz.len(), scale)] {
                for ((o, &a), &d) in dz[lo..hi].iter_mut().zip(&act[lo..hi]).zip(&d_act[lo..hi]) {
                    *o = d * (s * ((a > 0.0) as u32 as f32));
                }
            }
            for (g, &(s, e)) in groups.iter().enumerate() {
                let n = (e - s) as f32;
                let mut sum_dy = vec![0f32; width];
                let mut sum_dy_zhat = vec![0f32; width];
                for r in s..e {
                    let span = r * width..(r + 1) * width;
                    let (dr, hr) = (&dz[span.clone()], &block.zhat[span]);
                    for (((sd, sdh), &d), &h) in sum_dy
                        .iter_mut()
                        .zip(sum_dy_zhat.iter_mut())
                        .zip(dr)
                        .zip(hr)
                    {
                        *sd += d;
                        *sdh += d * h;
                    }
                }
                for c in 0..width {
                    dgamma[c] += sum_dy_zhat[c];
                    dbeta[c] += sum_dy[c];
                }
                // per column: (gamma * inv_std, mean dY, mean dY * zhat)
                let params: Vec<[f32; 3]> = (0..width)
                    .map(|c| {
                        [
                            gamma[c] * block.inv_std[g][c],
                            sum_dy[c] / n,
                            sum_dy_zhat[c] / n,
                        ]
                    })
                    .collect();
                for r in s..e {
                    let span = r * width..(r + 1) * width;
                    let (dr, hr) = (&mut dz[span.clone()], &block.zhat[span]);
                    for ((d, &h), &[coef, mean_dy, mean_dy_zhat]) in
                        dr.iter_mut().zip(hr).zip(&params)
                    {
                        *d = coef * (*d - mean_dy - h * mean_dy_zhat);
                    }
                }
            }
        })
    })??;
    Ok((dz, dgamma, dbeta))
}

/// Softmax of a row, in place.
fn softmax_row(z: &mut [f32]) {
    let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0f32;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
}

/// Runs the step's forward and backward passes.
pub(crate) fn train_step(
    net: &Classifier,
    plan: &StepPlan,
    rng: &mut EngineRng,
) -> Result<StepResult> {
    let _guard = tch::no_grad_guard();
    let w = net.shape.width;
    let n_classes = net.shape.n_classes;
    let (n_u, n_l) = (plan.n_u, plan.n_l);
    let n0 = n_u + n_l;
    let (n_c, n_uc) = (plan.conf.len(), plan.unconf.len());
    let n_s = n_c + n_l;
    if plan.perm.len() != n_s || plan.gamma.len() != n_s || plan.targets.len() != n_s * n_classes {
        return Err(Error::internal("inconsistent step plan"));
    }
    let adv_rows = if plan.adversary.is_some() { n0 } else { 0 };
    let c_start = n_uc + n_s;
    let rows = c_start + adv_rows;
    // h_pre row of each MixUp set row
    let source = |k: usize| -> usize {
        if k < n_c {
            plan.conf[k]
        } else {
            n_u + (k - n_c)
        }
    };

    // trunk input: unconfident rows, MixUp rows, adversary rows
    let h = to_vec(plan.h_pre)?;
    if h.len() != n0 * w {
        return Err(Error::internal("h_pre has the wrong shape"));
    }
    let t0 = new_f32(&[rows as i64, w as i64], |t| {
        for (k, &i) in plan.unconf.iter().enumerate() {
            t[k * w..(k + 1) * w].copy_from_slice(&h[i * w..(i + 1) * w]);
        }
        for k in 0..n_s {
            let (a, b) = (source(k), source(plan.perm[k] as usize));
            let g = plan.gamma[k];
            let dst = &mut t[(n_uc + k) * w..(n_uc + k + 1) * w];
            let (ha, hb) = (&h[a * w..(a + 1) * w], &h[b * w..(b + 1) * w]);
            for ((d, &x), &y) in dst.iter_mut().zip(ha).zip(hb) {
                *d = g * x + (1.0 - g) * y;
            }
        }
        if adv_rows > 0 {
            t[c_start * w..rows * w].copy_from_slice(&h);
        }
    })?;
    let mut y_mix = vec![0f32; n_s * n_classes];
    for k in 0..n_s {
        let p = plan.perm[k] as usize;
        let g = plan.gamma[k];
        for c in 0..n_classes {
            y_mix[k * n_classes + c] =
                g * plan.targets[k * n_classes + c] + (1.0 - g) * plan.targets[p * n_classes + c];
        }
    }
    let mut groups = Vec::with_capacity(3);
    if n_uc + n_c >= 2 {
        groups.push((0, n_uc + n_c));
        groups.push((n_uc + n_c, c_start));
    } else {
        groups.push((0, c_start));
    }
    if adv_rows > 0 {
        groups.push((c_start, rows));
    }

    // forward through the blocks
    // unconfident rows with a loss go through without dropout: the model is to be unsure of
    // them as it predicts (in eval mode), not under every dropout mask, which it can only
    // achieve by wiping out their embedding
    let dropout_free = if plan.unconfident_weight > 0.0 {
        n_uc
    } else {
        0
    };
    let mut blocks: Vec<Block> = Vec::with_capacity(net.norms.len());
    for (l, norm) in net.norms.iter().enumerate() {
        let z = if l == 0 {
            t0.shallow_clone()
        } else {
            let prev = &blocks[l - 1].act;
            let mut z = par::mm(prev, &net.hidden[l - 1].weight.f_tr()?, plan.threads)?;
            let _ = z.f_add_(&net.hidden[l - 1].bias)?;
            z
        };
        blocks.push(block_forward(
            &z,
            norm,
            &groups,
            w,
            net.dropout,
            dropout_free,
            rng,
        )?);
    }
    let emb = &blocks[blocks.len() - 1].act;

    // classifier head on the MixUp rows (and the unconfident rows when they have a loss), losses
    // and their gradients
    let h_start = if plan.unconfident_weight > 0.0 {
        0
    } else {
        n_uc
    };
    let n_head = c_start - h_start;
    let emb_s = emb.f_narrow(0, h_start as i64, n_head as i64)?;
    let mut probs = to_vec(&net.head(&emb_s)?)?;
    let mut d_logits = vec![0f32; n_head * n_classes];
    let (mut sup, mut ssl) = (0f64, 0f64);
    let ssl_grad = if n_u > 0 {
        2.0 * plan.lambda_ssl as f32 / n_u as f32
    } else {
        0.0
    };
    let uniform = vec![1.0 / n_classes as f32; n_classes];
    for k in 0..n_head {
        let r = h_start + k;
        let z = &mut probs[k * n_classes..(k + 1) * n_classes];
        let d = &mut d_logits[k * n_classes..(k + 1) * n_classes];
        if r < n_uc + n_c {
            // squared error of the probabilities: toward the uniform distribution for an
            // unconfident row, toward the mixed pseudolabel for a target-dominant MixUp row
            let (y, weight) = if r < n_uc {
                (&uniform[..], plan.unconfident_weight as f32)
            } else {
                let m = r - n_uc;
                (&y_mix[m * n_classes..(m + 1) * n_classes], 1.0)
            };
            softmax_row(z);
            let mut dot = 0f32;
            for c in 0..n_classes {
                let diff = z[c] - y[c];
                ssl += (weight * diff * diff) as f64;
                d[c] = weight * ssl_grad * diff;
                dot += z[c] * d[c];
            }
            for c in 0..n_classes {
                d[c] = z[c] * (d[c] - dot);
            }
        } else {
            let m = r - n_uc;
            let y = &y_mix[m * n_classes..(m + 1) * n_classes];
            let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let lse = max + z.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
            for c in 0..n_classes {
                sup -= (y[c] * (z[c] - lse)) as f64;
                d[c] = ((z[c] - lse).exp() - y[c]) / n_l as f32;
            }
        }
    }
    sup /= n_l as f64;
    if n_u > 0 {
        ssl /= n_u as f64;
    }
    let d_logits_t = tensor(&d_logits, n_head, n_classes)?;
    let d_out_w = d_logits_t.f_tr()?.f_mm(&emb_s)?;
    let d_out_b = tensor(&column_sums(&d_logits, n_classes), 1, n_classes)?.f_view([-1])?;
    let d_emb_s = to_vec(&d_logits_t.f_mm(&net.output.weight)?)?;
    let mut d_act = vec![0f32; rows * w];
    d_act[h_start * w..c_start * w].copy_from_slice(&d_emb_s);

    // adversary on the unmixed rows, through gradient reversal
    let mut adv = 0f64;
    let mut adversary_grads = Vec::new();
    if let Some(ap) = &plan.adversary {
        let n_sel = ap.loss_rows.len();
        let sel = Tensor::f_from_slice(ap.loss_rows)?.f_to_device(emb.device())?;
        let e = emb
            .f_narrow(0, c_start as i64, n0 as i64)?
            .f_index_select(0, &sel)?;
        let mut u = par::mm(&e, &ap.net.hidden.weight.f_tr()?, plan.threads)?;
        let _ = u.f_add_(&ap.net.hidden.bias)?.f_relu_()?;
        let mut p = to_vec(&u.f_linear(&ap.net.output.weight, Some(&ap.net.output.bias))?)?;
        let n_dom = p.len() / n_sel.max(1);
        for (k, &code) in ap.codes.iter().enumerate() {
            let z = &mut p[k * n_dom..(k + 1) * n_dom];
            let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let lse = max + z.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
            adv += (lse - z[code as usize]) as f64;
            for (c, v) in z.iter_mut().enumerate() {
                *v = ((*v - lse).exp() - (c as i64 == code) as i32 as f32) / n_sel as f32;
            }
        }
        adv /= n_sel.max(1) as f64;
        let dd = tensor(&p, n_sel, n_dom)?;
        let d_w2 = dd.f_tr()?.f_mm(&u)?;
        let d_b2 = dd.f_sum_dim_intlist(0, false, Kind::Float)?;
        let du = dd
            .f_mm(&ap.net.output.weight)?
            .f_mul(&u.f_gt(0.0)?.f_to_kind(Kind::Float)?)?;
        let d_w1 = par::mm_tn(&du, &e, plan.threads)?;
        let d_b1 = du.f_sum_dim_intlist(0, false, Kind::Float)?;
        let de =
            to_vec(&par::mm(&du, &ap.net.hidden.weight, plan.threads)?.f_mul_scalar(-ap.lambda)?)?;
        for (k, &r) in ap.loss_rows.iter().enumerate() {
            let dst = &mut d_act[(c_start + r as usize) * w..(c_start + r as usize + 1) * w];
            for (a, &b) in dst.iter_mut().zip(&de[k * w..(k + 1) * w]) {
                *a += b;
            }
        }
        adversary_grads = vec![d_w1, d_b1, d_w2, d_b2];
    }

    // backward through the blocks
    let n_hidden = net.norms.len();
    let mut d_hidden: Vec<(Tensor, Tensor)> = Vec::with_capacity(n_hidden.saturating_sub(1));
    let mut d_norms: Vec<(Tensor, Tensor)> = Vec::with_capacity(n_hidden);
    let mut d_last: Option<Tensor> = None;
    let mut d_t0 = Vec::new();
    for l in (0..n_hidden).rev() {
        let gamma = to_vec(&net.norms[l].weight)?;
        let (dz, dgamma, dbeta) = match &d_last {
            None => block_backward(
                &blocks[l],
                &d_act,
                &gamma,
                &groups,
                w,
                net.dropout,
                dropout_free,
            )?,
            Some(t) => read_f32(t, |d| {
                block_backward(&blocks[l], d, &gamma, &groups, w, net.dropout, dropout_free)
            })??,
        };
        d_norms.push((
            tensor(&dgamma, 1, w)?.f_view([-1])?,
            tensor(&dbeta, 1, w)?.f_view([-1])?,
        ));
        if l > 0 {
            let prev = &blocks[l - 1].act;
            let d_w = par::mm_tn(&dz, prev, plan.threads)?;
            let d_b = dz.f_sum_dim_intlist(0, false, Kind::Float)?;
            d_last = Some(par::mm(&dz, &net.hidden[l - 1].weight, plan.threads)?.f_contiguous()?);
            d_hidden.push((d_w, d_b));
        } else {
            d_t0 = to_vec(&dz)?;
        }
    }
    d_hidden.reverse();
    d_norms.reverse();

    // back through MixUp to the step rows
    let mut d_h = vec![0f32; n0 * w];
    let add_scaled = |dst: &mut [f32], src: &[f32], f: f32| {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d += f * s;
        }
    };
    for (k, &i) in plan.unconf.iter().enumerate() {
        add_scaled(&mut d_h[i * w..(i + 1) * w], &d_t0[k * w..(k + 1) * w], 1.0);
    }
    for k in 0..n_s {
        let (a, b) = (source(k), source(plan.perm[k] as usize));
        let g = plan.gamma[k];
        let src = &d_t0[(n_uc + k) * w..(n_uc + k + 1) * w];
        add_scaled(&mut d_h[a * w..(a + 1) * w], src, g);
        add_scaled(&mut d_h[b * w..(b + 1) * w], src, 1.0 - g);
    }
    if adv_rows > 0 {
        for (a, &b) in d_h.iter_mut().zip(&d_t0[c_start * w..rows * w]) {
            *a += b;
        }
    }
    let d_input_b = tensor(&column_sums(&d_h, w), 1, w)?.f_view([-1])?;

    let mut classifier_grads = vec![d_input_b];
    for (d_w, d_b) in d_hidden {
        classifier_grads.push(d_w);
        classifier_grads.push(d_b);
    }
    for (d_g, d_be) in d_norms {
        classifier_grads.push(d_g);
        classifier_grads.push(d_be);
    }
    classifier_grads.push(d_out_w);
    classifier_grads.push(d_out_b);
    let total = sup + plan.lambda_ssl * ssl + adv;
    Ok(StepResult {
        sup,
        ssl,
        adv,
        total,
        classifier_grads,
        adversary_grads,
        d_h_pre: tensor(&d_h, n0, w)?,
        keep: blocks.into_iter().map(|b| b.keep).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::step_autograd::{autograd_step, Masks};
    use super::*;
    use crate::model::classifier::Shape;
    use crate::test_util::max_abs_diff;
    use rand::SeedableRng;
    use tch::Device;

    fn max_abs(a: &Tensor) -> f64 {
        a.f_abs()
            .unwrap()
            .f_max()
            .unwrap()
            .f_double_value(&[])
            .unwrap()
    }

    /// The manual step and autograd agree on losses, every gradient and the BatchNorm running
    /// statistics, with dropout (the same masks), MixUp, unconfident rows and the adversary.
    fn compare(
        n_u: usize,
        n_l: usize,
        conf: Vec<usize>,
        unconf: Vec<usize>,
        with_adversary: bool,
        unconfident_weight: f64,
    ) {
        tch::set_num_threads(1);
        let mut rng = EngineRng::seed_from_u64(11);
        let shape = Shape {
            n_genes: 30,
            width: 16,
            n_hidden: 3,
            n_classes: 4,
        };
        let mut net = Classifier::new(shape, 0.5, &mut rng, Device::Cpu).unwrap();
        net.set_requires_grad(true).unwrap();
        // non-trivial BatchNorm affine parameters
        for t in [&net.norms[1].weight, &net.norms[2].bias] {
            let mut t = t.shallow_clone();
            let _guard = tch::no_grad_guard();
            let _ = t.f_add_scalar_(0.3).unwrap();
        }
        let adversary = Adversary::new(16, 3, true, &mut rng, Device::Cpu).unwrap();
        let n0 = n_u + n_l;
        let h_pre = Tensor::f_randn([n0 as i64, 16], (Kind::Float, Device::Cpu)).unwrap();
        let n_s = conf.len() + n_l;
        let mut targets = vec![0f32; n_s * 4];
        for k in 0..n_s {
            let row = &mut targets[k * 4..(k + 1) * 4];
            if k < conf.len() {
                row.copy_from_slice(&[0.1, 0.6, 0.2, 0.1]);
            } else {
                row[k % 4] = 1.0;
            }
        }
        let mix = crate::data::mixup_plan(n_s, 0.3, &mut rng).unwrap();
        let loss_rows: Vec<i64> = (0..n0 as i64).collect();
        let codes: Vec<i64> = (0..n0)
            .map(|i| if i < n_u { 2 } else { (i % 2) as i64 })
            .collect();
        let plan = StepPlan {
            h_pre: &h_pre,
            n_u,
            n_l,
            conf: &conf,
            unconf: &unconf,
            targets: &targets,
            perm: &mix.perm,
            gamma: &mix.gamma,
            lambda_ssl: 0.7,
            unconfident_weight,
            adversary: if with_adversary {
                Some(AdversaryPlan {
                    net: &adversary,
                    loss_rows: &loss_rows,
                    codes: &codes,
                    lambda: 0.05,
                })
            } else {
                None
            },
            threads: 2,
        };
        let before = net.snapshot().unwrap();
        let manual = train_step(&net, &plan, &mut rng).unwrap();
        let stats_manual = net.snapshot().unwrap();
        net.restore(&before).unwrap();
        let auto = autograd_step(&net, &plan, Masks::Given(&manual.keep)).unwrap();
        let stats_auto = net.snapshot().unwrap();
        assert!(
            (manual.total - auto.total).abs() < 1e-5,
            "{} vs {}",
            manual.total,
            auto.total
        );
        assert!((manual.sup - auto.sup).abs() < 1e-5);
        assert!((manual.ssl - auto.ssl).abs() < 1e-5);
        assert!((manual.adv - auto.adv).abs() < 1e-5);
        let tol = |t: &Tensor| 1e-4 * max_abs(t).max(1.0);
        assert!(max_abs_diff(&manual.d_h_pre, &auto.d_h_pre) < tol(&auto.d_h_pre));
        assert_eq!(manual.classifier_grads.len(), auto.classifier_grads.len());
        for (k, (a, b)) in manual
            .classifier_grads
            .iter()
            .zip(&auto.classifier_grads)
            .enumerate()
        {
            assert_eq!(a.size(), b.size(), "classifier gradient {k}");
            assert!(
                max_abs_diff(a, b) < tol(b),
                "classifier gradient {k}: {}",
                max_abs_diff(a, b)
            );
        }
        assert_eq!(manual.adversary_grads.len(), auto.adversary_grads.len());
        for (k, (a, b)) in manual
            .adversary_grads
            .iter()
            .zip(&auto.adversary_grads)
            .enumerate()
        {
            assert!(max_abs_diff(a, b) < tol(b), "adversary gradient {k}");
        }
        for (a, b) in stats_manual.iter().zip(&stats_auto) {
            assert!(max_abs_diff(a, b) < 1e-5, "running statistics differ");
        }
    }

    #[test]
    fn manual_step_matches_autograd() {
        compare(6, 8, vec![0, 2, 3, 5], vec![1, 4], true, 0.0);
        // unconfident rows pulled toward the uniform distribution
        compare(6, 8, vec![0, 2, 3, 5], vec![1, 4], true, 0.8);
        compare(6, 8, vec![0, 1, 2, 3, 4, 5], vec![], true, 0.8);
        // one unconfident row only: group A joins group B
        compare(3, 5, vec![], vec![1], false, 0.0);
        compare(3, 5, vec![], vec![1], false, 1.0);
        // supervised: no target rows
        compare(0, 7, vec![], vec![], false, 0.0);
        compare(0, 7, vec![], vec![], true, 0.0);
        // enough rows for the products to be split over two threads
        let conf: Vec<usize> = (0..60).filter(|i| i % 3 != 0).collect();
        let unconf: Vec<usize> = (0..60).filter(|i| i % 3 == 0).collect();
        compare(60, 70, conf.clone(), unconf.clone(), true, 0.0);
        compare(60, 70, conf, unconf, true, 1.0);
    }
}
