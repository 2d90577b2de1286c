"""mixedcompat: linear mixed models in Python that give the same numbers as R's lme4.

Example
-------
>>> import mixedcompat as mc
>>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
>>> print(mc.summary(m))  # doctest: +SKIP
"""
from __future__ import annotations

import mixedcompat.datasets as datasets
from mixedcompat.lme4.convergence import make_cc
from mixedcompat.errors import (ConvergenceError, ConvergenceWarning, DataError, FormulaError, GradientWarning,
                     HessianWarning, IdentifiabilityWarning, KenwardRogerFallbackWarning,
                     MissingCellsWarning, RankDeficiencyWarning, ScaleWarning, SingularFitWarning,
                     VarparHessianWarning)
from mixedcompat.generics import (AIC, BIC, REMLcrit, VarCorr, coef, deviance, fitted, fixef, getME, isSingular,
                       logLik, ngrps, nobs, predict, ranef, refit, resid, residuals, sigma, simulate,
                       summary, update, vcov)
from mixedcompat.lme4.fit import LmerMod, LogLik, lmer
from mixedcompat.nlme import (gls, lme, pdCompSymm, pdDiag, pdIdent, pdLogChol, pdSymm)
from mixedcompat.nlme.structures import (corAR1, corARMA, corCAR1, corCompSymm, corExp, corGaus, corLin, corRatio,
                              corSpher, corSymm, varComb, varConstPower, varExp, varFixed, varIdent, varPower)

__version__ = "0.1.0"

__all__ = ["lmer", "LmerMod", "LogLik", "datasets", "FormulaError", "DataError", "ConvergenceWarning",
           "GradientWarning", "HessianWarning", "ConvergenceError", "ScaleWarning", "IdentifiabilityWarning",
           "make_cc", "VarparHessianWarning", "KenwardRogerFallbackWarning", "MissingCellsWarning",
           "SingularFitWarning", "RankDeficiencyWarning", "fixef", "vcov", "sigma", "logLik", "AIC",
           "BIC", "deviance", "REMLcrit", "nobs", "ngrps", "VarCorr", "ranef", "coef", "fitted",
           "residuals", "resid", "getME", "isSingular", "summary", "predict", "simulate", "refit",
           "update", "to_statsmodels", "from_statsmodels", "anova", "confint", "profile", "bootMer",
           "PBmodcomp", "boot_ci", "ranova", "drop1", "model_table", "cross_validate",
           "lme", "gls", "intervals", "getVarCov", "ACF", "Variogram", "pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "pdLogChol",
           "corAR1", "corCAR1", "corARMA", "corCompSymm", "corSymm", "corExp", "corGaus", "corSpher", "corLin",
           "corRatio", "varIdent", "varPower", "varExp", "varConstPower", "varFixed", "varComb"]


def intervals(m, level: float = 0.95, which: str = "all"):
    """nlme's ``intervals`` for lme / gls fits (see :mod:`mixedcompat.nlme.nlme_inference`)."""
    from mixedcompat.nlme.nlme_inference import intervals as _iv
    return _iv(m, level=level, which=which)


def getVarCov(m, individuals=None, type: str = "random.effects"):  # noqa: A002
    """nlme's ``getVarCov`` for lme / gls fits (see :meth:`mixedcompat.nlme.fit.NlmeFit.getVarCov`)."""
    return m.getVarCov(individuals=individuals, type=type)


def ACF(m, maxLag: int | None = None, resType: str = "pearson"):
    """nlme's ``ACF`` of an lme / gls fit's residuals (see :mod:`mixedcompat.nlme.diagnostics`)."""
    return m.ACF(maxLag=maxLag, resType=resType)


def Variogram(m, form: str | None = None, resType: str = "pearson", robust: bool = False, maxDist=None):
    """nlme's ``Variogram`` of an lme / gls fit's residuals (see :mod:`mixedcompat.nlme.diagnostics`)."""
    return m.Variogram(form=form, resType=resType, robust=robust, maxDist=maxDist)


