"""Time ``mc.bootMer`` and lme4's ``bootMer`` on the same model in the same run and print the ratio.

Model: sleepstudy ``Reaction ~ Days + (Days | Subject)`` (REML), ``FUN = fixef``, ``nsim = 1000``.
The timed span is the ``bootMer`` call only (the model is fitted before, on both sides): simulate
``nsim`` responses, refit, apply ``FUN``.  lme4 runs in an ``Rscript`` subprocess, serially (lme4's
default ``parallel = "no"``); mixedcompat in this process, serially and (``--parallel K``) with
``K`` worker processes.  Each side is run ``--repeat`` times, alternating which goes first; the
median is reported.  The bootstrap means and standard deviations of both sides are printed as a
sanity check (they agree to Monte-Carlo error, not exactly: the random numbers differ).

Target: mixedcompat / lme4 <= 0.2 (serial against serial).

``FUN = mc.fixef`` reads each refit's beta directly (no Series built); ``--general`` also times
``FUN = lambda x: x.fixef()``, which goes through the general path (the refit object handed to
``FUN`` and ``FUN``'s Series), to show what an arbitrary statistic costs.

Usage
-----
``python benchmarks/bench_bootstrap.py [--nsim 1000] [--repeat 3] [--parallel 2] [--general] [--rscript Rscript]``

Example
-------
``python benchmarks/bench_bootstrap.py --repeat 1``
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

FORMULA = "Reaction ~ Days + (Days | Subject)"

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
nsim <- as.integer(args[1]); seed <- as.integer(args[2])
m <- lmer(%s, sleepstudy)
invisible(bootMer(m, fixef, nsim = 5, seed = 1))          # warm-up (byte compilation, method dispatch)
t0 <- proc.time()[["elapsed"]]
b <- bootMer(m, fixef, nsim = nsim, seed = seed)
el <- proc.time()[["elapsed"]] - t0
cat(sprintf('{"seconds": %%.6f, "mean": [%%s], "sd": [%%s], "nfail": %%d}\n', el,
            paste(sprintf("%%.10g", colMeans(b$t, na.rm = TRUE)), collapse = ", "),
            paste(sprintf("%%.10g", apply(b$t, 2, sd, na.rm = TRUE)), collapse = ", "),
            sum(!complete.cases(b$t))))
""" % FORMULA


def time_r(rscript: str, nsim: int, seed: int, timeout: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
    try:
        out = subprocess.run([rscript, "--vanilla", fh.name, str(nsim), str(seed)],
                             capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        os.unlink(fh.name)
    if out.returncode != 0:
        raise RuntimeError(f"Rscript failed:\n{out.stderr}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def _method_fixef(x):
    return x.fixef()


def time_mc(nsim: int, seed: int, parallel, general: bool = False) -> dict:
    import warnings

    import numpy as np

    import mixedcompat as mc
    from mixedcompat.inference.bootstrap import bootMer
    m = mc.lmer(FORMULA, mc.datasets.load("sleepstudy"))
    fun = _method_fixef if general else mc.fixef
    bootMer(m, fun, nsim=5, seed=1, progress=False, parallel=parallel)   # warm-up
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        b = bootMer(m, fun, nsim=nsim, seed=seed, progress=False, parallel=parallel)
        el = time.perf_counter() - t0
    return {"seconds": el, "mean": np.nanmean(b.t, axis=0).tolist(),
            "sd": np.nanstd(b.t, axis=0, ddof=1).tolist(), "nfail": b.nfail}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nsim", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--parallel", type=int, default=0, help="also time mixedcompat with K worker processes")
    ap.add_argument("--general", action="store_true",
                    help="also time FUN = lambda x: x.fixef() (no fixef fast path), serially")
    ap.add_argument("--rscript", default="Rscript")
    ap.add_argument("--timeout", type=float, default=1800.0)
    args = ap.parse_args(argv)

    r_runs, mc_runs, par_runs, gen_runs = [], [], [], []
    for rep in range(args.repeat):
        order = ["r", "mc"] if rep % 2 == 0 else ["mc", "r"]
        for side in order:
            if side == "r":
                r_runs.append(time_r(args.rscript, args.nsim, args.seed + rep, args.timeout))
                print(f"[{rep + 1}/{args.repeat}] lme4        {r_runs[-1]['seconds']:8.2f} s", file=sys.stderr)
            else:
                mc_runs.append(time_mc(args.nsim, args.seed + rep, None))
                print(f"[{rep + 1}/{args.repeat}] mixedcompat {mc_runs[-1]['seconds']:8.2f} s", file=sys.stderr)
                if args.parallel > 1:
                    par_runs.append(time_mc(args.nsim, args.seed + rep, args.parallel))
                    print(f"[{rep + 1}/{args.repeat}] mixedcompat parallel={args.parallel} "
                          f"{par_runs[-1]['seconds']:8.2f} s", file=sys.stderr)
                if args.general:
                    gen_runs.append(time_mc(args.nsim, args.seed + rep, None, general=True))
                    print(f"[{rep + 1}/{args.repeat}] mixedcompat x.fixef() "
                          f"{gen_runs[-1]['seconds']:8.2f} s", file=sys.stderr)
    r_s = statistics.median(x["seconds"] for x in r_runs)
    mc_s = statistics.median(x["seconds"] for x in mc_runs)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"bootMer, sleepstudy {FORMULA}, FUN = fixef, nsim = {args.nsim}, median of {args.repeat}")
    print(f"  lme4 (serial)          {r_s:8.2f} s   {1000 * r_s / args.nsim:6.2f} ms/replicate")
    print(f"  mixedcompat (serial)   {mc_s:8.2f} s   {1000 * mc_s / args.nsim:6.2f} ms/replicate   "
          f"ratio {mc_s / r_s:.3f} (target <= 0.2)")
    if par_runs:
        par_s = statistics.median(x["seconds"] for x in par_runs)
        print(f"  mixedcompat (parallel={args.parallel}) {par_s:6.2f} s   ratio {par_s / r_s:.3f} "
              f"(against lme4 serial)")
    if gen_runs:
        gen_s = statistics.median(x["seconds"] for x in gen_runs)
        print(f"  mixedcompat (serial, FUN = lambda x: x.fixef()) {gen_s:6.2f} s   ratio {gen_s / r_s:.3f}")
    print("  bootstrap mean / sd of (Intercept), Days  [last run each side]")
    print(f"    lme4        mean {r_runs[-1]['mean']}  sd {r_runs[-1]['sd']}  failed {r_runs[-1]['nfail']}")
    print(f"    mixedcompat mean {mc_runs[-1]['mean']}  sd {mc_runs[-1]['sd']}  failed {mc_runs[-1]['nfail']}")
    if load:
        print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
