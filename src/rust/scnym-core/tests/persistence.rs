//! Model files: round trips, and refusal (never a panic) of damaged or foreign files.
mod common;

use common::*;
use scnym_core::config::Config;
use scnym_core::model::FORMAT_VERSION;
use scnym_core::novelty::LEGACY_MAXIMUM_PER_UNIT;
use scnym_core::Model;
use std::collections::HashMap;

/// The small data set and configuration of these tests (3 epochs, width 16).
fn small_setup() -> (Synth, Config) {
    let s = synth(&SynthSpec {
        n_train: 100,
        n_target: 50,
        n_genes: 60,
        ..SynthSpec::default()
    });
    let mut cfg = quick_config("default", 3, 7);
    cfg.hidden_width = 16;
    (s, cfg)
}

fn small_model() -> (Model, Synth) {
    let _serial = serial();
    tch::set_num_threads(1);
    let (s, cfg) = small_setup();
    (train(cfg, &s, true), s)
}

#[test]
fn save_load_round_trip_predicts_identically() {
    let (model, s) = small_model();
    let dir = std::env::temp_dir().join(format!("scnym-core-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    let x = s.target_x();
    let p = model.predict(&x, true, 1).unwrap();
    assert_eq!(p.novelty.len(), p.n_cells, "a trained model scores novelty");
    assert!(p.novelty.iter().all(|v| v.is_finite() && *v >= 0.0));
    for calibrated in [false, true] {
        assert_eq!(
            model.predict(&x, calibrated, 1).unwrap(),
            loaded.predict(&x, calibrated, 1).unwrap()
        );
    }
    assert_eq!(model.meta(), loaded.meta());
    assert_eq!(model.to_bytes().unwrap(), loaded.to_bytes().unwrap());
    let from_bytes = Model::from_bytes(&model.to_bytes().unwrap()).unwrap();
    assert_eq!(
        model.predict(&x, true, 1).unwrap(),
        from_bytes.predict(&x, true, 1).unwrap()
    );
    // the temperature is stored
    let mut m2 = Model::from_bytes(&model.to_bytes().unwrap()).unwrap();
    m2.set_temperature(3.5).unwrap();
    assert_eq!(
        Model::from_bytes(&m2.to_bytes().unwrap())
            .unwrap()
            .meta()
            .temperature,
        3.5
    );
    assert_eq!(
        m2.set_temperature(f64::NAN).unwrap_err().kind(),
        "invalid_argument"
    );
    assert_eq!(
        m2.set_temperature(0.0).unwrap_err().kind(),
        "invalid_argument"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // io errors
    let missing = Model::load(&dir.join("nope.safetensors")).unwrap_err();
    assert_eq!(missing.kind(), "io");
    assert!(missing.to_string().contains("nope.safetensors"));
    assert_eq!(
        model
            .save(&dir.join("no/such/dir/m.safetensors"))
            .unwrap_err()
            .kind(),
        "io"
    );
}

#[test]
fn truncated_and_bit_flipped_files_are_refused() {
    let (model, _) = small_model();
    let bytes = model.to_bytes().unwrap();
    let n = bytes.len();
    // every truncation length near the ends, and a spread in between
    let mut lengths: Vec<usize> = (0..64.min(n)).collect();
    lengths.extend((n.saturating_sub(64))..n);
    lengths.extend((0..200).map(|i| i * n / 200));
    for len in lengths {
        let r = std::panic::catch_unwind(|| Model::from_bytes(&bytes[..len]));
        let r = r.unwrap_or_else(|_| panic!("panic on a file truncated to {len} bytes"));
        assert_eq!(r.unwrap_err().kind(), "model_file", "truncated to {len}");
    }
    // single bit flips across the whole file (header and data)
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize + 8;
    let mut positions: Vec<usize> = (0..header_len.min(4000)).step_by(3).collect();
    positions.extend((header_len..n).step_by(997));
    positions.push(n - 1);
    for pos in positions {
        for bit in [0u8, 5] {
            let mut damaged = bytes.clone();
            damaged[pos] ^= 1 << bit;
            let r = std::panic::catch_unwind(|| Model::from_bytes(&damaged));
            let r = r.unwrap_or_else(|_| panic!("panic on a bit flip at byte {pos}"));
            match r {
                Err(e) => assert_eq!(e.kind(), "model_file", "flip at {pos}: {e}"),
                Ok(_) => panic!("a bit flip at byte {pos} (bit {bit}) went unnoticed"),
            }
        }
    }
    assert_eq!(Model::from_bytes(b"").unwrap_err().kind(), "model_file");
    assert_eq!(
        Model::from_bytes(&[0xff; 100]).unwrap_err().kind(),
        "model_file"
    );
}

/// Rewrites a model file with its metadata edited by `edit` (checksum left as it was).
fn with_metadata(
    bytes: &[u8],
    edit: impl Fn(&mut serde_json::Value),
    drop_tensor: Option<&str>,
) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let mut map: HashMap<String, String> = header.metadata().clone().unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&map["scnym"]).unwrap();
    edit(&mut meta);
    map.insert("scnym".into(), meta.to_string());
    let tensors: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| Some(n.as_str()) != drop_tensor)
        .collect();
    safetensors::tensor::serialize(tensors, &Some(map)).unwrap()
}

