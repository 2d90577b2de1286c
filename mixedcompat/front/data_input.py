"""The ``data=`` argument: tables Python users hold, converted to the pandas frame the model stages read.

Accepted: a pandas DataFrame (used as it is), a polars DataFrame, a mapping of column name -> values
(a "dict of columns"), and a numpy structured (or record, or masked structured) array.  Columns keep
the meaning R gives their types when a data frame reaches ``model.frame``:

============================  ==================================================================
column type                   becomes
============================  ==================================================================
strings                       a factor with R's ``factor()`` levels (sorted), missing -> NA
polars Categorical            a factor with sorted levels (polars >= 1.32 orders categoricals
                              lexically; before, the default physical ordering is first appearance)
polars Enum, pandas           a factor with the categories in their declared order (an ordered
Categorical                   Categorical is R's ordered factor, coded with ``contr.poly``)
booleans                      R logicals (a factor ``FALSE``/``TRUE`` in a model matrix)
integers                      numbers (factor labels print as integers), missing -> NA
floats                        numbers; NaN and null are NA
dates (polars Date,           R's ``Date``: days since 1970-01-01 as a number, ``factor()`` labels
numpy datetime64[D],          ``2020-01-31``
``datetime.date`` objects)
date-times (polars Datetime,  R's ``POSIXct``: seconds since 1970-01-01 UTC as a number
other datetime64 units)
============================  ==================================================================

No pyarrow is needed: polars columns are read through ``to_list`` / ``to_numpy``.  Anything else is
refused with a :class:`~mixedcompat.errors.DataError` that names the type and how to convert it.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError

__all__ = ["as_data_frame", "is_dask_frame"]

_HOW = ("pass a pandas DataFrame, a polars DataFrame, a dict of equal-length columns or a numpy "
        "structured array")


def as_data_frame(data: Any, what: str = "data") -> pd.DataFrame:
    """``data`` as a pandas DataFrame whose column types carry R's meaning (see the module docstring).

    A pandas DataFrame is returned unchanged (the same object).

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame, Mapping or numpy structured array
        The table.
    what : str
        The argument's name in messages (``"data"``, ``"newdata"``).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        An unsupported type (named, with the conversion to use), columns of different lengths, a
        column that is not one-dimensional.

    Examples
    --------
    >>> d = as_data_frame({"y": [1.0, 2.0, 3.0], "g": ["b", "a", None], "ok": [True, False, True]})
    >>> d["g"].isna().tolist(), d["ok"].dtype.kind
    ([False, False, True], 'b')
    """
    if isinstance(data, pd.DataFrame):
        return data
    module = type(data).__module__.split(".")[0]
    if module == "polars":
        return _from_polars(data, what)
    if module in ("dask", "dask_expr"):
        raise DataError(f"{what} is a dask DataFrame, which this function does not read in parts: call "
                        f"{what}.compute() to get a pandas DataFrame")
    if isinstance(data, Mapping):
        return _from_columns(data, what)
    if isinstance(data, np.ndarray):
        if data.dtype.names:
            return _from_structured(data, what)
        raise DataError(f"{what} is a numpy array of dtype {data.dtype} and shape {data.shape}, which has no "
                        f"column names: use a structured array, or pd.DataFrame(array, columns=[...])")
    if isinstance(data, pd.Series):
        raise DataError(f"{what} is a pandas Series, not a table: use series.to_frame() or a DataFrame")
    hint = ""
    if hasattr(data, "to_pandas"):
        hint = f" ({what}.to_pandas() gives one)"
    elif hasattr(data, "__dataframe__"):
        hint = f" (pd.api.interchange.from_dataframe({what}) gives one)"
    raise DataError(f"{what} must be a table with named columns, not {type(data).__module__}."
                    f"{type(data).__qualname__}: {_HOW}{hint}")


# --------------------------------------------------------------------------------------------
# dict of columns


def _from_columns(columns: Mapping, what: str) -> pd.DataFrame:
    if not columns:
        raise DataError(f"{what} has no columns")
    converted: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    index = None
    for name, values in columns.items():
        if not isinstance(name, str):
            raise DataError(f"{what}: column names must be strings, not {name!r}")
        if type(values).__module__.split(".")[0] == "polars":
            values = _polars_column(values, name, what)
        if isinstance(values, Mapping):
            raise DataError(f"{what}: column {name!r} is a mapping (as DataFrame.to_dict() gives); pass a dict of "
                            f"lists or arrays, or pd.DataFrame({what})")
        if np.isscalar(values) or values is None:
            converted[name] = values               # recycled below, as R's data.frame() does
            continue
        if isinstance(values, pd.Series):
            index = values.index if index is None or index.equals(values.index) else False
            values = values.array
        elif isinstance(values, np.ndarray):
            if values.ndim != 1:
                raise DataError(f"{what}: column {name!r} has shape {values.shape}; each column must be "
                                f"one-dimensional")
            values = _numpy_column(values, None, name, what)
        elif not isinstance(values, (pd.api.extensions.ExtensionArray, pd.Index)):
            try:
                ser = pd.Series(list(values), dtype=None)
            except TypeError as exc:
                raise DataError(f"{what}: column {name!r} of type {type(values).__name__} is not a sequence "
                                f"of values") from exc
            values = _object_values(ser.to_numpy(), name, what) if ser.dtype == object else ser.array
        converted[name] = values
        lengths[name] = len(values)
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k!r}: {v}" for k, v in lengths.items())
        raise DataError(f"{what}: arguments imply differing number of rows ({desc}); every column needs "
                        f"one value per row")
    n = next(iter(lengths.values())) if lengths else 1
    for name, values in converted.items():
        if name not in lengths:
            converted[name] = pd.Series([values] * n).array
    frame = pd.DataFrame({k: pd.Series(v, copy=False) for k, v in converted.items()})
    if isinstance(index, pd.Index) and len(index) == n:
        frame.index = index
    return frame


def _object_values(arr: np.ndarray, name: str, what: str) -> Any:
    """Python objects: dates stay ``datetime.date`` (R's Date); nested containers are refused."""
    for v in arr:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, (list, tuple, dict, set, np.ndarray)):
            raise DataError(f"{what}: column {name!r} holds {type(v).__name__} values; each cell must be "
                            f"a single number, string, boolean or date")
        break
    return pd.array(arr, dtype=object)


