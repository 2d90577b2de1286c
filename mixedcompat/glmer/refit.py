"""After a glmer fit: simulated responses, refits to a new response and updated fits, as lme4 1.1-31's
``simulate.merMod``, ``refit.merMod`` and ``update.merMod`` do for ``glmerMod`` objects.

* :func:`simulate`: the linear predictor with the random effects kept (``use_u`` / ``re_form``) or
  drawn anew (``b* = Lambda u*``, ``u* ~ N(0, I)``: for a GLMM lme4 does not scale the draw by sigma),
  the mean ``linkinv(eta*)``, then a draw from the family as lme4's ``simfunList``: binomial
  (``rbinom`` with the prior weights as trials; a ``cbind`` response gives a two-column matrix, a
  factor response a factor, otherwise proportions), Poisson, Gamma, inverse Gaussian, gaussian
  (non-identity links) and negative binomial.  numpy's generator: the law is R's, the draws are not.
* :func:`refit`: lme4's path -- one PIRLS at the fitted theta from the family's start for the new
  response gives the new ``lp0``: for ``nAGQ >= 1`` a ``u``-only update *without* ``X beta`` (lme4's
  predictor object holds ``beta0 = 0`` after stage 2, and the new response's offset is the data's),
  for ``nAGQ = 0`` the joint update; then *one* run of the fit's last optimiser from the fitted ``(theta, beta)`` (theta only
  for ``nAGQ = 0``) with the fit's ``optCtrl`` and the optimiser's own defaults (lme4's ``refit``
  calls ``optwrap`` without stage 2's steps: Nelder-Mead's are 0.02, BOBYQA's rhobeg minqa's), then
  the derivatives when the fit has them; no boundary check.
* :func:`update`: ``glmer()`` again with a changed formula or arguments.

:class:`GlmerSimulator` and :class:`GlmerRefitter` do the per-model set-up once; ``bootMer`` and
``PBmodcomp`` use them for glmer fits.

Known lme4 1.1-31 bugs, reproduced by default (``gamma_shape="lme4"``), corrected on request
(``gamma_shape="dispersion"``): the Gamma simulator uses ``shape = sigma * w`` (the shape is
``1 / sigma^2`` for lme4's ``sigma``), the inverse-Gaussian one ``lambda = w / sigma`` (``w / sigma^2``).
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front.rlang import parse
from mixedcompat.front.terms import update_formula_tree
from mixedcompat.front.transforms import Fac
from mixedcompat.glm.response import glm_response
from mixedcompat.glmer.fit import GlmerMod, glmer
from mixedcompat.glmer.objective import GlmerObjective
from mixedcompat.glmer.pirls import pirls
from mixedcompat.glmer.stages import GlmerOpt, StageResult, run_optimizer
from mixedcompat.lme4.convergence import deriv12
from mixedcompat.lme4.prediction import check_nsim, drawn_terms, form_of, predict as lme4_predict, select_re
from mixedcompat.numerics.threads import blas_threads

__all__ = ["simulate", "refit", "update", "GlmerSimulator", "GlmerRefitter", "family_name", "draw_response",
           "response_kind", "UPDATE_ARGS"]

UPDATE_ARGS = ("data", "family", "weights", "offset", "nAGQ", "subset", "na_action", "contrasts", "control",
               "start")
GAMMA_SHAPES = ("lme4", "dispersion")


# ------------------------------------------------------------------------------------------------
# the family's draw (lme4's simfunList)


def family_name(family: Any) -> str:
    """R's family name as lme4's ``normalizeFamilyName``: ``"Negative Binomial(2.5)"`` ->
    ``"negative.binomial"``; others unchanged.

    Examples
    --------
    >>> family_name(type("F", (), {"family": "Negative Binomial(1.5)"})())
    'negative.binomial'
    """
    name = str(getattr(family, "family", family))
    if name.startswith("Negative Binomial"):
        return "negative.binomial"
    return name


def _nb_theta(family: Any) -> float:
    for attr in ("theta", "Theta", ".Theta"):
        v = getattr(family, attr, None)
        if v is not None:
            return float(v)
    name = str(getattr(family, "family", ""))
    try:
        return float(name[name.index("(") + 1:name.rindex(")")])
    except ValueError as exc:
        raise DataError(f"the negative binomial family {name!r} has no theta") from exc


def draw_response(family: Any, mu: np.ndarray, weights: np.ndarray, sigma: float, rng: np.random.Generator,
                  gamma_shape: str = "lme4") -> np.ndarray:
    """One draw per mean from the family, as lme4's ``simfunList`` (binomial: the number of successes
    out of ``weights`` trials; the caller turns it into the response's form).

    Examples
    --------
    >>> import numpy as np
    >>> fam = type("F", (), {"family": "poisson"})()
    >>> draw_response(fam, np.array([1.0, 2.0]), np.ones(2), 1.0, np.random.default_rng(1)).shape
    (2,)
    """
    name = family_name(family)
    w = np.asarray(weights, dtype=float)
    mu = np.asarray(mu, dtype=float)
    if name == "binomial":
        if np.any(w % 1 != 0):
            raise DataError("cannot simulate from non-integer prior.weights")
        return rng.binomial(w.astype(np.int64), np.clip(mu, 0.0, 1.0)).astype(float)
    if name == "poisson":
        return rng.poisson(mu).astype(float)
    if name == "negative.binomial":
        th = _nb_theta(family)
        return rng.negative_binomial(th, th / (th + mu)).astype(float)
    if name == "Gamma":
        shape = (sigma if gamma_shape == "lme4" else 1.0 / sigma ** 2) * w
        return rng.gamma(shape, mu / shape)
    if name == "inverse.gaussian":
        lam = w / (sigma if gamma_shape == "lme4" else sigma ** 2)
        return rng.wald(mu, lam)
    if name == "gaussian":
        return rng.normal(mu, sigma)
    raise DataError(f"simulation not implemented for family '{name}'")


def _weights_notes(name: str, weights: np.ndarray) -> None:
    """lme4's conditions about prior weights in its simulators (warnings and messages, in its words)."""
    if np.all(weights == 1) or name == "binomial":
        return
    if name in ("poisson", "negative.binomial", "gaussian"):
        warnings.warn("ignoring prior weights", UserWarning, stacklevel=4)
    elif name == "Gamma":
        warnings.warn("using weights to scale shape parameter", UserWarning, stacklevel=4)
    elif name == "inverse.gaussian":
        warnings.warn("using weights as inverse variances", UserWarning, stacklevel=4)


