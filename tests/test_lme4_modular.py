"""lme4's modular interface (``lFormula -> mkLmerDevfun -> optimizeLmer -> mkMerMod``) against lme4
1.1-31 (fixtures from tests/fixtures/gen_lme4_modular.R), lmer() as those four stages, VarCorr's
``comp=`` printing, and the bad-input errors."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.lme4.modular import theta_scale
from mixedcompat.lme4.varcorr import make_unique
from helpers import (PATH_DIVERGED_THETA, TOL, assert_close, check_criterion, fixture_paths, load_fixture,
                     load_fixture_data, theta_gap)

CASES = {p.stem[len("model_"):]: p for p in fixture_paths("lme4_modular") if p.stem.startswith("model_")}


def _fixture(name: str) -> dict:
    return load_fixture(CASES[name])


def _data(fx: dict) -> pd.DataFrame:
    d = load_fixture_data(fx["input"]["data"])
    for col, expr in (fx["input"].get("derived") or {}).items():
        # the generator's R expressions for the derived columns: "1 + Days %% 3", "Days / 10"
        d[col] = pd.eval(expr.replace("%%", "%"), local_dict={c: d[c] for c in d.columns})
    return d


def _lformula(fx: dict, **kw) -> mc.LmerMod:
    inp = fx["input"]
    d = _data(fx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lFormula(inp["formula"], d, REML=inp["REML"],
                           weights=d[inp["weights"]].to_numpy() if inp.get("weights") else None,
                           offset=d[inp["offset"]].to_numpy() if inp.get("offset") else None, **kw)


def _dense(spec: dict) -> np.ndarray:
    return np.asarray(spec["values"], dtype=float).reshape(spec["dim"], order="F")


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    fx = _fixture(request.param)
    return fx, _lformula(fx)


# ------------------------------------------------------------------------------------------- lFormula
def test_lformula_components_are_lme4s(case):
    fx, lf = case
    r = fx["lFormula"]
    tol = TOL["model_matrix"]
    assert list(lf.X.columns) == r["X"]["colnames"]
    assert_close(lf.X.to_numpy().ravel(order="F"), r["X"]["values"], "X", **tol)
    assert list(lf.fr.columns) == r["fr_names"]
    rt, mine = r["reTrms"], lf.reTrms
    assert_close(mine["Zt"].toarray(), _dense(rt["Zt"]), "Zt", **tol)
    assert mine["theta"].tolist() == rt["theta"]
    assert mine["Lind"].tolist() == rt["Lind"]
    assert mine["Gp"].tolist() == rt["Gp"]
    assert np.where(np.isfinite(mine["lower"]), mine["lower"], -1e308).tolist() == rt["lower"]
    assert_close(mine["Lambdat"].toarray(), _dense(rt["Lambdat"]), "Lambdat", **tol)
    assert list(mine["flist"]) == rt["flist_names"]
    assert {g: list(f.categories) for g, f in mine["flist"].items()} == rt["flist"]
    # R's list may repeat a name ((Days || Subject): Subject, Subject); a dict repeats none: R's make.unique
    assert list(mine["cnms"]) == make_unique(rt["cnms_names"])
    assert list(mine["cnms"].values()) == rt["cnms"]
    assert list(mine["Ztlist"]) == rt["Ztlist_names"]
    assert list(mine["nl"].values()) == rt["nl"] and list(mine["nl"]) == make_unique(rt["nl_names"])
    assert lf["REML"] == fx["input"]["REML"] and lf["formula"] == fx["input"]["formula"]


# --------------------------------------------------------------------------------------- mkLmerDevfun
def test_devfun_values_are_lme4s(case):
    fx, lf = case
    f = mc.mkLmerDevfun(lf)
    assert_close(f.start, fx["start"], "start", rtol=TOL["objective_at"]["rtol"])
    for point in fx["devfun"]:
        assert_close(f(point["theta"]), point["value"], f"devfun({point['theta']})", **TOL["objective_at"])


def test_devfun_is_a_pure_function_of_theta(case):
    """lme4's devfun overwrites its lFormula's theta and later optimizations start there; ours does not."""
    fx, lf = case
    f = mc.mkLmerDevfun(lf)
    first = [f(p["theta"]) for p in fx["devfun"]]
    assert [f(p["theta"]) for p in fx["devfun"]] == first
    assert lf.reTrms["theta"].tolist() == fx["lFormula"]["reTrms"]["theta"]
    assert f.start.tolist() == mc.mkLmerDevfun(lf).start.tolist()


# --------------------------------------------------------------------------------------- optimizeLmer
@pytest.mark.parametrize("optimizer", ["nloptwrap", "bobyqa", "Nelder_Mead"])
def test_optimizelmer_is_lme4s(case, optimizer):
    fx, lf = case
    r = fx["opt"][optimizer]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = mc.optimizeLmer(mc.mkLmerDevfun(lf), optimizer=optimizer)
    check_criterion(opt.fval, r["fval"], f"{optimizer} fval")
    assert opt.conv == r["conv"]
    assert set(opt.keys()) == {"par", "fval", "conv", "feval", "message"}
    if theta_gap(opt.par, r["par"]) <= PATH_DIVERGED_THETA:
        # the same path as lme4's optimizer: the same number of evaluations and the same message
        assert_close(opt["par"], r["par"], f"{optimizer} par", **TOL["theta"])
        slack = TOL["bobyqa_feval"]["atol"] if optimizer == "bobyqa" else 0
        assert abs(opt.feval - r["feval"]) <= slack, f"{optimizer}: {opt.feval} evaluations, lme4 {r['feval']}"
        assert opt.message == r["message"]


def test_sleepstudy_optimizers_take_lme4s_path():
    """On sleepstudy each optimiser follows lme4's path (so the rule above compares feval there)."""
    fx = _fixture("sleep_reml")
    lf = _lformula(fx)
    for name, r in fx["opt"].items():
        opt = mc.optimizeLmer(mc.mkLmerDevfun(lf), optimizer=name)
        assert theta_gap(opt.par, r["par"]) <= PATH_DIVERGED_THETA, name


