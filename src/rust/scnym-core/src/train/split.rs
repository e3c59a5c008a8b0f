//! The validation split: a stratified sample of labeled cells held out for model selection.

use crate::rng::EngineRng;
use rand::seq::SliceRandom;

/// Splits `0..labels.len()` into (fit, validation) row indices, both sorted.
///
/// Each class gives about `fraction` of its cells (largest-remainder rounding of the total
/// `round(n * fraction)`), never its last cell; classes with a single cell give none. With no
/// validation cell possible, or fewer than 2 fitting cells left, there is no validation set.
pub(crate) fn validation_split(
    labels: &[i64],
    n_classes: usize,
    fraction: f64,
    rng: &mut EngineRng,
) -> (Vec<usize>, Vec<usize>) {
    let n = labels.len();
    let all: Vec<usize> = (0..n).collect();
    let total = (n as f64 * fraction).round() as usize;
    if fraction <= 0.0 || total == 0 {
        return (all, Vec::new());
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (i, &l) in labels.iter().enumerate() {
        members[l as usize].push(i);
    }
    let caps: Vec<usize> = members.iter().map(|m| m.len().saturating_sub(1)).collect();
    let exact: Vec<f64> = members.iter().map(|m| m.len() as f64 * fraction).collect();
    let mut take: Vec<usize> = exact
        .iter()
        .zip(&caps)
        .map(|(&e, &cap)| (e.floor() as usize).min(cap))
        .collect();
    let mut order: Vec<usize> = (0..n_classes).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let mut assigned: usize = take.iter().sum();
    for &k in order.iter().cycle().take(n_classes * 2) {
        if assigned >= total {
            break;
        }
        if take[k] < caps[k] && (take[k] as f64) < exact[k].ceil() {
            take[k] += 1;
            assigned += 1;
        }
    }
    if assigned == 0 || n - assigned < 2 {
        return (all, Vec::new());
    }
    let mut val = Vec::with_capacity(assigned);
    for (k, m) in members.iter_mut().enumerate() {
        m.shuffle(rng);
        val.extend_from_slice(&m[..take[k]]);
    }
    val.sort_unstable();
    let mut is_val = vec![false; n];
    for &v in &val {
        is_val[v] = true;
    }
    let fit = all.into_iter().filter(|&i| !is_val[i]).collect();
    (fit, val)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn stratified_and_safe_for_tiny_classes() {
        let mut rng = EngineRng::seed_from_u64(0);
        let labels: Vec<i64> = (0..100)
            .map(|i| {
                if i < 70 {
                    0
                } else if i < 99 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let (fit, val) = validation_split(&labels, 3, 0.1, &mut rng);
        assert_eq!(val.len(), 10);
        assert_eq!(fit.len() + val.len(), 100);
        let per: Vec<usize> = (0..3)
            .map(|k| val.iter().filter(|&&v| labels[v] == k).count())
            .collect();
        assert_eq!(per[2], 0);
        assert!(per[0] == 7 && per[1] == 3, "{per:?}");
        let (fit, val) = validation_split(&[0, 1, 2], 3, 0.1, &mut rng);
        assert!(val.is_empty() && fit.len() == 3);
        let (_, val) = validation_split(&labels, 3, 0.0, &mut rng);
        assert!(val.is_empty());
    }
}
