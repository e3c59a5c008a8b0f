//! Shared helpers of the integration tests: synthetic counts with cell types and a domain shift.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, Normal, Poisson};
use scnym_core::config::Config;
use scnym_core::data::{CsrMatrix, CPM};
use scnym_core::train::{Covariate, ModelInfo, TargetData, TrainData, Trainer};
use scnym_core::Model;

/// Parameters of a synthetic data set.
#[derive(Clone, Debug)]
pub struct SynthSpec {
    pub n_train: usize,
    pub n_target: usize,
    pub n_genes: usize,
    pub n_types: usize,
    pub markers_per_type: usize,
    pub marker_lfc: f64,
    /// sd of the gene-wise log fold change between domains
    pub shift_sd: f64,
    /// extra log fold change applied in the target to each type's markers, shifting it towards
    /// the next type (makes a source-only classifier err)
    pub confusing_shift: f64,
    pub lib_train: f64,
    pub lib_target: f64,
    pub phi: f64,
    pub seed: u64,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            n_train: 300,
            n_target: 300,
            n_genes: 200,
            n_types: 3,
            markers_per_type: 15,
            marker_lfc: 1.5,
            shift_sd: 0.6,
            confusing_shift: 0.0,
            lib_train: 2000.0,
            lib_target: 1200.0,
            phi: 0.3,
            seed: 0,
        }
    }
}

pub struct Synth {
    pub train_counts: Vec<f64>,
    pub train_labels: Vec<i64>,
    pub target_counts: Vec<f64>,
    pub target_labels: Vec<i64>,
    pub spec: SynthSpec,
}

/// Negative-binomial counts (gamma-Poisson): per type log means with marker genes up, and a
/// gene-wise multiplicative shift plus lower depth in the target domain.
pub fn synth(spec: &SynthSpec) -> Synth {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let (g, k) = (spec.n_genes, spec.n_types);
    let std_normal = Normal::new(0.0, 1.0).unwrap();
    let base: Vec<f64> = (0..g).map(|_| std_normal.sample(&mut rng)).collect();
    let mut type_eff = vec![vec![0.0; g]; k];
    let mut markers = vec![Vec::new(); k];
    for t in 0..k {
        for v in type_eff[t].iter_mut() {
            *v = 0.25 * std_normal.sample(&mut rng);
        }
        let mut genes: Vec<usize> = (0..g).collect();
        for i in 0..spec.markers_per_type {
            let pick = rng.gen_range(i..g);
            genes.swap(i, pick);
            let gene = genes[i];
            type_eff[t][gene] += spec.marker_lfc;
            markers[t].push(gene);
        }
    }
    let shift: Vec<f64> = (0..g)
        .map(|_| spec.shift_sd * std_normal.sample(&mut rng))
        .collect();
    let gen = |n: usize, target: bool, rng: &mut ChaCha8Rng| -> (Vec<f64>, Vec<i64>) {
        let mut counts = Vec::with_capacity(n * g);
        let mut labels = Vec::with_capacity(n);
        let lib_mean = if target {
            spec.lib_target
        } else {
            spec.lib_train
        };
        let lib_dist = Normal::new(lib_mean.ln(), 0.35).unwrap();
        let gamma = Gamma::new(1.0 / spec.phi, spec.phi).unwrap();
        for _ in 0..n {
            let t = rng.gen_range(0..k);
            labels.push(t as i64);
            let mut logmu: Vec<f64> = (0..g).map(|j| base[j] + type_eff[t][j]).collect();
            if target {
                for (l, d) in logmu.iter_mut().zip(&shift) {
                    *l += d;
                }
                // push this type's profile towards the next type's markers
                let next = (t + 1) % k;
                for &m in &markers[next] {
                    logmu[m] += spec.confusing_shift;
                }
                for &m in &markers[t] {
                    logmu[m] -= spec.confusing_shift * 0.5;
                }
            }
            let max = logmu.iter().cloned().fold(f64::MIN, f64::max);
            let p: Vec<f64> = logmu.iter().map(|v| (v - max).exp()).collect();
            let s: f64 = p.iter().sum();
            let lib = lib_dist.sample(rng).exp();
            for pj in p {
                let mean = lib * pj / s;
                let lam = gamma.sample(rng) * mean;
                let c = if lam > 0.0 {
                    Poisson::new(lam).map(|d| d.sample(rng)).unwrap_or(0.0)
                } else {
                    0.0
                };
                counts.push(c);
            }
        }
        (counts, labels)
    };
    let (train_counts, train_labels) = gen(spec.n_train, false, &mut rng);
    let (target_counts, target_labels) = gen(spec.n_target, true, &mut rng);
    Synth {
        train_counts,
        train_labels,
        target_counts,
        target_labels,
        spec: spec.clone(),
    }
}

