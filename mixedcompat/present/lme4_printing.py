"""lme4's printed text of a fitted linear mixed model: ``print(m)`` and ``print(summary(m))``.

The fit is read through a small protocol (attributes ``formula``, ``data_name``,
``weights_name``, ``offset_name`` (optional: ``control_name``, ``subset_name``, the R text of those
arguments), ``REML``, ``df_residual``, ``optinfo`` and methods
``REMLcrit()``, ``deviance()``, ``logLik()``, ``AIC()``, ``BIC()``, ``residuals(type, scaled)``,
``VarCorr()``, ``ngrps()``, ``nobs()``, ``fixef()``, ``vcov()``), so any object providing it prints
like an ``lmerMod``. ``m.optinfo`` is a dict with ``optimizer``, ``conv_code``, ``messages``
(lme4's convergence messages), ``warnings`` (optimizer warnings) and optionally ``message``
(the optimizer's own text, shown when ``conv_code != 0``) and ``fit_warnings`` (lme4's notes on
the design, e.g. the rank-deficiency message, printed under "fit warnings:").
Number formatting is :mod:`mixedcompat.present.rformat`; formulas are deparsed as R does by
:func:`deparse_formula`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.front.rlang import Node, binop, deparse, is_binop, num, paren, parse, split_top
from mixedcompat.present.rformat import (abbreviate, cat_number, format_real, print_coefmat, print_matrix,
                      print_named_vector, quantile7, r_round, strwrap, zapsmall)

__all__ = ["deparse_formula", "deparse_lines", "cat_fill", "format_fixef_table",
           "format_summary", "format_print", "title_lines", "call_lines", "aic_table_lines", "residual_lines",
           "groups_lines", "warning_lines", "fixef_cor_lines", "COR_MAX"]

PRINT_WIDTH = 80
COR_MAX = 12  # getOption("lme4.summary.cor.max")

# ---------------------------------------------------------------- lme4's expandDoubleVerts

def _term_labels(node: Node) -> tuple[list[Node], bool]:
    """Term labels (as nodes, R's order: by interaction order) and whether there is an intercept."""
    intercept, labels = True, []
    for t in split_top(node, "+"):
        if t.kind == "num" and t.text in ("0", "1"):
            intercept = t.text == "1"
        elif t.kind == "unop" and t.value == "-" and t.args[0] == num(1):
            intercept = False
        elif is_binop(t, "-") and t.args[1] == num(1):
            sub, _ = _term_labels(t.args[0])
            labels += sub
            intercept = False
        elif is_binop(t, "*"):
            a, _ = _term_labels(t.args[0])
            b, _ = _term_labels(t.args[1])
            labels += a + b + [binop(":", x, y) for x in a for y in b]
        elif t.kind == "paren" and is_binop(t.args[0], "+", "*"):
            sub, _ = _term_labels(t.args[0])
            labels += sub
        else:
            labels.append(t)
    unique = list(dict.fromkeys(labels))
    return sorted(unique, key=_interaction_order), intercept


def _interaction_order(node: Node) -> int:
    if is_binop(node, ":"):
        return _interaction_order(node.args[0]) + _interaction_order(node.args[1])
    return 1


def _expand_double_verts(node: Node) -> Node:
    """lme4's ``expandDoubleVerts``: ``(x || g)`` becomes ``((1 | g) + (0 + x | g))``."""
    if is_binop(node, "||"):
        labels, intercept = _term_labels(node.args[0])
        group = _expand_double_verts(node.args[1])
        parts = [paren(binop("|", binop("+", num(0), lab), group)) for lab in labels]
        if intercept:
            parts.insert(0, paren(binop("|", num(1), group)))
        out = parts[0]
        for p in parts[1:]:
            out = binop("+", out, p)
        return out
    if node.kind in ("binop", "paren", "unop"):
        return Node(node.kind, node.value, tuple(_expand_double_verts(a) for a in node.args))
    return node


# ---------------------------------------------------------------- R's deparse (width.cutoff = 60)

def deparse_lines(formula: str | Node, cutoff: int = 60) -> list[str]:
    """R's ``deparse()`` of a formula (text or tree) as lme4 stores it in the call (``||`` expanded).

    Returns the lines R produces with ``width.cutoff = 60``.

    Examples
    --------
    >>> deparse_lines("Reaction~Days+(Days||Subject)")
    ['Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))']
    """
    return deparse(_expand_double_verts(parse(formula) if isinstance(formula, str) else formula), cutoff)


def deparse_formula(formula: str | Node) -> str:
    """A formula (text or tree) spaced as R deparses it (one line, ``||`` expanded as lme4 does).

    Examples
    --------
    >>> deparse_formula("y~x*f+(1|a/b)+log(z+1)+I(x^2)")
    'y ~ x * f + (1 | a/b) + log(z + 1) + I(x^2)'
    """
    return " ".join(line.strip() for line in deparse_lines(formula, cutoff=10**9))


def cat_fill(items: Sequence[str], width: int = PRINT_WIDTH, sep: str = " ") -> list[str]:
    """Lines of R's ``cat(..., fill = TRUE)``: the separator is written before each item, and
    an item that would pass ``width`` starts a new line.

    Examples
    --------
    >>> cat_fill(["Number of obs: 180, groups: ", "Subject, 18"])
    ['Number of obs: 180, groups:  Subject, 18']
    """
    lines, cur, used = [], "", 0
    for k, item in enumerate(items):
        if k > 0:
            cur += sep
            if used + len(item) + len(sep) > width:
                lines.append(cur)
                cur, used = "", 0
        cur += item
        used += len(item) + len(sep)
    if used > 0:
        lines.append(cur)
    return lines


# ---------------------------------------------------------------- pieces of the printout

def title_lines(method_title: str, cls: str, width: int = PRINT_WIDTH) -> list[str]:
    """lme4's ``.prt.methTit``: ``<title> ['<class>']``, or, when that would pass ``width``, the title
    wrapped (``strwrap`` to ``width - 2``, continuation lines indented by 2) and `` [<class>]`` (no
    quotes) written after it as ``cat(..., sep = "", fill = TRUE)`` does.

    Examples
    --------
    >>> title_lines("Linear mixed model fit by REML", "lmerMod")
    ["Linear mixed model fit by REML ['lmerMod']"]
    >>> title_lines("Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)",
    ...             "glmerMod")
    ['Generalized linear mixed model fit by maximum likelihood (Laplace', '  Approximation) [glmerMod]']
    """
    if len(method_title) + 5 + len(cls) > width:
        return cat_fill(strwrap(method_title, width - 2, exdent=2) + [" [", cls, "]"], width, sep="")
    return [f"{method_title} ['{cls}']"]


def _title(m: Any) -> list[str]:
    how = "REML" if m.REML else "maximum likelihood "
    return title_lines(f"Linear mixed model fit by {how}", "lmerMod")


def call_lines(m: Any, summary: bool, texts: dict[str, str | None] | None = None) -> list[str]:
    """The ``Formula:`` / ``Data:`` / ``Weights:`` ... lines (``Control:`` only in a summary).

    ``texts`` (keys ``data_name``, ``weights_name``, ``offset_name``, ``control_name``,
    ``subset_name``) replaces the fit's attributes of those names (glmer's printer derives them
    from the fit's call).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> call_lines(m, summary=True)[0]
    'Formula: Reaction ~ Days + (Days | Subject)'
    """
    if getattr(m, "call_name", "lmer") == "mkMerMod":   # R's mkMerMod(...) call has no formula or data
        return []
    lines = cat_fill(["Formula:"] + deparse_lines(m.parts.tree))
    for label, attr in (("   Data:", "data_name"), ("Weights:", "weights_name"),
                        (" Offset:", "offset_name"), ("Control:", "control_name"),
                        (" Subset:", "subset_name")):
        value = texts[attr] if texts is not None and attr in texts else getattr(m, attr, None)
        if attr == "control_name" and (not summary or value == "lmerControl()"):
            continue
        if value is not None:
            lines += cat_fill([label, str(value)])
    return lines


def aic_table_lines(m: Any, digits: int, deviance: float | None = None) -> list[str]:
    """The REML criterion line, or the ``AIC BIC logLik deviance df.resid`` table of an ML fit.

    The ``deviance`` column is lme4's ``devCrit``: ``m.deviance()`` unless given (a glmer fit passes
    its -2 log-likelihood; its ``deviance()`` is the sum of squared deviance residuals).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> aic_table_lines(m, 1)
    ['REML criterion at convergence: 1743.6']
    """
    if m.REML:
        return [f"REML criterion at convergence: {cat_number(float(r_round(float(m.REMLcrit()), digits)))}"]
    dev = float(m.deviance()) if deviance is None else float(deviance)
    values = [float(m.AIC()), float(m.BIC()), float(m.logLik()), dev, float(m.df_residual)]
    rounded = [float(r_round(v, digits)) for v in values]
    cells = format_real(rounded, 7)
    cells[-1] = format_real([rounded[-1]], 7)[0]
    return print_named_vector(cells, ["AIC", "BIC", "logLik", "deviance", "df.resid"], gap=1)


def residual_lines(m: Any, digits: int) -> list[str]:
    """The ``Scaled residuals:`` quantiles.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> residual_lines(m, 4)[0]
    'Scaled residuals: '
    """
    if hasattr(m, "scaled_residual_quantiles"):
        q = np.asarray(m.scaled_residual_quantiles(), dtype=float)
    else:
        q = quantile7(np.asarray(m.residuals(type="pearson", scaled=True), dtype=float))
    q = zapsmall(q, digits + 1)
    return ["Scaled residuals: "] + print_named_vector(format_real(q, digits), ["Min", "1Q", "Median", "3Q", "Max"])


def groups_lines(m: Any) -> list[str]:
    """The ``Number of obs: n, groups: ...`` line(s).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> groups_lines(m)
    ['Number of obs: 180, groups:  Subject, 18']
    """
    groups = "; ".join(f"{k}, {v}" for k, v in m.ngrps().items())
    return cat_fill([f"Number of obs: {int(m.nobs())}, groups: ", groups])


def warning_lines(m: Any, summary: bool, info: dict | None = None) -> list[str]:
    """lme4's ``fit warnings:`` block and the optimizer's convergence lines (none for a clean fit).

    ``info`` (keys as ``m.optinfo`` of an lmer fit: ``optimizer``, ``conv_code``, ``messages``,
    ``warnings``, ``message``, ``fit_warnings``) replaces ``m.optinfo``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> warning_lines(m, summary=True)
    []
    """
    if info is None:
        info = getattr(m, "optinfo", None) or {}
    lines: list[str] = []
    fit_warnings = list(info.get("fit_warnings") or [])
    if fit_warnings:
        lines += ["fit warnings:"] + "\n".join(fit_warnings).split("\n")
    msgs = list(info.get("messages") or [])
    warns = list(info.get("warnings") or [])
    code = int(info.get("conv_code") or 0)
    if msgs or warns or code > 0:          # lme4's .prt.warn: a negative code alone prints nothing
        message = info.get("message")
        status = "(OK)" if code == 0 else (f"({message})" if message is not None else "")
        head = f"optimizer ({info.get('optimizer', 'nloptwrap')}) convergence code: {code} {status}"
        if summary:
            lines += [head] + ("\n".join(msgs + warns).split("\n") if msgs or warns else []) + [""]
        else:
            lines.append(f"{head} ; {len(warns)} optimizer warnings; {len(msgs)} lme4 warnings ")
    return lines


def fixef_cor_lines(m: Any, names: list[str], object_name: str, cor_max: int) -> list[str]:
    """``Correlation of Fixed Effects:`` from ``m.vcov()``, or lme4's note when ``p > cor_max``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> fixef_cor_lines(m, ["(Intercept)", "Days"], "x", COR_MAX)[-1]
    'Days -0.138'
    """
    p = len(names)
    if p > cor_max:
        return ["", f"Correlation matrix not shown by default, as p = {p} > {cor_max}.",
                f"Use print({object_name}, correlation=TRUE)  or",
                f"    vcov({object_name})        if you need it", ""]
    if p <= 1:
        return []
    v = np.asarray(m.vcov(), dtype=float)
    sd = np.sqrt(np.diag(v))
    corr = v / np.outer(sd, sd)
    np.fill_diagonal(corr, 1.0)
    flat = format_real(r_round(corr.T.ravel(), 3), 7, nsmall=3)
    cells = [[flat[j * p + i] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    rows = abbreviate(names, 11)[1:]
    cols = abbreviate(names, 6)[: p - 1]
    return ["", "Correlation of Fixed Effects:"] + print_matrix(cells, rows, cols, right=False)


def format_fixef_table(m: Any, ddf: str | None = None) -> pd.DataFrame:
    """The fixed-effects coefficient table of ``summary(m)``: Estimate, Std. Error, t value.

    Parameters
    ----------
    m : fit
        Any object with ``fixef()`` (Series) and ``vcov()`` (DataFrame).
    ddf : None
        Only ``None`` (lme4's table) is handled here; lmerTest's tables need degrees of freedom.

    Examples
    --------
    >>> class Fit:
    ...     def fixef(self): return pd.Series([2.0], index=["(Intercept)"])
    ...     def vcov(self): return pd.DataFrame([[0.25]])
    >>> format_fixef_table(Fit()).iloc[0].tolist()
    [2.0, 0.5, 4.0]
    """
    if ddf is not None:
        raise NotImplementedError(f"ddf={ddf!r}: denominator degrees of freedom are not part of "
                                  "lme4's summary table; use the inference module")
    beta = m.fixef()
    se = np.sqrt(np.diag(np.asarray(m.vcov(), dtype=float)))
    est = np.asarray(beta, dtype=float)
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": est / se},
                        index=list(beta.index))


def format_summary(m: Any, digits: int = 4, correlation: bool | None = None,
                   object_name: str = "x") -> str:
    """R's ``print(summary(m))`` for an ``lmerMod`` (REML or ML), lines joined by newlines.

    Parameters
    ----------
    m : fit
        An object implementing the protocol described in the module docstring.
    digits : int
        ``max(3, getOption("digits") - 3)``, as lme4.
    correlation : bool, optional
        Show the correlation of fixed effects; default when 1 < p <= 12. For p > 12 the
        default prints lme4's note instead, naming ``object_name``.

    Examples
    --------
    >>> print(format_summary(m))  # doctest: +SKIP
    Linear mixed model fit by REML ['lmerMod']
    Formula: Reaction ~ Days + (Days | Subject)
    ...
    """
    lines = _title(m) + call_lines(m, summary=True) + [""] + aic_table_lines(m, 1) + [""]
    lines += residual_lines(m, digits) + [""]
    lines += ["Random effects:"] + m.VarCorr().format_lines(("Variance", "Std.Dev."), digits)
    lines += groups_lines(m)
    table = format_fixef_table(m)
    names = list(table.index)
    if names:
        lines += ["", "Fixed effects:"]
        lines += print_coefmat(table.to_numpy(), names, list(table.columns), digits)
        if correlation is None or correlation:
            cor_max = COR_MAX if correlation is None else len(names)
            lines += fixef_cor_lines(m, names, object_name, cor_max)
    lines += warning_lines(m, summary=True)
    return "\n".join(lines)


def format_print(m: Any, digits: int = 4) -> str:
    """R's ``print(m)`` for an ``lmerMod``, lines joined by newlines.

    Examples
    --------
    >>> print(format_print(m))  # doctest: +SKIP
    Linear mixed model fit by REML ['lmerMod']
    ...
    Fixed Effects:
    (Intercept)         Days
         251.41        10.47
    """
    lines = _title(m) + call_lines(m, summary=False) + aic_table_lines(m, 4)
    lines += ["Random effects:"] + m.VarCorr().format_lines(("Std.Dev.",), digits)
    lines += groups_lines(m) + fixed_effects_lines(m, digits)
    lines += warning_lines(m, summary=False)
    return "\n".join(lines)


def fixed_effects_lines(m, digits: int) -> list[str]:
    """print(m)'s "Fixed Effects:" block (lmer and glmer fits): the named estimates, or R's line for none."""
    beta = m.fixef()
    if not len(beta):
        return ["No fixed effect coefficients"]
    return ["Fixed Effects:"] + print_named_vector(format_real(np.asarray(beta, dtype=float), digits),
                                                    [str(n) for n in beta.index], gap=2)
