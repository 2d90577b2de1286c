"""The profiled (RE)ML criterion of an lmer model from a partitioned (Dask) data frame.

Two passes over the data: the first collects the kept rows' factor levels
(:mod:`~mixedcompat.partitioned.levels`), the second the block sums of ``A``
(:mod:`~mixedcompat.partitioned.blocks`); both run per partition and are reduced as a tree by
``dask.delayed`` on whatever scheduler is active (threads, or a ``dask.distributed`` client), so
the driver holds only the reduced blocks.  On the driver: lme4's rank check of ``X`` (decided from
``X'X``), then :meth:`~mixedcompat.lme4.pls.Deviance.from_blocks` -- the in-memory criterion's own
code -- and lme4's optimiser (:func:`~mixedcompat.lme4.fit.optimize_fit`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import dask
import numpy as np
import pandas as pd
import scipy.linalg as sla
from dask import delayed

from mixedcompat.errors import DataError, RankDeficiencyWarning
from mixedcompat.front.design import RANK_TOL, MatrixSpec, ModelFrame, model_frame_on_levels, rank_message
from mixedcompat.front.formula import parse_formula
from mixedcompat.front.reterms import ReTerm, make_reterms
from mixedcompat.lme4.blocks import amalgamate
from mixedcompat.lme4.checks import check_reterms, check_scale_sd
from mixedcompat.lme4.control import lmer_control
from mixedcompat.lme4.fit import optimize_fit
from mixedcompat.lme4.optimize import OptSummary
from mixedcompat.lme4.pls import Deviance
from mixedcompat.lme4.schur import LaterBlocks
from mixedcompat.partitioned.blocks import BlockSums, combine_sums, on_shift, partition_sums
from mixedcompat.partitioned.memory import check_dense_memory
from mixedcompat.partitioned.levels import (ModelInputs, check_transforms, combine_levels,
                                            factor_nodes, finish_levels, partition_levels)
from mixedcompat.partitioned.reduce import tree_reduce
from mixedcompat.partitioned.transforms import transform_params

__all__ = ["gram_rank", "PartitionedFit", "PartitionedCriterion"]


def gram_rank(G: np.ndarray, tol: float = RANK_TOL) -> tuple[list[int], list[int]]:
    """The columns R's ``qr(X, tol)`` (LINPACK dqrdc2, limited pivoting) keeps and drops, decided from
    ``G = X'X``: column ``j`` is dropped when the norm of its residual on the columns kept before it
    is below ``tol`` times its own norm (dropped columns in the order dqrdc2 moves them).

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), np.arange(4.0), 2 * np.arange(4.0) + 1])
    >>> gram_rank(X.T @ X)
    ([0, 1], [2])
    """
    G = np.asarray(G, dtype=float)
    kept: list[int] = []
    dropped: list[int] = []
    for j in range(G.shape[0]):
        gjj = G[j, j]
        res2 = gjj
        if kept and gjj > 0:
            b = G[kept, j]
            try:
                L = np.linalg.cholesky(G[np.ix_(kept, kept)])
                h = sla.solve_triangular(L, b, lower=True)
                res2 = gjj - float(h @ h)
            except np.linalg.LinAlgError:
                res2 = 0.0
        norm = np.sqrt(gjj) if gjj > 0 else 1.0
        if not res2 > 0 or np.sqrt(res2) < norm * tol:
            dropped.append(j)
        else:
            kept.append(j)
    return kept, dropped


@dataclass(frozen=True)
class PartitionedFit:
    """The optimum of a partitioned criterion: theta, the fixed effects (named), sigma, the criterion
    (REML criterion or deviance) and the optimiser's summary."""

    theta: np.ndarray
    beta: pd.Series
    sigma: float
    criterion: float
    opt: OptSummary


