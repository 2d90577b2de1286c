"""``summary(m)`` for lmer fits: the coefficient table and the printed summary (lme4's or lmerTest's)."""
from __future__ import annotations

import pandas as pd


class LmerSummary:
    """lme4's ``summary.merMod`` (``ddf=None``) or lmerTest's (``ddf="Satterthwaite"`` / ``"Kenward-Roger"``).

    ``str()`` prints as R; ``.coefficients`` is the fixed-effects table: ``Estimate, Std. Error,
    t value`` (lme4) or ``Estimate, Std. Error, df, t value, Pr(>|t|)`` (lmerTest; with
    Kenward-Roger the standard errors are from the adjusted covariance, as lmerTest).

    Example
    -------
    >>> # s = mc.summary(m, ddf="Satterthwaite"); s.coefficients.columns.tolist()
    >>> # ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)']
    """

    def __init__(self, model, ddf: str | None = None):
        if ddf is not None:
            from mixedcompat.inference.ftests import normalise_ddf
            ddf = normalise_ddf(ddf)
            if ddf == "lme4":
                ddf = None
            elif ddf == "Kenward-Roger" and not model.REML:
                raise ValueError("Kenward-Roger's method is only available for REML model fits")
        self.model = model
        self.ddf = ddf
        self._coefficients: pd.DataFrame | None = None

    @property
    def coefficients(self) -> pd.DataFrame:
        if self._coefficients is None:
            if self.ddf is None:
                from mixedcompat.present.lme4_printing import format_fixef_table
                self._coefficients = format_fixef_table(self.model)
            else:
                from mixedcompat.inference.ftests import coef_table
                self._coefficients = coef_table(self.model, self.ddf)
        return self._coefficients.copy()

    def __str__(self) -> str:
        if self.ddf is None:
            from mixedcompat.present.lme4_printing import format_summary
            return format_summary(self.model)
        from mixedcompat.present.lmertest_printing import format_summary_ddf
        return format_summary_ddf(self.model, self.ddf, coefficients=self.coefficients)

    def __repr__(self) -> str:
        return self.__str__()
