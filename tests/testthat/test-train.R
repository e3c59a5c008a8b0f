test_that("dense, dgCMatrix and DelayedArray inputs train the same model", {
  skip_if_not_installed("DelayedArray")
  sim <- sim_matrices()
  ref <- sim$reference
  q <- sim$query
  labels <- ref$metadata$cell_type
  fit <- function(x, target) {
    scnym_train(x, labels = labels, target = target, config = quick_config(), seed = 9,
                threads = 1, verbose = FALSE)
  }
  sparse <- fit(ref$counts, q$counts)
  dense <- fit(as.matrix(ref$counts), as.matrix(q$counts))
  delayed <- fit(DelayedArray::DelayedArray(ref$counts),
                 DelayedArray::DelayedArray(as.matrix(q$counts)))
  probs <- function(m) scnym_predict(m, q$counts)$probabilities
  expect_identical(probs(dense), probs(sparse))
  expect_identical(probs(delayed), probs(sparse))
  no_time <- function(m) m$history[setdiff(names(m$history), "seconds")]
  expect_identical(no_time(dense), no_time(sparse))
})

test_that("n_variable_genes keeps the reference's most variable genes, in their order", {
  sim <- sim_matrices()
  ref <- sim$reference
  labels <- ref$metadata$cell_type
  fit <- function(x, n) {
    scnym_train(x, labels = labels, target = sim$query$counts, seed = 2, threads = 1,
                verbose = FALSE, config = quick_config(n_variable_genes = n))
  }
  m <- fit(ref$counts, 40)
  # an independent computation: dispersion of the normalised values (each gene counting up to a
  # fifth of the cell's total in its size), z-scored within 20 bins of equal width on the mean,
  # the top 40 among the expressed genes
  counts <- as.matrix(ref$counts)
  x <- t(lognorm_capped(counts, 3000, 0.2))
  mu <- rowMeans(x)
  v <- rowMeans(x^2) - mu^2
  ok <- mu > 0
  disp <- log(v[ok] / mu[ok])
  bin <- pmin(floor((mu[ok] - min(mu[ok])) / ((max(mu[ok]) - min(mu[ok])) / 20)), 19)
  z <- stats::ave(disp, bin,
                  FUN = function(d) if (length(d) > 1) (d - mean(d)) / stats::sd(d) else 0)
  top <- names(sort(z, decreasing = TRUE))[1:40]
  expect_length(m$genes, 40)
  expect_setequal(m$genes, top)
  expect_identical(m$genes, rownames(ref$counts)[rownames(ref$counts) %in% m$genes])
  expect_identical(m$config$n_variable_genes, 40L)
  # the choice reads the checked cells, so every input type gives it
  skip_if_not_installed("DelayedArray")
  expect_identical(fit(DelayedArray::DelayedArray(ref$counts), 40)$genes, m$genes)
  # 0, or more genes than there are: every gene shared with the target
  expect_identical(fit(ref$counts, 0)$genes, rownames(ref$counts))
  expect_identical(fit(ref$counts, 1e6)$genes, rownames(ref$counts))
  pred <- scnym_predict(m, sim$query$counts)
  expect_gt(mean(pred$label == sim$query$metadata$cell_type), 0.5)
  expect_identical(scnym_config()$n_variable_genes, 0L)
  expect_output(print(scnym_config(n_variable_genes = 2000)),
                "genes: the 2,000 most variable of the reference")
  expect_error(scnym_config(n_variable_genes = -1), class = "scnym_error_invalid_argument")
})

test_that("the same seed gives identical results; set.seed() reproduces a run", {
  sim <- sim_matrices()
  fit <- function(seed = NULL) {
    scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                target = sim$query$counts, config = quick_config(), seed = seed, threads = 1,
                verbose = FALSE)
  }
  a <- fit(21)
  b <- fit(21)
  pa <- scnym_predict(a, sim$query$counts)
  pb <- scnym_predict(b, sim$query$counts)
  expect_identical(pa$probabilities, pb$probabilities)
  expect_identical(pa$embedding, pb$embedding)
  expect_identical(a$config$seed, 21L)
  set.seed(123)
  c1 <- fit()
  set.seed(123)
  c2 <- fit()
  expect_identical(c1$config$seed, c2$config$seed)
  expect_identical(scnym_predict(c1, sim$query$counts)$probabilities,
                   scnym_predict(c2, sim$query$counts)$probabilities)
  # a model's config repeats its run
  d <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                   target = sim$query$counts, config = a$config, verbose = FALSE)
  expect_identical(scnym_predict(d, sim$query$counts)$probabilities, pa$probabilities)
})

