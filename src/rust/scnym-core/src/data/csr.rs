//! The expression store: a CSR matrix of cells x model genes holding log-normalised values as
//! f32. The full matrix is never densified; only mini-batches are. Its buffers are shared: a
//! clone (each ensemble member's training data, a cell store lent to a trainer) costs nothing.

use super::normalise::{log1p_cpm_max, log1p_normalise_in_place, Values};
use crate::error::{Error, Result};
use crate::par::{map_with, thread_ranges};
use std::ops::Range;
use std::sync::Arc;

/// Cells x model genes, log-normalised, compressed sparse rows (column indices sorted within a row).
#[derive(Clone, Debug, PartialEq)]
pub struct CsrMatrix {
    n_rows: usize,
    n_cols: usize,
    indptr: Arc<Vec<usize>>,
    indices: Arc<Vec<u32>>,
    values: Arc<Vec<f32>>,
}

/// Checks a gene map: one entry per input gene, each -1 or a model column, no column used twice.
fn check_gene_map(gene_map: &[i32], n_input_genes: usize, n_model_genes: usize) -> Result<()> {
    if gene_map.len() != n_input_genes {
        return Err(Error::arg(format!(
            "gene_map has {} entries but the input has {} genes",
            gene_map.len(),
            n_input_genes
        )));
    }
    if n_model_genes == 0 || n_model_genes > u32::MAX as usize {
        return Err(Error::arg(format!(
            "the number of model genes must be in 1..={}, not {n_model_genes}",
            u32::MAX
        )));
    }
    let mut seen = vec![false; n_model_genes];
    for (j, &m) in gene_map.iter().enumerate() {
        if m == -1 {
            continue;
        }
        if m < 0 || m as usize >= n_model_genes {
            return Err(Error::arg(format!(
                "gene_map[{j}] = {m} is neither -1 nor a model gene column in 0..{n_model_genes}"
            )));
        }
        if seen[m as usize] {
            return Err(Error::arg(format!(
                "gene_map maps two input genes to model gene column {m}"
            )));
        }
        seen[m as usize] = true;
    }
    Ok(())
}

/// Checks one input value and returns it.
fn check_value(v: f64, row: usize, values: Values) -> Result<f64> {
    let counts = matches!(values, Values::Counts { .. });
    if !v.is_finite() {
        return Err(Error::data(format!(
            "the expression value of cell {} is {v}: NA, NaN and infinite values are not allowed",
            row + 1
        )));
    }
    if v < 0.0 {
        return Err(Error::data(format!(
            "the expression value of cell {} is negative ({v}); expected {}",
            row + 1,
            if counts {
                "counts"
            } else {
                "log-normalised values"
            }
        )));
    }
    if !counts && v > log1p_cpm_max() {
        return Err(Error::data(format!(
            "the value {v} of cell {} is above ln(1 + 1e6) = 13.8155, so the data are not \
             log-normalised; pass raw counts instead",
            row + 1
        )));
    }
    Ok(v)
}

/// Accumulates rows of (model column, value) pairs.
struct Builder {
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    entries: Vec<(u32, f64)>,
}

impl Builder {
    fn new(n_rows: usize, n_cols: usize, nnz_hint: usize) -> Builder {
        let mut indptr = Vec::with_capacity(n_rows + 1);
        indptr.push(0);
        Builder {
            n_cols,
            indptr,
            indices: Vec::with_capacity(nnz_hint),
            values: Vec::with_capacity(nnz_hint),
            entries: Vec::new(),
        }
    }

    /// Finishes the current row from `self.entries` (already mapped to model columns); `size`
    /// is the cell's from [`Values::cell_size`].
    fn finish_row(&mut self, row: usize, values: Values, size: f64) -> Result<()> {
        let entries = &mut self.entries;
        entries.sort_unstable_by_key(|e| e.0);
        for w in entries.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(Error::data(format!(
                    "cell {} has two values for the same gene",
                    row + 1
                )));
            }
        }
        if let Values::Counts { scale_factor, .. } = values {
            log1p_normalise_in_place(entries.iter_mut().map(|e| &mut e.1), size, scale_factor);
        }
        for &(c, v) in entries.iter() {
            if v > 0.0 {
                self.indices.push(c);
                self.values.push(v as f32);
            }
        }
        entries.clear();
        self.indptr.push(self.indices.len());
        Ok(())
    }

    fn build(self) -> CsrMatrix {
        CsrMatrix {
            n_rows: self.indptr.len() - 1,
            n_cols: self.n_cols,
            indptr: Arc::new(self.indptr),
            indices: Arc::new(self.indices),
            values: Arc::new(self.values),
        }
    }
}

