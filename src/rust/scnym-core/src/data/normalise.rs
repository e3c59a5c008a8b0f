//! The input scale: `ln(1 + scale_factor * count / total)` (`Config::scale_factor`).

/// How the values of an input matrix are read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Values {
    /// Raw counts, normalised to `ln(1 + scale_factor * count / total)` with `total` over all
    /// input genes of the cell.
    Counts { scale_factor: f64 },
    /// Values already normalised (at most `ln(1 + 1e6)`), copied as they are.
    Normalised,
}

/// Raw counts normalised to counts per million (the paper's scale).
pub const CPM: Values = Values::Counts { scale_factor: 1e6 };

/// The largest value a normalised matrix can hold: `ln(1 + 1e6)`, a cell whose counts all fall
/// on one gene at the largest scale.
pub const LOG1P_CPM_MAX: f64 = 13.815_511_557_963_774;

/// Largest accepted normalised value (with room for rounding in other tools).
pub fn log1p_cpm_max() -> f64 {
    LOG1P_CPM_MAX * (1.0 + 1e-5) + 1e-5
}

/// Normalises one cell's raw counts in place: `x -> ln(1 + scale_factor * x / total)`.
/// `total` is the cell's count over all input genes; a zero total leaves the row unchanged.
pub(crate) fn log1p_normalise_in_place<'a>(
    values: impl IntoIterator<Item = &'a mut f64>,
    total: f64,
    scale_factor: f64,
) {
    if total <= 0.0 {
        return;
    }
    let scale = scale_factor / total;
    for v in values {
        *v = (*v * scale).ln_1p();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpm_of_a_row() {
        let mut v = vec![1.0, 3.0];
        log1p_normalise_in_place(&mut v, 4.0, 1e6);
        assert!((v[0] - (1.0f64 + 250_000.0).ln()).abs() < 1e-12);
        assert!((v[1] - (1.0f64 + 750_000.0).ln()).abs() < 1e-12);
        assert!((LOG1P_CPM_MAX - (1.0f64 + 1e6).ln()).abs() < 1e-12);
    }
}
