"""The bound correlation structure: nlme's parameter transformations, correlation matrices and whitening.

:class:`BoundCorStruct` is what ``corAR1(...).bind(data)`` (in :mod:`mixedcompat.nlme.corstruct`)
returns: the free unconstrained parameters (nlme's own transformations) -> natural values ->
per-group correlation matrices, and ``whiten`` (the inverse transposed Cholesky factor of each
group's matrix applied to a block of rows: closed forms for AR(1) / CAR(1) on increasing positions and
compound symmetry, batched LAPACK for everything else).
"""
from __future__ import annotations

from functools import cached_property
from typing import Callable, NamedTuple, Optional

import numpy as np

from scipy.linalg import solve_triangular
from scipy.special import expit as _scipy_expit
from scipy.linalg.lapack import dtrtrs as _trtrs


# Smallest squared pivot of a correlation matrix's Cholesky factor (a unit diagonal: pivots are in
# (0, 1]) that the criterion accepts.  Below it the matrix is singular to working precision: the
# whitened data are rounding noise, and an optimiser would follow that noise to an arbitrarily low
# "criterion" (a corSymm fit reached log-likelihood +85 over nlme's optimum with pivots of 1e-15).
# nlme itself stops at pivots of 4e-11 on such fits; correlations up to 1 - 5e-13 remain allowed.
MIN_PIVOT2 = 1e-12


class _Stack(NamedTuple):
    """Groups of one size: rows (G, s); pattern quantities Q (U, s, s); pattern of each group; the
    representative group of each pattern; groups per pattern (None when there are many patterns)."""

    rows: np.ndarray
    Q: np.ndarray
    inv: np.ndarray
    rep: np.ndarray
    members: Optional[list]



# ------------------------------------------------------------------------------ transformations
def logit(p):
    return np.log(p / (1.0 - p))


def expit(u):
    """1 / (1 + exp(-u)) without overflow warnings (0 far below, 1 far above)."""
    return _scipy_expit(np.asarray(u, dtype=float))


def log_expit(u):
    """log(expit(u)) without underflow: corCAR1's log phi stays finite far beyond phi = 5e-324."""
    u = np.asarray(u, dtype=float)
    return -np.logaddexp(0.0, -u)


def coef_to_pacf(a: np.ndarray) -> np.ndarray:
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


def pacf_to_coef(r: np.ndarray) -> np.ndarray:
    """Partial autocorrelations -> AR coefficients (Durbin-Levinson)."""
    a = np.zeros(0)
    for rk in r:
        a = np.concatenate([a - rk * a[::-1], [rk]])
    return a


def arma_acf(phi: np.ndarray, theta: np.ndarray, max_lag: int) -> np.ndarray:
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


def spherical_to_cor(u: np.ndarray, K: int) -> np.ndarray:
    """nlme's corSymm parameterisation: angles pi / (1 + exp(-u)), row by row of a unit-row Cholesky factor."""
    ang = np.pi * expit(np.asarray(u, dtype=float))
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


def cor_to_spherical(C: np.ndarray) -> np.ndarray:
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