#[test]
fn newer_foreign_and_incomplete_files_are_refused_with_reasons() {
    let (model, _) = small_model();
    let bytes = model.to_bytes().unwrap();
    let newer = with_metadata(&bytes, |m| m["format_version"] = 99.into(), None);
    let e = Model::from_bytes(&newer).unwrap_err();
    assert_eq!(e.kind(), "model_file");
    assert!(e.to_string().contains("upgrade scnym"), "{e}");
    let missing = with_metadata(&bytes, |_| {}, Some("classifier.output.bias"));
    let e = Model::from_bytes(&missing).unwrap_err();
    assert!(e.to_string().contains("classifier.output.bias"), "{e}");
    let bad_config = with_metadata(&bytes, |m| m["config"]["dropout"] = 3.0.into(), None);
    assert_eq!(
        Model::from_bytes(&bad_config).unwrap_err().kind(),
        "model_file"
    );
    let edited = with_metadata(&bytes, |m| m["temperature"] = 2.0.into(), None);
    let e = Model::from_bytes(&edited).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    // the novelty reference must match its metadata
    let short = with_metadata(&bytes, |_| {}, Some("novelty.reference"));
    let e = Model::from_bytes(&short).unwrap_err();
    assert!(e.to_string().contains("novelty.reference"), "{e}");
    let foreign = safetensors::tensor::serialize(
        vec![(
            "w",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &[0, 0, 0, 0])
                .unwrap(),
        )],
        &None,
    )
    .unwrap();
    let e = Model::from_bytes(&foreign).unwrap_err();
    assert!(e.to_string().contains("not a scnym model"), "{e}");
}

/// Asserts that every value of `mean` is the mean of `a`'s and `b`'s with weights 1 and `w`,
/// within `tol`.
fn assert_mean_of(mean: &[f32], a: &[f32], b: &[f32], w: f32, tol: f32) {
    assert_eq!((mean.len(), a.len()), (b.len(), b.len()));
    for ((m, u), v) in mean.iter().zip(a).zip(b) {
        assert!(
            (m - (u + w * v) / (1.0 + w)).abs() < tol,
            "{m} is not the mean of {u} and {v} with weights 1 and {w}"
        );
    }
}

