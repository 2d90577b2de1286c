"""How many threads the BLAS/LAPACK libraries may use while a model is fitted.

numpy's OpenBLAS starts one thread per core.  The blocked Cholesky factorisations here are of
moderate size, and on a busy machine those threads wait on one another: we measured an InstEval
fit 6x slower with two threads than with one on a 2-core machine under load.  lme4 runs on R's
single-threaded reference BLAS; by default we also use one thread for the duration of a fit
(``control={"blas_threads": k}`` to change it, ``None`` to leave the libraries alone).
"""
from __future__ import annotations

import contextlib
from functools import lru_cache
from typing import Iterator


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS threads to ``n`` inside the block (no limit when ``n`` is None).

    Examples
    --------
    >>> with blas_threads(1):
    ...     pass
    """
    if n is None:
        yield
        return
    with _controller().limit(limits=int(n), user_api="blas"):
        yield
