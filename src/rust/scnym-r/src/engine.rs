//! Training, prediction, explanation and persistence: R objects in, scnym-core calls, R objects out.
//!
//! Nothing numeric happens here. Expression data arrive as a list built by the R function
//! `core_data()` (R/extract.R): `kind` ("csr" or "dense"), `n_cells`, `n_genes`, `p`, `i`, `x`
//! (a genes x cells dgCMatrix's slots, i.e. a cells x genes CSR, or a column-major genes x cells
//! matrix, i.e. row-major cells x genes), `gene_map` (0-based model column per input gene or -1),
//! and `n_model_genes`. The values are raw counts (R turns log-normalised input back into
//! pseudo-counts), normalised by the core at the configuration's `scale_factor` and
//! `max_gene_fraction` (a model's own for prediction). The slices borrow R's memory; the core
//! copies what it keeps.
//!
//! Cells used more than once (the members of an ensemble train on the same cells; `scnym_annotate()`
//! trains on the query and then predicts it) cross once: `rs_cells_new()` keeps them normalised in
//! a cell store owned by R, `rs_cells_append()` adds the next block of cells of an input read
//! block by block, and every function that takes a data list also takes
//! `list(store = <cell store>, cells = <0-based rows or NULL>)`.

use crate::boundary::{guard, interrupt_pending, RError, RResult};
use extendr_api::prelude::*;
use scnym_core::config::{apply_threads, Config};
use scnym_core::data::{variable_genes, CsrMatrix, ValueSummary, Values};
use scnym_core::train::{
    run_epochs_together, Covariate, EpochStats, ModelInfo, TargetData, TrainData, Trainer,
};
use scnym_core::{Model, Predictions};
use std::borrow::Cow;

/// One named element of an R list.
fn field(list: &List, name: &str) -> RResult<Robj> {
    for (key, value) in list.iter() {
        if key == name {
            return Ok(value);
        }
    }
    Err(RError::new(
        "internal",
        format!("the data list passed from R has no element `{name}`"),
    ))
}

fn field_usize(list: &List, name: &str) -> RResult<usize> {
    let value = field(list, name)?;
    let number = value
        .as_real()
        .or_else(|| value.as_integer().map(f64::from))
        .ok_or_else(|| RError::new("internal", format!("`{name}` must be a number")))?;
    if !(number >= 0.0 && number.fract() == 0.0 && number < 9.0e15) {
        return Err(RError::new(
            "internal",
            format!("`{name}` must be a non-negative whole number, not {number}"),
        ));
    }
    Ok(number as usize)
}

fn field_str(list: &List, name: &str) -> RResult<String> {
    field(list, name)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| RError::new("internal", format!("`{name}` must be a string")))
}

fn int_slice<'a>(value: &'a Robj, what: &str) -> RResult<&'a [i32]> {
    value
        .as_integer_slice()
        .ok_or_else(|| RError::new("internal", format!("`{what}` must be an integer vector")))
}

fn real_slice<'a>(value: &'a Robj, what: &str) -> RResult<&'a [f64]> {
    value
        .as_real_slice()
        .ok_or_else(|| RError::new("internal", format!("`{what}` must be a double vector")))
}

/// The core's cell store built from a data list of raw counts (see the module documentation),
/// normalised as `values` says.
fn csr_from_data(data: &Robj, values: Values) -> RResult<CsrMatrix> {
    let list = List::try_from(data)?;
    let n_cells = field_usize(&list, "n_cells")?;
    let n_genes = field_usize(&list, "n_genes")?;
    let n_model_genes = field_usize(&list, "n_model_genes")?;
    let gene_map_robj = field(&list, "gene_map")?;
    let gene_map = int_slice(&gene_map_robj, "gene_map")?;
    let x_robj = field(&list, "x")?;
    let x = real_slice(&x_robj, "x")?;
    let matrix = match field_str(&list, "kind")?.as_str() {
        "csr" => {
            let p_robj = field(&list, "p")?;
            let i_robj = field(&list, "i")?;
            CsrMatrix::from_csr_parts(
                n_cells,
                n_genes,
                int_slice(&p_robj, "p")?,
                int_slice(&i_robj, "i")?,
                x,
                gene_map,
                n_model_genes,
                values,
            )?
        }
        "dense" => CsrMatrix::from_dense(n_cells, n_genes, x, gene_map, n_model_genes, values)?,
        other => {
            return Err(RError::new(
                "internal",
                format!("unknown data kind `{other}`"),
            ))
        }
    };
    Ok(matrix)
}

