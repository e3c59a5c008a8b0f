//! Mini-batches: rows gathered (and optionally augmented) from a [`CsrMatrix`], and the product of
//! a batch with the first layer's weights, forwards (`X W`) and backwards (`X^T dH`).
//!
//! Two interchangeable implementations: `Sparse` (weighted sums over the non-zeros only, see
//! `spmm`; on devices other than the CPU the forward product is libtorch's embedding bag) and
//! `Dense` (the batch densified, two GEMMs). Tests check that they agree; `Auto` picks by the
//! batch's density (see `bench/engine`).

use super::augment::augment_row;
use super::csr::CsrMatrix;
use super::spmm::{gather_rows_par, Gather};
use crate::error::{Error, Result};
use crate::par;
use crate::rng::EngineRng;
use crate::tensor_io::{new_f32, read_f32};
use tch::{Device, Kind, Tensor};

/// How the first layer multiplies a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstLayerMode {
    /// `Sparse` for batches with at most [`auto_dense_above`] non-zeros, else `Dense`.
    Auto,
    /// Work on the non-zeros only.
    Sparse,
    /// Densify the batch and use dense matrix products.
    Dense,
}

/// Fraction of non-zeros above which `Auto` densifies a batch of `genes` columns: 18% up to 2,000
/// genes, falling towards 10% for many more. Measured on one core (the ignored test
/// `time_first_layer_modes`: 512 rows, width 256, forward and backward, AVX2 + FMA, MKL with
/// AVX-512; ms sparse vs dense): 2,000 genes 6.2 vs 7.6 at 15%, 8.5 vs 7.7 at 20%; 5,000 genes 11
/// vs 19 at 10%, 22 vs 24 at 15%; 14,000 genes 37 vs 72 at 5%, 64 vs 63 at 10%, 93 vs 84 at 15%;
/// 28,000 genes 76 vs 138 at 5%, 164 vs 149 at 10%, 256 vs 162 at 20%. The dense product's cost
/// does not depend on the density; the sparse one's grows with it and, once the weights outgrow
/// the caches, with the number of genes.
pub fn auto_dense_above(genes: usize) -> f64 {
    0.10 + 0.08 * (2000.0 / genes.max(1) as f64).min(1.0)
}

/// Rows of a batch in CSR form.
pub(crate) struct SparseBatch {
    n_cols: usize,
    offsets: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    dense: Option<Tensor>,
}

