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

lmerTest's bugs with transformed variables, matched by default:

* its grid holds a column per *variable* (``factor(k)``, ``log(x + 10)``), and ``model.matrix`` then
  evaluates the expression on the grid: where an argument (``k``) is not itself a plain variable of
  the model, R stops with ``object 'k' not found`` -- so does :func:`ls_means` (a
  :class:`~mixedcompat.errors.DataError` naming it); where it is (``x + log(x + 10)``), the
  transformed variable takes the value at the grid's mean of ``x`` (``log(mean(x) + 10)``);
* a term counts as numeric only when a part of its label is the name of a numeric variable, so a
  transformed covariate term (``log(x + 10)``, ``I(x^2)``) gets a "least-squares mean" row: the mean
  over the grid.

``allow_transformed=True`` gives what lmerTest means to do instead: transformed factors cross their
levels, transformed covariates are held at the mean of their values and have no row.  Matrix
covariates (``poly(x, 2)``) and logical variables are refused either way (lmerTest stops on them).
"""
from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.front.design import assemble, spec_variables
from mixedcompat.front.rlang import symbols
from mixedcompat.front.transforms import Fac, Num
from mixedcompat.inference.contest import T_COLUMNS, contest, require_lmertest_model
from mixedcompat.inference.ftests import normalise_ddf
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.lsmeans_printing import format_ls_means

__all__ = ["LsMeansTable", "ls_means", "difflsmeans", "lsmeans_contrasts", "factor_terms"]


class LsMeansTable(HtmlRepr, pd.DataFrame):
    """lmerTest's ``ls_means`` table: a DataFrame (columns ``Estimate, Std. Error, df, t value, lower,
    upper, Pr(>|t|)``, rows named as lmerTest) whose ``str()`` is lmerTest's ``print.ls_means``.

    ``.attrs``: ``"confidence_level"``, ``"ddf"``, ``"response"``, ``"hypotheses"`` (term -> its
    contrast matrix as a DataFrame over all columns of the fixed-effects model matrix, before aliased
    columns are dropped and non-estimable rows set to NA: lmerTest's attribute).

    Examples
    --------
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


def _model_values(m) -> dict[int, Num | Fac]:
    spec = m.frame.fixed_spec
    return spec_variables(spec, m.frame.data)


def factor_terms(m, allow_transformed: bool = False) -> list[str]:
    """lmerTest's factor terms of an lmer fit: the fixed-effect terms with least-squares means.

    lmerTest's rule (``numeric_terms``): a term is numeric when one of its ``:``-separated parts is the
    name of a numeric variable of the data; so a transformed covariate (``log(x)``, ``I(x^2)``) makes
    a *factor* term (its row is the mean over the grid): matched by default.  With
    ``allow_transformed=True`` a term qualifies only when all its variables are factors.

    Examples
    --------
    >>> m = mc.lmer("y ~ x + f * f1 + (1 | g)", d)          # doctest: +SKIP
    >>> factor_terms(m)                                      # doctest: +SKIP
    ['f', 'f1', 'f:f1']
    """
    spec = m.frame.fixed_spec
    struct = spec.structure

    def numeric(v: int) -> bool:                 # a covariate (R's num_vars: logicals included)
        return v not in spec.levels or bool(spec.levels[v][2])

    if allow_transformed:
        return [lab for lab, term in zip(struct.labels, struct.terms) if not any(numeric(v) for v in term)]
    return [lab for lab, term in zip(struct.labels, struct.terms)
            if not any(numeric(v) and struct.variables[v].kind == "sym" for v in term)]


def _grid(m, allow_transformed: bool = False) -> tuple[dict[int, Num | Fac], int]:
    """lmerTest's ``get_min_data``: every factor level crossed (``expand.grid``: the first factor
    fastest), every covariate at its mean over the model's rows.  A transformed variable is then, as
    in lmerTest's ``model.matrix`` on the grid, its expression evaluated on the grid's plain variables
    (unless ``allow_transformed``: its own levels / mean)."""
    spec = m.frame.fixed_spec
    struct = spec.structure
    values = _model_values(m)
    used = sorted({v for t in struct.terms for v in t})
    transformed = [v for v in used if struct.variables[v].kind != "sym"]
    if not allow_transformed:
        _check_found_on_grid(struct, used, transformed)
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
    if transformed and not allow_transformed:
        grid = _evaluated_on_grid(spec, grid, used, transformed, n)
    return grid, n


def _check_found_on_grid(struct, used: list[int], transformed: list[int]) -> None:
    """lmerTest stops when a transformed variable's argument is not a plain variable of the grid."""
    plain = {struct.names[v] for v in used if struct.variables[v].kind == "sym"}
    for v in transformed:
        missing = [name for name in symbols(struct.variables[v]) if name not in plain]
        if missing:
            raise DataError(
                f"ls_means: the variable {struct.names[v]!r} is a transformation: lmerTest evaluates it on its "
                f"reference grid, where {missing[0]!r} is not found, and stops (R: object '{missing[0]}' not "
                "found). Make it a column of the data, or pass allow_transformed=True to hold it at its "
                "levels / mean")


def _evaluated_on_grid(spec, grid: dict[int, Num | Fac], used: list[int], transformed: list[int],
                       n: int) -> dict[int, Num | Fac]:
    """lmerTest's ``model.matrix(form, data = grid)``: each transformed variable evaluated on the grid,
    whose columns are the plain variables; one whose argument is not among them stops, as in R."""
    struct = spec.structure
    plain = {struct.names[v]: v for v in used if struct.variables[v].kind == "sym"}
    frame = {}
    for name, v in plain.items():
        val = grid[v]
        frame[name] = (pd.Categorical.from_codes(val.codes, categories=val.levels, ordered=val.ordered)
                       if isinstance(val, Fac) else val.values)
    evaluated = spec_variables(spec, pd.DataFrame(frame, index=range(n)))
    out = dict(grid)
    for v in transformed:
        val = evaluated[v]
        if isinstance(val, Num) and val.values.ndim != 1:
            raise DataError(f"ls_means: the covariate {struct.names[v]!r} is a matrix; lmerTest holds "
                            "covariates at their mean and cannot do so for it")
        out[v] = val
    return out


def _cells(struct, spec, term: tuple[int, ...], grid: dict[int, Num | Fac], n: int) -> tuple[np.ndarray, list[str]]:
    """``model.matrix(~ 0 + term, grid)`` with indicator coding: one column per cell (first variable
    fastest); a (transformed) covariate in the term is its column of grid values."""
    cols = np.ones((n, 1))
    names = [""]
    for v in term:
        if v in spec.levels:
            levels = spec.levels[v][0]
            ind = np.eye(len(levels))[grid[v].codes]
            suffixes = [struct.names[v] + lv for lv in levels]
        else:
            ind = np.asarray(grid[v].values, dtype=float).reshape(n, 1)
            suffixes = [struct.names[v]]
        cols = (ind[:, :, None] * cols[:, None, :]).reshape(n, ind.shape[1] * cols.shape[1])
        names = [f"{b}{':' if b else ''}{sfx}" for sfx in suffixes for b in names]
    return cols, names


def _pairs(L: pd.DataFrame) -> pd.DataFrame:
    """lmerTest's ``crossprod(get_pairs(rownames(L)), L)``: row i minus row j for i < j (``combn`` order)."""
    names = list(L.index)
    if len(names) < 2:           # lmerTest's get_pairs: stopifnot(length(levs) > 1)
        raise DataError(f"difflsmeans: the term {names[0]!r} has a single least-squares mean, no pair to "
                        "compare (R: length(levs) > 1 is not TRUE)" if names else
                        "difflsmeans: no least-squares mean to compare (R: length(levs) > 1 is not TRUE)")
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


def lsmeans_contrasts(m, which: Sequence[str] | str | None = None,
                      allow_transformed: bool = False) -> dict[str, pd.DataFrame]:
    """lmerTest's ``lsmeans_contrasts``: term -> the contrast matrix of its least-squares means over
    all columns of the fixed-effects model matrix (before aliased columns are dropped).

    Examples
    --------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker)", mc.datasets.load("Machines"))
    >>> lsmeans_contrasts(m)["Machine"].index.tolist()
    ['MachineA', 'MachineB', 'MachineC']
    """
    spec = m.frame.fixed_spec
    struct = spec.structure
    fterms = factor_terms(m, allow_transformed)
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
    grid, n = _grid(m, allow_transformed)
    uX, colnames, _assign = assemble(struct, grid, spec.codings, spec.contrast_mats, n)
    out = {}
    for w in chosen:
        term = struct.terms[list(struct.labels).index(w)]
        Lt, names = _cells(struct, spec, term, grid, n)
        L = (Lt / Lt.sum(axis=0)).T @ uX
        out[w] = pd.DataFrame(L, index=names, columns=list(colnames))
    return out


def ls_means(m: Any, which: Sequence[str] | str | None = None, ddf: str = "Satterthwaite",
             pairwise: bool = False, level: float = 0.95, allow_transformed: bool = False) -> LsMeansTable:
    """lmerTest's ``ls_means(m, which, level, ddf, pairwise)``: least-squares means of factor terms.

    R equivalent: ``lmerTest::ls_means(m, which = "Machine", ddf = "Satterthwaite", pairwise = FALSE)``.

    Parameters
    ----------
    m : an lmer fit
    which : term label(s) of the fixed part whose variables are all factors (``"Machine"``,
        ``"recipe:temperature"``); default all such terms
    ddf : "Satterthwaite" or "Kenward-Roger"
    pairwise : the differences of every pair of means of a term instead (:func:`difflsmeans`)
    level : confidence level of the intervals ``lower``, ``upper``
    allow_transformed : lmerTest stops when a fixed-effect variable is a transformation (``factor(k)``,
        ``log(x)``: its bug, see the module docstring), and so does ``ls_means`` by default; ``True``
        holds the transformed variable at its levels / mean instead

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
        ``which`` names no factor term of the model; a transformed variable (unless
        ``allow_transformed``), a logical variable or a matrix covariate.

    Examples
    --------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker)", mc.datasets.load("Machines"))
    >>> round(float(mc.ls_means(m).loc["MachineA", "Estimate"]), 4)
    52.3556
    """
    require_lmertest_model(m, "ls_means")
    method = normalise_ddf(ddf)
    if method == "lme4":
        raise ValueError("ls_means: ddf must be 'Satterthwaite' or 'Kenward-Roger'")
    if isinstance(level, bool) or not isinstance(level, (int, float, np.number)) or not 0 < level < 1:
        raise DataError(f"ls_means: level must be a number between 0 and 1, not {level!r}")
    Llist = lsmeans_contrasts(m, which, allow_transformed)
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
        hypotheses[term] = L            # lmerTest's attribute: before the estimability check, all columns
        tables.append(pd.DataFrame(contest(m, Ld, joint=False, ddf=method, confint=True, level=level)))
    out = LsMeansTable(pd.concat(tables) if tables else pd.DataFrame(columns=T_COLUMNS, dtype=float))
    out.attrs = {"response": m.frame.response_name, "confidence_level": float(level), "ddf": method,
                 "hypotheses": hypotheses}
    return out


def difflsmeans(m: Any, which: Sequence[str] | str | None = None, ddf: str = "Satterthwaite",
                level: float = 0.95, allow_transformed: bool = False) -> LsMeansTable:
    """lmerTest's ``difflsmeans(m, which, level, ddf)``: ``ls_means(..., pairwise=True)``, the pairwise
    differences of the least-squares means of each factor term (rows ``"MachineA - MachineB"``).

    R equivalent: ``lmerTest::difflsmeans(m, which = "Machine", ddf = "Satterthwaite")``.

    Parameters
    ----------
    m, which, ddf, level, allow_transformed
        As :func:`ls_means`.

    Returns
    -------
    LsMeansTable
        One row per pair: ``Estimate, Std. Error, df, t value, lower, upper, Pr(>|t|)``, printed
        as lmerTest.

    Examples
    --------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker)", mc.datasets.load("Machines"))
    >>> mc.difflsmeans(m).index.tolist()
    ['MachineA - MachineB', 'MachineA - MachineC', 'MachineB - MachineC']
    """
    require_lmertest_model(m, "difflsmeans")
    return ls_means(m, which=which, ddf=ddf, pairwise=True, level=level, allow_transformed=allow_transformed)
