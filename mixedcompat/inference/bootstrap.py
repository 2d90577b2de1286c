"""Parametric bootstrap of lmer fits: lme4's ``bootMer``, boot's ``boot.ci``, bootstrap prediction intervals.

* :func:`bootMer` simulates responses from the fitted model (lme4's ``simulate``, ``use_u`` /
  ``re_form`` as lme4), refits the same model to each one from the fitted theta (lme4's ``refit``)
  and applies ``FUN`` to each refit.  The result is a :class:`BootResult`, R's ``boot`` object.
* :func:`boot_ci` gives boot's percentile (with ``norm.inter``'s interpolation), normal (bias
  corrected) and basic intervals.
* :func:`lrt_replicates` runs the likelihood-ratio replicates of pbkrtest's ``PBrefdist``
  (:mod:`mixedcompat.inference.pbmodcomp`).
* :func:`predict_interval` gives bootstrap confidence or prediction intervals of ``predict``.

Speed: a replicate only changes the response, so the model matrices, the random-effects structure and
every block of ``A = [Z X y]' W [Z X y]`` that does not involve ``y`` are built once; each refit
updates the ``y`` column of ``A`` and runs the optimiser from the fitted theta, and ``FUN`` gets a
fit that builds its heavier parts (random effects, fitted values, ``call["data"]``) only when asked
(:mod:`mixedcompat.inference.replicate_fit`).  ``FUN = fixef`` reads the refit's beta directly.

Random numbers: numpy's, not R's.  One independent stream per replicate
(``numpy.random.SeedSequence(seed).spawn(nsim)``), so a result depends on ``seed`` only, not on the
number of workers nor on where they run: ``parallel=`` a worker count, ``"threads"``, or a
``dask.distributed`` client (chunks of replicates on a cluster, :mod:`.dask_executor`).
"""
from __future__ import annotations

import collections
import multiprocessing
import os
import pickle
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import stats

from mixedcompat.errors import FormulaError
from mixedcompat.generics import fixef as _fixef_generic
from mixedcompat.glmer.fit import GlmerMod
from mixedcompat.glmer.refit import GlmerRefitter, GlmerSimulator, draw_response
from mixedcompat.lme4.fit import LmerMod, require_mermod
from mixedcompat.model import require_rows
from mixedcompat.lme4.prediction import (ResponseSimulator, check_nsim, is_none_form, predict, simulation_keep,
                                         type_name)
from mixedcompat.numerics.threads import blas_threads
from mixedcompat.progress import NoBar, progress_bar
from mixedcompat.inference.dask_executor import Outcome, client_threads, is_client, map_on_client, replay
from mixedcompat.inference.replicate_fit import Refitter
from mixedcompat.present.html import HtmlRepr, note_frame_lines

__all__ = ["BootResult", "bootMer", "boot_ci", "lrt_replicates", "check_parallel", "predict_interval"]


# ================================================================================================
# the result object


