"""``control=`` of :func:`mixedcompat.lmer`: lme4's ``lmerControl`` names, defaults and validation.

Every setting has one canonical name with ``_`` (``boundary_tol``, ``calc_derivs``,
``check_conv_grad``); lme4's dotted spelling (``"boundary.tol"``, ``"check.conv.grad"``) is accepted
for the same setting.  Optimiser settings are :data:`mixedcompat.lme4.optimize.DEFAULT_CONTROL`; the
checks are lme4 1.1-31's with its defaults:

=========================  ====================  ===================================================
setting                    lme4's default        values
=========================  ====================  ===================================================
optimizer                  "nloptwrap"           "nloptwrap", "bobyqa", "Nelder_Mead", "optimx",
                                                 "nlminbwrap" (R's nlminb), "nmkbw" (dfoptim's
                                                 nmkb): all of lme4's; None (no optimisation);
                                                 "gradient" (ours)
optCtrl                    {}                    the optimizer's settings by lme4's names
                                                 (:data:`mixedcompat.lme4.optimize.OPT_CTRL_NAMES`)
calc_derivs                True                  derivatives at the optimum and ``checkConv``
check_nobs_vs_rankZ        "ignore"              "ignore", "warning", "message", "stop"
                                                 (+ "warningSmall", "stopSmall")
check_nobs_vs_nlev         "stop"                "ignore", "warning", "message", "stop"
check_nlev_gtreq_5         "ignore"              idem
check_nlev_gtr_1           "stop"                idem
check_nobs_vs_nRE          "stop"                idem
check_rankX                "message+drop.cols"   also "warn+drop.cols", "silent.drop.cols",
                                                 "stop.deficient"
check_scaleX               "warning"             "warning", "stop", "ignore"
check_conv_grad            make_cc("warning", tol=0.002)     an action string or ``make_cc(...)``
check_conv_singular        make_cc("message", tol=1e-4)
check_conv_hess            make_cc("warning", tol=1e-6)
=========================  ====================  ===================================================

lme4's "message" has no Python counterpart: those conditions are given as warnings of their class
(as this package has always done for the singular-fit message).
"""
from __future__ import annotations

from mixedcompat.lme4.convergence import CONV_DEFAULTS, conv_setting
from mixedcompat.errors import DataError
from mixedcompat.lme4.optimize import DEFAULT_CONTROL, check_optimizer

CHECK_ACTIONS = ("message", "warning", "stop", "ignore")

CHECK_DEFAULTS = {
    "check_nobs_vs_rankZ": "ignore",
    "check_nobs_vs_nlev": "stop",
    "check_nlev_gtreq_5": "ignore",
    "check_nlev_gtr_1": "stop",
    "check_nobs_vs_nRE": "stop",
    "check_rankX": "message+drop.cols",
    "check_scaleX": "warning",
}
RANKX_ACTIONS = ("message+drop.cols", "silent.drop.cols", "warn+drop.cols", "stop.deficient")
SCALEX_ACTIONS = ("warning", "stop", "ignore")

FIT_DEFAULTS = {"calc_derivs": True, "start": None, "blas_threads": 1}

KNOWN = set(DEFAULT_CONTROL) | set(CHECK_DEFAULTS) | set(CONV_DEFAULTS) | set(FIT_DEFAULTS)


def canonical_name(name: str) -> str:
    """Our spelling of an lmerControl name (``"check.conv.grad"`` -> ``"check_conv_grad"``).

    Examples
    --------
    >>> canonical_name("boundary.tol")
    'boundary_tol'
    """
    return str(name).replace(".", "_")


def lmer_control(control: dict | None = None) -> dict:
    """The full, validated control of an lmer fit: lme4's defaults overridden by ``control``.

    Raises
    ------
    DataError
        An unknown setting or an invalid value (naming the setting and the valid values).

    Examples
    --------
    >>> c = lmer_control({"check.conv.grad": "ignore", "calc.derivs": False})
    >>> c["check_conv_grad"]["action"], c["calc_derivs"]
    ('ignore', False)
    """
    given: dict = {}
    for k, v in (control or {}).items():
        key = canonical_name(k)
        if key in given:
            raise DataError(f"control setting {key!r} given twice (as {k!r})")
        given[key] = v
    unknown = sorted(set(given) - KNOWN)
    if unknown:
        raise DataError(f"unknown control setting(s) {', '.join(map(repr, unknown))}; "
                        f"known: {', '.join(sorted(KNOWN))}")
    out = dict(DEFAULT_CONTROL)
    out.update(FIT_DEFAULTS)
    out.update(CHECK_DEFAULTS)
    out.update({k: dict(v) for k, v in CONV_DEFAULTS.items()})
    for k, v in given.items():
        if k in CONV_DEFAULTS:
            try:
                out[k] = conv_setting(k, v)
            except ValueError as exc:
                raise DataError(str(exc)) from None
        elif k in CHECK_DEFAULTS:
            out[k] = _check_action(k, v)
        else:
            out[k] = v
    if out["polish"] not in (True, False, "always"):
        raise DataError(f"control['polish'] must be True (default), False or 'always', not {out['polish']!r}")
    if out["optCtrl"] is not None and not isinstance(out["optCtrl"], dict):
        raise DataError(f"control['optCtrl'] must be a dict of the optimizer's settings, not {out['optCtrl']!r}")
    if out["optimizer"] is not None:
        check_optimizer(out["optimizer"], out["optCtrl"])
    if not isinstance(out["calc_derivs"], bool):
        raise DataError(f"control['calc_derivs'] must be True or False, not {out['calc_derivs']!r}")
    return out


def _check_action(key: str, value) -> str:
    if key == "check_rankX":
        allowed = RANKX_ACTIONS
    elif key == "check_scaleX":
        allowed = SCALEX_ACTIONS
    elif key == "check_nobs_vs_rankZ":
        allowed = CHECK_ACTIONS + tuple(a + "Small" for a in CHECK_ACTIONS)
    else:
        allowed = CHECK_ACTIONS
    if value not in allowed:
        raise DataError(f"invalid control level {value!r} in {key.replace('_', '.')}: valid options are "
                        f"{{{', '.join(repr(a) for a in allowed)}}}")
    return value
