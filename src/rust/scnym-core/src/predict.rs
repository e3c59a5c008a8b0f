//! Prediction: eval mode, no gradient, in batches of bounded size.

use crate::config::apply_threads;
use crate::data::{CsrMatrix, FirstLayerMode, SparseBatch};
use crate::error::{Error, Result};
use crate::model::classifier::Classifier;
use crate::model::{Model, Predictions};
use crate::novelty::{argmax_rows, NoveltyIndex};
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
    /// An ensemble averages its members' logits and probabilities, weighted by
    /// [`Model::member_weights`], and the novelty scores of the members that score novelty; it
    /// reports the members' disagreement and returns the first member's embedding.
    pub fn predict(&self, x: &CsrMatrix, calibrated: bool, threads: usize) -> Result<Predictions> {
        apply_threads(threads)?;
        self.check_input(x)?;
        let first = self.predict_member(x, calibrated, true)?;
        if self.others.is_empty() {
            return Ok(first);
        }
        let others = self
            .others
            .iter()
            .map(|m| m.predict_member(x, calibrated, false))
            .collect::<Result<Vec<_>>>()?;
        let members: Vec<&Predictions> = std::iter::once(&first).chain(&others).collect();
        let weights = self.member_weights();
        // novelty: the mean over the members that score it (those reading every gene); the
        // first member always does when any does
        let scoring: Vec<&Vec<f32>> = members
            .iter()
            .map(|m| &m.novelty)
            .filter(|v| !v.is_empty())
            .collect();
        let c = first.n_classes;
        let entropy = |p: &Vec<f32>| -> Vec<f32> {
            p.chunks_exact(c)
                .map(|row| row.iter().filter(|&&q| q > 0.0).map(|&q| -q * q.ln()).sum())
                .collect()
        };
        // each cell's entropy averaged over the members, before the probabilities are averaged
        let member_entropy: Vec<Vec<f32>> =
            members.iter().map(|m| entropy(&m.probabilities)).collect();
        let mean_entropy = weighted_mean(&member_entropy, &weights);
        let probabilities = weighted_mean(members.iter().map(|m| &m.probabilities), &weights);
        let disagreement = entropy(&probabilities)
            .into_iter()
            .zip(mean_entropy)
            .map(|(h, mean_h)| (h - mean_h).max(0.0))
            .collect();
        let logits = weighted_mean(members.iter().map(|m| &m.logits), &weights);
        let novelty = weighted_mean(scoring.iter().copied(), &vec![1.0; scoring.len()]);
        Ok(Predictions {
            logits,
            probabilities,
            novelty,
            disagreement,
            ..first
        })
    }

    /// [`Model::predict`] of this model alone (without the further ensemble members), the
    /// embedding left empty unless `embedding`.
    fn predict_member(
        &self,
        x: &CsrMatrix,
        calibrated: bool,
        embedding: bool,
    ) -> Result<Predictions> {
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
        let (mode, novelty) = (self.mode, self.novelty.as_ref());
        let parts = if contexts.len() <= 1 {
            let _guard = tch::no_grad_guard();
            let rows: Vec<usize> = (0..n).collect();
            vec![predict_rows(
                &self.net, x, &rows, t, mode, novelty, embedding,
            )?]
        } else {
            map_with(contexts, false, |_, (net, range)| {
                let rows: Vec<usize> = range.collect();
                predict_rows(&net, x, &rows, t, mode, novelty, embedding)
            })?
        };
        // the later parts appended to the first (the only one with a single thread)
        let mut parts = parts.into_iter();
        let mut all = parts
            .next()
            .ok_or_else(|| Error::internal("no prediction part"))?;
        for part in parts {
            all.logits.extend(part.logits);
            all.probabilities.extend(part.probabilities);
            all.embedding.extend(part.embedding);
            all.novelty.extend(part.novelty);
        }
        Ok(Predictions {
            n_cells: n,
            n_classes: c,
            embedding_dim: w,
            logits: all.logits,
            probabilities: all.probabilities,
            embedding: all.embedding,
            novelty: all.novelty,
            disagreement: Vec::new(),
        })
    }
}

/// The element-wise weighted mean of `values` (empty for none), summed in order.
pub(crate) fn weighted_mean<'a>(
    values: impl IntoIterator<Item = &'a Vec<f32>>,
    weights: &[f32],
) -> Vec<f32> {
    let (mut sum, mut total) = (Vec::new(), 0.0f32);
    for (v, &w) in values.into_iter().zip(weights) {
        sum.resize(v.len(), 0.0);
        sum.iter_mut().zip(v).for_each(|(a, b)| *a += w * b);
        total += w;
    }
    sum.iter_mut().for_each(|a| *a /= total);
    sum
}

/// Outputs of some rows: row-major logits, probabilities and embeddings (empty unless asked for),
/// and novelty scores (empty without a novelty index).
pub(crate) struct RowOutputs {
    pub(crate) logits: Vec<f32>,
    pub(crate) probabilities: Vec<f32>,
    pub(crate) embedding: Vec<f32>,
    pub(crate) novelty: Vec<f32>,
}

/// Outputs of rows `rows` of `x` in batches, probabilities at temperature `t`, the embeddings
/// kept when `embedding`.
pub(crate) fn predict_rows(
    net: &Classifier,
    x: &CsrMatrix,
    rows: &[usize],
    t: f64,
    mode: FirstLayerMode,
    novelty: Option<&NoveltyIndex>,
    embedding: bool,
) -> Result<RowOutputs> {
    let (c, w) = (net.shape.n_classes, net.shape.width);
    let n = rows.len();
    let mut out = RowOutputs {
        logits: Vec::with_capacity(n * c),
        probabilities: Vec::with_capacity(n * c),
        embedding: Vec::with_capacity(if embedding { n * w } else { 0 }),
        novelty: Vec::with_capacity(if novelty.is_some() { n } else { 0 }),
    };
    for chunk in rows.chunks(EVAL_BATCH) {
        let mut batch = SparseBatch::from_rows(x, chunk);
        let h = net.first_layer(&mut batch, mode, 1)?;
        let emb = net.trunk(&h)?;
        let z = net.head(&emb)?;
        let p = z.f_div_scalar(t)?.f_softmax(1, Kind::Float)?;
        let (emb, z) = (to_vec(&emb)?, to_vec(&z)?);
        if let Some(index) = novelty {
            out.novelty.extend(index.scores(&emb, &argmax_rows(&z, c)));
        }
        out.logits.extend(z);
        out.probabilities.extend(to_vec(&p)?);
        if embedding {
            out.embedding.extend(emb);
        }
    }
    Ok(out)
}
