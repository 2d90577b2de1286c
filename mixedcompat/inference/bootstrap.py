"""Parametric bootstrap of lmer fits: lme4's ``bootMer``, boot's ``boot.ci``, pbkrtest's ``PBmodcomp``.

* :func:`bootMer` simulates responses from the fitted model (lme4's ``simulate``, ``use_u`` /
  ``re_form`` as lme4), refits the same model to each one from the fitted theta (lme4's ``refit``)
  and applies ``FUN`` to each refit.  The result is a :class:`BootResult`, R's ``boot`` object.
* :func:`boot_ci` gives boot's percentile (with ``norm.inter``'s interpolation), normal (bias
  corrected) and basic intervals.
* :func:`PBmodcomp` is pbkrtest's parametric bootstrap likelihood-ratio test of two nested models.
* :func:`predict_interval` gives bootstrap confidence or prediction intervals of ``predict``.

Speed: a replicate only changes the response, so the model matrices, the random-effects structure and
every block of ``A = [Z X y]' W [Z X y]`` that does not involve ``y`` are built once; each refit
updates the ``y`` column of ``A`` (one matrix-vector product) and runs the optimiser from the fitted
theta.  For small models (lme4-sized sleepstudy) the criterion is a single LAPACK Cholesky.

Random numbers: numpy's, not R's.  One independent stream per replicate
(``numpy.random.SeedSequence(seed).spawn(nsim)``), so a result depends on ``seed`` only, not on the
number of workers.
"""
from __future__ import annotations

import collections
import copy
import dataclasses
import multiprocessing
import os
import pickle
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import pandas as pd
import scipy.linalg.lapack as lapack
import scipy.sparse as sp
from scipy import stats

from ..errors import DataError, FormulaError
from ..pls import LOG_2PI, DenseDeviance, Deviance, make_deviance
from ..threads import blas_threads

REPLICATE_STEP = 0.25  # initial BOBYQA step of a replicate refit, relative to |theta|
ONE_TERM_MIN_Q = 64   # one term with more random effects than this: closed-form blocks, not a dense Cholesky

__all__ = ["BootResult", "bootMer", "boot_ci", "PBModComp", "PBmodcomp", "predict_interval"]


# ================================================================================================
# the result object


class BootResult:
    """A bootstrap result, as R's ``boot`` object returned by ``bootMer``.

    Attributes
    ----------
    t0 : pandas.Series
        ``FUN`` on the fitted model (names from ``FUN``'s Series / dict, else ``t1*``, ``t2*``...).
    t : numpy.ndarray
        ``nsim x k``: ``FUN`` on each refit; a failed replicate is a row of NaN.
    R : int
        Number of replicates (``nsim``).
    seed : int or numpy.random.SeedSequence
        What reproduces the run: ``bootMer(..., seed=b.seed)`` gives the same ``t``.
    sim : str
        ``"parametric"`` or ``"semiparametric"``.
    mle : dict
        ``beta``, ``theta``, ``sigma`` of the fitted model (as lme4's ``mle`` slot).
    nfail : int
        Number of failed replicates (lme4's ``attr(, "bootFail")``).
    fail_messages, messages : collections.Counter
        Error messages of failed replicates; warnings raised by the refits (``"Category: text"``),
        as lme4's ``boot.fail.msgs`` / ``boot.all.msgs``.

    Example
    -------
    >>> # b = mc.bootMer(m, mc.fixef, nsim=100, seed=1); b.t.shape -> (100, 2); mc.boot_ci(b)
    """

    def __init__(self, t0: pd.Series, t: np.ndarray, seed: Any, sim: str, mle: dict, statistic: Callable,
                 fail_messages: collections.Counter, messages: collections.Counter, call: dict):
        self.t0 = t0
        self.t = t
        self.R = int(t.shape[0])
        self.seed = seed
        self.sim = sim
        self.mle = mle
        self.statistic = statistic
        self.fail_messages = fail_messages
        self.messages = messages
        self.nfail = int(sum(fail_messages.values()))
        self.call = call

    @property
    def names(self) -> list[str]:
        return list(self.t0.index)

    def to_frame(self) -> pd.DataFrame:
        """``t`` as a DataFrame (columns = statistic names), as R's ``as.data.frame(b)``."""
        return pd.DataFrame(self.t, columns=self.names)

    def summary(self) -> pd.DataFrame:
        """R's ``print(b)`` table: ``original``, ``bias``, ``std. error`` per statistic (NaN rows dropped)."""
        mean = np.nanmean(self.t, axis=0) if self.R else np.full(len(self.t0), np.nan)
        sd = np.nanstd(self.t, axis=0, ddof=1) if self.R > 1 else np.full(len(self.t0), np.nan)
        return pd.DataFrame({"original": self.t0.to_numpy(), "bias": mean - self.t0.to_numpy(),
                             "std. error": sd}, index=self.names)

    def __str__(self) -> str:
        head = "PARAMETRIC BOOTSTRAP" if self.sim == "parametric" else "SEMIPARAMETRIC BOOTSTRAP"
        args = ", ".join(f"{k} = {v}" for k, v in self.call.items())
        lines = [head, "", "", "Call:", f"bootMer({args})", "", "", "Bootstrap Statistics :",
                 self.summary().to_string()]
        if self.nfail:
            lines.append(f"{self.nfail} of {self.R} bootstrap replicates failed")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


# ================================================================================================
# fast refits: only y changes


