"""lme4's profiled criterion: the one formula, and the interface every evaluator of it follows.

The profiled REML criterion or deviance of a linear mixed model at theta (Bates et al. 2015, JSS
67(1), eqs. 34 and 41) depends on theta through three numbers of the penalised least-squares
factorisation -- ``log|L|^2`` (``ldL2``), ``log|R_X|^2`` (``ldRX2``) and the penalised weighted
residual sum of squares (``pwrss``) -- and on the data through ``n``, ``p`` and the prior weights:
:func:`profiled_criterion` is the only place it is written.  The evaluators, all in this wing:

* :class:`mixedcompat.lme4.pls.Deviance` (blocked Cholesky, any model) and
  :class:`~mixedcompat.lme4.pls.DenseDeviance` (one dense Cholesky, few random effects): the
  model's criterion and its factor (random effects, fitted values, vcov);
* :mod:`mixedcompat.lme4.fast_kernels`: lean evaluations for the many refits of inference --
  closed-form one-term kernels, one LAPACK call for small models, a new response for the same
  model (bootstrap), ``(ldL2, pwrss)`` only (profiles).

Each is a :class:`ProfiledCriterion`; each fast kernel is checked against the general path
(tests/test_criterion.py; a refitter also checks it at the fitted theta before using it).
"""
from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["LOG_2PI", "profiled_criterion", "deviance_at_sigma", "ProfiledCriterion"]

LOG_2PI = np.log(2.0 * np.pi)
_ONE_PLUS_LOG_2PI = float(1.0 + LOG_2PI)
_log = math.log


def profiled_criterion(ldL2, ldRX2, pwrss, n: int, p: int, REML: bool, sum_log_weights: float):
    """lme4's objective: ``ldL2 [+ ldRX2] - log|W| + d (1 + log(2 pi pwrss / d))`` with ``d = n - p``
    for the REML criterion (``ldRX2`` counted) and ``d = n`` for the deviance (``ldRX2`` ignored).

    Scalars or arrays (one criterion per row of a batch); a non-positive ``pwrss`` gives ``inf``.

    Parameters
    ----------
    ldL2, ldRX2 : float or ndarray
        ``log|L|^2`` of the random-effects block of the factor and ``log|R_X|^2`` of the fixed one.
    pwrss : float or ndarray
        Penalised weighted residual sum of squares.
    n, p : int
        Observations and fixed-effects columns.
    REML : bool
        REML criterion (True) or deviance.
    sum_log_weights : float
        ``sum(log(weights))`` (0 without weights).

    Examples
    --------
    >>> round(float(profiled_criterion(2.0, 1.0, 50.0, 20, 2, True, 0.0)), 6)
    72.47151
    >>> profiled_criterion(2.0, 1.0, 0.0, 20, 2, False, 0.0)
    inf
    """
    if type(pwrss) is float:
        # the scalar kernels' hot path (plain Python floats, math.log); numpy scalars and arrays
        # (the factor objects of pls) take np.log below -- the two logarithms agree to an ulp
        if not pwrss > 0.0:
            return math.inf
        if REML:
            denom = n - p
            return ldL2 + ldRX2 - sum_log_weights + denom * (_ONE_PLUS_LOG_2PI + _log(pwrss / denom))
        return ldL2 - sum_log_weights + n * (_ONE_PLUS_LOG_2PI + _log(pwrss / n))
    if REML:
        denom = n - p
        ld = ldL2 + ldRX2
    else:
        denom = n
        ld = ldL2
    if isinstance(pwrss, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            crit = ld - sum_log_weights + denom * (1.0 + LOG_2PI + np.log(pwrss / denom))
        return np.where(pwrss > 0, crit, np.inf)
    if not pwrss > 0:
        return math.inf
    return float(ld - sum_log_weights + denom * (1.0 + LOG_2PI + np.log(pwrss / denom)))


def deviance_at_sigma(ldL2: float, pwrss: float, n: int, sigma2: float, sum_log_weights: float,
                      ldRX2: float = 0.0, p: int = 0, REML: bool = False) -> float:
    """The deviance at residual variance ``sigma2`` (sigma not profiled out, beta profiled):
    ``ldL2 - log|W| + pwrss / sigma2 + n log(2 pi sigma2)``, plus ``ldRX2 - p log(2 pi sigma2)`` for
    the REML criterion. With ``REML=False`` it is what lme4's profiles minimise on the sd / correlation /
    sigma scale, and equals :func:`profiled_criterion` at ``sigma2 = pwrss / n``; with ``REML=True`` it is
    lmerTest's ``devfun_vp`` (whose Hessian gives the Satterthwaite df), equal to the REML criterion at
    ``sigma2 = pwrss / (n - p)``.

    Examples
    --------
    >>> a = deviance_at_sigma(2.0, 50.0, 20, 2.5, 0.0)
    >>> bool(abs(a - profiled_criterion(2.0, 0.0, 50.0, 20, 2, False, 0.0)) < 1e-12)
    True
    >>> b = deviance_at_sigma(2.0, 50.0, 20, 50.0 / 18, 0.0, ldRX2=1.0, p=2, REML=True)
    >>> bool(abs(b - profiled_criterion(2.0, 1.0, 50.0, 20, 2, True, 0.0)) < 1e-12)
    True
    """
    log_2pi_s2 = LOG_2PI + math.log(sigma2)
    dev = ldL2 - sum_log_weights + pwrss / sigma2 + n * log_2pi_s2
    if REML:
        dev += ldRX2 - p * log_2pi_s2
    return dev


@runtime_checkable
class ProfiledCriterion(Protocol):
    """What every evaluator of the profiled criterion offers.

    ``crit(theta)`` is the criterion (``inf`` where the factorisation fails: the optimiser's wall);
    ``crit.solution(theta)`` is ``(criterion, beta, pwrss)`` at ``theta`` (beta of the model's own
    response, not the reduced one), or None where the factorisation fails.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
    >>> isinstance(m.devfun, ProfiledCriterion)
    True
    """

    def __call__(self, theta: np.ndarray) -> float: ...

    def solution(self, theta: np.ndarray) -> tuple[float, np.ndarray, float] | None: ...
