"""Lean evaluators of lme4's profiled criterion for the many refits of inference.

The model's own criterion (:class:`~mixedcompat.lme4.pls.Deviance`, a factor object per theta) is
general; bootstrap replicates (hundreds of refits of the same model to new responses) and profiles
(thousands of evaluations) use these instead, each a
:class:`~mixedcompat.lme4.criterion.ProfiledCriterion` computing the same number through
:func:`~mixedcompat.lme4.criterion.profiled_criterion`:

* :class:`ResponseCriteria`: everything of one model that does not depend on the response, built
  once; ``for_response(y)`` gives the fastest criterion of the model for a new response ``y`` --
  a closed-form kernel for one random-effects term with ``q <= 2`` (levels with equal ``Z'Z``
  blocks merged, scalar Python when few distinct blocks remain: balanced designs such as
  sleepstudy), one LAPACK Cholesky for other small models (``DenseDeviance``), batched per-level
  blocks for one term with ``q > 2``; each is checked against the model's ``Deviance`` at the
  fitted theta (relative 1e-8) when built, and a mismatch turns it off for that model;
* :class:`LeanCriterion`: ``(log|L|^2, pwrss)`` only (no factor object), for profiles.

Precision: every criterion here is built from the response as ``Deviance`` builds it, reduced by
its least-squares fit on ``X`` (``Deviance.response``,
:class:`mixedcompat.lme4.response.ResponseReduction`), and adds the removed coefficients back to beta:
a replicate's criterion carries the rounding of the model's own, not rounding relative to ``y'y``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

from mixedcompat.lme4.criterion import profiled_criterion
from mixedcompat.lme4.blocks import diag_blocks
from mixedcompat.lme4.pls import DenseDeviance, Deviance, make_deviance

ONE_TERM_MIN_Q = 64    # one term, q > 2, more random effects than this: closed-form blocks, not a dense Cholesky
SCALAR_MAX_GROUPS = 6  # kernel criterion: plain Python floats when at most this many distinct Z'Z blocks
SCALAR_MAX_M = 8       # Cholesky of the (p + 1) x (p + 1) Schur complement in Python floats up to this size
CHECK_RTOL = 1e-8      # a fast criterion must equal the model's own to this (relative) at the fitted theta

__all__ = ["ResponseCriteria", "LeanCriterion", "ONE_TERM_MIN_Q"]


# ================================================================================================
# the (p + 1) x (p + 1) tail shared by the criteria


class _Tail:
    """From ``ldL2`` and the Schur complement ``S = [X y]'[X y] - (fill-in)`` (upper triangle, row
    major, ``m = p + 1``) to the criterion, and at the optimum to beta and the PWRSS."""

    def __init__(self, n: int, p: int, REML: bool, sum_log_weights: float):
        self.n, self.p, self.m, self.REML = n, p, p + 1, bool(REML)
        self.denom = n - p if REML else n
        self.sum_log_weights = sum_log_weights
        m = self.m
        self.pos = [[0] * m for _ in range(m)]
        k = 0
        for i in range(m):
            for j in range(i, m):
                self.pos[i][j] = self.pos[j][i] = k
                k += 1
        self.iu = np.triu_indices(m)
        self.scalar = m <= SCALAR_MAX_M

    def cholesky(self, S: list) -> list | None:
        """Upper Cholesky factor ``R`` (rows as lists) of ``S``, or None when not positive definite."""
        m, pos = self.m, self.pos
        if self.scalar:
            R = [[0.0] * m for _ in range(m)]
            for i in range(m):
                Ri = R[i]
                s = S[pos[i][i]]
                for k in range(i):
                    s -= R[k][i] * R[k][i]
                if not s > 0.0:
                    return None
                r = math.sqrt(s)
                Ri[i] = r
                for j in range(i + 1, m):
                    s = S[pos[i][j]]
                    for k in range(i):
                        s -= R[k][i] * R[k][j]
                    Ri[j] = s / r
            return R
        full = np.empty((m, m))
        full[self.iu] = S
        full.T[self.iu] = S
        Rm, info = lapack.dpotrf(full, lower=0, clean=1, overwrite_a=1)
        if info != 0 or not np.all(np.diagonal(Rm) > 0):
            return None
        return Rm.tolist()

    def diagonal(self, S: list) -> list | None:
        """The diagonal of the Cholesky factor of ``S`` (None when not positive definite); written
        out for ``p + 1 <= 3`` (intercept and one slope: the common bootstrap model)."""
        m = self.m
        if m == 3:
            s00, s01, s02, s11, s12, s22 = S
            if not s00 > 0.0:
                return None
            r00 = math.sqrt(s00)
            r01, r02 = s01 / r00, s02 / r00
            d = s11 - r01 * r01
            if not d > 0.0:
                return None
            r11 = math.sqrt(d)
            r12 = (s12 - r01 * r02) / r11
            d = s22 - r02 * r02 - r12 * r12
            return [r00, r11, math.sqrt(d)] if d > 0.0 else None
        if m == 2:
            s00, s01, s11 = S
            if not s00 > 0.0:
                return None
            r00 = math.sqrt(s00)
            r01 = s01 / r00
            d = s11 - r01 * r01
            return [r00, math.sqrt(d)] if d > 0.0 else None
        R = self.cholesky(S)
        return None if R is None else [R[i][i] for i in range(m)]

    def criterion(self, ldL2: float, S: list) -> float:
        d = self.diagonal(S)
        if d is None or not math.isfinite(ldL2):
            return np.inf
        p = self.p
        if not self.REML or p == 0:
            ldRX2 = 0.0
        elif p == 1:
            ldRX2 = 2.0 * math.log(d[0])
        else:
            prod = math.prod(d[:p])                 # one logarithm (the p diagonals are moderate)
            if 0.0 < prod < math.inf:
                ldRX2 = 2.0 * math.log(prod)
            else:
                ldRX2 = sum(2.0 * math.log(d[i]) for i in range(p))
        return profiled_criterion(ldL2, ldRX2, d[p] * d[p], self.n, p, self.REML, self.sum_log_weights)

    def solution(self, ldL2: float, S: list) -> tuple[float, np.ndarray, float] | None:
        """(criterion, beta, pwrss) or None."""
        R = self.cholesky(S)
        if R is None or not math.isfinite(ldL2):
            return None
        p = self.p
        beta = [0.0] * p
        for i in range(p - 1, -1, -1):
            s = R[i][p]
            for j in range(i + 1, p):
                s -= R[i][j] * beta[j]
            beta[i] = s / R[i][i]
        crit = self.criterion(ldL2, S)
        return crit, np.array(beta, dtype=float), R[p][p] ** 2


# ================================================================================================
# criteria


class _KernelModel:
    """The y-independent part of :class:`_KernelCriterion` for one term with ``q <= 2``.

    Per level ``l``: ``B_l = T' A_l T + I`` (``A_l`` the level's ``Z'WZ`` block, ``T`` the template) and
    ``K_l = T B_l^{-1} T'``; ``ldL2 = sum_l log|B_l|`` and the fill-in of the ``[X y]`` block is
    ``sum_l R_l' K_l R_l`` with ``R_l = Z_l' W [X y]``.  ``K_l`` has 1 or 3 distinct entries, so the
    fill-in is ``sum_l sum_e K_l[e] C_l[e]`` with ``C_l[e]`` products of rows of ``R_l`` (per replicate);
    levels with equal ``A_l`` share ``K_l``, so they are merged first (``C`` summed per group)."""

    def __init__(self, term, Xs: np.ndarray, sqrtw: np.ndarray | None, tail: _Tail):
        q = term.q
        if q > 2:
            raise ValueError("the kernel criterion handles q <= 2")
        self.q, self.tail = q, tail
        Ad = diag_blocks(term, sqrtw)
        L = term.n_levels
        keys = Ad[:, 0, :1] if q == 1 else np.column_stack([Ad[:, 0, 0], Ad[:, 1, 0], Ad[:, 1, 1]])
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = np.asarray(inv).ravel()
        G = uniq.shape[0]
        self.G = G
        self.abc = np.ascontiguousarray(uniq.T)                        # (1 or 3, G)
        self.counts = np.bincount(inv, minlength=G).astype(float)
        group = sp.csr_matrix((np.ones(L), (inv, np.arange(L))), shape=(G, L))
        self.group = group.toarray() if G * L <= 100_000 else group
        self.L = L
        Xw = term.X if sqrtw is None else term.X * sqrtw[:, None]
        p = Xs.shape[1]
        self.RX = np.empty((L, q, p))
        for a in range(q):
            for j in range(p):
                self.RX[:, a, j] = np.bincount(term.codes, weights=Xw[:, a] * Xs[:, j], minlength=L)
        self.XX = Xs.T @ Xs
        self.scalar = G <= SCALAR_MAX_GROUPS
        if self.scalar:
            self.groups = [tuple(float(v) for v in uniq[g]) + (float(self.counts[g]),) for g in range(G)]
        self.off = np.array([[1.0], [0.0], [1.0]])

    def criterion(self, parts: "_ResponseParts") -> "_KernelCriterion":
        """The criterion for one response, from its reduced cross-products (:class:`_ResponseParts`)."""
        tail, q, L = self.tail, self.q, self.L
        p = tail.p
        R = np.empty((L, q, p + 1))
        R[:, :, :p] = self.RX
        R[:, :, p] = parts.zr[0].reshape(L, q)
        i, j = tail.iu
        U = len(i)
        C = np.empty((L, 1 if q == 1 else 3, U))
        if q == 1:
            np.multiply(R[:, 0, i], R[:, 0, j], out=C[:, 0])
        else:
            R0, R1 = R[:, 0, :], R[:, 1, :]
            np.multiply(R0[:, i], R0[:, j], out=C[:, 0])
            C[:, 1] = R0[:, i] * R1[:, j] + R1[:, i] * R0[:, j]
            np.multiply(R1[:, i], R1[:, j], out=C[:, 2])
        C = np.asarray(self.group @ C.reshape(L, -1)).reshape(self.G, -1, U)    # summed per group
        return _KernelCriterion(self, C, parts.tail_block(self.XX)[i, j], parts.shift)


class _KernelCriterion:
    """The REML criterion / deviance of a one-term (``q <= 2``) model for one response: see
    :class:`_KernelModel`.  Same value as ``Deviance.criterion_from_factor`` (to rounding)."""

    def __init__(self, model: _KernelModel, C: np.ndarray, AXXu: np.ndarray, shift: np.ndarray):
        self.model, self.tail, self.shift = model, model.tail, shift
        if model.scalar:                                               # C: (G, entries, U)
            self.AXX = AXXu.tolist()
            self.C = C.tolist()
        else:
            self.AXX = AXXu
            self.C = np.ascontiguousarray(C.transpose(1, 0, 2)).reshape(-1, C.shape[2])   # (entries * G, U)

    def _ldl_S(self, theta: np.ndarray) -> tuple[float, list]:
        """(ldL2, S as a list): the block-diagonal log-determinant and the Schur complement."""
        model = self.model
        if model.q == 1:
            t = float(theta[0])
            tt = t * t
            if model.scalar:
                ld, S = 0.0, self.AXX
                for (a, cnt), (c0,) in zip(model.groups, self.C):
                    B = tt * a + 1.0
                    ld += cnt * math.log(B)
                    k = tt / B
                    S = [s - k * x for s, x in zip(S, c0)]
                return ld, S
            B = tt * model.abc[0] + 1.0
            return float(model.counts @ np.log(B)), (self.AXX - (tt / B) @ self.C).tolist()
        t1, t2, t3 = theta.tolist()
        t11, t12, t22, t13, t23, t33 = t1 * t1, t1 * t2, t2 * t2, t1 * t3, t2 * t3, t3 * t3
        if model.scalar:
            ld, S = 0.0, self.AXX
            for (a, b, c, cnt), (c00, c01, c11) in zip(model.groups, self.C):
                B00 = t11 * a + 2.0 * t12 * b + t22 * c + 1.0
                B01 = t13 * b + t23 * c
                B11 = t33 * c + 1.0
                det = B00 * B11 - B01 * B01
                ld += cnt * math.log(det)
                k00 = t11 * B11 / det
                k01 = (t12 * B11 - t13 * B01) / det
                k11 = (t33 * B00 - 2.0 * t23 * B01 + t22 * B11) / det
                S = [s - (k00 * x + k01 * y + k11 * z) for s, x, y, z in zip(S, c00, c01, c11)]
            return ld, S
        P = np.array([[t11, 2.0 * t12, t22], [0.0, t13, t23], [0.0, 0.0, t33]])
        B = P @ model.abc
        B += model.off
        det = B[0] * B[2] - B[1] * B[1]                                 # >= 1 for finite theta
        if not det.min() > 0.0:
            raise ValueError("block not positive definite")
        D = np.array([[0.0, 0.0, t11], [0.0, -t13, t12], [t33, -2.0 * t23, t22]])
        K = D @ B
        K /= det
        return float(model.counts @ np.log(det)), (self.AXX - K.ravel() @ self.C).tolist()

    def __call__(self, theta: np.ndarray) -> float:
        try:
            ld, S = self._ldl_S(theta)
        except (ValueError, ZeroDivisionError, OverflowError):
            return np.inf
        return self.tail.criterion(ld, S)

    def solution(self, theta: np.ndarray) -> tuple[float, np.ndarray, float] | None:
        """(criterion, beta, pwrss) at ``theta``, or None when the factorisation fails."""
        try:
            ld, S = self._ldl_S(theta)
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
        return _shifted(self.tail.solution(ld, S), self.shift)


class _DenseCriterion:
    """The criterion of a ``DenseDeviance`` as one LAPACK Cholesky (no factor object built): what the
    optimiser calls ~50 times per refit.  Same formula as ``Deviance.criterion_from_factor``.

    Buffers are per object: one object serves one refit (one thread)."""

    def __init__(self, dev: DenseDeviance):
        q, p = dev.q, dev.p
        self.q, self.p, self.n = q, p, dev.n
        self.rows, self.cols, self.idx = dev.lambda_rows, dev.lambda_cols, dev.lambda_idx
        self.REML = dev.REML
        self.shift = dev.beta_shift
        self.lam = np.zeros((q, q))
        self.lamT = self.lam.T                      # a view: follows lam
        self.Aq = np.ascontiguousarray(dev.A[:q])   # [Z'Z Z'X Z'y]
        self.base = np.zeros_like(dev.A)
        self.base[q:, q:] = dev.A[q:, q:]
        self.diag_flat = np.arange(q) * (dev.A.shape[0] + 1)
        self.sum_log_weights = dev.sum_log_weights

    def _factor(self, theta: np.ndarray) -> np.ndarray | None:
        q = self.q
        self.lam[self.rows, self.cols] = theta[self.idx]
        top = self.lamT @ self.Aq                   # Lambda' [Z'Z Z'X Z'y]
        M = self.base.copy()                        # C order: its transpose is the Fortran matrix
        M[:q, :q] = top[:, :q] @ self.lam
        M.ravel()[self.diag_flat] += 1.0
        M[q:, :q] = top[:, q:].T                    # lower triangle only: all dpotrf reads
        R, info = lapack.dpotrf(M.T, lower=0, clean=0, overwrite_a=1)
        return R if info == 0 else None

    def _value(self, d: np.ndarray) -> float:
        """The criterion from the factor's diagonal (``|L|``, ``|R_X|``, ``sqrt(pwrss)``)."""
        q = self.q
        ldL2 = 2.0 * float(np.log(d[:q]).sum())
        ldRX2 = 0.0
        if self.REML:
            for x in d[q:-1].tolist():
                ldRX2 += 2.0 * math.log(x)
        last = float(d[-1])
        return profiled_criterion(ldL2, ldRX2, last * last, self.n, self.p, self.REML, self.sum_log_weights)

    def __call__(self, theta: np.ndarray) -> float:
        R = self._factor(theta)
        if R is None:
            return np.inf
        return self._value(R.diagonal())

    def solution(self, theta: np.ndarray) -> tuple[float, np.ndarray, float] | None:
        """(criterion, beta, pwrss) at ``theta``, or None when the factorisation fails."""
        R = self._factor(theta)
        if R is None:
            return None
        R = np.triu(R)                              # clean=0 leaves the input below the diagonal
        d = R.diagonal()
        if not (np.all(d > 0) and np.isfinite(d[-1])):
            return None
        q, p = self.q, self.p
        RX = R[q:q + p, q:q + p]
        beta = lapack.dtrtrs(RX, R[q:q + p, q + p], lower=0)[0] if p else np.zeros(0)
        return self._value(d), np.asarray(beta, dtype=float) + self.shift, float(d[-1] ** 2)


