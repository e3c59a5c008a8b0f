# Every input problem is caught in R before any Rust runs, with a classed error
# (scnym_error_<kind>) naming the argument and the fix. Messages are snapshot-tested.

val_data <- function() {
  sim <- sim_matrices()
  list(x = sim$reference$counts, labels = sim$reference$metadata$cell_type,
       q = sim$query$counts)
}

train_quiet <- function(...) scnym_train(..., verbose = FALSE, threads = 1)

test_that("wrong object types", {
  d <- val_data()
  expect_scnym_error(train_quiet(list(1, 2), labels = d$labels), "invalid_argument")
  expect_snapshot(train_quiet(list(1, 2), labels = d$labels), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(train_quiet(as.data.frame(as.matrix(d$x)), labels = d$labels),
                     "invalid_argument")
  expect_snapshot(train_quiet(as.data.frame(as.matrix(d$x)), labels = d$labels),
                  error = TRUE, cnd_class = TRUE)
  lm <- as.matrix(d$x) > 0
  expect_scnym_error(train_quiet(lm, labels = d$labels), "invalid_argument")
  expect_snapshot(train_quiet(lm, labels = d$labels), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = d$labels, target = "cells"), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = d$labels, target = "cells"), error = TRUE,
                  cnd_class = TRUE)
})

test_that("empty inputs, gene names and duplicated genes", {
  d <- val_data()
  expect_scnym_error(train_quiet(d$x[, 0], labels = character()), "invalid_data")
  expect_snapshot(train_quiet(d$x[, 0], labels = character()), error = TRUE, cnd_class = TRUE)
  nonames <- d$x
  rownames(nonames) <- NULL
  expect_scnym_error(train_quiet(nonames, labels = d$labels), "invalid_data")
  expect_snapshot(train_quiet(nonames, labels = d$labels), error = TRUE, cnd_class = TRUE)
  dup <- d$x
  rownames(dup)[2:3] <- rownames(dup)[1]
  expect_scnym_error(train_quiet(dup, labels = d$labels), "invalid_data")
  expect_snapshot(train_quiet(dup, labels = d$labels), error = TRUE, cnd_class = TRUE)
  expect_snapshot(scnym_predict(sim_model(), dup), error = TRUE, cnd_class = TRUE)
})

test_that("NA, NaN, Inf and negative values", {
  d <- val_data()
  na <- d$x
  na@x[c(1, 5)] <- NA
  expect_scnym_error(train_quiet(na, labels = d$labels), "invalid_data")
  expect_snapshot(train_quiet(na, labels = d$labels), error = TRUE, cnd_class = TRUE)
  inf <- as.matrix(d$x)
  inf[3, 3] <- Inf
  inf[4, 4] <- NaN
  expect_scnym_error(train_quiet(inf, labels = d$labels), "invalid_data")
  expect_snapshot(train_quiet(inf, labels = d$labels), error = TRUE, cnd_class = TRUE)
  neg <- d$x
  neg@x[1] <- -2.5
  expect_scnym_error(train_quiet(neg, labels = d$labels), "invalid_data")
  expect_snapshot(train_quiet(neg, labels = d$labels), error = TRUE, cnd_class = TRUE)
  expect_snapshot(scnym_predict(sim_model(), neg), error = TRUE, cnd_class = TRUE)
})

test_that("non-integer counts, and values that cannot be log-normalised", {
  d <- val_data()
  odd <- d$x
  odd@x <- rep(c(14.5, 20.25), length.out = length(odd@x))
  expect_message(train_quiet(odd, labels = d$labels, config = quick_config()),
                 class = "scnym_message_input_guess")
  expect_snapshot(kind <- scnym:::check_values(scnym:::extract_input(odd), "auto", "x")$input)
  capped <- d$x
  capped@x <- pmin(capped@x, 100)
  capped@x[1] <- 100
  expect_scnym_error(train_quiet(capped, labels = d$labels, input = "lognorm"), "invalid_data")
  expect_snapshot(train_quiet(capped, labels = d$labels, input = "lognorm"), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = d$labels, input = "tpm"), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = d$labels, input = "tpm"), error = TRUE,
                  cnd_class = TRUE)
})

test_that("all-zero cells", {
  d <- val_data()
  z <- d$x
  z[, c(2, 7)] <- 0
  expect_scnym_error(train_quiet(z, labels = d$labels), "invalid_data")
  expect_snapshot(train_quiet(z, labels = d$labels), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = d$labels, target = z), "invalid_data")
})

