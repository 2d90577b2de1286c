"""Satterthwaite (lmerTest) and Kenward-Roger (pbkrtest) tests against R's golden masters.

Fixtures: tests/fixtures/gen_ddf.R -> tests/fixtures/ddf/*.json.  Models are evaluated at R's theta
when our optimum differs from R's by more than 1e-6.
"""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import FIXTURES, TOL, fit_at_r_optimum, fixture_model_at_r_optimum, json_fixture
from mixedcompat.datasets import read_csv_with_levels
from mixedcompat.inference.ftests import KenwardRogerFallbackWarning, anova_table, coef_table
from mixedcompat.inference.satterthwaite import fstat_ddf

DDF_FILES = sorted(p for p in (FIXTURES / "ddf").glob("*.json") if not p.name.startswith("_"))
NAMES = [p.stem for p in DDF_FILES]
_COEF, _DF = TOL["ddf_fixture_coef"]["rtol"], TOL["ddf_fixture_df"]["rtol"]
RTOL = {"Estimate": _COEF, "Std. Error": _COEF, "t value": _COEF, "df": _DF, "Pr(>|t|)": _DF,
        "Sum Sq": _DF, "Mean Sq": _DF, "NumDF": 0, "DenDF": _DF, "F value": _DF, "Pr(>F)": _DF}


# the fallback and Hessian warnings are expected on some fixtures (checked by their own tests below)
pytestmark = [pytest.mark.filterwarnings("ignore::mixedcompat.errors.KenwardRogerFallbackWarning"),
              pytest.mark.filterwarnings("ignore::mixedcompat.errors.VarparHessianWarning"),
              pytest.mark.filterwarnings("ignore::mixedcompat.errors.MissingCellsWarning")]


def fixture(name: str) -> dict:
    return json_fixture("ddf", name)


def model(name: str):
    return fixture_model_at_r_optimum("ddf", name)


def r_table(t: dict) -> pd.DataFrame:
    return pd.DataFrame(dict(zip(t["columns"], t["data"])), index=t["index"], dtype=float)


def compare(ours: pd.DataFrame, expected: dict) -> None:
    exp = r_table(expected)
    assert list(ours.index) == list(exp.index)
    assert list(ours.columns) == list(exp.columns)
    for col in exp.columns:
        np.testing.assert_allclose(ours[col].to_numpy(dtype=float), exp[col].to_numpy(), rtol=RTOL[col],
                                   atol=1e-300, err_msg=col)


@pytest.mark.parametrize("name", NAMES)
def test_summary_satterthwaite(name):
    compare(model(name).summary(ddf="Satterthwaite").coefficients, fixture(name)["coef_satterthwaite"])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", [3, 2, 1])
def test_anova_satterthwaite(name, kind):
    compare(anova_table(model(name), type=kind, ddf="Satterthwaite"), fixture(name)[f"anova{kind}"])


@pytest.mark.parametrize("name", NAMES)
def test_summary_kenward_roger(name):
    exp = fixture(name)["coef_kr"]
    m = model(name)
    if "error" in exp:
        with pytest.raises(ValueError, match="only available for REML"):
            coef_table(m, "Kenward-Roger")
        return
    compare(m.summary(ddf="Kenward-Roger").coefficients, exp)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", [3, 2, 1])
def test_anova_kenward_roger(name, kind):
    exp = fixture(name)[f"anova{kind}_kr"]
    m = model(name)
    if "error" in exp:
        with pytest.raises(ValueError, match="only available for REML"):
            anova_table(m, type=kind, ddf="Kenward-Roger")
        return
    compare(anova_table(m, type=kind, ddf="Kenward-Roger"), exp)


def _recorded(fun) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fun()
    return [str(w.message) for w in caught]


LMERTEST_HESSIAN = re.compile(r"^Model (failed to converge with \d+ negative|may not have converged with)")


