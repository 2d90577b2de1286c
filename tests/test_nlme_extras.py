"""nlme extras against R (fixtures from tests/fixtures/gen_nlme_extras.R): anova(m, Terms =) and
anova(m, L =) of lme / gls fits, with nlme's errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import TOL, assert_close, assert_same_printout, fixture_paths, load_fixture, load_fixture_data
from test_nlme_printing import compare_text

ANOVA = [p for p in fixture_paths("nlme_extras") if p.name.startswith("anova_")]
_FITS: dict = {}


def _model(fx: dict):
    mod = fx["model"]
    key = (fx["data"], mod["fun"], mod["fixed"], mod["random"], mod["method"])
    if key not in _FITS:
        data = load_fixture_data(fx["data"])
        _FITS[key] = (mc.lme(mod["fixed"], data, random=mod["random"], method=mod["method"])
                      if mod["fun"] == "lme" else mc.gls(mod["fixed"], data, method=mod["method"]))
    return _FITS[key]


def _L(spec: dict):
    """R's L as the Python user writes it: a dict (named vector), a list, or a DataFrame / array."""
    vals = np.array(spec["values"], float)
    if spec["is_vector"]:
        return dict(zip(spec["colnames"], vals[0])) if spec["colnames"] else list(vals[0])
    if spec["colnames"] is None and spec["rownames"] is None:
        return vals
    return pd.DataFrame(vals, index=spec["rownames"], columns=spec["colnames"])


def _kwargs(fx: dict) -> dict:
    return {"Terms": fx["Terms"]} if "Terms" in fx else {"L": _L(fx["L"])}


@pytest.mark.parametrize("path", ANOVA, ids=[p.stem for p in ANOVA])
def test_anova_terms_and_L_as_r(path):
    fx = load_fixture(path)
    m = _model(fx)
    if "error" in fx:
        with pytest.raises(mc.DataError) as exc:
            mc.anova(m, **_kwargs(fx))
        assert str(exc.value).startswith(fx["error"])
        return
    tab = mc.anova(m, **_kwargs(fx))
    assert list(tab.index) == ["1"]
    assert tab["numDF"].tolist() == np.atleast_1d(fx["table"]["numDF"]).tolist()
    if fx["table"]["denDF"] is not None:
        assert tab["denDF"].tolist() == np.atleast_1d(fx["table"]["denDF"]).tolist()
    assert_close(tab["F-value"].to_numpy(), np.atleast_1d(fx["table"]["F"]), "F", **TOL["nlme_anova_F"])
    assert_close(tab["p-value"].to_numpy(), np.atleast_1d(fx["table"]["p"]), "p", **TOL["nlme_anova_F"])
    assert_same_printout(str(tab), fx["text"], "anova text", rel=TOL["nlme_text"]["rtol"])


def test_anova_method_and_generic_agree():
    fx = load_fixture(ANOVA[0])
    m = _model(fx)
    a, b = m.anova(**_kwargs(fx)), mc.anova(m, **_kwargs(fx))
    assert str(a) == str(b)


def test_terms_of_wrong_type():
    m = _model(load_fixture(ANOVA[0]))
    with pytest.raises(mc.DataError, match="integers or characters"):
        mc.anova(m, Terms=[1.5])
    with pytest.raises(mc.DataError, match="integers or characters"):
        mc.anova(m, Terms=[1, "age"])


def test_L_with_wrong_names_or_length():
    m = _model(load_fixture(ANOVA[0]))
    with pytest.raises(mc.DataError, match="effect ageX not matched"):
        mc.anova(m, L={"ageX": 1})
    with pytest.raises(mc.DataError, match="at most"):
        mc.anova(m, L=[0, 1, 0, 0, 0, 0])
    with pytest.raises(mc.DataError, match="non-zero row"):
        mc.anova(m, L=[0, 0])
    with pytest.raises(mc.DataError, match="L must"):
        mc.anova(m, L="age")


# ------------------------------------------------------------------ pdBlocked
BLOCKED = {p.stem: p for p in fixture_paths("nlme_extras") if p.name.startswith("blocked_")}
BLOCKED_RANDOM = {     # the Python spelling of each fixture's R random = list(g = pdBlocked(list(...)))
    "blocked_machines": {"Worker": mc.pdBlocked([mc.pdIdent("~ 1"), mc.pdIdent("~ Machine - 1")])},
    "blocked_machines_ml": {"Worker": mc.pdBlocked([mc.pdIdent("~ 1"), mc.pdIdent("~ Machine - 1")])},
    "blocked_oats": {"Block": mc.pdBlocked([mc.pdIdent("~ 1"), mc.pdIdent("~ Variety - 1")])},
    "blocked_oxboys_symm_diag": {"Subject": mc.pdBlocked([mc.pdSymm("~ age"), mc.pdDiag("~ I(age^2) - 1")])},
    "blocked_pdident_alone": {"Worker": mc.pdIdent("~ Machine - 1")},
    "blocked_overlap": {"Worker": mc.pdBlocked([mc.pdIdent("~ 1"), mc.pdIdent("~ Machine")])},
}


