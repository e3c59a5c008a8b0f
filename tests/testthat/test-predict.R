test_that("scnym_predict returns the documented table", {
  m <- sim_model()
  sim <- sim_matrices()
  pred <- scnym_predict(m, sim$query$counts)
  expect_s4_class(pred, "DFrame")
  expect_identical(rownames(pred), colnames(sim$query$counts))
  # the default model is an ensemble of two networks: their disagreement is a column
  expect_named(pred, c("label", "confidence", "novelty", "disagreement", "pruned_label",
                       "probabilities", "embedding"))
  expect_true(all(pred$disagreement >= 0))
  expect_true(is.numeric(pred$novelty) && !anyNA(pred$novelty) && all(pred$novelty >= 0))
  expect_type(pred$label, "character")
  expect_true(all(pred$label %in% m$classes))
  expect_true(is.matrix(pred$probabilities))
  expect_identical(dim(pred$probabilities), c(200L, 4L))
  expect_identical(colnames(pred$probabilities), m$classes)
  expect_identical(rownames(pred$probabilities), rownames(pred))
  expect_equal(unname(rowSums(pred$probabilities)), rep(1, 200), tolerance = 1e-5)
  expect_equal(pred$confidence, unname(apply(pred$probabilities, 1, max)))
  expect_identical(pred$label, m$classes[max.col(pred$probabilities, "first")])
  expect_identical(dim(pred$embedding), c(200L, 32L))
  meta <- S4Vectors::metadata(pred)
  expect_named(meta, c("model", "missing_genes", "calibrated", "prune_below", "novelty_above"))
  expect_identical(meta$missing_genes, character())
  expect_true(meta$calibrated)
  expect_identical(meta$prune_below, 0.4)
  expect_identical(meta$novelty_above, 10)
  expect_identical(meta$model$classes, m$classes)
  expect_identical(meta$model$class_counts, m$class_counts)
  expect_identical(meta$model$n_genes, length(m$genes))
  expect_identical(meta$model$temperature, m$temperature)
  # the flat shape: one column per class and per embedding dimension (syntactic names)
  flat <- as.data.frame(pred)
  prob_cols <- make.names(paste0("probabilities.", m$classes))
  expect_identical(names(flat)[1:9], c("label", "confidence", "novelty", "disagreement",
                                       "pruned_label", prob_cols))
  expect_identical(unname(as.matrix(flat[prob_cols])), unname(pred$probabilities))
  expect_identical(ncol(flat), 5L + 4L + 32L)
  expect_identical(rownames(flat), rownames(pred))
})

test_that("BPPARAM splits the cells across workers with results identical to serial", {
  model <- sim_model()
  # 2,200 cells: three of the core's prediction batches
  x <- sim_matrices()$query$counts
  x <- x[, rep(seq_len(ncol(x)), 11)]
  colnames(x) <- paste0("cell", seq_len(ncol(x)))
  serial <- scnym_predict(model, x, threads = 1)
  params <- list(BiocParallel::SerialParam(), BiocParallel::MulticoreParam(2),
                 BiocParallel::SnowParam(2), BiocParallel::MulticoreParam(3))
  if (requireNamespace("batchtools", quietly = TRUE)) {
    # a batchtools registry, as on a cluster, with the local multicore backend
    registry <- withr::local_tempdir()
    unlink(registry, recursive = TRUE)
    params <- c(params, BiocParallel::BatchtoolsParam(2, cluster = "multicore",
                                                      registryargs = list(file.dir = registry)))
  }
  for (bp in params) {
    expect_identical(scnym_predict(model, x, BPPARAM = bp), serial)
  }
  # MulticoreParam workers forked by the call read the cells from its memory (nothing is left
  # behind); workers started beforehand receive them
  expect_false(exists("data", envir = scnym:::fork_shared, inherits = FALSE))
  started <- BiocParallel::MulticoreParam(2)
  BiocParallel::bpstart(started)
  expect_identical(scnym_predict(model, x, BPPARAM = started), serial)
  BiocParallel::bpstop(started)
  # a model read back from disk is rebuilt from its bytes in each worker
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(model, path)
  expect_identical(scnym_predict(readRDS(path), x, BPPARAM = BiocParallel::SnowParam(2)), serial)
  # fewer batches than workers: one process
  expect_identical(scnym_predict(model, x[, 1:2], BPPARAM = BiocParallel::MulticoreParam(3)),
                   scnym_predict(model, x[, 1:2], threads = 1))
  expect_identical(scnym_predict(model, x, embedding = FALSE,
                                 BPPARAM = BiocParallel::MulticoreParam(2)),
                   scnym_predict(model, x, embedding = FALSE, threads = 1))
  expect_error(scnym_predict(model, x, BPPARAM = 2), class = "scnym_error_invalid_argument")
})

