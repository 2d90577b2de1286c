"""The analytic gradient of the profiled criterion (mixedcompat.lme4.gradient) and the optional
gradient optimiser (``control={"optimizer": "gradient"}``, issue 11 item 3).

The gradient is checked against central differences of the criterion at random interior theta on
many random-effects shapes, REML and ML, weighted or not, for the dense engine and the blocked one
(dense, sparse and pattern-less Schur complements of the later blocks), and at boundary points
(a zero template diagonal: finite differences for that term).  The optimiser must reach BOBYQA's
criterion or a lower one."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.lme4 import pls, schur
from mixedcompat.lme4.gradient import criterion_gradient
from mixedcompat.lme4.pls import DenseDeviance, Deviance
from mixedcompat.numerics.threads import blas_threads

from helpers import TOL, engine_data


SHAPES = [
    "y ~ x + (1 | g)",                                    # one term, q = 1
    "y ~ x + (x | g)",                                    # q = 2
    "y ~ x + (x + x3 | g)",                               # q = 3
    "y ~ x + (x || g)",                                   # two terms on one factor
    "y ~ x + (1 | g) + (1 | h)",                          # crossed
    "y ~ x + (1 | g) + (1 | h) + (1 | k)",                # partially crossed
    "y ~ x + (x | g) + (1 | g:b)",                        # nested
    "y ~ x + (1 | g:b) + (x | g)",                        # a later block with a 2x2 template
    "y ~ x + (x || g) + (1 | g:b) + (z | h)",
    "y ~ 0 + (1 | g) + (1 | g:b)",                        # no fixed effects
]


def _devfun(formula: str, d: pd.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer(formula, d, control={"optimizer": None}, **kw).devfun


def _central(devfun, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    out = np.empty(len(theta))
    for i in range(len(theta)):
        e = np.zeros(len(theta))
        e[i] = h * max(1.0, abs(theta[i]))
        out[i] = (devfun(theta + e) - devfun(theta - e)) / (2 * e[i])
    return out


def _random_theta(devfun, rng) -> np.ndarray:
    lower = devfun.layout.lower
    th = rng.normal(0.0, 0.4, devfun.n_theta)
    diag = np.isfinite(lower)
    th[diag] = rng.uniform(0.3, 1.5, diag.sum())
    return th


def _check(devfun, theta: np.ndarray) -> None:
    with blas_threads(1):        # small dense factors: threads only contend on a shared machine
        value, grad = criterion_gradient(devfun, theta)
        assert value == devfun(theta)
        fd = _central(devfun, theta)
    scale = max(1.0, float(np.max(np.abs(fd))))
    np.testing.assert_allclose(grad, fd, rtol=0, atol=TOL["gradient_fd"]["rtol"] * scale)


@pytest.mark.parametrize("engine", ["dense", "blocked"])
@pytest.mark.parametrize("REML", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("formula", SHAPES)
def test_gradient_matches_central_differences(formula, weighted, REML, engine, monkeypatch):
    if engine == "blocked":
        monkeypatch.setattr(pls, "DENSE_MAX_Q", 0)
    d = engine_data(3, n_g=20, per=10)
    devfun = _devfun(formula, d, REML=REML, weights="w" if weighted else None)
    assert isinstance(devfun, DenseDeviance) == (engine == "dense")
    rng = np.random.default_rng(abs(hash((formula, weighted, REML))) % 2**32)
    for _ in range(2):
        _check(devfun, _random_theta(devfun, rng))


@pytest.mark.parametrize("path", ["sparse", "no_pattern"])
@pytest.mark.parametrize("formula", ["y ~ x + (1 | g) + (1 | h) + (1 | k)", "y ~ x + (1 | g:b) + (x | g)",
                                     "y ~ x + (x || g) + (1 | g:b) + (z | h)"])
def test_gradient_on_the_other_schur_paths(formula, path, monkeypatch):
    """The later blocks' Schur complement factorised sparse (SuperLU), or dense without the pair
    pattern (fill-in as a sparse product)."""
    monkeypatch.setattr(pls, "DENSE_MAX_Q", 0)
    if path == "sparse":
        monkeypatch.setattr(schur, "DENSE_REST_MAX", 0)
        monkeypatch.setattr(schur, "SPARSE_MAX_ROW_NNZ", float("inf"))
    else:
        monkeypatch.setattr(schur.GramPattern, "MAX_ENTRIES", 0)
    d = engine_data(5)
    devfun = _devfun(formula, d, REML=True, weights="w")
    assert devfun.later is not None
    assert devfun.later.sparse == (path == "sparse")
    assert (devfun.later.gram is None) == (path == "no_pattern")
    rng = np.random.default_rng(11)
    for _ in range(2):
        _check(devfun, _random_theta(devfun, rng))


def test_gradient_on_a_large_sparse_later_block():
    """A nested design whose later block has more than DENSE_REST_MAX levels: the sparse path by default."""
    d = engine_data(7, n_g=260, per=6)
    devfun = _devfun("y ~ x + (1 | g) + (1 | g:b)", d)
    assert isinstance(devfun, Deviance) and devfun.later.sparse
    _check(devfun, np.array([0.8, 0.6]))


@pytest.mark.parametrize("engine", ["dense", "blocked"])
@pytest.mark.parametrize("formula, theta", [
    ("y ~ x + (1 | g) + (1 | h)", [0.0, 0.7]),            # a q = 1 term on its bound
    ("y ~ x + (x | g) + (1 | h)", [0.9, 0.2, 0.0, 0.5]),   # a 2x2 template with a zero diagonal
    ("y ~ x + (x | g) + (1 | h)", [0.0, 0.3, 0.4, 0.0]),
    ("y ~ x + (x | g) + (1 | h)", [0.9, 0.2, 1e-6, 0.5]),  # near the bound: the exact formula
])
def test_gradient_at_and_near_the_boundary(formula, theta, engine, monkeypatch):
    """A singular template's entries by differences, the others exact; against Richardson-extrapolated
    central differences with another step (the criterion is smooth across the bounds)."""
    if engine == "blocked":
        monkeypatch.setattr(pls, "DENSE_MAX_Q", 0)
    devfun = _devfun(formula, engine_data(9))
    theta = np.asarray(theta, dtype=float)
    with blas_threads(1):
        value, grad = criterion_gradient(devfun, theta)
        fd = np.empty(len(theta))
        for i in range(len(theta)):
            e = np.zeros(len(theta))
            e[i] = 3e-5

            def central(step):
                return (devfun(theta + step) - devfun(theta - step)) / (2 * step[i])
            fd[i] = (4 * central(e / 2) - central(e)) / 3
        assert value == devfun(theta)      # same thread count: the last bit can depend on it
    scale = max(1.0, float(np.max(np.abs(fd))))
    np.testing.assert_allclose(grad, fd, rtol=0, atol=TOL["gradient_fd_boundary"]["rtol"] * scale)


def test_gradient_is_zero_at_the_optimum():
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"),
                control={"optimizer": "gradient"})
    value, grad = criterion_gradient(m.devfun, m.theta)
    assert value == m.criterion
    assert np.max(np.abs(grad)) < 1e-3


def test_gradient_where_the_factor_fails():
    devfun = _devfun("y ~ x + (1 | g)", engine_data(1))
    value, grad = criterion_gradient(devfun, np.array([np.nan]))
    assert not np.isfinite(value) and np.all(np.isnan(grad))


# ------------------------------------------------------------------------------ the optimiser
def _sim_crossed(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_s, n_i = 120, 40
    s = rng.integers(0, n_s, 3000)
    i = rng.integers(0, n_i, 3000)
    t = rng.normal(size=3000)
    us = rng.normal(size=(n_s, 2)) * [0.8, 0.3]
    y = 2 + 0.5 * t + us[s, 0] + us[s, 1] * t + rng.normal(0, 0.5, n_i)[i] + rng.normal(size=3000)
    return pd.DataFrame({"y": y, "t": t, "subj": [f"s{v:03d}" for v in s], "item": [f"i{v:02d}" for v in i]})


def _sim_nested(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(60), 40)
    klass = school * 4 + rng.integers(0, 4, len(school))
    x = rng.normal(size=len(school))
    y = 1 + 0.3 * x + rng.normal(0, 0.7, 60)[school] + rng.normal(0, 0.4, 240)[klass] + rng.normal(size=len(school))
    return pd.DataFrame({"y": y, "x": x, "school": [f"S{v:02d}" for v in school],
                         "class": [f"c{v % 4}" for v in klass]})


def _sim_singular(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 10)
    h = rng.integers(0, 12, len(g))
    x = rng.normal(size=len(g))
    y = 1 + x + rng.normal(0, 0.8, 30)[g] + rng.normal(size=len(g))       # no variance between levels of h
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{v:02d}" for v in g], "h": [f"h{v:02d}" for v in h]})


OPT_CASES = [
    ("Reaction ~ Days + (Days | Subject)", lambda: mc.datasets.load("sleepstudy"), True),
    ("Reaction ~ Days + (Days | Subject)", lambda: mc.datasets.load("sleepstudy"), False),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", lambda: mc.datasets.load("Penicillin"), True),
    ("y ~ t + (1 + t | subj) + (1 | item)", lambda: _sim_crossed(1), True),
    ("y ~ x + (1 | school) + (1 | school:class)", lambda: _sim_nested(2), False),
    ("y ~ x + (1 | g) + (1 | h)", lambda: _sim_singular(4), True),         # singular (theta_h = 0)
    ("Yield ~ 1 + (1 | Batch)", lambda: mc.datasets.load("Dyestuff2"), True),  # singular (theta = 0)
]


def _lmer(formula, d, REML, control):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer(formula, d, REML=REML, control=control)


@pytest.mark.parametrize("calc_derivs", [True, False])
@pytest.mark.parametrize("formula, data, REML", OPT_CASES)
def test_gradient_optimiser_reaches_bobyqa_criterion_or_lower(formula, data, REML, calc_derivs):
    d = data()
    ref = _lmer(formula, d, REML, {"calc_derivs": calc_derivs})
    m = _lmer(formula, d, REML, {"calc_derivs": calc_derivs, "optimizer": "gradient"})
    assert m.optinfo["optimizer"] == "gradient" and ref.optinfo["optimizer"] == "nloptwrap"
    assert m.optinfo["feval"] > 0 and m.optinfo["conv_code"] == 0
    assert m.criterion <= ref.criterion + TOL["criterion_above"]["rtol"] * abs(ref.criterion)
    np.testing.assert_allclose(m.theta, ref.theta, atol=1e-3)


@pytest.mark.parametrize("formula, data", [("y ~ x + (1 | g) + (1 | h)", lambda: _sim_singular(4)),
                                           ("Yield ~ 1 + (1 | Batch)", lambda: mc.datasets.load("Dyestuff2"))])
def test_gradient_optimiser_on_singular_fits(formula, data):
    """The boundary optimum exactly (theta on its bound, singular), as BOBYQA's path reports it."""
    m = _lmer(formula, data(), True, {"optimizer": "gradient"})
    assert m.theta[-1] == 0.0 and mc.isSingular(m)


