"""Bounded derivative-free minimisation of the profiled criterion, as lme4's ``nloptwrap``.

lme4 (>= 1.1-19) minimises with NLopt's BOBYQA through R's nloptr: ``xtol_abs = 1e-8``,
``ftol_abs = 1e-8``, ``maxeval = 1e5`` from lme4, plus nloptr's own default ``xtol_rel = 1e-4``
(which lme4 does not override and which usually decides when BOBYQA stops).  We call the same
NLopt algorithm with all four settings and lme4's start values and bounds, so the optimiser takes
lme4's path and stops where lme4 stops.  Then we apply lme4's
boundary handling: ``restart_edge`` (restart when a parameter on the boundary has a negative
one-sided derivative) and ``boundary.tol = 1e-5`` (snap a parameter near the boundary onto it when
that does not increase the criterion).

One addition of ours (``polish``, on by default): when a variance parameter stops in
``(0, polish_tol = 1e-2)``, BOBYQA is restarted from the point with those parameters on the
boundary and tight tolerances, and the result is kept if its criterion is lower; and when a
diagonal ends exactly on 0, the mirror image (entries below it negated, same criterion) is used as
a second start.  Live comparisons on random designs found lme4 reaching a singular optimum where
the plain run stopped at ~1e-4 with a criterion up to 4e-3 higher, or in the mirror-image valley;
regular (non-singular) fits are untouched.

A second addition (also part of ``polish``): with ``calc_derivs`` (lme4's ``calc.derivs``, on by
default in :func:`mixedcompat.lmer`) the gradient and Hessian at the optimum are computed anyway, for
lme4's ``checkConv`` (:mod:`mixedcompat.lme4.convergence`).  When they say that lme4's stopping rule
stopped early -- lme4's own scaled-gradient check fails, or a Newton step predicts a decrease above
``POLISH_DECREASE_RTOL`` (1e-9) relative, or the Hessian is not positive definite -- or when the fit
is singular, BOBYQA is restarted there with tight tolerances, and the point is kept only if its
criterion is lower (by more than 1e-12 relative, so an exact boundary optimum keeps its exact 0).
The restart works on theta divided by its natural size (``scale``: 1 / rms of the term's covariate),
and when some covariate is in tiny or huge units (scale beyond 10^1.5) it also starts from lme4's
start on that rescaled problem: a random slope on ``Days * 1e-6`` or ``Days * 1e6`` then reaches the
scale-invariant optimum (lme4 stops 2% above it, or snaps the slope's variance to 0).  A fit that
used up ``maxeval`` is not restarted.  At every
optimum lme4 reaches on our R fixtures the predicted decrease is below 4e-10 relative, so fits that
follow lme4's path keep lme4's answer to the last digit; where the path parts (different BLAS,
numpy, a flat criterion) the restart takes ours to the optimum, never above lme4's.
``polish="always"`` restarts every fit with the tight tolerances (the tight optimum, e.g. where
MixedModels.jl finds criteria a few 1e-8 lower than lme4's early stop); ``polish=False`` is lme4's
path and stopping rule exactly.

``optimizer="gradient"`` (ours, not an lme4 name) replaces the first BOBYQA run by
:func:`gradient_descent`: L-BFGS-B on the analytic gradient (:mod:`mixedcompat.lme4.gradient`) from
lme4's start, then a BOBYQA polish with tight tolerances from its point; the rest (restart_edge,
boundary polish and snap, derivatives, the polishing restarts) is unchanged.  It reaches lme4's
optimum or a lower one in far fewer evaluations on large models; the default stays lme4's BOBYQA,
which is what reproduces lme4's printed digits.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import nlopt
import numpy as np
from scipy.optimize import minimize

from mixedcompat.lme4.convergence import Derivs, deriv12, is_singular_theta, newton_decrease, scaled_gradient
from mixedcompat.numerics.optimizers import bobyqa
from mixedcompat.errors import ConvergenceWarning

DEFAULT_CONTROL = {"optimizer": "nloptwrap", "xtol_abs": 1e-8, "ftol_abs": 1e-8, "xtol_rel": 1e-4,
                   "maxeval": 100000,
                   "restart_edge": True, "boundary_tol": 1e-5, "polish": True, "polish_tol": 1e-2,
                   "initial_step": None}

POLISH_DECREASE_RTOL = 1e-9
"""Restart when a Newton step at the optimum predicts a decrease above this (relative)."""
POLISH_GRAD_TOL = 0.002
"""... or when lme4's scaled-gradient check (``check.conv.grad``'s default tol) fails."""
POLISH_STEP = 0.1
"""Initial trust-region radius of a polishing restart, relative to each (scaled) theta (at least 0.1)."""
POLISH_ACCEPT_RTOL = 1e-12
"""A polished point is kept when its criterion is lower by more than this (relative): rounding-level
gains on a boundary optimum would only move theta off its exact 0."""
SNAP_RTOL = 1e-11
"""Snapping a near-boundary parameter onto its bound may raise the criterion by this much (relative)."""
BADLY_SCALED = 1.5
"""A theta scale beyond 10^1.5 (a random-effects covariate with rms below 0.03 or above 30) also
restarts the polish from lme4's start on the rescaled problem."""
TIGHT = {"xtol_rel": 0.0, "ftol_abs": 1e-11, "ftol_rel": 1e-15}
"""The tolerances of a polishing restart."""

