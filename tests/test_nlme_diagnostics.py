"""nlme's ACF, Variogram and model semivariograms reproduced on R's residuals; plots; bad input.

Expected values come from tests/fixtures/gen_nlme_diag.R (nlme 3.1-162): each fixture holds R's
residuals, groups and covariates of one fit and the tables R's ACF() / Variogram() made from them.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import FIXTURES, TOL
from mixedcompat.errors import DataError
import mixedcompat.nlme.diagnostics as dg

DIAG = FIXTURES / "nlme_diag"
CASES = sorted(p for p in DIAG.glob("*.json") if p.stem != "corstruct_variog")
RTOL = TOL["nlme_diagnostics"]


def _load(path):
    with open(path) as fh:
        return json.load(fh)


def _num(values, none=np.nan):
    """JSON numbers with R's NA / NaN / Inf (written as null) as ``none``."""
    return np.array([none if v is None else v for v in values], dtype=float)


def _entries(kind):
    out = []
    for path in CASES:
        fx = _load(path)
        for k, entry in enumerate(fx[kind]):
            out.append(pytest.param(fx, entry, id=f"{path.stem}-{kind}{k}"))
    return out


def _covariate(obs, names):
    return None if not names else np.column_stack([obs["covariates"][c] for c in names])


def _r_variogram(fx, args):
    obs = fx["obs"]
    return dg.variogram(np.array(obs["resid"][args["resType"]]), obs["group"] if args["grouped"] else None,
                        _covariate(obs, args["covariates"]), metric=args["metric"], robust=args["robust"],
                        max_dist=args["maxDist"], collapse=args["collapse"], nint=args["nint"],
                        breaks=args["breaks"])


def test_fixtures_present():
    names = {p.stem for p in CASES}
    assert {"ovary_lme_ar1", "ovary_gls_ar1", "bodyweight_lme_varpower", "spatial_gls_exp",
            "spatial_gls_plain"} <= names
    assert (DIAG / "spatial_sim.csv").exists()


# ------------------------------------------------------------------------------------------------ ACF
@pytest.mark.parametrize("fx, entry", _entries("acf"))
def test_acf_matches_r(fx, entry):
    args, obs = entry["args"], fx["obs"]
    out = dg.acf_by_group(np.array(obs["resid"][args["resType"]]), obs["group"] if args["grouped"] else None,
                          args["maxLag"])
    assert list(out.columns) == ["lag", "ACF"]
    assert out["lag"].tolist() == entry["lag"]
    np.testing.assert_allclose(out["ACF"], _num(entry["ACF"]), **RTOL)     # NaN where R has NaN
    assert out.attrs["n.used"].tolist() == entry["n_used"]


@pytest.mark.parametrize("fx, entry", _entries("acf"))
def test_acf_plot_bounds_match_r(fx, entry):
    n_used = np.array(entry["n_used"])
    for alpha, key in [(0.05, "bound_05"), (0.01, "bound_01")]:
        np.testing.assert_allclose(dg.acf_critical_bounds(n_used, alpha), _num(entry[key], np.inf), **RTOL)


def test_acf_keeps_row_order_within_interleaved_groups():
    rng = np.random.default_rng(1)
    r = rng.normal(size=30)
    g = np.repeat(["a", "b", "c"], 10)
    blocks = dg.acf_by_group(r, g, 5)
    perm = np.argsort(np.tile(np.arange(10), 3), kind="stable")       # a1 b1 c1 a2 b2 c2 ...
    mixed = dg.acf_by_group(r[perm], g[perm], 5)
    np.testing.assert_allclose(mixed["ACF"], blocks["ACF"], **TOL["acf_by_blocks"])
    # a different order within a group is a different series (reversal would not be: lags are symmetric)
    flipped = dg.acf_by_group(np.concatenate([r[[1, 0]], r[2:]]), g, 5)
    assert not np.allclose(flipped["ACF"], blocks["ACF"])


def test_acf_fractional_max_lag_truncates_as_r():
    r = np.arange(12.0) - 5.5
    assert dg.acf_by_group(r, None, 2.5)["lag"].tolist() == [0, 1, 2]


# ------------------------------------------------------------------------------------------------ Variogram
@pytest.mark.parametrize("fx, entry", _entries("variogram"))
def test_variogram_matches_r(fx, entry):
    out = _r_variogram(fx, entry["args"])
    if entry["n_pairs"] is None:                       # collapse = "none": every pair, compare as a set
        assert list(out.columns) == ["variog", "dist"] and out.attrs["collapse"] is False
        exp = np.lexsort((entry["variog"], entry["dist"]))
        got = np.lexsort((out["variog"], out["dist"]))
        np.testing.assert_allclose(out["dist"].to_numpy()[got], np.array(entry["dist"])[exp], **RTOL)
        np.testing.assert_allclose(out["variog"].to_numpy()[got], np.array(entry["variog"])[exp], **RTOL)
        return
    assert list(out.columns) == ["variog", "dist", "n.pairs"] and out.attrs["collapse"] is True
    assert out["n.pairs"].tolist() == entry["n_pairs"]
    np.testing.assert_allclose(out["dist"], entry["dist"], **RTOL)
    np.testing.assert_allclose(out["variog"], entry["variog"], **RTOL)


