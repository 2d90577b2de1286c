"""Fast refits of an lmer model to new responses: the engine behind ``bootMer`` and ``PBmodcomp``.

A bootstrap replicate only changes the response ``y``; everything else (model matrices, the
random-effects structure, every block of ``A = [Z X y]' W [Z X y]`` that does not involve ``y``) is
built once per model by :class:`Refitter`.  A replicate then costs one optimisation of the
profiled criterion from the fitted theta plus a light fit object:

* the criterion: the fastest one of the model for the new response
  (:class:`mixedcompat.lme4.fast_kernels.ResponseCriteria`: closed-form one-term kernels, one
  LAPACK Cholesky for small models, each checked against the model's ``Deviance``), else the
  model's own ``Deviance``;
* the fit: :class:`ReplicateFit`, an ``LmerMod`` holding theta, beta, sigma and the criterion
  (computed from the same Cholesky as the criterion) that builds everything else (random effects,
  fitted values, ``call["data"]``...) the first time ``FUN`` asks for it.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.errors import SINGULAR_MESSAGE, SingularFitWarning
from mixedcompat.lme4.fast_kernels import ResponseCriteria
from mixedcompat.lme4.fit import LmerMod, optimize_fit, optinfo_of
from mixedcompat.lme4.optimize import minimize_theta
from mixedcompat.lme4.pls import Deviance

REPLICATE_STEP = 0.25  # initial BOBYQA step of a replicate refit, relative to |theta|

__all__ = ["ReplicateFit", "Refitter"]


# ================================================================================================
# the refitter


class Refitter:
    """Refits one model to new responses, reusing everything that does not depend on ``y``.

    ``fit(y)`` returns an ``LmerMod`` equal to ``refit(m, y)`` (a :class:`ReplicateFit` on the fast
    paths); ``criterion(y)`` only the optimum criterion (what ``PBmodcomp`` needs).  Falls back to a
    fresh ``make_deviance`` per replicate when the deviance class is not one the fast criteria know
    how to update (checked once at construction).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> r = Refitter(m)
    >>> bool(abs(r.criterion(m.frame.y) - m.REMLcrit()) < 1e-6 * m.REMLcrit())
    True
    """

    def __init__(self, m):
        self.m = m
        self.terms = m.terms
        frame = m.frame
        self.start = np.asarray(m.theta, dtype=float).copy()
        self.control = dict(m.control)
        layout = m.devfun.layout
        self.lower = layout.lower
        self.on_diagonal = layout.on_diagonal
        self.partners = layout.column_partners
        self.criteria = ResponseCriteria(m.devfun, frame.X, frame.weights, frame.offset,
                                         np.asarray(frame.y, dtype=float), self.start)
        self.data = None
        data = m.call.get("data") if isinstance(m.call, dict) else None
        if isinstance(data, pd.DataFrame) and frame.response_name in data.columns:
            # each refit's call["data"]: the data with the response replaced (update() on a
            # replicate refits to the replicate's response, as lme4.fit.refit)
            self.data = data
            self.resp_values = data[frame.response_name].to_numpy(dtype=float, copy=True)

    @property
    def kernel(self):
        """The closed-form one-term kernel in use (None when the model has none)."""
        return self.criteria.kernel

    def deviance(self, y: np.ndarray):
        """The model's deviance object for response ``y``."""
        return self.criteria.deviance(y)

    def fast_criterion(self, y: np.ndarray):
        """The fastest criterion for ``y`` (with a ``solution`` method), or None on the slow path."""
        return self.criteria.for_response(y)

    def optimize(self, y: np.ndarray):
        """(criterion function, OptSummary) for response ``y``, from the fitted theta."""
        fun = self.fast_criterion(y)
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
        sol = fun.solution(np.asarray(opt.theta, dtype=float)) if not isinstance(fun, Deviance) else None
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

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> x = Refitter(m).fit(m.frame.y)            # what bootMer's FUN receives
    >>> type(x).__name__, round(x.REMLcrit(), 3)
    ('ReplicateFit', 1743.628)
    """

    def __init__(self, refitter: Refitter, y: np.ndarray, opt, criterion: float, beta: np.ndarray,
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
        put(self, "_sigma", float(math.sqrt(pwrss / refitter.criteria.denom)))
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

    def isSingular(self, tol: float = 1e-4) -> bool:
        """lme4's rule (``LmerMod.isSingular``), from the model's layout: no completion needed."""
        pending = self.__dict__.get("_pending")
        if pending is None:
            return super().isSingular(tol)
        return bool(np.any(self.theta[pending[0].on_diagonal] < tol))

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
