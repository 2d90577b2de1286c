"""lme4's convergence diagnostics, its data-based start and our polishing restart, against R.

Fixtures: tests/fixtures/convergence/*.json from tests/fixtures/gen_convergence.R.  Three kinds of
case:

* **same point**: our optimiser stops where lme4's does (theta within ``SAME_POINT``): then the
  derivatives, lme4's checkConv messages, the warnings and the printed summary are lme4's;
* **lme4 stops early** (``rescaled`` in the fixture: a covariate in tiny or huge units): ours must
  reach the scale-invariant optimum, R's criterion of the same model with the covariate in sane
  units, and never be above lme4's; the warnings are then lme4's checks at *our* point;
* **degenerate** (a response without residual variation): the criterion is unbounded below, so only
  the warnings are compared.
"""
from __future__ import annotations

import pathlib
import re
import warnings

import numpy as np
import pytest

import mixedcompat as mc
from helpers import FIXTURES, TOL, assert_close, assert_same_printout, load_fixture, load_fixture_data
from test_lmer_fixtures import _same_lines   # one rule for rounding ties in printed numbers
from mixedcompat.lme4.convergence import (Derivs, check_conv, check_hessian, deriv12, deriv_points,
                                     make_cc, newton_decrease)

CONV_DIR = FIXTURES / "convergence"
PATHS = sorted(CONV_DIR.glob("*.json"))
IDS = [p.stem for p in PATHS]
SAME_POINT = TOL["theta_same_path"]["atol"]   # theta this close to R's: the same optimum, compared as such
DEGENERATE = {"constant_response", "start_between_only"}


def _data(stem: str):
    return load_fixture_data(stem, CONV_DIR)


_CACHE: dict = {}


