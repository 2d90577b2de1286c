"""lme4's convergence checks after a fit: ``deriv12`` (``calc.derivs``) and ``checkConv``.

lme4 1.1-31 computes, after every ``lmer`` fit with ``calc.derivs = TRUE``, a central
finite-difference gradient and Hessian of the criterion at the optimum (``lme4:::deriv12``, step
``1e-4`` on every theta, no bounds: a diagonal on 0 is stepped to -1e-4, where the criterion is the
mirror image) and then ``lme4:::checkConv``:

1. ``check.conv.singular``: a template diagonal below ``tol`` (1e-4) gives lme4's
   ``"boundary (singular) fit: see help('isSingular')"`` and **ends the checks** (no gradient or
   Hessian check on singular fits).
2. ``check.conv.grad``: the scaled gradient ``solve(chol(H), g)``; when
   ``max(pmin(|scaled|, |g|)) > tol`` (0.002): ``"Model failed to converge with max|grad| = %g
   (tol = %g, component %d)"``.  lme4 computes the component as ``which.max`` of that single
   maximum, so it always reports component 1; we print what lme4 prints (R's behaviour, a known
   slip) and keep the true component in ``ConvResult.component``.
3. ``check.conv.hess``: eigenvalues of H: negative ones give ``"Model failed to converge:
   degenerate  Hessian with %d negative eigenvalues"`` (two spaces, as lme4 pastes an empty
   Hessian type), zero ones ``" Hessian is numerically singular: parameters are not uniquely
   determined"``, and otherwise ``"Model is nearly unidentifiable: very large eigenvalue\\n -
   Rescale variables?"`` (largest eigenvalue above 1/tol) and ``"... large eigenvalue ratio ..."``.
   Both of the last two are given as one warning joined by ``";"``, as lme4.

The same result lands in ``m.optinfo["conv"]["lme4"]`` (``code``, ``messages``), as lme4's
``@optinfo$conv$lme4``; the derivatives in ``m.optinfo["derivs"]``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from mixedcompat.errors import (SINGULAR_MESSAGE, ConvergenceError, GradientWarning, HessianWarning,
                     SingularFitWarning)

DERIV_DELTA = 1e-4
"""lme4's ``deriv12`` step."""

CONV_ACTIONS = ("ignore", "warning", "stop")
SINGULAR_ACTIONS = ("ignore", "message", "warning", "stop")


@dataclass(frozen=True)
class Derivs:
    """Gradient and Hessian of the criterion in theta (lme4's ``@optinfo$derivs``)."""

    gradient: np.ndarray
    Hessian: np.ndarray

    def as_dict(self) -> dict:
        return {"gradient": self.gradient.copy(), "Hessian": self.Hessian.copy()}


@dataclass(frozen=True)
class ConvResult:
    """What lme4's ``checkConv`` returns (``code``, ``messages``) and which warnings it raised.

    ``code`` is None where lme4 leaves it unset (no problem found), ``emitted`` the
    ``(category, text)`` pairs to warn with, in lme4's order; ``component`` the 1-based index of
    the largest scaled-gradient entry (lme4's message always says 1, see the module docstring).
    """

    code: int | list[int] | None = None
    messages: tuple[str, ...] = ()
    emitted: tuple[tuple[type, str], ...] = ()
    singular: bool = False
    component: int | None = None
    max_grad: float | None = None

    def as_dict(self) -> dict:
        out: dict = {"messages": list(self.messages)}
        if self.code is not None:
            out["code"] = self.code
        return out


def deriv_points(theta: np.ndarray, delta: float = DERIV_DELTA) -> np.ndarray:
    """The points at which :func:`deriv12` evaluates the criterion, one per row.

    Order: for each j, ``x + d e_j`` and ``x - d e_j``; then, for each pair i < j, the four points
    ``x +- d e_i +- d e_j`` (``++, +-, -+, --``).  2 p^2 points in all.

    Examples
    --------
    >>> deriv_points(np.array([1.0, 2.0]), 0.5).shape
    (8, 2)
    """
    x = np.asarray(theta, dtype=float)
    p = len(x)
    eye = np.eye(p) * delta
    pts = [np.stack([x + eye, x - eye], axis=1).reshape(2 * p, p)]
    if p > 1:
        i, j = np.triu_indices(p, 1)
        signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float)
        di = eye[i][:, None, :] * signs[None, :, 0, None]
        dj = eye[j][:, None, :] * signs[None, :, 1, None]
        pts.append((x[None, None, :] + di + dj).reshape(-1, p))
    return np.concatenate(pts, axis=0)


