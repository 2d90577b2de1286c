"""lmerTest's printed summary of an lmer fit: t tests with Satterthwaite or Kenward-Roger df.

Same layout as lme4's summary (:mod:`mixedcompat.present.lme4_printing`) with lmerTest's title
(``Linear mixed model fit by REML. t-tests use Satterthwaite's method [lmerModLmerTest]``, wrapped
as R prints it) and R's ``printCoefmat`` of ``Estimate, Std. Error, df, t value, Pr(>|t|)``:
estimate, standard error and df share one format, t values get 3 decimals, p-values
``format.pval(digits = 3)`` and significance stars with their legend (all of it
:func:`mixedcompat.present.rformat.print_coefmat`, as lme4's ``print.summary.merMod`` calls
``printCoefmat(coefs, digits = digits)``).  The numbers come with the call (``coefficients``) or
from ``m.summary(ddf)``: this module computes no test.
"""
from __future__ import annotations

import textwrap
from typing import Any

import pandas as pd

from mixedcompat.present.lme4_printing import (COR_MAX, aic_table_lines, call_lines, fixef_cor_lines, groups_lines,
                                               residual_lines, warning_lines)
from mixedcompat.present.rformat import print_coefmat

__all__ = ["format_summary_ddf", "print_coefmat_pvalues"]


def print_coefmat_pvalues(table: pd.DataFrame, digits: int = 4) -> list[str]:
    """Lines of ``printCoefmat(coefs, digits = 4)`` for lmerTest's table (Estimate, Std. Error, df,
    t value, Pr(>|t|)): estimate, standard error and df share one format (lme4 1.1-31 asks for no
    ``zap.ind``), then stars and the legend.

    Examples
    --------
    >>> t = pd.DataFrame([[251.405, 6.825, 17.0, 36.838, 1e-17]],
    ...                  columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"], index=["(Intercept)"])
    >>> print_coefmat_pvalues(t)[1]
    '(Intercept)  251.405      6.825  17.000   36.84   <2e-16 ***'
    """
    return print_coefmat(table.to_numpy(dtype=float), [str(i) for i in table.index],
                         [str(c) for c in table.columns], digits)


def _title_lines(m: Any, method: str) -> list[str]:
    how = "REML" if m.REML else "maximum likelihood "
    mtit = f"Linear mixed model fit by {how}. t-tests use {method}'s method"
    cls = "lmerModLmerTest"
    lines = textwrap.wrap(mtit, width=79, subsequent_indent="  ", break_long_words=False,
                          break_on_hyphens=False)
    if len(lines[-1]) + len(cls) + 2 > 78:
        lines[-1] += " ["
        lines.append(cls + "]")
    else:
        lines[-1] += f" [{cls}]"
    return lines


def format_summary_ddf(m: Any, ddf: str = "Satterthwaite", digits: int = 4,
                       correlation: bool | None = None, object_name: str = "x",
                       coefficients: pd.DataFrame | None = None) -> str:
    """lmerTest's ``print(summary(m, ddf = ddf))``, lines joined by newlines.

    ``coefficients`` is lmerTest's table (:func:`mixedcompat.inference.ftests.coef_table`), with
    ``ddf`` its method's name (``"Satterthwaite"`` / ``"Kenward-Roger"``); without it the table and
    the name come from ``m.summary(ddf=ddf)``.

    Examples
    --------
    >>> print(format_summary_ddf(m))  # doctest: +SKIP
    Linear mixed model fit by REML. t-tests use Satterthwaite's method [
    lmerModLmerTest]
    ...
    """
    if coefficients is None:
        s = m.summary(ddf=ddf)
        method, table = s.ddf, s.coefficients
    else:
        method, table = ddf, coefficients
    lines = _title_lines(m, method) + call_lines(m, summary=True) + [""] + aic_table_lines(m, 1) + [""]
    lines += residual_lines(m, digits) + [""]
    lines += ["Random effects:"] + m.VarCorr().format_lines(("Variance", "Std.Dev."), digits)
    lines += groups_lines(m)
    names = list(table.index)
    if names:
        lines += ["", "Fixed effects:"]
        lines += print_coefmat_pvalues(table, digits)
        if correlation is None or correlation:
            # the correlation of fixed effects is lme4's (unadjusted) one also with Kenward-Roger
            cor_max = COR_MAX if correlation is None else len(names)
            lines += fixef_cor_lines(m, names, object_name, cor_max)
    lines += warning_lines(m, summary=True)
    return "\n".join(lines)