def _cor_pair_distances(obs):
    """Distances of the corStruct's covariate (x, y | g, euclidean) within groups, as R's getCovariate."""
    xy = _covariate(obs, ["x", "y"])
    g = np.array(obs["group"])
    out = []
    for lv in pd.unique(g):
        pts = xy[g == lv]
        full = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
        out.append(full[np.triu_indices(len(pts), 1)])
    return np.concatenate(out)


def test_model_variogram_of_fitted_corexp_matches_r():
    fx = _load(DIAG / "spatial_gls_exp.json")
    cor = fx["cor"]
    dists = _cor_pair_distances(fx["obs"])
    with_model = [e for e in fx["variogram"] if e["model"] is not None]
    assert len(with_model) >= 5
    assert all(e["model"] is None for e in fx["variogram"] if e["args"]["resType"] == "normalized")
    for entry in with_model:
        curve = dg.model_variogram_frame(cor["kind"], cor["range"], cor["nugget"], dists)
        assert list(curve.columns) == ["variog", "dist"] and len(curve) == 50
        np.testing.assert_allclose(curve["dist"], entry["model"]["dist"], **RTOL)
        np.testing.assert_allclose(curve["variog"], entry["model"]["variog"], **RTOL)


@pytest.mark.parametrize("k", range(10))
def test_corstruct_semivariograms_match_r(k):
    fx = _load(DIAG / "corstruct_variog.json")
    st = fx["structures"][k]
    sim = pd.read_csv(DIAG / fx["data"])
    obs = {"group": sim["g"].tolist(), "covariates": {"x": sim["x"].tolist(), "y": sim["y"].tolist()}}
    curve = dg.model_variogram_frame(st["kind"], st["range"], st["nugget"], _cor_pair_distances(obs))
    np.testing.assert_allclose(curve["dist"], st["dist"], **RTOL)
    np.testing.assert_allclose(curve["variog"], st["variog"], **RTOL)
    at = dg.variogram_model(st["kind"], st["range"], st["nugget"], st["fixed_dist"])
    np.testing.assert_allclose(at, st["fixed_variog"], **RTOL)


def test_distance_argument_equals_covariate_distances():
    fx = _load(DIAG / "spatial_gls_exp.json")
    obs = fx["obs"]
    r = np.array(obs["resid"]["pearson"])
    by_cov = dg.variogram(r, obs["group"], _covariate(obs, ["x", "y"]), robust=True, nint=7)
    by_dist = dg.variogram(r, obs["group"], distance=_cor_pair_distances(obs), robust=True, nint=7)
    pd.testing.assert_frame_equal(by_cov, by_dist)


def test_variogram_positions_without_covariate():
    r = np.array([0.0, 1.0, 3.0, 0.5, 0.0])
    out = dg.variogram(r, ["a", "a", "a", "b", "b"])
    assert out["dist"].tolist() == [1.0, 2.0] and out["n.pairs"].tolist() == [3, 1]
    np.testing.assert_allclose(out["variog"], [(0.5 + 2.0 + 0.125) / 3, 4.5])


# ------------------------------------------------------------------------------------------------ by group
def test_residuals_by_group_orders_levels_as_r():
    out = dg.residuals_by_group([1.0, -1.0, 2.0, 3.0], [10, 2, 10, 9])
    assert list(out) == ["2", "9", "10"] and out["10"].tolist() == [1.0, 2.0]
    cat = pd.Categorical(["lo", "hi", "lo"], categories=["mid", "lo", "hi"])
    assert list(dg.residuals_by_group([1.0, 2.0, 3.0], cat)) == ["lo", "hi"]


# ------------------------------------------------------------------------------------------------ plots
@pytest.fixture
def agg():
    mpl = pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    mpl.use("Agg")
    return mpl