def test_every_blocked_fixture_has_its_python_spelling():
    assert set(BLOCKED) == set(BLOCKED_RANDOM)


def _values(frame: dict) -> np.ndarray:
    return np.array([frame["values"][c] for c in frame["columns"]], float).T


@pytest.mark.parametrize("name", sorted(BLOCKED))
def test_pdblocked_as_r(name):
    fx = load_fixture(BLOCKED[name])
    data = load_fixture_data(fx["data"])
    if "error" in fx:
        with pytest.raises(mc.FormulaError, match="duplicated column names"):
            mc.lme(fx["fixed"], data, random=BLOCKED_RANDOM[name], method=fx["method"])
        return
    m = mc.lme(fx["fixed"], data, random=BLOCKED_RANDOM[name], method=fx["method"])
    assert float(m.logLik()) >= fx["logLik"] - TOL["nlme_logLik"]["rtol"] * abs(fx["logLik"])
    assert_close(float(m.logLik()), fx["logLik"], "logLik", **TOL["nlme_logLik"])
    assert_close(m.fixef().to_numpy(), list(fx["fixef"].values()), "fixef", **TOL["nlme_coef"])
    assert_close(m.sigma(), fx["sigma"], "sigma", **TOL["nlme_params"])
    vc = m.VarCorr().to_frame()
    sd = vc.loc[vc["var2"].isna(), "sdcor"].to_numpy()
    assert_close(sd, fx["varcorr"]["stddev"], "StdDev", **TOL["nlme_params"])
    assert list(m.ranef()[list(m.ranef())[0]].columns) == fx["ranef"]["columns"]
    if fx["intervals_error"] is None:
        iv = m.intervals()
        re = list(iv["reStruct"].values())[0]
        assert list(re.index) == fx["intervals_re"]["rownames"]
        # nlme's apVar is a finite-difference Hessian: its own change between its default step and
        # .relStep = 1e-4 (the generator fits both), doubled, widens the tolerance (as test_nlme_fixtures)
        exp = _values(fx["intervals_re"])
        alt = _values(fx["intervals_re_relstep"]) if fx.get("intervals_re_relstep") else exp
        spread = np.abs(exp - alt) / np.maximum(np.abs(exp), 1e-12)
        rtol = np.maximum(TOL["nlme_blocked_intervals"]["rtol"], 2 * spread)
        assert np.all(np.isclose(re.to_numpy(), exp, rtol=rtol, atol=0)), (re.to_numpy(), exp, rtol)
        assert compare_text(fx["intervals_text"], str(iv), TOL["nlme_intervals_text"]["rtol"]) == []
    # nlme's text as test_nlme_printing compares it: our estimates agree to ~1e-6, so a last digit (and
    # with it a column's width) may differ
    rel = TOL["nlme_text"]["rtol"]
    assert compare_text(fx["summary_text"], str(m.summary()), rel) == []
    assert compare_text(fx["print_text"], str(m), rel) == []
    assert compare_text(fx["varcorr_text"], str(m.VarCorr()), rel) == []


def test_pdblocked_bad_input():
    with pytest.raises(mc.FormulaError, match="list of pdMat"):
        mc.pdBlocked(mc.pdIdent("~ 1"))
    with pytest.raises(mc.FormulaError, match="grouping"):
        mc.pdBlocked([mc.pdIdent("~ 1 | Worker")])
    with pytest.raises(mc.FormulaError, match="pdClass"):
        mc.pdBlocked(["~ 1"], pdClass="pdFoo")
    with pytest.raises(mc.FormulaError, match="no grouping factor"):
        mc.lme("score ~ Machine", mc.datasets.load("Machines"),
               random=mc.pdBlocked([mc.pdIdent("~ 1"), mc.pdIdent("~ Machine - 1")]))


def test_pdblocked_formula_blocks_are_pdsymm():
    b = mc.pdBlocked(["~ 1", "~ Machine - 1"])
    assert [type(x).__name__ for x in b.blocks] == ["pdSymm", "pdSymm"]


# ------------------------------------------------------------------ augPred
AUGPRED = [p for p in fixture_paths("nlme_extras") if p.name.startswith("augpred_")]


@pytest.mark.parametrize("path", AUGPRED, ids=[p.stem for p in AUGPRED])
def test_augpred_as_r(path):
    fx = load_fixture(path)
    m = mc.lme(fx["fixed"], load_fixture_data(fx["data"]), random=fx["random"])
    a = mc.augPred(m, primary=fx["primary"], minimum=fx.get("minimum"), maximum=fx.get("maximum"),
                   length_out=fx["length_out"], level=fx["level"])
    assert a.columns.tolist() == fx["columns"]
    assert a.index.tolist() == fx["rownames"]
    assert_close(a.iloc[:, 0].to_numpy(), fx["primary_values"], "primary", **TOL["noise"])
    assert a[".groups"].astype(str).tolist() == fx["groups"]
    assert a[".groups"].cat.categories.tolist() == fx["group_levels"] and a[".groups"].cat.ordered
    assert a[".type"].astype(str).tolist() == fx["type"]
    assert a[".type"].cat.categories.tolist() == fx["type_levels"]
    orig = (a[".type"] == "original").to_numpy()
    assert_close(a.iloc[:, 2].to_numpy()[orig], np.asarray(fx["response"])[orig], "response", **TOL["noise"])
    assert_close(a.iloc[:, 2].to_numpy()[~orig], np.asarray(fx["response"])[~orig], "predicted",
                 **TOL["nlme_fitted"])