def symm_pairs(K: int) -> list[tuple[int, int]]:
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

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mixedcompat.nlme.corstruct import corCAR1
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
                 symm_index: Optional[np.ndarray] = None,
                 to_internal: Optional[Callable[[np.ndarray], np.ndarray]] = None):
        self.class_name = class_name
        self.names = list(names)
        self.unconstrained_names = list(names)
        self.value = np.asarray(value, dtype=float)
        self.fixed = bool(fixed)
        self._to_natural, self._corr = to_natural, corr
        # the scale ``corr`` and the closed forms work on (default: natural); corCAR1 uses log(phi)
        self._to_internal = to_natural if to_internal is None else to_internal
        self._recipe = None         # (unbound spec, positions, codes, labels): how to bind again
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

    def _internal(self, u: np.ndarray) -> np.ndarray:
        """The parameters on the scale the correlation function works on (see ``to_internal``)."""
        if self.fixed:
            return np.asarray(self._to_internal(self._to_unconstrained(self.value)), dtype=float) \
                if self._to_internal is not self._to_natural else self.value.copy()
        u = np.asarray(u, dtype=float).ravel()
        if len(u) != self.n_free:
            raise ValueError(f"{self.class_name}: expected {self.n_free} unconstrained parameters, got {len(u)}")
        return np.asarray(self._to_internal(u), dtype=float)

    def __reduce__(self):
        """Pickle as the unbound specification and the rows it was bound to (the transformations
        are closures over the data); unpickling binds again."""
        if self._recipe is None:
            raise TypeError(f"{self.class_name}: a structure built without its specification cannot be pickled")
        return (_rebind, self._recipe)

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
        return self._closed in ("ar1", "car1") and bool(np.all(lag[mask] > 0))

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
        nat = self._internal(u)
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
        nat = self._internal(u)
        M = np.asarray(M, dtype=float)
        vec = M.ndim == 1
        M2 = M[:, None] if vec else M
        if len(M2) != self.n:
            raise ValueError(f"{self.class_name}.whiten: M has {len(M2)} rows, the structure {self.n}")
        if self._ar1_ok:
            Mw, ld = self._whiten_ar1(nat[0], M2, log_scale=self._closed == "car1")
        elif self._closed == "cs":
            Mw, ld = self._whiten_cs(nat[0], M2)
        else:
            Mw, ld = self._whiten_dense(nat, M2)
        return (Mw[:, 0] if vec else Mw), float(ld)

    def _whiten_ar1(self, phi: float, M: np.ndarray, log_scale: bool = False) -> tuple[np.ndarray, float]:
        """AR(1) / CAR(1) in closed form; ``log_scale``: ``phi`` is log(phi) (corCAR1)."""
        o, identity, first, lag, uniform, step = self._chain
        Ms = M if identity else M[o]
        W = np.empty_like(Ms)
        n_steps = self.n - len(first)
        if uniform:
            c = (np.exp(phi * step) if log_scale else phi ** step) if n_steps else 0.0
            one_minus = -np.expm1(2.0 * phi * step) if log_scale and n_steps else 1.0 - c * c
            if one_minus < MIN_PIVOT2:
                raise np.linalg.LinAlgError("correlation matrix is not positive definite")
            np.multiply(Ms[:-1], c, out=W[1:])           # no temporaries: this runs at every evaluation
            np.subtract(Ms[1:], W[1:], out=W[1:])
            W[1:] *= 1.0 / np.sqrt(one_minus)
            W[first] = Ms[first]
            ld = 0.5 * n_steps * np.log(one_minus)
        else:
            if log_scale:
                coef = np.exp(phi * lag)
            else:
                coef = np.exp(np.log(phi) * lag) if phi > 0 else np.power(phi, lag)
            coef[first] = 0.0
            one_minus = 1.0 - coef * coef
            if log_scale:                               # 1 - phi^(2 lag) to full precision near phi = 1
                one_minus = -np.expm1(2.0 * phi * lag)
                one_minus[first] = 1.0
            if np.any(one_minus < MIN_PIVOT2):
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
            if d2 < MIN_PIVOT2 or c < MIN_PIVOT2:
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
            piv = np.diagonal(L, axis1=1, axis2=2)
            if piv.size and float(piv.min()) ** 2 < MIN_PIVOT2:
                raise np.linalg.LinAlgError("correlation matrix is singular to working precision")
            per_pattern = np.log(piv).sum(axis=1)
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


def _rebind(spec, positions: np.ndarray, codes: np.ndarray, labels: list) -> BoundCorStruct:
    """Unpickling a :class:`BoundCorStruct`: bind its specification to the same rows again."""
    return spec._bind(positions, codes, labels)
