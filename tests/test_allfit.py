"""lme4's optimizers by name (``control={"optimizer": ..., "optCtrl": ...}``), ``allFit`` and
``summary(allFit)`` against lme4 1.1-31 (fixtures from tests/fixtures/gen_allfit.R).

Each refit follows R's path when our evaluations agree with R's to the last bits: then theta, the
evaluations, the code and the message are R's.  Where a path parts (rounding on a flat criterion,
or optimx's L-BFGS-B, which is scipy's version 3.0 against R's 2.3) the criterion rule holds (ours
at most R's + TOL["criterion_above"]) and the rows of that optimizer are not compared digit by digit.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import mixedcompat as mc
from mixedcompat.lme4.allfit import METH_TAB
from mixedcompat.lme4.optimize import AVAILABLE_OPTIMIZERS, NLOPT_ALGORITHMS, UNAVAILABLE_OPTIMIZERS
from helpers import (FIXTURES, TOL, assert_close, assert_same_printout, check_criterion, fit_bundled, fit_criterion,
                     fixture_paths, load_fixture, theta_parted)

ALLFIT = [p for p in fixture_paths("allfit") if p.stem.startswith("allfit_")]
OPTIMIZER = [p for p in fixture_paths("allfit") if p.stem.startswith("optimizer_")]


def _fit(inp: dict, control: dict | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_bundled(inp, control)


def _optimizer_name(m) -> str:
    name = m.optinfo["optimizer"]
    return name[-1] if isinstance(name, (list, tuple)) else name


def _conv(m) -> int:
    conv = m.optinfo.get("conv") or {}
    return int(conv.get("opt", m.optinfo.get("conv_code", 0)))


# ------------------------------------------------------------------------ one optimizer at a time
@pytest.mark.parametrize("path", OPTIMIZER, ids=[p.stem for p in OPTIMIZER])
def test_optimizer_by_name_reaches_r(path):
    fx = load_fixture(path)
    inp = fx["input"]
    ctl = {"optimizer": inp["control"]["optimizer"], "optCtrl": dict(inp["control"]["optCtrl"] or {})}
    m = _fit(inp, ctl)
    assert _optimizer_name(m) == inp["control"]["optimizer"]
    check_criterion(fit_criterion(m), fx["criterion"], path.stem)
    assert _conv(m) == fx["conv"]
    if not theta_parted(m.theta, fx["theta"]):
        # R's path: the same evaluations (one either way: where the criterion changes in its last
        # bits the final steps are decided by rounding, as tests/test_convergence.py finds for
        # nloptwrap), message and optimizer warnings
        if not m.optinfo.get("polished"):
            assert abs(m.optinfo["feval"] - fx["feval"]) <= 1, (m.optinfo["feval"], fx["feval"])
        assert m.optinfo["message"] == fx["message"]
        assert list(m.optinfo["warnings"]) == list(fx["warnings"])
    else:
        print(f"{path.stem}: theta parted from R's path; criterion compared only")


@pytest.mark.parametrize("path", [p for p in OPTIMIZER if "maxfun20" in p.stem],
                         ids=[p.stem for p in OPTIMIZER if "maxfun20" in p.stem])
def test_budget_used_up_prints_as_lme4(path):
    """A run stopped by its budget: lme4's code, message, warnings and the lines summary() and
    print() end with ("optimizer (bobyqa) convergence code: 1 (bobyqa -- maximum number ...)")."""
    fx = load_fixture(path)
    inp = fx["input"]
    m = _fit(inp, {"optimizer": inp["control"]["optimizer"], "optCtrl": dict(inp["control"]["optCtrl"] or {})})
    assert not theta_parted(m.theta, fx["theta"])
    assert (m.optinfo["feval"], _conv(m), m.optinfo["message"]) == (fx["feval"], fx["conv"], fx["message"])
    assert list(m.optinfo["warnings"]) == list(fx["warnings"])
    r_summary = fx["text_summary"].splitlines()
    tail = r_summary[next(i for i, s in enumerate(r_summary) if s.startswith("optimizer (")):]
    ours = str(m.summary()).splitlines()
    start = next(i for i, s in enumerate(ours) if s.startswith("optimizer ("))
    assert ours[start:start + len(tail)] == tail
    r_print = [s for s in fx["text_print"].splitlines() if s.startswith("optimizer (")]
    assert [s for s in str(m).splitlines() if s.startswith("optimizer (")] == r_print


@pytest.mark.parametrize("path", [p for p in OPTIMIZER if p.stem.startswith("optimizer_dyestuff2_")],
                         ids=[p.stem for p in OPTIMIZER if p.stem.startswith("optimizer_dyestuff2_")])
def test_singular_fit_prints_optimizer_line_as_lme4(path):
    """A singular fit: lme4's "optimizer (<name>) convergence code: 0 (OK)" line and its message."""
    fx = load_fixture(path)
    inp = fx["input"]
    m = _fit(inp, {"optimizer": inp["control"]["optimizer"], "optCtrl": dict(inp["control"]["optCtrl"] or {})})
    r_lines = fx["text_summary"].splitlines()
    i = next(k for k, s in enumerate(r_lines) if s.startswith("optimizer ("))
    ours = str(m.summary()).splitlines()
    j = next(k for k, s in enumerate(ours) if s.startswith("optimizer ("))
    assert ours[j:j + 2] == r_lines[i:i + 2]
    assert [s for s in str(m).splitlines() if s.startswith("optimizer (")] == \
        [s for s in fx["text_print"].splitlines() if s.startswith("optimizer (")]


