//! The input scale: natural-log counts per million, `ln(1 + 1e6 * count / total)`.

/// The largest value a log1p-CPM matrix can hold: `ln(1 + 1e6)`.
pub const LOG1P_CPM_MAX: f64 = 13.815_511_557_963_774;

/// Largest accepted log1p-CPM value (with room for rounding in other tools).
pub fn log1p_cpm_max() -> f64 {
    LOG1P_CPM_MAX * (1.0 + 1e-5) + 1e-5
}

/// Normalises one cell's raw counts in place: `x -> ln(1 + 1e6 * x / total)`.
/// `total` is the cell's count over all input genes; a zero total leaves the row unchanged.
pub(crate) fn log1p_cpm_in_place(values: &mut [f64], total: f64) {
    if total <= 0.0 {
        return;
    }
    let scale = 1e6 / total;
    for v in values.iter_mut() {
        *v = (*v * scale).ln_1p();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpm_of_a_row() {
        let mut v = vec![1.0, 3.0];
        log1p_cpm_in_place(&mut v, 4.0);
        assert!((v[0] - (1.0f64 + 250_000.0).ln()).abs() < 1e-12);
        assert!((v[1] - (1.0f64 + 750_000.0).ln()).abs() < 1e-12);
        assert!((LOG1P_CPM_MAX - (1.0f64 + 1e6).ln()).abs() < 1e-12);
    }
}
