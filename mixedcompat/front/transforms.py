"""R expressions inside model formulas: vectorised evaluation of their syntax trees.

A formula variable such as ``log(x + 1)``, ``poly(x, 2)``, ``factor(k)`` or ``I(x^2)`` is parsed by
:mod:`mixedcompat.front.rlang` into a :class:`~mixedcompat.front.rlang.Node` (re-exported here with
``parse_r``, ``r_number`` and ``r_symbol``, its names in this module's callers) and evaluated with numpy
on a pandas DataFrame.  Data-dependent transformations (``poly``, ``scale``) record their training
parameters in an :class:`EvalContext` so that new data is transformed with them (R's ``predvars``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front.rlang import Node, r_number, r_symbol
from mixedcompat.front.rlang import parse as parse_r

# --------------------------------------------------------------------------------------------
# values


@dataclass
class Num:
    """A numeric vector (n,) or matrix (n, k); ``logical`` marks R logicals (0/1, NaN = NA).

    ``time`` marks R's time classes, which model matrices use as numbers: ``"Date"`` (days since
    1970-01-01) and ``"POSIXct"`` (seconds since 1970-01-01 UTC, ``tz`` the zone labels are written in).
    """

    values: np.ndarray
    colnames: list[str] | None = None
    logical: bool = False
    integer: bool = False                   # an integer column (labels print as integers, as R's)
    time: str | None = None
    tz: str | None = None

    @property
    def matrix(self) -> np.ndarray:
        return self.values if self.values.ndim == 2 else self.values[:, None]

    def take(self, rows: np.ndarray) -> "Num":
        return Num(self.values[rows], self.colnames, self.logical, self.integer, self.time, self.tz)

    def na_mask(self) -> np.ndarray:
        v = self.values
        return np.isnan(v) if v.ndim == 1 else np.isnan(v).any(axis=1)


@dataclass
class Fac:
    """A factor: integer codes (-1 = NA) into ``levels`` (labels as R prints them)."""

    codes: np.ndarray
    levels: list[str]
    ordered: bool = False

    def take(self, rows: np.ndarray) -> "Fac":
        return Fac(self.codes[rows], self.levels, self.ordered)

    def na_mask(self) -> np.ndarray:
        return self.codes < 0

    def drop_unused(self) -> "Fac":
        """R's ``droplevels``: keep the observed levels in their order."""
        L = len(self.levels)
        valid = self.codes >= 0
        used = np.bincount(self.codes[valid], minlength=L) > 0 if L else np.zeros(0, bool)
        if used.all():
            return self
        newcode = np.cumsum(used) - 1
        codes = np.where(valid, newcode[np.where(valid, self.codes, 0)], -1)
        return Fac(codes.astype(np.int64), [lv for lv, u in zip(self.levels, used) if u], self.ordered)


def labels_for(values: np.ndarray, integer: bool = False) -> list[str]:
    """Level labels of numbers as R's ``as.character`` writes them (integers plainly)."""
    values = np.asarray(values, dtype=float)
    if integer or (np.all(np.isfinite(values)) and np.all(values == np.round(values))
                   and np.all(np.abs(values) < 1e5)):
        return [str(v) for v in values.astype(np.int64).tolist()]
    return [r_number(v) for v in values.tolist()]


