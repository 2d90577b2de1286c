"""R-named generic functions (``fixef(m)``, ``VarCorr(m)``, ``anova(m0, m1)``...) that call the fit's methods.

As R's S3 generics dispatch on the class of their argument, each function here hands its work to a
method of the fit object (:class:`mixedcompat.model.MixedModel` and its subclasses), so the same call
works for lmer and lme / gls fits.  This module imports no fit module.
"""
from __future__ import annotations

from typing import Any


# one real call per generic, on sleepstudy's lmer fit (the docstrings' examples)
_EXAMPLES = {
    "fixef": ('fixef(m).round(2).tolist()', '[251.41, 10.47]'),
    "vcov": ('vcov(m).shape', '(2, 2)'),
    "sigma": ('round(sigma(m), 4)', '25.5918'),
    "logLik": ('logLik(m)', "'log Lik.' -871.8141 (df=6)"),
    "AIC": ('round(AIC(m), 3)', '1755.628'),
    "BIC": ('round(BIC(m), 3)', '1774.786'),
    "deviance": ('round(deviance(m, REML=False), 3)', '1751.986'),
    "REMLcrit": ('round(REMLcrit(m), 3)', '1743.628'),
    "nobs": ('nobs(m)', '180'),
    "ngrps": ('ngrps(m)', "{'Subject': 18}"),
    "VarCorr": ('VarCorr(m).to_frame()["sdcor"].round(3).tolist()', '[24.741, 5.922, 0.066, 25.592]'),
    "ranef": ('ranef(m)["Subject"].shape', '(18, 2)'),
    "coef": ('coef(m)["Subject"].shape', '(18, 2)'),
    "fitted": ('fitted(m).shape', '(180,)'),
    "residuals": ('residuals(m).shape', '(180,)'),
    "getME": ('getME(m, "theta").round(4).tolist()', '[0.9667, 0.0152, 0.2309]'),
    "isSingular": ('isSingular(m)', 'False'),
    "summary": ('summary(m).coefficients.shape', '(2, 3)'),
    "predict": ('predict(m).shape', '(180,)'),
    "simulate": ('simulate(m, nsim=2, seed=1).shape', '(180, 2)'),
    "refit": ('round(refit(m, m.frame.y).REMLcrit(), 3)', '1743.628'),
    "update": ('update(m, ". ~ . - Days").formula', "'Reaction ~ (Days | Subject)'"),
}


_FORMULA_METHODS: dict = {}
"""Generics that also take a formula first (R's ``simulate.formula``): name -> function, registered by
the module that implements it (as R's S3 registration), so that this module imports no fit module."""


def register_formula_method(name: str, fun: Any) -> None:
    """Make the generic ``name`` hand a formula (a string or a parsed tree) first argument to ``fun``.

    Example
    -------
    >>> register_formula_method("simulate", _FORMULA_METHODS["simulate"])   # what simulate_formula does
    """
    _FORMULA_METHODS[name] = fun


def _method(name: str):
    def generic(model: Any, *args, **kwargs):
        if name in _FORMULA_METHODS and (isinstance(model, str) or type(model).__name__ in ("Node", "FormulaParts")):
            return _FORMULA_METHODS[name](model, *args, **kwargs)
        try:
            method = getattr(model, name)
        except AttributeError:
            raise TypeError(f"{name}() does not apply to an object of type {type(model).__name__}") from None
        return method(*args, **kwargs)

    generic.__name__ = name
    generic.__qualname__ = name
    doc = f"R's ``{name}(m)``: the same as ``m.{name}()``.\n"
    if name in _EXAMPLES:
        call, shown = _EXAMPLES[name]
        doc += ("\nExample\n-------\n>>> import mixedcompat as mc\n"
                ">>> m = mc.lmer(\"Reaction ~ Days + (Days | Subject)\", mc.datasets.load(\"sleepstudy\"))\n"
                f">>> from mixedcompat.generics import {name}\n>>> {call}\n{shown}\n")
    generic.__doc__ = doc
    return generic


_NAMES = ["fixef", "vcov", "sigma", "logLik", "AIC", "BIC", "deviance", "REMLcrit", "nobs", "ngrps",
          "VarCorr", "ranef", "coef", "fitted", "residuals", "getME", "isSingular", "summary",
          "predict", "simulate", "refit", "update"]

