"""Kenward-Roger adjusted covariance, denominator df and F scaling for REML lmer fits (as pbkrtest).

Kenward & Roger (1997), Biometrics 53; Halekoh & Hojsgaard (2014), JSS 59(9).  The marginal
covariance is linear in the variance parameters ``gamma`` (the entries of each random-effects
covariance matrix, lower triangle, on the variance scale, then sigma^2):
``V = sum_r gamma_r G_r`` with ``G_r = Z_k (I (x) E_ij) Z_k'`` and ``G_last = I``.  With
``Phi = (X' V^-1 X)^-1``, ``P_r = -X' V^-1 G_r V^-1 X``, ``Q_rs = X' V^-1 G_r V^-1 G_s V^-1 X`` and
``W`` the inverse of the expected REML information
``I_rs = tr(V^-1 G_r V^-1 G_s)/2 - tr(Phi Q_rs) + tr(Phi P_r Phi P_s)/2``:

    Phi_A = Phi + 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi

pbkrtest's decisions are kept: ``W = 2 I^-1`` by R's ``solve`` (which stops on a computationally
singular matrix) when the smallest absolute eigenvalue of ``I`` exceeds 1e-10, else ``MASS::ginv``;
``F.scaling = 1`` only when ``|DenDF - 2| < 0.01``; ``q`` = ``rankMatrix(L)`` after
``force_full_rank``; a hypothesis outside the row space of ``X`` stops.  Where pbkrtest stops we
raise :class:`mixedcompat.numerics.rlinalg.RLinAlgError` and the tables fall back to Satterthwaite, as lmerTest.
Dense n x n matrices: refused above ``MAX_N`` observations.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from scipy import stats

from mixedcompat.front.design import qr_rank
from mixedcompat.model import require_rows
from mixedcompat.numerics.rlinalg import RLinAlgError, ginv, r_chol_inverse, r_solve, rank_matrix

__all__ = ["KRAdjusted", "kr_adjusted", "kr_adjust", "lb_ddf", "kr_ftest", "kr_ttest", "force_full_rank",
           "MAX_N"]

MAX_N = 5000
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class KRAdjusted:
    """``vcov`` (Phi), ``vcov_adj`` (Phi_A), ``P`` (list of p x p), ``W`` (inverse information)."""

    beta: np.ndarray
    vcov: np.ndarray
    vcov_adj: np.ndarray
    P: list
    W: np.ndarray


def _g_matrices(m) -> list[np.ndarray]:
    """Derivatives of V w.r.t. each covariance parameter (pbkrtest's G_r), residual last."""
    n = len(m.frame.y)
    G = []
    for t in m.terms:
        Z = t.Z()
        Z = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)
        comps = [Z[:, c::t.q] for c in range(t.q)]     # level-major columns: component c of every level
        for j in range(t.q):
            for i in range(j, t.q):
                if i == j:
                    G.append(comps[i] @ comps[i].T)
                else:
                    A = comps[i] @ comps[j].T
                    G.append(A + A.T)
    G.append(np.eye(n))
    return G


def kr_adjusted(m) -> KRAdjusted:
    """pbkrtest's ``vcovAdj``: the Kenward-Roger adjusted covariance of the fixed effects (cached).

    Follows pbkrtest where it decides: ``Sigma^-1`` by Cholesky, ``W = 2 IE2^-1`` by R's ``solve``
    when the smallest absolute eigenvalue of ``IE2`` exceeds 1e-10 and by ``MASS::ginv`` otherwise.

    Raises
    ------
    RLinAlgError
        Where pbkrtest stops (``chol`` of a matrix that is not positive definite, ``solve`` of a
        computationally singular ``IE2``); lmerTest then falls back to Satterthwaite's df.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> kr_adjusted(m).vcov_adj.shape
    (2, 2)
    """
    cached = _CACHE.get(m)
    if isinstance(cached, Exception):
        raise cached
    if cached is not None:
        return cached
    require_rows(m, "Kenward-Roger")
    if not m.REML:
        raise ValueError("Kenward-Roger's method is only available for REML model fits")
    n = len(m.frame.y)
    if n > MAX_N:
        raise NotImplementedError(f"Kenward-Roger uses dense {n} x {n} matrices; refused above "
                                  f"{MAX_N} observations (use ddf='Satterthwaite')")
    try:
        out = _vcov_adj(m)
    except RLinAlgError as exc:
        _remember(m, exc)
        raise
    _remember(m, out)
    return out


