//! Helpers shared by the unit tests.
use tch::Tensor;

/// Largest absolute element-wise difference of two tensors.
pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    a.f_sub(b)
        .unwrap()
        .f_abs()
        .unwrap()
        .f_max()
        .unwrap()
        .f_double_value(&[])
        .unwrap()
}
