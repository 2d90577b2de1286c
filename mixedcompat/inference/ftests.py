"""F tests and t tests of the fixed effects of lmer fits, as lmerTest's ``anova`` and ``summary``.

The contrasts are lmerTest's (:mod:`.anova_contrasts`: types I, II and III); the denominator df are
Satterthwaite's (:mod:`.satterthwaite`) or Kenward-Roger's (:mod:`.kenward_roger`).  Where pbkrtest
stops, lmerTest warns ("Unable to compute Kenward-Roger F-test: using Satterthwaite instead", or
"... t-test ..." in ``summary``) and uses Satterthwaite's df: so do we, with the same words, as
:class:`KenwardRogerFallbackWarning`.  ``Mean Sq`` is the unscaled F times sigma^2 (with
Kenward-Roger the F before pbkrtest's ``F.scaling``, so ``Sum Sq`` can be negative, as lmerTest's).
Terms left without contrast rows (aliased) are listed last with NAs, as lmerTest lists them.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from mixedcompat.errors import KenwardRogerFallbackWarning
from mixedcompat.front.terms import drop_scope
from mixedcompat.inference.anova_contrasts import term_columns, contrasts_drop1, contrasts_type1, contrasts_type2, contrasts_type3
from mixedcompat.inference.kenward_roger import kr_ftest, kr_ttest
from mixedcompat.numerics.rlinalg import RLinAlgError
from mixedcompat.present.lme4_printing import deparse_formula, format_fixef_table
from mixedcompat.present.tables import AnovaTable
from mixedcompat.model import require_rows
from mixedcompat.inference.satterthwaite import contest_1d, contest_md, satterthwaite_state

__all__ = ["anova_table", "coef_table", "normalise_ddf", "contrasts_type1", "contrasts_type2", "contrasts_type3",
           "KenwardRogerFallbackWarning"]

ANOVA_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
COEF_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
KR_F_FALLBACK = "Unable to compute Kenward-Roger F-test: using Satterthwaite instead"
KR_T_FALLBACK = "Unable to compute Kenward-Roger t-test: using Satterthwaite instead"


def normalise_ddf(ddf: str) -> str:
    """lmerTest's name of a denominator-df method from the spellings we accept.

    Examples
    --------
    >>> normalise_ddf("kenward_roger"), normalise_ddf("satt")
    ('Kenward-Roger', 'Satterthwaite')
    """
    key = str(ddf).lower().replace("-", "").replace("_", "").replace(" ", "")
    if key in ("satterthwaite", "satt"):
        return "Satterthwaite"
    if key in ("kenwardroger", "kr"):
        return "Kenward-Roger"
    if key == "lme4":
        return "lme4"
    raise ValueError(f"ddf={ddf!r}: use 'Satterthwaite', 'Kenward-Roger' or 'lme4'")


_TYPES = {"1": 1, "I": 1, "2": 2, "II": 2, "3": 3, "III": 3}


def _test_term(m, L: np.ndarray, method: str) -> dict | None:
    """lmerTest's ``contestMD`` for one term (``None``: no rows to test)."""
    if L.shape[0] == 0:
        return None
    if np.any(np.isnan(L)):
        return {"F": np.nan, "F value": np.nan, "NumDF": np.nan, "DenDF": np.nan, "Pr(>F)": np.nan}
    if method == "Kenward-Roger":
        try:
            return kr_ftest(m, L)
        except RLinAlgError:
            warnings.warn(KR_F_FALLBACK, KenwardRogerFallbackWarning, stacklevel=4)
    return contest_md(satterthwaite_state(m), L)


