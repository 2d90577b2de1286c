"""data= as Python users hold it: pandas, polars, dict of columns, numpy structured arrays, with R's types.

The expected model matrix and factor levels come from R (tests/fixtures/gen_input.R, types.json):
strings become factors with sorted levels, a factor keeps its level order, logicals give ``bTRUE``,
integers stay numbers, a Date is days since 1970-01-01 and a POSIXct seconds since the epoch, and the
rows with an NA in any of them are left out.
"""
from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import TOL, FIXTURES, load_fixture
from mixedcompat.front.data_input import as_data_frame
from mixedcompat.front.design import model_matrix
from mixedcompat.front.transforms import column_value, factor_from_values

TYPES = load_fixture(FIXTURES / "input" / "types.json")
RHS = TYPES["formula"].lstrip("~ ")


def _python_values(info: dict) -> list:
    """A fixture column (R's text, null = NA) as Python values of the matching type."""
    out = []
    for v in info["values"]:
        if v is None:
            out.append(None)
        elif info["type"] == "numeric":
            out.append(float(v))
        elif info["type"] == "integer":
            out.append(int(v))
        elif info["type"] == "logical":
            out.append(v == "TRUE")
        elif info["type"] == "Date":
            out.append(dt.date.fromisoformat(v))
        elif info["type"] == "POSIXct":
            out.append(dt.datetime.fromisoformat(v))
        else:
            out.append(v)
    return out


def pandas_frame() -> pd.DataFrame:
    cols = {}
    for name, info in TYPES["columns"].items():
        vals = _python_values(info)
        if info["type"] == "factor":
            cols[name] = pd.Categorical(vals, categories=info["levels"])
        elif info["type"] == "integer":
            cols[name] = pd.array(vals, dtype="Int64")
        elif info["type"] == "logical":
            cols[name] = pd.array(vals, dtype="boolean")
        elif info["type"] == "POSIXct":
            cols[name] = pd.to_datetime(pd.Series(vals, dtype=object))
        elif info["type"] == "Date":
            cols[name] = pd.Series(vals, dtype=object)
        else:
            cols[name] = pd.Series(vals, dtype=object if info["type"] == "character" else float)
    return pd.DataFrame(cols)


def dict_of_lists() -> dict:
    out = {}
    for name, info in TYPES["columns"].items():
        vals = _python_values(info)
        out[name] = pd.Categorical(vals, categories=info["levels"]) if info["type"] == "factor" else vals
    return out


def polars_frame():
    pl = pytest.importorskip("polars", reason="polars is optional (the 'test' extra installs it)")
    cols = {}
    for name, info in TYPES["columns"].items():
        vals = _python_values(info)
        if info["type"] == "factor":
            cols[name] = pl.Series(name, vals, dtype=pl.Enum(info["levels"]))
        elif info["type"] == "character":
            cols[name] = pl.Series(name, vals, dtype=pl.String)
        else:
            cols[name] = pl.Series(name, vals)
    return pl.DataFrame(cols)


def structured_array() -> np.ndarray:
    """numpy has no factor type nor NA for integers and booleans: a masked structured array marks them."""
    cols = TYPES["columns"]
    fields = [("y", "f8"), ("s", "U8"), ("e", "U8"), ("b", "?"), ("i", "i8"), ("dt", "M8[D]"), ("ct", "M8[s]")]
    n = len(cols["y"]["values"])
    arr = np.ma.zeros(n, dtype=fields)
    for name, _t in fields:
        vals = _python_values(cols[name])
        for k, v in enumerate(vals):
            if v is None:
                arr[name][k] = np.ma.masked
            else:
                arr[name][k] = np.datetime64(v) if name in ("dt", "ct") else v
    return arr


def check_against_r(frame: pd.DataFrame, skip: tuple[str, ...] = ()) -> None:
    rhs = " + ".join(t for t in RHS.split(" + ") if t not in skip)
    X, names, _assign = model_matrix(rhs, frame)
    keep = [j for j, c in enumerate(TYPES["colnames"]) if not any(c.startswith(s) for s in skip)]
    assert names == [TYPES["colnames"][j] for j in keep]
    expected = np.asarray(TYPES["matrix"], dtype=float)[:, keep]
    np.testing.assert_array_equal(X, expected)
    for name, levels in TYPES["factor_levels"].items():
        if name in skip:
            continue
        fac = factor_from_values(column_value(frame[name], name))
        assert fac.levels == levels, name


def test_pandas_columns_have_r_semantics():
    check_against_r(pandas_frame())


def test_dict_of_columns_is_converted_with_r_semantics():
    frame = as_data_frame(dict_of_lists())
    check_against_r(frame)


def test_polars_frame_is_converted_with_r_semantics():
    frame = as_data_frame(polars_frame())
    assert isinstance(frame, pd.DataFrame)
    check_against_r(frame)


def test_polars_categorical_is_sorted_like_strings():
    pl = pytest.importorskip("polars", reason="polars is optional (the 'test' extra installs it)")
    df = pl.DataFrame({"g": pl.Series(["b", "a", "c", None], dtype=pl.Categorical)})
    fac = factor_from_values(column_value(as_data_frame(df)["g"], "g"))
    if getattr(df["g"].dtype, "ordering", "lexical") == "physical":    # polars < 1.32's default order
        assert fac.levels == ["b", "a", "c"] and fac.codes.tolist() == [0, 1, 2, -1]
    else:                                                               # polars >= 2: lexical, as R's factor()
        assert fac.levels == ["a", "b", "c"] and fac.codes.tolist() == [1, 0, 2, -1]


