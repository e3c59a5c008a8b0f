#' Simulate a labelled reference and a shifted query
#'
#' Generates a small single-cell data set for examples, tests and first experiments: a labelled
#' reference and a query of the same cell types measured under a domain shift, as raw counts.
#' Each cell type has its own marker genes. The query differs from the reference by a gene-wise
#' multiplicative batch effect, a block of "response" genes induced in every query cell (like an
#' interferon response), a cell-type-specific response, and lower sequencing depth. Optionally the
#' query holds cell types that the reference lacks. It runs in well under a second at the defaults.
#'
#' Counts are negative binomial (size 2) around `depth * p`, where `p` is a cell's gene-expression
#' profile: a shared baseline plus marker effects (log fold changes 1.5 to 3 on 12 genes per type)
#' plus, in the query, the shift. `shift` scales every part of the shift: 0 gives no shift, 1 a
#' shift that changes the nearest reference type of a noticeable share of query cells.
#'
#' @param n_reference,n_query Numbers of reference and query cells.
#' @param n_genes Number of genes.
#' @param n_types Number of cell types shared by reference and query (2 to 20).
#' @param n_query_only Number of further cell types found only in the query (e.g. to try
#'   [scnym_discover()] and the novelty column of [scnym_predict()]).
#' @param shift Strength of the domain shift (0 = none).
#' @param output What to return: `"SingleCellExperiment"`, `"Seurat"` or `"matrix"`.
#' @param seed Seed of the simulation. The state of R's random number generator is restored
#'   afterwards; `NULL` draws from it instead.
#' @return A list with elements `reference` and `query`. With `output = "SingleCellExperiment"`
#'   each is a SingleCellExperiment with a `counts` assay (`dgCMatrix`, genes x cells) and the
#'   `colData` columns below; with `"Seurat"` a Seurat object (assay `RNA`, counts) with those
#'   `meta.data` columns; with `"matrix"` a list with `counts` (a `dgCMatrix`) and `metadata` (a
#'   data.frame with those columns, one row per cell). Per-cell columns:
#'   * `cell_type`: the true cell type (character; query cells have it too, to score results);
#'   * `domain`: `"reference"` or `"query"`.
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, output = "matrix")
#' dim(sim$reference$counts)
#' table(sim$query$metadata$cell_type)
#' @export
scnym_simulate <- function(n_reference = 600L, n_query = 600L, n_genes = 400L, n_types = 5L,
                           n_query_only = 0L, shift = 1,
                           output = c("SingleCellExperiment", "Seurat", "matrix"), seed = 1L) {
  check_whole(n_reference, min = 1, max = 1e6)
  check_whole(n_query, min = 1, max = 1e6)
  check_whole(n_types, min = 2, max = 20)
  check_whole(n_query_only, min = 0, max = 10)
  check_whole(n_genes, min = 12 * (n_types + n_query_only) + 20, max = 1e5)
  check_number(shift, min = 0, max = 10)
  output <- arg_choice(output, c("SingleCellExperiment", "Seurat", "matrix"))
  check_whole(seed, min = 0, max = .Machine$integer.max, allow_null = TRUE)
  if (output != "matrix") {
    pkg <- if (output == "Seurat") "SeuratObject" else "SingleCellExperiment"
    rlang::check_installed(pkg, reason = paste("to return", output, "objects."))
  }
  sim <- with_rng_seed(seed, simulate_counts(n_reference, n_query, n_genes, n_types, n_query_only,
                                              shift))
  lapply(sim, function(part) package_simulated(part, output))
}

simulate_type_names <- function(n) {
  paste("Type", c(LETTERS, paste0(LETTERS, "2"))[seq_len(n)])
}

simulate_counts <- function(n_reference, n_query, n_genes, n_types, n_query_only, shift) {
  design <- simulate_design(n_genes, n_types, n_query_only, shift)
  list(reference = simulate_part(design, n_reference, query = FALSE),
       query = simulate_part(design, n_query, query = TRUE))
}

