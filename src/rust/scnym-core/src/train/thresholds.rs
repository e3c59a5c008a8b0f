//! Pseudolabel confidence thresholds: one fixed threshold `tau` (FixMatch, the reference), or
//! per-class thresholds that follow how well each class is learned (FlexMatch, Zhang et al.,
//! NeurIPS 2021): class `k`'s threshold is `tau * b_k / (2 - b_k)` with `b_k` the number of target
//! cells whose latest confident prediction is `k`, over the largest such count or the number of
//! target cells not yet confidently predicted, whichever is larger. Early in training every
//! threshold is low; a class that target cells rarely reach with confidence keeps a lower
//! threshold than a class they reach easily.
//!
//! The same counts give the target's class mix as training sees it (the classes of the target
//! cells' latest confident predictions), which weighs the adversary's reference cells. The
//! counts are kept only when one of the two asks for them.

pub(crate) struct Thresholds {
    tau: f64,
    adaptive: bool,
    /// Whether the confident predictions are counted (for the adaptive thresholds or the class
    /// mix).
    counting: bool,
    /// Latest confident class of each target row (`None` before its first confident prediction).
    latest: Vec<Option<usize>>,
    /// Target rows whose latest confident class is `k`.
    counts: Vec<usize>,
    /// Target rows never confidently predicted.
    unused: usize,
}

impl Thresholds {
    /// Thresholds at `tau`, per class when `adaptive`; with `class_mix` (or `adaptive`) the
    /// confident predictions of the `n_rows` target rows are counted.
    pub fn new(tau: f64, adaptive: bool, class_mix: bool, n_classes: usize, n_rows: usize) -> Self {
        let counting = adaptive || class_mix;
        Thresholds {
            tau,
            adaptive,
            counting,
            latest: vec![None; if counting { n_rows } else { 0 }],
            counts: vec![0; n_classes],
            unused: n_rows,
        }
    }

    /// The threshold of class `k`.
    pub fn of(&self, k: usize) -> f64 {
        if !self.adaptive {
            return self.tau;
        }
        let max = self
            .counts
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(self.unused);
        let b = if max == 0 {
            1.0
        } else {
            self.counts[k] as f64 / max as f64
        };
        self.tau * b / (2.0 - b)
    }

    /// Splits a batch of target rows into confident and unconfident positions, from the predicted
    /// class and confidence of each, then records the rows predicted at confidence >= `tau`.
    pub fn split(
        &mut self,
        rows: &[usize],
        class: &[i64],
        confidence: &[f32],
    ) -> (Vec<usize>, Vec<usize>) {
        let (mut conf, mut unconf) = (Vec::new(), Vec::new());
        for (i, (&k, &c)) in class.iter().zip(confidence).enumerate() {
            if c as f64 >= self.of(k as usize) {
                conf.push(i);
            } else {
                unconf.push(i);
            }
        }
        if self.counting {
            for ((&r, &k), &c) in rows.iter().zip(class).zip(confidence) {
                if (c as f64) < self.tau {
                    continue;
                }
                match self.latest[r].replace(k as usize) {
                    Some(old) => self.counts[old] -= 1,
                    None => self.unused -= 1,
                }
                self.counts[k as usize] += 1;
            }
        }
        (conf, unconf)
    }

    /// Each class's share of the target rows confidently predicted so far (by their latest
    /// confident prediction); `None` before the first, or when not counting.
    pub fn class_mix(&self) -> Option<Vec<f64>> {
        let total: usize = self.counts.iter().sum();
        (total > 0).then(|| {
            self.counts
                .iter()
                .map(|&c| c as f64 / total as f64)
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_threshold_is_tau_for_every_class() {
        for class_mix in [false, true] {
            let mut t = Thresholds::new(0.9, false, class_mix, 3, 4);
            assert_eq!(t.class_mix(), None);
            let (c, u) = t.split(&[0, 1, 2], &[0, 1, 2], &[0.95, 0.5, 0.91]);
            assert_eq!((c, u), (vec![0, 2], vec![1]));
            assert_eq!(t.of(1), 0.9);
            // the class mix counts the confident rows, 0 and 2, one each, when asked to
            let mix = class_mix.then(|| vec![0.5, 0.0, 0.5]);
            assert_eq!(t.class_mix(), mix);
        }
    }

    #[test]
    fn adaptive_thresholds_follow_confident_predictions() {
        let mut t = Thresholds::new(0.9, true, false, 2, 4);
        // nothing learned yet: every threshold is 0
        assert_eq!(t.of(0), 0.0);
        let (c, u) = t.split(&[0, 1], &[0, 1], &[0.95, 0.3]);
        assert_eq!((c, u), (vec![0, 1], vec![]));
        // row 0 is confidently class 0; 3 rows unused: b_0 = 1/3
        let b: f64 = 1.0 / 3.0;
        assert!((t.of(0) - 0.9 * b / (2.0 - b)).abs() < 1e-12);
        assert_eq!(t.of(1), 0.0);
        // rows 1..3 confidently class 0 as well: class 0 at tau, class 1 at 0
        t.split(&[1, 2, 3], &[0, 0, 0], &[0.99, 0.99, 0.99]);
        assert!((t.of(0) - 0.9).abs() < 1e-12);
        assert_eq!(t.of(1), 0.0);
        // a row moving from class 0 to class 1 moves its count
        t.split(&[3], &[1], &[0.97]);
        assert!((t.of(1) - 0.9 * (1.0 / 3.0) / (2.0 - 1.0 / 3.0)).abs() < 1e-12);
        assert!((t.of(0) - 0.9).abs() < 1e-12);
        assert_eq!(t.class_mix(), Some(vec![0.75, 0.25]));
    }
}
