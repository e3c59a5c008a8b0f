//! The domain adversary `g`: embedding -> Linear -> ReLU -> Linear(n_domains). No BatchNorm.

use super::layers::Linear;
use crate::error::Result;
use crate::rng::EngineRng;
use tch::{Device, Tensor};

pub(crate) struct Adversary {
    pub hidden: Linear,
    pub output: Linear,
}

impl Adversary {
    pub fn new(
        width: usize,
        n_domains: usize,
        rng: &mut EngineRng,
        device: Device,
    ) -> Result<Self> {
        let mut a = Adversary {
            hidden: Linear::new(width, width, rng, device)?,
            output: Linear::new(width, n_domains, rng, device)?,
        };
        a.track_gradients()?;
        Ok(a)
    }

    pub fn params(&self) -> Vec<&Tensor> {
        vec![
            &self.hidden.weight,
            &self.hidden.bias,
            &self.output.weight,
            &self.output.bias,
        ]
    }

    /// The adversary only exists in training: its parameters always track gradients.
    fn track_gradients(&mut self) -> Result<()> {
        for t in [
            &mut self.hidden.weight,
            &mut self.hidden.bias,
            &mut self.output.weight,
            &mut self.output.bias,
        ] {
            *t = t.f_detach()?.f_set_requires_grad(true)?;
        }
        Ok(())
    }

    /// Domain logits.
    pub fn forward(&self, embedding: &Tensor) -> Result<Tensor> {
        let h = self.hidden.forward(embedding)?.f_relu()?;
        self.output.forward(&h)
    }

    /// This head with its parameters held fixed (detached): a loss on its logits sends gradient
    /// only into the embedding it is given.
    pub fn detached(&self) -> Result<Adversary> {
        let fixed = |l: &Linear| -> Result<Linear> {
            Ok(Linear {
                weight: l.weight.f_detach()?,
                bias: l.bias.f_detach()?,
            })
        };
        Ok(Adversary {
            hidden: fixed(&self.hidden)?,
            output: fixed(&self.output)?,
        })
    }
}
