"""Simulate the out-of-core benchmark data sets (issue 13) as partitioned Parquet, chunk by chunk.

Each data set is a directory ``benchmarks/.data/<name>.parquet/`` of ``part-NNNN.parquet`` files (one per chunk),
written with a fixed seed so that every run reads the same rows; memory while writing is one chunk. The grouping
columns are integers (the fit declares them factors); a ``_SUCCESS`` file with the generator version marks a
complete directory (rewritten when missing or stale). Needs pyarrow (the ``dask`` extra brings it).

Data sets
---------
sim10m_int
    10,000,000 rows in 20 files, ``y ~ x + (1 | g)``: 100,000 groups (about 100 rows each, rows in random
    order); ``y = 1 + 0.5 x + b_g + e``, sd(b) = 1, sd(e) = 2.
sim10m_slope
    The same rows and groups, ``y ~ x + (1 + x | g)``: ``y = 1 + 0.5 x + b0_g + b1_g x + e`` with sd(b0) = 1,
    sd(b1) = 0.5, corr 0.3.
sim100m_nested
    100,000,000 rows in 100 files, ``y ~ x + (1 | g) + (1 | g:b)``: 10,000 groups x 20 subgroups (200,000 inner
    levels), rows spread at random; ``y = 3 - 0.2 x + b_g + c_gb + e``, sd 1, 0.5, 1.

Command line: ``python benchmarks/simulate_parquet.py [--force] [NAME ...]``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / ".data"
SEED = 20261207
_VERSION = 1

SPECS = {
    "sim10m_int": dict(rows=10_000_000, files=20, groups=100_000, sub=0, slope=False),
    "sim10m_slope": dict(rows=10_000_000, files=20, groups=100_000, sub=0, slope=True),
    "sim100m_nested": dict(rows=100_000_000, files=100, groups=10_000, sub=20, slope=False),
}


def _effects(spec: dict, rng: np.random.Generator) -> dict:
    g = spec["groups"]
    if spec["sub"]:
        return {"b": rng.normal(0.0, 1.0, g), "c": rng.normal(0.0, 0.5, (g, spec["sub"]))}
    if spec["slope"]:
        cov = np.array([[1.0, 0.3 * 0.5], [0.3 * 0.5, 0.25]])
        return {"b": rng.multivariate_normal([0.0, 0.0], cov, g)}
    return {"b": rng.normal(0.0, 1.0, g)}


def _chunk(spec: dict, eff: dict, n: int, rng: np.random.Generator) -> pd.DataFrame:
    g = rng.integers(0, spec["groups"], n).astype(np.int32)
    x = rng.normal(size=n)
    if spec["sub"]:
        b = rng.integers(0, spec["sub"], n).astype(np.int32)
        y = 3.0 - 0.2 * x + eff["b"][g] + eff["c"][g, b] + rng.normal(0.0, 1.0, n)
        return pd.DataFrame({"y": y, "x": x, "g": g, "b": b})
    if spec["slope"]:
        y = 1.0 + 0.5 * x + eff["b"][g, 0] + eff["b"][g, 1] * x + rng.normal(0.0, 2.0, n)
    else:
        y = 1.0 + 0.5 * x + eff["b"][g] + rng.normal(0.0, 2.0, n)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def ensure(name: str, force: bool = False) -> Path:
    """The directory of data set ``name``, written first when missing, incomplete or stale."""
    spec = SPECS[name]
    out = DATA_DIR / f"{name}.parquet"
    done = out / "_SUCCESS"
    if not force and done.exists() and done.read_text().strip() == str(_VERSION):
        return out
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.parquet"):
        old.unlink()
    ss = np.random.SeedSequence([SEED, sorted(SPECS).index(name)])
    eff_seed, *chunk_seeds = ss.spawn(spec["files"] + 1)
    eff = _effects(spec, np.random.default_rng(eff_seed))
    per = spec["rows"] // spec["files"]
    for k, cs in enumerate(chunk_seeds):
        _chunk(spec, eff, per, np.random.default_rng(cs)).to_parquet(out / f"part-{k:04d}.parquet", index=False)
    done.write_text(str(_VERSION))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=sorted(SPECS), choices=sorted(SPECS), metavar="NAME")
    parser.add_argument("--force", action="store_true", help="rewrite even when up to date")
    args = parser.parse_args()
    for name in args.names:
        print(ensure(name, force=args.force))


if __name__ == "__main__":
    main()
