"""lme4's inference functions given a fit they do not take (an nlme fit, a DataFrame): a TypeError that
names what they were given, not an AttributeError from deep inside."""
from __future__ import annotations

import pytest

import mixedcompat as mc


@pytest.fixture(scope="module")
def lme_fit():
    return mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")


@pytest.mark.parametrize("call,name", [
    (lambda m: mc.bootMer(m, mc.fixef, nsim=2, seed=1), "bootMer"),
    (lambda m: mc.profile(m), "profile"),
    (lambda m: mc.cross_validate(m, folds=3, seed=1), "cross_validate"),
])
def test_nlme_fit_is_named(lme_fit, call, name):
    with pytest.raises(TypeError, match=rf"{name}\(\) takes an lmer or glmer fit, not {type(lme_fit).__name__}"):
        call(lme_fit)


def test_dataframe_is_named():
    with pytest.raises(TypeError, match=r"bootMer\(\) takes an lmer or glmer fit, not DataFrame"):
        mc.bootMer(mc.datasets.load("sleepstudy"), mc.fixef, nsim=2)
