"""Tests for mixedcompat.front.design: model frames, model matrices (against R fixtures) and bad input."""
from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

from mixedcompat.front.design import (build_fixed, complete_rows, fixed_matrix, grouping_factors, model_frame, model_matrix,
                                      model_variables, qr_rank, random_matrices)
from mixedcompat.errors import DataError, FormulaError, RankDeficiencyWarning
from mixedcompat.front.formula import parse_formula
from mixedcompat.front.rlang import Node
from mixedcompat.front.transforms import Num, parse_r, r_number
from helpers import FIXTURES, load_fixture_data

MM_FILES = sorted((FIXTURES / "model_matrix").glob("*.json"))


def _load_data(stem: str) -> pd.DataFrame:
    return load_fixture_data(stem)


# ---------------------------------------------------------------- R fixtures


def test_enough_model_matrix_fixtures():
    assert len(MM_FILES) >= 10, f"expected >= 10 model_matrix fixtures, found {len(MM_FILES)}"


@pytest.mark.parametrize("path", MM_FILES, ids=[p.stem for p in MM_FILES])
def test_model_matrix_matches_r(path):
    fx = json.loads(path.read_text())
    data = _load_data(fx["data"])
    rhs = fx["formula"].split("~", 1)[1]
    X, names, assign = model_matrix(rhs, data, fx.get("contrasts"))
    assert names == fx["colnames"]
    assert X.shape[0] == fx["nrow"]
    expected = np.array(fx["matrix"], dtype=float)
    np.testing.assert_allclose(X[: len(expected)], expected, rtol=1e-10, atol=1e-12)
    if fx.get("assign") is not None:
        assert list(assign) == list(fx["assign"])


# ---------------------------------------------------------------- naming (R semantics); the term algebra: test_terms.py

@pytest.mark.parametrize("text, spelled", [
    ("I(x^2)", "I(x^2)"), ("poly(x,2)", "poly(x, 2)"), ("log(x,base=2)", "log(x, base = 2)"),
    ("x/2", "x/2"), ("x*2", "x * 2"), ("I(x%%2)", "I(x%%2)"), ("`a b`", "`a b`"), ("1e5*x", "1e+05 * x"),
])
def test_deparse_spelling(text, spelled):
    assert parse_r(text).deparse() == spelled


def test_number_labels():
    assert [r_number(v) for v in (308.0, 1e5, 0.3, 1e-4)] == ["308", "1e+05", "0.3", "1e-04"]


