"""The up-front memory check of a partitioned fit: crossed grouping factors whose dense block would
not fit in memory are refused before the optimiser starts, with the block's size and the time one
evaluation of the criterion would take.

The random-effects blocks after the first (:class:`~mixedcompat.lme4.schur.LaterBlocks`) are
factorised dense when their Schur complement ``C`` fills in -- fully crossed factors -- or has few
columns.  Dense, ``C`` and its Cholesky factor take ``8 q^2`` bytes each (``q``: the later blocks'
columns), and one evaluation costs a Cholesky of ``q^3 / 3`` floating-point operations.  Both are
known from the reduced block sums (the pattern of ``Z_r' Z_1`` and ``Z_r' Z_r``), before the
pattern of ``C`` is built: only that first pass over the data has run.
"""
from __future__ import annotations

import os
import time

import numpy as np
import scipy.sparse as sp

from mixedcompat.errors import DataError
from mixedcompat.lme4.schur import DENSE_REST_MAX, SPARSE_MAX_ROW_NNZ, GramPattern

__all__ = ["DENSE_COPIES", "available_memory", "dense_rest_size", "cholesky_seconds", "check_dense_memory"]

DENSE_COPIES = 3
"""Dense ``q x q`` arrays alive at once while ``C`` is formed and factorised (the later blocks'
cross-products, ``C``, its factor)."""


def available_memory() -> int:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``; else the physical memory).

    Examples
    --------
    >>> available_memory() > 0
    True
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def dense_rest_size(A_r1: sp.spmatrix, Arr: sp.spmatrix, q1: int) -> tuple[int, bool]:
    """``(q, dense)``: the later blocks' columns and whether their Schur complement will be
    factorised dense (as :class:`~mixedcompat.lme4.schur.LaterBlocks` decides: few columns, a fill-in
    pattern over ``GramPattern.MAX_ENTRIES`` pairs, or more than ``SPARSE_MAX_ROW_NNZ`` entries per
    row -- counted here without merging coinciding entries, an upper bound).

    Examples
    --------
    >>> A_r1 = sp.csr_matrix(np.ones((300, 40)))            # 300 levels crossed with 40
    >>> dense_rest_size(A_r1, sp.identity(300, format="csr"), 1)
    (300, True)
    """
    q = int(Arr.shape[0])
    if q <= DENSE_REST_MAX:
        return q, True
    coo = sp.coo_matrix(A_r1)
    by_level = sp.csr_matrix((np.ones(coo.nnz), (coo.row, coo.col // max(q1, 1))),
                             shape=(q, A_r1.shape[1] // max(q1, 1)))
    by_level.sum_duplicates()
    k = np.diff(by_level.tocsc().indptr).astype(np.int64)       # later columns sharing each first level
    pairs = int(np.sum(k * (k + 1) // 2))
    if pairs * (q1 * (q1 + 1) // 2) > GramPattern.MAX_ENTRIES:
        return q, True
    off = pairs - int(np.sum(k)) + int(sp.tril(Arr, -1).nnz)
    return q, 2.0 * off / q > SPARSE_MAX_ROW_NNZ


def cholesky_seconds(q: int, probe: int = 400) -> float:
    """The time of a dense Cholesky of order ``q`` on this machine, extrapolated (``q^3``) from the
    fastest of three of order ``probe``.

    Examples
    --------
    >>> cholesky_seconds(10) < 1.0
    True
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((probe, probe))
    a = a @ a.T + probe * np.eye(probe)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        np.linalg.cholesky(a)
        best = min(best, time.perf_counter() - t0)
    return best * (q / probe) ** 3


def check_dense_memory(A_r1: sp.spmatrix | None, Arr: sp.spmatrix | None, q1: int, labels: list[str],
                       memory: int | None = None) -> None:
    """Refuse a design whose later blocks would be factorised dense in more memory than ``memory``
    bytes (default: :func:`available_memory`).

    Raises
    ------
    DataError
        Naming the terms, the block's order and bytes, the memory available and the expected time
        of one evaluation of the criterion.

    Examples
    --------
    >>> A_r1 = sp.csr_matrix(np.ones((300, 40)))
    >>> check_dense_memory(A_r1, sp.identity(300, format="csr"), 1, ["(1 | h)"], memory=10**6)
    Traceback (most recent call last):
    ...
    mixedcompat.errors.DataError: the random-effects term (1 | h) is crossed with the first grouping factor: ...
    """
    if Arr is None:
        return
    q, dense = dense_rest_size(A_r1, Arr, q1)
    if not dense:
        return
    need = DENSE_COPIES * 8 * q * q
    have = available_memory() if memory is None else int(memory)
    if need <= have:
        return
    secs = cholesky_seconds(q)
    plural = "s" if len(labels) > 1 else ""
    raise DataError(
        f"the random-effects term{plural} {', '.join(labels)} {'are' if plural else 'is'} crossed with the "
        f"first grouping factor: {'their' if plural else 'its'} {q:,} columns form a dense {q:,} x {q:,} block "
        f"whose factorisation needs {need / 2**30:.3g} GiB ({DENSE_COPIES} arrays of {8 * q * q / 2**30:.3g} GiB), "
        f"more than the {have / 2**30:.3g} GiB of memory available; each evaluation of the criterion would take "
        f"about {_duration(secs)} (a dense Cholesky of order {q:,} on this machine). Fit a model whose crossed "
        f"factors have fewer levels, or use a machine with more memory")


def _duration(secs: float) -> str:
    """``secs`` in words (``"3.2 s"``, ``"41 min"``, ``"2.5 h"``)."""
    if secs < 120:
        return f"{secs:.2g} s"
    if secs < 7200:
        return f"{secs / 60:.2g} min"
    return f"{secs / 3600:.2g} h"
