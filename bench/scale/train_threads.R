#!/usr/bin/env Rscript
# One default training (scnym_train() as a user gets it: an ensemble of two networks) at a given
# number of threads, to time 2 threads against 1, the two run in turn, each timed as a whole
# process:
#   /usr/bin/time -v Rscript bench/scale/train_threads.R TASK 2
#   /usr/bin/time -v Rscript bench/scale/train_threads.R TASK 1
# TASK: "synthetic" (scnym_simulate(): 10,000 reference + 10,000 query cells x 2,000 genes) or a
# task of bench/accuracy/tasks.R (e.g. kang_ctrl_to_stim). Prints the training seconds, the epochs
# and a fingerprint of the query's probabilities (equal fingerprints: the same model).
script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
source(file.path(dirname(script), "..", "accuracy", "tasks.R"))
suppressPackageStartupMessages(library(scnym))
args <- commandArgs(trailingOnly = TRUE)
threads <- as.integer(args[[2]])
if (args[[1]] == "synthetic") {
  sim <- scnym_simulate(n_reference = 10000, n_query = 10000, n_genes = 2000, seed = 1,
                        output = "matrix")
  x <- list(ref_counts = sim$reference$counts, ref_labels = sim$reference$metadata$cell_type,
            query_counts = sim$query$counts)
} else {
  x <- load_task(args[[1]])
}
model <- scnym_train(x$ref_counts, labels = x$ref_labels, target = x$query_counts, seed = 0,
                     verbose = FALSE, input = "counts", threads = threads)
prob <- scnym_predict(model, x$query_counts, threads = 1, input = "counts")$probabilities
cat(sprintf("%s, %d thread(s): %.1f s training, %d epochs, fingerprint %.15g\n", args[[1]],
            threads, model$training$seconds, nrow(model$history),
            sum(prob * seq_along(prob))))
