"""glmer / glmer.nb fits against lme4 1.1-31's stored results (tests/fixtures/glmer, written by gen_glmer.R).

Three kinds of test:

* the fixtures themselves (schema, data, coverage of the issue's families / links / response kinds / bad
  inputs, R's internal consistency, and that helpers' glmer tolerances cover lme4's own stopping noise):
  these need no engine;
* ``mc.glmer`` against every fixture, with glmer_fixtures' optimum rule (our objective at most R's +
  1e-8 relative; estimates of the same optimum within lme4's stopping noise; everything downstream at
  R's own parameters when the optima parted);
* lme4's messages for bad input (tests/fixtures/glmer/bad_input).
"""
from __future__ import annotations

import filecmp
import re
import warnings

import numpy as np
import pytest

from glmer_fixtures import (BAD_INPUT_FIELDS, EXPECTED_FIELDS, GLMER_DIR, INPUT_FIELDS,
                            OPTINFO_FIELDS, PREDICT_KINDS, REFIT_FIELDS, RESIDUAL_TYPES, bad_input_call,
                            bad_input_data, bad_input_paths, devfun_of, fit_glmer_fixture, glmer_data,
                            glmer_model_to_compare, glmer_paths, load_glmer_fixture, newdata_of, param_gaps,
                            params_parted, printout_of_compared)
from helpers import TOL, assert_close, assert_same_printout, check_criterion

PATHS = glmer_paths()
IDS = [p.stem for p in PATHS]
BAD = bad_input_paths()
BAD_IDS = [p.stem for p in BAD]


def _fx(path):
    return load_glmer_fixture(path)


# ================================================================================================
# the fixtures themselves (no engine needed)

# the issue's families and links (item 1), each fitted in at least one fixture
ISSUE_FAMILY_LINKS = {
    ("binomial", "logit"), ("binomial", "probit"), ("binomial", "cauchit"), ("binomial", "cloglog"),
    ("binomial", "log"), ("poisson", "log"), ("poisson", "sqrt"), ("poisson", "identity"),
    ("Gamma", "inverse"), ("Gamma", "log"), ("Gamma", "identity"), ("inverse.gaussian", "1/mu^2"),
    ("inverse.gaussian", "log"), ("gaussian", "log"), ("gaussian", "inverse"), ("negative.binomial", "log"),
}
# bad input (item 7): the cases gen_glmer.R must record
ISSUE_BAD_INPUTS = {"binomial_counts_no_weights", "binomial_noninteger_successes", "poisson_negative",
                    "gamma_nonpositive", "unknown_family", "binomial_sqrt_link", "unknown_link",
                    "nagq_two_terms", "nagq_vector_term", "gaussian_identity", "binomial_log_pirls_nan",
                    "binomial_identity_stephalving"}


