"""The analytic gradient of lme4's profiled criterion with respect to theta.

With ``A = Z'WZ``, ``Omega = Lambda' A Lambda + I`` and ``D_i = dLambda / dtheta_i`` (one template
position ``(r, c)`` of term ``k``, repeated on each of its levels), the three pieces of the criterion
(:func:`~mixedcompat.lme4.criterion.profiled_criterion`) have the derivatives

* ``d log|Omega| = 2 tr(Omega^-1 Lambda' A D_i)``;
* ``d pwrss = -2 e' W^(1/2) Z D_i u`` (envelope theorem: beta and u are optimal; ``e`` the weighted
  residual, ``u`` the spherical random effects);
* ``d log|R_X'R_X| = -2 tr((R_X'R_X)^-1 E_X' D_i P)``, ``P = Omega^-1 Lambda' Z'WX``,
  ``E_X = Z'W(X - Z Lambda P)``

and the criterion's derivative is ``d ldL2 + d ldRX2 + (n - p) d pwrss / pwrss`` (REML) or
``d ldL2 + n d pwrss / pwrss`` (ML).  When term ``k``'s template ``T_k`` is invertible, the
normal equations (``Lambda' Z'W e = u``, ``Lambda' E_X = P``, ``Omega^-1 Lambda' A Lambda = I -
Omega^-1``) turn every one of them into a sum over the term's levels of ``q_k x q_k`` matrices
times ``T_k^-1``:

    d crit / d theta_i = [ (2 (n_k I - sum_j V_j) - 2 N_k - 2 d U_k / pwrss) T_k^-1 ]_(c, r)

with ``V_j`` the diagonal blocks of ``Omega^-1``, ``U_k = sum_j u_j u_j'``, ``N_k = sum_j P_j
(R_X'R_X)^-1 P_j'`` (REML only) and ``d = n - p`` (REML) or ``n``.  So one gradient needs the sums
of the diagonal blocks of ``Omega^-1`` per term, never ``Omega^-1`` itself
(:func:`~mixedcompat.lme4.omega_inverse.inverse_diagonal_blocks`, shared with the conditional
variances).

A term whose template is singular (a diagonal entry 0: a boundary fit) has its entries of the
gradient by central differences of the criterion with Richardson's extrapolation (four evaluations
per entry, ``FD_STEP`` relative; two-sided at the bound too: the criterion is smooth across it);
every other term is exact.  tests/test_gradient.py checks the gradient against
central differences of the criterion on many shapes, for both engines.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from mixedcompat.lme4.omega_inverse import inverse_diagonal_blocks
from mixedcompat.lme4.pls import DenseDeviance, Deviance, PLSFactor

__all__ = ["criterion_gradient", "FD_STEP", "SINGULAR_DIAG"]

FD_STEP = 1e-5
"""Finite-difference step (times ``max(1, |theta_i|)``) for the entries of a singular template."""
SINGULAR_DIAG = 1e-8
"""A template whose smallest diagonal entry (in absolute value) is below this is treated as singular."""


def criterion_gradient(devfun: Deviance, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """The criterion ``devfun(theta)`` and its gradient with respect to theta.

    Parameters
    ----------
    devfun : Deviance or DenseDeviance
        The model's profiled criterion (REML or ML as ``devfun.REML``).
    theta : ndarray
        The point: any theta, a negative template diagonal included (the criterion depends on each
        template only through ``T T'``; :func:`mixedcompat.lme4.optimize.gradient_descent` uses that).

    Returns
    -------
    value, gradient
        ``devfun(theta)`` and its gradient; ``(inf, nan...)`` where the factorisation fails.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> value, grad = criterion_gradient(m.devfun, m.theta)
    >>> round(value, 3), bool(np.max(np.abs(grad)) < 0.05)      # at the optimum
    (1743.628, True)
    """
    theta = np.asarray(theta, dtype=float)
    nan = np.full(len(theta), np.nan)
    try:
        f = devfun.factor(theta)
    except (np.linalg.LinAlgError, sla.LinAlgError):
        return np.inf, nan
    value = float(devfun.criterion_from_factor(f))
    if not np.isfinite(value):
        return value, nan
    singular = [float(np.min(np.abs(np.diag(T)))) < SINGULAR_DIAG for T in f.templates]
    if all(singular):
        sums = None
    elif isinstance(devfun, DenseDeviance):
        sums = _dense_sums(devfun, f)
    else:
        sums = _blocked_sums(devfun, f)
    grad = np.empty(len(theta))
    d = devfun.n - devfun.p if devfun.REML else devfun.n
    for k, (t, s, T) in enumerate(zip(devfun.terms, devfun.theta_slices, f.templates)):
        if singular[k]:
            grad[s] = [_finite_difference(devfun, theta, i) for i in range(s.start, s.stop)]
            continue
        sumV, U, N = sums[0][k], sums[1][k], sums[2][k]
        M = 2.0 * (t.n_levels * np.eye(t.q) - sumV) - (2.0 * d / f.pwrss) * U
        if devfun.REML:
            M = M - 2.0 * N
        H = sla.solve_triangular(T, M.T, lower=True, trans="T").T      # M T^-1
        r, c = t.tril_index
        grad[s] = H[c, r]
    return value, grad


# ----------------------------------------------------------------------------- per-term sums

def _finite_difference(devfun: Deviance, theta: np.ndarray, i: int) -> float:
    """d crit / d theta_i by central differences with Richardson's extrapolation (steps ``h`` and
    ``h / 2``, ``h = FD_STEP max(1, |theta_i|)``; error O(h^4)).  The criterion is a smooth function
    of theta on both sides of a bound (a negative template diagonal gives the same ``Lambda Lambda'``
    as its column negated), so the difference is two-sided there too."""
    h = FD_STEP * max(1.0, abs(theta[i]))

    def central(step: float) -> float:
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        return (devfun(up) - devfun(down)) / (2.0 * step)
    return (4.0 * central(h / 2.0) - central(h)) / 3.0


def _term_products(devfun: Deviance, f: PLSFactor, sol_terms: list[np.ndarray]) -> tuple[list, list, list]:
    """``U_k = sum_j u_j u_j'``, ``N_k = sum_j P_j (R_X'R_X)^-1 P_j'`` and term k's rows of ``P``.

    ``sol_terms[k]`` is term k's rows of ``Omega^-1 Lambda' Z'W [X r]`` as (levels, q_k, p + 1)
    (``r`` the reduced response): ``P`` is its first ``p`` columns, ``u = Omega^-1 Lambda'Z'W r - P beta``."""
    p = devfun.p
    beta = sla.solve_triangular(f.LXX.T, f.lyX, lower=False) if p > 0 else np.zeros(0)
    U, N = [], []
    for t, sol in zip(devfun.terms, sol_terms):
        P = sol[:, :, :p]
        u2 = sol[:, :, p] - P @ beta
        U.append(u2.T @ u2)
        if devfun.REML and p > 0:
            # Q_j = R_X'^-1 P_j' (p x q_k): N_k = sum_j Q_j' Q_j
            Q = sla.solve_triangular(f.LXX, P.reshape(-1, p).T, lower=True).reshape(-1, t.q)
            N.append(Q.T @ Q)
        else:
            N.append(np.zeros((t.q, t.q)))
    return U, N


def _dense_sums(devfun: DenseDeviance, f: PLSFactor) -> tuple[list, list, list]:
    """Per-term ``(sum_j V_j, U_k, N_k)`` from the one dense factor."""
    q, p = devfun.q, devfun.p
    L = f.L_full
    # Omega^-1 Lambda' Z'W [X r] = L_11^-T (rows q.. of L against the random effects)'
    sol = sla.solve_triangular(L[:q, :q], L[q:q + p + 1, :q].T, lower=True, trans="T")
    sumV = [V.sum(axis=0) for V in inverse_diagonal_blocks(devfun, f)]
    sol_terms, off = [], 0
    for t in devfun.terms:
        n, qk = t.n_levels, t.q
        sol_terms.append(sol[off:off + n * qk].reshape(n, qk, p + 1))
        off += n * qk
    U, N = _term_products(devfun, f, sol_terms)
    return sumV, U, N


def _omega_solve(devfun: Deviance, f: PLSFactor, lam, b1: np.ndarray, br: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Omega^-1 [b1; br]`` from the blocked factor (``b1``: first block's rows, ``br``: later blocks'),
    with ``L_r1 = Lambda_r' A_r1 blockdiag(M1)`` applied through ``A_r1`` (never formed)."""
    first = devfun.blocks[0]
    n1, q1 = first.n_levels, first.q
    k = b1.shape[1]
    b3 = b1.reshape(n1, q1, k)
    c3 = b3 / f.L11 if q1 == 1 else np.linalg.solve(f.L11, b3)
    if f.rest is not None:
        later = devfun.later
        Gc = later.A_r1 @ (f.M1 @ c3).reshape(n1 * q1, k)                    # A_r1 blockdiag(M1) c1
        Gc = Gc * lam[:, None] if isinstance(lam, np.ndarray) else np.asarray(lam.T @ Gc)
        xr = np.asarray(f.rest.solve(br - Gc)).reshape(br.shape[0], k)
        lx = xr * lam[:, None] if isinstance(lam, np.ndarray) else np.asarray(lam @ xr)
        GTx = np.asarray(later.A_r1.T @ lx).reshape(n1, q1, k)               # A_1r Lambda_r x_r
        c3 = c3 - np.transpose(f.M1, (0, 2, 1)) @ GTx
    else:
        xr = np.zeros((0, k))
    x1 = c3 / f.L11 if q1 == 1 else np.linalg.solve(np.transpose(f.L11, (0, 2, 1)), c3)
    return x1.reshape(n1 * q1, k), xr


