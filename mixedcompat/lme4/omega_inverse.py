"""The diagonal blocks of ``Omega^-1`` (``Omega = Lambda' Z'WZ Lambda + I``) from a PLS factor.

lme4's conditional variances (:mod:`~mixedcompat.lme4.condvar`) are these blocks scaled, and the
criterion's gradient (:mod:`~mixedcompat.lme4.gradient`) needs their sums per term: both read them
from here, one ``q_k x q_k`` block per term and level, never ``Omega^-1`` itself.

* :class:`~mixedcompat.lme4.pls.DenseDeviance`: one LAPACK ``potri`` on a copy of the dense factor.
* :class:`~mixedcompat.lme4.pls.Deviance` (blocked): with ``S = C^-1`` (``C`` the later blocks'
  Schur complement, :mod:`~mixedcompat.lme4.schur`) the later blocks' blocks are ``S``'s diagonal
  blocks, and level j of the first block's is ``Omega_11,j^-1 + W_j' Y_j W_j`` (``W_j = T_1
  Omega_11,j^-1``, ``Y_j = A_1r,j S~ A_r1,j``, ``S~ = Lambda_r S Lambda_r'``).  ``Y_j`` needs ``S~``
  only on the pattern of the fill-in ``A_r1 W A_1r``: the engine's pair pattern
  (:class:`~mixedcompat.lme4.schur.GramPattern`) read backwards, one sparse product per slot.  ``S`` is
  one potri when ``C`` is dense; one solve when ``C`` is sparse and diagonal (later factors nested in
  the first); otherwise its needed entries come from solves with ``C``'s factor by chunks of columns
  (exact, ``O(q_r^2)``: the place for a selected inversion).

No factor is modified.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

from mixedcompat.lme4.pls import DenseDeviance, Deviance, PLSFactor

__all__ = ["inverse_diagonal_blocks", "potri_lower"]

_CHUNK_ENTRIES = 4_000_000       # dense doubles per chunk of solves (32 MB)


def inverse_diagonal_blocks(devfun: Deviance, f: PLSFactor) -> list[np.ndarray]:
    """The diagonal blocks of ``Omega^-1`` at a factor: one array (levels, q_k, q_k) per term, in the
    fit's (lme4's) term order.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> [v.shape for v in inverse_diagonal_blocks(m.devfun, m.factor)]
    [(18, 2, 2)]
    """
    if isinstance(devfun, DenseDeviance):
        q = devfun.q
        S_low = potri_lower(np.array(f.L_full[:q, :q].T, order="F"))
        out, off = [], 0
        for t in devfun.terms:
            out.append(_diagonal_blocks(S_low, off, t.n_levels, t.q))
            off += t.n_levels * t.q
        return out
    blocks = devfun.blocks
    first, T1 = blocks[0], f.block_templates[0]
    q1 = first.q
    L11inv = 1.0 / f.L11 if q1 == 1 else np.linalg.inv(f.L11)
    V1 = np.transpose(L11inv, (0, 2, 1)) @ L11inv                     # Omega_11,j^-1 per level
    per_block = [V1]
    if devfun.later is not None:
        lam = devfun.later.lambda_scale(f.block_templates[1:])
        W = T1[None, :, :] @ V1                                        # W_j = T_1 Omega_11,j^-1
        Y, later_blocks = _later_parts(devfun, f, lam)
        per_block = [V1 + np.transpose(W, (0, 2, 1)) @ Y @ W] + later_blocks
    out: list = [None] * len(devfun.terms)
    for b, V in zip(blocks, per_block):
        for k, Vk in zip(b.members, b.split_blocks(V)):
            out[k] = Vk
    return out


def potri_lower(U: np.ndarray) -> np.ndarray:
    """``(U'U)^-1`` from an upper Cholesky factor ``U`` in Fortran order, which is overwritten (LAPACK
    potri): a C-ordered array whose lower triangle (diagonal included) holds the inverse.

    Examples
    --------
    >>> potri_lower(np.array([[2.0]], order="F")).tolist()
    [[0.25]]
    """
    if U.shape[0] == 0:
        return np.zeros((0, 0))
    inv, info = lapack.dpotri(U, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"potri failed (info={info})")
    return inv.T


def _diagonal_blocks(S_low: np.ndarray, off: int, n: int, q: int) -> np.ndarray:
    """The ``n`` consecutive ``q x q`` diagonal blocks, from column ``off``, of a symmetric matrix given
    by its lower triangle."""
    out = np.empty((n, q, q))
    base = off + q * np.arange(n)
    for a in range(q):
        for b in range(a + 1):
            out[:, a, b] = out[:, b, a] = S_low[base + a, base + b]
    return out


def _later_parts(devfun: Deviance, f: PLSFactor, lam) -> tuple[np.ndarray, list[np.ndarray]]:
    """``Y_j = A_1r,j S~ A_r1,j`` per level of the first block, (levels, q_1, q_1), and the diagonal
    blocks of ``S = C^-1`` per later block (``S~ = Lambda_r S Lambda_r'``)."""
    later = devfun.later
    first = devfun.blocks[0]
    n1, q1 = first.n_levels, first.q
    qr = later.q
    gram = later.gram
    if f.rest.L is not None:
        S_low = potri_lower(np.array(f.rest.L.T, order="F"))
        later_blocks, off = [], 0
        for b in devfun.blocks[1:]:
            later_blocks.append(_diagonal_blocks(S_low, off, b.n_levels, b.q))
            off += b.size
        if gram is not None and isinstance(lam, np.ndarray):
            keys = gram.keys                       # lower triangle: row * qr + col, row >= col
            st_keys = lam[keys // qr] * S_low.ravel()[keys] * lam[keys % qr]
            return _y_from_gram(gram, st_keys, keys, qr, n1, q1), later_blocks
        S = np.tril(S_low)
        S += np.tril(S, -1).T
        St = _sandwich(S, lam)
        Y = _y_from_gram(gram, St.ravel()[gram.keys], gram.keys, qr, n1, q1) if gram is not None \
            else _y_dense(later.rows1, St, n1, q1)
        return Y, later_blocks
    if isinstance(lam, np.ndarray) and gram is not None and np.array_equal(later.key_rows, later.key_cols):
        # a diagonal C (later factors nested in the first): S = diag(C^-1 1)
        s_diag = np.asarray(f.rest.solve(np.ones(qr))).ravel()
        later_blocks, off = [], 0
        for b in devfun.blocks[1:]:
            V = np.zeros((b.n_levels, b.q, b.q))
            idx = np.arange(b.q)
            V[:, idx, idx] = s_diag[off:off + b.size].reshape(b.n_levels, b.q)
            later_blocks.append(V)
            off += b.size
        r = gram.keys // qr
        return _y_from_gram(gram, lam[r] ** 2 * s_diag[r], gram.keys, qr, n1, q1), later_blocks
    # sparse C: the entries of S~ needed (pattern of the fill-in and S's diagonal blocks), by chunks of solves
    keys = gram.keys if gram is not None else None
    rows, cols = (keys // qr, keys % qr) if keys is not None else (None, None)
    st_keys = np.zeros(0 if keys is None else len(keys))
    later_blocks = []
    St_full = None if keys is not None else np.zeros((qr, qr))
    off = 0
    lamT = None if isinstance(lam, np.ndarray) else sp.csr_matrix(lam.T)
    for b in devfun.blocks[1:]:
        nb, qb = b.n_levels, b.q
        V = np.empty((nb, qb, qb))
        per = max(1, _CHUNK_ENTRIES // max(qr * qb, 1))
        for l0 in range(0, nb, per):
            l1 = min(nb, l0 + per)
            c0, c1 = off + l0 * qb, off + l1 * qb
            E = np.zeros((qr, c1 - c0))
            E[np.arange(c0, c1), np.arange(c1 - c0)] = 1.0
            X = np.asarray(f.rest.solve(E)).reshape(qr, c1 - c0)      # S[:, c0:c1]
            diag = X[c0:c1].reshape(l1 - l0, qb, l1 - l0, qb)
            idx = np.arange(l1 - l0)
            Vc = diag[idx, :, idx, :]
            V[l0:l1] = 0.5 * (Vc + np.transpose(Vc, (0, 2, 1)))
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
        later_blocks.append(V)
        off += b.size
    if keys is None:
        return _y_dense(later.rows1, St_full, n1, q1), later_blocks
    return _y_from_gram(gram, st_keys, keys, qr, n1, q1), later_blocks


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
