"""Bad input to mc.lme / mc.gls: clear errors naming the culprit (issue 5, item 7)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.errors import DataError, FormulaError
from helpers import TOL


@pytest.fixture(scope="module")
def panel():
    rng = np.random.default_rng(5)
    g = np.repeat(["a", "b", "c", "d"], 6)
    t = np.tile(np.arange(1, 7), 4)
    return pd.DataFrame({"y": rng.normal(size=24), "x": rng.normal(size=24), "t": t.astype(float),
                         "g": g, "s": np.where(np.arange(24) < 23, "u", "v"),
                         "lon": rng.uniform(size=24), "lat": rng.uniform(size=24)})


def test_non_integer_ar1_covariate(panel):
    d = panel.assign(t=panel["t"] + 0.5 * (panel.index % 2))
    with pytest.raises(DataError, match="t"):
        mc.lme("y ~ x", d, random="~ 1 | g", correlation=mc.corAR1(form="~ t | g"))


def test_non_integer_arma_covariate(panel):
    d = panel.assign(t=panel["t"] / 3)
    with pytest.raises(DataError, match="integer"):
        mc.gls("y ~ x", d, correlation=mc.corARMA(form="~ t | g", p=1, q=1))


def test_duplicated_positions_within_group(panel):
    d = panel.copy()
    d.loc[1, "t"] = d.loc[0, "t"]
    with pytest.raises(DataError, match="t"):
        mc.lme("y ~ x", d, random="~ 1 | g", correlation=mc.corAR1(form="~ t | g"))


def test_varident_stratum_with_one_observation(panel):
    with pytest.raises(DataError, match="v"):
        mc.lme("y ~ x", panel, random="~ 1 | g", weights=mc.varIdent(form="~ 1 | s"))


def test_spatial_zero_distance_without_nugget(panel):
    d = panel.copy()
    d.loc[1, ["lon", "lat"]] = d.loc[0, ["lon", "lat"]].to_numpy()
    with pytest.raises(DataError, match="zero distance"):
        mc.gls("y ~ x", d, correlation=mc.corExp(form="~ lon + lat | g"))


def test_random_without_grouping(panel):
    with pytest.raises(FormulaError, match="grouping"):
        mc.lme("y ~ x", panel, random="~ 1")


def test_unknown_grouping_column(panel):
    with pytest.raises((FormulaError, DataError), match="nosuch"):
        mc.lme("y ~ x", panel, random="~ 1 | nosuch")


def test_unknown_correlation_column(panel):
    with pytest.raises((FormulaError, DataError), match="nosuch"):
        mc.lme("y ~ x", panel, random="~ 1 | g", correlation=mc.corAR1(form="~ nosuch | g"))


def test_correlation_groups_not_nested(panel):
    d = panel.assign(h=np.tile(["p", "q"], 12))
    with pytest.raises(FormulaError, match="nested"):
        mc.lme("y ~ x", d, random="~ 1 | g", correlation=mc.corCompSymm(form="~ 1 | h"))


def test_weights_must_be_a_variance_function(panel):
    with pytest.raises(FormulaError, match="variance function"):
        mc.lme("y ~ x", panel, random="~ 1 | g", weights="x")


def test_bad_method(panel):
    with pytest.raises(DataError, match="method"):
        mc.gls("y ~ x", panel, method="OLS")


def test_random_effects_in_fixed_formula(panel):
    with pytest.raises(FormulaError, match="random"):
        mc.lme("y ~ x + (1 | g)", panel, random="~ 1 | g")


def test_level_out_of_range(panel):
    m = mc.lme("y ~ x", panel, random="~ 1 | g")
    with pytest.raises(DataError, match="level"):
        m.fitted(level=2)


def test_interval_level_outside_unit_interval(panel):
    m = mc.lme("y ~ x", panel, random="~ 1 | g")
    with pytest.raises(DataError, match="level"):
        mc.intervals(m, level=1.5)


def test_residual_type(panel):
    m = mc.gls("y ~ x", panel)
    with pytest.raises(DataError, match="residual type"):
        m.residuals(type="studentized")


def test_missing_values_in_correlation_covariate_are_dropped_or_refused(panel):
    d = panel.copy()
    d.loc[3, "t"] = np.nan
    m = mc.lme("y ~ x", d, random="~ 1 | g", correlation=mc.corAR1(form="~ t | g"))
    assert m.nobs() == 23
    with pytest.raises(DataError, match="t"):
        mc.lme("y ~ x", d, random="~ 1 | g", correlation=mc.corAR1(form="~ t | g"), na_action="fail")


def test_coarser_correlation_groups_are_replaced_with_a_warning():
    """nlme: corAR1(form = ~ 1 | Worker) with random = ~ 1 | Worker/Machine warns and uses Worker/Machine."""
    d = mc.datasets.load("Machines")
    with pytest.warns(UserWarning, match="smaller level of grouping"):
        m = mc.lme("score ~ Machine", d, random="~ 1 | Worker/Machine", correlation=mc.corAR1(form="~ 1 | Worker"))
    ref = mc.lme("score ~ Machine", d, random="~ 1 | Worker/Machine", correlation=mc.corAR1())
    assert float(m.logLik()) == pytest.approx(float(ref.logLik()), rel=TOL["same_fit"]["rtol"])


def test_update_refits_with_changed_arguments():
    d = mc.datasets.load("Orthodont")
    m = mc.lme("distance ~ age * Sex", d, random="~ 1 | Subject")
    m2 = m.update(". ~ . - age:Sex", method="ML", correlation=mc.corAR1())
    ref = mc.lme("distance ~ age + Sex", d, random="~ 1 | Subject", method="ML", correlation=mc.corAR1())
    assert m2.x_names == ref.x_names and m2.method == "ML"
    assert float(m2.logLik()) == pytest.approx(float(ref.logLik()), rel=TOL["same_fit"]["rtol"])
    assert m2.update(correlation=None).cor_params is None
    with pytest.raises(DataError, match="nosuch"):
        m.update(nosuch=1)


def test_ranef_condvar_is_lme4s(panel):
    m = mc.lme("y ~ x", panel, random="~ 1 | g")
    assert list(mc.ranef(m)) == ["g"]
    with pytest.raises(DataError, match="condVar"):
        mc.ranef(m, condVar=True)
