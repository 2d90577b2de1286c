"""R-named generic functions (``fixef(m)``, ``VarCorr(m)``...) that call the fit's methods."""
from __future__ import annotations

from typing import Any


def _method(name: str):
    def generic(model: Any, *args, **kwargs):
        try:
            method = getattr(model, name)
        except AttributeError:
            raise TypeError(f"{name}() does not apply to an object of type {type(model).__name__}") from None
        return method(*args, **kwargs)

    generic.__name__ = name
    generic.__qualname__ = name
    generic.__doc__ = (f"R's ``{name}(m)``: the same as ``m.{name}()``.\n\n"
                       f"Example\n-------\n>>> # {name}(m)\n")
    return generic


_NAMES = ["fixef", "vcov", "sigma", "logLik", "AIC", "BIC", "deviance", "REMLcrit", "nobs", "ngrps",
          "VarCorr", "ranef", "coef", "fitted", "residuals", "getME", "isSingular", "summary",
          "predict", "simulate", "refit", "update"]

fixef = _method("fixef")
vcov = _method("vcov")
sigma = _method("sigma")
logLik = _method("logLik")
AIC = _method("AIC")
BIC = _method("BIC")
deviance = _method("deviance")
REMLcrit = _method("REMLcrit")
nobs = _method("nobs")
ngrps = _method("ngrps")
VarCorr = _method("VarCorr")
ranef = _method("ranef")
coef = _method("coef")
fitted = _method("fitted")
residuals = _method("residuals")
getME = _method("getME")
isSingular = _method("isSingular")
summary = _method("summary")
predict = _method("predict")
simulate = _method("simulate")
refit = _method("refit")
update = _method("update")
resid = residuals

__all__ = _NAMES + ["resid"]
