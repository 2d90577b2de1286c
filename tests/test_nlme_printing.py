"""nlme's printed text (summary, print, VarCorr, intervals, anova) compared with R's, line by line.

Expected text: ``expected.summary_text`` etc. of tests/fixtures/nlme/*.json and ``text`` of
tests/fixtures/nlme/lrt_*.json, written by tests/fixtures/gen_nlme.R.

How lines are compared: our estimates agree with nlme to about 1e-6 (relative), so a printed
number can differ in its last digit, and a changed digit can change a column's width (R drops
trailing zeros: ``3.665450`` prints as ``3.66545``).  So

- every line must have the same words (labels, headers, ``"<.0001"``) as R's, in the same order;
- numeric words may differ by one unit of R's last printed digit or by ``rtol`` times the largest
  number on the line;
- a block of lines (between blank lines) whose numbers all print identically must match R's
  text exactly, spacing included; spacing may differ only in a block where a number differs.

The differing tokens are printed in the failure message.  Fixtures whose fit does not reach nlme's
optimum (logLik beyond 1e-6 relative) are skipped: that is the fit's business, not printing's.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest

from helpers import TOL
from nlme_fixtures import fit_input, load, lrt_fixture_paths, nlme_fixture_paths

import mixedcompat.nlme.nlme_inference as inf
from mixedcompat.present.nlme_printing import (deparse, format_anova, format_intervals, format_print,
                                            format_summary, format_varcorr)

NUM = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)(e[-+]\d+)?$")
# Relative to the largest number on the line (tolerances: tests/helpers.py TOL, "nlme_text" and
# "nlme_intervals_text" say why they are this loose).
RTOL = {"summary_text": TOL["nlme_text"]["rtol"], "print_text": TOL["nlme_text"]["rtol"],
        "varcorr_text": TOL["nlme_text"]["rtol"], "anova_text": TOL["nlme_text"]["rtol"],
        "intervals_text": TOL["nlme_intervals_text"]["rtol"], "lrt": TOL["nlme_text"]["rtol"]}
LOGLIK_RTOL = TOL["nlme_logLik"]["rtol"]

FIXTURES = nlme_fixture_paths()
LRT = lrt_fixture_paths()


def _unit(token: str) -> float:
    """One unit of the last printed digit of a numeric token."""
    mant, _, exp = token.partition("e")
    dec = len(mant.split(".")[1]) if "." in mant else 0
    return 10.0 ** (-dec + (int(exp) if exp else 0))


def _close(r: str, ours: str, rtol: float, scale: float) -> bool:
    a, b = float(r), float(ours)
    return abs(a - b) <= max(rtol * scale, 1.01 * max(_unit(r), _unit(ours)), 1e-300)


def _blocks(lines: list[str]) -> list[int]:
    out, k = [], 0
    for line in lines:
        if not line.strip():
            k += 1
        out.append(k)
    return out


def compare_text(expected: str, got: str, rtol: float) -> list[str]:
    """Problems found comparing our text with R's (empty when they agree; see the module docstring)."""
    el, gl = expected.split("\n"), got.split("\n")
    if len(el) != len(gl):
        return [f"{len(gl)} lines, R has {len(el)}:\n--- R\n{expected}\n--- ours\n{got}"]
    problems, num_diff_blocks, ws_diff = [], set(), []
    blocks = _blocks(el)
    for i, (a, b) in enumerate(zip(el, gl)):
        if a == b:
            continue
        ta, tb = a.split(), b.split()
        if len(ta) != len(tb):
            problems.append(f"line {i + 1}: words differ\n  R:    {a!r}\n  ours: {b!r}")
            continue
        numeric_differs = False
        scale = max([abs(float(x)) for x in ta if NUM.match(x)] + [0.0])
        for x, y in zip(ta, tb):
            if x == y:
                continue
            if NUM.match(x) and NUM.match(y):
                numeric_differs = True
                if not _close(x, y, rtol, scale):
                    problems.append(f"line {i + 1}: number {y} differs from R's {x} (rtol {rtol})\n"
                                    f"  R:    {a!r}\n  ours: {b!r}")
            else:
                problems.append(f"line {i + 1}: word {y!r} differs from R's {x!r}\n  R:    {a!r}\n  ours: {b!r}")
        if numeric_differs:
            num_diff_blocks.add(blocks[i])
        else:
            ws_diff.append(i)
    for i in ws_diff:
        if blocks[i] not in num_diff_blocks:
            problems.append(f"line {i + 1}: spacing differs although every number agrees\n"
                            f"  R:    {el[i]!r}\n  ours: {gl[i]!r}")
    return problems


