"""pbkrtest's F tests of nested lmer fits: ``KRmodcomp`` (Kenward-Roger), ``SATmodcomp``
(Satterthwaite), ``getKR`` and ``vcovAdj`` (pbkrtest 0.5.2).

The small model is a nested lmer fit (same response, its fixed-effects column space inside the large
model's), an update formula for the large model, or a restriction matrix ``L`` (rows x fixed effects
of the large model; a vector is one row).  From two fits the restriction matrix is pbkrtest's
``make_restriction_matrix``: with ``Q`` the Q factor of R's ``qr(cbind(X_small, X_large))``, the
columns ``rank(X_small) + 1 .. rank(X_large)`` (the part of the large column space orthogonal to the
small one) give ``L = Q2' X_large``, orthonormalised by a second QR and passed through ``zapsmall``.
As pbkrtest, the models are swapped when the small one is given first, and the large model is
refitted by REML when it is an ML fit (the tests are REML-based).  The Kenward-Roger numbers are
:mod:`mixedcompat.inference.kenward_roger`'s; the Satterthwaite ones use the Hessian and Jacobian of
:mod:`mixedcompat.inference.satterthwaite` with pbkrtest's own choices (eigenvalues of the Hessian
above 1e-6 count, ``p.value = 1 - pf(F)``, not the upper tail).
"""
from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy import stats

from mixedcompat.errors import DataError, VarparHessianWarning
from mixedcompat.front.design import qr_rank
from mixedcompat.inference.kenward_roger import force_full_rank, kr_adjust, kr_adjusted
from mixedcompat.inference.satterthwaite import contrast_directions, direction_ddf, fstat_ddf, satterthwaite_state
from mixedcompat.glmer.fit import GlmerMod
from mixedcompat.lme4.fit import LmerMod, update
from mixedcompat.lme4.prediction import type_name
from mixedcompat.numerics.rlinalg import rank_matrix, zapsmall
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.lme4_printing import deparse_formula
from mixedcompat.present.rformat import print_coefmat, print_matrix, print_numeric_matrix, format_real
from mixedcompat.rmatch import pmatch

__all__ = ["KRModComp", "SATModComp", "KRmodcomp", "SATmodcomp", "getKR", "getSAT", "vcovAdj",
           "model2restriction_matrix"]

KR_STATS = ("ndf", "ddf", "Fstat", "p.value", "F.scaling", "FstatU", "p.valueU", "aux")
_NOT_NESTED = "Models have equal mean stucture or are not nested"   # pbkrtest's spelling


# ================================================================================================
# the two models


def _is_lmer(m: Any) -> bool:
    """An lmer fit (lme4's ``lmerMod``): GlmerMod shares LmerMod's machinery but is not one."""
    return isinstance(m, LmerMod) and not isinstance(m, GlmerMod)


def _require_lmer(m: Any, what: str, fun: str) -> None:
    if not _is_lmer(m):
        cls = {"GlmerMod": "c('glmerMod', 'merMod')", "Lme": "lme", "Gls": "gls"}.get(type(m).__name__,
                                                                                       type_name(m))
        raise TypeError(f"{fun}: the {what + ' ' if what else ''}model must be an lmer fit (a Gaussian linear mixed model), not "
                        f"{type_name(m)} (R: no applicable method for '{fun}' applied to an object of class "
                        f"\"{cls}\")")


def _restriction(small: Any, p: int, names: list[str], fun: str) -> np.ndarray:
    L = np.asarray(small, dtype=float) if not isinstance(small, np.ndarray) else small.astype(float)
    if L.ndim == 1:
        L = L[None, :]
    if L.ndim != 2 or L.shape[1] != p:
        cols = L.shape[1] if L.ndim == 2 else L.shape
        raise DataError(f"{fun}: the restriction matrix L has {cols} columns but the large model has {p} fixed "
                        f"effects ({', '.join(names)}); number of columns of matrices must match (see arg 2)")
    if not np.all(np.isfinite(L)):
        raise DataError(f"{fun}: the restriction matrix L has missing or infinite entries")
    return L


