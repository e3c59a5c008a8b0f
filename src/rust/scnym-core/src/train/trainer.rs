//! The trainer: MixMatch-style semi-supervised training with a domain adversary, one epoch per
//! call (SPEC sections 4 and 5).
//!
//! One step, with `X = [x_u; augment(x_l)]` the target and augmented labeled rows of a batch:
//! 1. `H = X W1 + b1` once (first layer, sparse product).
//! 2. Pseudolabels from `H_u` in eval mode (no gradient), confidence mask, sharpening.
//! 3. MixUp of `[H_u[confident]; H_l]` and their targets. The first layer is linear and MixUp
//!    weights sum to 1, so mixing its outputs equals feeding the mixed inputs: no second
//!    product with W1 is needed.
//! 4. Train-mode passes through the hidden blocks, each its own BatchNorm batch as in the
//!    reference: target-dominant mixed rows (with the unconfident target rows), labeled-dominant
//!    mixed rows, and the unmixed `[H_u; H_l]` rows that feed the adversary through gradient
//!    reversal; the losses, one backward pass, and `dW1 = X^T dH` from the gradient with respect
//!    to `H`.
//! 5. One Adadelta step over classifier and adversary.

use super::early_stopping::EarlyStopping;
use super::losses::{consistency_loss, cross_entropy, soft_cross_entropy};
use super::optim::Adadelta;
use super::schedules;
use super::split::validation_split;
use super::stats::EpochStats;
use super::{fit_temperature, ModelInfo, TargetData, TrainData};
use crate::config::{apply_threads, Config};
use crate::data::{mixup_plan, CsrMatrix, FirstLayerMode, SparseBatch};
use crate::error::{Error, Result};
use crate::model::adversary::Adversary;
use crate::model::classifier::{Classifier, Shape};
use crate::model::grl::gradient_reversal;
use crate::model::{Model, ModelMeta, DEFAULT_FIRST_LAYER, FORMAT_VERSION};
use crate::rng::{self, EngineRng, Stream};
use rand::seq::SliceRandom;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Rows per forward pass when evaluating (validation, prediction).
pub(crate) const EVAL_BATCH: usize = 1024;

/// Target cells, served in shuffled order, cycling independently of the labeled epochs.
struct TargetStream {
    x: CsrMatrix,
    domains: Vec<i64>,
    order: Vec<usize>,
    pos: usize,
    batch: usize,
}

impl TargetStream {
    fn next_batch(&mut self, rng: &mut EngineRng) -> Vec<usize> {
        if self.pos + self.batch > self.order.len() {
            self.order.shuffle(rng);
            self.pos = 0;
        }
        let b = self.order[self.pos..self.pos + self.batch].to_vec();
        self.pos += self.batch;
        b
    }
}

/// Losses of one step (f64 values, for the epoch means).
#[derive(Default, Clone, Copy)]
struct StepLosses {
    total: f64,
    sup: f64,
    ssl: f64,
    adv: f64,
}

/// Trains a model one epoch at a time.
pub struct Trainer {
    config: Config,
    info: ModelInfo,
    device: Device,
    mode: FirstLayerMode,
    net: Classifier,
    adversary: Option<Adversary>,
    optimizer: Adadelta,
    train_x: CsrMatrix,
    labels: Vec<i64>,
    domains: Vec<i64>,
    fit_rows: Vec<usize>,
    val_rows: Vec<usize>,
    target: Option<TargetStream>,
    use_ssl: bool,
    batch_size: usize,
    rng: EngineRng,
    stopper: EarlyStopping,
    best: Option<Vec<Tensor>>,
    history: Vec<EpochStats>,
    class_counts: Vec<usize>,
    finished: bool,
}

fn check_codes(codes: &[i64], n: usize, what: &str, names: &str) -> Result<()> {
    if let Some((i, &c)) = codes
        .iter()
        .enumerate()
        .find(|(_, &c)| c < 0 || c as usize >= n)
    {
        return Err(Error::arg(format!(
            "{what} code {c} of cell {} is outside 0..{n} (the number of {names})",
            i + 1
        )));
    }
    Ok(())
}

