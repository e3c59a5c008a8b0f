test_that("presets come from the Rust core and differ as documented", {
  default <- scnym_config()
  expect_s3_class(default, "scnym_config")
  expect_equal(default$preset, "default")
  # only confident target cells are pseudolabelled and train the adversary (bench/accuracy)
  expect_equal(default$pseudolabel_min_confidence, 0.9)
  expect_true(default$adv_confident_only)
  expect_equal(default$hidden_width, 256L)
  expect_equal(default$max_epochs, 100L)
  expect_null(default$seed)
  nid <- scnym_config("new_identity_discovery")
  expect_equal(nid$pseudolabel_min_confidence, 0.9)
  expect_true(nid$adv_confident_only)
  # the pull toward uniform is opt-in everywhere
  for (p in c("default", "new_identity_discovery", "no_dan", "no_ssl")) {
    expect_equal(scnym_config(p)$unconfident_weight, 0)
  }
  expect_equal(scnym_config("new_identity_discovery", unconfident_weight = 1)$unconfident_weight, 1)
  expect_error(scnym_config("new_identity_discovery", unconfident_weight = -1),
               class = "scnym_error_invalid_argument")
  expect_equal(scnym_config("no_dan")$adv_weight, 0)
  no_ssl <- scnym_config("no_ssl")
  expect_equal(c(no_ssl$ssl_weight, no_ssl$adv_weight), c(0, 0))
  nni <- scnym_config("no_new_identity")
  expect_equal(nni$pseudolabel_min_confidence, 0)
  expect_false(nni$adv_confident_only)
  expect_equal(unclass(nid)[names(nid) != "preset"], unclass(default)[names(default) != "preset"])
  # the package's defaults depart from the paper, whose procedure stays a preset
  expect_equal(c(default$min_steps_per_epoch, default$class_balance), c(2, 0.5))
  expect_false(default$pseudolabel_adaptive)
  paper <- scnym_config("paper")
  expect_equal(c(paper$min_steps_per_epoch, paper$class_balance), c(0, 0))
  expect_equal(c(default$max_steps_per_epoch, paper$max_steps_per_epoch), c(200, 0))
  same <- setdiff(names(default), c("preset", "class_balance", "pseudolabel_min_confidence",
                                    "adv_confident_only", "ensemble_size", "min_steps_per_epoch",
                                    "max_steps_per_epoch", "scale_factor", "max_gene_fraction",
                                    "member_variable_genes"))
  expect_equal(c(default$ensemble_size, paper$ensemble_size), c(2, 1))
  # the adversary's class weights are opt-in everywhere
  for (p in config_presets()) expect_identical(scnym_config(p)$adv_class_weights, 0)
  expect_identical(scnym_config(adv_class_weights = 0.5)$adv_class_weights, 0.5)
  expect_equal(c(paper$pseudolabel_min_confidence, paper$adv_confident_only), c(0, FALSE))
  expect_equal(unclass(paper)[same], unclass(default)[same])
  # the preset values are the core's
  core <- jsonlite::fromJSON(scnym:::rs_config_preset("no_dan"))
  expect_equal(unclass(scnym_config("no_dan"))[names(core)[names(core) != "seed"]],
               core[names(core) != "seed"])
})

test_that("every parameter can be overridden and keeps its type", {
  cfg <- scnym_config("default", max_epochs = 12, dropout = 0.25, ssl_ramp = "sigmoid",
                      adv_confident_only = TRUE, seed = 3, threads = 1, device = "auto")
  expect_identical(cfg$max_epochs, 12L)
  expect_identical(cfg$dropout, 0.25)
  expect_identical(cfg$ssl_ramp, "sigmoid")
  expect_true(cfg$adv_confident_only)
  expect_identical(cfg$seed, 3L)
  expect_identical(cfg$threads, 1L)
  expect_identical(cfg$device, "auto")
  expect_identical(names(cfg), names(scnym_config()))
  expect_null(scnym_config(seed = NULL)$seed)
})

