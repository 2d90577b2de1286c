"""Fitting the same model in a live R session (lme4, through rpy2) for tests/test_live_r.py.

rpy2 is imported lazily, inside the functions, so importing this module never fails without R.
Data go to R column by column: numeric columns as double vectors (NaN becomes NA), pandas
Categorical columns as R factors with exactly the same levels in the same order.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

_R_FIT = r"""
function(d, formula, REML, use_w, use_off) {
    warns <- character(0); msgs <- character(0)
    fit <- tryCatch(withCallingHandlers({
        f <- as.formula(formula)
        if (use_w && use_off) lme4::lmer(f, data = d, REML = REML, weights = w, offset = off)
        else if (use_w) lme4::lmer(f, data = d, REML = REML, weights = w)
        else if (use_off) lme4::lmer(f, data = d, REML = REML, offset = off)
        else lme4::lmer(f, data = d, REML = REML)
    }, warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
       message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") }),
    error = function(e) e)
    if (inherits(fit, "error"))
        return(list(error = conditionMessage(fit), warnings = warns, messages = msgs))
    m <- fit
    th <- getME(m, "theta")
    vc <- as.data.frame(VarCorr(m))
    re <- ranef(m)
    V <- as.matrix(vcov(m))
    list(error = NULL, warnings = warns, messages = msgs,
         conv_messages = as.character(unlist(m@optinfo$conv$lme4$messages)),
         feval = m@optinfo$feval,
         criterion = if (REML) REMLcrit(m) else deviance(m),
         logLik = as.numeric(logLik(m)), logLik_df = attr(logLik(m), "df"),
         fixef_names = names(fixef(m)), fixef = unname(fixef(m)),
         se = unname(sqrt(diag(V))),
         sigma = sigma(m),
         theta_names = names(th), theta = unname(th),
         lower = getME(m, "lower"),
         vc_grp = as.character(vc$grp), vc_var1 = as.character(vc$var1), vc_var2 = as.character(vc$var2),
         vc_vcov = vc$vcov, vc_sdcor = vc$sdcor,
         ranef_groups = names(re),
         ranef = lapply(re, function(x) list(levels = rownames(x), columns = colnames(x),
                                             values = as.numeric(t(as.matrix(x))))),
         fitted = unname(fitted(m)),
         nobs = nobs(m),
         isSingular = isSingular(m))
}
"""


def _setup():
    import rpy2.robjects as ro
    from rpy2.rinterface_lib import callbacks
    ro.r("suppressPackageStartupMessages(library(lme4)); options(width = 80)")
    # keep R's console chatter out of pytest's output
    callbacks.consolewrite_warnerror = lambda s: None
    return ro


_STATE: dict[str, Any] = {}


def robjects():
    if "ro" not in _STATE:
        _STATE["ro"] = _setup()
        _STATE["fit"] = _STATE["ro"].r(_R_FIT)
    return _STATE["ro"]


def to_r_frame(df: pd.DataFrame):
    """An R data.frame with the same columns; factors keep the Categorical's levels and order."""
    ro = robjects()
    cols = {}
    for name in df.columns:
        s = df[name]
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels = [str(c) for c in s.cat.categories]
            codes = s.cat.codes.to_numpy()
            # factor(levels[codes + 1], levels = levels), NA where code == -1
            vals = ro.StrVector([levels[c] if c >= 0 else ro.NA_Character for c in codes])
            cols[name] = ro.r["factor"](vals, levels=ro.StrVector(levels))
        else:
            x = s.to_numpy(dtype=float)
            cols[name] = ro.FloatVector([ro.NA_Real if math.isnan(v) else float(v) for v in x])
    return ro.DataFrame(cols)


def _py(x):
    """An R value from the fit list as plain Python."""
    from rpy2.rinterface import NULLType
    import rpy2.robjects as ro
    if isinstance(x, NULLType) or x is None:
        return None
    if isinstance(x, ro.vectors.ListVector):
        names = list(x.names) if x.names is not ro.NULL and not isinstance(x.names, NULLType) else None
        vals = [_py(v) for v in x]
        return dict(zip(names, vals)) if names else vals
    if isinstance(x, ro.vectors.StrVector):
        return [None if v is ro.NA_Character else str(v) for v in x]
    if isinstance(x, ro.vectors.BoolVector):
        return [bool(v) for v in x]
    if isinstance(x, (ro.vectors.FloatVector, ro.vectors.IntVector)):
        return [float(v) for v in x]
    return x


def lmer_in_r(df: pd.DataFrame, formula: str, REML: bool, weights: str | None = None,
              offset: str | None = None) -> dict:
    """Fit ``formula`` to ``df`` with ``lme4::lmer`` and return its results as plain Python.

    ``weights`` / ``offset`` may only be the names ``"w"`` / ``"off"`` (columns of ``df``). On an R
    error the dict has ``error`` (the message); otherwise the numbers listed in ``_R_FIT``. Warnings
    and messages R emitted are in ``warnings`` / ``messages``, also on an error.
    """
    assert weights in (None, "w") and offset in (None, "off")
    robjects()
    out = _py(_STATE["fit"](to_r_frame(df), formula, REML, weights is not None, offset is not None))
    err = out.get("error")
    out["error"] = err[0] if err else None
    out["warnings"] = out.get("warnings") or []
    out["messages"] = out.get("messages") or []
    if out["error"] is None:
        for k in ("criterion", "logLik", "logLik_df", "sigma", "nobs", "isSingular"):
            out[k] = out[k][0]
        out["feval"] = out["feval"][0] if out.get("feval") else None
        out["conv_messages"] = out.get("conv_messages") or []
        out["fixef_names"] = out["fixef_names"] or []
        for k in ("fixef", "se", "theta", "lower", "fitted", "vc_vcov", "vc_sdcor"):
            out[k] = np.asarray(out[k] or [], dtype=float)
        specs = out["ranef"].values() if isinstance(out["ranef"], dict) else out["ranef"]
        out["ranef"] = {
            g: dict(levels=s["levels"], columns=s["columns"],
                    values=np.asarray(s["values"], dtype=float).reshape(len(s["levels"]), len(s["columns"])))
            for g, s in zip(out["ranef_groups"], specs)}
    return out


def r_eval_lines(code: str) -> list[str]:
    """``capture.output`` of some R code, as a list of lines."""
    ro = robjects()
    return [str(s) for s in ro.r(f"capture.output({code})")]