def _blocked_sums(devfun: Deviance, f: PLSFactor) -> tuple[list, list, list]:
    """Per-term ``(sum_j V_j, U_k, N_k)`` from the blocked factor."""
    blocks = devfun.blocks
    first, T1 = blocks[0], f.block_templates[0]
    n1, q1, p = first.n_levels, first.q, devfun.p
    later = devfun.later
    lam = later.lambda_scale(f.block_templates[1:]) if later is not None else None
    # --- Omega^-1 Lambda' Z'W [X r], by blocks (P and the random effects u)
    b1 = (devfun.AX1.reshape(p + 1, n1, q1) @ T1).transpose(1, 2, 0).reshape(n1 * q1, p + 1)
    if later is not None:
        AXr = devfun.AXr
        br = (AXr * lam[None, :]).T if isinstance(lam, np.ndarray) else np.asarray(lam.T @ AXr.T)
    else:
        br = np.zeros((0, p + 1))
    sol1, solr = _omega_solve(devfun, f, lam, b1, br)
    sumV = [V.sum(axis=0) for V in inverse_diagonal_blocks(devfun, f)]
    # --- per term (lme4's order)
    sol_terms: list = [None] * len(devfun.terms)
    sols, at = [sol1], 0
    for b in blocks[1:]:
        sols.append(solr[at:at + b.size])
        at += b.size
    for b, sol in zip(blocks, sols):
        sol3 = sol.reshape(b.n_levels, b.q, p + 1)
        for k, t, o in zip(b.members, b.terms, b.offsets):
            sol_terms[k] = sol3[:, o:o + t.q, :]
    U, N = _term_products(devfun, f, sol_terms)
    return sumV, U, N
