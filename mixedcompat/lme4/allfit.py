"""lme4's ``allFit``: refit a model with every optimiser available and compare the fits.

lme4 1.1-31's ``allFit(m)`` refits ``m`` once per row of its table of optimisers (``meth.tab``:
bobyqa, Nelder_Mead, nlminbwrap, nmkbw, optimx with L-BFGS-B, nloptwrap with NLopt's Nelder-Mead
and with NLopt's BOBYQA), each with the model's own control, that optimiser and the budget
``maxfun`` (under the optimiser's own name: ``maxfun``, ``maxeval``, ``maxit``...).
``summary(allFit)`` collects, one row per optimiser that did not fail, the fixed effects, the
log-likelihoods, the standard deviations and correlations, theta, the timings and the evaluations.

Which optimisers run here: all of lme4's: **bobyqa** (minqa's), **Nelder_Mead** (lme4's),
**nlminbwrap** (R's ``nlminb``, :mod:`mixedcompat.numerics.port_nlminb`; ``feval`` NA as in lme4),
**nmkbw** (dfoptim's
``nmkb`` through lme4's wrapper, :func:`mixedcompat.numerics.nmkb.nmkbw`, with ``maxfeval = maxfun``;
its one-theta path, optim's Brent, counts no evaluations: ``feval`` NA), **optimx.L-BFGS-B**
(:func:`mixedcompat.lme4.optimize.optim_lbfgsb`), **nloptwrap.NLOPT_LN_NELDERMEAD** and
**nloptwrap.NLOPT_LN_BOBYQA**.  An optimiser listed in
:data:`~mixedcompat.lme4.optimize.UNAVAILABLE_OPTIMIZERS` (none today) would be dropped from the
default table with a
warning naming it, as lme4's ``allFit`` drops optimx and nmkbw (with a message) when their
packages are missing; a ``meth_tab`` that asks for it explicitly would get it as a failed fit
(lme4's ``catch.errs``), with the reason as the error.

lme4 1.1-31's own ``allFit`` fails (``logical subscript too long``) when neither optimx nor dfoptim
is installed: it indexes its reduced table with the full table's rows.  This is not reproduced.

For a glmer fit each optimiser runs both stages (lme4's ``glmerControl(optimizer = name)``).
"""
from __future__ import annotations

import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.generics import getME
from mixedcompat.lme4.optimize import OPT_CTRL_NAMES, UNAVAILABLE_OPTIMIZERS
from mixedcompat.progress import progress_bar
from mixedcompat.present.data_frame_printing import print_data_frame_lines, r_list_tag
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.lme4_printing import deparse_formula
from mixedcompat.present.rformat import (cat_number, format_real, print_matrix, print_named_vector, signif,
                                         strwrap)

__all__ = ["allFit", "AllFit", "AllFitSummary", "METH_TAB", "MAXFUN_ARG"]

METH_TAB = (("bobyqa", ""), ("Nelder_Mead", ""), ("nlminbwrap", ""), ("nmkbw", ""), ("optimx", "L-BFGS-B"),
            ("nloptwrap", "NLOPT_LN_NELDERMEAD"), ("nloptwrap", "NLOPT_LN_BOBYQA"))
"""lme4 1.1-31's ``meth.tab.0``: (optimizer, method) pairs in its order."""
MAXFUN_ARG = {"bobyqa": "maxfun", "Nelder_Mead": "maxfun", "nlminbwrap": "eval.max", "optimx": "maxit",
              "nloptwrap": "maxeval", "nmkbw": "maxfeval"}
"""The name each optimiser gives its evaluation budget (lme4's ``maxfun_arg``)."""
TIME_COLUMNS = ("user.self", "sys.self", "elapsed", "user.child", "sys.child")
PARALLEL = ("no", "multicore", "snow")


def _fit_name(optimizer: str, method: str) -> str:
    """lme4's name of a row: ``optimizer.method`` without a trailing dot."""
    return f"{optimizer}.{method}" if method else optimizer


