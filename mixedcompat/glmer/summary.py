"""``summary(m)`` for glmer fits: lme4's ``summary.merMod`` of a ``glmerMod`` -- the coefficient table with
z tests and the printed summary.

A ``GlmerSummary`` sits above presentation (the text is :mod:`mixedcompat.present.glmer_printing`'s):
``GlmerMod.summary`` reaches it through the fit's delegating block.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.present.glmer_printing import format_glmer_summary, glmer_coef_table, method_title
from mixedcompat.present.html import HtmlRepr

__all__ = ["GlmerSummary"]


class GlmerSummary(HtmlRepr):
    """lme4's ``summary(m)`` of a glmer fit; ``str()`` prints as R's ``print(summary(m))``.

    Parameters
    ----------
    model : GlmerMod
    use_hessian : bool, optional
        lme4's ``use.hessian``: standard errors from the finite-difference Hessian (the default when
        it is available, as lme4 1.1-31) or, with ``False``, from R_X.  As lme4, the printed
        correlation of fixed effects is ``vcov(m)``'s (the Hessian's) either way.
    correlation : bool, optional
        Print the correlation of fixed effects (default: when 1 < p <= 12).

    Attributes
    ----------
    coefficients : DataFrame
        ``Estimate, Std. Error, z value, Pr(>|z|)`` (``t value`` for families with a scale).
    method_title, family, link, AICtab, logLik, sigma, use_scale, ngrps, residuals, varcor, vcov
        As the components of lme4's ``summary.merMod`` object.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")
    >>> mc.summary(m).coefficients.columns.tolist()
    ['Estimate', 'Std. Error', 'z value', 'Pr(>|z|)']
    """

    def __init__(self, model: Any, use_hessian: bool | None = None, correlation: bool | None = None):
        self.model = model
        self.use_hessian = use_hessian
        self.correlation = correlation

    @functools.cached_property
    def _table(self) -> pd.DataFrame:
        return glmer_coef_table(self.model, self.use_hessian)

    @property
    def coefficients(self) -> pd.DataFrame:
        return self._table.copy()

    @property
    def method_title(self) -> str:
        return method_title(self.model.nAGQ)

    @property
    def family(self) -> str:
        return self.model.family.family

    @property
    def link(self) -> str:
        link = self.model.family.link
        return getattr(link, "name", link)

    @property
    def logLik(self):
        return self.model.logLik()

    @property
    def AICtab(self) -> pd.Series:
        """lme4's ``AICtab``: AIC, BIC, logLik, deviance (-2 log L) and df.resid."""
        m = self.model
        ll = float(m.logLik())
        return pd.Series([float(m.AIC()), float(m.BIC()), ll, -2.0 * ll, float(m.df_residual)],
                         index=["AIC", "BIC", "logLik", "deviance", "df.resid"])

    @property
    def sigma(self) -> float:
        return float(self.model.sigma())

    @property
    def use_scale(self) -> bool:
        return bool(self.model.use_scale)

    @property
    def ngrps(self) -> dict:
        return self.model.ngrps()

    @property
    def residuals(self) -> np.ndarray:
        """Scaled Pearson residuals (what the summary's quantiles are of)."""
        return self.model.residuals(type="pearson", scaled=True)

    @property
    def varcor(self):
        return self.model.VarCorr()

    @property
    def vcov(self) -> pd.DataFrame:
        return self.model.vcov() if self.use_hessian is None else self.model.vcov(use_hessian=self.use_hessian)

    def __str__(self) -> str:
        return format_glmer_summary(self.model, correlation=self.correlation, coefficients=self._table)

    def __repr__(self) -> str:
        return self.__str__()
