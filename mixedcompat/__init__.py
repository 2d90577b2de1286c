"""mixedcompat: linear mixed models in Python that give the same numbers as R's lme4.

Example
-------
>>> import mixedcompat as mc
>>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
>>> print(mc.summary(m))  # doctest: +SKIP
"""
from __future__ import annotations

from . import datasets
from .errors import (ConvergenceWarning, DataError, FormulaError, RankDeficiencyWarning,
                     SingularFitWarning)
from .generics import (AIC, BIC, REMLcrit, VarCorr, coef, deviance, fitted, fixef, getME, isSingular,
                       logLik, ngrps, nobs, predict, ranef, refit, resid, residuals, sigma, simulate,
                       summary, update, vcov)
from .lmer import LmerMod, LogLik, lmer

__version__ = "0.1.0"

__all__ = ["lmer", "LmerMod", "LogLik", "datasets", "FormulaError", "DataError", "ConvergenceWarning",
           "SingularFitWarning", "RankDeficiencyWarning", "fixef", "vcov", "sigma", "logLik", "AIC",
           "BIC", "deviance", "REMLcrit", "nobs", "ngrps", "VarCorr", "ranef", "coef", "fitted",
           "residuals", "resid", "getME", "isSingular", "summary", "predict", "simulate", "refit",
           "update", "to_statsmodels", "from_statsmodels"]


def to_statsmodels(formula: str, data):
    """The equivalent statsmodels ``MixedLM`` (see :mod:`mixedcompat.interop`)."""
    from .interop import to_statsmodels as _to
    return _to(formula, data)


def from_statsmodels(model, groups: str | None = None) -> str:
    """The lme4 formula of a statsmodels ``MixedLM`` (see :mod:`mixedcompat.interop`)."""
    from .interop import from_statsmodels as _from
    return _from(model, groups=groups)
