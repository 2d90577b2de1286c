"""Exact R type-7 quantiles of a partitioned (Dask) vector, with driver memory bounded by the sample
size and the number of partitions, not by the rows.

The order statistics R's ``quantile()`` (type 7, NA removed) reads are found by bracketing, on
whatever Dask scheduler is active (threads, or a ``dask.distributed`` client):

1. every partition sorts its values and returns its counts and a sample at evenly spaced ranks
   (first and last always included), with those ranks;
2. on the driver, each needed order statistic ``x_(k)`` is bracketed, ``lo <= x_(k) <= hi``, from the
   samples alone (:func:`bracket_from_samples`: rank bounds per partition, a binary search over the
   sample values);
3. every partition returns, per bracket, its counts of values below ``lo``, equal to ``lo`` and equal
   to ``hi``, and its values strictly between (all of them when they are few, else a sample of them
   at evenly spaced ranks, which narrows the bracket in another pass); then ``x_(k)`` is the
   ``k - #below - #at_lo``-th of the in-between values, or ``lo`` / ``hi`` itself.

With ``sample_size`` m per partition, the second pass sends about ``2 n / m`` values to the driver in
all, so two passes suffice unless one partition holds more than about ``m^2 / 2`` values inside a
bracket; each further pass narrows the brackets strictly, so the result is always exact.  The type-7
arithmetic (ranks, interpolation) is :func:`~mixedcompat.present.rformat.quantile7_ranks` and
:func:`~mixedcompat.present.rformat.quantile7_interpolate`, the in-memory
:func:`~mixedcompat.present.rformat.quantile7`'s own, so the result is the same floats.
Each pass computes the partitions again: persist a Series whose partitions are costly.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask import delayed
from dask.base import is_dask_collection

from mixedcompat.errors import DataError
from mixedcompat.partitioned.reduce import tree_reduce
from mixedcompat.present.rformat import quantile7_interpolate, quantile7_ranks

__all__ = ["quantiles7", "order_statistics", "OrderStatistics", "PassInfo", "BracketCounts",
           "bracket_counts", "combine_bracket_counts", "bracket_from_samples"]

Bracket = tuple[float, float]


@dataclass(frozen=True)
class BracketCounts:
    """One bracket ``[lo, hi]`` (``lo < hi``) over some partitions.

    Attributes
    ----------
    below, at_lo, at_hi, inside : int
        Values ``< lo``, ``== lo``, ``== hi`` and strictly between ``lo`` and ``hi``.
    complete : tuple of ndarray
        The in-between values of the partitions that sent all of theirs (unsorted as a whole).
    samples : tuple of (ndarray, ndarray, int)
        Per partition that sent a sample: its sorted sampled in-between values, their 0-based ranks
        among its in-between values (first and last included) and its count of in-between values.
    """

    below: int
    at_lo: int
    at_hi: int
    inside: int
    complete: tuple[np.ndarray, ...]
    samples: tuple[tuple[np.ndarray, np.ndarray, int], ...]

    @property
    def values_sent(self) -> int:
        """Number of values (complete or sampled) this summary carries."""
        return sum(v.size for v in self.complete) + sum(v.size for v, _, _ in self.samples)


@dataclass(frozen=True)
class PassInfo:
    """One pass over the partitions: the brackets it counted, the values that came back to the
    driver, and each bracket's number of values strictly inside (all partitions)."""

    brackets: tuple[Bracket, ...]
    values_sent: int
    inside: tuple[int, ...]


@dataclass(frozen=True)
class OrderStatistics:
    """Exact order statistics of a partitioned vector (NaN removed).

    Attributes
    ----------
    n : int
        Number of non-NaN values.
    values : dict of int to float
        ``x_(k)`` (0-based ``k``) for each requested ``k``.
    passes : list of PassInfo
        One entry per pass over the partitions (the first is the sampling pass).
    """

    n: int
    values: dict[int, float]
    passes: list[PassInfo]


# ------------------------------------------------------------------------------------ per partition

def _values(part: Any) -> np.ndarray:
    """The partition's values as float64, NaN (and pandas' NA) removed."""
    try:
        if hasattr(part, "to_numpy"):
            x = part.to_numpy(dtype=float, na_value=np.nan)
        else:
            x = np.asarray(part, dtype=float)
    except (TypeError, ValueError) as err:
        dtype = getattr(part, "dtype", type(part).__name__)
        raise DataError(f"quantiles need numeric values, not {dtype}: {err}") from None
    x = np.ravel(x)
    return x[~np.isnan(x)]


