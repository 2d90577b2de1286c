"""Random-effects terms amalgamated per grouping factor: the blocks the penalised least-squares engine
factorises.

Terms on the same grouping factor (``(1 | g) + (0 + x | g)``, the two halves of ``(x || g)``, or a
factor repeated in several terms) touch the same rows level by level, so together they form one
block-diagonal matrix with one ``q x q`` block per level (``q`` the sum of the terms' columns) and a
block-diagonal template built from the terms' own templates (MixedModels.jl's amalgamation).  The
criterion is unchanged -- the columns of ``Z`` are only permuted -- but a second term on the factor
is no longer a dense matrix of the size of the number of levels.

Blocks are ordered by decreasing number of random effects (levels x columns): the first, eliminated
level by level at no fill-in cost, is the largest, so that the later blocks' Schur complement (dense
or sparse, :mod:`~mixedcompat.lme4.schur`) is as small as it can be;
results are mapped back to lme4's terms and column order (:meth:`EngineBlock.split`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mixedcompat.front.reterms import ReTerm, ThetaLayout

__all__ = ["EngineBlock", "amalgamate", "diag_blocks", "cross_blocks"]


@dataclass(frozen=True, eq=False)
class EngineBlock:
    """One or more random-effects terms on one grouping factor, as one block of the system.

    Attributes
    ----------
    members : tuple of int
        Indices of the terms (in lme4's order) in this block, in column order.
    terms : tuple of ReTerm
        Those terms.
    offsets : tuple of int
        First column of each member within the block's ``q`` columns per level.
    theta_slices : tuple of slice
        Each member's entries of theta.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days || Subject)", mc.datasets.load("sleepstudy"))
    >>> [(b.members, b.q, b.n_levels) for b in amalgamate(m.terms)]
    [((0, 1), 2, 18)]
    """

    members: tuple
    terms: tuple
    offsets: tuple
    theta_slices: tuple

    @property
    def codes(self) -> np.ndarray:
        return self.terms[0].codes

    @property
    def n_levels(self) -> int:
        return self.terms[0].n_levels

    @property
    def q(self) -> int:
        return sum(t.q for t in self.terms)

    @property
    def size(self) -> int:
        return self.n_levels * self.q

    @property
    def X(self) -> np.ndarray:
        """The block's n x q matrix of random-effects covariates (members' columns side by side)."""
        return self.terms[0].X if len(self.terms) == 1 else np.column_stack([t.X for t in self.terms])

    @property
    def diagonal_template(self) -> bool:
        """True when the template is diagonal at every theta (every member has one column)."""
        return all(t.q == 1 for t in self.terms)

    def template(self, theta: np.ndarray) -> np.ndarray:
        """The block's ``q x q`` lower-triangular template at the full ``theta``."""
        if len(self.terms) == 1:
            return self.terms[0].template(theta[self.theta_slices[0]])
        T = np.zeros((self.q, self.q))
        for t, o, s in zip(self.terms, self.offsets, self.theta_slices):
            T[o:o + t.q, o:o + t.q] = t.template(theta[s])
        return T

    def Z(self, sqrtw: np.ndarray | None) -> sp.csr_matrix:
        """The n x (levels q) model matrix of the block, columns level by level."""
        n, q = len(self.codes), self.q
        X = self.X if sqrtw is None else self.X * sqrtw[:, None]
        indices = (self.codes[:, None] * q + np.arange(q)[None, :]).ravel()
        return sp.csr_matrix((np.ascontiguousarray(X).ravel(), indices, np.arange(0, n * q + 1, q)),
                             shape=(n, self.size))

    def join(self, per_term: list) -> np.ndarray:
        """A block vector (levels x q, level by level) from its members' vectors (levels x q_k each)."""
        if len(self.terms) == 1:
            return np.asarray(per_term[self.members[0]])
        out = np.empty((self.n_levels, self.q))
        for k, t, o in zip(self.members, self.terms, self.offsets):
            out[:, o:o + t.q] = np.asarray(per_term[k]).reshape(self.n_levels, t.q)
        return out.ravel()

    def split(self, v: np.ndarray) -> list[np.ndarray]:
        """The members' vectors (levels x q_k, level by level) of a block vector ``v``."""
        if len(self.terms) == 1:
            return [v]
        v2 = v.reshape(self.n_levels, self.q)
        return [np.ascontiguousarray(v2[:, o:o + t.q]).ravel() for t, o in zip(self.terms, self.offsets)]

    def split_blocks(self, V: np.ndarray) -> list[np.ndarray]:
        """The members' (levels, q_k, q_k) diagonal sub-blocks of per-level (levels, q, q) blocks."""
        return [V[:, o:o + t.q, o:o + t.q] for t, o in zip(self.terms, self.offsets)]


