//! The trainer: MixMatch-style semi-supervised training with a domain adversary, one epoch per
//! call (SPEC sections 4 and 5).
//!
//! One step, with `X = [x_u; augment(x_l)]` the target and augmented labeled rows of a batch:
//! 1. `H = X W1 + b1` once (first layer; sparse or dense product, see `data::batch`).
//! 2. Pseudolabels from `H_u` in eval mode (no gradient), confidence mask, sharpening.
//! 3. MixUp of `[H_u[confident]; H_l]` and their targets. The first layer is linear and MixUp
//!    weights sum to 1, so mixing its outputs equals feeding the mixed inputs: no second
//!    product with W1 is needed.
//! 4. Train-mode passes through the hidden blocks, each its own BatchNorm batch as in the
//!    reference: target-dominant mixed rows (with the unconfident target rows), labeled-dominant
//!    mixed rows, and the unmixed `[H_u; H_l]` rows that feed the adversary heads (one per
//!    nuisance covariate) through gradient reversal (or the confusion loss); the losses and
//!    their gradients by autograd (`step`), and `dW1 = X^T dH` from the gradient with respect
//!    to `H`.
//! 5. One Adadelta step over classifier and adversary.
//!
//! During the steps libtorch runs single-threaded inside the engine's own threads (`par`).

use super::early_stopping::EarlyStopping;
use super::optim::Adadelta;
use super::schedules;
use super::split::validation_split;
use super::stats::EpochStats;
use super::step::{train_step, AdversaryHead, AdversaryPlan, StepPlan};
use super::thresholds::Thresholds;
use super::{fit_temperature, Covariate, ModelInfo, TargetData, TrainData};
use crate::config::{apply_threads, Config};
use crate::data::{gene_factors, mixup_plan, CsrMatrix, FirstLayerMode, SparseBatch};
use crate::error::{Error, Result};
use crate::model::adversary::Adversary;
use crate::model::classifier::{Classifier, Shape};
use crate::model::{valid_input_genes, Model, ModelMeta, DEFAULT_FIRST_LAYER, FORMAT_VERSION};
use crate::novelty::{argmax_rows, unit_rows, NoveltyIndex, SAMPLE_PER_CLASS};
use crate::predict::{predict_rows, RowOutputs};
use crate::reference_sample::{sample_per_class, ReferenceSample};
use crate::rng::{self, EngineRng, Stream};
use rand::distributions::{Distribution, WeightedIndex};
use rand::seq::SliceRandom;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Rows per forward pass when evaluating (validation, prediction). A caller that splits cells
/// across processes at multiples of it gets the same batches, and so the same results, as one
/// single-threaded prediction.
pub const EVAL_BATCH: usize = 1024;

/// Target cells, served in shuffled order, cycling independently of the labeled epochs.
struct TargetStream {
    x: CsrMatrix,
    domains: Vec<Vec<i64>>,
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
    /// One adversary head per covariate with at least two levels among the cells it sees: the
    /// covariate's index and the head.
    adversaries: Vec<(usize, Adversary)>,
    optimizer: Adadelta,
    train_x: CsrMatrix,
    labels: Vec<i64>,
    domains: Vec<Vec<i64>>,
    fit_rows: Vec<usize>,
    val_rows: Vec<usize>,
    target: Option<TargetStream>,
    use_ssl: bool,
    batch_size: usize,
    rng: EngineRng,
    stopper: EarlyStopping,
    thresholds: Thresholds,
    best: Option<Vec<Tensor>>,
    history: Vec<EpochStats>,
    class_counts: Vec<usize>,
    /// Whether this trainer adapts a model: its labelled cells are the model's reference sample,
    /// standing for the model's training data of `class_counts` cells per class (see
    /// `epoch_order`).
    adapting: bool,
    finished: bool,
}

