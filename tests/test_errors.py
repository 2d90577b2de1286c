"""Bad input to lmer: each case raises FormulaError / DataError naming the culprit (lme4's checks)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedcompat as mc
from mixedcompat.front.transforms import parse_r
from helpers import TOL, fixture_paths, load_fixture, load_fixture_data


@pytest.fixture(scope="module")
def sleep():
    return mc.datasets.load("sleepstudy")


@pytest.mark.parametrize("formula, culprit", [
    ("Reaction ~ Days + (Days | Subject", "not closed"),
    ("Reaction ~ Days + (Days | Subject))", "no matching"),
    ("Reaction ~ Days + (Days | Subject) | Subject", "bar in its left-hand side"),
    ("~ Days + (1 | Subject)", "no response"),
    ("Reaction ~ Dayz + (1 | Subject)", "Dayz"),
    ("Reaction ~ Days + (1 | Subjekt)", "Subjekt"),
    ("Reaction ~ Days", "no random effects"),
    ("Reaction ~ Days + (1 || Subject + Days)", "Subject + Days"),
    ("Reaction Days (1 | Subject)", "no '~'"),
])
def test_formula_errors_name_the_culprit(sleep, formula, culprit):
    with pytest.raises(mc.FormulaError, match=None) as info:
        mc.lmer(formula, sleep)
    assert culprit in str(info.value)


def test_non_numeric_response(sleep):
    with pytest.raises(mc.DataError, match="Subject"):
        mc.lmer("Subject ~ Days + (1 | Days)", sleep)


def test_grouping_factor_with_one_level_per_observation(sleep):
    d = sleep.assign(id=[f"r{i}" for i in range(len(sleep))])
    with pytest.raises(mc.DataError, match=r"must be < number of observations \(problems: id"):
        mc.lmer("Reaction ~ Days + (1 | id)", d)


def test_grouping_factor_with_single_level(sleep):
    with pytest.raises(mc.DataError, match="'one'"):
        mc.lmer("Reaction ~ Days + (1 | one)", sleep.assign(one="a"))


def test_more_random_effects_than_observations(sleep):
    d = sleep[sleep["Days"] <= 1]
    with pytest.raises(mc.DataError, match=r"number of observations \(=36\) <= number of random effects \(=36\)"):
        mc.lmer("Reaction ~ Days + (Days | Subject)", d)


def test_empty_data(sleep):
    with pytest.raises(mc.DataError, match="no rows"):
        mc.lmer("Reaction ~ Days + (1 | Subject)", sleep.iloc[:0])


def test_all_rows_removed_by_na(sleep):
    with pytest.raises(mc.DataError, match="Reaction"):
        mc.lmer("Reaction ~ Days + (1 | Subject)", sleep.assign(Reaction=np.nan))


@pytest.mark.parametrize("weights, culprit", [
    (-np.ones(180), "negative weights"),
    (np.r_[np.inf, np.ones(179)], r"objective in x0 returns NA: the weights '\(weights\)' are Inf"),
    (np.r_[np.ones(179), np.nan], None),
    (np.ones(3), "one value per data row"),
])
def test_bad_weights(sleep, weights, culprit):
    if culprit is None:
        # an NA weight drops its row (R's na.omit), it is not an error
        m = mc.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights=weights)
        assert m.nobs() == 179
        assert m.frame.rows[-1] == 178
        return
    with pytest.raises(mc.DataError, match=culprit):
        mc.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights=weights)


def test_data_must_be_a_dataframe(sleep):
    with pytest.raises(mc.DataError, match="DataFrame"):
        mc.lmer("Reaction ~ Days + (1 | Subject)", sleep.to_dict())


def test_bad_start_values(sleep):
    with pytest.raises(mc.DataError, match="Subject"):
        mc.lmer("Reaction ~ Days + (Days | Subject)", sleep, control={"start": [1.0]})


def test_na_rows_dropped_consistently(sleep):
    d = sleep.copy()
    d.loc[3, "Reaction"] = np.nan
    d.loc[10, "Days"] = np.nan
    d["Subject"] = d["Subject"].astype(object)
    d.loc[20, "Subject"] = None
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    assert m.nobs() == 177
    assert 3 not in m.frame.rows and 10 not in m.frame.rows and 20 not in m.frame.rows
    assert len(m.fitted()) == 177
    with pytest.raises(mc.DataError, match="Reaction"):
        mc.lmer("Reaction ~ Days + (Days | Subject)", d, na_action="fail")


def test_unknown_control_setting(sleep):
    with pytest.raises(mc.DataError, match="'calc_derivz'"):
        mc.lmer("Reaction ~ Days + (1 | Subject)", sleep, control={"calc_derivz": False})


def test_unparenthesised_bar_is_one_term_as_in_r(sleep):
    # R parses 'Reaction ~ Days + 1 | Subject' as 'Reaction ~ ((Days + 1) | Subject)': lme4 fits it
    m = mc.lmer("Reaction ~ Days + 1 | Subject", sleep)
    assert list(m.fixef().index) == ["(Intercept)"]
    assert [t.label for t in m.parts.re_terms] == ["Days + 1 | Subject"]


# ---- Inf / -Inf in model variables: lme4's message, and the variable and rows named ------------

INF_FIXTURES = [p for p in fixture_paths("input") if p.stem.startswith("inf_")]


def _data_with_value(fx):
    d = load_fixture_data(fx["data"]).copy()
    col = fx["column"]
    d[col] = d[col].astype(float)
    value = {"Inf": np.inf, "-Inf": -np.inf}.get(fx["value"], fx["value"])
    d.loc[d.index[fx["row"]], col] = value
    kw = {}
    if fx.get("weights"):
        kw["weights"] = fx["weights"]
    if fx.get("offset"):
        kw["offset"] = fx["offset"]
    return d, kw


@pytest.mark.parametrize("path", INF_FIXTURES, ids=lambda p: p.stem)
def test_infinite_values_as_lme4(path):
    fx = load_fixture(path)
    d, kw = _data_with_value(fx)
    if fx["error"] is None:
        # R accepts it (Inf is a factor level): so do we
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mc.lmer(fx["formula"], d, **kw)
        assert m.nobs() == fx["nobs"]
        np.testing.assert_allclose(m.theta, fx["theta"], **TOL["theta"])
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no numpy RuntimeWarning on the way
        with pytest.raises(mc.DataError) as info:
            mc.lmer(fx["formula"], d, **kw)
    msg = str(info.value)
    assert msg.startswith(fx["error"])
    assert f"row label {d.index[fx['row']]}" in msg
    variables = parse_r(fx["formula"].split("~")[0]).symbols() if fx["column"] == "y" else [fx["column"]]
    assert any(v in msg for v in variables)


def test_infinite_grouping_value_is_a_level_named_as_r(sleep):
    d = sleep.assign(gg=sleep["Subject"].cat.codes.astype(float))
    d.loc[0, "gg"] = np.inf
    m = mc.lmer("Reaction ~ Days + (1 | gg)", d)
    assert "Inf" in mc.ranef(m, condVar=False)["gg"].index


# ---- patsy spellings: the error says the R spelling that works ---------------------------------

@pytest.mark.parametrize("formula, r_spelling", [
    ("Reaction ~ C(Subject) + (1 | Subject)", "factor(Subject)"),
    ("Reaction ~ C(f, Treatment(reference='b')) + (1 | Subject)", 'relevel(factor(f), ref = "b")'),
    ("Reaction ~ C(f, Treatment('b')) + (1 | Subject)", 'relevel(factor(f), ref = "b")'),
    ("Reaction ~ C(f, Sum) + (1 | Subject)", "contrasts={'f': 'contr.sum'}"),
    ("Reaction ~ C(f, Helmert) + (1 | Subject)", "contrasts={'f': 'contr.helmert'}"),
    ("np.log(Reaction) ~ Days + (1 | Subject)", "log(Reaction)"),
    ("Reaction ~ numpy.sqrt(Days) + (1 | Subject)", "sqrt(Days)"),
    ("Reaction ~ np.power(Days, 2) + (1 | Subject)", "I(Days^2)"),
    ("Reaction ~ Q('a b') + (1 | Subject)", "`a b`"),
    ("Reaction ~ center(Days) + (1 | Subject)", "scale(Days, scale = FALSE)"),
    ("Reaction ~ standardize(Days) + (1 | Subject)", "scale(Days)"),
    ("Reaction ~ Days + (1 | C(Subject))", "factor(Subject)"),
])
def test_patsy_spellings_get_the_r_spelling(sleep, formula, r_spelling):
    with pytest.raises(mc.FormulaError) as info:
        mc.lmer(formula, sleep)
    assert r_spelling in str(info.value)


@pytest.mark.parametrize("patsy_formula, r_formula, kw", [
    ("Reaction ~ np.log(Days + 1) + (1 | Subject)", None, {}),
    ("Reaction ~ C(f, Sum) + (1 | Subject)", None, {}),
    ("Reaction ~ center(Days) + (1 | Subject)", None, {}),
])
def test_the_suggested_r_spelling_fits(sleep, patsy_formula, r_formula, kw):
    # the spelling the message suggests is itself accepted
    d = sleep.assign(f=np.where(sleep["Days"] < 5, "a", "b"))
    with pytest.raises(mc.FormulaError) as info:
        mc.lmer(patsy_formula, d)
    msg = str(info.value)
    suggestion = msg.split("R formulas write ")[-1].split(" (")[0] if "R formulas write" in msg else None
    if "contrasts=" in msg:
        m = mc.lmer("Reaction ~ f + (1 | Subject)", d, contrasts={"f": "contr.sum"})
        assert list(m.fixef().index) == ["(Intercept)", "f1"]
        return
    m = mc.lmer(patsy_formula.replace(patsy_formula.split("~")[1].split("+ (1")[0].strip(), suggestion), d)
    assert m.fixef().index[1] == suggestion
