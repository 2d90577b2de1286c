"""dfoptim's ``nmkb``: Kelley's Nelder-Mead with bounds by a transformation of the parameters, and
lme4's ``nmkbw`` wrapper around it.

The algorithm (dfoptim 2020.10-1, after C. T. Kelley, *Iterative Methods for Optimization*, 1999):
each bounded coordinate is mapped to the whole line -- ``atanh`` of its position in ``(lower,
upper)`` when both bounds are finite, ``log(x - lower)`` or ``log(upper - x)`` when one is -- and an
unconstrained Nelder-Mead (reflection 1, expansion 2, contractions 1/2, shrink 1/2) runs on the
transformed coordinates from a regular simplex whose size is ``max(1, |x0|)``.  After each accepted
step Kelley's sufficient-decrease test compares the mean simplex value with the simplex gradient
of the first simplex; when the decrease is too small the simplex is restarted as an oriented
right-angled one (edges the shortest current edge, against the signs of the simplex gradient) --
at most ``restarts.max - 1`` times: the ``restarts.max``-th failure ends the run ("Stagnation in
Nelder-Mead").  The run also ends when the spread of the values is at most ``tol``, the simplex's
relative size at most 1e-6 ("Successful convergence"), or after ``maxfeval`` evaluations (the count
may pass it by the evaluations of the last step: "Maximum number of fevals exceeded").

To follow R's path evaluation by evaluation, R's floating-point operations are kept: the sums R
accumulates in long double (``mean``, ``rowMeans``, ``colSums``, ``sum``) are accumulated here in
numpy's ``longdouble`` in R's order, the simplex gradient is the reference BLAS's sequential
double sum (long double when a value is not finite, as R's ``crossprod`` then avoids BLAS), ties in
the ordering keep the earlier vertex first (R's stable ``order``) and the transformations use the C
library's ``tanh`` / ``atanh`` / ``exp`` / ``log`` as R does.  A condition R would evaluate to ``NA``
(a start on a bound: its transform is infinite; infinite values on both sides of a difference) is
R's error "missing value where TRUE/FALSE needed", raised here as a
:class:`~mixedcompat.errors.DataError` that says why.

lme4's ``nmkbw`` runs ``nmkb`` with its ``control``, except for a single parameter: then R's
``optim(method = "Brent")`` on ``[lower, 100 * par]`` (``optimize`` with ``tol = sqrt(eps)``, the
default ``reltol``; the control is ignored), whose result has no evaluation count (``NA``),
convergence 0 and no message.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from mixedcompat.errors import DataError
from mixedcompat.numerics.brent import optimize
from mixedcompat.present.rformat import cat_number
from mixedcompat.rmatch import pmatch

__all__ = ["nmkb", "nmkbw", "NmkbResult", "NMKB_CONTROL", "match_nmkb_control"]

NMKB_CONTROL = ("tol", "maxfeval", "regsimp", "maximize", "restarts.max", "trace")
"""dfoptim's ``nmkb`` control names, in its order."""
BRENT_RELTOL = math.sqrt(np.finfo(float).eps)
"""``optim``'s default ``reltol``: the ``tol`` its ``method = "Brent"`` passes to ``optimize``."""
NA_CONDITION = "missing value where TRUE/FALSE needed"
"""R's error when a condition of nmkb's loop is ``NA``."""

_LD = np.longdouble


@dataclass(frozen=True)
class NmkbResult:
    """What ``nmkb`` (or ``nmkbw``) returns: R's list ``par, value, feval, restarts, convergence,
    message``.  From ``nmkbw``'s Brent path ``feval`` and ``restarts`` are None (R's ``NA`` and
    absent) and ``message`` is ``""`` (R's ``NULL``, as lme4's ``getMsg`` reads it)."""

    par: np.ndarray
    value: float
    feval: int | None
    restarts: int | None
    convergence: int
    message: str

    @property
    def fval(self) -> float:
        """``value`` (lme4's ``nmkbw`` adds it as ``fval``)."""
        return self.value


# ------------------------------------------------------------------------------ R's arithmetic
def _ld_sum(values: Sequence[float] | np.ndarray) -> np.longdouble:
    """A long double sum in order (``cumsum`` accumulates strictly left to right; numpy's ``sum``
    would pair the terms)."""
    arr = np.asarray(values, dtype=_LD).ravel()
    if arr.size == 0:
        return _LD(0.0)
    return np.cumsum(arr)[-1]


def _r_sum(values: Sequence[float] | np.ndarray) -> float:
    """R's ``sum`` of doubles: a long double accumulation in order."""
    return float(_ld_sum(values))