class BootResult(HtmlRepr):
    """A bootstrap result, as R's ``boot`` object returned by ``bootMer``.

    Attributes
    ----------
    t0 : pandas.Series
        ``FUN`` on the fitted model (names from ``FUN``'s Series / dict, else ``t1*``, ``t2*``...).
    t : numpy.ndarray
        ``nsim x k``: ``FUN`` on each refit; a failed replicate is a row of NaN.
    R : int
        Number of replicates (``nsim``).
    seed : int or numpy.random.SeedSequence
        What reproduces the run: ``bootMer(..., seed=b.seed)`` gives the same ``t``.
    sim : str
        ``"parametric"`` or ``"semiparametric"``.
    mle : dict
        ``beta``, ``theta``, ``sigma`` of the fitted model (as lme4's ``mle`` slot).
    nfail : int
        Number of failed replicates (lme4's ``attr(, "bootFail")``).
    fail_messages, messages : collections.Counter
        Error messages of failed replicates; warnings raised by the refits (``"Category: text"``),
        as lme4's ``boot.fail.msgs`` / ``boot.all.msgs``.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> b = mc.bootMer(m, mc.fixef, nsim=20, seed=1, progress=False)
    >>> b.t.shape
    (20, 2)
    """

    def __init__(self, t0: pd.Series, t: np.ndarray, seed: Any, sim: str, mle: dict, statistic: Callable,
                 fail_messages: collections.Counter, messages: collections.Counter, call: dict):
        self.t0 = t0
        self.t = t
        self.R = int(t.shape[0])
        self.seed = seed
        self.sim = sim
        self.mle = mle
        self.statistic = statistic
        self.fail_messages = fail_messages
        self.messages = messages
        self.nfail = int(sum(fail_messages.values()))
        self.call = call

    def __getstate__(self) -> dict:
        # FUN is kept when it pickles (a module-level function); a lambda or closure cannot be, and is
        # replaced by None so that the result itself still travels (joblib, multiprocessing)
        state = dict(self.__dict__)
        try:
            pickle.dumps(state["statistic"])
        except Exception:       # pickle raises PicklingError, AttributeError or TypeError here
            state["statistic"] = None
        return state

    @property
    def names(self) -> list[str]:
        return list(self.t0.index)

    def to_frame(self) -> pd.DataFrame:
        """``t`` as a DataFrame (columns = statistic names), as R's ``as.data.frame(b)``."""
        return pd.DataFrame(self.t, columns=self.names)

    def summary(self) -> pd.DataFrame:
        """R's ``print(b)`` table: ``original``, ``bias``, ``std. error`` per statistic (NaN rows dropped)."""
        mean = np.nanmean(self.t, axis=0) if self.R else np.full(len(self.t0), np.nan)
        sd = np.nanstd(self.t, axis=0, ddof=1) if self.R > 1 else np.full(len(self.t0), np.nan)
        return pd.DataFrame({"original": self.t0.to_numpy(), "bias": mean - self.t0.to_numpy(),
                             "std. error": sd}, index=self.names)

    def __str__(self) -> str:
        head = "PARAMETRIC BOOTSTRAP" if self.sim == "parametric" else "SEMIPARAMETRIC BOOTSTRAP"
        args = ", ".join(f"{k} = {v}" for k, v in self.call.items())
        stats = self.summary()
        table = stats.to_string()
        note_frame_lines(stats, table.split("\n"))     # the table of the notebook's HTML
        lines = [head, "", "", "Call:", f"bootMer({args})", "", "", "Bootstrap Statistics :", table]
        if self.nfail:
            lines.append(f"{self.nfail} of {self.R} bootstrap replicates failed")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


# ================================================================================================
# simulating responses


class _Simulator:
    """Draws responses from a fitted model exactly as ``prediction.simulate(m, 1, rng, ...)`` does
    (:class:`~mixedcompat.lme4.prediction.ResponseSimulator`; same draws from the same generator), or
    lme4's semiparametric bootstrap's (fitted values plus resampled residuals)."""

    def __init__(self, m, use_u: bool = False, re_form: Any = None, type: str = "parametric",  # noqa: A002
                 prior_weights: bool = False):
        self.type = type
        if type == "semiparametric":
            self.fitted = m.fitted()
            self.resid = m.residuals()
            return
        keep = simulation_keep(m, use_u and re_form is None, re_form, "bootMer")      # re_form overrides use_u
        self.draw = ResponseSimulator(m, keep, None, prior_weights=prior_weights)

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        if self.type == "semiparametric":
            return self.fitted + rng.choice(self.resid, size=len(self.resid), replace=True)
        return self.draw(rng)


def _replicate_tools(m, use_u: bool = False, re_form: Any = None, type: str = "parametric",  # noqa: A002
                     prior_weights: bool = False):
    """The refitter and the simulator of a fit: glmer fits simulate from their family and refit on
    lme4's glmer ``refit`` path (:mod:`mixedcompat.glmer.refit`); lmer fits use the fast paths here."""
    if isinstance(m, GlmerMod):
        if type != "parametric":
            raise ValueError("semiparametric bootstrapping is for linear mixed models (lme4 simulates a glmer "
                             "fit's response from its family)")
        return GlmerRefitter(m), GlmerSimulator(m, use_u=use_u, re_form=re_form, warn=False)
    return Refitter(m), _Simulator(m, use_u=use_u, re_form=re_form, type=type, prior_weights=prior_weights)


# ================================================================================================
# running replicates (serial, threads or processes)


