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

lme4's other optimisers (``control={"optimizer": name, "optCtrl": {...}}``, lme4's names; the
registry is :data:`LME4_OPTIMIZERS`): ``"bobyqa"`` (minqa's BOBYQA, Powell's code evaluation by
evaluation, :func:`mixedcompat.numerics.powell_bobyqa.minqa_bobyqa`), ``"Nelder_Mead"`` (lme4's own
simplex, :func:`mixedcompat.numerics.nelder_mead.nelder_mead`), ``"nloptwrap"`` with
``optCtrl={"algorithm": "NLOPT_LN_NELDERMEAD"}`` (or another of :data:`NLOPT_ALGORITHMS`: the same
NLopt algorithm, as nloptr runs it), and ``"optimx"`` with ``optCtrl={"method": "L-BFGS-B"}``
(:func:`optim_lbfgsb`: scipy's L-BFGS-B with R ``optim``'s finite-difference gradient and
settings; scipy's code is L-BFGS-B 3.0 where R's ``lbfgsb.c`` is 2.3, so the path is close to R's
but not R's).  Each runs as lme4's ``optimizeLmer`` runs it: ``optwrap`` (an all-zero start is
0.001 for bobyqa), ``restart_edge`` with the same optimiser, ``check.boundary``; ``optinfo`` holds
that optimiser's name, evaluations, code, message and warnings as lme4 records them.  The
derivative-decided polishing restart applies to them as to the default (it never moves a run that
stopped by its evaluation budget); and when such a run stops at a singular point, the default path
from lme4's start is tried too and kept when its criterion is lower (``optinfo["polished"]``): a
singular stop can be another valley than the optimum's, and our optimx L-BFGS-B, whose steps near
an active bound are not R's, stopped 1e-3 relative above R's there on a random design.
``"nmkbw"`` is lme4's wrapper of dfoptim's ``nmkb`` (:func:`mixedcompat.numerics.nmkb.nmkbw`, R's path
evaluation by evaluation; for one theta R's ``optim(method = "Brent")`` on ``[0, 100 theta0]``, which
counts no evaluations: ``feval`` None, R's ``NA``).
``"nlminbwrap"`` runs R's ``nlminb`` (the PORT library's bounded quasi-Newton method,
:func:`~mixedcompat.numerics.port_nlminb.nlminb`, on R's path), ``maxfun`` becoming ``eval.max``
as in ``lme4::nlminbwrap``, which returns no evaluation count (``feval`` None, R's ``NA``).
Every optimiser of lme4 1.1-31 runs here (:data:`UNAVAILABLE_OPTIMIZERS` is empty); one listed there
would be a :class:`~mixedcompat.errors.DataError` naming what is available, never another optimiser
in its place.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import nlopt
import numpy as np
from scipy.optimize import minimize

from mixedcompat.lme4.convergence import Derivs, deriv12, is_singular_theta, newton_decrease, scaled_gradient
from mixedcompat.numerics.nelder_mead import nelder_mead
from mixedcompat.numerics.nmkb import NMKB_CONTROL, match_nmkb_control, nmkbw
from mixedcompat.numerics.optimizers import bobyqa
from mixedcompat.numerics.port_nlminb import NLMINB_CONTROL_NAMES, match_control_name, nlminb
from mixedcompat.numerics.powell_bobyqa import minqa_bobyqa
from mixedcompat.errors import ConvergenceWarning, DataError

DEFAULT_CONTROL = {"optimizer": "nloptwrap", "xtol_abs": 1e-8, "ftol_abs": 1e-8, "xtol_rel": 1e-4,
                   "maxeval": 100000,
                   "restart_edge": True, "boundary_tol": 1e-5, "polish": True, "polish_tol": 1e-2,
                   "initial_step": None, "optCtrl": None}

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

    Examples
    --------
    >>> s = minimize_theta(lambda th: float((th[0] - 2.0) ** 2), np.array([1.0]), np.array([0.0]))
    >>> round(float(s.theta[0]), 4), s.conv_code
    (2.0, 0)
    """

    theta: np.ndarray
    fval: float
    feval: int | None                # lme4's count: its last optimiser run (all of ours when we moved the point)
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
    if ctrl["optimizer"] == "nloptwrap":
        # nloptwrap's optCtrl (as lme4's nloptr options) sets the default path's NLopt tolerances
        for key in ("xtol_abs", "ftol_abs", "xtol_rel", "ftol_rel", "maxeval"):
            if key in (ctrl["optCtrl"] or {}):
                ctrl[key] = ctrl["optCtrl"][key]
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
    if not is_default_path(ctrl):
        return _minimize_lme4_optimizer(fun, start, lower, ctrl, calc_derivs, fun_many, scale, column_partners)
    used = GRADIENT_OPTIMIZER if ctrl["optimizer"] == GRADIENT_OPTIMIZER and fun_grad is not None else "nloptwrap"
    if used == GRADIENT_OPTIMIZER:
        x, fval, feval, code = gradient_descent(fun, fun_grad, start, lower, ctrl, column_partners)
    else:
        x, fval, feval, code = bobyqa(fun, start, lower, ctrl)
    msgs: list[str] = []
    warns: list[str] = []
    lme4_feval = feval     # what lme4 reports: the evaluations of its last optimiser run
    moved = False          # one of our additions moved the point: then every evaluation is counted
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
                lme4_feval = fe2
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
                x, fval, code, moved = x2, f2, code2, True
        # a zero diagonal makes the signs below it arbitrary: try the mirror image
        for i, partners in (column_partners or {}).items():
            if x[i] == lower[i] and partners and np.any(x[partners] != 0):
                th = x.copy()
                th[partners] = -th[partners]
                x2, f2, fe2, code2 = bobyqa(fun, th, lower, near_tight)
                feval += fe2
                if f2 < fval:
                    x, fval, code, moved = x2, f2, code2, True
    x, fval, fe2 = _snap_to_boundary(fun, x, fval, lower, ctrl["boundary_tol"])
    feval += fe2
    derivs = None
    polished = False
    if calc_derivs:
        derivs = deriv12(fun, x, fval, fun_many=fun_many)
    # the optimum lme4's stopping rule may have missed (ours, see the module docstring)
    budget_spent = code == nlopt.MAXEVAL_REACHED    # the user's maxeval is respected, as lme4
    pol = _derivative_polish(fun, x, fval, start, lower, ctrl, derivs, scale, fun_many, calc_derivs,
                             skip=budget_spent)
    feval += pol.feval
    lme4_stop = pol.lme4_stop
    if pol.polished:
        x, fval, code, derivs, polished = pol.x, pol.fval, pol.code, pol.derivs, True
    # lme4's optwrap warns "convergence code ..." but does not keep it in optinfo$warnings (which
    # holds the optimiser function's own warnings: none for nloptwrap), so summary() does not print it
    if code == nlopt.MAXEVAL_REACHED:
        warnings.warn(f"convergence code {code} from {used}: {_NLOPT_MESSAGES[code]}",
                      ConvergenceWarning, stacklevel=3)
    elif code < 0:
        warnings.warn(f"convergence code {code} from {used}: optimisation failed",
                      ConvergenceWarning, stacklevel=3)
    conv = 0 if code > 0 and code != nlopt.MAXEVAL_REACHED else int(code)
    if not (moved or polished):
        feval = lme4_feval
    return OptSummary(theta=x, fval=float(fval), feval=int(feval), optimizer=ctrl["optimizer"],
                      conv_code=conv, message=_NLOPT_MESSAGES.get(code, str(code)),
                      messages=tuple(msgs), warnings=tuple(warns), derivs=derivs, polished=polished,
                      lme4_stop=lme4_stop if polished else None)


# ------------------------------------------------------------------------ lme4's optimisers by name
LME4_OPTIMIZERS = ("nloptwrap", "bobyqa", "Nelder_Mead", "optimx", "nlminbwrap", "nmkbw")
"""lme4 1.1-31's optimiser names (``lmerControl(optimizer=)``, ``allFit``'s ``meth.tab``)."""
UNAVAILABLE_OPTIMIZERS: dict[str, str] = {}
"""lme4's optimisers we cannot run, and why."""
AVAILABLE_OPTIMIZERS = tuple(o for o in LME4_OPTIMIZERS if o not in UNAVAILABLE_OPTIMIZERS)
NLOPT_ALGORITHMS = {
    "NLOPT_LN_BOBYQA": nlopt.LN_BOBYQA,
    "NLOPT_LN_NELDERMEAD": nlopt.LN_NELDERMEAD,
    "NLOPT_LN_SBPLX": nlopt.LN_SBPLX,
    "NLOPT_LN_COBYLA": nlopt.LN_COBYLA,
    "NLOPT_LN_NEWUOA_BOUND": nlopt.LN_NEWUOA_BOUND,
    "NLOPT_LN_PRAXIS": nlopt.LN_PRAXIS,
}
"""nloptwrap's ``optCtrl["algorithm"]`` values: NLopt's derivative-free algorithms with bounds
(lme4 gives nloptr no gradient, so R refuses the ``NLOPT_LD_*`` ones)."""
OPTIMX_METHODS = ("L-BFGS-B",)
"""optimx's methods we run (:func:`optim_lbfgsb`)."""
OPT_CTRL_NAMES = {
    "nloptwrap": ("algorithm", "xtol_abs", "ftol_abs", "xtol_rel", "ftol_rel", "maxeval", "maxfun",
                  "print_level"),
    "bobyqa": ("npt", "rhobeg", "rhoend", "iprint", "maxfun"),
    "Nelder_Mead": ("iprint", "maxfun", "FtolAbs", "FtolRel", "XtolRel", "MinfMax", "xst", "xt", "verbose",
                    "warnOnly"),
    "optimx": ("method", "maxit", "ndeps", "factr", "pgtol", "lmm", "trace"),
    "nmkbw": NMKB_CONTROL,
    "nlminbwrap": NLMINB_CONTROL_NAMES + ("maxfun",),
}
"""The ``optCtrl`` settings each optimiser takes here (nloptwrap's ``maxfun`` is ignored, as nloptr
ignores it in R; ``print_level``, ``iprint``, ``verbose``, ``trace`` only print in R)."""
_NLOPT_FAILURES = {
    nlopt.FAILURE: "NLOPT_FAILURE: Generic failure code.",
    nlopt.INVALID_ARGS: "NLOPT_INVALID_ARGS: Invalid arguments (e.g. lower bounds are bigger than upper "
                        "bounds, an unknown algorithm was specified, etcetera).",
    nlopt.OUT_OF_MEMORY: "NLOPT_OUT_OF_MEMORY: Ran out of memory.",
    nlopt.ROUNDOFF_LIMITED: "NLOPT_ROUNDOFF_LIMITED: Roundoff errors led to a breakdown of the optimization "
                            "algorithm. In this case, the returned minimum may still be useful. (e.g. this "
                            "error occurs in NEWUOA if one tries to achieve a tolerance too close to machine "
                            "precision.)",
}


def check_optimizer(name: object, opt_ctrl: dict | None = None) -> None:
    """Refuse an optimiser (and ``optCtrl``) lmer cannot run, naming what it can.

    Raises
    ------
    DataError
        An unknown name (R: ``couldn't find optimizer function <name>``), one of lme4's we do not
        implement (:data:`UNAVAILABLE_OPTIMIZERS`), an unknown ``optCtrl`` setting, an NLopt
        algorithm not in :data:`NLOPT_ALGORITHMS` or an optimx method not in :data:`OPTIMX_METHODS`.

    Examples
    --------
    >>> check_optimizer("Nelder_Mead", {"maxfun": 500})
    >>> try:
    ...     check_optimizer("nlminb")
    ... except DataError as exc:
    ...     print(str(exc).split(" (")[0])
    couldn't find optimizer function nlminb: the optimizers available are 'nloptwrap', 'bobyqa', 'Nelder_Mead', 'optimx', ...'nmkbw'
    """
    avail = ", ".join(repr(o) for o in AVAILABLE_OPTIMIZERS)
    missing = ", ".join(repr(o) for o in UNAVAILABLE_OPTIMIZERS)
    if name == GRADIENT_OPTIMIZER:
        return
    if not isinstance(name, str) or name not in LME4_OPTIMIZERS:
        raise DataError(f"couldn't find optimizer function {name}: the optimizers available are {avail}"
                        + (f" (lme4's {missing} are not available here)" if missing else ""))
    if name in UNAVAILABLE_OPTIMIZERS:
        raise DataError(f"optimizer {name!r} is not available: {UNAVAILABLE_OPTIMIZERS[name]}; "
                        f"available: {avail}")
    opt_ctrl = dict(opt_ctrl or {})
    unknown = sorted(k for k in set(opt_ctrl) - set(OPT_CTRL_NAMES[name])
                     if name != "nlminbwrap" or match_control_name(k) is None)   # nlminb pmatches
    if name == "nmkbw":
        match_nmkb_control(opt_ctrl)           # nmkb's match.arg: unique prefixes too; unknown names named
    elif unknown:
        raise DataError(f"unknown optCtrl setting(s) {', '.join(map(repr, unknown))} for optimizer {name!r}; "
                        f"known: {', '.join(OPT_CTRL_NAMES[name])}")
    if name == "nloptwrap":
        alg = opt_ctrl.get("algorithm", "NLOPT_LN_BOBYQA")
        if alg not in NLOPT_ALGORITHMS:
            raise DataError(f"nloptwrap's algorithm {alg!r} is not available: lme4 gives NLopt no gradient, "
                            f"the derivative-free ones run here are {', '.join(NLOPT_ALGORITHMS)}")
    if name == "optimx":
        if "method" not in opt_ctrl:
            raise DataError("must specify 'method' explicitly for optimx (optCtrl={'method': 'L-BFGS-B'})")
        if opt_ctrl["method"] not in OPTIMX_METHODS:
            raise DataError(f"optimx method {opt_ctrl['method']!r} is not available: mixedcompat runs optimx "
                            f"with {', '.join(map(repr, OPTIMX_METHODS))} only")


def is_default_path(ctrl: dict) -> bool:
    """Does ``ctrl`` ask for lme4's default optimiser (nloptwrap with NLopt's BOBYQA) or ours
    (``"gradient"``)?  Those take :func:`minimize_theta`'s own path.

    Examples
    --------
    >>> is_default_path({"optimizer": "nloptwrap", "optCtrl": {"algorithm": "NLOPT_LN_NELDERMEAD"}})
    False
    """
    name = ctrl.get("optimizer")
    alg = (ctrl.get("optCtrl") or {}).get("algorithm", "NLOPT_LN_BOBYQA")
    return name == GRADIENT_OPTIMIZER or (name == "nloptwrap" and alg == "NLOPT_LN_BOBYQA")


@dataclass(frozen=True)
class OptimizerRun:
    """One ``optwrap`` call: what lme4 keeps of it (``par``, ``fval``, ``feval``, ``conv``,
    ``message``, ``warnings``: the optimiser's own warnings)."""

    par: np.ndarray
    fval: float
    feval: int | None                  # None: R's NA (nmkbw's Brent path counts nothing; nlminbwrap)
    conv: int
    message: str
    warnings: tuple[str, ...] = ()


def run_lme4_optimizer(name: str, fun: Callable[[np.ndarray], float], start: np.ndarray, lower: np.ndarray,
                       opt_ctrl: dict | None = None, warn: bool = True) -> OptimizerRun:
    """One run of lme4's optimiser ``name`` on ``fun`` from ``start`` (lme4's ``optwrap``, ``adj = FALSE``).

    ``conv`` and ``message`` are lme4's: minqa's ``ierr`` and ``msg``; Nelder-Mead's
    ``min(0, NM.result)`` (4 after exhausting ``maxfun``) and its message; nloptwrap's NLopt status
    when negative or 5 (``maxeval``), else 0, and nloptr's message; optim's ``convergence`` and optimx's
    message ``"none"`` (optimx 2022's ``exists("ans$message")`` is never true).  A nonzero ``conv``
    gives optwrap's warning ``"convergence code <k> from <name>: <message>"`` (unless ``warn`` is
    False: the caller gives it).

    Examples
    --------
    >>> r = run_lme4_optimizer("Nelder_Mead", lambda t: float((t[0] - 1) ** 2), np.array([0.5]), np.array([0.0]))
    >>> r.conv, r.message, round(float(r.par[0]), 3)
    (0, 'parameter values converged to within tolerance', 1.0)
    """
    check_optimizer(name, opt_ctrl)
    ctl = dict(opt_ctrl or {})
    start = np.asarray(start, dtype=float).copy()
    lower = np.asarray(lower, dtype=float)
    warns: tuple[str, ...] = ()
    if name == "bobyqa":
        if np.all(start == 0):
            start[:] = 0.001
        kw = {k: ctl[k] for k in ("npt", "rhobeg", "rhoend", "maxfun") if k in ctl}
        res = minqa_bobyqa(fun, start, lower=lower, **kw)
        run = OptimizerRun(res.par, float(res.fval), res.feval, res.ierr, res.msg, tuple(res.warnings))
    elif name == "Nelder_Mead":
        kw = {"maxfun": int(ctl.get("maxfun", 10000)), "ftol_abs": ctl.get("FtolAbs", 1e-5),
              "ftol_rel": ctl.get("FtolRel", 1e-15), "xtol_rel": ctl.get("XtolRel", 1e-7),
              "minf_max": ctl.get("MinfMax", -np.finfo(float).max),
              "warn_only": bool(ctl.get("warnOnly", False))}
        xst = None if ctl.get("xst") is None else np.broadcast_to(np.asarray(ctl["xst"], float), start.shape)
        xt = None if ctl.get("xt") is None else np.broadcast_to(np.asarray(ctl["xt"], float), start.shape)
        res = nelder_mead(fun, start, lower=lower, xst=xst, xt=xt, **kw)
        conv = 4 if res.NM_result == 4 else res.convergence
        run = OptimizerRun(res.par, float(res.fval), res.feval, conv, res.message, tuple(res.warnings))
    elif name == "nloptwrap":
        settings = {"xtol_abs": 1e-8, "ftol_abs": 1e-8, "xtol_rel": 1e-4, "maxeval": 100000}
        settings.update({k: ctl[k] for k in ("xtol_abs", "ftol_abs", "xtol_rel", "ftol_rel", "maxeval") if k in ctl})
        settings["algorithm"] = NLOPT_ALGORITHMS[ctl.get("algorithm", "NLOPT_LN_BOBYQA")]
        x, fval, feval, code = bobyqa(fun, start, lower, settings)
        conv = int(code) if code < 0 or code == nlopt.MAXEVAL_REACHED else 0
        msg = _NLOPT_MESSAGES.get(code) or _NLOPT_FAILURES.get(code, str(code))
        run = OptimizerRun(np.asarray(x, dtype=float), float(fval), int(feval), conv, msg)
    elif name == "nmkbw":
        res = nmkbw(fun, start, lower, np.full(len(start), np.inf), ctl)
        run = OptimizerRun(np.asarray(res.par, dtype=float), float(res.value), res.feval, res.convergence,
                           res.message)
    elif name == "nlminbwrap":                         # lme4::nlminbwrap: maxfun is eval.max, no feval
        if "maxfun" in ctl:
            ctl["eval.max"] = ctl.pop("maxfun")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = nlminb(start, fun, lower=lower, upper=np.inf, control=ctl)
        run = OptimizerRun(res.par, float(res.objective), None, int(res.convergence), res.message,
                           tuple(str(w.message) for w in caught))
    else:                                              # optimx, method L-BFGS-B
        x, fval, feval, conv = optim_lbfgsb(fun, start, lower, maxit=int(ctl.get("maxit", 100)),
                                            ndeps=ctl.get("ndeps", 1e-3), factr=float(ctl.get("factr", 1e7)),
                                            pgtol=float(ctl.get("pgtol", 0.0)), lmm=int(ctl.get("lmm", 5)))
        run = OptimizerRun(x, fval, feval, conv, "none")
    if run.conv != 0 and warn:
        # optwrap warns this but does not keep it: its `curWarnings <<-` assigns outside the function
        warnings.warn(f"convergence code {run.conv} from {name}: {run.message}", ConvergenceWarning, stacklevel=3)
    return run


def optim_lbfgsb(fun: Callable[[np.ndarray], float], start: np.ndarray, lower: np.ndarray, maxit: int = 100,
                 ndeps: float | np.ndarray = 1e-3, factr: float = 1e7, pgtol: float = 0.0,
                 lmm: int = 5) -> tuple[np.ndarray, float, int, int]:
    """R's ``optim(method = "L-BFGS-B")`` as optimx calls it without a gradient: L-BFGS-B with
    ``lmm`` corrections, stopping when the relative reduction is below ``factr`` times the machine
    epsilon or the projected gradient below ``pgtol``, on optim's finite-difference gradient
    (central differences of step ``ndeps``, shortened at a bound as optim's ``fmingr``).

    scipy's L-BFGS-B is version 3.0 (Morales and Nocedal's corrected subspace step); R's
    ``lbfgsb.c`` is version 2.3.  On a criterion whose bounds are not active their steps coincide
    to rounding; near an active bound the paths may part.  Returns ``(par, value, feval, code)``
    with optimx's ``fevals + gevals`` (each iteration evaluates both) and optim's codes: 0
    converged, 1 ``maxit`` reached, 52 an error in the line search.

    Examples
    --------
    >>> x, f, n_eval, code = optim_lbfgsb(lambda v: float((v[0] - 2.0) ** 2 + (v[1] + 1.0) ** 2),
    ...                                   np.array([0.0, 0.0]), np.array([0.0, -np.inf]))
    >>> np.round(x, 4).tolist(), code
    ([2.0, -1.0], 0)
    """
    x0 = np.maximum(np.asarray(start, dtype=float), lower)
    n = len(x0)
    eps = np.broadcast_to(np.asarray(ndeps, dtype=float), (n,))
    calls = [0]

    def value_and_gradient(p: np.ndarray) -> tuple[float, np.ndarray]:
        calls[0] += 1
        p = np.asarray(p, dtype=float)
        f = float(fun(p.copy()))
        if not np.isfinite(f):
            raise DataError("L-BFGS-B needs finite values of 'fn'")
        g = np.empty(n)
        for i in range(n):
            up, dn = p.copy(), p.copy()
            up[i] = p[i] + eps[i]
            down = p[i] - eps[i]
            e_dn = eps[i]
            if down < lower[i]:
                down = lower[i]
                e_dn = p[i] - down
            dn[i] = down
            g[i] = (float(fun(up)) - float(fun(dn))) / (eps[i] + e_dn)
        return f, g

    bounds = [(float(lo) if np.isfinite(lo) else None, None) for lo in lower]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(value_and_gradient, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxit, "maxfun": 10 ** 9, "ftol": factr * np.finfo(float).eps,
                                "gtol": pgtol, "maxcor": lmm})
    code = {0: 0, 1: 1}.get(int(res.status), 52)
    return np.asarray(res.x, dtype=float), float(res.fun), 2 * calls[0], code


def _minimize_lme4_optimizer(fun: Callable[[np.ndarray], float], start: np.ndarray, lower: np.ndarray,
                             ctrl: dict, calc_derivs: bool,
                             fun_many: Callable[[np.ndarray], np.ndarray] | None,
                             scale: np.ndarray | None,
                             column_partners: dict[int, list[int]] | None = None) -> OptSummary:
    """lme4's ``optimizeLmer`` with an optimiser other than the default (:func:`run_lme4_optimizer`):
    the run, ``restart_edge`` (the same optimiser again from its point when a parameter on the
    boundary has a negative one-sided derivative: lme4 then keeps the second run's record),
    ``check.boundary``, the derivatives and our derivative-decided restart; at a singular stop, also
    the default path from lme4's start (kept when lower: ``optinfo["polished"]``)."""
    name = ctrl["optimizer"]
    opt_ctrl = ctrl.get("optCtrl") or {}
    run = run_lme4_optimizer(name, fun, start, lower, opt_ctrl)
    if ctrl["restart_edge"]:
        on_bound = np.where(run.par == lower)[0]
        if len(on_bound):
            d0 = fun(run.par)
            grads = []
            for i in on_bound:
                th = run.par.copy()
                th[i] = lower[i] + 1e-5
                grads.append((fun(th) - d0) / 1e-5)
            if any(g < 0 for g in grads):
                run = run_lme4_optimizer(name, fun, run.par, lower, opt_ctrl)
    x, fval, _ = _snap_to_boundary(fun, run.par, run.fval, lower, ctrl["boundary_tol"])
    derivs = deriv12(fun, x, fval, fun_many=fun_many) if calc_derivs else None
    pol = _derivative_polish(fun, x, fval, start, lower, ctrl, derivs, scale, fun_many, calc_derivs,
                             skip=run.conv != 0)
    feval = run.feval
    polished, lme4_stop = pol.polished, pol.lme4_stop
    if pol.polished:
        x, fval, derivs = pol.x, pol.fval, pol.derivs
        feval = (feval or 0) + pol.feval
    if ctrl["polish"] and run.conv == 0 and is_singular_theta(x, lower):
        # a singular stop may be another valley than the optimum's (optimx's L-BFGS-B, whose steps
        # near an active bound are not R's, stopped 1e-3 relative above R's on a random design): the
        # default path from lme4's start is tried too, and kept when lower
        alt = minimize_theta(fun, start, lower, dict(ctrl, optimizer="nloptwrap", optCtrl=None),
                             column_partners=column_partners, calc_derivs=calc_derivs, fun_many=fun_many,
                             scale=scale)
        if alt.fval < fval - POLISH_ACCEPT_RTOL * max(1.0, abs(fval)):
            if lme4_stop is None:
                lme4_stop = {"theta": np.asarray(x, dtype=float).copy(), "fval": float(fval), "derivs": derivs}
            x, fval, derivs, polished = alt.theta, alt.fval, alt.derivs, True
            feval = (feval or 0) + alt.feval
    return OptSummary(theta=np.asarray(x, dtype=float), fval=float(fval),
                      feval=None if feval is None else int(feval), optimizer=name,
                      conv_code=int(run.conv), message=run.message, warnings=tuple(run.warnings),
                      derivs=derivs, polished=polished, lme4_stop=lme4_stop if polished else None)


@dataclass(frozen=True)
class _Polish:
    x: np.ndarray
    fval: float
    feval: int
    code: int
    derivs: Derivs | None
    polished: bool
    lme4_stop: dict | None


def _derivative_polish(fun: Callable[[np.ndarray], float], x: np.ndarray, fval: float, start: np.ndarray,
                       lower: np.ndarray, ctrl: dict, derivs: Derivs | None, scale: np.ndarray | None,
                       fun_many: Callable[[np.ndarray], np.ndarray] | None, calc_derivs: bool,
                       skip: bool) -> _Polish:
    """The restart where lme4's stopping rule stopped early (module docstring): decided by the
    derivatives at ``x`` (or singularity, or ``polish="always"``), tight BOBYQA on the rescaled
    problem, kept when the criterion is lower by more than ``POLISH_ACCEPT_RTOL``.  ``skip``: a
    run that used up its evaluations is not restarted."""
    polish = ctrl["polish"]
    tight = dict(ctrl, **TIGHT)
    singular = is_singular_theta(x, lower)
    s = np.ones_like(x) if scale is None else np.asarray(scale, dtype=float)
    badly_scaled = bool(np.any(np.abs(np.log10(s)) > BADLY_SCALED))
    restart = polish == "always"
    if polish and not restart and not skip:
        restart = singular or (derivs is not None and _needs_polish(derivs, fval))
        if not restart and badly_scaled and derivs is not None:
            # lme4's 1e-4 step is lost in rounding on theta entries of size 1e3 (a covariate in
            # thousandths): judge the stop by derivatives in the rescaled coordinates
            many = None if fun_many is None else (lambda U: fun_many(U * s))
            restart = _needs_polish(deriv12(lambda u: fun(u * s), x / s, fval, fun_many=many), fval)
    if not restart:
        return _Polish(x, fval, 0, 0, derivs, False, None)
    feval = 0
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
        d2 = deriv12(fun, x2, f2, fun_many=fun_many) if calc_derivs else derivs
        return _Polish(x2, float(f2), feval, code2, d2, True, lme4_stop)
    return _Polish(x, fval, feval, 0, derivs, False, lme4_stop)


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

    Examples
    --------
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
