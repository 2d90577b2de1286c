"""emmeans' summary of an ``emmGrid`` (``summary.emmGrid`` of emmeans 1.8.4): estimates, SEs, df,
confidence limits and tests, back-transformed on request, with emmeans' multiplicity adjustments and
footer messages.

P-value adjustments (emmeans' ``.adj.p.value``): ``"tukey"`` (studentized range: ``ptukey(sqrt(2)|t|,
k, zapsmall(df), lower = FALSE)``, through scipy's ``studentized_range``; against R's ``ptukey``, on
integer and non-integer ``k``, they agree to about 1e-9 relative for df >= 45 and infinite df, and to
within 5e-5 relative at df = 3 (R's Gauss-Legendre quadrature is the coarser there): a printed p value
of 4 decimals can differ in its last digit only on such a tie), ``"dunnettx"`` (emmeans' own approximation of Dunnett's distribution, a weighted mean of the
Tukey and Sidak laws: ``(k-1)/k ptukey(sqrt(2) x, (1 + sqrt(1 + 8k))/2, df) + pf(x^2, 1, df)^k / k``,
exact as emmeans defines it), ``"sidak"``, ``"scheffe"``, ``"none"`` and R's ``p.adjust`` methods
``"holm"``, ``"hochberg"``, ``"bonferroni"``, ``"BH"``, ``"BY"``, ``"fdr"``.  ``"mvt"`` (mvtnorm's
randomised integration) and ``"hommel"`` are refused.  As emmeans: one contrast per family means no
adjustment; ``"tukey"`` on anything but one family of pairwise comparisons becomes ``"sidak"`` with
emmeans' note.  Interval adjustments (``.adj.critval``): none, sidak, bonferroni, tukey (R's ``qtukey``
search, :mod:`mixedcompat.numerics.tukey`), scheffe, dunnettx (emmeans' ``.qdunnx``: R's ``uniroot``
with ``tol = 5e-4``, :mod:`mixedcompat.numerics.zeroin`, so the quantile is R's, not the exact one);
mvt intervals are refused; another name gives Bonferroni, as emmeans.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedcompat.errors import DataError
from mixedcompat.numerics.tukey import ptukey, qtukey
from mixedcompat.numerics.zeroin import UnirootError, uniroot
from mixedcompat.present.emmeans_printing import SummaryEmm
from mixedcompat.present.rformat import zapsmall

__all__ = ["summary_emm", "find_by_rows", "label_of", "adjust_pvalues", "critical_values", "p_adjust", "ADJUST_METHODS", "EmmeansMessage"]

P_ADJUST_METHODS = ("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "fdr", "none")
ADJUST_METHODS = ("sidak", "tukey", "scheffe", "dunnettx", "mvt") + P_ADJUST_METHODS


class EmmeansMessage(UserWarning):
    """A note emmeans gives with ``message()`` (not an error), in emmeans' words."""


def r_number(x: float) -> str:
    """``as.character`` / ``paste`` of a number (15 significant digits)."""
    return f"{x:.15g}"


def label_of(v: Any) -> str:
    """``paste()`` of a grid value: R's text of a logical or a number, else the label itself.

    Examples
    --------
    >>> label_of(True), label_of(0.2), label_of("A")
    ('TRUE', '0.2', 'A')
    """
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (float, np.floating)):
        return r_number(float(v))
    return str(v)


def _match_adjust(adjust: str, methods: tuple[str, ...]) -> str | None:
    """R's ``pmatch``: an exact match, else the one method ``adjust`` is a prefix of."""
    if adjust in methods:
        return adjust
    hits = [m for m in methods if m.startswith(adjust)]
    return hits[0] if len(hits) == 1 else None


def _chg_adjust(old: str, new: str, reason: str) -> str:
    warnings.warn(f'Note: adjust = "{old}" was changed to "{new}"\nbecause "{old}" is {reason}',
                  EmmeansMessage, stacklevel=5)
    return new


