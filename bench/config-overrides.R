# `--set name=value,...` of the benchmark scripts: configuration overrides as a named list
# ("TRUE"/"FALSE" become logicals, numbers numbers), for scnym_config(preset, ...).
parse_overrides <- function(text) {
  if (!nzchar(text)) return(list())
  pairs <- strsplit(strsplit(text, ",")[[1]], "=")
  values <- lapply(pairs, function(p) {
    v <- utils::type.convert(p[[2]], as.is = TRUE)
    if (is.character(v) && v %in% c("TRUE", "FALSE")) as.logical(v) else v
  })
  stats::setNames(values, vapply(pairs, `[[`, "", 1))
}
