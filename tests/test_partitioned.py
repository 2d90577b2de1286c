"""lmer's criterion from a Dask DataFrame (issue 13, mixedcompat.partitioned): block sums per partition,
reduced as a tree, against the in-memory fit of the same data."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

import dask  # noqa: E402

import mixedcompat as mc  # noqa: E402
from helpers import (TOL, assert_close, check_criterion, fit_fixture, fixture_paths, load_fixture,  # noqa: E402
                     load_fixture_data, theta_parted)
from mixedcompat.errors import DataError, FormulaError, RankDeficiencyWarning  # noqa: E402
from mixedcompat.partitioned.criterion import PartitionedCriterion  # noqa: E402

PATHS = fixture_paths("lmer")            # poly() / scale() too: tests/test_partitioned_transforms.py
IDS = [p.stem for p in PATHS]


@pytest.fixture(autouse=True)
def _threads():
    """The threaded scheduler unless a test starts a client (dask's default for DataFrames)."""
    with dask.config.set(scheduler="threads"):
        yield


def _partitioned(inp: dict, data: pd.DataFrame, npartitions: int, **kwargs) -> PartitionedCriterion:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        return PartitionedCriterion(inp["formula"], dd.from_pandas(data, npartitions=npartitions), REML=inp["REML"],
                                    weights=inp.get("weights"), offset=inp.get("offset"), **kwargs)


_CACHE: dict = {}


def _fixture_pair(path):
    """(fixture, in-memory fit, partitioned criterion on 3 or 4 partitions of the same data)."""
    if path not in _CACHE:
        fx, m, _, _ = fit_fixture(path)
        data = load_fixture_data(fx["input"]["data"])
        _CACHE[path] = (fx, m, _partitioned(fx["input"], data, 3 + len(_CACHE) % 2))
    return _CACHE[path]


def _thetas(m) -> list[np.ndarray]:
    return [np.asarray(m.theta, dtype=float), 1.3 * np.asarray(m.theta) + 0.05, m.devfun.layout.start.copy()]


def _same_criterion(crit: PartitionedCriterion, m, what: str) -> None:
    for theta in _thetas(m):
        assert_close(crit.devfun(theta), m.devfun(theta), f"{what}: criterion at theta={theta.tolist()}",
                     **TOL["partitioned_criterion"])


def _same_optimum(crit: PartitionedCriterion, m, what: str, r_criterion: float | None = None) -> None:
    """The optimum rule: our criterion not above the in-memory one (nor R's); theta, beta, sigma the
    in-memory fit's when the optimisers took the same path, else beta and sigma at its theta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = crit.fit()
    ref = m.REMLcrit() if m.REML else m.deviance()
    check_criterion(f.criterion, ref, f"{what}: criterion against the in-memory fit")
    if r_criterion is not None:
        check_criterion(f.criterion, r_criterion, f"{what}: criterion against R's")
    assert list(f.beta.index) == list(m.fixef().index)
    if not theta_parted(f.theta, m.theta):
        assert_close(f.theta, m.theta, f"{what}: theta", **TOL["theta_same_path"])
        assert_close(f.beta.values, m.fixef().values, f"{what}: beta", **TOL["fixef"])
        assert_close(f.sigma, m.sigma(), f"{what}: sigma", **TOL["sigma"])
    else:
        print(f"{what}: optimiser paths parted (theta gap {np.max(np.abs(f.theta - m.theta)):.3g}); "
              "beta and sigma compared at the in-memory theta")
    _crit, beta, _pwrss = crit.devfun.solution(m.theta)
    assert_close(beta, m.fixef().values, f"{what}: beta at the in-memory theta", **TOL["partitioned_at_theta"])
    sigma = crit.devfun.sigma(crit.devfun.factor(m.theta))
    assert_close(sigma, m.sigma(), f"{what}: sigma at the in-memory theta", **TOL["partitioned_at_theta"])


# ------------------------------------------------------------------ every lmer fixture the first pass supports
def test_fixture_coverage():
    assert len(PATHS) >= 30 and {"sim_poly", "sim_scale"} <= {p.stem for p in PATHS}, len(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fixture_criterion_equals_in_memory(path):
    fx, m, crit = _fixture_pair(path)
    assert crit.n == m.nobs()
    assert crit.x_names == list(m.fixef().index)
    assert crit.dropped == list(m.frame.dropped)
    assert [(t.group, t.names, t.levels) for t in crit.terms] == [(t.group, t.names, t.levels) for t in m.terms]
    _same_criterion(crit, m, path.stem)


OPTIMUM_MAX_Q = 2000
"""The optimum is compared on fixtures with at most this many random effects (InstEval's 4,100 take
half a minute to optimise; its criterion is compared at fixed theta above, and the optimiser is the
in-memory fit's)."""
OPTIMUM_PATHS = [p for p in PATHS if load_fixture(p)["input"]["data"] != "InstEval"]


def test_optimum_fixtures_leave_out_only_the_large_ones():
    for path in set(PATHS) - set(OPTIMUM_PATHS):
        _fx, m, _, _ = fit_fixture(path)
        assert m.devfun.layout.q_total > OPTIMUM_MAX_Q, path.stem


@pytest.mark.parametrize("path", OPTIMUM_PATHS, ids=[p.stem for p in OPTIMUM_PATHS])
def test_fixture_optimum_equals_in_memory(path):
    fx, m, crit = _fixture_pair(path)
    _same_optimum(crit, m, path.stem, fx["expected"]["criterion"])


# ------------------------------------------------------------------ partition layouts
def _sim_main() -> pd.DataFrame:
    return load_fixture_data("sim_main")


def test_na_rows_spread_over_partitions():
    d = _sim_main().reset_index(drop=True)
    rng = np.random.default_rng(13)
    d.loc[rng.choice(len(d), 12, replace=False), "y"] = np.nan
    d.loc[rng.choice(len(d), 8, replace=False), "x"] = np.nan
    d["g"] = d["g"].astype(object)
    d.loc[rng.choice(len(d), 5, replace=False), "g"] = None
    d.loc[rng.choice(len(d), 5, replace=False), "w"] = np.nan
    inp = {"formula": "y ~ x + f + (1 | g)", "REML": True, "weights": "w"}
    ddf = dd.from_pandas(d, npartitions=4)
    na_per_part = ddf.map_partitions(lambda p: pd.Series([int(p[["y", "x", "g", "w"]].isna().any(axis=1).sum())])).compute()
    assert (na_per_part > 0).sum() >= 3
    m = mc.lmer(inp["formula"], d, weights="w")
    crit = _partitioned(inp, d, 4)
    assert crit.n == m.nobs() < len(d)
    _same_criterion(crit, m, "NA rows")
    _same_optimum(crit, m, "NA rows")


def test_levels_present_in_one_partition_only():
    """Sorted by the factors: most grouping levels, and the baseline level of a fixed factor, live in
    one partition; every partition still gets the whole data's columns and contrasts."""
    d = _sim_main()
    baseline = sorted(d["f"].unique())[0]
    rest = d[d["f"] != baseline].sort_values("g", kind="stable")
    d = pd.concat([rest, d[d["f"] == baseline].iloc[:len(rest) // 5]], ignore_index=True)
    inp = {"formula": "y ~ f * x + (1 | g) + (1 | h)", "REML": True}
    ddf = dd.from_pandas(d, npartitions=4)
    f_levels = ddf.map_partitions(lambda p: pd.Series([tuple(sorted(p["f"].unique()))])).compute().tolist()
    assert sum(baseline in lv for lv in f_levels) == 1, f_levels
    g_parts = ddf.map_partitions(lambda p: pd.Series(p["g"].unique())).compute().value_counts()
    assert (g_parts == 1).any()
    m = mc.lmer(inp["formula"], d)
    crit = _partitioned(inp, d, 4)
    _same_criterion(crit, m, "levels in one partition")
    _same_optimum(crit, m, "levels in one partition")


def test_empty_partitions():
    """A partition with no row, and one whose rows all have a missing value."""
    d = load_fixture_data("sleepstudy").reset_index(drop=True)
    d["Reaction"] = d["Reaction"].astype(float)
    ddf = dd.from_pandas(d, npartitions=4)
    lo, hi = ddf.divisions[1], ddf.divisions[2]
    keep = np.asarray((d.index < lo) | (d.index >= hi))
    d.loc[d.index >= ddf.divisions[3], "Reaction"] = np.nan
    ddf = dd.from_pandas(d, npartitions=4)
    ddf = ddf.map_partitions(lambda p: p[np.asarray((p.index < lo) | (p.index >= hi))])
    sizes = ddf.map_partitions(len).compute().tolist()
    assert 0 in sizes and len(sizes) == 4
    inp = {"formula": "Reaction ~ Days + (Days | Subject)", "REML": True}
    m = mc.lmer(inp["formula"], d.loc[keep])
    crit = PartitionedCriterion(inp["formula"], ddf)
    assert crit.n == m.nobs()
    _same_criterion(crit, m, "empty partitions")
    _same_optimum(crit, m, "empty partitions")


def test_deeper_reduction_tree_gives_the_same_criterion():
    d = _sim_main()
    inp = {"formula": "y ~ x + (x | g)", "REML": False}
    m = mc.lmer(inp["formula"], d, REML=False)
    crit = _partitioned(inp, d, 9, split_every=2)
    _same_criterion(crit, m, "split_every=2")


def test_rank_deficient_columns_dropped_with_lme4s_message():
    path = next(p for p in PATHS if p.stem == "sim_rank_deficient")
    fx = load_fixture(path)
    data = load_fixture_data(fx["input"]["data"])
    with pytest.warns(RankDeficiencyWarning, match="rank deficient so dropping 1 column / coefficient"):
        crit = PartitionedCriterion(fx["input"]["formula"], dd.from_pandas(data, npartitions=3))
    assert crit.dropped == ["xlc"]


# ------------------------------------------------------------------ bad input
def test_bad_input_errors():
    d = load_fixture_data("sleepstudy")
    ddf = dd.from_pandas(d, npartitions=3)
    with pytest.raises(DataError, match="weights of a partitioned .* must be a column name"):
        PartitionedCriterion("Reaction ~ Days + (1 | Subject)", ddf, weights=np.ones(len(d)))
    with pytest.raises(FormulaError, match="'Nope'"):
        PartitionedCriterion("Reaction ~ Days + (1 | Nope)", ddf)
    d2 = d.assign(Reaction=d["Reaction"].where(d.index != d.index[100]))
    with pytest.raises(DataError, match="missing values"):
        PartitionedCriterion("Reaction ~ Days + (1 | Subject)", dd.from_pandas(d2, npartitions=3), na_action="fail")
    d3 = d.assign(Reaction=np.nan)
    with pytest.raises(DataError, match="0 \\(non-NA\\) cases"):
        PartitionedCriterion("Reaction ~ Days + (1 | Subject)", dd.from_pandas(d3, npartitions=3))


# ------------------------------------------------------------------ a LocalCluster


def test_local_cluster_gives_the_in_memory_criterion(dask_client):
    distributed = pytest.importorskip("distributed")
    path = next(p for p in PATHS if p.stem == "penicillin")
    fx, m, _, _ = fit_fixture(path)
    data = load_fixture_data(fx["input"]["data"])
    with dask.config.set(scheduler=dask_client), distributed.get_task_stream(dask_client) as tasks:
        crit = _partitioned(fx["input"], data, 4)
    ran = {t["key"][0] if isinstance(t["key"], tuple) else t["key"] for t in tasks.data}
    assert any(str(k).startswith("partition_sums") for k in ran), sorted(map(str, ran))[:5]
    _same_criterion(crit, m, "LocalCluster")
    _same_optimum(crit, m, "LocalCluster", fx["expected"]["criterion"])


# ------------------------------------------------------------------ column types and the response's scale
@pytest.mark.parametrize("formula", ["y ~ x + (x | g)", "y ~ s + (1 | k) + (1 | s:k)"])
def test_plain_columns_numeric_levels_and_a_large_mean(formula):
    """String (not categorical) and integer columns, whose levels are sorted as R sorts them across
    partitions (numbers numerically: 5 before 10), and a response of mean 1e6 on a trend over
    x = 1..n (the response's cross-products are ~1e12 times its residual sum of squares)."""
    rng = np.random.default_rng(13)
    n = 4000
    g = rng.integers(0, 150, n)
    x = np.arange(1.0, n + 1)
    d = pd.DataFrame({"y": 1e6 + 3.0 * x + rng.normal(size=150)[g] + rng.normal(size=n), "x": x, "g": g,
                      "k": (g % 13) * 5, "s": [f"L{v}" for v in g % 17]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(formula, d)
    crit = PartitionedCriterion(formula, dd.from_pandas(d, npartitions=4))
    assert [(t.group, t.levels) for t in crit.terms] == [(t.group, t.levels) for t in m.terms]
    assert crit.x_names == list(m.fixef().index)
    _same_criterion(crit, m, formula)
