"""``mc.lmer(formula, dask_df)`` (issue 13): the fit object from a Dask DataFrame on a LocalCluster --
the in-memory criterion, the same printed summary and print, lazy fitted values, residuals and
predictions, and clear refusals of what needs the rows in memory."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402

import mixedcompat as mc  # noqa: E402
from helpers import (TOL, assert_close, check_criterion, fit_fixture, fixture_paths, load_fixture,  # noqa: E402
                     load_fixture_data, theta_parted)
from mixedcompat.errors import DataError, ScaleWarning  # noqa: E402
from mixedcompat.partitioned.model import PartitionedLmerMod  # noqa: E402

OPTIMUM_MAX_Q = 2000
"""Fixtures with more random effects than this are compared at the in-memory optimum (no optimiser)."""
PATHS = fixture_paths("lmer")            # poly() / scale() too: tests/test_partitioned_transforms.py


@pytest.fixture
def client(dask_client):
    """The session's LocalCluster as the active scheduler of the test."""
    with dask.config.set(scheduler=dask_client):
        yield dask_client


def _dask_fit(inp: dict, data: pd.DataFrame, npartitions: int, **kwargs) -> PartitionedLmerMod:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer(inp["formula"], dd.from_pandas(data, npartitions=npartitions), REML=inp["REML"],
                       weights=inp.get("weights"), offset=inp.get("offset"), **kwargs)


def _in_memory_at(m_dask: PartitionedLmerMod, m):
    """The dask fit's twin at the in-memory optimum (optimiser paths that parted on a flat criterion:
    everything downstream compared at the same theta)."""
    control = {"optimizer": None, "start": np.asarray(m.theta, dtype=float)}
    return m_dask.update(control=control)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_fixture_fit_prints_the_in_memory_summary(path, client):
    fx, m, _, _ = fit_fixture(path)
    data = load_fixture_data(fx["input"]["data"])
    # InstEval's 4,100 random effects take half a minute to optimise: evaluated at the in-memory optimum
    large = m.devfun.layout.q_total > OPTIMUM_MAX_Q
    control = {"optimizer": None, "start": np.asarray(m.theta, dtype=float)} if large else None
    md = _dask_fit(fx["input"], data, 3 + len(path.stem) % 3, control=control)
    assert isinstance(md, PartitionedLmerMod) and md.nobs == m.nobs()
    check_criterion(md.REMLcrit(), m.REMLcrit(), f"{path.stem}: criterion against the in-memory fit")
    assert_close(md.devfun(m.theta), m.devfun(m.theta), f"{path.stem}: criterion at the in-memory theta",
                 **TOL["partitioned_criterion"])
    if not large and theta_parted(md.theta, m.theta):
        print(f"{path.stem}: optimiser paths parted: summary compared at the in-memory theta")
        md = _in_memory_at(md, m)
    assert str(md.summary()) == str(m.summary()), path.stem
    assert str(md) == str(m), path.stem


def test_fixture_coverage():
    assert len(PATHS) >= 38, len(PATHS)


# ------------------------------------------------------------------ lazy rows
def _na_data() -> pd.DataFrame:
    d = load_fixture_data("sim_main").reset_index(drop=True)
    rng = np.random.default_rng(7)
    d.loc[rng.choice(len(d), 15, replace=False), "y"] = np.nan
    d.loc[rng.choice(len(d), 9, replace=False), "x"] = np.nan
    d.index = [f"r{i}" for i in range(len(d))]          # labels, not positions
    return d


def _in_memory_at_theta(md: PartitionedLmerMod, data: pd.DataFrame, **kwargs):
    """The in-memory fit at the dask fit's theta (rows compared at the same parameters)."""
    return mc.lmer(md.formula, data, REML=md.REML, control={"optimizer": None, "start": md.theta}, **kwargs)


