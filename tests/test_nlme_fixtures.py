"""mc.lme / mc.gls against nlme 3.1-162 on the fixtures of tests/fixtures/gen_nlme.R (tolerances: helpers.TOL)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import TOL, load_fixture_data
from nlme_fixtures import fit_input, load, lrt_fixture_paths, nlme_fixture_paths

PATHS = nlme_fixture_paths()
IDS = [p.stem for p in PATHS]


# Models whose optimum is not a point: only the log-likelihood is compared (ours may be higher).
WEAKLY_IDENTIFIED = {
    "orthodont_ri_cs": "random intercept + corCompSymm on the same groups: the intercept variance and Rho "
                       "trade off along a ridge of equal likelihood; nlme stops at its start Rho = 0",
    "oxboys_ri_ar1": "Phi -> 0.995: the AR(1) and the random intercept trade off; nlme's apVar is not "
                     "positive definite",
    "oxboys_slope_ar1": "nlme's default optimiser fails on this model; the fixture's fit (optim) stops "
                        "0.02 log-likelihood units below our optimum",
}


@pytest.fixture(scope="module", params=PATHS, ids=IDS)
def case(request):
    fx = load(request.param)
    m = fit_input(fx["input"])
    if request.param.stem in WEAKLY_IDENTIFIED and "test_loglik" not in request.node.name:
        pytest.skip(WEAKLY_IDENTIFIED[request.param.stem])
    return fx, m


def _close(actual, expected, what, rtol, atol=0.0):
    a = np.asarray(actual, float)
    e = np.asarray(expected, float)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    bad = ~(np.abs(a - e) <= np.broadcast_to(atol, e.shape) + rtol * np.abs(e))
    assert not bad.any(), f"{what}: ours {a[bad]} vs R {e[bad]} (rtol {rtol})"


def test_loglik_aic_bic(case):
    fx, m = case
    e = fx["expected"]
    ll = m.logLik()
    gap = float(ll) - e["logLik"]
    if gap > 0:   # a higher (restricted) likelihood than nlme's passes; report it
        print(f"logLik above nlme's by {gap:.3g}")
    else:
        _close(float(ll), e["logLik"], "logLik", **TOL["nlme_logLik"])
    assert ll.df == e["df_logLik"]
    _close(m.AIC(), e["AIC"], "AIC", **TOL["nlme_logLik"])
    _close(m.BIC(), e["BIC"], "BIC", **TOL["nlme_logLik"])
    assert m.nobs() == e["nobs"]


def test_fixed_effects(case):
    fx, m = case
    e = fx["expected"]
    assert m.x_names == e["fixef"]["names"]
    se = np.asarray(e["se"], float)
    _close(m.fixef(), e["fixef"]["values"], "fixef", TOL["nlme_coef"]["rtol"], atol=TOL["nlme_coef_floor"]["atol"] * se)
    _close(m.bse, se, "standard errors", **TOL["nlme_se"])
    _close(m.vcov().to_numpy(), e["vcov"], "vcov", TOL["nlme_se"]["rtol"] * 2,
           atol=TOL["nlme_coef_floor"]["atol"] * np.outer(se, se))
    _close(m.tvalues, e["t"], "t values (statsmodels' name)", **TOL["nlme_t"])
    _close(m.pvalues, e["p"], "p-values (statsmodels' name)", **TOL["nlme_p"])
    tt = m.tTable()
    if m.kind == "lme":
        np.testing.assert_array_equal(tt["DF"].to_numpy(), np.asarray(e["df"], float))


def test_sigma_and_structure_parameters(case):
    fx, m = case
    e = fx["expected"]
    _close(m.sigma(), e["sigma"], "sigma", **TOL["nlme_params"])
    if e["cor_params"] is None:
        assert m.cor_params is None
    else:
        if e["cor_params"]["names"]:     # R leaves corSymm's coefficients unnamed
            assert m.cor_names == e["cor_params"]["names"]
        _close(m.cor_params, e["cor_params"]["values"], "cor_params", TOL["nlme_params"]["rtol"],
               atol=TOL["nlme_params_floor"]["atol"])
    if e["var_params"] is None:
        assert m.var_params is None
    else:
        vp = m.var_params
        assert list(vp) == e["var_params"]["names"]
        _close(list(vp.values()), e["var_params"]["values"], "var_params", TOL["nlme_params"]["rtol"],
               atol=TOL["nlme_params_floor"]["atol"])


def test_varcorr(case):
    fx, m = case
    e = fx["expected"]
    if m.kind != "lme":
        pytest.skip("gls has no random effects")
    groups = e["varcorr"]["groups"]
    cov = m.re_cov()
    for name, g in groups.items():
        S = cov[name]
        assert list(S.columns) == g["names"], name
        sd = np.sqrt(np.diag(S.to_numpy()))
        _close(sd, g["sd"], f"sd {name}", TOL["nlme_params"]["rtol"], atol=TOL["nlme_sd_floor"]["atol"] * max(g["sd"]))
        C = S.to_numpy() / np.outer(sd, sd)
        _close(C, g["corr"], f"corr {name}", 0, **TOL["nlme_corr"])
    frame = m.VarCorr().to_frame()
    assert list(frame.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert frame["var1"].iloc[-1] is None and frame["var2"].iloc[0] is None     # R's NA, as lmer's frame
    _close(frame["sdcor"].iloc[-1], e["varcorr"]["residual_sd"], "residual sd", **TOL["nlme_params"])


def test_ranef_and_coef(case):
    fx, m = case
    e = fx["expected"]
    if m.kind != "lme":
        pytest.skip("gls has no random effects")
    re = m.ranef()
    for name, r in e["ranef"].items():
        ours = re[name]
        assert list(ours.index) == r["levels"], name
        assert list(ours.columns) == r["columns"], name
        vals = np.asarray(r["values"], float)
        scale = np.abs(vals).max(axis=0)
        _close(ours.to_numpy(), vals, f"ranef {name}", TOL["nlme_ranef"]["rtol"],
               atol=TOL["nlme_ranef"]["atol"] * scale)
    cl = e["coef_levels"]
    ours = m.coef(level=m.n_levels)
    assert list(ours.index) == cl["levels"]
    vals = np.asarray(cl["values"], float)
    _close(ours[cl["columns"]].to_numpy(), vals, "coef", **TOL["nlme_coef_table"],
           atol=TOL["nlme_coef_floor"]["atol"] * np.abs(vals).max(axis=0))


def test_fitted_and_residuals(case):
    fx, m = case
    e = fx["expected"]
    ysd = float(np.std(np.asarray(e["resid"]["response"], float) + np.asarray(e["fitted"][str(m.n_levels)])))
    for lev, vals in e["fitted"].items():
        _close(m.fitted(level=int(lev)), vals, f"fitted level {lev}", TOL["nlme_fitted"]["rtol"],
               atol=TOL["nlme_fitted_floor"]["atol"] * ysd)
    for kind, vals in e["resid"].items():
        vals = np.asarray(vals, float)
        _close(m.residuals(type=kind), vals, f"{kind} residuals", 0,
               atol=TOL["nlme_residuals"]["atol"] * np.abs(vals).max())


def test_anova_table(case):
    fx, m = case
    a = fx["expected"]["anova"]
    ours = m.anova()
    assert list(ours.index) == a["terms"]
    np.testing.assert_array_equal(ours["numDF"].to_numpy(), np.asarray(a["numDF"], float))
    if a["denDF"] is not None:    # gls: nlme prints one "Denom. DF" line instead of a column
        np.testing.assert_array_equal(ours["denDF"].to_numpy(), np.asarray(a["denDF"], float))
    else:
        assert (ours["denDF"] == m.nobs() - len(m.x_names)).all()
    _close(ours["F-value"], a["F"], "F", **TOL["nlme_F"])


def test_intervals(case):
    fx, m = case
    iv = fx["expected"]["intervals"]
    if isinstance(iv, str) or iv is None or "error" in iv:
        with pytest.raises(Exception):
            m.intervals()
        return
    ours = m.intervals()
    _close(ours["fixed"].to_numpy(), iv["fixed"], "fixed-effects intervals", TOL["nlme_fixed_intervals"]["rtol"],
           atol=TOL["nlme_coef_floor"]["atol"] * np.asarray(fx["expected"]["se"])[:, None])
    # var-cov intervals rest on nlme's finite-difference Hessian (apVar), whose own error we measure by
    # nlme's change between its default step and .relStep = 1e-4 (the generator fits both): the
    # tolerance is the larger of TOL["nlme_intervals"] and twice that change, per bound.
    other = fx["expected"].get("intervals_relstep") or iv
    for key, got, exp, alt in _varcov_blocks(ours, iv, other):
        spread = np.abs(np.asarray(exp, float) - np.asarray(alt, float)) / np.maximum(np.abs(exp), 1e-12)
        rtol = np.maximum(TOL["nlme_intervals"]["rtol"], 2 * spread)
        _close(got, exp, f"{key} intervals", rtol, atol=TOL["nlme_varcov_intervals_floor"]["atol"])


def _varcov_blocks(ours, iv, other):
    for name, g in (iv.get("reStruct") or {}).items():
        got = ours["reStruct"][name]
        assert list(got.index) == g["names"], name
        yield f"reStruct {name}", got.to_numpy(), g["values"], other["reStruct"][name]["values"]
    for key in ("corStruct", "varStruct"):
        if iv.get(key):
            got = ours[key]
            assert list(got.index) == iv[key]["names"], key
            yield key, got.to_numpy(), iv[key]["values"], other[key]["values"]
    yield "sigma", ours["sigma"].to_numpy(), iv["sigma"], other["sigma"]


def test_predict_levels_frame(case):
    """``level=[0, ..., Q]`` gives nlme's data frame (predict.fixed, predict.<level>)."""
    fx, m = case
    if m.kind != "lme":
        pytest.skip("lme only")
    frame = m.predict(level=list(range(m.n_levels + 1)))
    names = ["predict.fixed"] + [f"predict.{n}" for n in m.level_names]
    assert list(frame.columns[-len(names):]) == names
    for lev, col in enumerate(names):
        _close(frame[col], fx["expected"]["fitted"][str(lev)], col, TOL["nlme_fitted"]["rtol"],
               atol=TOL["nlme_fitted_floor"]["atol"] * np.abs(frame[col]).max())