def test_plot_acf_draws_bars_and_limits(agg, tmp_path):
    fx = _load(DIAG / "ovary_lme_ar1.json")
    obs = fx["obs"]
    acf = dg.acf_by_group(np.array(obs["resid"]["pearson"]), obs["group"], 10)
    ax = dg.plot_acf(acf, alpha=0.01)
    segs = ax.collections[0].get_segments()
    assert len(segs) == 11
    np.testing.assert_allclose([s[1, 1] for s in segs], acf["ACF"])
    upper, lower = ax.lines[-2], ax.lines[-1]
    bound = dg.acf_critical_bounds(acf.attrs["n.used"], 0.01)
    np.testing.assert_allclose(upper.get_ydata(), bound)
    np.testing.assert_allclose(lower.get_ydata(), -bound)
    assert ax.get_xlabel() == "Lag" and ax.get_ylabel() == "Autocorrelation"
    ax.figure.savefig(tmp_path / "acf.png", dpi=40)
    assert (tmp_path / "acf.png").read_bytes()[:4] == b"\x89PNG"
    n_lines = len(dg.plot_acf(acf, alpha=0).lines)
    assert n_lines == len(ax.lines) - 2


def test_plot_variogram_points_and_model_curve(agg, tmp_path):
    fx = _load(DIAG / "spatial_gls_exp.json")
    obs, cor = fx["obs"], fx["cor"]
    v = dg.variogram(np.array(obs["resid"]["pearson"]), obs["group"], _covariate(obs, ["x", "y"]))
    curve = dg.model_variogram_frame(cor["kind"], cor["range"], cor["nugget"], _cor_pair_distances(obs))
    ax = dg.plot_variogram(v, curve, sigma=1.0)
    assert len(ax.lines[0].get_xdata()) == len(v) == 20
    np.testing.assert_allclose(ax.lines[1].get_xdata(), curve["dist"])
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylim()[1] >= v["variog"].max()
    ax.figure.savefig(tmp_path / "variog.png", dpi=40)
    from matplotlib.figure import Figure
    own = Figure().add_subplot(1, 1, 1)
    assert dg.plot_variogram(v, ax=own) is own and len(own.lines) == 1


def test_plot_residuals_by_group_one_box_per_level(agg, tmp_path):
    fx = _load(DIAG / "ovary_lme_ar1.json")
    obs = fx["obs"]
    ax = dg.plot_residuals_by_group(np.array(obs["resid"]["pearson"]), obs["group"])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == sorted(set(obs["group"])) and len(labels) == 11
    ax.figure.savefig(tmp_path / "box.png", dpi=40)


def test_plots_need_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    acf = dg.acf_by_group(np.sin(np.arange(20.0)), None, 3)
    with pytest.raises(ImportError, match="need matplotlib"):
        dg.plot_acf(acf)
    with pytest.raises(ImportError, match="need matplotlib"):
        dg.plot_residuals_by_group([1.0, 2.0], ["a", "b"])


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_input_errors():
    r = np.arange(6.0)
    with pytest.raises(DataError, match="groups has length 5 but resid has length 6"):
        dg.acf_by_group(r, ["a"] * 5)
    with pytest.raises(DataError, match="groups has length 5"):
        dg.variogram(r, ["a"] * 5)
    with pytest.raises(DataError, match="max_lag must be a positive integer, got -1"):
        dg.acf_by_group(r, None, -1)
    with pytest.raises(DataError, match="max_lag must be a positive integer, got 0"):
        dg.acf_by_group(r, None, 0)
    with pytest.raises(DataError, match="non-finite value .*position 2"):
        dg.acf_by_group([1.0, 2.0, np.nan], None)
    with pytest.raises(DataError, match="missing value at position 1"):
        dg.variogram(r, ["a", None, "a", "b", "b", "b"])
    with pytest.raises(DataError, match="at least one group with two or more"):
        dg.acf_by_group(r, list("abcdef"))
    with pytest.raises(DataError, match="covariate must have one row per residual"):
        dg.variogram(r, None, np.arange(4.0))
    with pytest.raises(DataError, match="metric must be one of"):
        dg.variogram(r, None, r, metric="ma")                       # ambiguous prefix, as R
    assert dg.variogram(r, None, r, metric="man").equals(dg.variogram(r, None, r, metric="manhattan"))
    with pytest.raises(DataError, match="nint .3. is not consistent with breaks"):
        dg.variogram(r, None, r, breaks=[1, 2], nint=3)
    with pytest.raises(DataError, match="no residual pair is within max_dist"):
        dg.variogram(r, None, r, max_dist=0.5)
    with pytest.raises(DataError, match="distance must have one value per within-group pair .15."):
        dg.variogram(r, None, distance=[1.0, 2.0])
    with pytest.raises(DataError, match="unknown spatial correlation 'corBanana'"):
        dg.variogram_model("corBanana", 1.0, 0.0, [1.0])
    with pytest.raises(DataError, match="nugget of corExp must be in"):
        dg.variogram_model("exp", 1.0, 1.5, [1.0])
    with pytest.raises(DataError, match="range of corSpher must be positive"):
        dg.variogram_model("corSpher", 0.0, 0.0, [1.0])
    with pytest.raises(DataError, match="alpha must be between 0 and 1"):
        dg.acf_critical_bounds([10], alpha=1.5)