def _frame(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n), "z": rng.uniform(1, 3, n),
        "f": np.tile(["b", "a", "c"], n // 3), "g": np.repeat(np.arange(n // 4) * 10.0, 4),
        "a": np.tile(["a1", "a2"], n // 2), "bb": np.repeat(["u", "v", "w"], n // 3),
        "flag": np.tile([True, False, False, True], n // 4), "w": rng.uniform(0.5, 2, n),
        "Reaction.time": rng.normal(size=n)})


def test_frame_basic_names_levels_and_groups():
    d = _frame()
    mf = model_frame(parse_formula("Reaction.time ~ x * f + flag + (0 + f | g) + (1 | a:bb)"), d)
    assert mf.x_names == ["(Intercept)", "x", "fb", "fc", "flagTRUE", "x:fb", "x:fc"]
    assert mf.x_terms == ["x", "f", "flag", "x:f"]
    assert list(mf.x_assign) == [0, 1, 2, 2, 3, 4, 4]
    assert mf.response_name == "Reaction.time"
    assert mf.re_X[0][1] == ["fa", "fb", "fc"]
    codes, labels = mf.re_groups[0]
    assert labels == ["0", "10", "20", "30", "40", "50"]
    assert labels[codes[5]] == "10"
    codes, labels = mf.re_groups[1]
    assert labels == ["a1:u", "a1:v", "a1:w", "a2:u", "a2:v", "a2:w"]
    assert labels[codes[0]] == f"{d.a[0]}:{d.bb[0]}"


def test_frame_na_omit_drops_rows_and_unused_levels():
    d = _frame()
    d.loc[[2, 5, 8, 11, 14, 17, 20, 23], "x"] = np.nan     # every 'c' row
    mf = model_frame(parse_formula("y ~ x + f + (1 | g)"), d)
    assert len(mf.y) == 16 and list(mf.rows) == [i for i in range(24) if i % 3 != 2]
    assert mf.x_names == ["(Intercept)", "x", "fb"]       # level 'c' no longer observed
    assert list(mf.data.index) == list(mf.rows)


def test_frame_offset_weights_subset():
    d = _frame()
    mf = model_frame(parse_formula("log(z) ~ x + offset(x) + (1 | g)"), d, weights="w", offset="z",
                     subset="x > 0")
    sel = d.x > 0
    np.testing.assert_allclose(mf.y, np.log(d.z[sel]))
    np.testing.assert_allclose(mf.offset, (d.x + d.z)[sel])
    np.testing.assert_allclose(mf.weights, d.w[sel])
    assert mf.response_name == "log(z)"


def test_rank_deficiency_drops_columns_with_lme4_message():
    d = _frame()
    d["x2"] = 2 * d["x"]
    d["x3"] = d["x"] + 1
    with pytest.warns(RankDeficiencyWarning, match="dropping 2 columns / coefficients"):
        mf = model_frame(parse_formula("y ~ x + x2 + x3 + (1 | g)"), d)
    assert mf.x_names == ["(Intercept)", "x"] and mf.dropped == ["x2", "x3"]
    with pytest.warns(RankDeficiencyWarning, match="dropping 1 column / coefficient$"):
        model_frame(parse_formula("y ~ x + x2 + (1 | g)"), d)


def test_qr_rank_limited_pivoting():
    X = np.column_stack([np.ones(5), np.zeros(5), np.arange(5.0), 3 * np.arange(5.0), np.arange(5.0) ** 2])
    rank, pivot = qr_rank(X)
    assert rank == 3 and pivot.tolist() == [0, 2, 4, 1, 3]


def test_build_fixed_uses_training_parameters():
    d = _frame()
    mf = model_frame(parse_formula("y ~ poly(x, 2) + scale(z) + f + (1 | g)"), d)
    Xn = build_fixed(mf.fixed_spec, d.iloc[[3, 7, 0]])
    np.testing.assert_allclose(Xn, mf.X[[3, 7, 0]], rtol=1e-10, atol=1e-12)
    with pytest.raises(DataError, match="new level"):
        build_fixed(mf.fixed_spec, pd.DataFrame({"x": [0.0], "z": [1.0], "f": ["zz"]}))


def test_ordered_categorical_gets_poly_contrasts_and_user_contrasts():
    d = _frame()
    d["o"] = pd.Categorical(d["bb"], categories=["w", "u", "v"], ordered=True)
    mf = model_frame(parse_formula("y ~ o + f + (1 | g)"), d, contrasts={"f": "contr.sum"})
    assert mf.x_names == ["(Intercept)", "o.L", "o.Q", "f1", "f2"]


# ---------------------------------------------------------------- bad input


def test_unknown_fixed_variable():
    with pytest.raises(FormulaError, match="nosuch"):
        model_frame(parse_formula("y ~ nosuch + (1 | g)"), _frame())


def test_unknown_grouping_variable():
    with pytest.raises(FormulaError, match="hh"):
        model_frame(parse_formula("y ~ x + (1 | hh)"), _frame())


def test_unknown_response():
    with pytest.raises(FormulaError, match="yy"):
        model_frame(parse_formula("yy ~ x + (1 | g)"), _frame())


def test_non_numeric_response():
    with pytest.raises(DataError, match="response must be numeric.*'f'"):
        model_frame(parse_formula("f ~ x + (1 | g)"), _frame())


def test_logical_response_is_zero_one():
    mf = model_frame(parse_formula("flag ~ x + (1 | g)"), _frame())
    assert set(np.unique(mf.y)) == {0.0, 1.0}


def test_negative_weights():
    d = _frame()
    d.loc[4, "w"] = -1.0
    with pytest.raises(DataError, match="negative weights.*'w'"):
        model_frame(parse_formula("y ~ x + (1 | g)"), d, weights="w")


def test_non_finite_weights():
    d = _frame()
    d.loc[4, "w"] = np.inf
    with pytest.raises(DataError, match=r"objective in x0 returns NA: the weights 'w' are Inf in 1 row \(row label 4\)"):
        model_frame(parse_formula("y ~ x + (1 | g)"), d, weights="w")


def test_unknown_weights_column():
    with pytest.raises(FormulaError, match="wt"):
        model_frame(parse_formula("y ~ x + (1 | g)"), _frame(), weights="wt")


def test_all_rows_removed_by_na():
    d = _frame()
    d["x"] = np.nan
    with pytest.raises(DataError, match="0 \\(non-NA\\) cases.*'x'"):
        model_frame(parse_formula("y ~ x + (1 | g)"), d)


def test_all_rows_removed_by_subset():
    with pytest.raises(DataError, match="subset removed all"):
        model_frame(parse_formula("y ~ x + (1 | g)"), _frame(), subset="x > 100")


def test_empty_data():
    with pytest.raises(DataError, match="no rows"):
        model_frame(parse_formula("y ~ x + (1 | g)"), _frame().iloc[:0])


def test_na_action_fail_names_column():
    d = _frame()
    d.loc[3, "z"] = np.nan
    with pytest.raises(DataError, match="missing values.*'z'"):
        model_frame(parse_formula("y ~ z + (1 | g)"), d, na_action="fail")


def test_single_level_factor():
    d = _frame()
    with pytest.raises(DataError, match="2 or more levels.*'a'"):
        model_frame(parse_formula("y ~ a + (1 | g)"), d, subset=d.a == "a1")


def test_vectorised_on_large_data():
    rng = np.random.default_rng(1)
    n = 200_000
    d = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n), "g": rng.integers(0, 5000, n)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mf = model_frame(parse_formula("y ~ x + (1 | g)"), d)
    assert mf.X.shape == (n, 2) and len(mf.re_groups[0][1]) == len(np.unique(d.g))


