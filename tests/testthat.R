library(testthat)
library(scnym)

test_check("scnym")