# ------------------------------------------------------------------------------------------- mkMerMod
def _at_r_optimum(fx: dict, lf=None):
    lf = lf or _lformula(fx)
    f = mc.mkLmerDevfun(lf)
    r = fx["opt"]["nloptwrap"]
    return mc.mkMerMod(f, {"par": r["par"], "fval": r["fval"], "conv": r["conv"]}, lf.reTrms, lf.fr)


def test_mkmermod_prints_as_lme4(case):
    fx, lf = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _at_r_optimum(fx, lf)
        assert str(mc.summary(m)) == fx["summary_text"]
        assert str(m) == fx["print_text"]


def test_lmer_is_the_four_stages(case):
    """lmer() is lFormula -> mkLmerDevfun -> optimizeLmer -> mkMerMod: the same optimum, the same numbers."""
    fx, lf = case
    inp = fx["input"]
    d = _data(fx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(inp["formula"], d, REML=inp["REML"],
                    weights=d[inp["weights"]].to_numpy() if inp.get("weights") else None,
                    offset=d[inp["offset"]].to_numpy() if inp.get("offset") else None)
        f = mc.mkLmerDevfun(lf)
        opt = mc.optimizeLmer(f)
        m2 = mc.mkMerMod(f, opt, lf.reTrms, lf.fr)
    assert m.theta.tolist() == m2.theta.tolist()
    assert m.REMLcrit() == m2.REMLcrit() == opt.fval
    assert m.fixef().tolist() == m2.fixef().tolist()
    # R's mkMerMod call has no formula: the same text without the Formula: / Data: lines
    full = str(mc.summary(m)).splitlines()
    assert full[1].startswith("Formula: ") and full[2].startswith("   Data: ")
    assert str(mc.summary(m2)).splitlines() == [full[0]] + [ln for ln in full[1:] if not ln.startswith(
        ("Formula: ", "   Data: ", "Weights: ", " Offset: "))]


@pytest.mark.parametrize("optimizer", ["bobyqa", "Nelder_Mead"])
def test_lmer_control_optimizer_is_optimizelmers(optimizer):
    """lmer(control={"optimizer": ...}) runs optimizeLmer with that optimiser (lme4's optwrap path)."""
    fx = _fixture("sleep_reml")
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"), control={"optimizer": optimizer})
    opt = mc.optimizeLmer(mc.mkLmerDevfun(_lformula(fx)), optimizer=optimizer)
    assert m.theta.tolist() == opt.par.tolist() and m.optinfo["optimizer"] == optimizer
    assert m.optinfo["feval"] == opt.feval
    check_criterion(m.REMLcrit(), fx["opt"][optimizer]["fval"], optimizer)


def test_mkmermod_with_lmer_call_prints_the_call():
    fx = _fixture("sleep_reml")
    lf = _lformula(fx)
    f = mc.mkLmerDevfun(lf)
    m = mc.mkMerMod(f, mc.optimizeLmer(f), mc=lf.call)
    assert str(m).splitlines()[1] == "Formula: Reaction ~ Days + (Days | Subject)"
    assert mc.update(m, ". ~ . - Days").formula == "Reaction ~ (Days | Subject)"


# ------------------------------------------------------------------------------------------- VarCorr
@pytest.mark.parametrize("comp, key", [(("Variance", "Std.Dev."), "both"), ("Variance", "Variance"),
                                       (None, "Std.Dev."), ("Std.Dev.", "Std.Dev."), (["Var", "Std"], "both")])
def test_varcorr_comp_prints_as_lme4(case, comp, key):
    fx, lf = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _at_r_optimum(fx, lf)
    assert str(mc.VarCorr(m, comp=comp)) == fx["varcorr"][key]
    assert str(m.VarCorr(comp=comp)) == fx["varcorr"][key]
    assert str(mc.VarCorr(m).with_comp(comp or "Std.Dev.")) == fx["varcorr"][key]


@pytest.mark.parametrize("comp, msg", [("foo", "Illegal 'comp': foo"), (["Variance", "Variance"], "Illegal 'comp'"),
                                       ([], "Must \\*either\\* show variances")])
def test_varcorr_bad_comp(comp, msg):
    m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
    with pytest.raises(mc.DataError, match=msg):
        mc.VarCorr(m, comp=comp)


def test_varcorr_comp_on_glmer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mc.datasets.load("cbpp"),
                     family="binomial")
    lines = str(mc.VarCorr(m, comp="Variance")).splitlines()
    assert lines[0].split() == ["Groups", "Name", "Variance"] and len(lines) == 2


