"""The shape every fit object shares: :class:`MixedModel` (the abstract base) and :class:`LogLik`.

The fit classes are siblings under one base, as lme4's ``merMod`` with ``lmerMod`` / ``glmerMod`` and
MixedModels.jl's ``MixedModel`` with ``LinearMixedModel`` / ``GeneralizedLinearMixedModel``:

* :class:`mixedcompat.lme4.fit.LmerMod` (lme4's ``lmerMod``), and a future ``GlmerMod`` beside it;
* :class:`mixedcompat.nlme.fit.NlmeFit` (nlme's ``lme`` / ``gls``).

One style for all of them: a fit is **frozen** (no attribute is set after construction: ``update()`` /
``refit()`` build a new fit), its components are public read-only attributes with the same names for
the same things (``call``, ``control``, ``frame``, ``opt``, ``REML``, ``formula``), and the generic
surface below has one meaning.  AIC and BIC are computed here, from ``logLik()``, for every family.
The module that defines a fit class also defines how to fit, refit and update it; a fit's methods that
delegate to inference or presentation sit in one marked block of its class (the one import cycle of
the package, see ARCHITECTURE).

This module is a leaf: modules that only need to recognise a fit (``isinstance``) import it here,
never the fit modules.

Examples
--------
>>> import mixedcompat as mc
>>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
>>> isinstance(m, MixedModel), round(m.AIC(), 3)
(True, 1755.628)
"""
from __future__ import annotations

import abc
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.interop.statsmodels_api import StatsmodelsExtras
from mixedcompat.present.html import HtmlRepr

__all__ = ["LogLik", "MixedModel"]


class LogLik(HtmlRepr, float):
    """A log-likelihood value that carries its degrees of freedom, like R's ``logLik`` object.

    R equivalent: ``logLik(m)``, an object of class ``logLik`` (attributes ``df`` and ``nobs``).

    Parameters
    ----------
    value : float
        The log-likelihood (``float(ll)``).
    df : int
        Its degrees of freedom: the number of estimated parameters.
    nobs : int
        The number of observations.
    REML : bool, optional
        Whether it is a restricted (REML) log-likelihood (default ``False``).

    Examples
    --------
    >>> ll = LogLik(-871.8141, df=6, nobs=180)
    >>> float(ll), ll.df
    (-871.8141, 6)
    """

    def __new__(cls, value: float, df: int, nobs: int, REML: bool = False):
        obj = super().__new__(cls, value)
        obj.df = int(df)
        obj.nobs = int(nobs)
        obj.REML = bool(REML)
        return obj

    def __repr__(self) -> str:
        return f"'log Lik.' {float(self):.7g} (df={self.df})"

    def __reduce__(self):
        # a float subclass with required arguments: pickle rebuilds it from value and attributes
        return (LogLik, (float(self), self.df, self.nobs, self.REML))


def require_rows(m: Any, what: str) -> None:
    """Functions that read the rows of the data (``bootMer``, ``simulate``, Kenward-Roger ...) refuse
    a fit that does not hold them (a fit on a Dask DataFrame) with a :class:`DataError` saying so.

    Examples
    --------
    >>> class Fit:
    ...     holds_rows = False
    >>> require_rows(Fit(), "bootMer")
    Traceback (most recent call last):
    ...
    mixedcompat.errors.DataError: bootMer() needs the rows of the data in memory, which a fit on a Dask DataFrame does not hold: fit the model in memory (data.compute()) for bootMer
    """
    if not getattr(m, "holds_rows", True):
        raise DataError(f"{what}() needs the rows of the data in memory, which a fit on a Dask DataFrame does "
                        f"not hold: fit the model in memory (data.compute()) for {what}")


