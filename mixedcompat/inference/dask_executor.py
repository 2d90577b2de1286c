"""Running independent replicate tasks on a Dask cluster (``parallel=client``).

One home for "run these tasks on a ``distributed.Client``", used by ``bootMer`` / ``PBmodcomp``
(chunks of bootstrap replicates), ``profile`` (one task per profiled parameter) and
``cross_validate`` (one task per fold):

* the shared state (the model, ``FUN``...) is scattered to the cluster once, each task ships only its
  own arguments (a chunk of per-replicate seeds, a parameter index, a fold number);
* results come back in task order whatever order the tasks complete in, so a result never depends on
  the cluster (the per-replicate random streams are spawned by the caller, as in its serial path);
* an exception raised by a task and the warnings it issued travel back as values
  (:class:`Outcome`): :func:`replay` re-issues the warnings and raises the first exception in task
  order, which is what the serial loop would have done;
* Python's warning filters and the BLAS thread limit are process-wide, so the tasks of one worker
  *process* run one at a time (a lock); tasks in different worker processes run in parallel.  Give a
  cluster for replicates worker processes (``LocalCluster(processes=True)``, ``nthreads=1``).

``distributed`` is an optional dependency (the ``dask`` extra): it is imported only when a client is
used, and a client is recognised by its methods (duck typing), so mixedcompat imports without dask.

Examples
--------
>>> from distributed import Client, LocalCluster                  # doctest: +SKIP
>>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
>>> b = mc.bootMer(m, mc.fixef, nsim=200, seed=1, parallel=client)  # doctest: +SKIP
"""
from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from mixedcompat.numerics.threads import blas_threads

__all__ = ["is_client", "client_threads", "Outcome", "map_on_client", "replay"]

_CLIENT_METHODS = ("submit", "scatter", "gather", "cancel")

# one task at a time per worker process: warning filters and BLAS limits are process-global state
_PROCESS_LOCK = threading.Lock()


def is_client(obj: Any) -> bool:
    """``obj`` looks like a ``distributed.Client`` (has ``submit``, ``scatter``, ``gather``, ``cancel``).

    Examples
    --------
    >>> is_client(None), is_client(4), is_client("threads")
    (False, False, False)
    """
    if obj is None or isinstance(obj, (str, bytes, int, float)):
        return False
    return all(callable(getattr(obj, name, None)) for name in _CLIENT_METHODS)


def client_threads(client: Any) -> int:
    """Total worker threads of the cluster behind ``client`` (1 when it cannot be told).

    Examples
    --------
    >>> client_threads(object())
    1
    """
    try:
        return max(1, int(sum(client.nthreads().values())))
    except Exception:  # noqa: BLE001 - a client-like object without nthreads(): chunk as for one worker
        return 1


@dataclass
class Outcome:
    """What one task gave: its value, or the exception it raised, and the warnings it issued."""

    value: Any = None
    error: BaseException | None = None
    warnings: list[tuple[type, str]] = field(default_factory=list)


def _run_task(fn: Callable, shared: Any, args: tuple, threads_n: int | None) -> Outcome:
    """On a worker: ``fn(shared, *args)``, its exception and warnings kept as values."""
    with _PROCESS_LOCK:
        out = Outcome()
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")           # the caller's filters decide when replayed
            try:
                with blas_threads(threads_n):
                    out.value = fn(shared, *args)
            except Exception as exc:  # noqa: BLE001 - re-raised by replay() in the caller, in task order
                out.error = exc
        out.warnings = [(w.category, str(w.message)) for w in rec]
        return out


def map_on_client(client: Any, fn: Callable, shared: Any, tasks: Sequence[tuple],
                  threads_n: int | None = None, on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run ``fn(shared, *task)`` for each task on ``client``'s workers; outcomes in task order.

    Parameters
    ----------
    client : distributed.Client
    fn : callable
        A module-level function (it travels by reference); ``shared`` is scattered once.
    shared : object
        What every task needs (the model, the statistic...); cloudpickled when workers are processes.
    tasks : sequence of tuples
        The per-task arguments.
    threads_n : int, optional
        BLAS threads on the worker while a task runs (None: leave the libraries alone).
    on_done : callable, optional
        Called with each :class:`Outcome` as its task completes (a progress bar).

    Returns
    -------
    list of Outcome
        In the order of ``tasks``.

    Examples
    --------
    >>> outs = map_on_client(client, pow_shared, 2, [(3,), (4,)])     # doctest: +SKIP
    >>> [o.value for o in outs]                                        # doctest: +SKIP
    [8, 16]
    """
    from distributed import as_completed       # optional dependency: only when a client is given

    if not tasks:
        return []
    shared_future = client.scatter(shared, hash=False)
    futures = [client.submit(_run_task, fn, shared_future, tuple(task), threads_n, pure=False) for task in tasks]
    position = {f.key: i for i, f in enumerate(futures)}
    outcomes: list[Outcome | None] = [None] * len(tasks)
    try:
        for fut in as_completed(futures, loop=client.loop):   # a client that is not the default one too
            out = fut.result()
            outcomes[position[fut.key]] = out
            if on_done is not None:
                on_done(out)
    finally:
        client.cancel(futures + [shared_future])
    return outcomes  # type: ignore[return-value]


def replay(outcomes: Sequence[Outcome], stacklevel: int = 3) -> list[Any]:
    """Re-issue each task's warnings and raise its exception, in task order (as the serial loop);
    returns the values.

    Examples
    --------
    >>> replay([Outcome(value=1), Outcome(value=2)])
    [1, 2]
    """
    values = []
    for out in outcomes:
        for category, message in out.warnings:
            warnings.warn(message, category, stacklevel=stacklevel)
        if out.error is not None:
            raise out.error
        values.append(out.value)
    return values
