"""Likelihood-ratio tables for lmer fits: lme4's ``anova(m0, m1, ...)`` and ``drop1.merMod``, lmerTest's ``ranova``.

All three return an :class:`AnovaTable` (a pandas DataFrame with R's row names and column names that
prints as R's ``print.anova``).  Conditions R reports:

* lme4's ``message("refitting model(s) with ML (instead of REML)")`` is a :class:`RefitMLWarning`
  (a ``UserWarning``), so ``warnings.simplefilter`` / ``pytest.warns`` see it;
* lme4's ``warning("some models fit with REML = TRUE, some not")`` is a ``UserWarning``;
* ``stop("models were not all fitted to the same size of dataset")`` and the other refusals are
  :class:`mixedcompat.DataError`.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mixedcompat.errors import DataError, FormulaError, SingularFitWarning
from mixedcompat.front.formula import RETerm, parse_formula
from mixedcompat.front.rlang import Node, binop, num, sym
from mixedcompat.front.terms import drop_scope, rhs_of_terms, rhs_terms, term_node
from mixedcompat.inference.linear_model import lm_from
from mixedcompat.lme4.fit import update
from mixedcompat.present.lme4_printing import deparse_formula
from mixedcompat.present.tables import AnovaTable

__all__ = ["AnovaTable", "RefitMLWarning", "anova_lrt", "ranova", "drop1", "refit_ml", "lm_loglik",
           "REFIT_MESSAGE", "MIXED_REML_WARNING", "SIZE_ERROR", "REML_FIXED_WARNING"]

REFIT_MESSAGE = "refitting model(s) with ML (instead of REML)"
MIXED_REML_WARNING = "some models fit with REML = TRUE, some not"
SIZE_ERROR = "models were not all fitted to the same size of dataset"
DATA_ERROR = "all models must be fit to the same data object"
SUBSET_ERROR = "all models must use the same subset"
ROWS_CHANGED_ERROR = "number of rows in use has changed: remove missing values?"
REML_FIXED_WARNING = ("REML fits with different fixed effects compared with refit=False: their REML "
                      "criteria are not comparable (use refit=True to compare ML fits)")
_LMER_ARGS = ("formula", "data", "REML", "weights", "offset", "subset", "na_action", "contrasts", "control")


class RefitMLWarning(UserWarning):
    """lme4's note that REML fits were refitted by maximum likelihood before an LRT."""


# ------------------------------------------------------------------------------------------------
# anova(m0, m1, ...)