def response_kind(m) -> tuple[str, Any]:
    """How a glmer fit's response is written: ``("cbind", column names)``, ``("factor", levels)`` or
    ``("vector", None)``.  lme4 names a ``cbind`` column after its argument when that is a bare name,
    ``""`` otherwise (``cbind(incidence, size - incidence)`` -> ``["incidence", ""]``)."""
    y = m.frame.y
    if family_name(m.family) == "binomial" and np.ndim(y) == 2 and y.shape[1] == 2:
        names = ["", ""]
        try:
            node = parse(m.frame.response_name)
            args = getattr(node, "args", None) or []
            for i, a in enumerate(args[:2]):
                if type(a).__name__ == "Sym" or getattr(a, "kind", None) == "sym":
                    names[i] = a.deparse()
        except Exception:  # noqa: BLE001 - a name we cannot read stays ""
            pass
        return "cbind", names
    raw = getattr(m.frame, "response_raw", None)
    if isinstance(raw, Fac):
        return "factor", list(raw.levels)
    return "vector", None


# ------------------------------------------------------------------------------------------------
# simulate


class GlmerSimulator:
    """Draws responses from a glmer fit as :func:`simulate` does, with the set-up done once.

    ``draw(rng)`` returns the response in the form ``refit`` takes: a vector (proportions, counts,
    0/1 codes of a factor) or, for a ``cbind`` response, an ``n x 2`` matrix.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")      # doctest: +SKIP
    >>> GlmerSimulator(m)(np.random.default_rng(1)).shape              # doctest: +SKIP
    (56, 2)
    """

    def __init__(self, m, use_u: bool = False, re_form: Any = None, newdata: pd.DataFrame | None = None,
                 allow_new_levels: bool = False, gamma_shape: str = "lme4", warn: bool = True):
        if gamma_shape not in GAMMA_SHAPES:
            raise ValueError(f"gamma_shape must be one of {GAMMA_SHAPES}, not {gamma_shape!r}")
        if use_u and re_form is not None:
            raise FormulaError("simulate: give use_u=True or re_form, not both (use_u=True means re_form=None "
                               "in R: condition on all random effects)")
        keep = select_re(m, None) if use_u else ({} if re_form is None else select_re(m, re_form))
        for k, cols in keep.items():
            if len(cols) != m.terms[k].q:
                raise FormulaError(f"simulate: re_form must name whole random-effects terms; ({m.terms[k].label}) "
                                   f"is only partly named")
        self.family = m.family
        self.name = family_name(m.family)
        self.gamma_shape = gamma_shape
        self.sigma = m.sigma()
        self.kind, self.labels = response_kind(m)
        form = None if use_u else form_of(m, keep)
        if newdata is None:
            self.eta = m.predict(None, re_form=form, type="link")
            self.weights = np.asarray(m.gdata.weights, dtype=float)
            self.index = m.frame.data.index
        else:
            self.eta = m.predict(newdata, re_form=form, type="link", allow_new_levels=allow_new_levels)
            self.weights = np.ones(len(newdata))
            self.index = newdata.index
        self.n = len(self.eta)
        self.drawn = drawn_terms(m, keep, newdata, m._factor.templates)
        if warn:
            _weights_notes(self.name, self.weights)

    def mean(self, rng: np.random.Generator) -> np.ndarray:
        """The simulated mean ``linkinv(eta + Z Lambda u*)`` (lme4's ``musim``)."""
        eta = self.eta.copy()
        for X, codes, n_levels, T in self.drawn:
            b = rng.standard_normal((n_levels, T.shape[0])) @ T.T
            bz = np.vstack([b, np.full((1, b.shape[1]), np.nan)])
            eta = eta + np.einsum("ij,ij->i", X, bz[codes])
        r_link = getattr(getattr(self.family, "link", None), "r", None)   # R's family$linkinv (make.link's)
        return (r_link.linkinv if r_link is not None else self.family.linkinv)(eta)

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        mu = self.mean(rng)
        y = draw_response(self.family, mu, self.weights, self.sigma, rng, self.gamma_shape)
        if self.name != "binomial":
            return y
        if self.kind == "cbind":
            return np.column_stack([y, self.weights - y])
        if self.kind == "factor":
            return y
        return y / self.weights


