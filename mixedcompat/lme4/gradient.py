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
of the diagonal blocks of ``Omega^-1`` per term, never ``Omega^-1`` itself:

* :class:`~mixedcompat.lme4.pls.DenseDeviance`: ``Omega^-1`` from the dense factor (LAPACK potri;
  ``q <= DENSE_MAX_Q``).
* :class:`~mixedcompat.lme4.pls.Deviance` (blocked): with ``S = C^-1`` (``C`` the later blocks'
  Schur complement), the later blocks' ``V_j`` are ``S``'s diagonal blocks, and the first block's are
  ``Omega_11,j^-1 + W_j' Y_j W_j`` (``W_j = T_1 Omega_11,j^-1``, ``Y_j = A_1r,j S~ A_r1,j``,
  ``S~ = Lambda_r S Lambda_r'``).  ``sum_j tr(W_j Y_j)`` needs ``S~`` only on the pattern of the
  fill-in ``A_r1 W A_1r``: the engine's pair pattern (:class:`~mixedcompat.lme4.schur.GramPattern`)
  read backwards, one sparse product per slot of ``W``, as in one evaluation.  ``S`` is one potri
  when ``C`` is dense; when ``C`` is sparse (SuperLU) and diagonal (later factors nested in the
  first) one solve; otherwise its needed entries come from solves with ``C``'s factor by chunks of
  columns (exact, but ``O(q_r^2)``: the cost to cut next, with a selected inversion).

A term whose template is singular (a diagonal entry 0: a boundary fit) has its entries of the
gradient by central differences of the criterion with Richardson's extrapolation (four evaluations
per entry, ``FD_STEP`` relative; two-sided at the bound too: the criterion is smooth across it);
every other term is exact.  tests/test_gradient.py checks the gradient against
central differences of the criterion on many shapes, for both engines.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

from mixedcompat.lme4.pls import DenseDeviance, Deviance, PLSFactor

__all__ = ["criterion_gradient", "FD_STEP", "SINGULAR_DIAG"]

FD_STEP = 1e-5
"""Finite-difference step (times ``max(1, |theta_i|)``) for the entries of a singular template."""
SINGULAR_DIAG = 1e-8
"""A template whose smallest diagonal entry (in absolute value) is below this is treated as singular."""
_CHUNK_ENTRIES = 4_000_000       # dense doubles per chunk of solves with a sparse C (32 MB)


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

    Example
    -------
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
    S_low = _lower_inverse(L[:q, :q].T.copy(order="F"))
    sumV, sol_terms, off = [], [], 0
    for t in devfun.terms:
        n, qk = t.n_levels, t.q
        sumV.append(_diagonal_block_sum(S_low, off, n, qk))
        sol_terms.append(sol[off:off + n * qk].reshape(n, qk, p + 1))
        off += n * qk
    U, N = _term_products(devfun, f, sol_terms)
    return sumV, U, N


def _lower_inverse(U: np.ndarray) -> np.ndarray:
    """``(U'U)^-1`` from an upper Cholesky factor ``U`` in Fortran order, overwritten (LAPACK potri):
    a C-ordered array whose lower triangle (diagonal included) holds the inverse; the upper is garbage."""
    if U.shape[0] == 0:
        return np.zeros((0, 0))
    inv, info = lapack.dpotri(U, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"potri failed (info={info})")
    return inv.T


