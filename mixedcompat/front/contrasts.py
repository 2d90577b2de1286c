"""R's contrast matrices (contr.treatment, contr.SAS, contr.sum, contr.helmert, contr.poly).

Each function returns ``(matrix, column_suffixes)`` where ``matrix`` is levels x columns and
``column_suffixes`` are what R's ``model.matrix`` appends to the factor's name (``fB``, ``f1``, ``f.L``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mixedcompat.errors import DataError, FormulaError


def contr_treatment(levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Dummy coding against the first level.

    Examples
    --------
    >>> contr_treatment(["a", "b", "c"])[1]
    ['b', 'c']
    """
    n = len(levels)
    return np.eye(n)[:, 1:], list(levels[1:])


def contr_sas(levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Dummy coding against the last level."""
    n = len(levels)
    return np.eye(n)[:, :-1], list(levels[:-1])


def contr_sum(levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Sum-to-zero coding; R leaves the columns unnamed, so model.matrix numbers them."""
    n = len(levels)
    m = np.vstack([np.eye(n - 1), -np.ones((1, n - 1))])
    return m, [str(i) for i in range(1, n)]


def contr_helmert(levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Helmert coding: column j contrasts level j+1 with the mean of the levels before it."""
    n = len(levels)
    m = np.zeros((n, n - 1))
    for j in range(n - 1):
        m[: j + 1, j] = -1.0
        m[j + 1, j] = j + 1.0
    return m, [str(i) for i in range(1, n)]


def poly_contrast_matrix(n: int, scores: np.ndarray | None = None) -> np.ndarray:
    """All ``n`` orthonormal polynomial columns (degree 0 .. n-1) of the scores (R's make.poly)."""
    s = np.arange(1.0, n + 1) if scores is None else np.asarray(scores, dtype=float)
    y = s - s.mean()
    V = y[:, None] ** np.arange(n)
    Q, R = np.linalg.qr(V)
    raw = Q * np.diag(R)
    return raw / np.sqrt((raw ** 2).sum(axis=0))


def poly_names(k: int) -> list[str]:
    """R's names of contr.poly columns: ``.L .Q .C ^4 ^5 ...``."""
    base = [".L", ".Q", ".C"]
    return [base[i] if i < 3 else f"^{i + 1}" for i in range(k)]


def contr_poly(levels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Orthogonal polynomial contrasts for ordered factors.

    Examples
    --------
    >>> m, names = contr_poly(["lo", "mid", "hi"])
    >>> names, (np.round(m[:, 0], 6) + 0.0).tolist()
    (['.L', '.Q'], [-0.707107, 0.0, 0.707107])
    """
    n = len(levels)
    if n > 95:
        raise DataError(f"orthogonal polynomials cannot be represented accurately enough for {n} levels")
    m = poly_contrast_matrix(n)[:, 1:]
    return m, poly_names(n - 1)


CONTRASTS = {
    "contr.treatment": contr_treatment,
    "contr.SAS": contr_sas,
    "contr.sum": contr_sum,
    "contr.helmert": contr_helmert,
    "contr.poly": contr_poly,
}


def contrast_matrix(spec: Any, levels: list[str], ordered: bool, name: str) -> tuple[np.ndarray, list[str]]:
    """The contrast matrix for a factor: ``spec`` is None (R's defaults), a contr.* name or a matrix.

    Examples
    --------
    >>> contrast_matrix("contr.sum", ["a", "b", "c"], False, "f")[0].tolist()
    [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]
    """
    if len(levels) < 2:
        raise DataError(f"contrasts can be applied only to factors with 2 or more levels: factor {name!r} "
                        f"has {len(levels)} level{'s' if len(levels) != 1 else ''} in the rows used "
                        f"{levels}")
    if spec is None:
        spec = "contr.poly" if ordered else "contr.treatment"
    if isinstance(spec, str):
        key = spec if spec in CONTRASTS else {"treatment": "contr.treatment", "sum": "contr.sum",
                                               "helmert": "contr.helmert", "poly": "contr.poly",
                                               "SAS": "contr.SAS"}.get(spec)
        if key is None:
            raise FormulaError(f"unknown contrast {spec!r} for {name!r}; use one of {sorted(CONTRASTS)}")
        return CONTRASTS[key](levels)
    m = np.asarray(spec, dtype=float)
    if m.ndim != 2 or m.shape[0] != len(levels):
        raise FormulaError(f"contrast matrix for {name!r} must have {len(levels)} rows (one per level)")
    cols = getattr(spec, "columns", None)
    names = [str(c) for c in cols] if cols is not None else [str(i) for i in range(1, m.shape[1] + 1)]
    return m, names
