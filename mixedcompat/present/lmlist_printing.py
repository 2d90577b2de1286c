"""The printed text of ``lmList`` fits as lme4 1.1-31 (``lmList4``) and nlme 3.1-162 (``lmList``) show
them: ``print``, ``summary``, lme4's ``confint`` and nlme's ``intervals`` (R's 3-d arrays).

The objects are read, nothing is computed but R's formatting; cells R holds as ``NA`` (not ``NaN``)
come marked in the objects' ``na`` masks.

Examples
--------
>>> import mixedcompat as mc
>>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"), package="nlme")
>>> format_lmlist(fl).splitlines()[1]
'  Model: Reaction ~ Days | Subject '
"""
from __future__ import annotations

import numpy as np

from mixedcompat.present.nlme_printing import deparse
from mixedcompat.present.rformat import format_real, print_matrix

__all__ = ["format_lmlist", "format_summary", "format_confint", "format_intervals"]


def _cells(values: np.ndarray, na: np.ndarray) -> list[list[str]]:
    """A numeric matrix formatted column by column as ``print.default`` (NA and NaN as R shows them)."""
    cols = []
    for j in range(values.shape[1]):
        col = [None if na[i, j] else float(values[i, j]) for i in range(values.shape[0])]
        cols.append(format_real(col))
    return [[cols[j][i] for j in range(values.shape[1])] for i in range(values.shape[0])]


def _model_lines(fl, group_text: str) -> list[str]:
    """nlme's ``Call:`` block: the model (``y ~ x | g``) and the data's name."""
    lhs, rest = fl.formula.split("~", 1)
    cov, _ = rest.rsplit("|", 1)
    model = f"{' '.join(deparse(lhs.strip()))} ~ {' '.join(deparse(cov.strip()))} | {group_text}"
    return ["Call:", f"  Model: {model} ", f"   Data: {fl.data_name} ", ""]


def _coef_frame(fl) -> list[str]:
    c = fl.coef()
    return print_matrix(_cells(c.to_numpy(), np.isnan(c.to_numpy())), list(c.index), list(c.columns))


def _pool_lines(fl) -> list[str]:
    sd, df = fl.pooled_sd()
    return ["", f"Degrees of freedom: {fl.n_fitted()} total; {df} residual",
            f"Residual standard error: {format_real([sd])[0]}"]


def format_lmlist(fl) -> str:
    """``print(lmList(...))``: lme4's ``show`` (its call) or nlme's ``print.lmList`` (model, data).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))
    >>> format_lmlist(fl).splitlines()[0]
    'Call: lmList(formula = Reaction ~ Days | Subject, data = sleepstudy) '
    """
    if fl.package == "lme4":
        na = "" if fl.na_action is None else f", na.action = na.{fl.na_action.replace('na.', '')}"
        call = f"lmList(formula = {fl.formula}, data = {fl.data_name}{na}{'' if fl.pool else ', pool = FALSE'})"
        lines = [f"Call: {' '.join(deparse(call))} ", "Coefficients:"]
    else:
        lines = _model_lines(fl, fl.group_name) + ["Coefficients:"]
    lines += _coef_frame(fl)
    if fl.pool:
        lines += _pool_lines(fl)
    return "\n".join(lines)


def format_summary(s) -> str:
    """``print(summary(lmList(...)))``: nlme's ``print.summary.lmList`` (lme4's summary has no
    grouping formula: it prints ``| NULL``, as lme4 1.1-31 does).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"), package="nlme")
    >>> format_summary(fl.summary()).splitlines()[5]
    '   (Intercept) '
    """
    fl = s.model
    group = "NULL" if fl.package == "lme4" else fl.group_name
    lines = _model_lines(fl, group) + ["Coefficients:"]
    for name, tab in s.coefficients.items():
        lines.append(f"   {name} ")
        lines += print_matrix(_cells(tab.to_numpy(), s.na[name]), list(tab.index), list(tab.columns))
    if s.pool:
        lines += ["", f"Residual standard error: {format_real([s.RSE])[0]} on {s.df_residual} degrees of freedom"]
    return "\n".join(lines + [""]) + "\n"


def _array(tables, na) -> list[str]:
    lines: list[str] = []
    for name, tab in tables.items():
        lines += [f", , {name}", ""]
        lines += print_matrix(_cells(tab.to_numpy(), na[name]), list(tab.index), list(tab.columns))
        lines.append("")
    return lines


def format_confint(ci) -> str:
    """lme4's ``print(confint(lmList4))``: the class line, then the groups x bounds x coefficients array.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))
    >>> format_confint(fl.confint()).splitlines()[0]
    'An object of class "lmList4.confint"'
    """
    return "\n".join(['An object of class "lmList4.confint"'] + _array(ci, ci.na)) + "\n"


def format_intervals(iv) -> str:
    """nlme's ``print(intervals(lmList))``: the groups x (lower, est., upper) x coefficients array.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"), package="nlme")
    >>> format_intervals(fl.intervals()).splitlines()[0]
    ', , (Intercept)'
    """
    return "\n".join(_array(iv, iv.na)) + "\n"
