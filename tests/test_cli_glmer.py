"""``python -m mixedcompat fit ... --family F``: glmer from the command line prints lme4's summary."""
from __future__ import annotations

import json
import subprocess
import sys

from helpers import FIXTURES, assert_same_printout


def test_cli_glmer_prints_lme4s_summary():
    fx = json.loads((FIXTURES / "glmer" / "cbpp.json").read_text())
    out = subprocess.run([sys.executable, "-m", "mixedcompat", "fit", fx["input"]["formula"], "--data", "cbpp",
                          "--family", "binomial"], capture_output=True, text=True, check=True)
    assert_same_printout(out.stdout, fx["expected"]["summary_text"], "fit --family binomial")


def test_cli_glmer_json_reports_minus_two_loglik():
    fx = json.loads((FIXTURES / "glmer" / "cbpp.json").read_text())
    out = subprocess.run([sys.executable, "-m", "mixedcompat", "fit", fx["input"]["formula"], "--data", "cbpp",
                          "--family", "binomial", "--json", "-"], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert res["criterion"]["name"] == "-2logLik"
    assert abs(res["criterion"]["value"] - fx["expected"]["minus2logLik"]) <= 1e-6 * fx["expected"]["minus2logLik"]
    assert abs(res["deviance"] - fx["expected"]["deviance"]) <= 1e-5 * fx["expected"]["deviance"]