def test_fixture_suite_is_complete():
    """At least 25 models covering item 6: lme4's data sets, every family x link, every response kind,
    offsets, crossed / nested / correlated-slope terms, a singular fit, nAGQ 0 and 25, glmer.nb, prior
    weights; and every bad input of item 7."""
    fxs = [_fx(p) for p in PATHS]
    assert len(fxs) >= 25, f"only {len(fxs)} glmer fixtures"
    got = {(f["input"]["family"], f["input"]["link"]) for f in fxs}
    assert ISSUE_FAMILY_LINKS <= got, f"families x links without a fixture: {sorted(ISSUE_FAMILY_LINKS - got)}"
    assert {"cbpp", "grouseticks", "VerbAgg"} <= {f["input"]["data"] for f in fxs}
    forms = [f["input"]["formula"] for f in fxs]
    assert any(s.startswith("cbind(") for s in forms), "no cbind(successes, failures) response"
    assert any(f["input"]["family"] == "binomial" and f["input"]["weights"] for f in fxs), "no proportion + weights"
    assert any(f["input"]["family"] != "binomial" and f["input"]["weights"] for f in fxs), "no prior weights"
    assert any(f["input"]["offset"] for f in fxs) and any("offset(" in s for s in forms), "offsets"
    assert {0, 1, 25} <= {f["input"]["nAGQ"] for f in fxs}
    assert any(f["input"]["glmer_nb"] for f in fxs)
    assert any(f["expected"]["isSingular"] for f in fxs), "no singular fit"
    assert any(re.search(r"\(x \| g\)", s) for s in forms), "no correlated random slope"
    assert any("/" in s.split("~")[1] and "(1 | a/b)" in s for s in forms), "no nested term"
    assert any(len(f["expected"]["ngrps"]) >= 2 and "/" not in f["input"]["formula"].split("~")[1] for f in fxs)
    # Bernoulli responses as 0/1, logical and factor
    kinds = set()
    for f in fxs:
        resp = f["input"]["formula"].split("~")[0].strip()
        cols = glmer_data(f["input"]["data"]).dtypes
        if resp in cols.index and f["input"]["family"] == "binomial" and not f["input"]["weights"]:
            kinds.add(str(cols[resp]))
    assert {"int64", "bool", "category"} <= kinds, f"Bernoulli response kinds: {kinds}"
    assert ISSUE_BAD_INPUTS <= set(BAD_IDS), f"bad inputs without a fixture: {ISSUE_BAD_INPUTS - set(BAD_IDS)}"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fixture_schema(path):
    """Every model fixture has every field of tests/fixtures/glmer/README.md, with consistent sizes."""
    fx = _fx(path)
    assert fx["name"] == path.stem
    assert set(fx["meta"]) >= {"R", "lme4", "Matrix", "MASS"}
    inp, e = fx["input"], fx["expected"]
    assert [k for k in INPUT_FIELDS if k not in inp] == []
    assert [k for k in EXPECTED_FIELDS if k not in e] == []
    p, nth, n = len(e["fixef"]["names"]), len(e["theta"]), e["nobs"]
    assert len(e["fixef"]["values"]) == len(e["beta"]) == len(e["se"]) == len(e["se_rx"]) == p
    assert np.asarray(e["vcov"]).shape == np.asarray(e["vcov_rx"]).shape == (p, p)
    assert len(e["theta_names"]) == len(e["lower"]) == nth
    k = e["n_stored"]
    assert k == min(n, k) and len(e["rows_used"]) == len(e["fitted"]) == k
    assert set(e["residuals"]) == set(RESIDUAL_TYPES) and all(len(v) == k for v in e["residuals"].values())
    assert set(e["predict"]) == set(PREDICT_KINDS) and all(len(v) == k for v in e["predict"].values())
    nd = e["newdata"]
    assert set(e["predict_newdata"]) == set(PREDICT_KINDS)
    assert all(len(v) == len(nd["rows"]) for v in e["predict_newdata"].values())
    assert nd["new_level_columns"], "newdata has no new grouping level"
    for grp, spec in e["ranef"].items():
        q, nl = len(spec["columns"]), len(spec["levels"])
        assert np.asarray(spec["values"]).shape == (nl, q)
        assert np.asarray(spec["postVar"]).shape == (nl, q, q)
        assert np.asarray(e["coef"][grp]["values"]).shape == (nl, len(e["coef"][grp]["columns"]))
    assert set(e["devcomp"]) == {"cmp", "dims"}
    assert {"ldL2", "wrss", "ussq", "pwrss", "drsum", "dev"} <= set(e["devcomp"]["cmp"])
    assert e["devcomp"]["dims"]["nAGQ"] == e["nAGQ"] == inp["nAGQ"] or inp["glmer_nb"]
    assert [k for k in OPTINFO_FIELDS if k not in e["optinfo"]] == []
    assert e["objective_nagqk_k"] == max(1, e["nAGQ"])
    for pt in e["objective_nagq0"]:
        assert len(pt["theta"]) == nth and {"value", "value_converged"} <= set(pt)
    for pt in e["objective_nagqk"]:
        assert len(pt["theta"]) == nth and len(pt["beta"]) == p and {"value", "value_converged"} <= set(pt)
    assert "value_again" in e["objective_nagq0"][0] and "value_again" in e["objective_nagqk"][0]
    assert len(e["stage1"]["theta"]) == nth and len(e["stage1"]["beta"]) == p
    assert [k for k in REFIT_FIELDS if k not in e["refit_perturbed"]] == []
    for key in ("summary_text", "print_text", "varcorr_text"):
        assert isinstance(e[key], str) and e[key]
    assert (e["glmer_nb_theta"] is not None) == inp["glmer_nb"]


