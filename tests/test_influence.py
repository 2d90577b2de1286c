"""lme4's ``influence.merMod`` (case / group deletion) and its ``cooks.distance``, ``dfbeta`` and
``dfbetas`` methods against lme4 1.1-31 (fixtures from tests/fixtures/gen_allfit.R).

Each refit's criterion is at most R's (+ TOL["criterion_above"]) and our influence object holds our
refits; the estimates are then compared at R's own theta of each refit (our model evaluated there),
and so are the derived cooks.distance / dfbeta / dfbetas.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.lme4.influence import InfluenceMerMod, _vc_components
from helpers import FIXTURES, TOL, assert_close, check_criterion, fixture_paths, load_fixture, theta_parted

INFLUENCE = [p for p in fixture_paths("allfit") if p.stem.startswith("influence_")]
_CACHE: dict = {}


def _model_and_influence(path):
    if path not in _CACHE:
        fx = load_fixture(path)
        inp = fx["input"]
        d = mc.datasets.load(inp["data"])
        m = mc.lmer(inp["formula"], d, REML=inp["REML"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            infl = mc.influence(m, groups=fx["groups"])
        _CACHE[path] = (fx, d, m, infl)
    return _CACHE[path]


def _units(d: pd.DataFrame, groups: str | None) -> np.ndarray:
    if groups is None:
        return np.array([str(i + 1) for i in range(len(d))], dtype=object)
    return d[groups].astype(str).to_numpy(dtype=object)


def _at_r_theta(path) -> InfluenceMerMod:
    """Our influence object with every refit replaced by our model evaluated at R's theta of that
    refit (lmerControl(optimizer = NULL): theta within theta_same_path still moves the variance
    components by ~1e-6, which dfbeta's differences would magnify), and the full fit's components R's."""
    fx, d, m, infl = _model_and_influence(path)
    units = _units(d, fx["groups"])
    fe, vc = infl.fixed_effects_deleted.copy(), infl.var_cov_comps_deleted.copy()
    vcovs = dict(infl.vcov_deleted)
    for unit, ref in zip(infl.deleted, fx["refits"]):
        th = np.asarray(ref["theta"], dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            at = m.update(data=d, subset=units != unit, control={"optimizer": None, "start": th.tolist()})
        fe.loc[unit] = np.asarray(at.fixef(), dtype=float)
        vc.loc[unit] = _vc_components(at)[1]
        vcovs[unit] = pd.DataFrame(np.asarray(at.vcov(), dtype=float), index=fe.columns, columns=fe.columns)
    # the full fit's components at R's optimum too (compared on their own in test_components_and_names_as_r)
    c = fx["components"]
    full = dict(fixed_effects=pd.Series(list(c["fixed.effects"].values()), index=infl.fixed_effects.index),
                var_cov_comps=pd.Series(c["var.cov.comps"]["values"], index=infl.var_cov_comps.index),
                vcov=pd.DataFrame(c["vcov"]["values"], index=infl.vcov.index, columns=infl.vcov.columns))
    return dataclasses.replace(infl, fixed_effects_deleted=fe, var_cov_comps_deleted=vc, vcov_deleted=vcovs, **full)


@pytest.mark.parametrize("path", INFLUENCE, ids=[p.stem for p in INFLUENCE])
def test_components_and_names_as_r(path):
    fx, d, m, infl = _model_and_influence(path)
    c = fx["components"]
    assert infl.names() == c["names"]
    assert infl.groups == c["groups"]
    assert infl.deleted == c["deleted"]
    assert list(infl.fixed_effects_deleted.index) == c["fixed.effects[-g]"]["rownames"]
    assert list(infl.fixed_effects_deleted.columns) == c["fixed.effects[-g]"]["colnames"]
    assert list(infl.var_cov_comps.index) == c["var.cov.comps"]["names"]
    assert list(infl.var_cov_comps_deleted.columns) == c["var.cov.comps[-g]"]["colnames"]
    assert list(infl.vcov_deleted) == c["deleted"]
    assert infl.converged.tolist() == c["converged"]
    assert_close(infl.fixed_effects.to_numpy(), list(c["fixed.effects"].values()), "fixed.effects", **TOL["fixef"])
    assert_close(infl.var_cov_comps.to_numpy(), c["var.cov.comps"]["values"], "var.cov.comps", **TOL["varcorr"])
    assert_close(infl.vcov.to_numpy(), c["vcov"]["values"], "vcov", **TOL["vcov"])
    assert infl["fixed.effects[-" + c["groups"] + "]"] is infl.fixed_effects_deleted
    with pytest.raises(KeyError, match="components are"):
        infl["fixed.effects[-nothing]"]


@pytest.mark.parametrize("path", INFLUENCE, ids=[p.stem for p in INFLUENCE])
def test_each_refit_reaches_r(path):
    """Every deletion refit: criterion at most R's; the evaluations R's where the path is R's."""
    fx, d, m, infl = _model_and_influence(path)
    units = _units(d, fx["groups"])
    c = fx["components"]
    for k, (unit, ref) in enumerate(zip(infl.deleted, fx["refits"])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = m.update(data=d, subset=units != unit, control={"start": np.asarray(m.theta)})
        check_criterion(ours.REMLcrit() if ours.REML else ours.deviance(), ref["criterion"], f"{path.stem} -{unit}")
        assert_close(infl.fixed_effects_deleted.loc[unit].to_numpy(), ours.fixef().to_numpy(), "refit", rtol=0.0)
        assert_close(infl.theta_deleted.loc[unit].to_numpy(), ours.theta, "refit theta", rtol=0.0)
        if not theta_parted(ours.theta, ref["theta"]) and not ours.optinfo.get("polished"):
            assert abs(infl.function_evals.iloc[k] - c["function.evals"][k]) <= 1, unit


@pytest.mark.parametrize("path", INFLUENCE, ids=[p.stem for p in INFLUENCE])
def test_deleted_estimates_at_r_theta(path):
    fx = load_fixture(path)
    c = fx["components"]
    infl = _at_r_theta(path)
    tol = TOL["influence_at_r_theta"]
    assert_close(infl.fixed_effects_deleted.to_numpy(), c["fixed.effects[-g]"]["values"], "fixed.effects[-g]", **tol)
    assert_close(infl.var_cov_comps_deleted.to_numpy(), c["var.cov.comps[-g]"]["values"], "var.cov.comps[-g]",
                 **tol)
    assert list(c["vcov[-g]"]) == infl.deleted
    for unit, r in c["vcov[-g]"].items():
        assert_close(infl.vcov_deleted[unit].to_numpy(), r["values"], f"vcov[-{unit}]", **tol)
    assert_close(infl.dfbeta().to_numpy(), fx["dfbeta"]["values"], "dfbeta", **tol)
    assert_close(infl.dfbeta("var.cov").to_numpy(), fx["dfbeta_var_cov"]["values"], "dfbeta var.cov", **tol)
    cd = mc.cooks_distance(infl)
    assert_close(cd.to_numpy(), fx["cooks_distance"], "cooks.distance", **tol)
    if fx["cooks_distance_names"] is None:
        assert isinstance(cd.index, pd.RangeIndex)      # lme4 names only a case deletion's
    else:
        assert list(cd.index) == fx["cooks_distance_names"]
    if fx["dfbetas"] is not None:
        assert_close(mc.dfbetas(infl).to_numpy(), fx["dfbetas"]["values"], "dfbetas", **tol)
    else:
        with pytest.raises(mc.DataError, match=fx["dfbetas_error"]):
            mc.dfbetas(infl)
        db = infl.dfbetas(match_r=False)
        se = np.array([np.sqrt(np.diag(infl.vcov_deleted[u].to_numpy())) for u in infl.deleted])
        assert_close(db.to_numpy(), infl.dfbeta().to_numpy() / se, "dfbetas (match_r=False)", rtol=1e-12)


def test_cooks_distance_of_fit_and_of_influence_differ():
    """lme4's cooks.distance on a fit is the one-step formula; on an influence object, the refits'."""
    path = next(p for p in INFLUENCE if "sleepstudy" in p.stem)
    fx, d, m, infl = _model_and_influence(path)
    assert len(mc.cooks_distance(m)) == 180 and len(mc.cooks_distance(infl)) == 18


def test_unknown_group_is_named():
    r_error = load_fixture(FIXTURES / "allfit" / "errors.json")["errors"]["influence_unknown_group"]
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    with pytest.raises(mc.DataError, match=f"{r_error}: groups 'Patient' is not a column"):
        mc.influence(m, groups="Patient")


def test_influence_bad_input():
    m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    with pytest.raises(TypeError, match="influence"):
        mc.influence("m")
    with pytest.raises(TypeError, match="dfbeta"):
        mc.dfbeta(m)
    infl_hat = mc.influence(m, do_coef=False)
    assert_close(infl_hat["hat"], mc.hatvalues(m), "hat", rtol=0.0)


def test_influence_several_groups_columns():
    """Several grouping columns: their combinations are the units (lme4 1.1-31 pastes every column
    of the row instead: a bug not reproduced, see the module docstring)."""
    d = mc.datasets.load("Pastes")
    m = mc.lmer("strength ~ 1 + (1 | batch) + (1 | sample)", d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infl = mc.influence(m, groups=["batch", "cask"])
    assert infl.groups == "batch.cask" and len(infl.deleted) == 30 and infl.deleted[0] == "A.a"


def test_influence_glmer_by_group():
    d = mc.datasets.load("cbpp")
    m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        infl = mc.influence(m, groups="herd")
        refit = m.update(data=d, subset=(d["herd"].astype(str) != infl.deleted[0]).to_numpy(),
                         start={"theta": np.asarray(m.theta), "fixef": np.asarray(m.fixef())})
    assert infl.var_cov_comps.index[0] == "sigma^2" and infl.var_cov_comps.iloc[0] == 1.0
    assert_close(infl.fixed_effects_deleted.iloc[0].to_numpy(), refit.fixef().to_numpy(), "glmer refit", rtol=0.0)
