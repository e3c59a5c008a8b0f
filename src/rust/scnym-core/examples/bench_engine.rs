//! Engine benchmark: seconds per training epoch, prediction and integrated-gradients throughput
//! on a data folder in the layout of shared/data (matrix.mtx.gz genes x cells, genes.tsv,
//! cells.tsv with cell_id, label, domain). Prints one JSON object (and writes it with --out).
//!
//! cargo run --release -p scnym-core --example bench_engine -- --data DIR --train-domains A \
//!     --target-domains B [--threads 1] [--epochs 3] [--config default] [--mode auto|sparse|dense]
//!     [--ig-cells 200] [--ig-steps 100] [--seed 0] [--out FILE]

use scnym_core::config::Config;
use scnym_core::data::{CsrMatrix, FirstLayerMode, Values, CPM};
use scnym_core::train::{Covariate, ModelInfo, TargetData, TrainData, Trainer};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
}

/// CPU seconds used by the whole process so far (all threads): CLOCK_PROCESS_CPUTIME_ID.
fn process_cpu_seconds() -> f64 {
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a valid pointer.
    let rc = unsafe { clock_gettime(2, &mut t) };
    if rc != 0 {
        return f64::NAN;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

struct Args {
    data: PathBuf,
    train_domains: Vec<String>,
    target_domains: Vec<String>,
    threads: usize,
    epochs: usize,
    config: String,
    mode: FirstLayerMode,
    ig_cells: usize,
    ig_steps: usize,
    seed: u64,
    out: Option<PathBuf>,
}

fn parse_args() -> AnyResult<Args> {
    let mut kv: HashMap<String, String> = HashMap::new();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let key = argv[i].trim_start_matches("--").to_string();
        let value = argv
            .get(i + 1)
            .cloned()
            .ok_or(format!("--{key} needs a value"))?;
        kv.insert(key, value);
        i += 2;
    }
    let get = |k: &str, d: &str| kv.get(k).cloned().unwrap_or_else(|| d.to_string());
    let list = |s: String| s.split(',').map(|x| x.to_string()).collect::<Vec<_>>();
    Ok(Args {
        data: PathBuf::from(kv.get("data").ok_or("--data is required")?),
        train_domains: list(
            kv.get("train-domains")
                .cloned()
                .ok_or("--train-domains is required")?,
        ),
        target_domains: list(
            kv.get("target-domains")
                .cloned()
                .ok_or("--target-domains is required")?,
        ),
        threads: get("threads", "1").parse()?,
        epochs: get("epochs", "3").parse()?,
        config: get("config", "default"),
        mode: match get("mode", "auto").as_str() {
            "dense" => FirstLayerMode::Dense,
            "sparse" => FirstLayerMode::Sparse,
            _ => FirstLayerMode::Auto,
        },
        ig_cells: get("ig-cells", "200").parse()?,
        ig_steps: get("ig-steps", "100").parse()?,
        seed: get("seed", "0").parse()?,
        out: kv.get("out").map(PathBuf::from),
    })
}

/// Cells as rows: per cell, (gene, value) pairs, from a genes x cells MatrixMarket file.
/// Per cell, its (gene, value) pairs.
type CellRows = Vec<Vec<(i32, f64)>>;

fn read_mtx(path: &Path) -> AnyResult<(usize, usize, CellRows)> {
    // decompress with the system's gzip (keeps the crate free of a compression dependency)
    let mut child = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("gzip produced no output")?;
    let reader = BufReader::new(stdout);
    let mut lines = reader.lines();
    let mut size: Option<(usize, usize)> = None;
    let mut cells: Vec<Vec<(i32, f64)>> = Vec::new();
    for line in &mut lines {
        let line = line?;
        if line.starts_with('%') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let (g, c) = (f[0].parse::<usize>()?, f[1].parse::<usize>()?);
        size = Some((g, c));
        cells = vec![Vec::new(); c];
        break;
    }
    let (n_genes, n_cells) = size.ok_or("no size line in the MatrixMarket file")?;
    for line in lines {
        let line = line?;
        let mut f = line.split_whitespace();
        let (Some(g), Some(c), Some(v)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let (g, c, v) = (g.parse::<usize>()?, c.parse::<usize>()?, v.parse::<f64>()?);
        cells[c - 1].push(((g - 1) as i32, v));
    }
    if !child.wait()?.success() {
        return Err(format!("gzip -dc {} failed", path.display()).into());
    }
    for row in &mut cells {
        row.sort_by_key(|e| e.0);
    }
    Ok((n_genes, n_cells, cells))
}

fn csr_of(cells: &[Vec<(i32, f64)>], rows: &[usize], n_genes: usize) -> AnyResult<CsrMatrix> {
    let mut indptr = vec![0i32];
    let mut indices = Vec::new();
    let mut values = Vec::new();
    for &r in rows {
        for &(g, v) in &cells[r] {
            indices.push(g);
            values.push(v);
        }
        indptr.push(indices.len() as i32);
    }
    let map: Vec<i32> = (0..n_genes as i32).collect();
    Ok(CsrMatrix::from_csr_parts(
        rows.len(),
        n_genes,
        &indptr,
        &indices,
        &values,
        &map,
        n_genes,
        CPM,
    )?)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        f64::NAN
    } else {
        s[s.len() / 2]
    }
}

fn main() -> AnyResult<()> {
    let args = parse_args()?;
    if args.threads > 0 {
        tch::set_num_threads(args.threads as i32);
    }
    let load_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let t0 = Instant::now();
    let genes: Vec<String> = std::fs::read_to_string(args.data.join("genes.tsv"))?
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect();
    let cells_text = std::fs::read_to_string(args.data.join("cells.tsv"))?;
    let meta: Vec<(String, String)> = cells_text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f.get(1).unwrap_or(&"").to_string(),
                f.get(2).unwrap_or(&"").to_string(),
            )
        })
        .collect();
    let (n_genes, n_cells, cells) = read_mtx(&args.data.join("matrix.mtx.gz"))?;
    if n_genes != genes.len() || n_cells != meta.len() {
        return Err(format!(
            "matrix is {n_genes} x {n_cells} but there are {} genes and {} cells",
            genes.len(),
            meta.len()
        )
        .into());
    }
    let train_rows: Vec<usize> = (0..n_cells)
        .filter(|&i| args.train_domains.contains(&meta[i].1))
        .collect();
    let target_rows: Vec<usize> = (0..n_cells)
        .filter(|&i| args.target_domains.contains(&meta[i].1))
        .collect();
    let mut classes: Vec<String> = train_rows.iter().map(|&i| meta[i].0.clone()).collect();
    classes.sort();
    classes.dedup();
    let class_code: HashMap<&str, i64> = classes
        .iter()
        .enumerate()
        .map(|(k, c)| (c.as_str(), k as i64))
        .collect();
    let mut domains: Vec<String> = args.train_domains.clone();
    domains.extend(args.target_domains.iter().cloned());
    let domain_code: HashMap<&str, i64> = domains
        .iter()
        .enumerate()
        .map(|(k, d)| (d.as_str(), k as i64))
        .collect();
    let train_x = csr_of(&cells, &train_rows, n_genes)?;
    let target_x = csr_of(&cells, &target_rows, n_genes)?;
    let load_seconds = t0.elapsed().as_secs_f64();
    let nnz_fraction = (train_x.nnz() + target_x.nnz()) as f64
        / ((train_rows.len() + target_rows.len()) * n_genes) as f64;

    let mut config = Config::preset(&args.config)?;
    config.max_epochs = args.epochs;
    config.seed = args.seed;
    config.threads = args.threads;
    let train = TrainData {
        x: train_x,
        labels: train_rows
            .iter()
            .map(|&i| class_code[meta[i].0.as_str()])
            .collect(),
        domains: vec![train_rows
            .iter()
            .map(|&i| domain_code[meta[i].1.as_str()])
            .collect()],
    };
    let target = TargetData {
        x: target_x.clone(),
        domains: vec![target_rows
            .iter()
            .map(|&i| domain_code[meta[i].1.as_str()])
            .collect()],
    };
    let info = ModelInfo {
        genes,
        classes: classes.clone(),
        covariates: vec![Covariate::single(domains)],
        input_genes: None,
    };
    let batch_size = config.batch_size;
    let mut trainer = Trainer::new(config, train, Some(target), info)?;
    trainer.set_first_layer_mode(args.mode);
    let n_fit = train_rows.len() - trainer.validation_cells().len();
    let mut epoch_seconds = Vec::new();
    let mut epoch_cpu_seconds = Vec::new();
    while !trainer.is_finished() {
        let start = Instant::now();
        let cpu0 = process_cpu_seconds();
        let st = trainer.run_epoch(&mut || false)?;
        epoch_seconds.push(start.elapsed().as_secs_f64());
        epoch_cpu_seconds.push(process_cpu_seconds() - cpu0);
        eprintln!(
            "epoch {}: {:.2} s, loss {:.4}, val acc {:.4}",
            st.epoch,
            epoch_seconds.last().unwrap_or(&0.0),
            st.loss,
            st.val_accuracy
        );
    }
    let mut model = trainer.finish()?;
    model.set_first_layer_mode(args.mode);

    let start = Instant::now();
    let pred = model.predict(&target_x, true, args.threads)?;
    let predict_seconds = start.elapsed().as_secs_f64();
    let c = pred.n_classes;
    let predicted: Vec<i64> = (0..pred.n_cells)
        .map(|i| {
            let row = &pred.probabilities[i * c..(i + 1) * c];
            (0..c).fold(0, |b, k| if row[k] > row[b] { k } else { b }) as i64
        })
        .collect();
    let (mut correct, mut known) = (0usize, 0usize);
    for (i, &r) in target_rows.iter().enumerate() {
        if let Some(&y) = class_code.get(meta[r].0.as_str()) {
            known += 1;
            correct += (predicted[i] == y) as usize;
        }
    }
    let n_ig = args.ig_cells.min(target_rows.len());
    let ig_rows: Vec<usize> = (0..n_ig).collect();
    let ig_x = target_x.select_rows(&ig_rows)?;
    let start = Instant::now();
    let ig = model.integrated_gradients(
        &ig_x,
        &predicted[..n_ig],
        args.ig_steps,
        args.threads,
        &mut || false,
    )?;
    let ig_seconds = start.elapsed().as_secs_f64();
    let mut completeness = Vec::new();
    let zero = CsrMatrix::from_dense(
        1,
        n_genes,
        &vec![0.0; n_genes],
        &(0..n_genes as i32).collect::<Vec<_>>(),
        n_genes,
        Values::Normalised,
    )?;
    let p0 = model.predict(&zero, false, args.threads)?;
    let p = model.predict(&ig_x, false, args.threads)?;
    for i in 0..n_ig {
        let k = predicted[i] as usize;
        let sum: f64 = ig[i * n_genes..(i + 1) * n_genes]
            .iter()
            .map(|&v| v as f64)
            .sum();
        let fx = p.probabilities[i * c + k] as f64;
        completeness.push((sum - (fx - p0.probabilities[k] as f64)).abs() / fx);
    }

    let mut out = BTreeMap::new();
    let j = |v: serde_json::Value| v;
    out.insert("data", j(args.data.display().to_string().into()));
    out.insert("train_domains", j(args.train_domains.clone().into()));
    out.insert("target_domains", j(args.target_domains.clone().into()));
    out.insert("config", j(args.config.clone().into()));
    out.insert(
        "first_layer",
        j(format!("{:?}", args.mode).to_lowercase().into()),
    );
    out.insert("threads", j(args.threads.into()));
    out.insert("n_train_cells", j(train_rows.len().into()));
    out.insert("n_target_cells", j(target_rows.len().into()));
    out.insert("n_genes", j(n_genes.into()));
    out.insert("nnz_fraction", j(nnz_fraction.into()));
    out.insert("steps_per_epoch", j(n_fit.div_ceil(batch_size).into()));
    out.insert("epoch_seconds", j(epoch_seconds.clone().into()));
    out.insert("seconds_per_epoch_median", j(median(&epoch_seconds).into()));
    out.insert("epoch_cpu_seconds", j(epoch_cpu_seconds.clone().into()));
    out.insert(
        "cpu_seconds_per_epoch_median",
        j(median(&epoch_cpu_seconds).into()),
    );
    let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    out.insert("seconds_per_epoch_min", j(min(&epoch_seconds).into()));
    out.insert(
        "cpu_seconds_per_epoch_min",
        j(min(&epoch_cpu_seconds).into()),
    );
    #[cfg(target_arch = "x86_64")]
    out.insert(
        "avx2_fma",
        j((std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        .into()),
    );
    out.insert(
        "target_accuracy_after_epochs",
        j((correct as f64 / known.max(1) as f64).into()),
    );
    out.insert("predict_cells", j(target_rows.len().into()));
    out.insert("predict_seconds", j(predict_seconds.into()));
    out.insert(
        "predict_cells_per_s",
        j((target_rows.len() as f64 / predict_seconds).into()),
    );
    out.insert("ig_cells", j(n_ig.into()));
    out.insert("ig_steps", j(args.ig_steps.into()));
    out.insert("ig_seconds", j(ig_seconds.into()));
    out.insert("ig_cells_per_s", j((n_ig as f64 / ig_seconds).into()));
    out.insert(
        "ig_completeness_rel_err_median",
        j(median(&completeness).into()),
    );
    out.insert("data_load_seconds", j(load_seconds.into()));
    out.insert("loadavg_start", j(load_start.trim().into()));
    out.insert(
        "loadavg_end",
        j(std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .into()),
    );
    out.insert(
        "versions",
        serde_json::to_value(scnym_core::backend_versions())?,
    );
    out.insert("mkl", j(tch::utils::has_mkl().into()));
    let text = serde_json::to_string_pretty(&out)?;
    println!("{text}");
    if let Some(path) = args.out {
        std::fs::write(path, text + "\n")?;
    }
    Ok(())
}
