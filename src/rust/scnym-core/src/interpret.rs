//! Integrated gradients (SPEC section 8) on the class probability, zero baseline:
//! `IG(x)_g = x_g * (1/M) * sum_{m=1..M} d f(a_m x)_k / d x_g` with the midpoints
//! `a_m = (m - 1/2) / M` of the M steps. (SPEC writes `a_m = m / M`, a right Riemann sum; the
//! midpoint rule costs the same and its error is O(1/M^2) instead of O(1/M): with M = 100 the
//! right sum missed completeness by more than 1% of f(x)_k on trained models.)
//!
//! The first layer is linear, so its output along the path is `(m/M) (x W) + b`: `x W` is computed
//! once per cell and the M steps of all cells of a chunk go through the hidden blocks as one batch.
//! The gradient with respect to the input is `W` times the gradient with respect to the first
//! layer's output, summed over the steps before multiplying by `W`.

use crate::config::apply_threads;
use crate::data::{CsrMatrix, FirstLayerMode, SparseBatch};
use crate::error::{Error, Result};
use crate::model::classifier::Classifier;
use crate::model::Model;
use crate::par::map_with;
use crate::predict::weighted_mean;
use tch::{Device, Kind, Tensor};

/// Rows (cells x steps) per pass through the network.
const IG_ROWS: usize = 8192;

impl Model {
    /// Integrated-gradients attributions of each cell of `x` (cells x model genes) toward class
    /// `target_class[i]`, with `steps` steps; returns row-major cells x genes values. Calls
    /// `should_stop()` between chunks of cells ("interrupted" error when it says true). With
    /// `threads > 1` (or libtorch set to several threads) chunks run in parallel on the engine's
    /// own threads, each with libtorch single-threaded.
    /// An ensemble averages its members' attributions with the weights of its probabilities
    /// ([`Model::member_weights`]: the attributions of its mean probability).
    pub fn integrated_gradients(
        &self,
        x: &CsrMatrix,
        target_class: &[i64],
        steps: usize,
        threads: usize,
        should_stop: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<f32>> {
        if self.others.is_empty() {
            return self.member_integrated_gradients(x, target_class, steps, threads, should_stop);
        }
        let mut parts = Vec::with_capacity(self.n_members());
        let mut weights = Vec::with_capacity(self.n_members());
        for (m, w) in std::iter::once(self)
            .chain(&self.others)
            .zip(self.member_weights())
        {
            if w > 0.0 {
                parts.push(m.member_integrated_gradients(
                    x,
                    target_class,
                    steps,
                    threads,
                    should_stop,
                )?);
                weights.push(w);
            }
        }
        Ok(weighted_mean(&parts, &weights))
    }

    fn member_integrated_gradients(
        &self,
        x: &CsrMatrix,
        target_class: &[i64],
        steps: usize,
        threads: usize,
        should_stop: &mut dyn FnMut() -> bool,
    ) -> Result<Vec<f32>> {
        apply_threads(threads)?;
        self.check_input(x)?;
        let n = x.n_rows();
        if target_class.len() != n {
            return Err(Error::arg(format!(
                "{} target classes for {n} cells",
                target_class.len()
            )));
        }
        let n_classes = self.n_classes();
        if let Some(&k) = target_class
            .iter()
            .find(|&&k| k < 0 || k as usize >= n_classes)
        {
            return Err(Error::arg(format!(
                "target class {k} is outside 0..{n_classes}"
            )));
        }
        if steps == 0 || steps > 100_000 {
            return Err(Error::arg(format!(
                "steps must be in 1..=100000, not {steps}"
            )));
        }
        let g = self.n_genes();
        let mut out = Vec::with_capacity(n * g);
        let cells_per_chunk = (IG_ROWS / steps).max(1);
        let rows: Vec<usize> = (0..n).collect();
        let chunks: Vec<&[usize]> = rows.chunks(cells_per_chunk).collect();
        // rounds of one chunk per thread, `should_stop` asked before each round
        let n_threads = tch::get_num_threads().max(1) as usize;
        let (device, mode) = (self.device, self.mode);
        for round in chunks.chunks(n_threads) {
            if should_stop() {
                return Err(Error::Interrupted);
            }
            let parts = if round.len() == 1 {
                let chunk = round[0];
                let classes = &target_class[chunk[0]..chunk[0] + chunk.len()];
                vec![tch::with_grad(|| {
                    ig_chunk(&self.net, device, mode, x, chunk, classes, steps)
                })?]
            } else {
                let mut contexts = Vec::with_capacity(round.len());
                for &chunk in round {
                    contexts.push((self.net.shallow_clone()?, chunk));
                }
                map_with(contexts, true, |_, (net, chunk)| {
                    let classes = &target_class[chunk[0]..chunk[0] + chunk.len()];
                    ig_chunk(&net, device, mode, x, chunk, classes, steps)
                })?
            };
            for p in parts {
                out.extend(p);
            }
        }
        Ok(out)
    }
}

/// Integrated gradients of the cells `rows` of `x` (see the module notes).
fn ig_chunk(
    net: &Classifier,
    device: Device,
    mode: FirstLayerMode,
    x: &CsrMatrix,
    rows: &[usize],
    classes: &[i64],
    steps: usize,
) -> Result<Vec<f32>> {
    let (c, m) = (rows.len() as i64, steps as i64);
    let w = net.shape.width as i64;
    let mut batch = SparseBatch::from_rows(x, rows);
    let xw = batch.times(&net.input_weight, mode, 1)?; // [c, w]
    let alphas: Vec<f32> = (0..steps)
        .map(|s| ((s as f64 + 0.5) / steps as f64) as f32)
        .collect();
    let alphas = Tensor::f_from_slice(&alphas)?
        .f_to_device(device)?
        .f_view([1, m, 1])?;
    let h = xw
        .f_unsqueeze(1)?
        .f_mul(&alphas)?
        .f_add(&net.input_bias)?
        .f_reshape([c * m, w])?
        .f_detach()?
        .f_set_requires_grad(true)?;
    let emb = net.trunk(&h)?;
    let probs = net.head(&emb)?.f_softmax(1, Kind::Float)?;
    let class_rows: Vec<i64> = classes
        .iter()
        .flat_map(|&k| std::iter::repeat_n(k, steps))
        .collect();
    let class_rows = Tensor::f_from_slice(&class_rows)?
        .f_to_device(device)?
        .f_unsqueeze(1)?;
    let selected = probs.f_gather(1, &class_rows, false)?.f_sum(Kind::Float)?;
    let grads = Tensor::f_run_backward(&[&selected], &[&h], false, false)?;
    let dh = grads
        .first()
        .ok_or_else(|| Error::internal("no gradient"))?;
    let _guard = tch::no_grad_guard();
    let summed = dh
        .f_view([c, m, w])?
        .f_sum_dim_intlist(1, false, Kind::Float)?; // [c, w]
    let dx = summed.f_mm(&net.input_weight.f_tr()?)?; // [c, g]
    let x_dense = batch.dense_tensor()?.f_to_device(device)?;
    let ig = x_dense.f_mul(&dx)?.f_div_scalar(steps as f64)?;
    let flat = ig.f_to_device(Device::Cpu)?.f_contiguous()?.f_view([-1])?;
    Ok(Vec::<f32>::try_from(&flat)?)
}