class _OneTermCriterion:
    """The criterion of a model with one random-effects term (``Lambda' Z'Z Lambda + I`` block
    diagonal: one ``q x q`` block per level), batched over the levels: no ``q_total``-sized matrix.
    Used for ``q > 2`` (``q <= 2`` has :class:`_KernelCriterion`).

    Built from ``Z'Z`` blocks ``Ad`` (levels, q, q), ``Z'[X y]`` blocks ``R`` (levels, q, p + 1) and
    ``[X y]'[X y]``; the same criterion as ``Deviance.criterion_from_factor``."""

    def __init__(self, Ad: np.ndarray, R: np.ndarray, AXX: np.ndarray, tail: _Tail,
                 tril: tuple[np.ndarray, np.ndarray], shift: np.ndarray):
        self.q = Ad.shape[1]
        self.Ad, self.R, self.AXX, self.tail, self.tril, self.shift = Ad, R, AXX, tail, tril, shift
        self.eye = np.eye(self.q)

    def _ldl_S(self, theta: np.ndarray) -> tuple[float, list]:
        T = np.zeros((self.q, self.q))
        T[self.tril] = theta
        B = T.T @ self.Ad @ T + self.eye
        L = np.linalg.cholesky(B)
        W = np.linalg.solve(L, T.T @ self.R)          # L^{-1} T' R per level
        Wf = W.reshape(-1, self.R.shape[2])
        S = self.AXX - Wf.T @ Wf
        return 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum()), S[self.tail.iu].tolist()

    def __call__(self, theta: np.ndarray) -> float:
        try:
            ld, S = self._ldl_S(theta)
        except np.linalg.LinAlgError:
            return np.inf
        return self.tail.criterion(ld, S)

    def solution(self, theta: np.ndarray) -> tuple[float, np.ndarray, float] | None:
        try:
            ld, S = self._ldl_S(theta)
        except np.linalg.LinAlgError:
            return None
        return _shifted(self.tail.solution(ld, S), self.shift)


