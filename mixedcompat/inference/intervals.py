"""Confidence intervals of an lmer fit: lme4's ``confint.merMod`` (profile, Wald, parametric bootstrap).

* ``method="profile"`` (lme4's default): invert the likelihood profile (:mod:`.profile`), ML deviance,
  variance parameters on the sd / correlation scale;
* ``method="Wald"``: ``estimate -/+ qnorm((1 + level) / 2) * se`` for the fixed effects, ``NaN`` (R's
  ``NA``) for the variance parameters, as lme4;
* ``method="boot"``: percentile intervals (boot's ``norm.inter``, as ``boot.ci(type = "perc")``) of the
  parametric bootstrap of the same parameters (:func:`mixedcompat.inference.bootstrap.bootMer`).

Examples
--------
>>> import mixedcompat as mc
>>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
>>> mc.confint(m, method="Wald").round(3)        # doctest: +SKIP
                2.5 %   97.5 %
.sig01            NaN      NaN
...
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mixedcompat.inference.bootstrap import bootMer
from mixedcompat.inference.emmeans_grid import EmmGrid
from mixedcompat.inference.levels import check_level, percent_labels
from mixedcompat.inference.profile import ThetaProfile, profile, sdcor_names, theta_to_sdcor

__all__ = ["confint", "percent_labels", "check_level", "percentile_interval"]

METHODS = ("profile", "Wald", "boot")


def _vp_names(m, oldNames: bool) -> list[str]:
    return sdcor_names(m, oldNames)


def _select(names: list[str], parm, n_vp: int) -> list[str]:
    """lme4's ``parm``: names, R's 1-based positions, ``"theta_"`` or ``"beta_"``; None -> all."""
    if parm is None:
        return list(names)
    if isinstance(parm, str):
        parm = [parm]
    out: list[str] = []
    for p in parm:
        if isinstance(p, (int, np.integer)) and not isinstance(p, bool):
            if not 1 <= p <= len(names):
                raise ValueError(f"parm index {p} out of range 1..{len(names)} (R's 1-based positions in "
                                 f"{', '.join(names)})")
            out.append(names[int(p) - 1])
        elif p == "theta_":
            out.extend(names[:n_vp])
        elif p == "beta_":
            out.extend(names[n_vp:])
        elif p in names:
            out.append(p)
        else:
            raise ValueError(f"unknown parameter {p!r} in parm: the parameters are {', '.join(names)} "
                             "(or 'theta_' / 'beta_')")
    seen: list[str] = []
    for p in out:
        if p not in seen:
            seen.append(p)
    return seen


def percentile_interval(t: np.ndarray, level: float) -> np.ndarray:
    """boot's percentile interval (``norm.inter``): order statistics ``(R + 1) alpha``, interpolated on
    the normal quantile scale when not an integer (Davison & Hinkley 1997, eq. 5.8).

    Examples
    --------
    >>> percentile_interval(np.arange(1.0, 100.0), 0.9)
    array([ 5., 95.])
    """
    t = np.sort(np.asarray(t, dtype=float)[np.isfinite(t)])
    R = len(t)
    if R == 0:
        return np.full(2, np.nan)
    a = (1.0 - level) / 2.0
    out = []
    for alpha in (a, 1.0 - a):
        rk = (R + 1) * alpha
        k = int(math.trunc(rk))
        if k == rk and 1 <= k <= R:
            out.append(t[k - 1])
        elif k <= 0:
            out.append(t[0])
        elif k >= R:
            out.append(t[-1])
        else:
            z, z1, z2 = stats.norm.ppf([alpha, k / (R + 1), (k + 1) / (R + 1)])
            out.append(t[k - 1] + (z - z1) / (z2 - z1) * (t[k] - t[k - 1]))
    return np.array(out)


def _wald(m, names: list[str], vp: list[str], level: float) -> pd.DataFrame:
    a = (1.0 - level) / 2.0
    q = stats.norm.ppf(1.0 - a)
    fe = m.fixef()
    se = np.sqrt(np.diag(np.asarray(m.vcov(), dtype=float)))
    full = {n: (np.nan, np.nan) for n in vp}
    for nm, b, s in zip(fe.index, fe.to_numpy(), se):
        full[nm] = (b - q * s, b + q * s)
    vals = np.array([full[n] for n in names], dtype=float).reshape(len(names), 2)
    return pd.DataFrame(vals, index=names, columns=percent_labels(level))


def _boot_statistic(m, oldNames: bool):
    """The statistic lme4's ``confint(method = "boot")`` bootstraps: sd/cor, sigma, fixed effects
    (every replicate of ``m`` has ``m``'s theta layout)."""
    layout = m.devfun.layout
    vp = sdcor_names(m, oldNames)

    def FUN(fit) -> pd.Series:
        fe = fit.fixef()
        sdcor = theta_to_sdcor(np.asarray(fit.theta, dtype=float), fit.sigma(), layout)[:len(vp)]
        vals = np.concatenate([sdcor, fe.to_numpy()])
        return pd.Series(vals, index=vp + list(fe.index))
    return FUN


def _boot(m, names: list[str], level: float, nsim: int, seed, oldNames: bool, **kwargs) -> pd.DataFrame:
    bb = bootMer(m, _boot_statistic(m, oldNames), nsim=nsim, seed=seed, **kwargs)
    t = np.asarray(bb.t, dtype=float)
    if t.size == 0 or np.all(np.isnan(t)):
        raise RuntimeError("*all* bootstrap runs failed!")
    t0 = bb.t0
    labels = list(t0.index) if isinstance(t0, pd.Series) else _vp_names(m, oldNames) + list(m.fixef().index)
    rows = [percentile_interval(t[:, labels.index(n)], level) for n in names]
    return pd.DataFrame(np.array(rows).reshape(len(names), 2), index=names, columns=percent_labels(level))


def confint(m, parm: Sequence[str] | str | None = None, level: float = 0.95, method: str = "profile",
            nsim: int = 500, seed=None, oldNames: bool = True, **kwargs) -> pd.DataFrame:
    """Confidence intervals for the variance parameters and fixed effects, as lme4's ``confint.merMod``.

    R equivalent: ``confint(m, parm, level = 0.95, method = "profile")`` (lme4's ``confint.merMod``; ``method = "Wald"``, ``"boot"``).

    Parameters
    ----------
    m : LmerMod or ThetaProfile
        The fit, or its profile (``confint(profile(m))``, lme4's ``confint.thpr``).
    parm : str or list, optional
        Parameters (``".sig01"``, ``".sigma"``, ``"Days"``), R's 1-based positions, ``"theta_"`` or
        ``"beta_"``; default all: ``.sig01, ..., .sigma`` then the fixed effects.
    level : float
        Confidence level in (0, 1).
    method : {"profile", "Wald", "boot"}
        Likelihood profile (lme4's default), Wald (NaN for variance parameters) or parametric bootstrap
        percentile intervals.
    nsim, seed : int
        Bootstrap replicates and seed (``method="boot"``).
    oldNames : bool
        ``.sig01`` names (default) or ``sd_(Intercept)|Subject`` style.
    **kwargs
        Passed to :func:`~mixedcompat.inference.profile.profile` (``alphamax``, ``delta``, ``parallel``...)
        or to ``bootMer`` (``use_u``, ``type``, ``parallel``); ``parallel=client`` (a ``dask.distributed``
        Client) runs the profiles or the replicates on its cluster, with the serial run's result.

    Returns
    -------
    pandas.DataFrame
        Columns as R's (``"2.5 %"``, ``"97.5 %"`` for ``level=0.95``), one row per parameter.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
    >>> mc.confint(m, method="Wald")                  # doctest: +SKIP
    """
    if getattr(m, "is_lmlist", False):       # R's S3 dispatch: lme4's confint.lmList4 (mixedcompat.lmlist)
        return m.confint(level=level, **kwargs)
    if isinstance(m, ThetaProfile):          # lme4's confint.thpr: confint(profile(m))
        return m.confint(parm=parm, level=level, **kwargs)
    if isinstance(m, EmmGrid):      # emmeans' confint.emmGrid (level: the grid's own unless given otherwise)
        return m.confint(level=None if level == 0.95 else level, adjust=kwargs.get("adjust"))
    check_level(level)
    if method not in METHODS:
        low = {k.lower(): k for k in METHODS}
        if isinstance(method, str) and method.lower() in low:
            method = low[method.lower()]
        else:
            raise ValueError(f"unknown method {method!r}: use 'profile', 'Wald' or 'boot'")
    vp = _vp_names(m, oldNames)
    all_names = vp + list(m.fixef().index)
    names = _select(all_names, parm, len(vp))
    if method == "Wald":
        return _wald(m, names, vp, level)
    if method == "boot":
        return _boot(m, names, level, nsim, seed, oldNames, **kwargs)
    pr = profile(m, which=names, oldNames=oldNames, **kwargs)
    return pr.confint(names, level=level)
