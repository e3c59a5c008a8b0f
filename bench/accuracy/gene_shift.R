#!/usr/bin/env Rscript
# A proxy for a query from another species (none of the shared data sets is one): every gene's
# expression in the query is scaled by a factor of its own, as orthologues differ in their level
# of expression (and a technology's capture differs per gene). The query's counts of gene g
# become Poisson(counts * f_g), f_g = exp(sigma * z_g), z_g ~ N(0, 1), drawn once per task (the
# same query for every seed and arm). Each arm trains as run_scnym.R does (scnym_train(...,
# target = shifted query, threads = 1, input = "counts"), scnym_predict() defaults) with the
# default configuration plus the arm's overrides; SingleR (as in peers_r.R, deterministic) runs
# once per task beside it. Prints accuracy and macro-F1 per task (means over seeds) and over
# the tasks.
# With --ref_per_class N the reference keeps N cells (drawn once per task) of each of its types
# that has as many, and the query the cells of those types: a small reference of many genes, the
# case of a reference from another species with a few dozen annotated cells per type.
# With --permute P a share P of the genes (drawn once per task) has its shifted query values
# shuffled across the query's cells: those genes keep their level but no longer tell the types
# apart, as genes whose cell-type pattern differs between species.
# Usage: Rscript bench/accuracy/gene_shift.R [--jobs 2] [--seeds 0,1,2] [--sigma 1]
#          [--arms "default;adv_weight=0"] [--tasks panc8_single_celseq,...] [--ref_per_class N]
#          [--permute P]
#          (default tasks: the five panc8 single-technology references and Kang both ways)
Sys.setenv(OMP_NUM_THREADS = "1", OPENBLAS_NUM_THREADS = "1", MKL_NUM_THREADS = "1")
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "tasks.R"))
source(file.path(dirname(script), "..", "config-overrides.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
jobs <- as.integer(parse_opt(args, "jobs", "2"))
seeds <- as.integer(parse_list_opt(args, "seeds", "0,1,2"))
sigma <- as.numeric(parse_opt(args, "sigma", "1"))
ref_per_class <- as.integer(parse_opt(args, "ref_per_class", "0"))
permute <- as.numeric(parse_opt(args, "permute", "0"))
tasks <- parse_list_opt(args, "tasks",
                        paste(grep("^(kang|panc8_single)_", names(accuracy_tasks()),
                                   value = TRUE), collapse = ","))
arm_text <- strsplit(parse_opt(args, "arms", "default"), ";")[[1]]
arms <- setNames(lapply(arm_text, function(a) {
  do.call(scnym_config, if (a == "default") list() else parse_overrides(a))
}), arm_text)

small_reference <- function(x) {
  types <- names(which(table(x$ref_labels) >= ref_per_class))
  set.seed(2)
  ref <- unlist(lapply(types, function(k) sample(which(x$ref_labels == k), ref_per_class)))
  query <- x$query_labels %in% types
  x$ref_counts <- x$ref_counts[, ref]
  x$ref_labels <- x$ref_labels[ref]
  x$query_counts <- x$query_counts[, query]
  x$query_labels <- x$query_labels[query]
  x$query_cells <- x$query_cells[query]
  x
}

shifted_task <- function(task) {
  x <- load_task(task)
  if (ref_per_class > 0) x <- small_reference(x)
  set.seed(1)
  f <- exp(sigma * stats::rnorm(nrow(x$query_counts)))
  q <- x$query_counts
  q@x <- as.numeric(stats::rpois(length(q@x), q@x * f[q@i + 1L]))
  q <- Matrix::drop0(q)
  if (permute > 0) {
    genes <- sample(nrow(q), round(permute * nrow(q)))
    block <- as.matrix(q[genes, , drop = FALSE])
    q[genes, ] <- Matrix::Matrix(t(apply(block, 1, sample)), sparse = TRUE)
  }
  x$query_counts <- q
  x
}

score <- function(x, label, arm, seed) {
  known <- x$query_labels %in% x$ref_labels
  data.frame(task = x$task, arm = arm, seed = seed,
             accuracy = mean(label[known] == x$query_labels[known]),
             macro_f1 = macro_f1(x$query_labels[known], label[known]))
}

run_scnym_arm <- function(job) {
  x <- shifted[[job$task]]
  model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts,
                       seed = job$seed, threads = 1, verbose = FALSE, input = "counts",
                       config = arms[[job$arm]])
  score(x, scnym_predict(model, x$query_counts, input = "counts")$label,
        paste0("scnym ", job$arm), job$seed)
}

run_singler <- function(x) {
  p <- SingleR::SingleR(test = scuttle::normalizeCounts(x$query_counts),
                        ref = scuttle::normalizeCounts(x$ref_counts), labels = x$ref_labels)
  score(x, p$labels, "SingleR", NA)
}

# Each task loaded and shifted once, here; the forked runs share it.
shifted <- lapply(stats::setNames(nm = tasks), shifted_task)
grid <- expand.grid(seed = seeds, arm = arm_text, task = tasks, stringsAsFactors = FALSE)
grid <- grid[order(-grepl("^kang_", grid$task)), ]
jobs_list <- c(lapply(seq_len(nrow(grid)), function(i) as.list(grid[i, ])),
               lapply(tasks, function(t) list(task = t, arm = "SingleR")))
res <- parallel::mclapply(jobs_list, function(j) {
  if (j$arm == "SingleR") run_singler(shifted[[j$task]]) else run_scnym_arm(j)
}, mc.cores = jobs, mc.preschedule = FALSE)
res <- bind_runs(res)
by_task <- aggregate(cbind(accuracy, macro_f1) ~ task + arm, res, mean)
cat(sprintf(paste("# Rscript bench/accuracy/gene_shift.R --jobs %d --seeds %s --sigma %s",
                  "--arms \"%s\" --tasks %s%s (%s, %s)\n"),
            jobs, paste(seeds, collapse = ","), sigma, paste(arm_text, collapse = ";"),
            paste(tasks, collapse = ","),
            paste0("", if (ref_per_class > 0) paste(" --ref_per_class", ref_per_class),
                   if (permute > 0) paste(" --permute", permute)),
            format(Sys.time(), "%Y-%m-%d"), git_commit(accuracy_root())))
cat("# query counts of each gene scaled by exp(sigma * N(0, 1)), Poisson;",
    if (permute > 0) sprintf("%g of the genes shuffled across the query's cells;", permute),
    "scnym: means over seeds\n")
print_metric_tables(by_task, "task", "arm")
cat("\nmean over the tasks:\n")
print(aggregate(cbind(accuracy, macro_f1) ~ arm, by_task, mean), digits = 4, row.names = FALSE)
