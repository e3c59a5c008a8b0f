//! Expression data: the CSR store, input value checks, normalisation, mini-batches, augmentation
//! and MixUp.

mod augment;
mod batch;
mod csr;
mod fastmath;
mod mixup;
mod normalise;
mod scan;
mod spmm;
mod variable_genes;

pub use csr::CsrMatrix;
pub use normalise::{log1p_cpm_max, Values, CPM, LOG1P_CPM_MAX};
pub use scan::ValueSummary;
pub use variable_genes::variable_genes;

pub(crate) use augment::gene_factors;
pub(crate) use batch::SparseBatch;
pub use batch::{auto_dense_above, FirstLayerMode};
pub(crate) use mixup::mixup_plan;
pub(crate) use spmm::uses_avx2_fma;
