"""After the fit: predictions and simulated responses, as lme4's merMod methods, and the pieces the
inference modules reuse (``select_re``, ``term_matrix``, ``level_codes``...).  Works on any fit with
an ``LmerMod``'s components (duck typing: this module does not import the fit class).

* :func:`predict` is lme4's ``predict.merMod``: fixed part from the training model matrix spec
  (contrasts, ``poly``/``scale`` coefficients, formula ``offset()`` terms), random effects matched to
  the fitted levels **by label**, ``re_form`` to keep all, none or some of the terms, new levels
  refused or (``allow_new_levels=True``) given a zero random effect.
* :func:`simulate` is ``simulate.merMod`` (new random effects and residuals, or conditional on the
  fitted random effects); numpy's generator, not R's, so draws differ from R's but not their law.

``refit`` and ``update``, which build new fits, live with the fit class (:mod:`mixedcompat.lme4.fit`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mixedcompat.front.data_input import as_data_frame
from mixedcompat.front.design import build_fixed, build_matrix, group_factor, group_leaves, model_matrix
from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front.formula import RETerm, parse_formula
from mixedcompat.front.reterms import lme4_term_order
from mixedcompat.front.terms import rhs_terms
from mixedcompat.front.rlang import Node, parse
from mixedcompat.front.transforms import EvalContext, Fac, Num, evaluate

__all__ = ["predict", "simulate", "select_re", "form_of", "original_order", "term_matrix",
           "check_nsim", "is_none_form", "group_on", "level_codes", "drawn_terms"]

NEW_LEVELS_MESSAGE = "new levels detected in newdata"
NA_GROUP_MESSAGE = ("NAs are not allowed in prediction data for grouping variables unless "
                    "allow.new.levels is TRUE")


# ------------------------------------------------------------------------------------------------
# re_form: which random-effects columns to use


def original_order(m) -> list[int]:
    """Index into ``m.frame.re_specs`` / ``m.parts.re_terms`` of each term of ``m.terms`` (lme4 reorders)."""
    order = lme4_term_order([len(levels) for _codes, levels in m.frame.re_groups])
    for t, i in zip(m.terms, order):
        if t.label != m.parts.re_terms[i].label:   # the layout lmer() built; a mismatch is a bug
            raise RuntimeError(f"internal: term order mismatch ({t.label} vs {m.parts.re_terms[i].label})")
    return order


def is_none_form(re_form: Any) -> bool:
    if re_form is None:
        return False
    if isinstance(re_form, float) and math.isnan(re_form):
        return True
    if isinstance(re_form, str):
        text = "".join(re_form.split())
        return text in ("NA", "~0", "0", "~-1", "~1", "1", "~0+1", "~1-1")  # no random-effects terms
    return False


def _re_form_terms(re_form: str) -> tuple[RETerm, ...]:
    text = re_form.strip()
    if not text.startswith("~"):
        raise FormulaError(f"re_form must be None, 'NA', '~0' or a one-sided formula of random-effects "
                           f"terms such as '~(1 | g)', not {re_form!r}")
    return parse_formula(text, one_sided=True).re_terms


def select_re(m, re_form: Any) -> dict[int, list[int]]:
    """The random-effects columns ``re_form`` keeps: index in ``m.terms`` -> column indices.

    ``None``: every column of every term; ``"NA"``/``"~0"``: none; a formula: the columns its
    terms name, matched to the model's terms by grouping factor and column name (as lme4 does, so
    ``~(1 | g)`` keeps the intercept of a ``(x | g)`` term).

    Raises
    ------
    FormulaError
        A term's grouping factor or one of its columns is not in the model.
    """
    if re_form is None:
        return {k: list(range(t.q)) for k, t in enumerate(m.terms)}
    if is_none_form(re_form):
        return {}
    if isinstance(re_form, tuple) and all(isinstance(t, RETerm) for t in re_form):
        terms = re_form                 # the model's own terms (form_of)
    elif not isinstance(re_form, str):
        raise FormulaError(f"re_form must be None, 'NA', '~0' or a formula string, not {re_form!r}")
    else:
        terms = _re_form_terms(re_form)
    order = original_order(m)
    model_labels = ", ".join(f"({t.label})" for t in m.terms)
    out: dict[int, set[int]] = {}
    for term in terms:
        ks = [k for k, t in enumerate(m.terms) if t.group == term.group_text]
        if not ks:
            raise FormulaError(f"re_form term ({term.label}): grouping factor {term.group_text!r} is not in the model "
                               f"(random-effects terms: {model_labels})")
        same = [k for k in ks if _same_expr(m.parts.re_terms[order[k]].expr, term.expr)]
        if same:
            out.setdefault(same[0], set()).update(range(m.terms[same[0]].q))
            continue
        try:
            names = model_matrix(term.expr, m.frame.data)[1]
        except (FormulaError, DataError) as exc:
            raise FormulaError(f"re_form term ({term.label}) cannot be evaluated: {exc}") from exc
        for name in names:
            hits = [(k, m.terms[k].names.index(name)) for k in ks if name in m.terms[k].names]
            if not hits:
                raise FormulaError(f"re_form term ({term.label}): random effect {name!r} of grouping factor "
                                   f"{term.group_text!r} is not in the model (random-effects terms: {model_labels})")
            k, j = hits[0]
            out.setdefault(k, set()).add(j)
    return {k: sorted(cols) for k, cols in sorted(out.items())}


def _same_expr(a: Node, b: Node) -> bool:
    try:
        sa, sb = rhs_terms(a), rhs_terms(b)
    except FormulaError:
        return a == b
    return sa.labels == sb.labels and sa.intercept == sb.intercept


# ------------------------------------------------------------------------------------------------
# pieces of the linear predictor on new data


def _reraise_newdata(exc: Exception) -> Exception:
    cls = type(exc) if isinstance(exc, (FormulaError, DataError)) else DataError
    return cls(f"newdata: {exc}")


def _fixed_part(m, newdata: pd.DataFrame) -> np.ndarray:
    """X beta + the formula's offset() terms on newdata (lme4 ignores an ``offset=`` argument here)."""
    spec = m.frame.fixed_spec
    try:
        X = build_fixed(spec, newdata)
        eta = X @ m.beta if X.shape[1] else np.zeros(len(newdata))
        struct = spec.structure
        if struct.offsets:
            ctx = EvalContext(newdata, params=spec.params, fit=False)
            for i in struct.offsets:
                val = evaluate(struct.variables[i], ctx)
                if isinstance(val, Fac):
                    raise DataError(f"offset {struct.names[i]!r} must be numeric")
                eta = eta + np.broadcast_to(np.asarray(val.values if isinstance(val, Num) else val, float),
                                            (len(newdata),))
    except (FormulaError, DataError, KeyError) as exc:
        raise _reraise_newdata(exc) from exc
    return np.asarray(eta, dtype=float)


