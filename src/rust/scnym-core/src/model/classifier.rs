//! The classifier `f`: input genes -> `n_hidden` blocks (Linear -> BatchNorm -> ReLU -> Dropout)
//! -> class logits. The embedding is the output of the last block.
//!
//! The first Linear layer is kept transposed ([genes, width]) and is applied outside autograd by
//! [`SparseBatch::times`]; its gradient `X^T dH` is computed by the trainer from the gradient with
//! respect to the layer's output. Everything after it runs through libtorch's autograd.

use super::layers::{uniform, BatchNorm, Linear};
use crate::data::{FirstLayerMode, SparseBatch};
use crate::error::{Error, Result};
use crate::rng::EngineRng;
use tch::{Device, Tensor};

/// Whether a stored tensor is learned or a running statistic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The first layer's weight: learned, gradient computed outside autograd.
    InputWeight,
    /// A learned parameter with an autograd gradient.
    Param,
    /// A BatchNorm running statistic.
    Buffer,
}

/// The sizes that fix the classifier's tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub n_genes: usize,
    pub width: usize,
    pub n_hidden: usize,
    pub n_classes: usize,
}

pub(crate) struct Classifier {
    pub shape: Shape,
    pub dropout: f64,
    /// First layer weight, transposed: [n_genes, width].
    pub input_weight: Tensor,
    pub input_bias: Tensor,
    /// Linear layers of blocks 2..=n_hidden.
    pub hidden: Vec<Linear>,
    /// One BatchNorm per block.
    pub norms: Vec<BatchNorm>,
    pub output: Linear,
}

impl Shape {
    /// Names, shapes and roles of every stored tensor, in a fixed order.
    pub fn tensor_specs(&self) -> Vec<(String, Vec<i64>, Role)> {
        let (g, w, c) = (
            self.n_genes as i64,
            self.width as i64,
            self.n_classes as i64,
        );
        let mut specs = vec![
            (
                "classifier.input.weight_t".to_string(),
                vec![g, w],
                Role::InputWeight,
            ),
            ("classifier.input.bias".to_string(), vec![w], Role::Param),
        ];
        for l in 1..self.n_hidden {
            specs.push((
                format!("classifier.hidden.{l}.weight"),
                vec![w, w],
                Role::Param,
            ));
            specs.push((format!("classifier.hidden.{l}.bias"), vec![w], Role::Param));
        }
        for l in 0..self.n_hidden {
            specs.push((format!("classifier.norm.{l}.weight"), vec![w], Role::Param));
            specs.push((format!("classifier.norm.{l}.bias"), vec![w], Role::Param));
            specs.push((
                format!("classifier.norm.{l}.running_mean"),
                vec![w],
                Role::Buffer,
            ));
            specs.push((
                format!("classifier.norm.{l}.running_var"),
                vec![w],
                Role::Buffer,
            ));
        }
        specs.push((
            "classifier.output.weight".to_string(),
            vec![c, w],
            Role::Param,
        ));
        specs.push(("classifier.output.bias".to_string(), vec![c], Role::Param));
        specs
    }
}

impl Classifier {
    /// A freshly initialised classifier (PyTorch's default initialisation, from our generator).
    /// `inputs`: the genes (ascending rows of the first layer) a classifier that reads only some
    /// genes reads; its other rows are zero, and stay zero in training since those genes' inputs
    /// are zero (no gradient, and weight decay keeps zero). It draws what a classifier of just
    /// those genes draws.
    pub fn new(
        shape: Shape,
        dropout: f64,
        rng: &mut EngineRng,
        device: Device,
        inputs: Option<&[usize]>,
    ) -> Result<Self> {
        let (g, w) = (shape.n_genes as i64, shape.width as i64);
        let (input_weight, fan_in) = match inputs {
            None => {
                let bound = 1.0 / (shape.n_genes.max(1) as f64).sqrt();
                (uniform(&[g, w], bound, rng, device)?, shape.n_genes)
            }
            Some(rows) => {
                let bound = 1.0 / (rows.len().max(1) as f64).sqrt();
                let drawn = uniform(&[rows.len() as i64, w], bound, rng, device)?;
                let index: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
                let index = Tensor::f_from_slice(&index)?.f_to_device(device)?;
                let zeros = Tensor::f_zeros([g, w], (tch::Kind::Float, device))?;
                (zeros.f_index_copy(0, &index, &drawn)?, rows.len())
            }
        };
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let input_bias = uniform(&[w], bound, rng, device)?;
        let mut hidden = Vec::new();
        for _ in 1..shape.n_hidden {
            hidden.push(Linear::new(shape.width, shape.width, rng, device)?);
        }
        let mut norms = Vec::new();
        for _ in 0..shape.n_hidden {
            norms.push(BatchNorm::new(shape.width, device)?);
        }
        let output = Linear::new(shape.width, shape.n_classes, rng, device)?;
        Ok(Classifier {
            shape,
            dropout,
            input_weight,
            input_bias,
            hidden,
            norms,
            output,
        })
    }

