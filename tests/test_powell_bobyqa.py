"""Powell's BOBYQA as minqa 1.2.5 runs it (mixedcompat.numerics.powell_bobyqa) against R's minqa::bobyqa.

The fixtures (tests/fixtures/gen_optimizers.R -> optimizers/bobyqa.json) hold every call R made of the
objective (the wrapper's check at the start values, the Fortran's evaluations, the final call at the
returned point), the values, the result, ierr/msg, the warnings and errors; the objectives are
tests/optimizer_objectives.py (R's operations in R's order), so the paths agree to rounding
(TOL["optimizer_path"]).
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from helpers import FIXTURES, TOL
from optimizer_objectives import num, objective
from mixedcompat.numerics.powell_bobyqa import BOBYQA_MESSAGES, BobyqaError, BobyqaResult, minqa_bobyqa

CASES = json.loads((FIXTURES / "optimizers" / "bobyqa.json").read_text())["cases"]
BY_NAME = {c["name"]: c for c in CASES}
RESCUE = "rescue_ill_scaled"       # minqa's RESCUE evaluates an undefined vector: compared up to there


def _arguments(case: dict) -> dict:
    inp = case["input"]
    kw = dict(lower=num(inp["lower"]), upper=num(inp["upper"]))
    for name, value in (inp.get("control") or {}).items():
        v = float(num(value)[0])
        kw[name] = v if name in ("rhobeg", "rhoend") else int(v)
    return kw


def _run(case: dict) -> tuple[BobyqaResult, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = minqa_bobyqa(objective(case["objective"]), num(case["input"]["par"]), record=True, **_arguments(case))
    return res, [str(w.message) for w in caught]


def _assert_same_points(ours: np.ndarray, r: np.ndarray, what: str) -> None:
    assert ours.shape == r.shape, f"{what}: {ours.shape[0]} calls, R made {r.shape[0]}"
    close = np.isclose(ours, r, equal_nan=True, **TOL["optimizer_path"]) | (ours == r)
    if not close.all():
        i = int(np.flatnonzero(~close.all(axis=-1) if ours.ndim > 1 else ~close)[0])
        raise AssertionError(f"{what}: first differs at call {i + 1}: ours {ours[i]!r} vs R {r[i]!r}")


RUNS = [c for c in CASES if c["expected"].get("error") is None and c["name"] != RESCUE]
ERRORS = [c for c in CASES if c["expected"].get("error") is not None]


@pytest.mark.parametrize("case", RUNS, ids=[c["name"] for c in RUNS])
def test_path_is_minqa_s_call_by_call(case):
    res, _ = _run(case)
    exp = case["expected"]
    assert res.rescues == ()
    _assert_same_points(res.path, np.array([num(p) for p in exp["path"]]), f"{case['name']} points")
    _assert_same_points(res.values, num(exp["values"]), f"{case['name']} values")


@pytest.mark.parametrize("case", RUNS, ids=[c["name"] for c in RUNS])
def test_result_codes_messages_and_warnings_are_minqa_s(case):
    res, caught = _run(case)
    exp = case["expected"]
    assert (res.feval, res.ierr, res.msg) == (exp["feval"], exp["ierr"], exp["msg"])
    assert list(res.warnings) == exp["warnings"] == caught
    _assert_same_points(res.par[None, :], num(exp["par"])[None, :], "par")
    _assert_same_points(np.array([res.fval]), num(exp["fval"]), "fval")
    assert len(res.path) == res.feval + 2                   # minqa's check at the start + the final call


def test_every_minqa_code_that_occurs_is_covered():
    codes = {c["expected"]["ierr"] for c in RUNS}
    assert {0, 1, 3} <= codes
    assert {BOBYQA_MESSAGES[k] for k in codes} == {c["expected"]["msg"] for c in RUNS}


def test_rescue_follows_minqa_until_minqa_evaluates_an_undefined_vector():
    """minqa 1.2.5's RESCUE calls the objective at a vector it never sets (R's run then evaluates
    garbage: coordinates like 1e+72 and denormals, different from run to run).  Up to the first
    RESCUE the paths agree call by call; after it ours evaluates the points Powell intends and ends
    at least as low as minqa."""
    case = BY_NAME[RESCUE]
    res, _ = _run(case)
    exp = case["expected"]
    assert len(res.rescues) >= 1
    upto = 1 + res.rescues[0]                               # the start check + the evaluations before
    r_path = np.array([num(p) for p in exp["path"]])
    _assert_same_points(res.path[:upto], r_path[:upto], "before RESCUE")
    _assert_same_points(res.values[:upto], num(exp["values"])[:upto], "values before RESCUE")
    assert not np.allclose(r_path[upto], res.path[upto])    # minqa's undefined point
    assert res.ierr == 0 and res.fval <= float(num(exp["fval"])[0])


@pytest.mark.parametrize("case", ERRORS, ids=[c["name"] for c in ERRORS])
def test_arguments_minqa_refuses(case):
    with pytest.raises(BobyqaError, match=case["expected"]["error"].replace("$", r"\$")):
        minqa_bobyqa(objective(case["objective"]), num(case["input"]["par"]), **_arguments(case))


def test_defaults_are_minqa_s():
    res, _ = _run(BY_NAME["rosen3"])
    assert (res.npt, res.rhobeg, res.rhoend) == (5, 0.2 * 1.2, 1e-6 * (0.2 * 1.2))
    res, _ = _run(BY_NAME["quad1_glmer_theta"])              # glmer's one theta: n = 1, npt = 3
    assert (res.npt, res.rhobeg) == (3, 0.2)


def test_box_too_narrow_changes_rhobeg_with_minqa_s_warning():
    with pytest.warns(UserWarning, match=r"^All upper - lower must be >= 2\*rhobeg\. Changing rhobeg$"):
        res = minqa_bobyqa(lambda x: float(x[0] ** 2 + x[1] ** 2), [0.5, 1.0], lower=[0.4, -np.inf],
                           upper=[0.6, np.inf])
    assert res.rhobeg == pytest.approx(0.2 * 0.2, rel=1e-15) and res.ierr == 0


def test_evaluations_exhausted():
    with pytest.warns(UserWarning, match="maxfun < 10"):
        res = minqa_bobyqa(lambda x: float((x[0] - 1) ** 2 + 10 * (x[1] + x[0] ** 2) ** 2), [3.0, 1.0], maxfun=15)
    assert (res.ierr, res.msg, res.feval) == (1, "bobyqa -- maximum number of function evaluations exceeded", 15)


def test_non_finite_values_are_the_largest_double_inside_but_fval_is_fn_s():
    """minqa caps non-finite values inside the Fortran; the reported fval is a fresh, uncapped call."""
    seen = []

    def f(x):
        v = np.inf if x[0] > 0.9 else float((x[0] - 2) ** 2 + x[1] ** 2)
        seen.append(v)
        return v
    res = minqa_bobyqa(f, [0.5, 0.5])
    assert np.isinf(seen).any() and np.isfinite(res.fval)
    assert res.par[0] <= 0.9


def test_objective_must_return_one_number():
    with pytest.raises(BobyqaError, match="single numeric value"):
        minqa_bobyqa(lambda x: np.asarray(x), [1.0, 2.0])