def _r_mean(values: Sequence[float] | np.ndarray) -> float:
    """R's ``mean`` of doubles: the long double sum over n, then corrected by the mean residual."""
    x = np.asarray(values, dtype=float).ravel()
    n = x.size
    s = _ld_sum(x)
    if math.isfinite(float(s)):
        s = s / _LD(n)
    else:
        s = _ld_sum(x / n)
    if math.isfinite(float(s)):
        s = s + _ld_sum(x.astype(_LD) - s) / _LD(n)
    return float(s)


def _simplex_gradient(v: np.ndarray, delf: np.ndarray) -> np.ndarray:
    """R's ``c(crossprod(t(v), delf))``: the reference BLAS's sequential double sums, or long double
    sums when a value is not finite (R's ``simple_crossprod``)."""
    prod = v * delf[np.newaxis, :]
    if np.all(np.isfinite(v)) and np.all(np.isfinite(delf)):
        return np.cumsum(prod, axis=1)[:, -1]
    return np.cumsum(prod.astype(_LD), axis=1)[:, -1].astype(float)


def _col_norms(v: np.ndarray) -> np.ndarray:
    """R's ``sqrt(colSums(v^2))``."""
    return np.sqrt(np.cumsum((v * v).astype(_LD), axis=0)[-1, :].astype(float))


def _abs_sum(m: np.ndarray) -> float:
    """R's ``sum(abs(m))`` (column-major order)."""
    return _r_sum(np.abs(m).ravel(order="F"))


def _row_means(m: np.ndarray) -> np.ndarray:
    """R's ``rowMeans``: long double row sums over the columns, divided in long double."""
    return (np.cumsum(m.astype(_LD), axis=1)[:, -1] / _LD(m.shape[1])).astype(float)


def _r_order(f: np.ndarray) -> np.ndarray:
    """R's ``order``: stable, NaN last."""
    return np.argsort(f, kind="stable")


def _cmp(a: float, b: float, op: str) -> bool | None:
    """A comparison in R's logic: None (R's NA) when either side is NaN."""
    if math.isnan(a) or math.isnan(b):
        return None
    a, b = float(a), float(b)
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


def _and(*xs: bool | None) -> bool | None:
    if any(x is False for x in xs):
        return False
    return None if any(x is None for x in xs) else True


def _or(*xs: bool | None) -> bool | None:
    if any(x is True for x in xs):
        return True
    return None if any(x is None for x in xs) else False


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _log(x: float) -> float:
    if math.isnan(x) or x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def _atanh(x: float) -> float:
    if math.isnan(x) or -1.0 < x < 1.0:
        return math.atanh(x)
    if abs(x) == 1.0:
        return math.copysign(math.inf, x)
    return math.nan


def _tanh(x: float) -> float:
    return math.tanh(x)


# ------------------------------------------------------------------------------ control
def match_nmkb_control(control: dict | None) -> dict:
    """nmkb's settings from ``control`` (R's ``match.arg``: a name may be abbreviated when the prefix
    is unique; ``restarts_max`` is accepted for ``restarts.max``), with dfoptim's defaults filled in
    by :func:`nmkb`.

    Raises
    ------
    DataError
        Names that are not nmkb's (R stops with "'arg' should be one of ..." when none is nmkb's,
        and silently assigns the values out of place when some are: here any unknown name is an
        error that names it).

    Examples
    --------
    >>> match_nmkb_control({"maxf": 50, "restarts_max": 5})
    {'maxfeval': 50, 'restarts.max': 5}
    """
    out: dict = {}
    bad = []
    for key, val in (control or {}).items():
        full = pmatch(str(key).replace("_", "."), NMKB_CONTROL)
        if full is None:
            bad.append(str(key))
        else:
            out[full] = val
    if bad:
        raise DataError(f"unknown name(s) in nmkb's control: {', '.join(map(repr, bad))}; "
                        f"'arg' should be one of {', '.join(map(repr, NMKB_CONTROL))}")
    return out


def _as_bounds(b: float | Sequence[float] | np.ndarray, n: int, what: str) -> np.ndarray:
    arr = np.asarray(b, dtype=float).ravel()
    if arr.size == 1:
        return np.full(n, float(arr[0]))
    if arr.size != n:
        raise DataError(f"nmkb: '{what}' has {arr.size} values for {n} parameters (give 1 or {n})")
    return arr.copy()