def _order_models(large: Any, small: Any, fun: str, bang: str) -> tuple[LmerMod, Any]:
    """pbkrtest's ``modcomp_init``: check the pair and put the larger model first."""
    if isinstance(small, str):
        _require_lmer(large, "large", fun)
        small = update(large, small)
    _require_lmer(large, "large", fun)
    X = np.asarray(large.frame.X, dtype=float)
    r_large = rank_matrix(X)
    if not isinstance(small, LmerMod):
        if isinstance(small, (np.ndarray, list, tuple, pd.DataFrame)) and not isinstance(small, str):
            L = _restriction(small, X.shape[1], list(large.fixef().index), fun)
            if rank_matrix(np.vstack([X, L])) > r_large:
                raise DataError(f"{_NOT_NESTED}{bang}")
            return large, L
    _require_lmer(small, "small", fun)
    X2 = np.asarray(small.frame.X, dtype=float)
    if X2.shape[0] != X.shape[0] or not np.array_equal(np.asarray(large.frame.y), np.asarray(small.frame.y)):
        raise DataError(f"{fun}: the two models must be fitted to the same observations of the same response")
    r_small = rank_matrix(X2)
    r_both = rank_matrix(np.hstack([X, X2]))
    if r_both != max(r_large, r_small) or r_small == r_large:
        raise DataError(f"{_NOT_NESTED}{bang}")
    if r_small > r_large:
        large, small = small, large
    return large, small


def _qr_q(M: np.ndarray) -> np.ndarray:
    """``qr.Q(qr(M))`` as R: LINPACK's limited pivoting (negligible columns last), Householder Q."""
    _rank, pivot = qr_rank(M)
    Q, _ = np.linalg.qr(M[:, np.asarray(pivot)], mode="reduced")
    return Q


def model2restriction_matrix(large: LmerMod, small: Any) -> np.ndarray:
    """pbkrtest's ``model2restriction_matrix``: ``L`` with ``L beta = 0`` giving the small model.

    A matrix ``small`` is brought to full row rank (``force_full_rank``); a fit gives the
    orthonormal rows spanning the part of the large model's column space orthogonal to the small one.

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    >>> m0 = mc.lmer("Reaction ~ 1 + (Days | Subject)", d)
    >>> model2restriction_matrix(m1, m0).tolist()
    [[0.0, -1.0]]
    """
    if not isinstance(small, LmerMod):
        return force_full_rank(np.atleast_2d(np.asarray(small, dtype=float)))
    X = np.asarray(large.frame.X, dtype=float)
    X2 = np.asarray(small.frame.X, dtype=float)
    r, r2 = rank_matrix(X), rank_matrix(X2)
    if rank_matrix(np.hstack([X2, X])) > r:
        raise DataError("<X2> not subspace of <X>")
    Q = _qr_q(np.hstack([X2, X]))
    L = Q[:, r2:r].T @ X
    L = _qr_q(L.T).T
    return zapsmall(L) + 0.0          # + 0.0: no negative zeros


def _reml(m: LmerMod) -> LmerMod:
    """pbkrtest's ``update(m, . ~ ., REML = TRUE)`` of an ML fit."""
    if m.REML:
        return m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return update(m, REML=True)


def _formula(m: LmerMod) -> str:
    return deparse_formula(m.parts.tree)


def _matrix_lines(L: np.ndarray) -> list[str]:
    """``print(L)`` of a matrix without dimnames."""
    return print_numeric_matrix(L, [f"[{i + 1},]" for i in range(L.shape[0])],
                                [f"[,{j + 1}]" for j in range(L.shape[1])])


# ================================================================================================
# Kenward-Roger


