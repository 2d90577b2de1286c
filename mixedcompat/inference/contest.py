"""lmerTest's ``contest`` (t and F tests of user contrasts ``L beta = rhs``) and ``show_tests``.

``contest(m, L, joint=True)`` is lmerTest's ``contestMD``: ``L V L'`` is eigen-decomposed (LAPACK
``dsyevr``, R's ``eigen``), directions with eigenvalue above ``eps`` times the largest are tested, so
a rank-deficient ``L`` is tested on its row space (``NumDF`` = its rank); with a nonzero ``rhs``
lmerTest warns "Contrast is rank deficient and test may be affected" and, as lmerTest, subtracts
``ginv(L) rhs`` from beta (several directions) or compares the first direction with ``rhs[1]`` (one
direction): we follow it.  Kenward-Roger's F test is pbkrtest's ``KRmodcomp(m, L, betaH = ginv(L) rhs)``
(where pbkrtest stops, lmerTest's warning and Satterthwaite's test).  ``joint=False`` is
``contest1D`` per row of ``L``: Estimate, Std. Error, df, t value = (Estimate - rhs) / SE,
the Wald interval ``lower``, ``upper`` (``confint=True``) and ``Pr(>|t|)``.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedcompat.errors import DataError, KenwardRogerFallbackWarning
from mixedcompat.inference.ftests import ANOVA_COLUMNS, KR_F_FALLBACK, KR_T_FALLBACK, normalise_ddf
from mixedcompat.inference.kenward_roger import kr_ftest, kr_ttest
from mixedcompat.inference.satterthwaite import contest_1d, contrast_directions, direction_ddf, fstat_ddf, satterthwaite_state
from mixedcompat.front.design import qr_rank
from mixedcompat.glmer.fit import GlmerMod
from mixedcompat.lme4.fit import LmerMod
from mixedcompat.numerics.rlinalg import RLinAlgError, ginv
from mixedcompat.present.data_frame_printing import print_data_frame_lines, print_list_of_matrices
from mixedcompat.present.html import HtmlRepr

__all__ = ["contest", "show_tests", "ContestTable", "Hypotheses", "RANK_DEFICIENT", "require_lmertest_model"]

RANK_DEFICIENT = "Contrast is rank deficient and test may be affected"
KR_REML = "Kenward-Roger's method is only available for REML model fits"
T_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "lower", "upper", "Pr(>|t|)"]


class ContestTable(HtmlRepr, pd.DataFrame):
    """A DataFrame that prints as R's ``print.data.frame`` (lmerTest's ``contest`` results are data frames).

    Examples
    --------
    >>> print(ContestTable({"Estimate": [10.46729]}, index=["1"]))
      Estimate
    1 10.46729
    """

    @property
    def _constructor(self):
        return ContestTable

    def __str__(self) -> str:
        return "\n".join(print_data_frame_lines(self))

    def __repr__(self) -> str:
        return self.__str__()

    def to_frame(self) -> pd.DataFrame:
        """The numbers as a plain DataFrame."""
        return pd.DataFrame(self)


class Hypotheses(HtmlRepr, dict):
    """lmerTest's ``show_tests``: term -> its hypothesis matrix (a DataFrame, columns = fixef names);
    ``str()`` is R's print of that named list of matrices.

    Examples
    --------
    >>> print(Hypotheses(Days=pd.DataFrame([[0.0, 1.0]], index=["Days"], columns=["(Intercept)", "Days"])))
    $Days
         (Intercept) Days
    Days           0    1
    <BLANKLINE>
    """

    def __str__(self) -> str:
        return "\n".join(print_list_of_matrices(
            {k: (v.to_numpy(dtype=float), self._names(v.index), self._names(v.columns)) for k, v in self.items()}))

    @staticmethod
    def _names(index: pd.Index) -> list[str] | None:
        return None if isinstance(index, pd.RangeIndex) else [str(i) for i in index]

    def __repr__(self) -> str:
        return self.__str__()


def require_lmertest_model(m: Any, what: str) -> None:
    """Refuse anything but an lmer fit for lmerTest's ``what()`` (a TypeError naming what was given)."""
    if isinstance(m, GlmerMod) or not isinstance(m, LmerMod):
        kind = "a glmer fit" if isinstance(m, GlmerMod) else f"an object of type {type(m).__name__}"
        if getattr(m, "r_package", None) == "nlme":
            kind = f"an nlme {type(m).__name__} fit"
        raise TypeError(f"{what}() applies to lmer fits (lmerTest's lmerModLmerTest), not to {kind}")


