"""``glmer_nb``: a negative-binomial GLMM with theta estimated, as lme4 1.1-31's ``glmer.nb``.

lme4's path, step by step:

1. a Poisson ``glmer`` of the same model;
2. theta from its fitted means by MASS's ``theta.ml`` (lme4's ``est_theta``: the response, the prior
   weights, ``limit = 20``, ``eps = 2 tol``);
3. ``glmer`` with ``negative.binomial(theta)``;
4. R's ``optimize`` (Brent, :func:`mixedcompat.numerics.brent.optimize`) of ``-2 log L`` over
   ``log(theta)`` in ``log(theta) + (-3, 3)`` with ``tol = 5e-5``; each evaluation is lme4's ``refit``
   of the *previous evaluation's* fit with the new theta (the chain of refits, as lme4's ``optTheta``;
   :mod:`mixedcompat.glmer.refit`).  ``optimize`` evaluates once more at its minimum, and that last
   refit is the result.

The family line is MASS's ``"Negative Binomial(<round(theta, 4)>)"``; ``getME(m, "glmer.nb.theta")``
gives theta; the log-likelihood counts theta as a parameter (lme4's ``df``).  Warnings of the refits
are re-issued once for the last refit (lme4's ``factory``), and messages such as the singular-fit
note of the intermediate fits are not shown (lme4's ``suppressMessages``).
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError, SingularFitWarning
from mixedcompat.glm.families import negative_binomial
from mixedcompat.glm.negbin import est_theta
from mixedcompat.glmer.fit import GlmerMod, glmer
from mixedcompat.glmer.refit import GlmerRefitter
from mixedcompat.numerics.brent import optimize

__all__ = ["glmer_nb", "GlmerNbMod", "refit_theta"]

NB_TOL = 5e-5           # glmer.nb's tol (of optimize on log(theta))
NB_HALF_WIDTH = 3.0     # the search interval: log(theta0) -/+ 3


class GlmerNbMod(GlmerMod):
    """A ``glmer_nb`` fit: a :class:`GlmerMod` with ``getME(m, "glmer.nb.theta")`` and the number of
    refits of the search (``nb_evaluations``, lme4's ``attr(m, "nevals")``); its ``logLik`` counts theta
    as a parameter, as every glmer fit with a negative binomial family (lme4's ``npar``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> d = mc.datasets.load("grouseticks")                                     # doctest: +SKIP
    >>> m = mc.glmer_nb("TICKS ~ YEAR + (1 | BROOD)", d)                        # doctest: +SKIP
    >>> m.family.family                                                          # doctest: +SKIP
    'Negative Binomial(...)'
    """

    @classmethod
    def of(cls, m: GlmerMod, nevals: int, call: dict) -> "GlmerNbMod":
        """The fit ``m`` (the search's last refit) as a ``GlmerNbMod``."""
        fit_warnings = list(m.optinfo.get("fit_warnings", []))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # m's own checks were issued (or not) already
            out = cls(m.formula, m.parts, m.frame, m.terms, m.gdata, m.layout, m.opt, m.nAGQ, m.control,
                      fit_warnings, call, m.data_name)
        object.__setattr__(out, "nb_evaluations", int(nevals))
        return out

    def getME(self, name: str):
        if name == "glmer.nb.theta":
            return float(self.family.theta)
        return super().getME(name)


def refit_theta(m: GlmerMod, theta: float) -> GlmerMod:
    """lme4's ``refitNB``: ``refit(setNBdisp(m, theta))`` -- the same model and response with
    ``negative.binomial(theta)``, on ``refit``'s path from ``m``'s parameters.

    Examples
    --------
    >>> m2 = refit_theta(m, 2.5)        # doctest: +SKIP
    """
    fam = negative_binomial(theta=float(theta), link=m.family.link.name)
    return GlmerRefitter(m, family=fam).fit(m.frame.y)


def _nb_call(call: dict, theta: float) -> dict:
    """The fit's call as lme4 leaves it: ``glmer`` with ``negative.binomial(theta = <estimate>)``, so
    that ``update`` refits with theta fixed, as in R."""
    out = dict(call)
    out["family"] = negative_binomial(theta=theta)
    return out


def glmer_nb(formula: Any, data: pd.DataFrame, weights: Any = None, offset: Any = None, nAGQ: int = 1,
             subset: Any = None, na_action: str = "omit", contrasts: dict | None = None,
             control: dict | None = None, start: Any = None, interval: tuple[float, float] | None = None,
             tol: float = NB_TOL, verbose: bool = False, initCtrl: dict | None = None) -> GlmerNbMod:
    """Fit a negative-binomial GLMM with theta estimated, as lme4's ``glmer.nb``.

    R equivalent: ``lme4::glmer.nb(formula, data)``.

    Parameters
    ----------
    formula, data, weights, offset, nAGQ, subset, na_action, contrasts, control, start
        As :func:`mixedcompat.glmer` (the family is the negative binomial with the log link).
    interval : (float, float), optional
        The search interval of ``log(theta)`` (default ``log(theta0) -/+ 3``).
    tol : float
        ``optimize``'s tolerance on ``log(theta)`` (lme4's 5e-5).
    verbose : bool
        Print lme4's trace (theta.ml's iterations, then one line per refit).
    initCtrl : dict, optional
        lme4's ``initCtrl``: ``limit`` (20), ``eps`` (``2 tol``), ``theta`` (a start that skips the
        Poisson fit and theta.ml).

    Returns
    -------
    GlmerNbMod

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer_nb("TICKS ~ YEAR + (1 | BROOD)", mc.datasets.load("grouseticks"))   # doctest: +SKIP
    >>> round(m.getME("glmer.nb.theta"), 3)                                               # doctest: +SKIP
    """
    init = {"limit": 20, "eps": 2 * tol, "theta": None}
    init.update(initCtrl or {})
    args = dict(weights=weights, offset=offset, nAGQ=nAGQ, subset=subset, na_action=na_action,
                contrasts=contrasts, control=control, start=start)
    th = init["theta"]
    if th is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularFitWarning)      # a message in lme4: suppressed
            g0 = glmer(formula, data, family="poisson", **args)
        raw = g0.frame.y
        y = np.asarray(raw, dtype=float)
        w = None if g0.frame.weights is None else np.asarray(g0.frame.weights, dtype=float)
        th = float(est_theta(y, g0.fitted(), weights=w, limit=init["limit"], eps=init["eps"],
                             trace=verbose).theta)
        if verbose:
            print(f"th := est_theta(glmer(..)) = {th:g}", end="")
    th = float(th)
    if not th > 0 or not math.isfinite(th):
        raise DataError(f"glmer.nb: the starting theta is {th!r}; theta must be positive and finite")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        g1 = glmer(formula, data, family=negative_binomial(theta=th), **args)
    if verbose:
        print(f" --> dev.= -2*logLik(.) = {-2 * float(g1.logLik()):g}")
    lo, hi = (math.log(th) - NB_HALF_WIDTH, math.log(th) + NB_HALF_WIDTH) if interval is None else interval
    state = {"fit": g1, "it": 0, "caught": []}

    def nb_deviance(t: float) -> float:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            state["fit"] = refit_theta(state["fit"], math.exp(t))
        state["caught"] = [w for w in caught if not issubclass(w.category, SingularFitWarning)]
        state["it"] += 1
        dev = -2.0 * float(state["fit"].logLik())
        if verbose:
            print(f"{state['it']:2d}: th={math.exp(t):#15.10g}, dev={dev:#14.8f}, "
                  f"beta[1]={state['fit'].beta[0] if len(state['fit'].beta) else float('nan'):#14.8f}")
        return dev

    res = optimize(nb_deviance, lo, hi, tol=tol)
    last = state["fit"]
    if not math.isclose(res.minimum, math.log(last.family.theta), rel_tol=1.5e-8, abs_tol=0.0):
        raise RuntimeError("glmer.nb: the last refit is not at optimize()'s minimum "
                           "(lme4: all.equal(optval$minimum, log(getNBdisp(lastfit))) is not TRUE)")
    for w in state["caught"]:                      # lme4's factory: the last refit's conditions
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    theta = math.exp(res.minimum)
    call = _nb_call(dict(g1.call, formula=formula, data=data), theta)
    out = GlmerNbMod.of(last, state["it"], call)
    if out.isSingular():
        warnings.warn("boundary (singular) fit: see help('isSingular')", SingularFitWarning, stacklevel=2)
    return out