#[test]
fn ensembles_average_their_members_and_round_trip() {
    let (a, s) = small_model();
    let b = {
        let _serial = serial();
        let mut cfg = quick_config("default", 3, 8);
        cfg.hidden_width = 16;
        train(cfg, &s, true)
    };
    let x = s.target_x();
    let (pa, pb) = (
        a.predict(&x, true, 1).unwrap(),
        b.predict(&x, true, 1).unwrap(),
    );
    assert!(pa.disagreement.is_empty());
    let ens = Model::ensemble(vec![
        Model::from_bytes(&a.to_bytes().unwrap()).unwrap(),
        Model::from_bytes(&b.to_bytes().unwrap()).unwrap(),
    ])
    .unwrap();
    assert_eq!(ens.n_members(), 2);
    let pe = ens.predict(&x, true, 1).unwrap();
    assert_mean_of(
        &pe.probabilities,
        &pa.probabilities,
        &pb.probabilities,
        1.0,
        1e-6,
    );
    assert_mean_of(&pe.novelty, &pa.novelty, &pb.novelty, 1.0, 1e-5);
    assert_eq!(pe.embedding, pa.embedding, "the first member's embedding");
    assert_eq!(pe.disagreement.len(), pe.n_cells);
    assert!(pe.disagreement.iter().all(|&d| d.is_finite() && d >= 0.0));
    assert!(pe.disagreement.iter().any(|&d| d > 0.0));
    // one file holds every member
    let bytes = ens.to_bytes().unwrap();
    let back = Model::from_bytes(&bytes).unwrap();
    assert_eq!(back.n_members(), 2);
    assert_eq!(back.predict(&x, true, 1).unwrap(), pe);
    assert_eq!(back.to_bytes().unwrap(), bytes);
    // a missing member tensor, or a member's metadata edited, is refused
    let missing = with_metadata(&bytes, |_| {}, Some("member1.classifier.output.bias"));
    let e = Model::from_bytes(&missing).unwrap_err();
    assert!(
        e.to_string().contains("member1.classifier.output.bias"),
        "{e}"
    );
    let st = safetensors::SafeTensors::read_metadata(&bytes).unwrap().1;
    let mut map = st.metadata().clone().unwrap();
    let members: Vec<String> = serde_json::from_str(&map["scnym_members"]).unwrap();
    let edited: Vec<String> = members
        .iter()
        .map(|m| m.replace("\"temperature\":", "\"temperature\":1"))
        .collect();
    map.insert(
        "scnym_members".into(),
        serde_json::to_string(&edited).unwrap(),
    );
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let rewritten = safetensors::tensor::serialize(tensors.tensors(), &Some(map)).unwrap();
    let e = Model::from_bytes(&rewritten).unwrap_err();
    assert_eq!(e.kind(), "model_file", "{e}");
    // members must share genes and classes
    let other = {
        let _serial = serial();
        let s2 = synth(&SynthSpec {
            n_train: 100,
            n_target: 50,
            n_genes: 61,
            ..SynthSpec::default()
        });
        let mut cfg = quick_config("default", 2, 1);
        cfg.hidden_width = 16;
        train(cfg, &s2, true)
    };
    assert_eq!(
        Model::ensemble(vec![a, other]).unwrap_err().kind(),
        "invalid_argument"
    );
}

