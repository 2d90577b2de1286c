"""lme4 1.1-31's printed text of a generalized linear mixed model: ``print(m)`` and ``print(summary(m))``
of a ``glmerMod``.

The layout is lme4's ``print.merMod`` / ``print.summary.merMod``, whose pieces are shared with the
lmer printer (:mod:`mixedcompat.present.lme4_printing`); what differs for a glmer fit:

- the title: lme4's ``methTitle`` ("Generalized linear mixed model fit by maximum likelihood
  (Laplace Approximation)", or "(Adaptive Gauss-Hermite Quadrature, nAGQ = k)" for every other
  nAGQ -- 0 included, as lme4 1.1-31 prints it), wrapped by ``.prt.methTit`` with the class as
  ``[glmerMod]``;
- the `` Family: binomial  ( logit )`` line (``.prt.family``: R's ``family$family``, so a negative
  binomial reads ``Negative Binomial(2.0492)``);
- the ``deviance`` column of the AIC table is -2 log-likelihood (lme4's ``devCrit``), not ``deviance()``;
- fixed effects: ``z value`` (``t value`` for families with a scale) and ``Pr(>|z|)``, the normal
  two-sided p-value, in both cases (``summary.merMod`` adds it to every GLMM);
- the optimizer named in the convergence lines is the last stage's (``Nelder_Mead``, or ``bobyqa``
  when ``nAGQ = 0``); a summary prints nothing about convergence for a clean fit.

The fit is read through a protocol: ``REML`` (False), ``nAGQ``, ``family`` (``.family`` and ``.link``, a name or an
object with ``.name``), ``use_scale``, ``parts.tree``, ``data_name``, ``weights_name``,
``offset_name``, ``call`` (a dict; its ``control`` and ``subset`` give the Control / Subset lines,
unless the fit has ``control_name`` / ``subset_name``), ``df_residual``, ``optinfo`` (as
:class:`~mixedcompat.glmer.fit.GlmerMod`'s) and the methods ``logLik()``, ``AIC()``, ``BIC()``,
``residuals(type, scaled)``, ``VarCorr()``, ``ngrps()``, ``nobs()``, ``fixef()``,
``vcov(use_hessian=None)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from mixedcompat.front.rlang import deparse, parse
from mixedcompat.present.lme4_printing import (COR_MAX, aic_table_lines, call_lines, cat_fill, fixed_effects_lines,
                                               fixef_cor_lines, groups_lines, residual_lines, title_lines,
                                               warning_lines)
from mixedcompat.present.rformat import format_number, print_coefmat

__all__ = ["method_title", "family_lines", "control_text", "glmer_coef_table", "glmer_optinfo",
           "format_glmer_summary", "format_glmer_print", "GLMER_CLASS"]

GLMER_CLASS = "glmerMod"


def method_title(nAGQ: int) -> str:
    """lme4's ``methTitle`` of a glmer fit.

    lme4 1.1-31 names the Laplace approximation only for ``nAGQ = 1``; ``nAGQ = 0`` (the Laplace
    objective with the fixed effects inside PIRLS) is printed as "Adaptive Gauss-Hermite Quadrature,
    nAGQ = 0", as lme4 does.

    Examples
    --------
    >>> method_title(1)
    'Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)'
    >>> method_title(0)
    'Generalized linear mixed model fit by maximum likelihood (Adaptive Gauss-Hermite Quadrature, nAGQ = 0)'
    """
    how = "(Laplace Approximation)" if int(nAGQ) == 1 else \
        f"(Adaptive Gauss-Hermite Quadrature, nAGQ = {int(nAGQ)})"
    return f"Generalized linear mixed model fit by maximum likelihood {how}"


def _link_name(family: Any) -> str | None:
    link = getattr(family, "link", None)
    return getattr(link, "name", link)


def family_lines(family: Any) -> list[str]:
    """lme4's ``.prt.family``: ``cat(" Family:", family, paste(" (", link, ")"), fill = TRUE)``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> family_lines(SimpleNamespace(family="binomial", link="logit"))
    [' Family: binomial  ( logit )']
    """
    name = getattr(family, "family", None)
    if name is None:
        return []
    link = _link_name(family)
    return cat_fill([" Family:", str(name)] + ([f" ( {link} )"] if link is not None else []))


def _r_value(value: Any) -> str:
    """R's ``deparse`` of a control value given in Python."""
    if value is None:
        return "NULL"
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (int, float, np.integer, np.floating)):
        return format_number(float(value), 15)
    if isinstance(value, dict):
        return "list(" + ", ".join(f"{_r_name(k)} = {_r_value(v)}" for k, v in value.items()) + ")"
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [_r_value(v) for v in value]
        return items[0] if len(items) == 1 else "c(" + ", ".join(items) + ")"
    return str(value)


