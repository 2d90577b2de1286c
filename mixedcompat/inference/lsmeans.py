"""lmerTest's least-squares means: ``ls_means(m, which, ddf, pairwise, level)`` and ``difflsmeans``.

As lmerTest 3.1-3 (``ls_means.lmerModLmerTest`` and ``lsmeans_contrasts``):

* the *factor terms* are the fixed-effect terms whose variables are all factors (a term with a
  covariate has no least-squares means); ``which`` chooses among them (default: all, in model order);
* the reference grid crosses the levels of every factor of the fixed part and holds every covariate
  at its mean over the rows the model used; ``uX`` is the model matrix of the fixed part on that grid,
  with the model's contrasts (all columns, before lme4 drops aliased ones);
* the contrast of a cell of a term (``MachineA``, ``recipeA:temperature175``: R's column names of
  ``model.matrix(~ 0 + term)``, the first factor varying fastest) is the average of the rows of
  ``uX`` in that cell; with ``pairwise=True`` the differences of every pair of cells, named
  ``"MachineA - MachineB"`` in R's ``combn`` order;
* a contrast that is not estimable (``|rowSums(L N)| >= sqrt(eps)`` with ``N`` the null space of the
  full model matrix, lmerTest's test) gets a row of NAs; the others are restricted to the model's
  coefficients and tested by ``contest1D`` (:func:`mixedcompat.inference.contest.contest`, ``joint=False``,
  with the Wald interval at ``level``).

Difference from lmerTest: lmerTest evaluates a transformed covariate such as ``log(x)`` on its grid
by looking ``x`` up outside the data (an error or an unrelated value); here the mean of the
covariate's values (``mean(log(x))``) is used.  Matrix covariates (``poly(x, 2)``) and logical
variables are refused with a :class:`~mixedcompat.errors.DataError` (lmerTest stops on them too).
"""
from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.front.design import assemble, spec_variables
from mixedcompat.front.transforms import Fac, Num
from mixedcompat.glmer.fit import GlmerMod
from mixedcompat.inference.contest import T_COLUMNS, contest
from mixedcompat.inference.ftests import normalise_ddf
from mixedcompat.lme4.fit import LmerMod
from mixedcompat.present.lsmeans_printing import format_ls_means

__all__ = ["LsMeansTable", "ls_means", "difflsmeans", "lsmeans_contrasts", "factor_terms"]


class LsMeansTable(pd.DataFrame):
    """lmerTest's ``ls_means`` table: a DataFrame (columns ``Estimate, Std. Error, df, t value, lower,
    upper, Pr(>|t|)``, rows named as lmerTest) whose ``str()`` is lmerTest's ``print.ls_means``.

    ``.attrs``: ``"confidence_level"``, ``"ddf"``, ``"response"``, ``"hypotheses"`` (term -> its
    contrast matrix as a DataFrame over the model's coefficients, as lmerTest's attribute).

    Example
    -------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker)", mc.datasets.load("Machines"))
    >>> print(mc.ls_means(m))                          # doctest: +SKIP
    Least Squares Means table:
    <BLANKLINE>
             Estimate Std. Error  df t value   lower   upper  Pr(>|t|)
    MachineA  52.3556     2.2293 5.8  23.485 46.8626 57.8485 5.328e-07 ***
    ...
    """

    @property
    def _constructor(self):
        return LsMeansTable

    def __str__(self) -> str:
        return "\n".join(format_ls_means(pd.DataFrame(self), self.attrs.get("confidence_level", 0.95),
                                         self.attrs.get("ddf", "Satterthwaite")))

    def __repr__(self) -> str:
        return self.__str__()

    def to_frame(self) -> pd.DataFrame:
        """The numbers as a plain DataFrame."""
        return pd.DataFrame(self)


def _check_model(m: Any, what: str) -> None:
    if isinstance(m, GlmerMod) or not isinstance(m, LmerMod):
        kind = "a glmer fit" if isinstance(m, GlmerMod) else f"an object of type {type(m).__name__}"
        if getattr(m, "r_package", None) == "nlme":
            kind = f"an nlme {type(m).__name__} fit"
        raise TypeError(f"{what}() applies to lmer fits (lmerTest's lmerModLmerTest), not to {kind}")


def _model_values(m) -> dict[int, Num | Fac]:
    spec = m.frame.fixed_spec
    return spec_variables(spec, m.frame.data)


