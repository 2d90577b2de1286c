"""model_table (AIC/BIC over fits) and cross_validate (K-fold / grouped refits) of
mixedcompat.inference.selection."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedcompat as mc
import mixedcompat.inference.lrt as lrt
from helpers import TOL, assert_close, fixture_paths, load_fixture, load_fixture_data


@pytest.fixture(scope="module")
def sleep():
    return load_fixture_data("sleepstudy")


@pytest.fixture(scope="module")
def slope_fit(sleep):
    return mc.lmer("Reaction ~ Days + (Days | Subject)", sleep)


# ------------------------------------------------------------------------------------------------
# model_table

def test_model_table_matches_r_anova_numbers(sleep):
    fx = load_fixture(next(p for p in fixture_paths("lrt") if p.stem == "anova_sleep_three_ml"))
    fits = [mc.lmer(s["formula"], sleep, REML=False) for s in fx["models"]]
    tab = mc.model_table(*fits)
    exp = {lab: i for i, lab in enumerate(fx["table"]["rownames"])}
    for lab, row in tab.iterrows():
        i = exp[lab]
        for col in ("AIC", "BIC", "logLik"):
            assert_close(row[col], fx["table"]["values"][col][i], f"{lab} {col}", **TOL[col])
        assert row["npar"] == fx["table"]["values"]["npar"][i]
    assert list(tab["AIC"]) == sorted(tab["AIC"])
    assert tab["delta_AIC"].iloc[0] == 0.0 and (tab["delta_AIC"] >= 0).all()
    assert np.isclose(tab["AIC_weight"].sum(), 1.0)
    w = np.exp(-0.5 * tab["delta_AIC"]) / np.exp(-0.5 * tab["delta_AIC"]).sum()
    assert_close(tab["AIC_weight"], w, "weights", **TOL["same_computation"])
    assert list(tab.columns) == ["formula", "method", "npar", "logLik", "AIC", "BIC", "delta_AIC", "AIC_weight"]
    assert set(tab["method"]) == {"ML"}
    assert tab.loc["m0", "formula"] == "Reaction ~ Days + (Days | Subject)"


def test_model_table_refits_reml_with_warning(sleep, slope_fit):
    m0 = mc.lmer("Reaction ~ 1 + (Days | Subject)", sleep)
    with pytest.warns(lrt.RefitMLWarning, match=r"refitting model\(s\) with ML"):
        tab = mc.model_table(slope_fit, m0)
    assert set(tab["method"]) == {"ML"}
    ml = mc.update(slope_fit, REML=False)
    assert_close(tab.loc["m0", "logLik"], float(ml.logLik()), "ML logLik", **TOL["ml_refit_logLik"])


def test_model_table_reml_different_fixed_without_refit_warns(sleep, slope_fit):
    m0 = mc.lmer("Reaction ~ 1 + (Days | Subject)", sleep)
    with pytest.warns(UserWarning, match="REML fits with different fixed effects"):
        tab = mc.model_table(slope_fit, m0, refit=False)
    assert set(tab["method"]) == {"REML"}
    assert_close(tab.loc["m0", "logLik"], float(slope_fit.logLik()), "REML logLik", **TOL["same_computation"])
    m1 = mc.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # same fixed effects: a valid REML comparison
        mc.model_table(slope_fit, m1, refit=False)


def test_model_table_mixed_methods_without_refit_warns(sleep, slope_fit):
    ml = mc.lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
    with pytest.warns(UserWarning, match="some models fit with REML = TRUE, some not"):
        mc.model_table(slope_fit, ml, refit=False)


def test_model_table_single_and_named(sleep):
    ml = mc.lmer("Reaction ~ Days + (1 | Subject)", sleep, REML=False)
    tab = mc.model_table(fm=ml)
    assert list(tab.index) == ["fm"] and tab["AIC_weight"].iloc[0] == 1.0


# ------------------------------------------------------------------------------------------------
# cross_validate

def test_row_folds_partition_the_rows(slope_fit, sleep):
    cv = mc.cross_validate(slope_fit, folds=5, seed=3)
    assert list(cv.index) == [1, 2, 3, 4, 5]
    tests = cv.attrs["test_rows"]
    union = np.concatenate([np.asarray(t) for t in tests])
    assert len(union) == len(set(union)) == len(sleep)
    assert set(union) == set(sleep.index)
    assert (cv["n_train"] + cv["n_test"] == len(sleep)).all()
    assert cv["n_test"].max() - cv["n_test"].min() <= 1
    assert np.isfinite(cv["RMSE"]).all() and np.isfinite(cv["log_pred_density"]).all()
    assert (cv["n_new_groups"] == 0).all()          # every subject is in every training set here
    assert len(cv.attrs["fits"]) == 5
    assert all(f is not slope_fit and f.nobs() == n for f, n in zip(cv.attrs["fits"], cv["n_train"]))


def test_seed_reproducible(slope_fit):
    a = mc.cross_validate(slope_fit, folds=3, seed=11)
    b = mc.cross_validate(slope_fit, folds=3, seed=11)
    pd.testing.assert_frame_equal(a, b)


def test_grouped_folds_keep_groups_whole(slope_fit, sleep):
    cv = mc.cross_validate(slope_fit, folds=4, groups="Subject", seed=1)
    seen = {}
    for f, rows in enumerate(cv.attrs["test_rows"]):
        for s in sleep.loc[rows, "Subject"].astype(str).unique():
            assert s not in seen, f"subject {s} in folds {seen.get(s)} and {f}"
            seen[s] = f
    assert len(seen) == sleep["Subject"].nunique()
    assert cv["n_test"].sum() == len(sleep)
    for fit, rows, n_new in zip(cv.attrs["fits"], cv.attrs["test_rows"], cv["n_new_groups"]):
        train_subjects = set(fit.ranef()["Subject"].index)
        assert not train_subjects & set(sleep.loc[rows, "Subject"].astype(str))
        assert n_new == sleep.loc[rows, "Subject"].nunique()


def test_leave_one_group_out_by_default(slope_fit, sleep):
    cv = mc.cross_validate(slope_fit, groups="Subject")
    assert len(cv) == sleep["Subject"].nunique()
    assert (cv["n_test"] == 10).all()


def test_fold_matches_a_direct_fit_new_groups(slope_fit, sleep):
    cv = mc.cross_validate(slope_fit, folds=3, groups="Subject", seed=5)
    test_rows = cv.attrs["test_rows"][0]
    train = sleep.drop(index=test_rows)
    test = sleep.loc[test_rows]
    direct = mc.lmer("Reaction ~ Days + (Days | Subject)", train)
    mu = direct.predict(test, allow_new_levels=True)
    assert_close(cv.attrs["predictions"].loc[test_rows], mu, "fold-1 predictions", **TOL["cv_fold"])
    # new subjects: population prediction, variance z' Sigma z + sigma^2
    assert_close(mu, direct.predict(test, re_form="NA"), "population", **TOL["same_computation"])
    vc = direct.VarCorr().to_frame()
    v0 = vc[(vc.grp == "Subject") & (vc.var1 == "(Intercept)") & vc.var2.isna()].vcov.iloc[0]
    v1 = vc[(vc.grp == "Subject") & (vc.var1 == "Days") & vc.var2.isna()].vcov.iloc[0]
    c01 = vc[(vc.grp == "Subject") & vc.var2.notna()].vcov.iloc[0]
    days = test["Days"].to_numpy(float)
    var = v0 + 2 * days * c01 + days ** 2 * v1 + direct.sigma() ** 2
    assert_close(cv.attrs["pred_var"].loc[test_rows], var, "predictive variance", **TOL["cv_fold"])
    y = test["Reaction"].to_numpy(float)
    lpd = stats.norm.logpdf(y, mu, np.sqrt(var)).sum()
    assert_close(cv["log_pred_density"].iloc[0], lpd, "log predictive density", **TOL["cv_fold_summary"])
    assert_close(cv["RMSE"].iloc[0], np.sqrt(np.mean((y - mu) ** 2)), "RMSE", **TOL["cv_fold_summary"])


def test_fold_matches_a_direct_fit_seen_groups(slope_fit, sleep):
    cv = mc.cross_validate(slope_fit, folds=4, seed=2)
    test_rows = cv.attrs["test_rows"][1]
    direct = mc.lmer("Reaction ~ Days + (Days | Subject)", sleep.drop(index=test_rows))
    mu = direct.predict(sleep.loc[test_rows])
    assert_close(cv.attrs["predictions"].loc[test_rows], mu, "fold-2 predictions", **TOL["cv_fold"])
    assert_close(cv.attrs["pred_var"].loc[test_rows], np.full(len(mu), direct.sigma() ** 2),
                 "seen groups: sigma^2", **TOL["cv_fold_summary"])


def test_only_rows_used_take_part(sleep):
    d = sleep.copy()
    d.loc[d.index[:7], "Reaction"] = np.nan
    m = mc.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    cv = mc.cross_validate(m, folds=4, seed=0)
    assert cv["n_test"].sum() == len(d) - 7
    union = np.concatenate([np.asarray(t) for t in cv.attrs["test_rows"]])
    assert not set(union) & set(d.index[:7])
    assert all(not f.REML for f in cv.attrs["fits"])


def test_cross_validate_errors(slope_fit):
    with pytest.raises(ValueError, match="folds must be at least 2"):
        mc.cross_validate(slope_fit, folds=1)
    with pytest.raises(ValueError, match="integer"):
        mc.cross_validate(slope_fit, folds=2.5)
    with pytest.raises(mc.DataError, match="groups column 'Patient' is not a column"):
        mc.cross_validate(slope_fit, groups="Patient")
    with pytest.raises(ValueError, match="more than the 18 groups"):
        mc.cross_validate(slope_fit, groups="Subject", folds=19)
    with pytest.raises(ValueError, match="more than the 180 rows"):
        mc.cross_validate(slope_fit, folds=181)
