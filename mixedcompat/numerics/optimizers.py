"""The package's general-purpose optimisers: thin, documented wrappers of NLopt and scipy.

* :func:`bobyqa`: NLopt's BOBYQA (derivative-free, box bounds), what lme4's ``nloptwrap`` and
  lme4's profiles use; lme4's stopping rule and restarts are :mod:`mixedcompat.lme4.optimize`'s,
  nlme's restarted runs are :mod:`mixedcompat.nlme.estimate`'s.
* :func:`lbfgsb`: scipy's L-BFGS-B with finite-difference gradients (nlme's quasi-Newton paths).

Both treat a non-finite criterion as a wall (a huge value), never as an error.  glmer's two
optimisers, which take R's paths evaluation by evaluation, have their own modules:
:mod:`mixedcompat.numerics.nelder_mead` (lme4's Nelder-Mead) and :mod:`mixedcompat.numerics.powell_bobyqa`
(minqa's BOBYQA).
"""
from __future__ import annotations

import warnings
from typing import Callable

import nlopt
import numpy as np
from scipy.optimize import minimize

__all__ = ["bobyqa", "lbfgsb", "BOBYQA_FAILURE", "BOBYQA_MAXEVAL"]

BOBYQA_FAILURE = nlopt.FAILURE
"""The result code :func:`bobyqa` returns when NLopt stopped with an error (round-off limited...)."""
BOBYQA_MAXEVAL = nlopt.MAXEVAL_REACHED
"""NLopt's result code for a run that used up ``maxeval``."""


def bobyqa(fun: Callable[[np.ndarray], float], start: np.ndarray, lower: np.ndarray,
           control: dict, upper: np.ndarray | None = None) -> tuple[np.ndarray, float, int, int]:
    """NLopt's BOBYQA on ``fun`` from ``start`` within ``[lower, upper]``.

    Parameters
    ----------
    fun : callable
        The criterion, a function of a 1-d array; a non-finite value counts as the largest float.
    start : ndarray
        Start values (moved into the box first).
    lower : ndarray
        Lower bounds (``-inf`` for none).
    control : dict
        ``xtol_abs``, ``ftol_abs``, ``xtol_rel``, ``maxeval`` and optionally ``ftol_rel`` and
        ``initial_step`` (the first trust-region radius: a scalar or one per parameter);
        ``algorithm="neldermead"`` runs NLopt's Nelder-Mead with the same settings instead (an
        ``nlopt`` algorithm constant, e.g. ``nlopt.LN_SBPLX``, runs that one).
    upper : ndarray, optional
        Upper bounds (none by default).

    Returns
    -------
    x, fval, evaluations, code
        The best point and its criterion, the number of evaluations and NLopt's result code
        (:data:`BOBYQA_FAILURE` when NLopt raised: then the best point evaluated is returned).

    Examples
    --------
    >>> ctl = {"xtol_abs": 1e-8, "ftol_abs": 1e-8, "xtol_rel": 1e-4, "maxeval": 1000}
    >>> x, f, n_eval, code = bobyqa(lambda v: float((v[0] - 2.0) ** 2 + v[1] ** 2),
    ...                             np.array([1.0, 1.0]), np.array([0.0, 0.5]), ctl)
    >>> np.round(x, 4).tolist(), code > 0
    ([2.0, 0.5], True)
    """
    n = len(start)
    count = [0]
    best = [np.inf, np.asarray(start, dtype=float).copy()]

    def objective(x, grad):
        count[0] += 1
        val = fun(np.asarray(x))
        if not np.isfinite(val):
            val = np.finfo(float).max
        if val < best[0]:
            best[0], best[1] = val, np.array(x)
        return float(val)

    lower = np.asarray(lower, dtype=float)
    algorithm = control.get("algorithm")
    if algorithm == "neldermead":
        algorithm = nlopt.LN_NELDERMEAD
    elif not isinstance(algorithm, int):
        algorithm = nlopt.LN_BOBYQA
    opt = nlopt.opt(algorithm, n)
    opt.set_lower_bounds(lower.tolist())
    if upper is None:
        opt.set_upper_bounds([np.inf] * n)
        x0 = np.maximum(start, lower)
    else:
        upper = np.asarray(upper, dtype=float)
        opt.set_upper_bounds(upper.tolist())
        x0 = np.clip(np.asarray(start, dtype=float), lower, upper)
    opt.set_xtol_abs(np.broadcast_to(np.asarray(control["xtol_abs"], dtype=float), (n,)).tolist())
    opt.set_ftol_abs(control["ftol_abs"])
    opt.set_xtol_rel(control["xtol_rel"])
    if control.get("ftol_rel") is not None:
        opt.set_ftol_rel(control["ftol_rel"])
    opt.set_maxeval(int(control["maxeval"]))
    if control.get("initial_step") is not None:
        opt.set_initial_step(np.broadcast_to(np.asarray(control["initial_step"], dtype=float), (n,)).tolist())
    opt.set_min_objective(objective)
    try:
        x = np.asarray(opt.optimize(x0.tolist()))
        code = opt.last_optimize_result()
        fval = opt.last_optimum_value()
    except (nlopt.RoundoffLimited, RuntimeError, ValueError):
        x, fval, code = best[1], best[0], nlopt.FAILURE
    return x, float(fval), count[0], code


def lbfgsb(fun: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
           options: dict) -> tuple[np.ndarray | None, int]:
    """scipy's L-BFGS-B with finite-difference gradients from ``x0`` within ``[lower, upper]``
    (infinite bounds: none); a non-finite criterion is a wall (1e300), scipy's warnings are silenced.

    Parameters
    ----------
    fun : callable
        The criterion.
    x0, lower, upper : ndarray
        Start and bounds.
    options : dict
        scipy's L-BFGS-B options (``maxfun``, ``maxiter``, ``ftol``, ``gtol``...).

    Returns
    -------
    x, evaluations
        The point (None when the descent failed with an error) and the number of evaluations.

    Examples
    --------
    >>> x, n_eval = lbfgsb(lambda v: float((v[0] - 1.0) ** 2), np.array([3.0]), np.array([-np.inf]),
    ...                    np.array([np.inf]), {"maxiter": 100})
    >>> round(float(x[0]), 4)
    1.0
    """
    count = [0]

    def safe(v):
        count[0] += 1
        f = fun(v)
        return f if np.isfinite(f) else 1e300
    bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None) for lo, hi in zip(lower, upper)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = minimize(safe, x0, method="L-BFGS-B", bounds=bounds, options=options)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        return None, count[0]
    return res.x, count[0]
