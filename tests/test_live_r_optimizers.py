"""glmer's optimisers against a live R session: random problems run by lme4::Nelder_Mead (and
minqa::bobyqa) in R and by ours, every evaluated point compared.

The objectives are tests/fixtures/optimizer_objectives.R in R and tests/optimizer_objectives.py here
(the same floating-point operations), so the two runs see the same values at the same points and
the paths agree to rounding (TOL["optimizer_path"]).  Marked ``r``: skipped without R / rpy2.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from helpers import FIXTURES, TOL
from optimizer_objectives import objective
from mixedcompat.numerics.nelder_mead import nelder_mead
from mixedcompat.numerics.powell_bobyqa import minqa_bobyqa

pytestmark = pytest.mark.r

_R_NM = r"""
function(spec, x0, lower, upper, xst, xt, maxfun) {
    f <- optimizer_objective(spec)
    X <- list(); FV <- numeric()
    g <- function(x) { v <- f(x); X[[length(X) + 1L]] <<- x; FV <<- c(FV, v); v }
    warns <- character(0)
    res <- tryCatch(withCallingHandlers(
        lme4::Nelder_Mead(g, x0, lower = lower, upper = upper,
                          control = list(xst = xst, xt = xt, maxfun = maxfun)),
        warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") }),
        error = function(e) e)
    if (inherits(res, "error")) return(list(error = conditionMessage(res)))
    list(path = if (length(X)) do.call(rbind, X) else matrix(numeric(0), 0, length(x0)), values = FV,
         par = res$par, fval = res$fval, feval = res$feval, NM_result = res$NM.result,
         message = res$message, warnings = warns)
}
"""

_R_BQ = r"""
function(spec, par, lower, upper, npt, rhobeg, maxfun) {
    f <- optimizer_objective(spec)
    X <- list(); FV <- numeric()
    g <- function(x) { v <- f(x); X[[length(X) + 1L]] <<- x; FV <<- c(FV, v); v }
    ctrl <- list(npt = npt, maxfun = maxfun)
    if (!is.na(rhobeg)) ctrl$rhobeg <- rhobeg
    warns <- character(0)
    res <- tryCatch(withCallingHandlers(minqa::bobyqa(par, g, lower = lower, upper = upper, control = ctrl),
        warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") }),
        error = function(e) e)
    if (inherits(res, "error")) return(list(error = conditionMessage(res)))
    list(path = do.call(rbind, X), values = FV, par = res$par, fval = res$fval, feval = res$feval,
         ierr = res$ierr, msg = res$msg, warnings = warns)
}
"""

_STATE: dict = {}


def _r():
    if "ro" not in _STATE:
        import rpy2.robjects as ro
        from rpy2.rinterface_lib import callbacks
        callbacks.consolewrite_warnerror = lambda s: None
        ro.r("suppressPackageStartupMessages(library(lme4))")
        ro.r["source"](str(FIXTURES / "optimizer_objectives.R"))
        _STATE["ro"] = ro
        _STATE["nm"] = ro.r(_R_NM)
        _STATE["bq"] = ro.r(_R_BQ)
    return _STATE["ro"]


def _r_spec(spec: dict):
    ro = _r()
    items = {}
    for k, v in spec.items():
        if isinstance(v, str):
            items[k] = ro.StrVector([v])
        else:
            items[k] = ro.FloatVector(np.atleast_1d(np.asarray(v, dtype=float)).tolist())
    return ro.ListVector(items)


@dataclasses.dataclass(frozen=True)
class Problem:
    """A random bounded problem: the objective and the optimiser's arguments."""
    spec: dict
    x0: tuple
    lower: tuple
    upper: tuple
    xst: tuple
    xt: tuple
    maxfun: int


@st.composite
def problems(draw) -> Problem:
    n = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    kind = draw(st.sampled_from(["quad", "quad", "rosen", "rosen_region"]) if n > 1 else st.just("quad"))
    x0 = np.round(rng.normal(0.0, 1.0, n), 3)
    if kind == "quad":
        a = np.round(rng.uniform(0.2, 5.0, n), 3)
        b = np.round(rng.uniform(-0.5, 0.5, max(n - 1, 1)) * a.min(), 3)   # diagonally dominant: convex
        spec = {"name": "quad", "a": a.tolist(), "c": np.round(rng.normal(0.0, 2.0, n), 3).tolist(),
                "b": b.tolist()}
    elif kind == "rosen":
        spec = {"name": "rosen"}
    else:
        k = int(rng.integers(0, n))
        spec = {"name": "rosen_region", "k": float(k + 1), "w": float(x0[k] + rng.uniform(0.05, 1.0)),
                "fill": str(rng.choice(["Inf", "NaN"]))}
    lower = np.full(n, -np.inf)
    upper = np.full(n, np.inf)
    for i in range(n):
        bound = draw(st.sampled_from(["none", "lower", "at_lower", "both", "near_upper"]))
        if bound == "lower":
            lower[i] = x0[i] - rng.uniform(0.0, 1.0)
        elif bound == "at_lower":                       # glmer's theta on its bound
            lower[i] = x0[i]
        elif bound == "both":
            lower[i], upper[i] = x0[i] - rng.uniform(0.0, 0.5), x0[i] + rng.uniform(0.01, 0.5)
        elif bound == "near_upper":
            upper[i] = x0[i] + rng.uniform(0.0, 0.02)
            if upper[i] == x0[i]:
                upper[i] = np.nextafter(x0[i], np.inf)
    xst = np.round(rng.uniform(0.01, 0.4, n) * rng.choice([-1.0, 1.0, 1.0], n), 4)
    xt = np.abs(xst) * draw(st.sampled_from([5e-4, 1e-5, 1e-7]))
    maxfun = draw(st.sampled_from([10000, 10000, 10000, 40]))
    return Problem(spec, tuple(x0), tuple(lower), tuple(upper), tuple(xst), tuple(xt), maxfun)


@settings(max_examples=int(__import__("os").environ.get("MC_LIVE_EXAMPLES", "40")), deadline=None,
          derandomize=True, database=None)
@given(problems())
def test_nelder_mead_takes_r_s_path_on_random_problems(p: Problem):
    ro = _r()
    fv = lambda v: ro.FloatVector(list(v))  # noqa: E731
    r = _STATE["nm"](_r_spec(p.spec), fv(p.x0), fv(p.lower), fv(p.upper), fv(p.xst), fv(p.xt), p.maxfun)
    r = dict(zip(r.names, r))
    if "error" in r:
        pytest.fail(f"R refused the problem: {r['error'][0]}")
    event(f"NM_result {int(r['NM_result'][0])}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = nelder_mead(objective(p.spec), np.array(p.x0), np.array(p.lower), np.array(p.upper),
                           np.array(p.xst), np.array(p.xt), maxfun=p.maxfun, record=True)
    # R's matrix comes column-major: read it row by row
    r_path = np.array(ro.r["as.vector"](ro.r["t"](r["path"]))).reshape(-1, len(p.x0))
    r_values = np.array(r["values"], dtype=float)
    tol = TOL["optimizer_path"]
    assert ours.path.shape == r_path.shape, f"{ours.feval} evaluations, R made {len(r_values)}"
    assert np.allclose(ours.path, r_path, **tol), "points"
    assert np.allclose(ours.values, r_values, equal_nan=True, **tol), "values"
    assert ours.feval == int(r["feval"][0])
    assert ours.NM_result == int(r["NM_result"][0])
    assert ours.message == r["message"][0]
    assert [str(w.message) for w in caught] == list(r["warnings"])
    assert np.allclose(ours.par, np.array(r["par"]), **tol)
    assert np.isclose(ours.fval, r["fval"][0], **tol) or ours.fval == r["fval"][0]


@dataclasses.dataclass(frozen=True)
class BoxProblem:
    """A random problem for BOBYQA: the objective, start, bounds and minqa's controls."""
    spec: dict
    par: tuple
    lower: tuple
    upper: tuple
    npt: int
    rhobeg: float | None
    maxfun: int


@st.composite
def box_problems(draw) -> BoxProblem:
    n = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    kind = draw(st.sampled_from(["quad", "quad", "rosen", "wavy"]) if n > 1 else st.sampled_from(["quad", "wavy"]))
    par = np.round(rng.normal(0.0, 1.0, n), 3)
    if np.all(par == 0):
        par[0] = 1.0
    c = np.round(rng.normal(0.0, 1.5, n), 3).tolist()
    if kind == "quad":
        a = np.round(10.0 ** rng.uniform(-1, 1, n), 3)
        b = np.round(rng.uniform(-0.5, 0.5, max(n - 1, 1)) * a.min(), 4)
        spec = {"name": "quad", "a": a.tolist(), "c": c, "b": b.tolist()}
    elif kind == "rosen":
        spec = {"name": "rosen"}
    else:
        spec = {"name": "wavy", "c": c, "amp": float(rng.choice([0.01, 0.1])), "freq": float(rng.choice([3, 30]))}
    lower = np.full(n, -np.inf)
    upper = np.full(n, np.inf)
    for i in range(n):
        bound = draw(st.sampled_from(["none", "none", "lower", "at_lower", "glmer", "both"]))
        if bound == "lower":
            lower[i] = par[i] - round(rng.uniform(0.0, 1.0), 3)
        elif bound == "at_lower":
            lower[i] = par[i]
        elif bound == "glmer":                  # theta: start 1, lower bound 0
            par[i], lower[i] = 1.0, 0.0
        elif bound == "both":
            lower[i], upper[i] = par[i] - round(rng.uniform(0.05, 1.0), 3), par[i] + round(rng.uniform(0.05, 1.0), 3)
    npt = draw(st.integers(n + 2, (n + 1) * (n + 2) // 2))
    rhobeg = draw(st.sampled_from([None, None, 0.1, 0.5]))
    maxfun = draw(st.sampled_from([10000, 10000, 10000, 25]))
    return BoxProblem(spec, tuple(par), tuple(lower), tuple(upper), npt, rhobeg, maxfun)


@settings(max_examples=int(__import__("os").environ.get("MC_LIVE_EXAMPLES", "40")), deadline=None,
          derandomize=True, database=None)
@given(box_problems())
def test_bobyqa_takes_minqa_s_path_on_random_problems(p: BoxProblem):
    ro = _r()
    fv = lambda v: ro.FloatVector(list(v))  # noqa: E731
    r = _STATE["bq"](_r_spec(p.spec), fv(p.par), fv(p.lower), fv(p.upper), p.npt,
                     ro.NA_Real if p.rhobeg is None else p.rhobeg, p.maxfun)
    r = dict(zip(r.names, r))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ours = minqa_bobyqa(objective(p.spec), np.array(p.par), np.array(p.lower), np.array(p.upper), npt=p.npt,
                          rhobeg=p.rhobeg, maxfun=p.maxfun, record=True)
        except Exception as err:  # noqa: BLE001 -- compared with R's error below
            event("error")
            assert "error" in r, f"we raised {err!r}, R did not"
            assert str(err) == r["error"][0]
            return
    assert "error" not in r, f"R: {r.get('error')}"
    n = len(p.par)
    r_path = np.array(ro.r["as.vector"](ro.r["t"](r["path"]))).reshape(-1, n)
    r_values = np.array(r["values"], dtype=float)
    tol = TOL["optimizer_path"]
    event(f"ierr {ours.ierr}" + (", RESCUE" if ours.rescues else ""))
    if ours.rescues:                            # minqa's RESCUE evaluates an undefined vector
        upto = 1 + ours.rescues[0]
        assert np.allclose(ours.path[:upto], r_path[:upto], **tol)
        return
    assert ours.path.shape == r_path.shape, f"{ours.feval} evaluations, R made {int(r['feval'][0])}"
    assert np.allclose(ours.path, r_path, **tol), "points"
    assert np.allclose(ours.values, r_values, **tol), "values"
    assert (ours.feval, ours.ierr, ours.msg) == (int(r["feval"][0]), int(r["ierr"][0]), r["msg"][0])
    assert [str(w.message) for w in caught] == list(r["warnings"])
    assert np.allclose(ours.par, np.array(r["par"]), **tol)


# ---------------------------------------------------------------- glmer's own two stages in R
_R_GLMER_STAGES = r"""
function(formula, data_name, family) {
    suppressPackageStartupMessages(library(lme4))
    d <- get(data_name, envir = asNamespace("lme4"))
    f <- as.formula(formula)
    fam <- get(family, mode = "function")
    # lme4's own deviance functions, fresh: stage 1's (nAGQ = 0) and stage 2's (after lme4's stage 1)
    dev0 <- glmer(f, data = d, family = fam, nAGQ = 0, devFunOnly = TRUE)
    dev1 <- glmer(f, data = d, family = fam, devFunOnly = TRUE)
    rec <- new.env()
    # record every call the optimisers make inside glmer(): wrap fn on entry (copies: lme4's deviance
    # functions write theta into the vector they are given)
    trace(minqa::bobyqa, bquote({
        .e <- .(rec)
        .e$bq <- list(par = par + 0, lower = lower + 0, upper = upper + 0, X = list())
        fn0 <- fn
        fn <- function(x, ...) { .e$bq$X[[length(.e$bq$X) + 1L]] <- x + 0; fn0(x, ...) }
    }), print = FALSE, where = asNamespace("lme4"))
    trace(lme4::Nelder_Mead, bquote({
        .e <- .(rec)
        .e$nm <- list(par = par + 0, lower = lower + 0, upper = upper + 0, xst = control$xst + 0,
                      xt = control$xt + 0, X = list())
        fn0 <- fn
        fn <- function(x) { .e$nm$X[[length(.e$nm$X) + 1L]] <- x + 0; fn0(x) }
    }), print = FALSE, where = asNamespace("lme4"))
    on.exit({ untrace(minqa::bobyqa, where = asNamespace("lme4"))
              untrace(lme4::Nelder_Mead, where = asNamespace("lme4")) })
    m <- glmer(f, data = d, family = fam)
    flat <- function(X) as.numeric(t(do.call(rbind, X)))
    list(dev0 = dev0, dev1 = dev1,
         bq_par = rec$bq$par, bq_lower = rec$bq$lower, bq_upper = rec$bq$upper, bq_path = flat(rec$bq$X),
         nm_par = rec$nm$par, nm_lower = rec$nm$lower, nm_upper = rec$nm$upper, nm_xst = rec$nm$xst,
         nm_xt = rec$nm$xt, nm_path = flat(rec$nm$X), feval = m@optinfo$feval,
         nm_message = m@optinfo$message)
}
"""


@pytest.mark.parametrize("formula, data, family", [
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", "binomial"),
    ("TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)", "grouseticks", "poisson"),
])
def test_glmer_s_two_stages_on_lme4_s_own_deviance(formula, data, family):
    """Our optimisers on lme4's own deviance functions (called through rpy2) evaluate the very points
    glmer's minqa::bobyqa (stage 1) and lme4::Nelder_Mead (stage 2) evaluated inside glmer()."""
    ro = _r()
    if "glmer" not in _STATE:
        _STATE["glmer"] = ro.r(_R_GLMER_STAGES)
    r = _STATE["glmer"](formula, data, family)
    r = dict(zip(r.names, r))
    vec = lambda name: np.array(r[name], dtype=float)  # noqa: E731

    def through(dev):
        return lambda x: float(dev(ro.FloatVector(np.asarray(x, dtype=float).tolist()))[0])

    tol = TOL["optimizer_path"]
    s1 = minqa_bobyqa(through(r["dev0"]), vec("bq_par"), vec("bq_lower"), vec("bq_upper"), record=True)
    r1 = vec("bq_path").reshape(-1, len(vec("bq_par")))
    assert s1.path.shape == r1.shape and np.allclose(s1.path, r1, **tol)
    s2 = nelder_mead(through(r["dev1"]), vec("nm_par"), vec("nm_lower"), vec("nm_upper"), vec("nm_xst"),
                     vec("nm_xt"), record=True)
    r2 = vec("nm_path").reshape(-1, len(vec("nm_par")))
    assert s2.path.shape == r2.shape and np.allclose(s2.path, r2, **tol)
    assert s2.feval == int(r["feval"][0]) and s2.message == r["nm_message"][0]
