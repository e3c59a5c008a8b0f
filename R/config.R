# Training configuration. Preset values and the parameters' schema live in one place, the Rust
# core (`scnym_core::config`); R starts from a preset, checks overrides against the schema with
# messages that name the parameter and its allowed range, and lets the core re-validate.

# What each parameter may be (kind, range, choices, description), read once from the core,
# which owns the schema (`scnym_core::config::SCHEMA`) and checks the same ranges again. A named
# list of lists with `type`, `min`, `max` (Inf when unbounded), `min_open`, `max_open`,
# `choices`, `doc`.
config_spec <- function() {
  if (is.null(config_cache$spec)) {
    schema <- jsonlite::fromJSON(rust_result(rs_config_schema()), simplifyVector = FALSE)
    config_cache$spec <- stats::setNames(lapply(schema, function(p) {
      list(type = p$kind, min = p$min, max = p$max %||% Inf, min_open = p$min_open,
           max_open = p$max_open, choices = unlist(p$choices), doc = p$doc)
    }), vapply(schema, `[[`, "", "name"))
  }
  config_cache$spec
}
config_cache <- new.env(parent = emptyenv())

#' Configure scNym training
#'
#' Starts from a preset of the Rust core and overrides any parameter. Every value is checked, and
#' the configuration is stored in the trained model (seed included), so a run can be repeated
#' with `scnym_train(..., config = model$config)`.
#'
#' Presets (SPEC section 6 of the package):
#' * `"default"` (alias `"new_identity_discovery"`): only target cells predicted with a
#'   confidence of at least 0.9 are pseudolabelled and train the domain adversary
#'   (`pseudolabel_min_confidence = 0.9`, `adv_confident_only = TRUE`), so cells of types absent
#'   from the reference are neither forced onto a known class nor aligned onto it, and stay far from
#'   the reference in the embedding, where [scnym_predict()]'s novelty score finds them. Cells of
#'   rare classes are drawn more often into the labelled mini-batches (`class_balance = 0.5`: a cell
#'   of a class with `n` reference cells is drawn with weight `n^-0.5`). Two networks on every gene
#'   are trained with consecutive seeds (`ensemble_size = 2`) and give the novelty score (their
#'   mean); with more than 2,000 model genes two more read only the reference's 2,000 most variable
#'   genes (`member_variable_genes`, below; with fewer, the second network reads the three quarters
#'   most variable genes, as such a member); the prediction averages the members' probabilities,
#'   each member on the variable genes weighing twice (`variable_gene_weight`, below; a deep
#'   ensemble, with the members' `disagreement` reported); those members mask half of the genes in
#'   augmentation (`variable_gene_mask_prob`, below). On the side-by-side accuracy benchmark
#'   (`bench/accuracy/`, 14 tasks, 3 seeds; `bench/results/accuracy/table.md`) a single network of
#'   this preset matches `"no_new_identity"` in accuracy and macro-F1 over all tasks (0.931 / 0.902
#'   against 0.930 / 0.904) and lets the novelty score separate the cells of two cell lines absent
#'   from the reference (AUROC 0.999 to 1.000, against 0.78 for the confidence under
#'   `"no_new_identity"`); an ensemble of two raised accuracy / macro-F1 to 0.938 / 0.908, most on
#'   the 100-cell references, where one network's seed moves accuracy by up to 0.1, and at least two
#'   steps per epoch (below) to 0.943 / 0.913. On the CPU the members train side by side, one per
#'   thread (`bench/results/accuracy/time_default.txt`).
#' * `"no_new_identity"`: every pseudolabel is used (`pseudolabel_min_confidence = 0`) and the
#'   adversary sees all target cells, as in the paper's benchmarks, with the class balance and
#'   minimum steps above. For a query known to hold only reference types.
#' * `"paper"`: the reference implementation's procedure: `"no_new_identity"` with
#'   `class_balance = 0` and `min_steps_per_epoch = 0` (one shuffled pass over the labelled cells
#'   per epoch) and a single model (`ensemble_size = 1`).
#'
#' `gene_scale_sd` (0 in every preset; this package's addition) augments the labelled cells of
#' every training step with a factor per gene, `exp(gene_scale_sd * z)`, `z ~ N(0, 1)` drawn once
#' per gene and step, applied to the normalised expression before the cells are brought back to
#' their library size, as a technology's or a species' capture differs from gene to gene. The
#' network then cannot lean on one gene's level in the reference. With a query whose genes are
#' shifted that way (`bench/accuracy/gene_shift.R`, a stand-in for another species; five panc8
#' references and Kang, 3 seeds) `gene_scale_sd = 1` raised accuracy / macro-F1 from 0.911 /
#' 0.883 to 0.926 / 0.902 with `max_gene_fraction = 1` (the default's 0.2 alone gives 0.924 /
#' 0.898; SingleR 0.841 / 0.794; the shift there has the form of the
#' augmentation, so this is the case it is made for), and on the unshifted benchmark it was within
#' noise (14 tasks 0.959 / 0.949 against 0.957 / 0.947). The price is the novelty score: cells of
#' two lines absent from the reference were flagged at 94% and 61% (the two CellBench
#' references) instead of 98% and 100% (`bench/results/accuracy/sweep/README.md`). Use it for a
#' query from another species or protocol that holds no new cell type.
#'
#' `adv_class_weights` (0 in every preset) says how far each labelled cell in the domain
#' adversary's loss is weighed toward the target's class mix. At 1 a cell weighs the share of
#' its class among the target cells' latest confident pseudolabels over its share among the
#' step's labelled cells, so that the adversary aligns the target with a reference of the
#' target's own class mix (importance-weighted adversarial training, Combes et al., NeurIPS
#' 2020); at 0 it weighs 1; in between, the mix of the two. (With `ssl_weight = 0` there are no
#' pseudolabels and the cells are unweighted.) Unweighted, the adversary aligns the target with
#' the class-balanced batches, which over-represent rare classes, and can pull target cells of
#' common types toward them: on panc8's 100-cell references alpha and beta cells were called
#' delta. On the accuracy benchmark (14 tasks, 3 seeds) 1 raised accuracy / macro-F1 from 0.957 /
#' 0.947 to 0.959 / 0.949 and cut the tasks more than 0.01 below the best peer from 5 to 3
#' (CEL-seq's 100-cell reference 0.922 -> 0.948), with Kang and the unseen CellBench lines within
#' their targets (method `scnym_adv_class_weights_1` in `bench/results/accuracy/`). It is not
#' the default because it did not generalise beyond those tasks: with the query's two most
#' common types cut to 15% (`bench/accuracy/query_mix.R`, 12 Kang and panc8 tasks) accuracy
#' fell from 0.931 to 0.927 (0.929 at 0.5), and with one type taken out of the Kang reference
#' (`bench/accuracy/leave_one_out.R`) the held-out CD14 monocytes were flagged far less (0.5%
#' and 4% against 19% and 9%): their cells, pseudolabelled as their nearest reference type,
#' raise that type's weight and are aligned onto it. Try 1 for a small reference whose query
#' holds the same types in a similar mix. Models saved before the parameter existed load with 0.
#'
#' `scale_factor` (3,000 in the default; 1e6, counts per million, in `"paper"`) sets the input
#' normalisation, `log(1 + scale_factor * count / total)`. On the accuracy benchmark (14 tasks,
#' 3 seeds) the scale moved accuracy / macro-F1 over all tasks from 0.943 / 0.913 (1e6) to
#' 0.951 / 0.931 (1e4, Seurat's scale) and 0.955 / 0.938 (3,000); at 1,000 accuracy was the same
#' (0.956 / 0.942) but the novelty score lost the unseen CellBench lines (AUROC 0.92 to 0.97,
#' up to 31% of known-line cells flagged), which 3,000 keeps (AUROC >= 0.9997). At a lower
#' scale whether a gene is detected at all counts for less next to how much of it there is
#' (the pseudo-count argument of Ahlmann-Eltze and Huber, Nature Methods 2023). Methods
#' `scnym_scale_factor_*` in `bench/results/accuracy/`. Models saved before the parameter
#' existed read their input at 1e6.
#'
#' `max_gene_fraction` (0.2 in the default; 1 in `"paper"`) caps what one gene adds to the
#' `total` of that normalisation at this share of the cell's total count. A cell whose counts
#' are mostly one gene (an islet hormone, haemoglobin, an immunoglobulin) otherwise has every
#' other gene shrunk by that gene's share, and a reference without such cells reads the shrunken
#' profile as another type: panc8's delta cells hold 80-90% of their counts in SST, and beta
#' cells with 70% in IAPP were called delta. The idea is that of `exclude_highly_expressed` in
#' Scanpy's `normalize_total`, applied per cell. On the accuracy benchmark (3 seeds) 0.2 raised
#' the ten panc8 tasks from 0.956 / 0.947 to 0.960 / 0.952 (accuracy / macro-F1; CEL-seq
#' reference 0.933 to 0.953, Smart-seq2 0.937 to 0.954), kept Kang within noise (0.924 / 0.880
#' and 0.920 / 0.876 before, 0.925 / 0.881 and 0.922 / 0.884 after) and left CellBench's cells,
#' none of which holds 20% of its counts in one gene, as they were; 0.05 (Scanpy's) gained as
#' much on panc8 but cost Kang's erythrocytes and flagged more known CellBench cells. Method
#' `scnym_max_gene_fraction_1` in `bench/results/accuracy/` is the former default. Models saved
#' before the parameter existed read their input with 1. `scale_factor / max_gene_fraction` may
#' not exceed 1e6, so that no normalised value exceeds `log(1 + 1e6)`: counts per million take
#' `max_gene_fraction = 1`.
#'
#' `n_variable_genes` (0, every gene, in every preset) keeps only the reference's most variable
#' genes, ranked by the log of variance over mean of the normalised values, z-scored within 20
#' bins of the mean (the binned dispersion of Satija et al. 2015), in the labelled reference
#' cells, among the genes shared with the target; counts are still normalised by each cell's
#' total over all its genes. On the accuracy benchmark (method `scnym_n_variable_genes_2000`,
#' 3 seeds) 2,000 of Kang's 14,053 genes raised accuracy / macro-F1 from 0.901 / 0.831 to
#' 0.920 / 0.889 (ctrl -> stim) and from 0.911 / 0.812 to 0.916 / 0.899 (stim -> ctrl), the
#' recall of the rare pDC from 0.64 to 0.85 and of Mk from 0.18 to 0.48 (ctrl -> stim), and
#' training was 5 times as fast; but on CellBench (28,455 genes) the cells of the two lines
#' absent from the reference lay closer to the known ones, and the novelty score's AUROC fell
#' from 1.000 to 0.965, with 55% of those cells flagged instead of 98%. Use it when the query is
#' not expected to hold new types. The panc8 tasks (2,000 genes) do not change.
#'
#' `member_variable_genes` (2,000 in the default; 0 in `"paper"`): when the model has more genes
#' than this, `ensemble_size` further members (seeds `seed + ensemble_size`, ...) read only the
#' reference's `member_variable_genes` most variable genes, chosen as for `n_variable_genes`;
#' the members on every gene alone give the novelty score and the embedding. Such a member sees
#' the cell-type markers without the noise of thousands of other genes, which helps rare
#' classes; but cells of a type absent from the reference may differ from it in genes it does
#' not read, so its embedding does not score novelty. With no more model genes than that (the
#' panc8 data have 2,000) the ensemble keeps its `ensemble_size` members and training time, and
#' the last `floor(ensemble_size / 2)` of them (in the default the second) read the three
#' quarters most variable genes as such members do, weighing `variable_gene_weight` and masking
#' `variable_gene_mask_prob` of them: on the ten panc8 tasks of the benchmark (3 seeds) accuracy /
#' macro-F1 rose from 0.960 / 0.952 to 0.964 / 0.958 (most on the 100-cell references), and with
#' the genes of the query shifted as by another species (`bench/accuracy/gene_shift.R` on the five
#' 100-cell references) from 0.805 / 0.754 to 0.853 / 0.832 with 30% of the genes no longer
#' telling the types apart and from 0.939 / 0.924 to 0.953 / 0.947 with every gene scaled by
#' `exp(z)`; the novelty score, then the first network's alone, separated new cell lines a little
#' less at 2,000 genes (CellBench on its 2,000 most variable genes: AUROC 0.938 against 0.957,
#' with the same share flagged; `bench/results/accuracy/sweep/README.md`). With more model genes
#' than `member_variable_genes`, on the accuracy benchmark (3 seeds) the extra members
#' raised Kang's accuracy / macro-F1 from 0.901 / 0.831 to 0.922 / 0.871 (ctrl -> stim) and
#' from 0.911 / 0.812 to 0.924 / 0.869 (stim -> ctrl), and pDC recall from 0.64 to 0.77 (ctrl ->
#' stim), against the default without them (`scnym_member_variable_genes_0`), while CellBench's
#' unseen lines stayed flagged (AUROC >= 0.9997, 97% and 100% of their cells unassigned). With
#' them the default trains Kang and CellBench in 0.93 and 1.05 times the time of scnym 0.1.0's
#' single network on 2 cores (`bench/results/accuracy/time_default.txt`).
#'
#' `variable_gene_weight` (2 in the default; models saved before it existed load with 1): the
#' weight of each member on the variable genes in the ensemble's average of probabilities (and
#' of attributions), against 1 for a member on every gene; 0 leaves the every-gene members
#' alone. It changes only how the members are combined, not how they are trained. On the
#' accuracy benchmark (3 seeds, one host, `bench/results/accuracy/table.md`) 2 against 1
#' (`scnym_variable_gene_weight_1`) raised Kang's macro-F1 from 0.874 to 0.881 (ctrl -> stim)
#' and from 0.866 to 0.887 (stim -> ctrl), and Mk recall from 0.33 to 0.38 and from 0.30 to
#' 0.48, at accuracy 0.921 against 0.923 and 0.925. The variable-gene members alone
#' raised the rare classes further (Mk 0.44 and 0.65) but cost accuracy (0.915 and 0.911).
#' CellBench's unseen lines, scored by the every-gene members, stay flagged.
#'
#' `variable_gene_mask_prob` (0.5 in the default; models saved before it existed load with 0.1): the
#' members on the variable genes mask this share of each labelled cell's genes in augmentation, in
#' place of `mask_prob`, and so learn not to lean on a few genes. They give no novelty score, so
#' this does not change it (`mask_prob = 0.5` for every member flagged only 58% of CellBench's
#' unseen Drop-seq cells); the flags, which also read the confidence, moved little (CellBench 97.2%
#' and 100% of the unseen cells, against 98.4% and 100%). Measured (3 seeds,
#' `bench/results/accuracy/`): with a query whose genes partly no longer tell the types apart (a
#' proxy for another species: Kang with 35 reference cells per type, 30% of the genes shuffled
#' across the query's cells, the others scaled by `exp(0.5 z)`; `gene_shift_permute.txt`) it raised
#' accuracy / macro-F1 from 0.739 / 0.721 to 0.759 / 0.750 (against 0.1); on Kang itself from 0.925
#' / 0.881 to 0.925 / 0.884 (ctrl -> stim) and from 0.922 / 0.884 to 0.925 / 0.888 (stim -> ctrl).
#'
#' `min_steps_per_epoch` (2 in the default; 0 in `"paper"`) makes a small reference repeat its
#' cells within an epoch instead of taking a single optimiser step: a reference of up to two
#' mini-batches (512 cells) takes two steps per epoch; larger ones are unchanged. On the five
#' panc8 tasks with 100-cell references (`bench/results/accuracy/`, 3 seeds) accuracy rose from
#' 0.898 to 0.915 (method `scnym_min_steps_per_epoch_0` is the default without it), and CellBench
#' training (210-240 cells, 20,000 genes) took 91-118 s instead of 56-134 s; the other tasks do
#' not change. With 5 the 100-cell references reached 0.917 but CellBench took 4-5 times as long
#' (`scnym_min_steps_per_epoch_5`).
#'
#' `max_steps_per_epoch` (200 in the default; 0, one pass, in `"paper"`) bounds an epoch of a
#' large reference: above 51,200 labelled cells (200 batches of 256) each epoch trains on 51,200
#' of them, drawn anew every epoch, so that the schedules counted in epochs (the ramps, model
#' selection, early stopping) and the time per epoch stay those of a reference of that size, and
#' training a million cells takes as long as training 51,200 plus the validation passes. Every
#' task of the accuracy benchmark has fewer labelled cells, so none changes. A million-cell
#' reference (2,000 genes) trains in 11 minutes on 2 cores (`bench/results/scale/atlas.txt`).
#'
#' `reference_sample` (0 in every preset) keeps that many labelled reference cells in the model,
#' class-balanced (every cell of the rarer classes, an equal share of the others), so that
#' [scnym_adapt()] can adapt the saved model to a new query without the reference data. The
#' cells' normalised expression (of the model genes) is then part of the model file:
#' share such a file only where the reference data may be shared. 500 cells add about 1 to 5 MB.
#'
#' `unconfident_weight` (0 in every preset; this package's addition) also pulls the target cells
#' below `pseudolabel_min_confidence` toward a uniform prediction: the squared distance of their
#' probabilities to uniform joins the semisupervised loss, with this weight, computed without
#' dropout. With `unconfident_weight = 1`, on the CellBench cell lines 95 to 100% of the cells of
#' two lines absent from training end at confidence <= 0.5, against 21 to 45% without it. The
#' price, when the query holds *no* new type: query cells of known types that start unsure are
#' pulled down too (Kang PBMCs: accuracy 0.89 -> 0.80 and 0.90 -> 0.56 over the two directions,
#' with a third to a half of the cells then at confidence <= 0.5). Use it only
#' when new types are expected, and compare with a run without it. Numbers:
#' `bench/results/trust/cellbench_unseen*` and `bench/results/trust/kang_unconfident_pull`.
#' * `"no_dan"`: no domain adversary (ablation); `"no_ssl"`: neither semisupervision nor adversary,
#'   a supervised model with augmentation (ablation).
#'
#' `pseudolabel_adaptive = TRUE` (off in every preset) replaces the single pseudolabel threshold by
#' per-class thresholds (FlexMatch, Zhang et al. 2021): `pseudolabel_min_confidence` scaled down
#' for classes that few target cells reach with confidence, so that hard or rare classes still
#' get pseudolabels. In exploratory runs on the ten panc8 tasks of the benchmark (3 seeds, the
#' `"paper"` preset with threshold 0.9 and the adversary on confident cells) it gave accuracy
#' 0.918 against 0.912 for the fixed threshold (no threshold: 0.921). Rerun with
#' `bench/accuracy/run_scnym.R --preset paper --set pseudolabel_adaptive=TRUE,...`.
#'
#' `adv_objective` says what the encoder does against the domain adversary. `"reversal"` (the
#' default, the paper's gradient reversal) pushes the adversary's cross-entropy up; a strong
#' adversary can then make the domains *more* separable, each mapped consistently onto another
#' (panc8 with a technology and a simulated donor, `adv_weight = 1`: technology mixing 1.25
#' against 1.41 without an adversary). `"confusion"` trains the heads on the embedding as it is
#' and the encoder to make their domain probabilities uniform (Tzeng et al. 2015); at the same
#' weight the mixing stays at 1.40 and two covariate heads beat one combined factor on both
#' covariates and on accuracy. At the default weight (0.1) the two are within noise of each
#' other, and on the 14 tasks of the accuracy benchmark `"confusion"` scores 0.956 / 0.942
#' (accuracy / macro-F1) against 0.957 / 0.944. Use it with several covariates or a stronger
#' `adv_weight`. Numbers: `bench/results/multidomain/README.md`.
#'
#' Parameters (defaults of the `"default"` preset in brackets): `scale_factor` \[3000\],
#' `max_gene_fraction` \[0.2\],
#' `n_variable_genes` \[0: every gene\], `hidden_width` \[256\],
#' `n_hidden` \[3\], `dropout` \[0.5\], `batch_size` \[256\], `max_epochs` \[100\],
#' `min_steps_per_epoch` \[2\], `max_steps_per_epoch` \[200\], `class_balance` \[0.5\],
#' `ensemble_size` \[2\], `member_variable_genes` \[2000\], `variable_gene_weight` \[2\],
#' `variable_gene_mask_prob` \[0.5\], `reference_sample` \[0\], `lr` \[1\],
#' `rho` \[0.9\], `eps` \[1e-6\], `weight_decay` \[1e-4\], `ssl_weight` \[1\], `ssl_ramp_epochs`
#' \[100\], `ssl_ramp` \["linear"\], `adv_weight` \[0.1\], `adv_ramp_epochs` \[20\],
#' `adv_objective` \["reversal"; or "confusion"\],
#' `pseudolabel_min_confidence` \[0.9\], `pseudolabel_adaptive` \[FALSE\],
#' `adv_confident_only` \[TRUE\], `adv_class_weights` \[0\], `unconfident_weight`
#' \[0\], `sharpen_temperature`
#' \[0.5\], `mixup_alpha` \[0.3\], `mask_prob` \[0.1\], `gene_scale_sd` \[0\],
#' `val_fraction` \[0.1\], `min_epochs` \[20\],
#' `patience` \[40\], `seed` \[NULL: drawn from R's random number generator when training, so
#' [set.seed()] makes a run reproducible\], `threads` \[0: libtorch's default\], `device`
#' \["cpu"; or "cuda", "auto"\].
#'
#' @param preset Name of the preset to start from (see Details).
#' @param ... Parameters to override, as `name = value` (see Details).
#' @return An `scnym_config` object: a named list of every parameter (plus `preset`), with a
#'   `print()` method.
#' @examples
#' scnym_config()
#' cfg <- scnym_config("no_new_identity", max_epochs = 30, threads = 1)
#' cfg$pseudolabel_min_confidence
#' @export
scnym_config <- function(preset = "default", ...) {
  call <- rlang::current_env()
  check_string(preset, call = call)
  presets <- config_presets()
  if (!preset %in% presets) {
    scnym_abort(c("Unknown preset {.val {preset}}.",
                  i = "Use one of {.or {.val {presets}}}."),
                kind = "invalid_argument", call = call)
  }
  base <- jsonlite::fromJSON(rust_result(rs_config_preset(preset)), simplifyVector = TRUE)
  base["seed"] <- list(NULL)
  overrides <- rlang::list2(...)
  config <- apply_config_overrides(base, overrides, call = call)
  new_config(config, call = call)
}

