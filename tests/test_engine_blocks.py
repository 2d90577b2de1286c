"""The blocked PLS engine on every random-effects shape (issue 11): terms amalgamated per grouping
factor (mixedcompat.lme4.blocks), the later blocks' Schur complement dense or sparse
(mixedcompat.lme4.schur), against one dense factorisation of the whole system (DenseDeviance) at
arbitrary theta: criterion, beta, u and conditional variances."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.lme4 import pls, schur
from mixedcompat.lme4.blocks import amalgamate
from mixedcompat.lme4.condvar import conditional_variances
from mixedcompat.lme4.pls import DenseDeviance, Deviance

from helpers import TOL, engine_data

SHAPES = [
    "y ~ x + (x || g)",                                   # two terms on one factor: one 2x2 block per level
    "y ~ x + (1 | g) + (0 + x | g) + (1 | h)",
    "y ~ x + (x | g) + (1 | g:b)",                        # a nested term after the first
    "y ~ x + (1 | g:b) + (x | g)",                        # a later block with a 2x2 template
    "y ~ x + (x || g) + (1 | g:b)",
    "y ~ x + (1 | g) + (1 | h) + (1 | k)",                # partially crossed
    "y ~ x + (1 | h) + (x || k) + (z | g)",
    "y ~ 0 + (1 | g) + (1 | g:b)",
    "y ~ x + (1 | g) + (1 | g) + (0 + z | h)",            # a factor repeated in two terms
]


def _fit(formula: str, d: pd.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer(formula, d, **kw)


def _force(rest: str, monkeypatch) -> None:
    """``sparse``: the later blocks' Schur complement factorised sparse whatever its size; ``product``:
    no pair pattern (as when it would be too large), the fill-in as a sparse matrix product."""
    if rest == "sparse":
        monkeypatch.setattr(schur, "DENSE_REST_MAX", 0)
        monkeypatch.setattr(schur, "SPARSE_MAX_ROW_NNZ", float("inf"))
    elif rest == "product":
        monkeypatch.setattr(schur.GramPattern, "MAX_ENTRIES", 0)


@pytest.mark.parametrize("rest", ["auto", "sparse", "product"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("formula", SHAPES)
def test_blocked_engine_equals_one_dense_factor(formula, weighted, rest, monkeypatch):
    _force(rest, monkeypatch)
    d = engine_data(11, n_g=60)
    m = _fit(formula, d, weights="w" if weighted else None)
    f = m.frame
    args = (m.terms, f.X, f.y, f.weights, f.offset, m.REML)
    blocked, dense = Deviance(*args), DenseDeviance(*args)
    if blocked.later is not None:
        assert blocked.later.sparse == (rest == "sparse")
        assert (blocked.later.gram is None) == (rest == "product")
    rng = np.random.default_rng(5)
    lower = m.devfun.layout.lower
    for _ in range(4):
        theta = rng.uniform(0.05, 2.0, len(m.theta)) * np.where(lower == 0, 1.0, rng.choice([-1, 1], len(lower)))
        np.testing.assert_allclose(blocked(theta), dense(theta), **TOL["objective_at"], err_msg=formula)
        beta_b, u_b = blocked.solve(blocked.factor(theta))
        beta_d, u_d = dense.solve(dense.factor(theta))
        np.testing.assert_allclose(beta_b, beta_d, rtol=TOL["dense_blocked_beta"]["rtol"],
                                   atol=TOL["dense_blocked_beta"]["atol"] * max([1.0, *np.abs(beta_d)]))
        for ub, ud in zip(u_b, u_d):
            np.testing.assert_allclose(ub, ud, rtol=TOL["dense_blocked_u"]["rtol"],
                                       atol=TOL["dense_blocked_u"]["atol"] * max(1.0, np.abs(ud).max()))


@pytest.mark.parametrize("rest", ["auto", "sparse", "product"])
@pytest.mark.parametrize("formula", SHAPES[:6])
def test_conditional_variances_through_the_blocked_factor(formula, rest, monkeypatch):
    d = engine_data(12, n_g=60)
    dense_fit = _fit(formula, d)
    assert type(dense_fit.devfun) is DenseDeviance
    monkeypatch.setattr(pls, "DENSE_MAX_Q", 0)
    _force(rest, monkeypatch)
    blocked_fit = _fit(formula, d, control={"optimizer": None, "start": list(dense_fit.theta)})
    assert type(blocked_fit.devfun) is Deviance
    for vb, vd in zip(conditional_variances(blocked_fit), conditional_variances(dense_fit)):
        np.testing.assert_allclose(vb, vd, **TOL["dense_blocked_vcov"], err_msg=formula)


def test_amalgamation_keeps_lme4s_terms_and_order():
    d = engine_data(13, n_g=60)
    m = _fit("y ~ x + (x || g) + (0 + z | h) + (1 | h)", d)
    blocks = amalgamate(m.terms)
    assert [t.group for t in m.terms] == ["g", "g", "h", "h"]
    assert [b.members for b in blocks] == [(0, 1), (2, 3)]
    assert [b.q for b in blocks] == [2, 2]
    # ranef comes out per term, in lme4's columns
    assert list(mc.ranef(m)["g"].columns) == ["(Intercept)", "x"]
    assert list(mc.ranef(m)["h"].columns) == ["z", "(Intercept)"]


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g) + (1 | g:b)", "y ~ x + (1 | g:b) + (x | g)",
                                     "y ~ x + (1 | g:b) + (x | g) + (1 | h)"])
def test_nested_shapes_take_the_sparse_path(formula, monkeypatch):
    """A term nested in the first leaves a (block-)diagonal Schur complement: above DENSE_REST_MAX
    columns it is factorised sparse, with the same criterion as the dense path -- also with a small
    crossed factor (h, 25 levels) as a dense border."""
    monkeypatch.setattr(schur, "DENSE_REST_MAX", 50)
    d = engine_data(14, n_g=60)
    m = _fit(formula, d, control={"optimizer": None})
    f = m.frame
    args = (m.terms, f.X, f.y, f.weights, f.offset, m.REML)
    blocked = Deviance(*args)
    assert blocked.later.sparse
    theta = np.full(len(m.theta), 0.7)
    np.testing.assert_allclose(blocked(theta), DenseDeviance(*args)(theta), **TOL["objective_at"])


def test_a_filling_crossing_pattern_stays_dense(monkeypatch):
    """Above DENSE_REST_MAX columns, the later blocks go sparse only when C has few entries per row (a
    random crossing with many per row fills the sparse factor in: dense LAPACK is faster there)."""
    monkeypatch.setattr(schur, "DENSE_REST_MAX", 50)
    rng = np.random.default_rng(3)
    a = np.repeat(np.arange(400), 6)
    b = np.concatenate([rng.choice(120, 6, replace=False) for _ in range(400)])
    d = pd.DataFrame({"y": rng.normal(size=len(a)), "a": [f"a{v}" for v in a], "b": [f"b{v}" for v in b]})
    m = _fit("y ~ 1 + (1 | a) + (1 | b)", d, control={"optimizer": None})
    later = Deviance(m.terms, m.frame.X, m.frame.y, None, None, True).later
    assert later.q == 120 and not later.sparse
