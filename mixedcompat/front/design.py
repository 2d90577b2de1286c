"""The model frame and model matrices of a mixed-model formula, with R's exact semantics.

:func:`model_frame` does what lme4's ``lFormula`` does before the random-effects structure is built:
R's ``model.frame`` (variables evaluated on the data, ``subset``, ``na.omit``/``na.fail``, unused factor
levels dropped), R's ``model.matrix`` for the fixed effects (R's term algebra and ordering, contrasts,
column names, ``assign``) with lme4's rank-deficiency check (``check.rankX = "message+drop.cols"``),
``model.matrix(~ expr)`` for each random-effects term and the grouping factors.  :func:`build_fixed`
rebuilds the fixed-effects matrix on new data with the training levels, contrasts and ``poly``/``scale``
coefficients (R's ``predvars``).
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
from mixedcompat.front.transforms import EvalContext, Fac, Node, Num, evaluate, factor_from_values, parse_r

__all__ = ["ModelFrame", "MatrixSpec", "TermStructure", "model_frame", "build_fixed", "build_matrix",
           "rhs_terms", "model_matrix", "qr_rank", "check_finite"]

RANK_TOL = 1e-7

# --------------------------------------------------------------------------------------------
# R's term algebra (terms.formula)


@dataclass(frozen=True)
class TermStructure:
    """R's ``terms`` object for a right-hand side.

    ``variables`` are the formula variables in R's order (first appearance); each term is a sorted
    tuple of variable indices; terms are ordered by degree as R does.

    Example
    -------
    >>> rhs_terms("(a + b + c)^2").labels
    ['a', 'b', 'c', 'a:b', 'a:c', 'b:c']
    """

    variables: tuple[Node, ...]
    names: tuple[str, ...]
    terms: tuple[tuple[int, ...], ...]
    intercept: bool
    offsets: tuple[int, ...]

    @property
    def labels(self) -> list[str]:
        return [":".join(self.names[i] for i in t) for t in self.terms]


class _TermEncoder:
    """R's EncodeVars: formula operators -> list of terms (frozensets of variable indices)."""

    def __init__(self) -> None:
        self.variables: list[Node] = []
        self.names: list[str] = []
        self.offsets: list[int] = []
        self.intercept = True
        self.parity = True

    def var(self, node: Node) -> int:
        name = node.deparse()
        if name not in self.names:
            self.names.append(name)
            self.variables.append(node)
        return self.names.index(name)

    @staticmethod
    def trim(terms: list[frozenset]) -> list[frozenset]:
        out: list[frozenset] = []
        for t in terms:
            if t and t not in out:
                out.append(t)
        return out

    def encode(self, node: Node) -> list[frozenset]:
        k = node.kind
        if k == "num":
            if node.value == 1:
                self.intercept = self.parity
                return []
            if node.value == 0:
                self.intercept = not self.parity
                return []
            raise FormulaError(f"invalid model formula: the number {node.deparse()} cannot be a term")
        if k == "paren":
            return self.encode(node.args[0])
        if k == "sym" and node.value == ".":
            raise FormulaError("'.' in a formula is not supported: name the variables")
        if k == "unop" and node.value in "+-":
            if node.value == "+":
                return self.encode(node.args[0])
            self.parity = not self.parity
            self.encode(node.args[0])
            self.parity = not self.parity
            return []
        if k == "binop":
            op = node.value
            if op == "+":
                return self.trim(self.encode(node.args[0]) + self.encode(node.args[1]))
            if op == "-":
                left = self.encode(node.args[0])
                self.parity = not self.parity
                right = self.encode(node.args[1])
                self.parity = not self.parity
                return [t for t in left if t not in right]
            if op == ":":
                left, right = self.encode(node.args[0]), self.encode(node.args[1])
                return self.trim([a | b for a in left for b in right])
            if op == "*":
                left, right = self.encode(node.args[0]), self.encode(node.args[1])
                return self.trim(left + right + [a | b for a in left for b in right])
            if op == "/":
                left, right = self.encode(node.args[0]), self.encode(node.args[1])
                allbits = frozenset().union(*left) if left else frozenset()
                return self.trim(left + [b | allbits for b in right])
            if op == "%in%":
                left, right = self.encode(node.args[0]), self.encode(node.args[1])
                allbits = frozenset().union(*right) if right else frozenset()
                return self.trim([a | allbits for a in left])
            if op == "^":
                power = node.args[1]
                if power.kind != "num" or power.value < 1 or power.value != int(power.value):
                    raise FormulaError(f"invalid power in formula term {node.deparse()!r}")
                left = self.encode(node.args[0])
                right = left
                for _ in range(int(power.value) - 1):
                    right = self.trim([a | b for a in left for b in right])
                return right
        if k == "call" and node.value == "offset":
            self.offsets.append(self.var(node))
            return []
        if k == "binop" and node.value in ("|", "||"):
            raise FormulaError(f"random-effects term {node.deparse()!r} must be enclosed in parentheses")
        return [frozenset([self.var(node)])]


