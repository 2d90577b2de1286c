"""R's ``uniroot``: Brent's root finder (Forsythe, Malcolm & Moler's ``zeroin``) with R's stopping rule,
so that the root returned for a coarse ``tol`` is R's (emmeans' Dunnett quantiles use ``tol = 5e-4``).

Each step keeps three abscissae: ``b`` the best approximation, ``a`` the previous one, ``c`` one whose
function value has the opposite sign of ``f(b)``.  It tries inverse quadratic (or, with two distinct
points, linear) interpolation and falls back to bisection when the interpolated point leaves the
bracket or moves too little; it stops when half the bracket is within ``2 eps |b| + tol / 2``.
"""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["uniroot", "UnirootError"]

_EPS = 2.220446049250313e-16


class UnirootError(ValueError):
    """R's ``uniroot`` stops: an interval that does not bracket a root, or a missing function value."""


def uniroot(f: Callable[[float], float], lower: float, upper: float, tol: float = _EPS ** 0.25,
            maxiter: int = 1000) -> float:
    """A root of ``f`` in ``[min(lower, upper), max(lower, upper)]`` as R's ``uniroot(f, c(lower, upper))``.

    Raises
    ------
    UnirootError
        ``lower == upper``, a missing value at an end point, or end-point values of the same sign.

    Examples
    --------
    >>> round(uniroot(lambda x: x * x - 2.0, 0.0, 2.0, tol=1e-10), 10)
    1.4142135624
    """
    lo, hi = min(lower, upper), max(lower, upper)
    if not lo < hi:
        raise UnirootError("lower < upper  is not fulfilled")
    f_lo, f_hi = float(f(lo)), float(f(hi))
    if math.isnan(f_lo) or math.isnan(f_hi):
        raise UnirootError("f.lower = f(lower) or f.upper = f(upper) is NA")
    if f_lo * f_hi > 0:
        raise UnirootError("f() values at end points not of opposite sign")
    if f_lo == 0.0:
        return lo
    if f_hi == 0.0:
        return hi
    a, fa, b, fb = lo, f_lo, hi, f_hi
    c, fc = a, fa
    for _ in range(maxiter + 1):
        prev = b - a
        if abs(fc) < abs(fb):                  # b the best of the bracket
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * _EPS * abs(b) + tol / 2.0
        step = (c - b) / 2.0
        if abs(step) <= tol_act or fb == 0.0:
            return b
        if abs(prev) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:                          # secant
                t1 = fb / fa
                p, q = cb * t1, 1.0 - t1
            else:                               # inverse quadratic interpolation
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2.0 and p < abs(prev * q / 2.0):
                step = p / q
        if abs(step) < tol_act:
            step = tol_act if step > 0.0 else -tol_act
        a, fa = b, fb
        b = b + step
        fb = float(f(b))
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b
