"""The GLM response as glmer receives it: lme4's checks of the response and prior weights
(``mkRespMod``) and the family's ``initialize`` of R's glm (binomial proportions, trials, ``mustart``).

What R does, in this order (lme4 1.1-31, R 4.2):

1. the response must be numeric, or (binomial only) a factor or logical; a logical response of another
   family becomes 0/1. Otherwise ``"response must be numeric or factor"`` (binomial) or
   ``"response must be numeric"``; a non-finite value: ``"NA/NaN/Inf in 'y'"``;
2. prior weights default to 1; a negative one: ``"all(weights >= 0) is not TRUE"``;
3. the family's ``initialize``:

   * binomial, one column (0/1, a proportion with ``weights`` = trials, logical, factor with the first
     level failure and every other level success): ``y`` is set to 0 where the weight is 0; outside
     [0, 1]: ``"y values must be 0 <= y <= 1"``; ``mustart = (w y + 1/2) / (w + 1)``; the warning
     ``"non-integer #successes in a binomial glm!"`` when some ``w y`` is more than 0.001 from an
     integer. The number of trials ``n`` is 1.
   * binomial, two columns ``cbind(successes, failures)``: the warning ``"non-integer counts in a
     binomial glm!"``; ``n = s + f``, ``y = s / n`` (0 where n = 0), weights times ``n``,
     ``mustart = (n y + 1/2) / (n + 1)``. Negative counts are not checked (R does not).
   * more columns: R's error ``"for the 'binomial' family, y must be a vector of 0 and 1's\\nor a 2
     column matrix where col 1 is no. successes and col 2 is no. failures"``.
   * poisson: ``"negative values not allowed for the 'Poisson' family"``, ``mustart = y + 0.1``;
     Gamma: ``"non-positive values not allowed for the 'Gamma' family"``, ``mustart = y``;
     inverse.gaussian: ``"positive values only are allowed for the 'inverse.gaussian' family"``,
     ``mustart = y``; gaussian: with the inverse link and a zero, or the log link and a value
     <= 0, ``"cannot find valid starting values: please specify some"``, ``mustart = y``;
     negative binomial: ``"negative values not allowed for the negative binomial family"``,
     ``mustart = y + (y == 0) / 6``.

4. glmer's starting linear predictor is ``family$linkfun(mustart)``.

A non-integer Poisson count is not an error: R's ``dpois`` warns ``"non-integer x = 1.500000"`` each
time the family's ``aic`` is evaluated (see :mod:`mixedcompat.glm.families`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError

if TYPE_CHECKING:
    from mixedcompat.glm.families import Family

__all__ = ["Initialized", "GlmResponse", "initialize_response", "response_values", "glm_response",
           "BINOMIAL_SHAPE_MESSAGE"]

BINOMIAL_SHAPE_MESSAGE = ("for the 'binomial' family, y must be a vector of 0 and 1's\n"
                          "or a 2 column matrix where col 1 is no. successes and col 2 is no. failures")


@dataclass(frozen=True)
class Initialized:
    """What a family's ``initialize`` leaves behind (R's glm variables of the same names).

    Attributes
    ----------
    y : ndarray
        The response as the family models it (binomial: the proportion of successes).
    weights : ndarray
        Prior weights (binomial ``cbind``: times the number of trials).
    mustart : ndarray
        Starting means.
    n : ndarray
        Binomial trials for ``aic`` (1 for a one-column response and for other families).
    """
    y: np.ndarray
    weights: np.ndarray
    mustart: np.ndarray
    n: np.ndarray


@dataclass(frozen=True)
class GlmResponse(Initialized):
    """:class:`Initialized` plus glmer's starting linear predictor ``eta = linkfun(mustart)``."""
    eta: np.ndarray = None  # type: ignore[assignment]


def _as_float(a) -> np.ndarray:
    return np.asarray(a, dtype=float)


def response_values(y, binomial: bool) -> np.ndarray:
    """The response as numbers, with lme4's ``mkRespMod`` checks: a 1-d array, or 2-d for ``cbind``.

    A factor / pandas Categorical (binomial only) becomes ``y != first level``; a bool / logical
    response becomes 0/1.

    Examples
    --------
    >>> response_values(pd.Categorical(["a", "b", "c"]), binomial=True).tolist()
    [0.0, 1.0, 1.0]
    >>> response_values(["1", "2"], binomial=False)
    Traceback (most recent call last):
    ...
    mixedcompat.errors.DataError: response must be numeric
    """
    if isinstance(y, pd.DataFrame):
        y = y.to_numpy()
    if isinstance(y, pd.Series) and isinstance(y.dtype, pd.CategoricalDtype):
        y = y.array
    if isinstance(y, pd.Categorical):
        if not binomial:
            raise DataError("response must be numeric")
        codes = np.asarray(y.codes)
        if np.any(codes < 0):
            raise DataError("NA/NaN/Inf in 'y'")
        return (codes != 0).astype(float)
    arr = np.asarray(y)
    if arr.dtype == bool:
        return arr.astype(float)
    if arr.dtype.kind == "O":
        vals = arr.ravel()
        if len(vals) and all(isinstance(v, (bool, np.bool_)) for v in vals):
            return arr.astype(bool).astype(float)
        if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                   for v in vals):
            raise DataError("response must be numeric or factor" if binomial else "response must be numeric")
    elif arr.dtype.kind not in "iuf":
        raise DataError("response must be numeric or factor" if binomial else "response must be numeric")
    out = _as_float(arr)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim > 2:
        raise DataError("the response must be a vector or a matrix")
    if not np.all(np.isfinite(out)):
        raise DataError("NA/NaN/Inf in 'y'")
    return out


