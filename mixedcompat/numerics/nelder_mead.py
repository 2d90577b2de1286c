"""lme4's own Nelder-Mead (``lme4::Nelder_Mead``, lme4 1.1-31), evaluation by evaluation.

glmer's second stage minimises over (theta, beta) with the Nelder-Mead simplex that lme4 carries in its
C++ sources: a bounded port of NLopt 2.2.4's ``nldrmd`` with lme4's own changes.  NLopt's current
``LN_NELDERMEAD`` takes another path from the third evaluation on (another initial simplex, another
ordering of the simplex, an f-tolerance test), so lme4's numbers need this one.  What it does (our own
code, written from the algorithm's description in lme4's sources):

* Initial simplex: ``x0`` and, for each coordinate ``i``, ``x0 + xst[i] e_i``; a vertex beyond a bound
  goes to the bound, or, when ``x0`` lies within ``0.1 |xst[i]|`` of it, ``|xst[i]|`` the other way (or
  half-way to the farther bound when that too leaves the box).  A vertex that cannot be moved away from
  ``x0`` is an error, ``"cannot generate feasible simplex"``.
* Each cycle: lowest and highest vertex (the first of equal values), the centroid of the others
  (summed vertex by vertex, then divided by n), the stopping test, then a reflection of the highest
  vertex through the centroid.  A new lowest value tries an expansion (factor 2), kept when it beats the
  *highest* value (not the reflected one: the port's rule); a value below the highest is accepted; else a
  contraction (half-way towards the centroid, or outwards when the value is NaN), and when that fails a
  shrink towards the lowest vertex, after which every vertex is evaluated again, the lowest included.
* Every trial point is clipped to the box; a trial point that coincides (within 1e-13 relative) with the
  centroid or with the vertex it replaces ends the run as converged in x.
* Stopping: the largest deviation of the vertices from the centroid below ``xt`` in every coordinate
  ("parameter values converged to within tolerance", code 3); a value below ``minf_max``
  (code 1); more than ``maxfun`` evaluations (code 4 with lme4's warning
  ``"failure to converge in <maxfun> evaluations"``, which is then also the message).
* The result is the best point ever evaluated (lme4's ``xpos()``, ``value()``), not a vertex.

lme4 1.1-31's quirks, kept because they make its numbers:

* The f tolerances are never tested: the C++ stop object holds ``ftol_rel``/``ftol_abs`` but the
  algorithm never consults them (and R's ``setFtolAbs`` writes ``ftol_rel``, which ``setFtolRel``
  then overwrites).  ``Nelder_Mead(..., control = list(FtolAbs = 1e3, FtolRel = 0.5))`` evaluates the
  very same points as the defaults.  ``ftol_abs``/``ftol_rel`` are accepted here for the record and,
  like lme4's, have no effect; code 2 ("objective function values converged to within tolerance")
  never occurs.  ``xtol_rel`` enters only through a relative test that a nonzero deviation cannot pass
  (lme4's relative test compares a deviation with ``xtol_rel`` times half of itself), so in effect the
  run stops on ``xt`` alone; R's ``XtolRel`` control is not passed to the C++ side at all.
* After ``maxfun`` evaluations one more is made before the run stops (``feval = maxfun + 1``), and
  that last value still counts for the best point.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mixedcompat.errors import ConvergenceWarning

__all__ = ["nelder_mead", "NelderMead", "NelderMeadResult", "NelderMeadError", "NM_MESSAGES",
           "NM_ACTIVE", "NM_MINF_MAX", "NM_FCVG", "NM_XCVG", "NM_EVALS", "NM_FORCED"]

# lme4's status codes as R's Nelder_Mead() reports them (NM.result; code 4 is returned by the C++ side
# as -4 and turned into 4 with a warning by the R wrapper)
NM_ACTIVE = 0
NM_MINF_MAX = 1
NM_FCVG = 2
NM_XCVG = 3
NM_EVALS = -4
NM_FORCED = -3
NM_NOFEASIBLE = -2
NM_X0NOTFEASIBLE = -1

NM_MESSAGES = {
    -3: "nm_forced",
    -2: "cannot generate a feasible simplex",
    -1: "initial x is not feasible",
    0: "active",
    1: "objective function went below allowed minimum",
    2: "objective function values converged to within tolerance",
    3: "parameter values converged to within tolerance",
    4: "reached max evaluations",
}
"""R's ``msgvec`` of ``lme4::Nelder_Mead``, by ``NM.result`` (code 4's message is replaced by the warning
text when the evaluations ran out, as R does)."""

_DBL_MAX = float(np.finfo(float).max)

# the port's strategy constants: reflection, contraction, expansion, shrink
_ALPHA, _BETA, _GAMMA, _DELTA = 1.0, 0.5, 2.0, 0.5


class NelderMeadError(ValueError):
    """Arguments lme4's ``Nelder_Mead`` refuses, with R's condition in the message.

    Examples
    --------
    >>> nelder_mead(lambda x: float(x[0] ** 2), [2.0], [0.0], [1.0], [0.1], [1e-6])
    Traceback (most recent call last):
    ...
    mixedcompat.numerics.nelder_mead.NelderMeadError: x0 is not within the bounds (R: all(x0 <= upper) is not TRUE)
    """


@dataclass(frozen=True)
class NelderMeadResult:
    """What ``lme4::Nelder_Mead`` returns.

    Attributes
    ----------
    par : ndarray
        The best point evaluated (lme4's ``xpos()``).
    fval : float
        Its value (lme4's ``value()``; ``inf`` when no finite value below ``inf`` was seen).
    feval : int
        The number of evaluations of ``fn``.
    NM_result : int
        lme4's ``NM.result``: 1 below ``minf_max``, 3 converged in x, 4 evaluations used up.
    message : str
        R's message for that code.
    convergence : int
        ``min(0, NM_result)`` as R reports it.
    warnings : tuple of str
        R's warnings of the run (``"failure to converge in <maxfun> evaluations"``).
    path : ndarray or None
        Every evaluated point, in order (rows), when ``record=True``.
    values : ndarray or None
        The values at those points.
    """

    par: np.ndarray
    fval: float
    feval: int
    NM_result: int
    message: str
    convergence: int
    warnings: tuple[str, ...] = ()
    path: np.ndarray | None = field(default=None, repr=False)
    values: np.ndarray | None = field(default=None, repr=False)


def _close(a: float, b: float) -> bool:
    """lme4's test of coincident coordinates: equal within 1e-13 relative."""
    return abs(a - b) <= 1e-13 * (abs(a) + abs(b))


def _relstop(vold: float, vnew: float, reltol: float, abstol: float) -> bool:
    """NLopt's relative/absolute stopping test as lme4 ported it."""
    if math.isinf(vold):
        return False
    diff = abs(vnew - vold)
    return diff < abstol or diff < reltol * (abs(vnew) + abs(vold)) * 0.5 or (reltol > 0 and vnew == vold)


def _first_min(v: list[float]) -> int:
    """Index of the smallest value, the first of equals; NaNs are passed over unless first (Eigen's rule)."""
    k, best = 0, v[0]
    for i in range(1, len(v)):
        if v[i] < best:
            k, best = i, v[i]
    return k


def _first_max(v: list[float]) -> int:
    """Index of the largest value, the first of equals; NaNs as in :func:`_first_min`."""
    k, best = 0, v[0]
    for i in range(1, len(v)):
        if v[i] > best:
            k, best = i, v[i]
    return k


class NelderMead:
    """lme4's Nelder-Mead as a state machine: ask for :attr:`xeval`, :meth:`tell` its value.

    This is how lme4 drives it (``nM$newf(fn(nM$xeval()))`` until the status is nonzero); the
    function :func:`nelder_mead` runs the loop.

    Parameters
    ----------
    x0, lower, upper, xst, xt : array_like
        Start, bounds (``-inf``/``inf`` for none), initial steps (nonzero) and absolute x tolerances
        (positive), all of length n.
    maxfun : int
        Evaluations allowed (the run stops after ``maxfun + 1``); 0 or less: no limit.
    minf_max : float
        Stop when a value falls below it (R's ``MinfMax``, ``-.Machine$double.xmax``).
    xtol_rel : float
        lme4's relative x tolerance (fixed at 1e-7 in lme4; see the module notes).

    Examples
    --------
    >>> nm = NelderMead([1.0], [-np.inf], [np.inf], [0.5], [1e-8])
    >>> status = 0
    >>> while status == 0:
    ...     status = nm.tell(float((nm.xeval[0] - 3.0) ** 2))
    >>> status, round(float(nm.xpos[0]), 6)
    (3, 3.0)
    """

    def __init__(self, x0, lower, upper, xst, xt, maxfun: int = 10000, minf_max: float = -_DBL_MAX,
                 xtol_rel: float = 1e-7):
        x0 = np.asarray(x0, dtype=float).ravel()
        n = x0.size
        self.lower = np.asarray(lower, dtype=float).ravel()
        self.upper = np.asarray(upper, dtype=float).ravel()
        self.xst = np.asarray(xst, dtype=float).ravel()
        self.xt = np.asarray(xt, dtype=float).ravel()
        _check_arguments(x0, self.lower, self.upper, self.xst, self.xt)
        self.n = n
        self.maxfun = int(maxfun)
        self.minf_max = float(minf_max)
        self.xtol_rel = float(xtol_rel)
        self.nevals = 0
        self.minf = math.inf
        self.xpos = x0.copy()
        self._pts = [x0.copy() for _ in range(n + 1)]     # vertices
        self._vals = [0.0] * (n + 1)
        for i in range(n):
            self._pts[i + 1][i] = _initial_vertex(x0[i], self.lower[i], self.upper[i], self.xst[i])
            if _close(self._pts[i + 1][i], x0[i]):
                raise NelderMeadError("cannot generate feasible simplex")
        self._init_pos = 0
        self._stage = "restart"
        self.xeval = x0.copy()
        self._xcur = x0.copy()
        self._c = x0.copy()
        self._fl = self._fh = math.nan
        self._il = self._ih = 0
        self._f_old = math.nan

    @property
    def value(self) -> float:
        """The smallest value seen (lme4's ``value()``)."""
        return self.minf

    def tell(self, f: float) -> int:
        """Install the value at :attr:`xeval`; returns the status (0 while active, else lme4's code,
        -4 when the evaluations ran out) and sets the next :attr:`xeval`."""
        f = float(f)
        self.nevals += 1
        if f < self.minf:
            self.minf = f
            self.xpos = self.xeval.copy()
            if self.minf < self.minf_max:
                return NM_MINF_MAX
        if self.maxfun > 0 and self.nevals > self.maxfun:
            return NM_EVALS
        if self._init_pos <= self.n:
            return self._init(f)
        if self._stage == "restart":
            return self._restart()
        if self._stage == "postreflect":
            return self._postreflect(f)
        if self._stage == "postexpand":
            return self._postexpand(f)
        return self._postcontract(f)

    # ---- the steps of the port
    def _init(self, f: float) -> int:
        self._vals[self._init_pos] = f
        self._init_pos += 1
        if self._init_pos > self.n:
            return self._restart()
        self.xeval = self._pts[self._init_pos].copy()
        return NM_ACTIVE

    def _restart(self) -> int:
        vals, pts, n = self._vals, self._pts, self.n
        self._il = _first_min(vals)
        self._ih = _first_max(vals)
        self._fl, self._fh = vals[self._il], vals[self._ih]
        total = pts[0].copy()
        for j in range(1, n + 1):
            total = total + pts[j]
        self._c = (total - pts[self._ih]) / n
        dev = np.abs(pts[0] - self._c)
        for j in range(1, n + 1):
            dev = np.maximum(dev, np.abs(pts[j] - self._c))
        if all(_relstop(float(d), 0.0, self.xtol_rel, float(t)) for d, t in zip(dev, self.xt)):
            return NM_XCVG
        ok, self._xcur = self._reflect(self._c, _ALPHA, pts[self._ih])
        if not ok:
            return NM_XCVG
        self.xeval = self._xcur.copy()
        self._stage = "postreflect"
        return NM_ACTIVE

    def _postreflect(self, f: float) -> int:
        ih = self._ih
        if f < self._fl:                                   # a new best point: try to expand
            ok, self.xeval = self._reflect(self._c, _GAMMA, self._pts[ih])
            if not ok:
                return NM_XCVG
            self._stage = "postexpand"
            self._f_old = f
            return NM_ACTIVE
        if f < self._fh:                                   # accept the reflected point
            self._vals[ih] = f
            self._pts[ih] = self.xeval.copy()
            return self._restart()
        # no better than the worst: contract (inside; outside only for a NaN value)
        ok, self._xcur = self._reflect(self._c, -_BETA if self._fh <= f else _BETA, self._pts[ih])
        if not ok:
            return NM_XCVG
        self._f_old = f
        self.xeval = self._xcur.copy()
        self._stage = "postcontract"
        return NM_ACTIVE

    def _postexpand(self, f: float) -> int:
        ih = self._ih
        if f < self._vals[ih]:                             # compared with the worst value (the port's rule)
            self._pts[ih] = self.xeval.copy()
            self._vals[ih] = f
        else:
            self._pts[ih] = self._xcur.copy()
            self._vals[ih] = self._f_old
        return self._restart()

    def _postcontract(self, f: float) -> int:
        ih, il = self._ih, self._il
        if f < self._f_old and f < self._fh:
            self._pts[ih] = self.xeval.copy()
            self._vals[ih] = f
            return self._restart()
        for i in range(self.n + 1):                        # shrink towards the lowest vertex
            if i != il:
                ok, point = self._reflect(self._pts[il], -_DELTA, self._pts[i])
                self.xeval = point
                if not ok:
                    return NM_XCVG
                self._pts[i] = point.copy()
        self._init_pos = 0
        self.xeval = self._pts[0].copy()
        return NM_ACTIVE

    def _reflect(self, c: np.ndarray, scale: float, xold: np.ndarray) -> tuple[bool, np.ndarray]:
        """``c + scale (c - xold)`` clipped to the box, and whether it differs from both c and xold."""
        xnew = np.minimum(np.maximum(c + scale * (c - xold), self.lower), self.upper)
        equal_c = all(_close(a, b) for a, b in zip(xnew.tolist(), c.tolist()))
        equal_old = all(_close(a, b) for a, b in zip(xnew.tolist(), xold.tolist()))
        return not (equal_c or equal_old), xnew


def _initial_vertex(x: float, lb: float, ub: float, step: float) -> float:
    """Coordinate i of the simplex's vertex i + 1 (lme4's rule near the bounds)."""
    p = x + step
    if p > ub:
        p = ub if ub - x > abs(step) * 0.1 else x - abs(step)
    if p < lb:
        if x - lb > abs(step) * 0.1:
            p = lb
        else:
            p = x + abs(step)
            if p > ub:                                     # half-way towards the farther bound
                p = 0.5 * ((ub if ub - x > x - lb else lb) + x)
    return p


def _check_arguments(x0, lower, upper, xst, xt) -> None:
    """The preconditions of R's ``NelderMead$new`` (``stopifnot``), in its order and words."""
    n = x0.size
    checks = [
        (n > 0, "x0 is empty", "(n <- length(lower <- as.numeric(lower))) > 0L is not TRUE"),
        (upper.size == n, "upper has the wrong length", "length(upper <- as.numeric(upper)) == n is not TRUE"),
        (lower.size == n, "lower has the wrong length", "length(lower) == n is not TRUE"),
        (bool(np.all(lower < upper)), "a lower bound is not below its upper bound",
         "all(lower < upper) is not TRUE"),
        (xst.size == n, "xst has the wrong length", "length(xst <- as.numeric(xst)) == n is not TRUE"),
        (bool(np.all(xst != 0)), "an initial step xst is 0", "all(xst != 0) is not TRUE"),
        (bool(np.all(x0 >= lower)), "x0 is not within the bounds", "all(x0 >= lower) is not TRUE"),
        (bool(np.all(x0 <= upper)), "x0 is not within the bounds", "all(x0 <= upper) is not TRUE"),
        (bool(np.all(np.isfinite(x0))), "x0 is not finite", "all(is.finite(x0)) is not TRUE"),
        (xt.size == n, "xt has the wrong length", "length(xt <- as.numeric(xt)) == n is not TRUE"),
        (bool(np.all(xt > 0)), "an x tolerance xt is not positive", "all(xt > 0) is not TRUE"),
    ]
    for ok, ours, r_text in checks:
        if not ok:
            raise NelderMeadError(f"{ours} (R: {r_text})")


def nelder_mead(fn: Callable[[np.ndarray], float], x0, lower=None, upper=None, xst=None, xt=None,
                maxfun: int = 10000, ftol_abs: float = 1e-5, ftol_rel: float = 1e-15,
                xtol_rel: float = 1e-7, minf_max: float = -_DBL_MAX, warn_only: bool = False,
                record: bool = False) -> NelderMeadResult:
    """Minimise ``fn`` within the box with lme4 1.1-31's Nelder-Mead, as ``lme4::Nelder_Mead`` does.

    The points evaluated are R's, in R's order, to rounding (see the module notes for the algorithm
    and lme4's quirks).

    Parameters
    ----------
    fn : callable
        The objective, a function of a 1-d float array (a copy: it may keep it).  ``inf`` and NaN
        are allowed (a NaN vertex is never the best; lme4 contracts outwards after a NaN).
    x0 : array_like
        The start, finite and within the bounds.
    lower, upper : array_like, optional
        Bounds (default none: ``-inf``, ``inf``); ``lower < upper`` elementwise.
    xst : array_like, optional
        Initial steps, nonzero (R's default 0.02 each).
    xt : array_like, optional
        Absolute x tolerances, positive (R's default ``5e-4 * xst``).
    maxfun : int
        R's ``maxfun``: the run stops after ``maxfun + 1`` evaluations with code 4 and the warning
        ``"failure to converge in <maxfun> evaluations"`` (a :class:`ConvergenceWarning`).
    ftol_abs, ftol_rel : float
        R's ``FtolAbs``, ``FtolRel``: accepted and, as in lme4 1.1-31, never applied.
    xtol_rel : float
        lme4's relative x tolerance (lme4 fixes it at 1e-7; R's ``XtolRel`` does not reach it).
    minf_max : float
        R's ``MinfMax``: a value below it stops the run with code 1.
    warn_only : bool
        R's ``warnOnly``, for negative codes (not reachable in lme4 1.1-31's driver).
    record : bool
        Keep every evaluated point and value in the result's ``path`` and ``values``.

    Returns
    -------
    NelderMeadResult
        ``par``, ``fval``, ``feval``, ``NM_result``, ``message``, ``convergence``, ``warnings``.

    Raises
    ------
    NelderMeadError
        What R's ``NelderMead$new`` refuses (a start outside the box, ``lower >= upper``, a zero
        step, ...) and ``"cannot generate feasible simplex"``.

    Examples
    --------
    >>> rosen = lambda x: float(100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2)
    >>> res = nelder_mead(rosen, [-1.2, 1.0], xst=[0.1, 0.1], xt=[1e-6, 1e-6])
    >>> res.NM_result, res.message, res.feval, np.round(res.par, 4).tolist()
    (3, 'parameter values converged to within tolerance', 230, [1.0, 1.0])
    """
    x0 = np.asarray(x0, dtype=float).ravel()
    n = x0.size
    lower = np.full(n, -np.inf) if lower is None else np.broadcast_to(np.asarray(lower, dtype=float), (n,))
    upper = np.full(n, np.inf) if upper is None else np.broadcast_to(np.asarray(upper, dtype=float), (n,))
    xst = np.full(n, 0.02) if xst is None else np.asarray(xst, dtype=float).ravel()
    xt = xst * 5e-4 if xt is None else np.asarray(xt, dtype=float).ravel()
    nm = NelderMead(x0, lower, upper, xst, xt, maxfun=maxfun, minf_max=minf_max, xtol_rel=xtol_rel)
    path: list[np.ndarray] = []
    values: list[float] = []
    feval = 0
    status = NM_ACTIVE
    while status == NM_ACTIVE:
        x = nm.xeval.copy()
        f = float(fn(x.copy()))
        feval += 1
        if record:
            path.append(x)
            values.append(f)
        status = nm.tell(f)
    message_text = dict(NM_MESSAGES)
    warns: tuple[str, ...] = ()
    if status == NM_EVALS:
        text = f"failure to converge in {int(maxfun)} evaluations"
        warnings.warn(text, ConvergenceWarning, stacklevel=2)
        warns = (text,)
        message_text[4] = text
        status = 4
    if status < 0:
        if not warn_only:
            raise NelderMeadError(message_text[status])
        warnings.warn(message_text[status], ConvergenceWarning, stacklevel=2)
        warns = warns + (message_text[status],)
    return NelderMeadResult(par=nm.xpos.copy(), fval=nm.value, feval=feval, NM_result=status,
                            message=message_text[status], convergence=min(0, status), warnings=warns,
                            path=np.array(path) if record else None,
                            values=np.array(values) if record else None)
