"""nlme's ``augPred`` for lme fits: the data and the fitted curves on a grid of the primary covariate,
per group, stacked as one data frame for trellis-style plots (R's ``as.data.frame(augPred(m, ...))``).

Columns, as R: the primary covariate (named as written, ``age``), ``.groups`` (ordered categorical:
the grouping's level order when the grouping factor is ordered, else the order of first appearance),
the response (named by its deparsed expression, ``distance`` or ``log(distance)``) and ``.type``
(ordered categorical: ``"predicted"`` -- or ``"predict.fixed"``, ``"predict.<level>"`` for several
levels -- then ``"original"``).  The original rows come first, then per level the grid of
``length_out`` values from ``minimum`` to ``maximum`` for each group; row labels are R's.  The other
covariates a prediction needs are nlme's ``gsummary`` of each group (the value when constant within the
group, else the mean of a number / the most frequent level of a factor).

As there is no groupedData, ``primary`` must be given (nlme's augPred refuses to guess it without one).

Examples
--------
>>> import mixedcompat as mc
>>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ age | Subject")
>>> a = augPred(m, primary="~ age", length_out=3)
>>> a.columns.tolist(), len(a)
(['age', '.groups', 'distance', '.type'], 189)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front import rlang
from mixedcompat.nlme.var_bound import numeric_covariate

__all__ = ["augPred", "r_seq", "group_summary"]


def r_seq(lo: float, hi: float, n: int) -> np.ndarray:
    """R's ``seq(lo, hi, length.out = n)``: ``lo + k * by`` with the last value exactly ``hi``.

    Examples
    --------
    >>> r_seq(8, 14, 3).tolist()
    [8.0, 11.0, 14.0]
    """
    if n < 1:
        raise DataError(f"length_out must be at least 1, not {n}")
    if n == 1:
        return np.array([float(lo)])
    by = (hi - lo) / (n - 1)
    return np.r_[lo, lo + np.arange(1, n - 1) * by, hi].astype(float)


def _mode(values: pd.Series) -> object:
    """nlme's ``Mode``: the most frequent value; ties go to the first in sorted (C-locale) order."""
    counts = values.astype(str).value_counts()
    counts = counts.reindex(sorted(counts.index))
    label = counts.idxmax()
    for v in values:
        if str(v) == label:
            return v
    return label


def group_summary(data: pd.DataFrame, groups: np.ndarray, order: list[str]) -> pd.DataFrame:
    """nlme's ``gsummary(data, groups = groups)``: one row per group (``order``); a column constant
    within every group keeps its value, else numbers are averaged (NA removed) and factors take
    their most frequent level.

    Examples
    --------
    >>> d = pd.DataFrame({"x": [1.0, 3.0, 5.0], "g": ["a", "a", "b"]})
    >>> group_summary(d, np.array(["a", "a", "b"]), ["a", "b"])["x"].tolist()
    [2.0, 5.0]
    """
    g = pd.Series(groups, index=data.index)
    out = {}
    for col in data.columns:
        s = data[col]
        first = s.groupby(g, sort=False).first()
        varying = bool((s.astype(str) != s.groupby(g).transform("first").astype(str)).any())
        if not varying:
            out[col] = first.reindex(order)
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[col] = s.groupby(g).mean().reindex(order)
        else:
            out[col] = s.groupby(g).agg(_mode).reindex(order)
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = pd.Categorical(out[col], categories=s.cat.categories, ordered=s.cat.ordered)
    return pd.DataFrame(out, index=order)


