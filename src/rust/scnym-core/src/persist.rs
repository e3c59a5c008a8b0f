//! Model files: one safetensors file holding the classifier's tensors as f32 (BatchNorm running
//! statistics included) and, in the header's `__metadata__`, the [`ModelMeta`] JSON under "scnym"
//! and a checksum of metadata and tensor bytes under "scnym_checksum".

use crate::error::{Error, Result};
use crate::model::classifier::{Classifier, Shape};
use crate::model::{
    valid_input_genes, Covariate, Model, ModelMeta, DEFAULT_FIRST_LAYER, FORMAT_VERSION,
};
use crate::novelty::{NoveltyIndex, LEGACY_MAXIMUM_PER_UNIT};
use crate::reference_sample::ReferenceSample;
use safetensors::tensor::{Dtype, SafeTensors};
use serde::Deserialize;
use std::path::Path;
use tch::{Device, Kind, Tensor};

const META_KEY: &str = "scnym";
const CHECKSUM_KEY: &str = "scnym_checksum";
/// The novelty reference's embeddings (cells x width), present when the metadata has `novelty`.
const NOVELTY_TENSOR: &str = "novelty.reference";
/// The reference sample's tensors (see [`ReferenceSample::to_vectors`]), present when the
/// metadata has `reference_sample`.
const SAMPLE_TENSORS: [&str; 5] = [
    "reference_sample.row_nnz",
    "reference_sample.columns",
    "reference_sample.values",
    "reference_sample.labels",
    "reference_sample.held_out",
];
/// A tensor to write: name, shape and little-endian f32 bytes.
type OwnedTensor = (String, Vec<usize>, Vec<u8>);
/// JSON list of the further ensemble members' metadata (absent for a single model).
const MEMBERS_KEY: &str = "scnym_members";

/// 64-bit FNV-1a, continued from `h`.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

fn checksum<'a>(meta_json: &str, tensors: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = fnv1a(0xCBF2_9CE4_8422_2325, meta_json.as_bytes());
    for (name, data) in tensors {
        h = fnv1a(h, name.as_bytes());
        h = fnv1a(h, &(data.len() as u64).to_le_bytes());
        h = fnv1a(h, data);
    }
    format!("{h:016x}")
}

fn tensor_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let flat = t
        .f_detach()?
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?
        .f_view([-1])?;
    let v = Vec::<f32>::try_from(&flat)?;
    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Writes the safetensors layout (8-byte little-endian header length, JSON header padded with
/// spaces to a multiple of 8, tensor data) deterministically: the header's keys are sorted and
/// the tensors stored in the given order (the safetensors crate writes `__metadata__` from a
/// HashMap, whose order changes between runs).
fn write_safetensors(
    tensors: &[OwnedTensor],
    metadata: serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".to_string(), metadata.into());
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        let end = offset + data.len();
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header))
        .map_err(|e| Error::internal(format!("cannot write the model header: {e}")))?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for (_, _, data) in tensors {
        out.extend_from_slice(data);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct VersionProbe {
    format_version: u32,
}

fn corrupt(detail: impl std::fmt::Display) -> Error {
    Error::model_file(format!("the model file is truncated or corrupt ({detail})"))
}

/// Refuses empty or duplicated gene or class names in a model file's metadata.
fn check_names(what: &str, names: &[String]) -> Result<()> {
    if let Some(i) = names.iter().position(|n| n.is_empty()) {
        return Err(corrupt(format!("{what} name {} is empty", i + 1)));
    }
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(corrupt(format!(
            "{what} name {dup:?} occurs more than once"
        )));
    }
    Ok(())
}

/// Name prefix of the tensors of ensemble member `i` (the first member has none).
fn member_prefix(i: usize) -> String {
    format!("member{i}.")
}

/// The metadata text covered by the checksum: a single model's JSON as before ensembles, or
/// with the further members' JSON appended.
fn checked_meta(meta_json: &str, members_json: Option<&str>) -> String {
    match members_json {
        Some(m) => format!("{meta_json}{m}"),
        None => meta_json.to_string(),
    }
}