# ---------------------------------------------------------------- model_frame's steps


def test_model_variables_are_keyed_by_tree_and_evaluated_once():
    d = _frame()
    v = model_variables(parse_formula("log(z) ~ x + log( z ):f + (0 + x | g) + (1 | a:bb)"), d)
    assert [n.deparse() for n in v.values] == ["log(z)", "x", "f", "g", "a", "bb"]
    assert all(isinstance(n, Node) for n in v.values)
    assert v.fixed.labels == ["x", "log(z):f"]


def test_steps_compose_to_model_frame():
    d = _frame()
    d.loc[[1, 4], "x"] = np.nan
    parts = parse_formula("y ~ x * f + (x | g)")
    v = model_variables(parts, d)
    used = complete_rows([(n.deparse(), val) for n, val in v.values.items()], np.ones(len(d), bool), False)
    X, names, assign, dropped, spec = fixed_matrix(v, used, None)
    re_X, _specs = random_matrices(v, used)
    groups = grouping_factors(v.groups, v.values, used)
    mf = model_frame(parts, d)
    assert list(used.rows) == list(mf.rows) and names == mf.x_names and dropped == mf.dropped == []
    np.testing.assert_array_equal(X, mf.X)
    np.testing.assert_array_equal(re_X[0][0], mf.re_X[0][0])
    assert groups[0][1] == mf.re_groups[0][1]


def test_complete_rows_names_the_missing_columns():
    cols = [("x", Num(np.array([1.0, np.nan, 3.0]))), ("(weights)", Num(np.array([1.0, 1.0, np.nan])))]
    assert complete_rows(cols, np.ones(3, bool), False).rows.tolist() == [0]
    with pytest.raises(DataError, match=r"'x' \(1 row\), '\(weights\)' \(1 row\)"):
        complete_rows(cols, np.ones(3, bool), True)
