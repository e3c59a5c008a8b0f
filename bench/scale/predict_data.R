# The model and query of bench/scale/predict_workers.R and predict_speed.R (sourced by both): a
# model trained briefly on a simulation (2,000 genes) and its query (2,000 cells) repeated to `n`
# cells as a dgCMatrix with unique cell names.
predict_bench_data <- function(n) {
  sim <- scnym::scnym_simulate(n_reference = 2000, n_query = 2000, n_genes = 2000, seed = 1,
                               output = "matrix")
  model <- scnym::scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                              config = scnym::scnym_config(max_epochs = 2, min_epochs = 1),
                              seed = 1, verbose = FALSE)
  q <- methods::as(sim$query$counts, "CsparseMatrix")
  x <- q[, rep(seq_len(ncol(q)), length.out = n)]
  colnames(x) <- paste0("cell", seq_len(n))
  list(model = model, x = x)
}