GRADIENT_OPTIMIZER = "gradient"
"""``control["optimizer"]`` naming the gradient optimiser (:func:`gradient_descent`; ours, not lme4's)."""
GRADIENT_FTOL = 1e-13
"""L-BFGS-B's relative-reduction stopping tolerance."""
GRADIENT_GTOL = 1e-8
"""L-BFGS-B's projected-gradient stopping tolerance, relative to the criterion at the start (the
gradient's rounding is relative to the criterion: an absolute tolerance ends in line-search failures)."""
GRADIENT_POLISH_STEP = 1e-3
"""First trust-region radius of the BOBYQA polish after L-BFGS-B, relative to each theta (at least this)."""

_NLOPT_MESSAGES = {
    nlopt.SUCCESS: "NLOPT_SUCCESS: Generic success return value.",
    nlopt.STOPVAL_REACHED: "NLOPT_STOPVAL_REACHED: Optimization stopped because stopval (above) was reached.",
    nlopt.FTOL_REACHED: "NLOPT_FTOL_REACHED: Optimization stopped because ftol_rel or ftol_abs (above) was reached.",
    nlopt.XTOL_REACHED: "NLOPT_XTOL_REACHED: Optimization stopped because xtol_rel or xtol_abs (above) was reached.",
    nlopt.MAXEVAL_REACHED: "NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval (above) was reached.",
    nlopt.MAXTIME_REACHED: "NLOPT_MAXTIME_REACHED: Optimization stopped because maxtime (above) was reached.",
}


@dataclass(frozen=True)
class OptSummary:
    """What the optimiser did (lme4's ``@optinfo``).

    Example
    -------
    >>> s = minimize_theta(lambda th: float((th[0] - 2.0) ** 2), np.array([1.0]), np.array([0.0]))
    >>> round(float(s.theta[0]), 4), s.conv_code
    (2.0, 0)
    """

    theta: np.ndarray
    fval: float
    feval: int
    optimizer: str
    conv_code: int
    message: str
    messages: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    derivs: Derivs | None = None     # gradient and Hessian at theta (calc_derivs)
    polished: bool = False           # a polishing restart found a lower criterion
    lme4conv: dict | None = None     # lme4's checkConv result (code, messages), set by lmer.optimize_fit
    lme4_stop: dict | None = None    # when polished: where lme4's path stopped (theta, fval, derivs)


