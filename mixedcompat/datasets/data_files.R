# Helpers shared by mixedcompat/datasets/export_datasets.R and tests/fixtures/generate_fixtures.R
# (both source this file from the repository root).

column_type <- function(x) {
  if (is.ordered(x)) return("ordered")
  if (is.factor(x)) return("factor")
  if (is.logical(x)) return("logical")
  if (is.integer(x)) return("integer")
  if (is.numeric(x)) return("numeric")
  if (is.character(x)) return("character")
  stop("unsupported column class: ", paste(class(x), collapse = "/"))
}

# Doubles as text that reads back to the identical double.
exact_number_text <- function(x) {
  s <- rep(NA_character_, length(x))
  ok <- !is.na(x)
  s[ok] <- sprintf("%.15g", x[ok])
  bad <- ok
  bad[ok] <- as.numeric(s[ok]) != x[ok]
  s[bad] <- sprintf("%.17g", x[bad])
  s
}