test_that("labels: missing, unknown column, wrong length or names, one class, none", {
  d <- val_data()
  expect_scnym_error(train_quiet(d$x), "invalid_argument")
  expect_snapshot(train_quiet(d$x), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = "cell_type"), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = "cell_type"), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = d$labels[-1]), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = d$labels[-1]), error = TRUE, cnd_class = TRUE)
  wrong_names <- stats::setNames(d$labels, paste0("other", seq_along(d$labels)))
  expect_scnym_error(train_quiet(d$x, labels = wrong_names), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = wrong_names), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = rep("T cell", ncol(d$x))), "invalid_data")
  expect_snapshot(train_quiet(d$x, labels = rep("T cell", ncol(d$x))), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = rep(NA, ncol(d$x))), "invalid_data")
  expect_snapshot(train_quiet(d$x, labels = rep(NA, ncol(d$x))), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = as.list(d$labels)), "invalid_argument")
  skip_if_no_sce()
  sce <- scnym_simulate(n_reference = 40, n_query = 30, output = "SingleCellExperiment")
  expect_scnym_error(train_quiet(sce$reference, labels = "celltype"), "invalid_argument")
  expect_snapshot(train_quiet(sce$reference, labels = "celltype"), error = TRUE,
                  cnd_class = TRUE)
})

test_that("targets and domains", {
  d <- val_data()
  expect_scnym_error(train_quiet(d$x, labels = d$labels, target = d$q[, 0]), "invalid_data")
  expect_snapshot(train_quiet(d$x, labels = d$labels, target = d$q[, 0]), error = TRUE,
                  cnd_class = TRUE)
  other <- d$q
  rownames(other) <- paste0("ENSG", seq_len(nrow(other)))
  expect_scnym_error(train_quiet(d$x, labels = d$labels, target = other), "invalid_data")
  expect_snapshot(train_quiet(d$x, labels = d$labels, target = other), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = d$labels, domain = "batch"), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = d$labels, domain = "batch"), error = TRUE,
                  cnd_class = TRUE)
  dom <- rep(c("a", NA), length.out = ncol(d$x))
  expect_scnym_error(train_quiet(d$x, labels = d$labels, domain = dom), "invalid_data")
  expect_snapshot(train_quiet(d$x, labels = d$labels, domain = dom), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = d$labels, domain = c("a", "b")),
                     "invalid_argument")
  expect_scnym_error(train_quiet(d$x, labels = d$labels, target_domain = "b"),
                     "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = d$labels, target_domain = "b"), error = TRUE,
                  cnd_class = TRUE)
})

test_that("configuration: unknown preset or parameter, bad values", {
  expect_scnym_error(scnym_config("fancy"), "invalid_argument")
  expect_snapshot(scnym_config("fancy"), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_config(max_epoch = 10), "invalid_argument")
  expect_snapshot(scnym_config(max_epoch = 10), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_config(dropout = 1), "invalid_argument")
  expect_snapshot(scnym_config(dropout = 1), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_config(max_epochs = "many"), "invalid_argument")
  expect_snapshot(scnym_config(max_epochs = "many"), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_config(batch_size = 10.5), "invalid_argument")
  expect_scnym_error(scnym_config(ssl_ramp = "cubic"), "invalid_argument")
  expect_snapshot(scnym_config(ssl_ramp = "cubic"), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_config(adv_confident_only = NA), "invalid_argument")
  expect_scnym_error(scnym_config(adv_class_weights = "yes"), "invalid_argument")
  expect_scnym_error(scnym_config(adv_class_weights = 2), "invalid_argument")
  expect_scnym_error(scnym_config("default", 10), "invalid_argument")
  expect_snapshot(scnym_config("default", 10), error = TRUE, cnd_class = TRUE)
  d <- val_data()
  expect_scnym_error(train_quiet(d$x, labels = d$labels, config = 3), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = d$labels, config = 3), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = d$labels, config = "fast"), "invalid_argument")
})