test_that("the model holds metadata, history and training facts", {
  m <- sim_model()
  sim <- sim_matrices()
  expect_s3_class(m, "scnym_model")
  expect_type(m$bytes, "raw")
  expect_identical(m$genes, rownames(sim$reference$counts))
  expect_identical(m$classes, sort(unique(sim$reference$metadata$cell_type)))
  expect_identical(m$domains, c("reference", "query"))
  expect_equal(sum(m$class_counts), ncol(sim$reference$counts))
  expect_identical(names(m$class_counts), m$classes)
  expect_named(m$history, c("epoch", "loss", "loss_sup", "loss_ssl", "loss_adv", "ssl_weight",
                            "adv_weight", "val_loss", "val_accuracy", "is_best", "seconds"))
  expect_equal(nrow(m$history), 4)
  expect_true(m$best_epoch %in% m$history$epoch)
  expect_gt(m$temperature, 0)
  expect_s3_class(m$config, "scnym_config")
  expect_identical(m$config$seed, 5L)
  expect_identical(m$config$hidden_width, 32L)
  expect_equal(m$training$n_labelled, 240)
  expect_equal(m$training$n_target, 200)
  expect_true(all(m$training$validation_cells %in% colnames(sim$reference$counts)))
  expect_length(m$training$validation_cells, 24)
  expect_true(all(c("scnym-core", "tch", "libtorch") %in% names(m$versions)))
})

test_that("print and summary describe the model", {
  m <- sim_model()
  expect_output(print(m), "<scnym_model> 4 classes, 150 genes, 2 domains \\(reference, query\\)")
  expect_output(print(m), "preset \"default\", seed 5; 4 epochs")
  s <- summary(m)
  expect_s3_class(s, "summary.scnym_model")
  expect_named(s$classes, c("class", "n_train"))
  expect_equal(s$n_genes, 150)
  expect_equal(nrow(s$history), 4)
  expect_true(is.numeric(s$val_accuracy))
  out <- capture.output(print(s))
  expect_true(any(grepl("Classes (labelled training cells)", out, fixed = TRUE)))
  expect_true(any(grepl("History", out)))
})

test_that("NA labels make the target set; several domains are allowed", {
  sim <- sim_matrices()
  x <- cbind(sim$reference$counts, sim$query$counts)
  labels <- c(sim$reference$metadata$cell_type, rep(NA, ncol(sim$query$counts)))
  domain <- c(rep(c("ref_a", "ref_b"), length.out = ncol(sim$reference$counts)),
              rep("query", ncol(sim$query$counts)))
  m <- scnym_train(x, labels = labels, domain = domain, config = quick_config(), seed = 2,
                   threads = 1, verbose = FALSE)
  expect_identical(m$domains, c("ref_a", "ref_b", "query"))
  expect_equal(m$training$n_target, ncol(sim$query$counts))
  expect_equal(m$training$n_labelled, ncol(sim$reference$counts))
})

test_that("without target cells training is supervised", {
  sim <- sim_matrices()
  m <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                   config = quick_config(), seed = 2, threads = 1, verbose = FALSE)
  expect_equal(m$training$n_target, 0)
  expect_identical(m$domains, "reference")
  expect_true(all(m$history$loss_ssl == 0))
})

test_that("factor labels, labels by name and a preset name as config work", {
  sim <- sim_matrices()
  named <- stats::setNames(sim$reference$metadata$cell_type, colnames(sim$reference$counts))
  m <- scnym_train(sim$reference$counts, labels = rev(named), target = sim$query$counts,
                   config = "no_ssl", seed = 1, threads = 1, verbose = FALSE)
  expect_equal(m$config$preset, "no_ssl")
  expect_equal(m$class_counts[["Type A"]], sum(named == "Type A"))
  f <- scnym_train(sim$reference$counts, labels = factor(named), config = quick_config(),
                   seed = 1, threads = 1, verbose = FALSE)
  expect_identical(f$classes, levels(factor(named)))
})

test_that("verbose training reports progress and a summary", {
  sim <- sim_matrices()
  msgs <- capture.output(
    m <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                     target = sim$query$counts, config = quick_config(), seed = 1,
                     threads = 1, verbose = TRUE),
    type = "message"
  )
  expect_true(any(grepl("Training scNym", msgs)))
  expect_true(any(grepl("Trained 4 epochs", msgs)))
})

