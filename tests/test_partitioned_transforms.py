"""poly() / scale() in lmer on a Dask DataFrame (issue 13, mixedcompat.partitioned.transforms): their
coefficients from passes over the partitions equal the in-memory ones on every row of the data (R's
model.frame evaluates them before na.omit), the criterion equals the in-memory one, the errors are
the in-memory ones, and the new-data specs carry the whole data's coefficients."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")

import dask  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

import mixedcompat as mc  # noqa: E402
import mixedcompat.partitioned.transforms as ptr  # noqa: E402
from helpers import FIXTURES, TOL, assert_close, check_criterion, fit_fixture, load_fixture_data  # noqa: E402
from mixedcompat.errors import DataError, FormulaError  # noqa: E402
from mixedcompat.front.design import build_fixed, model_frame_on_levels, model_variables  # noqa: E402
from mixedcompat.front.formula import parse_formula  # noqa: E402
from mixedcompat.partitioned.criterion import PartitionedCriterion  # noqa: E402
from mixedcompat.partitioned.transforms import transform_params  # noqa: E402


@pytest.fixture(autouse=True)
def _threads():
    with dask.config.set(scheduler="threads"):
        yield


def _data(n: int = 400, seed: int = 13) -> pd.DataFrame:
    """x (mean 50, so the polynomials are far from their raw powers), z and w with missing values,
    a response missing in some rows, a grouping factor."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 25, n)
    x = rng.normal(50.0, 7.0, n)
    z = rng.uniform(-1.0, 3.0, n)
    y = 2.0 + 0.3 * x - 0.01 * (x - 50) ** 2 + z + rng.normal(size=25)[g] + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x": x, "z": z, "w": rng.uniform(0.5, 2.0, n), "g": [f"g{v:02d}" for v in g]})
    d.loc[rng.choice(n, 40, replace=False), "y"] = np.nan
    d.loc[rng.choice(n, 30, replace=False), "z"] = np.nan
    return d


def _in_memory(formula: str, d: pd.DataFrame) -> dict:
    """The coefficients the in-memory model frame records (every variable evaluated on every row)."""
    return model_variables(parse_formula(formula), d).context.params


def _same_params(ours: dict, theirs: dict, what: str) -> None:
    assert list(ours) == list(theirs), what
    for key, coefs in theirs.items():
        assert set(ours[key]) == set(coefs), (what, key)
        for name, value in coefs.items():
            if value is None:
                assert ours[key][name] is None, (what, key, name)
            else:
                assert_close(ours[key][name], value, f"{what}: {key} {name}", **TOL["partitioned_transform"])


def _params(formula: str, d: pd.DataFrame, npartitions: int = 5, **kwargs) -> dict:
    return transform_params(dd.from_pandas(d, npartitions=npartitions), parse_formula(formula), **kwargs)


# ------------------------------------------------------------------ coefficients against the in-memory ones
@pytest.mark.parametrize("degree", [1, 2, 3, 4])
def test_poly_coefficients_equal_in_memory(degree):
    d = _data()
    f = f"y ~ poly(x, {degree}) + (1 | g)"
    ours = _params(f, d, split_every=2)
    _same_params(ours, _in_memory(f, d), f)
    assert len(ours[f"poly(x, {degree})"]["alpha"]) == degree
    assert len(ours[f"poly(x, {degree})"]["norm2"]) == degree + 2
    assert ours[f"poly(x, {degree})"]["norm2"][1] == len(d)       # every row, those without y too


def test_raw_poly_has_no_coefficients():
    d = _data()
    f = "y ~ poly(x, 3, raw = TRUE) + (1 | g)"
    assert _params(f, d) == _in_memory(f, d) == {}


SCALE_FORMS = ["scale(z)", "scale(z, center = FALSE)", "scale(z, scale = FALSE)", "scale(z, FALSE, FALSE)",
               "scale(z, center = 1.5)", "scale(z, center = 2, scale = 3)", "scale(z, TRUE, 0.5)",
               "scale(cbind(x, z))", "scale(cbind(x, z), center = FALSE)", "scale(cbind(x, z), c(40, 1), TRUE)",
               "scale(cbind(x, z), scale = c(2, 4))", "scale(log(x) + z)"]


@pytest.mark.parametrize("form", SCALE_FORMS)
def test_scale_coefficients_equal_in_memory(form):
    d = _data()
    f = f"y ~ I({form}) + (1 | g)" if "cbind" in form else f"y ~ {form} + (1 | g)"
    _same_params(_params(f, d), _in_memory(f, d), f)


