"""pbkrtest 0.5.2's KRmodcomp, SATmodcomp, getKR and vcovAdj against golden masters from
tests/fixtures/gen_pbkrtest.R (tests/fixtures/pbkrtest/*.json): numbers, printed text, bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedcompat as mc
from mixedcompat.inference.modcomp import model2restriction_matrix
from helpers import (TOL, assert_close, assert_same_printout, at_theta, check_criterion, fixture_paths,
                     load_fixture, load_fixture_data, model_at_r_theta, quietly)

CASES = [p for p in fixture_paths("pbkrtest") if p.stem != "errors"]
ERRORS = {e["case"]: e["message"] for e in load_fixture(fixture_paths("pbkrtest")[0].parent / "errors.json")["errors"]}
_CACHE: dict = {}


def _case(path):
    """(fixture, large as given, large by REML at R's theta when ours parted, second argument)."""
    key = str(path)
    if key not in _CACHE:
        fx = load_fixture(path)
        data = load_fixture_data(fx["data"])
        large = quietly(mc.lmer, fx["large"]["formula"], data, REML=fx["large"]["REML"])
        reml = large if large.REML else quietly(large.update, REML=True)
        check_criterion(reml.REMLcrit(), fx["REMLcrit"], "REML criterion of the large model")
        at_r = model_at_r_theta(reml, fx["theta_reml"], lambda ctl: mc.lmer(fx["large"]["formula"], data,
                                                                           REML=True, control=ctl))
        if fx["L"] is not None:
            second = np.array(fx["L"], dtype=float)
        else:
            second = quietly(mc.lmer, fx["small"]["formula"], data, REML=fx["small"]["REML"])
        _CACHE[key] = (fx, large, reml, at_r, second)
    return _CACHE[key]


def _models(path):
    """The pair to test: the fits as given when ours are R's, else the REML large model at R's theta
    (the ML-fit and swapped cases are then skipped: they test the order and refit, not the numbers)."""
    fx, large, reml, at_r, second = _case(path)
    if at_r is reml:
        return fx, large, second
    if not large.REML or fx["name"] == "sleep_swapped":
        pytest.skip("our optimum is not R's; the case tests the refit / order rule")
    return fx, at_r, second


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_krmodcomp_numbers(path):
    fx, large, second = _models(path)
    kr = mc.KRmodcomp(large, second)
    exp = fx["kr"]["test"]
    assert list(kr.test.index) == exp["rownames"] and list(kr.test.columns) == exp["columns"]
    for col in exp["columns"]:
        want = np.array([np.nan if v is None else v for v in exp["values"][col]], dtype=float)
        assert_close(kr.test[col].to_numpy(dtype=float), want, f"KR {col}", **TOL["pbkr_kr"])
    assert kr.test["ndf"].tolist() == exp["values"]["ndf"]
    for name, want in fx["kr"]["stats"].items():
        assert_close(mc.getKR(kr, name), want, f"getKR {name}", **TOL["pbkr_kr"])
    for name, want in fx["kr"]["aux"].items():
        assert_close(kr.aux[name], want, f"aux {name}", **TOL["pbkr_kr_aux"])
    g = fx["kr"]["getKR"]
    assert_close(mc.getKR(kr, "ddf"), g["ddf"], "getKR ddf", **TOL["pbkr_kr"])
    assert_close(mc.getKR(kr, "FstatU"), g["FstatU"], "getKR FstatU", **TOL["pbkr_kr"])
    assert mc.getKR(kr, "nd") == g["nd"]                    # partial name, as match.arg
    assert set(mc.getKR(kr)) == {"ndf", "ddf", "Fstat", "p.value", "F.scaling", "FstatU", "p.valueU", "aux"}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_restriction_matrix(path):
    """pbkrtest's L: make_restriction_matrix from two fits, force_full_rank of a given L -- R's own entries."""
    fx, large, reml, at_r, second = _case(path)
    big, small = (reml, second) if fx["name"] != "sleep_swapped" else (second, reml)
    L = model2restriction_matrix(quietly(big.update, REML=True) if not big.REML else big, small)
    assert_close(_sign_aligned(L, fx["kr"]["L"]), np.array(fx["kr"]["L"], dtype=float), "L", **TOL["pbkr_L"])


def _sign_aligned(L, L_r):
    """``L`` with each row's sign turned to R's.  From two fits, a row's sign is that of a Householder
    pivot which is rounding noise in R too (cake: the intercept and recipe entries of Q2' X are ~1e-17
    before R's zapsmall), so only the rows up to sign are R's; the test statistics do not depend on it."""
    L, L_r = np.array(L, dtype=float), np.array(L_r, dtype=float)
    flip = np.sum(L * L_r, axis=1) < 0
    L[flip] *= -1.0
    return L


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_krmodcomp_printout(path):
    fx, large, second = _models(path)
    assert_same_printout(str(mc.KRmodcomp(large, second)), fx["kr"]["text"], "print(KRmodcomp)",
                         rel=TOL["pbkr_text"]["rtol"])


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_krmodcomp_summary(path):
    """pbkrtest's summary(kr): both rows; the first line's time is not compared."""
    fx, large, second = _models(path)
    ours, theirs = mc.KRmodcomp(large, second).summary().split("\n", 1), fx["kr"]["summary_text"].split("\n", 1)
    assert ours[0].startswith("F-test with Kenward-Roger approximation; time: ") and ours[0].endswith(" sec")
    assert_same_printout(ours[1], theirs[1], "summary(KRmodcomp)", rel=TOL["pbkr_text"]["rtol"])


SAT_CASES = [p for p in CASES if load_fixture(p)["sat"] is not None]


@pytest.mark.parametrize("path", SAT_CASES, ids=[p.stem for p in SAT_CASES])
def test_satmodcomp(path):
    fx, large, second = _models(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sat = mc.SATmodcomp(large, second)
    assert [str(w.message) for w in caught if issubclass(w.category, mc.VarparHessianWarning)] == \
        list(fx["sat"]["warnings"])
    exp = fx["sat"]["test"]
    assert list(sat.test.columns) == exp["columns"] == ["statistic", "ndf", "ddf", "p.value"]
    assert sat.test.index.tolist() == exp["rownames"] == ["1"]
    assert sat.test["ndf"].tolist() == exp["values"]["ndf"]
    assert_close(sat.test["statistic"].to_numpy(), exp["values"]["statistic"], "SAT F", **TOL["pbkr_kr"])
    assert_close(sat.test["ddf"].to_numpy(), exp["values"]["ddf"], "SAT ddf", **TOL["pbkr_sat"])
    assert_close(sat.test["p.value"].to_numpy(), exp["values"]["p.value"], "SAT p", **TOL["pbkr_sat"])
    assert_close(_sign_aligned(sat.L, fx["sat"]["L"]), np.array(fx["sat"]["L"], dtype=float), "SAT L",
                 **TOL["pbkr_L"])
    sat.L = _sign_aligned(sat.L, fx["sat"]["L"])           # the printout's layout, with R's row signs
    # ties=1: pbkrtest's p-value is 1 - pf(F), whose cancellation noise (~1e-16 absolute) shows in the
    # last digit of a p-value near 1e-13 (cake: R 2.884e-13, ours 2.885e-13)
    assert_same_printout(str(sat), fx["sat"]["text"], "print(SATmodcomp)", rel=TOL["pbkr_sat"]["rtol"], ties=1)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_vcovadj(path):
    fx, large, second = _models(path)
    va = mc.vcovAdj(large)
    assert va.columns.tolist() == va.index.tolist() == fx["vcovAdj"]["names"]
    want = np.array(fx["vcovAdj"]["values"], dtype=float)
    assert_close(va.to_numpy(), want, "vcovAdj", scale=np.abs(want).max(), **TOL["pbkr_kr"])


def _sleep():
    d = mc.datasets.load("sleepstudy")
    return (d, mc.lmer("Reaction ~ Days + (Days | Subject)", d), mc.lmer("Reaction ~ 1 + (Days | Subject)", d))


def test_ml_fit_is_refitted_by_reml():
    """pbkrtest refits an ML large model by REML: the same test as from the REML fit."""
    d, m1, m0 = _sleep()
    ml = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    a, b = mc.KRmodcomp(ml, m0), mc.KRmodcomp(m1, m0)
    assert_close(a.test.to_numpy(dtype=float), b.test.to_numpy(dtype=float), "ML vs REML", **TOL["pbkr_kr"])
    assert_close(mc.vcovAdj(ml).to_numpy(), mc.vcovAdj(m1).to_numpy(), "vcovAdj ML", **TOL["pbkr_kr"])


def test_update_formula_and_swapped_order():
    d, m1, m0 = _sleep()
    a, b, c = mc.KRmodcomp(m1, ". ~ . - Days"), mc.KRmodcomp(m0, m1), mc.KRmodcomp(m1, m0)
    assert str(b) == str(c)
    # R's update drops "1 +": small : Reaction ~ (Days | Subject); the table is the same
    assert str(a).splitlines()[1] == "small : Reaction ~ (Days | Subject)"
    assert str(a).splitlines()[2:] == str(c).splitlines()[2:]


def test_not_nested():
    d, m1, m0 = _sleep()
    mq = mc.lmer("Reaction ~ I(Days^2) + (Days | Subject)", d)
    with pytest.raises(mc.DataError, match=ERRORS["kr_not_nested"]):
        mc.KRmodcomp(m1, mq)
    with pytest.raises(mc.DataError, match=ERRORS["kr_same"]):
        mc.KRmodcomp(m1, m1)
    with pytest.raises(mc.DataError, match=ERRORS["sat_not_nested"].replace(".", r"\.")):
        mc.SATmodcomp(m1, mq)


def test_restriction_matrix_bad_columns():
    d, m1, m0 = _sleep()
    for fun in (mc.KRmodcomp, mc.SATmodcomp):
        with pytest.raises(mc.DataError, match=r"L has 3 columns.*2 fixed effects \(\(Intercept\), Days\).*" +
                           ERRORS["kr_L_wrong_columns"].replace("(", r"\(").replace(")", r"\)")):
            fun(m1, [0, 1, 1])
    with pytest.raises(mc.DataError, match="missing or infinite"):
        mc.KRmodcomp(m1, [0, np.nan])


def test_different_observations():
    d, m1, m0 = _sleep()
    m_sub = mc.lmer("Reaction ~ 1 + (Days | Subject)", d[d["Days"] > 0])
    with pytest.raises(mc.DataError, match="same observations"):
        mc.KRmodcomp(m1, m_sub)


def test_other_fits_refused():
    cbpp = mc.datasets.load("cbpp")
    g = quietly(mc.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    for fun in (mc.KRmodcomp, mc.SATmodcomp):
        with pytest.raises(TypeError, match="must be an lmer fit.*no applicable method"):
            fun(g, [0, 1, 0, 0])
    with pytest.raises(TypeError, match="vcovAdj.*must be an lmer fit"):
        mc.vcovAdj(g)
    o = mc.datasets.load("Orthodont")
    lm = mc.lme("distance ~ age", o, random="~ 1 | Subject")
    with pytest.raises(TypeError, match="lmer fit"):
        mc.KRmodcomp(lm, [0, 1])
    d, m1, m0 = _sleep()
    with pytest.raises(TypeError, match="small model must be an lmer fit"):
        mc.KRmodcomp(m1, lm)


def test_getkr_names():
    d, m1, m0 = _sleep()
    kr = mc.KRmodcomp(m1, m0)
    with pytest.raises(ValueError, match=ERRORS["getKR_bad_name"].replace(".", r"\.")):
        mc.getKR(kr, "foo")
    with pytest.raises(ValueError, match=ERRORS["getKR_ambiguous"].replace(".", r"\.")):
        mc.getKR(kr, "p")                           # p.value or p.valueU: ambiguous, as match.arg
    assert mc.getKR(kr, "p.value") == kr.test.loc["Ftest", "p.value"]
    assert mc.getKR(kr, "aux").index.tolist() == ["A1", "A2", "V0", "V1", "V2", "rho", "F.scaling"]
    with pytest.raises(TypeError, match="KRmodcomp"):
        mc.getKR(mc.SATmodcomp(m1, m0), "ddf")


def test_summary_and_betah():
    d, m1, m0 = _sleep()
    kr = mc.KRmodcomp(m1, [0, 1], betaH=[0, 10])
    text = kr.summary()
    assert text.startswith("F-test with Kenward-Roger approximation; time: ")
    assert "FtestU" in text and "betaH=" in text
    # L (beta - betaH): the Days effect against 10 instead of 0
    b = mc.fixef(m1)["Days"]
    assert_close(kr.stats["FstatU"], (b - 10) ** 2 / mc.vcovAdj(m1).loc["Days", "Days"], "FstatU",
                 **TOL["pbkr_kr"])