class KRModComp(HtmlRepr):
    """pbkrtest's ``KRmodcomp`` result.

    Attributes
    ----------
    test : pandas.DataFrame
        Rows ``Ftest`` (scaled F) and ``FtestU`` (unscaled); columns ``stat, ndf, ddf, F.scaling, p.value``.
    stats : dict
        ``ndf, ddf, Fstat, p.value, F.scaling, FstatU, p.valueU, aux`` (read with :func:`getKR`).
    aux : pandas.Series
        ``A1, A2, V0, V1, V2, rho, F.scaling``.
    L : numpy.ndarray
        The restriction matrix tested (``L beta = betaH``).
    formula_large, formula_small : str
        The models' formulas (``formula_small`` is None when a restriction matrix was given).
    ctime : float
        Seconds spent.
    """

    def __init__(self, test: pd.DataFrame, stats_: dict, L: np.ndarray, betaH: np.ndarray,
                 formula_large: str, formula_small: str | None, ctime: float):
        self.test = test
        self.stats = stats_
        self.aux = pd.Series(stats_["aux"])
        self.L = L
        self.betaH = betaH
        self.formula_large = formula_large
        self.formula_small = formula_small
        self.ctime = ctime

    def _common(self) -> list[str]:
        lines = [f"large : {self.formula_large}"]
        if self.formula_small is not None:
            lines.append(f"small : {self.formula_small}")
        else:
            lines += ["L = "] + _matrix_lines(self.L)
            if not np.all(self.betaH == 0):
                lines.append("betaH=")
                lines += [" ".join(["[1]"] + format_real(np.atleast_1d(self.betaH), 7))]
        return lines

    def _table_lines(self, rows: list[str]) -> list[str]:
        tab = self.test.loc[rows]
        return print_coefmat(tab.to_numpy(dtype=float), rows, list(tab.columns), digits=5,
                             tst_ind=(0, 1, 2), has_pvalue=True, na_print="")

    def __str__(self) -> str:
        """pbkrtest's ``print.KRmodcomp``: the formulas (or ``L``), then the ``Ftest`` row (``FtestU``
        when ``F.scaling`` is at most 0.2)."""
        row = "Ftest" if self.stats["F.scaling"] > 0.2 else "FtestU"
        return "\n".join(self._common() + self._table_lines([row]))

    def __repr__(self) -> str:
        return self.__str__()

    def summary(self) -> str:
        """pbkrtest's ``summary.KRmodcomp``: the time, formulas and both rows, and its note on the scaling."""
        lines = [f"F-test with Kenward-Roger approximation; time: {self.ctime:.2f} sec"]
        lines += self._common() + self._table_lines(["Ftest", "FtestU"])
        fs = self.stats["F.scaling"]
        if 0 < fs < 0.2:
            lines += ["Note: The scaling factor for the F-statistic is smaller than 0.2 ",
                      "The Unscaled statistic might be more reliable ", " "]
        elif fs <= 0:
            lines += ["Note: The scaling factor for the F-statistic is negative ",
                      "Use the Unscaled statistic instead. ", " "]
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """``as.data.frame(kr)``: the test table."""
        return self.test.copy()


