//! The input scale: `ln(1 + scale_factor * count / size)` (`Config::scale_factor`), with the
//! cell's size from [`Values::cell_size`] (`Config::max_gene_fraction`).

/// How the values of an input matrix are read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Values {
    /// Raw counts, normalised to `ln(1 + scale_factor * count / size)` with the cell's size
    /// from [`Values::cell_size`].
    Counts {
        scale_factor: f64,
        max_gene_fraction: f64,
    },
    /// Values already normalised (at most `ln(1 + 1e6)`), copied as they are.
    Normalised,
}

/// Raw counts normalised to counts per million (the paper's scale).
pub const CPM: Values = Values::Counts {
    scale_factor: 1e6,
    max_gene_fraction: 1.0,
};

impl Values {
    /// The denominator of a cell's normalisation: its total count over all input genes
    /// (`total`), each gene (`counts`, the same values) counted up to `max_gene_fraction` of that
    /// total, so that one gene holding most of a cell's counts (a hormone in an islet cell,
    /// haemoglobin in an erythrocyte) does not shrink the values of all its other genes. With
    /// `max_gene_fraction = 1`, or for normalised values, the total.
    pub(crate) fn cell_size(self, counts: impl Iterator<Item = f64>, total: f64) -> f64 {
        match self {
            Values::Counts {
                max_gene_fraction, ..
            } if max_gene_fraction < 1.0 => {
                let cap = max_gene_fraction * total;
                counts.map(|c| c.min(cap)).sum()
            }
            _ => total,
        }
    }
}

/// The largest value a normalised matrix can hold: `ln(1 + 1e6)`, a cell whose counts all fall
/// on one gene at the largest scale.
pub const LOG1P_CPM_MAX: f64 = 13.815_511_557_963_774;

/// Largest accepted normalised value (with room for rounding in other tools).
pub fn log1p_cpm_max() -> f64 {
    LOG1P_CPM_MAX * (1.0 + 1e-5) + 1e-5
}

/// Normalises one cell's raw counts in place: `x -> ln(1 + scale_factor * x / size)`, `size`
/// from [`Values::cell_size`]; a zero size leaves the row unchanged.
pub(crate) fn log1p_normalise_in_place<'a>(
    values: impl IntoIterator<Item = &'a mut f64>,
    size: f64,
    scale_factor: f64,
) {
    if size <= 0.0 {
        return;
    }
    let scale = scale_factor / size;
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

    #[test]
    fn a_dominant_gene_counts_up_to_its_cap() {
        let counts = [90.0, 6.0, 4.0];
        let capped = Values::Counts {
            scale_factor: 1e4,
            max_gene_fraction: 0.2,
        };
        // 20 of the first gene's 90 count: 20 + 6 + 4
        assert_eq!(capped.cell_size(counts.iter().copied(), 100.0), 30.0);
        assert_eq!(CPM.cell_size(counts.iter().copied(), 100.0), 100.0);
        assert_eq!(
            Values::Normalised.cell_size(counts.iter().copied(), 100.0),
            100.0
        );
        // a cell without a dominant gene keeps its total
        let even = [25.0, 25.0, 25.0, 25.0];
        let capped_at_quarter = Values::Counts {
            scale_factor: 1e4,
            max_gene_fraction: 0.25,
        };
        assert_eq!(
            capped_at_quarter.cell_size(even.iter().copied(), 100.0),
            100.0
        );
    }
}