# ------------------------------------------------------------------------------ nmkb
def nmkb(par: Sequence[float] | np.ndarray, fn: Callable[[np.ndarray], float],
         lower: float | Sequence[float] | np.ndarray = -math.inf,
         upper: float | Sequence[float] | np.ndarray = math.inf,
         control: dict | None = None) -> NmkbResult:
    """Minimise ``fn`` over the box ``lower <= x <= upper`` as dfoptim's ``nmkb``.

    R equivalent: ``dfoptim::nmkb(par, fn, lower, upper, control)`` (dfoptim 2020.10-1); the path
    is R's evaluation by evaluation (see the module docstring).

    Parameters
    ----------
    par : array_like
        The start, strictly inside the box on every bounded coordinate (2 parameters at least).
    fn : callable
        The objective, a function of a float array (NaN counts as +Inf).
    lower, upper : float or array_like
        The bounds (one value for all, or one per parameter); at least one must be finite.
    control : dict, optional
        nmkb's settings (:data:`NMKB_CONTROL`): ``tol`` (1e-6: stop when the values of the simplex
        differ by at most this), ``maxfeval`` (``min(5000, max(1500, 20 n^2))``), ``regsimp``
        (True: a regular first simplex; False: a right-angled one), ``maximize`` (False),
        ``restarts.max`` (3), ``trace`` (False: True prints R's progress lines).

    Returns
    -------
    NmkbResult
        ``par``, ``value``, ``feval`` (evaluations), ``restarts``, ``convergence`` (0 converged, 1
        evaluations used up, 2 stagnation) and ``message``, as R's list.

    Raises
    ------
    DataError
        R's errors: "Infeasible starting values!" (a start outside the box), "Use `nmk()' for
        unconstrained optimization!" (no finite bound), "Use `optimize' for univariate
        optimization" (one parameter), R's "missing value where TRUE/FALSE needed" (a start on a
        bound, or values R cannot compare), and unknown control names.

    Examples
    --------
    >>> rosen = lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
    >>> r = nmkb([-1.2, 1.0], rosen, lower=[-2.0, -2.0], upper=[2.0, 2.0])
    >>> np.round(r.par, 2).tolist(), r.convergence, r.message
    ([1.0, 1.0], 0, 'Successful convergence')
    """
    ctrl = {"tol": 1e-6, "maxfeval": None, "regsimp": True, "maximize": False, "restarts.max": 3, "trace": False}
    ctrl.update(match_nmkb_control(control))
    x_in = np.asarray(par, dtype=float).ravel().copy()
    n = len(x_in)
    if ctrl["maxfeval"] is None:
        ctrl["maxfeval"] = min(5000, max(1500, 20 * n ** 2))
    ftol, maxfeval = float(ctrl["tol"]), float(ctrl["maxfeval"])
    regsimp, maximize = bool(ctrl["regsimp"]), bool(ctrl["maximize"])
    restarts_max, trace = float(ctrl["restarts.max"]), bool(ctrl["trace"])
    lo = _as_bounds(lower, n, "lower")
    up = _as_bounds(upper, n, "upper")
    if n == 0:
        raise DataError("nmkb: 'par' is empty")
    if np.any(x_in < lo) or np.any(up < x_in) or np.any(np.isnan(x_in)):
        raise DataError("Infeasible starting values!")
    lf, uf = np.isfinite(lo), np.isfinite(up)
    c1 = lf & uf
    c2 = ~(lf | uf)
    c3 = ~(c1 | c2) & lf
    c4 = ~(c1 | c2) & uf
    if np.all(c2):
        raise DataError("Use `nmk()' for unconstrained optimization!")

    def g(x: np.ndarray) -> np.ndarray:
        gx = x.copy()
        for i in range(n):
            if c1[i]:
                gx[i] = _atanh(2 * (x[i] - lo[i]) / (up[i] - lo[i]) - 1)
            elif c3[i]:
                gx[i] = _log(x[i] - lo[i])
            elif c4[i]:
                gx[i] = _log(up[i] - x[i])
        return gx

    def ginv(x: np.ndarray) -> np.ndarray:
        gx = x.copy()
        for i in range(n):
            if c1[i]:
                gx[i] = lo[i] + (up[i] - lo[i]) / 2 * (1 + _tanh(x[i]))
            elif c3[i]:
                gx[i] = lo[i] + _exp(x[i])
            elif c4[i]:
                gx[i] = up[i] - _exp(x[i])
        return gx

    def fnmb(x: np.ndarray) -> float:
        with np.errstate(invalid="ignore", over="ignore"):
            val = float(fn(ginv(x)))
        return -val if maximize else val

    x0 = g(x_in)
    if n == 1:
        raise DataError("Use `optimize' for univariate optimization")
    if n > 30:
        warnings.warn("Nelder-Mead should not be used for high-dimensional optimization", UserWarning, stacklevel=2)
    with np.errstate(invalid="ignore", over="ignore"):
        return _nmkb_loop(fnmb, ginv, x0, n, ftol, maxfeval, regsimp, maximize, restarts_max, trace)


