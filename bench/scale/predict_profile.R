#!/usr/bin/env Rscript
# Where the time of one scnym_predict() of 200,000 cells x 2,000 genes goes, 1 thread: reading,
# checking and aligning the query in R, the core, and building the table (same data as
# predict_workers.R). Usage: Rscript bench/scale/predict_profile.R
suppressPackageStartupMessages(library(scnym))
sim <- scnym_simulate(n_reference = 2000, n_query = 2000, n_genes = 2000, seed = 1, output = "matrix")
model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
  config = scnym_config(max_epochs = 2, min_epochs = 1), seed = 1, verbose = FALSE)
q <- methods::as(sim$query$counts, "CsparseMatrix")
x <- q[, rep(seq_len(ncol(q)), length.out = 200000)]; colnames(x) <- paste0("cell", seq_len(ncol(x)))
ns <- asNamespace("scnym")
t_prep <- system.time(query <- ns$prepare_query(model, x, input = "auto"))[["elapsed"]]
t_core <- system.time(out <- ns$predict_block(query$core, model, TRUE, 1L))[["elapsed"]]
t_table <- system.time(tab <- ns$prediction_table(out, model, query$cells, query$missing_genes, TRUE, 0.5, 2.5))[["elapsed"]]
t_all <- system.time(p <- scnym_predict(model, x, threads = 1))[["elapsed"]]
cat(sprintf("prepare_query (read, check, align) %.2f s; core %.2f s; table %.2f s; scnym_predict total %.2f s\n", t_prep, t_core, t_table, t_all))
d <- ns$extract_input(x); t_chk <- system.time(ns$check_values(d, "auto", "x"))[["elapsed"]]
t_ext <- system.time(ns$extract_input(x))[["elapsed"]]
cat(sprintf("  of which extract_input %.2f s, check_values %.2f s\n", t_ext, t_chk))