/// One member of a model file: validated metadata and its tensors' bytes, not yet built.
struct Member<'a> {
    meta: ModelMeta,
    shape: Shape,
    /// (name with prefix, bytes, dims) in the order the checksum covers them.
    datas: Vec<(String, &'a [u8], Vec<i64>)>,
    novelty_at: Option<usize>,
    /// Index of the first of the reference sample's tensors.
    sample_at: Option<usize>,
}

/// A member's metadata, upgraded to this format: files before version 3 list the `domains` of
/// one covariate, read as the covariate `"domain"` of weight 1; files before version 4 measure
/// novelty in units of the validation cells' largest distance, converted to their upper quartile
/// by the typical ratio of the two ([`LEGACY_MAXIMUM_PER_UNIT`]). The upgraded metadata says this
/// version (saving it again writes a file of this version, which older builds refuse by it).
fn parse_meta(meta_json: &str) -> Result<ModelMeta> {
    let mut value: serde_json::Value =
        serde_json::from_str(meta_json).map_err(|e| corrupt(format!("metadata: {e}")))?;
    if let Some(obj) = value.as_object_mut() {
        let version = obj.get("format_version").and_then(|v| v.as_u64());
        if version.is_some_and(|v| v < 3) {
            let levels: Vec<String> = match obj.remove("domains") {
                Some(d) => serde_json::from_value(d)
                    .map_err(|e| corrupt(format!("metadata (domains): {e}")))?,
                None => return Err(corrupt("metadata: no domains")),
            };
            let covariates = serde_json::to_value(vec![Covariate::single(levels)])
                .map_err(|e| Error::internal(e.to_string()))?;
            obj.insert("covariates".into(), covariates);
        }
        if version.is_some_and(|v| v < 4) {
            if let Some(scale) = obj.get_mut("novelty").and_then(|n| n.get_mut("scale")) {
                let maximum = scale
                    .as_f64()
                    .ok_or_else(|| corrupt("metadata: novelty scale"))?;
                *scale = (maximum / LEGACY_MAXIMUM_PER_UNIT).into();
            }
            obj.insert("format_version".into(), FORMAT_VERSION.into());
        }
    }
    serde_json::from_value(value).map_err(|e| corrupt(format!("metadata: {e}")))
}

/// Reads and checks one member's metadata and tensors (names prefixed with `prefix`).
fn read_member<'a>(st: &SafeTensors<'a>, meta_json: &str, prefix: &str) -> Result<Member<'a>> {
    let meta = parse_meta(meta_json)?;
    meta.config
        .validate()
        .map_err(|e| corrupt(format!("stored configuration: {e}")))?;
    if meta.classes.len() < 2
        || meta.genes.is_empty()
        || meta.class_counts.len() != meta.classes.len()
        || !(meta.temperature.is_finite() && meta.temperature > 0.0)
    {
        return Err(corrupt("inconsistent metadata"));
    }
    check_names("gene", &meta.genes)?;
    check_names("class", &meta.classes)?;
    if let Some(genes) = &meta.input_genes {
        if !valid_input_genes(genes, meta.genes.len()) {
            return Err(corrupt("inconsistent input genes"));
        }
    }
    if meta.covariates.is_empty()
        || meta
            .covariates
            .iter()
            .any(|c| !(c.weight.is_finite() && c.weight > 0.0))
    {
        return Err(corrupt("inconsistent covariates"));
    }
    let shape = Shape {
        n_genes: meta.genes.len(),
        width: meta.config.hidden_width,
        n_hidden: meta.config.n_hidden,
        n_classes: meta.classes.len(),
    };
    let mut specs: Vec<(String, Vec<i64>)> = shape
        .tensor_specs()
        .into_iter()
        .map(|(n, d, _)| (format!("{prefix}{n}"), d))
        .collect();
    let mut novelty_at = None;
    if let Some(n) = &meta.novelty {
        if n.class_sizes.len() != meta.classes.len() {
            return Err(corrupt("inconsistent novelty reference"));
        }
        let cells: usize = n.class_sizes.iter().sum();
        novelty_at = Some(specs.len());
        specs.push((
            format!("{prefix}{NOVELTY_TENSOR}"),
            vec![cells as i64, shape.width as i64],
        ));
    }
    let mut sample_at = None;
    if let Some(sm) = &meta.reference_sample {
        if meta.genes.len() >= 1 << 24 || meta.classes.len() >= 1 << 24 {
            return Err(corrupt("a reference sample with too many genes or classes"));
        }
        sample_at = Some(specs.len());
        let lengths = [sm.n_cells, sm.nnz, sm.nnz, sm.n_cells, sm.n_cells];
        for (name, len) in SAMPLE_TENSORS.iter().zip(lengths) {
            specs.push((format!("{prefix}{name}"), vec![len as i64]));
        }
    }
    let mut datas = Vec::with_capacity(specs.len());
    for (name, dims) in specs {
        let view = st
            .tensor(&name)
            .map_err(|_| corrupt(format!("tensor {name} is missing")))?;
        if view.dtype() != Dtype::F32 {
            return Err(corrupt(format!("tensor {name} is not float32")));
        }
        let want: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        if view.shape() != want.as_slice() {
            return Err(corrupt(format!(
                "tensor {name} has shape {:?}, expected {want:?}",
                view.shape()
            )));
        }
        datas.push((name, view.data(), dims));
    }
    Ok(Member {
        meta,
        shape,
        datas,
        novelty_at,
        sample_at,
    })
}