def _control(control: dict | None) -> dict:
    """DEFAULT_CONTROL overridden by ``control`` (lme4's dotted names accepted; settings that are
    not the optimiser's -- start, checks, threads -- are left to the caller)."""
    ctrl = dict(DEFAULT_CONTROL)
    for k, v in (control or {}).items():
        key = str(k).replace(".", "_")
        if key in DEFAULT_CONTROL:
            ctrl[key] = v
    return ctrl


def _needs_polish(derivs: Derivs, fval: float) -> bool:
    """lme4's scaled-gradient check fails, a Newton step predicts a relative decrease above
    POLISH_DECREASE_RTOL, or the Hessian is not positive definite."""
    if not np.all(np.isfinite(derivs.gradient)):
        return False
    sc = scaled_gradient(derivs)
    if sc is None:
        return True
    if np.max(np.minimum(np.abs(sc), np.abs(derivs.gradient))) > POLISH_GRAD_TOL:
        return True
    return newton_decrease(derivs) > POLISH_DECREASE_RTOL * max(1.0, abs(fval))


def minimize_theta(fun: Callable[[np.ndarray], float], start: np.ndarray, lower: np.ndarray,
                   control: dict | None = None,
                   column_partners: dict[int, list[int]] | None = None,
                   calc_derivs: bool = False,
                   fun_many: Callable[[np.ndarray], np.ndarray] | None = None,
                   scale: np.ndarray | None = None,
                   fun_grad: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None) -> OptSummary:
    """Minimise ``fun`` over theta >= lower as lme4's ``optimizeLmer`` with ``nloptwrap``.

    Parameters
    ----------
    fun : callable
        The criterion (a pure function of theta).
    start, lower : ndarray
        Start values and lower bounds (0 for template diagonals, -inf elsewhere).
    control : dict, optional
        Overrides of ``DEFAULT_CONTROL`` (``"boundary.tol"`` is ``boundary_tol``).  ``polish``:
        True (default; the near-boundary restarts and, with ``calc_derivs``, the gradient-decided
        restart, see the module docstring), ``"always"`` (also a tight restart of every fit) or
        False (lme4's path only).
    column_partners : dict, optional
        For each template-diagonal index of theta, the indices of the entries below it in the same
        column: when the diagonal is 0 the sign of those entries does not change the criterion but
        decides which of two mirror-image valleys BOBYQA explores next.
    calc_derivs : bool
        Compute lme4's ``deriv12`` gradient and Hessian at the optimum (``OptSummary.derivs``).
    fun_many : callable, optional
        The criterion at every row of a matrix of thetas (a batched fast path for the derivatives).
    scale : ndarray, optional
        The natural size of each theta entry: the polishing restart works on ``theta / scale``, so
        that a random slope on a covariate measured in tiny (or huge) units is polished as if the
        covariate were rescaled (lme4's own path is unscaled).
    fun_grad : callable, optional
        ``theta -> (criterion, gradient)``; with ``control["optimizer"] = "gradient"`` the first
        descent is :func:`gradient_descent` (L-BFGS-B, then a tight BOBYQA polish) instead of
        lme4's BOBYQA run; everything after it (restart_edge, the boundary polish and snap, the
        derivatives) is the same.  Without it, ``"gradient"`` falls back to BOBYQA.
    """
    ctrl = _control(control)
    polish = ctrl["polish"]
    start = np.asarray(start, dtype=float)
    lower = np.asarray(lower, dtype=float)
    used = GRADIENT_OPTIMIZER if ctrl["optimizer"] == GRADIENT_OPTIMIZER and fun_grad is not None else "nloptwrap"
    if used == GRADIENT_OPTIMIZER:
        x, fval, feval, code = gradient_descent(fun, fun_grad, start, lower, ctrl, column_partners)
    else:
        x, fval, feval, code = bobyqa(fun, start, lower, ctrl)
    msgs: list[str] = []
    warns: list[str] = []
    # restart_edge: a parameter on the boundary with a negative one-sided derivative
    if ctrl["restart_edge"]:
        on_bound = np.where(x == lower)[0]
        if len(on_bound):
            d0 = fun(x)
            btol = 1e-5
            grads = []
            for i in on_bound:
                th = x.copy()
                th[i] = lower[i] + btol
                grads.append((fun(th) - d0) / btol)
            feval += 1 + len(on_bound)
            if any(g < 0 for g in grads):
                x, fval, fe2, code = bobyqa(fun, x, lower, ctrl)
                feval += fe2
    tight = dict(ctrl, **TIGHT)
    near_tight = dict(ctrl, xtol_rel=0.0, ftol_abs=1e-10)
    # near-boundary polish (ours, not lme4's): BOBYQA's loose xtol_rel can stop a variance
    # parameter short of 0 where the optimum sits on the boundary; try it on the boundary
    if polish:
        near = np.isfinite(lower) & (x > lower) & (x - lower < ctrl["polish_tol"])
        if near.any():
            th = x.copy()
            th[near] = lower[near]
            x2, f2, fe2, code2 = bobyqa(fun, th, lower, near_tight)
            feval += fe2
            if f2 < fval:
                x, fval, code = x2, f2, code2
        # a zero diagonal makes the signs below it arbitrary: try the mirror image
        for i, partners in (column_partners or {}).items():
            if x[i] == lower[i] and partners and np.any(x[partners] != 0):
                th = x.copy()
                th[partners] = -th[partners]
                x2, f2, fe2, code2 = bobyqa(fun, th, lower, near_tight)
                feval += fe2
                if f2 < fval:
                    x, fval, code = x2, f2, code2
    x, fval, fe2 = _snap_to_boundary(fun, x, fval, lower, ctrl["boundary_tol"])
    feval += fe2
    derivs = None
    polished = False
    if calc_derivs:
        derivs = deriv12(fun, x, fval, fun_many=fun_many)
    # the optimum lme4's stopping rule may have missed (ours, see the module docstring)
    singular = is_singular_theta(x, lower)
    budget_spent = code == nlopt.MAXEVAL_REACHED    # the user's maxeval is respected, as lme4
    s = np.ones_like(x) if scale is None else np.asarray(scale, dtype=float)
    badly_scaled = bool(np.any(np.abs(np.log10(s)) > BADLY_SCALED))
    restart = polish == "always"
    if polish and not restart and not budget_spent:
        restart = singular or (derivs is not None and _needs_polish(derivs, fval))
        if not restart and badly_scaled and derivs is not None:
            # lme4's 1e-4 step is lost in rounding on theta entries of size 1e3 (a covariate in
            # thousandths): judge the stop by derivatives in the rescaled coordinates
            many = None if fun_many is None else (lambda U: fun_many(U * s))
            restart = _needs_polish(deriv12(lambda u: fun(u * s), x / s, fval, fun_many=many), fval)
    lme4_stop = None
    if restart:
        lme4_stop = {"theta": x.copy(), "fval": float(fval), "derivs": derivs}
        starts = [x / s]
        if badly_scaled:
            # covariates in tiny or huge units: also lme4's start on the rescaled problem
            starts.append(np.maximum(start, lower))
        best = None
        for u0, step in _polish_starts(starts):
            u, fu, fe2, code2 = bobyqa(lambda v: fun(v * s), u0, lower / s, dict(tight, initial_step=step))
            x2, f2, fe3 = _snap_to_boundary(fun, u * s, fu, lower, ctrl["boundary_tol"])
            feval += fe2 + fe3
            if best is None or f2 < best[1]:
                best = (x2, f2, code2)
        x2, f2, code2 = best
        if f2 < fval - POLISH_ACCEPT_RTOL * max(1.0, abs(fval)):
            x, fval, code, polished = x2, f2, code2, True
            if calc_derivs:
                derivs = deriv12(fun, x, fval, fun_many=fun_many)
    # lme4's optwrap warns "convergence code ..." but does not keep it in optinfo$warnings (which
    # holds the optimiser function's own warnings: none for nloptwrap), so summary() does not print it
    if code == nlopt.MAXEVAL_REACHED:
        warnings.warn(f"convergence code {code} from {used}: {_NLOPT_MESSAGES[code]}",
                      ConvergenceWarning, stacklevel=3)
    elif code < 0:
        warnings.warn(f"convergence code {code} from {used}: optimisation failed",
                      ConvergenceWarning, stacklevel=3)
    conv = 0 if code > 0 and code != nlopt.MAXEVAL_REACHED else int(code)
    return OptSummary(theta=x, fval=float(fval), feval=int(feval), optimizer=ctrl["optimizer"],
                      conv_code=conv, message=_NLOPT_MESSAGES.get(code, str(code)),
                      messages=tuple(msgs), warnings=tuple(warns), derivs=derivs, polished=polished,
                      lme4_stop=lme4_stop if polished else None)