/// Splits `n` rows into consecutive batches of about `b`, merging a trailing batch of one row into
/// the previous batch (BatchNorm needs two rows).
fn batch_bounds(n: usize, b: usize) -> Vec<(usize, usize)> {
    let b = b.clamp(1, n.max(1));
    let mut bounds: Vec<(usize, usize)> = (0..n).step_by(b).map(|s| (s, (s + b).min(n))).collect();
    if bounds.len() >= 2 {
        if let Some(&(s, e)) = bounds.last() {
            if e - s == 1 {
                bounds.pop();
                if let Some(last) = bounds.last_mut() {
                    last.1 = e;
                }
            }
        }
    }
    bounds
}

fn long_tensor(values: &[i64], device: Device) -> Result<Tensor> {
    Ok(Tensor::f_from_slice(values)?.f_to_device(device)?)
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.f_double_value(&[])?)
}

impl Trainer {
    /// Validates the inputs, splits off the validation cells and initialises the networks.
    pub fn new(
        config: Config,
        train: TrainData,
        target: Option<TargetData>,
        info: ModelInfo,
    ) -> Result<Trainer> {
        config.validate()?;
        apply_threads(config.threads)?;
        let n_classes = info.classes.len();
        let n_domains = info.domains.len();
        let n_genes = train.x.n_cols();
        if n_classes < 2 {
            return Err(Error::arg(format!(
                "training needs at least two classes, got {n_classes}"
            )));
        }
        if info.genes.len() != n_genes {
            return Err(Error::arg(format!(
                "{} gene names for {n_genes} genes (columns) of the training data",
                info.genes.len()
            )));
        }
        let n = train.x.n_rows();
        if train.labels.len() != n || train.domains.len() != n {
            return Err(Error::arg(format!(
                "the training data have {n} cells but {} labels and {} domain codes",
                train.labels.len(),
                train.domains.len()
            )));
        }
        if n < 2 {
            return Err(Error::data(format!(
                "training needs at least 2 labeled cells, got {n}"
            )));
        }
        check_codes(&train.labels, n_classes, "label", "classes")?;
        check_codes(&train.domains, n_domains, "domain", "domains")?;
        let target = match target {
            Some(t) if t.x.n_rows() > 0 => {
                if t.x.n_cols() != n_genes {
                    return Err(Error::data(format!(
                        "the target data have {} genes but the training data {n_genes}",
                        t.x.n_cols()
                    )));
                }
                if t.domains.len() != t.x.n_rows() {
                    return Err(Error::arg(format!(
                        "the target data have {} cells but {} domain codes",
                        t.x.n_rows(),
                        t.domains.len()
                    )));
                }
                check_codes(&t.domains, n_domains, "target domain", "domains")?;
                Some(t)
            }
            _ => None,
        };

        let mut class_counts = vec![0usize; n_classes];
        for &l in &train.labels {
            class_counts[l as usize] += 1;
        }
        let mut split_rng = rng::stream(config.seed, Stream::Split);
        let (fit_rows, val_rows) = validation_split(
            &train.labels,
            n_classes,
            config.val_fraction,
            &mut split_rng,
        );

        // which parts of the method are active
        let use_ssl = target.is_some() && config.ssl_weight > 0.0;
        let mut seen = vec![false; n_domains];
        for &d in &train.domains {
            seen[d as usize] = true;
        }
        let mut target_stream = None;
        let adv_candidate = config.adv_weight > 0.0;
        if let Some(t) = &target {
            if use_ssl || adv_candidate {
                for &d in &t.domains {
                    seen[d as usize] = true;
                }
            }
        }
        let use_adv = adv_candidate && seen.iter().filter(|&&s| s).count() >= 2;
        let batch_size = config.batch_size.min(fit_rows.len());
        let mut train_rng = rng::stream(config.seed, Stream::Train);
        if let Some(t) = target {
            if use_ssl || use_adv {
                let mut order: Vec<usize> = (0..t.x.n_rows()).collect();
                order.shuffle(&mut train_rng);
                let batch = config.batch_size.min(order.len());
                target_stream = Some(TargetStream {
                    x: t.x,
                    domains: t.domains,
                    order,
                    pos: 0,
                    batch,
                });
            }
        }

        let device = config.torch_device();
        let shape = Shape {
            n_genes,
            width: config.hidden_width,
            n_hidden: config.n_hidden,
            n_classes,
        };
        let mut init_rng = rng::stream(config.seed, Stream::Init);
        let mut net = Classifier::new(shape, config.dropout, &mut init_rng, device)?;
        net.set_requires_grad(true)?;
        let adversary = if use_adv {
            Some(Adversary::new(
                config.hidden_width,
                n_domains,
                &mut init_rng,
                device,
            )?)
        } else {
            None
        };
        let mut params: Vec<&Tensor> = vec![&net.input_weight];
        params.extend(net.autograd_params());
        if let Some(a) = &adversary {
            params.extend(a.params());
        }
        let optimizer = Adadelta::new(
            &params,
            config.lr,
            config.rho,
            config.eps,
            config.weight_decay,
        )?;
        let stopper = EarlyStopping::new(config.min_epochs.min(config.max_epochs), config.patience);
        Ok(Trainer {
            config,
            info,
            device,
            mode: DEFAULT_FIRST_LAYER,
            net,
            adversary,
            optimizer,
            train_x: train.x,
            labels: train.labels,
            domains: train.domains,
            fit_rows,
            val_rows,
            target: target_stream,
            use_ssl,
            batch_size,
            rng: train_rng,
            stopper,
            best: None,
            history: Vec::new(),
            class_counts,
            finished: false,
        })
    }

