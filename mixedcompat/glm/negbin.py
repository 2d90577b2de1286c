"""The negative binomial's theta by maximum likelihood for given means: ``MASS::theta.ml`` as lme4's
``glmer.nb`` calls it.

glmer.nb (lme4 1.1-31) fits a Poisson glmer, then estimates theta from its fitted means with
``theta.ml(y, mu, weights = prior weights, limit = 20, eps = 1e-4)`` (its ``initCtrl``: limit 20,
eps = 2 tol with tol = 5e-5), refits with ``negative.binomial(theta)`` and searches log(theta).
:func:`est_theta` is that first step; :func:`theta_ml` is MASS's function with MASS's defaults
(limit 10, eps = eps^(1/4)).

theta.ml is Newton's method on the score of theta, started at the moment estimate
``n / sum(w (y / mu - 1)^2)`` (n = sum(w)), with ``theta <- |theta|`` before each step; it stops when
the step is at most ``eps`` or after ``limit - 1`` steps. R's warnings: ``"iteration limit reached"``
(when ``limit - 1`` steps were taken), ``"estimate truncated at zero"`` (a negative result is set
to 0). The standard error is ``1 / sqrt(information)`` at the last step's starting point (NaN, with
R's warning ``"NaNs produced"``, when that information is negative).

The negative binomial family itself (variance ``mu + mu^2 / theta``, deviance, aic) is
:func:`mixedcompat.glm.families.negative_binomial`.
"""
from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special

from mixedcompat.errors import DataError

__all__ = ["ThetaML", "theta_ml", "est_theta", "ITERATION_LIMIT_MESSAGE", "TRUNCATED_MESSAGE"]

ITERATION_LIMIT_MESSAGE = "iteration limit reached"
TRUNCATED_MESSAGE = "estimate truncated at zero"
_EPS_QUARTER = float(np.finfo(float).eps) ** 0.25     # MASS's default eps, .Machine$double.eps^0.25


@dataclass(frozen=True)
class ThetaML:
    """The result of :func:`theta_ml` (R's number with its attributes).

    Attributes
    ----------
    theta : float
        The estimate (0 when truncated).
    se : float
        ``attr(, "SE")``: ``sqrt(1 / information)``.
    iterations : int
        Newton steps taken.
    warning : str or None
        ``attr(, "warn")``: R's last warning, if any.
    """
    theta: float
    se: float
    iterations: int
    warning: str | None = None

    def __float__(self) -> float:
        return self.theta


def _score(th: float, mu: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * (special.digamma(th + y) - special.digamma(th) + math.log(th) + 1.0
                             - np.log(th + mu) - (y + th) / (mu + th))))


def _info(th: float, mu: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * (-special.polygamma(1, th + y) + special.polygamma(1, th) - 1.0 / th
                             + 2.0 / (mu + th) - (y + th) / (mu + th) ** 2)))


def theta_ml(y, mu, n: float | None = None, weights=None, limit: int = 10, eps: float = _EPS_QUARTER,
             trace: bool = False) -> ThetaML:
    """``MASS::theta.ml(y, mu, n = sum(weights), weights, limit = 10, eps = .Machine$double.eps^0.25)``.

    Parameters
    ----------
    y, mu : array_like
        Counts and fitted means.
    n : float, optional
        The numerator of the moment start, default ``sum(weights)``.
    weights : array_like, optional
        Prior weights (default 1).
    limit : int
        R's ``limit``: at most ``limit - 1`` Newton steps.
    eps : float
        Stop when the Newton step is at most ``eps`` in absolute value.
    trace : bool
        Print R's trace lines.

    Examples
    --------
    >>> y = np.array([0, 1, 1, 2, 3, 5, 8, 0, 2, 4], dtype=float)
    >>> r = theta_ml(y, np.full(10, y.mean()))
    >>> round(r.theta, 6), r.warning
    (1.949252, None)
    """
    y = np.asarray(y, dtype=float).ravel()
    mu = np.asarray(mu, dtype=float).ravel()
    if y.shape != mu.shape:
        raise DataError(f"y and mu differ in length ({y.shape[0]} and {mu.shape[0]})")
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != y.shape:
        raise DataError(f"weights and y differ in length ({w.shape[0]} and {y.shape[0]})")
    if n is None:
        n = float(np.sum(w))
    with np.errstate(divide="ignore", invalid="ignore"):
        t0 = float(n / np.sum(w * (y / mu - 1.0) ** 2))
    it = 0
    step = 1.0
    info = math.nan
    if trace:
        print(f"theta.ml: iter {it} 'theta = {t0:f}'", file=sys.stderr)
    while True:
        it += 1
        if not (it < limit and abs(step) > eps):
            break
        t0 = abs(t0)
        info = _info(t0, mu, y, w)
        step = _score(t0, mu, y, w) / info
        t0 = t0 + step
        if trace:
            print(f"theta.ml: iter{it} theta ={t0:.6g}", file=sys.stderr)
    msg = None
    if t0 < 0:
        t0 = 0.0
        msg = TRUNCATED_MESSAGE
        warnings.warn(TRUNCATED_MESSAGE, UserWarning, stacklevel=2)
    if it == limit:
        msg = ITERATION_LIMIT_MESSAGE
        warnings.warn(ITERATION_LIMIT_MESSAGE, UserWarning, stacklevel=2)
    if math.isnan(info):
        raise DataError("theta.ml took no step (limit < 2): R fails here (object 'i' not found)")
    if info == 0.0:
        se = math.inf
    elif info < 0.0:                      # R: sqrt(1/i) of a negative information, with its warning
        se = math.nan
        warnings.warn("NaNs produced", UserWarning, stacklevel=2)
    else:
        se = math.sqrt(1.0 / info)
    return ThetaML(t0, se, it - 1, msg)


def est_theta(y, mu, weights=None, limit: int = 20, eps: float = 1e-4, trace: bool = False) -> ThetaML:
    """lme4's first theta for ``glmer.nb``: ``theta.ml`` on the Poisson fit's response and fitted
    means with the prior weights, ``limit = 20``, ``eps = 1e-4`` (glmer.nb's ``initCtrl`` with its
    default ``tol = 5e-5``).

    Examples
    --------
    >>> y = np.array([0, 1, 1, 2, 3, 5, 8, 0, 2, 4], dtype=float)
    >>> round(est_theta(y, np.full(10, y.mean())).theta, 6)
    1.949252
    """
    return theta_ml(y, mu, weights=weights, limit=limit, eps=eps, trace=trace)
