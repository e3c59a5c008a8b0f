# Runs the testthat suite against the installed package and fails (exit status 1) on any failure.
# Prints the counts: passed, failed, skipped, warnings.
results <- testthat::test_dir("tests/testthat", package = "scnym", load_package = "installed",
                              reporter = testthat::ProgressReporter$new(show_praise = FALSE),
                              stop_on_failure = FALSE)
df <- as.data.frame(results)
counts <- c(tests = nrow(df), expectations = sum(df$nb), failed = sum(df$failed),
            errors = sum(df$error), skipped = sum(df$skipped), warnings = sum(df$warning))
cat("\ntestthat:", paste(names(counts), counts, sep = " = ", collapse = ", "), "\n")
if (counts[["failed"]] > 0 || counts[["errors"]] > 0) quit(status = 1)
