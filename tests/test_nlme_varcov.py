"""getVarCov against nlme (tests/fixtures/gen_nlme_varcov.R): random-effects, conditional and marginal
covariance matrices of individuals, rtol 1e-3 (they rest on the estimated parameters)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import mixedcompat as mc
from nlme_fixtures import fit_input
from helpers import FIXTURES, TOL

PATHS = sorted((FIXTURES / "nlme_varcov").glob("*.json"))


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_getvarcov_matches_nlme(path):
    fx = json.loads(path.read_text())
    m = fit_input(fx["input"])
    for one in fx["varcov"]:
        ind = one["individual"]
        for key, kind in (("random_effects", "random.effects"), ("conditional", "conditional"),
                          ("marginal", "marginal")):
            if key not in one:
                continue
            exp = np.asarray(one[key], float)
            got = m.getVarCov(individuals=ind, type=kind).to_numpy()
            np.testing.assert_allclose(got, exp, rtol=TOL["nlme_getvarcov"]["rtol"],
                                       atol=TOL["nlme_getvarcov"]["atol"] * np.abs(exp).max(), err_msg=f"{ind} {kind}")


def test_getvarcov_errors():
    m = mc.lme("score ~ Machine", mc.datasets.load("Machines"), random="~ 1 | Worker/Machine")
    with pytest.raises(mc.DataError, match="nesting"):
        m.getVarCov()
    g = mc.gls("distance ~ age", mc.datasets.load("Orthodont"), correlation=mc.corAR1(form="~ 1 | Subject"))
    with pytest.raises(mc.DataError, match="not a group"):
        g.getVarCov(individuals="Z99", type="conditional")
    with pytest.raises(mc.DataError, match="no random effects"):
        g.getVarCov(type="marginal")
