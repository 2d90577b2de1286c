"""pytest hooks, options and session resources only: hypothesis profiles, the skip of live-R tests when
R is missing, and the session's Dask LocalCluster (``dask_client``). Shared helpers (the tolerance table,
fixture loaders, comparison rules) live in tests/helpers.py."""
from __future__ import annotations

import warnings

import pytest
from hypothesis import settings

from helpers import r_available

# Property tests are derandomized by default, so that a fresh install's test run is repeatable
# (the same examples on every machine); `pytest --hypothesis-profile=explore` draws new ones.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")


def pytest_collection_modifyitems(config, items):
    ok, why = r_available()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"live-R test skipped: {why}")
    for item in items:
        if item.get_closest_marker("r") is not None:
            item.add_marker(skip)



@pytest.fixture(scope="session")
def dask_client():
    """The test session's LocalCluster (2 in-process workers of one thread each) and a client that is
    not the default scheduler: tests pass it (``dask.config.set(scheduler=dask_client)``,
    ``parallel=dask_client``). Skipped without the ``dask`` extra."""
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():      # the scheduler's HTTP routes (metrics) when port 8787 is taken
        warnings.filterwarnings("ignore", message="Port 8787 is already in use", category=UserWarning)
        cluster = distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                                           dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()
