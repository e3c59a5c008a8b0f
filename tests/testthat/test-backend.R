test_that("scnym_backend_info reports the libtorch backend", {
  info <- scnym_backend_info(gemm_size = 128)
  expect_s3_class(info, "scnym_backend_info")
  expect_equal(info$libtorch_compiled, "2.11.0")
  expect_equal(info$libtorch_runtime, "2.11.0")
  expect_true(file.exists(info$libtorch_path))
  expect_type(info$cuda_available, "logical")
  expect_gte(info$threads, 1)
  expect_gt(info$gemm_gflops, 0)
  expect_output(print(info), "libtorch")
})

test_that("libtorch's matrix multiply does not go through R's BLAS", {
  skip_on_os(c("windows", "mac"))
  info <- scnym_backend_info(gemm_size = 0)
  expect_true(info$blas_ok)
  expect_true(is.na(info$gemm_gflops))
})

test_that("scnym_backend_info rejects a bad gemm_size", {
  expect_error(scnym_backend_info(gemm_size = -1), class = "scnym_error_invalid_argument")
  expect_error(scnym_backend_info(gemm_size = "a"), class = "scnym_error_invalid_argument")
})
