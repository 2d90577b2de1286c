"""lme4's ``lmerControl`` checks of the data and design, before the fit (one home for all of them).

* ``check.nlev.gtr.1``, ``check.nobs.vs.nlev``, ``check.nlev.gtreq.5`` (lme4's ``checkNlevels``),
  ``check.nobs.vs.nRE`` (``checkZdims``) and ``check.nobs.vs.rankZ`` (``checkZrank``) on the
  random-effects terms: :func:`check_reterms`;
* ``check.scaleX`` (``checkScaleX``) on the fixed-effects matrix: :func:`check_scale_x`;
* ``check.rankX``: the column dropping itself is the model frame's (``design.model_frame``, lme4's
  default ``"message+drop.cols"``); :func:`check_rank_x` applies the other actions to its result.

Each check has lme4's actions (``"ignore"``, ``"warning"``, ``"message"``, ``"stop"``): ``"stop"``
raises :class:`~mixedcompat.errors.DataError` with lme4's words (plus the term or factor at fault),
``"warning"`` / ``"message"`` warn with :class:`~mixedcompat.errors.IdentifiabilityWarning`
(:class:`~mixedcompat.errors.ScaleWarning` for ``check.scaleX``).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from mixedcompat.errors import DataError, IdentifiabilityWarning, RankDeficiencyWarning, ScaleWarning
from mixedcompat.front.design import ModelFrame, model_frame
from mixedcompat.front.formula import FormulaParts
from mixedcompat.front.reterms import ReTerm, flist

SCALE_MESSAGE = "Some predictor variables are on very different scales: consider rescaling"
SCALE_TOL = 1000.0
"""lme4's ``checkScaleX(tol = 1000)``."""


def _act(action: str, text: str, category: type = IdentifiabilityWarning) -> None:
    if action == "ignore":
        return
    if action.startswith("stop"):
        raise DataError(text)
    warnings.warn(text, category, stacklevel=4)


def _unident(n: int, cmp_val: int, what: str, extra: str = "", allow_n: bool = False) -> str:
    """lme4's ``wmsg`` text (``allow.n = TRUE`` for glmer: no residual variance to confound)."""
    cmp, rest = ("<", "") if allow_n else ("<=", " and the residual variance (or scale parameter)")
    return (f"number of observations (={n}) {cmp} {what} (={cmp_val}){extra}; the random-effects parameters"
            f"{rest} are probably unidentifiable")


def check_reterms(terms: Sequence[ReTerm], n: int, control: dict, allow_n: bool = False) -> list[str]:
    """lme4's ``checkNlevels``, ``checkZdims`` and ``checkZrank``, in lme4's order.

    Parameters
    ----------
    terms : list of ReTerm
        The random-effects terms (lme4's order).
    n : int
        Number of observations.
    control : dict
        A full control from :func:`mixedcompat.lme4.control.lmer_control`.
    allow_n : bool
        lme4's ``allow.n``: True for glmer (``glFormula``), whose models may have as many levels or
        random effects as observations (an observation-level random effect); the checks then fail
        only above ``n``.

    Returns
    -------
    list of str
        The texts of the checks that failed with a non-stopping action (lme4's ``wmsgs``).

    Raises
    ------
    DataError
        A failed check whose action is ``"stop"``.

    Examples
    --------
    >>> t = ReTerm("g", "1 | g", np.array([0, 0, 0]), ["a"], np.ones((3, 1)), ["(Intercept)"])
    >>> check_reterms([t], 3, {"check_nlev_gtr_1": "warning", "check_nobs_vs_nlev": "ignore",
    ...                        "check_nlev_gtreq_5": "ignore", "check_nobs_vs_nRE": "ignore",
    ...                        "check_nobs_vs_rankZ": "ignore"})  # doctest: +SKIP
    ['grouping factors must have > 1 sampled level']
    """
    out: list[str] = []
    factors = flist(list(terms))
    nlev = {g: t.n_levels for g, t in factors.items()}
    act = control.get("check_nlev_gtr_1", "stop")
    if act != "ignore" and any(v < 2 for v in nlev.values()):
        text = "grouping factors must have > 1 sampled level"
        bad = "; ".join(f"{g!r} has {t.n_levels} in term ({t.label})" for g, t in factors.items()
                        if t.n_levels < 2)
        _act(act, f"{text}: {bad}" if act == "stop" else text)
        out.append(text)
    act = control.get("check_nobs_vs_nlev", "stop")
    too_many = (lambda v: v > n) if allow_n else (lambda v: v >= n)
    if act != "ignore" and any(too_many(v) for v in nlev.values()):
        bad = [g for g, v in nlev.items() if too_many(v)]
        text = (f"number of levels of each grouping factor must be {'<=' if allow_n else '<'} number of "
                f"observations (problems: {', '.join(bad)})")
        _act(act, text)
        out.append(text)
    act = control.get("check_nlev_gtreq_5", "ignore")
    if act != "ignore" and any(v < 5 for v in nlev.values()):
        text = "grouping factors with < 5 sampled levels may give unreliable estimates"
        _act(act, text)
        out.append(text)
    act = control.get("check_nobs_vs_nRE", "stop")
    if act != "ignore":
        seen = []
        for t in terms:
            n_re = t.n_levels * t.q
            if n < n_re if allow_n else n <= n_re:
                text = _unident(n, n_re, "number of random effects", f" for term ({t.label})", allow_n)
                if text not in seen:
                    _act(act, text)
                    seen.append(text)
        out += seen
    act = control.get("check_nobs_vs_rankZ", "ignore")
    if act != "ignore":
        q = sum(t.n_levels * t.q for t in terms)
        if not (act.endswith("Small") and n * q > 1e6):
            import scipy.sparse as sp
            Z = sp.hstack([t.Z() for t in terms]).toarray()
            rank = int(np.linalg.matrix_rank(Z))
            if n < rank if allow_n else n <= rank:
                text = _unident(n, rank, "rank(Z)", allow_n=allow_n)
                _act(act.replace("Small", ""), text)
                out.append(text)
    return out