def anova_lrt(*models: Any, refit: bool = True, model_names: Sequence[str] | None = None,
              **named_models: Any) -> AnovaTable:
    """lme4's ``anova(m0, m1, ..., refit = TRUE)``: likelihood-ratio tests between nested fits.

    Parameters
    ----------
    *models : LmerMod
        Two or more fits to the same data.
    refit : bool
        Refit REML fits by maximum likelihood first (lme4's default).  As lme4 1.1-31: when *any*
        model is a REML fit, every REML fit is refitted (ML fits are used as they are) and a
        :class:`RefitMLWarning` ``"refitting model(s) with ML (instead of REML)"`` is issued.  The
        refit starts from the REML theta, as lme4's ``refitML``.
    model_names : list of str, optional
        Row labels, one per model in argument order (R's ``model.names``).
    **named_models : LmerMod
        Models passed by keyword: the keyword is the label (``anova_lrt(fm1=m1, fm2=m2)``), as R
        labels rows with the argument expressions.

    Labels: ``model_names`` if given, else the keyword of a keyword model, else ``m0, m1, ...``
    (the position among all models passed).  Duplicated labels are replaced by ``MODEL1, MODEL2,
    ...`` with lme4's warning ``"failed to find model names, assigning generic names"``.

    Returns
    -------
    AnovaTable
        Columns ``npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)``; rows sorted by npar
        (stable: ties keep argument order).  ``Chisq = 2 max(0, logLik - previous logLik)``,
        ``Df`` the difference in npar, p-value NaN (R's NA) where ``Df == 0``.

    Raises
    ------
    DataError
        ``"models were not all fitted to the same size of dataset"`` (different nobs, as lme4),
        ``"all models must be fit to the same data object"``, ``"all models must use the same
        subset"``, and (stricter than lme4, which cannot see it) models that used different rows
        of the same data.

    Warns
    -----
    RefitMLWarning
        REML fits refitted with ML.
    UserWarning
        ``refit=False`` with REML and ML fits mixed (lme4's warning); ``refit=False`` with REML
        fits whose fixed effects differ (not in lme4, which silently compares incomparable REML
        criteria).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> d = mc.datasets.load("sleepstudy")
    >>> m0 = mc.lmer("Reaction ~ Days + (1 | Subject)", d)
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    >>> tab = anova_lrt(m0, m1)            # doctest: +SKIP
    >>> round(tab.loc["m1", "Chisq"], 3)   # doctest: +SKIP
    42.139
    """
    mods = list(models) + list(named_models.values())
    if len(mods) < 2:
        raise TypeError("anova_lrt() needs at least two fitted models")
    for i, m in enumerate(mods):
        if not hasattr(m, "logLik") or not hasattr(m, "REML"):
            raise TypeError(f"anova: argument {i + 1} is a {type(m).__name__}, not a fitted lmer model")
    labels = model_labels(len(models), list(named_models), model_names)
    nobs = [int(m.nobs()) for m in mods]
    if len(set(nobs)) > 1:
        raise DataError(SIZE_ERROR)
    mods = comparable_fits(mods, refit)
    lls = [m.logLik() for m in mods]
    npar = [ll.df for ll in lls]
    order = sorted(range(len(mods)), key=lambda i: npar[i])   # stable, as R's order()
    mods = [mods[i] for i in order]
    labels = [labels[i] for i in order]
    lls = [lls[i] for i in order]
    check_same_data(mods)
    n = nobs[0]
    ll = np.array([float(v) for v in lls])
    k = np.array([v.df for v in lls], dtype=float)
    chisq = np.concatenate([[np.nan], 2.0 * np.maximum(0.0, np.diff(ll))])
    df = np.concatenate([[np.nan], np.diff(k)])
    with np.errstate(invalid="ignore"):      # Df == 0 (same npar): NA, as lme4
        p = stats.chi2.sf(chisq, np.where(df > 0, df, np.nan))
    tab = AnovaTable({"npar": k, "AIC": -2 * ll + 2 * k, "BIC": -2 * ll + math.log(n) * k,
                      "logLik": ll, "deviance": -2 * ll, "Chisq": chisq, "Df": df, "Pr(>Chisq)": p},
                     index=labels)
    heading = [f"Data: {_data_name(mods[0])}"]
    subset = mods[0].call.get("subset")
    if subset is not None:
        heading.append(f"Subset: {subset if isinstance(subset, str) else 'subset'}")
    heading.append("Models:")
    heading += [f"{lab}: {printed_formula(m.parts.tree)}" for lab, m in zip(labels, mods)]
    tab.attrs["heading"] = heading
    tab.attrs["models"] = mods
    return tab


def comparable_fits(mods: list, refit: bool) -> list:
    """lme4's rule before likelihoods are compared: with ``refit``, REML fits are refitted by ML (with
    lme4's message); without, a warning when REML and ML fits are mixed or REML fits have different
    fixed effects."""
    reml = [bool(m.REML) for m in mods]
    if refit:
        if any(reml):
            warnings.warn(REFIT_MESSAGE, RefitMLWarning, stacklevel=_stacklevel())
            mods = [refit_ml(m) if r else m for m, r in zip(mods, reml)]
    elif any(reml) and not all(reml):
        warnings.warn(MIXED_REML_WARNING, UserWarning, stacklevel=_stacklevel())
    elif all(reml) and len({_fixed_signature(m) for m in mods}) > 1:
        warnings.warn(REML_FIXED_WARNING, UserWarning, stacklevel=_stacklevel())
    return mods


def _stacklevel() -> int:
    """Point warnings at the caller of mc.anova / anova_lrt rather than at this module."""
    import inspect
    level = 2
    frame = inspect.currentframe()
    try:
        f = frame.f_back if frame else None
        while f is not None and f.f_globals.get("__name__", "").startswith("mixedcompat"):
            level += 1
            f = f.f_back
    finally:
        del frame
    return max(2, level - 1)


def model_labels(n_positional: int, keywords: list[str], model_names: Sequence[str] | None) -> list[str]:
    n = n_positional + len(keywords)
    if model_names is not None:
        names = [str(s) for s in model_names]
        if len(names) != n:
            raise ValueError("model names vector and model list have different lengths")
    else:
        names = [f"m{i}" for i in range(n_positional)] + list(keywords)
    if len(set(names)) != len(names) or max(len(s) for s in names) > 200:
        warnings.warn("failed to find model names, assigning generic names", UserWarning, stacklevel=3)
        names = [f"MODEL{i + 1}" for i in range(n)]
    return names


