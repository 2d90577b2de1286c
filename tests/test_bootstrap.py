"""bootMer, boot_ci, PBmodcomp and bootstrap prediction intervals against R (lme4, boot, pbkrtest).

The random numbers are numpy's, not R's, so bootstrap distributions are compared to R's up to
Monte-Carlo error (fixtures from tests/fixtures/gen_boot.R, nsim = 1000 in R, 400 here):

* means: |mean_py - mean_R| <= 4 Monte-Carlo standard errors of the difference,
  ``4 sd_R sqrt(1/1000 + 1/400)`` (a false alarm about 1 time in 16,000 per statistic);
* standard deviations: within 15 % relative.  The standard error of a sample SD is about
  ``sd / sqrt(2 (n - 1))``: 3.5 % at n = 400 and 2.2 % at n = 1000, 4.2 % for the difference of
  normal data; sigma's bootstrap distribution is skewed (heavier tails raise it), so 15 % is a
  ~3.5-sigma bound that does not flake yet catches a wrong law (e.g. use_u mixed up: the intercept's
  SD halves).

boot_ci is deterministic given t: it is checked exactly (1e-9) on R's own replicates.
"""
from __future__ import annotations

import collections
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.inference.bootstrap import BootResult, boot_ci, bootMer, predict_interval
from mixedcompat.inference.pbmodcomp import PBmodcomp
from mixedcompat.lme4.fit import refit
from mixedcompat.lme4.prediction import simulate

from helpers import FIXTURES, TOL, load_fixture, load_fixture_data

NSIM = 400
MEAN_SES = 4.0
SD_RTOL = TOL["bootstrap_sd"]["rtol"]

BOOT = FIXTURES / "boot" / "bootmer_sleepstudy.json"
PB = FIXTURES / "boot" / "pbmodcomp_sleepstudy.json"


def stat(x):
    return pd.concat([x.fixef(), pd.Series({"sigma": x.sigma()})])


@pytest.fixture(scope="module")
def sleep():
    return load_fixture_data("sleepstudy")


@pytest.fixture(scope="module")
def model(sleep):
    return mc.lmer("Reaction ~ Days + (Days | Subject)", sleep)


@pytest.fixture(scope="module")
def boot_fx():
    return load_fixture(BOOT)


# ------------------------------------------------------------------------------------------------
# the result object, arguments, errors


def test_t0_is_fun_of_the_model(model):
    b = bootMer(model, stat, nsim=3, seed=1, progress=False)
    pd.testing.assert_series_equal(b.t0, stat(model), check_names=False)
    assert b.t.shape == (3, 3) and b.R == 3 and b.names == ["(Intercept)", "Days", "sigma"]
    assert b.seed == 1


def test_names_from_dict_scalar_and_array(model):
    assert bootMer(model, lambda x: {"s": x.sigma()}, nsim=2, seed=1, progress=False).names == ["s"]
    assert bootMer(model, lambda x: x.sigma(), nsim=2, seed=1, progress=False).names == ["t1*"]
    b = bootMer(model, lambda x: np.asarray(x.beta), nsim=2, seed=1, progress=False)
    assert b.names == ["t1*", "t2*"]
    np.testing.assert_allclose(b.t0.to_numpy(), model.beta)


@pytest.mark.parametrize("nsim", [0, -1])
def test_nsim_below_one_is_an_error(model, nsim):
    with pytest.raises(ValueError, match="nsim"):
        bootMer(model, mc.fixef, nsim=nsim)
    with pytest.raises(ValueError, match="nsim"):
        mc.PBmodcomp(model, model, nsim=nsim)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_level_outside_unit_interval_is_an_error(model, level):
    b = bootMer(model, mc.fixef, nsim=5, seed=1, progress=False)
    with pytest.raises(ValueError, match="level"):
        boot_ci(b, level=level)
    with pytest.raises(ValueError, match="level"):
        predict_interval(model, nsim=2, level=level)