def _as_vector(value: Any) -> tuple[np.ndarray, list[str] | None]:
    """FUN's value as a float vector and its names (None when unnamed)."""
    if isinstance(value, pd.Series):
        return value.to_numpy(dtype=float), [str(i) for i in value.index]
    if isinstance(value, dict):
        return np.asarray(list(value.values()), dtype=float).ravel(), [str(k) for k in value]
    if isinstance(value, pd.DataFrame):
        raise TypeError("bootMer: FUN must return numbers (a float, array, Series or dict), not a DataFrame")
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"bootMer: FUN must return numbers (a float, array, Series or dict), not "
                        f"{type(value).__name__}")
    return arr.astype(float).ravel(), None


class _Job:
    """Everything a worker needs: how to make a response and what to compute from it."""

    def __init__(self, simulate: _Simulator, compute: Callable[[np.ndarray], np.ndarray], k: int):
        self.simulate = simulate
        self.compute = compute
        self.k = k

    def run(self, seeds: list, first: int, threads_n: int | None,
            catch: bool = True) -> tuple[int, np.ndarray, list[str], list[str]]:
        out = np.full((len(seeds), self.k), np.nan)
        fails: list[str] = []
        caught: list = []
        ctx = warnings.catch_warnings(record=True) if catch else _nullcontext([])
        with ctx as rec, blas_threads(threads_n):
            if catch:
                warnings.simplefilter("always")
            for i, ss in enumerate(seeds):
                try:
                    y = self.simulate(np.random.default_rng(ss))
                    vals = np.asarray(self.compute(y), dtype=float)
                    if vals.shape != (self.k,):
                        raise ValueError(f"FUN returned {vals.size} value(s) on a replicate, {self.k} on the data")
                    out[i] = vals
                except Exception as exc:  # noqa: BLE001 - a failed replicate is a NaN row, as boot
                    fails.append(f"{type(exc).__name__}: {exc}")
            caught = [f"{w.category.__name__}: {w.message}" for w in (rec or [])]
        return first, out, fails, caught


class _nullcontext:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return False


_JOBS: dict[int, _Job] = {}


def _run_registered(token: int, seeds: list, first: int, threads_n: int | None):
    return _JOBS[token].run(seeds, first, threads_n)


def _init_worker(token: int, payload: bytes) -> None:
    _JOBS[token] = pickle.loads(payload)


def _workers(parallel: Any, ncpus: int | None) -> tuple[str, int]:
    """(backend, number of workers) from lme4-style ``parallel`` / ``ncpus``, or a Dask client
    (``("dask", its worker threads)``)."""
    if parallel is None or (isinstance(parallel, (bool, np.bool_)) and not parallel):
        return "serial", 1
    if is_client(parallel):
        return "dask", client_threads(parallel)
    if isinstance(parallel, str) and parallel in ("no", "none"):
        return "serial", 1
    if isinstance(parallel, (bool, np.bool_)):
        parallel = "multiprocessing"
    if isinstance(parallel, (int, np.integer)):
        if parallel < 1:
            raise ValueError(f"parallel must be a positive number of workers, not {parallel}")
        return ("serial", 1) if parallel == 1 else ("processes", int(parallel))
    if isinstance(parallel, str):
        n = int(ncpus) if ncpus is not None else (os.cpu_count() or 1)
        if n < 1:
            raise ValueError(f"ncpus must be >= 1, not {ncpus}")
        if parallel in ("multiprocessing", "multicore", "snow", "processes"):
            return ("processes", n) if n > 1 else ("serial", 1)
        if parallel in ("threads", "threading"):
            return ("threads", n) if n > 1 else ("serial", 1)
    raise ValueError(f"parallel must be None, a number of workers, 'multiprocessing' or 'threads' "
                     f"(with ncpus=), or a dask.distributed Client, not {_describe(parallel)}")


