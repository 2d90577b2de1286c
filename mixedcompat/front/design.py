"""The model frame and model matrices of a mixed-model formula, with R's exact semantics.

:func:`model_frame` does what lme4's ``lFormula`` does before the random-effects structure is built:
R's ``model.frame`` (variables evaluated on the data, ``subset``, ``na.omit``/``na.fail``, unused factor
levels dropped), R's ``model.matrix`` for the fixed effects (the terms of
:mod:`mixedcompat.front.terms`, contrasts, column names, ``assign``) with lme4's rank-deficiency check
(``check.rankX = "message+drop.cols"``), ``model.matrix(~ expr)`` for each random-effects term and the
grouping factors.  It is a sequence of named steps: :func:`model_variables` (every variable evaluated,
keyed by its R tree), :func:`complete_rows` (``subset``, ``na.action``), the Inf checks, response,
weights and offset, :func:`fixed_matrix`, :func:`random_matrices`, :func:`grouping_factors`.
:func:`build_fixed` rebuilds the fixed-effects matrix on new data with the training levels, contrasts
and ``poly``/``scale`` coefficients (R's ``predvars``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.front.contrasts import contrast_matrix
from mixedcompat.front.data_input import as_data_frame
from mixedcompat.errors import DataError, FormulaError, RankDeficiencyWarning
from mixedcompat.front.formula import FormulaParts
from mixedcompat.front.terms import TermStructure, factor_codes, rhs_terms
from mixedcompat.front.rlang import Node, parse
from mixedcompat.front.transforms import EvalContext, Fac, Num, evaluate, factor_from_values

__all__ = ["ModelFrame", "MatrixSpec", "model_frame", "build_fixed", "build_matrix", "model_matrix", "qr_rank",
           "check_finite", "assemble", "group_factor", "group_leaves", "model_variables", "complete_rows",
           "fixed_matrix", "random_matrices", "grouping_factors"]

RANK_TOL = 1e-7

# --------------------------------------------------------------------------------------------
# model.matrix


@dataclass(frozen=True)
class MatrixSpec:
    """Everything needed to rebuild a model matrix on new data (R's predvars + xlevels + contrasts).

    Examples
    --------
    >>> mf = model_frame(parse_formula("y ~ poly(x, 2)"),
    ...                  pd.DataFrame({"y": [1., 2, 3, 4], "x": [1., 2, 4, 8]}))  # doctest: +SKIP
    >>> build_fixed(mf.fixed_spec, pd.DataFrame({"x": [3.0]})).shape  # doctest: +SKIP
    (1, 3)
    """

    structure: TermStructure
    params: dict
    levels: dict                    # variable index -> (levels, ordered, logical) for factor variables
    codings: tuple                  # per term: ((variable index, code), ...)
    contrast_mats: dict             # variable index -> (matrix, suffixes) for contrast-coded factors
    colnames: tuple[str, ...]       # all columns before dropping
    keep: tuple[int, ...]           # indices of the columns kept after the rank check

    @property
    def names(self) -> list[str]:
        return [self.colnames[i] for i in self.keep]


def _as_factor_var(v: Num | Fac) -> Fac | None:
    """Factors as model.matrix sees them: factors, and logicals with levels FALSE/TRUE."""
    if isinstance(v, Fac):
        return v
    if v.logical:
        vals = v.values
        return Fac(np.where(np.isnan(vals), -1, vals).astype(np.int64), ["FALSE", "TRUE"])
    return None


def _var_columns(name: str, v: Num | Fac, code: int, cmat) -> tuple[np.ndarray, list[str]]:
    if isinstance(v, Fac):
        if code == 2:
            m, suffixes = np.eye(len(v.levels)), list(v.levels)
        else:
            m, suffixes = cmat
        ext = np.vstack([m, np.full((1, m.shape[1]), np.nan)])
        return ext[v.codes], [name + s for s in suffixes]
    mat = v.matrix
    if mat.shape[1] == 1:
        return mat, [name]
    suffixes = v.colnames if v.colnames is not None else [str(i) for i in range(1, mat.shape[1] + 1)]
    return mat, [name + s for s in suffixes]


def assemble(struct: TermStructure, values: dict[int, Num | Fac], codings, contrast_mats,
             n: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """R's ``model.matrix`` columns from evaluated variables and their factor codings.

    Parameters
    ----------
    struct : TermStructure
        The terms (:func:`mixedcompat.front.terms.rhs_terms`).
    values : dict
        Variable index -> its value (:class:`Num`, or :class:`Fac` for factors and logicals).
    codings : sequence
        Per term, ``(variable index, code)`` pairs (:func:`mixedcompat.front.terms.factor_codes`).
    contrast_mats : dict
        Variable index -> ``(contrast matrix, column suffixes)`` for contrast-coded factors.
    n : int
        Number of rows.

    Returns
    -------
    X, column names, R's ``assign``

    Examples
    --------
    >>> from mixedcompat.front.terms import rhs_terms
    >>> s = rhs_terms("x")
    >>> assemble(s, {0: Num(np.array([1.0, 2.0]))}, [[(0, 1)]], {}, 2)[1]
    ['(Intercept)', 'x']
    """
    blocks = []
    names: list[str] = []
    assign: list[int] = []
    if struct.intercept:
        blocks.append(np.ones((n, 1)))
        names.append("(Intercept)")
        assign.append(0)
    for j, coding in enumerate(codings, start=1):
        cols = None
        cnames: list[str] = []
        for v, code in coding:
            m, nm = _var_columns(struct.names[v], values[v], code, contrast_mats.get(v))
            if cols is None:
                cols, cnames = m, nm
            else:   # the first variable varies fastest
                cols = (m[:, :, None] * cols[:, None, :]).reshape(n, m.shape[1] * cols.shape[1])
                cnames = [f"{b}:{a}" for a in nm for b in cnames]
        blocks.append(cols)
        names.extend(cnames)
        assign.extend([j] * len(cnames))
    X = np.hstack(blocks) if blocks else np.zeros((n, 0))
    return np.ascontiguousarray(X, dtype=float), names, np.asarray(assign, dtype=np.int64)


def _design(struct: TermStructure, values: dict[int, Num | Fac], n: int,
            contrasts: dict | None) -> tuple[np.ndarray, list[str], np.ndarray, MatrixSpec]:
    """model.matrix on already evaluated (and subsetted) variables; also returns its spec."""
    used = sorted({v for t in struct.terms for v in t})
    fvals: dict[int, Num | Fac] = {}
    is_factor = [False] * len(struct.names)
    levels = {}
    for v in used:
        val = values[v]
        fac = _as_factor_var(val)
        if fac is not None:
            is_factor[v] = True
            levels[v] = (list(fac.levels), fac.ordered, isinstance(val, Num))
            fvals[v] = fac
        else:
            fvals[v] = val
    codings = factor_codes(struct, is_factor)
    contrasts = dict(contrasts or {})
    keyed = {_canonical_name(key): spec for key, spec in contrasts.items()}
    cmats = {}
    for v in used:
        if is_factor[v]:
            fac = fvals[v]
            cmats[v] = contrast_matrix(keyed.get(struct.names[v]), fac.levels, fac.ordered, struct.names[v])
    X, names, assign = assemble(struct, fvals, codings, cmats, n)
    spec = MatrixSpec(struct, {}, levels, tuple(tuple(c) for c in codings), cmats, tuple(names),
                      tuple(range(len(names))))
    return X, names, assign, spec


def model_matrix(rhs: str | Node, data: pd.DataFrame, contrasts: dict | None = None,
                 na_omit: bool = True) -> tuple[np.ndarray, list[str], np.ndarray]:
    """R's ``model.matrix(~ rhs, data, contrasts.arg = contrasts)``: no rank check, no level dropping.

    Rows with a missing value in a variable are left out (R's default ``na.omit``) unless
    ``na_omit=False``.  Returns the matrix, its column names and R's ``assign``.

    Examples
    --------
    >>> d = pd.DataFrame({"x": [1.0, 2.0, 3.0], "f": ["a", "b", "a"]})
    >>> model_matrix("x * f", d)[1]
    ['(Intercept)', 'x', 'fb', 'x:fb']
    """
    struct = rhs_terms(rhs)
    ctx = EvalContext(data)
    values = {i: _finish_variable(evaluate(node, ctx), struct.names[i], len(data))
              for i, node in enumerate(struct.variables)}
    n = len(data)
    if na_omit and values:
        miss = np.zeros(n, dtype=bool)
        for v in values.values():
            miss |= v.na_mask()
        if miss.any():
            rows = np.flatnonzero(~miss)
            values = {i: v.take(rows) for i, v in values.items()}
            n = len(rows)
            # R's model.matrix makes factors of character columns after the NA rows are gone
            for i, node in enumerate(struct.variables):
                if isinstance(values[i], Fac) and node.kind == "sym" and node.value in data.columns \
                        and _is_string_column(data[node.value]):
                    values[i] = values[i].drop_unused()
    X, names, assign, _spec = _design(struct, values, n, contrasts)
    return X, names, assign


def _is_string_column(col: pd.Series) -> bool:
    dt = col.dtype
    return not isinstance(dt, pd.CategoricalDtype) and (pd.api.types.is_string_dtype(dt) or dt == object)


def _finish_variable(v: Any, name: str, n: int) -> Num | Fac:
    """A variable's value as a full-length Num or Fac."""
    if isinstance(v, (Num, Fac)):
        return v
    if isinstance(v, (int, float)):
        return Num(np.full(n, float(v)))
    raise FormulaError(f"variable {name!r} does not evaluate to data")


def build_matrix(spec: MatrixSpec, newdata: pd.DataFrame) -> np.ndarray:
    """Rebuild a model matrix on ``newdata`` with the training parameters; NA rows give NaN rows.

    Raises
    ------
    DataError
        A factor has a level that was not in the training data.
    """
    values = spec_variables(spec, newdata)
    X, _names, _assign = assemble(spec.structure, values, spec.codings, spec.contrast_mats, len(newdata))
    return X[:, list(spec.keep)]


def spec_variables(spec: MatrixSpec, newdata: pd.DataFrame) -> dict[int, Num | Fac]:
    """The variables of a model matrix evaluated on ``newdata`` with the training parameters
    (``poly()`` / ``scale()`` coefficients) and factors on the training levels, by variable index.

    Raises
    ------
    DataError
        A factor has a level that was not in the training data, or a numeric variable became a factor.
    """
    struct = spec.structure
    n = len(newdata)
    ctx = EvalContext(newdata, params=spec.params, fit=False)
    values: dict[int, Num | Fac] = {}
    used = sorted({v for t in struct.terms for v in t})
    for v in used:
        name = struct.names[v]
        val = _finish_variable(evaluate(struct.variables[v], ctx), name, n)
        if v in spec.levels:
            train_levels, ordered, _logical = spec.levels[v]
            fac = _as_factor_var(val) if isinstance(val, (Num, Fac)) else None
            if fac is None:
                fac = factor_from_values(val)
            pos = {lv: i for i, lv in enumerate(train_levels)}
            remap = np.array([pos.get(lv, -1) for lv in fac.levels] + [-1], dtype=np.int64)
            new_codes = remap[fac.codes]
            bad = (new_codes < 0) & (fac.codes >= 0)
            if bad.any():
                unseen = sorted({fac.levels[c] for c in np.unique(fac.codes[bad])})
                raise DataError(f"factor {name} has new level{'s' if len(unseen) > 1 else ''} "
                                f"{', '.join(unseen)}")
            values[v] = Fac(new_codes, list(train_levels), ordered)
        else:
            if isinstance(val, Fac):
                raise DataError(f"variable {name!r} was numeric in the training data but is a factor in newdata")
            values[v] = val
    return values


def build_fixed(spec: MatrixSpec, newdata: pd.DataFrame) -> np.ndarray:
    """The fixed-effects model matrix on new data, as lme4's ``predict(newdata=)`` builds it.

    Examples
    --------
    >>> import pandas as pd
    >>> from mixedcompat.front.formula import parse_formula
    >>> d = pd.DataFrame({"y": [1.0, 2, 3, 5], "x": [1.0, 2, 3, 4], "g": list("aabb")})
    >>> mf = model_frame(parse_formula("y ~ scale(x) + (1 | g)"), d)
    >>> build_fixed(mf.fixed_spec, pd.DataFrame({"x": [2.5]})).tolist()
    [[1.0, 0.0]]
    """
    return build_matrix(spec, newdata)


# --------------------------------------------------------------------------------------------
# rank: LINPACK dqrdc2 (R's qr(), limited column pivoting)


def _dqrdc2(X: np.ndarray, tol: float) -> tuple[int, np.ndarray]:
    """Householder QR with R's limited pivoting: negligible columns move to the end."""
    x = np.array(X, dtype=float, order="F", copy=True)
    n, p = x.shape
    pivot = np.arange(p)
    qraux = np.sqrt((x ** 2).sum(axis=0))
    work1 = qraux.copy()
    work2 = np.where(qraux == 0.0, 1.0, qraux)
    k = p + 1            # 1-based as in the Fortran description
    lup = min(n, p)
    for l in range(lup):                             # 0-based column l
        while l + 1 < k and qraux[l] < work2[l] * tol:
            # move column l to the end, shifting the others left
            order = list(range(l)) + list(range(l + 1, p)) + [l]
            x = x[:, order]
            pivot, qraux, work1, work2 = pivot[order], qraux[order], work1[order], work2[order]
            k -= 1
        if l == n - 1:
            break
        col = x[l:, l]
        nrmxl = np.sqrt(col @ col)
        if nrmxl == 0.0:
            continue
        if col[0] != 0.0:
            nrmxl = np.copysign(nrmxl, col[0])
        col = col / nrmxl
        col[0] += 1.0
        x[l:, l] = col
        if l + 1 < p:
            rest = x[l:, l + 1:]
            t = -(col @ rest) / col[0]
            rest += np.outer(col, t)
            x[l:, l + 1:] = rest
            for j in range(l + 1, p):
                if qraux[j] == 0.0:
                    continue
                tt = max(1.0 - (abs(x[l, j]) / qraux[j]) ** 2, 0.0)
                if abs(tt) < 1e-6:
                    below = x[l + 1:, j]
                    qraux[j] = np.sqrt(below @ below)
                    work1[j] = qraux[j]
                else:
                    qraux[j] = qraux[j] * np.sqrt(tt)
        qraux[l] = x[l, l]
        x[l, l] = -nrmxl
    rank = min(k - 1, n)
    return rank, pivot


def qr_rank(X: np.ndarray, tol: float = RANK_TOL) -> tuple[int, np.ndarray]:
    """Rank and column pivot of ``X`` exactly as R's ``qr(X, tol)`` (LINPACK dqrdc2) decides them.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), np.arange(4.0), 2 * np.arange(4.0)])
    >>> rank, pivot = qr_rank(X)
    >>> rank, pivot.tolist()
    (2, [0, 1, 2])
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    if p == 0:
        return 0, np.arange(0)
    if n >= p:
        # fast path: with no negligible column dqrdc2 never pivots.  The squared residual norm of
        # each column relative to its own norm, from the Cholesky factor of X'X, is accurate to
        # ~p * eps; when every ratio is far above tol (> 1e-3 vs 1e-7) the decision is certain.
        G = X.T @ X
        d = np.diag(G)
        if np.all(d > 0) and np.all(np.isfinite(G)):
            try:
                L = np.linalg.cholesky(G)
            except np.linalg.LinAlgError:
                L = None
            if L is not None and np.all(np.diag(L) / np.sqrt(d) > 1e-3):
                return p, np.arange(p)
    return _dqrdc2(X, tol)


def rank_message(k: int) -> str:
    return ("fixed-effect model matrix is rank deficient so dropping "
            f"{k} column{'s' if k != 1 else ''} / coefficient{'s' if k != 1 else ''}")


# --------------------------------------------------------------------------------------------
# model frame


@dataclass(frozen=True)
class ModelFrame:
    """The rows, response, fixed-effects matrix and random-effects inputs of a mixed model.

    See :func:`model_frame` for the meaning of each field.
    """

    data: pd.DataFrame
    rows: np.ndarray
    y: np.ndarray
    response_name: str
    X: np.ndarray
    x_names: list[str]
    x_assign: np.ndarray
    x_terms: list[str]
    dropped: list[str]
    weights: np.ndarray | None
    offset: np.ndarray | None
    re_X: list[tuple[np.ndarray, list[str]]]
    re_groups: list[tuple[np.ndarray, list[str]]]
    fixed_spec: MatrixSpec
    re_specs: list[MatrixSpec] = field(default_factory=list)
    response_raw: Num | Fac | None = None   # glm responses: the response as evaluated (factor, cbind matrix)


def group_leaves(node: Node, out: list[Node]) -> None:
    """Append to ``out`` the variables of a grouping factor ``a:b:(c)`` (the operands of ``:``).

    Examples
    --------
    >>> leaves = []
    >>> group_leaves(parse("b:(a)"), leaves)
    >>> [leaf.deparse() for leaf in leaves]
    ['b', 'a']
    """
    if node.kind == "binop" and node.value == ":":
        group_leaves(node.args[0], out)
        group_leaves(node.args[1], out)
    elif node.kind == "paren":
        group_leaves(node.args[0], out)
    else:
        out.append(node)


def _interact(a: Fac, b: Fac) -> Fac:
    """R's ``factor(a:b)``: levels ``a1:b1`` with ``a`` slowest, only observed combinations."""
    La, Lb = len(a.levels), len(b.levels)
    na = (a.codes < 0) | (b.codes < 0)
    comb = a.codes * Lb + b.codes
    comb = np.where(na, -1, comb)
    if La * Lb <= max(10 * len(comb), 1 << 20):
        valid = comb[comb >= 0]
        used = np.bincount(valid, minlength=La * Lb) > 0
        newcode = np.cumsum(used) - 1
        codes = np.where(comb >= 0, newcode[np.maximum(comb, 0)], -1)
        observed = np.flatnonzero(used)
    else:
        observed, inv = np.unique(comb[comb >= 0], return_inverse=True)
        codes = np.full(len(comb), -1, dtype=np.int64)
        codes[comb >= 0] = inv
    labels = [f"{a.levels[i // Lb]}:{b.levels[i % Lb]}" for i in observed.tolist()]
    return Fac(codes.astype(np.int64), labels)


def group_factor(node: Node, values: dict[Node, Any], rows: np.ndarray | None, name: str) -> Fac:
    """The grouping factor ``node`` (``g``, ``a:b``...) from its leaves' values (keyed by their trees),
    on ``rows`` (all when ``None``); ``a:b`` has the observed combinations as levels, ``a`` slowest.

    Examples
    --------
    >>> vals = {parse("a"): Fac(np.array([0, 1, 0]), ["p", "q"]), parse("b"): Fac(np.array([0, 0, 1]), ["u", "v"])}
    >>> group_factor(parse("a:b"), vals, None, "a:b").levels
    ['p:u', 'p:v', 'q:u']
    """
    if node.kind == "paren":
        return group_factor(node.args[0], values, rows, name)
    if node.kind == "binop" and node.value == ":":
        left = group_factor(node.args[0], values, rows, name)
        right = group_factor(node.args[1], values, rows, name)
        return _interact(left, right)
    v = values[node]
    if rows is not None:
        v = v.take(rows)
    return factor_from_values(v)


def _as_array(arg: Any, data: pd.DataFrame, what: str) -> tuple[np.ndarray, str]:
    if isinstance(arg, str):
        if arg not in data.columns:
            raise FormulaError(f"object '{arg}' not found: the {what} column {arg!r} is not in the data")
        col = data[arg]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            raise DataError(f"{what} must be numeric: column {arg!r} has dtype {col.dtype}")
        return col.to_numpy(dtype=float, na_value=np.nan), arg
    arr = np.asarray(arg.to_numpy() if isinstance(arg, pd.Series) else arg)
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be numeric") from exc
    if arr.ndim != 1 or len(arr) != len(data):
        raise DataError(f"{what} must have one value per data row ({len(data)}), not shape {arr.shape}")
    return arr, f"({what})"


# R's words when a model variable holds Inf or -Inf: lme4 1.1-31 stops in the response module
# (mkRespMod), in qr() of the fixed-effects matrix, or at the first evaluation of the objective
_INF_MESSAGES = {
    "the response": "NA/NaN/Inf in 'y'",
    "the fixed-effects variable": "NA/NaN/Inf in foreign function call (arg 1)",
    "the random-effects variable": "objective in x0 returns NA",
    "the weights": "objective in x0 returns NA",
    "the offset": "objective in x0 returns NA",
}


def check_finite(value: Num | Fac, name: str, role: str, row_labels: Any) -> None:
    """Raise lme4's error, naming the variable and rows, when a numeric model variable holds Inf or -Inf.

    Parameters
    ----------
    value : Num or Fac
        The evaluated variable on the rows of the model frame (factors and logicals always pass).
    name : str
        The variable as R writes it (``"log(x)"``, ``"y"``, ``"(weights)"``).
    role : str
        One of ``"the response"``, ``"the fixed-effects variable"``, ``"the random-effects variable"``,
        ``"the weights"``, ``"the offset"``: it picks R's message.
    row_labels : sequence
        The data's row labels of the model-frame rows (named in the message).

    Raises
    ------
    DataError
        ``"NA/NaN/Inf in 'y': the response 'log(y)' is -Inf in 1 row (row label 3)"``.

    Examples
    --------
    >>> check_finite(Num(np.array([1.0, np.inf])), "x", "the response", [10, 11])
    Traceback (most recent call last):
    ...
    mixedcompat.errors.DataError: NA/NaN/Inf in 'y': the response 'x' is Inf in 1 row (row label 11); drop or recode those rows
    """
    if isinstance(value, Fac) or value.logical:
        return
    vals = np.asarray(value.values, dtype=float)
    inf = np.isinf(vals) if vals.ndim == 1 else np.isinf(vals).any(axis=1)
    if not inf.any():
        return
    where = np.flatnonzero(inf)
    signs = vals[where] if vals.ndim == 1 else vals[where][np.isinf(vals[where])]
    kinds = "/".join(k for k, hit in (("Inf", (signs > 0).any()), ("-Inf", (signs < 0).any())) if hit)
    labels = [str(row_labels[i]) for i in where[:5].tolist()]
    more = f" and {len(where) - 5} more" if len(where) > 5 else ""
    rows_text = f"row label{'s' if len(where) > 1 else ''} {', '.join(labels)}{more}"
    verb = "are" if role == "the weights" else "is"
    raise DataError(f"{_INF_MESSAGES[role]}: {role} {name!r} {verb} {kinds} in {len(where)} "
                    f"row{'s' if len(where) > 1 else ''} ({rows_text}); drop or recode those rows")


def _subset_mask(subset: Any, data: pd.DataFrame, ctx: EvalContext) -> np.ndarray:
    n = len(data)
    if isinstance(subset, str):
        v = evaluate(parse(subset), ctx)
        if not isinstance(v, Num) or v.values.ndim != 1:
            raise FormulaError(f"subset {subset!r} must evaluate to a logical vector")
        vals = np.broadcast_to(v.values, (n,))
        return np.nan_to_num(vals, nan=0.0) != 0
    arr = np.asarray(subset.to_numpy() if isinstance(subset, pd.Series) else subset)
    if arr.dtype == bool or arr.dtype == object:
        if len(arr) != n:
            raise DataError(f"subset has length {len(arr)} but the data has {n} rows")
        return np.asarray(pd.Series(arr).fillna(False).astype(bool))
    if np.issubdtype(arr.dtype, np.integer):
        mask = np.zeros(n, dtype=bool)
        mask[arr] = True
        return mask
    raise DataError("subset must be a boolean mask, integer row positions or an R expression string")


def model_frame(parts: FormulaParts, data: pd.DataFrame, weights=None, offset=None, subset=None,
                na_action: str = "omit", contrasts: dict | None = None, glm_response: bool = False) -> ModelFrame:
    """R's model frame and model matrices for a parsed lme4 formula (lme4's ``lFormula`` data stage).

    Parameters
    ----------
    parts : FormulaParts
        From :func:`mixedcompat.front.formula.parse_formula`.
    data : pandas.DataFrame
    weights, offset : str or array-like, optional
        A column name or one value per row of ``data``.
    subset : bool array, int positions or str, optional
        Rows to use; a string is an R expression such as ``"x > 3"``.
    na_action : {"omit", "fail"}
        ``"omit"`` drops rows with a missing value in any variable used (R's ``na.omit``);
        ``"fail"`` raises :class:`DataError` naming the columns.
    contrasts : dict, optional
        Variable -> ``"contr.treatment" | "contr.sum" | "contr.helmert" | "contr.SAS" | "contr.poly"``
        or a levels x k matrix.
    glm_response : bool
        Accept what a GLM takes as response besides a numeric vector: a factor (``y`` is then 1 for
        every level but the first, as R's binomial family) or a ``cbind(...)`` matrix (``y`` is the
        matrix); ``response_raw`` keeps the value as evaluated, for the family's checks.

    Returns
    -------
    ModelFrame

    Raises
    ------
    FormulaError
        An unknown variable or function.
    DataError
        Non-numeric response, bad weights, no rows left, missing values with ``na_action="fail"``.

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> d = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.0, 1, 2, 3], "g": list("abab")})
    >>> mf = model_frame(parse_formula("y ~ x + (1 | g)"), d)
    >>> mf.x_names, mf.re_groups[0][1]
    (['(Intercept)', 'x'], ['a', 'b'])
    """
    data, fail_on_na = _checked_inputs(data, na_action)
    variables = model_variables(parts, data)
    extras = _weights_offset_columns(weights, offset, data)
    keep = np.ones(len(data), dtype=bool) if subset is None else _subset_mask(subset, data, variables.context)
    columns = [(node.deparse(), v) for node, v in variables.values.items()] + \
        [(name, Num(arr)) for name, arr in extras.values()]
    used = complete_rows(columns, keep, fail_on_na)
    _check_infinite(variables, used, data, glm_response)
    y, rname = _response(variables, used)
    w, off = _weights_and_offset(variables, extras, used, data)
    X, names, assign, dropped, spec = fixed_matrix(variables, used, contrasts)
    re_X, re_specs = random_matrices(variables, used)
    re_groups = grouping_factors(variables.groups, variables.values, used)
    frame = data if used.take is None else data.iloc[used.rows]
    return ModelFrame(data=frame, rows=used.rows, y=y, response_name=rname, X=X, x_names=list(names),
                      x_assign=np.asarray(assign), x_terms=variables.fixed.labels, dropped=dropped, weights=w,
                      offset=off, re_X=re_X, re_groups=re_groups, fixed_spec=spec, re_specs=re_specs,
                      response_raw=used.of(variables.values[variables.response]) if glm_response else None)


def _checked_inputs(data: Any, na_action: str) -> tuple[pd.DataFrame, bool]:
    """The data as a DataFrame with rows, and whether missing values stop the fit (``na.fail``)."""
    data = as_data_frame(data)
    if len(data) == 0:
        raise DataError("data has no rows (0 cases): nothing to fit")
    if na_action not in ("omit", "fail", "na.omit", "na.fail", "exclude", "na.exclude"):
        raise DataError(f"na_action must be 'omit' or 'fail', not {na_action!r}")
    return data, na_action in ("fail", "na.fail")


@dataclass(frozen=True)
class ModelVariables:
    """Every variable of a mixed model's frame evaluated on all rows of the data (R's ``model.frame``
    before ``subset`` and ``na.action``).

    ``values`` maps each variable (its tree) to its value, in R's order: the response, the
    fixed-effects variables, the random-effects variables, the grouping factors' variables.
    ``context`` holds the training parameters of ``poly()`` / ``scale()`` (R's ``predvars``).
    """

    response: Node
    fixed: TermStructure
    random: list[TermStructure]
    groups: list[Node]
    values: dict[Node, Num | Fac]
    context: EvalContext


def model_variables(parts: FormulaParts, data: pd.DataFrame, params: dict | None = None) -> ModelVariables:
    """Evaluate every variable of ``parts`` on ``data``: response, fixed and random-effects terms'
    variables, the grouping factors' variables (which must be data columns when they are names).

    ``params`` (``poly()`` / ``scale()`` coefficients keyed by R's text of the call, as
    :attr:`EvalContext.params`) are used instead of computing them from ``data`` (R's ``predvars``:
    a part of a larger data set takes the whole's).

    Raises
    ------
    FormulaError
        No response, an unknown variable or function, a grouping factor that is not a column.

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> d = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.0, 1, 2, 3], "g": list("abab")})
    >>> [v.deparse() for v in model_variables(parse_formula("log(y) ~ x + (1 | g)"), d).values]
    ['log(y)', 'x', 'g']
    """
    if parts.response is None:
        raise FormulaError(f"formula {parts.text!r} has no response")
    response_node = parts.response
    fixed = rhs_terms(parts.fixed)
    re_structs = [rhs_terms(t.expr) for t in parts.re_terms]
    group_nodes = [t.group for t in parts.re_terms]
    n_all = len(data)
    ctx = EvalContext(data) if params is None else EvalContext(data, params=dict(params), fit=False)
    values: dict[Node, Num | Fac] = {}

    def add(node: Node) -> None:
        if node not in values:
            values[node] = _finish_variable(evaluate(node, ctx), node.deparse(), n_all)

    add(response_node)
    for s in [fixed, *re_structs]:
        for node in s.variables:
            add(node)
    for g, term in zip(group_nodes, parts.re_terms):
        leaves: list[Node] = []
        group_leaves(g, leaves)
        for leaf in leaves:
            if leaf.kind == "sym" and leaf.value not in data.columns:
                raise FormulaError(f"object '{leaf.value}' not found: grouping factor {leaf.value!r} "
                                   f"of random-effects term ({term.label}) is not a column of the data")
            add(leaf)
    return ModelVariables(response_node, fixed, re_structs, group_nodes, values, ctx)


def _weights_offset_columns(weights: Any, offset: Any, data: pd.DataFrame) -> dict[str, tuple[str, np.ndarray]]:
    """The ``weights=`` / ``offset=`` arguments on all rows: role -> (name, values)."""
    extras: dict[str, tuple[str, np.ndarray]] = {}
    if weights is not None:
        w_arr, w_name = _as_array(weights, data, "weights")
        extras["weights"] = (w_name, w_arr)
    if offset is not None:
        off_arr, o_name = _as_array(offset, data, "offset")
        extras["offset"] = (o_name, off_arr)
    return extras


@dataclass(frozen=True)
class UsedRows:
    """The rows of the data a model frame keeps (after ``subset`` and ``na.omit``).

    ``rows`` are their positions; ``take`` is ``None`` when every row is kept (no copy needed).
    """

    rows: np.ndarray
    take: np.ndarray | None

    def of(self, value: Num | Fac) -> Num | Fac:
        """``value`` on the kept rows; a factor loses the levels no kept row has (R's ``droplevels``)."""
        v = value if self.take is None else value.take(self.take)
        return v.drop_unused() if isinstance(v, Fac) else v

    def of_array(self, arr: np.ndarray) -> np.ndarray:
        return arr if self.take is None else arr[self.take]


def complete_rows(columns: list[tuple[str, Num | Fac]], keep: np.ndarray, fail_on_na: bool) -> UsedRows:
    """R's ``subset`` then ``na.omit`` / ``na.fail``: the rows of ``keep`` with no missing value in any
    of the named ``columns`` (the model's variables, weights, offset).

    Raises
    ------
    DataError
        The subset keeps no row, a missing value under ``na.fail`` (naming the variables and counts),
        or no complete row.

    Examples
    --------
    >>> used = complete_rows([("x", Num(np.array([1.0, np.nan, 3.0])))], np.ones(3, bool), False)
    >>> used.rows.tolist()
    [0, 2]
    """
    n_all = len(keep)
    if not keep.any():
        raise DataError(f"0 (non-NA) cases: the subset removed all {n_all} rows")
    na_cols = []
    complete = keep.copy()
    for key, v in columns:
        miss = v.na_mask() & keep
        if miss.any():
            na_cols.append((key, int(miss.sum())))
            complete &= ~miss
    if na_cols and fail_on_na:
        desc = ", ".join(f"{k!r} ({m} row{'s' if m > 1 else ''})" for k, m in na_cols)
        raise DataError(f"missing values in object: {desc}; use na_action='omit' to drop those rows")
    if not complete.any():
        desc = ", ".join(f"{k!r}" for k, _m in na_cols)
        raise DataError(f"0 (non-NA) cases: all {int(keep.sum())} rows have missing values (in {desc})")
    all_rows = bool(complete.all())
    rows = np.arange(n_all) if all_rows else np.flatnonzero(complete)
    return UsedRows(rows, None if all_rows else rows)


def _check_infinite(variables: ModelVariables, used: UsedRows, data: pd.DataFrame, glm_response: bool = False) -> None:
    """lme4's errors for Inf / -Inf, in the order lme4 meets them: the fixed-effects matrix (its rank
    check), the response, then the random-effects matrices (the first evaluation of the objective)."""
    fixed = variables.fixed
    labels = data.index[used.rows]
    for i, (name, node) in enumerate(zip(fixed.names, fixed.variables)):
        if i not in fixed.offsets:
            check_finite(used.of(variables.values[node]), name, "the fixed-effects variable", labels)
    rname = variables.response.deparse()
    yv = used.of(variables.values[variables.response])
    if isinstance(yv, Fac) and glm_response:
        yv = Num(np.where(yv.codes < 0, np.nan, 0.0))
    elif (isinstance(yv, Fac) or yv.values.ndim != 1) and not glm_response:
        raise DataError(f"response must be numeric: {rname!r} is "
                        f"{'a factor/string column' if isinstance(yv, Fac) else 'a matrix'}")
    check_finite(yv, rname, "the response", labels)
    for s in variables.random:
        for name, node in zip(s.names, s.variables):
            check_finite(used.of(variables.values[node]), name, "the random-effects variable", labels)


def _response(variables: ModelVariables, used: UsedRows) -> tuple[np.ndarray, str]:
    """The response on the kept rows and its R spelling (checked by :func:`_check_infinite`)."""
    yv = used.of(variables.values[variables.response])
    if isinstance(yv, Fac):   # a GLM's factor response: the first level is failure (R's binomial())
        return (yv.codes != 0).astype(float), variables.response.deparse()
    return np.asarray(yv.values, dtype=float), variables.response.deparse()


def _weights_and_offset(variables: ModelVariables, extras: dict[str, tuple[str, np.ndarray]], used: UsedRows,
                        data: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Prior weights and the total offset (the formula's ``offset()`` terms, then ``offset=``) on the
    kept rows."""
    fixed = variables.fixed
    labels = data.index[used.rows]
    w = None
    if "weights" in extras:
        w_name, w_arr = extras["weights"]
        w = used.of_array(w_arr)
        check_finite(Num(w), w_name, "the weights", labels)
        if np.any(w < 0):
            raise DataError(f"negative weights not allowed: {int((w < 0).sum())} negative value(s) in {w_name!r}")
    off = None
    for i in fixed.offsets:
        ov = used.of(variables.values[fixed.variables[i]])
        if isinstance(ov, Fac):
            raise DataError(f"offset {fixed.names[i]!r} must be numeric")
        check_finite(ov, fixed.names[i], "the offset", labels)
        off = ov.values.astype(float) if off is None else off + ov.values
    if "offset" in extras:
        o_name, off_arr = extras["offset"]
        oa = used.of_array(off_arr)
        check_finite(Num(oa), o_name, "the offset", labels)
        off = oa.astype(float) if off is None else off + oa
    return w, off


def fixed_matrix(variables: ModelVariables, used: UsedRows, contrasts: dict | None
                 ) -> tuple[np.ndarray, list[str], np.ndarray, list[str], MatrixSpec]:
    """R's ``model.matrix`` of the fixed effects on the kept rows, then lme4's rank check
    (``check.rankX = "message+drop.cols"``): columns R's pivoted QR finds dependent are dropped
    with lme4's message.  Returns the matrix, its column names, R's ``assign``, the dropped
    column names and the spec that rebuilds it on new data.

    Warns
    -----
    RankDeficiencyWarning
        ``"fixed-effect model matrix is rank deficient so dropping 1 column / coefficient"``.
    UserWarning
        A ``contrasts`` entry names a variable the fixed part does not have (R's words).
    """
    fixed = variables.fixed
    fvals = {i: used.of(variables.values[node]) for i, node in enumerate(fixed.variables)}
    X, names, assign, spec = _design(fixed, fvals, len(used.rows), contrasts)
    if contrasts:
        known = {_canonical_name(k) for k in contrasts}
        for k in known - set(fixed.names):
            warnings.warn(f"variable '{k}' is absent, its contrast will be ignored", UserWarning, stacklevel=3)
    dropped: list[str] = []
    p = X.shape[1]
    if p:
        rank, pivot = qr_rank(X)
        if rank < p:
            kept = pivot[:rank]
            drop_idx = pivot[rank:]
            dropped = [names[i] for i in drop_idx]
            warnings.warn(rank_message(len(drop_idx)), RankDeficiencyWarning, stacklevel=3)
            X = np.ascontiguousarray(X[:, kept])
            names = [names[i] for i in kept]
            assign = assign[kept]
            spec = MatrixSpec(spec.structure, spec.params, spec.levels, spec.codings, spec.contrast_mats,
                              spec.colnames, tuple(int(i) for i in kept))
    return X, names, assign, dropped, _with_params(spec, variables.context.params)


def random_matrices(variables: ModelVariables, used: UsedRows
                    ) -> tuple[list[tuple[np.ndarray, list[str]]], list[MatrixSpec]]:
    """``model.matrix(~ expr)`` of each random-effects term on the kept rows (no rank check, as lme4),
    with its column names, and the specs that rebuild them on new data."""
    re_X = []
    re_specs = []
    for s in variables.random:
        rvals = {i: used.of(variables.values[node]) for i, node in enumerate(s.variables)}
        Z, znames, _za, zspec = _design(s, rvals, len(used.rows), None)
        re_X.append((Z, znames))
        re_specs.append(_with_params(zspec, variables.context.params))
    return re_X, re_specs


def grouping_factors(groups: list[Node], values: dict[Node, Num | Fac], used: UsedRows
                     ) -> list[tuple[np.ndarray, list[str]]]:
    """Each random-effects term's grouping factor on the kept rows: level codes and labels
    (``a:b`` the observed combinations, as R's interaction)."""
    out = []
    for g in groups:
        fac = group_factor(g, values, used.take, g.deparse())
        out.append((fac.codes, list(fac.levels)))
    return out


def _canonical_name(name: str) -> str:
    """A variable name as R spells it (``"log( x )"`` -> ``"log(x)"``); text that does not parse as is."""
    try:
        return parse(name).deparse()
    except FormulaError:
        return name


def _with_params(spec: MatrixSpec, params: dict) -> MatrixSpec:
    return MatrixSpec(spec.structure, dict(params), spec.levels, spec.codings, spec.contrast_mats,
                      spec.colnames, spec.keep)



def kept_variables(parts: FormulaParts, data: pd.DataFrame, weights: str | None = None, offset: str | None = None,
                   na_action: str = "omit", params: dict | None = None) -> tuple[ModelVariables, UsedRows, dict]:
    """The model's variables evaluated on ``data`` (one part of a larger data set) and the rows
    ``na.omit`` keeps (``na.fail``: :class:`DataError` on a missing value); a part with no row, or
    none complete, keeps none (no error).  The third item is the ``weights`` / ``offset`` columns
    (role -> (name, values)).  ``params``: the whole data's ``poly()`` / ``scale()`` coefficients
    (:func:`model_variables`).

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> part = pd.DataFrame({"y": [1.0, None], "g": ["u", "v"]})
    >>> variables, used, _ = kept_variables(parse_formula("y ~ 1 + (1 | g)"), part)
    >>> used.rows.tolist()
    [0]
    """
    data, fail_on_na = as_data_frame(data), na_action in ("fail", "na.fail")
    variables = model_variables(parts, data, params)
    extras = _weights_offset_columns(weights, offset, data)
    columns = [(node.deparse(), v) for node, v in variables.values.items()] + \
        [(name, Num(arr)) for name, arr in extras.values()]
    if fail_on_na and len(data):
        complete_rows(columns, np.ones(len(data), dtype=bool), True)
    complete = np.ones(len(data), dtype=bool)
    for _key, v in columns:
        complete &= ~v.na_mask()
    rows = np.flatnonzero(complete)
    return variables, UsedRows(rows, None if complete.all() else rows), extras


def model_frame_on_levels(parts: FormulaParts, data: pd.DataFrame, levels: dict[str, list[str]],
                          weights: str | None = None, offset: str | None = None, na_action: str = "omit",
                          contrasts: dict | None = None, params: dict | None = None) -> ModelFrame:
    """The model frame of one part of a larger data set (a partition), on the whole data's factor levels.

    As :func:`model_frame`, with three differences that make the frames of the parts add up to the
    whole's: every factor variable and grouping factor takes its levels from ``levels`` (keyed by its
    R spelling: the levels the kept rows of the whole data have, in R's order) instead of those of
    ``data``, so the model matrices have the whole data's columns, names and contrasts; there is no
    rank check (``dropped`` is empty: the rank is decided on the whole data's cross-products); and a
    part with no rows, or none kept, gives a frame with 0 rows.  ``weights`` and ``offset`` are
    column names.  ``params`` are the whole data's ``poly()`` / ``scale()`` coefficients
    (:func:`mixedcompat.partitioned.transforms.transform_params`); the specs carry them, so new data
    is transformed with them too.

    Raises
    ------
    DataError
        A level not in ``levels`` (or a factor missing from it), missing values under ``na.fail``, Inf.

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> part = pd.DataFrame({"y": [1.0, 2.0], "f": ["b", "b"], "g": ["u", "v"]})
    >>> mf = model_frame_on_levels(parse_formula("y ~ f + (1 | g)"), part, {"f": ["a", "b"], "g": ["u", "v", "w"]})
    >>> mf.x_names, mf.X[:, 1].tolist(), mf.re_groups[0][1]
    (['(Intercept)', 'fb'], [1.0, 1.0], ['u', 'v', 'w'])
    """
    data = as_data_frame(data)
    variables, used, extras = kept_variables(parts, data, weights, offset, na_action, params)
    rows = used.rows
    _check_infinite(variables, used, data)
    y, rname = _response(variables, used)
    w, off = _weights_and_offset(variables, extras, used, data)

    def on_levels(value: Num | Fac, name: str) -> Num | Fac:
        if not isinstance(value, Fac):
            return value
        if name not in levels:
            raise DataError(f"factor {name} has no levels from the whole data")
        pos = {lv: i for i, lv in enumerate(levels[name])}
        unseen = [lv for lv in value.levels if lv not in pos]
        if unseen:
            raise DataError(f"factor {name} has level{'s' if len(unseen) > 1 else ''} {', '.join(unseen)} "
                            f"that the whole data's kept rows do not have")
        remap = np.array([pos[lv] for lv in value.levels] + [-1], dtype=np.int64)
        return Fac(remap[value.codes], list(levels[name]), value.ordered)

    def values_of(struct: TermStructure) -> dict[int, Num | Fac]:
        return {i: on_levels(used.of(variables.values[node]), node.deparse())
                for i, node in enumerate(struct.variables)}

    n = len(rows)
    fixed = variables.fixed
    X, names, assign, spec = _design(fixed, values_of(fixed), n, contrasts)
    spec = _with_params(spec, variables.context.params)
    re_X, re_specs = [], []
    for s in variables.random:
        Z, znames, _za, zspec = _design(s, values_of(s), n, None)
        re_X.append((Z, znames))
        re_specs.append(_with_params(zspec, variables.context.params))
    re_groups = []
    for g in variables.groups:
        fac = on_levels(group_factor(g, variables.values, used.take, g.deparse()), g.deparse())
        re_groups.append((fac.codes, list(fac.levels)))
    frame = data if used.take is None else data.iloc[rows]
    return ModelFrame(data=frame, rows=rows, y=y, response_name=rname, X=X, x_names=list(names),
                      x_assign=np.asarray(assign), x_terms=fixed.labels, dropped=[], weights=w, offset=off,
                      re_X=re_X, re_groups=re_groups, fixed_spec=spec, re_specs=re_specs)
