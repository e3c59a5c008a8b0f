//! One pass over the raw values a user passed, summarising what R's input checks need: values
//! that are missing, infinite or negative, the range, whether all are whole numbers (counts), and
//! the cells without any expression.

/// The summary of an input's values (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct ValueSummary {
    /// R's `NA` (a NaN with the payload 1954).
    pub n_na: usize,
    /// Other NaN values.
    pub n_nan: usize,
    /// Infinite values.
    pub n_inf: usize,
    /// Finite negative values.
    pub n_negative: usize,
    /// Smallest and largest finite value (+inf and -inf when there is none).
    pub min: f64,
    pub max: f64,
    /// Whether every finite value is a whole number.
    pub whole: bool,
    /// Cells (0-based) whose finite values sum to zero.
    pub empty_cells: Vec<usize>,
}

impl ValueSummary {
    fn new() -> ValueSummary {
        ValueSummary {
            n_na: 0,
            n_nan: 0,
            n_inf: 0,
            n_negative: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            whole: true,
            empty_cells: Vec::new(),
        }
    }

    fn add_cell(&mut self, cell: usize, values: &[f64]) {
        let mut total = 0.0;
        for &v in values {
            if v.is_nan() {
                if v.to_bits() & 0xFFFF_FFFF == 1954 {
                    self.n_na += 1;
                } else {
                    self.n_nan += 1;
                }
                continue;
            }
            if v.is_infinite() {
                self.n_inf += 1;
                continue;
            }
            if v < 0.0 {
                self.n_negative += 1;
            }
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            self.whole &= v == v.round();
            total += v;
        }
        if total == 0.0 {
            self.empty_cells.push(cell);
        }
    }

    /// The values of a cells x genes CSR matrix (`indptr` has one entry per cell and one more;
    /// it is not validated here beyond staying inside `values`).
    pub fn of_csr(indptr: &[i32], values: &[f64]) -> ValueSummary {
        let mut s = ValueSummary::new();
        for (cell, w) in indptr.windows(2).enumerate() {
            let lo = (w[0].max(0) as usize).min(values.len());
            let hi = (w[1].max(0) as usize).clamp(lo, values.len());
            s.add_cell(cell, &values[lo..hi]);
        }
        s
    }

    /// The values of a dense row-major cells x genes matrix.
    pub fn of_dense(n_genes: usize, values: &[f64]) -> ValueSummary {
        let mut s = ValueSummary::new();
        if n_genes > 0 {
            for (cell, row) in values.chunks(n_genes).enumerate() {
                s.add_cell(cell, row);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_kind_of_value() {
        let na = f64::from_bits(0x7FF0_0000_0000_07A2);
        // 3 cells: [1, 2.5], [], [NaN, NA, -2, inf]
        let s = ValueSummary::of_csr(
            &[0, 2, 2, 6],
            &[1.0, 2.5, f64::NAN, na, -2.0, f64::INFINITY],
        );
        assert_eq!((s.n_na, s.n_nan, s.n_inf, s.n_negative), (1, 1, 1, 1));
        assert_eq!((s.min, s.max, s.whole), (-2.0, 2.5, false));
        assert_eq!(s.empty_cells, vec![1]);
        let d = ValueSummary::of_dense(2, &[0.0, 0.0, 3.0, 1.0]);
        assert_eq!(
            (d.min, d.max, d.whole, d.empty_cells),
            (0.0, 3.0, true, vec![0])
        );
        assert_eq!(
            ValueSummary::of_csr(&[0, 1], &[4.0]),
            ValueSummary::of_dense(1, &[4.0])
        );
    }
}
