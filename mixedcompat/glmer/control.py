"""``glmerControl``: lme4 1.1-31's settings of a glmer fit, validated.

The checks (``check_nobs_vs_nlev``, ``check_rankX``, ``check_conv_grad``...) are lmer's
(:func:`mixedcompat.lme4.control.lmer_control`, same defaults in lme4 1.1-31); glmer adds:

====================  ======================  =============================================
setting               default                 meaning
====================  ======================  =============================================
tolPwrss              1e-7                    PIRLS convergence (relative change of pdev)
maxit                 100                     PIRLS iterations per evaluation
compDev               True                    (only True: the compiled path)
nAGQ0initStep         True                    stage 1 on the nAGQ = 0 objective first
optimizer             ("bobyqa", "Nelder_Mead")  stage 1 and stage 2 (also "nloptwrap", "optimx"); None: no
                                              optimisation, the fit at ``start`` (theta, fixef)
boundary_tol          1e-5                    lme4's check.boundary after the last stage
optCtrl               {}                      passed to both stages' optimisers (maxfun, ...)
calc_derivs           True                    deriv12 at the optimum (vcov, checkConv)
====================  ======================  =============================================
"""
from __future__ import annotations

from mixedcompat.errors import DataError
from mixedcompat.lme4.control import canonical_name, lmer_control
from mixedcompat.lme4.optimize import check_optimizer

__all__ = ["glmer_control", "GLMER_DEFAULTS"]

GLMER_DEFAULTS = {"tolPwrss": 1e-7, "maxit": 100, "compDev": True, "nAGQ0initStep": True,
                  "optimizer": ("bobyqa", "Nelder_Mead"), "boundary_tol": 1e-5, "optCtrl": {}}
_SHARED = {"calc_derivs", "start", "blas_threads"}


def glmer_control(control: dict | None = None) -> dict:
    """The full, validated control of a glmer fit (lme4's ``glmerControl`` defaults).

    Examples
    --------
    >>> c = glmer_control({"tolPwrss": 1e-9, "check.conv.grad": "ignore"})
    >>> c["tolPwrss"], c["check_conv_grad"]["action"], c["optimizer"]
    (1e-09, 'ignore', ('bobyqa', 'Nelder_Mead'))
    """
    own, rest = {}, {}
    for k, v in (control or {}).items():
        key = canonical_name(k)
        if key in GLMER_DEFAULTS:
            own[key] = v
        elif key.startswith("check_") or key in _SHARED:
            rest[k] = v
        else:
            raise DataError(f"unknown control setting {k!r}; known: "
                            f"{', '.join(sorted(set(GLMER_DEFAULTS) | _SHARED))} and the check_* settings")
    out = {k: v for k, v in lmer_control(rest).items() if k.startswith("check_") or k in _SHARED}
    out.update(GLMER_DEFAULTS)
    out.update(own)
    opt = out["optimizer"]
    if opt is None:                   # no optimisation: the model at the start values (as lmer's NULL)
        return out
    opt = (opt, opt) if isinstance(opt, str) else tuple(opt)
    if len(opt) == 1:
        opt = (opt[0], opt[0])
    for o in opt:
        if o not in ("bobyqa", "Nelder_Mead"):
            check_optimizer(o, out["optCtrl"] if o in ("nloptwrap", "optimx") else None)
            if o == "gradient":
                raise DataError(f"couldn't find optimizer function {o}")
    out["optimizer"] = opt
    if not (isinstance(out["tolPwrss"], float) and out["tolPwrss"] > 0):
        raise DataError(f"control['tolPwrss'] must be a positive number, not {out['tolPwrss']!r}")
    if out["compDev"] is not True:
        raise DataError("control['compDev'] = False (lme4's R-level PIRLS loop) is not offered: the compiled path only")
    return out
