"""lme4 1.1-31's glmer objectives: the Laplace approximation and adaptive Gauss-Hermite quadrature,
as pure functions of the parameters.

* Stage 1 (and ``nAGQ = 0``): a function of theta; PIRLS updates ``u`` and ``beta`` together.
* Stage 2 (``nAGQ >= 1``): a function of ``(theta, beta)``; ``X beta`` enters as an offset and PIRLS
  updates ``u`` only.

Every evaluation restarts PIRLS from one stored linear predictor ``lp0`` (lme4's ``lp0``: in stage 1
the one PIRLS reached at the start values, in stage 2 the one at the end of stage 1) plus the data's
offset; in stage 2 the working response is then taken against the evaluation's offset (data offset
plus ``X beta``), as lme4's ``devfun`` does.  lme4's PIRLS stops at a relative change of the
penalised deviance of 1e-7 and takes ``log|L|^2`` from the last iteration's weights, so the
Laplace value depends on where PIRLS starts at the ~1e-5 relative level: reproducing lme4's numbers
needs lme4's ``lp0``.

The Laplace value is ``log|L|^2 + ||u||^2 + aic(mu)`` (lme4's ``glmResp::Laplace``); the adaptive
Gauss-Hermite value (one scalar random-effects term) is lme4's ``glmerAGQ`` formula, which sums
deviance residuals rather than ``aic()`` -- its scale differs from the Laplace value's by the
saturated model's constant, as lme4 prints it.
"""
from __future__ import annotations

import numpy as np

from mixedcompat.glm.gauss_hermite import GHrule
from mixedcompat.glmer.compiled import compiled_objective
from mixedcompat.glmer.pirls import GlmData, PirlsResult, pirls, random_predictor

__all__ = ["laplace_value", "agq_value", "GlmerObjective"]

SQRT_2PI = np.sqrt(2.0 * np.pi)


def laplace_value(data: GlmData, r: PirlsResult) -> float:
    """lme4's Laplace objective at the end of PIRLS: ``log|L|^2 + ||u||^2 + aic(mu)``."""
    return r.ldL2 + r.sum_u2 + data.aic(r.mu, float(np.sum(r.dev_resid)))


def _level_diagonal(r: PirlsResult) -> np.ndarray:
    """The diagonal of ``L`` (one scalar random-effects term: ``L`` is diagonal)."""
    f = r.factor
    if f.L_full is not None:
        q = r.system.q
        return np.diagonal(f.L_full)[:q].copy()
    return f.L11[:, 0, 0].copy()


def agq_value(data: GlmData, r: PirlsResult, theta: np.ndarray, offset: np.ndarray, nAGQ: int) -> float:
    """lme4's adaptive Gauss-Hermite objective for one scalar random-effects term.

    For each level ``j``: ``devc0_j = u_j^2 + sum of its deviance residuals``, ``sd_j = 1 / L_jj``;
    for each node ``(z_k, w_k)`` of lme4's ``GHrule(nAGQ)``, ``u = u_hat + z_k sd`` gives ``devc_j``
    and ``mult_j += w_k exp(-(devc_j - devc0_j) / 2 - ldnorm(z_k)) / sqrt(2 pi)`` (``w_k`` alone at
    ``z_k = 0``).  The value is ``sum(devc0) + log|L|^2 - 2 log(prod(mult))``: lme4 takes the
    logarithm of the product (which can under- or overflow with many levels); so do we.
    """
    t = data.terms[0]
    codes = t.codes
    u_hat = r.u[0]
    T = [t.template(np.asarray(theta, dtype=float))]
    devc0 = u_hat * u_hat + np.bincount(codes, weights=r.dev_resid, minlength=t.n_levels)
    sd = 1.0 / _level_diagonal(r)
    rule = GHrule(nAGQ)
    z, w, ldnorm = rule.z, rule.w, rule.ldnorm
    mult = np.zeros(t.n_levels)
    fam = data.family
    for zk, wk, lk in zip(z, w, ldnorm):
        if zk == 0:
            mult += wk
            continue
        u = u_hat + zk * sd
        with np.errstate(all="ignore"):
            mu = fam.linkinv(offset + random_predictor(data.terms, T, [u]))
            devc = u * u + np.bincount(codes, weights=data.deviance_residuals(mu), minlength=t.n_levels)
            mult += np.exp(-0.5 * (devc - devc0) - lk) * wk / SQRT_2PI
    with np.errstate(divide="ignore"):
        return float(np.sum(devc0) + r.ldL2 - 2.0 * np.log(np.prod(mult)))