def simulate(m, nsim: int = 1, seed: Any = None, use_u: bool = False, re_form: Any = None,
             newdata: pd.DataFrame | None = None, allow_new_levels: bool = False,
             gamma_shape: str = "lme4") -> pd.DataFrame:
    """Responses simulated from a glmer fit, as lme4's ``simulate.merMod``.

    Parameters
    ----------
    m : GlmerMod
    nsim : int
        Number of simulations (>= 1).
    seed : int, numpy.random.Generator or None
        Seed of numpy's generator (R's random numbers are not reproduced; the law is R's).
    use_u : bool
        True: keep the fitted random effects (R's ``use.u = TRUE`` / ``re.form = NULL``); False
        (default, R's ``re.form = NA``): draw new ones, ``b* = Lambda u*`` with ``u* ~ N(0, I)``.
    re_form : str, optional
        Random-effects terms whose fitted values are kept; the others are drawn.
    newdata : pandas.DataFrame, optional
        Simulate for these rows (prior weights 1; binomial: one trial).
    allow_new_levels : bool
        As :func:`mixedcompat.predict`.
    gamma_shape : {"lme4", "dispersion"}
        Gamma / inverse-Gaussian shape: lme4 1.1-31's ``sigma * w`` (a known lme4 bug, the default
        so that results match lme4) or the dispersion's ``w / sigma^2``.

    Returns
    -------
    pandas.DataFrame
        Columns ``sim_1 ... sim_<nsim>``; for a ``cbind`` binomial response, a two-level column index
        ``(sim_k, name)`` with lme4's column names (successes, failures); a factor response gives
        categorical columns with its levels; proportions for a binomial response given as a proportion
        with weights.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")      # doctest: +SKIP
    >>> simulate(m, nsim=2, seed=1).shape                               # doctest: +SKIP
    (56, 4)
    """
    nsim = check_nsim(nsim)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    sim = GlmerSimulator(m, use_u=use_u, re_form=re_form, newdata=newdata, allow_new_levels=allow_new_levels,
                         gamma_shape=gamma_shape)
    names = [f"sim_{i}" for i in range(1, nsim + 1)]
    draws = [sim(rng) for _ in range(nsim)]
    if sim.kind == "cbind" and newdata is None:
        cols = pd.MultiIndex.from_tuples([(s, lab) for s in names for lab in sim.labels])
        return pd.DataFrame(np.hstack(draws), index=sim.index, columns=cols)
    if sim.kind == "cbind":              # newdata: one trial per row, as lme4 (a matrix per simulation)
        cols = pd.MultiIndex.from_tuples([(s, lab) for s in names for lab in sim.labels])
        return pd.DataFrame(np.hstack([np.column_stack([d, 1 - d]) if d.ndim == 1 else d for d in draws]),
                            index=sim.index, columns=cols)
    if sim.kind == "factor":
        levels = sim.labels
        return pd.DataFrame({s: pd.Categorical.from_codes(d.astype(int), categories=levels)
                             for s, d in zip(names, draws)}, index=sim.index)
    return pd.DataFrame(np.column_stack(draws), index=sim.index, columns=names)