class _DenseCriterion:
    """The criterion of a ``DenseDeviance`` as one LAPACK Cholesky (no factor object built): what the
    optimiser calls ~70 times per refit.  Same formula as ``Deviance.criterion_from_factor``.

    Buffers are per object: one object serves one refit (one thread)."""

    def __init__(self, dev: DenseDeviance):
        q, p = dev.q, dev.p
        self.q, self.p, self.n = q, p, dev.n
        self.rows, self.cols, self.idx = dev._lam_rows, dev._lam_cols, dev._lam_idx
        self.REML = dev.REML
        self.lam = np.zeros((q, q))
        self.lamT = self.lam.T                      # a view: follows lam
        self.Aq = np.ascontiguousarray(dev.A[:q])   # [Z'Z Z'X Z'y]
        self.base = np.zeros_like(dev.A)
        self.base[q:, q:] = dev.A[q:, q:]
        self.diag_flat = np.arange(q) * (dev.A.shape[0] + 1)
        denom = self.n - p if self.REML else self.n
        self.denom = denom
        self.const = -dev.sum_log_weights + denom * (1.0 + LOG_2PI - np.log(denom))

    def __call__(self, theta: np.ndarray) -> float:
        q = self.q
        self.lam[self.rows, self.cols] = theta[self.idx]
        top = self.lamT @ self.Aq                   # Lambda' [Z'Z Z'X Z'y]
        M = self.base.copy()                        # C order: its transpose is the Fortran matrix
        M[:q, :q] = top[:, :q] @ self.lam
        M.ravel()[self.diag_flat] += 1.0
        M[q:, :q] = top[:, q:].T                    # lower triangle only: all dpotrf reads
        R, info = lapack.dpotrf(M.T, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            return np.inf
        logd = np.log(R.diagonal())                 # log|L|, log|R_X|, log(sqrt(pwrss))
        if not np.isfinite(logd[-1]):
            return np.inf
        logdet = logd[:-1].sum() if self.REML else logd[:q].sum()
        return float(2.0 * logdet + self.const + self.denom * 2.0 * logd[-1])


class _OneTermCriterion:
    """The criterion of a model with one random-effects term (``Lambda' Z'Z Lambda + I`` block
    diagonal: one ``q x q`` block per level), closed form for ``q <= 2``: no ``q_total``-sized matrix.

    Built from ``Z'Z`` blocks ``Ad`` (levels, q, q), ``Z'[X y]`` blocks ``R`` (levels, q, p + 1) and
    ``[X y]'[X y]``; the same criterion as ``Deviance.criterion_from_factor`` (``ldL2`` = sum of the
    log-determinants of the blocks)."""

    def __init__(self, Ad: np.ndarray, R: np.ndarray, AXX: np.ndarray, n: int, p: int, REML: bool,
                 sum_log_weights: float, tril: tuple[np.ndarray, np.ndarray]):
        self.q = Ad.shape[1]
        self.p, self.n, self.REML = p, n, REML
        self.Ad, self.R, self.AXX = Ad, R, AXX
        self.a, self.b, self.c = (Ad[:, 0, 0].copy(), Ad[:, 1, 0].copy() if self.q > 1 else None,
                                  Ad[:, 1, 1].copy() if self.q > 1 else None)
        self.R0 = np.ascontiguousarray(R[:, 0, :])
        self.R1 = np.ascontiguousarray(R[:, 1, :]) if self.q > 1 else None
        self.tril = tril
        denom = n - p if REML else n
        self.denom = denom
        self.const = -sum_log_weights + denom * (1.0 + LOG_2PI - np.log(denom))

    def _schur(self, theta: np.ndarray) -> tuple[float, np.ndarray] | None:
        q = self.q
        if q == 1:
            t = theta[0]
            B = t * t * self.a + 1.0
            W = self.R0 * (t / np.sqrt(B))[:, None]
            return float(np.log(B).sum()), W.T @ W
        if q == 2:
            t1, t2, t3 = theta[0], theta[1], theta[2]
            a, b, c = self.a, self.b, self.c
            v = t1 * b + t2 * c
            B00 = t1 * (t1 * a + t2 * b) + t2 * v + 1.0
            l11 = np.sqrt(B00)
            l21 = (t3 * v) / l11
            l22sq = t3 * t3 * c + 1.0 - l21 * l21
            if not np.all(l22sq > 0):
                return None
            W0 = (t1 * self.R0 + t2 * self.R1) / l11[:, None]
            W1 = (t3 * self.R1 - l21[:, None] * W0) / np.sqrt(l22sq)[:, None]
            return float(np.log(B00 * l22sq).sum()), W0.T @ W0 + W1.T @ W1
        T = np.zeros((q, q))
        T[self.tril] = theta
        B = T.T @ self.Ad @ T + np.eye(q)
        L = np.linalg.cholesky(B)
        W = np.linalg.solve(L, T.T @ self.R)          # L^{-1} T' R per level
        Wf = W.reshape(-1, self.p + 1)
        return 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum()), Wf.T @ Wf

    def __call__(self, theta: np.ndarray) -> float:
        try:
            out = self._schur(theta)
        except np.linalg.LinAlgError:
            return np.inf
        if out is None:
            return np.inf
        ldL2, WtW = out
        S = self.AXX - WtW
        R, info = lapack.dpotrf(S, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            return np.inf
        logd = np.log(R.diagonal())
        if not np.isfinite(logd[-1]):
            return np.inf
        logdet = ldL2 + 2.0 * logd[:-1].sum() if self.REML else ldL2
        return float(logdet + self.const + self.denom * 2.0 * logd[-1])


class _Refitter:
    """Refits one model to new responses, reusing everything that does not depend on ``y``.

    ``fit(y)`` returns an ``LmerMod`` equal to ``refit(m, y)``; ``criterion(y)`` only the optimum
    criterion (what ``PBmodcomp`` needs).  Falls back to a fresh ``make_deviance`` per replicate
    when the deviance class is not one it knows how to update (checked once at construction).
    """

    def __init__(self, m):
        from ..lmer import _column_partners
        self.m = m
        self.terms = m.terms
        frame = m.frame
        self.offset = frame.offset
        self.sqrtw = np.sqrt(frame.weights) if frame.weights is not None else None
        self.start = np.asarray(m.theta, dtype=float).copy()
        self.control = dict(m.control)
        self.lower = np.concatenate([t.lower() for t in m.terms])
        self.partners = _column_partners(m.terms)
        self.template = m.devfun
        self.fast = type(self.template) in (DenseDeviance, Deviance)
        # one term on the blocked path (many levels): the closed-form criterion; small models keep
        # the single dense Cholesky, which costs fewer numpy calls
        self.one_term = self.fast and len(m.terms) == 1 and (
            type(self.template) is Deviance or m.terms[0].n_levels * m.terms[0].q > ONE_TERM_MIN_Q)
        if self.fast:
            Zs = [t.Z(self.sqrtw) for t in m.terms]
            self.Zs = [sp.csr_matrix(Z.T) for Z in Zs]              # q_k x n, one per term
            Xs = frame.X if self.sqrtw is None else frame.X * self.sqrtw[:, None]
            self.Xs = Xs
            self.XsT = np.ascontiguousarray(Xs.T)
            self.XsXs = Xs.T @ Xs
            self.ZallT = sp.vstack(self.Zs).tocsr() if isinstance(self.template, DenseDeviance) else None
        if self.one_term:
            t = m.terms[0]
            self.t_codes = t.codes
            self.t_Xw = t.X if self.sqrtw is None else t.X * self.sqrtw[:, None]
            self.Ad = Deviance._diag_blocks(t, self.sqrtw)
            L, q, p = t.n_levels, t.q, frame.X.shape[1]
            self.RX = np.empty((L, q, p))
            for a in range(q):
                for j in range(p):
                    self.RX[:, a, j] = np.bincount(t.codes, weights=self.t_Xw[:, a] * Xs[:, j], minlength=L)
        if self.fast:
            y0 = np.asarray(frame.y, dtype=float)
            ref = float(self.template(self.start))
            for fun in (self._criterion_fn(self.deviance(y0)),
                        self._one_term_criterion(y0) if self.one_term else None):
                if fun is None:
                    continue
                got = float(fun(self.start))
                if not (np.isfinite(ref) and abs(got - ref) <= 1e-8 * max(1.0, abs(ref))):
                    self.fast = self.one_term = False   # pls.py changed under us: stay correct, lose speed
        data = m.call.get("data") if isinstance(m.call, dict) else None
        self.data = None
        if isinstance(data, pd.DataFrame) and frame.response_name in data.columns:
            # each refit's call["data"]: the data with the response replaced (update() on a
            # replicate refits to the replicate's response, as prediction.refit)
            self.data = data
            self.resp_values = data[frame.response_name].to_numpy(dtype=float, copy=True)

    def _weighted_response(self, y: np.ndarray) -> np.ndarray:
        ys = y - self.offset if self.offset is not None else y
        return ys * self.sqrtw if self.sqrtw is not None else ys

    def _one_term_criterion(self, y: np.ndarray) -> _OneTermCriterion:
        ys = self._weighted_response(y)
        L, q, p = self.RX.shape
        R = np.empty((L, q, p + 1))
        R[:, :, :p] = self.RX
        for a in range(q):
            R[:, a, p] = np.bincount(self.t_codes, weights=self.t_Xw[:, a] * ys, minlength=L)
        AXX = np.empty((p + 1, p + 1))
        AXX[:p, :p] = self.XsXs
        Xy = self.XsT @ ys
        AXX[p, :p] = Xy
        AXX[:p, p] = Xy
        AXX[p, p] = ys @ ys
        dev = self.template
        return _OneTermCriterion(self.Ad, R, AXX, dev.n, p, dev.REML, dev.sum_log_weights,
                                 self.terms[0].tril_index)

    def deviance(self, y: np.ndarray):
        """The model's deviance object for response ``y``."""
        frame = self.m.frame
        if not self.fast:
            return make_deviance(self.terms, frame.X, y, frame.weights, frame.offset, REML=self.m.REML)
        ys = self._weighted_response(y)
        Xy = self.XsT @ ys
        yy = float(ys @ ys)
        dev = copy.copy(self.template)
        p = dev.p
        if isinstance(dev, DenseDeviance):
            q = dev.q
            A = dev.A.copy()
            col = np.concatenate([self.ZallT @ ys, Xy])
            A[:q + p, q + p] = col
            A[q + p, :q + p] = col
            A[q + p, q + p] = yy
            dev.A = A
        else:
            AX = []
            for ZkT, AXk in zip(self.Zs, dev.AX):
                new = AXk.copy()
                new[p, :] = ZkT @ ys
                AX.append(new)
            dev.AX = AX
            AXX = dev.AXX.copy()
            AXX[p, :p] = Xy
            AXX[:p, p] = Xy
            AXX[p, p] = yy
            dev.AXX = AXX
            t1 = self.terms[0]
            dev._AX1_3d = AX[0].reshape(p + 1, t1.n_levels, t1.q)
        return dev

    @staticmethod
    def _criterion_fn(dev) -> Callable[[np.ndarray], float]:
        return _DenseCriterion(dev) if type(dev) is DenseDeviance else dev

    def optimize(self, y: np.ndarray, need_deviance: bool = True):
        """(deviance object or None, OptSummary) for response ``y``, from the fitted theta."""
        from ..lmer import optimize_fit
        from ..optimize import minimize_theta
        dev = self.deviance(y) if (need_deviance or not self.one_term) else None
        fun = self._one_term_criterion(y) if self.one_term else self._criterion_fn(dev)
        if self.control.get("optimizer", "nloptwrap") is None:
            opt = optimize_fit(dev if dev is not None else self.deviance(y), self.terms, self.start.copy(),
                               self.control)
        else:
            # a replicate's optimum is near the fitted theta: start BOBYQA with a trust region of a
            # quarter of each parameter (not NLopt's default of 3/4 of the distance to the bound);
            # ~25% fewer evaluations, optimum criterion within ~1e-7 of the default path
            control = dict(self.control)
            if control.get("initial_step") is None:
                control["initial_step"] = REPLICATE_STEP * np.maximum(np.abs(self.start), 0.05)
            opt = minimize_theta(fun, self.start.copy(), self.lower, control,
                                 column_partners=self.partners)
        return dev, opt

    def criterion(self, y: np.ndarray) -> float:
        """The optimum criterion (REML criterion or deviance, as the model) for response ``y``."""
        _dev, opt = self.optimize(y, need_deviance=False)
        if not np.isfinite(opt.fval) or opt.fval >= np.finfo(float).max:
            raise FloatingPointError("the criterion is not finite at the optimum")
        return float(opt.fval)

    def fit(self, y: np.ndarray):
        """``refit(m, y)``: an ``LmerMod``."""
        from ..lmer import LmerMod
        m = self.m
        dev, opt = self.optimize(y)
        frame = dataclasses.replace(m.frame, y=y)
        call = dict(m.call)
        if self.data is not None:
            column = self.resp_values.copy()
            column[m.frame.rows] = y
            data = self.data.copy(deep=False)
            data[m.frame.response_name] = column
            call["data"] = data
        return LmerMod(m.formula, m.parts, frame, m.terms, dev, opt, m.REML, m.control,
                       data_name=m.data_name, weights_name=m.weights_name, offset_name=m.offset_name,
                       fit_warnings=list(m.optinfo.get("fit_warnings", [])), call=call)


class _Simulator:
    """Draws responses from a fitted model exactly as ``prediction.simulate(m, 1, rng, ...)`` does
    (same draws from the same generator), with the per-model set-up done once."""

    def __init__(self, m, use_u: bool = False, re_form: Any = None, type: str = "parametric"):  # noqa: A002
        from ..prediction import _form_of, _original_order, _term_matrix, select_re
        self.type = type
        if type == "semiparametric":
            self.fitted = m.fitted()
            self.resid = m.residuals()
            return
        if re_form is not None:
            keep = select_re(m, re_form)
            for k, cols in keep.items():
                if len(cols) != m.terms[k].q:
                    raise FormulaError(f"bootMer: re_form must name whole random-effects terms; "
                                       f"({m.terms[k].label}) is only partly named")
        elif use_u:
            keep = select_re(m, None)
        else:
            keep = {}
        from ..prediction import predict
        self.eta = predict(m, None, re_form=None if (use_u and re_form is None) else _form_of(m, keep))
        self.sigma = m.sigma()
        self.n = m.nobs()
        order = _original_order(m)
        self.drawn = [(_term_matrix(m, k, None, order), t.codes, t.n_levels, m._factor.templates[k])
                      for k, t in enumerate(m.terms) if k not in keep]
        self.scale = 1.0 / np.sqrt(m.frame.weights) if m.frame.weights is not None else 1.0

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        if self.type == "semiparametric":
            return self.fitted + rng.choice(self.resid, size=len(self.resid), replace=True)
        sigma = self.sigma
        y = self.eta.copy()
        for X, codes, n_levels, T in self.drawn:
            b = sigma * rng.standard_normal((n_levels, T.shape[0])) @ T.T
            bz = np.vstack([b, np.full((1, b.shape[1]), np.nan)])
            y = y + np.einsum("ij,ij->i", X, bz[codes])
        return y + sigma * rng.standard_normal(self.n) * self.scale


# ================================================================================================
# running replicates (serial, threads or processes)


def _as_vector(value: Any) -> tuple[np.ndarray, list[str] | None]:
    """FUN's value as a float vector and its names (None when unnamed)."""
    if isinstance(value, pd.Series):
        return value.to_numpy(dtype=float), [str(i) for i in value.index]
    if isinstance(value, dict):
        return np.asarray(list(value.values()), dtype=float).ravel(), [str(k) for k in value]
    if isinstance(value, pd.DataFrame):
        raise TypeError("bootMer: FUN must return numbers (a float, array, Series or dict), not a DataFrame")
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"bootMer: FUN must return numbers (a float, array, Series or dict), not "
                        f"{type(value).__name__}")
    return arr.astype(float).ravel(), None


