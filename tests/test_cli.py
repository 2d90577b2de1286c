"""The command line: `python -m mixedcompat fit ...` prints lme4's summary; `datasets` lists the data."""
from __future__ import annotations

import json
import subprocess
import sys

import mixedcompat as mc
from helpers import FIXTURES, assert_same_printout



def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mixedcompat", *args], capture_output=True, text=True)


def r_text(name: str) -> str:
    return json.loads((FIXTURES / "lmer" / f"{name}.json").read_text())["expected"]["summary_text"]


def test_fit_prints_lme4_summary():
    out = run("fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy")
    assert out.returncode == 0, out.stderr
    assert_same_printout(out.stdout, r_text("sleepstudy_reml"), "fit")


def test_fit_ml_from_csv(tmp_path):
    csv = tmp_path / "sleepstudy.csv"
    mc.datasets.load("sleepstudy").to_csv(csv, index=False)
    out = run("fit", "Reaction ~ Days + (Days | Subject)", "--data", str(csv), "--ml")
    assert out.returncode == 0, out.stderr
    assert_same_printout(out.stdout, r_text("sleepstudy_ml"), "fit --ml")


def test_singular_fit_message_goes_to_stderr():
    out = run("fit", "Yield ~ 1 + (1 | Batch)", "--data", "Dyestuff2")
    assert out.returncode == 0
    assert "boundary (singular) fit: see help('isSingular')" in out.stderr


def test_datasets_lists_bundled_data():
    out = run("datasets")
    assert out.returncode == 0
    names = out.stdout.split()
    assert names == mc.datasets.list_datasets()
    for required in ["sleepstudy", "Dyestuff", "Dyestuff2", "Penicillin", "Pastes", "cake", "InstEval",
                     "Orthodont", "Machines", "Oats", "Ovary", "BodyWeight", "ergoStool", "Rail", "Oxboys"]:
        assert required in names


def test_bad_formula_and_unknown_data_exit_2():
    out = run("fit", "Reaction ~ Days + (1 | Subjekt)", "--data", "sleepstudy")
    assert out.returncode == 2 and "Subjekt" in out.stderr
    out = run("fit", "y ~ 1 + (1 | g)", "--data", "no_such_data")
    assert out.returncode == 2 and "no_such_data" in out.stderr
    out = run("fit", "y ~ 1 + (1 | g)", "--data", "missing.csv")
    assert out.returncode == 2 and "missing.csv" in out.stderr