def deriv12(fun: Callable[[np.ndarray], float], theta: np.ndarray, fx: float | None = None,
            delta: float = DERIV_DELTA,
            fun_many: Callable[[np.ndarray], np.ndarray] | None = None) -> Derivs:
    """Central finite-difference gradient and Hessian of ``fun`` at ``theta``, as ``lme4:::deriv12``.

    Parameters
    ----------
    fun : callable
        The criterion, a function of theta.
    theta : ndarray
        Where to differentiate.
    fx : float, optional
        ``fun(theta)`` if already known.
    delta : float
        The step (lme4: 1e-4 on every coordinate, no bounds).
    fun_many : callable, optional
        Evaluates the criterion at every row of a matrix of thetas at once (a batched fast path);
        by default ``fun`` row by row.

    Examples
    --------
    >>> d = deriv12(lambda t: float(t[0] ** 2 + 3 * t[0] * t[1]), np.array([1.0, 2.0]))
    >>> np.round(d.gradient, 6).tolist(), np.round(d.Hessian, 4).tolist()
    ([8.0, 3.0], [[2.0, 3.0], [3.0, 0.0]])
    """
    x = np.asarray(theta, dtype=float)
    p = len(x)
    if fx is None:
        fx = fun(x)
    pts = deriv_points(x, delta)
    vals = np.asarray(fun_many(pts) if fun_many is not None else [fun(pt) for pt in pts], dtype=float)
    fadd, fsub = vals[0:2 * p:2], vals[1:2 * p:2]
    with np.errstate(invalid="ignore"):
        grad = (fadd - fsub) / (2.0 * delta)
    H = np.empty((p, p))
    with np.errstate(invalid="ignore"):
        H[np.diag_indices(p)] = fadd / delta ** 2 - 2.0 * fx / delta ** 2 + fsub / delta ** 2
    if p > 1:
        i, j = np.triu_indices(p, 1)
        four = vals[2 * p:].reshape(-1, 4)
        d2 = (2.0 * delta) ** 2
        with np.errstate(invalid="ignore"):
            h = four[:, 0] / d2 - four[:, 1] / d2 - four[:, 2] / d2 + four[:, 3] / d2
        H[i, j] = h
        H[j, i] = h
    return Derivs(grad, H)


def make_cc(action: str, tol: float, relTol: float | None = None) -> dict:
    """A convergence-check setting for ``lmer`` / ``glmer``'s ``control``, as lme4's ``.makeCC``.

    R equivalent: ``lme4::.makeCC(action = "warning", tol = 2e-3, relTol = NULL)``, as in ``lmerControl(check.conv.grad = .makeCC("warning", tol = 1e-3))``.

    The keys of ``control`` that take it: ``check_conv_grad`` (default ``make_cc("warning",
    tol=0.002)``; a relative gradient check with ``relTol``), ``check_conv_singular`` (default
    ``make_cc("message", tol=1e-4)``) and ``check_conv_hess`` (default ``make_cc("warning",
    tol=1e-6)``). A bare action string (``{"check_conv_singular": "stop"}``) keeps the default tolerance.

    Parameters
    ----------
    action : {"ignore", "message", "warning", "stop"}
        What a failed check does: nothing, a warning (lme4's message and warning are both Python
        warnings: :class:`~mixedcompat.SingularFitWarning`, :class:`~mixedcompat.GradientWarning`,
        :class:`~mixedcompat.HessianWarning`), or raise :class:`~mixedcompat.ConvergenceError`.
    tol : float
        The check's tolerance (>= 0).
    relTol : float, optional
        The relative tolerance of the gradient check (>= 0); omitted by default, as lme4.

    Returns
    -------
    dict
        ``{"action": ..., "tol": ...[, "relTol": ...]}``, lme4's list. Bad values raise
        ``ValueError`` with R's messages (``"'tol' must be number >= 0"``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> make_cc("warning", tol=1e-3)
    {'action': 'warning', 'tol': 0.001}
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"),
    ...             control={"check_conv_grad": make_cc("ignore", tol=2e-3)})
    """
    if not isinstance(action, str):
        raise ValueError("action must be a character string")
    if not isinstance(tol, (int, float)) or isinstance(tol, bool):
        raise ValueError("must have a numeric 'tol' component")
    if tol < 0:
        raise ValueError("'tol' must be number >= 0")
    out: dict = {"action": action, "tol": float(tol)}
    if relTol is not None:
        if not isinstance(relTol, (int, float)) or relTol < 0:
            raise ValueError("relTol must be a number >= 0")
        out["relTol"] = float(relTol)
    return out


CONV_DEFAULTS = {
    "check_conv_grad": make_cc("warning", tol=0.002),
    "check_conv_singular": make_cc("message", tol=1e-4),
    "check_conv_hess": make_cc("warning", tol=1e-6),
}
"""lme4's ``lmerControl`` defaults for the convergence checks."""


