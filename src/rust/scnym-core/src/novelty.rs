//! Novelty of a cell: how far its embedding lies from the reference cells of its predicted class,
//! in units of the same distance measured on held-out reference cells.
//!
//! The distance is the mean cosine distance to the `k` nearest of a stored sample of training
//! cells of the predicted class (fewer when the class has fewer). Its unit, `scale`, is the
//! upper quartile of that distance over the validation cells (labelled cells held out from
//! fitting): three held-out reference cells in four lie within a novelty of 1. Cells of a type
//! absent from the reference lie ten and more units away; shifted cells of known types (another
//! condition or technology) stay closer when the domain adaptation has aligned them. A quartile
//! rather than the largest distance (the unit before format 4): the largest is one cell's, on a
//! small reference one of 20, and it grows with the number of held-out cells (DEVELOPMENT.md,
//! "Novelty threshold").

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Training cells stored per class.
pub(crate) const SAMPLE_PER_CLASS: usize = 50;
/// Nearest sample cells averaged.
pub(crate) const NEAREST: usize = 5;
/// Quantile of the validation cells' distances that is the unit.
const UNIT_QUANTILE: f64 = 0.75;
/// The validation cells' largest novelty over their upper quartile, the median over 22
/// benchmark trainings (1.6 to 9.4 among them; `bench/results/accuracy/novelty_unit.txt`):
/// converts the unit of files before format 4, approximately.
pub const LEGACY_MAXIMUM_PER_UNIT: f64 = 3.4;

/// What the model file keeps beside the stored embeddings (the tensor `novelty.reference`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NoveltyMeta {
    /// Number of stored reference cells of each class (rows grouped by class, in class order).
    pub class_sizes: Vec<usize>,
    /// Nearest stored cells averaged.
    pub k: usize,
    /// The upper quartile of the validation cells' distances: the unit of the novelty score
    /// (their largest distance in files before format 4, converted on reading, see `persist`).
    pub scale: f64,
}

/// Stored reference embeddings (unit rows, grouped by class) and their meta.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NoveltyIndex {
    pub(crate) meta: NoveltyMeta,
    /// Row-major, `sum(class_sizes)` x `width`, every row of unit length.
    pub(crate) rows: Vec<f32>,
    pub(crate) width: usize,
    offsets: Vec<usize>,
}

/// Scales each row of a row-major matrix to unit length (zero rows stay zero).
pub(crate) fn unit_rows(values: &mut [f32], width: usize) {
    for row in values.chunks_exact_mut(width) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

impl NoveltyIndex {
    /// An index over `rows` (unit rows grouped by class), without a scale yet (1.0).
    pub(crate) fn new(class_sizes: Vec<usize>, rows: Vec<f32>, width: usize) -> Result<Self> {
        let n: usize = class_sizes.iter().sum();
        if width == 0 || rows.len() != n * width || class_sizes.contains(&0) {
            return Err(Error::internal(
                "novelty reference: inconsistent sizes".to_string(),
            ));
        }
        let mut offsets = vec![0];
        for s in &class_sizes {
            offsets.push(offsets[offsets.len() - 1] + s);
        }
        Ok(NoveltyIndex {
            meta: NoveltyMeta {
                class_sizes,
                k: NEAREST,
                scale: 1.0,
            },
            rows,
            width,
            offsets,
        })
    }

    /// An index read back from a model file.
    pub(crate) fn from_parts(meta: NoveltyMeta, rows: Vec<f32>, width: usize) -> Result<Self> {
        if !(meta.scale.is_finite() && meta.scale > 0.0) || meta.k == 0 {
            return Err(Error::model_file(
                "the model file's novelty reference is corrupt (scale or k)".to_string(),
            ));
        }
        let mut index = NoveltyIndex::new(meta.class_sizes.clone(), rows, width)
            .map_err(|_| Error::model_file("the model file's novelty reference is corrupt"))?;
        index.meta = meta;
        Ok(index)
    }

    /// Sets the unit from the raw distances of held-out reference cells (their upper quartile).
    pub(crate) fn calibrate(&mut self, held_out: &[f32]) {
        self.meta.scale = quantile(held_out, UNIT_QUANTILE).max(1e-6);
    }

    /// Mean cosine distance from a unit-length embedding to the nearest stored cells of `class`
    /// (`dist`: scratch space for the distances to the class's cells).
    fn distance_with(&self, embedding: &[f32], class: usize, dist: &mut Vec<f32>) -> f32 {
        let block =
            &self.rows[self.offsets[class] * self.width..self.offsets[class + 1] * self.width];
        dist.clear();
        dist.extend(
            block
                .chunks_exact(self.width)
                .map(|r| 1.0 - dot(r, embedding)),
        );
        let k = self.meta.k.min(dist.len());
        dist.select_nth_unstable_by(k - 1, f32::total_cmp);
        dist[..k].iter().sum::<f32>() / k as f32
    }

    #[cfg(test)]
    fn distance(&self, embedding: &[f32], class: usize) -> f32 {
        self.distance_with(embedding, class, &mut Vec::new())
    }

    /// Raw distances of row-major embeddings (any length; normalised here) to their classes.
    pub(crate) fn distances(&self, embeddings: &[f32], classes: &[usize]) -> Vec<f32> {
        let mut unit = embeddings.to_vec();
        unit_rows(&mut unit, self.width);
        let mut dist = Vec::new();
        unit.chunks_exact(self.width)
            .zip(classes)
            .map(|(e, &c)| self.distance_with(e, c, &mut dist))
            .collect()
    }

    /// Novelty scores: raw distances in units of `scale`.
    pub(crate) fn scores(&self, embeddings: &[f32], classes: &[usize]) -> Vec<f32> {
        let s = self.meta.scale as f32;
        self.distances(embeddings, classes)
            .into_iter()
            .map(|d| d / s)
            .collect()
    }
}

/// The `p` quantile of `values`, interpolated between order statistics as R's `quantile()`
/// (its default, type 7); 0 for no values.
fn quantile(values: &[f32], p: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let at = p * (v.len() - 1) as f64;
    let (lo, frac) = (at.floor() as usize, at.fract());
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + frac * (v[hi] - v[lo])
}

/// The dot product of two equally long vectors, summed in 8 lanes: SIMD instructions, 8-wide
/// with fused multiply-adds where the CPU has AVX2 and FMA (a single running sum stays scalar).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::data::uses_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only requirement
            // of a `target_feature` function; the body is safe Rust.
            return unsafe { dot_avx2_fma(a, b) };
        }
    }
    dot_lanes(a, b)
}