def augPred(m, primary: str | None = None, minimum: float | None = None, maximum: float | None = None,
            length_out: int = 51, level=None) -> pd.DataFrame:
    """nlme's ``augPred(m, primary = ~ x, minimum, maximum, length.out, level)`` of an lme fit.

    R equivalent: ``as.data.frame(nlme::augPred(m, primary = ~ age, length.out = 51))``.

    Parameters
    ----------
    m : NlmeFit
        An ``lme`` fit.
    primary : str
        The primary covariate, ``"~ age"`` (or ``"age"``); required (no groupedData to take it from).
    minimum, maximum : float, optional
        The grid's ends (default: the range of the primary covariate over the fitted rows).
    length_out : int
        Number of grid points per group (R's ``length.out``, default 51).
    level : int or list of int, optional
        Prediction level(s), default the innermost; ``[0, 1]`` stacks both.

    Returns
    -------
    pandas.DataFrame
        R's ``as.data.frame(augPred(...))`` (module docstring).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ age | Subject")
    >>> a = augPred(m, primary="~ age", length_out=2, level=[0, 1])
    >>> a[".type"].cat.categories.tolist()
    ['predict.fixed', 'predict.Subject', 'original']
    """
    if getattr(m, "kind", None) != "lme":
        raise DataError("augPred applies to lme fits")
    if primary is None:
        raise DataError('augPred without "primary" can only be used with fits of "groupedData" objects: '
                        'give the primary covariate, e.g. primary="~ age"')
    if not isinstance(primary, str):
        raise FormulaError(f"primary must be a formula string such as '~ age', not {primary!r}")
    text = primary.strip()
    node = rlang.parse(text)
    if node.kind == "unop" and node.value == "~":
        node = node.args[0]
    elif text.startswith("~") or rlang.is_binop(node, "~"):
        raise FormulaError(f"primary must be one-sided, '~ x', not {primary!r}")
    if rlang.is_binop(node, "|"):
        raise FormulaError(f"primary {primary!r}: give the covariate only; the groups are the fit's")
    pr_name = node.deparse()
    n_levels = m.n_levels
    levels = [n_levels] if level is None else [int(x) for x in np.atleast_1d(level)]
    if any(lv < 0 or lv > n_levels for lv in levels):
        raise DataError(f"level must be between 0 and {n_levels}, not {level!r}")
    setup = m.setup
    data = setup.sorted_data.iloc[np.argsort(setup.order)].reset_index(drop=True)   # the fitted rows, data order
    prim = numeric_covariate(node, data, "augPred")
    lo = float(np.min(prim)) if minimum is None else float(minimum)
    hi = float(np.max(prim)) if maximum is None else float(maximum)
    grid = r_seq(lo, hi, int(length_out))
    top = max(levels + [1])
    lik = m.likelihood
    lv = lik.levels[top - 1]
    grp = np.empty(lik.n, dtype=object)
    grp[setup.order] = np.asarray(lv.labels, dtype=object)[lv.codes]
    appearance = list(dict.fromkeys(grp.tolist()))
    gcol = setup.random[top - 1].groups[-1]
    ordered_levels = top == 1 and isinstance(data[gcol].dtype, pd.CategoricalDtype) and data[gcol].cat.ordered
    cats = [str(x) for x in lv.labels] if ordered_levels else appearance
    summ = group_summary(data, grp, appearance)
    newdata = summ.loc[np.repeat(appearance, len(grid))].reset_index(drop=True)
    newdata[pr_name] = np.tile(grid, len(appearance))
    if len(levels) == 1:
        preds = [np.asarray(m.predict(newdata, level=levels[0]), float)]
        names = ["predicted"]
    else:
        frame = m.predict(newdata, level=levels)
        names = list(frame.columns[-len(levels):])
        preds = [frame[c].to_numpy(float) for c in names]
    y = np.empty(lik.n)
    y[setup.order] = lik.y
    resp = " ".join(rlang.deparse(rlang.parse(setup.frame.response_name), 500))
    n_new = len(newdata)
    out = pd.DataFrame({
        pr_name: np.r_[prim, np.tile(np.tile(grid, len(appearance)), len(levels))],
        ".groups": pd.Categorical(grp.tolist() + list(np.repeat(appearance, len(grid))) * len(levels),
                                  categories=cats, ordered=True),
        resp: np.concatenate([y] + preds),
        ".type": pd.Categorical(["original"] * lik.n + [nm for nm in names for _ in range(n_new)],
                                categories=names + ["original"], ordered=True),
    })
    rows = [str(i + 1) for i in range(lik.n)]
    if len(levels) == 1:
        rows += [str(lik.n + i + 1) for i in range(n_new)]
    else:
        rows += [f"{nm}{i + 1}" for nm in names for i in range(n_new)]
    out.index = pd.Index(rows)
    return out