impl CsrMatrix {
    /// Borrowed CSR parts of a cells x input-genes matrix (R's genes x cells dgCMatrix `@p`, `@i`,
    /// `@x` are exactly this). `indptr` holds positions in `indices` and `values`, so the cells
    /// may be a range of a larger matrix's: its `@p` entries for them, and its whole `@i`, `@x`.
    /// `gene_map[j]` is the model-gene column of input gene `j`, or -1 to drop it. `values` says
    /// whether they are raw counts, normalised with the cell's size over all input genes (before
    /// dropping; [`Values::cell_size`]), or already normalised values, copied as they are.
    /// Validates the structure and the values. Many cells are read on the engine's threads (see
    /// `par::thread_ranges`).
    #[allow(clippy::too_many_arguments)]
    pub fn from_csr_parts(
        n_cells: usize,
        n_input_genes: usize,
        indptr: &[i32],
        indices: &[i32],
        values: &[f64],
        gene_map: &[i32],
        n_model_genes: usize,
        values_are: Values,
    ) -> Result<CsrMatrix> {
        check_gene_map(gene_map, n_input_genes, n_model_genes)?;
        if indptr.len() != n_cells + 1 {
            return Err(Error::data(format!(
                "the CSR row pointer has {} entries; expected n_cells + 1 = {}",
                indptr.len(),
                n_cells + 1
            )));
        }
        if indices.len() != values.len() {
            return Err(Error::data(format!(
                "the CSR matrix has {} indices but {} values",
                indices.len(),
                values.len()
            )));
        }
        if indptr[0] < 0 {
            return Err(Error::data("the CSR row pointer must not be negative"));
        }
        for (r, w) in indptr.windows(2).enumerate() {
            if w[1] < w[0] {
                return Err(Error::data(format!(
                    "the CSR row pointer decreases at cell {}",
                    r + 1
                )));
            }
        }
        let end = indptr[n_cells] as usize;
        if end > indices.len() {
            return Err(Error::data(format!(
                "the CSR row pointer ends at {end} but there are {} values",
                indices.len()
            )));
        }
        let read = |rows: Range<usize>| -> Result<CsrMatrix> {
            let nnz = (indptr[rows.end] - indptr[rows.start]) as usize;
            let mut b = Builder::new(rows.len(), n_model_genes, nnz);
            for row in rows {
                let (lo, hi) = (indptr[row] as usize, indptr[row + 1] as usize);
                let mut total = 0.0;
                for k in lo..hi {
                    let j = indices[k];
                    if j < 0 || j as usize >= n_input_genes {
                        return Err(Error::data(format!(
                            "gene index {j} of cell {} is outside 0..{n_input_genes}",
                            row + 1
                        )));
                    }
                    let v = check_value(values[k], row, values_are)?;
                    total += v;
                    let m = gene_map[j as usize];
                    if m >= 0 && v > 0.0 {
                        b.entries.push((m as u32, v));
                    }
                }
                let size = values_are.cell_size(values[lo..hi].iter().copied(), total);
                b.finish_row(row, values_are, size)?;
            }
            Ok(b.build())
        };
        let ranges = thread_ranges(n_cells);
        if ranges.len() <= 1 {
            return read(0..n_cells);
        }
        let mut parts = map_with(ranges, false, |_, rows| read(rows))?.into_iter();
        let mut x = parts
            .next()
            .ok_or_else(|| Error::internal("no rows read"))?;
        for part in parts {
            x.extend(&part)?;
        }
        Ok(x)
    }

