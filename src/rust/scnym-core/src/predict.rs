//! Prediction: eval mode, no gradient, in batches of bounded size.

use crate::config::apply_threads;
use crate::data::{CsrMatrix, SparseBatch};
use crate::error::{Error, Result};
use crate::model::{Model, Predictions};
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
    /// `threads > 0` sets libtorch's thread count first.
    pub fn predict(&self, x: &CsrMatrix, calibrated: bool, threads: usize) -> Result<Predictions> {
        apply_threads(threads)?;
        self.check_input(x)?;
        let _guard = tch::no_grad_guard();
        let n = x.n_rows();
        let (c, w) = (self.n_classes(), self.net.shape.width);
        let mut logits = Vec::with_capacity(n * c);
        let mut probabilities = Vec::with_capacity(n * c);
        let mut embedding = Vec::with_capacity(n * w);
        let t = if calibrated {
            self.meta.temperature
        } else {
            1.0
        };
        let rows: Vec<usize> = (0..n).collect();
        for chunk in rows.chunks(EVAL_BATCH) {
            let mut batch = SparseBatch::from_rows(x, chunk);
            let h = self.net.first_layer(&mut batch, self.mode, 1)?;
            let emb = self.net.trunk(&h, None)?;
            let z = self.net.head(&emb)?;
            let p = z.f_div_scalar(t)?.f_softmax(1, Kind::Float)?;
            logits.extend(to_vec(&z)?);
            probabilities.extend(to_vec(&p)?);
            embedding.extend(to_vec(&emb)?);
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
