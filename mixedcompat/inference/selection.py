"""Model selection for lmer fits: an AIC/BIC table over several fits and K-fold cross-validation.

Neither has an lme4 namesake (R users reach for ``AICcmodavg::aictab`` / ``bbmle::AICtab`` and
hand-written loops); the numbers are the fits' own ``logLik`` / ``AIC`` / ``BIC``, which agree
with lme4's.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.inference.dask_executor import is_client, map_on_client, replay
from mixedcompat.inference.glm_density import predictive_log_density
from mixedcompat.inference.lrt import SIZE_ERROR, check_same_data, comparable_fits, model_labels, printed_formula
from mixedcompat.lme4.fit import require_mermod, update
from mixedcompat.model import require_rows
from mixedcompat.progress import progress_bar
from mixedcompat.lme4.prediction import group_on, level_codes, original_order, term_matrix

__all__ = ["model_table", "cross_validate"]


# ------------------------------------------------------------------------------------------------
# model_table

def model_table(*models: Any, refit: bool = True, model_names: Sequence[str] | None = None,
                **named_models: Any) -> pd.DataFrame:
    """AIC/BIC table over fits to the same data, best (lowest AIC) first.

    R equivalent: ``anova(m1, m2)``'s AIC / BIC columns, or ``AIC(m1, m2)`` / ``BIC(m1, m2)``, sorted.

    Parameters
    ----------
    *models : LmerMod
        One or more fits to the same rows of the same data.
    refit : bool
        As lme4's ``anova``: when any fit is REML, the REML fits are refitted by ML (started at
        their theta) with a :class:`~mixedcompat.inference.lrt.RefitMLWarning`, so that fits with
        different fixed effects are comparable.  With ``refit=False`` the fits are used as they are:
        a ``UserWarning`` when REML and ML fits are mixed, or when REML fits have different fixed
        effects (their REML criteria are not comparable).
    model_names : list of str, optional
        Row labels in argument order; default ``m0, m1, ...`` (keyword models: the keyword).

    Returns
    -------
    pandas.DataFrame
        Index = labels; columns ``formula`` (as R deparses it), ``method`` (``"REML"`` / ``"ML"``, of
        the fit used), ``npar``, ``logLik``, ``AIC``, ``BIC``, ``delta_AIC`` (AIC - min AIC) and
        ``AIC_weight`` (Akaike weight ``exp(-delta/2) / sum exp(-delta/2)``); sorted by AIC (ties keep
        argument order).

    Raises
    ------
    DataError
        Fits to a different number of rows (lme4's ``"models were not all fitted to the same size of
        dataset"``), to different data, subsets or rows.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> d = mc.datasets.load("sleepstudy")
    >>> m0 = mc.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    >>> model_table(m0, m1).index.tolist()                 # doctest: +SKIP
    ['m1', 'm0']
    """
    mods = list(models) + list(named_models.values())
    if not mods:
        raise TypeError("model_table() needs at least one fitted model")
    for i, m in enumerate(mods):
        if not hasattr(m, "logLik") or not hasattr(m, "REML"):
            raise TypeError(f"model_table: argument {i + 1} is a {type(m).__name__}, not a fitted lmer model")
    labels = model_labels(len(models), list(named_models), model_names)
    if len({int(m.nobs()) for m in mods}) > 1:
        raise DataError(SIZE_ERROR)
    check_same_data(mods)
    mods = comparable_fits(mods, refit)
    n = int(mods[0].nobs())
    lls = [m.logLik() for m in mods]
    ll = np.array([float(v) for v in lls])
    k = np.array([v.df for v in lls], dtype=float)
    aic = -2 * ll + 2 * k
    delta = aic - aic.min()
    w = np.exp(-0.5 * delta)
    tab = pd.DataFrame({"formula": [m.describe() if hasattr(m, "describe") else printed_formula(m.parts.tree) for m in mods],
                        "method": ["REML" if m.REML else "ML" for m in mods],
                        "npar": k.astype(int), "logLik": ll, "AIC": aic, "BIC": -2 * ll + math.log(n) * k,
                        "delta_AIC": delta, "AIC_weight": w / w.sum()}, index=labels)
    order = sorted(range(len(mods)), key=lambda i: aic[i])
    tab = tab.iloc[order]
    tab.attrs["models"] = [mods[i] for i in order]
    return tab


# ------------------------------------------------------------------------------------------------
# cross_validate

def cross_validate(m, folds: int | None = None, groups: str | None = None, seed: Any = None,
                   parallel: Any = None, progress: bool = True) -> pd.DataFrame:
    """K-fold (or grouped) cross-validation of an lmer fit: refit on each training set, score the
    held-out rows.

    R equivalent: none in lme4 (R users write the loop over folds, e.g. with ``caret`` or by hand: ``for (k in folds) update(m, data = train)``).

    Scoring of a test row i with the fit on its training set (``mu_i``, variance ``v_i``):

    * ``mu_i = predict(fit, test, allow_new_levels=True)`` (plus an ``offset=`` argument's value,
      which ``predict`` on new data leaves out, as lme4): the conditional prediction, with the
      fitted random effects of levels seen in training and 0 for new levels (population level);
    * ``v_i = sigma^2 / w_i + sum over terms whose level of row i is new (or missing) of
      z_i' Sigma_k z_i`` (``w_i`` the prior weight, 1 without weights; ``Sigma_k = sigma^2 T_k T_k'``
      the term's estimated covariance and ``z_i`` the row's term model-matrix row).  For seen levels
      the uncertainty of the predicted random effect and of beta is ignored.
    * ``log_pred_density`` = sum over test rows of ``log N(y_i | mu_i, v_i)``; ``RMSE`` =
      ``sqrt(mean((y_i - mu_i)^2))`` (y the model's response, transformations applied).

    glmer fits: the same on the linear predictor's scale -- ``eta_i`` the conditional prediction,
    ``v_i`` the variance of the new levels' random effects only -- and the row's log predictive density
    is the family's (:mod:`mixedcompat.inference.glm_density`: R's ``family$aic`` conventions, trials
    for binomial) integrated over ``N(0, v_i)`` by Gauss-Hermite; ``mu_i`` (for ``RMSE`` and
    ``.attrs["predictions"]``) is the predictive mean on the response scale (``y`` a proportion for
    binomial) and ``pred_var`` holds ``v_i``.

    Parameters
    ----------
    m : LmerMod
        The fit; its data (``m.call["data"]``) and arguments are reused.  Only the rows the fit used
        (after ``subset`` and NA removal) take part.
    folds : int, optional
        Number of folds K >= 2.  Rows (or, with ``groups``, whole groups) are shuffled with ``seed`` and
        split into K parts as equal as possible.  Default: 10 folds of rows; with ``groups`` and no
        ``folds``: leave-one-group-out (one fold per group).
    groups : str, optional
        A column of the data: every row of a group falls in the same fold, so each test fold's groups
        are new to its training fit.
    seed : int, numpy.random.Generator or None
        For the shuffling.
    parallel : None or a dask.distributed Client
        ``parallel=client``: the folds are refitted and scored on the Dask cluster behind ``client``
        (the fit and its data are scattered once); the table, predictions and fits are those of the
        serial run (the folds are drawn here, before any work is shipped).
    progress : bool
        A progress bar over the folds (tqdm) in a terminal or a Jupyter notebook
        (:mod:`mixedcompat.progress`); none when stderr is a file or a pipe.

    Returns
    -------
    pandas.DataFrame
        One row per fold (index 1..K): ``n_train``, ``n_test``, ``n_new_groups`` (grouping levels of
        the test rows absent from training, over all grouping factors), ``RMSE``, ``log_pred_density``,
        ``mean_log_pred_density``.  ``.attrs``: ``"test_rows"`` (per fold, the data's index labels of
        the test rows), ``"fits"`` (the training fits), ``"predictions"`` (a Series of out-of-fold
        ``mu`` indexed like the data rows used), ``"pred_var"`` (the same for ``v``).

    Raises
    ------
    ValueError
        ``folds`` < 2 or larger than the number of rows / groups; ``folds`` not an integer.
    DataError
        ``groups`` not a column of the data; a fold whose refit or prediction fails (the message
        names the fold), e.g. a factor level of a fixed effect missing from a training set.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> cv = cross_validate(m, groups="Subject", folds=3, seed=1)
    >>> int(cv["n_test"].sum())
    180
    """
    require_mermod(m, "cross_validate")
    require_rows(m, "cross_validate")
    data = m.call.get("data")
    if not isinstance(data, pd.DataFrame):
        raise DataError("cross_validate: the original data are not stored with this fit")
    rows = np.asarray(m.frame.rows)              # positions in data of the rows the fit used
    n = len(rows)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if folds is not None:
        if isinstance(folds, (bool, np.bool_)) or not isinstance(folds, (int, np.integer)):
            raise ValueError(f"folds must be an integer number of folds (>= 2), not {folds!r}")
        if folds < 2:
            raise ValueError(f"folds must be at least 2, not {folds}")
    if groups is not None:
        if not isinstance(groups, str) or groups not in data.columns:
            raise DataError(f"groups column {groups!r} is not a column of the data "
                            f"(columns: {', '.join(map(str, data.columns))})")
        gvals = data[groups].iloc[rows]
        if gvals.isna().any():
            raise DataError(f"groups column {groups!r} has missing values in the rows used")
        labels = pd.unique(gvals.astype(str))
        k = len(labels) if folds is None else int(folds)
        if k < 2:
            raise ValueError(f"groups column {groups!r} has only {len(labels)} group in the rows used: "
                             "cannot form 2 folds")
        if k > len(labels):
            raise ValueError(f"folds = {k} is more than the {len(labels)} groups of {groups!r}")
        parts = np.array_split(rng.permutation(len(labels)), k)
        fold_of_group = {}
        for f, idx in enumerate(parts):
            for j in idx:
                fold_of_group[labels[j]] = f
        fold = np.array([fold_of_group[v] for v in gvals.astype(str)])
    else:
        k = 10 if folds is None else int(folds)
        if k > n:
            raise ValueError(f"folds = {k} is more than the {n} rows used by the fit")
        fold = np.empty(n, dtype=int)
        for f, idx in enumerate(np.array_split(rng.permutation(n), k)):
            fold[idx] = f

    glmm = getattr(m, "gdata", None) is not None
    if glmm:
        y_all = np.asarray(m.gdata.y, dtype=float)
        w_all = np.asarray(m.gdata.weights, dtype=float)
    else:
        y_all = np.asarray(m.frame.y, dtype=float)
        w_all = np.ones(n) if m.frame.weights is None else np.asarray(m.frame.weights, dtype=float)
    setup = _Folds(m, data, rows, fold, k, y_all, w_all, glmm)
    serial = parallel is None or (isinstance(parallel, (bool, np.bool_)) and not parallel) \
        or (isinstance(parallel, str) and parallel == "no")
    if not (serial or is_client(parallel)):
        raise ValueError(f"cross_validate: parallel must be None or a dask.distributed Client, not {parallel!r} "
                         f"(of type {type(parallel).__name__})")
    bar = progress_bar(k, progress, "cross_validate")
    try:
        if serial:
            results = []
            for f in range(k):
                results.append(_fold_result(setup, f))
                bar.update(1)
        else:
            results = replay(map_on_client(parallel, _fold_result, setup, [(f,) for f in range(k)], None,
                                           lambda _out: bar.update(1)))
    finally:
        bar.close()
    out_rows, test_labels, fits = [], [], []
    mu_all = np.full(n, np.nan)
    var_all = np.full(n, np.nan)
    for f, (row, mu, var, fit) in enumerate(results):
        test = np.flatnonzero(fold == f)
        mu_all[test] = mu
        var_all[test] = var
        out_rows.append(row)
        test_labels.append(data.index[rows[test]])
        fits.append(fit)
    tab = pd.DataFrame(out_rows, index=pd.RangeIndex(1, k + 1, name="fold"))
    tab.attrs["test_rows"] = test_labels
    tab.attrs["fits"] = fits
    tab.attrs["predictions"] = pd.Series(mu_all, index=data.index[rows])
    tab.attrs["pred_var"] = pd.Series(var_all, index=data.index[rows])
    return tab


@dataclass
class _Folds:
    """What every fold of a cross-validation needs (shipped once to a Dask cluster)."""

    m: Any
    data: pd.DataFrame
    rows: np.ndarray            # positions in data of the rows the fit used
    fold: np.ndarray            # fold of each used row
    k: int
    y_all: np.ndarray
    w_all: np.ndarray
    glmm: bool


def _fold_result(s: _Folds, f: int) -> tuple[dict, np.ndarray, np.ndarray, Any]:
    """Fold ``f``: refit on the other folds, score its rows; (table row, mu, v, training fit)."""
    m, data, rows = s.m, s.data, s.rows
    test = np.flatnonzero(s.fold == f)
    train = np.flatnonzero(s.fold != f)
    train_df = data.iloc[rows[train]]
    test_df = data.iloc[rows[test]]
    kwargs: dict[str, Any] = {"data": train_df}
    if m.call.get("subset") is not None:
        kwargs["subset"] = None              # the rows used are already selected
    for arg in ("weights", "offset"):
        value = m.call.get(arg)
        if value is not None and not isinstance(value, str):
            kwargs[arg] = np.asarray(value)[rows[train]]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = m.update(**kwargs) if s.glmm else update(m, **kwargs)
        mu = np.asarray(fit.predict(test_df, allow_new_levels=True), dtype=float)
        offset = m.call.get("offset")
        if offset is not None:
            mu = mu + (test_df[offset].to_numpy(dtype=float) if isinstance(offset, str)
                       else np.asarray(offset, dtype=float)[rows[test]])
        extra, n_new = _new_level_variance(fit, test_df)
    except (DataError, ValueError, KeyError) as exc:
        raise DataError(f"cross_validate: fold {f + 1} of {s.k} failed: {exc}") from exc
    y = s.y_all[test]
    if s.glmm:
        var = extra
        rows_lpd, mu = predictive_log_density(fit.family, y, mu, var, s.w_all[test], fit.sigma())
        lpd = float(np.sum(rows_lpd))
        resid = y - mu
    else:
        var = fit.sigma() ** 2 / s.w_all[test] + extra
        resid = y - mu
        lpd = float(np.sum(-0.5 * (np.log(2 * np.pi * var) + resid ** 2 / var)))
    row = {"n_train": len(train), "n_test": len(test), "n_new_groups": n_new,
           "RMSE": float(np.sqrt(np.mean(resid ** 2))), "log_pred_density": lpd,
           "mean_log_pred_density": lpd / len(test)}
    return row, mu, var, fit


def _new_level_variance(fit, newdata: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Per row of ``newdata``: the sum of ``z' Sigma_k z`` over the terms whose grouping level is new
    (or missing) for ``fit``; and the number of distinct new levels over all grouping factors."""
    order = original_order(fit)
    extra = np.zeros(len(newdata))
    sigma2 = fit.sigma() ** 2
    new_levels: set[tuple[str, str]] = set()
    templates = fit.devfun.layout.templates(np.asarray(fit.theta))
    for k, (t, T) in enumerate(zip(fit.terms, templates)):
        codes = level_codes(t, newdata)
        new = codes < 0
        if not new.any():
            continue
        Z = term_matrix(fit, k, newdata, order)[new]
        cov = sigma2 * (T @ T.T)
        extra[new] += np.einsum("ij,jk,ik->i", Z, cov, Z)
        fac = group_on(t.group_expr or t.group, newdata)
        for c in fac.codes[codes == -1]:
            new_levels.add((t.group, fac.levels[c]))
    return extra, len(new_levels)
