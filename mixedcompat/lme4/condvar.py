"""Conditional variances of the random effects (lme4's ``ranef(m, condVar = TRUE)``) and R's ranef printout.

The conditional covariance of ``b`` given the data, at the estimated parameters, is

    Var(b | y) = sigma^2 Lambda (Lambda' Z' W Z Lambda + I)^{-1} Lambda' = sigma^2 Lambda (L L')^{-1} Lambda'

with ``L`` the random-effects part of the PLS factor (lme4's ``condVar``; the uncertainty in beta is
not included, as in lme4).  lme4 reports only the q_k x q_k diagonal blocks, one per term and level;
with several terms on one grouping factor (``(1|g) + (0+x|g)``) it reports one array per term
(``attr(, "postVar")`` is then a list) and no covariances between the terms.

Only those diagonal blocks are computed
(:func:`~mixedcompat.lme4.omega_inverse.inverse_diagonal_blocks`, shared with the criterion's gradient).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
from mixedcompat.lme4.omega_inverse import inverse_diagonal_blocks
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.rformat import format_real, print_matrix

__all__ = ["RanefDict", "ranef_with_condvar", "as_ranef_dict", "conditional_variances", "format_ranef"]

R_MAX_PRINT = 99999          # getOption("max.print")


class RanefDict(HtmlRepr, dict):
    """``ranef(m)``: grouping factor -> DataFrame (levels x columns); ``str()`` prints as R's ``print(ranef(m))``.

    With conditional variances each DataFrame carries ``.attrs["postVar"]`` (levels x q x q).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
    >>> re = m.ranef(condVar=True)
    >>> re["Batch"].attrs["postVar"].shape
    (6, 1, 1)
    >>> print(str(re).splitlines()[-1])
    with conditional variances for “Batch” 
    """

    def __str__(self) -> str:
        return format_ranef(self)

    def __repr__(self) -> str:
        return self.__str__()


def as_ranef_dict(mapping: Mapping[str, pd.DataFrame]) -> RanefDict:
    """Wrap a mapping group -> DataFrame (as returned by ``m.ranef()``) as a :class:`RanefDict`.

    Examples
    --------
    >>> import pandas as pd
    >>> re = as_ranef_dict({"g": pd.DataFrame({"(Intercept)": [0.5, -0.5]}, index=["a", "b"])})
    >>> print(re)
    $g
      (Intercept)
    a         0.5
    b        -0.5
    <BLANKLINE>
    """
    return mapping if isinstance(mapping, RanefDict) else RanefDict(mapping)


# ------------------------------------------------------------------------------ computation

def conditional_variances(m) -> list[np.ndarray]:
    """Conditional covariance blocks of the random effects, one array (levels, q_k, q_k) per term.

    Terms in the fit's (lme4's) order; ``sigma^2 T_k [(L L')^{-1}]_{jj} T_k'`` for each level j.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> [v.shape for v in conditional_variances(m)]
    [(18, 2, 2)]
    """
    f = m.factor
    s2 = m.sigma() ** 2
    return [s2 * (Tk[None, :, :] @ V @ Tk.T[None, :, :])
            for Tk, V in zip(f.templates, inverse_diagonal_blocks(m.devfun, f))]


def ranef_with_condvar(m) -> RanefDict:
    """``ranef(m, condVar = TRUE)``: the conditional modes with lme4's conditional variances.

    Each DataFrame (levels x columns) carries ``.attrs["postVar"]``, an array (levels, q, q) equal to
    lme4's ``attr(ranef(m, condVar = TRUE)[[g]], "postVar")`` (q x q x levels in R).  When several
    terms share the grouping factor, R's attribute is a list with one array per term; here
    ``.attrs["postVar_terms"]`` holds that list (arrays levels x q_k x q_k) and ``postVar`` is their
    block-diagonal combination (zero between terms, as lme4 computes no such covariances).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> pv = ranef_with_condvar(m)["Subject"].attrs["postVar"]
    >>> pv.shape
    (18, 2, 2)
    """
    variances = conditional_variances(m)
    frames: dict[str, list] = {}
    for t, bk, V in zip(m.terms, m.b, variances):
        df = pd.DataFrame(np.array(bk), index=pd.Index([str(lv) for lv in t.levels]), columns=list(t.names))
        frames.setdefault(t.group, []).append((df, V))
    out = RanefDict()
    for g, parts in frames.items():
        df = pd.concat([d for d, _ in parts], axis=1) if len(parts) > 1 else parts[0][0]
        blocks = [V for _, V in parts]
        if len(blocks) == 1:
            pv = blocks[0]
        else:
            q = sum(b.shape[1] for b in blocks)
            pv = np.zeros((len(df), q, q))
            at = 0
            for b in blocks:
                k = b.shape[1]
                pv[:, at:at + k, at:at + k] = b
                at += k
            df.attrs["postVar_terms"] = blocks
        df.attrs["postVar"] = pv
        out[g] = df
    return out


# ------------------------------------------------------------------------------ printing

_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE", "NULL",
             "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in"}
_SYNTACTIC = re.compile(r"^((([A-Za-z]|[.][A-Za-z._])[A-Za-z0-9._]*)|[.])$")


def _list_tag(name: str) -> str:
    """R's tag for a list element when printing: ``$name`` or ``$`non syntactic```."""
    if _SYNTACTIC.match(name) and name not in _RESERVED and not re.match(r"^\.\.(\.|\d+)$", name):
        return f"${name}"
    return f"$`{name}`"


def _data_frame_lines(df: pd.DataFrame, digits: int = 7) -> list[str]:
    """R's ``print.data.frame`` of a numeric data frame (each column formatted on its own)."""
    n, ncol = df.shape
    cols = [str(c) for c in df.columns]
    if ncol == 0:
        return [f"data frame with 0 columns and {n} rows"]
    if n == 0:
        return [f"[1] {' '.join(cols)}", "<0 rows> (or 0-length row.names)"]
    n0 = R_MAX_PRINT // ncol
    omit = n0 < n
    shown = df.iloc[:n0] if omit else df
    values = np.asarray(shown, dtype=float)
    formatted = [format_real([None if np.isnan(v) else float(v) for v in values[:, j]], digits)
                 for j in range(ncol)]
    cells = [[formatted[j][i] for j in range(ncol)] for i in range(len(shown))]
    lines = print_matrix(cells, [str(r) for r in shown.index], cols, right=True)
    if omit:
        lines.append(f" [ reached 'max' / getOption(\"max.print\") -- omitted {n - n0} rows ]")
    return lines


def format_ranef(re: Mapping[str, pd.DataFrame]) -> str:
    """R's ``print(ranef(m))`` (``print.ranef.mer``), lines joined by newlines.

    Each grouping factor as ``$name`` and its data frame, a blank line after each, then
    ``with conditional variances for “g1” “g2” `` naming the factors that carry a ``postVar``.

    Examples
    --------
    >>> import pandas as pd
    >>> print(format_ranef({"b:a": pd.DataFrame({"(Intercept)": [1.25]}, index=["1:A1"])}))
    $`b:a`
         (Intercept)
    1:A1        1.25
    <BLANKLINE>
    """
    lines: list[str] = []
    with_pv = []
    for g, df in re.items():
        lines.append(_list_tag(str(g)))
        lines += _data_frame_lines(df)
        lines.append("")
        if "postVar" in getattr(df, "attrs", {}):
            with_pv.append(str(g))
    if with_pv:
        lines.append("with conditional variances for " + " ".join(f"\u201c{g}\u201d" for g in with_pv) + " ")
    return "\n".join(lines)
