"""lmerTest's step() / get_model() and ls_means() / difflsmeans() against R's golden masters
(tests/fixtures/gen_lmertest_step.R -> tests/fixtures/lmertest_step/), plus bad input.

step: every table row comes from a refit, so numbers are compared with the lmertest_step tolerances and
printed text with ``rel`` of the same size; the elimination (row names, ``Eliminated``) and the model
found must be R's exactly.  ls_means: the model is evaluated at R's theta (the optimum rule), numbers
with the contest tolerances (the same contest1D), text to the df tolerance.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import (TOL, assert_close, assert_same_printout, at_theta, fixture_paths, load_fixture,
                     load_fixture_data, theta_parted)
from mixedcompat.inference.linear_model import LinearModel, lm_from
from mixedcompat.inference.lsmeans import factor_terms, lsmeans_contrasts
from mixedcompat.inference.step import StepResult, ranova_formulae
from mixedcompat.present.lme4_printing import deparse_formula

pytestmark = [pytest.mark.filterwarnings("ignore::mixedcompat.errors.VarparHessianWarning"),
              pytest.mark.filterwarnings("ignore::mixedcompat.errors.SingularFitWarning"),
              pytest.mark.filterwarnings("ignore::mixedcompat.errors.RankDeficiencyWarning")]

ALL = fixture_paths("lmertest_step")
STEP = [p for p in ALL if p.stem.startswith("step_")]
LSM_ALL = [p for p in ALL if p.stem.startswith("lsmeans_")]
LSM = [p for p in LSM_ALL if "error" not in load_fixture(p)]
LSM_ERROR = [p for p in LSM_ALL if "error" in load_fixture(p)]
P_COLUMNS = {"Pr(>Chisq)", "Pr(>F)", "Pr(>|t|)"}
_COEF, _DF = TOL["lmertest_contest_coef"]["rtol"], TOL["lmertest_contest_df"]["rtol"]
LSM_RTOL = {"Estimate": _COEF, "Std. Error": _COEF, "df": _DF, "t value": _COEF, "lower": _DF, "upper": _DF,
            "Pr(>|t|)": _DF}
_CACHE: dict = {}


def lrt_atol(loglik: np.ndarray) -> float:
    """Absolute tolerance of an LRT (twice a difference of log-likelihoods): the criterion's, twice."""
    return 4.0 * TOL["criterion"]["rtol"] * float(np.nanmax(np.abs(loglik)))


def _data(fx):
    d = load_fixture_data(fx["data"])
    if fx.get("rows"):
        d = d.iloc[np.asarray(fx["rows"]) - 1].reset_index(drop=True)
    return d


def _fit(fx, control=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer(fx["formula"], _data(fx), REML=fx["REML"], weights=fx.get("weights"), control=control)


def _expected(table: dict, column: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in table["values"][column]], dtype=float)