def conv_setting(name: str, value) -> dict:
    """A convergence check's setting from a control value: an action string (lme4 keeps its
    default tolerance, as ``lmerControl(check.conv.grad = "ignore")``) or a ``make_cc`` dict."""
    default = CONV_DEFAULTS[name]
    if value is None:
        return dict(default)
    if isinstance(value, str):
        out = dict(default, action=value)
    elif isinstance(value, dict):
        if "action" not in value or "tol" not in value:
            raise ValueError(f"{name} must be an action string or make_cc(action, tol, relTol)")
        out = make_cc(value["action"], value["tol"], value.get("relTol"))
    else:
        raise ValueError(f"{name} must be an action string or make_cc(action, tol, relTol), "
                         f"not {type(value).__name__}")
    allowed = SINGULAR_ACTIONS if name == "check_conv_singular" else CONV_ACTIONS
    if out["action"] not in allowed:
        raise ValueError(f"invalid control level {out['action']!r} in {name.replace('_', '.')}: "
                         f"valid options are {{{', '.join(repr(a) for a in allowed)}}}")
    return out


def scaled_gradient(derivs: Derivs) -> np.ndarray | None:
    """lme4's ``solve(chol(Hessian), gradient)`` (None where the Cholesky factorisation fails).

    Examples
    --------
    >>> d = Derivs(gradient=np.array([2.0, 0.0]), Hessian=np.array([[4.0, 0.0], [0.0, 1.0]]))
    >>> scaled_gradient(d).tolist()
    [1.0, 0.0]
    """
    H = derivs.Hessian
    if not np.all(np.isfinite(H)):
        return None
    try:
        R = np.linalg.cholesky(H).T          # upper factor, H = R'R, as R's chol()
    except np.linalg.LinAlgError:
        return None
    sc = np.linalg.solve(R, derivs.gradient)
    return None if np.any(np.isnan(sc)) else sc


def check_hessian(H: np.ndarray, tol: float, hesstype: str = "") -> tuple[list[int], list[str]]:
    """lme4's ``checkHess``: codes and messages from the eigenvalues of a Hessian.

    Examples
    --------
    >>> check_hessian(np.diag([1.0, -1.0]), 1e-6)
    ([-3], ['Model failed to converge: degenerate  Hessian with 1 negative eigenvalues'])
    """
    if not np.all(np.isfinite(H)):
        return [-6], ["Problem with Hessian check (infinite or missing values?)"]
    ev = np.linalg.eigvalsh((H + H.T) / 2.0)
    negative = int(np.sum(ev < -tol))
    if negative:
        return [-3], [f"Model failed to converge: degenerate {hesstype} Hessian with {negative} "
                      "negative eigenvalues"]
    zero = int(np.sum(np.abs(ev) < tol))
    chol_ok = True
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        chol_ok = False
    if zero or not chol_ok:
        return [-4], [f"{hesstype} Hessian is numerically singular: parameters are not uniquely determined"]
    codes: list[int] = []
    msgs: list[str] = []
    if ev.max() * tol > 1:
        codes.append(2)
        msgs.append("Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?")
    if ev.min() / ev.max() < tol:
        codes.append(3)
        msgs.append("Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?")
    return (codes or [0]), msgs


def is_singular_theta(theta: np.ndarray, lower: np.ndarray, tol: float = 1e-4) -> bool:
    """lme4's rule: some theta with lower bound 0 (a template diagonal) is below ``tol``."""
    theta = np.asarray(theta, dtype=float)
    return bool(np.any(theta[np.asarray(lower) == 0] < tol))