def _na(what: str) -> DataError:
    return DataError(f"nmkb: {NA_CONDITION} ({what}; R stops here too: a start on a bound has an "
                     f"infinite transform, or the objective is infinite on both sides of a comparison)")


def _nmkb_loop(fnmb: Callable[[np.ndarray], float], ginv: Callable[[np.ndarray], np.ndarray], x0: np.ndarray,
               n: int, ftol: float, maxfeval: float, regsimp: bool, maximize: bool, restarts_max: float,
               trace: bool) -> NmkbResult:
    V = np.zeros((n, n + 1))
    f = np.zeros(n + 1)
    f[0] = fnmb(x0)
    V[:, 0] = x0
    scale = max(1.0, math.sqrt(_r_sum(x0 * x0)))
    if regsimp:
        a1 = scale / (n * math.sqrt(2)) * (math.sqrt(n + 1) + n - 1)
        a2 = scale / (n * math.sqrt(2)) * (math.sqrt(n + 1) - 1)
        for j in range(1, n + 1):
            V[:, j] = x0 + a2
            V[j - 1, j] = x0[j - 1] + a1
    else:
        for j in range(1, n + 1):
            e = np.zeros(n)
            e[j - 1] = 1.0
            V[:, j] = x0 + scale * e
    for j in range(1, n + 1):
        f[j] = fnmb(V[:, j])
    f[np.isnan(f)] = math.inf
    nf = n + 1
    ord_ = _r_order(f)
    f, V = f[ord_], V[:, ord_]
    rho, gamma, chi, sigma = 1.0, 0.5, 2.0, 0.5
    restarts = 0
    dist = f[n] - f[0]
    v = V[:, 1:] - V[:, [0]]
    delf = f[1:] - f[0]
    diam = _col_norms(v)
    sgrad = _simplex_gradient(v, delf)
    alpha = _div(1e-04 * float(np.max(diam)), math.sqrt(_r_sum(sgrad * sgrad)))
    simplex_size = _abs_sum(V[:, 1:] - V[:, [0]]) / max(1.0, _abs_sum(V[:, 0]))
    itc = 0
    conv, message = 0, "Succesful convergence"
    while True:
        go = _and(bool(nf < maxfeval), bool(restarts < restarts_max), _cmp(dist, ftol, ">"), _cmp(simplex_size, 1e-06, ">"))
        if go is None:
            raise _na("in the loop's test")
        if not go:
            break
        fbc = _r_mean(f)
        happy = 0
        itc += 1
        xbar = _row_means(V[:, :n])
        xr = (1 + rho) * xbar - rho * V[:, n]
        fr = fnmb(xr)
        nf += 1
        if math.isnan(fr):
            fr = math.inf
        xnew, fnew = None, math.nan
        if fr >= f[0] and fr < f[n - 1]:
            happy, xnew, fnew = 1, xr, fr
        elif fr < f[0]:
            xe = (1 + rho * chi) * xbar - rho * chi * V[:, n]
            fe = fnmb(xe)
            if math.isnan(fe):
                fe = math.inf
            nf += 1
            if fe < fr:
                xnew, fnew, happy = xe, fe, 1
            else:
                xnew, fnew, happy = xr, fr, 1
        elif fr >= f[n - 1] and fr < f[n]:
            xc = (1 + rho * gamma) * xbar - rho * gamma * V[:, n]
            fc = fnmb(xc)
            if math.isnan(fc):
                fc = math.inf
            nf += 1
            if fc <= fr:
                xnew, fnew, happy = xc, fc, 1
        elif fr >= f[n]:
            xc = (1 - gamma) * xbar + gamma * V[:, n]
            fc = fnmb(xc)
            if math.isnan(fc):
                fc = math.inf
            nf += 1
            if fc < f[n]:
                xnew, fnew, happy = xc, fc, 1
        if happy == 1:
            fbt = _r_mean(np.append(f[:n], fnew))
            delfb = fbt - fbc
            armtst = alpha * _r_sum(sgrad * sgrad)
            test = _cmp(delfb, -armtst / n, ">")
            if test is None:
                raise _na("in the sufficient-decrease test")
            if test:
                if trace:
                    print("Trouble - restarting: ")
                restarts += 1
                diams = float(np.min(diam))
                sx = np.sign(sgrad)
                happy = 0
                for j in range(1, n + 1):
                    V[:, j] = V[:, 0]
                    V[j - 1, j] = V[j - 1, 0] - diams * sx[j - 1]
        if happy == 1:
            V[:, n] = xnew
            f[n] = fnew
            ord_ = _r_order(f)
            f, V = f[ord_], V[:, ord_]
        elif restarts < restarts_max:
            V[:, 1:] = V[:, [0]] - sigma * (V[:, 1:] - V[:, [0]])
            for j in range(1, n + 1):
                f[j] = fnmb(V[:, j])
            nf += n
            ord_ = _r_order(f)
            f, V = f[ord_], V[:, ord_]
        v = V[:, 1:] - V[:, [0]]
        delf = f[1:] - f[0]
        diam = _col_norms(v)
        simplex_size = _abs_sum(v) / max(1.0, _abs_sum(V[:, 0]))
        f[np.isnan(f)] = math.inf
        dist = f[n] - f[0]
        sgrad = _simplex_gradient(v, delf)
        if trace and itc % 2 == 0:
            print(f"iter:  {itc} \n value:  {cat_number(float(f[0]))} ")
    done = _or(_cmp(dist, ftol, "<="), _cmp(simplex_size, 1e-06, "<="))
    if done is None:
        raise _na("in the final test")
    if done:
        conv, message = 0, "Successful convergence"
    elif nf >= maxfeval:
        conv, message = 1, "Maximum number of fevals exceeded"
    elif restarts >= restarts_max:
        conv, message = 2, "Stagnation in Nelder-Mead"
    value = float(f[0]) * (-1.0 if maximize else 1.0)
    return NmkbResult(par=ginv(V[:, 0]), value=value, feval=int(nf), restarts=int(restarts),
                      convergence=int(conv), message=message)