def test_several_calls_in_one_formula_and_in_random_terms():
    """Coefficients of every call (one pass for all of them, one per poly degree), also inside other
    expressions and in random-effects terms."""
    d = _data()
    f = "scale(y) ~ poly(x, 3) + poly(z, 1) + I(scale(x)^2) + log(scale(w, FALSE)) + (scale(x) | g)"
    d = d.assign(z=d["z"].fillna(0.5))
    ours = _params(f, d, npartitions=7, split_every=3)
    _same_params(ours, _in_memory(f, d), f)
    assert list(ours) == ["scale(y)", "poly(x, 3)", "poly(z, 1)", "scale(x)", "scale(w, FALSE)"]


def test_scale_centre_is_the_mean_of_every_non_missing_value():
    """R: lm(y ~ scale(x)) with y missing in some rows is centred on mean(x) over all rows
    (attr(terms(model.frame(m)), "predvars")), not over the rows kept; the missing values are
    spread over the partitions."""
    d = _data()
    ddf = dd.from_pandas(d, npartitions=5)
    na_parts = ddf.map_partitions(lambda p: pd.Series([int(p["y"].isna().sum()), int(p["z"].isna().sum())])
                                  ).compute().to_numpy().reshape(-1, 2)
    assert (na_parts > 0).all()
    p = transform_params(ddf, parse_formula("y ~ scale(z) + (1 | g)"))["scale(z)"]
    z = d["z"].to_numpy()
    assert_close(p["center"], [np.nanmean(z)], "centre", **TOL["partitioned_transform"])
    assert_close(p["scale"], [np.nanstd(z, ddof=1)], "scale", **TOL["partitioned_transform"])
    kept = d.dropna(subset=["y", "z"])["z"].mean()
    assert abs(kept - np.nanmean(z)) > 1e-3


def test_empty_partitions_and_values_in_one_partition_only():
    """Sorted by x: the largest values (and most distinct points) live in the last partitions; five
    of the eight partitions are empty (one emptied by a filter, four added empty)."""
    d = _data().sort_values("x", ignore_index=True)
    ddf = dd.from_pandas(d, npartitions=4)
    lo, hi = ddf.divisions[1], ddf.divisions[2]
    ddf = ddf.map_partitions(lambda p: p[np.asarray((p.index < lo) | (p.index >= hi))])
    ddf = dd.concat([ddf, ddf.map_partitions(lambda p: p.iloc[:0])])
    sizes = ddf.map_partitions(len).compute().tolist()
    assert sizes.count(0) == 5 and len(sizes) == 8, sizes
    keep = d[(d.index < lo) | (d.index >= hi)]
    f = "y ~ poly(x, 3) + scale(cbind(x, z)) + (1 | g)"
    _same_params(transform_params(ddf, parse_formula(f), split_every=2), _in_memory(f, keep), f)


def test_unique_points_from_several_partitions():
    """Three distinct values of x, each in its own partition: poly(x, 2) has enough points, only
    after the partitions' values are united."""
    d = pd.DataFrame({"y": np.arange(9.0), "x": np.repeat([1.0, 2.0, 4.0], 3), "g": list("abcabcabc")})
    f = "y ~ poly(x, 2) + (1 | g)"
    _same_params(_params(f, d, npartitions=3), _in_memory(f, d), f)


def test_no_pass_without_poly_or_scale(monkeypatch):
    def fail(*args):
        raise AssertionError("a pass over the data")
    monkeypatch.setattr(ptr, "first_pass", fail)
    assert _params("y ~ x + log(w) + (1 | g)", _data()) == {}


def test_passes_read_only_the_transforms_columns(tmp_path, monkeypatch):
    """From Parquet: the partitions the passes see hold only the columns the calls read."""
    d = _data()
    dd.from_pandas(d, npartitions=4).to_parquet(tmp_path / "d")
    seen = []
    first, poly = ptr.first_pass, ptr.poly_pass
    monkeypatch.setattr(ptr, "first_pass", lambda pdf, *a: seen.append(("first", list(pdf.columns))) or first(pdf, *a))
    monkeypatch.setattr(ptr, "poly_pass", lambda pdf, *a: seen.append(("poly", list(pdf.columns))) or poly(pdf, *a))
    f = "y ~ poly(x, 2) + scale(z) + (1 | g)"
    ours = transform_params(dd.read_parquet(tmp_path / "d"), parse_formula(f))
    _same_params(ours, _in_memory(f, d), f)
    assert {tuple(cols) for what, cols in seen if what == "first"} == {("x", "z")}
    assert set(tuple(cols) for what, cols in seen if what == "poly") == {("x",)}
    assert sum(what == "poly" for what, _ in seen) == 2 * 4                  # degree 2: two passes


# ------------------------------------------------------------------ the criterion
def _criterion_pair(formula: str, d: pd.DataFrame, npartitions: int = 4):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # lme4's warnings (a singular fit): the same on both sides
        m = mc.lmer(formula, d)
        crit = PartitionedCriterion(formula, dd.from_pandas(d, npartitions=npartitions))
    return m, crit