#[test]
fn a_member_on_some_genes_reads_only_them() {
    use scnym_core::train::{TargetData, Trainer};
    let (a, s) = small_model();
    let genes: Vec<usize> = (0..60).step_by(3).collect();
    let mut keep = vec![false; 60];
    genes.iter().for_each(|&g| keep[g] = true);
    let mut cfg = small_setup().1;
    cfg.seed = 8;
    cfg.reference_sample = 40;
    let mut info = s.info();
    info.input_genes = Some(genes.clone());
    let b = {
        let _serial = serial();
        train_data(
            cfg.clone(),
            s.train_data(),
            Some(s.target_data()),
            info.clone(),
        )
    };
    assert_eq!(b.meta().input_genes.as_deref(), Some(&genes[..]));
    // a file whose genes are not the model's is refused
    for bad in [
        serde_json::json!([60]),
        serde_json::json!([3, 1]),
        serde_json::json!([]),
    ] {
        let forged = resealed(
            &b.to_bytes().unwrap(),
            |m| m["input_genes"] = bad.clone(),
            None,
            |_| {},
        );
        let e = Model::from_bytes(&forged).unwrap_err();
        assert!(e.to_string().contains("input genes"), "{e}");
    }
    // the other genes' values change nothing: their first-layer rows stayed zero
    let x = s.target_x();
    let only = x.keep_columns(&keep).unwrap();
    let pb = b.predict(&x, true, 1).unwrap();
    assert_eq!(pb, b.predict(&only, true, 1).unwrap());
    assert!(pb.novelty.is_empty(), "the novelty score is of every gene");
    // in an ensemble it votes with weight variable_gene_weight (2 by default) against 1; the
    // every-gene members give the novelty and the embedding
    let pa = a.predict(&x, true, 1).unwrap();
    let copy = |m: &Model| Model::from_bytes(&m.to_bytes().unwrap()).unwrap();
    let ens = Model::ensemble(vec![copy(&a), copy(&b)]).unwrap();
    let pe = ens.predict(&x, true, 1).unwrap();
    assert_eq!((&pe.novelty, &pe.embedding), (&pa.novelty, &pa.embedding));
    assert_mean_of(
        &pe.probabilities,
        &pa.probabilities,
        &pb.probabilities,
        2.0,
        1e-6,
    );
    let back = Model::from_bytes(&ens.to_bytes().unwrap()).unwrap();
    assert_eq!(
        back.member_metas()[1].input_genes.as_deref(),
        Some(&genes[..])
    );
    assert_eq!(back.predict(&x, true, 1).unwrap(), pe);
    // other weights (0: the every-gene member alone), the attributions weighted alike
    let weighted = |w: f64| {
        let first = Model::from_bytes(&resealed(
            &a.to_bytes().unwrap(),
            |m| m["config"]["variable_gene_weight"] = w.into(),
            None,
            |_| {},
        ))
        .unwrap();
        Model::ensemble(vec![first, copy(&b)]).unwrap()
    };
    let classes = vec![1i64; x.n_rows()];
    let ig = |m: &Model| {
        m.integrated_gradients(&x, &classes, 8, 1, &mut || false)
            .unwrap()
    };
    let (none, three) = (weighted(0.0), weighted(3.0));
    let p0 = none.predict(&x, true, 1).unwrap();
    assert_eq!(
        (&p0.probabilities, &p0.logits, &p0.novelty),
        (&pa.probabilities, &pa.logits, &pa.novelty)
    );
    assert_eq!(ig(&none), ig(&a));
    let p3 = three.predict(&x, true, 1).unwrap();
    assert_mean_of(
        &p3.probabilities,
        &pa.probabilities,
        &pb.probabilities,
        3.0,
        1e-6,
    );
    assert_mean_of(&ig(&three), &ig(&a), &ig(&b), 3.0, 1e-5);
    assert_eq!(
        Model::ensemble(vec![copy(&b), copy(&a)])
            .unwrap_err()
            .kind(),
        "invalid_argument"
    );
    // adaptation keeps the member on its genes
    let n = x.n_rows();
    let target = TargetData {
        x: s.target_x(),
        domains: vec![vec![1; n]],
    };
    let domains = vec!["reference".to_string(), "query".to_string()];
    let adapted = {
        let _serial = serial();
        let mut t = Trainer::adapt(&b, 0, cfg.clone(), target, domains).unwrap();
        t.run_epoch(&mut || false).unwrap();
        t.finish().unwrap()
    };
    assert_eq!(adapted.meta().input_genes.as_deref(), Some(&genes[..]));
    let p = adapted.predict(&x, true, 1).unwrap();
    assert_ne!(p, pb);
    assert_eq!(p, adapted.predict(&only, true, 1).unwrap());
    // the genes must be ascending indices of model genes
    for bad in [vec![], vec![3, 1], vec![0, 60]] {
        let mut info = s.info();
        info.input_genes = Some(bad);
        let e = Trainer::new(cfg.clone(), s.train_data(), None, info).err();
        assert_eq!(e.map(|e| e.kind()), Some("invalid_argument"));
    }
}