def _div(a: float, b: float) -> float:
    """IEEE division as R does it (x / 0 is +-Inf or NaN, never an error)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / np.float64(b))


# ------------------------------------------------------------------------------ lme4's nmkbw
def nmkbw(fn: Callable[[np.ndarray], float], par: Sequence[float] | np.ndarray,
          lower: float | Sequence[float] | np.ndarray, upper: float | Sequence[float] | np.ndarray,
          control: dict | None = None) -> NmkbResult:
    """lme4's ``nmkbw``: :func:`nmkb`, or for one parameter R's ``optim(method = "Brent")`` on
    ``[lower, 100 * par]``.

    R equivalent: ``lme4:::nmkbw(fn, par, lower, upper, control)`` (lme4 1.1-31).

    Parameters
    ----------
    fn : callable
        The objective, a function of a float array.
    par : array_like
        The start.
    lower, upper : float or array_like
        The bounds (for one parameter ``upper`` is not used: the interval is ``[lower, 100 par]``).
    control : dict, optional
        nmkb's settings (:data:`NMKB_CONTROL`); not used for one parameter (optim's Brent takes
        none of them), but unknown names are refused either way.

    Returns
    -------
    NmkbResult
        nmkb's result; from the Brent path ``feval`` and ``restarts`` None (R: ``NA``, absent),
        ``convergence`` 0 and ``message`` ``""``.

    Raises
    ------
    DataError
        nmkb's errors; for one parameter, R's "'lower' and 'upper' must be finite values" and
        "'xmin' not less than 'xmax'" (``100 * par <= lower``, e.g. a start of 0).

    Examples
    --------
    >>> r = nmkbw(lambda x: float((x[0] - 0.64) ** 2), np.array([1.0]), 0.0, math.inf)
    >>> round(float(r.par[0]), 6), r.feval, r.convergence, r.message
    (0.64, None, 0, '')
    """
    x = np.asarray(par, dtype=float).ravel()
    match_nmkb_control(control)
    if len(x) == 1:
        lo = float(np.asarray(lower, dtype=float).ravel()[0])
        hi = 100.0 * float(x[0])
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise DataError("'lower' and 'upper' must be finite values (optim's Brent, nmkbw's one-parameter path)")
        if not lo < hi:
            raise DataError(f"'xmin' not less than 'xmax' (optim's Brent on [lower, 100 * par] = [{lo:g}, {hi:g}])")
        res = optimize(lambda t: float(fn(np.array([t]))), lo, hi, tol=BRENT_RELTOL)
        return NmkbResult(par=np.array([res.minimum]), value=float(res.objective), feval=None, restarts=None,
                          convergence=0, message="")
    return nmkb(x, fn, lower=lower, upper=upper, control=control)