/// The batch transposed (CSC: per gene, the rows and values).
struct Transposed {
    starts: Vec<usize>,
    rows: Vec<u32>,
    values: Vec<f32>,
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
            dense: None,
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
        self.indices.extend_from_slice(cols);
        self.values.extend_from_slice(vals);
        self.offsets.push(self.indices.len());
        self.dense = None;
    }

    /// Appends an augmented copy of a row (genes scaled by `factors`, masked with probability
    /// `p`, renormalised: [`augment_row`]).
    pub fn push_augmented(
        &mut self,
        cols: &[u32],
        vals: &[f32],
        p: f64,
        factors: Option<&[f32]>,
        rng: &mut EngineRng,
    ) {
        augment_row(
            cols,
            vals,
            p,
            factors,
            rng,
            &mut self.indices,
            &mut self.values,
        );
        self.offsets.push(self.indices.len());
        self.dense = None;
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
            FirstLayerMode::Auto if self.density() > auto_dense_above(self.n_cols) => {
                FirstLayerMode::Dense
            }
            FirstLayerMode::Auto => FirstLayerMode::Sparse,
            other => other,
        }
    }

    /// The batch as a dense [rows, cols] CPU tensor.
    pub fn dense_tensor(&self) -> Result<Tensor> {
        let (n, g) = (self.n_rows(), self.n_cols);
        new_f32(&[n as i64, g as i64], |dense| {
            for r in 0..n {
                let row = &mut dense[r * g..(r + 1) * g];
                let span = self.offsets[r]..self.offsets[r + 1];
                for (&j, &v) in self.indices[span.clone()].iter().zip(&self.values[span]) {
                    row[j as usize] = v;
                }
            }
        })
    }

    /// The densified batch on `device`, made once.
    fn dense_on(&mut self, device: Device) -> Result<Tensor> {
        if let Some(d) = &self.dense {
            if d.device() == device {
                return Ok(d.shallow_clone());
            }
        }
        let d = self.dense_tensor()?.f_to_device(device)?;
        self.dense = Some(d.shallow_clone());
        Ok(d)
    }

    fn check_width(&self, t: &Tensor, rows: usize, what: &str) -> Result<usize> {
        let size = t.size();
        if size.len() != 2 || size[0] != rows as i64 {
            return Err(Error::internal(format!(
                "{what} of shape {size:?} for a batch of {} rows x {} genes",
                self.n_rows(),
                self.n_cols
            )));
        }
        Ok(size[1] as usize)
    }

    /// `X W` for `w` of shape [cols, width]: a [rows, width] tensor (gradient not tracked), on up
    /// to `threads` threads of the engine's own (see `par`).
    pub fn times(&mut self, w: &Tensor, mode: FirstLayerMode, threads: usize) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let width = self.check_width(w, self.n_cols, "weight")?;
        let device = w.device();
        match self.resolve(mode) {
            FirstLayerMode::Dense => par::mm(&self.dense_on(device)?, &w.f_detach()?, threads),
            _ if device != Device::Cpu => self.embedding_bag(w),
            _ => {
                let w = w.f_detach()?.f_contiguous()?;
                let g = Gather {
                    offsets: &self.offsets,
                    indices: &self.indices,
                    values: &self.values,
                };
                read_f32(&w, |wv| {
                    new_f32(&[self.n_rows() as i64, width as i64], |out| {
                        gather_rows_par(&g, wv, width, out, threads)
                    })
                })?
            }
        }
    }

    /// `X W` through libtorch's embedding bag (any device).
    fn embedding_bag(&self, w: &Tensor) -> Result<Tensor> {
        let device = w.device();
        let to_i64 = |v: &[usize]| -> Vec<i64> { v.iter().map(|&x| x as i64).collect() };
        let indices: Vec<i64> = self.indices.iter().map(|&j| j as i64).collect();
        let indices = Tensor::f_from_slice(&indices)?.f_to_device(device)?;
        let offsets = Tensor::f_from_slice(&to_i64(&self.offsets))?.f_to_device(device)?;
        let values = Tensor::f_from_slice(&self.values)?.f_to_device(device)?;
        let (out, _, _, _) = Tensor::f_embedding_bag(
            &w.f_detach()?,
            &indices,
            &offsets,
            false,
            0,
            false,
            Some(&values),
            true,
        )?;
        Ok(out)
    }

    /// The CSC form of the batch (counting sort by gene).
    fn transposed(&self) -> Transposed {
        let g = self.n_cols;
        let mut starts = vec![0usize; g + 1];
        for &j in &self.indices {
            starts[j as usize + 1] += 1;
        }
        for j in 0..g {
            starts[j + 1] += starts[j];
        }
        let mut fill = starts.clone();
        let mut rows = vec![0u32; self.indices.len()];
        let mut values = vec![0f32; self.indices.len()];
        for r in 0..self.n_rows() {
            let span = self.offsets[r]..self.offsets[r + 1];
            for (&j, &v) in self.indices[span.clone()].iter().zip(&self.values[span]) {
                let slot = &mut fill[j as usize];
                rows[*slot] = r as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        Transposed {
            starts,
            rows,
            values,
        }
    }

    /// `X^T dH` for `dh` of shape [rows, width]: a [cols, width] tensor.
    pub fn transpose_times(
        &mut self,
        dh: &Tensor,
        mode: FirstLayerMode,
        threads: usize,
    ) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let width = self.check_width(dh, self.n_rows(), "gradient")?;
        let device = dh.device();
        if self.resolve(mode) == FirstLayerMode::Dense {
            return par::mm_tn(&self.dense_on(device)?, dh, threads);
        }
        let dh = dh
            .f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Float)?
            .f_contiguous()?;
        let t = self.transposed();
        let g = Gather {
            offsets: &t.starts,
            indices: &t.rows,
            values: &t.values,
        };
        let out = read_f32(&dh, |src| {
            new_f32(&[self.n_cols as i64, width as i64], |out| {
                gather_rows_par(&g, src, width, out, threads)
            })
        })??;
        Ok(out.f_to_device(device)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Values;
    use crate::test_util::max_abs_diff;

    #[test]
    fn auto_densifies_sparser_batches_of_more_genes() {
        assert_eq!(auto_dense_above(500), 0.18);
        assert_eq!(auto_dense_above(2000), 0.18);
        assert!((auto_dense_above(4000) - 0.14).abs() < 1e-12);
        assert!(auto_dense_above(28000) > 0.10 && auto_dense_above(28000) < 0.11);
        let mut b = SparseBatch::with_capacity(4000, 1, 600);
        let cols: Vec<u32> = (0..600).collect();
        b.push_row(&cols, &vec![1.0; 600]);
        assert_eq!(b.resolve(FirstLayerMode::Auto), FirstLayerMode::Dense);
        let mut b = SparseBatch::with_capacity(4000, 1, 500);
        b.push_row(&cols[..500], &vec![1.0; 500]);
        assert_eq!(b.resolve(FirstLayerMode::Auto), FirstLayerMode::Sparse);
        assert_eq!(b.resolve(FirstLayerMode::Dense), FirstLayerMode::Dense);
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
        let x = CsrMatrix::from_dense(5, 7, &dense, &map, 7, Values::Normalised).unwrap();
        // include an empty row
        let rows = [0usize, 1, 2, 3, 4, 1];
        let mut b = SparseBatch::from_rows(&x, &rows);
        let mut empty = SparseBatch::with_capacity(7, 2, 0);
        empty.push_row(&[], &[]);
        empty.push_row(&[], &[]);
        let w = Tensor::f_randn([7, 4], (Kind::Float, Device::Cpu)).unwrap();
        let dh = Tensor::f_randn([6, 4], (Kind::Float, Device::Cpu)).unwrap();
        let s1 = b.times(&w, FirstLayerMode::Sparse, 2).unwrap();
        let d1 = b.times(&w, FirstLayerMode::Dense, 1).unwrap();
        assert!(max_abs_diff(&s1, &d1) < 1e-5);
        let s2 = b.transpose_times(&dh, FirstLayerMode::Sparse, 1).unwrap();
        let d2 = b.transpose_times(&dh, FirstLayerMode::Dense, 2).unwrap();
        assert!(max_abs_diff(&s2, &d2) < 1e-5);
        let a1 = b.times(&w, FirstLayerMode::Auto, 1).unwrap();
        assert!(max_abs_diff(&a1, &d1) < 1e-5);
        let e = empty.times(&w, FirstLayerMode::Sparse, 1).unwrap();
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
#[cfg(test)]
mod timing {
    use super::*;
    use crate::data::Values;
    #[test]
    #[ignore]
    fn time_first_layer_modes() {
        tch::set_num_threads(1);
        println!("avx2+fma: {}", super::super::spmm::uses_avx2_fma());
        for &(g, dens) in &[
            (2000usize, 0.05f64),
            (2000, 0.1),
            (2000, 0.15),
            (2000, 0.2),
            (2000, 0.38),
            (2000, 0.5),
            (2000, 0.7),
            (5000, 0.1),
            (5000, 0.15),
            (14000, 0.05),
            (14000, 0.1),
            (14000, 0.15),
            (28000, 0.05),
            (28000, 0.1),
            (28000, 0.2),
            (28000, 0.3),
        ] {
            let n = 512;
            let thr = (dens * 1000.0) as usize;
            let dense: Vec<f64> = (0..n * g)
                .map(|k| {
                    if (k * 7919 + k / 3) % 1000 < thr {
                        ((k % 13) + 1) as f64 * 0.5
                    } else {
                        0.0
                    }
                })
                .collect();
            let map: Vec<i32> = (0..g as i32).collect();
            let x = CsrMatrix::from_dense(n, g, &dense, &map, g, Values::Normalised).unwrap();
            let rows: Vec<usize> = (0..n).collect();
            let w = Tensor::f_randn([g as i64, 256], (Kind::Float, Device::Cpu)).unwrap();
            let dh = Tensor::f_randn([n as i64, 256], (Kind::Float, Device::Cpu)).unwrap();
            let mut res = Vec::new();
            for mode in [FirstLayerMode::Sparse, FirstLayerMode::Dense] {
                let reps = 10;
                let t = std::time::Instant::now();
                for _ in 0..reps {
                    let mut b = SparseBatch::from_rows(&x, &rows);
                    let _ = b.times(&w, mode, 1).unwrap();
                    let _ = b.transpose_times(&dh, mode, 1).unwrap();
                }
                res.push(t.elapsed().as_secs_f64() * 1e3 / reps as f64);
            }
            println!(
                "g {g} density {dens}: sparse {:.2} ms, dense {:.2} ms",
                res[0], res[1]
            );
        }
    }
}
