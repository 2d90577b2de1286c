"""`python -m mixedcompat fit ... --json` and `--predict`: the numbers in the files are R's (fixtures)."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import FIXTURES, TOL, assert_close, assert_same_printout, load_fixture

LMER = FIXTURES / "lmer"
DATA = FIXTURES / "data"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mixedcompat", *args], capture_output=True, text=True)


def _strict_json(text: str) -> dict:
    def no_constants(name):
        raise AssertionError(f"JSON holds {name}: NaN and infinities must be null")
    return json.loads(text, parse_constant=no_constants)


def _fit_json(name: str, tmp_path=None) -> tuple[dict, dict, subprocess.CompletedProcess]:
    fx = load_fixture(LMER / f"{name}.json")
    inp = fx["input"]
    args = ["fit", inp["formula"], "--data", str(DATA / f"{inp['data']}.csv")] + ([] if inp["REML"] else ["--ml"])
    if tmp_path is None:
        out = run(*args, "--json")
        assert out.returncode == 0, out.stderr
        return _strict_json(out.stdout), fx["expected"], out
    target = tmp_path / "fit.json"
    out = run(*args, "--json", str(target))
    assert out.returncode == 0, out.stderr
    return _strict_json(target.read_text()), fx["expected"], out


@pytest.mark.parametrize("name", ["sleepstudy_reml", "sleepstudy_ml", "pastes", "dyestuff2_singular", "oats"])
def test_json_matches_r(name):
    got, exp, out = _fit_json(name)
    assert got["formula"] == load_fixture(LMER / f"{name}.json")["input"]["formula"]
    assert got["REML"] == exp["REML"]
    assert got["fixef"]["names"] == exp["fixef"]["names"]
    atol_fe = TOL["fixef_floor"]["atol"] * float(np.min(exp["se"]))
    assert_close(got["fixef"]["values"], exp["fixef"]["values"], "fixef", **TOL["fixef"], atol=atol_fe)
    assert_close(got["se"], exp["se"], "se", **TOL["se"])
    assert got["vcov"]["names"] == exp["fixef"]["names"]
    assert_close(got["vcov"]["values"], exp["vcov"], "vcov", rtol=TOL["se"]["rtol"] * 2,
                 atol=TOL["vcov_floor"]["atol"] * float(np.max(np.abs(exp["vcov"]))))
    assert got["theta"]["names"] == exp["theta_names"]
    assert_close(got["theta"]["values"], exp["theta"], "theta", **TOL["theta"])
    assert got["lower"] == exp["lower"]
    assert_close(got["sigma"], exp["sigma"], "sigma", **TOL["sigma"])
    assert [(r["grp"], r["var1"], r["var2"]) for r in got["VarCorr"]] == \
        [(r["grp"], r["var1"], r["var2"]) for r in exp["varcorr"]]
    assert_close([r["vcov"] for r in got["VarCorr"]], [r["vcov"] for r in exp["varcorr"]], "VarCorr vcov",
                 **TOL["varcorr"])
    assert_close([r["sdcor"] for r in got["VarCorr"]], [r["sdcor"] for r in exp["varcorr"]], "VarCorr sdcor",
                 **TOL["varcorr"])
    assert list(got["ranef"]) == list(exp["ranef"])
    for g, re in exp["ranef"].items():
        mine = got["ranef"][g]
        assert mine["levels"] == re["levels"] and mine["columns"] == re["columns"]
        sd = float(np.max(np.abs(re["values"]))) if np.size(re["values"]) else 1.0
        assert_close(mine["values"], re["values"], f"ranef {g}", **TOL["ranef"],
                     atol=TOL["ranef_floor"]["atol"] * sd + TOL["ranef_all_zero"]["atol"])
        if mine["postVar"] is None:
            assert "note" in got, "no postVar and no note saying why"
        elif "postVar" in re:
            assert_close(mine["postVar"], re["postVar"], f"postVar {g}", rtol=TOL["postvar_json"]["rtol"],
                         atol=TOL["postvar_json"]["atol"] * float(np.max(np.abs(re["postVar"])) or 1.0))
    for key in ("logLik", "AIC", "BIC"):
        assert_close(got[key], exp[key], key, **TOL[key])
    assert got["df"] == exp["logLik_df"]
    assert got["criterion"]["name"] == ("REMLcrit" if exp["REML"] else "deviance")
    assert_close(got["criterion"]["value"], exp["criterion"], "criterion", **TOL["criterion"])
    if exp["REML"]:
        assert got["deviance"] is None and exp["deviance"] is None
        assert_close(got["REMLcrit"], exp["REMLcrit"], "REMLcrit", **TOL["criterion"])
    else:
        assert got["REMLcrit"] is None
        assert_close(got["deviance"], exp["deviance"], "deviance", **TOL["criterion"])
    assert got["nobs"] == exp["nobs"]
    assert got["df_residual"] == exp["df_residual"]
    assert got["ngrps"] == exp["ngrps"]
    assert got["isSingular"] == exp["isSingular"]
    assert got["optimizer"]["name"] == exp["optimizer"]
    assert got["optimizer"]["conv_code"] == exp["conv_code"]
    assert got["optimizer"]["messages"] == exp["optinfo_messages"]
    assert got["messages"] == exp["messages"] + exp["warnings"]
    for msg in got["messages"]:
        assert msg in out.stderr   # messages still go to stderr
    assert "Linear mixed model" not in out.stdout   # stdout holds the JSON only


def test_json_to_file_keeps_summary_on_stdout(tmp_path):
    got, exp, out = _fit_json("sleepstudy_reml", tmp_path)
    assert_same_printout(out.stdout, exp["summary_text"], "fit --json FILE")
    assert got["data"] == "sleepstudy"


def test_json_bundled_data_name():
    out = run("fit", "Yield ~ 1 + (1 | Batch)", "--data", "Dyestuff", "--json", "-")
    assert out.returncode == 0, out.stderr
    got = _strict_json(out.stdout)
    exp = load_fixture(LMER / "dyestuff.json")["expected"]
    assert got["data"] == "Dyestuff"
    assert_close(got["logLik"], exp["logLik"], "logLik", **TOL["logLik"])


# ------------------------------------------------------------------------------------------- --predict
def test_predict_on_training_rows_is_r_fitted(tmp_path):
    exp = load_fixture(LMER / "sleepstudy_reml.json")["expected"]
    out_csv = tmp_path / "pred.csv"
    out = run("fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy",
              "--predict", str(DATA / "sleepstudy.csv"), "--out", str(out_csv))
    assert out.returncode == 0, out.stderr
    pred = pd.read_csv(out_csv)
    y_sd = float(np.std(np.asarray(exp["fitted"]) + np.asarray(exp["residuals"]), ddof=1))
    assert_close(pred["fit"].to_numpy(), exp["fitted"], "predict = R's fitted", **TOL["fitted"],
                 atol=TOL["fitted_floor"]["atol"] * y_sd)
    assert out.stdout.startswith("Linear mixed model")   # the summary, since the CSV went to --out


def test_predict_population_level_to_stdout(tmp_path):
    exp = load_fixture(LMER / "sleepstudy_reml.json")["expected"]
    newdata = tmp_path / "new.csv"
    pd.DataFrame({"Days": [0.0, 4.5, 10.0], "Subject": ["308", "999", "372"]}).to_csv(newdata, index=False)
    out = run("fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy",
              "--predict", str(newdata), "--re-form", "~0")
    assert out.returncode == 0, out.stderr
    pred = pd.read_csv(io.StringIO(out.stdout))
    b0, b1 = exp["fixef"]["values"]
    assert_close(pred["fit"].to_numpy(), b0 + b1 * np.array([0.0, 4.5, 10.0]), "re.form = ~0",
                 **TOL["predict_from_fixef"])
    assert list(pred.columns) == ["Days", "Subject", "fit"]


def test_predict_new_level_needs_allow_new_levels(tmp_path):
    exp = load_fixture(LMER / "sleepstudy_reml.json")["expected"]
    newdata = tmp_path / "new.csv"
    pd.DataFrame({"Days": [2.0], "Subject": ["999"]}).to_csv(newdata, index=False)
    args = ["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--predict", str(newdata)]
    refused = run(*args)
    assert refused.returncode == 2 and "999" in refused.stderr
    out = run(*args, "--allow-new-levels")
    assert out.returncode == 0, out.stderr
    b0, b1 = exp["fixef"]["values"]
    assert_close(pd.read_csv(io.StringIO(out.stdout))["fit"].to_numpy(), [b0 + 2 * b1], "new level",
                 **TOL["predict_from_fixef"])


def test_predict_missing_column_exits_2_naming_it(tmp_path):
    newdata = tmp_path / "new.csv"
    pd.DataFrame({"Subject": ["308"], "Reaction": [1.0]}).to_csv(newdata, index=False)
    out = run("fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--predict", str(newdata))
    assert out.returncode == 2
    assert "'Days'" in out.stderr and str(newdata) in out.stderr
    assert out.stdout == ""
    # the grouping factor is needed unless re.form drops the random effects
    pd.DataFrame({"Days": [1.0]}).to_csv(newdata, index=False)
    out = run("fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--predict", str(newdata))
    assert out.returncode == 2 and "'Subject'" in out.stderr
    out = run("fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--predict", str(newdata),
              "--re-form", "NA")
    assert out.returncode == 0, out.stderr


def test_option_conflicts_exit_2(tmp_path):
    base = ["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy"]
    out = run(*base, "--json", "-", "--predict", str(DATA / "sleepstudy.csv"))
    assert out.returncode == 2 and "stdout" in out.stderr
    out = run(*base, "--re-form", "~0")
    assert out.returncode == 2 and "--predict" in out.stderr
    out = run(*base, "--predict", str(tmp_path / "nope.csv"))
    assert out.returncode == 2 and "nope.csv" in out.stderr


def test_errors_keep_exit_2_with_json():
    out = run("fit", "Reaction ~ Days + (1 | Subjekt)", "--data", "sleepstudy", "--json")
    assert out.returncode == 2 and "Subjekt" in out.stderr and out.stdout == ""
    out = run("fit", "y ~ 1 + (1 | g)", "--data", "no_such_data", "--json")
    assert out.returncode == 2 and "no_such_data" in out.stderr