class _Job:
    """Everything a worker needs: how to make a response and what to compute from it."""

    def __init__(self, simulate: _Simulator, compute: Callable[[np.ndarray], np.ndarray], k: int):
        self.simulate = simulate
        self.compute = compute
        self.k = k

    def run(self, seeds: list, first: int, threads_n: int | None,
            catch: bool = True) -> tuple[int, np.ndarray, list[str], list[str]]:
        out = np.full((len(seeds), self.k), np.nan)
        fails: list[str] = []
        caught: list = []
        ctx = warnings.catch_warnings(record=True) if catch else _nullcontext([])
        with ctx as rec, blas_threads(threads_n):
            if catch:
                warnings.simplefilter("always")
            for i, ss in enumerate(seeds):
                try:
                    y = self.simulate(np.random.default_rng(ss))
                    vals = np.asarray(self.compute(y), dtype=float)
                    if vals.shape != (self.k,):
                        raise ValueError(f"FUN returned {vals.size} value(s) on a replicate, {self.k} on the data")
                    out[i] = vals
                except Exception as exc:  # noqa: BLE001 - a failed replicate is a NaN row, as boot
                    fails.append(f"{type(exc).__name__}: {exc}")
            caught = [f"{w.category.__name__}: {w.message}" for w in (rec or [])]
        return first, out, fails, caught


