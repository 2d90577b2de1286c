"""Residual diagnostics of nlme fits: the empirical ACF, the semivariogram and residuals by group.

Array-level versions of nlme's ``ACF.lme`` / ``ACF.gls``, ``Variogram.lme`` / ``Variogram.gls`` /
``Variogram.default`` and the model semivariograms of the spatial correlation structures
(``Variogram.corExp`` & co.), plus matplotlib plots of them (optional extra: ``pip install
mixedcompat[plot]``; matplotlib is imported only inside the plotting functions).

The fit objects pick the residuals (``resType``) and the innermost grouping; these functions do the
statistics: :func:`acf_by_group`, :func:`acf_critical_bounds`, :func:`variogram`,
:func:`variogram_model`, :func:`model_variogram_frame`, :func:`residuals_by_group` and the plots
:func:`plot_acf`, :func:`plot_variogram`, :func:`plot_residuals_by_group`.

nlme's rules, established by experiment with nlme 3.1-162 (see tests/fixtures/gen_nlme_diag.R):

* ACF: within each group the residuals are taken in row order (the time covariate of ``form`` is
  not used, not even to sort). ``ACF(k) = (S_k / n_k) / (S_0 / N)`` with ``S_k`` the sum over groups
  of ``r_t r_{t+k}`` and ``n_k`` the number of such pairs (R's ``attr(, "n.used")``). Default
  ``maxLag = floor(min(max_i n_i - 1, 10 log10(N / n_groups)))``; a lag without pairs gives NaN.
* ``plot(ACF(m), alpha)`` draws ``+/- qnorm(1 - alpha/2) / sqrt(n.used)`` at every lag.
* Variogram: per within-group pair ``(r_i - r_j)^2 / 2`` at the covariate distance (row positions
  ``1..n_i`` when there is no covariate). Pairs with distance ``> maxDist`` are dropped first. Then, when
  ``breaks`` is missing and there are at most ``nint`` distinct distances, one row per distinct distance;
  otherwise the distances are cut into right-closed intervals ``(b[k-1], b[k]]`` with ``b`` the
  ``unique`` type-7 quantiles at ``seq(0, 1, length = nint + 1)`` (``collapse = "quantiles"``) or
  ``seq(min, max, length = nint + 1)`` (``"fixed"``), or the sorted ``breaks`` with the smallest distance
  put in front when it is below ``breaks[0]``. Pairs at the lowest break itself fall outside every
  interval (R drops them, and so do we); empty intervals are dropped. ``dist`` is the median distance of
  the interval, ``variog`` the mean, or with ``robust`` Cressie & Hawkins' estimator
  ``(mean |r_i - r_j|^(1/2))^4 / (0.457 + 0.494 / n) / 2``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from mixedcompat.errors import DataError
from mixedcompat.present.rformat import quantile7
from mixedcompat.rmatch import pmatch

__all__ = ["acf_by_group", "acf_critical_bounds", "variogram", "variogram_model", "model_variogram_frame",
           "residuals_by_group", "plot_acf", "plot_variogram", "plot_residuals_by_group", "SPATIAL_KINDS"]

SPATIAL_KINDS = ("corExp", "corGaus", "corSpher", "corLin", "corRatio")
METRICS = ("euclidean", "maximum", "manhattan")
COLLAPSE = ("quantiles", "fixed", "none")
DEFAULT_NINT = 20
CH_CONST = 0.457           # Cressie & Hawkins (1980): E|Z|^(1/2) correction, 0.457 + 0.494 / n
CH_SLOPE = 0.494


# ---------------------------------------------------------------------------------------------- input
def _residuals(resid: Any) -> np.ndarray:
    r = np.asarray(resid, dtype=float)
    if r.ndim != 1:
        raise DataError(f"resid must be one-dimensional, got shape {r.shape}")
    if r.size == 0:
        raise DataError("resid is empty")
    bad = np.flatnonzero(~np.isfinite(r))
    if bad.size:
        raise DataError(f"resid has a non-finite value ({r[bad[0]]!r}) at position {bad[0]}")
    return r


def _group_codes(groups: Any, n: int) -> np.ndarray:
    """Integer codes 0..G-1 (order of first appearance), one per residual; all 0 without groups."""
    if groups is None:
        return np.zeros(n, dtype=np.intp)
    g = groups if isinstance(groups, (pd.Series, pd.Categorical, pd.Index)) else np.asarray(groups)
    if getattr(g, "ndim", 1) != 1:
        raise DataError(f"groups must be one-dimensional, got shape {np.shape(g)}")
    if len(g) != n:
        raise DataError(f"groups has length {len(g)} but resid has length {n}")
    codes, _ = pd.factorize(pd.Series(g).to_numpy() if isinstance(g, pd.Series) else g, sort=False)
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        raise DataError(f"groups has a missing value at position {missing[0]}")
    return codes.astype(np.intp)


def _members(codes: np.ndarray) -> list[np.ndarray]:
    """Row indices of each group, in row order, groups in order of first appearance."""
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes))[:-1]
    return np.split(order, bounds)


def _match_choice(value: str, choices: Sequence[str], what: str) -> str:
    """R's ``match.arg``: an exact name or a unique prefix of one."""
    if not isinstance(value, str):
        raise DataError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    hit = pmatch(value, choices)
    if hit is None:
        raise DataError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return hit


