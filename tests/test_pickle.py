"""Results that travel: every lmer-side fit and result object pickles and round-trips.

Each object is pickled and loaded, then compared with the original on its numbers and its printed
text; a loaded fit must also still work (summary, predict, anova, profile read its deviance function).
joblib and multiprocessing rely on this.  (nlme's classes are tested with nlme.)
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.inference.replicate_fit import ReplicateFit, Refitter
from mixedcompat.inference.kenward_roger import kr_adjusted
from mixedcompat.inference.satterthwaite import satterthwaite_state


def roundtrip(obj):
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def same(a, b) -> None:
    """Equal numbers (NaN = NaN) and equal printed text."""
    assert type(a) is type(b)
    if isinstance(a, (pd.DataFrame, pd.Series)):
        pd.testing.assert_frame_equal(a, b) if isinstance(a, pd.DataFrame) else pd.testing.assert_series_equal(a, b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, float):
        assert float(a) == float(b) or (np.isnan(a) and np.isnan(b))
    assert str(a) == str(b)
    assert repr(a) == repr(b)


def quiet(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kw)


@pytest.fixture(scope="module")
def sleep():
    return mc.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fits(sleep):
    m1 = quiet(mc.lmer, "Reaction ~ Days + (Days | Subject)", sleep)
    m0 = quiet(mc.lmer, "Reaction ~ Days + (1 | Subject)", sleep)
    return m0, m1


# ---- fits with each kind of term -----------------------------------------------------------------

def _sim():
    from helpers import load_fixture_data
    return load_fixture_data("sim_main")


MODELS = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", {}),
    ("sleepstudy", "Reaction ~ Days + (Days || Subject)", {}),
    ("sleepstudy", "Reaction ~ 1 | Subject", {}),
    ("Pastes", "strength ~ 1 + (1 | batch/cask)", {}),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", {}),
    ("Machines", "score ~ Machine + (0 + Machine | Worker)", {}),
    ("sim_main", "y ~ poly(x, 2) + scale(z) + f * x + (1 | g) + (0 + x | h)", {}),
    ("sim_main", "log(y) ~ I(x^2) + f:x + (1 | g)", {"weights": "w", "offset": "off", "REML": False}),
    ("sim_main", "y ~ o + flag + (1 | g)", {"contrasts": {"o": "contr.sum"}}),
]


@pytest.mark.parametrize("stem, formula, kw", MODELS, ids=[m[1] for m in MODELS])
def test_lmer_fit_roundtrips(stem, formula, kw):
    data = _sim() if stem == "sim_main" else mc.datasets.load(stem)
    m = quiet(mc.lmer, formula, data, **kw)
    m2 = roundtrip(m)
    assert type(m2) is mc.LmerMod
    assert str(m2) == str(m)
    assert str(mc.summary(m2)) == str(mc.summary(m))
    np.testing.assert_array_equal(m2.theta, m.theta)
    np.testing.assert_array_equal(m2.fixef(), m.fixef())
    np.testing.assert_array_equal(m2.fitted(), m.fitted())
    assert m2.REMLcrit() == m.REMLcrit() if m.REML else m2.deviance() == m.deviance()
    # the loaded fit still works: its deviance function, model frame and predvars came along
    np.testing.assert_array_equal(mc.predict(m2, newdata=data.head(7), allow_new_levels=True),
                                  mc.predict(m, newdata=data.head(7), allow_new_levels=True))
    np.testing.assert_allclose(m2.devfun(m.theta), m.devfun(m.theta), rtol=0, atol=0)
    same(mc.ranef(m2), mc.ranef(m))


def test_loglik(fits):
    ll = mc.logLik(fits[1])
    ll2 = roundtrip(ll)
    same(ll, ll2)
    assert (ll2.df, ll2.nobs, ll2.REML) == (ll.df, ll.nobs, ll.REML)


def test_varcorr(fits):
    vc = mc.VarCorr(fits[1])
    vc2 = roundtrip(vc)
    assert str(vc2) == str(vc)
    pd.testing.assert_frame_equal(vc2.to_frame(), vc.to_frame())


def test_ranef_with_condvar(fits):
    re = mc.ranef(fits[1], condVar=True)
    re2 = roundtrip(re)
    same(re2, re)
    np.testing.assert_array_equal(re2["Subject"].attrs["postVar"], re["Subject"].attrs["postVar"])


@pytest.mark.parametrize("ddf", [None, "Satterthwaite", "Kenward-Roger"])
def test_summary(fits, ddf):
    s = quiet(mc.summary, fits[1], ddf=ddf)
    s2 = roundtrip(s)
    assert type(s2) is type(s)
    assert str(s2) == str(s)
    pd.testing.assert_frame_equal(s2.coefficients, s.coefficients)


def test_lrt_table(fits):
    same(quiet(mc.anova, *fits), roundtrip(quiet(mc.anova, *fits)))


@pytest.mark.parametrize("ddf", ["Satterthwaite", "Kenward-Roger"])
@pytest.mark.parametrize("type_", [1, 3])
def test_ddf_tables(fits, ddf, type_):
    tab = quiet(mc.anova, fits[1], type=type_, ddf=ddf)
    same(tab, roundtrip(tab))


def test_satterthwaite_and_kr_states(fits):
    st = satterthwaite_state(fits[1])
    st2 = roundtrip(st)
    np.testing.assert_array_equal(st2.vcov_varpar, st.vcov_varpar)
    np.testing.assert_array_equal(st2.vcov, st.vcov)
    kr = kr_adjusted(fits[1])
    kr2 = roundtrip(kr)
    np.testing.assert_array_equal(kr2.vcov_adj, kr.vcov_adj)
    # a fit whose Satterthwaite / KR quantities were computed still pickles
    m2 = roundtrip(fits[1])
    assert str(quiet(mc.summary, m2, ddf="Satterthwaite")) == str(quiet(mc.summary, fits[1], ddf="Satterthwaite"))


def test_ranova_and_drop1(fits):
    same(quiet(mc.ranova, fits[1]), roundtrip(quiet(mc.ranova, fits[1])))
    same(quiet(mc.drop1, fits[1]), roundtrip(quiet(mc.drop1, fits[1])))


def test_predict_and_simulate_outputs(fits, sleep):
    same(mc.predict(fits[1]), roundtrip(mc.predict(fits[1])))
    same(mc.predict(fits[1], newdata=sleep.head(5), re_form="~0"),
         roundtrip(mc.predict(fits[1], newdata=sleep.head(5), re_form="~0")))
    sim = mc.simulate(fits[1], nsim=2, seed=1)
    same(sim, roundtrip(sim))


def _fixef_statistic(m):          # module level: a bootstrap statistic that pickles with the result
    return mc.fixef(m)


def test_bootmer_result(fits):
    b = quiet(mc.bootMer, fits[0], _fixef_statistic, nsim=4, seed=1, progress=False)
    b2 = roundtrip(b)
    assert str(b2) == str(b)
    np.testing.assert_array_equal(b2.t, b.t)
    pd.testing.assert_series_equal(b2.t0, b.t0)
    assert b2.statistic is _fixef_statistic
    # a lambda statistic cannot travel; the result still does, without it
    b = quiet(mc.bootMer, fits[0], lambda m: mc.fixef(m), nsim=2, seed=1, progress=False)
    b2 = roundtrip(b)
    assert b2.statistic is None and str(b2) == str(b)
    pd.testing.assert_frame_equal(quiet(mc.boot_ci, b2, type="perc") if _has_boot_ci() else b2.to_frame(),
                                  quiet(mc.boot_ci, b, type="perc") if _has_boot_ci() else b.to_frame())


def _has_boot_ci() -> bool:
    return hasattr(mc, "boot_ci")


def test_pbmodcomp(fits):
    pb = quiet(mc.PBmodcomp, fits[1], fits[0], nsim=4, seed=1)
    pb2 = roundtrip(pb)
    assert str(pb2) == str(pb)
    pd.testing.assert_frame_equal(pb2.test, pb.test)


def test_profile_and_confint(fits):
    pr = quiet(mc.profile, fits[0])
    pr2 = roundtrip(pr)
    assert type(pr2) is type(pr)
    assert str(pr2) == str(pr)
    pd.testing.assert_frame_equal(pr2.to_frame(), pr.to_frame())
    same(pr2.confint(), pr.confint())
    for method in ("profile", "Wald"):
        ci = quiet(mc.confint, fits[0], method=method)
        same(ci, roundtrip(ci))
    ci = quiet(mc.confint, fits[0], method="boot", nsim=5, seed=1)
    same(ci, roundtrip(ci))


def test_model_table_and_cross_validate(fits):
    tab = quiet(mc.model_table, *fits)
    same(tab, roundtrip(tab))
    cv = quiet(mc.cross_validate, fits[1], folds=3, seed=1)
    same(cv, roundtrip(cv))


def test_replicate_fit(fits, sleep):
    y = mc.simulate(fits[1], seed=3).iloc[:, 0].to_numpy()
    r = quiet(Refitter(fits[1]).fit, y)
    assert isinstance(r, ReplicateFit)
    reference = quiet(Refitter(fits[1]).fit, y)
    r2 = roundtrip(r)                  # pickled before its fit was completed
    assert isinstance(r2, mc.LmerMod)
    np.testing.assert_array_equal(r2.fixef(), reference.fixef())
    np.testing.assert_array_equal(r2.theta, reference.theta)
    assert str(r2) == str(reference)


def test_opt_summary_and_convergence_info(fits):
    m = fits[1]
    opt2 = roundtrip(m.opt)
    np.testing.assert_array_equal(opt2.theta, m.opt.theta)
    assert opt2.fval == m.opt.fval
    info2 = roundtrip(m.optinfo)
    assert str(info2) == str(m.optinfo)


def test_statsmodels_spec(sleep):
    from mixedcompat.interop.statsmodels_convert import statsmodels_spec
    spec = statsmodels_spec("Reaction ~ Days + (Days | Subject)", sleep)
    spec2 = roundtrip(spec)
    assert (spec2.groups, spec2.re_formula, spec2.vc_formula) == (spec.groups, spec.re_formula, spec.vc_formula)