def check_conv(derivs: Derivs | None, theta: np.ndarray, lower: np.ndarray,
               settings: dict | None = None) -> ConvResult | None:
    """lme4's ``checkConv`` without side effects: what it finds and which warnings it gives.

    Parameters
    ----------
    derivs : Derivs or None
        From :func:`deriv12` (None: ``calc.derivs = FALSE``).
    theta, lower : ndarray
        The optimum and its lower bounds.
    settings : dict, optional
        ``check_conv_grad``, ``check_conv_singular``, ``check_conv_hess`` (see :func:`conv_setting`).

    Returns
    -------
    ConvResult or None
        None where lme4 returns NULL (no derivatives and a regular fit).

    Examples
    --------
    >>> r = check_conv(Derivs(np.array([0.01]), np.array([[1.0]])), np.array([0.5]), np.array([0.0]))
    >>> r.messages
    ('Model failed to converge with max|grad| = 0.01 (tol = 0.002, component 1)',)
    """
    s = {k: conv_setting(k, (settings or {}).get(k)) for k in CONV_DEFAULTS}
    theta = np.asarray(theta, dtype=float)
    messages: list[str] = []
    emitted: list[tuple[type, str]] = []
    code: int | list[int] | None = None
    sing = s["check_conv_singular"]
    singular = is_singular_theta(theta, lower, sing["tol"])
    if singular:
        if sing["action"] != "ignore":
            messages.append(SINGULAR_MESSAGE)
            emitted.append((SingularFitWarning, SINGULAR_MESSAGE))
        return ConvResult(code, tuple(messages), tuple(emitted), singular=True)
    if derivs is None:
        return None
    if np.any(np.isnan(derivs.gradient)) and np.all(np.isfinite(derivs.Hessian) | np.isnan(derivs.Hessian)):
        return ConvResult(-5, ("Gradient contains NAs",), (), singular=False)
    if not np.all(np.isfinite(derivs.gradient)):
        # the criterion was infinite at some stencil points (e.g. a constant response: zero residual
        # sum of squares, where lme4's sparse factorisation returns a huge finite value instead):
        # the derivatives are unusable, and lme4's checks then report what they report for a
        # non-finite Hessian ("unable to evaluate scaled gradient", "Problem with Hessian check")
        derivs = Derivs(np.where(np.isfinite(derivs.gradient), derivs.gradient, 0.0),
                        np.where(np.isnan(derivs.Hessian), np.inf, derivs.Hessian))
    grad = s["check_conv_grad"]
    component = max_grad = None
    if grad["action"] != "ignore":
        wstr = None
        sc = scaled_gradient(derivs)
        if sc is None:
            wstr, code = "unable to evaluate scaled gradient", -1
        else:
            mingrad = np.minimum(np.abs(sc), np.abs(derivs.gradient))
            max_grad = float(mingrad.max())
            component = int(np.argmax(mingrad)) + 1
            if max_grad > grad["tol"]:
                code = -1
                # lme4: which.max(maxmingrad) of a single number, hence always component 1
                wstr = (f"Model failed to converge with max|grad| = {_r_g(max_grad)} "
                        f"(tol = {_r_g(grad['tol'])}, component 1)")
        if wstr is not None:
            messages = [wstr]
            emitted.append((GradientWarning, wstr))
        if grad.get("relTol") is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = float(np.max(np.abs(derivs.gradient / theta)))
            if rel > grad["relTol"]:
                code = -2
                wstr = (f"Model failed to converge with max|relative grad| = {_r_g(rel)} "
                        f"(tol = {_r_g(grad['relTol'])})")
                messages = [wstr]
                emitted.append((GradientWarning, wstr))
    hess = s["check_conv_hess"]
    if hess["action"] != "ignore":
        hcodes, hmsgs = check_hessian(derivs.Hessian, hess["tol"])
        if any(c != 0 for c in hcodes):
            code = hcodes[0] if len(hcodes) == 1 else hcodes
            messages += hmsgs
            emitted.append((HessianWarning, ";".join(hmsgs)))
    return ConvResult(code, tuple(messages), tuple(emitted), singular=False, component=component,
                      max_grad=max_grad)


def emit(result: ConvResult | None, settings: dict | None = None, stacklevel: int = 3) -> None:
    """Give ``result``'s warnings with each check's action (``"stop"`` raises ConvergenceError)."""
    if result is None:
        return
    s = {k: conv_setting(k, (settings or {}).get(k)) for k in CONV_DEFAULTS}
    for category, text in result.emitted:
        key = {SingularFitWarning: "check_conv_singular", GradientWarning: "check_conv_grad",
               HessianWarning: "check_conv_hess"}[category]
        if s[key]["action"] == "stop":
            raise ConvergenceError(text)
        warnings.warn(text, category, stacklevel=stacklevel)


def _r_g(x: float) -> str:
    """C's ``%g`` (R's ``gettextf("%g")``): 6 significant digits, trailing zeros dropped."""
    return f"{x:g}"


def newton_decrease(derivs: Derivs) -> float:
    """The decrease of the criterion a Newton step predicts (``g' H^-1 g / 2``); inf when H is
    not positive definite.  Small (< 1e-9 relative) at every optimum lme4 reaches on our fixtures.

    Examples
    --------
    >>> newton_decrease(Derivs(np.array([2.0]), np.array([[4.0]])))
    0.5
    """
    H, g = derivs.Hessian, derivs.gradient
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(g))):
        return np.inf
    try:
        c = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return np.inf
    z = np.linalg.solve(c, g)
    return 0.5 * float(z @ z)


def messages_of(results: Sequence[ConvResult | None]) -> list[str]:
    """All messages of several results, in order."""
    return [m for r in results if r is not None for m in r.messages]