def test_fitted_residuals_and_quantiles_with_na_rows_over_partitions(client):
    d = _na_data()
    md = mc.lmer("y ~ x + (x | g)", dd.from_pandas(d, npartitions=5, sort=False))
    m = _in_memory_at_theta(md, d)
    check_criterion(md.REMLcrit(), mc.lmer("y ~ x + (x | g)", d).REMLcrit(), "criterion")
    fitted = md.fitted().compute()
    kept = d.index[m.frame.rows]
    assert fitted.index.tolist() == kept.tolist()
    assert_close(fitted.to_numpy(), m.fitted(), "fitted", **TOL["partitioned_at_theta"])
    for kind, scaled in (("response", False), ("pearson", True)):
        r = md.residuals(type=kind, scaled=scaled).compute()
        assert_close(r.to_numpy(), m.residuals(type=kind, scaled=scaled), f"residuals {kind}",
                     **TOL["partitioned_at_theta"])
    assert_close(md.scaled_residual_quantiles(), m.scaled_residual_quantiles(), "quantiles",
                 **TOL["partitioned_at_theta"])
    assert str(md.summary()) == str(m.summary())


def test_weighted_pearson_residuals(client):
    fx = load_fixture(next(p for p in PATHS if p.stem == "sim_weights"))
    d = load_fixture_data(fx["input"]["data"])
    md = mc.lmer(fx["input"]["formula"], dd.from_pandas(d, npartitions=4), weights="w")
    m = _in_memory_at_theta(md, d, weights="w")
    r = md.residuals(type="pearson").compute().to_numpy()
    assert_close(r, m.residuals(type="pearson"), "pearson residuals", **TOL["partitioned_at_theta"])


def test_predict_newdata_is_lazy_and_equals_in_memory(client):
    d = load_fixture_data("sleepstudy")
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    md = mc.lmer("Reaction ~ Days + (Days | Subject)", dd.from_pandas(d, npartitions=3))
    nd = d.iloc[::7].astype({"Subject": str})
    nd.loc[nd.index[3], "Subject"] = "new"
    p = md.predict(newdata=dd.from_pandas(nd, npartitions=2), allow_new_levels=True)
    assert isinstance(p, dd.Series)
    assert_close(p.compute().to_numpy(), m.predict(nd, allow_new_levels=True), "predict", **TOL["predict"])
    assert_close(md.predict(nd, re_form="~0"), m.predict(nd, re_form="~0"), "predict pandas", **TOL["predict"])
    assert_close(md.predict().compute().to_numpy(), m.predict(), "predict()", **TOL["predict"])
    with pytest.raises(DataError, match="allow_new_levels|new levels|not in the fit"):
        md.predict(newdata=dd.from_pandas(nd, npartitions=2)).compute()


def test_empty_partitions_and_a_level_in_one_partition(client):
    d = load_fixture_data("sleepstudy").reset_index(drop=True)
    d = d[d["Subject"].astype(str) != "309"]
    only = load_fixture_data("sleepstudy").reset_index(drop=True)
    only = only[only["Subject"].astype(str) == "309"].iloc[:4]       # 309 in the last partition only
    d = pd.concat([d, only], ignore_index=True)
    ddf = dd.from_pandas(d, npartitions=5)
    lo, hi = ddf.divisions[1], ddf.divisions[2]
    ddf = ddf.map_partitions(lambda p: p[np.asarray((p.index < lo) | (p.index >= hi))])
    assert 0 in ddf.map_partitions(len).compute().tolist()
    keep = np.asarray((d.index < lo) | (d.index >= hi))
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", d.loc[keep])
    md = mc.lmer("Reaction ~ Days + (Days | Subject)", ddf)
    assert str(md.summary()) == str(m.summary())


# ------------------------------------------------------------------ after the fit
def test_likelihood_ratio_anova_refits_ml_on_the_partitions(client):
    d = load_fixture_data("sleepstudy")
    ddf = dd.from_pandas(d, npartitions=3)
    big, small = (mc.lmer("Reaction ~ Days + (Days | Subject)", x) for x in (d, ddf))
    big0, small0 = (mc.lmer("Reaction ~ Days + (1 | Subject)", x) for x in (d, ddf))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, ref = str(mc.anova(small, small0)), str(mc.anova(big, big0))
    assert ours == ref


def test_satterthwaite_summary_profile_and_wald(client):
    d = load_fixture_data("Dyestuff")
    m = mc.lmer("Yield ~ 1 + (1 | Batch)", d)
    md = mc.lmer("Yield ~ 1 + (1 | Batch)", dd.from_pandas(d, npartitions=2))
    assert str(mc.summary(md, ddf="Satterthwaite")) == str(mc.summary(m, ddf="Satterthwaite"))
    wald, wald0 = md.confint(method="Wald"), m.confint(method="Wald")
    assert wald.index.tolist() == wald0.index.tolist()
    assert_close(wald.dropna().to_numpy(), wald0.dropna().to_numpy(), "Wald", **TOL["partitioned_at_theta"])
    assert_close(md.confint().to_numpy(), m.confint().to_numpy(), "profile", **TOL["profile_ci"])
    at = _in_memory_at_theta(md, d)
    re, re0 = md.ranef()["Batch"], at.ranef()["Batch"]
    assert_close(re.to_numpy(), re0.to_numpy(), "ranef", **TOL["partitioned_at_theta"])
    assert_close(re.attrs["postVar"], re0.attrs["postVar"], "postVar", **TOL["partitioned_at_theta"])


