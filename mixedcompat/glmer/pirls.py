"""Penalised iteratively reweighted least squares (PIRLS) at fixed parameters, on lme4 1.1-31's path.

One PIRLS iteration is one penalised weighted least-squares solve: with the working weights
``W = mu_eta^2 w / V(mu)`` and the working response ``z = (eta - offset) + (y - mu) / mu_eta`` at the
current linear predictor, the new spherical random effects ``u`` (and, in the joint update of
``nAGQ = 0``, the fixed effects ``beta``) solve the weighted PLS problem of a linear mixed model with
response ``z`` and weights ``W`` -- the same blocked system as lmer's
(:func:`mixedcompat.lme4.pls.make_deviance`).  This is lme4's update (``merPredD::solve`` /
``solveU`` with ``u0 = 0`` and ``beta0 = 0``, which is how glmer keeps them) in closed form.

lme4's rules, followed exactly:

* the penalised deviance ``pdev = sum(dev.resids) + ||u||^2`` is compared with the previous
  iteration's; converged when ``|old - new| / new < tol`` (``tolPwrss``, 1e-7), tested first;
* when ``pdev`` is NaN or larger than before, the step is halved (the new ``u`` (and ``beta``)
  averaged with the previous iteration's) up to 20 times;
* lme4's errors, in its words: ``"PIRLS loop resulted in NaN value"``, ``"(maxstephalfit) PIRLS
  step-halvings failed to reduce deviance in pwrssUpdate"``, ``"pwrssUpdate did not converge in
  (maxit) iterations"``.

The loop starts from a given linear predictor (lme4 restarts every evaluation from a stored one,
``lp0``); the state is passed in and returned, never kept.  One difference from lme4: when the
*first* iteration's deviance is NaN, lme4 halves towards the ``u`` of its previous evaluation (state
left in its objects); here towards ``u = 0``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mixedcompat.errors import DataError
from mixedcompat.front.reterms import ReTerm
from mixedcompat.lme4.pls import Deviance, PLSFactor

__all__ = ["GlmData", "PirlsResult", "PirlsError", "pirls", "random_predictor"]

MAX_STEP_HALVINGS = 20


class PirlsError(DataError):
    """PIRLS failed (lme4's ``pwrssUpdate`` errors, in lme4's words): the model cannot be fitted to
    these data with this family and link (a :class:`~mixedcompat.errors.DataError`)."""

RX_MESSAGE = "Downdated VtV is not positive definite"


@dataclass(frozen=True, eq=False)
class GlmData:
    """The data of a GLMM as PIRLS reads them.

    Attributes
    ----------
    terms : list of ReTerm
        Random-effects terms in lme4's order.
    X : ndarray
        Fixed-effects model matrix (n x p).
    y : ndarray
        Response (for binomial: the proportion of successes).
    weights : ndarray
        Prior weights (for binomial ``cbind`` responses: the numbers of trials times the prior weights).
    n_trials : ndarray
        R's ``n`` of the family's ``aic`` (binomial: trials; 1 otherwise).
    offset : ndarray
        The offset (zeros when none).
    family : object
        The family (``linkinv``, ``mu_eta``, ``variance``, ``dev_resids``, ``aic``).
    """

    terms: list
    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    n_trials: np.ndarray
    offset: np.ndarray
    family: object

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @functools.cached_property
    def joint_pattern(self) -> Deviance:
        """The blocked PLS system's structure with the fixed effects (the joint update)."""
        return Deviance.pattern(self.terms, self.X)

    @functools.cached_property
    def u_pattern(self) -> Deviance:
        """The blocked PLS system's structure without them (the u-only update)."""
        return Deviance.pattern(self.terms, np.zeros((self.n, 0)), like=self.joint_pattern)

    def deviance_residuals(self, mu: np.ndarray) -> np.ndarray:
        """The family's unit deviances times the prior weights (lme4's ``devResid``)."""
        return self.family.dev_resids(self.y, mu, self.weights)

    def aic(self, mu: np.ndarray, dev: float) -> float:
        """The family's ``aic`` (-2 log-likelihood up to R's conventions) at ``mu``."""
        return float(self.family.aic(self.y, self.n_trials, mu, self.weights, dev))


@dataclass(frozen=True, eq=False)
class PirlsResult:
    """The state at the end of PIRLS.

    ``u`` is one array per term (lme4's order); ``beta`` the fixed effects of the joint update (the
    given ``beta`` for the u-only update); ``eta`` includes the offset; ``system`` and ``factor`` are
    the weighted least-squares system and its factor of the last iteration (lme4's ``L`` / ``RX``,
    computed at the weights *before* the last update, as lme4's); ``ldL2`` its ``log|L|^2``.
    """

    u: list
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    dev_resid: np.ndarray
    pdev: float
    ldL2: float
    system: Deviance
    factor: PLSFactor
    iterations: int
    work_weights: np.ndarray          # the working weights of the last iteration
    work_response: np.ndarray         # its working response (offset excluded)

    @property
    def sum_u2(self) -> float:
        return float(sum(float(uk @ uk) for uk in self.u))