@dataclasses.dataclass(frozen=True)
class _ResponseParts:
    """One response's cross-products: ``Z_k' sqrt(W) r`` per term, ``(sqrt(W) X)' r``, ``r'r`` of the
    reduced response ``r`` and the coefficients ``shift`` the reduction removed."""

    zr: list
    xr: np.ndarray
    rr: float
    shift: np.ndarray

    def tail_block(self, XX: np.ndarray) -> np.ndarray:
        """``[X r]' W [X r]`` from ``X' W X``."""
        p = len(self.xr)
        AXX = np.empty((p + 1, p + 1))
        AXX[:p, :p] = XX
        AXX[:p, p] = self.xr
        AXX[p, :p] = self.xr
        AXX[p, p] = self.rr
        return AXX


def _shifted(sol: tuple[float, np.ndarray, float] | None, shift: np.ndarray):
    """A solution of the reduced response with beta moved back to the response's own."""
    if sol is None:
        return None
    crit, beta, pwrss = sol
    return crit, beta + shift, pwrss




# ================================================================================================
# one model, many responses


class ResponseCriteria:
    """The fastest criterion of one model for any response: everything that does not depend on
    the response (``Z'WZ`` blocks, ``Z'WX``, ``X'WX``, merged levels) is built once.

    ``for_response(y)`` is :class:`_KernelCriterion` for one random-effects term with ``q <= 2``,
    :class:`_OneTermCriterion` for one larger term on the blocked path (or with more than
    ``ONE_TERM_MIN_Q`` random effects), :class:`_DenseCriterion` for other models of the dense path,
    and None otherwise (then ``deviance(y)``, the model's own criterion, is the one to use).  Each
    fast criterion is checked against the model's criterion at ``theta0`` for the response ``y0``
    (relative ``CHECK_RTOL``) when built: if ``pls`` changed under it, it is turned off.

    Parameters
    ----------
    devfun : Deviance
        The model's criterion (its ``with_response`` gives the criterion of a new response).
    X : ndarray
        Fixed-effects model matrix.
    weights, offset : ndarray or None
        Prior weights and offset.
    y0, theta0 : ndarray
        The model's response and fitted theta (where the fast criteria are checked).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> rc = ResponseCriteria(m.devfun, m.frame.X, None, None, m.frame.y, m.theta)
    >>> fun = rc.for_response(m.frame.y)
    >>> bool(abs(fun(m.theta) - m.devfun(m.theta)) < 1e-9 * m.devfun(m.theta))
    True
    """

    def __init__(self, devfun, X: np.ndarray, weights: np.ndarray | None, offset: np.ndarray | None,
                 y0: np.ndarray, theta0: np.ndarray):
        self.template = devfun
        self.terms = terms = devfun.terms
        self.X, self.weights, self.offset = X, weights, offset
        self.REML = devfun.REML
        self.sqrtw = np.sqrt(weights) if weights is not None else None
        self.fast = type(devfun) in (DenseDeviance, Deviance)
        self.tail = _Tail(devfun.n, devfun.p, devfun.REML, devfun.sum_log_weights)
        self.kernel: _KernelModel | None = None
        # one term with q <= 2: the closed-form kernel; one larger term on the blocked path (many
        # levels): batched blocks; other small models: a single dense Cholesky
        self.one_term = self.fast and len(terms) == 1 and terms[0].q > 2 and (
            type(devfun) is Deviance or terms[0].n_levels * terms[0].q > ONE_TERM_MIN_Q)
        if self.fast:
            Xs = X if self.sqrtw is None else X * self.sqrtw[:, None]
            self.XsXs = Xs.T @ Xs
            if len(terms) == 1 and terms[0].q <= 2:
                self.kernel = _KernelModel(terms[0], Xs, self.sqrtw, self.tail)
        if self.one_term:
            t = terms[0]
            t_Xw = t.X if self.sqrtw is None else t.X * self.sqrtw[:, None]
            self.Ad = diag_blocks(t, self.sqrtw)
            L, q, p = t.n_levels, t.q, X.shape[1]
            self.RX = np.empty((L, q, p))
            for a in range(q):
                for j in range(p):
                    self.RX[:, a, j] = np.bincount(t.codes, weights=t_Xw[:, a] * Xs[:, j], minlength=L)
        if self.fast:
            self._check(np.asarray(y0, dtype=float), np.asarray(theta0, dtype=float))

    @property
    def denom(self) -> int:
        """``n - p`` (REML) or ``n``: sigma is ``sqrt(pwrss / denom)``."""
        return self.tail.denom

    def _check(self, y0: np.ndarray, theta0: np.ndarray) -> None:
        """Each fast criterion must equal the model's own at ``theta0`` (CHECK_RTOL relative)."""
        ref = float(self.template(theta0))

        def agrees(fun) -> bool:
            got = float(fun(theta0))
            return bool(np.isfinite(ref) and abs(got - ref) <= CHECK_RTOL * max(1.0, abs(ref)))

        if self.kernel is not None and not agrees(self.kernel.criterion(self._response_parts(y0))):
            self.kernel = None
        if self.one_term and not agrees(self._one_term_criterion(y0)):
            self.one_term = False
        if not agrees(self._criterion_fn(self.deviance(y0))):
            self.fast = self.one_term = False
            self.kernel = None

    def _response_parts(self, y: np.ndarray) -> _ResponseParts:
        """The response's cross-products as the model's criterion forms them (reduced, extended
        precision: ``Deviance.response.reduce`` and ``Deviance.response_cross_products``)."""
        r, shift = self.template.response.reduce(y)
        return _ResponseParts(*self.template.response_cross_products(r), shift)

    def _one_term_criterion(self, y: np.ndarray) -> _OneTermCriterion:
        parts = self._response_parts(y)
        L, q, p = self.RX.shape
        R = np.empty((L, q, p + 1))
        R[:, :, :p] = self.RX
        R[:, :, p] = parts.zr[0].reshape(L, q)
        return _OneTermCriterion(self.Ad, R, parts.tail_block(self.XsXs), self.tail,
                                 self.terms[0].tril_index, parts.shift)

    def deviance(self, y: np.ndarray):
        """The model's own criterion object for response ``y``."""
        if not self.fast:
            return make_deviance(self.terms, self.X, y, self.weights, self.offset, REML=self.REML)
        return self.template.with_response(y)

    @staticmethod
    def _criterion_fn(dev) -> Callable[[np.ndarray], float]:
        return _DenseCriterion(dev) if type(dev) is DenseDeviance else dev

    def for_response(self, y: np.ndarray):
        """The fastest criterion for ``y`` (a ``ProfiledCriterion``), or None when only the model's
        own (:meth:`deviance`) applies."""
        if self.kernel is not None:
            return self.kernel.criterion(self._response_parts(y))
        if self.one_term:
            return self._one_term_criterion(y)
        if self.fast and type(self.template) is DenseDeviance:
            return _DenseCriterion(self.deviance(y))
        return None


