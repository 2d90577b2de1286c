"""The result of ``mc.lme`` / ``mc.gls``: nlme's accessors on an immutable fit object, and how to fit
(:func:`fit_nlme`, behind ``lme`` / ``gls``) and update it.

Every accessor has nlme's meaning: ``fixef``/``coef``, ``vcov``, ``sigma``, ``logLik``/``AIC``/``BIC``
(nlme's REML constant; BIC with ``n - p`` observations under REML), ``VarCorr`` (same
``.to_frame()`` shape as lmer's), ``ranef``, ``fitted``/``residuals`` by level and type, ``predict``
by level, ``cor_params`` / ``var_params`` on the natural scale; ``intervals`` and ``anova`` live in
:mod:`mixedcompat.nlme.nlme_inference`, the printed text in :mod:`mixedcompat.present.nlme_printing`,
``ACF`` / ``Variogram`` in :mod:`mixedcompat.nlme.fit_diagnostics`.  Results are returned in the
data's row order (nlme works on rows sorted by group and puts them back).
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.front.design import ModelFrame, build_fixed, build_matrix
from mixedcompat.interop.statsmodels_api import CallableInt
from mixedcompat.front.formula import parse_formula
from mixedcompat.front.rlang import Node, deparse_one
from mixedcompat.front.terms import update_formula_tree
from mixedcompat.model import LogLik, MixedModel
from mixedcompat.nlme.fit_diagnostics import acf_of, plot_acf, plot_residuals_by_group, plot_variogram, variogram_of
from mixedcompat.nlme.nlme_inference import anova_nlme, intervals, t_table
from mixedcompat.nlme.control import translate_control
from mixedcompat.nlme.estimate import DEFAULT_CONTROL, Estimate, approximate_vcov, maximise
from mixedcompat.nlme.likelihood import NlmeLikelihood, Solution
from mixedcompat.nlme.model_setup import Setup, build, parse_random
from mixedcompat.numerics.threads import blas_threads
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.nlme_printing import format_print, format_summary, format_varcorr

__all__ = ["NlmeFit", "NlmeSummary", "NlmeVarCorr", "fit_nlme"]


# ------------------------------------------------------------------------------------------------
# fitting: lme() and gls() (mixedcompat.nlme.lme) and NlmeFit.update call fit_nlme


def _method(method: str) -> str:
    if method not in ("REML", "ML"):
        raise DataError(f"method must be 'REML' or 'ML', not {method!r}")
    return method


def _check_control(control: dict | None) -> dict:
    """mixedcompat's own settings and nlme's lmeControl names (:mod:`mixedcompat.nlme.control`)."""
    return translate_control(control, DEFAULT_CONTROL)


def _start_fitted(lik, ols_fitted: np.ndarray) -> np.ndarray:
    """nlme's first fitted values of a ``fitted(.)`` variance function in ``lme``: the innermost-level
    fitted values (BLUPs included) of the model at its starting values, where the variance function's
    weights are constant (``Initialize.lmeStruct`` runs ``MEestimate`` before the first ``update``)."""
    try:
        sol = lik.solve(lik.start(), ols_fitted)
        out = lik.fitted_levels(sol.beta, sol.b)[-1]
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        return ols_fitted
    return out if np.all(np.isfinite(out)) else ols_fitted


def fit_nlme(kind: str, fixed: str | Node, data: pd.DataFrame, random, correlation, weights, method: str,
             na_action: str, control: dict | None) -> "NlmeFit":
    """Fit an ``lme`` (``kind="lme"``) or ``gls`` model: set up, maximise the (restricted)
    likelihood, and build the :class:`NlmeFit` (the arguments are :func:`mixedcompat.lme`'s).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = fit_nlme("gls", "distance ~ age", mc.datasets.load("Orthodont"), None, None, None,
    ...              "REML", "omit", None)
    >>> round(float(m.logLik()), 4)
    -254.5847
    """
    method = _method(method)
    ctl = _check_control(control)
    levels = parse_random(random) if kind == "lme" else []
    with blas_threads(1):
        setup = build(fixed, data, levels, correlation, weights, method == "REML", na_action)
        lik = setup.lik
        fitted0 = None
        if lik.uses_fitted:
            beta = np.linalg.lstsq(lik.X, lik.y, rcond=None)[0]
            fitted0 = lik.X @ beta
            if lik.levels:
                fitted0 = _start_fitted(lik, fitted0)
        est = maximise(lik, lik.start(), fitted0, ctl)
        call = {"fixed": deparse_one(fixed) if isinstance(fixed, Node) else fixed, "data": data, "random": random, "correlation": correlation, "weights": weights,
                "method": method, "na_action": na_action, "control": control}
        return NlmeFit(kind, setup, est, method, call, ctl)


# ------------------------------------------------------------------------------------------------
# the fit


class NlmeFit(MixedModel):
    """A fitted ``lme`` or ``gls`` model (see :func:`mixedcompat.lme`, :func:`mixedcompat.gls`), a
    :class:`~mixedcompat.model.MixedModel`; frozen once built.

    Public read-only components: ``kind`` ("lme" / "gls"), ``method`` ("REML" / "ML"), ``call``,
    ``control``, ``setup`` (the sorted rows, structures and model frame), ``frame``, ``likelihood``
    (the criterion), ``opt`` (the optimiser's result) and ``solution`` (beta, b, sigma at the optimum).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> m.kind, m.nobs, round(m.sigma(), 4)
    ('lme', 108, 1.4316)
    """

    r_package = "nlme"

    def __init__(self, kind: str, setup: Setup, est: Estimate, method: str, call: dict, control: dict):
        self.kind = kind
        self.method = method
        self.call = call
        self._setup = setup
        self._est = est
        self._control = control
        lik = setup.lik
        self._lik = lik
        self._sol = lik.solve(est.params, est.fitted)
        unsort = np.empty_like(setup.order)
        unsort[setup.order] = np.arange(len(setup.order))
        self._unsort = unsort
        self._fitted_sorted = lik.fitted_levels(self._sol.beta, self._sol.b)
        self._freeze()

    # --- components (read-only) -------------------------------------------------------------------------------
    @property
    def setup(self) -> Setup:
        """The model set-up: rows sorted by group, random-effects levels, structures, model frame."""
        return self._setup

    @property
    def frame(self) -> ModelFrame:
        """The fixed-effects model frame (the same type as ``LmerMod.frame``)."""
        return self._setup.frame

    @property
    def likelihood(self) -> NlmeLikelihood:
        """The (restricted) log-likelihood as a function of the variance parameters."""
        return self._lik

    @property
    def opt(self) -> Estimate:
        """The optimiser's result (unconstrained parameters, criterion, fitted values it used)."""
        return self._est

    @property
    def solution(self) -> Solution:
        """beta, the random effects, sigma and the criterion at the optimum."""
        return self._sol

    @property
    def control(self) -> dict:
        """The control settings the fit used."""
        return self._control

    # --- basic quantities -----------------------------------------------------------------------------
    @property
    def x_names(self) -> list[str]:
        return list(self._setup.frame.x_names)

    @property
    def REML(self) -> bool:
        return self.method == "REML"

    @property
    def n_levels(self) -> int:
        return len(self._lik.levels)

    @property
    def level_names(self) -> list[str]:
        return [lv.name for lv in self._lik.levels]

    @property
    def model_rows(self) -> np.ndarray:
        """Positions in the data of the rows the fit used (after NA removal), in the data's order."""
        return np.sort(self._setup.rows)

    @property
    def formula(self) -> str:
        """The fixed-effects formula (nlme's ``formula(m)``)."""
        return self.call["fixed"]

    def describe(self) -> str:
        """One line: fixed formula, random, correlation and variance structures, method."""
        parts = [self.call["fixed"]]
        for key in ("random", "correlation", "weights"):
            if self.call.get(key) is not None:
                parts.append(f"{key} = {self.call[key]!r}" if key != "random" else f"random = {self.call[key]}")
        return ", ".join(parts)

    @property
    def nobs(self) -> CallableInt:
        """Number of observations used: ``m.nobs`` and ``m.nobs()`` / ``nobs(m)``."""
        return CallableInt(self._lik.n)

    def fixef(self) -> pd.Series:
        """Fixed-effects estimates (nlme's ``fixef`` / ``coef`` for gls)."""
        return pd.Series(self._sol.beta, index=self.x_names)

    def sigma(self) -> float:
        return float(self._sol.sigma)

    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed-effects estimates (sigma^2 (X' V^{-1} X)^{-1})."""
        v = self._sol.sigma ** 2 * self._sol.vcov_unscaled
        if not self.REML and self.kind == "gls":   # gls (ML) scales it by N / (N - p); lme's vcov does not
            v = v * self._lik.n / (self._lik.n - self._lik.p)
        return pd.DataFrame(v, index=self.x_names, columns=self.x_names)

    @property
    def n_var_params(self) -> int:
        return int(self._lik.n_par)

    def logLik(self) -> LogLik:
        """nlme's (restricted) log-likelihood; df = fixed effects + variance parameters + sigma."""
        df = self._lik.p + self._lik.n_par + 1
        return LogLik(-0.5 * self._sol.criterion, df=df, nobs=self.nobs())

    def _bic_nobs(self) -> int:
        """nlme's BIC counts ``N - p`` observations under REML."""
        return self.nobs() - (self._lik.p if self.REML else 0)

    # --- structures' parameters on the natural scale --------------------------------------------------------
    @property
    def params_unconstrained(self) -> np.ndarray:
        return self._est.params

    @property
    def cor_params(self) -> np.ndarray | None:
        """``coef(m$modelStruct$corStruct, unconstrained = FALSE)``."""
        cor = self._lik.cor
        if cor is None:
            return None
        _, cu, _ = self._lik.split(self._est.params)
        return np.asarray(cor.natural(cu), float)

    @property
    def cor_names(self) -> list[str]:
        return [] if self._lik.cor is None else list(self._lik.cor.names)

    @property
    def var_params(self) -> dict | None:
        """``coef(m$modelStruct$varStruct, unconstrained = FALSE)`` as name -> value."""
        var = self._lik.var
        if var is None:
            return None
        _, _, vu = self._lik.split(self._est.params)
        return dict(var.natural(vu, all_coef=False))

    # --- random effects ---------------------------------------------------------------------------------------
    def _psi(self, k: int) -> np.ndarray:
        re_pars, _, _ = self._lik.split(self._est.params)
        lv = self._lik.levels[k]
        return lv.pd.relative_cov(re_pars[k]) * self._sol.sigma ** 2

    def re_cov(self) -> dict:
        """Level name -> covariance matrix of the random effects (DataFrame)."""
        out = {}
        for k, lv in enumerate(self._lik.levels):
            cols = list(lv.pd.columns)
            out[lv.name] = pd.DataFrame(self._psi(k), index=cols, columns=cols)
        return out

    def ranef(self, level: int | None = None, condVar: bool = False):
        """Conditional modes (BLUPs) per level: dict level name -> DataFrame (index = group labels)."""
        if condVar:
            raise DataError("nlme's ranef has no conditional variances (condVar is lme4's): use an lmer fit")
        out = {}
        for lv, b in zip(self._lik.levels, self._sol.b):
            out[lv.name] = pd.DataFrame(b, index=[str(x) for x in lv.labels], columns=list(lv.pd.columns))
        if level is not None:
            return out[self.level_names[level - 1]]
        return out

    def coef(self, level: int | None = None):
        """Fixed plus random effects per group (nlme's ``coef``); gls: the fixed effects."""
        if self.kind == "gls":
            return self.fixef()
        out = {}
        beta = self.fixef()
        ranefs = self.ranef()
        for k, lv in enumerate(self._lik.levels):
            labels = [str(x) for x in lv.labels]
            df = pd.DataFrame(np.tile(beta.to_numpy(), (len(labels), 1)), index=labels, columns=beta.index)
            first = np.unique(lv.codes, return_index=True)[1]        # first row of each level-k group
            for j in range(k + 1):
                lj = self._lik.levels[j]
                bj = ranefs[lj.name]
                outer = lj.codes[first]                                # its group at level j
                for col in bj.columns:
                    if col in df.columns:
                        df[col] = df[col].to_numpy() + bj[col].to_numpy()[outer]
                    else:
                        df[col] = bj[col].to_numpy()[outer]
            out[lv.name] = df
        if level is not None:
            return out[self.level_names[level - 1]]
        return out

    def getVarCov(self, individuals=None, type: str = "random.effects"):  # noqa: A002
        """nlme's ``getVarCov``.

        lme: ``type="random.effects"`` (the random-effects covariance, one level of grouping),
        ``"conditional"`` (sigma^2 times the within-group correlation and variance structure of each
        individual) or ``"marginal"`` (``Z_i Psi Z_i' + conditional``); ``individuals``: group labels
        (default the first group). gls: the ``"conditional"`` matrix of one individual (the correlation
        structure's group, default the first in level order). Returns a DataFrame, or a dict label ->
        DataFrame for several individuals.
        """
        lik = self._lik
        if self.kind == "lme" and type == "random.effects":
            if self.n_levels > 1:
                raise DataError("getVarCov is not implemented for multiple levels of nesting")
            return self.re_cov()[self.level_names[0]]
        if type not in ("conditional", "marginal", "random.effects"):
            raise DataError(f"type must be 'random.effects', 'conditional' or 'marginal', not {type!r}")
        if self.kind == "lme":
            if self.n_levels > 1:
                raise DataError("getVarCov is not implemented for multiple levels of nesting")
            lv = lik.levels[0]
            labels, codes = [str(x) for x in lv.labels], lv.codes
        else:
            if type == "marginal":
                raise DataError("a gls fit has no random effects: use type='conditional'")
            if lik.cor is None:
                labels, codes = ["1"], np.zeros(lik.n, int)
            else:
                labels, codes = list(lik.cor.group_labels), np.asarray(lik.cor.group_codes)
        wanted = [labels[0]] if individuals is None else [str(x) for x in np.atleast_1d(individuals)]
        out = {}
        _, cu, vu = lik.split(self._est.params)
        for lab in wanted:
            if lab not in labels:
                raise DataError(f"individual {lab!r} is not a group of the fit")
            rows = np.flatnonzero(codes == labels.index(lab))
            E = np.zeros((lik.n, len(rows)))
            E[rows, np.arange(len(rows))] = 1.0
            Kfull, _, _ = lik.whiten(cu, vu, self._est.fitted, M=E)
            K = Kfull[rows]
            V = self._sol.sigma ** 2 * np.linalg.inv(K.T @ K)
            if type == "marginal":
                Z = lv.Z[rows]
                V = V + Z @ self._psi(0) @ Z.T
            idx = [str(i + 1) for i in range(len(rows))]
            out[lab] = pd.DataFrame(V, index=idx, columns=idx)
        return out[wanted[0]] if len(wanted) == 1 else out

    # --- fitted values, residuals, predictions ----------------------------------------------------------------
    def _back(self, v_sorted: np.ndarray) -> np.ndarray:
        return np.asarray(v_sorted)[self._unsort]

    def fitted(self, level: int | None = None) -> np.ndarray:
        """Fitted values at ``level`` (default: innermost; 0 = population), in the data's row order."""
        level = self.n_levels if level is None else int(level)
        if not 0 <= level <= self.n_levels:
            raise DataError(f"level must be between 0 and {self.n_levels}, not {level}")
        return self._back(self._fitted_sorted[level])

    def residuals(self, type: str = "response", level: int | None = None,  # noqa: A002
                  r_compatible: bool = True) -> np.ndarray:
        """nlme's residuals: ``"response"``, ``"pearson"`` (divided by sigma times the variance
        function) or ``"normalized"`` (pre-multiplied by the inverse square root of the estimated
        correlation matrix).

        Known nlme bug, reproduced by default (``r_compatible=True``): nlme 3.1-162 computes the
        normalized residuals by applying the correlation factor, which is laid out for the rows
        sorted by group (factor-level order), to the pearson residuals in the *data's* row order.
        When the data rows are not already in that order (``Ovary``, ``Orthodont``: their grouping
        factors' levels are not in data order) rows are whitened with the wrong neighbours.
        ``r_compatible=False`` gives the correct normalized residuals (each row whitened within its
        own group).
        """
        level = self.n_levels if level is None else int(level)
        r = self._lik.y - self._fitted_sorted[level]
        t = type.lower()
        if t in ("response", "r"):
            return self._back(r)
        w = self._sol.weights
        pr = r / self._sol.sigma if w is None else r * w / self._sol.sigma
        if t in ("pearson", "p"):
            return self._back(pr)
        if t in ("normalized", "n"):
            cor = self._lik.cor
            if cor is None:
                return self._back(pr)
            _, cu, _ = self._lik.split(self._est.params)
            if r_compatible:    # nlme: the sorted-order factor applied to the data-order vector
                return _nlme_factor(cor, cu, self._back(pr))
            return self._back(_nlme_factor(cor, cu, pr))
        raise DataError(f"residual type must be 'response', 'pearson' or 'normalized', not {type!r}")

    resid = residuals

    def predict(self, newdata: pd.DataFrame | None = None, level=None):
        """Predictions at ``level`` (0 = population); groups not in the fit give NaN at levels that use them.

        A sequence of levels (``level=[0, 1]``) gives nlme's data frame: the grouping columns, then
        ``predict.fixed`` and ``predict.<level name>`` per level."""
        if isinstance(level, (list, tuple, range, np.ndarray)):
            return self._predict_levels(newdata, [int(x) for x in level])
        level = self.n_levels if level is None else int(level)
        if newdata is None:
            return self.fitted(level)
        if not isinstance(newdata, pd.DataFrame):
            raise DataError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
        frame = self._setup.frame
        X = build_fixed(frame.fixed_spec, newdata)
        pred = X @ self._sol.beta
        for k in range(level):
            lv = self._lik.levels[k]
            Z = build_matrix(frame.re_specs[k], newdata)
            groups = self._setup.random[k].groups
            for g in groups:
                if g not in newdata.columns:
                    raise DataError(f"newdata has no column {g!r} (grouping factor of level {k + 1})")
            keys = newdata[groups].astype(str).agg("/".join, axis=1).to_numpy()
            lookup = {str(lab): i for i, lab in enumerate(lv.labels)}
            idx = np.array([lookup.get(key, -1) for key in keys])
            b = self._sol.b[k]
            contrib = np.where(idx >= 0, np.einsum("nq,nq->n", Z, b[np.maximum(idx, 0)]), np.nan)
            pred = pred + contrib
        return pred

    def _predict_levels(self, newdata, levels: list[int]) -> pd.DataFrame:
        if not levels or min(levels) < 0 or max(levels) > self.n_levels:
            raise DataError(f"levels must be between 0 and {self.n_levels}, not {levels}")
        src = self._setup.sorted_data.iloc[self._unsort] if newdata is None else newdata
        out = pd.DataFrame(index=range(len(src)))
        if max(levels) > 0:
            for g in self._setup.random[max(levels) - 1].groups:
                out[g] = src[g].astype(str).to_numpy()
        for lev in levels:
            name = "predict.fixed" if lev == 0 else f"predict.{self.level_names[lev - 1]}"
            out[name] = self.predict(newdata, level=lev)
        return out

    # --- approximate covariance of the variance parameters -------------------------------------------------
    @functools.cached_property
    def apVar(self) -> np.ndarray:
        """nlme's ``apVar`` (natural parameterisation; see :func:`estimate.approximate_vcov`), computed
        on first use (a cached value: not an attribute set after construction)."""
        return approximate_vcov(self._lik, self._est.params, self._sol.sigma, self._est.fitted,
                                rel_step=self._control.get("rel_step", 1e-3))

    def update(self, fixed: str | None = None, **kwargs) -> "NlmeFit":
        """Refit with some arguments changed, as R's ``update``: ``m.update(". ~ . - age")``,
        ``m.update(correlation=mc.corAR1())``, ``m.update(method="ML")``; ``correlation=None`` /
        ``weights=None`` remove a structure."""
        call = dict(self.call)
        unknown = set(kwargs) - (set(call) | {"model"})
        if unknown:
            raise DataError(f"update: unknown argument(s) {sorted(unknown)}")
        if "model" in kwargs:
            fixed = kwargs.pop("model")
        call.update(kwargs)
        if fixed is not None:
            call["fixed"] = update_formula_tree(parse_formula(self._setup.fixed), fixed, require_random=False)
        return fit_nlme(self.kind, call["fixed"], call["data"], call["random"], call["correlation"], call["weights"],
                    call["method"], call["na_action"], call["control"])

    # --- tables, intervals, text, diagnostics ------------------------------------------------------------------
    # nlme_inference, nlme_printing and fit_diagnostics take an NlmeFit without importing this module: their
    # imports above are at module level (no cycle), unlike LmerMod's delegating block.
    @classmethod
    def anova_models(cls, *models, type=None, ddf: str | None = None, refit: bool | None = None,  # noqa: A002
                     **named):
        """nlme's ``anova`` of one or several fits (``ddf`` and ``refit`` are lme4's: not used)."""
        return anova_nlme(*models, type=type, **named)

    def anova(self, *others, type=None, **named):  # noqa: A002
        """nlme's ``anova``: F tests of this fit, or the likelihood-ratio table with ``others``."""
        return anova_nlme(self, *others, type=type, **named)

    def intervals(self, level: float = 0.95, which: str = "all"):
        """nlme's approximate confidence intervals (see :func:`nlme_inference.intervals`)."""
        return intervals(self, level=level, which=which)

    def tTable(self) -> pd.DataFrame:
        return t_table(self)

    def VarCorr(self) -> "NlmeVarCorr":
        """Variance components (lme): ``str()`` prints as nlme, ``.to_frame()`` as lmer's."""
        if self.kind != "lme":
            raise DataError("VarCorr applies to lme fits; a gls fit has no random effects (see sigma())")
        return NlmeVarCorr(self)

    def summary(self) -> "NlmeSummary":
        return NlmeSummary(self)

    def __str__(self) -> str:
        return format_print(self)

    def __repr__(self) -> str:
        return f"<{self.kind} fit: {self.call['fixed']} ({self.method}), logLik {float(self.logLik()):.4f}>"

    def ACF(self, maxLag: int | None = None, resType: str = "pearson") -> pd.DataFrame:
        """nlme's ``ACF``: autocorrelation of the residuals within groups (see :mod:`fit_diagnostics`)."""
        return acf_of(self, maxLag=maxLag, resType=resType)

    def Variogram(self, form: str | None = None, resType: str = "pearson", robust: bool = False,
                  maxDist: float | None = None) -> pd.DataFrame:
        """nlme's ``Variogram``: semivariogram of the residuals within groups (see :mod:`fit_diagnostics`)."""
        return variogram_of(self, form=form, resType=resType, robust=robust, maxDist=maxDist)

    def plot_ACF(self, maxLag: int | None = None, resType: str = "normalized", alpha: float = 0.05, ax=None):
        """Plot of :meth:`ACF` with nlme's critical bounds (matplotlib; the ``plot`` extra)."""
        return plot_acf(self, maxLag=maxLag, resType=resType, alpha=alpha, ax=ax)

    def plot_Variogram(self, form: str | None = None, resType: str = "pearson", robust: bool = False,
                       maxDist: float | None = None, ax=None):
        """Plot of :meth:`Variogram`, with a spatial correlation structure's model curve."""
        return plot_variogram(self, form=form, resType=resType, robust=robust, maxDist=maxDist, ax=ax)

    def plot_residuals_by_group(self, level: int | None = None, resType: str = "pearson", ax=None):
        """Boxes of residuals per group (nlme's ``plot(m, g ~ resid(.))``)."""
        return plot_residuals_by_group(self, level=level, resType=resType, ax=ax)

    # --- statsmodels-style attributes (the rest: StatsmodelsExtras) ---------------------------------------------
    @property
    def bse(self) -> pd.Series:
        """Standard errors as nlme's summary prints them."""
        return self.tTable()["Std.Error"]

    @property
    def pvalues(self) -> pd.Series:
        """nlme's t-test p-values (summary's tTable, with nlme's denominator df)."""
        return self.tTable()["p-value"]


def _nlme_factor(cor, cu: np.ndarray, v: np.ndarray) -> np.ndarray:
    """nlme's ``corFactor`` applied to ``v`` (rows in the bound order): the inverse transposed Cholesky
    factor of each group's correlation matrix, except for corCompSymm, where nlme uses a Helmert
    factor (first row: the scaled group sum; row k: the k-th Helmert contrast over sqrt(1 - rho))."""
    if getattr(cor, "class_name", "") != "corCompSymm":
        out, _ = cor.whiten(cu, v[:, None])
        return out[:, 0]
    rho = float(cor.natural(cu)[0])
    out = np.empty_like(v, dtype=float)
    for rows in cor.group_rows:
        x = v[rows]
        n = len(x)
        k = np.arange(1, n + 1)
        prev = np.r_[0.0, np.cumsum(x)[:-1]]
        res = np.empty(n)
        res[0] = x.sum() / np.sqrt(n * (1 + (n - 1) * rho))
        res[1:] = ((k[1:] - 1) * x[1:] - prev[1:]) / np.sqrt(k[1:] * (k[1:] - 1) * (1 - rho))
        out[rows] = res
    return out


class NlmeSummary(HtmlRepr):
    """``summary(m)`` of an lme / gls fit: ``str()`` is nlme's printed summary; ``tTable`` the coefficients."""

    def __init__(self, m: NlmeFit):
        self.model = m
        self.tTable = m.tTable()

    def __str__(self) -> str:
        return format_summary(self.model)

    __repr__ = __str__


class NlmeVarCorr(HtmlRepr):
    """nlme's ``VarCorr(m)``: standard deviations and correlations per level, plus the residual."""

    def __init__(self, m: NlmeFit):
        self.model = m

    def __str__(self) -> str:
        return format_varcorr(self.model)

    __repr__ = __str__

    def to_frame(self) -> pd.DataFrame:
        """Rows as lme4's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor."""
        rows = []
        for name, S in self.model.re_cov().items():
            cols = list(S.columns)
            V = S.to_numpy()
            sd = np.sqrt(np.diag(V))
            for i, c in enumerate(cols):
                rows.append((name, c, None, V[i, i], sd[i]))
            for i in range(len(cols)):
                for j in range(i + 1, len(cols)):
                    with np.errstate(divide="ignore", invalid="ignore"):    # sd 0: NaN, as R
                        cor = V[i, j] / (sd[i] * sd[j])
                    rows.append((name, cols[i], cols[j], V[i, j], cor))
        s = self.model.sigma()
        rows.append(("Residual", None, None, s * s, s))
        cols = list(zip(*rows))
        return pd.DataFrame({"grp": pd.Series(cols[0], dtype=object), "var1": pd.Series(cols[1], dtype=object),
                             "var2": pd.Series(cols[2], dtype=object), "vcov": np.asarray(cols[3], float),
                             "sdcor": np.asarray(cols[4], float)})
