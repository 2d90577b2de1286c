"""lmList and anova(m, L =) against a live R session (rpy2) on random designs.

Marked ``r``: conftest skips them with the reason when R or rpy2 is missing.  The designs (hypothesis)
vary the number and size of groups (down to one row: rank-deficient fits with NA coefficients), factor
covariates (a group with a single level: a failed fit; groups seeing different levels: coefficient
columns in order of first appearance), both packages and pooling; for
anova, a random linear combination ``L`` of an lme fit's coefficients.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixedcompat as mc
from helpers import TOL, assert_close

pytestmark = pytest.mark.r

_R_LMLIST = r"""
function(d, formula, package, pool) {
    suppressPackageStartupMessages({library(nlme); library(lme4)})
    f <- as.formula(formula)
    fl <- suppressWarnings(if (package == "lme4") lme4::lmList(f, d, pool = pool)
                           else nlme::lmList(f, d, pool = pool))
    cf <- coef(fl)
    if (!is.data.frame(cf)) return(list(all_failed = TRUE))
    sm <- tryCatch(coef(summary(fl)), error = function(e) e)
    if (inherits(sm, "error")) return(list(error = conditionMessage(sm), groups = rownames(cf)))
    psd <- tryCatch(nlme::pooledSD(fl), error = function(e) NULL)
    list(groups = rownames(cf), names = colnames(cf), coef = as.vector(as.matrix(cf)),
         se = as.vector(sm[, "Std. Error", ]), summary_names = dimnames(sm)[[3]], pooled = if (is.null(psd)) numeric(0) else c(c(psd), attr(psd, "df")))
}
"""

_R_ANOVA_L = r"""
function(d, L) {
    suppressPackageStartupMessages(library(nlme))
    m <- lme(y ~ x * f, d, random = ~ 1 | g)
    names(L) <- names(fixef(m))
    a <- anova(m, L = L)
    list(F = a[["F-value"]], p = a[["p-value"]], numDF = a$numDF, denDF = a$denDF)
}
"""


def _r(code: str):
    from rlive import robjects
    ro = robjects()
    return ro.r(code)


@st.composite
def designs(draw):
    n_groups = draw(st.integers(3, 8))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    sizes = [draw(st.integers(1, 7)) for _ in range(n_groups)]
    g = np.repeat([f"s{i:02d}" for i in range(n_groups)], sizes)
    n = len(g)
    x = np.round(rng.normal(size=n), 3)
    f = rng.choice(["a", "b"], size=n)
    y = np.round(1 + 0.5 * x + (f == "b") + rng.normal(size=n), 3)
    h = rng.choice(["p", "q", "r"], size=n, p=[0.5, 0.3, 0.2])      # groups see some of its levels
    d = pd.DataFrame({"y": y, "x": x, "f": pd.Categorical(f, categories=["a", "b"]),
                      "h": pd.Categorical(h, categories=["p", "q", "r"]), "g": pd.Categorical(g)})
    formula = draw(st.sampled_from(["y ~ x | g", "y ~ x + f | g", "y ~ 1 | g", "y ~ x + I(x^2) | g",
                                    "y ~ h | g", "y ~ x * f | g"]))
    return d, formula, draw(st.sampled_from(["lme4", "nlme"])), draw(st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_lmlist_on_random_designs_as_r(design):
    from rlive import _py, to_r_frame
    d, formula, package, pool = design
    r = _py(_r(_R_LMLIST)(to_r_frame(d), formula, package, pool))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fl = mc.lmList(formula, d, package=package, pool=pool)
    if r.get("all_failed"):               # every group's fit failed: no coefficient at all
        assert fl.coef().shape[1] == 0
        return
    assert fl.groups == r["groups"]
    if r.get("error"):                    # summary fails in R (no pooled degrees of freedom)
        with pytest.raises(mc.DataError, match="(?i)no degrees of freedom"):
            fl.summary()
        return
    c = fl.coef()
    assert list(c.columns) == r["names"]
    theirs = np.array([np.nan if v is None else v for v in r["coef"]], float).reshape(c.shape, order="F")
    assert_close(c.to_numpy(), theirs, "coef", **TOL["lmlist"])
    if r["pooled"]:
        sd, df = fl.pooled_sd()
        assert df == r["pooled"][1]
        assert_close(sd, r["pooled"][0], "pooled SD", **TOL["lmlist"])
    s = fl.summary()
    se = np.column_stack([tab["Std. Error"].to_numpy() for tab in s.coefficients.values()])
    r_se = np.array([np.nan if v is None else v for v in r["se"]], float).reshape(se.shape, order="F")
    assert list(s.coefficients) == r["summary_names"]
    assert_close(se, r_se, "summary SE", **TOL["lmlist"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2 ** 31 - 1), st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]), min_size=4, max_size=4))
def test_anova_L_on_random_fits_as_r(seed, L):
    from rlive import _py, to_r_frame
    if not any(L):
        L[1] = 1.0
    rng = np.random.default_rng(seed)
    n_g, per = 12, 5
    g = np.repeat([f"g{i:02d}" for i in range(n_g)], per)
    x = np.round(rng.normal(size=n_g * per), 3)
    f = np.where(rng.random(n_g * per) < 0.5, "a", "b")
    u = rng.normal(size=n_g)[np.repeat(np.arange(n_g), per)]
    y = np.round(2 + x + (f == "b") + u + rng.normal(size=n_g * per), 3)
    d = pd.DataFrame({"y": y, "x": x, "f": pd.Categorical(f, categories=["a", "b"]), "g": pd.Categorical(g)})
    from rlive import robjects
    ro = robjects()
    try:
        r = _py(_r(_R_ANOVA_L)(to_r_frame(d), ro.FloatVector(L)))
    except Exception as exc:          # R refuses (coefficients of different denominator df)
        m = mc.lme("y ~ x * f", d, random="~ 1 | g")
        with pytest.raises(mc.DataError, match="same denominator DF"):
            mc.anova(m, L=dict(zip(m.x_names, L)))
        assert "denominator DF" in str(exc)
        return
    m = mc.lme("y ~ x * f", d, random="~ 1 | g")
    a = mc.anova(m, L=dict(zip(m.x_names, L)))
    assert a["numDF"].tolist() == [int(r["numDF"][0])] and a["denDF"].tolist() == r["denDF"]
    assert_close(a["F-value"].to_numpy(), r["F"], "F", **TOL["nlme_anova_F"])
    assert_close(a["p-value"].to_numpy(), r["p"], "p", **TOL["nlme_anova_F"])
