"""The gradient optimiser (``control={"optimizer": "gradient"}``, issue 11 item 3) against live lme4
on random designs: its criterion at most lme4's (+1e-8 relative), singular fits included; and the
analytic gradient at lme4's own optimum as small as central differences say it is.

Designs: one to three grouping factors (crossed, nested, partially crossed), random slopes
correlated or not, REML or ML, weighted or not, some variance components 0 (singular fits), sizes
for both engines (a few dozen to ~2,000 random effects)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.lme4.gradient import criterion_gradient
from helpers import TOL, check_criterion

pytestmark = pytest.mark.r

SHAPES = [
    "y ~ x + (x | g)",
    "y ~ x + (x || g) + (1 | h)",
    "y ~ x + (1 | g) + (1 | g:b)",
    "y ~ x + (1 | g:b) + (x | g)",
    "y ~ x + (1 | g) + (1 | h) + (1 | k)",
    "y ~ x + (x | g) + (1 | k)",
]
N_CASES = 12


def _design(seed: int) -> tuple[str, pd.DataFrame, bool, bool]:
    rng = np.random.default_rng(9100 + seed)
    formula = SHAPES[seed % len(SHAPES)]
    n_g = int(rng.choice([30, 150, 600]))
    per = int(rng.integers(3, 8))
    g = np.repeat(np.arange(n_g), per)
    n = len(g)
    b = rng.integers(0, 3, n)
    h = rng.integers(0, int(rng.integers(5, 40)), n)
    k = (g // 4 + rng.integers(0, 3, n)) % max(2, n_g // 2)
    x = rng.uniform(0, 10, n)
    sd = rng.uniform(0.0, 1.0, 5) * rng.choice([0.0, 1.0], 5, p=[0.2, 0.8])     # some variances 0
    y = (2 + 0.3 * x + rng.normal(0, sd[0], n_g)[g] + rng.normal(0, sd[1] / 5, n_g)[g] * x
         + rng.normal(0, sd[2], n_g * 3)[g * 3 + b] + rng.normal(0, sd[3], 40)[h]
         + rng.normal(0, sd[4], n_g)[k] + rng.normal(0, 1.0, n))
    d = pd.DataFrame({"y": y, "x": x, "g": [f"g{v:03d}" for v in g], "b": [f"b{v}" for v in b],
                      "h": [f"h{v:02d}" for v in h], "k": [f"k{v:03d}" for v in k],
                      "w": rng.uniform(0.5, 2.0, n)})
    for col in ("g", "b", "h", "k"):
        d[col] = pd.Categorical(d[col])
    return formula, d, bool(rng.integers(0, 2)), bool(rng.integers(0, 2))


@pytest.mark.parametrize("case", range(N_CASES))
def test_gradient_optimiser_reaches_lme4s_criterion(case):
    from rlive import lmer_in_r
    formula, d, weighted, REML = _design(case)
    r = lmer_in_r(d, formula, REML=REML, weights="w" if weighted else None)
    assert r["error"] is None, r["error"]
    kw = {"weights": "w"} if weighted else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(formula, d, REML=REML, control={"optimizer": "gradient"}, **kw)
    context = f"case {case}: {formula} (REML: {REML}, weights: {weighted})"
    check_criterion(m.REMLcrit(), r["criterion"], context)
    # the analytic gradient at R's theta (interior entries) against differences there
    theta_r = np.asarray(r["theta"], dtype=float)
    dev = m.devfun
    value, grad = criterion_gradient(dev, theta_r)
    np.testing.assert_allclose(value, r["criterion"], **TOL["objective_at"], err_msg=context)
    lower = dev.layout.lower
    for i in range(len(theta_r)):
        h = 1e-5 * max(1.0, abs(theta_r[i]))
        if theta_r[i] - h < lower[i]:
            continue
        e = np.zeros(len(theta_r))
        e[i] = h

        def central(step):
            return (dev(theta_r + step) - dev(theta_r - step)) / (2 * step[i])
        fd = (4 * central(e / 2) - central(e)) / 3          # Richardson: slopes on x in 0..10 curve fast
        scale = max(1.0, float(np.max(np.abs(grad))))
        assert abs(grad[i] - fd) <= TOL["gradient_fd"]["rtol"] * scale, (context, i, grad[i], fd)
