"""Correlation structures for lme() and gls(): nlme's corAR1, corCAR1, corARMA, corCompSymm, corSymm, spatial.

A constructor (``corAR1(value=0.5, form="~ t | g")``) is an unbound specification, like an
uninitialised ``corStruct`` in R.  ``spec.bind(data)`` plays the role of nlme's ``Initialize``: it reads
positions and groups from the data, checks them, fills in the initial value and returns a
:class:`BoundCorStruct`, which maps the unconstrained parameters (nlme's own transformation, so that
``intervals()`` works on nlme's scale) to correlation matrices and whitens blocks of rows.

Behaviours taken from nlme 3.1-162 by experiment:

* ``corAR1`` whose positions do not step by exactly 1 (in row order) inside some group becomes a
  ``corARMA(p=1)`` (coefficient name ``"Phi1"``); the correlation is ``phi ** |t_i - t_j|``.
* Non-integer positions for corAR1 / corARMA are silently truncated by nlme's C code (reading
  uninitialised memory); here they are an error.  corSymm positions must be the integers 1..K.
* Spatial classes refuse zero distances, with or without a nugget; the default range is
  0.9 * (smallest distance) (1.1 * for corSpher / corLin, whose unconstrained range is
  ``log(range - minD)``); the default nugget is 0.1.

Example
-------
>>> import pandas as pd
>>> cs = corAR1(0.5, form="~ 1 | g").bind(pd.DataFrame({"g": ["a", "a", "b"]}))
>>> cs.names, cs.natural(cs.start)
(['Phi'], array([0.5]))
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, NamedTuple, Optional

import numpy as np
import pandas as pd

from scipy.linalg import solve_triangular
from scipy.linalg.lapack import dtrtrs as _trtrs

from ..errors import DataError, FormulaError

__all__ = ["corAR1", "corCAR1", "corARMA", "corCompSymm", "corSymm", "corExp", "corGaus", "corSpher",
           "corLin", "corRatio", "CorStruct", "BoundCorStruct", "CorForm", "parse_cor_form"]

class _Stack(NamedTuple):
    """Groups of one size: rows (G, s); pattern quantities Q (U, s, s); pattern of each group; the
    representative group of each pattern; groups per pattern (None when there are many patterns)."""

    rows: np.ndarray
    Q: np.ndarray
    inv: np.ndarray
    rep: np.ndarray
    members: Optional[list]


_NAME = re.compile(r"^[A-Za-z.][A-Za-z0-9._]*$|^`[^`]+`$")


# ----------------------------------------------------------------------------------------- form
@dataclass(frozen=True)
class CorForm:
    """A parsed ``form``: covariate column names (empty for ``~ 1``) and grouping columns (``a/b`` -> both).

    Example
    -------
    >>> parse_cor_form("~ x + y | a/b")
    CorForm(covariates=('x', 'y'), groups=('a', 'b'), text='~ x + y | a/b')
    """

    covariates: tuple[str, ...]
    groups: tuple[str, ...]
    text: str


def _names(part: str, what: str, sep: str, form: str) -> tuple[str, ...]:
    tokens = [t.strip() for t in part.split(sep)]
    for t in tokens:
        if not _NAME.match(t):
            raise FormulaError(f"bad {what} {t!r} in correlation form {form!r}: use column names "
                               f"(covariates joined by '+', nested groups by '/')")
    return tuple(t.strip("`") for t in tokens)


def parse_cor_form(form: str) -> CorForm:
    """Parse ``"~ 1"``, ``"~ t"``, ``"~ x + y | g"``, ``"~ 1 | a/b"`` into a :class:`CorForm`.

    Example
    -------
    >>> parse_cor_form("~t|g").covariates
    ('t',)
    """
    if not isinstance(form, str):
        raise FormulaError(f"correlation form must be a string like '~ t | g', not {form!r}")
    text = form.strip()
    if not text.startswith("~") or text.count("~") != 1:
        raise FormulaError(f"correlation form {form!r} must be one-sided: '~ covariate | group'")
    body = text[1:]
    if body.count("|") > 1:
        raise FormulaError(f"correlation form {form!r} has more than one '|'")
    cov_part, _, grp_part = body.partition("|")
    if not cov_part.strip():
        raise FormulaError(f"correlation form {form!r} has no covariate (use '~ 1 | g')")
    covs = () if cov_part.strip() == "1" else _names(cov_part, "covariate", "+", form)
    grps = _names(grp_part, "grouping term", "/", form) if "|" in body else ()
    return CorForm(covs, grps, "~ " + " | ".join(p.strip() for p in body.split("|")))


# ------------------------------------------------------------------------------ transformations
def _logit(p):
    return np.log(p / (1.0 - p))


def _expit(u):
    return 1.0 / (1.0 + np.exp(-u))


def _coef_to_pacf(a: np.ndarray) -> np.ndarray:
    """AR coefficients -> partial autocorrelations (reverse Durbin-Levinson); nan when not stationary."""
    a = np.array(a, dtype=float)
    r = np.empty_like(a)
    for k in range(len(a), 0, -1):
        r[k - 1] = rk = a[k - 1]
        if abs(rk) >= 1:
            r[:k] = np.nan
            return r
        a = (a[:k - 1] + rk * a[k - 2::-1][:k - 1]) / (1.0 - rk * rk) if k > 1 else a[:0]
    return r


def _pacf_to_coef(r: np.ndarray) -> np.ndarray:
    """Partial autocorrelations -> AR coefficients (Durbin-Levinson)."""
    a = np.zeros(0)
    for rk in r:
        a = np.concatenate([a - rk * a[::-1], [rk]])
    return a


def _arma_acf(phi: np.ndarray, theta: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelations at lags 0..max_lag of x_t = sum phi_i x_{t-i} + e_t + sum theta_j e_{t-j}."""
    p, q = len(phi), len(theta)
    th = np.concatenate([[1.0], theta])
    psi = np.zeros(q + 1)
    for j in range(q + 1):
        psi[j] = th[j] + sum(phi[i - 1] * psi[j - i] for i in range(1, min(j, p) + 1))
    rhs = lambda k: sum(th[j] * psi[j - k] for j in range(k, q + 1)) if k <= q else 0.0  # noqa: E731
    m = max(p, q)
    A = np.eye(m + 1)
    for k in range(m + 1):
        for i in range(1, p + 1):
            A[k, abs(k - i)] -= phi[i - 1]
    gam = np.zeros(max(max_lag, m) + 1)
    gam[:m + 1] = np.linalg.solve(A, [rhs(k) for k in range(m + 1)])
    for k in range(m + 1, len(gam)):
        gam[k] = sum(phi[i - 1] * gam[k - i] for i in range(1, p + 1))
    return gam[:max_lag + 1] / gam[0]


