"""mixedcompat: linear mixed models in Python that give the same numbers as R's lme4.

Examples
--------
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
from mixedcompat.generics import (ACF, AIC, BIC, REMLcrit, VarCorr, Variogram, anova, coef, deviance, drop1,
                                  fitted, fixef, getME, getVarCov, intervals, isSingular, logLik, ngrps, nobs,
                                  predict, ranef, refit, resid, residuals, sigma, simulate, summary, update, vcov)
from mixedcompat.inference.bootstrap import bootMer, boot_ci
from mixedcompat.inference.contest import contest, show_tests
from mixedcompat.inference.emm_contrasts import contrast, emmeans, pairs
from mixedcompat.inference.intervals import confint
from mixedcompat.inference.lrt import ranova
from mixedcompat.inference.lsmeans import difflsmeans, ls_means
from mixedcompat.inference.step import get_model, step
from mixedcompat.inference.modcomp import KRmodcomp, SATmodcomp, getKR, getSAT, vcovAdj
from mixedcompat.inference.pbmodcomp import PBmodcomp, PBrefdist, getLRT
from mixedcompat.inference.profile import profile
from mixedcompat.inference.selection import cross_validate, model_table
from mixedcompat.interop.statsmodels_convert import from_statsmodels, to_statsmodels
from mixedcompat.entry import lmer
from mixedcompat.lme4.fit import LmerMod, mkMerMod
from mixedcompat.lme4.modular import glFormula, lFormula, mkLmerDevfun, optimizeLmer
import mixedcompat.lme4.simulate_formula  # noqa: F401  (registers simulate(formula, ...))
from mixedcompat.lme4.api import (cooks_distance, extractAIC, hatvalues, isGLMM, isLMM, isNLMM, isREML, model_frame,
                                  model_matrix, refitML, terms)
from mixedcompat.lme4.allfit import allFit
from mixedcompat.lme4.influence import dfbeta, dfbetas, influence
from mixedcompat.glm import families as family
from mixedcompat.glmer.fit import GlmerMod, glmer
from mixedcompat.glmer.negbin import glmer_nb
from mixedcompat.model import LogLik, MixedModel
from mixedcompat.lmlist import lmList
from mixedcompat.nlme.augpred import augPred
from mixedcompat.nlme.control import lmeControl
from mixedcompat.nlme import (gls, lme, pdBlocked, pdCompSymm, pdDiag, pdIdent, pdLogChol, pdSymm)
from mixedcompat.nlme.structures import (corAR1, corARMA, corCAR1, corCompSymm, corExp, corGaus, corLin, corRatio,
                              corSpher, corSymm, varComb, varConstPower, varExp, varFixed, varIdent, varPower)

__version__ = "0.1.0"

__all__ = ["contest", "show_tests", "step", "get_model", "ls_means", "difflsmeans", "emmeans", "contrast", "pairs", "lmer", "LmerMod", "glmer", "GlmerMod", "glmer_nb", "family", "LogLik", "MixedModel", "datasets", "FormulaError", "DataError", "ConvergenceWarning",
           "GradientWarning", "HessianWarning", "ConvergenceError", "ScaleWarning", "IdentifiabilityWarning",
           "make_cc", "VarparHessianWarning", "KenwardRogerFallbackWarning", "MissingCellsWarning",
           "SingularFitWarning", "RankDeficiencyWarning", "fixef", "vcov", "sigma", "logLik", "AIC",
           "BIC", "deviance", "REMLcrit", "nobs", "ngrps", "VarCorr", "ranef", "coef", "fitted",
           "residuals", "resid", "getME", "isSingular", "summary", "predict", "simulate", "refit",
           "update", "to_statsmodels", "from_statsmodels", "anova", "confint", "profile", "bootMer",
           "PBmodcomp", "PBrefdist", "getLRT", "getSAT", "KRmodcomp", "SATmodcomp", "getKR", "vcovAdj", "boot_ci", "ranova", "drop1", "model_table", "cross_validate",
           "lme", "gls", "intervals", "getVarCov", "ACF", "Variogram", "pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "pdLogChol",
           "corAR1", "corCAR1", "corARMA", "corCompSymm", "corSymm", "corExp", "corGaus", "corSpher", "corLin",
           "corRatio", "varIdent", "varPower", "varExp", "varConstPower", "varFixed", "varComb",
           "isREML", "isLMM", "isGLMM", "isNLMM", "refitML", "extractAIC", "model_frame", "model_matrix", "terms",
           "hatvalues", "cooks_distance", "allFit", "influence", "dfbeta", "dfbetas", "lFormula", "glFormula",
           "mkLmerDevfun", "optimizeLmer", "mkMerMod", "lmList", "pdBlocked", "augPred", "lmeControl"]

