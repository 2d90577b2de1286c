"""Per-partition sums of the blocks of ``A = [Z X y]' W [Z X y]`` and their tree reduction.

Each partition's model frame (on the whole data's factor levels,
:func:`~mixedcompat.front.design.model_frame_on_levels`) gives the blocks
:class:`~mixedcompat.lme4.pls.Deviance` computes from the whole frame, as sums over the partition's
rows: per-level ``q x q`` blocks of the first grouping factor, ``Z'X``, ``Z'y``, the later blocks and
their cross blocks with the first, ``X'X``, ``X'y``, ``y'y``.  They add across partitions.

The response: the criterion is invariant under ``y -> y - X c`` for any ``c`` (beta shifts by ``c``),
and its rounding is relative to the response's cross-products, so (as
:class:`~mixedcompat.lme4.response.ResponseReduction` in memory) each partition's response rows are of
its own least-squares residual ``r = sqrt(W) (y - offset - X c)``, ``c`` stored with the sums.  Two
sums are added on a common ``c`` (the least-squares coefficients of their union, from their own
cross-products): re-expressing a sum on another ``c`` adds only terms of the order of its residual
sum of squares (no cancellation), as the parallel variance algorithm does for a mean.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mixedcompat.front.design import model_frame_on_levels
from mixedcompat.front.reterms import make_reterms
from mixedcompat.lme4.blocks import amalgamate, cross_blocks, diag_blocks
from mixedcompat.partitioned.levels import GlobalLevels, ModelInputs

__all__ = ["BlockSums", "least_squares_shift", "partition_sums", "on_shift", "combine_sums"]


@dataclass
class BlockSums:
    """Sums over rows of the blocks of ``A`` (weighted; ``XY = [sqrt(W) X, r]``, every fixed-effects
    column before the rank check) and of what the start values and checks need.

    Attributes
    ----------
    n : int
        Rows.
    sum_log_weights : float
    shift : ndarray (p,)
        ``c`` of the response rows: ``r = sqrt(W) (y - offset - X c)``.
    A1 : ndarray (levels_1, q_1, q_1)
        Diagonal blocks of the first engine block.
    AX1 : ndarray (p + 1, levels_1 q_1)
        ``(Z_1' XY)'``.
    A_r1, Arr : sparse matrix or None
        ``Z_r' Z_1`` and ``Z_r' Z_r`` of the later blocks (side by side); None without later blocks.
    AXr : ndarray (p + 1, q_r)
        ``(Z_r' XY)'``.
    AXX : ndarray (p + 1, p + 1)
        ``XY' XY``.
    XtX : ndarray (p, p)
        Unweighted ``X'X`` (R's rank check is on ``X``).
    y_moments : tuple
        ``(n, mean, sum of squared deviations)`` of the model frame's response.
    level_y, level_n : list of ndarray
        Per term (lme4's order): the response's sum and the row count at each level.
    x_sumsq : list of ndarray
        Per term: the sum of squares of each column of its model matrix.
    x_moments : tuple
        ``(n, mean, sum of squared deviations)`` of each column of ``X`` (unweighted; arrays of p).
    x_binary : ndarray of bool (p,)
        Whether each column of ``X`` has only the values 0 and 1 (lme4's scale check skips them).
    """

    n: int
    sum_log_weights: float
    shift: np.ndarray
    A1: np.ndarray
    AX1: np.ndarray
    A_r1: sp.csr_matrix | None
    Arr: sp.csr_matrix | None
    AXr: np.ndarray
    AXX: np.ndarray
    XtX: np.ndarray
    y_moments: tuple
    level_y: list
    level_n: list
    x_sumsq: list
    x_moments: tuple
    x_binary: np.ndarray

    @property
    def p(self) -> int:
        return len(self.shift)


def least_squares_shift(Xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(c, ys - Xs c)`` with ``c`` the (minimum-norm) least-squares coefficients of ``ys`` on
    ``Xs``, refined once; ``c = 0`` without rows or columns.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), np.arange(4.0)])
    >>> c, r = least_squares_shift(X, 1e6 + 2.0 * np.arange(4.0) + np.array([0.1, -0.1, -0.1, 0.1]))
    >>> np.round(c, 6).tolist(), np.round(r, 6).tolist()
    ([1000000.0, 2.0], [0.1, -0.1, -0.1, 0.1])
    """
    p = Xs.shape[1]
    if len(ys) == 0 or p == 0:
        return np.zeros(p), np.array(ys, dtype=float)
    c = np.linalg.lstsq(Xs, ys, rcond=None)[0]
    c = c + np.linalg.lstsq(Xs, ys - Xs @ c, rcond=None)[0]
    return c, ys - Xs @ c


def partition_sums(pdf: pd.DataFrame, inputs: ModelInputs, levels: GlobalLevels) -> BlockSums:
    """The block sums of one partition (a pandas DataFrame), on the whole data's levels.

    Examples
    --------
    >>> from mixedcompat.front.formula import parse_formula
    >>> part = pd.DataFrame({"y": [1.0, 2.0, 4.0], "g": ["u", "u", "w"]})
    >>> s = partition_sums(part, ModelInputs(parse_formula("y ~ 1 + (1 | g)")), GlobalLevels(5, {"g": ["u", "v", "w"]}))
    >>> s.A1[:, 0, 0].tolist(), s.level_n[0].tolist(), s.shift.round(6).tolist()
    ([2.0, 0.0, 1.0], [2, 0, 1], [2.333333])
    """
    frame = model_frame_on_levels(inputs.parts, pdf, levels.levels, inputs.weights, inputs.offset,
                                  inputs.na_action, inputs.contrasts, inputs.params)
    n = len(frame.y)
    terms = make_reterms(inputs.parts.re_terms, frame.re_X, frame.re_groups, n)
    blocks = amalgamate(terms)
    w = frame.weights
    sqrtw = None if w is None else np.sqrt(w)
    X = frame.X
    ys = frame.y - frame.offset if frame.offset is not None else np.array(frame.y, dtype=float)
    Xs = X if sqrtw is None else X * sqrtw[:, None]
    if sqrtw is not None:
        ys = ys * sqrtw
    c, r = least_squares_shift(Xs, ys)
    XY = np.column_stack([Xs, r])
    first = blocks[0]
    if len(blocks) > 1:
        Zr = sp.hstack([b.Z(sqrtw) for b in blocks[1:]], format="csc")
        A_r1 = (Zr.T @ first.Z(sqrtw)).tocsr()
        Arr = (Zr.T @ Zr).tocsr()
        AXr = np.asarray((Zr.T @ XY).T)
    else:
        A_r1 = Arr = None
        AXr = np.zeros((X.shape[1] + 1, 0))
    with np.errstate(divide="ignore"):
        slw = float(np.sum(np.log(w))) if w is not None else 0.0
    y = np.asarray(frame.y, dtype=float)
    ym = float(np.mean(y)) if n else 0.0
    xm = X.mean(axis=0) if n else np.zeros(X.shape[1])
    return BlockSums(
        n=n, sum_log_weights=slw, shift=c, A1=diag_blocks(first, sqrtw), AX1=cross_blocks(first, sqrtw, XY),
        A_r1=A_r1, Arr=Arr, AXr=AXr, AXX=XY.T @ XY, XtX=X.T @ X,
        y_moments=(n, ym, float(np.sum((y - ym) ** 2))),
        level_y=[np.bincount(t.codes, weights=y, minlength=t.n_levels) for t in terms],
        level_n=[np.bincount(t.codes, minlength=t.n_levels) for t in terms],
        x_sumsq=[np.sum(t.X ** 2, axis=0) for t in terms],
        x_moments=(n, xm, np.sum((X - xm) ** 2, axis=0)), x_binary=np.all((X == 0) | (X == 1), axis=0))


def on_shift(s: BlockSums, c: np.ndarray) -> BlockSums:
    """The same sums with the response rows of ``r' = sqrt(W) (y - offset - X c)``: with
    ``d = shift - c``, ``r' = r + sqrt(W) X d``, so each ``Z' r'`` gains ``Z' sqrt(W) X d``,
    ``X' r'`` gains ``X'WX d`` and ``r'r'`` gains ``2 d' X' r + d' X'WX d``.

    Examples
    --------
    >>> s = BlockSums(2, 0.0, np.zeros(1), np.ones((1, 1, 1)), np.array([[2.0], [3.0]]), None, None,
    ...               np.zeros((2, 0)), np.array([[2.0, 3.0], [3.0, 5.0]]), np.eye(1) * 2, (2, 1.5, 0.5),
    ...               [], [], [], (2, np.ones(1), np.zeros(1)), np.array([True]))
    >>> t = on_shift(s, np.array([1.5]))           # r = y = (1, 2), x = (1, 1): r' = (-0.5, 0.5)
    >>> t.AXX.tolist(), t.AX1[1].tolist()
    ([[2.0, 0.0], [0.0, 0.5]], [0.0])
    """
    p = s.p
    d = s.shift - np.asarray(c, dtype=float)
    if p == 0 or not np.any(d):
        return replace(s, shift=np.asarray(c, dtype=float).copy())
    AX1, AXr, AXX = s.AX1.copy(), s.AXr.copy(), s.AXX.copy()
    AX1[p] += d @ s.AX1[:p]
    AXr[p] += d @ s.AXr[:p]
    G, xr = s.AXX[:p, :p], s.AXX[:p, p]
    AXX[:p, p] = AXX[p, :p] = xr + G @ d
    AXX[p, p] = s.AXX[p, p] + 2.0 * float(d @ xr) + float(d @ G @ d)
    return replace(s, shift=np.asarray(c, dtype=float).copy(), AX1=AX1, AXr=AXr, AXX=AXX)


def _pooled_moments(a: tuple, b: tuple) -> tuple:
    """Chan et al.'s pairwise update of (n, mean, sum of squared deviations) (means and sums
    scalars or arrays)."""
    na, ma, sa = a
    nb, mb, sb = b
    n = na + nb
    if n == 0:
        return a
    delta = mb - ma
    return (n, ma + delta * nb / n, sa + sb + delta * delta * na * nb / n)


def combine_sums(*sums: BlockSums) -> BlockSums:
    """The sums of several partitions (or of partial reductions), on the least-squares ``c`` of
    their union.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> from mixedcompat.front.formula import parse_formula
    >>> from mixedcompat.partitioned.levels import GlobalLevels, ModelInputs
    >>> d = mc.datasets.load("sleepstudy")
    >>> lv = GlobalLevels(len(d), {"Subject": sorted(d["Subject"].astype(str).unique())})
    >>> inputs = ModelInputs(parse_formula("Reaction ~ Days + (Days | Subject)"))
    >>> whole = partition_sums(d, inputs, lv)
    >>> halves = combine_sums(partition_sums(d.iloc[:100], inputs, lv), partition_sums(d.iloc[100:], inputs, lv))
    >>> bool(np.allclose(on_shift(halves, whole.shift).AXX, whole.AXX, rtol=1e-12, atol=1e-9))
    True
    """
    sums = [s for s in sums if s is not None]
    if len(sums) == 1:
        return sums[0]
    p = sums[0].p
    G = sum(s.AXX[:p, :p] for s in sums)
    rhs = sum(s.AXX[:p, :p] @ s.shift + s.AXX[:p, p] for s in sums)     # X'W (y - offset), by partition
    c = np.linalg.lstsq(G, rhs, rcond=None)[0] if p and np.any(G) else np.zeros(p)
    on = [on_shift(s, c) for s in sums]
    moments, x_moments = on[0].y_moments, on[0].x_moments
    for s in on[1:]:
        moments = _pooled_moments(moments, s.y_moments)
        x_moments = _pooled_moments(x_moments, s.x_moments)

    def total(attr: str):
        vals = [getattr(s, attr) for s in on]
        if vals[0] is None:
            return None
        out = vals[0].copy()
        for v in vals[1:]:
            out = out + v
        return out

    return BlockSums(
        n=sum(s.n for s in on), sum_log_weights=sum(s.sum_log_weights for s in on), shift=c,
        A1=total("A1"), AX1=total("AX1"), A_r1=total("A_r1"), Arr=total("Arr"), AXr=total("AXr"),
        AXX=total("AXX"), XtX=total("XtX"), y_moments=moments,
        level_y=[sum(v) for v in zip(*(s.level_y for s in on))],
        level_n=[sum(v) for v in zip(*(s.level_n for s in on))],
        x_sumsq=[sum(v) for v in zip(*(s.x_sumsq for s in on))], x_moments=x_moments,
        x_binary=np.logical_and.reduce([s.x_binary for s in on]))
