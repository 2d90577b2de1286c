"""dfoptim's nmkb and lme4's nmkbw against live R.

nmkb on random bounded quadratics and Rosenbrock functions (tests/optimizer_objectives.py computes
   R's very doubles): R's path, result, counts, code and message exactly.
lmer with ``control={"optimizer": "nmkbw"}`` on random designs is in tests/test_live_r_allfit.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import mixedcompat as mc
from mixedcompat.numerics.nmkb import nmkb
from helpers import TOL, assert_close
from optimizer_objectives import num, objective

pytestmark = pytest.mark.r

N_PROBLEMS = 12

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
