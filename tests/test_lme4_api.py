"""lme4 1.1-31's small API on fits (mixedcompat.lme4.api) against R (tests/fixtures/lme4_api, written by
gen_lme4_api.R): isREML / isLMM / isGLMM / isNLMM, refitML, extractAIC, model.frame (names as R prints
the frame, values), model.matrix (fixed, random, randomListRaw), terms (deparsed formula, term labels),
hatvalues and cooks.distance (at R's own parameters), and the errors for what lme4's functions do not take.
"""
from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import (FIXTURES, TOL, assert_close, fit_at_r_optimum, fixture_paths, load_fixture, load_fixture_data,
                     theta_parted)

API_FIXTURES = fixture_paths("lme4_api")
IDS = [p.stem for p in API_FIXTURES]
_CACHE: dict[str, tuple] = {}


def _data(fx: dict) -> pd.DataFrame:
    root = (FIXTURES / fx["input"]["data_dir"]).parent      # "data" -> fixtures/, "glmer/data" -> fixtures/glmer
    return load_fixture_data(fx["input"]["data"], root=root)


def _fits(path: pathlib.Path):
    """(fixture, our fit, the model to compare downstream of theta: the fit or the model at R's parameters)."""
    key = str(path)
    if key not in _CACHE:
        fx = load_fixture(path)
        inp, data = fx["input"], _data(fx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if inp["fun"] == "lmer":
                m = mc.lmer(inp["formula"], data, REML=inp["REML"], weights=inp["weights"], offset=inp["offset"])
                at_r = fit_at_r_optimum(inp, data, fx["theta"])
            else:
                m = mc.glmer(inp["formula"], data, family=inp["family"])
                at_r = m
                if theta_parted(m.theta, fx["theta"]) or theta_parted(m.beta, fx["beta"]):
                    at_r = mc.glmer(inp["formula"], data, family=inp["family"], control={"optimizer": None},
                                    start={"theta": fx["theta"], "fixef": fx["beta"]})
        _CACHE[key] = (fx, m, at_r)
    return _CACHE[key]


@pytest.mark.parametrize("path", API_FIXTURES, ids=IDS)
def test_is_functions(path):
    fx, m, _ = _fits(path)
    ours = {"REML": mc.isREML(m), "LMM": mc.isLMM(m), "GLMM": mc.isGLMM(m), "NLMM": mc.isNLMM(m)}
    assert ours == fx["is"]
    assert all(isinstance(v, bool) for v in ours.values())


@pytest.mark.parametrize("path", API_FIXTURES, ids=IDS)
def test_extractAIC(path):
    fx, m, _ = _fits(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = mc.extractAIC(m)
        assert_close(mc.extractAIC(m, k=np.log(mc.nobs(m)))[1], mc.refitML(m).BIC(), "extractAIC(k = log n)", **TOL["BIC"])
    assert ours[0] == fx["extractAIC"][0]
    assert_close(ours[1], fx["extractAIC"][1], "extractAIC", **TOL["AIC"])


def test_refitML_is_refit_ml():
    d = mc.datasets.load("sleepstudy")
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    ml = mc.refitML(m)
    assert not mc.isREML(ml) and mc.isREML(m)
    assert_close(ml.logLik(), mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False).logLik(), "ML logLik",
                 **TOL["logLik"])
    assert mc.refitML(ml) is ml                              # an ML fit is returned as it is
    g = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mc.datasets.load("cbpp"), family="binomial")
    assert mc.refitML(g) is g and not mc.isREML(g)


def _assert_column(ours: pd.Series, col: dict, label: str) -> None:
    if col["class"] == "factor":
        assert [str(v) for v in ours] == col["values"], label
        assert isinstance(ours.dtype, pd.CategoricalDtype), f"{label}: not categorical"
        assert list(ours.cat.categories) == col["levels"], f"{label}: levels"
    else:
        assert_close(ours.to_numpy(dtype=float), col["values"], label, **TOL["model_matrix"])


def _printed(col: dict) -> list[str]:
    if col["class"] != "matrix":
        return [col["name"]]
    if len(col["colnames"]) == 1 and col["colnames"] == ["1"]:
        return [col["name"]]
    return [f"{col['name']}.{c if c else f'V{j + 1}'}" for j, c in enumerate(col["colnames"])]


@pytest.mark.parametrize("path", API_FIXTURES, ids=IDS)
def test_model_frame(path):
    fx, m, _ = _fits(path)
    mf = mc.model_frame(m)
    want = fx["model_frame"]
    assert list(mf.columns) == want["printed_names"]
    assert len(mf) == want["nrow"]
    for col in want["columns"]:
        names = _printed(col)
        if col["class"] == "matrix":
            for nm, vals in zip(names, col["values"]):
                assert_close(mf[nm].to_numpy(dtype=float), vals, f"{fx['name']}: {nm}", **TOL["model_matrix"])
        else:
            _assert_column(mf[names[0]], col, f"{fx['name']}: {names[0]}")
    assert list(mc.model_frame(m, fixed_only=True).columns) == want["fixed_only_names"]