test_that("Seurat and SingleCellExperiment methods train like the matrix method", {
  skip_if_no_seurat()
  skip_if_no_sce()
  so <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3,
                       output = "Seurat", seed = 3)
  sce <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3,
                        output = "SingleCellExperiment", seed = 3)
  mat <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3,
                        output = "matrix", seed = 3)
  args <- list(config = quick_config(), seed = 4, threads = 1, verbose = FALSE)
  m_so <- do.call(scnym_train, c(list(so$reference, labels = "cell_type", target = so$query,
                                      domain = "domain"), args))
  m_sce <- do.call(scnym_train, c(list(sce$reference, labels = "cell_type",
                                       target = sce$query, target_domain = "domain"), args))
  m_mat <- do.call(scnym_train, c(list(mat$reference$counts,
                                       labels = mat$reference$metadata$cell_type,
                                       target = mat$query$counts), args))
  p <- function(m) scnym_predict(m, mat$query$counts)$probabilities
  expect_identical(p(m_so), p(m_mat))
  expect_identical(p(m_sce), p(m_mat))
  # a Seurat target with a SingleCellExperiment reference
  m_mix <- do.call(scnym_train, c(list(sce$reference, labels = "cell_type", target = so$query),
                                  args))
  expect_identical(p(m_mix), p(m_mat))
})

test_that("the Seurat data layer (log1p CP10k) is rescaled to CPM", {
  skip_if_no_seurat()
  so <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3,
                       output = "Seurat", seed = 3)
  ref <- so$reference
  norm <- ref
  seurat_layer_data(norm, "data") <-
    log1p(t(t(as.matrix(seurat_layer_data(ref, "counts"))) / ref$nCount_RNA) * 1e4)
  # `layer` applies to the target too: its data layer holds its counts (SeuratObject 4 does this
  # itself; SeuratObject 5 makes no data layer)
  query <- so$query
  seurat_layer_data(query, "data") <- seurat_layer_data(query, "counts")
  args <- list(labels = "cell_type", target = query, config = quick_config(), seed = 4,
               threads = 1, verbose = FALSE)
  m_counts <- do.call(scnym_train, c(list(norm, layer = "counts"), args))
  m_data <- do.call(scnym_train, c(list(norm, layer = "data"), args))
  pc <- scnym_predict(m_counts, so$query)$probabilities
  pd <- scnym_predict(m_data, so$query)$probabilities
  expect_equal(pd, pc, tolerance = 1e-4)
})

test_that("device = \"cuda\" without CUDA warns and trains on the CPU", {
  skip_if(isTRUE(scnym_backend_info(gemm_size = 0)$cuda_available))
  sim <- sim_matrices()
  expect_warning(
    m <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                     config = quick_config(), device = "cuda", seed = 1, threads = 1,
                     verbose = FALSE),
    class = "scnym_warning_no_cuda"
  )
  expect_identical(m$config$device, "cuda")
})

test_that("an ensemble averages members trained with consecutive seeds, in one file", {
  sim <- sim_matrices()
  train_one <- function(k, seed) {
    scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                target = sim$query$counts,
                config = quick_config(ensemble_size = k, member_variable_genes = 0),
                seed = seed, threads = 1, verbose = FALSE)
  }
  # (member_variable_genes = 0: every member on every gene; the members on the variable genes
  # are the next test's)
  ens <- train_one(2L, 7L)
  expect_identical(ens$ensemble_size, 2L)
  expect_identical(ens$member_seeds, c(7, 8))
  expect_output(print(ens), "ensemble of 2 models \\(seeds 7, 8\\)")
  a <- scnym_predict(train_one(1L, 7L), sim$query$counts)
  b <- scnym_predict(train_one(1L, 8L), sim$query$counts)
  p <- scnym_predict(ens, sim$query$counts)
  expect_equal(p$probabilities, (a$probabilities + b$probabilities) / 2, tolerance = 1e-6)
  expect_equal(p$novelty, (a$novelty + b$novelty) / 2, tolerance = 1e-5)
  expect_true(all(p$disagreement >= 0) && any(p$disagreement > 0))
  expect_null(a$disagreement)
  path <- tempfile(fileext = ".scnym")
  scnym_save(ens, path)
  back <- scnym_load(path)
  expect_identical(back$ensemble_size, 2L)
  expect_identical(scnym_predict(back, sim$query$counts)$probabilities, p$probabilities)
  expect_error(scnym_config(ensemble_size = 0), class = "scnym_error_invalid_argument")
  expect_error(scnym_config(ensemble_size = 51), class = "scnym_error_invalid_argument")
})

