//! One pass over the raw values a user passed, summarising what R's input checks need: values
//! that are missing, infinite or negative, the range, whether all are whole numbers (counts), and
//! the cells without any expression.

use crate::error::Result;
use crate::par::{map_with, thread_ranges};
use std::ops::Range;

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

    /// This summary joined with that of the cells that follow.
    fn join(mut self, next: ValueSummary) -> ValueSummary {
        self.n_na += next.n_na;
        self.n_nan += next.n_nan;
        self.n_inf += next.n_inf;
        self.n_negative += next.n_negative;
        self.min = self.min.min(next.min);
        self.max = self.max.max(next.max);
        self.whole &= next.whole;
        self.empty_cells.extend(next.empty_cells);
        self
    }

    /// The values of a cells x genes CSR matrix (`indptr` has one entry per cell and one more;
    /// it is not validated here beyond staying inside `values`). Many cells are scanned on the
    /// engine's threads (see `par::thread_ranges`).
    pub fn of_csr(indptr: &[i32], values: &[f64]) -> Result<ValueSummary> {
        let scan = |cells: Range<usize>| -> Result<ValueSummary> {
            let mut s = ValueSummary::new();
            for cell in cells {
                let lo = (indptr[cell].max(0) as usize).min(values.len());
                let hi = (indptr[cell + 1].max(0) as usize).clamp(lo, values.len());
                s.add_cell(cell, &values[lo..hi]);
            }
            Ok(s)
        };
        let n = indptr.len().saturating_sub(1);
        Ok(map_with(thread_ranges(n), false, |_, cells| scan(cells))?
            .into_iter()
            .fold(ValueSummary::new(), ValueSummary::join))
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
        )
        .unwrap();
        assert_eq!((s.n_na, s.n_nan, s.n_inf, s.n_negative), (1, 1, 1, 1));
        assert_eq!((s.min, s.max, s.whole), (-2.0, 2.5, false));
        assert_eq!(s.empty_cells, vec![1]);
        let d = ValueSummary::of_dense(2, &[0.0, 0.0, 3.0, 1.0]);
        assert_eq!(
            (d.min, d.max, d.whole, d.empty_cells),
            (0.0, 3.0, true, vec![0])
        );
        assert_eq!(
            ValueSummary::of_csr(&[0, 1], &[4.0]).unwrap(),
            ValueSummary::of_dense(1, &[4.0])
        );
    }

    #[test]
    fn many_cells_scanned_on_threads_as_in_one() {
        // 10,000 cells of 3 genes; every 7th cell empty, an NA and a negative in the last cells
        let n = 10_000;
        let mut dense: Vec<f64> = (0..n * 3)
            .map(|k| {
                if (k / 3) % 7 == 0 {
                    0.0
                } else {
                    (k % 4) as f64
                }
            })
            .collect();
        dense[n * 3 - 1] = f64::from_bits(0x7FF0_0000_0000_07A2);
        dense[n * 3 - 4] = -0.5;
        let (mut p, mut x) = (vec![0], Vec::new());
        for row in dense.chunks_exact(3) {
            x.extend(row.iter().filter(|&&v| v != 0.0));
            p.push(x.len() as i32);
        }
        tch::set_num_threads(2);
        assert_eq!(thread_ranges(n).len(), 2);
        let s = ValueSummary::of_csr(&p, &x).unwrap();
        assert_eq!(s, ValueSummary::of_dense(3, &dense));
        assert_eq!((s.n_na, s.n_negative, s.whole), (1, 1, false));
        assert_eq!(s.empty_cells.len(), n.div_ceil(7));
    }
}
