//! Model files: round trips, and refusal (never a panic) of damaged or foreign files.
mod common;

use common::*;
use scnym_core::Model;
use std::collections::HashMap;

fn small_model() -> (Model, Synth) {
    let _serial = serial();
    tch::set_num_threads(1);
    let s = synth(&SynthSpec {
        n_train: 100,
        n_target: 50,
        n_genes: 60,
        ..SynthSpec::default()
    });
    let mut cfg = quick_config("default", 3, 7);
    cfg.hidden_width = 16;
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
    for ((e, u), v) in pe
        .probabilities
        .iter()
        .zip(&pa.probabilities)
        .zip(&pb.probabilities)
    {
        assert!((e - (u + v) / 2.0).abs() < 1e-6);
    }
    for ((e, u), v) in pe.novelty.iter().zip(&pa.novelty).zip(&pb.novelty) {
        assert!((e - (u + v) / 2.0).abs() < 1e-5);
    }
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
