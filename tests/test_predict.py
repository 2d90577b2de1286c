"""predict / simulate / refit / update against R's golden masters (tests/fixtures/predict, gen_predict.R)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.datasets import read_csv_with_levels

from helpers import (FIXTURES, TOL, assert_close, check_criterion, fit_at_r_optimum, fixture_paths,
                     load_fixture, load_fixture_data, model_at_r_theta)

PATHS = fixture_paths("predict")
IDS = [p.stem for p in PATHS]
PRED_TOL = TOL["predict"]
_CACHE: dict = {}


def _fit(inp: dict, data: pd.DataFrame, theta=None):
    control = None if theta is None else {"optimizer": None, "start": theta}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer(inp["formula"], data, REML=inp["REML"], weights=inp.get("weights"),
                       offset=inp.get("offset"), control=control)


def model(path, optimised: bool = False):
    """(fixture, model, newdata).  The model's theta equals R's to 1e-6: our fit, or (when our optimiser
    stopped elsewhere) the fit evaluated at R's theta.  ``optimised=True``: always our own fit (refit and
    update inherit the control settings, so they must start from a normally optimised fit)."""
    key = (str(path), optimised)
    if key not in _CACHE:
        fx = load_fixture(path)
        data = load_fixture_data(fx["input"]["data"])
        m = _fit(fx["input"], data) if optimised else fit_at_r_optimum(fx["input"], data, fx["theta"])
        nd = read_csv_with_levels(FIXTURES / "predict" / "data" / f"{fx['newdata']}.csv")
        _CACHE[key] = (fx, m, nd)
    return _CACHE[key]


def _rows(nd: pd.DataFrame, rows) -> pd.DataFrame:
    return nd.iloc[list(rows)]


def _compare(ours, expected, what):
    if expected is None:
        pytest.skip(f"{what}: R itself fails on this call (see gen_predict.R)")
    assert_close(ours, np.array(expected, dtype=float), what, **PRED_TOL)


# ------------------------------------------------------------------------------------------------ predict


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_predict_training_rows(path):
    fx, m, _nd = model(path)
    _compare(mc.predict(m), fx["predict_train"], "predict(m)")
    _compare(mc.predict(m, re_form="NA"), fx["predict_train_na"], "predict(m, re.form = NA)")
    _compare(mc.predict(m, re_form="~0"), fx["predict_train_na"], "predict(m, re.form = ~0)")


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_predict_training_rows_subset(path):
    fx, m, _nd = model(path)
    _compare(mc.predict(m, re_form=fx["re_form_subset"]), fx["predict_train_subset"],
             f"predict(m, re.form = {fx['re_form_subset']})")


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_predict_newdata(path):
    fx, m, nd = model(path)
    known = _rows(nd, fx["rows_known"])
    _compare(mc.predict(m, known), fx["predict_new"], "predict(m, newdata)")
    _compare(mc.predict(m, nd, re_form="NA"), fx["predict_new_na"], "predict(m, newdata, re.form = NA)")
    _compare(mc.predict(m, nd, allow_new_levels=True), fx["predict_new_allow"],
             "predict(m, newdata, allow.new.levels = TRUE)")
    assert np.isnan(mc.predict(m, nd, allow_new_levels=True)).sum() == \
        sum(v is None for v in fx["predict_new_allow"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_predict_newdata_subset(path):
    fx, m, nd = model(path)
    _compare(mc.predict(m, _rows(nd, fx["rows_known"]), re_form=fx["re_form_subset"]),
             fx["predict_new_subset"], f"predict(m, newdata, re.form = {fx['re_form_subset']})")


def test_predict_matches_labels_not_positions():
    fx, m, nd = model(FIXTURES / "predict" / "sleepstudy_reml.json")
    known = _rows(nd, fx["rows_known"])
    shuffled = known.iloc[::-1].copy()
    shuffled["Subject"] = shuffled["Subject"].astype(str)          # plain strings, other level order
    assert_close(mc.predict(m, shuffled)[::-1], mc.predict(m, known), "label matching", **TOL["same_computation"])


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_new_levels_error(path):
    fx, m, nd = model(path)
    r_msg = fx["errors"]["new_levels"]
    with pytest.raises(mc.DataError) as err:
        mc.predict(m, _rows(nd, fx["rows_no_na_group"]))
    assert r_msg.startswith("new levels detected in newdata: ")
    assert str(err.value).startswith(r_msg), (str(err.value), r_msg)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_missing_grouping_value_error(path):
    fx, m, nd = model(path)
    r_msg = fx["errors"]["na_group"]
    with pytest.raises(mc.DataError) as err:
        mc.predict(m, nd)
    if r_msg.startswith("NAs are not allowed"):
        assert str(err.value).startswith(r_msg)
    # else: R pastes NA into an interaction label ("A:NA") and reports it as a new level


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_missing_column_error(path):
    fx, m, nd = model(path)
    col = fx["errors"]["missing_column"]["column"]
    assert fx["errors"]["missing_column"]["message"] is not None    # R fails too
    with pytest.raises((mc.FormulaError, mc.DataError)) as err:
        mc.predict(m, nd.drop(columns=[col]))
    assert repr(col) in str(err.value) or f"'{col}'" in str(err.value)
    # the grouping column is not needed for population predictions
    mc.predict(m, nd.drop(columns=[col]), re_form="NA")


def test_re_form_unknown_term_error():
    _fx, m, nd = model(FIXTURES / "predict" / "sleepstudy_reml.json")
    with pytest.raises(mc.FormulaError, match="'Foo'"):
        mc.predict(m, nd, re_form="~(1 | Foo)")
    with pytest.raises(mc.FormulaError, match="'x'"):
        mc.predict(m, re_form="~(0 + x | Subject)")
    with pytest.raises(mc.FormulaError, match="re_form"):
        mc.predict(m, re_form="(1 | Subject)")


# ------------------------------------------------------------------------------------------------ refit / update


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_refit(path):
    # Reference: lmer() in R on the data with the response replaced ("refit_lmer").  lme4 1.1-31's own
    # refit() agrees with it for ML fits but, for REML fits, reports and optimises a criterion with
    # log|R_X|^2 counted twice (REMLcrit(refit(m, y)) - REMLcrit(lmer(...)) == ldRX2); we do not copy that.
    fx, m, _nd = model(path, optimised=True)
    r = fx["refit_lmer"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = mc.refit(m, np.array(fx["refit"]["newresp"]))
    if not fx["input"]["REML"] and "error" not in fx["refit"]:
        check_criterion(m2.REMLcrit(), fx["refit"]["criterion"], "refit criterion vs R's refit()")
    check_criterion(m2.REMLcrit(), r["criterion"], "refit criterion")
    # the optimiser starts from the fitted theta (as lme4's refit), R's lmer() from lme4's start: on flat
    # criteria the two stop apart, and conftest's rule compares what follows at R's theta
    data = load_fixture_data(fx["input"]["data"])
    m2 = model_at_r_theta(m2, r["theta"], lambda control: mc.refit(_fit(fx["input"], data, control["start"]),
                                                                   np.array(fx["refit"]["newresp"])))
    assert list(m2.fixef().index) == r["fixef"]["names"]
    assert_close(m2.fixef().values, r["fixef"]["values"], "refit fixef", **TOL["refit_fixef"])


def test_refit_wrong_length():
    _fx, m, _nd = model(FIXTURES / "predict" / "sleepstudy_reml.json")
    with pytest.raises(mc.DataError, match=r"length 3 .*180 observations"):
        mc.refit(m, [1.0, 2.0, 3.0])


def test_refit_with_na_rows_uses_nobs():
    fx, m, _nd = model(FIXTURES / "predict" / "sim_na_weights.json", optimised=True)
    y = np.array(fx["refit"]["newresp"])
    assert len(y) == m.nobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = mc.refit(m, pd.Series(y))
        m3 = mc.refit(m, m.frame.y)        # the same response: the same fit
    assert np.all(np.isfinite(m2.fixef().values))
    assert_close(m3.REMLcrit(), m.REMLcrit(), "refit with the original response", **TOL["refit_criterion"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_update(path):
    fx, m, _nd = model(path, optimised=True)
    for u in fx["updates"]:
        kw = {} if u["REML_arg"] is None else {"REML": u["REML_arg"]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m2 = mc.update(m, u["formula_arg"], **kw)
        what = f"update(m, {u['formula_arg']}, {kw})"
        assert m2.formula == u["formula"], what
        assert m2.REML == u["REML"], what
        assert list(m2.fixef().index) == u["fixef"]["names"], what
        assert_close(m2.REMLcrit(), u["criterion"], what + " criterion", **TOL["criterion"])


def test_update_formula_syntax():
    from mixedcompat.front.terms import update_formula
    assert update_formula("y ~ x + offset(o) + (1|g)", ". ~ . - x") == "y ~ (1 | g) + offset(o)"
    assert update_formula("y ~ 0 + x + (1|g)", ". ~ . + z") == "y ~ x + (1 | g) + z - 1"
    assert update_formula("y ~ x + (1|g)", "~ . + z") == "y ~ x + (1 | g) + z"
    with pytest.raises(mc.FormulaError, match="no random-effects"):
        update_formula("y ~ x + (1|g)", ". ~ . - (1|g)")
    with pytest.raises(mc.FormulaError):
        update_formula("y ~ x + (1|g)", "x + z")


def test_update_bad_argument():
    _fx, m, _nd = model(FIXTURES / "predict" / "sleepstudy_reml.json")
    with pytest.raises(TypeError, match="REMLL"):
        mc.update(m, REMLL=False)


# ------------------------------------------------------------------------------------------------ simulate
# simulate() draws with numpy, so only its law can be checked: per row, the sample mean of nsim draws
# is within 5 standard errors (sqrt(var / nsim)) of the model's mean and the sample variance within
# 5 standard errors (var * sqrt(2 / (nsim - 1)), normal data) of the model's variance.  With ~200 rows
# a false alarm has probability < 1e-4.


def _implied_moments(m, use_u: bool, prior_weights: bool = True):
    if use_u:
        mean = m.fitted()
        zsz = np.zeros(m.nobs())
    else:
        mean = mc.predict(m, re_form="NA")
        Z = m.getME("Z").toarray()
        Lam = m.getME("Lambda").toarray()
        zsz = m.sigma() ** 2 * np.sum((Z @ Lam) ** 2, axis=1)
    w = m.frame.weights if (m.frame.weights is not None and prior_weights) else np.ones(m.nobs())
    return mean, zsz + m.sigma() ** 2 / w


@pytest.mark.parametrize("name", ["sleepstudy_reml", "sim_weights_offset_ml"])
@pytest.mark.parametrize("use_u", [False, True])
@pytest.mark.parametrize("prior_weights", [False, True])
def test_simulate_moments(name, use_u, prior_weights):
    """lme4 1.1-31's residuals have sd sigma whatever the prior weights (the default); prior_weights=True
    gives sigma / sqrt(w)."""
    _fx, m, _nd = model(FIXTURES / "predict" / f"{name}.json", optimised=True)
    nsim = 2000
    sims = mc.simulate(m, nsim=nsim, seed=42, use_u=use_u, prior_weights=prior_weights)
    assert list(sims.columns[:2]) == ["sim_1", "sim_2"] and sims.shape == (m.nobs(), nsim)
    assert sims.index.equals(m.frame.data.index)
    mean, var = _implied_moments(m, use_u, prior_weights)
    z_mean = (sims.mean(axis=1).to_numpy() - mean) / np.sqrt(var / nsim)
    z_var = (sims.var(axis=1, ddof=1).to_numpy() - var) / (var * np.sqrt(2 / (nsim - 1)))
    assert np.max(np.abs(z_mean)) < 5, np.max(np.abs(z_mean))
    assert np.max(np.abs(z_var)) < 5, np.max(np.abs(z_var))


def test_simulate_reproducible_and_newdata():
    fx, m, nd = model(FIXTURES / "predict" / "sleepstudy_reml.json")
    a, b = mc.simulate(m, 3, seed=7), mc.simulate(m, 3, seed=7)
    pd.testing.assert_frame_equal(a, b)
    known = _rows(nd, fx["rows_known"])
    s = mc.simulate(m, 2, seed=1, newdata=known)
    assert s.index.equals(known.index) and s.shape == (len(known), 2)
    s_u = mc.simulate(m, 1, seed=1, newdata=known, use_u=True)
    assert np.isnan(s_u["sim_1"].to_numpy()).sum() == np.isnan(mc.predict(m, known)).sum()


@pytest.mark.parametrize("nsim", [0, -1, 1.5, True])
def test_simulate_bad_nsim(nsim):
    _fx, m, _nd = model(FIXTURES / "predict" / "sleepstudy_reml.json")
    with pytest.raises(ValueError, match="nsim"):
        mc.simulate(m, nsim=nsim)


# ------------------------------------------------------------------------------------------------ live R

_R_PREDICT = r"""
function(d, nd, formula) {
    m <- suppressWarnings(suppressMessages(lmer(as.formula(formula), data = d)))
    list(theta = unname(getME(m, "theta")),
         pred = unname(predict(m, nd)),
         pred_na = unname(predict(m, nd, re.form = NA)),
         pred_allow = unname(predict(m, nd, allow.new.levels = TRUE)))
}
"""


_R_PREDICT_ALLOW = r"""
function(d, nd, formula) {
    m <- suppressWarnings(suppressMessages(lmer(as.formula(formula), data = d)))
    unname(predict(m, nd, allow.new.levels = TRUE))
}
"""


def _random_design(seed: int):
    rng = np.random.default_rng(seed)
    n, ng = 120, 12
    g = rng.integers(0, ng, n)
    h = rng.integers(0, 5, n)
    x = rng.normal(size=n)
    f = rng.choice(["lo", "mid", "hi"], n)
    y = 1 + 0.5 * x + (f == "hi") + rng.normal(size=ng)[g] + 0.3 * rng.normal(size=ng)[g] * x \
        + 0.5 * rng.normal(size=5)[h] + rng.normal(size=n)
    lev = [f"g{i:02d}" for i in range(ng)]
    d = pd.DataFrame({"y": y, "x": x, "f": pd.Categorical(f, categories=["hi", "lo", "mid"]),
                      "g": pd.Categorical([lev[i] for i in g], categories=lev),
                      "h": pd.Categorical([f"h{i}" for i in h], categories=[f"h{i}" for i in range(5)])})
    nd = d.iloc[rng.permutation(n)[:15]].copy()
    nd["x"] = nd["x"] + 0.7
    nd["g"] = pd.Categorical(nd["g"].astype(str).tolist()[:-1] + ["gNEW"], categories=lev[::-1] + ["gNEW"])
    nd["f"] = pd.Categorical(nd["f"].astype(str), categories=["mid", "lo", "hi"])
    return d, nd


@pytest.mark.r
@pytest.mark.parametrize("seed,formula", [(1, "y ~ x + f + (x | g)"), (2, "y ~ x * f + (1 | g) + (1 | h)")])
def test_live_r_predict(seed, formula):
    import rlive
    ro = rlive.robjects()
    d, nd = _random_design(seed)
    known = nd.iloc[:-1].copy()
    known["g"] = known["g"].cat.remove_unused_categories()   # R counts an unused new level as new
    out = ro.r(_R_PREDICT)(rlive.to_r_frame(d), rlive.to_r_frame(known), formula)
    res = dict(zip(out.names, [np.array(v, dtype=float) for v in out]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(formula, d, control={"optimizer": None, "start": res["theta"]})
    assert_close(mc.predict(m, known), res["pred"], "live predict", **PRED_TOL)
    assert_close(mc.predict(m, known, re_form="NA"), res["pred_na"], "live predict NA", **PRED_TOL)
    assert_close(mc.predict(m, known, allow_new_levels=True), res["pred_allow"], "live allow", **PRED_TOL)
    out2 = ro.r(_R_PREDICT_ALLOW)(rlive.to_r_frame(d), rlive.to_r_frame(nd), formula)
    assert_close(mc.predict(m, nd, allow_new_levels=True), np.array(out2, dtype=float), "live allow.new.levels",
                 **PRED_TOL)


@pytest.mark.r
def test_simulate_ignores_prior_weights_as_lme4():
    """lme4 1.1-31's simulate of a weighted lmer fit: per-row variances (of many of R's own draws, with
    use.u = TRUE) match sigma^2, not sigma^2 / w: our default; prior_weights=True is the other law."""
    import rlive
    fx, m, _nd = model(FIXTURES / "predict" / "sim_weights_offset_ml.json", optimised=True)
    ro = rlive.robjects()
    d = load_fixture_data(fx["input"]["data"])
    nsim = 2000
    fn = ro.r("""function(d, formula, REML, nsim) {
        set.seed(1)
        m <- lme4::lmer(as.formula(formula), d, REML = REML, weights = w, offset = off)
        s <- as.matrix(simulate(m, nsim = nsim, use.u = TRUE))
        list(var = apply(s, 1, var), sigma = sigma(m))}""")
    inp = fx["input"]
    r = rlive._py(fn(rlive.to_r_frame(d), inp["formula"], inp["REML"], nsim))
    r_var = np.asarray(r["var"], dtype=float)
    _mean, var_r_law = _implied_moments(m, True, prior_weights=False)
    _mean, var_w_law = _implied_moments(m, True, prior_weights=True)
    z = (r_var - var_r_law) / (var_r_law * np.sqrt(2 / (nsim - 1)))
    assert np.max(np.abs(z)) < 5, np.max(np.abs(z))
    z_w = (r_var - var_w_law) / (var_w_law * np.sqrt(2 / (nsim - 1)))
    assert np.max(np.abs(z_w)) > 5                       # the weighted law is not R's
