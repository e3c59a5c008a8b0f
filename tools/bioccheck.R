# Runs BiocCheck (1.34, Debian's r-bioc-bioccheck) on a source tarball without network, prints
# its summary line and exits with status 1 when it reports an error or a warning.
# Usage, from the package root: Rscript tools/bioccheck.R scnym_<version>.tar.gz [output dir]
# (`make bioccheck` builds the tarball and runs this).
#
# BiocCheck as a new submission (`new-package`: the version must be 0.99.z) with every local
# check. What needs the network, and what is done instead:
# * the Bioconductor version (BiocManager reads https://bioconductor.org/config.yaml; BiocCheck
#   stops without it): BiocManager reads tools/bioccheck/config.yaml instead, the part of that
#   file for Bioconductor 3.16, the release that BiocCheck 1.34 and R 4.2 belong to
#   (BIOCONDUCTOR_CONFIG_FILE is BiocManager's own switch for this);
# * deprecated Bioconductor packages (release and devel VIEWS files): switched off
#   (`no-check-deprecated`);
# * whether the name is taken on CRAN (its PACKAGES file): switched off (`no-check-CRAN`); on
#   Bioconductor (`new-package` reads four VIEWS files and has no switch): replaced by a
#   function that says it was skipped, so the log shows it;
# * the maintainer's bioc-devel subscription and support site account: switched off
#   (`no-check-bioc-help`; the first needs admin credentials anyway);
# * biocViews terms to add, which biocViews::recommendBiocViews() derives from Bioconductor's
#   devel VIEWS (offline BiocCheck swallows its failure and reports nothing): replaced by a
#   function that says it was skipped. The terms themselves are still checked against the
#   vocabulary installed with biocViews.
args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1 || !file.exists(args[[1]])) {
  stop("usage: Rscript tools/bioccheck.R <source tarball> [output dir]", call. = FALSE)
}
tarball <- normalizePath(args[[1]])
out_dir <- if (length(args) > 1) args[[2]] else dirname(tarball)
Sys.setenv(BIOCONDUCTOR_CONFIG_FILE = normalizePath("tools/bioccheck/config.yaml", mustWork = TRUE))

skipped_name_check <- function(pkgName, repo = "BioCsoft") { # nolint: object_name_linter.
  BiocCheck:::handleMessage("Skipped offline (tools/bioccheck.R): is '", pkgName,
                            "' taken in ", repo, "?")
}
utils::assignInNamespace("checkIsPackageNameAlreadyInUse", skipped_name_check, "BiocCheck")
skipped_views <- function(...) { # BiocCheck calls it under suppressMessages(): cat, not message
  cat("      Skipped offline (tools/bioccheck.R): biocViews to recommend.\n", file = stderr())
  NULL
}
imports <- parent.env(asNamespace("BiocCheck")) # BiocCheck imports biocViews whole
unlockBinding("recommendBiocViews", imports)
assign("recommendBiocViews", skipped_views, envir = imports)

res <- BiocCheck::BiocCheck(tarball, checkDir = out_dir, `new-package` = TRUE,
                            `no-check-deprecated` = TRUE, `no-check-CRAN` = TRUE,
                            `no-check-bioc-help` = TRUE)
n <- vapply(c("error", "warning", "note"), res$getNum, numeric(1))
cat(sprintf("bioccheck: %d ERRORS | %d WARNINGS | %d NOTES (log: %s)\n", n[["error"]],
            n[["warning"]], n[["note"]], file.path(out_dir, "scnym.BiocCheck", "00BiocCheck.log")))
quit(status = as.integer(n[["error"]] + n[["warning"]] > 0))