@pytest.mark.parametrize("name", NAMES)
def test_lmertest_hessian_warnings(name):
    """lmerTest's own check of the deviance Hessian in (theta, sigma), same words, as a
    ConvergenceWarning subclass; given when the lmerTest quantities are first built."""
    d = fixture(name)
    expected = [w for w in d.get("fit_warnings", []) if LMERTEST_HESSIAN.match(w)]
    data = read_csv_with_levels(FIXTURES / "data" / f"{d['input']['data']}.csv")
    m = fit_at_r_optimum(d["input"], data, d["theta"])       # a fresh fit: nothing cached
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coef_table(m, "Satterthwaite")
    ours = [w for w in caught if LMERTEST_HESSIAN.match(str(w.message))]
    assert [str(w.message) for w in ours] == expected
    assert all(issubclass(w.category, mc.ConvergenceWarning) for w in ours)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("key", ["coef_kr", "anova3_kr", "anova2_kr", "anova1_kr"])
def test_kenward_roger_fallback_warnings(name, key):
    """Where pbkrtest stops, lmerTest's warning (one per test) and Satterthwaite's df."""
    d = fixture(name)
    if "error" in d[key]:
        pytest.skip(f"R refuses: {d[key]['error']}")
    m = model(name)
    if key == "coef_kr":
        ours = _recorded(lambda: coef_table(m, "Kenward-Roger"))
    else:
        ours = _recorded(lambda: anova_table(m, type=int(key[5]), ddf="Kenward-Roger"))
    ours = [w for w in ours if w.startswith("Unable to compute Kenward-Roger")]
    assert ours == d["warnings"][key]


def test_kenward_roger_fallback_warning_class():
    m = model("orthodont_dup")
    with pytest.warns(KenwardRogerFallbackWarning, match="Unable to compute Kenward-Roger F-test: using "
                                                          "Satterthwaite instead"):
        anova_table(m, ddf="Kenward-Roger")


def test_satterthwaite_df_do_not_depend_on_units():
    """numDeriv's relative steps: Reaction * 1e-6 has the df of Reaction (17.0, lmerTest's)."""
    a = model("sleepstudy").summary(ddf="Satterthwaite").coefficients["df"].to_numpy()
    b = model("sleepstudy_micro").summary(ddf="Satterthwaite").coefficients["df"].to_numpy()
    np.testing.assert_allclose(a, b, **TOL["ddf_units"])


def test_fstat_ddf_infinite_as_r():
    """lmerTest's 2E / (E - q) is Inf when every direction has (numerically) infinite df."""
    assert fstat_ddf(np.array([1e300, 2e300])) == np.inf


def assert_same_text(ours: str, expected: str) -> None:
    """Identical layout; numbers identical except in the last printed digits of df that R takes
    from numDeriv (noise ~1e-8 relative: cake's df print as 250.000011 in R, 250.000000 here) and
    rounding ties (a mean of exactly 24.96875 is 24.9687499999998 in R, 24.968750000000004 here:
    one unit of the last printed digit apart)."""
    if ours == expected:
        return
    a, b = ours.split("\n"), expected.split("\n")
    assert len(a) == len(b), "\n".join(a)
    for la, lb in zip(a, b):
        assert len(la) == len(lb), f"{la!r}\n{lb!r}"
        for ta, tb in zip(la.split(), lb.split()):
            if ta != tb:
                decimals = len(tb.split(".")[1]) if "." in tb and "e" not in tb.lower() else None
                tie = decimals is not None and abs(float(ta) - float(tb)) <= 1.000001 * 10.0 ** -decimals
                assert tie or float(ta) == pytest.approx(float(tb), rel=TOL["ddf_text"]["rtol"]), f"{la!r}\n{lb!r}"


@pytest.mark.parametrize("name", NAMES)
def test_summary_text(name):
    assert_same_text(str(model(name).summary(ddf="Satterthwaite")), fixture(name)["summary_text"])


