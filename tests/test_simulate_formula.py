"""lme4's ``simulate.formula`` (``mc.simulate(formula, newdata=, newparams=, family=)``).

R's random numbers cannot be matched, so the law is tested: (a) the deterministic parts against lme4
1.1-31 (tests/fixtures/gen_lme4_modular.R: X, Zt, Lambda(theta), X beta, the implied covariance of y);
(b) the moments of many simulations against the theoretical ones from ``newparams`` (tests that fail
for a wrong sigma or theta: each checks its own power); (c) seed reproducibility; (d) lme4's errors.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.lme4.simulate_formula import MISSING_PARAMS_WARNING, simulation_model
from helpers import TOL, assert_close, fixture_paths, load_fixture

CASES = {p.stem[len("simulate_"):]: p for p in fixture_paths("lme4_modular") if p.stem.startswith("simulate_")}
Z_LIMIT = 5.0
"""A simulated moment may be this many standard errors from its expectation (a false alarm has
probability ~6e-7 per moment)."""


def _case(name: str) -> tuple[dict, pd.DataFrame]:
    fx = load_fixture(CASES[name])
    nd = pd.DataFrame(fx["newdata"])
    for c, levels in fx["newdata_levels"].items():
        nd[c] = pd.Categorical(nd[c], categories=levels)
    return fx, nd


def _params(fx: dict) -> dict:
    return {k: (v[0] if k == "sigma" else v) for k, v in fx["newparams"].items()}


def _dense(spec: dict) -> np.ndarray:
    return np.asarray(spec["values"], dtype=float).reshape(spec["dim"], order="F")


# ------------------------------------------------------------------------- (a) the deterministic parts
@pytest.mark.parametrize("name", sorted(CASES))
def test_deterministic_parts_are_lme4s(name):
    fx, nd = _case(name)
    sm = simulation_model(fx["formula"], nd, _params(fx), family=fx["family"])
    tol = TOL["model_matrix"]
    assert list(sm.lf.frame.x_names) == fx["X"]["colnames"] == fx["beta_names"]
    assert_close(sm.lf.frame.X.ravel(order="F"), fx["X"]["values"], "X", **tol)
    assert_close(sm.lf.reTrms["Zt"].toarray(), _dense(fx["Zt"]), "Zt", **tol)
    assert sm.lf.reTrms["Lind"].tolist() == fx["Lind"]
    assert_close(sm.Lambdat.toarray(), _dense(fx["Lambdat"]), "Lambdat at theta", **tol)
    assert list(sm.layout.names) == fx["theta_names"]
    assert_close(sm.eta0, fx["Xbeta"], "X beta", **tol)
    if "cov_y" in fx:
        assert_close(sm.cov_y(), _dense(fx["cov_y"]), "cov(y)", **tol)


# ------------------------------------------------------------------------------------- (b) the moments
def _z_mean(sims: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    return (sims.mean(axis=1) - mean) / np.sqrt(var / sims.shape[1])


def _z_cov(sims: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(sample covariance - cov) in standard errors of a sample covariance of normal variables:
    ``sqrt((S_ii S_jj + S_ij^2) / nsim)``."""
    n = sims.shape[1]
    s = np.cov(sims)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / n)
    return (s - cov) / se


@pytest.mark.parametrize("name", ["gauss_slope", "gauss_crossed"])
def test_gaussian_moments(name):
    fx, nd = _case(name)
    params = _params(fx)
    sims = mc.simulate(fx["formula"], newdata=nd, newparams=params, nsim=4000, seed=11).to_numpy()
    mean, cov = np.asarray(fx["Xbeta"]), _dense(fx["cov_y"])
    assert np.max(np.abs(_z_mean(sims, mean, np.diag(cov)))) < Z_LIMIT
    assert np.max(np.abs(_z_cov(sims, cov))) < Z_LIMIT
    # the test's power: the same draws against a model with sigma 15% off, or without random effects
    wrong = _dense(fx["cov_y"]) * 1.15 ** 2
    assert np.max(np.abs(_z_cov(sims, wrong))) > Z_LIMIT
    no_re = params["sigma"] ** 2 * np.eye(len(mean))
    assert np.max(np.abs(_z_cov(sims, no_re))) > Z_LIMIT


