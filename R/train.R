#' Train an scNym model
#'
#' Trains the scNym classifier (Kimmel & Kelley 2021) on labelled reference cells and, when
#' given, unlabelled target (query) cells: MixMatch semisupervision on the target cells'
#' pseudolabels plus a domain adversary that makes the embedding domain-invariant. Without target
#' cells it trains a supervised model (with augmentation).
#'
#' **Target cells** are either a second object (`target`) or the cells of `x` whose label is `NA`
#' (when `target = NULL`). With a separate `target`, cells of `x` without a label are left out.
#' The model's genes are the genes of `x` that `target` also has (with `n_variable_genes` in
#' [scnym_config()], the most variable of them in the labelled cells of `x`).
#'
#' **Domains** (batches, conditions, technologies) are given per cell with `domain` (for `x`)
#' and `target_domain` (for `target`); by default the labelled cells form the domain
#' `"reference"` and the target cells the domain `"query"`. Several training and target domains
#' are allowed; every domain gets its own code for the adversary.
#'
#' **Several nuisance covariates** (e.g. donor and technology) are removed together when
#' `domain` names several metadata columns (`domain = c("donor", "tech")`) or is a data.frame
#' (or list) with one column per covariate. Each covariate gets its own adversary head, and the
#' adversarial loss is the sum over covariates of `domain_weight` times the head's
#' cross-entropy, all behind one gradient reversal of weight `adv_weight`. `target_domain` must
#' then name the same covariates (in any order); when it is `NULL` the target cells are the level
#' `"query"` of every covariate. A covariate with a single level among the training cells is an
#' error (the adversary cannot remove it; drop it). This differs from one combined factor
#' (`interaction(donor, tech)`): a combined factor asks the embedding to hide every
#' donor-technology pair from one head, whereas separate heads ask it to hide each covariate, with
#' its own weight. With one covariate, training is as before.
#'
#' **Input values** (`input = "auto"`): values that are all whole numbers are raw counts and are
#' normalised to `log(1 + scale_factor * count / total)` over all genes of a cell
#' (`scale_factor` of [scnym_config()]: 3,000 by default; 1e6, counts per million, in the
#' `"paper"` preset; in the total each gene counts up to `max_gene_fraction` of it, 0.2 by
#' default); other non-negative values no
#' larger than `log(1 + 1e6)` are log-normalised expression on any such scale (e.g. Seurat's
#' `data` layer), taken back to pseudo-counts and normalised the same way; non-integer
#' values above `log(1 + 1e6)` are non-integer counts (e.g. corrected CEL-seq counts; a message
#' says so, `input = "counts"` silences it); negative and NA/NaN/Inf values are refused.
#' `input = "counts"` warns when the values look log-normalised (non-integer and all at most
#' `log(1 + 1e6)`).
#'
#' **Labels** must not be empty strings (`""`; use `NA` for unlabelled cells); numeric or
#' logical labels become class names (`"1"`, `"TRUE"`), with a message. Training warns when
#' `target` shares fewer than half of the genes of `x`.
#'
#' **Progress and interruption.** With `verbose = TRUE` a progress bar shows per epoch the loss,
#' its supervised, semisupervised and adversarial parts, the two loss weights, the validation
#' accuracy and an ETA. Ctrl-C (or Esc) stops training at once with an error of class
#' `scnym_error_interrupted`; R stays usable.
#'
#' **Reproducibility.** `seed` fixes every random choice of training; when `NULL` it is drawn
#' from R's random number generator, so `set.seed()` before `scnym_train()` reproduces a run
#' (same machine, same thread count). The seed is stored in `model$config$seed`.
#'
#' @param x Reference cells: a Seurat object, a SingleCellExperiment (or SummarizedExperiment),
#'   or a genes x cells matrix (dense `matrix`, `dgCMatrix` or `DelayedMatrix`) with gene names
#'   as row names.
#' @param ... Arguments passed on to the methods, or (in methods) on to the default method.
#' @param labels Cell-type labels of `x`: the name of a cell metadata column (Seurat
#'   `meta.data`, `colData`), or a vector (character or factor) with one value per cell. `NA`
#'   marks unlabelled cells.
#' @param target Optional target (query) cells, of any type `x` may be; `NULL` uses the cells of
#'   `x` with `NA` labels (if any).
#' @param domain Domain of each cell of `x`: a metadata column name or a vector (one covariate);
#'   or, for several nuisance covariates, a character vector of metadata column names or a
#'   data.frame (also a Bioconductor `DataFrame`) or named list with one column per covariate
#'   (one value per cell; a data.frame's
#'   row names, when set, are matched to the cell names). `NULL`: `"reference"` for labelled and
#'   `"query"` for unlabelled cells.
#' @param target_domain Domain of each cell of `target`, given as `domain` is (columns of
#'   `target`), with the same covariates as `domain`; `NULL`: `"query"` in every covariate.
#' @param domain_weight Weight of each covariate's adversary head, a factor on the configuration's
#'   `adv_weight`: positive numbers, one per covariate (named by covariate, or in the order of
#'   `domain`); `NULL` gives every covariate weight 1.
#' @param config An [scnym_config()] object or a preset name.
#' @param seed Random seed (a whole number), or `NULL` to draw one from R's RNG.
#' @param threads Number of libtorch threads, or `NULL` for the configuration's setting. On a
#'   busy machine `threads = 1` is often fastest.
#' @param device `"cpu"`, `"cuda"` or `"auto"`, or `NULL` for the configuration's setting.
#' @param verbose Show progress and a summary.
#' @param input How to read expression values: `"auto"`, `"counts"` or `"lognorm"` (see Details).
#' @param assay,layer For Seurat objects: the assay (default: the default assay) and the layer
#'   (`"counts"` or `"data"`; the `slot` on SeuratObject v4); default `"counts"` when it holds
#'   data. Also used for a Seurat `target`.
#' @param assay_type For SingleCellExperiment/SummarizedExperiment objects: the assay (name or
#'   index); default `"counts"`, else `"logcounts"`. Also used for such a `target`.
#' @return An `scnym_model`: a list with `bytes` (the model file as a raw vector), `config`
#'   (the [scnym_config()], with the seed used), `genes`, `classes`, `domains` (the levels of the
#'   one covariate; with several, `"covariate:level"`), `covariates` (a named list: per covariate
#'   its levels), `domain_weights` (named: per covariate its weight), `class_counts`
#'   (labelled training cells per class), `history` (a data.frame, one row per epoch: `epoch`,
#'   `loss`, `loss_sup`, `loss_ssl`, `loss_adv` (summed over the covariates' heads, each times its
#'   weight), `ssl_weight`, `adv_weight`, `val_loss`,
#'   `val_accuracy`, `is_best`, `seconds`), `best_epoch`, `temperature` (fitted on the held-out
#'   cells), `versions`, `format_version` (of the model file; files of older formats are
#'   upgraded when loaded), `training` (`n_labelled`, `n_target`, `seconds`,
#'   `validation_cells`: names of the held-out labelled cells), `ensemble_size`,
#'   `member_seeds` (for an ensemble of more than one member, the members' seeds; `history`,
#'   `best_epoch`, `temperature` and `validation_cells` are then the first member's),
#'   `member_genes` (how many of the model genes each member reads: with more model genes than
#'   `member_variable_genes`, the default ensemble has two members on every gene and two on
#'   that many most variable genes; with no more, one on every gene and one on the three
#'   quarters most variable genes; see [scnym_config()]) and a private cache. It has
#'   `print()`, [summary()][summary.scnym_model] and [predict()][scnym_predict] methods and
#'   survives [saveRDS()]. Its fields mirror the model file and are read-only: a model whose
#'   fields were edited is refused (`scnym_error_invalid_argument`) by every function that uses
#'   it.
#' @examples
#' sim <- scnym_simulate(n_reference = 200, n_query = 200, output = "matrix")
#' model <- scnym_train(sim$reference$counts, labels = sim$reference$metadata$cell_type,
#'                      target = sim$query$counts,
#'                      config = scnym_config(max_epochs = 8, min_epochs = 1),
#'                      seed = 1, threads = 1, verbose = FALSE)
#' model
#' @export
scnym_train <- function(x, ...) {
  UseMethod("scnym_train")
}