def test_argument_errors(model):
    with pytest.raises(ValueError, match="type"):
        bootMer(model, mc.fixef, nsim=2, type="nonparametric")
    with pytest.raises(ValueError, match="semiparametric"):
        bootMer(model, mc.fixef, nsim=2, type="semiparametric")            # needs use_u=True (lme4)
    with pytest.raises(ValueError, match="parallel"):
        bootMer(model, mc.fixef, nsim=2, parallel="gpu")
    with pytest.raises(TypeError, match="numbers"):
        bootMer(model, lambda x: "a", nsim=2)
    b = bootMer(model, mc.fixef, nsim=5, seed=1, progress=False)
    with pytest.raises(ValueError, match="type"):
        boot_ci(b, type="bca")


def test_module_level_entry_point(model):
    b = mc.bootMer(model, mc.fixef, nsim=4, seed=3, progress=False)
    np.testing.assert_array_equal(b.t, bootMer(model, mc.fixef, nsim=4, seed=3, progress=False).t)


# ------------------------------------------------------------------------------------------------
# reproducibility and what a replicate is


def test_seed_reproducible_across_workers(model):
    serial = bootMer(model, stat, nsim=24, seed=11, progress=False)
    procs = bootMer(model, stat, nsim=24, seed=11, progress=False, parallel=2)
    threads = bootMer(model, stat, nsim=24, seed=11, progress=False, parallel="threads", ncpus=2)
    np.testing.assert_array_equal(serial.t, procs.t)
    np.testing.assert_array_equal(serial.t, threads.t)
    again = bootMer(model, stat, nsim=24, seed=serial.seed, progress=False)
    np.testing.assert_array_equal(serial.t, again.t)
    other = bootMer(model, stat, nsim=24, seed=12, progress=False)
    assert not np.allclose(serial.t, other.t)


def test_seed_none_records_a_reusable_seed(model):
    b = bootMer(model, mc.fixef, nsim=3, progress=False)
    assert isinstance(b.seed, int)
    np.testing.assert_array_equal(b.t, bootMer(model, mc.fixef, nsim=3, seed=b.seed, progress=False).t)