/// Cells normalised once and kept for several calls (see the module documentation).
struct CellStore {
    x: CsrMatrix,
    values: Values,
}

/// Calls `f` with the cells of a data list or of a cell-store reference, normalised as `values`
/// says: a store's rows are borrowed (all of them) or copied (a subset), a data list's are read
/// from R.
fn with_cells<T>(
    data: &Robj,
    values: Values,
    f: impl FnOnce(Cow<'_, CsrMatrix>) -> RResult<T>,
) -> RResult<T> {
    let list = List::try_from(data)?;
    let Ok(store) = field(&list, "store") else {
        return f(Cow::Owned(csr_from_data(data, values)?));
    };
    let ptr: &ExternalPtr<CellStore> = (&store)
        .try_into()
        .map_err(|_| RError::new("internal", "`store` must be a cell store"))?;
    let stored = ptr.try_addr()?;
    if stored.values != values {
        return Err(RError::new(
            "internal",
            "the cell store was normalised at another scale than the model's",
        ));
    }
    let rows = field(&list, "cells")?;
    if rows.is_null() {
        return f(Cow::Borrowed(&stored.x));
    }
    let rows = int_slice(&rows, "cells")?
        .iter()
        .map(|&r| usize::try_from(r).map_err(|_| RError::new("internal", "negative cell index")))
        .collect::<RResult<Vec<_>>>()?;
    f(Cow::Owned(stored.x.select_rows(&rows)?))
}

/// The cells of a data list or cell-store reference as a matrix of the caller's own.
fn owned_cells(data: &Robj, values: Values) -> RResult<CsrMatrix> {
    with_cells(data, values, |x| Ok(x.into_owned()))
}

/// Keeps the cells of a data list, normalised as a model of this configuration reads them, for
/// later calls.
#[extendr]
fn rs_cells_new(data: Robj, config_json: &str) -> Robj {
    guard(|| {
        let values = parse_config(config_json)?.raw_counts();
        let x = csr_from_data(&data, values)?;
        Ok(ExternalPtr::new(CellStore { x, values }).into())
    })
}

/// Appends the cells of a data list (normalised as the store's) to a cell store.
#[extendr]
fn rs_cells_append(store: Robj, data: Robj) -> Robj {
    guard(|| {
        let mut ptr: ExternalPtr<CellStore> = store
            .try_into()
            .map_err(|_| RError::new("internal", "`store` must be a cell store"))?;
        let stored = ptr.try_addr_mut()?;
        let block = csr_from_data(&data, stored.values)?;
        stored.x.extend(&block)?;
        Ok(r!(stored.x.n_rows() as f64))
    })
}

/// The summary of a data list's raw values that R's input checks read (before gene mapping):
/// `n_na`, `n_nan`, `n_inf`, `n_negative`, `min`, `max` (finite values), `whole` and
/// `empty_cells` (1-based).
#[extendr]
fn rs_value_summary(data: Robj) -> Robj {
    guard(|| {
        let list = List::try_from(&data)?;
        let x_robj = field(&list, "x")?;
        let x = real_slice(&x_robj, "x")?;
        let s = match field_str(&list, "kind")?.as_str() {
            "csr" => {
                let p_robj = field(&list, "p")?;
                ValueSummary::of_csr(int_slice(&p_robj, "p")?, x)?
            }
            _ => ValueSummary::of_dense(field_usize(&list, "n_genes")?, x),
        };
        let empty: Vec<f64> = s.empty_cells.iter().map(|&c| c as f64 + 1.0).collect();
        Ok(list!(
            n_na = s.n_na as f64,
            n_nan = s.n_nan as f64,
            n_inf = s.n_inf as f64,
            n_negative = s.n_negative as f64,
            min = s.min,
            max = s.max,
            whole = s.whole,
            empty_cells = empty
        )
        .into())
    })
}

/// Integer codes (0-based) from R as the core's i64 codes.
fn codes(value: &Robj, what: &str) -> RResult<Vec<i64>> {
    Ok(int_slice(value, what)?.iter().map(|&c| c as i64).collect())
}

/// A list of integer code vectors (one per covariate) from R.
fn code_list(value: &Robj, what: &str) -> RResult<Vec<Vec<i64>>> {
    List::try_from(value)
        .map_err(|_| RError::new("internal", format!("`{what}` must be a list")))?
        .values()
        .map(|codes_robj| codes(&codes_robj, what))
        .collect()
}

fn strings(value: &Robj, what: &str) -> RResult<Vec<String>> {
    let s = Strings::try_from(value)
        .map_err(|_| RError::new("internal", format!("`{what}` must be a character vector")))?;
    Ok(s.iter()
        .map(|x| {
            let v: &str = x;
            v.to_string()
        })
        .collect())
}

fn parse_config(json: &str) -> RResult<Config> {
    let config: Config = serde_json::from_str(json)
        .map_err(|e| RError::new("invalid_argument", format!("configuration: {e}")))?;
    config.validate()?;
    Ok(config)
}

/// The JSON of a named preset (the one place preset values are defined).
#[extendr]
fn rs_config_preset(name: &str) -> Robj {
    guard(|| {
        let config = Config::preset(name)?;
        let json =
            serde_json::to_string(&config).map_err(|e| RError::new("internal", e.to_string()))?;
        Ok(r!(json))
    })
}

/// Names of the presets.
#[extendr]
fn rs_config_preset_names() -> Robj {
    guard(|| {
        let names: Vec<&str> = Config::preset_names().to_vec();
        Ok(r!(names))
    })
}

/// Every configuration parameter's kind, range, choices and description, as JSON.
#[extendr]
fn rs_config_schema() -> Robj {
    guard(|| {
        serde_json::to_string(scnym_core::config::SCHEMA)
            .map(Robj::from)
            .map_err(|e| RError::new("internal", e.to_string()))
    })
}

/// Parses and validates a configuration; returns it normalised as JSON.
#[extendr]
fn rs_config_validate(json: &str) -> Robj {
    guard(|| {
        let config = parse_config(json)?;
        let json =
            serde_json::to_string(&config).map_err(|e| RError::new("internal", e.to_string()))?;
        Ok(r!(json))
    })
}

/// 1-based indices (ascending) of the `n` most variable genes of a data list or cell-store
/// reference as a model of this configuration reads it (see
/// `scnym_core::data::variable_genes`).
#[extendr]
fn rs_variable_genes(data: Robj, config_json: &str, n: i32) -> Robj {
    guard(|| {
        let config = parse_config(config_json)?;
        let n = usize::try_from(n)
            .map_err(|_| RError::new("internal", "the number of genes must be non-negative"))?;
        with_cells(&data, config.raw_counts(), |x| {
            let idx: Vec<i32> = variable_genes(&x, n)
                .iter()
                .map(|&g| g as i32 + 1)
                .collect();
            Ok(r!(idx))
        })
    })
}

/// Test hook: the values the core holds for a data list or cell-store reference, as a model of
/// this configuration reads them, as a dense cells x model genes matrix (small inputs only).
#[extendr]
fn rs_debug_store(data: Robj, config_json: &str) -> Robj {
    guard(|| {
        let values = parse_config(config_json)?.raw_counts();
        with_cells(&data, values, |m| {
            r_matrix(&m.to_dense(), m.n_rows(), m.n_cols())
        })
    })
}

/// A trainer owned by R. `finish()` consumes the trainer, so it sits in an `Option`.
struct TrainerBox {
    trainer: Option<Trainer>,
}

/// A trained model owned by R.
struct ModelBox {
    model: Model,
}

fn trainer_mut(handle: Robj) -> RResult<ExternalPtr<TrainerBox>> {
    let ptr: ExternalPtr<TrainerBox> = handle.try_into().map_err(|_| {
        RError::new(
            "invalid_argument",
            "not a live scnym trainer (was it saved and restored, or already finished?)",
        )
    })?;
    Ok(ptr)
}

fn model_ptr(handle: Robj) -> RResult<ExternalPtr<ModelBox>> {
    let ptr: ExternalPtr<ModelBox> = handle
        .try_into()
        .map_err(|_| RError::new("invalid_argument", "not a live scnym model handle"))?;
    Ok(ptr)
}

/// The model's metadata as JSON, with `ensemble_size`, the members' seeds (`member_seeds`) and
/// the number of genes each reads (`member_genes`).
fn meta_json(model: &Model) -> RResult<String> {
    let internal = |e: serde_json::Error| RError::new("internal", e.to_string());
    let mut v = serde_json::to_value(model.meta()).map_err(internal)?;
    let metas = model.member_metas();
    let seeds: Vec<u64> = metas.iter().map(|m| m.config.seed).collect();
    let genes: Vec<usize> = metas
        .iter()
        .map(|m| m.input_genes.as_ref().map_or(m.genes.len(), Vec::len))
        .collect();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("ensemble_size".into(), model.n_members().into());
        obj.insert("member_seeds".into(), seeds.into());
        obj.insert("member_genes".into(), genes.into());
    }
    serde_json::to_string(&v).map_err(internal)
}

