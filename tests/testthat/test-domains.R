# Several nuisance covariates (R/domains.R): one adversary head per covariate.

train_quiet <- function(...) scnym_train(..., config = quick_config(), verbose = FALSE, threads = 1)

# Two covariates for the simulated reference and query: a batch (three in the reference, one
# of its own in the query) and a donor (two, in both).
sim_covariates <- function() {
  sim <- sim_matrices()
  n_r <- ncol(sim$reference$counts)
  n_q <- ncol(sim$query$counts)
  list(sim = sim,
       ref = data.frame(batch = rep(c("b1", "b2", "b3"), length.out = n_r),
                        donor = rep(c("d1", "d2"), each = 2, length.out = n_r)),
       query = data.frame(donor = rep(c("d2", "d1"), length.out = n_q), batch = "b4"))
}

test_that("two covariates train two heads, with their weights, recorded in the model", {
  cv <- sim_covariates()
  m <- train_quiet(cv$sim$reference$counts, labels = cv$sim$reference$metadata$cell_type,
                   target = cv$sim$query$counts, domain = cv$ref, target_domain = cv$query,
                   domain_weight = c(donor = 0.5, batch = 2), seed = 3)
  expect_identical(m$covariates, list(batch = c("b1", "b2", "b3", "b4"), donor = c("d1", "d2")))
  expect_identical(m$domain_weights, c(batch = 2, donor = 0.5))
  expect_identical(m$domains, c("batch:b1", "batch:b2", "batch:b3", "batch:b4", "donor:d1",
                                "donor:d2"))
  expect_true(all(m$history$loss_adv > 0))
  expect_output(print(m), paste("2 covariates: batch \\(4 domains, weight 2\\),",
                                "donor \\(2 domains, weight 0.5\\)"))
  expect_output(print(summary(m)), "2 covariates: batch")
  # the file keeps them, and so does saveRDS
  path <- tempfile(fileext = ".scnym")
  scnym_save(m, path)
  back <- scnym_load(path)
  expect_identical(back$covariates, m$covariates)
  expect_identical(back$domain_weights, m$domain_weights)
  expect_identical(back$format_version, 5L)
  rds <- tempfile(fileext = ".rds")
  saveRDS(m, rds)
  expect_identical(scnym_predict(readRDS(rds), cv$sim$query$counts)$probabilities,
                   scnym_predict(back, cv$sim$query$counts)$probabilities)
  # weights in the order of `domain` when unnamed; a different weight trains differently
  m1 <- train_quiet(cv$sim$reference$counts, labels = cv$sim$reference$metadata$cell_type,
                    target = cv$sim$query$counts, domain = cv$ref, target_domain = cv$query,
                    domain_weight = c(2, 0.5), seed = 3)
  expect_identical(m1$domain_weights, m$domain_weights)
  expect_identical(m1$history$loss, m$history$loss)
  m2 <- train_quiet(cv$sim$reference$counts, labels = cv$sim$reference$metadata$cell_type,
                    target = cv$sim$query$counts, domain = cv$ref, target_domain = cv$query,
                    seed = 3)
  expect_identical(m2$domain_weights, c(batch = 1, donor = 1))
  expect_false(identical(m2$history$loss_adv, m$history$loss_adv))
})

test_that("the confusion objective trains every head and is kept with the model", {
  cv <- sim_covariates()
  fit <- function(objective) {
    scnym_train(cv$sim$reference$counts, labels = cv$sim$reference$metadata$cell_type,
                target = cv$sim$query$counts, domain = cv$ref, target_domain = cv$query,
                config = scnym_config(max_epochs = 3, min_epochs = 1, ensemble_size = 1,
                                      adv_ramp_epochs = 0, adv_objective = objective),
                seed = 3, verbose = FALSE, threads = 1)
  }
  reversal <- fit("reversal")
  confusion <- fit("confusion")
  expect_identical(confusion$config$adv_objective, "confusion")
  expect_true(all(confusion$history$loss_adv > 0))
  expect_false(identical(confusion$history$loss, reversal$history$loss))
  expect_output(print(confusion$config), "confusion loss")
  path <- withr::local_tempfile(fileext = ".scnym")
  scnym_save(confusion, path)
  expect_identical(scnym_load(path)$config$adv_objective, "confusion")
  expect_error(scnym_config(adv_objective = "flip"), class = "scnym_error_invalid_argument")
})

test_that("target cells are 'query' in every covariate when target_domain is NULL", {
  cv <- sim_covariates()
  m <- train_quiet(cv$sim$reference$counts, labels = cv$sim$reference$metadata$cell_type,
                   target = cv$sim$query$counts, domain = cv$ref, seed = 4)
  expect_identical(m$covariates, list(batch = c("b1", "b2", "b3", "query"),
                                      donor = c("d1", "d2", "query")))
  # with the query inside x (NA labels) the covariates cover every cell of x
  x <- cbind(cv$sim$reference$counts, cv$sim$query$counts)
  labels <- c(cv$sim$reference$metadata$cell_type, rep(NA, ncol(cv$sim$query$counts)))
  m <- train_quiet(x, labels = labels, domain = rbind(cv$ref, cv$query[names(cv$ref)]),
                   seed = 4)
  expect_identical(m$covariates$batch, c("b1", "b2", "b3", "b4"))
  # one covariate given by a column name is named after it; a vector is "domain"
  m <- train_quiet(cv$sim$reference$counts, labels = cv$sim$reference$metadata$cell_type,
                   target = cv$sim$query$counts, domain = cv$ref$batch, seed = 4)
  expect_named(m$covariates, "domain")
  expect_identical(m$domains, c("b1", "b2", "b3", "query"))
  expect_identical(m$domain_weights, c(domain = 1))
})

