"""Powell's BOBYQA as minqa 1.2.5 runs it (``minqa::bobyqa``, glmer's stage 1), evaluation by evaluation.

glmer's first stage minimises the nAGQ = 0 deviance over theta with minqa's BOBYQA: M. J. D. Powell's
Fortran (``The BOBYQA algorithm for bound constrained optimization without derivatives``, Cambridge
NA report NA2009/06) behind minqa's R wrapper.  NLopt's BOBYQA (:func:`mixedcompat.numerics.optimizers.bobyqa`,
lmer's) starts from another model (``npt = 2n + 1``) and stops by other tests, so it takes another path.
This module is our implementation of Powell's algorithm with the same floating-point operations in the
same order, so that it evaluates minqa's points to the bit:

* a quadratic model interpolating ``npt`` points (minqa's default ``npt = n + 2``), its free second
  derivatives fixed by the least Frobenius norm of their change; the inverse of the interpolation
  system is kept as ``BMAT`` and the factor ``ZMAT`` (``H = ZMAT ZMAT'`` in its leading block);
* trust-region steps by a truncated conjugate gradient within the box (``TRSBOX``), alternative steps
  that keep the interpolation set well poised (``ALTMOV``), the updates of ``H`` (``UPDATE``) and the
  rebuilding of the set when rounding has damaged it (``RESCUE``);
* the radius ``rho`` from ``rhobeg`` down to ``rhoend`` in Powell's steps.

minqa's R wrapper around the Fortran is reproduced too: ``fn`` is called once at the start values
before anything else (a check that it returns a single number), non-finite values count as the largest
double inside the algorithm, and the reported ``fval`` is a fresh call of ``fn`` at the returned point
(so R's calls are ``feval + 2``).  Return codes and messages are minqa's.

Where minqa 1.2.5 departs from Powell's code:

* ``ALTMOV`` does not snap the line-search point onto the bound it reached (minqa resets that index
  before use): kept.
* ``RESCUE`` calls the objective with an undefined vector (minqa passes a variable that is never set
  instead of the point it computed); a run that needs ``RESCUE`` (rounding errors having halved a
  denominator: rare) is therefore not reproducible from minqa, and here the objective is evaluated at
  the point Powell's algorithm intends.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["minqa_bobyqa", "BobyqaResult", "BobyqaError", "BOBYQA_MESSAGES"]

_DBL_MAX = float(np.finfo(float).max)

BOBYQA_MESSAGES = {
    0: "Normal exit from bobyqa",
    1: "bobyqa -- maximum number of function evaluations exceeded",
    2: "bobyqa -- NPT is not in the required interval",
    3: "bobyqa -- a trust region step failed to reduce q",
    4: "bobyqa -- one of the box constraint ranges is too small (< 2*RHOBEG)",
    5: "bobyqa detected too much cancellation in denominator",
}
"""minqa's ``ierr`` codes and ``msg`` texts (the Fortran's codes 390, 10, 430, 20, 320 as R renumbers them)."""

# the Fortran's error numbers -> minqa's ierr
_FORTRAN_CODES = {0: 0, 390: 1, 10: 2, 430: 3, 20: 4, 320: 5}


class BobyqaError(ValueError):
    """What minqa's ``bobyqa`` refuses, in its words (``"Starting values violate bounds"``, the
    ``stopifnot`` conditions, ``"non-finite x values not allowed in calfun"``).

    Examples
    --------
    >>> minqa_bobyqa(lambda x: float(x @ x), [2.0, 0.0], lower=[0.0, 0.0], upper=[1.0, 1.0])
    Traceback (most recent call last):
    ...
    mixedcompat.numerics.powell_bobyqa.BobyqaError: Starting values violate bounds
    """


@dataclass(frozen=True)
class BobyqaResult:
    """What ``minqa::bobyqa`` returns.

    Attributes
    ----------
    par : ndarray
        The best point (or the last one evaluated, when that final step was better).
    fval : float
        ``fn(par)``, evaluated afresh after the run (as minqa does; not capped at the largest double).
    feval : int
        Evaluations made by the algorithm (the start check and the final call not counted).
    ierr : int
        minqa's code: 0 normal, 1 evaluations exhausted, 2 bad npt, 3 a trust-region step failed to
        reduce the model, 4 a box too narrow, 5 too much cancellation in a denominator.
    msg : str
        minqa's message for ``ierr``.
    warnings : tuple of str
        minqa's warnings (``npt``, ``maxfun``, ``rhobeg`` adjustments), in its words and order.
    npt, rhobeg, rhoend : int, float, float
        The settings used.
    rescues : tuple of int
        The values of ``feval`` at which ``RESCUE`` began (empty in most runs): minqa's own path is
        not reproducible beyond the first of them (see the module notes).
    path : ndarray or None
        Every point ``fn`` was called at (rows), in order, when ``record=True``: the start check, the
        algorithm's ``feval`` points and the final call.
    values : ndarray or None
        ``fn``'s values there.
    """

    par: np.ndarray
    fval: float
    feval: int
    ierr: int
    msg: str
    warnings: tuple[str, ...] = ()
    npt: int = 0
    rhobeg: float = math.nan
    rhoend: float = math.nan
    rescues: tuple[int, ...] = ()
    path: np.ndarray | None = field(default=None, repr=False)
    values: np.ndarray | None = field(default=None, repr=False)


def minqa_bobyqa(fn: Callable[[np.ndarray], float], par, lower=-np.inf, upper=np.inf, npt: int | None = None,
           rhobeg: float | None = None, rhoend: float | None = None, maxfun: int = 10000,
           force_start: bool = False, record: bool = False) -> BobyqaResult:
    """Minimise ``fn`` within the box as ``minqa::bobyqa(par, fn, lower, upper, control)`` does.

    Parameters
    ----------
    fn : callable
        The objective, a function of a 1-d float array (a copy).
    par : array_like
        Start values, finite and within the bounds.
    lower, upper : float or array_like
        Bounds (scalars are recycled); ``lower < upper``.
    npt : int, optional
        Interpolation points; minqa's default ``min(n + 2, 2n)``, then moved into
        ``[n + 2, (n + 1)(n + 2) / 2]`` (with minqa's warning above ``2n + 1``).
    rhobeg, rhoend : float, optional
        First and last trust-region radius; defaults ``min(0.95, 0.2 max|par|)`` and ``1e-6 rhobeg``.
    maxfun : int
        Evaluations allowed to the algorithm (minqa's default 10000).
    force_start : bool
        minqa's ``force.start``.
    record : bool
        Keep every call of ``fn`` (points and values) in the result.

    Returns
    -------
    BobyqaResult
        ``par``, ``fval``, ``feval``, ``ierr``, ``msg`` as minqa's list, plus the warnings.

    Raises
    ------
    BobyqaError
        Where minqa stops: a start outside the box, ``lower >= upper``, a non-finite start,
        ``rhoend`` not in ``(0, rhobeg]``, a non-scalar objective value, a non-finite point.

    Examples
    --------
    >>> res = minqa_bobyqa(lambda x: float((x[0] - 0.5) ** 2 + 3.0 * (x[1] - 0.2) ** 2), [1.0, 1.0],
    ...              lower=[0.0, 0.3], record=True)
    >>> res.ierr, res.msg, np.round(res.par, 6).tolist(), len(res.path) == res.feval + 2
    (0, 'Normal exit from bobyqa', [0.5, 0.3], True)
    """
    par = [float(v) for v in np.asarray(par, dtype=float).ravel()]
    n = len(par)
    calls: list[tuple[list[float], float]] = []

    def call(x: list[float]) -> float:
        v = fn(np.array(x, dtype=float))
        v_arr = np.asarray(v, dtype=float)
        if v_arr.size != 1:
            raise BobyqaError("Objective function must return a single numeric value.")
        value = float(v_arr.reshape(()))
        if record:
            calls.append((list(x), value))
        return value

    # ---- minqa's commonArgs
    if not all(math.isfinite(v) for v in par):
        raise BobyqaError("all(is.finite(par)) is not TRUE")
    warns: list[str] = []
    npt_ = min(n + 2, 2 * n) if npt is None else int(npt)
    npt_ = max(n + 2, min(npt_, ((n + 1) * (n + 2)) // 2))
    if npt_ > 2 * n + 1:
        warns.append("Setting npt > 2 * length(par) + 1 is not recommended.")
    rb = min(0.95, 0.2 * max(abs(v) for v in par)) if rhobeg is None else float(rhobeg)
    re = 1e-6 * rb if rhoend is None else float(rhoend)
    if not 0 < re:
        raise BobyqaError("0 < ctrl$rhoend is not TRUE")
    if not re <= rb:
        raise BobyqaError("ctrl$rhoend <= ctrl$rhobeg is not TRUE")
    if maxfun < 10 * n * n:
        warns.append("maxfun < 10 * length(par)^2 is not recommended.")
    # ---- minqa::bobyqa
    call(par)                                               # minqa's check of the objective
    lo = [float(v) for v in np.broadcast_to(np.asarray(lower, dtype=float), (n,))]
    up = [float(v) for v in np.broadcast_to(np.asarray(upper, dtype=float), (n,))]
    if not all(a < b for a, b in zip(lo, up)):
        raise BobyqaError("all(lower < upper) is not TRUE")
    if any(p < a or p > b for p, a, b in zip(par, lo, up)):
        raise BobyqaError("Starting values violate bounds")
    rng = [b - a for a, b in zip(lo, up)]
    if any(r < 2 * rb for r in rng):
        warns.append("All upper - lower must be >= 2*rhobeg. Changing rhobeg")
        rb = 0.2 * min(rng)
    if all(math.isfinite(v) for v in lo + up) and not force_start:
        if any(r < rb for r in rng):                        # minqa's own (never true after the above)
            par = [a + rb if r < rb else p for p, a, r in zip(par, lo, rng)]
            warns.append("Some parameters adjusted away from lower bound")
        if any(r < rb for r in rng):
            par = [b - rb if r < rb else p for p, b, r in zip(par, up, rng)]
            warns.append("Some parameters adjusted away from upper bound")
    for text in warns:
        warnings.warn(text, UserWarning, stacklevel=2)

    def calfun(x: list[float]) -> float:
        if not all(math.isfinite(v) for v in x):
            raise BobyqaError("non-finite x values not allowed in calfun")
        v = call(x)
        return v if math.isfinite(v) else _DBL_MAX

    run = _Powell(n, npt_, list(par), lo, up, rb, re, int(maxfun), calfun)
    x, code = run.solve()
    fval = call(x)                                           # minqa's final, uncapped call
    ierr = _FORTRAN_CODES[code]
    path = values = None
    if record:
        path = np.array([c[0] for c in calls], dtype=float).reshape(len(calls), n)
        values = np.array([c[1] for c in calls], dtype=float)
    return BobyqaResult(par=np.array(x), fval=fval, feval=run.nf_calls, ierr=ierr, msg=BOBYQA_MESSAGES[ierr],
                        warnings=tuple(warns), npt=npt_, rhobeg=rb, rhoend=re, rescues=tuple(run.rescues),
                        path=path, values=values)


class _Powell:
    """One run of Powell's BOBYQA (the Fortran's BOBYQA + BOBYQB and their subroutines).

    Indices are 0-based; ``xpt[k][j]`` is point k's coordinate j relative to ``xbase``; ``hq`` is the
    packed upper triangle (column by column) of the explicit second derivatives.  Every sum runs in
    the Fortran's order: that is what makes the path minqa's.
    """

    def __init__(self, n, npt, x, xl, xu, rhobeg, rhoend, maxfun, calfun):
        self.n, self.npt = n, npt
        self.x, self.xl, self.xu = x, xl, xu
        self.rhobeg, self.rhoend, self.maxfun = rhobeg, rhoend, maxfun
        self.calfun = calfun
        self.ndim = npt + n
        self.nptm = npt - n - 1
        self.nf_calls = 0
        self.rescues: list[int] = []

    def evaluate(self, x: list[float]) -> float:
        self.nf_calls += 1
        return self.calfun(list(x))

    # ------------------------------------------------------------------ BOBYQA (the driver)
    def solve(self) -> tuple[list[float], int]:
        n, npt, x, xl, xu, rhobeg = self.n, self.npt, self.x, self.xl, self.xu, self.rhobeg
        if npt < n + 2 or npt > ((n + 2) * (n + 1)) // 2:
            return x, 10
        sl = [0.0] * n
        su = [0.0] * n
        for j in range(n):
            width = xu[j] - xl[j]
            if width < rhobeg + rhobeg:
                return x, 20
            sl[j] = xl[j] - x[j]
            su[j] = xu[j] - x[j]
            if sl[j] >= -rhobeg:
                if sl[j] >= 0.0:
                    x[j] = xl[j]
                    sl[j] = 0.0
                    su[j] = width
                else:
                    x[j] = xl[j] + rhobeg
                    sl[j] = -rhobeg
                    su[j] = max(xu[j] - x[j], rhobeg)
            elif su[j] <= rhobeg:
                if su[j] <= 0.0:
                    x[j] = xu[j]
                    sl[j] = -width
                    su[j] = 0.0
                else:
                    x[j] = xu[j] - rhobeg
                    sl[j] = min(xl[j] - x[j], -rhobeg)
                    su[j] = rhobeg
        self.sl, self.su = sl, su
        return self.bobyqb()

    # ------------------------------------------------------------------ PRELIM
    def prelim(self) -> None:
        n, npt, ndim, nptm = self.n, self.npt, self.ndim, self.nptm
        rhobeg, x, xl, xu, sl, su = self.rhobeg, self.x, self.xl, self.xu, self.sl, self.su
        rhosq = rhobeg * rhobeg
        recip = 1.0 / rhosq
        self.xbase = xbase = list(x)
        self.xpt = xpt = [[0.0] * n for _ in range(npt)]
        self.bmat = bmat = [[0.0] * n for _ in range(ndim)]
        self.hq = hq = [0.0] * ((n * (n + 1)) // 2)
        self.pq = [0.0] * npt
        self.zmat = zmat = [[0.0] * nptm for _ in range(npt)]
        self.fval = fval = [0.0] * npt
        self.gopt = gopt = [0.0] * n
        nf = 0
        kopt = 0
        fbeg = stepa = stepb = 0.0
        ipt = jpt = 0
        while True:
            nfm = nf
            nfx = nf - n
            nf += 1
            row = nf - 1
            if nfm <= 2 * n:
                if 1 <= nfm <= n:
                    stepa = rhobeg
                    if su[nfm - 1] == 0.0:
                        stepa = -stepa
                    xpt[row][nfm - 1] = stepa
                elif nfm > n:
                    stepa = xpt[nf - n - 1][nfx - 1]
                    stepb = -rhobeg
                    if sl[nfx - 1] == 0.0:
                        stepb = min(2.0 * rhobeg, su[nfx - 1])
                    if su[nfx - 1] == 0.0:
                        stepb = max(-2.0 * rhobeg, sl[nfx - 1])
                    xpt[row][nfx - 1] = stepb
            else:
                itemp = (nfm - n - 1) // n
                jpt = nfm - itemp * n - n
                ipt = jpt + itemp
                if ipt > n:
                    itemp = jpt
                    jpt = ipt - n
                    ipt = itemp
                xpt[row][ipt - 1] = xpt[ipt][ipt - 1]
                xpt[row][jpt - 1] = xpt[jpt][jpt - 1]
            for j in range(n):
                x[j] = min(max(xl[j], xbase[j] + xpt[row][j]), xu[j])
                if xpt[row][j] == sl[j]:
                    x[j] = xl[j]
                if xpt[row][j] == su[j]:
                    x[j] = xu[j]
            f = self.evaluate(x)
            fval[row] = f
            if nf == 1:
                fbeg = f
                kopt = 0
            elif f < fval[kopt]:
                kopt = row
            if nf <= 2 * n + 1:
                if 2 <= nf <= n + 1:
                    gopt[nfm - 1] = (f - fbeg) / stepa
                    if npt < nf + n:
                        bmat[0][nfm - 1] = -1.0 / stepa
                        bmat[row][nfm - 1] = 1.0 / stepa
                        bmat[npt + nfm - 1][nfm - 1] = -0.5 * rhosq
                elif nf >= n + 2:
                    c = nfx - 1                             # the coordinate of this pair of points
                    other = nf - n - 1                      # the row of the point on the other side
                    ih = (nfx * (nfx + 1)) // 2 - 1
                    temp = (f - fbeg) / stepb
                    diff = stepb - stepa
                    hq[ih] = 2.0 * (temp - gopt[c]) / diff
                    gopt[c] = (gopt[c] * stepb - temp * stepa) / diff
                    if stepa * stepb < 0.0 and f < fval[other]:
                        fval[row] = fval[other]
                        fval[other] = f
                        if kopt == row:
                            kopt = other
                        xpt[other][c] = stepb
                        xpt[row][c] = stepa
                    bmat[0][c] = -(stepa + stepb) / (stepa * stepb)
                    bmat[row][c] = -0.5 / xpt[other][c]
                    bmat[other][c] = -bmat[0][c] - bmat[row][c]
                    zmat[0][c] = math.sqrt(2.0) / (stepa * stepb)
                    zmat[row][c] = math.sqrt(0.5) / rhosq
                    zmat[other][c] = -zmat[0][c] - zmat[row][c]
            else:
                ih = (ipt * (ipt - 1)) // 2 + jpt - 1
                zmat[0][nfx - 1] = recip
                zmat[row][nfx - 1] = recip
                zmat[ipt][nfx - 1] = -recip
                zmat[jpt][nfx - 1] = -recip
                temp = xpt[row][ipt - 1] * xpt[row][jpt - 1]
                hq[ih] = (fbeg - fval[ipt] - fval[jpt] + f) / temp
            if not (nf < npt and nf < self.maxfun):
                break
        self.nf = nf
        self.kopt = kopt

    # ------------------------------------------------------------------ BOBYQB (the iteration)
    def bobyqb(self) -> tuple[list[float], int]:
        n, npt, nptm, ndim = self.n, self.npt, self.nptm, self.ndim
        x, xl, xu = self.x, self.xl, self.xu
        rhoend, maxfun = self.rhoend, self.maxfun
        nh = (n * (n + 1)) // 2
        self.prelim()
        xpt, fval, bmat, zmat = self.xpt, self.fval, self.bmat, self.zmat
        hq, pq, gopt, xbase, sl, su = self.hq, self.pq, self.gopt, self.xbase, self.sl, self.su
        nf, kopt = self.nf, self.kopt
        xopt = list(xpt[kopt])
        xoptsq = 0.0
        for i in range(n):
            xoptsq = xoptsq + xopt[i] * xopt[i]
        fsave = fval[0]
        xnew = [0.0] * n
        xalt = [0.0] * n
        d = [0.0] * n
        gnew = [0.0] * n
        vlag = [0.0] * ndim
        w = [0.0] * (2 * ndim)
        ierr = 0
        f = fopt = 0.0
        knew = 0
        alpha = cauchy = beta = denom = 0.0
        dsq = crvmin = dnorm = ratio = vquad = diff = 0.0
        adelt = 0.0
        distsq = 0.0
        label = 720 if nf < npt else 0
        if label == 720:
            ierr = 390
        kbase = 0
        rho = self.rhobeg
        delta = rho
        nresc = nf
        ntrits = 0
        diffa = diffb = diffc = 0.0
        itest = 0
        nfsav = nf
        if label == 0:
            label = 20
        while True:
            if label == 20:
                # GOPT at XOPT, after PRELIM (gradient at XBASE) or after RESCUE
                if kopt != kbase:
                    ih = 0
                    for j in range(n):
                        for i in range(j + 1):
                            if i < j:
                                gopt[j] = gopt[j] + hq[ih] * xopt[i]
                            gopt[i] = gopt[i] + hq[ih] * xopt[j]
                            ih += 1
                    if nf > npt:
                        for k in range(npt):
                            temp = 0.0
                            for j in range(n):
                                temp = temp + xpt[k][j] * xopt[j]
                            temp = pq[k] * temp
                            for i in range(n):
                                gopt[i] = gopt[i] + temp * xpt[k][i]
                label = 60
            elif label == 60:
                dsq, crvmin = self.trsbox(xopt, delta, xnew, d, gnew)
                dnorm = min(delta, math.sqrt(dsq))
                if dnorm < 0.5 * rho:
                    ntrits = -1
                    t = 10.0 * rho
                    distsq = t * t
                    if nf <= nfsav + 2:
                        label = 650
                        continue
                    errbig = max(diffa, diffb, diffc)
                    frhosq = 0.125 * rho * rho
                    if crvmin > 0.0 and errbig > frhosq * crvmin:
                        label = 650
                        continue
                    bdtol = errbig / rho
                    label = 680
                    for j in range(n):
                        bdtest = bdtol
                        if xnew[j] == sl[j]:
                            bdtest = gnew[j]
                        if xnew[j] == su[j]:
                            bdtest = -gnew[j]
                        if bdtest < bdtol:
                            curv = hq[(j * (j + 1)) // 2 + j]
                            for k in range(npt):
                                curv = curv + pq[k] * (xpt[k][j] * xpt[k][j])
                            bdtest = bdtest + 0.5 * curv * rho
                            if bdtest < bdtol:
                                label = 650
                                break
                    continue
                ntrits += 1
                label = 90
            elif label == 90:
                if dsq <= 1.0e-3 * xoptsq:
                    self.shift_base(xopt, xoptsq, xnew, vlag, w)
                    xoptsq = 0.0
                label = 210 if ntrits == 0 else 230
            elif label == 190:
                nfsav = nf
                kbase = kopt
                self.rescues.append(self.nf_calls)
                nf, kopt = self.rescue(nf, kopt, xopt, delta, vlag)
                xoptsq = 0.0
                if kopt != kbase:
                    for i in range(n):
                        xopt[i] = xpt[kopt][i]
                        xoptsq = xoptsq + xopt[i] * xopt[i]
                if nf < 0:
                    nf = maxfun
                    ierr = 390
                    label = 720
                    continue
                nresc = nf
                if nfsav < nf:
                    nfsav = nf
                    label = 20
                    continue
                label = 60 if ntrits > 0 else 210
            elif label == 210:
                alpha, cauchy = self.altmov(xopt, kopt, knew, adelt, xnew, xalt)
                for i in range(n):
                    d[i] = xnew[i] - xopt[i]
                label = 230
            elif label == 230:
                # VLAG and BETA for the step D; W(NPT+K) keeps the products D . XPT(K)
                for k in range(npt):
                    suma = sumb = s = 0.0
                    for j in range(n):
                        suma = suma + xpt[k][j] * d[j]
                        sumb = sumb + xpt[k][j] * xopt[j]
                        s = s + bmat[k][j] * d[j]
                    w[k] = suma * (0.5 * suma + sumb)
                    vlag[k] = s
                    w[npt + k] = suma
                beta = 0.0
                for jj in range(nptm):
                    s = 0.0
                    for k in range(npt):
                        s = s + zmat[k][jj] * w[k]
                    beta = beta - s * s
                    for k in range(npt):
                        vlag[k] = vlag[k] + s * zmat[k][jj]
                dsq = 0.0
                bsum = 0.0
                dx = 0.0
                for j in range(n):
                    dsq = dsq + d[j] * d[j]
                    s = 0.0
                    for k in range(npt):
                        s = s + w[k] * bmat[k][j]
                    bsum = bsum + s * d[j]
                    jp = npt + j
                    for i in range(n):
                        s = s + bmat[jp][i] * d[i]
                    vlag[jp] = s
                    bsum = bsum + s * d[j]
                    dx = dx + d[j] * xopt[j]
                beta = dx * dx + dsq * (xoptsq + dx + dx + 0.5 * dsq) + beta - bsum
                vlag[kopt] = vlag[kopt] + 1.0
                label = 360
                if ntrits == 0:
                    vk = vlag[knew]
                    denom = vk * vk + alpha * beta
                    if denom < cauchy and cauchy > 0.0:
                        for i in range(n):
                            xnew[i] = xalt[i]
                            d[i] = xnew[i] - xopt[i]
                        cauchy = 0.0
                        label = 230
                        continue
                    if denom <= 0.5 * (vk * vk):
                        if nf > nresc:
                            label = 190
                        else:
                            ierr = 320
                            label = 720
                        continue
                else:
                    delsq = delta * delta
                    scaden = 0.0
                    biglsq = 0.0
                    knew = -1
                    for k in range(npt):
                        if k == kopt:
                            continue
                        hdiag = 0.0
                        for jj in range(nptm):
                            hdiag = hdiag + zmat[k][jj] * zmat[k][jj]
                        den = beta * hdiag + vlag[k] * vlag[k]
                        distsq = 0.0
                        for j in range(n):
                            t = xpt[k][j] - xopt[j]
                            distsq = distsq + t * t
                        q = distsq / delsq
                        temp = max(1.0, q * q)
                        if temp * den > scaden:
                            scaden = temp * den
                            knew = k
                            denom = den
                        biglsq = max(biglsq, temp * (vlag[k] * vlag[k]))
                    if scaden <= 0.5 * biglsq:
                        if nf > nresc:
                            label = 190
                        else:
                            ierr = 320
                            label = 720
                        continue
            elif label == 360:
                for i in range(n):
                    x[i] = min(max(xl[i], xbase[i] + xnew[i]), xu[i])
                    if xnew[i] == sl[i]:
                        x[i] = xl[i]
                    if xnew[i] == su[i]:
                        x[i] = xu[i]
                if nf >= maxfun:
                    ierr = 390
                    label = 720
                    continue
                nf += 1
                f = self.evaluate(x)
                if ntrits == -1:
                    fsave = f
                    label = 720
                    continue
                fopt = fval[kopt]
                vquad = 0.0
                ih = 0
                for j in range(n):
                    vquad = vquad + d[j] * gopt[j]
                    for i in range(j + 1):
                        temp = d[i] * d[j]
                        if i == j:
                            temp = 0.5 * temp
                        vquad = vquad + hq[ih] * temp
                        ih += 1
                for k in range(npt):
                    vquad = vquad + 0.5 * pq[k] * (w[npt + k] * w[npt + k])
                diff = f - fopt - vquad
                diffc = diffb
                diffb = diffa
                diffa = abs(diff)
                if dnorm > rho:
                    nfsav = nf
                if ntrits > 0:
                    if vquad >= 0.0:
                        ierr = 430
                        label = 720
                        continue
                    ratio = (f - fopt) / vquad
                    if ratio <= 0.1:
                        delta = min(0.5 * delta, dnorm)
                    elif ratio <= 0.7:
                        delta = max(0.5 * delta, dnorm)
                    else:
                        delta = max(0.5 * delta, dnorm + dnorm)
                    if delta <= 1.5 * rho:
                        delta = rho
                    if f < fopt:                            # choose KNEW again, around the new point
                        ksav = knew
                        densav = denom
                        delsq = delta * delta
                        scaden = 0.0
                        biglsq = 0.0
                        knew = -1
                        for k in range(npt):
                            hdiag = 0.0
                            for jj in range(nptm):
                                hdiag = hdiag + zmat[k][jj] * zmat[k][jj]
                            den = beta * hdiag + vlag[k] * vlag[k]
                            distsq = 0.0
                            for j in range(n):
                                t = xpt[k][j] - xnew[j]
                                distsq = distsq + t * t
                            q = distsq / delsq
                            temp = max(1.0, q * q)
                            if temp * den > scaden:
                                scaden = temp * den
                                knew = k
                                denom = den
                            biglsq = max(biglsq, temp * (vlag[k] * vlag[k]))
                        if scaden <= 0.5 * biglsq:
                            knew = ksav
                            denom = densav
                # the new point replaces XPT(KNEW): H, then the model
                self.update(vlag, beta, denom, knew, w)
                ih = 0
                pqold = pq[knew]
                pq[knew] = 0.0
                for i in range(n):
                    temp = pqold * xpt[knew][i]
                    for j in range(i + 1):
                        hq[ih] = hq[ih] + temp * xpt[knew][j]
                        ih += 1
                for jj in range(nptm):
                    temp = diff * zmat[knew][jj]
                    for k in range(npt):
                        pq[k] = pq[k] + temp * zmat[k][jj]
                fval[knew] = f
                for i in range(n):
                    xpt[knew][i] = xnew[i]
                    w[i] = bmat[knew][i]
                for k in range(npt):
                    suma = 0.0
                    for jj in range(nptm):
                        suma = suma + zmat[knew][jj] * zmat[k][jj]
                    sumb = 0.0
                    for j in range(n):
                        sumb = sumb + xpt[k][j] * xopt[j]
                    temp = suma * sumb
                    for i in range(n):
                        w[i] = w[i] + temp * xpt[k][i]
                for i in range(n):
                    gopt[i] = gopt[i] + diff * w[i]
                if f < fopt:
                    kopt = knew
                    xoptsq = 0.0
                    ih = 0
                    for j in range(n):
                        xopt[j] = xnew[j]
                        xoptsq = xoptsq + xopt[j] * xopt[j]
                        for i in range(j + 1):
                            if i < j:
                                gopt[j] = gopt[j] + hq[ih] * d[i]
                            gopt[i] = gopt[i] + hq[ih] * d[j]
                            ih += 1
                    for k in range(npt):
                        temp = 0.0
                        for j in range(n):
                            temp = temp + xpt[k][j] * d[j]
                        temp = pq[k] * temp
                        for i in range(n):
                            gopt[i] = gopt[i] + temp * xpt[k][i]
                if ntrits > 0:
                    # the least Frobenius norm interpolant: replace the model by it after 3 tests
                    for k in range(npt):
                        vlag[k] = fval[k] - fval[kopt]
                        w[k] = 0.0
                    for j in range(nptm):
                        s = 0.0
                        for k in range(npt):
                            s = s + zmat[k][j] * vlag[k]
                        for k in range(npt):
                            w[k] = w[k] + s * zmat[k][j]
                    for k in range(npt):
                        s = 0.0
                        for j in range(n):
                            s = s + xpt[k][j] * xopt[j]
                        w[k + npt] = w[k]
                        w[k] = s * w[k]
                    gqsq = 0.0
                    gisq = 0.0
                    for i in range(n):
                        s = 0.0
                        for k in range(npt):
                            s = s + bmat[k][i] * vlag[k] + xpt[k][i] * w[k]
                        if xopt[i] == sl[i]:
                            t = min(0.0, gopt[i])
                            gqsq = gqsq + t * t
                            t = min(0.0, s)
                            gisq = gisq + t * t
                        elif xopt[i] == su[i]:
                            t = max(0.0, gopt[i])
                            gqsq = gqsq + t * t
                            t = max(0.0, s)
                            gisq = gisq + t * t
                        else:
                            gqsq = gqsq + gopt[i] * gopt[i]
                            gisq = gisq + s * s
                        vlag[npt + i] = s
                    itest += 1
                    if gqsq < 10.0 * gisq:
                        itest = 0
                    if itest >= 3:
                        for i in range(max(npt, nh)):
                            if i < n:
                                gopt[i] = vlag[npt + i]
                            if i < npt:
                                pq[i] = w[npt + i]
                            if i < nh:
                                hq[i] = 0.0
                            itest = 0
                if ntrits == 0:
                    label = 60
                    continue
                if f <= fopt + 0.1 * vquad:
                    label = 60
                    continue
                t1 = 2.0 * delta
                t2 = 10.0 * rho
                distsq = max(t1 * t1, t2 * t2)
                label = 650
            elif label == 650:
                knew = -1
                for k in range(npt):
                    s = 0.0
                    for j in range(n):
                        t = xpt[k][j] - xopt[j]
                        s = s + t * t
                    if s > distsq:
                        knew = k
                        distsq = s
                if knew >= 0:
                    dist = math.sqrt(distsq)
                    if ntrits == -1:
                        delta = min(0.1 * delta, 0.5 * dist)
                        if delta <= 1.5 * rho:
                            delta = rho
                    ntrits = 0
                    adelt = max(min(0.1 * dist, delta), rho)
                    dsq = adelt * adelt
                    label = 90
                    continue
                if ntrits == -1:
                    label = 680
                elif ratio > 0.0:
                    label = 60
                elif max(delta, dnorm) > rho:
                    label = 60
                else:
                    label = 680
            elif label == 680:
                if rho > rhoend:
                    delta = 0.5 * rho
                    ratio = rho / rhoend
                    if ratio <= 16.0:
                        rho = rhoend
                    elif ratio <= 250.0:
                        rho = math.sqrt(ratio) * rhoend
                    else:
                        rho = 0.1 * rho
                    delta = max(delta, rho)
                    ntrits = 0
                    nfsav = nf
                    label = 60
                    continue
                label = 360 if ntrits == -1 else 720
            else:                                            # 720: the return
                if fval[kopt] <= fsave:
                    for i in range(n):
                        x[i] = min(max(xl[i], xbase[i] + xopt[i]), xu[i])
                        if xopt[i] == sl[i]:
                            x[i] = xl[i]
                        if xopt[i] == su[i]:
                            x[i] = xu[i]
                return list(x), ierr

    def shift_base(self, xopt, xoptsq, xnew, vlag, w) -> None:
        """Move XBASE to XOPT (BOBYQB's label 90): BMAT, the model's second derivatives, XPT, SL, SU."""
        n, npt, nptm = self.n, self.npt, self.nptm
        xpt, bmat, zmat, pq, hq = self.xpt, self.bmat, self.zmat, self.pq, self.hq
        fracsq = 0.25 * xoptsq
        sumpq = 0.0
        for k in range(npt):
            sumpq = sumpq + pq[k]
            s = -0.5 * xoptsq
            for i in range(n):
                s = s + xpt[k][i] * xopt[i]
            w[npt + k] = s
            temp = fracsq - 0.5 * s
            for i in range(n):
                w[i] = bmat[k][i]
                vlag[i] = s * xpt[k][i] + temp * xopt[i]
                ip = npt + i
                for j in range(i + 1):
                    bmat[ip][j] = bmat[ip][j] + w[i] * vlag[j] + vlag[i] * w[j]
        for jj in range(nptm):
            sumz = 0.0
            sumw = 0.0
            for k in range(npt):
                sumz = sumz + zmat[k][jj]
                vlag[k] = w[npt + k] * zmat[k][jj]
                sumw = sumw + vlag[k]
            for j in range(n):
                s = (fracsq * sumz - 0.5 * sumw) * xopt[j]
                for k in range(npt):
                    s = s + vlag[k] * xpt[k][j]
                w[j] = s
                for k in range(npt):
                    bmat[k][j] = bmat[k][j] + s * zmat[k][jj]
            for i in range(n):
                ip = i + npt
                temp = w[i]
                for j in range(i + 1):
                    bmat[ip][j] = bmat[ip][j] + temp * w[j]
        ih = 0
        for j in range(n):
            w[j] = -0.5 * sumpq * xopt[j]
            for k in range(npt):
                w[j] = w[j] + pq[k] * xpt[k][j]
                xpt[k][j] = xpt[k][j] - xopt[j]
            for i in range(j + 1):
                hq[ih] = hq[ih] + w[i] * xopt[j] + xopt[i] * w[j]
                bmat[npt + i][j] = bmat[npt + j][i]
                ih += 1
        for i in range(n):
            self.xbase[i] = self.xbase[i] + xopt[i]
            xnew[i] = xnew[i] - xopt[i]
            self.sl[i] = self.sl[i] - xopt[i]
            self.su[i] = self.su[i] - xopt[i]
            xopt[i] = 0.0

    # ------------------------------------------------------------------ TRSBOX
    def trsbox(self, xopt, delta, xnew, d, gnew) -> tuple[float, float]:
        """The truncated conjugate-gradient step within the trust region and the box; sets XNEW, D
        and GNEW (the model's gradient at XOPT + D); returns DSQ and CRVMIN."""
        n, npt = self.n, self.npt
        xpt, gopt, hq, pq, sl, su = self.xpt, self.gopt, self.hq, self.pq, self.sl, self.su
        iterc = 0
        nact = 0
        xbdi = [0.0] * n
        s = [0.0] * n
        hs = [0.0] * n
        hred = [0.0] * n
        for i in range(n):
            xbdi[i] = 0.0
            if xopt[i] <= sl[i]:
                if gopt[i] >= 0.0:
                    xbdi[i] = -1.0
            elif xopt[i] >= su[i]:
                if gopt[i] <= 0.0:
                    xbdi[i] = 1.0
            if xbdi[i] != 0.0:
                nact += 1
            d[i] = 0.0
            gnew[i] = gopt[i]
        delsq = delta * delta
        qred = 0.0
        crvmin = -1.0
        beta = gredsq = stepsq = ggsav = 0.0
        itermax = itcsav = 0
        dredsq = dredg = sredg = angbd = xsav = 0.0
        iact = -1

        def times_hessian() -> None:                       # HS = (the model's Hessian) S
            ih = 0
            for j in range(n):
                hs[j] = 0.0
                for i in range(j + 1):
                    if i < j:
                        hs[j] = hs[j] + hq[ih] * s[i]
                    hs[i] = hs[i] + hq[ih] * s[j]
                    ih += 1
            for k in range(npt):
                if pq[k] != 0.0:
                    temp = 0.0
                    for j in range(n):
                        temp = temp + xpt[k][j] * s[j]
                    temp = temp * pq[k]
                    for i in range(n):
                        hs[i] = hs[i] + temp * xpt[k][i]

        label = 20
        while True:
            if label == 20:
                beta = 0.0
                label = 30
            elif label == 30:
                stepsq = 0.0
                for i in range(n):
                    if xbdi[i] != 0.0:
                        s[i] = 0.0
                    elif beta == 0.0:
                        s[i] = -gnew[i]
                    else:
                        s[i] = beta * s[i] - gnew[i]
                    stepsq = stepsq + s[i] * s[i]
                if stepsq == 0.0:
                    label = 190
                    continue
                if beta == 0.0:
                    gredsq = stepsq
                    itermax = iterc + n - nact
                if gredsq * delsq <= 1.0e-4 * qred * qred:
                    label = 190
                    continue
                times_hessian()
                label = 50
            elif label == 50:
                resid = delsq
                ds = 0.0
                shs = 0.0
                for i in range(n):
                    if xbdi[i] == 0.0:
                        resid = resid - d[i] * d[i]
                        ds = ds + s[i] * d[i]
                        shs = shs + s[i] * hs[i]
                if resid <= 0.0:
                    label = 90
                    continue
                temp = math.sqrt(stepsq * resid + ds * ds)
                if ds < 0.0:
                    blen = (temp - ds) / stepsq
                else:
                    blen = resid / (temp + ds)
                stplen = blen
                if shs > 0.0:
                    stplen = min(blen, gredsq / shs)
                iact = -1
                for i in range(n):
                    if s[i] != 0.0:
                        xsum = xopt[i] + d[i]
                        if s[i] > 0.0:
                            temp = (su[i] - xsum) / s[i]
                        else:
                            temp = (sl[i] - xsum) / s[i]
                        if temp < stplen:
                            stplen = temp
                            iact = i
                sdec = 0.0
                if stplen > 0.0:
                    iterc += 1
                    temp = shs / stepsq
                    if iact == -1 and temp > 0.0:
                        crvmin = min(crvmin, temp)
                        if crvmin == -1.0:
                            crvmin = temp
                    ggsav = gredsq
                    gredsq = 0.0
                    for i in range(n):
                        gnew[i] = gnew[i] + stplen * hs[i]
                        if xbdi[i] == 0.0:
                            gredsq = gredsq + gnew[i] * gnew[i]
                        d[i] = d[i] + stplen * s[i]
                    sdec = max(stplen * (ggsav - 0.5 * stplen * shs), 0.0)
                    qred = qred + sdec
                if iact >= 0:
                    nact += 1
                    xbdi[iact] = 1.0
                    if s[iact] < 0.0:
                        xbdi[iact] = -1.0
                    delsq = delsq - d[iact] * d[iact]
                    label = 90 if delsq <= 0.0 else 20
                    continue
                if stplen < blen:
                    if iterc == itermax or sdec <= 0.01 * qred:
                        label = 190
                        continue
                    beta = gredsq / ggsav
                    label = 30
                    continue
                label = 90
            elif label == 90:
                crvmin = 0.0
                label = 100
            elif label == 100:
                if nact >= n - 1:
                    label = 190
                    continue
                dredsq = 0.0
                dredg = 0.0
                gredsq = 0.0
                for i in range(n):
                    if xbdi[i] == 0.0:
                        dredsq = dredsq + d[i] * d[i]
                        dredg = dredg + d[i] * gnew[i]
                        gredsq = gredsq + gnew[i] * gnew[i]
                        s[i] = d[i]
                    else:
                        s[i] = 0.0
                itcsav = iterc
                times_hessian()
                for i in range(n):
                    hred[i] = hs[i]
                label = 120
            elif label == 120:
                iterc += 1
                temp = gredsq * dredsq - dredg * dredg
                if temp <= 1.0e-4 * qred * qred:
                    label = 190
                    continue
                temp = math.sqrt(temp)
                for i in range(n):
                    if xbdi[i] == 0.0:
                        s[i] = (dredg * d[i] - dredsq * gnew[i]) / temp
                    else:
                        s[i] = 0.0
                sredg = -temp
                angbd = 1.0
                iact = -1
                fixed = False
                for i in range(n):
                    if xbdi[i] == 0.0:
                        tempa = xopt[i] + d[i] - sl[i]
                        tempb = su[i] - xopt[i] - d[i]
                        if tempa <= 0.0:
                            nact += 1
                            xbdi[i] = -1.0
                            fixed = True
                            break
                        elif tempb <= 0.0:
                            nact += 1
                            xbdi[i] = 1.0
                            fixed = True
                            break
                        ssq = d[i] * d[i] + s[i] * s[i]
                        t = xopt[i] - sl[i]
                        temp = ssq - t * t
                        if temp > 0.0:
                            temp = math.sqrt(temp) - s[i]
                            if angbd * temp > tempa:
                                angbd = tempa / temp
                                iact = i
                                xsav = -1.0
                        t = su[i] - xopt[i]
                        temp = ssq - t * t
                        if temp > 0.0:
                            temp = math.sqrt(temp) + s[i]
                            if angbd * temp > tempb:
                                angbd = tempb / temp
                                iact = i
                                xsav = 1.0
                if fixed:
                    label = 100
                    continue
                times_hessian()
                # label 150: the greatest reduction over the alternative iteration's angle
                shs = 0.0
                dhs = 0.0
                dhd = 0.0
                for i in range(n):
                    if xbdi[i] == 0.0:
                        shs = shs + s[i] * hs[i]
                        dhs = dhs + d[i] * hs[i]
                        dhd = dhd + d[i] * hred[i]
                redmax = 0.0
                isav = 0
                redsav = 0.0
                rdprev = rdnext = 0.0
                iu = int(17.0 * angbd + 3.1)
                for i in range(1, iu + 1):
                    angt = angbd * float(i) / float(iu)
                    sth = (angt + angt) / (1.0 + angt * angt)
                    temp = shs + angt * (angt * dhd - dhs - dhs)
                    rednew = sth * (angt * dredg - sredg - 0.5 * sth * temp)
                    if rednew > redmax:
                        redmax = rednew
                        isav = i
                        rdprev = redsav
                    elif i == isav + 1:
                        rdnext = rednew
                    redsav = rednew
                if isav == 0:
                    label = 190
                    continue
                if isav < iu:
                    temp = (rdnext - rdprev) / (redmax + redmax - rdprev - rdnext)
                    angt = angbd * (float(isav) + 0.5 * temp) / float(iu)
                cth = (1.0 - angt * angt) / (1.0 + angt * angt)
                sth = (angt + angt) / (1.0 + angt * angt)
                temp = shs + angt * (angt * dhd - dhs - dhs)
                sdec = sth * (angt * dredg - sredg - 0.5 * sth * temp)
                if sdec <= 0.0:
                    label = 190
                    continue
                dredg = 0.0
                gredsq = 0.0
                for i in range(n):
                    gnew[i] = gnew[i] + (cth - 1.0) * hred[i] + sth * hs[i]
                    if xbdi[i] == 0.0:
                        d[i] = cth * d[i] + sth * s[i]
                        dredg = dredg + d[i] * gnew[i]
                        gredsq = gredsq + gnew[i] * gnew[i]
                    hred[i] = cth * hred[i] + sth * hs[i]
                qred = qred + sdec
                if iact >= 0 and isav == iu:
                    nact += 1
                    xbdi[iact] = xsav
                    label = 100
                    continue
                label = 120 if sdec > 0.01 * qred else 190
            else:                                            # 190: XNEW = XOPT + D within the bounds
                dsq = 0.0
                for i in range(n):
                    xnew[i] = max(min(xopt[i] + d[i], su[i]), sl[i])
                    if xbdi[i] == -1.0:
                        xnew[i] = sl[i]
                    if xbdi[i] == 1.0:
                        xnew[i] = su[i]
                    d[i] = xnew[i] - xopt[i]
                    dsq = dsq + d[i] * d[i]
                return dsq, crvmin

    # ------------------------------------------------------------------ ALTMOV
    def altmov(self, xopt, kopt, knew, adelt, xnew, xalt) -> tuple[float, float]:
        """Two candidate positions for point KNEW within ADELT of XOPT: XNEW on a line through XOPT
        and another point, XALT a constrained Cauchy step of KNEW's Lagrange function; returns
        ALPHA (H's diagonal element) and CAUCHY."""
        n, npt, nptm = self.n, self.npt, self.nptm
        xpt, bmat, zmat, sl, su = self.xpt, self.bmat, self.zmat, self.sl, self.su
        const = 1.0 + math.sqrt(2.0)
        hcol = [0.0] * npt
        for j in range(nptm):
            temp = zmat[knew][j]
            for k in range(npt):
                hcol[k] = hcol[k] + temp * zmat[k][j]
        alpha = hcol[knew]
        ha = 0.5 * alpha
        glag = [bmat[knew][i] for i in range(n)]
        for k in range(npt):
            temp = 0.0
            for j in range(n):
                temp = temp + xpt[k][j] * xopt[j]
            temp = hcol[k] * temp
            for i in range(n):
                glag[i] = glag[i] + temp * xpt[k][i]
        presav = 0.0
        ksav = getattr(self, "_ksav", knew)
        stpsav = getattr(self, "_stpsav", 0.0)
        step = 0.0
        for k in range(npt):
            if k == kopt:
                continue
            dderiv = 0.0
            distsq = 0.0
            for i in range(n):
                temp = xpt[k][i] - xopt[i]
                dderiv = dderiv + glag[i] * temp
                distsq = distsq + temp * temp
            subd = adelt / math.sqrt(distsq)
            slbd = -subd
            sumin = min(1.0, subd)
            for i in range(n):
                temp = xpt[k][i] - xopt[i]
                if temp > 0.0:
                    if slbd * temp < sl[i] - xopt[i]:
                        slbd = (sl[i] - xopt[i]) / temp
                    if subd * temp > su[i] - xopt[i]:
                        subd = max(sumin, (su[i] - xopt[i]) / temp)
                elif temp < 0.0:
                    if slbd * temp > su[i] - xopt[i]:
                        slbd = (su[i] - xopt[i]) / temp
                    if subd * temp < sl[i] - xopt[i]:
                        subd = max(sumin, (sl[i] - xopt[i]) / temp)
            if k == knew:
                diff = dderiv - 1.0
                step = slbd
                vlag = slbd * (dderiv - slbd * diff)
                temp = subd * (dderiv - subd * diff)
                if abs(temp) > abs(vlag):
                    step = subd
                    vlag = temp
                tempd = 0.5 * dderiv
                tempa = tempd - diff * slbd
                tempb = tempd - diff * subd
                if tempa * tempb < 0.0:
                    temp = tempd * tempd / diff
                    if abs(temp) > abs(vlag):
                        step = tempd / diff
                        vlag = temp
            else:
                step = slbd
                vlag = slbd * (1.0 - slbd)
                temp = subd * (1.0 - subd)
                if abs(temp) > abs(vlag):
                    step = subd
                    vlag = temp
                if subd > 0.5 and abs(vlag) < 0.25:
                    step = 0.5
                    vlag = 0.25
                vlag = vlag * dderiv
            temp = step * (1.0 - step) * distsq
            predsq = vlag * vlag * (vlag * vlag + ha * temp * temp)
            if predsq > presav:
                presav = predsq
                ksav = k
                stpsav = step
        self._ksav, self._stpsav = ksav, stpsav
        for i in range(n):
            temp = xopt[i] + stpsav * (xpt[ksav][i] - xopt[i])
            xnew[i] = max(sl[i], min(su[i], temp))
        # (minqa resets the index of the bound the line search reached: no snapping onto it)

        # the constrained Cauchy step, uphill and downhill: the larger |Lagrange function| wins
        bigstp = adelt + adelt
        w = [0.0] * n
        saved = [0.0] * n
        csave = 0.0
        cauchy = 0.0
        for iflag in (0, 1):
            wfixsq = 0.0
            ggfree = 0.0
            for i in range(n):
                w[i] = 0.0
                tempa = min(xopt[i] - sl[i], glag[i])
                tempb = max(xopt[i] - su[i], glag[i])
                if tempa > 0.0 or tempb < 0.0:
                    w[i] = bigstp
                    ggfree = ggfree + glag[i] * glag[i]
            if ggfree == 0.0:
                return alpha, 0.0
            while True:
                temp = adelt * adelt - wfixsq
                if not temp > 0.0:
                    break
                wsqsav = wfixsq
                step = math.sqrt(temp / ggfree)
                ggfree = 0.0
                for i in range(n):
                    if w[i] == bigstp:
                        temp = xopt[i] - step * glag[i]
                        if temp <= sl[i]:
                            w[i] = sl[i] - xopt[i]
                            wfixsq = wfixsq + w[i] * w[i]
                        elif temp >= su[i]:
                            w[i] = su[i] - xopt[i]
                            wfixsq = wfixsq + w[i] * w[i]
                        else:
                            ggfree = ggfree + glag[i] * glag[i]
                if not (wfixsq > wsqsav and ggfree > 0.0):
                    break
            gw = 0.0
            for i in range(n):
                if w[i] == bigstp:
                    w[i] = -step * glag[i]
                    xalt[i] = max(sl[i], min(su[i], xopt[i] + w[i]))
                elif w[i] == 0.0:
                    xalt[i] = xopt[i]
                elif glag[i] > 0.0:
                    xalt[i] = sl[i]
                else:
                    xalt[i] = su[i]
                gw = gw + glag[i] * w[i]
            curv = 0.0
            for k in range(npt):
                temp = 0.0
                for j in range(n):
                    temp = temp + xpt[k][j] * w[j]
                curv = curv + hcol[k] * temp * temp
            if iflag == 1:
                curv = -curv
            if curv > -gw and curv < -const * gw:
                scale = -gw / curv
                for i in range(n):
                    temp = xopt[i] + scale * w[i]
                    xalt[i] = max(sl[i], min(su[i], temp))
                t = 0.5 * gw * scale
                cauchy = t * t
            else:
                t = gw + 0.5 * curv
                cauchy = t * t
            if iflag == 0:
                for i in range(n):
                    glag[i] = -glag[i]
                    saved[i] = xalt[i]
                csave = cauchy
        if csave > cauchy:
            for i in range(n):
                xalt[i] = saved[i]
            cauchy = csave
        return alpha, cauchy

    # ------------------------------------------------------------------ UPDATE
    def update(self, vlag, beta, denom, knew, w) -> None:
        """BMAT and ZMAT after point KNEW moves (VLAG, BETA, DENOM of the new point)."""
        n, npt, nptm = self.n, self.npt, self.nptm
        bmat, zmat = self.bmat, self.zmat
        ztest = 0.0
        for k in range(npt):
            for j in range(nptm):
                ztest = max(ztest, abs(zmat[k][j]))
        ztest = 1.0e-20 * ztest
        zk = zmat[knew]
        for j in range(1, nptm):
            if abs(zk[j]) > ztest:
                temp = math.sqrt(zk[0] * zk[0] + zk[j] * zk[j])
                tempa = zk[0] / temp
                tempb = zk[j] / temp
                for i in range(npt):
                    zi = zmat[i]
                    temp = tempa * zi[0] + tempb * zi[j]
                    zi[j] = tempa * zi[j] - tempb * zi[0]
                    zi[0] = temp
            zk[j] = 0.0
        for i in range(npt):
            w[i] = zk[0] * zmat[i][0]
        alpha = w[knew]
        tau = vlag[knew]
        vlag[knew] = vlag[knew] - 1.0
        temp = math.sqrt(denom)
        tempb = zk[0] / temp
        tempa = tau / temp
        for i in range(npt):
            zmat[i][0] = tempa * zmat[i][0] - tempb * vlag[i]
        for j in range(n):
            jp = npt + j
            w[jp] = bmat[knew][j]
            tempa = (alpha * vlag[jp] - tau * w[jp]) / denom
            tempb = (-beta * w[jp] - tau * vlag[jp]) / denom
            for i in range(jp + 1):
                bmat[i][j] = bmat[i][j] + tempa * vlag[i] + tempb * w[i]
                if i >= npt:
                    bmat[jp][i - npt] = bmat[i][j]

    # ------------------------------------------------------------------ RESCUE
    def rescue(self, nf, kopt, xopt, delta, vlag) -> tuple[int, int]:
        """Rebuild BMAT and ZMAT from well-placed provisional points around XOPT (XBASE moves to
        XOPT), bringing back as many original points as rounding allows and evaluating the rest.
        Returns NF (-1 when MAXFUN stops it) and KOPT."""
        n, npt, nptm, ndim = self.n, self.npt, self.nptm, self.ndim
        np1 = n + 1
        xpt, fval, bmat, zmat = self.xpt, self.fval, self.bmat, self.zmat
        hq, pq, gopt, sl, su = self.hq, self.pq, self.gopt, self.sl, self.su
        xl, xu, xbase = self.xl, self.xu, self.xbase
        sfrac = 0.5 / float(np1)
        w = [0.0] * ndim
        dist = [0.0] * npt                                   # the Fortran's W(NDIM+K)
        ptsaux = [[0.0] * n, [0.0] * n]
        ptsid = [0.0] * npt
        sumpq = 0.0
        winc = 0.0
        for k in range(npt):
            distsq = 0.0
            for j in range(n):
                xpt[k][j] = xpt[k][j] - xopt[j]
                distsq = distsq + xpt[k][j] * xpt[k][j]
            sumpq = sumpq + pq[k]
            dist[k] = distsq
            winc = max(winc, distsq)
            for j in range(nptm):
                zmat[k][j] = 0.0
        ih = 0
        for j in range(n):
            w[j] = 0.5 * sumpq * xopt[j]
            for k in range(npt):
                w[j] = w[j] + pq[k] * xpt[k][j]
            for i in range(j + 1):
                hq[ih] = hq[ih] + w[i] * xopt[j] + w[j] * xopt[i]
                ih += 1
        for j in range(n):
            xbase[j] = xbase[j] + xopt[j]
            sl[j] = sl[j] - xopt[j]
            su[j] = su[j] - xopt[j]
            xopt[j] = 0.0
            ptsaux[0][j] = min(delta, su[j])
            ptsaux[1][j] = max(-delta, sl[j])
            if ptsaux[0][j] + ptsaux[1][j] < 0.0:
                ptsaux[0][j], ptsaux[1][j] = ptsaux[1][j], ptsaux[0][j]
            if abs(ptsaux[1][j]) < 0.5 * abs(ptsaux[0][j]):
                ptsaux[1][j] = 0.5 * ptsaux[0][j]
            for i in range(ndim):
                bmat[i][j] = 0.0
        fbase = fval[kopt]
        ptsid[0] = sfrac
        for j in range(n):
            jp = j + 1
            jpn = jp + n
            ptsid[jp] = float(j + 1) + sfrac
            if jpn < npt:
                ptsid[jpn] = float(j + 1) / float(np1) + sfrac
                temp = 1.0 / (ptsaux[0][j] - ptsaux[1][j])
                bmat[jp][j] = -temp + 1.0 / ptsaux[0][j]
                bmat[jpn][j] = temp + 1.0 / ptsaux[1][j]
                bmat[0][j] = -bmat[jp][j] - bmat[jpn][j]
                zmat[0][j] = math.sqrt(2.0) / abs(ptsaux[0][j] * ptsaux[1][j])
                zmat[jp][j] = zmat[0][j] * ptsaux[1][j] * temp
                zmat[jpn][j] = -zmat[0][j] * ptsaux[0][j] * temp
            else:
                bmat[0][j] = -1.0 / ptsaux[0][j]
                bmat[jp][j] = 1.0 / ptsaux[0][j]
                bmat[j + npt][j] = -0.5 * (ptsaux[0][j] * ptsaux[0][j])
        if npt >= n + np1:
            for k1 in range(2 * np1, npt + 1):              # 1-based K of the Fortran
                iw = int((float(k1 - np1) - 0.5) / float(n))
                ip = k1 - np1 - iw * n
                iq = ip + iw
                if iq > n:
                    iq = iq - n
                ptsid[k1 - 1] = float(ip) + float(iq) / float(np1) + sfrac
                temp = 1.0 / (ptsaux[0][ip - 1] * ptsaux[0][iq - 1])
                col = k1 - np1 - 1
                zmat[0][col] = temp
                zmat[ip][col] = -temp
                zmat[iq][col] = -temp
                zmat[k1 - 1][col] = temp

        def id_parts(k: int) -> tuple[int, int]:
            ip = int(ptsid[k])
            iq = int(float(np1) * ptsid[k] - float(ip * np1))
            return ip, iq

        nrem = npt
        kold = 0
        knew = kopt
        beta = denom = 0.0
        while True:
            # label 80: exchange the provisional point KOLD with the original point KNEW
            bmat[kold], bmat[knew] = bmat[knew], bmat[kold]
            zmat[kold], zmat[knew] = zmat[knew], zmat[kold]
            ptsid[kold] = ptsid[knew]
            ptsid[knew] = 0.0
            dist[knew] = 0.0
            nrem -= 1
            if knew != kopt:
                vlag[kold], vlag[knew] = vlag[knew], vlag[kold]
                self.update(vlag, beta, denom, knew, w)
                if nrem == 0:
                    return nf, kopt
                for k in range(npt):
                    dist[k] = abs(dist[k])
            # label 120: the next original point to bring back, if any can be
            while True:
                dsqmin = 0.0
                for k in range(npt):
                    if dist[k] > 0.0 and (dsqmin == 0.0 or dist[k] < dsqmin):
                        knew = k
                        dsqmin = dist[k]
                if dsqmin == 0.0:
                    return self.rescue_evaluate(nf, kopt, ptsid, ptsaux, fbase, id_parts, w)
                for j in range(n):
                    w[npt + j] = xpt[knew][j]
                for k in range(npt):
                    s = 0.0
                    if k == kopt:
                        pass
                    elif ptsid[k] == 0.0:
                        for j in range(n):
                            s = s + w[npt + j] * xpt[k][j]
                    else:
                        ip, iq = id_parts(k)
                        if ip > 0:
                            s = w[npt + ip - 1] * ptsaux[0][ip - 1]
                        if iq > 0:
                            row = 1 if ip == 0 else 0
                            s = s + w[npt + iq - 1] * ptsaux[row][iq - 1]
                    w[k] = 0.5 * s * s
                for k in range(npt):
                    s = 0.0
                    for j in range(n):
                        s = s + bmat[k][j] * w[npt + j]
                    vlag[k] = s
                beta = 0.0
                for j in range(nptm):
                    s = 0.0
                    for k in range(npt):
                        s = s + zmat[k][j] * w[k]
                    beta = beta - s * s
                    for k in range(npt):
                        vlag[k] = vlag[k] + s * zmat[k][j]
                bsum = 0.0
                distsq = 0.0
                for j in range(n):
                    s = 0.0
                    for k in range(npt):
                        s = s + bmat[k][j] * w[k]
                    jp = j + npt
                    bsum = bsum + s * w[jp]
                    for ip in range(npt, ndim):
                        s = s + bmat[ip][j] * w[ip]
                    bsum = bsum + s * w[jp]
                    vlag[jp] = s
                    distsq = distsq + xpt[knew][j] * xpt[knew][j]
                beta = 0.5 * distsq * distsq + beta - bsum
                vlag[kopt] = vlag[kopt] + 1.0
                denom = 0.0
                vlmxsq = 0.0
                for k in range(npt):
                    if ptsid[k] != 0.0:
                        hdiag = 0.0
                        for j in range(nptm):
                            hdiag = hdiag + zmat[k][j] * zmat[k][j]
                        den = beta * hdiag + vlag[k] * vlag[k]
                        if den > denom:
                            kold = k
                            denom = den
                    vlmxsq = max(vlmxsq, vlag[k] * vlag[k])
                if denom <= 1.0e-2 * vlmxsq:
                    dist[knew] = -dist[knew] - winc
                    continue
                break

    def rescue_evaluate(self, nf, kopt, ptsid, ptsaux, fbase, id_parts, w) -> tuple[int, int]:
        """RESCUE's label 260: evaluate the provisional points that remain and update the model."""
        n, npt, nptm = self.n, self.npt, self.nptm
        xpt, fval, bmat, zmat = self.xpt, self.fval, self.bmat, self.zmat
        hq, pq, gopt, sl, su = self.hq, self.pq, self.gopt, self.sl, self.su
        xl, xu, xbase = self.xl, self.xu, self.xbase
        for kpt in range(npt):
            if ptsid[kpt] == 0.0:
                continue
            if nf >= self.maxfun:
                return -1, kopt
            ih = 0
            for j in range(n):
                w[j] = xpt[kpt][j]
                xpt[kpt][j] = 0.0
                temp = pq[kpt] * w[j]
                for i in range(j + 1):
                    hq[ih] = hq[ih] + temp * w[i]
                    ih += 1
            pq[kpt] = 0.0
            ip, iq = id_parts(kpt)
            xp = xq = 0.0
            if ip > 0:
                xp = ptsaux[0][ip - 1]
                xpt[kpt][ip - 1] = xp
            if iq > 0:
                xq = ptsaux[0][iq - 1]
                if ip == 0:
                    xq = ptsaux[1][iq - 1]
                xpt[kpt][iq - 1] = xq
            vquad = fbase
            ihp = 0
            if ip > 0:
                ihp = (ip + ip * ip) // 2
                vquad = vquad + xp * (gopt[ip - 1] + 0.5 * xp * hq[ihp - 1])
            if iq > 0:
                ihq = (iq + iq * iq) // 2
                vquad = vquad + xq * (gopt[iq - 1] + 0.5 * xq * hq[ihq - 1])
                if ip > 0:
                    iw = max(ihp, ihq) - abs(ip - iq)
                    vquad = vquad + xp * xq * hq[iw - 1]
            for k in range(npt):
                temp = 0.0
                if ip > 0:
                    temp = temp + xp * xpt[k][ip - 1]
                if iq > 0:
                    temp = temp + xq * xpt[k][iq - 1]
                vquad = vquad + 0.5 * pq[k] * temp * temp
            point = [0.0] * n
            for i in range(n):
                point[i] = min(max(xl[i], xbase[i] + xpt[kpt][i]), xu[i])
                if xpt[kpt][i] == sl[i]:
                    point[i] = xl[i]
                if xpt[kpt][i] == su[i]:
                    point[i] = xu[i]
            nf += 1
            f = self.evaluate(point)            # minqa 1.2.5 passes an undefined vector here
            fval[kpt] = f
            if f < fval[kopt]:
                kopt = kpt
            diff = f - vquad
            for i in range(n):
                gopt[i] = gopt[i] + diff * bmat[kpt][i]
            for k in range(npt):
                s = 0.0
                for j in range(nptm):
                    s = s + zmat[k][j] * zmat[kpt][j]
                temp = diff * s
                if ptsid[k] == 0.0:
                    pq[k] = pq[k] + temp
                else:
                    ip2, iq2 = id_parts(k)
                    ihq = (iq2 * iq2 + iq2) // 2
                    if ip2 == 0:
                        t = ptsaux[1][iq2 - 1]
                        hq[ihq - 1] = hq[ihq - 1] + temp * (t * t)
                    else:
                        ihp = (ip2 * ip2 + ip2) // 2
                        t = ptsaux[0][ip2 - 1]
                        hq[ihp - 1] = hq[ihp - 1] + temp * (t * t)
                        if iq2 > 0:
                            t = ptsaux[0][iq2 - 1]
                            hq[ihq - 1] = hq[ihq - 1] + temp * (t * t)
                            iw = max(ihp, ihq) - abs(iq2 - ip2)
                            hq[iw - 1] = hq[iw - 1] + temp * ptsaux[0][ip2 - 1] * ptsaux[0][iq2 - 1]
            ptsid[kpt] = 0.0
        return nf, kopt
