"""Inference on glmer fits against lme4 1.1-31 / pbkrtest 0.5.2 (fixtures from
tests/fixtures/gen_glmer_inference.R): anova (likelihood-ratio and single-model tables), drop1,
confint (Wald, boot), refit, simulate, bootMer, PBmodcomp, cross_validate's log densities, predict
intervals; and the errors and warnings of these paths."""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import FIXTURES, TOL, assert_close, check_criterion, fixture_paths, load_fixture, load_fixture_data
from mixedcompat.glmer.refit import GlmerRefitter, GlmerSimulator, draw_response, family_name
from mixedcompat.inference.glm_density import log_density, predictive_log_density

_trapezoid = getattr(np, "trapezoid", None) or np.trapz      # numpy < 2 names it trapz

ROOT = FIXTURES / "glmer_inference"
CASES = {p.stem: load_fixture(p) for p in fixture_paths("glmer_inference")}


def cases(kind: str) -> list[str]:
    return sorted(name for name, fx in CASES.items() if fx.get("kind") == kind)


@functools.lru_cache(maxsize=None)
def data_of(stem: str) -> pd.DataFrame:
    return load_fixture_data(stem, root=ROOT)


def _offset(fx: dict, data: pd.DataFrame):
    off = fx.get("offset")
    if off is None:
        return None
    assert off == "log(expo)", f"the generator's offsets are log(expo), not {off}"
    return np.log(data["expo"].to_numpy(dtype=float))


@functools.lru_cache(maxsize=None)
def _fits(name: str):
    fx = CASES[name]
    d = data_of(fx["data"])
    off = _offset(fx, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(mc.glmer(mm["formula"], d, family=fx["family"], offset=off) for mm in fx["models"])


def fits(name: str):
    """(m0, m1), each checked against R's -2 log L (the criterion rule) before anything else."""
    ms = _fits(name)
    for m, mm in zip(ms, CASES[name]["models"]):
        check_criterion(m.criterion, mm["dev"], f"{name} {mm['label']} -2 log L")
    return ms


def table_values(fx: dict, column: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in fx["table"]["values"][column]], dtype=float)


# ------------------------------------------------------------------------------------------------
# likelihood-ratio tables


@pytest.mark.parametrize("name", cases("anova"))
def test_anova_lrt_table(name):
    fx = CASES[name]
    m0, m1 = fits(name)
    tab = mc.anova(m0, m1)
    assert list(tab.index) == fx["table"]["rownames"]
    assert list(tab.columns) == fx["table"]["columns"]
    assert_close(tab["npar"], table_values(fx, "npar"), "npar", rtol=0)
    for col in ("AIC", "BIC", "logLik", "deviance"):
        assert_close(tab[col], table_values(fx, col), col, **TOL["glmer_lrt"])
    assert_close(tab["Chisq"], table_values(fx, "Chisq"), "Chisq", **TOL["glmer_lrt_chisq"])
    assert_close(tab["Df"], table_values(fx, "Df"), "Df", rtol=0)
    assert_close(np.log(tab["Pr(>Chisq)"].to_numpy(dtype=float)), np.log(table_values(fx, "Pr(>Chisq)")),
                 "log p", **TOL["glmer_lrt_chisq"])
    # the printed table: R's lines after the data heading (our data name is the fixture stem)
    ours = str(tab).splitlines()
    theirs = fx["text"].splitlines()
    assert ours[1:] == theirs[1:] or _same_numbers(ours[1:], theirs[1:]), "\n".join(ours) + "\n---\n" + fx["text"]


def _same_numbers(a: list[str], b: list[str]) -> bool:
    """Lines equal up to the last printed digit (fits agreeing at the criterion's tolerance)."""
    if len(a) != len(b):
        return False
    for la, lb in zip(a, b):
        ta, tb = la.split(), lb.split()
        if len(ta) != len(tb):
            return False
        for x, y in zip(ta, tb):
            if x == y:
                continue
            try:
                fx_, fy = float(x), float(y)
            except ValueError:
                return False
            if not math.isclose(fx_, fy, rel_tol=1e-3, abs_tol=2e-3):
                return False
    return True


