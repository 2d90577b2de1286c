"""Random-effects terms: grouping codes, per-term model matrices and theta's layout (:class:`ThetaLayout`).

Mirrors lme4's ``mkReTrms``: each term ``(expr | g)`` contributes ``q`` columns per level of ``g``,
ordered level by level; terms are reordered by decreasing number of levels exactly as lme4 does
(``rev(order(nl))`` and only when some later term has more levels than an earlier one); theta
holds the lower triangle of each term's relative covariance factor, column by column.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front.formula import RETerm
from mixedcompat.front.rlang import Node


@dataclass(frozen=True)
class ReTerm:
    """One random-effects term on the rows of a model frame.

    Examples
    --------
    >>> t = ReTerm("Subject", "Days | Subject", np.array([0, 0, 1]), ["308", "309"],
    ...            np.ones((3, 1)), ["(Intercept)"])
    >>> t.q, t.n_levels, t.n_theta
    (1, 2, 1)
    """

    group: str
    label: str
    codes: np.ndarray
    levels: list[str]
    X: np.ndarray
    names: list[str]
    group_expr: Node | None = None          # the grouping factor as an R tree (``group`` is its spelling)

    @property
    def q(self) -> int:
        return self.X.shape[1]

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_theta(self) -> int:
        return self.q * (self.q + 1) // 2

    @property
    def tril_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of theta's entries in the q x q template (column-major lower triangle)."""
        return _tril_index(self.q)

    def template(self, theta_slice: np.ndarray) -> np.ndarray:
        """The q x q lower-triangular relative covariance factor for this term."""
        T = np.zeros((self.q, self.q))
        r, c = self.tril_index
        T[r, c] = theta_slice
        return T

    def Z(self, sqrt_weights: np.ndarray | None = None) -> sp.csr_matrix:
        """The n x (levels * q) model matrix of this term, columns level by level."""
        n, q = self.X.shape
        data = self.X if sqrt_weights is None else self.X * sqrt_weights[:, None]
        indices = (self.codes[:, None] * q + np.arange(q)[None, :]).ravel()
        indptr = np.arange(0, n * q + 1, q)
        return sp.csr_matrix((np.ascontiguousarray(data).ravel(), indices, indptr),
                             shape=(n, self.n_levels * q))


