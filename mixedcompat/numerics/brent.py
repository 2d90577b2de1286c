"""R's ``optimize``: Brent's one-dimensional minimisation without derivatives (golden section and
successive parabolic interpolation, Brent 1973, ch. 5), with R's constants and stopping rule, so that
the sequence of evaluated points is R's (what ``glmer.nb``'s search on log(theta) depends on).

scipy's ``fminbound`` is the same algorithm family, but its evaluations part from R's after a few
parabolic steps (last digits), and R evaluates the function once more at the returned minimum
(``optimize`` returns ``objective = f(minimum)``): lme4's ``glmer.nb`` relies on that last call.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

__all__ = ["optimize", "OptimizeResult"]

_GOLDEN = (3.0 - math.sqrt(5.0)) * 0.5        # squared inverse of the golden ratio
_SQRT_EPS = math.sqrt(2.220446049250313e-16)  # sqrt(DBL_EPSILON)


@dataclass(frozen=True)
class OptimizeResult:
    """R's ``list(minimum, objective)`` plus the number of evaluations (the final one included)."""
    minimum: float
    objective: float
    evaluations: int


def optimize(f: Callable[[float], float], lower: float, upper: float,
             tol: float = 1.220703125e-4) -> OptimizeResult:
    """Minimise ``f`` on ``[lower, upper]`` as R's ``optimize(f, c(lower, upper), tol = tol)``.

    Parameters
    ----------
    f : callable
        A function of one float.
    lower, upper : float
        The interval (``lower < upper``).
    tol : float
        R's ``tol`` (default ``.Machine$double.eps^0.25``): the interval is narrowed until the best
        point is within ``2 (sqrt(eps) |x| + tol / 3)`` of the middle.

    Returns
    -------
    OptimizeResult
        ``minimum``, ``objective = f(minimum)`` (one more call, as R) and the number of calls.

    Examples
    --------
    >>> res = optimize(lambda x: (x - 1.0) ** 2, -3.0, 5.0, tol=1e-8)
    >>> round(res.minimum, 6), res.evaluations
    (1.0, 7)
    """
    if not lower < upper:
        raise ValueError("'xmin' not less than 'xmax'")
    calls = 0

    def fn(x: float) -> float:
        nonlocal calls
        calls += 1
        return float(f(x))

    a, b = float(lower), float(upper)
    x = w = v = a + _GOLDEN * (b - a)
    step = prev = 0.0                          # d: the last step, e: the one before
    fx = fw = fv = fn(x)
    tol3 = tol / 3.0
    while True:
        mid = 0.5 * (a + b)
        tol1 = _SQRT_EPS * abs(x) + tol3
        tol2 = 2.0 * tol1
        if abs(x - mid) <= tol2 - 0.5 * (b - a):
            break
        p = q = r = 0.0
        if abs(prev) > tol1:                   # try a parabola through x, w, v
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            else:
                q = -q
            r = prev
            prev = step
        if abs(p) >= abs(0.5 * q * r) or p <= q * (a - x) or p >= q * (b - x):
            prev = (b - x) if x < mid else (a - x)   # golden-section step into the larger part
            step = _GOLDEN * prev
        else:                                  # parabolic step, kept away from the ends
            step = p / q
            u = x + step
            if u - a < tol2 or b - u < tol2:
                step = tol1 if x < mid else -tol1
        if abs(step) >= tol1:
            u = x + step
        else:
            u = x + (tol1 if step > 0.0 else -tol1)
        fu = fn(u)
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, w, x = w, x, u
            fv, fw, fx = fw, fx, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return OptimizeResult(x, fn(x), calls)