def gradient_descent(fun: Callable[[np.ndarray], float], fun_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
                     start: np.ndarray, lower: np.ndarray, ctrl: dict,
                     column_partners: dict[int, list[int]] | None = None) -> tuple[np.ndarray, float, int, int]:
    """The gradient optimiser (``control={"optimizer": "gradient"}``, ours, not lme4's): quasi-Newton
    (scipy's L-BFGS-B with the analytic gradient, :mod:`mixedcompat.lme4.gradient`) from ``start``;
    a BOBYQA polish from its point (tight tolerances ``TIGHT``, first step ``GRADIENT_POLISH_STEP``
    of each theta) when it did not converge by its own tests, kept when it lowers the criterion.

    With ``column_partners`` (each template diagonal's entries below it) the descent is
    unconstrained: the criterion depends on a template only through ``T T'``, so negating a column
    (its diagonal and the entries below) leaves it unchanged, and a point with negative diagonals is
    mapped back to theta >= lower by those flips.  With bounds instead, a diagonal that a long
    first step puts on 0 stays there: by that symmetry its derivative is 0 on the bound, however
    much lower the criterion is inside (a simulated nested model stopped 2% above the optimum).
    Without ``column_partners``, L-BFGS-B's bounds are ``lower``.

    L-BFGS-B stops when the projected gradient is below ``GRADIENT_GTOL`` times the criterion at
    the start, or when an iteration lowers it by less than ``GRADIENT_FTOL`` relative (the
    criterion's rounding decides beyond).  :func:`minimize_theta`'s own boundary polish and snap
    (parameters near their bound), and with ``calc_derivs`` its derivative-checked restart, follow
    as after BOBYQA.

    Returns ``(theta, criterion, evaluations, code)`` as :func:`bobyqa` (a gradient evaluation
    counts as one evaluation; ``code`` is NLopt's SUCCESS after a converged descent, else the
    polish's code).

    Example
    -------
    >>> f = lambda th: float((th[0] - 2.0) ** 2 + 10 * (th[1] - th[0]) ** 2)
    >>> g = lambda th: (f(th), np.array([2 * (th[0] - 2.0) - 20 * (th[1] - th[0]), 20 * (th[1] - th[0])]))
    >>> x, fval, n_eval, code = gradient_descent(f, g, np.array([1.0, 0.0]), np.array([0.0, -np.inf]),
    ...                                          dict(DEFAULT_CONTROL))
    >>> np.round(x, 6).tolist(), code > 0
    ([2.0, 2.0], True)
    """
    n_grad = [0]
    wall = np.finfo(float).max / 1e10
    x0 = np.maximum(np.asarray(start, dtype=float), lower)
    best = [np.inf, x0.copy()]

    def value_and_gradient(th: np.ndarray) -> tuple[float, np.ndarray]:
        n_grad[0] += 1
        val, grad = fun_grad(np.asarray(th, dtype=float))
        if not (np.isfinite(val) and np.all(np.isfinite(grad))):
            return wall, np.zeros(len(th))
        if val < best[0]:
            best[0], best[1] = float(val), np.array(th, dtype=float)
        return float(val), np.asarray(grad, dtype=float)

    if column_partners is not None:
        bounds = None
    else:
        bounds = [(float(lo) if np.isfinite(lo) else None, None) for lo in lower]
    maxeval = int(ctrl["maxeval"])
    first = value_and_gradient(x0)           # its size sets the gradient tolerance; L-BFGS-B reuses it

    def cached(th: np.ndarray) -> tuple[float, np.ndarray]:
        if np.array_equal(th, x0):
            return first
        return value_and_gradient(th)

    gtol = GRADIENT_GTOL * max(1.0, abs(first[0])) if first[0] < wall else GRADIENT_GTOL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(cached, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxfun": maxeval, "maxiter": maxeval, "ftol": GRADIENT_FTOL,
                                "gtol": gtol, "maxcor": 20})
    x, fval = best[1], best[0]
    feval = n_grad[0]
    if not np.isfinite(fval):
        x, fval = x0, fun(x0)
        feval += 1
    if column_partners is not None:
        x = x.copy()
        for i, partners in column_partners.items():
            if x[i] < lower[i]:              # a negated column: the same criterion
                x[i] = -x[i]
                x[partners] = -x[partners]
    if res.status == 0 and np.isfinite(fval):
        return x, float(fval), feval, nlopt.SUCCESS
    budget = maxeval - feval
    if budget <= 0:
        return x, float(fval), feval, nlopt.MAXEVAL_REACHED
    step = np.maximum(GRADIENT_POLISH_STEP * np.abs(x), GRADIENT_POLISH_STEP)
    x2, f2, fe2, code = bobyqa(fun, x, lower, dict(ctrl, **TIGHT, maxeval=budget, initial_step=step))
    feval += fe2
    if f2 < fval:
        x, fval = x2, f2
    return x, float(fval), feval, code


