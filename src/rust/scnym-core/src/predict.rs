//! Prediction: eval mode, no gradient, in batches of bounded size.

use crate::config::apply_threads;
use crate::data::{CsrMatrix, FirstLayerMode, SparseBatch};
use crate::error::{Error, Result};
use crate::model::classifier::Classifier;
use crate::model::{Model, Predictions};
use crate::par::map_with;
use crate::train::EVAL_BATCH;
use tch::{Device, Kind, Tensor};

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    let flat = t
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?
        .f_view([-1])?;
    Ok(Vec::<f32>::try_from(&flat)?)
}

impl Model {
    pub(crate) fn check_input(&self, x: &CsrMatrix) -> Result<()> {
        if x.n_cols() != self.n_genes() {
            return Err(Error::data(format!(
                "the data have {} genes (columns) but the model has {}; align them to the model's genes",
                x.n_cols(),
                self.n_genes()
            )));
        }
        Ok(())
    }

    /// Logits, class probabilities and embeddings of every cell of `x` (cells x model genes).
    /// `calibrated`: probabilities are `softmax(logits / temperature)`; otherwise `softmax(logits)`.
    /// `threads > 0` sets libtorch's thread count first; the cells are then split over that many
    /// threads of the engine's own, each running libtorch single-threaded (see `par`).
    pub fn predict(&self, x: &CsrMatrix, calibrated: bool, threads: usize) -> Result<Predictions> {
        apply_threads(threads)?;
        self.check_input(x)?;
        let n = x.n_rows();
        let (c, w) = (self.n_classes(), self.net.shape.width);
        let t = if calibrated {
            self.meta.temperature
        } else {
            1.0
        };
        let n_threads = (tch::get_num_threads().max(1) as usize).min(n.div_ceil(EVAL_BATCH).max(1));
        let per = n.div_ceil(n_threads.max(1)).max(1);
        let mut contexts = Vec::new();
        for start in (0..n.max(1)).step_by(per) {
            contexts.push((self.net.shallow_clone()?, start..(start + per).min(n)));
        }
        let mode = self.mode;
        let parts = if contexts.len() <= 1 {
            let _guard = tch::no_grad_guard();
            vec![predict_rows(&self.net, x, 0..n, t, mode)?]
        } else {
            map_with(contexts, false, |_, (net, range)| {
                predict_rows(&net, x, range, t, mode)
            })?
        };
        let mut logits = Vec::with_capacity(n * c);
        let mut probabilities = Vec::with_capacity(n * c);
        let mut embedding = Vec::with_capacity(n * w);
        for (z, p, e) in parts {
            logits.extend(z);
            probabilities.extend(p);
            embedding.extend(e);
        }
        Ok(Predictions {
            n_cells: n,
            n_classes: c,
            embedding_dim: w,
            logits,
            probabilities,
            embedding,
        })
    }
}

/// Logits, probabilities (at temperature `t`) and embeddings of rows `range` of `x`, in batches.
fn predict_rows(
    net: &Classifier,
    x: &CsrMatrix,
    range: std::ops::Range<usize>,
    t: f64,
    mode: FirstLayerMode,
) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    let (c, w) = (net.shape.n_classes, net.shape.width);
    let n = range.len();
    let (mut logits, mut probs, mut emb_out) = (
        Vec::with_capacity(n * c),
        Vec::with_capacity(n * c),
        Vec::with_capacity(n * w),
    );
    let rows: Vec<usize> = range.collect();
    for chunk in rows.chunks(EVAL_BATCH) {
        let mut batch = SparseBatch::from_rows(x, chunk);
        let h = net.first_layer(&mut batch, mode, 1)?;
        let emb = net.trunk(&h)?;
        let z = net.head(&emb)?;
        let p = z.f_div_scalar(t)?.f_softmax(1, Kind::Float)?;
        logits.extend(to_vec(&z)?);
        probs.extend(to_vec(&p)?);
        emb_out.extend(to_vec(&emb)?);
    }
    Ok((logits, probs, emb_out))
}