# --------------------------------------------------------------------------------------------
# numpy structured arrays


def _numpy_column(values: np.ndarray, mask: np.ndarray | None, name: str, what: str) -> Any:
    kind = values.dtype.kind
    if kind == "S":
        out = np.array([v.decode("utf-8") for v in values.tolist()], dtype=object)
    elif kind == "U":
        out = values.astype(object)
    elif kind == "M":
        unit = np.datetime_data(values.dtype)[0]
        if unit in ("D", "W", "M", "Y"):           # a calendar date: R's Date
            days = values.astype("datetime64[D]")
            out = np.array([None if np.isnat(v) else v.astype(_dt.date) for v in days], dtype=object)
        else:                                      # a time stamp: R's POSIXct (UTC)
            out = values
    elif kind in "biufO":
        out = values
    elif kind == "m":
        raise DataError(f"{what}: column {name!r} is a time difference ({values.dtype}); convert it to "
                        f"numbers in the unit you mean, e.g. values / np.timedelta64(1, 'D')")
    elif kind == "V" and values.dtype.names:
        raise DataError(f"{what}: column {name!r} is a nested record; flatten it into one column per field")
    else:
        raise DataError(f"{what}: column {name!r} has numpy dtype {values.dtype}, which has no R counterpart")
    if mask is not None and np.any(mask):
        if out.dtype.kind == "b":
            out = pd.array(np.where(mask, None, out).tolist(), dtype="boolean")
        elif out.dtype.kind in "iu":
            out = pd.array(np.where(mask, None, out).tolist(), dtype="Int64")
        elif out.dtype.kind == "f":
            out = np.where(mask, np.nan, out)
        elif out.dtype.kind == "M":
            out = np.where(mask, np.datetime64("NaT"), out)
        else:
            out = np.where(mask, None, out).astype(object)
    return out


