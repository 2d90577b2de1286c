"""Result tables that print as R: a DataFrame with R's row and column names whose ``str()`` is R's text.

Inference modules build these tables from numbers; the text is :mod:`mixedcompat.present.rformat`'s.
"""
from __future__ import annotations

import pandas as pd

from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.rformat import print_anova

__all__ = ["AnovaTable"]


class AnovaTable(HtmlRepr, pd.DataFrame):
    """A DataFrame that prints like R's ``print.anova`` (heading, table, significance stars).

    ``.attrs["heading"]`` holds the heading: a list of lines (``"Data: sleepstudy"``,
    ``"Models:"``, ...; ``"\\n"`` inside an entry starts a new line, as R's ``cat``) or one string.
    Used by lme4's ``anova`` / ``drop1``, lmerTest's ``anova`` / ``drop1`` / ``ranova``.

    Examples
    --------
    >>> t = AnovaTable({"npar": [4.0, 6.0]}, index=["m0", "m1"])
    >>> t.attrs["heading"] = ["Models:"]
    >>> print(t)
    Models:
       npar
    m0    4
    m1    6
    """

    @property
    def _constructor(self):
        return AnovaTable

    def __str__(self) -> str:
        heading = self.attrs.get("heading", [])
        return "\n".join(print_anova(self, [heading] if isinstance(heading, str) else list(heading)))

    def __repr__(self) -> str:
        return self.__str__()

    def to_frame(self) -> pd.DataFrame:
        """The numbers as a plain DataFrame."""
        return pd.DataFrame(self)