@pytest.mark.parametrize("use_u", [False, True])
def test_replicate_is_refit_of_simulate(model, use_u):
    """Replicate i = refit(m, simulate(m, 1, seed=<stream i>, use_u)): same draws, same optimum.

    The fast criterion rounds differently from the model's Deviance, so BOBYQA can stop at another
    point of a flat valley: the criterion must agree to 1e-7 (relative), the statistics to 1e-4."""
    b = bootMer(model, lambda x: np.append(stat(x).to_numpy(), x.REMLcrit()), nsim=3, seed=5, use_u=use_u,
                progress=False)
    streams = np.random.SeedSequence(5).spawn(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, ss in enumerate(streams):
            y = simulate(model, 1, seed=np.random.default_rng(ss), use_u=use_u).iloc[:, 0].to_numpy()
            r = refit(model, y)
            np.testing.assert_allclose(b.t[i, :3], stat(r).to_numpy(), **TOL["refit_statistics"])
            np.testing.assert_allclose(b.t[i, 3], r.REMLcrit(), **TOL["refit_criterion"])


def test_failed_replicates_are_nan_rows_with_a_warning(model):
    def fragile(x):
        if x.fixef()["Days"] > 10.467285959596:     # about half of the refits
            raise RuntimeError("boom")
        return x.fixef()
    with pytest.warns(UserWarning, match=r"some bootstrap runs failed \(\d+/30\)") as rec:
        b = fragile_boot = bootMer(model, lambda x: x.fixef() if x is model else fragile(x), nsim=30, seed=2,
                                   progress=False)
    nfail = int(np.isnan(b.t).any(axis=1).sum())
    assert 0 < nfail < 30 and b.nfail == nfail
    assert f"({nfail}/30)" in str(rec[0].message)
    assert b.fail_messages == collections.Counter({"RuntimeError: boom": nfail})
    with pytest.warns(UserWarning, match="extreme order statistics"):   # ~15 finite rows: as boot.ci
        ci = boot_ci(fragile_boot)                                 # NaN rows are dropped, as boot.ci
    assert np.all(np.isfinite(ci.to_numpy()))


def test_refits_carry_their_own_data_and_leave_the_original_alone(model, sleep):
    before = sleep.copy()
    seen = []

    def fun(x):
        seen.append(x)
        return x.fixef()
    bootMer(model, fun, nsim=2, seed=4, progress=False)
    pd.testing.assert_frame_equal(sleep, before)
    rep = seen[-1]
    np.testing.assert_allclose(rep.call["data"]["Reaction"].to_numpy(), rep.frame.y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upd = mc.update(rep, ". ~ . - Days")                        # update() refits the replicate's data
    np.testing.assert_allclose(upd.frame.y, rep.frame.y)


def test_semiparametric_resamples_residuals(model):
    b = bootMer(model, mc.fixef, nsim=5, seed=1, use_u=True, type="semiparametric", progress=False)
    assert b.sim == "semiparametric" and np.all(np.isfinite(b.t))


def test_print_like_boot(model):
    b = bootMer(model, mc.fixef, nsim=5, seed=1, progress=False)
    text = str(b)
    assert text.startswith("PARAMETRIC BOOTSTRAP") and "Bootstrap Statistics :" in text
    assert list(b.summary().columns) == ["original", "bias", "std. error"]


# ------------------------------------------------------------------------------------------------
# against R: bootstrap distributions


@pytest.mark.parametrize("run,use_u", [("use_u_false", False), ("use_u_true", True)])
def test_bootstrap_distribution_matches_lme4(model, boot_fx, run, use_u):
    r = boot_fx["runs"][run]
    b = bootMer(model, stat, nsim=NSIM, seed=20240611, use_u=use_u, progress=False)
    assert b.names == boot_fx["names"]
    np.testing.assert_allclose(b.t0.to_numpy(), boot_fx["t0"], **TOL["fixef"])
    ok = ~np.isnan(b.t).any(axis=1)
    assert ok.sum() >= NSIM - 2
    mean, sd = b.t[ok].mean(axis=0), b.t[ok].std(axis=0, ddof=1)
    r_mean, r_sd = np.array(r["mean"]), np.array(r["sd"])
    se = r_sd * math.sqrt(1 / boot_fx["nsim"] + 1 / ok.sum())
    for name, m_py, m_r, s in zip(b.names, mean, r_mean, se):
        assert abs(m_py - m_r) <= MEAN_SES * s, f"{run} {name}: mean {m_py:.4f} vs R {m_r:.4f} (MC se {s:.4f})"
    for name, s_py, s_r in zip(b.names, sd, r_sd):
        assert abs(s_py / s_r - 1) <= SD_RTOL, f"{run} {name}: sd {s_py:.4f} vs R {s_r:.4f}"


# ------------------------------------------------------------------------------------------------
# against R: boot.ci on R's own replicates


def _boot_from_fixture(fx, rows):
    t = np.array(fx["t"], dtype=float)[:rows]
    t0 = pd.Series(fx["t0"], index=fx["names"])
    return BootResult(t0, t, seed=fx["seed"], sim="parametric", mle={}, statistic=None,
                      fail_messages=collections.Counter(), messages=collections.Counter(), call={})


def test_boot_ci_matches_boot(boot_fx):
    checked = 0
    for case in boot_fx["boot_ci"]:
        b = _boot_from_fixture(boot_fx, case["rows"])
        ci = boot_ci(b, type=case["type"], level=case["conf"], index=case["index"])
        lo, hi = ci.iloc[0].to_numpy()
        np.testing.assert_allclose([lo, hi], [case["lower"], case["upper"]], **TOL["boot_ci"],
                                   err_msg=f"{case['type']} conf={case['conf']} rows={case['rows']} "
                                           f"index={case['index']}")
        checked += 1
    assert checked == 36


def test_boot_ci_layout(boot_fx):
    b = _boot_from_fixture(boot_fx, 1000)
    ci = boot_ci(b)
    assert list(ci.columns) == ["2.5 %", "97.5 %"] and list(ci.index) == ["(Intercept)", "Days", "sigma"]
    two = boot_ci(b, type="norm", level=[0.95, 0.9], index=["Days"])
    assert list(two.columns) == ["2.5 %", "97.5 %", "5 %", "95 %"] and list(two.index) == ["Days"]
    with pytest.warns(UserWarning, match="extreme order statistics"):
        boot_ci(_boot_from_fixture(boot_fx, 20), level=0.99)


# ------------------------------------------------------------------------------------------------
# against R: PBmodcomp


@pytest.fixture(scope="module")
def pb_fx():
    return load_fixture(PB)


@pytest.mark.parametrize("name", ["slope", "correlation"])
def test_pbmodcomp_matches_pbkrtest(sleep, pb_fx, name):
    case = next(c for c in pb_fx["comparisons"] if c["name"] == name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        large = mc.lmer(case["large"], sleep)
        small = mc.lmer(case["small"], sleep)
        pb = PBmodcomp(large, small, nsim=NSIM, seed=case["seed"], progress=False)
    test = pb.test
    assert list(test.index) == ["LRT", "PBtest"] and list(test.columns) == ["stat", "df", "p.value"]
    lrt = case["test"]["LRT"]
    # the observed statistic and its chi-square p-value are deterministic (ML refits of both models)
    np.testing.assert_allclose(test.loc["LRT", "stat"], lrt["stat"], **TOL["pb_lrt_stat"])
    np.testing.assert_allclose(test.loc["PBtest", "stat"], lrt["stat"], **TOL["pb_lrt_stat"])
    assert test.loc["LRT", "df"] == lrt["df"] and np.isnan(test.loc["PBtest", "df"])
    np.testing.assert_allclose(test.loc["LRT", "p.value"], lrt["p.value"], **TOL["pb_lrt_p"])
    # pbkrtest's rule: (1 + #{ref > stat}) / (1 + #{ref > 0})
    ref = pb.ref[np.isfinite(pb.ref)]
    pos = ref[ref > 0]
    assert test.loc["PBtest", "p.value"] == pytest.approx((1 + np.sum(pos > lrt["stat"])) / (1 + len(pos)))
    assert pb.samples == {"nsim": NSIM, "npos": len(pos)}
    # the reference distribution and the p-value against R's, to Monte-Carlo error
    r_ref = case["ref"]
    se_mean = r_ref["sd"] * math.sqrt(1 / case["nsim"] + 1 / len(ref))
    assert abs(ref.mean() - r_ref["mean"]) <= MEAN_SES * se_mean
    assert abs(ref.std(ddof=1) / r_ref["sd"] - 1) <= TOL["bootstrap_lrt_sd"]["rtol"]   # heavy right tail
    p_r = case["test"]["PBtest"]["p.value"]
    p_py = test.loc["PBtest", "p.value"]
    se_p = math.sqrt(max(p_r * (1 - p_r), 1 / NSIM) * (1 / case["nsim"] + 1 / NSIM))
    assert abs(p_py - p_r) <= MEAN_SES * se_p + 1 / (1 + NSIM)


def test_pbmodcomp_small_as_formula_and_order_errors(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pb = PBmodcomp(model, ". ~ . - (Days | Subject) + (1 | Subject)", nsim=10, seed=1, progress=False)
        assert pb.formula_small == "Reaction ~ Days + (1 | Subject)"
        small = mc.lmer("Reaction ~ Days + (1 | Subject)", model.call["data"])
        with pytest.raises(ValueError, match="larger model first"):
            PBmodcomp(small, model, nsim=5, seed=1, progress=False)
    assert "Bootstrap test" in str(pb)


# ------------------------------------------------------------------------------------------------
# prediction intervals


def test_predict_interval(model):
    nd = pd.DataFrame({"Days": [0.0, 5.0, 9.0], "Subject": ["308", "309", "330"]})
    conf = predict_interval(model, nd, interval="confidence", nsim=60, seed=3, progress=False)
    pred = predict_interval(model, nd, interval="prediction", nsim=60, seed=3, progress=False)
    assert list(conf.columns) == ["fit", "lwr", "upr"] and list(conf.index) == list(nd.index)
    np.testing.assert_allclose(conf["fit"], mc.predict(model, nd))
    assert np.all(conf["lwr"] < conf["fit"]) and np.all(conf["fit"] < conf["upr"])
    assert np.all(pred["upr"] - pred["lwr"] > conf["upr"] - conf["lwr"])
    again = predict_interval(model, nd, interval="prediction", nsim=60, seed=3, progress=False)
    pd.testing.assert_frame_equal(pred, again)
    pop = predict_interval(model, nd, nsim=60, seed=3, re_form="NA", progress=False)
    np.testing.assert_allclose(pop["fit"], mc.predict(model, nd, re_form="NA"))
    with pytest.raises(ValueError, match="interval"):
        predict_interval(model, nd, interval="tolerance")


# ------------------------------------------------------------------------------------------------
# fast refits (mixedcompat.inference.replicate_fit): the same numbers as the model's own Deviance


def _variants(sleep):
    """Models covering each criterion path: balanced one-term (scalar kernel), unbalanced with
    weights and offset (vectorised kernel), one scalar term, p = 1 and p = 3, ML, two terms (dense)."""
    rng = np.random.default_rng(0)
    unb = sleep.sample(frac=0.8, random_state=1).copy()
    unb["w"] = rng.uniform(0.5, 2.0, len(unb))
    unb["off"] = rng.normal(0.0, 5.0, len(unb))
    unb["x"] = rng.normal(size=len(unb))
    return {
        "balanced": mc.lmer("Reaction ~ Days + (Days | Subject)", sleep),
        "balanced_ml": mc.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False),
        "intercept_only": mc.lmer("Reaction ~ 1 + (Days | Subject)", sleep),
        "scalar_term": mc.lmer("Reaction ~ Days + (1 | Subject)", sleep),
        "unbalanced_weights_offset": mc.lmer("Reaction ~ Days + x + (Days | Subject)", unb, weights="w",
                                             offset="off"),
        "unbalanced_scalar_ml": mc.lmer("Reaction ~ Days + (1 | Subject)", unb, REML=False, weights="w"),
        "two_terms": mc.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep),
    }


@pytest.fixture(scope="module")
def variants(sleep):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _variants(sleep)


def _responses(m, k=2):
    from mixedcompat.inference.bootstrap import _Simulator
    sim = _Simulator(m)
    return [sim(np.random.default_rng(s)) for s in range(k)]


def test_fast_criteria_equal_the_deviance(variants, monkeypatch):
    """Every fast criterion (and both kernel code paths: Python floats for few distinct Z'Z blocks,
    numpy otherwise) gives the model's Deviance value at arbitrary theta, to 1e-10 relative."""
    import mixedcompat.lme4.fast_kernels as fk
    from mixedcompat.inference.replicate_fit import Refitter
    rng = np.random.default_rng(1)
    for scalar_max in (fk.SCALAR_MAX_GROUPS, 0, 10_000):
        monkeypatch.setattr(fk, "SCALAR_MAX_GROUPS", scalar_max)
        for name, m in variants.items():
            r = Refitter(m)
            expected_kernel = len(m.terms) == 1
            assert (r.kernel is not None) == expected_kernel, name
            for y in _responses(m):
                fun = r.fast_criterion(y)
                dev = r.deviance(y)
                assert fun is not None, name
                for _ in range(4):
                    theta = np.asarray(m.theta) * rng.uniform(0.3, 2.0, len(m.theta))
                    np.testing.assert_allclose(fun(theta), dev(theta), **TOL["fast_criterion"], err_msg=name)
                    crit, beta, pwrss = fun.solution(theta)
                    f = dev.factor(theta)
                    beta_ref, _u = dev.solve(f)
                    np.testing.assert_allclose(crit, dev.criterion_from_factor(f), **TOL["fast_criterion"],
                                               err_msg=name)
                    np.testing.assert_allclose(beta, beta_ref, **TOL["fast_criterion_beta"], err_msg=name)
                    np.testing.assert_allclose(pwrss, f.pwrss, **TOL["fast_criterion_pwrss"], err_msg=name)


def test_kernel_merges_levels_with_equal_blocks(variants):
    from mixedcompat.inference.replicate_fit import Refitter
    assert Refitter(variants["balanced"]).kernel.G == 1            # every subject has Days 0..9
    assert Refitter(variants["unbalanced_weights_offset"]).kernel.G == 18


def test_replicate_fit_is_the_complete_refit(variants):
    """The light fit has refit()'s theta, beta, sigma and criterion; anything else completes it,
    after which every accessor agrees with the complete LmerMod of the same optimum."""
    from mixedcompat.lme4.fit import LmerMod
    from mixedcompat.inference.replicate_fit import ReplicateFit, Refitter
    for name, m in variants.items():
        r = Refitter(m)
        y = _responses(m, 1)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = r.fit(y)
            fun, opt = r.optimize(y)
            full = r.full_fit(y, opt)
        assert isinstance(x, ReplicateFit) and isinstance(x, LmerMod), name
        np.testing.assert_array_equal(x.theta, full.theta)
        np.testing.assert_allclose(x.beta, full.beta, **TOL["replicate_fit"], err_msg=name)
        np.testing.assert_allclose(x.sigma(), full.sigma(), **TOL["replicate_fit_sigma"], err_msg=name)
        np.testing.assert_allclose(x.REMLcrit(), full.REMLcrit(), **TOL["replicate_fit_criterion"], err_msg=name)
        assert x.optinfo == full.optinfo, name
        pd.testing.assert_series_equal(x.fixef(), full.fixef(), **TOL["replicate_fit"])
        assert float(x.logLik()) == pytest.approx(float(full.logLik()), rel=TOL["replicate_fit_criterion"]["rtol"])
        assert "u" not in x.__dict__ and "call" not in x.__dict__       # not built yet
        np.testing.assert_allclose(x.fitted(), full.fitted(), **TOL["replicate_fit"], err_msg=name)
        assert "u" in x.__dict__ and x.__dict__["_pending"] is None
        for key in ("u", "b"):
            for a, b in zip(getattr(x, key), getattr(full, key)):
                np.testing.assert_allclose(a, b, **TOL["replicate_fit_u"], err_msg=name)
        np.testing.assert_allclose(x.vcov().to_numpy(), full.vcov().to_numpy(), **TOL["replicate_fit"])
        pd.testing.assert_frame_equal(x.call["data"], full.call["data"])
        assert str(x.VarCorr()) == str(full.VarCorr())
        with pytest.raises(AttributeError, match="immutable"):
            x.beta = None
        with pytest.raises(AttributeError):
            x.no_such_attribute


def test_replicate_fit_completes_on_any_first_access(model):
    """Whatever FUN reads first (here the random effects and update()), it gets the complete fit."""
    b = bootMer(model, lambda x: x.ranef(condVar=False)["Subject"].to_numpy()[:2, 0], nsim=3, seed=5,
                progress=False)
    streams = np.random.SeedSequence(5).spawn(3)
    from mixedcompat.inference.replicate_fit import Refitter
    r = Refitter(model)
    for i, ss in enumerate(streams):
        y = simulate(model, 1, seed=np.random.default_rng(ss)).iloc[:, 0].to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = r.full_fit(y, r.optimize(y)[1])
        np.testing.assert_allclose(b.t[i], full.ranef(condVar=False)["Subject"].to_numpy()[:2, 0],
                                   **TOL["replicate_fit"])


def test_replicate_fit_pickles_as_lmermod(model):
    import pickle

    from mixedcompat.lme4.fit import LmerMod
    from mixedcompat.inference.replicate_fit import Refitter
    r = Refitter(model)
    x = r.fit(_responses(model, 1)[0])
    back = pickle.loads(pickle.dumps(x))
    assert type(back) is LmerMod
    np.testing.assert_array_equal(back.beta, x.beta)
    np.testing.assert_allclose(back.fitted(), x.fitted())


def test_fixef_fast_path_equals_fixef(model):
    """FUN = fixef (the generic or the method) reads beta directly: the same t as calling it."""
    ref = bootMer(model, lambda x: x.fixef(), nsim=6, seed=9, progress=False)
    for fun in (mc.fixef, type(model).fixef):
        b = bootMer(model, fun, nsim=6, seed=9, progress=False)
        np.testing.assert_array_equal(b.t, ref.t)
        assert b.names == ref.names == ["(Intercept)", "Days"]


def test_singular_replicates_are_counted_as_lme4_messages(sleep):
    """A replicate on the boundary warns once (lme4's message), also on the light fit, and the
    warning is counted in .messages; completing a light fit does not warn again."""
    shuffled = sleep.copy()
    shuffled["Subject"] = np.random.default_rng(3).permutation(shuffled["Subject"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer("Reaction ~ Days + (1 | Subject)", shuffled)
    b = bootMer(m, lambda x: np.append(x.theta, x.fitted()[0]), nsim=20, seed=1, progress=False)
    n_singular = int(np.sum(b.t[:, 0] < TOL["singular_theta"]["atol"]))
    assert 0 < n_singular < 20
    key = "SingularFitWarning: boundary (singular) fit: see help('isSingular')"
    assert b.messages[key] == n_singular, b.messages


@pytest.mark.r
@pytest.mark.parametrize("small, nsim, seed", [("Reaction ~ 1 + (Days | Subject)", 50, 1),
                                                ("Reaction ~ Days + (1 | Subject)", 20, 2),
                                                (". ~ . - Days", 30, 3)])
def test_pbmodcomp_prints_as_pbkrtest(small, nsim, seed):
    """Our PBModComp printed at pbkrtest's own numbers (its statistic, p-values, samples, extremes and
    time) is pbkrtest's print.PBmodcomp, line for line."""
    import rlive
    from mixedcompat.inference.pbmodcomp import PBModComp
    ro = rlive.robjects()
    small_r = (f"update(m1, {small})" if small.startswith(".") else
               f"lmer({small}, sleepstudy, REML = FALSE)")
    small_arg = small if small.startswith(".") else "m0"
    ro.r(f"""suppressMessages({{library(lme4); library(pbkrtest)}})
        m1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)
        m0 <- {small_r}
        set.seed({seed}); pb <- PBmodcomp(m1, {small_arg}, nsim = {nsim})""")
    r_lines = rlive.r_eval_lines("print(pb)")
    tab = ro.r("as.matrix(pb$test)")
    test = pd.DataFrame(np.asarray(tab), index=["LRT", "PBtest"], columns=["stat", "df", "p.value"])
    samples = {k: int(v) for k, v in zip(["nsim", "npos"], ro.r("pb$samples"))}
    d = mc.datasets.load("sleepstudy")
    m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    ours = mc.PBmodcomp(m1, small if small.startswith(".") else mc.lmer(small, d, REML=False), nsim=2, seed=1,
                        progress=False)
    at_r = PBModComp(test, ours.ref, ours.LRTstat, samples, int(ro.r("pb$n.extreme")[0]),
                     float(ro.r("pb$ctime")[0]), ours.formula_large, ours.formula_small, None)
    assert str(at_r).splitlines() == r_lines
