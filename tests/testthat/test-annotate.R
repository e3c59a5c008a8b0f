annotate_args <- function() {
  list(config = quick_config(), seed = 3, threads = 1, verbose = FALSE)
}

test_that("scnym_annotate writes labels, confidence, embedding and a record into Seurat", {
  skip_if_no_seurat()
  sim <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3,
                        output = "Seurat", seed = 8)
  out <- do.call(scnym_annotate, c(list(sim$query, sim$reference, labels = "cell_type"),
                                   annotate_args()))
  expect_s4_class(out, "Seurat")
  meta <- out[[]]
  expect_true(all(c("scNym", "scNym_confidence", "scNym_novelty", "scNym_pruned") %in%
                    names(meta)))
  expect_true(all(meta$scNym %in% c("Type A", "Type B", "Type C")))
  expect_true(all(meta$scNym_confidence > 0 & meta$scNym_confidence <= 1))
  expect_identical(is.na(meta$scNym_pruned),
                   expected_pruned(meta$scNym_novelty, meta$scNym_confidence))
  expect_true("scnym" %in% SeuratObject::Reductions(out))
  emb <- SeuratObject::Embeddings(out, "scnym")
  expect_identical(dim(emb), c(100L, 32L))
  expect_identical(rownames(emb), colnames(out))
  expect_identical(SeuratObject::Key(out[["scnym"]]), "scnym_")
  rec <- SeuratObject::Tool(out, "scnym_annotate")$scNym
  expect_true(rec$trained)
  expect_equal(rec$n_cells, 100)
  expect_equal(rec$model$seed, 3L)
  expect_identical(rec$columns, c("scNym", "scNym_confidence", "scNym_novelty", "scNym_pruned"))
  expect_true(any(grepl("^scnym_annotate", names(out@commands))))
  # the same predictions as the two-step API
  model <- do.call(scnym_train, c(list(sim$reference, labels = "cell_type", target = sim$query),
                                  annotate_args()))
  pred <- scnym_predict(model, sim$query)
  expect_identical(meta$scNym, pred$label)
  expect_equal(meta$scNym_confidence, pred$confidence)
  expect_equal(unname(emb), unname(pred$embedding))
})

test_that("scnym_annotate writes into a SingleCellExperiment", {
  skip_if_no_sce()
  sim <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3, seed = 8)
  out <- do.call(scnym_annotate, c(list(sim$query, sim$reference, labels = "cell_type",
                                        key_added = "pred"), annotate_args()))
  cd <- SummarizedExperiment::colData(out)
  expect_true(all(c("pred", "pred_confidence", "pred_novelty", "pred_pruned") %in% names(cd)))
  emb <- SingleCellExperiment::reducedDim(out, "pred")
  expect_identical(dim(emb), c(100L, 32L))
  rec <- S4Vectors::metadata(out)$scnym_annotate$pred
  expect_equal(rec$reduction, "pred")
  expect_null(rec$model_object)
  # labels and confidence identical to the Seurat path on the same data
  so <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3,
                       output = "Seurat", seed = 8)
  so_out <- do.call(scnym_annotate, c(list(so$query, so$reference, labels = "cell_type"),
                                      annotate_args()))
  expect_identical(cd$pred, unname(so_out$scNym))
})

test_that("a trained model can be given; store_model keeps it", {
  skip_if_no_sce()
  sim <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3, seed = 8)
  model <- do.call(scnym_train, c(list(sim$reference, labels = "cell_type", target = sim$query),
                                  annotate_args()))
  out <- scnym_annotate(sim$query, model, store_model = TRUE, prune_below = 0.9)
  rec <- S4Vectors::metadata(out)$scnym_annotate$scNym
  expect_false(rec$trained)
  expect_s3_class(rec$model_object, "scnym_model")
  expect_equal(rec$prune_below, 0.9)
  expect_identical(out$scNym, scnym_predict(model, sim$query)$label)
  # read back as the DataFrame scnym_predict() returns, its settings from the record
  back <- scnym:::read_predictions(out, "scNym")
  pred <- scnym_predict(model, sim$query, prune_below = 0.9)
  expect_s4_class(back, "DFrame")
  expect_identical(back$label, pred$label)
  expect_identical(back$pruned_label, pred$pruned_label)
  expect_identical(unname(back$embedding), unname(pred$embedding))
  expect_identical(S4Vectors::metadata(back), S4Vectors::metadata(pred))
  # a second key adds a second record
  out2 <- scnym_annotate(out, model, key_added = "again", calibrated = FALSE)
  expect_named(S4Vectors::metadata(out2)$scnym_annotate, c("scNym", "again"))
  expect_identical(out2$again, out2$scNym)
})

# Reference and query cells of one simulation in one SingleCellExperiment: `ref_label` holds the
# reference cells' types and NA for the query cells; `scale` multiplies the counts.
combined_sce <- function(scale = 1) {
  sim <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3, seed = 8,
                        output = "matrix")
  meta <- rbind(sim$reference$metadata, sim$query$metadata)
  meta$ref_label <- ifelse(meta$domain == "reference", meta$cell_type, NA)
  SingleCellExperiment::SingleCellExperiment(
    assays = list(counts = scale * cbind(sim$reference$counts, sim$query$counts)),
    colData = S4Vectors::DataFrame(meta)
  )
}

