"""``lmer``: fit a linear mixed model as lme4 does; ``LmerMod``, the immutable fit result; and how to
fit it again: :func:`refit` (a new response) and :func:`update` (a changed formula or arguments).

``lmer`` is lme4's pipeline, the public stages of :mod:`mixedcompat.lme4.modular`:
``lFormula -> mkLmerDevfun -> optimizeLmer -> checkConv -> mkMerMod`` (``mkMerMod``, which
builds the fit object, lives here with it).
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mixedcompat.lme4.convergence import is_singular_theta
from mixedcompat.front.design import ModelFrame
from mixedcompat.errors import SINGULAR_MESSAGE, DataError, SingularFitWarning
from mixedcompat.front.formula import FormulaParts
from mixedcompat.front.rlang import Node
from mixedcompat.lme4.control import lmer_control
from mixedcompat.lme4.modular import (LmerDevfun, checked_conv, data_start, lFormula, mkLmerDevfun,
                                      optimize_fit, optimizeLmer, theta_scale)
from mixedcompat.lme4.optimize import OptSummary
from mixedcompat.lme4.pls import Deviance, PLSFactor, make_deviance
from mixedcompat.front.reterms import ReTerm, cnms, flist
from mixedcompat.generics import anova
from mixedcompat.interop.statsmodels_api import CallableInt
from mixedcompat.lme4.condvar import as_ranef_dict, ranef_with_condvar
from mixedcompat.front.terms import update_formula_tree
from mixedcompat.lme4.prediction import predict, simulate, type_name
from mixedcompat.lme4.varcorr import VarCorr, VCTerm
from mixedcompat.model import LogLik, MixedModel, require_rows
from mixedcompat.numerics.threads import blas_threads
from mixedcompat.present.rformat import quantile7

__all__ = ["lmer", "mkMerMod", "LmerMod", "require_mermod", "LogLik", "refit", "update", "optimize_fit", "optinfo_of",
           "theta_scale", "data_start"]

DEPRECATED_DEVIANCE = ("deviance() is deprecated for REML fits; use REMLcrit for the REML criterion or "
                       "deviance(.,REML=FALSE) for deviance calculated at the REML fit")


def lmer(formula: str | Node | FormulaParts, data: pd.DataFrame, REML: bool = True, weights: Any = None,
         offset: Any = None, subset: Any = None, na_action: str = "omit", contrasts: dict | None = None,
         control: dict | None = None) -> "LmerMod":
    """Fit a linear mixed model by REML or maximum likelihood, as lme4's ``lmer``.

    R equivalent: ``lme4::lmer(formula, data, REML = TRUE)`` (``lmerTest::lmer`` is the same fit: its tests are ``summary(m, ddf=...)`` and ``anova(m)``).

    Parameters
    ----------
    formula : str, Node or FormulaParts
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``; or its tree (as R's ``lmer`` takes
        a formula object; ``m.formula`` is then R's deparse of it) or its parsed parts (refits).
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
        lme4's ``lmerControl`` settings, with ``_`` or lme4's dots in the names (``"boundary.tol"``):
        optimiser settings ``xtol_abs``, ``ftol_abs``, ``xtol_rel``, ``maxeval``, ``restart_edge``,
        ``boundary_tol``; ``polish`` (True: lme4's path, restarted with tight tolerances only where
        lme4's own convergence check says it stopped early; ``"always"``: the tight optimum;
        False: lme4's path exactly) and ``polish_tol`` (see :mod:`mixedcompat.lme4.optimize`);
        ``calc_derivs`` (True: gradient and Hessian at the optimum in ``m.optinfo["derivs"]`` and
        lme4's ``checkConv``); the checks ``check_conv_grad``, ``check_conv_singular``,
        ``check_conv_hess`` (an action or ``make_cc(action, tol, relTol)``), ``check_nobs_vs_rankZ``,
        ``check_nobs_vs_nlev``, ``check_nlev_gtreq_5``, ``check_nlev_gtr_1``, ``check_nobs_vs_nRE``,
        ``check_rankX``, ``check_scaleX`` (see :mod:`mixedcompat.lme4.control`); ``start`` (theta
        start values; by default lme4's: 1 on template diagonals, 0 elsewhere, or from the data when
        every term is ``(1 | f)`` on its own factor); ``optimizer`` (``None``: no optimisation,
        keep the start, as ``lmerControl(optimizer = NULL)``; ``"gradient"``, ours, not an lme4
        name: L-BFGS-B with the analytic gradient of the criterion, then lme4's boundary handling
        (a tight BOBYQA polish only when L-BFGS-B stops without converging) --
        far fewer evaluations on large models, lme4's optimum or a lower one, but not lme4's path,
        so printed digits beyond the optimum's precision may differ; see
        :func:`mixedcompat.lme4.optimize.gradient_descent`; the default ``"nloptwrap"`` is lme4's
        BOBYQA; ``"bobyqa"`` (minqa's BOBYQA) and ``"Nelder_Mead"`` (lme4's) run lme4's path
        with them, without our polishing, see :func:`mixedcompat.optimizeLmer`); ``blas_threads`` (1).

    Returns
    -------
    LmerMod

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(m.REMLcrit(), 3)
    1743.628
    """
    lf = lFormula(formula, data, REML=REML, weights=weights, offset=offset, subset=subset,
                  na_action=na_action, contrasts=contrasts, control=control)
    with blas_threads(lf.ctrl["blas_threads"]):
        devfun = mkLmerDevfun(lf)
        opt = optimizeLmer(devfun)
        # lme4's lmer() runs checkConv between optimizeLmer and mkMerMod
        opt = checked_conv(opt, devfun.lower, lf.ctrl)
        return mkMerMod(devfun, opt, mc=lf.call)


def mkMerMod(rho: LmerDevfun, opt: Any, reTrms: dict | None = None, fr: pd.DataFrame | None = None,  # noqa: N802
             mc: dict | None = None) -> "LmerMod":
    """lme4's ``mkMerMod``: the fit object from a devfun (lme4's ``rho``, its environment) and an
    optimizer result -- the last stage of :func:`lmer`, which calls it with its own call (``mc``).

    R equivalent: ``lme4::mkMerMod(environment(devfun), opt, lf$reTrms, fr = lf$fr)``.

    Parameters
    ----------
    rho : LmerDevfun
        From :func:`mixedcompat.mkLmerDevfun` (it carries the model frame and terms).
    opt : LmerOpt or dict
        From :func:`mixedcompat.optimizeLmer`, or a dict with ``par`` (theta) and ``fval`` as R's list.
    reTrms, fr : optional
        lme4's arguments; when given they must be the devfun's own (``lf.reTrms``, ``lf.fr``).
    mc : dict, optional
        The call recorded in the fit: :func:`lmer`'s arguments (the fit then prints ``Formula:`` and
        ``Data:`` lines and can be ``update``d); None (R's ``mkMerMod(...)`` call): no such lines, as R.

    Returns
    -------
    LmerMod
        Without ``mc`` the fit has no lme4 ``checkConv`` result (R's ``lme4conv = NULL``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> lf = mc.lFormula("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> f = mc.mkLmerDevfun(lf)
    >>> m = mc.mkMerMod(f, mc.optimizeLmer(f), lf.reTrms, lf.fr)
    >>> round(m.REMLcrit(), 3)
    1743.628
    """
    if not isinstance(rho, LmerDevfun):
        raise TypeError(f"mkMerMod() takes the result of mkLmerDevfun() as rho, not {type(rho).__name__}")
    lf = rho.lf
    if reTrms is not None and reTrms is not lf.reTrms:
        mine = lf.reTrms
        if reTrms.get("cnms") != mine["cnms"] or not np.array_equal(np.asarray(reTrms.get("Gp")), mine["Gp"]):
            raise DataError("mkMerMod: reTrms is not the random-effects structure devfun was made from "
                            f"(cnms {mine['cnms']}, Gp {mine['Gp'].tolist()})")
    if fr is not None and len(fr) != len(lf.frame.y):
        raise DataError(f"mkMerMod: fr has {len(fr)} rows; devfun's model frame has {len(lf.frame.y)}")
    opt = _as_opt(opt, rho)
    text = lf.formula
    call = dict(mc) if mc is not None else {}
    return LmerMod(text, lf.parts, lf.frame, lf.terms, rho.deviance, opt, lf.REML, lf.control,
                   fit_warnings=list(lf.fit_warnings), call=call,
                   modular=mc is None, **lf.names)


def _as_opt(opt: Any, rho: LmerDevfun) -> OptSummary:
    """An optimizer result as an OptSummary: ours, or R's list (a dict with ``par`` and ``fval``)."""
    if isinstance(opt, OptSummary):
        return opt
    if not isinstance(opt, dict) or "par" not in opt:
        raise DataError("mkMerMod: opt must be optimizeLmer()'s result or a dict with 'par' (theta) and 'fval'")
    theta = np.asarray(opt["par"], dtype=float).ravel()
    if theta.shape != (rho.layout.n_theta,):
        raise DataError(f"mkMerMod: opt['par'] has {theta.size} values; the model has {rho.layout.n_theta} "
                        f"theta parameters ({', '.join(rho.theta_names)})")
    fval = float(opt.get("fval", rho(theta)))
    return OptSummary(theta=theta, fval=fval, feval=int(opt.get("feval", 0) or 0),
                      optimizer=str(opt.get("optimizer", "none")), conv_code=int(opt.get("conv", 0) or 0),
                      message=str(opt.get("message", "")))


def optinfo_of(opt: OptSummary, messages: list[str], fit_warnings: list[str] | None) -> dict:
    """A fit's ``optinfo`` (lme4's ``@optinfo``): the optimiser's result, lme4's messages
    (``messages``, singular message included) and the design's "fit warnings:" lines.

    lme4's ``derivs`` (gradient, Hessian) and ``conv`` (``{"opt": code, "lme4": checkConv's
    result}``) and our ``polished`` flag are present for fits that computed them (``lmer``,
    ``refit``); a bootstrap replicate's fast path has none.  When the polishing restart went below
    the point where lme4's path stopped, ``lme4_stop`` says where that was (``theta``,
    ``criterion``) and what lme4's checkConv says there (``messages``: the warnings lme4 gives for
    this fit, which ours, at a lower criterion, does not repeat).

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> m.optinfo["conv"]["lme4"]["messages"]   # lme4's @optinfo$conv$lme4$messages
    []
    """
    info = {"optimizer": opt.optimizer, "conv_code": opt.conv_code, "feval": opt.feval,
            "message": opt.message, "messages": list(messages), "warnings": list(opt.warnings),
            "val": opt.fval, "fit_warnings": list(fit_warnings or [])}
    lme4conv = opt.lme4conv
    if lme4conv is None and SINGULAR_MESSAGE in messages and opt.derivs is not None:
        lme4conv = {"messages": [SINGULAR_MESSAGE]}
    if opt.derivs is not None or lme4conv is not None:
        info["derivs"] = None if opt.derivs is None else opt.derivs.as_dict()
        info["conv"] = {"opt": opt.conv_code, "lme4": lme4conv}
        info["polished"] = opt.polished
        if opt.lme4_stop is not None and "messages" in opt.lme4_stop:
            info["lme4_stop"] = dict(opt.lme4_stop)
    return info


class LmerMod(MixedModel):
    """A fitted linear mixed model (lme4's ``lmerMod``, a :class:`~mixedcompat.model.MixedModel`);
    frozen once built.

    R equivalent: lme4's ``lmerMod`` class, the value of ``lmer(...)``; built by :func:`mixedcompat.lmer`.

    Every accessor reads from the stored optimum.  R-named methods mirror lme4's generics; the
    statsmodels-style attributes (``params``, ``bse``, ``llf``...) are provided on top.  Public
    read-only components: ``formula``, ``call``, ``parts``, ``frame``, ``terms``, ``devfun``,
    ``REML``, ``control``, ``theta``, ``criterion``, ``beta``, ``u``, ``b``, ``optinfo``, ``opt``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> m.nobs, round(m.sigma(), 3)
    (180, 25.592)
    """

    r_package = "lme4"
    fitter = staticmethod(lmer)
    """The function that fits this class's models: :func:`update` and the refits of ``anova`` call it."""

    def __init__(self, formula: str, parts: FormulaParts, frame: ModelFrame, terms: list[ReTerm],
                 devfun: Deviance, opt: OptSummary, REML: bool, control: dict,
                 data_name: str | None = None, weights_name: str | None = None,
                 offset_name: str | None = None, fit_warnings: list[str] | None = None,
                 call: dict | None = None, warn_singular: bool = True, modular: bool = False):
        self.formula = formula
        self.call = dict(call or {})   # the arguments lmer() was called with (refit / update)
        # R's call: lmer(...), or mkMerMod(rho, opt, reTrms, fr) for a fit assembled by hand, whose
        # print and summary have no Formula: / Data: lines
        self.call_name = "mkMerMod" if modular else "lmer"
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
        sing = lmer_control(control)["check_conv_singular"]
        if sing["action"] != "ignore" and is_singular_theta(theta, devfun.layout.lower, sing["tol"]):
            messages.append(SINGULAR_MESSAGE)
            if warn_singular:   # False: a bootstrap replicate completing a fit that has already warned
                warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)
        self.optinfo = optinfo_of(opt, messages, fit_warnings)
        self.opt = opt
        for arr in (self.theta, self.beta, self._fitted, self._vcov_unscaled, *self.u, *self.b):
            arr.flags.writeable = False
        self._freeze()

    # ---------------------------------------------------------------- components
    @property
    def factor(self) -> PLSFactor:
        """The criterion's factorisation at the optimum (``devfun.factor(theta)``: templates,
        Cholesky factor, log-determinants, pwrss), which the accessors read."""
        return self._factor

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
        return pd.Series(self.beta.copy(), index=list(self.frame.x_names), name="fixef")  # writable under pandas < 3

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
        return bool(np.any(self.theta[self.devfun.layout.on_diagonal] < tol))

    # ---------------------------------------------------------------- random effects
    def VarCorr(self, comp: Any = None):
        """Estimated variances, standard deviations and correlations of the random effects;
        ``comp`` (``"Variance"`` and/or ``"Std.Dev."``) is R's ``print(VarCorr(m), comp = ...)``
        argument: the columns ``str()`` shows."""
        vc_terms = []
        for t, Tk in zip(self.terms, self._factor.templates):
            cov = self._sigma ** 2 * (Tk @ Tk.T)
            vc_terms.append(VCTerm(t.group, list(t.names), cov))
        return VarCorr(vc_terms, self._sigma, use_sc=True, comp=comp)

    def ranef(self, condVar: bool = True):
        """Conditional modes of the random effects: grouping factor -> DataFrame (levels x terms).

        As lme4 (``condVar = TRUE`` by default), each DataFrame carries the conditional variances in
        ``.attrs["postVar"]`` (an array levels x q x q); ``str()`` prints as R's ``print(ranef(m))``.
        """
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

    def scaled_residual_quantiles(self) -> np.ndarray:
        """Min, quartiles and max of the scaled Pearson residuals (R's ``quantile``, type 7): the
        summary's ``Scaled residuals:`` line."""
        return quantile7(self.residuals(type="pearson", scaled=True))

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
            return pd.Series(self.theta.copy(), index=list(self.devfun.layout.names))
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
            return self.devfun.layout.lower.copy()
        if name == "flist":
            return {g: pd.Categorical.from_codes(t.codes, categories=t.levels) for g, t in flist(terms).items()}
        if name == "cnms":
            return cnms(terms)
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
        """Predictions as lme4's ``predict.merMod`` (see :mod:`mixedcompat.lme4.prediction`): a numpy array;
        with ``interval="confidence"|"prediction"``, a DataFrame ``fit, lwr, upr`` from a parametric
        bootstrap of ``nsim`` refits (see :func:`mixedcompat.inference.bootstrap.predict_interval`)."""
        if interval is not None:
            return self._predict_interval(newdata, interval=interval, nsim=nsim, seed=seed, level=level,
                                          re_form=re_form, allow_new_levels=allow_new_levels)
        return predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels, **kwargs)

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False,
                 re_form: str | None = None, newdata: pd.DataFrame | None = None,
                 prior_weights: bool = False) -> pd.DataFrame:
        """Responses simulated from the fitted model, as lme4's ``simulate.merMod`` (see :func:`simulate`)."""
        return simulate(self, nsim=nsim, seed=seed, use_u=use_u, re_form=re_form, newdata=newdata,
                        prior_weights=prior_weights)

    def refit(self, newresp: Any) -> "LmerMod":
        """The same model fitted to a new response, as lme4's ``refit`` (see :func:`refit`)."""
        return refit(self, newresp)

    def update(self, formula: str | Node | None = None, **kwargs) -> "LmerMod":
        """Refit with a changed formula or arguments, as R's ``update`` (see :func:`update`)."""
        return update(self, formula, **kwargs)

    # --- delegating methods: the one import cycle (see ARCHITECTURE) ------------------------------
    # inference/ and present/ import this module (they take LmerMods); these methods hand the fit to
    # them, so their imports are function-local.  No other function-local import in this module.
    def _predict_interval(self, newdata, **kwargs) -> pd.DataFrame:
        from mixedcompat.inference.bootstrap import predict_interval
        return predict_interval(self, newdata, **kwargs)

    @classmethod
    def anova_models(cls, *models: Any, type: int | str | None = None, ddf: str = "Satterthwaite",  # noqa: A002
                     refit: bool = True, **named_models: Any):
        """lme4 / lmerTest's ``anova``: one model -> lmerTest's F tests of the fixed effects
        (``type`` 3 by default); several -> lme4's likelihood-ratio table."""
        from mixedcompat.inference.ftests import anova_table
        from mixedcompat.inference.lrt import anova_lrt
        if len(models) == 1 and not named_models:
            return anova_table(models[0], type=3 if type is None else type, ddf=ddf)
        return anova_lrt(*models, refit=refit, **named_models)

    def anova(self, *others: "LmerMod", type: int = 3, ddf: str = "Satterthwaite", refit: bool = True):  # noqa: A002
        """``anova(m)`` (F tests, lmerTest) or ``anova(m, m2, ...)`` (likelihood-ratio, lme4)."""
        return anova(self, *others, type=type, ddf=ddf, refit=refit)

    def confint(self, parm=None, level: float = 0.95, method: str = "profile", nsim: int = 500,
                seed: int | None = None, oldNames: bool = True, **kwargs):
        """lme4's ``confint.merMod``: profile, Wald or bootstrap intervals."""
        from mixedcompat.inference.intervals import confint
        return confint(self, parm=parm, level=level, method=method, nsim=nsim, seed=seed,
                       oldNames=oldNames, **kwargs)

    def profile(self, **kwargs):
        """lme4's ``profile.merMod``."""
        from mixedcompat.inference.profile import profile
        return profile(self, **kwargs)

    def ranova(self, **kwargs):
        """lmerTest's ``ranova``: likelihood-ratio tests of the random-effect terms."""
        from mixedcompat.inference.lrt import ranova
        return ranova(self, **kwargs)

    def drop1(self, test: str | None = None, ddf: str = "Satterthwaite", **kwargs):
        """lmerTest's ``drop1`` (F tests, ``ddf`` = "Satterthwaite" or "Kenward-Roger") or, with
        ``test=`` (``"Chisq"`` or ``"none"``) or other lme4 arguments, lme4's ``drop1.merMod``."""
        from mixedcompat.inference.ftests import drop1_ftable
        from mixedcompat.inference.lrt import drop1
        if test is None and not kwargs:
            return drop1_ftable(self, ddf=ddf)
        return drop1(self, test="none" if test is None else test, **kwargs)

    def summary(self, ddf: str | None = None):
        """lme4's ``summary(m)`` (lmerTest's with ``ddf=``): ``str()`` prints R's text."""
        from mixedcompat.lme4.summary import LmerSummary
        return LmerSummary(self, ddf=ddf)

    def __str__(self) -> str:
        from mixedcompat.present.lme4_printing import format_print
        return format_print(self)
    # --- end of the delegating methods ------------------------------------------------------------

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