def KRmodcomp(large: LmerMod, small: Any, betaH: Any = 0) -> KRModComp:
    """F test of nested lmer fits with Kenward and Roger's adjusted covariance and denominator df
    (pbkrtest's ``KRmodcomp``).

    R equivalent: ``pbkrtest::KRmodcomp(largeModel, smallModel)``.

    Parameters
    ----------
    large : LmerMod
        The larger model (an ML fit is refitted by REML, as pbkrtest).
    small : LmerMod, str or array_like
        A nested lmer fit (same response and observations), an update formula for ``large``
        (``". ~ . - Days"``), or a restriction matrix ``L`` (a vector is one row) with as many columns
        as ``large`` has fixed effects.  Given the other way round the models are swapped, as R.
    betaH : float or array_like
        The value of ``beta`` under the hypothesis (``L (beta - betaH) = 0``).

    Returns
    -------
    KRModComp
        ``.test`` with rows ``Ftest``, ``FtestU`` and columns ``stat, ndf, ddf, F.scaling, p.value``;
        ``str()`` is pbkrtest's print.

    Raises
    ------
    DataError
        The models are not nested or have the same mean structure (pbkrtest: "Models have equal mean
        stucture or are not nested!"), ``L`` has the wrong number of columns or lies outside the row
        space of ``X``, or the fits are to different observations.
    TypeError
        A fit that is not an lmer fit (glmer, lme, gls: pbkrtest has no method for them).

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    >>> kr = mc.KRmodcomp(m1, mc.lmer("Reaction ~ 1 + (Days | Subject)", d))
    >>> round(float(kr.test.loc["Ftest", "stat"]), 3), round(float(kr.test.loc["Ftest", "ddf"]), 3)
    (45.853, 17.0)
    """
    large, small = _order_models(large, small, "KRmodcomp", "!")
    large = _reml(large)
    start = time.perf_counter()
    L = model2restriction_matrix(large, small)
    adj = kr_adjusted(large)
    k = kr_adjust(adj, L)
    q = k["q"]
    beta = adj.beta
    betaH = np.broadcast_to(np.asarray(betaH, dtype=float), beta.shape).copy()
    Lb = L @ (beta - betaH)
    FstatU = float(Lb @ np.linalg.solve(L @ adj.vcov_adj @ L.T, Lb)) / q
    ddf, scaling = k["ddf"], k["F.scaling"]
    Fstat = scaling * FstatU
    pU = float(stats.f.sf(FstatU, q, ddf)) if np.isfinite(FstatU) and not np.isnan(ddf) else np.nan
    p = float(stats.f.sf(Fstat, q, ddf)) if np.isfinite(Fstat) and not np.isnan(ddf) else np.nan
    st = {"ndf": q, "ddf": ddf, "Fstat": Fstat, "p.value": p, "F.scaling": scaling, "FstatU": FstatU,
          "p.valueU": pU, "aux": k["aux"]}
    test = pd.DataFrame({"stat": [Fstat, FstatU], "ndf": [q, q], "ddf": [ddf, ddf],
                         "F.scaling": [scaling, np.nan], "p.value": [p, pU]}, index=["Ftest", "FtestU"])
    small_formula = _formula(small) if isinstance(small, LmerMod) else None
    return KRModComp(test, st, L, betaH if small_formula is None else np.zeros_like(betaH), _formula(large),
                     small_formula, time.perf_counter() - start)


def getKR(kr: KRModComp, name: str | None = None) -> Any:
    """A statistic of a :func:`KRmodcomp` result by pbkrtest's name (``getKR``); partial names as R's
    ``match.arg``; no name: all of them (a dict).

    R equivalent: ``pbkrtest::getKR(KRmodcomp(large, small), "ddf")``.

    Parameters
    ----------
    kr : KRModComp
        The result of :func:`mixedcompat.KRmodcomp`.
    name : str, optional
        ``ndf, ddf, Fstat, p.value, F.scaling, FstatU, p.valueU, aux`` (or an unambiguous prefix);
        ``None`` (default) returns them all.

    Returns
    -------
    float or dict
        The statistic; a dict name -> value without ``name``.

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> kr = mc.KRmodcomp(mc.lmer("Reaction ~ Days + (Days | Subject)", d), [0, 1])
    >>> round(mc.getKR(kr, "ddf"), 3)
    17.0
    """
    if not isinstance(kr, KRModComp):
        raise TypeError(f"getKR: is(object, \"KRmodcomp\") is not TRUE (got {type_name(kr)})")
    if name is None:
        return dict(kr.stats)
    if not isinstance(name, str):
        raise TypeError("getKR: name must be one string")
    hit = pmatch(name, KR_STATS)
    if hit is None:
        choices = ", ".join(f"\u201c{n}\u201d" for n in KR_STATS)
        raise ValueError(f"'arg' should be one of {choices}")
    value = kr.stats[hit]
    return pd.Series(value) if hit == "aux" else value


SAT_STATS = ("ndf", "ddf", "Fstat", "p.value")


