"""The random-effects blocks after the first: their Schur complement and its factor.

With the first block (the grouping factor with most levels) eliminated level by level, the later
blocks' system is

    C = Lambda_r' (A_rr - A_r1 W_1 A_1r) Lambda_r + I,    W_1 = blockdiag(T_1 (L_11 L_11')^{-1} T_1'),

the fill-in ``A_r1 W_1 A_1r`` being a sum over the first factor's levels.  Its sparsity is fixed by
the design: diagonal when the later factors are nested in the first (``(1 | g) + (1 | g:b)``), sparse
for partially crossed factors with many levels, dense for fully crossed ones (InstEval's lecturers).
:class:`LaterBlocks` finds the pattern once and factorises ``C`` at each theta in the cheaper exact
form: a dense Cholesky (LAPACK) when ``C`` is small or not very sparse, a sparse LU with a fill-reducing
symmetric ordering (SuperLU, in scipy, with diagonal pivots: for a positive definite matrix the
Cholesky factor up to a diagonal scaling) when it is large and sparse.

The fill-in is one pass over precomputed pairs of entries sharing a level of the first factor
(:class:`GramPattern`), not a sparse matrix product per evaluation.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.linalg.lapack as lapack
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from mixedcompat.lme4.blocks import EngineBlock

__all__ = ["BlockRows", "GramPattern", "LaterBlocks", "RestFactor"]

DENSE_REST_MAX = 200
"""Later blocks with at most this many columns in all are always factorised dense."""
SPARSE_MAX_ROW_NNZ = 8.0
"""Larger later blocks are factorised sparse only when ``C`` has at most this many off-diagonal
entries per row on average: nested factors give 0-2, and there the sparse factor is 10-100 times
faster than LAPACK's dense one; a random crossing pattern fills in (3,000 columns of partially crossed
levels: 5 entries per row 43 ms sparse against 202 ms dense, 8: 164 against 211, 21: 624 against 239,
67: 1,499 against 224).  Rows and columns of the smallest later blocks (at most ``SPARSE_BORDER_MAX``
columns in all) are not counted: a factor with few levels crossed with the others is a dense border
that the fill-reducing ordering puts last (``(x | g1/g2) + (x | g3)`` with 7 levels of g3: 5.0 ms
sparse against 11.7 ms dense)."""
SPARSE_BORDER_MAX = 64

DENSE_FILL_MAX = 2_000_000
"""A reweighted system (PIRLS) whose ``C`` is dense and whose ``A_r1`` has at most this many entries
as a dense matrix computes the fill-in as one dense product ``G0 G0'`` (BLAS) instead of
recomputing the pair pattern's coefficients at every new weighting (VerbAgg's 24 items x 316
subjects: 0.05 against 0.6 ms per solve)."""


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an integer array (numpy 2's ``np.unique`` without
    ``return_inverse`` hashes, ten times slower on the key arrays here).

    Examples
    --------
    >>> _sorted_unique(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    a = np.sort(a)
    keep = np.ones(len(a), dtype=bool)
    keep[1:] = a[1:] != a[:-1]
    return a[keep]


class BlockRows:
    """A sparse block ``A_r1`` (rows: the later blocks' columns; columns: level x component of the
    first block) stored as one dense row vector of length q_1 per (row, level) pair, so that
    multiplying by a block-diagonal matrix (one q_1 x q_1 block per level) is a batched product.

    Examples
    --------
    >>> A = sp.csr_matrix(np.array([[1.0, 0.0, 2.0, 3.0]]))       # one row, 2 levels of q_1 = 2
    >>> R = BlockRows(A, 2)
    >>> R.times_blocks(np.stack([np.eye(2), 2 * np.eye(2)])).toarray().tolist()
    [[1.0, 0.0, 4.0, 6.0]]
    """

    def __init__(self, A: sp.spmatrix, q1: int):
        coo = A.tocoo()
        self.shape = A.shape
        self.q1 = q1
        n_levels = A.shape[1] // q1
        key = coo.row.astype(np.int64) * n_levels + coo.col // q1
        keys, inv = np.unique(key, return_inverse=True)
        self.pair_keys = keys                       # row * levels + level, sorted
        self.n_levels = n_levels
        self.rows = (keys // n_levels).astype(np.int64)
        self.levels = (keys % n_levels).astype(np.int64)
        self.vals = np.zeros((len(keys), q1))
        self.vals[inv, coo.col % q1] = coo.data
        self.indices = (self.levels[:, None] * q1 + np.arange(q1)[None, :]).ravel().astype(np.int32)
        counts = np.bincount(self.rows, minlength=A.shape[0]) * q1
        self.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)

    def with_values(self, vals: np.ndarray) -> "BlockRows":
        """The same pattern with other values (``(pairs, q1)``)."""
        new = copy.copy(self)
        new.vals = vals
        return new

    def as_matrix(self) -> sp.csr_matrix:
        """``A`` itself (rows x levels q1), from the pairs' values."""
        return sp.csr_matrix((self.vals.ravel(), self.indices, self.indptr), shape=self.shape)

    def times_blocks(self, M: np.ndarray) -> sp.csr_matrix:
        """``A @ blockdiag(M)`` for (levels, q1, q1) blocks ``M``."""
        if self.q1 == 1:
            data = self.vals[:, 0] * M[self.levels, 0, 0]
        else:
            data = np.einsum("pa,pab->pb", self.vals, M[self.levels]).ravel()
        return sp.csr_matrix((data, self.indices, self.indptr), shape=self.shape)