def anova(*models, type=None, ddf: str = "Satterthwaite", refit: bool = True, **named_models):  # noqa: A002
    """R's ``anova`` (see :mod:`mixedcompat.inference`); keyword models are labelled by their names."""
    from mixedcompat.inference import anova as _anova
    return _anova(*models, type=type, ddf=ddf, refit=refit, **named_models)


def confint(m, parm=None, level: float = 0.95, method: str = "profile", nsim: int = 500, seed=None,
            oldNames: bool = True, **kwargs):
    """lme4's ``confint.merMod`` (see :mod:`mixedcompat.inference.intervals`)."""
    from mixedcompat.inference.intervals import confint as _confint
    return _confint(m, parm=parm, level=level, method=method, nsim=nsim, seed=seed, oldNames=oldNames, **kwargs)


def profile(m, **kwargs):
    """lme4's ``profile.merMod`` (see :mod:`mixedcompat.inference.profile`)."""
    from mixedcompat.inference.profile import profile as _profile
    return _profile(m, **kwargs)


def bootMer(m, FUN, nsim: int = 1, seed=None, use_u: bool = False, type: str = "parametric",  # noqa: A002
            parallel=None, progress: bool = True, **kwargs):
    """lme4's ``bootMer`` (see :mod:`mixedcompat.inference.bootstrap`)."""
    from mixedcompat.inference.bootstrap import bootMer as _boot
    return _boot(m, FUN, nsim=nsim, seed=seed, use_u=use_u, type=type, parallel=parallel,
                 progress=progress, **kwargs)


def PBmodcomp(large, small, nsim: int = 1000, seed=None, **kwargs):
    """pbkrtest's ``PBmodcomp`` (see :mod:`mixedcompat.inference.bootstrap`)."""
    from mixedcompat.inference.bootstrap import PBmodcomp as _pb
    return _pb(large, small, nsim=nsim, seed=seed, **kwargs)


def boot_ci(b, type: str = "perc", level: float = 0.95, index=None):  # noqa: A002
    """R's ``boot.ci`` for a :func:`bootMer` result (see :mod:`mixedcompat.inference.bootstrap`)."""
    from mixedcompat.inference.bootstrap import boot_ci as _ci
    return _ci(b, type=type, level=level, index=index)


def ranova(m, **kwargs):
    """lmerTest's ``ranova`` (see :mod:`mixedcompat.inference.lrt`)."""
    from mixedcompat.inference.lrt import ranova as _ranova
    return _ranova(m, **kwargs)


def drop1(m, test: str | None = None, ddf: str = "Satterthwaite", **kwargs):
    """``drop1``: lmerTest's F tests of single term deletions (``ddf`` = "Satterthwaite" or
    "Kenward-Roger", the default, as lmerTest), or lme4's AIC / likelihood-ratio table when ``test``
    is given (``test="Chisq"`` or ``"none"``, see :func:`mixedcompat.inference.lrt.drop1`)."""
    if test is None and not kwargs:
        from mixedcompat.inference.ftests import drop1_ftable
        return drop1_ftable(m, ddf=ddf)
    from mixedcompat.inference.lrt import drop1 as _drop1
    return _drop1(m, test="none" if test is None else test, **kwargs)


def model_table(*models, **kwargs):
    """AIC/BIC table over several fits (see :mod:`mixedcompat.inference.selection`)."""
    from mixedcompat.inference.selection import model_table as _table
    return _table(*models, **kwargs)


def cross_validate(m, folds=None, groups=None, **kwargs):
    """Out-of-sample RMSE and log predictive density per fold (see :mod:`mixedcompat.inference.selection`)."""
    from mixedcompat.inference.selection import cross_validate as _cv
    return _cv(m, folds=folds, groups=groups, **kwargs)


def to_statsmodels(formula: str, data):
    """The equivalent statsmodels ``MixedLM`` (see :mod:`mixedcompat.interop.statsmodels_convert`)."""
    from mixedcompat.interop.statsmodels_convert import to_statsmodels as _to
    return _to(formula, data)


def from_statsmodels(model, groups: str | None = None) -> str:
    """The lme4 formula of a statsmodels ``MixedLM`` (see :mod:`mixedcompat.interop.statsmodels_convert`)."""
    from mixedcompat.interop.statsmodels_convert import from_statsmodels as _from
    return _from(model, groups=groups)