def _r_name(key: str) -> str:
    return str(key).replace("_", ".")


def control_text(control: Any) -> str | None:
    """The ``Control:`` line's text of a glmer fit's ``control`` argument: R text as given, or a dict
    written as R would deparse ``glmerControl(...)`` with those settings (``check_conv_grad`` is
    ``check.conv.grad``); None when no control was given.

    Examples
    --------
    >>> control_text({"tolPwrss": 1e-8, "optimizer": "bobyqa"})
    'glmerControl(tolPwrss = 1e-08, optimizer = "bobyqa")'
    """
    if control is None:
        return None
    if isinstance(control, str):
        return control
    if isinstance(control, dict):
        return "glmerControl(" + ", ".join(f"{_r_name(k)} = {_r_value(v)}" for k, v in control.items()) + ")"
    return "control"


def _subset_text(subset: Any) -> str | None:
    if subset is None:
        return None
    if isinstance(subset, str):
        return " ".join(line.strip() for line in deparse(parse(subset), 10**9))
    return "subset"


def _call_texts(m: Any) -> dict[str, str | None]:
    call = getattr(m, "call", None) or {}
    texts = {}
    texts["control_name"] = getattr(m, "control_name") if hasattr(m, "control_name") else \
        control_text(call.get("control"))
    texts["subset_name"] = getattr(m, "subset_name") if hasattr(m, "subset_name") else \
        _subset_text(call.get("subset"))
    return texts


def glmer_optinfo(m: Any) -> dict:
    """What lme4's ``.prt.warn`` reads of a glmer fit's ``optinfo``, in the lmer printer's keys: the last
    stage's optimizer and convergence code, its message and warnings, lme4's convergence messages
    and the design's "fit warnings:" lines.

    Examples
    --------
    >>> glmer_optinfo(type("Fit", (), {"optinfo": {"optimizer": ["bobyqa", "Nelder_Mead"],
    ...     "conv": {"opt": 0, "lme4": {"messages": []}}}})())["optimizer"]
    'Nelder_Mead'
    """
    info = getattr(m, "optinfo", None) or {}
    optimizer = info.get("optimizer", "Nelder_Mead")
    if isinstance(optimizer, (list, tuple)):
        optimizer = optimizer[-1]
    conv = info.get("conv") or {}
    code = conv.get("opt", info.get("conv_code", 0))
    lme4 = conv.get("lme4") or {}
    messages = lme4.get("messages", info.get("messages")) if isinstance(lme4, dict) else info.get("messages")
    return {"optimizer": optimizer, "conv_code": int(code or 0), "messages": list(messages or []),
            "warnings": list(info.get("warnings") or []), "message": info.get("message"),
            "fit_warnings": list(info.get("fit_warnings") or [])}


