# SeuratObject 5: split layers (`split(obj[["RNA"]], f = ...)`, layers counts.1, counts.2, the
# state after integration) are read whole, in cell order, by every function. Runs where
# SeuratObject 5 is installed (`make test-seurat5` builds it into a private library).

skip_unless_seurat5 <- function() {
  skip_if_no_seurat()
  if (!seurat_v5()) skip("SeuratObject 5 is not installed (make test-seurat5)")
}

split_fixture <- function() {
  if (is.null(fixture_cache$split)) {
    sim <- scnym_simulate(n_reference = 150, n_query = 120, n_genes = 120, n_types = 3,
                          output = "Seurat", seed = 8)
    split_rna <- function(so, f) {
      so[["RNA"]] <- split(so[["RNA"]], f = f)
      so
    }
    # three batches interleaved, so that cell order differs from layer order
    batch <- rep(c("b1", "b2", "b3"), length.out = ncol(sim$query))
    fixture_cache$split <- list(
      ref = sim$reference, query = sim$query,
      ref_split = split_rna(sim$reference, rep(c("x", "y"), length.out = ncol(sim$reference))),
      query_split = split_rna(sim$query, batch)
    )
  }
  fixture_cache$split
}

test_that("a split assay is read whole, in cell order", {
  skip_unless_seurat5()
  fx <- split_fixture()
  expect_s4_class(fx$query_split[["RNA"]], "Assay5")
  expect_identical(SeuratObject::Layers(fx$query_split), c("counts.b1", "counts.b2", "counts.b3"))
  joined <- scnym:::extract_input(fx$query)
  split <- expect_no_warning(scnym:::extract_input(fx$query_split))
  expect_identical(split$cells, colnames(fx$query))
  expect_identical(split$genes, joined$genes)
  expect_identical(as.matrix(split$mat), as.matrix(joined$mat))
})

test_that("split parts with different genes are joined over the union, zero where absent", {
  skip_unless_seurat5()
  fx <- split_fixture()
  counts <- SeuratObject::LayerData(fx$query, layer = "counts")
  a <- SeuratObject::CreateSeuratObject(counts = counts[1:100, 1:60])
  b <- SeuratObject::CreateSeuratObject(counts = counts[21:120, 61:120])
  merged <- merge(a, b)
  expect_gt(length(SeuratObject::Layers(merged)), 1L)
  d <- scnym:::extract_input(merged)
  expect_identical(d$cells, colnames(merged))
  expect_setequal(d$genes, rownames(counts))
  full <- as.matrix(d$mat)[rownames(counts), ]
  expected <- as.matrix(counts)
  expected[101:120, 1:60] <- 0
  expected[1:20, 61:120] <- 0
  expect_identical(unname(full), unname(expected))
})

test_that("train, annotate, discover and explain cover every cell of split layers", {
  skip_unless_seurat5()
  fx <- split_fixture()
  args <- list(config = quick_config(), seed = 2, threads = 1, verbose = FALSE)
  # training on a split reference equals training on the joined one
  m_split <- do.call(scnym_train, c(list(fx$ref_split, labels = "cell_type",
                                         target = fx$query_split), args))
  m_joined <- do.call(scnym_train, c(list(fx$ref, labels = "cell_type", target = fx$query),
                                     args))
  expect_identical(m_split$genes, m_joined$genes)
  expect_identical(scnym_predict(m_split, fx$query)$probabilities,
                   scnym_predict(m_joined, fx$query)$probabilities)
  # a split query gets a label for every cell, identical to the joined object's
  split_out <- scnym_annotate(fx$query_split, m_joined)
  joined_out <- scnym_annotate(fx$query, m_joined)
  expect_false(anyNA(split_out$scNym))
  expect_identical(split_out$scNym, joined_out$scNym)
  expect_identical(split_out$scNym_confidence, joined_out$scNym_confidence)
  expect_identical(SeuratObject::Embeddings(split_out, "scnym"),
                   SeuratObject::Embeddings(joined_out, "scnym"))
  # trained inside scnym_annotate too
  trained <- do.call(scnym_annotate, c(list(fx$query_split, fx$ref_split, labels = "cell_type"),
                                       args))
  expect_identical(trained$scNym, joined_out$scNym)
  # discover with the model: predictions read from the split layers; the candidates are the
  # cells at or below the default threshold (0.5) and the unassigned ones
  disc_split <- scnym_discover(split_out, model = m_joined, k = 10)
  disc_joined <- scnym_discover(joined_out, model = m_joined, k = 10)
  candidate <- split_out$scNym_confidence <= 0.5 | is.na(split_out$scNym_pruned)
  expect_gt(sum(candidate), 100)
  expect_identical(unname(!is.na(disc_split$scNym_candidate)), unname(candidate))
  expect_identical(disc_split$scNym_candidate, disc_joined$scNym_candidate)
  # explain: every cell is explained and stored, as an Assay5
  ex_split <- expect_no_warning(scnym_explain(m_joined, fx$query_split, n_cells = 1000, steps = 5,
                                            store = TRUE))
  ex_joined <- scnym_explain(m_joined, fx$query, n_cells = 1000, steps = 5, store = TRUE)
  expect_s4_class(ex_split[["scnym_ig"]], "Assay5")
  ig_split <- SeuratObject::LayerData(ex_split, assay = "scnym_ig", layer = "data")
  ig_joined <- SeuratObject::LayerData(ex_joined, assay = "scnym_ig", layer = "data")
  expect_identical(colnames(ig_split), colnames(fx$query))
  expect_identical(ig_split, ig_joined)
  expect_true(all(Matrix::colSums(abs(ig_split)) > 0))
})