# ================================================================================================
# profiles: (ldL2, pwrss) without a factor object


class LeanCriterion:
    """``log|L|^2`` and the penalised RSS at theta from a model's criterion object: for a
    ``DenseDeviance`` (few random effects) two LAPACK Cholesky factorisations per evaluation, no
    factor object built; otherwise the criterion object's own ``factor``.  A pure function of theta.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"), REML=False)
    >>> lean = LeanCriterion(m.devfun)
    >>> bool(abs(lean.ml_deviance(m.theta) - m.devfun(m.theta)) < 1e-9 * m.devfun(m.theta))
    True
    """

    def __init__(self, devfun):
        self.devfun = devfun
        self.n, self.p, self.sum_log_weights = devfun.n, devfun.p, devfun.sum_log_weights
        self.dense = isinstance(devfun, DenseDeviance)
        if self.dense:
            A, q = devfun.A, devfun.q
            self.q = q
            self.A11 = np.ascontiguousarray(A[:q, :q])
            self.A12 = np.ascontiguousarray(A[:q, q:])
            self.A22 = np.ascontiguousarray(A[q:, q:])
            self.rows, self.cols, self.idx = devfun.lambda_rows, devfun.lambda_cols, devfun.lambda_idx
            self.diag = np.arange(q)

    def __call__(self, theta: np.ndarray) -> tuple[float, float]:
        """``(ldL2, pwrss)``; ``(nan, nan)`` where the factor does not exist."""
        if not self.dense:
            try:
                f = self.devfun.factor(theta)
            except np.linalg.LinAlgError:
                return np.nan, np.nan
            return f.ldL2, float(f.pwrss)
        q, p = self.q, self.p
        lam = np.zeros((q, q))
        lam[self.rows, self.cols] = theta[self.idx]
        B = lam.T @ self.A11 @ lam
        B[self.diag, self.diag] += 1.0
        L, info = lapack.dpotrf(B, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            return np.nan, np.nan
        W, info = lapack.dtrtrs(L, lam.T @ self.A12, lower=1)
        S = self.A22 - W.T @ W
        C, info2 = lapack.dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0 or info2 != 0:
            return np.nan, np.nan
        return 2.0 * float(np.log(L.diagonal()).sum()), float(C[p, p] ** 2)

    def ml_deviance(self, theta: np.ndarray) -> float:
        """The ML deviance with sigma profiled out (lme4's objective for an ML fit)."""
        ldL2, pwrss = self(theta)
        if not np.isfinite(ldL2):
            return np.inf
        return profiled_criterion(ldL2, 0.0, pwrss, self.n, self.p, False, self.sum_log_weights)