def _same_criterion(crit, m, what):
    assert crit.n == m.nobs() and crit.x_names == list(m.fixef().index)
    for theta in (np.asarray(m.theta), 1.3 * np.asarray(m.theta) + 0.05, m.devfun.layout.start.copy()):
        assert_close(crit.devfun(theta), m.devfun(theta), f"{what}: criterion at {theta.tolist()}",
                     **TOL["partitioned_criterion"])


@pytest.mark.parametrize("stem", ["sim_poly", "sim_scale"])
def test_fixture_criterion_equals_in_memory(stem):
    fx, m, _, _ = fit_fixture(FIXTURES / "lmer" / f"{stem}.json")
    data = load_fixture_data(fx["input"]["data"])
    crit = PartitionedCriterion(fx["input"]["formula"], dd.from_pandas(data, npartitions=3), REML=fx["input"]["REML"])
    _same_criterion(crit, m, stem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = crit.fit()
    check_criterion(f.criterion, fx["expected"]["criterion"], f"{stem}: criterion against R's")


@pytest.mark.parametrize("formula", ["y ~ poly(x, 3) + scale(z) + (1 | g)",
                                     "scale(y, center = FALSE) ~ poly(x, 2) * z + (scale(x) | g)",
                                     "y ~ scale(cbind(x, z), c(40, 1)) + (1 | g)",
                                     "y ~ factor(round(scale(x))) + (1 | g) + (1 | round(2 * scale(z)))"])
def test_criterion_with_missing_values_equals_in_memory(formula):
    d = _data()
    m, crit = _criterion_pair(formula, d)
    assert crit.n < len(d)
    _same_criterion(crit, m, formula)


def test_the_frame_spec_carries_the_whole_datas_coefficients():
    """predict(newdata) on a partitioned fit: the fixed-effects spec of a partition's frame rebuilds
    new data with the whole data's coefficients, as the in-memory model's spec does."""
    d = _data()
    f = "y ~ poly(x, 2) + scale(z) + (1 | g)"
    parts = parse_formula(f)
    params = transform_params(dd.from_pandas(d, npartitions=4), parts)
    part = d.iloc[:60]
    frame = model_frame_on_levels(parts, part, {"g": sorted(d["g"].unique())}, params=params)
    m = mc.lmer(f, d)
    new = pd.DataFrame({"x": [40.0, 55.0, 61.0], "z": [0.0, 1.0, 2.5]})
    assert_close(build_fixed(frame.fixed_spec, new), build_fixed(m.frame.fixed_spec, new), "new data",
                 **TOL["partitioned_transform"])
    whole = model_variables(parts, d).values
    ours = model_variables(parts, part, params).values
    for node in ours:
        if node.deparse().startswith(("poly", "scale")):
            assert_close(ours[node].values, whole[node].values[:60], node.deparse(), **TOL["partitioned_transform"])


# ------------------------------------------------------------------ errors: the in-memory ones
def _in_memory_error(formula: str, d: pd.DataFrame) -> Exception:
    with pytest.raises((DataError, FormulaError)) as exc:
        mc.lmer(formula, d)
    return exc.value


def _same_error(formula: str, d: pd.DataFrame, npartitions: int = 4) -> str:
    want = _in_memory_error(formula, d)
    with pytest.raises(type(want)) as exc:
        PartitionedCriterion(formula, dd.from_pandas(d, npartitions=npartitions))
    assert str(exc.value) == str(want)
    return str(want)


def test_missing_value_in_polys_variable():
    """R: lm(y ~ poly(x, 2)) with x missing in a row -> "missing values are not allowed in 'poly'"
    (model.frame evaluates poly() before na.omit), also when that row has no response."""
    d = _data()
    d.loc[d.index[d["y"].isna()][0], "x"] = np.nan
    assert _same_error("y ~ poly(x, 2) + (1 | g)", d) == "missing values are not allowed in 'poly'"


@pytest.mark.parametrize("formula", ["y ~ poly(x, 2) + (1 | g)", "y ~ scale(x) + (1 | g)",
                                     "y ~ poly(x, 2, raw = TRUE) + (1 | g)", "y ~ scale(cbind(z, x)) + (1 | g)"])
def test_infinite_values(formula):
    """The count and the first five row labels, over partitions (one infinite value in a row
    without a response)."""
    d = _data()
    rows = [3, 90, 91, 150, 260, 300, 390]
    d.loc[rows, "x"] = np.inf
    d.loc[rows[0], "y"] = np.nan
    msg = _same_error(formula, d)
    assert "7 infinite values (row labels 3, 90, 91, 150, 260 ...)" in msg


def test_too_few_unique_points():
    d = pd.DataFrame({"y": np.arange(12.0), "x": np.repeat([1.0, 2.0, 3.0], 4), "g": list("abcd") * 3})
    assert "unique points" in _same_error("y ~ poly(x, 3) + (1 | g)", d, 3)


def test_matrix_and_several_variables_and_factors():
    d = _data()
    assert "matrix" in _same_error("y ~ poly(cbind(x, z), 2) + (1 | g)", d)
    assert "several variables" in _same_error("y ~ poly(x, z, 2) + (1 | g)", d)
    assert "factors" in _same_error("y ~ scale(g) + (1 | x)", d)


@pytest.mark.parametrize("formula, call", [("y ~ poly(scale(x), 2) + (1 | g)", "poly(scale(x), 2)"),
                                           ("y ~ scale(x + poly(z, 1)) + (1 | g)", "scale(x + poly(z, 1))"),
                                           ("y ~ scale(as.numeric(g)) + (1 | g)", "scale(as.numeric(g))")])
def test_what_a_partitioned_fit_cannot_compute_is_refused_by_name(formula, call):
    d = _data().assign(z=lambda t: t["z"].fillna(0.0))
    with pytest.raises(FormulaError, match="^" + re.escape(call) + " .*fit in memory"):
        PartitionedCriterion(formula, dd.from_pandas(d, npartitions=3))


# ------------------------------------------------------------------ a LocalCluster


def test_local_cluster_gives_the_same_coefficients(dask_client):
    d = _data()
    f = "y ~ poly(x, 3) + scale(cbind(x, z)) + (1 | g)"
    with dask.config.set(scheduler=dask_client):
        ours = _params(f, d, npartitions=6)
    _same_params(ours, _in_memory(f, d), f)


# ------------------------------------------------------------------ live R: lme4's predvars
_R_PREDVARS = r"""
function(d, formula) {
    pv <- attr(terms(lme4::lFormula(as.formula(formula), data = d)$fr), "predvars")
    out <- list()
    for (e in as.list(pv)[-1]) {
        if (!is.call(e)) next
        fn <- as.character(e[[1]])
        if (fn == "poly") {
            co <- eval(e$coefs)
            out[[length(out) + 1]] <- list(alpha = co$alpha, norm2 = co$norm2)
        } else if (fn == "scale") {
            ce <- eval(e$center); sc <- eval(e$scale)
            out[[length(out) + 1]] <- list(center = if (is.numeric(ce)) ce else NULL,
                                           scale = if (is.numeric(sc)) sc else NULL)
        }
    }
    out
}
"""


@pytest.mark.r
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), degree=st.integers(1, 4), center=st.sampled_from(["TRUE", "FALSE", "2.5"]),
       scale=st.sampled_from(["TRUE", "FALSE", "0.5"]), npartitions=st.integers(1, 6))