class PartitionedCriterion:
    """lme4's profiled criterion of ``formula`` on a Dask DataFrame, as a function of theta.

    Parameters
    ----------
    formula : str
        An lme4 formula (``poly()`` / ``scale()`` take their coefficients from the whole data:
        :func:`~mixedcompat.partitioned.transforms.transform_params`).
    data : dask.dataframe.DataFrame
    REML : bool
    weights, offset : str, optional
        Column names.
    na_action : {"omit", "fail"}
    contrasts : dict, optional
        As :func:`mixedcompat.lmer`.
    split_every : int
        Partitions (or partial sums) combined per node of the reduction tree.
    memory : int, optional
        Bytes the dense factorisation of crossed random-effects blocks may take (default: the memory
        available): a larger one is refused after the sums pass, before the optimiser
        (:func:`~mixedcompat.partitioned.memory.check_dense_memory`).

    Attributes
    ----------
    devfun : Deviance
        The criterion (same code as the in-memory fit's).
    levels : GlobalLevels
        The first pass's result.
    x_names, dropped : list of str
        Fixed-effects columns kept and dropped (lme4's rank check).
    terms : list of ReTerm
        The random-effects terms (lme4's order; no rows).
    n : int
        Rows kept.
    inputs : ModelInputs
        What each partition's model frame is built from.
    frame : ModelFrame
        The model frame with no rows, on the whole data's levels, with the kept fixed-effects
        columns (names, contrasts, specs for new data).

    Examples
    --------
    >>> import dask.dataframe as dd, mixedcompat as mc
    >>> d = mc.datasets.load("sleepstudy")
    >>> crit = PartitionedCriterion("Reaction ~ Days + (Days | Subject)", dd.from_pandas(d, npartitions=3))
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    >>> bool(abs(crit.devfun(m.theta) - m.devfun(m.theta)) < 1e-9 * m.devfun(m.theta))
    True
    >>> round(crit.fit().criterion, 3)
    1743.628
    """

    def __init__(self, formula: str, data: Any, REML: bool = True, weights: str | None = None,
                 offset: str | None = None, na_action: str = "omit", contrasts: dict | None = None,
                 split_every: int = 8, memory: int | None = None):
        for what, arg in (("weights", weights), ("offset", offset)):
            if arg is not None and not isinstance(arg, str):
                raise DataError(f"{what} of a partitioned (Dask) fit must be a column name, not {type(arg).__name__}")
        if not isinstance(REML, (bool, np.bool_)):
            raise DataError(f"REML must be True or False, not {REML!r}")
        parts = parse_formula(formula)
        check_transforms(parts)
        self.formula, self.parts, self.REML = formula, parts, bool(REML)
        params = transform_params(data, parts, split_every)
        self.inputs = inputs = ModelInputs(parts, weights, offset, na_action, contrasts, params)
        meta = data._meta
        nodes = factor_nodes(parts, meta, params)
        pieces = data.to_delayed()
        sets = dask.compute(tree_reduce([delayed(partition_levels)(p, inputs, nodes) for p in pieces],
                                        combine_levels, split_every))[0]
        if sets.n == 0:
            raise DataError(f"0 (non-NA) cases: no row of the {data.npartitions} partitions is complete")
        self.levels = levels = finish_levels(sets, parts, nodes, meta, params)
        # the levels (100,000s of them) wrapped once, untraversed: passed bare, dask would walk every
        # level of every factor for every partition looking for collections inside them
        levels_d, inputs_d = delayed(levels, traverse=False), delayed(inputs, traverse=False)
        sums = dask.compute(tree_reduce([delayed(partition_sums)(p, inputs_d, levels_d) for p in pieces],
                                        combine_sums, split_every))[0]
        frame0 = model_frame_on_levels(parts, meta, levels.levels, weights, offset, na_action, contrasts,
                                       params)
        self.terms = make_reterms(parts.re_terms, frame0.re_X, frame0.re_groups, 0)
        self.n = sums.n
        kept, dropped = gram_rank(sums.XtX) if sums.p else ([], [])
        self.dropped = [frame0.x_names[j] for j in dropped]
        self.x_names = [frame0.x_names[j] for j in kept]
        self.kept = kept
        self.frame = _kept_frame(frame0, kept, self.dropped)
        if dropped:
            warnings.warn(rank_message(len(dropped)), RankDeficiencyWarning, stacklevel=2)
        self.sums = sums = _on_columns(sums, kept)
        blocks = amalgamate(self.terms)
        first = blocks[0]
        later = None
        if len(blocks) > 1:
            check_dense_memory(sums.A_r1, sums.Arr, first.q,
                               [f"({self.terms[i].label})" for b in blocks[1:] for i in b.members], memory)
            later = LaterBlocks(blocks[1:], None, None, first.q, products=(sums.A_r1, sums.Arr))
        self.devfun = Deviance.from_blocks(self.terms, sums.A1, sums.AX1, sums.AXr, sums.AXX, later, sums.n,
                                           self.REML, sums.sum_log_weights, sums.shift)

    def start(self) -> np.ndarray:
        """lme4 1.1-31's start (:func:`mixedcompat.lme4.fit.data_start`) from the reduced sums: for
        models whose terms are all ``(1 | f)`` on distinct factors, ``sqrt(v_k / v_e)`` (the variance of
        the response's level means, row-weighted, and the rest of its variance); else 1 / 0."""
        terms, s = self.terms, self.sums
        default = self.devfun.layout.start.copy()
        if not all(list(t.names) == ["(Intercept)"] for t in terms) or len({t.group for t in terms}) != len(terms):
            return default
        n, mean, m2 = s.y_moments
        if n < 2:
            return default
        v = []
        for ysum, cnt in zip(s.level_y, s.level_n):
            means = ysum / cnt
            v.append(float(np.sum(cnt * (means - mean) ** 2)) / (n - 1))
        v_e = m2 / (n - 1) - sum(v)
        if not np.isfinite(v_e) or v_e <= 0:
            return default
        return np.sqrt(np.asarray(v) / v_e)

    def scale_messages(self, action: str) -> list[str]:
        """lme4's ``check.scaleX`` (:func:`~mixedcompat.lme4.checks.check_scale_sd`) from the
        fixed-effects columns' moments."""
        n, _mean, m2 = self.sums.x_moments
        cont = ~self.sums.x_binary
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.asarray(m2, dtype=float)[cont] / (n - 1)) if n > 1 else np.full(int(cont.sum()), np.nan)
        return check_scale_sd(sd, action)

    def _scale_terms(self) -> list[ReTerm]:
        """Terms whose one row has each column's root mean square (all that
        :func:`~mixedcompat.lme4.fit.theta_scale` reads of the rows)."""
        out = []
        for t, ss in zip(self.terms, self.sums.x_sumsq):
            rms = np.sqrt(np.asarray(ss, dtype=float) / max(self.n, 1))
            out.append(ReTerm(t.group, t.label, np.zeros(1, dtype=np.intp), t.levels, rms[None, :], t.names,
                              t.group_expr))
        return out

    def optimize(self, control: dict | None = None) -> OptSummary:
        """lme4's checks of the terms, then its optimiser from its start (the path of
        :func:`mixedcompat.lmer`)."""
        ctrl = lmer_control(control)
        check_reterms(self.terms, self.n, ctrl)
        start = self.start() if not control or control.get("start") is None else \
            np.asarray(control["start"], dtype=float)
        return optimize_fit(self.devfun, self._scale_terms(), start, control)

    def fit(self, control: dict | None = None) -> PartitionedFit:
        """Minimise the criterion with lme4's optimiser (the path of :func:`mixedcompat.lmer`)."""
        opt = self.optimize(control)
        f = self.devfun.factor(opt.theta)
        crit, beta, _pwrss = self.devfun.solution(opt.theta)
        return PartitionedFit(np.asarray(opt.theta, dtype=float), pd.Series(beta, index=self.x_names),
                              self.devfun.sigma(f), float(self.devfun.criterion_from_factor(f)), opt)


