"""``lmList``: one least-squares fit per group, as lme4's ``lmList`` (class ``lmList4``) and nlme's
``lmList`` (class ``lmList``) -- one implementation of the fits, two R packages' behaviour.

``mc.lmList("y ~ x | g", data, package="lme4" | "nlme")`` splits the rows by the grouping factor
(levels in R's order), fits R's ``lm(y ~ x)`` to each group (model frame with the group's unused
factor levels dropped, R's pivoting QR: aliased columns get ``NA`` coefficients) and keeps the groups
whose fit fails (a factor with one level in the group, no complete row) as all-``NA`` rows, with
R's warning.  What differs between the packages, as in R:

- missing values: nlme applies ``na_action`` to the *whole* data frame first (``"fail"``, nlme's
  default, refuses any ``NA`` in any column; ``"omit"`` drops those rows, and a group left without
  rows disappears); lme4 ignores ``na.action`` (each group's ``lm`` drops its incomplete rows);
- ``sigma()``: lme4's pooled standard deviation, nlme's per-group ``sigma`` of each ``lm``;
- ``confint()`` (lme4's ``confint.lmList4``): each group's own ``confint.lm`` (lme4 reads the pool
  flag from ``object$pool``, which is never set: its pooled branch is reached only with
  ``pool=True`` given to ``confint``); ``intervals()`` (nlme's ``intervals.lmList``): pooled
  standard errors with t quantiles on the pooled df;
- printing: lme4 shows its call, nlme the model and data; ``summary`` is nlme's ``summary.lmList``
  in both (lme4's copy prints the grouping as ``NULL``, which is reproduced).

Known R quirk kept: the pooled residual df counts every coefficient of a group's ``lm``, aliased
(``NA``) ones included (nlme's ``pooledSD``), so a group with fewer rows than coefficients lowers it.

Examples
--------
>>> import mixedcompat as mc
>>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))
>>> fl.coef().shape, round(fl.pooled_sd()[0], 4)
((18, 2), 25.5918)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats as st

from mixedcompat.errors import DataError, FormulaError, RankDeficiencyWarning
from mixedcompat.front.data_input import as_data_frame
from mixedcompat.front.design import model_frame
from mixedcompat.front.formula import FormulaParts, parse_formula
from mixedcompat.front.rlang import Node, binop, is_binop, num, paren, parse
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.rformat import format_number
from mixedcompat.present.lmlist_printing import (format_confint, format_intervals, format_lmlist,
                                                 format_summary)

__all__ = ["lmList", "LmList", "GroupFit", "LmListSummary", "LmListIntervals"]

PACKAGES = ("lme4", "nlme")
# R's error calls of the failures lm can meet in one group (utils::warnErrList's "caught in" text)
_ONE_LEVEL = ("`contrasts<-`(`*tmp*`, value = contr.funs[1 + isOF[nn]])",
              "contrasts can be applied only to factors with 2 or more levels")
_NO_CASES = ("lm.fit(x, y, offset = offset, singular.ok = singular.ok, ...)", "0 (non-NA) cases")


@dataclass(frozen=True)
class GroupFit:
    """R's ``lm`` of one group: coefficients over all the columns of its model matrix (aliased ones
    ``NaN``), the unscaled covariance of the estimated ones, residuals and their df."""

    names: list            # column names of the group's model matrix, R's order
    coef: np.ndarray       # NaN where aliased (R's NA)
    estimated: np.ndarray  # bool: not aliased
    cov_unscaled: np.ndarray   # (X'X)^{-1} of the estimated columns
    residuals: np.ndarray
    fitted: np.ndarray
    df_residual: int

    @property
    def rss(self) -> float:
        return float(self.residuals @ self.residuals)

    @property
    def sigma(self) -> float:
        """``summary(lm)$sigma``: NaN with no residual df (R's 0/0)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.sqrt(self.rss / self.df_residual)) if self.df_residual > 0 else float("nan")

    def std_errors(self) -> np.ndarray:
        """``summary(lm)`` standard errors of the estimated coefficients."""
        return self.sigma * np.sqrt(np.diag(self.cov_unscaled))


def _lm(X: np.ndarray, y: np.ndarray, names: list[str], keep: list[int]) -> GroupFit:
    """Least squares on the columns R's pivoting QR keeps (``keep``: positions in ``names``)."""
    Xk = X
    n, r = Xk.shape
    if r:
        q, rr = np.linalg.qr(Xk)
        beta = np.linalg.solve(rr, q.T @ y)
        rinv = np.linalg.inv(rr)
        cov = rinv @ rinv.T
        fitted = Xk @ beta
        if r == n:      # R's qr.resid: no residual effects, exact zeros (a perfect fit)
            fitted = y.copy()
    else:
        beta, cov, fitted = np.zeros(0), np.zeros((0, 0)), np.zeros(n)
    coef = np.full(len(names), np.nan)
    coef[keep] = beta
    est = np.zeros(len(names), bool)
    est[keep] = True
    return GroupFit(list(names), coef, est, cov, y - fitted, fitted, int(n - r))


def _check_formula(formula: str) -> tuple[FormulaParts, Node, Node, Node]:
    """``y ~ x | g`` -> (parts of ``y ~ x``, response, covariates, grouping expression)."""
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"lmList needs a formula string 'y ~ x | g', not {formula!r}")
    tree = parse(" ".join(formula.split()))
    if not (is_binop(tree, "~") and len(tree.args) == 2):
        raise FormulaError(f"lmList: {formula!r} must be a two-sided formula 'y ~ x | g'")
    lhs, rhs = tree.args
    if is_binop(rhs, "||"):
        raise FormulaError(f"lmList: {formula!r}: use a single bar, 'y ~ x | g'")
    if not is_binop(rhs, "|"):
        raise FormulaError(f"lmList: {formula!r} has no grouping factor: write it as 'y ~ x | g' "
                           "(nlme's groupedData is not used: the groups are given in the formula)")
    covariates, group = rhs.args
    if is_binop(group, "/"):
        raise FormulaError(f"lmList: nested grouping {group.deparse()!r} in {formula!r} is not supported: "
                           "give one grouping factor (or an interaction a:b)")
    parts = parse_formula(binop("~", lhs, covariates))
    if parts.re_terms:
        raise FormulaError(f"lmList: {formula!r}: the covariates of 'y ~ x | g' cannot hold random-effect terms")
    return parts, lhs, covariates, group