def glmer_coef_table(m: Any, use_hessian: bool | None = None) -> pd.DataFrame:
    """lme4's ``summary(m)$coefficients`` of a glmer fit: Estimate, Std. Error, ``z value`` (``t value``
    for a family with a scale) and ``Pr(>|z|)`` = ``2 pnorm(-|value|)``.

    The standard errors are from ``m.vcov(use_hessian=...)`` (lme4 1.1-31: the finite-difference
    Hessian's unless ``use_hessian=False``).

    Examples
    --------
    >>> class Fit:
    ...     use_scale = False
    ...     def fixef(self): return pd.Series([2.0], index=["(Intercept)"])
    ...     def vcov(self, use_hessian=None): return pd.DataFrame([[0.25]])
    >>> glmer_coef_table(Fit()).round(6).iloc[0].tolist()
    [2.0, 0.5, 4.0, 6.3e-05]
    """
    beta = m.fixef()
    names = [str(n) for n in beta.index]
    est = np.asarray(beta, dtype=float)
    vc = m.vcov() if use_hessian is None else m.vcov(use_hessian=use_hessian)
    se = np.sqrt(np.diag(np.asarray(vc, dtype=float))) if len(est) else np.zeros(0)
    table = {"Estimate": est, "Std. Error": se}
    if len(est):
        value = est / se
        table["t value" if getattr(m, "use_scale", False) else "z value"] = value
        table["Pr(>|z|)"] = 2.0 * ndtr(-np.abs(value))
    return pd.DataFrame(table, index=names)


def _minus2loglik(m: Any) -> float:
    return -2.0 * float(m.logLik())


def format_glmer_summary(m: Any, digits: int = 4, correlation: bool | None = None, object_name: str = "x",
                         use_hessian: bool | None = None, coefficients: pd.DataFrame | None = None) -> str:
    """R's ``print(summary(m))`` for a ``glmerMod``, lines joined by newlines.

    Parameters
    ----------
    m : fit
        An object implementing the protocol described in the module docstring.
    digits : int
        ``max(3, getOption("digits") - 3)``, as lme4.
    correlation : bool, optional
        Show the correlation of fixed effects (from ``m.vcov()``, as lme4 whatever ``use_hessian``);
        default when 1 < p <= 12; for p > 12 lme4's note naming ``object_name``.
    use_hessian : bool, optional
        Standard errors from the Hessian (default when available) or from R_X (``False``).
    coefficients : DataFrame, optional
        The coefficient table, when already computed (:func:`glmer_coef_table`).

    Examples
    --------
    >>> print(format_glmer_summary(m))  # doctest: +SKIP
    Generalized linear mixed model fit by maximum likelihood (Laplace
      Approximation) [glmerMod]
     Family: binomial  ( logit )
    ...
    """
    lines = title_lines(method_title(m.nAGQ), GLMER_CLASS) + family_lines(m.family)
    lines += call_lines(m, summary=True, texts=_call_texts(m)) + [""]
    lines += aic_table_lines(m, 1, deviance=_minus2loglik(m)) + [""]
    lines += residual_lines(m, digits) + [""]
    lines += ["Random effects:"] + m.VarCorr().format_lines(("Variance", "Std.Dev."), digits)
    lines += groups_lines(m)
    table = glmer_coef_table(m, use_hessian) if coefficients is None else coefficients
    names = list(table.index)
    if names:
        lines += ["", "Fixed effects:"]
        lines += print_coefmat(table.to_numpy(dtype=float), names, list(table.columns), digits)
        if correlation is None or correlation:
            cor_max = COR_MAX if correlation is None else len(names)
            lines += fixef_cor_lines(m, names, object_name, cor_max)
    lines += warning_lines(m, summary=True, info=glmer_optinfo(m))
    return "\n".join(lines)


def format_glmer_print(m: Any, digits: int = 4) -> str:
    """R's ``print(m)`` for a ``glmerMod``, lines joined by newlines.

    Examples
    --------
    >>> print(format_glmer_print(m))  # doctest: +SKIP
    Generalized linear mixed model fit by maximum likelihood (Laplace
      Approximation) [glmerMod]
     Family: binomial  ( logit )
    ...
    Fixed Effects:
    (Intercept)      period2      period3      period4
        -1.3983      -0.9919      -1.1282      -1.5797
    """
    lines = title_lines(method_title(m.nAGQ), GLMER_CLASS) + family_lines(m.family)
    lines += call_lines(m, summary=False, texts=_call_texts(m))
    lines += aic_table_lines(m, 4, deviance=_minus2loglik(m))
    lines += ["Random effects:"] + m.VarCorr().format_lines(("Std.Dev.",), digits)
    lines += groups_lines(m) + fixed_effects_lines(m, digits)
    lines += warning_lines(m, summary=False, info=glmer_optinfo(m))
    return "\n".join(lines)