@pytest.mark.parametrize("path", BAD, ids=BAD_IDS)
def test_bad_input_fixture_schema(path):
    fx = _fx(path)
    assert [k for k in BAD_INPUT_FIELDS if k not in fx] == []
    e = fx["expected"]
    assert set(e) == {"error", "warnings", "messages"}
    assert e["error"] is None or isinstance(e["error"], str)
    df = bad_input_data(fx)           # the data and the derived columns build
    for col in ((fx["input"].get("python") or {}).get("derived") or {}):
        assert col in df.columns


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fixture_data(path):
    """The data file reads back with R's types; the rows R used are rows of it."""
    fx = _fx(path)
    df = glmer_data(fx["input"]["data"])
    e = fx["expected"]
    assert len(df) >= e["nobs"]
    assert max(e["rows_used"]) < len(df)
    for col in (fx["input"]["weights"], fx["input"]["offset"]):
        assert col is None or col in df.columns


@pytest.mark.parametrize("name", ["cbpp", "grouseticks", "VerbAgg"])
def test_bundled_data_sets_are_the_fixtures(name):
    """lme4's data sets in mixedcompat.datasets are byte-identical to the fixtures' copies."""
    from mixedcompat import datasets
    for ext in ("csv", "json"):
        assert filecmp.cmp(datasets.DATA_DIR / f"{name}.{ext}", GLMER_DIR / "data" / f"{name}.{ext}",
                           shallow=False)
    assert len(datasets.load(name)) == _fx(GLMER_DIR / f"{name.lower()}.json")["expected"]["nobs"]


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fixture_consistency(path):
    """R's numbers agree with each other as lme4 defines them (so a broken regeneration shows here)."""
    fx = _fx(path)
    e = fx["expected"]
    obj = e["objective"]
    assert_close(e["logLik"], -obj / 2, "logLik = -objective / 2", rtol=1e-14)
    assert_close(e["AIC"], obj + 2 * e["logLik_df"], "AIC", rtol=1e-14)
    assert_close(e["BIC"], obj + np.log(e["nobs"]) * e["logLik_df"], "BIC", rtol=1e-14)
    # one more parameter for a family with a scale, and for glmer.nb's theta (lme4 counts it)
    assert e["logLik_df"] == len(e["beta"]) + len(e["theta"]) + (e["family"] not in ("binomial", "poisson"))
    if e["family"] in ("binomial", "poisson"):
        assert e["sigma"] == 1.0
    if e["n_stored"] == e["nobs"]:
        assert_close(e["deviance"], np.sum(np.square(e["residuals"]["deviance"])),
                     "deviance = sum of squared deviance residuals", rtol=1e-10)
    assert e["beta"] == e["fixef"]["values"]
    assert_close(e["se"], np.sqrt(np.diag(np.asarray(e["vcov"]))), "se", rtol=1e-14)
    # the devfun restarts PIRLS from its stored start: evaluating another point first changes nothing
    for key in ("objective_nagq0", "objective_nagqk"):
        pt = e[key][0]
        assert pt["value_again"] == pt["value"], f"{key}: R's devfun depends on its history"
    # at the fit's own parameters the nAGQ = k objective is the fit's (glmer.nb: its last refit differs)
    if e["nAGQ"] >= 1 and not fx["input"]["glmer_nb"]:
        assert_close(e["objective_nagqk"][0]["value"], obj, "objective at the optimum", rtol=1e-12)
    if e["nAGQ"] == 0:
        assert_close(e["objective_nagq0"][0]["value"], obj, "nAGQ = 0 objective at the optimum", rtol=1e-12)
        assert_close(e["stage1"]["theta"], e["theta"], "stage 1 of a nAGQ = 0 fit is the fit", rtol=1e-10)


def _converged_cleanly(fx) -> bool:
    e = fx["expected"]
    return not fx["input"]["glmer_nb"] and not e["optinfo"]["conv_messages"] and not e["warnings"]