# What the cells are drawn from: gene baselines, type effects, the domain shift, class weights.
simulate_design <- function(n_genes, n_types, n_query_only, shift) {
  n_all <- n_types + n_query_only
  types <- simulate_type_names(n_all)
  genes <- sprintf("Gene%04d", seq_len(n_genes))
  baseline <- stats::rnorm(n_genes, mean = 0, sd = 1.8)
  # Marker genes: 12 per type, disjoint; log fold changes 1.5-3.
  markers <- matrix(sample.int(n_genes, 12L * n_all), nrow = 12L)
  effect <- matrix(0, n_genes, n_all, dimnames = list(genes, types))
  for (k in seq_len(n_all)) {
    effect[markers[, k], k] <- stats::runif(12L, 1.5, 3)
  }
  # Shared programmes blur neighbouring types: each type also expresses half of the next type's
  # markers at a lower level.
  for (k in seq_len(n_all)) {
    nxt <- if (k == n_all) 1L else k + 1L
    effect[markers[seq_len(6L), nxt], k] <- effect[markers[seq_len(6L), nxt], k] + 0.8
  }
  # Domain shift: gene-wise batch factors, a response block in every query cell, and a
  # type-specific response on a few markers.
  batch <- stats::rnorm(n_genes, 0, 0.5 * shift)
  response <- numeric(n_genes)
  response[sample.int(n_genes, max(1L, round(0.05 * n_genes)))] <- 3 * shift
  type_response <- matrix(0, n_genes, n_all)
  for (k in seq_len(n_all)) {
    type_response[markers[seq_len(4L), k], k] <- -1.5 * shift
  }
  # Class frequencies: unequal, the rarest type about a sixth of the commonest; query-only types
  # at the mean weight.
  weights <- seq(6, 1, length.out = n_types)
  list(types = types, genes = genes, baseline = baseline, effect = effect, shift = shift,
       batch = batch, response = response, type_response = type_response, weights = weights,
       query_weights = c(weights, rep(mean(weights), n_query_only)))
}

# `n` cells of the reference (`query = FALSE`) or the query, drawn from `design`.
simulate_part <- function(design, n, query) {
  w <- if (query) design$query_weights else design$weights
  k <- sample(seq_along(w), n, replace = TRUE, prob = w / sum(w))
  logit <- design$baseline + design$effect[, k, drop = FALSE]
  if (query) {
    logit <- logit + design$batch + design$response + design$type_response[, k, drop = FALSE]
  }
  prof <- exp(logit)
  prof <- sweep(prof, 2L, colSums(prof), "/")
  mean_depth <- if (query) 1500 * (1 - 0.3 * min(design$shift, 1)) else 1500
  depth <- stats::rlnorm(n, meanlog = log(mean_depth), sdlog = 0.35)
  mu <- sweep(prof, 2L, depth, "*")
  counts <- matrix(stats::rnbinom(length(mu), size = 2, mu = mu), nrow = length(design$genes))
  # Every cell expresses something.
  empty <- which(colSums(counts) == 0)
  for (j in empty) counts[which.max(mu[, j]), j] <- 1
  cells <- sprintf("%scell%05d", if (query) "query_" else "ref_", seq_len(n))
  dimnames(counts) <- list(design$genes, cells)
  list(counts = Matrix::Matrix(counts, sparse = TRUE),
       metadata = data.frame(cell_type = design$types[k],
                             domain = if (query) "query" else "reference",
                             row.names = cells, stringsAsFactors = FALSE))
}

package_simulated <- function(part, output) {
  counts <- methods::as(methods::as(part$counts, "CsparseMatrix"), "generalMatrix")
  part$counts <- counts
  switch(output,
    matrix = part,
    SingleCellExperiment = SingleCellExperiment::SingleCellExperiment(
      assays = list(counts = counts),
      colData = S4Vectors::DataFrame(part$metadata, check.names = FALSE)
    ),
    Seurat = SeuratObject::CreateSeuratObject(counts = counts, meta.data = part$metadata,
                                              min.cells = 0, min.features = 0)
  )
}
