# Real data (skipped without the data directory): a short run of the paper's PBMC task through
# the Seurat and SingleCellExperiment paths. The full benchmark is bench/kang/run.R.

test_that("Kang ctrl -> stim: a short scnym_annotate() run transfers labels", {
  path <- skip_if_no_data("kang_ifnb_seurat2800")
  skip_if_no_seurat()
  skip_on_cran()
  kang <- read_data_set(path)
  ctrl <- kang$cells$domain == "ctrl"
  seurat_of <- function(keep) {
    suppressWarnings(SeuratObject::CreateSeuratObject(
      counts = kang$counts[, keep], meta.data = kang$cells[keep, c("label", "domain")],
      min.cells = 0, min.features = 0))
  }
  reference <- seurat_of(ctrl)
  query <- seurat_of(!ctrl)
  out <- scnym_annotate(query, reference, labels = "label",
                        config = scnym_config(max_epochs = 8, min_epochs = 1), seed = 0,
                        threads = 1, verbose = FALSE)
  accuracy <- mean(out$scNym == out$label)
  expect_gt(accuracy, 0.75)
  expect_identical(dim(SeuratObject::Embeddings(out, "scnym")), c(sum(!ctrl), 256L))
  rec <- SeuratObject::Tool(out, "scnym_annotate")$scNym
  expect_equal(rec$model$n_genes, nrow(kang$counts))
  expect_length(rec$model$classes, 13)
  # the SingleCellExperiment path gives the same labels
  skip_if_no_sce()
  as_sce <- function(keep) {
    SingleCellExperiment::SingleCellExperiment(
      assays = list(counts = kang$counts[, keep]),
      colData = S4Vectors::DataFrame(kang$cells[keep, c("label", "domain")]))
  }
  sce <- scnym_annotate(as_sce(!ctrl), as_sce(ctrl), labels = "label",
                        config = scnym_config(max_epochs = 8, min_epochs = 1), seed = 0,
                        threads = 1, verbose = FALSE)
  expect_identical(sce$scNym, unname(out$scNym))
})
