#' scnym: semisupervised adversarial cell type annotation
#'
#' Transfers cell type labels from a labelled single-cell reference to an unlabelled query across
#' a domain shift with scNym (Kimmel & Kelley, Genome Research 2021): a neural network trained
#' with MixMatch semisupervision on the query and a domain adversary. The compute core is written
#' in Rust on libtorch.
#'
#' Main functions:
#' * [scnym_annotate()]: one call that trains on a reference and writes labels, confidence and an
#'   embedding into a Seurat or SingleCellExperiment query;
#' * [scnym_train()], [scnym_predict()]: the two steps separately, for any supported input;
#' * [scnym_config()]: presets and parameters;
#' * [scnym_save()], [scnym_load()]: portable model files;
#' * [scnym_simulate()]: a small simulated reference and query.
#'
#' Errors are classed conditions: every error raised by scnym has class `scnym_error` and
#' `scnym_error_<kind>`, where kind is one of `invalid_argument`, `invalid_data`, `io`,
#' `model_file`, `non_finite_loss`, `interrupted`, `torch` and `internal`.
#'
#' @keywords internal
#' @importFrom rlang %||%
#' @importMethodsFrom Matrix [
"_PACKAGE"
