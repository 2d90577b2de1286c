"""lme4 1.1-31's Nelder-Mead (mixedcompat.numerics.nelder_mead) against R's lme4::Nelder_Mead.

The fixtures (tests/fixtures/gen_optimizers.R -> optimizers/nelder_mead.json) hold every point R
evaluated, in order, with the values, the result, the codes, messages, warnings and errors; the test
objectives are computed by tests/optimizer_objectives.py with R's operations in R's order, so the
paths agree to rounding (TOL["optimizer_path"]).
"""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from helpers import FIXTURES, TOL
from optimizer_objectives import num, objective
from mixedcompat.errors import ConvergenceWarning
from mixedcompat.numerics.nelder_mead import (NM_MESSAGES, NelderMead, NelderMeadError, NelderMeadResult,
                                              nelder_mead)

CASES = json.loads((FIXTURES / "optimizers" / "nelder_mead.json").read_text())["cases"]
BY_NAME = {c["name"]: c for c in CASES}


def _arguments(case: dict) -> dict:
    """Our keyword arguments for a fixture case (R's control list translated)."""
    inp = case["input"]
    ctl = inp.get("control") or {}
    kw = dict(lower=num(inp["lower"]), upper=num(inp["upper"]))
    if inp.get("xst") is not None:
        kw["xst"] = num(inp["xst"])
    if inp.get("xt") is not None:
        kw["xt"] = num(inp["xt"])
    scalar = {k: float(num(v)[0]) if isinstance(v, list) else v for k, v in ctl.items()}
    names = {"maxfun": "maxfun", "MinfMax": "minf_max", "warnOnly": "warn_only", "FtolAbs": "ftol_abs",
             "FtolRel": "ftol_rel", "XtolRel": "xtol_rel"}
    for r_name, value in scalar.items():
        kw[names[r_name]] = int(value) if r_name == "maxfun" else value
    if "xtol_rel" in kw:          # R's XtolRel never reaches lme4's C++ side: it stays at 1e-7
        kw.pop("xtol_rel")
    return kw