test_that("a worker's block of predictions crosses as raw bytes and joins in cell order", {
  model <- sim_model()
  query <- scnym:::prepare_query(model, sim_matrices()$query$counts)
  blocks <- list(1:150, 151:length(query$cells))
  packed <- lapply(blocks, function(b) {
    scnym:::predict_packed(scnym:::core_data(query$data, b, model$genes), model, TRUE, 1L, TRUE)
  })
  expect_type(packed[[1]], "raw")
  whole <- scnym:::predict_block(scnym:::core_data(query$data, NULL, model$genes), query$cells,
                                 model, TRUE, 1L, TRUE)
  joined <- scnym:::rust_result(scnym:::rs_predictions_join(scnym:::model_handle(model), packed,
                                                            query$cells))
  expect_identical(joined[names(whole)], whole)
  expect_error(scnym:::rust_result(scnym:::rs_predictions_join(scnym:::model_handle(model),
                                                               list(packed[[1]][1:60]), NULL)),
               class = "scnym_error_internal")
})

test_that("a forked worker predicts after this process ran libtorch on two threads", {
  skip_on_os("windows") # no fork
  sim <- sim_matrices()
  # wide enough that reading the model is a parallel region of libtorch (> 32,768 values)
  model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                       config = scnym_config(max_epochs = 1, min_epochs = 1), seed = 1,
                       threads = 1, verbose = FALSE)
  without_handle <- function() unserialize(serialize(model, NULL)) # as readRDS() returns it
  x <- sim$query$counts
  serial <- scnym_predict(without_handle(), x, threads = 2)
  # read on two threads: libtorch's OpenMP pool now exists in this process
  expect_identical(scnym_predict(without_handle(), x, threads = 2), serial)
  # a fork reads the model again: it used to wait forever for the pool's threads
  job <- parallel::mcparallel(scnym_predict(without_handle(), x, threads = 2))
  result <- NULL
  for (i in seq_len(120)) {
    result <- parallel::mccollect(job, wait = FALSE, timeout = 1)
    if (!is.null(result)) break
  }
  if (is.null(result)) {
    tools::pskill(job$pid, tools::SIGKILL)
    parallel::mccollect(job, wait = TRUE)
  }
  expect_false(is.null(result))
  skip_if(is.null(result), "the forked child hung (killed)")
  expect_identical(result[[1L]], serial)
  # and through BiocParallel, where the workers receive the model without its handle
  expect_identical(scnym_predict(without_handle(), x, BPPARAM = BiocParallel::MulticoreParam(2)),
                   serial)
})