fn stats_list(s: &EpochStats) -> Robj {
    list!(
        epoch = s.epoch as i32,
        loss = s.loss,
        loss_sup = s.loss_sup,
        loss_ssl = s.loss_ssl,
        loss_adv = s.loss_adv,
        ssl_weight = s.ssl_weight,
        adv_weight = s.adv_weight,
        val_loss = s.val_loss,
        val_accuracy = s.val_accuracy,
        is_best = s.is_best,
        seconds = s.seconds
    )
    .into()
}

/// A row-major (rows x cols) f32 buffer as an R double matrix.
fn r_matrix(values: &[f32], rows: usize, cols: usize) -> RResult<Robj> {
    if values.len() != rows * cols {
        return Err(RError::new(
            "internal",
            format!("{} values for a {rows} x {cols} matrix", values.len()),
        ));
    }
    let mut m = RMatrix::<f64>::new(rows, cols);
    let out = m.data_mut();
    // transposed in tiles, so that reads and writes both stay within a few cache lines
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            for c in c0..(c0 + TILE).min(cols) {
                let column = &mut out[c * rows..(c + 1) * rows];
                for r in r0..r1 {
                    column[r] = values[r * cols + c] as f64;
                }
            }
        }
    }
    Ok(m.into())
}

fn threads_arg(threads: i32) -> RResult<usize> {
    if threads < 0 {
        return Err(RError::new(
            "invalid_argument",
            format!("threads must be 0 or more, not {threads}"),
        ));
    }
    Ok(threads as usize)
}

