"""Time the R users' calls of issue 14 (lmerTest, pbkrtest, emmeans, lme4 and nlme helpers) against R.

Each case runs the same call on the same fit in both languages, in the same run: R through one ``Rscript``
subprocess that fits every model, warms each call up once and times ``--repeats`` calls (median); Python
the same in this process, each call on a fresh unpickled copy of the fit so that nothing cached by an earlier
call is reused (lmerTest computes its Satterthwaite Hessian when it fits, so R's Satterthwaite calls do not
include it while ours do).  The table gives both medians and the ratio mixedcompat / R.  Timings are
never asserted anywhere.

    python benchmarks/bench_r_api.py [--repeats 5] [--only contest_kr emmeans_pairs ...]

Cases whose function this checkout does not have are listed as missing (not timed).
"""
from __future__ import annotations

import argparse
import json
import pickle
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mixedcompat as mc  # noqa: E402

# name -> (data set, R's fitting call, the Python fit, R's timed expression, the Python timed call)
MODELS = {
    "sleep": ("sleepstudy", 'lmerTest::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)',
              lambda: mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))),
    "machines": ("Machines", 'lmerTest::lmer(score ~ Machine + (1 | Worker) + (1 | Worker:Machine), nlme::Machines)',
                 lambda: mc.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)",
                                 mc.datasets.load("Machines"))),
    "machines0": ("Machines", 'lmerTest::lmer(score ~ 1 + (1 | Worker) + (1 | Worker:Machine), nlme::Machines)',
                  lambda: mc.lmer("score ~ 1 + (1 | Worker) + (1 | Worker:Machine)", mc.datasets.load("Machines"))),
    "cbpp": ("cbpp", 'lme4::glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), lme4::cbpp, '
                     'family = binomial)',
             lambda: mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mc.datasets.load("cbpp"),
                              family="binomial")),
}

CASES = [
    # name, model(s), R expression (m, m0 bound), Python call (m, m0) -> anything, the mc names it needs
    ("contest_kr", "machines", 'lmerTest::contest(m, diag(3)[2:3, ], ddf = "Kenward-Roger")',
     lambda m, m0: mc.contest(m, [[0, 1, 0], [0, 0, 1]], ddf="Kenward-Roger"), ["contest"]),
    ("anova_kr", "machines", 'anova(m, ddf = "Kenward-Roger")',
     lambda m, m0: mc.anova(m, type=3, ddf="Kenward-Roger"), ["anova"]),
    ("krmodcomp", "machines", 'pbkrtest::KRmodcomp(m, m0)', lambda m, m0: mc.KRmodcomp(m, m0), ["KRmodcomp"]),
    ("satmodcomp", "machines", 'pbkrtest::SATmodcomp(m, m0)', lambda m, m0: mc.SATmodcomp(m, m0), ["SATmodcomp"]),
    ("step", "machines", 'lmerTest::step(m)', lambda m, m0: mc.step(m), ["step"]),
    ("ls_means", "machines", 'lmerTest::ls_means(m)', lambda m, m0: mc.ls_means(m), ["ls_means"]),
    ("emmeans_pairs", "machines", 'emmeans::contrast(emmeans::emmeans(m, "Machine"), "pairwise")',
     lambda m, m0: mc.contrast(mc.emmeans(m, "Machine"), "pairwise"), ["emmeans", "contrast"]),
    ("emmeans_glmer", "cbpp", 'emmeans::emmeans(m, "period", type = "response")',
     lambda m, m0: mc.emmeans(m, "period", type="response"), ["emmeans"]),
    ("allfit", "sleep", 'suppressMessages(lme4::allFit(m, verbose = FALSE))',
     lambda m, m0: mc.allFit(m, progress=False), ["allFit"]),
    ("lmer_nlminbwrap", "sleep", 'lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy, '
                                 'control = lme4::lmerControl(optimizer = "nlminbwrap"))',
     lambda m, m0: mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"),
                           control={"optimizer": "nlminbwrap"}), ["lmer"]),
    ("lmList", "sleep", 'lme4::lmList(Reaction ~ Days | Subject, lme4::sleepstudy)',
     lambda m, m0: mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy")), ["lmList"]),
    ("influence", "sleep", 'lme4:::influence.merMod(m, groups = "Subject")',
     lambda m, m0: mc.influence(m, groups="Subject"), ["influence"]),
]
SMALL = {"machines": "machines0"}          # the small model of the model comparisons

R_TEMPLATE = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(pbkrtest); library(emmeans)})
reps <- %(reps)d
fits <- list(%(fits)s)
cases <- list(%(cases)s)
out <- list()
for (nm in names(cases)) {
  cs <- cases[[nm]]
  m <- fits[[cs$model]]; m0 <- if (is.null(cs$small)) NULL else fits[[cs$small]]
  f <- function() eval(parse(text = cs$expr))
  ok <- tryCatch({ invisible(suppressWarnings(f())); TRUE }, error = function(e) conditionMessage(e))
  if (!isTRUE(ok)) { out[[nm]] <- list(error = ok); next }
  times <- numeric(reps)
  for (i in seq_len(reps)) {
    t0 <- proc.time()[["elapsed"]]; invisible(suppressWarnings(f()))
    times[i] <- proc.time()[["elapsed"]] - t0
  }
  out[[nm]] <- list(median = median(times))
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def _r_times(cases: list, reps: int) -> dict:
    models = sorted({c[1] for c in cases} | {SMALL[c[1]] for c in cases if c[1] in SMALL})
    fits = ", ".join(f'{k} = suppressMessages({MODELS[k][1]})' for k in models)
    items = []
    for name, model, expr, _, _ in cases:
        small = f', small = "{SMALL[model]}"' if model in SMALL else ""
        items.append(f'{name} = list(model = "{model}"{small}, expr = {json.dumps(expr)})')
    script = R_TEMPLATE % {"reps": reps, "fits": fits, "cases": ", ".join(items)}
    res = subprocess.run([shutil.which("Rscript") or "Rscript", "-e", script], capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout)


def _fresh(m):
    """A copy of the fit without the caches of earlier calls (KR and Satterthwaite results are cached per fit)."""
    return None if m is None else pickle.loads(pickle.dumps(m))


def _py_time(call, m, m0, reps: int) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(_fresh(m), _fresh(m0))                          # warm-up (imports)
        times = []
        for _ in range(reps):
            a, b = _fresh(m), _fresh(m0)
            t0 = time.perf_counter()
            call(a, b)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.only or c[0] in args.only]
    missing = [c[0] for c in cases if not all(hasattr(mc, n) for n in c[4])]
    cases = [c for c in cases if c[0] not in missing]
    r = _r_times(cases, args.repeats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {k: MODELS[k][2]() for k in {c[1] for c in cases} | {SMALL[c[1]] for c in cases if c[1] in SMALL}}
    print(f"{'case':16s} {'mixedcompat (s)':>16s} {'R (s)':>10s} {'ratio':>8s}")
    for name, model, _, call, _ in cases:
        py = _py_time(call, fits[model], fits.get(SMALL.get(model, "")), args.repeats)
        rr = r.get(name, {})
        if "median" in rr:
            print(f"{name:16s} {py:16.4f} {rr['median']:10.4f} {py / rr['median']:8.3f}")
        else:
            print(f"{name:16s} {py:16.4f} {'R error':>10s}  {rr.get('error', '')}")
    for name in missing:
        print(f"{name:16s} missing in this checkout")


if __name__ == "__main__":
    main()
