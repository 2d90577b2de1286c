"""nlme's ``lmeControl`` / ``glsControl`` settings for ``mc.lme`` / ``mc.gls``: which of them we honour,
which we accept because they cannot change our numbers, and which we refuse.

mixedcompat does not run nlme's optimiser (EM iterations then ``nlminb`` / ``optim``); it maximises the
same (restricted) likelihood to its optimum (:mod:`mixedcompat.nlme.estimate`).  So:

- **iteration limits and tolerances** (``maxIter``, ``msMaxIter``, ``niterEM``, ``msMaxEval``,
  ``tolerance``, ``msTol``): at nlme's defaults or more demanding values (larger limits, smaller
  tolerances) nlme reaches the optimum we reach -- accepted.  Less demanding values stop nlme
  before its optimum (an error, or with ``returnObject = TRUE`` a fit away from the optimum) which
  we cannot reproduce -- refused with a :class:`DataError`;
- **the optimiser** (``opt = "nlminb" | "optim"``, ``optimMethod``, ``gradHess``): a route to the same
  optimum -- accepted (checked against R: the same logLik);
- ``apVar = FALSE``: honoured (no approximate covariance: ``intervals`` on the variance components
  fails with nlme's message); ``.relStep`` and ``minAbsParApVar`` (nlme's finite-difference step for
  apVar and its floor) are checked and accepted, not used: our two-pass finite differences choose
  their own steps and do not move with them, while nlme's intervals move by up to ~1% with ``.relStep``;
- ``natural = FALSE`` (apVar on the unconstrained scale, which changes ``intervals``) and a fixed
  ``sigma > 0`` are refused (not implemented); ``allow.n.lt.q``: accepted;
- output only: ``msVerbose``, ``returnObject`` -- accepted (nothing to print; our fits do not fail
  where nlme's would for lack of iterations).

Names may be spelled as in R (``".relStep"``, ``"allow.n.lt.q"``) or with ``_`` for the dots
(``relStep``, ``allow_n_lt_q``); mixedcompat's own optimiser settings (``maxeval``, ``xtol_rel``...)
may be mixed in.  An unknown name raises a :class:`DataError` that lists the valid ones (nlme
ignores unknown names silently).

Examples
--------
>>> ctl = lmeControl(msMaxIter=200, opt="optim")
>>> ctl["msMaxIter"], ctl["opt"], ctl[".relStep"] == 2.220446049250313e-16 ** (1 / 3)
(200, 'optim', True)
"""
from __future__ import annotations

import numpy as np

from mixedcompat.errors import DataError

__all__ = ["lmeControl", "NLME_DEFAULTS", "translate_control"]

_EPS = float(np.finfo(float).eps)
#: nlme 3.1-162's lmeControl() defaults, in its order
NLME_DEFAULTS = {"maxIter": 50, "msMaxIter": 50, "tolerance": 1e-6, "niterEM": 25, "msMaxEval": 200,
                 "msTol": 1e-7, "msVerbose": False, "returnObject": False, "gradHess": True, "apVar": True,
                 ".relStep": _EPS ** (1 / 3), "opt": "nlminb", "optimMethod": "BFGS", "minAbsParApVar": 0.05,
                 "natural": True, "sigma": 0, "allow.n.lt.q": False}
_LIMITS = ("maxIter", "msMaxIter", "niterEM", "msMaxEval")      # larger is more demanding
_TOLERANCES = ("tolerance", "msTol")                             # smaller is more demanding
_OPTIM_METHODS = ("Nelder-Mead", "BFGS", "CG", "L-BFGS-B", "SANN", "Brent")


def _r_name(name: str) -> str:
    """``relStep`` / ``_relStep`` -> ``.relStep``; ``allow_n_lt_q`` -> ``allow.n.lt.q``."""
    if name in NLME_DEFAULTS:
        return name
    for r in NLME_DEFAULTS:
        if name == r.replace(".", "_") or name == r.lstrip("."):
            return r
    return name


