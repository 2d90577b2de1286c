"""The compiled PIRLS kernel (mixedcompat/_native/glmm_pirls.c, loaded by mixedcompat.glmer.compiled)
against the numpy PIRLS it replaces in glmer's hot loop (mixedcompat.glmer.pirls, the reference):
the same objective, linear predictor, fixed effects and R_X on every family and link it takes, the
joint and u-only updates, one to three scalar terms (crossed, nested, a slope without intercept,
the halves of ``(x || g)``), prior weights and offsets; the same lme4 errors; the models it does not
take go to numpy.  Skipped where the kernel was not built (no C compiler at install time)."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.front.design import model_frame
from mixedcompat.front.formula import parse_formula
from mixedcompat.front.reterms import make_reterms
from mixedcompat.glm import families as fams
from mixedcompat.glmer import compiled
from mixedcompat.glmer.objective import GlmerObjective
from mixedcompat.glmer.pirls import GlmData, PirlsError, pirls
from mixedcompat.glmer.stages import _rx_vcov

from helpers import TOL

OBJ, STATE, RX = TOL["compiled_objective"], TOL["compiled_state"], TOL["compiled_rx"]

pytestmark = pytest.mark.skipif(not compiled.available(), reason="the compiled kernel was not built here")

FORMULAS = ["y ~ x + (1 | g)", "y ~ x + (1 | g) + (1 | h)", "y ~ x + (1 | g) + (1 | g:k)",
            "y ~ x + (1 | g) + (0 + x | h) + (1 | k)", "y ~ x + (x || g)", "y ~ 0 + x + (1 | h)"]

FAMILIES = [("binomial", "logit"), ("binomial", "cloglog"), ("binomial", "log"), ("poisson", "log"),
            ("poisson", "sqrt"), ("poisson", "identity"), ("Gamma", "log"), ("Gamma", "inverse"),
            ("inverse.gaussian", "1/mu^2"), ("inverse.gaussian", "log"), ("gaussian", "log"),
            ("negative.binomial", "log")]


def _family(name: str, link: str):
    if name == "negative.binomial":
        return fams.negative_binomial(2.5, link=link)
    if name == "inverse.gaussian":
        return fams.inverse_gaussian(link=link)
    return getattr(fams, name)(link=link)


def _data(name: str, link: str, formula: str, seed: int, weights: bool = False, offset: bool = False) -> GlmData:
    rng = np.random.default_rng(seed)
    n = 240
    g, h, k = rng.integers(0, 15, n), rng.integers(0, 6, n), rng.integers(0, 3, n)
    x = rng.normal(size=n)
    eta = 0.3 * x + rng.normal(0, 0.4, 15)[g] + rng.normal(0, 0.3, 6)[h]
    trials = rng.integers(1, 6, n).astype(float)
    if name == "binomial":
        p = np.clip(1 / (1 + np.exp(-(eta - 1.0))), 0.02, 0.98)
        y = rng.binomial(trials.astype(int), p) / trials
    elif name in ("poisson", "negative.binomial"):
        y = rng.poisson(np.exp(1.0 + eta)).astype(float)
    elif name == "gaussian":
        y = np.exp(1.0 + eta) + rng.normal(0, 0.2, n)
    else:
        y = rng.gamma(4.0, np.exp(0.5 + 0.3 * eta) / 4.0)
    d = pd.DataFrame({"y": y, "x": x, "g": [f"g{v:02d}" for v in g], "h": [f"h{v}" for v in h],
                      "k": [f"k{v}" for v in k]})
    parts = parse_formula(formula)
    fr = model_frame(parts, d)
    terms = make_reterms(parts.re_terms, fr.re_X, fr.re_groups, n)
    w = trials if (name == "binomial" or weights) else np.ones(n)
    ntr = trials if name == "binomial" else np.ones(n)
    off = rng.normal(0, 0.2, n) if offset else np.zeros(n)
    return GlmData(terms, fr.X, fr.y, w, ntr, off, _family(name, link))


def _start(data: GlmData) -> np.ndarray:
    fam = data.family
    y = data.y
    if fam.kind == "binomial":
        mu = (data.weights * y + 0.5) / (data.weights + 1.0)
    else:
        mu = np.maximum(y, 0.1)
    return data.offset + fam.linkfun(mu)


@pytest.mark.parametrize("fam,link", FAMILIES, ids=[f"{f}-{lk}" for f, lk in FAMILIES])
@pytest.mark.parametrize("formula", FORMULAS)
def test_kernel_is_numpy_pirls(fam, link, formula):
    data = _data(fam, link, formula, seed=len(formula) + len(fam), offset=(fam == "poisson"),
                 weights=(fam == "Gamma"))
    kernel = compiled.compiled_objective(data)
    assert kernel is not None
    n_theta = len(data.terms)
    rng = np.random.default_rng(7)
    eta0 = _start(data)
    for theta in (np.full(n_theta, 0.6), rng.uniform(0.2, 1.5, n_theta)):
        # joint update (nAGQ = 0, stage 1); where numpy's PIRLS fails, the kernel fails in the same words
        try:
            r = pirls(data, theta, eta0, data.offset, joint=True)
        except PirlsError as err:
            assert _errors(lambda: kernel.run(theta, None, True, data.offset, eta0, 1e-7, 100)) == str(err)
            continue
        st = kernel.run(theta, None, True, data.offset, eta0, 1e-7, 100)
        obj = GlmerObjective(data, eta0 - data.offset, 0, compiled=False)
        assert st.value == pytest.approx(obj(theta), rel=OBJ["rtol"], abs=OBJ["atol"])
        assert st.iterations == r.iterations
        np.testing.assert_allclose(st.eta, r.eta, **STATE)
        if data.p:
            np.testing.assert_allclose(st.beta, r.beta, **STATE)
            np.testing.assert_allclose(_rx_vcov(st.RXt), r.system.beta_vcov_unscaled(r.factor), **RX)
        # u-only update (stage 2) at beta
        beta = r.beta + 0.05
        off = data.offset + data.X @ beta
        obj1 = GlmerObjective(data, r.eta - data.offset, 1, compiled=False)
        v = kernel.value(theta, beta, False, data.offset, r.eta, 1e-7, 100)
        assert v == pytest.approx(obj1(np.concatenate([theta, beta])), rel=OBJ["rtol"], abs=OBJ["atol"])
        r1 = pirls(data, theta, r.eta, off, joint=False)
        assert kernel._out[5] == r1.iterations


def test_objective_uses_kernel_and_agrees():
    data = _data("binomial", "logit", "y ~ x + (1 | g) + (1 | h)", seed=3)
    a = GlmerObjective(data, _start(data) - data.offset, 1)
    b = GlmerObjective(data, _start(data) - data.offset, 1, compiled=False)
    assert a.compiled is not None and b.compiled is None
    for pars in ([0.5, 0.4, -0.2, 0.3], [1.2, 0.1, 0.4, -0.1]):
        assert a(np.array(pars)) == pytest.approx(b(np.array(pars)), rel=OBJ["rtol"], abs=OBJ["atol"])
    # the state: the kernel's u, beta, eta and the numpy system at its last working weights
    for nagq, pars in ((1, np.array([0.5, 0.4, -0.2, 0.3])), (0, np.array([0.7, 0.3]))):
        ka = GlmerObjective(data, _start(data) - data.offset, nagq)
        kb = GlmerObjective(data, _start(data) - data.offset, nagq, compiled=False)
        (va, ra), (vb, rb) = ka.evaluate(pars), kb.evaluate(pars)
        assert va == pytest.approx(vb, rel=OBJ["rtol"], abs=OBJ["atol"])
        assert ra.iterations == rb.iterations and ra.ldL2 == pytest.approx(rb.ldL2, rel=OBJ["rtol"])
        if nagq == 0:
            np.testing.assert_allclose(ra.beta, rb.beta, **STATE)
        for x, y in [(ra.eta, rb.eta), (ra.work_weights, rb.work_weights),
                     (np.concatenate(ra.u), np.concatenate(rb.u))]:
            np.testing.assert_allclose(x, y, **STATE)
        if nagq == 0:
            np.testing.assert_allclose(ra.system.beta_vcov_unscaled(ra.factor),
                                       rb.system.beta_vcov_unscaled(rb.factor), **RX)
    # copies and pickles rebuild the kernel's buffers
    for c in (copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert c.compiled is not None and c.compiled is not a.compiled
        assert c(np.array([0.5, 0.4, -0.2, 0.3])) == a(np.array([0.5, 0.4, -0.2, 0.3]))


def test_models_the_kernel_does_not_take():
    vec = _data("binomial", "logit", "y ~ x + (x | g)", seed=1)
    assert compiled.compiled_objective(vec) is None                    # a vector term
    probit = _data("binomial", "probit", "y ~ x + (1 | g)", seed=1)
    assert compiled.compiled_objective(probit) is None                 # R's pnorm stays in numpy
    agq = _data("binomial", "logit", "y ~ x + (1 | g)", seed=1)
    assert GlmerObjective(agq, _start(agq) - agq.offset, 5).compiled is None      # quadrature


def test_dense_limits(monkeypatch):
    data = _data("poisson", "log", "y ~ x + (1 | g) + (1 | h)", seed=2)
    monkeypatch.setattr(compiled, "MAX_DENSE", 4)
    assert compiled._model(data) is None
    monkeypatch.setattr(compiled, "MAX_DENSE", 2000)
    monkeypatch.setattr(compiled, "MAX_SCHUR_WORK", 10.0)
    assert compiled._model(data) is None


def _errors(fn) -> str:
    with pytest.raises(PirlsError) as info:
        fn()
    return str(info.value)


def test_lme4_errors_as_numpy():
    data = _data("poisson", "identity", "y ~ x + (1 | g)", seed=5)
    kernel = compiled.compiled_objective(data)
    bad = np.full(data.n, -1.0)                       # identity link, negative means: lme4's NaN
    theta = np.array([0.5])
    a = _errors(lambda: kernel.run(theta, None, True, data.offset, bad, 1e-7, 100))
    b = _errors(lambda: pirls(data, theta, bad, data.offset, joint=True))
    assert a == b == "PIRLS loop resulted in NaN value"
    data = _data("poisson", "log", "y ~ x + (1 | g)", seed=5)
    kernel = compiled.compiled_objective(data)
    eta0 = _start(data)
    a = _errors(lambda: kernel.run(theta, None, True, data.offset, eta0, 1e-7, 1))
    b = _errors(lambda: pirls(data, theta, eta0, data.offset, joint=True, maxit=1))
    assert a == b == "pwrssUpdate did not converge in (maxit) iterations"


def test_rank_deficient_fixed_effects_give_lme4s_rx_message():
    data = _data("binomial", "logit", "y ~ x + (1 | g)", seed=4)
    X = np.column_stack([data.X, data.X[:, 1]])
    twin = GlmData(data.terms, X, data.y, data.weights, data.n_trials, data.offset, data.family)
    kernel = compiled.compiled_objective(twin)
    msg = _errors(lambda: kernel.run(np.array([0.5]), None, True, twin.offset, _start(twin), 1e-7, 100))
    assert msg == "Downdated VtV is not positive definite"


def test_fit_with_and_without_kernel(monkeypatch):
    d = mc.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    a = mc.glmer(f, d, family="binomial")
    monkeypatch.setattr(compiled, "_KERNEL", None)
    b = mc.glmer(f, d, family="binomial")
    # the two optimisers' paths may part at rounding level: the same optimum to lme4's stopping noise
    assert float(a.logLik()) == pytest.approx(float(b.logLik()), rel=TOL["criterion_above"]["rtol"])
    se = np.sqrt(np.diag(np.asarray(b.vcov())))
    assert np.max(np.abs(a.beta - b.beta) / se) <= TOL["glmer_beta"]["atol"]
    assert np.max(np.abs(a.theta - b.theta)) <= TOL["glmer_theta"]["atol"]
