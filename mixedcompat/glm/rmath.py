"""R's density and distribution functions that the GLM families need, vectorised over numpy arrays.

The families' ``aic`` (binomial, Poisson, Gamma) are sums of R's log densities, and lme4's links call
R's ``plogis`` / ``pnorm`` / ``pcauchy`` and their densities and quantiles. The log densities follow
the algorithm of R's nmath (Loader's saddle-point form: ``stirlerr`` and ``bd0``), not the
``lgamma`` form, so that they agree with R to rounding also for large counts where the ``lgamma``
form cancels. The distribution functions use the same formulas as R's nmath (``plogis`` as
``1 / (1 + exp(-x))``, ``pcauchy`` through ``atan(1/x)`` in the tails, ``dnorm`` with R's split of
``x^2`` for ``|x| >= 5``); ``pnorm`` is built on scipy's ``erfcx`` so that it keeps its relative
accuracy in the lower tail as R's (Cody's) does; ``qnorm`` is scipy's ``ndtri`` (R: Wichura's
AS 241); they agree with R to a few ulps.

Written from the formulas (Loader 2000, "Fast and accurate computation of binomial
probabilities"); R is the judge through tests/fixtures/gen_glm_family.R.
"""
from __future__ import annotations

import math
import warnings
from decimal import Decimal, getcontext

import numpy as np
from scipy import special

__all__ = ["EPS", "DBL_MIN", "plogis", "dlogis", "qlogis", "pnorm", "dnorm", "qnorm", "pcauchy", "dcauchy",
           "qcauchy", "lgamma", "stirlerr", "bd0", "dbinom_log", "dbinom_raw_log", "dpois_log", "dgamma_log",
           "nonint", "nonint_warnings"]

EPS = float(np.finfo(float).eps)          # R's .Machine$double.eps / C's DBL_EPSILON
DBL_MIN = float(np.finfo(float).tiny)     # C's DBL_MIN
LN_2PI = math.log(2.0 * math.pi)          # M_LN_2PI
LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
ONE_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)   # M_1_SQRT_2PI
_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


# ---------------------------------------------------------------- logistic, normal, Cauchy
def plogis(x) -> np.ndarray:
    """R's ``plogis(x)``: ``1 / (1 + exp(-x))``.

    Examples
    --------
    >>> plogis([0.0, 40.0]).tolist()
    [0.5, 1.0]
    """
    x = _arr(x)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def dlogis(x) -> np.ndarray:
    """R's ``dlogis(x)``: ``e / (1 + e)^2`` with ``e = exp(-|x|)``.

    Examples
    --------
    >>> float(dlogis(0.0))
    0.25
    """
    e = np.exp(-np.abs(_arr(x)))
    f = 1.0 + e
    return e / (f * f)