@pytest.mark.parametrize("path", API_FIXTURES, ids=IDS)
def test_model_matrix(path):
    fx, m, _ = _fits(path)
    X = mc.model_matrix(m)
    assert list(X.columns) == fx["fixed"]["colnames"]
    assert_close(X.to_numpy(), np.array(fx["fixed"]["values"]), "X", **TOL["model_matrix"])
    assert_close(mc.model_matrix(m, type="fixed").to_numpy(), X.to_numpy(), "X", **TOL["model_matrix"])
    Z = mc.model_matrix(m, type="random")
    r = fx["random"]
    Zr = np.zeros(r["dim"])
    Zr[r["i"], r["j"]] = r["x"]
    assert Z.shape == tuple(r["dim"])
    assert_close(Z.toarray(), Zr, "Z", **TOL["model_matrix"])
    assert mc.lme4.api.random_colnames(m) == r["colnames"]
    raw = mc.model_matrix(m, type="randomListRaw")
    assert list(raw) == [e["name"] for e in fx["random_list"]]
    for e in fx["random_list"]:
        assert list(raw[e["name"]].columns) == e["colnames"], e["name"]
        assert_close(raw[e["name"]].to_numpy(), np.array(e["values"]), e["name"], **TOL["model_matrix"])


@pytest.mark.parametrize("which,kw", [("terms", {}), ("terms", {"fixed_only": True}),
                                      ("terms_full", {"fixed_only": False}), ("terms_random", {"random_only": True})])
@pytest.mark.parametrize("path", API_FIXTURES, ids=IDS)
def test_terms(path, which, kw):
    fx, m, _ = _fits(path)
    t = mc.terms(m, **kw)
    assert str(t) == fx[which]["text"]
    assert t.term_labels == fx[which]["labels"]
    assert t.intercept == fx[which]["intercept"] and t.response == fx[which]["response"]


@pytest.mark.parametrize("path", API_FIXTURES, ids=IDS)
def test_hatvalues_cooks_distance(path):
    fx, _, at_r = _fits(path)
    glmm = fx["input"]["fun"] == "glmer"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = mc.hatvalues(at_r)
        cd = mc.cooks_distance(at_r)
    assert [str(w.message) for w in caught] == fx["warnings"]["hatvalues"] + fx["warnings"]["cooks_distance"]
    assert len(caught) == (2 if glmm else 0)
    tol = TOL["hat_glmm_at_r_params" if glmm and at_r is not _fits(path)[1] else "hat_at_r_theta"]
    assert_close(h, fx["hatvalues"], "hatvalues", **tol)
    assert_close(cd, fx["cooks_distance"], "cooks.distance", **tol)


# ------------------------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def sleep_fit():
    return mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def lme_fit():
    return mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")


def test_model_matrix_unknown_type(sleep_fit):
    with pytest.raises(mc.DataError, match=r"unknown type 'Z'.*'fixed', 'random', 'randomListRaw'"):
        mc.model_matrix(sleep_fit, type="Z")


def test_terms_fixed_and_random_only(sleep_fit):
    with pytest.raises(mc.DataError, match="can't specify 'only fixed' and 'only random' terms"):
        mc.terms(sleep_fit, fixed_only=True, random_only=True)


def test_extractAIC_bad_k(sleep_fit):
    with pytest.raises(mc.DataError, match="k must be a number"):
        mc.extractAIC(sleep_fit, k="two")


FUNCS = ["isLMM", "isGLMM", "isNLMM", "extractAIC", "model_frame", "model_matrix", "terms", "hatvalues",
         "cooks_distance"]


@pytest.mark.parametrize("name", FUNCS)
def test_nlme_fit_refused(name, lme_fit):
    with pytest.raises(TypeError, match=r"takes an lmer or glmer fit, not an nlme lme fit \(lme4's function has no "
                                        r"method for nlme fits in R\)"):
        getattr(mc, name)(lme_fit)


def test_nlme_equivalents(lme_fit):
    """isREML and refitML have immediate nlme equivalents: the fit's method, the ML refit."""
    assert mc.isREML(lme_fit) is True
    ml = mc.refitML(lme_fit)
    assert mc.isREML(ml) is False and ml.method == "ML"


@pytest.mark.parametrize("name", FUNCS + ["isREML", "refitML"])
def test_data_frame_refused(name):
    with pytest.raises(TypeError, match="takes an lmer or glmer fit, not DataFrame"):
        getattr(mc, name)(mc.datasets.load("sleepstudy"))


def test_model_frame_kept_rows_and_array_weights():
    """Rows with a missing value are not in the frame (R's na.omit: row names kept); weights given as
    an array are the frame's (weights) on the kept rows, as a column name would give."""
    d = mc.datasets.load("sleepstudy").copy()
    d.loc[[3, 50], "Reaction"] = np.nan
    w = np.linspace(0.5, 2.0, len(d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer("Reaction ~ Days + (1 | Subject)", d, weights=w)
        m2 = mc.lmer("Reaction ~ Days + (1 | Subject)", d.assign(w=w), weights="w")
    mf = mc.model_frame(m)
    assert len(mf) == mc.nobs(m) == len(d) - 2
    assert 3 not in mf.index and 50 not in mf.index
    assert_close(mf["(weights)"].to_numpy(), np.delete(w, [3, 50]), "(weights)", **TOL["model_matrix"])
    pd.testing.assert_frame_equal(mf, mc.model_frame(m2))
