"""Fast refits of an lmer model to new responses: the engine behind ``bootMer`` and ``PBmodcomp``.

A bootstrap replicate only changes the response ``y``; everything else (model matrices, the
random-effects structure, every block of ``A = [Z X y]' W [Z X y]`` that does not involve ``y``) is
built once per model by :class:`_Refitter`.  A replicate then costs one optimisation of the
profiled criterion from the fitted theta plus a light fit object:

* the criterion: :class:`_KernelCriterion` for one random-effects term with ``q <= 2`` (closed form,
  levels with equal ``Z'Z`` blocks merged, scalar Python when few distinct blocks remain: balanced
  designs such as sleepstudy), :class:`_DenseCriterion` (one LAPACK Cholesky) for other small
  models, :class:`_OneTermCriterion` for one term with ``q > 2`` on the blocked path, else the
  model's own ``Deviance``;
* the fit: :class:`ReplicateFit`, an ``LmerMod`` holding theta, beta, sigma and the criterion
  (computed from the same Cholesky as the criterion) that builds everything else (random effects,
  fitted values, ``call["data"]``...) the first time ``FUN`` asks for it.

Every fast criterion is checked against the model's ``Deviance`` at the fitted theta when the
refitter is built (relative 1e-8); a mismatch turns the fast paths off for that model.

Precision: every criterion here is built from the response as ``Deviance`` builds it, reduced by
its least-squares fit on ``X`` (``Deviance.response``, :class:`mixedcompat.lme4.pls.ResponseReduction`),
and adds the removed coefficients back to beta: a replicate's criterion carries the rounding of the
model's own, not rounding relative to ``y'y``.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

from mixedcompat.errors import SINGULAR_MESSAGE, SingularFitWarning
from mixedcompat.lme4.fit import LmerMod, optinfo_of
from mixedcompat.lme4.pls import LOG_2PI, DenseDeviance, Deviance, make_deviance

REPLICATE_STEP = 0.25  # initial BOBYQA step of a replicate refit, relative to |theta|
ONE_TERM_MIN_Q = 64    # one term, q > 2, more random effects than this: closed-form blocks, not a dense Cholesky
SCALAR_MAX_GROUPS = 6  # kernel criterion: plain Python floats when at most this many distinct Z'Z blocks
SCALAR_MAX_M = 8       # Cholesky of the (p + 1) x (p + 1) Schur complement in Python floats up to this size

__all__ = ["ReplicateFit"]


# ================================================================================================
# the (p + 1) x (p + 1) tail shared by the criteria


class _Tail:
    """From ``ldL2`` and the Schur complement ``S = [X y]'[X y] - (fill-in)`` (upper triangle, row
    major, ``m = p + 1``) to the criterion, and at the optimum to beta and the PWRSS."""

    def __init__(self, n: int, p: int, REML: bool, sum_log_weights: float):
        self.n, self.p, self.m, self.REML = n, p, p + 1, bool(REML)
        denom = n - p if REML else n
        self.denom = denom
        self.const = -sum_log_weights + denom * (1.0 + LOG_2PI - math.log(denom))
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
        logdet = ldL2
        if self.REML:
            for i in range(p):
                logdet += 2.0 * math.log(d[i])
        return logdet + self.const + self.denom * 2.0 * math.log(d[p])

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
        Ad = Deviance._diag_blocks(term, sqrtw)
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
        self.rows, self.cols, self.idx = dev._lam_rows, dev._lam_cols, dev._lam_idx
        self.REML = dev.REML
        self.shift = dev.beta_shift
        self.lam = np.zeros((q, q))
        self.lamT = self.lam.T                      # a view: follows lam
        self.Aq = np.ascontiguousarray(dev.A[:q])   # [Z'Z Z'X Z'y]
        self.base = np.zeros_like(dev.A)
        self.base[q:, q:] = dev.A[q:, q:]
        self.diag_flat = np.arange(q) * (dev.A.shape[0] + 1)
        denom = self.n - p if self.REML else self.n
        self.denom = denom
        self.const = -dev.sum_log_weights + denom * (1.0 + LOG_2PI - np.log(denom))

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

    def _value(self, logd: np.ndarray) -> float:
        logdet = logd[:-1].sum() if self.REML else logd[:self.q].sum()
        return float(2.0 * logdet + self.const + self.denom * 2.0 * logd[-1])

    def __call__(self, theta: np.ndarray) -> float:
        R = self._factor(theta)
        if R is None:
            return np.inf
        logd = np.log(R.diagonal())                 # log|L|, log|R_X|, log(sqrt(pwrss))
        if not np.isfinite(logd[-1]):
            return np.inf
        return self._value(logd)

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
        return self._value(np.log(d)), np.asarray(beta, dtype=float) + self.shift, float(d[-1] ** 2)


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
# the refitter


class _Refitter:
    """Refits one model to new responses, reusing everything that does not depend on ``y``.

    ``fit(y)`` returns an ``LmerMod`` equal to ``refit(m, y)`` (a :class:`ReplicateFit` on the fast
    paths); ``criterion(y)`` only the optimum criterion (what ``PBmodcomp`` needs); ``beta(y)`` the
    refit's fixed effects (``fixef`` without the Series).  Falls back to a fresh ``make_deviance`` per
    replicate when the deviance class is not one it knows how to update (checked once at
    construction).
    """

    def __init__(self, m):
        from mixedcompat.lme4.fit import _column_partners
        self.m = m
        self.terms = m.terms
        frame = m.frame
        self.sqrtw = np.sqrt(frame.weights) if frame.weights is not None else None
        self.start = np.asarray(m.theta, dtype=float).copy()
        self.control = dict(m.control)
        self.lower = np.concatenate([t.lower() for t in m.terms])
        self.on_diagonal = self.lower == 0
        self.partners = _column_partners(m.terms)
        self.template = m.devfun
        self.fast = type(self.template) in (DenseDeviance, Deviance)
        dev = self.template
        self.tail = _Tail(dev.n, dev.p, dev.REML, dev.sum_log_weights)
        self.kernel: _KernelModel | None = None
        # one term with q <= 2: the closed-form kernel; one larger term on the blocked path (many
        # levels): batched blocks; other small models: a single dense Cholesky
        self.one_term = self.fast and len(m.terms) == 1 and m.terms[0].q > 2 and (
            type(self.template) is Deviance or m.terms[0].n_levels * m.terms[0].q > ONE_TERM_MIN_Q)
        if self.fast:
            Xs = frame.X if self.sqrtw is None else frame.X * self.sqrtw[:, None]
            self.XsXs = Xs.T @ Xs
            if len(m.terms) == 1 and m.terms[0].q <= 2:
                self.kernel = _KernelModel(m.terms[0], Xs, self.sqrtw, self.tail)
        if self.one_term:
            t = m.terms[0]
            t_Xw = t.X if self.sqrtw is None else t.X * self.sqrtw[:, None]
            self.Ad = Deviance._diag_blocks(t, self.sqrtw)
            L, q, p = t.n_levels, t.q, frame.X.shape[1]
            self.RX = np.empty((L, q, p))
            for a in range(q):
                for j in range(p):
                    self.RX[:, a, j] = np.bincount(t.codes, weights=t_Xw[:, a] * Xs[:, j], minlength=L)
        if self.fast:
            self._check(np.asarray(frame.y, dtype=float))
        self.data = None
        data = m.call.get("data") if isinstance(m.call, dict) else None
        if isinstance(data, pd.DataFrame) and frame.response_name in data.columns:
            # each refit's call["data"]: the data with the response replaced (update() on a
            # replicate refits to the replicate's response, as prediction.refit)
            self.data = data
            self.resp_values = data[frame.response_name].to_numpy(dtype=float, copy=True)

    def _check(self, y0: np.ndarray) -> None:
        """Each fast criterion must equal the model's own at the fitted theta (1e-8 relative): if
        pls.py changed under us, stay correct and lose speed."""
        ref = float(self.template(self.start))

        def agrees(fun) -> bool:
            got = float(fun(self.start))
            return bool(np.isfinite(ref) and abs(got - ref) <= 1e-8 * max(1.0, abs(ref)))

        if self.kernel is not None and not agrees(self.kernel.criterion(self._response_parts(y0))):
            self.kernel = None
        if self.one_term and not agrees(self._one_term_criterion(y0)):
            self.one_term = False
        if not agrees(self._criterion_fn(self.deviance(y0))):
            self.fast = self.one_term = False
            self.kernel = None

    def _response_parts(self, y: np.ndarray) -> "_ResponseParts":
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
        """The model's deviance object for response ``y``."""
        frame = self.m.frame
        if not self.fast:
            return make_deviance(self.terms, frame.X, y, frame.weights, frame.offset, REML=self.m.REML)
        return self.template.with_response(y)

    @staticmethod
    def _criterion_fn(dev) -> Callable[[np.ndarray], float]:
        return _DenseCriterion(dev) if type(dev) is DenseDeviance else dev

    def _fast_criterion(self, y: np.ndarray):
        """The fastest criterion for ``y`` (with a ``solution`` method), or None on the slow path."""
        if self.kernel is not None:
            return self.kernel.criterion(self._response_parts(y))
        if self.one_term:
            return self._one_term_criterion(y)
        if self.fast and type(self.template) is DenseDeviance:
            return _DenseCriterion(self.deviance(y))
        return None

    def optimize(self, y: np.ndarray):
        """(criterion function, OptSummary) for response ``y``, from the fitted theta."""
        from mixedcompat.lme4.fit import optimize_fit
        from mixedcompat.lme4.optimize import minimize_theta
        fun = self._fast_criterion(y)
        if fun is None:
            fun = self.deviance(y)
        if self.control.get("optimizer", "nloptwrap") is None:
            return fun, optimize_fit(self.deviance(y), self.terms, self.start.copy(), self.control)
        # a replicate's optimum is near the fitted theta: start BOBYQA with a trust region of a
        # quarter of each parameter (not NLopt's default of 3/4 of the distance to the bound);
        # ~25% fewer evaluations, optimum criterion within ~1e-7 of the default path
        control = dict(self.control)
        if control.get("initial_step") is None:
            control["initial_step"] = REPLICATE_STEP * np.maximum(np.abs(self.start), 0.05)
        return fun, minimize_theta(fun, self.start.copy(), self.lower, control, column_partners=self.partners)

    def criterion(self, y: np.ndarray) -> float:
        """The optimum criterion (REML criterion or deviance, as the model) for response ``y``."""
        _fun, opt = self.optimize(y)
        if not np.isfinite(opt.fval) or opt.fval >= np.finfo(float).max:
            raise FloatingPointError("the criterion is not finite at the optimum")
        return float(opt.fval)

    def fit(self, y: np.ndarray):
        """``refit(m, y)``: an ``LmerMod`` (a lazily completed :class:`ReplicateFit` when possible)."""
        fun, opt = self.optimize(y)
        sol = fun.solution(np.asarray(opt.theta, dtype=float)) if hasattr(fun, "solution") else None
        if sol is None:
            return self.full_fit(y, opt)
        return ReplicateFit(self, y, opt, *sol)

    def full_fit(self, y: np.ndarray, opt, warn: bool = True) -> LmerMod:
        """The complete ``LmerMod`` of response ``y`` at the optimiser's result ``opt``."""
        m = self.m
        frame = dataclasses.replace(m.frame, y=y)
        return LmerMod(m.formula, m.parts, frame, m.terms, self.deviance(y), opt, m.REML, m.control,
                       data_name=m.data_name, weights_name=m.weights_name, offset_name=m.offset_name,
                       fit_warnings=list(m.optinfo.get("fit_warnings", [])), call=self.call_of(y),
                       warn_singular=warn)

    def call_of(self, y: np.ndarray) -> dict:
        """The refit's ``call``: the model's, with ``data`` holding the replicate's response."""
        m = self.m
        call = dict(m.call)
        if self.data is not None:
            column = self.resp_values.copy()
            column[m.frame.rows] = y
            data = self.data.copy(deep=False)
            data[m.frame.response_name] = column
            call["data"] = data
        return call