def _expit_normal_moments(eta: np.ndarray, sd: float) -> tuple[np.ndarray, np.ndarray]:
    """E[expit(eta + b)] and E[expit(eta_i + b) expit(eta_j + b)] for b ~ N(0, sd^2) (Gauss-Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    p = 1.0 / (1.0 + np.exp(-(eta[:, None] + sd * x[None, :])))
    return p @ w, (p * w) @ p.T


def test_binomial_moments():
    fx, nd = _case("binom_intercept")
    params = _params(fx)
    sims = mc.simulate(fx["formula"], newdata=nd, newparams=params, family="binomial", nsim=6000,
                       seed=5).to_numpy()
    assert set(np.unique(sims)) <= {0.0, 1.0}
    eta = np.asarray(fx["Xbeta"])
    mean, second = _expit_normal_moments(eta, params["theta"][0])
    var = mean * (1 - mean)
    assert np.max(np.abs(_z_mean(sims, mean, var))) < Z_LIMIT
    # two rows of one group share b: their covariance is E[p_i p_j] - E p_i E p_j (> 0); other pairs 0
    g = nd["g"].cat.codes.to_numpy()
    same = (g[:, None] == g[None, :]) & ~np.eye(len(g), dtype=bool)
    cov = np.where(same, second - np.outer(mean, mean), 0.0)
    np.fill_diagonal(cov, var)
    assert np.max(np.abs(_z_cov(sims, cov))) < Z_LIMIT
    # power: without the random effect (theta = 0) the within-group covariance is 0
    assert np.max(np.abs(_z_cov(sims, np.diag(var)))) > Z_LIMIT


def test_binomial_trials_and_poisson():
    d = pd.DataFrame({"g": pd.Categorical(np.repeat(list("abcdefgh"), 4)), "x": np.tile([0.0, 1, 2, 3], 8)})
    sims = mc.simulate("~ x + (1 | g)", newdata=d, newparams={"theta": [0.5], "beta": [-1.0, 0.4]},
                       family=mc.family.binomial(), weights=np.full(32, 10.0), nsim=3000, seed=2).to_numpy()
    assert np.allclose(sims * 10, np.round(sims * 10))           # proportions of 10 trials, as lme4
    mean, _ = _expit_normal_moments(-1.0 + 0.4 * d["x"].to_numpy(), 0.5)
    m2 = _expit_normal_moments(-1.0 + 0.4 * d["x"].to_numpy(), 0.5)[1].diagonal()
    var = (mean * (1 - mean)) / 10 + (m2 - mean ** 2) * 0.9       # Var of a proportion of 10 trials with random p
    assert np.max(np.abs(_z_mean(sims, mean, var))) < Z_LIMIT
    pois = mc.simulate("~ x + (1 | g)", newdata=d, newparams={"theta": [0.3], "beta": [0.5, 0.2]},
                       family="poisson", nsim=3000, seed=3).to_numpy()
    eta = 0.5 + 0.2 * d["x"].to_numpy()
    mu = np.exp(eta + 0.3 ** 2 / 2)                                # E[exp(eta + b)], b ~ N(0, 0.09)
    var_mu = np.exp(2 * eta) * (np.exp(2 * 0.09) - np.exp(0.09))
    assert np.max(np.abs(_z_mean(pois, mu, mu + var_mu))) < Z_LIMIT


def test_use_u_and_re_form():
    """``use_u=True`` (R's re.form = NULL): the random effects are their (zero) modes, y = X beta + e;
    a term named in ``re_form`` is kept at 0, the others drawn."""
    fx, nd = _case("gauss_crossed")
    params = _params(fx)
    sims = mc.simulate(fx["formula"], newdata=nd, newparams=params, nsim=3000, seed=4, use_u=True).to_numpy()
    assert np.max(np.abs(_z_cov(sims, params["sigma"] ** 2 * np.eye(len(nd))))) < Z_LIMIT
    kept = mc.simulate(fx["formula"], newdata=nd, newparams=params, nsim=3000, seed=4,
                       re_form="~ (1 | g)").to_numpy()
    sm = simulation_model(fx["formula"], nd, params)
    h = sm.lf.terms[[t.group for t in sm.lf.terms].index("h")]
    th = params["theta"][list(sm.layout.names).index("h.(Intercept)")]
    zh = h.Z().toarray()
    cov_h = params["sigma"] ** 2 * (th ** 2 * zh @ zh.T + np.eye(len(nd)))
    assert np.max(np.abs(_z_cov(kept, cov_h))) < Z_LIMIT
    with pytest.raises(mc.FormulaError, match="does not have: \\(1 \\| k\\)"):
        mc.simulate(fx["formula"], newdata=nd, newparams=params, re_form="~ (1 | k)")


# ------------------------------------------------------------------------------------ (c) reproducible
def test_seed_reproducibility():
    fx, nd = _case("gauss_slope")
    params = _params(fx)
    a = mc.simulate(fx["formula"], newdata=nd, newparams=params, nsim=3, seed=42)
    b = mc.simulate(fx["formula"], newdata=nd, newparams=params, nsim=3, seed=42)
    c = mc.simulate(fx["formula"], newdata=nd, newparams=params, nsim=3, seed=43)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3"] and a.index.equals(nd.index)
    g = mc.simulate(fx["formula"], newdata=nd, newparams=params, nsim=3, seed=np.random.default_rng(42))
    pd.testing.assert_frame_equal(a, g)


def test_named_parameters_in_any_order():
    fx, nd = _case("gauss_slope")
    p = _params(fx)
    named = {"theta": dict(zip(fx["theta_names"][::-1], p["theta"][::-1])),
             "beta": pd.Series(p["beta"][::-1], index=fx["beta_names"][::-1]), "sigma": p["sigma"]}
    a = mc.simulate(fx["formula"], newdata=nd, newparams=p, nsim=2, seed=1)
    b = mc.simulate(fx["formula"], newdata=nd, newparams=named, nsim=2, seed=1)
    pd.testing.assert_frame_equal(a, b)


# ------------------------------------------------------------------------------------------ (d) errors
@pytest.mark.parametrize("name", sorted(CASES))
def test_lme4s_errors(name):
    fx, nd = _case(name)
    p = _params(fx)
    fam = fx["family"]
    r = fx["errors"]

    def sim(params, formula=fx["formula"]):
        return mc.simulate(formula, newdata=nd, newparams=params, family=fam, seed=1)

    with pytest.raises(mc.DataError) as e:
        sim({**p, "theta": list(p["theta"]) + [1.0]})
    assert r["theta_length"] in str(e.value) and fx["theta_names"][0] in str(e.value)
    with pytest.raises(mc.DataError) as e:
        sim({**p, "beta": list(p["beta"]) + [1.0]})
    assert r["beta_length"] in str(e.value)
    with pytest.raises(mc.DataError) as e:
        sim({**p, "theta": {f"zz{i + 1}": v for i, v in enumerate(p["theta"])}})
    assert r["theta_names"] in str(e.value) and "'zz1'" in str(e.value)
    with pytest.raises(mc.DataError) as e:
        sim({**p, "beta": {f"zz{i + 1}": v for i, v in enumerate(p["beta"])}})
    assert r["beta_names"] in str(e.value)
    with pytest.raises(mc.DataError) as e:
        sim({**p, "foo": 1})
    assert r["unknown_param"] in str(e.value)
    with pytest.raises((mc.DataError, mc.FormulaError), match="zz"):
        sim(p, formula=fx["formula"] + " + zz")
    if fam is None:
        with pytest.warns(UserWarning, match=MISSING_PARAMS_WARNING) as rec:
            out = sim({"theta": p["theta"], "beta": p["beta"]})
        assert [str(w.message) for w in rec] == fx["missing_sigma_warnings"]
        assert out.isna().all().all() == fx["missing_sigma_all_na"]
    else:
        with pytest.raises(mc.DataError) as e:
            sim({**p, "sigma": 1.0})
        assert r["sigma_given"] in str(e.value)


def test_more_bad_input():
    d = pd.DataFrame({"g": list("aabbcc"), "x": [0.0, 1.0] * 3})
    p = {"theta": [1.0], "beta": [1.0, 0.5], "sigma": 1.0}
    with pytest.raises(mc.DataError, match="must specify all of 'formula', 'newdata', and 'newparams'"):
        mc.simulate("~ x + (1 | g)", newparams=p)
    with pytest.raises(mc.DataError, match="must specify all of"):
        mc.simulate("~ x + (1 | g)", newdata=d)
    with pytest.raises((mc.DataError, mc.FormulaError), match="y"):
        mc.simulate("y ~ x + (1 | g)", newdata=d, newparams=p)      # lme4: the response must be in newdata
    with pytest.raises(mc.DataError, match="template diagonals"):
        mc.simulate("~ x + (1 | g)", newdata=d, newparams={**p, "theta": [-1.0]})
    with pytest.raises(mc.DataError, match="sigma"):
        mc.simulate("~ x + (1 | g)", newdata=d, newparams={**p, "sigma": -1.0})
    with pytest.raises(mc.DataError, match="nsim"):
        mc.simulate("~ x + (1 | g)", newdata=d, newparams=p, nsim=0)
    with pytest.raises(mc.DataError, match="newparams must be a dict"):
        mc.simulate("~ x + (1 | g)", newdata=d, newparams=[1.0])
    with pytest.raises((mc.DataError, mc.FormulaError), match="nonsense"):
        mc.simulate("~ x + (1 | g)", newdata=d, newparams=p, family="nonsense")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = mc.simulate("y ~ x + (1 | g)", newdata=d.assign(y=0.0), newparams=p, seed=1)   # a response is fine
    assert y.shape == (6, 1)


def test_simulate_generic_still_takes_fits():
    m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
    assert mc.simulate(m, nsim=2, seed=1).shape == (30, 2)
    with pytest.raises(TypeError, match="simulate\\(\\) does not apply"):
        mc.simulate(3.0)


def test_cbind_response_gives_successes_and_failures():
    """lme4: a cbind(s, f) response simulates a successes / failures matrix out of its row sums."""
    d = pd.DataFrame({"g": pd.Categorical(np.repeat(list("abcdef"), 4)), "x": np.tile([0.0, 1.0], 12)})
    d["s"] = np.arange(24) % 7 + 1.0
    d["f"] = 12.0 - d["s"]
    out = mc.simulate("cbind(s, f) ~ x + (1 | g)", newdata=d, newparams={"theta": [0.6], "beta": [-0.3, 0.8]},
                      family="binomial", nsim=3000, seed=8)
    assert list(out.columns[:2]) == [("sim_1", "s"), ("sim_1", "f")]
    succ = out.xs("s", axis=1, level=1).to_numpy()
    assert np.all(succ + out.xs("f", axis=1, level=1).to_numpy() == 12.0)
    mean, second = _expit_normal_moments(-0.3 + 0.8 * d["x"].to_numpy(), 0.6)
    var = 12 * mean * (1 - mean) + 12 * 11 * (second.diagonal() - mean ** 2)
    assert np.max(np.abs(_z_mean(succ, 12 * mean, var))) < Z_LIMIT
    assert np.max(np.abs(_z_mean(succ, 12 * mean * 1.1, var))) > Z_LIMIT       # power


def test_gamma_takes_sigma():
    """Families with a scale (lme4's useSc) take sigma: Gamma's mean is exp(eta + theta^2 / 2) (log link)."""
    d = pd.DataFrame({"g": pd.Categorical(np.repeat(list("abcdefgh"), 3)), "x": np.tile([0.0, 1.0, 2.0], 8)})
    p = {"theta": [0.4], "beta": [0.2, 0.3], "sigma": 0.5}
    sims = mc.simulate("~ x + (1 | g)", newdata=d, newparams=p, family=mc.family.Gamma(link="log"), nsim=4000,
                       seed=9).to_numpy()
    mu = np.exp(0.2 + 0.3 * d["x"].to_numpy() + 0.4 ** 2 / 2)
    assert np.max(np.abs(_z_mean(sims, mu, sims.var(axis=1)))) < Z_LIMIT
    assert np.max(np.abs(_z_mean(sims, mu * 1.1, sims.var(axis=1)))) > Z_LIMIT
    with pytest.warns(UserWarning, match=MISSING_PARAMS_WARNING) as rec:
        out = mc.simulate("~ x + (1 | g)", newdata=d, newparams={"theta": [0.4], "beta": [0.2, 0.3]},
                          family=mc.family.Gamma(link="log"), seed=1)
    assert out.isna().all().all()                                  # lme4: sigma NA, draws NaN
    assert rec[0].filename == __file__                             # at the caller's line