def anova_table(m, type: int | str = 3, ddf: str = "Satterthwaite") -> AnovaTable:  # noqa: A002
    """lmerTest's ``anova(m, type, ddf)``: one row per fixed term.

    Columns ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)`` with ``Mean Sq = F sigma^2`` (F before
    Kenward-Roger's scaling) and ``Sum Sq = Mean Sq NumDF``, as lmerTest.  An
    :class:`~mixedcompat.present.tables.AnovaTable`: ``str()`` is lmerTest's printed table.

    Parameters
    ----------
    type : 1, 2, 3 or "I", "II", "III"
    ddf : "Satterthwaite" or "Kenward-Roger"

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(float(anova_table(m, type=3, ddf="Satterthwaite").loc["Days", "DenDF"]), 3)
    17.0
    """
    require_rows(m, "anova")
    method = normalise_ddf(ddf)
    if method == "lme4":
        raise NotImplementedError("anova(m, ddf='lme4') (F values without df) is not implemented")
    kind = _TYPES.get(str(type).upper())
    if kind is None:
        raise ValueError(f"type={type!r}: use 1, 2 or 3 (or 'I', 'II', 'III')")
    if method == "Kenward-Roger" and not m.REML:
        raise ValueError("Kenward-Roger's method is only available for REML model fits")
    row_names: dict = {}
    Ls = contrasts_type3(m, row_names) if kind == 3 else {1: contrasts_type1, 2: contrasts_type2}[kind](m)
    sigma2 = float(m.sigma()) ** 2
    rows, missing = {}, []
    for term in m.frame.x_terms:
        L = Ls.get(term)
        res = None if L is None else _test_term(m, L, method)
        if res is None:
            if L is not None:
                missing.append(term)
            continue
        ms = res["F"] * sigma2
        rows[term] = [ms * res["NumDF"], ms, res["NumDF"], res["DenDF"], res["F value"], res["Pr(>F)"]]
    for term in missing:
        rows[term] = [np.nan] * 6
    out = AnovaTable.from_dict(rows, orient="index", columns=ANOVA_COLUMNS)
    if out.empty:
        out = AnovaTable(columns=ANOVA_COLUMNS, dtype=float)
    elif not out["NumDF"].isna().any():
        out["NumDF"] = out["NumDF"].astype(int)
    what = {"Satterthwaite": "Satterthwaite's", "Kenward-Roger": "Kenward-Roger's"}[method]
    out.attrs["hypotheses"] = _hypotheses(m, Ls, row_names)
    out.attrs["heading"] = f"Type {'I' * kind} Analysis of Variance Table with {what} method"
    return out


def _hypotheses(m, Ls: dict, row_names: dict) -> dict:
    """lmerTest's ``attr(table, "hypotheses")``: term -> its L as a DataFrame (rows named by the term's
    columns, or by the treatment-coded columns of type III), for ``show_tests``."""
    names = [str(n) for n in m.frame.x_names]
    cols = term_columns(m)
    out = {}
    for term in m.frame.x_terms:
        L = Ls.get(term)
        if L is None:
            continue
        rows = row_names.get(term, [names[i] for i in cols[term]])
        index = rows if len(rows) == L.shape[0] else pd.RangeIndex(L.shape[0])
        out[term] = pd.DataFrame(np.asarray(L, dtype=float).reshape(-1, len(names)), index=index, columns=names)
    return out


