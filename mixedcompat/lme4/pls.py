"""The profiled (RE)ML deviance of a linear mixed model as a pure function of theta.

Penalised least squares in lme4's formulation (Bates et al. 2015, JSS 67(1)) with the blocked
Cholesky factor of MixedModels.jl.  ``A = [Z X y]' W [Z X y]`` is computed once, in blocks (one
block row per random-effects term, the largest first, then ``[X y]``); each evaluation builds the
factor ``L`` of ``[[Lambda' Z'WZ Lambda + I, Lambda' Z'W[X y]], [.., [X y]'W[X y]]]`` from those
blocks, so its cost does not grow with the number of observations.

Block ``1`` is block diagonal (batched q x q Cholesky); later random-effects blocks are dense after
fill-in; off-diagonal blocks against block 1 stay sparse.

Precision: the criterion is invariant under ``y -> y - X c`` for any ``c`` (beta shifts by ``c``), so
the ``y`` of ``A`` is the weighted response minus its least-squares fit on ``X``
(:class:`~mixedcompat.lme4.response.ResponseReduction`, a QR of ``sqrt(W) X`` computed once).  The rounding of each evaluation
is then relative to the residual sum of squares, not to ``y'y``: a response with mean 1e6, or a slope
on ``x = 1:10000`` (lme4's tests/fewlevels.R, ``y'y ~ 1e12``), keeps the criterion's rounding at
~1e-15 relative, where lme4 (which sums the residuals) is.  Every response the criterion is built
from goes through it: a new response for the same model is :meth:`Deviance.with_response`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from mixedcompat.front.reterms import ReTerm, ThetaLayout
from mixedcompat.lme4.criterion import profiled_criterion
from mixedcompat.lme4.response import ResponseReduction

@dataclass(frozen=True)
class PLSFactor:
    """The pieces of the blocked Cholesky factor at one theta."""

    theta: np.ndarray
    templates: list                  # q x q lower-triangular T_k per term
    L11: np.ndarray                  # (levels_1, q_1, q_1) batched lower Cholesky of block 1
    M1: np.ndarray                   # (levels_1, q_1, q_1): T_1 L11^{-T} per level
    G: list                          # G[k] (k >= 1): sparse L_{k,1}
    Ldense: dict                     # (k, j) -> dense L_{k j} for 1 <= j <= k (k, j >= 1, 0-based terms)
    LX: list                         # LX[k]: (p+1) x (levels_k q_k) dense L_{Xy, k}
    LXX: np.ndarray                  # p x p lower Cholesky of the fixed-effects Schur complement (R_X')
    lyX: np.ndarray                  # (p,) last row of L against X
    pwrss: np.float64                # penalised weighted residual sum of squares r^2
    ldL2: float                      # log |L_Z|^2
    ldRX2: float                     # log |R_X|^2
    L_full: np.ndarray | None = None # the whole dense factor (DenseDeviance only)


def _batched_cholesky(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors of a stack of small SPD blocks and their inverses (closed form for q <= 2)."""
    q = blocks.shape[1]
    if q == 1:
        L = np.sqrt(blocks)
        return L, 1.0 / L
    if q == 2:
        a, b, c = blocks[:, 0, 0], blocks[:, 1, 0], blocks[:, 1, 1]
        l11 = np.sqrt(a)
        l21 = b / l11
        l22 = np.sqrt(c - l21 * l21)
        L = np.zeros_like(blocks)
        L[:, 0, 0], L[:, 1, 0], L[:, 1, 1] = l11, l21, l22
        Linv = np.zeros_like(blocks)
        Linv[:, 0, 0], Linv[:, 1, 1] = 1.0 / l11, 1.0 / l22
        Linv[:, 1, 0] = -l21 / (l11 * l22)
        if not (np.all(np.isfinite(l22)) and np.all(l22 > 0)):
            raise np.linalg.LinAlgError("block not positive definite")
        return L, Linv
    L = np.linalg.cholesky(blocks)
    return L, np.linalg.inv(L)