def _summary(inside: np.ndarray, below: int, at_lo: int, at_hi: int, sample_size: int) -> BracketCounts:
    """One partition's counts for a bracket, from its sorted in-between values."""
    c = inside.size
    if c <= sample_size:
        return BracketCounts(below, at_lo, at_hi, c, (inside.copy(),) if c else (), ())
    ranks = np.unique(np.rint(np.linspace(0, c - 1, sample_size)).astype(np.int64))
    return BracketCounts(below, at_lo, at_hi, c, (), ((inside[ranks].copy(), ranks, c),))


def bracket_counts(part: Any, brackets: Sequence[Bracket], sample_size: int = 1024) -> tuple[BracketCounts, ...]:
    """One partition's :class:`BracketCounts` for each bracket: its values below / at the ends of
    the bracket counted, its values strictly inside sent whole when at most ``sample_size``, else
    sampled at ``sample_size`` evenly spaced ranks.

    Parameters
    ----------
    part : array-like or pandas Series
        The partition's values (NaN ignored).
    brackets : sequence of (float, float)
        ``(lo, hi)`` with ``lo < hi``; ``(-inf, inf)`` is the whole (its infinities counted at the ends).
    sample_size : int
        Values sent per partition and bracket at most (at least 2).

    Examples
    --------
    >>> b = bracket_counts(np.array([5.0, 1, 3, np.nan, 3, 9]), [(1.0, 5.0)])[0]
    >>> (b.below, b.at_lo, b.inside, b.at_hi, b.complete[0].tolist())
    (0, 1, 2, 1, [3.0, 3.0])
    """
    x = _values(part)
    env_lo = min(lo for lo, _ in brackets)
    env_hi = max(hi for _, hi in brackets)
    below_env = int(np.count_nonzero(x < env_lo))
    xs = np.sort(x[(x >= env_lo) & (x <= env_hi)])
    out = []
    for lo, hi in brackets:
        a, b = np.searchsorted(xs, lo, "left"), np.searchsorted(xs, lo, "right")
        c, d = np.searchsorted(xs, hi, "left"), np.searchsorted(xs, hi, "right")
        out.append(_summary(xs[b:c], below_env + int(a), int(b - a), int(d - c), sample_size))
    return tuple(out)


def combine_bracket_counts(*parts: tuple[BracketCounts, ...]) -> tuple[BracketCounts, ...]:
    """The :class:`BracketCounts` of several groups of partitions combined, bracket by bracket
    (counts added, complete values and samples gathered).

    Examples
    --------
    >>> b = combine_bracket_counts(bracket_counts([1.0, 2, 3], [(1.0, 3.0)]),
    ...                            bracket_counts([0.0, 2.5], [(1.0, 3.0)]))[0]
    >>> (b.below, b.at_lo, b.inside, b.at_hi, sorted(np.concatenate(b.complete).tolist()))
    (1, 1, 2, 1, [2.0, 2.5])
    """
    out = []
    for group in zip(*parts):
        complete = tuple(v for g in group for v in g.complete if v.size)
        if len(complete) > 1:
            complete = (np.concatenate(complete),)
        out.append(BracketCounts(sum(g.below for g in group), sum(g.at_lo for g in group),
                                 sum(g.at_hi for g in group), sum(g.inside for g in group), complete,
                                 tuple(s for g in group for s in g.samples)))
    return tuple(out)


# ------------------------------------------------------------------------------------ on the driver

