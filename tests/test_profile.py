"""profile() / confint() against lme4's (tests/fixtures/profile/*.json from gen_profile.R)."""
from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import TOL, fixture_paths, load_fixture, load_fixture_data, model_at_r_theta
from mixedcompat.inference.intervals import percent_labels, percentile_interval
from mixedcompat.inference.profile import plot_profile, profile_zeta

PATHS = fixture_paths("profile")
IDS = [p.stem for p in PATHS]
CI_RTOL = TOL["profile_ci"]["rtol"]
CI_FLOOR = TOL["profile_ci_floor"]["atol"]
_FITS: dict = {}


def _fit(path):
    if path not in _FITS:
        fx = load_fixture(path)
        inp = fx["input"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mc.lmer(inp["formula"], load_fixture_data(inp["data"]), REML=inp["REML"])
        _FITS[path] = (fx, m)
    return _FITS[path]


def _expected(ci: dict) -> pd.DataFrame:
    vals = np.array([[np.nan if v is None else v for v in ci["lower"]],
                     [np.nan if v is None else v for v in ci["upper"]]], dtype=float).T
    return pd.DataFrame(vals, index=ci["rows"], columns=ci["columns"])


def _compare(got: pd.DataFrame, exp: pd.DataFrame, rtol: float, atol: float = 0.0) -> None:
    assert list(got.index) == list(exp.index)
    assert list(got.columns) == list(exp.columns)
    np.testing.assert_allclose(got.to_numpy(), exp.to_numpy(), rtol=rtol, atol=atol, equal_nan=True)


def test_fixtures_present():
    assert len(PATHS) >= 6, "run Rscript tests/fixtures/gen_profile.R from the repository root"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_confint_profile(path):
    fx, m = _fit(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pr = mc.profile(m)
    # bounds at 0 (singular fits: the profile stops at the boundary) compare absolutely
    _compare(pr.confint(), _expected(fx["confint_profile"]), rtol=CI_RTOL, atol=CI_FLOOR)
    _compare(mc.confint(pr), _expected(fx["confint_profile"]), rtol=CI_RTOL, atol=CI_FLOOR)   # confint(profile(m))
    _compare(pr.confint(level=0.9), _expected(fx["confint_profile_90"]), rtol=CI_RTOL, atol=CI_FLOOR)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_confint_wald(path):
    fx, m = _fit(path)
    # fixef and SEs follow from theta: at R's theta if the optimisers parted (conftest's rule)
    inp = fx["input"]
    m = model_at_r_theta(m, fx["theta"], lambda control: mc.lmer(inp["formula"], load_fixture_data(inp["data"]),
                                                                 REML=inp["REML"], control=control))
    _compare(mc.confint(m, method="Wald"), _expected(fx["confint_wald"]), **TOL["wald_ci"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_profile_points(path):
    """zeta at R's profile points of one parameter (our own zeta function, no stepping involved)."""
    fx, m = _fit(path)
    name = fx["profile_param"]
    pts = fx["profile_points"]
    values = np.array(pts["value"], dtype=float)
    zeta_r = np.array([np.nan if z is None else z for z in pts["zeta"]], dtype=float)
    ok = np.isfinite(zeta_r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zeta = profile_zeta(m, name, values[ok])
    # R's profile of a REML fit keeps the fit's own estimate as its zeta = 0 row: compare elsewhere
    keep = np.abs(zeta_r[ok]) > 0
    np.testing.assert_allclose(zeta[keep], zeta_r[ok][keep], **TOL["profile_zeta"])


def test_confint_profile_one_call_matches_fixture():
    path = next(p for p in PATHS if p.stem == "sleepstudy_reml")
    fx, m = _fit(path)
    got = mc.confint(m, parm=["Days", ".sig02"])
    exp = _expected(fx["confint_profile"]).loc[["Days", ".sig02"]]
    _compare(got, exp, rtol=CI_RTOL)


def test_profile_object():
    path = next(p for p in PATHS if p.stem == "dyestuff")
    fx, m = _fit(path)
    pr = mc.profile(m)
    assert pr.params == [".sig01", ".sigma", "(Intercept)"]
    pts = pr.points(".sig01")
    assert list(pts.columns) == ["value", "zeta"]
    assert np.all(np.diff(pts["value"]) > 0) and np.all(np.diff(pts["zeta"]) > 0)
    assert len(pr[".sig01"]) == fx["profile_rows"][".sig01"]
    long = pr.to_frame()
    assert {".zeta", ".par", ".focal"} <= set(long.columns)
    assert len(long) == sum(fx["profile_rows"].values())


def test_old_names_false():
    path = next(p for p in PATHS if p.stem == "sleepstudy_reml")
    _, m = _fit(path)
    ci = mc.confint(m, method="Wald", oldNames=False)
    assert list(ci.index) == ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject", "sd_Days|Subject",
                              "sigma", "(Intercept)", "Days"]


def test_percent_labels():
    assert percent_labels(0.95) == ["2.5 %", "97.5 %"]
    assert percent_labels(0.9) == ["5 %", "95 %"]
    assert percent_labels(0.999) == ["0.05 %", "99.95 %"]


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.2, "high"])
def test_bad_level(level):
    _, m = _fit(PATHS[0])
    with pytest.raises(ValueError, match="level"):
        mc.confint(m, level=level, method="Wald")


def test_bad_method_and_parm():
    _, m = _fit(PATHS[0])
    with pytest.raises(ValueError, match="unknown method"):
        mc.confint(m, method="bayes")
    with pytest.raises(ValueError, match="unknown parameter"):
        mc.confint(m, parm="nope", method="Wald")


def test_singular_fit_profile_stops_at_zero():
    """lme4 profiles a variance parameter estimated at 0 upwards only; its lower bound is 0."""
    path = next(p for p in PATHS if p.stem == "dyestuff2_singular")
    _, m = _fit(path)
    ci = mc.confint(m, parm=".sig01")
    assert ci.iloc[0, 0] == 0.0
    pts = mc.profile(m, which=".sig01").points(".sig01")
    assert pts["value"].min() == 0.0 and pts["zeta"].min() == 0.0


def test_percentile_interval_matches_boot():
    # boot::norm.inter: integer order statistics, else interpolation on the normal scale
    np.testing.assert_allclose(percentile_interval(np.arange(1.0, 100.0), 0.9), [5.0, 95.0])
    t = np.arange(1.0, 11.0)
    lo, hi = percentile_interval(t, 0.9)
    assert lo == 1.0 and hi == 10.0   # extreme order statistics when (R + 1) alpha < 1


@pytest.mark.skipif(importlib.util.find_spec("mixedcompat.inference.bootstrap") is None,
                    reason="mixedcompat.inference.bootstrap (bootMer) is not available yet")
def test_confint_boot():
    path = next(p for p in PATHS if p.stem == "dyestuff")
    fx, m = _fit(path)
    ci = mc.confint(m, method="boot", nsim=50, seed=1)
    assert list(ci.index) == fx["confint_profile"]["rows"]
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    assert np.all(ci.iloc[:, 0] <= ci.iloc[:, 1])


def test_plot_profile_renders(tmp_path):
    pytest.importorskip("matplotlib")
    path = next(p for p in PATHS if p.stem == "sleepstudy_reml")
    _, m = _fit(path)
    fig = plot_profile(mc.profile(m))
    assert len(fig.axes) == 6
    out = tmp_path / "profile.png"
    fig.savefig(out)
    assert out.stat().st_size > 1000


def test_confint_boot_branch_against_bootmer_signature(monkeypatch):
    """The boot branch with a stand-in bootMer of the agreed signature (.t0 Series, .t nsim x k)."""
    import types
    calls = {}

    def fake_bootMer(m, FUN, nsim=1, seed=None, use_u=False, type="parametric", parallel=None,  # noqa: A002
                     progress=False):
        calls.update(nsim=nsim, seed=seed, progress=progress)
        t0 = FUN(m)
        rng = np.random.default_rng(seed)
        t = t0.to_numpy()[None, :] + rng.normal(size=(nsim, len(t0))) * np.abs(t0.to_numpy()) * 0.01
        return types.SimpleNamespace(t0=t0, t=t)

    import mixedcompat.inference.intervals as intervals
    monkeypatch.setattr(intervals, "bootMer", fake_bootMer)
    path = next(p for p in PATHS if p.stem == "sleepstudy_reml")
    _, m = _fit(path)
    ci = mc.confint(m, method="boot", nsim=99, seed=7, level=0.9)
    assert calls == {"nsim": 99, "seed": 7, "progress": False}
    assert list(ci.index) == [".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"]
    assert list(ci.columns) == ["5 %", "95 %"]
    est = np.concatenate([[24.74, 0.066, 5.92, 25.59], m.fixef().to_numpy()])
    assert np.all(ci.iloc[:, 0].to_numpy() < est) and np.all(est < ci.iloc[:, 1].to_numpy())