impl Member<'_> {
    fn into_model(self) -> Result<Model> {
        let device = self.meta.config.torch_device();
        let mut tensors = Vec::with_capacity(self.datas.len());
        let mut novelty = None;
        let mut sample_parts: Vec<Vec<f32>> = Vec::new();
        for (i, (name, data, dims)) in self.datas.iter().enumerate() {
            let values: Vec<f32> = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let bad = values.iter().filter(|v| !v.is_finite()).count();
            if bad > 0 {
                return Err(corrupt(format!(
                    "tensor {name} holds {bad} NaN or infinite value(s)"
                )));
            }
            if Some(i) == self.novelty_at {
                let n = self
                    .meta
                    .novelty
                    .clone()
                    .ok_or_else(|| corrupt("novelty reference"))?;
                novelty = Some(NoveltyIndex::from_parts(n, values, self.shape.width)?);
                continue;
            }
            if self
                .sample_at
                .is_some_and(|at| i >= at && i < at + SAMPLE_TENSORS.len())
            {
                sample_parts.push(values);
                continue;
            }
            tensors.push(
                Tensor::f_from_slice(&values)?
                    .f_view(dims.as_slice())?
                    .f_to_device(device)?,
            );
        }
        let sample = match sample_parts.as_slice() {
            [] => None,
            [a, b, c, d, e] => Some(
                ReferenceSample::from_vectors(
                    [a, b, c, d, e],
                    self.shape.n_genes,
                    self.shape.n_classes,
                )
                .map_err(|e| corrupt(e.to_string()))?,
            ),
            _ => return Err(corrupt("reference sample")),
        };
        let net = Classifier::from_tensors(self.shape, self.meta.config.dropout, tensors)?;
        Model::from_parts(net, self.meta, device, DEFAULT_FIRST_LAYER, novelty, sample)
    }
}