config_presets <- function() {
  rust_result(rs_config_preset_names())
}

# Checks and applies `name = value` overrides to a configuration list.
apply_config_overrides <- function(config, overrides, call = rlang::caller_env()) {
  if (length(overrides) == 0L) {
    return(config)
  }
  nms <- names(overrides)
  if (is.null(nms) || any(!nzchar(nms))) {
    scnym_abort(c("Every parameter in {.arg ...} must be named.",
                  i = "For example {.code scnym_config(max_epochs = 50)}."),
                kind = "invalid_argument", call = call)
  }
  if ("preset" %in% nms) {
    scnym_abort(c("Set the preset with the {.arg preset} argument, not as a parameter.",
                  i = "For example {.code scnym_config(\"no_dan\", max_epochs = 50)}."),
                kind = "invalid_argument", call = call)
  }
  unknown <- setdiff(nms, names(config_spec()))
  if (length(unknown)) {
    close <- vapply(unknown, function(u) {
      d <- utils::adist(u, names(config_spec()))
      if (min(d) <= 3) names(config_spec())[which.min(d)] else NA_character_
    }, character(1))
    close <- unique(stats::na.omit(close))
    scnym_abort(c("Unknown parameter{?s} {.val {unknown}}.",
                  i = if (length(close)) "Did you mean {.val {close}}?",
                  i = "See {.help scnym::scnym_config} for every parameter."),
                kind = "invalid_argument", call = call)
  }
  for (name in nms) {
    config[name] <- list(check_config_value(name, overrides[[name]], call))
  }
  config
}

