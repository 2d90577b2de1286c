"""The (restricted) log-likelihood of nlme's linear models with correlation and variance structures.

Model (Pinheiro & Bates 2000, ch. 5): ``y = X beta + sum_k Z_k b_k + e``, ``b_k ~ N(0, sigma^2 T_k T_k')``
per group of nesting level ``k``, ``e ~ N(0, sigma^2 Lambda)`` with ``Lambda = V^{1/2} C V^{1/2}`` block
diagonal by correlation group (``C`` from the corStruct, ``V^{-1/2} = diag(w)`` the varFunc's weights).
The data are *whitened*: ``K = R'^{-1} diag(w)`` (``C = R'R`` per group) turns the errors into
``N(0, sigma^2 I)``; the whitened model is an ordinary linear mixed model, whose profiled criterion
is lme4's (Bates et al. 2015), plus ``-2 log|K|``.  Because correlation groups are nested in the
innermost random-effects groups, whitening keeps every row inside its groups at all levels.

One level of random effects: everything is batched over groups (no q x q system is ever formed).
Several nested levels: the random-effects columns are a sparse matrix with a fixed pattern; the
system ``Lambda' Z'Z Lambda + I`` is block diagonal by outermost group (every inner group lies in
one outer group), so it is factored block by block, blocks of equal size batched.

The criterion is a pure function of the parameter vector ``[pd parameters per level, free
correlation parameters, free variance parameters]``; variance functions of the fitted values take
the fitted values as an explicit argument (nlme's alternating algorithm holds them fixed while
it optimises).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from mixedcompat.nlme.pdmat import BoundPd

LOG_2PI = np.log(2.0 * np.pi)


@dataclass
class LevelDesign:
    """One nesting level of random effects, rows sorted by group (outermost level first)."""

    name: str             # nlme's level name, e.g. "Subject" or "Machine"
    codes: np.ndarray     # group code per row (0 .. n_groups - 1), nondecreasing within outer groups
    labels: list          # label per group code (nlme's "outer/inner" labels for nested levels)
    Z: np.ndarray         # n x q random-effects columns
    pd: BoundPd

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def n_groups(self) -> int:
        return len(self.labels)


@dataclass
class Solution:
    """Everything the fit object needs at one parameter vector."""

    criterion: float      # -2 (restricted) log-likelihood
    beta: np.ndarray
    sigma: float
    vcov_unscaled: np.ndarray   # (X'V^{-1}X)^{-1} / sigma^2 ... i.e. vcov(beta) / sigma^2
    b: list               # per level: (n_groups, q) BLUPs on the response scale
    log_det_K: float      # log |K| (whitening)
    weights: np.ndarray | None  # variance weights w
    r2: float
    ldL2: float
    ldRX2: float


class NlmeLikelihood:
    """The criterion of a gls / lme model as a pure function of the parameter vector.

    Parameters
    ----------
    y, X : ndarray
        Response and fixed-effects matrix, rows sorted by group.
    levels : list of LevelDesign
        Outermost first; empty for gls.
    cor, var : bound corStruct / varFunc or None
        Bound on the same (sorted) rows.
    REML : bool
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, levels: list[LevelDesign], cor, var, REML: bool):
        self.y = np.asarray(y, float)
        self.X = np.asarray(X, float)
        self.levels = levels
        self.cor = cor
        self.var = var
        self.REML = bool(REML)
        self.n, self.p = self.X.shape
        self.n_re = [lv.pd.n_par for lv in levels]
        self.n_cor = 0 if cor is None else int(cor.n_free)
        self.n_var = 0 if var is None else int(var.n_free)
        self.n_par = sum(self.n_re) + self.n_cor + self.n_var
        self.uses_fitted = bool(var is not None and getattr(var, "uses_fitted", False))
        self._raw = np.column_stack([lv.Z for lv in levels] + [self.X, self.y]) if levels else \
            np.column_stack([self.X, self.y])
        self._qs = [lv.q for lv in levels]
        self._q_tot_cols = sum(self._qs)
        if len(levels) == 1:
            codes = levels[0].codes
            if np.any(np.diff(codes) < 0):
                raise ValueError("rows must be sorted by group")
            self._starts = np.flatnonzero(np.r_[True, np.diff(codes) != 0])
        elif len(levels) > 1:
            self._setup_sparse()

    # --- parameters -----------------------------------------------------------------------------------
    def split(self, params: np.ndarray) -> tuple[list, np.ndarray, np.ndarray]:
        params = np.asarray(params, float)
        out, k = [], 0
        for m in self.n_re:
            out.append(params[k:k + m])
            k += m
        cor_u = params[k:k + self.n_cor]
        var_u = params[k + self.n_cor:k + self.n_cor + self.n_var]
        return out, cor_u, var_u

    def lower(self) -> np.ndarray:
        """Lower bounds: 0 on the random-effects standard deviations, none elsewhere."""
        parts = [lv.pd.lower() for lv in self.levels] + [np.full(self.n_cor + self.n_var, -np.inf)]
        return np.concatenate(parts)

    def upper(self, bound: float) -> np.ndarray:
        """Upper bounds: none on the random-effects parameters (lme4's scale), ``bound`` on the
        unconstrained correlation / variance parameters."""
        parts = [np.full(lv.pd.n_par, np.inf) for lv in self.levels] + [np.full(self.n_cor + self.n_var, bound)]
        return np.concatenate(parts)

    def _pd_start(self, lv: LevelDesign, resid: np.ndarray, s2: float) -> np.ndarray:
        """A data-based start (as nlme's initial pdMat): the covariance of per-group least-squares
        fits of the level's columns to the OLS residuals, relative to the residual variance; the
        identity (lme4's start) when that is not available or not positive definite."""
        q = lv.q
        st = np.flatnonzero(np.r_[True, np.diff(lv.codes) != 0])     # rows are contiguous by group
        n_g = np.diff(np.r_[st, len(lv.codes)])
        ZZ = np.add.reduceat(lv.Z[:, :, None] * lv.Z[:, None, :], st, axis=0)
        Zr = np.add.reduceat(lv.Z * resid[:, None], st, axis=0)
        rr = np.add.reduceat(resid * resid, st)
        ok = (n_g > q) & (np.abs(np.linalg.det(ZZ)) > 1e-10 * np.maximum(1.0, np.abs(ZZ).max(axis=(1, 2))) ** q)
        coefs = np.linalg.solve(ZZ[ok], Zr[ok][:, :, None])[:, :, 0] if ok.any() else np.zeros((0, q))
        rss = float(np.sum(rr[ok] - np.einsum("gq,gq->g", coefs, Zr[ok])))
        dof = int(np.sum(n_g[ok] - q))
        if dof > 0 and rss > 0:
            s2 = rss / dof                 # within-group residual variance
        if len(coefs) > q and s2 > 0:
            D = np.cov(np.asarray(coefs).T).reshape(q, q) / s2
            D = D + 1e-2 * np.diag(np.maximum(np.diag(D), 1e-2))
            try:
                np.linalg.cholesky(D)
                return lv.pd.par_from_cov(D)
            except np.linalg.LinAlgError:
                pass
        return lv.pd.start()

    def start(self) -> np.ndarray:
        if self.levels:
            beta = np.linalg.lstsq(self.X, self.y, rcond=None)[0]
            resid = self.y - self.X @ beta
            s2 = float(resid @ resid) / max(self.n - self.p, 1)
            parts = [self._pd_start(lv, resid, s2) for lv in self.levels]
        else:
            parts = []
        if self.cor is not None:
            parts.append(np.asarray(self.cor.start, float))
        if self.var is not None:
            parts.append(np.asarray(self.var.start, float))
        return np.concatenate(parts) if parts else np.zeros(0)

    # --- whitening ----------------------------------------------------------------------------------------
    def whiten(self, cor_u: np.ndarray, var_u: np.ndarray, fitted: np.ndarray | None,
               M: np.ndarray | None = None) -> tuple[np.ndarray, float, np.ndarray | None]:
        """``K M`` (default ``M`` = [Z X y]), ``log|K|`` and the variance weights."""
        M = self._raw if M is None else M
        log_det = 0.0
        w = None
        if self.var is not None:
            w = np.asarray(self.var.weights(var_u, fitted), float)
            M = M * w[:, None] if M.ndim == 2 else M * w
            log_det += float(np.sum(np.log(w)))
        if self.cor is not None:
            M2 = M if M.ndim == 2 else M[:, None]
            M2, half = self.cor.whiten(cor_u, M2)
            M = M2 if M.ndim == 2 else M2[:, 0]
            log_det -= float(half)
        return M, log_det, w

    # --- the criterion -------------------------------------------------------------------------------------
    def _schur(self, re_pars: list, Mw: np.ndarray):
        """Lower Cholesky of the [X y] Schur complement, log|L|^2, and what solve() needs."""
        XY = Mw[:, self._q_tot_cols:]
        S = XY.T @ XY
        if not self.levels:
            return S, 0.0, None
        if len(self.levels) == 1:
            lv = self.levels[0]
            q = lv.q
            Z = Mw[:, :q]
            T = lv.pd.factor(re_pars[0])
            ZT = Z @ T                                   # n x q
            st = self._starts
            if q == 1:
                zz = np.add.reduceat(ZT[:, 0] * ZT[:, 0], st)
                l = np.sqrt(zz + 1.0)
                zxy = np.add.reduceat(ZT[:, 0:1] * XY, st, axis=0)  # m x p1
                C = zxy / l[:, None]
                S = S - C.T @ C
                return S, 2.0 * float(np.sum(np.log(l))), (T, l[:, None, None], C[:, None, :])
            zz = np.add.reduceat(ZT[:, :, None] * ZT[:, None, :], st, axis=0)
            zz[:, np.arange(q), np.arange(q)] += 1.0
            L = np.linalg.cholesky(zz)
            zxy = np.add.reduceat(ZT[:, :, None] * XY[:, None, :], st, axis=0)   # m x q x p1
            C = np.linalg.solve(L, zxy)
            S = S - np.einsum("gqi,gqj->ij", C, C)
            ld = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
            return S, ld, (T, L, C)
        # nested levels: the system is block diagonal by outermost group (columns permuted so that each
        # outermost group's coefficients, at every level, are contiguous); blocks of equal size batched
        Zs = self._Zs
        Zs.data = np.ascontiguousarray(Mw[:, :self._q_tot_cols]).ravel()
        lam = self._lambda(re_pars)
        ZL = (Zs @ lam).tocsc()[:, self._perm]
        A = (ZL.T @ ZL).tocoo()
        R = np.asarray(ZL.T @ XY)
        ld, Ls, Cs = 0.0, [], []
        for b, (idx, s_b) in enumerate(self._buckets):
            keep = self._bucket_of[A.row] == b
            stack = np.zeros((idx.shape[0], s_b, s_b))
            stack[self._local_of[A.row[keep]], self._pos_of[A.row[keep]], self._pos_of[A.col[keep]]] = A.data[keep]
            stack[:, np.arange(s_b), np.arange(s_b)] += 1.0
            L = np.linalg.cholesky(stack)
            C = np.linalg.solve(L, R[idx])
            S = S - np.einsum("gqi,gqj->ij", C, C)
            ld += 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
            Ls.append(L)
            Cs.append(C)
        return S, ld, (lam, Ls, Cs)

    def _chol_schur(self, S: np.ndarray):
        try:
            LS = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return None
        return LS

    def criterion(self, params: np.ndarray, fitted: np.ndarray | None = None) -> float:
        """-2 (restricted) log-likelihood, profiled over beta and sigma."""
        re_pars, cor_u, var_u = self.split(params)
        # the parameters are unbounded (as nlme's): far out, exp() overflows and the criterion is
        # infinite, which the optimiser treats as a wall; no floating-point warning leaks to the user
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            try:
                Mw, log_det_K, _ = self.whiten(cor_u, var_u, fitted)
                S, ldL2, _ = self._schur(re_pars, Mw)
            except (np.linalg.LinAlgError, FloatingPointError, ValueError):
                return np.inf
            if not np.all(np.isfinite(S)):
                return np.inf
            LS = self._chol_schur(S)
            if LS is None:
                return np.inf
            return self._crit_from(LS, ldL2, log_det_K)

    def _crit_from(self, LS: np.ndarray, ldL2: float, log_det_K: float) -> float:
        p = self.p
        r2 = LS[p, p] ** 2
        ldRX2 = 2.0 * float(np.sum(np.log(np.diag(LS)[:p])))
        n = self.n
        if not np.isfinite(r2) or r2 <= 0:
            return np.inf
        if self.REML:
            nmp = n - p
            val = ldL2 + ldRX2 + nmp * (1.0 + np.log(2.0 * np.pi * r2 / nmp)) - 2.0 * log_det_K
        else:
            val = ldL2 + n * (1.0 + np.log(2.0 * np.pi * r2 / n)) - 2.0 * log_det_K
        return float(val) if np.isfinite(val) else np.inf

    def full_minus2ll(self, params: np.ndarray, log_sigma: float, fitted: np.ndarray | None = None) -> float:
        """-2 (restricted) log-likelihood at a given sigma (beta profiled), for nlme's apVar Hessian.

        ``params`` hold the *relative* pd parameters as in :meth:`criterion`."""
        re_pars, cor_u, var_u = self.split(params)
        Mw, log_det_K, _ = self.whiten(cor_u, var_u, fitted)
        S, ldL2, _ = self._schur(re_pars, Mw)
        LS = np.linalg.cholesky(S)
        p, n = self.p, self.n
        r2 = LS[p, p] ** 2
        s2 = np.exp(2.0 * log_sigma)
        if self.REML:
            ldRX2 = 2.0 * float(np.sum(np.log(np.diag(LS)[:p])))
            return float(ldL2 + ldRX2 + (n - p) * (LOG_2PI + np.log(s2)) + r2 / s2 - 2.0 * log_det_K)
        return float(ldL2 + n * (LOG_2PI + np.log(s2)) + r2 / s2 - 2.0 * log_det_K)

    # --- the solution --------------------------------------------------------------------------------------
    def solve(self, params: np.ndarray, fitted: np.ndarray | None = None) -> Solution:
        """beta, sigma, BLUPs and the pieces of the criterion at ``params``."""
        re_pars, cor_u, var_u = self.split(params)
        with np.errstate(all="ignore"):     # far-out parameters: exp() saturates, a range of 0 is 1 / 0
            Mw, log_det_K, w = self.whiten(cor_u, var_u, fitted)
        S, ldL2, extra = self._schur(re_pars, Mw)
        LS = np.linalg.cholesky(S)
        p, n = self.p, self.n
        RX = LS[:p, :p]
        cy = LS[p, :p]
        beta = sla.solve_triangular(RX.T, cy, lower=False)
        r2 = float(LS[p, p] ** 2)
        sigma = np.sqrt(r2 / (n - p if self.REML else n))
        RXinv = sla.solve_triangular(RX, np.eye(p), lower=True)
        vcov_unscaled = RXinv.T @ RXinv
        crit = self._crit_from(LS, ldL2, log_det_K)
        b = self._blups(extra, beta)
        return Solution(criterion=crit, beta=beta, sigma=float(sigma), vcov_unscaled=vcov_unscaled, b=b,
                        log_det_K=log_det_K, weights=w, r2=r2, ldL2=ldL2,
                        ldRX2=2.0 * float(np.sum(np.log(np.diag(RX)))))

    def _blups(self, extra, beta: np.ndarray) -> list:
        if not self.levels:
            return []
        coef = np.r_[-beta, 1.0]
        if len(self.levels) == 1:
            T, L, C = extra
            rhs = C @ coef                                  # m x q
            q = T.shape[0]
            if q == 1:
                u = rhs / L[:, :, 0]
            else:
                u = np.linalg.solve(np.swapaxes(L, 1, 2), rhs[:, :, None])[:, :, 0]
            return [u @ T.T]
        lam, Ls, Cs = extra
        u_perm = np.zeros(self._q_total)
        for (idx, _), L, C in zip(self._buckets, Ls, Cs):
            u_perm[idx] = np.linalg.solve(np.swapaxes(L, 1, 2), (C @ coef)[:, :, None])[:, :, 0]
        u = np.empty(self._q_total)
        u[self._perm] = u_perm
        bvec = lam @ u
        out, k = [], 0
        for lv in self.levels:
            m, q = lv.n_groups, lv.q
            out.append(np.asarray(bvec[k:k + m * q]).reshape(m, q))
            k += m * q
        return out

    def fitted_levels(self, beta: np.ndarray, b: list) -> list[np.ndarray]:
        """Fitted values at level 0 (population), 1, ..., Q on the original scale."""
        out = [self.X @ beta]
        for lv, bk in zip(self.levels, b):
            out.append(out[-1] + np.einsum("nq,nq->n", lv.Z, bk[lv.codes]))
        return out

    # --- nested levels: sparse Z with a fixed pattern ----------------------------------------------------
    def _setup_sparse(self) -> None:
        # row i holds, level by level (outermost first) and column by column, the entries at
        # off_k + code_k(i) q_k + j: increasing, so the CSR data is Mw[:, :sum q_k] row-major.
        idx, off = [], 0
        for lv in self.levels:
            for j in range(lv.q):
                idx.append(off + lv.codes * lv.q + j)
            off += lv.n_groups * lv.q
        indices = np.column_stack(idx).ravel()
        k = self._q_tot_cols
        indptr = np.arange(0, self.n * k + 1, k)
        self._Zs = sp.csr_matrix((np.ones(self.n * k), indices, indptr), shape=(self.n, off))
        self._q_total = off
        # outermost group of every coefficient; permutation making each outermost group contiguous
        outer_of = []
        first = self.levels[0].codes
        for lv in self.levels:
            grp_outer = np.zeros(lv.n_groups, int)
            grp_outer[lv.codes] = first
            outer_of.append(np.repeat(grp_outer, lv.q))
        outer_of = np.concatenate(outer_of)
        self._perm = np.argsort(outer_of, kind="stable")
        block = outer_of[self._perm]
        sizes = np.bincount(block, minlength=self.levels[0].n_groups)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        pos = np.arange(self._q_total) - starts[block]
        self._pos_of = pos
        self._bucket_of = np.empty(self._q_total, int)
        self._local_of = np.empty(self._q_total, int)
        self._buckets = []
        for b, s_b in enumerate(np.unique(sizes)):
            blocks = np.flatnonzero(sizes == s_b)
            idx = starts[blocks][:, None] + np.arange(s_b)[None, :]
            self._buckets.append((idx, int(s_b)))
            self._bucket_of[idx.ravel()] = b
            self._local_of[idx.ravel()] = np.repeat(np.arange(len(blocks)), s_b)

    def _lambda(self, re_pars: list) -> sp.csr_matrix:
        blocks = []
        for lv, par in zip(self.levels, re_pars):
            T = lv.pd.factor(par)
            blocks.append(sp.kron(sp.identity(lv.n_groups), sp.csr_matrix(T)))
        return sp.block_diag(blocks, format="csr")
