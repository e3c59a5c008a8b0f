//! A compact sample of labelled reference cells kept in the model file (opt-in with the
//! configuration's `reference_sample`), so that a saved model can be adapted to a new query
//! without the reference data ([`crate::train::Trainer::adapt`]).
//!
//! The sample is class-balanced: every cell of the classes below a common quota and the quota of
//! each larger class, so that rare types survive the cut. It holds the cells' normalised
//! expression (log1p-CPM of the model genes) and their labels.

use crate::data::{CsrMatrix, Values};
use crate::error::{Error, Result};
use crate::rng::EngineRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// What the model file keeps beside the sample's tensors.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SampleMeta {
    /// Number of stored cells.
    pub n_cells: usize,
    /// Number of stored non-zero values.
    pub nnz: usize,
}

/// Stored reference cells: expression (cells x model genes), class codes, and which of them the
/// model held out for validation (adaptation holds out the same cells, so that they stay unseen
/// by every supervised step and keep calibrating the temperature and the novelty scale).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReferenceSample {
    pub(crate) x: CsrMatrix,
    pub(crate) labels: Vec<i64>,
    pub(crate) held_out: Vec<bool>,
}

/// Cells to keep of each class: the largest common quota `q` with `sum_k min(n_k, q) <= n`, the
/// cells left over given one each to the first classes above the quota.
pub(crate) fn class_quota(counts: &[usize], n: usize) -> Vec<usize> {
    if counts.iter().sum::<usize>() <= n {
        return counts.to_vec();
    }
    let kept = |q: usize| counts.iter().map(|&c| c.min(q)).sum::<usize>();
    let (mut lo, mut hi) = (0usize, counts.iter().copied().max().unwrap_or(0));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if kept(mid) <= n {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut quota: Vec<usize> = counts.iter().map(|&c| c.min(lo)).collect();
    let mut left = n - kept(lo);
    for (q, &c) in quota.iter_mut().zip(counts) {
        if left == 0 {
            break;
        }
        if c > *q {
            *q += 1;
            left -= 1;
        }
    }
    quota
}

/// `rows` grouped by class (`labels[row]`), each group shuffled, cut to its quota (`quota` gets
/// the groups' sizes) and sorted: the random per-class samples of the novelty reference and of
/// the reference sample.
pub(crate) fn sample_per_class(
    rows: &[usize],
    labels: &[i64],
    n_classes: usize,
    quota: impl FnOnce(&[usize]) -> Vec<usize>,
    rng: &mut EngineRng,
) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for &r in rows {
        groups[labels[r] as usize].push(r);
    }
    let counts: Vec<usize> = groups.iter().map(Vec::len).collect();
    for (g, q) in groups.iter_mut().zip(quota(&counts)) {
        g.shuffle(rng);
        g.truncate(q);
        g.sort_unstable();
    }
    groups
}

impl ReferenceSample {
    /// Up to `n` of the rows of `x` (labels `labels`), class-balanced (see [`class_quota`]),
    /// chosen at random within each class, grouped by class; `val_rows` (sorted) are the rows
    /// held out for validation.
    pub(crate) fn choose(
        x: &CsrMatrix,
        labels: &[i64],
        val_rows: &[usize],
        n_classes: usize,
        n: usize,
        rng: &mut EngineRng,
    ) -> Result<ReferenceSample> {
        let all: Vec<usize> = (0..labels.len()).collect();
        let groups = sample_per_class(
            &all,
            labels,
            n_classes,
            |counts| class_quota(counts, n),
            rng,
        );
        let chosen: Vec<usize> = groups.concat();
        Ok(ReferenceSample {
            x: x.select_rows(&chosen)?,
            labels: chosen.iter().map(|&r| labels[r]).collect(),
            held_out: chosen
                .iter()
                .map(|r| val_rows.binary_search(r).is_ok())
                .collect(),
        })
    }

    /// The (fitting, held-out) rows of the sample.
    pub(crate) fn split(&self) -> (Vec<usize>, Vec<usize>) {
        (0..self.held_out.len()).partition(|&i| !self.held_out[i])
    }

    pub(crate) fn meta(&self) -> SampleMeta {
        SampleMeta {
            n_cells: self.x.n_rows(),
            nnz: self.x.nnz(),
        }
    }

