# scnym_explain(): integrated gradients as tidy gene rankings.

explain_fixture <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      sim <- scnym_simulate(n_reference = 400, n_query = 300, n_genes = 200, n_types = 4,
                            output = "matrix", seed = 3)
      model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
                           target = sim$query$counts,
                           config = scnym_config(max_epochs = 25, min_epochs = 5),
                           seed = 1, threads = 1, verbose = FALSE)
      cache <<- list(sim = sim, model = model)
    }
    cache
  }
})

test_that("per-class explanations are tidy, ranked and averaged over the right cells", {
  fx <- explain_fixture()
  x <- fx$sim$query$counts
  pred <- scnym_predict(fx$model, x)
  ex <- scnym_explain(fx$model, x, n_cells = 15, steps = 20)
  expect_s3_class(ex, "scnym_explanation")
  expect_named(ex, c("class", "gene", "attribution", "rank", "n_cells"))
  classes <- intersect(fx$model$classes, pred$label)
  expect_equal(unique(ex$class), classes)
  expect_equal(nrow(ex), length(classes) * length(fx$model$genes))
  for (k in classes) {
    s <- ex[ex$class == k, ]
    expect_equal(s$rank, seq_len(nrow(s)))
    expect_true(all(diff(s$attribution) <= 0))
    expect_equal(s$n_cells[1], min(15, sum(pred$label == k)))
  }
  # the same average by hand: the cells sampled with the same seed, IG toward the class
  k <- classes[1]
  idx <- which(pred$label == k)
  set.seed(1)
  samples <- lapply(classes, function(kk) {
    i <- which(pred$label == kk)
    if (length(i) > 15) sort(i[sample.int(length(i), 15)]) else i
  })
  ig <- model_integrated_gradients(fx$model, x[, samples[[1]]], target_class = k, steps = 20)
  s <- ex[ex$class == k, ]
  expect_equal(s$attribution, unname(colMeans(ig)[s$gene]), tolerance = 1e-6)
  expect_output(print(ex), "integrated gradients")
  # a subset without the table's attributes prints as a data frame
  expect_output(print(ex[1:3, c("class", "gene")]), "gene")
})

test_that("attributions satisfy completeness: they add up to p(x) - p(0)", {
  fx <- explain_fixture()
  x <- fx$sim$query$counts[, 1:8]
  pred <- scnym_predict(fx$model, x, calibrated = FALSE)
  ig <- model_integrated_gradients(fx$model, x, target_class = pred$label, steps = 200)
  # p(0): the model's probabilities for an all-zero input (normalised values, no renormalisation)
  g <- length(fx$model$genes)
  zero <- list(n_cells = 1L, n_genes = g, gene_map = seq_len(g) - 1L, n_model_genes = g,
               counts = FALSE, kind = "dense", x = matrix(0, g, 1))
  out <- rust_result(rs_model_predict(model_handle(fx$model), zero, FALSE, 1L, FALSE, NULL, FALSE))
  p0 <- out$probabilities[1, match(pred$label, fx$model$classes)]
  expect_equal(unname(rowSums(ig)), unname(pred$confidence - p0), tolerance = 0.02)
})

test_that("the top genes of a class are its marker genes", {
  fx <- explain_fixture()
  ref <- fx$sim$reference
  logx <- log1p(t(t(as.matrix(ref$counts)) / Matrix::colSums(ref$counts)) * 1e6)
  ex <- scnym_explain(fx$model, fx$sim$query$counts, n_cells = 30, steps = 30,
                      group = fx$sim$query$metadata$cell_type)
  for (k in unique(ex$class)) {
    inside <- ref$metadata$cell_type == k
    lfc <- rowMeans(logx[, inside]) - rowMeans(logx[, !inside])
    markers <- names(sort(lfc, decreasing = TRUE))[1:12]
    top <- ex$gene[ex$class == k & ex$rank <= 10]
    expect_gte(length(intersect(top, markers)), 5)
  }
})

test_that("chosen cells are explained toward a chosen class; per-cell attributions are kept", {
  fx <- explain_fixture()
  x <- fx$sim$query$counts
  k <- fx$model$classes[2]
  ex <- scnym_explain(fx$model, x, cells = colnames(x)[1:6], target = k, steps = 20, store = TRUE)
  expect_equal(unique(ex$class), k)
  expect_equal(unique(ex$n_cells), 6)
  expect_equal(attr(ex, "mode"), "cells")
  ca <- attr(ex, "cell_attributions")
  expect_s4_class(ca, "dgCMatrix")
  expect_equal(dim(ca), c(length(fx$model$genes), 6))
  expect_equal(colnames(ca), colnames(x)[1:6])
  ig <- model_integrated_gradients(fx$model, x[, 1:6], target_class = k, steps = 20)
  expect_equal(as.matrix(ca), t(ig), tolerance = 1e-6, ignore_attr = TRUE)
  s <- ex[match(fx$model$genes, ex$gene), ]
  expect_equal(s$attribution, unname(colMeans(ig)), tolerance = 1e-6)
  # a single cell, from a dense matrix and a sparse one
  one <- scnym_explain(fx$model, x, cells = 3, target = k, steps = 20)
  one_dense <- scnym_explain(fx$model, as.matrix(x), cells = 3, target = k, steps = 20)
  expect_equal(unique(one$n_cells), 1)
  expect_equal(one_dense$attribution, one$attribution)
  # indices and logical vectors select the same cells
  ex_i <- scnym_explain(fx$model, x, cells = 1:6, target = k, steps = 20)
  ex_l <- scnym_explain(fx$model, x, cells = seq_len(ncol(x)) <= 6, target = k, steps = 20)
  expect_equal(ex_i$attribution, ex$attribution)
  expect_equal(ex_l$attribution, ex$attribution)
})

