"""Tests for mixedcompat.datasets: every bundled data set loads with R's types and level order."""

import json

import numpy as np
import pandas as pd
import pytest

import mixedcompat.datasets as datasets
from helpers import FIXTURES, TOL

EXPECTED = {
    "sleepstudy", "Dyestuff", "Dyestuff2", "Penicillin", "Pastes", "cake", "InstEval",
    "Orthodont", "Machines", "Oats", "Ovary", "BodyWeight", "ergoStool", "Rail", "Oxboys",
    "cbpp", "grouseticks", "VerbAgg",
}


def _metadata(name):
    with open(datasets.DATA_DIR / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)


def test_list_datasets_is_sorted_and_complete():
    names = datasets.list_datasets()
    assert names == sorted(names)
    assert EXPECTED <= set(names)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_matches_metadata(name):
    meta = _metadata(name)
    df = datasets.load(name)
    assert df.attrs["name"] == name
    assert len(df) == meta["nrow"]
    assert list(df.columns) == list(meta["columns"])
    for col, info in meta["columns"].items():
        s = df[col]
        kind = info["type"]
        if kind in ("factor", "ordered"):
            assert isinstance(s.dtype, pd.CategoricalDtype), col
            assert list(s.cat.categories) == info["levels"], col
            assert s.cat.ordered == (kind == "ordered"), col
        elif kind == "numeric":
            assert s.dtype == np.float64, col
        elif kind == "integer":
            assert s.dtype == (np.int64 if s.notna().all() else np.float64), col
        elif kind == "logical":
            assert s.dtype == bool or s.dtype == object, col


def test_known_level_orders_are_rs():
    assert list(datasets.load("Orthodont")["Sex"].cat.categories) == ["Male", "Female"]
    temperature = datasets.load("cake")["temperature"]
    assert temperature.cat.ordered
    assert list(temperature.cat.categories) == ["175", "185", "195", "205", "215", "225"]
    worker = datasets.load("Machines")["Worker"]
    assert worker.cat.ordered
    assert list(worker.cat.categories) == ["6", "2", "4", "1", "3", "5"]


def test_values_round_trip():
    ss = datasets.load("sleepstudy")
    assert ss["Reaction"].iloc[0] == 249.56
    assert ss["Reaction"].sum() == pytest.approx(53731.4205, abs=TOL["dataset_sum"]["atol"])
    assert ss["Subject"].iloc[0] == "308"
    ie = datasets.load("InstEval")
    assert ie.shape == (73421, 7)
    assert ie["y"].dtype == np.int64


def test_unknown_name_errors_clearly():
    with pytest.raises(KeyError) as info:
        datasets.load("sleepStudy")
    message = str(info.value)
    assert "sleepStudy" in message and "sleepstudy" in message and "Orthodont" in message


def test_read_csv_with_levels_without_sidecar(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("x,g\n1.5,a\n2,b\n")
    df = datasets.read_csv_with_levels(path)
    assert df["x"].tolist() == [1.5, 2.0]
    assert df.attrs["name"] == "plain"


def test_read_csv_with_levels_applies_sidecar(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('"g","k","flag","y"\n"b",1,TRUE,0.1\n"a",NA,NA,NA\n"01",3,FALSE,2\n')
    meta = {
        "name": "d", "nrow": 3,
        "columns": {
            "g": {"type": "factor", "levels": ["b", "a", "01"]},
            "k": {"type": "integer"}, "flag": {"type": "logical"}, "y": {"type": "numeric"},
        },
    }
    (tmp_path / "d.json").write_text(json.dumps(meta))
    df = datasets.read_csv_with_levels(path)
    assert list(df["g"].cat.categories) == ["b", "a", "01"]
    assert df["k"].dtype == np.float64 and np.isnan(df["k"].iloc[1])
    assert df["flag"].tolist() == [True, None, False]
    assert df["y"].iloc[0] == 0.1


def test_read_csv_with_levels_rejects_bad_metadata(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('"g"\n"c"\n')
    (tmp_path / "d.json").write_text(json.dumps({"nrow": 1, "columns": {"g": {"type": "factor", "levels": ["a"]}}}))
    with pytest.raises(ValueError, match="not among the recorded levels"):
        datasets.read_csv_with_levels(path)


FIXTURE_DATA = FIXTURES / "data"


@pytest.mark.skipif(not FIXTURE_DATA.is_dir(), reason="fixture data not generated")
def test_fixture_data_files_load_with_their_metadata():
    paths = sorted(FIXTURE_DATA.glob("*.csv"))
    assert paths, "no fixture data: run Rscript tests/fixtures/generate_fixtures.R"
    for path in paths:
        with open(path.with_suffix(".json"), encoding="utf-8") as fh:
            meta = json.load(fh)
        df = datasets.read_csv_with_levels(path)
        assert len(df) == meta["nrow"], path.name
        for col, info in meta["columns"].items():
            if info["type"] in ("factor", "ordered"):
                assert list(df[col].cat.categories) == info["levels"], (path.name, col)


@pytest.mark.skipif(not FIXTURE_DATA.is_dir(), reason="fixture data not generated")
def test_bundled_and_fixture_copies_agree():
    for path in FIXTURE_DATA.glob("*.csv"):
        bundled = datasets.DATA_DIR / path.name
        if bundled.is_file():
            pd.testing.assert_frame_equal(
                datasets.read_csv_with_levels(path), datasets.read_csv_with_levels(bundled)
            )
