//! Training-time augmentation: gene scaling and masking followed by renormalisation to the
//! log1p-CPM scale.

use super::fastmath::{exp_f32, ln_f32};
use crate::rng::EngineRng;
use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};

/// One scaling factor per gene, `exp(sd * z)` with `z ~ N(0, 1)`, for the rows of a step (`None`
/// when `sd` is 0: no draw, so the random stream is that of training without scaling).
pub(crate) fn gene_factors(n_genes: usize, sd: f64, rng: &mut EngineRng) -> Option<Vec<f32>> {
    (sd > 0.0).then(|| {
        (0..n_genes)
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                (sd * z).exp() as f32
            })
            .collect()
    })
}

/// Appends an augmented copy of one log1p-CPM row to `out_cols`/`out_vals`.
///
/// The values are taken back to CPM (`expm1`) and each is multiplied by its gene's factor in
/// `factors` (see [`gene_factors`]); each non-zero gene is then set to 0 with probability `p`
/// (zeros stay zero, so only non-zeros draw); the remaining values are rescaled so the row keeps
/// its CPM total before scaling (1e6 when every input gene is a model gene), and log1p'd again.
pub(crate) fn augment_row(
    cols: &[u32],
    vals: &[f32],
    p: f64,
    factors: Option<&[f32]>,
    rng: &mut EngineRng,
    out_cols: &mut Vec<u32>,
    out_vals: &mut Vec<f32>,
) {
    if (p <= 0.0 && factors.is_none()) || cols.is_empty() {
        out_cols.extend_from_slice(cols);
        out_vals.extend_from_slice(vals);
        return;
    }
    // separate passes so that the exp and ln loops vectorise: CPM values, then the random mask
    // (a value is dropped when a uniform u32 falls below p * 2^32), then the renormalisation
    let start = out_vals.len();
    out_vals.extend(vals.iter().map(|&v| exp_f32(v) - 1.0));
    let total: f32 = out_vals[start..].iter().sum();
    if let Some(f) = factors {
        for (v, &c) in out_vals[start..].iter_mut().zip(cols) {
            *v *= f[c as usize];
        }
    }
    if p > 0.0 {
        let threshold = (p * 4_294_967_296.0) as u64;
        out_cols.reserve(cols.len());
        let mut kept_n = start;
        for (k, &c) in cols.iter().enumerate() {
            let keep = (rng.next_u32() as u64) >= threshold;
            // branch-free compaction: always write, advance only when kept
            out_vals[kept_n] = out_vals[start + k];
            out_cols.push(c);
            out_cols[kept_n] = c;
            kept_n += keep as usize;
        }
        out_vals.truncate(kept_n);
        out_cols.truncate(kept_n);
    } else {
        out_cols.extend_from_slice(cols);
    }
    let kept: f32 = out_vals[start..].iter().sum();
    if kept <= 0.0 {
        out_cols.truncate(start);
        out_vals.truncate(start);
        return;
    }
    let scale = total / kept;
    for v in &mut out_vals[start..] {
        *v = ln_f32(*v * scale + 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn masking_keeps_the_cpm_total() {
        let mut rng = EngineRng::seed_from_u64(1);
        let cpm = [1e5f64, 2e5, 3e5, 4e5];
        let vals: Vec<f32> = cpm.iter().map(|c| c.ln_1p() as f32).collect();
        let cols = [0u32, 3, 5, 9];
        let mut dropped_any = false;
        for _ in 0..50 {
            let (mut oc, mut ov) = (Vec::new(), Vec::new());
            augment_row(&cols, &vals, 0.3, None, &mut rng, &mut oc, &mut ov);
            dropped_any |= oc.len() < cols.len();
            if !ov.is_empty() {
                let total: f64 = ov.iter().map(|&v| (v as f64).exp_m1()).sum();
                assert!((total - 1e6).abs() / 1e6 < 1e-4);
            }
        }
        assert!(dropped_any);
        let (mut oc, mut ov) = (Vec::new(), Vec::new());
        augment_row(&cols, &vals, 0.0, None, &mut rng, &mut oc, &mut ov);
        assert_eq!(ov, vals);
    }

    #[test]
    fn scaling_multiplies_each_gene_and_keeps_the_cpm_total() {
        let mut rng = EngineRng::seed_from_u64(2);
        assert!(gene_factors(10, 0.0, &mut rng).is_none());
        let mut factors = gene_factors(10, 1.0, &mut rng).unwrap();
        assert_eq!(factors.len(), 10);
        assert!(factors.iter().all(|&f| f > 0.0) && factors.iter().any(|&f| f != 1.0));
        // known factors: genes 0, 3, 5, 9 scaled by 1, 2, 1, 1.5
        factors.fill(1.0);
        factors[3] = 2.0;
        factors[9] = 1.5;
        let cpm = [1e5f64, 2e5, 3e5, 4e5];
        let vals: Vec<f32> = cpm.iter().map(|c| c.ln_1p() as f32).collect();
        let cols = [0u32, 3, 5, 9];
        let (mut oc, mut ov) = (Vec::new(), Vec::new());
        augment_row(
            &cols,
            &vals,
            0.0,
            Some(&factors),
            &mut rng,
            &mut oc,
            &mut ov,
        );
        assert_eq!(oc, cols);
        // scaled CPM 1e5, 4e5, 3e5, 6e5 (total 1.4e6), brought back to the total of 1e6
        for (v, scaled) in ov.iter().zip([1e5f64, 4e5, 3e5, 6e5]) {
            let expected = scaled / 1.4;
            let got = (*v as f64).exp_m1();
            assert!(
                (got - expected).abs() / expected < 1e-4,
                "{got} vs {expected}"
            );
        }
    }
}