# ------------------------------------------------------------------------ allFit
def _allfit(fx, meth_tab=None):
    m = _fit(fx["input"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m, mc.allFit(m, meth_tab=meth_tab, progress=False)


@pytest.mark.parametrize("path", ALLFIT, ids=[p.stem for p in ALLFIT])
def test_allfit_each_optimizer_as_r(path):
    fx = load_fixture(path)
    m, a = _allfit(fx)
    r_fits = {f["name"]: f for f in fx["fits"]}
    ran = [n for n in r_fits if n in a]
    assert ran == list(a), "allFit runs lme4's optimizers in lme4's order, less the unavailable ones"
    assert {"nlminbwrap", "nmkbw"} <= set(a) and set(r_fits) - set(a) == set(UNAVAILABLE_OPTIMIZERS)
    for name in ran:
        f, ours = r_fits[name], a[name]
        assert f["ok"] and not isinstance(ours, BaseException), (name, ours)
        check_criterion(fit_criterion(ours), f["criterion"], f"{path.stem} {name}")
        if name == "nmkbw" and ours.optinfo.get("polished"):
            # our polishing restart went below nmkb's stop (tol 1e-6 on the values): R's path is
            # compared where nmkb stopped
            assert not theta_parted(ours.optinfo["lme4_stop"]["theta"], f["theta"]) or \
                ours.optinfo["lme4_stop"]["criterion"] <= f["criterion"] * (1 + TOL["criterion_above"]["rtol"])
            continue
        if not theta_parted(ours.theta, f["theta"]):
            assert_close(ours.fixef().to_numpy(), f["beta"], f"{name} fixef", **TOL["allfit_fixef"])
            assert _conv(ours) == f["conv"] and ours.optinfo["message"] == f["message"], name


@pytest.mark.parametrize("path", ALLFIT, ids=[p.stem for p in ALLFIT])
def test_allfit_summary_as_r(path):
    fx = load_fixture(path)
    m, a = _allfit(fx)
    s = a.summary()
    e = fx["summary"]
    names = list(a)
    assert list(s.which_OK.index) == names and s.which_OK.all()
    assert list(s.fixef.columns) == e["fixef"]["colnames"]
    assert list(s.sdcor.columns) == e["sdcor"]["colnames"]
    assert list(s.theta.columns) == e["theta"]["colnames"]
    assert list(s.times.columns) == ["user.self", "sys.self", "elapsed", "user.child", "sys.child"]
    r_rows = {k: i for i, k in enumerate(e["fixef"]["rownames"])}
    r_fits = {f["name"]: f for f in fx["fits"]}
    for name in names:
        i = r_rows[name]
        assert_close(s.llik[name], e["llik"][name], f"{name} llik", **TOL["logLik"])
        assert (s.msgs[name] or []) == r_fits[name]["lme4_messages"] or theta_parted(a[name].theta,
                                                                                     r_fits[name]["theta"])
        if not theta_parted(a[name].theta, r_fits[name]["theta"]):
            assert_close(s.fixef.loc[name].to_numpy(), e["fixef"]["values"][i], f"{name} fixef", **TOL["allfit_fixef"])
            assert_close(s.sdcor.loc[name].to_numpy(), e["sdcor"]["values"][i], f"{name} sdcor", **TOL["allfit_sdcor"])
            assert_close(s.theta.loc[name].to_numpy(), e["theta"]["values"][i], f"{name} theta",
                         **TOL["theta_same_path"])


def _blocks(text: str) -> dict[str, list[str]]:
    out, key = {}, None
    for line in text.splitlines():
        if re.match(r"^\$[A-Za-z.`]", line) and not line.startswith("$msgs$"):
            key = line
            out[key] = []
        elif key is not None:
            out[key].append(line)
    return out


@pytest.mark.parametrize("path", ALLFIT, ids=[p.stem for p in ALLFIT])
def test_allfit_summary_prints_as_r(path):
    """R's print of summary(allFit) (lme4's list print), block by block; timings are not compared,
    nor the rows of an optimizer whose path parted from R's (their numbers differ in late digits)."""
    fx = load_fixture(path)
    m, a = _allfit(fx)
    ours, theirs = _blocks(str(a.summary())), _blocks(fx["text_summary"])
    assert list(ours) == list(theirs)
    r_fits = {f["name"]: f for f in fx["fits"]}
    parted = [n for n in a if theta_parted(a[n].theta, r_fits[n]["theta"])]
    for key in theirs:
        if key == "$times":
            assert len(ours[key]) == len(theirs[key])
            continue
        if key == "$feval":
            # the names exactly; the evaluations one either way (see test_optimizer_by_name_reaches_r)
            o_b, t_b = ours[key][:ours[key].index("")], theirs[key][:theirs[key].index("")]
            assert ours[key][len(o_b):] == theirs[key][len(t_b):]
            assert o_b[0::2] == t_b[0::2]
            o_n = [np.nan if v == "NA" else float(v) for line in o_b[1::2] for v in line.split()]
            t_n = [np.nan if v == "NA" else float(v) for line in t_b[1::2] for v in line.split()]
            assert len(o_n) == len(t_n)
            for n, vo, vt in zip(a, o_n, t_n):
                assert np.isnan(vo) == np.isnan(vt), (n, vo, vt)      # nlminbwrap: lme4 keeps no count
                if np.isnan(vt):
                    continue
                if not (theta_parted(a[n].theta, r_fits[n]["theta"]) or a[n].optinfo.get("polished")):
                    assert abs(vo - vt) <= 1, (n, vo, vt)
            continue
        o = [s for s in ours[key] if not any(s.startswith(n + " ") for n in parted)]
        t = [s for s in theirs[key] if not any(s.startswith(n + " ") for n in parted)]
        if parted and key in ("$llik", "$feval"):
            assert len(o) == len(t)
            continue
        # the optimum's numbers as printed: the last digit may turn with the platform's rounding (a number
        # on the same path is within allfit_sdcor of R's)
        assert_same_printout("\n".join(o), "\n".join(t), key, rel=TOL["allfit_sdcor"]["rtol"])
    lines = str(a).splitlines()
    r_lines = fx["text_print"].splitlines()
    assert lines[:-1] == r_lines[:-1]
    assert re.fullmatch(r"max= \S+ ; std dev= \S+ ", lines[-1])
    ours_max = float(lines[-1].split()[1])
    assert ours_max < 1e-4 and float(r_lines[-1].split()[1]) < 1e-4


def test_allfit_runs_every_lme4_optimizer():
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)        # nothing dropped: every optimizer of lme4's runs
        a = mc.allFit(m, progress=False)
    assert list(a) == ["bobyqa", "Nelder_Mead", "nlminbwrap", "nmkbw", "optimx.L-BFGS-B",
                       "nloptwrap.NLOPT_LN_NELDERMEAD", "nloptwrap.NLOPT_LN_BOBYQA"]
    tab = mc.allFit(m, show_meth_tab=True)
    assert [tuple(r) for r in tab.itertuples(index=False)] == list(METH_TAB)


def test_allfit_explicit_unavailable_optimizer_is_a_failed_fit(monkeypatch):
    """An optimizer we could not run (none today: one is marked unavailable here) is dropped from the
    default table with a warning, and named in meth_tab it is a failed refit (lme4's catch.errs)."""
    monkeypatch.setitem(UNAVAILABLE_OPTIMIZERS, "nmkbw", "marked unavailable by the test")
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    with pytest.warns(UserWarning, match=r"'nmkbw' dropped \(marked unavailable by the test\)"):
        assert "nmkbw" not in mc.allFit(m, progress=False)
    a = mc.allFit(m, meth_tab=[("bobyqa", ""), ("nmkbw", "")], progress=False)
    assert isinstance(a["nmkbw"], mc.DataError) and "marked unavailable" in str(a["nmkbw"])
    s = a.summary()
    assert s.which_OK.tolist() == [True, False] and list(s.fixef.index) == ["bobyqa"]
    assert "1 optimizer(s) failed" in str(a)
    with pytest.raises(mc.DataError, match="marked unavailable"):
        mc.allFit(m, meth_tab=[("nmkbw", "")], catch_errs=False, progress=False)


def test_allfit_nlminbwrap_feval_is_na_as_lme4():
    """lme4's nlminbwrap returns no evaluation count: allFit's summary has NA for it."""
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    s = mc.allFit(m, meth_tab=[("bobyqa", ""), ("nlminbwrap", "")], progress=False).summary()
    assert np.isnan(s.feval["nlminbwrap"]) and s.feval["bobyqa"] > 0


def test_allfit_parallel_gives_the_same_fits():
    m = mc.lmer("strength ~ 1 + (1 | batch/cask)", mc.datasets.load("Pastes"), REML=False)
    tab = [("bobyqa", ""), ("Nelder_Mead", "")]
    a = mc.allFit(m, meth_tab=tab, progress=False)
    b = mc.allFit(m, meth_tab=tab, parallel="multicore", ncpus=2, progress=False)
    for k in a:
        assert a[k].theta.tobytes() == b[k].theta.tobytes()


def test_allfit_verbose_prints_each_fit(capsys):
    m = mc.lmer("strength ~ 1 + (1 | batch/cask)", mc.datasets.load("Pastes"), REML=False)
    mc.allFit(m, meth_tab=[("bobyqa", ""), ("nloptwrap", "NLOPT_LN_BOBYQA")], verbose=True, progress=False)
    assert capsys.readouterr().out.splitlines() == ["bobyqa : [OK]", "nloptwrap.NLOPT_LN_BOBYQA : [OK]"]


# ------------------------------------------------------------------------ bad input
ERRORS = load_fixture(FIXTURES / "allfit" / "errors.json")["errors"]


def _sleep():
    return mc.datasets.load("sleepstudy")


def test_unknown_optimizer_names_the_valid_ones():
    with pytest.raises(mc.DataError) as exc:
        mc.lmer("Reaction ~ Days + (Days | Subject)", _sleep(), control={"optimizer": "foo"})
    msg = str(exc.value)
    assert msg.startswith(ERRORS["unknown_optimizer"])
    for name in AVAILABLE_OPTIMIZERS:
        assert repr(name) in msg


@pytest.mark.parametrize("name", ["nlminbwrap", "nmkbw"])
def test_unavailable_lme4_optimizer_is_refused_not_replaced(name, monkeypatch):
    monkeypatch.setitem(UNAVAILABLE_OPTIMIZERS, name, "marked unavailable by the test")
    with pytest.raises(mc.DataError, match=f"optimizer '{name}' is not available: .*; available: 'nloptwrap'"):
        mc.lmer("Reaction ~ Days + (Days | Subject)", _sleep(), control={"optimizer": name})


def test_optimx_needs_a_method_as_in_r():
    with pytest.raises(mc.DataError, match=re.escape(ERRORS["optimx_without_method"])):
        mc.lmer("Reaction ~ Days + (Days | Subject)", _sleep(), control={"optimizer": "optimx"})
    with pytest.raises(mc.DataError, match="optimx method 'nlminb' is not available"):
        mc.lmer("Reaction ~ Days + (Days | Subject)", _sleep(),
                control={"optimizer": "optimx", "optCtrl": {"method": "nlminb"}})


def test_nlopt_gradient_algorithm_refused():
    assert "gradient" in ERRORS["nlopt_gradient_algorithm"]
    with pytest.raises(mc.DataError, match="NLOPT_LD_LBFGS.*lme4 gives NLopt no gradient"):
        mc.lmer("Reaction ~ Days + (Days | Subject)", _sleep(),
                control={"optimizer": "nloptwrap", "optCtrl": {"algorithm": "NLOPT_LD_LBFGS"}})


def test_unknown_optctrl_setting_named():
    with pytest.raises(mc.DataError, match="unknown optCtrl setting.*'rhobegin'.*'bobyqa'"):
        mc.lmer("Reaction ~ Days + (Days | Subject)", _sleep(),
                control={"optimizer": "bobyqa", "optCtrl": {"rhobegin": 0.1}})
    with pytest.raises(mc.DataError, match="optCtrl"):
        mc.lmer("Reaction ~ Days + (Days | Subject)", _sleep(), control={"optCtrl": 3})


def test_glmer_refuses_unknown_optimizer():
    with pytest.raises(mc.DataError, match="couldn't find optimizer function foo"):
        mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mc.datasets.load("cbpp"),
                 family="binomial", control={"optimizer": "foo"})


def test_allfit_bad_arguments():
    m = mc.lmer("strength ~ 1 + (1 | batch/cask)", mc.datasets.load("Pastes"), REML=False)
    with pytest.raises(mc.DataError, match="parallel"):
        mc.allFit(m, parallel="threads")
    with pytest.raises(mc.DataError, match="meth_tab"):
        mc.allFit(m, meth_tab=[("bobyqa",)])
    with pytest.raises(TypeError, match="allFit"):
        mc.allFit("not a model")


def test_nlopt_algorithms_all_run():
    """Each NLopt algorithm nloptwrap accepts here fits (criterion within the agreement of the
    default's: these are other algorithms, not other paths of the same one)."""
    d = mc.datasets.load("Pastes")
    ref = mc.lmer("strength ~ 1 + (1 | batch/cask)", d, REML=False)
    for alg in NLOPT_ALGORITHMS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mc.lmer("strength ~ 1 + (1 | batch/cask)", d, REML=False,
                        control={"optimizer": "nloptwrap", "optCtrl": {"algorithm": alg}})
        assert m.optinfo["optimizer"] == "nloptwrap"
        assert m.deviance() <= ref.deviance() * (1 + 1e-6), alg
