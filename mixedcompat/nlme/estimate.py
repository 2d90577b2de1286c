"""Maximising nlme's (restricted) likelihood, and nlme's approximate covariance of the variance parameters.

``maximise`` runs NLopt's BOBYQA on the profiled criterion of :class:`NlmeLikelihood`, restarted
from its own answer until a restart no longer lowers the criterion: BOBYQA's trust region can
shrink far from the optimum on the curved, nearly flat criteria of correlation structures (corSymm,
corRatio, corSpher) and constant-plus-power variance functions, and stop there reporting
convergence; a fresh trust region moves on.  A second path from the same start, a quasi-Newton
descent (as nlme's ``nlminb``) polished the same way, is taken too and the lower criterion kept:
BOBYQA's first steps can land in another basin than the one the gradient points to.  As in nlme (``nlminb`` on the same unconstrained
scale), the correlation and variance parameters are not bounded: a bound anywhere is wrong for
some data (corCAR1's ``logit(phi)`` is near ``log(0.5) / lag`` for lags of 1e-3; a power of a
covariate close to 1 can be in the hundreds), and outside the representable range the criterion
is infinite, which the optimiser treats as a wall.

When the variance function depends on the fitted values (``varPower()``'s default
``~ fitted(.)``), it alternates as nlme does: the fitted values are held fixed while the parameters
are optimised, then updated, until they stop changing.

``approximate_vcov`` is nlme's ``apVar``: the inverse of the numerical Hessian of the
(restricted) log-likelihood, with beta profiled, in nlme's "natural" parameterisation (log standard
deviations and ``log((1+r)/(1-r))`` of the random effects on the response scale, the unconstrained
correlation and variance parameters, and ``log(sigma)``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from mixedcompat.errors import ConvergenceWarning
from mixedcompat.nlme.likelihood import NlmeLikelihood
from mixedcompat.numerics.optimizers import BOBYQA_FAILURE, BOBYQA_MAXEVAL, bobyqa, lbfgsb

BOUND = np.inf             # no bound on the unconstrained correlation / variance parameters (as nlme)
DEFAULT_CONTROL = {"maxeval": 20000, "xtol_rel": 1e-8, "ftol_rel": 1e-12, "max_outer": 100,
                   "outer_tol": 1e-7, "apVar": True, "rel_step": 1e-3, "max_restarts": 30, "two_paths": True}
# a restart that lowers the criterion by less than this (relative) ends the restarts
RESTART_FTOL = 1e-11


@dataclass(frozen=True)
class Estimate:
    params: np.ndarray
    criterion: float
    fitted: np.ndarray | None      # the fitted values a fitted(.) variance function was evaluated at
    n_eval: int
    n_outer: int
    converged: bool
    message: str


def _bobyqa(fun, start: np.ndarray, control: dict, lower: np.ndarray | None = None,
            upper: np.ndarray | None = None, step: np.ndarray | None = None) -> tuple[np.ndarray, float, int, str]:
    """The project's BOBYQA (:func:`mixedcompat.numerics.optimizers.bobyqa`) with nlme's settings: tight
    tolerances, parameters bounded only where given (``lower`` / ``upper``, capped at +/- BOUND), and a
    trust region on each parameter's own scale (relative standard deviations can be in the hundreds)."""
    n = len(start)
    lo = np.full(n, -BOUND) if lower is None else np.maximum(np.asarray(lower, float), -BOUND)
    hi = np.full(n, BOUND) if upper is None else np.minimum(np.asarray(upper, float), BOUND)
    x0 = np.clip(start, lo, np.where(np.isfinite(hi), hi - 1e-6, np.inf))
    settings = {"xtol_abs": 1e-10, "ftol_abs": 0.0, "xtol_rel": control["xtol_rel"],
                "ftol_rel": control["ftol_rel"], "maxeval": control["maxeval"],
                "initial_step": np.maximum(0.5, 0.25 * np.abs(np.asarray(start, float))) if step is None else step}
    x, fval, n_eval, code = bobyqa(fun, x0, lo, settings, upper=hi)
    if code == BOBYQA_FAILURE:
        msg = "converged (round-off limited)"
    elif code == BOBYQA_MAXEVAL or code < 0:
        msg = "iteration limit reached"
    else:
        msg = "converged"
    return x, fval, n_eval, msg