def p_adjust(p: np.ndarray, method: str, n: int | None = None) -> np.ndarray:
    """R's ``p.adjust(p, method, n)`` (``hommel`` not implemented).

    Examples
    --------
    >>> p_adjust(np.array([0.01, 0.04, 0.03]), "holm").round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, dtype=float)
    n = len(p) if n is None else int(n)
    out = p.copy()
    if n <= 1 or method == "none":
        return out
    ok = ~np.isnan(p)
    out[ok] = _p_adjust_many(p[ok], method, n)
    return out


def _p_adjust_many(p: np.ndarray, method: str, n: int) -> np.ndarray:
    lp = len(p)
    i = np.arange(1, lp + 1)
    if method == "bonferroni":
        return np.minimum(1.0, n * p)
    if method == "holm":
        o = np.argsort(p, kind="stable")
        ro = np.argsort(o, kind="stable")
        return np.minimum(1.0, np.maximum.accumulate((n - i + 1) * p[o]))[ro]
    if method == "hochberg":
        i = np.arange(lp, 0, -1)
        o = np.argsort(-p, kind="stable")
        ro = np.argsort(o, kind="stable")
        return np.minimum(1.0, np.minimum.accumulate((n - i + 1) * p[o]))[ro]
    if method in ("BH", "fdr"):
        i = np.arange(lp, 0, -1)
        o = np.argsort(-p, kind="stable")
        ro = np.argsort(o, kind="stable")
        return np.minimum(1.0, np.minimum.accumulate(n / i * p[o]))[ro]
    if method == "BY":
        i = np.arange(lp, 0, -1)
        o = np.argsort(-p, kind="stable")
        ro = np.argsort(o, kind="stable")
        q = float(np.sum(1.0 / np.arange(1, n + 1)))
        return np.minimum(1.0, np.minimum.accumulate(q * n / i * p[o]))[ro]
    raise DataError(f"p.adjust method {method!r} is not implemented")


def _f_sf(x: np.ndarray, d1: float, d2: np.ndarray) -> np.ndarray:
    """R's ``pf(x, d1, d2, lower.tail = FALSE)``, with ``d2 = Inf`` (the chi-squared limit) as R."""
    x, d2 = np.broadcast_arrays(np.asarray(x, float), np.asarray(d2, float))
    inf = np.isinf(d2)
    return np.where(inf, stats.chi2.sf(x * d1, d1), stats.f.sf(x, d1, np.where(inf, 1.0, d2)))


def _f_ppf(q: float, d1: float, d2: np.ndarray) -> np.ndarray:
    """R's ``qf(q, d1, d2)``, with ``d2 = Inf`` as R."""
    d2 = np.asarray(d2, float)
    inf = np.isinf(d2)
    return np.where(inf, stats.chi2.ppf(q, d1) / d1, stats.f.ppf(q, d1, np.where(inf, 1.0, d2)))


def _ptukey_upper(q: np.ndarray, nmeans: float, df: np.ndarray) -> np.ndarray:
    q = np.atleast_1d(q)
    return np.array([ptukey(float(qq), nmeans, float(d), lower_tail=False) for qq, d in zip(q, np.broadcast_to(df, q.shape))])


def _pdunnx(x: np.ndarray, k: float, df: np.ndarray) -> np.ndarray:
    """emmeans' ``.pdunnx``: its approximation of Dunnett's distribution function."""
    twt = (k - 1) / k
    nm = (1 + math.sqrt(1 + 8 * k)) / 2
    x = np.atleast_1d(np.asarray(x, dtype=float))
    df = np.broadcast_to(np.asarray(df, dtype=float), x.shape)
    tukey = np.array([ptukey(math.sqrt(2) * float(xx), nm, float(d)) for xx, d in zip(x, df)])
    sidak = (1.0 - _f_sf(x ** 2, 1, df)) ** k
    return twt * tukey + (1 - twt) * sidak