test_that("pruned labels drop novel cells and uncertain ones", {
  m <- sim_model()
  sim <- sim_matrices()
  # the quick model's confidence is 0.26-0.45 and its novelty 0.3-2.6: cuts inside both ranges
  cut <- 0.32
  pred <- scnym_predict(m, sim$query$counts, prune_below = cut, novelty_above = 3)
  expect_identical(S4Vectors::metadata(pred)$novelty_above, 3)
  # the novelty limit: novelty_above for a confident label, lower for a doubtful one (the quick
  # model's labels are all in doubt: 3 * 0.3 / (1 - confidence) = 1.2-1.6)
  novel <- expected_pruned(pred$novelty, pred$confidence, novelty_above = 3, prune_below = 0)
  expected <- novel | pred$confidence < cut
  expect_identical(is.na(pred$pruned_label), expected)
  # the test means something: each rule prunes cells the other keeps, and some cells are kept
  expect_true(any(novel & pred$confidence >= cut))
  expect_true(any(!novel & pred$confidence < cut))
  expect_true(any(!expected))
  kept <- !is.na(pred$pruned_label)
  expect_identical(pred$pruned_label[kept], pred$label[kept])
  # each rule on its own
  conf_only <- scnym_predict(m, sim$query$counts, prune_below = cut, novelty_above = Inf)
  expect_identical(is.na(conf_only$pruned_label), pred$confidence < cut)
  nov_only <- scnym_predict(m, sim$query$counts, prune_below = 0, novelty_above = 3)
  expect_identical(is.na(nov_only$pruned_label), novel)
  all_kept <- scnym_predict(m, sim$query$counts, prune_below = 0, novelty_above = Inf)
  expect_false(anyNA(all_kept$pruned_label))
  expect_error(scnym_predict(m, sim$query$counts, novelty_above = -1),
               class = "scnym_error_invalid_argument")
  expect_error(scnym_predict(m, sim$query$counts, novelty_above = NA),
               class = "scnym_error_invalid_argument")
})

test_that("a doubtful label lowers the novelty at which a cell is pruned", {
  confidence <- c(0.95, 0.5, 0.5, 0.95, 0.3, 0.5, 1, 0.7)
  novelty <- c(6.5, 6.5, 5.5, 10.5, 0, NA, 9.9, 10.5)
  # at confidence 0.5 the limit is 10 * 0.3 / 0.5 = 6; from 0.7 up it is 10
  expect_identical(scnym:::prune_labels(confidence, novelty, prune_below = 0.4, novelty_above = 10),
                   c(FALSE, TRUE, FALSE, TRUE, TRUE, FALSE, FALSE, TRUE))
  # Inf turns the novelty pruning off at every confidence, 0 prunes every novelty above 0
  expect_identical(scnym:::prune_labels(confidence, novelty, 0, Inf), rep(FALSE, 8))
  expect_identical(scnym:::prune_labels(confidence, novelty, 0, 0),
                   c(TRUE, TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, TRUE))
})

test_that("cells of cell lines absent from the reference are pruned by novelty (CellBench)", {
  skip_on_cran()
  path <- skip_if_no_data("cellbench_celllines")
  d <- read_data_set(path)
  genes_full <- utils::read.delim(file.path(path, "genes_full.tsv"), stringsAsFactors = FALSE)
  keep <- as.logical(d$cells$singlet)
  counts <- d$counts[!as.logical(genes_full$is_ercc), keep]
  cells <- d$cells[keep, ]
  # reference: the 3-line CEL-seq2 plate; query: the three 5-line CEL-seq2 plates, where the
  # lines A549 and H838 are absent from the reference
  ref <- cells$domain == "celseq2_3cl"
  qry <- cells$domain %in% c("celseq2_5cl_p1", "celseq2_5cl_p2", "celseq2_5cl_p3")
  model <- scnym_train(counts[, ref], labels = cells$label[ref], target = counts[, qry],
                       seed = 0, threads = 1, verbose = FALSE, input = "counts")
  pred <- scnym_predict(model, counts[, qry], input = "counts")
  unseen <- !cells$label[qry] %in% cells$label[ref]
  expect_gt(mean(unseen), 0.3)
  r <- rank(pred$novelty)
  auroc <- (sum(r[unseen]) - sum(unseen) * (sum(unseen) + 1) / 2) / (sum(unseen) * sum(!unseen))
  expect_gt(auroc, 0.99)
  expect_gt(mean(is.na(pred$pruned_label[unseen])), 0.9)
  known_ok <- !is.na(pred$pruned_label[!unseen]) &
    pred$label[!unseen] == cells$label[qry][!unseen]
  expect_gt(mean(known_ok), 0.98)
})

