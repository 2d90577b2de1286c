"""GLM link functions as lme4 1.1-31's glmer evaluates them (and as R's ``make.link`` does).

lme4 evaluates the inverse link and its derivative in C++ for the links logit, probit, cauchit,
cloglog, log, identity and inverse, with clamps of its own that differ from R's ``make.link``:

========  ==========================================  ===========================================
link      lme4's ``linkInv``                          lme4's ``muEta``
========  ==========================================  ===========================================
logit     ``plogis(eta)`` clamped to [eps, 1 - eps]   ``max(eps, dlogis(eta))``
probit    ``min(1 - eps, pnorm(eta))`` (no floor)     ``dnorm(eta)`` (no floor)
cauchit   ``min(1 - eps, pcauchy(eta))`` (no floor)   ``dcauchy(eta)`` (no floor)
cloglog   ``-expm1(-exp(eta))`` in [eps, 1 - eps]     ``max(eps, exp(eta - exp(eta)))``
log       ``max(eps, exp(eta))``                      ``max(eps, exp(eta))``
identity  ``eta``                                     ``1``
inverse   ``1 / eta``                                 ``-(1 / eta)^2``
========  ==========================================  ===========================================

(eps = 2.220446e-16, R's ``.Machine$double.eps``.) The clamps are C++'s ``std::max`` / ``std::min``,
which return the bound for a NaN argument (a NaN eta gives mu = 1 - eps under logit, eps under log),
where R's ``pmax`` / ``pmin`` keep the NaN: :func:`cpp_max` / :func:`cpp_min`. The links ``sqrt`` and ``1/mu^2`` have no C++
version: lme4 calls the R family's functions, which are ``make.link``'s. The link function itself
(``linkfun``) is always R's: glmer computes its starting linear predictor as ``family$linkfun(mustart)``
in R, and lme4's C++ link functions are the same formulas.

R's own ``make.link`` functions (what ``predict(type = "response")`` and ``simulate`` use after the
fit, through the R family object) are the ``engine="R"`` flavour: ``make_link(name, engine="R")`` or
``link.r``. They clamp differently: logit at |eta| > 30 (R's C code), probit / cauchit by clamping
eta to the quantiles of eps, and their ``mu.eta`` floored at eps.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from mixedcompat.errors import DataError, FormulaError
from mixedcompat.glm import rmath
from mixedcompat.glm.rmath import EPS

__all__ = ["LINK_NAMES", "LME4_CPP_LINKS", "Link", "make_link", "cpp_max", "cpp_min"]

# every link of R's make.link that lme4's families use, in make.link's order
LINK_NAMES = ("logit", "probit", "cauchit", "cloglog", "identity", "log", "sqrt", "1/mu^2", "inverse")
# the links whose linkinv / mu.eta lme4 1.1-31 evaluates in C++ (src/glmFamily.cpp)
LME4_CPP_LINKS = ("cauchit", "cloglog", "identity", "inverse", "log", "logit", "probit")

Engine = Literal["lme4", "R"]
ArrayFn = Callable[[np.ndarray], np.ndarray]


def _a(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


# ---------------------------------------------------------------- link functions (R's, both engines)
def _logit_linkfun(mu: np.ndarray) -> np.ndarray:
    out_of_range = (mu < 0.0) | (mu > 1.0)
    if np.any(out_of_range):
        bad = float(mu[out_of_range][0])
        raise DataError("Value %g out of range (0, 1)" % bad)
    with np.errstate(divide="ignore"):
        return np.log(mu / (1.0 - mu))


def _cloglog_linkfun(mu: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(-np.log(1.0 - mu))


def _inverse(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", over="ignore"):
        return 1.0 / x


def _log(mu: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(mu)


def _sqrt(mu: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.sqrt(mu)


def _inv_mu2(mu: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        return 1.0 / (mu * mu)


LINKFUN: dict[str, ArrayFn] = {
    "logit": _logit_linkfun,
    "probit": rmath.qnorm,
    "cauchit": rmath.qcauchy,
    "cloglog": _cloglog_linkfun,
    "identity": lambda mu: mu.copy(),
    "log": _log,
    "sqrt": _sqrt,
    "1/mu^2": _inv_mu2,
    "inverse": _inverse,
}


# ---------------------------------------------------------------- lme4's C++ inverse links and derivatives
def cpp_max(a: float, x: np.ndarray) -> np.ndarray:
    """C++'s ``std::max(a, x)``: ``x`` if ``a < x`` else ``a``, so a NaN ``x`` gives ``a`` (lme4's clamps
    turn NaN into the bound; numpy's ``maximum`` would propagate it).

    Examples
    --------
    >>> cpp_max(1.0, np.array([0.0, 2.0, np.nan])).tolist()
    [1.0, 2.0, 1.0]
    """
    return np.where(a < x, x, a)


def cpp_min(a: float, x: np.ndarray) -> np.ndarray:
    """C++'s ``std::min(a, x)``: ``x`` if ``x < a`` else ``a`` (a NaN ``x`` gives ``a``).

    Examples
    --------
    >>> cpp_min(1.0, np.array([0.0, 2.0, np.nan])).tolist()
    [0.0, 1.0, 1.0]
    """
    return np.where(x < a, x, a)


def _exp_floor(eta: np.ndarray) -> np.ndarray:          # lme4's boundexp
    with np.errstate(over="ignore"):
        return cpp_max(EPS, np.exp(eta))


def _r_exp_floor(eta: np.ndarray) -> np.ndarray:        # R's pmax(exp(eta), .Machine$double.eps)
    with np.errstate(over="ignore"):
        return np.maximum(np.exp(eta), EPS)


def _lme4_logit_inv(eta):
    return cpp_max(EPS, cpp_min(1.0 - EPS, rmath.plogis(eta)))


def _lme4_logit_mueta(eta):
    return cpp_max(EPS, rmath.dlogis(eta))


def _cloglog_inv_unclamped(eta):
    with np.errstate(over="ignore"):
        return -np.expm1(-np.exp(eta))


def _lme4_cloglog_inv(eta):
    return cpp_max(EPS, cpp_min(1.0 - EPS, _cloglog_inv_unclamped(eta)))


def _r_cloglog_inv(eta):
    return np.maximum(np.minimum(_cloglog_inv_unclamped(eta), 1.0 - EPS), EPS)


def _lme4_cloglog_mueta(eta):
    with np.errstate(over="ignore", invalid="ignore"):
        return cpp_max(EPS, np.exp(eta - np.exp(eta)))


def _lme4_inverse_mueta(eta):
    with np.errstate(divide="ignore", over="ignore"):
        inv = 1.0 / eta
        return -(inv * inv)


LME4_LINKINV: dict[str, ArrayFn] = {
    "logit": _lme4_logit_inv,
    "probit": lambda eta: cpp_min(1.0 - EPS, rmath.pnorm(eta)),
    "cauchit": lambda eta: cpp_min(1.0 - EPS, rmath.pcauchy(eta)),
    "cloglog": _lme4_cloglog_inv,
    "identity": lambda eta: eta.copy(),
    "log": _exp_floor,
    "inverse": _inverse,
}
LME4_MU_ETA: dict[str, ArrayFn] = {
    "logit": _lme4_logit_mueta,
    "probit": rmath.dnorm,
    "cauchit": rmath.dcauchy,
    "cloglog": _lme4_cloglog_mueta,
    "identity": lambda eta: np.ones_like(eta),
    "log": _exp_floor,
    "inverse": _lme4_inverse_mueta,
}


# ---------------------------------------------------------------- R's make.link
_THRESH, _MTHRESH, _INVEPS = 30.0, -30.0, 1.0 / EPS     # R's C logit_linkinv / logit_mu_eta


def _r_logit_inv(eta):
    with np.errstate(over="ignore"):
        tmp = np.where(eta < _MTHRESH, EPS, np.where(eta > _THRESH, _INVEPS, np.exp(eta)))
    return tmp / (1.0 + tmp)


def _r_logit_mueta(eta):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(eta)
        opexp = 1.0 + e
        val = e / (opexp * opexp)
    return np.where((eta > _THRESH) | (eta < _MTHRESH), EPS, val)


_PROBIT_THRESH = float(-rmath.qnorm(EPS))
_CAUCHIT_THRESH = float(-rmath.qcauchy(EPS))


def _r_cloglog_mueta(eta):
    eta = np.minimum(eta, 700.0)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), EPS)


def _r_inverse_mueta(eta):
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        return -1.0 / (eta * eta)


def _r_inv_mu2_inv(eta):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / np.sqrt(eta)


def _r_inv_mu2_mueta(eta):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -1.0 / (2.0 * eta ** 1.5)


R_LINKINV: dict[str, ArrayFn] = {
    "logit": _r_logit_inv,
    "probit": lambda eta: rmath.pnorm(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH)),
    "cauchit": lambda eta: rmath.pcauchy(np.clip(eta, -_CAUCHIT_THRESH, _CAUCHIT_THRESH)),
    "cloglog": _r_cloglog_inv,             # lme4's formula, with R's NaN-propagating pmin / pmax
    "identity": lambda eta: eta.copy(),
    "log": _r_exp_floor,
    "sqrt": lambda eta: eta * eta,
    "1/mu^2": _r_inv_mu2_inv,
    "inverse": _inverse,
}
R_MU_ETA: dict[str, ArrayFn] = {
    "logit": _r_logit_mueta,
    "probit": lambda eta: np.maximum(rmath.dnorm(eta), EPS),
    "cauchit": lambda eta: np.maximum(rmath.dcauchy(eta), EPS),
    "cloglog": _r_cloglog_mueta,
    "identity": lambda eta: np.ones_like(eta),
    "log": _r_exp_floor,
    "sqrt": lambda eta: 2.0 * eta,
    "1/mu^2": _r_inv_mu2_mueta,
    "inverse": _r_inverse_mueta,
}


def _valid_any(eta: np.ndarray) -> bool:
    return True


def _valid_nonzero(eta: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(eta)) and np.all(eta != 0.0))


def _valid_positive(eta: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(eta)) and np.all(eta > 0.0))


VALIDETA: dict[str, Callable[[np.ndarray], bool]] = {
    "logit": _valid_any, "probit": _valid_any, "cauchit": _valid_any, "cloglog": _valid_any,
    "identity": _valid_any, "log": _valid_any, "sqrt": _valid_positive, "1/mu^2": _valid_positive,
    "inverse": _valid_nonzero,
}


@dataclass(frozen=True)
class Link:
    """A GLM link: R's ``link-glm`` object, evaluated as lme4's glmer evaluates it (``engine="lme4"``)
    or as R's ``make.link`` does (``engine="R"``).

    Attributes
    ----------
    name : str
        R's name of the link (``"logit"``, ..., ``"1/mu^2"``).
    engine : {"lme4", "R"}
        Whose inverse link and ``mu.eta`` these are (see the module docstring). For ``sqrt`` and
        ``1/mu^2`` both are R's.

    Examples
    --------
    >>> lk = make_link("logit")
    >>> lk.linkinv([-40.0, 0.0, 40.0]).tolist()
    [2.220446049250313e-16, 0.5, 0.9999999999999998]
    >>> lk.r.linkinv([-40.0]).tolist()
    [2.2204460492503126e-16]
    """
    name: str
    engine: Engine = "lme4"

    def __post_init__(self) -> None:
        if self.name not in LINK_NAMES:
            raise FormulaError(f"\u2018{self.name}\u2019 link not recognised")
        if self.engine not in ("lme4", "R"):
            raise ValueError(f"engine must be 'lme4' or 'R', not {self.engine!r}")

    @property
    def in_cpp(self) -> bool:
        """Whether lme4 1.1-31 evaluates this link's inverse and derivative in C++.

        Examples
        --------
        >>> make_link("sqrt").in_cpp, make_link("probit").in_cpp
        (False, True)
        """
        return self.name in LME4_CPP_LINKS

    @property
    def r(self) -> "Link":
        """The same link evaluated as R's ``make.link`` does.

        Examples
        --------
        >>> make_link("probit").r.engine
        'R'
        """
        return Link(self.name, "R")

    @property
    def lme4(self) -> "Link":
        """The same link evaluated as lme4's glmer does.

        Examples
        --------
        >>> make_link("probit", engine="R").lme4.engine
        'lme4'
        """
        return Link(self.name, "lme4")

    def linkfun(self, mu) -> np.ndarray:
        """eta = g(mu), R's ``linkfun``: logit raises R's error ``Value .. out of range (0, 1)``; the
        other links give NaN outside their domain with R's warning ``NaNs produced``.

        Examples
        --------
        >>> make_link("log").linkfun([1.0, 4.0]).tolist() == [0.0, float(np.log(4.0))]
        True
        """
        mu = _a(mu)
        eta = LINKFUN[self.name](mu)
        if np.any(np.isnan(eta) & ~np.isnan(mu)):
            warnings.warn("NaNs produced", UserWarning, stacklevel=2)
        return eta

    def linkinv(self, eta) -> np.ndarray:
        """mu = g^-1(eta), with this engine's clamps.

        Examples
        --------
        >>> make_link("log").linkinv([-40.0, 0.0]).tolist()
        [2.220446049250313e-16, 1.0]
        """
        eta = _a(eta)
        if self.engine == "lme4" and self.name in LME4_LINKINV:
            return LME4_LINKINV[self.name](eta)
        return R_LINKINV[self.name](eta)

    def mu_eta(self, eta) -> np.ndarray:
        """d mu / d eta at eta, with this engine's floors.

        Examples
        --------
        >>> make_link("logit").mu_eta([0.0]).tolist()
        [0.25]
        """
        eta = _a(eta)
        if self.engine == "lme4" and self.name in LME4_MU_ETA:
            return LME4_MU_ETA[self.name](eta)
        return R_MU_ETA[self.name](eta)

    def valideta(self, eta) -> bool:
        """R's ``valideta``: TRUE, or all finite and nonzero (inverse), or all finite and positive
        (sqrt, 1/mu^2).

        Examples
        --------
        >>> make_link("inverse").valideta([1.0, 0.0])
        False
        """
        return VALIDETA[self.name](_a(eta))


def make_link(name: str | Link, engine: Engine = "lme4") -> Link:
    """The link named ``name`` (R's ``make.link``); a :class:`Link` is passed through (with ``engine``).

    Raises ``FormulaError("‘foo’ link not recognised")`` (R's words) for an unknown name.

    Examples
    --------
    >>> make_link("1/mu^2").linkinv([4.0]).tolist()
    [0.5]
    >>> make_link("foo")
    Traceback (most recent call last):
    ...
    mixedcompat.errors.FormulaError: ‘foo’ link not recognised
    """
    if isinstance(name, Link):
        return Link(name.name, engine)
    if not isinstance(name, str):
        raise FormulaError(f"a link is a name such as 'logit', not {name!r}")
    return Link(name, engine)
