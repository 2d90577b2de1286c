"""lme4's ``influence(m, groups)`` (``influence.merMod``, lme4 1.1-31): case or group deletion.

Each observation -- or each level of ``groups`` -- is deleted in turn and the model refitted on the
rest (from the full fit's theta, with lme4's default control; glmer fits also start from its fixed
effects), keeping the fixed effects, the variance-covariance components (``sigma^2`` and each
term's lower triangle of its covariance, named ``v[x]`` and ``C[x,y]``, prefixed ``group:`` when
the model has more than one term) and the fixed effects' vcov of every refit.  The result's
components carry R's names (``"fixed.effects[-Subject]"``...); :meth:`InfluenceMerMod.cooks_distance`,
:meth:`~InfluenceMerMod.dfbeta` and :meth:`~InfluenceMerMod.dfbetas` are lme4's methods on it
(``cooks.distance`` of an influence object is Cook's distance of the deleted refits, not
:func:`mixedcompat.cooks_distance` of the fit, which is the one-step formula with the hat values).

What lme4 1.1-31 does and is kept: the deletion units are the distinct values of the column in the
order they first appear in the data; cases are named by the data's row names (a default
``RangeIndex`` gives R's automatic names ``"1"``, ``"2"``...); ``cooks_distance`` of a group
deletion has no names (lme4 looks the names up under ``"vcov[-case]"``); ``dfbetas`` of a model with
one fixed effect fails (``"non-conformable arrays"``; ``match_r=False`` gives the values).
Not kept: with several ``groups`` columns lme4 pastes *every* column of each row into the unit's
label (a bug: the units are then the distinct rows); here the units are the combinations of the
given columns, labelled ``a.b`` as lme4 intends.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.lme4.api import hatvalues
from mixedcompat.lme4.varcorr import group_names

__all__ = ["influence", "InfluenceMerMod", "dfbeta", "dfbetas"]


@dataclass(frozen=True)
class InfluenceMerMod:
    """lme4's ``influence.merMod`` object.

    Attributes
    ----------
    fixed_effects : Series
        The full fit's fixed effects (R: ``fixed.effects``).
    fixed_effects_deleted : DataFrame
        One row per deleted unit (R: ``fixed.effects[-<groups>]``).
    var_cov_comps : Series
        ``sigma^2`` and the covariance components (R: ``var.cov.comps``).
    var_cov_comps_deleted : DataFrame
        (R: ``var.cov.comps[-<groups>]``).
    vcov : DataFrame
        The full fit's vcov of the fixed effects.
    vcov_deleted : dict
        Unit -> vcov of its refit (R: ``vcov[-<groups>]``).
    groups : str
        ``"case"`` or the grouping column's name.
    deleted : list of str
        The deleted units, in order.
    converged : Series
        Per unit: the refit's optimizer code is 0 and it gave no optimizer warnings.
    function_evals : Series
        Per unit: the refit's evaluations (its ``optinfo["feval"]``).
    theta_deleted : DataFrame
        Per unit: the refit's theta (not one of lme4's components; for comparisons).

    ``infl["fixed.effects[-Subject]"]`` and :meth:`names` give R's component names.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> infl = mc.influence(m, groups="Subject")
    >>> infl.fixed_effects_deleted.shape, infl.names()[1]
    ((18, 2), 'fixed.effects[-Subject]')
    """

    fixed_effects: pd.Series
    fixed_effects_deleted: pd.DataFrame
    var_cov_comps: pd.Series
    var_cov_comps_deleted: pd.DataFrame
    vcov: pd.DataFrame
    vcov_deleted: dict
    groups: str
    deleted: list
    converged: pd.Series
    function_evals: pd.Series
    theta_deleted: pd.DataFrame | None = None

    def names(self) -> list[str]:
        """R's ``names(infl)``."""
        g = f"[-{self.groups}]"
        return ["fixed.effects", "fixed.effects" + g, "var.cov.comps", "var.cov.comps" + g, "vcov", "vcov" + g,
                "groups", "deleted", "converged", "function.evals"]

    def __getitem__(self, name: str) -> Any:
        values = [self.fixed_effects, self.fixed_effects_deleted, self.var_cov_comps, self.var_cov_comps_deleted,
                  self.vcov, self.vcov_deleted, self.groups, self.deleted, self.converged, self.function_evals]
        table = dict(zip(self.names(), values))
        if name not in table:
            raise KeyError(f"{name!r}: an influence object's components are {', '.join(self.names())}")
        return table[name]

    def dfbeta(self, which: str = "fixed") -> pd.DataFrame:
        """lme4's ``dfbeta(infl, which = "fixed" | "var.cov")``: each refit's estimates minus the full
        fit's (fixed effects, or the variance-covariance components)."""
        if which == "fixed":
            sub, full = self.fixed_effects_deleted, self.fixed_effects
        elif which == "var.cov":
            sub, full = self.var_cov_comps_deleted, self.var_cov_comps
        else:
            raise DataError(f"'which' should be one of \"fixed\", \"var.cov\", not {which!r}")
        return sub - np.asarray(full, dtype=float)[None, :]

    def dfbetas(self, match_r: bool = True) -> pd.DataFrame:
        """lme4's ``dfbetas(infl)``: :meth:`dfbeta` scaled by each refit's standard errors.

        lme4 1.1-31 fails on a model with one fixed effect (its ``vapply`` then gives a vector,
        whose transpose does not conform): that error is given by default, in R's words;
        ``match_r=False`` gives the values."""
        db = self.dfbeta("fixed")
        if match_r and db.shape[1] == 1:
            raise DataError("non-conformable arrays (lme4 1.1-31's dfbetas fails with one fixed effect; "
                            "dfbetas(infl, match_r=False) gives the values)")
        se = np.array([np.sqrt(np.diag(np.asarray(self.vcov_deleted[k], dtype=float))) for k in db.index])
        return db / se

    def cooks_distance(self) -> pd.Series:
        """lme4's ``cooks.distance(infl)``: ``d_i = db_i' V^-1 db_i (n - p) / (n p)`` with ``db`` the
        fixed effects' :meth:`dfbeta`, ``V`` the full fit's vcov, ``n`` the number of deleted units
        and ``p`` of fixed effects.  Named by case for a case deletion, unnamed (a ``RangeIndex``)
        for a group deletion, as lme4."""
        db = self.dfbeta("fixed").to_numpy(dtype=float)
        n, p = db.shape
        vinv = (n - p) / (n * p) * np.linalg.inv(self.vcov.to_numpy(dtype=float))
        d = np.einsum("ij,jk,ik->i", db, vinv, db)
        index = list(self.fixed_effects_deleted.index) if self.groups == "case" else None
        return pd.Series(d, index=index)