def amalgamate(terms: list[ReTerm]) -> list[EngineBlock]:
    """The terms grouped by grouping factor (same name and codes), ordered by decreasing size
    (levels x columns; ties keep lme4's order).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("diameter ~ 1 + (1|plate) + (1|sample)", mc.datasets.load("Penicillin"))
    >>> [b.members for b in amalgamate(m.terms)]
    [(0,), (1,)]
    """
    slices = ThetaLayout.of(terms).slices
    groups: list[list[int]] = []
    for k, t in enumerate(terms):
        for g in groups:
            first = terms[g[0]]
            if first.group == t.group and first.n_levels == t.n_levels and np.array_equal(first.codes, t.codes):
                g.append(k)
                break
        else:
            groups.append([k])
    blocks = []
    for g in groups:
        members = tuple(g)
        offsets = tuple(int(v) for v in np.cumsum([0] + [terms[k].q for k in g[:-1]]))
        blocks.append(EngineBlock(members, tuple(terms[k] for k in g), offsets, tuple(slices[k] for k in g)))
    blocks.sort(key=lambda b: -b.size)
    return blocks


def diag_blocks(t: "ReTerm | EngineBlock", sqrtw: np.ndarray | None) -> np.ndarray:
    """The diagonal blocks of ``Z_t' W Z_t``: one ``q x q`` block per level of term (or block) ``t``
    (``(levels, q, q)``); ``sqrtw`` the square roots of the prior weights (None: unweighted).

    Examples
    --------
    >>> t = ReTerm("g", "1 | g", np.array([0, 0, 1]), ["a", "b"], np.ones((3, 1)), ["(Intercept)"])
    >>> diag_blocks(t, None)[:, 0, 0].tolist()
    [2.0, 1.0]
    """
    X = t.X
    Xw = X if sqrtw is None else X * sqrtw[:, None]
    q = X.shape[1]
    out = np.empty((t.n_levels, q, q))
    for a in range(q):
        for b in range(a, q):
            s = np.bincount(t.codes, weights=Xw[:, a] * Xw[:, b], minlength=t.n_levels)
            out[:, a, b] = s
            out[:, b, a] = s
    return out


def cross_blocks(t: "ReTerm | EngineBlock", sqrtw: np.ndarray | None, XY: np.ndarray) -> np.ndarray:
    """``(Z_t' W^(1/2) XY)'``: the cross-products of a term's (or block's) columns with the columns of
    ``XY`` (already weighted), one row per column of ``XY``, level by level (``k x (levels q)``); sums
    per level by ``bincount``, without forming ``Z``.

    Examples
    --------
    >>> t = ReTerm("g", "1 | g", np.array([0, 0, 1]), ["a", "b"], np.ones((3, 1)), ["(Intercept)"])
    >>> cross_blocks(t, None, np.array([[1.0], [2.0], [5.0]])).tolist()
    [[3.0, 5.0]]
    """
    X = t.X
    Xw = X if sqrtw is None else X * sqrtw[:, None]
    q = X.shape[1]
    out = np.empty((XY.shape[1], t.n_levels, q))
    for c in range(XY.shape[1]):
        for a in range(q):
            out[c, :, a] = np.bincount(t.codes, weights=Xw[:, a] * XY[:, c], minlength=t.n_levels)
    return out.reshape(XY.shape[1], t.n_levels * q)
