"""parallel=client (a dask.distributed Client): bootMer, PBmodcomp, cross_validate and profile give
exactly the serial run's results with the same seed, failures counted as in the serial run."""
from __future__ import annotations

import collections
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from mixedcompat.inference.dask_executor import is_client, map_on_client, replay

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def sleep():
    return mc.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def slope_fit(sleep):
    return mc.lmer("Reaction ~ Days + (Days | Subject)", sleep)


@pytest.fixture(scope="module")
def cbpp_fit():
    return mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mc.datasets.load("cbpp"),
                    family="binomial")


def _ran_on_cluster(stream) -> int:
    """Number of replicate tasks (the executor's ``_run_task``) the cluster ran in ``stream``."""
    return sum(str(t["key"]).startswith("_run_task-") for t in stream.data)


def _sd_and_sigma(x):
    return {"sigma": x.sigma(), "sd1": float(x.VarCorr().to_frame()["sdcor"].iloc[0])}


def _same_boot(a, b):
    assert np.array_equal(a.t, b.t, equal_nan=True)
    assert a.t0.equals(b.t0)
    assert a.nfail == b.nfail and a.fail_messages == b.fail_messages and a.messages == b.messages
    assert a.seed == b.seed


def test_client_is_recognised(client):
    assert is_client(client)
    assert not any(is_client(v) for v in (None, 2, "threads", "dask", object()))


@pytest.mark.parametrize("FUN", [mc.fixef, _sd_and_sigma], ids=["fixef", "sd_sigma"])
def test_bootMer_lmer_client_equals_serial(client, slope_fit, FUN):
    serial = mc.bootMer(slope_fit, FUN, nsim=20, seed=7, progress=False)
    with distributed.get_task_stream(client) as stream:
        dask = mc.bootMer(slope_fit, FUN, nsim=20, seed=7, progress=False, parallel=client)
    assert _ran_on_cluster(stream) == 16          # 2 worker threads x 8 chunks
    _same_boot(serial, dask)
    assert np.isfinite(dask.t).all()


def test_bootMer_lmer_client_use_u_and_semiparametric(client, slope_fit):
    for kw in ({"use_u": True}, {"use_u": True, "type": "semiparametric"}):
        serial = mc.bootMer(slope_fit, mc.fixef, nsim=12, seed=3, progress=False, **kw)
        _same_boot(serial, mc.bootMer(slope_fit, mc.fixef, nsim=12, seed=3, progress=False, parallel=client, **kw))


def test_bootMer_glmer_client_equals_serial(client, cbpp_fit):
    serial = mc.bootMer(cbpp_fit, mc.fixef, nsim=8, seed=11, progress=False)
    with distributed.get_task_stream(client) as stream:
        dask = mc.bootMer(cbpp_fit, mc.fixef, nsim=8, seed=11, progress=False, parallel=client)
    assert _ran_on_cluster(stream) == 8
    _same_boot(serial, dask)
    assert dask.t.shape == (8, 4)


def test_bootMer_client_failed_replicates_as_serial(client, slope_fit):
    cut = float(np.median(mc.bootMer(slope_fit, mc.fixef, nsim=20, seed=2, progress=False).t[:, 1]))

    def fragile(x):
        if x is not slope_fit and x.fixef()["Days"] > cut:      # about half of the refits
            raise RuntimeError("boom")
        return x.fixef()

    with pytest.warns(UserWarning, match=r"some bootstrap runs failed \(\d+/20\)") as rec_serial:
        serial = mc.bootMer(slope_fit, fragile, nsim=20, seed=2, progress=False)
    with pytest.warns(UserWarning, match=r"some bootstrap runs failed \(\d+/20\)") as rec_dask:
        dask = mc.bootMer(slope_fit, fragile, nsim=20, seed=2, progress=False, parallel=client)
    assert 0 < dask.nfail < 20
    assert dask.fail_messages == collections.Counter({"RuntimeError: boom": dask.nfail})
    _same_boot(serial, dask)
    assert [str(w.message) for w in rec_serial] == [str(w.message) for w in rec_dask]


