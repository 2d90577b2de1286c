"""Plots render headless to PNG and hold the expected panels, points and lines."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install mixedcompat[plot])")

import mixedcompat as mc  # noqa: E402
import mixedcompat.present.plots as plots  # noqa: E402


@pytest.fixture(scope="module")
def sleep():
    return mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def crossed():
    from helpers import load_fixture_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer("y ~ x + (x | g) + (1 | h)", load_fixture_data("sim_main"))


def _save(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=40)
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_caterpillar_sleepstudy(sleep, tmp_path):
    fig = plots.caterpillar(sleep)
    _save(fig, tmp_path, "caterpillar")
    assert [ax.get_title() for ax in fig.axes] == ["Subject: (Intercept)", "Subject: Days"]
    re = sleep.ranef(condVar=True)["Subject"]
    order = np.argsort(re["(Intercept)"].to_numpy(), kind="stable")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [str(re.index[i]) for i in order]
    for ax, col in zip(fig.axes, re.columns):
        pts = ax.lines[0].get_xydata()                     # the points of the errorbar container
        assert len(pts) == 18
        assert np.allclose(pts[:, 0], re[col].to_numpy()[order])
        bars = ax.collections[0].get_segments()            # one horizontal interval per level
        assert len(bars) == 18
        c = list(re.columns).index(col)
        half = 1.959963984540054 * np.sqrt(re.attrs["postVar"][order, c, c])
        assert np.allclose([s[1, 0] - s[0, 0] for s in bars], 2 * half)


def test_caterpillar_one_group_of_several(crossed, tmp_path):
    fig = plots.caterpillar(crossed)
    _save(fig, tmp_path, "cat_all")
    assert [ax.get_title() for ax in fig.axes] == ["g: (Intercept)", "g: x", "h: (Intercept)"]
    fig = plots.caterpillar(crossed, group="h")
    assert [ax.get_title() for ax in fig.axes] == ["h: (Intercept)"]
    assert len(fig.axes[0].lines[0].get_xydata()) == 6
    with pytest.raises(KeyError, match="no grouping factor 'zz'"):
        plots.caterpillar(crossed, group="zz")


def test_fitted_vs_residuals(sleep, tmp_path):
    fig = plots.fitted_vs_residuals(sleep)
    _save(fig, tmp_path, "fitres")
    ax, = fig.axes
    offsets = ax.collections[0].get_offsets()
    assert offsets.shape == (180, 2)
    assert np.allclose(offsets[:, 0], sleep.fitted())
    assert np.allclose(offsets[:, 1], sleep.residuals(type="pearson"))
    assert len(ax.lines) == 1          # the zero line


def test_qq_residuals(sleep, tmp_path):
    fig = plots.qq_residuals(sleep)
    _save(fig, tmp_path, "qq")
    ax, = fig.axes
    points, line = ax.lines
    assert len(points.get_xydata()) == 180
    assert np.allclose(points.get_ydata(), np.sort(sleep.residuals()))
    assert len(line.get_xydata()) == 2


def test_qq_ranef_one_panel_per_term(crossed, tmp_path):
    fig = plots.qq_ranef(crossed)
    _save(fig, tmp_path, "qqre")
    assert [ax.get_title() for ax in fig.axes] == ["g: (Intercept)", "g: x", "h: (Intercept)"]
    assert [len(ax.lines[0].get_xydata()) for ax in fig.axes] == [20, 20, 6]


def test_group_panels_sleepstudy(sleep, tmp_path):
    fig = plots.group_panels(sleep)
    _save(fig, tmp_path, "panels")
    assert len(fig.axes) == 18
    cf = sleep.coef()["Subject"]
    fe = sleep.fixef()
    for ax, level in zip(fig.axes, cf.index):
        assert ax.get_title() == level
        data, population, group = ax.lines
        assert len(data.get_xydata()) == 10
        x = population.get_xdata()
        assert np.allclose(population.get_ydata(), fe["(Intercept)"] + fe["Days"] * x)
        assert np.allclose(group.get_ydata(), cf.loc[level, "(Intercept)"] + cf.loc[level, "Days"] * x)


def test_group_panels_refuses_other_fixed_parts(crossed):
    from helpers import load_fixture_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer("y ~ x + z + (1 | g)", load_fixture_data("sim_main"))
        m_flag = mc.lmer("y ~ flag + (1 | g)", load_fixture_data("sim_main"))
    with pytest.raises(ValueError, match="intercept and one numeric covariate"):
        plots.group_panels(m)
    with pytest.raises(ValueError, match="not one of them"):
        plots.group_panels(crossed, x="z")
    with pytest.raises(ValueError, match="not a numeric covariate"):
        plots.group_panels(m_flag)
    assert len(plots.group_panels(crossed, x="x").axes) == 20


def test_missing_matplotlib_message(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install mixedcompat\[plot\]"):
        plots._figure()
