"""Load the example data sets of R's lme4 and nlme as pandas DataFrames with R's column types.

Each data set is a CSV file plus a JSON sidecar with the same stem that records every column's
R type and, for factors, the levels in R's order (which is not always alphabetical). The files are
written by ``export_datasets.R`` in this directory; ``PROVENANCE.md`` cites the original sources.

R equivalent: ``data(sleepstudy, package = "lme4")``, ``nlme::Orthodont``.

Functions: :func:`load` (a data set by name), :func:`list_datasets` (the names), and the readers
they use, :func:`read_csv_with_levels` and :func:`apply_column_metadata`.

Data sets, from lme4: ``sleepstudy`` (reaction times in a sleep deprivation study), ``Dyestuff``
and ``Dyestuff2`` (yield by batch), ``Penicillin`` (crossed plate and sample), ``Pastes`` (nested
batch and cask), ``cake`` (breakage angle of chocolate cakes), ``InstEval`` (lecture evaluations
at ETH, 73421 rows), ``cbpp`` (contagious bovine pleuropneumonia, binomial), ``grouseticks``
(counts of ticks), ``VerbAgg`` (verbal aggression item responses, binary); from nlme:
``Orthodont`` (orthodontic growth curves), ``Machines`` (productivity of machines and workers),
``Oats`` (split-plot experiment), ``Ovary`` (counts of ovarian follicles over time),
``BodyWeight`` (rat weights over time by diet), ``ergoStool`` (stool types), ``Rail`` (stress in
railway rails), ``Oxboys`` (heights of boys in Oxford).

Examples
--------
>>> from mixedcompat import datasets
>>> df = datasets.load("sleepstudy")
>>> df.shape
(180, 3)
>>> list(datasets.load("Orthodont")["Sex"].cat.categories)
['Male', 'Female']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["load", "list_datasets", "read_csv_with_levels", "apply_column_metadata", "DATA_DIR"]

DATA_DIR = Path(__file__).resolve().parent
"""Directory holding the bundled ``<name>.csv`` and ``<name>.json`` files."""

_COLUMN_TYPES = ("numeric", "integer", "logical", "factor", "ordered", "character")
_NA_TEXT = "NA"  # R's write.csv writes missing values as NA


def list_datasets() -> list[str]:
    """Names of the bundled data sets, sorted.

    Returns
    -------
    list of str
        Names accepted by :func:`load`, e.g. ``"sleepstudy"``, ``"Orthodont"``.

    Examples
    --------
    >>> from mixedcompat.datasets import list_datasets
    >>> "Dyestuff" in list_datasets()
    True
    """
    return sorted(p.stem for p in DATA_DIR.glob("*.csv") if p.with_suffix(".json").is_file())


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set with R's column types.

    Factors become pandas ``Categorical`` columns with R's level order (``ordered=True`` for R's
    ordered factors), integer columns ``int64`` (``float64`` when they hold NA), logical columns
    ``bool`` (``object`` holding ``True``/``False``/``None`` when they hold NA).

    Parameters
    ----------
    name : str
        Data set name as in R, case-sensitive (``"sleepstudy"``, ``"Dyestuff"``, ``"Orthodont"``).

    Returns
    -------
    pandas.DataFrame
        The data, with ``df.attrs["name"] = name``.

    Raises
    ------
    KeyError
        If no data set of that name is bundled; the message lists those that are.

    Examples
    --------
    >>> from mixedcompat.datasets import load
    >>> cake = load("cake")
    >>> cake["temperature"].cat.ordered
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"data set name must be a string, got {type(name).__name__}")
    available = list_datasets()
    if name not in available:
        hint = [n for n in available if n.lower() == name.lower()]
        did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
        raise KeyError(
            f"unknown data set {name!r}.{did_you_mean} Available data sets: {', '.join(available)}"
        )
    df = read_csv_with_levels(DATA_DIR / f"{name}.csv")
    df.attrs["name"] = name
    return df


def read_csv_with_levels(path: str | Path) -> pd.DataFrame:
    """Read a CSV written by R's ``write.csv`` and apply its ``<stem>.json`` column metadata.

    Without a sidecar file the CSV is read with pandas' usual type inference. With one, every
    column gets the type recorded there (see :func:`apply_column_metadata`). Used by the tests for
    fixture data and by the command line interface.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file. The metadata is looked for at the same path with suffix ``.json``.

    Returns
    -------
    pandas.DataFrame
        ``df.attrs["name"]`` is the metadata's ``name`` (the file stem without metadata).

    Raises
    ------
    FileNotFoundError
        If the CSV file does not exist.
    ValueError
        If the metadata does not match the CSV (missing columns, row count, unknown levels).

    Examples
    --------
    >>> from mixedcompat.datasets import DATA_DIR, read_csv_with_levels
    >>> df = read_csv_with_levels(DATA_DIR / "Dyestuff.csv")
    >>> list(df["Batch"].cat.categories)
    ['A', 'B', 'C', 'D', 'E', 'F']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        df = pd.read_csv(path)
        df.attrs["name"] = path.stem
        return df
    with open(meta_path, encoding="utf-8") as fh:
        meta = json.load(fh)
    # Read every field as text so factor labels such as "01" or "1.0" stay exactly as R wrote them.
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[_NA_TEXT])
    df = apply_column_metadata(raw, meta, label=str(path))
    df.attrs["name"] = meta.get("name", path.stem)
    return df