def _remember(m, value) -> None:
    try:
        _CACHE[m] = value
    except TypeError:
        pass


def _vcov_adj(m) -> KRAdjusted:
    X = np.asarray(m.frame.X, dtype=float)
    n = X.shape[0]
    sigma2 = float(m.sigma()) ** 2
    Zl = np.asarray((m.getME("Z") @ m.getME("Lambda")).toarray())
    V = sigma2 * (Zl @ Zl.T + np.eye(n))
    if not np.all(np.isfinite(V)):
        raise RLinAlgError("infinite or missing values in the marginal covariance")
    Vinv = r_chol_inverse(V)
    Phi = np.asarray(m.vcov(), dtype=float)
    G = _g_matrices(m)
    k = len(G)
    H = [Gr @ Vinv for Gr in G]                  # G_r V^-1
    O = [Hr @ X for Hr in H]                     # G_r V^-1 X
    VX = Vinv @ X
    P = [-(Or.T @ VX) for Or in O]
    P = [0.5 * (Pr + Pr.T) for Pr in P]
    Q = {}
    for r in range(k):
        for s in range(r, k):
            Q[(r, s)] = O[r].T @ (Vinv @ O[s])
    info2 = np.empty((k, k))
    for r in range(k):
        PhiPr = Phi @ P[r]
        for s in range(r, k):
            ktrace = float(np.sum(H[r].T * H[s]))
            val = ktrace - 2.0 * float(np.sum(Phi * Q[(r, s)])) + float(np.sum(PhiPr * (P[s] @ Phi)))
            info2[r, s] = info2[s, r] = val
    if not np.all(np.isfinite(info2)):
        raise RLinAlgError("infinite or missing values in 'x'")
    condi = float(np.min(np.abs(np.linalg.eigvalsh(info2))))
    W = 2.0 * (r_solve(info2) if condi > 1e-10 else ginv(info2))
    W = 0.5 * (W + W.T)
    U = np.zeros_like(Phi)
    for r in range(k):
        for s in range(r, k):
            term = W[r, s] * (Q[(r, s)] - P[r] @ Phi @ P[s])
            U += term if r == s else term + term.T
    Phi_A = Phi + 2.0 * Phi @ U @ Phi
    return KRAdjusted(beta=np.asarray(m.beta, dtype=float), vcov=Phi, vcov_adj=Phi_A, P=P, W=W)


def _div_zero(x: float, y: float, tol: float = 1e-14) -> float:
    if abs(x) < tol and abs(y) < tol:
        return 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(x) / np.float64(y))