def _qdunnx(p: float, k: float, df: np.ndarray) -> np.ndarray:
    """emmeans' ``.qdunnx``: the quantile of :func:`_pdunnx`, by R's ``uniroot`` (``tol = 5e-4``) between
    the Tukey and Sidak quantiles; where the search fails, the Tukey quantile with emmeans' warning."""
    df = np.asarray(df, dtype=float)
    if k < 1.005:
        return stats.t.ppf(1 - 0.5 * (1 - p), df)
    nm = (1 + math.sqrt(1 + 8 * k)) / 2
    out = np.empty(len(df))
    for i, d in enumerate(df):
        xtuk = qtukey(p, nm, float(d)) / math.sqrt(2)
        xsid = math.sqrt(float(_f_ppf(p ** (1 / k), 1, np.array([d]))[0]))
        if abs(xtuk - xsid) < 5e-4:
            out[i] = xtuk
            continue
        try:
            out[i] = uniroot(lambda x: float(_pdunnx(np.array([x]), k, np.array([d]))[0]) - p, xtuk, xsid, tol=5e-4)
        except UnirootError:
            warnings.warn("Root-finding failed; using qtukey approximation for Dunnett quantile", UserWarning,
                          stacklevel=5)
            out[i] = xtuk
    return out


def _scheffe_rank(L: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(zapsmall(L.ravel()).reshape(L.shape))) if L.size else 0


def adjust_pvalues(t: np.ndarray, df: np.ndarray, adjust: str, fam_size: Any, n_contr: int, et: int,
                   by_rows: list[np.ndarray], sch_rank: list[int]) -> tuple[np.ndarray, str | None, str]:
    """emmeans' ``.adj.p.value`` for two-sided tests: (p values, footer message or None, method used).

    Examples
    --------
    >>> p, msg, _ = adjust_pvalues(np.array([-3.66, -6.393, -2.733]), np.full(3, 10.0), "tukey", 3, 3, 3,
    ...                            [np.arange(3)], [1])
    >>> p.round(4).tolist(), msg
    ([0.0111, 0.0002, 0.0507], 'P value adjustment: tukey method for comparing a family of 3 estimates')
    """
    if n_contr == 1 and _match_adjust(adjust, ("scheffe",)) is None:
        adjust = "none"
    k = _match_adjust(adjust, ADJUST_METHODS)
    if k is None:
        raise DataError(f"Adjust method '{adjust}' is not recognized or not valid (use one of "
                        f"{', '.join(m for m in ADJUST_METHODS if m not in ('mvt', 'hommel'))})")
    adjust = k
    if adjust in ("mvt", "hommel"):
        raise NotImplementedError(f"adjust='{adjust}' is not implemented ("
                                  + ("mvtnorm's randomised multivariate-t integration" if adjust == "mvt"
                                     else "Hommel's method") + "); use 'tukey', 'dunnettx', 'sidak', 'holm', "
                                  "'bonferroni', 'scheffe' or 'none'")
    if et != 3 and adjust == "tukey":
        adjust = _chg_adjust("tukey", "sidak", "only appropriate for one set of pairwise comparisons")
    ragged = isinstance(fam_size, str) or adjust in P_ADJUST_METHODS
    if not ragged:
        by_rows = [np.arange(len(t))]
    df = np.where(np.isnan(df), np.inf, df)
    with np.errstate(invalid="ignore"):
        p_unadj = 2 * stats.t.sf(np.abs(t), df)
    pval = np.zeros(len(t))
    fs_local = fam_size
    for jj, rows in enumerate(by_rows):
        unadj, abst, d = p_unadj[rows], np.abs(t[rows]), df[rows]
        nc = n_contr
        if ragged:
            nc = len(rows)
            fs_local = (1 + math.sqrt(1 + 8 * nc)) / 2
        if adjust in P_ADJUST_METHODS:
            pval[rows] = p_adjust(unadj, adjust, n=nc)
        elif adjust == "sidak":
            pval[rows] = 1 - (1 - unadj) ** nc
        elif adjust == "tukey":
            pval[rows] = _ptukey_upper(math.sqrt(2) * abst, float(fs_local), zapsmall(d))
        elif adjust == "scheffe":
            r = sch_rank[jj]
            pval[rows] = _f_sf(t[rows] ** 2 / r, r, d)
        elif adjust == "dunnettx":
            pval[rows] = 1 - _pdunnx(abst, nc, d)
    msg = _adjust_message("P value adjustment", "tests", adjust, ragged, by_rows, fam_size, n_contr, sch_rank)
    return pval, msg, adjust