impl Synth {
    pub fn gene_map(&self) -> Vec<i32> {
        (0..self.spec.n_genes as i32).collect()
    }

    pub fn train_x(&self) -> CsrMatrix {
        let g = self.spec.n_genes;
        CsrMatrix::from_dense(
            self.spec.n_train,
            g,
            &self.train_counts,
            &self.gene_map(),
            g,
            CPM,
        )
        .unwrap()
    }

    pub fn target_x(&self) -> CsrMatrix {
        let g = self.spec.n_genes;
        CsrMatrix::from_dense(
            self.spec.n_target,
            g,
            &self.target_counts,
            &self.gene_map(),
            g,
            CPM,
        )
        .unwrap()
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            genes: (0..self.spec.n_genes).map(|j| format!("Gene{j}")).collect(),
            classes: (0..self.spec.n_types).map(|t| format!("T{t}")).collect(),
            covariates: vec![Covariate::single(vec![
                "source".to_string(),
                "target".to_string(),
            ])],
            input_genes: None,
        }
    }

    pub fn train_data(&self) -> TrainData {
        TrainData {
            x: self.train_x(),
            labels: self.train_labels.clone(),
            domains: vec![vec![0; self.spec.n_train]],
        }
    }

    pub fn target_data(&self) -> TargetData {
        TargetData {
            x: self.target_x(),
            domains: vec![vec![1; self.spec.n_target]],
        }
    }
}

/// Trains to the end (or `epochs` epochs) and returns the model.
pub fn train(config: Config, s: &Synth, with_target: bool) -> Model {
    let target = if with_target {
        Some(s.target_data())
    } else {
        None
    };
    train_data(config, s.train_data(), target, s.info())
}

/// Trains on the given data to the end and returns the model.
pub fn train_data(
    config: Config,
    train: TrainData,
    target: Option<TargetData>,
    info: ModelInfo,
) -> Model {
    let mut t = Trainer::new(config, train, target, info).unwrap();
    while !t.is_finished() {
        t.run_epoch(&mut || false).unwrap();
    }
    t.finish().unwrap()
}

/// Accuracy of the model's argmax predictions.
pub fn accuracy(model: &Model, x: &CsrMatrix, labels: &[i64]) -> f64 {
    let p = model.predict(x, false, 1).unwrap();
    let c = p.n_classes;
    let mut correct = 0;
    for (i, &y) in labels.iter().enumerate() {
        let row = &p.probabilities[i * c..(i + 1) * c];
        let arg = (0..c).fold(0, |b, k| if row[k] > row[b] { k } else { b });
        if arg as i64 == y {
            correct += 1;
        }
    }
    correct as f64 / labels.len() as f64
}

/// A small fast configuration for tests.
pub fn quick_config(preset: &str, epochs: usize, seed: u64) -> Config {
    let mut c = Config::preset(preset).unwrap();
    c.max_epochs = epochs;
    c.min_epochs = epochs.min(5);
    c.batch_size = 64;
    c.hidden_width = 64;
    c.seed = seed;
    c.threads = 1;
    c
}

/// The tensors of a model file, by name, as raw bytes.
pub fn tensor_bytes(file: &[u8]) -> Vec<(String, Vec<u8>)> {
    let st = safetensors::SafeTensors::deserialize(file).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect();
    v.sort();
    v
}

static TRAINING_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Serialises tests that train: libtorch's generator (dropout) is process-global, so concurrent
/// training in one process would interleave its draws.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    TRAINING_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