def _prior_weights(weights, nobs: int) -> np.ndarray:
    if weights is None:
        return np.ones(nobs)
    w = _as_float(weights).ravel()
    if w.shape[0] != nobs:
        raise DataError(f"length(weights) == n is not TRUE: {w.shape[0]} weights for {nobs} observations")
    if np.any(np.isnan(w)) or np.any(w < 0):
        bad = int(np.flatnonzero(np.isnan(w) | (w < 0))[0])
        raise DataError(f"all(weights >= 0) is not TRUE (weight {w[bad]:g} in row {bad + 1})")
    return w


def _binomial_initialize(y: np.ndarray, w: np.ndarray) -> Initialized:
    ncol = 1 if y.ndim == 1 else y.shape[1]
    if ncol == 1:
        y = np.where(w == 0, 0.0, y)
        if np.any((y < 0) | (y > 1)):
            raise DataError("y values must be 0 <= y <= 1")
        mustart = (w * y + 0.5) / (w + 1.0)
        m = w * y
        if np.any(np.abs(m - np.round(m)) > 0.001):
            warnings.warn("non-integer #successes in a binomial glm!", UserWarning, stacklevel=4)
        return Initialized(y, w, mustart, np.ones(y.shape[0]))
    if ncol == 2:
        if np.any(np.abs(y - np.round(y)) > 0.001):
            warnings.warn("non-integer counts in a binomial glm!", UserWarning, stacklevel=4)
        n = y[:, 0] + y[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            prop = y[:, 0] / n
        prop = np.where(n == 0, 0.0, prop)
        mustart = (n * prop + 0.5) / (n + 1.0)
        return Initialized(prop, w * n, mustart, n)
    raise DataError(BINOMIAL_SHAPE_MESSAGE)


def initialize_response(family: str, link: str, y, weights=None) -> Initialized:
    """R's ``family$initialize`` for glmer's families (see the module docstring for what each does).

    Parameters
    ----------
    family : str
        R's family name (``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
        ``"gaussian"``, ``"Negative Binomial(...)"``).
    link : str
        The link's name (gaussian's starting-value check depends on it).
    y : array_like
        The numeric response (``response_values``); 2 columns for binomial ``cbind``.
    weights : array_like, optional
        Prior weights (default 1).

    Examples
    --------
    >>> init = initialize_response("binomial", "logit", np.array([[3.0, 1.0], [0.0, 2.0]]))
    >>> init.y.tolist(), init.weights.tolist(), init.n.tolist()
    ([0.75, 0.0], [4.0, 2.0], [4.0, 2.0])
    >>> initialize_response("poisson", "log", np.array([-1.0, 2.0]))
    Traceback (most recent call last):
    ...
    mixedcompat.errors.DataError: negative values not allowed for the 'Poisson' family
    """
    y = _as_float(y)
    nobs = y.shape[0]
    w = _prior_weights(weights, nobs)
    if family == "binomial":
        return _binomial_initialize(y, w)
    if y.ndim != 1:
        raise DataError(f"the response of the {family} family must be a vector, not a matrix with {y.shape[1]} columns")
    ones = np.ones(nobs)
    if family == "poisson":
        if np.any(y < 0):
            raise DataError("negative values not allowed for the 'Poisson' family")
        return Initialized(y, w, y + 0.1, ones)
    if family == "Gamma":
        if np.any(y <= 0):
            raise DataError("non-positive values not allowed for the 'Gamma' family")
        return Initialized(y, w, y.copy(), ones)
    if family == "inverse.gaussian":
        if np.any(y <= 0):
            raise DataError("positive values only are allowed for the 'inverse.gaussian' family")
        return Initialized(y, w, y.copy(), ones)
    if family == "gaussian":
        if (link == "inverse" and np.any(y == 0)) or (link == "log" and np.any(y <= 0)):
            raise DataError("cannot find valid starting values: please specify some")
        return Initialized(y, w, y.copy(), ones)
    if family.startswith("Negative Binomial("):
        if np.any(y < 0):
            raise DataError("negative values not allowed for the negative binomial family")
        return Initialized(y, w, y + (y == 0) / 6.0, ones)
    raise DataError(f"no initialize for the {family!r} family")


def glm_response(family: "Family", y, weights=None, n_rows: int | None = None) -> GlmResponse:
    """The response, prior weights, starting means, trials and starting linear predictor that glmer
    builds from a response and prior weights (lme4's ``mkRespMod`` then ``family$initialize``, then
    ``eta = family$linkfun(mustart)``).

    Parameters
    ----------
    family : Family
        A :class:`mixedcompat.glm.families.Family`.
    y : array_like
        The response column: numbers, bool, a pandas Categorical / categorical Series (binomial), or a
        2-column array / DataFrame ``(successes, failures)`` (binomial ``cbind``).
    weights : array_like, optional
        Prior weights (binomial with a proportion: the numbers of trials). Default 1.
    n_rows : int, optional
        The number of rows the model frame has; checked against ``y``.

    Returns
    -------
    GlmResponse
        ``y`` (binomial: proportions), ``weights`` (binomial ``cbind``: times the trials),
        ``mustart``, ``n`` (trials, for ``aic``) and ``eta``.

    Examples
    --------
    >>> from mixedcompat.glm.families import binomial
    >>> r = glm_response(binomial(), pd.Series([True, False, True]))
    >>> r.y.tolist(), r.mustart.tolist()
    ([1.0, 0.0, 1.0], [0.75, 0.25, 0.75])
    """
    values = response_values(y, binomial=family.family == "binomial")
    if n_rows is not None and values.shape[0] != n_rows:
        raise DataError(f"the response has {values.shape[0]} rows, the model frame {n_rows}")
    init = family.initialize(values, weights)
    eta = family.linkfun(init.mustart)
    return GlmResponse(init.y, init.weights, init.mustart, init.n, eta)