def getSAT(sat: "SATModComp", name: str | None = None, fstat_from_statistic: bool = False) -> Any:
    """A column of a :func:`SATmodcomp` table by pbkrtest's name (``getSAT``); partial names as R's
    ``match.arg``; no name: the whole table.

    R equivalent: ``pbkrtest::getSAT(SATmodcomp(large, small), "ddf")``.

    Names: ``ndf, ddf, Fstat, p.value``.  As pbkrtest 0.5.2, ``"Fstat"`` gives None: the table's F column
    is named ``statistic``, so R's ``object$test[["Fstat"]]`` is NULL (a bug); ``fstat_from_statistic=True``
    reads the ``statistic`` column instead.

    Parameters
    ----------
    sat : SATModComp
        The result of :func:`SATmodcomp`.
    name : str, optional
        ``ndf, ddf, Fstat, p.value`` (or an unambiguous prefix); ``None`` (default): the table.
    fstat_from_statistic : bool, optional
        ``False`` (default) reproduces pbkrtest's ``NULL`` for ``"Fstat"``; ``True`` returns the F
        statistic.

    Returns
    -------
    float, None or pandas.DataFrame
        The value, R's ``NULL`` as None, or the whole table.

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> sat = mc.SATmodcomp(mc.lmer("Reaction ~ Days + (Days | Subject)", d), [0, 1])
    >>> round(mc.getSAT(sat, "dd"), 3), mc.getSAT(sat, "Fstat") is None
    (17.0, True)
    """
    if not isinstance(sat, SATModComp):
        raise TypeError(f"getSAT: is(object, \"SATmodcomp\") is not TRUE (got {type_name(sat)})")
    if name is None:
        return sat.test.copy()
    if not isinstance(name, str):
        raise TypeError("getSAT: length(name <- as.character(name)) == 1 is not TRUE (give one name)")
    hit = pmatch(name, SAT_STATS)
    if hit is None:
        choices = ", ".join(f"\u201c{n}\u201d" for n in SAT_STATS)
        raise ValueError(f"'arg' should be one of {choices}")
    column = "statistic" if hit == "Fstat" and fstat_from_statistic else hit
    if column not in sat.test.columns:
        return None
    return sat.test[column].iloc[0].item()         # R: a vector of length 1 (the table has one row)


def vcovAdj(m: LmerMod) -> pd.DataFrame:
    """pbkrtest's ``vcovAdj``: the Kenward-Roger adjusted covariance of the fixed effects.

    R equivalent: ``pbkrtest::vcovAdj(m)``.

    An ML fit is refitted by REML first, as pbkrtest.

    Parameters
    ----------
    m : LmerMod
        A linear mixed model fit.

    Returns
    -------
    pandas.DataFrame
        The adjusted covariance (rows and columns named by the coefficients: larger than
        ``vcov(m)``, which ignores the uncertainty of the variance parameters); ``.attrs["P"]``
        and ``.attrs["W"]`` hold pbkrtest's ``P`` list and ``W`` matrix.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> mc.vcovAdj(m).columns.tolist()
    ['(Intercept)', 'Days']
    """
    _require_lmer(m, "", "vcovAdj")
    m = _reml(m)
    adj = kr_adjusted(m)
    names = list(m.fixef().index)
    out = pd.DataFrame(adj.vcov_adj, index=names, columns=names)
    out.attrs["P"] = [np.array(P) for P in adj.P]
    out.attrs["W"] = np.array(adj.W)
    return out


# ================================================================================================
# Satterthwaite


