"""lmerTest's printed least-squares means table (``print.ls_means``).

The heading ``Least Squares Means table:`` and a blank line; R's ``printCoefmat(x, digits = 5,
cs.ind = c(1:2, 5:6), tst.ind = 4, has.Pvalue = TRUE)`` with the df rounded to one decimal first
(Estimate, Std. Error, lower and upper share one format; t values get ``dig.tst`` decimals; p-values
``format.pval``, stars and their legend); then ``  Confidence level: 95%`` (``format(100 * level,
digits = 2)``) and ``  Degrees of freedom method: <method> ``.  The numbers come with the table:
this module computes no test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mixedcompat.present.rformat import format_number, print_coefmat, r_round

__all__ = ["format_ls_means"]

LSMEANS_HEADING = "Least Squares Means table:"


def format_ls_means(table: pd.DataFrame, level: float, ddf: str, digits: int = 5) -> list[str]:
    """Lines of lmerTest's ``print(ls_means(m))`` for a table with columns ``Estimate, Std. Error, df,
    t value, lower, upper, Pr(>|t|)``.

    Examples
    --------
    >>> t = pd.DataFrame([[52.35556, 2.229312, 5.80, 23.48, 46.86, 57.85, 5.3e-07]], index=["MachineA"],
    ...                  columns=["Estimate", "Std. Error", "df", "t value", "lower", "upper", "Pr(>|t|)"])
    >>> format_ls_means(t, 0.95, "Satterthwaite")[-1]
    '  Degrees of freedom method: Satterthwaite '
    """
    x = table.to_numpy(dtype=float).copy()
    if x.shape[0]:
        x[:, 2] = np.asarray(r_round(x[:, 2], 1), dtype=float)
    lines = [LSMEANS_HEADING, ""]
    lines += print_coefmat(x, [str(i) for i in table.index], [str(c) for c in table.columns], digits,
                           cs_ind=(0, 1, 4, 5), tst_ind=(3,), has_pvalue=True)
    lines += ["", f"  Confidence level: {format_number(100 * level, digits=2)}%",
              f"  Degrees of freedom method: {ddf} "]
    return lines