def _groups(data: pd.DataFrame, group: Node) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The grouping factor on the rows where it is not missing: (rows, codes, level labels in R's order)."""
    tmp = data.copy()
    tmp["lmList.y."] = 0.0
    try:
        parts = parse_formula(binop("~", parse("lmList.y."), binop("+", num(1), paren(binop("|", num(1), group)))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mf = model_frame(parts, tmp, na_action="omit")
    except (FormulaError, DataError) as exc:
        raise FormulaError(f"lmList: grouping factor {group.deparse()!r}: {exc}") from None
    codes, labels = mf.re_groups[0]
    return np.asarray(mf.rows), np.asarray(codes), [str(x) for x in labels]


def _fit_group(parts: FormulaParts, sub: pd.DataFrame) -> GroupFit | tuple[str, str]:
    """R's ``lm`` on one group's rows, or R's (call, message) of the error it meets."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RankDeficiencyWarning)
            mf = model_frame(parts, sub, na_action="omit")
    except (DataError, FormulaError, ValueError) as exc:
        msg = str(exc)
        if msg.startswith(_ONE_LEVEL[1]):
            return _ONE_LEVEL
        if msg.startswith(_NO_CASES[1]):
            return _NO_CASES
        raise
    spec = mf.fixed_spec
    names = list(spec.colnames)
    keep = [int(i) for i in spec.keep]
    # the kept columns in R's order (dqrdc2 only moves aliased columns to the end)
    order = np.argsort(keep)
    keep_sorted = [keep[i] for i in order]
    X = np.asarray(mf.X, float)[:, order]
    return _lm(X, np.asarray(mf.y, float), names, keep_sorted)


def _warning_text(errors: list[tuple[str, str]]) -> str:
    """utils::warnErrList's message for the groups whose fit failed."""
    msgs = pd.Series([m for _, m in errors]).value_counts()
    call = errors[0][0]
    if len(msgs) == 1:
        k = int(msgs.iloc[0])
        what = "error caught in" if k == 1 else "times caught the same error in"
        return f"{k} {what} {call}: {msgs.index[0]}"
    counts = msgs.sort_values(kind="stable")
    head = f"{int(counts.sum())} errors caught in {call}.  The error messages and their frequencies are"
    return "\n".join([head] + [f"{m}: {int(c)}" for m, c in counts.items()])


def _lme4_warning(errors: list[tuple[str, str]]) -> str:
    msg = _warning_text(errors)
    if "contrasts" in msg and " 2 " in msg:
        tail = msg[msg.rfind(":") + 1:]
        return (f"Fitting failed for {len(errors)} group(s), probably because a factor only had one level:\n "
                f"{tail}")
    return msg


class LmList(HtmlRepr):
    """Per-group ``lm`` fits (see :func:`lmList`): lme4's ``lmList4`` or nlme's ``lmList``.

    Attributes
    ----------
    package : {"lme4", "nlme"}
    formula : str
    groups : list of str
        The group labels in R's order (the rows of :meth:`coef`).
    fits : dict
        Label -> :class:`GroupFit`, or ``None`` for a group whose fit failed.
    pool : bool
    warnings : list of str
        R's warnings of the fit.
    """

    #: R's S3 dispatch of ``confint`` (:func:`mixedcompat.confint`) to :meth:`confint`
    is_lmlist = True

    def __init__(self, package: str, formula: str, data_name: str, groups: list[str], fits: dict,
                 pool: bool, warning_texts: list[str], group_name: str, na_action: str | None = None):
        self.package = package
        self.formula = formula
        self.data_name = data_name
        self.groups = groups
        self.fits = fits
        self.pool = pool
        self.warnings = warning_texts
        self.group_name = group_name
        self.na_action = na_action

    def __repr__(self) -> str:
        return format_lmlist(self)

    __str__ = __repr__

    # ------------------------------------------------------------------ coefficients
    def coef_names(self) -> list[str]:
        """The union of the groups' coefficient names, in order of first appearance (nlme's ``coef``)."""
        out: list[str] = []
        for f in self.fits.values():
            if f is not None:
                out += [n for n in f.names if n not in out]
        return out

    def coef(self) -> pd.DataFrame:
        """Coefficients: one row per group (R's order), NaN where R has NA (aliased or failed fit).

        Examples
        --------
        >>> import mixedcompat as mc
        >>> fl = mc.lmList("distance ~ age | Subject", mc.datasets.load("Orthodont"), package="nlme")
        >>> fl.coef().columns.tolist()
        ['(Intercept)', 'age']
        """
        names = self.coef_names()
        out = np.full((len(self.groups), len(names)), np.nan)
        for i, g in enumerate(self.groups):
            f = self.fits[g]
            if f is not None:
                for j, n in enumerate(f.names):
                    out[i, names.index(n)] = f.coef[j]
        return pd.DataFrame(out, index=list(self.groups), columns=names)

    def fixef(self) -> pd.Series:
        """Column means of :meth:`coef`, NA removed (``fixef.lmList`` / ``fixef.lmList4``).

        Examples
        --------
        >>> import mixedcompat as mc
        >>> mc.fixef(mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))).round(3).tolist()
        [251.405, 10.467]
        """
        return self.coef().mean(axis=0, skipna=True)

    def ranef(self) -> pd.DataFrame:
        """:meth:`coef` minus its column means (nlme's ``ranef.lmList``, ``standard = FALSE``).

        Examples
        --------
        >>> import mixedcompat as mc
        >>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"), package="nlme")
        >>> abs(float(fl.ranef()["Days"].sum())) < 1e-9
        True
        """
        c = self.coef()
        return c - c.mean(axis=0, skipna=True)

    # ------------------------------------------------------------------ pooled scale
    def pooled_sd(self) -> tuple[float, int]:
        """nlme's / lme4's ``pooledSD``: (sqrt(sum RSS / sum df), df), df = rows minus *all*
        coefficients of each group's fit (aliased ones too, as R counts them).

        Examples
        --------
        >>> import mixedcompat as mc
        >>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))
        >>> fl.pooled_sd()[1]
        144
        """
        rss = sum(f.rss for f in self.fits.values() if f is not None)
        df = sum(len(f.residuals) - len(f.names) for f in self.fits.values() if f is not None)
        if df == 0:     # R's words (lme4's copy of pooledSD capitalises them)
            raise DataError(f"{'No' if self.package == 'lme4' else 'no'} degrees of freedom for estimating std. dev.")
        with np.errstate(invalid="ignore"):
            return float(np.sqrt(rss / df)), int(df)

    def n_fitted(self) -> int:
        return int(sum(len(f.fitted) for f in self.fits.values() if f is not None))

    def sigma(self):
        """lme4: the pooled standard deviation (float); nlme: each group's ``sigma`` (Series).

        Examples
        --------
        >>> import mixedcompat as mc
        >>> round(mc.sigma(mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))), 4)
        25.5918
        """
        if self.package == "lme4":
            return self.pooled_sd()[0]
        failed = [g for g in self.groups if self.fits[g] is None]
        if failed:     # nlme: vapply(object, sigma, 1) fails on a group without a fit
            raise DataError(f"sigma of nlme's lmList needs a fit in every group; the fit of group(s) "
                            f"{', '.join(failed)} failed (R: 'values must be length 1')")
        return pd.Series([np.nan if self.fits[g] is None else self.fits[g].sigma for g in self.groups],
                         index=list(self.groups))

    # ------------------------------------------------------------------ summary, intervals
    def summary(self, pool: bool | None = None) -> "LmListSummary":
        """nlme's ``summary.lmList`` (lme4 uses the same): per coefficient, a table of Estimate,
        Std. Error, t value, Pr(>|t|) by group; pooled standard errors when ``pool``.

        Examples
        --------
        >>> import mixedcompat as mc
        >>> s = mc.summary(mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy")))
        >>> s.coefficients["Days"].columns.tolist()
        ['Estimate', 'Std. Error', 't value', 'Pr(>|t|)']
        """
        return LmListSummary(self, self.pool if pool is None else bool(pool))

    def intervals(self, level: float = 0.95, pool: bool | None = None, which: str = "all") -> "LmListIntervals":
        """nlme's ``intervals.lmList``: estimate -/+ ``sqrt(qf(level, 1, df))`` standard errors of
        :meth:`summary` (pooled by default); ``which`` (lme's) is not used, as in nlme.

        Examples
        --------
        >>> import mixedcompat as mc
        >>> fl = mc.lmList("distance ~ age | Subject", mc.datasets.load("Orthodont"), package="nlme")
        >>> fl.intervals()["age"].columns.tolist()
        ['lower', 'est.', 'upper']
        """
        _check_level(level)
        s = self.summary(pool)
        if s.df_residual is None:
            raise DataError("intervals of an lmList without pooling need each group's df: use pool=True")
        mult = float(np.sqrt(st.f.ppf(level, 1, s.df_residual)))
        out = {}
        for name, tab in s.coefficients.items():
            est = tab["Estimate"].to_numpy()
            se = tab["Std. Error"].to_numpy()
            out[name] = pd.DataFrame({"lower": est - mult * se, "est.": est, "upper": est + mult * se},
                                     index=tab.index)
        na = {}
        for name in out:      # NA where the estimate or the standard error is NA (R's NA arithmetic)
            est_na = s.na[name][:, 0]         # R: NA - NaN is NA; a finite estimate with a NaN SE gives NaN
            na[name] = np.column_stack([est_na, est_na, est_na])
        return LmListIntervals(out, na, "intervals")

    def confint(self, level: float = 0.95, pool: bool = False) -> "LmListIntervals":
        """lme4's ``confint.lmList4``: each group's ``confint.lm`` (its own sigma and df; NaN with no
        residual df) -- or, with ``pool=True``, pooled standard errors with the pooled df.

        Examples
        --------
        >>> import mixedcompat as mc
        >>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))
        >>> mc.confint(fl)["Days"].columns.tolist()
        ['2.5 %', '97.5 %']
        """
        _check_level(level)
        names = self.coef_names()
        a = (1 - level) / 2
        labels = [_pct(a), _pct(1 - a)]
        lo = np.full((len(self.groups), len(names)), np.nan)
        hi = lo.copy()
        na = np.zeros_like(lo, bool)
        if pool:
            sd, df = self.pooled_sd()
            fac = sd * st.t.ppf([a, 1 - a], df)
        for i, g in enumerate(self.groups):
            f = self.fits[g]
            if f is None:
                na[i] = True
                continue
            se_all = np.sqrt(np.diag(f.cov_unscaled))
            if not pool:
                with np.errstate(invalid="ignore"):
                    q = st.t.ppf(1 - a, f.df_residual) if f.df_residual > 0 else np.nan
                fac_g = np.array([-q, q]) * f.sigma
            for j, n in enumerate(names):
                if n not in f.names:
                    na[i, j] = True
                    continue
                k = f.names.index(n)
                if not f.estimated[k]:
                    na[i, j] = True
                    continue
                se = se_all[int(np.sum(f.estimated[:k]))]
                if pool:
                    lo[i, j], hi[i, j] = f.coef[k] + se * fac
                else:
                    lo[i, j], hi[i, j] = f.coef[k] + se * fac_g
        out = {n: pd.DataFrame({labels[0]: lo[:, j], labels[1]: hi[:, j]}, index=list(self.groups))
               for j, n in enumerate(names)}
        nas = {n: np.column_stack([na[:, j], na[:, j]]) for j, n in enumerate(names)}
        return LmListIntervals(out, nas, "confint")


def _pct(p: float) -> str:
    """R's ``format_perc``: ``paste(format(100 * p, trim = TRUE, digits = 3), "%")``."""
    return f"{format_number(100 * p, digits=3).strip()} %"


def _check_level(level: float) -> None:
    if not isinstance(level, (int, float)) or not 0 < level < 1:
        raise DataError(f"level must be a number in (0, 1), not {level!r}")


class LmListSummary(HtmlRepr):
    """nlme's ``summary.lmList``: ``coefficients`` is a dict coefficient name -> DataFrame (rows: groups;
    columns ``Estimate``, ``Std. Error``, ``t value``, ``Pr(>|t|)``) -- R's 3-d array
    ``coef(summary(x))[, , name]``; ``RSE`` and ``df_residual`` the pooled scale (when pooled).
    ``na[name]`` marks the cells that are R's ``NA`` (the others that are NaN print as ``NaN``)."""

    def __init__(self, fl: LmList, pool: bool):
        self.model = fl
        self.pool = pool
        names: list[str] = []     # R: the coefficient rows of the groups' summary(lm), aliased ones absent
        for f in fl.fits.values():
            if f is not None:
                names += [n for n, e in zip(f.names, f.estimated) if e and n not in names]
        G = len(fl.groups)
        vals = np.full((len(names), G, 4), np.nan)
        na = np.ones((len(names), G, 4), bool)
        if pool:
            rse, dfres = fl.pooled_sd()
        self.RSE = rse if pool else None
        self.df_residual = dfres if pool else None
        for i, g in enumerate(fl.groups):
            f = fl.fits[g]
            if f is None:
                continue
            sig = f.sigma
            se_est = f.std_errors()
            with np.errstate(invalid="ignore", divide="ignore"):
                t_est = f.coef[f.estimated] / se_est
                p_est = 2 * st.t.sf(np.abs(t_est), f.df_residual) if f.df_residual > 0 else np.full_like(t_est, np.nan)
                cor = rse / sig if pool else 1.0
            for j, n in enumerate(names):
                if n not in f.names:
                    # R: NA estimate; NA * corRSE is NaN when corRSE is NaN
                    if pool and np.isnan(cor):
                        na[j, i, 1] = False
                    continue
                k = f.names.index(n)
                if not f.estimated[k]:
                    if pool and np.isnan(cor):
                        na[j, i, 1] = False
                    continue
                e = int(np.sum(f.estimated[:k]))
                with np.errstate(invalid="ignore", divide="ignore"):
                    se = se_est[e] * cor if pool else se_est[e]
                    t = t_est[e] / cor if pool else t_est[e]
                    p = 2 * st.t.sf(np.abs(t), dfres) if pool else p_est[e]
                vals[j, i] = [f.coef[k], se, t, p]
                na[j, i] = False
        cols = ["Estimate", "Std. Error", "t value", "Pr(>|t|)"]
        self.coefficients = {n: pd.DataFrame(vals[j], index=list(fl.groups), columns=cols)
                             for j, n in enumerate(names)}
        self.na = {n: na[j] for j, n in enumerate(names)}

    def __str__(self) -> str:
        return format_summary(self)

    __repr__ = __str__


class LmListIntervals(HtmlRepr, dict):
    """nlme's ``intervals.lmList`` / lme4's ``confint.lmList4``: dict coefficient name -> DataFrame
    (rows: groups); ``str()`` prints R's 3-d array.  ``na[name]`` marks R's ``NA`` cells."""

    def __init__(self, tables: dict, na: dict, kind: str):
        super().__init__(tables)
        self.na = na
        self.kind = kind

    def __str__(self) -> str:
        return format_confint(self) if self.kind == "confint" else format_intervals(self)

    __repr__ = __str__


def lmList(formula: str, data: pd.DataFrame, package: str = "lme4", pool: bool = True,
           na_action: str | None = None) -> LmList:
    """Per-group linear fits as lme4's / nlme's ``lmList(y ~ x | g, data)``.

    R equivalent: ``lme4::lmList(Reaction ~ Days | Subject, sleepstudy)``, ``nlme::lmList(...)``.

    Parameters
    ----------
    formula : str
        ``"y ~ x | g"``: the model of each group's ``lm`` and the grouping factor (a column, or an
        interaction ``a:b``); nlme's groupedData is not needed (nor used).
    data : pandas.DataFrame
    package : {"lme4", "nlme"}
        Whose ``lmList`` to reproduce: lme4's (class ``lmList4``, the default) or nlme's
        (class ``lmList``): they differ in missing values, ``sigma``, ``confint`` and printing
        (module docstring).
    pool : bool
        Pool the residual variance across groups in ``summary`` / ``intervals`` / the printout.
    na_action : {"fail", "omit"}, optional
        nlme: applied to the whole data first (default ``"fail"``, nlme's ``na.fail``).  lme4
        ignores ``na.action`` (its groups' ``lm`` drop incomplete rows): accepted and ignored.

    Returns
    -------
    LmList

    Raises
    ------
    FormulaError
        A formula without ``| g``, an unknown variable.
    DataError
        Missing values with nlme's ``na_action="fail"``; an unknown ``package``.

    Warns
    -----
    UserWarning
        R's warning when the fit of some groups fails (their coefficients are NA).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))
    >>> fl.coef().loc["308"].round(3).tolist()
    [244.193, 21.765]
    """
    if package not in PACKAGES:
        raise DataError(f"package must be 'lme4' or 'nlme', not {package!r}")
    if na_action not in (None, "fail", "omit", "na.fail", "na.omit", "exclude", "na.exclude"):
        raise DataError(f"na_action must be 'fail' or 'omit', not {na_action!r}")
    data = as_data_frame(data)
    name = str(data.attrs.get("name", "data"))
    parts, _lhs, _cov, group = _check_formula(formula)
    if package == "nlme":
        act = "fail" if na_action is None else na_action.replace("na.", "")
        miss = data.isna().any(axis=1).to_numpy()
        if miss.any():
            if act == "fail":
                cols = [c for c in data.columns if data[c].isna().any()]
                raise DataError(f"missing values in object (nlme's na.fail on the whole data: columns "
                                f"{', '.join(map(str, cols))}); use na_action='omit'")
            data = data.loc[~miss]
    rows, codes, labels = _groups(data, group)
    # validate the variables once on the whole data (an unknown column is the user's error, not a group's)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model_frame(parts, data, na_action="omit")
        except FormulaError:
            raise
        except DataError:
            pass
    fits: dict = {}
    errors: list = []
    present = sorted(set(codes.tolist()))
    for c in present:
        sub = data.iloc[rows[codes == c]]
        res = _fit_group(parts, sub)
        if isinstance(res, tuple):
            fits[labels[c]] = None
            errors.append(res)
        else:
            fits[labels[c]] = res
    groups = [labels[c] for c in present]
    texts = []
    if errors:
        texts.append(_lme4_warning(errors) if package == "lme4" else _warning_text(errors))
        for t in texts:
            warnings.warn(t, UserWarning, stacklevel=2)
    return LmList(package, " ".join(formula.split()), name, groups, fits, bool(pool), texts, group.deparse(),
                  na_action)