@pytest.mark.parametrize("name", NAMES)
def test_summary_text_kr(name):
    exp = fixture(name)["summary_kr_text"]
    if isinstance(exp, dict):
        pytest.skip("R refuses Kenward-Roger for this fit")
    assert_same_text(str(model(name).summary(ddf="Kenward-Roger")), exp)


def test_anova_dispatcher():
    m = model("machines")
    out = mc.inference.anova(m)
    compare(out, fixture("machines")["anova3"])


def test_kr_refuses_ml():
    with pytest.raises(ValueError, match="only available for REML"):
        model("sleepstudy_ml").summary(ddf="Kenward-Roger")


def test_unknown_ddf():
    with pytest.raises(ValueError, match="ddf="):
        anova_table(model("sleepstudy"), ddf="Wald")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("key, ddf", [("drop1", "Satterthwaite"), ("drop1_kr", "Kenward-Roger")])
def test_drop1_as_lmertest(name, key, ddf):
    fx = fixture(name)
    expected = fx[key]
    if isinstance(expected, dict) and "error" in expected:
        pytest.skip(f"R refuses: {expected['error']}")
    compare(mc.drop1(model(name), ddf=ddf), expected)


NUMERICS = json.loads((FIXTURES / "ddf" / "_numerics.json").read_text())["numerics"]


def test_numerics_numderiv_hessian():
    """numDeriv's hessian (genD, d = 0.1, eps = 1e-4 where |x| < zero.tol) on inputs of very
    different scales, one of them below zero.tol."""
    from mixedcompat.numerics.numderiv import hessian

    def f(x):
        return np.log(1 + x[0] ** 2 * 1e12) * x[1] + x[2] ** 3 / 1e12 + x[1] * x[2] * 1e-4
    ours = hessian(f, np.array(NUMERICS["x"]))
    np.testing.assert_allclose(ours, np.array(NUMERICS["hessian"]), **TOL["numderiv_hessian"])


def test_numerics_numderiv_jacobian():
    from mixedcompat.numerics.numderiv import jacobian

    def g(x):
        return np.array([x[0] * x[1], np.sin(x[1]) * x[2], x[2] ** 2 / 1e8])
    ours = np.column_stack(jacobian(g, np.array(NUMERICS["x"])))
    np.testing.assert_allclose(ours, np.array(NUMERICS["jacobian"]), **TOL["numderiv_jacobian"])


def test_numerics_ginv_doolittle_zapsmall():
    from mixedcompat.numerics.rlinalg import doolittle, ginv, zapsmall
    A = np.array(NUMERICS["A"])
    np.testing.assert_allclose(doolittle(A)[0], np.array(NUMERICS["doolittle_L"]), **TOL["doolittle"])
    np.testing.assert_allclose(ginv(np.array(NUMERICS["S"])), np.array(NUMERICS["ginv_S"]), **TOL["ginv"])
    np.testing.assert_array_equal(zapsmall(A), np.array(NUMERICS["zapsmall_A"]))


def test_r_solve_stops_where_r_does():
    """base R's solve() stops on a computationally singular matrix (rcond < eps): pbkrtest then fails."""
    from mixedcompat.numerics.rlinalg import RLinAlgError, r_solve
    with pytest.raises(RLinAlgError, match="computationally singular"):
        r_solve(np.array([[1.0, 1.0], [1.0, 1.0 + 4.4e-16]]))
    np.testing.assert_allclose(r_solve(np.array([[2.0, 1.0], [1.0, 3.0]])) @ np.array([[2.0, 1.0], [1.0, 3.0]]),
                               np.eye(2), **TOL["r_solve"])


@pytest.mark.parametrize("name", NAMES)
def test_missing_cells_message(name):
    """lmerTest's type III message for interaction cells without data (an R message; ours a warning)."""
    d = fixture(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anova_table(model(name), type=3)
    ours = [str(w.message) + "\n" for w in caught if issubclass(w.category, mc.MissingCellsWarning)]
    assert ours == d["anova3_messages"]
