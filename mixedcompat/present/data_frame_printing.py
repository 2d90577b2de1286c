"""R's ``print.data.frame`` of a numeric data frame and ``print`` of a named list of numeric matrices.

``print.data.frame`` formats each column on its own (``format(x, digits = 7)``, NA as ``NA``) and prints the
character matrix right-justified with left-justified row names; a list prints each element under
``$name`` (backquoted when the name is not syntactic) followed by an empty line.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mixedcompat.present.rformat import format_real, print_matrix

__all__ = ["print_data_frame_lines", "print_list_of_matrices", "r_list_tag"]

_SYNTACTIC = re.compile(r"^((([A-Za-z]|[.][A-Za-z._])[A-Za-z0-9._]*)|[.])$")
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE", "NULL",
             "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "in"}


def _column_cells(col: np.ndarray, digits: int = 7) -> list[str]:
    vals = [None if np.isnan(v) else float(v) for v in np.asarray(col, dtype=float)]
    return format_real(vals, digits)


def print_data_frame_lines(df: pd.DataFrame, digits: int = 7) -> list[str]:
    """Lines of R's ``print(<data.frame>)`` for a data frame of numbers.

    Examples
    --------
    >>> print_data_frame_lines(pd.DataFrame({"df": [16.99998, 17.0]}, index=["1", "2"]))
    ['        df', '1 16.99998', '2 17.00000']
    """
    cols = [str(c) for c in df.columns]
    if len(df) == 0:
        w = max([len(c) for c in cols] + [0])
        return ["[1] " + " ".join(c.ljust(w) for c in cols), "<0 rows> (or 0-length row.names)"]
    arr = df.to_numpy(dtype=float)
    formatted = [_column_cells(arr[:, j], digits) for j in range(arr.shape[1])]
    cells = [[formatted[j][i] for j in range(arr.shape[1])] for i in range(arr.shape[0])]
    return print_matrix(cells, [str(i) for i in df.index], cols, right=True)


def r_list_tag(name: str) -> str:
    """The ``$name`` line R prints above a list element (backquoted when not syntactic).

    Examples
    --------
    >>> r_list_tag("recipe:temperature")
    '$`recipe:temperature`'
    """
    ok = bool(_SYNTACTIC.match(name)) and name not in _RESERVED
    return f"${name}" if ok and name not in _RESERVED else f"$`{name}`"


def print_list_of_matrices(items: Mapping[str, tuple[np.ndarray, Sequence[str] | None, Sequence[str] | None]],
                           digits: int = 7) -> list[str]:
    """Lines of R's ``print`` of a named list of numeric matrices (``print.default`` of each, columns
    formatted one by one; missing dimnames as ``[1,]`` / ``[,1]``).

    Examples
    --------
    >>> print_list_of_matrices({"Days": (np.array([[0.0, 1.0]]), ["Days"], ["(Intercept)", "Days"])})
    ['$Days', '     (Intercept) Days', 'Days           0    1', '']
    """
    lines: list[str] = []
    for name, (x, rows, cols) in items.items():
        x = np.asarray(x, dtype=float)
        nrow, ncol = x.shape
        if rows is None:                       # R right-justifies the [i,] labels
            rows = [f"[{i + 1},]".rjust(len(f"[{nrow},]")) for i in range(nrow)]
        rows = list(rows)
        cols = [f"[,{j + 1}]" for j in range(ncol)] if cols is None else list(cols)
        lines.append(r_list_tag(name))
        if nrow == 0:
            lines.append(" " * len("[0,]") + "".join(" " + c for c in cols))
        else:
            formatted = [_column_cells(x[:, j], digits) for j in range(ncol)]
            cells = [[formatted[j][i] for j in range(ncol)] for i in range(nrow)]
            lines += print_matrix(cells, rows, cols, right=True)
        lines.append("")
    return lines