def check_scale_x(X: np.ndarray, action: str = "warning", tol: float = SCALE_TOL) -> list[str]:
    """lme4's ``checkScaleX``: warn when the fixed-effects columns are on very different scales.

    The columns that are not all 0/1 are compared: the message is given when the log of some
    column's standard deviation, or of the ratio of two of them, exceeds ``log(tol)`` in size.
    (lme4's "rescale" actions, which change the estimates' scale without adjusting them back, are
    not offered.)

    Returns
    -------
    list of str
        ``["Some predictor variables are on very different scales: consider rescaling"]`` or ``[]``:
        lme4 keeps it as the ``msgScaleX`` attribute of X, printed under "fit warnings:".

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 4.0], [1e5, 3e5, 2e5, 4e5]])
    >>> check_scale_x(X, "ignore")
    []
    """
    if action == "ignore" or X.ndim != 2 or X.shape[1] == 0:
        return []
    cont = ~np.all((X == 0) | (X == 1), axis=0)
    Xc = X[:, cont]
    with np.errstate(invalid="ignore"):
        sd = np.std(Xc, axis=0, ddof=1) if Xc.shape[0] > 1 else np.full(Xc.shape[1], np.nan)
    return check_scale_sd(sd, action, tol)


def check_scale_sd(sd: np.ndarray, action: str = "warning", tol: float = SCALE_TOL) -> list[str]:
    """lme4's ``checkScaleX`` decided from the standard deviations of the fixed-effects columns that
    are not all 0/1 (:func:`check_scale_x` from the matrix; a partitioned fit from its column sums).

    Examples
    --------
    >>> check_scale_sd(np.array([1.0, 2e4]), "ignore")
    []
    """
    sd = np.asarray(sd, dtype=float)
    if action == "ignore" or sd.size == 0:
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        logsd = np.abs(np.log(sd))
        i, j = np.tril_indices(len(sd), -1)
        logcomp = np.abs(np.log(sd[i] / sd[j]))
    vals = np.concatenate([logcomp, logsd])
    # R's any(): TRUE if any value is TRUE; NA only when none is TRUE and some is NA
    if not np.any(vals[~np.isnan(vals)] > np.log(tol)):
        if np.any(np.isnan(vals)):
            raise DataError("missing value where TRUE/FALSE needed (check.scaleX: a fixed-effects column "
                            "has an undefined standard deviation)")
        return []
    _act(action, SCALE_MESSAGE, ScaleWarning)
    return [SCALE_MESSAGE]


def check_rank_x(dropped: Sequence[str], p_full: int, action: str) -> None:
    """``check.rankX = "stop.deficient"``: refuse a rank-deficient fixed-effects matrix (the
    dropping actions are the model frame's).

    Examples
    --------
    >>> check_rank_x([], 3, "stop.deficient")
    """
    if action == "stop.deficient" and dropped:
        raise DataError(f"the fixed-effects model matrix is column rank deficient (rank(X) = "
                        f"{p_full - len(dropped)} < {p_full} = p);\nthe fixed effects will be jointly "
                        f"unidentifiable (aliased: {', '.join(dropped)})")


def checked_model_frame(parts: FormulaParts, data, ctrl: dict, **kwargs) -> tuple[ModelFrame, list[str]]:
    """The model frame with lme4's ``check.rankX`` applied: rank-deficiency messages are passed on (or
    kept silent with ``"silent.drop.cols"``) and returned as the fit's "fit warnings" lines.

    Examples
    --------
    >>> import pandas as pd
    >>> from mixedcompat.front.formula import parse_formula
    >>> d = pd.DataFrame({"y": [1.0, 2, 3, 5], "x": [0.0, 1, 2, 3], "g": list("abab")})
    >>> frame, notes = checked_model_frame(parse_formula("y ~ x + (1 | g)"), d, {"check_rankX": "message+drop.cols"})
    >>> frame.x_names, notes
    (['(Intercept)', 'x'], [])
    """
    frame, fit_warnings = with_rank_messages(lambda: model_frame(parts, data, **kwargs), ctrl)
    check_rank_x(frame.dropped, frame.X.shape[1] + len(frame.dropped), ctrl["check_rankX"])
    return frame, fit_warnings


def with_rank_messages(build: Callable[[], Any], ctrl: dict) -> tuple[Any, list[str]]:
    """``build()`` with lme4's rank-deficiency messages (:class:`RankDeficiencyWarning`) passed on
    (kept silent with ``check_rankX = "silent.drop.cols"``) and returned as the fit's "fit warnings"
    lines; other warnings are passed on.

    Examples
    --------
    >>> def build():
    ...     warnings.warn("dropping 1 column", RankDeficiencyWarning)
    ...     return 7
    >>> with_rank_messages(build, {"check_rankX": "silent.drop.cols"})
    (7, ['dropping 1 column'])
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build()
    fit_warnings = []
    for w in caught:
        if issubclass(w.category, RankDeficiencyWarning):
            fit_warnings.append(str(w.message))
            if ctrl["check_rankX"] == "silent.drop.cols":
                continue
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, fit_warnings