def qlogis(p) -> np.ndarray:
    """R's ``qlogis(p)``: ``log(p / (1 - p))``; ``-Inf`` / ``Inf`` at 0 / 1, NaN outside [0, 1].

    Examples
    --------
    >>> qlogis([0.5, 0.0, 1.0]).tolist()
    [0.0, -inf, inf]
    """
    p = _arr(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(p / (1.0 - p))
    out = np.where(p == 0.0, -np.inf, np.where(p == 1.0, np.inf, out))
    return np.where((p < 0.0) | (p > 1.0), np.nan, out)


def pnorm(x) -> np.ndarray:
    """R's ``pnorm(x)`` (standard normal distribution function), relatively accurate far into the
    lower tail: for ``x < 0`` as ``erfcx(-x / sqrt(2)) / 2 * exp(-x^2 / 2)`` with the exponential
    taken as :func:`dnorm` takes it (``erfc`` of a rounded ``x / sqrt(2)`` loses ~1e-13 relative
    at x = -36), for ``x >= 0`` as one minus the lower tail at ``-x``.

    Examples
    --------
    >>> pnorm([0.0, -np.inf, np.inf]).tolist()
    [0.5, 0.0, 1.0]
    """
    x = _arr(x)
    t = -np.abs(x)
    with np.errstate(invalid="ignore", over="ignore"):
        lower = 0.5 * special.erfcx(-t / _SQRT2) * _SQRT_2PI * dnorm(t)
    lower = np.where(np.isinf(t), 0.0, lower)
    out = np.where(x < 0.0, lower, 1.0 - lower)
    out = np.where(x <= -37.5193, 0.0, np.where(x >= 8.2924, 1.0, out))   # R's cut-offs to 0 and 1
    return np.where(np.isnan(x), np.nan, out)


def dnorm(x) -> np.ndarray:
    """R's ``dnorm(x)``: for ``|x| >= 5`` R splits ``x`` into a 16-bit-rounded part and a remainder
    so that ``exp(-x^2 / 2)`` keeps its relative accuracy; done the same way here.

    Examples
    --------
    >>> round(float(dnorm(0.0)), 12)
    0.398942280401
    """
    x0 = np.abs(_arr(x))
    x = x0.ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        out = ONE_SQRT_2PI * np.exp(-0.5 * x * x)
        big = x >= 5.0
        if np.any(big):
            xb = x[big]
            x1 = np.ldexp(np.round(np.ldexp(xb, 16)), -16)   # R_forceint: nearbyint
            x2 = xb - x1
            val = ONE_SQRT_2PI * (np.exp(-0.5 * x1 * x1) * np.exp((-0.5 * x2 - x1) * x2))
            limit = math.sqrt(-2.0 * math.log(2.0) * (-1021 + 1 - 53))
            out[big] = np.where(xb > limit, 0.0, val)
    return np.where(np.isinf(x), 0.0, out).reshape(x0.shape)


def qnorm(p) -> np.ndarray:
    """R's ``qnorm(p)``; ``-Inf`` / ``Inf`` at 0 / 1, NaN outside [0, 1].

    Examples
    --------
    >>> float(qnorm(0.5))
    0.0
    """
    p = _arr(p)
    out = special.ndtri(np.clip(p, 0.0, 1.0))
    return np.where((p < 0.0) | (p > 1.0), np.nan, out)


def pcauchy(x) -> np.ndarray:
    """R's ``pcauchy(x)``: ``0.5 + atan(x) / pi`` for ``|x| <= 1``, through ``atan(1 / x)`` beyond.

    Examples
    --------
    >>> pcauchy([0.0, 1.0, -np.inf]).tolist()
    [0.5, 0.75, 0.0]
    """
    x = _arr(x)
    with np.errstate(divide="ignore"):
        y = np.arctan(1.0 / x) / np.pi
    out = np.where(np.abs(x) > 1.0, np.where(x > 0.0, 0.5 - y + 0.5, -y), 0.5 + np.arctan(x) / np.pi)
    out = np.where(np.isposinf(x), 1.0, np.where(np.isneginf(x), 0.0, out))
    return out


def dcauchy(x) -> np.ndarray:
    """R's ``dcauchy(x)``: ``1 / (pi (1 + x^2))``.

    Examples
    --------
    >>> round(float(dcauchy(0.0)), 12)
    0.318309886184
    """
    x = _arr(x)
    with np.errstate(over="ignore"):
        return 1.0 / (np.pi * (1.0 + x * x))


def _tanpi(x: np.ndarray) -> np.ndarray:
    x = np.fmod(x, 1.0)
    x = np.where(x <= -0.5, x + 1.0, np.where(x > 0.5, x - 1.0, x))
    with np.errstate(invalid="ignore"):
        out = np.tan(np.pi * x)
    out = np.where(x == 0.25, 1.0, np.where(x == -0.25, -1.0, out))
    return np.where(x == 0.0, 0.0, np.where(x == 0.5, np.nan, out))


def qcauchy(p) -> np.ndarray:
    """R's ``qcauchy(p)``: ``-1 / tanpi(p)`` on the lower half, by symmetry above.

    Examples
    --------
    >>> qcauchy([0.5, 0.75, 0.0, 1.0]).tolist()
    [0.0, 1.0, -inf, inf]
    """
    p = _arr(p)
    upper = p > 0.5
    q = np.where(upper, 1.0 - p, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = 1.0 / _tanpi(q)
    out = np.where(upper, val, -val)
    out = np.where(q == 0.5, 0.0, out)
    out = np.where(p == 0.0, -np.inf, np.where(p == 1.0, np.inf, out))
    return np.where((p < 0.0) | (p > 1.0) | np.isnan(p), np.nan, out)


def _stirling_correction(x: np.ndarray) -> np.ndarray:
    """lgamma(x) - ((x - 1/2) log x - x + log sqrt(2 pi)) for x >= 10 (< 0.0084): the Stirling series
    to x^-13, accurate to ~1e-18 absolute there (R's lgammacor, a Chebyshev fit of the same function)."""
    r = 1.0 / (x * x)
    series = (1.0 / 12 - r * (1.0 / 360 - r * (1.0 / 1260 - r * (1.0 / 1680 - r * (1.0 / 1188
              - r * (691.0 / 360360 - r * (1.0 / 156)))))))
    return series / x


def lgamma(x) -> np.ndarray:
    """``log |Gamma(x)|`` as R's ``lgammafn`` evaluates it: for x > 10 the Stirling form
    ``log sqrt(2 pi) + (x - 1/2) log x - x + correction`` summed in R's order (so that the rounding of
    the large terms is R's: it dominates sums such as the negative binomial's
    ``lgamma(theta) - lgamma(theta + y)``), without the correction above 4934720, ``x (log x - 1)``
    above 1e17; ``gammaln`` (scipy) at or below 10.

    Examples
    --------
    >>> float(lgamma(5.0)) == math.log(24.0)
    True
    """
    x = _arr(x)
    out = special.gammaln(x)
    big = x > 10.0
    if np.any(big):
        xb = x[big] if x.ndim else x
        with np.errstate(over="ignore", invalid="ignore"):
            main = LN_SQRT_2PI + (xb - 0.5) * np.log(xb) - xb
            val = np.where(xb > 1e17, xb * (np.log(xb) - 1.0),
                           np.where(xb > 4934720.0, main, main + _stirling_correction(xb)))
        if x.ndim:
            out[big] = val
        else:
            out = val
    return out


# ---------------------------------------------------------------- Loader's saddle-point densities
def _stirlerr_halves() -> np.ndarray:
    """stirlerr(k / 2) for k = 0..30: log(n!) - log(sqrt(2 pi n) (n/e)^n), from exact log-factorials
    (sums of logs in 50-digit decimal arithmetic), rounded once to double."""
    getcontext().prec = 50
    # pi to 50 digits by Machin's formula
    def arctan_inv(n: int) -> Decimal:
        x = Decimal(1) / n
        x2 = x * x
        total, term, k = x, x, 1
        while True:
            term *= -x2
            nxt = total + term / (2 * k + 1)
            if nxt == total:
                return total
            total, k = nxt, k + 1
    pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))
    ln_sqrt_2pi = (2 * pi).ln() / 2
    out = [0.0]
    for k in range(1, 31):
        n = Decimal(k) / 2
        if k % 2 == 0:                       # log(m!) for integer m = k/2
            lfact = sum((Decimal(j).ln() for j in range(2, k // 2 + 1)), Decimal(0))
        else:                                # Gamma(m + 3/2) = (2m+2)! / (4^(m+1) (m+1)!) sqrt(pi)
            m1 = (k + 1) // 2                # n + 1 = m1 + 1/2
            lfact = (sum((Decimal(j).ln() for j in range(2, 2 * m1 + 1)), Decimal(0))
                     - m1 * Decimal(4).ln() - sum((Decimal(j).ln() for j in range(2, m1 + 1)), Decimal(0))
                     + pi.ln() / 2)
        val = lfact - (n + Decimal("0.5")) * n.ln() + n - ln_sqrt_2pi
        out.append(float(val))
    return np.array(out)


_SFERR_HALVES = _stirlerr_halves()
_S0, _S1, _S2, _S3, _S4 = 1.0 / 12, 1.0 / 360, 1.0 / 1260, 1.0 / 1680, 1.0 / 1188


def stirlerr(n) -> np.ndarray:
    """The error of Stirling's formula, ``log(n!) - log(sqrt(2 pi n) (n/e)^n)``, as R's nmath
    computes it (R 4.2): exact table for half-integers up to 15, ``lgamma`` for other small n, the
    asymptotic series with 5 / 4 / 3 / 2 terms above 15 / 35 / 80 / 500.

    Examples
    --------
    >>> round(float(stirlerr(1.0)), 15)
    0.081061466795327
    """
    n0 = _arr(n)
    n = n0.ravel()
    out = np.empty_like(n)
    small = n <= 15.0
    nn2 = n + n
    table = small & (nn2 == np.floor(nn2)) & (nn2 >= 0)
    other = small & ~table
    out[table] = _SFERR_HALVES[nn2[table].astype(int)]
    if np.any(other):
        v = n[other]
        out[other] = special.gammaln(v + 1.0) - (v + 0.5) * np.log(v) + v - LN_SQRT_2PI
    big = ~small
    if np.any(big):
        v = n[big]
        nn = v * v
        r = np.where(v > 500, (_S0 - _S1 / nn) / v,
            np.where(v > 80, (_S0 - (_S1 - _S2 / nn) / nn) / v,
            np.where(v > 35, (_S0 - (_S1 - (_S2 - _S3 / nn) / nn) / nn) / v,
                     (_S0 - (_S1 - (_S2 - (_S3 - _S4 / nn) / nn) / nn) / nn) / v)))
        out[big] = r
    return out.reshape(n0.shape)


def bd0(x, np_) -> np.ndarray:
    """Loader's deviance term ``x log(x / np) + np - x``, by its Taylor series when ``x`` is near
    ``np`` (as R's nmath ``bd0``, R 4.2; NaN where an argument is not finite or ``np`` is 0).

    Examples
    --------
    >>> float(bd0(3.0, 3.0))
    0.0
    """
    x, m = np.broadcast_arrays(_arr(x), _arr(np_))
    shape = x.shape
    x = np.ascontiguousarray(x, dtype=float).ravel()
    m = np.ascontiguousarray(m, dtype=float).ravel()
    out = np.full(x.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ok = np.isfinite(x) & np.isfinite(m) & (m != 0.0)
        near_mask = ok & (np.abs(x - m) < 0.1 * (x + m))
        far = np.flatnonzero(ok & ~near_mask)
        if far.size:
            xf, mf = x[far], m[far]
            out[far] = xf * np.log(xf / mf) + mf - xf
        near = np.flatnonzero(near_mask)
        if near.size:
            xs, ms = x[near], m[near]
            v = (xs - ms) / (xs + ms)
            s = (xs - ms) * v
            out[near] = s                              # |s| < DBL_MIN: R returns s at once
            live = np.flatnonzero(np.abs(s) >= DBL_MIN)
            ej, v2, s = (2.0 * xs * v)[live], (v * v)[live], s[live]
            idx = near[live]
            for j in range(1, 1000):
                if not idx.size:
                    break
                ej = ej * v2
                s1 = s + ej / (2 * j + 1)
                conv = s1 == s
                out[idx[conv]] = s1[conv]
                keep = ~conv
                idx, ej, v2, s = idx[keep], ej[keep], v2[keep], s1[keep]
            if idx.size:                               # no convergence in 1000 terms: R's formula
                xf, mf = x[idx], m[idx]
                out[idx] = xf * np.log(xf / mf) + mf - xf
    return out.reshape(shape)


def _dpois_raw_log(x, lam) -> np.ndarray:
    """log of R's ``dpois_raw(x, lambda)`` (x >= 0, not necessarily integer)."""
    x, lam = np.broadcast_arrays(_arr(x), _arr(lam))
    shape = x.shape
    x = np.ascontiguousarray(x, dtype=float).ravel()
    lam = np.ascontiguousarray(lam, dtype=float).ravel()
    out = np.full(x.shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out[(lam == 0.0) & (x == 0.0)] = 0.0
        out[np.isnan(x) | np.isnan(lam)] = np.nan
        ok = (lam != 0.0) & np.isfinite(lam) & (x >= 0.0)
        tiny_x = ok & (x <= lam * DBL_MIN)
        out[tiny_x] = -lam[tiny_x]
        rest = ok & ~tiny_x
        tiny_lam = np.flatnonzero(rest & (lam < x * DBL_MIN))
        if tiny_lam.size:
            xt, lt = x[tiny_lam], lam[tiny_lam]
            out[tiny_lam] = np.where(np.isfinite(xt), -lt + xt * np.log(lt) - lgamma(xt + 1.0), -np.inf)
        main = np.flatnonzero(rest & ~(lam < x * DBL_MIN))
        if main.size:
            xm, lm = x[main], lam[main]
            out[main] = -0.5 * np.log(2.0 * np.pi * xm) + (-stirlerr(xm) - bd0(xm, lm))
    return out.reshape(shape)


def nonint(x: np.ndarray) -> np.ndarray:
    """R's ``R_nonint``: ``x`` is not an integer (beyond 1e-7 relative).

    Examples
    --------
    >>> nonint(np.array([1.0, 1.5])).tolist()
    [False, True]
    """
    return np.abs(x - np.round(x)) > 1e-7 * np.maximum(1.0, np.abs(x))


def nonint_warnings(x: np.ndarray) -> None:
    """R's nmath warning ``non-integer x = %f`` for each distinct non-integer value (what ``dpois``
    and ``dbinom`` say when given a non-integer count).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     nonint_warnings(np.array([1.0, 1.5]))
    >>> str(w[0].message)
    'non-integer x = 1.500000'
    """
    x = np.asarray(x, dtype=float)
    bad = np.isfinite(x) & nonint(x)
    if np.any(bad):
        for v in np.unique(x[bad]):
            warnings.warn(f"non-integer x = {v:f}", UserWarning, stacklevel=3)


def dpois_log(x, lam, warn: bool = True) -> np.ndarray:
    """R's ``dpois(x, lambda, log = TRUE)``: ``-Inf`` (with R's warning) for a non-integer ``x``.

    Examples
    --------
    >>> round(float(dpois_log(2.0, 3.0)), 12)
    -1.495922603224
    """
    x, lam = np.broadcast_arrays(_arr(x), _arr(lam))
    is_nonint = nonint(x)
    if warn and np.any(is_nonint):
        nonint_warnings(x)
    out = _dpois_raw_log(np.round(x), lam)
    out = np.where(is_nonint | (x < 0.0) | ~np.isfinite(x), -np.inf, out)
    out = np.where(np.isnan(x) | np.isnan(lam), np.nan, out)
    return np.where(lam < 0.0, np.nan, out)


def dbinom_raw_log(x, n, p) -> np.ndarray:
    """log of R's ``dbinom_raw(x, n, p, 1 - p)`` for integer-valued ``x`` and ``n`` (no checks: what
    ``dbinom`` computes after its argument checks and rounding).

    Examples
    --------
    >>> round(float(dbinom_raw_log(3.0, 10.0, 0.3)), 12)
    -1.321151277767
    """
    x, n, p = np.broadcast_arrays(_arr(x), _arr(n), _arr(p))
    shape = x.shape
    x = np.ascontiguousarray(x, dtype=float).ravel()
    n = np.ascontiguousarray(n, dtype=float).ravel()
    p = np.ascontiguousarray(p, dtype=float).ravel()
    q = 1.0 - p
    out = np.full(x.shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p0 = p == 0.0
        q0 = ~p0 & (q == 0.0)
        out[p0 & (x == 0.0)] = 0.0
        out[q0 & (x == n)] = 0.0
        rest = ~(p0 | q0)
        x_zero = rest & (x == 0.0)
        out[x_zero & (n == 0.0)] = 0.0
        for sel, use_bd0 in ((x_zero & (n != 0.0) & (p < 0.1), True), (x_zero & (n != 0.0) & ~(p < 0.1), False)):
            i = np.flatnonzero(sel)
            if i.size:
                ni = n[i]
                out[i] = -bd0(ni, ni * q[i]) - ni * p[i] if use_bd0 else ni * np.log(q[i])
        x_n = rest & ~x_zero & (x == n)
        for sel, use_bd0 in ((x_n & (q < 0.1), True), (x_n & ~(q < 0.1), False)):
            i = np.flatnonzero(sel)
            if i.size:
                ni = n[i]
                out[i] = -bd0(ni, ni * p[i]) - ni * q[i] if use_bd0 else ni * np.log(p[i])
        mid = np.flatnonzero(rest & ~x_zero & ~x_n & (x > 0.0) & (x < n))
        if mid.size:
            xx, nn, pp, qq = x[mid], n[mid], p[mid], q[mid]
            lc = stirlerr(nn) - stirlerr(xx) - stirlerr(nn - xx) - bd0(xx, nn * pp) - bd0(nn - xx, nn * qq)
            lf = LN_2PI + np.log(xx) + np.log1p(-xx / nn)
            out[mid] = lc - 0.5 * lf
    return out.reshape(shape)


def dbinom_log(x, n, p, warn: bool = True) -> np.ndarray:
    """R's ``dbinom(x, n, p, log = TRUE)`` (Loader's form, R 4.2's ``dbinom_raw`` with ``q = 1 - p``):
    NaN for a bad ``n`` or ``p``, ``-Inf`` (with R's warning) for a non-integer ``x``.

    Examples
    --------
    >>> round(float(dbinom_log(3.0, 10.0, 0.3)), 12)
    -1.321151277767
    """
    x, n, p = np.broadcast_arrays(_arr(x), _arr(n), _arr(p))
    bad = (p < 0.0) | (p > 1.0) | (n < 0.0) | nonint(n) | np.isnan(p) | np.isnan(n) | np.isnan(x)
    is_nonint = nonint(x)
    if warn and np.any(is_nonint):
        nonint_warnings(x)
    out = dbinom_raw_log(np.round(x), np.round(n), p)
    out = np.where(is_nonint | (x < 0.0) | ~np.isfinite(x), -np.inf, out)
    return np.where(bad, np.nan, out)


def dgamma_log(x, shape, scale) -> np.ndarray:
    """R's ``dgamma(x, shape, scale = scale, log = TRUE)`` (through ``dpois_raw`` as R's nmath).

    Examples
    --------
    >>> round(float(dgamma_log(1.0, 2.0, 1.0)), 12)
    -1.0
    """
    x, a, s = np.broadcast_arrays(_arr(x), _arr(shape), _arr(scale))
    dims = x.shape
    x, a, s = x.astype(float).ravel(), a.astype(float).ravel(), s.astype(float).ravel()
    out = np.full(x.shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pos = (x > 0.0) & (a > 0.0)
        lt1 = pos & (a < 1.0)
        if np.any(lt1):
            xx, aa, ss = x[lt1], a[lt1], s[lt1]
            pr = _dpois_raw_log(aa, xx / ss)
            ratio = aa / xx
            out[lt1] = pr + np.where(np.isfinite(ratio), np.log(ratio), np.log(aa) - np.log(xx))
        ge1 = pos & ~lt1
        if np.any(ge1):
            xx, aa, ss = x[ge1], a[ge1], s[ge1]
            out[ge1] = _dpois_raw_log(aa - 1.0, xx / ss) - np.log(ss)
        zx = x == 0.0
        out = np.where(zx & (a < 1.0), np.inf, out)
        out = np.where(zx & (a == 1.0), -np.log(s), out)
        out = np.where(a == 0.0, np.where(x == 0.0, np.inf, -np.inf), out)
    bad = (a < 0.0) | (s <= 0.0) | np.isnan(x) | np.isnan(a) | np.isnan(s)
    return np.where(bad, np.nan, out).reshape(dims)