    /// The sample as five f32 vectors for the model file: non-zeros per row, column of each
    /// non-zero, its value, the label of each row and 1 for held-out rows (every count is exact
    /// in f32: the model file refuses more than 2^24 genes or classes).
    pub(crate) fn to_vectors(&self) -> [Vec<f32>; 5] {
        let (indptr, indices, values) = self.x.parts();
        [
            indptr.windows(2).map(|w| (w[1] - w[0]) as f32).collect(),
            indices.iter().map(|&j| j as f32).collect(),
            values.to_vec(),
            self.labels.iter().map(|&l| l as f32).collect(),
            self.held_out
                .iter()
                .map(|&h| f32::from(u8::from(h)))
                .collect(),
        ]
    }

    /// The inverse of [`ReferenceSample::to_vectors`], validated against the model's number of
    /// genes and classes.
    pub(crate) fn from_vectors(
        [row_nnz, columns, values, labels, held_out]: [&[f32]; 5],
        n_genes: usize,
        n_classes: usize,
    ) -> Result<ReferenceSample> {
        let bad = |what: &str| Error::data(format!("the reference sample has {what}"));
        let whole = |v: &f32, max: usize| v.fract() == 0.0 && *v >= 0.0 && (*v as usize) < max;
        if labels.len() != row_nnz.len() || !labels.iter().all(|l| whole(l, n_classes)) {
            return Err(bad("invalid labels"));
        }
        if held_out.len() != row_nnz.len() || !held_out.iter().all(|h| whole(h, 2)) {
            return Err(bad("invalid held-out flags"));
        }
        let mut indptr = Vec::with_capacity(row_nnz.len() + 1);
        indptr.push(0i32);
        for v in row_nnz {
            let last = *indptr.last().unwrap_or(&0) as usize;
            if !whole(v, n_genes + 1) || last + *v as usize > columns.len() {
                return Err(bad("invalid row sizes"));
            }
            indptr.push((last + *v as usize) as i32);
        }
        if !columns.iter().all(|j| whole(j, n_genes)) {
            return Err(bad("invalid gene columns"));
        }
        let indices: Vec<i32> = columns.iter().map(|&j| j as i32).collect();
        let values: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        let gene_map: Vec<i32> = (0..n_genes as i32).collect();
        let x = CsrMatrix::from_csr_parts(
            row_nnz.len(),
            n_genes,
            &indptr,
            &indices,
            &values,
            &gene_map,
            n_genes,
            Values::Normalised,
        )
        .map_err(|e| bad(&format!("invalid expression values ({e})")))?;
        Ok(ReferenceSample {
            x,
            labels: labels.iter().map(|&l| l as i64).collect(),
            held_out: held_out.iter().map(|&h| h == 1.0).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::CPM;
    use crate::rng::{stream, Stream};

    #[test]
    fn quota_keeps_rare_classes_whole() {
        assert_eq!(class_quota(&[5, 100, 40], 1000), vec![5, 100, 40]);
        assert_eq!(class_quota(&[5, 100, 40], 65), vec![5, 30, 30]);
        assert_eq!(class_quota(&[5, 100, 40], 66), vec![5, 31, 30]);
        assert_eq!(class_quota(&[10, 10], 3), vec![2, 1]);
        assert_eq!(class_quota(&[3, 4], 0), vec![0, 0]);
    }

    #[test]
    fn sample_round_trips_through_vectors() {
        let dense = vec![0.0, 2.0, 1.0, 3.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 5.0];
        let x = CsrMatrix::from_dense(4, 3, &dense, &[0, 1, 2], 3, CPM).unwrap();
        let labels = vec![0, 1, 1, 0];
        let mut rng = stream(7, Stream::Train);
        let s = ReferenceSample::choose(&x, &labels, &[1, 2], 2, 4, &mut rng).unwrap();
        assert_eq!(s.labels, vec![0, 0, 1, 1]);
        assert_eq!(s.held_out, vec![false, false, true, true]);
        assert_eq!(s.split(), (vec![0, 1], vec![2, 3]));
        let s = ReferenceSample::choose(&x, &labels, &[1], 2, 3, &mut rng).unwrap();
        assert_eq!(s.x.n_rows(), 3);
        assert_eq!(s.labels.iter().filter(|&&l| l == 0).count(), 2);
        let v = s.to_vectors();
        fn view(v: &[Vec<f32>; 5]) -> [&[f32]; 5] {
            [&v[0], &v[1], &v[2], &v[3], &v[4]]
        }
        assert_eq!(ReferenceSample::from_vectors(view(&v), 3, 2).unwrap(), s);
        assert!(ReferenceSample::from_vectors(view(&v), 3, 1).is_err());
        for (part, value) in [(1, 3.0), (0, 1.5), (4, 2.0)] {
            let mut bad = v.clone();
            bad[part][0] = value;
            assert!(ReferenceSample::from_vectors(view(&bad), 3, 2).is_err());
        }
    }
}
