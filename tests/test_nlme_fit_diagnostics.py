"""mc.ACF(m) / mc.Variogram(m) end to end: our fit's residuals through nlme's rules, against nlme's output
for the same models (tests/fixtures/gen_nlme_diag.R). Residuals agree with nlme's to ~1e-6, so the
tables are compared at rtol 1e-4; pair counts and lags exactly."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import FIXTURES, TOL

DIAG = FIXTURES / "nlme_diag"


def _fx(name):
    with open(DIAG / f"{name}.json") as fh:
        return json.load(fh)


def _default_acf(fx, max_lag=None):
    for a in fx["acf"]:
        if a["args"]["maxLag"] == max_lag and a["args"]["resType"] == "pearson":
            return a
    raise LookupError(max_lag)


@pytest.fixture(scope="module")
def ovary_lme():
    d = mc.datasets.load("Ovary")
    return mc.lme("follicles ~ sin(2*pi*Time) + cos(2*pi*Time)", d, random={"Mare": mc.pdDiag("~ sin(2*pi*Time)")},
                  correlation=mc.corAR1(form="~ 1 | Mare"))


@pytest.fixture(scope="module")
def bodyweight():
    return mc.lme("weight ~ Time * Diet", mc.datasets.load("BodyWeight"), random="~ Time | Rat",
                  weights=mc.varPower())


@pytest.fixture(scope="module")
def spatial():
    d = pd.read_csv(DIAG / "spatial_sim.csv")
    d["g"] = pd.Categorical(d["g"])
    return mc.gls("resp ~ z", d, correlation=mc.corExp(form="~ x + y | g", nugget=True))


def _check_acf(ours, r):
    np.testing.assert_array_equal(ours["lag"].to_numpy(), np.asarray(r["lag"]))
    np.testing.assert_allclose(ours["ACF"].to_numpy(), np.asarray(r["ACF"], float), **TOL["nlme_acf"])


def test_acf_lme_ovary(ovary_lme):
    _check_acf(mc.ACF(ovary_lme), _default_acf(_fx("ovary_lme_ar1")))


def test_acf_gls_ovary():
    d = mc.datasets.load("Ovary")
    m = mc.gls("follicles ~ sin(2*pi*Time) + cos(2*pi*Time)", d, correlation=mc.corAR1(form="~ 1 | Mare"))
    _check_acf(mc.ACF(m), _default_acf(_fx("ovary_gls_ar1")))


@pytest.mark.parametrize("max_lag", [None, 3])
def test_acf_lme_bodyweight(bodyweight, max_lag):
    _check_acf(mc.ACF(bodyweight, maxLag=max_lag), _default_acf(_fx("bodyweight_lme_varpower"), max_lag))


def _variog(fx, **want):
    for v in fx["variogram"]:
        if all(v["args"].get(k) == w for k, w in want.items()):
            return v
    raise LookupError(want)


def _check_variog(ours, r):
    np.testing.assert_array_equal(ours["n.pairs"].to_numpy(), np.asarray(r["n_pairs"]))
    np.testing.assert_allclose(ours["dist"].to_numpy(), np.asarray(r["dist"], float), **TOL["nlme_distances"])
    np.testing.assert_allclose(ours["variog"].to_numpy(), np.asarray(r["variog"], float), **TOL["nlme_variogram"])


@pytest.mark.parametrize("robust", [False, True])
def test_variogram_lme_bodyweight(bodyweight, robust):
    r = _variog(_fx("bodyweight_lme_varpower"), form="~Time | Rat", robust=robust, nint=20, resType="pearson")
    _check_variog(mc.Variogram(bodyweight, form="~ Time | Rat", robust=robust), r)


def test_variogram_spatial_gls_with_model_curve(spatial):
    r = _variog(_fx("spatial_gls_exp"), form=None, robust=False, nint=20, resType="pearson", maxDist=None,
                metric="euclidean")
    ours = mc.Variogram(spatial)
    _check_variog(ours, r)
    model = ours.attrs["model"]
    np.testing.assert_allclose(model["dist"].to_numpy(), np.asarray(r["model"]["dist"], float), **TOL["nlme_distances"])
    np.testing.assert_allclose(model["variog"].to_numpy(), np.asarray(r["model"]["variog"], float),
                               **TOL["nlme_variogram_model"])


def test_variogram_bad_form(spatial):
    with pytest.raises(mc.DataError, match="nosuch"):
        mc.Variogram(spatial, form="~ nosuch")


def test_plots_render(ovary_lme, spatial):
    pytest.importorskip("matplotlib")
    ax = ovary_lme.plot_ACF(maxLag=6)
    segments = sum(len(c.get_segments()) for c in ax.collections if hasattr(c, "get_segments"))
    assert segments == 7 and len(ax.lines) >= 2                          # a bar per lag 0..6 + bounds
    ax = spatial.plot_Variogram()
    xs = np.concatenate([np.asarray(c.get_offsets())[:, 0] for c in ax.collections if len(c.get_offsets())] +
                        [ln.get_xdata() for ln in ax.lines])
    assert len(xs) >= len(mc.Variogram(spatial)) + 50                    # points + the model's 50-point curve
    ax = ovary_lme.plot_residuals_by_group()
    assert len(ax.get_yticklabels()) + len(ax.get_xticklabels()) >= 11     # one box per mare


def test_residuals_by_group_needs_groups():
    m = mc.gls("distance ~ age", mc.datasets.load("Orthodont"))
    with pytest.raises(mc.DataError, match="groups"):
        m.plot_residuals_by_group()