/// Checks the domain codes of `n` cells: one vector per covariate, each of `n` codes within the
/// covariate's levels; and each covariate's weight.
fn check_domains(
    domains: &[Vec<i64>],
    n: usize,
    covariates: &[Covariate],
    what: &str,
) -> Result<()> {
    if covariates.is_empty() {
        return Err(Error::arg("training needs at least one covariate (domain)"));
    }
    if domains.len() != covariates.len() {
        return Err(Error::arg(format!(
            "the {what} data have domain codes for {} covariates, but there are {}",
            domains.len(),
            covariates.len()
        )));
    }
    for (codes, cov) in domains.iter().zip(covariates) {
        if codes.len() != n {
            return Err(Error::arg(format!(
                "the {what} data have {n} cells but {} codes of covariate `{}`",
                codes.len(),
                cov.name
            )));
        }
        if !(cov.weight.is_finite() && cov.weight > 0.0) {
            return Err(Error::arg(format!(
                "the weight of covariate `{}` must be positive and finite, not {}",
                cov.name, cov.weight
            )));
        }
        check_codes(
            codes,
            cov.levels.len(),
            &format!("{what} domain (covariate `{}`)", cov.name),
            "levels",
        )?;
    }
    Ok(())
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

impl Trainer {
    /// Validates the inputs, splits off the validation cells and initialises the networks.
    pub fn new(
        config: Config,
        train: TrainData,
        target: Option<TargetData>,
        info: ModelInfo,
    ) -> Result<Trainer> {
        Trainer::build(config, train, target, info, None)
    }

    /// As [`Trainer::new`], with the (fitting, validation) rows given or drawn (`None`).
    fn build(
        config: Config,
        train: TrainData,
        target: Option<TargetData>,
        info: ModelInfo,
        split: Option<(Vec<usize>, Vec<usize>)>,
    ) -> Result<Trainer> {
        config.validate()?;
        apply_threads(config.threads)?;
        let n_classes = info.classes.len();
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
        if train.labels.len() != n {
            return Err(Error::arg(format!(
                "the training data have {n} cells but {} labels",
                train.labels.len()
            )));
        }
        if n < 2 {
            return Err(Error::data(format!(
                "training needs at least 2 labeled cells, got {n}"
            )));
        }
        check_codes(&train.labels, n_classes, "label", "classes")?;
        check_domains(&train.domains, n, &info.covariates, "training")?;
        let target = match target {
            Some(t) if t.x.n_rows() > 0 => {
                if t.x.n_cols() != n_genes {
                    return Err(Error::data(format!(
                        "the target data have {} genes but the training data {n_genes}",
                        t.x.n_cols()
                    )));
                }
                check_domains(&t.domains, t.x.n_rows(), &info.covariates, "target")?;
                Some(t)
            }
            _ => None,
        };

        // a model that reads some genes only sees nothing of the others
        let (train, target) = match &info.input_genes {
            None => (train, target),
            Some(genes) => {
                let keep = input_flags(genes, n_genes)?;
                let train = TrainData {
                    x: train.x.keep_columns(&keep)?,
                    ..train
                };
                let target = match target {
                    Some(t) => Some(TargetData {
                        x: t.x.keep_columns(&keep)?,
                        ..t
                    }),
                    None => None,
                };
                (train, target)
            }
        };

        let mut class_counts = vec![0usize; n_classes];
        for &l in &train.labels {
            class_counts[l as usize] += 1;
        }
        let (fit_rows, val_rows) = match split {
            Some(split) => split,
            None => validation_split(
                &train.labels,
                n_classes,
                config.val_fraction,
                &mut rng::stream(config.seed, Stream::Split),
            ),
        };

        // which parts of the method are active
        let use_ssl = target.is_some() && config.ssl_weight > 0.0;
        let adv_candidate = config.adv_weight > 0.0;
        let target_seen = target
            .as_ref()
            .filter(|_| use_ssl || adv_candidate)
            .map(|t| &t.domains);
        // a head for each covariate whose cells show two levels or more
        let adversarial: Vec<usize> = if adv_candidate {
            (0..info.covariates.len())
                .filter(|&c| {
                    let mut seen = vec![false; info.covariates[c].levels.len()];
                    let target_codes = target_seen.map_or(&[][..], |d| &d[c][..]);
                    for &d in train.domains[c].iter().chain(target_codes) {
                        seen[d as usize] = true;
                    }
                    seen.iter().filter(|&&s| s).count() >= 2
                })
                .collect()
        } else {
            Vec::new()
        };
        let use_adv = !adversarial.is_empty();
        let mut target_stream = None;
        let batch_size = config.batch_size.min(fit_rows.len());
        let mut train_rng = rng::stream(config.seed, Stream::Train);
        if let Some(t) = target {
            if use_ssl || use_adv {
                // With semi-supervision the validation cells also join the unlabeled stream
                // (their labels stay unused for training): they are then treated as the target
                // cells are, so the temperature fitted on them at the end transfers to the
                // target. Fitted on cells never seen at all, it sharpens an already
                // overconfident target (Kang ctrl -> stim: ECE 0.046 -> 0.079 instead of 0.033).
                let (x, domains) = if use_ssl && !val_rows.is_empty() {
                    let x = t.x.append_rows(&train.x, &val_rows)?;
                    let mut domains = t.domains;
                    for (d, train_d) in domains.iter_mut().zip(&train.domains) {
                        d.extend(val_rows.iter().map(|&r| train_d[r]));
                    }
                    (x, domains)
                } else {
                    (t.x, t.domains)
                };
                let mut order: Vec<usize> = (0..x.n_rows()).collect();
                order.shuffle(&mut train_rng);
                let batch = config.batch_size.min(order.len());
                target_stream = Some(TargetStream {
                    x,
                    domains,
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
        let mut net = Classifier::new(
            shape,
            config.dropout,
            &mut init_rng,
            device,
            info.input_genes.as_deref(),
        )?;
        net.set_requires_grad(true)?;
        let adversaries = adversarial
            .into_iter()
            .map(|c| {
                let n_levels = info.covariates[c].levels.len();
                Ok((
                    c,
                    Adversary::new(config.hidden_width, n_levels, &mut init_rng, device)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut params: Vec<&Tensor> = vec![&net.input_weight];
        params.extend(net.autograd_params());
        for (_, a) in &adversaries {
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
        let thresholds = Thresholds::new(
            config.pseudolabel_min_confidence,
            config.pseudolabel_adaptive,
            config.adv_class_weights > 0.0,
            n_classes,
            target_stream.as_ref().map_or(0, |t| t.order.len()),
        );
        Ok(Trainer {
            config,
            info,
            device,
            mode: DEFAULT_FIRST_LAYER,
            net,
            adversaries,
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
            thresholds,
            best: None,
            history: Vec::new(),
            class_counts,
            adapting: false,
            finished: false,
        })
    }

    /// A trainer that adapts member `member` of a trained model to new target cells: the
    /// member's weights are the starting point and the model's reference sample is the labelled
    /// data (one covariate with the levels `domains`: the sample is `domains[0]`, code 0; the
    /// target's single code vector indexes `domains`; the sample's held-out cells validate), with a fresh
    /// adversary and optimiser. `config` must keep the model's network shape; the finished model
    /// reports the model's class counts.
    pub fn adapt(
        model: &Model,
        member: usize,
        config: Config,
        target: TargetData,
        domains: Vec<String>,
    ) -> Result<Trainer> {
        let sample = model.sample.as_ref().ok_or_else(|| {
            Error::arg("the model holds no reference sample; train it with reference_sample > 0")
        })?;
        let source = model.member(member)?;
        let shape = source.net.shape;
        if config.hidden_width != shape.width || config.n_hidden != shape.n_hidden {
            return Err(Error::arg(
                "the adaptation's configuration must keep the model's hidden_width and n_hidden",
            ));
        }
        let train = TrainData {
            x: sample.x.clone(),
            labels: sample.labels.clone(),
            domains: vec![vec![0; sample.labels.len()]],
        };
        let info = ModelInfo {
            genes: model.meta.genes.clone(),
            classes: model.meta.classes.clone(),
            covariates: vec![Covariate::single(domains)],
            input_genes: source.meta.input_genes.clone(),
        };
        let split = sample.split();
        if split.0.len() < 2 {
            return Err(Error::data(format!(
                "the model's reference sample holds {} cells to fit (at least 2 are needed); \
                 train the model with a larger reference_sample",
                split.0.len()
            )));
        }
        let split = Some(split);
        let mut trainer = Trainer::build(config, train, Some(target), info, split)?;
        trainer.net.restore(&source.net.snapshot()?)?;
        trainer.class_counts = source.meta.class_counts.clone();
        trainer.adapting = true;
        Ok(trainer)
    }

    /// Chooses how the first layer multiplies batches (both give the same result up to rounding).
    pub fn set_first_layer_mode(&mut self, mode: FirstLayerMode) {
        self.mode = mode;
    }

    /// Sets the threads of the following epochs (`Config::threads`); the result does not depend on
    /// them. An ensemble member that trained single-threaded beside the others continues on every
    /// thread once it trains alone.
    pub fn set_threads(&mut self, threads: usize) {
        self.config.threads = threads;
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
        !self.adversaries.is_empty()
    }

    /// The covariates (indices into the model's covariates) that have an adversary head.
    pub fn adversary_covariates(&self) -> Vec<usize> {
        self.adversaries.iter().map(|(c, _)| *c).collect()
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
        let lambda_adv = if self.uses_adversary() {
            schedules::adv_weight(&self.config, t)
        } else {
            0.0
        };
        let order = self.epoch_order()?;
        let bounds = batch_bounds(order.len(), self.batch_size);
        let mut sum = StepLosses::default();
        // the steps run libtorch single-threaded inside the engine's own threads (see `par`)
        let threads = tch::get_num_threads().max(1) as usize;
        let _restore = crate::par::SingleThreadedTorch::enter();
        for &(s, e) in &bounds {
            if should_stop() {
                return Err(Error::Interrupted);
            }
            let tgt = match self.target.as_mut() {
                Some(ts) => Some(ts.next_batch(&mut self.rng)),
                None => None,
            };
            let l = self.step(
                &order[s..e],
                tgt.as_deref(),
                lambda_ssl,
                lambda_adv,
                epoch,
                threads,
            )?;
            sum.total += l.total;
            sum.sup += l.sup;
            sum.ssl += l.ssl;
            sum.adv += l.adv;
        }
        let steps = bounds.len().max(1) as f64;
        drop(_restore);

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

    /// The labeled rows of one epoch in batch order. One shuffled pass over the training cells
    /// (the paper) gives `ceil(n / batch)` steps; with `min_steps_per_epoch` above that, passes are
    /// repeated up to that many full batches; with `max_steps_per_epoch` below it, the epoch
    /// takes that many full batches of the shuffled (or drawn) rows. With `class_balance > 0` the rows are drawn with
    /// replacement, a cell of a class with `n_k` training cells with weight `n_k^-class_balance`.
    /// An adaptation's sample cells stand for the model's training data: a cell of a class with
    /// `s_k` fitting cells in the sample and `n_k` cells in that data is drawn with weight
    /// `n_k^(1 - class_balance) / s_k`, the class mix the model was trained with.
    fn epoch_order(&mut self) -> Result<Vec<usize>> {
        let n = self.fit_rows.len();
        let natural = batch_bounds(n, self.batch_size).len();
        let cfg = &self.config;
        let len = if n > 0 && cfg.min_steps_per_epoch > natural {
            cfg.min_steps_per_epoch * self.batch_size
        } else if cfg.max_steps_per_epoch > 0 && cfg.max_steps_per_epoch < natural {
            cfg.max_steps_per_epoch * self.batch_size
        } else {
            n
        };
        let balance = self.config.class_balance;
        if balance == 0.0 && !self.adapting {
            let mut order = Vec::with_capacity(len + n);
            while order.len() < len {
                let start = order.len();
                order.extend_from_slice(&self.fit_rows);
                order[start..].shuffle(&mut self.rng);
            }
            order.truncate(len);
            return Ok(order);
        }
        let mut counts = vec![0usize; self.info.classes.len()];
        for &r in &self.fit_rows {
            counts[self.labels[r] as usize] += 1;
        }
        let class_weight: Vec<f64> = if self.adapting {
            self.class_counts
                .iter()
                .zip(&counts)
                .map(|(&f, &c)| (f as f64).powf(1.0 - balance) / c.max(1) as f64)
                .collect()
        } else {
            counts.iter().map(|&c| (c as f64).powf(-balance)).collect()
        };
        let weights = self
            .fit_rows
            .iter()
            .map(|&r| class_weight[self.labels[r] as usize]);
        let pick = WeightedIndex::new(weights)
            .map_err(|e| Error::internal(format!("class-balanced sampling: {e}")))?;
        Ok((0..len)
            .map(|_| self.fit_rows[pick.sample(&mut self.rng)])
            .collect())
    }

    /// The masking probability of this member's augmentation: `variable_gene_mask_prob` for a
    /// member on the most variable genes, `mask_prob` for one on every gene.
    fn mask_prob(&self) -> f64 {
        if self.info.input_genes.is_some() {
            self.config.variable_gene_mask_prob
        } else {
            self.config.mask_prob
        }
    }

    /// One optimisation step on labeled rows `lab` and target rows `tgt`.
    fn step(
        &mut self,
        lab: &[usize],
        tgt: Option<&[usize]>,
        lambda_ssl: f64,
        lambda_adv: f64,
        epoch: usize,
        threads: usize,
    ) -> Result<StepLosses> {
        let cfg = &self.config;
        let n_classes = self.info.classes.len();
        let n_l = lab.len();

        // 1. the batch: target rows as they are, then augmented labeled rows
        let mut nnz: usize = lab.iter().map(|&r| self.train_x.row(r).0.len()).sum();
        if let (Some(rows), Some(ts)) = (tgt, self.target.as_ref()) {
            nnz += rows.iter().map(|&r| ts.x.row(r).0.len()).sum::<usize>();
        }
        let n_rows = lab.len() + tgt.map_or(0, |t| t.len());
        let mut batch = SparseBatch::with_capacity(self.train_x.n_cols(), n_rows, nnz);
        let mut n_u = 0usize;
        if let (Some(rows), Some(ts)) = (tgt, self.target.as_ref()) {
            for &r in rows {
                let (c, v) = ts.x.row(r);
                batch.push_row(c, v);
            }
            n_u = rows.len();
        }
        let factors = gene_factors(self.train_x.n_cols(), cfg.gene_scale_sd, &mut self.rng);
        let mask_prob = self.mask_prob();
        for &r in lab {
            let (c, v) = self.train_x.row(r);
            batch.push_augmented(c, v, mask_prob, factors.as_deref(), &mut self.rng);
        }
        let h_pre = {
            let _guard = tch::no_grad_guard();
            self.net.first_layer(&mut batch, self.mode, threads)?
        };

        // 2. pseudolabels (eval mode, current weights, no gradient)
        let mut conf: Vec<usize> = Vec::new();
        let mut unconf: Vec<usize> = Vec::new();
        let mut q_sharp: Vec<f32> = Vec::new();
        if self.use_ssl && n_u > 0 {
            let _guard = tch::no_grad_guard();
            let h_u = h_pre.f_narrow(0, 0, n_u as i64)?;
            let logits = self.net.head(&self.net.trunk(&h_u)?)?;
            let probs = logits.f_softmax(1, Kind::Float)?;
            let (max_p, arg) = probs.f_max_dim(1, false)?;
            let max_p = Vec::<f32>::try_from(&max_p.f_to_device(Device::Cpu)?)?;
            let arg = Vec::<i64>::try_from(&arg.f_to_device(Device::Cpu)?)?;
            let rows = tgt.unwrap_or(&[]);
            (conf, unconf) = self.thresholds.split(rows, &arg, &max_p);
            // sharpen: q^(1/T) / sum = softmax(logits / T)
            let sharp = logits
                .f_div_scalar(cfg.sharpen_temperature)?
                .f_softmax(1, Kind::Float)?
                .f_to_device(Device::Cpu)?
                .f_contiguous()?
                .f_view([-1])?;
            q_sharp = Vec::<f32>::try_from(&sharp)?;
        }

        // 3. MixUp plan over S = [confident target; labeled]
        let n_s = conf.len() + n_l;
        let mut targets = vec![0f32; n_s * n_classes];
        for (k, &i) in conf.iter().enumerate() {
            targets[k * n_classes..(k + 1) * n_classes]
                .copy_from_slice(&q_sharp[i * n_classes..(i + 1) * n_classes]);
        }
        for (k, &r) in lab.iter().enumerate() {
            targets[(conf.len() + k) * n_classes + self.labels[r] as usize] = 1.0;
        }
        let mix = mixup_plan(n_s, cfg.mixup_alpha, &mut self.rng)?;

        // 4. the adversary's rows (unmixed; with thresholding only confident target rows) and
        // their codes in each covariate with a head
        let rows = tgt.unwrap_or(&[]);
        let adv_target: Vec<usize> = if cfg.adv_confident_only && self.use_ssl {
            conf.clone()
        } else {
            (0..n_u).collect()
        };
        let mut loss_rows: Vec<i64> = (n_u as i64..(n_u + n_l) as i64).collect();
        loss_rows.extend(adv_target.iter().map(|&i| i as i64));
        let row_weights = if cfg.adv_class_weights > 0.0 && self.use_ssl {
            self.thresholds.class_mix().map(|mix| {
                let labels = lab.iter().map(|&r| self.labels[r]);
                let mut w = class_mix_weights(labels, &mix, cfg.adv_class_weights);
                w.resize(loss_rows.len(), 1.0);
                w
            })
        } else {
            None
        };
        let codes: Vec<Vec<i64>> = self
            .adversaries
            .iter()
            .map(|&(c, _)| {
                let mut codes: Vec<i64> = lab.iter().map(|&r| self.domains[c][r]).collect();
                if let Some(ts) = self.target.as_ref() {
                    codes.extend(adv_target.iter().map(|&i| ts.domains[c][rows[i]]));
                }
                codes
            })
            .collect();
        let plan = StepPlan {
            h_pre: &h_pre,
            n_u,
            n_l,
            conf: &conf,
            unconf: &unconf,
            targets: &targets,
            perm: &mix.perm,
            gamma: &mix.gamma,
            lambda_ssl,
            unconfident_weight: cfg.unconfident_weight,
            adversary: (!self.adversaries.is_empty()).then(|| AdversaryPlan {
                heads: self
                    .adversaries
                    .iter()
                    .zip(&codes)
                    .map(|((c, net), codes)| AdversaryHead {
                        net,
                        codes,
                        weight: self.info.covariates[*c].weight,
                    })
                    .collect(),
                loss_rows: &loss_rows,
                row_weights: row_weights.as_deref(),
                lambda: lambda_adv,
                confusion: cfg.adv_objective == "confusion",
            }),
        };

        // 5. forward and backward passes
        let result = train_step(&self.net, &plan, &mut self.rng)?;
        if !result.total.is_finite() {
            return Err(Error::NonFiniteLoss {
                epoch,
                what: "training loss".to_string(),
            });
        }
        let dw1 = batch.transpose_times(&result.d_h_pre, self.mode, threads)?;

        // 6. optimiser step over [W1, autograd params..., adversary params...]
        let mut params: Vec<&Tensor> = vec![&self.net.input_weight];
        params.extend(self.net.autograd_params());
        for (_, a) in &self.adversaries {
            params.extend(a.params());
        }
        let mut grads: Vec<Option<&Tensor>> = vec![Some(&dw1)];
        grads.extend(result.classifier_grads.iter().map(Some));
        grads.extend(result.adversary_grads.iter().map(Some));
        if grads.len() != params.len() {
            return Err(Error::internal(
                "gradient list does not match the parameters",
            ));
        }
        self.optimizer.step(&params, &grads, threads)?;
        Ok(StepLosses {
            total: result.total,
            sup: result.sup,
            ssl: result.ssl,
            adv: result.adv,
        })
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
        // One eval pass over the validation cells serves the temperature and the novelty unit.
        let validation = if self.val_rows.is_empty() {
            None
        } else {
            let _guard = tch::no_grad_guard();
            Some(predict_rows(
                &self.net,
                &self.train_x,
                &self.val_rows,
                1.0,
                self.mode,
                None,
                true,
            )?)
        };
        let temperature = match &validation {
            None => 1.0,
            Some(val) => {
                let labels: Vec<i64> = self.val_rows.iter().map(|&r| self.labels[r]).collect();
                fit_temperature(&val.logits, &labels, self.info.classes.len())
            }
        };
        self.net.set_requires_grad(false)?;
        // the novelty score is a distance in an embedding of every gene: a cell of a new type
        // may differ from the reference in genes a member reading some genes does not see
        let novelty = match &validation {
            Some(val) if self.info.input_genes.is_none() => Some(self.novelty_index(val)?),
            _ => None,
        };
        let sample = if self.config.reference_sample > 0 {
            Some(ReferenceSample::choose(
                &self.train_x,
                &self.labels,
                &self.val_rows,
                self.info.classes.len(),
                self.config.reference_sample,
                &mut self.rng,
            )?)
        } else {
            None
        };
        let meta = ModelMeta {
            format_version: FORMAT_VERSION,
            config: self.config,
            genes: self.info.genes,
            classes: self.info.classes,
            covariates: self.info.covariates,
            class_counts: self.class_counts,
            history: self.history,
            best_epoch,
            temperature,
            versions: crate::backend_versions(),
            novelty: None,
            reference_sample: None,
            input_genes: self.info.input_genes,
        };
        Model::from_parts(self.net, meta, self.device, self.mode, novelty, sample)
    }

    /// The novelty reference: up to `SAMPLE_PER_CLASS` fitting cells of each class, calibrated on
    /// the validation cells' outputs `val`.
    fn novelty_index(&mut self, val: &RowOutputs) -> Result<NoveltyIndex> {
        let groups = sample_per_class(
            &self.fit_rows,
            &self.labels,
            self.info.classes.len(),
            |counts| vec![SAMPLE_PER_CLASS; counts.len()],
            &mut self.rng,
        );
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        let sample = groups.concat();
        let _guard = tch::no_grad_guard();
        let width = self.net.shape.width;
        let mut rows = predict_rows(
            &self.net,
            &self.train_x,
            &sample,
            1.0,
            self.mode,
            None,
            true,
        )?
        .embedding;
        unit_rows(&mut rows, width);
        let mut index = NoveltyIndex::new(sizes, rows, width)?;
        let predicted = argmax_rows(&val.logits, self.info.classes.len());
        index.calibrate(&index.distances(&val.embedding, &predicted));
        Ok(index)
    }
}

/// Weights of a step's labelled cells (their classes `labels`) that move them `strength` of the
/// way to the class mix `mix`: `strength * w + 1 - strength`, with `w` the weight that gives them
/// that mix, `mix[k] / share_k` for a cell of class `k` (`share_k` the share of class `k` among
/// them) scaled to a mean of 1 (all 1 when no class of theirs is in `mix`).
fn class_mix_weights(
    labels: impl Iterator<Item = i64> + Clone,
    mix: &[f64],
    strength: f64,
) -> Vec<f32> {
    let mut counts = vec![0usize; mix.len()];
    for k in labels.clone() {
        counts[k as usize] += 1;
    }
    let n: usize = counts.iter().sum();
    let raw: Vec<f64> = labels
        .map(|k| mix[k as usize] / counts[k as usize] as f64)
        .collect();
    let total: f64 = raw.iter().sum();
    if total <= 0.0 {
        return vec![1.0; n];
    }
    raw.iter()
        .map(|&w| (strength * (w * n as f64 / total) + (1.0 - strength)) as f32)
        .collect()
}

/// One flag per gene: whether it is among `genes` (ascending, distinct, within `0..n_genes`).
fn input_flags(genes: &[usize], n_genes: usize) -> Result<Vec<bool>> {
    if !valid_input_genes(genes, n_genes) {
        return Err(Error::arg(format!(
            "input_genes must be ascending distinct gene indices in 0..{n_genes}, at least one"
        )));
    }
    let mut keep = vec![false; n_genes];
    genes.iter().for_each(|&g| keep[g] = true);
    Ok(keep)
}

/// Runs one epoch of each trainer at the same time, each on its own thread with libtorch
/// single-threaded (the members of an ensemble); returns their statistics in order. Nothing
/// interrupts an epoch here: the caller checks for interrupts between epochs.
pub fn run_epochs_together(trainers: Vec<&mut Trainer>) -> Result<Vec<EpochStats>> {
    crate::par::map_with(trainers, true, |_, t| t.run_epoch(&mut || false))
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
        let h = net.first_layer(&mut batch, mode, 1)?;
        let logits = net.head(&net.trunk(&h)?)?;
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
    use crate::data::CPM;

    /// A trainer on `counts[k]` cells of class `k` (3 genes, one marker per class), no target.
    fn trainer(counts: &[usize], config: Config) -> Trainer {
        let labels: Vec<i64> = counts
            .iter()
            .enumerate()
            .flat_map(|(k, &n)| std::iter::repeat_n(k as i64, n))
            .collect();
        let n = labels.len();
        let values: Vec<f64> = labels
            .iter()
            .flat_map(|&k| (0..3).map(move |g| if g == k as usize { 9.0 } else { 1.0 }))
            .collect();
        let x = CsrMatrix::from_dense(n, 3, &values, &[0, 1, 2], 3, CPM).unwrap();
        let info = ModelInfo {
            genes: vec!["a".into(), "b".into(), "c".into()],
            classes: (0..counts.len()).map(|k| format!("t{k}")).collect(),
            covariates: vec![Covariate::single(vec!["d".into()])],
            input_genes: None,
        };
        let train = TrainData {
            x,
            labels,
            domains: vec![vec![0; n]],
        };
        Trainer::new(config, train, None, info).unwrap()
    }

    fn class_shares(t: &mut Trainer) -> (usize, Vec<f64>) {
        let order = t.epoch_order().unwrap();
        let mut counts = vec![0usize; t.info.classes.len()];
        for &r in &order {
            counts[t.labels[r] as usize] += 1;
        }
        let n = order.len();
        (n, counts.iter().map(|&c| c as f64 / n as f64).collect())
    }

    #[test]
    fn epoch_order_balances_classes_and_repeats_small_references() {
        let mut cfg = Config::preset("paper").unwrap();
        cfg.batch_size = 32;
        cfg.val_fraction = 0.0;
        // the paper: one shuffled pass, every fit cell once
        let mut t = trainer(&[180, 20], cfg.clone());
        let mut order = t.epoch_order().unwrap();
        order.sort_unstable();
        assert_eq!(order, (0..200).collect::<Vec<_>>());
        // at least 20 steps of 32: passes repeat up to 640 rows, each cell 3 or 4 times
        cfg.min_steps_per_epoch = 20;
        let mut t = trainer(&[180, 20], cfg.clone());
        let order = t.epoch_order().unwrap();
        assert_eq!(order.len(), 640);
        let mut seen = vec![0usize; 200];
        order.iter().for_each(|&r| seen[r] += 1);
        assert!(seen.iter().all(|&c| c == 3 || c == 4));
        assert_eq!(batch_bounds(order.len(), t.batch_size).len(), 20);
        // class_balance 1: both classes about half of the rows; 0.5: in between
        cfg.class_balance = 1.0;
        let (_, shares) = class_shares(&mut trainer(&[180, 20], cfg.clone()));
        assert!((shares[1] - 0.5).abs() < 0.06, "{shares:?}");
        cfg.class_balance = 0.5;
        let (_, shares) = class_shares(&mut trainer(&[180, 20], cfg));
        // 20^0.5 / (180^0.5 + 20^0.5) = 0.25
        assert!((shares[1] - 0.25).abs() < 0.06, "{shares:?}");
    }

    #[test]
    fn epoch_order_caps_large_references() {
        let mut cfg = Config::preset("paper").unwrap();
        cfg.batch_size = 32;
        cfg.val_fraction = 0.0;
        cfg.max_steps_per_epoch = 3;
        // 3 steps of 32 distinct cells, other cells in the next epoch
        let mut t = trainer(&[180, 20], cfg.clone());
        let first = t.epoch_order().unwrap();
        let mut distinct = first.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!((first.len(), distinct.len()), (96, 96));
        assert_ne!(t.epoch_order().unwrap(), first);
        // drawn with class balance: as many rows; a reference within the cap is unchanged
        cfg.class_balance = 0.5;
        assert_eq!(
            trainer(&[180, 20], cfg.clone())
                .epoch_order()
                .unwrap()
                .len(),
            96
        );
        cfg.max_steps_per_epoch = 7;
        assert_eq!(trainer(&[180, 20], cfg).epoch_order().unwrap().len(), 200);
    }

    #[test]
    fn class_mix_weights_give_the_labelled_cells_the_target_mix() {
        // labelled classes 0, 0, 0, 1; target mix 1/2, 1/4, 1/4 (class 2 has no labelled cell):
        // classes 0 and 1 weigh 2 : 1 in all, mean weight 1, so 8/9 for each cell of class 0
        // and 4/3 for the cell of class 1
        let labels = [0i64, 0, 0, 1];
        let w = class_mix_weights(labels.into_iter(), &[0.5, 0.25, 0.25], 1.0);
        for (a, b) in w.iter().zip([8.0 / 9.0, 8.0 / 9.0, 8.0 / 9.0, 4.0 / 3.0]) {
            assert!((*a as f64 - b).abs() < 1e-6, "{w:?}");
        }
        // half way: the mean of those weights and 1
        let half = class_mix_weights(labels.into_iter(), &[0.5, 0.25, 0.25], 0.5);
        for (a, b) in half.iter().zip(&w) {
            assert!((a - (b + 1.0) / 2.0).abs() < 1e-6, "{half:?}");
        }
        // a class absent from the target's mix does not train the adversary when fully weighed
        let absent = |s| class_mix_weights([0i64, 1].into_iter(), &[0.0, 1.0], s);
        assert_eq!(absent(1.0), vec![0.0, 2.0]);
        assert_eq!(absent(0.5), vec![0.5, 1.5]);
        // no labelled class in the mix: every weight 1
        let none = class_mix_weights([0i64, 0].into_iter(), &[0.0, 1.0], 1.0);
        assert_eq!(none, vec![1.0, 1.0]);
    }

    #[test]
    fn members_on_the_variable_genes_mask_at_their_own_rate() {
        let config = Config {
            mask_prob: 0.1,
            variable_gene_mask_prob: 0.5,
            ..Config::default()
        };
        let mut t = trainer(&[4, 4], config);
        assert_eq!(t.mask_prob(), 0.1);
        t.info.input_genes = Some(vec![0, 2]);
        assert_eq!(t.mask_prob(), 0.5);
    }

    #[test]
    fn batches_never_end_with_a_single_row() {
        assert_eq!(batch_bounds(10, 4), vec![(0, 4), (4, 8), (8, 10)]);
        assert_eq!(batch_bounds(9, 4), vec![(0, 4), (4, 9)]);
        assert_eq!(batch_bounds(3, 256), vec![(0, 3)]);
        assert_eq!(batch_bounds(2, 2), vec![(0, 2)]);
    }
}
