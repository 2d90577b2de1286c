"""Kenward-Roger adjusted covariance, denominator df and F scaling for REML lmer fits (as pbkrtest).

Kenward & Roger (1997), Biometrics 53; Halekoh & Hojsgaard (2014), JSS 59(9).  The marginal
covariance is linear in the variance parameters ``gamma`` (the entries of each random-effects
covariance matrix, lower triangle, on the variance scale, then sigma^2):
``V = sum_r gamma_r G_r`` with ``G_r = Z_k (I (x) E_ij) Z_k'`` and ``G_last = I``.  With
``Phi = (X' V^-1 X)^-1``, ``P_r = -X' V^-1 G_r V^-1 X``, ``Q_rs = X' V^-1 G_r V^-1 G_s V^-1 X`` and
``W`` the inverse of the expected REML information
``I_rs = tr(V^-1 G_r V^-1 G_s)/2 - tr(Phi Q_rs) + tr(Phi P_r Phi P_s)/2``:

    Phi_A = Phi + 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi

Dense n x n matrices: refused above ``MAX_N`` observations.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["KRAdjusted", "kr_adjusted", "lb_ddf", "kr_ftest", "MAX_N"]

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

    Example
    -------
    >>> # kr_adjusted(m).vcov_adj   # p x p
    """
    cached = _CACHE.get(m)
    if cached is not None:
        return cached
    if not m.REML:
        raise ValueError("Kenward-Roger's method is only available for REML model fits")
    n = len(m.frame.y)
    if n > MAX_N:
        raise NotImplementedError(f"Kenward-Roger uses dense {n} x {n} matrices; refused above "
                                  f"{MAX_N} observations (use ddf='Satterthwaite')")
    X = np.asarray(m.frame.X, dtype=float)
    sigma2 = float(m.sigma()) ** 2
    Zl = np.asarray((m.getME("Z") @ m.getME("Lambda")).toarray())
    V = sigma2 * (Zl @ Zl.T + np.eye(n))
    Vinv = np.linalg.inv(V)
    Vinv = 0.5 * (Vinv + Vinv.T)
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
    ev = np.linalg.eigvalsh(info2)
    W = 2.0 * (np.linalg.inv(info2) if np.min(np.abs(ev)) > 1e-10 else np.linalg.pinv(info2))
    W = 0.5 * (W + W.T)
    U = np.zeros_like(Phi)
    for r in range(k):
        for s in range(r, k):
            term = W[r, s] * (Q[(r, s)] - P[r] @ Phi @ P[s])
            U += term if r == s else term + term.T
    Phi_A = Phi + 2.0 * Phi @ U @ Phi
    out = KRAdjusted(beta=np.asarray(m.beta, dtype=float), vcov=Phi, vcov_adj=Phi_A, P=P, W=W)
    try:
        _CACHE[m] = out
    except TypeError:
        pass
    return out


def _div_zero(x: float, y: float, tol: float = 1e-14) -> float:
    return 1.0 if (abs(x) < tol and abs(y) < tol) else x / y


def _kr_quantities(adj: KRAdjusted, L: np.ndarray) -> tuple[float, float, int]:
    """(df2, F.scaling, q) for the hypothesis ``L beta = 0``."""
    Phi = adj.vcov
    L = np.atleast_2d(L)
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    TP = Theta @ Phi
    k = len(adj.P)
    u = [TP @ Pr @ Phi for Pr in adj.P]
    A1 = A2 = 0.0
    for r in range(k):
        for s in range(r, k):
            e = 1.0 if r == s else 2.0
            A1 += e * adj.W[r, s] * np.trace(u[r]) * np.trace(u[s])
            A2 += e * adj.W[r, s] * float(np.sum(u[r] * u[s].T))
    q = int(np.linalg.matrix_rank(L))
    B = (A1 + 6.0 * A2) / (2.0 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    den = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    V0, V1, V2 = 1 + c1 * B, 1 - c2 * B, 1 - c3 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    rho = (1.0 / q) * _div_zero(1 - A2 / q, V1) ** 2 * V0 / V2
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 4) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    return float(df2), float(scaling), q


def lb_ddf(adj: KRAdjusted, L: np.ndarray) -> float:
    """pbkrtest's ``Lb_ddf``: Kenward-Roger denominator df for ``L beta``."""
    return _kr_quantities(adj, L)[0]


def kr_ftest(m, L: np.ndarray) -> dict:
    """Kenward-Roger F test of ``L beta = 0``: scaled F with the adjusted covariance, as pbkrtest / lmerTest.

    Returns ``F value``, ``NumDF``, ``DenDF``, ``Pr(>F)``.
    """
    adj = kr_adjusted(m)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    df2, scaling, q = _kr_quantities(adj, L)
    Lb = L @ adj.beta
    wald = float(Lb @ np.linalg.solve(L @ adj.vcov_adj @ L.T, Lb))
    F = scaling * wald / q
    return {"F value": F, "NumDF": q, "DenDF": df2, "Pr(>F)": float(stats.f.sf(F, q, df2))}