def _diagonal_block_sum(S_low: np.ndarray, off: int, n: int, q: int) -> np.ndarray:
    """Sum over ``n`` levels of the ``q x q`` diagonal blocks of a symmetric matrix from its lower
    triangle, the blocks starting at column ``off``."""
    out = np.empty((q, q))
    base = off + q * np.arange(n)
    for a in range(q):
        for b in range(a + 1):
            out[a, b] = out[b, a] = S_low[base + a, base + b].sum()
    return out


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
    # --- sums of the diagonal blocks of Omega^-1 (after the solves: the later factor is overwritten)
    L11inv = 1.0 / f.L11 if q1 == 1 else np.linalg.inv(f.L11)
    O11inv = np.transpose(L11inv, (0, 2, 1)) @ L11inv                  # Omega_11,j^-1 per level
    first_sum = O11inv.sum(axis=0)
    later_sums = []
    if later is not None:
        W = T1[None, :, :] @ O11inv                                    # W_j = T_1 Omega_11,j^-1
        Y, later_sums = _later_inverse_parts(devfun, f, lam)
        first_sum = first_sum + (np.transpose(W, (0, 2, 1)) @ Y @ W).sum(axis=0)
    block_sums = [first_sum] + later_sums
    # --- per term (lme4's order)
    sumV: list = [None] * len(devfun.terms)
    sol_terms: list = [None] * len(devfun.terms)
    sols, at = [sol1], 0
    for b in blocks[1:]:
        sols.append(solr[at:at + b.size])
        at += b.size
    for b, Sb, sol in zip(blocks, block_sums, sols):
        sol3 = sol.reshape(b.n_levels, b.q, p + 1)
        for k, t, o in zip(b.members, b.terms, b.offsets):
            sumV[k] = Sb[o:o + t.q, o:o + t.q]
            sol_terms[k] = sol3[:, o:o + t.q, :]
    U, N = _term_products(devfun, f, sol_terms)
    return sumV, U, N