    /// A dense row-major cells x input-genes matrix (an R genes x cells column-major matrix is
    /// exactly this); otherwise as [`CsrMatrix::from_csr_parts`].
    pub fn from_dense(
        n_cells: usize,
        n_input_genes: usize,
        values: &[f64],
        gene_map: &[i32],
        n_model_genes: usize,
        values_are: Values,
    ) -> Result<CsrMatrix> {
        check_gene_map(gene_map, n_input_genes, n_model_genes)?;
        let expected = n_cells
            .checked_mul(n_input_genes)
            .ok_or_else(|| Error::data("n_cells * n_input_genes overflows"))?;
        if values.len() != expected {
            return Err(Error::data(format!(
                "the dense matrix has {} values; expected {n_cells} cells x {n_input_genes} genes = {expected}",
                values.len()
            )));
        }
        let mut b = Builder::new(n_cells, n_model_genes, 0);
        for row in 0..n_cells {
            let cells = &values[row * n_input_genes..(row + 1) * n_input_genes];
            let mut total = 0.0;
            for (j, &raw) in cells.iter().enumerate() {
                let v = check_value(raw, row, values_are)?;
                total += v;
                let m = gene_map[j];
                if m >= 0 && v > 0.0 {
                    b.entries.push((m as u32, v));
                }
            }
            let size = values_are.cell_size(cells.iter().copied(), total);
            b.finish_row(row, values_are, size)?;
        }
        Ok(b.build())
    }

    /// Number of cells.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of model genes.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored non-zero values.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Row pointer, column indices and values.
    pub(crate) fn parts(&self) -> (&[usize], &[u32], &[f32]) {
        (&self.indptr, &self.indices, &self.values)
    }