/// Creates a trainer. `labels`, `domains` and `target_domains` are 0-based integer codes;
/// `target` is a data list or NULL; `input_genes` the 1-based indices of the genes the model
/// reads, or NULL for every gene.
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rs_trainer_new(
    config_json: &str,
    train: Robj,
    labels: Robj,
    domains: Robj,
    target: Robj,
    target_domains: Robj,
    genes: Robj,
    classes: Robj,
    covariates: Robj,
    covariate_weights: &[f64],
    input_genes: Robj,
) -> Robj {
    guard(|| {
        let config = parse_config(config_json)?;
        let input_genes = if input_genes.is_null() {
            None
        } else {
            Some(
                int_slice(&input_genes, "input_genes")?
                    .iter()
                    .map(|&g| {
                        usize::try_from(g - 1).map_err(|_| {
                            RError::new("internal", "input_genes are 1-based gene indices")
                        })
                    })
                    .collect::<RResult<Vec<_>>>()?,
            )
        };
        let train = TrainData {
            x: owned_cells(&train, config.raw_counts())?,
            labels: codes(&labels, "labels")?,
            domains: code_list(&domains, "domains")?,
        };
        let target = if target.is_null() {
            None
        } else {
            Some(TargetData {
                x: owned_cells(&target, config.raw_counts())?,
                domains: code_list(&target_domains, "target_domains")?,
            })
        };
        let levels = List::try_from(&covariates)
            .map_err(|_| RError::new("internal", "`covariates` must be a named list"))?;
        if levels.len() != covariate_weights.len() {
            return Err(RError::new(
                "internal",
                "one weight per covariate is needed",
            ));
        }
        let info = ModelInfo {
            genes: strings(&genes, "genes")?,
            classes: strings(&classes, "classes")?,
            covariates: levels
                .iter()
                .zip(covariate_weights)
                .map(|((name, levels), &weight)| {
                    Ok(Covariate {
                        name: name.to_string(),
                        levels: strings(&levels, "covariates")?,
                        weight,
                    })
                })
                .collect::<RResult<Vec<_>>>()?,
            input_genes,
        };
        let trainer = Trainer::new(config, train, target, info)?;
        let ptr = ExternalPtr::new(TrainerBox {
            trainer: Some(trainer),
        });
        Ok(ptr.into())
    })
}