def dfbeta(infl: InfluenceMerMod, which: str = "fixed") -> pd.DataFrame:
    """lme4's ``dfbeta`` of an influence object (:meth:`InfluenceMerMod.dfbeta`).

    R equivalent: ``dfbeta(influence(m, groups = "Subject"), which = "fixed")``.

    Parameters
    ----------
    infl : InfluenceMerMod
        The result of :func:`influence`.
    which : {"fixed", "var.cov"}, optional
        The fixed effects (default) or the variance-covariance components.

    Returns
    -------
    pandas.DataFrame
        One row per deleted case or group: its refit's estimates minus the full fit's.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> mc.dfbeta(mc.influence(m, groups="Subject")).shape
    (18, 2)
    """
    _require(infl, "dfbeta")
    return infl.dfbeta(which)


def dfbetas(infl: InfluenceMerMod, match_r: bool = True) -> pd.DataFrame:
    """lme4's ``dfbetas`` of an influence object (:meth:`InfluenceMerMod.dfbetas`).

    R equivalent: ``dfbetas(influence(m, groups = "Subject"))``.

    Parameters
    ----------
    infl : InfluenceMerMod
        The result of :func:`influence`.
    match_r : bool, optional
        ``True`` (default) reproduces lme4 1.1-31's error on a model with one fixed effect (a known
        lme4 bug, "non-conformable arrays"); ``False`` gives the values.

    Returns
    -------
    pandas.DataFrame
        :func:`dfbeta` of the fixed effects divided by each refit's standard errors.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> list(mc.dfbetas(mc.influence(m, groups="Subject")).columns)
    ['(Intercept)', 'Days']
    """
    _require(infl, "dfbetas")
    return infl.dfbetas(match_r=match_r)


def _require(infl: Any, what: str) -> None:
    if not isinstance(infl, InfluenceMerMod):
        raise TypeError(f"{what}() takes the result of influence(m), not {type(infl).__name__}")


def _row_names(data: pd.DataFrame) -> list[str]:
    """R's row names of ``data``: a default RangeIndex is R's automatic ``"1"``, ``"2"``..."""
    idx = data.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return [str(i + 1) for i in range(len(idx))]
    return [str(i) for i in idx]


def _vc_components(fit: Any) -> tuple[list[str], np.ndarray]:
    """``sigma^2`` then each term's lower triangle (column-major) with lme4's names."""
    vc = fit.VarCorr()
    terms = list(vc.terms)
    labels = group_names([t.group for t in terms])
    prefix = [""] if len(terms) == 1 else [f"{g}:" for g in labels]
    names, values = ["sigma^2"], [float(fit.sigma()) ** 2]
    for t, pre in zip(terms, prefix):
        q = len(t.names)
        for j in range(q):
            for i in range(j, q):
                names.append(pre + (f"v[{t.names[i]}]" if i == j else f"C[{t.names[i]},{t.names[j]}]"))
                values.append(float(t.cov[i, j]))
    return names, np.array(values)