# One parameter's value, checked against `config_spec`; returns it in its canonical type.
check_config_value <- function(name, value, call) {
  spec <- config_spec()[[name]]
  checked <- switch(spec$type,
    seed = if (is.null(value)) list(NULL) else config_whole(value, spec),
    count = config_whole(value, spec),
    number = config_number(value, spec),
    flag = if (is.logical(value) && length(value) == 1L && !is.na(value)) list(value),
    choice = if (is.character(value) && length(value) == 1L && value %in% spec$choices) list(value)
  )
  if (is.null(checked)) {
    want <- switch(spec$type,
      seed = paste("NULL or a whole number in", config_range(spec)),
      count = paste("a whole number in", config_range(spec)),
      number = paste("a number in", config_range(spec)),
      flag = "TRUE or FALSE",
      choice = paste("one of", paste0("\"", spec$choices, "\"", collapse = ", "))
    )
    scnym_abort(c(paste0("Parameter {.arg {name}} ({spec$doc}) must be ", want, "."),
                  x = "Got {.val {format_value(value)}}."),
                kind = "invalid_argument", call = call)
  }
  checked[[1]]
}

# The allowed range of a numeric parameter, as "[lo, hi)".
config_range <- function(spec) {
  num <- function(v) format(v, scientific = FALSE, big.mark = "")
  paste0(if (isTRUE(spec$min_open)) "(" else "[", num(spec$min), ", ",
         if (is.finite(spec$max)) num(spec$max) else "Inf",
         if (isTRUE(spec$max_open) || !is.finite(spec$max)) ")" else "]")
}