impl Model {
    /// The model as the bytes of a safetensors file.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta_json = serde_json::to_string(&self.meta)
            .map_err(|e| Error::internal(format!("cannot serialise the model metadata: {e}")))?;
        let mut owned = self.member_tensors("")?;
        let mut member_jsons = Vec::with_capacity(self.others.len());
        for (i, m) in self.others.iter().enumerate() {
            member_jsons.push(serde_json::to_string(&m.meta).map_err(|e| {
                Error::internal(format!("cannot serialise the model metadata: {e}"))
            })?);
            owned.extend(m.member_tensors(&member_prefix(i + 1))?);
        }
        let members_json =
            (!member_jsons.is_empty()).then(|| serde_json::Value::from(member_jsons).to_string());
        let sum = checksum(
            &checked_meta(&meta_json, members_json.as_deref()),
            owned.iter().map(|(n, _, d)| (n.as_str(), d.as_slice())),
        );
        let mut metadata = serde_json::Map::new();
        metadata.insert(META_KEY.to_string(), meta_json.into());
        if let Some(m) = members_json {
            metadata.insert(MEMBERS_KEY.to_string(), m.into());
        }
        metadata.insert(CHECKSUM_KEY.to_string(), sum.into());
        write_safetensors(&owned, metadata)
    }

    /// This model's tensors (without further members), names prefixed with `prefix`.
    fn member_tensors(&self, prefix: &str) -> Result<Vec<OwnedTensor>> {
        let specs = self.net.shape.tensor_specs();
        let tensors = self.net.tensors();
        let mut owned = Vec::with_capacity(specs.len() + 1);
        for ((name, shape, _), t) in specs.into_iter().zip(tensors) {
            let shape: Vec<usize> = shape.iter().map(|&s| s as usize).collect();
            owned.push((format!("{prefix}{name}"), shape, tensor_bytes(t)?));
        }
        if let Some(index) = &self.novelty {
            let n = index.rows.len() / index.width;
            let data = index.rows.iter().flat_map(|x| x.to_le_bytes()).collect();
            owned.push((
                format!("{prefix}{NOVELTY_TENSOR}"),
                vec![n, index.width],
                data,
            ));
        }
        if let Some(sample) = &self.sample {
            for (name, values) in SAMPLE_TENSORS.iter().zip(sample.to_vectors()) {
                let data = values.iter().flat_map(|x| x.to_le_bytes()).collect();
                owned.push((format!("{prefix}{name}"), vec![values.len()], data));
            }
        }
        Ok(owned)
    }

    /// A model from the bytes of a model file. Checks the format version, the metadata (unique,
    /// non-empty gene and class names), the checksum, every tensor's presence, type and
    /// shape, and that every weight is finite (of every ensemble member); never panics on
    /// arbitrary bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        match std::panic::catch_unwind(|| Model::parse(bytes)) {
            Ok(result) => result,
            Err(_) => Err(corrupt("unreadable")),
        }
    }

    fn parse(bytes: &[u8]) -> Result<Model> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| {
            Error::model_file(format!(
                "not a readable scnym model file (safetensors: {e:?}); it may be truncated or corrupt"
            ))
        })?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| corrupt(format!("{e:?}")))?;
        let map = header.metadata().as_ref().ok_or_else(|| {
            Error::model_file("a safetensors file without scnym metadata: not a scnym model")
        })?;
        let meta_json = map.get(META_KEY).ok_or_else(|| {
            Error::model_file("a safetensors file without scnym metadata: not a scnym model")
        })?;
        let probe: VersionProbe =
            serde_json::from_str(meta_json).map_err(|e| corrupt(format!("metadata: {e}")))?;
        if probe.format_version > FORMAT_VERSION {
            return Err(Error::model_file(format!(
                "the model was saved by a newer version of scnym (model format {}; this version \
                 reads formats up to {FORMAT_VERSION}): upgrade scnym to load it",
                probe.format_version
            )));
        }
        if probe.format_version == 0 {
            return Err(corrupt("format version 0"));
        }
        let members_json = map.get(MEMBERS_KEY);
        let member_jsons: Vec<String> = match members_json {
            Some(m) => serde_json::from_str(m).map_err(|e| corrupt(format!("members: {e}")))?,
            None => Vec::new(),
        };
        let mut members = vec![read_member(&st, meta_json, "")?];
        for (i, m) in member_jsons.iter().enumerate() {
            members.push(read_member(&st, m, &member_prefix(i + 1))?);
        }
        let expected = checksum(
            &checked_meta(meta_json, members_json.map(|m| m.as_str())),
            members
                .iter()
                .flat_map(|m| m.datas.iter().map(|(n, d, _)| (n.as_str(), *d))),
        );
        if map.get(CHECKSUM_KEY) != Some(&expected) {
            return Err(corrupt("checksum mismatch"));
        }
        let models = members
            .into_iter()
            .map(Member::into_model)
            .collect::<Result<Vec<_>>>()?;
        Model::ensemble(models).map_err(|e| corrupt(e.to_string()))
    }

    /// Writes the model file (to a temporary file first, then renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, &bytes).map_err(|e| {
            Error::Io(format!(
                "cannot write the model file {}: {e}",
                path.display()
            ))
        })?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Io(format!(
                "cannot write the model file {}: {e}",
                path.display()
            ))
        })
    }

    /// Reads a model file written by [`Model::save`].
    pub fn load(path: &Path) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Io(format!(
                "cannot read the model file {}: {e}",
                path.display()
            ))
        })?;
        Model::from_bytes(&bytes)
    }
}