def apply_column_metadata(
    raw: pd.DataFrame, meta: Mapping[str, Any], label: str = "data"
) -> pd.DataFrame:
    """Convert the text columns of ``raw`` to the R types described by ``meta``.

    Parameters
    ----------
    raw : pandas.DataFrame
        Columns of strings (missing values as NaN), as read with ``dtype=str``.
    meta : mapping
        ``{"nrow": int, "columns": {name: {"type": ..., "levels": [...]}}}`` where type is one of
        numeric, integer, logical, factor, ordered, character.
    label : str
        Name used in error messages (the file or data set).

    Returns
    -------
    pandas.DataFrame
        New frame with the same columns in the same order.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"g": ["b", "a", None]})
    >>> meta = {"columns": {"g": {"type": "factor", "levels": ["b", "a"]}}}
    >>> list(apply_column_metadata(raw, meta)["g"].cat.categories)
    ['b', 'a']
    """
    columns = meta.get("columns", {})
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise ValueError(f"{label}: columns {missing} are in the metadata but not in the CSV")
    nrow = meta.get("nrow")
    if nrow is not None and int(nrow) != len(raw):
        raise ValueError(f"{label}: metadata says {nrow} rows, the CSV has {len(raw)}")
    out = {}
    for col in raw.columns:
        info = columns.get(col)
        if info is None:
            out[col] = _infer(raw[col])
        else:
            out[col] = _convert_column(raw[col], info, f"{label}, column {col!r}")
    return pd.DataFrame(out, index=pd.RangeIndex(len(raw)))


def _infer(values: pd.Series) -> pd.Series:
    """Numeric when every present value parses as a number, else the strings unchanged."""
    try:
        return pd.to_numeric(values)
    except (ValueError, TypeError):
        return values


def _convert_column(values: pd.Series, info: Mapping[str, Any], label: str) -> pd.Series:
    """One text column to the R type named in ``info["type"]``."""
    kind = info.get("type")
    if kind not in _COLUMN_TYPES:
        raise ValueError(f"{label}: unknown column type {kind!r}; expected one of {_COLUMN_TYPES}")
    present = values.notna()
    if kind == "numeric":
        return pd.to_numeric(values).astype("float64")
    if kind == "integer":
        numbers = pd.to_numeric(values)
        if present.all():
            return numbers.astype("int64")
        return numbers.astype("float64")
    if kind == "logical":
        text = values.str.upper()
        bad = present & ~text.isin(["TRUE", "FALSE"])
        if bad.any():
            raise ValueError(f"{label}: logical column holds {values[bad].iloc[0]!r}")
        flags = text == "TRUE"
        if present.all():
            return flags.astype(bool)
        return pd.Series(np.where(present, flags, None), index=values.index, dtype=object)
    if kind == "character":
        return values.astype(object)
    levels = [str(level) for level in info.get("levels", [])]
    unknown = set(values[present]) - set(levels)
    if unknown:
        raise ValueError(f"{label}: values {sorted(unknown)[:5]} are not among the recorded levels")
    return pd.Series(
        pd.Categorical(values, categories=levels, ordered=(kind == "ordered")), index=values.index
    )
