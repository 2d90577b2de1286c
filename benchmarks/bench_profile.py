"""Time profile confidence intervals: mixedcompat's ``confint(m)`` against lme4's ``confint(m)``.

Model: sleepstudy ``Reaction ~ Days + (Days | Subject)`` (REML; both profile the ML deviance).
Both sides run in this process's run (R through an ``Rscript`` subprocess that times only the
``confint`` call, after a warm-up); the ratio mixedcompat / lme4 is printed (target <= 0.5).

    /work/venv/bin/python benchmarks/bench_profile.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mixedcompat as mc  # noqa: E402

FORMULA = "Reaction ~ Days + (Days | Subject)"

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
reps <- as.integer(args[1])
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
invisible(suppressMessages(confint(m)))                     # warm-up
times <- numeric(reps)
for (i in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  ci <- suppressMessages(confint(m))
  times[i] <- proc.time()[["elapsed"]] - t0
}
cat(jsonlite::toJSON(list(times = times, ci = unname(ci)), digits = NA))
"""


def time_python(repeats: int):
    data = mc.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(FORMULA, data)
        mc.confint(m)                                       # warm-up (imports, caches)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ci = mc.confint(m, method="profile")
            times.append(time.perf_counter() - t0)
    return times, ci


def time_r(repeats: int):
    if shutil.which("Rscript") is None:
        return None, None
    out = subprocess.run(["Rscript", "-e", R_SCRIPT, str(repeats)], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["times"], res["ci"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    py_times, ci = time_python(args.repeats)
    r_times, r_ci = time_r(args.repeats)
    py = min(py_times)
    print(f"model: sleepstudy {FORMULA} (REML), confint(method='profile')")
    print(ci.to_string())
    print(f"mixedcompat: {py:.3f} s (best of {args.repeats}: {', '.join(f'{t:.3f}' for t in py_times)})")
    if r_times is None:
        print("lme4: Rscript not found; no ratio")
        return
    r = min(r_times)
    import numpy as np
    r_arr = np.array(r_ci, dtype=float)
    max_rel = float(np.max(np.abs(ci.to_numpy() - r_arr) / np.abs(r_arr)))
    print(f"lme4:        {r:.3f} s (best of {args.repeats}: {', '.join(f'{t:.3f}' for t in r_times)})")
    print(f"max relative difference of the bounds: {max_rel:.2e}")
    print(f"ratio mixedcompat / lme4: {py / r:.3f} (target <= 0.5)")


if __name__ == "__main__":
    main()