#' @rdname scnym_train
#' @export
scnym_train.default <- function(x, labels, target = NULL, domain = NULL, target_domain = NULL,
                                config = scnym_config(), seed = NULL, threads = NULL,
                                device = NULL, verbose = TRUE,
                                input = c("auto", "counts", "lognorm"), domain_weight = NULL,
                                ...) {
  train_entry(x, labels = if (missing(labels)) NULL else labels, target = target,
              domain = domain, target_domain = target_domain, domain_weight = domain_weight,
              config = config, seed = seed,
              threads = threads, device = device, verbose = verbose, input = input,
              dots = list(...), call = rlang::current_env())
}

#' @rdname scnym_train
#' @export
scnym_train.Seurat <- function(x, labels, target = NULL, ..., assay = NULL, layer = NULL) {
  scnym_train_container(x, if (missing(labels)) NULL else labels, target, ...,
                        extract = list(assay = assay, layer = layer),
                        call = rlang::current_env())
}

#' @rdname scnym_train
#' @export
scnym_train.SummarizedExperiment <- function(x, labels, target = NULL, ..., assay_type = NULL) {
  scnym_train_container(x, if (missing(labels)) NULL else labels, target, ...,
                        extract = list(assay_type = assay_type), call = rlang::current_env())
}

scnym_train_container <- function(x, labels, target, ..., domain = NULL, target_domain = NULL,
                                  config = scnym_config(), seed = NULL, threads = NULL,
                                  device = NULL, verbose = TRUE,
                                  input = c("auto", "counts", "lognorm"), domain_weight = NULL,
                                  extract, call) {
  train_entry(x, labels = labels, target = target, domain = domain,
              target_domain = target_domain, domain_weight = domain_weight, config = config,
              seed = seed, threads = threads,
              device = device, verbose = verbose, input = input, dots = list(...),
              extract = extract, call = call)
}

