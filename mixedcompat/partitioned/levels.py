"""The first pass over a partitioned data frame: the rows kept and every factor's global levels.

A model frame's factor levels are those its kept rows have (after ``na.omit``), sorted as R sorts
them (or in a categorical column's order).  Each partition reports, for every factor variable and
grouping factor, the distinct values of the data columns it is computed from among its kept rows;
the union over partitions, evaluated as the whole data's model frame would evaluate it, gives the
same levels in the same order as the in-memory frame (a factor's levels depend only on the set of
values it takes).  Transforms whose value depends on global statistics of the data (``poly()``,
``scale()``) take their coefficients from a pass before this one
(:mod:`~mixedcompat.partitioned.transforms`); :func:`check_transforms` refuses the forms that pass
cannot compute exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mixedcompat.errors import FormulaError
from mixedcompat.front.design import group_factor, group_leaves, kept_variables
from mixedcompat.front.formula import FormulaParts
from mixedcompat.front.rlang import Node
from mixedcompat.front.transforms import EvalContext, Fac, evaluate, factor_from_values

__all__ = ["GLOBAL_STATISTIC_TRANSFORMS", "ModelInputs", "LevelSets", "GlobalLevels", "walk_nodes",
           "check_transforms", "symbols", "factor_nodes", "partition_levels", "combine_levels", "finish_levels"]

GLOBAL_STATISTIC_TRANSFORMS = ("poly", "scale")
"""Formula functions whose value on a row depends on statistics of the whole column."""


@dataclass(frozen=True)
class ModelInputs:
    """What every partition needs to build its part of the model frame.

    ``weights`` and ``offset`` are column names (a partitioned frame has no row-aligned arrays);
    ``params`` the whole data's ``poly()`` / ``scale()`` coefficients
    (:func:`~mixedcompat.partitioned.transforms.transform_params`).
    """

    parts: FormulaParts
    weights: str | None = None
    offset: str | None = None
    na_action: str = "omit"
    contrasts: dict | None = None
    params: dict | None = None


def walk_nodes(node: Node):
    """``node`` and every node inside it, depth first (a call before its arguments, left to right:
    the order in which evaluation meets them).

    Examples
    --------
    >>> from mixedcompat.front.rlang import parse
    >>> [n.deparse() for n in walk_nodes(parse("log(x + 1)"))]
    ['log(x + 1)', 'x + 1', 'x', '1']
    """
    yield node
    for a in node.args:
        if isinstance(a, Node):
            yield from walk_nodes(a)


_FACTOR_TO_NUMBER = ("as.numeric", "as.double", "as.integer")
"""Functions that turn a factor into its level codes (which depend on the levels of the whole data)."""


def check_transforms(parts: FormulaParts, meta: pd.DataFrame | None = None) -> None:
    """Refuse the ``poly()`` / ``scale()`` calls whose whole-data coefficients a partitioned fit
    cannot compute exactly: one inside another's argument (``poly(scale(x), 2)``: the inner one's
    values on all rows would be needed in a pass of their own), and, given ``meta`` (the frame's
    empty prototype), an argument that turns a factor into its level codes (``scale(as.numeric(f))``:
    the codes are those of the whole data's levels).

    Raises
    ------
    FormulaError
        Naming the call and what to do instead.

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> check_transforms(parse_formula("y ~ scale(x) + poly(z, 2) + (1 | g)"))
    >>> check_transforms(parse_formula("y ~ poly(scale(x), 2) + (1 | g)"))
    Traceback (most recent call last):
    ...
    mixedcompat.errors.FormulaError: poly(scale(x), 2) has scale(x) inside its argument, which a partitioned (Dask) fit cannot compute from the whole column: transform the column before fitting, or fit in memory
    """
    for node in walk_nodes(parts.tree):
        if node.kind != "call" or node.value not in GLOBAL_STATISTIC_TRANSFORMS:
            continue
        for arg in node.args:
            if not isinstance(arg, Node):
                continue
            for inner in walk_nodes(arg):
                if inner.kind == "call" and inner.value in GLOBAL_STATISTIC_TRANSFORMS:
                    raise FormulaError(f"{node.deparse()} has {inner.deparse()} inside its argument, which a "
                                       "partitioned (Dask) fit cannot compute from the whole column: transform "
                                       "the column before fitting, or fit in memory")
                if meta is not None and inner.kind == "call" and inner.value in _FACTOR_TO_NUMBER \
                        and inner.args and isinstance(evaluate(inner.args[0], EvalContext(meta.iloc[:0])), Fac):
                    raise FormulaError(f"{node.deparse()} reads the level codes of a factor "
                                       f"({inner.deparse()}), which a partitioned (Dask) fit does not know before "
                                       "its levels pass: add the codes as a numeric column, or fit in memory")


def symbols(node: Node) -> list[str]:
    """The data columns an expression reads (its symbols), in order of appearance.

    Examples
    --------
    >>> from mixedcompat.front.rlang import parse
    >>> symbols(parse("factor(a):b"))
    ['a', 'b']
    """
    out: list[str] = []
    for n in walk_nodes(node):
        if n.kind == "sym" and n.value not in out:
            out.append(n.value)
    return out


def factor_nodes(parts: FormulaParts, data: pd.DataFrame, params: dict | None = None) -> dict[str, Node]:
    """The variables that are factors on ``data`` (a partition, or the frame's empty prototype) and
    the grouping factors, by R spelling (logicals excluded: their levels are fixed); ``params``: the
    whole data's ``poly()`` / ``scale()`` coefficients (required when the formula has them).

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> d = pd.DataFrame({"y": [1.0], "f": ["a"], "b": [True], "g": ["u"], "h": [2]})
    >>> sorted(factor_nodes(parse_formula("y ~ f + b + (1 | g:h)"), d))
    ['f', 'g:h']
    """
    variables, _used, _extras = kept_variables(parts, data.iloc[:0], params=params)
    structs = [variables.fixed, *variables.random]
    out = {node.deparse(): node for s in structs for node in s.variables if isinstance(variables.values[node], Fac)}
    for t in parts.re_terms:
        out[t.group.deparse()] = t.group
    return out


@dataclass
class LevelSets:
    """A partition's (or several partitions') kept-row count and, per factor, the distinct rows of
    the columns it is computed from."""

    n: int
    distinct: dict[str, pd.DataFrame]


def partition_levels(pdf: pd.DataFrame, inputs: ModelInputs, nodes: dict[str, Node]) -> LevelSets:
    """The first pass on one partition (a pandas DataFrame): its kept rows and, for each factor of
    ``nodes`` (:func:`factor_nodes`), the distinct rows of its columns among them.

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> parts = parse_formula("y ~ 1 + (1 | g)")
    >>> d = pd.DataFrame({"y": [1.0, None, 3.0, 4.0], "g": ["v", "w", "u", "v"]})
    >>> s = partition_levels(d, ModelInputs(parts), factor_nodes(parts, d))
    >>> s.n, s.distinct["g"]["g"].tolist()
    (3, ['v', 'u'])
    """
    _variables, used, _extras = kept_variables(inputs.parts, pdf, inputs.weights, inputs.offset, inputs.na_action,
                                               inputs.params)
    kept = pdf if used.take is None else pdf.iloc[used.rows]
    return LevelSets(len(used.rows), {name: kept[symbols(node)].drop_duplicates() for name, node in nodes.items()})


def combine_levels(*sets: LevelSets) -> LevelSets:
    """The union of partitions' level sets.

    Examples
    --------
    >>> a = LevelSets(2, {"g": pd.DataFrame({"g": ["v", "u"]})})
    >>> b = LevelSets(1, {"g": pd.DataFrame({"g": ["v"]})})
    >>> c = combine_levels(a, b)
    >>> c.n, c.distinct["g"]["g"].tolist()
    (3, ['v', 'u'])
    """
    keys = sets[0].distinct.keys()
    distinct = {k: pd.concat([s.distinct[k] for s in sets], ignore_index=True).drop_duplicates() for k in keys}
    return LevelSets(sum(s.n for s in sets), distinct)


@dataclass(frozen=True)
class GlobalLevels:
    """The first pass's result: rows kept in all, and every factor's levels (R's order) by R spelling."""

    n: int
    levels: dict[str, list[str]]


def finish_levels(sets: LevelSets, parts: FormulaParts, nodes: dict[str, Node], meta: pd.DataFrame,
                  params: dict | None = None) -> GlobalLevels:
    """Every factor's levels from the union of the partitions' distinct values, evaluated as the
    whole data's model frame evaluates them (``nodes``: :func:`factor_nodes`; ``params``: the whole
    data's ``poly()`` / ``scale()`` coefficients); ``meta`` (the frame's empty prototype) restores
    the column types (categories) the concatenation may have lost.

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> parts = parse_formula("y ~ 1 + (1 | k)")
    >>> meta = pd.DataFrame({"y": [1.0], "k": [1]}).iloc[:0]
    >>> sets = LevelSets(3, {"k": pd.DataFrame({"k": [10, 5, 2]})})       # integers: sorted as numbers
    >>> finish_levels(sets, parts, factor_nodes(parts, meta), meta).levels
    {'k': ['2', '5', '10']}
    """
    groups = {t.group.deparse(): t.group for t in parts.re_terms}
    levels: dict[str, list[str]] = {}
    for name, skel in sets.distinct.items():
        skel = skel.astype({c: meta[c].dtype for c in skel.columns}).reset_index(drop=True)
        ctx = EvalContext(skel) if params is None else EvalContext(skel, params=dict(params), fit=False)
        if name in groups:
            leaves: list[Node] = []
            group_leaves(groups[name], leaves)
            values = {leaf: evaluate(leaf, ctx) for leaf in leaves}
            fac = group_factor(groups[name], values, None, name)
        else:
            value = evaluate(nodes[name], ctx)
            fac = value.drop_unused() if isinstance(value, Fac) else factor_from_values(value)
        levels[name] = list(fac.levels)
    return GlobalLevels(int(sets.n), levels)

