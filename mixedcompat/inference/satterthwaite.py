"""Satterthwaite denominator degrees of freedom for lmer fits, as lmerTest 3.x defines them.

Kuznetsova, Brockhoff & Christensen (2017), JSS 82(13): the variance parameters are
``varpar = (theta, sigma)`` (lme4's theta, the residual standard deviation).  Their asymptotic
covariance is ``A = 2 H^+`` where ``H`` is the Hessian of the (REML or ML) deviance written as a
function of ``(theta, sigma)`` with sigma *not* profiled out; ``H^+`` is the eigen pseudo-inverse
(eigenvalues above 1e-8).  For a contrast ``l``: ``df = 2 (l' V l)^2 / (g' A g)`` with ``V = vcov(beta)``
and ``g_k = l' (dV / d varpar_k) l``.  Multi-row contrasts use lmerTest's eigen-decomposition of
``L V L'`` and combine the per-direction df by ``2E / (E - q)``, ``E = sum nu / (nu - 2)``.

Derivatives are numDeriv's, with its step rules (:mod:`mixedcompat.numerics.numderiv`): relative steps, so the df do
not depend on the units of the response.
"""
from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy import stats

from mixedcompat.errors import VarparHessianWarning
from mixedcompat.lme4.criterion import deviance_at_sigma
from mixedcompat.numerics.numderiv import hessian, jacobian

__all__ = ["SatterthwaiteState", "VarparHessianWarning", "satterthwaite_state", "deviance_varpar",
           "contest_1d", "contest_md", "fstat_ddf"]

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
    sigma: float = float("nan")


def deviance_varpar(m, varpar: np.ndarray, REML: bool | None = None) -> float:
    """-2 log-likelihood (REML: restricted) of an lmer fit at ``varpar = (theta, sigma)``, sigma not profiled.

    ``ldL2 + pwrss / sigma^2 + n log(2 pi sigma^2)``, plus ``ldRX2 - p log(2 pi sigma^2)`` for REML
    (lmerTest's definition; the constant ``-log|W|`` of prior weights is left out).

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> bool(np.isclose(deviance_varpar(m, np.r_[m.theta, m.sigma()]), m.REMLcrit()))   # REML, no weights
    True
    """
    REML = m.REML if REML is None else REML
    varpar = np.asarray(varpar, dtype=float)
    theta, sigma = varpar[:-1], varpar[-1]
    f = m.devfun.factor(theta)
    n, p = int(m.nobs()), m.frame.X.shape[1]
    dev = deviance_at_sigma(f.ldL2, f.pwrss, n, sigma * sigma, 0.0, ldRX2=f.ldRX2, p=p, REML=REML)
    return float(dev)


def _unscaled_vcov(m, theta: np.ndarray) -> np.ndarray:
    return m.devfun.beta_vcov_unscaled(m.devfun.factor(theta))


def _eigen_warnings(evals: np.ndarray, tol: float) -> None:
    """lmerTest's ``as_lmerModLT`` checks of the Hessian of the deviance in ``(theta, sigma)``."""
    neg = evals < -tol
    zero = (evals > -tol) & (evals < tol)
    for mask, text in ((neg, "Model failed to converge with {k} negative {what}: {vals}"),
                       (zero, "Model may not have converged with {k} {what} close to zero: {vals}")):
        k = int(mask.sum())
        if k:
            what = "eigenvalues" if k > 1 else "eigenvalue"
            vals = " ".join(f"{v:1.1e}" for v in evals[mask])
            warnings.warn(text.format(k=k, what=what, vals=vals), VarparHessianWarning, stacklevel=4)


def satterthwaite_state(m, tol: float = 1e-8) -> SatterthwaiteState:
    """lmerTest's ``lmerModLmerTest`` slots: Hessian-based covariance of ``(theta, sigma)`` and the
    Jacobian of ``vcov(beta)`` (cached per fit).

    Built as lmerTest's ``as_lmerModLT``: ``numDeriv::hessian`` of the deviance at ``(theta, sigma)``,
    its eigenvalues classed with ``tol`` (negative ones and ones close to zero give lmerTest's
    warnings, as :class:`VarparHessianWarning`), ``A = 2 H^+`` over the positive eigenvalues, and
    ``numDeriv::jacobian`` of ``sigma^2 (R_X' R_X)^-1`` in theta (exact in sigma).

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> satterthwaite_state(m).vcov_varpar.shape   # theta and sigma
    (4, 4)
    """
    cached = _CACHE.get(m)
    if cached is not None:
        return cached
    sigma = float(m.sigma())
    varpar = np.r_[np.asarray(m.theta, dtype=float), sigma]
    H = hessian(lambda vp: deviance_varpar(m, vp), varpar)
    evals, evecs = sla.eigh(H, driver="evr")       # R's eigen(symmetric = TRUE): LAPACK dsyevr
    order = np.argsort(evals)[::-1]                # in R's order: decreasing
    evals, evecs = evals[order], evecs[:, order]
    _eigen_warnings(evals, tol)
    pos = evals > tol
    h_inv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    A = 2.0 * h_inv
    theta = varpar[:-1]
    jac = jacobian(lambda th: _unscaled_vcov(m, th), theta) if len(theta) else []
    jac = [sigma ** 2 * J for J in jac]
    unscaled = _unscaled_vcov(m, theta)
    jac.append(2.0 * sigma * unscaled)
    state = SatterthwaiteState(varpar=varpar, beta=np.asarray(m.beta, dtype=float),
                               vcov=sigma ** 2 * unscaled, vcov_varpar=A, jacobian=jac, hessian=H,
                               sigma=sigma)
    try:
        _CACHE[m] = state
    except TypeError:
        pass
    return state


