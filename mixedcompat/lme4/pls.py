"""The profiled (RE)ML deviance of a linear mixed model as a pure function of theta.

Penalised least squares in lme4's formulation (Bates et al. 2015, JSS 67(1)) with the blocked
Cholesky factor of MixedModels.jl.  ``A = [Z X y]' W [Z X y]`` is computed once, in blocks (one
block per grouping factor, the terms on it amalgamated (:mod:`~mixedcompat.lme4.blocks`), the one with
most levels first, then ``[X y]``); each evaluation factorises
``[[Lambda' Z'WZ Lambda + I, Lambda' Z'W[X y]], [.., [X y]'W[X y]]]`` from those blocks, so its
cost does not grow with the number of observations.

The first block is block diagonal (batched q x q Cholesky, level by level); the later blocks'
Schur complement is factorised dense or sparse, whichever its fill-in pattern calls for
(:mod:`~mixedcompat.lme4.schur`); the off-diagonal block against the first stays sparse.

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
from mixedcompat.lme4.blocks import amalgamate, cross_blocks, diag_blocks
from mixedcompat.lme4.criterion import profiled_criterion
from mixedcompat.lme4.response import ResponseReduction
from mixedcompat.lme4.schur import LaterBlocks, RestFactor

@dataclass(frozen=True)
class PLSFactor:
    """The pieces of the blocked Cholesky factor at one theta."""

    theta: np.ndarray
    templates: list                  # q_k x q_k lower-triangular T_k per term (lme4's order)
    L11: np.ndarray | None           # (levels_1, q_1, q_1) batched lower Cholesky of the first block
    M1: np.ndarray | None            # (levels_1, q_1, q_1): T_1 L11^{-T} per level
    rest: RestFactor | None          # factor of the later blocks' Schur complement
    block_templates: list            # template per engine block (blocks.amalgamate's order)
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


def _times_fixed(stack: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``stack[l] @ M`` for every level ``l`` of a stack of ``q x q`` blocks: one BLAS product of the
    stacked rows (numpy's batched matmul loops over tiny matrices, ten times slower)."""
    k, q, _ = stack.shape
    return (stack.reshape(k * q, q) @ M).reshape(k, q, M.shape[1])


def _congruence(A: np.ndarray, T: np.ndarray) -> np.ndarray:
    """``T' A[l] T`` for a stack of symmetric blocks ``A`` (``(A[l] T)' T``, two stacked products).

    Examples
    --------
    >>> A = np.array([[[2.0, 1.0], [1.0, 3.0]]])
    >>> T = np.array([[1.0, 0.0], [0.5, 2.0]])
    >>> bool(np.allclose(_congruence(A, T)[0], T.T @ A[0] @ T))
    True
    """
    return _times_fixed(_times_fixed(A, T).transpose(0, 2, 1).copy(), T)