def test_PBmodcomp_client_equals_serial(client, sleep):
    large = mc.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=False)
    small = mc.lmer("Reaction ~ 1 + (Days | Subject)", sleep, REML=False)
    serial = mc.PBmodcomp(large, small, nsim=20, seed=5, progress=False)
    with distributed.get_task_stream(client) as stream:
        dask = mc.PBmodcomp(large, small, nsim=20, seed=5, progress=False, parallel=client)
    assert _ran_on_cluster(stream) == 16
    assert np.array_equal(serial.ref, dask.ref, equal_nan=True)
    pd.testing.assert_frame_equal(serial.test, dask.test, check_exact=True)
    assert serial.samples == dask.samples and serial.n_extreme == dask.n_extreme


def test_PBmodcomp_glmer_client_equals_serial(client, cbpp_fit):
    small = cbpp_fit.update(". ~ . - period")
    serial = mc.PBmodcomp(cbpp_fit, small, nsim=4, seed=1, progress=False)
    dask = mc.PBmodcomp(cbpp_fit, small, nsim=4, seed=1, progress=False, parallel=client)
    assert np.array_equal(serial.ref, dask.ref, equal_nan=True)
    pd.testing.assert_frame_equal(serial.test, dask.test, check_exact=True)


def _same_cv(a: pd.DataFrame, b: pd.DataFrame):
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for key in ("predictions", "pred_var"):
        pd.testing.assert_series_equal(a.attrs[key], b.attrs[key], check_exact=True)
    assert all(x.equals(y) for x, y in zip(a.attrs["test_rows"], b.attrs["test_rows"]))
    assert [np.asarray(f.theta).tolist() for f in a.attrs["fits"]] == \
        [np.asarray(f.theta).tolist() for f in b.attrs["fits"]]


def test_cross_validate_client_equals_serial(client, slope_fit, cbpp_fit):
    with distributed.get_task_stream(client) as stream:
        dask = mc.cross_validate(slope_fit, folds=4, seed=3, parallel=client)
    assert _ran_on_cluster(stream) == 4           # one task per fold
    _same_cv(mc.cross_validate(slope_fit, folds=4, seed=3), dask)
    _same_cv(mc.cross_validate(slope_fit, folds=3, groups="Subject", seed=1),
             mc.cross_validate(slope_fit, folds=3, groups="Subject", seed=1, parallel=client))
    _same_cv(mc.cross_validate(cbpp_fit, folds=3, seed=2),
             mc.cross_validate(cbpp_fit, folds=3, seed=2, parallel=client))


def test_cross_validate_client_fold_failure_as_serial(client, sleep):
    d = sleep.copy()
    d["batch"] = np.where(d["Subject"].astype(str) == "308", "rare", "common")   # a level of one subject
    m = mc.lmer("Reaction ~ Days + batch + (1 | Subject)", d)
    # the fold holding subject 308 has a one-level batch in training: that fold fails, named
    with pytest.raises(mc.DataError) as serial:
        mc.cross_validate(m, folds=3, groups="Subject", seed=4)
    with pytest.raises(mc.DataError) as dask:
        mc.cross_validate(m, folds=3, groups="Subject", seed=4, parallel=client)
    assert str(serial.value) == str(dask.value)
    assert str(dask.value).startswith("cross_validate: fold ") and "has 1 level" in str(dask.value)


def test_profile_lmer_client_equals_serial(client, slope_fit):
    serial = mc.profile(slope_fit)
    with distributed.get_task_stream(client) as stream:
        dask = mc.profile(slope_fit, parallel=client)
    assert _ran_on_cluster(stream) == 6           # one task per parameter
    pd.testing.assert_frame_equal(serial.to_frame(), dask.to_frame(), check_exact=True)
    pd.testing.assert_frame_equal(serial.confint(), dask.confint(), check_exact=True)
    pd.testing.assert_frame_equal(mc.confint(slope_fit), mc.confint(slope_fit, parallel=client), check_exact=True)
    pd.testing.assert_frame_equal(mc.confint(slope_fit, method="boot", nsim=10, seed=4, parallel=client),
                                  mc.confint(slope_fit, method="boot", nsim=10, seed=4), check_exact=True)


def test_profile_glmer_client_equals_serial(client, cbpp_fit):
    serial = mc.profile(cbpp_fit, which=".sig01")
    dask = mc.profile(cbpp_fit, which=".sig01", parallel=client)
    pd.testing.assert_frame_equal(serial.to_frame(), dask.to_frame(), check_exact=True)


