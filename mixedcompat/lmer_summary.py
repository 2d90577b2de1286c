"""``summary(m)`` for lmer fits: the coefficient table and lme4's printed summary."""
from __future__ import annotations

import pandas as pd


class LmerSummary:
    """lme4's ``summary.merMod``: ``str()`` prints as lme4; ``.coefficients`` is the fixed-effects table.

    Example
    -------
    >>> # s = mc.summary(m); s.coefficients.columns.tolist()
    >>> # ['Estimate', 'Std. Error', 't value']
    """

    def __init__(self, model, ddf: str | None = None):
        if ddf is not None:
            raise NotImplementedError(
                f"summary(m, ddf={ddf!r}): Satterthwaite / Kenward-Roger degrees of freedom are not "
                "implemented yet; use ddf=None for lme4's table")
        self.model = model
        self.ddf = ddf

    @property
    def coefficients(self) -> pd.DataFrame:
        from .printing import format_fixef_table
        return format_fixef_table(self.model, ddf=self.ddf)

    def __str__(self) -> str:
        from .printing import format_summary
        return format_summary(self.model)

    def __repr__(self) -> str:
        return self.__str__()