def test_structured_array_is_converted_with_r_semantics():
    # a structured array has no factor type: 'e' reads as strings (R's sorted levels), so its level
    # order is set afterwards to R's; a plain (unmasked) structured array has no NA at all
    frame = as_data_frame(structured_array())
    assert factor_from_values(column_value(frame["e"], "e")).levels == sorted(TYPES["columns"]["e"]["levels"])
    frame["e"] = pd.Categorical(frame["e"], categories=TYPES["columns"]["e"]["levels"])
    check_against_r(frame)
    plain = np.array([(1.0, b"x"), (2.0, b"y")], dtype=[("y", "f8"), ("g", "S1")])
    assert as_data_frame(plain)["g"].tolist() == ["x", "y"]


def test_the_same_fit_from_every_container():
    d = mc.datasets.load("sleepstudy")
    ref = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    columns = {"Reaction": d["Reaction"].to_numpy(), "Days": d["Days"].to_numpy(),
               "Subject": d["Subject"].astype(str).to_numpy()}
    rec = np.rec.fromarrays(list(columns.values()), names=list(columns))
    containers = [columns, rec]
    try:
        import polars as pl
        containers.append(pl.DataFrame(columns))
    except ImportError:
        pass
    for data in containers:
        m = mc.lmer("Reaction ~ Days + (Days | Subject)", data)
        assert m.REMLcrit() == pytest.approx(ref.REMLcrit(), rel=TOL["same_fit_criterion"]["rtol"])
        np.testing.assert_allclose(m.fixef(), ref.fixef(), **TOL["same_fit"])
        assert list(mc.ranef(m, condVar=False)["Subject"].index) == list(mc.ranef(ref, condVar=False)["Subject"].index)
        np.testing.assert_allclose(mc.predict(m, newdata=data), mc.predict(ref, newdata=d), **TOL["same_fit"])


def test_nlme_and_interop_entry_points_accept_a_dict():
    d = mc.datasets.load("Orthodont")
    cols = {c: d[c].to_numpy() for c in ("distance", "age")}
    cols["Subject"] = d["Subject"].astype(str).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lme("distance ~ age", cols, random="~ 1 | Subject")
        ref = mc.lme("distance ~ age", d.assign(Subject=d["Subject"].astype(str)), random="~ 1 | Subject")
    assert float(mc.logLik(m)) == pytest.approx(float(mc.logLik(ref)), rel=TOL["same_fit"]["rtol"])
    from mixedcompat.interop.statsmodels_convert import statsmodels_spec
    assert statsmodels_spec("distance ~ age + (1 | Subject)", cols).groups == "Subject"


def test_backticks_reach_a_non_syntactic_column():
    d = mc.datasets.load("sleepstudy").rename(columns={"Days": "days of sleep deprivation"})
    m = mc.lmer("Reaction ~ `days of sleep deprivation` + (1 | Subject)", d)
    assert list(m.fixef().index) == ["(Intercept)", "`days of sleep deprivation`"]


@pytest.mark.parametrize("data, message", [
    (np.zeros((3, 2)), "no column names"),
    ([1, 2, 3], "builtins.list"),
    (pd.Series([1.0, 2.0]), "to_frame"),
    ({"y": [1.0, 2.0], "x": [1.0]}, "differing number of rows"),
    ({"y": np.zeros((2, 2))}, "one-dimensional"),
    ({"y": {0: 1.0, 1: 2.0}}, "pd.DataFrame(data)"),
    ({"y": [[1.0], [2.0]]}, "single number"),
    ({"y": np.array([1, 2], dtype="m8[D]")}, "time difference"),
    ({}, "no columns"),
])
def test_unsupported_input_names_the_type_and_the_conversion(data, message):
    with pytest.raises(mc.DataError) as info:
        as_data_frame(data)
    assert message in str(info.value)


def test_polars_lazy_frame_and_duration_are_refused_with_the_fix():
    pl = pytest.importorskip("polars", reason="polars is optional (the 'test' extra installs it)")
    with pytest.raises(mc.DataError, match=r"collect\(\)"):
        as_data_frame(pl.DataFrame({"y": [1.0]}).lazy())
    with pytest.raises(mc.DataError, match="total_seconds"):
        as_data_frame(pl.DataFrame({"d": [dt.timedelta(days=1)]}))


def test_scalar_columns_are_recycled_as_in_r():
    frame = as_data_frame({"y": [1.0, 2.0, 3.0], "g": "a"})
    assert frame["g"].tolist() == ["a", "a", "a"]


def test_pandas_frame_is_used_as_it_is():
    d = mc.datasets.load("sleepstudy")
    assert as_data_frame(d) is d


def test_pandas_timedelta_column_names_the_conversion():
    d = pd.DataFrame({"y": [1.0, 2.0], "t": pd.to_timedelta([1, 2], unit="D")})
    with pytest.raises(mc.DataError, match="total_seconds"):
        model_matrix("t", d)
