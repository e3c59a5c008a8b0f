//! Integrated gradients: completeness on a trained model, shapes and argument checks.
mod common;

use common::*;
use scnym_core::data::{CsrMatrix, Values, CPM};

#[test]
fn integrated_gradients_are_complete() {
    let _serial = serial();
    tch::set_num_threads(1);
    let s = synth(&SynthSpec {
        n_train: 150,
        n_target: 40,
        n_genes: 120,
        ..SynthSpec::default()
    });
    let model = train(quick_config("default", 20, 2), &s, true);
    // cells the model is confident about (labeled cells), as IG is used to explain a prediction
    let x = s
        .train_x()
        .select_rows(&(0..12).collect::<Vec<_>>())
        .unwrap();
    let g = 120;
    let p = model.predict(&x, false, 1).unwrap();
    let zero = CsrMatrix::from_dense(
        1,
        g,
        &vec![0.0; g],
        &(0..g as i32).collect::<Vec<_>>(),
        g,
        Values::Normalised,
    )
    .unwrap();
    let p0 = model.predict(&zero, false, 1).unwrap();
    let c = p.n_classes;
    // toward the predicted class and toward another class
    for shift in [0usize, 1] {
        let classes: Vec<i64> = (0..12)
            .map(|i| {
                let row = &p.probabilities[i * c..(i + 1) * c];
                let arg = (0..c).fold(0, |b, k| if row[k] > row[b] { k } else { b });
                ((arg + shift) % c) as i64
            })
            .collect();
        let ig = model
            .integrated_gradients(&x, &classes, 100, 1, &mut || false)
            .unwrap();
        assert_eq!(ig.len(), 12 * g);
        let dense = x.to_dense();
        for i in 0..12 {
            let k = classes[i] as usize;
            let fx = p.probabilities[i * c + k] as f64;
            let f0 = p0.probabilities[k] as f64;
            let sum: f64 = ig[i * g..(i + 1) * g].iter().map(|&v| v as f64).sum();
            // toward the predicted class: within 1% of f(x)_k; toward another class (small
            // f(x)_k) within 10% of the change f(x)_k - f(0)_k (a right Riemann sum of 100 steps)
            let tolerance = if shift == 0 {
                0.01 * fx
            } else {
                0.1 * (fx - f0).abs() + 2e-3
            };
            assert!(
                (sum - (fx - f0)).abs() <= tolerance,
                "cell {i} class {k}: sum of IG {sum} vs f(x) - f(0) = {}",
                fx - f0
            );
            // no attribution on genes the cell does not express
            for j in 0..g {
                if dense[i * g + j] == 0.0 {
                    assert_eq!(ig[i * g + j], 0.0);
                }
            }
        }
    }
}

#[test]
fn integrated_gradients_check_their_arguments() {
    let _serial = serial();
    tch::set_num_threads(1);
    let s = synth(&SynthSpec {
        n_train: 60,
        n_target: 20,
        n_genes: 40,
        ..SynthSpec::default()
    });
    let model = train(quick_config("no_ssl", 1, 0), &s, false);
    let x = s.target_x();
    let ok = vec![0i64; 20];
    let kind = |r: scnym_core::error::Result<Vec<f32>>| r.unwrap_err().kind();
    assert_eq!(
        kind(model.integrated_gradients(&x, &ok[..19], 10, 1, &mut || false)),
        "invalid_argument"
    );
    assert_eq!(
        kind(model.integrated_gradients(&x, &[3; 20], 10, 1, &mut || false)),
        "invalid_argument"
    );
    assert_eq!(
        kind(model.integrated_gradients(&x, &ok, 0, 1, &mut || false)),
        "invalid_argument"
    );
    assert_eq!(
        kind(model.integrated_gradients(&x, &ok, 10, 1, &mut || true)),
        "interrupted"
    );
    let narrow = CsrMatrix::from_dense(1, 2, &[1.0, 2.0], &[0, 1], 2, CPM).unwrap();
    assert_eq!(
        kind(model.integrated_gradients(&narrow, &[0], 10, 1, &mut || false)),
        "invalid_data"
    );
    // threads: the same attributions up to rounding
    let some = s.target_x();
    // 2000 steps: four cells per chunk, so five chunks in rounds of two
    let one = model
        .integrated_gradients(&some, &ok, 2000, 1, &mut || false)
        .unwrap();
    let mut calls = 0;
    let two = model
        .integrated_gradients(&some, &ok, 2000, 2, &mut || {
            calls += 1;
            false
        })
        .unwrap();
    assert_eq!(calls, 3);
    let diff = one
        .iter()
        .zip(&two)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-5, "{diff}");
    tch::set_num_threads(1);
    // many cells: several chunks of cells x steps
    let big = s.target_x().select_rows(&vec![3usize; 300]).unwrap();
    let ig = model
        .integrated_gradients(&big, &vec![1; 300], 50, 1, &mut || false)
        .unwrap();
    assert_eq!(ig.len(), 300 * 40);
    assert_eq!(&ig[..40], &ig[299 * 40..]);
}
