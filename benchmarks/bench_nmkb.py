"""Time lmer with ``optimizer = "nmkbw"`` (dfoptim's nmkb through lme4's wrapper) against R, in the same run.

Cases: ``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)`` with ``lmerControl(optimizer = "nmkbw")``
(and ``calc.derivs`` on, as a user's fit), the same with ``polish=False`` on our side (lme4's path only),
``lmer(Yield ~ 1 + (1 | Batch), Dyestuff)`` (one theta: optim's Brent), and the bare ``nmkb`` on
Rosenbrock in 4 dimensions.  R runs in one ``Rscript`` subprocess (a warm-up, then the median of
``--repeats`` timings of ``--inner`` calls); Python the same in this process.  Timings are never asserted.

    python benchmarks/bench_nmkb.py [--repeats 5] [--inner 10]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mixedcompat as mc  # noqa: E402
from mixedcompat.numerics.nmkb import nmkb  # noqa: E402

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(dfoptim); library(jsonlite)})
args <- commandArgs(TRUE); repeats <- as.integer(args[1]); inner <- as.integer(args[2])
rosen <- function(x) { s <- 0; for (i in 1:3) { t1 <- x[i + 1] - x[i] * x[i]; t2 <- 1 - x[i]; s <- s + 100 * t1 * t1 + t2 * t2 }; s }
cases <- list(
  sleepstudy = function() lmer(Reaction ~ Days + (Days | Subject), sleepstudy, control = lmerControl(optimizer = "nmkbw")),
  dyestuff = function() lmer(Yield ~ 1 + (1 | Batch), Dyestuff, control = lmerControl(optimizer = "nmkbw")),
  nmkb_rosen4 = function() nmkb(c(-1.2, 1, -1.2, 1), rosen, lower = -3, upper = 3))
out <- lapply(cases, function(f) {
  f()
  median(vapply(seq_len(repeats), function(r) system.time(for (i in seq_len(inner)) f())[["elapsed"]] / inner, 0))
})
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def _rosen(x) -> float:
    s = 0.0
    for i in range(3):
        t1 = x[i + 1] - x[i] * x[i]
        t2 = 1 - x[i]
        s = s + 100 * t1 * t1 + t2 * t2
    return s


def _python_cases() -> dict:
    sleep, dye = mc.datasets.load("sleepstudy"), mc.datasets.load("Dyestuff")
    return {
        "sleepstudy": lambda: mc.lmer("Reaction ~ Days + (Days | Subject)", sleep, control={"optimizer": "nmkbw"}),
        "sleepstudy_polish_false": lambda: mc.lmer("Reaction ~ Days + (Days | Subject)", sleep,
                                                   control={"optimizer": "nmkbw", "polish": False}),
        "dyestuff": lambda: mc.lmer("Yield ~ 1 + (1 | Batch)", dye, control={"optimizer": "nmkbw"}),
        "nmkb_rosen4": lambda: nmkb([-1.2, 1, -1.2, 1], _rosen, lower=-3, upper=3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--inner", type=int, default=10)
    args = ap.parse_args()
    r = json.loads(subprocess.run(["Rscript", "-e", R_SCRIPT, str(args.repeats), str(args.inner)],
                                  capture_output=True, text=True, check=True).stdout)
    print(f"{'case':26s} {'mixedcompat s':>14s} {'R s':>10s} {'ratio':>7s}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, f in _python_cases().items():
            f()
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for _ in range(args.inner):
                    f()
                times.append((time.perf_counter() - t0) / args.inner)
            ours = statistics.median(times)
            theirs = r.get(name.replace("_polish_false", ""))
            print(f"{name:26s} {ours:14.5f} {theirs:10.5f} {ours / theirs:7.2f}")


if __name__ == "__main__":
    main()