def rhs_terms(rhs: str | Node) -> TermStructure:
    """Expand an R formula right-hand side into R's terms (ordered by degree, stable).

    Parameters
    ----------
    rhs : str
        A right-hand side such as ``"x * f - 1"`` or ``"(a + b + c)^2"``.

    Example
    -------
    >>> s = rhs_terms("b:a + a + offset(z) - 1")
    >>> s.labels, s.intercept, [s.names[i] for i in s.offsets]
    (['a', 'b:a'], False, ['offset(z)'])
    """
    node = parse_r(rhs) if isinstance(rhs, str) else rhs
    enc = _TermEncoder()
    terms = enc.encode(node)
    terms = [t for t in terms if not (t & set(enc.offsets))]
    order = sorted(range(len(terms)), key=lambda i: len(terms[i]))
    sorted_terms = tuple(tuple(sorted(terms[i])) for i in order)
    return TermStructure(tuple(enc.variables), tuple(enc.names), sorted_terms, enc.intercept,
                         tuple(enc.offsets))


def _factor_codes(struct: TermStructure, is_factor: list[bool]) -> list[list[tuple[int, int]]]:
    """R's factor-pattern codes: 1 = contrasts, 2 = one indicator per level, for each term's variables.

    A factor gets contrasts when the term without it is contained in a preceding term (the empty
    term counts as present); without an intercept the first factor of the first term holding a
    factor gets indicators.
    """
    sets = [frozenset(t) for t in struct.terms]
    out: list[list[tuple[int, int]]] = []
    for j, t in enumerate(struct.terms):
        row = []
        for v in t:
            rest = sets[j] - {v}
            code = 1 if not rest or any(rest <= sets[i] for i in range(j)) else 2
            row.append((v, code))
        out.append(row)
    if not struct.intercept:
        done = False
        for row in out:
            for pos, (v, _code) in enumerate(row):
                if is_factor[v]:
                    row[pos] = (v, 2)
                    done = True
                    break
            if done:
                break
    return out


# --------------------------------------------------------------------------------------------
# model.matrix


