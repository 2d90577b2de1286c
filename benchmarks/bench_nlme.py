"""Benchmark: mc.lme with corAR1 on a 50,000-row panel (1,000 groups of 50) against nlme, same run.

Issue 5's target: ratio (mixedcompat / nlme) <= 0.2.  Prints both times (median of the repeats),
the ratio, and the log-likelihoods (they must agree to 1e-6 relative).

Usage: python benchmarks/bench_nlme.py [--groups 1000] [--per-group 50] [--repeat 3] [--rscript Rscript]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

import numpy as np
import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def simulate(groups: int, per_group: int, seed: int = 20261124) -> pd.DataFrame:
    """y = 1 + 0.5 x + 0.1 t + b_g + e, b_g ~ N(0, 2^2), e AR(1) with phi = 0.6 within group."""
    rng = np.random.default_rng(seed)
    phi = 0.6
    e = np.empty((groups, per_group))
    e[:, 0] = rng.normal(size=groups) / np.sqrt(1 - phi ** 2)
    for k in range(1, per_group):
        e[:, k] = phi * e[:, k - 1] + rng.normal(size=groups)
    g = np.repeat(np.arange(1, groups + 1), per_group)
    t = np.tile(np.arange(1, per_group + 1), groups)
    x = rng.normal(size=groups * per_group)
    b = rng.normal(0, 2, size=groups)
    y = 1 + 0.5 * x + 0.1 * t + b[g - 1] + e.ravel()
    return pd.DataFrame({"y": y, "x": x, "t": t, "g": g})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--per-group", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rscript", default="Rscript")
    a = ap.parse_args()
    import mixedcompat as mc

    d = simulate(a.groups, a.per_group)
    path = HERE / ".data" / f"panel_{a.groups}x{a.per_group}.csv"
    path.parent.mkdir(exist_ok=True)
    d.to_csv(path, index=False)
    d["g"] = pd.Categorical(d["g"])

    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        m = mc.lme("y ~ x + t", d, random="~ 1 | g", correlation=mc.corAR1(form="~ t | g"))
        times.append(time.perf_counter() - t0)
    ours = float(np.median(times))
    print(f"mixedcompat: {ours:.3f} s (median of {a.repeat}: {', '.join(f'{x:.3f}' for x in times)})",
          file=sys.stderr)
    out = subprocess.run([a.rscript, str(HERE / "nlme_fit.R"), str(path), str(a.repeat)], capture_output=True,
                         text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    theirs = float(np.median(r["times"]))
    ll, rll = float(m.logLik()), float(r["logLik"])
    print(f"| model | mixedcompat | nlme {r['nlme']} | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| lme corAR1, {a.groups} x {a.per_group} rows | {ours:.3f} s | {theirs:.3f} s | "
          f"{ours / theirs:.3f} | <= 0.2 |")
    print(f"logLik: ours {ll:.6f}, nlme {rll:.6f} (relative gap {abs(ll - rll) / abs(rll):.1e}); "
          f"Phi ours {m.cor_params[0]:.6f}, nlme {float(np.ravel(r['phi'])[0]):.6f}")


if __name__ == "__main__":
    main()
