"""Exact type-7 quantiles of a partitioned vector (mixedcompat.partitioned.quantiles): the same floats
as the in-memory quantile7 of all the values, for every shape of the partitions, with the values
brought to the driver bounded; and quantile7 itself against live R on its edge cases."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

dd = pytest.importorskip("dask.dataframe")
import dask  # noqa: E402
import dask.array as da  # noqa: E402
from dask import delayed  # noqa: E402

from mixedcompat.errors import DataError  # noqa: E402
from mixedcompat.partitioned.quantiles import (bracket_from_samples, order_statistics,  # noqa: E402
                                               quantiles7)
from mixedcompat.present.rformat import quantile7  # noqa: E402

from helpers import TOL  # noqa: E402

PROBS = (0, .25, .5, .75, 1)


@pytest.fixture(autouse=True)
def threads():
    """The threaded scheduler unless a test names a client."""
    with dask.config.set(scheduler="threads"):
        yield


def _values(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n values of one kind: the shapes that make brackets wide or ties span partitions."""
    if kind == "normal":
        return rng.normal(size=n)
    if kind == "ties":                                  # few distinct values, each spanning partitions
        return rng.integers(0, 3, size=n).astype(float)
    if kind == "constant":
        return np.full(n, 2.5)
    if kind == "sorted":
        return np.sort(rng.normal(size=n))
    if kind == "reversed":
        return np.sort(rng.normal(size=n))[::-1].copy()
    if kind == "special":                               # NaN, +-Inf, signed zeros and ties among normals
        x = rng.normal(size=n)
        pick = rng.random(n)
        x[pick < .1] = np.nan
        x[(pick >= .1) & (pick < .15)] = np.inf
        x[(pick >= .15) & (pick < .2)] = -np.inf
        x[(pick >= .2) & (pick < .3)] = 0.0
        return x
    if kind == "nan":
        return np.full(n, np.nan)
    raise ValueError(kind)


def _cut(x: np.ndarray, nparts: int, rng: np.random.Generator, interleave: bool = False) -> list[np.ndarray]:
    """x split into nparts pieces at random cut points (empty pieces allowed), or dealt round robin
    (every piece spans the whole range: the widest brackets)."""
    if interleave:
        return [x[i::nparts] for i in range(nparts)]
    cuts = np.sort(rng.integers(0, x.size + 1, size=nparts - 1))
    return np.split(x, cuts)


def _series(pieces: list[np.ndarray]):
    """A Dask Series with exactly these partitions (empty ones included)."""
    parts = [delayed(pd.Series)(p, dtype=float) for p in pieces]
    return dd.from_delayed(parts, meta=pd.Series(dtype=float), verify_meta=False)


def _same(got: np.ndarray, x: np.ndarray, probs=PROBS) -> None:
    want = quantile7(x, probs)
    np.testing.assert_array_equal(got, want)          # exact: same floats, NaN where NaN


# ------------------------------------------------------------------ exact equality over shapes
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 3000), kind=st.sampled_from(["normal", "ties", "constant", "sorted", "reversed", "special"]),
       nparts=st.integers(1, 50), interleave=st.booleans(), sample_size=st.integers(2, 40),
       extra=st.lists(st.floats(0, 1), max_size=4), seed=st.integers(0, 2**32 - 1))
def test_equals_quantile7_of_all_values(n, kind, nparts, interleave, sample_size, extra, seed):
    """Small samples force several passes: every pass must keep the order statistic in its bracket."""
    rng = np.random.default_rng(seed)
    x = _values(kind, n, rng)
    probs = PROBS + tuple(extra)
    pieces = _cut(x, nparts, rng, interleave)
    got = quantiles7([delayed(p) for p in pieces], probs, sample_size=sample_size, split_every=3)
    _same(got, x, probs)


CASES = [(kind, n, nparts, interleave)
         for kind in ["normal", "ties", "sorted", "reversed", "special"]
         for n, nparts, interleave in [(1, 1, False), (2, 3, False), (1000, 7, True), (100_000, 50, False),
                                       (100_000, 13, True)]]


@pytest.mark.parametrize("kind,n,nparts,interleave", CASES)
def test_dask_series_equals_quantile7(kind, n, nparts, interleave):
    rng = np.random.default_rng(n + nparts)
    x = _values(kind, n, rng)
    _same(quantiles7(_series(_cut(x, nparts, rng, interleave))), x)


@pytest.mark.parametrize("kind", ["nan", "empty"])
def test_no_value_left_gives_na(kind):
    """R: quantile(numeric(0)) and quantile(c(NA, NA), na.rm = TRUE) are NA for every prob."""
    x = np.full(30, np.nan) if kind == "nan" else np.empty(0)
    pieces = _cut(x, 4, np.random.default_rng(1))
    got = quantiles7(_series(pieces))
    assert got.shape == (5,) and np.isnan(got).all()
    _same(got, x)


def test_empty_and_all_nan_partitions_among_others():
    rng = np.random.default_rng(3)
    pieces = [np.empty(0), rng.normal(size=500), np.full(40, np.nan), np.empty(0), rng.normal(size=3),
              np.array([np.nan, 1.5]), np.empty(0)]
    _same(quantiles7(_series(pieces)), np.concatenate(pieces))


def test_single_value_and_single_partition():
    _same(quantiles7(_series([np.array([7.25])])), np.array([7.25]))
    x = np.random.default_rng(4).normal(size=10_000)
    _same(quantiles7(dd.from_pandas(pd.Series(x), npartitions=1)), x)


def test_infinities_only():
    x = np.array([np.inf, -np.inf, np.inf, -np.inf, -np.inf])
    got = quantiles7(_series(_cut(x, 3, np.random.default_rng(5))))
    assert not np.isnan(got).any()                       # R gives -Inf / Inf, not NaN
    _same(got, x)


