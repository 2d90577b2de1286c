# Time one lme4::lmer fit on a CSV file and print the result as one line of JSON.
#
# Usage:
#   Rscript benchmarks/lme4_fit.R --csv PATH --formula "y ~ x + (1|g)" --reml TRUE|FALSE
#           [--levels PATH.json] [--factors a,b] [--reps 1] [--warmup 0]
#
# Factor columns are given explicitly: by the JSON sidecar (mixedcompat.datasets format: column types
# and levels in order; default <csv stem>.json when it exists) and/or by --factors (levels sorted as
# R's factor() does). CSV reading is not timed; the factor conversion is timed separately
# (convert_s). Each fit is timed by wall clock from the formula to the fitted object:
#   lmer(formula, data, REML = ..., control = lmerControl(calc.derivs = FALSE))
#   or, with --family F [--nagq K]: glmer(formula, data, family = F, nAGQ = K) (default glmerControl),
#   reporting -2 logLik as the criterion
# --warmup fits are run first and discarded; then --reps fits are timed (gc() before each).
# Peak memory: VmHWM from /proc/self/status, reset (clear_refs) after reading the data, so it is the
# peak while the data frame is in memory and the model is being fitted.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

parse_args <- function(args) {
  out <- list(csv = NULL, formula = NULL, reml = "TRUE", levels = NULL, factors = "",
              reps = "1", warmup = "0", family = "", nagq = "1")
  i <- 1
  while (i <= length(args)) {
    key <- sub("^--", "", args[i])
    if (!key %in% names(out)) stop("unknown argument: ", args[i])
    out[[key]] <- args[i + 1]
    i <- i + 2
  }
  if (is.null(out$csv) || is.null(out$formula)) stop("--csv and --formula are required")
  out
}

wall <- function() as.numeric(Sys.time())

vm_kb <- function(field) {
  status <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
  line <- grep(paste0("^", field, ":"), status, value = TRUE)
  if (length(line) == 0) return(NA_real_)
  as.numeric(gsub("[^0-9]", "", line))
}

reset_peak <- function() {
  ok <- tryCatch({ writeLines("5", "/proc/self/clear_refs"); TRUE }, error = function(e) FALSE,
                 warning = function(w) FALSE)
  ok
}

main <- function() {
  a <- parse_args(commandArgs(trailingOnly = TRUE))
  meta_path <- if (!is.null(a$levels)) a$levels else sub("\\.csv$", ".json", a$csv)
  meta <- if (file.exists(meta_path)) fromJSON(meta_path, simplifyVector = FALSE) else list(columns = list())
  cols <- meta$columns
  explicit <- strsplit(a$factors, ",", fixed = TRUE)[[1]]

  # ---- read (not timed): factor columns as text so labels such as "01" stay as written
  cls <- vapply(cols, function(ci) switch(ci$type, numeric = "numeric", integer = "integer",
                                          logical = "logical", "character"), "")
  cls[explicit[!explicit %in% names(cls)]] <- "character"
  t0 <- wall()
  raw <- utils::read.csv(a$csv, colClasses = cls, na.strings = "NA", check.names = FALSE)
  read_s <- wall() - t0

  # ---- factor conversion (timed separately)
  t0 <- wall()
  for (nm in names(cols)) {
    ci <- cols[[nm]]
    if (ci$type %in% c("factor", "ordered")) {
      raw[[nm]] <- factor(raw[[nm]], levels = unlist(ci$levels), ordered = ci$type == "ordered")
    }
  }
  for (nm in setdiff(explicit, names(cols))) raw[[nm]] <- factor(raw[[nm]])
  convert_s <- wall() - t0
  dat <- raw
  rm(raw)

  reml <- as.logical(a$reml)
  reps <- as.integer(a$reps)
  warmup <- as.integer(a$warmup)
  invisible(gc())
  rss_before_kb <- vm_kb("VmRSS")
  peak_reset <- reset_peak()

  times <- numeric(0)
  fit <- NULL
  for (k in seq_len(warmup + reps)) {
    fit <- NULL
    invisible(gc())
    t0 <- wall()
    fit <- if (nzchar(a$family)) {
      glmer(as.formula(a$formula), data = dat, family = get(a$family), nAGQ = as.integer(a$nagq))
    } else {
      lmer(as.formula(a$formula), data = dat, REML = reml, control = lmerControl(calc.derivs = FALSE))
    }
    el <- wall() - t0
    if (k > warmup) times <- c(times, el)
  }
  peak_kb <- vm_kb("VmHWM")
  crit <- if (nzchar(a$family)) -2 * as.numeric(logLik(fit)) else if (reml) REMLcrit(fit) else deviance(fit)
  res <- list(
    engine = "lme4", lme4_version = as.character(packageVersion("lme4")),
    r_version = paste(R.version$major, R.version$minor, sep = "."),
    n = nobs(fit), reml = reml, times_s = I(times), fit_s = median(times), min_s = min(times),
    read_s = read_s, convert_s = convert_s, fit_plus_convert_s = median(times) + convert_s,
    criterion = unname(crit), theta = I(unname(getME(fit, "theta"))),
    optimizer_feval = fit@optinfo$feval,
    conv_messages = unlist(fit@optinfo$conv$lme4$messages),
    rss_before_fit_mb = rss_before_kb / 1024, peak_rss_mb = peak_kb / 1024,
    peak_is_fit_only = peak_reset
  )
  cat(toJSON(res, auto_unbox = TRUE, digits = NA, null = "null"), "\n", sep = "")
}

main()
