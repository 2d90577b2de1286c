"""emmeans' printed tables: ``print.summary_emm`` (emmeans 1.8.4) of estimated marginal means and
contrasts, with its footer messages.

The layout, as emmeans: numeric columns pass through ``zapsmall``; ``df`` is rounded to 2 decimals,
test statistics to 3 (``nsmall = 3``), p values to 4 (``"<.0001"`` below); the estimate, SE and limits
are formatted with ``digits`` = the largest of emmeans' ``.opt.dig`` over the rows (enough digits to
tell ``est - 2 SE``, ``est`` and ``est + 2 SE`` apart, at least 3); label columns left-justified, the
rest right-justified, printed by ``print.default`` of a character matrix with empty row names; one
block per ``by`` group headed ``"<by> = <level>:"``; each message ends with a space, as emmeans'
``cat(paste(msg, "\\n"))``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.rformat import format_real, print_matrix, r_round, zapsmall

__all__ = ["SummaryEmm", "summary_emm_lines", "opt_digits", "fixed_notation"]

_TEST_STATS = ("t.ratio", "z.ratio", "F.ratio", "T.square")


def opt_digits(x: Sequence[float]) -> int:
    """emmeans' ``.opt.dig``: digits to show for a row ``(est - 2 SE, est, est + 2 SE)``.

    Examples
    --------
    >>> opt_digits([47.38, 52.36, 57.33])
    3
    """
    x = np.asarray(x, dtype=float)
    mx = float(np.max(np.abs(x)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.array([x.min(), x.max()]) / mx
        dz = float(zapsmall(np.r_[np.diff(z), z], 8)[0])
        zz = r_round(1.51 - math.log10(dz)) if dz > 0 else math.inf
    if math.isnan(zz):
        return 3
    if math.isinf(zz):
        zz = 3
    return int(max(zz, 3))


def fixed_notation(values: Sequence[float], nsmall: int) -> list[str]:
    """R's ``format(x, nsmall = nsmall, scientific = FALSE)`` of values already rounded to ``nsmall``
    decimals: fixed notation, ``nsmall`` decimals, a common width (``NA``, ``Inf`` as R writes them).

    Examples
    --------
    >>> fixed_notation([5e-04, 1.0], 4)
    ['0.0005', '1.0000']
    """
    out = []
    for v in values:
        v = float(v)
        if math.isnan(v):
            out.append("NA")
        elif math.isinf(v):
            out.append("Inf" if v > 0 else "-Inf")
        else:
            out.append(f"{(0.0 if v == 0 else v):.{nsmall}f}")
    w = max((len(s) for s in out), default=0)
    return [s.rjust(w) for s in out]


def _cells(col: np.ndarray, digits: int) -> list[str]:
    vals = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v) for v in col]
    return format_real(vals, digits)


def summary_emm_lines(table: pd.DataFrame, est_name: str, by: Sequence[str], mesg: Sequence[str]) -> list[str]:
    """The lines of emmeans' ``print.summary_emm`` of ``table`` (labels, then numeric columns)."""
    x = table.copy()
    logical = [c for c in x.columns if pd.api.types.is_bool_dtype(x[c])]
    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c]) and c not in logical]
    for c in numeric:
        x[c] = zapsmall(x[c].to_numpy(dtype=float))
    just = {c: ("R" if c in numeric else "L") for c in x.columns}
    text: dict[str, list[str]] = {}
    if "df" in x.columns:
        x["df"] = r_round(x["df"].to_numpy(dtype=float), 2)
    for c in _TEST_STATS:
        if c in x.columns:
            text[c] = fixed_notation(r_round(x[c].to_numpy(dtype=float), 3), 3)
    if "p.value" in x.columns:
        fp = fixed_notation(r_round(x["p.value"].to_numpy(dtype=float), 4), 4)
        text["p.value"] = ["<.0001" if s == "0.0000" else s for s in fp]
    est = x[est_name].to_numpy(dtype=float)
    digits = 7
    if "SE" in x.columns:
        se = x["SE"].to_numpy(dtype=float)
        rows = [opt_digits(est[i] + se[i] * np.array([-2.0, 0.0, 2.0])) for i in range(len(est))
                if np.isfinite(est[i]) and np.isfinite(se[i])]
        digits = max(rows) if rows else 7
    for c in x.columns:
        if c in text:
            continue
        if c in numeric:
            text[c] = _cells(x[c].to_numpy(dtype=float), digits)
        elif c in logical:      # R's format of a logical vector: right-justified to a common width
            vals = ["TRUE" if v else "FALSE" for v in x[c]]
            w = max(len(v) for v in vals)
            text[c] = [v.rjust(w) for v in vals]
        else:
            text[c] = [str(v) for v in x[c]]
    cols = list(x.columns)
    mat: dict[str, list[str]] = {}
    for c in cols:
        w = max([len(just[c]), len(c)] + [len(s) for s in text[c]])
        mat[c] = [s.rjust(w) if just[c] == "R" else s.ljust(w) for s in text[c]]
    lines: list[str] = []

    def block(shown: list[str], rows: Sequence[int]) -> list[str]:
        heads = [c.ljust(len(mat[c][0])) if just[c] == "L" and mat[c] else c for c in shown]
        cells = [[mat[c][i] for c in shown] for i in rows]
        return print_matrix(cells, [""] * len(rows), heads, right=True)

    if not by:
        lines += block(cols, range(len(x)))
        lines.append("")
    else:
        shown = [c for c in cols if c not in by]
        keys = [", ".join(str(x[b].iloc[i]) for b in by) for i in range(len(x))]
        order = list(dict.fromkeys(keys))
        for k in order:
            rows = [i for i, kk in enumerate(keys) if kk == k]
            head = ", ".join(f"{b} = {text[b][rows[0]]}" for b in by)
            lines.append(f"{head}:")
            lines += block(shown, rows)
            lines.append("")
    for m in mesg:
        lines += f"{m} ".split("\n")
    return lines


class SummaryEmm(HtmlRepr, pd.DataFrame):
    """emmeans' ``summary_emm``: a DataFrame with R's columns whose ``str()`` is R's print (footer
    messages included).  ``.attrs`` holds ``estName``, ``by.vars`` and ``mesg``.

    Examples
    --------
    >>> s = SummaryEmm(pd.DataFrame({"A": ["a"], "emmean": [1.25], "SE": [0.5], "df": [3.0]}), est_name="emmean",
    ...                by=[], mesg=["Confidence level used: 0.95"])
    >>> print(s)
     A emmean  SE df
     a   1.25 0.5  3
    <BLANKLINE>
    Confidence level used: 0.95 
    """

    _metadata = ["_emm_info"]

    def __init__(self, data=None, *args, est_name: str | None = None, by: Sequence[str] | None = None,
                 mesg: Sequence[str] | None = None, **kwargs) -> None:
        super().__init__(data, *args, **kwargs)
        if est_name is not None:
            self.attrs["estName"] = est_name
            self.attrs["by.vars"] = list(by or [])
            self.attrs["mesg"] = list(mesg or [])

    @property
    def _constructor(self):
        return SummaryEmm

    def __str__(self) -> str:
        if "estName" not in self.attrs:
            return pd.DataFrame(self).__str__()
        return "\n".join(summary_emm_lines(pd.DataFrame(self), self.attrs["estName"], self.attrs["by.vars"],
                                           self.attrs["mesg"]))

    def __repr__(self) -> str:
        return self.__str__()

    def to_frame(self) -> pd.DataFrame:
        """The table as a plain DataFrame."""
        return pd.DataFrame(self)
