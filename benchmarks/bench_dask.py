"""Time ``mc.lmer`` on partitioned Parquet through Dask (issue 13), against the in-memory fit and lme4.

For each data set of ``simulate_parquet.py``: ``mc.lmer(formula, dd.read_parquet(...))`` -- the fit object
(first pass for levels and kept rows, block sums per partition reduced as a tree, lme4's optimiser on the reduced
blocks) -- on the local threaded scheduler (``--workers``, default 2) or a ``LocalCluster`` of processes
(``--cluster``); then ``str(summary(m))``, whose exact residual quantiles take two more passes. Reported: wall
times (reading included), rows per second, peak resident memory of this (driver) process, theta and the criterion.
``--in-memory``: the same model fitted by ``mc.lmer`` on the whole data read into pandas (reading not timed) and
the relative criterion difference. ``--lme4``: lme4 on the same rows written as CSV (``benchmarks/lme4_fit.R``,
reading not timed), in the same run, and the ratio of our time (reading included) to lme4's fit. Each data set
runs in a fresh process (peak memory is per process).

Usage: ``python benchmarks/bench_dask.py [--in-memory] [--lme4] [--cluster] [NAME ...]`` (names: sim10m_int,
sim10m_slope, sim100m_nested; default the two 10M sets).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMULAS = {"sim10m_int": ("sim10m_int", "y ~ x + (1 | g)"),
            "sim10m_slope": ("sim10m_slope", "y ~ x + (1 + x | g)"),
            "sim100m_nested": ("sim100m_nested", "y ~ x + (1 | g) + (1 | g:b)")}


def one(name: str, in_memory: bool, cluster: bool, workers: int) -> dict:
    import dask
    import dask.dataframe as dd
    import warnings

    sys.path.insert(0, str(HERE.parent))
    sys.path.insert(0, str(HERE))
    from simulate_parquet import ensure
    import mixedcompat as mc

    data, formula = FORMULAS[name]
    path = ensure(data)
    client = None
    if cluster:
        from dask.distributed import Client, LocalCluster
        client = Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     dashboard_address=None))
    t0 = time.perf_counter()
    ddf = dd.read_parquet(str(path))
    with warnings.catch_warnings(record=True) as caught, \
            dask.config.set(scheduler="threads" if client is None else None, num_workers=workers):
        warnings.simplefilter("always")
        fit = mc.lmer(formula, ddf, REML=True)
        t1 = time.perf_counter()
        text = str(fit.summary())
        t2 = time.perf_counter()
    n = int(fit.nobs())
    out = {"name": name, "formula": formula, "rows": n, "fit_s": t1 - t0, "summary_s": t2 - t1,
           "rows_per_s": n / (t1 - t0), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "theta": [float(v) for v in fit.theta], "criterion": float(fit.REMLcrit()),
           "warnings": sorted({str(w.message).splitlines()[0] for w in caught}),
           "scheduler": "LocalCluster(processes)" if client else f"threads x {workers}",
           "summary": text}
    if client is not None:
        client.close()
    if in_memory:
        import pandas as pd
        import mixedcompat as mc
        d = pd.read_parquet(str(path))
        for col in ("g", "b"):
            if col in d:
                d[col] = pd.Categorical(d[col])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            m = mc.lmer(formula, d)
            out["in_memory_s"] = time.perf_counter() - t
        out["in_memory_criterion"] = float(m.REMLcrit())
        out["criterion_rel_diff"] = abs(out["criterion"] - out["in_memory_criterion"]) / abs(out["in_memory_criterion"])
    return out


def lme4_in_same_run(name: str) -> dict:
    """lme4 on the data set's rows written once as CSV next to the Parquet files (reading not timed)."""
    import pandas as pd
    sys.path.insert(0, str(HERE))
    from simulate_parquet import ensure
    data, formula = FORMULAS[name]
    path = ensure(data)
    csv = path.with_suffix(".csv")
    if not csv.exists():
        pd.read_parquet(str(path)).to_csv(csv, index=False)
    factors = ",".join(c for c in ("g", "b") if c in formula.split("~")[1].replace("(", " ").replace(")", " ")
                       .replace(":", " ").replace("|", " ").split())
    cmd = ["Rscript", str(HERE / "lme4_fit.R"), "--csv", str(csv), "--formula", formula, "--reml", "TRUE",
           "--factors", factors]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(sorted(FORMULAS)))
    parser.add_argument("--in-memory", action="store_true")
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--lme4", action="store_true", help="also time lme4 on the same rows (CSV)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(FORMULAS))
    if unknown:
        parser.error(f"unknown data set(s) {unknown}: choose from {sorted(FORMULAS)}")
    if args.child:
        print(json.dumps(one(args.child, args.in_memory, args.cluster, args.workers)))
        return
    for name in args.names or ["sim10m_int", "sim10m_slope"]:
        cmd = [sys.executable, __file__, "--child", name, "--workers", str(args.workers)]
        cmd += ["--in-memory"] if args.in_memory else []
        cmd += ["--cluster"] if args.cluster else []
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        if args.lme4:
            r = lme4_in_same_run(name)
            res["lme4"] = {k: r[k] for k in ("fit_s", "read_s", "peak_rss_mb", "criterion", "theta")}
            res["ratio_to_lme4_fit"] = res["fit_s"] / r["fit_s"]
            res["criterion_minus_lme4_rel"] = (res["criterion"] - r["criterion"]) / abs(r["criterion"])
        summary = res.pop("summary")
        print(json.dumps(res, indent=1))
        print(summary)


if __name__ == "__main__":
    main()
