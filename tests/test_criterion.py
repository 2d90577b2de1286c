"""One home for lme4's profiled criterion: the formula, every evaluator against the general path,
the theta layout and the optimiser wrapper (mixedcompat.lme4.criterion / fast_kernels / pls,
front.reterms.ThetaLayout, numerics.optimizers)."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.front.reterms import ThetaLayout
from mixedcompat.lme4.criterion import ProfiledCriterion, deviance_at_sigma, profiled_criterion
from mixedcompat.lme4.fast_kernels import LeanCriterion, ResponseCriteria
from mixedcompat.lme4.pls import DenseDeviance, Deviance, make_deviance
from mixedcompat.numerics.optimizers import bobyqa

from helpers import TOL, quietly


def _sim(n_groups: int, per: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=len(g))
    z = rng.normal(size=len(g))
    b = rng.normal(size=(n_groups, 3)) * [1.0, 0.5, 0.3]
    y = 2.0 + x + b[g, 0] + b[g, 1] * x + b[g, 2] * z + rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": [f"g{i}" for i in g],
                         "w": rng.uniform(0.5, 2.0, len(g))})


@pytest.fixture(scope="module")
def models():
    sleep = mc.datasets.load("sleepstudy")
    big = _sim(450, 4)
    return {
        "sleep": mc.lmer("Reaction ~ Days + (Days | Subject)", sleep),
        "sleep_ml": mc.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False),
        "penicillin": mc.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mc.datasets.load("Penicillin")),
        "one_term_q3": quietly(mc.lmer, "y ~ x + (x + z | g)", _sim(30, 8), weights="w"),
        "blocked": quietly(mc.lmer, "y ~ x + (1 | g)", big),                  # q = 450 > DENSE_MAX_Q
        "blocked_two": quietly(mc.lmer, "y ~ x + (1 | g) + (0 + x | g)", big, REML=False),
    }


def _thetas(m, k=4, seed=3):
    rng = np.random.default_rng(seed)
    return [np.asarray(m.theta) * rng.uniform(0.3, 2.0, len(m.theta)) for _ in range(k)]


def test_the_formula_is_lme4s():
    """REML: ldL2 + ldRX2 + (n - p)(1 + log(2 pi pwrss / (n - p))); ML: ldRX2 ignored, n; weights
    subtract sum(log w); scalars, numpy scalars and arrays give the same value."""
    n, p = 20, 2
    ulps = TOL["criterion_formula"]["rtol"]
    reml = 2.0 + 1.0 + (n - p) * (1 + np.log(2 * np.pi * 50.0 / (n - p)))
    ml = 2.0 - 0.5 + n * (1 + np.log(2 * np.pi * 50.0 / n))
    assert profiled_criterion(2.0, 1.0, 50.0, n, p, True, 0.0) == pytest.approx(reml, rel=ulps)
    assert profiled_criterion(2.0, 1.0, 50.0, n, p, False, 0.5) == pytest.approx(ml, rel=ulps)
    assert profiled_criterion(2.0, 1.0, np.float64(50.0), n, p, True, 0.0) == pytest.approx(reml, rel=ulps)
    arr = profiled_criterion(np.array([2.0, 2.0]), np.array([1.0, 1.0]), np.array([50.0, 0.0]), n, p, True, 0.0)
    assert arr[0] == pytest.approx(reml, rel=ulps) and arr[1] == np.inf
    assert profiled_criterion(2.0, 1.0, 0.0, n, p, True, 0.0) == np.inf
    assert profiled_criterion(2.0, 1.0, float("nan"), n, p, True, 0.0) == np.inf
    # the deviance at sigma equals the profiled one at sigma^2 = pwrss / n
    assert deviance_at_sigma(2.0, 50.0, n, 50.0 / n, 0.5) == pytest.approx(ml, rel=TOL["deviance_at_sigma"]["rtol"])


def test_every_evaluator_is_a_profiled_criterion(models):
    for name, m in models.items():
        assert isinstance(m.devfun, ProfiledCriterion), name
        y = np.asarray(m.frame.y, dtype=float)
        rc = ResponseCriteria(m.devfun, m.frame.X, m.frame.weights, m.frame.offset, y, m.theta)
        fast = rc.for_response(y)
        if fast is not None:
            assert isinstance(fast, ProfiledCriterion), name


def test_model_paths(models):
    """The models above reach the paths they are meant to cover."""
    assert type(models["blocked"].devfun) is Deviance
    assert type(models["penicillin"].devfun) is DenseDeviance
    m = models["one_term_q3"]
    rc = ResponseCriteria(m.devfun, m.frame.X, m.frame.weights, m.frame.offset, m.frame.y, m.theta)
    assert rc.one_term and rc.kernel is None


def test_solution_equals_the_factor(models):
    """Deviance.solution (the interface's general path) is the factor's criterion, beta and pwrss."""
    for name, m in models.items():
        dev = m.devfun
        for theta in _thetas(m):
            crit, beta, pwrss = dev.solution(theta)
            f = dev.factor(theta)
            assert crit == dev.criterion_from_factor(f), name
            np.testing.assert_allclose(beta, dev.solve(f)[0], **TOL["same_computation_abs"], err_msg=name)
            assert pwrss == f.pwrss, name


def test_fast_criteria_equal_the_general_path(models):
    """Each fast criterion (kernels, dense LAPACK, one term with q > 2, blocked) equals the model's
    Deviance for the model's response and a new one, at arbitrary theta (1e-10 relative)."""
    rng = np.random.default_rng(5)
    for name, m in models.items():
        y0 = np.asarray(m.frame.y, dtype=float)
        rc = ResponseCriteria(m.devfun, m.frame.X, m.frame.weights, m.frame.offset, y0, m.theta)
        for y in (y0, y0 + rng.normal(scale=np.std(y0), size=len(y0))):
            fun = rc.for_response(y)
            dev = make_deviance(m.terms, m.frame.X, y, m.frame.weights, m.frame.offset, REML=m.REML)
            if fun is None:
                assert type(m.devfun) is Deviance and len(m.terms) > 1, name
                continue
            for theta in _thetas(m):
                f = dev.factor(theta)
                np.testing.assert_allclose(fun(theta), dev.criterion_from_factor(f), **TOL["fast_criterion"],
                                           err_msg=name)
                crit, beta, pwrss = fun.solution(theta)
                np.testing.assert_allclose(crit, dev.criterion_from_factor(f), **TOL["fast_criterion"], err_msg=name)
                np.testing.assert_allclose(beta, dev.solve(f)[0], **TOL["fast_criterion_beta"], err_msg=name)
                np.testing.assert_allclose(pwrss, f.pwrss, **TOL["fast_criterion_pwrss"], err_msg=name)


def test_lean_criterion_equals_the_ml_deviance(models):
    """Profiles' (ldL2, pwrss) evaluation, dense and blocked: the ML deviance of the factor."""
    for name, m in models.items():
        lean = LeanCriterion(m.devfun)
        assert lean.dense == isinstance(m.devfun, DenseDeviance), name
        for theta in _thetas(m):
            f = m.devfun.factor(theta)
            ldL2, pwrss = lean(theta)
            np.testing.assert_allclose([ldL2, pwrss], [f.ldL2, f.pwrss], **TOL["lean_criterion"], err_msg=name)
            np.testing.assert_allclose(lean.ml_deviance(theta), m.devfun.criterion_from_factor(f, REML=False),
                                       **TOL["lean_ml_deviance"], err_msg=name)


def test_batched_criteria_equal_the_single_ones(models):
    m = models["penicillin"]
    thetas = np.array(_thetas(m, 6))
    np.testing.assert_allclose(m.devfun.criteria(thetas), [m.devfun(t) for t in thetas], **TOL["batched_criteria"])


# ---- the theta layout ------------------------------------------------------------------------


def test_theta_layout(models):
    m = models["sleep"]
    lay = m.devfun.layout
    assert lay.names == ("Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days")
    assert list(m.getME("theta").index) == list(lay.names)
    assert lay.lower.tolist() == [0.0, -np.inf, 0.0] and lay.start.tolist() == [1.0, 0.0, 1.0]
    assert lay.column_partners == {0: [1], 2: []}
    assert lay.sdcor_names() == [".sig01", ".sig02", ".sig03", ".sigma"]
    assert lay.sdcor_names(False) == ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject",
                                      "sd_Days|Subject", "sigma"]
    assert not lay.lower.flags.writeable
    two = models["blocked_two"].devfun.layout
    assert two.slices == (slice(0, 1), slice(1, 2)) and two.column_partners == {0: [], 1: []}
    assert two.q_total == 900


