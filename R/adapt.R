#' Adapt a saved model to a new query
#'
#' Adapts a trained model to new query cells without the reference data: training starts from
#' the model's weights and runs a few epochs of scNym's semisupervised and adversarial training,
#' with the compact sample of labelled reference cells stored in the model as the labelled data
#' and the query as the target. For a user who trains once on a large reference and annotates
#' many samples, this replaces a full [scnym_train()] per query.
#'
#' **The stored sample.** Only models trained with `scnym_config(reference_sample = n)` (`n > 0`)
#' can be adapted: training then keeps `n` labelled reference cells in the model, class-balanced
#' (every cell of the rarer classes and an equal share of the others), with their normalised
#' expression (log-normalised, of the model genes). The model file therefore holds reference
#' expression data: share it only where the reference may be shared. The adapted model keeps the
#' same sample, so it can be adapted again.
#'
#' **The adaptation** uses the model's configuration with these changes: `epochs` epochs, the
#' semisupervised and adversary weights at their full value from the first epoch (no ramp:
#' the network is already trained), 0.3 times the model's learning rate, and the weights of the
#' last epoch kept. The sample's cells that the model held out for validation stay held out:
#' they fit the temperature and the novelty scale again. The sample's cells form the domain
#' `"reference"` and the query's cells the domain `"query"` (or those given by `target_domain`).
#' Ensembles adapt every member, each from its own weights. Pass the same `seed` to repeat a run.
#'
#' On the Kang and panc8 leave-one-technology-out tasks of the accuracy benchmark (3 seeds,
#' `reference_sample = 1000`), adapting a model trained on the reference alone was 5.2 to 10.5
#' times faster than training with the query from scratch, at an accuracy 0.002 lower on average
#' (between 0.010 lower and 0.010 higher per task; `bench/adapt/run.R`,
#' `bench/results/adapt/table.md`). 0 to 1.3% of the query cells are unassigned
#' (`pruned_label` `NA`) after adaptation, against 0 to 1.7% after training from scratch.
#'
#' @param model An `scnym_model` trained with `scnym_config(reference_sample = n)`, `n > 0`.
#' @param x Query cells, as for [scnym_predict()]: a Seurat object, a SingleCellExperiment (or
#'   SummarizedExperiment), or a genes x cells matrix. Model genes missing from `x` are zero.
#' @param ... Unused; must be empty.
#' @param target_domain Domain of each query cell: a metadata column name or a vector (default:
#'   all cells in the domain `"query"`).
#' @param epochs Number of adaptation epochs.
#' @param seed Random seed (a whole number), or `NULL` to draw one from R's RNG.
#' @param threads Number of libtorch threads, or `NULL` for the model's setting.
#' @param verbose Show progress.
#' @param assay,layer,assay_type,input How to read `x`, as in [scnym_predict()].
#' @return An `scnym_model` (see [scnym_train()]) whose `history` holds the adaptation's epochs
#'   and whose `training` has `adapted = TRUE`, `n_labelled` (the sample's cells), `n_target`
#'   and `seconds`.
#' @seealso [scnym_config()] (`reference_sample`), [scnym_train()], [scnym_annotate()].
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, output = "matrix")
#' model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
#'                      config = scnym_config(max_epochs = 8, min_epochs = 1,
#'                                            reference_sample = 100, ensemble_size = 1),
#'                      seed = 1, threads = 1, verbose = FALSE)
#' adapted <- scnym_adapt(model, sim$query$counts, epochs = 3, seed = 1, threads = 1,
#'                        verbose = FALSE)
#' pred <- scnym_predict(adapted, sim$query$counts)
#' mean(pred$label == sim$query$metadata$cell_type)
#' @export
scnym_adapt <- function(model, x, ..., target_domain = NULL, epochs = 10L, seed = NULL,
                        threads = NULL, verbose = TRUE, assay = NULL, layer = NULL,
                        assay_type = NULL, input = c("auto", "counts", "lognorm")) {
  rlang::check_dots_empty()
  call <- rlang::current_env()
  started <- Sys.time()
  handle <- model_handle(model, call = call)
  if ((model$reference_sample %||% 0L) == 0L) {
    scnym_abort(c("{.arg model} holds no reference sample, so it cannot be adapted.",
                  i = paste("Train it with {.code config = scnym_config(reference_sample = 500)}",
                            "(the cells kept for adaptation), or train a new model with the query",
                            "as {.arg target}.")),
                kind = "invalid_argument", call = call)
  }
  input <- arg_choice(input, c("auto", "counts", "lognorm"), arg = "input", call = call)
  check_whole(epochs, min = 1, max = 1e6, call = call)
  check_whole(seed, min = 0, max = .Machine$integer.max, call = call, allow_null = TRUE)
  check_threads(threads, call = call)
  check_flag(verbose, call = call)
  query <- prepare_query(model, x, assay = assay, layer = layer, assay_type = assay_type,
                         input = input, arg = "x", call = call)
  tdom <- cell_values(target_domain, query$data, "target_domain", "x", call = call)
  if (is.null(tdom)) tdom <- rep("query", length(query$cells))
  if (anyNA(tdom) || "reference" %in% tdom) {
    scnym_abort(c(paste("{.arg target_domain} must name a domain for every cell, other than",
                        "{.val reference}."),
                  i = "The stored reference cells form the domain {.val reference}."),
                kind = "invalid_data", call = call)
  }
  domains <- c("reference", unique(tdom))
  config <- adaptation_config(model$config, epochs, seed, threads)
  if (verbose) {
    cli::cli_inform(c(i = sprintf(paste("Adapting the model to %d query cells with %d stored",
                                        "reference cells, %d epochs; seed %d."),
                                  length(query$cells), model$reference_sample, epochs,
                                  config$seed)))
  }
  codes <- match(tdom, domains) - 1L
  core <- core_input(query$data, NULL, model$genes)
  new_trainer <- function(member, i) {
    rs_trainer_adapt(handle, i - 1L, config_json(member), core, codes, domains)
  }
  trained <- with_interrupt_class(train_members(new_trainer, config, model$ensemble_size,
                                                 verbose, call), call = call)
  seconds <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  training <- list(n_labelled = model$reference_sample, n_target = length(query$cells),
                   seconds = seconds, adapted = TRUE)
  adapted <- new_scnym_model(trained$model$bytes, trained$model$meta,
                             handle = trained$model$handle, training = training)
  if (verbose) {
    cli::cli_inform(c(v = sprintf("Adapted in %s; temperature %.2f.", format_seconds(seconds),
                                  adapted$temperature)))
  }
  adapted
}

# The learning rate of an adaptation relative to the model's: the network is already trained.
# On Kang ctrl -> stim (1,000 stored cells, 10 epochs, 3 seeds) accuracy 0.890 against 0.885
# at the model's rate.
adaptation_lr <- 0.3

# The configuration of an adaptation: the model's, run for `epochs` epochs at the full
# semisupervised and adversary weights and a lower learning rate, keeping the last epoch's
# weights.
adaptation_config <- function(config, epochs, seed, threads) {
  config$lr <- config$lr * adaptation_lr
  config$max_epochs <- as.integer(epochs)
  config$min_epochs <- as.integer(epochs)
  config$patience <- as.integer(epochs)
  config$ssl_ramp_epochs <- 0L
  config$adv_ramp_epochs <- 0L
  if (is.null(seed)) seed <- sample.int(.Machine$integer.max, 1L)
  config$seed <- as.integer(seed)
  if (!is.null(threads)) config$threads <- as.integer(threads)
  config
}