def _block_diag_sparse(blocks: np.ndarray) -> sp.csr_matrix:
    """Block-diagonal sparse matrix from (m, q, q) dense blocks."""
    m, q, _ = blocks.shape
    if q == 1:
        return sp.diags(blocks[:, 0, 0], format="csr")
    return sp.bsr_matrix((blocks, np.arange(m), np.arange(m + 1)), shape=(m * q, m * q)).tocsr()


def diag_blocks(t: ReTerm, sqrtw: np.ndarray | None) -> np.ndarray:
    """The diagonal blocks of ``Z_t' W Z_t``: one ``q x q`` block per level of term ``t``
    (``(levels, q, q)``); ``sqrtw`` the square roots of the prior weights (None: unweighted).

    Example
    -------
    >>> t = ReTerm("g", "1 | g", np.array([0, 0, 1]), ["a", "b"], np.ones((3, 1)), ["(Intercept)"])
    >>> diag_blocks(t, None)[:, 0, 0].tolist()
    [2.0, 1.0]
    """
    Xw = t.X if sqrtw is None else t.X * sqrtw[:, None]
    q = t.q
    out = np.empty((t.n_levels, q, q))
    for a in range(q):
        for b in range(a, q):
            s = np.bincount(t.codes, weights=Xw[:, a] * Xw[:, b], minlength=t.n_levels)
            out[:, a, b] = s
            out[:, b, a] = s
    return out


class _BlockRows:
    """A sparse block ``A_k1`` (rows: term k's columns; columns: level x component of term 1) stored
    as one dense row vector of length q_1 per (row, level) pair, so that multiplying by a
    block-diagonal matrix (one q_1 x q_1 block per level) is a batched product on the data.
    """

    def __init__(self, A: sp.spmatrix, q1: int):
        coo = A.tocoo()
        self.shape = A.shape
        self.q1 = q1
        n_levels = A.shape[1] // q1
        key = coo.row.astype(np.int64) * n_levels + coo.col // q1
        keys, inv = np.unique(key, return_inverse=True)
        self.rows = (keys // n_levels).astype(np.int64)
        self.levels = (keys % n_levels).astype(np.int64)
        self.vals = np.zeros((len(keys), q1))
        self.vals[inv, coo.col % q1] = coo.data
        self.indices = (self.levels[:, None] * q1 + np.arange(q1)[None, :]).ravel().astype(np.int32)
        counts = np.bincount(self.rows, minlength=A.shape[0]) * q1
        self.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)

    def times_blocks(self, M: np.ndarray) -> sp.csr_matrix:
        """``A @ blockdiag(M)`` for (levels, q1, q1) blocks ``M``."""
        if self.q1 == 1:
            data = self.vals[:, 0] * M[self.levels, 0, 0]
        else:
            data = np.einsum("pa,pab->pb", self.vals, M[self.levels]).ravel()
        return sp.csr_matrix((data, self.indices, self.indptr), shape=self.shape)