def _describe(value: Any) -> str:
    """A bad ``parallel`` value as an error message names it: its repr (shortened) and its type."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (of type {type(value).__name__})"


def _dask_chunk(job: _Job, seeds: list, first: int) -> tuple[int, np.ndarray, list[str], list[str]]:
    """One chunk of replicates on a Dask worker (BLAS threads set by the executor)."""
    return job.run(seeds, first, None)


def _seed_sequence(seed: Any) -> tuple[np.random.SeedSequence, Any]:
    if isinstance(seed, np.random.SeedSequence):
        return seed, seed
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(0, 2 ** 63))
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be None, an int or a numpy SeedSequence / Generator, not {seed!r}")
    ss = np.random.SeedSequence(None if seed is None else int(seed))
    return ss, int(ss.entropy)


def _run(job: _Job, nsim: int, ss: np.random.SeedSequence, parallel: Any, ncpus: int | None,
         progress: bool, threads_n: int | None, desc: str):
    """Run ``nsim`` replicates; returns (t, fail Counter, warning Counter)."""
    backend, n_workers = _workers(parallel, ncpus)
    children = ss.spawn(nsim)
    t = np.full((nsim, job.k), np.nan)
    fails: collections.Counter = collections.Counter()
    msgs: collections.Counter = collections.Counter()
    bar = progress_bar(nsim, progress, desc)
    shown = not isinstance(bar, NoBar)
    try:
        if backend == "serial":
            step = max(1, min(50, nsim // 100 or 1)) if shown else nsim
            for first in range(0, nsim, step):
                _f, rows, fl, wl = job.run(children[first:first + step], first, threads_n)
                t[first:first + len(rows)] = rows
                fails.update(fl)
                msgs.update(wl)
                bar.update(len(rows))
        else:
            n_chunks = min(nsim, n_workers * 8)
            bounds = np.linspace(0, nsim, n_chunks + 1).astype(int)
            chunks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
            if backend == "dask":
                def advance(out: Outcome) -> None:
                    if out.value is not None:
                        bar.update(len(out.value[1]))

                outcomes = map_on_client(parallel, _dask_chunk, job, [(children[a:b], a) for a, b in chunks],
                                         threads_n, advance)
                for first, rows, fl, wl in replay(outcomes):
                    t[first:first + len(rows)] = rows
                    fails.update(fl)
                    msgs.update(wl)
            elif backend == "threads":
                with warnings.catch_warnings(record=True) as rec:   # one catcher: the filters are global
                    warnings.simplefilter("always")
                    with ThreadPoolExecutor(max_workers=n_workers) as pool:
                        futures = [pool.submit(job.run, children[a:b], a, threads_n, False) for a, b in chunks]
                        for fut in futures:
                            first, rows, fl, _wl = fut.result()
                            t[first:first + len(rows)] = rows
                            fails.update(fl)
                            bar.update(len(rows))
                msgs.update(f"{w.category.__name__}: {w.message}" for w in rec)
            else:
                token = id(job)
                if "fork" in multiprocessing.get_all_start_methods():
                    _JOBS[token] = job
                    pool = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("fork"))
                else:
                    try:
                        payload = pickle.dumps(job)
                    except Exception as exc:  # noqa: BLE001
                        raise ValueError(f"parallel processes need a picklable FUN and model on this platform "
                                         f"({exc}); use parallel='threads' or a module-level function") from exc
                    pool = ProcessPoolExecutor(n_workers, initializer=_init_worker, initargs=(token, payload))
                try:
                    with pool:
                        futures = [pool.submit(_run_registered, token, children[a:b], a, threads_n)
                                   for a, b in chunks]
                        for fut in futures:
                            first, rows, fl, wl = fut.result()
                            t[first:first + len(rows)] = rows
                            fails.update(fl)
                            msgs.update(wl)
                            bar.update(len(rows))
                finally:
                    _JOBS.pop(token, None)
    finally:
        bar.close()
    return t, fails, msgs


# ================================================================================================
# bootMer


def bootMer(m, FUN: Callable, nsim: int = 1, seed: Any = None, use_u: bool = False,
            type: str = "parametric", parallel: Any = None, progress: bool = True,  # noqa: A002
            re_form: Any = None, ncpus: int | None = None, prior_weights: bool = False) -> BootResult:
    """Model-based (parametric) bootstrap of a statistic, as lme4's ``bootMer``.

    R equivalent: ``lme4::bootMer(m, FUN, nsim = 100, seed = 1, use.u = FALSE, type = "parametric")``.

    Each replicate simulates a response from the fitted model, refits the model to it from the fitted
    theta and evaluates ``FUN`` on the refit.

    Parameters
    ----------
    m : LmerMod
    FUN : callable
        ``FUN(fit) -> float, array, Series or dict`` of numbers; ``fit`` is an ``LmerMod``.
    nsim : int
        Number of replicates (>= 1).
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Seed of numpy's generator; replicate ``i`` draws from ``SeedSequence(seed).spawn(nsim)[i]``.
        R's random numbers are not reproduced (the law is the same).
    use_u : bool
        False (lme4's default): new random effects in each replicate; True: condition on the fitted ones.
    type : {"parametric", "semiparametric"}
        ``"semiparametric"`` (needs ``use_u=True``, as lme4): fitted values plus residuals resampled
        with replacement.
    parallel : None, int, "multiprocessing", "threads" or a dask.distributed Client
        None: one process; ``k``: ``k`` worker processes; a backend name uses ``ncpus`` workers
        (default: all cores); ``parallel=client``: chunks of replicates run on the Dask cluster
        behind ``client`` (the model and ``FUN`` are scattered once; :mod:`.dask_executor`).
        ``t``, ``nfail`` and the messages do not depend on it: each replicate draws from its own
        stream of ``seed``, whichever worker runs it.
    progress : bool
        A progress bar (tqdm) in a terminal or a Jupyter notebook (:mod:`mixedcompat.progress`); none when
        stderr is a file or a pipe.
    re_form : str, optional
        As lme4's ``re.form``: random-effects terms to condition on (``"NA"``/``"~0"``: none);
        overrides ``use_u`` when given.
    ncpus : int, optional
        Workers for a named ``parallel`` backend (lme4's ``ncpus``).
    prior_weights : bool
        lmer fits with prior weights: lme4 1.1-31 simulates their residuals with sd ``sigma`` for every
        row, ignoring the weights (see :func:`mixedcompat.lme4.prediction.simulate`), and so does the
        default here; True draws them with sd ``sigma / sqrt(w)``, the fitted model's distribution.

    Returns
    -------
    BootResult

    Raises
    ------
    ValueError
        ``nsim < 1``; an unknown ``type`` or ``parallel``; ``FUN`` does not return numbers.

    Notes
    -----
    A replicate whose refit or ``FUN`` raises gives a row of NaN, and one warning gives the count,
    as lme4 (``"some bootstrap runs failed (k/nsim)"``).  Warnings of the refits (singular fits,
    convergence) are not re-issued; they are counted in ``.messages``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> b = mc.bootMer(m, mc.fixef, nsim=20, seed=1, progress=False)
    >>> b.t.shape, list(b.t0.index)
    ((20, 2), ['(Intercept)', 'Days'])
    """
    nsim = check_nsim(nsim)
    if type not in ("parametric", "semiparametric"):
        raise ValueError(f"type must be 'parametric' or 'semiparametric', not {type!r}")
    if type == "semiparametric":
        if re_form is not None:
            raise ValueError("'re_form' cannot be used with semiparametric bootstrapping (as lme4)")
        if not use_u:
            raise ValueError("semiparametric bootstrapping with use_u=False is not implemented (as lme4)")
    require_mermod(m, "bootMer")
    require_rows(m, "bootMer")
    if not callable(FUN):
        raise TypeError(f"FUN must be callable, not {type_name(FUN)}")
    _workers(parallel, ncpus)                        # validate before any work
    values, names = _as_vector(FUN(m))
    k = len(values)
    if names is None or len(names) != k:
        names = [f"t{i}*" for i in range(1, k + 1)]
    t0 = pd.Series(values, index=names)
    ss, seed_out = _seed_sequence(seed)
    refitter, simulate = _replicate_tools(m, use_u=use_u, re_form=re_form, type=type, prior_weights=prior_weights)

    if _is_fixef(FUN):
        def compute(y: np.ndarray) -> np.ndarray:       # fixef(fit) without building its Series
            return np.array(refitter.fit(y).beta, dtype=float)
    else:
        def compute(y: np.ndarray) -> np.ndarray:
            return _as_vector(FUN(refitter.fit(y)))[0]

    job = _Job(simulate, compute, k)
    t, fails, msgs = _run(job, nsim, ss, parallel, ncpus, progress, m.control.get("blas_threads", 1), "bootMer")
    nfail = sum(fails.values())
    if nfail:
        warnings.warn(f"some bootstrap runs failed ({nfail}/{nsim})", UserWarning, stacklevel=2)
    mle = {"beta": np.asarray(m.beta).copy(), "theta": np.asarray(m.theta).copy(), "sigma": m.sigma()}
    call = {"x": "m", "FUN": getattr(FUN, "__name__", "FUN"), "nsim": nsim, "seed": seed_out}
    if use_u:
        call["use.u"] = "TRUE"
    return BootResult(t0, t, seed_out, type, mle, FUN, fails, msgs, call)


def _is_fixef(FUN: Callable) -> bool:
    """``FUN`` is lme4's ``fixef`` (the generic or the method), whose value on a refit is its beta."""
    return FUN is _fixef_generic or FUN is LmerMod.fixef


# ================================================================================================
# boot.ci


def _check_level(level: Any) -> np.ndarray:
    lv = np.atleast_1d(np.asarray(level, dtype=float))
    if lv.size == 0 or not np.all((lv > 0) & (lv < 1)):
        raise ValueError(f"level must be strictly between 0 and 1, not {level!r}")
    return lv


def _percent_label(a: float) -> str:
    """R's ``format.perc``: 3 significant digits and " %"."""
    return f"{100 * a:.3g} %"


def _interpolated_quantiles(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Order statistics of ``t`` at positions ``(R + 1) alpha``, interpolated on the normal
    quantile scale between neighbours when the position is fractional (boot's rule)."""
    t = np.sort(t[np.isfinite(t)])
    R = len(t)
    if R == 0:
        return np.full(len(alpha), np.nan)
    pos = (R + 1) * alpha
    if not np.all((pos > 1) & (pos < R)):
        warnings.warn("extreme order statistics used as endpoints", UserWarning, stacklevel=4)
    k = np.trunc(pos).astype(int)
    out = np.empty(len(alpha))
    for j, (a, r, kj) in enumerate(zip(alpha, pos, k)):
        if kj <= 0:
            out[j] = t[0]
        elif kj >= R:
            out[j] = t[R - 1]
        elif kj == r:
            out[j] = t[kj - 1]
        else:
            z, z_lo, z_hi = stats.norm.ppf([a, kj / (R + 1), (kj + 1) / (R + 1)])
            lo, hi = t[kj - 1], t[kj]
            out[j] = lo + (z - z_lo) / (z_hi - z_lo) * (hi - lo)
    return out


def _one_interval(t: np.ndarray, t0: float, kind: str, conf: float) -> tuple[float, float]:
    fin = t[np.isfinite(t)]
    if kind == "perc":
        lo, hi = _interpolated_quantiles(fin, np.array([(1 - conf) / 2, (1 + conf) / 2]))
        return lo, hi
    if kind == "basic":
        q_hi, q_lo = _interpolated_quantiles(fin, np.array([(1 + conf) / 2, (1 - conf) / 2]))
        return 2 * t0 - q_hi, 2 * t0 - q_lo
    # normal approximation with bias correction: t0 - bias -/+ z sd
    if len(fin) < 2:
        return np.nan, np.nan
    bias = float(np.mean(fin)) - t0
    merr = float(np.std(fin, ddof=1)) * stats.norm.ppf((1 + conf) / 2)
    return t0 - bias - merr, t0 - bias + merr


def boot_ci(b: BootResult, type: str = "perc", level: float = 0.95, index: Any = None) -> pd.DataFrame:  # noqa: A002
    """Bootstrap confidence intervals, as boot's ``boot.ci`` (``conf = level``).

    R equivalent: ``boot::boot.ci(b, conf = 0.95, type = "perc")``.

    Parameters
    ----------
    b : BootResult
    type : {"perc", "norm", "basic"}
        ``"perc"``: the ``(1 -/+ level)/2`` order statistics of ``t`` (interpolated on the normal
        quantile scale as boot's ``norm.inter``); ``"norm"``: ``t0 - bias -/+ z sd(t)`` with
        ``bias = mean(t) - t0``; ``"basic"``: ``2 t0`` minus the upper / lower order statistics.
    level : float or sequence of floats
        Confidence level(s), strictly between 0 and 1.
    index : int, str or list, optional
        Statistics (positions or names); all by default.  Non-finite replicates are dropped per
        statistic, as boot.

    Returns
    -------
    pandas.DataFrame
        Rows = statistics; columns ``"2.5 %"``, ``"97.5 %"`` (for each level, lower then upper).

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> ci = mc.boot_ci(mc.bootMer(m, mc.fixef, nsim=20, seed=1, progress=False), type="perc")
    >>> ci.columns.tolist(), ci.index.tolist()
    (['2.5 %', '97.5 %'], ['(Intercept)', 'Days'])
    """
    if not isinstance(b, BootResult):
        raise TypeError(f"boot_ci needs a BootResult (from bootMer), not {type_name(b)}")
    kind = {"percent": "perc", "normal": "norm"}.get(type, type)
    if kind not in ("perc", "norm", "basic"):
        raise ValueError(f"type must be 'perc', 'norm' or 'basic', not {type!r} "
                         f"('bca' and 'stud' need quantities a parametric bootMer does not provide)")
    levels = _check_level(level)
    names = b.names
    if index is None:
        idx = list(range(len(names)))
    else:
        items = index if isinstance(index, (list, tuple, np.ndarray, pd.Index)) else [index]
        idx = []
        for it in items:
            if isinstance(it, str):
                if it not in names:
                    raise KeyError(f"boot_ci: no statistic named {it!r} (statistics: {', '.join(names)})")
                idx.append(names.index(it))
            else:
                i = int(it)
                if not 0 <= i < len(names):
                    raise IndexError(f"boot_ci: index {i} out of range for {len(names)} statistic(s)")
                idx.append(i)
    columns = []
    for conf in levels:
        columns += [_percent_label((1 - conf) / 2), _percent_label((1 + conf) / 2)]
    rows = []
    for i in idx:
        row = []
        for conf in levels:
            row += list(_one_interval(b.t[:, i], float(b.t0.iloc[i]), kind, float(conf)))
        rows.append(row)
    return pd.DataFrame(rows, index=[names[i] for i in idx], columns=columns)


# ================================================================================================
# likelihood-ratio replicates (pbkrtest's reference distribution, mixedcompat.inference.pbmodcomp)


def lrt_replicates(large_ml, small_ml, nsim: int, seed: Any = None, parallel: Any = None,
                   ncpus: int | None = None, progress: bool = True,
                   desc: str = "PBrefdist") -> tuple[np.ndarray, collections.Counter, Any]:
    """``nsim`` parametric-bootstrap likelihood-ratio statistics of two nested ML fits.

    Each replicate simulates a response from ``small_ml`` (as lme4's ``simulate``), refits both models
    to it from their fitted theta and records ``2 (logLik(large) - logLik(small))``; replicate ``i``
    draws from ``SeedSequence(seed).spawn(nsim)[i]`` whichever worker runs it, so the values depend on
    ``seed`` only (not on ``parallel``), and the first ``k`` of ``nsim`` replicates are those of a run
    with ``nsim = k``.  A replicate whose refit fails is NaN.

    Parameters
    ----------
    large_ml, small_ml : LmerMod or GlmerMod
        Maximum-likelihood fits to the same response (glmer fits refit on lme4's glmer path).
    nsim : int
    seed, parallel, ncpus, progress
        As :func:`bootMer`.
    desc : str
        The progress bar's label.

    Returns
    -------
    (numpy.ndarray, collections.Counter, seed)
        The statistics, the failed replicates' messages, and what reproduces the run.

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    >>> m0 = mc.lmer("Reaction ~ 1 + (Days | Subject)", d, REML=False)
    >>> ref, fails, _ = lrt_replicates(m1, m0, 4, seed=1, progress=False)
    >>> ref.shape, sum(fails.values())
    ((4,), 0)
    """
    ss, seed_out = _seed_sequence(seed)
    refit_large, _ = _replicate_tools(large_ml)
    refit_small, simulate = _replicate_tools(small_ml)

    def compute(y: np.ndarray) -> np.ndarray:
        return np.array([refit_small.criterion(y) - refit_large.criterion(y)])

    t, fails, _msgs = _run(_Job(simulate, compute, 1), nsim, ss, parallel, ncpus, progress,
                           large_ml.control.get("blas_threads", 1), desc)
    return t[:, 0], fails, seed_out


def check_parallel(parallel: Any, ncpus: int | None = None) -> tuple[str, int]:
    """``(backend, number of workers)`` of a ``parallel`` / ``ncpus`` pair as :func:`bootMer` reads
    them; raises ``ValueError`` on a value it does not know.

    Examples
    --------
    >>> check_parallel(None), check_parallel(3)
    (('serial', 1), ('processes', 3))
    """
    return _workers(parallel, ncpus)


# ================================================================================================
# prediction intervals


def predict_interval(m, newdata: pd.DataFrame | None = None, interval: str = "confidence", nsim: int = 500,
                     seed: Any = None, level: float = 0.95, re_form: Any = None,
                     allow_new_levels: bool = False, use_u: bool | None = None, parallel: Any = None,
                     progress: bool = True, type: str | None = None) -> pd.DataFrame:  # noqa: A002
    """Bootstrap intervals for predictions (lme4's ``bootMer(m, function(x) predict(x, newdata))`` recipe).

    ``"confidence"``: percentile interval of ``predict(refit, newdata, re_form)`` over the replicates.
    ``"prediction"``: the same predictions plus a new residual ``N(0, sigma_refit^2)`` per replicate
    and row (weights are taken as 1 on newdata, as ``simulate``).

    glmer fits: predictions on the ``type`` scale (``"link"`` or ``"response"``, as
    :meth:`GlmerMod.predict`); ``"prediction"`` intervals (``type="response"`` only) draw a new response
    per replicate and row from the family at the replicate's mean (one trial for binomial, prior
    weights 1 on newdata, as ``simulate``).

    Parameters
    ----------
    m : LmerMod
    newdata : pandas.DataFrame, optional
        Rows to predict (default: the rows used in the fit).
    interval : {"confidence", "prediction"}
    nsim, seed, parallel, progress
        As :func:`bootMer`; the residual draws of ``"prediction"`` come from their own stream of ``seed``.
    use_u : bool, optional
        Default: True when the predictions include random effects (``re_form`` None or a formula):
        a replicate with newly drawn random effects says nothing about *this* subject's effect;
        False for population-level predictions (``re_form="NA"``), lme4's documented recipe.
    level : float
        Strictly between 0 and 1.
    re_form, allow_new_levels
        As :func:`mixedcompat.predict`.

    Returns
    -------
    pandas.DataFrame
        Columns ``fit`` (``predict(m, newdata)``), ``lwr``, ``upr``; index = newdata's index.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> nd = mc.datasets.load("sleepstudy").iloc[:2]
    >>> predict_interval(m, nd, interval="prediction", nsim=20, seed=1).columns.tolist()
    ['fit', 'lwr', 'upr']
    """
    if use_u is None:
        use_u = not is_none_form(re_form)
    if interval not in ("confidence", "prediction"):
        raise ValueError(f"interval must be 'confidence' or 'prediction', not {interval!r}")
    conf = float(_check_level(level)[0]) if np.ndim(level) == 0 else None
    if conf is None:
        raise ValueError(f"level must be a single number strictly between 0 and 1, not {level!r}")
    glmm = isinstance(m, GlmerMod)
    if glmm:
        type = "link" if type is None else type
        if interval == "prediction" and type != "response":
            raise ValueError("prediction intervals of a glmer fit are on the response scale: give type='response'")
    elif type is not None:
        raise ValueError("type= is for glmer fits (the scale of their predictions)")

    def pred(x) -> np.ndarray:
        if glmm:
            return np.asarray(x.predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels, type=type))
        return predict(x, newdata, re_form=re_form, allow_new_levels=allow_new_levels)

    fit = pred(m)
    ss, _seed_out = _seed_sequence(seed)
    boot_ss, noise_ss = ss.spawn(2)
    with_sigma = interval == "prediction"

    def fun(x):
        p = pred(x)
        return np.append(p, x.sigma()) if with_sigma else p

    b = bootMer(m, fun, nsim=nsim, seed=boot_ss, use_u=use_u, parallel=parallel, progress=progress)
    draws = b.t[:, :len(fit)]
    if with_sigma and glmm:
        rng = np.random.default_rng(noise_ss)
        ones = np.ones(draws.shape[1])
        draws = np.array([draw_response(m.family, row, ones, s, rng) if np.all(np.isfinite(row)) else row
                          for row, s in zip(draws, b.t[:, len(fit)])])
    elif with_sigma:
        rng = np.random.default_rng(noise_ss)
        draws = draws + b.t[:, [len(fit)]] * rng.standard_normal(draws.shape)
    alpha = np.array([(1 - conf) / 2, (1 + conf) / 2])
    bounds = np.array([_interpolated_quantiles(draws[:, j], alpha) for j in range(draws.shape[1])])
    index = newdata.index if newdata is not None else m.frame.data.index
    return pd.DataFrame({"fit": fit, "lwr": bounds[:, 0], "upr": bounds[:, 1]}, index=index)
