#!/usr/bin/env Rscript
# Writes an HDF5-backed SingleCellExperiment of N simulated cells x 2,000 genes (10 cell types;
# the reference or the shifted query of scnym_simulate()'s model), generated and written in
# chunks of 10,000 cells so that memory stays flat: counts in DIR/counts.h5 (integer, sparse
# chunks of 2,000 genes x 256 cells, gzip level 1), the object in DIR/sce.rds (readRDS() gives
# it back, reading the counts from DIR/counts.h5).
# Usage: Rscript bench/scale/make_atlas.R DIR N [reference|query]
suppressPackageStartupMessages({
  library(HDF5Array)
  library(SingleCellExperiment)
})
args <- commandArgs(trailingOnly = TRUE)
dir <- args[[1]]
n <- as.integer(args[[2]])
query <- identical(args[3], "query")
chunk <- 10000L
n_genes <- 2000L
dir.create(dir, recursive = TRUE, showWarnings = FALSE)
h5 <- file.path(dir, "counts.h5")
unlink(h5)
set.seed(1)
# scnym's simulation model (see ?scnym_simulate), drawn once and sampled chunk by chunk
design <- scnym:::simulate_design(n_genes, n_types = 10L, n_query_only = 0L, shift = 1)
prefix <- if (query) "query_" else "ref_"
cells <- sprintf("%scell%08d", prefix, seq_len(n))
sink <- HDF5RealizationSink(dim = c(n_genes, n), dimnames = list(design$genes, NULL),
                            type = "integer", filepath = h5, name = "counts",
                            chunkdim = c(n_genes, 256L), level = 1L, as.sparse = TRUE)
grid <- RegularArrayGrid(c(n_genes, n), c(n_genes, chunk))
types <- character(n)
started <- proc.time()[["elapsed"]]
for (b in seq_along(grid)) {
  vp <- grid[[b]]
  cols <- start(vp)[2]:end(vp)[2]
  part <- scnym:::simulate_part(design, length(cols), query = query)
  block <- as.matrix(part$counts)
  storage.mode(block) <- "integer"
  write_block(sink, vp, block)
  types[cols] <- part$metadata$cell_type
}
close(sink)
counts <- as(sink, "DelayedArray")
colnames(counts) <- cells
sce <- SingleCellExperiment(list(counts = counts),
                            colData = S4Vectors::DataFrame(cell_type = types,
                                                           domain = if (query) "query" else
                                                             "reference", row.names = cells))
saveRDS(sce, file.path(dir, "sce.rds"))
cat(sprintf("%s: %d cells x %d genes, %.0f MB on disk, written in %.0f s\n", dir, n, n_genes,
            file.size(h5) / 1e6, proc.time()[["elapsed"]] - started))
