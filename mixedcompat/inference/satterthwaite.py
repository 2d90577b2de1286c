"""Satterthwaite denominator degrees of freedom for lmer fits, as lmerTest 3.x defines them.

Kuznetsova, Brockhoff & Christensen (2017), JSS 82(13): the variance parameters are
``varpar = (theta, sigma)`` (lme4's theta, the residual standard deviation).  Their asymptotic
covariance is ``A = 2 H^+`` where ``H`` is the Hessian of the (REML or ML) deviance written as a
function of ``(theta, sigma)`` with sigma *not* profiled out; ``H^+`` is the eigen pseudo-inverse
(eigenvalues above 1e-8).  For a contrast ``l``: ``df = 2 (l' V l)^2 / (g' A g)`` with ``V = vcov(beta)``
and ``g_k = l' (dV / d varpar_k) l``.  Multi-row contrasts use lmerTest's eigen-decomposition of
``L V L'`` and combine the per-direction df by ``2E / (E - q)``, ``E = sum nu / (nu - 2)``.

Derivatives are central differences with Richardson extrapolation (as numDeriv), accurate to
about 1e-9 relative on smooth criteria.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy import stats

__all__ = ["SatterthwaiteState", "satterthwaite_state", "deviance_varpar", "contest_1d", "contest_md",
           "fstat_ddf"]

LOG_2PI = np.log(2.0 * np.pi)
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class SatterthwaiteState:
    """What the Satterthwaite df need from a fit: ``beta``, ``vcov`` (V), the covariance of the
    variance parameters ``vcov_varpar`` (A) and ``jacobian`` (list of dV / d varpar_k)."""

    varpar: np.ndarray
    beta: np.ndarray
    vcov: np.ndarray
    vcov_varpar: np.ndarray
    jacobian: list
    hessian: np.ndarray


def deviance_varpar(m, varpar: np.ndarray, REML: bool | None = None) -> float:
    """-2 log-likelihood (REML: restricted) of an lmer fit at ``varpar = (theta, sigma)``, sigma not profiled.

    ``ldL2 + pwrss / sigma^2 + n log(2 pi sigma^2)``, plus ``ldRX2 - p log(2 pi sigma^2)`` for REML
    (lmerTest's definition; the constant ``-log|W|`` of prior weights is left out).

    Example
    -------
    >>> # deviance_varpar(m, np.r_[m.theta, m.sigma()])   # equals m.REMLcrit() for REML fits without weights
    """
    REML = m.REML if REML is None else REML
    varpar = np.asarray(varpar, dtype=float)
    theta, sigma = varpar[:-1], varpar[-1]
    s2 = sigma * sigma
    f = m.devfun.factor(theta)
    n, p = len(m.frame.y), m.frame.X.shape[1]
    dev = f.ldL2 + f.pwrss / s2 + n * (LOG_2PI + np.log(s2))
    if REML:
        dev += f.ldRX2 - p * (LOG_2PI + np.log(s2))
    return float(dev)


def _unscaled_vcov(m, theta: np.ndarray) -> np.ndarray:
    return m.devfun.beta_vcov_unscaled(m.devfun.factor(theta))


def _steps(x: np.ndarray, d: float = 1e-4, eps: float = 1e-4) -> np.ndarray:
    zero_tol = np.sqrt(eps / 7e-7)
    return d * np.abs(x) + eps * (np.abs(x) < zero_tol)


def _richardson(a: np.ndarray, v: float = 2.0) -> np.ndarray:
    """Richardson extrapolation of estimates with step h, h/v, h/v^2, ... (error O(h^2))."""
    a = list(a)
    for m in range(1, len(a)):
        fac = v ** (2 * m)
        a = [(a[k + 1] * fac - a[k]) / (fac - 1) for k in range(len(a) - 1)]
    return a[0]


def hessian(fun, x: np.ndarray, d: float = 0.1, r: int = 4, v: float = 2.0) -> np.ndarray:
    """Hessian of a scalar function as numDeriv's ``hessian`` (``genD``, Richardson; default ``d = 0.1``).

    Steps start at ``d |x_i|`` (``1e-4`` when ``x_i`` is near 0) and are halved ``r - 1`` times; the
    second differences are Richardson-extrapolated; mixed differences subtract the extrapolated
    diagonal.  lmerTest computes its Hessian this way, so the df follow it to many digits.

    Example
    -------
    >>> (np.round(hessian(lambda z: z[0] ** 2 * z[1], np.array([1.0, 2.0])), 6) + 0.0).tolist()
    [[4.0, 2.0], [2.0, 0.0]]
    """
    x = np.asarray(x, dtype=float)
    k = len(x)
    f0 = fun(x)
    h0 = _steps(x, d=d)
    H = np.zeros((k, k))
    for i in range(k):
        h = h0.copy()
        est = np.zeros(r)
        for j in range(r):
            e = np.zeros(k)
            e[i] = h[i]
            est[j] = (fun(x + e) - 2 * f0 + fun(x - e)) / h[i] ** 2
            h = h / v
        H[i, i] = _richardson(est, v)
    for i in range(k):
        for l in range(i):
            h = h0.copy()
            est = np.zeros(r)
            for j in range(r):
                e = np.zeros(k)
                e[i], e[l] = h[i], h[l]
                est[j] = ((fun(x + e) - 2 * f0 + fun(x - e) - H[i, i] * h[i] ** 2
                           - H[l, l] * h[l] ** 2) / (2 * h[i] * h[l]))
                h = h / v
            H[i, l] = H[l, i] = _richardson(est, v)
    return H


def jacobian(fun, x: np.ndarray, r: int = 4, v: float = 2.0) -> list:
    """Derivatives of an array-valued function w.r.t. each element of ``x`` (central differences,
    Richardson extrapolation): a list of arrays shaped like ``fun(x)``."""
    x = np.asarray(x, dtype=float)
    h0 = _steps(x)
    out = []
    for i in range(len(x)):
        est = []
        h = h0[i]
        for _ in range(r):
            e = np.zeros(len(x))
            e[i] = h
            est.append((fun(x + e) - fun(x - e)) / (2 * h))
            h = h / v
        out.append(_richardson(np.asarray(est), v))
    return out


def satterthwaite_state(m, tol: float = 1e-8) -> SatterthwaiteState:
    """Hessian-based covariance of ``(theta, sigma)`` and the Jacobian of ``vcov(beta)`` (cached per fit).

    Example
    -------
    >>> # st = satterthwaite_state(m); st.vcov_varpar.shape   # (len(theta) + 1,) * 2
    """
    cached = _CACHE.get(m)
    if cached is not None:
        return cached
    sigma = float(m.sigma())
    varpar = np.r_[np.asarray(m.theta, dtype=float), sigma]
    H = hessian(lambda vp: deviance_varpar(m, vp), varpar)
    evals, evecs = np.linalg.eigh(H)
    pos = evals > tol
    if np.any(evals < -tol):
        import warnings
        warnings.warn("Model failed to converge with negative eigenvalues of the Hessian of the "
                      "deviance w.r.t. (theta, sigma); Satterthwaite df may be unreliable", RuntimeWarning,
                      stacklevel=3)
    h_inv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    A = 2.0 * h_inv
    theta = varpar[:-1]
    jac = jacobian(lambda th: _unscaled_vcov(m, th), theta) if len(theta) else []
    jac = [sigma ** 2 * J for J in jac]
    unscaled = _unscaled_vcov(m, theta)
    jac.append(2.0 * sigma * unscaled)
    state = SatterthwaiteState(varpar=varpar, beta=np.asarray(m.beta, dtype=float),
                               vcov=sigma ** 2 * unscaled, vcov_varpar=A, jacobian=jac, hessian=H)
    try:
        _CACHE[m] = state
    except TypeError:
        pass
    return state


def contest_1d(st: SatterthwaiteState, L: np.ndarray) -> dict:
    """t test of one contrast ``L beta = 0``: Estimate, Std. Error, df, t value, Pr(>|t|).

    Example
    -------
    >>> # contest_1d(satterthwaite_state(m), np.array([0.0, 1.0]))["df"]
    """
    L = np.asarray(L, dtype=float).ravel()
    est = float(L @ st.beta)
    var = float(L @ st.vcov @ L)
    grad = np.array([L @ J @ L for J in st.jacobian])
    denom = float(grad @ st.vcov_varpar @ grad)
    df = 2.0 * var ** 2 / denom if denom > 0 else np.nan
    se = np.sqrt(var)
    t = est / se
    p = 2.0 * stats.t.sf(abs(t), df) if np.isfinite(df) else np.nan
    return {"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p}


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's combination of per-direction df into the F denominator df."""
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2.0 * E / (E - len(nu))


def contest_md(st: SatterthwaiteState, L: np.ndarray, eps: float = np.sqrt(np.finfo(float).eps)) -> dict:
    """F test of ``L beta = 0`` (several rows) with Satterthwaite df, lmerTest's eigen method.

    Returns ``F value``, ``NumDF``, ``DenDF``, ``Pr(>F)``.
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    VL = L @ st.vcov @ L.T
    d, P = sla.eigh(VL)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    tol = max(eps * d[0], 0.0)
    q = int(np.sum(d > tol))
    PtL = (P.T @ L)[:q]
    t2 = (PtL @ st.beta) ** 2 / d[:q]
    F = float(np.sum(t2) / q)
    nu = np.empty(q)
    for k in range(q):
        g = np.array([PtL[k] @ J @ PtL[k] for J in st.jacobian])
        nu[k] = 2.0 * d[k] ** 2 / float(g @ st.vcov_varpar @ g)
    ddf = fstat_ddf(nu)
    return {"F value": F, "NumDF": q, "DenDF": ddf, "Pr(>F)": float(stats.f.sf(F, q, ddf))}