    /// Builds a classifier from tensors in the order of [`Shape::tensor_specs`].
    pub fn from_tensors(shape: Shape, dropout: f64, tensors: Vec<Tensor>) -> Result<Self> {
        let n_expected = shape.tensor_specs().len();
        if tensors.len() != n_expected {
            return Err(Error::internal(format!(
                "{} tensors for a classifier of {n_expected}",
                tensors.len()
            )));
        }
        let mut it = tensors.into_iter();
        let mut next = || it.next().ok_or_else(|| Error::internal("missing tensor"));
        let input_weight = next()?;
        let input_bias = next()?;
        let mut hidden = Vec::new();
        for _ in 1..shape.n_hidden {
            let weight = next()?;
            let bias = next()?;
            hidden.push(Linear { weight, bias });
        }
        let mut norms = Vec::new();
        for _ in 0..shape.n_hidden {
            norms.push(BatchNorm {
                weight: next()?,
                bias: next()?,
                running_mean: next()?,
                running_var: next()?,
            });
        }
        let weight = next()?;
        let bias = next()?;
        Ok(Classifier {
            shape,
            dropout,
            input_weight,
            input_bias,
            hidden,
            norms,
            output: Linear { weight, bias },
        })
    }

    /// A classifier sharing this one's tensors (handles for another thread).
    pub fn shallow_clone(&self) -> Result<Classifier> {
        let tensors = self
            .tensors()
            .into_iter()
            .map(|t| t.shallow_clone())
            .collect();
        Classifier::from_tensors(self.shape, self.dropout, tensors)
    }

    /// Every stored tensor, in the order of [`Shape::tensor_specs`].
    pub fn tensors(&self) -> Vec<&Tensor> {
        let mut v = vec![&self.input_weight, &self.input_bias];
        for l in &self.hidden {
            v.push(&l.weight);
            v.push(&l.bias);
        }
        for n in &self.norms {
            v.extend([&n.weight, &n.bias, &n.running_mean, &n.running_var]);
        }
        v.push(&self.output.weight);
        v.push(&self.output.bias);
        v
    }

    /// The parameters whose gradients autograd computes (all learned tensors but the first weight).
    pub fn autograd_params(&self) -> Vec<&Tensor> {
        let roles = self.shape.tensor_specs();
        self.tensors()
            .into_iter()
            .zip(roles)
            .filter(|(_, (_, _, role))| *role == Role::Param)
            .map(|(t, _)| t)
            .collect()
    }

    /// Turns gradient tracking of the autograd parameters on (training) or off (inference).
    pub fn set_requires_grad(&mut self, on: bool) -> Result<()> {
        let specs = self.shape.tensor_specs();
        let mut i = 0;
        let mut apply = |t: &mut Tensor| -> Result<()> {
            let role = specs
                .get(i)
                .map(|s| s.2)
                .ok_or_else(|| Error::internal("tensor without a spec"))?;
            i += 1;
            let want = on && role == Role::Param;
            if t.requires_grad() != want {
                *t = t.f_detach()?.f_set_requires_grad(want)?;
            }
            Ok(())
        };
        apply(&mut self.input_weight)?;
        apply(&mut self.input_bias)?;
        for l in &mut self.hidden {
            apply(&mut l.weight)?;
            apply(&mut l.bias)?;
        }
        for n in &mut self.norms {
            apply(&mut n.weight)?;
            apply(&mut n.bias)?;
            apply(&mut n.running_mean)?;
            apply(&mut n.running_var)?;
        }
        apply(&mut self.output.weight)?;
        apply(&mut self.output.bias)?;
        Ok(())
    }

    /// Copies of every stored tensor (for keeping the best weights).
    pub fn snapshot(&self) -> Result<Vec<Tensor>> {
        let _guard = tch::no_grad_guard();
        self.tensors()
            .into_iter()
            .map(|t| {
                let mut copy = t.f_zeros_like()?;
                copy.f_copy_(t)?;
                Ok(copy)
            })
            .collect()
    }

    /// Overwrites every stored tensor with the values of a snapshot.
    pub fn restore(&self, snapshot: &[Tensor]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let tensors = self.tensors();
        if tensors.len() != snapshot.len() {
            return Err(Error::internal("snapshot of the wrong length"));
        }
        for (t, s) in tensors.into_iter().zip(snapshot) {
            let mut dst = t.shallow_clone();
            dst.f_copy_(s)?;
        }
        Ok(())
    }

    /// The first layer's pre-activation `X W + b` of a batch ([rows, width]); its gradient with
    /// respect to the weight is not tracked (see the module notes), the bias's is.
    pub fn first_layer(
        &self,
        batch: &mut SparseBatch,
        mode: FirstLayerMode,
        threads: usize,
    ) -> Result<Tensor> {
        let xw = batch.times(&self.input_weight, mode, threads)?;
        Ok(xw.f_add(&self.input_bias)?)
    }

    /// The hidden blocks in eval mode (BatchNorm running statistics, no dropout), from the first
    /// layer's pre-activation to the embedding. (Training runs them in train mode in `train::step`.)
    pub fn trunk(&self, first_pre: &Tensor) -> Result<Tensor> {
        let mut h = first_pre.shallow_clone();
        for (l, norm) in self.norms.iter().enumerate() {
            if l > 0 {
                h = self.hidden[l - 1].forward(&h)?;
            }
            h = norm.forward(&h, false)?.f_relu()?;
        }
        Ok(h)
    }

    /// Class logits from embeddings.
    pub fn head(&self, embedding: &Tensor) -> Result<Tensor> {
        self.output.forward(embedding)
    }
}
