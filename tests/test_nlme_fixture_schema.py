"""Schema checks for the nlme golden masters written by tests/fixtures/gen_nlme.R.

These tests do not fit anything: they make sure every ``tests/fixtures/nlme/*.json`` has the keys and
shapes described in ``tests/fixtures/nlme/README.md`` and that its numbers agree with one another
(AIC/BIC from logLik, residuals = response - fitted, interval estimates = point estimates, the LRT
statistic from the two log-likelihoods), so that a broken generator is noticed by the suite.
"""
from __future__ import annotations

import ast
import json
import math
import pathlib

import numpy as np
import pytest
from scipy import stats

from mixedcompat.datasets import read_csv_with_levels
from helpers import FIXTURES, TOL

NLME_DIR = FIXTURES / "nlme"
DATA_DIR = FIXTURES / "data"

MODEL_PATHS = sorted(p for p in NLME_DIR.glob("*.json") if not p.name.startswith("lrt_"))
LRT_PATHS = sorted(NLME_DIR.glob("lrt_*.json"))

CONSTRUCTORS = {
    "corAR1", "corCAR1", "corARMA", "corCompSymm", "corSymm", "corExp", "corGaus", "corSpher",
    "corLin", "corRatio", "varIdent", "varPower", "varExp", "varConstPower", "varFixed", "varComb",
    "pdDiag", "pdSymm", "pdIdent", "pdCompSymm",
}
INPUT_KEYS = {"function", "data", "method", "r_call", "control", "python"}
EXPECTED_KEYS = {
    "fixef", "se", "df", "t", "p", "vcov", "logLik", "df_logLik", "AIC", "BIC", "sigma", "nobs",
    "ngrps", "cor_params", "var_params", "modelStruct", "varcorr", "ranef", "ranef_grpNames",
    "coef_levels", "fitted", "resid", "intervals", "apVar", "anova", "predict", "numIter",
    "warnings", "messages", "summary_text", "print_text", "varcorr_text", "intervals_text",
    "anova_text", "intervals_relstep",
}
LRT_COLUMNS = ["Model", "df", "AIC", "BIC", "logLik", "Test", "L.Ratio", "p-value"]