fixef = _method("fixef")
vcov = _method("vcov")
sigma = _method("sigma")
logLik = _method("logLik")
AIC = _method("AIC")
BIC = _method("BIC")
deviance = _method("deviance")
REMLcrit = _method("REMLcrit")
nobs = _method("nobs")
ngrps = _method("ngrps")
VarCorr = _method("VarCorr")   # VarCorr(m, comp=...): the fit's method takes R's print argument
ranef = _method("ranef")
coef = _method("coef")
fitted = _method("fitted")
residuals = _method("residuals")
getME = _method("getME")
isSingular = _method("isSingular")
summary = _method("summary")
predict = _method("predict")
simulate = _method("simulate")
refit = _method("refit")
update = _method("update")
resid = residuals



def anova(*models: Any, type: int | str | None = None, ddf: str = "Satterthwaite", refit: bool = True,  # noqa: A002
          **named_models: Any):
    """R's ``anova``: one model -> F tests of the fixed effects (lmerTest; nlme's for lme / gls
    fits); several -> a likelihood-ratio table (lme4's; nlme's when any model is an lme / gls fit).
    Keyword models are labelled by their names.

    The table is made by the fit class's ``anova_models`` (see :class:`mixedcompat.model.MixedModel`):
    the class of the first lme / gls fit among the models when there is one (nlme's ``anova``
    takes the models in any order), else the class of the first model.

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> list(anova(m).index)
    ['Days']
    """
    fits = list(models) + [v for k, v in named_models.items() if k != "model_names"]
    if not fits:
        raise TypeError("anova() needs at least one fitted model")
    lead = next((m for m in fits if getattr(m, "r_package", None) == "nlme"), fits[0])
    method = getattr(lead, "anova_models", None)
    if method is None:
        raise TypeError(f"anova() does not apply to an object of type {lead.__class__.__name__}")
    return method(*models, type=type, ddf=ddf, refit=refit, **named_models)


def drop1(m: Any, test: str | None = None, ddf: str = "Satterthwaite", **kwargs: Any):
    """``drop1``: lmerTest's F tests of single term deletions (``ddf`` = "Satterthwaite" or
    "Kenward-Roger", the default, as lmerTest), or lme4's AIC / likelihood-ratio table when ``test``
    is given (``test="Chisq"`` or ``"none"``, see :func:`mixedcompat.inference.lrt.drop1`).

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> drop1(m).index.tolist()
    ['Days']
    """
    return _method("drop1")(m, test=test, ddf=ddf, **kwargs)


def intervals(m: Any, level: float = 0.95, which: str = "all"):
    """nlme's ``intervals`` for lme / gls fits (see :mod:`mixedcompat.nlme.nlme_inference`).

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> sorted(intervals(m).keys())
    ['fixed', 'reStruct', 'sigma']
    """
    return _method("intervals")(m, level=level, which=which)


def getVarCov(m: Any, individuals: Any = None, type: str = "random.effects"):  # noqa: A002
    """nlme's ``getVarCov`` for lme / gls fits (see :meth:`mixedcompat.nlme.fit.NlmeFit.getVarCov`).

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> getVarCov(m).shape
    (1, 1)
    """
    return m.getVarCov(individuals=individuals, type=type)


def ACF(m: Any, maxLag: int | None = None, resType: str = "pearson"):
    """nlme's ``ACF`` of an lme / gls fit's residuals (see :mod:`mixedcompat.nlme.diagnostics`).

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> ACF(m).columns.tolist()
    ['lag', 'ACF']
    """
    return m.ACF(maxLag=maxLag, resType=resType)


def Variogram(m: Any, form: str | None = None, resType: str = "pearson", robust: bool = False, maxDist: Any = None):
    """nlme's ``Variogram`` of an lme / gls fit's residuals (see :mod:`mixedcompat.nlme.diagnostics`).

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> Variogram(m).columns.tolist()
    ['variog', 'dist', 'n.pairs']
    """
    return m.Variogram(form=form, resType=resType, robust=robust, maxDist=maxDist)


__all__ = _NAMES + ["resid", "anova", "drop1", "intervals", "getVarCov", "ACF", "Variogram"]