def _solve(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``solve`` of a Matrix-package dense matrix: LAPACK LU with no condition check."""
    try:
        return np.linalg.solve(A, B)
    except np.linalg.LinAlgError as exc:
        raise RLinAlgError(f"Lapack dgetrf: matrix is exactly singular ({exc})") from exc


def kr_adjust(adj: KRAdjusted, L: np.ndarray, q: int | None = None) -> dict:
    """pbkrtest's ``.KR_adjust`` quantities for ``L beta``: ``ddf`` (df2), ``F.scaling``, ``q`` and
    ``aux`` (``A1, A2, V0, V1, V2, rho, F.scaling``).  ``q`` defaults to ``rankMatrix(L)``; with
    ``q = nrow(L)`` these are ``Lb_ddf``'s.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(kr_adjust(kr_adjusted(m), np.array([[0.0, 1.0]]))["ddf"], 6)
    17.0
    """
    Phi = adj.vcov
    L = np.atleast_2d(L)
    Theta = L.T @ _solve(L @ Phi @ L.T, L)
    TP = Theta @ Phi
    k = len(adj.P)
    u = [TP @ Pr @ Phi for Pr in adj.P]
    A1 = A2 = 0.0
    for r in range(k):
        for s in range(r, k):
            e = 1.0 if r == s else 2.0
            A1 += e * adj.W[r, s] * np.trace(u[r]) * np.trace(u[s])
            A2 += e * adj.W[r, s] * float(np.sum(u[r] * u[s].T))
    q = rank_matrix(L) if q is None else q
    with np.errstate(divide="ignore", invalid="ignore"):
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        V0, V1, V2 = 1 + c1 * B, 1 - c2 * B, 1 - c3 * B
        V0 = 0.0 if abs(V0) < 1e-10 else V0
        rho = (1.0 / q) * _div_zero(1 - A2 / q, V1) ** 2 * V0 / V2
        df2 = 4 + (q + 2) / (q * rho - 1)
        scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    aux = {"A1": float(A1), "A2": float(A2), "V0": float(V0), "V1": float(V1), "V2": float(V2),
           "rho": float(rho), "F.scaling": float(scaling)}
    return {"ddf": float(df2), "F.scaling": float(scaling), "q": q, "aux": aux}


def _kr_quantities(adj: KRAdjusted, L: np.ndarray, q: int | None = None) -> tuple[float, float, int, float]:
    """(df2, F.scaling, q, A2) for the hypothesis ``L beta = 0`` (see :func:`kr_adjust`)."""
    r = kr_adjust(adj, L, q)
    return r["ddf"], r["F.scaling"], r["q"], r["aux"]["A2"]


def lb_ddf(adj: KRAdjusted, L: np.ndarray) -> float:
    """pbkrtest's ``Lb_ddf``: Kenward-Roger denominator df for ``L beta`` (``q = nrow(L)``).

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(lb_ddf(kr_adjusted(m), np.array([[0.0, 1.0]])), 6)
    17.0
    """
    L = np.atleast_2d(L)
    return _kr_quantities(adj, L, q=L.shape[0])[0]


def force_full_rank(L: np.ndarray) -> np.ndarray:
    """pbkrtest's ``force_full_rank``: an orthonormal basis of the row space when ``L`` is rank deficient.

    Examples
    --------
    >>> force_full_rank(np.array([[0.0, 1.0], [0.0, 2.0]])).tolist()
    [[0.0, -1.0]]
    """
    if rank_matrix(L) < L.shape[0]:
        rank, pivot = qr_rank(L.T)
        Q, _ = np.linalg.qr(L.T[:, np.asarray(pivot)])
        return Q[:, :rank].T
    return L


def kr_ftest(m, L: np.ndarray, beta_h: np.ndarray | float = 0.0) -> dict:
    """pbkrtest's ``KRmodcomp(m, L)`` as lmerTest reads it: ``F`` (unscaled, ``FstatU``, for
    ``Mean Sq``), ``F value`` (scaled by ``F.scaling``), ``NumDF``, ``DenDF``, ``Pr(>F)``.

    Raises
    ------
    RLinAlgError
        Where pbkrtest stops: the adjusted covariance cannot be computed, or ``L`` is not in the row
        space of ``X`` ("Models have equal mean stucture or are not nested").

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(kr_ftest(m, np.eye(2)[1:])["F value"], 4)
    45.853
    """
    adj = kr_adjusted(m)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    X = np.asarray(m.frame.X, dtype=float)
    if rank_matrix(np.vstack([X, L])) > rank_matrix(X):
        raise RLinAlgError("Models have equal mean stucture or are not nested!")
    L = force_full_rank(L)
    df2, scaling, q, _A2 = _kr_quantities(adj, L)
    Lb = L @ (adj.beta - beta_h)
    wald = float(Lb @ _solve(L @ adj.vcov_adj @ L.T, Lb))
    F = wald / q
    Fs = scaling * F
    p = float(stats.f.sf(Fs, q, df2)) if not (np.isnan(Fs) or np.isnan(df2)) else np.nan
    return {"F": F, "F value": Fs, "NumDF": q, "DenDF": df2, "Pr(>F)": p, "F.scaling": scaling}


def kr_ttest(m, L: np.ndarray) -> tuple[float, float]:
    """lmerTest's ``get_KR1D``: (variance of ``L beta`` under the adjusted covariance, KR df).

    Raises
    ------
    RLinAlgError
        pbkrtest's ``vcovAdj`` or ``Lb_ddf`` stops.
    """
    adj = kr_adjusted(m)
    L = np.asarray(L, dtype=float).ravel()
    return float(L @ adj.vcov_adj @ L), lb_ddf(adj, L[None, :])
