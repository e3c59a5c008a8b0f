# Helpers shared across the package: seeded evaluation and nearest-neighbour search.

# Evaluate `expr` with R's RNG seeded by `seed` (NULL: unseeded) and R's default generators
# (so a seed gives the same draws whatever `RNGkind()` the session uses); the caller's seed and
# generators are restored afterwards.
with_rng_seed <- function(seed, expr) {
  if (is.null(seed)) return(expr)
  withr::with_seed(seed, expr, .rng_kind = "Mersenne-Twister", .rng_normal_kind = "Inversion",
                   .rng_sample_kind = "Rejection")
}

# `lapply(X, FUN, ...)` on the BPPARAM workers when there are several and X has several
# elements, otherwise in this process.
bp_lapply <- function(X, FUN, ..., BPPARAM = NULL) { # nolint: object_name_linter.
  if (!is.null(BPPARAM) && BiocParallel::bpnworkers(BPPARAM) > 1L && length(X) > 1L) {
    return(BiocParallel::bplapply(X, FUN, ..., BPPARAM = BPPARAM))
  }
  lapply(X, FUN, ...)
}

# The `k` nearest neighbours (exact, Euclidean) of the rows `subset` of `x` among all rows of
# `x`, each row left out of its own neighbours: an integer matrix, one row per `subset` element.
# BiocNeighbors' vantage-point tree search is exact, like brute force, in less time and memory
# (bench/knn/: on a 256-dimensional embedding of 50,000 cells it also beat the KMKNN search,
# whose k-means index costs more than the search when few cells are queried). Ties (e.g.
# duplicated cells) are broken in the search's own order, without a warning: either neighbour is
# as near. The tree's vantage points are drawn at random: a fixed seed keeps that order
# reproducible and leaves the session's RNG alone. The tree is built here; with several BPPARAM
# workers the cells of `subset` are split among them for the search, with the same neighbours.
knn_search <- function(x, k, subset = seq_len(nrow(x)),
                       BPPARAM = BiocParallel::SerialParam()) { # nolint: object_name_linter.
  with_rng_seed(1L, BiocNeighbors::findKNN(x, k = k, subset = subset, get.distance = FALSE,
                                           warn.ties = FALSE,
                                           BNPARAM = BiocNeighbors::VptreeParam(),
                                           BPPARAM = BPPARAM)$index)
}