def factor_terms(m) -> list[str]:
    """lmerTest's factor terms of an lmer fit: fixed-effect term labels whose variables are all factors.

    Example
    -------
    >>> m = mc.lmer("y ~ x + f * f1 + (1 | g)", d)          # doctest: +SKIP
    >>> factor_terms(m)                                      # doctest: +SKIP
    ['f', 'f1', 'f:f1']
    """
    spec = m.frame.fixed_spec
    struct = spec.structure
    return [lab for lab, term in zip(struct.labels, struct.terms)
            if all(v in spec.levels and not spec.levels[v][2] for v in term)]


def _grid(m) -> tuple[dict[int, Num | Fac], int]:
    """lmerTest's ``get_min_data``: every factor level crossed (``expand.grid``: the first factor
    fastest), every covariate at its mean over the model's rows."""
    spec = m.frame.fixed_spec
    struct = spec.structure
    values = _model_values(m)
    used = sorted({v for t in struct.terms for v in t})
    factors = [v for v in used if v in spec.levels]
    for v in factors:
        if spec.levels[v][2]:
            raise DataError(f"ls_means: the variable {struct.names[v]!r} is logical; lmerTest cannot build "
                            "its reference grid (make it a factor)")
    n = int(np.prod([len(spec.levels[v][0]) for v in factors])) if factors else 1
    grid: dict[int, Num | Fac] = {}
    reps = 1
    for v in factors:
        levels, ordered, _logical = spec.levels[v]
        k = len(levels)
        codes = np.tile(np.repeat(np.arange(k), reps), n // (k * reps))
        grid[v] = Fac(codes.astype(np.int64), list(levels), ordered)
        reps *= k
    for v in used:
        if v in spec.levels:
            continue
        val = values[v]
        if not isinstance(val, Num) or val.values.ndim != 1:
            raise DataError(f"ls_means: the covariate {struct.names[v]!r} is a matrix; lmerTest holds "
                            "covariates at their mean and cannot do so for it")
        grid[v] = Num(np.full(n, float(np.mean(val.values))))
    return grid, n


def _cells(struct, spec, term: tuple[int, ...], grid: dict[int, Num | Fac], n: int) -> tuple[np.ndarray, list[str]]:
    """``model.matrix(~ 0 + term, grid)`` with indicator coding: one column per cell (first factor fastest)."""
    cols = np.ones((n, 1))
    names = [""]
    for v in term:
        levels = spec.levels[v][0]
        ind = np.eye(len(levels))[grid[v].codes]
        cols = (ind[:, :, None] * cols[:, None, :]).reshape(n, len(levels) * cols.shape[1])
        names = [f"{b}{':' if b else ''}{struct.names[v]}{lv}" for lv in levels for b in names]
    return cols, names


def _pairs(L: pd.DataFrame) -> pd.DataFrame:
    """lmerTest's ``crossprod(get_pairs(rownames(L)), L)``: row i minus row j for i < j (``combn`` order)."""
    names = list(L.index)
    rows, labels = [], []
    for i, j in itertools.combinations(range(len(names)), 2):
        rows.append(L.iloc[i].to_numpy() - L.iloc[j].to_numpy())
        labels.append(f"{names[i]} - {names[j]}")
    return pd.DataFrame(np.array(rows).reshape(len(rows), L.shape[1]), index=labels, columns=L.columns)


def _nullspace(X: np.ndarray) -> np.ndarray:
    """lmerTest's ``nullspace``: right singular vectors beyond the rank (singular values above 1e-8 of
    the largest)."""
    if X.size == 0:
        return np.zeros((X.shape[1], 0))
    _u, d, vt = np.linalg.svd(X, full_matrices=True)
    rank = int(np.sum(d > max(1e-8 * d[0], 0.0))) if d.size else 0
    if rank == 0:
        return vt.T
    return vt.T[:, rank:]


def lsmeans_contrasts(m, which: Sequence[str] | str | None = None) -> dict[str, pd.DataFrame]:
    """lmerTest's ``lsmeans_contrasts``: term -> the contrast matrix of its least-squares means over
    all columns of the fixed-effects model matrix (before aliased columns are dropped).

    Example
    -------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker)", mc.datasets.load("Machines"))
    >>> lsmeans_contrasts(m)["Machine"].index.tolist()
    ['MachineA', 'MachineB', 'MachineC']
    """
    spec = m.frame.fixed_spec
    struct = spec.structure
    fterms = factor_terms(m)
    if which is None:
        chosen = fterms
    else:
        chosen = [which] if isinstance(which, str) else list(which)
        for w in chosen:
            if not isinstance(w, str):
                raise DataError(f"ls_means: which must name terms (strings), not {w!r}")
            if w not in fterms:
                if w in struct.labels:
                    raise DataError(f"ls_means: the term {w!r} contains a covariate: it has no least-squares "
                                    f"means (factor terms of the model: {fterms})")
                raise DataError(f"ls_means: {w!r} is not a term of the model's fixed part (factor terms: "
                                f"{fterms}); lmerTest: all(which %in% factor_terms) is not TRUE")
    if not chosen:
        return {}
    grid, n = _grid(m)
    uX, colnames, _assign = assemble(struct, grid, spec.codings, spec.contrast_mats, n)
    out = {}
    for w in chosen:
        term = struct.terms[list(struct.labels).index(w)]
        Lt, names = _cells(struct, spec, term, grid, n)
        L = (Lt / Lt.sum(axis=0)).T @ uX
        out[w] = pd.DataFrame(L, index=names, columns=list(colnames))
    return out


def ls_means(m: Any, which: Sequence[str] | str | None = None, ddf: str = "Satterthwaite",
             pairwise: bool = False, level: float = 0.95) -> LsMeansTable:
    """lmerTest's ``ls_means(m, which, level, ddf, pairwise)``: least-squares means of factor terms.

    Parameters
    ----------
    m : an lmer fit
    which : term label(s) of the fixed part whose variables are all factors (``"Machine"``,
        ``"recipe:temperature"``); default all such terms
    ddf : "Satterthwaite" or "Kenward-Roger"
    pairwise : the differences of every pair of means of a term instead (:func:`difflsmeans`)
    level : confidence level of the intervals ``lower``, ``upper``

    Returns
    -------
    LsMeansTable
        Columns ``Estimate, Std. Error, df, t value, lower, upper, Pr(>|t|)``; rows ``MachineA`` ...
        (or ``MachineA - MachineB`` ...); NAs for means that are not estimable.

    Raises
    ------
    TypeError
        ``m`` is not an lmer fit (a glmer or nlme fit).
    DataError
        ``which`` names no factor term of the model; a logical variable or a matrix covariate.

    Example
    -------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker)", mc.datasets.load("Machines"))
    >>> round(float(mc.ls_means(m).loc["MachineA", "Estimate"]), 4)
    52.3556
    """
    _check_model(m, "ls_means")
    method = normalise_ddf(ddf)
    if method == "lme4":
        raise ValueError("ls_means: ddf must be 'Satterthwaite' or 'Kenward-Roger'")
    if isinstance(level, bool) or not isinstance(level, (int, float, np.number)) or not 0 < level < 1:
        raise DataError(f"ls_means: level must be a number between 0 and 1, not {level!r}")
    Llist = lsmeans_contrasts(m, which)
    spec = m.frame.fixed_spec
    keep = list(spec.keep)
    coef_names = [str(n) for n in m.frame.x_names]
    if Llist:
        values = _model_values(m)
        XX, _names, _assign = assemble(spec.structure, values, spec.codings, spec.contrast_mats,
                                       len(m.frame.y))
        N = _nullspace(XX)
    tables, hypotheses = [], {}
    for term, L in Llist.items():
        if pairwise:
            L = _pairs(L)
        Lv = L.to_numpy(dtype=float)
        estimable = np.abs((Lv @ N).sum(axis=1)) < np.sqrt(np.finfo(float).eps) if N.size else \
            np.ones(len(Lv), dtype=bool)
        Lk = Lv[:, keep]
        Lk[~estimable] = np.nan
        Ld = pd.DataFrame(Lk, index=L.index, columns=coef_names)
        hypotheses[term] = Ld
        tables.append(pd.DataFrame(contest(m, Ld, joint=False, ddf=method, confint=True, level=level)))
    out = LsMeansTable(pd.concat(tables) if tables else pd.DataFrame(columns=T_COLUMNS, dtype=float))
    out.attrs = {"response": m.frame.response_name, "confidence_level": float(level), "ddf": method,
                 "hypotheses": hypotheses}
    return out


def difflsmeans(m: Any, which: Sequence[str] | str | None = None, ddf: str = "Satterthwaite",
                level: float = 0.95) -> LsMeansTable:
    """lmerTest's ``difflsmeans(m, which, level, ddf)``: ``ls_means(..., pairwise=True)``, the pairwise
    differences of the least-squares means of each factor term (rows ``"MachineA - MachineB"``).

    Example
    -------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker)", mc.datasets.load("Machines"))
    >>> mc.difflsmeans(m).index.tolist()
    ['MachineA - MachineB', 'MachineA - MachineC', 'MachineB - MachineC']
    """
    _check_model(m, "difflsmeans")
    return ls_means(m, which=which, ddf=ddf, pairwise=True, level=level)