# Checks the arguments shared by every method, extracts the data and trains.
train_entry <- function(x, labels, target, domain, target_domain, domain_weight, config, seed,
                        threads, device, verbose, input, dots, extract = list(), call) {
  if (length(dots)) {
    scnym_abort(c("Unknown argument{?s} {.arg {names(dots)}}.",
                  i = "Training parameters go in {.code config = scnym_config(...)}."),
                kind = "invalid_argument", call = call)
  }
  input <- arg_choice(input, c("auto", "counts", "lognorm"), arg = "input", call = call)
  check_flag(verbose, call = call)
  check_whole(seed, min = 0, max = .Machine$integer.max, call = call, allow_null = TRUE)
  check_threads(threads, call = call)
  if (!is.null(device)) check_choice(device, c("cpu", "cuda", "auto"), call = call)
  config <- as_config(config, call = call)
  if (is.null(labels)) {
    scnym_abort(c("{.arg labels} is missing.",
                  i = paste("Give the cell types of {.arg x}: a metadata column name or one",
                            "label per cell.")),
                kind = "invalid_argument", call = call)
  }
  ref <- extract_input(x, assay = extract$assay, layer = extract$layer,
                       assay_type = extract$assay_type, arg = "x", call = call)
  tgt <- NULL
  if (!is.null(target)) {
    tgt <- extract_input(target, assay = extract$assay, layer = extract$layer,
                         assay_type = extract$assay_type, arg = "target", call = call)
  }
  plan <- training_plan(ref, tgt, labels, domain, target_domain, call = call,
                        domain_weight = domain_weight)
  ref <- check_values(ref, input, "x", call = call)
  if (!is.null(tgt)) tgt <- check_values(tgt, input, "target", call = call)
  plan <- choose_genes(ref, plan, config, call = call)
  if (is.null(seed)) {
    seed <- if (is.null(config$seed)) sample.int(.Machine$integer.max, 1L) else config$seed
  }
  config$seed <- as.integer(seed)
  if (!is.null(threads)) config$threads <- as.integer(threads)
  if (!is.null(device)) config$device <- device
  train_prepared(ref, tgt, plan, config, verbose = verbose, call = call)
}

# Below this share of the reference's genes in the target, training warns.
min_shared_genes <- 0.5

