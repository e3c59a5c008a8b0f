//! Training, prediction, explanation and persistence: R objects in, scnym-core calls, R objects out.

use extendr_api::prelude::*;

extendr_module! {
    mod engine;
}