test_that("BPPARAM spreads the classes over workers with results identical to serial", {
  fx <- explain_fixture()
  x <- fx$sim$query$counts
  explain <- function(...) scnym_explain(fx$model, x, n_cells = 10, steps = 10, ...)
  serial <- explain(threads = 1)
  stored <- explain(threads = 1, store = TRUE)
  expect_gt(length(unique(serial$class)), 1)
  for (bp in list(BiocParallel::SerialParam(), BiocParallel::MulticoreParam(2),
                  BiocParallel::SnowParam(2))) {
    expect_identical(explain(BPPARAM = bp), serial)
    expect_identical(explain(store = TRUE, BPPARAM = bp), stored)
  }
  # the classes went to the two workers: BiocParallel logs one file per task
  logs <- withr::local_tempdir()
  grp <- fx$sim$query$metadata$cell_type
  logged <- explain(group = grp, BPPARAM = BiocParallel::MulticoreParam(2, log = TRUE,
                                                                        logdir = logs))
  expect_identical(logged, explain(group = grp, threads = 1))
  expect_length(list.files(logs), 2)
  expect_error(explain(BPPARAM = 2), class = "scnym_error_invalid_argument")
})

test_that("per-cell attributions are stored in a SingleCellExperiment and a Seurat object", {
  skip_if_not_installed("SingleCellExperiment")
  fx <- explain_fixture()
  sce <- SingleCellExperiment::SingleCellExperiment(list(counts = fx$sim$query$counts))
  grp <- fx$sim$query$metadata$cell_type
  out <- scnym_explain(fx$model, sce, group = grp, n_cells = 5, steps = 10, store = TRUE)
  expect_s4_class(out, "SingleCellExperiment")
  a <- SummarizedExperiment::assay(out, "scnym_ig")
  expect_equal(dim(a), dim(sce))
  explained <- which(Matrix::colSums(a != 0) > 0)
  expect_lte(length(explained), 5 * length(unique(grp)))
  tab <- S4Vectors::metadata(out)$scnym_explain
  expect_s3_class(tab, "scnym_explanation")
  # the stored cells' mean is the table's attribution
  k <- tab$class[1]
  cells_k <- intersect(explained, which(grp == k))
  expect_equal(unname(Matrix::rowMeans(a[tab$gene[tab$class == k], cells_k, drop = FALSE])),
               tab$attribution[tab$class == k], tolerance = 1e-6)

  skip_if_no_seurat()
  so <- suppressWarnings(SeuratObject::CreateSeuratObject(counts = fx$sim$query$counts))
  out2 <- scnym_explain(fx$model, so, group = grp, n_cells = 5, steps = 10, store = TRUE)
  expect_true("scnym_ig" %in% SeuratObject::Assays(out2))
  expect_s3_class(out2@tools$scnym_explain, "scnym_explanation")
  expect_equal(out2@tools$scnym_explain$attribution, tab$attribution, tolerance = 1e-6)
})

test_that("the top-genes plot shows n genes per class", {
  fx <- explain_fixture()
  ex <- scnym_explain(fx$model, fx$sim$query$counts, n_cells = 5, steps = 10)
  p <- scnym_plot_explain(ex, n_genes = 4)
  expect_s3_class(p, "ggplot")
  expect_equal(nrow(p$data), 4 * length(unique(ex$class)))
  expect_silent(ggplot2::ggplot_build(p))
  p2 <- scnym_plot_explain(ex, n_genes = 3, classes = unique(ex$class)[1])
  expect_equal(nrow(p2$data), 3)
  expect_s3_class(ggplot2::autoplot(ex, n_genes = 2), "ggplot")
})

test_that("scnym_explain() refuses bad inputs with classed errors", {
  fx <- explain_fixture()
  x <- fx$sim$query$counts
  expect_snapshot(error = TRUE, {
    scnym_explain(list(), x)
    scnym_explain(fx$model, x, classes = "Type Z")
    scnym_explain(fx$model, x, cells = 1:3)
    scnym_explain(fx$model, x, cells = 1:3, target = "nope")
    scnym_explain(fx$model, x, target = "Type A")
    scnym_explain(fx$model, x, cells = c("no_such_cell"), target = "Type A")
    scnym_explain(fx$model, x, cells = 0, target = "Type A")
    scnym_explain(fx$model, x, cells = c(TRUE, FALSE), target = "Type A")
    scnym_explain(fx$model, x, cells = integer(), target = "Type A")
    scnym_explain(fx$model, x, group = c("a", "b"))
    scnym_explain(fx$model, x, group = rep("not a class", ncol(x)))
    scnym_explain(fx$model, x, n_cells = 0)
    scnym_explain(fx$model, x, steps = 2.5)
    scnym_explain(fx$model, x, store = NA)
    scnym_explain(fx$model, "x")
    scnym_plot_explain(data.frame(a = 1))
    scnym_plot_explain(data.frame(class = "a", gene = "g", attribution = 1, rank = 1), classes = "b")
  })
  expect_error(scnym_explain(fx$model, x, classes = "Type Z"), class = "scnym_error_invalid_argument")
})