def lmeControl(**kwargs) -> dict:
    """nlme's ``lmeControl(...)``: the settings as a dict with nlme's names, order and defaults.

    R equivalent: ``nlme::lmeControl(msMaxIter = 200, opt = "optim")``.

    Parameters
    ----------
    **kwargs
        nlme's settings by name (``maxIter=``, ``msMaxIter=``, ``opt="optim"``, ``relStep=`` for
        ``.relStep``, ``allow_n_lt_q=``); see the module docstring for what each does here.

    Returns
    -------
    dict

    Raises
    ------
    DataError
        An unknown name; ``opt`` not ``"nlminb"`` / ``"optim"``; a negative or non-finite ``sigma``
        (nlme's check).

    Examples
    --------
    >>> list(lmeControl())[:3]
    ['maxIter', 'msMaxIter', 'tolerance']
    """
    out = dict(NLME_DEFAULTS)
    for key, value in kwargs.items():
        name = _r_name(key)
        if name not in NLME_DEFAULTS:
            raise DataError(f"lmeControl: unknown setting {key!r}; nlme's settings are "
                            f"{', '.join(NLME_DEFAULTS)}")
        out[name] = value
    if out["opt"] not in ("nlminb", "optim"):
        raise DataError(f"lmeControl: opt must be 'nlminb' or 'optim', not {out['opt']!r}")
    if out["sigma"] is None:
        out["sigma"] = 0
    sig = out["sigma"]
    if not isinstance(sig, (int, float)) or not np.isfinite(sig) or sig < 0:
        raise DataError("Within-group std. dev. must be a positive numeric value")
    return out


def translate_control(control: dict | None, own: dict) -> dict:
    """A ``control=`` dict (nlme's names, mixedcompat's own ``own`` names, or both) -> the settings
    :func:`mixedcompat.nlme.estimate.maximise` and the fit use (``own``'s names), after checking nlme's
    settings as the module docstring says.

    Examples
    --------
    >>> translate_control({"msMaxIter": 100, "apVar": False}, {"rel_step": 1e-3, "apVar": True})
    {'apVar': False}
    """
    out: dict = {}
    nlme: dict = {}
    for key, value in dict(control or {}).items():
        if key in own:
            out[key] = value
            continue
        name = _r_name(key)
        if name not in NLME_DEFAULTS:
            raise DataError(f"unknown control setting {key!r}; nlme's lmeControl settings are "
                            f"{', '.join(NLME_DEFAULTS)}; mixedcompat's own are {', '.join(sorted(own))}")
        nlme[name] = value
    if not nlme:
        return out
    full = lmeControl(**nlme)
    for name in _LIMITS:
        if name in nlme and not (isinstance(nlme[name], (int, float)) and nlme[name] >= NLME_DEFAULTS[name]):
            raise DataError(f"control {name}={nlme[name]!r} is below nlme's default {NLME_DEFAULTS[name]}: it can stop "
                            "nlme before the optimum, which mixedcompat (which fits to the optimum) does not "
                            f"reproduce; use {name} >= {NLME_DEFAULTS[name]}")
    for name in _TOLERANCES:
        if name in nlme and not (isinstance(nlme[name], (int, float)) and 0 < nlme[name] <= NLME_DEFAULTS[name]):
            raise DataError(f"control {name}={nlme[name]!r} is looser than nlme's default {NLME_DEFAULTS[name]}: it can "
                            "stop nlme before the optimum, which mixedcompat does not reproduce; use "
                            f"0 < {name} <= {NLME_DEFAULTS[name]}")
    if full["optimMethod"] not in _OPTIM_METHODS:
        raise DataError(f"control optimMethod must be one of {', '.join(_OPTIM_METHODS)}, not {full['optimMethod']!r}")
    if not full["natural"]:
        raise DataError("control natural=False (apVar on the unconstrained scale) is not supported: "
                        "intervals use nlme's natural parameterisation")
    if full["sigma"] > 0:
        raise DataError("control sigma > 0 (a fixed within-group standard deviation) is not supported")
    if "apVar" in nlme:
        out["apVar"] = bool(full["apVar"])
    step = full[".relStep"]
    if not isinstance(step, (int, float)) or not 0 < step < 1:
        raise DataError(f"control .relStep must be in (0, 1), not {step!r}")
    return out