test_that("calibration changes confidence, not labels", {
  m <- sim_model()
  sim <- sim_matrices()
  cal <- scnym_predict(m, sim$query$counts, calibrated = TRUE)
  raw <- scnym_predict(m, sim$query$counts, calibrated = FALSE)
  expect_identical(cal$label, raw$label)
  expect_false(S4Vectors::metadata(raw)$calibrated)
  # softmax(logits / T) from the uncalibrated probabilities: log p = logits + const
  lp <- log(raw$probabilities) / m$temperature
  manual <- exp(lp - apply(lp, 1, max))
  manual <- manual / rowSums(manual)
  expect_equal(cal$probabilities, manual, tolerance = 1e-4)
})

test_that("missing genes are zero with a warning giving their share; extra genes are ignored", {
  m <- sim_model()
  sim <- sim_matrices()
  q <- sim$query$counts
  drop <- 1:15
  expect_warning(pred <- scnym_predict(m, q[-drop, ]), "15 of the model's 150 genes \\(10%\\)",
                 class = "scnym_warning_missing_genes")
  expect_identical(S4Vectors::metadata(pred)$missing_genes, m$genes[drop])
  # zero rows give the same prediction
  zeroed <- q
  zeroed[drop, ] <- 0
  zeroed <- zeroed[, Matrix::colSums(zeroed) > 0]
  expect_warning(a <- scnym_predict(m, q[-drop, colnames(zeroed)]))
  b <- scnym_predict(m, zeroed)
  expect_equal(a$probabilities, b$probabilities)
  # extra genes and another gene order change nothing
  extra <- rbind(q, Matrix::Matrix(1, 3, ncol(q), sparse = TRUE,
                                   dimnames = list(c("X1", "X2", "X3"), colnames(q))))
  shuffled <- extra[rev(seq_len(nrow(extra))), ]
  # (extra genes change each cell's library size: counts are normalised over all genes)
  p1 <- scnym_predict(m, shuffled)
  p2 <- scnym_predict(m, extra)
  expect_identical(p1$probabilities, p2$probabilities)
})

test_that("the predict() method and the three input types agree", {
  skip_if_not_installed("DelayedArray")
  m <- sim_model()
  q <- sim_matrices()$query$counts
  ref <- scnym_predict(m, q)
  expect_identical(predict(m, q)$probabilities, ref$probabilities)
  expect_identical(scnym_predict(m, as.matrix(q))$probabilities, ref$probabilities)
  expect_identical(scnym_predict(m, DelayedArray::DelayedArray(q))$probabilities,
                   ref$probabilities)
  expect_identical(scnym_predict(m, q, threads = 1)$probabilities, ref$probabilities)
})

