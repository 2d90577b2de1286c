"""Accessors and components of an lmer fit: internal consistency and lme4's conventions."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import mixedcompat as mc

from helpers import TOL


@pytest.fixture(scope="module")
def fm1():
    return mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def pen():
    return mc.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mc.datasets.load("Penicillin"))


def test_module_level_generics_equal_methods(fm1):
    assert mc.fixef(fm1).equals(fm1.fixef())
    assert mc.vcov(fm1).equals(fm1.vcov())
    assert mc.sigma(fm1) == fm1.sigma()
    assert float(mc.logLik(fm1)) == float(fm1.logLik())
    assert mc.AIC(fm1) == fm1.AIC() and mc.BIC(fm1) == fm1.BIC()
    assert mc.REMLcrit(fm1) == fm1.REMLcrit()
    assert mc.nobs(fm1) == 180 and mc.ngrps(fm1) == {"Subject": 18}
    assert mc.isSingular(fm1) is False
    np.testing.assert_array_equal(mc.fitted(fm1), fm1.fitted())
    np.testing.assert_array_equal(mc.residuals(fm1), fm1.residuals())
    with pytest.raises(TypeError, match="fixef"):
        mc.fixef(object())


def test_loglik_df_and_information_criteria(fm1):
    ll = mc.logLik(fm1)
    assert ll.df == 6 and ll.nobs == 180
    assert mc.AIC(fm1) == pytest.approx(-2 * float(ll) + 2 * 6)
    assert mc.BIC(fm1) == pytest.approx(-2 * float(ll) + np.log(180) * 6)


def test_deviance_of_reml_fit_warns_like_lme4(fm1):
    with pytest.warns(FutureWarning, match="deviance\\(\\) is deprecated for REML fits"):
        d = mc.deviance(fm1)
    assert d == fm1.REMLcrit()
    ml_dev = fm1.deviance(REML=False)
    assert ml_dev != d and np.isfinite(ml_dev)


def test_model_components_fit_together(fm1, pen):
    for m in (fm1, pen):
        X, Z = m.getME("X"), m.getME("Z")
        beta, b, u = m.getME("beta"), m.getME("b"), m.getME("u")
        lam = m.getME("Lambda")
        assert sp.issparse(Z) and sp.issparse(lam)
        np.testing.assert_allclose(X @ beta + Z @ b, m.fitted(), **TOL["same_computation"])
        np.testing.assert_allclose(lam @ u, b, **TOL["same_computation_abs"])
        assert (m.getME("Zt") != Z.T).nnz == 0
        assert (m.getME("Lambdat") != lam.T).nnz == 0
        assert Z.shape == (m.nobs(), sum(len(df) * df.shape[1] for df in m.ranef().values()))
    assert list(fm1.getME("theta").index) == ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]
    np.testing.assert_array_equal(fm1.getME("lower"), [0.0, -np.inf, 0.0])
    assert fm1.getME("cnms") == {"Subject": ["(Intercept)", "Days"]}
    fl = fm1.getME("flist")["Subject"]
    assert len(fl) == 180 and list(fl.categories[:2]) == ["308", "309"]
    assert list(pen.getME("flist")) == ["plate", "sample"]
    with pytest.raises(KeyError, match="nosuch"):
        fm1.getME("nosuch")


def test_ranef_and_coef_shapes(fm1):
    re = mc.ranef(fm1)["Subject"]
    assert re.shape == (18, 2) and list(re.columns) == ["(Intercept)", "Days"]
    co = mc.coef(fm1)["Subject"]
    np.testing.assert_allclose(co.values, re.values + fm1.fixef().values[None, :])


def test_residual_types(fm1):
    r = fm1.residuals()
    np.testing.assert_allclose(r, fm1.frame.y - fm1.fitted())
    np.testing.assert_allclose(fm1.residuals(type="pearson"), r)     # no prior weights
    np.testing.assert_allclose(fm1.residuals(type="pearson", scaled=True), r / fm1.sigma())
    with pytest.raises(ValueError, match="deviance"):
        fm1.residuals(type="deviance")


def test_weighted_pearson_residuals():
    d = mc.datasets.load("sleepstudy")
    w = np.linspace(0.5, 2.0, len(d))
    m = mc.lmer("Reaction ~ Days + (1 | Subject)", d, weights=w)
    np.testing.assert_allclose(m.residuals(type="pearson"), m.residuals() * np.sqrt(w))


def test_statsmodels_style_attributes(fm1):
    np.testing.assert_allclose(fm1.bse.values, np.sqrt(np.diag(fm1.vcov().values)))
    np.testing.assert_allclose(fm1.tvalues.values, fm1.params.values / fm1.bse.values)
    assert fm1.llf == float(fm1.logLik()) and fm1.aic == fm1.AIC() and fm1.bic == fm1.BIC()


def test_optimiser_stopping_early_warns():
    d = mc.datasets.load("sleepstudy")
    with pytest.warns(mc.ConvergenceWarning, match="maxeval"):
        m = mc.lmer("Reaction ~ Days + (Days | Subject)", d, control={"maxeval": 5})
    assert m.optinfo["conv_code"] != 0


def test_singular_fit_warns_and_is_flagged():
    with pytest.warns(mc.SingularFitWarning, match="boundary \\(singular\\) fit"):
        m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff2"))
    assert mc.isSingular(m) and m.getME("theta").iloc[0] == 0.0


def test_regular_fit_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))


def test_fit_at_fixed_theta_equals_devfun(fm1):
    theta = np.array([1.0, 0.0, 1.0])
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"),
                control={"optimizer": None, "start": theta})
    assert m.REMLcrit() == pytest.approx(fm1.devfun(theta), rel=TOL["same_computation"]["rtol"])
    np.testing.assert_array_equal(m.getME("theta").values, theta)


def test_fit_is_immutable(fm1):
    with pytest.raises(AttributeError, match="immutable"):
        fm1.REML = False
    with pytest.raises(ValueError):
        fm1.theta[0] = 2.0
    fe = fm1.fixef()
    fe.iloc[0] = 0.0
    assert fm1.fixef().iloc[0] != 0.0


def test_generic_names_are_not_shadowed_by_modules(fm1):
    """Importing a submodule must not replace a generic of the same name (mc.predict, mc.summary...)."""
    fm1.predict()
    fm1.summary()
    for name in ["predict", "simulate", "refit", "update", "summary", "ranef", "coef", "VarCorr"]:
        assert callable(getattr(mc, name)) and not isinstance(getattr(mc, name), type(mc)), name
    np.testing.assert_allclose(mc.predict(fm1), fm1.fitted())


# ------------------------------------------------------------------------------------------------
# one shape for the fit types (mixedcompat.model.MixedModel)


@pytest.fixture(scope="module")
def ortho_lme():
    return mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")


def test_fit_types_share_the_base_and_its_criteria(fm1, ortho_lme):
    from mixedcompat.model import MixedModel
    for m in (fm1, ortho_lme):
        assert isinstance(m, MixedModel) and isinstance(m, mc.MixedModel)
        assert type(m).AIC is MixedModel.AIC and type(m).BIC is MixedModel.BIC    # one home for AIC / BIC
        ll = m.logLik()
        assert m.AIC() == pytest.approx(-2 * float(ll) + 2 * ll.df, rel=TOL["aic_formula"]["rtol"])
        assert m.nobs == m.nobs() == mc.nobs(m) and isinstance(m.nobs, int)
    # nlme's BIC counts N - p observations under REML, lme4's N
    ll = ortho_lme.logLik()
    n_bic = ortho_lme.nobs() - len(ortho_lme.fixef())
    assert ortho_lme.BIC() == pytest.approx(-2 * float(ll) + np.log(n_bic) * ll.df, rel=TOL["aic_formula"]["rtol"])
    assert fm1.BIC() == pytest.approx(-2 * float(fm1.logLik()) + np.log(180) * fm1.logLik().df,
                                     rel=TOL["aic_formula"]["rtol"])


def test_nlme_fit_is_frozen_with_public_components(ortho_lme):
    with pytest.raises(AttributeError, match="immutable"):
        ortho_lme.method = "ML"
    with pytest.raises(AttributeError, match="immutable"):
        ortho_lme.opt = None
    assert ortho_lme.frame is ortho_lme.setup.frame
    assert list(ortho_lme.frame.x_names) == list(ortho_lme.fixef().index)
    assert ortho_lme.control == {} and ortho_lme.call["fixed"] == "distance ~ age"
    first = ortho_lme.apVar                     # computed on first use, then the same object
    assert ortho_lme.apVar is first


def test_refit_and_update_live_with_the_fit_they_build(fm1, ortho_lme):
    from mixedcompat.lme4 import fit as lme4_fit
    from mixedcompat.nlme import fit as nlme_fit
    assert mc.update(fm1, REML=False).REML is False and isinstance(lme4_fit.update(fm1, REML=False), mc.LmerMod)
    assert isinstance(lme4_fit.refit(fm1, fm1.frame.y), mc.LmerMod)
    ml = ortho_lme.update(method="ML")
    assert isinstance(ml, nlme_fit.NlmeFit) and ml.method == "ML" and ortho_lme.method == "REML"
    # nlme has no refit / simulate of an lme fit: the generics say so, as for any object without them
    for generic in (mc.refit, mc.simulate):
        with pytest.raises(TypeError, match="does not apply to an object of type NlmeFit"):
            generic(ortho_lme, ortho_lme.fitted())


def test_anova_generic_dispatches_on_the_fit_class(fm1, ortho_lme):
    import mixedcompat.inference as inference
    assert inference.anova is mc.anova
    assert list(mc.anova(fm1).columns)[-1] == "Pr(>F)"                      # lmerTest's F table
    assert "L.Ratio" in mc.anova(ortho_lme, ortho_lme.update(random="~ age | Subject")).columns   # nlme's LRT
    assert "F-value" in mc.anova(ortho_lme).columns                          # nlme's F table
    with pytest.raises(TypeError, match="at least one fitted model"):
        mc.anova()
    with pytest.raises(TypeError, match="does not apply"):
        mc.anova("not a model")


def test_package_init_defines_no_logic():
    """``mixedcompat/__init__.py`` re-exports: every public function / class is defined in another module."""
    import inspect
    for name in mc.__all__:
        obj = getattr(mc, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__module__ != "mixedcompat", name