class GramPattern:
    """The lower triangle of ``A_r1 W A_1r`` as one sparse matrix-vector product in ``W``.

    ``W`` is block diagonal with one symmetric q_1 x q_1 block per level of the first block.  Every
    pair of (row, level) entries of ``A_r1`` at the same level contributes ``a' W_level b`` to one
    entry of the result; the pairs and their coefficients (one per upper-triangle entry of
    ``W_level``) are collected once, keyed by ``row * m + col`` (``keys``, sorted, unique), so an
    evaluation costs one pass over them.

    Examples
    --------
    >>> A = sp.csr_matrix(np.array([[1.0, 2.0], [0.0, 3.0]]))      # 2 rows, 2 levels of q_1 = 1
    >>> g = GramPattern.build(BlockRows(A, 1))
    >>> g.keys.tolist(), g.evaluate(np.ones((2, 1, 1))).tolist()   # (0,0), (1,0), (1,1)
    ([0, 2, 3], [5.0, 6.0, 9.0])
    """

    MAX_ENTRIES = 40_000_000
    """At most this many (pair x slot) coefficients are stored (~12 bytes each)."""
    TABLE_MAX = 16_000_000

    def __init__(self, mats: list, keys: np.ndarray, m: int, q1: int, structure: tuple | None = None):
        self.mats = mats
        self.keys = keys
        self.m = m
        self.iu = np.triu_indices(q1)
        self.structure = structure      # (order, rep_src, pair_j, perm): to recompute for new values

    @classmethod
    def build(cls, rows: BlockRows, keep_structure: bool = False) -> "GramPattern | None":
        """The pattern of ``rows``' Gram matrix (None when it would hold more than ``MAX_ENTRIES``);
        ``keep_structure`` keeps what :meth:`with_rows` needs to recompute it for new values."""
        q1 = rows.q1
        n_levels = rows.shape[1] // q1
        m = rows.shape[0]
        n_slots = q1 * (q1 + 1) // 2
        order = np.lexsort((rows.rows, rows.levels))             # by level, rows ascending within it
        lv, rw, vv = rows.levels[order], rows.rows[order], rows.vals[order]
        counts = np.bincount(lv, minlength=n_levels)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos = np.arange(len(lv)) - start[lv]                     # position within its level
        reps = pos + 1                                           # pairs (k, j) with j <= k: row_k >= row_j
        total = int(reps.sum())
        if total * n_slots > cls.MAX_ENTRIES or total == 0:
            return None
        # pair t of entry k (t = 0..pos_k) is entry (first of k's level) + t; all by np.repeat
        # (sequential), gathers only within a level
        ends = np.cumsum(reps)
        pair_j = np.arange(total, dtype=np.int64)
        pair_j += np.repeat(start[lv] - (ends - reps), reps)
        key = np.repeat(rw, reps) * m
        key += rw[pair_j]
        index_type = np.int32 if total < 2**31 - 1 else np.int64
        if m * m <= cls.TABLE_MAX:
            seen = np.zeros(m * m, dtype=bool)
            seen[key] = True
            keys = np.flatnonzero(seen)
            table = np.cumsum(seen, dtype=index_type)
            table -= 1
            out = table[key]
            del seen, table
        else:
            keys, out = np.unique(key, return_inverse=True)
            out = out.ravel().astype(index_type)
        del key
        # pairs are in level order: one matrix per upper-triangle slot of W, columns = levels
        indptr = np.concatenate([[0], np.cumsum(np.bincount(lv, weights=reps, minlength=n_levels).astype(np.int64))])
        iu, ju = np.triu_indices(q1)
        mats = []
        cols = [np.ascontiguousarray(vv[:, a]) for a in range(q1)]
        for a, b in zip(iu, ju):
            coef = np.repeat(cols[a], reps) * cols[b][pair_j]
            if a != b:
                coef += np.repeat(cols[b], reps) * cols[a][pair_j]
            # stored by rows (one per output entry): the matrix-vector product then reads W at the
            # first factor's levels (small, cached) and writes the output once, in order
            mats.append(sp.csc_matrix((coef, out, indptr), shape=(len(keys), n_levels)).tocsr())
            del coef
        structure = None
        if keep_structure:
            # where each stored coefficient of the CSR matrices comes from (same for every slot)
            tag = sp.csc_matrix((np.arange(1, total + 1, dtype=float), out, indptr),
                                shape=(len(keys), n_levels)).tocsr()
            perm = (tag.data - 1).astype(np.int64)
            rep_src = np.repeat(np.arange(len(lv), dtype=np.int64), reps)
            structure = (order, rep_src[perm], pair_j[perm])
        return cls(mats, keys.astype(np.int64), m, q1, structure)

    def with_rows(self, rows: BlockRows) -> "GramPattern":
        """The same pattern for new values of the rows (built with ``keep_structure``)."""
        order, src, pj = self.structure
        vv = rows.vals[order]
        q1 = vv.shape[1]
        mats = []
        for mat, a, b in zip(self.mats, *np.triu_indices(q1)):
            coef = vv[src, a] * vv[pj, b]
            if a != b:
                coef += vv[src, b] * vv[pj, a]
            mats.append(sp.csr_matrix((coef, mat.indices, mat.indptr), shape=mat.shape))
        return GramPattern(mats, self.keys, self.m, q1, self.structure)

    def evaluate(self, W: np.ndarray) -> np.ndarray:
        """The values at ``keys`` for (levels, q1, q1) blocks ``W``."""
        out = self.mats[0] @ W[:, self.iu[0][0], self.iu[1][0]]
        for mat, a, b in zip(self.mats[1:], self.iu[0][1:], self.iu[1][1:]):
            out += mat @ W[:, a, b]
        return out


