"""nlme variance functions (mixedcompat.nlme.varfunc) against nlme 3.1-162.

Expected values come from tests/fixtures/gen_nlme_varfunc.R (tests/fixtures/nlme_varfunc/*.json).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mixedcompat.datasets import read_csv_with_levels
from mixedcompat.errors import DataError, FormulaError
from mixedcompat.nlme.var_bound import parse_var_form
from mixedcompat.nlme.varfunc import varComb, varConstPower, varExp, varFixed, varIdent, varPower
from helpers import FIXTURES, TOL

FIX = FIXTURES / "nlme_varfunc"

# The Python spelling of each R call in the generator (same names as the fixture files).
CASES = {
    "ident_g": lambda: varIdent(form="~ 1 | g"),
    "ident_g_named": lambda: varIdent({"a": 2, "c": 3}, form="~ 1 | g"),
    "ident_g_scalar": lambda: varIdent(2, form="~ 1 | g"),
    "ident_fixed_ref": lambda: varIdent(form="~ 1 | g", fixed={"b": 2}),
    "ident_value_fixed": lambda: varIdent(0.5, form="~ 1 | g", fixed={"c": 3}),
    "ident_gh": lambda: varIdent(form="~ 1 | g * h"),
    "ident_factor_data_order": lambda: varIdent(1.5, form="~ 1 | f"),
    "ident_none": lambda: varIdent(),
    "power_x": lambda: varPower(0.5, form="~ x"),
    "power_x_default": lambda: varPower(form="~ x"),
    "power_negative_cov": lambda: varPower(-0.3, form="~ z"),
    "power_xg_named": lambda: varPower({"c": 0.1, "a": 0.2, "b": 0.3}, form="~ x | g"),
    "power_fixed": lambda: varPower(form="~ x", fixed=0.5),
    "power_strata_fixed": lambda: varPower(0.2, form="~ x | g", fixed={"a": 0.7}),
    "exp_z": lambda: varExp(0.3, form="~ z"),
    "exp_xh": lambda: varExp(form="~ x | h"),
    "constpower_z": lambda: varConstPower(const=2, power=0.5, form="~ z"),
    "constpower_default": lambda: varConstPower(form="~ x"),
    "constpower_xh": lambda: varConstPower(const=2, power=0.3, form="~ x | h"),
    "constpower_fixed": lambda: varConstPower(const=1.5, form="~ x", fixed={"power": 0.5}),
    "fixed_x": lambda: varFixed("~ x"),
    "comb_ident_power": lambda: varComb(varIdent({"a": 2, "c": 0.5}, form="~ 1 | g"), varPower(0.3, form="~ x")),
    "comb_three": lambda: varComb(varIdent(form="~ 1 | h"), varPower(form="~ x | g"), varConstPower(form="~ x")),
    "ortho_ident": lambda: varIdent(form="~ 1 | Sex"),
    "ortho_ident_female_first": lambda: varIdent(form="~ 1 | Sex"),
    "gls_ident_g": lambda: varIdent(form="~ 1 | g"),
    "gls_power_fitted": lambda: varPower(),
    "gls_exp_fitted_h": lambda: varExp(form="~ fitted(.) | h"),
    "gls_constpower_x": lambda: varConstPower(form="~ x"),
    "gls_comb_ident_power_fitted": lambda: varComb(varIdent(form="~ 1 | g"), varPower()),
    "gls_ortho_ident_female_first": lambda: varIdent(form="~ 1 | Sex"),
}

FILES = sorted(FIX.glob("*.json"))
FILES = [p for p in FILES if p.stem != "vf_sim"]


def _sim() -> pd.DataFrame:
    return read_csv_with_levels(FIX / "vf_sim.csv")


def _data(fx: dict) -> pd.DataFrame:
    if fx["data"] == "vf_sim":
        return _sim()
    df = read_csv_with_levels(FIXTURES / "data" / f"{fx['data']}.csv")
    if fx["reorder_female_first"]:
        key = (df["Sex"].astype(str) == "Male").to_numpy()
        df = df.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)
    return df


def test_every_fixture_has_a_case():
    assert sorted(p.stem for p in FILES) == sorted(CASES)


@pytest.fixture(params=FILES, ids=[p.stem for p in FILES])
def case(request):
    fx = json.loads(request.param.read_text())
    bound = CASES[fx["name"]]().bind(_data(fx))
    u = np.asarray(fx["coef"]["values"], dtype=float)
    fitted = None if fx["fitted"] is None else np.asarray(fx["fitted"], dtype=float)
    return fx, bound, u, fitted


def test_start_values(case):
    fx, bound, _, _ = case
    np.testing.assert_allclose(bound.start, fx["start"], **TOL["varfunc_start"])
    assert bound.n_free == len(fx["start"])


def test_names_and_group_names(case):
    fx, bound, _, _ = case
    assert bound.names == fx["natural"]["names"]
    assert bound.all_names == fx["natural_all"]["names"]
    assert bound.group_names == fx["groupNames"]


def test_natural_scale(case):
    fx, bound, u, _ = case
    nat = bound.natural(u)
    assert list(nat) == fx["natural_all"]["names"]
    np.testing.assert_allclose(list(nat.values()), fx["natural_all"]["values"], **TOL["varfunc_natural"])
    np.testing.assert_allclose(bound.natural_array(u, all_coef=False), fx["natural"]["values"],
                               **TOL["varfunc_natural"])
    np.testing.assert_allclose(bound.unconstrained(bound.natural(u)), u, **TOL["varfunc_round_trip"])


def test_weights(case):
    fx, bound, u, fitted = case
    assert bound.uses_fitted == (fitted is not None)
    w = bound.weights(u, fitted)
    np.testing.assert_allclose(w, fx["weights"], **TOL["varfunc_weights"])
    tol = TOL["varfunc_weights_logsum"]
    assert bound.log_weights_sum(u, fitted) == pytest.approx(float(np.sum(np.log(fx["weights"]))),
                                                            rel=tol["rtol"], abs=tol["atol"])


def test_fitted_values_are_required_for_fitted_forms():
    bound = varPower().bind(_sim())
    with pytest.raises(ValueError, match="fitted values"):
        bound.weights(bound.start)
    with pytest.raises(ValueError, match="60 rows"):
        bound.weights(bound.start, np.ones(3))


def test_weights_follow_fitted_values():
    d = _sim()
    bound = varComb(varIdent(form="~ 1 | g"), varPower()).bind(d)
    u = np.array([0.3, -0.2, 0.7])
    f1, f2 = d["x"].to_numpy() + 1, d["x"].to_numpy() + 2
    ratio = bound.weights(u, f1) / bound.weights(u, f2)
    np.testing.assert_allclose(ratio, (f2 / f1) ** 0.7)


# --------------------------------------------------------------------------------------------
# R semantics checked by name, not number


def test_strata_order_is_data_order_not_level_order():
    d = _sim()                       # f has levels lo, hi; the first row is "hi"
    assert list(d["f"].cat.categories) == ["lo", "hi"]
    assert varIdent(form="~ 1 | f").bind(d).names == ["lo"]


def test_interaction_strata_labels():
    b = varIdent(form="~ 1 | g * h").bind(_sim())
    assert b.all_names[:3] == ["b*v", "c*v", "a*v"]


def test_named_scalar_value_matched_by_name():
    # nlme ignores the name of a length-one value; we match it (documented deviation)
    d = _sim()
    b = varIdent({"a": 2.0}, form="~ 1 | g").bind(d)
    assert b.natural(b.start) == {"b": 1.0, "a": 2.0, "c": 1.0}


def test_form_parsing():
    assert parse_var_form("~ fitted(.) | g", "varPower") == ("fitted(.)", ["g"])
    assert parse_var_form("~fitted( . )", "varPower") == ("fitted(.)", [])
    assert parse_var_form("~ 1 | a*b", "varIdent") == (None, ["a", "b"])
    assert parse_var_form("~ log(x)", "varPower") == ("log(x)", [])
    assert repr(varPower(form="~ x | g")) == "varPower(form = ~x | g)"


def test_covariate_expression_is_evaluated():
    d = _sim()
    b = varPower(1.0, form="~ exp(x)").bind(d)
    np.testing.assert_allclose(b.weights(b.start), np.exp(-d["x"].to_numpy()))


# --------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("form, match", [
    ("~ 1 | a/b", "invalid formula for groups 'a/b'"),
    ("~ 1 | a:b", "invalid formula for groups"),
    ("1 | g", "one-sided formula"),
    ("~ x + z", "single expression"),
    ("~ x | g | h", "more than one"),
    ("~ 1 | ", "nothing after"),
])
def test_bad_forms(form, match):
    with pytest.raises(FormulaError, match=match):
        varPower(form=form)


def test_single_observation_stratum():
    d = _sim()
    d.loc[5, "g"] = "solo"
    with pytest.raises(DataError, match="stratum 'solo' of g has a single observation"):
        varIdent(form="~ 1 | g").bind(d)


@pytest.mark.parametrize("vf, column", [
    (varPower(form="~ nope"), "nope"),
    (varIdent(form="~ 1 | nope"), "nope"),
    (varExp(form="~ x | nope"), "nope"),
])
def test_unknown_column(vf, column):
    with pytest.raises(FormulaError, match=f"'{column}'"):
        vf.bind(_sim())


def test_zero_covariate_varpower():
    d = _sim()
    d.loc[7, "z"] = 0.0
    with pytest.raises(DataError, match="'z' is 0 in row 7"):
        varPower(form="~ z").bind(d)
    varConstPower(form="~ z").bind(d)        # const > 0 keeps the weights finite
    varExp(form="~ z").bind(d)


def test_varfixed_non_positive():
    with pytest.raises(DataError, match="'z' must be > 0"):
        varFixed("~ z").bind(_sim())
    with pytest.raises(FormulaError, match="strata"):
        varFixed("~ x | g")


@pytest.mark.parametrize("make, match", [
    (lambda: varIdent({"zz": 2}, form="~ 1 | g"), r"value names \['zz'\] are not strata labels"),
    (lambda: varIdent(form="~ 1 | g", fixed={"zz": 2}), r"fixed names \['zz'\]"),
    (lambda: varPower({"q": 0.1}, form="~ x | g"), r"value names \['q'\]"),
    (lambda: varConstPower(const={"q": 2}, form="~ x | g"), r"const names \['q'\]"),
    (lambda: varIdent({"a": 2, "b": 1, "c": 3}, form="~ 1 | g"), "reference"),
    (lambda: varIdent({"a": 2}, form="~ 1 | g", fixed={"a": 3}), "both in value and fixed"),
    (lambda: varIdent(2, form="~ 1"), "no strata"),
])
def test_bad_names_at_bind(make, match):
    with pytest.raises(DataError, match=match):
        make().bind(_sim())


@pytest.mark.parametrize("make, match", [
    (lambda: varIdent([3, 2], form="~ 1 | g"), "must have group names"),
    (lambda: varPower([0.5, 0.2], form="~ x"), "single number"),
    (lambda: varPower({"a": 0.5}, form="~ x"), "no strata"),
    (lambda: varIdent(-1, form="~ 1 | g"), "must be > 0"),
    (lambda: varIdent(form="~ 1 | g", fixed=2), "must have names"),
    (lambda: varPower(form="~ x | g", fixed=0.5), "fixed must be a dict"),
    (lambda: varConstPower(const=-1, form="~ x"), "const must be > 0"),
    (lambda: varConstPower(form="~ x", fixed={"pow": 1}), r"fixed names \['pow'\]"),
    (lambda: varFixed("~ fitted(.)"), "fitted"),
])
def test_bad_values_at_construction(make, match):
    with pytest.raises((DataError, FormulaError), match=match):
        make()


def test_varcomb_arguments():
    with pytest.raises(FormulaError, match="at least one"):
        varComb()
    with pytest.raises(FormulaError, match="argument 2"):
        varComb(varPower(), "~ x")


def test_unconstrained_length_checked():
    b = varIdent(form="~ 1 | g").bind(_sim())
    with pytest.raises(ValueError, match="expected 2"):
        b.weights(np.zeros(3))