/// A trainer that adapts member `member` (0-based) of a model to target cells, starting from its
/// weights, with its stored reference sample as the labelled cells (domain code 0).
#[extendr]
fn rs_trainer_adapt(
    handle: Robj,
    member: i32,
    config_json: &str,
    target: Robj,
    target_domains: Robj,
    domain_names: Robj,
) -> Robj {
    guard(|| {
        let ptr = model_ptr(handle)?;
        let boxed = ptr.try_addr()?;
        let target = TargetData {
            x: owned_cells(&target, boxed.model.meta().config.raw_counts())?,
            domains: vec![codes(&target_domains, "target_domains")?],
        };
        let member = usize::try_from(member)
            .map_err(|_| RError::new("internal", "member must be a non-negative index"))?;
        let trainer = Trainer::adapt(
            &boxed.model,
            member,
            parse_config(config_json)?,
            target,
            strings(&domain_names, "domain_names")?,
        )?;
        Ok(ExternalPtr::new(TrainerBox {
            trainer: Some(trainer),
        })
        .into())
    })
}

/// Runs one epoch (Ctrl-C stops it with an "interrupted" error); returns its statistics.
/// `threads` > 0 sets the trainer's threads for this and later epochs (0 keeps its setting).
#[extendr]
fn rs_trainer_run_epoch(handle: Robj, threads: i32) -> Robj {
    guard(|| {
        let mut ptr = trainer_mut(handle)?;
        let boxed = ptr.try_addr_mut()?;
        let trainer = boxed
            .trainer
            .as_mut()
            .ok_or_else(|| RError::new("invalid_argument", "this trainer has already finished"))?;
        if threads > 0 {
            trainer.set_threads(threads as usize);
        }
        let stats = trainer.run_epoch(&mut interrupt_pending)?;
        Ok(stats_list(&stats))
    })
}

/// Runs one epoch of each trainer of a list at the same time (ensemble members, each on its own
/// thread); returns their statistics. Interrupts are handled by R between calls.
#[extendr]
fn rs_trainers_run_epoch(handles: Robj) -> Robj {
    guard(|| {
        let list = handles
            .as_list()
            .ok_or_else(|| RError::new("invalid_argument", "handles must be a list"))?;
        let mut ptrs = list
            .iter()
            .map(|(_, h)| trainer_mut(h))
            .collect::<RResult<Vec<_>>>()?;
        let mut seen = std::collections::HashSet::new();
        let mut trainers = Vec::with_capacity(ptrs.len());
        for p in ptrs.iter_mut() {
            let boxed = p.try_addr_mut()?;
            if !seen.insert(boxed as *const TrainerBox) {
                return Err(RError::new(
                    "invalid_argument",
                    "the same trainer appears twice",
                ));
            }
            trainers.push(boxed.trainer.as_mut().ok_or_else(|| {
                RError::new("invalid_argument", "this trainer has already finished")
            })?);
        }
        let stats = run_epochs_together(trainers)?;
        Ok(List::from_values(stats.iter().map(stats_list)).into())
    })
}

/// Whether training is over (maximum epochs or early stopping).
#[extendr]
fn rs_trainer_is_finished(handle: Robj) -> Robj {
    guard(|| {
        let ptr = trainer_mut(handle)?;
        let boxed = ptr.try_addr()?;
        Ok(r!(boxed.trainer.as_ref().is_none_or(|t| t.is_finished())))
    })
}

/// 1-based indices (into the training cells) of the cells held out for validation.
#[extendr]
fn rs_trainer_validation_cells(handle: Robj) -> Robj {
    guard(|| {
        let ptr = trainer_mut(handle)?;
        let boxed = ptr.try_addr()?;
        let trainer = boxed
            .trainer
            .as_ref()
            .ok_or_else(|| RError::new("invalid_argument", "this trainer has already finished"))?;
        let idx: Vec<i32> = trainer
            .validation_cells()
            .iter()
            .map(|&i| i as i32 + 1)
            .collect();
        Ok(r!(idx))
    })
}