def _bobyqa_restarted(fun, start: np.ndarray, control: dict, lower: np.ndarray,
                      upper: np.ndarray, step: np.ndarray | None = None) -> tuple[np.ndarray, float, int, str]:
    """:func:`_bobyqa` in runs of at most ``100 (n + 1)`` evaluations, each restarted from the last
    answer with a fresh trust region, until a run that converged lowers the criterion by less than
    ``RESTART_FTOL`` (relative) or ``control["maxeval"]`` evaluations are spent (at most
    ``control["max_restarts"]`` restarts).  A run whose trust region has shrunk far from the optimum
    crawls (thousands of evaluations for a few units of log-likelihood); a restart moves on.
    ``step``: the initial trust-region radius of every run (default: on each parameter's scale)."""
    n = len(start)
    budget = int(control["maxeval"])
    cap = 100 * (n + 1)
    x, f, total, msg = np.asarray(start, float), np.inf, 0, "iteration limit reached"
    for _ in range(int(control["max_restarts"]) + 1):
        run = min(cap, budget - total)
        if run < 2 * n + 2:
            msg = "iteration limit reached"
            break
        x2, f2, n2, msg2 = _bobyqa(fun, x, dict(control, maxeval=run), lower, upper, step)
        total += n2
        gain = f - f2
        if f2 <= f:
            x, f = x2, f2
        capped = msg2 == "iteration limit reached"
        msg = "converged" if not capped else msg2
        if not np.isfinite(f) or (not capped and not gain > RESTART_FTOL * max(1.0, abs(f))):
            break
    return x, f, total, msg


def _quasi_newton_then_bobyqa(fun, start: np.ndarray, control: dict, lower: np.ndarray,
                              upper: np.ndarray, step=None) -> tuple[np.ndarray, float, int, str]:
    """A second path from nlme's start: a bounded quasi-Newton descent
    (:func:`~mixedcompat.numerics.optimizers.lbfgsb`) into the basin the gradient points to, polished
    by :func:`_bobyqa_restarted`.  BOBYQA's first trust-region steps can carry it into another basin (a corARMA(1, 1) ridge where the AR and MA
    roots cancel, a corLin kink)."""
    start = np.asarray(start, float)
    n = len(start)
    xq, n_q = lbfgsb(fun, start, lower, upper, {"maxfun": 40 * (n + 1), "maxiter": 200})
    x0 = xq if xq is not None and np.isfinite(fun(xq)) else start
    x, f, n_eval, msg = _bobyqa_restarted(fun, x0, control, lower, upper)
    return x, f, n_eval + n_q, msg


def _quasi_newton(fun, start: np.ndarray, control: dict, lower: np.ndarray, upper: np.ndarray,
                  step=None) -> tuple[np.ndarray, float, int, str]:
    """A local descent alone (:func:`~mixedcompat.numerics.optimizers.lbfgsb`): from a warm start it
    stays in the basin it starts in."""
    x0 = np.asarray(start, float)
    x, n_q = lbfgsb(fun, x0, lower, upper, {"maxfun": 200 * (len(x0) + 1), "maxiter": 1000,
                                            "ftol": 1e-14, "gtol": 1e-9})
    if x is None:
        return x0, fun(x0), n_q, "iteration limit reached"
    f = fun(x)
    if not np.isfinite(f) or f > fun(x0):
        return x0, fun(x0), n_q, "converged"
    return x, f, n_q, "converged"


def _two_paths(fun, start: np.ndarray, control: dict, lower: np.ndarray,
               upper: np.ndarray, step=None) -> tuple[np.ndarray, float, int, str]:
    """The better of :func:`_bobyqa_restarted` and :func:`_quasi_newton_then_bobyqa` from ``start``
    (the second only when ``control["two_paths"]``)."""
    x, f, n_eval, msg = _bobyqa_restarted(fun, start, control, lower, upper)
    if not control.get("two_paths", True):
        return x, f, n_eval, msg
    x2, f2, n2, msg2 = _quasi_newton_then_bobyqa(fun, start, control, lower, upper)
    if f2 < f:
        return x2, f2, n_eval + n2, msg2
    return x, f, n_eval + n2, msg