def _fixed_signature(m) -> tuple:
    return (m.frame.response_name, tuple(m.frame.x_names))


def _same_object(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        return a.shape == b.shape and a.equals(b)
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except Exception:  # noqa: BLE001 - incomparable objects are different
        return False


def check_same_data(mods: list) -> None:
    first = mods[0]
    for m in mods[1:]:
        if not _same_object(first.call.get("data"), m.call.get("data")):
            raise DataError(DATA_ERROR)
    for m in mods[1:]:
        if not _same_object(first.call.get("subset"), m.call.get("subset")):
            raise DataError(SUBSET_ERROR)
    rows0 = _model_rows(first)
    for m in mods[1:]:
        rows = _model_rows(m)
        if rows.shape != rows0.shape or not np.array_equal(rows, rows0):
            raise DataError("models were not all fitted to the same rows of the data (the same number of "
                            "rows, but different rows dropped for missing values): compare fits on "
                            "data without the incomplete rows")


def _model_rows(m) -> np.ndarray:
    """Positions in the data of the rows a fit used (lmer: its model frame; lme / gls: ``model_rows``)."""
    rows = getattr(m, "model_rows", None)
    return np.asarray(rows if rows is not None else m.frame.rows)


def _data_name(m) -> str:
    name = getattr(m, "data_name", None)
    return name if name else "data"


def printed_formula(formula: str | Node) -> str:
    """A formula (text or tree) as lme4 prints it in table headings (R's deparse)."""
    return deparse_formula(formula)


def refit_ml(m):
    """The ML fit of a REML fit (lme4's ``refitML``): same data and terms, optimiser started at the
    REML theta; ML fits are returned unchanged.  The boundary note is not repeated, as lme4.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> refit_ml(m).REML
    False
    """
    if not m.REML:
        return m
    if getattr(m, "kind", None) in ("lme", "gls"):      # nlme fits: refit with method = "ML"
        return m.update(method="ML")
    control = dict(m.call.get("control") or {})
    control["start"] = np.array(m.theta, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        return _lmer_with(m, REML=False, control=control)


def _lmer_with(m, **changes):
    """lmer() with the arguments of ``m`` and ``changes``."""
    call = dict(m.call)
    if call.get("data") is None:
        raise DataError("the original data are not stored with this fit: cannot refit it")
    call["formula"] = m.parts           # the fit's parsed formula: a refit does not parse it again
    call.update(changes)
    return m.fitter(**{k: call[k] for k in _LMER_ARGS if k in call})


# ------------------------------------------------------------------------------------------------
# drop1

def drop1(m, scope: Any = None, scale: float = 0, test: str = "none", k: float = 2,
          trace: bool = False) -> AnovaTable:
    """lme4's ``drop1.merMod``: drop each fixed-effect term in turn, compare by AIC and (``test =
    "Chisq"``) a likelihood-ratio test.  Every fit, the full one included, is refitted by ML (lme4's
    ``extractAIC.merMod`` uses ``refitML``); the random effects are kept.

    Parameters
    ----------
    m : LmerMod
    scope : None, list of str or str
        Terms to drop.  ``None``: every term not contained in another term (R's ``drop.scope``:
        ``x * f`` offers only ``x:f``); a formula string ``"~ x + z"`` or a list of term labels.
    scale : float
        Must be 0 (as lme4 ignores it for mixed models).
    test : {"none", "Chisq"}
        R's default is ``"none"`` (columns ``npar, AIC``); ``"Chisq"`` adds ``LRT, Pr(Chi)``.
        lme4's ``"F"`` is a stub that stops; lmerTest's F-test ``drop1`` is ``anova(m)``.
    k : float
        AIC penalty per parameter.

    Returns
    -------
    AnovaTable
        Row ``<none>`` then one row per term (R's labels, R's term order); ``npar`` is the number
        of parameters dropped (NaN for ``<none>``), ``AIC = -2 logLik_ML + k npar``, ``LRT`` the
        increase in ML deviance, ``Pr(Chi)`` its chi-square p-value.

    Raises
    ------
    DataError
        ``"number of rows in use has changed: remove missing values?"``.
    ValueError
        ``"scope is not a subset of term labels"``; an unknown ``test``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> drop1(m, test="Chisq").loc["Days", "LRT"].round(3)     # doctest: +SKIP
    23.537
    """
    if test not in ("none", "Chisq"):
        if test == "F":
            raise ValueError("drop1: lme4's test = \"F\" for merMod is an unfinished stub; use "
                             "anova(m, ddf=...) for F tests of the fixed effects (lmerTest)")
        raise ValueError(f"drop1: test must be 'none' or 'Chisq', not {test!r}")
    struct = m.frame.fixed_spec.structure
    labels = struct.labels
    term_of = dict(zip(labels, struct.terms))
    if scope is None:
        scope_terms = drop_scope(struct)
    else:
        if isinstance(scope, str):
            rhs = scope.split("~", 1)[1] if "~" in scope else scope
            scope_terms = rhs_terms(rhs).labels
        else:
            scope_terms = [str(s) for s in scope]
        canon = dict(zip(_term_keys(struct), labels))
        mapped = []
        for s in scope_terms:
            key = _canon_label(s)
            if key not in canon:
                raise ValueError("scope is not a subset of term labels")
            mapped.append(canon[key])
        scope_terms = mapped
    full = refit_ml(m)
    n0 = int(m.nobs())
    fits = [full]
    for term in scope_terms:
        if trace:
            print(f"trying - {term}")
        dot = sym(".")
        reduced = _reduced_fit(m, binop("~", dot, binop("-", dot, term_node(struct, term_of[term]))))
        if int(reduced.nobs()) != n0:
            raise DataError(ROWS_CHANGED_ERROR)
        fits.append(reduced)
    ll = np.array([float(f.logLik()) for f in fits])
    edf = np.array([f.logLik().df for f in fits], dtype=float)
    aic = -2 * ll + k * edf
    dfs = edf[0] - edf
    dfs[0] = np.nan
    out = {"npar": dfs, "AIC": aic}
    if test == "Chisq":
        dev = aic - k * edf
        dev = dev - dev[0]
        dev[0] = np.nan
        with np.errstate(invalid="ignore"):
            p = stats.chi2.sf(dev, np.where(dfs > 0, dfs, np.nan))
        p[0] = np.nan
        out["LRT"] = dev
        out["Pr(Chi)"] = p
    tab = AnovaTable(out, index=["<none>"] + scope_terms)
    tab.attrs["heading"] = ["Single term deletions", "\nModel:", printed_formula(m.parts.tree)]
    tab.attrs["models"] = fits
    return tab


def _reduced_fit(m, formula: Node):
    """The ML fit of ``m`` with an updated formula (glmer fits are ML fits: their own ``update``)."""
    if getattr(m, "gdata", None) is not None:
        return m.update(formula)
    return update(m, formula, REML=False)


def _term_keys(struct) -> list[str]:
    """Each term as its variables in sorted order, so that ``f:x`` names the term ``x:f``."""
    return [":".join(sorted(struct.names[v] for v in term)) for term in struct.terms]


def _canon_label(label: str) -> str:
    try:
        return "|".join(_term_keys(rhs_terms(label)))
    except FormulaError:
        return label.replace(" ", "")


# ------------------------------------------------------------------------------------------------
# ranova

def ranova(m, reduce_terms: bool = True) -> AnovaTable:
    """lmerTest's ``ranova``: likelihood-ratio tests of the random-effects terms.

    R equivalent: ``lmerTest::ranova(m, reduce.terms = TRUE)`` (also ``rand(m)``).

    Each random-effects term ``(expr | g)`` (after lme4's ``||`` and ``/`` expansion) is reduced in
    turn, keeping the criterion of the fit (a REML fit is compared by REML likelihoods, as lmerTest):

    * a term without variables besides the intercept (``(1 | g)``) is removed; when no random
      effect is left the model is a linear model (``lm``), with its REML or ML log-likelihood;
    * otherwise each variable of ``expr`` that no other variable of ``expr`` contains is dropped
      (``(Days | Subject)`` -> ``(1 | Subject)``: row ``"Days in (Days | Subject)"``;
      ``(1 + x + z | g)`` -> ``(z | g)`` and ``(x | g)``); a term left with no variable becomes
      ``(1 | g)`` (also for ``(0 + x | g)``, as lmerTest).  A term that duplicates another is
      dropped, as R's formula algebra does.

    With ``reduce_terms=False`` every term is removed whole.

    Parameters
    ----------
    m : LmerMod
        An lmer fit (REML or ML: the reduced models are fitted the same way).
    reduce_terms : bool, optional
        ``True`` (default): reduce each term by one variable as above; ``False``: remove each term
        whole (lmerTest's ``reduce.terms = FALSE``).

    Returns
    -------
    AnovaTable
        Columns ``npar, logLik, AIC, LRT, Df, Pr(>Chisq)``; rows ``<none>`` and one per reduction
        with lmerTest's row names.  ``LRT = 2 (logLik_full - logLik_reduced)`` (not clamped at 0).

    Raises
    ------
    DataError
        ``"number of rows in use has changed: remove missing values?"``.
    ValueError
        ``"Model should have at least one random-effects term"``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> list(ranova(m).index)
    ['<none>', 'Days in (Days | Subject)']
    >>> list(ranova(m, reduce_terms=False).index)
    ['<none>', '(Days | Subject)']
    """
    if getattr(m, "family", None) is not None:     # a GLMM (glmer fit): lmerTest refuses it
        raise DataError("'model' should be an lmer-fit: \"inherits(model, 'lmerMod')\" is not TRUE")
    re_terms = list(m.parts.re_terms)
    if not re_terms:
        raise ValueError("Model should have at least one random-effects term")
    labels = [t.label for t in re_terms]
    bars = [t.bar for t in re_terms]
    reductions: list[tuple[str, list[Node]]] = []
    for i, (t, lab) in enumerate(zip(re_terms, labels)):
        struct = rhs_terms(t.expr)
        scope = drop_scope(struct) if reduce_terms else []
        if not struct.labels or not scope:
            reductions.append((f"({lab})", bars[:i] + bars[i + 1:]))
            continue
        for term in scope:
            rest = [k for k, s in enumerate(struct.labels) if s != term]
            lhs = rhs_of_terms(struct, rest) if rest else num(1)
            new = bars[:i] + [RETerm(lhs, t.group).bar] + bars[i + 1:]
            reductions.append((f"{term} in ({lab})", list(dict.fromkeys(new))))
    n0 = int(m.nobs())
    response = m.parts.response
    fixed = m.parts.fixed
    rows = ["<none>"]
    ll = [float(m.logLik())]
    npar = [m.logLik().df]
    fits: list[Any] = [m]
    for name, bars_left in reductions:
        formula = _formula_tree(response, [fixed, *bars_left])
        if bars_left:
            fit = _lmer_with(m, formula=formula)
            if int(fit.nobs()) != n0:
                raise DataError(ROWS_CHANGED_ERROR)
            value, df = float(fit.logLik()), fit.logLik().df
        else:
            value, df, n_lm = lm_loglik(m, formula, REML=bool(m.REML))
            if n_lm != n0:
                raise DataError(ROWS_CHANGED_ERROR)
            fit = None
        rows.append(name)
        ll.append(value)
        npar.append(df)
        fits.append(fit)
    ll_a = np.array(ll)
    k = np.array(npar, dtype=float)
    lrt = np.concatenate([[np.nan], 2.0 * (ll_a[0] - ll_a[1:])])
    df = np.concatenate([[np.nan], k[0] - k[1:]])
    with np.errstate(invalid="ignore"):
        p = stats.chi2.sf(lrt, np.where(df > 0, df, np.nan))
    p[0] = np.nan
    tab = AnovaTable({"npar": k, "logLik": ll_a, "AIC": -2 * ll_a + 2 * k, "LRT": lrt, "Df": df,
                      "Pr(>Chisq)": p}, index=rows)
    full = _formula_tree(response, ([] if m.parts.fixed_text == "1" else [fixed]) + bars)
    tab.attrs["heading"] = ["ANOVA-like table for random-effects: Single term deletions", "\nModel:",
                            printed_formula(full)]
    tab.attrs["models"] = fits
    return tab


def _formula_tree(response: Node, pieces: list[Node]) -> Node:
    """The formula ``response ~ piece_1 + piece_2 + ...`` as a tree (``1`` when there is no piece)."""
    rhs = pieces[0] if pieces else num(1)
    for piece in pieces[1:]:
        rhs = binop("+", rhs, piece)
    return binop("~", response, rhs)


def lm_loglik(m, formula: str | Node, REML: bool) -> tuple[float, int, int]:
    """R's ``logLik(lm(formula, data, weights, offset, subset))`` (``REML`` as ``logLik.lm``) with the
    data and arguments of the mixed fit ``m``: value, df (rank + 1) and number of rows used.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> value, df, n = lm_loglik(m, "Reaction ~ Days", REML=True)
    >>> round(value, 4), df, n
    (-946.8318, 3, 180)
    """
    fit = lm_from(m, formula)
    return fit.loglik(REML), fit.rank + 1, int(len(fit.frame.y))

