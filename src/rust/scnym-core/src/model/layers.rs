//! The two layer types of the networks, as plain tensors (no libtorch module system), so that
//! naming, initialisation, persistence and the optimiser stay in our hands.

use crate::error::Result;
use crate::rng::EngineRng;
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// Uniform(-bound, bound) values drawn from our own generator (device-independent initialisation).
pub(crate) fn uniform(
    shape: &[i64],
    bound: f64,
    rng: &mut EngineRng,
    device: Device,
) -> Result<Tensor> {
    let n: i64 = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| rng.gen_range(-bound..bound) as f32)
        .collect();
    Ok(Tensor::f_from_slice(&values)?
        .f_view(shape)?
        .f_to_device(device)?)
}

/// `y = x W^T + b`, W of shape [out, in].
pub(crate) struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    /// PyTorch's default initialisation: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    pub fn new(n_in: usize, n_out: usize, rng: &mut EngineRng, device: Device) -> Result<Linear> {
        let bound = 1.0 / (n_in.max(1) as f64).sqrt();
        Ok(Linear {
            weight: uniform(&[n_out as i64, n_in as i64], bound, rng, device)?,
            bias: uniform(&[n_out as i64], bound, rng, device)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_linear(&self.weight, Some(&self.bias))?)
    }
}

/// BatchNorm1d with affine parameters and running statistics (momentum 0.1, eps 1e-5).
pub(crate) struct BatchNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
}

impl BatchNorm {
    pub fn new(width: usize, device: Device) -> Result<BatchNorm> {
        let opts = (Kind::Float, device);
        let w = width as i64;
        Ok(BatchNorm {
            weight: Tensor::f_ones([w], opts)?,
            bias: Tensor::f_zeros([w], opts)?,
            running_mean: Tensor::f_zeros([w], opts)?,
            running_var: Tensor::f_ones([w], opts)?,
        })
    }

    /// Train mode normalises with the batch statistics and updates the running ones in place.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(x.f_batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            0.1,
            1e-5,
            false,
        )?)
    }
}
