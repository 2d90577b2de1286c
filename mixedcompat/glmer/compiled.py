"""glmer's objective through the compiled PIRLS kernel (``mixedcompat/_native/glmm_pirls.c``).

A glmer fit evaluates its objective hundreds of times (lme4's 285-600 evaluations plus ``deriv12``'s),
each a few PIRLS iterations; on a small model numpy's per-call overhead is most of the time.  For
models whose random-effects terms are all scalar -- ``(1 | g)``, ``(0 + x | g)``, the halves of
``(x || g)``, crossed or nested, any number -- the kernel runs the whole PIRLS loop and the Laplace
pieces in C: lme4 1.1-31's ``pwrssUpdate`` exactly as :func:`mixedcompat.glmer.pirls.pirls` runs it
(same start, tests, step halving and messages), so the two agree to rounding (``tests/test_compiled_pirls.py``
compares them on every supported family and link, joint and u-only, one to three terms).

What stays in numpy: terms with more than one column, the probit and cauchit links (R's ``pnorm`` /
``pcauchy``), adaptive quadrature (``nAGQ > 1``), and systems whose dense block would be large
(:data:`MAX_DENSE`, :data:`MAX_SCHUR_WORK`); the ``aic`` of families other than binomial and poisson
is taken in numpy from the kernel's ``mu``.  The kernel is built at install time when a C compiler
exists; without it (or with ``MIXEDCOMPAT_NO_COMPILED=1`` in the environment) every fit takes the numpy
path, with the same numbers.
"""
from __future__ import annotations

import ctypes
import importlib.machinery
import math
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixedcompat.glm import rmath
from mixedcompat.glmer.pirls import RX_MESSAGE, GlmData, PirlsError, PirlsResult

__all__ = ["available", "CompiledModel", "CompiledObjective", "CompiledState", "compiled_objective", "MAX_DENSE",
           "MAX_SCHUR_WORK"]

MAX_DENSE = 2000
"""Largest dense block (later terms' levels, plus the fixed effects in the joint update) the kernel takes."""
MAX_SCHUR_WORK = 4e7
"""Largest multiply-add count of one iteration's Schur complement the kernel takes (beyond it, the numpy
engine's BLAS products and sparse paths are faster)."""

_FAMILIES = {"binomial": 0, "poisson": 1, "Gamma": 2, "gaussian": 3, "inverse.gaussian": 4, "negative.binomial": 5}
_LINKS = {"logit": 0, "log": 1, "cloglog": 2, "identity": 3, "inverse": 4, "sqrt": 5, "1/mu^2": 6}
_MESSAGES = {
    1: "PIRLS loop resulted in NaN value",
    2: "(maxstephalfit) PIRLS step-halvings failed to reduce deviance in pwrssUpdate",
    3: "pwrssUpdate did not converge in (maxit) iterations",
    4: RX_MESSAGE,
}

_dp = ctypes.POINTER(ctypes.c_double)
_ip = ctypes.POINTER(ctypes.c_int)


class _Problem(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("K", ctypes.c_int), ("p", ctypes.c_int), ("m_r", ctypes.c_int),
                ("L1", ctypes.c_int), ("codes", _ip), ("zval", _dp), ("offs", _ip), ("pair_of_row", _ip),
                ("pair_dense", _ip), ("colptr", _ip), ("npairs", ctypes.c_int), ("X", _dp), ("y", _dp),
                ("pw", _dp), ("family", ctypes.c_int), ("link", ctypes.c_int), ("nb_theta", ctypes.c_double),
                ("aic_kind", ctypes.c_int), ("a_coef", _dp), ("a_x", _dp), ("a_n", _dp), ("a_c1", _dp),
                ("a_c2", _dp)]


def _load():
    if os.environ.get("MIXEDCOMPAT_NO_COMPILED"):
        return None
    here = Path(__file__).resolve().parent.parent / "_native"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_glmm_pirls{suffix}"
        if path.exists():
            try:
                lib = ctypes.CDLL(str(path))
            except OSError:
                return None
            fn = lib.mc_glmm_pirls
            fn.restype = ctypes.c_int
            vp = ctypes.c_void_p
            fn.argtypes = [ctypes.POINTER(_Problem), vp, ctypes.c_int, ctypes.c_double, ctypes.c_int,
                           vp, vp, vp, vp, vp, vp, vp, vp, vp, vp, vp, vp, ctypes.c_int]
            return fn
    return None