test_that("reference = NULL trains on the labelled cells of x and predicts all of them", {
  skip_if_no_sce()
  both <- combined_sce()
  out <- do.call(scnym_annotate, c(list(both, labels = "ref_label", domain = "domain"),
                                   annotate_args()))
  expect_equal(length(out$scNym), 250)
  rec <- S4Vectors::metadata(out)$scnym_annotate$scNym
  expect_equal(rec$training$n_labelled, 150)
  expect_equal(rec$training$n_target, 100)
  expect_identical(rec$model$domains, c("reference", "query"))
})

test_that("scnym_annotate reads the query once, also when it is the reference", {
  skip_if_no_sce()
  # non-integer counts above log(1 + 1e6): every check of them says how they are read
  both <- combined_sce(scale = 20.5)
  reads <- function(expr) {
    n <- 0L
    withCallingHandlers(expr, scnym_message_input_guess = function(m) {
      n <<- n + 1L
      invokeRestart("muffleMessage")
    })
    n
  }
  expect_identical(reads(do.call(scnym_annotate, c(list(both, labels = "ref_label"),
                                                   annotate_args()))), 1L)
  ref <- both[, !is.na(both$ref_label)]
  expect_identical(reads(out <- do.call(scnym_annotate, c(list(ref, ref, labels = "ref_label"),
                                                          annotate_args()))), 1L)
  # the same predictions as training with the reference as its own target
  model <- suppressMessages(do.call(scnym_train, c(list(ref, labels = "ref_label", target = ref),
                                                   annotate_args())))
  pred <- suppressMessages(scnym_predict(model, ref))
  expect_identical(out$scNym, pred$label)
  expect_identical(out$scNym_confidence, pred$confidence)
})

test_that("scnym_annotate passes the query's cells to the core once", {
  skip_if_no_sce()
  both <- combined_sce()
  # what the core is given: cells of an R matrix ("cells") or rows of the cell store ("store")
  given <- character()
  note <- function(data) {
    if (!is.null(data)) given <<- c(given, if (is.null(data$store)) "cells" else "store")
  }
  ns <- asNamespace("scnym")
  tracers <- list(rs_cells_new = bquote(.(note)(data)),
                  rs_trainer_new = bquote({.(note)(train); .(note)(target)}),
                  rs_model_predict = bquote(.(note)(data)))
  for (f in names(tracers)) suppressMessages(trace(f, tracers[[f]], where = ns, print = FALSE))
  on.exit(for (f in names(tracers)) suppressMessages(untrace(f, where = ns)))
  config <- scnym_config(max_epochs = 2, min_epochs = 1, ensemble_size = 2)
  out <- scnym_annotate(both, labels = "ref_label", config = config, seed = 1, threads = 1,
                        verbose = FALSE)
  # once into the store; each of the two members trains on its rows, the prediction reads all
  expect_identical(given, c("cells", rep("store", 5)))
  given <- character()
  ref <- both[, !is.na(both$ref_label)]
  query <- both[, is.na(both$ref_label)]
  out2 <- scnym_annotate(query, ref, labels = "ref_label", config = config, seed = 1,
                         threads = 1, verbose = FALSE)
  # the query's cells and the reference's once each, into stores the members share
  expect_identical(given, c("cells", "cells", rep("store", 5)))
  expect_identical(sum(!is.na(out2$scNym)), ncol(query))
})

test_that("with n_variable_genes, scnym_annotate trains and predicts on the chosen genes", {
  skip_if_no_sce()
  sim <- scnym_simulate(n_reference = 150, n_query = 100, n_genes = 120, n_types = 3, seed = 8)
  args <- utils::modifyList(annotate_args(), list(config = quick_config(n_variable_genes = 40)))
  out <- do.call(scnym_annotate, c(list(sim$query, sim$reference, labels = "cell_type",
                                        store_model = TRUE), args))
  model <- S4Vectors::metadata(out)$scnym_annotate$scNym$model_object
  expect_length(model$genes, 40)
  # the same genes and labels as the two-step API
  two_step <- do.call(scnym_train, c(list(sim$reference, labels = "cell_type",
                                          target = sim$query), args))
  expect_identical(two_step$genes, model$genes)
  expect_identical(out$scNym, scnym_predict(two_step, sim$query)$label)
})

test_that("a failed annotation leaves the object untouched", {
  skip_if_no_seurat()
  sim <- scnym_simulate(n_reference = 100, n_query = 60, n_genes = 100, n_types = 3,
                        output = "Seurat", seed = 8)
  query <- sim$query
  before <- query
  expect_error(scnym_annotate(query, sim$reference, labels = "no_such_column",
                              verbose = FALSE), class = "scnym_error_invalid_argument")
  expect_error(scnym_annotate(query, sim$reference, labels = "cell_type", key_added = "1x",
                              verbose = FALSE), class = "scnym_error_invalid_argument")
  expect_identical(query, before)
})

test_that("a plain SummarizedExperiment gets columns and a record, no reduction", {
  skip_if_not_installed("SummarizedExperiment")
  sim <- sim_matrices()
  se <- SummarizedExperiment::SummarizedExperiment(
    assays = list(counts = sim$query$counts),
    colData = S4Vectors::DataFrame(sim$query$metadata)
  )
  out <- scnym_annotate(se, sim_model())
  expect_s4_class(out, "SummarizedExperiment")
  expect_identical(out$scNym, scnym_predict(sim_model(), sim$query$counts)$label)
  expect_named(S4Vectors::metadata(out)$scnym_annotate, "scNym")
})