def test_tolerances_cover_lme4s_own_noise():
    """helpers' glmer tolerances are at least lme4's own movement between two of its optima (the refit
    from a perturbed start) on every fixture whose fit converged without a warning; the fits with a
    convergence warning move further, and are compared at R's parameters when ours part from them."""
    worst: dict[str, float] = {}
    for path in PATHS:
        fx = _fx(path)
        if not _converged_cleanly(fx):
            continue
        e, r = fx["expected"], fx["expected"]["refit_perturbed"]
        assert "error" not in r, f"{path.stem}: lme4's refit failed: {r.get('error')}"
        se = np.asarray(e["se"])
        moves = {
            "glmer_theta": np.max(np.abs(np.subtract(r["theta"], e["theta"])), initial=0.0),
            "glmer_beta": np.max(np.abs(np.subtract(r["beta"], e["beta"])) / se),
            "glmer_se": np.max(np.abs(np.asarray(r["se"]) / se - 1)),
            "glmer_se_rx": np.max(np.abs(np.asarray(r["se_rx"]) / np.asarray(e["se_rx"]) - 1)),
            "glmer_eta": r["eta_max_abs_diff"], "glmer_fitted": r["fitted_max_rel_diff"],
            "glmer_ranef": r["ranef_max_abs_diff"], "glmer_postvar": r["postvar_max_rel_diff"] or 0.0,
        }
        for k, v in moves.items():
            worst[k] = max(worst.get(k, 0.0), float(v))
        # the refit's objective: lme4's optimum is flat to far better than the criterion rule's slack
        assert abs(r["objective"] - e["objective"]) <= TOL["criterion_above"]["rtol"] * abs(e["objective"]), path.stem
        if e["nAGQ"] == 0:
            assert np.max(np.abs(np.subtract(r["theta"], e["theta"]))) <= TOL["glmer_stage1_theta"]["atol"], path.stem
    print("lme4's own movement between two optima (worst over the fixtures):", worst)
    for k, v in worst.items():
        tol = TOL[k].get("atol", 0.0) if k in ("glmer_theta", "glmer_beta", "glmer_eta", "glmer_ranef") \
            else TOL[k]["rtol"]
        assert v <= tol, f"TOL[{k!r}] = {tol:g} is below lme4's own movement {v:.3g}"


# ================================================================================================
# mc.glmer against the fixtures (needs the glmer engine)

