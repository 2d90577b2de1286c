"""Simulate the large benchmark data sets with a fixed seed and write them as CSV + JSON sidecar.

The files go to ``benchmarks/.data/`` (gitignored). Each CSV has a sidecar ``<stem>.json`` in the
format of ``mixedcompat.datasets`` (column types and factor levels in order), so both the Python
side (``read_csv_with_levels``) and the R side (``lme4_fit.R``) build identical factors. Numbers
are written with 17 significant digits so both sides parse the same doubles.

Data sets
---------
sim1m
    1,000,000 rows, ``y ~ x + (1 | g)`` with 20,000 groups of 50 rows (rows in random order).
sim200k
    200,000 rows, ``y ~ t + (1 + t | subj) + (1 | item)``: 5,000 subjects, 400 items, each
    subject sees 40 distinct items; subject intercept/slope correlated.
simxg
    40,000 rows, ``y ~ x + (x || g)``: 2,000 groups of 20, independent intercept and slope.
simnest
    100,000 rows, ``y ~ x + (1 | g) + (1 | g:b)``: 1,000 groups, each with 20 subgroups (20,000
    inner levels) of 5 rows.
sim3x
    300,000 rows, ``y ~ x + (1 | a) + (1 | b) + (1 | c)``, three partially crossed factors: 10,000
    levels of a (30 rows each), each meeting 30 of 1,000 levels of b; c has 100 levels tied loosely
    to b (each b level's rows spread over 5 of them).

simbern
    200,000 rows, Bernoulli ``y ~ x + (1 | subj) + (1 | item)`` (glmer): 2,000 subjects each seeing
    all 100 items once; logit = -0.5 + 0.3 x + b_subj (sd 1) + b_item (sd 0.6).

Example
-------
>>> from benchmarks.simulate import ensure  # doctest: +SKIP
>>> path = ensure("sim1m")                   # doctest: +SKIP

Command line: ``python benchmarks/simulate.py [--force] [NAME ...]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / ".data"
SEED = 20240601
_VERSION = 2  # bump when the generators change; stale files are then rewritten


def simulate_sim1m(seed: int = SEED) -> pd.DataFrame:
    """1,000,000 rows, 20,000 groups of 50: ``y = 1 + 0.5 x + b_g + e``, sd(b) = 1, sd(e) = 2."""
    rng = np.random.default_rng(seed)
    n_groups, per_group = 20_000, 50
    n = n_groups * per_group
    group = rng.permutation(np.repeat(np.arange(n_groups), per_group))
    x = rng.standard_normal(n)
    b = rng.normal(0.0, 1.0, n_groups)
    y = 1.0 + 0.5 * x + b[group] + rng.normal(0.0, 2.0, n)
    labels = np.array([f"g{k:05d}" for k in range(1, n_groups + 1)])
    return pd.DataFrame({"y": y, "x": x, "g": labels[group]})


def simulate_sim200k(seed: int = SEED + 1) -> pd.DataFrame:
    """5,000 subjects x 40 of 400 items: ``y = 2 + 0.3 t + b0_s + b1_s t + c_i + e``."""
    rng = np.random.default_rng(seed)
    n_subj, n_item, per_subj = 5_000, 400, 40
    subj = np.repeat(np.arange(n_subj), per_subj)
    item = np.concatenate([rng.choice(n_item, per_subj, replace=False) for _ in range(n_subj)])
    t = np.tile(np.linspace(-1.0, 1.0, per_subj), n_subj) + rng.normal(0.0, 0.05, n_subj * per_subj)
    sd0, sd1, rho = 1.0, 0.5, 0.3
    cov = np.array([[sd0 ** 2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1 ** 2]])
    b = rng.multivariate_normal([0.0, 0.0], cov, n_subj)
    c = rng.normal(0.0, 0.7, n_item)
    y = 2.0 + 0.3 * t + b[subj, 0] + b[subj, 1] * t + c[item] + rng.normal(0.0, 1.0, len(t))
    subj_labels = np.array([f"s{k:04d}" for k in range(1, n_subj + 1)])
    item_labels = np.array([f"i{k:03d}" for k in range(1, n_item + 1)])
    return pd.DataFrame({"y": y, "t": t, "subj": subj_labels[subj], "item": item_labels[item]})


def simulate_simxg(seed: int = SEED + 2) -> pd.DataFrame:
    """2,000 groups of 20: ``y = 1 + 0.5 x + b0_g + b1_g x + e`` with independent b0, b1."""
    rng = np.random.default_rng(seed)
    n_groups, per_group = 2_000, 20
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.uniform(0.0, 10.0, len(g))
    b0, b1 = rng.normal(0.0, 1.0, n_groups), rng.normal(0.0, 0.3, n_groups)
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(0.0, 1.5, len(g))
    labels = np.array([f"g{k:04d}" for k in range(1, n_groups + 1)])
    return pd.DataFrame({"y": y, "x": x, "g": labels[g]})


def simulate_simnest(seed: int = SEED + 3) -> pd.DataFrame:
    """1,000 groups x 20 subgroups x 5 rows: ``y = 3 - 0.2 x + b_g + c_gb + e``."""
    rng = np.random.default_rng(seed)
    n_g, n_b, per = 1_000, 20, 5
    g = np.repeat(np.arange(n_g), n_b * per)
    b = np.tile(np.repeat(np.arange(n_b), per), n_g)
    x = rng.standard_normal(len(g))
    y = 3.0 - 0.2 * x + rng.normal(0.0, 1.0, n_g)[g] + rng.normal(0.0, 0.5, n_g * n_b)[g * n_b + b] \
        + rng.normal(0.0, 1.0, len(g))
    order = rng.permutation(len(g))
    g_labels = np.array([f"g{k:04d}" for k in range(1, n_g + 1)])
    b_labels = np.array([f"b{k:02d}" for k in range(1, n_b + 1)])
    return pd.DataFrame({"y": y[order], "x": x[order], "g": g_labels[g[order]], "b": b_labels[b[order]]})


def simulate_sim3x(seed: int = SEED + 4) -> pd.DataFrame:
    """10,000 a x 30 rows, each a meeting 30 of 1,000 b; c (100 levels) loosely tied to b."""
    rng = np.random.default_rng(seed)
    n_a, n_b, n_c, per = 10_000, 1_000, 100, 30
    a = np.repeat(np.arange(n_a), per)
    b = np.concatenate([rng.choice(n_b, per, replace=False) for _ in range(n_a)])
    c_of_b = rng.integers(0, n_c, (n_b, 5))
    c = c_of_b[b, rng.integers(0, 5, len(b))]
    x = rng.standard_normal(len(a))
    y = (1.0 + 0.4 * x + rng.normal(0.0, 0.8, n_a)[a] + rng.normal(0.0, 0.5, n_b)[b]
         + rng.normal(0.0, 0.3, n_c)[c] + rng.normal(0.0, 1.0, len(a)))
    labels = {name: np.array([f"{name}{k:05d}" for k in range(1, size + 1)])
              for name, size in (("a", n_a), ("b", n_b), ("c", n_c))}
    return pd.DataFrame({"y": y, "x": x, "a": labels["a"][a], "b": labels["b"][b], "c": labels["c"][c]})


def simulate_simbern(seed: int = SEED + 5) -> pd.DataFrame:
    """200,000 Bernoulli rows: 2,000 subjects x 100 items, fully crossed (glmer's benchmark)."""
    rng = np.random.default_rng(seed)
    n_subj, n_item = 2_000, 100
    subj = np.repeat(np.arange(n_subj), n_item)
    item = np.tile(np.arange(n_item), n_subj)
    x = rng.normal(size=subj.size)
    eta = -0.5 + 0.3 * x + rng.normal(0.0, 1.0, n_subj)[subj] + rng.normal(0.0, 0.6, n_item)[item]
    y = (rng.uniform(size=eta.size) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    order = rng.permutation(subj.size)
    return pd.DataFrame({"y": y[order], "x": x[order], "subj": [f"s{v:04d}" for v in subj[order]],
                         "item": [f"i{v:03d}" for v in item[order]]})


GENERATORS = {"sim1m": simulate_sim1m, "sim200k": simulate_sim200k, "simxg": simulate_simxg,
              "simnest": simulate_simnest, "sim3x": simulate_sim3x, "simbern": simulate_simbern}


def _metadata(name: str, df: pd.DataFrame) -> dict:
    """Sidecar metadata in the ``mixedcompat.datasets`` format (factor levels sorted)."""
    columns = {}
    for col in df.columns:
        if pd.api.types.is_numeric_dtype(df[col]):
            columns[col] = {"type": "numeric"}
        else:
            columns[col] = {"type": "factor", "levels": sorted(str(v) for v in df[col].unique())}
    return {"name": name, "source": f"benchmarks/simulate.py v{_VERSION}, seed {SEED}",
            "nrow": len(df), "columns": columns, "generator_version": _VERSION}


def ensure(name: str, force: bool = False) -> Path:
    """Path of ``.data/<name>.csv``, simulating and writing it (and its sidecar) when missing or stale."""
    if name not in GENERATORS:
        raise KeyError(f"unknown simulated data set {name!r}; known: {sorted(GENERATORS)}")
    csv_path = DATA_DIR / f"{name}.csv"
    meta_path = csv_path.with_suffix(".json")
    if not force and csv_path.is_file() and meta_path.is_file():
        with open(meta_path, encoding="utf-8") as fh:
            if json.load(fh).get("generator_version") == _VERSION:
                return csv_path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    df = GENERATORS[name]()
    tmp = csv_path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False, float_format="%.17g")
    meta_path.unlink(missing_ok=True)
    tmp.replace(csv_path)
    with open(meta_path, "w", encoding="utf-8") as fh:  # written last: its presence marks a complete file
        json.dump(_metadata(name, df), fh)
    return csv_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=sorted(GENERATORS))
    parser.add_argument("--force", action="store_true", help="rewrite even when the files exist")
    args = parser.parse_args()
    for name in args.names:
        print(ensure(name, force=args.force))


if __name__ == "__main__":
    main()
