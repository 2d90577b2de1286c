"""Randomized lme / gls designs for the live-R agreement tests and the survey (issue 9, item 6).

:func:`draw_design` turns a seed into one design: simulated data, the keyword arguments of
``mc.lme`` / ``mc.gls`` and the same call as R text.  Every nlme correlation structure (corAR1,
corCAR1, corARMA, corCompSymm, corSymm, corExp / corGaus / corSpher / corLin / corRatio with or
without nugget) and variance function (varIdent, varPower, varExp, varConstPower, varFixed,
varComb; on covariates, on ``fitted(.)`` and with strata) is drawn, with 0, 1 or 2 nested levels
of random effects and ML or REML.

:func:`nlme_in_r` fits the R call in the live session and returns nlme's estimates, and
:func:`criterion_at_r` evaluates *our* criterion at nlme's own estimates (the evidence used when
the two optima differ: when ours is lower at R's point, R's optimiser stopped early).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers import TOL

COR_CLASSES = ["none", "corAR1", "corCAR1", "corARMA", "corCompSymm", "corSymm", "corExp", "corGaus",
               "corSpher", "corLin", "corRatio"]
VAR_CLASSES = ["none", "varIdent", "varPower", "varPower_fitted", "varExp", "varConstPower",
               "varConstPower_fitted", "varFixed", "varComb", "varPower_strata", "varExp_strata"]


@dataclass
class Design:
    seed: int
    kind: str                 # "lme" or "gls"
    levels: int               # 0, 1 or 2 nesting levels of random effects
    cor: str
    var: str
    method: str
    data: pd.DataFrame
    py_call: str              # python source of the mc call (for the report and a fixture)
    r_call: str               # the same call in R, the data frame named ``d``
    kwargs: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind}{self.levels}-{self.cor}-{self.var}-{self.method}-{self.seed}"


def _cor_spec(cls: str, grp: str, nugget: bool, p: int, q: int):
    """(python source, R source) of the correlation structure."""
    if cls == "none":
        return None, None
    g = f" | {grp}" if grp else ""
    if cls == "corAR1":
        return f'mc.corAR1(form="~ t{g}")', f"corAR1(form = ~ t{g})"
    if cls == "corCAR1":
        return f'mc.corCAR1(form="~ tc{g}")', f"corCAR1(form = ~ tc{g})"
    if cls == "corARMA":
        return f'mc.corARMA(form="~ t{g}", p={p}, q={q})', f"corARMA(form = ~ t{g}, p = {p}, q = {q})"
    if cls == "corCompSymm":
        return f'mc.corCompSymm(form="~ 1{g}")', f"corCompSymm(form = ~ 1{g})"
    if cls == "corSymm":
        return f'mc.corSymm(form="~ t{g}")', f"corSymm(form = ~ t{g})"
    nug_py = ", nugget=True" if nugget else ""
    nug_r = ", nugget = TRUE" if nugget else ""
    return (f'mc.{cls}(form="~ sx + sy{g}"{nug_py})', f"{cls}(form = ~ sx + sy{g}{nug_r})")


def _var_spec(cls: str):
    return {
        "none": (None, None),
        "varIdent": ('mc.varIdent(form="~ 1 | s")', "varIdent(form = ~ 1 | s)"),
        "varPower": ('mc.varPower(form="~ v")', "varPower(form = ~ v)"),
        "varPower_fitted": ("mc.varPower()", "varPower()"),
        "varPower_strata": ('mc.varPower(form="~ v | s")', "varPower(form = ~ v | s)"),
        "varExp": ('mc.varExp(form="~ v")', "varExp(form = ~ v)"),
        "varExp_strata": ('mc.varExp(form="~ v | s")', "varExp(form = ~ v | s)"),
        "varConstPower": ('mc.varConstPower(form="~ v")', "varConstPower(form = ~ v)"),
        "varConstPower_fitted": ("mc.varConstPower()", "varConstPower()"),
        "varFixed": ('mc.varFixed("~ v")', "varFixed(~ v)"),
        "varComb": ('mc.varComb(mc.varIdent(form="~ 1 | s"), mc.varPower(form="~ v"))',
                    "varComb(varIdent(form = ~ 1 | s), varPower(form = ~ v))"),
    }[cls]


def _ar_errors(rng, times, phi):
    e = np.empty(len(times))
    for i, t in enumerate(times):
        if i == 0:
            e[i] = rng.normal()
        else:
            r = phi ** (t - times[i - 1])
            e[i] = r * e[i - 1] + np.sqrt(max(1 - r * r, 1e-12)) * rng.normal()
    return e


def draw_design(seed: int, cor: str | None = None, var: str | None = None) -> Design:
    """One randomized design from ``seed`` (the classes can be forced with ``cor`` / ``var``)."""
    rng = np.random.default_rng(seed)
    cor = cor or COR_CLASSES[int(rng.integers(len(COR_CLASSES)))]
    var = var or VAR_CLASSES[int(rng.integers(len(VAR_CLASSES)))]
    if cor == "none" and var == "none":
        var = "varIdent"
    levels = int(rng.choice([0, 1, 1, 2]))
    kind = "gls" if levels == 0 else "lme"
    method = str(rng.choice(["REML", "ML"]))
    K = int(rng.integers(4, 7))                  # positions per group (corSymm / corAR1)
    n_groups = int(rng.integers(8, 16))
    n_sub = 2 if levels == 2 else 1
    rows = []
    for g in range(n_groups):
        for h in range(n_sub):
            if cor in ("corSymm", "corAR1", "corARMA"):
                size = int(rng.integers(max(2, K - 2), K + 1))
                pos = np.sort(rng.choice(np.arange(1, K + 1), size=size, replace=False)) \
                    if cor == "corSymm" else np.arange(1, size + 1)
            else:
                size = int(rng.integers(3, 8))
                pos = np.arange(1, size + 1)
            for t in pos:
                rows.append((f"g{g:02d}", f"h{h}", int(t)))
    d = pd.DataFrame(rows, columns=["g", "h", "t"])
    n = len(d)
    # continuous times (corCAR1): increasing within group, lags on a random scale (some very small)
    lag_scale = float(10 ** rng.uniform(-2.5, 0.5))
    d["tc"] = 0.0
    d["sx"] = 0.0
    d["sy"] = 0.0
    for _, idx in d.groupby(["g", "h"], sort=False).indices.items():
        d.loc[idx, "tc"] = np.round(np.cumsum(rng.uniform(0.1, 1.0, len(idx))) * lag_scale, 6)
        d.loc[idx, "sx"] = np.round(rng.uniform(0, 10, len(idx)), 3)
        d.loc[idx, "sy"] = np.round(rng.uniform(0, 10, len(idx)), 3)
    d["x"] = np.round(rng.normal(size=n), 4)
    d["f"] = rng.choice(["a", "b", "c"], size=n)
    d["s"] = rng.choice(["s1", "s2", "s3"], size=n, p=[0.4, 0.35, 0.25])
    d["v"] = np.round(rng.uniform(0.5, 4.0, size=n), 4)
    # errors: correlated within group, heteroscedastic by stratum and covariate
    phi = float(rng.uniform(0.1, 0.8))
    e = np.zeros(n)
    for _, idx in d.groupby(["g", "h"], sort=False).indices.items():
        if cor == "corCAR1":
            e[idx] = _ar_errors(rng, d.loc[idx, "tc"].to_numpy() / lag_scale, phi)
        elif cor in ("corAR1", "corARMA", "corSymm"):
            e[idx] = _ar_errors(rng, d.loc[idx, "t"].to_numpy().astype(float), phi)
        elif cor == "corCompSymm":
            e[idx] = np.sqrt(phi) * rng.normal() + np.sqrt(1 - phi) * rng.normal(size=len(idx))
        elif cor != "none":
            xy = d.loc[idx, ["sx", "sy"]].to_numpy()
            D = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
            C = 0.7 * np.exp(-D / 3.0) + 0.3 * np.eye(len(idx))
            e[idx] = np.linalg.cholesky(C) @ rng.normal(size=len(idx))
        else:
            e[idx] = rng.normal(size=len(idx))
    ratio = {"s1": 1.0, "s2": float(rng.uniform(0.4, 2.5)), "s3": float(rng.uniform(0.4, 2.5))}
    sd = np.array([ratio[s] for s in d["s"]]) if var in ("varIdent", "varComb") else np.ones(n)
    pw = float(rng.uniform(0.2, 1.0))
    if var.startswith(("varPower", "varConstPower", "varFixed", "varComb")) and "fitted" not in var:
        sd = sd * d["v"].to_numpy() ** (0.5 if var == "varFixed" else pw)
    if var.startswith("varExp"):
        sd = sd * np.exp(0.3 * d["v"].to_numpy())
    gcode = d["g"].str[1:].astype(int).to_numpy()
    mu = 10 + 1.5 * d["x"].to_numpy() + np.select([d["f"] == "b", d["f"] == "c"], [1.0, -0.5], 0.0)
    if levels >= 1:
        mu = mu + rng.normal(0, float(rng.uniform(0.3, 2.0)), n_groups)[gcode] \
            + rng.normal(0, 0.3, n_groups)[gcode] * d["x"].to_numpy() * (levels == 1)
    if levels == 2:
        sub = (gcode * 2 + (d["h"] == "h1").to_numpy())
        mu = mu + rng.normal(0, float(rng.uniform(0.3, 1.0)), 2 * n_groups)[sub]
    if "fitted" in var:
        sd = sd * (np.abs(mu) / 10) ** pw
    d["y"] = np.round(mu + float(rng.uniform(0.5, 2.0)) * sd * e, 5)
    for c in ("g", "h", "f", "s"):
        d[c] = pd.Categorical(d[c])
    d = d.sample(frac=1.0, random_state=seed % (2 ** 32)).reset_index(drop=True) if rng.random() < 0.3 else d

    grp = {0: "g", 1: "g", 2: "g/h"}[levels]
    if kind == "gls" and cor in ("corAR1", "corARMA", "corSymm", "corCAR1") and n_sub == 1:
        grp = "g"
    p, q = (1, 1) if rng.random() < 0.5 else (2, 0)
    cor_py, cor_r = _cor_spec(cor, grp, nugget=bool(rng.random() < 0.5), p=p, q=q)
    var_py, var_r = _var_spec(var)
    fixed = "y ~ x + f"
    random_py = {0: None, 1: '"~ x | g"' if rng.random() < 0.4 else '"~ 1 | g"', 2: '"~ 1 | g/h"'}[levels]
    random_r = None if random_py is None else random_py.strip('"')
    args_py = [f'"{fixed}"', "d"]
    args_r = [fixed, "data = d"]
    if random_py:
        args_py.append(f"random={random_py}")
        args_r.append(f"random = {random_r}")
    if cor_py:
        args_py.append(f"correlation={cor_py}")
        args_r.append(f"correlation = {cor_r}")
    if var_py:
        args_py.append(f"weights={var_py}")
        args_r.append(f"weights = {var_r}")
    args_py.append(f'method="{method}"')
    args_r.append(f'method = "{method}"')
    py_call = f"mc.{kind}({', '.join(args_py)})"
    r_call = f"{kind}({', '.join(args_r)})"
    return Design(seed, kind, levels, cor, var, method, d, py_call, r_call)


def fit_ours(design: Design):
    """Fit the design with mixedcompat (``eval`` of its python call)."""
    import mixedcompat as mc
    return eval(design.py_call, {"mc": mc, "d": design.data})  # noqa: S307 - our own text


_R_NLME = r"""
function(call_text, d) {
    warns <- character(0)
    cl <- parse(text = call_text)[[1]]
    # a non-convergence of nlme's optimiser is returned with a warning, not an error
    cl$control <- if (identical(cl[[1]], as.name("lme"))) lmeControl(returnObject = TRUE)
                  else glsControl(returnObject = TRUE)
    m <- tryCatch(withCallingHandlers(eval(cl),
                  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") }),
                  error = function(e) e)
    if (inherits(m, "error")) return(list(error = conditionMessage(m), warnings = warns))
    cs <- m$modelStruct$corStruct; vs <- m$modelStruct$varStruct
    re <- if (inherits(m, "lme")) lapply(as.matrix(m$modelStruct$reStruct), function(D) as.numeric(D)) else list()
    list(error = NULL, warnings = warns,
         logLik = as.numeric(logLik(m)),
         fixef = unname(if (inherits(m, "lme")) fixef(m) else coef(m)),
         se = unname(sqrt(diag(as.matrix(vcov(m))))),
         sigma = m$sigma,
         cor = if (is.null(cs)) numeric(0) else unname(coef(cs, unconstrained = FALSE)),
         cor_u = if (is.null(cs)) numeric(0) else unname(coef(cs, unconstrained = TRUE)),
         var = if (is.null(vs)) numeric(0) else unname(coef(vs, unconstrained = FALSE)),
         var_u = if (is.null(vs)) numeric(0) else unname(coef(vs, unconstrained = TRUE)),
         re_names = names(re), re = re,
         fitted = unname(fitted(m)))
}
"""


def nlme_in_r(design: Design) -> dict:
    """Fit the design's R call with nlme in the live session; nlme's estimates as plain Python."""
    from rlive import _py, robjects, to_r_frame
    ro = robjects()
    if "nlme_fit" not in _R_CACHE:
        ro.r("suppressPackageStartupMessages(library(nlme))")
        _R_CACHE["nlme_fit"] = ro.r(_R_NLME)
    return _py(_R_CACHE["nlme_fit"](design.r_call, to_r_frame(design.data)))


_R_CACHE: dict = {}


def criterion_at_r(m, r: dict) -> float:
    """Our -2 (restricted) log-likelihood at nlme's estimates (nlme's relative random-effects
    covariances, unconstrained correlation / variance parameters, its fitted values for fitted(.))."""
    params, fitted = _r_params(m, r)
    return float(m.likelihood.criterion(params, fitted))


def _r_params(m, r: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """nlme's estimates as our parameter vector, and nlme's fitted values (rows sorted as ours)."""
    lik = m.likelihood
    parts = []
    names = list(r.get("re_names") or [])
    for lv in lik.levels:
        re = r["re"]
        D = np.asarray(re[lv.name] if isinstance(re, dict) else re[names.index(lv.name)], float)
        D = D.reshape(lv.q, lv.q)
        parts.append(lv.pd.par_from_cov(D))
    if lik.cor is not None and lik.n_cor:
        cor_u = np.asarray(r["cor_u"], float)
        if lik.cor.class_name == "corCAR1":
            # nlme computes phi = exp(u) / (1 + exp(u)) in double: below u = -708 phi is a denormal
            # with few significant bits (log phi off by 0.002 at u = -740, 0.6 at -745), and its
            # log-likelihood is evaluated at that phi, not at u
            with np.errstate(divide="ignore"):
                phi = np.exp(cor_u) / (1.0 + np.exp(cor_u))
                cor_u = np.log(phi) - np.log1p(-phi)
        parts.append(cor_u)
    if lik.var is not None and lik.n_var:
        parts.append(np.asarray(r["var_u"], float))
    params = np.concatenate(parts) if parts else np.zeros(0)
    fitted = None
    if lik.uses_fitted:
        fitted = np.asarray(r["fitted"], float)[m.setup.order]
    return params, fitted


def compare_with_r(m, r: dict) -> tuple[str, str]:
    """The agreement rule of the live test and the survey, at the TOL table's nlme tolerances.

    Returns ``(verdict, detail)``: ``"same"`` (the optima coincide within ``nlme_logLik`` and the
    coefficients, standard errors, sigma and the correlation / variance parameters agree),
    ``"better"`` (our log-likelihood is higher than nlme's beyond the tolerance: compared at the
    likelihood only), ``"worse"`` (ours is lower beyond the tolerance) or ``"differ"`` (same
    likelihood, different estimates: a flat criterion).
    """
    ll, r_ll = float(m.logLik()), float(r["logLik"][0])
    tol = TOL["nlme_logLik"]["rtol"] * max(1.0, abs(r_ll))
    if ll < r_ll - tol:
        return "worse", f"logLik {ll:.8g} < nlme {r_ll:.8g} (by {r_ll - ll:.3g})"
    if ll > r_ll + tol:
        return "better", f"logLik {ll:.8g} > nlme {r_ll:.8g} (by {ll - r_ll:.3g})"
    se = np.sqrt(np.diag(m.vcov().to_numpy()))
    checks = [
        ("fixef", m.fixef().to_numpy(), np.asarray(r["fixef"]), TOL["nlme_coef"]["rtol"],
         TOL["nlme_coef_floor"]["atol"] * se.max()),
        ("se", se, np.asarray(r["se"]), TOL["nlme_se"]["rtol"], 0.0),
        ("sigma", np.array([m.sigma()]), np.asarray(r["sigma"]), TOL["nlme_params"]["rtol"], 0.0),
    ]
    if len(r["cor"]):
        checks.append(("cor", np.asarray(m.cor_params), np.asarray(r["cor"]), TOL["nlme_params"]["rtol"],
                       TOL["nlme_params_floor"]["atol"]))
    if len(r["var"]):
        checks.append(("var", np.array(list(m.var_params.values())), np.asarray(r["var"]),
                       TOL["nlme_params"]["rtol"], TOL["nlme_params_floor"]["atol"]))
    for name, ours, theirs, rtol, atol in checks:
        if ours.shape != theirs.shape or not np.allclose(ours, theirs, rtol=rtol, atol=atol):
            return "differ", f"{name}: ours {np.round(ours, 6).tolist()} nlme {np.round(theirs, 6).tolist()}"
    return "same", ""


def fit_at_r(m, r: dict):
    """Our fit object evaluated at nlme's estimates (no optimiser): the house rule for a flat
    criterion is that everything downstream is compared there."""
    from mixedcompat.nlme.estimate import Estimate
    from mixedcompat.nlme.fit import NlmeFit
    params, fitted = _r_params(m, r)
    est = Estimate(params, float(m.likelihood.criterion(params, fitted)), fitted, 0, 0, True, "at nlme's estimates")
    return NlmeFit(m.kind, m.setup, est, m.method, m.call, m.control)


def verdict(m, r: dict) -> tuple[str, str]:
    """:func:`compare_with_r`, with ``"differ"`` resolved by the house rule: ``"flat"`` when at nlme's
    own estimates everything agrees (the two optimisers stopped at different points of a flat
    criterion), ``"differ"`` otherwise."""
    v, detail = compare_with_r(m, r)
    if v != "differ":
        return v, detail
    v_at, detail_at = compare_with_r(fit_at_r(m, r), r)
    return ("flat", detail) if v_at == "same" else ("differ", f"{detail}; at nlme's estimates: {detail_at}")