def _spherical_to_cor(u: np.ndarray, K: int) -> np.ndarray:
    """nlme's corSymm parameterisation: angles pi / (1 + exp(-u)), row by row of a unit-row Cholesky factor."""
    ang = np.pi * _expit(np.asarray(u, dtype=float))
    L = np.zeros((K, K))
    L[0, 0] = 1.0
    pos = 0
    for i in range(1, K):
        a = ang[pos:pos + i]
        pos += i
        s = np.concatenate([[1.0], np.cumprod(np.sin(a))])
        L[i, :i] = s[:i] * np.cos(a)
        L[i, i] = s[i]
    C = L @ L.T
    np.fill_diagonal(C, 1.0)
    return C


def _cor_to_spherical(C: np.ndarray) -> np.ndarray:
    L = np.linalg.cholesky(C)
    out = []
    for i in range(1, len(C)):
        s = 1.0
        for j in range(i):
            c = np.clip(L[i, j] / s, -1.0, 1.0)
            a = np.arccos(c)
            out.append(np.log(a / (np.pi - a)))
            s *= np.sin(a)
    return np.array(out)


def _symm_pairs(K: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(K) for j in range(i + 1, K)]


# ---------------------------------------------------------------------------------- the bound
class BoundCorStruct:
    """A correlation structure bound to the model's rows (nlme's initialised ``corStruct``).

    Attributes
    ----------
    class_name : nlme's class after ``Initialize`` (a corAR1 with gaps becomes ``"corARMA"``).
    names, unconstrained_names : R's coefficient names (natural scale / unconstrained scale).
    n_free : number of free (unconstrained) parameters; 0 when ``fixed``.
    start : unconstrained initial values of the free parameters (nlme's transformation).
    value : the initial values on the natural scale (``coef(cs, unconstrained = FALSE)``).
    fixed : ``fixed=TRUE`` in the call.
    group_codes, n_groups, group_labels : group of every row (codes 0..n_groups-1) and the labels.
    positions : (n,) times / order within group, or (n, d) spatial coordinates.
    form, metric : the formula text and (spatial) distance metric.

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> cs = corCAR1(0.5, form="~ t").bind(pd.DataFrame({"t": [0.0, 1.0, 3.0]}))
    >>> Mw, half_logdet = cs.whiten(cs.start, np.eye(3))
    >>> bool(np.allclose(Mw.T @ Mw, np.linalg.inv(cs.cor_matrices(cs.start)[0])))
    True
    """

    def __init__(self, *, class_name: str, names: list[str], value: np.ndarray, fixed: bool,
                 to_natural: Callable[[np.ndarray], np.ndarray], to_unconstrained: Callable,
                 corr: Callable[[np.ndarray, np.ndarray], np.ndarray], quantity: str,
                 closed_form: Optional[str], group_codes: np.ndarray, group_labels: list[str],
                 positions: np.ndarray, form: str, metric: Optional[str] = None,
                 symm_index: Optional[np.ndarray] = None):
        self.class_name = class_name
        self.names = list(names)
        self.unconstrained_names = list(names)
        self.value = np.asarray(value, dtype=float)
        self.fixed = bool(fixed)
        self._to_natural, self._corr = to_natural, corr
        self._to_unconstrained = to_unconstrained
        self._quantity, self._closed = quantity, closed_form
        self.start = np.zeros(0) if fixed else np.asarray(to_unconstrained(self.value), dtype=float)
        self.n_free = len(self.start)
        self.group_codes = group_codes
        self.n_groups = len(group_labels)
        self.group_labels = list(group_labels)
        self.positions = positions
        self.form, self.metric = form, metric
        self._symm_index = symm_index
        self.n = len(group_codes)

    def __repr__(self) -> str:
        vals = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.names, self.value))
        return f"<{self.class_name} {self.form}: {vals}; {self.n_groups} groups{', fixed' if self.fixed else ''}>"

    # ---------------------------------------------------------------- parameters
    def natural(self, u: np.ndarray) -> np.ndarray:
        """All parameters on the natural scale (``coef(cs, unconstrained = FALSE)``) from the free ones."""
        if self.fixed:
            return self.value.copy()
        u = np.asarray(u, dtype=float).ravel()
        if len(u) != self.n_free:
            raise ValueError(f"{self.class_name}: expected {self.n_free} unconstrained parameters, got {len(u)}")
        return np.asarray(self._to_natural(u), dtype=float)

    def unconstrained(self, nat: np.ndarray) -> np.ndarray:
        """The free unconstrained parameters of natural-scale values (inverse of :meth:`natural`)."""
        return np.asarray(self._to_unconstrained(np.asarray(nat, dtype=float)), dtype=float)

    # ---------------------------------------------------------------- layout
    @cached_property
    def _order(self) -> np.ndarray:
        return np.argsort(self.group_codes, kind="stable")

    @cached_property
    def _sizes(self) -> np.ndarray:
        return np.bincount(self.group_codes, minlength=self.n_groups)

    @cached_property
    def group_rows(self) -> list[np.ndarray]:
        """Row indices (in bound row order) of every group, in group-code order."""
        return np.split(self._order, np.cumsum(self._sizes)[:-1])

    @cached_property
    def _stacks(self) -> list[_Stack]:
        """Groups batched by size s; groups whose relative positions agree share one pattern (one C)."""
        out = []
        starts = np.concatenate([[0], np.cumsum(self._sizes)])
        for s in np.unique(self._sizes):
            gs = np.flatnonzero(self._sizes == s)
            rows = self._order[starts[gs][:, None] + np.arange(s)[None, :]]
            if self._quantity == "pair":
                key = self._symm_index[rows]
            else:                               # C depends on differences only: translate to row 0
                P = self.positions[rows]
                key = (P - P[:, :1]).reshape(len(gs), -1)
            _, rep, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
            inv = inv.ravel()
            members = [np.flatnonzero(inv == u) for u in range(len(rep))] if len(rep) <= 16 else None
            out.append(_Stack(rows, self._pair_quantity(rows[rep]), inv, rep, members))
        return out

    def _pair_quantity(self, rows: np.ndarray) -> np.ndarray:
        if self._quantity == "pair":
            k = self._symm_index[rows]
            return k[..., :, None] * int(self._symm_index.max() + 1) + k[..., None, :]
        P = self.positions[rows]
        if P.ndim == rows.ndim:
            return np.abs(P[..., :, None] - P[..., None, :])
        diff = np.abs(P[..., :, None, :] - P[..., None, :, :])
        if self.metric == "manhattan":
            return diff.sum(-1)
        if self.metric == "maximum":
            return diff.max(-1)
        return np.sqrt((diff * diff).sum(-1))

    def distances(self, g: int) -> np.ndarray:
        """Matrix of distances (|t_i - t_j| or the spatial metric) between the rows of group ``g``.

        For corSymm the positions 1..K are used as times.  Rows are in :attr:`group_rows` order.
        """
        rows = self.group_rows[g]
        if self._quantity == "pair":
            t = self._symm_index[rows].astype(float)
            return np.abs(t[:, None] - t[None, :])
        return self._pair_quantity(rows[None, :])[0].astype(float)

    @cached_property
    def _chain(self):
        """Closed forms work in group-sorted row order: the order, whether it is the identity, the
        first row of every group (sorted positions) and the lag of every row to the previous one."""
        o = self._order
        first = np.ones(self.n, bool)
        first[1:] = self.group_codes[o[1:]] != self.group_codes[o[:-1]]
        lag = np.zeros(self.n)
        if self.positions.ndim == 1:
            lag[1:] = np.diff(self.positions[o])
        lag[first] = 0.0
        steps = lag[~first]
        uniform = steps.size == 0 or bool(np.all(steps == steps[0]))
        step = float(steps[0]) if steps.size else 1.0
        return o, bool(np.array_equal(o, np.arange(self.n))), np.flatnonzero(first), lag, uniform, step

    @cached_property
    def _ar1_ok(self) -> bool:
        _, _, first, lag, _, _ = self._chain
        mask = np.ones(self.n, bool)
        mask[first] = False
        return self._closed == "ar1" and bool(np.all(lag[mask] > 0))

    @cached_property
    def _cs_slots(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """Slot of every row in a padded (max size, n_groups) layout, groups with > j rows for every j,
        and whether the rows already are that layout's transpose (balanced groups in sorted order)."""
        o = self._order
        starts = np.concatenate([[0], np.cumsum(self._sizes)])
        within = np.empty(self.n, np.intp)
        within[o] = np.arange(self.n) - np.repeat(starts[:-1], self._sizes)
        width = int(self._sizes.max())
        counts = np.array([(self._sizes > j).sum() for j in range(width)])
        balanced = bool(np.all(self._sizes == width)) and bool(np.array_equal(o, np.arange(self.n)))
        return within * self.n_groups + self.group_codes, counts, balanced

    # ---------------------------------------------------------------- matrices
    def _corr_stack(self, nat: np.ndarray, Q: np.ndarray) -> np.ndarray:
        C = self._corr(nat, Q)
        idx = np.arange(C.shape[-1])
        C[..., idx, idx] = 1.0
        return C

    def cor_matrices(self, u: np.ndarray) -> list[np.ndarray]:
        """Correlation matrix of every group (rows in :attr:`group_rows` order), as nlme's ``corMatrix``."""
        nat = self.natural(u)
        return [self._corr_stack(nat, self._pair_quantity(rows[None, :]))[0] for rows in self.group_rows]

    def whiten(self, u: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, float]:
        """Apply L_g^{-1} (C_g = L_g L_g', lower Cholesky) to the rows of every group.

        Parameters
        ----------
        u : unconstrained free parameters (empty when fixed).
        M : (n, k) or (n,) array in bound row order.

        Returns
        -------
        (Mw, half_logdet) with ``Mw[idx_g] = solve(L_g, M[idx_g])`` and ``sum_g log|L_g| = 0.5 log|C|``.
        AR(1) / CAR(1) with increasing positions and compound symmetry use closed forms, O(n k).
        ``Mw`` is a new array but not always C-contiguous (irregular AR(1) lags give a transposed view).
        """
        nat = self.natural(u)
        M = np.asarray(M, dtype=float)
        vec = M.ndim == 1
        M2 = M[:, None] if vec else M
        if len(M2) != self.n:
            raise ValueError(f"{self.class_name}.whiten: M has {len(M2)} rows, the structure {self.n}")
        if self._ar1_ok:
            Mw, ld = self._whiten_ar1(nat[0], M2)
        elif self._closed == "cs":
            Mw, ld = self._whiten_cs(nat[0], M2)
        else:
            Mw, ld = self._whiten_dense(nat, M2)
        return (Mw[:, 0] if vec else Mw), float(ld)

    def _whiten_ar1(self, phi: float, M: np.ndarray) -> tuple[np.ndarray, float]:
        o, identity, first, lag, uniform, step = self._chain
        Ms = M if identity else M[o]
        W = np.empty_like(Ms)
        n_steps = self.n - len(first)
        if uniform:
            c = phi ** step if n_steps else 0.0
            one_minus = 1.0 - c * c
            if one_minus <= 0:
                raise np.linalg.LinAlgError("correlation matrix is not positive definite")
            np.multiply(Ms[:-1], c, out=W[1:])           # no temporaries: this runs at every evaluation
            np.subtract(Ms[1:], W[1:], out=W[1:])
            W[1:] *= 1.0 / np.sqrt(one_minus)
            W[first] = Ms[first]
            ld = 0.5 * n_steps * np.log(one_minus)
        else:
            coef = np.exp(np.log(phi) * lag) if phi > 0 else np.power(phi, lag)
            coef[first] = 0.0
            one_minus = 1.0 - coef * coef
            if np.any(one_minus <= 0):
                raise np.linalg.LinAlgError("correlation matrix is not positive definite")
            scale = 1.0 / np.sqrt(one_minus)
            T = np.ascontiguousarray(Ms.T)              # long inner loops: (k, n)
            Wt = np.empty_like(T)
            Wt[:, 0] = T[:, 0]
            np.multiply(T[:, :-1], coef[1:], out=Wt[:, 1:])
            np.subtract(T[:, 1:], Wt[:, 1:], out=Wt[:, 1:])
            Wt[:, 1:] *= scale[1:]
            W = Wt.T
            ld = 0.5 * float(np.log(one_minus).sum())
        if identity:
            return W, ld
        Mw = np.empty_like(W)
        Mw[o] = W
        return Mw, ld

    def _whiten_cs(self, rho: float, M: np.ndarray) -> tuple[np.ndarray, float]:
        # C = c I + rho 11': the Cholesky factor's row j is (a_0, ..., a_{j-1}, d_j) in every group,
        # with d_j^2 = c + r_j, a_j = r_j / d_j, r_0 = rho, r_{j+1} = r_j c / (c + r_j).
        slots, counts, balanced = self._cs_slots
        G, width, k = self.n_groups, len(counts), M.shape[1]
        if balanced:
            P = np.ascontiguousarray(M.reshape(G, width, k).transpose(1, 0, 2))
        else:
            P = np.zeros((width * G, k))
            P[slots] = M
            P = P.reshape(width, G, k)
        W = np.empty_like(P)
        S = np.zeros((G, k))
        c, r, ld = 1.0 - rho, rho, 0.0
        for j in range(width):
            d2 = c + r
            if d2 <= 0 or c <= 0:
                raise np.linalg.LinAlgError("correlation matrix is not positive definite")
            d = np.sqrt(d2)
            np.subtract(P[j], S, out=W[j])
            W[j] *= 1.0 / d
            S += (r / d) * W[j]
            ld += counts[j] * np.log(d)
            r = r * c / d2
        if balanced:
            return W.transpose(1, 0, 2).reshape(self.n, k), ld
        return W.reshape(width * G, k)[slots], ld

    def _whiten_dense(self, nat: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, float]:
        Mw = np.empty_like(M)
        ld = 0.0
        k = M.shape[1]
        for st in self._stacks:
            L = np.linalg.cholesky(self._corr_stack(nat, st.Q))
            per_pattern = np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
            ld += float(per_pattern @ np.bincount(st.inv, minlength=len(L)))
            if st.members is None:
                if L.shape[-1] < 20:                   # small: batched LAPACK beats a Python loop
                    Mw[st.rows] = np.linalg.solve(L[st.inv], M[st.rows])
                    continue
                for rows, Lg in zip(st.rows, L[st.inv]):
                    Mw[rows] = _trtrs(Lg, M[rows], lower=1)[0]
                continue
            s = st.rows.shape[1]
            for u, mem in enumerate(st.members):       # one triangular solve for all groups of a pattern
                r = st.rows[mem]
                B = np.ascontiguousarray(M[r].transpose(0, 2, 1)).reshape(len(mem) * k, s).T  # F-ordered
                Y = solve_triangular(L[u], B, lower=True, check_finite=False, overwrite_b=True)
                Mw[r] = Y.T.reshape(len(mem), k, s).transpose(0, 2, 1)
        return Mw, ld


# --------------------------------------------------------------------------------- unbound specs
def _value_array(value, cls: str) -> Optional[np.ndarray]:
    if value is None:
        return None
    v = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    if not np.all(np.isfinite(v)):
        raise DataError(f"{cls}: value must be finite numbers, got {v.tolist()}")
    return v


class CorStruct:
    """Base class of the unbound correlation specifications (R's uninitialised ``corStruct``)."""

    class_name = "corStruct"
    _quantity = "lag"

    def __init__(self, value=None, form: str = "~ 1", fixed: bool = False):
        self.value = _value_array(value, self.class_name)
        self.form = parse_cor_form(form)
        self.fixed = bool(fixed)
        self._check_value()

    def __repr__(self) -> str:
        v = "" if self.value is None else f"value={self.value.tolist()}, "
        return f"{self.class_name}({v}form={self.form.text!r}, fixed={self.fixed})"

    def _check_value(self) -> None:
        """Checks R's constructor makes."""

    # ------------------------------------------------------------------ binding
    def _groups(self, data: pd.DataFrame, default_groups) -> tuple[np.ndarray, list[str]]:
        n = len(data)
        if self.form.groups:
            for g in self.form.groups:
                if g not in data.columns:
                    raise DataError(f"{self.class_name}: grouping column {g!r} (form {self.form.text!r}) "
                                    f"is not in the data")
                if data[g].isna().any():
                    raise DataError(f"{self.class_name}: grouping column {g!r} has missing values")
            lab = data[self.form.groups[0]].astype(str).to_numpy(dtype=object)
            for g in self.form.groups[1:]:
                lab = lab + "/" + data[g].astype(str).to_numpy(dtype=object)
            codes, labels = pd.factorize(pd.Series(lab))      # order of appearance, as nlme's getGroups
            return codes.astype(np.intp), [str(x) for x in labels]
        if default_groups is not None:
            dg = np.asarray(default_groups).ravel()
            if len(dg) != n:
                raise DataError(f"{self.class_name}: default_groups has {len(dg)} entries for {n} rows")
            labels, codes = np.unique(dg, return_inverse=True)
            return codes.astype(np.intp), [str(x) for x in labels]
        return np.zeros(n, np.intp), ["1"]

    def _column(self, data: pd.DataFrame, name: str) -> np.ndarray:
        if name not in data.columns:
            raise DataError(f"{self.class_name}: covariate {name!r} (form {self.form.text!r}) is not in the data")
        col = data[name]
        if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
            raise DataError(f"{self.class_name}: covariate {name!r} must be numeric, not {col.dtype}")
        x = col.to_numpy(dtype=float)
        if not np.all(np.isfinite(x)):
            raise DataError(f"{self.class_name}: covariate {name!r} has missing or infinite values")
        return x

    def _positions(self, data: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
        """Order within group (``~ 1``) or the covariate column (several columns -> (n, d))."""
        if not self.form.covariates:
            order = np.argsort(codes, kind="stable")
            sizes = np.bincount(codes)
            starts = np.repeat(np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
            pos = np.empty(len(codes))
            pos[order] = np.arange(len(codes)) - starts + 1.0
            return pos
        cols = [self._column(data, c) for c in self.form.covariates]
        if len(cols) == 1:
            return cols[0]
        if self._quantity != "dist":
            raise FormulaError(f"{self.class_name} takes one covariate; form {self.form.text!r} has "
                               f"{len(cols)} ({' + '.join(self.form.covariates)})")
        return np.column_stack(cols)

    def _check_unique(self, pos: np.ndarray, codes: np.ndarray, labels: list[str]) -> None:
        o = np.lexsort((pos, codes))
        dup = (codes[o[1:]] == codes[o[:-1]]) & (pos[o[1:]] == pos[o[:-1]])
        if dup.any():
            i = o[1:][np.argmax(dup)]
            cov = self.form.covariates[0] if self.form.covariates else "order"
            raise DataError(f'covariate must have unique values within groups for "{self.class_name}" '
                            f"objects: {cov} = {pos[i]:g} repeats in group {labels[codes[i]]!r}")

    def _check_integer(self, pos: np.ndarray) -> None:
        bad = np.flatnonzero(pos != np.round(pos))
        if len(bad):
            raise DataError(f"{self.class_name}: covariate {self.form.covariates[0]!r} must be integer-valued "
                            f"(positions in time); row {bad[0]} has {pos[bad[0]]:g}")

    def bind(self, data: pd.DataFrame, default_groups: Optional[np.ndarray] = None) -> BoundCorStruct:
        """Initialise on the model's rows (nlme's ``Initialize``): groups, positions, checks, start values.

        Parameters
        ----------
        data : the model's rows in the model's order (after NA removal).
        default_groups : int code per row used when ``form`` has no ``| group`` (lme passes its innermost
            grouping); otherwise all rows form one group.

        Example
        -------
        >>> import pandas as pd
        >>> corCompSymm(form="~ 1 | g").bind(pd.DataFrame({"g": [1, 1, 2, 2, 2]})).start
        array([-0.69314718])
        """
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"{self.class_name}: data must be a pandas DataFrame")
        codes, labels = self._groups(data, default_groups)
        pos = self._positions(data, codes)
        return self._bind(pos, codes, labels)

    def _make(self, pos, codes, labels, **kw) -> BoundCorStruct:
        return BoundCorStruct(fixed=self.fixed, group_codes=codes, group_labels=labels, positions=pos,
                              form=self.form.text, **kw)

    def _bind(self, pos, codes, labels) -> BoundCorStruct:  # pragma: no cover - abstract
        raise NotImplementedError


def _power_corr(nat: np.ndarray, Q: np.ndarray) -> np.ndarray:
    return np.power(nat[0], Q)


class corAR1(CorStruct):
    """AR(1) correlation ``phi ** |t_i - t_j|`` at integer times (R: ``corAR1(value = 0, form = ~1)``)."""

    class_name = "corAR1"

    def _check_value(self) -> None:
        if self.value is not None and (len(self.value) != 1 or abs(self.value[0]) >= 1):
            raise DataError(f"parameter in AR(1) structure must be between -1 and 1 (got {self.value.tolist()})")

    def _bind(self, pos, codes, labels):
        self._check_integer(pos)
        self._check_unique(pos, codes, labels)
        value = np.array([0.0]) if self.value is None else self.value
        o = np.argsort(codes, kind="stable")
        steps = np.diff(pos[o])[codes[o][1:] == codes[o][:-1]]
        name, cls = ("Phi", "corAR1") if np.all(steps == 1) else ("Phi1", "corARMA")
        return self._make(pos, codes, labels, class_name=cls, names=[name], value=value,
                          to_natural=lambda u: np.tanh(u / 2), to_unconstrained=lambda v: 2 * np.arctanh(v),
                          corr=_power_corr, quantity="lag", closed_form="ar1")


class corCAR1(CorStruct):
    """Continuous-time AR(1): ``phi ** |t_i - t_j|``, 0 < phi < 1 (R: ``corCAR1(value = 0.2, form = ~1)``)."""

    class_name = "corCAR1"

    def _check_value(self) -> None:
        if self.value is not None and (len(self.value) != 1 or not 0 < self.value[0] < 1):
            raise DataError(f"parameter in CAR(1) structure must be between 0 and 1 (got {self.value.tolist()})")

    def _bind(self, pos, codes, labels):
        self._check_unique(pos, codes, labels)
        value = np.array([0.2]) if self.value is None else self.value
        return self._make(pos, codes, labels, class_name="corCAR1", names=["Phi"], value=value,
                          to_natural=_expit, to_unconstrained=_logit, corr=_power_corr, quantity="lag",
                          closed_form="ar1")


class corARMA(CorStruct):
    """ARMA(p, q) correlation at integer lags (R: ``corARMA(value, form = ~1, p = 0, q = 0, fixed = FALSE)``).

    nlme's unconstrained scale: the partial autocorrelations r of the AR part (and of the MA part
    with the sign convention ``-pacf(-theta)``), each as ``log((1 + r) / (1 - r))``.
    """

    class_name = "corARMA"

    def __init__(self, value=None, form: str = "~ 1", p: int = 0, q: int = 0, fixed: bool = False):
        if int(p) != p or int(q) != q or p < 0 or q < 0:
            raise DataError(f"corARMA: p and q must be non-negative integers (got p = {p}, q = {q})")
        self.p, self.q = int(p), int(q)
        if self.p == 0 and self.q == 0:
            raise DataError("corARMA with p = 0 and q = 0 is nlme's deprecated corIdent (no correlation): "
                            "drop the correlation argument or use corAR1(0, fixed=True)")
        super().__init__(value, form, fixed)

    def _check_value(self) -> None:
        v = self.value
        if v is None:
            return
        if len(v) != self.p + self.q:
            raise DataError(f"corARMA: initial value for parameter of wrong length ({len(v)} values for "
                            f"p + q = {self.p + self.q})")
        if np.any(np.abs(v) >= 1):
            raise DataError(f"parameters in ARMA structure must be < 1 in absolute value (got {v.tolist()})")
        if not np.all(np.isfinite(self._unconstrained(v))):
            raise DataError(f"corARMA: value {v.tolist()} is not stationary / invertible (nlme: 'All parameters "
                            f"must be less than 1 in absolute value' for the partial autocorrelations)")

    def _unconstrained(self, v: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            r = np.concatenate([_coef_to_pacf(v[:self.p]), -_coef_to_pacf(-v[self.p:])])
            return np.log((1 + r) / (1 - r))

    def _natural(self, u: np.ndarray) -> np.ndarray:
        r = np.tanh(np.asarray(u, dtype=float) / 2)
        return np.concatenate([_pacf_to_coef(r[:self.p]), -_pacf_to_coef(-r[self.p:])])

    def _bind(self, pos, codes, labels):
        self._check_integer(pos)
        self._check_unique(pos, codes, labels)
        value = np.zeros(self.p + self.q) if self.value is None else self.value
        p = self.p
        names = [f"Phi{i + 1}" for i in range(p)] + [f"Theta{j + 1}" for j in range(self.q)]

        def corr(nat, Q):
            Qi = Q.astype(np.intp)
            acf = _arma_acf(nat[:p], nat[p:], int(Qi.max()) if Qi.size else 0)
            return acf[Qi]
        return self._make(pos, codes, labels, class_name="corARMA", names=names, value=value,
                          to_natural=self._natural, to_unconstrained=self._unconstrained, corr=corr,
                          quantity="lag", closed_form="ar1" if self.q == 0 and p == 1 else None)


class corCompSymm(CorStruct):
    """Compound symmetry: the same correlation Rho between any two rows of a group."""

    class_name = "corCompSymm"

    def _check_value(self) -> None:
        if self.value is not None and (len(self.value) != 1 or abs(self.value[0]) >= 1):
            raise DataError(f'parameter in "corCompSymm" structure must be < 1 in absolute value '
                            f"(got {self.value.tolist()})")

    def _bind(self, pos, codes, labels):
        maxdim = int(np.bincount(codes).max())
        if maxdim < 2:
            raise DataError("corCompSymm: every group has a single observation, so Rho is not defined "
                            "(nlme fails in corFactor)")
        a = 1.0 / (maxdim - 1)
        value = np.array([0.0]) if self.value is None else self.value
        if value[0] <= -a:
            raise DataError(f'initial value in "corCompSymm" must be greater than {-a:.15g} '
                            f"(largest group has {maxdim} rows)")
        return self._make(pos, codes, labels, class_name="corCompSymm", names=["Rho"], value=value,
                          to_natural=lambda u: (np.exp(u) - a) / (1 + np.exp(u)),
                          to_unconstrained=lambda v: np.log((v + a) / (1 - v)),
                          corr=lambda nat, Q: np.full(Q.shape, nat[0]), quantity="lag", closed_form="cs")


class corSymm(CorStruct):
    """General correlation between positions 1..K (nlme's spherical parameterisation)."""

    class_name = "corSymm"
    _quantity = "pair"

    def _bind(self, pos, codes, labels):
        cov = self.form.covariates[0] if self.form.covariates else "order"
        uniq = np.unique(pos)
        if not np.array_equal(uniq, np.arange(1, len(uniq) + 1)):
            raise DataError(f'unique values of the covariate {cov!r} for "corSymm" objects must be a sequence '
                            f"of consecutive integers 1, 2, ..., K (found {uniq[:8].tolist()})")
        self._check_unique(pos, codes, labels)
        K = len(uniq)
        npar = K * (K - 1) // 2
        pairs = _symm_pairs(K)
        if self.value is None:
            value = np.zeros(npar)
        else:
            value = self.value
            if len(value) != npar:
                raise DataError(f'initial value for "corSymm" parameters of wrong dimension: {len(value)} '
                                f"values for {K} positions (need {npar})")
            C = np.eye(K)
            for (i, j), v in zip(pairs, value):
                C[i, j] = C[j, i] = v
            if np.any(np.abs(value) >= 1) or np.linalg.eigvalsh(C)[0] <= 0:
                raise DataError('initial values for "corSymm" do not define a positive-definite correlation '
                                f"structure: {value.tolist()}")
        iu = np.triu_indices(K, 1)

        def to_unc(v):
            C = np.eye(K)
            C[iu] = v
            C.T[iu] = v
            return _cor_to_spherical(C)

        def corr(nat, Q):
            C = np.eye(K)
            C[iu] = nat
            C.T[iu] = nat
            return C.ravel()[Q]
        return self._make(pos, codes, labels, class_name="corSymm",
                          names=[f"cor({i + 1},{j + 1})" for i, j in pairs], value=value,
                          to_natural=lambda u: _spherical_to_cor(u, K)[iu], to_unconstrained=to_unc,
                          corr=corr, quantity="pair", closed_form=None,
                          symm_index=(pos - 1).astype(np.intp))


# ------------------------------------------------------------------------------------ spatial
_METRICS = ("euclidean", "maximum", "manhattan")


class _CorSpatial(CorStruct):
    """Isotropic spatial correlation ``(1 - nugget) * f(d / range)`` between distinct rows of a group."""

    _quantity = "dist"
    _range_factor = 0.9
    _shifted = False       # corSpher / corLin: unconstrained range is log(range - minD)

    def __init__(self, value=None, form: str = "~ 1", nugget: bool = False, metric: str = "euclidean",
                 fixed: bool = False):
        matches = [m for m in _METRICS if isinstance(metric, str) and metric and m.startswith(metric)]
        if len(matches) != 1:
            raise DataError(f"{self.class_name}: metric {metric!r} should be one of "
                            f"{', '.join(repr(m) for m in _METRICS)}")
        self.metric, self.nugget = matches[0], bool(nugget)
        super().__init__(value, form, fixed)

    @staticmethod
    def _f(x: np.ndarray) -> None:  # pragma: no cover - abstract
        """Overwrite x = d / range with the correlation function's values."""
        raise NotImplementedError

    def _bind(self, pos, codes, labels):
        b = self._make(pos, codes, labels, class_name=self.class_name, names=["range"], value=np.ones(1),
                       to_natural=np.exp, to_unconstrained=np.log, corr=None, quantity="dist",
                       closed_form=None, metric=self.metric)
        minD = np.inf
        for st in b._stacks:
            rows, Q = st.rows[st.rep], st.Q
            s = Q.shape[-1]
            if s < 2:
                continue
            off = Q[:, ~np.eye(s, dtype=bool)].reshape(len(Q), -1)
            if np.any(off == 0):
                gi, pi = np.argwhere(off == 0)[0]
                i, j = divmod(int(pi), s - 1)
                j += j >= i
                raise DataError(f'cannot have zero distances in "corSpatial": rows {rows[gi, i]} and '
                                f"{rows[gi, j]} of group {labels[codes[rows[gi, i]]]!r} are at the same "
                                f"position ({self.form.text})")
            minD = min(minD, float(off.min()))
        if not np.isfinite(minD):
            minD = 1.0
        value = self._initial_value(minD)
        shift = minD if self._shifted else 0.0
        nug = self.nugget
        f = self._f

        def to_nat(u):
            out = np.exp(u[:1]) + shift
            return np.concatenate([out, _expit(u[1:])]) if nug else out

        def to_unc(v):
            out = np.log(v[:1] - shift)
            return np.concatenate([out, _logit(v[1:])]) if nug else out

        def corr(nat, Q):
            C = np.multiply(Q, 1.0 / nat[0])          # one buffer, transformed in place
            f(C)
            if nug:
                C *= 1.0 - nat[1]
            return C
        bound = self._make(pos, codes, labels, class_name=self.class_name,
                           names=["range", "nugget"] if nug else ["range"], value=value, to_natural=to_nat,
                           to_unconstrained=to_unc, corr=corr, quantity="dist", closed_form=None,
                           metric=self.metric)
        bound.__dict__["_stacks"] = b._stacks          # same rows and distances: reuse the layout
        return bound

    def _initial_value(self, minD: float) -> np.ndarray:
        cls = "corSpatial" if not self._shifted else self.class_name
        if self.value is None:
            v = np.array([self._range_factor * minD])
        else:
            v = self.value.copy()
            if len(v) != (1 + self.nugget) and not (self.nugget and len(v) == 1):
                raise DataError(f'initial value for "corSpatial" parameters of wrong dimension: {len(v)} '
                                f"values with nugget = {self.nugget}")
            if v[0] <= 0:
                raise DataError(f"'range' must be > 0 in \"{cls}\" initial value (got {v[0]:g})")
            if self._shifted and v[0] <= minD:
                warnings.warn("initial value for 'range' less than minimum distance. Setting it to "
                              f"1.1 * min(distance) ({1.1 * minD:g})", UserWarning, stacklevel=4)
                v[0] = 1.1 * minD
        if self.nugget:
            if len(v) == 1:
                v = np.append(v, 0.1)
            if not 0 < v[1] < 1:
                raise DataError(f"initial value of nugget ratio must be between 0 and 1 (got {v[1]:g})")
        return v


class corExp(_CorSpatial):
    """Exponential: ``exp(-d / range)``."""

    class_name = "corExp"

    @staticmethod
    def _f(x: np.ndarray) -> None:
        np.exp(np.negative(x, out=x), out=x)


class corGaus(_CorSpatial):
    """Gaussian: ``exp(-(d / range)^2)``."""

    class_name = "corGaus"

    @staticmethod
    def _f(x: np.ndarray) -> None:
        np.exp(np.negative(np.square(x, out=x), out=x), out=x)


class corRatio(_CorSpatial):
    """Rational quadratic: ``1 / (1 + (d / range)^2)``."""

    class_name = "corRatio"

    @staticmethod
    def _f(x: np.ndarray) -> None:
        np.reciprocal(np.add(np.square(x, out=x), 1.0, out=x), out=x)


class corLin(_CorSpatial):
    """Linear: ``1 - d / range`` for d < range, else 0."""

    class_name = "corLin"
    _range_factor = 1.1
    _shifted = True

    @staticmethod
    def _f(x: np.ndarray) -> None:
        far = x >= 1.0
        np.subtract(1.0, x, out=x)
        x[far] = 0.0


class corSpher(_CorSpatial):
    """Spherical: ``1 - 1.5 (d / range) + 0.5 (d / range)^3`` for d < range, else 0."""

    class_name = "corSpher"
    _range_factor = 1.1
    _shifted = True

    @staticmethod
    def _f(x: np.ndarray) -> None:
        far = x >= 1.0
        t = np.square(x)
        t *= -0.5
        t += 1.5
        t *= x
        np.subtract(1.0, t, out=x)
        x[far] = 0.0