def maximise(lik: NlmeLikelihood, start: np.ndarray, fitted0: np.ndarray | None,
             control: dict | None = None) -> Estimate:
    """Minimise -2 (restricted) log-likelihood over the parameters (outer loop for fitted(.))."""
    ctl = dict(DEFAULT_CONTROL, **(control or {}))
    if lik.n_par == 0:
        return Estimate(np.zeros(0), lik.criterion(np.zeros(0), fitted0), fitted0, 1, 0, True, "no parameters")
    x = np.asarray(start, float)
    if not lik.uses_fitted:
        x, f, n_eval, msg = _two_paths(lambda v: lik.criterion(v), x, ctl, lik.lower(), lik.upper(BOUND))
        return Estimate(x, f, None, n_eval, 1, msg.startswith("converged"), msg)
    # the alternation can settle at different fixed points depending on how far each pass moves: a
    # global first pass (BOBYQA and the gradient path) can jump to an inner optimum from which the
    # alternation drifts along a ridge where the weights depend ever more steeply on the fitted values
    # (varConstPower: const -> 0, power -> -inf), while nlme's warm-started local descent stays in
    # the basin of its start.  Both alternations are run and the one whose criterion at its own fitted
    # values is lower is kept (a finished one before an unfinished one)
    first = [_two_paths, _quasi_newton] if ctl.get("two_paths", True) else [_two_paths]
    best, caught = None, []
    for opt in first:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            est = _alternate(lik, x, fitted0, ctl, opt)
        rank = (est.converged, -est.criterion if np.isfinite(est.criterion) else -np.inf)
        if best is None or rank > best_rank:
            best, best_rank, caught = est, rank, w
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=3)
    return best


def _alternate(lik: NlmeLikelihood, x: np.ndarray, fitted: np.ndarray, ctl: dict, first_optimiser) -> Estimate:
    """nlme's alternation for a variance function of the fitted values: the parameters are optimised
    with the fitted values held fixed (``first_optimiser`` on the first pass, a warm-started BOBYQA
    with a small trust region after), then the fitted values are updated, until they stop changing."""
    total = 0
    step = None
    for it in range(1, int(ctl["max_outer"]) + 1):
        # after the first pass the optimum moves only as far as the fitted values do: a small trust
        # region keeps BOBYQA from wandering along flat directions, so the alternation contracts to
        # its fixed point (as nlme's nlminb, warm-started, does) instead of jittering around it
        optimiser = first_optimiser if step is None or first_optimiser is _quasi_newton else _bobyqa
        x_new, f, n_eval, msg = optimiser(lambda v: lik.criterion(v, fitted), x, ctl, lik.lower(),
                                          lik.upper(BOUND), step)
        step = np.maximum(1e-3 * np.maximum(np.abs(x_new), 1.0), 2.0 * np.abs(x_new - x))
        step = np.minimum(step, 0.5 * np.maximum(np.abs(x_new), 1.0))
        total += n_eval
        sol = lik.solve(x_new, fitted)
        new_fitted = lik.fitted_levels(sol.beta, sol.b)[-1]
        if not np.isfinite(lik.criterion(x_new, new_fitted)):
            # the new fitted values give weights the criterion cannot use (a variance function of
            # the fitted values at 0 or overflowing): keep the fitted values the parameters fit
            warnings.warn("the variance function of the fitted values is not finite at the updated fitted "
                          "values; the alternation stopped", ConvergenceWarning, stacklevel=4)
            return Estimate(x_new, f, fitted, total, it, False, "fitted values left the domain")
        change = np.max(np.abs(new_fitted - fitted)) / max(1.0, np.max(np.abs(fitted)))
        x, fitted = x_new, new_fitted
        if change < ctl["outer_tol"]:
            # the criterion at the final fitted values (the ones the weights are evaluated at)
            return Estimate(x, lik.criterion(x, fitted), fitted, total, it, True, msg)
    warnings.warn(f"fitted values of the variance function did not settle in {ctl['max_outer']} iterations",
                  ConvergenceWarning, stacklevel=4)
    return Estimate(x, lik.criterion(x, fitted), fitted, total, int(ctl["max_outer"]), False,
                    "outer iteration limit reached")


