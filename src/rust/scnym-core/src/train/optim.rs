//! Adadelta (Zeiler 2012) with L2 weight decay added to the gradient, as torch.optim.Adadelta:
//! `g += wd p; v = rho v + (1-rho) g^2; d = sqrt(u + eps) / sqrt(v + eps) * g;
//!  u = rho u + (1-rho) d^2; p -= lr d`.
//!
//! The update runs as one fused loop in Rust over each parameter, in place (its state lives in
//! Rust): a chain of libtorch element-wise ops would make about 16 passes over memory. Large
//! parameters (the first layer's weights) are updated in slices on several threads; each element's
//! update is the same whatever the split.

use crate::error::{Error, Result};
use crate::par::map_with;
use crate::tensor_io::{is_plain_cpu_f32, read_f32, write_f32};
use tch::{Kind, Tensor};

#[derive(Clone, Copy)]
struct Hyper {
    lr: f32,
    rho: f32,
    eps: f32,
    wd: f32,
}

pub(crate) struct Adadelta {
    hyper: Hyper,
    square_avg: Vec<Vec<f32>>,
    acc_delta: Vec<Vec<f32>>,
}

impl Adadelta {
    /// State for `params` (the same list, in the same order, must be passed to `step`).
    pub fn new(params: &[&Tensor], lr: f64, rho: f64, eps: f64, weight_decay: f64) -> Result<Self> {
        let sizes: Vec<usize> = params.iter().map(|p| p.numel()).collect();
        Ok(Adadelta {
            hyper: Hyper {
                lr: lr as f32,
                rho: rho as f32,
                eps: eps as f32,
                wd: weight_decay as f32,
            },
            square_avg: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            acc_delta: sizes.iter().map(|&n| vec![0.0; n]).collect(),
        })
    }

    /// Updates every parameter that has a (defined) gradient, on up to `threads` threads.
    pub fn step(
        &mut self,
        params: &[&Tensor],
        grads: &[Option<&Tensor>],
        threads: usize,
    ) -> Result<()> {
        let _guard = tch::no_grad_guard();
        if params.len() != self.square_avg.len() || grads.len() != params.len() {
            return Err(Error::internal(
                "optimizer called with a different parameter list",
            ));
        }
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let Some(g) = g else { continue };
            if !g.defined() {
                continue;
            }
            let n = self.square_avg[i].len();
            if p.numel() != n || g.numel() != n {
                return Err(Error::internal("parameter and gradient sizes differ"));
            }
            let g = g.f_contiguous()?;
            if is_plain_cpu_f32(p) && is_plain_cpu_f32(&g) {
                // in place: one pass over parameter, gradient and state
                let mut p = p.shallow_clone();
                let (sq, acc) = (&mut self.square_avg[i], &mut self.acc_delta[i]);
                let h = self.hyper;
                read_f32(&g, |gv| {
                    write_f32(&mut p, |pv| update_par(h, pv, gv, sq, acc, threads))
                })???;
            } else {
                // another device: through host copies
                let mut pv = vec![0f32; n];
                p.f_to_kind(Kind::Float)?.f_copy_data(&mut pv, n)?;
                let mut gv = vec![0f32; n];
                g.f_to_kind(Kind::Float)?.f_copy_data(&mut gv, n)?;
                update(
                    self.hyper,
                    &mut pv,
                    &gv,
                    &mut self.square_avg[i],
                    &mut self.acc_delta[i],
                );
                let updated = Tensor::f_from_slice(&pv)?
                    .f_view(p.size().as_slice())?
                    .f_to_device(p.device())?;
                let mut dst = p.shallow_clone();
                dst.f_copy_(&updated)?;
            }
        }
        Ok(())
    }
}

/// Smallest slice of a parameter worth a thread of its own.
const MIN_PER_THREAD: usize = 1 << 18;

/// [`update`] in slices on up to `threads` threads (`par::map_with`).
fn update_par(
    h: Hyper,
    p: &mut [f32],
    g: &[f32],
    sq: &mut [f32],
    acc: &mut [f32],
    threads: usize,
) -> Result<()> {
    let parts = threads.clamp(1, (p.len() / MIN_PER_THREAD).max(1));
    if parts == 1 {
        update(h, p, g, sq, acc);
        return Ok(());
    }
    let per = p.len().div_ceil(parts);
    let slices: Vec<_> = p
        .chunks_mut(per)
        .zip(g.chunks(per))
        .zip(sq.chunks_mut(per))
        .zip(acc.chunks_mut(per))
        .collect();
    map_with(slices, false, |_, (((p, g), sq), acc)| {
        update(h, p, g, sq, acc);
        Ok(())
    })?;
    Ok(())
}

/// One fused Adadelta update of `p` with gradient `g` and state `sq`, `acc`.
fn update(h: Hyper, p: &mut [f32], g: &[f32], sq: &mut [f32], acc: &mut [f32]) {
    let Hyper { lr, rho, eps, wd } = h;
    for (((p, &g), v), u) in p.iter_mut().zip(g).zip(sq.iter_mut()).zip(acc.iter_mut()) {
        let g = g + wd * *p;
        *v = rho * *v + (1.0 - rho) * g * g;
        let d = (*u + eps).sqrt() / (*v + eps).sqrt() * g;
        *u = rho * *u + (1.0 - rho) * d * d;
        *p -= lr * d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn matches_the_adadelta_formula() {
        let p = Tensor::f_from_slice(&[1.0f32, -2.0]).unwrap();
        let g = Tensor::f_from_slice(&[0.5f32, 0.25]).unwrap();
        let mut opt = Adadelta::new(&[&p], 1.0, 0.9, 1e-6, 0.1).unwrap();
        opt.step(&[&p], &[Some(&g)], 1).unwrap();
        opt.step(&[&p], &[Some(&g)], 1).unwrap();
        // reference in f64
        let (mut pp, mut v, mut u) = ([1.0f64, -2.0], [0.0f64; 2], [0.0f64; 2]);
        for _ in 0..2 {
            for k in 0..2 {
                let gg = [0.5, 0.25][k] + 0.1 * pp[k];
                v[k] = 0.9 * v[k] + 0.1 * gg * gg;
                let d = (u[k] + 1e-6f64).sqrt() / (v[k] + 1e-6f64).sqrt() * gg;
                u[k] = 0.9 * u[k] + 0.1 * d * d;
                pp[k] -= d;
            }
        }
        let got = Vec::<f32>::try_from(&p).unwrap();
        for k in 0..2 {
            assert!((got[k] as f64 - pp[k]).abs() < 1e-6, "{got:?} vs {pp:?}");
        }
        let _ = Device::Cpu;
    }

    #[test]
    fn threads_do_not_change_the_update() {
        let n = 3 * MIN_PER_THREAD + 17;
        let h = Hyper {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            wd: 1e-4,
        };
        let g: Vec<f32> = (0..n)
            .map(|k| ((k * 7919) % 1013) as f32 / 500.0 - 1.0)
            .collect();
        let start: Vec<f32> = (0..n)
            .map(|k| ((k * 104729) % 997) as f32 / 400.0 - 1.2)
            .collect();
        let run = |threads: usize| {
            let (mut p, mut sq, mut acc) = (start.clone(), vec![0.1f32; n], vec![0.2f32; n]);
            for _ in 0..3 {
                update_par(h, &mut p, &g, &mut sq, &mut acc, threads).unwrap();
            }
            (p, sq, acc)
        };
        let one = run(1);
        for threads in [2, 3, 8] {
            assert!(run(threads) == one, "{threads} threads");
        }
    }
}