def _later_inverse_parts(devfun: Deviance, f: PLSFactor, lam) -> tuple[np.ndarray, list[np.ndarray]]:
    """``Y_j = A_1r,j S~ A_r1,j`` per level of the first block, (levels, q_1, q_1), and the sums of the
    diagonal blocks of ``S = C^-1`` per later block (``S~ = Lambda_r S Lambda_r'``).  A dense factor
    of ``C`` is overwritten by its inverse."""
    later = devfun.later
    first = devfun.blocks[0]
    n1, q1 = first.n_levels, first.q
    qr = later.q
    gram = later.gram
    if f.rest.L is not None:
        L = f.rest.L
        S_low = _lower_inverse(L.T if L.T.flags.f_contiguous else L.T.copy(order="F"))
        later_sums, off = [], 0
        for b in devfun.blocks[1:]:
            later_sums.append(_diagonal_block_sum(S_low, off, b.n_levels, b.q))
            off += b.size
        if gram is not None and isinstance(lam, np.ndarray):
            keys = gram.keys                       # lower triangle: row * qr + col, row >= col
            st_keys = lam[keys // qr] * S_low.ravel()[keys] * lam[keys % qr]
            Y = _y_from_gram(gram, st_keys, keys, qr, n1, q1)
        else:
            S = np.tril(S_low)
            S += np.tril(S, -1).T
            St = _sandwich(S, lam)
            Y = _y_from_gram(gram, St.ravel()[gram.keys], gram.keys, qr, n1, q1) if gram is not None \
                else _y_dense(later.rows1, St, n1, q1)
        return Y, later_sums
    if isinstance(lam, np.ndarray) and gram is not None and np.array_equal(later.key_rows, later.key_cols):
        # a diagonal C (later factors nested in the first): S = diag(C^-1 1)
        s_diag = np.asarray(f.rest.solve(np.ones(qr))).ravel()
        later_sums, off = [], 0
        for b in devfun.blocks[1:]:
            later_sums.append(np.diag(s_diag[off:off + b.size].reshape(b.n_levels, b.q).sum(axis=0)))
            off += b.size
        r = gram.keys // qr
        return _y_from_gram(gram, lam[r] ** 2 * s_diag[r], gram.keys, qr, n1, q1), later_sums
    # sparse C: the entries of S~ needed (pattern of the fill-in and S's diagonal blocks), by chunks of solves
    keys = gram.keys if gram is not None else None
    rows, cols = (keys // qr, keys % qr) if keys is not None else (None, None)
    st_keys = np.zeros(0 if keys is None else len(keys))
    later_sums = []
    St_full = None if keys is not None else np.zeros((qr, qr))
    off = 0
    lamT = None if isinstance(lam, np.ndarray) else sp.csr_matrix(lam.T)
    for b in devfun.blocks[1:]:
        nb, qb = b.n_levels, b.q
        acc = np.zeros((qb, qb))
        per = max(1, _CHUNK_ENTRIES // max(qr * qb, 1))
        for l0 in range(0, nb, per):
            l1 = min(nb, l0 + per)
            c0, c1 = off + l0 * qb, off + l1 * qb
            E = np.zeros((qr, c1 - c0))
            E[np.arange(c0, c1), np.arange(c1 - c0)] = 1.0
            X = np.asarray(f.rest.solve(E)).reshape(qr, c1 - c0)      # S[:, c0:c1]
            diag = X[c0:c1].reshape(l1 - l0, qb, l1 - l0, qb)
            idx = np.arange(l1 - l0)
            acc += diag[idx, :, idx, :].sum(axis=0)
            # S~[:, c0:c1] = Lambda_r S Lambda_r'[:, c0:c1] (Lambda_r' block diagonal: rows c0:c1 only)
            if isinstance(lam, np.ndarray):
                Xt = lam[:, None] * X * lam[None, c0:c1]
            else:
                Xt = np.asarray(lam @ (X @ lamT[c0:c1, c0:c1].toarray()))
            if keys is None:
                St_full[:, c0:c1] = Xt
            else:
                sel = (cols >= c0) & (cols < c1)
                st_keys[sel] = Xt[rows[sel], cols[sel] - c0]
        later_sums.append(0.5 * (acc + acc.T))
        off += b.size
    if keys is None:
        return _y_dense(later.rows1, St_full, n1, q1), later_sums
    return _y_from_gram(gram, st_keys, keys, qr, n1, q1), later_sums


def _sandwich(S: np.ndarray, lam) -> np.ndarray:
    """``Lambda_r S Lambda_r'`` for a vector (diagonal) or sparse ``Lambda_r`` and a symmetric ``S``."""
    if isinstance(lam, np.ndarray):
        return lam[:, None] * S * lam[None, :]
    LS = np.asarray(lam @ S)                     # Lambda S
    return np.asarray(lam @ LS.T)                # Lambda (Lambda S)' = Lambda S Lambda'


def _y_from_gram(gram, st_keys: np.ndarray, keys: np.ndarray, qr: int, n1: int, q1: int) -> np.ndarray:
    """``Y_j`` from ``S~`` at the fill-in pattern's keys (lower triangle), through the pair pattern
    read backwards: ``sum_keys w K = sum_j sum_slots (mat_s' w)_j W_j[slot]``."""
    r, c = keys // qr, keys % qr
    w = np.where(r == c, st_keys, 2.0 * st_keys)
    Y = np.empty((n1, q1, q1))
    for mat, a, b in zip(gram.mats, gram.iu[0], gram.iu[1]):
        y = mat.T @ w
        if a == b:
            Y[:, a, a] = y
        else:
            Y[:, a, b] = Y[:, b, a] = 0.5 * y
    return Y


def _y_dense(rows1, St: np.ndarray, n1: int, q1: int) -> np.ndarray:
    """``Y_j = A_1r,j S~ A_r1,j`` with a dense ``S~`` (no pair pattern): ``S~ A_r1`` by chunks of levels."""
    Ar1 = rows1.times_blocks(np.broadcast_to(np.eye(q1), (n1, q1, q1))).tocsc()
    qr = Ar1.shape[0]
    Y = np.empty((n1, q1, q1))
    per = max(1, _CHUNK_ENTRIES // max(qr * q1, 1))
    for l0 in range(0, n1, per):
        l1 = min(n1, l0 + per)
        A = Ar1[:, l0 * q1:l1 * q1]
        T = np.asarray((A.T @ St).T)                   # S~ A_r1 for these levels (qr x cols)
        for a in range(q1):
            for b in range(q1):
                Y[l0:l1, a, b] = np.asarray(A[:, a::q1].multiply(T[:, b::q1]).sum(axis=0)).ravel()
    return Y