def _as_matrix(m: Any, L: Any, joint: bool) -> tuple[np.ndarray, list[str] | None]:
    """(L as a float matrix, its row names or None)."""
    names = [str(n) for n in m.frame.x_names]
    p = len(names)
    rownames = None
    if isinstance(L, pd.DataFrame):
        unknown = [c for c in L.columns if str(c) not in names]
        if unknown:
            raise DataError(f"contest: L has column(s) {unknown} that are not fixed-effect coefficients "
                            f"of the model ({names})")
        missing = [n for n in names if n not in [str(c) for c in L.columns]]
        if missing:
            raise DataError(f"contest: L lacks column(s) {missing} (the model's coefficients are {names}): "
                            "ncol(L) == length(model@beta) is not TRUE")
        L = L.rename(columns=str)[names]
        if not isinstance(L.index, pd.RangeIndex):
            rownames = [str(i) for i in L.index]
        vals = L.to_numpy()
    elif isinstance(L, pd.Series):
        vals = L.to_numpy()
    else:
        vals = np.asarray(L)
    if vals.dtype.kind not in "biuf" and not (vals.dtype.kind == "O" and all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in vals.ravel())):
        raise DataError(f"contest: L must be numeric (is.numeric(L) is not TRUE); got values of type {vals.dtype}")
    vals = np.atleast_2d(np.asarray(vals, dtype=float))
    if vals.ndim != 2:
        raise DataError(f"contest: L must be a vector or a matrix, not an array of {vals.ndim} dimensions")
    if vals.shape[1] != p:
        cond = "ncol(L) == length(model@beta)" if joint else "length(L) == length(model@beta)"
        raise DataError(f"contest: L has {vals.shape[1]} columns but the model has {p} fixed-effect "
                        f"coefficients ({', '.join(names)}): {cond} is not TRUE")
    return vals, rownames


def _f_table(F: float, ndf: float, ddf: float, sigma: float, scale: float = 1.0) -> list[float]:
    ms = F * sigma ** 2
    Fv = F * scale
    p = float(stats.f.sf(Fv, ndf, ddf)) if not np.isnan([Fv, ndf, ddf]).any() else np.nan
    return [ms * ndf, ms, ndf, ddf, Fv, p]


def _t_row(m: Any, l: np.ndarray, method: str) -> tuple[float, float, float]:
    """(estimate, se, df) of ``contest1D``."""
    est = float(l @ np.asarray(m.beta, dtype=float))
    if method == "Kenward-Roger":
        if not m.REML:
            raise ValueError(KR_REML)
        try:
            var, df = kr_ttest(m, l)
            return est, (float(np.sqrt(var)) if var >= 0 else np.nan), df
        except RLinAlgError:
            warnings.warn(KR_T_FALLBACK, KenwardRogerFallbackWarning, stacklevel=4)
    r = contest_1d(satterthwaite_state(m), l)
    return est, r["Std. Error"], r["df"]


def _contest_md(m: Any, L: np.ndarray, rhs: float, method: str, eps: float) -> list[float] | None:
    sigma = float(m.sigma())
    rhs_v = np.full(L.shape[0], float(rhs))
    if L.shape[0] == 0:
        return None
    if np.isnan(L).any():
        return [np.nan] * 6
    if method == "Kenward-Roger":
        if not m.REML:
            raise ValueError(KR_REML)
        if qr_rank(L)[0] < L.shape[0] and rhs != 0:
            warnings.warn(RANK_DEFICIENT, UserWarning, stacklevel=3)
        beta_h = 0.0 if rhs == 0 else ginv(L) @ rhs_v
        try:
            r = kr_ftest(m, L, beta_h=beta_h)
            return _f_table(r["F"], r["NumDF"], r["DenDF"], sigma, r["F.scaling"])
        except RLinAlgError:
            warnings.warn(KR_F_FALLBACK, KenwardRogerFallbackWarning, stacklevel=3)
    st = satterthwaite_state(m)
    if L.shape[0] == 1:
        est, se, df = _t_row(m, L[0], "Satterthwaite")
        return _f_table(((est - rhs) / se) ** 2, 1, df, sigma)
    beta = st.beta if rhs == 0 else st.beta - ginv(L) @ rhs_v
    d, P, q = contrast_directions(L @ st.vcov @ L.T, eps)
    if q < L.shape[0] and rhs != 0:
        warnings.warn(RANK_DEFICIENT, UserWarning, stacklevel=3)
    if q <= 0:
        return None
    PtL = (P.T @ L)[:q]
    if q == 1:
        est, se, df = _t_row(m, PtL[0], "Satterthwaite")
        return _f_table(((est - rhs) / se) ** 2, 1, df, sigma)
    F = float(np.sum((PtL @ beta) ** 2 / d[:q]) / q)
    return _f_table(F, q, fstat_ddf(direction_ddf(st, PtL, d)), sigma)