def _polish_starts(starts: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(start, initial trust-region radius) pairs of the polishing restart: each start with a
    radius of POLISH_STEP of each entry (at least POLISH_STEP), and again with one on the scale of
    the largest entry (POLISH_STEP**2 of it), for fits whose theta entries are all far below 1 (tiny
    random effects beside the residual), where a first step of 0.1 jumps to another valley."""
    out = []
    for u0 in starts:
        out.append((u0, np.maximum(POLISH_STEP * np.abs(u0), POLISH_STEP)))
        big = float(np.max(np.abs(u0), initial=0.0))
        if 0.0 < big < 1.0:
            out.append((u0, np.maximum(POLISH_STEP * np.abs(u0), POLISH_STEP ** 2 * big)))
    return out


def _snap_to_boundary(fun: Callable[[np.ndarray], float], x: np.ndarray, fval: float, lower: np.ndarray,
                      btol: float) -> tuple[np.ndarray, float, int]:
    """lme4's ``check.boundary``: put parameters within ``btol`` of their bound on it when that is
    no worse -- up to rounding (``SNAP_RTOL``): a variance parameter at 1e-8 whose criterion differs
    from the bound's in the 12th digit is undetermined by the data, and lme4 reports the bound
    (printed 0.0000, and singular).  Returns (x, f(x), evaluations)."""
    if btol <= 0:
        return x, fval, 0
    near = [i for i in np.where((x - lower) < btol)[0] if x[i] != lower[i]]
    if not near:
        return x, fval, 0
    th = x.copy()
    th[near] = lower[near]
    f_snap = fun(th)
    if f_snap <= fval + SNAP_RTOL * max(1.0, abs(fval)):
        return th, f_snap, 1
    return x, fval, 1