def test_what_needs_the_rows_is_refused_by_name(client):
    d = load_fixture_data("sleepstudy")
    md = mc.lmer("Reaction ~ Days + (Days | Subject)", dd.from_pandas(d, npartitions=3))
    md0 = mc.lmer("Reaction ~ Days + (1 | Subject)", dd.from_pandas(d, npartitions=3))
    calls = {
        "bootMer": lambda: mc.bootMer(md, lambda x: x.fixef(), nsim=2),
        "PBmodcomp": lambda: mc.PBmodcomp(md, md0, nsim=2),
        "simulate": lambda: md.simulate(),
        "refit": lambda: md.refit(np.zeros(180)),
        "cross_validate": lambda: mc.cross_validate(md),
        "anova": lambda: mc.anova(md),
        "Kenward-Roger": lambda: str(mc.summary(md, ddf="Kenward-Roger")),
    }
    for name, call in calls.items():
        with pytest.raises(DataError, match=rf"{name}\(\) needs the rows of the data in memory"):
            call()
    with pytest.raises(DataError, match=r"getME\('X'\) has one row per observation"):
        md.getME("X")
    with pytest.raises(DataError, match="subset= of a fit on a Dask DataFrame"):
        mc.lmer("Reaction ~ Days + (1 | Subject)", dd.from_pandas(d, npartitions=2), subset="Days > 2")
    with pytest.raises(TypeError, match="split_every and memory are for Dask data"):
        mc.lmer("Reaction ~ Days + (1 | Subject)", d, memory=10)


def test_pickled_without_the_data(client):
    d = load_fixture_data("sleepstudy")
    md = mc.lmer("Reaction ~ Days + (Days | Subject)", dd.from_pandas(d, npartitions=3))
    back = pickle.loads(pickle.dumps(md))
    assert back.data is None and back.nobs == 180
    assert_close(back.predict(d.iloc[:5]), md.predict(d.iloc[:5]), "predict after pickling", **TOL["predict"])


# ------------------------------------------------------------------ lme4's checks from the sums
def test_scale_warning_from_column_moments(client):
    d = load_fixture_data("sim_main").assign(xb=lambda t: 1e5 * t["x"])
    with pytest.warns(ScaleWarning, match="very different scales"):
        m = mc.lmer("y ~ xb + z + (1 | g)", d)
    with pytest.warns(ScaleWarning, match="very different scales"):
        md = mc.lmer("y ~ xb + z + (1 | g)", dd.from_pandas(d, npartitions=3))
    assert md.optinfo["fit_warnings"] == m.optinfo["fit_warnings"]
    assert str(md.summary()) == str(m.summary())


def test_crossed_block_too_large_is_refused_up_front(client):
    rng = np.random.default_rng(5)
    n = 6000
    d = pd.DataFrame({"g": rng.integers(0, 400, n), "h": rng.integers(0, 300, n)})
    d["y"] = rng.normal(size=400)[d["g"]] + rng.normal(size=300)[d["h"]] + rng.normal(size=n)
    d[["g", "h"]] = d[["g", "h"]].astype(str)
    with pytest.raises(DataError, match=r"\(1 \| h\) is crossed with the first grouping factor: its 300 columns "
                                        r"form a dense 300 x 300 block .* GiB .* each evaluation of the criterion "
                                        r"would take about"):
        mc.lmer("y ~ 1 + (1 | g) + (1 | h)", dd.from_pandas(d, npartitions=3), memory=10_000)
    md = mc.lmer("y ~ 1 + (1 | g) + (1 | h)", dd.from_pandas(d, npartitions=3))
    m = mc.lmer("y ~ 1 + (1 | g) + (1 | h)", d)
    check_criterion(md.REMLcrit(), m.REMLcrit(), "crossed")