def contest(m: Any, L: Any, joint: bool = True, ddf: str = "Satterthwaite", rhs: float = 0,
            confint: bool = True, level: float = 0.95,
            eps: float = float(np.sqrt(np.finfo(float).eps))) -> ContestTable:
    """lmerTest's ``contest(m, L, rhs, joint, confint, level, ddf)`` for an lmer fit.

    R equivalent: ``lmerTest::contest(m, L, joint = TRUE, ddf = "Satterthwaite")``.

    Parameters
    ----------
    m : an lmer fit (REML for ``ddf="Kenward-Roger"``)
    L : one contrast (a vector or Series over the fixed effects), several (a matrix, rows = contrasts)
        or a DataFrame whose columns are the fixed-effect names (in any order; its index names the rows).
        R's list of contrast matrices (``collect = TRUE``) is not taken: call ``contest`` per matrix.
    joint : ``True``: one F test of all rows (contestMD); ``False``: a t test per row (contest1D)
    ddf : "Satterthwaite" or "Kenward-Roger"
    rhs : the hypothesised value of each row of ``L beta``
    confint, level : the Wald interval (``joint=False``) with the test's df
    eps : directions of ``L`` with eigenvalue (of ``L V L'``) at most ``eps`` times the largest are
        dropped from the joint F test, as lmerTest's ``contestMD`` (default ``sqrt(.Machine$double.eps)``)

    Returns
    -------
    ContestTable
        ``joint=True``: ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)`` (row ``"1"``); ``joint=False``:
        ``Estimate, Std. Error, df, t value, [lower, upper,] Pr(>|t|)``, rows named by ``L``'s row names or
        ``"1", "2", ...``.  Prints as R's data frame.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(float(contest(m, [0, 1], joint=False)["t value"].iloc[0]), 4)
    6.7715
    """
    require_lmertest_model(m, "contest")
    method = normalise_ddf(ddf)
    if method == "lme4":
        raise ValueError("contest(ddf='lme4') is not implemented: use 'Satterthwaite' or 'Kenward-Roger'")
    if isinstance(rhs, bool) or not isinstance(rhs, (int, float, np.number)):
        raise DataError(f"contest: rhs must be one number, not {rhs!r}")
    if not (isinstance(level, (int, float, np.number)) and 0 < level < 1):
        raise DataError(f"contest: level must be a number between 0 and 1, not {level!r}")
    Lm, rownames = _as_matrix(m, L, joint)
    rhs = float(rhs)
    if joint:
        row = _contest_md(m, Lm, rhs, method, eps)
        if row is None:
            return ContestTable(columns=ANOVA_COLUMNS, dtype=float)
        return ContestTable([row], index=["1"], columns=ANOVA_COLUMNS, dtype=float)
    if Lm.shape[0] == 0:
        raise DataError("contest(joint=False): L has no rows (lmerTest stops here with 'subscript out of bounds')")
    cols = T_COLUMNS if confint else [c for c in T_COLUMNS if c not in ("lower", "upper")]
    rows = []
    for l in Lm:
        if np.isnan(l).any():
            rows.append([np.nan] * len(cols))
            continue
        est, se, df = _t_row(m, l, method)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = float(np.float64(est - rhs) / np.float64(se))
        p = 2.0 * float(stats.t.sf(abs(t), df)) if not np.isnan([t, df]).any() else np.nan
        if confint:
            fac = float(stats.t.isf((1 - level) / 2, df)) if not np.isnan(df) else np.nan
            rows.append([est, se, df, t, est - se * fac, est + se * fac, p])
        else:
            rows.append([est, se, df, t, p])
    index = rownames if rownames is not None else [str(i + 1) for i in range(len(rows))]
    return ContestTable(rows, index=index, columns=cols, dtype=float)


def show_tests(anova_table: pd.DataFrame, fractions: bool = False, names: bool = True) -> Hypotheses:
    """lmerTest's ``show_tests(anova(m, type))``: the hypothesis matrix of each term of the table.

    R equivalent: ``lmerTest::show_tests(anova(m, type = 1), fractions = FALSE, names = TRUE)``.

    Parameters
    ----------
    anova_table : AnovaTable
        A table returned by ``anova(m)`` / ``anova(m, type=...)`` of an lmer fit (it carries its
        fit and the type).
    fractions : bool, optional
        ``MASS::fractions`` display; only ``False`` (default) is implemented.
    names : bool, optional
        ``True`` (default) keeps lmerTest's row and column names; ``False`` drops them, as R's
        ``unname``.

    Returns
    -------
    Hypotheses
        Term -> DataFrame (the contrast matrix of the term's hypothesis, rows named as lmerTest
        names them, columns the fixed-effect names).

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> show_tests(mc.anova(m, type=1))["Days"].to_numpy().tolist()
    [[0.0, 1.0]]
    """
    if fractions:
        raise NotImplementedError("show_tests(fractions=True) (MASS::fractions) is not implemented; "
                                  "use fractions=False")
    tests = getattr(anova_table, "attrs", {}).get("hypotheses") if isinstance(anova_table, pd.DataFrame) else None
    if tests is None:
        raise TypeError("show_tests: 'object' does not have an 'hypotheses' attribute (give it the table of "
                        "mc.anova(m, type=...) of an lmer fit)")
    out = Hypotheses()
    for term, L in tests.items():
        L = L.copy()
        if not names:
            L = pd.DataFrame(L.to_numpy(), columns=None)
        out[term] = L
    return out