class _GramPattern:
    """``A_k1 W A_j1'`` for scalar terms k, j as one sparse matrix-vector product in ``W``.

    ``W`` is block diagonal with one symmetric q_1 x q_1 block per level of the first term
    (``M1 M1'``).  Every pair of (row, level) entries of ``A_k1`` and ``A_j1`` at the same level
    contributes ``a' W_level b`` to one entry of the dense result; the pairs and their coefficients
    (one per upper-triangle entry of ``W_level``) are collected once, so an evaluation costs one pass
    over them instead of two sparse matrix products.
    """

    MAX_PAIRS = 30_000_000

    def __init__(self, mats: list, shape: tuple[int, int], q1: int):
        self.mats = mats
        self.shape = shape
        self.iu = np.triu_indices(q1)

    @classmethod
    def build(cls, Ak: "_BlockRows", Aj: "_BlockRows", same: bool) -> "_GramPattern | None":
        q1 = Ak.q1
        n_levels = Ak.shape[1] // q1
        ok = np.argsort(Ak.levels, kind="stable")
        oj = np.argsort(Aj.levels, kind="stable")
        lk, rk, vk = Ak.levels[ok], Ak.rows[ok], Ak.vals[ok]
        lj, rj, vj = Aj.levels[oj], Aj.rows[oj], Aj.vals[oj]
        nj = np.bincount(lj, minlength=n_levels)
        start_j = np.concatenate([[0], np.cumsum(nj)[:-1]])
        reps = nj[lk]
        total = int(reps.sum())
        if total > cls.MAX_PAIRS or total == 0:
            return None
        idx_k = np.repeat(np.arange(len(lk)), reps)
        first = np.repeat(np.cumsum(reps) - reps, reps)
        idx_j = np.repeat(start_j[lk], reps) + (np.arange(total) - first)
        del first
        r, c = rk[idx_k], rj[idx_j]
        if same:
            keep = r >= c
            idx_k, idx_j, r, c = idx_k[keep], idx_j[keep], r[keep], c[keep]
        m_k, m_j = Ak.shape[0], Aj.shape[0]
        out = (r * m_j + c).astype(np.int64 if m_k * m_j > 2**31 - 1 else np.int32)
        del r, c
        # pairs are in level order: one CSC matrix per upper-triangle slot of W, columns = levels,
        # built without sorting
        indptr = np.concatenate([[0], np.cumsum(np.bincount(lk[idx_k], minlength=n_levels))])
        iu, ju = np.triu_indices(q1)
        mats = []
        for a, b in zip(iu, ju):
            coef = vk[idx_k, a] * vj[idx_j, b]
            if a != b:
                coef += vk[idx_k, b] * vj[idx_j, a]
            mats.append(sp.csc_matrix((coef, out, indptr), shape=(m_k * m_j, n_levels)))
        return cls(mats, (m_k, m_j), q1)

    def evaluate(self, W: np.ndarray, scale: float) -> np.ndarray:
        """The dense product for (levels, q1, q1) blocks ``W``; for a diagonal block only its lower
        triangle is filled (all the Cholesky factorisation that follows reads)."""
        out = self.mats[0] @ W[:, self.iu[0][0], self.iu[1][0]]
        for mat, a, b in zip(self.mats[1:], self.iu[0][1:], self.iu[1][1:]):
            out += mat @ W[:, a, b]
        out = out.reshape(self.shape)
        out *= scale
        return out