def test_coefficients_equal_lme4s_predvars(seed, degree, center, scale, npartitions):
    """lme4's model frame (lFormula) on data with missing responses and covariates: the poly() /
    scale() coefficients of its predvars equal transform_params' from the partitions."""
    import rlive
    ro = rlive.robjects()
    d = _data(120, seed)
    d["g"] = d["g"].astype("category")
    f = f"y ~ poly(x, {degree}) + scale(z, center = {center}, scale = {scale}) + (1 | g)"
    r = rlive._py(ro.r(_R_PREDVARS)(rlive.to_r_frame(d), f))
    ours = _params(f, d, npartitions=npartitions)
    keys = list(ours)
    assert len(r) == len(keys) == 2
    for key, coefs in zip(keys, r):
        for name, value in coefs.items():
            if value is None:
                assert ours[key][name] is None, (key, name)
            else:
                assert_close(ours[key][name], value, f"{f}: {key} {name} against R's",
                             **TOL["partitioned_transform"])


def test_dask_fit_fitted_residuals_and_predict_use_the_whole_datas_coefficients():
    """mc.lmer on a Dask DataFrame: fitted values, residuals and predict(newdata) through the
    coefficients of the whole data (new data transformed with them, R's predvars)."""
    d = _data()
    f = "y ~ poly(x, 2) + scale(z) + (1 | g)"
    m = mc.lmer(f, d)
    md = mc.lmer(f, dd.from_pandas(d, npartitions=4))
    assert str(md.summary()) == str(m.summary())
    assert_close(md.fitted().compute().to_numpy(), m.fitted(), "fitted", **TOL["predict"])
    assert_close(md.residuals().compute().to_numpy(), m.residuals(), "residuals", **TOL["predict"])
    new = d.dropna(subset=["z"]).iloc[::9]
    assert_close(md.predict(dd.from_pandas(new, npartitions=2)).compute().to_numpy(), m.predict(new),
                 "predict(newdata)", **TOL["predict"])