# ------------------------------------------------------------------------------------------ glFormula
def test_glformula_x_is_lme4s():
    """glFormula's X on the binomial simulation design (R's glFormula in the simulate fixture)."""
    fx = load_fixture(next(p for p in fixture_paths("lme4_modular") if p.stem == "simulate_binom_intercept"))
    nd = pd.DataFrame(fx["newdata"])
    for c, levels in fx["newdata_levels"].items():
        nd[c] = pd.Categorical(nd[c], categories=levels)
    nd["y"] = np.tile([0.0, 1.0], len(nd) // 2 + 1)[: len(nd)]
    gf = mc.glFormula("y ~ x + (1 | g)", nd, family="binomial")
    assert list(gf.X.columns) == fx["X"]["colnames"]
    assert_close(gf.X.to_numpy().ravel(order="F"), fx["X"]["values"], "X", **TOL["model_matrix"])
    assert_close(gf.reTrms["Zt"].toarray(), _dense(fx["Zt"]), "Zt", **TOL["model_matrix"])
    assert gf.family.family == "binomial" and gf.REML is False
    with pytest.raises(TypeError, match="glFormula"):
        mc.mkLmerDevfun(gf)


# ------------------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def sleep():
    lf = mc.lFormula("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    return lf, mc.mkLmerDevfun(lf)


def test_unknown_optimizer(sleep):
    _lf, f = sleep
    with pytest.raises(mc.DataError, match="couldn't find optimizer function foo"):
        mc.optimizeLmer(f, optimizer="foo")


def test_unknown_nloptwrap_setting(sleep):
    _lf, f = sleep
    with pytest.raises(mc.DataError, match="unknown optCtrl setting.*'rhobeg'.*'nloptwrap'"):
        mc.optimizeLmer(f, control={"rhobeg": 0.1})


def test_optimizer_settings_are_passed_on(sleep):
    _lf, f = sleep
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        opt = mc.optimizeLmer(f, optimizer="Nelder_Mead", control={"maxfun": 10})
    assert opt.conv != 0
    # lme4's Nelder_Mead warning and optwrap's, in R's words (optimizeLmer(f, "Nelder_Mead", control = list(maxfun = 10)))
    assert [str(w.message) for w in rec] == ["failure to converge in 10 evaluations",
                                             "convergence code 4 from Nelder_Mead: failure to converge in 10 evaluations"]
    assert opt.conv == 4
    with pytest.warns(mc.ConvergenceWarning, match="convergence code 5 from nloptwrap: NLOPT_MAXEVAL_REACHED"):
        opt = mc.optimizeLmer(f, control={"maxeval": 5})
    assert opt.conv == 5 and opt.feval == 5                                   # as lme4


def test_no_optimizer_keeps_the_start(sleep):
    _lf, f = sleep
    opt = mc.optimizeLmer(f, optimizer=None)
    assert opt.par.tolist() == [1.0, 0.0, 1.0] and opt.fval == f([1.0, 0.0, 1.0])


def test_devfun_wrong_length_theta(sleep):
    _lf, f = sleep
    with pytest.raises(mc.DataError, match="theta has 2 values; this model has 3 .*Subject.Days"):
        f([1.0, 1.0])


def test_bad_start(sleep):
    lf, f = sleep
    with pytest.raises(mc.DataError, match="start has 1 values"):
        mc.optimizeLmer(f, start=[1.0])
    with pytest.raises(mc.DataError, match=">= 0 on the template diagonals"):
        mc.mkLmerDevfun(lf, start=[-1.0, 0.0, 1.0])
    assert mc.optimizeLmer(f, start={"theta": [0.9, 0.0, 0.2]}).conv == 0


def test_stage_type_errors(sleep):
    lf, f = sleep
    with pytest.raises(TypeError, match="mkLmerDevfun\\(\\) takes the result of lFormula"):
        mc.mkLmerDevfun({"X": 1})
    with pytest.raises(TypeError, match="optimizeLmer\\(\\) takes the result of mkLmerDevfun"):
        mc.optimizeLmer(lambda th: 0.0)
    with pytest.raises(TypeError, match="mkMerMod\\(\\) takes the result of mkLmerDevfun"):
        mc.mkMerMod(lf, {"par": [1.0, 0.0, 1.0]})
    with pytest.raises(KeyError, match="no component 'Zt'"):
        lf["Zt"]


def test_mkmermod_bad_opt_and_retrms(sleep):
    lf, f = sleep
    with pytest.raises(mc.DataError, match="opt\\['par'\\] has 2 values; the model has 3"):
        mc.mkMerMod(f, {"par": [1.0, 1.0]})
    with pytest.raises(mc.DataError, match="opt must be optimizeLmer"):
        mc.mkMerMod(f, [1.0, 0.0, 1.0])
    other = mc.lFormula("Reaction ~ Days + (1 | Subject)", mc.datasets.load("sleepstudy"))
    with pytest.raises(mc.DataError, match="reTrms is not the random-effects structure"):
        mc.mkMerMod(f, {"par": [1.0, 0.0, 1.0]}, other.reTrms)
    with pytest.raises(mc.DataError, match="fr has 10 rows"):
        mc.mkMerMod(f, {"par": [1.0, 0.0, 1.0]}, lf.reTrms, lf.fr.iloc[:10])


def test_lformula_bad_input():
    d = mc.datasets.load("sleepstudy")
    with pytest.raises(mc.FormulaError, match="no random effects terms"):
        mc.lFormula("Reaction ~ Days", d)
    with pytest.raises((mc.FormulaError, mc.DataError), match="Dayz"):
        mc.lFormula("Reaction ~ Dayz + (1 | Subject)", d)
    with pytest.raises(mc.DataError, match="REML must be True or False"):
        mc.lFormula("Reaction ~ Days + (1 | Subject)", d, REML="yes")


# ------------------------------------------------------------------------------- live R: random designs
_R_DEVFUN = """
function(df, formula, REML, use_w, use_off, thetas) {
  args <- list(formula = as.formula(formula), data = df, REML = REML)
  if (use_w) args$weights <- df$w
  if (use_off) args$offset <- df$off
  tryCatch({
    lf <- suppressWarnings(suppressMessages(do.call(lme4::lFormula, args)))
    f <- do.call(lme4::mkLmerDevfun, lf)
    th <- matrix(thetas, ncol = length(lf$reTrms$theta), byrow = TRUE)
    values <- apply(th, 1, f)
    # a fresh lFormula: lme4's devfun evaluations above moved lf's theta, where optimizeLmer would start
    lf2 <- suppressWarnings(suppressMessages(do.call(lme4::lFormula, args)))
    opt <- suppressWarnings(suppressMessages(lme4::optimizeLmer(do.call(lme4::mkLmerDevfun, lf2))))
    list(values = values, lower = lf$reTrms$lower, Lind = lf$reTrms$Lind,
         X = colnames(lf$X), n = nrow(lf$X), fval = opt$fval)
  }, error = function(e) list(error = conditionMessage(e)))
}
"""


@pytest.mark.r
@pytest.mark.parametrize("seed", range(12))
def test_live_devfun_on_random_designs(seed):
    """R's mkLmerDevfun and ours at random theta, on the random designs of tests/random_designs.py
    (every structure, weights, offsets, missing values): the same criterion, lme4's theta layout; and
    optimizeLmer's optimum at most lme4's."""
    pytest.importorskip("rpy2")
    import rlive
    from random_designs import draw_design
    design = draw_design(5000 + seed, max_rows=400)
    reml = design.REML if seed % 2 else not design.REML        # both criteria
    df = design.data()
    ro = rlive.robjects()
    fun = ro.r(_R_DEVFUN)
    w, off = design.weights_arg(), design.offset_arg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lf = mc.lFormula(design.formula(), df, REML=reml, weights=w, offset=off)
        except (mc.DataError, mc.FormulaError) as exc:
            r = rlive._py(fun(rlive.to_r_frame(df), design.formula(), reml, w is not None, off is not None,
                              ro.FloatVector([1.0])))
            assert r.get("error"), f"we refuse ({exc}) where lme4's lFormula does not"
            return
    f = mc.mkLmerDevfun(lf)
    rng = np.random.default_rng(seed)
    lower = f.lower
    # theta on each entry's natural scale (1 / rms of its covariate): a slope's theta of 1 on x in
    # thousands makes the factorisation ill-conditioned (cond ~1e12) and the criterion undetermined
    # to 1e-7 by any implementation
    scale = theta_scale(lf.terms)
    thetas = np.array([scale * np.where(np.isfinite(lower), rng.uniform(0.0, 2.0, len(lower)),
                                        rng.normal(0.0, 0.5, len(lower))) for _ in range(4)])
    r = rlive._py(fun(rlive.to_r_frame(df), design.formula(), reml, w is not None, off is not None,
                      ro.FloatVector(thetas.ravel())))
    assert not r.get("error"), f"lme4 refuses: {r.get('error')}"
    assert r["n"][0] == len(lf.frame.y) and r["X"] == list(lf.frame.x_names)
    assert [float(v) for v in lf.reTrms["Lind"]] == r["Lind"]
    assert_close(np.where(np.isfinite(lower), lower, -1e308), np.where(np.isfinite(r["lower"]), r["lower"], -1e308),
                 "lower")
    ours = np.array([f(th) for th in thetas])
    assert_close(ours, r["values"], f"devfun on {design.formula()}", **TOL["objective_at"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_criterion(mc.optimizeLmer(f).fval, r["fval"][0], f"optimizeLmer on {design.formula()}")