@dataclass(frozen=True)
class RestFactor:
    """The factor of the later blocks' Schur complement ``C`` at one theta.

    Exactly one of ``L`` (dense lower Cholesky factor) and ``lu`` (scipy SuperLU object of a sparse
    ``C`` with diagonal pivots) is set; ``logdet`` is ``log|C|``.
    """

    logdet: float
    L: np.ndarray | None = None
    lu: object = None

    def solve(self, B: np.ndarray) -> np.ndarray:
        """``C^{-1} B``."""
        if self.L is not None:
            return sla.cho_solve((self.L, True), B, check_finite=False)
        return self.lu.solve(np.asarray(B, dtype=float))

    def quadratic(self, B: np.ndarray) -> np.ndarray:
        """``B' C^{-1} B`` for a dense ``B`` (columns), symmetric."""
        if self.L is not None:
            H = sla.solve_triangular(self.L, B, lower=True, check_finite=False)
            return H.T @ H
        Q = B.T @ self.lu.solve(np.asarray(B, dtype=float))
        return 0.5 * (Q + Q.T)


class LaterBlocks:
    """The blocks after the first: their cross-products with the first block and among themselves,
    and the factorisation of their Schur complement at each theta.

    Parameters
    ----------
    blocks : list of EngineBlock
        The later blocks (all but the first).
    Zr, Z1 : sparse matrix
        Weighted model matrices of the later blocks (side by side) and of the first block.
    q1 : int
        Columns per level of the first block.
    products : tuple of sparse matrices, optional
        ``(Zr' Z1, Zr' Zr)`` computed elsewhere (sums over partitions of the data,
        :mod:`mixedcompat.partitioned`); ``Zr`` and ``Z1`` are then not read (None).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> from mixedcompat.lme4.blocks import amalgamate
    >>> m = mc.lmer("diameter ~ 1 + (1|plate) + (1|sample)", mc.datasets.load("Penicillin"))
    >>> b = amalgamate(m.terms)
    >>> later = LaterBlocks(b[1:], sp.hstack([x.Z(None) for x in b[1:]]).tocsc(), b[0].Z(None), b[0].q)
    >>> later.q, later.sparse
    (6, False)
    """

    def __init__(self, blocks: list[EngineBlock], Zr: sp.spmatrix | None, Z1: sp.spmatrix | None, q1: int,
                 first: EngineBlock | None = None, products: tuple | None = None):
        self.blocks = blocks
        self.first = first               # given: the pattern is kept for :meth:`reweighted`
        A_r1, ZrZr = products if products is not None else (Zr.T @ Z1, Zr.T @ Zr)
        self.q = ZrZr.shape[0]
        self.A_r1 = sp.csr_matrix(A_r1)
        self.rows1 = BlockRows(self.A_r1, q1)
        Arr = sp.tril(sp.csr_matrix(ZrZr)).tocoo()
        # a reweighted system whose C is small enough to be dense whatever its pattern computes the
        # fill-in by one dense product: no pair pattern is built
        small_dense = first is not None and self.q <= DENSE_REST_MAX and \
            self.q * self.A_r1.shape[1] <= DENSE_FILL_MAX
        self.gram = None if small_dense else GramPattern.build(self.rows1, keep_structure=first is not None)
        self.diagonal_templates = all(b.diagonal_template for b in blocks)
        q = self.q
        arr_keys = Arr.row.astype(np.int64) * q + Arr.col
        if self.gram is not None:
            keys = _sorted_unique(np.concatenate([arr_keys, self.gram.keys, np.arange(q, dtype=np.int64) * (q + 1)]))
        else:
            keys = None
        self.sparse = q > DENSE_REST_MAX and keys is not None and \
            _entries_per_row(keys, q, _border_columns(blocks)) <= SPARSE_MAX_ROW_NNZ
        self.keys = None
        if keys is not None:
            self._setup_pattern(keys, arr_keys, Arr.data)
        else:
            self.Arr = np.tril(ZrZr.toarray())
        # per-column multipliers of Lambda_r when every later template is diagonal
        self._lam_pos = [np.repeat(np.arange(b.q)[None, :], b.n_levels, axis=0).ravel() for b in blocks]
        self._row_maps = None
        self.dense_fill = small_dense or (first is not None and not self.sparse and
                                          self.q * self.A_r1.shape[1] <= DENSE_FILL_MAX)

    @classmethod
    def pattern(cls, blocks: list[EngineBlock], first: EngineBlock) -> "LaterBlocks":
        """The later blocks' structure for a model whose weights change (PIRLS): built from the
        pattern of ``Z`` (every stored entry 1, so that no entry cancels), values from
        :meth:`reweighted`."""
        def ones(Z: sp.spmatrix) -> sp.spmatrix:
            Z = Z.copy()
            Z.data[:] = 1.0
            return Z
        Zr = ones(sp.hstack([b.Z(None) for b in blocks]).tocsc())
        return cls(blocks, Zr, ones(first.Z(None)), first.q, first=first)

    def _columns(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each later column set (block, component): the column of ``C`` every row touches and the
        value there (the covariate), in column order."""
        out, off = [], 0
        for b in self.blocks:
            X = b.X
            for a in range(b.q):
                out.append((off + b.codes.astype(np.int64) * b.q + a, X[:, a]))
            off += b.size
        return out

    def _build_row_maps(self) -> tuple:
        """Index arrays from data rows to the stored values: ``A_r1``'s pairs and ``A_rr``'s entries."""
        f = self.first
        cols = self._columns()
        n1 = f.n_levels
        pair = [np.searchsorted(self.rows1.pair_keys, c * n1 + f.codes) for c, _ in cols]
        rr = []
        for r in range(len(cols)):
            for s_ in range(r + 1):
                (cr, vr), (cs, vs) = cols[r], cols[s_]
                flat = cr * self.q + cs        # lower triangle: columns are in increasing order
                rr.append((r, s_, np.searchsorted(self.keys, flat) if self.gram is not None else flat))
        return cols, pair, rr

    def reweighted(self, sqrtw: np.ndarray) -> "LaterBlocks":
        """The same blocks for a new weighting of the rows (built by :meth:`pattern`): ``A_r1``,
        ``A_rr`` and the fill-in's coefficients recomputed on the stored pattern, in a few passes
        over the data.

        Examples
        --------
        >>> import mixedcompat as mc
        >>> from mixedcompat.lme4.blocks import amalgamate
        >>> m = mc.lmer("diameter ~ 1 + (1|plate) + (1|sample)", mc.datasets.load("Penicillin"))
        >>> b = amalgamate(m.terms)
        >>> later = LaterBlocks.pattern(b[1:], b[0]).reweighted(np.full(len(m.frame.y), 2.0))
        >>> float(later.Arr[0, 0])          # sample a: 24 rows (one per plate), weight 2^2 each
        96.0
        """
        if self._row_maps is None:
            self._row_maps = self._build_row_maps()
        cols, pair, rr = self._row_maps
        f = self.first
        w = sqrtw * sqrtw
        X1 = f.X
        n_pairs = len(self.rows1.pair_keys)
        vals = np.zeros((n_pairs, f.q))
        for (_, v), P in zip(cols, pair):
            wv = w * v
            for c in range(f.q):
                vals[:, c] += np.bincount(P, weights=wv * X1[:, c], minlength=n_pairs)
        new = copy.copy(self)
        new.rows1 = self.rows1.with_values(vals)
        new.A_r1 = new.rows1.as_matrix()
        if self.dense_fill:          # A_r1 as a dense array: the fill-in and the solves by BLAS
            new.A_r1 = new.A_r1.toarray()
        size = len(self.keys) if self.gram is not None else self.q * self.q
        base = np.zeros(size)
        for r, s_, idx in rr:
            prod = w * cols[r][1] * cols[s_][1]
            base += np.bincount(idx, weights=prod, minlength=size)
        if self.gram is not None:
            # a dense fill-in is one product at each factorisation: no pair pattern to recompute
            # (and none left behind for the fill-in's readers, which then take the dense route)
            new.gram = None if self.dense_fill else self.gram.with_rows(new.rows1)
            new.base = base
        else:
            new.Arr = base.reshape(self.q, self.q)
        return new

    def _setup_pattern(self, keys: np.ndarray, arr_keys: np.ndarray, arr_vals: np.ndarray) -> None:
        """Index arrays of the lower-triangle pattern ``keys`` (``row * q + col``) of ``C``."""
        q = self.q
        self.keys = keys
        self.base = np.zeros(len(keys))
        self.base[np.searchsorted(keys, arr_keys)] = arr_vals
        self.gram_pos = np.searchsorted(keys, self.gram.keys)
        r, c = keys // q, keys % q
        # full symmetric CSC: both triangles, data taken from the lower-triangle values
        rows = np.concatenate([r, c[r != c]])
        cols = np.concatenate([c, r[r != c]])
        src = np.concatenate([np.arange(len(keys)), np.flatnonzero(r != c)])
        order = np.lexsort((rows, cols))
        self.csc_indices = rows[order].astype(np.int32)
        self.csc_src = src[order]
        self.csc_indptr = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=q))]).astype(np.int32)
        self.key_rows, self.key_cols = r, c
        self.diag_pos = np.searchsorted(keys, np.arange(q, dtype=np.int64) * (q + 1))

    def lambda_scale(self, Tr: list[np.ndarray]) -> np.ndarray | sp.spmatrix:
        """``Lambda_r``: a vector of column multipliers when every template is diagonal, else a sparse
        block-diagonal matrix."""
        if self.diagonal_templates:
            return np.concatenate([np.diag(T)[pos] for T, pos in zip(Tr, self._lam_pos)])
        mats = [sp.kron(sp.identity(b.n_levels, format="csr"), sp.csr_matrix(T)) for b, T in zip(self.blocks, Tr)]
        return sp.block_diag(mats, format="csr")

    def _dense_times_blocks(self, M1: np.ndarray) -> np.ndarray:
        """``A_r1 blockdiag(M1)`` with a dense ``A_r1`` (reweighted systems with a dense fill-in)."""
        n1, q1 = M1.shape[0], M1.shape[1]
        if q1 == 1:
            return self.A_r1 * M1[:, 0, 0][None, :]
        A3 = self.A_r1.reshape(self.q, n1, q1)
        return np.einsum("rla,lab->rlb", A3, M1).reshape(self.q, n1 * q1)

    def lower_block(self, lam, M1: np.ndarray) -> sp.csr_matrix | np.ndarray:
        """``G = L_{r,1} = Lambda_r' A_r1 blockdiag(M1)`` (``M1 = T_1 L_11^{-T}``), sparse (dense
        for a reweighted system with a dense fill-in)."""
        if self.dense_fill and isinstance(self.A_r1, np.ndarray):
            G0 = self._dense_times_blocks(M1)
            return G0 * lam[:, None] if isinstance(lam, np.ndarray) else np.asarray(lam.T @ G0)
        G0 = self.rows1.times_blocks(M1)
        return G0.multiply(lam[:, None]).tocsr() if isinstance(lam, np.ndarray) else (lam.T @ G0).tocsr()

    def fill_in_times(self, lam, W1: np.ndarray, B: np.ndarray) -> np.ndarray:
        """``G blockdiag(M1)' B = Lambda_r' A_r1 blockdiag(W1) B`` for a dense ``B`` (levels_1 q_1 x k),
        without forming ``G``."""
        n1, q1 = W1.shape[0], W1.shape[1]
        WB = (W1 @ B.reshape(n1, q1, -1)).reshape(n1 * q1, -1)
        out = self.A_r1 @ WB
        return out * lam[:, None] if isinstance(lam, np.ndarray) else np.asarray(lam.T @ out)

    def factor(self, lam, M1: np.ndarray, W1: np.ndarray) -> RestFactor:
        """The factor of ``C`` at the first block's ``M1 = T_1 L_11^{-T}`` and ``W1 = M1 M1'``."""
        if self.dense_fill and isinstance(self.A_r1, np.ndarray):
            return self._factor_dense_fill(lam, self._dense_times_blocks(M1))
        if self.gram is None:
            return self._factor_dense_product(lam, self.rows1.times_blocks(M1))
        vals = self.base.copy()
        vals[self.gram_pos] -= self.gram.evaluate(W1)
        q = self.q
        if isinstance(lam, np.ndarray):
            vals *= lam[self.key_rows] * lam[self.key_cols]
            vals[self.diag_pos] += 1.0
            if not self.sparse:
                C = np.zeros((q, q))
                C.flat[self.keys] = vals             # the lower triangle: all LAPACK's potrf reads
                return _dense_factor(C, upper_is_zero=True)
            C = sp.csc_matrix((vals[self.csc_src], self.csc_indices, self.csc_indptr), shape=(q, q))
        else:
            core = sp.csc_matrix((vals[self.csc_src], self.csc_indices, self.csc_indptr), shape=(q, q))
            C = (lam.T @ core @ lam + sp.identity(q)).tocsc()
            if not self.sparse:
                return _dense_factor(np.ascontiguousarray(C.toarray()))
        return _sparse_factor(C)

    def _factor_dense_fill(self, lam, G: np.ndarray) -> RestFactor:
        """A reweighted system's dense ``C``: ``A_rr`` on its pattern, the fill-in one dense product."""
        q = self.q
        if self.keys is not None:
            C = np.zeros((q, q))
            C.flat[self.keys] = self.base
        else:
            C = self.Arr.copy()
        C -= np.tril(G @ G.T)
        return _scaled_dense_factor(C, lam)

    def _factor_dense_product(self, lam, G0: sp.csr_matrix) -> RestFactor:
        """Without a pair pattern (too many pairs): the fill-in as a sparse product, ``C`` dense."""
        return _scaled_dense_factor(self.Arr - np.tril((G0 @ G0.T).toarray()), lam)