def group_on(group: Node | str, newdata: pd.DataFrame) -> Fac:
    """The grouping factor ``group`` (``g``, ``b:a``..., a tree or R text) evaluated on newdata, with its
    own levels."""
    node = group if isinstance(group, Node) else parse(group)
    leaves: list = []
    group_leaves(node, leaves)
    ctx = EvalContext(newdata)
    values = {}
    try:
        for leaf in leaves:
            values[leaf] = evaluate(leaf, ctx)
        return group_factor(node, values, None, node.deparse())
    except (FormulaError, DataError) as exc:
        raise _reraise_newdata(exc) from exc


def level_codes(t, newdata: pd.DataFrame) -> np.ndarray:
    """Codes of newdata's rows into the training levels of term ``t``: -1 new level, -2 missing."""
    fac = group_on(t.group_expr or t.group, newdata)
    pos = {lv: i for i, lv in enumerate(t.levels)}
    remap = np.array([pos.get(lv, -1) for lv in fac.levels] + [-2], dtype=np.int64)
    return remap[fac.codes]  # code -1 (NA) picks the last slot


def term_matrix(m, k: int, newdata: pd.DataFrame | None, order: list[int]) -> np.ndarray:
    if newdata is None:
        return m.terms[k].X
    try:
        return build_matrix(m.frame.re_specs[order[k]], newdata)
    except (FormulaError, DataError, KeyError) as exc:
        raise _reraise_newdata(exc) from exc


def _random_part(m, newdata: pd.DataFrame | None, keep: dict[int, list[int]], allow_new_levels: bool,
                 n: int) -> np.ndarray:
    out = np.zeros(n)
    if not keep:
        return out
    order = original_order(m)
    for k, cols in keep.items():
        t = m.terms[k]
        X = term_matrix(m, k, newdata, order)[:, cols]
        b = np.asarray(m.b[k])[:, cols]
        if newdata is None:
            codes = t.codes
        else:
            codes = level_codes(t, newdata)
            if np.any(codes == -2) and not allow_new_levels:
                raise DataError(f"{NA_GROUP_MESSAGE} (grouping factor {t.group!r} has "
                                f"{int(np.sum(codes == -2))} missing value(s) in newdata)")
            if np.any(codes == -1) and not allow_new_levels:
                fac = group_on(t.group_expr or t.group, newdata)
                new = list(dict.fromkeys(fac.levels[c] for c in fac.codes[codes == -1]))
                raise DataError(f"{NEW_LEVELS_MESSAGE}: {', '.join(new)} (grouping factor {t.group!r}; "
                                "use allow_new_levels=True for population-level predictions for them)")
        bz = np.vstack([b, np.zeros((1, b.shape[1]))])      # new or missing level -> b = 0
        out = out + np.einsum("ij,ij->i", X, bz[np.where(codes < 0, len(b), codes)])
    return out