class GlmerObjective:
    """glmer's objective as a pure function of its parameters (lme4's ``devfun``).

    Parameters
    ----------
    data : GlmData
    lp0 : ndarray
        The linear predictor (offset excluded) every evaluation's PIRLS starts from.
    nAGQ : int
        0: a function of theta with the joint update (stage 1); 1: the Laplace approximation, and
        2..25: adaptive Gauss-Hermite, both functions of ``(theta, beta)``.
    tol, maxit : float, int
        PIRLS's ``tolPwrss`` and ``maxit``.
    compiled : bool
        Run PIRLS with the compiled kernel when it takes the model (:mod:`mixedcompat.glmer.compiled`;
        the same numbers to rounding); ``evaluate``'s state then holds the numpy system built at the
        kernel's last working weights.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")
    >>> f = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial", devFunOnly=True)
    >>> round(f(np.concatenate([m.theta, m.beta])), 4)
    184.0531
    """

    def __init__(self, data: GlmData, lp0: np.ndarray, nAGQ: int, tol: float = 1e-7, maxit: int = 100,
                 compiled: bool = True):
        self.data = data
        self.lp0 = np.asarray(lp0, dtype=float).copy()
        self.lp0.flags.writeable = False
        self.nAGQ = int(nAGQ)
        self.tol = tol
        self.maxit = maxit
        self.n_theta = sum(t.n_theta for t in data.terms)
        self.eta_start = data.offset + self.lp0
        self.eta_start.flags.writeable = False      # the compiled kernel caches sums taken at it
        self.compiled = compiled_objective(data) if compiled and self.nAGQ <= 1 else None

    def __getstate__(self) -> dict:
        # the compiled kernel's buffers are ctypes pointers: rebuilt on unpickling, not copied
        state = self.__dict__.copy()
        state["compiled"] = state["compiled"] is not None
        return state

    def __setstate__(self, state: dict) -> None:
        use = state.pop("compiled")
        self.__dict__.update(state)
        self.compiled = compiled_objective(self.data) if use else None

    @property
    def joint(self) -> bool:
        return self.nAGQ == 0

    def split(self, pars: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        pars = np.asarray(pars, dtype=float)
        if self.joint:
            return pars, None
        return pars[:self.n_theta], pars[self.n_theta:]

    def offset_of(self, beta: np.ndarray | None) -> np.ndarray:
        if beta is None or self.data.p == 0:
            return self.data.offset
        return self.data.offset + self.data.X @ beta

    def evaluate(self, pars: np.ndarray) -> tuple[float, PirlsResult]:
        """The objective and the PIRLS state behind it."""
        theta, beta = self.split(pars)
        off = self.offset_of(beta)
        # lme4 sets mu from lp0 under the data's offset, then installs the evaluation's offset
        if self.compiled is not None:
            r = self.compiled.pirls_result(self.data, theta, beta, self.joint, self.eta_start, self.tol, self.maxit)
        else:
            r = pirls(self.data, theta, self.eta_start, off, joint=self.joint, tol=self.tol, maxit=self.maxit)
        if self.nAGQ <= 1:
            return laplace_value(self.data, r), r
        return agq_value(self.data, r, theta, off, self.nAGQ), r

    def __call__(self, pars: np.ndarray) -> float:
        if self.compiled is None:
            return self.evaluate(pars)[0]
        theta, beta = self.split(pars)
        return self.compiled.value(theta, beta, self.joint, self.data.offset, self.eta_start, self.tol, self.maxit)