def random_predictor(terms: list[ReTerm], templates: list[np.ndarray], u: list[np.ndarray]) -> np.ndarray:
    """``Z Lambda u`` (one entry per row) for spherical random effects ``u`` (one array per term).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> zb = random_predictor(m.terms, m.factor.templates, m.u)
    >>> bool(np.allclose(zb + m.frame.X @ m.beta, m.fitted()))
    True
    """
    n = len(terms[0].codes)
    out = np.zeros(n)
    for t, T, uk in zip(terms, templates, u):
        b = uk.reshape(t.n_levels, t.q) @ T.T
        if t.q == 1:
            out += t.X[:, 0] * b[t.codes, 0]
        else:
            out += np.einsum("ij,ij->i", t.X, b[t.codes])
    return out


def _templates(terms: list[ReTerm], theta: np.ndarray) -> list[np.ndarray]:
    out, at = [], 0
    for t in terms:
        out.append(t.template(theta[at:at + t.n_theta]))
        at += t.n_theta
    return out


def pirls(data: GlmData, theta: np.ndarray, eta_start: np.ndarray, offset: np.ndarray, joint: bool,
          tol: float = 1e-7, maxit: int = 100) -> PirlsResult:
    """Run PIRLS at ``theta`` from the linear predictor ``eta_start`` (offset included).

    Parameters
    ----------
    data : GlmData
    theta : ndarray
        Covariance parameters.
    eta_start : ndarray
        The linear predictor PIRLS starts from (lme4: ``offset + lp0``).
    offset : ndarray
        The offset of this evaluation (for the u-only update: the data's offset plus ``X beta``).
    joint : bool
        Update ``u`` and ``beta`` together (``nAGQ = 0``) or ``u`` only (``beta`` is in ``offset``).
    tol, maxit : float, int
        lme4's ``tolPwrss`` and ``maxit``.

    Returns
    -------
    PirlsResult

    Raises
    ------
    PirlsError
        lme4's PIRLS failures, in lme4's words.
    """
    fam = data.family
    theta = np.asarray(theta, dtype=float)
    T = _templates(data.terms, theta)
    structure = data.joint_pattern if joint else data.u_pattern
    eta = np.asarray(eta_start, dtype=float)
    mu = fam.linkinv(eta)
    u_prev = [np.zeros(t.n_levels * t.q) for t in data.terms]
    beta_prev = np.zeros(data.p)
    beta = np.zeros(data.p)
    oldpdev = np.finfo(float).max
    converged = False

    def update(u_new: list, beta_new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        e = offset + random_predictor(data.terms, T, u_new)
        if joint and data.p:
            e = e + data.X @ beta_new
        with np.errstate(all="ignore"):
            m = fam.linkinv(e)
            dr = data.deviance_residuals(m)
            pd_ = float(np.sum(dr)) + sum(float(uk @ uk) for uk in u_new)
        return e, m, dr, pd_

    for it in range(1, maxit + 1):
        with np.errstate(all="ignore"):
            mu_eta = fam.mu_eta(eta)
            w = mu_eta * mu_eta * data.weights / fam.variance(mu)
            z = (eta - offset) + (data.y - mu) / mu_eta
        # a negative working weight (a mean outside the variance function's domain, e.g. below 0 under
        # poisson's identity link) is NaN in lme4, whose system takes its square root
        if not (np.all(np.isfinite(w)) and np.all(w >= 0.0) and np.all(np.isfinite(z))):
            raise PirlsError("PIRLS loop resulted in NaN value")
        system = structure.reweighted(w, z)
        try:
            f = system.factor(theta)
        except np.linalg.LinAlgError:
            # Lambda'Z'WZ Lambda + I is positive definite for any W >= 0: what fails is R_X (lme4's words)
            raise PirlsError(RX_MESSAGE) from None
        b_new, u = system.solve(f)
        if joint:
            beta = b_new
        eta, mu, dr, pdev = update(u, beta)
        if abs((oldpdev - pdev) / pdev) < tol:
            converged = True
            break
        if np.isnan(pdev) or pdev > oldpdev:
            for _ in range(MAX_STEP_HALVINGS):
                if not (np.isnan(pdev) or pdev > oldpdev):
                    break
                u = [(a + b) / 2.0 for a, b in zip(u_prev, u)]
                if joint:
                    beta = (beta_prev + beta) / 2.0
                eta, mu, dr, pdev = update(u, beta)
            if np.isnan(pdev):
                raise PirlsError("PIRLS loop resulted in NaN value")
            if pdev - oldpdev > tol:
                raise PirlsError("(maxstephalfit) PIRLS step-halvings failed to reduce deviance in pwrssUpdate")
        oldpdev = pdev
        u_prev, beta_prev = u, beta
    if not converged:
        raise PirlsError("pwrssUpdate did not converge in (maxit) iterations")
    return PirlsResult(u=u, beta=beta, eta=eta, mu=mu, dev_resid=dr, pdev=pdev, ldL2=f.ldL2, system=system,
                       factor=f, iterations=it, work_weights=w, work_response=z)