class Deviance:
    """The profiled deviance (ML) or REML criterion as a function of theta.

    Parameters
    ----------
    terms : list of ReTerm
        Random-effects terms in lme4's order.
    X, y : ndarray
        Fixed-effects model matrix (n x p) and response.
    weights, offset : ndarray or None
        Prior weights and offset.
    REML : bool
        REML criterion when True, deviance otherwise.

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> dev = Deviance(m.terms, m.frame.X, m.frame.y, None, None, REML=True)
    >>> round(dev(m.theta), 3)
    1743.628
    """

    def __init__(self, terms: list[ReTerm], X: np.ndarray, y: np.ndarray,
                 weights: np.ndarray | None, offset: np.ndarray | None, REML: bool):
        sqrtw, XY, resp = self._setup(terms, X, y, weights, offset, REML)
        p = self.p
        # --- the blocks of A --------------------------------------------------------------------
        Zs = [t.Z(sqrtw) for t in terms]
        self.Adiag = [diag_blocks(t, sqrtw) for t in terms]
        self.Aoff: dict[tuple[int, int], sp.csr_matrix] = {}
        for k in range(1, len(terms)):
            for j in range(k):
                self.Aoff[(k, j)] = (Zs[k].T @ Zs[j]).tocsr()
        self.AX = [np.asarray((Z.T @ XY).T) for Z in Zs]   # (p+1) x (levels q)
        self.against_first = {k: _BlockRows(self.Aoff[(k, 0)], terms[0].q) for k in range(1, len(terms))}
        self.grams: dict[tuple[int, int], _GramPattern | None] = {}
        for k in range(1, len(terms)):
            for j in range(1, k + 1):
                self.grams[(k, j)] = _GramPattern.build(self.against_first[k], self.against_first[j],
                                                        same=(k == j)) \
                    if terms[k].q == 1 and terms[j].q == 1 else None
        self.AXX = XY.T @ XY
        self._put_response(resp)

    def _setup(self, terms: list[ReTerm], X: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
               offset: np.ndarray | None, REML: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Common set-up: sizes, the weights' log-determinant, the weighted ``[X, r]`` and ``r`` (the
        reduced response, :class:`ResponseReduction`; ``beta_shift`` the coefficients it removed)."""
        self.terms = terms
        self.layout = ThetaLayout.of(terms)
        self.theta_slices = self.layout.slices
        self.n_theta = self.layout.n_theta
        self.REML = bool(REML)
        self.n, self.p = X.shape
        with np.errstate(divide="ignore"):   # a zero weight gives -Inf, as in lme4
            self.sum_log_weights = float(np.sum(np.log(weights))) if weights is not None else 0.0
        self.response = ResponseReduction(X, weights, offset)
        r, self.beta_shift = self.response.reduce(y)
        return self.response.sqrtw, np.column_stack([self.response.Xs, r]), r

    def with_response(self, y: np.ndarray) -> "Deviance":
        """The criterion of the same model (X, Z, weights, offset) for another response ``y``: only
        the response's cross-products are recomputed (bootstrap replicates, parametric tests).

        Example
        -------
        >>> import mixedcompat as mc
        >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
        >>> shifted = m.devfun.with_response(m.frame.y + 100.0)     # absorbed by the intercept
        >>> bool(abs(shifted(m.theta) - m.devfun(m.theta)) < 1e-9)
        True
        """
        r, shift = self.response.reduce(y)
        new = copy.copy(self)
        new.beta_shift = shift
        new._copy_response_arrays()
        new._put_response(r)
        return new

    def response_cross_products(self, r: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, float]:
        """``([Z_k' sqrt(W) r for each term], (sqrt(W) X)' r, r'r)`` for a reduced response ``r``,
        accumulated in extended precision and rounded once.

        The criterion depends on these to first order, amplified by ``r'r / pwrss``: sums rounded
        term by term would leave a bias of a few units in the last place of the criterion (lme4's
        own is correctly rounded).

        Example
        -------
        >>> import mixedcompat as mc
        >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
        >>> zr, xr, rr = m.devfun.response_cross_products(m.devfun.response.reduce(m.frame.y)[0])
        >>> len(zr), zr[0].shape, xr.shape
        (1, (36,), (2,))
        """
        if not self.response.extended:
            r = np.asarray(r, dtype=float)
            sqrtw = self.response.sqrtw
            zr = []
            for t in self.terms:
                Xw = t.X if sqrtw is None else t.X * sqrtw[:, None]
                zr.append(np.column_stack([np.bincount(t.codes, weights=Xw[:, a] * r, minlength=t.n_levels)
                                           for a in range(t.q)]).ravel())
            return zr, self.response.Xs.T @ r, float(r @ r)
        ext = np.longdouble
        r_ext = np.asarray(r, dtype=float).astype(ext)
        if getattr(self, "_zw_ext", None) is None:
            sqrtw = self.response.sqrtw
            # Z's entries (as in ReTerm.Z(sqrtw)), one row per column of the term, and sqrt(W) X
            self._zw_ext = [(t.X if sqrtw is None else t.X * sqrtw[:, None]).T.astype(ext) for t in self.terms]
            resp = self.response
            self._xs_ext = resp._X_ext if resp.sqrtw is None and resp.active else resp.Xs.T.astype(ext)
        zr = []
        for t, Zw in zip(self.terms, self._zw_ext):
            out = np.zeros((t.q, t.n_levels), dtype=ext)
            for a in range(t.q):
                np.add.at(out[a], t.codes, Zw[a] * r_ext)
            zr.append(out.T.ravel().astype(float))
        xr = (self._xs_ext @ r_ext).astype(float) if self.p else np.zeros(0)
        return zr, xr, float(r_ext @ r_ext)

    def _copy_response_arrays(self) -> None:
        """Own copies of the arrays :meth:`_put_response` writes (a copied object shares them)."""
        self.AX = [AXk.copy() for AXk in self.AX]
        self.AXX = self.AXX.copy()

    def _put_response(self, r: np.ndarray) -> None:
        """Write the response rows of ``A`` for the reduced response ``r``."""
        p = self.p
        zr, xr, rr = self.response_cross_products(r)
        for AXk, zrk in zip(self.AX, zr):
            AXk[p, :] = zrk
        self.AXX[p, :p] = xr
        self.AXX[:p, p] = xr
        self.AXX[p, p] = rr
        t1 = self.terms[0]
        self._AX1_3d = self.AX[0].reshape(p + 1, t1.n_levels, t1.q)

    # -----------------------------------------------------------------------------------------
    def factor(self, theta: np.ndarray) -> PLSFactor:
        """Blocked Cholesky factor at ``theta`` (no state is kept)."""
        theta = np.asarray(theta, dtype=float)
        terms = self.terms
        K = len(terms)
        p = self.p
        T = [t.template(theta[s]) for t, s in zip(terms, self.theta_slices)]
        # block 1: block diagonal
        t1 = terms[0]
        T1 = T[0]
        B = T1.T[None, :, :] @ self.Adiag[0] @ T1[None, :, :]
        B = B + np.eye(t1.q)[None, :, :]
        L11, L11inv = _batched_cholesky(B)
        M1 = T1[None, :, :] @ np.transpose(L11inv, (0, 2, 1))        # T_1 L^{-T}
        ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L11, axis1=1, axis2=2))))
        # L_{X,1}
        LX = [np.einsum("pli,lij->plj", self._AX1_3d, M1).reshape(p + 1, -1)]
        G: list = [None]
        Ldense: dict = {}
        if K > 1:
            W1 = M1 @ np.transpose(M1, (0, 2, 1))          # Lambda_1 (L_11 L_11')^{-1} Lambda_1' blocks
            for k in range(1, K):
                Gk = self.against_first[k].times_blocks(M1)
                G.append(self._left_template(Gk, T[k], terms[k]).tocsr())
            for k in range(1, K):
                tk = terms[k]
                # diagonal block
                D = self._lam_t_a_lam(self.Adiag[k], T[k], tk)
                D -= self._gram(k, k, G, T, W1)
                for j in range(1, k):
                    Akj = self.Aoff[(k, j)].toarray()
                    Akj = self._scale_dense(Akj, T[k], tk, T[j], terms[j])
                    Akj -= self._gram(k, j, G, T, W1)
                    for m in range(1, j):
                        Akj -= Ldense[(k, m)] @ Ldense[(j, m)].T
                    Lkj = sla.solve_triangular(Ldense[(j, j)], Akj.T, lower=True).T
                    Ldense[(k, j)] = Lkj
                    D -= Lkj @ Lkj.T
                Lkk = np.linalg.cholesky(D)
                Ldense[(k, k)] = Lkk
                ldL2 += 2.0 * float(np.sum(np.log(np.diag(Lkk))))
                # X block against term k
                AXk = self.AX[k]
                if tk.q == 1:
                    AXk = AXk * theta[self.theta_slices[k]][0]
                else:
                    AXk = (AXk.reshape(p + 1, tk.n_levels, tk.q) @ T[k]).reshape(p + 1, -1)
                AXk = AXk - (G[k] @ LX[0].T).T
                for m in range(1, k):
                    AXk = AXk - LX[m] @ Ldense[(k, m)].T
                LX.append(sla.solve_triangular(Lkk, AXk.T, lower=True, check_finite=False).T)
        S = self.AXX.copy()
        for Lk in LX:
            S -= Lk @ Lk.T
        if p > 0:
            C = np.linalg.cholesky(S)
            LXX = C[:p, :p]
            lyX = C[p, :p]
            pwrss = C[p, p] ** 2
            ldRX2 = 2.0 * float(np.sum(np.log(np.diag(LXX))))
        else:
            LXX = np.zeros((0, 0))
            lyX = np.zeros(0)
            pwrss = S[0, 0]
            ldRX2 = 0.0
        return PLSFactor(theta, T, L11, M1, G, Ldense, LX, LXX, lyX, pwrss, ldL2, ldRX2)

    def _gram(self, k: int, j: int, G: list, T: list, W1: np.ndarray) -> np.ndarray:
        """Dense L_{k,1} L_{j,1}' (the fill-in from block 1); for k == j possibly lower triangle only,
        which is all the Cholesky factorisation that follows reads."""
        pattern = self.grams.get((k, j))
        if pattern is not None:
            return pattern.evaluate(W1, T[k][0, 0] * T[j][0, 0])
        return (G[k] @ G[j].T).toarray()

    @staticmethod
    def _left_template(Gk: sp.spmatrix, Tk: np.ndarray, tk: ReTerm) -> sp.spmatrix:
        """Multiply on the left by Lambda_k' (block diagonal of T_k')."""
        if tk.q == 1:
            return Gk * Tk[0, 0]
        blocks = np.broadcast_to(Tk.T, (tk.n_levels, tk.q, tk.q))
        return _block_diag_sparse(np.ascontiguousarray(blocks)) @ Gk

    @staticmethod
    def _lam_t_a_lam(Adiag: np.ndarray, Tk: np.ndarray, tk: ReTerm) -> np.ndarray:
        """Dense Lambda_k' A_kk Lambda_k + I."""
        blocks = Tk.T[None, :, :] @ Adiag @ Tk[None, :, :] + np.eye(tk.q)[None, :, :]
        return sla.block_diag(*blocks) if tk.q > 1 else np.diag(blocks[:, 0, 0])

    @staticmethod
    def _scale_dense(A: np.ndarray, Tk, tk: ReTerm, Tj, tj: ReTerm) -> np.ndarray:
        """Lambda_k' A Lambda_j for a dense off-diagonal block."""
        if tk.q == 1:
            A = A * Tk[0, 0]
        else:
            A = (A.reshape(tk.n_levels, tk.q, -1).transpose(0, 2, 1) @ Tk).transpose(0, 2, 1).reshape(A.shape)
        if tj.q == 1:
            A = A * Tj[0, 0]
        else:
            A = (A.reshape(A.shape[0], tj.n_levels, tj.q) @ Tj).reshape(A.shape)
        return A

    # -----------------------------------------------------------------------------------------
    def criterion_from_factor(self, f: PLSFactor, REML: bool | None = None) -> float:
        """lme4's objective from a factor: REML criterion or deviance (same constants as lme4)."""
        REML = self.REML if REML is None else REML
        return profiled_criterion(f.ldL2, f.ldRX2, f.pwrss, self.n, self.p, REML, self.sum_log_weights)

    def __call__(self, theta: np.ndarray) -> float:
        try:
            return self.criterion_from_factor(self.factor(theta))
        except (np.linalg.LinAlgError, sla.LinAlgError):
            return np.inf

    def solution(self, theta: np.ndarray) -> tuple[float, np.ndarray, float] | None:
        """``(criterion, beta, pwrss)`` at ``theta`` (None where the factor does not exist): the
        :class:`~mixedcompat.lme4.criterion.ProfiledCriterion` interface.

        Example
        -------
        >>> import mixedcompat as mc
        >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
        >>> crit, beta, pwrss = m.devfun.solution(m.theta)
        >>> round(crit, 3), np.round(beta, 2).tolist()
        (1743.628, [251.41, 10.47])
        """
        try:
            f = self.factor(theta)
        except (np.linalg.LinAlgError, sla.LinAlgError):
            return None
        crit = self.criterion_from_factor(f)
        if not np.isfinite(crit):
            return None
        beta = sla.solve_triangular(f.LXX.T, f.lyX, lower=False) if self.p > 0 else np.zeros(0)
        return crit, beta + self.beta_shift, f.pwrss

    # -----------------------------------------------------------------------------------------
    def solve(self, f: PLSFactor) -> tuple[np.ndarray, list[np.ndarray]]:
        """Fixed effects beta and spherical random effects u (one array per term) at a factor
        (beta of the original response: the reduced response's plus ``beta_shift``)."""
        p = self.p
        K = len(self.terms)
        beta = sla.solve_triangular(f.LXX.T, f.lyX, lower=False) if p > 0 else np.zeros(0)
        # c_k = l_yZ,k - L_XZ,k' beta : the y row minus the X rows
        c = [Lk[p, :] - Lk[:p, :].T @ beta for Lk in f.LX]
        u: list = [None] * K
        for k in range(K - 1, 0, -1):
            rhs = c[k].copy()
            for m in range(k + 1, K):
                rhs -= f.Ldense[(m, k)].T @ u[m]
            u[k] = sla.solve_triangular(f.Ldense[(k, k)].T, rhs, lower=False)
        rhs = c[0].copy()
        for m in range(1, K):
            rhs -= f.G[m].T @ u[m]
        t1 = self.terms[0]
        r3 = rhs.reshape(t1.n_levels, t1.q)
        # L11' u = rhs per level
        L11T = np.transpose(f.L11, (0, 2, 1))
        if t1.q == 1:
            u0 = r3 / f.L11[:, :, 0]
        else:
            u0 = np.linalg.solve(L11T, r3[:, :, None])[:, :, 0]
        u[0] = u0.ravel()
        return beta + self.beta_shift, u

    def sigma(self, f: PLSFactor, REML: bool | None = None) -> float:
        REML = self.REML if REML is None else REML
        denom = self.n - self.p if REML else self.n
        return float(np.sqrt(f.pwrss / denom))

    def beta_vcov_unscaled(self, f: PLSFactor) -> np.ndarray:
        """(R_X' R_X)^{-1}: multiply by sigma^2 for vcov(beta)."""
        if self.p == 0:
            return np.zeros((0, 0))
        Linv = np.linalg.inv(f.LXX)
        return Linv.T @ Linv


class DenseDeviance(Deviance):
    """The same criterion with one dense Cholesky of the whole ``(q + p + 1)`` system.

    For small models (few random effects in all) one LAPACK call costs less than the blocked
    algorithm's many small steps.

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> type(m.devfun).__name__                  # 36 random effects: one dense factor
    'DenseDeviance'
    """

    def __init__(self, terms: list[ReTerm], X: np.ndarray, y: np.ndarray,
                 weights: np.ndarray | None, offset: np.ndarray | None, REML: bool):
        sqrtw, XY, resp = self._setup(terms, X, y, weights, offset, REML)
        p = self.p
        Z = sp.hstack([t.Z(sqrtw) for t in terms]).tocsc()
        self.q = Z.shape[1]
        A = np.empty((self.q + p + 1, self.q + p + 1))
        A[:self.q, :self.q] = (Z.T @ Z).toarray()
        ZXY = np.asarray(Z.T @ XY)
        A[:self.q, self.q:] = ZXY
        A[self.q:, :self.q] = ZXY.T
        A[self.q:, self.q:] = XY.T @ XY
        self.A = A
        # where each theta entry goes in the dense Lambda: Lambda[rows, cols] = theta[idx]
        self.lambda_rows, self.lambda_cols, self.lambda_idx = self.layout.lambda_positions()
        self._eye_q = np.arange(self.q)
        self._put_response(resp)

    def _copy_response_arrays(self) -> None:
        self.A = self.A.copy()

    def _put_response(self, r: np.ndarray) -> None:
        q, p = self.q, self.p
        zr, xr, rr = self.response_cross_products(r)
        col = np.concatenate(zr + [xr])
        self.A[:q + p, q + p] = col
        self.A[q + p, :q + p] = col
        self.A[q + p, q + p] = rr

    def factor(self, theta: np.ndarray) -> PLSFactor:
        theta = np.asarray(theta, dtype=float)
        q, p = self.q, self.p
        lam = np.zeros((q, q))
        lam[self.lambda_rows, self.lambda_cols] = theta[self.lambda_idx]
        M = self.A.copy()
        M[:q, :q] = lam.T @ M[:q, :q] @ lam
        M[self._eye_q, self._eye_q] += 1.0
        M[:q, q:] = lam.T @ M[:q, q:]
        M[q:, :q] = M[:q, q:].T
        L = np.linalg.cholesky(M)
        d = np.diagonal(L)
        T = [t.template(theta[s]) for t, s in zip(self.terms, self.theta_slices)]
        ldL2 = 2.0 * float(np.sum(np.log(d[:q])))
        ldRX2 = 2.0 * float(np.sum(np.log(d[q:q + p])))
        return PLSFactor(theta, T, None, None, [], {}, [], L[q:q + p, q:q + p], L[q + p, q:q + p],
                         d[q + p] ** 2, ldL2, ldRX2, L_full=L)

    BATCH_BYTES = 32 * 2**20

    def criteria(self, thetas: np.ndarray) -> np.ndarray:
        """The criterion at every row of ``thetas``, from batched dense factorisations (the fast
        path of lme4's ``deriv12`` stencil, :mod:`mixedcompat.lme4.convergence`); equal to ``self(theta)``
        row by row (tests/test_convergence.py checks it).

        Example
        -------
        >>> import mixedcompat as mc
        >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
        >>> m.devfun.criteria(np.array([m.theta, 1.1 * m.theta])).round(3).tolist()[0]
        1743.628
        """
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        q, p = self.q, self.p
        N = q + p + 1
        chunk = max(1, int(self.BATCH_BYTES // (8 * 3 * N * N)))
        out = np.empty(len(thetas))
        for lo in range(0, len(thetas), chunk):
            th = thetas[lo:lo + chunk]
            k = len(th)
            lam = np.zeros((k, q, q))
            lam[:, self.lambda_rows, self.lambda_cols] = th[:, self.lambda_idx]
            lamT = lam.transpose(0, 2, 1)
            M = np.empty((k, N, N))
            M[:, :q, :q] = lamT @ self.A[:q, :q] @ lam
            M[:, self._eye_q, self._eye_q] += 1.0
            top = lamT @ self.A[:q, q:]
            M[:, :q, q:] = top
            M[:, q:, :q] = top.transpose(0, 2, 1)
            M[:, q:, q:] = self.A[q:, q:]
            try:
                d = np.diagonal(np.linalg.cholesky(M), axis1=1, axis2=2)
            except np.linalg.LinAlgError:
                out[lo:lo + k] = [self(t) for t in th]
                continue
            ldL2 = 2.0 * np.sum(np.log(d[:, :q]), axis=1)
            ldRX2 = 2.0 * np.sum(np.log(d[:, q:q + p]), axis=1) if self.REML else 0.0
            out[lo:lo + k] = profiled_criterion(ldL2, ldRX2, d[:, q + p] ** 2, self.n, p, self.REML,
                                                self.sum_log_weights)
        return out

    def solve(self, f: PLSFactor) -> tuple[np.ndarray, list[np.ndarray]]:
        q, p = self.q, self.p
        L = f.L_full
        beta = sla.solve_triangular(f.LXX.T, f.lyX, lower=False) if p > 0 else np.zeros(0)
        c = L[q + p, :q] - L[q:q + p, :q].T @ beta
        u = sla.solve_triangular(L[:q, :q].T, c, lower=False)
        out, start = [], 0
        for t in self.terms:
            out.append(u[start:start + t.n_levels * t.q])
            start += t.n_levels * t.q
        return beta + self.beta_shift, out


DENSE_MAX_Q = 400


def make_deviance(terms: list[ReTerm], X: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
                  offset: np.ndarray | None, REML: bool) -> Deviance:
    """The criterion object for a model: one dense factor when the random effects are few.

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> dev = make_deviance(m.terms, m.frame.X, m.frame.y, None, None, REML=False)
    >>> round(dev(m.theta), 3)                   # the deviance at the REML estimate of theta
    1751.986
    """
    q = sum(t.n_levels * t.q for t in terms)
    cls = DenseDeviance if q <= DENSE_MAX_Q else Deviance
    return cls(terms, X, y, weights, offset, REML)