test_that("members on the reference's most variable genes join the every-gene members", {
  sim <- sim_matrices()
  fit <- function(seed, ...) {
    scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                target = sim$query$counts, seed = seed, threads = 1, verbose = FALSE,
                config = quick_config(...))
  }
  n_genes <- nrow(sim$reference$counts)
  two <- fit(7L, member_variable_genes = 40)
  expect_identical(two$member_genes, c(n_genes, n_genes, 40L, 40L))
  expect_identical(two$member_seeds, c(7, 8, 9, 10))
  expect_output(print(two), "members 3, 4 read the 40 most variable genes only")
  ens <- fit(7L, ensemble_size = 1, member_variable_genes = 40)
  expect_identical(ens$member_genes, c(n_genes, 40L))
  expect_identical(ens$genes, rownames(sim$reference$counts))
  expect_output(print(ens), "member 2 reads the 40 most variable genes only")
  # the members: the every-gene model of the first seed, and the model of n_variable_genes
  # (the same choice of genes) of the next, masking genes at variable_gene_mask_prob (0.5 by
  # default) instead of mask_prob
  first <- fit(7L, ensemble_size = 1, member_variable_genes = 0)
  every <- scnym_predict(first, sim$query$counts)
  variable <- fit(8L, ensemble_size = 1, n_variable_genes = 40, mask_prob = 0.5)
  p <- scnym_predict(ens, sim$query$counts)
  p_variable <- scnym_predict(variable, sim$query$counts)$probabilities
  # each weighs variable_gene_weight (2 by default) against 1 for the every-gene member
  expect_equal(p$probabilities, (every$probabilities + 2 * p_variable) / 3, tolerance = 1e-4)
  equal <- fit(7L, ensemble_size = 1, member_variable_genes = 40, variable_gene_weight = 1)
  expect_equal(scnym_predict(equal, sim$query$counts)$probabilities,
               (every$probabilities + p_variable) / 2, tolerance = 1e-4)
  # the novelty and the embedding are the every-gene member's
  expect_identical(p$novelty, every$novelty)
  expect_identical(p$embedding, every$embedding)
  # the other genes' counts do not reach that member (shuffled among them, so that each cell's
  # total, which normalises every gene, stays the same)
  q <- sim$query$counts
  others <- which(!rownames(q) %in% variable$genes)
  q[others, ] <- q[rev(others), ]
  one <- function(x) {
    (3 * scnym_predict(ens, x)$probabilities - scnym_predict(first, x)$probabilities) / 2
  }
  expect_equal(one(q), one(sim$query$counts), tolerance = 1e-5)
  back <- scnym_load(local({
    path <- tempfile(fileext = ".scnym")
    scnym_save(ens, path)
    path
  }))
  expect_identical(back$member_genes, ens$member_genes)
  # 0: only the every-gene members
  expect_identical(fit(7L, member_variable_genes = 0)$member_genes, rep(n_genes, 2))
  # no more genes than that (the default 2,000 here): the ensemble keeps its size, its last
  # floor(ensemble_size / 2) members on the three quarters most variable genes
  few <- as.integer(floor(0.75 * n_genes))
  small <- fit(7L)
  expect_identical(small$member_genes, c(n_genes, few))
  expect_identical(small$member_seeds, c(7, 8))
  expect_output(print(small), sprintf("member 2 reads the %d most variable genes only", few))
  expect_identical(fit(7L, ensemble_size = 3)$member_genes, c(n_genes, n_genes, few))
  expect_identical(fit(7L, ensemble_size = 1)$member_genes, n_genes)
  # that member is the model of those genes, trained at variable_gene_mask_prob
  alone <- fit(8L, ensemble_size = 1, n_variable_genes = few, mask_prob = 0.5)
  every_small <- scnym_predict(fit(7L, ensemble_size = 1), sim$query$counts)$probabilities
  expect_equal(scnym_predict(small, sim$query$counts)$probabilities,
               (every_small + 2 * scnym_predict(alone, sim$query$counts)$probabilities) / 3,
               tolerance = 1e-4)
  expect_identical(scnym_config()$member_variable_genes, 2000L)
  expect_identical(scnym_config("paper")$member_variable_genes, 0L)
  expect_output(print(scnym_config()),
                paste("2 more models on the reference's 2,000 most variable genes \\(if it has",
                      "more;\n    else 1 of the 2 reads three quarters of its genes\\):"))
  expect_output(print(scnym_config()), "weight 2 each, masking 50% of genes in augmentation")
  expect_error(scnym_config(member_variable_genes = -1),
               class = "scnym_error_invalid_argument")
  expect_identical(scnym_config()$variable_gene_weight, 2)
  expect_error(scnym_config(variable_gene_weight = -1), "variable_gene_weight",
               class = "scnym_error_invalid_argument")
  expect_identical(scnym_config()$variable_gene_mask_prob, 0.5)
  expect_identical(scnym_config()$mask_prob, 0.1)
  expect_error(scnym_config(variable_gene_mask_prob = 1), "variable_gene_mask_prob",
               class = "scnym_error_invalid_argument")
  # the rate is the variable-gene members' own: at mask_prob = 0.5 the separately trained model
  # above no longer reproduces the member trained at variable_gene_mask_prob = 0.1
  low <- fit(7L, ensemble_size = 1, member_variable_genes = 40, variable_gene_mask_prob = 0.1)
  expect_false(isTRUE(all.equal(scnym_predict(low, sim$query$counts)$probabilities,
                                (every$probabilities + 2 * p_variable) / 3, tolerance = 1e-4)))
})

