"""``poly()`` / ``scale()`` coefficients of a partitioned (Dask) data frame, from passes before the levels pass.

R's ``model.frame`` evaluates a formula's variables on every row of the data before ``na.omit``, so
``scale(x)`` is centred on the mean of every non-missing ``x`` (also the rows a missing response
drops: ``lm(y ~ scale(x))`` with ``y[2] <- NA`` is centred on ``mean(x)``, not on ``mean(x[-2])``) and
``poly(x, 2)`` refuses a missing ``x`` in any row (``missing values are not allowed in 'poly'``).
:func:`transform_params` gives exactly the coefficients the in-memory evaluation records
(:class:`~mixedcompat.front.transforms.EvalContext` ``params``, R's ``predvars``) from sums over
the partitions, reading only the columns the transforms' arguments read:

* pass 0, for every call at once: per column, the count, mean and sum of squared deviations of the
  non-missing values (combined pairwise, Chan et al.), whether any value is missing, the infinite
  values (count and first row labels) and, for ``poly()``, at most ``degree + 1`` distinct values
  (R's unique-points check);
* for ``poly(x, d)`` (not ``raw``), passes ``k = 1 .. d``: ``sum(P_k^2)`` and ``sum((x - xbar) P_k^2)``
  of the monic orthogonal polynomial ``P_k`` from the coefficients of the earlier passes (the
  three-term recurrence of :func:`~mixedcompat.front.transforms.poly_monic`), which give
  ``norm2_k`` and ``alpha_k = sum((x - xbar) P_k^2) / norm2_k + xbar`` as R's ``poly()`` defines them.
  One pass serves every ``poly()`` of at least that degree.

A call inside another's argument (``poly(scale(x), 2)``) or an argument that reads a factor's level
codes is refused (:func:`~mixedcompat.partitioned.levels.check_transforms`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import dask
import numpy as np
import pandas as pd
from dask import delayed

from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front.design import group_leaves
from mixedcompat.front.formula import FormulaParts
from mixedcompat.front.rlang import Node
from mixedcompat.front.terms import rhs_terms
from mixedcompat.front.transforms import (EvalContext, evaluate, infinite_error, numeric_values, poly_arguments,
                                          poly_monic, poly_point_checks, scale_arguments)
from mixedcompat.partitioned.levels import GLOBAL_STATISTIC_TRANSFORMS, check_transforms, symbols, walk_nodes
from mixedcompat.partitioned.reduce import tree_reduce

__all__ = ["TransformCall", "transform_calls", "FirstPass", "first_pass", "combine_first",
           "poly_pass", "transform_params"]

_LABELS = 5
"""Row labels of infinite values kept for the message (the in-memory message names the first 5)."""


@dataclass(frozen=True)
class TransformCall:
    """One ``poly()`` / ``scale()`` call of a formula, its arguments decided.

    Attributes
    ----------
    node : Node
        The call; ``node.deparse()`` is its key in the coefficients.
    x : Node
        Its variable.
    kind : {"poly", "scale"}
    degree : int
        ``poly()``'s degree (0 for ``scale()``).
    raw : bool
        ``poly(raw = TRUE)``: no coefficients (only the infinite-value check).
    center, scale : True, False or list of float
        ``scale()``'s arguments.
    columns : tuple of str
        The data columns ``x`` reads.
    """

    node: Node
    x: Node
    kind: str
    degree: int = 0
    raw: bool = False
    center: Any = True
    scale: Any = True
    columns: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.node.deparse()


def _model_variables(parts: FormulaParts) -> list[Node]:
    """The variables the model frame evaluates, in its order (response, fixed, random, grouping)."""
    out: list[Node] = [parts.response] if parts.response is not None else []
    out += list(rhs_terms(parts.fixed).variables)
    for t in parts.re_terms:
        out += list(rhs_terms(t.expr).variables)
    for t in parts.re_terms:
        leaves: list[Node] = []
        group_leaves(t.group, leaves)
        out += leaves
    return out


def transform_calls(parts: FormulaParts, meta: pd.DataFrame) -> list[TransformCall]:
    """The distinct ``poly()`` / ``scale()`` calls of the model's variables, in the order the model
    frame evaluates them, with their arguments checked on ``meta`` (the frame's empty prototype) as
    the in-memory evaluation checks them.

    Raises
    ------
    FormulaError
        A call :func:`~mixedcompat.partitioned.levels.check_transforms` refuses, ``poly()`` of a
        matrix or of several variables, an argument that is not a constant, an unknown column.
    DataError
        A factor as the variable.

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> meta = pd.DataFrame({"y": [1.0], "x": [2.0], "g": ["a"]}).iloc[:0]
    >>> [(c.key, c.kind, c.degree, c.columns) for c in
    ...  transform_calls(parse_formula("y ~ poly(x, 3) + I(scale(x)^2) + (scale(x) | g)"), meta)]
    [('poly(x, 3)', 'poly', 3, ('x',)), ('scale(x)', 'scale', 0, ('x',))]
    """
    check_transforms(parts, meta)
    meta = meta.iloc[:0]
    ctx = EvalContext(meta)
    calls: dict[str, TransformCall] = {}
    for var in _model_variables(parts):
        for node in walk_nodes(var):
            if node.kind != "call" or node.value not in GLOBAL_STATISTIC_TRANSFORMS or node.deparse() in calls:
                continue
            if node.value == "poly":
                xs = [a for a, n in zip(node.args, node.names) if n is None]
                if not xs:
                    raise FormulaError(f"{node.deparse()} has no variable")
                if numeric_values(evaluate(xs[0], ctx), "poly").ndim != 1:
                    raise FormulaError("poly() of a matrix is not supported")
                x, degree, raw = poly_arguments(node, ctx)
                call = TransformCall(node, x, "poly", degree=degree, raw=raw)
            else:
                x, center, scale = scale_arguments(node, ctx)
                numeric_values(evaluate(x, ctx), "scale")
                call = TransformCall(node, x, "scale", center=center, scale=scale)
            cols = tuple(c for c in symbols(call.x) if c in meta.columns)
            calls[node.deparse()] = TransformCall(call.node, call.x, call.kind, call.degree, call.raw, call.center,
                                                  call.scale, cols)
    return list(calls.values())


def _matrix(pdf: pd.DataFrame, call: TransformCall) -> np.ndarray:
    """The call's variable on a partition, as an (n, k) matrix."""
    v = np.asarray(numeric_values(evaluate(call.x, EvalContext(pdf)), call.kind), dtype=float)
    v = np.broadcast_to(v, (len(pdf),)) if v.ndim == 0 else v
    return v if v.ndim == 2 else v[:, None]


@dataclass
class FirstPass:
    """Pass 0 of one call on some rows: per column of its variable the count, mean and sum of squared
    deviations of the non-missing values; any missing value; the infinite values (rows, and the
    labels of the first of them); the smallest distinct values (at most ``degree + 1``, ``poly()``)."""

    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    has_nan: bool
    n_infinite: int
    infinite_labels: list
    distinct: np.ndarray


def first_pass(pdf: pd.DataFrame, calls: list[TransformCall]) -> list[FirstPass]:
    """Pass 0 on one partition (a pandas DataFrame), for every call.

    Examples
    --------
    >>> from mixedcompat.front.rlang import parse
    >>> call = TransformCall(parse("scale(x)"), parse("x"), "scale", columns=("x",))
    >>> s = first_pass(pd.DataFrame({"x": [1.0, np.nan, 3.0]}), [call])[0]
    >>> s.n.tolist(), s.mean.tolist(), s.m2.tolist(), s.has_nan
    ([2], [2.0], [2.0], True)
    """
    out = []
    for call in calls:
        mat = _matrix(pdf, call)
        ok = ~np.isnan(mat)
        n = ok.sum(axis=0)
        with np.errstate(invalid="ignore", over="ignore"):
            mean = np.where(ok, mat, 0.0).sum(axis=0) / np.maximum(n, 1)
            m2 = (np.where(ok, mat - mean, 0.0) ** 2).sum(axis=0)
        inf_rows = np.flatnonzero(np.isinf(mat).any(axis=1))
        distinct = np.unique(mat[ok])[:call.degree + 1] if call.kind == "poly" and not call.raw else np.zeros(0)
        out.append(FirstPass(n, mean, m2, bool((~ok).any()), len(inf_rows),
                             [pdf.index[i] for i in inf_rows[:_LABELS].tolist()], distinct))
    return out


def _pooled(a: FirstPass, b: FirstPass, keep: int | None) -> FirstPass:
    """Chan et al.'s pairwise update, column by column (counts differ by column)."""
    n = a.n + b.n
    with np.errstate(invalid="ignore", over="ignore"):
        delta = b.mean - a.mean
        mean = a.mean + delta * np.where(n > 0, b.n / np.maximum(n, 1), 0.0)
        m2 = a.m2 + b.m2 + delta * delta * (a.n * b.n / np.maximum(n, 1))
    mean = np.where(b.n == 0, a.mean, np.where(a.n == 0, b.mean, mean))
    m2 = np.where(b.n == 0, a.m2, np.where(a.n == 0, b.m2, m2))
    distinct = np.unique(np.concatenate([a.distinct, b.distinct]))[:keep]
    return FirstPass(n, mean, m2, a.has_nan or b.has_nan, a.n_infinite + b.n_infinite,
                     (a.infinite_labels + b.infinite_labels)[:_LABELS], distinct)


def combine_first(*passes: list[FirstPass], calls: list[TransformCall] | None = None) -> list[FirstPass]:
    """Pass 0 of several partitions (in their order), call by call (``calls``: the calls, whose
    degrees bound the distinct values kept; all kept without them).

    Examples
    --------
    >>> from mixedcompat.front.rlang import parse
    >>> call = TransformCall(parse("scale(x)"), parse("x"), "scale", columns=("x",))
    >>> parts = [first_pass(pd.DataFrame({"x": v}), [call]) for v in ([1.0, 2.0], [], [3.0, 6.0])]
    >>> s = combine_first(*parts)[0]
    >>> s.n.tolist(), s.mean.tolist(), s.m2.tolist()
    ([4], [3.0], [14.0])
    """
    out = list(passes[0])
    keep = [c.degree + 1 for c in calls] if calls is not None else [None] * len(out)
    for other in passes[1:]:
        out = [_pooled(a, b, k) for a, b, k in zip(out, other, keep)]
    return out


def poly_pass(pdf: pd.DataFrame, polys: list[TransformCall], k: int, coefs: dict[str, dict]) -> np.ndarray:
    """Pass ``k`` on one partition: per ``poly()`` call, ``sum(P_k^2)`` and ``sum((x - xbar) P_k^2)``
    (rows of a ``(calls, 2)`` array), ``P_k`` from ``coefs[key]`` (``xbar``, ``alpha_0..k-1``,
    ``norm2`` up to ``k - 1``).

    Examples
    --------
    >>> from mixedcompat.front.rlang import parse
    >>> call = TransformCall(parse("poly(x, 2)"), parse("x"), "poly", degree=2, columns=("x",))
    >>> coefs = {"poly(x, 2)": {"xbar": 1.0, "alpha": [1.0], "norm2": [1.0, 3.0]}}
    >>> poly_pass(pd.DataFrame({"x": [0.0, 1.0, 2.0]}), [call], 1, coefs).tolist()
    [[2.0, 0.0]]
    """
    out = np.zeros((len(polys), 2))
    for i, call in enumerate(polys):
        c = coefs[call.key]
        x = _matrix(pdf, call)[:, 0]
        P = poly_monic(x, k, np.asarray(c["alpha"]), np.asarray(c["norm2"]))[:, k]
        P2 = P * P
        out[i] = (float(np.sum(P2)), float(np.sum((x - c["xbar"]) * P2)))
    return out


def _sum_arrays(*arrays: np.ndarray) -> np.ndarray:
    return np.sum(arrays, axis=0)


def _scale_params(call: TransformCall, s: FirstPass) -> dict:
    """``scale()``'s centre and scale from the pooled moments (as :func:`~mixedcompat.front.transforms`'s
    ``scale`` computes them from the rows: the sum of squares about the centre, over ``n - 1``)."""
    n = s.n.astype(float)
    if call.center is True:
        center = np.where(s.n > 0, s.mean, np.nan)
        ss = s.m2
    elif call.center is False:
        center = None
        ss = s.m2 + n * s.mean ** 2
    else:
        center = np.atleast_1d(np.asarray(call.center, dtype=float))
        try:
            np.broadcast_shapes(center.shape, s.mean.shape)
        except ValueError:
            raise DataError(f"length of 'center' must equal the number of columns of 'x' in {call.key}: "
                            f"{len(center)} values for {len(s.mean)} columns") from None
        ss = s.m2 + n * (s.mean - center) ** 2
    if call.scale is True:
        scale = np.sqrt(np.where(s.n > 0, ss, 0.0) / np.maximum(1, s.n - 1))
    elif call.scale is False:
        scale = None
    else:
        scale = np.atleast_1d(np.asarray(call.scale, dtype=float))
    return {"center": center, "scale": scale}


def transform_params(data: Any, parts: FormulaParts, split_every: int = 8) -> dict[str, dict]:
    """The ``poly()`` / ``scale()`` coefficients of ``parts`` on every row of a Dask DataFrame:
    exactly the ``params`` the in-memory evaluation on the whole data records (to rounding), keyed
    by R's text of the call (``{"alpha", "norm2"}`` / ``{"center", "scale"}``).  No pass without
    such a call; pass 0 and one pass per ``poly()`` degree otherwise, over the columns the calls
    read only, reduced as trees of at most ``split_every`` partitions.

    Raises
    ------
    FormulaError
        A call a partitioned fit cannot compute exactly (named), as :func:`transform_calls`.
    DataError
        As in memory: an infinite value in a call's variable (the count and the first row labels),
        a missing value in ``poly()``'s, fewer unique points than the degree.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> from mixedcompat.front.formula import parse_formula
    >>> d = pd.DataFrame({"y": [1.0, None, 2.0, 4.0], "x": [1.0, 2.0, 4.0, 8.0], "g": list("abab")})
    >>> p = transform_params(dd.from_pandas(d, npartitions=2), parse_formula("y ~ scale(x) + (1 | g)"))
    >>> p["scale(x)"]["center"].tolist()                    # all four x, the row without y too
    [3.75]
    """
    meta = data._meta
    calls = transform_calls(parts, meta)
    if not calls:
        return {}
    calls_d = delayed(calls, traverse=False)
    columns = list(dict.fromkeys(c for call in calls for c in call.columns)) or list(meta.columns[:1])
    pieces = data[columns].to_delayed()
    first = dask.compute(tree_reduce([delayed(first_pass)(p, calls_d) for p in pieces],
                                     partial(combine_first, calls=calls), split_every))[0]
    params: dict[str, dict] = {}
    coefs: dict[str, dict] = {}
    for call, s in zip(calls, first):
        if s.n_infinite:
            raise infinite_error(call.node, s.n_infinite, s.infinite_labels)
        if call.kind == "scale":
            params[call.key] = _scale_params(call, s)
        elif not call.raw:
            poly_point_checks(s.has_nan, call.degree, len(s.distinct))
            xbar = float(s.mean[0])
            coefs[call.key] = {"xbar": xbar, "alpha": [xbar], "norm2": [1.0, float(s.n[0])]}
    polys = [c for c in calls if c.key in coefs]
    for k in range(1, max((c.degree for c in polys), default=0) + 1):
        todo = [c for c in polys if c.degree >= k]
        cols = list(dict.fromkeys(col for c in todo for col in c.columns)) or list(meta.columns[:1])
        coefs_d = delayed({c.key: coefs[c.key] for c in todo}, traverse=False)
        todo_d = delayed(todo, traverse=False)
        sums = dask.compute(tree_reduce([delayed(poly_pass)(p, todo_d, k, coefs_d)
                                         for p in data[cols].to_delayed()], _sum_arrays, split_every))[0]
        for c, (norm2, xdev) in zip(todo, sums):
            coefs[c.key]["norm2"].append(float(norm2))
            if k < c.degree:
                coefs[c.key]["alpha"].append(float(xdev) / float(norm2) + coefs[c.key]["xbar"])
    for c in polys:
        params[c.key] = {"alpha": np.asarray(coefs[c.key]["alpha"]), "norm2": np.asarray(coefs[c.key]["norm2"])}
    return {c.key: params[c.key] for c in calls if c.key in params}