def test_predict_by_level(case):
    fx, m = case
    p = fx["expected"].get("predict")
    if not p:
        pytest.skip("no predictions stored")
    nd = p["newdata"]
    data = load_fixture_data(fx["input"]["data"])
    newdata = pd.DataFrame(nd["values"], columns=nd["columns"])
    for c in newdata.columns:
        if isinstance(data[c].dtype, pd.CategoricalDtype):
            newdata[c] = newdata[c].astype(str)
    for key, vals in p.items():
        if not key.startswith("level"):
            continue
        lev = int(key[5:])
        vals = np.asarray([np.nan if v is None else v for v in vals], float)
        got = m.predict(newdata, level=lev)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(vals), err_msg=f"NaN pattern {key}")
        ok = ~np.isnan(vals)
        _close(got[ok], vals[ok], f"predict {key}", TOL["nlme_fitted"]["rtol"],
               atol=TOL["nlme_fitted_floor"]["atol"] * np.abs(vals[ok]).max())


LRT = lrt_fixture_paths()


@pytest.mark.parametrize("path", LRT, ids=[p.stem for p in LRT])
def test_lrt_table(path):
    import mixedcompat as mc
    fx = load(path)
    models = {spec["label"]: fit_input(spec) for spec in fx["models"]}
    tab = mc.anova(**models)
    e = fx["table"]["values"]
    assert list(tab.index) == fx["table"]["rownames"]
    _close(tab["logLik"], e["logLik"], "logLik", **TOL["nlme_logLik"])
    _close(tab["AIC"], e["AIC"], "AIC", **TOL["nlme_logLik"])
    _close(tab["BIC"], e["BIC"], "BIC", **TOL["nlme_logLik"])
    np.testing.assert_array_equal(tab["df"].to_numpy(), np.asarray(e["df"]))
    assert list(tab["Test"]) == e["Test"]
    lr = np.asarray([np.nan if v is None else v for v in e["L.Ratio"]], float)
    ok = ~np.isnan(lr)
    _close(tab["L.Ratio"].to_numpy()[ok], lr[ok], "L.Ratio", **TOL["nlme_lrt_ratio"])
    pv = np.asarray([np.nan if v is None else v for v in e["p-value"]], float)
    _close(tab["p-value"].to_numpy()[ok], pv[ok], "p-value", **TOL["nlme_lrt_p"])


def test_model_table_refits_nlme_fits_with_ml():
    """mc.model_table on lme fits: REML fits refitted by ML (nlme: update(m, method = "ML"))."""
    import warnings

    import mixedcompat as mc
    fx = load([p for p in PATHS if p.stem == "orthodont_pdsymm_ml"][0])
    d = load_fixture_data("Orthodont")
    m1 = mc.lme("distance ~ age * Sex", d, random="~ 1 | Subject")
    m2 = mc.lme("distance ~ age * Sex", d, random="~ age | Subject")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = mc.model_table(m1, m2)
    assert set(tab["method"]) == {"ML"}
    row = tab[tab["npar"] == 8]
    _close(row["logLik"], [fx["expected"]["logLik"]], "ML logLik of the refit", **TOL["nlme_logLik"])
