"""``lme`` and ``gls``: nlme's linear mixed-effects and generalised least squares fits (the front doors;
the fitting and the fit object are :mod:`mixedcompat.nlme.fit`'s).

Examples
--------
>>> import mixedcompat as mc
>>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ age | Subject")
>>> round(float(m.logLik()), 4)
-221.3183
"""
from __future__ import annotations

import pandas as pd

from mixedcompat.nlme.fit import NlmeFit, fit_nlme


def lme(fixed: str, data: pd.DataFrame, random=None, correlation=None, weights=None, method: str = "REML",
        na_action: str = "omit", control: dict | None = None) -> NlmeFit:
    """Linear mixed-effects model as nlme's ``lme``.

    R equivalent: ``nlme::lme(fixed, data, random = ~ 1 | Subject, correlation, weights, method = "REML")``.

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
        nlme's ``lmeControl`` names (``mc.lmeControl(...)`` or a dict: ``{"msMaxIter": 200, "opt": "optim"}``;
        what each does here: :mod:`mixedcompat.nlme.control`), and mixedcompat's own ``maxeval``,
        ``xtol_rel``, ``ftol_rel`` (BOBYQA), ``max_outer``, ``outer_tol`` (alternation for variance
        functions of the fitted values), ``rel_step`` (apVar's finite differences).

    Returns
    -------
    NlmeFit

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> round(m.sigma(), 4)
    1.4316
    """
    return fit_nlme("lme", fixed, data, random, correlation, weights, method, na_action, control)


def gls(model: str, data: pd.DataFrame, correlation=None, weights=None, method: str = "REML",
        na_action: str = "omit", control: dict | None = None) -> NlmeFit:
    """Generalised least squares as nlme's ``gls`` (correlated and/or heteroscedastic errors).

    R equivalent: ``nlme::gls(model, data, correlation = corAR1(form = ~ 1 | Mare), weights = varPower(), method = "REML")``.

    A linear model whose errors have the covariance ``sigma^2 V``: ``V`` is built from a
    correlation structure within groups and a variance function; fitted by REML (default) or ML
    with nlme's parameterisation, so estimates, ``logLik``, ``intervals`` and ``anova`` tables are
    nlme's.

    Parameters
    ----------
    model : str
        Two-sided formula of the mean, ``"follicles ~ sin(2*pi*Time) + cos(2*pi*Time)"``.
    data : pandas.DataFrame
        The data; factors as for :func:`mixedcompat.lmer`.
    correlation : corStruct, optional
        ``mc.corAR1(form="~ 1 | Mare")``, ``mc.corCompSymm(form="~ 1 | Subject")``,
        ``mc.corExp(form="~ x + y", nugget=True)``...; ``None`` (default): independent errors.
    weights : varFunc, optional
        ``mc.varIdent(form="~ 1 | Sex")``, ``mc.varPower()``...; ``None`` (default): constant
        variance.
    method : {"REML", "ML"}, optional
        The criterion (default ``"REML"``; use ``"ML"`` to compare fixed effects by likelihood).
    na_action : {"omit", "fail"}, optional
        Drop rows with missing values in the variables used (default), or raise
        :class:`~mixedcompat.DataError`.
    control : dict, optional
        Optimiser settings, as for :func:`lme`.

    Returns
    -------
    NlmeFit
        The fit: the generics (``fixef``, ``vcov``, ``logLik``, ``summary``, ``intervals``,
        ``anova``, ``getVarCov``, ``ACF``, ``Variogram``...) apply; ``m.cor_params`` and
        ``m.var_params`` hold the structures' estimates on nlme's natural scale.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.gls("distance ~ age", mc.datasets.load("Orthodont"))
    >>> round(float(m.logLik()), 4)
    -254.5847
    >>> m = mc.gls("follicles ~ 1", mc.datasets.load("Ovary"), correlation=mc.corAR1(form="~ 1 | Mare"))
    >>> round(float(m.cor_params[0]), 2)
    0.79
    """
    return fit_nlme("gls", model, data, None, correlation, weights, method, na_action, control)
