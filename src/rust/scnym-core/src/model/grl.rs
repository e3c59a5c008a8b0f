//! Gradient reversal: the identity forwards, `-lambda * gradient` backwards.

use crate::error::Result;
use tch::Tensor;

/// `x` unchanged in value; the gradient flowing back into `x` is multiplied by `-lambda`.
///
/// Written as `detach(x) - lambda * (x - detach(x))`: the second term is exactly zero in value, so
/// the forward output equals `x` bit for bit, and its derivative with respect to `x` is `-lambda`.
pub(crate) fn gradient_reversal(x: &Tensor, lambda: f64) -> Result<Tensor> {
    let fixed = x.f_detach()?;
    let zero_with_grad = x.f_sub(&fixed)?;
    Ok(fixed.f_sub(&zero_with_grad.f_mul_scalar(lambda)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn reverses_and_scales_the_gradient() {
        let x = Tensor::f_randn([3, 2], (Kind::Float, Device::Cpu))
            .unwrap()
            .f_set_requires_grad(true)
            .unwrap();
        let y = gradient_reversal(&x, 0.25).unwrap();
        let diff = y.f_sub(&x).unwrap().f_abs().unwrap().f_max().unwrap();
        assert_eq!(diff.f_double_value(&[]).unwrap(), 0.0);
        let s = y.f_sum(tch::Kind::Float).unwrap();
        let g = Tensor::f_run_backward(&[&s], &[&x], false, false).unwrap();
        let expect = Tensor::f_full([3, 2], -0.25, (Kind::Float, Device::Cpu)).unwrap();
        let err = g[0]
            .f_sub(&expect)
            .unwrap()
            .f_abs()
            .unwrap()
            .f_max()
            .unwrap();
        assert!(err.f_double_value(&[]).unwrap() < 1e-7);
    }
}