def bracket_from_samples(samples: Sequence[tuple[np.ndarray, np.ndarray, int]], j: int) -> Bracket:
    """Values ``lo <= x_(j) <= hi`` (0-based ``j``) of the union of partitions known by samples.

    A partition with sorted sample values ``s`` at ranks ``r`` (first and last included) and ``c``
    values has ``#(values < t) <= min{r : s >= t}`` (``c`` if none) and ``#(values <= t) >= 1 +
    max{r : s <= t}`` (0 if none).  ``lo`` is the largest sample value whose first bound, summed over
    partitions, is at most ``j``; ``hi`` the smallest whose second bound sums to at least ``j + 1``.
    Both are found by binary search over the sorted sample values, each step costing one vectorised
    search per partition.

    Examples
    --------
    >>> x = np.arange(100.0)
    >>> r = np.array([0, 33, 66, 99])
    >>> bracket_from_samples([(x[r], r, 100)], 50)
    (33.0, 66.0)
    """
    values = np.concatenate([s for s, _, _ in samples])
    ranks = np.concatenate([r for _, r, _ in samples]).astype(np.int64)
    counts = np.array([c for _, _, c in samples], dtype=np.int64)
    sizes = np.array([s.size for s, _, _ in samples], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ends = starts + sizes
    cand, dense = np.unique(values, return_inverse=True)
    width = cand.size + 1
    seg = np.repeat(np.arange(len(samples), dtype=np.int64), sizes)
    keys = seg * width + dense.ravel()                  # sorted: segments in order, each sorted
    base = np.arange(len(samples), dtype=np.int64) * width

    def less_upper(c: int) -> int:                      # upper bound of #(values < cand[c])
        idx = np.searchsorted(keys, base + c, "left")
        inside = idx < ends
        return int(np.sum(np.where(inside, ranks[np.minimum(idx, ranks.size - 1)], counts)))

    def leq_lower(c: int) -> int:                       # lower bound of #(values <= cand[c])
        idx = np.searchsorted(keys, base + c, "right")
        some = idx > starts
        return int(np.sum(np.where(some, ranks[np.maximum(idx - 1, 0)] + 1, 0)))

    a, b = 0, cand.size - 1                             # less_upper(0) == 0 <= j: largest c with <= j
    while a < b:
        mid = (a + b + 1) // 2
        if less_upper(mid) <= j:
            a = mid
        else:
            b = mid - 1
    lo = a
    a, b = 0, cand.size - 1                             # leq_lower(last) == n >= j + 1: smallest c
    while a < b:
        mid = (a + b) // 2
        if leq_lower(mid) >= j + 1:
            b = mid
        else:
            a = mid + 1
    return float(cand[lo]), float(cand[a])


def _pieces(data: Any) -> list:
    """The partitions of ``data`` as delayed objects."""
    if isinstance(data, (dd.DataFrame, pd.DataFrame)):
        raise DataError("quantiles7 takes one column (a Dask Series), not a data frame with columns "
                        f"{list(data.columns)}")
    if hasattr(data, "to_delayed"):
        return list(np.ravel(np.asarray(data.to_delayed(), dtype=object)))
    out = []
    for item in data:
        if is_dask_collection(item):
            out.append(item)
        elif callable(item):
            out.append(delayed(item)())
        else:
            out.append(delayed(item, traverse=False))
    return out


def _resolve(k: int, lohi: Bracket, s: BracketCounts) -> float | Bracket:
    """``x_(k)`` from a bracket's counts, or the narrower bracket the samples give."""
    lo, hi = lohi
    kk = k - s.below
    if not 0 <= kk < s.at_lo + s.inside + s.at_hi:
        raise RuntimeError(f"order statistic {k} fell outside its bracket [{lo}, {hi}]")
    if kk < s.at_lo:
        return lo
    if kk >= s.at_lo + s.inside:
        return hi
    j = kk - s.at_lo
    complete = np.sort(np.concatenate(s.complete)) if s.complete else np.empty(0)
    if not s.samples:
        return float(complete[j])
    parts = list(s.samples)
    if complete.size:
        parts.append((complete, np.arange(complete.size, dtype=np.int64), complete.size))
    new_lo, new_hi = bracket_from_samples(parts, j)
    return new_lo if new_lo == new_hi else (new_lo, new_hi)


def order_statistics(data: Any, which: Callable[[int], Iterable[int]], sample_size: int = 1024,
                     split_every: int = 8) -> OrderStatistics:
    """Exact order statistics ``x_(k)`` (0-based, NaN removed) of a partitioned vector, by brackets
    (see the module's docstring): the driver holds at most ``sample_size`` values per partition and
    bracket, never the rows.

    Parameters
    ----------
    data : dask Series or Array, or sequence
        The vector: a Dask Series / Array, or its partitions as ``dask.delayed`` objects, functions
        of no argument returning an array, or arrays.
    which : callable
        Given the number ``n`` of non-NaN values, the ranks ``k`` (``0 <= k < n``) wanted.
    sample_size : int
        Values per partition and bracket sent to the driver at most (at least 2).
    split_every : int
        Partitions (or partial results) combined per node of the reduction tree.

    Returns
    -------
    OrderStatistics
        ``n``, the values, and per pass the values that came to the driver and the bracket sizes.

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> s = dd.from_pandas(pd.Series(np.arange(1000.0)[::-1]), npartitions=4)
    >>> st = order_statistics(s, lambda n: [0, n // 2, n - 1], sample_size=16)
    >>> st.n, st.values
    (1000, {0: 0.0, 500: 500.0, 999: 999.0})
    """
    if sample_size < 2:
        raise DataError(f"sample_size must be at least 2, not {sample_size}")
    pieces = _pieces(data)
    passes: list[PassInfo] = []

    def one_pass(brackets: tuple[Bracket, ...]) -> tuple[BracketCounts, ...]:
        if not pieces:
            return tuple(BracketCounts(0, 0, 0, 0, (), ()) for _ in brackets)
        tree = tree_reduce([delayed(bracket_counts)(p, brackets, sample_size) for p in pieces],
                           combine_bracket_counts, split_every)
        counts = dask.compute(tree)[0]
        passes.append(PassInfo(brackets, sum(c.values_sent for c in counts), tuple(c.inside for c in counts)))
        return counts

    whole: Bracket = (-np.inf, np.inf)
    first = one_pass((whole,))[0]
    n = first.below + first.at_lo + first.inside + first.at_hi
    wanted = sorted({int(k) for k in which(n)})
    if any(not 0 <= k < n for k in wanted):
        raise DataError(f"order statistics {wanted} asked of {n} values")
    values: dict[int, float] = {}
    pending: dict[int, Bracket] = {}
    for k in wanted:
        got = _resolve(k, whole, first)
        if isinstance(got, tuple):
            pending[k] = got
        else:
            values[k] = got
    while pending:
        brackets = tuple(sorted(set(pending.values())))
        counts = dict(zip(brackets, one_pass(brackets)))
        for k, lohi in list(pending.items()):
            got = _resolve(k, lohi, counts[lohi])
            if isinstance(got, tuple):
                pending[k] = got
            else:
                values[k] = got
                del pending[k]
    return OrderStatistics(n, values, passes)


def quantiles7(series: Any, probs: Sequence[float] = (0, .25, .5, .75, 1), split_every: int = 8,
               sample_size: int = 1024) -> np.ndarray:
    """R's ``quantile(x, probs)`` (type 7, NA removed) of a partitioned vector, exactly: the same
    floats as :func:`~mixedcompat.present.rformat.quantile7` of all its values, with the driver's
    memory bounded by ``sample_size`` per partition, not by the rows.  NaN for every prob when no
    value is left (R's ``NA``).

    Parameters
    ----------
    series : dask Series or Array, or sequence
        The vector (e.g. residuals from ``map_partitions``), or its partitions (see
        :func:`order_statistics`).  Runs on the active Dask scheduler.
    probs : sequence of float
        Probabilities in [0, 1].
    split_every : int
        Partitions combined per node of the reduction tree.
    sample_size : int
        Values per partition sent to the driver per pass at most.

    Returns
    -------
    ndarray
        One quantile per prob.

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> x = pd.Series([3.0, 1, np.nan, 2, 2, 5])
    >>> quantiles7(dd.from_pandas(x, npartitions=3)).tolist()
    [1.0, 2.0, 2.0, 3.0, 5.0]
    """
    probs = [float(p) for p in probs]
    if any(not 0 <= p <= 1 for p in probs):
        raise DataError("'probs' outside [0,1]")

    def needed(n: int) -> list[int]:
        if n == 0:
            return []
        return [k for lo, hi, frac in quantile7_ranks(n, probs) for k in ((lo, hi) if frac > 0 else (lo,))]

    st = order_statistics(series, needed, sample_size=sample_size, split_every=split_every)
    if st.n == 0:
        return np.full(len(probs), np.nan)
    v = st.values
    return np.asarray([quantile7_interpolate(v[lo], v[hi] if frac > 0 else v[lo], frac)
                       for lo, hi, frac in quantile7_ranks(st.n, probs)], dtype=float)
