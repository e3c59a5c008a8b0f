//! The R binding of scnym-core. This crate alone knows extendr: it converts R objects to core
//! types and translates every core error (and any panic) into a value R turns into a classed
//! condition. Exported functions are named `rs_*` and are private to the R package.

mod backend;
mod boundary;
mod engine;

use extendr_api::prelude::*;

extendr_module! {
    mod scnym;
    use backend;
    use boundary;
    use engine;
}
