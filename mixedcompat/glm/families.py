"""GLM families (R's ``family`` objects) as lme4 1.1-31's glmer evaluates them.

What glmer's ``family=`` takes (``mc.family`` in the package): the constructors :func:`binomial`,
:func:`poisson`, :func:`Gamma`, :func:`inverse_gaussian` (R's ``inverse.gaussian``), :func:`gaussian`
and :func:`negative_binomial` (MASS's ``negative.binomial``, theta known; ``glmer_nb`` estimates it),
each returning a :class:`Family`; :func:`family_of` turns glmer's ``family=`` argument (a Family, an
uncalled constructor, or R's name) into a Family. ``FAMILY_NAMES`` and ``FAMILY_LINKS`` list R's
families and their links; ``QUASI_MESSAGE`` is lme4's refusal of quasi families.

lme4 evaluates the variance, unit deviances and ``aic`` of the binomial, poisson, Gamma, gaussian,
inverse.gaussian and negative-binomial families in C++ (src/glmFamily.cpp); this module computes
the same numbers, vectorised. Where lme4's C++ differs from R's family functions:

* binomial ``variance`` is ``max(eps, mu (1 - mu))`` (R: ``mu (1 - mu)``);
* unit deviances use ``y log(y / mu)`` with ``log`` taken as 0 where ``y / mu`` is 0 (R tests ``y == 0``;
  the two differ only when ``y / mu`` underflows);
* the negative binomial ``aic`` multiplies only its first term by the prior weights
  (``2 sum(wt (y + theta) log(mu + theta) - y log(mu) + lgamma(y + 1) - ...)``; MASS weights every
  term). This is an lme4 bug: it is matched by default (``nb_aic="lme4"``); ``nb_aic="MASS"`` gives
  MASS's weighted form. With unit weights the two agree.

The links are :mod:`mixedcompat.glm.links` (lme4's clamps). Family names, link lists and error messages
are R's; ``Negative Binomial(theta)`` is named as ``MASS::negative.binomial`` names it
(``format(round(theta, 4))``).

R takes any of ``make.link``'s links given as a quoted string, also one the family does not list
(``poisson(link = "logit")``, ``binomial(link = "identity")``); a Python string is that quoted form, so it
is accepted the same way (``strict_link=True`` refuses a link the family does not list, with the
message R gives for a link named by an object that is not a link).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from mixedcompat.errors import FormulaError
from mixedcompat.glm import rmath
from mixedcompat.glm.links import Link, cpp_max, make_link
from mixedcompat.glm.response import Initialized, initialize_response
from mixedcompat.glm.rmath import EPS
from mixedcompat.present.rformat import format_number, r_round

__all__ = ["FAMILY_NAMES", "FAMILY_LINKS", "Family", "binomial", "poisson", "Gamma", "inverse_gaussian",
           "gaussian", "negative_binomial", "family_of", "QUASI_MESSAGE"]

# R's okLinks of each family, in R's order (its messages list them so); DEFAULT_LINK is the default
FAMILY_LINKS: dict[str, tuple[str, ...]] = {
    "binomial": ("logit", "probit", "cloglog", "cauchit", "log"),
    "poisson": ("log", "identity", "sqrt"),
    "Gamma": ("inverse", "log", "identity"),
    "inverse.gaussian": ("inverse", "log", "identity", "1/mu^2"),
    "gaussian": ("inverse", "log", "identity"),
    "negative.binomial": ("log", "identity", "sqrt"),
}
DEFAULT_LINK = {"binomial": "logit", "poisson": "log", "Gamma": "inverse", "inverse.gaussian": "1/mu^2",
                "gaussian": "identity", "negative.binomial": "log"}
FAMILY_NAMES = ("binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian")
QUASI_FAMILIES = ("quasibinomial", "quasipoisson", "quasi")
QUASI_MESSAGE = '"quasi" families cannot be used in glmer'
NB_PREFIX = "Negative Binomial("


# ---------------------------------------------------------------- lme4's C++ helpers
def _log_n0(x: np.ndarray) -> np.ndarray:
    """log(x), 0 where x == 0 (lme4's logN0)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.log(np.where(x == 0.0, 1.0, x))    # no log(0): its -inf path is slow, and discarded


def _y_log_y(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """y log(y / mu) with log 0 read as 0 (lme4's Y_log_Y)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return y * _log_n0(y / mu)


def _a(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def nb_family_name(theta: float) -> str:
    """``MASS::negative.binomial``'s family name: ``"Negative Binomial(" format(round(theta, 4)) ")"``.

    Examples
    --------
    >>> nb_family_name(1.23456789), nb_family_name(1e5), nb_family_name(1234.56789)
    ('Negative Binomial(1.2346)', 'Negative Binomial(1e+05)', 'Negative Binomial(1234.568)')
    """
    return f"{NB_PREFIX}{format_number(float(r_round(float(theta), 4)), 7)})"


@dataclass(frozen=True)
class Family:
    """An R GLM family as lme4's glmer evaluates it.

    Attributes
    ----------
    family : str
        R's name: ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``, ``"gaussian"`` or
        ``"Negative Binomial(1.234)"``.
    link : Link
        The link (lme4's clamps); ``linkfun``, ``linkinv``, ``mu_eta``, ``valideta`` delegate to it.
    theta : float or None
        The negative binomial's theta (``.Theta``), None for the other families.
    nb_aic : {"lme4", "MASS"}
        The negative binomial's ``aic`` with prior weights: lme4's (only the first term weighted, the
        default) or MASS's (every term weighted).

    Examples
    --------
    >>> f = binomial()
    >>> f.family, f.link.name, f.has_scale
    ('binomial', 'logit', False)
    >>> f.variance([0.5, 1.0]).tolist()
    [0.25, 2.220446049250313e-16]
    """
    family: str
    link: Link
    theta: float | None = None
    nb_aic: Literal["lme4", "MASS"] = field(default="lme4")

    # ---------------------------------------------------------------- identity
    @property
    def kind(self) -> str:
        """The family's key: its R name, ``"negative.binomial"`` for ``Negative Binomial(..)``.

        Examples
        --------
        >>> negative_binomial(2.0).kind
        'negative.binomial'
        """
        return "negative.binomial" if self.family.startswith(NB_PREFIX) else self.family

    @property
    def has_scale(self) -> bool:
        """Whether sigma is estimated (lme4's ``useSc``: not for poisson, binomial, negative binomial).

        Examples
        --------
        >>> Gamma().has_scale, poisson().has_scale
        (True, False)
        """
        return self.kind not in ("binomial", "poisson", "negative.binomial")

    # ---------------------------------------------------------------- the link
    def linkfun(self, mu) -> np.ndarray:
        """eta = g(mu) (R's linkfun). Example: ``poisson().linkfun([1.0]).tolist()`` is ``[0.0]``.

        Examples
        --------
        >>> poisson().linkfun([1.0]).tolist()
        [0.0]
        """
        return self.link.linkfun(mu)

    def linkinv(self, eta) -> np.ndarray:
        """mu = g^-1(eta) with lme4's clamps.

        Examples
        --------
        >>> poisson().linkinv([0.0]).tolist()
        [1.0]
        """
        return self.link.linkinv(eta)

    def mu_eta(self, eta) -> np.ndarray:
        """d mu / d eta with lme4's floors.

        Examples
        --------
        >>> binomial().mu_eta([0.0]).tolist()
        [0.25]
        """
        return self.link.mu_eta(eta)

    def valideta(self, eta) -> bool:
        """R's ``valideta`` of the link.

        Examples
        --------
        >>> Gamma().valideta([0.0])
        False
        """
        return self.link.valideta(eta)

    # ---------------------------------------------------------------- the distribution
    def variance(self, mu) -> np.ndarray:
        """The variance function V(mu), as lme4's C++ (binomial floored at eps).

        Examples
        --------
        >>> negative_binomial(2.0).variance([2.0]).tolist()
        [4.0]
        """
        mu = _a(mu)
        k = self.kind
        if k == "binomial":
            return cpp_max(EPS, mu * (1.0 - mu))
        if k == "poisson":
            return mu.copy()
        if k == "Gamma":
            return mu * mu
        if k == "gaussian":
            return np.ones_like(mu)
        if k == "inverse.gaussian":
            return mu * mu * mu
        return mu + mu * mu / self.theta

    def dev_resids(self, y, mu, wt) -> np.ndarray:
        """Unit deviances times prior weights (R's ``dev.resids``, lme4's ``devResid``).

        Examples
        --------
        >>> poisson().dev_resids([0.0, 2.0], [1.0, 2.0], [1.0, 1.0]).tolist()
        [2.0, 0.0]
        """
        y, mu, wt = _a(y), _a(mu), _a(wt)
        k = self.kind
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if k == "binomial":
                return 2.0 * wt * (_y_log_y(y, mu) + _y_log_y(1.0 - y, 1.0 - mu))
            if k == "poisson":
                return 2.0 * wt * (y * _log_n0(y / mu) - (y - mu))
            if k == "Gamma":
                return -2.0 * wt * (_log_n0(y / mu) - (y - mu) / mu)
            if k == "gaussian":
                d = y - mu
                return wt * (d * d)
            if k == "inverse.gaussian":
                d = y - mu
                return wt * (d * d) / (y * (mu * mu))
            th = self.theta
            return 2.0 * wt * (_y_log_y(y, mu) - (y + th) * np.log((y + th) / (mu + th)))

    def aic(self, y, n, mu, wt, dev: float) -> float:
        """The family's ``aic``: -2 log-likelihood (+ 2 for a family with an estimated dispersion), with
        R's conventions (binomial on ``round(m y)`` successes of ``m`` = trials, or the weights when all
        trials are 1; Gamma with dispersion ``dev / sum(wt)``; gaussian and inverse.gaussian from
        ``dev``); lme4's C++ forms.

        Parameters
        ----------
        y, n, mu, wt : array_like
            Response (binomial: proportion), trials, means, prior weights.
        dev : float
            The sum of the deviance residuals (used by Gamma, gaussian, inverse.gaussian).

        Examples
        --------
        >>> round(poisson().aic([1.0, 2.0], [1.0, 1.0], [1.0, 2.0], [1.0, 1.0], 0.0), 10)
        4.6137056389
        """
        y, n, mu, wt = _a(y), _a(n), _a(mu), _a(wt)
        k = self.kind
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if k == "binomial":
                m = n if np.any(n > 1) else wt
                yy = np.rint(m * y)
                m = np.rint(m)
                coef = np.where(m <= 0.0, 0.0, wt / np.where(m <= 0.0, 1.0, m))
                return float(-2.0 * np.sum(coef * rmath.dbinom_raw_log(yy, m, mu)))
            if k == "poisson":
                return float(-2.0 * np.sum(rmath.dpois_log(y, mu) * wt))
            if k == "Gamma":
                disp = dev / np.sum(wt)
                return float(-2.0 * np.sum(wt * rmath.dgamma_log(y, 1.0 / disp, mu * disp)) + 2.0)
            if k == "gaussian":
                nn = float(mu.shape[0])
                return float(nn * (np.log(2.0 * np.pi * dev / nn) + 1.0) + 2.0 - np.sum(np.log(wt)))
            if k == "inverse.gaussian":
                ws = float(np.sum(wt))
                return float(ws * (np.log(dev / ws * 2.0 * np.pi) + 1.0) + 3.0 * np.sum(np.log(y) * wt) + 2.0)
            th = float(self.theta)
            first = (y + th) * np.log(mu + th)
            rest = (-y * np.log(mu) + rmath.lgamma(y + 1.0) - th * np.log(th) + rmath.lgamma(th)
                    - rmath.lgamma(th + y))
            if self.nb_aic == "MASS":
                return float(2.0 * np.sum((first + rest) * wt))
            return float(2.0 * np.sum(wt * first + rest))

    def validmu(self, mu) -> bool:
        """R's ``validmu``: binomial 0 < mu < 1, poisson / Gamma / negative binomial mu > 0 (finite).

        Examples
        --------
        >>> binomial().validmu([0.5, 1.0])
        False
        """
        mu = _a(mu)
        k = self.kind
        if k == "binomial":
            return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))
        if k in ("poisson", "Gamma"):
            return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))
        if k == "negative.binomial":
            return bool(np.all(mu > 0))
        return True

    def initialize(self, y, weights=None) -> Initialized:
        """R's ``family$initialize`` (see :mod:`mixedcompat.glm.response`): the modelled response,
        prior weights, ``mustart`` and trials ``n``.

        Examples
        --------
        >>> init = poisson().initialize(np.array([0.0, 3.0]))
        >>> init.mustart.tolist()
        [0.1, 3.1]
        """
        return initialize_response(self.family, self.link.name, y, weights)


# ---------------------------------------------------------------- constructors (R's)
def _link_for(family: str, link: str | Link, strict_link: bool) -> Link:
    name = link.name if isinstance(link, Link) else link
    if not isinstance(name, str):
        raise FormulaError(f"a link is a name such as {DEFAULT_LINK[family]!r}, not {link!r}")
    ok = FAMILY_LINKS[family]
    if strict_link and name not in ok:
        if family == "negative.binomial":
            raise FormulaError(f'"{name}" link not available for negative binomial family; available links '
                               'are "identity", "log" and "sqrt"')
        listed = ", ".join(f"\u2018{x}\u2019" for x in ok)
        raise FormulaError(f'link "{name}" not available for {family} family; available links are {listed}')
    return make_link(name)


def binomial(link: str | Link = "logit", strict_link: bool = False) -> Family:
    """The binomial family (R's ``binomial``) for 0/1, proportion or ``cbind(successes, failures)`` responses.

    R equivalent: ``binomial(link = "logit")``.

    Variance ``mu (1 - mu)`` (lme4's C++ bounds it below by machine epsilon); no scale parameter. In
    ``glmer`` the response is 0/1, a bool or a two-level factor, a proportion with ``weights=``
    trials, or ``cbind(s, f)``.

    Parameters
    ----------
    link : str or Link, optional
        The link, by R's name (``"logit"``, ``"probit"``, ``"cloglog"``, ``"cauchit"``, ``"log"``); default ``"logit"``. Any of ``make.link``'s links is
        accepted, as R accepts a quoted link the family does not list.
    strict_link : bool, optional
        Refuse a link the family does not list, with R's message ``link "x" not available for
        binomial family; available links are ...`` (default ``False``).

    Returns
    -------
    Family
        The family (``.family`` R's name, ``.link`` the link, its variance, deviance residuals and
        ``aic`` as lme4's C++ evaluates them), for ``glmer(..., family=...)``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> binomial("probit").link.name
    'probit'
    >>> binomial("foo")
    Traceback (most recent call last):
    ...
    mixedcompat.errors.FormulaError: ‘foo’ link not recognised
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mc.datasets.load("cbpp"),
    ...              family=mc.family.binomial())
    >>> mc.fixef(m).round(3).tolist()
    [-1.398, -0.992, -1.128, -1.58]
    """
    return Family("binomial", _link_for("binomial", link, strict_link))


def poisson(link: str | Link = "log", strict_link: bool = False) -> Family:
    """The Poisson family (R's ``poisson``) for counts.

    R equivalent: ``poisson(link = "log")``.

    Variance ``mu``; no scale parameter.

    Parameters
    ----------
    link : str or Link, optional
        The link, by R's name (``"log"``, ``"identity"``, ``"sqrt"``); default ``"log"``. Any of ``make.link``'s links is
        accepted, as R accepts a quoted link the family does not list.
    strict_link : bool, optional
        Refuse a link the family does not list, with R's message ``link "x" not available for
        poisson family; available links are ...`` (default ``False``).

    Returns
    -------
    Family
        The family (``.family`` R's name, ``.link`` the link, its variance, deviance residuals and
        ``aic`` as lme4's C++ evaluates them), for ``glmer(..., family=...)``.

    Examples
    --------
    >>> poisson("sqrt").link.name
    'sqrt'
    >>> poisson("logit", strict_link=True)
    Traceback (most recent call last):
    ...
    mixedcompat.errors.FormulaError: link "logit" not available for poisson family; available links are ‘log’, ‘identity’, ‘sqrt’
    """
    return Family("poisson", _link_for("poisson", link, strict_link))


def Gamma(link: str | Link = "inverse", strict_link: bool = False) -> Family:  # noqa: N802 (R's name)
    """The Gamma family (R's ``Gamma``) for positive continuous responses.

    R equivalent: ``Gamma(link = "inverse")``.

    Variance ``mu^2``; a scale parameter (``sigma(m)``, lme4's estimate).

    Parameters
    ----------
    link : str or Link, optional
        The link, by R's name (``"inverse"``, ``"log"``, ``"identity"``); default ``"inverse"``. Any of ``make.link``'s links is
        accepted, as R accepts a quoted link the family does not list.
    strict_link : bool, optional
        Refuse a link the family does not list, with R's message ``link "x" not available for
        Gamma family; available links are ...`` (default ``False``).

    Returns
    -------
    Family
        The family (``.family`` R's name, ``.link`` the link, its variance, deviance residuals and
        ``aic`` as lme4's C++ evaluates them), for ``glmer(..., family=...)``.

    Examples
    --------
    >>> Gamma("log").family
    'Gamma'
    >>> Gamma().has_scale
    True
    """
    return Family("Gamma", _link_for("Gamma", link, strict_link))


def inverse_gaussian(link: str | Link = "1/mu^2", strict_link: bool = False) -> Family:
    """The inverse Gaussian family (R's ``inverse.gaussian``) for positive continuous responses.

    R equivalent: ``inverse.gaussian(link = "1/mu^2")``.

    Variance ``mu^3``; a scale parameter.

    Parameters
    ----------
    link : str or Link, optional
        The link, by R's name (``"1/mu^2"``, ``"inverse"``, ``"log"``, ``"identity"``); default ``"1/mu^2"``. Any of ``make.link``'s links is
        accepted, as R accepts a quoted link the family does not list.
    strict_link : bool, optional
        Refuse a link the family does not list, with R's message ``link "x" not available for
        inverse.gaussian family; available links are ...`` (default ``False``).

    Returns
    -------
    Family
        The family (``.family`` R's name, ``.link`` the link, its variance, deviance residuals and
        ``aic`` as lme4's C++ evaluates them), for ``glmer(..., family=...)``.

    Examples
    --------
    >>> inverse_gaussian().family, inverse_gaussian().link.name
    ('inverse.gaussian', '1/mu^2')
    """
    return Family("inverse.gaussian", _link_for("inverse.gaussian", link, strict_link))


def gaussian(link: str | Link = "identity", strict_link: bool = False) -> Family:
    """The Gaussian family (R's ``gaussian``), for a glmer with a non-identity link.

    R equivalent: ``gaussian(link = "identity")``.

    Variance 1; a scale parameter. With the identity link ``glmer`` hands the model to ``lmer``, as
    lme4 does (with its warning).

    Parameters
    ----------
    link : str or Link, optional
        The link, by R's name (``"identity"``, ``"log"``, ``"inverse"``); default ``"identity"``. Any of ``make.link``'s links is
        accepted, as R accepts a quoted link the family does not list.
    strict_link : bool, optional
        Refuse a link the family does not list, with R's message ``link "x" not available for
        gaussian family; available links are ...`` (default ``False``).

    Returns
    -------
    Family
        The family (``.family`` R's name, ``.link`` the link, its variance, deviance residuals and
        ``aic`` as lme4's C++ evaluates them), for ``glmer(..., family=...)``.

    Examples
    --------
    >>> gaussian("log").link.name
    'log'

    """
    return Family("gaussian", _link_for("gaussian", link, strict_link))


def negative_binomial(theta: float, link: str | Link = "log", strict_link: bool = False,
                      nb_aic: Literal["lme4", "MASS"] = "lme4") -> Family:
    """The negative binomial family with a known ``theta`` (MASS's ``negative.binomial``).

    R equivalent: ``MASS::negative.binomial(theta, link = "log")``.

    Variance ``mu + mu^2 / theta``; no scale parameter. ``glmer_nb`` estimates theta; this family
    fixes it. Its name is MASS's ``Negative Binomial(theta)`` (theta rounded to 4 digits).

    Parameters
    ----------
    theta : float
        The shape parameter (> 0).
    nb_aic : {"lme4", "MASS"}, optional
        ``"lme4"`` (default) reproduces lme4's known bug in the family's ``aic`` (the prior weights
        multiply only its first term); ``"MASS"`` weights every term, as MASS. They agree with unit
        weights.
    link : str or Link, optional
        The link, by R's name (``"log"``, ``"identity"``, ``"sqrt"``); default ``"log"``. Any of ``make.link``'s links is
        accepted, as R accepts a quoted link the family does not list.
    strict_link : bool, optional
        Refuse a link the family does not list, with R's message ``link "x" not available for
        negative.binomial family; available links are ...`` (default ``False``).

    Returns
    -------
    Family
        The family (``.family`` R's name, ``.link`` the link, its variance, deviance residuals and
        ``aic`` as lme4's C++ evaluates them), for ``glmer(..., family=...)``.

    Examples
    --------
    >>> f = negative_binomial(1.234)
    >>> f.family, f.has_scale
    ('Negative Binomial(1.234)', False)
    """
    theta = float(theta)
    if not np.isfinite(theta) or theta <= 0:
        raise FormulaError(f"theta of the negative binomial family must be positive and finite, not {theta!r}")
    return Family(nb_family_name(theta), _link_for("negative.binomial", link, strict_link), theta=theta,
                  nb_aic=nb_aic)


_CONSTRUCTORS = {"binomial": binomial, "poisson": poisson, "Gamma": Gamma, "inverse.gaussian": inverse_gaussian,
                 "gaussian": gaussian}


def family_of(spec: str | Family | Callable[[], Family]) -> Family:
    """The family glmer's ``family=`` argument names.

    R equivalent: ``glmer(..., family = poisson)``, ``family = "poisson"``, ``family = binomial(link = "probit")``.

    Accepts what R accepts: a :class:`Family`, a constructor of this module uncalled (R's
    ``family = poisson``: called with its defaults), or R's name of a family (its default link).
    Quasi families give lme4's error ``"quasi" families cannot be used in glmer``; another name R's
    ``object 'foo' of mode 'function' was not found`` (both :class:`~mixedcompat.FormulaError`).

    Parameters
    ----------
    spec : str, Family or callable
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``, ``"gaussian"``; a
        :class:`Family`; or a constructor such as ``poisson``.

    Returns
    -------
    Family

    Examples
    --------
    >>> family_of("poisson").link.name
    'log'
    >>> family_of(Gamma).link.name
    'inverse'
    >>> family_of("quasipoisson")
    Traceback (most recent call last):
    ...
    mixedcompat.errors.FormulaError: "quasi" families cannot be used in glmer
    """
    if isinstance(spec, Family):
        return spec
    if callable(spec) and spec in _CONSTRUCTORS.values():
        return spec()
    if not isinstance(spec, str):
        raise FormulaError(f"family must be a family name such as 'binomial' or a Family, not {spec!r}")
    if spec in QUASI_FAMILIES:
        raise FormulaError(QUASI_MESSAGE)
    name = {"inverse_gaussian": "inverse.gaussian"}.get(spec, spec)
    if name in _CONSTRUCTORS:
        return _CONSTRUCTORS[name]()
    if name in ("negative.binomial", "negative_binomial"):
        raise FormulaError("'theta' must be specified (negative_binomial(theta); glmer_nb estimates it)")
    raise FormulaError(f"object '{spec}' of mode 'function' was not found (families: "
                       + ", ".join(FAMILY_NAMES) + ")")