config_in_range <- function(v, spec) {
  (if (isTRUE(spec$min_open)) v > spec$min else v >= spec$min) &&
    (if (isTRUE(spec$max_open)) v < spec$max else v <= spec$max)
}

# list(value) when `value` is a whole number in range, else NULL.
config_whole <- function(value, spec) {
  ok <- is.numeric(value) && length(value) == 1L && !is.na(value) && value == round(value) &&
    config_in_range(value, spec)
  if (ok) list(as.integer(value))
}

# list(value) when `value` is a finite number in range, else NULL.
config_number <- function(value, spec) {
  ok <- is.numeric(value) && length(value) == 1L && is.finite(value) &&
    config_in_range(value, spec)
  if (ok) list(as.double(value))
}

# Builds the config object after the core has validated it.
new_config <- function(config, call = rlang::caller_env()) {
  config <- config[c("preset", intersect(names(config_spec()), names(config)))]
  rust_result(rs_config_validate(config_json(config, seed = 0L)), call = call)
  structure(config, class = "scnym_config")
}

# The configuration as the JSON the core reads; `seed` fills in a seed left NULL.
config_json <- function(config, seed = NULL) {
  config <- unclass(config)
  if (is.null(config$seed)) {
    config$seed <- seed
  }
  for (name in names(config)) {
    spec <- config_spec()[[name]]
    if (!is.null(spec) && spec$type %in% c("count", "seed") && !is.null(config[[name]])) {
      config[[name]] <- as.integer(config[[name]])
    }
  }
  as.character(jsonlite::toJSON(config, auto_unbox = TRUE, digits = NA, null = "null"))
}