def _rows_times_blocks(R: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``out[r, l] = R[r, l] @ M[l]`` (rows ``R``: ``(m, levels, q)``, blocks ``M``: ``(levels, q, q)``),
    summed over the ``q`` inner terms in order by broadcasting (einsum's generic loop is slow here)."""
    out = R[:, :, 0, None] * M[None, :, 0, :]
    for i in range(1, R.shape[2]):
        out += R[:, :, i, None] * M[None, :, i, :]
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

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> dev = Deviance(m.terms, m.frame.X, m.frame.y, None, None, REML=True)
    >>> round(dev(m.theta), 3)
    1743.628
    """

    def __init__(self, terms: list[ReTerm], X: np.ndarray, y: np.ndarray,
                 weights: np.ndarray | None, offset: np.ndarray | None, REML: bool):
        sqrtw, XY, resp = self._setup(terms, X, y, weights, offset, REML)
        # --- the blocks of A, one per grouping factor (terms amalgamated) ---------------------------
        self.blocks = blocks = amalgamate(terms)
        first = blocks[0]
        self.A1 = diag_blocks(first, sqrtw)
        self.AX1 = cross_blocks(first, sqrtw, XY)                # (p+1) x (levels_1 q_1)
        if len(blocks) > 1:
            Zr = sp.hstack([b.Z(sqrtw) for b in blocks[1:]]).tocsc()
            self.later = LaterBlocks(blocks[1:], Zr, first.Z(sqrtw), first.q)
            self.AXr = np.asarray((Zr.T @ XY).T)                 # (p+1) x q_r
        else:
            self.later = None
            self.AXr = np.zeros((self.p + 1, 0))
        self.AXX = XY.T @ XY
        self._put_response(resp)

    def _setup(self, terms: list[ReTerm], X: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
               offset: np.ndarray | None, REML: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Common set-up: sizes, the weights' log-determinant, the weighted ``[X, r]`` and ``r`` (the
        reduced response, :class:`ResponseReduction`; ``beta_shift`` the coefficients it removed)."""
        if getattr(self, "terms", None) is not terms or getattr(self, "layout", None) is None:
            self._set_terms(terms)
        self.REML = bool(REML)
        self.n, self.p = X.shape
        with np.errstate(divide="ignore"):   # a zero weight gives -Inf, as in lme4
            self.sum_log_weights = float(np.sum(np.log(weights))) if weights is not None else 0.0
        precise = getattr(self, "precise", True)
        self.response = ResponseReduction(X, weights, offset, extended=precise, reduce=precise)
        r, self.beta_shift = self.response.reduce(y)
        return self.response.sqrtw, np.column_stack([self.response.Xs, r]), r

    def _set_terms(self, terms: list[ReTerm]) -> None:
        """The random-effects terms and theta's layout over them."""
        self.terms = terms
        self.layout = ThetaLayout.of(terms)
        self.theta_slices = self.layout.slices
        self.n_theta = self.layout.n_theta

    @classmethod
    def from_blocks(cls, terms: list[ReTerm], A1: np.ndarray, AX1: np.ndarray, AXr: np.ndarray, AXX: np.ndarray,
                    later: LaterBlocks | None, n: int, REML: bool, sum_log_weights: float = 0.0,
                    beta_shift: np.ndarray | None = None) -> "Deviance":
        """The criterion from the blocks of ``A`` computed elsewhere (sums over the partitions of a
        data set, :mod:`mixedcompat.partitioned`): ``A1``, ``AX1``, ``AXr``, ``AXX`` and ``later`` as
        :meth:`__init__` builds them, the response rows of ``r = sqrt(W) (y - offset - X beta_shift)``.
        The object holds no row: evaluating, factoring and solving work; what needs the rows
        (:meth:`with_response`, :meth:`response_cross_products`, :meth:`reweighted`) does not.

        Examples
        --------
        >>> import mixedcompat as mc
        >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
        >>> d = Deviance(m.terms, m.frame.X, m.frame.y, None, None, REML=True)
        >>> e = Deviance.from_blocks(m.terms, d.A1, d.AX1, d.AXr, d.AXX, d.later, d.n, True, 0.0, d.beta_shift)
        >>> bool(e(m.theta) == d(m.theta))
        True
        """
        obj = cls.__new__(cls)
        obj._set_terms(terms)
        obj.REML = bool(REML)
        obj.n, obj.p = int(n), AXX.shape[0] - 1
        obj.sum_log_weights = float(sum_log_weights)
        obj.response = None
        obj.beta_shift = np.zeros(obj.p) if beta_shift is None else np.asarray(beta_shift, dtype=float)
        obj.blocks = amalgamate(terms)
        obj.A1, obj.AX1, obj.AXr, obj.AXX, obj.later = A1, AX1, AXr, AXX, later
        first = obj.blocks[0]
        obj._AX1_3d = AX1.reshape(obj.p + 1, first.n_levels, first.q)
        return obj

    def with_column_in_offset(self, j: int, value: float, REML: bool = False) -> "Deviance":
        """The criterion of the model with fixed-effects column ``j`` moved into the offset at
        coefficient ``value`` (the profile of a fixed effect), from this criterion's blocks: the
        response rows ``r = sqrt(W) (y - offset - X s)`` become ``r + (s_j - value) sqrt(W) x_j``.

        Examples
        --------
        >>> import mixedcompat as mc
        >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"), REML=False)
        >>> d = Deviance(m.terms, m.frame.X, m.frame.y, None, None, REML=False)
        >>> off = d.with_column_in_offset(1, float(m.beta[1]))
        >>> bool(abs(off(m.theta) - d(m.theta)) < 1e-9 * d(m.theta))
        True
        """
        p = self.p
        d = float(self.beta_shift[j]) - float(value)
        keep = [k for k in range(p) if k != j]
        rows = keep + [p]
        AX1 = self.AX1[rows].copy()
        AX1[-1] += d * self.AX1[j]
        AXr = self.AXr[rows].copy()
        AXr[-1] += d * self.AXr[j]
        AXX = self.AXX[np.ix_(rows, rows)].copy()
        cross = self.AXX[keep, p] + d * self.AXX[keep, j]
        AXX[:-1, -1] = AXX[-1, :-1] = cross
        AXX[-1, -1] = self.AXX[p, p] + 2.0 * d * self.AXX[j, p] + d * d * self.AXX[j, j]
        return Deviance.from_blocks(self.terms, self.A1, AX1, AXr, AXX, self.later, self.n, REML,
                                    self.sum_log_weights, self.beta_shift[keep])

    @classmethod
    def pattern(cls, terms: list[ReTerm], X: np.ndarray, like: "Deviance | None" = None) -> "Deviance":
        """The structure of the blocked system of a model whose weights change from one solve to the
        next (PIRLS): amalgamated blocks and the later blocks' pattern, built once; every
        :meth:`reweighted` call fills in the values for new weights and a new response.  ``like``:
        another pattern of the same random effects (another ``X``) whose structure is shared.

        Examples
        --------
        >>> import mixedcompat as mc
        >>> m = mc.lmer("diameter ~ 1 + (1|plate) + (1|sample)", mc.datasets.load("Penicillin"), REML=False)
        >>> dev = Deviance.pattern(m.terms, m.frame.X).reweighted(np.ones(len(m.frame.y)), m.frame.y)
        >>> bool(abs(dev(m.theta) - m.devfun(m.theta)) < 1e-8)
        True
        """
        obj = cls.__new__(cls)
        obj._set_terms(terms)
        obj._X = X
        obj.precise = False
        if like is not None:
            obj.blocks, obj.later = like.blocks, like.later
            return obj
        obj.blocks = blocks = amalgamate(terms)
        obj.later = LaterBlocks.pattern(blocks[1:], blocks[0]) if len(blocks) > 1 else None
        return obj

    def reweighted(self, weights: np.ndarray, y: np.ndarray, REML: bool = False) -> "Deviance":
        """The criterion object (ML by default) for prior weights ``weights`` and response ``y`` on
        the structure of :meth:`pattern`, without rebuilding it."""
        new = copy.copy(self)
        sqrtw, XY, resp = new._setup(self.terms, self._X, y, weights, None, REML)
        first, p = self.blocks[0], new.p
        new.A1 = diag_blocks(first, sqrtw)
        # the X rows here; the response's row (and r'r) is _put_response's
        Xs = XY[:, :p]
        new.AX1 = np.vstack([cross_blocks(first, sqrtw, Xs), np.zeros((1, first.size))])
        if self.later is not None:
            new.later = self.later.reweighted(sqrtw)
            new.AXr = np.vstack([np.hstack([cross_blocks(b, sqrtw, Xs) for b in self.blocks[1:]]),
                                 np.zeros((1, new.later.q))])
        else:
            new.AXr = np.zeros((p + 1, 0))
        new.AXX = np.zeros((p + 1, p + 1))
        new.AXX[:p, :p] = Xs.T @ Xs
        new._put_response(resp)
        return new

    def with_response(self, y: np.ndarray) -> "Deviance":
        """The criterion of the same model (X, Z, weights, offset) for another response ``y``: only
        the response's cross-products are recomputed (bootstrap replicates, parametric tests).

        Examples
        --------
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

        Examples
        --------
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
        self.AX1 = self.AX1.copy()
        self.AXr = self.AXr.copy()
        self.AXX = self.AXX.copy()

    def _put_response(self, r: np.ndarray) -> None:
        """Write the response rows of ``A`` for the reduced response ``r``."""
        p = self.p
        zr, xr, rr = self.response_cross_products(r)
        self.AX1[p, :] = self.blocks[0].join(zr)
        if self.later is not None:
            self.AXr[p, :] = np.concatenate([b.join(zr) for b in self.blocks[1:]])
        self.AXX[p, :p] = xr
        self.AXX[:p, p] = xr
        self.AXX[p, p] = rr
        first = self.blocks[0]
        self._AX1_3d = self.AX1.reshape(p + 1, first.n_levels, first.q)

    # -----------------------------------------------------------------------------------------
    def factor(self, theta: np.ndarray) -> PLSFactor:
        """Blocked Cholesky factor at ``theta`` (no state is kept)."""
        theta = np.asarray(theta, dtype=float)
        p = self.p
        Tb = [b.template(theta) for b in self.blocks]
        first, T1 = self.blocks[0], Tb[0]
        # the first block: block diagonal, level by level
        B = _congruence(self.A1, T1)
        B = B + np.eye(first.q)[None, :, :]
        L11, L11inv = _batched_cholesky(B)
        M1 = _times_fixed(L11inv, T1.T).transpose(0, 2, 1)          # T_1 L^{-T}
        ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L11, axis1=1, axis2=2))))
        LX1 = _rows_times_blocks(self._AX1_3d, M1).reshape(p + 1, -1)
        S = self.AXX - LX1 @ LX1.T
        rest = None
        if self.later is not None:
            lam = self.later.lambda_scale(Tb[1:])
            W1 = M1 @ np.transpose(M1, (0, 2, 1))
            rest = self.later.factor(lam, M1, W1)
            ldL2 += rest.logdet
            AXr = self.AXr.T * lam[:, None] if isinstance(lam, np.ndarray) else np.asarray(lam.T @ self.AXr.T)
            AXr -= self.later.fill_in_times(lam, W1, self.AX1.T)          # minus G L_X1'
            S -= rest.quadratic(AXr)
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
        T = [t.template(theta[s]) for t, s in zip(self.terms, self.theta_slices)]
        return PLSFactor(theta, T, L11, M1, rest, Tb, LXX, lyX, pwrss, ldL2, ldRX2)

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

        Examples
        --------
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
        """Fixed effects beta and spherical random effects u (one array per term, lme4's order) at a
        factor (beta of the original response: the reduced response's plus ``beta_shift``)."""
        p = self.p
        beta = sla.solve_triangular(f.LXX.T, f.lyX, lower=False) if p > 0 else np.zeros(0)
        first, T1 = self.blocks[0], f.block_templates[0]
        # Lambda' Z'W (r - X beta), the first block level by level; c1 = L_11^{-1} of it
        a1 = (self.AX1[p] - self.AX1[:p].T @ beta).reshape(first.n_levels, first.q) @ T1
        c1 = (a1 / f.L11[:, :, 0] if first.q == 1 else np.linalg.solve(f.L11, a1[:, :, None])[:, :, 0]).ravel()
        u_blocks = []
        if self.later is not None:
            ar = self.AXr[p] - self.AXr[:p].T @ beta
            lam = self.later.lambda_scale(f.block_templates[1:])
            ar = ar * lam if isinstance(lam, np.ndarray) else lam.T @ ar
            G = self.later.lower_block(lam, f.M1)
            ur = f.rest.solve(ar - G @ c1)
            c1 = c1 - G.T @ ur
            at = 0
            for b in self.blocks[1:]:
                u_blocks.append(ur[at:at + b.size])
                at += b.size
        r3 = c1.reshape(first.n_levels, first.q)
        L11T = np.transpose(f.L11, (0, 2, 1))
        u1 = r3 / f.L11[:, :, 0] if first.q == 1 else np.linalg.solve(L11T, r3[:, :, None])[:, :, 0]
        u_blocks.insert(0, u1.ravel())
        u: list = [None] * len(self.terms)
        for b, ub in zip(self.blocks, u_blocks):
            for k, uk in zip(b.members, b.split(ub)):
                u[k] = uk
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

    Examples
    --------
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

    def _system(self, theta: np.ndarray) -> np.ndarray:
        """``[[Lambda' Z'WZ Lambda + I, Lambda' Z'W[X y]], [.., [X y]'W[X y]]]`` at ``theta``."""
        q = self.q
        lam = np.zeros((q, q))
        lam[self.lambda_rows, self.lambda_cols] = theta[self.lambda_idx]
        M = self.A.copy()
        M[:q, :q] = lam.T @ M[:q, :q] @ lam
        M[self._eye_q, self._eye_q] += 1.0
        M[:q, q:] = lam.T @ M[:q, q:]
        M[q:, :q] = M[:q, q:].T
        return M

    def factor(self, theta: np.ndarray) -> PLSFactor:
        theta = np.asarray(theta, dtype=float)
        q, p = self.q, self.p
        L = np.linalg.cholesky(self._system(theta))
        d = np.diagonal(L)
        T = [t.template(theta[s]) for t, s in zip(self.terms, self.theta_slices)]
        ldL2 = 2.0 * float(np.sum(np.log(d[:q])))
        ldRX2 = 2.0 * float(np.sum(np.log(d[q:q + p])))
        return PLSFactor(theta, T, None, None, None, [], L[q:q + p, q:q + p], L[q + p, q:q + p],
                         d[q + p] ** 2, ldL2, ldRX2, L_full=L)

    def __call__(self, theta: np.ndarray) -> float:
        """The criterion alone (what the optimiser calls): :meth:`factor`'s arithmetic, operation for
        operation (the optimiser's path depends on the last bits), without building the factor object."""
        q, p = self.q, self.p
        try:
            d = np.diagonal(np.linalg.cholesky(self._system(np.asarray(theta, dtype=float))))
        except np.linalg.LinAlgError:
            return np.inf
        ldL2 = 2.0 * float(np.sum(np.log(d[:q])))
        ldRX2 = 2.0 * float(np.sum(np.log(d[q:q + p])))
        return profiled_criterion(ldL2, ldRX2, d[q + p] ** 2, self.n, p, self.REML, self.sum_log_weights)

    BATCH_BYTES = 32 * 2**20

    def criteria(self, thetas: np.ndarray) -> np.ndarray:
        """The criterion at every row of ``thetas``, from batched dense factorisations (the fast
        path of lme4's ``deriv12`` stencil, :mod:`mixedcompat.lme4.convergence`); equal to ``self(theta)``
        row by row (tests/test_convergence.py checks it).

        Examples
        --------
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

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> dev = make_deviance(m.terms, m.frame.X, m.frame.y, None, None, REML=False)
    >>> round(dev(m.theta), 3)                   # the deviance at the REML estimate of theta
    1751.986
    """
    q = sum(t.n_levels * t.q for t in terms)
    cls = DenseDeviance if q <= DENSE_MAX_Q else Deviance
    return cls(terms, X, y, weights, offset, REML)
