"""lmList (lme4's lmList4 and nlme's lmList) against R: coefficients, pooled scale, summary, confint /
intervals, printed text, failing groups, bad input (fixtures from tests/fixtures/gen_nlme_extras.R)."""
from __future__ import annotations

import numpy as np
import pytest

import mixedcompat as mc
from helpers import TOL, assert_close, assert_same_printout, fixture_paths, load_fixture, load_fixture_data

CASES = [p for p in fixture_paths("nlme_extras") if p.name.startswith("lmlist_")]


def _values(frame: dict) -> np.ndarray:
    cols = frame["columns"]
    return np.array([[np.nan if v in (None, "NaN") else v for v in frame["values"][c]] for c in cols], float).T


def _na_mask(frame: dict) -> np.ndarray:
    return np.array([[v is None for v in frame["values"][c]] for c in frame["columns"]]).T


def _fit(fx: dict):
    data = load_fixture_data(fx["data"])
    with pytest.warns(UserWarning) if fx["warnings"] else _no_warning():
        return mc.lmList(fx["formula"], data, package=fx["package"], pool=fx["pool"], na_action=fx["na_action"])


class _no_warning:
    def __enter__(self):
        import warnings
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", UserWarning)

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_lmlist_numbers_as_r(path):
    fx = load_fixture(path)
    fl = _fit(fx)
    assert fl.groups == fx["groups"]
    c = fl.coef()
    assert list(c.columns) == fx["coef"]["columns"] and list(c.index) == fx["coef"]["rownames"]
    assert_close(c.to_numpy(), _values(fx["coef"]), "coef", **TOL["lmlist"])
    assert (np.isnan(c.to_numpy()) == _na_mask(fx["coef"])).all()
    if fx["pooled_sd"] is not None:
        sd, df = fl.pooled_sd()
        assert df == fx["pooled_df"]
        assert_close(sd, fx["pooled_sd"], "pooledSD", **TOL["lmlist"])
    assert_close(fl.fixef().to_numpy(), list(fx["fixef"].values()), "fixef", **TOL["lmlist"])
    if fx["sigma"] is not None:
        ours = fl.sigma()
        theirs = fx["sigma"] if fx["package"] == "lme4" else [np.nan if v in (None, "NaN") else v for v in fx["sigma"]]
        assert_close(np.asarray(ours, float), theirs, "sigma", **TOL["lmlist"])
    elif fx["package"] == "nlme":
        with pytest.raises(mc.DataError):
            fl.sigma()
    if "ranef" in fx:
        assert_close(fl.ranef().to_numpy(), _values(fx["ranef"]), "ranef", **TOL["lmlist"])
    s = fl.summary()
    for name, frame in fx["summary"].items():
        tab = s.coefficients[name]
        assert list(tab.columns) == frame["columns"]
        assert_close(tab.to_numpy(), _values(frame), f"summary {name}", **TOL["lmlist"])
        assert (s.na[name] == _na_mask(frame)).all(), f"NA cells of summary {name}"
    if fx["ci_error"] is not None:
        with pytest.raises(mc.DataError):
            fl.intervals()
    else:
        ci = fl.confint() if fx["package"] == "lme4" else fl.intervals()
        for name, frame in fx["ci"].items():
            assert list(ci[name].columns) == frame["columns"]
            # a bound is estimate -/+ t se: near zero it keeps only the absolute accuracy of the estimate
            exp = np.asarray(_values(frame), dtype=float)
            tol = dict(TOL["lmlist"], atol=max(TOL["lmlist"]["atol"], TOL["lmlist"]["rtol"] * np.nanmax(np.abs(exp))))
            assert_close(ci[name].to_numpy(), exp, f"interval {name}", **tol)
            assert (ci.na[name] == _na_mask(frame)).all(), f"NA cells of interval {name}"
    if fx.get("ci_pooled"):
        ci = fl.confint(pool=True)
        for name, frame in fx["ci_pooled"].items():
            assert_close(ci[name].to_numpy(), _values(frame), f"pooled confint {name}", **TOL["lmlist"])
            assert (ci.na[name] == _na_mask(frame)).all(), f"NA cells of pooled confint {name}"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_lmlist_printed_as_r(path):
    fx = load_fixture(path)
    fl = _fit(fx)
    assert_same_printout(str(fl), fx["text"], "print")
    assert_same_printout(str(fl.summary()), fx["summary_text"], "summary")
    if fx["ci_text"] is not None:
        ci = fl.confint() if fx["package"] == "lme4" else fl.intervals()
        assert_same_printout(str(ci), fx["ci_text"], "confint / intervals", rel=TOL["lmlist"]["rtol"])


@pytest.mark.parametrize("path", [p for p in CASES if load_fixture(p)["warnings"]],
                         ids=lambda p: p.stem)
def test_lmlist_warning_is_r_s(path):
    fx = load_fixture(path)
    data = load_fixture_data(fx["data"])
    with pytest.warns(UserWarning) as rec:
        mc.lmList(fx["formula"], data, package=fx["package"], pool=fx["pool"], na_action=fx["na_action"])
    assert [str(w.message) for w in rec] == fx["warnings"]


# ------------------------------------------------------------------ bad input
def test_formula_without_group_is_refused():
    with pytest.raises(mc.FormulaError, match=r"\| g"):
        mc.lmList("Reaction ~ Days", mc.datasets.load("sleepstudy"))


def test_random_effect_terms_are_refused():
    with pytest.raises(mc.FormulaError):
        mc.lmList("Reaction ~ Days + (1 | Subject) | Subject", mc.datasets.load("sleepstudy"))


def test_unknown_column_names_it():
    with pytest.raises(mc.FormulaError, match="Dayz"):
        mc.lmList("Reaction ~ Dayz | Subject", mc.datasets.load("sleepstudy"))


def test_unknown_group_column_names_it():
    with pytest.raises(mc.FormulaError, match="Subj"):
        mc.lmList("Reaction ~ Days | Subj", mc.datasets.load("sleepstudy"))


def test_unknown_package():
    with pytest.raises(mc.DataError, match="package"):
        mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"), package="stats")


def test_nlme_refuses_missing_values_by_default():
    d = load_fixture_data("xt_fail")
    with pytest.raises(mc.DataError, match="missing values"):
        mc.lmList("y ~ x | g", d, package="nlme")


def test_lme4_keeps_a_group_without_complete_rows():
    d = load_fixture_data("xt_fail").copy()
    d.loc[d["g"] == "c", "y"] = np.nan
    with pytest.warns(UserWarning, match="0 \\(non-NA\\) cases"):
        fl = mc.lmList("y ~ x | g", d)
    assert "c" in fl.groups and fl.coef().loc["c"].isna().all()


def test_bad_level():
    fl = mc.lmList("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))
    with pytest.raises(mc.DataError, match="level"):
        fl.confint(level=1.5)
