"""numDeriv's Richardson-extrapolated derivatives (``jacobian``, ``hessian`` / ``genD``), step for step.

lmerTest builds its Satterthwaite machinery from ``numDeriv::hessian`` of the deviance and
``numDeriv::jacobian`` of ``vcov(beta)`` with numDeriv's default ``method.args``: initial step
``h_i = d |x_i| + eps * (|x_i| < zero.tol)`` with ``eps = 1e-4``, ``zero.tol = sqrt(.Machine$double.eps
/ 7e-7)`` (~1.8e-5), ``d = 1e-4`` for ``jacobian`` and ``d = 0.1`` for ``hessian``; ``r = 4`` steps, each
half the last (``v = 2``), combined by Richardson extrapolation.  The steps are relative except at
(near) zero, so the result does not depend on the units of ``x``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["ZERO_TOL", "initial_steps", "richardson", "jacobian", "hessian"]

ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))


def initial_steps(x: np.ndarray, d: float, eps: float = 1e-4, zero_tol: float = ZERO_TOL) -> np.ndarray:
    """numDeriv's first steps: ``|d x| + eps * (|x| < zero_tol)``.

    Examples
    --------
    >>> initial_steps(np.array([0.0, 2.0]), d=0.1).tolist()
    [0.0001, 0.2]
    """
    x = np.asarray(x, dtype=float)
    return np.abs(d * x) + eps * (np.abs(x) < zero_tol)


def richardson(a: list, r: int = 4) -> object:
    """Richardson extrapolation of ``r`` estimates at steps ``h, h/2, h/4, ...`` (numDeriv's loop).

    Examples
    --------
    >>> float(richardson([1.0, 1.0, 1.0, 1.0]))
    1.0
    """
    a = list(a)
    for m in range(1, r):
        f = 4.0 ** m
        a = [(a[k + 1] * f - a[k]) / (f - 1) for k in range(r - m)]
    return a[0]


def jacobian(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray, d: float = 1e-4, eps: float = 1e-4,
             r: int = 4) -> list:
    """``numDeriv::jacobian(fun, x)`` (Richardson): derivative of ``fun`` (array-valued) w.r.t. each
    ``x_i``, as a list of arrays shaped like ``fun(x)``.

    Examples
    --------
    >>> [float(np.round(g, 8)) for g in jacobian(lambda z: z[0] ** 2 * z[1], np.array([1.0, 2.0]))]
    [4.0, 1.0]
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    h = initial_steps(x, d, eps)
    est: list[list] = [[] for _ in range(n)]
    for _k in range(r):
        for i in range(n):
            e = np.zeros(n)
            e[i] = h[i]
            est[i].append((np.asarray(fun(x + e)) - np.asarray(fun(x - e))) / (2.0 * h[i]))
        h = h / 2.0
    return [richardson(a, r) for a in est]


def hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, d: float = 0.1, eps: float = 1e-4,
            r: int = 4) -> np.ndarray:
    """``numDeriv::hessian(fun, x)`` (``genD``): second differences with Richardson extrapolation;
    mixed ones subtract the extrapolated diagonal terms.

    Examples
    --------
    >>> (np.round(hessian(lambda z: z[0] ** 2 * z[1], np.array([1.0, 2.0])), 6) + 0.0).tolist()
    [[4.0, 2.0], [2.0, 0.0]]
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    f0 = float(fun(x))
    h0 = initial_steps(x, d, eps)
    hdiag = np.zeros(n)
    for i in range(n):
        h = h0.copy()
        est = []
        for _k in range(r):
            e = np.zeros(n)
            e[i] = h[i]
            est.append((float(fun(x + e)) - 2.0 * f0 + float(fun(x - e))) / h[i] ** 2)
            h = h / 2.0
        hdiag[i] = richardson(est, r)
    H = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            est = []
            for _k in range(r):
                e = np.zeros(n)
                e[i], e[j] = h[i], h[j]
                est.append((float(fun(x + e)) - 2.0 * f0 + float(fun(x - e)) - hdiag[i] * h[i] ** 2
                            - hdiag[j] * h[j] ** 2) / (2.0 * h[i] * h[j]))
                h = h / 2.0
            H[i, j] = H[j, i] = richardson(est, r)
    return H