# ------------------------------------------------------------------------------------------------
# refit and update: the fits they build are LmerMods


def refit(m, newresp: Any):
    """The same model fitted to a new response, as lme4's ``refit``.

    X, Z, prior weights, offset and the criterion (REML or ML) are kept; the optimiser starts
    from the current theta, as lme4 does.

    Known lme4 bug, *not* reproduced: lme4 1.1-31's ``refit()`` of a REML fit adds log|R_X|^2 to
    the REML criterion a second time and optimises that (``refit(m, getME(m, "y"))`` on sleepstudy
    reports REMLcrit 1751.947 instead of 1743.628 and moves theta).  We return what ``refit`` is
    documented to give, which equals ``lmer()`` on the data with the response replaced; the fixture
    tests compare with that.  ML fits agree with lme4's ``refit()`` itself.

    Parameters
    ----------
    m : LmerMod
    newresp : array-like or pandas.Series
        One value per observation used in the fit (``nobs(m)``, after NA removal).

    Returns
    -------
    LmerMod

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> m2 = mc.refit(m, mc.fitted(m) + 1.0)       # doctest: +SKIP
    """
    require_rows(m, "refit")
    if isinstance(newresp, pd.DataFrame):
        if newresp.shape[1] != 1:
            raise DataError(f"newresp must be a single column, not a data frame with {newresp.shape[1]} columns")
        newresp = newresp.iloc[:, 0]
    try:
        y = np.asarray(newresp.to_numpy() if isinstance(newresp, pd.Series) else newresp, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"newresp must be numeric: {exc}") from exc
    y = y.ravel() if y.ndim > 1 and 1 in y.shape else y
    n = m.nobs()
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"newresp has length {y.size} but the model has {n} observations (nobs); "
                        f"refit needs one response value per observation used in the fit")
    if not np.all(np.isfinite(y)):
        raise DataError(f"newresp has {int((~np.isfinite(y)).sum())} missing or infinite value(s)")
    frame = dataclasses.replace(m.frame, y=y)
    control = dict(m.control)
    with blas_threads(control.get("blas_threads", 1)):
        devfun = make_deviance(m.terms, frame.X, y, frame.weights, frame.offset, REML=m.REML)
        opt = optimize_fit(devfun, m.terms, np.asarray(m.theta, dtype=float).copy(), control)
        call = dict(m.call)
        data = call.get("data")
        if isinstance(data, pd.DataFrame) and m.frame.response_name in data.columns:
            data = data.copy()
            col = data.columns.get_loc(m.frame.response_name)
            data[m.frame.response_name] = data[m.frame.response_name].astype(float)
            data.iloc[m.frame.rows, col] = y
            call["data"] = data
        return LmerMod(m.formula, m.parts, frame, m.terms, devfun, opt, m.REML, m.control,
                       data_name=m.data_name, weights_name=m.weights_name, offset_name=m.offset_name,
                       fit_warnings=list(m.optinfo.get("fit_warnings", [])), call=call)