def test_profile_client_warnings_as_serial(client, sleep, monkeypatch):
    # a singular fit (the sd at 0 is profiled upwards only); every step of the stepping rule also
    # warns (the cluster is in-process, so the patch reaches the workers): the Dask run gives the
    # serial run's warnings in the serial order
    d = sleep.copy()
    d["g"] = np.arange(len(d)) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mc.SingularFitWarning)
        m = mc.lmer("Reaction ~ Days + (1 | g)", d, REML=False)
    from mixedcompat.inference import profile as profile_module
    original = profile_module._next_value

    def noisy(mat, col, *args):
        value = original(mat, col, *args)
        warnings.warn(f"step of column {col} to {value!r}", profile_module.ProfileWarning)
        return value

    monkeypatch.setattr(profile_module, "_next_value", noisy)
    with warnings.catch_warnings(record=True) as rec_serial:
        warnings.simplefilter("always")
        serial = mc.profile(m)
    with warnings.catch_warnings(record=True) as rec_dask:
        warnings.simplefilter("always")
        dask = mc.profile(m, parallel=client)
    pd.testing.assert_frame_equal(serial.to_frame(), dask.to_frame(), check_exact=True)
    seen = [(w.category, str(w.message)) for w in rec_serial]
    assert len(seen) > 10
    assert seen == [(w.category, str(w.message)) for w in rec_dask]


def _shared_pow(base, exponent):
    if exponent == 3:
        warnings.warn("three", UserWarning)
    if exponent in (4, 6):
        raise ValueError(f"no {exponent}")
    return base ** exponent


def test_executor_results_warnings_and_errors_in_task_order(client):
    outcomes = map_on_client(client, _shared_pow, 2, [(e,) for e in range(8)])
    assert [o.value for o in outcomes[:4]] == [1, 2, 4, 8]
    assert [type(o.error) for o in outcomes] == [type(None)] * 4 + [ValueError, type(None), ValueError, type(None)]
    with pytest.warns(UserWarning, match="three"), pytest.raises(ValueError, match="no 4"):
        replay(outcomes)
    with pytest.warns(UserWarning, match="three"):
        assert replay(outcomes[:4]) == [1, 2, 4, 8]


def test_executor_runs_on_a_client_that_is_not_the_default(monkeypatch):
    """A Client made with set_as_default=False when no default client exists."""
    def no_default():
        raise ValueError("No clients found")
    cluster = distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None)
    own = distributed.Client(cluster, set_as_default=False)
    try:
        monkeypatch.setattr(distributed.client, "default_client", no_default)
        outcomes = map_on_client(own, _shared_pow, 3, [(e,) for e in range(3)])
    finally:
        own.close()
        cluster.close()
    assert [o.value for o in outcomes] == [1, 3, 9]


@pytest.mark.parametrize("bad", [object(), "dask", 0, 2.5])
def test_bad_parallel_value_is_named(slope_fit, sleep, bad):
    with pytest.raises(ValueError, match="parallel") as err:
        mc.bootMer(slope_fit, mc.fixef, nsim=2, seed=1, progress=False, parallel=bad)
    assert repr(bad)[:20] in str(err.value)
    small = mc.lmer("Reaction ~ 1 + (Days | Subject)", sleep)
    with pytest.raises(ValueError, match="parallel"):
        mc.PBmodcomp(slope_fit, small, nsim=2, parallel=bad, progress=False)
    with pytest.raises(ValueError, match=r"cross_validate: parallel must be None or a dask.distributed Client"):
        mc.cross_validate(slope_fit, folds=2, parallel=bad)
    with pytest.raises(ValueError, match=r"profile: parallel must be None or a dask.distributed Client"):
        mc.profile(slope_fit, which=".sigma", parallel=bad)


def test_progress_bar_advances_as_chunks_complete(client, slope_fit, monkeypatch):
    from mixedcompat.inference import bootstrap as bootstrap_module

    class Bar:
        def __init__(self):
            self.steps, self.closed = [], False

        def update(self, k):
            self.steps.append(k)

        def close(self):
            self.closed = True

    bar = Bar()
    monkeypatch.setattr(bootstrap_module, "progress_bar", lambda total, enabled, desc: bar)
    mc.bootMer(slope_fit, mc.fixef, nsim=20, seed=1, parallel=client)
    assert len(bar.steps) == 16 and sum(bar.steps) == 20 and bar.closed
