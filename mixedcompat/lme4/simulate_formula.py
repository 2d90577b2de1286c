"""lme4's ``simulate.formula``: responses simulated from a model formula, new data and parameter
values, without a fit (power analysis): ``mc.simulate("~ x + (1 | g)", newdata=d, newparams={...})``.

The model matrices are :func:`mixedcompat.lme4.modular.lFormula`'s (``glFormula``'s with a family)
on ``newdata``, as lme4 builds them; then, as lme4's ``.simulateFun`` with ``re.form = NA``:
``b* = Lambda(theta) u*``, ``u* ~ N(0, I)`` per simulation, and
``y* = X beta + offset + sigma (Z b* + e*)`` for a linear mixed model (prior weights do not scale
``e*``: lme4 1.1-31 ignores them there); for a GLMM ``mu* = linkinv(X beta + offset + Z b*)`` and a
draw from the family as lme4's ``simfunList`` (binomial: successes out of ``weights`` trials,
returned as proportions, or with a ``cbind(s, f)`` response successes and failures out of its row
sums, as lme4; Poisson counts; Gamma and inverse Gaussian with lme4 1.1-31's shape from sigma...).  numpy's generator: the law is lme4's, the draws are not.

``newparams`` as lme4's ``setParams``: ``theta`` (lme4's order, ``ThetaLayout.names``), ``beta``
(the columns of X), ``sigma`` (models with a scale: gaussian, Gamma, inverse Gaussian; not binomial
or Poisson, as lme4's ``useSc``).  Named vectors (dicts or Series) must name exactly
those entries; unnamed ones are taken in that order.  As lme4, a parameter left out warns "some
parameters not specified in setParams()" and keeps lme4's value: theta its start (1 on template
diagonals), beta 0, and sigma NA -- so a gaussian simulation without sigma is all NaN, as in R.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front.data_input import as_data_frame
from mixedcompat.front.formula import FormulaParts, parse_formula
from mixedcompat.front.reterms import ThetaLayout
from mixedcompat.front.rlang import Node, sym
from mixedcompat.generics import register_formula_method
from mixedcompat.glm.families import family_of
from mixedcompat.glmer.refit import draw_response, family_name, response_kind
from mixedcompat.lme4.modular import LmerFormula, glFormula, lFormula
from mixedcompat.lme4.prediction import check_nsim, is_none_form

__all__ = ["simulate_formula", "SimulationModel", "simulation_model", "MISSING_PARAMS_WARNING"]

MISSING_PARAMS_WARNING = "some parameters not specified in setParams()"
DUMMY_RESPONSE = "simulated_response_"


class SimulationModel:
    """The deterministic parts of a formula simulation: the :class:`LmerFormula` on ``newdata``,
    ``theta``, ``beta``, ``sigma`` (lme4's order), ``eta0 = X beta + offset`` and ``Lambdat``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": list("aabb"), "x": [0.0, 1.0, 0.0, 1.0]})
    >>> sm = simulation_model("~ x + (1 | g)", d, {"theta": [1.0], "beta": [2.0, 0.5], "sigma": 1.0})
    >>> sm.eta0.tolist()
    [2.0, 2.5, 2.0, 2.5]
    """

    def __init__(self, lf: LmerFormula, theta: np.ndarray, beta: np.ndarray, sigma: float, family: Any):
        self.lf = lf
        self.theta = theta
        self.beta = beta
        self.sigma = sigma
        self.family = family
        frame = lf.frame
        eta = frame.X @ beta if frame.X.shape[1] else np.zeros(len(frame.y))
        self.eta0 = eta + (frame.offset if frame.offset is not None else 0.0)
        self.layout = ThetaLayout.of(lf.terms)

    @property
    def Lambdat(self):  # noqa: N802 (lme4's name)
        """lme4's ``Lambdat`` at ``theta`` (sparse)."""
        return self._lambdat()

    def _lambdat(self):
        lt = self.lf.reTrms["Lambdat"].copy()
        lt.data = self.theta[self.lf.reTrms["Lind"] - 1]
        return lt

    def cov_y(self) -> np.ndarray:
        """The covariance of a simulated response of a linear mixed model:
        ``sigma^2 (Z Lambda Lambda' Z' + I)`` (dense: for checks on small designs)."""
        zl = (self._lambdat() @ self.lf.reTrms["Zt"]).T.toarray()     # Z Lambda = (Lambdat Zt)'
        return self.sigma ** 2 * (zl @ zl.T + np.eye(zl.shape[0]))

    def draw(self, rng: np.random.Generator, drawn: list[int]) -> np.ndarray:
        """One simulated response (the terms ``drawn`` get new random effects; the others 0)."""
        eta = self.eta0.copy()
        gaussian = self.family is None
        for k in drawn:
            t = self.lf.terms[k]
            T = t.template(self.theta[self.layout.slices[k]])
            b = rng.standard_normal((t.n_levels, t.q)) @ T.T
            eta = eta + (self.sigma if gaussian else 1.0) * np.einsum("ij,ij->i", t.X, b[t.codes])
        if gaussian:
            return eta + self.sigma * rng.standard_normal(len(eta))
        if not np.isfinite(self.sigma):        # a scale family without sigma: NA, as lme4
            return np.full(len(eta), np.nan)
        mu = self.family.linkinv(eta)
        w = self.trials
        y = draw_response(self.family, mu, w, self.sigma, rng)
        if family_name(self.family) != "binomial":
            return y
        if self.kind == "cbind":
            return np.column_stack([y, w - y])
        return y / w

    @property
    def frame(self):
        """The model frame (for :func:`mixedcompat.glmer.refit.response_kind`)."""
        return self.lf.frame

    @property
    def kind(self) -> str:
        """How the response is written: ``"cbind"`` (successes and failures), ``"factor"`` or ``"vector"``."""
        return response_kind(self)[0] if self.family is not None else "vector"

    @property
    def trials(self) -> np.ndarray:
        """The prior weights (binomial: trials): ``weights=``, else a ``cbind`` response's row sums
        (lme4's ``rowSums(r)``), else 1."""
        w = self.lf.frame.weights
        if w is None and self.kind == "cbind":
            return np.asarray(self.lf.frame.y, dtype=float).sum(axis=1)
        return np.ones(len(self.eta0)) if w is None else np.asarray(w, dtype=float)


def _param_vector(value: Any, names: list[str], what: str) -> np.ndarray:
    """lme4's ``setParams`` checks of one parameter vector: its length, and its names when named."""
    if isinstance(value, dict):
        value = pd.Series(value, dtype=float)
    if isinstance(value, pd.Series) and not isinstance(value.index, pd.RangeIndex):
        given = [str(k) for k in value.index]
        if len(given) != len(names):
            raise DataError(f"length mismatch in {what} ({len(given)}!={len(names)}): the model's {what} is "
                            f"({', '.join(names)})")
        if set(given) != set(names):
            unknown = sorted(set(given) - set(names))
            raise DataError(f"mismatch between '{what}' parameter vector names and internal names "
                            f"({','.join(names)}): unknown {', '.join(map(repr, unknown))}")
        return value.reindex(names).to_numpy(dtype=float)
    try:
        arr = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    except (TypeError, ValueError) as exc:
        raise DataError(f"newparams['{what}'] must be numeric: {exc}") from None
    if len(arr) != len(names):
        raise DataError(f"length mismatch in {what} ({len(arr)}!={len(names)}): the model's {what} is "
                        f"({', '.join(names)})")
    return arr


def _with_dummy_response(parts: FormulaParts, data: pd.DataFrame) -> tuple[FormulaParts, pd.DataFrame]:
    """A one-sided formula gets a response column of zeros (lme4's ``check.formula.LHS = "ignore"``:
    the response plays no part in a simulation)."""
    if parts.response is not None:
        return parts, data
    name = DUMMY_RESPONSE
    while name in data.columns:
        name += "_"
    data = data.assign(**{name: 0.0})
    tree = parts.tree
    if isinstance(tree, Node) and tree.kind in ("unop", "binop") and tree.value == "~":
        tree = Node("binop", "~", (sym(name), tree.args[-1]), tree.names, tree.text)
    return FormulaParts(parts.text, sym(name), parts.fixed, parts.re_terms, tree), data


def simulation_model(formula: str | Node, newdata: pd.DataFrame, newparams: dict, family: Any = None,
                     weights: Any = None, offset: Any = None) -> SimulationModel:
    """The model of :func:`simulate_formula` at ``newparams`` (see the module docstring).

    Raises
    ------
    DataError
        ``newparams`` with names other than lme4's, a wrong length or names of theta / beta, sigma for
        a family without scale, a missing column of ``newdata``.
    """
    data = as_data_frame(newdata)
    fam = None
    if family is not None:
        fam = family_of(family)
        if family_name(fam) == "gaussian" and fam.link.name == "identity":
            fam = None
    parts, data = _with_dummy_response(parse_formula(formula, one_sided=True), data)
    if fam is None:
        lf = lFormula(parts, data, weights=weights, offset=offset)
    else:
        lf = glFormula(parts, data, family=fam, weights=weights, offset=offset)
    has_scale = fam is None or bool(fam.has_scale)
    allowed = ("beta", "theta", "sigma") if has_scale else ("beta", "theta")
    if not isinstance(newparams, dict):
        raise DataError(f"newparams must be a dict with entries from {{{', '.join(repr(a) for a in allowed)}}}")
    bad = [k for k in newparams if k not in allowed]
    if bad:
        raise DataError(f"params should be specifed as a list with elements from "
                        f"{{{', '.join(repr(a) for a in allowed)}}} (not {', '.join(map(repr, bad))})")
    if set(allowed) - set(newparams):
        warnings.warn(MISSING_PARAMS_WARNING, UserWarning, stacklevel=3)
    layout = ThetaLayout.of(lf.terms)
    theta = layout.start.copy() if newparams.get("theta") is None else \
        _param_vector(newparams["theta"], list(layout.names), "theta")
    if np.any(theta < layout.lower):
        raise DataError(f"theta must be >= 0 on the template diagonals ({', '.join(np.asarray(layout.names)[theta < layout.lower])})")
    x_names = list(lf.frame.x_names)
    beta = np.zeros(len(x_names)) if newparams.get("beta") is None else \
        _param_vector(newparams["beta"], x_names, "beta")
    sigma = np.nan if has_scale else 1.0
    if has_scale and newparams.get("sigma") is not None:
        sig = np.atleast_1d(np.asarray(newparams["sigma"], dtype=float)).ravel()
        if len(sig) != 1:
            raise DataError(f"newparams['sigma'] must be one number, not {len(sig)}")
        sigma = float(sig[0])
        if not sigma >= 0:
            raise DataError(f"newparams['sigma'] must be >= 0, not {newparams['sigma']!r}")
    return SimulationModel(lf, theta, beta, sigma, fam)


def simulate_formula(formula: str | Node, nsim: int = 1, seed: Any = None, newdata: pd.DataFrame | None = None,
                     newparams: dict | None = None, family: Any = None, weights: Any = None, offset: Any = None,
                     use_u: bool = False, re_form: Any = None, allow_new_levels: bool = False) -> pd.DataFrame:
    """lme4's ``simulate(formula, newdata = , newparams = , family = )``: responses from the model at
    given parameters, without a fit (``mc.simulate`` with a formula first dispatches here).

    Parameters
    ----------
    formula : str or Node
        An lme4 formula; one-sided (``"~ x + (1 | g)"``) or with a response that ``newdata`` has.
    nsim : int
        Number of simulations.
    seed : int, numpy.random.Generator or None
        numpy's generator (R's random numbers are not reproduced; the law is lme4's).
    newdata : pandas.DataFrame
        The design: every variable of the formula.
    newparams : dict
        ``{"theta": ..., "beta": ..., "sigma": ...}`` as lme4's (see the module docstring).
    family : None, str, or family object
        None (or gaussian identity): a linear mixed model; ``"binomial"``, ``"poisson"``,
        ``mc.family.binomial(link="probit")``...: a GLMM.
    weights, offset : str or array-like, optional
        Prior weights (binomial: the number of trials) and offset, as :func:`mixedcompat.lmer`.
    use_u, re_form
        ``re_form=None`` (lme4's default ``re.form = NA``): every random-effects term drawn anew;
        ``use_u=True`` (R's ``re.form = NULL``): conditional on the random effects, which are 0 here;
        a formula of some of the terms: those are kept at 0, the others drawn.
    allow_new_levels : bool
        Accepted for lme4's signature: the model is built on ``newdata``, so no level is new.

    Returns
    -------
    pandas.DataFrame
        Columns ``sim_1 ... sim_<nsim>``, index = ``newdata``'s rows used; a ``cbind`` binomial
        response gives two columns per simulation, ``(sim_k, name)``, as glmer's ``simulate``.

    Notes
    -----
    lme4's message "theta parameter vector not named: assuming same order as internal vector" (an
    R message, not a warning) is not repeated: unnamed vectors are taken in lme4's order.

    Raises
    ------
    DataError
        No ``newdata`` or ``newparams``; bad parameters (see :func:`simulation_model`).

    Examples
    --------
    >>> import mixedcompat as mc, pandas as pd
    >>> d = pd.DataFrame({"g": list("aabbcc"), "x": [0.0, 1.0] * 3})
    >>> mc.simulate("~ x + (1 | g)", newdata=d, newparams={"theta": [1.0], "beta": [2.0, 0.5], "sigma": 1.0},
    ...             nsim=2, seed=1).shape
    (6, 2)
    """
    if newdata is None or newparams is None:
        raise DataError("if 'object' is missing, must specify all of 'formula', 'newdata', and 'newparams'")
    nsim = check_nsim(nsim)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = simulation_model(formula, newdata, newparams, family=family, weights=weights, offset=offset)
    for w in caught:     # given at the line of the user's mc.simulate(...) (this function is called by the generic)
        warnings.warn(w.message, w.category, stacklevel=3)
    terms = model.lf.terms
    if use_u and re_form is not None:
        raise FormulaError("simulate: give use_u=True or re_form, not both")
    if use_u:
        drawn: list[int] = []
    elif re_form is None or is_none_form(re_form):
        drawn = list(range(len(terms)))
    else:
        kept = {t.label for t in parse_formula(re_form, one_sided=True).re_terms}
        unknown = sorted(kept - {t.label for t in terms})
        if unknown:
            raise FormulaError(f"re_form names random-effects term(s) the model does not have: "
                               f"{', '.join(f'({u})' for u in unknown)}; the model's: "
                               f"{', '.join(f'({t.label})' for t in terms)}")
        drawn = [k for k, t in enumerate(terms) if t.label not in kept]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    draws = [model.draw(rng, drawn) for _ in range(nsim)]
    index = as_data_frame(newdata).index[model.lf.frame.rows]
    names = [f"sim_{i}" for i in range(1, nsim + 1)]
    if model.kind == "cbind":           # lme4: a successes / failures matrix per simulation
        labels = response_kind(model)[1]
        cols = pd.MultiIndex.from_tuples([(s, lab) for s in names for lab in labels])
        return pd.DataFrame(np.hstack(draws), index=index, columns=cols)
    return pd.DataFrame(np.column_stack(draws), index=index, columns=names)


register_formula_method("simulate", simulate_formula)