#' Decide which cells train, their labels, domains and the model genes
#'
#' @return A list: `labelled` (indices into `ref`), `target_ref` (indices of `ref` cells used as
#'   target), `classes`, `label_codes`, `domains` (the covariates, their weights and the cells'
#'   codes: see `plan_domains()`), `genes` (model genes).
#' @noRd
training_plan <- function(ref, tgt, labels, domain, target_domain, call, domain_weight = NULL,
                          names = c(x = "x", labels = "labels", domain = "domain",
                                    target = "target", target_domain = "target_domain")) {
  nm <- as.list(names)
  labels <- cell_values(labels, ref, nm$labels, nm$x, call = call, labels = TRUE)
  empty <- which(!is.na(labels) & !nzchar(trimws(labels)))
  if (length(empty)) {
    scnym_abort(c("{.arg {nm$labels}} has {length(empty)} empty label{?s} ({.val {\"\"}}).",
                  i = paste("Use {.code NA} for unlabelled (target) cells, and a name for every",
                            "cell type.")),
                kind = "invalid_data", call = call)
  }
  labelled <- which(!is.na(labels))
  if (length(labelled) == 0L) {
    scnym_abort(c("{.arg {nm$labels}} has no labelled cells: all {length(labels)} labels are NA.",
                  i = "NA marks target (unlabelled) cells; the reference needs labels."),
                kind = "invalid_data", call = call)
  }
  classes <- sort(unique(labels[labelled]))
  if (length(classes) < 2L) {
    scnym_abort(c(paste("{.arg {nm$labels}} has a single class ({.val {classes}}); a classifier",
                        "needs at least two."),
                  i = "Check the label column, or add reference cells of other types."),
                kind = "invalid_data", call = call)
  }
  unlabelled <- which(is.na(labels))
  target_ref <- if (is.null(tgt)) unlabelled else integer()
  if (!is.null(tgt) && length(unlabelled)) {
    cli::cli_inform(c(i = paste("{length(unlabelled)} cell{?s} of {.arg {nm$x}} without a label",
                                "{?is/are} left out (the target is {.arg {nm$target}}).")))
  }
  if (!is.null(tgt) && length(tgt$cells) == 0L) {
    scnym_abort("{.arg {nm$target}} has no cells.", kind = "invalid_data", call = call)
  }
  if (is.null(tgt) && !is.null(target_domain)) {
    scnym_abort(c("{.arg {nm$target_domain}} is given but {.arg {nm$target}} is not.",
                  i = paste("With target cells inside {.arg {nm$x}} (NA labels), set their",
                            "domains with {.arg {nm$domain}}.")),
                kind = "invalid_argument", call = call)
  }
  domains <- plan_domains(ref, tgt, labels, labelled, target_ref, domain, target_domain,
                          domain_weight, nm, call)
  genes <- ref$genes
  if (!is.null(tgt)) {
    genes <- genes[genes %in% tgt$genes]
    if (length(genes) == 0L) {
      scnym_abort(c("{.arg {nm$x}} and {.arg {nm$target}} share no gene names.",
                    i = paste("{.arg {nm$x}} has {.val {first_few(ref$genes, 3)}};",
                              "{.arg {nm$target}} has {.val {first_few(tgt$genes, 3)}}."),
                    i = "Use the same gene identifiers in both."),
                  kind = "invalid_data", call = call)
    }
    if (length(genes) < min_shared_genes * length(ref$genes)) {
      scnym_warn(c(paste("{.arg {nm$x}} and {.arg {nm$target}} share only {length(genes)} of the",
                         "{length(ref$genes)} genes of {.arg {nm$x}}",
                         "({round(100 * length(genes) / length(ref$genes), 1)}%); the model",
                         "uses those {length(genes)}."),
                   i = paste("Check that both use the same gene identifiers (e.g. symbols vs",
                             "Ensembl IDs) and the same species.")),
                 kind = "few_shared_genes")
    }
  }
  list(labelled = labelled, target_ref = target_ref, classes = classes,
       label_codes = match(labels[labelled], classes) - 1L, domains = domains,
       genes = genes, cells = ref$cells[labelled])
}

# The plan with its model genes: the genes shared by reference and target, or the
# `n_variable_genes` most variable of them in the labelled reference cells (scnym_config()),
# in their order. `ref` is checked; its labelled cells are read once more for the choice.
choose_genes <- function(ref, plan, config, call) {
  labelled <- function() cells_store(ref, plan$labelled, plan$genes, config, call = call)
  keep <- most_variable_genes(config$n_variable_genes, length(plan$genes), config, call,
                              cells = labelled)
  if (!is.null(keep)) plan$genes <- plan$genes[keep]
  plan
}

# The `n` most variable of `n_genes` genes in the labelled cells that `cells()` returns as a
# cell store (1-based indices, ascending; `cells()` is called only when a choice is made);
# NULL when `n` is 0 (or NULL) or there are no more than `n` genes: every gene is kept. The one
# rule behind `n_variable_genes` (the model's genes) and `member_variable_genes` (the genes the
# members on the most variable genes read; see scnym_config()).
most_variable_genes <- function(n, n_genes, config, call, cells) {
  n <- n %||% 0L
  if (n == 0L || n_genes <= n) {
    return(NULL)
  }
  rust_result(rs_variable_genes(cells(), config_json(config, seed = 0L), n), call = call)
}

