"""lme4's anova(m0, m1, ...), lmerTest's ranova and lme4's drop1.merMod against golden masters from
tests/fixtures/gen_lrt.R (tests/fixtures/lrt/*.json), plus the conditions R signals."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
import mixedcompat.inference.lrt as lrt
from helpers import TOL, assert_close, assert_same_printout, fixture_paths, load_fixture, load_fixture_data

LRT_FIXTURES = fixture_paths("lrt")
P_COLUMNS = {"Pr(>Chisq)", "Pr(Chi)"}


def _fits(fx):
    data = load_fixture_data(fx["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [mc.lmer(s["formula"], data, REML=s["REML"]) for s in fx["models"]]


def _table(fx):
    fits = _fits(fx)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if fx["kind"] == "anova":
            tab = lrt.anova_lrt(*fits, refit=fx["refit"], model_names=[s["label"] for s in fx["models"]])
        elif fx["kind"] == "ranova":
            tab = mc.ranova(fits[0])
        else:
            tab = mc.drop1(fits[0], test="Chisq")
    return tab, caught


def _expected(fx, column):
    return np.array([np.nan if v is None else v for v in fx["table"]["values"][column]], dtype=float)


def test_fixtures_present():
    kinds = [load_fixture(p)["kind"] for p in LRT_FIXTURES]
    assert kinds.count("anova") >= 5 and kinds.count("ranova") >= 4 and kinds.count("drop1") >= 3


@pytest.mark.parametrize("path", LRT_FIXTURES, ids=[p.stem for p in LRT_FIXTURES])
def test_table_matches_r(path):
    fx = load_fixture(path)
    tab, _ = _table(fx)
    assert list(tab.index) == fx["table"]["rownames"]
    assert list(tab.columns) == fx["table"]["columns"]
    for col in fx["table"]["columns"]:
        tol = TOL["lrt_p"] if col in P_COLUMNS else TOL["lrt_table"]
        assert_close(tab[col].to_numpy(float), _expected(fx, col), f"{path.stem} {col}", **tol)


@pytest.mark.parametrize("path", LRT_FIXTURES, ids=[p.stem for p in LRT_FIXTURES])
def test_printed_like_r(path):
    fx = load_fixture(path)
    tab, _ = _table(fx)
    assert_same_printout(str(tab), fx["text"], path.stem)


@pytest.mark.parametrize("path", [p for p in LRT_FIXTURES if p.stem.startswith("anova_")],
                         ids=[p.stem for p in LRT_FIXTURES if p.stem.startswith("anova_")])
def test_anova_conditions_as_r(path):
    fx = load_fixture(path)
    _, caught = _table(fx)
    refits = [str(w.message) for w in caught if issubclass(w.category, lrt.RefitMLWarning)]
    others = [str(w.message) for w in caught if not issubclass(w.category, lrt.RefitMLWarning)
              and not issubclass(w.category, mc.SingularFitWarning)]
    assert refits == list(fx["messages"])
    assert others == list(fx["warnings"])


def test_dispatcher_gives_the_lrt_table():
    fx = load_fixture(next(p for p in LRT_FIXTURES if p.stem == "anova_sleep_int_slope"))
    m0, m1 = _fits(fx)
    with pytest.warns(lrt.RefitMLWarning, match=r"refitting model\(s\) with ML \(instead of REML\)"):
        tab = mc.anova(m0, m1)
    assert list(tab.index) == ["m0", "m1"]
    assert_close(tab["Chisq"].to_numpy(float), _expected(fx, "Chisq"), "Chisq", rtol=TOL["lrt_table"]["rtol"])


def test_refit_only_the_reml_fits():
    d = load_fixture_data("sleepstudy")
    m_ml = mc.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    m_reml = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    with pytest.warns(lrt.RefitMLWarning):
        tab = lrt.anova_lrt(m_ml, m_reml)
    used = tab.attrs["models"]
    assert used[0] is m_ml and not used[1].REML
    # no REML fit: no refit, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrt.anova_lrt(m_ml, mc.update(m_reml, REML=False))


def test_labels_keyword_and_generic():
    d = load_fixture_data("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = mc.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
        b = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    assert list(lrt.anova_lrt(fm2=b, fm1=a).index) == ["fm1", "fm2"]
    with pytest.warns(UserWarning, match="failed to find model names, assigning generic names"):
        tab = lrt.anova_lrt(a, b, model_names=["x", "x"])
    assert list(tab.index) == ["MODEL1", "MODEL2"]
    with pytest.raises(ValueError, match="model names vector and model list have different lengths"):
        lrt.anova_lrt(a, b, model_names=["x"])


def test_same_npar_as_r():
    d = load_fixture_data("sleepstudy")
    a = mc.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    b = mc.lmer("Reaction ~ I(Days^2) + (1 | Subject)", d, REML=False)
    tab = lrt.anova_lrt(b, a)          # second has the higher logLik: Chisq > 0, Df 0, p NA
    assert list(tab["Df"].iloc[1:]) == [0.0]
    assert np.isnan(tab["Pr(>Chisq)"]).all()
    assert tab["Chisq"].iloc[1] > 0
    tab = lrt.anova_lrt(a, b)          # lower logLik: Chisq clamped at 0
    assert tab["Chisq"].iloc[1] == 0.0


def test_different_size_refused():
    d = load_fixture_data("sleepstudy")
    a = mc.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    b = mc.lmer("Reaction ~ Days + (1 | Subject)", d.iloc[:170], REML=False)
    with pytest.raises(mc.DataError, match="^models were not all fitted to the same size of dataset$"):
        lrt.anova_lrt(a, b)
    with pytest.raises(mc.DataError, match="same size of dataset"):
        mc.model_table(a, b)


def test_different_data_object_refused():
    d = load_fixture_data("sleepstudy")
    d2 = d.copy()
    d2["Reaction"] = d2["Reaction"] + np.linspace(0, 1, len(d2))
    a = mc.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    b = mc.lmer("Reaction ~ Days + (1 | Subject)", d2, REML=False)
    with pytest.raises(mc.DataError, match="all models must be fit to the same data object"):
        lrt.anova_lrt(a, b)
    # an equal copy is the same data
    c = mc.lmer("Reaction ~ Days + (Days | Subject)", d.copy(), REML=False)
    lrt.anova_lrt(a, c)


def test_different_rows_refused():
    d = load_fixture_data("sleepstudy").copy()
    d["x1"] = d["Days"].astype(float)
    d["x2"] = d["Days"].astype(float)
    d.loc[d.index[0], "x1"] = np.nan
    d.loc[d.index[1], "x2"] = np.nan
    a = mc.lmer("Reaction ~ x1 + (1 | Subject)", d, REML=False)
    b = mc.lmer("Reaction ~ x2 + (1 | Subject)", d, REML=False)
    assert a.nobs() == b.nobs()
    with pytest.raises(mc.DataError, match="not all fitted to the same rows"):
        lrt.anova_lrt(a, b)


def test_reml_different_fixed_effects_without_refit_warns():
    d = load_fixture_data("sleepstudy")
    a = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    b = mc.lmer("Reaction ~ 1 + (Days | Subject)", d)
    with pytest.warns(UserWarning, match="REML fits with different fixed effects"):
        tab = lrt.anova_lrt(a, b, refit=False)
    assert_close(tab["logLik"].to_numpy(float), [float(b.logLik()), float(a.logLik())], "REML logLik",
                 **TOL["same_computation"])
    # same fixed effects: a valid REML comparison, no warning (as lme4)
    c = mc.lmer("Reaction ~ Days + (1 | Subject)", d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrt.anova_lrt(c, a, refit=False)


def test_mixed_reml_ml_without_refit_warns():
    d = load_fixture_data("sleepstudy")
    a = mc.lmer("Reaction ~ Days + (1 | Subject)", d)
    b = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    with pytest.warns(UserWarning, match="^some models fit with REML = TRUE, some not$"):
        lrt.anova_lrt(a, b, refit=False)


def test_anova_needs_two_models_and_fits():
    d = load_fixture_data("sleepstudy")
    a = mc.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    with pytest.raises(TypeError, match="at least two"):
        lrt.anova_lrt(a)
    with pytest.raises(TypeError, match="not a fitted lmer model"):
        lrt.anova_lrt(a, "b")


def test_drop1_options_and_errors():
    d = load_fixture_data("sim_main")
    m = mc.lmer("y ~ x * f + z + (1 | g)", d, REML=False)
    plain = mc.drop1(m, test="none")             # lme4's drop1 with R's default test = "none"
    assert list(plain.columns) == ["npar", "AIC"]
    assert list(plain.index) == ["<none>", "z", "x:f"]
    scoped = mc.drop1(m, scope="~ z", test="Chisq")
    assert list(scoped.index) == ["<none>", "z"]
    assert_close(scoped.loc["z", "LRT"], mc.drop1(m, test="Chisq").loc["z", "LRT"], "LRT", **TOL["same_fit"])
    assert list(mc.drop1(m, scope=["f:x"]).index) == ["<none>", "x:f"]
    with pytest.raises(ValueError, match="scope is not a subset of term labels"):
        mc.drop1(m, scope=["w"])
    with pytest.raises(ValueError, match="stub"):
        mc.drop1(m, test="F")
    with pytest.raises(ValueError, match="test must be"):
        mc.drop1(m, test="LRT")


def test_drop1_rows_changed_refused():
    d = load_fixture_data("sleepstudy").copy()
    d["x"] = np.where(np.arange(len(d)) < 3, np.nan, np.sin(np.arange(len(d))))
    m = mc.lmer("Reaction ~ Days + x + (1 | Subject)", d, REML=False)
    with pytest.raises(mc.DataError, match=r"number of rows in use has changed: remove missing values\?"):
        mc.drop1(m, test="Chisq")


def test_ranova_reduce_terms_false_and_refit_count():
    d = load_fixture_data("sim_main")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer("y ~ x + (1 + x + z | g)", d)
        whole = mc.ranova(m, reduce_terms=False)
    assert list(whole.index) == ["<none>", "(1 + x + z | g)"]
    assert whole.loc["(1 + x + z | g)", "Df"] == 6
    assert whole.attrs["models"][1] is None          # no random effect left: an lm


def test_lm_loglik_matches_numpy_ols():
    d = load_fixture_data("sleepstudy")
    m = mc.lmer("Reaction ~ Days + (1 | Subject)", d, REML=False)
    val, df, n = lrt.lm_loglik(m, "Reaction ~ Days", REML=False)
    X = np.column_stack([np.ones(len(d)), d["Days"].to_numpy(float)])
    y = d["Reaction"].to_numpy(float)
    rss = np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2)
    assert df == 3 and n == len(d)
    assert np.isclose(val, -0.5 * len(y) * (np.log(2 * np.pi * rss / len(y)) + 1), rtol=TOL["same_computation"]["rtol"])


def test_table_is_a_dataframe():
    fx = load_fixture(next(p for p in LRT_FIXTURES if p.stem == "anova_sleep_three_ml"))
    tab, _ = _table(fx)
    assert isinstance(tab, pd.DataFrame)
    assert isinstance(tab.to_frame(), pd.DataFrame) and not isinstance(tab.to_frame(), lrt.AnovaTable)
    assert tab.attrs["heading"][0] == "Data: sleepstudy"


# ------------------------------------------------------------------ lmerTest's F tables print as lmerTest's

LMERTEST_TABLES = [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", "anova(m)", {}),
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", 'anova(m, ddf = "Kenward-Roger")', {"ddf": "Kenward-Roger"}),
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", "anova(m, type = 1)", {"type": 1}),
    ("distance ~ age * Sex + (1 | Subject)", "Orthodont", "anova(m)", {}),
    ("distance ~ age * Sex + (1 | Subject)", "Orthodont", "drop1(m)", "drop1"),
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", "drop1(m)", "drop1"),
]


@pytest.mark.r
@pytest.mark.parametrize("formula,data,call,how", LMERTEST_TABLES,
                         ids=[f"{d}-{c}" for _, d, c, _ in LMERTEST_TABLES])
def test_lmertest_f_tables_print_as_lmertest(formula, data, call, how):
    import rlive
    df = mc.datasets.load(data)
    m = mc.lmer(formula, df)
    tab = mc.drop1(m) if how == "drop1" else mc.anova(m, **how)
    ro = rlive.robjects()
    ro.globalenv["d"] = rlive.to_r_frame(df)
    theirs = "\n".join(rlive.r_eval_lines(
        f"{{ m <- lmerTest::lmer({formula}, d); print(lmerTest:::{call.split('(')[0]}.lmerModLmerTest("
        f"{call.split('(', 1)[1]}) }}"))
    assert_same_printout(str(tab), theirs, call, rel=TOL["ddf_df"]["rtol"])   # DenDF: the loosest number
