"""The reduction of per-partition results as a tree of ``dask.delayed`` calls (every pass over a
partitioned data frame ends with it)."""
from __future__ import annotations

from typing import Any, Callable

from dask import delayed

__all__ = ["tree_reduce"]


def tree_reduce(items: list, combine: Callable[..., Any], split_every: int = 8):
    """``combine`` applied as a tree over delayed ``items`` (at most ``split_every`` per node, in
    their order): one delayed result.

    Examples
    --------
    >>> tree_reduce([delayed(v) for v in range(10)], lambda *xs: sum(xs), split_every=3).compute()
    45
    """
    items = list(items)
    while len(items) > 1:
        items = [delayed(combine)(*items[i:i + split_every]) for i in range(0, len(items), split_every)]
    return items[0]
