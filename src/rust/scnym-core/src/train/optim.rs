//! Adadelta (Zeiler 2012) with L2 weight decay added to the gradient, as torch.optim.Adadelta:
//! `g += wd p; v = rho v + (1-rho) g^2; d = sqrt(u + eps) / sqrt(v + eps) * g;
//!  u = rho u + (1-rho) d^2; p -= lr d`.

use crate::error::Result;
use tch::Tensor;

pub(crate) struct Adadelta {
    lr: f64,
    rho: f64,
    eps: f64,
    weight_decay: f64,
    square_avg: Vec<Tensor>,
    acc_delta: Vec<Tensor>,
}

impl Adadelta {
    /// State for `params` (the same list, in the same order, must be passed to `step`).
    pub fn new(params: &[&Tensor], lr: f64, rho: f64, eps: f64, weight_decay: f64) -> Result<Self> {
        let _guard = tch::no_grad_guard();
        let mut square_avg = Vec::with_capacity(params.len());
        let mut acc_delta = Vec::with_capacity(params.len());
        for p in params {
            square_avg.push(p.f_detach()?.f_zeros_like()?);
            acc_delta.push(p.f_detach()?.f_zeros_like()?);
        }
        Ok(Adadelta {
            lr,
            rho,
            eps,
            weight_decay,
            square_avg,
            acc_delta,
        })
    }

    /// Updates every parameter that has a (defined) gradient.
    pub fn step(&mut self, params: &[&Tensor], grads: &[Option<&Tensor>]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let (rho, eps) = (self.rho, self.eps);
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let Some(g) = g else { continue };
            if !g.defined() {
                continue;
            }
            let mut p = p.shallow_clone();
            let g = if self.weight_decay > 0.0 {
                g.f_add(&p.f_mul_scalar(self.weight_decay)?)?
            } else {
                g.shallow_clone()
            };
            let sq = &mut self.square_avg[i];
            let _ = sq.f_mul_scalar_(rho)?;
            let _ = sq.f_add_(&g.f_mul(&g)?.f_mul_scalar_(1.0 - rho)?)?;
            let std = sq.f_add_scalar(eps)?.f_sqrt_()?;
            let acc = &mut self.acc_delta[i];
            let mut delta = acc.f_add_scalar(eps)?.f_sqrt_()?.f_div_(&std)?.f_mul_(&g)?;
            let _ = acc.f_mul_scalar_(rho)?;
            let _ = acc.f_add_(&delta.f_mul(&delta)?.f_mul_scalar_(1.0 - rho)?)?;
            let _ = p.f_sub_(&delta.f_mul_scalar_(self.lr)?)?;
        }
        Ok(())
    }
}