# ------------------------------------------------------------------------------------------------
# predict


def predict(m, newdata: pd.DataFrame | None = None, re_form: Any = None, allow_new_levels: bool = False,
            type: str = "response", random_only: bool = False, na_action: str = "pass") -> np.ndarray:
    """Predictions from a fitted model, as lme4's ``predict.merMod``.

    Parameters
    ----------
    m : LmerMod
    newdata : pandas.DataFrame, optional
        Rows to predict for; ``None`` predicts for the rows used in the fit (with their offset).
        Factors are matched to the training levels by label; rows with a missing covariate give NaN.
    re_form : None, "NA", "~0" or str
        ``None``: all random effects; ``"NA"`` or ``"~0"``: none (population level); a formula of
        random-effects terms such as ``"~(1 | Subject)"``: only those.
    allow_new_levels : bool
        Give levels (and missing values) of grouping factors not seen in the fit a zero random
        effect instead of raising :class:`~mixedcompat.DataError`.
    type : {"response", "link"}
        Identical for linear mixed models.
    random_only : bool
        Only the random-effects part.
    na_action : {"pass", "omit", "exclude"}
        ``"pass"`` (lme4's default) and ``"exclude"`` keep NaN for incomplete rows; ``"omit"`` drops them.

    Returns
    -------
    numpy.ndarray
        One value per row of ``newdata`` (or per observation used in the fit).

    Notes
    -----
    With ``newdata``, as lme4 1.1: the formula's ``offset()`` terms are evaluated on newdata, an
    ``offset=`` argument of ``lmer`` is not added.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> nd = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["308", "309"]})
    >>> mc.predict(m, nd).round(2).tolist()            # doctest: +SKIP
    [253.66, 211.93]
    """
    if type not in ("response", "link"):
        raise ValueError(f"type must be 'response' or 'link', not {type!r}")
    if na_action not in ("pass", "omit", "exclude", "na.pass", "na.omit", "na.exclude"):
        raise ValueError(f"na_action must be 'pass', 'omit' or 'exclude', not {na_action!r}")
    keep = select_re(m, re_form)
    if newdata is None:
        n = m.nobs()
        if re_form is None and not random_only:
            out = m.fitted()
        else:
            fixed = np.zeros(n) if random_only else (
                (m.frame.X @ m.beta if m.frame.X.shape[1] else np.zeros(n))
                + (m.frame.offset if m.frame.offset is not None else 0.0))
            out = fixed + _random_part(m, None, keep, allow_new_levels, n)
    else:
        newdata = as_data_frame(newdata, "newdata")
        n = len(newdata)
        fixed = np.zeros(n) if random_only else _fixed_part(m, newdata)
        out = fixed + _random_part(m, newdata, keep, allow_new_levels, n)
    out = np.asarray(out, dtype=float)
    if na_action in ("omit", "na.omit"):
        out = out[~np.isnan(out)]
    return out


def type_name(x: Any) -> str:
    return type(x).__name__


# ------------------------------------------------------------------------------------------------
# simulate


def check_nsim(nsim: Any) -> int:
    if isinstance(nsim, (bool, np.bool_)) or not isinstance(nsim, (int, np.integer, float)) \
            or (isinstance(nsim, float) and not float(nsim).is_integer()):
        raise DataError(f"nsim must be a positive integer, not {nsim!r}")
    if int(nsim) < 1:
        raise DataError(f"nsim must be a positive integer (>= 1), not {nsim!r}")
    return int(nsim)



def drawn_terms(m, keep, newdata: pd.DataFrame | None, templates: list[np.ndarray]) -> list[tuple]:
    """The random-effects terms ``simulate`` draws afresh (those not in ``keep``), each as
    ``(term model matrix, level codes, number of levels, template)`` on the model's rows or ``newdata``'s
    (lmer's and glmer's simulate)."""
    order = original_order(m)
    drawn = []
    for k, t in enumerate(m.terms):
        if k in keep:
            continue
        X = term_matrix(m, k, newdata, order)
        if newdata is None:
            codes, n_levels = t.codes, t.n_levels
        else:
            fac = group_on(t.group_expr or t.group, newdata)
            codes, n_levels = fac.codes, len(fac.levels)
        drawn.append((X, codes, n_levels, templates[k]))
    return drawn