def _on_columns(s: BlockSums, kept: list[int]) -> BlockSums:
    """The sums restricted to the kept fixed-effects columns (the response's ``c`` moved onto them)."""
    p = s.p
    if len(kept) == p:
        return s
    G = s.AXX[:p, :p]
    xy = G @ s.shift + s.AXX[:p, p]                 # X'W (y - offset)
    c = np.zeros(p)
    if kept:
        c[kept] = np.linalg.lstsq(G[np.ix_(kept, kept)], xy[kept], rcond=None)[0]
    s = on_shift(s, c)
    rows = list(kept) + [p]
    n, mean, m2 = s.x_moments
    return BlockSums(s.n, s.sum_log_weights, s.shift[kept], s.A1, s.AX1[rows], s.A_r1, s.Arr, s.AXr[rows],
                     s.AXX[np.ix_(rows, rows)], s.XtX[np.ix_(kept, kept)], s.y_moments, s.level_y, s.level_n,
                     s.x_sumsq, (n, mean[kept], m2[kept]), s.x_binary[kept])


def _kept_frame(frame: ModelFrame, kept: list[int], dropped: list[str]) -> ModelFrame:
    """``frame`` (no rows) with only the ``kept`` fixed-effects columns, as the rank check leaves
    an in-memory frame."""
    spec = frame.fixed_spec
    spec = MatrixSpec(spec.structure, spec.params, spec.levels, spec.codings, spec.contrast_mats, spec.colnames,
                      tuple(int(spec.keep[j]) for j in kept))
    return replace(frame, X=np.ascontiguousarray(frame.X[:, kept]), x_names=[frame.x_names[j] for j in kept],
                   x_assign=np.asarray(frame.x_assign)[kept], dropped=list(dropped), fixed_spec=spec)
