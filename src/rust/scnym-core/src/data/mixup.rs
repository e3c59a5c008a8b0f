//! MixUp coefficients: a random partner and a weight `g = max(b, 1 - b)`, `b ~ Beta(alpha, alpha)`,
//! per row; each mixed row keeps the identity of its dominant (first) partner.

use crate::error::{Error, Result};
use crate::rng::EngineRng;
use rand::seq::SliceRandom;
use rand_distr::{Beta, Distribution};

/// For row `i`: mixed = gamma[i] * row[i] + (1 - gamma[i]) * row[perm[i]].
pub(crate) struct MixupPlan {
    pub perm: Vec<i64>,
    pub gamma: Vec<f32>,
}

/// Draws a MixUp plan for `n` rows (alpha = 0: no mixing).
pub(crate) fn mixup_plan(n: usize, alpha: f64, rng: &mut EngineRng) -> Result<MixupPlan> {
    let mut perm: Vec<i64> = (0..n as i64).collect();
    if alpha <= 0.0 || n < 2 {
        return Ok(MixupPlan {
            perm,
            gamma: vec![1.0; n],
        });
    }
    perm.shuffle(rng);
    let beta =
        Beta::new(alpha, alpha).map_err(|e| Error::arg(format!("mixup_alpha {alpha}: {e}")))?;
    let gamma = (0..n)
        .map(|_| {
            let b: f64 = beta.sample(rng);
            let b = if b.is_finite() {
                b.clamp(0.0, 1.0)
            } else {
                1.0
            };
            b.max(1.0 - b) as f32
        })
        .collect();
    Ok(MixupPlan { perm, gamma })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn gammas_are_dominant_and_perm_is_a_permutation() {
        let mut rng = EngineRng::seed_from_u64(3);
        let p = mixup_plan(100, 0.3, &mut rng).unwrap();
        assert!(p.gamma.iter().all(|&g| (0.5..=1.0).contains(&g)));
        let mut s = p.perm.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<i64>>());
        let q = mixup_plan(5, 0.0, &mut rng).unwrap();
        assert_eq!(q.gamma, vec![1.0; 5]);
    }
}
