"""``ACF(m)`` and ``Variogram(m)`` of lme / gls fits: which residuals, groups and distances nlme uses.

The statistics are in :mod:`mixedcompat.nlme.diagnostics`; this module picks their inputs as nlme does:
residuals in the fit's row order within groups (rows sorted by group, data order inside a group);
lme pairs residuals within the innermost random-effects groups, gls within the correlation
structure's groups (all rows when there is none); the Variogram's distances come from ``form`` or,
by default, from the correlation structure's covariate (row positions when there is none), and a
spatial correlation structure adds its model semivariogram (``.attrs["model"]``).

Residuals here are always each row's own (``r_compatible=False``, see ``NlmeFit.residuals``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.nlme.corstruct import parse_cor_form
from mixedcompat.nlme import diagnostics
from mixedcompat.nlme.diagnostics import acf_by_group, model_variogram_frame, variogram

SPATIAL = ("corExp", "corGaus", "corSpher", "corLin", "corRatio")


def _sorted_residuals(m, resType: str) -> np.ndarray:
    r = m.residuals(type=resType, r_compatible=False)
    return np.asarray(r)[m.setup.order]


def _groups(m) -> np.ndarray | None:
    lik = m.likelihood
    if lik.levels:
        return lik.levels[-1].codes
    if lik.cor is not None:
        return np.asarray(lik.cor.group_codes)
    return None


def acf_of(m, maxLag: int | None = None, resType: str = "pearson") -> pd.DataFrame:
    """nlme's ``ACF(m, maxLag, resType)``: columns ``lag``, ``ACF`` (``.attrs["n.used"]``)."""
    return acf_by_group(_sorted_residuals(m, resType), _groups(m), maxLag)


def variogram_of(m, form: str | None = None, resType: str = "pearson", robust: bool = False,
                 maxDist: float | None = None) -> pd.DataFrame:
    """nlme's ``Variogram(m, form, resType, robust, maxDist)``: columns ``variog``, ``dist``, ``n.pairs``."""
    r = _sorted_residuals(m, resType)
    groups = _groups(m)
    cor = m.likelihood.cor
    metric = "euclidean"
    covariate = None
    if form is not None:
        f = parse_cor_form(form)
        data = m.setup.sorted_data
        for c in f.covariates + f.groups:
            if c not in data.columns:
                raise DataError(f"Variogram form {form!r}: column {c!r} is not in the data")
        if f.covariates:
            covariate = data[list(f.covariates)].to_numpy(dtype=float)
        if f.groups:
            lab = data[f.groups[0]].astype(str).to_numpy(dtype=object)
            for g in f.groups[1:]:
                lab = lab + "/" + data[g].astype(str).to_numpy(dtype=object)
            groups = pd.factorize(pd.Series(lab))[0]
    elif cor is not None:
        covariate = np.asarray(cor.positions, dtype=float)
        metric = getattr(cor, "metric", None) or "euclidean"
    out = variogram(r, groups, covariate, metric=metric, robust=robust, max_dist=maxDist)
    if cor is not None and cor.class_name in SPATIAL and resType != "normalized":
        nat = np.asarray(cor.natural(m.likelihood.split(m.opt.params)[1]), float)
        nugget = float(nat[1]) if len(nat) > 1 else 0.0
        dists = np.concatenate([cor.distances(g)[np.triu_indices(len(cor.group_rows[g]), 1)]
                                for g in range(cor.n_groups)])
        if dists.size:
            out.attrs["model"] = model_variogram_frame(cor.class_name, float(nat[0]), nugget, dists)
    return out


# --- plots (the ``plot`` extra) ----------------------------------------------------------------------------------
def plot_acf(m, maxLag: int | None = None, resType: str = "normalized", alpha: float = 0.05, ax=None):
    """nlme's ``plot(ACF(m, resType = "normalized"), alpha = 0.05)``: bars and critical bounds."""
    df = acf_of(m, maxLag=maxLag, resType=resType)
    return diagnostics.plot_acf(df, alpha=alpha, ax=ax, n_used=df.attrs.get("n.used"))


def plot_variogram(m, form: str | None = None, resType: str = "pearson", robust: bool = False,
                   maxDist: float | None = None, ax=None):
    """nlme's ``plot(Variogram(m))``: the semivariogram, with the spatial model's curve when there is one."""
    df = variogram_of(m, form=form, resType=resType, robust=robust, maxDist=maxDist)
    return diagnostics.plot_variogram(df, model_curve=df.attrs.get("model"), ax=ax)


def plot_residuals_by_group(m, level: int | None = None, resType: str = "pearson", ax=None):
    """nlme's ``plot(m, g ~ resid(., type = "p"))``: a box of residuals per group of ``level``
    (default: the innermost random-effects level; gls: the correlation groups)."""
    lik = m.likelihood
    r = np.asarray(m.residuals(type=resType, r_compatible=False))[m.setup.order]
    if lik.levels:
        lv = lik.levels[(level or len(lik.levels)) - 1]
        groups = pd.Categorical.from_codes(lv.codes, categories=[str(x) for x in lv.labels])
    elif lik.cor is not None:
        groups = pd.Categorical.from_codes(np.asarray(lik.cor.group_codes), categories=list(lik.cor.group_labels))
    else:
        raise DataError("residuals by group need groups: an lme fit or a gls fit with a grouped correlation")
    return diagnostics.plot_residuals_by_group(r, groups, ax=ax)