    /// The sorted model columns and values of row `i` (panics if `i` is out of range; callers
    /// index only rows they validated).
    pub(crate) fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (lo, hi) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[lo..hi], &self.values[lo..hi])
    }

    /// The rows `rows` as a new matrix.
    pub fn select_rows(&self, rows: &[usize]) -> Result<CsrMatrix> {
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        indptr.push(0);
        let mut indices = Vec::new();
        let mut values = Vec::new();
        for &r in rows {
            if r >= self.n_rows {
                return Err(Error::arg(format!("row {r} is outside 0..{}", self.n_rows)));
            }
            let (c, v) = self.row(r);
            indices.extend_from_slice(c);
            values.extend_from_slice(v);
            indptr.push(indices.len());
        }
        Ok(CsrMatrix {
            n_rows: rows.len(),
            n_cols: self.n_cols,
            indptr: Arc::new(indptr),
            indices: Arc::new(indices),
            values: Arc::new(values),
        })
    }

    /// The same cells and columns with only the entries of the columns `keep` marks (one flag
    /// per column): the input of a model member that reads some genes only.
    pub fn keep_columns(&self, keep: &[bool]) -> Result<CsrMatrix> {
        if keep.len() != self.n_cols {
            return Err(Error::arg(format!(
                "{} column flags for a matrix with {} columns",
                keep.len(),
                self.n_cols
            )));
        }
        let mut indptr = Vec::with_capacity(self.n_rows + 1);
        indptr.push(0);
        let mut indices = Vec::new();
        let mut values = Vec::new();
        for r in 0..self.n_rows {
            let (c, v) = self.row(r);
            for (&j, &x) in c.iter().zip(v) {
                if keep[j as usize] {
                    indices.push(j);
                    values.push(x);
                }
            }
            indptr.push(indices.len());
        }
        Ok(CsrMatrix {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            indptr: Arc::new(indptr),
            indices: Arc::new(indices),
            values: Arc::new(values),
        })
    }

    /// Appends the rows of `tail` (same number of columns) in place; buffers shared with clones
    /// are copied first.
    pub fn extend(&mut self, tail: &CsrMatrix) -> Result<()> {
        if tail.n_cols != self.n_cols {
            return Err(Error::arg(format!(
                "cannot append rows with {} columns to a matrix with {}",
                tail.n_cols, self.n_cols
            )));
        }
        let offset = self.indices.len();
        Arc::make_mut(&mut self.indptr).extend(tail.indptr[1..].iter().map(|&p| p + offset));
        Arc::make_mut(&mut self.indices).extend_from_slice(&tail.indices);
        Arc::make_mut(&mut self.values).extend_from_slice(&tail.values);
        self.n_rows += tail.n_rows;
        Ok(())
    }

    /// This matrix followed by the rows `rows` of `other` (same number of columns).
    pub fn append_rows(&self, other: &CsrMatrix, rows: &[usize]) -> Result<CsrMatrix> {
        let mut out = self.clone();
        out.extend(&other.select_rows(rows)?)?;
        Ok(out)
    }

    /// The matrix as dense row-major f32 values (for tests and small matrices only).
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.n_rows * self.n_cols];
        for r in 0..self.n_rows {
            let (c, v) = self.row(r);
            for (&j, &x) in c.iter().zip(v) {
                out[r * self.n_cols + j as usize] = x;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::CPM;

    fn small() -> (Vec<i32>, Vec<i32>, Vec<f64>) {
        // 2 cells x 3 input genes: [[1, 0, 3], [0, 2, 0]]
        (vec![0, 2, 3], vec![0, 2, 1], vec![1.0, 3.0, 2.0])
    }

    #[test]
    fn many_cells_read_on_threads_as_in_one() {
        // 10,000 cells x 4 genes, read in parts on two threads; from_dense reads in one
        let n = 10_000;
        let dense: Vec<f64> = (0..n * 4).map(|k| ((k * 7) % 5) as f64).collect();
        let (mut p, mut i, mut x) = (vec![0], Vec::new(), Vec::new());
        for row in dense.chunks_exact(4) {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    i.push(j as i32);
                    x.push(v);
                }
            }
            p.push(i.len() as i32);
        }
        tch::set_num_threads(2);
        assert_eq!(thread_ranges(n).len(), 2);
        let map = [0, 1, -1, 2];
        let a = CsrMatrix::from_csr_parts(n, 4, &p, &i, &x, &map, 3, CPM).unwrap();
        assert_eq!(
            a,
            CsrMatrix::from_dense(n, 4, &dense, &map, 3, CPM).unwrap()
        );
        // an error in the second part names its cell
        *x.last_mut().unwrap() = -1.0;
        let e = CsrMatrix::from_csr_parts(n, 4, &p, &i, &x, &map, 3, CPM).unwrap_err();
        assert!(e.to_string().contains("cell 10000 is negative"), "{e}");
    }

    #[test]
    fn csr_and_dense_agree_and_normalise_over_all_genes() {
        let (p, i, x) = small();
        // drop input gene 2 from the model: totals still include it
        let map = [1, 0, -1];
        let a = CsrMatrix::from_csr_parts(2, 3, &p, &i, &x, &map, 2, CPM).unwrap();
        let dense = [1.0, 0.0, 3.0, 0.0, 2.0, 0.0];
        let b = CsrMatrix::from_dense(2, 3, &dense, &map, 2, CPM).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.n_rows(), a.n_cols(), a.nnz()), (2, 2, 2));
        let d = a.to_dense();
        assert!((d[1] as f64 - (1.0f64 + 250_000.0).ln()).abs() < 1e-5);
        assert_eq!(d[0], 0.0);
        assert!((d[2] as f64 - (1.0f64 + 1e6).ln()).abs() < 1e-5);
        // the dropped gene holds 3 of the first cell's 4 counts: capped at half, the size is
        // 1 + 2; the second cell's one gene counts 1 of its 2
        let capped = Values::Counts {
            scale_factor: 1e6,
            max_gene_fraction: 0.5,
        };
        let c = CsrMatrix::from_csr_parts(2, 3, &p, &i, &x, &map, 2, capped).unwrap();
        assert_eq!(
            c,
            CsrMatrix::from_dense(2, 3, &dense, &map, 2, capped).unwrap()
        );
        let d = c.to_dense();
        assert!((d[1] as f64 - (1.0f64 + 1e6 / 3.0).ln()).abs() < 1e-5);
        assert!((d[2] as f64 - (1.0f64 + 2e6).ln()).abs() < 1e-5);
    }

    #[test]
    fn extend_appends_rows_and_leaves_clones_alone() {
        let (p, i, x) = small();
        let a = CsrMatrix::from_csr_parts(2, 3, &p, &i, &x, &[0, 1, 2], 3, CPM).unwrap();
        let first = a.select_rows(&[0]).unwrap();
        let mut grown = first.clone();
        grown.extend(&a.select_rows(&[1]).unwrap()).unwrap();
        assert_eq!(grown, a);
        assert_eq!(first.n_rows(), 1);
        assert_eq!(first.append_rows(&a, &[1]).unwrap(), a);
        let narrow = CsrMatrix::from_csr_parts(2, 3, &p, &i, &x, &[0, 1, -1], 2, CPM).unwrap();
        assert!(grown.extend(&narrow).is_err());
    }

    #[test]
    fn rejects_bad_structure_and_values() {
        let (p, i, x) = small();
        let map = [0, 1, 2];
        let ok = CsrMatrix::from_csr_parts(2, 3, &p, &i, &x, &map, 3, CPM);
        assert!(ok.is_ok());
        let kind = |r: Result<CsrMatrix>| r.unwrap_err().kind();
        // row pointers that decrease, are negative, or end past the values
        for bad in [[0, 3, 2], [-1, 2, 3], [0, 2, 4]] {
            let r = CsrMatrix::from_csr_parts(2, 3, &bad, &i, &x, &map, 3, CPM);
            assert_eq!(kind(r), "invalid_data", "{bad:?}");
        }
        // the cells of a range of a larger matrix: positions in its indices and values
        let second = CsrMatrix::from_csr_parts(1, 3, &p[1..], &i, &x, &map, 3, CPM).unwrap();
        assert_eq!(second, ok.as_ref().unwrap().select_rows(&[1]).unwrap());
        assert_eq!(
            kind(CsrMatrix::from_csr_parts(3, 3, &p, &i, &x, &map, 3, CPM)),
            "invalid_data"
        );
        assert_eq!(
            kind(CsrMatrix::from_csr_parts(
                2,
                3,
                &p,
                &[0, 5, 1],
                &x,
                &map,
                3,
                CPM
            )),
            "invalid_data"
        );
        assert_eq!(
            kind(CsrMatrix::from_csr_parts(
                2,
                3,
                &p,
                &[0, 0, 1],
                &x,
                &map,
                3,
                CPM
            )),
            "invalid_data"
        );
        assert_eq!(
            kind(CsrMatrix::from_csr_parts(
                2,
                3,
                &p,
                &i,
                &[1.0, f64::NAN, 2.0],
                &map,
                3,
                CPM
            )),
            "invalid_data"
        );
        assert_eq!(
            kind(CsrMatrix::from_csr_parts(
                2,
                3,
                &p,
                &i,
                &[1.0, -1.0, 2.0],
                &map,
                3,
                CPM
            )),
            "invalid_data"
        );
        assert_eq!(
            kind(CsrMatrix::from_csr_parts(
                2,
                3,
                &p,
                &i,
                &[1.0, 20.0, 2.0],
                &map,
                3,
                Values::Normalised
            )),
            "invalid_data"
        );
        assert_eq!(
            kind(CsrMatrix::from_csr_parts(2, 3, &p, &i, &x, &[0, 1], 3, CPM)),
            "invalid_argument"
        );
        assert_eq!(
            kind(CsrMatrix::from_csr_parts(
                2,
                3,
                &p,
                &i,
                &x,
                &[0, 0, 1],
                3,
                CPM
            )),
            "invalid_argument"
        );
        assert_eq!(
            kind(CsrMatrix::from_csr_parts(
                2,
                3,
                &p,
                &i,
                &x,
                &[0, 1, 3],
                3,
                CPM
            )),
            "invalid_argument"
        );
        assert_eq!(
            kind(CsrMatrix::from_dense(2, 3, &[0.0; 5], &map, 3, CPM)),
            "invalid_data"
        );
        assert_eq!(
            kind(CsrMatrix::from_dense(
                1,
                3,
                &[0.0, f64::INFINITY, 1.0],
                &map,
                3,
                CPM
            )),
            "invalid_data"
        );
    }

    #[test]
    fn log1p_input_is_copied() {
        let m = CsrMatrix::from_dense(1, 2, &[0.5, 13.8], &[0, 1], 2, Values::Normalised).unwrap();
        assert_eq!(m.to_dense(), vec![0.5, 13.8]);
        let s = m.select_rows(&[0, 0]).unwrap();
        assert_eq!(s.n_rows(), 2);
        assert!(m.select_rows(&[1]).is_err());
    }

    #[test]
    fn keep_columns_drops_the_other_columns_entries() {
        let dense = [0.5, 0.0, 2.0, 1.0, 3.0, 0.0];
        let m = CsrMatrix::from_dense(2, 3, &dense, &[0, 1, 2], 3, Values::Normalised).unwrap();
        let kept = m.keep_columns(&[true, false, true]).unwrap();
        assert_eq!((kept.n_rows(), kept.n_cols()), (2, 3));
        assert_eq!(kept.to_dense(), vec![0.5, 0.0, 2.0, 1.0, 0.0, 0.0]);
        assert!(m.keep_columns(&[true]).is_err());
    }
}