def _adjust_message(what: str, units: str, adjust: str, ragged: bool, by_rows: list[np.ndarray], fam_size: Any,
                    n_contr: int, sch_rank: list[int]) -> str | None:
    """emmeans' footnote on a multiplicity adjustment (``"P value adjustment: tukey method for comparing
    a family of 3 estimates"``), or None where emmeans prints none (no adjustment, or a family under 3)."""
    chk = {"none": 1, "tukey": 2, "scheffe": 3}.get(adjust, 99)
    if ragged:
        fs = (1 + math.sqrt(1 + 8 * max(len(r) for r in by_rows))) / 2
        sch_dim = "(varies)"
    else:
        fs, sch_dim = fam_size, (sch_rank[0] if sch_rank else None)
    if chk == 1 or (fs < 3 and chk < 10):
        return None
    xtra = {"tukey": f"for comparing a family of {fam_size} estimates",
            "scheffe": f"with rank {sch_dim}"}.get(adjust, f"for {n_contr} {units}")
    return f"{what}: {adjust} method {xtra}"


def critical_values(level: float, df: np.ndarray, adjust: str, fam_size: Any, n_contr: int, et: int,
                    by_rows: list[np.ndarray], sch_rank: list[int]) -> tuple[np.ndarray, str | None, str]:
    """emmeans' ``.adj.critval`` for two-sided intervals: (critical values, message or None, method)."""
    ragged = isinstance(fam_size, str)
    if not ragged and n_contr == 1 and _match_adjust(adjust, ("scheffe",)) is None:
        adjust = "none"
    meths = ("sidak", "tukey", "scheffe", "dunnettx", "mvt", "bonferroni", "none")
    adjust = _match_adjust(adjust, meths) or "bonferroni"
    if adjust == "mvt":
        raise NotImplementedError("confidence intervals with adjust='mvt' (mvtnorm's randomised multivariate-t "
                                  "quantile) are not implemented; use 'tukey', 'dunnettx', 'sidak', "
                                  "'bonferroni', 'scheffe' or 'none'")
    if not ragged and len(np.unique(df)) == 1:
        by_rows = [np.arange(len(df))]
    if et != 3 and adjust == "tukey":
        adjust = _chg_adjust("tukey", "sidak", "only appropriate for one set of pairwise comparisons")
    df = np.where(np.isnan(df), np.inf, df)
    msg = _adjust_message("Conf-level adjustment", "estimates", adjust, ragged, by_rows, fam_size, n_contr,
                          sch_rank)
    cv = np.zeros(len(df))
    for jj, rows in enumerate(by_rows):
        d = df[rows]
        nc_j, fs_j = n_contr, fam_size
        if ragged:
            nc_j = len(rows)
            fs_j = (1 + math.sqrt(1 + 8 * nc_j)) / 2
        if adjust == "none":
            cv[rows] = -stats.t.ppf((1 - level) / 2, d)
        elif adjust == "sidak":
            cv[rows] = -stats.t.ppf((1 - level ** (1 / nc_j)) / 2, d)
        elif adjust == "bonferroni":
            cv[rows] = -stats.t.ppf((1 - level) / nc_j / 2, d)
        elif adjust == "tukey":
            cv[rows] = [qtukey(level, float(fs_j), float(dd)) / math.sqrt(2) for dd in d]
        elif adjust == "dunnettx":
            cv[rows] = _qdunnx(level, nc_j, d)
        elif adjust == "scheffe":
            r = sch_rank[jj]
            cv[rows] = np.sqrt(r * _f_ppf(level, r, d))
    return cv, msg, adjust


def find_by_rows(grid: pd.DataFrame, by: tuple) -> list[np.ndarray]:
    """emmeans' ``.find.by.rows``: row indices of each combination of the ``by`` columns, in order of
    first appearance."""
    if not by:
        return [np.arange(len(grid))]
    keys = grid[list(by)].apply(lambda col: col.map(label_of)).agg("\x1f".join, axis=1).to_numpy()
    out: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        out.setdefault(k, []).append(i)
    return [np.array(v) for v in out.values()]


