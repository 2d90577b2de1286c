"""R's ``nlminb`` (PORT, no gradient): mixedcompat.numerics.port_nlminb against R's fixtures
(tests/fixtures/gen_nlminb.R): R's path on smooth problems, its codes and messages, its handling of
bad controls, bounds and NaN values; and lmer(control={"optimizer": "nlminbwrap"})."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import TOL, fixture_paths, load_fixture

import mixedcompat as mc
from mixedcompat.lme4.modular import lFormula, mkLmerDevfun
from mixedcompat.numerics.port_nlminb import NLMINB_CONTROL_NAMES, nlminb, port_message

A3 = np.array([[4, 1, 0.5], [1, 3, 0.2], [0.5, 0.2, 2]])
B3 = np.array([1, -2, 3])
A4 = np.array([[7.5, 0.2, -8.1, 1.3], [0.2, 5.2, -0.8, 1.9], [-8.1, -0.8, 11.6, -2.5], [1.3, 1.9, -2.5, 2.2]])
B4 = np.array([-0.7, 2.9, -0.6, 0.1])
A5 = np.eye(5) + 0.3
B5 = np.array([1, -1, 2, -2, 0.5])


def rosen(p):
    return 100 * (p[1] - p[0] ** 2) ** 2 + (1 - p[0]) ** 2


def quad4loop(x):
    """gen_nlminb.R's quad4loop: sums accumulated left to right, as R's loop does."""
    ax = [0.0] * 4
    for i in range(4):
        s = 0.0
        for j in range(4):
            s += A4[i, j] * x[j]
        ax[i] = s
    s = 0.0
    for i in range(4):
        s = s + 0.5 * x[i] * ax[i] - B4[i] * x[i]
    return s


def _devfun(formula, data, reml):
    fn = mkLmerDevfun(lFormula(formula, mc.datasets.load(data), REML=reml))
    return lambda t: float(fn(np.asarray(t, dtype=float)))


PROBLEMS = {
    "rosen": rosen,
    "rosen_nan": lambda p: math.nan if p[0] > 0.5 else rosen(p),
    "quad4loop": quad4loop,
    "quad3": lambda x: 0.5 * float(x @ (A3 @ x)) - float(B3 @ x) + 10,
    "quad5": lambda x: 0.5 * float(x @ (A5 @ x)) - float(B5 @ x),
    "wood": lambda x: (100 * (x[0] ** 2 - x[1]) ** 2 + (x[0] - 1) ** 2 + (x[2] - 1) ** 2
                       + 90 * (x[2] ** 2 - x[3]) ** 2 + 10.1 * ((x[1] - 1) ** 2 + (x[3] - 1) ** 2)
                       + 19.8 * (x[1] - 1) * (x[3] - 1)),
}
DEVFUNS = {
    "lmer_sleepstudy": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True),
    "lmer_pastes_ml": ("strength ~ 1 + (1 | batch/cask)", "Pastes", False),
    "lmer_dyestuff2": ("Yield ~ 1 + (1 | Batch)", "Dyestuff2", True),
}
FIXTURES = {p.stem: load_fixture(p) for p in fixture_paths("nlminb")}


def _objective(problem):
    if problem in DEVFUNS:
        return _devfun(*DEVFUNS[problem])
    return PROBLEMS[problem]


def _bounds(fx):
    kw = {}
    if fx["lower"] is not None:
        kw["lower"] = [-math.inf if v is None else v for v in fx["lower"]]
    if fx["upper"] is not None:
        kw["upper"] = [math.inf if v is None else v for v in fx["upper"]]
    return kw


def _run(fx):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = nlminb(fx["start"], _objective(fx["problem"]), control=fx["control"], record_path=True,
                     **_bounds(fx))
    return res, [str(w.message) for w in caught]


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_nlminb_matches_r(name):
    """Criterion rule always; R's code, message, iteration and evaluation counts; R's warnings."""
    fx = FIXTURES[name]
    res, warns = _run(fx)
    assert res.message == fx["message"]
    assert res.convergence == fx["convergence"]
    assert res.iterations == fx["iterations"]
    assert [res.evaluations["function"], res.evaluations["gradient"]] == fx["evaluations"]
    assert warns == fx["warnings"]
    # our objective never above R's beyond the criterion rule
    assert res.objective <= fx["objective"] + TOL["criterion_above"]["rtol"] * max(1.0, abs(fx["objective"]))
    np.testing.assert_allclose(res.par, fx["par"], **TOL["nlminb_par"])


@pytest.mark.parametrize("name", sorted(n for n in FIXTURES if FIXTURES[n]["problem"] in ("rosen", "wood", "quad4loop")))
def test_nlminb_same_points_as_r(name):
    """On objectives computed by the same arithmetic in R and here, every evaluated point is R's
    (R's final, uncounted evaluation at the returned par included)."""
    fx = FIXTURES[name]
    res, _ = _run(fx)
    ours = [list(x) + [v] for x, v in res.path]
    assert len(ours) == len(fx["path"])
    r_path = np.array([[math.nan if v is None else v for v in pt] for pt in fx["path"]], dtype=float)
    np.testing.assert_allclose(np.array(ours, dtype=float), r_path, **TOL["nlminb_path"])


def test_port_messages():
    assert port_message(3) == "X-convergence (3)"
    assert port_message(8) == "false convergence (8)"
    assert port_message(9) == "function evaluation limit reached without convergence (9)"
    assert port_message(10) == "iteration limit reached without convergence (10)"


def test_nlminb_bad_input():
    with pytest.raises(mc.DataError, match="only the derivative-free case"):
        nlminb([1.0], rosen, gradient=lambda p: p)
    with pytest.raises(mc.DataError, match="'start' must be numeric"):
        nlminb(["a"], rosen)
    with pytest.raises(mc.DataError, match="nonempty"):
        nlminb([], rosen)
    with pytest.raises(mc.DataError, match="control 'eval.max' must be a number"):
        nlminb([1.0, 1.0], rosen, control={"eval.max": "many"})
    with pytest.raises(mc.DataError, match="named list"):
        nlminb([1.0, 1.0], rosen, control=[("eval.max", 3)])


def test_nlminb_partial_control_names_and_maxiter_alias():
    a = nlminb([-1.2, 1.0], rosen, control={"iter": 5})
    b = nlminb([-1.2, 1.0], rosen, control={"maxiter": 5})
    assert a.iterations == b.iterations == 5 and a.convergence == 1
    assert set(NLMINB_CONTROL_NAMES) >= {"eval.max", "iter.max", "rel.tol", "x.tol"}


def test_nlminbwrap_optimizer_in_lmer_unknown_optctrl():
    d = mc.datasets.load("sleepstudy")
    with pytest.raises(mc.DataError, match=r"unknown optCtrl setting\(s\) 'foo' for optimizer 'nlminbwrap'"):
        mc.lmer("Reaction ~ Days + (Days | Subject)", d,
                control={"optimizer": "nlminbwrap", "optCtrl": {"foo": 1}})


def test_nlminbwrap_optctrl_partial_names_as_nlminb():
    """lme4 hands optCtrl to nlminb, which pmatches the names: "iter" is iter.max."""
    d = mc.datasets.load("sleepstudy")
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", d, control={"optimizer": "nlminbwrap", "optCtrl": {"iter": 3}})
    assert m.optinfo["conv_code"] == 1
    assert m.optinfo["message"] == "iteration limit reached without convergence (10)"


def test_nlminbwrap_maxfun_is_eval_max():
    from mixedcompat.lme4.optimize import run_lme4_optimizer
    fn = _devfun(*DEVFUNS["lmer_sleepstudy"])
    run = run_lme4_optimizer("nlminbwrap", fn, np.array([1.0, 0.0, 1.0]), np.array([0.0, -np.inf, 0.0]),
                             {"maxfun": 10}, warn=False)
    assert run.conv == 1
    assert run.message == "function evaluation limit reached without convergence (9)"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_nlminb_prints_as_r(name, capsys):
    """control trace: PORT's iteration lines as R prints them (nothing printed otherwise)."""
    fx = FIXTURES[name]
    _run(fx)
    assert capsys.readouterr().out.rstrip("\n") == fx["text"]
