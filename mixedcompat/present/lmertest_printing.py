"""lmerTest's printed summary of an lmer fit: t tests with Satterthwaite or Kenward-Roger df.

Same layout as lme4's summary (:mod:`mixedcompat.present.lme4_printing`) with lmerTest's title
(``Linear mixed model fit by REML. t-tests use Satterthwaite's method [lmerModLmerTest]``, wrapped
as R prints it) and R's ``printCoefmat`` of ``Estimate, Std. Error, df, t value, Pr(>|t|)``:
estimate, standard error and df share one format (df zapped), t values get 3 decimals, p-values
``format.pval(digits = 3)`` and significance stars with their legend.
"""
from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.present.lme4_printing import (COR_MAX, _call_lines, _fixef_cor_lines, _groups_lines, _residual_lines,
                        _aic_table, _warning_lines)
from mixedcompat.present.rformat import format_coefmat, format_real, print_matrix

__all__ = ["format_summary_ddf", "print_coefmat_pvalues", "format_pval", "SIGNIF_LEGEND"]

SIGNIF_LEGEND = "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"
EPS = float(np.finfo(float).eps)


def format_pval(pv: np.ndarray, digits: int = 3, eps: float = EPS) -> list[str]:
    """R's ``format.pval``: p-values below ``eps`` as ``"< 2e-16"``.

    Example
    -------
    >>> format_pval(np.array([1e-20, 3.26382e-06]))
    ['< 2e-16', '3.26e-06']
    """
    pv = np.asarray(pv, dtype=float)
    out = [""] * len(pv)
    is0 = pv < eps
    rr: list[str] = []
    if np.any(~is0):
        vals = pv[~is0]
        expo = np.floor(np.log10(np.where(vals > 0, vals, 1e-50)))
        fixp = (expo >= -4) | (vals == 0)     # R 4.2: 1e-4 <= p stays fixed (checked against R)
        rr = [""] * len(vals)
        for mask in (fixp, ~fixp):
            if np.any(mask):
                f = format_real(vals[mask], digits)
                for k, i in enumerate(np.flatnonzero(mask)):
                    rr[i] = f[k]
        for k, i in enumerate(np.flatnonzero(~is0)):
            out[i] = rr[k]
    if np.any(is0):
        d = max(1, digits - 2)
        if np.any(~is0):
            nc = max(len(s) for s in rr)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if (d == 1 and nc <= 6) else " "
        else:
            sep = "" if d == 1 else " "
        text = f"{eps:.{d - 1}e}" if d > 1 else f"{eps:.0e}"
        mant, ex = text.split("e")
        text = f"{mant}e{ex[0]}{ex[1:].lstrip('0').rjust(2, '0')}"
        for i in np.flatnonzero(is0):
            out[i] = "<" + sep + text
    return out


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "


def print_coefmat_pvalues(table: pd.DataFrame, digits: int = 4) -> list[str]:
    """Lines of lme4's ``printCoefmat(coefs, zap.ind = 3, digits = 4)`` for a table with df and p-values.

    Example
    -------
    >>> t = pd.DataFrame([[251.405, 6.825, 17.0, 36.838, 1e-17]],
    ...                  columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"], index=["(Intercept)"])
    >>> print_coefmat_pvalues(t)[1]
    '(Intercept)  251.405      6.825  17.000   36.84   <2e-16 ***'
    """
    x = table.to_numpy(dtype=float).copy()
    nc = x.shape[1]
    # lme4 asks for zap.ind = 3, yet R prints the df unrounded (zapsmall leaves them: checked on the fixtures)
    body = x[:, : nc - 1]
    cells = format_coefmat(body, digits, cs_ind=(0, 1, 2), tst_ind=(3,))
    pv = x[:, nc - 1]
    ok = np.isfinite(pv)
    pcells = ["NA"] * len(pv)
    if np.any(ok):
        for i, s in zip(np.flatnonzero(ok), format_pval(pv[ok], digits=max(1, min(5, digits - 1)))):
            pcells[i] = s
    cells = [row + [pcells[i]] for i, row in enumerate(cells)]
    cols = list(table.columns)
    stars = bool(np.any(pv[ok] < 0.1)) if np.any(ok) else False
    if stars:
        sym = [_stars(p) for p in pv]
        w = max(len(s) for s in sym)
        cells = [row + [sym[i].ljust(w)] for i, row in enumerate(cells)]
        cols = cols + [""]
    lines = print_matrix(cells, [str(i) for i in table.index], cols, right=True)
    if stars:
        lines += ["---", SIGNIF_LEGEND]
    return lines


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


class _VcovView:  # kept for callers wanting the adjusted correlation
    """The fit seen with another fixed-effects covariance (Kenward-Roger's adjusted one)."""

    def __init__(self, m: Any, vcov: pd.DataFrame):
        self._m, self._vcov = m, vcov

    def vcov(self) -> pd.DataFrame:
        return self._vcov

    def __getattr__(self, name: str):
        return getattr(self._m, name)


def format_summary_ddf(m: Any, ddf: str = "Satterthwaite", digits: int = 4,
                       correlation: bool | None = None, object_name: str = "x",
                       coefficients: pd.DataFrame | None = None) -> str:
    """lmerTest's ``print(summary(m, ddf = ddf))``, lines joined by newlines.

    Example
    -------
    >>> print(format_summary_ddf(m))  # doctest: +SKIP
    Linear mixed model fit by REML. t-tests use Satterthwaite's method [
    lmerModLmerTest]
    ...
    """
    from mixedcompat.inference.ftests import _normalise_ddf, coef_table
    method = _normalise_ddf(ddf)
    table = coefficients if coefficients is not None else coef_table(m, method)
    lines = _title_lines(m, method) + _call_lines(m, summary=True) + [""] + _aic_table(m, 1) + [""]
    lines += _residual_lines(m, digits) + [""]
    lines += ["Random effects:"] + m.VarCorr().format_lines(("Variance", "Std.Dev."), digits)
    lines += _groups_lines(m)
    names = list(table.index)
    view = m    # the correlation of fixed effects is lme4's (unadjusted) one also with Kenward-Roger
    if names:
        lines += ["", "Fixed effects:"]
        lines += print_coefmat_pvalues(table, digits)
        if correlation is None or correlation:
            cor_max = COR_MAX if correlation is None else len(names)
            lines += _fixef_cor_lines(view, names, object_name, cor_max)
    lines += _warning_lines(m, summary=True)
    return "\n".join(lines)