def factor_from_values(values: Any) -> Fac:
    """R's ``factor(x)``: levels sorted (numbers numerically, strings by code point).

    Examples
    --------
    >>> factor_from_values(np.array(["b", "a", "b"])).levels
    ['a', 'b']
    """
    if isinstance(values, Fac):
        return values.drop_unused()
    if isinstance(values, Num):
        if values.values.ndim != 1:
            raise DataError("a matrix cannot be turned into a factor")
        if values.logical:
            v = values.values
            codes_raw = np.where(np.isnan(v), -1, v).astype(np.int64)
            return Fac(codes_raw, ["FALSE", "TRUE"]).drop_unused()
        if values.time is not None:
            return _time_factor(values)
        if values.integer:
            v = values.values
            return factor_from_values(pd.Series(v).astype("Int64") if np.isnan(v).any() else v.astype(np.int64))
        values = values.values
    arr = values
    if isinstance(arr, (pd.Series, pd.Index)):
        ser = pd.Series(arr)
    else:
        ser = pd.Series(np.asarray(arr))
    is_int = pd.api.types.is_integer_dtype(ser.dtype)
    is_num = pd.api.types.is_numeric_dtype(ser.dtype) and not pd.api.types.is_bool_dtype(ser.dtype)
    codes, uniques = pd.factorize(ser, sort=False, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    if is_num:
        u = np.asarray(uniques, dtype=float)
        keep = ~np.isnan(u)
        order = np.argsort(u, kind="stable")
        order = order[keep[order]]
        labels = labels_for(u[order], integer=is_int)
    else:
        u = [str(x) for x in np.asarray(uniques, dtype=object)]
        order = np.argsort(np.array(u, dtype=str), kind="stable") if u else np.zeros(0, np.int64)
        labels = [u[i] for i in order]
    rank = np.full(len(uniques) + 1, -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = rank[codes]        # -1 stays -1 (last slot)
    return Fac(codes, labels)


def _time_factor(values: Num) -> Fac:
    """R's ``factor()`` of a Date / POSIXct vector: sorted times, labelled as R formats them."""
    v = values.values
    ok = ~np.isnan(v)
    uniq = np.unique(v[ok])
    codes = np.full(len(v), -1, dtype=np.int64)
    codes[ok] = np.searchsorted(uniq, v[ok])
    if values.time == "Date":
        labels = [str(np.datetime64(int(d), "D")) for d in uniq]
    else:
        stamps = pd.to_datetime(uniq, unit="s", utc=True)
        if values.tz is not None:
            stamps = stamps.tz_convert(values.tz)
        midnight = bool(np.all((stamps.hour == 0) & (stamps.minute == 0) & (stamps.second == 0)))
        labels = [t.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S") for t in stamps]
    return Fac(codes, labels)


def _date_days(series: pd.Series) -> np.ndarray:
    """``datetime.date`` objects (None = NA) as R's Date numbers: days since 1970-01-01."""
    out = np.full(len(series), np.nan)
    for i, d in enumerate(series.tolist()):
        if d is not None and not (isinstance(d, float) and np.isnan(d)):
            out[i] = float(np.datetime64(d, "D").astype(np.int64))
    return out


def column_value(series: pd.Series, name: str) -> Num | Fac:
    """Turn a data column into a formula value (factor or numeric) the way R's model.frame sees it."""
    dt = series.dtype
    if isinstance(dt, pd.CategoricalDtype):
        cats = dt.categories
        if pd.api.types.is_numeric_dtype(cats.dtype):
            labels = labels_for(np.asarray(cats, dtype=float), integer=pd.api.types.is_integer_dtype(cats.dtype))
        else:
            labels = [str(c) for c in cats.tolist()]
        return Fac(np.asarray(series.cat.codes, dtype=np.int64), labels, bool(dt.ordered))
    if pd.api.types.is_bool_dtype(dt):
        return Num(series.to_numpy(dtype=float, na_value=np.nan), logical=True)
    if pd.api.types.is_datetime64_any_dtype(dt):        # R's POSIXct: seconds since the epoch (UTC)
        tz = str(dt.tz) if getattr(dt, "tz", None) is not None else None
        stamps = series.dt.tz_convert("UTC").dt.tz_localize(None) if tz else series
        ns = stamps.to_numpy(dtype="datetime64[ns]")
        secs = np.where(np.isnat(ns), np.nan, ns.astype(np.int64) / 1e9)
        return Num(secs, time="POSIXct", tz=tz)
    if pd.api.types.is_timedelta64_dtype(dt):
        raise DataError(f"column {name!r} is a time difference ({dt}); convert it to numbers in the unit you "
                        f"mean, e.g. d[{name!r}].dt.total_seconds() or d[{name!r}] / pd.Timedelta(days=1)")
    if pd.api.types.is_numeric_dtype(dt):
        return Num(series.to_numpy(dtype=float, na_value=np.nan), integer=pd.api.types.is_integer_dtype(dt))
    if pd.api.types.is_string_dtype(dt) or dt == object:
        if dt == object:
            kind = pd.api.types.infer_dtype(series, skipna=True)
            if kind == "boolean":
                return Num(series.map({True: 1.0, False: 0.0}).to_numpy(dtype=float, na_value=np.nan),
                           logical=True)
            if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
                return Num(pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan))
            if kind == "date":                           # datetime.date objects: R's Date
                return Num(_date_days(series), time="Date")
        return factor_from_values(series)
    raise DataError(f"column {name!r} has dtype {dt}, which cannot be used in a model formula")


# --------------------------------------------------------------------------------------------
# evaluation


@dataclass
class EvalContext:
    """Where symbols come from and where data-dependent transforms keep their parameters.

    ``fit=True`` computes and records ``poly``/``scale`` parameters (keyed by R's text of the call);
    ``fit=False`` reuses them, like R's ``predvars``.
    """

    data: pd.DataFrame
    params: dict[str, dict] = field(default_factory=dict)
    fit: bool = True
    cache: dict[str, Num | Fac] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.data)

    def column(self, name: str) -> Num | Fac:
        if name not in self.cache:
            if name not in self.data.columns:
                raise FormulaError(f"object '{name}' not found: no column {name!r} in the data")
            self.cache[name] = column_value(self.data[name], name)
        return self.cache[name]


def numeric_values(v: Any, what: str) -> np.ndarray:
    """The numbers of an evaluated value (a :class:`Num`'s values, a constant as an array) for the
    function ``what``; a factor is refused as R refuses it.

    Examples
    --------
    >>> numeric_values(Fac(np.array([0]), ["a"]), "scale")
    Traceback (most recent call last):
    ...
    mixedcompat.errors.DataError: 'scale' is not meaningful for factors
    """
    if isinstance(v, Fac):
        raise DataError(f"'{what}' is not meaningful for factors")
    if isinstance(v, Num):
        return v.values
    if isinstance(v, (int, float, np.floating, np.integer, np.ndarray)):
        return np.asarray(v, dtype=float)
    raise FormulaError(f"cannot use {v!r} in {what}")


def _warn_nan(before: tuple[np.ndarray, ...], after: np.ndarray, what: str) -> None:
    with np.errstate(invalid="ignore"):
        new_nan = np.isnan(after)
        if new_nan.any():
            old = np.zeros(np.shape(after), bool)
            for b in before:
                old = old | np.isnan(np.broadcast_to(b, np.shape(after)))
            if (new_nan & ~old).any():
                warnings.warn(f"NaNs produced in {what}; those rows count as missing", RuntimeWarning,
                              stacklevel=4)


def _arg(node: Node, pos: int, name: str, default: Any = None) -> Node | Any:
    """The argument called ``name`` or at position ``pos`` (R's matching, simplified)."""
    for a, n in zip(node.args, node.names):
        if n == name:
            return a
    positional = [a for a, n in zip(node.args, node.names) if n is None]
    if pos < len(positional):
        return positional[pos]
    return default


def _const(node: Node | Any, ctx: EvalContext) -> Any:
    """Evaluate an argument that must be a constant (number, string, logical, c(...))."""
    if not isinstance(node, Node):
        return node
    if node.kind == "num":
        return node.value
    if node.kind == "str":
        return node.value
    if node.kind == "sym" and node.value in ("TRUE", "T"):
        return True
    if node.kind == "sym" and node.value in ("FALSE", "F"):
        return False
    if node.kind == "sym" and node.value == "NULL":
        return None
    if node.kind == "unop" and node.value == "-":
        return -_const(node.args[0], ctx)
    if node.kind == "call" and node.value == "c":
        return [_const(a, ctx) for a in node.args]
    if node.kind == "paren":
        return _const(node.args[0], ctx)
    if node.kind == "binop" and node.value == ":" and node.args[0].kind == "num":
        a, b = _const(node.args[0], ctx), _const(node.args[1], ctx)
        step = 1 if b >= a else -1
        return [float(x) for x in np.arange(a, b + step, step)]
    raise FormulaError(f"expected a constant but found {node.deparse()!r}")


def _as_fac(v: Any) -> Fac:
    if isinstance(v, Fac):
        return v
    return factor_from_values(v)


def _factor_call(node: Node, ctx: EvalContext, ordered: bool | None) -> Fac:
    x = evaluate(_arg(node, 0, "x"), ctx)
    f = _as_fac(x) if not isinstance(x, Fac) else x.drop_unused()
    lv_node = _arg(node, 1, "levels")
    if lv_node is not None:
        wanted = _const(lv_node, ctx)
        wanted = wanted if isinstance(wanted, list) else [wanted]
        wanted = [r_number(w) if isinstance(w, float) else str(w) for w in wanted]
        pos = {lv: i for i, lv in enumerate(wanted)}
        remap = np.array([pos.get(lv, -1) for lv in f.levels] + [-1], dtype=np.int64)
        f = Fac(remap[f.codes], wanted, f.ordered)
    if ordered is None:
        ordered_arg = _arg(node, 4, "ordered")
        ordered = bool(_const(ordered_arg, ctx)) if ordered_arg is not None else (
            f.ordered if isinstance(x, Fac) else False)
    return Fac(f.codes, f.levels, ordered)


def poly_fit(x: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R's ``poly(x, degree)``: orthonormal polynomial columns and the ``alpha``/``norm2`` coefficients.

    Examples
    --------
    >>> Z, alpha, norm2 = poly_fit(np.arange(5.0), 2)
    >>> (np.round(Z[:, 0] * np.sqrt(10), 6) + 0.0).tolist()
    [-2.0, -1.0, 0.0, 1.0, 2.0]
    """
    poly_point_checks(bool(np.isnan(x).any()), degree, lambda: len(np.unique(x)))
    xbar = x.mean()
    xc = x - xbar
    V = xc[:, None] ** np.arange(degree + 1)
    Q, R = np.linalg.qr(V)
    Z = Q * np.diag(R)
    norm2 = (Z ** 2).sum(axis=0)
    alpha = ((xc[:, None] * Z ** 2).sum(axis=0) / norm2 + xbar)[:degree]
    norm2 = np.concatenate([[1.0], norm2])
    Z = Z / np.sqrt(norm2[1:])
    return Z[:, 1:], alpha, norm2


def poly_point_checks(has_nan: bool, degree: int, n_unique: Any) -> None:
    """R's ``poly()`` checks of its points, in R's order: no missing value, ``degree >= 1``, fewer
    than ``degree + 1`` unique points (``n_unique``: the count, or a function giving it).

    Examples
    --------
    >>> poly_point_checks(False, 2, 2)
    Traceback (most recent call last):
    ...
    mixedcompat.errors.DataError: 'degree' must be less than number of unique points in poly()
    """
    if has_nan:
        raise DataError("missing values are not allowed in 'poly'")
    if degree < 1:
        raise FormulaError("'degree' must be at least 1 in poly()")
    if degree >= (n_unique() if callable(n_unique) else n_unique):
        raise DataError("'degree' must be less than number of unique points in poly()")


def poly_monic(x: np.ndarray, degree: int, alpha: np.ndarray, norm2: np.ndarray) -> np.ndarray:
    """The monic orthogonal polynomials ``P_0 .. P_degree`` of R's ``poly()`` at ``x`` (columns,
    unnormalised) by the three-term recurrence ``P_{k+1} = (x - alpha_k) P_k - (norm2_{k+1} /
    norm2_k) P_{k-1}``; it reads ``alpha[:degree]`` and ``norm2[:degree + 1]`` only.

    Examples
    --------
    >>> P = poly_monic(np.array([0.0, 1.0, 2.0]), 2, np.array([1.0, 1.0]), np.array([1.0, 3.0, 2.0]))
    >>> (3 * P).round(12).tolist()
    [[3.0, -3.0, 1.0], [3.0, 0.0, -2.0], [3.0, 3.0, 1.0]]
    """
    Z = np.ones((len(x), degree + 1))
    if degree >= 1:
        Z[:, 1] = x - alpha[0]
    for i in range(1, degree):
        Z[:, i + 1] = (x - alpha[i]) * Z[:, i] - (norm2[i + 1] / norm2[i]) * Z[:, i - 1]
    return Z


def poly_predict(x: np.ndarray, degree: int, alpha: np.ndarray, norm2: np.ndarray) -> np.ndarray:
    """R's ``predict(poly)``: the three-term recursion with the training coefficients."""
    Z = poly_monic(x, degree, alpha, norm2) / np.sqrt(norm2[1:degree + 2])
    return Z[:, 1:]


def poly_arguments(node: Node, ctx: EvalContext) -> tuple[Node, int, bool]:
    """A ``poly()`` call's variable, ``degree`` and ``raw`` (R's argument matching, simplified).

    Raises
    ------
    FormulaError
        Several variables (``poly(x, z, 2)``), a degree or ``raw`` that is not a constant.

    Examples
    --------
    >>> x, degree, raw = poly_arguments(parse_r("poly(x, degree = 3, raw = TRUE)"), EvalContext(pd.DataFrame()))
    >>> x.deparse(), degree, raw
    ('x', 3, True)
    """
    xs = [a for a, n in zip(node.args, node.names) if n is None]
    deg_node = _arg(node, 1, "degree", None)
    if len(xs) > 2 or (len(xs) == 2 and deg_node is not xs[1]):
        raise FormulaError(f"poly() of several variables is not supported: {node.deparse()}")
    degree = int(_const(deg_node, ctx)) if deg_node is not None else 1
    raw_node = _arg(node, 99, "raw", None)
    raw = bool(_const(raw_node, ctx)) if raw_node is not None else False
    return xs[0], degree, raw


def scale_arguments(node: Node, ctx: EvalContext) -> tuple[Node, Any, Any]:
    """A ``scale()`` call's variable and its ``center`` / ``scale`` arguments (``True``, ``False``
    or numbers; ``True`` when absent).

    Examples
    --------
    >>> x, center, scale = scale_arguments(parse_r("scale(x, scale = c(2, 3))"), EvalContext(pd.DataFrame()))
    >>> x.deparse(), center, scale
    ('x', True, [2.0, 3.0])
    """
    c_arg = _arg(node, 1, "center", None)
    s_arg = _arg(node, 2, "scale", None)
    c_val = True if c_arg is None else _const(c_arg, ctx)
    s_val = True if s_arg is None else _const(s_arg, ctx)
    return _arg(node, 0, "x"), c_val, s_val


def _poly(node: Node, ctx: EvalContext) -> Num:
    xs = [a for a, n in zip(node.args, node.names) if n is None]
    x = numeric_values(evaluate(xs[0], ctx), "poly")
    if x.ndim != 1:
        raise FormulaError("poly() of a matrix is not supported")
    _x_node, degree, raw = poly_arguments(node, ctx)
    if ctx.fit:
        _refuse_infinite(x, node, ctx)
    names = [str(i) for i in range(1, degree + 1)]
    if raw:
        return Num(x[:, None] ** np.arange(1, degree + 1), names)
    key = node.deparse()
    if ctx.fit:
        if key not in ctx.params:
            Z, alpha, norm2 = poly_fit(x, degree)
            ctx.params[key] = {"alpha": alpha, "norm2": norm2}
            return Num(Z, names)
    p = ctx.params[key]
    return Num(poly_predict(x, degree, p["alpha"], p["norm2"]), names)


def _refuse_infinite(x: np.ndarray, node: Node, ctx: EvalContext) -> None:
    """A data-dependent transform (poly, scale) of a variable with Inf: R's qr() error, naming the rows."""
    inf = np.isinf(x) if x.ndim == 1 else np.isinf(x).any(axis=1)
    if inf.any():
        where = np.flatnonzero(inf)
        raise infinite_error(node, len(where), [ctx.data.index[i] for i in where[:5].tolist()])


def infinite_error(node: Node, count: int, labels: list) -> DataError:
    """The error of :func:`poly` / :func:`scale` (R's ``qr()``) on a variable with ``count`` infinite
    values, the first of them (at most 5) in the rows labelled ``labels``.

    Examples
    --------
    >>> print(infinite_error(parse_r("scale(x)"), 1, [7]))
    NA/NaN/Inf in foreign function call (arg 1): scale(x) of a variable with 1 infinite value (row label 7); drop or recode those rows
    """
    text = ", ".join(str(lab) for lab in labels[:5])
    return DataError(f"NA/NaN/Inf in foreign function call (arg 1): {node.deparse()} of a variable with "
                     f"{count} infinite value{'s' if count > 1 else ''} (row label"
                     f"{'s' if count > 1 else ''} {text}{' ...' if count > 5 else ''}); drop or recode those rows")


def _scale(node: Node, ctx: EvalContext) -> Num:
    x = numeric_values(evaluate(_arg(node, 0, "x"), ctx), "scale")
    if ctx.fit:
        _refuse_infinite(x, node, ctx)
    mat = x if x.ndim == 2 else x[:, None]
    key = node.deparse()
    if ctx.fit and key not in ctx.params:
        _x_node, c_val, s_val = scale_arguments(node, ctx)
        if c_val is True:
            center = np.nanmean(mat, axis=0)
        elif c_val is False:
            center = None
        else:
            center = np.atleast_1d(np.asarray(c_val, dtype=float))
        centred = mat - center if center is not None else mat
        if s_val is True:
            cnt = (~np.isnan(centred)).sum(axis=0)
            scl = np.sqrt(np.nansum(centred ** 2, axis=0) / np.maximum(1, cnt - 1))
        elif s_val is False:
            scl = None
        else:
            scl = np.atleast_1d(np.asarray(s_val, dtype=float))
        ctx.params[key] = {"center": center, "scale": scl}
    p = ctx.params[key]
    out = mat.astype(float)
    if p["center"] is not None:
        out = out - p["center"]
    if p["scale"] is not None:
        out = out / p["scale"]
    return Num(out if x.ndim == 2 else out[:, 0], None)


_UFUNCS = {
    "log10": np.log10, "log2": np.log2, "log1p": np.log1p, "exp": np.exp, "expm1": np.expm1,
    "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin,
    "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "floor": np.floor, "ceiling": np.ceil, "trunc": np.trunc, "sign": np.sign,
}


def _call(node: Node, ctx: EvalContext) -> Any:
    f = node.value
    if f in ("I", "offset"):
        return evaluate(node.args[0], ctx)
    if f == "log":
        x = numeric_values(evaluate(_arg(node, 0, "x"), ctx), "log")
        base = _arg(node, 1, "base", None)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(x) if base is None else np.log(x) / np.log(_const(base, ctx))
        _warn_nan((x,), out, node.deparse())
        return Num(out)
    if f in _UFUNCS:
        x = numeric_values(evaluate(node.args[0], ctx), f)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _UFUNCS[f](x)
        _warn_nan((x,), out, node.deparse())
        return Num(out)
    if f == "round":
        x = numeric_values(evaluate(node.args[0], ctx), f)
        d = _arg(node, 1, "digits", None)
        return Num(np.round(x, int(_const(d, ctx)) if d is not None else 0))
    if f in ("as.numeric", "as.double", "as.integer"):
        v = evaluate(node.args[0], ctx)
        if isinstance(v, Fac):
            return Num(np.where(v.codes < 0, np.nan, v.codes + 1.0))
        x = numeric_values(v, f)
        return Num(np.trunc(x) if f == "as.integer" else x.astype(float))
    if f == "cbind":
        # R's cbind of numeric vectors: an n x k matrix (glmer's binomial response cbind(s, f))
        cols = [np.broadcast_to(numeric_values(evaluate(a, ctx), f), (ctx.n,)).astype(float) for a in node.args]
        if not cols:
            raise FormulaError(f"cbind() needs at least one argument in {node.deparse()!r}")
        return Num(np.column_stack(cols), colnames=[a.deparse() for a in node.args])
    if f in ("pmin", "pmax"):
        vals = [numeric_values(evaluate(a, ctx), f) for a in node.args]
        op = np.minimum if f == "pmin" else np.maximum
        out = vals[0]
        for v in vals[1:]:
            out = op(out, v)
        return Num(np.asarray(out, dtype=float))
    if f in ("factor", "as.factor"):
        return _factor_call(node, ctx, None)
    if f in ("ordered", "as.ordered"):
        return _factor_call(node, ctx, True)
    if f == "relevel":
        x = evaluate(_arg(node, 0, "x"), ctx)
        if not isinstance(x, Fac):
            raise DataError(f"relevel() needs a factor in {node.deparse()}")
        ref = _const(_arg(node, 1, "ref"), ctx)
        ref = r_number(ref) if isinstance(ref, float) else str(ref)
        if ref not in x.levels:
            raise DataError(f"'ref' must be an existing level in {node.deparse()}: {ref!r} is not one of "
                            f"{x.levels}")
        i = x.levels.index(ref)
        order = [i] + [j for j in range(len(x.levels)) if j != i]
        remap = np.empty(len(order) + 1, dtype=np.int64)
        remap[order] = np.arange(len(order))
        remap[-1] = -1
        return Fac(remap[x.codes], [x.levels[j] for j in order], x.ordered)
    if f == "poly":
        return _poly(node, ctx)
    if f == "scale":
        return _scale(node, ctx)
    if f == "ifelse":
        cond = numeric_values(evaluate(node.args[0], ctx), "ifelse")
        a = numeric_values(evaluate(node.args[1], ctx), "ifelse")
        b = numeric_values(evaluate(node.args[2], ctx), "ifelse")
        out = np.where(cond.astype(bool) if not np.isnan(cond).any() else np.nan_to_num(cond).astype(bool),
                       a, b).astype(float)
        out = np.where(np.isnan(cond), np.nan, out)
        return Num(np.broadcast_to(out, (ctx.n,)).copy())
    hint = patsy_hint(node)
    if hint is not None:
        raise FormulaError(hint)
    raise FormulaError(f"function {f}() in {node.deparse()!r} is not supported in model formulas")


# patsy (Python formula) spellings and the R spelling that works here
_NUMPY_TO_R = {"log": "log", "log10": "log10", "log2": "log2", "log1p": "log1p", "exp": "exp",
               "expm1": "expm1", "sqrt": "sqrt", "abs": "abs", "absolute": "abs", "sin": "sin",
               "cos": "cos", "tan": "tan", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
               "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "floor": "floor", "ceil": "ceiling",
               "trunc": "trunc", "sign": "sign", "round": "round", "minimum": "pmin", "maximum": "pmax"}
_PATSY_CONTRASTS = {"Sum": "contr.sum", "Helmert": "contr.helmert", "Poly": "contr.poly",
                    "Treatment": "contr.treatment"}


def patsy_hint(node: Node) -> str | None:
    """The message for a patsy (Python formula) spelling, naming the R spelling that works; else None.

    Examples
    --------
    >>> patsy_hint(parse_r("np.log(x)"))
    "np.log(x) is numpy's spelling: R formulas write log(x)"
    """
    if node.kind != "call":
        return None
    f, text = node.value, node.deparse()
    args = [a.deparse() for a in node.args]
    if f == "C" and args:
        x = args[0]
        if len(args) == 1:
            return (f"{text} is patsy's spelling: R formulas write factor({x}) (string, bool and Categorical "
                    f"columns are factors already, so plain {x} works too)")
        contr = node.args[1]
        cname = contr.value if contr.kind in ("call", "sym") else None
        if cname == "Treatment":
            ref = _arg(contr, 0, "reference", None)
            if ref is not None:
                return (f"{text} is patsy's spelling: R formulas write relevel(factor({x}), ref = "
                        f"{ref.deparse()}) to choose the reference level")
            return f"{text} is patsy's spelling: R formulas write factor({x}) (treatment contrasts are R's default)"
        rname = _PATSY_CONTRASTS.get(cname) or (cname if isinstance(cname, str) and cname.startswith("contr.")
                                                else None)
        if rname is not None:
            return (f"{text} sets contrasts inside the formula, which is not supported: write {x} (or "
                    f"factor({x})) and pass contrasts={{{x!r}: {rname!r}}}, as R's contrasts= argument")
        return (f"{text} sets contrasts inside the formula, which is not supported: write {x} and pass the "
                f"contrasts as contrasts={{{x!r}: <'contr.sum' | 'contr.helmert' | ... | a levels x k matrix>}}")
    for prefix in ("np.", "numpy."):
        if f.startswith(prefix):
            name = f[len(prefix):]
            if name in ("power", "float_power") and len(args) == 2:
                return f"{text} is numpy's spelling: R formulas write I({args[0]}^{args[1]})"
            if name == "square" and len(args) == 1:
                return f"{text} is numpy's spelling: R formulas write I({args[0]}^2)"
            if name in _NUMPY_TO_R:
                return f"{text} is numpy's spelling: R formulas write {_NUMPY_TO_R[name]}({', '.join(args)})"
            return (f"{text}: numpy functions cannot be used in an R formula; use R's function of that name "
                    f"or add the transformed variable as a column of the data")
    if f == "Q" and len(node.args) == 1 and node.args[0].kind == "str":
        return (f"{text} is patsy's quoting: R formulas write a non-syntactic column name in backticks, "
                f"{r_symbol(node.args[0].value)}")
    if f == "center" and len(args) == 1:
        return f"{text} is patsy's spelling: R formulas write scale({args[0]}, scale = FALSE)"
    if f == "standardize" and len(args) == 1:
        return f"{text} is patsy's spelling: R formulas write scale({args[0]})"
    return None


_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
          "%%": np.mod, "%/%": np.floor_divide}