def influence(m: Any, groups: str | list[str] | None = None, data: pd.DataFrame | None = None,
              maxfun: int = 1000, do_coef: bool = True, ncores: int = 1, start: dict | None = None):
    """lme4's ``influence(m, groups)``: refit without each observation, or each level of ``groups``.

    R equivalent: ``influence(m, groups = "Subject")`` (lme4's ``influence.merMod``).

    Parameters
    ----------
    m : LmerMod or GlmerMod
    groups : str or list of str, optional
        A column of the data (or several: their combinations); default: each case.
    data : DataFrame, optional
        The data (default: the fit's own).
    maxfun : int
        Passed as lme4 passes it (``optCtrl = list(maxfun = maxfun)``, which lme4's default
        optimiser, nloptwrap, ignores; glmer's use it).
    do_coef : bool
        False: only the hat values (R: ``list(hat = hatvalues(model))``), as a dict.
    ncores : int
        Accepted for R's signature; the refits run in turn.
    start : dict, optional
        The refits' start (default: the fit's theta, and for glmer its fixed effects).

    Returns
    -------
    InfluenceMerMod

    Raises
    ------
    DataError
        ``groups`` names no column of the data (R: "undefined columns selected"), or the fit has no
        stored data.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> infl = influence(m, groups="Subject")
    >>> int(infl.cooks_distance().to_numpy().argmax())
    1
    """
    if getattr(m, "update", None) is None or not hasattr(m, "theta"):
        raise TypeError(f"influence() takes an lmer or glmer fit, not {type(m).__name__}")
    if not do_coef:
        return {"hat": hatvalues(m)}
    if data is None:
        data = (getattr(m, "call", None) or {}).get("data")
        if data is None:
            raise DataError("model did not use the data argument")
    data = pd.DataFrame(data)
    if groups is None:
        label = "case"
        units = np.array(_row_names(data), dtype=object)
    else:
        cols = [groups] if isinstance(groups, str) else list(groups)
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise DataError(f"undefined columns selected: groups {', '.join(map(repr, missing))} is not a column "
                            f"of the data (columns: {', '.join(map(str, data.columns))})")
        label = ".".join(cols)
        units = data[cols].astype(str).agg(".".join, axis=1).to_numpy(dtype=object) if len(cols) > 1 \
            else data[cols[0]].astype(str).to_numpy(dtype=object)
    deleted = list(pd.unique(units))
    is_glmm = hasattr(m, "family") and hasattr(m, "nAGQ")
    if start is None:
        start = {"theta": np.asarray(m.theta, dtype=float)}
        if is_glmm and getattr(m, "nAGQ", 0) > 0:
            start["fixef"] = np.asarray(m.fixef(), dtype=float)
    fixed = m.fixef()
    vc_names, vc = _vc_components(m)
    fixed_rows, vc_rows, vcovs, conv, feval, thetas = [], [], {}, [], [], []
    for unit in deleted:
        keep = units != unit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if is_glmm:
                fit = m.update(data=data, subset=keep, start=start, control={"optCtrl": {"maxfun": maxfun}})
            else:
                fit = m.update(data=data, subset=keep, control={"start": start["theta"]})
        info = fit.optinfo
        code = (info.get("conv") or {}).get("opt", info.get("conv_code", 0))
        conv.append(bool(code == 0 and not info.get("warnings")))
        feval.append(int(info.get("feval", 0)))
        fixed_rows.append(np.asarray(fit.fixef(), dtype=float))
        thetas.append(np.asarray(fit.theta, dtype=float))
        vc_rows.append(_vc_components(fit)[1])
        vcovs[unit] = pd.DataFrame(np.asarray(fit.vcov(), dtype=float), index=list(fixed.index),
                                   columns=list(fixed.index))
    names = list(fixed.index)
    return InfluenceMerMod(
        fixed_effects=fixed.copy(),
        fixed_effects_deleted=pd.DataFrame(fixed_rows, index=deleted, columns=names),
        var_cov_comps=pd.Series(vc, index=vc_names),
        var_cov_comps_deleted=pd.DataFrame(vc_rows, index=deleted, columns=vc_names),
        vcov=pd.DataFrame(np.asarray(m.vcov(), dtype=float), index=names, columns=names),
        vcov_deleted=vcovs, groups=label, deleted=deleted,
        converged=pd.Series(conv, index=deleted), function_evals=pd.Series(feval, index=deleted),
        theta_deleted=pd.DataFrame(thetas, index=deleted))
