"""Diagnostic plots of an lmer fit with matplotlib (optional extra: ``pip install mixedcompat[plot]``).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so it works headless
(Agg) and never opens a window; save it with ``fig.savefig("out.png")``.

* :func:`caterpillar` -- lme4's ``dotplot(ranef(m, condVar = TRUE))``: conditional modes with 95% intervals
* :func:`fitted_vs_residuals` -- lme4's ``plot(m)``: Pearson residuals against fitted values
* :func:`qq_residuals`, :func:`qq_ranef` -- normal quantile plots (``qqnorm`` + ``qqline``)
* :func:`group_panels` -- the sleepstudy lattice: data, population line and group line per level
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from mixedcompat.model import require_rows

__all__ = ["caterpillar", "fitted_vs_residuals", "qq_residuals", "qq_ranef", "group_panels"]

Z_95 = 1.959963984540054          # qnorm(0.975)
MAX_LEVEL_LABELS = 60              # above this, level labels on the y axis are left out


def _figure(**kw: Any):
    """A pyplot-free Figure (Agg canvas), or a clear error when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("mixedcompat.present.plots needs matplotlib: pip install mixedcompat[plot]") from exc
    return Figure(**kw)


def _ppoints(n: int) -> np.ndarray:
    """R's ``ppoints(n)``: (i - a) / (n + 1 - 2a), a = 3/8 if n <= 10 else 1/2."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def _qq(ax, values: np.ndarray, title: str, ylabel: str) -> None:
    """``qqnorm`` points and ``qqline`` (through the quartiles) on one axes."""
    from scipy.stats import norm
    v = np.sort(np.asarray(values, dtype=float))
    theo = norm.ppf(_ppoints(len(v)))
    ax.plot(theo, v, "o", markersize=3, color="C0", label="_points")
    q1, q3 = np.quantile(v, [0.25, 0.75])
    t1, t3 = norm.ppf([0.25, 0.75])
    slope = (q3 - q1) / (t3 - t1)
    icpt = q1 - slope * t1
    xs = np.array([theo.min(), theo.max()]) if len(theo) else np.array([-1.0, 1.0])
    ax.plot(xs, icpt + slope * xs, "-", color="0.4", linewidth=1, label="_qqline")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("Standard normal quantiles", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)


def caterpillar(m, group: str | None = None):
    """Conditional modes with 95% prediction intervals (lme4's ``dotplot(ranef(m, condVar = TRUE))``).

    One panel per grouping factor and random-effect column; levels sorted by the first column of their
    factor; intervals ``b +/- 1.96 sqrt(postVar)``.

    Parameters
    ----------
    m : LmerMod
    group : str, optional
        One grouping factor (default: all, one row of panels each).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> from mixedcompat.present.plots import caterpillar
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> len(caterpillar(m).axes)
    2
    """
    re = m.ranef(condVar=True)
    groups = list(re) if group is None else [group]
    for g in groups:
        if g not in re:
            raise KeyError(f"caterpillar: no grouping factor {g!r}; the model has {', '.join(map(repr, re))}")
    ncols = max(re[g].shape[1] for g in groups)
    heights = [max(1.0, min(12.0, 0.18 * len(re[g]) + 0.8)) for g in groups]
    fig = _figure(figsize=(3.2 * ncols + 0.8, sum(heights) + 0.3 * len(groups)), layout="constrained")
    grid = fig.add_gridspec(len(groups), ncols, height_ratios=heights)
    for r, g in enumerate(groups):
        df = re[g]
        pv = df.attrs["postVar"]
        order = np.argsort(df.iloc[:, 0].to_numpy(), kind="stable")
        labels = [str(df.index[i]) for i in order]
        ypos = np.arange(len(order))
        first = None
        for c, col in enumerate(df.columns):
            ax = fig.add_subplot(grid[r, c], sharey=first)
            first = first or ax
            est = df[col].to_numpy()[order]
            half = Z_95 * np.sqrt(np.maximum(pv[order, c, c], 0.0))
            ax.errorbar(est, ypos, xerr=half, fmt="o", color="C0", ecolor="0.35", markersize=3,
                        elinewidth=1, capsize=0)
            ax.axvline(0.0, color="0.6", linewidth=0.8, linestyle="--")
            ax.set_title(f"{g}: {col}", fontsize=9)
            ax.set_ylim(-0.7, len(order) - 0.3)
            if c == 0 and len(order) <= MAX_LEVEL_LABELS:
                ax.set_yticks(ypos, labels, fontsize=7)
            elif c == 0:
                ax.set_yticks([])
                ax.set_ylabel(f"{len(order)} levels", fontsize=8)
            else:
                ax.tick_params(labelleft=False)
            ax.tick_params(axis="x", labelsize=7)
    return fig


def fitted_vs_residuals(m):
    """Pearson residuals against fitted values with a zero line (lme4's ``plot(m)``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> len(fitted_vs_residuals(m).axes[0].collections)
    1
    """
    require_rows(m, "fitted_vs_residuals")
    fig = _figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(m.fitted(), m.residuals(type="pearson"), s=10, color="C0")
    ax.axhline(0.0, color="0.4", linewidth=1)
    ax.set_xlabel("fitted(.)")
    ax.set_ylabel("resid(., type = \"pearson\")")
    return fig


def qq_residuals(m):
    """Normal quantile plot of the residuals with ``qqline``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> len(qq_residuals(m).axes[0].lines)
    2
    """
    require_rows(m, "qq_residuals")
    fig = _figure(figsize=(5, 4.5), layout="constrained")
    _qq(fig.add_subplot(), m.residuals(), "Normal Q-Q plot of residuals", "Sample quantiles")
    return fig


def qq_ranef(m):
    """Normal quantile plots of the conditional modes, one panel per grouping factor and column.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> [ax.get_title() for ax in qq_ranef(m).axes]
    ['Subject: (Intercept)', 'Subject: Days']
    """
    re = m.ranef()
    panels = [(g, col) for g, df in re.items() for col in df.columns]
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _figure(figsize=(3.6 * ncols, 3.3 * nrows), layout="constrained")
    for i, (g, col) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _qq(ax, re[g][col].to_numpy(), f"{g}: {col}", "Conditional modes")
    return fig


def group_panels(m, x: str | None = None, ncols: int | None = None):
    """One panel per level of the first grouping factor: data, population line and group line.

    The population line is ``fixef(m)``; the group line is ``coef(m)[g]`` for that level.  For models
    whose fixed part is an intercept and one numeric covariate (e.g. ``Reaction ~ Days + (Days | Subject)``).

    Parameters
    ----------
    m : LmerMod
    x : str, optional
        The covariate (a fixed-effect name); by default the only non-intercept fixed effect.
    ncols : int, optional
        Panels per row (default about sqrt(levels) * 1.5).

    Raises
    ------
    ValueError
        When the fixed part is not ``(Intercept)`` plus one covariate.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> len(group_panels(m).axes)
    18
    """
    require_rows(m, "group_panels")
    fe = m.fixef()
    names = list(fe.index)
    others = [n for n in names if n != "(Intercept)"]
    if "(Intercept)" not in names or len(others) != 1 or (x is not None and x not in others):
        raise ValueError("group_panels needs a fixed part of an intercept and one numeric covariate "
                         f"(fixed effects here: {', '.join(names) or 'none'}"
                         + (f"; x={x!r} is not one of them" if x is not None and x not in others else "")
                         + ")")
    x = others[0] if x is None else x
    j = names.index(x)
    xv = np.asarray(m.frame.X[:, j], dtype=float)
    if len(np.unique(xv)) <= 2:
        raise ValueError(f"group_panels: fixed effect {x!r} is not a numeric covariate "
                         "(it takes at most two values: a factor or logical contrast)")
    y = np.asarray(m.frame.y, dtype=float)
    term = m.terms[0]
    g = term.group
    codes = np.asarray(term.codes)
    cf = m.coef()[g]
    nlev = term.n_levels
    ncols = ncols or max(1, min(nlev, int(math.ceil(math.sqrt(nlev) * 1.5))))
    nrows = math.ceil(nlev / ncols)
    fig = _figure(figsize=(1.9 * ncols + 0.6, 1.7 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    span = np.array([np.nanmin(xv), np.nanmax(xv)])
    b0, b1 = float(fe["(Intercept)"]), float(fe[x])
    for k in range(nrows * ncols):
        ax = axes.flat[k]
        if k >= nlev:
            continue
        rows = codes == k
        level = str(term.levels[k])
        ax.plot(xv[rows], y[rows], "o", markersize=3, color="C0", label="data")
        ax.plot(span, b0 + b1 * span, "--", color="0.5", linewidth=1, label="population")
        c0 = float(cf.loc[level, "(Intercept)"]) if "(Intercept)" in cf.columns else b0
        c1 = float(cf.loc[level, x]) if x in cf.columns else b1
        ax.plot(span, c0 + c1 * span, "-", color="C3", linewidth=1.2, label=level)
        ax.set_title(level, fontsize=8, pad=2)
        ax.tick_params(labelsize=7)
    for k in range(nlev, nrows * ncols):
        fig.delaxes(axes.flat[k])
        if k - ncols >= 0 and k - ncols < nlev:      # the panel above an empty slot shows its x labels
            axes.flat[k - ncols].xaxis.set_tick_params(labelbottom=True)
    fig.supxlabel(x, fontsize=9)
    fig.supylabel(m.frame.response_name, fontsize=9)
    handles, _ = axes.flat[0].get_legend_handles_labels()
    legend_labels = ["data", "population (fixef)", f"{g} (coef)"]
    try:    # matplotlib >= 3.7: a legend above the panels
        fig.legend(handles, legend_labels, loc="outside upper center", ncol=3, fontsize=8, frameon=False)
    except ValueError:
        axes.flat[0].legend(handles, legend_labels, fontsize=6, frameon=False)
    return fig
