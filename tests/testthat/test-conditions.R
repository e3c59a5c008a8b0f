test_that("a Rust error whose message contains % reaches R as a classed error", {
  err <- expect_error(scnym:::rust_result(scnym:::rs_debug_error("invalid_argument", "100% %s %n {x}")),
                      class = "scnym_error_invalid_argument")
  expect_s3_class(err, "scnym_error")
  expect_match(conditionMessage(err), "100% %s %n {x}", fixed = TRUE)
  # R keeps running and the next call works.
  expect_equal(1 + 1, 2)
})

test_that("libtorch's C++ backtrace is cut from messages", {
  msg <- "shape mismatch\nException raised from foo at bar.cpp:12 (most recent call first):\nframe #0"
  err <- expect_error(scnym:::rust_result(scnym:::rs_debug_error("torch", msg)),
                      class = "scnym_error_torch")
  expect_false(grepl("Exception raised from", conditionMessage(err)))
  expect_match(conditionMessage(err), "shape mismatch")
})

test_that("a panic inside Rust becomes an R error and R keeps running", {
  for (i in 1:3) {
    err <- expect_error(scnym:::rust_result(scnym:::rs_debug_panic("boom 50% %d")),
                        class = "scnym_error_internal")
    expect_match(conditionMessage(err), "boom 50% %d", fixed = TRUE)
  }
  expect_equal(sum(1:10), 55)
})

test_that("errors carry the user's call", {
  f <- function() scnym:::rust_result(scnym:::rs_debug_error("io", "disk gone"))
  err <- expect_error(f(), class = "scnym_error_io")
  expect_equal(deparse(err$call), "f()")
})

test_that("Ctrl-C during a Rust loop returns an interrupted error within a fraction of a second", {
  skip_on_os(c("windows", "mac"))
  skip_if_not(nzchar(Sys.which("kill")))
  # A real SIGINT to this R process, sent while the Rust loop runs.
  system(sprintf("sleep 0.5 && kill -INT %d", Sys.getpid()), wait = FALSE)
  start <- Sys.time()
  err <- expect_error(scnym:::rust_result(scnym:::rs_debug_busy_loop(20)),
                      class = "scnym_error_interrupted")
  elapsed <- as.numeric(difftime(Sys.time(), start, units = "secs"))
  expect_lt(elapsed, 3)
  expect_equal(sum(1:10), 55)
})

test_that("a loop with no interrupt runs to its end", {
  expect_type(scnym:::rust_result(scnym:::rs_debug_busy_loop(0.05)), "double")
})