def _meth_tab(meth_tab: Any) -> list[tuple[str, str]]:
    if meth_tab is None:
        return list(METH_TAB)
    if isinstance(meth_tab, pd.DataFrame):
        if not {"optimizer", "method"} <= set(meth_tab.columns):
            raise DataError("meth_tab needs columns 'optimizer' and 'method'")
        rows = list(zip(meth_tab["optimizer"], meth_tab["method"]))
    else:
        rows = [tuple(r) for r in meth_tab]
    if not rows or any(len(r) != 2 or not all(isinstance(v, str) for v in r) for r in rows):
        raise DataError("meth_tab must be (optimizer, method) pairs of strings, e.g. [('bobyqa', ''), "
                        "('nloptwrap', 'NLOPT_LN_BOBYQA')]")
    return [(str(o), str(mth)) for o, mth in rows]


def _is_glmm(m: Any) -> bool:
    return hasattr(m, "nAGQ") or hasattr(m, "family")


def _refit_control(m: Any, optimizer: str, method: str, maxfun: float) -> tuple[dict, dict]:
    """The control of one refit (lme4's ``mkOptCtrl`` and ``sanitize``): the model's own control with
    this optimizer, its ``optCtrl`` with the budget and the method / algorithm, reduced to the
    optimizer's settings.  Returns ``(control, optCtrl)``."""
    call = getattr(m, "call", None) or {}
    base = call.get("control") if call.get("control") is not None else getattr(m, "control", None)
    ctrl = {str(k).replace(".", "_") if k != "optCtrl" else k: v for k, v in dict(base or {}).items()}
    cc = dict(ctrl.get("optCtrl") or {})
    cc[MAXFUN_ARG.get(optimizer, "maxfun")] = int(maxfun)
    if optimizer == "optimx":
        cc["method"] = method
    elif optimizer == "nloptwrap":
        cc["algorithm"] = method
    ok = OPT_CTRL_NAMES.get(optimizer)
    if optimizer == "nmkbw":
        ok = ok + ("maxfun",)        # lme4's opt.ctrls keeps a maxfun for nmkbw, which nmkb then refuses
    if ok is not None:
        cc = {k: v for k, v in cc.items() if k in ok}
    ctrl["optimizer"] = optimizer
    ctrl["optCtrl"] = cc
    return ctrl, cc


def _times() -> np.ndarray:
    t = os.times()
    return np.array([t.user, t.system, t.elapsed, t.children_user, t.children_system])


@dataclass
class _Result:
    fit: Any                 # the fit, or the exception it raised
    opt_ctrl: dict
    time: np.ndarray


class AllFit(HtmlRepr, dict):
    """lme4's ``allFit`` object: a dict fit name -> refit (or the exception that refit raised), in
    the table's order, with the original fit (``fit``), each refit's ``optCtrl`` and timing
    (``opt_ctrl``, ``times``: R's ``system.time`` columns).  ``str()`` prints as lme4's
    ``print.allFit``; :meth:`summary` is lme4's ``summary.allFit``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> a = mc.allFit(m, progress=False)
    >>> list(a)[:2], bool(a.summary().which_OK.all())
    (['bobyqa', 'Nelder_Mead'], True)
    """

    def __init__(self, results: dict[str, _Result], fit: Any, dropped: tuple[str, ...] = ()):
        super().__init__((k, r.fit) for k, r in results.items())
        self.fit = fit
        self.opt_ctrl = {k: r.opt_ctrl for k, r in results.items()}
        self.times = {k: r.time for k, r in results.items()}
        self.dropped = dropped

    def failed(self) -> list[str]:
        """The names of the refits that raised an error."""
        return [k for k, v in self.items() if isinstance(v, BaseException)]

    def summary(self) -> "AllFitSummary":
        """lme4's ``summary(allFit)`` (:class:`AllFitSummary`)."""
        return summarize_allfit(self)

    def __str__(self) -> str:
        return format_allfit(self)

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class AllFitSummary(HtmlRepr):
    """lme4's ``summary.allFit``: ``which_OK`` (bool Series, every refit), and over the refits that
    did not fail: ``msgs`` (dict name -> lme4's convergence messages, None when there are none),
    ``fixef`` (DataFrame, one row per optimizer), ``llik`` (Series), ``sdcor`` (DataFrame:
    ``as.data.frame(VarCorr(fit))$sdcor``, standard deviations then correlations then sigma,
    under lme4's column names: theta's names ``tnames`` and ``sigma`` when the model has a scale --
    lme4 1.1-31 labels them in theta's order, so with a correlation the labels do not match the
    values: R's ``Subject.Days.(Intercept)`` column holds sd(Days); kept as R has it),
    ``theta`` (DataFrame, columns ``tnames``),
    ``times`` (DataFrame, R's ``system.time`` columns: our timings), ``feval`` (Series).
    ``str()`` prints it as R prints the list.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> s = mc.allFit(m, progress=False).summary()
    >>> s.fixef.shape, list(s.sdcor.columns)[-1]
    ((7, 2), 'sigma')
    """

    which_OK: pd.Series
    msgs: dict
    fixef: pd.DataFrame
    llik: pd.Series
    sdcor: pd.DataFrame
    theta: pd.DataFrame
    times: pd.DataFrame
    feval: pd.Series

    def __str__(self) -> str:
        return format_allfit_summary(self)

    def __repr__(self) -> str:
        return str(self)


