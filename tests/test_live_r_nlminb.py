"""R's nlminb (the PORT library) against live R on random bounded quadratics and Rosenbrock-type
problems: where our objective is R's arithmetic, the same iterations and evaluation counts (lmer with
``control={"optimizer": "nlminbwrap"}`` on random designs is in tests/test_live_r_allfit.py)."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import TOL, check_criterion
from mixedcompat.numerics.port_nlminb import nlminb

pytestmark = pytest.mark.r


_R_NLMINB = r"""
function(kind, A, b, start, lower, upper) {
    # sums accumulated left to right in double precision, as the Python objective does (R's sum()
    # accumulates in long double)
    acc <- function(v) { s <- 0; for (e in v) s <- s + e; s }
    f <- if (kind == "quad") function(x) {
        ax <- vapply(seq_along(x), function(i) acc(A[i, ] * x), 0)
        0.5 * acc(x * ax) - acc(b * x)
    } else function(x) acc(100 * (x[-1] - x[-length(x)]^2)^2 + (1 - x[-length(x)])^2)
    r <- nlminb(start, f, lower = lower, upper = upper)
    list(par = r$par, objective = r$objective, convergence = r$convergence, message = r$message,
         iterations = r$iterations, evaluations = unname(r$evaluations))
}
"""


@pytest.mark.parametrize("seed", range(16))
def test_nlminb_random_problems_as_r(seed):
    import rlive
    ro = rlive.robjects()
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    kind = "quad" if seed % 2 == 0 else "rosen"
    M = rng.normal(size=(n, n))
    A = M @ M.T + 0.5 * np.eye(n)
    b = rng.normal(size=n) * 3
    start = rng.uniform(-1, 1, size=n)
    lower = np.where(rng.random(n) < 0.5, -np.inf, rng.uniform(-1.5, 0, size=n))
    upper = np.where(rng.random(n) < 0.3, rng.uniform(0.2, 1.5, size=n), np.inf)
    start = np.clip(start, lower, upper)
    def acc(values):
        s = 0.0
        for v in values:
            s += v
        return s
    if kind == "quad":
        def f(x):
            ax = [acc(A[i, j] * x[j] for j in range(n)) for i in range(n)]
            return 0.5 * acc(x[i] * ax[i] for i in range(n)) - acc(b[i] * x[i] for i in range(n))
    else:
        def f(x):
            return acc(100 * (x[i + 1] - x[i] * x[i]) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1))
    out = ro.r(_R_NLMINB)(kind, ro.r.matrix(ro.FloatVector(A.T.ravel()), nrow=n), ro.FloatVector(b),
                          ro.FloatVector(start), ro.FloatVector(lower), ro.FloatVector(upper))
    r = dict(zip(out.names, [list(v) for v in out]))
    ours = nlminb(start, f, lower=lower, upper=upper)
    check_criterion(ours.objective, float(r["objective"][0]), f"nlminb {kind} n={n} seed={seed}")
    assert ours.convergence == int(r["convergence"][0]) and ours.message == r["message"][0]
    assert ours.iterations == int(r["iterations"][0])
    assert [ours.evaluations["function"], ours.evaluations["gradient"]] == [int(v) for v in r["evaluations"]]
    np.testing.assert_allclose(ours.par, r["par"], **TOL["nlminb_par"])