def _scaled_dense_factor(C: np.ndarray, lam) -> RestFactor:
    """The factor of ``Lambda_r' C Lambda_r + I`` for the lower triangle ``C`` of
    ``A_rr - fill-in`` (``lam`` a vector of column multipliers or a sparse ``Lambda_r``)."""
    if isinstance(lam, np.ndarray):
        C *= lam[:, None]
        C *= lam[None, :]
    else:
        C = C + np.tril(C, -1).T
        C = np.asarray((lam.T @ np.asarray((lam.T @ C).T)).T)
    C[np.diag_indices_from(C)] += 1.0
    return _dense_factor(C)


def _border_columns(blocks: list[EngineBlock]) -> np.ndarray:
    """The columns of ``C`` (later blocks side by side) of the smallest blocks, at most
    ``SPARSE_BORDER_MAX`` in all."""
    starts = np.concatenate([[0], np.cumsum([b.size for b in blocks])])
    border, total = [], 0
    for k in sorted(range(len(blocks)), key=lambda k: blocks[k].size):
        if total + blocks[k].size > SPARSE_BORDER_MAX:
            break
        total += blocks[k].size
        border.append(np.arange(starts[k], starts[k + 1]))
    return np.concatenate(border) if border else np.zeros(0, dtype=np.int64)