_KERNEL = _load()


def available() -> bool:
    """Whether the compiled kernel was built and loaded (see the module docstring)."""
    return _KERNEL is not None


def _ptr(a: np.ndarray, kind):
    return a.ctypes.data_as(kind)


def _binomial_aic_terms(data: GlmData):
    y, n, wt = data.y, data.n_trials, data.weights
    m = n if np.any(n > 1) else wt
    x = np.rint(m * y)
    m = np.rint(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = np.where(m <= 0.0, 0.0, wt / np.where(m <= 0.0, 1.0, m))
    mid = (x > 0.0) & (x < m)
    c1, c2 = np.zeros(len(y)), np.zeros(len(y))
    xm, nm = x[mid], m[mid]
    c1[mid] = rmath.stirlerr(nm) - rmath.stirlerr(xm) - rmath.stirlerr(nm - xm)
    c2[mid] = rmath.LN_2PI + np.log(xm) + np.log1p(-xm / nm)
    return coef, x, m, c1, c2


def _poisson_aic_terms(data: GlmData):
    y = data.y
    if not np.all(np.isfinite(y)) or np.any(y < 0) or np.any(rmath.nonint(y)):
        return None                  # R's warnings and -Inf: the numpy path says them
    x = np.round(y)
    pos = x > 0
    c1, c2 = np.zeros(len(y)), np.zeros(len(y))
    c1[pos] = -0.5 * np.log(2.0 * np.pi * x[pos])
    c2[pos] = rmath.stirlerr(x[pos])
    return np.ones(len(y)), x, rmath.lgamma(x + 1.0), c1, c2


class CompiledModel:
    """The kernel's view of one :class:`GlmData`: the terms in the kernel's order (the one with the most
    levels first), the (first-term level, later column) pairs, and the ``aic`` terms that depend on
    the data only.  Read-only once built, so one model serves any number of objectives and threads.
    """

    def __init__(self, data: GlmData):
        # no reference to ``data`` itself: the models are cached in a weak dictionary keyed by it
        self.n, self.p, self.n_terms = data.n, data.p, len(data.terms)
        self.family, self.n_trials = data.family, data.n_trials
        terms = data.terms
        first = int(np.argmax([t.n_levels for t in terms]))
        order = [first] + [k for k in range(len(terms)) if k != first]
        self.order = np.array(order)
        n = data.n
        self.L1 = terms[first].n_levels
        later = [terms[k] for k in order[1:]]
        offs = np.concatenate([[0], np.cumsum([0] + [t.n_levels for t in later])[:-1]]).astype(np.int32)
        self.m_r = int(sum(t.n_levels for t in later))
        self.codes = np.ascontiguousarray(np.stack([terms[k].codes for k in order]), dtype=np.int32)
        self.zval = np.ascontiguousarray(np.stack([terms[k].X[:, 0] for k in order]), dtype=float)
        self.offs = offs
        if later:
            dense = np.stack([offs[i + 1] + self.codes[i + 1] for i in range(len(later))]).astype(np.int64)
            keys = self.codes[0].astype(np.int64)[None, :] * max(self.m_r, 1) + dense
            uniq, inv = np.unique(keys.ravel(), return_inverse=True)
            self.pair_of_row = np.ascontiguousarray(inv.reshape(len(later), n), dtype=np.int32)
            self.pair_dense = np.ascontiguousarray(uniq % self.m_r, dtype=np.int32)
            col = uniq // self.m_r
        else:
            self.pair_of_row = np.zeros(1, dtype=np.int32)
            self.pair_dense = np.zeros(1, dtype=np.int32)
            col = np.zeros(0, dtype=np.int64)
        self.npairs = len(col)
        counts = np.bincount(col, minlength=self.L1)
        self.colptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        self.X = np.ascontiguousarray(data.X, dtype=float)
        self.y = np.ascontiguousarray(data.y, dtype=float)
        self.pw = np.ascontiguousarray(data.weights, dtype=float)
        fam = data.family
        self.aic_kind, aic_terms = 0, None
        if fam.kind == "binomial":
            self.aic_kind, aic_terms = 1, _binomial_aic_terms(data)
        elif fam.kind == "poisson":
            aic_terms = _poisson_aic_terms(data)
            self.aic_kind = 0 if aic_terms is None else 2
        if aic_terms is None:
            aic_terms = tuple(np.zeros(1) for _ in range(5))
        self.aic_terms = tuple(np.ascontiguousarray(a, dtype=float) for a in aic_terms)
        # the Schur complement's multiply-adds per iteration, joint update (the larger)
        self.schur_work = float(np.sum((counts + data.p).astype(float) ** 2))
        P = _Problem()
        P.n, P.K, P.p, P.m_r, P.L1 = n, len(terms), data.p, self.m_r, self.L1
        P.codes, P.zval, P.offs = _ptr(self.codes, _ip), _ptr(self.zval, _dp), _ptr(self.offs, _ip)
        P.pair_of_row, P.pair_dense = _ptr(self.pair_of_row, _ip), _ptr(self.pair_dense, _ip)
        P.colptr, P.npairs = _ptr(self.colptr, _ip), self.npairs
        P.X, P.y, P.pw = _ptr(self.X, _dp), _ptr(self.y, _dp), _ptr(self.pw, _dp)
        P.family, P.link = _FAMILIES[fam.kind], _LINKS[fam.link.name]
        P.nb_theta = float(fam.theta) if fam.theta is not None else math.nan
        P.aic_kind = self.aic_kind
        P.a_coef, P.a_x, P.a_n, P.a_c1, P.a_c2 = (_ptr(a, _dp) for a in self.aic_terms)
        self._P = P
        self.ref = ctypes.byref(P)
        self.q = self.L1 + self.m_r

@dataclass(frozen=True)
class CompiledState:
    """What one kernel run leaves: the objective, the linear predictor (offset included), the fixed
    effects (joint update) and R_X' of the last iteration's system (joint update)."""

    value: float
    eta: np.ndarray
    beta: np.ndarray
    RXt: np.ndarray
    iterations: int


class CompiledObjective:
    """glmer's Laplace objective (``nAGQ`` 0 or 1) of one :class:`GlmData`, evaluated by the kernel.

    ``value(theta, beta, joint, offset, eta_start, tol, maxit)`` is ``laplace_value(data, pirls(...))``
    of :mod:`mixedcompat.glmer.objective`, to rounding; PIRLS failures raise
    :class:`~mixedcompat.glmer.pirls.PirlsError` with lme4's messages.  The buffers are this object's:
    one objective is not to be evaluated from two threads at once.
    """

    def __init__(self, model: CompiledModel):
        self.model = model
        n, p = model.n, max(model.p, 1)
        self._theta = np.empty(model.n_terms)
        self._beta_in = np.zeros(p)
        self._eta, self._mu = np.empty(n), np.empty(n)
        self._u, self._beta = np.empty(model.q), np.empty(p)
        self._rx = np.zeros(p * p)
        self._out = np.full(6, np.nan)
        self._w, self._z = np.empty(n), np.empty(n)
        self._addr = [a.ctypes.data for a in (self._theta, self._beta_in, self._eta, self._mu, self._u,
                                              self._beta, self._rx, self._w, self._z, self._out)]
        self._offset_src = self._eta_src = None
        # the first PIRLS iteration's theta-free sums, per (start, offset, update): see glmm_pirls.c
        L1, m_r, p_, npairs = model.L1, model.m_r, model.p, model.npairs
        self._cache = np.empty(2 * L1 + npairs + m_r * m_r + m_r + L1 * p_ + p_ * m_r + p_ * (p_ + 1) // 2 + p_ + 1)
        self._cache_for = None

    def value(self, theta: np.ndarray, beta: np.ndarray | None, joint: bool, offset: np.ndarray,
              eta_start: np.ndarray, tol: float, maxit: int) -> float:
        """The Laplace objective at ``theta`` (u-only: at ``beta``, whose ``X beta`` joins the data's
        ``offset``); PIRLS starts from ``eta_start`` (offset included).  See the class."""
        np.take(theta, self.model.order, out=self._theta)
        if beta is not None and self.model.p:
            self._beta_in[:self.model.p] = beta
        if offset is not self._offset_src:
            self._offset_src, self._offset = offset, np.ascontiguousarray(offset, dtype=float)
        if eta_start is not self._eta_src:
            self._eta_src, self._eta0 = eta_start, np.ascontiguousarray(eta_start, dtype=float)
        key = (self._eta_src, self._offset_src, bool(joint))
        fresh = self._cache_for is None or any(a is not b for a, b in zip(self._cache_for, key))
        if fresh:
            self._cache_for = None
        status = _KERNEL(self.model.ref, self._addr[0], int(bool(joint)), float(tol), int(maxit),
                         self._offset.ctypes.data, self._addr[1], self._eta0.ctypes.data, *self._addr[2:],
                         self._cache.ctypes.data, 1 if fresh else 2)
        if status == 0 and fresh:
            self._cache_for = key
        if status:
            if status in _MESSAGES:
                raise PirlsError(_MESSAGES[status])
            raise MemoryError("the compiled PIRLS kernel could not allocate its workspace")
        out = self._out
        aic = out[4]
        if self.model.aic_kind == 0:
            with np.errstate(all="ignore"):
                m = self.model
                aic = float(m.family.aic(m.y, m.n_trials, self._mu, m.pw, float(out[3])))
        return float(out[1] + out[2] + aic)

    def run(self, theta: np.ndarray, beta: np.ndarray | None, joint: bool, offset: np.ndarray,
            eta_start: np.ndarray, tol: float, maxit: int) -> CompiledState:
        """``value`` and the state it leaves (copies)."""
        v = self.value(theta, beta, joint, offset, eta_start, tol, maxit)
        p = self.model.p
        if joint:
            beta_out, rxt = self._beta[:p].copy(), self._rx[:p * p].reshape(p, p).copy()
        else:
            beta_out = np.asarray(beta, dtype=float).copy() if beta is not None else np.zeros(p)
            rxt = np.full((p, p), np.nan)
        return CompiledState(v, self._eta.copy(), beta_out, rxt, int(self._out[5]))

    def pirls_result(self, data: GlmData, theta: np.ndarray, beta: np.ndarray | None, joint: bool,
                     eta_start: np.ndarray, tol: float, maxit: int) -> PirlsResult:
        """The :class:`~mixedcompat.glmer.pirls.PirlsResult` :func:`~mixedcompat.glmer.pirls.pirls` would
        return, from one kernel run: the kernel's ``u``, ``beta`` and linear predictor, and the numpy
        system built once at the kernel's last working weights and response (lme4's ``L`` / ``R_X``)."""
        self.value(theta, beta, joint, data.offset, eta_start, tol, maxit)
        m = self.model
        u = [None] * m.n_terms
        at = 0
        for k in m.order:
            nl = data.terms[k].n_levels
            u[k] = self._u[at:at + nl].copy()
            at += nl
        b = self._beta[:m.p].copy() if joint else (np.zeros(m.p) if beta is None else np.asarray(beta, float).copy())
        structure = data.joint_pattern if joint else data.u_pattern
        w, z = self._w.copy(), self._z.copy()
        system = structure.reweighted(w, z)
        factor = system.factor(np.asarray(theta, dtype=float))
        eta, mu = self._eta.copy(), self._mu.copy()
        with np.errstate(all="ignore"):
            dr = data.deviance_residuals(mu)
        pdev = float(np.sum(dr)) + sum(float(uk @ uk) for uk in u)
        return PirlsResult(u=u, beta=b, eta=eta, mu=mu, dev_resid=dr, pdev=pdev, ldL2=factor.ldL2, system=system,
                           factor=factor, iterations=int(self._out[5]), work_weights=w, work_response=z)



_MODELS: "weakref.WeakKeyDictionary[GlmData, CompiledModel | None]" = weakref.WeakKeyDictionary()


def _model(data: GlmData) -> CompiledModel | None:
    fam = data.family
    if fam.kind not in _FAMILIES or fam.link.name not in _LINKS:
        return None
    if any(t.q != 1 for t in data.terms):
        return None
    levels = sorted((t.n_levels for t in data.terms), reverse=True)
    if sum(levels[1:]) + data.p > MAX_DENSE:
        return None
    model = CompiledModel(data)
    return None if model.schur_work > MAX_SCHUR_WORK else model


def compiled_objective(data: GlmData) -> CompiledObjective | None:
    """The kernel's objective for ``data`` when the kernel is available and takes the model, else None
    (the model's structure is built once per ``data``)."""
    if _KERNEL is None or not data.terms:
        return None
    if data not in _MODELS:
        _MODELS[data] = _model(data)
    model = _MODELS[data]
    return None if model is None else CompiledObjective(model)
