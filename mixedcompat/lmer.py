"""``lmer``: fit a linear mixed model as lme4 does, and ``LmerMod``, the immutable fit result.

Pipeline (lme4's ``lFormula -> mkLmerDevfun -> optimizeLmer -> mkMerMod``):
``parse_formula`` -> ``model_frame`` -> ``make_reterms`` -> ``Deviance`` -> ``minimize_theta`` -> ``LmerMod``.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .design import ModelFrame, model_frame
from .errors import SINGULAR_MESSAGE, DataError, RankDeficiencyWarning, SingularFitWarning
from .formula import FormulaParts, parse_formula
from .optimize import OptSummary, minimize_theta
from .pls import Deviance, PLSFactor, make_deviance
from .reterms import ReTerm, flist, make_reterms
from .statsmodels_api import CallableInt, StatsmodelsExtras
from .threads import blas_threads

DEPRECATED_DEVIANCE = ("deviance() is deprecated for REML fits; use REMLcrit for the REML criterion or "
                       "deviance(.,REML=FALSE) for deviance calculated at the REML fit")


class LogLik(float):
    """A log-likelihood value that carries its degrees of freedom, like R's ``logLik`` object.

    Example
    -------
    >>> ll = LogLik(-871.8141, df=6, nobs=180)
    >>> float(ll), ll.df
    (-871.8141, 6)
    """

    def __new__(cls, value: float, df: int, nobs: int, REML: bool = False):
        obj = super().__new__(cls, value)
        obj.df = int(df)
        obj.nobs = int(nobs)
        obj.REML = bool(REML)
        return obj

    def __repr__(self) -> str:
        return f"'log Lik.' {float(self):.7g} (df={self.df})"


def lmer(formula: str, data: pd.DataFrame, REML: bool = True, weights: Any = None, offset: Any = None,
         subset: Any = None, na_action: str = "omit", contrasts: dict | None = None,
         control: dict | None = None) -> "LmerMod":
    """Fit a linear mixed model by REML or maximum likelihood, as lme4's ``lmer``.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame
        The data; string, bool and Categorical columns are factors.
    REML : bool
        REML (default) or maximum likelihood.
    weights, offset : str or array-like, optional
        Prior weights / offset: a column name or an array with one value per row of ``data``.
    subset : array-like of bool or str, optional
        Rows to use.
    na_action : {"omit", "fail"}
        Rows with missing values in any variable of the model are dropped (R's ``na.omit``) or refused.
    contrasts : dict, optional
        ``{"f": "contr.sum"}`` as R's ``contrasts=`` argument.
    control : dict, optional
        Optimiser settings, lme4's defaults unless given: ``xtol_abs``, ``ftol_abs``, ``xtol_rel``,
        ``maxeval``, ``restart_edge``, ``boundary_tol``; ``polish`` / ``polish_tol`` (see
        :mod:`mixedcompat.optimize`); ``start`` (theta start values); ``optimizer`` (``None``: no
        optimisation, keep ``start``, as ``lmerControl(optimizer = NULL)``); ``blas_threads`` (1).

    Returns
    -------
    LmerMod

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(m.REMLcrit(), 3)
    1743.628
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if not isinstance(REML, (bool, np.bool_)):
        raise DataError(f"REML must be True or False, not {REML!r}")
    _check_control(control)
    parts = parse_formula(formula)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = model_frame(parts, data, weights=weights, offset=offset, subset=subset,
                            na_action=na_action, contrasts=contrasts)
    fit_warnings = []
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if issubclass(w.category, RankDeficiencyWarning):
            fit_warnings.append(str(w.message))
    threads = (control or {}).get("blas_threads", 1)
    with blas_threads(threads):
        terms = make_reterms(parts.re_terms, frame.re_X, frame.re_groups, len(frame.y))
        devfun = make_deviance(terms, frame.X, frame.y, frame.weights, frame.offset, REML=bool(REML))
        lower = np.concatenate([t.lower() for t in terms])
        opt = optimize_fit(devfun, terms, _start_values(control, terms, lower), control)
    names = {
        "data_name": data.attrs.get("name", "data") if isinstance(getattr(data, "attrs", None), dict) else "data",
        "weights_name": _arg_name(weights, "weights"),
        "offset_name": _arg_name(offset, "offset"),
    }
    call = {"formula": formula, "data": data, "REML": bool(REML), "weights": weights, "offset": offset,
            "subset": subset, "na_action": na_action, "contrasts": contrasts, "control": control}
    with blas_threads(threads):
        return LmerMod(formula, parts, frame, terms, devfun, opt, bool(REML), control or {},
                       fit_warnings=fit_warnings, call=call, **names)


def optimize_fit(devfun: Deviance, terms: list[ReTerm], start: np.ndarray, control: dict | None) -> OptSummary:
    """Minimise the criterion from ``start`` (lme4's ``optimizeLmer``), or with
    ``control["optimizer"] = None`` (lme4's ``lmerControl(optimizer = NULL)``) just evaluate it there."""
    if control is not None and "optimizer" in control and control["optimizer"] is None:
        return OptSummary(theta=start, fval=float(devfun(start)), feval=1, optimizer="none", conv_code=0,
                          message="no optimisation: theta fixed at the start values")
    lower = np.concatenate([t.lower() for t in terms])
    return minimize_theta(devfun, start, lower, control, column_partners=_column_partners(terms))


def _check_control(control: dict | None) -> None:
    from .optimize import DEFAULT_CONTROL
    known = set(DEFAULT_CONTROL) | {"start", "blas_threads"}
    unknown = sorted(set(control or {}) - known)
    if unknown:
        raise DataError(f"unknown control setting(s) {', '.join(map(repr, unknown))}; "
                        f"known: {', '.join(sorted(known))}")


def _start_values(control: dict | None, terms: list[ReTerm], lower: np.ndarray) -> np.ndarray:
    """lme4's start values (1 on template diagonals, 0 elsewhere) or ``control["start"]``."""
    default = np.concatenate([t.start() for t in terms])
    if not control or control.get("start") is None:
        return default
    start = np.asarray(control["start"], dtype=float).ravel()
    if start.shape != default.shape:
        raise DataError(f"control['start'] has {start.size} values; this model has {default.size} "
                        f"theta parameters ({', '.join(n for t in terms for n in t.theta_names())})")
    if np.any(start < lower) or not np.all(np.isfinite(start)):
        raise DataError("control['start'] must be finite and >= 0 on the template diagonals")
    return start


def _column_partners(terms: list[ReTerm]) -> dict[int, list[int]]:
    """theta index of each template diagonal -> indices of the entries below it in its column."""
    out: dict[int, list[int]] = {}
    offset = 0
    for t in terms:
        rows, cols = t.tril_index
        for k, (r, c) in enumerate(zip(rows, cols)):
            if r == c:
                out[offset + k] = [offset + j for j, (r2, c2) in enumerate(zip(rows, cols)) if c2 == c and r2 > r]
        offset += t.n_theta
    return out


def _arg_name(arg: Any, default: str) -> str | None:
    if arg is None:
        return None
    return arg if isinstance(arg, str) else default


class LmerMod(StatsmodelsExtras):
    """A fitted linear mixed model (lme4's ``lmerMod``); immutable once built.

    Every accessor reads from the stored optimum.  R-named methods mirror lme4's generics; the
    statsmodels-style attributes (``params``, ``bse``, ``llf``...) are provided on top.
    """

    def __init__(self, formula: str, parts: FormulaParts, frame: ModelFrame, terms: list[ReTerm],
                 devfun: Deviance, opt: OptSummary, REML: bool, control: dict,
                 data_name: str | None = None, weights_name: str | None = None,
                 offset_name: str | None = None, fit_warnings: list[str] | None = None,
                 call: dict | None = None, warn_singular: bool = True):
        self.formula = formula
        self.call = dict(call or {})   # the arguments lmer() was called with (refit / update)
        self.parts = parts
        self.frame = frame
        self.terms = terms
        self.devfun = devfun
        self.REML = REML
        self.control = control
        self.data_name = data_name
        self.weights_name = weights_name
        self.offset_name = offset_name
        theta = np.asarray(opt.theta, dtype=float)
        f: PLSFactor = devfun.factor(theta)
        self._factor = f
        self.theta = theta
        self.criterion = devfun.criterion_from_factor(f)
        beta, u = devfun.solve(f)
        self.beta = beta
        self.u = u
        self.b = [(uk.reshape(t.n_levels, t.q) @ Tk.T) for uk, t, Tk in zip(u, terms, f.templates)]
        self._sigma = devfun.sigma(f)
        self._vcov_unscaled = devfun.beta_vcov_unscaled(f)
        eta = frame.X @ beta if frame.X.shape[1] else np.zeros(len(frame.y))
        for t, bk in zip(terms, self.b):
            eta = eta + np.einsum("ij,ij->i", t.X, bk[t.codes])
        if frame.offset is not None:
            eta = eta + frame.offset
        self._fitted = eta
        messages = list(opt.messages)
        singular = self.isSingular()
        if singular:
            messages.append(SINGULAR_MESSAGE)
            if warn_singular:   # False: a bootstrap replicate completing a fit that has already warned
                warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)
        self.optinfo = {"optimizer": opt.optimizer, "conv_code": opt.conv_code, "feval": opt.feval,
                        "message": opt.message, "messages": messages, "warnings": list(opt.warnings),
                        "val": opt.fval, "fit_warnings": list(fit_warnings or [])}
        self.opt = opt
        for arr in (self.theta, self.beta, self._fitted, self._vcov_unscaled, *self.u, *self.b):
            arr.flags.writeable = False
        self._frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"an LmerMod is immutable: cannot set {name!r} (use update() / refit())")
        object.__setattr__(self, name, value)

    # ---------------------------------------------------------------- sizes
    @property
    def nobs(self) -> CallableInt:
        """Number of observations used (after NA removal): ``m.nobs`` and ``m.nobs()`` / ``nobs(m)``."""
        return CallableInt(len(self.frame.y))

    @property
    def df_residual(self) -> int:
        return self.nobs() - self.logLik().df

    def ngrps(self) -> dict[str, int]:
        """Number of levels of each grouping factor, in lme4's order."""
        return {g: t.n_levels for g, t in flist(self.terms).items()}

    # ---------------------------------------------------------------- estimates
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates with R's coefficient names."""
        return pd.Series(self.beta, index=list(self.frame.x_names), name="fixef")

    def sigma(self) -> float:
        """Residual standard deviation (REML or ML estimate, as the fit)."""
        return self._sigma

    def vcov(self) -> pd.DataFrame:
        """Variance-covariance matrix of the fixed effects."""
        names = list(self.frame.x_names)
        return pd.DataFrame(self._sigma ** 2 * self._vcov_unscaled, index=names, columns=names)

    def _npar(self) -> int:
        return self.frame.X.shape[1] + len(self.theta) + 1

    def logLik(self, REML: bool | None = None) -> LogLik:
        """Log-likelihood (the REML log-likelihood for REML fits, as lme4)."""
        crit = self.criterion if REML is None or bool(REML) == self.REML else \
            self.devfun.criterion_from_factor(self._factor, REML=bool(REML))
        use_reml = self.REML if REML is None else bool(REML)
        return LogLik(-0.5 * crit, df=self._npar(), nobs=self.nobs(), REML=use_reml)

    def AIC(self) -> float:
        ll = self.logLik()
        return -2.0 * float(ll) + 2.0 * ll.df

    def BIC(self) -> float:
        ll = self.logLik()
        return -2.0 * float(ll) + np.log(self.nobs()) * ll.df

    def REMLcrit(self) -> float:
        """The REML criterion at the optimum (REML fits) or the deviance (ML fits), as lme4."""
        return float(self.criterion)

    def deviance(self, REML: bool | None = None) -> float:
        """Deviance; for REML fits lme4 warns and returns the REML criterion unless ``REML=False``."""
        if self.REML and REML is None:
            warnings.warn(DEPRECATED_DEVIANCE, FutureWarning, stacklevel=2)
            return float(self.criterion)
        if REML is None or bool(REML) == self.REML:
            return float(self.criterion)
        return float(self.devfun.criterion_from_factor(self._factor, REML=bool(REML)))

    def isSingular(self, tol: float = 1e-4) -> bool:
        """lme4's rule: a template diagonal (lower bound 0) below ``tol``."""
        lower = np.concatenate([t.lower() for t in self.terms])
        return bool(np.any(self.theta[lower == 0] < tol))

    # ---------------------------------------------------------------- random effects
    def VarCorr(self):
        """Estimated variances, standard deviations and correlations of the random effects."""
        from .varcorr import VarCorr, VCTerm
        vc_terms = []
        for t, Tk in zip(self.terms, self._factor.templates):
            cov = self._sigma ** 2 * (Tk @ Tk.T)
            vc_terms.append(VCTerm(t.group, list(t.names), cov))
        return VarCorr(vc_terms, self._sigma, use_sc=True)

    def ranef(self, condVar: bool = True):
        """Conditional modes of the random effects: grouping factor -> DataFrame (levels x terms).

        As lme4 (``condVar = TRUE`` by default), each DataFrame carries the conditional variances in
        ``.attrs["postVar"]`` (an array levels x q x q); ``str()`` prints as R's ``print(ranef(m))``.
        """
        from .condvar import as_ranef_dict, ranef_with_condvar
        if condVar:
            return ranef_with_condvar(self)
        return as_ranef_dict(self._ranef_frames())

    def _ranef_frames(self) -> dict[str, pd.DataFrame]:
        """The conditional modes as plain DataFrames (terms on the same factor side by side)."""
        out: dict[str, pd.DataFrame] = {}
        for t, bk in zip(self.terms, self.b):
            df = pd.DataFrame(bk, index=pd.Index(t.levels), columns=list(t.names))
            if t.group in out:
                out[t.group] = pd.concat([out[t.group], df], axis=1)
            else:
                out[t.group] = df
        return out

    def coef(self) -> dict[str, pd.DataFrame]:
        """Fixed plus random effects per level of each grouping factor, columns ordered as lme4."""
        fe = self.fixef()
        out = {}
        for g, re in self._ranef_frames().items():
            df = pd.DataFrame(np.tile(fe.values, (len(re), 1)), index=re.index, columns=fe.index)
            for col in re.columns:
                if col in df.columns:
                    df[col] = df[col] + re[col].values
                else:
                    df[col] = re[col].values
            extra = [c for c in re.columns if c not in fe.index]
            df = df[extra + list(fe.index)] if extra else df
            out[g] = df
        return out

    # ---------------------------------------------------------------- fitted values
    def fitted(self) -> np.ndarray:
        return self._fitted.copy()

    def residuals(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        """Residuals: ``"response"`` (y - fitted) or ``"pearson"`` (times sqrt(weights)); ``scaled`` divides by sigma."""
        r = self.frame.y - self._fitted
        if type == "pearson":
            if self.frame.weights is not None:
                r = r * np.sqrt(self.frame.weights)
        elif type not in ("response", "working"):
            raise ValueError(f"unknown residual type {type!r}: use 'response', 'pearson' or 'working'")
        if scaled:
            r = r / self._sigma
        return r

    # ---------------------------------------------------------------- components
    def getME(self, name: str):
        """lme4's ``getME``: model components by name."""
        terms = self.terms
        if name == "X":
            return self.frame.X.copy()
        if name == "Z":
            return sp.hstack([t.Z() for t in terms]).tocsc()
        if name == "Zt":
            return sp.hstack([t.Z() for t in terms]).T.tocsc()
        if name == "theta":
            names = [nm for t in terms for nm in t.theta_names()]
            return pd.Series(self.theta.copy(), index=names)
        if name == "beta":
            return self.beta.copy()
        if name == "u":
            return np.concatenate(self.u)
        if name == "b":
            return np.concatenate([bk.ravel() for bk in self.b])
        if name in ("Lambda", "Lambdat"):
            blocks = [sp.kron(sp.identity(t.n_levels), sp.csr_matrix(Tk))
                      for t, Tk in zip(terms, self._factor.templates)]
            lam = sp.block_diag(blocks).tocsc()
            return lam if name == "Lambda" else lam.T.tocsc()
        if name == "lower":
            return np.concatenate([t.lower() for t in terms])
        if name == "flist":
            return {g: pd.Categorical.from_codes(t.codes, categories=t.levels) for g, t in flist(terms).items()}
        if name == "cnms":
            out: dict[str, list[str]] = {}
            for t in terms:
                key = t.group
                k = 0
                while key in out:
                    k += 1
                    key = f"{t.group}.{k}"
                out[key] = list(t.names)
            return out
        if name == "devcomp":
            f = self._factor
            n, p = self.nobs(), self.frame.X.shape[1]
            ussq = float(sum(np.sum(uk ** 2) for uk in self.u))
            return {"cmp": {"ldL2": f.ldL2, "ldRX2": f.ldRX2, "wrss": f.pwrss - ussq, "ussq": ussq,
                            "pwrss": f.pwrss, "sigmaML": float(np.sqrt(f.pwrss / n)),
                            "sigmaREML": float(np.sqrt(f.pwrss / (n - p))),
                            "REML" if self.REML else "dev": self.criterion},
                    "dims": {"N": n, "n": n, "p": p, "nmp": n - p, "nth": len(self.theta),
                             "q": sum(t.n_levels * t.q for t in terms), "useSc": 1,
                             "reTrms": len(terms), "REML": p if self.REML else 0}}
        raise KeyError(f"getME: unknown component {name!r}")

    # ---------------------------------------------------------------- after the fit
    def predict(self, newdata: pd.DataFrame | None = None, re_form: str | None = None,
                allow_new_levels: bool = False, interval: str | None = None, nsim: int = 500,
                seed: int | None = None, level: float = 0.95, **kwargs):
        """Predictions as lme4's ``predict.merMod`` (see :mod:`mixedcompat.prediction`): a numpy array;
        with ``interval="confidence"|"prediction"``, a DataFrame ``fit, lwr, upr`` from a parametric
        bootstrap of ``nsim`` refits (see :func:`mixedcompat.inference.bootstrap.predict_interval`)."""
        if interval is not None:
            from .inference.bootstrap import predict_interval
            return predict_interval(self, newdata, interval=interval, nsim=nsim, seed=seed, level=level,
                                    re_form=re_form, allow_new_levels=allow_new_levels)
        from .prediction import predict
        return predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels, **kwargs)

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False,
                 re_form: str | None = None, newdata: pd.DataFrame | None = None) -> pd.DataFrame:
        """Responses simulated from the fitted model, as lme4's ``simulate.merMod``."""
        from .prediction import simulate
        return simulate(self, nsim=nsim, seed=seed, use_u=use_u, re_form=re_form, newdata=newdata)

    def refit(self, newresp: Any) -> "LmerMod":
        """The same model fitted to a new response, as lme4's ``refit``."""
        from .prediction import refit
        return refit(self, newresp)

    def update(self, formula: str | None = None, **kwargs) -> "LmerMod":
        """Refit with a changed formula (R's ``update`` syntax, ``". ~ . - x"``) or arguments."""
        from .prediction import update
        return update(self, formula, **kwargs)

    # ---------------------------------------------------------------- inference (issue 4)
    def anova(self, *others: "LmerMod", type: int = 3, ddf: str = "Satterthwaite", refit: bool = True):  # noqa: A002
        """``anova(m)`` (F tests, lmerTest) or ``anova(m, m2, ...)`` (likelihood-ratio, lme4)."""
        from . import anova
        return anova(self, *others, type=type, ddf=ddf, refit=refit)

    def confint(self, parm=None, level: float = 0.95, method: str = "profile", nsim: int = 500,
                seed: int | None = None, oldNames: bool = True, **kwargs):
        """lme4's ``confint.merMod``: profile, Wald or bootstrap intervals."""
        from . import confint
        return confint(self, parm=parm, level=level, method=method, nsim=nsim, seed=seed,
                       oldNames=oldNames, **kwargs)

    def profile(self, **kwargs):
        """lme4's ``profile.merMod``."""
        from . import profile
        return profile(self, **kwargs)

    def ranova(self, **kwargs):
        """lmerTest's ``ranova``: likelihood-ratio tests of the random-effect terms."""
        from . import ranova
        return ranova(self, **kwargs)

    def drop1(self, test: str | None = None, ddf: str = "Satterthwaite", **kwargs):
        """lmerTest's ``drop1`` (F tests) or, with ``test=``, lme4's ``drop1.merMod``."""
        from . import drop1
        return drop1(self, test=test, ddf=ddf, **kwargs)

    # ---------------------------------------------------------------- printing
    def summary(self, ddf: str | None = None):
        from .lmer_summary import LmerSummary
        return LmerSummary(self, ddf=ddf)

    def __str__(self) -> str:
        from .printing import format_print
        return format_print(self)

    def __repr__(self) -> str:
        return self.__str__()

    # ---------------------------------------------------------------- statsmodels-style
    # (params, tvalues, llf, aic, bic, fittedvalues, cov_params: StatsmodelsExtras)
    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov().values)), index=list(self.frame.x_names))

    @property
    def resid(self) -> np.ndarray:
        return self.residuals()

    @property
    def random_effects(self) -> dict[str, pd.DataFrame]:
        return self.ranef()