# ------------------------------------------------------------------------------------------------
# refit


def _as_response(m, newresp: Any, family: Any = None) -> tuple[Any, np.ndarray]:
    """``newresp`` as the family's response (glm's ``initialize`` on it, with the fit's prior weights:
    a two-column matrix gives proportions and trials, a factor or its codes 0/1) and the raw value
    kept in the refit's frame."""
    if isinstance(newresp, pd.DataFrame):
        top = newresp.columns.get_level_values(0) if isinstance(newresp.columns, pd.MultiIndex) else newresp.columns
        if len(pd.unique(top)) != 1:
            raise DataError("refit not implemented for 'newresp' lists of length > 1: consider "
                            "'[refit(m, sim) for sim in ...]'")
        newresp = newresp.iloc[:, 0] if newresp.shape[1] == 1 else newresp.to_numpy()
    if isinstance(newresp, pd.Series) and isinstance(newresp.dtype, pd.CategoricalDtype):
        newresp = newresp.cat.codes.to_numpy().astype(float)
    elif isinstance(newresp, pd.Categorical):
        newresp = np.asarray(newresp.codes, dtype=float)
    elif isinstance(newresp, Fac):
        newresp = newresp.codes.astype(float)
    try:
        y = np.asarray(newresp.to_numpy() if isinstance(newresp, pd.Series) else newresp, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"newresp must be numeric: {exc}") from exc
    n = m.nobs()
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape[0] != n or y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 2):
        raise DataError(f"newresp has {y.shape[0]} rows but the model has {n} observations (nobs); "
                        f"refit needs one response per observation used in the fit")
    if not np.all(np.isfinite(y)):
        raise DataError(f"newresp has {int((~np.isfinite(y)).sum())} missing or infinite value(s)")
    if y.ndim == 2 and family_name(m.family) != "binomial":
        raise DataError("a two-column newresp is for binomial fits only")
    return glm_response(m.family if family is None else family, y, m.frame.weights, n_rows=n), y