@pytest.mark.parametrize("name", cases("anova1"))
def test_anova_single_model_table(name):
    fx = CASES[name]
    _m0, m1 = fits(name)
    tab = mc.anova(m1)
    assert list(tab.index) == fx["table"]["rownames"]
    assert list(tab.columns) == fx["table"]["columns"]
    assert_close(tab["npar"], table_values(fx, "npar"), "npar", rtol=0)
    for col in ("Sum Sq", "Mean Sq", "F value"):
        assert_close(tab[col], table_values(fx, col), col, **TOL["glmer_anova1"])
    assert str(tab).splitlines()[0] == "Analysis of Variance Table"


@pytest.mark.parametrize("name", cases("drop1"))
def test_drop1_chisq(name):
    fx = CASES[name]
    _m0, m1 = fits(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = mc.drop1(m1, test="Chisq")
    assert list(tab.index) == fx["table"]["rownames"]
    assert list(tab.columns) == fx["table"]["columns"]
    assert_close(tab["npar"], table_values(fx, "npar"), "npar", rtol=0)
    assert_close(tab["AIC"], table_values(fx, "AIC"), "AIC", **TOL["glmer_lrt"])
    assert_close(tab["LRT"], table_values(fx, "LRT"), "LRT", **TOL["glmer_lrt_chisq"])
    assert _same_numbers(str(tab).splitlines()[3:], fx["text"].splitlines()[3:])


def test_drop1_default_is_lme4s_aic_table():
    _m0, m1 = fits("drop1_cbpp")
    tab = m1.drop1()
    assert list(tab.columns) == ["npar", "AIC"]


# ------------------------------------------------------------------------------------------------
# confidence intervals


@pytest.mark.parametrize("name", cases("wald"))
def test_confint_wald(name):
    fx = CASES[name]
    _m0, m1 = fits(name)
    ci = mc.confint(m1, method="Wald")
    assert list(ci.index) == fx["rownames"]                     # .sig01 ... (no .sigma: no scale)
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    lower = np.array([np.nan if v is None else v for v in fx["lower"]], dtype=float)
    upper = np.array([np.nan if v is None else v for v in fx["upper"]], dtype=float)
    n_vp = sum(1 for n in fx["rownames"] if n.startswith(".sig"))
    assert ci.iloc[:n_vp].isna().all().all() and np.all(np.isnan(lower[:n_vp]))
    lo, hi = ci.to_numpy(dtype=float)[n_vp:].T
    lower, upper = lower[n_vp:], upper[n_vp:]
    se_r = (upper - lower) / 2
    # the centre is beta: lme4's Nelder-Mead stops within its x tolerance, and where in it depends on
    # the last bits of the objective (numpy versions differ), so beta of the same optimum (glmer_beta)
    assert_close((lo + hi) / 2, (lower + upper) / 2, "Wald centre", atol=TOL["glmer_beta"]["atol"] * se_r)
    assert_close((hi - lo) / 2, se_r, "Wald half-width", **TOL["glmer_se"])
    assert_close(np.sqrt(np.diag(m1.vcov().to_numpy())), fx["se"], "SE", **TOL["glmer_se"])


def test_confint_wald_parm_and_level():
    _m0, m1 = fits("wald_cbpp")
    ci = mc.confint(m1, parm="beta_", method="Wald", level=0.9)
    assert list(ci.columns) == ["5 %", "95 %"]
    assert list(ci.index) == list(m1.fixef().index)


@pytest.mark.parametrize("name,parm", [("profile_cbpp", [".sig01", "period2"])])
def test_confint_profile(name, parm):
    """lme4's profile of a GLMM: each parameter held, the others re-optimised on the fit's objective
    (two parameters here: every profile point is a Nelder-Mead over the others)."""
    fx = CASES[name]
    _m0, m1 = fits(name)
    ci = mc.confint(m1, parm=parm, method="profile")
    rows = [fx["rownames"].index(p) for p in parm]
    assert_close(ci.iloc[:, 0], np.array(fx["lower"])[rows], "lower", **TOL["profile_ci"])
    assert_close(ci.iloc[:, 1], np.array(fx["upper"])[rows], "upper", **TOL["profile_ci"])


def test_profile_refusals_for_glmer():
    _m0, m1 = fits("wald_cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = m1.update(nAGQ=0)
    with pytest.raises(NotImplementedError, match="nAGQ = 0"):
        mc.profile(m0)


# ------------------------------------------------------------------------------------------------
# refit, update, simulate


def _stored_newresp(fx: dict):
    y = fx["newresp"]
    if "matrix" in y:
        return np.array(y["matrix"], dtype=float)
    if "codes" in y:
        return np.array(y["codes"], dtype=float)
    return np.array(y["vector"], dtype=float)


@pytest.mark.parametrize("name", cases("refit"))
def test_refit_to_stored_response(name):
    fx = CASES[name]
    _m0, m1 = fits(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = mc.refit(m1, _stored_newresp(fx))
    assert isinstance(r, mc.GlmerMod)
    check_criterion(r.criterion, fx["refit"]["dev"], f"{name} refit -2 log L")
    assert_close(r.criterion, fx["refit"]["dev"], "refit -2 log L", **TOL["glmer_refit_criterion"])
    assert r.optinfo["optimizer"][-1] == fx["refit_optimizer"]
    if np.max(np.abs(r.theta - np.asarray(fx["refit"]["theta"]))) <= TOL["glmer_refit_theta"]["atol"]:
        assert_close(r.fixef().to_numpy(), fx["refit"]["beta"], "refit fixef", **TOL["glmer_refit_fixef"])
        assert r.optinfo["feval"] == fx["refit_feval"]              # lme4's path: the same evaluations
    else:
        # the paths parted in the last bits (another numpy's rounding of the objective): the same
        # optimum up to lme4's own stopping noise
        assert_close(r.theta, fx["refit"]["theta"], "refit theta", **TOL["glmer_theta"])
        se = np.sqrt(np.diag(r.vcov().to_numpy()))
        assert_close(r.fixef().to_numpy(), fx["refit"]["beta"], "refit fixef", atol=TOL["glmer_beta"]["atol"] * se)


def test_refit_accepts_a_simulation_and_factor_codes():
    _m0, m1 = fits("refit_bernoulli")
    s = mc.simulate(m1, nsim=1, seed=3)
    assert isinstance(s["sim_1"].dtype, pd.CategoricalDtype)
    assert list(s["sim_1"].cat.categories) == ["no", "yes"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r1 = mc.refit(m1, s)
        r2 = mc.refit(m1, s["sim_1"].cat.codes.to_numpy().astype(float))
    assert r1.criterion == r2.criterion


def test_refit_bad_newresp():
    _m0, m1 = fits("refit_cbpp")
    with pytest.raises(mc.DataError, match="observations"):
        mc.refit(m1, np.ones(3))
    with pytest.raises(mc.DataError, match="missing or infinite"):
        mc.refit(m1, np.full((m1.nobs(), 2), np.nan))
    with pytest.raises(mc.DataError, match="lists of length > 1"):
        mc.refit(m1, mc.simulate(m1, nsim=2, seed=1))


def test_update_formula_and_arguments():
    m0, m1 = fits("anova_cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mc.update(m1, ". ~ . - period")
        u0 = m1.update(nAGQ=0)
    assert isinstance(u, mc.GlmerMod)
    assert_close(u.criterion, m0.criterion, "criterion", **TOL["criterion"])
    assert u0.nAGQ == 0
    with pytest.raises(TypeError, match="unknown argument"):
        m1.update(REML=False)


@pytest.mark.parametrize("name", cases("simulate"))
@pytest.mark.parametrize("use_u", [False, True])
def test_simulate_moments_match_lme4(name, use_u):
    fx = CASES[name]
    _m0, m1 = fits(name)
    nsim = fx["nsim"]
    s = mc.simulate(m1, nsim=nsim, seed=20261207, use_u=use_u)
    if isinstance(s.columns, pd.MultiIndex):             # cbind: successes are the first column of each sim
        v = s.to_numpy()[:, 0::2]
        assert np.all(s.to_numpy()[:, 0::2] + s.to_numpy()[:, 1::2] == np.asarray(fx["weights"])[:, None])
    elif isinstance(s.iloc[:, 0].dtype, pd.CategoricalDtype):
        v = np.column_stack([s[c].cat.codes.to_numpy() for c in s.columns]).astype(float)
    else:
        v = s.to_numpy()
    assert v.shape == (m1.nobs(), nsim)
    r = fx["use_u_true" if use_u else "use_u_false"]
    mean_r, var_r = np.asarray(r["mean"]), np.asarray(r["var"])
    mean, var = v.mean(axis=1), v.var(axis=1, ddof=1)
    se = np.sqrt((var + var_r) / nsim)
    z = np.abs(mean - mean_r) / np.where(se > 0, se, np.inf)
    assert np.all((z <= TOL["simulate_mean_z"]["atol"]) | (np.abs(mean - mean_r) == 0)), \
        f"largest z {z.max():.2f} at row {int(np.argmax(z))}"
    if use_u:                        # given u the draws are the family's: light tails, per-row variances
        assert_close(var, var_r, "per-row variance", **TOL["simulate_var"])
    else:                            # new random effects: heavy (lognormal-mixture) tails; compare in total
        assert_close(var.sum(), var_r.sum(), "summed variance", rtol=TOL["simulate_var"]["rtol"])


def test_simulate_is_seeded_and_newdata():
    _m0, m1 = fits("simulate_grouseticks")
    a = mc.simulate(m1, nsim=3, seed=5)
    b = m1.simulate(nsim=3, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3"]
    nd = data_of("grouseticks").iloc[:7]
    s = mc.simulate(m1, nsim=2, seed=1, newdata=nd, use_u=True)
    assert s.shape == (7, 2) and list(s.index) == list(nd.index)
    with pytest.raises(mc.FormulaError, match="not both"):
        mc.simulate(m1, use_u=True, re_form="~ (1 | BROOD)")


def test_simulate_re_form_keeps_named_terms():
    """re_form keeps the named term's fitted effects: with every term kept the draw is use_u=True's law."""
    _m0, m1 = fits("simulate_grouseticks")
    rng = np.random.default_rng(1)
    full = GlmerSimulator(m1, re_form="~ (1 | BROOD) + (1 | LOCATION)").mean(rng)
    assert_close(full, m1.fitted(), "mean with all terms kept", rtol=1e-12)
    part = GlmerSimulator(m1, re_form="~ (1 | BROOD)")
    assert len(part.drawn) == 1


def test_draw_response_families_and_lme4_gamma_shape():
    rng = np.random.default_rng(3)
    mu = np.full(200000, 2.0)
    w = np.ones_like(mu)
    fam = type("F", (), {"family": "Gamma"})()
    y = draw_response(fam, mu, w, 0.5, rng)                # lme4 1.1-31: shape = sigma * w = 0.5
    assert abs(y.mean() - 2.0) < 0.03 and abs(y.var() - 2.0 ** 2 / 0.5) < 0.3
    y = draw_response(fam, mu, w, 0.5, rng, gamma_shape="dispersion")      # shape = 1 / sigma^2 = 4
    assert abs(y.var() - 2.0 ** 2 / 4.0) < 0.05
    nb = type("F", (), {"family": "Negative Binomial(1.5)", "theta": 1.5})()
    assert family_name(nb) == "negative.binomial"
    y = draw_response(nb, mu, w, 1.0, rng)
    assert abs(y.var() - (2.0 + 4.0 / 1.5)) < 0.1
    with pytest.raises(mc.DataError, match="non-integer prior.weights"):
        draw_response(type("F", (), {"family": "binomial"})(), np.full(2, 0.5), np.array([1.5, 2.0]), 1.0, rng)


def test_simulate_weights_warning_poisson():
    d = data_of("simglmm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.glmer("cnt ~ x + (1 | subj)", d, family="poisson", weights=np.full(len(d), 2.0))
    with pytest.warns(UserWarning, match="ignoring prior weights"):
        mc.simulate(m, seed=1)


# ------------------------------------------------------------------------------------------------
# bootstrap: bootMer, confint(method="boot"), PBmodcomp, predict intervals


BOOT_CASES = [n for n in cases("boot") if n in ("boot_cbpp", "boot_bernoulli")]
NSIM_OURS = 60          # our replicates (R's fixtures have 200): each is a full glmer refit


@pytest.mark.parametrize("name", BOOT_CASES)
def test_bootmer_distribution_matches_lme4(name):
    fx = CASES[name]
    _m0, m1 = fits(name)

    def FUN(fit):
        return np.append(fit.fixef().to_numpy(), fit.theta[0])      # one scalar term: sd = theta

    b = mc.bootMer(m1, FUN, nsim=NSIM_OURS, seed=1, progress=False, parallel=2)
    assert b.t.shape == (NSIM_OURS, len(fx["names"]))
    ok = np.all(np.isfinite(b.t), axis=1)
    mean, sd = b.t[ok].mean(axis=0), b.t[ok].std(axis=0, ddof=1)
    assert_close(sd, fx["sd"], "bootstrap SD", **TOL["glmer_boot_sd"])
    assert np.all(np.abs(mean - np.asarray(fx["mean"])) <= TOL["glmer_boot_mean_sd"]["atol"] * np.asarray(fx["sd"]))


def test_confint_boot_glmer():
    """confint(method="boot"): the same replicates as bootMer of sd + fixef, percentile intervals with
    lme4's rows (no .sigma without a scale)."""
    fx = CASES["boot_cbpp"]
    _m0, m1 = fits("boot_cbpp")
    ci = mc.confint(m1, method="boot", nsim=20, seed=1)
    assert list(ci.index) == fx["confint"]["rownames"]
    b = mc.bootMer(m1, lambda f: np.append(f.theta[0], f.fixef().to_numpy()), nsim=20, seed=1, progress=False)
    from mixedcompat.inference.intervals import percentile_interval
    expected = np.array([percentile_interval(b.t[:, j], 0.95) for j in range(b.t.shape[1])])
    assert_close(ci.to_numpy(), expected, "percentile intervals", rtol=1e-12)


def test_bootmer_is_seeded_independent_of_workers():
    _m0, m1 = fits("boot_cbpp")
    a = mc.bootMer(m1, mc.fixef, nsim=4, seed=9, progress=False)
    b = mc.bootMer(m1, mc.fixef, nsim=4, seed=9, progress=False, parallel=2)
    np.testing.assert_array_equal(a.t, b.t)
    assert list(a.t0.index) == list(m1.fixef().index)


def test_bootmer_semiparametric_refused_for_glmer():
    _m0, m1 = fits("boot_cbpp")
    with pytest.raises(ValueError, match="semiparametric"):
        mc.bootMer(m1, mc.fixef, nsim=2, use_u=True, type="semiparametric", progress=False)


@pytest.mark.parametrize("name", [n for n in cases("pbmodcomp") if n in ("pbmodcomp_cbpp", "pbmodcomp_bernoulli")])
def test_pbmodcomp_matches_pbkrtest(name):
    fx = CASES[name]
    m0, m1 = fits(name)
    pb = mc.PBmodcomp(m1, m0, nsim=NSIM_OURS, seed=2, progress=False, parallel=2)
    t = fx["test"]
    assert list(pb.test.index) == t["rownames"]
    assert_close(pb.test["stat"], t["stat"], "LRT stat", **TOL["glmer_lrt_chisq"])
    assert pb.test.loc["LRT", "df"] == t["df"][0]
    assert_close(pb.test.loc["LRT", "p.value"], t["p.value"][0], "LRT p", rtol=1e-4)
    assert abs(pb.test.loc["PBtest", "p.value"] - t["p.value"][1]) <= TOL["glmer_pb_p"]["atol"]
    ref = pb.ref[np.isfinite(pb.ref) & (pb.ref > 0)]
    assert abs(ref.mean() - fx["ref"]["mean"]) <= TOL["glmer_boot_mean_sd"]["atol"] * fx["ref"]["sd"]
    assert_close(ref.std(ddof=1), fx["ref"]["sd"], "reference SD", **TOL["glmer_boot_sd"])
    text = str(pb).splitlines()
    assert text[1].startswith("large : ") and text[4].split()[0] == "LRT"


def test_pbmodcomp_small_as_update_formula():
    m0, m1 = fits("pbmodcomp_cbpp")
    pb = mc.PBmodcomp(m1, ". ~ . - period", nsim=2, seed=1, progress=False)
    assert_close(pb.test.loc["LRT", "stat"], 2 * (float(m1.logLik()) - float(m0.logLik())), "LRT",
                 **TOL["glmer_lrt_chisq"])


def test_pbmodcomp_refuses_different_responses():
    _a, m_cbpp = fits("anova_cbpp")
    _b, m_pois = fits("anova_grouseticks")
    with pytest.raises(mc.DataError, match="same observations"):
        mc.PBmodcomp(m_pois, m_cbpp, nsim=2, seed=1, progress=False)


def test_predict_intervals_glmer():
    _m0, m1 = fits("anova_cbpp")
    nd = data_of("cbpp").iloc[:4]
    ci = m1.predict(nd, type="response", interval="confidence", nsim=40, seed=1, progress=False)
    fit = m1.predict(nd, type="response")
    assert list(ci.columns) == ["fit", "lwr", "upr"]
    assert_close(ci["fit"], fit, "fit", rtol=1e-12)
    assert np.all((ci["lwr"] <= ci["fit"]) & (ci["fit"] <= ci["upr"]))
    assert np.all((ci["lwr"] >= 0) & (ci["upr"] <= 1))
    link = m1.predict(nd, interval="confidence", nsim=40, seed=1, progress=False)
    assert_close(link["fit"], m1.predict(nd), "link fit", rtol=1e-12)
    assert np.all((link["lwr"] < link["fit"]) & (link["fit"] < link["upr"]))
    pi = m1.predict(nd, type="response", interval="prediction", nsim=40, seed=1, progress=False)
    assert np.all(pi["upr"] - pi["lwr"] >= ci["upr"] - ci["lwr"] - 1e-12)
    with pytest.raises(ValueError, match="response scale"):
        m1.predict(nd, interval="prediction", nsim=2, seed=1, progress=False)


# ------------------------------------------------------------------------------------------------
# model_table and cross_validate


def test_model_table_glmer():
    m0, m1 = fits("anova_cbpp")
    tab = mc.model_table(m0, m1)
    assert list(tab.index) == ["m1", "m0"]
    assert_close(tab.loc["m1", "AIC"], m1.AIC(), "AIC", rtol=1e-12)
    assert_close(tab["AIC_weight"].sum(), 1.0, "weights", rtol=1e-12)


def test_log_density_against_r():
    fx = CASES["log_density"]
    b = fx["binomial"]
    fam_b = type("F", (), {"family": "binomial"})()
    ld = log_density(fam_b, np.array(b["y"]), np.array(b["mu"]), np.array(b["trials"]), 1.0)
    assert_close(ld, b["logd"], "binomial log density", **TOL["glm_log_density"])
    p = fx["poisson"]
    fam_p = type("F", (), {"family": "poisson"})()
    ld = log_density(fam_p, np.array(p["y"]), np.array(p["mu"]), np.array(p["weights"]), 1.0)
    assert_close(ld, p["logd"], "poisson log density", **TOL["glm_log_density"])
    assert_close(-2 * ld.sum(), p["aic"], "poisson aic", **TOL["glm_log_density"])


def test_predictive_log_density_integrates_the_new_level():
    fam = type("F", (), {"family": "poisson", "linkinv": staticmethod(np.exp)})()
    y, eta, v = np.array([3.0]), np.array([0.5]), np.array([0.4])
    lpd, mean = predictive_log_density(fam, y, eta, v, np.ones(1), 1.0)
    grid = np.linspace(-8, 8, 200001) * math.sqrt(v[0])
    dens = np.exp(-grid ** 2 / (2 * v[0])) / math.sqrt(2 * math.pi * v[0])
    mu = np.exp(eta[0] + grid)
    direct = _trapezoid(np.exp(3 * np.log(mu) - mu - math.lgamma(4)) * dens, grid)
    assert_close(lpd[0], math.log(direct), "log predictive density", **TOL["glm_predictive_density"])
    assert_close(mean[0], math.exp(eta[0] + v[0] / 2), "predictive mean", **TOL["glm_predictive_density"])


def test_cross_validate_glmer():
    m0, m1 = fits("anova_grouseticks")
    cv = mc.cross_validate(m1, folds=3, seed=1)
    assert cv["n_test"].sum() == m1.nobs()
    assert np.all(np.isfinite(cv["log_pred_density"]))
    pred = cv.attrs["predictions"]
    assert pred.notna().all() and (pred > 0).all()
    cvg = mc.cross_validate(m1, groups="BROOD", folds=3, seed=1)
    assert (cvg["n_new_groups"] > 0).all()
    assert (cvg.attrs["pred_var"] > 0).all()             # new broods: their variance enters
    # a fold's score is the family's: Poisson log densities at the fold fit's predictions
    fit1 = cv.attrs["fits"][0]
    rows = cv.attrs["test_rows"][0]
    d = data_of("grouseticks")
    eta = fit1.predict(d.loc[rows], allow_new_levels=True)
    y = d.loc[rows, "TICKS"].to_numpy(dtype=float)
    v = cv.attrs["pred_var"].loc[rows].to_numpy()
    from scipy import stats
    total = 0.0
    for yi, ei, vi in zip(y, eta, v):      # plug-in where every level is known, else integrated over N(0, v)
        if vi == 0:
            total += stats.poisson.logpmf(yi, math.exp(ei))
        else:
            e = np.linspace(-10, 10, 40001) * math.sqrt(vi)
            dens = stats.norm.pdf(e, 0, math.sqrt(vi)) * stats.poisson.pmf(yi, np.exp(ei + e))
            total += math.log(_trapezoid(dens, e))
    assert (v > 0).any() and (v == 0).any()
    assert_close(cv.loc[1, "log_pred_density"], total, "fold 1", **TOL["glm_predictive_density"])


def test_cross_validate_binomial_cbind_and_offset():
    _m0, m1 = fits("anova_cbpp")
    cv = mc.cross_validate(m1, groups="herd", folds=3, seed=2)
    assert np.all(np.isfinite(cv["log_pred_density"])) and (cv["log_pred_density"] < 0).all()
    _p0, p1 = fits("anova_poisson_offset")
    cvo = mc.cross_validate(p1, folds=4, seed=2)
    assert np.all(np.isfinite(cvo["log_pred_density"]))


# ------------------------------------------------------------------------------------------------
# glmer_nb


@pytest.mark.parametrize("name", cases("glmer_nb"))
def test_glmer_nb_search_as_lme4(name):
    """glmer.nb: est_theta's start, R's optimize() over log(theta) on a chain of refits -- the same thetas
    evaluated, in order, the same number of refits, and the fit."""
    fx = CASES[name]
    d = data_of(fx["data"])
    import io
    import contextlib
    buf = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
        warnings.simplefilter("ignore")
        m = mc.glmer_nb(fx["formula"], d, verbose=True)
    assert isinstance(m, mc.GlmerMod)
    trace = [float(line.split("th=")[1].split(",")[0]) for line in buf.getvalue().splitlines() if ": th=" in line]
    assert len(trace) == len(fx["trace_theta"]) == m.nb_evaluations == fx["nevals"]
    assert_close(trace, fx["trace_theta"], "thetas evaluated", **TOL["glmer_nb_theta"])
    assert_close(m.getME("glmer.nb.theta"), fx["nb_theta"], "theta", **TOL["glmer_nb_theta"])
    check_criterion(m.criterion, fx["dev"], f"{name} -2 log L")
    assert_close(m.criterion, fx["dev"], "-2 log L", **TOL["glmer_logLik"])
    assert m.logLik().df == fx["df"]
    from mixedcompat.glm.families import negative_binomial
    assert negative_binomial(theta=fx["nb_theta"]).family == fx["family"]          # R's name at R's theta
    assert m.family.family == negative_binomial(theta=m.getME("glmer.nb.theta")).family
    assert_close(m.theta, fx["theta"], "theta (random effects)", **TOL["glmer_theta"])


def test_glmer_nb_initctrl_theta_and_bad_theta():
    fx = CASES["glmer_nb_simglmm"]
    d = data_of(fx["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.glmer_nb(fx["formula"], d, initCtrl={"theta": fx["nb_theta"]})
    assert_close(m.getME("glmer.nb.theta"), fx["nb_theta"], "theta", **TOL["glmer_nb_theta"])
    with pytest.raises(mc.DataError, match="theta must be positive"):
        mc.glmer_nb(fx["formula"], d, initCtrl={"theta": -1.0})