test_that("training arguments: seed, threads, device, verbose, unknown arguments", {
  d <- val_data()
  expect_scnym_error(train_quiet(d$x, labels = d$labels, seed = -1), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = d$labels, seed = -1), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(scnym_train(d$x, labels = d$labels, threads = 0, verbose = FALSE),
                     "invalid_argument")
  expect_snapshot(scnym_train(d$x, labels = d$labels, threads = 0, verbose = FALSE),
                  error = TRUE, cnd_class = TRUE)
  expect_scnym_error(train_quiet(d$x, labels = d$labels, device = "tpu"), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = d$labels, device = "tpu"), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(scnym_train(d$x, labels = d$labels, verbose = "yes"), "invalid_argument")
  expect_scnym_error(train_quiet(d$x, labels = d$labels, max_epochs = 3), "invalid_argument")
  expect_snapshot(train_quiet(d$x, labels = d$labels, max_epochs = 3), error = TRUE,
                  cnd_class = TRUE)
})

test_that("prediction arguments", {
  m <- sim_model()
  q <- val_data()$q
  expect_scnym_error(scnym_predict(list(), q), "invalid_argument")
  expect_snapshot(scnym_predict(list(), q), error = TRUE, cnd_class = TRUE)
  other <- q
  rownames(other) <- paste0("ENSG", seq_len(nrow(other)))
  expect_scnym_error(scnym_predict(m, other), "invalid_data")
  expect_snapshot(scnym_predict(m, other), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_predict(m, q, prune_below = 2), "invalid_argument")
  expect_snapshot(scnym_predict(m, q, prune_below = 2), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_predict(m, q, calibrated = "yes"), "invalid_argument")
  expect_error(scnym_predict(m, q, calibrate = TRUE))
})

test_that("annotation arguments", {
  m <- sim_model()
  q <- val_data()$q
  expect_scnym_error(scnym_annotate(q, m), "invalid_argument")
  expect_snapshot(scnym_annotate(q, m), error = TRUE, cnd_class = TRUE)
  skip_if_no_sce()
  sce <- scnym_simulate(n_reference = 60, n_query = 40, n_genes = 150, n_types = 4,
                        output = "SingleCellExperiment", seed = 11)
  expect_scnym_error(scnym_annotate(sce$query, m, key_added = "my label"), "invalid_argument")
  expect_snapshot(scnym_annotate(sce$query, m, key_added = "my label"), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(scnym_annotate(sce$query, m, labels = "cell_type"), "invalid_argument")
  expect_snapshot(scnym_annotate(sce$query, m, labels = "cell_type"), error = TRUE,
                  cnd_class = TRUE)
  expect_scnym_error(scnym_annotate(sce$query, sce$reference), "invalid_argument")
  expect_snapshot(scnym_annotate(sce$query, sce$reference), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_annotate(sce$query, sce$reference, labels = "cell_type",
                                    epochs = 3), "invalid_argument")
  expect_snapshot(scnym_annotate(sce$query, sce$reference, labels = "cell_type", epochs = 3),
                  error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_annotate(sce$query, m, assay_type = "logcounts"), "invalid_argument")
  expect_snapshot(scnym_annotate(sce$query, m, assay_type = "logcounts"), error = TRUE,
                  cnd_class = TRUE)
})

test_that("Seurat assay and layer arguments", {
  skip_if_no_seurat()
  so <- scnym_simulate(n_reference = 60, n_query = 40, n_genes = 150, n_types = 4,
                       output = "Seurat", seed = 11)
  m <- sim_model()
  expect_scnym_error(scnym_predict(m, so$query, assay = "ADT"), "invalid_argument")
  expect_snapshot(scnym_predict(m, so$query, assay = "ADT"), error = TRUE, cnd_class = TRUE)
  expect_scnym_error(scnym_predict(m, so$query, layer = "scale.data"), "invalid_argument")
  expect_snapshot(scnym_predict(m, so$query, layer = "scale.data"), error = TRUE,
                  cnd_class = TRUE)
})

test_that("saving", {
  m <- sim_model()
  path <- tempfile(fileext = ".scnym")
  file.create(path)
  expect_scnym_error(scnym_save(m, path), "io")
  expect_snapshot(scnym_save(m, path), error = TRUE, cnd_class = TRUE,
                  transform = function(x) gsub("/[^ ]*\\.scnym", "<path>", x))
  expect_scnym_error(scnym_save(m, file.path(tempdir(), "no", "such", "dir", "m.scnym")), "io")
  expect_scnym_error(scnym_save(list(), path), "invalid_argument")
  expect_scnym_error(scnym_load(c("a", "b")), "invalid_argument")
})
