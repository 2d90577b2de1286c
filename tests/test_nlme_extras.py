"""nlme extras against R (fixtures from tests/fixtures/gen_nlme_extras.R): anova(m, Terms =) and
anova(m, L =) of lme / gls fits, with nlme's errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import TOL, assert_close, assert_same_printout, fixture_paths, load_fixture, load_fixture_data

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