def coef_table(m, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """lmerTest's ``summary(m, ddf)$coefficients``: Estimate, Std. Error, df, t value, Pr(>|t|).

    With Kenward-Roger the standard errors come from the adjusted covariance matrix (pbkrtest's
    ``vcovAdj``) and the df from ``Lb_ddf``, as lmerTest; where pbkrtest stops, lmerTest's warning
    and Satterthwaite's row.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(float(coef_table(m, "Satterthwaite").loc["Days", "df"]), 3)
    17.0
    """
    method = normalise_ddf(ddf)
    names = list(m.frame.x_names)
    p = len(names)
    if method == "lme4":
        return format_fixef_table(m)
    if method == "Kenward-Roger" and not m.REML:
        raise ValueError("Kenward-Roger's method is only available for REML model fits")
    beta = np.asarray(m.beta, dtype=float)
    rows = []
    for i in range(p):
        L = np.zeros(p)
        L[i] = 1.0
        if method == "Kenward-Roger":
            try:
                var, df = kr_ttest(m, L)
                se = float(np.sqrt(var)) if var >= 0 else np.nan
                with np.errstate(divide="ignore", invalid="ignore"):
                    t = float(np.float64(beta[i]) / se)
                pv = 2.0 * float(stats.t.sf(abs(t), df)) if not (np.isnan(t) or np.isnan(df)) else np.nan
                rows.append([beta[i], se, df, t, pv])
                continue
            except RLinAlgError:
                warnings.warn(KR_T_FALLBACK, KenwardRogerFallbackWarning, stacklevel=3)
        r = contest_1d(satterthwaite_state(m), L)
        rows.append([r[c] for c in COEF_COLUMNS])
    return pd.DataFrame(rows, index=names, columns=COEF_COLUMNS, dtype=float)


def drop1_ftable(m, ddf: str = "Satterthwaite") -> AnovaTable:
    """lmerTest's ``drop1``: F tests (Satterthwaite or Kenward-Roger) of dropping each fixed-effect
    term that is not contained in another one (R's ``drop.scope``), as single term deletions.

    The hypotheses are lmerTest's (:func:`.anova_contrasts.contrasts_drop1`); a term whose removal
    does not change the model (aliased columns) gets a row of NAs, as in R.

    Examples
    --------
    >>> m = mc.lmer("distance ~ age * Sex + (1 | Subject)", mc.datasets.load("Orthodont"))
    >>> drop1_ftable(m).index.tolist()
    ['age:Sex']
    """
    require_rows(m, "drop1")
    method = normalise_ddf(ddf)
    if method == "Kenward-Roger" and not m.REML:
        raise ValueError("Kenward-Roger's method is only available for REML model fits")
    scope = drop_scope(m.frame.fixed_spec.structure)
    Ls = contrasts_drop1(m, scope)
    sigma2 = float(m.sigma()) ** 2
    rows = {}
    for term in scope:
        res = _test_term(m, Ls[term], method)
        if res is None:
            continue
        ms = res["F"] * sigma2
        rows[term] = [ms * res["NumDF"], ms, res["NumDF"], res["DenDF"], res["F value"], res["Pr(>F)"]]
    out = AnovaTable.from_dict(rows, orient="index", columns=ANOVA_COLUMNS)
    if out.empty:
        out = AnovaTable(columns=ANOVA_COLUMNS, dtype=float)
    elif not out["NumDF"].isna().any():
        out["NumDF"] = out["NumDF"].astype(int)
    out.attrs["heading"] = [f"Single term deletions using {method}'s method:", "\nModel:",
                            deparse_formula(m.parts.tree)]
    return out


def sequential_ss_table(m) -> AnovaTable:
    """lme4's ``anova()`` of a single glmer fit (``anova.merMod`` without further models): per
    fixed-effect term, ``npar``, ``Sum Sq`` = the sum over its columns of ``(R_X beta)^2`` (``R_X`` the
    upper Cholesky factor of the fit's last PIRLS system, lme4's ``pp$RX()``), ``Mean Sq`` = ``Sum Sq /
    npar`` and ``F value`` = ``Mean Sq / sigma^2``; the intercept's row is left out.  No p-values,
    as lme4.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")      # doctest: +SKIP
    >>> sequential_ss_table(m).loc["period", "npar"]                    # doctest: +SKIP
    3.0
    """
    unsc = np.asarray(m._vcov_unscaled, dtype=float)
    p = unsc.shape[0]
    if p == 0:
        tab = AnovaTable({"npar": [], "Sum Sq": [], "Mean Sq": [], "F value": []})
        tab.attrs["heading"] = "Analysis of Variance Table"
        return tab
    RX = np.linalg.cholesky(np.linalg.inv(unsc)).T              # upper: RX' RX = (unsc)^-1
    ss = (RX @ np.asarray(m.beta, dtype=float)) ** 2
    asgn = np.asarray(m.frame.x_assign)
    keys = list(dict.fromkeys(asgn.tolist()))                  # R's split(): sorted codes
    keys.sort()
    labels = list(m.frame.x_terms)
    names, npar, sums = [], [], []
    for a in keys:
        sel = asgn == a
        names.append("(Intercept)" if a == 0 else labels[a - 1])
        npar.append(float(sel.sum()))
        sums.append(float(ss[sel].sum()))
    npar_a, ss_a = np.array(npar), np.array(sums)
    ms = ss_a / npar_a
    tab = AnovaTable({"npar": npar_a, "Sum Sq": ss_a, "Mean Sq": ms, "F value": ms / m.sigma() ** 2}, index=names)
    if "(Intercept)" in names:
        tab = tab.drop(index="(Intercept)")
    tab.attrs["heading"] = "Analysis of Variance Table"
    return tab
