//! The most variable genes of the labelled reference cells: the genes a model keeps when
//! `n_variable_genes` is set.
//!
//! A gene's dispersion is the log of its variance over its mean, both of the normalised values
//! (`log1p` of the scaled counts) across the cells. Dispersion grows with the mean, so genes are
//! put in bins of equal width on the mean (`BINS` over the range of the expressed genes' means)
//! and ranked by their dispersion's z-score within the bin (the binned z-scores of Satija et al.
//! 2015, here of the log-normalised values). Genes never expressed in the cells are never
//! chosen.

use super::CsrMatrix;

/// Bins on the mean expression.
const BINS: usize = 20;

/// Indices (ascending) of the `n` genes (columns) of `x` with the largest binned dispersion
/// z-score; every expressed gene when fewer than `n` are. Ties go to the lower index.
pub fn variable_genes(x: &CsrMatrix, n: usize) -> Vec<usize> {
    let (mean, var) = column_moments(x);
    let expressed: Vec<usize> = (0..x.n_cols()).filter(|&g| mean[g] > 0.0).collect();
    if expressed.len() <= n {
        return expressed;
    }
    let disp: Vec<f64> = expressed
        .iter()
        .map(|&g| (var[g].max(1e-12) / mean[g]).ln())
        .collect();
    let (lo, hi) = expressed
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &g| {
            (lo.min(mean[g]), hi.max(mean[g]))
        });
    let width = (hi - lo) / BINS as f64;
    let bin_of = |m: f64| {
        if width > 0.0 {
            (((m - lo) / width) as usize).min(BINS - 1)
        } else {
            0
        }
    };
    let bins: Vec<usize> = expressed.iter().map(|&g| bin_of(mean[g])).collect();
    // mean and standard deviation (n - 1) of the dispersions of each bin
    let mut sum = [0.0f64; BINS];
    let mut count = [0usize; BINS];
    for (&b, &d) in bins.iter().zip(&disp) {
        sum[b] += d;
        count[b] += 1;
    }
    let centre: Vec<f64> = (0..BINS).map(|b| sum[b] / count[b].max(1) as f64).collect();
    let mut ss = [0.0f64; BINS];
    for (&b, &d) in bins.iter().zip(&disp) {
        ss[b] += (d - centre[b]).powi(2);
    }
    let z: Vec<f64> = bins
        .iter()
        .zip(&disp)
        .map(|(&b, &d)| {
            let sd = if count[b] > 1 {
                (ss[b] / (count[b] - 1) as f64).sqrt()
            } else {
                0.0
            };
            if sd > 0.0 {
                (d - centre[b]) / sd
            } else {
                0.0
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..expressed.len()).collect();
    order.sort_by(|&a, &b| z[b].total_cmp(&z[a]).then(a.cmp(&b)));
    let mut chosen: Vec<usize> = order[..n].iter().map(|&i| expressed[i]).collect();
    chosen.sort_unstable();
    chosen
}

/// Mean and variance (over all rows, dividing by the number of rows) of each column.
fn column_moments(x: &CsrMatrix) -> (Vec<f64>, Vec<f64>) {
    let (_, indices, values) = x.parts();
    let mut sum = vec![0.0f64; x.n_cols()];
    let mut sq = vec![0.0f64; x.n_cols()];
    for (&g, &v) in indices.iter().zip(values) {
        sum[g as usize] += v as f64;
        sq[g as usize] += (v as f64) * (v as f64);
    }
    let n = x.n_rows().max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let var = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| (q / n - m * m).max(0.0))
        .collect();
    (mean, var)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Values;

    /// A matrix of normalised values, cells in rows.
    fn matrix(rows: &[Vec<f64>]) -> CsrMatrix {
        let n_cols = rows[0].len();
        let map: Vec<i32> = (0..n_cols as i32).collect();
        CsrMatrix::from_dense(
            rows.len(),
            n_cols,
            &rows.concat(),
            &map,
            n_cols,
            Values::Normalised,
        )
        .unwrap()
    }

    #[test]
    fn moments_count_the_zeros() {
        let x = matrix(&[
            vec![1.0, 0.0],
            vec![3.0, 0.0],
            vec![2.0, 4.0],
            vec![2.0, 0.0],
        ]);
        let (mean, var) = column_moments(&x);
        assert_eq!(mean, vec![2.0, 1.0]);
        assert_eq!(var, vec![0.5, 3.0]);
    }

    #[test]
    fn the_most_dispersed_genes_are_chosen_in_their_order() {
        // genes 0 and 2 vary, 1 and 3 are flat at the same means, 4 is never expressed
        let x = matrix(&[
            vec![0.0, 1.0, 4.0, 2.0, 0.0],
            vec![2.0, 1.0, 0.0, 2.0, 0.0],
            vec![0.0, 1.0, 4.0, 2.0, 0.0],
            vec![2.0, 1.0, 0.0, 2.0, 0.0],
        ]);
        assert_eq!(variable_genes(&x, 2), vec![0, 2]);
        assert_eq!(variable_genes(&x, 1).len(), 1);
        // fewer expressed genes than asked for: every expressed gene
        assert_eq!(variable_genes(&x, 4), vec![0, 1, 2, 3]);
        assert_eq!(variable_genes(&x, 10), vec![0, 1, 2, 3]);
    }

    #[test]
    fn dispersion_is_ranked_within_bins_of_the_mean() {
        // 40 genes: 20 with mean 1, 20 with mean 6; within each group one gene varies more than
        // its peers. Every high-mean gene is more dispersed than the low-mean outlier (gene 7),
        // so raw dispersion would choose two high-mean genes; within bins, each group's outlier
        // comes first.
        let cells = 6;
        let mut rows = vec![vec![0.0f64; 40]; cells];
        for (c, row) in rows.iter_mut().enumerate() {
            let sign = if c % 2 == 0 { 1.0 } else { -1.0 };
            for g in 0..20 {
                let spread = if g == 7 { 0.9 } else { 0.1 + 0.01 * g as f64 };
                row[g] = 1.0 + sign * spread;
                let spread_hi = if g == 13 { 5.9 } else { 2.5 + 0.02 * g as f64 };
                row[20 + g] = 6.0 + sign * spread_hi;
            }
        }
        let x = matrix(&rows);
        assert_eq!(variable_genes(&x, 2), vec![7, 33]);
    }
}