def _r_div(a: float, b: float) -> float:
    """``a / b`` with R's IEEE semantics (``x / 0`` is ``Inf``, ``0 / 0`` is ``NaN``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / np.float64(b))


def contest_1d(st: SatterthwaiteState, L: np.ndarray) -> dict:
    """lmerTest's ``contest1D``: t test of one contrast ``L beta = 0`` with Satterthwaite's df.

    Returns Estimate, Std. Error, df, t value, Pr(>|t|); ``df = 2 (L'VL)^2 / (g' A g)`` is ``Inf``
    when the denominator is 0, as in R.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(contest_1d(satterthwaite_state(m), np.array([0.0, 1.0]))["df"], 3)
    17.0
    """
    L = np.asarray(L, dtype=float).ravel()
    est = float(L @ st.beta)
    var = float(L @ st.vcov @ L)
    grad = np.array([L @ J @ L for J in st.jacobian])
    denom = float(grad @ st.vcov_varpar @ grad)
    df = _r_div(2.0 * var ** 2, denom)
    se = float(np.sqrt(var)) if var >= 0 else np.nan
    t = _r_div(est, se)
    p = 2.0 * float(stats.t.sf(abs(t), df)) if not (np.isnan(df) or np.isnan(t)) else np.nan
    return {"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p}


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's ``get_Fstat_ddf``: the F denominator df from the per-direction df ``nu``.

    One direction: ``nu``; all equal (within ``tol``): their mean; any ``nu <= 2``: 2; otherwise
    ``2E / (E - q)`` with ``E = sum nu / (nu - 2)`` (``Inf`` when ``E == q``, as R).

    Examples
    --------
    >>> round(fstat_ddf(np.array([10.0, 20.0])), 6)
    13.076923
    """
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    with np.errstate(invalid="ignore"):
        if np.all(np.abs(np.diff(nu)) < tol):
            return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        E = float(np.sum(nu / (nu - 2)))
    return _r_div(2.0 * E, E - len(nu))


def contrast_directions(VL: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, int]:
    """lmerTest's (and pbkrtest's SATmodcomp's) eigen-decomposition of ``L V L'``: eigenvalues in
    decreasing order and their eigenvectors as R's ``eigen`` (LAPACK dsyevr), and how many exceed
    ``eps`` times the largest (the directions tested).

    Examples
    --------
    >>> d, P, q = contrast_directions(np.diag([1.0, 4.0, 1e-20]), 1e-8)
    >>> d[:2].tolist(), q
    ([4.0, 1.0], 2)
    """
    d, P = sla.eigh(np.asarray(VL, dtype=float), driver="evr")
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    return d, P, int(np.sum(d > max(eps * d[0], 0.0)))


def direction_ddf(st: SatterthwaiteState, PtL: np.ndarray, d: np.ndarray, A: np.ndarray | None = None) -> np.ndarray:
    """Satterthwaite's df of each tested direction ``PtL[k]`` (variance ``d[k]``): ``2 d_k^2 / (g' A g)``
    with ``g`` the gradient of ``PtL[k] V PtL[k]'`` in the variance parameters and ``A`` their
    covariance (default the state's), R's division (``x / 0`` is Inf)."""
    A = st.vcov_varpar if A is None else A
    nu = np.empty(len(PtL))
    for k in range(len(PtL)):
        g = np.array([PtL[k] @ J @ PtL[k] for J in st.jacobian])
        nu[k] = _r_div(2.0 * d[k] ** 2, float(g @ A @ g))
    return nu


def contest_md(st: SatterthwaiteState, L: np.ndarray,
               eps: float = float(np.sqrt(np.finfo(float).eps))) -> dict | None:
    """lmerTest's ``contestMD``: F test of ``L beta = 0`` (several rows) with Satterthwaite's df.

    ``L V L'`` is eigen-decomposed; directions with eigenvalue above ``eps`` times the largest are
    tested (``NumDF`` = their number; one direction is ``contest1D``'s t test squared).  Returns
    ``F value``, ``NumDF``, ``DenDF``, ``Pr(>F)`` and the unscaled ``F`` for ``Mean Sq``; ``None``
    when no direction is left (lmerTest then lists the term with NAs at the end of the table).
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[0] == 1:
        r = contest_1d(st, L[0])
        return _f_row(r["t value"] ** 2, 1, r["df"])
    d, P, q = contrast_directions(L @ st.vcov @ L.T, eps)
    if q <= 0:
        return None
    PtL = (P.T @ L)[:q]
    if q == 1:
        r = contest_1d(st, PtL[0])
        return _f_row(r["t value"] ** 2, 1, r["df"])
    t2 = (PtL @ st.beta) ** 2 / d[:q]
    F = float(np.sum(t2) / q)
    return _f_row(F, q, fstat_ddf(direction_ddf(st, PtL, d)))


def _f_row(F: float, q: int, ddf: float, scaling: float = 1.0) -> dict:
    """lmerTest's ``mk_Ftable``: ``Mean Sq`` from the unscaled F, ``F value`` scaled (Kenward-Roger)."""
    Fs = F * scaling
    p = float(stats.f.sf(Fs, q, ddf)) if not (np.isnan(Fs) or np.isnan(ddf)) else np.nan
    return {"F": F, "F value": Fs, "NumDF": q, "DenDF": ddf, "Pr(>F)": p}