def test_theta_layout_lambda_positions(models):
    """Lambda[rows, cols] = theta[idx] is lme4's Lambda (getME) for every model."""
    for name, m in models.items():
        lay = m.devfun.layout
        rows, cols, idx = lay.lambda_positions()
        lam = np.zeros((lay.q_total, lay.q_total))
        lam[rows, cols] = np.asarray(m.theta)[idx]
        np.testing.assert_array_equal(lam, m.getME("Lambda").toarray(), err_msg=name)
        for T, t, s in zip(lay.templates(np.asarray(m.theta)), m.terms, lay.slices):
            np.testing.assert_array_equal(T, t.template(np.asarray(m.theta)[s]), err_msg=name)


def test_theta_layout_pickles(models):
    lay = models["one_term_q3"].devfun.layout
    back = pickle.loads(pickle.dumps(lay))
    assert back.names == lay.names and back.column_partners == lay.column_partners
    np.testing.assert_array_equal(back.lower, lay.lower)
    assert ThetaLayout.of(list(back.terms)).names == lay.names


# ---- the optimiser wrapper -------------------------------------------------------------------


def test_bobyqa_box_and_wall():
    ctl = {"xtol_abs": 1e-10, "ftol_abs": 1e-12, "xtol_rel": 0.0, "maxeval": 2000}

    def fun(v):
        return np.inf if v[0] > 3.0 else float((v[0] - 2.0) ** 2 + (v[1] + 1.0) ** 2)

    x, f, n_eval, code = bobyqa(fun, np.array([5.0, 5.0]), np.array([0.0, -0.5]), ctl,
                                upper=np.array([2.5, 10.0]))
    np.testing.assert_allclose(x, [2.0, -0.5], **TOL["bobyqa_toy_x"])
    assert f == pytest.approx(0.25, abs=TOL["bobyqa_toy_f"]["atol"]) and n_eval > 0 and code > 0


def test_replicate_is_singular_reads_the_layout(models):
    """A replicate answers isSingular from the model's layout without completing the fit, and as the
    complete fit does."""
    from mixedcompat.inference.replicate_fit import Refitter
    m = models["sleep"]
    y = np.asarray(m.frame.y, dtype=float)
    for tol in (1e-4, 10.0):
        x = Refitter(m).fit(y)
        got = x.isSingular(tol)
        assert x.__dict__.get("_pending") is not None
        x.ranef()                                   # completes the fit
        assert got == x.isSingular(tol) == m.isSingular(tol)
    assert Refitter(m).fit(y).isSingular(10.0)      # theta[2] ~ 0.23 < 10