def _r_seq(start: float, stop: float, length_out: int) -> np.ndarray:
    """R's ``seq(start, stop, length.out = n)``: exact end points, ``start + k (stop - start)/(n - 1)`` inside."""
    if length_out == 1:
        return np.array([start], dtype=float)
    inner = start + np.arange(1, length_out - 1) * ((stop - start) / (length_out - 1))
    return np.concatenate([[start], inner, [stop]])


# ---------------------------------------------------------------------------------------------- ACF
def acf_by_group(resid: np.ndarray, groups: np.ndarray | None = None,
                 max_lag: int | float | None = None) -> pd.DataFrame:
    """Empirical autocorrelation of residuals within groups (nlme's ``ACF.lme`` / ``ACF.gls``).

    Parameters
    ----------
    resid : array of shape (n,)
        Residuals (nlme's default ``resType`` is ``"pearson"``; ``"normalized"`` for checking a
        correlation structure). Within each group the rows must be in time order: nlme takes the
        row order and does not sort by the time covariate.
    groups : array of shape (n,), optional
        The (innermost) grouping; products are taken only within a group. ``None``: one series.
    max_lag : int, optional
        Largest lag (``maxLag``); a fractional value is truncated as R does. Default
        ``floor(min(max_i n_i - 1, 10 log10(N / n_groups)))``, at least 1 (R fails on 0).

    Returns
    -------
    pandas.DataFrame
        Columns ``lag`` (int) and ``ACF``; ``.attrs["n.used"]`` holds the number of residual pairs
        behind each lag (R's ``attr(, "n.used")``, lag 0: the number of residuals). A lag without
        pairs has ``ACF`` NaN, as in R.

    Examples
    --------
    >>> import numpy as np
    >>> a = acf_by_group(np.array([1.0, -1.0, 2.0, 0.5, -0.5, 1.0]), ["a", "a", "a", "b", "b", "b"], 1)
    >>> a["lag"].tolist(), a.attrs["n.used"].tolist()
    ([0, 1], [6, 4])
    """
    r = _residuals(resid)
    codes = _group_codes(groups, r.size)
    sizes = np.bincount(codes)
    longest = int(sizes.max()) - 1
    if max_lag is None:
        if longest < 1:
            raise DataError("ACF needs at least one group with two or more residuals")
        max_lag = int(math.floor(min(longest, 10.0 * math.log10(r.size / sizes.size))))
        max_lag = max(max_lag, 1)
    else:
        if isinstance(max_lag, bool) or not isinstance(max_lag, (int, float, np.integer, np.floating)) \
                or not math.isfinite(max_lag) or max_lag < 1:
            raise DataError(f"max_lag must be a positive integer, got {max_lag!r}")
        max_lag = int(math.floor(max_lag))
    order = np.argsort(codes, kind="stable")
    rs, cs = r[order], codes[order]
    products = np.empty(max_lag + 1)
    n_used = np.empty(max_lag + 1, dtype=np.int64)
    products[0], n_used[0] = float(np.dot(rs, rs)), r.size
    for k in range(1, max_lag + 1):
        if k >= r.size:
            products[k], n_used[k] = 0.0, 0
            continue
        same = cs[:-k] == cs[k:]
        products[k] = float(np.dot(rs[:-k][same], rs[k:][same]))
        n_used[k] = int(same.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_products = products / n_used
    out = pd.DataFrame({"lag": np.arange(max_lag + 1), "ACF": mean_products / mean_products[0]})
    out.attrs["n.used"] = n_used
    return out


def acf_critical_bounds(n_used: np.ndarray | Sequence[int], alpha: float = 0.05) -> np.ndarray:
    """The critical limits ``plot(ACF(m), alpha)`` draws: ``qnorm(1 - alpha/2) / sqrt(n.used)`` per lag.

    Approximate two-sided level-``alpha`` limits for an autocorrelation of zero (white noise);
    ``+/-`` this value. A lag without pairs gets ``inf``.

    Parameters
    ----------
    n_used : array of int
        Number of residual pairs per lag (``acf_by_group(...).attrs["n.used"]``).
    alpha : float
        Significance level, ``0 < alpha < 1``.

    Examples
    --------
    >>> acf_critical_bounds([100, 25]).round(4).tolist()
    [0.196, 0.392]
    """
    if not (isinstance(alpha, (int, float, np.floating)) and 0 < alpha < 1):
        raise DataError(f"alpha must be between 0 and 1, got {alpha!r}")
    n = np.asarray(n_used, dtype=float)
    if np.any(n < 0) or not np.all(np.isfinite(n)):
        raise DataError("n_used must hold non-negative pair counts")
    with np.errstate(divide="ignore"):
        return norm.ppf(1 - alpha / 2) / np.sqrt(n)


# ---------------------------------------------------------------------------------------------- variogram
def _pairs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Within-group pairs (i < j in row order), groups in order of first appearance, as R's ``dist``.

    Returns the row indices ``i``, ``j`` and the positions of ``i`` and ``j`` within their group.
    """
    firsts, seconds, pos_i, pos_j = [], [], [], []
    triu_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for rows in _members(codes):
        m = rows.size
        if m < 2:
            continue
        if m not in triu_cache:
            triu_cache[m] = np.triu_indices(m, 1)
        a, b = triu_cache[m]
        firsts.append(rows[a]), seconds.append(rows[b]), pos_i.append(a), pos_j.append(b)
    if not firsts:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, empty, empty
    return (np.concatenate(firsts), np.concatenate(seconds), np.concatenate(pos_i), np.concatenate(pos_j))


def _pair_distances(covariate: Any, n: int, i: np.ndarray, j: np.ndarray, metric: str) -> np.ndarray:
    x = np.asarray(covariate, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != n:
        raise DataError(f"covariate must have one row per residual ({n}), got shape {np.shape(covariate)}")
    bad = np.argwhere(~np.isfinite(x))
    if bad.size:
        raise DataError(f"covariate has a non-finite value at row {bad[0][0]}, column {bad[0][1]}")
    diff = x[i] - x[j]
    if metric == "euclidean":
        return np.sqrt(np.sum(diff * diff, axis=1))
    if metric == "maximum":
        return np.max(np.abs(diff), axis=1)
    return np.sum(np.abs(diff), axis=1)


def _summarise(values: np.ndarray, d: np.ndarray, bins: np.ndarray, n_bins: int,
               robust: bool) -> pd.DataFrame:
    """One row per non-empty bin 0..n_bins-1: semivariogram, median distance, number of pairs."""
    order = np.argsort(bins, kind="stable")
    b_sorted = bins[order]
    counts = np.bincount(b_sorted, minlength=n_bins)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = []
    for k in np.flatnonzero(counts):
        idx = order[starts[k]:starts[k] + counts[k]]
        v, dk, npairs = values[idx], d[idx], int(counts[k])
        if robust:
            est = np.mean((2.0 * v) ** 0.25) ** 4 / (CH_CONST + CH_SLOPE / npairs) / 2.0
        else:
            est = np.mean(v)
        rows.append((est, float(np.median(dk)), npairs))
    out = pd.DataFrame(rows, columns=["variog", "dist", "n.pairs"])
    out["n.pairs"] = out["n.pairs"].astype(np.int64)
    return out


def variogram(resid: np.ndarray, groups: np.ndarray | None = None, covariate: np.ndarray | None = None, *,
              distance: np.ndarray | None = None, metric: str = "euclidean", robust: bool = False,
              max_dist: float | None = None, collapse: str = "quantiles", nint: int | None = None,
              breaks: Sequence[float] | None = None) -> pd.DataFrame:
    """Semivariogram of residuals within groups (nlme's ``Variogram.lme`` / ``.gls`` / ``.default``).

    Parameters
    ----------
    resid : array of shape (n,)
        Residuals (nlme's default ``resType`` is ``"pearson"``).
    groups : array of shape (n,), optional
        Pairs are formed within groups only (``form = ~ x | g``); ``None``: all pairs.
    covariate : array of shape (n,) or (n, d), optional
        Coordinates whose distances are used (``form = ~ x + y``). ``None``: the positions ``1..n_i``
        of the rows within their group (``form = ~ 1``).
    distance : array, optional
        The pair distances themselves (R's ``distance`` argument), one per within-group pair in the
        order ``(1, 2), (1, 3), ..., (n_i - 1, n_i)`` of each group, groups in order of first
        appearance. Replaces ``covariate``.
    metric : {"euclidean", "maximum", "manhattan"}
        Distance between coordinate rows (unique prefixes accepted, as R's partial matching).
    robust : bool
        Cressie & Hawkins' robust estimator instead of the mean.
    max_dist : float, optional
        Keep only pairs at distance ``<= max_dist`` (``maxDist``).
    collapse : {"quantiles", "fixed", "none"}
        How pairs are binned (see the module notes); ``"none"`` returns every pair.
    nint : int, optional
        Number of intervals, default 20. With ``breaks`` R only accepts ``nint = len(breaks)``.
    breaks : sequence of float, optional
        Interval end points; overrides ``collapse``.

    Returns
    -------
    pandas.DataFrame
        Columns ``variog``, ``dist``, ``n.pairs`` (without ``n.pairs`` when ``collapse = "none"``);
        ``.attrs["collapse"]`` tells whether pairs were collapsed, as R's attribute.

    Examples
    --------
    >>> import numpy as np
    >>> v = variogram(np.array([0.0, 1.0, 3.0, 0.5, 0.0, 1.5]), ["a"] * 3 + ["b"] * 3)
    >>> v["dist"].tolist(), v["n.pairs"].tolist()
    ([1.0, 2.0], [4, 2])
    """
    r = _residuals(resid)
    codes = _group_codes(groups, r.size)
    metric = _match_choice(metric, METRICS, "metric")
    collapse = _match_choice(collapse, COLLAPSE, "collapse")
    if breaks is not None:
        b_user = np.unique(np.asarray(breaks, dtype=float))
        if b_user.size < 1 or not np.all(np.isfinite(b_user)):
            raise DataError(f"breaks must be finite numbers, got {breaks!r}")
        if nint is not None and nint != len(breaks):
            raise DataError(f"nint ({nint}) is not consistent with breaks (R requires nint = len(breaks)"
                            f" = {len(breaks)}); leave nint out")
    if nint is None:
        nint = DEFAULT_NINT
    if isinstance(nint, bool) or not isinstance(nint, (int, np.integer)) or nint < 1:
        raise DataError(f"nint must be a positive integer, got {nint!r}")
    if max_dist is not None and not (isinstance(max_dist, (int, float, np.integer, np.floating))
                                     and math.isfinite(max_dist)):
        raise DataError(f"max_dist must be a finite number, got {max_dist!r}")

    i, j, pos_i, pos_j = _pairs(codes)
    if i.size == 0:
        raise DataError("Variogram needs at least one group with two or more residuals")
    if distance is not None:
        d = np.asarray(distance, dtype=float)
        if d.shape != (i.size,):
            raise DataError(f"distance must have one value per within-group pair ({i.size}), "
                            f"got shape {np.shape(distance)}")
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise DataError("distance must hold finite, non-negative values")
    elif covariate is None:
        d = (pos_j - pos_i).astype(float)
    else:
        d = _pair_distances(covariate, r.size, i, j, metric)
    values = (r[i] - r[j]) ** 2 / 2.0
    if max_dist is not None:
        keep = d <= max_dist
        if not keep.any():
            raise DataError(f"no residual pair is within max_dist = {max_dist!r} "
                            f"(the smallest distance is {d.min()!r})")
        values, d = values[keep], d[keep]

    if collapse == "none" and breaks is None:
        out = pd.DataFrame({"variog": values, "dist": d})
        out.attrs["collapse"] = False
        return out
    if breaks is None:
        distinct, inverse = np.unique(d, return_inverse=True)
        if distinct.size <= nint:
            out = _summarise(values, d, inverse.ravel(), distinct.size, robust)
            out.attrs["collapse"] = True
            return out
        if collapse == "quantiles":
            cuts = np.unique(quantile7(d, _r_seq(0.0, 1.0, nint + 1)))
        else:
            cuts = _r_seq(float(d.min()), float(d.max()), nint + 1)
    else:
        cuts = b_user
        if d.min() < cuts[0]:
            cuts = np.concatenate([[d.min()], cuts])
    # right-closed intervals (cuts[k-1], cuts[k]] -> bin k - 1; outside every interval -> dropped
    pos = np.searchsorted(cuts, d, side="left")
    inside = (pos >= 1) & (pos < cuts.size)
    if not inside.any():
        raise DataError("no residual pair falls inside the distance intervals (check breaks)")
    out = _summarise(values[inside], d[inside], pos[inside] - 1, cuts.size - 1, robust)
    out.attrs["collapse"] = True
    return out


# ---------------------------------------------------------------------------------------------- model curve
def _spatial_kind(kind: str) -> str:
    key = kind.lower().removeprefix("cor")
    for k in SPATIAL_KINDS:
        if k.lower().removeprefix("cor") == key:
            return k
    raise DataError(f"unknown spatial correlation {kind!r}; use one of {', '.join(SPATIAL_KINDS)}")


def variogram_model(kind: str, range: float, nugget: float = 0.0, dist: np.ndarray | Sequence[float] = (),
                    sig2: float = 1.0) -> np.ndarray:
    """Semivariogram of a spatial correlation structure: ``sig2 (nugget + (1 - nugget)(1 - rho(d)))``.

    As nlme's ``Variogram(corStruct)``: ``corExp`` ``rho = exp(-d/range)``, ``corGaus``
    ``exp(-(d/range)^2)``, ``corSpher`` ``1 - 1.5 d/range + 0.5 (d/range)^3`` (0 beyond ``range``),
    ``corLin`` ``1 - d/range`` (0 beyond), ``corRatio`` ``1 / (1 + (d/range)^2)``. With a nugget the
    value at distance 0 is the nugget itself, as R returns it.

    Parameters
    ----------
    kind : str
        ``"corExp"``, ``"corGaus"``, ``"corSpher"``, ``"corLin"`` or ``"corRatio"`` (``"exp"`` etc. too).
    range : float
        The range parameter (> 0), natural scale (``coef(cs, unconstrained = FALSE)["range"]``).
    nugget : float
        The nugget, ``0 <= nugget < 1`` (0 without a nugget).
    dist : array
        Distances (>= 0).
    sig2 : float
        Process variance scaling the curve (R's ``sig2``, default 1).

    Examples
    --------
    >>> variogram_model("corExp", 2.0, 0.0, [0.0, 2.0]).round(4).tolist()
    [0.0, 0.6321]
    """
    k = _spatial_kind(kind)
    if not (math.isfinite(range) and range > 0):
        raise DataError(f"range of {k} must be positive, got {range!r}")
    if not (math.isfinite(nugget) and 0 <= nugget < 1):
        raise DataError(f"nugget of {k} must be in [0, 1), got {nugget!r}")
    d = np.asarray(dist, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d < 0):
        raise DataError("dist must hold finite, non-negative distances")
    s = d / range
    if k == "corExp":
        semi = 1.0 - np.exp(-s)
    elif k == "corGaus":
        semi = 1.0 - np.exp(-s * s)
    elif k == "corSpher":
        semi = np.where(s < 1.0, 1.5 * s - 0.5 * s ** 3, 1.0)
    elif k == "corLin":
        semi = np.where(s < 1.0, s, 1.0)
    else:
        semi = s * s / (1.0 + s * s)
    return sig2 * (nugget + (1.0 - nugget) * semi)


def model_variogram_frame(kind: str, range: float, nugget: float, dist: np.ndarray,
                          length_out: int = 50, sig2: float = 1.0) -> pd.DataFrame:
    """The curve ``plot(Variogram(m))`` overlays (R's ``attr(, "modelVariog")``).

    ``length_out`` distances from ``min(dist)`` to ``max(dist)`` (R: the distances of the correlation
    structure's own covariate within its groups, whatever ``form``/``maxDist`` the Variogram used).

    Examples
    --------
    >>> model_variogram_frame("corGaus", 1.0, 0.1, [0.0, 3.0], length_out=3)["dist"].tolist()
    [0.0, 1.5, 3.0]
    """
    d = np.asarray(dist, dtype=float)
    if d.size == 0:
        raise DataError("dist is empty")
    if isinstance(length_out, bool) or not isinstance(length_out, (int, np.integer)) or length_out < 1:
        raise DataError(f"length_out must be a positive integer, got {length_out!r}")
    grid = _r_seq(float(d.min()), float(d.max()), int(length_out))
    return pd.DataFrame({"variog": variogram_model(kind, range, nugget, grid, sig2), "dist": grid})


# ---------------------------------------------------------------------------------------------- by group
def residuals_by_group(resid: np.ndarray, groups: Any) -> dict[str, np.ndarray]:
    """Residuals split by group level, for a boxplot per level (nlme's ``plot(m, g ~ resid(.))``).

    Levels in R's order: the categories of a pandas Categorical (unused ones left out), otherwise the
    sorted distinct values (numbers numerically). Keys are the level labels as strings.

    Examples
    --------
    >>> out = residuals_by_group([1.0, -1.0, 2.0], [10, 2, 10])
    >>> list(out), out["10"].tolist()
    (['2', '10'], [1.0, 2.0])
    """
    r = _residuals(resid)
    if groups is None:
        raise DataError("residuals_by_group needs groups")
    if len(groups) != r.size:
        raise DataError(f"groups has length {len(groups)} but resid has length {r.size}")
    g = pd.Series(groups)
    if g.isna().any():
        raise DataError(f"groups has a missing value at position {int(np.flatnonzero(g.isna())[0])}")
    if isinstance(g.dtype, pd.CategoricalDtype):
        levels = [c for c in g.cat.categories if (g == c).any()]
    else:
        levels = sorted(g.unique())
    values = g.to_numpy()
    return {str(lv): r[values == lv] for lv in levels}


# ---------------------------------------------------------------------------------------------- plots
def _new_axes(ax: Any = None):
    """``ax`` itself, or the axes of a new pyplot-free Figure; a clear error without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("mixedcompat.nlme.diagnostics plots need matplotlib: "
                          "pip install mixedcompat[plot]") from exc
    if ax is not None:
        return ax
    return Figure(figsize=(5.5, 4)).add_subplot(1, 1, 1)


def plot_acf(df: pd.DataFrame, alpha: float = 0.05, ax: Any = None,
             n_used: np.ndarray | None = None):
    """nlme's ``plot(ACF(m), alpha)``: vertical bars at each lag and dashed critical limits.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`acf_by_group` (columns ``lag``, ``ACF``; ``attrs["n.used"]`` for the limits).
    alpha : float
        Level of the limits ``+/- qnorm(1 - alpha/2) / sqrt(n.used)``; 0 draws none (R's default is 0).
    ax : matplotlib Axes, optional
        Axes to draw on; default a new Figure.
    n_used : array, optional
        Pairs per lag, when ``df`` lost its ``attrs``.

    Returns
    -------
    matplotlib.axes.Axes
        With the bars as ``ax.collections[0]`` (one segment per lag), the zero line, and the upper and
        lower limits as the last two lines.

    Examples
    --------
    >>> import numpy as np
    >>> a = acf_by_group(np.sin(np.arange(40.0)), None, 5)
    >>> len(plot_acf(a).collections[0].get_segments())
    6
    """
    ax = _new_axes(ax)
    lag = df["lag"].to_numpy(dtype=float)
    acf = df["ACF"].to_numpy(dtype=float)
    ax.vlines(lag, 0.0, np.nan_to_num(acf), colors="C0", linewidth=1.5)
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    if alpha:
        n = n_used if n_used is not None else df.attrs.get("n.used")
        if n is None:
            raise DataError("plot_acf needs the pairs per lag: pass n_used= or a frame from acf_by_group")
        if len(n) != len(lag):
            raise DataError(f"n_used has {len(n)} values for {len(lag)} lags")
        bound = acf_critical_bounds(n, alpha)
        ax.plot(lag, bound, "--", color="C1", linewidth=1)
        ax.plot(lag, -bound, "--", color="C1", linewidth=1)
    ax.set_xlabel("Lag")
    ax.set_ylabel("Autocorrelation")
    return ax


def plot_variogram(df: pd.DataFrame, model_curve: pd.DataFrame | None = None, ax: Any = None,
                   sigma: float | None = None):
    """nlme's ``plot(Variogram(m))``: semivariogram points, and the model curve when given.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`variogram` (columns ``variog``, ``dist``).
    model_curve : pandas.DataFrame, optional
        Columns ``dist``, ``variog`` (:func:`model_variogram_frame`), drawn as a line.
    ax : matplotlib Axes, optional
    sigma : float, optional
        Height of a horizontal reference line (R's ``sigma`` argument).

    Returns
    -------
    matplotlib.axes.Axes
        Points as ``ax.lines[0]``, then the model curve, then the ``sigma`` line. The y axis starts at
        0 as R's ``ylim = c(0, max(variog))``. (R's loess smoother when no model is shown is not drawn.)

    Examples
    --------
    >>> import numpy as np
    >>> v = variogram(np.cos(np.arange(30.0)), None, np.arange(30.0), nint=5)
    >>> len(plot_variogram(v).lines[0].get_xdata())
    5
    """
    ax = _new_axes(ax)
    dist = df["dist"].to_numpy(dtype=float)
    vario = df["variog"].to_numpy(dtype=float)
    ax.plot(dist, vario, "o", color="C0", markersize=4)
    top = float(np.max(vario)) if vario.size else 1.0
    if model_curve is not None:
        md = model_curve["dist"].to_numpy(dtype=float)
        mv = model_curve["variog"].to_numpy(dtype=float)
        ax.plot(md, mv, "-", color="C1", linewidth=1.5)
        top = max(top, float(np.max(mv)))
    if sigma is not None:
        ax.axhline(sigma, color="0.4", linestyle=":", linewidth=1)
        top = max(top, float(sigma))
    ax.set_ylim(0.0, top * 1.04 if top > 0 else 1.0)
    ax.set_xlabel("Distance")
    ax.set_ylabel("Semivariogram")
    return ax


def plot_residuals_by_group(resid: np.ndarray, groups: Any, ax: Any = None):
    """Horizontal boxplots of the residuals per group level (nlme's ``plot(m, g ~ resid(.), abline = 0)``).

    Returns
    -------
    matplotlib.axes.Axes
        One box per level (levels from bottom to top in R's order, labelled on the y axis) and a
        vertical line at 0.

    Examples
    --------
    >>> ax = plot_residuals_by_group([1.0, -1.0, 2.0, 0.5], ["a", "b", "a", "b"])
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['a', 'b']
    """
    split = residuals_by_group(resid, groups)
    ax = _new_axes(ax)
    data, labels = list(split.values()), list(split.keys())
    try:                                         # matplotlib >= 3.10
        ax.boxplot(data, orientation="horizontal", tick_labels=labels, widths=0.6)
    except TypeError:                            # older matplotlib
        ax.boxplot(data, vert=False, labels=labels, widths=0.6)
    ax.axvline(0.0, color="0.4", linestyle="--", linewidth=0.8)
    ax.set_xlabel("Residuals")
    ax.set_ylabel("Group")
    return ax
