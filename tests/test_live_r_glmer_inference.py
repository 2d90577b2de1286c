"""Inference on random binomial (Bernoulli and cbind) and Poisson glmer designs against live lme4
(rpy2): anova(m0, m1), drop1(m1, test = "Chisq"), confint(m1, method = "Wald"), and the moments of
simulate().  Property tests: hypothesis draws the designs (derandomized, a handful of examples)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

import mixedcompat as mc
from helpers import TOL, assert_close

pytestmark = pytest.mark.r

_R_INFER = r"""
function(d, f0, f1, family, use_cbind) {
    fam <- get(family, mode = "function")()
    ff <- function(f) suppressMessages(suppressWarnings(
        lme4::glmer(as.formula(f), data = d, family = fam)))
    m0 <- ff(f0); m1 <- ff(f1)
    a <- anova(m0, m1)
    dr <- suppressWarnings(drop1(m1, test = "Chisq"))
    ci <- confint(m1, method = "Wald")
    s <- simulate(m1, nsim = 2000, seed = 3)
    v <- sapply(s, function(col) if (is.matrix(col)) col[, 1] else col)
    list(dev = c(-2 * as.numeric(logLik(m0)), -2 * as.numeric(logLik(m1))),
         chisq = a$Chisq[2], df = a$Df[2], p = a[["Pr(>Chisq)"]][2], aic = a$AIC,
         drop_rows = rownames(dr), drop_lrt = dr$LRT, drop_aic = dr$AIC,
         ci_rows = rownames(ci), ci_lower = ci[, 1], ci_upper = ci[, 2],
         sim_mean = rowMeans(v), sim_var = apply(v, 1, var))
}
"""

_STATE: dict = {}


def _r_infer(df: pd.DataFrame, f0: str, f1: str, family: str, use_cbind: bool) -> dict:
    import rlive
    ro = rlive.robjects()
    if "fun" not in _STATE:
        _STATE["fun"] = ro.r(_R_INFER)
    out = rlive._py(_STATE["fun"](rlive.to_r_frame(df), f0, f1, family, use_cbind))
    return {k: (v if k in ("drop_rows", "ci_rows") else np.asarray(v, dtype=float)) for k, v in out.items()}


@st.composite
def designs(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    kind = draw(st.sampled_from(["bernoulli", "cbind", "poisson"]))
    n_groups = draw(st.integers(8, 20))
    per = draw(st.integers(4, 12))
    sd = draw(st.sampled_from([0.4, 0.8, 1.2]))
    return seed, kind, n_groups, per, sd


def _data(seed: int, kind: str, n_groups: int, per: int, sd: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_groups * per
    g = np.repeat(np.arange(n_groups), per)
    x = np.round(rng.standard_normal(n), 3)
    f = rng.integers(0, 3, n)
    eta = -0.2 + 0.6 * x + np.array([0.0, 0.5, -0.4])[f] + rng.normal(0, sd, n_groups)[g]
    d = pd.DataFrame({"g": pd.Categorical([f"g{i:02d}" for i in g]), "x": x,
                      "f": pd.Categorical(np.array(["a", "b", "c"])[f], categories=["a", "b", "c"])})
    if kind == "poisson":
        d["y"] = rng.poisson(np.exp(eta)).astype(float)
    elif kind == "bernoulli":
        d["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    else:
        size = rng.integers(1, 10, n)
        d["s"] = rng.binomial(size, 1 / (1 + np.exp(-eta))).astype(float)
        d["t"] = size.astype(float)
    return d


@settings(max_examples=5, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_glmer_inference_agrees_with_lme4(design):
    seed, kind, n_groups, per, sd = design
    d = _data(seed, kind, n_groups, per, sd)
    lhs = "cbind(s, t - s)" if kind == "cbind" else "y"
    family = "poisson" if kind == "poisson" else "binomial"
    f0, f1 = f"{lhs} ~ f + (1 | g)", f"{lhs} ~ x + f + (1 | g)"
    r = _r_infer(d, f0, f1, family, kind == "cbind")
    note(f"{kind} {n_groups}x{per} sd={sd}: R -2logL {r['dev']}")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = mc.glmer(f0, d, family=family)
        m1 = mc.glmer(f1, d, family=family)
        tab = mc.anova(m0, m1)
        dr = mc.drop1(m1, test="Chisq")
    ours = np.array([m0.criterion, m1.criterion])
    assert_close(ours, r["dev"], "-2 log L", **TOL["criterion"])
    # the tables: lme4's formulas on our criteria, which agree with R's at the criterion's tolerance
    assert_close(tab["AIC"], r["aic"], "anova AIC", **TOL["glmer_lrt"])
    assert_close(tab["Chisq"].iloc[1], r["chisq"][0], "anova Chisq", **TOL["glmer_lrt_chisq"])
    assert tab["Df"].iloc[1] == r["df"][0]
    assert list(dr.index) == r["drop_rows"]
    assert_close(dr["AIC"], r["drop_aic"], "drop1 AIC", **TOL["glmer_lrt"])
    assert_close(dr["LRT"], r["drop_lrt"], "drop1 LRT", **TOL["glmer_lrt_chisq"])
    ci = mc.confint(m1, method="Wald")
    assert list(ci.index) == r["ci_rows"]
    # centre (the estimate) and half-width (z times the SE), each at its own tolerance: a bound near 0 is
    # a difference of the two and carries the SE's absolute error
    lo, hi = ci.to_numpy(dtype=float).T
    se_r = (r["ci_upper"] - r["ci_lower"]) / 2
    ok = np.isfinite(se_r)
    assert_close((lo + hi)[ok] / 2, ((r["ci_lower"] + r["ci_upper"]) / 2)[ok], "Wald centre",
                 rtol=TOL["fixef"]["rtol"], atol=float(np.min(se_r[ok])) * TOL["fixef_floor"]["atol"])
    assert_close(((hi - lo) / 2)[ok], se_r[ok], "Wald half-width", **TOL["glmer_se"])
    assert np.all(np.isnan(lo[~ok]) & np.isnan(hi[~ok]))
    # simulate(): per-row means of 2000 draws against R's, by their Monte-Carlo error
    s = mc.simulate(m1, nsim=2000, seed=4)
    v = s.to_numpy()[:, 0::2] if isinstance(s.columns, pd.MultiIndex) else s.to_numpy()
    mean, var = v.mean(axis=1), v.var(axis=1, ddof=1)
    se = np.sqrt((var + r["sim_var"]) / 2000)
    z = np.abs(mean - r["sim_mean"]) / np.where(se > 0, se, np.inf)
    assert np.all(z <= TOL["simulate_mean_z"]["atol"]), f"largest z {z.max():.2f}"


_R_OPTIMIZE = r"""
function(a, b, c, lower, upper, tol) {
    seen <- numeric(0)
    f <- function(x) { seen <<- c(seen, x); (x - a)^2 + b * sin(c * x) }
    o <- optimize(f, c(lower, upper), tol = tol)
    list(seen = seen, minimum = o$minimum)
}
"""


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(a=st.floats(-2, 2), b=st.floats(0, 1.5), c=st.floats(0.5, 5), width=st.floats(1, 10),
       tol=st.sampled_from([5e-5, 1e-3, 1.220703125e-4, 1e-8]))
def test_brent_optimize_evaluates_rs_points(a, b, c, width, tol):
    """numerics.brent.optimize evaluates exactly the points R's optimize() evaluates, in order
    (what glmer.nb's chain of refits depends on), and returns R's minimum."""
    import rlive
    from mixedcompat.numerics.brent import optimize
    ro = rlive.robjects()
    if "optimize" not in _STATE:
        _STATE["optimize"] = ro.r(_R_OPTIMIZE)
    lower, upper = a - width / 2, a + width
    r = rlive._py(_STATE["optimize"](a, b, c, lower, upper, tol))
    seen = []

    def f(x):
        seen.append(x)
        return (x - a) ** 2 + b * math.sin(c * x)         # the C library's sin, as R's

    res = optimize(f, lower, upper, tol=tol)
    assert seen == r["seen"]
    assert res.minimum == r["minimum"][0]


_R_REFIT_OWN = r"""
function(d, f, family) {
    m <- suppressMessages(suppressWarnings(lme4::glmer(as.formula(f), data = d, family = family)))
    r <- suppressMessages(suppressWarnings(refit(m, model.response(model.frame(m)))))
    list(dev = -2 * as.numeric(logLik(r)), beta = unname(fixef(r)), theta = unname(getME(r, "theta")),
         feval = r@optinfo$feval)
}
"""


@pytest.mark.parametrize("stem,formula,family", [
    ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    ("simglmm", "yb ~ x + grp + (1 | subj)", "binomial"),
    ("simglmm", "cnt ~ x + (1 | subj)", "poisson"),
])
def test_refit_to_own_response_as_lme4(stem, formula, family):
    """refit(m, its own response) follows lme4's refit path: its first PIRLS (u only, X beta left out),
    one Nelder-Mead from the fit: the same optimum (which is not the fit's: another lp0) and evaluations."""
    import warnings
    import rlive
    from helpers import FIXTURES, load_fixture_data
    d = load_fixture_data(stem, root=FIXTURES / "glmer_inference")
    ro = rlive.robjects()
    if "refit_own" not in _STATE:
        _STATE["refit_own"] = ro.r(_R_REFIT_OWN)
    r = rlive._py(_STATE["refit_own"](rlive.to_r_frame(d), formula, family))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.glmer(formula, d, family=family)
        own = m.frame.y if m.frame.y.ndim == 2 else m.gdata.y
        ours = mc.refit(m, own)
    assert_close(ours.criterion, r["dev"][0], "refit -2 log L", **TOL["glmer_refit_criterion"])
    assert_close(ours.theta, r["theta"], "refit theta", **TOL["glmer_refit_theta"])
    assert_close(ours.beta, r["beta"], "refit fixef", **TOL["glmer_refit_fixef"])
    assert ours.optinfo["feval"] == r["feval"][0]