class _nullcontext:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return False


_JOBS: dict[int, _Job] = {}


def _run_registered(token: int, seeds: list, first: int, threads_n: int | None):
    return _JOBS[token].run(seeds, first, threads_n)


def _init_worker(token: int, payload: bytes) -> None:
    _JOBS[token] = pickle.loads(payload)


def _workers(parallel: Any, ncpus: int | None) -> tuple[str, int]:
    """(backend, number of workers) from lme4-style ``parallel`` / ``ncpus``."""
    if parallel is None or parallel is False or parallel in ("no", "none"):
        return "serial", 1
    if isinstance(parallel, (bool, np.bool_)):
        parallel = "multiprocessing"
    if isinstance(parallel, (int, np.integer)):
        if parallel < 1:
            raise ValueError(f"parallel must be a positive number of workers, not {parallel}")
        return ("serial", 1) if parallel == 1 else ("processes", int(parallel))
    if isinstance(parallel, str):
        n = int(ncpus) if ncpus is not None else (os.cpu_count() or 1)
        if n < 1:
            raise ValueError(f"ncpus must be >= 1, not {ncpus}")
        if parallel in ("multiprocessing", "multicore", "snow", "processes"):
            return ("processes", n) if n > 1 else ("serial", 1)
        if parallel in ("threads", "threading"):
            return ("threads", n) if n > 1 else ("serial", 1)
    raise ValueError(f"parallel must be None, a number of workers, 'multiprocessing' or 'threads' "
                     f"(with ncpus=), not {parallel!r}")