# A configuration object from the parsed configuration stored in a model.
config_object <- function(config) {
  structure(config[c("preset", intersect(names(config_spec()), names(config)))],
            class = "scnym_config")
}

# `config` argument of the training functions: an scnym_config or a preset name.
as_config <- function(config, call = rlang::caller_env()) {
  if (inherits(config, "scnym_config")) {
    return(config)
  }
  if (is.character(config) && length(config) == 1L && !is.na(config)) {
    presets <- config_presets()
    if (!config %in% presets) {
      scnym_abort(c("Unknown preset {.val {config}} in {.arg config}.",
                    i = "Use one of {.or {.val {presets}}}, or an object from {.fn scnym_config}."),
                  kind = "invalid_argument", call = call)
    }
    return(scnym_config(config))
  }
  scnym_abort(c("{.arg config} must be an {.cls scnym_config} or a preset name.",
                x = "Got {.obj_type_friendly {config}}.",
                i = "Build one with {.code scnym_config(\"default\", ...)}."),
              kind = "invalid_argument", call = call)
}

#' @method print scnym_config
#' @export
print.scnym_config <- function(x, ...) {
  f <- function(v) format(v, digits = 3)
  seed <- if (is.null(x$seed)) "drawn from R's RNG when training" else x$seed
  threads <- if (identical(as.integer(x$threads), 0L)) "libtorch default" else x$threads
  lines <- c(
    sprintf("<scnym_config> preset \"%s\"", x$preset),
    sprintf("  input: log(1 + %s * count / total count of the cell)%s",
            format(x$scale_factor %||% 1e6, scientific = FALSE, big.mark = ","),
            if ((x$max_gene_fraction %||% 1) < 1) {
              sprintf(", a gene counting up to %s%% of it", f(100 * x$max_gene_fraction))
            } else {
              ""
            }),
    if (isTRUE((x$n_variable_genes %||% 0L) > 0)) {
      sprintf("  genes: the %s most variable of the reference", format(x$n_variable_genes,
                                                                     big.mark = ","))
    } else {
      "  genes: every gene shared by reference and target"
    },
    sprintf("  network: %d hidden layers of %d, dropout %s", x$n_hidden, x$hidden_width,
            f(x$dropout)),
    sprintf("  training: up to %d epochs (selection from epoch %d, patience %d), batch %d",
            x$max_epochs, x$min_epochs, x$patience, x$batch_size),
    sprintf("  labelled batches: class balance %s%s%s", f(x$class_balance %||% 0),
            if (isTRUE((x$min_steps_per_epoch %||% 0L) > 0)) {
              sprintf(", at least %d steps per epoch", x$min_steps_per_epoch)
            } else {
              ", one pass per epoch"
            },
            if (isTRUE((x$max_steps_per_epoch %||% 0L) > 0)) {
              sprintf(", at most %d", x$max_steps_per_epoch)
            }),
    sprintf("  optimiser: Adadelta lr %s, rho %s, eps %s, weight decay %s", f(x$lr), f(x$rho),
            f(x$eps), f(x$weight_decay)),
    sprintf("  semisupervision: weight %s (%s ramp over %d epochs), sharpening T = %s",
            f(x$ssl_weight), x$ssl_ramp, x$ssl_ramp_epochs, f(x$sharpen_temperature)),
    sprintf("  pseudolabels: used at confidence >= %s%s%s; MixUp alpha %s",
            f(x$pseudolabel_min_confidence),
            if (isTRUE(x$pseudolabel_adaptive)) " (per class, FlexMatch)" else "",
            if (isTRUE(x$unconfident_weight > 0)) {
              sprintf(", cells below pulled toward uniform (weight %s)", f(x$unconfident_weight))
            } else {
              ""
            },
            f(x$mixup_alpha)),
    sprintf("  domain adversary: weight %s (ramp over %d epochs%s), confident cells only: %s",
            f(x$adv_weight), x$adv_ramp_epochs,
            if (identical(x$adv_objective, "confusion")) ", confusion loss" else "",
            x$adv_confident_only),
    sprintf("  the adversary's labelled cells: %s",
            if (isTRUE((x$adv_class_weights %||% 0) > 0)) {
              sprintf("weighed toward the target's class mix (strength %s)",
                      f(x$adv_class_weights))
            } else {
              "as drawn"
            }),
    sprintf("  augmentation: mask %s%% of genes; validation: %s%% of labelled cells",
            f(100 * x$mask_prob), f(100 * x$val_fraction)),
    if ((x$ensemble_size %||% 1L) > 1L) {
      sprintf("  ensemble: %d models (seeds seed, seed + 1, ...), probabilities averaged",
              x$ensemble_size)
    },
    if (isTRUE((x$member_variable_genes %||% 0L) > 0L)) {
      k <- x$ensemble_size %||% 1L
      # the ensemble of data of no more genes than that (ensemble_members(), R/train.R)
      small <- ensemble_members(x, x$member_variable_genes)
      n_small <- small$k - small$every
      fewer <- if (n_small > 0L) {
        sprintf(";\n    else %d of the %d read%s three quarters of its genes", n_small, k,
                if (n_small > 1L) "" else "s")
      }
      sprintf(paste0("  %d more model%s on the reference's %s most variable genes (if it has ",
                     "more%s):\n    weight %s each, masking %s%% of genes in augmentation"),
              k, if (k > 1L) "s" else "", format(x$member_variable_genes, big.mark = ","),
              fewer %||% "", f(x$variable_gene_weight %||% 1),
              f(100 * (x$variable_gene_mask_prob %||% 0.1)))
    },
    if ((x$reference_sample %||% 0L) > 0L) {
      sprintf("  reference sample: %d labelled cells kept for scnym_adapt()", x$reference_sample)
    },
    sprintf("  seed: %s; threads: %s; device: %s", seed, threads, x$device)
  )
  cat(lines, sep = "\n")
  invisible(x)
}