def _load(path: pathlib.Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _data(stem: str):
    return read_csv_with_levels(DATA_DIR / f"{stem}.csv")


def _check_python_expression(text: str) -> None:
    """A Python expression whose calls are all mc.* nlme constructors."""
    tree = ast.parse(text, mode="eval")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert calls, f"{text!r} calls no constructor"
    for call in calls:
        assert isinstance(call.func, ast.Name) and call.func.id in CONSTRUCTORS, text


def _check_params(params: dict | None) -> None:
    if params is None:
        return
    # corSymm's coefficients have no names in R (intervals() calls them cor(1,2), ...)
    assert len(params["names"]) in (0, len(params["values"]))
    assert len(params["names_unconstrained"]) in (0, len(params["unconstrained"]))
    assert all(np.isfinite(params["values"])) and all(np.isfinite(params["unconstrained"]))


def _check_frame(frame: dict, n_columns: int | None = None) -> None:
    assert len(frame["values"]) == len(frame["levels"]) > 0
    assert all(len(row) == len(frame["columns"]) for row in frame["values"])
    if n_columns is not None:
        assert len(frame["columns"]) == n_columns


def test_fixture_set_is_complete():
    assert len(MODEL_PATHS) >= 18
    assert len(LRT_PATHS) >= 3
    names = {p.stem for p in MODEL_PATHS}
    for required in ("ovary_ar1", "ovary_arma11", "orthodont_slope_varident", "bodyweight_varpower",
                     "bodyweight_varpower_car1", "machines_nested", "oxboys_slope",
                     "spatial_gls_exp_nugget", "spatial_lme_exp_nugget", "orthodont_gls_varexp",
                     "hetero_gls_varconstpower", "orthodont_varcomb", "hetero_gls_varfixed"):
        assert required in names
    functions = {_load(p)["input"]["function"] for p in MODEL_PATHS}
    methods = {(_load(p)["input"]["function"], _load(p)["input"]["method"]) for p in MODEL_PATHS}
    assert functions == {"lme", "gls"}
    assert ("lme", "ML") in methods and ("gls", "ML") in methods


@pytest.mark.parametrize("path", MODEL_PATHS, ids=lambda p: p.stem)
def test_model_fixture_schema(path: pathlib.Path):
    fx = _load(path)
    assert fx["name"] == path.stem
    assert set(fx["meta"]) >= {"R", "nlme"}
    inp = fx["input"]
    assert set(inp) == INPUT_KEYS
    is_lme = inp["function"] == "lme"
    assert inp["function"] in ("lme", "gls") and inp["method"] in ("REML", "ML")
    assert inp["r_call"].startswith(inp["function"] + "(")
    py = inp["python"]
    assert set(py) == {"fixed", "random", "correlation", "weights"} and "~" in py["fixed"]
    if is_lme:
        if isinstance(py["random"], dict):
            for expr in py["random"].values():
                _check_python_expression(expr)
        else:
            assert "|" in py["random"]
    else:
        assert py["random"] is None
    for key in ("correlation", "weights"):
        if py[key] is not None:
            _check_python_expression(py[key])

    ex = fx["expected"]
    assert set(ex) == EXPECTED_KEYS
    data = _data(inp["data"])
    n, p = ex["nobs"], len(ex["fixef"]["names"])
    assert n == len(data)

    # coefficient table
    assert len(ex["fixef"]["values"]) == len(ex["se"]) == len(ex["t"]) == len(ex["p"]) == p
    np.testing.assert_allclose(np.array(ex["fixef"]["values"]) / np.array(ex["se"]), ex["t"], **TOL["schema_derived"])
    if is_lme:
        assert len(ex["df"]) == p
    else:
        assert ex["df"] is None
    vcov = np.array(ex["vcov"])
    assert vcov.shape == (p, p)
    np.testing.assert_allclose(vcov, vcov.T, **TOL["schema_symmetric"])
    # nlme's summary.lme scales ML standard errors by sqrt(N / (N - p)); vcov() and gls do not
    se_factor = math.sqrt(n / (n - p)) if is_lme and inp["method"] == "ML" else 1.0
    np.testing.assert_allclose(np.sqrt(np.diag(vcov)) * se_factor, ex["se"], **TOL["schema_derived"])

    # information criteria (nlme's REML BIC uses N - p observations)
    k, ll = ex["df_logLik"], ex["logLik"]
    n_eff = n - p if inp["method"] == "REML" else n
    assert ex["AIC"] == pytest.approx(-2 * ll + 2 * k, rel=TOL["schema_same"]["rtol"])
    assert ex["BIC"] == pytest.approx(-2 * ll + k * math.log(n_eff), rel=TOL["schema_same"]["rtol"])
    assert ex["sigma"] > 0

    # structures present exactly when the call has them
    assert (ex["cor_params"] is None) == (py["correlation"] is None)
    assert (ex["var_params"] is None) == (py["weights"] is None)
    _check_params(ex["cor_params"])
    _check_params(ex["var_params"])
    assert len(ex["modelStruct"]["names"]) == len(ex["modelStruct"]["unconstrained"])

    # random effects
    if is_lme:
        q = len(ex["ranef"])
        assert q >= 1 and len(ex["ranef_grpNames"]) == q == len(ex["ngrps"])
        for frame in ex["ranef"].values():
            _check_frame(frame)
        _check_frame(ex["coef_levels"])
        assert set(ex["varcorr"]["groups"]) == set(ex["ranef"])
        for grp in ex["varcorr"]["groups"].values():
            m = len(grp["names"])
            assert np.array(grp["cov"]).shape == np.array(grp["corr"]).shape == (m, m)
            np.testing.assert_allclose(np.sqrt(np.diag(grp["cov"])), grp["sd"], **TOL["schema_same"])
        assert ex["varcorr"]["residual_sd"] == pytest.approx(ex["sigma"], rel=TOL["schema_identical"]["rtol"])
        vcm = ex["varcorr"]["matrix"]
        assert len(vcm["values"]) == len(vcm["rownames"]) and vcm["rownames"][-1] == "Residual"
        assert ex["varcorr_text"]
        assert sorted(ex["fitted"]) == [str(i) for i in range(q + 1)]
    else:
        for key in ("ranef", "ranef_grpNames", "coef_levels", "varcorr", "ngrps", "varcorr_text"):
            assert ex[key] is None, key
        q = 0
        assert list(ex["fitted"]) == ["0"]

    # fitted values and residuals (response residuals at the innermost level)
    for values in ex["fitted"].values():
        assert len(values) == n
    assert set(ex["resid"]) == {"response", "pearson", "normalized"}
    for values in ex["resid"].values():
        assert len(values) == n and all(v is not None for v in values)
    response = py["fixed"].split("~")[0].strip()
    y = data[response].to_numpy(dtype=float)
    np.testing.assert_allclose(y - np.array(ex["fitted"][str(q)]), ex["resid"]["response"],
                               rtol=TOL["schema_fitted"]["rtol"],
                               atol=TOL["schema_fitted"]["atol"] * np.std(y))

    # intervals
    iv = ex["intervals"]
    assert iv["fixed_names"] == ex["fixef"]["names"]
    fixed = np.array(iv["fixed"])
    assert fixed.shape == (p, 3)
    np.testing.assert_allclose(fixed[:, 1], ex["fixef"]["values"], **TOL["schema_same_abs"])
    assert np.all(fixed[:, 0] <= fixed[:, 1]) and np.all(fixed[:, 1] <= fixed[:, 2])
    if "error" in iv:
        assert "Non-positive definite" in iv["error"]
        assert iv["error"].split("\n")[0] in ex["intervals_text"]
    else:
        assert iv["level"] == 0.95
        assert iv["sigma"][1] == pytest.approx(ex["sigma"], rel=TOL["schema_same"]["rtol"])
        for key, params in (("corStruct", ex["cor_params"]), ("varStruct", ex["var_params"])):
            if iv[key] is not None:
                rows = np.array(iv[key]["values"])
                assert rows.shape == (len(iv[key]["names"]), 3)
                assert params is not None
                estimates = (params["values"] if not params["names"]
                             else [dict(zip(params["names"], params["values"]))[nm] for nm in iv[key]["names"]])
                np.testing.assert_allclose(rows[:, 1], estimates, **TOL["schema_derived_abs"])
        if is_lme:
            assert set(iv["reStruct"]) == set(ex["ranef"])

    # apVar
    ap = ex["apVar"]
    if ap is not None and "error" not in ap:
        k_ap = len(ap["names"])
        assert np.array(ap["values"]).shape == (k_ap, k_ap) and len(ap["Pars"]) == k_ap

    # anova(m)
    an = ex["anova"]
    assert len(an["terms"]) == len(an["numDF"]) == len(an["F"]) == len(an["p"]) >= 1
    assert (an["denDF"] is not None) == is_lme

    # predictions
    pr = ex["predict"]
    n_new = len(pr["rows"]) + (1 if pr["new_level_row"] else 0)
    assert pr["new_level_row"] == is_lme
    assert all(len(v) == n_new for v in pr["newdata"]["values"].values())
    assert set(pr["newdata"]["columns"]) == set(data.columns)
    for level in range(q + 1):
        values = pr[f"level{level}"]
        assert len(values) == n_new
        if level >= 1:
            assert values[-1] is None
        assert all(v is not None for v in values[:len(pr["rows"])])
    np.testing.assert_allclose(pr["level0"][:len(pr["rows"])],
                               np.array(ex["fitted"]["0"])[pr["rows"]], **TOL["schema_same"])

    # printed output
    title = "Linear mixed-effects model fit by" if is_lme else "Generalized least squares fit by"
    assert ex["summary_text"].startswith(title)
    for key in ("print_text", "intervals_text", "anova_text"):
        assert isinstance(ex[key], str) and ex[key]


@pytest.mark.parametrize("path", LRT_PATHS, ids=lambda p: p.stem)
def test_lrt_fixture_schema(path: pathlib.Path):
    fx = _load(path)
    assert path.stem == "lrt_" + fx["name"]
    assert len(fx["models"]) == 2
    for model in fx["models"]:
        assert set(model) == INPUT_KEYS | {"label"}
    tab = fx["table"]
    assert tab["columns"] == LRT_COLUMNS
    assert tab["rownames"] == [m["label"] for m in fx["models"]]
    v = tab["values"]
    assert all(len(v[c]) == 2 for c in LRT_COLUMNS)
    assert v["Test"] == ["", "1 vs 2"] and v["L.Ratio"][0] is None and v["p-value"][0] is None
    ratio = 2 * abs(v["logLik"][1] - v["logLik"][0])
    assert v["L.Ratio"][1] == pytest.approx(ratio, rel=TOL["schema_derived"]["rtol"])
    ddf = abs(v["df"][1] - v["df"][0])
    assert v["p-value"][1] == pytest.approx(stats.chi2.sf(ratio, ddf), rel=TOL["schema_p"]["rtol"])
    assert "L.Ratio" in fx["text"]


def test_lrt_rows_match_single_fits():
    """A model fitted in both an LRT pair and a single-model fixture has the same logLik."""
    single = {}
    for path in MODEL_PATHS:
        fx = _load(path)
        single[fx["input"]["r_call"]] = fx["expected"]["logLik"]
    matched = 0
    for path in LRT_PATHS:
        fx = _load(path)
        for i, model in enumerate(fx["models"]):
            if model["r_call"] in single:
                assert fx["table"]["values"]["logLik"][i] == pytest.approx(single[model["r_call"]],
                                                                           rel=TOL["schema_identical"]["rtol"])
                matched += 1
    assert matched >= 2
