"""lme4 1.1-31's two optimisation stages of ``glmer``, and its boundary check.

1. **Stage 1** (``nAGQ0initStep``): theta only, on the ``nAGQ = 0`` objective (joint PIRLS), by
   BOBYQA with minqa's settings: ``rhobeg = min(0.95, 0.2 max|theta|)``, ``rhoend = 1e-6 rhobeg``;
   an all-zero start is replaced by 0.001.  Then one evaluation at the optimum: its PIRLS state gives
   stage 2's ``lp0``, the start of ``beta`` and the scale of its steps.
2. **Stage 2** (``nAGQ >= 1``): ``(theta, beta)`` on the Laplace / AGQ objective by lme4's
   Nelder-Mead: initial steps ``0.2 (0.1 per theta, min(SE(beta), 10) per beta)`` (SE from
   ``(R_X' R_X)^-1`` of stage 1's last PIRLS factor), x tolerances ``5e-4`` of those steps; then
   lme4's ``deriv12`` (gradient and Hessian, for ``checkConv`` and ``vcov``) and the boundary check.

With ``nAGQ = 0`` stage 1 is the fit, followed by the boundary check.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mixedcompat.glmer.objective import GlmerObjective
from mixedcompat.glmer.pirls import GlmData, PirlsResult, pirls
from mixedcompat.lme4.convergence import Derivs, deriv12
from mixedcompat.numerics.optimizers import bobyqa

__all__ = ["GlmerOpt", "optimize_glmer", "check_boundary"]


@dataclass
class StageResult:
    par: np.ndarray
    fval: float
    feval: int
    code: int
    message: str
    optimizer: str
    warnings: list = field(default_factory=list)


@dataclass
class GlmerOpt:
    """The outcome of glmer's optimisation: the final objective (the one the fit is reported on),
    its optimum, the PIRLS state there and lme4's optimiser records."""

    objective: GlmerObjective
    par: np.ndarray
    fval: float
    state: PirlsResult
    stage1: StageResult
    stage2: StageResult | None
    derivs: Derivs | None
    lower: np.ndarray


def _bobyqa_minqa(fn, x0: np.ndarray, lower: np.ndarray, maxfun: int = 10000) -> StageResult:
    """Stage 1's BOBYQA with minqa's settings (rhobeg, rhoend).  INTERIM: NLopt's BOBYQA (npt = 2n+1)
    until minqa's path is reproduced."""
    x0 = np.asarray(x0, dtype=float).copy()
    if np.all(x0 == 0):
        x0[:] = 0.001
    rhobeg = min(0.95, 0.2 * float(np.max(np.abs(x0))))
    ctl = {"xtol_abs": 1e-6 * rhobeg, "ftol_abs": 0.0, "xtol_rel": 0.0, "maxeval": maxfun, "initial_step": rhobeg}
    x, f, nev, code = bobyqa(fn, x0, lower, ctl)
    return StageResult(x, f, nev, 0, "", "bobyqa")


def _nelder_mead_lme4(fn, x0: np.ndarray, lower: np.ndarray, xst: np.ndarray, xt: np.ndarray,
                      maxfun: int = 10000) -> StageResult:
    """Stage 2's Nelder-Mead with lme4's settings.  INTERIM: NLopt's Nelder-Mead (through
    :func:`~mixedcompat.numerics.optimizers.bobyqa`'s ``algorithm`` key) until lme4's own is reproduced."""
    ctl = {"xtol_abs": xt, "ftol_abs": 0.0, "xtol_rel": 1e-7, "ftol_rel": 1e-15, "maxeval": maxfun,
           "initial_step": xst, "algorithm": "neldermead"}
    x, f, nev, code = bobyqa(fn, x0, lower, ctl)
    return StageResult(x, f, nev, 0, "parameter values converged to within tolerance", "Nelder_Mead")


def check_boundary(fn, par: np.ndarray, fval: float, lower: np.ndarray, n_theta: int,
                   tol: float) -> tuple[np.ndarray, float, bool]:
    """lme4's ``check.boundary``: a theta within ``tol`` above its (finite) bound is put on the bound
    when that does not raise the objective (each such entry tried in turn from the optimum); the
    objective is then re-evaluated.  Returns ``(par, fval, changed)``."""
    par = np.asarray(par, dtype=float)
    diff = par[:n_theta] - lower[:n_theta]
    edge = np.flatnonzero((diff > 0) & (diff < tol))
    if len(edge) == 0:
        return par, fval, False
    new = par.copy()
    for i in edge:
        trial = par.copy()
        trial[i] = lower[i]
        if fn(trial) < fval:
            new[i] = trial[i]
    return new, float(fn(new)), True


def optimize_glmer(data: GlmData, theta0: np.ndarray, lower_theta: np.ndarray, nAGQ: int, ctrl: dict,
                   eta_start: np.ndarray) -> GlmerOpt:
    """Fit ``data`` as lme4's ``glmer`` does: the initial PIRLS, stage 1, and stage 2 when
    ``nAGQ >= 1``.

    Parameters
    ----------
    data : GlmData
    theta0, lower_theta : ndarray
        Start values and lower bounds of theta.
    nAGQ : int
    ctrl : dict
        ``tolPwrss``, ``maxit``, ``boundary_tol``, ``calc_derivs``.
    eta_start : ndarray
        The linear predictor of the family's start (``offset + linkfun(mustart)``).
    """
    tol, maxit = ctrl["tolPwrss"], ctrl["maxit"]
    # lme4's mkGlmerDevfun: one joint PIRLS at the start values; its linear predictor is lp0
    r0 = pirls(data, theta0, eta_start, data.offset, joint=True, tol=tol, maxit=maxit)
    obj0 = GlmerObjective(data, r0.eta - data.offset, 0, tol, maxit)
    s1 = _bobyqa_minqa(obj0, theta0, lower_theta)
    f1, r1 = obj0.evaluate(s1.par)
    n_theta = len(theta0)
    if nAGQ == 0:
        par, fval = s1.par, f1
        par, fval, changed = check_boundary(obj0, par, fval, lower_theta, n_theta, ctrl["boundary_tol"])
        if changed:
            fval, r1 = obj0.evaluate(par)
        return GlmerOpt(obj0, par, fval, r1, s1, None, None, np.asarray(lower_theta, dtype=float))
    obj = GlmerObjective(data, r1.eta - data.offset, nAGQ, tol, maxit)
    beta1 = r1.beta
    unsc = r1.system.beta_vcov_unscaled(r1.factor)
    xst = 0.2 * np.concatenate([np.full(n_theta, 0.1), np.minimum(np.sqrt(np.diag(unsc)), 10.0)])
    xt = 5e-4 * xst
    lower = np.concatenate([lower_theta, np.full(data.p, -np.inf)])
    s2 = _nelder_mead_lme4(obj, np.concatenate([s1.par, beta1]), lower, xst, xt)
    derivs = deriv12(obj, s2.par, fx=s2.fval) if ctrl["calc_derivs"] else None
    par, fval = s2.par, s2.fval
    par, fval, _ = check_boundary(obj, par, fval, lower, n_theta, ctrl["boundary_tol"])
    fval_state, state = obj.evaluate(par)
    return GlmerOpt(obj, par, fval, state, s1, s2, derivs, lower)