test_that("log-normalised input predicts like counts", {
  m <- sim_model()
  q <- sim_matrices()$query$counts
  cpm <- q
  cpm@x <- log1p(cpm@x / rep(Matrix::colSums(q), diff(q@p)) * 1e6)
  cp10k <- q
  cp10k@x <- log1p(cp10k@x / rep(Matrix::colSums(q), diff(q@p)) * 1e4)
  ref <- scnym_predict(m, q)$probabilities
  expect_equal(scnym_predict(m, cpm)$probabilities, ref, tolerance = 1e-5)
  expect_equal(scnym_predict(m, cp10k)$probabilities, ref, tolerance = 1e-5)
  expect_equal(scnym_predict(m, cp10k, input = "lognorm")$probabilities, ref, tolerance = 1e-5)
  # a model normalises its input at its own scale, whatever the current default
  sim <- sim_matrices()
  cpm_model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                           config = quick_config(scale_factor = 1e6, max_gene_fraction = 1,
                                                 ensemble_size = 1),
                           seed = 5, threads = 1, verbose = FALSE)
  expect_identical(cpm_model$config$scale_factor, 1e6)
  expect_equal(scnym_predict(cpm_model, cp10k)$probabilities,
               scnym_predict(cpm_model, q)$probabilities, tolerance = 1e-5)
  # the core holds ln(1 + scale_factor * count / size) either way, read from the R vectors
  # or from a cell store (all its cells, or some); the size is the cell's total with each gene
  # counted up to max_gene_fraction of it (the second cell holds 75% of its counts in one gene)
  data <- scnym:::check_values(scnym:::extract_input(cpm[, 1:3]), "auto", "x")
  q3 <- as.matrix(q[, 1:3])
  genes <- rownames(q)
  total <- colSums(q3)
  expect_gt(max(q3[, 2]) / total[2], 0.7)
  for (setting in list(c(1e4, 0.2), c(1e4, 1), c(1e6, 1))) {
    scale <- setting[1]
    cfg <- scnym_config(scale_factor = scale, max_gene_fraction = setting[2])
    json <- scnym:::config_json(cfg, seed = 0L)
    expected <- unname(lognorm_capped(q3, scale, setting[2]))
    expect_equal(scnym:::rs_debug_store(scnym:::core_data(data, NULL, genes), json), expected,
                 tolerance = 1e-5)
    kept <- scnym:::keep_in_core(data, genes, cfg)
    expect_false(is.null(scnym:::core_input(kept, NULL, genes)$store))
    expect_equal(scnym:::rs_debug_store(scnym:::core_input(kept, NULL, genes), json), expected,
                 tolerance = 1e-5)
    expect_equal(scnym:::rs_debug_store(scnym:::core_input(kept, c(3L, 1L), genes), json),
                 expected[c(3, 1), ], tolerance = 1e-5)
  }
})

test_that("predictions print compactly and subsets keep their settings", {
  pred <- scnym_predict(sim_model(), sim_matrices()$query$counts)
  out <- capture.output(print(pred))
  expect_match(out[1], "DataFrame with 200 rows and 7 columns")
  expect_true(any(grepl("<matrix>", out)))
  expect_lt(length(out), 40)
  sub <- pred[1:3, c("label", "probabilities")]
  expect_output(print(sub), "DataFrame with 3 rows and 2 columns")
  expect_identical(S4Vectors::metadata(sub), S4Vectors::metadata(pred))
  expect_identical(dim(sub$probabilities), c(3L, 4L))
})

test_that("model_integrated_gradients gives cells x genes attributions that complete", {
  m <- sim_model()
  q <- sim_matrices()$query$counts[, 1:5]
  pred <- scnym_predict(m, q, calibrated = FALSE)
  ig <- scnym:::model_integrated_gradients(m, q, target_class = pred$label, steps = 100L,
                                           threads = 1)
  expect_identical(dim(ig), c(5L, 150L))
  expect_identical(dimnames(ig), list(colnames(q), m$genes))
  # f(0): the all-zero cell (refused by the R checks) straight through the core
  zero_cell <- list(kind = "dense", n_cells = 1L, n_genes = 150L, gene_map = 0:149,
                    n_model_genes = 150L, counts = FALSE, x = numeric(150))
  zero <- scnym:::rs_model_predict(scnym:::model_handle(m), zero_cell, FALSE, 1L, FALSE,
                                   NULL, FALSE)
  f0 <- zero$probabilities[1, match(pred$label, m$classes)]
  expect_true(all(is.finite(ig)))
  # completeness: sum of attributions ~ f(x)_k - f(0)_k, within 1% of f(x)_k
  gap <- abs(unname(rowSums(ig)) - (unname(pred$confidence) - f0))
  expect_true(all(gap < 0.01 * pred$confidence))
  expect_error(scnym:::model_integrated_gradients(m, q, target_class = "Nope"),
               class = "scnym_error_invalid_argument")
})
