"""dfoptim's nmkb and lme4's nmkbw against live R.

1. nmkb on random bounded quadratics and Rosenbrock functions (tests/optimizer_objectives.py computes
   R's very doubles): R's path, result, counts, code and message exactly.
2. lmer with ``control={"optimizer": "nmkbw"}`` on random designs (tests/random_designs.py) against
   ``lmerControl(optimizer = "nmkbw")``: our criterion at most R's + TOL["criterion_above"]; where R
   stops with an error, so do we; with ``polish=False`` (lme4's stopping rule only) the point where
   R stopped, up to the paths parting on the criterion's last bits.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import mixedcompat as mc
from mixedcompat.numerics.nmkb import nmkb
from helpers import TOL, assert_close, check_criterion
from optimizer_objectives import num, objective
from random_designs import draw_design

pytestmark = pytest.mark.r

N_PROBLEMS = 12
N_DESIGNS = 8

_R_NMKB = r"""
function(spec_json, par, lower, upper, maxfeval, regsimp) {
    source(file.path("tests", "fixtures", "optimizer_objectives.R"), local = TRUE)
    spec <- jsonlite::fromJSON(spec_json)
    f <- optimizer_objective(spec)
    r <- tryCatch(dfoptim::nmkb(par, f, lower = lower, upper = upper,
                                control = list(maxfeval = maxfeval, regsimp = regsimp)),
                  error = function(e) list(error = conditionMessage(e)))
    if (!is.null(r$error)) return(list(error = r$error))
    list(par = sprintf("%.17g", r$par), value = sprintf("%.17g", r$value), feval = r$feval,
         restarts = r$restarts, convergence = r$convergence, message = r$message)
}
"""

_R_FIT = r"""
function(d, formula, REML, use_w, use_off, polish) {
    ctl <- lme4::lmerControl(optimizer = "nmkbw")
    fit <- tryCatch(suppressMessages(suppressWarnings({
        f <- as.formula(formula)
        if (use_w && use_off) lme4::lmer(f, data = d, REML = REML, weights = w, offset = off, control = ctl)
        else if (use_w) lme4::lmer(f, data = d, REML = REML, weights = w, control = ctl)
        else if (use_off) lme4::lmer(f, data = d, REML = REML, offset = off, control = ctl)
        else lme4::lmer(f, data = d, REML = REML, control = ctl)
    })), error = function(e) e)
    if (inherits(fit, "error")) return(list(error = conditionMessage(fit)))
    list(criterion = if (REML) lme4::REMLcrit(fit) else deviance(fit), theta = unname(lme4::getME(fit, "theta")),
         conv = fit@optinfo$conv$opt, feval = if (is.null(fit@optinfo$feval)) NA else fit@optinfo$feval)
}
"""


def _problem(seed: int):
    """A random bounded problem: a quadratic (2-6 dimensions, coupled neighbours) or Rosenbrock, with
    bounds of every kind (both, lower, upper, none) and optima inside the box or beyond a bound."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    if seed % 3 == 0:
        spec = {"name": "rosen"}
        centre = np.ones(n)
    else:
        centre = np.round(rng.uniform(-2, 2, n), 3)
        spec = {"name": "quad", "a": np.round(rng.uniform(0.5, 5, n), 3).tolist(), "c": centre.tolist(),
                "b": np.round(rng.uniform(-0.4, 0.4, n - 1), 3).tolist()}
    par = np.round(rng.uniform(-1, 1, n), 3)
    lower = np.full(n, -np.inf)
    upper = np.full(n, np.inf)
    for i in range(n):
        kind = rng.integers(0, 4)
        if kind in (0, 1):
            lower[i] = par[i] - np.round(rng.uniform(0.1, 3), 2)
        if kind in (0, 2):
            upper[i] = par[i] + np.round(rng.uniform(0.1, 3), 2)
    if np.all(np.isinf(lower) & np.isinf(upper)):
        lower[0] = par[0] - 1.0
    return spec, par, lower, upper, bool(seed % 4 != 1)


@pytest.mark.parametrize("seed", range(N_PROBLEMS))
def test_nmkb_random_problem_takes_r_path(seed):
    import rlive
    ro = rlive.robjects()
    spec, par, lower, upper, regsimp = _problem(seed)
    out = ro.r(_R_NMKB)(json.dumps(spec), ro.FloatVector(par), ro.FloatVector(lower), ro.FloatVector(upper),
                        2000, regsimp)
    r = {k: list(v) for k, v in zip(out.names, out)}
    try:
        ours = nmkb(par, objective(spec), lower, upper, {"maxfeval": 2000, "regsimp": regsimp})
    except mc.DataError as exc:
        assert "error" in r and r["error"][0] in str(exc)
        return
    assert "error" not in r, r
    assert_close(ours.par, num(r["par"]), f"seed {seed} par", **TOL["optimizer_path"])
    assert_close(ours.value, num(r["value"])[0], f"seed {seed} value", **TOL["optimizer_path"])
    assert (ours.feval, ours.restarts, ours.convergence, ours.message) == \
        (int(r["feval"][0]), int(r["restarts"][0]), int(r["convergence"][0]), r["message"][0])


def _r_fit(df, design):
    import rlive
    ro = rlive.robjects()
    out = ro.r(_R_FIT)(rlive.to_r_frame(df), design.formula(), design.REML, design.weights != "none",
                       design.offset == "argument", False)
    res = dict(zip(out.names, [list(v) for v in out]))
    return {k: (v[0] if len(v) == 1 else v) for k, v in res.items()}


def _fit(design, df, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer(design.formula(), df, REML=design.REML, weights=design.weights_arg(),
                       offset=design.offset_arg(), control={"optimizer": "nmkbw", **extra})


@pytest.mark.parametrize("seed", range(N_DESIGNS))
def test_lmer_nmkbw_criterion_not_above_lme4(seed):
    design = draw_design(3000 + seed, max_rows=400)
    df = design.data()
    r = _r_fit(df, design)
    if "error" in r:
        with pytest.raises((mc.DataError, mc.FormulaError)):
            _fit(design, df)
        return
    m = _fit(design, df)
    ours = m.REMLcrit() if m.REML else m.deviance()
    check_criterion(ours, float(r["criterion"]), f"{design.formula()} [nmkbw]")
    assert m.optinfo["optimizer"] == "nmkbw"
    assert int(m.optinfo["conv"]["opt"]) == int(r["conv"])
    # lme4's own stop (polish=False): R's point, or the paths parted on the criterion's last bits and
    # ours stopped within nmkb's tolerance (tol = 1e-6 on the simplex values) of R's criterion
    m0 = _fit(design, df, polish=False)
    crit0 = m0.REMLcrit() if m0.REML else m0.deviance()
    assert crit0 <= float(r["criterion"]) + 1e-5 * max(1.0, abs(float(r["criterion"])))
