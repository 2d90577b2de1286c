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

import warnings
from dataclasses import dataclass, field

import numpy as np

from mixedcompat.errors import ConvergenceWarning
from mixedcompat.glmer.compiled import compiled_objective
from mixedcompat.glmer.objective import GlmerObjective
from mixedcompat.glmer.pirls import GlmData, PirlsResult, pirls
from mixedcompat.lme4.convergence import Derivs, deriv12
from mixedcompat.lme4.optimize import run_lme4_optimizer

__all__ = ["GlmerOpt", "optimize_glmer", "check_boundary", "BOUNDARY_NOISE"]

BOUNDARY_NOISE = 1e-13
"""Relative difference below which check_boundary treats the objective on the bound as not raised."""


@dataclass
class StageResult:
    par: np.ndarray
    fval: float
    feval: int | None
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


def run_optimizer(name: str, fn, x0: np.ndarray, lower: np.ndarray, stage: int, opt_ctrl: dict,
                  beta_sd: np.ndarray | None = None, n_theta: int = 0) -> StageResult:
    """One stage's optimiser as lme4's ``optwrap`` calls it.

    ``"bobyqa"`` is minqa's BOBYQA (:func:`~mixedcompat.numerics.powell_bobyqa.minqa_bobyqa`): an
    all-zero start becomes 0.001; in stage 2 ``rhobeg = 2e-4``, ``rhoend = 2e-7``.  ``"Nelder_Mead"``
    is lme4's (:func:`~mixedcompat.numerics.nelder_mead.nelder_mead`): in stage 2 the initial steps
    are ``0.2 (0.1 per theta, min(SE(beta), 10) per beta)``, otherwise 0.02; the x tolerances
    ``5e-4`` of the steps.  ``"nloptwrap"`` and ``"optimx"`` run as in lmer
    (:func:`~mixedcompat.lme4.optimize.run_lme4_optimizer`).  A nonzero code gives optwrap's warning
    ``"convergence code <k> from <optimizer>: <message>"``.
    """
    ctl = dict(opt_ctrl)
    if stage == 2 and name == "bobyqa":
        ctl.setdefault("rhobeg", 2e-4)
        ctl.setdefault("rhoend", 2e-7)
    if stage == 2 and name == "Nelder_Mead" and "xst" not in ctl:
        ctl["xst"] = 0.2 * np.concatenate([np.full(n_theta, 0.1), np.minimum(beta_sd, 10.0)])
    res = run_lme4_optimizer(name, fn, x0, lower, ctl, warn=False)
    code, msg, par, fval, feval, warn = res.conv, res.message, res.par, res.fval, res.feval, list(res.warnings)
    if code != 0:
        # optwrap warns this but does not keep it: its `curWarnings <<-` assigns outside the function
        text = f"convergence code {code} from {name}" + (f": {msg}" if msg else "")
        warnings.warn(text, ConvergenceWarning, stacklevel=4)
    feval = None if feval is None else int(feval)      # None: R's NA (nmkbw's Brent path)
    return StageResult(np.asarray(par, dtype=float), float(fval), feval, int(code), msg, name, warn)


def check_boundary(fn, par: np.ndarray, fval: float, lower: np.ndarray, n_theta: int,
                   tol: float) -> tuple[np.ndarray, float, bool]:
    """lme4's ``check.boundary``: a theta within ``tol`` above its (finite) bound is put on the bound
    when that does not raise the objective (each such entry tried in turn from the optimum); the
    objective is then re-evaluated.  Returns ``(par, fval, changed)``.

    lme4 tests ``devfun(on the bound) < fval`` strictly; at a singular fit the objective is flat there
    and the test is decided by the last bits of the two values, which differ between any two
    implementations.  Here a value above ``fval`` by rounding noise (``BOUNDARY_NOISE`` relative)
    counts as not raising it."""
    par = np.asarray(par, dtype=float)
    diff = par[:n_theta] - lower[:n_theta]
    edge = np.flatnonzero((diff > 0) & (diff < tol))
    if len(edge) == 0:
        return par, fval, False
    new = par.copy()
    noise = BOUNDARY_NOISE * abs(fval)
    for i in edge:
        trial = par.copy()
        trial[i] = lower[i]
        if fn(trial) < fval + noise:
            new[i] = trial[i]
    return new, float(fn(new)), True


