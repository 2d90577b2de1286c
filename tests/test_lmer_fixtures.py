"""lmer fits against lme4's stored results (tests/fixtures/lmer/*.json, written by generate_fixtures.R)."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import (TOL, assert_close, assert_same_printout, check_criterion, fit_fixture,
                      fixture_model_to_compare, fixture_paths, theta_gap, theta_parted)

PATHS = fixture_paths("lmer")
IDS = [p.stem for p in PATHS]


def test_fixture_suite_is_complete():
    assert len(PATHS) >= 25, f"only {len(PATHS)} lmer fixtures in tests/fixtures/lmer"


def _model_to_compare(path):
    """(fixture, model) downstream of theta: helpers' optimum rule (R's theta when the optimisers parted)."""
    return fixture_model_to_compare(path)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_criterion_and_likelihood(path):
    fx, m, _, _ = fit_fixture(path)
    e = fx["expected"]
    check_criterion(m.REMLcrit(), e["criterion"], f"{path.stem}: criterion")
    _, m = _model_to_compare(path)      # logLik, AIC, BIC: of the model at R's theta if the paths parted
    assert_close(float(m.logLik()), e["logLik"], "logLik", **TOL["logLik"])
    assert m.logLik().df == e["logLik_df"]
    assert_close(m.AIC(), e["AIC"], "AIC", **TOL["AIC"])
    assert_close(m.BIC(), e["BIC"], "BIC", **TOL["BIC"])
    assert m.nobs() == e["nobs"]
    assert m.df_residual == e["df_residual"]
    assert m.ngrps() == e["ngrps"]
    assert list(m.ngrps()) == list(e["ngrps"])
    if e["REML"]:
        assert_close(m.REMLcrit(), e["REMLcrit"], "REMLcrit", **TOL["criterion"])
    else:
        assert_close(m.deviance(), e["deviance"], "deviance", **TOL["criterion"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_objective_at_fixed_theta(path):
    fx, m, _, _ = fit_fixture(path)
    for point in fx["expected"]["objective_at"]:
        theta = np.asarray(point["theta"], dtype=float)
        assert_close(m.devfun(theta), point["value"], f"objective at theta={theta.tolist()}",
                     **TOL["objective_at"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_theta(path):
    """Theta where it is determined: our path is lme4's (theta to 1e-6).  When the optimisers parted on
    a flat criterion (helpers' optimum rule) theta is not determined beyond the valley: the gap is reported,
    the criterion is checked (test_criterion_and_likelihood) and isSingular is R's at R's theta."""
    fx, m, _, _ = fit_fixture(path)
    e = fx["expected"]
    theta = m.getME("theta")
    assert list(theta.index) == e["theta_names"]
    lower = [-np.inf if v is None else v for v in e["lower"]]
    assert_close(m.getME("lower"), np.array(lower, dtype=float), "lower")
    if theta_parted(theta.values, e["theta"]):
        print(f"{path.stem}: optimiser path parted from lme4's: criterion ours - R's "
              f"{m.REMLcrit() - e['criterion']:.3g}, theta gap {theta_gap(theta.values, e['theta']):.3g}")
    else:
        assert_close(theta.values, e["theta"], "theta", **TOL["theta"])
    _, at_r = _model_to_compare(path)
    assert at_r.isSingular() == e["isSingular"]


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_variance_components(path):
    fx, m = _model_to_compare(path)
    e = fx["expected"]
    assert_close(m.sigma(), e["sigma"], "sigma", **TOL["sigma"])
    vc = m.VarCorr().to_frame()
    rows = e["varcorr"]
    assert list(vc["grp"]) == [r["grp"] for r in rows]
    assert [None if v is None or v != v else v for v in vc["var1"]] == [r["var1"] for r in rows]
    assert [None if v is None or v != v else v for v in vc["var2"]] == [r["var2"] for r in rows]
    scale = max(abs(r["vcov"]) for r in rows)
    assert_close(vc["vcov"], [r["vcov"] for r in rows], "VarCorr vcov", rtol=TOL["varcorr"]["rtol"],
                 atol=TOL["varcorr"]["atol"] * scale)
    assert_close(vc["sdcor"], [r["sdcor"] for r in rows], "VarCorr sdcor", **TOL["varcorr"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fixed_effects(path):
    fx, m = _model_to_compare(path)
    e = fx["expected"]
    fe = m.fixef()
    assert list(fe.index) == e["fixef"]["names"]
    se = np.asarray(e["se"], dtype=float)
    assert_close(fe.values, e["fixef"]["values"], "fixef", rtol=TOL["fixef"]["rtol"],
                 atol=TOL["fixef_floor"]["atol"] * se.min())
    assert_close(m.bse.values, se, "standard errors", **TOL["se"])
    V = np.asarray(e["vcov"], dtype=float).reshape(len(se), len(se))
    rtol = 2 * TOL["se"]["rtol"]
    assert_close(m.vcov().values, V, "vcov", rtol=rtol, atol=rtol * np.outer(se, se))


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_random_effects(path):
    fx, m = _model_to_compare(path)
    e = fx["expected"]
    ours = m.ranef()
    assert list(ours) == list(e["ranef"])
    sd_by_group = {}
    for r in e["varcorr"]:
        if r["var2"] is None and r["grp"] != "Residual":
            sd_by_group[r["grp"]] = max(sd_by_group.get(r["grp"], 0.0), r["sdcor"])
    for g, spec in e["ranef"].items():
        df = ours[g]
        assert list(df.index) == spec["levels"], f"ranef levels of {g}"
        assert list(df.columns) == spec["columns"], f"ranef columns of {g}"
        vals = np.asarray(spec["values"], dtype=float).reshape(len(spec["levels"]), len(spec["columns"]))
        scale = sd_by_group.get(g, 1.0) or 1.0
        assert_close(df.values, vals, f"ranef {g}", rtol=TOL["ranef"]["rtol"], atol=TOL["ranef_floor"]["atol"] * scale)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_fitted_and_rows_used(path):
    fx, m = _model_to_compare(path)
    e = fx["expected"]
    k = e["n_stored"]
    assert list(m.frame.rows[:k]) == e["rows_used"]
    ysd = float(np.std(m.frame.y))
    tol = TOL["fitted"]["rtol"]
    assert_close(m.fitted()[:k], e["fitted"], "fitted", rtol=tol, atol=tol * ysd)
    assert_close(m.residuals()[:k], e["residuals"], "residuals", atol=10 * tol * ysd)
    assert_close(m.residuals(type="pearson", scaled=True)[:k], e["residuals_pearson_scaled"],
                 "scaled Pearson residuals", **TOL["pearson_residuals"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_messages_and_warnings(path):
    import mixedcompat as mc
    fx, m, messages, categories = fit_fixture(path)
    e = fx["expected"]
    r_text = " ".join(e["messages"] + e["warnings"])
    if "rank deficient" in r_text:
        assert mc.RankDeficiencyWarning in categories
        assert any("fixed-effect model matrix is rank deficient so dropping" in s for s in messages)
    else:
        assert mc.RankDeficiencyWarning not in categories
    if e["isSingular"]:
        assert mc.SingularFitWarning in categories
        assert "boundary (singular) fit: see help('isSingular')" in m.optinfo["messages"]
    else:
        assert mc.SingularFitWarning not in categories


def _same_lines(ours: str, theirs: str, what: str) -> None:
    # one rounding tie allowed: a value on a tie (``1527.5`` printed with 4 digits) rounds either way
    # with a difference in the 16th digit between our arithmetic and R's
    assert_same_printout(ours, theirs, what, ties=1)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_printed_summary_of_the_fit(path):
    import mixedcompat as mc
    fx, m = _model_to_compare(path)
    e = fx["expected"]
    _same_lines(str(mc.summary(m)), e["summary_text"], "summary(m)")
    _same_lines(str(m), e["print_text"], "print(m)")
    _same_lines(str(mc.VarCorr(m)), e["varcorr_text"], "print(VarCorr(m))")


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_coef_per_level(path):
    fx, m = _model_to_compare(path)
    e = fx["expected"]
    ours = m.coef()
    assert list(ours) == list(e["coef"])
    for g, spec in e["coef"].items():
        df = ours[g]
        assert list(df.index) == spec["levels"]
        assert list(df.columns) == spec["columns"]
        vals = np.asarray(spec["values"], dtype=float).reshape(len(spec["levels"]), len(spec["columns"]))
        scale = np.maximum(np.abs(vals).max(axis=0), 1e-8)
        assert_close(df.values / scale, vals / scale, f"coef {g}", **TOL["coef_scaled"])


@pytest.mark.parametrize("rest", ["auto", "sparse"])
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_blocked_and_dense_factorisations_agree(path, rest, monkeypatch):
    """Both PLS implementations (dense for small q, blocked for large q) on every fixture model:
    R's criterion at fixed theta, and the same beta and u; the blocked one also with the later
    blocks' Schur complement factorised sparse whatever its size and density."""
    from mixedcompat.lme4 import schur
    from mixedcompat.lme4.pls import DenseDeviance, Deviance
    if rest == "sparse":
        monkeypatch.setattr(schur, "DENSE_REST_MAX", 0)
        monkeypatch.setattr(schur, "SPARSE_MAX_ROW_NNZ", float("inf"))
    fx, m, _, _ = fit_fixture(path)
    f = m.frame
    args = (m.terms, f.X, f.y, f.weights, f.offset, m.REML)
    blocked = Deviance(*args)
    dense = DenseDeviance(*args) if sum(t.n_levels * t.q for t in m.terms) <= 3000 else None
    for point in fx["expected"]["objective_at"]:
        theta = np.asarray(point["theta"], dtype=float)
        assert_close(blocked(theta), point["value"], "blocked criterion", **TOL["objective_at"])
        if dense is not None:
            assert_close(dense(theta), point["value"], "dense criterion", **TOL["objective_at"])
    if dense is not None:
        fb, fd = blocked.factor(m.theta), dense.factor(m.theta)
        beta_b, u_b = blocked.solve(fb)
        beta_d, u_d = dense.solve(fd)
        assert_close(beta_b, beta_d, "beta", rtol=TOL["dense_blocked_beta"]["rtol"],
                     atol=TOL["dense_blocked_beta"]["atol"] * np.abs(beta_d).max())
        for ub, ud in zip(u_b, u_d):
            assert_close(ub, ud, "u", rtol=TOL["dense_blocked_u"]["rtol"],
                         atol=TOL["dense_blocked_u"]["atol"] * max(1.0, np.abs(ud).max()))
        assert_close(blocked.beta_vcov_unscaled(fb), dense.beta_vcov_unscaled(fd), "vcov", **TOL["dense_blocked_vcov"])