def _step(path):
    key = str(path)
    if key not in _CACHE:
        fx = load_fixture(path)
        a = fx["args"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s = mc.step(_fit(fx), ddf=a["ddf"], alpha_random=a["alpha_random"], alpha_fixed=a["alpha_fixed"],
                        reduce_fixed=a["reduce_fixed"], reduce_random=a["reduce_random"], keep=a["keep"])
        msgs = [str(w.message) for w in caught if issubclass(w.category, UserWarning)
                and not issubclass(w.category, (mc.SingularFitWarning, mc.VarparHessianWarning,
                                                mc.RankDeficiencyWarning, mc.ConvergenceWarning))]
        _CACHE[key] = (fx, s, msgs)
    return _CACHE[key]


def _lsm(path):
    key = str(path)
    if key not in _CACHE:
        fx = load_fixture(path)
        m = _fit(fx)
        if theta_parted(m.theta, fx["theta"]):
            m = _fit(fx, at_theta(fx["theta"]))
        a = fx["args"]
        _CACHE[key] = (fx, m, mc.ls_means(m, which=a["which"], ddf=a["ddf"], pairwise=a["pairwise"],
                                          level=a["level"]))
    return _CACHE[key]


def test_fixtures_present():
    assert len(STEP) >= 12 and len(LSM) >= 12 and LSM_ERROR
    kinds = {load_fixture(p)["args"]["ddf"] for p in ALL}
    assert kinds == {"Satterthwaite", "Kenward-Roger"}


# ------------------------------------------------------------------------------------------------ step

@pytest.mark.parametrize("path", STEP, ids=[p.stem for p in STEP])
def test_step_tables_match_r(path):
    fx, s, _ = _step(path)
    for part in ("random", "fixed"):
        ours, theirs = getattr(s, part), fx[part]
        assert list(ours.index) == theirs["rownames"], f"{path.stem} {part}: eliminated / kept terms"
        assert list(ours.columns) == theirs["columns"]
        np.testing.assert_array_equal(ours["Eliminated"].to_numpy(float), _expected(theirs, "Eliminated"))
        for col in theirs["columns"][1:]:
            tol = TOL["lmertest_step_p"] if col in P_COLUMNS else TOL["lmertest_step_table"]
            if col == "LRT":        # a difference of two criteria: their tolerance, absolute
                tol = dict(rtol=0.0, atol=lrt_atol(_expected(theirs, "logLik")))
            assert_close(ours[col].to_numpy(float), _expected(theirs, col), f"{path.stem} {part} {col}", **tol)
        assert ours.attrs["heading"] == theirs_heading(fx, part)


def theirs_heading(fx, part):
    return list(fx[f"{part}_heading"])


@pytest.mark.parametrize("path", STEP, ids=[p.stem for p in STEP])
def test_step_printed_like_r(path):
    fx, s, _ = _step(path)
    assert_same_printout(str(s), fx["text"], path.stem, rel=TOL["lmertest_step_table"]["rtol"])


@pytest.mark.parametrize("path", STEP, ids=[p.stem for p in STEP])
def test_step_model_found_is_r(path):
    fx, s, _ = _step(path)
    final = mc.get_model(s)
    assert final is s.model and s.get_model() is final
    if fx["model_class"] == "lm":
        assert isinstance(final, LinearModel)
        assert final.formula == fx["model_formula"]
    else:
        assert isinstance(final, mc.LmerMod)
        assert deparse_formula(final.parts.tree) == fx["model_formula"]
        assert final.REML == fx["REML"]
    assert_close(mc.fixef(final).to_numpy(float), np.array(fx["model_beta"], dtype=float),
                 f"{path.stem} beta", **TOL["lmertest_step_beta"])


@pytest.mark.parametrize("path", STEP, ids=[p.stem for p in STEP])
def test_step_warnings_as_r(path):
    fx, _, msgs = _step(path)
    assert msgs == list(fx["warnings"])


def test_step_never_drops_a_term_inside_a_kept_one():
    """Marginality (R's drop.scope): a main effect is offered only once its interactions are gone, and
    ``keep`` of an interaction protects its main effects too."""
    _, s, _ = _step(next(p for p in STEP if p.stem == "step_cake"))
    order = s.fixed.index.tolist()
    assert order.index("recipe:temperature") < order.index("recipe")
    _, kept, _ = _step(next(p for p in STEP if p.stem == "step_cake_keep"))
    assert kept.fixed.index.tolist() == ["recipe:temperature"]
    assert kept.fixed["Eliminated"].tolist() == [0]
    assert kept.drop1.index.tolist() == ["recipe:temperature"]


def test_step_result_access_and_options():
    fx = load_fixture(next(p for p in STEP if p.stem == "step_sleep_slope"))
    m = _fit(fx)
    s = mc.step(m)
    assert isinstance(s, StepResult)
    assert s["random"] is s.random and s["fixed"] is s.fixed
    with pytest.raises(KeyError):
        s["model"]
    nothing = mc.step(m, reduce_random=False, reduce_fixed=False, alpha_random=0.0, alpha_fixed=0.0)
    assert mc.get_model(nothing) is not None and (nothing.fixed["Eliminated"] == 0).all()
    assert str(s) == repr(s)


def test_ranova_formulae_are_lmertests():
    """The formula behind each ranova row (R's update.formula of lmerTest's full formula): the strings are
    lmerTest 3.1-3's deparse2(attr(ranova(m), "formulae")) for this model."""
    m = _fit({"data": "sim_main", "formula": "y ~ x * f + (1 + x + z | g) + (1 | h)", "REML": True})
    forms = [deparse_formula(f) for f in ranova_formulae(m)]
    assert forms == ["y ~ x + f + (1 | h) + (z | g) + x:f", "y ~ x + f + (1 | h) + (x | g) + x:f",
                     "y ~ x + f + (1 + x + z | g) + x:f"]
    assert len(forms) == len(mc.ranova(m)) - 1


def test_linear_model_matches_least_squares():
    d = load_fixture_data("sleepstudy")
    m = mc.lmer("Reaction ~ Days + (1 | Subject)", d)
    fit = lm_from(m, "Reaction ~ Days")
    X = np.column_stack([np.ones(len(d)), d["Days"].to_numpy(float)])
    beta, rss, *_ = np.linalg.lstsq(X, d["Reaction"].to_numpy(float), rcond=None)
    assert_close(fit.coefficients.to_numpy(), beta, "lm beta", **TOL["same_computation"])
    assert_close(fit.rss, float(rss[0]), "lm rss", **TOL["same_computation"])
    assert fit.df_residual == len(d) - 2 and fit.nobs() == len(d)


# ------------------------------------------------------------------------------------------------ ls_means

@pytest.mark.parametrize("path", LSM, ids=[p.stem for p in LSM])
def test_ls_means_match_r(path):
    fx, _, tab = _lsm(path)
    theirs = fx["table"]
    assert list(tab.index) == theirs["rownames"]
    assert list(tab.columns) == theirs["columns"]
    for col in theirs["columns"]:
        assert_close(tab[col].to_numpy(float), _expected(theirs, col), f"{path.stem} {col}",
                     rtol=LSM_RTOL[col], atol=TOL["lmertest_contest_atol"]["atol"])


@pytest.mark.parametrize("path", LSM, ids=[p.stem for p in LSM])
def test_ls_means_printed_like_r(path):
    fx, _, tab = _lsm(path)
    assert_same_printout(str(tab), fx["text"], path.stem, rel=_DF)


@pytest.mark.parametrize("path", LSM_ERROR, ids=[p.stem for p in LSM_ERROR])
def test_ls_means_stops_where_lmertest_stops(path):
    fx = load_fixture(path)
    m = _fit(fx)
    with pytest.raises(mc.DataError, match=re.escape(f"(R: {fx['error']})")):
        mc.ls_means(m, which=fx["args"]["which"], ddf=fx["args"]["ddf"], pairwise=fx["args"]["pairwise"])


def test_allow_transformed_holds_transformed_variables_at_their_values():
    """The correct behaviour behind the argument: factor(k) crosses its levels; log(x + 10) is held at the
    mean of its values (not at log(mean(x) + 10)) and has no row of its own."""
    d = load_fixture_data("sim_main")
    m = mc.lmer("y ~ factor(k) + f + (1 | g)", d)
    tab = mc.ls_means(m, allow_transformed=True)
    assert tab.index.tolist() == ["factor(k)1", "factor(k)2", "factor(k)3", "factor(k)4", "fA", "fB", "fC"]
    m2 = mc.lmer("y ~ x + log(x + 10) + f + (1 | g)", d)
    L = lsmeans_contrasts(m2, allow_transformed=True)
    assert list(L) == ["f"]
    assert np.allclose(L["f"]["log(x + 10)"], np.log(d["x"] + 10).mean())
    L_r = lsmeans_contrasts(m2)
    assert list(L_r) == ["log(x + 10)", "f"]
    assert np.allclose(L_r["f"]["log(x + 10)"], np.log(d["x"].mean() + 10))


def test_difflsmeans_is_pairwise_ls_means():
    fx, m, _ = _lsm(next(p for p in LSM if p.stem == "lsmeans_sim_diff_f"))
    a = mc.difflsmeans(m, which="f")
    b = mc.ls_means(m, which=["f"], pairwise=True)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert a.index.tolist() == ["fA - fB", "fA - fC", "fB - fC"]
    L = a.attrs["hypotheses"]["f"]
    assert list(L.columns) == list(mc.fixef(m).index)
    assert_close((L.to_numpy() @ mc.fixef(m).to_numpy()), a["Estimate"].to_numpy(), "L beta",
                 **TOL["same_computation"])


def test_ls_means_cells_and_grid():
    """Cell names as R's model.matrix(~ 0 + f:f1) (first factor fastest); the covariate at its mean."""
    d = load_fixture_data("sim_main")
    m = mc.lmer("y ~ x + f * f1 + (1 | g)", d)
    assert factor_terms(m) == ["f", "f1", "f:f1"]
    L = lsmeans_contrasts(m, "f:f1")["f:f1"]
    assert L.index.tolist() == ["fA:f1ctl", "fB:f1ctl", "fC:f1ctl", "fA:f1trt", "fB:f1trt", "fC:f1trt"]
    assert np.allclose(L["x"], d["x"].mean())
    assert np.allclose(L["(Intercept)"], 1.0)


def test_ls_means_without_factor_terms_is_empty():
    fx, _, tab = _lsm(next(p for p in LSM if p.stem == "lsmeans_sleep_none"))
    assert tab.empty and list(tab.columns) == fx["table"]["columns"]


# ------------------------------------------------------------------------------------------------ bad input

@pytest.fixture(scope="module")
def cake_fit():
    return mc.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", load_fixture_data("cake"))


def test_keep_unknown_term_warns_as_lmertest(cake_fit):
    with pytest.warns(UserWarning, match=r"Invalid 'keep' ignored: recipe:nothing\.\nValid terms are: "
                                         r"recipe temperature recipe:temperature\."):
        s = mc.step(cake_fit, keep=["recipe:nothing"], reduce_random=False)
    assert s.fixed.index.tolist() == ["recipe:temperature", "recipe", "temperature"]


@pytest.mark.parametrize("keep", [[1], [None], 3.0])
def test_keep_not_labels_refused(cake_fit, keep):
    with pytest.raises(mc.DataError, match="keep must be term labels"):
        mc.step(cake_fit, keep=keep)


@pytest.mark.parametrize("kw, match", [({"alpha_fixed": "0.05"}, "alpha_fixed must be a number"),
                                        ({"alpha_random": float("nan")}, "alpha_random must be a number")])
def test_step_bad_alpha(cake_fit, kw, match):
    with pytest.raises(mc.DataError, match=match):
        mc.step(cake_fit, **kw)


def test_step_and_ls_means_bad_ddf(cake_fit):
    with pytest.raises(ValueError, match="Satterthwaite"):
        mc.step(cake_fit, ddf="lme4")
    with pytest.raises(ValueError, match="Satterthwaite"):
        mc.ls_means(cake_fit, ddf="nonsense")


def test_which_missing_or_not_factor_term():
    d = load_fixture_data("sim_main")
    m = mc.lmer("y ~ x * f + f1 + (1 | g)", d)
    with pytest.raises(mc.DataError, match=r"'x' contains a covariate"):
        mc.ls_means(m, which="x")
    with pytest.raises(mc.DataError, match=r"'x:f' contains a covariate"):
        mc.difflsmeans(m, which=["f", "x:f"])
    with pytest.raises(mc.DataError, match=r"'f2' is not a term"):
        mc.ls_means(m, which="f2")
    with pytest.raises(mc.DataError, match=r"'f1:f' is not a term"):
        mc.ls_means(m, which="f1:f")
    with pytest.raises(mc.DataError, match="which must name terms"):
        mc.ls_means(m, which=[1])
    with pytest.raises(mc.DataError, match="level must be"):
        mc.ls_means(m, level=95)


def test_ls_means_refuses_logical_and_matrix_variables():
    d = load_fixture_data("sim_main")
    m = mc.lmer("y ~ flag + f + (1 | g)", d)
    with pytest.raises(mc.DataError, match="'flag' is logical"):
        mc.ls_means(m)
    m2 = mc.lmer("y ~ poly(x, 2) + f + (1 | g)", d)
    with pytest.raises(mc.DataError, match=r"'poly\(x, 2\)' is a transformation.*R: object 'x' not found"):
        mc.ls_means(m2)
    with pytest.raises(mc.DataError, match=r"'poly\(x, 2\)' is a matrix"):
        mc.ls_means(m2, allow_transformed=True)


def test_glmer_and_lme_fits_refused():
    cbpp = mc.datasets.load("cbpp")
    g = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    o = mc.lme("distance ~ age + Sex", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    for fn in (mc.step, mc.ls_means, mc.difflsmeans):
        with pytest.raises(TypeError, match="glmer fit"):
            fn(g)
        with pytest.raises(TypeError, match="nlme"):
            fn(o)
    with pytest.raises(TypeError, match="result of step"):
        mc.get_model(o)


def test_kenward_roger_needs_reml():
    m = mc.lmer("score ~ Machine + (1 | Worker)", load_fixture_data("Machines"), REML=False)
    with pytest.raises(ValueError, match="REML"):
        mc.ls_means(m, ddf="Kenward-Roger")
    with pytest.raises(ValueError, match="REML"):
        mc.step(m, ddf="Kenward-Roger")


def test_dropping_a_term_with_missing_values_stops_as_lmertest():
    """A dropped term whose variable has NAs gives the refit more rows: lmerTest stops (R 4.2.2 /
    lmerTest 3.1-3 say "number of rows in use has changed: remove missing values?")."""
    d = load_fixture_data("sim_main")
    d.loc[np.arange(3, 230, 23), "z"] = np.nan
    m = mc.lmer("y ~ x + f + z + (1 | g)", d)
    with pytest.raises(mc.DataError, match=re.escape("number of rows in use has changed: remove missing values?")):
        mc.step(m, alpha_fixed=1e-30)