    /// Chooses how the first layer multiplies batches (both give the same result up to rounding).
    pub fn set_first_layer_mode(&mut self, mode: FirstLayerMode) {
        self.mode = mode;
    }

    /// True once `max_epochs` epochs ran or early stopping triggered.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Number of completed epochs.
    pub fn epochs_done(&self) -> usize {
        self.history.len()
    }

    /// Row indices (into the training data) of the cells held out for validation, sorted.
    pub fn validation_cells(&self) -> &[usize] {
        &self.val_rows
    }

    /// The statistics of every completed epoch.
    pub fn history(&self) -> &[EpochStats] {
        &self.history
    }

    /// Whether the target cells take part (semi-supervised loss or adversary).
    pub fn uses_target(&self) -> bool {
        self.target.is_some()
    }

    /// Whether a domain adversary is trained.
    pub fn uses_adversary(&self) -> bool {
        self.adversary.is_some()
    }

    /// Trains one epoch; calls `should_stop()` before every mini-batch and returns an
    /// "interrupted" error when it says true (the epoch is then not counted; the weights keep the
    /// updates of the mini-batches already done).
    pub fn run_epoch(&mut self, should_stop: &mut dyn FnMut() -> bool) -> Result<EpochStats> {
        if self.finished {
            return Err(Error::arg(
                "training is finished (max_epochs reached or early stopping); call finish()",
            ));
        }
        apply_threads(self.config.threads)?;
        let start = Instant::now();
        let epoch = self.history.len() + 1;
        let t = epoch - 1;
        let lambda_ssl = if self.use_ssl {
            schedules::ssl_weight(&self.config, t)
        } else {
            0.0
        };
        let lambda_adv = if self.adversary.is_some() {
            schedules::adv_weight(&self.config, t)
        } else {
            0.0
        };
        let mut order = self.fit_rows.clone();
        order.shuffle(&mut self.rng);
        let bounds = batch_bounds(order.len(), self.batch_size);
        let mut sum = StepLosses::default();
        for &(s, e) in &bounds {
            if should_stop() {
                return Err(Error::Interrupted);
            }
            let tgt = match self.target.as_mut() {
                Some(ts) => Some(ts.next_batch(&mut self.rng)),
                None => None,
            };
            let l = self.step(&order[s..e], tgt.as_deref(), lambda_ssl, lambda_adv, epoch)?;
            sum.total += l.total;
            sum.sup += l.sup;
            sum.ssl += l.ssl;
            sum.adv += l.adv;
        }
        let steps = bounds.len().max(1) as f64;

        let (val_loss, val_accuracy) = if self.val_rows.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            let (logits, labels) = self.validation_logits()?;
            let (loss, acc) = loss_and_accuracy(&logits, &labels, self.info.classes.len());
            if !loss.is_finite() {
                return Err(Error::NonFiniteLoss {
                    epoch,
                    what: "validation loss".to_string(),
                });
            }
            (loss, acc)
        };
        let has_val = !self.val_rows.is_empty();
        let is_best = self
            .stopper
            .observe(epoch, if has_val { Some(val_loss) } else { None });
        if is_best && has_val {
            self.best = Some(self.net.snapshot()?);
        }
        if epoch >= self.config.max_epochs || self.stopper.should_stop(epoch, has_val) {
            self.finished = true;
        }
        let stats = EpochStats {
            epoch,
            loss: sum.total / steps,
            loss_sup: sum.sup / steps,
            loss_ssl: sum.ssl / steps,
            loss_adv: sum.adv / steps,
            ssl_weight: lambda_ssl,
            adv_weight: lambda_adv,
            val_loss,
            val_accuracy,
            is_best,
            seconds: start.elapsed().as_secs_f64(),
        };
        self.history.push(stats.clone());
        Ok(stats)
    }

    /// One optimisation step on labeled rows `lab` and target rows `tgt`.
    fn step(
        &mut self,
        lab: &[usize],
        tgt: Option<&[usize]>,
        lambda_ssl: f64,
        lambda_adv: f64,
        epoch: usize,
    ) -> Result<StepLosses> {
        let device = self.device;
        let cfg = &self.config;
        let n_classes = self.info.classes.len() as i64;
        let n_l = lab.len() as i64;

        // 1. the batch: target rows as they are, then augmented labeled rows
        let mut nnz: usize = lab.iter().map(|&r| self.train_x.row(r).0.len()).sum();
        if let (Some(rows), Some(ts)) = (tgt, self.target.as_ref()) {
            nnz += rows.iter().map(|&r| ts.x.row(r).0.len()).sum::<usize>();
        }
        let n_rows = lab.len() + tgt.map_or(0, |t| t.len());
        let mut batch = SparseBatch::with_capacity(self.train_x.n_cols(), n_rows, nnz);
        let mut n_u = 0i64;
        if let (Some(rows), Some(ts)) = (tgt, self.target.as_ref()) {
            for &r in rows {
                let (c, v) = ts.x.row(r);
                batch.push_row(c, v);
            }
            n_u = rows.len() as i64;
        }
        for &r in lab {
            let (c, v) = self.train_x.row(r);
            batch.push_augmented(c, v, cfg.mask_prob, &mut self.rng);
        }
        let h_pre = self.net.first_layer(&mut batch, self.mode)?;
        let h_u = h_pre.f_narrow(0, 0, n_u)?;
        let h_l = h_pre.f_narrow(0, n_u, n_l)?;

        // 2. pseudolabels (eval mode, current weights, no gradient)
        let mut conf_idx: Vec<i64> = Vec::new();
        let mut unconf_idx: Vec<i64> = Vec::new();
        let mut q_sharp: Option<Tensor> = None;
        if self.use_ssl && n_u > 0 {
            let _guard = tch::no_grad_guard();
            let logits = self.net.head(&self.net.trunk(&h_u.f_detach()?, None)?)?;
            let probs = logits.f_softmax(1, Kind::Float)?;
            let (conf, _) = probs.f_max_dim(1, false)?;
            let conf: Vec<f32> = Vec::<f32>::try_from(&conf.f_to_device(Device::Cpu)?)?;
            for (i, &c) in conf.iter().enumerate() {
                if c as f64 >= cfg.pseudolabel_min_confidence {
                    conf_idx.push(i as i64);
                } else {
                    unconf_idx.push(i as i64);
                }
            }
            // sharpen: q^(1/T) / sum = softmax(logits / T)
            q_sharp = Some(
                logits
                    .f_div_scalar(cfg.sharpen_temperature)?
                    .f_softmax(1, Kind::Float)?,
            );
        }
        let n_c = conf_idx.len() as i64;

        // 3. MixUp over [confident target; labeled] in first-layer space
        let lab_labels: Vec<i64> = lab.iter().map(|&r| self.labels[r]).collect();
        let onehot = long_tensor(&lab_labels, device)?
            .f_one_hot(n_classes)?
            .f_to_kind(Kind::Float)?;
        let conf_t = long_tensor(&conf_idx, device)?;
        let (h_s, y_s) = match (&q_sharp, n_c > 0) {
            (Some(q), true) => (
                Tensor::f_cat(&[&h_u.f_index_select(0, &conf_t)?, &h_l], 0)?,
                Tensor::f_cat(&[&q.f_index_select(0, &conf_t)?, &onehot], 0)?,
            ),
            _ => (h_l.shallow_clone(), onehot),
        };
        let n_s = n_c + n_l;
        let plan = mixup_plan(n_s as usize, cfg.mixup_alpha, &mut self.rng)?;
        let perm = long_tensor(&plan.perm, device)?;
        let gamma = Tensor::f_from_slice(&plan.gamma)?
            .f_to_device(device)?
            .f_unsqueeze(1)?;
        let one_minus = gamma.f_neg()?.f_add_scalar(1.0)?;
        let mix = |a: &Tensor| -> Result<Tensor> {
            Ok(a.f_mul(&gamma)?
                .f_add(&a.f_index_select(0, &perm)?.f_mul(&one_minus)?)?)
        };
        let h_mix = mix(&h_s)?;
        let y_mix = mix(&y_s)?;

        // 4. train-mode passes, each its own BatchNorm batch (as the reference): the target-
        //    dominant mixed rows with the unconfident target rows, the labeled-dominant mixed
        //    rows, and the adversary's unmixed [labeled; target] rows. A target group of fewer
        //    than two rows joins the labeled pass (BatchNorm needs two rows).
        let unconf = if unconf_idx.is_empty() {
            None
        } else {
            Some(h_u.f_index_select(0, &long_tensor(&unconf_idx, device)?)?)
        };
        let n_group_u = n_c + unconf_idx.len() as i64;
        let (logits_u, logits_l) = if n_group_u >= 2 {
            let mut group_u = vec![h_mix.f_narrow(0, 0, n_c)?];
            group_u.extend(unconf);
            let emb_u = self
                .net
                .trunk(&Tensor::f_cat(&group_u, 0)?, Some(&mut self.rng))?;
            let emb_l = self
                .net
                .trunk(&h_mix.f_narrow(0, n_c, n_l)?, Some(&mut self.rng))?;
            (
                self.net.head(&emb_u.f_narrow(0, 0, n_c)?)?,
                self.net.head(&emb_l)?,
            )
        } else {
            let mut group = vec![h_mix.shallow_clone()];
            group.extend(unconf);
            let emb = self
                .net
                .trunk(&Tensor::f_cat(&group, 0)?, Some(&mut self.rng))?;
            let logits = self.net.head(&emb.f_narrow(0, 0, n_s)?)?;
            (logits.f_narrow(0, 0, n_c)?, logits.f_narrow(0, n_c, n_l)?)
        };
        let loss_sup = soft_cross_entropy(&logits_l, &y_mix.f_narrow(0, n_c, n_l)?)?;
        let mut total = loss_sup.shallow_clone();
        let mut losses = StepLosses {
            sup: scalar(&loss_sup)?,
            ..StepLosses::default()
        };
        if n_c > 0 {
            let loss_ssl = consistency_loss(&logits_u, &y_mix.f_narrow(0, 0, n_c)?, n_u as f64)?;
            losses.ssl = scalar(&loss_ssl)?;
            total = total.f_add(&loss_ssl.f_mul_scalar(lambda_ssl)?)?;
        }
        if let Some(adv) = &self.adversary {
            // rows of h_pre: [target (n_u); labeled (n_l)]
            let emb = self.net.trunk(&h_pre, Some(&mut self.rng))?;
            let mut keep: Vec<i64> = (n_u..n_u + n_l).collect();
            let mut codes: Vec<i64> = lab.iter().map(|&r| self.domains[r]).collect();
            if let (Some(rows), Some(ts)) = (tgt, self.target.as_ref()) {
                if cfg.adv_confident_only && q_sharp.is_some() {
                    keep.extend(conf_idx.iter().copied());
                    codes.extend(conf_idx.iter().map(|&i| ts.domains[rows[i as usize]]));
                } else {
                    keep.extend(0..n_u);
                    codes.extend(rows.iter().map(|&r| ts.domains[r]));
                }
            }
            let emb_adv = emb.f_index_select(0, &long_tensor(&keep, device)?)?;
            let domain_logits = adv.forward(&gradient_reversal(&emb_adv, lambda_adv)?)?;
            let loss_adv = cross_entropy(&domain_logits, &long_tensor(&codes, device)?)?;
            losses.adv = scalar(&loss_adv)?;
            total = total.f_add(&loss_adv)?;
        }
        losses.total = scalar(&total)?;
        if !losses.total.is_finite() {
            return Err(Error::NonFiniteLoss {
                epoch,
                what: "training loss".to_string(),
            });
        }

        // backward: autograd for everything after the first product, then dW1 = X^T dH
        let mut inputs: Vec<&Tensor> = self.net.autograd_params();
        if let Some(a) = &self.adversary {
            inputs.extend(a.params());
        }
        inputs.push(&h_pre);
        let grads = Tensor::f_run_backward(&[&total], &inputs, false, false)?;
        let (dh, param_grads) = grads
            .split_last()
            .ok_or_else(|| Error::internal("no gradients"))?;
        let dw1 = batch.transpose_times(dh, self.mode)?;

        // 5. optimiser step over [W1, autograd params..., adversary params...]
        let mut params: Vec<&Tensor> = vec![&self.net.input_weight];
        params.extend(self.net.autograd_params());
        if let Some(a) = &self.adversary {
            params.extend(a.params());
        }
        let mut all_grads: Vec<Option<&Tensor>> = vec![Some(&dw1)];
        all_grads.extend(param_grads.iter().map(Some));
        self.optimizer.step(&params, &all_grads)?;
        Ok(losses)
    }

    /// Eval-mode logits of the validation cells (row-major) and their labels.
    fn validation_logits(&self) -> Result<(Vec<f32>, Vec<i64>)> {
        let logits = eval_logits(&self.net, &self.train_x, &self.val_rows, self.mode)?;
        let labels = self.val_rows.iter().map(|&r| self.labels[r]).collect();
        Ok((logits, labels))
    }

    /// The selected weights as a model, with the softmax temperature fitted on the validation
    /// cells (1.0 without them).
    pub fn finish(mut self) -> Result<Model> {
        apply_threads(self.config.threads)?;
        let best_epoch = match &self.best {
            Some(snapshot) => {
                self.net.restore(snapshot)?;
                self.stopper.best_epoch()
            }
            None => self.history.len(),
        };
        let temperature = if self.val_rows.is_empty() {
            1.0
        } else {
            let (logits, labels) = self.validation_logits()?;
            fit_temperature(&logits, &labels, self.info.classes.len())
        };
        self.net.set_requires_grad(false)?;
        let meta = ModelMeta {
            format_version: FORMAT_VERSION,
            config: self.config,
            genes: self.info.genes,
            classes: self.info.classes,
            domains: self.info.domains,
            class_counts: self.class_counts,
            history: self.history,
            best_epoch,
            temperature,
            versions: crate::backend_versions(),
        };
        Model::from_parts(self.net, meta, self.device, self.mode)
    }
}

