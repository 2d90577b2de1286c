"""R's small matrix routines as lmerTest and pbkrtest call them (their tolerances decide the tests).

``ginv`` is ``MASS::ginv`` (singular values below ``sqrt(eps)`` times the largest are dropped),
``r_solve`` is base R's ``solve`` (an error when the reciprocal condition number is below ``eps``),
``rank_matrix`` is ``Matrix::rankMatrix`` (``tolNorm2``), ``doolittle`` is lmerTest's LU
(with its absolute ``1e-6`` zeroing), ``zapsmall`` and ``lm_resid`` (``resid(lm.fit(x, y))``, rank by
R's pivoting QR with tolerance ``1e-7``) are R's.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from mixedcompat.front.design import qr_rank

__all__ = ["RLinAlgError", "ginv", "r_solve", "rank_matrix", "doolittle", "zapsmall", "lm_resid"]

EPS = float(np.finfo(float).eps)


class RLinAlgError(np.linalg.LinAlgError):
    """An R linear-algebra error (``solve``: "system is computationally singular", ``chol``: "not
    positive definite"): where R's code stops, ours raises this."""


def ginv(A: np.ndarray, tol: float = float(np.sqrt(EPS))) -> np.ndarray:
    """``MASS::ginv``: Moore-Penrose inverse keeping singular values above ``tol`` times the largest.

    Examples
    --------
    >>> ginv(np.diag([1.0, 1e-10])).round(6).tolist()
    [[1.0, 0.0], [0.0, 0.0]]
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    if A.size == 0:
        return np.zeros(A.shape[::-1])
    U, d, Vt = np.linalg.svd(A, full_matrices=False)
    keep = d > max(tol * d[0], 0.0)
    if not keep.any():
        return np.zeros(A.shape[::-1])
    return (Vt[keep].T / d[keep]) @ U[:, keep].T


def r_solve(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """Base R's ``solve(A, B)``: LU solve that stops when ``rcond(A) < eps`` (1-norm, LAPACK dgecon).

    Raises
    ------
    RLinAlgError
        "Lapack routine dgesv: system is exactly singular" or "system is computationally singular".

    Examples
    --------
    >>> r_solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([1.0, 1.0])).tolist()
    [0.5, 0.25]
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    n = A.shape[0]
    B = np.eye(n) if B is None else np.asarray(B, dtype=float)
    if not np.all(np.isfinite(A)):
        raise RLinAlgError("infinite or missing values in 'x'")
    lu, piv, info = lapack.dgetrf(A)
    if info > 0:
        raise RLinAlgError(f"Lapack routine dgesv: system is exactly singular: U[{info},{info}] = 0")
    anorm = float(np.max(np.sum(np.abs(A), axis=0))) if n else 0.0
    rcond, _info = lapack.dgecon(lu, anorm, norm="1")
    if rcond < EPS:
        raise RLinAlgError(f"system is computationally singular: reciprocal condition number = {rcond:.6g}")
    return sla.lu_solve((lu, piv), B)


def r_chol_inverse(A: np.ndarray) -> np.ndarray:
    """``chol2inv(chol(A))``: the inverse of a symmetric positive-definite matrix via its Cholesky factor.

    Raises
    ------
    RLinAlgError
        ``A`` is not positive definite (R's ``chol`` stops).
    """
    try:
        c = np.linalg.cholesky(A)
    except np.linalg.LinAlgError as exc:
        raise RLinAlgError("the matrix is not positive definite") from exc
    ci = sla.solve_triangular(c, np.eye(len(c)), lower=True)
    return ci.T @ ci


def rank_matrix(A: np.ndarray) -> int:
    """``Matrix::rankMatrix`` (method ``tolNorm2``): singular values ``>= max(dim) * eps * d[1]``.

    Examples
    --------
    >>> rank_matrix(np.array([[1.0, 2.0], [2.0, 4.0]]))
    1
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    if A.size == 0:
        return 0
    d = np.linalg.svd(A, compute_uv=False)
    return int(np.sum(d >= max(A.shape) * EPS * d[0]))


def doolittle(x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """lmerTest's ``doolittle``: ``x = L U`` with unit lower-triangular ``L``; entries of ``L`` and
    ``U`` below ``eps`` in absolute value are set to 0, and a column of ``L`` is 0 where its pivot
    ``|U[i, i]| < eps`` (absolute thresholds, as lmerTest: they depend on the units of ``x``).

    Examples
    --------
    >>> L, U = doolittle(np.array([[4.0, 2.0], [2.0, 3.0]]))
    >>> L.tolist(), U.tolist()
    ([[1.0, 0.0], [0.5, 1.0]], [[4.0, 2.0], [0.0, 2.0]])
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = x[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = x[i + 1:, i] - L[i + 1:, :i] @ U[:i, i]
            L[i + 1:, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    U[np.abs(U) < eps] = 0.0
    return L, U


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest absolute entry.

    Examples
    --------
    >>> zapsmall(np.array([1.0, 1e-12])).tolist()
    [1.0, 0.0]
    """
    x = np.asarray(x, dtype=float)
    finite = np.abs(x[np.isfinite(x)])
    if finite.size == 0:
        return x
    mx = finite.max()
    if mx == 0:
        return np.round(x, digits)
    return np.round(x, max(0, digits - int(np.ceil(np.log10(mx)))))


def lm_resid(X: np.ndarray, Y: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """``resid(lm.fit(X, Y))``: residuals of least squares on the columns of ``X`` that R's pivoting
    QR (tolerance ``tol``) keeps.

    Examples
    --------
    >>> (lm_resid(np.ones((3, 1)), np.array([[1.0], [2.0], [3.0]])).ravel().round(12) + 0.0).tolist()
    [-1.0, 0.0, 1.0]
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if X.shape[1] == 0:
        return Y.copy()
    rank, pivot = qr_rank(X, tol)
    Xk = X[:, np.asarray(pivot)[:rank]]
    if rank == 0:
        return Y.copy()
    Q, _ = np.linalg.qr(Xk)
    return Y - Q @ (Q.T @ Y)