def test_other_inputs_dask_array_callables_and_pandas_na():
    rng = np.random.default_rng(6)
    x = rng.normal(size=5000)
    _same(quantiles7(da.from_array(x, chunks=700)), x)
    pieces = _cut(x, 6, rng)
    _same(quantiles7([(lambda p=p: p) for p in pieces]), x)
    s = pd.Series(x, dtype="Float64")
    s[::7] = pd.NA
    _same(quantiles7(dd.from_pandas(s, npartitions=5)), s.to_numpy(dtype=float, na_value=np.nan))


def test_ties_spanning_all_partitions_resolve_in_the_first_pass():
    x = np.full(200_000, -1.25)
    x[:3] = [-3.0, 9.0, 0.0]
    st_ = order_statistics(_series(_cut(x, 20, np.random.default_rng(7))), lambda n: [1, n // 2, n - 2])
    assert len(st_.passes) == 1
    assert st_.values == dict(zip([1, 100_000, 199_998], np.sort(x)[[1, 100_000, 199_998]]))


# ------------------------------------------------------------------ memory: what reaches the driver
@pytest.mark.parametrize("kind,interleave", [("normal", False), ("sorted", True), ("ties", False)])
def test_second_pass_brings_few_values(kind, interleave):
    """n = 1e6 on 20 partitions: two passes; the second brings the driver far fewer than n / 100
    values, and the first at most sample_size per partition."""
    n, nparts, m = 1_000_000, 20, 1024
    rng = np.random.default_rng(8)
    x = _values(kind, n, rng)
    if kind == "ties":
        x = x + rng.integers(0, 5000, size=n)          # 15,000 distinct values, ~67 copies each
    series = _series(_cut(x, nparts, rng, interleave))
    ks = lambda n: [0, n // 4, n // 4 + 1, n // 2, 3 * (n - 1) // 4, n - 1]
    st_ = order_statistics(series, ks, sample_size=m)
    assert st_.n == n
    assert len(st_.passes) <= 2
    assert st_.passes[0].values_sent <= nparts * m
    for p in st_.passes[1:]:
        assert p.values_sent < n / 100, p
        assert max(p.inside) < n / 100, p
    xs = np.sort(x)
    assert st_.values == {k: xs[k] for k in ks(n)}


def test_bracket_from_samples_holds_the_order_statistic():
    """The bracket of every rank of a union of sampled partitions holds that rank's value."""
    rng = np.random.default_rng(9)
    parts = [np.sort(rng.integers(0, 50, size=size).astype(float)) for size in (300, 1, 2, 77, 1000)]
    samples = []
    for p in parts:
        r = np.unique(np.rint(np.linspace(0, p.size - 1, 5)).astype(np.int64))
        samples.append((p[r], r, p.size))
    xs = np.sort(np.concatenate(parts))
    for j in range(xs.size):
        lo, hi = bracket_from_samples(samples, j)
        assert lo <= xs[j] <= hi


# ------------------------------------------------------------------ bad input
def test_bad_input_is_a_data_error():
    x = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}), npartitions=1)
    with pytest.raises(DataError, match="one column"):
        quantiles7(x)
    with pytest.raises(DataError, match=r"'probs' outside \[0,1\]"):
        quantiles7(x["a"], probs=(0.5, 1.5))
    with pytest.raises(DataError, match="numeric"):
        quantiles7(dd.from_pandas(pd.Series(["u", "v"]), npartitions=1))


# ------------------------------------------------------------------ on a LocalCluster


def test_local_cluster_residuals_from_map_partitions(dask_client):
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(10)
    d = pd.DataFrame({"x": rng.normal(size=50_000), "y": rng.normal(size=50_000)})
    d.loc[d.index % 11 == 0, "y"] = np.nan
    ddf = dd.from_pandas(d, npartitions=9)
    resid = ddf.map_partitions(lambda p: p["y"] - 0.5 * p["x"], meta=("resid", float))
    with dask.config.set(scheduler=dask_client), distributed.get_task_stream(dask_client) as tasks:
        got = quantiles7(resid, sample_size=64)
    ran = {str(t["key"][0] if isinstance(t["key"], tuple) else t["key"]) for t in tasks.data}
    assert any(k.startswith("bracket_counts") for k in ran), sorted(ran)[:5]
    _same(got, (d["y"] - 0.5 * d["x"]).to_numpy())


# ------------------------------------------------------------------ quantile7 against live R
@pytest.mark.r
def test_quantile7_edge_cases_match_r():
    """Empty, all-NA, one value, ties, +-Inf (R: -Inf next to a finite value is -Inf, not NaN)."""
    ro = pytest.importorskip("rpy2.robjects")
    try:
        rq = ro.r("function(x, p) unname(quantile(x, p, na.rm = TRUE))")
    except Exception as err:  # pragma: no cover - R missing
        pytest.skip(f"R unavailable: {err}")
    rng = np.random.default_rng(11)
    cases = [np.empty(0), np.array([np.nan, np.nan]), np.array([4.0]), np.array([3.0, 1, 2, 2, 5]),
             np.array([-np.inf, 1, 2, np.inf]), np.array([1, np.inf, np.inf]), np.array([-np.inf, -np.inf, 1, np.inf]),
             np.array([-np.inf, np.inf]), np.array([np.inf] * 3), _values("special", 37, rng), _values("ties", 41, rng)]
    probs = [0, .1, .25, 1 / 3, .5, .75, .9, 1]
    for x in cases:
        want = np.asarray(rq(ro.FloatVector(x), ro.FloatVector(probs)), dtype=float)
        np.testing.assert_allclose(quantile7(x, probs), want, **TOL["quantile7"], err_msg=str(x))