class SATModComp(HtmlRepr):
    """pbkrtest's ``SATmodcomp`` result.

    Attributes
    ----------
    test : pandas.DataFrame
        One row, named ``1`` as in R; columns ``statistic, ndf, ddf, p.value`` (pbkrtest's names).
    L : numpy.ndarray
        The restriction matrix tested.
    sigma : float
        Residual standard deviation of the (REML) large model.
    formula_large : str
    ctime : float
    """

    def __init__(self, test: pd.DataFrame, L: np.ndarray, sigma: float, formula_large: str, ctime: float):
        self.test = test
        self.L = L
        self.sigma = sigma
        self.formula_large = formula_large
        self.ctime = ctime

    def __str__(self) -> str:
        """pbkrtest's ``print.SATmodcomp``: the large formula, ``L`` (always: pbkrtest keeps the small
        model as its restriction matrix) and the table."""
        L = self.L
        cols = [format_real(L[:, j], 7) for j in range(L.shape[1])]
        cells = [[cols[j][i] for j in range(L.shape[1])] for i in range(L.shape[0])]
        lines = [f"large : {self.formula_large}", "small (restriction matrix) : "]
        lines += print_matrix(cells, [""] * L.shape[0], [""] * L.shape[1], right=True)
        lines += print_coefmat(self.test.to_numpy(dtype=float), ["[1,]"], list(self.test.columns), digits=5,
                               has_pvalue=True)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()

    def to_frame(self) -> pd.DataFrame:
        """``as.data.frame(sat)``: the test table."""
        return self.test.copy()


def _sat_varpar_cov(m: LmerMod, tol: float = 1e-6):
    """pbkrtest's ``compute_auxiliary``: the Hessian-based covariance of ``(theta, sigma)`` with its
    tolerance 1e-6 and its warnings' wording."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VarparHessianWarning)
        st = satterthwaite_state(m)
    evals, evecs = sla.eigh(st.hessian, driver="evr")
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    for mask, text in ((evals < -tol, "Model failed to converge with {k} negative eigenvalue(s): {v}"),
                       ((evals > -tol) & (evals < tol), "Model may not have converged with {k} eigenvalue(s) "
                                                        "close to zero: {v}")):
        if mask.any():
            v = " ".join(f"{x:1.1e}" for x in evals[mask])
            warnings.warn(text.format(k=int(mask.sum()), v=v), VarparHessianWarning, stacklevel=3)
    pos = evals > tol
    A = 2.0 * (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    return st, A


def SATmodcomp(large: LmerMod, small: Any, eps: float = float(np.sqrt(np.finfo(float).eps))) -> SATModComp:
    """F test of nested lmer fits with Satterthwaite's denominator df (pbkrtest's ``SATmodcomp``).

    R equivalent: ``pbkrtest::SATmodcomp(largeModel, smallModel)``.

    Parameters
    ----------
    large, small
        As :func:`KRmodcomp` (the large model is used as its REML fit).
    eps : float
        Directions of ``L vcov(beta) L'`` with eigenvalue at most ``eps`` times the largest are dropped.

    Returns
    -------
    SATModComp
        ``.test`` with columns ``statistic, ndf, ddf, p.value``; ``str()`` is pbkrtest's print.
        As pbkrtest, ``p.value`` is ``1 - pf(F, ndf, ddf)`` (so it is 0 below about 1e-16).

    Raises
    ------
    DataError, TypeError
        As :func:`KRmodcomp` (pbkrtest's message ends in "..." here).

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> sat = mc.SATmodcomp(mc.lmer("Reaction ~ Days + (Days | Subject)", d), [0, 1])
    >>> round(float(sat.test["ddf"].iloc[0]), 3)
    17.0
    """
    large, small = _order_models(large, small, "SATmodcomp", "...")
    large = _reml(large)
    start = time.perf_counter()
    L = model2restriction_matrix(large, small)
    st, A = _sat_varpar_cov(large)
    d, P, qq = contrast_directions(L @ st.vcov @ L.T, eps)
    PtL = (P.T @ L)[:qq]
    t2 = (PtL @ st.beta) ** 2 / d[:qq]
    F = float(np.sum(t2) / qq)
    ddf = fstat_ddf(direction_ddf(st, PtL, d, A))
    p = 1.0 - float(stats.f.cdf(F, qq, ddf)) if not (np.isnan(F) or np.isnan(ddf)) else np.nan
    test = pd.DataFrame({"statistic": [F], "ndf": [qq], "ddf": [ddf], "p.value": [p]}, index=["1"])
    return SATModComp(test, L, float(large.sigma()), _formula(large), time.perf_counter() - start)
