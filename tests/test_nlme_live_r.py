"""mc.lme / mc.gls against a live nlme session (rpy2): every fixture model, and random AR(1) panels.

Marked ``r``: conftest skips them with the reason when R or rpy2 is missing; ``.ci/run`` installs R.
The fixture models are refitted in R from their ``r_call`` (so a stale fixture file cannot hide a
difference); the random panels (hypothesis) vary the number and size of groups, gaps in the time
covariate, a varIdent stratum and REML / ML.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixedcompat as mc
from helpers import TOL, load_fixture_data
from nlme_fixtures import fit_input, load, nlme_fixture_paths
from test_nlme_fixtures import WEAKLY_IDENTIFIED

pytestmark = pytest.mark.r

_R_SUMMARY = r"""
function(m) {
    cs <- m$modelStruct$corStruct; vs <- m$modelStruct$varStruct
    list(logLik = as.numeric(logLik(m)), fixef = unname(if (inherits(m, "lme")) fixef(m) else coef(m)),
         sigma = m$sigma,
         cor = if (is.null(cs)) numeric(0) else unname(coef(cs, unconstrained = FALSE)),
         var = if (is.null(vs)) numeric(0) else unname(coef(vs, unconstrained = FALSE)))
}
"""


def _r():
    from rlive import robjects
    ro = robjects()
    ro.r("suppressPackageStartupMessages(library(nlme))")
    return ro


def _summary_in_r(call: str, data: pd.DataFrame, name: str) -> dict:
    from rlive import _py, to_r_frame
    ro = _r()
    ro.globalenv[name] = to_r_frame(data)
    fit = ro.r(f"nlme::{call}" if not call.startswith("nlme::") else call)
    return _py(ro.r(_R_SUMMARY)(fit))


def _compare(m, r: dict) -> None:
    ll = float(m.logLik())
    if ll < r["logLik"][0]:
        np.testing.assert_allclose(ll, r["logLik"][0], **TOL["nlme_logLik"])
    np.testing.assert_allclose(m.fixef().to_numpy(), r["fixef"], rtol=TOL["nlme_coef"]["rtol"],
                               atol=TOL["nlme_coef_floor"]["atol"] * np.sqrt(np.diag(m.vcov().to_numpy())).max())
    np.testing.assert_allclose(m.sigma(), r["sigma"][0], **TOL["nlme_params"])
    if r["cor"]:
        np.testing.assert_allclose(m.cor_params, r["cor"], rtol=TOL["nlme_params"]["rtol"],
                                   atol=TOL["nlme_params_floor"]["atol"])
    if r["var"]:
        np.testing.assert_allclose(list(m.var_params.values()), r["var"], rtol=TOL["nlme_params"]["rtol"],
                                   atol=TOL["nlme_params_floor"]["atol"])


PATHS = nlme_fixture_paths()


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_fixture_model_live(path):
    fx = load(path)
    inp = fx["input"]
    data = load_fixture_data(inp["data"])
    r = _summary_in_r(inp["r_call"], data, inp["data"])
    m = fit_input(inp)
    if path.stem in WEAKLY_IDENTIFIED:     # no unique optimum: the likelihood only (ours may be higher)
        assert float(m.logLik()) >= r["logLik"][0] - TOL["nlme_logLik"]["rtol"] * abs(r["logLik"][0])
        return
    _compare(m, r)


@st.composite
def panels(draw):
    n_groups = draw(st.integers(6, 14))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        size = int(rng.integers(4, 11))
        times = np.sort(rng.choice(np.arange(1, 15), size=size, replace=False)) if draw(st.booleans()) \
            else np.arange(1, size + 1)
        for t in times:
            rows.append((f"g{g:02d}", int(t)))
    d = pd.DataFrame(rows, columns=["g", "t"])
    n = len(d)
    phi = draw(st.floats(-0.5, 0.8))
    e = np.empty(n)
    for _, idx in d.groupby("g").indices.items():
        prev, tprev = None, None
        for i in idx:
            t = d.loc[i, "t"]
            if prev is None:
                e[i] = rng.normal()
            else:
                r = phi ** (t - tprev)
                e[i] = r * prev + np.sqrt(1 - r * r) * rng.normal()
            prev, tprev = e[i], t
    d["arm"] = np.where(d["g"].str[-1].astype(int) % 2 == 0, "A", "B")
    scale = np.where(d["arm"] == "A", 1.0, draw(st.floats(0.5, 2.0)))
    b = rng.normal(0, draw(st.floats(0.3, 2.0)), n_groups)
    d["x"] = rng.normal(size=n)
    d["y"] = 2 + 0.5 * d["x"] + 0.1 * d["t"] + b[d["g"].str[1:].astype(int)] + scale * e
    d["g"] = pd.Categorical(d["g"])
    d["arm"] = pd.Categorical(d["arm"])
    return d, draw(st.booleans()), draw(st.sampled_from(["REML", "ML"]))


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(panels())
def test_random_ar1_panels_match_nlme(case):
    d, with_varident, method = case
    weights = mc.varIdent(form="~ 1 | arm") if with_varident else None
    m = mc.lme("y ~ x + t", d, random="~ 1 | g", correlation=mc.corAR1(form="~ t | g"), weights=weights,
               method=method)
    call = ('lme(y ~ x + t, data = panel, random = ~ 1 | g, correlation = corAR1(form = ~ t | g)'
            + (', weights = varIdent(form = ~ 1 | arm)' if with_varident else '') + f', method = "{method}")')
    r = _summary_in_r(call, d, "panel")
    _compare(m, r)


def test_nested_levels_with_many_groups_match_nlme():
    """Three-level nesting with 100 outer and 500 inner groups (the block-by-outermost-group path)."""
    rng = np.random.default_rng(11)
    S, C, N = 100, 5, 6
    school = np.repeat(np.arange(S), C * N)
    klass = np.repeat(np.arange(S * C), N)
    x = rng.normal(size=S * C * N)
    y = 1 + 0.5 * x + rng.normal(0, 1.0, S)[school] + rng.normal(0, 0.7, S * C)[klass] + rng.normal(size=len(x))
    d = pd.DataFrame({"y": y, "x": x, "school": pd.Categorical(school.astype(str)),
                      "klass": pd.Categorical((klass % C).astype(str)), "t": np.tile(np.arange(1, N + 1), S * C)})
    m = mc.lme("y ~ x", d, random="~ 1 | school/klass", correlation=mc.corAR1(form="~ t | school/klass"))
    r = _summary_in_r("lme(y ~ x, data = nested, random = ~ 1 | school/klass, "
                      "correlation = corAR1(form = ~ t | school/klass))", d, "nested")
    _compare(m, r)