# ================================================================================================
# the lazily completed fit


class ReplicateFit(LmerMod):
    """A replicate's fit: an ``LmerMod`` (same methods, ``isinstance`` holds) built from the optimiser's
    result with only what most statistics read — theta, beta, sigma, the criterion, the model frame
    and ``optinfo``.  The first access to anything else (random effects, fitted values, ``vcov``,
    ``call``, ``devfun``...) builds the complete ``LmerMod`` of the replicate and adopts its other
    attributes; theta, beta, sigma and the criterion keep their values (the complete fit's agree to
    rounding: both come from a Cholesky factorisation at the same theta).

    Warns ``SingularFitWarning`` at construction when singular, as ``LmerMod``.

    Example
    -------
    >>> # mc.bootMer(m, lambda x: x.ranef()["Subject"].iloc[0, 0], nsim=10): x is a ReplicateFit
    """

    def __init__(self, refitter: _Refitter, y: np.ndarray, opt, criterion: float, beta: np.ndarray,
                 pwrss: float):
        m = refitter.m
        put = object.__setattr__
        for name in ("formula", "parts", "terms", "REML", "control", "data_name", "weights_name", "offset_name"):
            put(self, name, m.__dict__[name])
        put(self, "frame", dataclasses.replace(m.frame, y=y))
        theta = np.array(opt.theta, dtype=float)
        put(self, "theta", theta)
        put(self, "criterion", float(criterion))
        put(self, "beta", beta)
        put(self, "_sigma", float(math.sqrt(pwrss / refitter.tail.denom)))
        messages = list(opt.messages)
        if bool(np.any(theta[refitter.on_diagonal] < 1e-4)):     # isSingular(), lme4's tolerance
            messages.append(SINGULAR_MESSAGE)
            warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)
        put(self, "optinfo", optinfo_of(opt, messages, m.optinfo.get("fit_warnings")))
        put(self, "opt", opt)
        put(self, "_pending", (refitter, y))
        theta.flags.writeable = False
        beta.flags.writeable = False
        put(self, "_frozen", True)

    def __getattr__(self, name: str) -> Any:
        # called only for attributes not set yet: complete the fit once, then look again
        pending = self.__dict__.get("_pending")
        if pending is None or name.startswith("__"):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")
        refitter, y = pending
        full = refitter.full_fit(y, self.opt, warn=False)
        for key, value in full.__dict__.items():
            if key not in self.__dict__:
                object.__setattr__(self, key, value)
        object.__setattr__(self, "_pending", None)
        return getattr(self, name)

    def __reduce_ex__(self, protocol):
        # pickles (and copies) as the complete LmerMod
        if self.__dict__.get("_pending") is not None:
            self.__getattr__("devfun")
        state = {k: v for k, v in self.__dict__.items() if k != "_pending"}
        return (_rebuild, (LmerMod, state))


def _rebuild(cls, state: dict):
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj
