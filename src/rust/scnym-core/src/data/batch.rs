//! Mini-batches: rows gathered (and optionally augmented) from a [`CsrMatrix`], and the product of
//! a batch with the first layer's weights, forwards (`X W`) and backwards (`X^T dH`).
//!
//! Two interchangeable implementations: `Sparse` (an embedding-bag sum for `X W`, a scatter over
//! the non-zeros for `X^T dH`) and `Dense` (the batch densified, two GEMMs). Tests check that they
//! agree; the trainer uses the faster one (see `bench/engine`).

use super::augment::mask_augment_row;
use super::csr::CsrMatrix;
use crate::error::{Error, Result};
use crate::rng::EngineRng;
use crate::tensor_io::{new_f32, read_f32};
use tch::{Device, Kind, Tensor};

/// How the first layer multiplies a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstLayerMode {
    /// `Sparse` for batches with at most [`AUTO_DENSE_ABOVE`] non-zeros, else `Dense`.
    Auto,
    /// Work on the non-zeros only.
    Sparse,
    /// Densify the batch and use dense matrix products.
    Dense,
}

/// Fraction of non-zeros above which `Auto` densifies a batch. Measured on one core (bench/engine):
/// at 2,000 genes x 512 rows the sparse products cost as much as the dense GEMMs at about 18%
/// non-zeros (4 ms vs 13 ms at 5%, 25 ms vs 13 ms at 38%); at 14,000 genes sparse wins at 5%.
pub const AUTO_DENSE_ABOVE: f64 = 0.15;

/// Rows of a batch in CSR form (column indices as i64, ready for libtorch).
pub(crate) struct SparseBatch {
    n_cols: usize,
    offsets: Vec<i64>,
    indices: Vec<i64>,
    values: Vec<f32>,
    prepared: Option<Prepared>,
}

enum Prepared {
    Sparse {
        indices: Tensor,
        offsets: Tensor,
        values: Tensor,
    },
    Dense(Tensor),
}

impl SparseBatch {
    /// An empty batch with room for `rows` rows and `nnz` non-zeros.
    pub fn with_capacity(n_cols: usize, rows: usize, nnz: usize) -> SparseBatch {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        SparseBatch {
            n_cols,
            offsets,
            indices: Vec::with_capacity(nnz),
            values: Vec::with_capacity(nnz),
            prepared: None,
        }
    }

    /// The rows `rows` of `x`, unchanged.
    pub fn from_rows(x: &CsrMatrix, rows: &[usize]) -> SparseBatch {
        let nnz = rows.iter().map(|&r| x.row(r).0.len()).sum();
        let mut b = SparseBatch::with_capacity(x.n_cols(), rows.len(), nnz);
        for &r in rows {
            let (c, v) = x.row(r);
            b.push_row(c, v);
        }
        b
    }

    pub fn n_rows(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn push_row(&mut self, cols: &[u32], vals: &[f32]) {
        self.indices.extend(cols.iter().map(|&c| c as i64));
        self.values.extend_from_slice(vals);
        self.offsets.push(self.indices.len() as i64);
        self.prepared = None;
    }

    /// Appends an augmented copy of a row (gene masking with probability `p`, renormalised).
    pub fn push_augmented(&mut self, cols: &[u32], vals: &[f32], p: f64, rng: &mut EngineRng) {
        mask_augment_row(cols, vals, p, rng, &mut self.indices, &mut self.values);
        self.offsets.push(self.indices.len() as i64);
        self.prepared = None;
    }

    /// Fraction of non-zero entries.
    pub fn density(&self) -> f64 {
        let cells = self.n_rows() * self.n_cols;
        if cells == 0 {
            0.0
        } else {
            self.values.len() as f64 / cells as f64
        }
    }

    /// `Auto` resolved for this batch.
    fn resolve(&self, mode: FirstLayerMode) -> FirstLayerMode {
        match mode {
            FirstLayerMode::Auto if self.density() > AUTO_DENSE_ABOVE => FirstLayerMode::Dense,
            FirstLayerMode::Auto => FirstLayerMode::Sparse,
            other => other,
        }
    }

    /// Moves the batch into libtorch in the layout `mode` needs (once; later calls are free).
    pub fn prepare(&mut self, mode: FirstLayerMode, device: Device) -> Result<()> {
        let mode = self.resolve(mode);
        let ready = matches!(
            (&self.prepared, mode),
            (Some(Prepared::Sparse { .. }), FirstLayerMode::Sparse)
                | (Some(Prepared::Dense(_)), FirstLayerMode::Dense)
        );
        if ready {
            return Ok(());
        }
        self.prepared = Some(match mode {
            FirstLayerMode::Sparse | FirstLayerMode::Auto => Prepared::Sparse {
                indices: Tensor::f_from_slice(&self.indices)?.f_to_device(device)?,
                offsets: Tensor::f_from_slice(&self.offsets)?.f_to_device(device)?,
                values: Tensor::f_from_slice(&self.values)?.f_to_device(device)?,
            },
            FirstLayerMode::Dense => Prepared::Dense(self.dense_tensor()?.f_to_device(device)?),
        });
        Ok(())
    }

    /// The batch as a dense [rows, cols] CPU tensor.
    pub fn dense_tensor(&self) -> Result<Tensor> {
        let (n, g) = (self.n_rows(), self.n_cols);
        new_f32(&[n as i64, g as i64], |dense| {
            for r in 0..n {
                let (lo, hi) = (self.offsets[r] as usize, self.offsets[r + 1] as usize);
                let row = &mut dense[r * g..(r + 1) * g];
                for k in lo..hi {
                    row[self.indices[k] as usize] = self.values[k];
                }
            }
        })
    }

    /// `X W` for `w` of shape [cols, width]: a [rows, width] tensor (gradient not tracked).
    pub fn times(&mut self, w: &Tensor, mode: FirstLayerMode) -> Result<Tensor> {
        self.prepare(mode, w.device())?;
        let _guard = tch::no_grad_guard();
        let w = w.f_detach()?;
        match &self.prepared {
            Some(Prepared::Sparse {
                indices,
                offsets,
                values,
            }) => {
                let (out, _, _, _) = Tensor::f_embedding_bag(
                    &w,
                    indices,
                    offsets,
                    false,
                    0,
                    false,
                    Some(values),
                    true,
                )?;
                Ok(out)
            }
            Some(Prepared::Dense(x)) => Ok(x.f_mm(&w)?),
            None => Err(Error::internal("batch not prepared")),
        }
    }

    /// `X^T dH` for `dh` of shape [rows, width]: a [cols, width] tensor.
    pub fn transpose_times(&mut self, dh: &Tensor, mode: FirstLayerMode) -> Result<Tensor> {
        self.prepare(mode, dh.device())?;
        let _guard = tch::no_grad_guard();
        match &self.prepared {
            Some(Prepared::Dense(x)) => Ok(x.f_tr()?.f_mm(dh)?),
            Some(Prepared::Sparse { .. }) => self.scatter_transpose_times(dh),
            None => Err(Error::internal("batch not prepared")),
        }
    }

    /// `X^T dH` over the non-zeros, accumulated in Rust.
    fn scatter_transpose_times(&self, dh: &Tensor) -> Result<Tensor> {
        let (n, g) = (self.n_rows(), self.n_cols);
        let size = dh.size();
        if size.len() != 2 || size[0] != n as i64 {
            return Err(Error::internal(format!(
                "gradient of shape {size:?} for a batch of {n} rows"
            )));
        }
        let width = size[1] as usize;
        let device = dh.device();
        let dh = dh
            .f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Float)?
            .f_contiguous()?;
        // gene-major (CSC) order: each output row is accumulated once, in cache, from rows of dH
        let mut starts = vec![0usize; g + 1];
        for &j in &self.indices {
            starts[j as usize + 1] += 1;
        }
        for j in 0..g {
            starts[j + 1] += starts[j];
        }
        let mut fill = starts.clone();
        let mut rows = vec![0u32; self.indices.len()];
        let mut vals = vec![0f32; self.indices.len()];
        for r in 0..n {
            let (lo, hi) = (self.offsets[r] as usize, self.offsets[r + 1] as usize);
            for k in lo..hi {
                let j = self.indices[k] as usize;
                rows[fill[j]] = r as u32;
                vals[fill[j]] = self.values[k];
                fill[j] += 1;
            }
        }
        let out = read_f32(&dh, |src| {
            new_f32(&[g as i64, width as i64], |out| {
                for (j, dst) in out.chunks_exact_mut(width).enumerate() {
                    for q in starts[j]..starts[j + 1] {
                        let r = rows[q] as usize;
                        let v = vals[q];
                        for (d, s) in dst.iter_mut().zip(&src[r * width..(r + 1) * width]) {
                            *d += v * s;
                        }
                    }
                }
            })
        })??;
        Ok(out.f_to_device(device)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        a.f_sub(b)
            .unwrap()
            .f_abs()
            .unwrap()
            .f_max()
            .unwrap()
            .f_double_value(&[])
            .unwrap()
    }

    #[test]
    fn sparse_and_dense_first_layer_agree() {
        tch::set_num_threads(1);
        let dense: Vec<f64> = (0..5 * 7)
            .map(|k| {
                if k % 3 == 0 {
                    (k % 5) as f64 + 0.5
                } else {
                    0.0
                }
            })
            .collect();
        let map: Vec<i32> = (0..7).collect();
        let x = CsrMatrix::from_dense(5, 7, &dense, &map, 7, false).unwrap();
        // include an empty row
        let rows = [0usize, 1, 2, 3, 4, 1];
        let mut b = SparseBatch::from_rows(&x, &rows);
        let mut empty = SparseBatch::with_capacity(7, 2, 0);
        empty.push_row(&[], &[]);
        empty.push_row(&[], &[]);
        let w = Tensor::f_randn([7, 4], (Kind::Float, Device::Cpu)).unwrap();
        let dh = Tensor::f_randn([6, 4], (Kind::Float, Device::Cpu)).unwrap();
        let s1 = b.times(&w, FirstLayerMode::Sparse).unwrap();
        let d1 = b.times(&w, FirstLayerMode::Dense).unwrap();
        assert!(max_abs_diff(&s1, &d1) < 1e-5);
        let s2 = b.transpose_times(&dh, FirstLayerMode::Sparse).unwrap();
        let d2 = b.transpose_times(&dh, FirstLayerMode::Dense).unwrap();
        assert!(max_abs_diff(&s2, &d2) < 1e-5);
        let a1 = b.times(&w, FirstLayerMode::Auto).unwrap();
        assert!(max_abs_diff(&a1, &d1) < 1e-5);
        let e = empty.times(&w, FirstLayerMode::Sparse).unwrap();
        assert_eq!(e.size(), vec![2, 4]);
        assert_eq!(
            max_abs_diff(
                &e,
                &Tensor::f_zeros([2, 4], (Kind::Float, Device::Cpu)).unwrap()
            ),
            0.0
        );
    }
}