def _progress_bar(total: int, enabled: bool, desc: str):
    if not enabled or not getattr(sys.stderr, "isatty", lambda: False)():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, file=sys.stderr)


def _seed_sequence(seed: Any) -> tuple[np.random.SeedSequence, Any]:
    if isinstance(seed, np.random.SeedSequence):
        return seed, seed
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(0, 2 ** 63))
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be None, an int or a numpy SeedSequence / Generator, not {seed!r}")
    ss = np.random.SeedSequence(None if seed is None else int(seed))
    return ss, int(ss.entropy)


def _run(job: _Job, nsim: int, ss: np.random.SeedSequence, parallel: Any, ncpus: int | None,
         progress: bool, threads_n: int | None, desc: str):
    """Run ``nsim`` replicates; returns (t, fail Counter, warning Counter)."""
    backend, n_workers = _workers(parallel, ncpus)
    children = ss.spawn(nsim)
    t = np.full((nsim, job.k), np.nan)
    fails: collections.Counter = collections.Counter()
    msgs: collections.Counter = collections.Counter()
    bar = _progress_bar(nsim, progress, desc)
    try:
        if backend == "serial":
            step = max(1, min(50, nsim // 100 or 1)) if bar is not None else nsim
            for first in range(0, nsim, step):
                _f, rows, fl, wl = job.run(children[first:first + step], first, threads_n)
                t[first:first + len(rows)] = rows
                fails.update(fl)
                msgs.update(wl)
                if bar is not None:
                    bar.update(len(rows))
        else:
            n_chunks = min(nsim, n_workers * 8)
            bounds = np.linspace(0, nsim, n_chunks + 1).astype(int)
            chunks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
            if backend == "threads":
                with warnings.catch_warnings(record=True) as rec:   # one catcher: the filters are global
                    warnings.simplefilter("always")
                    with ThreadPoolExecutor(max_workers=n_workers) as pool:
                        futures = [pool.submit(job.run, children[a:b], a, threads_n, False) for a, b in chunks]
                        for fut in futures:
                            first, rows, fl, _wl = fut.result()
                            t[first:first + len(rows)] = rows
                            fails.update(fl)
                            if bar is not None:
                                bar.update(len(rows))
                msgs.update(f"{w.category.__name__}: {w.message}" for w in rec)
            else:
                token = id(job)
                if "fork" in multiprocessing.get_all_start_methods():
                    _JOBS[token] = job
                    pool = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("fork"))
                else:
                    try:
                        payload = pickle.dumps(job)
                    except Exception as exc:  # noqa: BLE001
                        raise ValueError(f"parallel processes need a picklable FUN and model on this platform "
                                         f"({exc}); use parallel='threads' or a module-level function") from exc
                    pool = ProcessPoolExecutor(n_workers, initializer=_init_worker, initargs=(token, payload))
                try:
                    with pool:
                        futures = [pool.submit(_run_registered, token, children[a:b], a, threads_n)
                                   for a, b in chunks]
                        for fut in futures:
                            first, rows, fl, wl = fut.result()
                            t[first:first + len(rows)] = rows
                            fails.update(fl)
                            msgs.update(wl)
                            if bar is not None:
                                bar.update(len(rows))
                finally:
                    _JOBS.pop(token, None)
    finally:
        if bar is not None:
            bar.close()
    return t, fails, msgs


# ================================================================================================
# bootMer


def bootMer(m, FUN: Callable, nsim: int = 1, seed: Any = None, use_u: bool = False,
            type: str = "parametric", parallel: Any = None, progress: bool = True,  # noqa: A002
            re_form: Any = None, ncpus: int | None = None) -> BootResult:
    """Model-based (parametric) bootstrap of a statistic, as lme4's ``bootMer``.

    Each replicate simulates a response from the fitted model, refits the model to it from the fitted
    theta and evaluates ``FUN`` on the refit.

    Parameters
    ----------
    m : LmerMod
    FUN : callable
        ``FUN(fit) -> float, array, Series or dict`` of numbers; ``fit`` is an ``LmerMod``.
    nsim : int
        Number of replicates (>= 1).
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Seed of numpy's generator; replicate ``i`` draws from ``SeedSequence(seed).spawn(nsim)[i]``.
        R's random numbers are not reproduced (the law is the same).
    use_u : bool
        False (lme4's default): new random effects in each replicate; True: condition on the fitted ones.
    type : {"parametric", "semiparametric"}
        ``"semiparametric"`` (needs ``use_u=True``, as lme4): fitted values plus residuals resampled
        with replacement.
    parallel : None, int, "multiprocessing" or "threads"
        None: one process; ``k``: ``k`` worker processes; a backend name uses ``ncpus`` workers
        (default: all cores).  ``t`` does not depend on it.
    progress : bool
        A tqdm progress bar when stderr is a terminal (tqdm is a dependency; none otherwise).
    re_form : str, optional
        As lme4's ``re.form``: random-effects terms to condition on (``"NA"``/``"~0"``: none);
        overrides ``use_u`` when given.
    ncpus : int, optional
        Workers for a named ``parallel`` backend (lme4's ``ncpus``).

    Returns
    -------
    BootResult

    Raises
    ------
    ValueError
        ``nsim < 1``; an unknown ``type`` or ``parallel``; ``FUN`` does not return numbers.

    Notes
    -----
    A replicate whose refit or ``FUN`` raises gives a row of NaN, and one warning gives the count,
    as lme4 (``"some bootstrap runs failed (k/nsim)"``).  Warnings of the refits (singular fits,
    convergence) are not re-issued; they are counted in ``.messages``.

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> b = mc.bootMer(m, mc.fixef, nsim=20, seed=1, progress=False)
    >>> b.t.shape, list(b.t0.index)
    ((20, 2), ['(Intercept)', 'Days'])
    """
    from ..prediction import _check_nsim
    nsim = _check_nsim(nsim)
    if type not in ("parametric", "semiparametric"):
        raise ValueError(f"type must be 'parametric' or 'semiparametric', not {type!r}")
    if type == "semiparametric":
        if re_form is not None:
            raise ValueError("'re_form' cannot be used with semiparametric bootstrapping (as lme4)")
        if not use_u:
            raise ValueError("semiparametric bootstrapping with use_u=False is not implemented (as lme4)")
    if not callable(FUN):
        raise TypeError(f"FUN must be callable, not {type_name(FUN)}")
    _workers(parallel, ncpus)                        # validate before any work
    values, names = _as_vector(FUN(m))
    k = len(values)
    if names is None or len(names) != k:
        names = [f"t{i}*" for i in range(1, k + 1)]
    t0 = pd.Series(values, index=names)
    ss, seed_out = _seed_sequence(seed)
    refitter = _Refitter(m)
    simulate = _Simulator(m, use_u=use_u, re_form=re_form, type=type)

    def compute(y: np.ndarray) -> np.ndarray:
        return _as_vector(FUN(refitter.fit(y)))[0]

    job = _Job(simulate, compute, k)
    t, fails, msgs = _run(job, nsim, ss, parallel, ncpus, progress, m.control.get("blas_threads", 1), "bootMer")
    nfail = sum(fails.values())
    if nfail:
        warnings.warn(f"some bootstrap runs failed ({nfail}/{nsim})", UserWarning, stacklevel=2)
    mle = {"beta": np.asarray(m.beta).copy(), "theta": np.asarray(m.theta).copy(), "sigma": m.sigma()}
    call = {"x": "m", "FUN": getattr(FUN, "__name__", "FUN"), "nsim": nsim, "seed": seed_out}
    if use_u:
        call["use.u"] = "TRUE"
    return BootResult(t0, t, seed_out, type, mle, FUN, fails, msgs, call)


def type_name(x: Any) -> str:
    return type(x).__name__


# ================================================================================================
# boot.ci


def _check_level(level: Any) -> np.ndarray:
    lv = np.atleast_1d(np.asarray(level, dtype=float))
    if lv.size == 0 or not np.all((lv > 0) & (lv < 1)):
        raise ValueError(f"level must be strictly between 0 and 1, not {level!r}")
    return lv


def _percent_label(a: float) -> str:
    """R's ``format.perc``: 3 significant digits and " %"."""
    return f"{100 * a:.3g} %"


def _interpolated_quantiles(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Order statistics of ``t`` at positions ``(R + 1) alpha``, interpolated on the normal
    quantile scale between neighbours when the position is fractional (boot's rule)."""
    t = np.sort(t[np.isfinite(t)])
    R = len(t)
    if R == 0:
        return np.full(len(alpha), np.nan)
    pos = (R + 1) * alpha
    if not np.all((pos > 1) & (pos < R)):
        warnings.warn("extreme order statistics used as endpoints", UserWarning, stacklevel=4)
    k = np.trunc(pos).astype(int)
    out = np.empty(len(alpha))
    for j, (a, r, kj) in enumerate(zip(alpha, pos, k)):
        if kj <= 0:
            out[j] = t[0]
        elif kj >= R:
            out[j] = t[R - 1]
        elif kj == r:
            out[j] = t[kj - 1]
        else:
            z, z_lo, z_hi = stats.norm.ppf([a, kj / (R + 1), (kj + 1) / (R + 1)])
            lo, hi = t[kj - 1], t[kj]
            out[j] = lo + (z - z_lo) / (z_hi - z_lo) * (hi - lo)
    return out


def _one_interval(t: np.ndarray, t0: float, kind: str, conf: float) -> tuple[float, float]:
    fin = t[np.isfinite(t)]
    if kind == "perc":
        lo, hi = _interpolated_quantiles(fin, np.array([(1 - conf) / 2, (1 + conf) / 2]))
        return lo, hi
    if kind == "basic":
        q_hi, q_lo = _interpolated_quantiles(fin, np.array([(1 + conf) / 2, (1 - conf) / 2]))
        return 2 * t0 - q_hi, 2 * t0 - q_lo
    # normal approximation with bias correction: t0 - bias -/+ z sd
    if len(fin) < 2:
        return np.nan, np.nan
    bias = float(np.mean(fin)) - t0
    merr = float(np.std(fin, ddof=1)) * stats.norm.ppf((1 + conf) / 2)
    return t0 - bias - merr, t0 - bias + merr


def boot_ci(b: BootResult, type: str = "perc", level: float = 0.95, index: Any = None) -> pd.DataFrame:  # noqa: A002
    """Bootstrap confidence intervals, as boot's ``boot.ci`` (``conf = level``).

    Parameters
    ----------
    b : BootResult
    type : {"perc", "norm", "basic"}
        ``"perc"``: the ``(1 -/+ level)/2`` order statistics of ``t`` (interpolated on the normal
        quantile scale as boot's ``norm.inter``); ``"norm"``: ``t0 - bias -/+ z sd(t)`` with
        ``bias = mean(t) - t0``; ``"basic"``: ``2 t0 - `` the upper / lower order statistics.
    level : float or sequence of floats
        Confidence level(s), strictly between 0 and 1.
    index : int, str or list, optional
        Statistics (positions or names); all by default.  Non-finite replicates are dropped per
        statistic, as boot.

    Returns
    -------
    pandas.DataFrame
        Rows = statistics; columns ``"2.5 %"``, ``"97.5 %"`` (for each level, lower then upper).

    Example
    -------
    >>> # mc.boot_ci(mc.bootMer(m, mc.fixef, nsim=500, seed=1), type="perc")
    """
    if not isinstance(b, BootResult):
        raise TypeError(f"boot_ci needs a BootResult (from bootMer), not {type_name(b)}")
    kind = {"percent": "perc", "normal": "norm"}.get(type, type)
    if kind not in ("perc", "norm", "basic"):
        raise ValueError(f"type must be 'perc', 'norm' or 'basic', not {type!r} "
                         f"('bca' and 'stud' need quantities a parametric bootMer does not provide)")
    levels = _check_level(level)
    names = b.names
    if index is None:
        idx = list(range(len(names)))
    else:
        items = index if isinstance(index, (list, tuple, np.ndarray, pd.Index)) else [index]
        idx = []
        for it in items:
            if isinstance(it, str):
                if it not in names:
                    raise KeyError(f"boot_ci: no statistic named {it!r} (statistics: {', '.join(names)})")
                idx.append(names.index(it))
            else:
                i = int(it)
                if not 0 <= i < len(names):
                    raise IndexError(f"boot_ci: index {i} out of range for {len(names)} statistic(s)")
                idx.append(i)
    columns = []
    for conf in levels:
        columns += [_percent_label((1 - conf) / 2), _percent_label((1 + conf) / 2)]
    rows = []
    for i in idx:
        row = []
        for conf in levels:
            row += list(_one_interval(b.t[:, i], float(b.t0.iloc[i]), kind, float(conf)))
        rows.append(row)
    return pd.DataFrame(rows, index=[names[i] for i in idx], columns=columns)


# ================================================================================================
# PBmodcomp


class PBModComp:
    """pbkrtest's ``PBmodcomp`` result.

    Attributes
    ----------
    test : pandas.DataFrame
        Rows ``LRT``, ``PBtest``; columns ``stat``, ``df``, ``p.value`` (``df`` NaN for PBtest).
    ref : numpy.ndarray
        The simulated LRT statistics (NaN for failed replicates).
    LRTstat : pandas.Series
        ``tobs``, ``df``, ``p.value``.
    samples : dict
        ``nsim`` and ``npos`` (replicates with a positive statistic, what the p-value counts).
    n_extreme : int
        Positive replicates above the observed statistic.
    ctime : float
        Seconds spent simulating.
    """

    def __init__(self, test: pd.DataFrame, ref: np.ndarray, LRTstat: pd.Series, samples: dict,
                 n_extreme: int, ctime: float, formula_large: str, formula_small: str, seed: Any):
        self.test = test
        self.ref = ref
        self.LRTstat = LRTstat
        self.samples = samples
        self.n_extreme = n_extreme
        self.ctime = ctime
        self.formula_large = formula_large
        self.formula_small = formula_small
        self.seed = seed

    def __str__(self) -> str:
        tab = self.test.copy()
        tab["df"] = tab["df"].map(lambda v: "" if pd.isna(v) else f"{v:g}")
        tab["stat"] = tab["stat"].map(lambda v: f"{v:.5g}")
        tab["p.value"] = tab["p.value"].map(lambda v: f"{v:.4g}")
        return "\n".join([f"Bootstrap test; time: {self.ctime:.2f} sec; samples: {self.samples['nsim']}; "
                          f"extremes: {self.n_extreme};",
                          f"large : {self.formula_large}", f"small : {self.formula_small}",
                          tab.to_string()])

    def __repr__(self) -> str:
        return self.__str__()


def _ml_fit(m):
    """The model refitted by maximum likelihood (pbkrtest's ``update(m, REML = FALSE)``)."""
    if not m.REML:
        return m
    from ..prediction import update
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return update(m, REML=False)


def PBmodcomp(large, small, nsim: int = 1000, seed: Any = None, parallel: Any = None,
              progress: bool = True, ncpus: int | None = None) -> PBModComp:
    """Parametric bootstrap likelihood-ratio test of nested models, as pbkrtest's ``PBmodcomp``.

    Both models are refitted by maximum likelihood when they are REML fits (as pbkrtest); the
    observed statistic is ``2 (logLik(large) - logLik(small))``.  Each replicate simulates a response
    from the (ML) small model, refits both models to it (from their fitted theta) and records the
    statistic.

    Parameters
    ----------
    large, small : LmerMod
        The models; ``small`` may also be an update formula for ``large`` (``". ~ . - Days"``).
    nsim : int
        Number of simulations (>= 1).
    seed, parallel, progress, ncpus
        As :func:`bootMer`.

    Returns
    -------
    PBModComp
        ``.test``: rows ``LRT`` (p-value from chi-square with ``df`` = difference in the number of
        parameters) and ``PBtest`` (p-value ``(1 + #{ref > stat}) / (1 + #{ref > 0})``, pbkrtest
        0.5's rule: replicates with a statistic <= 0 are not counted).

    Example
    -------
    >>> # pb = mc.PBmodcomp(m_large, m_small, nsim=1000, seed=1); pb.test
    """
    from ..prediction import _check_nsim, update
    nsim = _check_nsim(nsim)
    if isinstance(small, str):
        small = update(large, small)
    for name, mm in (("large", large), ("small", small)):
        if not hasattr(mm, "devfun") or not hasattr(mm, "frame"):
            raise TypeError(f"PBmodcomp: {name} must be an lmer fit (restriction matrices are not supported), "
                            f"not {type_name(mm)}")
    if large.nobs() != small.nobs() or not np.array_equal(large.frame.y, small.frame.y):
        raise DataError("PBmodcomp: the two models must be fitted to the same observations and response")
    _workers(parallel, ncpus)
    large_ml, small_ml = _ml_fit(large), _ml_fit(small)
    ll_large, ll_small = large_ml.logLik(), small_ml.logLik()
    df = ll_large.df - ll_small.df
    if df <= 0:
        raise ValueError(f"PBmodcomp: the large model has {ll_large.df} parameters and the small one "
                         f"{ll_small.df}; give the larger model first")
    tobs = 2.0 * (float(ll_large) - float(ll_small))
    p_chi = float(stats.chi2.sf(tobs, df))
    ss, seed_out = _seed_sequence(seed)
    refit_large, refit_small = _Refitter(large_ml), _Refitter(small_ml)
    simulate = _Simulator(small_ml)

    def compute(y: np.ndarray) -> np.ndarray:
        return np.array([refit_small.criterion(y) - refit_large.criterion(y)])

    start = time.perf_counter()
    t, fails, _msgs = _run(_Job(simulate, compute, 1), nsim, ss, parallel, ncpus, progress,
                           large.control.get("blas_threads", 1), "PBmodcomp")
    ctime = time.perf_counter() - start
    nfail = sum(fails.values())
    if nfail:
        warnings.warn(f"some bootstrap runs failed ({nfail}/{nsim})", UserWarning, stacklevel=2)
    ref = t[:, 0]
    refpos = ref[np.isfinite(ref) & (ref > 0)]
    n_extreme = int(np.sum(refpos > tobs))
    p_pb = (1 + n_extreme) / (1 + len(refpos))
    test = pd.DataFrame({"stat": [tobs, tobs], "df": [float(df), np.nan], "p.value": [p_chi, p_pb]},
                        index=["LRT", "PBtest"])
    LRTstat = pd.Series({"tobs": tobs, "df": float(df), "p.value": p_chi})
    return PBModComp(test, ref, LRTstat, {"nsim": nsim, "npos": int(len(refpos))}, n_extreme, ctime,
                     large.formula, small.formula, seed_out)


# ================================================================================================
# prediction intervals


def predict_interval(m, newdata: pd.DataFrame | None = None, interval: str = "confidence", nsim: int = 500,
                     seed: Any = None, level: float = 0.95, re_form: Any = None,
                     allow_new_levels: bool = False, use_u: bool | None = None, parallel: Any = None,
                     progress: bool = True) -> pd.DataFrame:
    """Bootstrap intervals for predictions (lme4's ``bootMer(m, function(x) predict(x, newdata))`` recipe).

    ``"confidence"``: percentile interval of ``predict(refit, newdata, re_form)`` over the replicates.
    ``"prediction"``: the same predictions plus a new residual ``N(0, sigma_refit^2)`` per replicate
    and row (weights are taken as 1 on newdata, as ``simulate``).

    Parameters
    ----------
    m : LmerMod
    newdata : pandas.DataFrame, optional
        Rows to predict (default: the rows used in the fit).
    interval : {"confidence", "prediction"}
    nsim, seed, parallel, progress
        As :func:`bootMer`; the residual draws of ``"prediction"`` come from their own stream of ``seed``.
    use_u : bool, optional
        Default: True when the predictions include random effects (``re_form`` None or a formula):
        a replicate with newly drawn random effects says nothing about *this* subject's effect;
        False for population-level predictions (``re_form="NA"``), lme4's documented recipe.
    level : float
        Strictly between 0 and 1.
    re_form, allow_new_levels
        As :func:`mixedcompat.predict`.

    Returns
    -------
    pandas.DataFrame
        Columns ``fit`` (``predict(m, newdata)``), ``lwr``, ``upr``; index = newdata's index.

    Example
    -------
    >>> # mc.inference.bootstrap.predict_interval(m, nd, interval="prediction", nsim=500, seed=1)
    """
    from ..prediction import _is_none_form, predict
    if use_u is None:
        use_u = not _is_none_form(re_form)
    if interval not in ("confidence", "prediction"):
        raise ValueError(f"interval must be 'confidence' or 'prediction', not {interval!r}")
    conf = float(_check_level(level)[0]) if np.ndim(level) == 0 else None
    if conf is None:
        raise ValueError(f"level must be a single number strictly between 0 and 1, not {level!r}")
    fit = predict(m, newdata, re_form=re_form, allow_new_levels=allow_new_levels)
    ss, _seed_out = _seed_sequence(seed)
    boot_ss, noise_ss = ss.spawn(2)
    with_sigma = interval == "prediction"

    def fun(x):
        p = predict(x, newdata, re_form=re_form, allow_new_levels=allow_new_levels)
        return np.append(p, x.sigma()) if with_sigma else p

    b = bootMer(m, fun, nsim=nsim, seed=boot_ss, use_u=use_u, parallel=parallel, progress=progress)
    draws = b.t[:, :len(fit)]
    if with_sigma:
        rng = np.random.default_rng(noise_ss)
        draws = draws + b.t[:, [len(fit)]] * rng.standard_normal(draws.shape)
    alpha = np.array([(1 - conf) / 2, (1 + conf) / 2])
    bounds = np.array([_interpolated_quantiles(draws[:, j], alpha) for j in range(draws.shape[1])])
    index = newdata.index if newdata is not None else m.frame.data.index
    return pd.DataFrame({"fit": fit, "lwr": bounds[:, 0], "upr": bounds[:, 1]}, index=index)