@dataclass(frozen=True)
class MatrixSpec:
    """Everything needed to rebuild a model matrix on new data (R's predvars + xlevels + contrasts).

    Example
    -------
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


def _assemble(struct: TermStructure, values: dict[int, Num | Fac], codings, contrast_mats, n: int):
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
    codings = _factor_codes(struct, is_factor)
    contrasts = dict(contrasts or {})
    keyed = {}
    for key, spec in contrasts.items():
        try:
            keyed[parse_r(key).deparse()] = spec
        except FormulaError:
            keyed[key] = spec
    cmats = {}
    for v in used:
        if is_factor[v]:
            fac = fvals[v]
            cmats[v] = contrast_matrix(keyed.get(struct.names[v]), fac.levels, fac.ordered, struct.names[v])
    X, names, assign = _assemble(struct, fvals, codings, cmats, n)
    spec = MatrixSpec(struct, {}, levels, tuple(tuple(c) for c in codings), cmats, tuple(names),
                      tuple(range(len(names))))
    return X, names, assign, spec


def model_matrix(rhs: str, data: pd.DataFrame, contrasts: dict | None = None,
                 na_omit: bool = True) -> tuple[np.ndarray, list[str], np.ndarray]:
    """R's ``model.matrix(~ rhs, data, contrasts.arg = contrasts)``: no rank check, no level dropping.

    Rows with a missing value in a variable are left out (R's default ``na.omit``) unless
    ``na_omit=False``.  Returns the matrix, its column names and R's ``assign``.

    Example
    -------
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
    X, _names, _assign = _assemble(spec.structure, values, spec.codings, spec.contrast_mats, len(newdata))
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

    Example
    -------
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

    Example
    -------
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


def _rank_message(k: int) -> str:
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


def _group_leaves(node: Node, out: list[Node]) -> None:
    if node.kind == "binop" and node.value == ":":
        _group_leaves(node.args[0], out)
        _group_leaves(node.args[1], out)
    elif node.kind == "paren":
        _group_leaves(node.args[0], out)
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


def _group_factor(node: Node, values: dict[str, Any], rows: np.ndarray | None, name: str) -> Fac:
    if node.kind == "paren":
        return _group_factor(node.args[0], values, rows, name)
    if node.kind == "binop" and node.value == ":":
        left = _group_factor(node.args[0], values, rows, name)
        right = _group_factor(node.args[1], values, rows, name)
        return _interact(left, right)
    v = values[node.deparse()]
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

    Example
    -------
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
        v = evaluate(parse_r(subset), ctx)
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
                na_action: str = "omit", contrasts: dict | None = None) -> ModelFrame:
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

    Returns
    -------
    ModelFrame

    Raises
    ------
    FormulaError
        An unknown variable or function.
    DataError
        Non-numeric response, bad weights, no rows left, missing values with ``na_action="fail"``.

    Example
    -------
    >>> from mixedcompat.front.formula import parse_formula
    >>> d = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.0, 1, 2, 3], "g": list("abab")})
    >>> mf = model_frame(parse_formula("y ~ x + (1 | g)"), d)
    >>> mf.x_names, mf.re_groups[0][1]
    (['(Intercept)', 'x'], ['a', 'b'])
    """
    data = as_data_frame(data)
    if len(data) == 0:
        raise DataError("data has no rows (0 cases): nothing to fit")
    if na_action not in ("omit", "fail", "na.omit", "na.fail", "exclude", "na.exclude"):
        raise DataError(f"na_action must be 'omit' or 'fail', not {na_action!r}")
    fail_on_na = na_action in ("fail", "na.fail")
    n_all = len(data)

    if parts.response is None:
        raise FormulaError(f"formula {parts.text!r} has no response")
    response_node = parse_r(parts.response)
    fixed = rhs_terms(parts.fixed)
    re_structs = [rhs_terms(t.expr) for t in parts.re_terms]
    group_nodes = [parse_r(t.group) for t in parts.re_terms]

    # every variable of the model frame, in order: response, fixed, random-effect expressions, groups
    ctx = EvalContext(data)
    values: dict[str, Num | Fac] = {}

    def add(node: Node) -> None:
        key = node.deparse()
        if key not in values:
            values[key] = _finish_variable(evaluate(node, ctx), key, n_all)

    add(response_node)
    for s in [fixed, *re_structs]:
        for node in s.variables:
            add(node)
    for g, term in zip(group_nodes, parts.re_terms):
        leaves: list[Node] = []
        _group_leaves(g, leaves)
        for leaf in leaves:
            if leaf.kind == "sym" and leaf.value not in data.columns:
                raise FormulaError(f"object '{leaf.value}' not found: grouping factor {leaf.value!r} "
                                   f"of random-effects term ({term.label}) is not a column of the data")
            add(leaf)
    extras: dict[str, np.ndarray] = {}
    w_arr = off_arr = None
    if weights is not None:
        w_arr, w_name = _as_array(weights, data, "weights")
        extras[w_name] = w_arr
    if offset is not None:
        off_arr, o_name = _as_array(offset, data, "offset")
        extras[o_name] = off_arr

    # rows: subset, then complete cases
    keep = np.ones(n_all, dtype=bool) if subset is None else _subset_mask(subset, data, ctx)
    if not keep.any():
        raise DataError(f"0 (non-NA) cases: the subset removed all {n_all} rows")
    na_cols = []
    complete = keep.copy()
    for key, v in list(values.items()) + [(k, Num(a)) for k, a in extras.items()]:
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
    take = None if all_rows else rows

    def used(key: str) -> Num | Fac:
        v = values[key]
        v = v if take is None else v.take(take)
        return v.drop_unused() if isinstance(v, Fac) else v

    # infinite values, in the order lme4 meets them: fixed-effects matrix (its rank check), response,
    # then the random-effects matrices (the first evaluation of the objective)
    for name in fixed.names:
        if fixed.names.index(name) not in fixed.offsets:
            check_finite(used(name), name, "the fixed-effects variable", data.index[rows])
    # response
    rname = response_node.deparse()
    yv = used(rname)
    if isinstance(yv, Fac) or yv.values.ndim != 1:
        raise DataError(f"response must be numeric: {rname!r} is "
                        f"{'a factor/string column' if isinstance(yv, Fac) else 'a matrix'}")
    check_finite(yv, rname, "the response", data.index[rows])
    for s in re_structs:
        for name in s.names:
            check_finite(used(name), name, "the random-effects variable", data.index[rows])
    y = np.asarray(yv.values, dtype=float)
    n = len(y)

    # weights and offset
    w = None
    if w_arr is not None:
        w = w_arr if take is None else w_arr[take]
        check_finite(Num(w), w_name, "the weights", data.index[rows])
        if np.any(w < 0):
            raise DataError(f"negative weights not allowed: {int((w < 0).sum())} negative value(s) in {w_name!r}")
    off = None
    for i in fixed.offsets:
        ov = used(fixed.names[i])
        if isinstance(ov, Fac):
            raise DataError(f"offset {fixed.names[i]!r} must be numeric")
        check_finite(ov, fixed.names[i], "the offset", data.index[rows])
        off = ov.values.astype(float) if off is None else off + ov.values
    if off_arr is not None:
        oa = off_arr if take is None else off_arr[take]
        check_finite(Num(oa), o_name, "the offset", data.index[rows])
        off = oa.astype(float) if off is None else off + oa

    # fixed effects
    fvals = {i: used(name) for i, name in enumerate(fixed.names)}
    X, names, assign, spec = _design(fixed, fvals, n, contrasts)
    if contrasts:
        known = {parse_r(k).deparse() if _parses(k) else k for k in contrasts}
        for k in known - set(fixed.names):
            warnings.warn(f"variable '{k}' is absent, its contrast will be ignored", UserWarning, stacklevel=2)
    dropped: list[str] = []
    p = X.shape[1]
    if p:
        rank, pivot = qr_rank(X)
        if rank < p:
            kept = pivot[:rank]
            drop_idx = pivot[rank:]
            dropped = [names[i] for i in drop_idx]
            warnings.warn(_rank_message(len(drop_idx)), RankDeficiencyWarning, stacklevel=2)
            X = np.ascontiguousarray(X[:, kept])
            names = [names[i] for i in kept]
            assign = assign[kept]
            spec = MatrixSpec(spec.structure, spec.params, spec.levels, spec.codings, spec.contrast_mats,
                              spec.colnames, tuple(int(i) for i in kept))
    spec = _with_params(spec, ctx.params)

    # random effects
    re_X = []
    re_specs = []
    for s in re_structs:
        rvals = {i: used(name) for i, name in enumerate(s.names)}
        Z, znames, _za, zspec = _design(s, rvals, n, None)
        re_X.append((Z, znames))
        re_specs.append(_with_params(zspec, ctx.params))
    re_groups = []
    for g in group_nodes:
        fac = _group_factor(g, values, take, g.deparse())
        re_groups.append((fac.codes, list(fac.levels)))

    frame = data if all_rows else data.iloc[rows]
    return ModelFrame(data=frame, rows=rows, y=y, response_name=rname, X=X, x_names=list(names),
                      x_assign=np.asarray(assign), x_terms=fixed.labels, dropped=dropped, weights=w,
                      offset=off, re_X=re_X, re_groups=re_groups, fixed_spec=spec, re_specs=re_specs)


def _parses(text: str) -> bool:
    try:
        parse_r(text)
        return True
    except FormulaError:
        return False


def _with_params(spec: MatrixSpec, params: dict) -> MatrixSpec:
    return MatrixSpec(spec.structure, dict(params), spec.levels, spec.codings, spec.contrast_mats,
                      spec.colnames, spec.keep)
