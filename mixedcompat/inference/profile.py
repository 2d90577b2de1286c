"""Likelihood profiles of an lmer fit (lme4's ``profile.merMod`` / ``thpr``) and their plot.

The profile of one parameter ``p`` is ``zeta(p) = sign(p - p_hat) sqrt(dev(p) - dev_min)``, where
``dev(p)`` is the maximum-likelihood deviance minimised over all other parameters with ``p`` held
fixed (Bates et al. 2015, JSS 67(1), section 5.1).  As lme4:

* REML fits are first refitted by maximum likelihood: the profile is always of the ML deviance and is
  centred on the ML estimates (so ``confint`` of a REML fit is that of its ML refit);
* variance parameters are profiled on the standard-deviation / correlation scale (``.sig01``, ...)
  plus the residual standard deviation ``.sigma``: the deviance is written as a function of those
  (``sigma`` is not profiled out) and the other ones re-optimised with BOBYQA within their bounds
  (``sd >= 0``, ``-1 <= cor <= 1``, ``sigma >= 0``);
* a fixed effect ``beta_j`` is profiled by refitting theta (ML, sigma and the other coefficients
  profiled out) with ``beta_j x_j`` moved into the offset;
* the points are placed by lme4's stepping rule (steps of about ``delta = cutoff / 8`` in zeta, where
  ``cutoff = sqrt(qchisq(1 - alphamax, number of parameters))``), and ``confint`` inverts a natural
  interpolating cubic spline of zeta (R's ``interpSpline`` + ``backSpline``).

Singular fits: as lme4, a parameter estimated on its boundary (an sd at 0, a correlation at -1 or 1)
is profiled away from the boundary only, and its interval ends at the boundary (``confint`` gives 0
or -1/1 there); profiles that are not monotonic (common for correlations of singular fits) give a
``ProfileWarning`` and ``confint`` falls back to linear interpolation or NaN, with lme4's messages.

Examples
--------
>>> import mixedcompat as mc
>>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
>>> pr = mc.profile(m)
>>> pr.confint().round(2)                      # doctest: +SKIP
              2.5 %   97.5 %
.sig01        12.20    84.06
.sigma        38.23    67.66
(Intercept) 1486.45  1568.55
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import interpolate, stats

from mixedcompat.front.reterms import ThetaLayout
from mixedcompat.inference.dask_executor import is_client, map_on_client, replay
from mixedcompat.inference.levels import check_level, percent_labels
from mixedcompat.lme4.criterion import deviance_at_sigma
from mixedcompat.lme4.fast_kernels import LeanCriterion
from mixedcompat.lme4.fit import require_mermod
from mixedcompat.lme4.optimize import minimize_theta
from mixedcompat.lme4.pls import Deviance, make_deviance
from mixedcompat.numerics.nelder_mead import nelder_mead
from mixedcompat.numerics.optimizers import bobyqa
from mixedcompat.numerics.threads import blas_threads
from mixedcompat.present.html import HtmlRepr
from mixedcompat.progress import progress_bar

__all__ = ["profile", "ThetaProfile", "plot_profile", "ProfileWarning", "sdcor_names", "profile_zeta"]

# lme4's nloptwrap defaults (nloptr's xtol_rel = 1e-4 is not overridden)
_INNER = {"xtol_abs": 1e-8, "ftol_abs": 1e-8, "xtol_rel": 1e-4, "maxeval": 100000}


class ProfileWarning(UserWarning):
    """A profile that is not monotonic, has missing points or slightly lower deviances (as lme4 warns)."""


# ------------------------------------------------------------------------------------ names
def sdcor_names(m, oldNames: bool = True) -> list[str]:
    """lme4's names of the variance parameters: ``.sig01, ..., .sigma`` or (``oldNames=False``)
    ``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, ..., ``sigma``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> sdcor_names(m)
    ['.sig01', '.sig02', '.sig03', '.sigma']
    >>> sdcor_names(m, oldNames=False)[:2]
    ['sd_(Intercept)|Subject', 'cor_Days.(Intercept)|Subject']
    """
    names = m.devfun.layout.sdcor_names(oldNames)
    return names if getattr(m, "use_scale", True) else names[:-1]     # binomial / Poisson glmer: no sigma


# ------------------------------------------------------------------------------------ scales
def theta_to_sdcor(theta: np.ndarray, sigma: float, layout: ThetaLayout) -> np.ndarray:
    """Relative covariance factors -> standard deviations and correlations (theta's layout), then sigma.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> np.round(theta_to_sdcor(m.theta, m.sigma(), m.devfun.layout), 3).tolist()
    [24.741, 0.066, 5.922, 25.592]
    """
    out = []
    for T, s in zip(layout.templates(theta), layout.slices):
        cov = T @ T.T
        sd = np.sqrt(np.diag(cov))
        for r, c in zip(layout.rows[s], layout.cols[s]):
            if r == c:
                out.append(sigma * sd[r])
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    out.append(cov[r, c] / (sd[r] * sd[c]))
    return np.array(out + [sigma], dtype=float)


def _semidef_cholesky(C: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots allowed), else None."""
    q = C.shape[0]
    L = np.zeros_like(C)
    for j in range(q):
        d = C[j, j] - L[j, :j] @ L[j, :j]
        if d < -1e-10:
            return None
        d = math.sqrt(max(d, 0.0))
        L[j, j] = d
        for i in range(j + 1, q):
            s = C[i, j] - L[i, :j] @ L[j, :j]
            if d > 0:
                L[i, j] = s / d
            elif abs(s) > 1e-10:
                return None
    return L


def sdcor_to_theta(par: np.ndarray, layout: ThetaLayout) -> np.ndarray | None:
    """Inverse of :func:`theta_to_sdcor` (last entry sigma); None where the correlations are not valid.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> lay = m.devfun.layout
    >>> bool(np.allclose(sdcor_to_theta(theta_to_sdcor(m.theta, m.sigma(), lay), lay), m.theta))
    True
    """
    sigma = par[-1]
    if not sigma > 0:
        return None
    out = []
    for t, s in zip(layout.terms, layout.slices):
        v = par[s]
        rows, cols = t.tril_index
        if t.q == 1:
            out.append(v[0] / sigma)
            continue
        sd = np.zeros(t.q)
        C = np.eye(t.q)
        for val, r, c in zip(v, rows, cols):
            if r == c:
                sd[r] = val
            else:
                C[r, c] = C[c, r] = val
        Lc = _semidef_cholesky(C)
        if Lc is None:
            return None
        T = (sd / sigma)[:, None] * Lc
        out.extend(T[rows, cols])
    return np.array(out, dtype=float)


class _SdcorMap:
    """sd / correlation / sigma -> theta for a fixed term layout (closed form for 1 x 1 and 2 x 2 terms)."""

    def __init__(self, layout: ThetaLayout):
        self.layout = layout
        self.slices = [(s.start, t) for t, s in zip(layout.terms, layout.slices)]
        self.n_theta = layout.n_theta
        self.simple = all(t.q <= 2 for t in layout.terms)

    def __call__(self, par: np.ndarray) -> np.ndarray | None:
        if not self.simple:
            return sdcor_to_theta(par, self.layout)
        sigma = par[-1]
        if not sigma > 0:
            return None
        out = np.empty(self.n_theta)
        for start, t in self.slices:
            if t.q == 1:
                out[start] = par[start] / sigma
            else:
                s1, r, s2 = par[start], par[start + 1], par[start + 2]
                if not -1.0 <= r <= 1.0:
                    return None
                out[start] = s1 / sigma
                out[start + 1] = s2 * r / sigma
                out[start + 2] = s2 * math.sqrt(max(0.0, 1.0 - r * r)) / sigma
        return out


# ------------------------------------------------------------------------------------ the ML problem
@dataclass
class _MLFit:
    """The maximum-likelihood refit the profile is centred on (lme4's ``devfun2``)."""

    m: Any
    devfun: Any                      # criterion object of the model (a pure function of theta)
    theta: np.ndarray
    deviance: float                  # ML deviance at the optimum: the profile's base
    sigma: float
    beta: np.ndarray
    stderr: np.ndarray
    opt: np.ndarray                  # sd/cor..., sigma, fixed effects (ML)
    names: list[str]
    nvp: int                         # number of variance parameters (theta entries + sigma)
    lower: np.ndarray                # bounds of all parameters (sd/cor/sigma scale, then fixed effects)
    upper: np.ndarray
    n: int
    sum_log_weights: float
    theta_lower: np.ndarray
    crit: Any = None
    to_theta: Any = None

    def dev_sdcor(self, par: np.ndarray) -> float:
        """ML deviance at standard deviations / correlations / sigma ``par`` (beta profiled out)."""
        theta = self.to_theta(par)
        if theta is None:
            return np.inf
        ldL2, pwrss = self.crit(theta)
        if not np.isfinite(ldL2):
            return np.inf
        return deviance_at_sigma(ldL2, pwrss, self.n, par[-1] ** 2, self.sum_log_weights)

    def beta_at(self, theta: np.ndarray) -> np.ndarray:
        return self.devfun.solve(self.devfun.factor(theta))[0]


def _ml_fit(m, oldNames: bool) -> _MLFit:
    devfun = m.devfun
    layout = devfun.layout
    theta_lower = layout.lower

    def ml_crit(theta: np.ndarray) -> float:
        try:
            return devfun.criterion_from_factor(devfun.factor(theta), REML=False)
        except np.linalg.LinAlgError:
            return np.inf

    theta = np.asarray(m.theta, dtype=float)
    if m.REML:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = minimize_theta(ml_crit, theta, theta_lower, m.control or None)
        theta = np.asarray(res.theta, dtype=float)
    f = devfun.factor(theta)
    dev = devfun.criterion_from_factor(f, REML=False)
    sigma = devfun.sigma(f, REML=False)
    beta = devfun.solve(f)[0]
    stderr = sigma * np.sqrt(np.diag(devfun.beta_vcov_unscaled(f)))
    vp = theta_to_sdcor(theta, sigma, layout)
    names = layout.sdcor_names(oldNames) + list(m.frame.x_names)
    diag = layout.on_diagonal
    p = len(beta)
    lower = np.concatenate([np.where(diag, 0.0, -1.0), [0.0], np.full(p, -np.inf)])
    upper = np.concatenate([np.where(diag, np.inf, 1.0), [np.inf], np.full(p, np.inf)])
    return _MLFit(m, devfun, theta, float(dev), float(sigma), beta, stderr, np.concatenate([vp, beta]),
                  names, len(vp), lower, upper, int(m.nobs()), float(devfun.sum_log_weights), theta_lower,
                  LeanCriterion(devfun), _SdcorMap(layout))


# ------------------------------------------------------------------------------------ zeta functions
class _VarZeta:
    """zeta along variance parameter ``w`` (the others re-optimised from ``start``)."""

    def __init__(self, fit: _MLFit, w: int, devtol: float):
        self.fit, self.w, self.devtol = fit, w, devtol
        nvp = fit.nvp
        self.others = np.array([i for i in range(nvp) if i != w], dtype=int)
        self.lo = fit.lower[self.others]
        self.hi = fit.upper[self.others]

    def __call__(self, value: float, start: np.ndarray) -> np.ndarray:
        fit, w = self.fit, self.w
        par = fit.opt[:fit.nvp].copy()
        par[w] = value

        def objective(x: np.ndarray) -> float:
            par[self.others] = x
            return fit.dev_sdcor(par)

        x, fval, _n, _code = bobyqa(objective, start, self.lo, _INNER, upper=self.hi)
        par[self.others] = x
        zeta = _signed_root(fit, w, value, fval, self.devtol)
        theta = fit.to_theta(par)
        beta = fit.beta_at(theta) if theta is not None else np.full(len(fit.beta), np.nan)
        return np.concatenate([[zeta], par, beta])


class _FixefZeta:
    """zeta along fixed effect ``j``: theta refitted (ML) with ``beta_j x_j`` in the offset."""

    def __init__(self, fit: _MLFit, j: int):
        self.fit, self.j = fit, j
        fr = fit.m.frame
        X = np.asarray(fr.X, dtype=float)
        self.xj = X[:, j]
        self.Xdrop = np.delete(X, j, axis=1)
        self.offset0 = np.zeros(len(fr.y)) if fr.offset is None else np.asarray(fr.offset, dtype=float)

    def deviance_at(self, value: float) -> Deviance:
        """The ML criterion with ``beta_j = value`` in the offset: from the rows (a new criterion
        object, as lme4), or, for a fit that does not hold them (Dask data), from its blocks."""
        fit, j = self.fit, self.j
        if not fit.m.holds_rows:
            return fit.devfun.with_column_in_offset(j, value, REML=False)
        fr = fit.m.frame
        return make_deviance(fit.m.terms, self.Xdrop, fr.y, fr.weights, self.offset0 + value * self.xj, REML=False)

    def __call__(self, value: float, start: np.ndarray | None = None) -> np.ndarray:
        fit, j = self.fit, self.j
        dev = self.deviance_at(value)
        crit = LeanCriterion(dev)
        x, fval, _n, _code = bobyqa(crit.ml_deviance, fit.theta, fit.theta_lower, _INNER,
                                    upper=np.full(len(fit.theta), np.inf))
        f = dev.factor(x)
        sigma = dev.sigma(f, REML=False)
        beta_rest = dev.solve(f)[0]
        devdiff = fval - fit.deviance
        if devdiff < 0:
            devdiff = 0.0 if devdiff > -1e-6 else np.nan
        est = fit.opt[fit.nvp + j]
        zeta = math.copysign(math.sqrt(devdiff), value - est) if np.isfinite(devdiff) else np.nan
        beta = np.insert(beta_rest, j, value)
        return np.concatenate([[zeta], theta_to_sdcor(x, sigma, fit.m.devfun.layout), beta])


# ------------------------------------------------------------------------------------ glmer fits
# lme4's profile of a GLMM (no scale parameter): every parameter -- sd / cor of the random effects and
# the fixed effects alike -- is held at a value while the others are re-optimised on the fit's own
# objective over (theta, beta) (lme4's devfun2 on getME(m, "devfun")), by lme4's Nelder-Mead with its
# default steps (0.02; optwrap drops the fit's xst / xt) within the bounds (sd >= 0, -1 <= cor <= 1), started at the previous point's
# values; the first point is 1.01 times the estimate (0.001 when it is 0).


@dataclass
class _GlmerFit:
    """A glmer fit as its profile sees it: the objective, its optimum on the sd/cor + beta scale."""

    m: Any
    objective: Any
    deviance: float
    opt: np.ndarray
    names: list[str]
    nvp: int
    lower: np.ndarray
    upper: np.ndarray
    to_theta: Any

    def dev(self, par: np.ndarray) -> float:
        theta = self.to_theta(np.append(par[:self.nvp], 1.0))        # sigma = 1: sd's are theta's scale
        if theta is None:
            return np.inf
        try:
            return float(self.objective(np.concatenate([theta, par[self.nvp:]])))
        except Exception:  # noqa: BLE001 - a PIRLS failure at a trial point is an infinite deviance
            return np.inf


def _glmer_fit(m, oldNames: bool) -> _GlmerFit:
    if m.use_scale:
        raise NotImplementedError("can't (yet) profile GLMMs with non-fixed scale parameters (as lme4)")
    if m.nAGQ == 0:
        raise NotImplementedError("profile() of an nAGQ = 0 glmer fit: its objective is a function of theta "
                                  "only (beta is estimated inside PIRLS); profile a Laplace fit (nAGQ >= 1)")
    layout = m.devfun.layout
    vp = theta_to_sdcor(np.asarray(m.theta, dtype=float), 1.0, layout)[:-1]
    names = sdcor_names(m, oldNames) + list(m.frame.x_names)
    diag = layout.on_diagonal
    p = len(m.beta)
    lower = np.concatenate([np.maximum(np.where(diag, 0.0, -1.0), -1.0), np.full(p, -np.inf)])
    upper = np.concatenate([np.where(diag, np.inf, 1.0), np.full(p, np.inf)])
    opt = np.concatenate([vp, np.asarray(m.beta, dtype=float)])
    fit = _GlmerFit(m, m.objective, 0.0, opt, names, len(vp), lower, upper, _SdcorMap(layout))
    fit.deviance = fit.dev(opt)
    return fit


class _GlmerZeta:
    """zeta along parameter ``w`` of a glmer fit (all others re-optimised from ``start``)."""

    def __init__(self, fit: _GlmerFit, w: int, devtol: float):
        self.fit, self.w, self.devtol = fit, w, devtol
        self.others = np.array([i for i in range(len(fit.opt)) if i != w], dtype=int)
        self.lo = fit.lower[self.others]
        self.hi = fit.upper[self.others]

    def __call__(self, value: float, start: np.ndarray) -> np.ndarray:
        fit, w = self.fit, self.w
        par = fit.opt.copy()
        par[w] = value

        def objective(x: np.ndarray) -> float:
            trial = par.copy()
            trial[self.others] = x
            return fit.dev(trial)

        x0 = np.clip(np.asarray(start, dtype=float), self.lo, self.hi)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # lme4's optwrap warnings are not repeated per point
            res = nelder_mead(objective, x0, lower=self.lo, upper=self.hi)
        x, fval = np.asarray(res.par, dtype=float), float(res.fval)
        par[self.others] = x
        zeta = _signed_root(fit, w, value, fval, self.devtol)
        if np.isnan(zeta):
            par[self.others] = np.nan
        return np.concatenate([[zeta], par])


# ------------------------------------------------------------------------------------ stepping
def _next_value(mat: list[np.ndarray], col: int, absstep: float, lo: float, hi: float,
                maxmult: float, minstep: float) -> float:
    """lme4's rule: a step of about ``absstep`` in zeta, extrapolated from the last two points."""
    p0, p1 = mat[-2][col], mat[-1][col]
    z0, z1 = mat[-2][0], mat[-1][0]
    num = p1 - p0
    denom = z1 - z0
    if not np.isfinite(denom) or denom == 0:
        warnings.warn("Last two rows have identical or NA .zeta values: using minstep", ProfileWarning,
                      stacklevel=3)
        step = minstep
    else:
        step = absstep * num / denom
        if step < 0:
            warnings.warn("unexpected decrease in profile: using minstep", ProfileWarning, stacklevel=3)
            step = minstep
        elif abs(step) > abs(maxmult * num):
            step = abs(maxmult * num)
    return float(min(hi, max(lo, p1 + math.copysign(1.0, num) * step)))


def _fill(rows: list[np.ndarray], col: int, zetafun, lo: float, hi: float, cutoff: float,
          delta: float, maxpts: int, maxmult: float, minstep: float, carry_start) -> list[np.ndarray]:
    """Extend the profile from its first two rows until |zeta| passes the cutoff or a bound is hit."""
    while len(rows) < maxpts:
        cur = rows[-1]
        z = cur[0]
        if not (lo < cur[col] < hi) or (np.isfinite(z) and abs(z) > cutoff):
            break
        nxt = _next_value(rows, col, delta, lo, hi, maxmult, minstep)
        rows.append(zetafun(nxt, carry_start(cur)))
    return rows


def _unique_rows(rows: list[np.ndarray]) -> np.ndarray:
    out: list[np.ndarray] = []
    for r in rows:
        if not any(np.array_equal(r, s, equal_nan=True) for s in out):
            out.append(r)
    return np.array(out)


# ------------------------------------------------------------------------------------ the result
@dataclass
class _ParamSpline:
    """zeta(p) as a natural interpolating cubic spline and its inverse (R's interpSpline / backSpline)."""

    forward: Any = None
    backward: Any = None
    error: str | None = None


def _splines(x: np.ndarray, z: np.ndarray) -> _ParamSpline:
    ok = np.isfinite(x) & np.isfinite(z)
    x, z = x[ok], z[ok]
    order = np.argsort(x, kind="stable")
    x, z = x[order], z[order]
    if len(x) < 2 or np.any(np.diff(x) <= 0):
        return _ParamSpline(error="too few distinct points")
    try:
        fwd = interpolate.CubicSpline(x, z, bc_type="natural", extrapolate=True) if len(x) > 2 \
            else interpolate.interp1d(x, z, fill_value="extrapolate")
    except ValueError as exc:
        return _ParamSpline(error=str(exc))
    d = fwd(x, 1) if len(x) > 2 else np.full(len(x), (z[1] - z[0]) / (x[1] - x[0]))
    if not (np.all(d > 0) or np.all(d < 0)):
        return _ParamSpline(forward=fwd, error="spline must be monotone")
    zo = np.argsort(z)
    bak = interpolate.CubicHermiteSpline(z[zo], x[zo], 1.0 / d[zo], extrapolate=False)
    return _ParamSpline(fwd, bak)


@dataclass
class ThetaProfile(HtmlRepr):
    """lme4's ``thpr``: the profile points of each parameter, their splines, and ``confint``.

    ``pr[name]`` -> the rows of that parameter's profile (columns ``.zeta`` and every parameter,
    sorted by the profiled one); ``pr.points(name)`` -> DataFrame ``(value, zeta)``;
    ``pr.to_frame()`` -> R's ``as.data.frame(profile(m))`` (with ``.par`` and ``.focal``).
    """

    params: list[str]                               # profiled parameters, in lme4's order
    columns: list[str]                              # every parameter (the columns of each profile)
    tables: dict[str, pd.DataFrame]
    lower: pd.Series
    upper: pd.Series
    splines: dict[str, _ParamSpline] = field(repr=False)
    cutoff: float = float("nan")
    REML_refitted: bool = False

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise KeyError(f"{name!r} was not profiled; profiled parameters: {', '.join(self.params)}")
        return self.tables[name]

    def __iter__(self):
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def points(self, name: str) -> pd.DataFrame:
        tab = self[name]
        return pd.DataFrame({"value": tab[name].to_numpy(), "zeta": tab[".zeta"].to_numpy()})

    def to_frame(self) -> pd.DataFrame:
        parts = []
        for name in self.params:
            tab = self.tables[name].copy()
            tab[".par"] = name
            tab[".focal"] = tab[name]
            parts.append(tab)
        return pd.concat(parts, ignore_index=True)

    def confint(self, parm: Sequence[str] | str | None = None, level: float = 0.95,
                non_mono_tol: float = 1e-2) -> pd.DataFrame:
        """Profile intervals: where the spline of zeta reaches ``-/+ qnorm((1 + level) / 2)`` (lme4's
        ``confint.thpr``); ends the profile never reaches are the parameter's bounds."""
        check_level(level)
        names = self.params if parm is None else ([parm] if isinstance(parm, str) else list(parm))
        a = (1.0 - level) / 2.0
        zeta = stats.norm.ppf([a, 1.0 - a])
        out = np.full((len(names), 2), np.nan)
        for i, name in enumerate(names):
            sp_ = self.splines.get(name)
            if sp_ is None:
                raise KeyError(f"{name!r} was not profiled; profiled parameters: {', '.join(self.params)}")
            bad = False
            if sp_.error is None:
                val = np.asarray(sp_.backward(zeta), dtype=float)
            else:
                tab = self.tables[name]
                z = tab[".zeta"].to_numpy()
                v = tab[name].to_numpy()
                if np.all(np.isnan(z)):
                    bad = True
                    warnings.warn(f"bad profile for {name}", ProfileWarning, stacklevel=2)
                    val = np.full(2, np.nan)
                elif np.nanmin(np.diff(z)) < -non_mono_tol:
                    bad = True
                    warnings.warn(f"non-monotonic profile for {name}", ProfileWarning, stacklevel=2)
                    val = np.full(2, np.nan)
                else:
                    warnings.warn(f"bad spline fit for {name}: falling back to linear interpolation",
                                  ProfileWarning, stacklevel=2)
                    ok = np.isfinite(z) & np.isfinite(v)
                    zo = np.argsort(z[ok], kind="stable")
                    zz, vv = z[ok][zo], v[ok][zo]
                    val = np.interp(zeta, zz, vv, left=np.nan, right=np.nan)
            if not bad:
                if np.isnan(val[0]):
                    val[0] = self.lower[name]
                if np.isnan(val[1]):
                    val[1] = self.upper[name]
            out[i] = val
        return pd.DataFrame(out, index=names, columns=percent_labels(level))

    def __repr__(self) -> str:
        n = {p: len(t) for p, t in self.tables.items()}
        return "ThetaProfile(" + ", ".join(f"{p}: {k} points" for p, k in n.items()) + ")"


# ------------------------------------------------------------------------------------ profile()
def _resolve_which(which, names: list[str], nvp: int) -> list[int]:
    if which is None:
        return list(range(len(names)))
    if isinstance(which, str):
        if which == "theta_":
            return list(range(nvp))
        if which == "beta_":
            return list(range(nvp, len(names)))
        which = [which]
    out = []
    for w in which:
        if isinstance(w, (int, np.integer)) and not isinstance(w, bool):
            if not 1 <= w <= len(names):
                raise ValueError(f"parameter index {w} out of range 1..{len(names)} (R's 1-based positions "
                                 f"in {', '.join(names)})")
            out.append(int(w) - 1)
        elif w in ("theta_", "beta_"):
            out.extend(_resolve_which(w, names, nvp))
        elif w in names:
            out.append(names.index(w))
        else:
            raise ValueError(f"unknown parameter {w!r}: the parameters are {', '.join(names)} "
                             "(or 'theta_' / 'beta_')")
    return sorted(set(out))


def profile(m, which: Sequence[str] | str | None = None, alphamax: float = 0.01, maxpts: int = 100,
            delta: float | None = None, delta_cutoff: float = 1 / 8, maxmult: float = 10,
            devtol: float = 1e-6, minstep: float = 1e-6, oldNames: bool = True,
            signames: bool | None = None, parallel: Any = None, progress: bool = True) -> ThetaProfile:
    """Profile the ML deviance along each parameter, as lme4's ``profile.merMod``.

    R equivalent: ``profile(m, which, alphamax = 0.01, maxpts = 100, delta.cutoff = 1/8)`` (lme4's ``profile.merMod``).

    Parameters
    ----------
    m : LmerMod
        The fit (REML fits are refitted by ML first, as lme4 does).
    which : str or list, optional
        Parameters to profile: names (``".sig01"``, ``".sigma"``, ``"Days"``), R's 1-based positions,
        ``"theta_"`` (all variance parameters) or ``"beta_"`` (all fixed effects). Default: all.
    alphamax : float
        Profiles extend to ``|zeta| > sqrt(qchisq(1 - alphamax, number of parameters))``.
    maxpts : int
        Maximum number of points in each direction.
    delta : float, optional
        Target step in zeta (default ``cutoff * delta_cutoff``).
    delta_cutoff : float
        lme4's ``delta.cutoff``: the target step as a fraction of the cutoff (default 1/8).
    maxmult : float
        Largest step, as a multiple of the previous one (lme4's ``maxmult``, default 10).
    minstep : float
        The step used when the profile's zeta does not increase (lme4's ``minstep``, default 1e-6).
    oldNames, signames : bool
        ``.sig01`` ... names (default) or ``sd_(Intercept)|Subject`` ... (``signames`` is lme4's name).
    devtol : float
        A deviance below the optimum by more than this is an error (the fit was not at the optimum);
        lme4 uses 1e-9 against its own refit; ours is computed afresh, so a little slack.
    parallel : None or a dask.distributed Client
        ``parallel=client``: each parameter is profiled as one task on the Dask cluster behind
        ``client`` (lme4's ``parallel`` profiles parameters in parallel too); the points are those of
        the serial run, and warnings and errors come in parameter order.  ``confint(m,
        method="profile", parallel=client)`` passes it on.
    progress : bool
        A progress bar over the profiled parameters (tqdm) in a terminal or a Jupyter notebook
        (:mod:`mixedcompat.progress`); none when stderr is a file or a pipe.

    Returns
    -------
    ThetaProfile

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
    >>> pr = mc.profile(m, which=".sig01")
    >>> pr.points(".sig01").head(3)      # doctest: +SKIP
    """
    require_mermod(m, "profile")
    if signames is not None:
        oldNames = bool(signames)
    if not 0 < alphamax < 1:
        raise ValueError(f"alphamax must be in (0, 1), not {alphamax!r}")
    if int(maxpts) < 3:
        raise ValueError(f"maxpts must be at least 3, not {maxpts!r}")
    with blas_threads((m.control or {}).get("blas_threads", 1)):
        return _profile(m, which, alphamax, int(maxpts), delta, delta_cutoff, maxmult, devtol, minstep, oldNames,
                        parallel, progress)


def _profile(m, which, alphamax: float, maxpts: int, delta: float | None, delta_cutoff: float,
             maxmult: float, devtol: float, minstep: float, oldNames: bool, parallel: Any = None,
             progress: bool = False) -> ThetaProfile:
    """lme4's ``profile.merMod``: the ML refit of an lmer fit (:class:`_MLFit`) or a glmer fit as fitted
    (:class:`_GlmerFit`), each parameter's points (one task per parameter), then the tables and splines."""
    glmer = getattr(m, "gdata", None) is not None
    fit = _glmer_fit(m, oldNames) if glmer else _ml_fit(m, oldNames)
    names = fit.names
    nptot = len(names)
    idx = _resolve_which(which, names, fit.nvp)
    cutoff = math.sqrt(stats.chi2.ppf(1.0 - alphamax, nptot))
    if delta is None:
        delta = cutoff * delta_cutoff
    steps = _Stepping(cutoff, delta, maxpts, maxmult, devtol, minstep)
    bar = progress_bar(len(idx), progress, "profile")
    try:
        mats = _map_params(_glmer_points if glmer else _lmer_points, fit, steps, idx, parallel, m, bar)
    finally:
        bar.close()
    tables, splines = _tables(names, idx, mats, stacklevel=4)
    lower = pd.Series(fit.lower, index=names)
    upper = pd.Series(fit.upper, index=names)
    return ThetaProfile([names[w] for w in idx], names, tables, lower, upper, splines, cutoff,
                        False if glmer else bool(m.REML))


def _lmer_points(fit: _MLFit, steps: _Stepping, w: int) -> np.ndarray:
    """The profile points of parameter ``w`` of an lmer fit (rows ``zeta, parameters``), sorted along it."""
    cutoff, delta, maxpts, maxmult, minstep = steps.cutoff, steps.delta, steps.maxpts, steps.maxmult, steps.minstep
    col = w + 1
    base_row = np.concatenate([[0.0], fit.opt])
    if w < fit.nvp:
        zf = _VarZeta(fit, w, steps.devtol)
        others = zf.others
        pw = fit.opt[w]
        lo, hi = fit.lower[w], fit.upper[w]
        shift = 1e-3 if pw == 0 else pw * 1.01
        first = zf(shift, fit.opt[others])

        def carry(row, others=others):
            return row[1 + others]
    else:
        j = w - fit.nvp
        zf = _FixefZeta(fit, j)
        lo, hi = -np.inf, np.inf
        pw = fit.opt[w]
        first = zf(pw + delta * fit.stderr[j])

        def carry(row):
            return None
    up = _fill([base_row, first], col, zf, lo, hi, cutoff, delta, maxpts, maxmult, minstep, carry)
    if pw > lo:
        down = _fill([first, base_row], col, zf, lo, hi, cutoff, delta, maxpts, maxmult, minstep, carry)
    else:
        down = [first, base_row]
    mat = _unique_rows(up + down)
    return mat[np.argsort(mat[:, col], kind="stable")]



def _signed_root(fit, w: int, value: float, fval: float, devtol: float) -> float:
    """lme4's profile zeta at ``value`` of parameter ``w``: the signed square root of the deviance's rise
    over the optimum; NaN with lme4's warning when the deviance is not finite, lme4's error when it falls
    below the optimum by more than ``devtol`` and its warning when by less (then zeta is 0)."""
    devdiff = fval - fit.deviance
    if not np.isfinite(devdiff):
        warnings.warn("NAs detected in profiling", ProfileWarning, stacklevel=5)
        return np.nan
    if devdiff < -devtol:
        raise RuntimeError(f"profiling detected new, lower deviance ({fval:.10g} < {fit.deviance:.10g} "
                           f"at {fit.names[w]} = {value:.6g}): the fit is not at the optimum")
    if devdiff < 0:
        warnings.warn(f"slightly lower deviances (diff={devdiff:g}) detected", ProfileWarning, stacklevel=5)
    return math.copysign(math.sqrt(max(devdiff, 0.0)), value - fit.opt[w]) if value != fit.opt[w] else 0.0


@dataclass
class _Stepping:
    """lme4's stepping settings of a profile."""

    cutoff: float
    delta: float
    maxpts: int
    maxmult: float
    devtol: float
    minstep: float


def _map_params(points, fit, steps: _Stepping, idx: list[int], parallel: Any, m, bar: Any) -> list[np.ndarray]:
    """``points(fit, steps, w)`` for each profiled parameter ``w``: here, or one task per parameter on a
    Dask cluster (``parallel=client``; the points are the same, warnings and errors come in parameter
    order as in the serial loop)."""
    if parallel is None or (isinstance(parallel, (bool, np.bool_)) and not parallel) \
            or (isinstance(parallel, str) and parallel == "no"):
        mats = []
        for w in idx:
            mats.append(points(fit, steps, w))
            bar.update(1)
        return mats
    if is_client(parallel):
        return replay(map_on_client(parallel, points, fit, [(steps, w) for w in idx],
                                    (m.control or {}).get("blas_threads", 1), lambda _out: bar.update(1)),
                      stacklevel=4)
    raise ValueError(f"profile: parallel must be None or a dask.distributed Client, not {parallel!r} "
                     f"(of type {type(parallel).__name__})")


def _tables(names: list[str], idx: list[int], mats: list[np.ndarray],
            stacklevel: int) -> tuple[dict[str, pd.DataFrame], dict[str, _ParamSpline]]:
    """Each profiled parameter's points as a table and its splines (a warning when not monotonic)."""
    tables: dict[str, pd.DataFrame] = {}
    splines: dict[str, _ParamSpline] = {}
    cols = [".zeta"] + names
    for w, mat in zip(idx, mats):
        name = names[w]
        tables[name] = pd.DataFrame(mat, columns=cols).reset_index(drop=True)
        spl = _splines(mat[:, w + 1], mat[:, 0])
        if spl.error is not None:
            warnings.warn(f"non-monotonic profile for {name}", ProfileWarning, stacklevel=stacklevel)
        splines[name] = spl
    return tables, splines


def _glmer_points(fit: _GlmerFit, steps: _Stepping, w: int) -> np.ndarray:
    """The profile points of parameter ``w`` of a glmer fit, sorted along it."""
    cutoff, delta, maxpts, maxmult, minstep = steps.cutoff, steps.delta, steps.maxpts, steps.maxmult, steps.minstep
    col = w + 1
    base_row = np.concatenate([[0.0], fit.opt])
    zf = _GlmerZeta(fit, w, steps.devtol)
    others = zf.others
    pw = fit.opt[w]
    lo, hi = fit.lower[w], fit.upper[w]
    first = zf(1e-3 if pw == 0 else pw * 1.01, fit.opt[others])

    def carry(row, others=others):
        prev = row[1 + others]
        return prev if np.all(np.isfinite(prev)) else fit.opt[others]

    up = _fill([base_row, first], col, zf, lo, hi, cutoff, delta, maxpts, maxmult, minstep, carry)
    down = _fill([first, base_row], col, zf, lo, hi, cutoff, delta, maxpts, maxmult, minstep, carry) \
        if pw > lo else [first, base_row]
    mat = _unique_rows(up + down)
    return mat[np.argsort(mat[:, col], kind="stable")]


def profile_zeta(m, name: str, values: Sequence[float], oldNames: bool = True) -> np.ndarray:
    """zeta of parameter ``name`` at given values (no stepping): for checks against R's profile points.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
    >>> np.round(profile_zeta(m, ".sig01", [20.0, 60.0]), 3).tolist()
    [-1.383, 1.192]
    """
    fit = _ml_fit(m, oldNames)
    w = fit.names.index(name)
    out = []
    if w < fit.nvp:
        zf = _VarZeta(fit, w, devtol=np.inf)
        for v in values:
            out.append(zf(float(v), fit.opt[zf.others])[0])
    else:
        zf = _FixefZeta(fit, w - fit.nvp)
        out = [zf(float(v))[0] for v in values]
    return np.array(out)


# ------------------------------------------------------------------------------------ plot
def plot_profile(pr: ThetaProfile, absVal: bool = False, levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.99),
                 ncol: int | None = None):
    """lme4's ``xyplot(profile(m))``: zeta against each parameter, one panel per parameter.

    The spline of the profile is drawn as a line over its points; horizontal lines mark
    ``+/- qnorm((1 + level) / 2)`` for ``levels`` and vertical ones the matching interval ends.
    ``absVal=True`` draws ``|zeta|`` (lme4's ``absVal`` argument).  Returns a matplotlib Figure built
    without pyplot (works headless).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
    >>> fig = plot_profile(mc.profile(m))      # doctest: +SKIP
    >>> fig.savefig("profile.png")             # doctest: +SKIP
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("plot_profile needs matplotlib: pip install mixedcompat[plot]") from exc
    names = list(pr.params)
    k = len(names)
    ncol = ncol or min(k, 3 if k > 4 else k)
    nrow = math.ceil(k / ncol)
    fig = Figure(figsize=(3.2 * ncol, 2.8 * nrow))
    zlev = stats.norm.ppf((1 + np.asarray(levels)) / 2)
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        tab = pr[name]
        x, z = tab[name].to_numpy(), tab[".zeta"].to_numpy()
        sp_ = pr.splines[name]
        ok = np.isfinite(x) & np.isfinite(z)
        if sp_.forward is not None and ok.sum() > 1:
            xs = np.linspace(np.min(x[ok]), np.max(x[ok]), 200)
            zs = sp_.forward(xs)
            ax.plot(xs, np.abs(zs) if absVal else zs, color="C0", lw=1.2)
        ax.plot(x[ok], np.abs(z[ok]) if absVal else z[ok], "o", color="C0", ms=3)
        for zl in zlev:
            for s in ((1,) if absVal else (-1, 1)):
                ax.axhline(s * zl, color="0.75", lw=0.6, ls=":")
            if sp_.backward is not None:
                ends = sp_.backward([-zl, zl])
                for e in ends:
                    if np.isfinite(e):
                        ax.axvline(e, color="0.75", lw=0.6, ls=":")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("|zeta|" if absVal else "zeta", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