class GlmerRefitter:
    """Refits one glmer model to new responses on lme4's ``refit`` path (see the module docstring).

    ``fit(y)`` returns the :class:`~mixedcompat.glmer.fit.GlmerMod` of ``refit(m, y)``;
    ``criterion(y)`` only its objective (-2 log L), what ``PBmodcomp`` needs.  ``family`` replaces the
    fit's family (lme4's ``refit(setNBdisp(m, theta))`` in ``glmer.nb``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")      # doctest: +SKIP
    >>> r = GlmerRefitter(m)                                            # doctest: +SKIP
    >>> abs(r.criterion(m.frame.y) - m.criterion) < 1e-6 * m.criterion  # doctest: +SKIP
    True
    """

    def __init__(self, m, family: Any = None):
        self.m = m
        self.family = m.family if family is None else family     # glmer.nb: the same model, another theta
        self.ctrl = dict(m.control)
        self.x0 = np.concatenate([m.theta, m.beta]) if m.nAGQ > 0 else np.array(m.theta, dtype=float)
        n_theta = len(m.theta)
        lower_theta = np.asarray(m.layout.lower, dtype=float)
        self.lower = np.concatenate([lower_theta, np.full(len(m.beta), -np.inf)]) if m.nAGQ > 0 else lower_theta
        self.n_theta = n_theta
        self.optimizer = m.optinfo["optimizer"][-1]          # lme4: object@optinfo$optimizer
        if self.optimizer == "none":                           # a fit at its start values (optimizer=None)
            self.optimizer = "Nelder_Mead" if m.nAGQ > 0 else "bobyqa"

    def optimize(self, newresp: Any, derivs_wanted: bool | None = None) -> tuple[GlmerOpt, Any, Any]:
        """The refit's optimisation; derivatives (for vcov) when the fit has them, unless told."""
        m, ctrl = self.m, self.ctrl
        if derivs_wanted is None:
            derivs_wanted = m.opt.derivs is not None
        resp, raw = _as_response(m, newresp, self.family)
        g = dataclasses.replace(m.gdata, y=resp.y, weights=resp.weights, n_trials=resp.n, family=self.family)
        tol, maxit = ctrl["tolPwrss"], ctrl["maxit"]
        with blas_threads(ctrl.get("blas_threads", 1)):
            eta_start = g.offset + resp.eta          # the family's start (glm's mustart) for the new response
            joint = m.nAGQ == 0
            # lme4's first PIRLS of refit: the fit's predictor object keeps beta0 = 0 after glmer's stage 2
            # (beta enters its objective through the offset), and the new response's offset is the data's:
            # so the u-only update fits the response with the random effects alone, X beta left out
            r0 = pirls(g, np.asarray(m.theta), eta_start, g.offset, joint=joint, tol=tol, maxit=maxit)
            obj = GlmerObjective(g, r0.eta - g.offset, m.nAGQ, tol, maxit)
            start = StageResult(self.x0.copy(), float("nan"), 0, 0, "", "none")
            s = run_optimizer(self.optimizer, obj, self.x0, self.lower, 1, dict(ctrl.get("optCtrl") or {}))
            s1, s2 = (s, None) if joint else (start, s)
            derivs = deriv12(obj, s.par, fx=s.fval) if (derivs_wanted and not joint) else None
            fval, state = obj.evaluate(s.par)
        return GlmerOpt(obj, s.par, fval, state, s1, s2, derivs, self.lower), g, raw

    def criterion(self, newresp: Any) -> float:
        """The refit's objective (-2 log L) only: no derivatives."""
        return float(self.optimize(newresp, derivs_wanted=False)[0].fval)

    def fit(self, newresp: Any) -> GlmerMod:
        m = self.m
        opt, g, raw = self.optimize(newresp)
        frame = dataclasses.replace(m.frame, y=raw)
        call = dict(m.call)
        data = call.get("data")
        name = m.frame.response_name
        if isinstance(data, pd.DataFrame) and raw.ndim == 1 and name in data.columns \
                and pd.api.types.is_numeric_dtype(data[name]):
            data = data.copy()
            col = data.columns.get_loc(name)
            data[name] = data[name].astype(float)
            data.iloc[m.frame.rows, col] = raw
            call["data"] = data
        else:
            call["newresp"] = raw       # the data's response column cannot hold it (cbind, factor)
        with blas_threads(self.ctrl.get("blas_threads", 1)):
            return GlmerMod(m.formula, m.parts, frame, m.terms, g, m.layout, opt, m.nAGQ, m.control,
                            list(m.optinfo.get("fit_warnings", [])), call, m.data_name)


def refit(m, newresp: Any) -> GlmerMod:
    """The same glmer model fitted to a new response, on lme4 1.1-31's ``refit`` path.

    Parameters
    ----------
    m : GlmerMod
    newresp : array-like, Series, Categorical or one simulation of :func:`simulate`
        One value per observation used in the fit; for a binomial fit also an ``n x 2`` matrix of
        successes and failures (the weights become the row totals, as lme4) or a factor (first
        level = failure).

    Returns
    -------
    GlmerMod

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")      # doctest: +SKIP
    >>> m2 = refit(m, simulate(m, seed=1))                              # doctest: +SKIP
    """
    return GlmerRefitter(m).fit(newresp)


def update(m, formula: Any = None, **kwargs) -> GlmerMod:
    """``glmer()`` again with a changed formula (R's update syntax, ``". ~ . - period"``) and/or
    arguments, as lme4's ``update.merMod``.

    Parameters
    ----------
    m : GlmerMod
    formula : str or Node, optional
    **kwargs
        glmer arguments that replace the fit's: ``data``, ``family``, ``weights``, ``offset``, ``nAGQ``,
        ``subset``, ``na_action``, ``contrasts``, ``control``, ``start``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              mc.datasets.load("cbpp"), family="binomial")      # doctest: +SKIP
    >>> update(m, ". ~ . - period").formula                             # doctest: +SKIP
    'cbind(incidence, size - incidence) ~ (1 | herd)'
    """
    unknown = sorted(set(kwargs) - set(UPDATE_ARGS))
    if unknown:
        raise TypeError(f"update: unknown argument(s) {', '.join(unknown)}; glmer takes {', '.join(UPDATE_ARGS)}")
    call = dict(m.call)
    if call.get("data") is None:
        raise DataError("update: the original data are not stored with this fit; pass data=")
    if "newresp" in call and "data" not in kwargs:
        raise DataError("update: this fit is a refit to a response the data cannot hold (a cbind matrix or "
                        "factor); pass data= with the new response")
    call["formula"] = m.parts if formula is None else update_formula_tree(m.parts, formula)
    call.update(kwargs)
    args = {k: call[k] for k in ("formula", *UPDATE_ARGS) if k in call}
    return glmer(**args)
