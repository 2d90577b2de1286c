"""The reweightable blocked system (PIRLS's): a structure built once and filled in for new weights
and a new response equals a system built from scratch with those weights, on every engine shape and
every path of the later blocks (dense pattern, dense fill-in, sparse, no pair pattern)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedcompat as mc
from mixedcompat.lme4 import schur
from mixedcompat.lme4.condvar import conditional_variances
from mixedcompat.lme4.omega_inverse import inverse_diagonal_blocks
from mixedcompat.lme4.pls import Deviance, DenseDeviance

from helpers import TOL, engine_data
from test_engine_blocks import SHAPES


def _force(path: str, monkeypatch) -> None:
    if path == "sparse":
        monkeypatch.setattr(schur, "DENSE_REST_MAX", 0)
        monkeypatch.setattr(schur, "SPARSE_MAX_ROW_NNZ", float("inf"))
    elif path == "product":
        monkeypatch.setattr(schur.GramPattern, "MAX_ENTRIES", 0)
        monkeypatch.setattr(schur, "DENSE_FILL_MAX", 0)
    elif path == "pattern":
        monkeypatch.setattr(schur, "DENSE_FILL_MAX", 0)


@pytest.mark.parametrize("path", ["auto", "pattern", "sparse", "product"])
@pytest.mark.parametrize("formula", SHAPES)
def test_reweighted_system_equals_a_fresh_one(formula, path, monkeypatch):
    _force(path, monkeypatch)
    d = engine_data(21, n_g=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(formula, d, REML=False)
    X = m.frame.X
    structure = Deviance.pattern(m.terms, X)
    if structure.later is not None:
        assert structure.later.dense_fill == (path == "auto" and not structure.later.sparse)
    rng = np.random.default_rng(3)
    lower = m.devfun.layout.lower
    for rep in range(3):
        w = rng.uniform(0.05, 3.0, len(m.frame.y))
        y = m.frame.y + rng.normal(size=len(w))
        fresh = Deviance(m.terms, X, y, w, None, False)
        again = structure.reweighted(w, y)
        dense = DenseDeviance(m.terms, X, y, w, None, False)
        theta = rng.uniform(0.05, 2.0, len(m.theta)) * np.where(lower == 0, 1.0, rng.choice([-1, 1], len(lower)))
        np.testing.assert_allclose(again(theta), fresh(theta), **TOL["objective_at"], err_msg=formula)
        np.testing.assert_allclose(again(theta), dense(theta), **TOL["objective_at"], err_msg=formula)
        fa, ff = again.factor(theta), fresh.factor(theta)
        beta_a, u_a = again.solve(fa)
        beta_f, u_f = fresh.solve(ff)
        np.testing.assert_allclose(beta_a, beta_f, rtol=TOL["dense_blocked_beta"]["rtol"],
                                   atol=TOL["dense_blocked_beta"]["atol"] * max([1.0, *np.abs(beta_f)]))
        for ua, uf in zip(u_a, u_f):
            np.testing.assert_allclose(ua, uf, rtol=TOL["dense_blocked_u"]["rtol"],
                                       atol=TOL["dense_blocked_u"]["atol"] * max(1.0, np.abs(uf).max()))
        for va, vf in zip(inverse_diagonal_blocks(again, fa), inverse_diagonal_blocks(fresh, ff)):
            np.testing.assert_allclose(va, vf, **TOL["postvar_at_r_theta"], err_msg=formula)