# The ensemble of a model of `n_genes` genes (see member_variable_genes in scnym_config()): `k`
# members, the first `every` on every gene, the others on the `n_input` most variable genes.
# With more genes than member_variable_genes, `ensemble_size` members of each kind; with no more,
# the ensemble keeps its size (and training time) and its last `floor(ensemble_size / 2)`
# members read three quarters of the genes.
ensemble_members <- function(config, n_genes) {
  size <- config$ensemble_size %||% 1L
  n <- config$member_variable_genes %||% 0L
  if (n > 0L && n_genes > n) {
    return(list(k = 2L * size, every = size, n_input = n))
  }
  few <- as.integer(floor(0.75 * n_genes))
  if (n == 0L || size < 2L || few < 1L) {
    return(list(k = size, every = size, n_input = 0L))
  }
  list(k = size, every = size - size %/% 2L, n_input = few)
}

# Builds the trainer, runs the epoch loop with progress, returns the model.
train_prepared <- function(ref, tgt, plan, config, verbose, call) {
  started <- Sys.time()
  if (identical(config$device, "cuda") && !isTRUE(rust_result(rs_backend_info())$cuda_available)) {
    scnym_warn(c(paste("{.code device = \"cuda\"} was requested, but CUDA is not available:",
                       "training on the CPU."),
                 i = "See {.fn scnym_backend_info}."), kind = "no_cuda")
  }
  train_data <- cells_store(ref, plan$labelled, plan$genes, config, call = call)
  target_data <- NULL
  n_target <- length(plan$target_ref) + if (is.null(tgt)) 0L else length(tgt$cells)
  if (length(plan$target_ref) && !is.null(tgt)) {
    scnym_abort("Internal: target cells from both x and target.", kind = "internal", call = call)
  }
  if (length(plan$target_ref)) {
    target_data <- cells_store(ref, plan$target_ref, plan$genes, config, call = call)
  } else if (!is.null(tgt)) {
    target_data <- cells_store(tgt, NULL, plan$genes, config, call = call)
  }
  if (verbose) {
    cli::cli_inform(c(i = sprintf(paste("Training scNym (\"%s\") on %d labelled and %d target",
                                        "cells, %d genes, %d classes, %s; seed %d."),
                                  config$preset, length(plan$labelled), n_target,
                                  length(plan$genes), length(plan$classes),
                                  domains_text(plan$domains$levels), config$seed)))
  }
  members <- ensemble_members(config, length(plan$genes))
  every <- members$every
  input_genes <- most_variable_genes(members$n_input, length(plan$genes), config, call,
                                     cells = function() train_data)
  new_trainer <- function(member, i) {
    rs_trainer_new(config_json(member), train_data, plan$label_codes, plan$domains$ref_codes,
                   target_data, plan$domains$target_codes, plan$genes, plan$classes,
                   plan$domains$levels, unname(plan$domains$weights),
                   if (i > every) input_genes)
  }
  trained <- train_members(new_trainer, config, members$k, verbose, call)
  rm(train_data, target_data)
  seconds <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  training <- list(n_labelled = length(plan$labelled), n_target = n_target, seconds = seconds,
                   validation_cells = plan$cells[trained$validation])
  model <- new_scnym_model(trained$model$bytes, trained$model$meta,
                           handle = trained$model$handle, training = training)
  if (verbose) {
    cli::cli_inform(c(v = sprintf(paste("Trained %d epochs in %s; best epoch %d (validation",
                                        "accuracy %.3f); temperature %.2f."),
                                  nrow(model$history), format_seconds(seconds), model$best_epoch,
                                  model_best(model)$val_accuracy, model$temperature)))
  }
  model
}

