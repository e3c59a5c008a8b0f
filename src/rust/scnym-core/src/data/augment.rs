//! Training-time augmentation: gene masking followed by renormalisation to the log1p-CPM scale.

use super::fastmath::{exp_f32, ln_f32};
use crate::rng::EngineRng;
use rand::RngCore;

/// Appends an augmented copy of one log1p-CPM row to `out_cols`/`out_vals`.
///
/// Each non-zero gene is set to 0 with probability `p` (zeros stay zero, so only non-zeros draw);
/// the remaining values are taken back to CPM (`expm1`), rescaled so the row keeps its CPM total
/// (1e6 when every input gene is a model gene), and log1p'd again.
pub(crate) fn mask_augment_row(
    cols: &[u32],
    vals: &[f32],
    p: f64,
    rng: &mut EngineRng,
    out_cols: &mut Vec<u32>,
    out_vals: &mut Vec<f32>,
) {
    if p <= 0.0 || cols.is_empty() {
        out_cols.extend_from_slice(cols);
        out_vals.extend_from_slice(vals);
        return;
    }
    // separate passes so that the exp and ln loops vectorise: CPM values, then the random mask
    // (a value is dropped when a uniform u32 falls below p * 2^32), then the renormalisation
    let start = out_vals.len();
    out_vals.extend(vals.iter().map(|&v| exp_f32(v) - 1.0));
    let total: f32 = out_vals[start..].iter().sum();
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
            mask_augment_row(&cols, &vals, 0.3, &mut rng, &mut oc, &mut ov);
            dropped_any |= oc.len() < cols.len();
            if !ov.is_empty() {
                let total: f64 = ov.iter().map(|&v| (v as f64).exp_m1()).sum();
                assert!((total - 1e6).abs() / 1e6 < 1e-4);
            }
        }
        assert!(dropped_any);
        let (mut oc, mut ov) = (Vec::new(), Vec::new());
        mask_augment_row(&cols, &vals, 0.0, &mut rng, &mut oc, &mut ov);
        assert_eq!(ov, vals);
    }
}