/// Eval-mode logits of rows `rows` of `x`, row-major.
pub(crate) fn eval_logits(
    net: &Classifier,
    x: &CsrMatrix,
    rows: &[usize],
    mode: FirstLayerMode,
) -> Result<Vec<f32>> {
    let _guard = tch::no_grad_guard();
    let mut out = Vec::with_capacity(rows.len() * net.shape.n_classes);
    for chunk in rows.chunks(EVAL_BATCH) {
        let mut batch = SparseBatch::from_rows(x, chunk);
        let h = net.first_layer(&mut batch, mode)?;
        let logits = net.head(&net.trunk(&h, None)?)?;
        let flat = logits
            .f_to_device(Device::Cpu)?
            .f_contiguous()?
            .f_view([-1])?;
        out.extend(Vec::<f32>::try_from(&flat)?);
    }
    Ok(out)
}

/// Mean cross-entropy and accuracy of row-major logits.
fn loss_and_accuracy(logits: &[f32], labels: &[i64], n_classes: usize) -> (f64, f64) {
    let mut loss = 0.0;
    let mut correct = 0usize;
    for (row, &y) in logits.chunks_exact(n_classes).zip(labels) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z)) as f64;
        let lse = max
            + row
                .iter()
                .map(|&z| (z as f64 - max).exp())
                .sum::<f64>()
                .ln();
        loss += lse - row[y as usize] as f64;
        let arg = row
            .iter()
            .enumerate()
            .fold((0usize, f32::NEG_INFINITY), |best, (k, &z)| {
                if z > best.1 {
                    (k, z)
                } else {
                    best
                }
            })
            .0;
        if arg as i64 == y {
            correct += 1;
        }
    }
    let n = labels.len().max(1) as f64;
    (loss / n, correct as f64 / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_never_end_with_a_single_row() {
        assert_eq!(batch_bounds(10, 4), vec![(0, 4), (4, 8), (8, 10)]);
        assert_eq!(batch_bounds(9, 4), vec![(0, 4), (4, 9)]);
        assert_eq!(batch_bounds(3, 256), vec![(0, 3)]);
        assert_eq!(batch_bounds(2, 2), vec![(0, 2)]);
    }
}
