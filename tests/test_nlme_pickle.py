"""lme / gls fits and their result objects pickle and round-trip (issue 9, "Results that travel").

Bound correlation structures and variance functions hold closures over the data; they pickle as
their unbound specification plus the rows they were bound to and bind again when unpickled.  One
test per correlation structure, variance function and pdMat class, one per result object, and
one parallel use (fits sent to and from worker processes, as joblib does).
"""
from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc

from helpers import TOL


def _panel(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(9):
        for t in range(1, 6):
            rows.append((f"g{g}", t))
    d = pd.DataFrame(rows, columns=["g", "t"])
    n = len(d)
    d["tc"] = d["t"] * 0.7 + rng.uniform(0, 0.3, n)
    d["sx"] = rng.uniform(0, 10, n).round(3)
    d["sy"] = rng.uniform(0, 10, n).round(3)
    d["x"] = rng.normal(size=n)
    d["v"] = rng.uniform(0.5, 3, n)
    d["s"] = pd.Categorical(np.tile(["a", "b", "c"], n // 3))
    gi = d["g"].str[1:].astype(int).to_numpy()
    d["y"] = 5 + d["x"] + rng.normal(0, 1, 9)[gi] + rng.normal(size=n) * np.sqrt(d["v"])
    d["g"] = pd.Categorical(d["g"])
    return d


DATA = _panel()

CORSTRUCTS = {
    "corAR1": lambda: mc.corAR1(form="~ t | g"),
    "corCAR1": lambda: mc.corCAR1(form="~ tc | g"),
    "corARMA": lambda: mc.corARMA(form="~ t | g", p=1, q=1),
    "corCompSymm": lambda: mc.corCompSymm(form="~ 1 | g"),
    "corSymm": lambda: mc.corSymm(form="~ t | g"),
    "corExp": lambda: mc.corExp(form="~ sx + sy | g", nugget=True),
    "corGaus": lambda: mc.corGaus(form="~ sx + sy | g"),
    "corSpher": lambda: mc.corSpher(form="~ sx + sy | g"),
    "corLin": lambda: mc.corLin(form="~ sx + sy | g"),
    "corRatio": lambda: mc.corRatio(form="~ sx + sy | g", nugget=True),
}
VARFUNCS = {
    "varIdent": lambda: mc.varIdent(form="~ 1 | s"),
    "varPower": lambda: mc.varPower(form="~ v"),
    "varPower_fitted": lambda: mc.varPower(),
    "varExp": lambda: mc.varExp(form="~ v | s"),
    "varConstPower": lambda: mc.varConstPower(form="~ v"),
    "varFixed": lambda: mc.varFixed("~ v"),
    "varComb": lambda: mc.varComb(mc.varIdent(form="~ 1 | s"), mc.varPower(form="~ v")),
}


def _round_trip(obj):
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _same_fit(a, b) -> None:
    assert float(b.logLik()) == float(a.logLik())
    pd.testing.assert_series_equal(b.fixef(), a.fixef())
    assert str(b.summary()) == str(a.summary())
    np.testing.assert_array_equal(b.fitted(), a.fitted())
    np.testing.assert_array_equal(b.residuals(type="normalized"), a.residuals(type="normalized"))
    if a.cor_params is not None:
        np.testing.assert_array_equal(b.cor_params, a.cor_params)
    assert b.var_params == a.var_params


@pytest.mark.parametrize("name", list(CORSTRUCTS))
def test_gls_with_each_corstruct_round_trips(name):
    m = mc.gls("y ~ x", DATA, correlation=CORSTRUCTS[name]())
    m2 = _round_trip(m)
    _same_fit(m, m2)
    # the unpickled fit still works: a refit through update() and new predictions
    assert float(m2.update(method="ML").logLik()) == float(m.update(method="ML").logLik())
    np.testing.assert_array_equal(m2.predict(DATA.head(5)), m.predict(DATA.head(5)))


@pytest.mark.parametrize("name", list(VARFUNCS))
def test_lme_with_each_varfunc_round_trips(name):
    m = mc.lme("y ~ x", DATA, random="~ 1 | g", weights=VARFUNCS[name]())
    _same_fit(m, _round_trip(m))


@pytest.mark.parametrize("pd_cls", ["pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "pdLogChol"])
def test_lme_with_each_pdmat_round_trips(pd_cls):
    m = mc.lme("y ~ x", DATA, random={"g": getattr(mc, pd_cls)("~ x")})
    _same_fit(m, _round_trip(m))


def test_bound_structures_round_trip_alone():
    b = mc.corCAR1(0.4, form="~ tc | g").bind(DATA)
    b2 = _round_trip(b)
    M = np.random.default_rng(0).normal(size=(len(DATA), 2))
    np.testing.assert_array_equal(b2.whiten(b.start, M)[0], b.whiten(b.start, M)[0])
    v = mc.varComb(mc.varIdent(form="~ 1 | s"), mc.varPower(form="~ v")).bind(DATA)
    v2 = _round_trip(v)
    np.testing.assert_array_equal(v2.weights(v.start + 0.3), v.weights(v.start + 0.3))


@pytest.fixture(scope="module")
def full_fit():
    return mc.lme("y ~ x", DATA, random="~ 1 | g", correlation=mc.corAR1(form="~ t | g"),
                  weights=mc.varIdent(form="~ 1 | s"))


def test_summary_round_trips(full_fit):
    s = full_fit.summary()
    s2 = _round_trip(s)
    assert str(s2) == str(s)
    pd.testing.assert_frame_equal(s2.tTable, s.tTable)


def test_intervals_round_trip(full_fit):
    iv = full_fit.intervals()
    iv2 = _round_trip(iv)
    assert type(iv2) is type(iv) and list(iv2) == list(iv)
    for k in iv:
        if isinstance(iv[k], pd.DataFrame):
            pd.testing.assert_frame_equal(iv2[k], iv[k])
    assert str(iv2) == str(iv)


def test_anova_tables_round_trip(full_fit):
    a = full_fit.anova()
    a2 = _round_trip(a)
    assert type(a2) is type(a)
    pd.testing.assert_frame_equal(a2, a)
    assert str(a2) == str(a)
    m0 = mc.lme("y ~ x", DATA, random="~ 1 | g", method="ML")
    m1 = mc.lme("y ~ x", DATA, random="~ 1 | g", correlation=mc.corAR1(form="~ t | g"), method="ML")
    lrt = mc.anova(m0, m1)
    lrt2 = _round_trip(lrt)
    pd.testing.assert_frame_equal(lrt2, lrt)
    assert str(lrt2) == str(lrt)


def test_varcorr_round_trips(full_fit):
    vc = full_fit.VarCorr()
    vc2 = _round_trip(vc)
    assert str(vc2) == str(vc)
    pd.testing.assert_frame_equal(vc2.to_frame(), vc.to_frame())


def test_acf_and_variogram_round_trip(full_fit):
    for res in (full_fit.ACF(), full_fit.Variogram(), full_fit.Variogram(form="~ sx + sy")):
        pd.testing.assert_frame_equal(_round_trip(res), res)


def test_getvarcov_round_trips(full_fit):
    for kind in ("random.effects", "conditional", "marginal"):
        v = full_fit.getVarCov(type=kind)
        pd.testing.assert_frame_equal(_round_trip(v), v)
    g = mc.gls("y ~ x", DATA, correlation=mc.corSymm(form="~ t | g"))
    pd.testing.assert_frame_equal(_round_trip(g.getVarCov()), g.getVarCov())


def _fit_in_worker(payload: bytes) -> bytes:
    """A worker: unpickle the data and a correlation structure, fit, send the fit back pickled."""
    data, cor = pickle.loads(payload)
    return pickle.dumps(mc.gls("y ~ x", data, correlation=cor))


def test_fits_travel_through_a_process_pool():
    """joblib-style parallel use: specifications go to worker processes, fits come back."""
    names = ["corAR1", "corCAR1", "corExp"]
    payloads = [pickle.dumps((DATA, CORSTRUCTS[n]())) for n in names]
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = [pickle.loads(b) for b in pool.map(_fit_in_worker, payloads)]
    for n, m in zip(names, results):
        here = mc.gls("y ~ x", DATA, correlation=CORSTRUCTS[n]())
        assert float(m.logLik()) == pytest.approx(float(here.logLik()), rel=TOL["same_fit_other_process"]["rtol"])
        assert str(m.summary()) == str(here.summary())