/// A model handed to R: `list(bytes, meta, handle)`.
fn model_result(model: Model) -> RResult<Robj> {
    let bytes = model.to_bytes()?;
    let meta = meta_json(&model)?;
    let handle = ExternalPtr::new(ModelBox { model });
    Ok(list!(
        bytes = Raw::from_bytes(&bytes),
        meta = meta,
        handle = handle
    )
    .into())
}

/// Ends training: the best weights with the fitted temperature, as `list(bytes, meta, handle)`.
#[extendr]
fn rs_trainer_finish(handle: Robj) -> Robj {
    guard(|| {
        let mut ptr = trainer_mut(handle)?;
        let boxed = ptr.try_addr_mut()?;
        let trainer = boxed
            .trainer
            .take()
            .ok_or_else(|| RError::new("invalid_argument", "this trainer has already finished"))?;
        model_result(trainer.finish()?)
    })
}

/// An ensemble of the models in a list of model-file bytes: `list(bytes, meta, handle)`.
#[extendr]
fn rs_model_ensemble(members: Robj) -> Robj {
    guard(|| {
        let list = members
            .as_list()
            .ok_or_else(|| RError::new("invalid_argument", "members must be a list"))?;
        let mut models = Vec::with_capacity(list.len());
        for (_, bytes) in list.iter() {
            let raw = bytes.as_raw_slice().ok_or_else(|| {
                RError::new("invalid_argument", "model bytes must be a raw vector")
            })?;
            models.push(Model::from_bytes(raw)?);
        }
        model_result(Model::ensemble(models)?)
    })
}

/// Reads a model from the bytes of a model file: `list(handle, meta)`.
#[extendr]
fn rs_model_from_bytes(bytes: Robj) -> Robj {
    guard(|| {
        let raw = bytes
            .as_raw_slice()
            .ok_or_else(|| RError::new("invalid_argument", "model bytes must be a raw vector"))?;
        let model = Model::from_bytes(raw)?;
        let meta = meta_json(&model)?;
        let handle = ExternalPtr::new(ModelBox { model });
        Ok(list!(handle = handle, meta = meta).into())
    })
}

/// A numeric vector, or NULL when empty.
fn optional_vector(v: &[f32]) -> Robj {
    if v.is_empty() {
        Robj::from(())
    } else {
        Robj::from(v.iter().map(|&x| x as f64).collect::<Vec<f64>>())
    }
}

/// `r_matrix()` with dimnames `list(rownames, colnames)` (`rownames`: a character vector or
/// NULL), set on the new matrix here: set in R, they would copy it.
fn r_matrix_named(
    values: &[f32],
    rows: usize,
    cols: usize,
    rownames: &Robj,
    colnames: Vec<String>,
) -> RResult<Robj> {
    let mut m = r_matrix(values, rows, cols)?;
    let dimnames = List::from_values([rownames.clone(), Robj::from(colnames)]);
    m.set_attrib(dimnames_symbol(), dimnames)?;
    Ok(m)
}

/// Predictions for a data list: `list(probabilities, embedding, novelty, disagreement)`,
/// cells in rows named `cells` (a character vector or NULL), columns named by class and
/// `scnym_<i>` (`embedding` is NULL unless asked for, `novelty` for a model without a novelty
/// reference, `disagreement` for a single model). With `packed`, those outputs as one raw vector
/// instead (a block of cells predicted by a worker; see rs_predictions_join()).
#[extendr]
fn rs_model_predict(
    handle: Robj,
    data: Robj,
    calibrated: bool,
    threads: i32,
    embedding: bool,
    cells: Robj,
    packed: bool,
) -> Robj {
    guard(|| {
        let ptr = model_ptr(handle)?;
        let boxed = ptr.try_addr()?;
        let threads = threads_arg(threads)?;
        apply_threads(threads)?; // before the cells are read, on as many threads
        let p = with_cells(&data, boxed.model.meta().config.raw_counts(), |x| {
            Ok(boxed.model.predict(&x, calibrated, threads)?)
        })?;
        if packed {
            return Ok(Raw::from_bytes(&p.to_bytes(embedding)).into());
        }
        predictions_list(&p, embedding, &cells, &boxed.model.meta().classes)
    })
}

