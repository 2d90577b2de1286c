# One nlme process for benchmarks/bench_nlme.py: read the panel CSV, time lme() with corAR1, print JSON.
# Usage: Rscript benchmarks/nlme_fit.R data.csv repeats
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(nlme))
d <- read.csv(args[1])
d$g <- factor(d$g)
reps <- as.integer(args[2])
times <- numeric(reps)
for (i in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  m <- lme(y ~ x + t, data = d, random = ~ 1 | g, correlation = corAR1(form = ~ t | g))
  times[i] <- proc.time()[["elapsed"]] - t0
}
cat(jsonlite::toJSON(list(times = times, logLik = as.numeric(logLik(m)), fixef = unname(fixef(m)),
                          phi = unname(coef(m$modelStruct$corStruct, unconstrained = FALSE)),
                          sigma = m$sigma, nlme = as.character(packageVersion("nlme"))),
                     digits = NA, auto_unbox = TRUE))