@dataclass(frozen=True, eq=False)
class ThetaLayout:
    """Where each entry of theta lives, built once from the (ordered) random-effects terms.

    theta holds, term after term, the lower triangle of each term's ``q x q`` relative covariance
    factor (template), column by column, as lme4's ``getME(m, "theta")``.

    Attributes
    ----------
    slices : tuple of slice
        Each term's entries of theta.
    rows, cols : ndarray
        Template row and column of each entry.
    term : ndarray
        Index of the term of each entry.
    lower, start : ndarray
        lme4's bounds (0 on template diagonals, ``-inf`` elsewhere) and default start (1 / 0).
    names : tuple of str
        lme4's names of theta (``"Subject.(Intercept)"``, ``"Subject.Days.(Intercept)"``).
    column_partners : dict
        For each template-diagonal index, the indices of the entries below it in its column (their
        signs do not change the criterion when the diagonal is 0).
    q_total : int
        Number of random effects (columns of ``Z``).
    terms : tuple of ReTerm
        The terms it was built from.

    Examples
    --------
    >>> t = ReTerm("Subject", "Days | Subject", np.array([0, 1]), ["308", "309"],
    ...            np.ones((2, 2)), ["(Intercept)", "Days"])
    >>> lay = ThetaLayout.of([t])
    >>> lay.lower.tolist(), lay.names
    ([0.0, -inf, 0.0], ('Subject.(Intercept)', 'Subject.Days.(Intercept)', 'Subject.Days'))
    >>> lay.column_partners
    {0: [1], 2: []}
    """

    slices: tuple
    rows: np.ndarray
    cols: np.ndarray
    term: np.ndarray
    lower: np.ndarray
    start: np.ndarray
    names: tuple
    column_partners: dict
    q_total: int
    terms: tuple

    @classmethod
    def of(cls, terms: list[ReTerm]) -> "ThetaLayout":
        """The layout of ``terms`` (in lme4's order, as :func:`make_reterms` returns them)."""
        slices, rows, cols, term, names = [], [], [], [], []
        partners: dict[int, list[int]] = {}
        start = 0
        for k, t in enumerate(terms):
            r, c = t.tril_index
            slices.append(slice(start, start + t.n_theta))
            for i, (ri, ci) in enumerate(zip(r, c)):
                if ri == ci:
                    partners[start + i] = [start + j for j, (r2, c2) in enumerate(zip(r, c))
                                           if c2 == ci and r2 > ri]
            rows.append(r)
            cols.append(c)
            term.append(np.full(t.n_theta, k))
            names.extend(f"{t.group}.{t.names[i]}" if i == j else f"{t.group}.{t.names[i]}.{t.names[j]}"
                         for i, j in zip(r, c))
            start += t.n_theta
        rows_a = np.concatenate(rows) if rows else np.zeros(0, dtype=int)
        cols_a = np.concatenate(cols) if cols else np.zeros(0, dtype=int)
        diag = rows_a == cols_a
        arrays = [rows_a, cols_a, np.concatenate(term) if term else np.zeros(0, dtype=int),
                  np.where(diag, 0.0, -np.inf), np.where(diag, 1.0, 0.0)]
        for a in arrays:
            a.flags.writeable = False
        return cls(tuple(slices), *arrays, tuple(names), partners,
                   int(sum(t.n_levels * t.q for t in terms)), tuple(terms))

    @property
    def n_theta(self) -> int:
        return len(self.rows)

    @property
    def on_diagonal(self) -> np.ndarray:
        """True for the entries on a template diagonal (the ones bounded at 0)."""
        return self.rows == self.cols

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each term's ``q x q`` lower-triangular template at ``theta``."""
        return [t.template(theta[s]) for t, s in zip(self.terms, self.slices)]

    def sdcor_names(self, old_names: bool = True) -> list[str]:
        """lme4's names of the standard deviations / correlations and sigma (``profile``,
        ``confint``): ``.sig01, ..., .sigma`` or (``old_names=False``) ``sd_(Intercept)|Subject``,
        ``cor_Days.(Intercept)|Subject``, ..., ``sigma``."""
        if old_names:
            return [f".sig{i:02d}" for i in range(1, self.n_theta + 1)] + [".sigma"]
        out = []
        for k, r, c in zip(self.term, self.rows, self.cols):
            t = self.terms[k]
            out.append(f"sd_{t.names[r]}|{t.group}" if r == c else f"cor_{t.names[r]}.{t.names[c]}|{t.group}")
        return out + ["sigma"]

    def lambda_positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, index)``: ``Lambda[rows, cols] = theta[index]`` fills the dense
        ``q_total x q_total`` relative covariance factor (dense criteria of small models)."""
        rows, cols, idx = [], [], []
        offset_q = 0
        for t, s in zip(self.terms, self.slices):
            r, c = t.tril_index
            lev = np.arange(t.n_levels)[:, None] * t.q + offset_q
            rows.append((lev + r[None, :]).ravel())
            cols.append((lev + c[None, :]).ravel())
            idx.append(np.tile(np.arange(t.n_theta) + s.start, t.n_levels))
            offset_q += t.n_levels * t.q
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(idx)


@lru_cache(maxsize=None)
def _tril_index(q: int) -> tuple[np.ndarray, np.ndarray]:
    cols, rows = np.triu_indices(q)   # column-major lower triangle = row-major upper triangle transposed
    return rows, cols


def lme4_term_order(n_levels: list[int]) -> list[int]:
    """lme4's reordering of terms: ``rev(order(nl))`` when some term has more levels than its predecessor.

    Examples
    --------
    >>> lme4_term_order([10, 20, 10])
    [1, 2, 0]
    >>> lme4_term_order([18, 18])
    [0, 1]
    """
    nl = list(n_levels)
    if not any(b > a for a, b in zip(nl, nl[1:])):
        return list(range(len(nl)))
    ascending = sorted(range(len(nl)), key=lambda i: nl[i])  # stable, like R's order()
    return ascending[::-1]


def make_reterms(re_terms: tuple[RETerm, ...], re_X: list, re_groups: list, n: int) -> list[ReTerm]:
    """Build the (reordered) random-effects terms (lme4's ``mkReTrms``); lme4's checks of them
    are :func:`mixedcompat.lme4.checks.check_reterms`.

    Raises
    ------
    FormulaError, DataError
        No random-effects term, or a term without columns.
    """
    if not re_terms:
        raise FormulaError("no random effects terms specified in formula: add a term such as "
                           "'(1 | g)', or use an ordinary linear model (statsmodels OLS)")
    terms = []
    for spec, (X, names), (codes, levels) in zip(re_terms, re_X, re_groups):
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape[1] == 0:
            raise DataError(f"random-effects term ({spec.label}) has no columns")
        terms.append(ReTerm(spec.group_text, spec.label, np.asarray(codes, dtype=np.intp), list(levels),
                            X, list(names), spec.group))
    order = lme4_term_order([t.n_levels for t in terms])
    terms = [terms[i] for i in order]
    # lme4's identifiability checks (check.nlev.gtr.1, check.nobs.vs.nlev, check.nobs.vs.nRE, ...)
    # are lmerControl settings: mixedcompat.lme4.checks.check_reterms
    return terms


def flist(terms: list[ReTerm]) -> dict[str, ReTerm]:
    """Distinct grouping factors in lme4's order (first appearance among the sorted terms)."""
    out: dict[str, ReTerm] = {}
    for t in terms:
        out.setdefault(t.group, t)
    return out


def cnms(terms: list[ReTerm]) -> dict[str, list[str]]:
    """lme4's ``cnms``: each term's column names under its grouping factor's name, repeated factors
    made unique as R's list names are (``Subject``, ``Subject.1``, ...)."""
    out: dict[str, list[str]] = {}
    for t in terms:
        key, k = t.group, 0
        while key in out:
            k += 1
            key = f"{t.group}.{k}"
        out[key] = list(t.names)
    return out