test_that("the adversary's class weights change training only where there is an adversary", {
  sim <- sim_matrices()
  fit <- function(weights, target = sim$query$counts, ...) {
    model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                         target = target, seed = 5, threads = 1, verbose = FALSE,
                         config = scnym_config(ensemble_size = 1, max_epochs = 25,
                                               hidden_width = 32, adv_class_weights = weights,
                                               ...))
    expect_identical(model$config$adv_class_weights, weights)
    scnym_predict(model, sim$query$counts)$probabilities
  }
  # with a target the adversary sees the labelled cells weighted, and the model differs
  none <- fit(0)
  expect_false(identical(fit(1), none))
  expect_false(identical(fit(0.5), none))
  # without one (no adversary), or with the adversary off, the weights change nothing
  expect_identical(fit(1, target = NULL), fit(0, target = NULL))
  expect_identical(fit(1, adv_weight = 0), fit(0, adv_weight = 0))
  expect_output(print(scnym_config(adv_class_weights = 1)),
                "labelled cells: weighed toward the target's class mix \\(strength 1\\)")
  expect_output(print(scnym_config()), "labelled cells: as drawn")
})

test_that("per-gene scaling of the labelled cells is opt-in, seeded and checked", {
  sim <- sim_matrices()
  fit <- function(sd) {
    model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                         target = sim$query$counts, seed = 5, threads = 1, verbose = FALSE,
                         config = scnym_config(ensemble_size = 1, max_epochs = 25,
                                               hidden_width = 32, gene_scale_sd = sd))
    expect_identical(model$config$gene_scale_sd, sd)
    scnym_predict(model, sim$query$counts)
  }
  none <- fit(0)
  scaled <- fit(1)
  # the factors change training, come from the seed (the same run twice), and the model still
  # learns the simulated types
  expect_false(identical(scaled$probabilities, none$probabilities))
  expect_identical(fit(1)$probabilities, scaled$probabilities)
  truth <- sim$query$metadata$cell_type
  known <- truth %in% sim$reference$metadata$cell_type
  expect_gt(mean(scaled$label[known] == truth[known]), 0.8)
  for (p in config_presets()) expect_identical(scnym_config(p)$gene_scale_sd, 0)
  expect_error(scnym_config(gene_scale_sd = -0.5), "gene_scale_sd",
               class = "scnym_error_invalid_argument")
  expect_error(scnym_config(gene_scale_sd = 6), "gene_scale_sd",
               class = "scnym_error_invalid_argument")
})

test_that("members trained side by side on two threads give the model of one thread", {
  sim <- sim_matrices()
  # early stopping ends the members at different epochs: the last one then runs on both threads
  fit <- function(threads) {
    scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                target = sim$query$counts, seed = 3, threads = threads, verbose = FALSE,
                config = scnym_config(ensemble_size = 2, member_variable_genes = 0,
                                      max_epochs = 30, min_epochs = 1, patience = 1,
                                      hidden_width = 32))
  }
  seen <- new.env()
  trace("rs_trainer_run_epoch", where = asNamespace("scnym"), print = FALSE,
        tracer = bquote(assign("threads", c(get0("threads", .(seen)), threads), .(seen))))
  on.exit(untrace("rs_trainer_run_epoch", where = asNamespace("scnym")))
  two <- fit(2L)
  alone <- seen$threads
  seen$threads <- NULL
  one <- fit(1L)
  expect_true(length(alone) > 0 && all(alone == 2L))
  expect_true(all(seen$threads == 0L))
  expect_identical(scnym_predict(two, sim$query$counts)$probabilities,
                   scnym_predict(one, sim$query$counts)$probabilities)
})