/// 64-bit FNV-1a, continued from `h` (the model file's checksum, written out here so that the
/// test can forge files whose content is bad but whose checksum is valid).
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// Rewrites a model file with its metadata edited by `edit_meta` and the tensor `tensor` (if
/// any) edited by `edit_data`, then seals it with a valid checksum.
fn resealed(
    bytes: &[u8],
    edit_meta: impl Fn(&mut serde_json::Value),
    tensor: Option<&str>,
    edit_data: impl Fn(&mut [u8]),
) -> Vec<u8> {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data = &bytes[8 + header_len..];
    // the tensors in file order, which is the order the checksum covers
    let mut order: Vec<(String, Vec<usize>, usize, usize)> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .map(|(k, v)| {
            let off = &v["data_offsets"];
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let (start, end) = (off[0].as_u64().unwrap(), off[1].as_u64().unwrap());
            (k.clone(), shape, start as usize, end as usize)
        })
        .collect();
    order.sort_by_key(|t| t.2);
    let mut meta: serde_json::Value =
        serde_json::from_str(header["__metadata__"]["scnym"].as_str().unwrap()).unwrap();
    edit_meta(&mut meta);
    let meta_json = meta.to_string();
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = order
        .into_iter()
        .map(|(name, shape, start, end)| {
            let mut d = data[start..end].to_vec();
            if Some(name.as_str()) == tensor {
                edit_data(&mut d);
            }
            (name, shape, d)
        })
        .collect();
    let mut h = fnv1a(0xCBF2_9CE4_8422_2325, meta_json.as_bytes());
    for (name, _, d) in &owned {
        h = fnv1a(h, name.as_bytes());
        h = fnv1a(h, &(d.len() as u64).to_le_bytes());
        h = fnv1a(h, d);
    }
    let mut map = HashMap::new();
    map.insert("scnym".to_string(), meta_json);
    map.insert("scnym_checksum".to_string(), format!("{h:016x}"));
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter_mut()
        .map(|(name, shape, d)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), d)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    safetensors::tensor::serialize(views, &Some(map)).unwrap()
}

/// A format 2 file (one list of `domains`, before covariates) loads as one covariate "domain" of
/// weight 1 and predicts as the model it was written from.
#[test]
fn format_2_files_load_as_one_covariate() {
    let (model, s) = small_model();
    let bytes = model.to_bytes().unwrap();
    let old = resealed(
        &bytes,
        |m| {
            let obj = m.as_object_mut().unwrap();
            let levels = obj.remove("covariates").unwrap()[0]["levels"].clone();
            obj.insert("domains".into(), levels);
            obj.insert("format_version".into(), 2.into());
        },
        None,
        |_| {},
    );
    let loaded = Model::from_bytes(&old).unwrap();
    let mut want = model.meta().clone();
    want.novelty.as_mut().unwrap().scale /= LEGACY_MAXIMUM_PER_UNIT;
    assert_eq!(loaded.meta(), &want);
    assert_eq!(loaded.meta().covariates[0].name, "domain");
    assert_eq!(loaded.meta().covariates[0].weight, 1.0);
    assert_eq!(loaded.meta().format_version, FORMAT_VERSION);
    let x = s.target_x();
    let (got, then) = (
        loaded.predict(&x, true, 1).unwrap(),
        model.predict(&x, true, 1).unwrap(),
    );
    assert_eq!(got.probabilities, then.probabilities);
    assert_eq!(got.embedding, then.embedding);
}

/// A format 3 file measures novelty in units of the validation cells' largest distance; it
/// loads with the unit converted to the upper quartile's (scores `LEGACY_MAXIMUM_PER_UNIT` times
/// larger) and predicts as the model it was written from.
#[test]
fn format_3_files_convert_the_novelty_unit() {
    let (model, s) = small_model();
    let bytes = model.to_bytes().unwrap();
    let old = resealed(&bytes, |m| m["format_version"] = 3.into(), None, |_| {});
    let loaded = Model::from_bytes(&old).unwrap();
    assert_eq!(loaded.meta().format_version, FORMAT_VERSION);
    let (scale, then_scale) = (
        loaded.meta().novelty.as_ref().unwrap().scale,
        model.meta().novelty.as_ref().unwrap().scale,
    );
    assert!((scale * LEGACY_MAXIMUM_PER_UNIT - then_scale).abs() < 1e-12 * then_scale);
    let x = s.target_x();
    let (got, then) = (
        loaded.predict(&x, true, 1).unwrap(),
        model.predict(&x, true, 1).unwrap(),
    );
    assert_eq!(got.probabilities, then.probabilities);
    assert!(!then.novelty.is_empty());
    for (g, t) in got.novelty.iter().zip(&then.novelty) {
        let want = t * LEGACY_MAXIMUM_PER_UNIT as f32;
        assert!((g - want).abs() <= 1e-5 * want.max(1.0), "{g} vs {want}");
    }
}

