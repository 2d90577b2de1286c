"""PIRLS at fixed parameters (mixedcompat.glmer.pirls): the converged state solves the penalised
score equations, the joint and u-only updates agree where they must, and lme4's failures are raised
in lme4's words."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedcompat.front.design import model_frame
from mixedcompat.front.formula import parse_formula
from mixedcompat.front.reterms import make_reterms
from mixedcompat.glm.families import binomial, poisson
from mixedcompat.glmer.pirls import GlmData, PirlsError, pirls, random_predictor


def _data(family, seed: int = 1, formula: str = "y ~ x + (1 | g) + (x | h)") -> GlmData:
    rng = np.random.default_rng(seed)
    n = 300
    g = rng.integers(0, 12, n)
    h = rng.integers(0, 7, n)
    x = rng.normal(size=n)
    eta = 0.2 + 0.5 * x + rng.normal(0, 0.8, 12)[g] + rng.normal(0, 0.5, 7)[h]
    if family.family == "binomial":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    d = pd.DataFrame({"y": y, "x": x, "g": [f"g{v}" for v in g], "h": [f"h{v}" for v in h]})
    parts = parse_formula(formula)
    fr = model_frame(parts, d)
    terms = make_reterms(parts.re_terms, fr.re_X, fr.re_groups, n)
    return GlmData(terms, fr.X, fr.y, np.ones(n), np.ones(n), np.zeros(n), family)


def _penalised_score(data: GlmData, theta: np.ndarray, r, beta: np.ndarray | None) -> np.ndarray:
    """Gradient of 0.5 * (sum of deviance residuals + ||u||^2) in u (and beta), numerically."""
    fam = data.family
    T = [t.template(theta[s]) for t, s in zip(data.terms, _slices(data))]
    u0 = np.concatenate(r.u)
    sizes = np.cumsum([0] + [t.n_levels * t.q for t in data.terms])

    def pdev(v: np.ndarray, b: np.ndarray) -> float:
        u = [v[sizes[k]:sizes[k + 1]] for k in range(len(data.terms))]
        eta = data.offset + data.X @ b + random_predictor(data.terms, T, u)
        return float(np.sum(data.deviance_residuals(fam.linkinv(eta))) + v @ v)

    b0 = r.beta if beta is None else beta
    h = 1e-6
    grad = [(pdev(u0 + h * e, b0) - pdev(u0 - h * e, b0)) / (2 * h) for e in np.eye(len(u0))]
    if beta is None:
        grad += [(pdev(u0, b0 + h * e) - pdev(u0, b0 - h * e)) / (2 * h) for e in np.eye(len(b0))]
    return np.array(grad)


def _slices(data: GlmData) -> list[slice]:
    out, at = [], 0
    for t in data.terms:
        out.append(slice(at, at + t.n_theta))
        at += t.n_theta
    return out


@pytest.mark.parametrize("family", [binomial(), poisson()], ids=["binomial", "poisson"])
@pytest.mark.parametrize("joint", [True, False])
def test_converged_pirls_solves_the_penalised_score_equations(family, joint):
    data = _data(family)
    theta = np.array([0.7, 0.4, 0.1, 0.3])
    beta = np.array([0.1, 0.4])
    off = data.offset if joint else data.offset + data.X @ beta
    eta0 = data.offset + family.linkfun(family.initialize(data.y, data.weights).mustart)
    r = pirls(data, theta, eta0, off, joint=joint, tol=1e-13, maxit=200)
    score = _penalised_score(data, theta, r, None if joint else beta)
    assert np.max(np.abs(score)) < 1e-5
    # the joint update at the joint optimum's beta gives the same u with beta fixed
    if joint:
        r_u = pirls(data, theta, eta0, data.offset + data.X @ r.beta, joint=False, tol=1e-13, maxit=200)
        for a, b in zip(r.u, r_u.u):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_pirls_failures_are_lme4s():
    data = _data(binomial())
    theta = np.array([0.7, 0.4, 0.1, 0.3])
    eta0 = np.zeros(data.n)
    with pytest.raises(PirlsError, match=r"^pwrssUpdate did not converge in \(maxit\) iterations$"):
        pirls(data, theta, eta0, data.offset, joint=True, maxit=1)

    class NaNBinomial:
        family = "binomial"

        def __getattr__(self, name):
            return getattr(binomial(), name)

        def dev_resids(self, y, mu, wt):
            return np.full_like(mu, np.nan)

    bad = GlmData(data.terms, data.X, data.y, data.weights, data.n_trials, data.offset, NaNBinomial())
    with pytest.raises(PirlsError, match=r"^PIRLS loop resulted in NaN value$"):
        pirls(bad, theta, eta0, bad.offset, joint=True)


def test_ranova_refuses_a_glmer_fit_in_lmertests_words():
    import mixedcompat as mc
    m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mc.datasets.load("cbpp"),
                 family="binomial")
    with pytest.raises(mc.DataError, match=r"'model' should be an lmer-fit"):
        mc.ranova(m)