def allFit(m: Any, meth_tab: Any = None, data: Any = None, verbose: bool = False, show_meth_tab: bool = False,
           maxfun: float = 1e5, parallel: str = "no", ncpus: int = 1, catch_errs: bool = True,
           progress: bool = True) -> AllFit | pd.DataFrame:
    """Refit ``m`` with every optimiser available, as lme4's ``allFit``.

    R equivalent: ``lme4::allFit(m)``, ``summary(allFit(m))``.

    Runs here: bobyqa (minqa's), Nelder_Mead (lme4's), nlminbwrap (R's nlminb), nmkbw (dfoptim's
    nmkb), optimx.L-BFGS-B, nloptwrap.NLOPT_LN_NELDERMEAD, nloptwrap.NLOPT_LN_BOBYQA: all of lme4's
    table.  An optimiser in ``UNAVAILABLE_OPTIMIZERS`` (none today) would be dropped from the default
    table with a warning; named in ``meth_tab`` it would be a failed refit.

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit; its data must be stored with it (as ``update`` needs).
    meth_tab : DataFrame or sequence of (optimizer, method), optional
        The optimisers (lme4's ``meth.tab``; default :data:`METH_TAB` less the unavailable ones).
    data : DataFrame, optional
        Kept as lme4 keeps it (the refits use the model's data).
    verbose : bool
        Print ``"<name> : [OK]"`` (or ``[failed]``) for each refit, as lme4 (whose default is True).
    show_meth_tab : bool
        Return the table (a DataFrame with columns ``optimizer``, ``method``) instead of fitting.
    maxfun : float
        Each optimiser's evaluation budget, under its own name (:data:`MAXFUN_ARG`).
    parallel : {"no", "multicore", "snow"}
        With ``ncpus > 1``, anything but "no" runs the refits on ``ncpus`` threads (same results).
    ncpus : int
    catch_errs : bool
        Keep a refit's error as its result (True, lme4's default) or raise it.
    progress : bool
        A progress bar (tqdm) in a terminal or a Jupyter notebook (:mod:`mixedcompat.progress`).

    Returns
    -------
    AllFit or DataFrame

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> list(mc.allFit(m, show_meth_tab=True)["optimizer"])
    ['bobyqa', 'Nelder_Mead', 'nlminbwrap', 'nmkbw', 'optimx', 'nloptwrap', 'nloptwrap']
    """
    if getattr(m, "update", None) is None or not hasattr(m, "optinfo"):
        raise TypeError(f"allFit() takes an lmer or glmer fit, not {type(m).__name__}")
    if parallel not in PARALLEL:
        raise DataError(f"parallel must be one of {', '.join(map(repr, PARALLEL))}, not {parallel!r}")
    rows = _meth_tab(meth_tab)
    dropped: tuple[str, ...] = ()
    if meth_tab is None:
        dropped = tuple(o for o, _ in rows if o in UNAVAILABLE_OPTIMIZERS)
        rows = [(o, mth) for o, mth in rows if o not in UNAVAILABLE_OPTIMIZERS]
        if dropped and not show_meth_tab:
            warnings.warn("allFit: " + "; ".join(f"{o!r} dropped ({UNAVAILABLE_OPTIMIZERS[o]})" for o in dropped),
                          UserWarning, stacklevel=2)
    if show_meth_tab:
        return pd.DataFrame(rows, columns=["optimizer", "method"])
    names = [_fit_name(o, mth) for o, mth in rows]

    def one(i: int) -> _Result:
        optimizer, method = rows[i]
        ctrl, cc = _refit_control(m, optimizer, method, maxfun)
        t0 = _times()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = m.update(control=ctrl)
        except Exception as exc:      # noqa: BLE001 -- lme4's catch.errs keeps any error as the result
            if not catch_errs:
                raise
            fit = exc
        t = _times() - t0
        if verbose:
            print(f"{names[i]} : {'[failed]' if isinstance(fit, BaseException) else '[OK]'}")
        return _Result(fit, cc, np.round(t, 3))

    bar = progress_bar(len(rows), progress, "allFit", leave=False)
    results: dict[str, _Result] = {}
    if parallel != "no" and ncpus > 1:
        with ThreadPoolExecutor(max_workers=int(ncpus)) as pool:
            for i, r in enumerate(pool.map(one, range(len(rows)))):
                results[names[i]] = r
                bar.update(1)
    else:
        for i in range(len(rows)):
            results[names[i]] = one(i)
            bar.update(1)
    bar.close()
    return AllFit(results, m, dropped)