/// [`dot`] compiled with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_fma(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Index of the largest value of each row of a row-major matrix (first on ties).
pub(crate) fn argmax_rows(values: &[f32], width: usize) -> Vec<usize> {
    values
        .chunks_exact(width)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (k, &v)| {
                    if v > best.1 {
                        (k, v)
                    } else {
                        best
                    }
                })
                .0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> NoveltyIndex {
        // Class 0: three cells near (1, 0); class 1: one cell at (0, 1).
        let mut rows = vec![1.0, 0.0, 0.99, 0.1, 0.98, -0.1, 0.0, 1.0];
        unit_rows(&mut rows, 2);
        NoveltyIndex::new(vec![3, 1], rows, 2).unwrap()
    }

    #[test]
    fn distance_uses_the_nearest_cells_of_the_class_only() {
        let idx = index();
        // On class 0's first cell: the mean over its 3 cells (k = 5 capped at 3).
        let d = idx.distance(&[1.0, 0.0], 0);
        let want =
            (0.0 + (1.0 - 0.99 / 0.99f32.hypot(0.1)) + (1.0 - 0.98 / 0.98f32.hypot(0.1))) / 3.0;
        assert!((d - want).abs() < 1e-6, "{d} vs {want}");
        // The same point measured against class 1 is a right angle away.
        assert!((idx.distance(&[1.0, 0.0], 1) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn dot_products_of_any_length() {
        for n in [0, 3, 8, 13, 256] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - want).abs() < 1e-4, "n = {n}");
            assert!((dot_lanes(&a, &b) as f64 - want).abs() < 1e-4, "n = {n}");
        }
    }

    #[test]
    fn scores_are_in_units_of_the_held_out_upper_quartile() {
        // R: quantile(c(0.01, 0.25, 0.1, 0.4, 0.3), 0.75) is 0.3; of c(0.4, 0.01, 0.25, 0.1),
        // 0.25 + 0.25 * (0.4 - 0.25) = 0.2875.
        let mut idx = index();
        idx.calibrate(&[0.01, 0.25, 0.1, 0.4, 0.3]);
        assert_eq!(idx.meta.scale, 0.3f32 as f64);
        idx.calibrate(&[0.4, 0.01, 0.25, 0.1]);
        let want = 0.25f32 as f64 + 0.25 * (0.4f32 as f64 - 0.25f32 as f64);
        assert!((idx.meta.scale - want).abs() < 1e-12);
        assert_eq!(quantile(&[], 0.75), 0.0);
        assert_eq!(quantile(&[2.0], 0.75), 2.0);
        idx.calibrate(&[0.01, 0.25, 0.1, 0.4, 0.3]);
        // Length does not matter: (0, 3) is (0, 1), at distance 0 from class 1.
        let s = idx.scores(&[0.0, 3.0, 0.0, 2.0], &[1, 0]);
        assert!(s[0].abs() < 1e-6);
        let want = idx.distance(&[0.0, 1.0], 0) / 0.3;
        assert!((s[1] - want).abs() < 1e-5, "{} vs {want}", s[1]);
    }

    #[test]
    fn corrupt_parts_are_refused() {
        let meta = NoveltyMeta {
            class_sizes: vec![2],
            k: 5,
            scale: f64::NAN,
        };
        assert!(NoveltyIndex::from_parts(meta.clone(), vec![0.0; 4], 2).is_err());
        let meta = NoveltyMeta { scale: 0.5, ..meta };
        assert!(NoveltyIndex::from_parts(meta.clone(), vec![0.0; 3], 2).is_err());
        assert!(NoveltyIndex::from_parts(meta, vec![0.0; 4], 2).is_ok());
    }
}
