"""``glmer``: fit a generalized linear mixed model as lme4 1.1-31 does, and ``GlmerMod``, its frozen
result (lme4's ``glmerMod``).

Pipeline (lme4's ``glFormula -> mkGlmerDevfun -> optimizeGlmer (stage 1) -> updateGlmerDevfun ->
optimizeGlmer (stage 2) -> mkMerMod``): :func:`~mixedcompat.lme4.modular.formula_stage` (glFormula's frame and terms) ->
the family's response and start (:mod:`mixedcompat.glm`) -> :func:`~mixedcompat.glmer.stages.optimize_glmer`
-> :class:`GlmerMod`.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla

from mixedcompat.errors import DataError
from mixedcompat.front.data_input import as_data_frame
from mixedcompat.front.formula import FormulaParts, parse_formula
from mixedcompat.front.reterms import ThetaLayout
from mixedcompat.front.rlang import Node
from mixedcompat.front.transforms import Fac
from mixedcompat.glm.families import family_of
from mixedcompat.glm.response import glm_response
from mixedcompat.glmer.compiled import compiled_objective
from mixedcompat.glmer.control import glmer_control
from mixedcompat.glmer.objective import GlmerObjective
from mixedcompat.glmer.pirls import GlmData, pirls
from mixedcompat.glmer.stages import GlmerOpt, optimize_glmer
from mixedcompat.lme4.convergence import check_conv, emit
from mixedcompat.lme4.fit import LmerMod, lmer
from mixedcompat.lme4.modular import formula_stage
from mixedcompat.lme4.prediction import predict as lme4_predict
from mixedcompat.lme4.varcorr import VarCorr, VCTerm
from mixedcompat.model import LogLik
from mixedcompat.numerics.threads import blas_threads

__all__ = ["glmer", "GlmerMod", "NAGQ_MESSAGE", "GAUSSIAN_MESSAGE"]

NAGQ_MESSAGE = "nAGQ > 1 is only available for models with a single, scalar random-effects term"
GAUSSIAN_MESSAGE = ("calling glmer() with family=gaussian (identity link) as a shortcut to lmer() is deprecated; "
                    "please call lmer() directly")
RESIDUAL_TYPES = ("deviance", "pearson", "working", "response")


def _check_nAGQ(nAGQ: Any, terms: list) -> int:
    """lme4 1.1-31's checks: an integer; more than 1 only for one scalar term; at most 100 (its
    Gauss-Hermite table; the documented limit of 25 is not enforced after stage 1)."""
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer, float)) or int(nAGQ) != nAGQ:
        raise DataError(f"nAGQ must be an integer (0 to 100), not {nAGQ!r}")
    k = int(nAGQ)
    if k < 0:
        raise DataError(f"0L <= nAGQ is not TRUE (nAGQ = {k})")
    if k > 100:
        raise DataError(f"ord < 101L is not TRUE (nAGQ = {k}: lme4's Gauss-Hermite rules go up to 100 nodes)")
    if k > 1 and (len(terms) != 1 or terms[0].q != 1):
        raise DataError(NAGQ_MESSAGE)
    return k


def _prepare(formula, data, family, weights, offset, subset, na_action, contrasts, ctrl):
    """Everything a fit needs before optimisation: parsed formula, frame, terms, family, GlmData,
    the start's linear predictor and the design's warnings."""
    fam = family_of(family)
    parts = parse_formula(formula)
    frame, terms, fit_warnings = formula_stage(parts, data, ctrl, glm_response=True, weights=weights, offset=offset,
                                               subset=subset, na_action=na_action, contrasts=contrasts)   # glFormula's
    n = len(frame.y)
    try:
        resp = glm_response(fam, _raw_response(frame), frame.weights, n_rows=n)
    except DataError as exc:
        if "out of range" not in str(exc):
            raise
        raise DataError(f"{exc} (the {fam.link.name} link of the {fam.family} family at the response's "
                        f"starting means: link {fam.link.name!r} does not suit {frame.response_name!r})") from None
    off = frame.offset if frame.offset is not None else np.zeros(n)
    data_ = GlmData(terms, frame.X, resp.y, resp.weights, resp.n, off, fam)
    eta_start = off + resp.eta
    return fam, parts, frame, terms, data_, eta_start, fit_warnings


def _raw_response(frame) -> Any:
    """The response as glm's family sees it: a factor as a Categorical, a logical as bool, a
    ``cbind`` as its matrix."""
    raw = frame.response_raw
    if isinstance(raw, Fac):
        return pd.Categorical.from_codes(raw.codes, categories=raw.levels)
    if raw.logical:
        return raw.values.astype(bool)
    return raw.values


def _fixef_start(start: Any, p: int, nAGQ: int, no_optimizer: bool = False) -> np.ndarray | None:
    """``start$fixef`` (lme4's checks and words; with no optimiser and ``nAGQ = 0`` it is ignored:
    the joint PIRLS gives beta)."""
    if not isinstance(start, dict):
        return None
    bad = sorted(set(start) - {"theta", "fixef"})
    if bad:
        raise DataError(f"bad name(s) for start vector ({', '.join(bad)}); should be 'theta' and/or 'fixef'")
    if start.get("fixef") is None:
        return None
    if nAGQ == 0:
        if no_optimizer:
            return None
        raise DataError("should not specify both start$fixef and nAGQ==0")
    beta = np.asarray(start["fixef"], dtype=float).ravel()
    if len(beta) != p:
        raise DataError(f"incorrect number of fixef components (!={p})")
    return beta


def _theta_start(start: Any, layout: ThetaLayout) -> np.ndarray:
    if start is None:
        return layout.start.copy()
    theta = start.get("theta") if isinstance(start, dict) else start
    if theta is None:
        return layout.start.copy()
    theta = np.asarray(theta, dtype=float).ravel()
    if theta.shape != layout.start.shape:
        raise DataError(f"incorrect number of theta components (!={len(layout.start)})")
    return theta


def glmer(formula: str | Node | FormulaParts, data: pd.DataFrame, family: Any = "binomial", weights: Any = None,
          offset: Any = None, nAGQ: int = 1, subset: Any = None, na_action: str = "omit",
          contrasts: dict | None = None, control: dict | None = None, start: Any = None,
          devFunOnly: bool = False):
    """Fit a generalized linear mixed model by maximum likelihood, as lme4's ``glmer``.

    R equivalent: ``lme4::glmer(formula, data, family = binomial, nAGQ = 1)``.

    Parameters
    ----------
    formula : str, Node or FormulaParts
        lme4 formula; a binomial response may be ``cbind(successes, failures)``, a proportion (with
        ``weights`` = trials), 0/1, bool or a factor (first level = failure).
    data : pandas.DataFrame
    family : str or Family
        R's family name (``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
        ``"gaussian"``) with its default link, or a family object (``mc.family.binomial(link="probit")``).
        ``gaussian`` with the identity link fits :func:`mixedcompat.lmer` with lme4's warning.
    weights, offset : str or array-like, optional
        Prior weights / offset.
    nAGQ : int
        0: the Laplace objective with beta estimated inside PIRLS (stage 1 only); 1: the Laplace
        approximation; 2..25: adaptive Gauss-Hermite quadrature (one scalar random-effects term).
    subset, na_action, contrasts : optional
        As for :func:`mixedcompat.lmer`.
    control : dict, optional
        lme4's ``glmerControl`` settings (:func:`mixedcompat.glmer.control.glmer_control`).
    start : array-like or dict, optional
        Start values of theta, or ``{"theta": ..., "fixef": ...}`` (``fixef`` replaces stage 1's beta
        as stage 2's start).
    devFunOnly : bool
        Return lme4's objective instead of fitting: a function of theta (``nAGQ = 0``) or of
        ``(theta, beta)`` (after stage 1, as lme4's ``devFunOnly = TRUE``).

    Returns
    -------
    GlmerMod (or a :class:`~mixedcompat.glmer.objective.GlmerObjective` with ``devFunOnly``)

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")
    >>> round(-2 * float(m.logLik()), 4)
    184.0531
    """
    data = as_data_frame(data)
    fam = family_of(family)
    if fam.family == "gaussian" and getattr(fam.link, "name", fam.link) == "identity":
        warnings.warn(GAUSSIAN_MESSAGE, UserWarning, stacklevel=2)
        return lmer(formula, data, weights=weights, offset=offset, subset=subset, na_action=na_action,
                    contrasts=contrasts)
    ctrl = glmer_control(control)
    fam, parts, frame, terms, gdata, eta_start, fit_warnings = _prepare(
        formula, data, fam, weights, offset, subset, na_action, contrasts, ctrl)
    k = _check_nAGQ(nAGQ, terms)
    # a fit whose evaluations run in the compiled kernel makes only a few small BLAS calls: the thread
    # limit (whose first use scans every loaded library, ~10 ms) is for the numpy engine's fits
    kernel = k <= 1 and compiled_objective(gdata) is not None
    with blas_threads(None if kernel else ctrl["blas_threads"]):
        layout = ThetaLayout.of(terms)
        theta0 = _theta_start(start, layout)
        beta0 = _fixef_start(start, gdata.p, k, ctrl["optimizer"] is None)
        if devFunOnly:
            return _devfun_only(gdata, theta0, layout, k, ctrl, eta_start)
        opt = optimize_glmer(gdata, theta0, layout.lower, k, ctrl, eta_start, beta_start=beta0,
                             theta_init=layout.start)
        call = {"formula": formula, "data": data, "family": family, "weights": weights, "offset": offset,
                "nAGQ": k, "subset": subset, "na_action": na_action, "contrasts": contrasts,
                "control": control, "start": start}
        text = formula if isinstance(formula, str) else parts.text
        data_name = data.attrs.get("name", "data") if isinstance(getattr(data, "attrs", None), dict) else "data"
        return GlmerMod(text, parts, frame, terms, gdata, layout, opt, k, ctrl, fit_warnings, call, data_name)


def _devfun_only(gdata: GlmData, theta0: np.ndarray, layout: ThetaLayout, nAGQ: int, ctrl: dict,
                 eta_start: np.ndarray) -> GlmerObjective:
    # lme4's first PIRLS runs at the model's default theta, whatever the start
    r0 = pirls(gdata, layout.start, eta_start, gdata.offset, joint=True, tol=ctrl["tolPwrss"], maxit=ctrl["maxit"])
    obj0 = GlmerObjective(gdata, r0.eta - gdata.offset, 0, ctrl["tolPwrss"], ctrl["maxit"])
    if nAGQ == 0:
        return obj0
    opt = optimize_glmer(gdata, theta0, layout.lower, 0, dict(ctrl, boundary_tol=0.0), eta_start,
                         theta_init=layout.start)
    return GlmerObjective(gdata, opt.state.eta - gdata.offset, nAGQ, ctrl["tolPwrss"], ctrl["maxit"])


class GlmerMod(LmerMod):
    """A fitted generalized linear mixed model (lme4's ``glmerMod``); frozen once built.

    R equivalent: lme4's ``glmerMod`` class, the value of ``glmer(...)``; built by :func:`mixedcompat.glmer`.

    Shares lmer's random-effects accessors (``VarCorr``, ``ranef``, ``coef``, ``ngrps``, ``getME``'s
    structural components); the estimates, likelihood, residuals and predictions are the GLMM's.
    Public read-only components: ``formula``, ``call``, ``parts``, ``frame``, ``terms``, ``family``,
    ``nAGQ``, ``theta``, ``beta``, ``u``, ``b``, ``opt`` (:class:`~mixedcompat.glmer.stages.GlmerOpt`),
    ``objective``, ``optinfo``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")
    >>> m.nobs, round(m.deviance(), 4)
    (56, 73.4743)
    """

    fitter = staticmethod(glmer)

    def __init__(self, formula: str, parts: FormulaParts, frame, terms: list, gdata: GlmData,
                 layout: ThetaLayout, opt: GlmerOpt, nAGQ: int, control: dict, fit_warnings: list,
                 call: dict, data_name: str):
        self.formula = formula
        self.call = dict(call)
        self.parts = parts
        self.frame = frame
        self.terms = terms
        self.gdata = gdata
        self.family = gdata.family
        self.nAGQ = nAGQ
        self.control = control
        self.REML = False
        self.data_name = data_name
        self.weights_name = call.get("weights") if isinstance(call.get("weights"), str) else \
            (None if call.get("weights") is None else "weights")
        self.offset_name = call.get("offset") if isinstance(call.get("offset"), str) else \
            (None if call.get("offset") is None else "offset")
        self.layout = layout
        self.opt = opt
        self.objective = opt.objective
        st = opt.state
        n_theta = layout.n_theta
        self.theta = np.array(opt.par[:n_theta], dtype=float)
        self.beta = np.array(st.beta if nAGQ == 0 else opt.par[n_theta:], dtype=float)
        self.u = [np.array(uk) for uk in st.u]
        self._factor = st.factor
        self.devfun = st.system            # the weighted PLS system of the last PIRLS iteration
        self.criterion = float(opt.fval)
        T = st.factor.templates
        self.b = [(uk.reshape(t.n_levels, t.q) @ Tk.T) for uk, t, Tk in zip(self.u, terms, T)]
        self._eta = np.array(st.eta)
        self._mu = np.array(st.mu)
        self._fitted = self._mu
        self._dev_resid = np.array(st.dev_resid)
        self.use_scale = bool(getattr(self.family, "has_scale", self.family.family not in ("binomial", "poisson")))
        ussq = st.sum_u2
        with np.errstate(all="ignore"):
            wrss = float(np.sum(gdata.weights * (gdata.y - self._mu) ** 2 / self.family.variance(self._mu)))
        self._devcomp_values = {"ldL2": st.ldL2, "wrss": wrss, "ussq": ussq, "pwrss": wrss + ussq,
                                "drsum": float(np.sum(self._dev_resid)), "dev": self.criterion}
        self._sigma = float(np.sqrt((wrss + ussq) / gdata.n)) if self.use_scale else 1.0
        self._work_weights = None
        messages = []
        conv = check_conv(opt.derivs, opt.par, opt.lower, control)
        if conv is not None:
            messages = list(conv.messages)
            emit(conv, control, stacklevel=4)
        self.optinfo = {"optimizer": [opt.stage1.optimizer] + ([opt.stage2.optimizer] if opt.stage2 else []),
                        "feval": (opt.stage2 or opt.stage1).feval, "message": (opt.stage2 or opt.stage1).message,
                        "conv": {"opt": (opt.stage2 or opt.stage1).code,
                                 "lme4": {"messages": messages}},
                        "messages": messages, "warnings": list((opt.stage2 or opt.stage1).warnings),
                        "val": opt.fval,
                        "derivs": None if opt.derivs is None else opt.derivs.as_dict(),
                        "fit_warnings": list(fit_warnings), "stage1": {"par": opt.stage1.par.copy(),
                                                                        "feval": opt.stage1.feval}}
        self._vcov_unscaled = self._rx_vcov_unscaled()
        for arr in (self.theta, self.beta, self._eta, self._mu, *self.u, *self.b):
            arr.flags.writeable = False
        self._freeze()

    # ---------------------------------------------------------------- sizes and estimates
    def _rx_vcov_unscaled(self) -> np.ndarray:
        """``(R_X' R_X)^-1`` from the last PIRLS iteration's weights (lme4's ``pp$unsc()``)."""
        p = self.frame.X.shape[1]
        if p == 0:
            return np.zeros((0, 0))
        sys_ = self.devfun
        if sys_.p == p:
            return sys_.beta_vcov_unscaled(self._factor)
        st = self.opt.state
        joint = self.gdata.joint_pattern.reweighted(st.work_weights, st.work_response)
        return joint.beta_vcov_unscaled(joint.factor(self.theta))

    def _npar(self) -> int:
        # lme4's npar.merMod: a negative binomial family's theta counts too (any glmer with that family)
        nb = "Negative Binomial" in str(self.family.family)
        return self.frame.X.shape[1] + len(self.theta) + (1 if self.use_scale else 0) + (1 if nb else 0)

    def sigma(self) -> float:
        """1 for binomial and Poisson families; lme4's ``sqrt(pwrss / n)`` for families with a scale."""
        return self._sigma

    def vcov(self, use_hessian: bool | None = None) -> pd.DataFrame:
        """Variance-covariance of the fixed effects, as lme4 1.1-31: from the finite-difference Hessian
        of the objective over ``(theta, beta)`` when available (``2 H^-1``, beta block), else (or with
        ``use_hessian=False``) ``sigma^2 (R_X' R_X)^-1``; lme4's warnings when they disagree or the
        Hessian's is not positive definite."""
        names = list(self.frame.x_names)
        V = self._sigma ** 2 * self._vcov_unscaled
        d = self.opt.derivs
        hess_avail = d is not None and d.Hessian.shape[0] > len(self.theta)
        if use_hessian is None:
            use_hessian = hess_avail
        if use_hessian and not hess_avail:
            raise DataError("'use.hessian'=TRUE specified, but Hessian is unavailable")
        if hess_avail:
            nt = len(self.theta)
            try:
                Hi = np.linalg.solve(d.Hessian, np.eye(d.Hessian.shape[0]))
                Vh = Hi[nt:, nt:]
                Vh = Vh + Vh.T
                bad = (not np.all(np.isfinite(Vh))) or np.min(np.linalg.eigvalsh(Vh)) <= 0
            except np.linalg.LinAlgError:
                Vh, bad = None, True
            if not use_hessian and not bad and np.any(np.abs(V - Vh) > 1e-4 * Vh):
                warnings.warn("variance-covariance matrix computed from finite-difference Hessian\nand from RX "
                              "differ by >1e-04: consider 'use.hessian=TRUE'", UserWarning, stacklevel=2)
            if use_hessian:
                if not bad:
                    V = Vh
                else:
                    warnings.warn("variance-covariance matrix computed from finite-difference Hessian is\n"
                                  "not positive definite or contains NA values: falling back to var-cov "
                                  "estimated from RX", UserWarning, stacklevel=2)
        return pd.DataFrame(V, index=names, columns=names)

    def logLik(self, REML: bool | None = None) -> LogLik:
        """``-objective / 2`` (the Laplace or AGQ value lme4 reports)."""
        return LogLik(-0.5 * self.criterion, df=self._npar(), nobs=self.nobs())

    def deviance(self, REML: bool | None = None) -> float:
        """lme4's ``deviance()`` of a glmer fit: the sum of the squared deviance residuals (not -2 log L)."""
        return float(np.sum(self._dev_resid))

    def REMLcrit(self) -> float:
        raise DataError("REMLcrit() is for linear mixed models; a glmer fit has no REML criterion")

    def VarCorr(self, comp: Any = None):
        vc_terms = []
        for t, Tk in zip(self.terms, self._factor.templates):
            vc_terms.append(VCTerm(t.group, list(t.names), self._sigma ** 2 * (Tk @ Tk.T)))
        return VarCorr(vc_terms, self._sigma if self.use_scale else None, use_sc=self.use_scale, comp=comp)

    # ---------------------------------------------------------------- fitted values and residuals
    def fitted(self) -> np.ndarray:
        """Fitted means (response scale), as lme4's ``fitted()``."""
        return self._mu.copy()

    def residuals(self, type: str = "deviance", scaled: bool = False) -> np.ndarray:  # noqa: A002
        """Residuals of lme4's ``residuals.glmResp``: ``"deviance"`` (default), ``"pearson"``,
        ``"working"``, ``"response"``; ``scaled`` divides by sigma."""
        if type not in RESIDUAL_TYPES:
            raise DataError(f"'arg' should be one of {', '.join(repr(t) for t in RESIDUAL_TYPES)}")
        g = self.gdata
        y, mu = g.y, self._mu
        with np.errstate(all="ignore"):
            if type == "deviance":
                r = np.sign(y - mu) * np.sqrt(np.maximum(self._dev_resid, 0.0))
            elif type == "pearson":
                r = (y - mu) * np.sqrt(g.weights) / np.sqrt(self.family.variance(mu))
            elif type == "working":
                r = (y - mu) / self.family.mu_eta(self._eta)
            else:
                r = y - mu
        return r / self._sigma if scaled else r

    def predict(self, newdata: pd.DataFrame | None = None, re_form: Any = None, type: str = "link",  # noqa: A002
                allow_new_levels: bool = False, **kwargs) -> np.ndarray:
        """lme4's ``predict.merMod`` for a glmer fit: the linear predictor (``type="link"``) or the
        mean (``type="response"``); with ``interval="confidence"|"prediction"`` (and ``nsim``, ``seed``,
        ``level``), a DataFrame ``fit, lwr, upr`` from a parametric bootstrap
        (:func:`mixedcompat.inference.bootstrap.predict_interval`)."""
        if type not in ("link", "response"):
            raise DataError(f"type must be 'link' or 'response', not {type!r}")
        if kwargs.get("interval") is not None:     # bootstrap intervals (inference helper's edit)
            return self._predict_interval(newdata, re_form=re_form, allow_new_levels=allow_new_levels, type=type,
                                          **kwargs)
        if newdata is None and re_form is None and not kwargs.get("random_only", False):
            # lme4 returns the response module's own eta / mu (its C++ link clamps)
            return self._eta.copy() if type == "link" else self._mu.copy()
        eta = lme4_predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels,
                           type="link", **kwargs)
        # otherwise lme4 applies the R family's linkinv (make.link's clamps, not the C++ ones)
        return self.family.link.r.linkinv(eta) if type == "response" else eta

    def isSingular(self, tol: float = 1e-4) -> bool:
        return bool(np.any(self.theta[self.layout.on_diagonal] < tol))

    def getME(self, name: str):
        """lme4's ``getME`` for a glmer fit (``"devcomp"``, ``"theta"``, ``"beta"``, ``"u"``, ``"b"``,
        ``"X"``, ``"Z"``, ``"Lambda"``, ``"flist"``, ``"cnms"``...)."""
        if name == "theta":
            return pd.Series(self.theta.copy(), index=list(self.layout.names))
        if name == "lower":
            return self.layout.lower.copy()
        if name == "devcomp":
            n, p = self.nobs(), self.frame.X.shape[1]
            cmp = dict(self._devcomp_values)
            cmp["ldRX2"] = float(2.0 * np.sum(np.log(np.abs(np.diag(sla.cholesky(
                np.linalg.inv(self._vcov_unscaled), lower=True)))))) if p else 0.0
            cmp["sigmaML"] = self._sigma if self.use_scale else float("nan")
            cmp["tolPwrss"] = self.control["tolPwrss"]
            dims = {"N": n, "n": n, "p": p, "nmp": n - p, "q": sum(t.n_levels * t.q for t in self.terms),
                    "nth": len(self.theta), "nAGQ": self.nAGQ, "compDev": 1, "useSc": int(self.use_scale),
                    "reTrms": len(self.terms), "spFe": 0, "REML": 0, "GLMM": 1, "NLMM": 0}
            return {"cmp": cmp, "dims": dims}
        return super().getME(name)

    # --- delegating methods (as LmerMod's block): present/ and glmer/summary.py import fits ---------
    def summary(self, ddf: None = None, use_hessian: bool | None = None, correlation: bool | None = None):
        """lme4's ``summary(m)`` of a glmer fit (z tests; ``use_hessian`` as lme4's ``use.hessian``):
        ``str()`` prints R's text."""
        from mixedcompat.glmer.summary import GlmerSummary
        if ddf is not None:
            raise DataError(f"ddf={ddf!r}: denominator degrees of freedom are lmerTest's, for linear mixed "
                            "models; a glmer summary has z tests")
        return GlmerSummary(self, use_hessian=use_hessian, correlation=correlation)

    def __str__(self) -> str:
        from mixedcompat.present.glmer_printing import format_glmer_print
        return format_glmer_print(self)
    # --- end of the delegating methods ------------------------------------------------------------

    # --- delegating methods (inference helper, issue 12 items 3-5): refit.py and inference/ import this
    # module, so their imports are function-local, as LmerMod's block in lme4/fit.py ----------------
    def simulate(self, nsim: int = 1, seed: Any = None, use_u: bool = False, re_form: Any = None,
                 newdata: pd.DataFrame | None = None, **kwargs) -> pd.DataFrame:
        """Responses simulated from the fit, as lme4's ``simulate.merMod`` (see :func:`mixedcompat.glmer.refit.simulate`)."""
        from mixedcompat.glmer.refit import simulate
        return simulate(self, nsim=nsim, seed=seed, use_u=use_u, re_form=re_form, newdata=newdata, **kwargs)

    def refit(self, newresp: Any) -> "GlmerMod":
        """The same model fitted to a new response, on lme4's ``refit`` path (see :func:`mixedcompat.glmer.refit.refit`)."""
        from mixedcompat.glmer.refit import refit
        return refit(self, newresp)

    def update(self, formula: Any = None, **kwargs) -> "GlmerMod":
        """``glmer()`` again with a changed formula or arguments (see :func:`mixedcompat.glmer.refit.update`)."""
        from mixedcompat.glmer.refit import update
        return update(self, formula, **kwargs)

    @classmethod
    def anova_models(cls, *models: Any, type: Any = None, ddf: str = "Satterthwaite",  # noqa: A002
                     refit: bool = True, **named_models: Any):
        """lme4's ``anova``: one glmer fit -> its sequential sums-of-squares table (no p-values); several ->
        the likelihood-ratio table (glmer fits are ML fits: nothing is refitted)."""
        from mixedcompat.inference.ftests import sequential_ss_table
        from mixedcompat.inference.lrt import anova_lrt
        if len(models) == 1 and not named_models:
            return sequential_ss_table(models[0])
        return anova_lrt(*models, refit=refit, **named_models)

    def drop1(self, test: str | None = None, ddf: str = "Satterthwaite", **kwargs):
        """lme4's ``drop1.merMod``: AIC and (``test="Chisq"``) likelihood-ratio tests of single term deletions."""
        from mixedcompat.inference.lrt import drop1
        return drop1(self, test="none" if test is None else test, **kwargs)
    # --- end of the delegating methods (inference helper) -----------------------------------------
