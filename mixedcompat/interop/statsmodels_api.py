"""statsmodels-style extras for fit objects: ``nobs`` as attribute and method, ``conf_int``, ``pvalues``.

The R generics (``nobs(m)``) and statsmodels' attributes (``m.nobs``) share names; this module makes
both spellings work without changing the numbers the R-named methods return.

Examples
--------
>>> n = CallableInt(180)
>>> n(), n + 1, isinstance(n, int)
(180, 181, True)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["CallableInt", "PValuesUnavailable", "StatsmodelsExtras", "wald_conf_int", "pvalues_unavailable"]


class CallableInt(int):
    """An ``int`` that returns itself when called: ``m.nobs`` (statsmodels) and ``m.nobs()`` (R's generic).

    Examples
    --------
    >>> n = CallableInt(180)
    >>> n() == n == 180, n * 2, repr(n)
    (True, 360, '180')
    """

    def __new__(cls, value: Any) -> "CallableInt":
        return super().__new__(cls, int(value))

    def __call__(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return int.__repr__(int(self))


class PValuesUnavailable(AttributeError, NotImplementedError):
    """Raised by ``m.pvalues`` while no denominator-degrees-of-freedom method is chosen.

    An ``AttributeError`` so that ``hasattr(m, "pvalues")`` is ``False`` and ``getattr(m, "pvalues", None)``
    returns ``None`` (code written for statsmodels results keeps working); also a ``NotImplementedError``.
    """


PVALUES_MESSAGE = (
    "lme4 reports no p-values for lmer fits: the t statistics of the fixed effects have no known "
    "denominator degrees of freedom. Choose a ddf method: summary(m, ddf=\"Satterthwaite\") (as lmerTest) "
    "or ddf=\"Kenward-Roger\" (as pbkrtest) gives .coefficients with df and Pr(>|t|); anova(m, ddf=...) "
    "gives F tests; anova(m1, m2) a likelihood-ratio test."
)


def pvalues_unavailable(model: Any = None) -> pd.Series:
    """Raise :class:`PValuesUnavailable` with the explanation (the body of ``m.pvalues`` for now).

    Examples
    --------
    >>> try:
    ...     pvalues_unavailable()
    ... except AttributeError as exc:
    ...     print(str(exc)[:24])
    lme4 reports no p-values
    """
    raise PValuesUnavailable(PVALUES_MESSAGE)


def wald_conf_int(params: pd.Series, bse: pd.Series, alpha: float = 0.05) -> pd.DataFrame:
    """Wald intervals ``params -/+ z_(1 - alpha/2) * bse`` as statsmodels' ``conf_int``: columns ``0`` and ``1``.

    Examples
    --------
    >>> ci = wald_conf_int(pd.Series([1.0], index=["x"]), pd.Series([0.5], index=["x"]))
    >>> list(ci.columns), round(float(ci.loc["x", 0]), 4)
    ([0, 1], 0.02)
    """
    if not (isinstance(alpha, (int, float, np.floating)) and 0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha must be a number between 0 and 1, not {alpha!r}")
    z = float(stats.norm.ppf(1.0 - float(alpha) / 2.0))
    lower = params.values - z * bse.values
    upper = params.values + z * bse.values
    return pd.DataFrame({0: lower, 1: upper}, index=params.index)


class StatsmodelsExtras:
    """Mixin for fit classes: statsmodels' names on top of R's accessors (``params`` = ``fixef()``,
    ``tvalues``, ``llf``, ``aic``, ``bic``, ``fittedvalues``, ``cov_params()``), ``conf_int`` (Wald,
    from ``params`` and ``bse``, which the fit class defines) and ``pvalues``.

    Examples
    --------
    >>> class Fit(StatsmodelsExtras):
    ...     params = pd.Series([2.0], index=["b"])
    ...     bse = pd.Series([1.0], index=["b"])
    >>> round(float(Fit().conf_int().loc["b", 1]), 3)
    3.96
    >>> hasattr(Fit(), "pvalues")
    False
    """

    @property
    def params(self) -> pd.Series:
        return self.fixef()

    @property
    def tvalues(self) -> pd.Series:
        return self.params / self.bse

    @property
    def llf(self) -> float:
        return float(self.logLik())

    @property
    def aic(self) -> float:
        return self.AIC()

    @property
    def bic(self) -> float:
        return self.BIC()

    @property
    def fittedvalues(self) -> np.ndarray:
        return self.fitted()

    def cov_params(self) -> pd.DataFrame:
        return self.vcov()

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals of the fixed effects (normal quantiles, as statsmodels' MixedLM)."""
        return wald_conf_int(self.params, self.bse, alpha)

    @property
    def pvalues(self) -> pd.Series:
        """Not available until a ddf method exists (lme4 gives none); raises :class:`PValuesUnavailable`."""
        return pvalues_unavailable(self)