# ------------------------------------------------------------------------------------------ summary
def _tnames(fit: Any) -> list[str]:
    """lme4's ``tnames(fit)``: theta's names (``<group>.<term>`` on a diagonal,
    ``<group>.<row term>.<column term>`` below it), in theta's order."""
    return [str(k) for k in getME(fit, "theta").index]


def _sdcor_values(fit: Any) -> np.ndarray:
    return np.asarray(fit.VarCorr().to_frame()["sdcor"], dtype=float)


def _lme4_messages(fit: Any) -> list[str] | None:
    info = fit.optinfo
    conv = info.get("conv") or {}
    lme4 = conv.get("lme4")
    msgs = (lme4 or {}).get("messages") if isinstance(lme4, dict) else None
    if msgs is None:
        msgs = info.get("messages")
    return list(msgs) if msgs else None


def summarize_allfit(a: AllFit) -> AllFitSummary:
    """lme4's ``summary.allFit`` of an :class:`AllFit`.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> s = summarize_allfit(mc.allFit(m, progress=False))
    >>> round(float(s.llik.max() - s.llik.min()), 6)
    0.0
    """
    which = pd.Series({k: not isinstance(v, BaseException) for k, v in a.items()}, dtype=bool)
    ok = {k: v for k, v in a.items() if which[k]}
    if not ok:
        raise DataError("allFit: every refit failed: " + "; ".join(f"{k}: {v}" for k, v in a.items()))
    names = list(ok)
    first = ok[names[0]]
    fixef = pd.DataFrame([np.asarray(f.fixef(), dtype=float) for f in ok.values()], index=names,
                         columns=[str(c) for c in first.fixef().index])
    llik = pd.Series([float(f.logLik()) for f in ok.values()], index=names)
    theta_names = _tnames(first)
    cols = theta_names + (["sigma"] if first.sigma() != 1 else [])
    # lme4 labels as.data.frame(VarCorr)'s sdcor (standard deviations first, then correlations) with
    # tnames (theta's order): with a correlation the labels and values do not correspond (R's
    # "Subject.Days.(Intercept)" column holds sd(Days)); kept, as R prints it
    sdcor = pd.DataFrame([_sdcor_values(f)[: len(cols)] for f in ok.values()], index=names, columns=cols)
    theta = pd.DataFrame([np.asarray(f.theta, dtype=float) for f in ok.values()], index=names,
                         columns=theta_names)
    times = pd.DataFrame([a.times[k] for k in names], index=names, columns=list(TIME_COLUMNS))
    feval = pd.Series([np.nan if f.optinfo.get("feval") is None else float(f.optinfo["feval"])   # None: R's NA
                       for f in ok.values()], index=names)
    msgs = {k: _lme4_messages(f) for k, f in ok.items()}
    return AllFitSummary(which, msgs, fixef, llik, sdcor, theta, times, feval)


