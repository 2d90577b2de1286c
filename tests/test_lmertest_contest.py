"""lmerTest's contest() and show_tests() against R's golden masters (tests/fixtures/gen_lmertest.R).

Models are evaluated at R's theta; numbers compared with the ddf tolerances, printed text exactly.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import FIXTURES, TOL, fixture_model_at_r_optimum, json_fixture

FILES = sorted((FIXTURES / "lmertest").glob("*.json"))
NAMES = [p.stem for p in FILES]
_COEF, _DF = TOL["lmertest_contest_coef"]["rtol"], TOL["lmertest_contest_df"]["rtol"]
RTOL = {"Estimate": _COEF, "Std. Error": _COEF, "t value": _DF, "df": _DF, "Pr(>|t|)": _DF, "lower": _DF,
        "upper": _DF, "Sum Sq": _DF, "Mean Sq": _DF, "NumDF": 0, "DenDF": _DF, "F value": _DF, "Pr(>F)": _DF}

pytestmark = [pytest.mark.filterwarnings("ignore::mixedcompat.errors.VarparHessianWarning"),
              pytest.mark.filterwarnings("ignore::mixedcompat.errors.MissingCellsWarning")]


def fixture(name: str) -> dict:
    return json_fixture("lmertest", name)


def model(name: str):
    return fixture_model_at_r_optimum("lmertest", name)


def _L(case: dict, p: int):
    rows = np.array(case["L"]["rows"], dtype=float).reshape(-1, p)
    if case["L_is_vector"]:
        return rows[0]
    if case["L"]["rownames"]:
        return pd.DataFrame(rows, index=case["L"]["rownames"], columns=None).to_numpy(), case["L"]["rownames"]
    return rows


def assert_same_text(ours: str, expected: str) -> None:
    """Same lines and tokens; each printed number equal to R's up to rounding noise (lmertest_contest_text:
    a p-value of 1e-17 whose 7th digit is noise can print with one digit fewer in R, widening its column)."""
    if ours == expected:
        return
    a, b = ours.split("\n"), expected.split("\n")
    assert len(a) == len(b), ours
    for la, lb in zip(a, b):
        assert len(la.split()) == len(lb.split()), f"{la!r}\n{lb!r}"
        for ta, tb in zip(la.split(), lb.split()):
            if ta != tb:
                assert float(ta) == pytest.approx(float(tb), rel=TOL["lmertest_contest_text"]["rtol"]), \
                    f"{la!r}\n{lb!r}"


CASES = [(n, i) for n in NAMES for i in range(len(fixture(n)["contest"]))]


@pytest.mark.parametrize("name,i", CASES)
def test_contest(name, i):
    case = fixture(name)["contest"][i]
    m = model(name)
    L = _L(case, len(fixture(name)["coef_names"]))
    if isinstance(L, tuple):                                  # named rows: a DataFrame over the fixef names
        L = pd.DataFrame(L[0], index=L[1], columns=fixture(name)["coef_names"])
    kw = dict(joint=case["joint"], ddf=case["ddf"], rhs=case["rhs"], confint=case["confint"], level=case["level"])
    if "error" in case:
        expected = {"Kenward-Roger's method is only available for REML model fits": (ValueError, "only available for REML"),
                    "subscript out of bounds": (mc.DataError, "L has no rows")}[case["error"]]
        with pytest.raises(expected[0], match=expected[1]):
            mc.contest(m, L, **kw)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = mc.contest(m, L, **kw)
    ours_w = [str(w.message) for w in caught if "eigenvalue" not in str(w.message)]
    assert ours_w == list(case["warnings"])
    exp = case["table"]
    assert list(out.index) == list(exp["index"])
    assert list(out.columns) == list(exp["columns"])
    for col, vals in zip(exp["columns"], exp["data"]):
        np.testing.assert_allclose(out[col].to_numpy(dtype=float), np.array(vals, dtype=float),
                                   rtol=RTOL[col], atol=TOL["lmertest_contest_atol"]["atol"], err_msg=col)
    assert_same_text(str(out), case["text"])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["1", "2", "3"])
def test_show_tests(name, kind):
    exp = fixture(name)["show_tests"][kind]
    m = model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tests = mc.show_tests(mc.anova(m, type=int(kind)))
    assert list(tests) == list(exp["terms"])
    for term, L in tests.items():
        e = exp["L"][term]
        assert list(L.columns) == list(e["colnames"])
        if e["rownames"] is not None:
            assert list(L.index) == list(e["rownames"])
        np.testing.assert_allclose(L.to_numpy(dtype=float).reshape(-1, len(e["colnames"])),
                                   np.array(e["rows"], dtype=float).reshape(-1, len(e["colnames"])),
                                   rtol=TOL["lmertest_contest_coef"]["rtol"],
                                   atol=TOL["lmertest_hypotheses_noise"]["atol"])
    noise = any(0 < abs(v) < TOL["lmertest_hypotheses_noise"]["atol"]
                for e in exp["L"].values() for row in e["rows"] for v in row)
    if not noise:                 # R's zapsmall leftovers (cake, type III) print as numbers: layout differs
        assert_same_text(str(tests), exp["text"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unnamed = mc.show_tests(mc.anova(m, type=int(kind)), names=False)
        assert_same_text(str(unnamed), exp["text_unnamed"])


# ---- bad input


@pytest.mark.parametrize("name", NAMES)
def test_wrong_number_of_columns(name):
    m, p = model(name), len(fixture(name)["coef_names"])
    bad = fixture(name)["bad_input"]
    with pytest.raises(mc.DataError, match=r"ncol\(L\) == length\(model@beta\) is not TRUE"):
        mc.contest(m, np.r_[np.zeros(p), 1.0])
    assert bad["wrong_ncol_joint"] == "ncol(L) == length(model@beta) is not TRUE"
    with pytest.raises(mc.DataError, match=r"length\(L\) == length\(model@beta\) is not TRUE"):
        mc.contest(m, np.r_[np.zeros(p), 1.0], joint=False)
    assert bad["wrong_ncol_1d"] == "length(L) == length(model@beta) is not TRUE"


def test_non_numeric_L():
    m = model("sleepstudy")
    assert fixture("sleepstudy")["bad_input"]["non_numeric"] == "is.numeric(L) is not TRUE"
    with pytest.raises(mc.DataError, match=r"is.numeric\(L\) is not TRUE"):
        mc.contest(m, ["a", "b"])


def test_dataframe_L_columns_by_name():
    m = model("sleepstudy")
    L = pd.DataFrame([[1.0, 0.0]], columns=["Days", "(Intercept)"], index=["slope"])
    out = mc.contest(m, L, joint=False)
    assert list(out.index) == ["slope"]
    np.testing.assert_allclose(out["Estimate"].iloc[0], m.fixef()["Days"], rtol=1e-12)
    with pytest.raises(mc.DataError, match="'Dayz'"):
        mc.contest(m, pd.DataFrame([[1.0, 0.0]], columns=["Dayz", "(Intercept)"]))


def test_kr_with_ml_fit():
    m = model("sleepstudy_ml")
    with pytest.raises(ValueError, match="Kenward-Roger's method is only available for REML model fits"):
        mc.contest(m, [0, 1], ddf="Kenward-Roger")
    with pytest.raises(ValueError, match="Kenward-Roger's method is only available for REML model fits"):
        mc.contest(m, [0, 1], joint=False, ddf="Kenward-Roger")


def test_glmer_and_nlme_fits_refused():
    cbpp = mc.datasets.load("cbpp")
    g = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    with pytest.raises(TypeError, match="glmer"):
        mc.contest(g, [0, 1, 0, 0])
    lm = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    with pytest.raises(TypeError, match="nlme"):
        mc.contest(lm, [0, 1])


def test_bad_level_rhs_ddf_and_fractions():
    m = model("sleepstudy")
    with pytest.raises(mc.DataError, match="level"):
        mc.contest(m, [0, 1], joint=False, level=1.5)
    with pytest.raises(mc.DataError, match="rhs"):
        mc.contest(m, [0, 1], rhs="a")
    with pytest.raises(ValueError, match="ddf"):
        mc.contest(m, [0, 1], ddf="Wald")
    with pytest.raises(NotImplementedError, match="fractions"):
        mc.show_tests(mc.anova(m), fractions=True)
    with pytest.raises(TypeError, match="hypotheses"):
        mc.show_tests(pd.DataFrame({"a": [1.0]}))