def _from_structured(arr: np.ndarray, what: str) -> pd.DataFrame:
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    masked = np.ma.isMaskedArray(arr)
    cols = {}
    for name in arr.dtype.names:
        field = np.asarray(arr[name].data if masked else arr[name])
        mask = np.ma.getmaskarray(arr[name]) if masked else None
        if field.ndim != 1:
            raise DataError(f"{what}: field {name!r} has shape {field.shape[1:]} per row; each field must "
                            f"hold one value per row")
        cols[name] = pd.Series(_numpy_column(field, mask, name, what), copy=False)
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------------------------
# polars


def _from_polars(df: Any, what: str) -> pd.DataFrame:
    kind = type(df).__name__
    if kind == "LazyFrame":
        raise DataError(f"{what} is a polars LazyFrame: call {what}.collect() first")
    if kind == "Series":
        raise DataError(f"{what} is a polars Series, not a table: use series.to_frame()")
    if kind != "DataFrame":
        raise DataError(f"{what} is a polars {kind}, not a DataFrame: {_HOW}")
    return pd.DataFrame({name: pd.Series(_polars_column(df[name], name, what), copy=False)
                         for name in df.columns})


def _polars_column(s: Any, name: str, what: str) -> Any:
    """One polars Series as a numpy / pandas array with R's meaning for its type (no pyarrow)."""
    dtype = s.dtype
    base = getattr(dtype, "base_type", lambda: dtype)()
    tname = getattr(base, "__name__", str(base))
    nulls = np.asarray(s.is_null().to_list(), dtype=bool) if s.null_count() else None
    if tname == "Enum":
        categories = [str(c) for c in dtype.categories.to_list()]
        return pd.Categorical(s.cast(_polars_string(s)).to_list(), categories=categories)
    if tname == "Categorical":
        values = s.cast(_polars_string(s)).to_list()
        if getattr(dtype, "ordering", "lexical") == "physical":
            categories = list(dict.fromkeys(v for v in values if v is not None))
            return pd.Categorical(values, categories=categories)
        return np.array(values, dtype=object)             # lexical: R's factor() of the strings
    if tname in ("String", "Utf8"):
        return np.array(s.to_list(), dtype=object)
    if tname == "Boolean":
        if nulls is None:
            return np.asarray(s.to_list(), dtype=bool)
        return pd.array(s.to_list(), dtype="boolean")
    if base in _polars_int_types(s):
        if nulls is None:
            return s.to_numpy()
        return pd.array(s.to_list(), dtype="Int64")
    if tname in ("Float32", "Float64", "Decimal"):
        out = np.asarray(s.cast(_polars_float(s)).to_numpy(), dtype=float)
        if nulls is not None:
            out[nulls] = np.nan
        return out
    if tname == "Date":
        return np.array(s.to_list(), dtype=object)          # datetime.date objects: R's Date
    if tname == "Datetime":
        stamps = pd.Series(s.to_list(), dtype="datetime64[us]" if dtype.time_zone is None else None)
        if dtype.time_zone is not None:
            stamps = pd.to_datetime(stamps, utc=True).dt.tz_convert(dtype.time_zone)
        return stamps.array
    if tname == "Null":
        return np.array([None] * len(s), dtype=object)
    if tname == "Duration":
        raise DataError(f"{what}: column {name!r} is a polars Duration; convert it to numbers in the unit "
                        f"you mean, e.g. pl.col({name!r}).dt.total_seconds()")
    if tname == "Object":
        return _object_values(np.array(s.to_list(), dtype=object), name, what)
    raise DataError(f"{what}: column {name!r} has polars type {dtype}, which has no R counterpart in a "
                    f"model formula; convert or drop it (e.g. df.drop({name!r}))")


def _polars_string(s: Any) -> Any:
    import sys
    return sys.modules[type(s).__module__.split(".")[0]].String


def _polars_float(s: Any) -> Any:
    import sys
    return sys.modules[type(s).__module__.split(".")[0]].Float64


def _polars_int_types(s: Any) -> tuple:
    import sys
    pl = sys.modules[type(s).__module__.split(".")[0]]
    names = ("Int8", "Int16", "Int32", "Int64", "Int128", "UInt8", "UInt16", "UInt32", "UInt64")
    return tuple(getattr(pl, n) for n in names if hasattr(pl, n))


def is_dask_frame(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (without importing Dask).

    Examples
    --------
    >>> import pandas as pd
    >>> is_dask_frame(pd.DataFrame())
    False
    """
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(data, "npartitions")
