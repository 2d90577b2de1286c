"""``lme`` and ``gls``: nlme's linear mixed-effects and generalised least squares fits.

Example
-------
>>> import mixedcompat as mc
>>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ age | Subject")
>>> round(float(m.logLik()), 4)
-221.3183
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.numerics.threads import blas_threads
from mixedcompat.nlme.estimate import DEFAULT_CONTROL, maximise
from mixedcompat.nlme.fit import NlmeFit
from mixedcompat.nlme.model_setup import build, parse_random


def _method(method: str) -> str:
    if method not in ("REML", "ML"):
        raise DataError(f"method must be 'REML' or 'ML', not {method!r}")
    return method


def _check_control(control: dict | None) -> dict:
    ctl = dict(control or {})
    unknown = set(ctl) - set(DEFAULT_CONTROL)
    if unknown:
        raise DataError(f"unknown control setting(s) {sorted(unknown)}; known: {sorted(DEFAULT_CONTROL)}")
    return ctl


def _start_fitted(lik, ols_fitted: np.ndarray) -> np.ndarray:
    """nlme's first fitted values of a ``fitted(.)`` variance function in ``lme``: the innermost-level
    fitted values (BLUPs included) of the model at its starting values, where the variance function's
    weights are constant (``Initialize.lmeStruct`` runs ``MEestimate`` before the first ``update``)."""
    try:
        sol = lik.solve(lik.start(), ols_fitted)
        out = lik.fitted_levels(sol.beta, sol.b)[-1]
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        return ols_fitted
    return out if np.all(np.isfinite(out)) else ols_fitted


def _fit(kind: str, fixed: str, data: pd.DataFrame, random, correlation, weights, method: str, na_action: str,
         control: dict | None) -> NlmeFit:
    method = _method(method)
    ctl = _check_control(control)
    levels = parse_random(random) if kind == "lme" else []
    with blas_threads(1):
        setup = build(fixed, data, levels, correlation, weights, method == "REML", na_action)
        lik = setup.lik
        fitted0 = None
        if lik.uses_fitted:
            beta = np.linalg.lstsq(lik.X, lik.y, rcond=None)[0]
            fitted0 = lik.X @ beta
            if lik.levels:
                fitted0 = _start_fitted(lik, fitted0)
        est = maximise(lik, lik.start(), fitted0, ctl)
        call = {"fixed": fixed, "data": data, "random": random, "correlation": correlation, "weights": weights,
                "method": method, "na_action": na_action, "control": control}
        return NlmeFit(kind, setup, est, method, call, ctl)


def lme(fixed: str, data: pd.DataFrame, random=None, correlation=None, weights=None, method: str = "REML",
        na_action: str = "omit", control: dict | None = None) -> NlmeFit:
    """Linear mixed-effects model as nlme's ``lme``.

    Parameters
    ----------
    fixed : str
        Two-sided formula of the fixed effects, ``"distance ~ age * Sex"``.
    data : pandas.DataFrame
    random : str, pdMat, dict or list
        ``"~ age | Subject"``, ``"~ 1 | Worker/Machine"``, ``{"Subject": mc.pdDiag("~ age")}``.
    correlation : corStruct, optional
        ``mc.corAR1()``, ``mc.corExp(form="~ x + y", nugget=True)``, ...; its groups default to the
        innermost random-effects grouping.
    weights : varFunc, optional
        ``mc.varIdent(form="~ 1 | Sex")``, ``mc.varPower()``, ...
    method : {"REML", "ML"}
    na_action : {"omit", "fail"}
    control : dict, optional
        ``maxeval``, ``xtol_rel``, ``ftol_rel`` (BOBYQA), ``max_outer``, ``outer_tol`` (alternation for
        variance functions of the fitted values), ``rel_step`` (apVar's finite differences).

    Returns
    -------
    NlmeFit

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> round(m.sigma(), 4)
    1.4316
    """
    return _fit("lme", fixed, data, random, correlation, weights, method, na_action, control)


def gls(model: str, data: pd.DataFrame, correlation=None, weights=None, method: str = "REML",
        na_action: str = "omit", control: dict | None = None) -> NlmeFit:
    """Generalised least squares as nlme's ``gls`` (correlated and/or heteroscedastic errors).

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.gls("distance ~ age", mc.datasets.load("Orthodont"))
    >>> round(float(m.logLik()), 4)
    -254.5847
    """
    return _fit("gls", model, data, None, correlation, weights, method, na_action, control)