def test_augpred_bad_input():
    m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    with pytest.raises(mc.DataError, match="primary"):
        mc.augPred(m)
    with pytest.raises(mc.FormulaError, match="one-sided"):
        mc.augPred(m, primary="distance ~ age")
    with pytest.raises(mc.DataError, match="level"):
        mc.augPred(m, primary="~ age", level=2)
    with pytest.raises(mc.DataError, match="length_out"):
        mc.augPred(m, primary="~ age", length_out=0)
    with pytest.raises(mc.DataError, match="lme fits"):
        mc.augPred(mc.gls("distance ~ age", mc.datasets.load("Orthodont")), primary="~ age")
    with pytest.raises(mc.FormulaError):
        mc.augPred(m, primary="~ agex")


# ------------------------------------------------------------------ lmeControl
CONTROL = {p.stem: p for p in fixture_paths("nlme_extras") if p.name.startswith("control_") and "defaults" not in p.name}
CONTROL_PY = {     # the Python spelling of each fixture's R control
    "control_optim": mc.lmeControl(opt="optim"),
    "control_optim_lbfgsb": mc.lmeControl(opt="optim", optimMethod="L-BFGS-B"),
    "control_more_iterations": mc.lmeControl(maxIter=200, msMaxIter=200, niterEM=100, msMaxEval=1000, msTol=1e-10),
    "control_too_few_iterations": mc.lmeControl(maxIter=1, msMaxIter=1),
    "control_no_apvar": mc.lmeControl(apVar=False),
    "control_list_names": {"msMaxIter": 100, ".relStep": 1e-5, "returnObject": True, "msVerbose": False},
}


def test_lmecontrol_defaults_as_nlme():
    fx = load_fixture(fixture_paths("nlme_extras")[0].parent / "control_defaults.json")
    ctl = mc.lmeControl()
    assert list(ctl) == fx["names"]
    for k, v in fx["values"].items():
        assert ctl[k] == pytest.approx(v, rel=1e-15) if isinstance(v, float) else ctl[k] == v, k


def test_every_control_fixture_has_its_python_spelling():
    assert set(CONTROL) == set(CONTROL_PY)


@pytest.mark.parametrize("name", sorted(CONTROL))
def test_lme_control_as_r(name):
    fx = load_fixture(CONTROL[name])
    data = load_fixture_data(fx["data"])
    if "error" in fx:      # R stops before the optimum: refused, saying why
        with pytest.raises(mc.DataError, match="below nlme's default"):
            mc.lme(fx["fixed"], data, random=fx["random"], control=CONTROL_PY[name])
        return
    m = mc.lme(fx["fixed"], data, random=fx["random"], control=CONTROL_PY[name])
    assert float(m.logLik()) >= fx["logLik"] - TOL["nlme_logLik"]["rtol"] * abs(fx["logLik"])
    assert_close(float(m.logLik()), fx["logLik"], "logLik", **TOL["nlme_logLik"])
    assert_close(m.fixef().to_numpy(), fx["fixef"], "fixef", **TOL["nlme_coef"])
    assert_close(m.sigma(), fx["sigma"], "sigma", **TOL["nlme_params"])
    if fx["intervals_error"] is not None:
        with pytest.raises(mc.DataError) as exc:
            m.intervals()
        assert str(exc.value) == fx["intervals_error"]
    else:
        assert "reStruct" in m.intervals()


def test_control_bad_input():
    d = mc.datasets.load("Orthodont")
    with pytest.raises(mc.DataError, match="unknown control setting 'maxiter'.*maxIter"):
        mc.lme("distance ~ age", d, random="~ 1 | Subject", control={"maxiter": 100})
    with pytest.raises(mc.DataError, match="unknown setting"):
        mc.lmeControl(foo=1)
    with pytest.raises(mc.DataError, match="opt"):
        mc.lmeControl(opt="bobyqa")
    with pytest.raises(mc.DataError, match="positive numeric"):
        mc.lmeControl(sigma=-1)
    for bad, what in [({"sigma": 2.0}, "fixed within-group"), ({"natural": False}, "natural"),
                      ({"tolerance": 1e-2}, "looser"), ({"optimMethod": "Newton"}, "optimMethod"),
                      ({".relStep": 2.0}, "relStep")]:
        with pytest.raises(mc.DataError, match=what):
            mc.lme("distance ~ age", d, random="~ 1 | Subject", control=bad)


def test_control_dotted_names_have_underscore_spellings():
    assert mc.lmeControl(relStep=1e-4)[".relStep"] == 1e-4
    assert mc.lmeControl(allow_n_lt_q=True)["allow.n.lt.q"] is True
