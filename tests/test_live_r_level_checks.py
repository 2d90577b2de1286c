"""lme4's level and random-effect count checks (checkNlevels, checkZdims, checkZrank) against live R.

lmer refuses as many levels (or random effects) as observations; glmer allows them (lme4's ``allow.n =
TRUE`` in glFormula: an observation-level random effect has no residual variance to confound), and its
messages say ``<=`` / ``<``.  On random small designs with an observation-level factor, a factor with one
level fewer, and a random slope on either, the error is R's error word for word, or both fit and our
criterion is not above R's.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import TOL  # noqa: E402

pytestmark = pytest.mark.r

_R_FIT = r"""
function(d, formula, family, check_rankZ) {
    ctrl <- if (family == "gaussian") lme4::lmerControl(check.nobs.vs.rankZ = check_rankZ)
            else lme4::glmerControl(check.nobs.vs.rankZ = check_rankZ)
    m <- tryCatch(suppressWarnings(suppressMessages(
        if (family == "gaussian") lme4::lmer(as.formula(formula), d, control = ctrl)
        else lme4::glmer(as.formula(formula), d, family = family, control = ctrl))),
        error = function(e) e)
    if (inherits(m, "error")) return(list(error = conditionMessage(m)))
    list(error = NULL, crit = if (family == "gaussian") lme4::REMLcrit(m) else -2 * as.numeric(logLik(m)))
}
"""

FORMULAS = ["y ~ x + (1 | obs)", "y ~ x + (1 | g) + (1 | obs)", "y ~ x + (1 + x | obs)", "y ~ x + (1 | near)",
            "y ~ x + (1 + x | near)"]


def _design(seed: int, family: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 30))
    g = rng.integers(0, 4, n)
    x = rng.normal(size=n)
    eta = 0.3 + 0.5 * x + rng.normal(0, 0.7, 4)[g] + rng.normal(0, 0.5, n)
    y = {"gaussian": eta, "poisson": rng.poisson(np.exp(eta)),
         "binomial": rng.binomial(1, 1 / (1 + np.exp(-eta)))}[family]
    near = np.arange(n)
    near[-1] = 0                                    # n - 1 levels
    return pd.DataFrame({"y": y.astype(float), "x": x, "g": pd.Categorical([f"g{i}" for i in g]),
                         "obs": pd.Categorical([f"o{i:02d}" for i in range(n)]),
                         "near": pd.Categorical([f"n{i:02d}" for i in near])})


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("family", ["gaussian", "poisson", "binomial"])
@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("rank_z", ["ignore", "stop"])
def test_level_checks_as_lme4(seed, family, formula, rank_z):
    import rlive
    import mixedcompat as mc
    d = _design(seed, family)
    ro = rlive.robjects()
    r = rlive._py(ro.r(_R_FIT)(rlive.to_r_frame(d), formula, family, rank_z))
    control = {"check.nobs.vs.rankZ": rank_z}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = (mc.lmer(formula, d, control=control) if family == "gaussian"
                 else mc.glmer(formula, d, family=family, control=control))
            ours = None
        except mc.DataError as exc:
            ours = str(exc)
    if r.get("error"):
        r_error = str(np.atleast_1d(r["error"])[0])
        assert ours is not None, f"R stops ({r_error}), we fit"
        assert ours.startswith(r_error), (ours, r_error)
        return
    assert ours is None, f"we stop ({ours}), R fits"
    crit = float(m.REMLcrit()) if family == "gaussian" else -2 * float(m.logLik())
    r_crit = float(np.atleast_1d(r["crit"])[0])
    assert crit <= r_crit + TOL["criterion_above"]["rtol"] * abs(r_crit) + 1e-8, (crit, r_crit)
