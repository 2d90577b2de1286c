"""The shapes that were slow before issue 11, against live lme4: random designs large enough for the
blocked engine (more than DENSE_MAX_Q random effects) and for the sparse Schur path (later blocks
with more than DENSE_REST_MAX columns): two terms on one factor with hundreds of levels, a factor
nested in another, partially crossed factors, with and without weights.

Each case: our criterion at most lme4's (+1e-8 relative), our criterion at R's theta equal to R's,
and the fixed and random effects at R's theta as R's.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.lme4 import pls, schur
from helpers import TOL, at_theta, check_criterion, model_at_r_theta

pytestmark = pytest.mark.r

SHAPES = [
    "y ~ x + (x || g)",
    "y ~ x + (1 | g) + (1 | g:b)",
    "y ~ x + (x || g) + (1 | g:b)",
    "y ~ x + (1 | g:b) + (x | g)",
    "y ~ x + (1 | g) + (1 | h) + (1 | k)",
    "y ~ log(z) + x + (x || g) + (1 | h) + (1 | k)",
]
N_CASES = 12


def _design(seed: int) -> tuple[str, pd.DataFrame, bool]:
    rng = np.random.default_rng(7000 + seed)
    formula = SHAPES[seed % len(SHAPES)]
    n_g = int(rng.integers(420, 700))
    per = int(rng.integers(3, 7))
    g = np.repeat(np.arange(n_g), per)
    n = len(g)
    b = rng.integers(0, 3, n)
    h = rng.integers(0, int(rng.integers(5, 40)), n)
    k = (g // 4 + rng.integers(0, 3, n)) % max(2, n_g // 2)      # partially crossed, hundreds of levels
    x = rng.uniform(0, 10, n)
    z = rng.uniform(0.5, 3.0, n)
    sd = rng.uniform(0.0, 1.0, 5) * rng.choice([0.0, 1.0], 5, p=[0.15, 0.85])   # some variances 0
    y = (2 + 0.3 * x + rng.normal(0, sd[0], n_g)[g] + rng.normal(0, sd[1] / 5, n_g)[g] * x
         + rng.normal(0, sd[2], n_g * 3)[g * 3 + b] + rng.normal(0, sd[3], 60)[h % 60]
         + rng.normal(0, sd[4], n_g)[k] + rng.normal(0, 1.0, n))
    d = pd.DataFrame({"y": y, "x": x, "z": z, "g": [f"g{v:03d}" for v in g], "b": [f"b{v}" for v in b],
                      "h": [f"h{v:02d}" for v in h], "k": [f"k{v:03d}" for v in k],
                      "w": rng.uniform(0.5, 2.0, n)})
    for col in ("g", "b", "h", "k"):
        d[col] = pd.Categorical(d[col])
    return formula, d, bool(rng.integers(0, 2))


@pytest.mark.parametrize("case", range(N_CASES))
def test_engine_shapes_agree_with_lme4(case):
    from rlive import lmer_in_r
    formula, d, weighted = _design(case)
    r = lmer_in_r(d, formula, REML=True, weights="w" if weighted else None)
    assert r["error"] is None, r["error"]
    kw = {"weights": "w"} if weighted else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(formula, d, **kw)
    assert isinstance(m.devfun, pls.Deviance) and type(m.devfun) is pls.Deviance, "not the blocked engine"
    context = f"case {case}: {formula} (weights: {weighted})"
    check_criterion(m.REMLcrit(), r["criterion"], context)

    def at(control):
        return mc.lmer(formula, d, control=control, **kw)

    mr = model_at_r_theta(m, r["theta"], at)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m_at = at(at_theta(r["theta"]))
    np.testing.assert_allclose(m_at.REMLcrit(), r["criterion"], **TOL["objective_at"], err_msg=context)
    np.testing.assert_allclose(mr.fixef().to_numpy(), r["fixef"], **TOL["fixef"], err_msg=context)
    for g, spec in r["ranef"].items():
        ours = mc.ranef(mr)[g]
        assert list(ours.columns) == spec["columns"], context
        scale = np.maximum(np.abs(spec["values"]).max(axis=0), 1e-8)
        np.testing.assert_allclose(ours.to_numpy() / scale, spec["values"] / scale, **TOL["coef_scaled"],
                                   err_msg=f"{context}: ranef {g}")


def test_the_cases_reach_the_sparse_path():
    """At least the nested shapes put more than DENSE_REST_MAX columns in a sparse Schur complement."""
    sparse = []
    for case in range(N_CASES):
        formula, d, _ = _design(case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mc.lmer(formula, d, control={"optimizer": None})
        later = m.devfun.later
        sparse.append(later is not None and later.sparse and later.q > schur.DENSE_REST_MAX)
    assert sum(sparse) >= 3, sparse
