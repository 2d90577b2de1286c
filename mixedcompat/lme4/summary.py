"""``summary(m)`` for lmer fits: the coefficient table and the printed summary (lme4's or lmerTest's).

An ``LmerSummary`` sits above inference and presentation (lmerTest's tables come from
:mod:`mixedcompat.inference.ftests`, the text from :mod:`mixedcompat.present`): ``LmerMod.summary``
reaches it through the fit's delegating block.
"""
from __future__ import annotations

import functools

import pandas as pd

from mixedcompat.inference.ftests import coef_table, normalise_ddf
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.lme4_printing import format_fixef_table, format_summary
from mixedcompat.present.lmertest_printing import format_summary_ddf


class LmerSummary(HtmlRepr):
    """lme4's ``summary.merMod`` (``ddf=None``) or lmerTest's (``ddf="Satterthwaite"`` / ``"Kenward-Roger"``).

    ``str()`` prints as R; ``.coefficients`` is the fixed-effects table: ``Estimate, Std. Error,
    t value`` (lme4) or ``Estimate, Std. Error, df, t value, Pr(>|t|)`` (lmerTest; with
    Kenward-Roger the standard errors are from the adjusted covariance, as lmerTest).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> mc.summary(m, ddf="Satterthwaite").coefficients.columns.tolist()
    ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)']
    """

    def __init__(self, model, ddf: str | None = None):
        if ddf is not None:
            ddf = normalise_ddf(ddf)
            if ddf == "lme4":
                ddf = None
            elif ddf == "Kenward-Roger" and not model.REML:
                raise ValueError("Kenward-Roger's method is only available for REML model fits")
        self.model = model
        self.ddf = ddf

    @functools.cached_property
    def _table(self) -> pd.DataFrame:
        if self.ddf is None:
            return format_fixef_table(self.model)
        return coef_table(self.model, self.ddf)

    @property
    def coefficients(self) -> pd.DataFrame:
        return self._table.copy()

    def __str__(self) -> str:
        if self.ddf is None:
            return format_summary(self.model)
        return format_summary_ddf(self.model, self.ddf, coefficients=self.coefficients)

    def __repr__(self) -> str:
        return self.__str__()
