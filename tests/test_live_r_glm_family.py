"""Live R: GLM families, links, responses and theta.ml on random grids, against lme4's C++ family
object (``lme4:::glmFamily$new(family = f)``), R's family functions, ``lme4:::mkRespMod`` and
``MASS::theta.ml``, through rpy2.

The hypothesis strategies draw a family, a link (any of make.link's: R takes them all as strings),
a theta, and a seed; the numbers are drawn by ``numpy.random.default_rng(seed)`` over wide ranges
(eta out to +-45, means down to 1e-12, counts up to 1e4, trials up to 200, zero weights), so a
failing example reproduces from the printed draw.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glm_checks import dev_term_size, same_up_to_cancellation
from helpers import TOL, assert_close
from rlive import robjects
from mixedcompat.errors import DataError
from mixedcompat.glm import families as fams
from mixedcompat.glm import rmath
from mixedcompat.glm.families import negative_binomial
from mixedcompat.glm.links import LINK_NAMES
from mixedcompat.glm.negbin import theta_ml
from mixedcompat.glm.response import glm_response

pytestmark = pytest.mark.r

_R_FAMILY = r"""
function(kind, link, theta, eta, mu, y, n, wt) {
    fam <- if (kind == "nb") MASS::negative.binomial(theta, link = link)
           else get(kind, mode = "function")(link = link)
    cpp <- lme4:::glmFamily$new(family = fam)
    dr <- cpp$devResid(y, mu, wt)
    warns <- character(0)
    aic <- withCallingHandlers(cpp$aic(y, n, mu, wt, sum(dr)),
        warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
    list(linkinv = cpp$linkInv(eta), mu_eta = cpp$muEta(eta),
         linkfun = tryCatch(suppressWarnings(fam$linkfun(mu)), error = function(e) NULL),
         linkfun_error = tryCatch({ suppressWarnings(fam$linkfun(mu)); NULL }, error = function(e) conditionMessage(e)),
         r_linkinv = suppressWarnings(fam$linkinv(eta)), r_mu_eta = suppressWarnings(fam$mu.eta(eta)),
         variance = cpp$variance(mu), dev_resids = dr, aic = aic, aic_warnings = unique(warns),
         family = fam$family)
}
"""

_R_RESP = r"""
function(kind, link, theta, y, ncol, w) {
    fam <- if (kind == "nb") MASS::negative.binomial(theta, link = link)
           else get(kind, mode = "function")(link = link)
    if (ncol == 2) y <- matrix(y, ncol = 2, byrow = TRUE)
    warns <- character(0)
    r <- tryCatch(withCallingHandlers(lme4:::mkRespMod(family = fam, y = y, weights = w),
        warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") }),
        error = function(e) e)
    if (inherits(r, "error")) return(list(error = conditionMessage(r), warnings = warns))
    list(error = NULL, warnings = warns, y = r$y, weights = r$weights, n = r$n, eta = r$eta, mu = r$mu)
}
"""

_R_THETA = r"""
function(y, mu, w, limit, eps) {
    warns <- character(0)
    r <- withCallingHandlers(MASS::theta.ml(y, mu, weights = w, limit = limit, eps = eps),
        warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
    list(theta = as.numeric(r), se = attr(r, "SE"), warnings = warns)
}
"""

_STATE: dict = {}


def _r(name: str):
    if not _STATE:
        ro = robjects()
        _STATE["ro"] = ro
        _STATE["family"] = ro.r(_R_FAMILY)
        _STATE["resp"] = ro.r(_R_RESP)
        _STATE["theta"] = ro.r(_R_THETA)
        ro.r("suppressPackageStartupMessages(library(MASS))")
    return _STATE[name]


def _fv(x):
    ro = _STATE["ro"]
    return ro.FloatVector([float(v) for v in np.asarray(x, dtype=float).ravel()])


def _list(out) -> dict:
    """An R list of vectors as a dict of Python lists (NULL -> None, NA -> None)."""
    ro = _STATE["ro"]
    res = {}
    for name, value in zip(out.names, out):
        if value is ro.NULL or type(value).__name__ == "NULLType":
            res[name] = None
        elif isinstance(value, ro.vectors.StrVector):
            res[name] = [None if v is ro.NA_Character else str(v) for v in value]
        else:
            res[name] = [None if (isinstance(v, float) and np.isnan(v)) else float(v) for v in value]
    return res


def _same(ours, theirs, what: str) -> None:
    theirs = np.array([np.nan if v is None else v for v in (theirs or [])], dtype=float)
    assert_close(np.atleast_1d(ours), theirs, what, scale=0.0, **TOL["glm_family"])


KINDS = ["binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian", "nb"]


def _draw_values(kind: str, link: str, seed: int):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(5, 40))
    eta = rng.choice([rng.normal(0, 3, k), rng.uniform(-45, 45, k), rng.normal(0, 15, k)])
    if link in ("sqrt", "1/mu^2") or (link == "inverse" and rng.random() < 0.7):
        eta = np.abs(eta) + rng.choice([1e-8, 1e-3, 0.1])
    if kind == "binomial":
        mu = np.clip(rng.beta(0.5, 0.5, k), 1e-15, 1 - 1e-15)
        mode = rng.integers(0, 3)
        if mode == 0:                          # Bernoulli, integer weights (some 0)
            y = rng.integers(0, 2, k).astype(float)
            n = np.ones(k)
            wt = rng.integers(0, 4, k).astype(float)
        else:                                  # trials: y = s / n, weights = n
            n = rng.integers(1, 200, k).astype(float)
            y = rng.binomial(n.astype(int), 0.3) / n
            wt = n.copy()
        return eta, mu, y, n, wt
    mu = np.exp(rng.uniform(-12 if kind in ("poisson", "nb") else -6, 6, k))
    n = np.ones(k)
    wt = rng.choice([np.ones(k), rng.uniform(0.2, 3.0, k)])
    if kind in ("poisson", "nb"):
        y = rng.poisson(np.minimum(mu * rng.uniform(0.2, 3.0, k), 1e4)).astype(float)
    elif kind == "gaussian":
        y = mu + rng.normal(0, 1, k) * rng.choice([0.01, 1.0, 100.0])
    else:
        y = mu * rng.gamma(2.0, 0.5, k)
    return eta, mu, y, n, wt


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS), link=st.sampled_from(LINK_NAMES), seed=st.integers(0, 2 ** 31 - 1),
       theta=st.sampled_from([0.3, 1.7, 25.0, 3000.0]))
def test_family_functions_as_lme4_on_random_grids(kind, link, seed, theta):
    eta, mu, y, n, wt = _draw_values(kind, link, seed)
    fam = negative_binomial(theta, link=link) if kind == "nb" else fams._CONSTRUCTORS[kind](link=link)
    r = _list(_r("family")(kind, link, theta, _fv(eta), _fv(mu), _fv(y), _fv(n), _fv(wt)))
    assert fam.family == r["family"][0]
    _same(fam.linkinv(eta), r["linkinv"], "linkInv")
    _same(fam.mu_eta(eta), r["mu_eta"], "muEta")
    _same(fam.link.r.linkinv(eta), r["r_linkinv"], "R linkinv")
    _same(fam.link.r.mu_eta(eta), r["r_mu_eta"], "R mu.eta")
    if r["linkfun_error"]:
        with pytest.raises(DataError) as exc:
            fam.linkfun(mu)
        assert str(exc.value) == r["linkfun_error"][0]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _same(fam.linkfun(mu), r["linkfun"], "linkfun")
    _same(fam.variance(mu), r["variance"], "variance")
    dr = fam.dev_resids(y, mu, wt)
    same_up_to_cancellation(dr, r["dev_resids"] or [], dev_term_size(fam, y, mu, wt), "devResid")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        aic = fam.aic(y, n, mu, wt, float(np.sum(dr)))
    if kind == "nb":
        # the negative binomial's aic sums terms of size ~theta log(theta) that cancel (449 from terms
        # summing to 6e6 at theta = 3000); lme4 sums them with Eigen's vectorised reduction, whose
        # order is not numpy's: compared to a few ulps of the sum of the terms' sizes
        th = fam.theta
        size = 2.0 * np.sum(np.abs(wt * (y + th) * np.log(mu + th)) + np.abs(y * np.log(mu))
                            + np.abs(rmath.lgamma(y + 1.0)) + abs(th * np.log(th)) + abs(rmath.lgamma(th))
                            + np.abs(rmath.lgamma(th + y)))
        assert_close([aic], r["aic"], "aic", scale=0.0, atol=TOL["glm_cancellation"]["rtol"] * size)
    else:
        _same([aic], r["aic"], "aic")
    assert sorted({str(w.message) for w in caught}) == sorted(r["aic_warnings"] or [])


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), link=st.sampled_from(LINK_NAMES), seed=st.integers(0, 2 ** 31 - 1))
def test_response_as_mkRespMod_on_random_data(kind, link, seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 30))
    w = rng.choice([np.ones(k), rng.integers(0, 5, k).astype(float), rng.uniform(0.5, 3, k)])
    ncol = 1
    if kind == "binomial":
        form = rng.integers(0, 3)
        if form == 0:
            y = rng.integers(0, 2, k).astype(float)
        elif form == 1:
            trials = rng.integers(1, 12, k)
            y = rng.binomial(trials, 0.4) / trials
            w = trials.astype(float)
        else:
            s = rng.integers(0, 9, k).astype(float)
            y = np.column_stack([s, rng.integers(0, 9, k)]).astype(float)
            ncol = 2
    elif kind in ("poisson", "nb"):
        y = rng.poisson(3.0, k).astype(float)
    elif kind == "gaussian":
        y = rng.normal(2.0, 2.0, k)
    else:
        y = rng.gamma(2.0, 1.0, k)
    if rng.random() < 0.15:                     # sometimes a bad value
        y = np.array(y, dtype=float)
        y.flat[0] = rng.choice([-1.0, 0.0, 2.5])
    fam = negative_binomial(2.0, link=link) if kind == "nb" else fams._CONSTRUCTORS[kind](link=link)
    r = _list(_r("resp")(kind, link, 2.0, _fv(y), ncol, _fv(w)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ours = glm_response(fam, y, w)
            err = None
        except DataError as exc:
            ours, err = None, str(exc)
    assert sorted({str(x.message) for x in caught}) == sorted(set(r["warnings"] or []))
    if r["error"]:
        assert err is not None and err.startswith(r["error"][0]), (err, r["error"])
        return
    assert err is None, err
    _same(ours.y, r["y"], "y")
    _same(ours.weights, r["weights"], "weights")
    _same(ours.n, r["n"], "n")
    _same(ours.eta, r["eta"], "eta")
    _same(fam.linkinv(ours.eta), r["mu"], "mu")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), limit=st.sampled_from([2, 5, 10, 20]))
def test_theta_ml_as_mass_on_random_data(seed, limit):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(8, 200))
    mu = np.exp(rng.normal(1.0, 0.8, k))
    size = float(rng.choice([0.3, 1.0, 4.0, 20.0]))
    y = rng.negative_binomial(size, size / (size + mu)).astype(float)
    w = rng.choice([np.ones(k), rng.integers(1, 4, k).astype(float)])
    r = _list(_r("theta")(_fv(y), _fv(mu), _fv(w), limit, 1e-4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = theta_ml(y, mu, weights=w, limit=limit, eps=1e-4)
    assert [str(x.message) for x in caught] == (r["warnings"] or [])
    se_r = np.nan if r["se"][0] is None else r["se"][0]
    diverging = "iteration limit reached" in (r["warnings"] or []) and not se_r <= r["theta"][0]
    if diverging:
        assert_close([ours.theta], r["theta"], "theta", scale=0.0, **TOL["theta_ml_diverging"])
        assert_close([ours.se], [se_r], "SE", scale=0.0, **TOL["theta_ml_diverging"])
        return
    floor = TOL["theta_ml_se_floor"]["atol"] * (se_r if np.isfinite(se_r) else 0.0)
    assert_close([ours.theta], r["theta"], "theta", scale=0.0, atol=floor, **TOL["theta_ml"])
    assert_close([ours.se], [se_r], "SE", scale=0.0, atol=floor, **TOL["theta_ml"])