def _fit(path: pathlib.Path, **control):
    key = (str(path), tuple(sorted(control.items())))
    if key not in _CACHE:
        fx = load_fixture(path)
        inp = fx["input"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = mc.lmer(inp["formula"], _data(inp["data"]), REML=inp["REML"], offset=inp.get("offset"),
                        control=dict(inp["control"] or {}, **control) or None)
        _CACHE[key] = (fx, m, [w for w in caught if not issubclass(w.category, RuntimeWarning)])
    return _CACHE[key]


def _same_point(fx: dict, m) -> bool:
    return float(np.max(np.abs(m.theta - np.asarray(fx["expected"]["theta"])))) <= SAME_POINT


# ------------------------------------------------------------------------ lme4's start (item 5)
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_start_theta_is_lme4s(path):
    fx, m0, _ = _fit(path, optimizer=None, calc_derivs=False)
    e = fx["expected"]
    assert_close(m0.theta, e["start_theta"], "start theta", **TOL["start_theta_fixture"])
    if fx["name"] not in DEGENERATE:
        assert_close(m0.REMLcrit(), e["start_criterion"], "criterion at the start", **TOL["objective_at"])


def test_dyestuff_start_without_parentheses_spelled_out():
    m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"), control={"optimizer": None})
    assert round(float(m.theta[0]), 7) == 0.9787605


@pytest.mark.parametrize("path", [p for p in PATHS if p.stem.startswith("start_")],
                         ids=[p.stem for p in PATHS if p.stem.startswith("start_")])
def test_same_evaluations_as_lme4_from_its_start(path):
    """From lme4's start, BOBYQA takes lme4's path: the same number of evaluations (where neither
    the fit is flagged by checkConv, which would start our polishing restart)."""
    fx, m, _ = _fit(path)
    e = fx["expected"]
    if e["conv_messages"] or fx["name"] in DEGENERATE:
        pytest.skip("lme4's checkConv flags this fit: ours restarts (see test_criterion_not_above_lme4)")
    # the path's last steps, where the criterion changes in its last bits, are decided by rounding
    # (numpy 1.23's BLAS takes 37 evaluations on start_pastes_nested where lme4 and numpy 2.4 take 36):
    # one evaluation either way is that noise; a different start or path costs many more
    assert abs(m.optinfo["feval"] - e["feval"]) <= 1, (m.optinfo["feval"], e["feval"])


# ------------------------------------------------------------------------ the optimum (item 1, 4)
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_criterion_not_above_lme4(path):
    fx, m, _ = _fit(path)
    if fx["name"] in DEGENERATE:
        pytest.skip("the criterion is unbounded below: no optimum to compare")
    e = fx["expected"]
    gap = (m.REMLcrit() - e["criterion"]) / abs(e["criterion"])
    print(f"{fx['name']}: relative gap to lme4 {gap:.3g}")
    assert gap <= TOL["criterion_above"]["rtol"]
    if fx.get("rescaled"):
        # lme4 stops early on the badly scaled model; ours reaches the scale-invariant optimum
        assert_close(m.REMLcrit(), fx["rescaled"]["criterion"], "the rescaled model's criterion",
                     **TOL["criterion"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_boundary_values_are_exact(path):
    """Where lme4's theta is exactly on its bound, ours is too (not ~1e-9, which would print in
    scientific notation where lme4 prints 0.0000), and the singular verdict is lme4's."""
    fx, m, _ = _fit(path)
    e = fx["expected"]
    if fx["name"] in DEGENERATE or fx.get("rescaled"):
        pytest.skip("lme4 stops elsewhere")
    lower = m.getME("lower")
    r_theta = np.asarray(e["theta"], dtype=float)
    on_bound = (lower == 0) & (r_theta == 0)
    assert np.all(m.theta[on_bound] == 0), m.theta
    assert m.isSingular() == e["isSingular"]


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_polish_always_is_never_worse(path):
    fx, m, _ = _fit(path)
    if fx["name"] in DEGENERATE:
        pytest.skip("the criterion is unbounded below")
    _, m2, _ = _fit(path, polish="always")
    assert m2.REMLcrit() <= m.REMLcrit() + TOL["polish_not_worse"]["rtol"] * abs(m.REMLcrit())


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_where_lme4_stopped_is_reported(path):
    """When ours went below lme4's stopping point, optinfo["lme4_stop"] holds lme4's messages there."""
    fx, m, _ = _fit(path)
    if not fx.get("rescaled"):
        pytest.skip("lme4 does not stop early here")
    stop = m.optinfo["lme4_stop"]
    assert stop["criterion"] > m.REMLcrit()
    e = fx["expected"]
    # lme4's stop is on a flat, badly scaled criterion (its exact point moves with the BLAS): the
    # kind of message is compared, not its numbers
    kinds = lambda msgs: {re.sub(r"[-0-9.e+]+", "#", s) for s in msgs}  # noqa: E731
    if abs(stop["criterion"] - e["criterion"]) < TOL["lme4_stop_same"]["rtol"] * abs(e["criterion"]):
        assert kinds(stop["messages"]) == kinds(e["conv_messages"])


def test_polish_false_is_lme4s_path():
    d = mc.datasets.load("sleepstudy").assign(Dk=lambda d: d["Days"] * 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = mc.lmer("Reaction ~ Dk + (Dk | Subject)", d, REML=False, control={"polish": False})
        ours = mc.lmer("Reaction ~ Dk + (Dk | Subject)", d, REML=False)
    assert not plain.optinfo["polished"] and ours.optinfo["polished"]
    assert ours.deviance() < plain.deviance() - 1.0


# ------------------------------------------------------------------------ checkConv (item 2)
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_derivs_are_lme4s(path):
    """lme4's deriv12 at R's theta: our gradient and Hessian equal R's (finite differences of the
    criterion with step 1e-4: rounding in the criterion is amplified 1e4 / 1e8 times)."""
    fx, m, _ = _fit(path)
    e = fx["expected"]
    if e["derivs"] is None or fx["name"] in DEGENERATE:
        pytest.skip("no derivatives in R's fit")
    theta = np.asarray(e["theta"], dtype=float)
    d = deriv12(m.devfun, theta)
    H = np.asarray(e["Hessian"] if "Hessian" in e else e["derivs"]["Hessian"], dtype=float)
    scale = abs(m.devfun(theta))
    tg, th = TOL["derivs_gradient"], TOL["derivs_hessian"]
    assert_close(d.gradient, e["derivs"]["gradient"], "gradient", rtol=tg["rtol"], atol=tg["atol"] * scale * 1e4)
    assert_close(d.Hessian, H, "Hessian", rtol=th["rtol"], atol=th["atol"] * scale * 1e8)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_checkconv_messages(path):
    """At lme4's own point, lme4's messages word for word; elsewhere, lme4's checks at our optimum
    (tested for their wording: the same kinds of message as lme4 where the point is alike)."""
    fx, m, _ = _fit(path)
    e = fx["expected"]
    ours = [s for s in m.optinfo["messages"]]
    lme4conv = m.optinfo["conv"]["lme4"]
    if _same_point(fx, m) or fx["name"] in ("constant_response",):
        _same_messages(ours, e["conv_messages"], "checkConv messages")
        _same_messages((lme4conv or {}).get("messages", []), e["conv_messages"], "optinfo conv lme4")
        code = (lme4conv or {}).get("code")
        assert (None if code is None else list(np.atleast_1d(code))) == e["conv_code"]
    for msg in ours:
        assert re.fullmatch(r"Model failed to converge with max\|grad\| = [-0-9.e+]+ \(tol = 0\.002, "
                            r"component 1\)|Model is nearly unidentifiable: (very large eigenvalue|large "
                            r"eigenvalue ratio)\n - Rescale variables\?|unable to evaluate scaled gradient|"
                            r"Model failed to converge: degenerate  Hessian with \d+ negative eigenvalues|"
                            r"Problem with Hessian check \(infinite or missing values\?\)|"
                            r"boundary \(singular\) fit: see help\('isSingular'\)", msg), msg


def _same_messages(ours: list[str], theirs: list[str], what: str) -> None:
    """lme4's messages word for word; the numbers in them (max|grad| from finite differences with
    step 1e-4, which amplify the criterion's last-bit rounding ~1e4 times) at the derivative tolerance."""
    assert len(ours) == len(theirs), f"{what}: {ours!r} vs R {theirs!r}"
    for a, b in zip(ours, theirs):
        assert_same_printout(a, b, what, rel=TOL["derivs_gradient"]["rtol"])


def _warning_class(text: str) -> str:
    if "very different scales" in text:
        return "scale"
    if "singular" in text:
        return "singular"
    if "convergence code" in text:
        return "optimizer"
    return "convergence"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_warnings_as_lme4(path):
    fx, m, caught = _fit(path)
    e = fx["expected"]
    ours = [str(w.message) for w in caught]
    r_all = list(e["warnings"]) + list(e["messages"])
    if _same_point(fx, m) or fx["name"] == "constant_response":
        _same_messages(ours, r_all, "warnings")
    else:
        # lme4 warns about its own (worse) stopping point; the scale warning is the data's
        assert ("scale" in map(_warning_class, ours)) == ("scale" in map(_warning_class, r_all))
        if not fx.get("rescaled"):       # lme4's singular verdict there is about its early stop
            assert ("singular" in map(_warning_class, ours)) == ("singular" in map(_warning_class, r_all))
    classes = {mc.ScaleWarning: "scale", mc.SingularFitWarning: "singular"}
    for w in caught:
        if w.category in classes:
            assert _warning_class(str(w.message)) == classes[w.category]
        else:
            assert issubclass(w.category, mc.ConvergenceWarning), w.category


def _without_control_line(text: str) -> str:
    # R prints the call's control= argument ("Control: lmerControl(...)"); a Python dict has no R text
    return "\n".join(line for line in text.split("\n") if not line.startswith("Control: "))


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_printed_summary_and_print(path):
    """lme4's "fit warnings:" block and convergence lines, where and when lme4 prints them."""
    fx, m, _ = _fit(path)
    if not _same_point(fx, m):
        pytest.skip("ours stops at a different point than lme4")
    e = fx["expected"]
    for ours, theirs, what in ((str(mc.summary(m)), e["summary_text"], "summary"),
                               (str(m), e["print_text"], "print")):
        _same_lines(ours, _without_control_line(theirs), f"{fx['name']} {what}")
    assert m.optinfo["fit_warnings"] == e["fit_msgs"]


# ------------------------------------------------------------------------ building blocks
def test_deriv12_central_differences():
    f = lambda t: float(np.exp(t[0]) * t[1] ** 3 + t[0] * t[1])  # noqa: E731
    x = np.array([0.3, 1.2])
    d = deriv12(f, x)
    g = [np.exp(0.3) * 1.2 ** 3 + 1.2, 3 * np.exp(0.3) * 1.2 ** 2 + 0.3]
    H = [[np.exp(0.3) * 1.2 ** 3, 3 * np.exp(0.3) * 1.2 ** 2 + 1], [3 * np.exp(0.3) * 1.2 ** 2 + 1, 6 * np.exp(0.3) * 1.2]]
    assert_close(d.gradient, g, "gradient", **TOL["deriv12_gradient"])
    assert_close(d.Hessian, H, "Hessian", **TOL["deriv12_hessian"])
    assert deriv_points(x).shape == (8, 2)


def test_batched_criteria_equal_the_criterion():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    pts = deriv_points(m.theta, 0.05)
    assert_close(m.devfun.criteria(pts), [m.devfun(t) for t in pts], "batched criteria",
                 **TOL["batched_criteria_derivs"])
    d = m.optinfo["derivs"]
    slow = deriv12(m.devfun, m.theta)
    assert_close(d["gradient"], slow.gradient, "gradient", **TOL["derivs_batched"])


def test_check_hessian_wording():
    assert check_hessian(np.diag([1.0, 2.0]), 1e-6) == ([0], [])
    assert check_hessian(np.diag([1e7, 2.0]), 1e-6)[1] == [
        "Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?",
        "Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?"]
    assert check_hessian(np.diag([1.0, 0.0]), 1e-6)[1] == [
        " Hessian is numerically singular: parameters are not uniquely determined"]
    assert check_hessian(np.array([[1.0, np.nan], [np.nan, 1.0]]), 1e-6)[0] == [-6]


def test_checkconv_skips_singular_fits_and_respects_tolerances():
    big = Derivs(np.array([1.0, 1.0]), np.eye(2))
    r = check_conv(big, np.array([0.0, 0.5]), np.array([0.0, -np.inf]))
    assert r.singular and r.messages == ("boundary (singular) fit: see help('isSingular')",)
    r = check_conv(big, np.array([0.5, 0.5]), np.array([0.0, -np.inf]))
    assert r.code == -1 and r.messages[0].startswith("Model failed to converge with max|grad| = 1 ")
    r = check_conv(big, np.array([0.5, 0.5]), np.array([0.0, -np.inf]),
                   {"check_conv_grad": make_cc("warning", tol=2.0)})
    assert r.messages == ()
    r = check_conv(big, np.array([0.5, 0.5]), np.array([0.0, -np.inf]),
                   {"check_conv_grad": make_cc("warning", tol=2.0, relTol=0.1)})
    assert r.code == -2 and "max|relative grad| = 2 (tol = 0.1)" in r.messages[0]
    assert check_conv(None, np.array([0.5]), np.array([0.0])) is None
    assert newton_decrease(Derivs(np.array([1.0]), np.array([[-1.0]]))) == np.inf


@pytest.fixture(scope="module")
def small():
    return mc.datasets.load("sleepstudy").assign(Dk=lambda d: d["Days"] * 1e3)


def test_conv_check_actions(small):
    f = "Reaction ~ Dk + (Dk | Subject)"
    kw = dict(REML=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mc.lmer(f, small, control={"check.conv.grad": "ignore", "check.conv.hess": "ignore",
                                   "check.scaleX": "ignore"}, **kw)
    assert not caught
    with pytest.raises(mc.ConvergenceError, match="max\\|grad\\|"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mc.lmer(f, small, control={"check_conv_grad": "stop"}, **kw)
    with pytest.raises(mc.DataError, match="very different scales"):
        mc.lmer(f, small, control={"check_scaleX": "stop"}, **kw)
    with pytest.raises(mc.DataError, match="invalid control level 'message' in check.conv.grad"):
        mc.lmer(f, small, control={"check_conv_grad": "message"}, **kw)
    with pytest.raises(mc.DataError, match="unknown control"):
        mc.lmer(f, small, control={"check.conv.gradient": "ignore"}, **kw)


def test_calc_derivs_false_skips_the_checks(small):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = mc.lmer("Reaction ~ Dk + (Dk | Subject)", small, REML=False, control={"calc.derivs": False})
    assert m.optinfo.get("derivs") is None and (m.optinfo.get("conv") or {}).get("lme4") is None
    assert [w.category for w in caught] == [mc.ScaleWarning]


def test_singular_check_settings():
    d = mc.datasets.load("Dyestuff2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = mc.lmer("Yield ~ 1 + (1 | Batch)", d, control={"check.conv.singular": "ignore"})
    assert not caught and m.optinfo["messages"] == []
    with pytest.raises(mc.ConvergenceError, match="singular"):
        mc.lmer("Yield ~ 1 + (1 | Batch)", d, control={"check_conv_singular": make_cc("stop", tol=1e-4)})


def test_data_checks_have_lme4s_actions():
    d = mc.datasets.load("sleepstudy")
    d1 = d.assign(one="a")
    with pytest.warns(mc.IdentifiabilityWarning, match="> 1 sampled level"):
        try:
            mc.lmer("Reaction ~ Days + (1 | Subject) + (1 | one)", d1, control={"check.nlev.gtr.1": "warning"})
        except Exception:
            pass   # the fit itself may fail on a one-level factor: the check's action is what is tested
    with pytest.warns(mc.IdentifiabilityWarning, match="< 5 sampled levels"):
        mc.lmer("Reaction ~ Days + (1 | g)", d.assign(g=np.arange(180) % 3),
                control={"check_nlev_gtreq_5": "warning"})
    small = d[d["Days"] <= 1]
    with pytest.warns(mc.IdentifiabilityWarning, match=r"number of observations \(=36\) <= number of random effects"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=mc.ConvergenceWarning)
            warnings.filterwarnings("ignore", category=mc.SingularFitWarning)
            mc.lmer("Reaction ~ Days + (Days | Subject)", small, control={"check.nobs.vs.nRE": "warning"})
    with pytest.warns(mc.IdentifiabilityWarning, match=r"<= rank\(Z\)"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=mc.ConvergenceWarning)
            warnings.filterwarnings("ignore", category=mc.SingularFitWarning)
            mc.lmer("Reaction ~ Days + (Days | Subject)", small,
                    control={"check.nobs.vs.nRE": "ignore", "check.nobs.vs.rankZ": "warning"})
    with pytest.raises(mc.DataError, match="column rank deficient"):
        mc.lmer("Reaction ~ Days + I(2 * Days) + (1 | Subject)", d, control={"check.rankX": "stop.deficient"})