def summary_emm(e: Any, infer: tuple | None = None, level: float | None = None, adjust: str | None = None,
                type: str | None = None) -> SummaryEmm:  # noqa: A002
    """emmeans' ``summary.emmGrid`` of an :class:`~mixedcompat.inference.emmeans_grid.EmmGrid`.

    Returns a :class:`SummaryEmm` (a DataFrame with R's columns; ``str()`` is R's print).
    """
    if infer is None:
        infer = e.infer
    if isinstance(infer, (bool, np.bool_)):    # emmeans: a single TRUE / FALSE applies to both
        infer = (bool(infer),)
    infer = tuple(infer)
    if len(infer) not in (1, 2) or not all(isinstance(v, (bool, np.bool_)) for v in infer):
        raise DataError(f"infer must be a bool or a pair of bools (intervals, tests), not {infer!r}")
    if len(infer) == 1:
        infer = (infer[0], infer[0])
    level = e.level if level is None else float(level)
    adjust = e.adjust if adjust is None else str(adjust)
    type = e.type if type is None else type
    if type not in ("link", "response"):
        raise DataError(f"type must be 'link' or 'response', not {type!r}")
    by = tuple(e.by)
    est_type = e.est_type
    if est_type == "pairs" and ",".join(("",) + by) != e.pairby:
        est_type = "contrast"
    est, se = e.estimates()
    df = np.asarray(e.df, dtype=float)
    z_flag = bool(np.all(np.isnan(df) | np.isinf(df)))
    tran = e.tran
    inv = type == "response" and tran is not None
    est_name = e.est_name
    if inv:
        est_name = tran.inv_lbl
    mesg = list(e.init_mesg)
    if e.df_method:
        mesg.append(f"Degrees-of-freedom method: {e.df_method}")
    if not inv and tran is not None:
        mesg.append(f"Results are given on the {tran.name} (not the response) scale.")
    et = {"prediction": 1, "contrast": 2, "pairs": 3}.get(est_type, 2)
    by_rows = find_by_rows(e.grid, by)
    by_size = len(e.grid)
    for b in by:
        by_size //= len(e.levels[b])
    adjust = adjust.lower() if adjust.lower() not in ("bh", "by") else adjust.upper()
    sch_rank = [1]
    if _match_adjust(adjust, ("scheffe",)):
        sch_rank = [_scheffe_rank(e.linfct[r]) for r in by_rows]
    labels = e.grid.copy()
    out = {est_name: est.copy(), "SE": se.copy(), "df": df}
    if infer[0]:
        cv, cmsg, _ = critical_values(level, df, adjust, e.fam_size, by_size, et, by_rows, sch_rank)
        cnm = ("asymp.LCL", "asymp.UCL") if z_flag else ("lower.CL", "upper.CL")
        lo, hi = est - cv * se, est + cv * se
        mesg.append(f"Confidence level used: {r_number(level)}")
        if cmsg:
            mesg.append(cmsg)
        if inv:
            a, b = tran.linkinv(lo), tran.linkinv(hi)
            if not np.all(np.nan_to_num(b - a) >= 0):
                a, b = b, a
            lo, hi = a, b
            mesg.append(f"Intervals are back-transformed from the {tran.name} scale")
        out[cnm[0]], out[cnm[1]] = lo, hi
    if infer[1]:
        tnm = "z.ratio" if z_flag else "t.ratio"
        with np.errstate(divide="ignore", invalid="ignore"):
            t = est / se
        if inv:
            out["null"] = np.full(len(est), float(tran.linkinv(np.array([0.0]))[0]))
        out[tnm] = t
        p, pmsg, adjust = adjust_pvalues(t, df, adjust, e.fam_size, by_size, et, by_rows, sch_rank)
        out["p.value"] = p
        if pmsg:
            mesg.append(pmsg)
        if inv:
            mesg.append(f"Tests are performed on the {tran.name} scale")
    if inv:
        out["SE"] = np.abs(tran.mu_eta(est)) * se
        out[est_name] = tran.linkinv(est)
        if tran.inv_lbl in ("odds.ratio", "ratio"):
            for c in labels.columns:
                labels[c] = labels[c].astype(str).str.replace(" - ", " / ", regex=False)
    if e.avgd_over:
        mesg.insert(0, "Results are averaged over the levels of: " + ", ".join(e.avgd_over))
    table = pd.concat([labels.reset_index(drop=True), pd.DataFrame(out)], axis=1)
    return SummaryEmm(table, est_name=est_name, by=list(by), mesg=list(dict.fromkeys(mesg)))