UPDATE_ARGS = ("data", "REML", "weights", "offset", "subset", "na_action", "contrasts", "control")


def require_mermod(m, what: str) -> None:
    """lme4's functions (``bootMer``, ``profile``, cross-validation ...) take an lmer or glmer fit: anything
    else (an nlme fit, a DataFrame) gets a TypeError naming what it is.

    Examples
    --------
    >>> require_mermod(3.0, "bootMer")
    Traceback (most recent call last):
    ...
    TypeError: bootMer() takes an lmer or glmer fit, not float
    """
    if not isinstance(m, LmerMod):
        raise TypeError(f"{what}() takes an lmer or glmer fit, not {type_name(m)}")


def update(m, formula: str | Node | None = None, **kwargs):
    """Refit with a changed formula and/or arguments, as R's ``update(m, . ~ . - x, REML = FALSE)``.

    Parameters
    ----------
    m : LmerMod
    formula : str or Node, optional
        An update formula in R's syntax: ``". ~ . - Days"``, ``". ~ . + (1 | g)"``, ``"log(.) ~ ."``
        (or its tree).  The refit takes the updated formula as a tree: nothing is re-parsed.
    **kwargs
        ``lmer`` arguments that replace the original ones: ``data``, ``REML``, ``weights``, ``offset``,
        ``subset``, ``na_action``, ``contrasts``, ``control``.

    Returns
    -------
    LmerMod

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> mc.update(m, ". ~ . - Days").formula
    'Reaction ~ (Days | Subject)'
    """
    unknown = sorted(set(kwargs) - set(UPDATE_ARGS))
    if unknown:
        raise TypeError(f"update: unknown argument(s) {', '.join(unknown)}; lmer takes "
                        f"{', '.join(UPDATE_ARGS)}")
    call = dict(m.call)
    if "data" not in call or call["data"] is None:
        raise DataError("update: the original data are not stored with this fit; pass data=")
    call["formula"] = m.parts if formula is None else update_formula_tree(m.parts, formula)
    call.update(kwargs)
    args = {k: call[k] for k in ("formula", "data", *UPDATE_ARGS[1:]) if k in call}
    return m.fitter(**args)