class MixedModel(HtmlRepr, StatsmodelsExtras, abc.ABC):
    """A fitted mixed model of any family: the generic surface and the frozen style.

    R equivalent: lme4's ``merMod`` and nlme's ``lme`` / ``gls`` classes: the fits :func:`mixedcompat.lmer`, :func:`mixedcompat.glmer`, :func:`mixedcompat.lme` and :func:`mixedcompat.gls` build.

    Subclasses implement the family's estimates (``fixef``, ``vcov``, ``sigma``, ``logLik``,
    ``nobs``, ``fitted``, ``residuals``, ``ranef``, ``coef``, ``VarCorr``), ``predict``, ``update``,
    ``summary`` and ``__str__``; ``simulate`` and ``refit`` where the R package has them.  ``AIC``,
    ``BIC``, ``__repr__`` and the statsmodels-style names (``params``, ``llf``, ``aic``...) are
    shared.  A subclass calls :meth:`_freeze` at the end of its constructor; from then on setting
    an attribute raises ``AttributeError`` (a lazily computed value uses
    ``functools.cached_property``, which does not go through ``__setattr__``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> isinstance(m, MixedModel), m.nobs
    (True, 108)
    """

    #: the R package whose generics the class mirrors ("lme4", "nlme"): R's anova of a mix of
    #: lme4 and nlme fits is nlme's (see :func:`mixedcompat.generics.anova`)
    r_package: str = ""
    #: whether the fit holds the rows of its data (False: a fit on a Dask DataFrame,
    #: :mod:`mixedcompat.partitioned`); what reads them calls :func:`require_rows`
    holds_rows: bool = True

    # ---------------------------------------------------------------- frozen
    def _freeze(self) -> None:
        """End of construction: no attribute is set after this."""
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"an {type(self).__name__} is immutable: cannot set {name!r} "
                                 f"(use update() / refit())")
        object.__setattr__(self, name, value)

    # ---------------------------------------------------------------- the family's estimates
    @property
    @abc.abstractmethod
    def nobs(self):
        """Number of observations used: ``m.nobs`` and ``m.nobs()`` (a ``CallableInt``)."""

    @abc.abstractmethod
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates with R's coefficient names."""

    @abc.abstractmethod
    def vcov(self) -> pd.DataFrame:
        """Variance-covariance matrix of the fixed-effects estimates."""

    @abc.abstractmethod
    def sigma(self) -> float:
        """Residual standard deviation."""

    @abc.abstractmethod
    def logLik(self) -> LogLik:
        """The (restricted) log-likelihood, with its degrees of freedom."""

    def deviance(self) -> float:
        """``-2 logLik`` (lme4's fits refine this for REML, see ``LmerMod.deviance``)."""
        return float(-2.0 * self.logLik())

    # ---------------------------------------------------------------- information criteria (one home)
    def _bic_nobs(self) -> int:
        """The number of observations BIC's penalty uses (nlme's REML fits: ``N - p``)."""
        return self.nobs()

    def AIC(self) -> float:
        """Akaike's criterion ``-2 logLik + 2 df``."""
        ll = self.logLik()
        return float(-2.0 * float(ll) + 2.0 * ll.df)

    def BIC(self) -> float:
        """Schwarz's criterion ``-2 logLik + log(n) df``."""
        ll = self.logLik()
        return float(-2.0 * float(ll) + np.log(self._bic_nobs()) * ll.df)

    # ---------------------------------------------------------------- after the fit
    @abc.abstractmethod
    def predict(self, newdata: pd.DataFrame | None = None, **kwargs: Any):
        """Predictions for the fitted rows or ``newdata``."""

    @abc.abstractmethod
    def update(self, *args: Any, **kwargs: Any) -> "MixedModel":
        """A new fit with a changed formula (R's ``update.formula`` syntax) or arguments."""

    def simulate(self, *args: Any, **kwargs: Any):
        """Responses simulated from the fit (families whose R package has ``simulate``)."""
        raise TypeError(f"simulate() does not apply to an object of type {type(self).__name__}")

    def refit(self, *args: Any, **kwargs: Any) -> "MixedModel":
        """The same model fitted to a new response (families whose R package has ``refit``)."""
        raise TypeError(f"refit() does not apply to an object of type {type(self).__name__}")

    @classmethod
    @abc.abstractmethod
    def anova_models(cls, *models: Any, **kwargs: Any):
        """The family's ``anova`` of one or several fits (called by :func:`mixedcompat.generics.anova`)."""

    # ---------------------------------------------------------------- printing hooks
    @abc.abstractmethod
    def summary(self, *args: Any, **kwargs: Any):
        """R's ``summary(m)``: an object whose ``str()`` is R's printed summary."""

    @abc.abstractmethod
    def __str__(self) -> str:
        """R's ``print(m)``."""

    def __repr__(self) -> str:
        return self.__str__()