def test_gradient_optimiser_takes_fewer_evaluations_on_a_crossed_model():
    d = _sim_crossed(1)
    ref = _lmer("y ~ t + (1 + t | subj) + (1 | item)", d, True, {"calc_derivs": False})
    m = _lmer("y ~ t + (1 + t | subj) + (1 | item)", d, True, {"calc_derivs": False, "optimizer": "gradient"})
    assert m.optinfo["feval"] < ref.optinfo["feval"]


def test_default_optimiser_is_lme4s_bobyqa_unchanged():
    d = mc.datasets.load("sleepstudy")
    a = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    b = mc.lmer("Reaction ~ Days + (Days | Subject)", d, control={"optimizer": "nloptwrap"})
    assert a.optinfo["optimizer"] == "nloptwrap"
    assert a.theta.tobytes() == b.theta.tobytes() and a.optinfo["feval"] == b.optinfo["feval"]


def test_gradient_on_a_sparse_non_diagonal_later_block():
    """Partially crossed later factors with more than DENSE_REST_MAX levels in all: the sparse
    path with chunked solves (C not diagonal)."""
    rng = np.random.default_rng(12)
    n = 4000
    a = rng.integers(0, 1000, n)
    b = (a // 4 + rng.integers(0, 2, n)) % 250                # each level of a meets one or two of b
    x = rng.normal(size=n)
    y = x + rng.normal(0, 0.6, 1000)[a] + rng.normal(0, 0.5, 250)[b] + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x": x, "a": [f"a{v}" for v in a], "b": [f"b{v}" for v in b]})
    devfun = _devfun("y ~ x + (1 | a) + (1 | b)", d)
    assert devfun.later.sparse and not np.array_equal(devfun.later.key_rows, devfun.later.key_cols)
    _check(devfun, np.array([0.7, 0.5]))


def test_gradient_optimiser_respects_maxeval():
    d = mc.datasets.load("sleepstudy")
    with pytest.warns(mc.ConvergenceWarning, match="convergence code 5 from gradient"):
        m = mc.lmer("Reaction ~ Days + (Days | Subject)", d,
                    control={"optimizer": "gradient", "maxeval": 5, "calc_derivs": False})
    assert m.optinfo["conv_code"] == 5
