# Runs the testthat suite against the installed package and fails (exit status 1) on any failure.
# Prints the counts: passed, failed, skipped, warnings.
# Usage: Rscript tools/run-tests.R [FILTER]   (FILTER: a regular expression on test file names)
# With SCNYM_EXPECT_SEURATOBJECT=VERSION it also fails unless that SeuratObject version was used
# and the Seurat package was never loaded (the SeuratObject 5 run of `make test-seurat5`).
args <- commandArgs(trailingOnly = TRUE)
filter <- if (length(args)) args[[1]] else NULL
results <- testthat::test_dir("tests/testthat", filter = filter, package = "scnym",
                              load_package = "installed",
                              reporter = testthat::ProgressReporter$new(show_praise = FALSE),
                              stop_on_failure = FALSE)
df <- as.data.frame(results)
counts <- c(tests = nrow(df), expectations = sum(df$nb), failed = sum(df$failed),
            errors = sum(df$error), skipped = sum(df$skipped), warnings = sum(df$warning))
cat("\ntestthat:", paste(names(counts), counts, sep = " = ", collapse = ", "), "\n")
if (counts[["failed"]] > 0 || counts[["errors"]] > 0) quit(status = 1)
expected <- Sys.getenv("SCNYM_EXPECT_SEURATOBJECT")
if (nzchar(expected)) {
  used <- format(utils::packageVersion("SeuratObject"))
  cat("SeuratObject", used, "from", dirname(find.package("SeuratObject")), "; Seurat loaded:",
      "Seurat" %in% loadedNamespaces(), "\n")
  if (used != expected || "Seurat" %in% loadedNamespaces()) quit(status = 1)
}