#[test]
fn files_with_a_valid_checksum_but_bad_content_are_refused() {
    let (model, _) = small_model();
    let bytes = model.to_bytes().unwrap();
    // the forger itself is faithful: an unedited file loads
    let same = resealed(&bytes, |_| {}, None, |_| {});
    assert_eq!(Model::from_bytes(&same).unwrap().meta(), model.meta());
    let refused = |forged: Vec<u8>, what: &str| {
        let e = Model::from_bytes(&forged).unwrap_err();
        assert_eq!(e.kind(), "model_file", "{what}: {e}");
        assert!(e.to_string().contains(what), "{what}: {e}");
    };
    let nan = |d: &mut [u8]| d[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    refused(
        resealed(&bytes, |_| {}, Some("classifier.output.weight"), nan),
        "NaN or infinite",
    );
    let inf = |d: &mut [u8]| d[..4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    refused(
        resealed(&bytes, |_| {}, Some("classifier.output.bias"), inf),
        "NaN or infinite",
    );
    let first_class = model.meta().classes[0].clone();
    refused(
        resealed(
            &bytes,
            |m| m["classes"][1] = first_class.clone().into(),
            None,
            |_| {},
        ),
        "occurs more than once",
    );
    let first_gene = model.meta().genes[0].clone();
    refused(
        resealed(
            &bytes,
            |m| m["genes"][3] = first_gene.clone().into(),
            None,
            |_| {},
        ),
        "occurs more than once",
    );
    refused(
        resealed(&bytes, |m| m["classes"][0] = "".into(), None, |_| {}),
        "is empty",
    );
    refused(
        resealed(&bytes, |m| m["genes"][2] = "".into(), None, |_| {}),
        "is empty",
    );
    // shapes must follow the metadata: one gene fewer than the first layer has
    refused(
        resealed(
            &bytes,
            |m| {
                m["genes"].as_array_mut().unwrap().pop();
            },
            None,
            |_| {},
        ),
        "shape",
    );
}

#[test]
fn a_reference_sample_round_trips_and_adapts_the_model() {
    use scnym_core::train::{TargetData, Trainer};
    let _serial = serial();
    tch::set_num_threads(1);
    let (s, mut cfg) = small_setup();
    let plain = train(cfg.clone(), &s, false);
    cfg.reference_sample = 40;
    let model = train(cfg.clone(), &s, false);
    assert_eq!(model.reference_sample_size(), 40);
    assert_eq!(model.meta().reference_sample.as_ref().unwrap().n_cells, 40);
    let bytes = model.to_bytes().unwrap();
    let loaded = Model::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.reference_sample_size(), 40);
    assert_eq!(loaded.to_bytes().unwrap(), bytes);
    // the sample's content is checked like every tensor
    let bad_column = |d: &mut [u8]| d[..4].copy_from_slice(&1e9f32.to_le_bytes());
    let forged = resealed(&bytes, |_| {}, Some("reference_sample.columns"), bad_column);
    let e = Model::from_bytes(&forged).unwrap_err();
    assert_eq!(e.kind(), "model_file");
    assert!(e.to_string().contains("reference sample"), "{e}");
    // adaptation: the model's weights, the sample as labelled cells, the target as query
    let n = s.target_x().n_rows();
    let target = || TargetData {
        x: s.target_x(),
        domains: vec![vec![1; n]],
    };
    let domains = vec!["reference".to_string(), "query".to_string()];
    let mut t = Trainer::adapt(&loaded, 0, cfg.clone(), target(), domains.clone()).unwrap();
    assert!(t.uses_target() && t.uses_adversary());
    t.run_epoch(&mut || false).unwrap();
    let adapted = t.finish().unwrap();
    assert_eq!(adapted.reference_sample_size(), 40);
    assert_eq!(adapted.meta().class_counts, model.meta().class_counts);
    let p = adapted.predict(&s.target_x(), true, 1).unwrap();
    assert!(p.probabilities.iter().all(|v| v.is_finite()));
    assert_ne!(p, model.predict(&s.target_x(), true, 1).unwrap());
    // refused: no sample, another network shape, a member that does not exist
    let e = Trainer::adapt(&plain, 0, cfg.clone(), target(), domains.clone()).err();
    assert_eq!(e.map(|e| e.kind()), Some("invalid_argument"));
    let mut wide = cfg.clone();
    wide.hidden_width = 32;
    assert!(Trainer::adapt(&loaded, 0, wide, target(), domains.clone()).is_err());
    assert!(Trainer::adapt(&loaded, 1, cfg, target(), domains).is_err());
}