test_that("sampling and threshold parameters are checked", {
  cfg <- scnym_config(class_balance = 1, min_steps_per_epoch = 20, pseudolabel_adaptive = TRUE)
  expect_identical(cfg$class_balance, 1)
  expect_identical(cfg$min_steps_per_epoch, 20L)
  expect_true(cfg$pseudolabel_adaptive)
  expect_error(scnym_config(class_balance = 1.5), class = "scnym_error_invalid_argument")
  expect_error(scnym_config(min_steps_per_epoch = -1), class = "scnym_error_invalid_argument")
  expect_error(scnym_config(min_steps_per_epoch = 2.5), class = "scnym_error_invalid_argument")
  expect_error(scnym_config(pseudolabel_adaptive = NA), class = "scnym_error_invalid_argument")
  expect_snapshot(scnym_config(class_balance = 2), error = TRUE)
})

test_that("the input scale is 3,000 by default, counts per million in the paper preset", {
  expect_identical(scnym_config()$scale_factor, 3000)
  expect_identical(scnym_config("paper")$scale_factor, 1e6)
  expect_identical(scnym_config(scale_factor = 100)$scale_factor, 100)
  expect_error(scnym_config(scale_factor = 0), class = "scnym_error_invalid_argument")
  expect_error(scnym_config(scale_factor = 1e7), class = "scnym_error_invalid_argument")
})

test_that("a gene counts toward a cell's size up to a fifth of its total, in full in the paper", {
  expect_identical(scnym_config()$max_gene_fraction, 0.2)
  expect_identical(scnym_config("paper")$max_gene_fraction, 1)
  expect_identical(scnym_config(max_gene_fraction = 1)$max_gene_fraction, 1)
  expect_error(scnym_config(max_gene_fraction = 0), class = "scnym_error_invalid_argument")
  expect_error(scnym_config(max_gene_fraction = 1.5), class = "scnym_error_invalid_argument")
  # counts per million with a cap would read a one-gene cell above log(1 + 1e6)
  expect_error(scnym_config(scale_factor = 1e6), "max_gene_fraction",
               class = "scnym_error_invalid_argument")
  expect_identical(scnym_config(scale_factor = 1e6, max_gene_fraction = 1)$scale_factor, 1e6)
  paper_input <- grep("input:", utils::capture.output(print(scnym_config("paper"))), value = TRUE)
  expect_identical(trimws(paper_input),
                   "input: log(1 + 1,000,000 * count / total count of the cell)")
})

test_that("configurations cross to the core as valid JSON", {
  cfg <- scnym_config("new_identity_discovery", max_epochs = 7)
  json <- scnym:::config_json(cfg, seed = 42L)
  back <- jsonlite::fromJSON(scnym:::rs_config_validate(json))
  expect_equal(back$seed, 42)
  expect_equal(back$max_epochs, 7)
  expect_equal(back$preset, "new_identity_discovery")
})

test_that("the config prints readably", {
  expect_snapshot(print(scnym_config()))
  expect_snapshot(print(scnym_config("new_identity_discovery", seed = 1, threads = 2)))
  expect_snapshot(print(scnym_config("new_identity_discovery", unconfident_weight = 1)))
})

test_that("a configuration from before unconfident_weight existed still prints", {
  old <- scnym_config("no_new_identity")
  old$unconfident_weight <- NULL
  expect_output(print(old), "pseudolabels: used at confidence >= 0; MixUp")
  old[c("class_balance", "min_steps_per_epoch", "pseudolabel_adaptive", "ensemble_size")] <- NULL
  expect_output(print(old), "class balance 0, one pass per epoch")
  expect_no_match(paste(utils::capture.output(print(old)), collapse = "\n"), "ensemble")
  expect_output(print(scnym_config(min_steps_per_epoch = 5)), "at least 5 steps per epoch")
})

test_that("as_config accepts a preset name or a config", {
  expect_equal(scnym:::as_config("no_dan")$adv_weight, 0)
  cfg <- scnym_config(max_epochs = 3)
  expect_identical(scnym:::as_config(cfg), cfg)
})