def _entries_per_row(keys: np.ndarray, q: int, border: np.ndarray) -> float:
    """Average off-diagonal entries per row of ``C`` (lower-triangle pattern ``keys``) outside the
    ``border`` columns."""
    inner = np.ones(q, dtype=bool)
    inner[border] = False
    r, c = keys // q, keys % q
    off = (r != c) & inner[r] & inner[c]
    return 2.0 * float(np.count_nonzero(off)) / max(1, int(inner.sum()))


def _dense_factor(C: np.ndarray, upper_is_zero: bool = False) -> RestFactor:
    """Dense lower Cholesky factor of a C-ordered ``C`` (only its lower triangle is read; ``C`` is
    overwritten).  LAPACK's potrf on the transposed (Fortran-ordered) view: no copy, and about twice
    as fast as ``np.linalg.cholesky`` at a thousand columns."""
    U, info = lapack.dpotrf(C.T, lower=0, clean=0 if upper_is_zero else 1, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"Schur complement not positive definite (potrf info {info})")
    L = U.T
    return RestFactor(2.0 * float(np.sum(np.log(np.diag(L)))), L=L)


def _sparse_factor(C: sp.csc_matrix) -> RestFactor:
    """Sparse LU of a symmetric positive definite ``C`` with diagonal pivots and a fill-reducing
    symmetric ordering; ``log|C|`` from ``U``'s diagonal (L has a unit diagonal)."""
    lu = spla.splu(C, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    d = lu.U.diagonal()
    if not np.all(d > 0):
        raise np.linalg.LinAlgError("Schur complement not positive definite")
    return RestFactor(float(np.sum(np.log(d))), lu=lu)