def _fit_or_skip(fx: dict):
    from test_nlme_fixtures import WEAKLY_IDENTIFIED
    if fx["name"] in WEAKLY_IDENTIFIED:      # no unique optimum: the numbers are not nlme's to print
        pytest.skip(f"{fx['name']}: {WEAKLY_IDENTIFIED[fx['name']]}")
    try:
        m = fit_input(fx["input"])
    except Exception as exc:      # the fit's business, not printing's
        pytest.skip(f"{fx['name']}: the model does not fit ({type(exc).__name__}: {exc})")
    e = fx["expected"]
    ll = float(m.logLik())
    if abs(ll - e["logLik"]) > LOGLIK_RTOL * abs(e["logLik"]):
        pytest.skip(f"{fx['name']}: our fit is not nlme's (logLik {ll:.6f} vs R {e['logLik']:.6f})")
    # equal logLik, other parameters (corCompSymm next to a random intercept, a variance at 0)
    ours = [m.sigma()] + [float(np.sqrt(np.diag(c.to_numpy()))[i]) for c in m.re_cov().values()
                          for i in range(c.shape[0])]
    theirs = [e["sigma"]] + [s for g in ((e.get("varcorr") or {}).get("groups") or {}).values() for s in g["sd"]]
    if len(ours) == len(theirs) and not np.allclose(ours, theirs, **TOL["nlme_same_estimates"]):
        pytest.skip(f"{fx['name']}: same logLik as nlme, other estimates (sd {np.round(ours, 6).tolist()} "
                    f"vs R {np.round(theirs, 6).tolist()})")
    return m


def _check(fx: dict, key: str, got: str) -> None:
    problems = compare_text(fx["expected"][key], got, RTOL[key])
    assert not problems, f"{fx['name']} {key}:\n" + "\n".join(problems[:8])


def test_fixtures_present():
    assert len(FIXTURES) >= 15, "tests/fixtures/nlme has too few fits: run Rscript tests/fixtures/gen_nlme.R"
    assert LRT, "no tests/fixtures/nlme/lrt_*.json: run Rscript tests/fixtures/gen_nlme.R"


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_summary_and_print(path):
    fx = load(path)
    m = _fit_or_skip(fx)
    _check(fx, "summary_text", format_summary(m))
    _check(fx, "print_text", format_print(m))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_varcorr_and_anova(path):
    fx = load(path)
    m = _fit_or_skip(fx)
    if m.kind == "lme":
        _check(fx, "varcorr_text", format_varcorr(m))
    _check(fx, "anova_text", format_anova(inf.anova_single(m), model=m))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_intervals(path):
    fx = load(path)
    expected = fx["expected"]["intervals_text"]
    if not expected.startswith("Approximate"):
        pytest.skip(f"{fx['name']}: nlme's intervals() fails ({expected.splitlines()[0][:60]})")
    m = _fit_or_skip(fx)
    iv = inf.intervals(m)
    iv.model, iv.level = m, 0.95
    _check(fx, "intervals_text", format_intervals(iv))


def test_intervals_fixed_only_and_level():
    """which='fixed' prints only the fixed block; the title shows 100 * level."""
    path = next(p for p in FIXTURES if p.stem == "orthodont_ri")
    fx = load(path)
    m = _fit_or_skip(fx)
    iv = inf.intervals(m, level=0.9, which="fixed")
    iv.model, iv.level = m, 0.9
    lines = format_intervals(iv).split("\n")
    assert lines[:3] == ["Approximate 90% confidence intervals", "", " Fixed effects:"]
    assert len(lines) == 3 + 1 + len(m.x_names)


@pytest.mark.parametrize("path", LRT, ids=[p.stem for p in LRT])
def test_lrt_table(path):
    fx = load(path)
    fits = []
    for spec in fx["models"]:
        try:
            fits.append(fit_input(spec))
        except Exception as exc:
            pytest.skip(f"{fx['name']}: a model does not fit ({exc})")
    labels = [spec["label"] for spec in fx["models"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # nlme's REML warning for different fixed effects
        table = inf.anova_models(*fits, names=labels)
    problems = compare_text(fx["text"], format_anova(table), RTOL["lrt"])
    assert not problems, f"{fx['name']}:\n" + "\n".join(problems[:8])


def test_compare_text_catches_changes():
    """The comparison itself: a label, a spacing change with equal numbers, or a wrong number fail."""
    r = "        (Intercept) Residual\nStdDev:    2.807268  3.66545"
    assert compare_text(r, r, 1e-4) == []
    assert compare_text(r, r.replace("Residual", "Resid"), 1e-4)
    assert compare_text(r, r.replace("StdDev:    2", "StdDev:     2"), 1e-4)
    assert compare_text(r, r.replace("2.807268", "2.807368"), 1e-6)
    assert compare_text(r, "        (Intercept) Residual\nStdDev:    2.807269  3.665451", 1e-6) == []


# ------------------------------------------------------------------------------ deparse, live R
DEPARSE_CASES = [
    "follicles ~ sin(2*pi*Time) + cos(2*pi*Time)",
    "~ 1 | Worker/Machine",
    "y ~ log(x + 1e-4) + poly(x, 2, raw = TRUE) + x %in% g - 1",
    "~ Machine - 1",
    "y~x*f+I(x^2)+a:b",
    "~ fitted(.) | g * h",
    "y ~ -x^-2 + !z + (a|b) + f(x, 2.50) + 'str'",
    "response ~ first_long_predictor_name + second_long_predictor + third_predictor + fourth",
]


@pytest.mark.r
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript is not installed")
@pytest.mark.parametrize("text", DEPARSE_CASES)
def test_deparse_as_r(text):
    code = f"cat(deparse(quote({text})), sep = '\\n')"
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert deparse(text) == out.stdout.rstrip("\n").split("\n")