@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_objective_at_fixed_parameters(path):
    """lme4's objective at fixed parameters (devFunOnly), optimiser-free: the nAGQ = 0 objective at two
    theta, the nAGQ = k objective at two (theta, beta); each to TOL glmer_objective_at, which needs
    lme4's PIRLS path (the gap to the converged value is printed on failure)."""
    fx = _fx(path)
    e = fx["expected"]
    f0 = devfun_of(fx, 0)
    for pt in e["objective_nagq0"]:
        v = float(f0(np.asarray(pt["theta"], dtype=float)))
        assert np.isclose(v, pt["value"], rtol=TOL["glmer_objective_at"]["rtol"], atol=0), (
            f"nAGQ = 0 objective at theta={pt['theta']}: ours {v!r}, R's {pt['value']!r} "
            f"(R's PIRLS run to convergence: {pt['value_converged']!r})")
    fk = devfun_of(fx, e["objective_nagqk_k"])
    for pt in e["objective_nagqk"]:
        par = np.concatenate([pt["theta"], pt["beta"]]).astype(float)
        v = float(fk(par))
        assert np.isclose(v, pt["value"], rtol=TOL["glmer_objective_at"]["rtol"], atol=0), (
            f"nAGQ = {e['objective_nagqk_k']} objective at {par.tolist()}: ours {v!r}, R's {pt['value']!r} "
            f"(R's PIRLS run to convergence: {pt['value_converged']!r})")
    # evaluating another point first changes nothing (a pure function, as lme4's restart from lp0)
    pt = e["objective_nagqk"][0]
    par = np.concatenate([pt["theta"], pt["beta"]]).astype(float)
    assert float(fk(par)) == float(devfun_of(fx, e["objective_nagqk_k"])(par))


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_objective_and_optimum(path):
    """The criterion rule, and theta / beta where the optimum is R's (else the gap is reported)."""
    fx, m, _, _ = fit_glmer_fixture(path)
    e = fx["expected"]
    check_criterion(-2.0 * float(m.logLik()), e["objective"], f"{path.stem}: -2 logLik")
    theta = m.getME("theta")
    assert list(theta.index) == e["theta_names"]
    lower = np.array([-np.inf if v is None else v for v in e["lower"]], dtype=float)
    assert_close(np.asarray(m.getME("lower"), dtype=float)[:len(lower)], lower, "lower bounds of theta")
    assert list(m.fixef().index) == e["fixef"]["names"]
    if params_parted(m, e):
        dth, db = param_gaps(m, e)
        print(f"{path.stem}: optimum parted from lme4's (theta by {dth:.3g}, beta by {db:.3g} SE); "
              f"objective ours - R's {-2.0 * float(m.logLik()) - e['objective']:.3g}")
        return
    assert_close(theta.values, e["theta"], "theta", **TOL["glmer_theta"])
    se = np.asarray(e["se"], dtype=float)
    assert_close(m.fixef().values, e["fixef"]["values"], "fixef", atol=TOL["glmer_beta"]["atol"] * se)
    assert_close(m.beta, e["beta"], "beta", atol=TOL["glmer_beta"]["atol"] * se)
    if fx["input"]["glmer_nb"]:
        assert_close(float(m.getME("glmer.nb.theta")), e["glmer_nb_theta"], "glmer.nb theta", **TOL["glmer_nb_theta"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_stage1(path):
    """Stage 1 (theta on the nAGQ = 0 objective) ends where lme4's does: the start of stage 2."""
    fx, m, _, _ = fit_glmer_fixture(path)
    e = fx["expected"]
    if fx["input"]["glmer_nb"]:
        pytest.skip("glmer.nb: stage 1 of the final refit starts from the previous fit, not lme4's defaults")
    par = np.asarray(m.optinfo["stage1"]["par"], dtype=float)
    assert_close(par[:len(e["theta"])], e["stage1"]["theta"], "stage 1 theta", **TOL["glmer_stage1_theta"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_likelihood_table(path):
    fx, m = glmer_model_to_compare(path)
    e = fx["expected"]
    ll = m.logLik()
    assert_close(float(ll), e["logLik"], "logLik", **TOL["glmer_logLik"])
    assert ll.df == e["logLik_df"]
    assert_close(m.AIC(), e["AIC"], "AIC", **TOL["glmer_logLik"])
    assert_close(m.BIC(), e["BIC"], "BIC", **TOL["glmer_logLik"])
    # deviance(): lme4's sum of squared deviance residuals, a function of the estimates (not -2 log L)
    assert_close(m.deviance(), e["deviance"], "deviance", rtol=TOL["glmer_fitted"]["rtol"])
    assert m.df_residual == e["df_residual"]
    assert m.nobs() == e["nobs"]
    assert m.ngrps() == e["ngrps"] and list(m.ngrps()) == list(e["ngrps"])
    assert_close(m.sigma(), e["sigma"], "sigma", rtol=TOL["glmer_se_rx"]["rtol"])
    assert m.isSingular() == e["isSingular"]


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_vcov(path):
    """vcov from 1.1-31's finite-difference Hessian (the printed one), and from R_X."""
    fx, m = glmer_model_to_compare(path)
    e = fx["expected"]
    se = np.asarray(e["se"], dtype=float)
    V = m.vcov()
    assert list(V.index) == e["fixef"]["names"]
    assert_close(np.sqrt(np.diag(V.values)), se, "standard errors (Hessian)", **TOL["glmer_se"])
    r = 2 * TOL["glmer_se"]["rtol"]
    assert_close(V.values, np.asarray(e["vcov"]), "vcov (Hessian)", rtol=r, atol=r * np.outer(se, se))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Vrx = m.vcov(use_hessian=False)
    se_rx = np.asarray(e["se_rx"], dtype=float)
    assert_close(np.sqrt(np.diag(Vrx.values)), se_rx, "standard errors (R_X)", **TOL["glmer_se_rx"])
    r = 2 * TOL["glmer_se_rx"]["rtol"]
    assert_close(Vrx.values, np.asarray(e["vcov_rx"]), "vcov (R_X)", rtol=r, atol=r * np.outer(se_rx, se_rx))


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_varcorr(path):
    fx, m = glmer_model_to_compare(path)
    e = fx["expected"]
    vc = m.VarCorr().to_frame()
    rows = e["varcorr"]
    assert list(vc["grp"]) == [r["grp"] for r in rows]
    assert [None if v is None or v != v else v for v in vc["var1"]] == [r["var1"] for r in rows]
    assert [None if v is None or v != v else v for v in vc["var2"]] == [r["var2"] for r in rows]
    t = TOL["glmer_varcorr"]
    assert_close(vc["sdcor"], [r["sdcor"] for r in rows], "VarCorr sdcor", **t)
    smax = max(abs(r["sdcor"]) for r in rows if r["var2"] is None)
    assert_close(vc["vcov"], [r["vcov"] for r in rows], "VarCorr vcov", rtol=2 * t["rtol"],
                 atol=2 * t["atol"] * max(smax, 1.0))


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_ranef_condvar_and_coef(path):
    fx, m = glmer_model_to_compare(path)
    e = fx["expected"]
    ours = m.ranef(condVar=True)
    assert list(ours) == list(e["ranef"])
    for g, spec in e["ranef"].items():
        df = ours[g]
        assert list(df.index) == spec["levels"], f"ranef levels of {g}"
        assert list(df.columns) == spec["columns"], f"ranef columns of {g}"
        assert_close(df.values, np.asarray(spec["values"], dtype=float), f"ranef {g}", **TOL["glmer_ranef"])
        pv_r = np.asarray(spec["postVar"], dtype=float)
        assert_close(df.attrs["postVar"], pv_r, f"postVar {g}", rtol=TOL["glmer_postvar"]["rtol"],
                     atol=TOL["glmer_postvar"]["atol"])
    cf = m.coef()
    assert list(cf) == list(e["coef"])
    se_max = float(np.max(e["se"]))     # coef = fixef + ranef: both tolerances
    for g, spec in e["coef"].items():
        df = cf[g]
        assert list(df.index) == spec["levels"] and list(df.columns) == spec["columns"]
        assert_close(df.values, np.asarray(spec["values"], dtype=float), f"coef {g}",
                     atol=TOL["glmer_ranef"]["atol"] + TOL["glmer_beta"]["atol"] * se_max)


def _residual_close(ours, theirs, what):
    t = TOL["glmer_residuals"]
    theirs = np.asarray(theirs, dtype=float)
    assert_close(ours, theirs, what, rtol=t["rtol"], atol=t["atol"] * float(np.nanmax(np.abs(theirs), initial=1.0)))


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fitted_residuals_predict(path):
    fx, m = glmer_model_to_compare(path)
    e = fx["expected"]
    k = e["n_stored"]
    assert list(m.frame.rows[:k]) == e["rows_used"]
    assert_close(m.fitted()[:k], e["fitted"], "fitted", **TOL["glmer_fitted"])
    for kind in RESIDUAL_TYPES:
        _residual_close(m.residuals(type=kind)[:k], e["residuals"][kind], f"residuals(type={kind!r})")
    assert_close(m.predict(type="link")[:k], e["predict"]["link"], "predict(type='link')", **TOL["glmer_eta"])
    assert_close(m.predict(type="response")[:k], e["predict"]["response"], "predict(type='response')",
                 **TOL["glmer_fitted"])
    assert_close(m.predict(re_form="NA", type="link")[:k], e["predict"]["link_population"],
                 "predict(re.form = NA)", **TOL["glmer_eta"])
    nd = newdata_of(fx)
    pn = e["predict_newdata"]
    assert_close(m.predict(newdata=nd, type="link", allow_new_levels=True), pn["link"],
                 "predict(newdata, allow.new.levels = TRUE)", **TOL["glmer_eta"])
    assert_close(m.predict(newdata=nd, type="response", allow_new_levels=True), pn["response"],
                 "predict(newdata, type = 'response', allow.new.levels = TRUE)", **TOL["glmer_fitted"])
    assert_close(m.predict(newdata=nd, re_form="NA", type="link"), pn["link_population"],
                 "predict(newdata, re.form = NA)", **TOL["glmer_eta"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_devcomp(path):
    fx, m = glmer_model_to_compare(path)
    e = fx["expected"]
    dc = m.getME("devcomp")
    for name, val in e["devcomp"]["dims"].items():
        if val is not None:
            assert int(dc["dims"][name]) == val, f"devcomp dims {name}: ours {dc['dims'][name]}, R's {val}"
    t = TOL["glmer_devcomp"]
    for name, val in e["devcomp"]["cmp"].items():
        if val is None:
            ours = dc["cmp"].get(name)
            assert ours is None or ours != ours, f"devcomp cmp {name}: R's is NA, ours {ours!r}"
            continue
        rtol = TOL["glmer_logLik"]["rtol"] if name == "dev" else t["rtol"]
        assert_close(dc["cmp"][name], val, f"devcomp cmp {name}", rtol=rtol, atol=t["atol"])


_CLASSES = (("singular", re.compile(r"boundary \(singular\) fit", re.I)),
            ("convergence", re.compile(r"converge|unidentifiable|eigenvalue|degenerate", re.I)))


def _classes(texts) -> set[str]:
    return {c for t in texts for c, pat in _CLASSES if pat.search(t)}


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_warnings_and_optinfo(path):
    """lme4's warnings and messages where we stop at lme4's optimum (its checks describe that point)."""
    fx, m, messages, _ = fit_glmer_fixture(path)
    e = fx["expected"]
    assert set(m.optinfo) >= {"optimizer", "feval", "message", "conv", "warnings"}
    if params_parted(m, e):
        pytest.skip("optimum parted from lme4's: its convergence checks describe another point")
    r_texts = e["warnings"] + e["messages"] + e["optinfo"]["conv_messages"]
    assert _classes(messages + list(m.optinfo["conv"]["lme4"]["messages"])) == _classes(r_texts), (
        f"lme4: {r_texts}; ours: {messages}")
    if e["isSingular"]:
        assert "boundary (singular) fit: see help('isSingular')" in messages


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_printed_summary(path):
    """print(summary(m)), print(m), print(VarCorr(m)) line by line (numbers within TOL glmer_text of
    their column's scale: the Hessian SEs carry finite-difference noise).  Our fit's printout; when our
    optimiser's path parted from lme4's (another number of evaluations), the printout at R's parameters
    if our own differs (see glmer_model_to_compare's ``same_path``)."""
    import mixedcompat as mc
    rel = TOL["glmer_text"]["rtol"]

    def compare(fx, m):
        e = fx["expected"]
        for ours, key, what in ((str(mc.summary(m)), "summary_text", "summary(m)"),
                                (str(m), "print_text", "print(m)"),
                                (str(mc.VarCorr(m)), "varcorr_text", "print(VarCorr(m))")):
            assert_same_printout(printout_of_compared(m, ours, e[key]), e[key], what, rel=rel, ties=1)

    fx, m = glmer_model_to_compare(path)
    try:
        compare(fx, m)
    except AssertionError:
        fx, m_at_r = glmer_model_to_compare(path, same_path=True)
        if m_at_r is m:
            raise
        compare(fx, m_at_r)


# ================================================================================================
# bad input: lme4's messages (item 7)

# cases where R's message is an artefact of R's evaluation rather than a statement about the input:
# ours must then name the value at fault instead (common brief: "naming the term, column or value")
_NAME_INSTEAD = {"unknown_family": "binomal", "poisson_logit_link": "logit"}


@pytest.mark.parametrize("path", BAD, ids=BAD_IDS)
def test_bad_input_as_lme4(path):
    import mixedcompat as mc
    fx = _fx(path)
    e = fx["expected"]
    if e["error"] is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises((mc.DataError, mc.FormulaError)) as info:
                bad_input_call(fx)
        text = str(info.value)
        want = _NAME_INSTEAD.get(path.stem, e["error"])
        assert want in text, f"{fx['what']}: lme4 says {e['error']!r}; ours {text!r}"
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bad_input_call(fx)
    ours = [str(w.message) for w in caught]
    for w in e["warnings"]:
        assert any(w in o for o in ours), f"{fx['what']}: lme4 warns {w!r}; we warn {ours}"
    if not e["warnings"]:
        assert not [o for o in ours if "singular" not in o], f"{fx['what']}: lme4 is silent; we warn {ours}"
