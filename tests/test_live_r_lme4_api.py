"""Live comparison with lme4 of its small API on fits (mixedcompat.lme4.api): random designs fitted here
and in R (through rpy2) -- model.frame's printed names, terms, extractAIC, model.matrix, hatvalues and
cooks.distance -- over the class of lmer models the fixtures sample: one or two grouping factors
(nested or crossed), random intercepts / slopes / ``||`` terms, transformed covariates (``log``,
``poly``, ``I()``), a factor covariate, prior weights and an offset, REML or ML.  Hat values and Cook's
distances are compared at R's theta (helpers' rule).  Marked ``r``: skipped without R / rpy2.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixedcompat as mc
from helpers import TOL, assert_close, at_theta

pytestmark = pytest.mark.r

FIXED = ("x", "log(z)", "poly(x, 2)", "x + f", "I(x^2) + z", "x * f")
RANDOM = ("(1 | g)", "(x | g)", "(x || g)", "(1 | g) + (1 | h)", "(1 | g/h)")

_R_API = """
function(df, formula, REML, use_w, use_off) {
  args <- list(formula = as.formula(formula), data = df, REML = REML)
  if (use_w) args$weights <- df$w
  if (use_off) args$offset <- df$off
  m <- suppressMessages(suppressWarnings(do.call(lmer, args)))
  tt <- terms(m); tf <- terms(m, fixed.only = FALSE)
  list(theta = unname(getME(m, "theta")), names = names(format(model.frame(m))),
       fixed_names = names(format(model.frame(m, fixed.only = TRUE))),
       terms = paste(deparse(formula(tt), width.cutoff = 500L), collapse = " "),
       labels = attr(tt, "term.labels"),
       terms_full = paste(deparse(formula(tf), width.cutoff = 500L), collapse = " "),
       labels_full = attr(tf, "term.labels"),
       aic = extractAIC(m), X = colnames(model.matrix(m)), Zdim = dim(model.matrix(m, type = "random")),
       raw = names(model.matrix(m, type = "randomListRaw")),
       hat = unname(hatvalues(m)), cooks = unname(cooks.distance(m)))
}
"""


def _r_api(df, formula, REML, weights, offset):
    from rlive import _py, robjects, to_r_frame
    ro = robjects()
    fn = ro.r(_R_API)
    return _py(fn(to_r_frame(df), formula, REML, weights, offset))


def _data(seed: int, n_g: int, per: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_g * per
    g = np.repeat(np.arange(n_g), per)
    h = rng.integers(0, 3, n)
    x = rng.uniform(0, 10, n)
    z = rng.uniform(0.5, 5, n)
    f = rng.integers(0, 3, n)
    y = 2 + 0.5 * x + rng.normal(0, 1.5, n_g)[g] + rng.normal(0, 0.2, n_g)[g] * x + rng.normal(0, 1, n)
    return pd.DataFrame({
        "y": y, "x": np.round(x, 3), "z": np.round(z, 3),
        "f": pd.Categorical.from_codes(f, categories=["a", "b", "c"]),
        "g": pd.Categorical.from_codes(g, categories=[f"g{i:02d}" for i in range(n_g)]),
        "h": pd.Categorical.from_codes(h, categories=["h1", "h2", "h3"]),
        "w": np.round(rng.uniform(0.5, 2, n), 3), "off": np.round(rng.normal(0, 0.5, n), 3)})


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), fixed=st.sampled_from(FIXED), random=st.sampled_from(RANDOM),
       REML=st.booleans(), weights=st.booleans(), offset=st.booleans(), n_g=st.integers(6, 12))
def test_lme4_api_against_r(seed, fixed, random, REML, weights, offset, n_g):
    df = _data(seed, n_g, 8)
    formula = f"y ~ {fixed} + {random}"
    r = _r_api(df, formula, REML, weights, offset)
    kw = dict(REML=REML, weights="w" if weights else None, offset="off" if offset else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(formula, df, **kw)
        at_r = mc.lmer(formula, df, control=at_theta(r["theta"]), **kw)     # hat values at R's theta, always
    assert list(mc.model_frame(m).columns) == r["names"]
    assert list(mc.model_frame(m, fixed_only=True).columns) == r["fixed_names"]
    t, tf = mc.terms(m), mc.terms(m, fixed_only=False)
    assert (str(t), t.term_labels) == (r["terms"][0], r["labels"] or [])
    assert (str(tf), tf.term_labels) == (r["terms_full"][0], r["labels_full"] or [])
    assert list(mc.model_matrix(m).columns) == r["X"]
    assert list(mc.model_matrix(m, type="random").shape) == [int(v) for v in r["Zdim"]]
    assert list(mc.model_matrix(m, type="randomListRaw")) == r["raw"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aic = mc.extractAIC(m)
    assert aic[0] == r["aic"][0]
    assert aic[1] <= r["aic"][1] + abs(r["aic"][1]) * TOL["criterion_above"]["rtol"] or \
        np.isclose(aic[1], r["aic"][1], **TOL["AIC"])
    assert_close(mc.hatvalues(at_r), r["hat"], "hatvalues", **TOL["hat_at_r_theta"])
    assert_close(mc.cooks_distance(at_r), r["cooks"], "cooks.distance", **TOL["hat_at_r_theta"])
