"""Log densities of a GLMM family at given means, and predictive densities integrated over a random
linear-predictor shift: what ``cross_validate`` scores held-out rows of a glmer fit with.

Conventions are R's ``family$aic`` ones, row by row: binomial ``log dbinom(round(w y), round(w), mu)``
(``w`` the trials times the prior weights, ``y`` the proportion); Poisson and negative binomial the
prior weight times ``log dpois`` / ``log dnbinom(size = theta)``; Gamma ``w log dgamma(shape = 1 /
sigma^2, scale = mu sigma^2)``; inverse Gaussian ``log dinvgauss(mu, lambda = w / sigma^2)``; gaussian
``log dnorm(mu, sigma / sqrt(w))`` -- with lme4's ``sigma`` of the fit as the dispersion's square root.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats
from scipy.special import gammaln

__all__ = ["log_density", "predictive_log_density", "GH_NODES"]

GH_NODES = 21      # Gauss-Hermite nodes of the integral over a new level's random effect


def _family_name(family: Any) -> str:
    name = str(getattr(family, "family", family))
    return "negative.binomial" if name.startswith("Negative Binomial") else name


def _nb_theta(family: Any) -> float:
    for attr in ("theta", "Theta"):
        if getattr(family, attr, None) is not None:
            return float(getattr(family, attr))
    name = str(getattr(family, "family", ""))
    return float(name[name.index("(") + 1:name.rindex(")")])


def log_density(family: Any, y: np.ndarray, mu: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Row-wise log density of ``y`` at mean ``mu`` (see the module docstring for each family).

    Example
    -------
    >>> import numpy as np
    >>> fam = type("F", (), {"family": "poisson"})()
    >>> float(np.round(log_density(fam, np.array([2.0]), np.array([2.0]), np.ones(1), 1.0)[0], 6))
    -1.306853
    """
    name = _family_name(family)
    y = np.asarray(y, dtype=float)
    mu = np.asarray(mu, dtype=float)
    w = np.asarray(weights, dtype=float)
    with np.errstate(all="ignore"):
        if name == "binomial":
            return stats.binom.logpmf(np.round(w * y), np.round(w), mu)
        if name == "poisson":
            return w * stats.poisson.logpmf(y, mu)
        if name == "negative.binomial":
            th = _nb_theta(family)
            return w * (gammaln(th + y) - gammaln(th) - gammaln(y + 1) + th * np.log(th / (th + mu))
                        + y * np.log(mu / (th + mu)))
        if name == "Gamma":
            shape = 1.0 / sigma ** 2
            return w * stats.gamma.logpdf(y, shape, scale=mu / shape)
        if name == "inverse.gaussian":
            lam = w / sigma ** 2
            return 0.5 * np.log(lam / (2 * np.pi * y ** 3)) - lam * (y - mu) ** 2 / (2 * mu ** 2 * y)
        if name == "gaussian":
            return stats.norm.logpdf(y, mu, sigma / np.sqrt(w))
    raise ValueError(f"no log density for family '{name}'")


def predictive_log_density(family: Any, y: np.ndarray, eta: np.ndarray, var_eta: np.ndarray,
                           weights: np.ndarray, sigma: float, nodes: int = GH_NODES) -> tuple[np.ndarray, np.ndarray]:
    """``log integral f(y | linkinv(eta + e)) N(e; 0, var_eta) de`` row by row (Gauss-Hermite with
    ``nodes`` nodes; exact plug-in where ``var_eta`` is 0), and the predictive mean
    ``E[linkinv(eta + e)]`` on the response scale.

    Example
    -------
    >>> import numpy as np
    >>> fam = type("F", (), {"family": "poisson", "linkinv": staticmethod(np.exp)})()
    >>> lpd, mean = predictive_log_density(fam, np.array([1.0]), np.array([0.0]), np.array([0.0]), np.ones(1), 1.0)
    >>> round(float(lpd[0]), 6), float(mean[0])
    (-1.0, 1.0)
    """
    eta = np.asarray(eta, dtype=float)
    v = np.asarray(var_eta, dtype=float)
    x, wq = np.polynomial.hermite.hermgauss(nodes)
    shifts = np.sqrt(2.0 * v)[:, None] * x[None, :]              # n x nodes
    mu = family.linkinv(eta[:, None] + shifts)
    ld = np.column_stack([log_density(family, y, mu[:, k], weights, sigma) for k in range(nodes)])
    logw = np.log(wq / np.sqrt(np.pi))
    a = ld + logw[None, :]
    amax = np.max(a, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        lpd = (amax[:, 0] + np.log(np.sum(np.exp(a - amax), axis=1)))
    mean = mu @ (wq / np.sqrt(np.pi))
    plug = v == 0
    if np.any(plug):
        mu0 = family.linkinv(eta[plug])
        lpd[plug] = log_density(family, np.asarray(y)[plug], mu0, np.asarray(weights)[plug], sigma)
        mean[plug] = mu0
    return lpd, mean
