"""Comparisons shared by the GLM family tests (tests/test_glm_family.py, tests/test_live_r_glm_family.py):
values that are differences of cancelling terms are compared to a few ulps of the terms' sizes
(TOL["glm_cancellation"]), as numpy's vectorised log / exp differ from the C library's by an ulp in
~1% of arguments (so our mu = linkinv(eta) can be an ulp from lme4's, and a unit deviance at y ~ mu
moves by far more than an ulp of itself)."""
from __future__ import annotations

import numpy as np

from helpers import TOL, assert_close


def dev_term_size(fam, y, mu, wt) -> np.ndarray:
    """The rounding scale of a unit deviance: the sizes of the terms whose difference it is, plus the
    factors in front of ``log(y / mu)`` (a ratio near 1 carries an absolute rounding of an ulp of 1,
    which the log passes on absolutely: one ulp of ``mu`` moves ``y log(y / mu)`` by ~``y`` eps)."""
    y, mu, wt = (np.asarray(a, dtype=float) for a in (y, mu, wt))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        def ylogy(a, b):
            return np.abs(a) + np.abs(np.where(a == 0, 0.0, a * np.log(a / b)))
        k = fam.kind
        if k == "binomial":
            return 2 * wt * (ylogy(y, mu) + ylogy(1 - y, 1 - mu))
        if k == "poisson":
            return 2 * wt * (ylogy(y, mu) + np.abs(y - mu))
        if k == "Gamma":
            return 2 * wt * (1.0 + np.abs(np.log(y / mu)) + np.abs((y - mu) / mu))
        if k == "negative.binomial":
            th = fam.theta
            return 2 * wt * (ylogy(y, mu) + (y + th) * (1.0 + np.abs(np.log((y + th) / (mu + th)))))
        return np.abs(fam.dev_resids(y, mu, wt))


def same_up_to_cancellation(ours, theirs, size, what: str) -> None:
    """``ours`` against R's ``theirs`` at TOL["glm_family"], plus TOL["glm_cancellation"] times the
    sizes of the cancelling terms (``size``); NaN where R has NaN."""
    theirs = np.array([np.nan if v is None else v for v in theirs], dtype=float)
    size = np.asarray(size, dtype=float)
    atol = TOL["glm_cancellation"]["rtol"] * np.where(np.isfinite(size), size, 0.0)
    assert_close(ours, theirs, what, scale=0.0, rtol=TOL["glm_family"]["rtol"], atol=atol)
