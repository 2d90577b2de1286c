"""Time lmer's criterion and optimum from partitioned Parquet through Dask (issue 13), against the in-memory fit.

For each data set of ``simulate_parquet.py``: ``dd.read_parquet`` and
:class:`mixedcompat.partitioned.criterion.PartitionedCriterion` (first pass for levels and kept rows, block sums per
partition reduced as a tree, then lme4's optimiser on the reduced blocks), on the local threaded scheduler
(``--workers``, default 2) or a ``LocalCluster`` of processes (``--cluster``). Reported: wall time, rows per second,
peak resident memory of this (driver) process, theta and the criterion; with ``--in-memory`` the same model is also
fitted by ``mc.lmer`` on the whole data read into pandas (reading not timed) and the relative criterion difference
is printed. Each data set runs in a fresh process (peak memory is per process).

This is not the fit object yet (``mc.lmer`` on Dask data is issue 13's next step): it measures the two passes and
the optimisation, which are what grows with the rows.

Usage: ``python benchmarks/bench_dask.py [--in-memory] [--cluster] [NAME ...]`` (names: sim10m_int,
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
    from mixedcompat.partitioned.criterion import PartitionedCriterion

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
        pc = PartitionedCriterion(formula, ddf, REML=True)
        t1 = time.perf_counter()
        fit = pc.fit()
    t2 = time.perf_counter()
    out = {"name": name, "formula": formula, "rows": int(pc.n), "passes_s": t1 - t0, "optimise_s": t2 - t1,
           "total_s": t2 - t0, "rows_per_s": pc.n / (t2 - t0),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "theta": [float(v) for v in fit.theta], "criterion": float(fit.criterion),
           "warnings": sorted({str(w.message).splitlines()[0] for w in caught}),
           "scheduler": "LocalCluster(processes)" if client else f"threads x {workers}"}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(sorted(FORMULAS)))
    parser.add_argument("--in-memory", action="store_true")
    parser.add_argument("--cluster", action="store_true")
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
        print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