def simulation_keep(m, use_u: bool, re_form: Any, what: str = "simulate") -> dict[int, list[int]]:
    """The random-effects terms a simulation keeps at their fitted values (``use_u=True``: all; ``re_form``:
    those it names, whole terms only); the others are drawn afresh."""
    if use_u and re_form is not None:
        raise FormulaError(f"{what}: give use_u=True or re_form, not both (use_u=True means re_form=None "
                           f"in R: condition on all random effects)")
    if use_u:
        return select_re(m, None)
    if re_form is None:
        return {}
    keep = select_re(m, re_form)
    for k, cols in keep.items():
        if len(cols) != m.terms[k].q:
            raise FormulaError(f"{what}: re_form must name whole random-effects terms; ({m.terms[k].label}) "
                               f"is only partly named")
    return keep


class ResponseSimulator:
    """Draws one response of an lmer fit per call (``simulate``'s and the bootstrap's draws), with the
    per-model set-up done once: ``y* = X beta + offset + Z b* + sigma e*``.

    ``prior_weights``: lme4 1.1-31 simulates an lmer fit's residuals with sd ``sigma`` whatever its prior
    weights (``.simulateFun``: ``etapred + sigma * (sim.reff + rnorm(n))``), so a weighted fit's simulated
    responses do not follow the fitted model; that is the default here too.  ``prior_weights=True`` draws
    them with sd ``sigma / sqrt(w)``, the fitted model's own distribution (weights 1 on newdata).
    """

    def __init__(self, m, keep: dict[int, list[int]], newdata: pd.DataFrame | None = None,
                 prior_weights: bool = False):
        if newdata is None:
            self.n = m.nobs()
            weights = m.frame.weights
            self.index = m.frame.data.index
        else:
            self.n = len(newdata)
            weights = None
            self.index = newdata.index
        keeps_all = len(keep) == len(m.terms) and all(len(c) == m.terms[k].q for k, c in keep.items())
        self.eta = predict(m, newdata, re_form=None if keeps_all else form_of(m, keep))
        self.sigma = m.sigma()
        self.drawn = drawn_terms(m, keep, newdata, m.factor.templates)
        self.scale = 1.0 / np.sqrt(weights) if (prior_weights and weights is not None) else 1.0

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        sigma = self.sigma
        y = self.eta.copy()
        for X, codes, n_levels, T in self.drawn:
            b = sigma * rng.standard_normal((n_levels, T.shape[0])) @ T.T
            bz = np.vstack([b, np.full((1, b.shape[1]), np.nan)])       # missing level -> NaN
            y = y + np.einsum("ij,ij->i", X, bz[codes])
        return y + sigma * rng.standard_normal(self.n) * self.scale


def simulate(m, nsim: int = 1, seed: Any = None, use_u: bool = False, re_form: Any = None,
             newdata: pd.DataFrame | None = None, prior_weights: bool = False) -> pd.DataFrame:
    """Responses simulated from the fitted model, as lme4's ``simulate.merMod``.

    ``y* = X beta + offset + Z b* + sigma e*``: with ``use_u=False`` (lme4's default)
    ``b* ~ N(0, sigma^2 Lambda Lambda')`` is drawn anew for every simulation; ``use_u=True``
    keeps the fitted random effects (R's ``re.form = NULL``); ``re_form`` (a formula of the model's
    terms) keeps the fitted values of those terms and draws the others.  ``re_form=None`` with
    ``use_u=False`` is R's default ``re.form = NA``.

    Parameters
    ----------
    m : LmerMod
    nsim : int
        Number of simulations (>= 1).
    seed : int, numpy.random.Generator or None
        Seed for numpy's generator (R's random numbers are not reproduced).
    use_u, re_form : see above
    newdata : pandas.DataFrame, optional
        Simulate for these rows; drawn random effects use newdata's own levels.
    prior_weights : bool
        lme4 1.1-31 ignores an lmer fit's prior weights here (residual sd ``sigma`` for every row, so a
        weighted fit's simulations do not follow the fitted model: a known lme4 behaviour, kept by
        default); True draws each residual with sd ``sigma / sqrt(w)`` (weights 1 on newdata).

    Returns
    -------
    pandas.DataFrame
        Columns ``sim_1 ... sim_<nsim>``, index = the rows used in the fit (or newdata's index).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> mc.simulate(m, nsim=2, seed=1).columns.tolist()
    ['sim_1', 'sim_2']
    """
    nsim = check_nsim(nsim)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    keep = simulation_keep(m, use_u, re_form)
    draw = ResponseSimulator(m, keep, newdata, prior_weights=prior_weights)
    sims = np.empty((draw.n, nsim))
    for s in range(nsim):
        sims[:, s] = draw(rng)
    return pd.DataFrame(sims, index=draw.index, columns=[f"sim_{i}" for i in range(1, nsim + 1)])


def form_of(m, keep: dict[int, list[int]]) -> str | tuple[RETerm, ...]:
    """The ``re_form`` that keeps the terms ``keep`` names (the model's own terms, as trees), or ``"NA"``."""
    if not keep:
        return "NA"
    order = original_order(m)
    return tuple(m.parts.re_terms[order[k]] for k in keep)