_CMP = {"==": np.equal, "!=": np.not_equal, "<": np.less, ">": np.greater, "<=": np.less_equal,
        ">=": np.greater_equal}


def _compare(op: str, a: Any, b: Any, what: str) -> Num:
    if isinstance(a, Fac) or isinstance(b, Fac):
        if op not in ("==", "!="):
            raise DataError(f"'{op}' is not meaningful for factors in {what}")
        fac, other = (a, b) if isinstance(a, Fac) else (b, a)
        other = r_number(other) if isinstance(other, float) else str(other)
        lab = np.array(fac.levels + [""], dtype=object)
        hit = (lab == other)[fac.codes].astype(float)
        if op == "!=":
            hit = 1.0 - hit
        return Num(np.where(fac.codes < 0, np.nan, hit), logical=True)
    x, y = numeric_values(a, what), numeric_values(b, what)
    with np.errstate(invalid="ignore"):
        out = _CMP[op](x, y).astype(float)
    out = np.where(np.isnan(x) | np.isnan(y), np.nan, out)
    return Num(out, logical=True)


def evaluate(node: Node, ctx: EvalContext) -> Any:
    """Evaluate an R expression on ``ctx.data``; returns :class:`Num`, :class:`Fac` or a constant.

    Examples
    --------
    >>> ctx = EvalContext(pd.DataFrame({"x": [1.0, 4.0]}))
    >>> evaluate(parse_r("I(sqrt(x) + 1)"), ctx).values.tolist()
    [2.0, 3.0]
    """
    k = node.kind
    if k == "num":
        return node.value
    if k == "str":
        return node.value
    if k == "paren":
        return evaluate(node.args[0], ctx)
    if k == "sym":
        name = node.value
        if name in ctx.data.columns:
            return ctx.column(name)
        if name == "pi":
            return math.pi
        if name in ("TRUE", "T"):
            return Num(np.ones(ctx.n), logical=True)
        if name in ("FALSE", "F"):
            return Num(np.zeros(ctx.n), logical=True)
        return ctx.column(name)           # raises the 'not found' error
    if k == "call":
        return _call(node, ctx)
    if k == "unop":
        v = evaluate(node.args[0], ctx)
        if node.value == "-":
            return Num(-numeric_values(v, "unary -")) if isinstance(v, Num) else -float(v)
        if node.value == "+":
            return v
        if node.value == "!":
            x = numeric_values(v, "!")
            return Num(np.where(np.isnan(x), np.nan, (x == 0).astype(float)), logical=True)
        raise FormulaError(f"unexpected {node.value!r} in {node.deparse()!r}")
    if k == "binop":
        op = node.value
        a = evaluate(node.args[0], ctx)
        b = evaluate(node.args[1], ctx)
        what = node.deparse()
        if op in _CMP:
            return _compare(op, a, b, what)
        if op in ("&", "&&", "|", "||"):
            x, y = numeric_values(a, what), numeric_values(b, what)
            xb, yb = np.nan_to_num(x) != 0, np.nan_to_num(y) != 0
            if op in ("&", "&&"):
                out = (xb & yb).astype(float)
                na = (np.isnan(x) & ~(~yb & ~np.isnan(y))) | (np.isnan(y) & ~(~xb & ~np.isnan(x)))
            else:
                out = (xb | yb).astype(float)
                na = (np.isnan(x) & ~(yb & ~np.isnan(y))) | (np.isnan(y) & ~(xb & ~np.isnan(x)))
            return Num(np.where(na, np.nan, out), logical=True)
        if op in _ARITH:
            x, y = numeric_values(a, what), numeric_values(b, what)
            with np.errstate(divide="ignore", invalid="ignore"):
                out = _ARITH[op](x, y)
                if op == "%/%":
                    out = np.floor(x / y)
            out = np.asarray(out, dtype=float)
            _warn_nan((x, y), out, what)
            if out.ndim == 0:
                return float(out)
            return Num(out)
        if op == "%in%" and isinstance(a, (Fac, Num)):
            vals = _const(node.args[1], ctx)
            vals = vals if isinstance(vals, list) else [vals]
            if isinstance(a, Fac):
                keys = {r_number(v) if isinstance(v, float) else str(v) for v in vals}
                hit = np.array([lv in keys for lv in a.levels] + [False])[a.codes]
            else:
                hit = np.isin(a.values, np.asarray(vals, dtype=float))
            return Num(hit.astype(float), logical=True)
        raise FormulaError(f"operator {op!r} in {what!r} is not supported here")
    raise AssertionError(k)
