"""pytest hooks and options only: hypothesis profiles and the skip of live-R tests when R is missing.
Shared helpers (the tolerance table, fixture loaders, comparison rules) live in tests/helpers.py."""
from __future__ import annotations

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