/// The predictions of consecutive blocks of cells (raw vectors from `rs_model_predict(...,
/// packed = TRUE)`, in cell order) as one list of rs_model_predict(), rows named `cells`.
#[extendr]
fn rs_predictions_join(handle: Robj, blocks: Robj, cells: Robj) -> Robj {
    guard(|| {
        let ptr = model_ptr(handle)?;
        let boxed = ptr.try_addr()?;
        let list = blocks
            .as_list()
            .ok_or_else(|| RError::new("internal", "blocks must be a list"))?;
        let mut parts = Vec::with_capacity(list.len());
        for (_, block) in list.iter() {
            let bytes = block
                .as_raw_slice()
                .ok_or_else(|| RError::new("internal", "a block must be a raw vector"))?;
            parts.push(Predictions::from_bytes(bytes)?);
        }
        let p = Predictions::join(&parts)?;
        predictions_list(
            &p,
            !p.embedding.is_empty(),
            &cells,
            &boxed.model.meta().classes,
        )
    })
}

/// The R list of rs_model_predict() for predictions `p`.
fn predictions_list(
    p: &Predictions,
    embedding: bool,
    cells: &Robj,
    classes: &[String],
) -> RResult<Robj> {
    if !(cells.is_null() || cells.is_string() && cells.len() == p.n_cells) {
        return Err(RError::new("internal", "`cells` must name every cell"));
    }
    let width = (1..=p.embedding_dim)
        .map(|i| format!("scnym_{i}"))
        .collect();
    Ok(list!(
        probabilities = r_matrix_named(
            &p.probabilities,
            p.n_cells,
            p.n_classes,
            cells,
            classes.to_vec()
        )?,
        embedding = if embedding {
            r_matrix_named(&p.embedding, p.n_cells, p.embedding_dim, cells, width)?
        } else {
            Robj::from(())
        },
        novelty = optional_vector(&p.novelty),
        disagreement = optional_vector(&p.disagreement)
    )
    .into())
}

/// Integrated gradients of each cell toward `target_class` (0-based codes): cells x model genes.
#[extendr]
fn rs_model_integrated_gradients(
    handle: Robj,
    data: Robj,
    target_class: Robj,
    steps: i32,
    threads: i32,
) -> Robj {
    guard(|| {
        let ptr = model_ptr(handle)?;
        let boxed = ptr.try_addr()?;
        let target = codes(&target_class, "target_class")?;
        if steps < 1 {
            return Err(RError::new(
                "invalid_argument",
                format!("steps must be at least 1, not {steps}"),
            ));
        }
        let threads = threads_arg(threads)?;
        apply_threads(threads)?; // before the cells are read, on as many threads
        with_cells(&data, boxed.model.meta().config.raw_counts(), |x| {
            let ig = boxed.model.integrated_gradients(
                &x,
                &target,
                steps as usize,
                threads,
                &mut interrupt_pending,
            )?;
            r_matrix(&ig, x.n_rows(), boxed.model.n_genes())
        })
    })
}

/// The model's metadata as JSON.
#[extendr]
fn rs_model_meta(handle: Robj) -> Robj {
    guard(|| {
        let ptr = model_ptr(handle)?;
        let boxed = ptr.try_addr()?;
        Ok(r!(meta_json(&boxed.model)?))
    })
}

extendr_module! {
    mod engine;
    fn rs_config_preset;
    fn rs_config_preset_names;
    fn rs_config_validate;
    fn rs_config_schema;
    fn rs_debug_store;
    fn rs_cells_new;
    fn rs_cells_append;
    fn rs_variable_genes;
    fn rs_value_summary;
    fn rs_trainer_new;
    fn rs_trainer_adapt;
    fn rs_trainer_run_epoch;
    fn rs_trainers_run_epoch;
    fn rs_trainer_is_finished;
    fn rs_trainer_validation_cells;
    fn rs_trainer_finish;
    fn rs_model_from_bytes;
    fn rs_model_ensemble;
    fn rs_model_predict;
    fn rs_predictions_join;
    fn rs_model_integrated_gradients;
    fn rs_model_meta;
}