# Trains the `k` members of a model, as many at a time as members_at_once() allows:
# `new_trainer(member_config, i)` returns the core's trainer of member `i`. Returns the finished
# model (an ensemble when k > 1: `bytes`, `meta`, `handle`) and the first member's validation
# rows.
train_members <- function(new_trainer, config, k, verbose, call) {
  together <- members_at_once(config, k)
  members <- vector("list", k)
  for (first in seq(1L, k, by = together)) {
    ids <- seq(first, min(k, first + together - 1L))
    configs <- lapply(ids, member_config, config = config, single_threaded = length(ids) > 1L)
    if (verbose && k > 1L) {
      seeds <- vapply(configs, `[[`, 0, "seed")
      cli::cli_inform(c(i = sprintf("Ensemble member%s %s of %d (seed%s %s).",
                                    if (length(ids) > 1L) "s" else "", paste(ids, collapse = ", "),
                                    k, if (length(ids) > 1L) "s" else "",
                                    paste(seeds, collapse = ", "))))
    }
    handles <- Map(function(member, i) rust_result(new_trainer(member, i), call = call),
                   configs, ids)
    with_interrupt_class(run_epochs(handles, config, verbose, call), call = call)
    if (first == 1L) {
      validation <- rust_result(rs_trainer_validation_cells(handles[[1L]]), call = call)
    }
    members[ids] <- lapply(handles, function(h) rust_result(rs_trainer_finish(h), call = call))
  }
  model <- if (k == 1L) {
    members[[1L]]
  } else {
    rust_result(rs_model_ensemble(lapply(members, `[[`, "bytes")), call = call)
  }
  list(model = model, validation = validation)
}

# How many of `k` ensemble members train at the same time: one per libtorch thread on the CPU
# (each member then runs single-threaded on its own thread), one at a time on a GPU.
members_at_once <- function(config, k) {
  if (k == 1L || !identical(config$device, "cpu")) return(1L)
  min(k, engine_threads(config))
}

# The threads a training runs on: the configuration's, or libtorch's current setting for 0.
engine_threads <- function(config) {
  threads <- config$threads
  if (!isTRUE(threads > 0)) threads <- rust_result(rs_backend_info())$threads
  max(1L, as.integer(threads))
}

# The configuration of ensemble member `i`: seed `seed + i - 1`, single-threaded when members
# train at the same time.
member_config <- function(i, config, single_threaded) {
  config$seed <- (config$seed + i - 1) %% .Machine$integer.max
  if (single_threaded) config$threads <- 1L
  config
}

format_seconds <- function(s) {
  if (s < 60) {
    return(sprintf("%.1f s", s))
  }
  sprintf("%d min %02d s", as.integer(s %/% 60), as.integer(round(s %% 60)))
}

# The epoch loop: one call into Rust per epoch, progress drawn in between. The history is kept
# by the core (in the model's metadata). On a dynamic terminal a progress bar is updated every
# epoch; elsewhere (Rscript logs, knitr) a line is printed every 10 epochs. Members that trained
# single-threaded side by side leave their threads to the last one running (early stopping ends
# them at different epochs); threads do not change a model.
run_epochs <- function(handles, config, verbose, call) {
  alone_threads <- if (length(handles) > 1L) engine_threads(config) else 0L
  status <- "starting" # nolint: object_usage_linter. (shown by the progress bar)
  bar <- verbose && cli::is_dynamic_tty()
  if (bar) {
    pb <- cli::cli_progress_bar(
      name = "scNym", total = config$max_epochs, clear = FALSE,
      format = paste("{cli::pb_name} {cli::pb_current}/{cli::pb_total} {cli::pb_bar}",
                     "ETA {cli::pb_eta} | {status}"),
      format_done = "{cli::pb_name} {cli::pb_current} epochs in {cli::pb_elapsed} | {status}"
    )
  }
  repeat {
    running <- Filter(function(h) !isTRUE(rust_result(rs_trainer_is_finished(h), call = call)),
                      handles)
    if (!length(running)) break
    stats <- if (length(running) == 1L) {
      rust_result(rs_trainer_run_epoch(running[[1L]], alone_threads), call = call)
    } else {
      rust_result(rs_trainers_run_epoch(running), call = call)[[1L]]
    }
    if (bar) {
      status <- epoch_status(stats) # nolint: object_usage_linter.
      cli::cli_progress_update(id = pb, set = stats$epoch)
    } else if (verbose && stats$epoch %% 10 == 0) {
      message(sprintf("epoch %d/%d | %s", stats$epoch, config$max_epochs, epoch_status(stats)))
    }
  }
  if (bar) {
    cli::cli_progress_done(id = pb)
  }
  invisible()
}

epoch_status <- function(s) {
  f <- function(v, d = 3) formatC(v, format = "f", digits = d)
  sprintf("val acc %s | loss %s (sup %s ssl %s adv %s) | w_ssl %s w_adv %s",
          f(s$val_accuracy),
          f(s$loss), f(s$loss_sup), f(s$loss_ssl), f(s$loss_adv), f(s$ssl_weight, 2),
          f(s$adv_weight, 3))
}