test_that("covariates are metadata column names of a SingleCellExperiment or Seurat object", {
  skip_if_no_sce()
  sim <- scnym_simulate(n_reference = 200, n_query = 160, n_genes = 150, n_types = 4, seed = 3)
  ref <- sim$reference
  qry <- sim$query
  ref$batch <- rep(c("b1", "b2"), length.out = ncol(ref))
  ref$donor <- rep(c("d1", "d2", "d3"), length.out = ncol(ref))
  qry$batch <- "b3"
  qry$donor <- rep(c("d1", "d3"), length.out = ncol(qry))
  m <- train_quiet(ref, labels = "cell_type", target = qry, domain = c("donor", "batch"),
                   target_domain = c("batch", "donor"), domain_weight = c(1, 0.25), seed = 5)
  expect_identical(m$covariates, list(donor = c("d1", "d2", "d3"), batch = c("b1", "b2", "b3")))
  expect_identical(m$domain_weights, c(donor = 1, batch = 0.25))
  # a Bioconductor DataFrame of covariates (row names: the cells, here in another order)
  covs <- SummarizedExperiment::colData(ref)[rev(seq_len(ncol(ref))), c("donor", "batch")]
  m_df <- train_quiet(ref, labels = "cell_type", target = qry, domain = covs,
                      target_domain = c("batch", "donor"), domain_weight = c(1, 0.25), seed = 5)
  expect_identical(m_df$covariates, m$covariates)
  expect_identical(m_df$history$loss, m$history$loss)
  # scnym_annotate() passes them on
  out <- scnym_annotate(qry, ref, labels = "cell_type", domain = c("batch", "donor"),
                        reference_domain = c("batch", "donor"), domain_weight = c(2, 1),
                        config = quick_config(), seed = 5, threads = 1, verbose = FALSE)
  rec <- S4Vectors::metadata(out)$scnym_annotate$scNym$model
  expect_identical(rec$domain_weights, c(batch = 2, donor = 1))
  skip_if_no_seurat()
  counts <- SingleCellExperiment::counts(ref)
  seu <- SeuratObject::CreateSeuratObject(counts, meta.data = as.data.frame(
    SummarizedExperiment::colData(ref)))
  ms <- train_quiet(seu, labels = "cell_type", domain = c("donor", "batch"), seed = 5)
  expect_identical(ms$covariates, list(donor = c("d1", "d2", "d3"), batch = c("b1", "b2")))
})

test_that("bad covariates are refused with classed errors", {
  cv <- sim_covariates()
  x <- cv$sim$reference$counts
  labels <- cv$sim$reference$metadata$cell_type
  q <- cv$sim$query$counts
  # different covariates on the two sides
  expect_scnym_error(train_quiet(x, labels = labels, target = q, domain = cv$ref,
                                 target_domain = cv$query["donor"]), "invalid_argument")
  expect_snapshot(train_quiet(x, labels = labels, target = q, domain = cv$ref,
                              target_domain = data.frame(donor = cv$query$donor, tech = "t")),
                  error = TRUE, cnd_class = TRUE)
  # an NA in one covariate
  bad <- cv$ref
  bad$donor[c(3, 9)] <- NA
  expect_scnym_error(train_quiet(x, labels = labels, target = q, domain = bad), "invalid_data")
  expect_snapshot(train_quiet(x, labels = labels, target = q, domain = bad), error = TRUE,
                  cnd_class = TRUE)
  # wrong length
  expect_scnym_error(train_quiet(x, labels = labels, target = q, domain = cv$ref[-1, ]),
                     "invalid_argument")
  # a data.frame whose row names are not the cells
  named <- cv$ref
  rownames(named) <- paste0("cell", seq_len(nrow(named)))
  expect_scnym_error(train_quiet(x, labels = labels, target = q, domain = named),
                     "invalid_argument")
  # unnamed or duplicated covariates
  expect_scnym_error(train_quiet(x, labels = labels, target = q, domain = unname(as.list(cv$ref))),
                     "invalid_argument")
  expect_scnym_error(train_quiet(x, labels = labels, target = q,
                                 domain = list(a = cv$ref$batch, a = cv$ref$donor)),
                     "invalid_argument")
  # a covariate with a single level among the training cells
  one <- cv$ref
  one$donor <- "d1"
  one_q <- data.frame(batch = "b4", donor = rep("d1", ncol(q)))
  expect_scnym_error(train_quiet(x, labels = labels, target = q, domain = one,
                                 target_domain = one_q), "invalid_data")
  expect_snapshot(train_quiet(x, labels = labels, target = q, domain = one,
                              target_domain = one_q), error = TRUE, cnd_class = TRUE)
  # weights: one positive number per covariate, named by covariate when named
  for (w in list(1, c(1, -1), c(1, NA), c(1, Inf), c("1", "2"), c(batch = 1, tech = 1))) {
    expect_scnym_error(train_quiet(x, labels = labels, target = q, domain = cv$ref,
                                   domain_weight = w), "invalid_argument")
  }
  expect_snapshot(train_quiet(x, labels = labels, target = q, domain = cv$ref,
                              domain_weight = 1), error = TRUE, cnd_class = TRUE)
  # a misspelt column among several names
  sce_skip <- !requireNamespace("SingleCellExperiment", quietly = TRUE)
  skip_if(sce_skip)
  sim <- scnym_simulate(n_reference = 100, n_query = 50, n_genes = 100, n_types = 3, seed = 2)
  expect_scnym_error(train_quiet(sim$reference, labels = "cell_type",
                                 domain = c("domain", "donor")), "invalid_argument")
})