def optimize_glmer(data: GlmData, theta0: np.ndarray, lower_theta: np.ndarray, nAGQ: int, ctrl: dict,
                   eta_start: np.ndarray, beta_start: np.ndarray | None = None,
                   theta_init: np.ndarray | None = None) -> GlmerOpt:
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
    beta_start : ndarray, optional
        Stage 2's start of beta (``start$fixef``) instead of stage 1's.
    theta_init : ndarray, optional
        Where the first PIRLS runs (lme4: the model's default theta, whatever ``start`` says);
        default ``theta0``.
    """
    tol, maxit = ctrl["tolPwrss"], ctrl["maxit"]
    # lme4's mkGlmerDevfun: one PIRLS at the start values (joint, or u-only without the nAGQ = 0
    # initial step); its linear predictor is lp0.  Only its linear predictor is needed, unless stage 2
    # starts from it (no initial step)
    joint0 = ctrl["nAGQ0initStep"] or nAGQ == 0
    theta_r0 = theta0 if theta_init is None else theta_init
    kernel = compiled_objective(data)
    if kernel is not None and joint0:
        eta0 = kernel.run(theta_r0, None, True, data.offset, eta_start, tol, maxit).eta
    else:
        r0 = pirls(data, theta_r0, eta_start, data.offset, joint=joint0, tol=tol, maxit=maxit)
        eta0 = r0.eta
    obj0 = GlmerObjective(data, eta0 - data.offset, 0, tol, maxit)
    n_theta = len(theta0)
    opt1, opt2 = ctrl["optimizer"] or ("none", "none")
    if ctrl["optimizer"] is None:
        # the model at the start values: PIRLS at theta0 (stage 1 state there), beta given or joint PIRLS
        s1 = StageResult(np.asarray(theta0, dtype=float), float("nan"), 0, 0, "", "none")
        f1, r1 = obj0.evaluate(s1.par)
        if nAGQ == 0:
            return GlmerOpt(obj0, s1.par, f1, r1, s1, None, None, np.asarray(lower_theta, dtype=float))
        beta1 = r1.beta if beta_start is None else np.asarray(beta_start, dtype=float)
        obj = GlmerObjective(data, r1.eta - data.offset, nAGQ, tol, maxit)
        par = np.concatenate([s1.par, beta1])
        fval, state = obj.evaluate(par)
        s2 = StageResult(par, fval, 1, 0, "", "none")
        derivs = deriv12(obj, par, fx=fval) if ctrl["calc_derivs"] else None
        lower = np.concatenate([lower_theta, np.full(data.p, -np.inf)])
        return GlmerOpt(obj, par, fval, state, s1, s2, derivs, lower)
    if not ctrl["nAGQ0initStep"] and nAGQ > 0:
        # no stage 1: stage 2 starts at theta0 and the u-only PIRLS's beta (zero), as lme4
        s1 = StageResult(np.asarray(theta0, dtype=float), float("nan"), 0, 0, "", "none")
        r1, beta1 = r0, np.zeros(data.p) if beta_start is None else beta_start
        lp_stage2 = r0.eta - data.offset
    else:
        s1 = run_optimizer(opt1, obj0, theta0, lower_theta, 1, ctrl["optCtrl"])
        if nAGQ > 0 and kernel is not None:
            # stage 2 needs stage 1's linear predictor, beta and R_X only: the kernel gives them
            st = kernel.run(s1.par, None, True, data.offset, obj0.eta_start, tol, maxit)
            beta1 = st.beta if beta_start is None else np.asarray(beta_start, dtype=float)
            obj = GlmerObjective(data, st.eta - data.offset, nAGQ, tol, maxit)
            return _stage2(data, obj, s1, beta1, _rx_vcov(st.RXt), lower_theta, opt2, ctrl)
        f1, r1 = obj0.evaluate(s1.par)
        if nAGQ == 0:
            par, fval = s1.par, f1
            par, fval, changed = check_boundary(obj0, par, fval, lower_theta, n_theta, ctrl["boundary_tol"])
            if changed:
                fval, r1 = obj0.evaluate(par)
            return GlmerOpt(obj0, par, fval, r1, s1, None, None, np.asarray(lower_theta, dtype=float))
        beta1 = r1.beta if beta_start is None else np.asarray(beta_start, dtype=float)
        lp_stage2 = r1.eta - data.offset
    obj = GlmerObjective(data, lp_stage2, nAGQ, tol, maxit)
    if r1.system.p == data.p:
        unsc = r1.system.beta_vcov_unscaled(r1.factor)
    else:                            # after a u-only PIRLS: R_X at its last weights
        joint = data.joint_pattern.reweighted(r1.work_weights, r1.work_response)
        unsc = joint.beta_vcov_unscaled(joint.factor(s1.par))
    return _stage2(data, obj, s1, beta1, unsc, lower_theta, opt2, ctrl)


def _rx_vcov(RXt: np.ndarray) -> np.ndarray:
    """``(R_X' R_X)^-1`` from the lower-triangular ``R_X'``."""
    inv = np.linalg.inv(RXt)
    return inv.T @ inv


def _stage2(data: GlmData, obj: GlmerObjective, s1: StageResult, beta1: np.ndarray, unsc: np.ndarray,
            lower_theta: np.ndarray, opt2: str, ctrl: dict) -> GlmerOpt:
    """Stage 2 from stage 1's theta and ``beta1`` (steps from ``unsc``, the unscaled vcov of beta),
    then deriv12, the boundary check and the state at the optimum."""
    n_theta = len(s1.par)
    lower = np.concatenate([lower_theta, np.full(data.p, -np.inf)])
    s2 = run_optimizer(opt2, obj, np.concatenate([s1.par, beta1]), lower, 2, ctrl["optCtrl"],
                       beta_sd=np.sqrt(np.diag(unsc)), n_theta=n_theta)
    derivs = deriv12(obj, s2.par, fx=s2.fval) if ctrl["calc_derivs"] else None
    par, fval = s2.par, s2.fval
    par, fval, _ = check_boundary(obj, par, fval, lower, n_theta, ctrl["boundary_tol"])
    fval_state, state = obj.evaluate(par)
    return GlmerOpt(obj, par, fval, state, s1, s2, derivs, lower)
