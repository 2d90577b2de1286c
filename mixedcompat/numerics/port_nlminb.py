"""R's ``nlminb`` without a gradient: the PORT library's bounded secant (BFGS) trust-region minimiser.

R's ``stats::nlminb(start, objective, lower=, upper=)`` runs PORT's reverse-communication routine
``drmnfb`` (D. M. Gay, ACM TOMS Algorithm 611 family).  Each iteration

* keeps a lower-triangular factor ``L`` of a secant approximation ``H = L L'`` of the Hessian, in a
  permuted order whose trailing variables are the ones held at a bound;
* frees or fixes variables from the gradient's sign at the bounds;
* takes a double-dogleg step in the scaled metric ``diag(scale)`` within a trust radius, and bends the
  dogleg path when it leaves the box (fixing the variable that hit its bound and shortening ``L``);
* assesses the step with PORT's step-assessment rules (trust radius grown or cut, a step restored,
  relative / X / absolute / singular / false convergence tests);
* updates ``L`` with the (Powell-damped) BFGS update of the factor;
* estimates the gradient by finite differences with Stewart's step sizes (forward or central, chosen
  from the previous gradient and the diagonal of ``H``), flipped to stay inside the box.

The implementation follows the algorithm's arithmetic step for step, so that it visits R's points:
the same ``par``, ``objective``, ``iterations`` and evaluation counts, evaluation by evaluation, when
the objective is computed by the same operations (tests/test_nlminb.py, tests/test_live_r_nlminb.py).
It keeps the quirks of R's PORT build that change the path: when a variable becomes fixed at the
start of an iteration, the scratch vector used to re-triangularise ``L`` shares storage with the
previous gradient, so that iteration's secant pair uses the overwritten values; the rows of ``L`` for
variables at a bound are left as they were; and the bounded routine's radius-doubling gradient test
sees ``H s = 0`` (:data:`R_HS_IS_ZERO`).

Without ``lower`` / ``upper`` R runs PORT's unbounded twin ``drmnf`` (the Newton step computed once
per iteration, the trust radius set rather than only grown, the last good step rather than the last
good point kept); so does this module.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from mixedcompat.errors import DataError
from mixedcompat.rmatch import pmatch

__all__ = ["nlminb", "NlminbResult", "NLMINB_CONTROL_NAMES", "match_control_name", "port_message"]

_MACHEP = 2.220446049250313e-16          # PORT's unit roundoff (d1mach(4))
_H0 = math.sqrt(_MACHEP)
_BIG = 1.7976931348623157e308
_TINY = 2.2250738585072014e-308

#: R's PORT build computes the ``H step`` of its radius-doubling gradient test as zero (an aliased
#: in-place triangular product; see :meth:`_Port._hessian_times_step`); True reproduces R's path.
R_HS_IS_ZERO = True

#: R's ``nlminb`` control names (``stats:::port_cpos``), in R's order.
NLMINB_CONTROL_NAMES = ("eval.max", "iter.max", "trace", "maxiter", "abs.tol", "rel.tol", "x.tol",
                        "xf.tol", "step.min", "step.max", "sing.tol", "scale.init", "diff.g")

# the PORT v[] index each real control sets (for R's out-of-range message) and its allowed range
_V_INDEX = {"abs.tol": 31, "rel.tol": 32, "x.tol": 33, "xf.tol": 34, "step.min": 35, "step.max": 36,
            "sing.tol": 37, "scale.init": 38, "diff.g": 42}
_V_RANGE = {"abs.tol": (0.0, _BIG), "rel.tol": (_MACHEP, 0.1), "x.tol": (0.0, 1.0),
            "xf.tol": (0.0, 1.0), "step.min": (_TINY, _BIG), "step.max": (_TINY, _BIG),
            "sing.tol": (0.0, 1.0), "scale.init": (-10.0, _BIG), "diff.g": (_MACHEP, 1.0)}

_MESSAGES = {3: "X-convergence (3)", 4: "relative convergence (4)",
             5: "both X-convergence and relative convergence (5)",
             6: "absolute function convergence (6)", 7: "singular convergence (7)",
             8: "false convergence (8)",
             9: "function evaluation limit reached without convergence (9)",
             10: "iteration limit reached without convergence (10)",
             14: "storage only has been allocated (14)", 15: "LIV too small (15)",
             16: "LV too small (16)", 63: "fn cannot be computed at initial par (63)",
             65: "gr cannot be computed at initial par (65)",
             300: "initial par violates constraints"}


def match_control_name(name: object) -> str | None:
    """The ``nlminb`` control a name selects, with R's ``pmatch`` (exact, else a unique prefix).

    Parameters
    ----------
    name : str
        A name as given in ``control``.

    Returns
    -------
    str or None
        The control's full name, or None when the name matches none or several.

    R equivalent: ``pmatch(name, names(stats:::port_cpos))``.

    Examples
    --------
    >>> match_control_name("eval"), match_control_name("x.tol"), match_control_name("s")
    ('eval.max', 'x.tol', None)
    """
    return pmatch(str(name), NLMINB_CONTROL_NAMES)


def port_message(code: int) -> str:
    """R's message for a PORT return code.

    R equivalent: ``stats:::port_msg(code)``.

    Parameters
    ----------
    code : int
        PORT's ``iv[1]`` at the end of the run.

    Returns
    -------
    str
        R's text, e.g. ``"relative convergence (4)"``.

    Examples
    --------
    >>> port_message(4)
    'relative convergence (4)'
    >>> port_message(82)
    'See PORT documentation.  Code (82)'
    """
    return _MESSAGES.get(int(code), f"See PORT documentation.  Code ({int(code)})")


@dataclass
class NlminbResult:
    """What R's ``nlminb`` returns.

    Attributes: ``par``, ``objective``, ``convergence`` (0 for PORT codes 3-6, else 1),
    ``iterations``, ``evaluations`` (``{"function": n, "gradient": m}``, the gradient count being
    the function evaluations made for finite differences), ``message`` (R's text) and ``code``
    (PORT's ``iv[1]``); ``path`` holds each evaluated point when asked for.

    R equivalent: the list returned by ``stats::nlminb``.

    Examples
    --------
    >>> r = nlminb([1.0], lambda p: (p[0] - 3.0) ** 2)
    >>> r.convergence, round(float(r.par[0]), 6)
    (0, 3.0)
    """
    par: np.ndarray
    objective: float
    convergence: int
    iterations: int
    evaluations: dict
    message: str
    code: int
    path: list = field(default_factory=list, repr=False)


class _Stop(Exception):
    """Internal: the run ends with PORT code ``code``."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


# ----------------------------------------------------------------------------------------------
# small linear-algebra kernels on a lower-triangular factor, in PORT's summation order
# ----------------------------------------------------------------------------------------------

def _dot(x: Sequence[float], y: Sequence[float], n: int) -> float:
    s = 0.0
    for i in range(n):
        s += x[i] * y[i]
    return s


def _norm(x: Sequence[float], n: int) -> float:
    s = 0.0
    for i in range(n):
        s += x[i] * x[i]
    return math.sqrt(s)


def _solve_lower(L: np.ndarray, y: Sequence[float], n: int) -> list:
    """x with L[:n,:n] x = y (leading zeros of y give zeros)."""
    x = [0.0] * n
    k = 0
    while k < n and y[k] == 0.0:
        k += 1
    if k == n:
        return x
    x[k] = y[k] / L[k, k]
    for i in range(k + 1, n):
        x[i] = (y[i] - _dot(L[i], x, i)) / L[i, i]
    return x


def _solve_upper_t(L: np.ndarray, y: Sequence[float], n: int) -> list:
    """x with L[:n,:n]' x = y, by columns from the last."""
    x = list(y[:n])
    for i in range(n - 1, -1, -1):
        xi = x[i] / L[i, i]
        x[i] = xi
        if i == 0:
            break
        if xi == 0.0:
            continue
        for j in range(i):
            x[j] -= xi * L[i, j]
    return x


def _lt_times(L: np.ndarray, y: Sequence[float], n: int) -> list:
    """L[:n,:n]' y accumulated row by row."""
    x = [0.0] * n
    for i in range(n):
        yi = y[i]
        for j in range(i + 1):
            x[j] += yi * L[i, j]
    return x


def _l_times(L: np.ndarray, y: Sequence[float], n: int) -> list:
    """L[:n,:n] y."""
    x = [0.0] * n
    for i in range(n - 1, -1, -1):
        t = 0.0
        for j in range(i + 1):
            t += L[i, j] * y[j]
        x[i] = t
    return x


def _reflector(a: float, b: float) -> tuple[float, float, float, float]:
    """2x2 Householder reflection zeroing b: (new a, x, y, z)."""
    if b == 0.0:
        return a, 0.0, 0.0, 0.0
    t = abs(a) + abs(b)
    a1, b1 = a / t, b / t
    c = math.sqrt(a1 * a1 + b1 * b1)
    if a1 > 0.0:
        c = -c
    a1 -= c
    return t * c, a1 / c, b1 / c, b1 / a1


def _move_to_end(L: np.ndarray, k: int, p: int, w: np.ndarray) -> None:
    """Cyclically move variable ``k`` (0-based) of the leading ``p`` block of ``L`` to position p-1
    and re-triangularise with reflections; ``w[:p]`` receives the new last row (scratch storage)."""
    if k >= p - 1:
        return
    w[:k + 1] = L[k, :k + 1]
    wj = w[k]
    for j in range(k, p - 1):
        L[j, :j] = L[j + 1, :j]
        a, b = L[j + 1, j], L[j + 1, j + 1]
        if b == 0.0:
            L[j, j] = a
            x = z = 0.0
            y = 0.0
        else:
            L[j, j], x, y, z = _reflector(a, b)
            for i in range(j + 2, p):
                t = L[i, j] * x + L[i, j + 1] * y
                L[i, j] += t
                L[i, j + 1] += t * z
        L[j, j + 1] = 0.0
        t = x * wj
        w[j] = wj + t
        wj = t * z
    w[p - 1] = wj
    L[p - 1, :p] = w[:p]


def _shift(a: list, k: int, n: int) -> None:
    """Move a[k] to a[n-1], shifting a[k+1:n] left (0-based k)."""
    if k >= n - 1:
        return
    t = a[k]
    a[k:n - 1] = a[k + 1:n]
    a[n - 1] = t


def _bfgs_factor_update(L: np.ndarray, n: int, s: list, y: list) -> None:
    """Update L in place so that L L' is the (damped) BFGS update of the old L L' for step s and
    gradient change y (Goldfarb's factor update; Powell's damping when y's < 0.1 s'Hs)."""
    w = _lt_times(L, s, n)
    shs = _dot(w, w, n)
    ys = _dot(y, s, n)
    if ys >= 0.1 * shs:
        cy = 1.0 / (math.sqrt(ys) * math.sqrt(shs))
        cs = 1.0 / shs
    else:
        theta = 0.9 * shs / (shs - ys)
        epsrt = math.sqrt(0.1)
        cy = theta / (shs * epsrt)
        cs = (1.0 + (theta - 1.0) / epsrt) / shs
    z = _solve_lower(L, y, n)
    z = [cy * z[i] - cs * w[i] for i in range(n)]
    # rank-two update of the factor: L+ = L * (I + z w') made triangular
    lam = [0.0] * n
    beta = [0.0] * n
    gamma = [0.0] * n
    nu, eta = 1.0, 0.0
    if n > 1:
        s_acc = 0.0
        for j in range(n - 2, -1, -1):
            s_acc += w[j + 1] ** 2
            lam[j] = s_acc
        for j in range(n - 1):
            wj = w[j]
            a = nu * z[j] - eta * wj
            theta = 1.0 + a * wj
            sj = a * lam[j]
            lj = math.sqrt(theta ** 2 + a * sj)
            if theta > 0.0:
                lj = -lj
            lam[j] = lj
            b = theta * wj + sj
            gamma[j] = b * nu / lj
            beta[j] = (a - b * eta) / lj
            nu = -nu / lj
            eta = -(eta + (a ** 2) / (theta - lj)) / lj
    lam[n - 1] = 1.0 + (nu * z[n - 1] - eta * w[n - 1]) * w[n - 1]
    for k in range(n):
        j = n - 1 - k
        lj = lam[j]
        ljj = L[j, j]
        L[j, j] = lj * ljj
        wj = w[j]
        w[j] = ljj * wj
        zj = z[j]
        z[j] = ljj * zj
        if k == 0:
            continue
        bj, gj = beta[j], gamma[j]
        for i in range(j + 1, n):
            lij = L[i, j]
            L[i, j] = lj * lij + bj * w[i] + gj * z[i]
            w[i] += lij * wj
            z[i] += lij * zj


# ----------------------------------------------------------------------------------------------
# the minimiser
# ----------------------------------------------------------------------------------------------

class _Port:
    """State of one bounded PORT run (names follow the quantities, not PORT's storage)."""

    def __init__(self, fn: Callable[[np.ndarray], float], x: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray, d: np.ndarray, ctrl: dict, record: bool, bounded: bool = True):
        self.fn = fn
        self.bounded = bounded
        self.n = n = len(x)
        self.x = [float(v) for v in x]
        self.lo = [float(v) for v in lower]
        self.hi = [float(v) for v in upper]
        self.d = [float(v) for v in d]
        self.eval_max = ctrl["eval.max"]
        self.iter_max = ctrl["iter.max"]
        self.trace = ctrl["trace"]
        self.afctol = ctrl["abs.tol"]
        self.rfctol = ctrl["rel.tol"]
        self.xctol = ctrl["x.tol"]
        self.xftol = ctrl["xf.tol"]
        self.lmax0 = ctrl["step.min"]
        self.lmaxs = ctrl["step.max"]
        self.sctol = ctrl["sing.tol"]
        self.eta0 = ctrl["diff.g"]
        self.record = record
        self.path: list = []
        # PORT tuning constants
        self.decfac, self.incfac, self.rdfcmn, self.rdfcmx = 0.5, 2.0, 0.1, 4.0
        self.tuner1, self.tuner2, self.tuner3, self.tuner4, self.tuner5 = 0.1, 1e-4, 0.75, 0.5, 0.75
        self.bias = 0.8
        # working storage
        self.L = np.zeros((n, n))
        for i in range(n):
            t = self.d[i]
            self.L[i, i] = t if t > 0.0 else 1.0
        self.perm = list(range(1, n + 1))       # 1-based, sign marks a lower bound hit in a dogleg
        self.g = [0.0] * n
        self.g0 = np.zeros(n)                   # previous gradient (shared with re-triangularisation)
        self.x0 = [0.0] * n
        self.step = [0.0] * n
        self.lstgst = [0.0] * n                 # last good x, also H*step for the gradient tests
        self.alpha = [0.0] * n
        # scalars (zero as R allocates them)
        for name in ("f", "f0", "fdif", "flstgd", "plstgd", "gtslst", "dstsav", "radfac", "radius",
                     "dstnrm", "dst0", "nreduc", "preduc", "gtstep", "stppar", "dgnorm", "gthg",
                     "grdfac", "nwtfac", "reldx"):
            setattr(self, name, 0.0)
        for name in ("niter", "nfcall", "ngcall", "nfgcal", "irc", "kagqt", "model", "mlstgd",
                     "stage", "stglim", "radinc", "restor", "switch", "xirc", "toobig", "cnvcod",
                     "nc"):
            setattr(self, name, 0)
        self.mode = -1

    # -- function evaluations ------------------------------------------------------------------
    def _eval(self, x: list) -> float:
        val = float(self.fn(np.array(x)))
        if math.isnan(val):
            warnings.warn("NA/NaN function evaluation", RuntimeWarning, stacklevel=4)
            val = math.inf
        if self.record:
            self.path.append((list(x), val))
        return val

    def _trace_line(self) -> None:
        if self.trace and self.niter % self.trace == 0:
            xs = "".join(" " + _fmt_g(v) for v in self.x)
            print("%3d:%#14.8g:%s" % (self.niter, self.f, xs))

    # -- finite-difference gradient (Stewart's step sizes, kept inside the box) ----------------
    def _gradient(self) -> None:
        n, L = self.n, self.L
        if self.niter == 0:
            self.g = [0.0] * n
        for i in range(n):
            self.alpha[self.perm[i] - 1] = _dot(L[i], L[i], i + 1)
        self.ngcall -= 1
        fx0 = self.f
        fx = fx0
        g = self.g
        x = self.x
        for i in range(n):
            lo, hi = self.lo[i], self.hi[i]
            if not lo < hi:
                g[i] = 0.0
                continue
            afx = abs(fx0)
            hmin = 50.0 * _MACHEP
            xi = x[i]
            axi = abs(xi)
            axibar = max(axi, 1.0 / self.d[i])
            gi = g[i]
            agi = abs(gi)
            eta = abs(self.eta0)
            if afx > 0.0:
                eta = max(eta, agi * axi * _MACHEP / afx)
            alphai = self.alpha[i]
            central = False
            if alphai == 0.0:
                h = axibar
            elif gi == 0.0 or fx == 0.0:
                h = _H0 * axibar
            else:
                afxeta = afx * eta
                aai = abs(alphai)
                if gi ** 2 > afxeta * aai:
                    h = 2.0 * math.sqrt(afxeta / aai)
                    h = h * (1.0 - aai * h / (3.0 * aai * h + 4.0 * agi))
                else:
                    h = 2.0 * (afxeta * agi) ** (1.0 / 3.0) * aai ** (-2.0 / 3.0)
                    h = h * (1.0 - 2.0 * agi / (3.0 * aai * h + 4.0 * agi))
                h = max(h, hmin * axibar)
                if aai * h <= 0.002 * agi:
                    if h >= 0.02 * axibar:
                        h = _H0 * axibar
                    if alphai * gi < 0.0:
                        h = -h
                else:
                    central = True
                    discon = 2000.0 * afxeta
                    h = discon / (agi + math.sqrt(gi ** 2 + aai * discon))
                    h = max(h, hmin * axibar)
                    if h >= 0.02 * axibar:
                        h = axibar * _H0 ** (2.0 / 3.0)
            if central:
                if xi - h < lo:
                    if xi + 2.0 * h > hi:
                        self._gradient_failed(fx0)
                    kind = "offside"
                elif xi + h <= hi:
                    kind = "central"
                else:
                    h = -h
                    if xi + 2.0 * h < lo:
                        self._gradient_failed(fx0)
                    kind = "offside"
            else:
                hit = False
                while True:
                    xih = xi + h
                    if (h > 0.0 and xih <= hi) or (h <= 0.0 and xih >= lo):
                        break
                    if hit:
                        self._gradient_failed(fx0)
                    hit = True
                    h = -h
                kind = "forward"
            x[i] = xi + h
            fh = self._eval(x)
            self.ngcall += 1
            if kind == "forward":
                fx = fh
                g[i] = (fx - fx0) / h
            elif kind == "central":
                x[i] = xi - h
                fx = self._eval(x)
                self.ngcall += 1
                g[i] = (fh - fx) / (2.0 * h)
            else:
                x[i] = xi + 2.0 * h
                fx = self._eval(x)
                self.ngcall += 1
                g[i] = (4.0 * fh - fx - 3.0 * fx0) / (2.0 * h)
            x[i] = xi

    def _gradient_failed(self, fx0: float) -> None:
        raise _Stop(65)

    # -- which variables are held at a bound ----------------------------------------------------
    def _fix_at_bounds(self) -> None:
        n, perm = self.n, self.perm
        if not self.bounded:
            self.nc = n
            self.dgnorm = _norm([self.g[i] / self.d[i] for i in range(n)], n)
            return
        n1 = n
        k = n - self.nc
        for i in range(1, n + 1):
            pos = n - i
            j = perm[pos] - 1
            lo, hi, xj, gj = self.lo[j], self.hi[j], self.x[j], self.g[j]
            fixed = (lo >= hi) or (xj <= lo and gj > 0.0) or (xj >= hi and gj < 0.0)
            if not fixed:
                if i <= k:
                    self.cnvcod = 0            # a variable was just freed: no convergence yet
                continue
            if pos + 1 < n1:
                _shift(perm, pos, n1)
                _move_to_end(self.L, pos, n1, self.g0)    # PORT's scratch is the old gradient
            n1 -= 1
        self.nc = n1
        self.dgnorm = 0.0
        if n1 > 0:
            dg = [self.g[perm[i] - 1] / self.d[perm[i] - 1] for i in range(n)]
            self.dgnorm = _norm(dg, n1)

    # -- double dogleg inside the trust region, bent at the bounds ------------------------------
    def _dogleg(self, dig: list, p1: int, nwtst: list, step: list) -> None:
        nwtnrm = self.dst0
        rlambd = self.radius / nwtnrm if nwtnrm > 0.0 else 1.0
        gnorm = self.dgnorm
        ghinvg = 2.0 * self.nreduc
        self.grdfac = 0.0
        self.nwtfac = 0.0
        if rlambd >= 1.0:                       # Newton step inside the region
            self.stppar = 0.0
            self.dstnrm = nwtnrm
            self.gtstep = -ghinvg
            self.preduc = self.nreduc
            self.nwtfac = -1.0
            for i in range(p1):
                step[i] = -nwtst[i]
            return
        self.dstnrm = self.radius
        cfact = (gnorm / self.gthg) ** 2
        cnorm = gnorm * cfact
        relax = 1.0 - self.bias * (1.0 - gnorm * cnorm / ghinvg)
        if rlambd >= relax:                     # between relaxed and full Newton steps
            self.stppar = 1.0 - (rlambd - relax) / (1.0 - relax)
            t = -rlambd
            self.gtstep = t * ghinvg
            self.preduc = rlambd * (1.0 - 0.5 * rlambd) * ghinvg
            self.nwtfac = t
            for i in range(p1):
                step[i] = t * nwtst[i]
            return
        if cnorm >= self.radius:                # scaled Cauchy step
            t = -self.radius / gnorm
            self.grdfac = t
            self.stppar = 1.0 + cnorm / self.radius
            self.gtstep = -self.radius * gnorm
            self.preduc = self.radius * (gnorm - 0.5 * self.radius * (self.gthg / gnorm) ** 2)
            for i in range(p1):
                step[i] = t * dig[i]
            return
        ctrnwt = cfact * relax * ghinvg / gnorm
        t1 = ctrnwt - gnorm * cfact ** 2
        t2 = self.radius * (self.radius / gnorm) - gnorm * cfact ** 2
        t = relax * nwtnrm
        femnsq = (t / gnorm) * t - ctrnwt - t1
        t = t2 / (t1 + math.sqrt(t1 ** 2 + femnsq * t2))
        t1 = (t - 1.0) * cfact
        self.grdfac = t1
        t2 = -t * relax
        self.nwtfac = t2
        self.stppar = 2.0 - t
        self.gtstep = t1 * gnorm ** 2 + t2 * ghinvg
        self.preduc = (-t1 * gnorm * ((t2 + 1.0) * gnorm) - t2 * (1.0 + 0.5 * t2) * ghinvg
                       - 0.5 * (self.gthg * t1) ** 2)
        for i in range(p1):
            step[i] = t1 * dig[i] + t2 * nwtst[i]

    def _free_step(self) -> None:
        """The unbounded routine's step: Newton step once per iteration, then the dogleg."""
        n, L, d = self.n, self.L, self.d
        if self.kagqt < 0:
            nw = _solve_lower(L, self.g, n)
            self.nreduc = 0.5 * _dot(nw, nw, n)
            self._nwtst = _solve_upper_t(L, nw, n)
            self.dst0 = _norm([self._nwtst[i] * d[i] for i in range(n)], n)
            self._dig = [self.g[i] / d[i] / d[i] for i in range(n)]
            self.gthg = _norm(_lt_times(L, self._dig, n), n)
            self.kagqt = 0
        step = [0.0] * n
        self._dogleg(self._dig, n, self._nwtst, step)
        self.step = step

    def _bounded_step(self) -> None:
        if not self.bounded:
            self._free_step()
            return
        n, pc, perm, L = self.n, self.nc, self.perm, self.L
        gnorm0 = self.dgnorm
        self.dstnrm = 0.0
        dnwtst = nred = 0.0
        if self.kagqt >= 0:
            dnwtst, nred = self.dst0, self.nreduc
        pred = 0.0
        self.stppar = 0.0
        rad = self.radius
        p1 = pc
        step_out = [0.0] * n
        if pc <= 0:
            dnwtst = 0.0
        else:
            td = [self.d[perm[i] - 1] for i in range(n)]
            dst = [0.0] * n
            tg = [self.g[perm[i] - 1] for i in range(n)]
            step = [0.0] * n
            w = [0.0] * n
            gnorm = 0.0
            while True:
                nwtst = _solve_lower(L, tg, p1)
                ghinvg = _dot(nwtst, nwtst, p1)
                self.nreduc = 0.5 * ghinvg
                nwtst = _solve_upper_t(L, nwtst, p1)
                for i in range(p1):
                    step[i] = nwtst[i] * td[i]
                self.dst0 = _norm(step, pc)
                if self.kagqt < 0:
                    self.kagqt = 0
                    dnwtst, nred = self.dst0, self.nreduc
                self.radius = rad - self.dstnrm
                if self.radius <= 0.0:
                    break
                dig = [tg[i] / td[i] for i in range(p1)]
                gnorm = _norm(dig, p1)
                if gnorm <= 0.0:
                    break
                self.dgnorm = gnorm
                dig = [dig[i] / td[i] for i in range(p1)]
                w[:p1] = _lt_times(L, dig, p1)
                self.gthg = _norm(w, p1)
                self.kagqt += 1
                self._dogleg(dig, p1, nwtst, step)
                # largest t with x0 + dst + t*step feasible
                t, k = 1.0, 0
                for i in range(p1):
                    j = perm[i] - 1
                    x0i = self.x0[j] + dst[i] / td[i]
                    xi = x0i + step[i]
                    if xi < self.lo[j]:
                        ti, jj = (self.lo[j] - x0i) / step[i], -(i + 1)
                    elif xi <= self.hi[j]:
                        continue
                    else:
                        ti, jj = (self.hi[j] - x0i) / step[i], i + 1
                    if t > ti:
                        k, t = jj, ti
                for i in range(p1):
                    step[i] = step[i] * td[i]
                for i in range(p1):
                    dst[i] = t * step[i] + dst[i]
                self.dstnrm = _norm(dst, pc)
                t1 = t * self.grdfac
                t2 = t * self.nwtfac
                pred = (pred - t1 * gnorm * ((t2 + 1.0) * gnorm) - t2 * (1.0 + 0.5 * t2) * ghinvg
                        - 0.5 * (self.gthg * t1) ** 2)
                if k == 0:
                    break
                w[:p1] = _l_times(L, w, p1)
                t2 = 1.0 - t2
                for i in range(p1):
                    tg[i] = t2 * tg[i] - t1 * w[i]
                j = abs(k)
                if j != p1:
                    wscr = np.zeros(n)
                    _move_to_end(L, j - 1, p1, wscr)
                    _shift(perm, j - 1, p1)
                    _shift(tg, j - 1, p1)
                    _shift(td, j - 1, p1)
                    _shift(dst, j - 1, p1)
                if k < 0:
                    perm[p1 - 1] = -perm[p1 - 1]
                p1 -= 1
                if p1 <= 0:
                    break
            for i in range(pc):
                step_out[abs(perm[i]) - 1] = dst[i] / td[i]
            if p1 < pc:             # push the variables that hit a bound just past it
                xnew = [step_out[i] + self.x0[i] for i in range(n)]
                meps2 = 2.0 * _MACHEP
                for i in range(p1, pc):
                    j = perm[i]
                    t = meps2
                    if j <= 0:
                        t = -t
                        j = -j
                        perm[i] = j
                    t = t * max(abs(xnew[j - 1]), abs(self.x0[j - 1]))
                    step_out[j - 1] += t
        self.step = step_out
        self.dgnorm = gnorm0
        self.nreduc = nred
        self.preduc = pred
        self.radius = rad
        self.dst0 = dnwtst
        self.gtstep = _dot(step_out, self.g, n)

    # -- step assessment (PORT's rules) ----------------------------------------------------------
    def _assess(self) -> None:  # noqa: C901 - one decision table
        nfc = self.nfcall
        self.switch = 0
        self.restor = 0
        rfac1 = 1.0
        goodx = True
        emax = emaxs = 0.0
        i = self.irc
        if not 1 <= i <= 12:
            self.irc = 13
            return
        lab = {1: 20, 2: 30, 3: 10, 4: 10, 5: 40, 6: 280, 12: 170}.get(i, 220)
        while True:
            if lab == 10:
                self.stage = 1
                self.radinc = 0
                self.flstgd = self.f0
                if self.toobig == 0:
                    lab = 110
                    continue
                self.stage = -1
                self.xirc = i
                lab = 60
            elif lab == 20:
                if self.model != self.mlstgd:
                    lab = 30
                    continue
                self.stage = self.stglim
                self.radinc = -1
                lab = 110
            elif lab == 30:
                self.stage += 1
                lab = 40
            elif lab == 40:
                if self.stage > 0:
                    lab = 50
                    continue
                if self.toobig != 0:
                    lab = 60
                    continue
                self.stage = -self.stage
                lab = {1: 20, 2: 30, 3: 110, 4: 110, 5: 70}.get(self.xirc, 50)
            elif lab == 50:
                if self.toobig == 0:
                    lab = 70
                    continue
                self.toobig = 0
                if self.radinc > 0:
                    lab = 80
                    continue
                self.stage = -self.stage
                self.xirc = self.irc
                lab = 60
            elif lab == 60:
                self.toobig = 0
                self.radfac = self.decfac
                self.radinc -= 1
                self.irc = 5
                self.restor = 1
                self.f = self.flstgd
                return
            elif lab == 70:
                if self.f < self.flstgd:
                    lab = 110
                    continue
                if self.model != self.mlstgd:
                    self.model = self.mlstgd
                    self.switch = 1
                lab = 80
            elif lab == 80:
                if self.flstgd >= self.f0:
                    lab = 110
                    continue
                if (self.stage < self.stglim or nfc < self.nfgcal + self.stglim + 2
                        or self.switch != 0):
                    goodx = False
                self.restor = 3
                self.f = self.flstgd
                self.preduc = self.plstgd
                self.gtstep = self.gtslst
                if self.switch == 0:
                    rfac1 = self.dstnrm / self.dstsav
                self.dstnrm = self.dstsav
                if goodx:
                    self.fdif = self.f0 - self.f
                    self.irc = 4
                    self.radfac = rfac1
                    return
                nfc = self.nfgcal
                lab = 110
            elif lab == 110:
                self.fdif = self.f0 - self.f
                if self.fdif > self.tuner2 * self.preduc or self.radinc > 0:
                    lab = 140
                    continue
                if self.f >= self.f0:
                    self.mlstgd = self.model
                    self.flstgd = self.f
                    self.f = self.f0
                    self.restor = 1
                else:
                    self.nfgcal = nfc
                self.irc = 1
                if self.stage >= self.stglim:
                    self.irc = 5
                    self.radinc -= 1
                lab = 160
            elif lab == 140:
                self.nfgcal = nfc
                rfac1 = 1.0
                self.dstsav = self.dstnrm
                if self.fdif > self.preduc * self.tuner1:
                    lab = 190
                    continue
                self.irc = 4 if self.stage >= self.stglim else 2
                lab = 160
            elif lab == 160:
                self.xirc = self.irc
                emax = self.gtstep + self.fdif
                self.radfac = 0.5 * rfac1
                if emax < self.gtstep:
                    self.radfac = rfac1 * max(self.rdfcmn, 0.5 * self.gtstep / emax)
                lab = 170
            elif lab == 170:
                if self.reldx <= self.xftol:
                    self.irc = 12
                    lab = 240
                    continue
                self.irc = self.xirc
                lab = 200 if self.f < self.f0 else 230
            elif lab == 190:
                if (self.fdif < -self.tuner3 * self.gtstep or self.radinc < 0
                        or self.restor in (1, 3)):
                    self.radfac = 1.0
                    self.irc = 3
                    lab = 230
                    continue
                self.radfac = self.rdfcmx
                gts = self.gtstep
                if self.fdif < (0.5 / self.radfac - 1.0) * gts:
                    self.radfac = max(self.incfac, 0.5 * gts / (gts + self.fdif))
                self.irc = 4
                if self.stppar == 0.0:
                    lab = 230
                    continue
                if self.dst0 >= 0.0 and (self.dst0 < 2.0 * self.dstnrm
                                         or self.nreduc < 1.2 * self.fdif):
                    lab = 230
                    continue
                self.irc = 5
                self.radinc += 1
                lab = 200
            elif lab == 200:
                self.flstgd = self.f
                self.mlstgd = self.model
                if self.restor == 0:
                    self.restor = 2
                self.dstsav = self.dstnrm
                self.nfgcal = nfc
                self.plstgd = self.preduc
                self.gtslst = self.gtstep
                lab = 230
            elif lab == 220:
                self.irc = self.xirc
                if self.dstsav < 0.0:
                    self.irc = 12
                lab = 240
            elif lab == 230:
                self.xirc = self.irc
                lab = 240
            elif lab == 240:
                if self.restor == 1 and self.flstgd < self.f0:
                    self.restor = 3
                if abs(self.f) < self.afctol:
                    self.irc = 10
                if 0.5 * self.fdif > self.preduc:
                    return
                emax = self.rfctol * abs(self.f0)
                emaxs = self.sctol * abs(self.f0)
                if self.preduc <= emaxs and (self.dstnrm > self.lmaxs or self.stppar == 0.0):
                    self.irc = 11
                if self.dst0 >= 0.0:
                    k = 0
                    if ((self.nreduc > 0.0 and self.nreduc <= emax)
                            or (self.nreduc == 0.0 and self.preduc == 0.0)):
                        k = 2
                    if self.stppar == 0.0 and self.reldx <= self.xctol and goodx:
                        k += 1
                    if k > 0:
                        self.irc = k + 6
                lab = 250
            elif lab == 250:
                if (self.irc > 5 and self.irc != 12) or self.stppar == 0.0:
                    return
                if self.dstnrm > self.lmaxs:
                    if 0.5 * self.dstnrm <= self.lmaxs:
                        return
                    xmax = self.lmaxs / self.dstnrm
                    if xmax * (2.0 - xmax) * self.preduc >= emaxs:
                        return
                else:
                    if self.preduc >= emaxs:
                        return
                    if self.dst0 > 0.0 and 0.5 * self.dst0 <= self.lmaxs:
                        return
                lab = 270
            elif lab == 270:
                if self.nreduc < 0.0:
                    lab = 290
                    continue
                self.gtslst = self.gtstep
                self.dstsav = self.dstnrm
                if self.irc == 12:
                    self.dstsav = -self.dstsav
                self.plstgd = self.preduc
                prev = self.restor
                self.restor = 0 if prev == 3 else 2
                self.irc = 6
                return
            elif lab == 280:
                self.gtstep = self.gtslst
                self.dstnrm = abs(self.dstsav)
                self.irc = self.xirc
                if self.dstsav <= 0.0:
                    self.irc = 12
                self.nreduc = -self.preduc
                self.preduc = self.plstgd
                self.restor = 3
                lab = 290
            elif lab == 290:
                if -self.nreduc <= self.sctol * abs(self.f0):
                    self.irc = 11
                return

    # -- helpers of the main loop ----------------------------------------------------------------
    def _reldx(self) -> float:
        emax = xmax = 0.0
        for i in range(self.n):
            t = abs(self.d[i] * (self.x[i] - self.x0[i]))
            if emax < t:
                emax = t
            t = self.d[i] * (abs(self.x[i]) + abs(self.x0[i]))
            if xmax < t:
                xmax = t
        return emax / xmax if xmax > 0.0 else 0.0

    def _project(self) -> None:
        for i in range(self.n):
            if self.x[i] < self.lo[i]:
                self.x[i] = self.lo[i]
            if self.x[i] > self.hi[i]:
                self.x[i] = self.hi[i]

    def _hessian_times_step(self) -> None:
        """``H step`` for the gradient tests that may double the trust radius.

        R's compiled PORT forms ``L' s`` in place on an aliased argument, and the build R 4.2.2 is
        compiled with (gfortran, optimised) yields zero there, so R's test compares ``|y / d|`` with
        ``|g / d| / 2``.  ``R_HS_IS_ZERO`` keeps R's behaviour; set it to False for PORT's intent."""
        n, perm = self.n, self.perm
        if not self.bounded:          # the unbounded routine's product is not aliased
            self.lstgst = _l_times(self.L, _lt_times(self.L, self.step, n), n)
            return
        if R_HS_IS_ZERO:
            self.lstgst = [0.0] * n
            return
        tmp = [self.step[perm[i] - 1] for i in range(n)]
        tmp = _l_times(self.L, _lt_times(self.L, tmp, n), n)
        for i in range(n):
            self.lstgst[perm[i] - 1] = tmp[i]

    def _new_gradient_then_update(self) -> str:
        """Gradient at x, bound activity, then the secant update (or stop); returns the next label."""
        self._gradient()
        self._fix_at_bounds()
        if self.cnvcod != 0:
            raise _Stop(self.cnvcod)
        if self.mode != 0:
            self.radius = self.lmax0
            self.mode = 0
            return "iterate"
        n, perm = self.n, self.perm
        y = [self.g[i] - self.g0[i] for i in range(n)]
        if self.irc == 3:
            t = [(self.lstgst[i] - y[i]) / self.d[i] for i in range(n)]
            if (_norm(t, n) <= self.dgnorm * self.tuner4
                    or _dot(self.g, self.step, n) < self.gtstep * self.tuner5):
                self.radfac = self.incfac
        sp = [self.step[perm[i] - 1] for i in range(n)]
        yp = [y[perm[i] - 1] for i in range(n)]
        _bfgs_factor_update(self.L, n, sp, yp)
        return "iterate"

    # -- the driver -----------------------------------------------------------------------------
    def run(self) -> int:
        n = self.n
        self.niter = 0
        self.nfcall = self.ngcall = self.nfgcal = 1
        for i in range(n):
            if self.lo[i] > self.hi[i]:
                return 82
        self.model = self.stglim = 1
        self.nc = n
        self._project()
        self.f = self.f0 = self._eval(self.x)
        try:
            lab = self._new_gradient_then_update()
            rstrst = 3
            while True:
                if lab == "iterate":
                    self._trace_line()
                    k = self.niter
                    if k >= self.iter_max:
                        raise _Stop(10)
                    self.niter = k + 1
                    if k != 0:
                        t = self.radfac * self.dstnrm
                        if not self.bounded or self.radfac < 1.0 or t > self.radius:
                            self.radius = t
                    self.f0 = self.f
                    self.irc = 4
                    self.kagqt = -1
                    self.x0 = list(self.x)
                    lab = "limit"
                elif lab == "limit":
                    if self.nfcall >= self.eval_max:
                        if self.f >= self.f0:
                            raise _Stop(9)
                        self.cnvcod = 9
                        lab = "gradient"
                        continue
                    lab = "step"
                elif lab == "step":
                    self._bounded_step()
                    if self.irc == 6:
                        if self.restor != 2:
                            rstrst = 3
                        else:
                            rstrst = 2
                        lab = "assess"
                        continue
                    self.toobig = 0
                    rstrst = 3
                    if self.dstnrm <= 0.0:
                        lab = "assess"
                        continue
                    if self.irc == 5 and self.radfac > 1.0 and self.preduc <= 1.2 * self.fdif:
                        rstrst = 3 if self.restor != 2 else 0
                        lab = "assess"
                        continue
                    self.x = [self.step[i] + self.x0[i] for i in range(n)]
                    self.nfcall += 1
                    if self.bounded:
                        self._project()
                    self.f = self._eval(self.x)
                    rstrst = 3
                    lab = "assess"
                elif lab == "assess":
                    self.reldx = self._reldx()
                    self._assess()
                    if self.restor == 1:
                        self.x = list(self.x0)
                    elif self.restor == 2:
                        self.lstgst = list(self.x if self.bounded else self.step)
                    elif self.restor == 3:
                        if self.bounded:
                            self.x = list(self.lstgst)
                            self.step = [self.x[i] - self.x0[i] for i in range(n)]
                        else:
                            self.step = list(self.lstgst)
                            self.x = [self.step[i] + self.x0[i] for i in range(n)]
                        self.reldx = self._reldx()
                        self.restor = rstrst
                    k = self.irc
                    if k in (1, 5):
                        self.radius = self.radfac * self.dstnrm
                        lab = "limit"
                    elif k in (2, 3, 4):
                        lab = "accept"
                    elif k == 6:
                        self.radius = self.lmaxs
                        lab = "step"
                    elif 7 <= k <= 12:
                        self.cnvcod = k - 4
                        if self.f >= self.f0 or self.xirc == 14:
                            raise _Stop(self.cnvcod)
                        self.xirc = 14
                        lab = "accept"
                    else:
                        raise _Stop(64)
                elif lab == "accept":
                    if self.bounded:
                        self.step = [self.x[i] - self.x0[i] for i in range(n)]
                    if self.irc == 3:
                        self._hessian_times_step()
                    lab = "gradient"
                elif lab == "gradient":
                    self.g0[:] = self.g
                    self.ngcall += 1
                    self.toobig = 0
                    lab = self._new_gradient_then_update()
        except _Stop as stop:
            if self.trace:
                self._trace_line()
            return stop.code


def _fmt_g(v: float) -> str:
    return "%#8g" % v


def _control(control: Mapping | None, n: int) -> tuple[dict, int | None, str | None]:
    ctrl = {"eval.max": 200, "iter.max": 150, "trace": 0, "abs.tol": 0.0, "rel.tol": 1e-10,
            "x.tol": 1.4901161193847656e-08, "xf.tol": 2.220446049250313e-14, "step.min": 1.0,
            "step.max": 1.0, "sing.tol": 1e-10, "scale.init": -1.0, "diff.g": 1000.0 * _MACHEP}
    given: dict = {}
    if control:
        if not isinstance(control, Mapping):
            raise DataError("'control' argument must be a named list")
        unknown = []
        for name, value in control.items():
            full = match_control_name(name)
            if full is None:
                unknown.append(str(name))
                continue
            given["iter.max" if full == "maxiter" else full] = value
        if unknown:
            quoted = ", ".join(f"\u2018{u}\u2019" for u in unknown)
            # R's ngettext counts all the control elements, not the unrecognised ones
            noun = "element named" if len(control) == 1 else "elements named"
            warnings.warn(f"unrecognized control {noun} {quoted} ignored", UserWarning, stacklevel=3)
    for key, value in given.items():
        try:
            ctrl[key] = int(value) if key in ("eval.max", "iter.max", "trace") else float(value)
        except (TypeError, ValueError):
            raise DataError(f"nlminb control {key!r} must be a number, got {value!r}") from None
    bad_code = bad_name = None
    for key in ("abs.tol", "rel.tol", "x.tol", "xf.tol", "step.min", "step.max", "sing.tol",
                "scale.init", "diff.g"):
        lo, hi = _V_RANGE[key]
        if not lo <= ctrl[key] <= hi:
            bad_code, bad_name = _V_INDEX[key], key
    return ctrl, bad_code, bad_name


def nlminb(start: Sequence[float] | np.ndarray, objective: Callable[[np.ndarray], float],
           gradient: Callable | None = None, hessian: Callable | None = None,
           scale: float | Sequence[float] = 1.0, control: Mapping | None = None,
           lower: float | Sequence[float] = -math.inf, upper: float | Sequence[float] = math.inf,
           record_path: bool = False) -> NlminbResult:
    """Minimise ``objective`` from ``start`` within ``[lower, upper]`` as R's ``nlminb``.

    The PORT library's bounded quasi-Newton (BFGS secant) trust-region method with a double-dogleg
    step and finite-difference gradients (Stewart's step sizes); see the module docstring.

    R equivalent: ``stats::nlminb(start, objective, scale=, control=, lower=, upper=)``.

    Parameters
    ----------
    start : sequence of float
        Starting point (projected into the box before the first evaluation, as R does).
    objective : callable
        ``objective(x) -> float``; a NaN is taken as ``+Inf`` with R's warning
        ``"NA/NaN function evaluation"``.
    gradient, hessian : None
        Only the derivative-free case is implemented; passing either raises :class:`DataError`.
    scale : float or sequence of float
        PORT's ``d``: the variables' scale (recycled to the length of ``start``).
    control : mapping, optional
        R's names (partial matching as R's ``pmatch``): ``eval.max`` (200), ``iter.max`` (150;
        alias ``maxiter``), ``trace`` (0), ``abs.tol`` (0), ``rel.tol`` (1e-10), ``x.tol`` (1.5e-8),
        ``xf.tol`` (2.2e-14), ``step.min`` (1), ``step.max`` (1), ``sing.tol`` (1e-10: PORT's
        default equals ``rel.tol``'s, but setting ``rel.tol`` leaves it, as in R),
        ``scale.init``, ``diff.g``.  Unknown names are ignored with R's warning.
    lower, upper : float or sequence of float
        Bounds, recycled to the length of ``start``.
    record_path : bool
        Keep every evaluated point and value in ``result.path`` (for comparing paths).

    Returns
    -------
    NlminbResult
        ``par``, ``objective``, ``convergence``, ``iterations``, ``evaluations``, ``message``.
        As in R, ``objective`` is called once more at the returned ``par`` after PORT stops (R's
        driver loop evaluates before testing PORT's code); that call is not counted.

    Examples
    --------
    >>> rosen = lambda p: 100 * (p[1] - p[0] ** 2) ** 2 + (1 - p[0]) ** 2
    >>> r = nlminb([-1.2, 1.0], rosen, lower=[-2, -2], upper=[2, 2])
    >>> r.message, r.iterations, r.evaluations
    ('X-convergence (3)', 37, {'function': 47, 'gradient': 77})
    >>> [round(float(v), 6) for v in r.par]
    [1.0, 1.0]
    """
    if gradient is not None or hessian is not None:
        raise DataError("nlminb: only the derivative-free case (gradient=None, hessian=None) is "
                        "implemented")
    try:
        x = np.atleast_1d(np.asarray(start, dtype=float)).ravel()
    except (TypeError, ValueError):
        raise DataError(f"nlminb: 'start' must be numeric, got {start!r}") from None
    n = len(x)
    if n < 1:
        raise DataError("'d' must be a nonempty numeric vector")

    def recycle(v: object, what: str) -> np.ndarray:
        try:
            a = np.atleast_1d(np.asarray(v, dtype=float)).ravel()
        except (TypeError, ValueError):
            raise DataError(f"nlminb: '{what}' must be numeric, got {v!r}") from None
        if len(a) == 0:
            raise DataError(f"nlminb: '{what}' has length zero")
        return np.resize(a, n)

    lo, hi, d = recycle(lower, "lower"), recycle(upper, "upper"), recycle(scale, "scale")
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise DataError("nlminb: NA bounds")
    ctrl, bad_code, bad_name = _control(control, n)
    if ctrl["scale.init"] >= 0.0:
        d = np.full(n, ctrl["scale.init"])
    bounded = bool(np.any(lo != -math.inf) or np.any(hi != math.inf))
    port = _Port(objective, x, lo, hi, d, ctrl, record_path, bounded)
    if bad_code is not None:
        port._eval(port.x)
        code = bad_code
        message = (f"'control' component '{bad_name}' = {_r_g(ctrl[bad_name])}, is out of range")
        return NlminbResult(np.array(port.x), 0.0, 1, 0, {"function": 0, "gradient": 0},
                            message, code, port.path)
    if (d <= 0.0).any():
        port._eval(port.x)
        code = 18
        return NlminbResult(np.array(port.x), 0.0, 1, 0, {"function": 0, "gradient": 0},
                            port_message(code), code, port.path)
    code = port.run()
    port.f_last = port._eval(port.x)      # R's driver loop evaluates once more after PORT stops
    return NlminbResult(par=np.array(port.x), objective=float(port.f),
                        convergence=0 if 3 <= code <= 6 else 1, iterations=int(port.niter),
                        evaluations={"function": int(port.nfcall), "gradient": int(port.ngcall)},
                        message=port_message(code), code=int(code), path=port.path)


def _r_g(v: float) -> str:
    """C's ``%g`` as R's ``sprintf("%g")``."""
    return "%g" % v
