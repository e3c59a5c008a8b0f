# k nearest neighbours for discovery and the entropy of mixing: BiocNeighbors' exact
# vantage-point tree search (the package's knn_search()) against the brute-force search it
# replaced (`brute_knn()` below, as it was in R/evaluate.R: squared distances in blocks of 256
# query cells, then a partial sort per cell), on a simulated scNym-like embedding (256
# dimensions, ReLU of 20 clusters in a 10-dimensional latent space, plus noise).
#   graph:  the neighbours of every cell, k = 15 (discovery's kNN graph when every cell is a
#           candidate, and its boundary test);
#   mixing: 1,000 cells among all, k = 100 (scnym_mixing_entropy()'s defaults).
# Each method and task runs in a fresh R process, so the peak resident memory (VmHWM) is its own;
# `extra_mb` is that peak minus the resident memory just before the search (the embedding, about
# 100 MB at 50,000 cells, is already resident then).
# The two methods must return the same neighbours (compared here; ties are improbable).
# Usage: Rscript bench/knn/run.R [n_cells]   (default 50000; needs the installed package)
# Output: bench/results/knn/knn.csv and summary.txt (also on stdout).
args <- commandArgs(trailingOnly = TRUE)

brute_knn <- function(data, query, k, exclude = NULL, block = 256L) {
  n <- nrow(data)
  data_sq <- rowSums(data^2)
  out <- matrix(0L, nrow(query), k)
  starts <- seq(1L, nrow(query), by = block)
  for (s in starts) {
    rows <- s:min(s + block - 1L, nrow(query))
    q <- query[rows, , drop = FALSE]
    d <- outer(rowSums(q^2), data_sq, "+") - 2 * tcrossprod(q, data)
    if (!is.null(exclude)) d[cbind(seq_along(rows), exclude[rows])] <- Inf
    for (i in seq_along(rows)) {
      di <- d[i, ]
      kth <- if (k < n) sort.int(di, partial = k)[k] else max(di)
      cand <- which(di <= kth)
      out[rows[i], ] <- cand[order(di[cand], cand)][seq_len(k)]
    }
  }
  out
}

embedding <- function(n) {
  set.seed(1)
  centers <- matrix(rnorm(20 * 10, sd = 3), 20, 10)
  latent <- centers[sample.int(20, n, replace = TRUE), ] + matrix(rnorm(n * 10), n, 10)
  emb <- pmax(latent %*% matrix(rnorm(10 * 256), 10, 256), 0)
  emb + matrix(abs(rnorm(n * 256, sd = 0.1)), n, 256)
}

rss_mb <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line)) / 1024
}

if (length(args) >= 1 && args[[1]] == "--child") {
  method <- args[[2]]
  task <- args[[3]]
  n <- as.integer(args[[4]])
  suppressPackageStartupMessages({
    library(scnym)
    loadNamespace("BiocNeighbors") # loaded before measuring, for both methods
  })
  x <- embedding(n)
  subset <- if (task == "graph") seq_len(n) else sort(sample.int(n, 1000))
  k <- if (task == "graph") 15L else 100L
  invisible(gc())
  before <- rss_mb("VmRSS")
  secs <- system.time({
    nn <- if (method == "brute") {
      brute_knn(x, x[subset, , drop = FALSE], k, exclude = subset)
    } else {
      scnym:::knn_search(x, k, subset = subset)
    }
  })[["elapsed"]]
  saveRDS(nn, args[[5]])
  cat(sprintf("%s,%s,%d,%d,%d,%.2f,%.0f,%.0f\n", method, task, n, length(subset), k, secs,
              rss_mb("VmHWM"), rss_mb("VmHWM") - before))
  quit(save = "no")
}

n <- if (length(args) >= 1) as.integer(args[[1]]) else 50000L
out_dir <- file.path("bench", "results", "knn")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
rows <- character()
same <- character()
for (task in c("mixing", "graph")) {
  files <- c(brute = tempfile(fileext = ".rds"), biocneighbors = tempfile(fileext = ".rds"))
  for (method in names(files)) {
    rows <- c(rows, system2(file.path(R.home("bin"), "Rscript"),
                            c(script, "--child", method, task, n, files[[method]]), stdout = TRUE))
  }
  a <- readRDS(files[["brute"]])
  b <- readRDS(files[["biocneighbors"]])
  same <- c(same, sprintf("%s: identical neighbours %s, same neighbour sets in %.4f of cells",
                          task, identical(a, b),
                          mean(vapply(seq_len(nrow(a)), function(i) setequal(a[i, ], b[i, ]),
                                      logical(1)))))
}
res <- read.csv(text = c("method,task,n_cells,n_query,k,seconds,peak_rss_mb,extra_mb", rows))
write.csv(res, file.path(out_dir, "knn.csv"), row.names = FALSE)
summary <- c(capture.output(print(res, row.names = FALSE)), same)
writeLines(summary)
writeLines(summary, file.path(out_dir, "summary.txt"))