# --- nlme's apVar -------------------------------------------------------------------------------------------
def natural_vector(lik: NlmeLikelihood, params: np.ndarray, sigma: float) -> np.ndarray:
    """[pd natural params per level (response scale), cor u, var u, log sigma]."""
    re_pars, cor_u, var_u = lik.split(params)
    parts = [lv.pd.natural_from_cov(lv.pd.relative_cov(rp) * sigma ** 2) for lv, rp in zip(lik.levels, re_pars)]
    if cor_natural(lik):     # corSymm: nlme's corNatural, log((1 + r) / (1 - r)) per correlation
        rho = lik.cor.natural(cor_u)
        cor_u = np.log((1 + rho) / (1 - rho))
    return np.concatenate(parts + [cor_u, var_u, [np.log(sigma)]])


def cor_natural(lik: NlmeLikelihood) -> bool:
    """Whether apVar uses nlme's natural parameterisation of the correlation structure (corSymm)."""
    return lik.cor is not None and lik.n_cor > 0 and getattr(lik.cor, "class_name", "") == "corSymm"


def _from_natural(lik: NlmeLikelihood, nat: np.ndarray) -> tuple[np.ndarray, float]:
    log_sigma = nat[-1]
    s2 = np.exp(2.0 * log_sigma)
    out, k = [], 0
    for lv in lik.levels:
        m = lv.pd.n_par
        Psi = lv.pd.cov_from_natural(nat[k:k + m])
        out.append(lv.pd.par_from_cov(Psi / s2))
        k += m
    rest = np.array(nat[k:-1], float)
    if cor_natural(lik):
        rest[:lik.n_cor] = lik.cor.unconstrained(np.tanh(rest[:lik.n_cor] / 2.0))
    out.append(rest)
    return np.concatenate(out), log_sigma


def _hessian(f, x0: np.ndarray, h: np.ndarray) -> np.ndarray:
    k = len(x0)
    H = np.zeros((k, k))
    f0 = f(x0)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        H[i, i] = (f(x0 + ei) - 2 * f0 + f(x0 - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (f(x0 + ei + ej) - f(x0 + ei - ej) - f(x0 - ei + ej) + f(x0 - ei - ej)) / (
                4 * h[i] * h[j])
    return H


def approximate_vcov(lik: NlmeLikelihood, params: np.ndarray, sigma: float, fitted: np.ndarray | None,
                     rel_step: float = 1e-3) -> np.ndarray:
    """nlme's ``apVar``: inverse Hessian of -log-likelihood on the natural scale (central differences).

    Two passes: steps ``rel_step * max(|x|, 1)`` give first standard errors; the final steps are 1%
    of those when smaller (inside the region where the log-likelihood is quadratic, far above its
    rounding noise), so the result does not depend on the step (nlme's own fdHess, with a step of ~6e-6 relative,
    moves by up to ~1.5% when its step changes)."""
    x0 = natural_vector(lik, params, sigma)

    def f(nat):
        p, ls = _from_natural(lik, nat)
        return 0.5 * lik.full_minus2ll(p, ls, fitted)

    h = rel_step * np.maximum(np.abs(x0), 1.0)
    V = np.linalg.inv(_hessian(f, x0, h))
    d = np.diag(V)
    if np.all(np.isfinite(d)) and np.all(d > 0):
        h2 = np.clip(0.01 * np.sqrt(d), 1e-5 * np.maximum(np.abs(x0), 1.0), h)
        V2 = np.linalg.inv(_hessian(f, x0, h2))
        d2 = np.diag(V2)
        if np.all(np.isfinite(d2)) and np.all(d2 > 0):
            return V2
    return V