def _run(case: dict) -> tuple[NelderMeadResult, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = nelder_mead(objective(case["objective"]), num(case["input"]["x0"]), record=True, **_arguments(case))
    return res, [str(w.message) for w in caught]


def _assert_same_points(ours: np.ndarray, r: np.ndarray, what: str) -> None:
    assert ours.shape == r.shape, f"{what}: {ours.shape[0]} evaluations, R made {r.shape[0]}"
    tol = TOL["optimizer_path"]
    close = np.isclose(ours, r, equal_nan=True, **tol) | (ours == r)
    if not close.all():
        i = int(np.flatnonzero(~close.all(axis=-1) if ours.ndim > 1 else ~close)[0])
        raise AssertionError(f"{what}: first differs at evaluation {i + 1}: ours {ours[i]!r} vs R {r[i]!r}")


RUNS = [c for c in CASES if c["expected"].get("error") is None]
ERRORS = [c for c in CASES if c["expected"].get("error") is not None]


@pytest.mark.parametrize("case", RUNS, ids=[c["name"] for c in RUNS])
def test_path_is_r_s_evaluation_by_evaluation(case):
    res, _ = _run(case)
    exp = case["expected"]
    _assert_same_points(res.path, np.array([num(p) for p in exp["path"]]), f"{case['name']} points")
    _assert_same_points(res.values, num(exp["values"]), f"{case['name']} values")


@pytest.mark.parametrize("case", RUNS, ids=[c["name"] for c in RUNS])
def test_result_codes_and_messages_are_r_s(case):
    res, caught = _run(case)
    exp = case["expected"]
    assert res.feval == exp["feval"]
    assert res.NM_result == exp["NM_result"]
    assert res.convergence == exp["convergence"]
    assert res.message == exp["message"]
    assert list(res.warnings) == exp["warnings"]
    assert caught == exp["warnings"]
    _assert_same_points(res.par[None, :], num(exp["par"])[None, :], "par")
    _assert_same_points(np.array([res.fval]), num(exp["fval"]), "fval")


@pytest.mark.parametrize("case", RUNS, ids=[c["name"] for c in RUNS])
def test_result_is_the_best_point_evaluated(case):
    """lme4's xpos()/value(): the first point with the smallest value ever seen, not a vertex."""
    res, _ = _run(case)
    values = np.where(np.isnan(res.values), np.inf, res.values)
    k = int(np.argmin(values))
    if values[k] == np.inf:                                 # nothing below inf: the start, value inf
        assert res.fval == np.inf and np.array_equal(res.par, res.path[0])
    else:
        assert res.fval == values[k] and np.array_equal(res.par, res.path[k])


@pytest.mark.parametrize("case", ERRORS, ids=[c["name"] for c in ERRORS])
def test_arguments_r_refuses(case):
    with pytest.raises(NelderMeadError) as info:
        nelder_mead(objective(case["objective"]), num(case["input"]["x0"]), **_arguments(case))
    assert case["expected"]["error"] in str(info.value)
    assert case["expected"]["path"] == []                   # R evaluated nothing either


def test_f_tolerances_are_never_applied_as_in_lme4():
    """lme4 1.1-31 never tests FtolAbs / FtolRel: R's run with absurd ones is R's default run..."""
    r_default = BY_NAME["rosen2"]["expected"]
    r_quirk = BY_NAME["ftol_ignored"]["expected"]
    assert r_quirk["path"] == r_default["path"] and r_quirk["feval"] == r_default["feval"]
    # ... and ours ignores them likewise
    case = BY_NAME["rosen2"]
    f = objective(case["objective"])
    kw = _arguments(case)
    base = nelder_mead(f, num(case["input"]["x0"]), record=True, **kw)
    quirk = nelder_mead(f, num(case["input"]["x0"]), record=True, ftol_abs=1e3, ftol_rel=0.5, **kw)
    assert np.array_equal(base.path, quirk.path)
    assert all(c["expected"].get("NM_result") != 2 for c in CASES)


def test_evaluations_used_up_warn_and_report_r_s_words():
    case = BY_NAME["maxfun_30"]
    with pytest.warns(ConvergenceWarning, match=r"^failure to converge in 30 evaluations$"):
        res = nelder_mead(objective(case["objective"]), num(case["input"]["x0"]), **_arguments(case))
    assert (res.feval, res.NM_result, res.convergence) == (31, 4, 0)
    assert res.message == "failure to converge in 30 evaluations"


def test_below_minf_max_stops_with_code_1():
    res = nelder_mead(lambda x: float(x[0] ** 2 + x[1] ** 2), [1.0, 1.0], xst=[0.5, 0.5], xt=[1e-8, 1e-8],
                      minf_max=0.5)
    assert res.NM_result == 1 and res.message == NM_MESSAGES[1]
    assert res.fval < 0.5
    assert res.feval < 100


def test_converged_in_x_within_the_tolerance():
    """Code 3 means every vertex is within xt of the centroid: a finer xt takes more evaluations and
    ends closer to the optimum."""
    f = lambda x: float((x[0] - 0.3) ** 2 + 2.0 * (x[1] + 0.2) ** 2)  # noqa: E731
    coarse = nelder_mead(f, [1.0, 1.0], xst=[0.1, 0.1], xt=[1e-3, 1e-3])
    fine = nelder_mead(f, [1.0, 1.0], xst=[0.1, 0.1], xt=[1e-9, 1e-9])
    assert coarse.NM_result == fine.NM_result == 3
    assert coarse.message == "parameter values converged to within tolerance"
    assert fine.feval > coarse.feval
    assert np.abs(fine.par - [0.3, -0.2]).max() < 1e-8 < np.abs(coarse.par - [0.3, -0.2]).max()


def test_r_s_defaults_for_steps_and_tolerances():
    """xst 0.02 and xt 5e-4 * xst when not given, as R's wrapper (the quad2_defaults fixture)."""
    case = BY_NAME["quad2_defaults"]
    assert case["input"]["xst"] is None
    assert np.array_equal(num(case["expected"]["xst"]), [0.02, 0.02])
    assert np.allclose(num(case["expected"]["xt"]), [1e-5, 1e-5], rtol=1e-15)


@pytest.mark.parametrize("kwargs, r_words", [
    (dict(x0=[2.0], lower=[0.0], upper=[1.0]), "all(x0 <= upper) is not TRUE"),
    (dict(x0=[-1.0], lower=[0.0], upper=[1.0]), "all(x0 >= lower) is not TRUE"),
    (dict(x0=[0.5], lower=[1.0], upper=[1.0]), "all(lower < upper) is not TRUE"),
    (dict(x0=[0.5], xst=[0.0]), "all(xst != 0) is not TRUE"),
    (dict(x0=[0.5], xst=[0.1], xt=[0.0]), "all(xt > 0) is not TRUE"),
    (dict(x0=[math.inf]), "all(is.finite(x0)) is not TRUE"),
    (dict(x0=[0.5, 0.5], xst=[0.1]), "length(xst <- as.numeric(xst)) == n is not TRUE"),
])
def test_bad_arguments_name_the_fault_in_r_s_words(kwargs, r_words):
    with pytest.raises(NelderMeadError, match=r_words.replace("(", r"\(").replace(")", r"\)")):
        nelder_mead(lambda x: 0.0, **kwargs)


def test_ask_and_tell_is_the_same_run():
    case = BY_NAME["glmer_like_theta0"]
    f = objective(case["objective"])
    kw = _arguments(case)
    whole = nelder_mead(f, num(case["input"]["x0"]), record=True, **kw)
    nm = NelderMead(num(case["input"]["x0"]), kw["lower"], kw["upper"], kw["xst"], kw["xt"])
    points = []
    status = 0
    while status == 0:
        points.append(nm.xeval.copy())
        status = nm.tell(f(nm.xeval))
    assert status == whole.NM_result
    assert np.array_equal(np.array(points), whole.path)
    assert np.array_equal(nm.xpos, whole.par) and nm.value == whole.fval


def test_the_objective_cannot_disturb_the_optimiser():
    """fn receives a copy: changing it in place changes nothing."""
    def spoil(x):
        v = float((x[0] - 1) ** 2 + (x[1] - 2) ** 2)
        x[:] = 99.0
        return v
    clean = nelder_mead(lambda x: float((x[0] - 1) ** 2 + (x[1] - 2) ** 2), [0.0, 0.0], xst=[0.1, 0.1],
                        xt=[1e-7, 1e-7])
    spoiled = nelder_mead(spoil, [0.0, 0.0], xst=[0.1, 0.1], xt=[1e-7, 1e-7])
    assert np.array_equal(clean.par, spoiled.par) and clean.feval == spoiled.feval
