"""mixedcompat: linear mixed models in Python that give the same numbers as R's lme4.

Example
-------
>>> import mixedcompat as mc
>>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
>>> print(mc.summary(m))  # doctest: +SKIP
"""
from . import datasets
from .errors import (ConvergenceWarning, DataError, FormulaError, RankDeficiencyWarning,
                     SingularFitWarning)
from .generics import (AIC, BIC, REMLcrit, VarCorr, coef, deviance, fitted, fixef, getME, isSingular,
                       logLik, ngrps, nobs, ranef, resid, residuals, sigma, summary, vcov)
from .lmer import LmerMod, LogLik, lmer

__version__ = "0.1.0"

__all__ = ["lmer", "LmerMod", "LogLik", "datasets", "FormulaError", "DataError", "ConvergenceWarning",
           "SingularFitWarning", "RankDeficiencyWarning", "fixef", "vcov", "sigma", "logLik", "AIC",
           "BIC", "deviance", "REMLcrit", "nobs", "ngrps", "VarCorr", "ranef", "coef", "fitted",
           "residuals", "resid", "getME", "isSingular", "summary"]