# ------------------------------------------------------------------------------------------ printing
def _named_vector_lines(values: list[str], names: list[str]) -> list[str]:
    return print_named_vector(values, names, gap=1)


def _character_vector_lines(values: list[str]) -> list[str]:
    """``print`` of a character vector (quoted; one element per line when they do not fit together)."""
    quoted = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
    one_line = "[1] " + " ".join(quoted)
    if len(one_line) <= 80:
        return [one_line]
    w = len(f"[{len(values)}]")
    return [f"[{i + 1}]".rjust(w) + " " + q for i, q in enumerate(quoted)]


def _matrix_lines(df: pd.DataFrame) -> list[str]:
    arr = df.to_numpy(dtype=float)
    formatted = [format_real(arr[:, j], 7) for j in range(arr.shape[1])]
    cells = [[formatted[j][i] for j in range(arr.shape[1])] for i in range(arr.shape[0])]
    cols = [str(c) for c in df.columns]
    return print_matrix(cells, [str(i) for i in df.index], cols, right=True)


def format_allfit_summary(s: AllFitSummary) -> str:
    """R's print of ``summary(allFit)`` (an unclassed list print, with its class attribute).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> format_allfit_summary(mc.allFit(m, progress=False).summary()).splitlines()[0]
    '$which.OK'
    """
    lines = ["$which.OK"]
    lines += _named_vector_lines(["TRUE" if v else "FALSE" for v in s.which_OK], list(s.which_OK.index))
    lines += ["", "$msgs"]
    for k, v in s.msgs.items():
        lines.append("$msgs" + r_list_tag(k))
        lines += ["NULL"] if not v else _character_vector_lines(v)
        lines.append("")
    lines += ["", "$fixef"] + _matrix_lines(s.fixef)
    lines += ["", "$llik"] + _named_vector_lines(format_real(list(s.llik), 7), list(s.llik.index))
    lines += ["", "$sdcor"] + print_data_frame_lines(s.sdcor)
    lines += ["", "$theta"] + _matrix_lines(s.theta)
    lines += ["", "$times"] + _matrix_lines(s.times)
    fe = [None if not np.isfinite(v) else float(v) for v in s.feval]
    lines += ["", "$feval"] + _named_vector_lines(format_real(fe, 7), list(s.feval.index))
    lines += ["", 'attr(,"class")', '[1] "summary.allFit"']
    return "\n".join(lines)


def format_allfit(a: AllFit, width: int = 80) -> str:
    """lme4's ``print.allFit``: the model, its data, the optimisers and the spread of the
    negative log-likelihoods.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> format_allfit(mc.allFit(m, progress=False)).splitlines()[:2]
    ['original model:', 'Reaction ~ Days + (Days | Subject) ']
    """
    def shorten(x: str) -> str:
        if len(x) > width:
            return "".join(strwrap(x[: width - 3] + "...", int(0.9 * width)))
        return x

    f = a.fit
    lines = ["original model:", shorten(deparse_formula(f.formula)) + " "]
    data_name = getattr(f, "data_name", None) or "data"
    lines.append(f"data:  {data_name} ")
    lines.append(f"optimizers ({len(a)}): " + shorten(", ".join(a)))
    bad = a.failed()
    if bad:
        lines.append(f"{len(bad)} optimizer(s) failed")
    lines.append("differences in negative log-likelihoods:")
    nll = np.array([-float(v.logLik()) for k, v in a.items() if k not in bad])
    spread = float(np.max(nll - np.min(nll))) if len(nll) else float("nan")
    sd = float(np.std(nll, ddof=1)) if len(nll) > 1 else float("nan")
    lines.append(f"max= {_cat(signif(spread, 3))} ; std dev= {_cat(signif(sd, 3))} ")
    return "\n".join(lines)


def _cat(x: float) -> str:
    return "NA" if not np.isfinite(x) else cat_number(x)
