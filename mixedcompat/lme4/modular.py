"""lme4's modular interface: the stages ``lmer()`` runs, one public function each.

``lFormula`` (formula + data -> model frame, fixed-effects matrix, random-effects terms) ->
``mkLmerDevfun`` (the profiled criterion, a pure function of theta) -> ``optimizeLmer`` (the
optimiser, lme4's boundary handling and the derivatives at the optimum) -> ``mkMerMod``
(:func:`mixedcompat.lme4.fit.mkMerMod`, the fit object).  :func:`mixedcompat.lme4.fit.lmer` is
exactly these four calls plus lme4's ``checkConv`` between the last two (:func:`checked_conv`),
so a fit assembled by hand from them is the same ``LmerMod`` as ``lmer()``'s.

As in lme4 1.1-31, ``optimizeLmer`` does not run ``checkConv`` (``lmer()`` does), so a model
assembled with ``mkMerMod`` prints no convergence messages; and ``mkMerMod``'s call has no formula,
so its ``print`` and ``summary`` have no ``Formula:`` / ``Data:`` lines, as R's.
``glFormula`` is ``lFormula`` for ``glmer`` models (lme4's ``glFormula``: the same stage with
the family kept); the glmer devfun / optimiser stages (``mkGlmerDevfun``, ``optimizeGlmer``) are
not offered here -- call :func:`mixedcompat.glmer`.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mixedcompat.errors import SINGULAR_MESSAGE, ConvergenceError, DataError
from mixedcompat.front.data_input import as_data_frame
from mixedcompat.front.design import ModelFrame
from mixedcompat.front.formula import FormulaParts, parse_formula
from mixedcompat.front.reterms import ReTerm, ThetaLayout, cnms, flist, make_reterms
from mixedcompat.front.rlang import Node
from mixedcompat.glm.families import family_of
from mixedcompat.glmer.control import glmer_control
from mixedcompat.lme4.checks import check_reterms, check_scale_x, checked_model_frame
from mixedcompat.lme4.control import KNOWN as LMER_CONTROL_NAMES
from mixedcompat.lme4.control import canonical_name, lmer_control
from mixedcompat.lme4.convergence import check_conv, emit
from mixedcompat.lme4.gradient import criterion_gradient
from mixedcompat.lme4.optimize import GRADIENT_OPTIMIZER, OptSummary, check_optimizer, minimize_theta
from mixedcompat.lme4.pls import Deviance, make_deviance
from mixedcompat.numerics.threads import blas_threads

__all__ = ["LmerFormula", "LmerDevfun", "LmerOpt", "formula_stage", "lFormula", "glFormula", "mkLmerDevfun", "optimizeLmer",
           "re_trms", "minimize_lmer", "checked_conv", "optimize_fit", "theta_scale",
           "data_start", "start_values", "arg_name"]



def arg_name(arg: Any, default: str) -> str | None:
    """How lme4 prints a ``weights=`` / ``offset=`` argument: a column name as given, else ``default``.

    Examples
    --------
    >>> arg_name("w", "weights"), arg_name([1.0, 2.0], "weights"), arg_name(None, "weights")
    ('w', 'weights', None)
    """
    if arg is None:
        return None
    return arg if isinstance(arg, str) else default


# ------------------------------------------------------------------------------------------------
# lFormula


def re_trms(terms: list[ReTerm], theta: np.ndarray | None = None) -> dict:
    """lme4's ``reTrms`` list of random-effects terms (``mkReTrms``), as a dict.

    ``Zt`` (sparse, q x n), ``theta`` (lme4's start: 1 on template diagonals, 0 elsewhere, unless
    given), ``Lind`` (1-based index into theta of each stored entry of ``Lambdat``, column by
    column), ``Gp`` (first column of each term in Z, then q), ``lower``, ``Lambdat`` (sparse, at
    ``theta``), ``flist`` (grouping factor -> Categorical), ``cnms`` (term -> column names; a repeated
    factor gets ``.1``..., R's ``make.unique`` of lme4's list names, which may repeat), ``Ztlist``
    (``"Days | Subject"`` -> its rows of Zt) and ``nl`` (levels per term, keyed as ``cnms``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> lf = mc.lFormula("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> r = re_trms(lf.terms)
    >>> r["Gp"].tolist(), r["Zt"].shape, r["Lind"][:6].tolist()
    ([0, 36], (36, 180), [1, 2, 3, 1, 2, 3])
    """
    layout = ThetaLayout.of(terms)
    theta = layout.start.copy() if theta is None else np.asarray(theta, dtype=float)
    rows, cols, idx = layout.lambda_positions()          # Lambda[rows, cols] = theta[idx]
    # Lambdat = Lambda': entry (cols, rows); stored column by column (CSC), rows sorted within a column
    order = np.lexsort((cols, rows))
    q = layout.q_total
    lambdat = sp.csc_matrix((theta[idx[order]], (cols[order], rows[order])), shape=(q, q))
    lambdat.sort_indices()
    zt_blocks = [t.Z().T.tocsc() for t in terms]
    ztlist: dict[str, sp.csc_matrix] = {t.label: z for t, z in zip(terms, zt_blocks)}
    names = cnms(terms)
    gp = np.concatenate([[0], np.cumsum([t.n_levels * t.q for t in terms])]).astype(int)
    return {
        "Zt": sp.vstack(zt_blocks).tocsc() if zt_blocks else sp.csc_matrix((0, 0)),
        "theta": theta,
        "Lind": (idx[order] + 1).astype(int),
        "Gp": gp,
        "lower": layout.lower.copy(),
        "Lambdat": lambdat,
        "flist": {g: pd.Categorical.from_codes(t.codes, categories=t.levels) for g, t in flist(terms).items()},
        "cnms": names,
        "Ztlist": ztlist,
        "nl": {key: t.n_levels for key, t in zip(names, terms)},
    }


@dataclasses.dataclass(frozen=True, eq=False)
class LmerFormula:
    """What lme4's ``lFormula`` returns: the parsed formula, model frame and random-effects terms.

    R's components are attributes (and items: ``lf["X"]`` as R's ``lmod$X``): ``fr`` (the model
    frame, a DataFrame as :func:`mixedcompat.model_frame`), ``X`` (the fixed-effects matrix, a
    DataFrame with R's column names), ``reTrms`` (see :func:`re_trms`), ``REML``, ``formula`` (R's
    text) and ``wmsgs`` (the design's notes).  Ours: ``parts``, ``frame``, ``terms``, ``ctrl``
    (the validated control), ``call`` (the arguments, for the fit's ``update``), ``family``
    (``glFormula``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> lf = mc.lFormula("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> list(lf.X.columns), lf["REML"]
    (['(Intercept)', 'Days'], True)
    """

    parts: FormulaParts
    frame: ModelFrame
    terms: list
    REML: bool
    ctrl: dict
    control: dict
    fit_warnings: list
    call: dict
    names: dict
    family: Any = None

    R_COMPONENTS = ("fr", "X", "reTrms", "REML", "formula", "wmsgs")

    @property
    def formula(self) -> str:
        """The formula as R prints it (as given, or R's deparse of a tree)."""
        f = self.call.get("formula")
        return f if isinstance(f, str) else self.parts.text

    @property
    def X(self) -> pd.DataFrame:  # noqa: N802 (R's name)
        """The fixed-effects model matrix (rank-deficient columns dropped, as lme4), R's column names."""
        return pd.DataFrame(self.frame.X.copy(), index=self.frame.data.index, columns=list(self.frame.x_names))

    @functools.cached_property
    def reTrms(self) -> dict:  # noqa: N802 (R's name)
        """lme4's ``reTrms`` (see :func:`re_trms`)."""
        return re_trms(self.terms)

    @property
    def wmsgs(self) -> list[str]:
        """The design's notes (rank deficiency, ...)."""
        return list(self.fit_warnings)

    def __getitem__(self, name: str) -> Any:
        if name not in self.R_COMPONENTS:
            raise KeyError(f"lFormula has no component {name!r}; its components: {', '.join(self.R_COMPONENTS)}")
        return getattr(self, name)

    def keys(self) -> tuple[str, ...]:
        return self.R_COMPONENTS

    # --- delegating methods: R's model frame is lme4.api's (which imports the fit class) ------------
    @functools.cached_property
    def fr(self) -> pd.DataFrame:
        """R's model frame (lme4's ``lmod$fr``): as :func:`mixedcompat.model_frame` of the fit."""
        from mixedcompat.lme4.api import frame_table
        return frame_table(self.parts, self.frame, self.call)
    # --- end of the delegating methods ------------------------------------------------------------


def formula_stage(parts: FormulaParts, data: pd.DataFrame, ctrl: dict, glm_response: bool = False, weights: Any = None,
                  offset: Any = None, subset: Any = None, na_action: str = "omit",
                  contrasts: dict | None = None) -> tuple[ModelFrame, list[ReTerm], list[str]]:
    """The stage ``lFormula`` and ``glFormula`` share (and ``glmer`` runs): the model frame with
    lme4's rank check, the random-effects terms with lme4's checks (``ctrl``: the validated
    lmerControl / glmerControl), the scale check of X.  Returns ``(frame, terms, fit_warnings)``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> frame, terms, notes = formula_stage(parse_formula("Reaction ~ Days + (Days | Subject)"),
    ...                                     mc.datasets.load("sleepstudy"), lmer_control())
    >>> frame.x_names, [t.label for t in terms], notes
    (['(Intercept)', 'Days'], ['Days | Subject'], [])
    """
    frame, fit_warnings = checked_model_frame(parts, data, ctrl, weights=weights, offset=offset, subset=subset,
                                              na_action=na_action, contrasts=contrasts, glm_response=glm_response)
    with blas_threads(ctrl["blas_threads"]):
        terms = make_reterms(parts.re_terms, frame.re_X, frame.re_groups, len(frame.y))
    check_reterms(terms, len(frame.y), ctrl, allow_n=glm_response)      # lme4: allow.n = TRUE for glmer
    fit_warnings += check_scale_x(frame.X, ctrl["check_scaleX"])
    return frame, terms, fit_warnings


def lFormula(formula: str | Node | FormulaParts, data: pd.DataFrame, REML: bool = True, weights: Any = None,  # noqa: N802
             offset: Any = None, subset: Any = None, na_action: str = "omit", contrasts: dict | None = None,
             control: dict | None = None) -> LmerFormula:
    """lme4's ``lFormula``: parse the formula, build the model frame, X and the random-effects
    terms, with lme4's checks -- the first stage of :func:`mixedcompat.lmer`.

    R equivalent: ``lme4::lFormula(formula, data, REML = TRUE)``.

    Parameters
    ----------
    formula, data, REML, weights, offset, subset, na_action, contrasts, control
        As :func:`mixedcompat.lmer` (``control``: lmerControl settings; the checks of this stage are
        ``check_nobs_vs_*``, ``check_nlev_*``, ``check_rankX``, ``check_scaleX``).

    Returns
    -------
    LmerFormula

    Raises
    ------
    FormulaError, DataError
        As :func:`mixedcompat.lmer` (unknown variables, no random-effects term, lme4's checks).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> lf = mc.lFormula("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> lf.reTrms["cnms"], lf.reTrms["theta"].tolist()
    ({'Subject': ['(Intercept)', 'Days']}, [1.0, 0.0, 1.0])
    """
    data = as_data_frame(data)
    if not isinstance(REML, (bool, np.bool_)):
        raise DataError(f"REML must be True or False, not {REML!r}")
    ctrl = lmer_control(control)
    parts = parse_formula(formula)
    frame, terms, fit_warnings = formula_stage(parts, data, ctrl, weights=weights, offset=offset, subset=subset,
                                               na_action=na_action, contrasts=contrasts)
    names = {
        "data_name": data.attrs.get("name", "data") if isinstance(getattr(data, "attrs", None), dict) else "data",
        "weights_name": arg_name(weights, "weights"),
        "offset_name": arg_name(offset, "offset"),
    }
    call = {"formula": formula, "data": data, "REML": bool(REML), "weights": weights, "offset": offset,
            "subset": subset, "na_action": na_action, "contrasts": contrasts, "control": control}
    return LmerFormula(parts, frame, terms, bool(REML), ctrl, dict(control or {}), fit_warnings, call, names)


def glFormula(formula: str | Node | FormulaParts, data: pd.DataFrame, family: Any = "binomial",  # noqa: N802
              weights: Any = None, offset: Any = None, subset: Any = None, na_action: str = "omit",
              contrasts: dict | None = None, control: dict | None = None) -> LmerFormula:
    """lme4's ``glFormula``: :func:`lFormula` for a generalized linear mixed model (the family is
    kept, ``REML`` is False; the response may be a factor, logical or ``cbind(successes, failures)``).
    Its checks are ``glmerControl``'s.  The response is checked against the family by
    :func:`mixedcompat.glmer` (as lme4's ``mkGlmerDevfun``), not here.

    R equivalent: ``lme4::glFormula(formula, data, family = binomial)``.

    Parameters
    ----------
    formula, data, weights, offset, subset, na_action, contrasts, control
        As :func:`lFormula` (``control``: glmerControl's checks).
    family : str, Family or callable
        As :func:`mixedcompat.glmer` (default ``"binomial"``).

    Returns
    -------
    LmerFormula
        ``fr``, ``X``, ``reTrms``, ``family``, as lme4's list.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> gf = mc.glFormula("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                   mc.datasets.load("cbpp"), family="binomial")
    >>> gf.X.shape, gf.family.family
    ((56, 4), 'binomial')
    """
    data = as_data_frame(data)
    fam = family_of(family)
    ctrl = glmer_control(control)
    parts = parse_formula(formula)
    frame, terms, fit_warnings = formula_stage(parts, data, ctrl, glm_response=True, weights=weights, offset=offset,
                                               subset=subset, na_action=na_action, contrasts=contrasts)
    names = {"data_name": "data", "weights_name": arg_name(weights, "weights"),
             "offset_name": arg_name(offset, "offset")}
    call = {"formula": formula, "data": data, "family": family, "weights": weights, "offset": offset,
            "subset": subset, "na_action": na_action, "contrasts": contrasts, "control": control}
    return LmerFormula(parts, frame, terms, False, ctrl, dict(control or {}), fit_warnings, call, names, fam)


# ------------------------------------------------------------------------------------------------
# mkLmerDevfun


def theta_scale(terms: list[ReTerm]) -> np.ndarray:
    """The natural size of each theta entry: ``1 / rms(x_i)`` for an entry in row i of a term's
    template (x_i the term's i-th column), since ``x_i b_i`` is what the data see.  1 for intercepts.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> d = mc.datasets.load("sleepstudy").assign(Dm=lambda d: d["Days"] * 1e-3)
    >>> m = mc.lmer("Reaction ~ Dm + (Dm | Subject)", d, control={"check_scaleX": "ignore"})
    >>> np.round(theta_scale(m.terms), 1).tolist()
    [1.0, 187.3, 187.3]
    """
    out = []
    for t in terms:
        rms = np.sqrt(np.mean(t.X ** 2, axis=0)) if len(t.X) else np.ones(t.q)
        rms = np.where(np.isfinite(rms) & (rms > 0), rms, 1.0)
        rows, _cols = t.tril_index
        out.append(1.0 / rms[rows])
    return np.concatenate(out)


def data_start(terms: list[ReTerm], y: np.ndarray) -> np.ndarray | None:
    """lme4 1.1-31's start for models whose terms are all ``(1 | f)``, each on its own factor.

    ``mkLmerDevfun`` starts theta at ``sqrt(v_k / v_e)``: ``v_k`` the sample variance of the
    response's group means ``ave(y, f_k)`` (one value per observation), ``v_e = var(y) - sum(v_k)``
    -- when ``v_e > 0``; otherwise (and for any other model) at lme4's usual 1 / 0.  The response is
    the model frame's (no offset removed, no weights).  Returns None when the rule does not apply.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"), control={"optimizer": None})
    >>> round(float(m.theta[0]), 7)
    0.9787605
    """
    groups = [t.group for t in terms]
    if not all(list(t.names) == ["(Intercept)"] for t in terms) or len(set(groups)) != len(terms):
        return None
    y = np.asarray(y, dtype=float)
    if len(y) < 2:
        return None
    v = []
    for t in terms:
        sums = np.bincount(t.codes, weights=y, minlength=t.n_levels)
        counts = np.bincount(t.codes, minlength=t.n_levels)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        v.append(float(np.var(means[t.codes], ddof=1)))
    v_e = float(np.var(y, ddof=1)) - sum(v)
    if not np.isfinite(v_e) or v_e <= 0:
        return None
    return np.sqrt(np.asarray(v) / v_e)


def start_values(start: Any, terms: list[ReTerm], layout: ThetaLayout, y: np.ndarray | None = None,
                 what: str = "control['start']") -> np.ndarray:
    """lme4's start values (1 on template diagonals, 0 elsewhere; :func:`data_start` when it
    applies), or ``start`` checked against the layout.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> lf = mc.lFormula("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> start_values(None, lf.terms, ThetaLayout.of(lf.terms)).tolist()
    [1.0, 0.0, 1.0]
    """
    default = layout.start.copy()
    if start is None:
        if y is not None:
            from_data = data_start(terms, y)
            if from_data is not None:
                return from_data
        return default
    if isinstance(start, dict):
        bad = sorted(set(start) - {"theta"})
        if bad:
            raise DataError(f"bad name(s) for start vector ({', '.join(bad)}); an lmer start is theta only")
        start = start.get("theta")
    start = np.asarray(start, dtype=float).ravel()
    if start.shape != default.shape:
        raise DataError(f"{what} has {start.size} values; this model has {default.size} "
                        f"theta parameters ({', '.join(layout.names)})")
    if np.any(start < layout.lower) or not np.all(np.isfinite(start)):
        raise DataError(f"{what} must be finite and >= 0 on the template diagonals")
    return start


class LmerDevfun:
    """lme4's ``mkLmerDevfun`` result: the profiled REML criterion (or deviance, ML) as a function of
    theta, with what lme4 keeps in its environment: ``lower``, ``start`` (the optimiser's start),
    ``theta_names``, and the :class:`LmerFormula` it was made from (``lf``).

    ``devfun(theta)`` is lme4's ``devfun(theta)``: a pure function (no state changes), ``inf`` where
    the factorisation fails.  ``deviance`` is the criterion object of :mod:`mixedcompat.lme4.pls`.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> f = mc.mkLmerDevfun(mc.lFormula("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy")))
    >>> round(f([1.0, 0.0, 1.0]), 3)
    1773.68
    """

    def __init__(self, lf: LmerFormula, deviance: Deviance, start: np.ndarray):
        self.lf = lf
        self.deviance = deviance
        self.start = np.asarray(start, dtype=float)
        self.start.flags.writeable = False

    @property
    def layout(self) -> ThetaLayout:
        return self.deviance.layout

    @property
    def lower(self) -> np.ndarray:
        """lme4's ``environment(devfun)$lower``: 0 on template diagonals, ``-inf`` elsewhere."""
        return self.layout.lower.copy()

    @property
    def theta_names(self) -> list[str]:
        """lme4's names of theta (``tnames``): ``"Subject.(Intercept)"``, ``"Subject.Days.(Intercept)"``..."""
        return list(self.layout.names)

    @property
    def REML(self) -> bool:  # noqa: N802
        return self.lf.REML

    def __call__(self, theta: Any) -> float:
        th = np.asarray(theta, dtype=float).ravel()
        if th.shape != (self.layout.n_theta,):
            raise DataError(f"devfun: theta has {th.size} values; this model has {self.layout.n_theta} "
                            f"({', '.join(self.layout.names)})")
        return float(self.deviance(th))

    def __repr__(self) -> str:
        kind = "REML criterion" if self.REML else "deviance"
        return f"<lme4 devfun: the profiled {kind} of {self.lf.formula}, theta = ({', '.join(self.theta_names)})>"


def mkLmerDevfun(lf: LmerFormula, start: Any = None, control: dict | None = None) -> LmerDevfun:  # noqa: N802
    """lme4's ``mkLmerDevfun``: the profiled criterion of an :func:`lFormula` model as a function of
    theta -- the REML criterion when ``lf.REML``, else the deviance.

    R equivalent: ``lme4::mkLmerDevfun(fr, X, reTrms, REML = TRUE)`` (``do.call(mkLmerDevfun, lFormula(...))``).

    Parameters
    ----------
    lf : LmerFormula
    start : array-like or {"theta": ...}, optional
        The optimiser's start (``devfun.start``); default lme4's (``control["start"]`` of the
        lFormula call when given).
    control : dict, optional
        lmerControl settings replacing the lFormula call's (here only ``start`` and ``blas_threads``
        matter).

    Returns
    -------
    LmerDevfun

    Examples
    --------
    >>> import mixedcompat as mc
    >>> lf = mc.lFormula("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"), REML=False)
    >>> round(mc.mkLmerDevfun(lf)([0.9667, 0.0152, 0.2309]), 3)    # the deviance at the REML estimate
    1751.986
    """
    if not isinstance(lf, LmerFormula) or lf.family is not None:
        raise TypeError(f"mkLmerDevfun() takes the result of lFormula(), not {type(lf).__name__}"
                        + (" of glFormula()" if isinstance(lf, LmerFormula) else ""))
    ctrl = lf.ctrl if control is None else lmer_control({**lf.control, **control})
    frame = lf.frame
    with blas_threads(ctrl["blas_threads"]):
        deviance = make_deviance(lf.terms, frame.X, frame.y, frame.weights, frame.offset, REML=lf.REML)
    what = "start"
    if start is None:
        start, what = ctrl.get("start"), "control['start']"
    th0 = start_values(start, lf.terms, deviance.layout, frame.y, what=what)
    return LmerDevfun(lf, deviance, th0)


# ------------------------------------------------------------------------------------------------
# optimizeLmer


@dataclasses.dataclass(frozen=True)
class LmerOpt(OptSummary):
    """lme4's ``optimizeLmer`` result: ``par``, ``fval``, ``conv``, ``feval``, ``message`` (also as
    items, ``opt["par"]``), with the rest of :class:`~mixedcompat.lme4.optimize.OptSummary`
    (``derivs``, ``optimizer``, ``warnings``).

    Examples
    --------
    >>> o = LmerOpt(theta=np.array([1.0]), fval=2.0, feval=3, optimizer="nloptwrap", conv_code=0, message="")
    >>> o["par"].tolist(), o.conv
    ([1.0], 0)
    """

    R_COMPONENTS = ("par", "fval", "conv", "feval", "message")

    @property
    def par(self) -> np.ndarray:
        return self.theta

    @property
    def conv(self) -> int:
        return self.conv_code

    def __getitem__(self, name: str) -> Any:
        if name not in self.R_COMPONENTS:
            raise KeyError(f"the optimizer result has no component {name!r}; its components: "
                           f"{', '.join(self.R_COMPONENTS)}")
        return getattr(self, name)

    def keys(self) -> tuple[str, ...]:
        return self.R_COMPONENTS

    @classmethod
    def of(cls, opt: OptSummary) -> "LmerOpt":
        """The same record as an LmerOpt."""
        if isinstance(opt, cls):
            return opt
        return cls(**{f.name: getattr(opt, f.name) for f in dataclasses.fields(OptSummary)})


def minimize_lmer(deviance: Deviance, terms: list[ReTerm], start: np.ndarray, ctrl: dict,
                  opt_ctrl: dict | None = None) -> OptSummary:
    """Minimise an lmer criterion from ``start`` with ``ctrl["optimizer"]`` (lme4's
    ``optimizeLmer``); ``None`` (lme4's ``lmerControl(optimizer = NULL)``) evaluates it at the start.

    Every optimiser runs through :func:`mixedcompat.lme4.optimize.minimize_theta` (the one home of
    lme4's optimisers by name, their ``optCtrl``, ``restart_edge`` and ``check.boundary``);
    ``opt_ctrl`` (optimizeLmer's ``control``) is added to ``ctrl["optCtrl"]``.
    """
    lower = deviance.layout.lower
    name = ctrl["optimizer"]
    if name is None:
        start = np.asarray(start, dtype=float)
        return OptSummary(theta=start, fval=float(deviance(start)), feval=1, optimizer="none", conv_code=0,
                          message="no optimisation: theta fixed at the start values")
    if opt_ctrl:
        ctrl = dict(ctrl, optCtrl={**(ctrl.get("optCtrl") or {}), **opt_ctrl})
    check_optimizer(name, ctrl.get("optCtrl"))
    fun_grad = functools.partial(criterion_gradient, deviance) if name == GRADIENT_OPTIMIZER else None
    return minimize_theta(deviance, start, lower, ctrl, column_partners=deviance.layout.column_partners,
                          calc_derivs=ctrl["calc_derivs"], scale=theta_scale(terms),
                          fun_many=getattr(deviance, "criteria", None), fun_grad=fun_grad)


def checked_conv(opt: OptSummary, lower: np.ndarray, ctrl: dict, stacklevel: int = 4) -> OptSummary:
    """lme4's ``checkConv`` at the optimum (run by ``lmer()`` after ``optimizeLmer``): its warnings
    are given here, its result kept as ``OptSummary.lme4conv`` (a singular fit's message and warning
    are the fit object's)."""
    conv = check_conv(opt.derivs, opt.theta, lower, ctrl)
    if conv is not None and conv.singular:
        if ctrl["check_conv_singular"]["action"] == "stop":
            raise ConvergenceError(SINGULAR_MESSAGE)
        return dataclasses.replace(opt, lme4conv=conv.as_dict(), lme4_stop=_lme4_stop_report(opt, lower, ctrl))
    emit(conv, ctrl, stacklevel=stacklevel)
    msgs = tuple(opt.messages) + (conv.messages if conv is not None else ())
    return dataclasses.replace(opt, messages=msgs, lme4conv=None if conv is None else conv.as_dict(),
                               lme4_stop=_lme4_stop_report(opt, lower, ctrl))


def optimize_fit(devfun: Deviance, terms: list[ReTerm], start: np.ndarray, control: dict | None) -> OptSummary:
    """Minimise the criterion from ``start`` (:func:`minimize_lmer`) and run lme4's ``checkConv``
    there (:func:`checked_conv`): what ``lmer()`` does between ``mkLmerDevfun`` and ``mkMerMod``
    (refits and replicates use it too)."""
    ctrl = lmer_control(control)
    return checked_conv(minimize_lmer(devfun, terms, start, ctrl), devfun.layout.lower, ctrl, stacklevel=5)


def _lme4_stop_report(opt: OptSummary, lower: np.ndarray, ctrl: dict) -> dict | None:
    """Where lme4's own path stopped when our polishing restart went lower: its theta, criterion
    and the messages lme4's checkConv gives there (not warned: they describe a point we left)."""
    stop = opt.lme4_stop
    if stop is None:
        return None
    conv = check_conv(stop["derivs"], stop["theta"], lower, ctrl)
    return {"theta": np.asarray(stop["theta"]).copy(), "criterion": stop["fval"],
            "messages": [] if conv is None else list(conv.messages)}


def optimizeLmer(devfun: LmerDevfun, optimizer: str | None = "default", restart_edge: bool | None = None,  # noqa: N802
                 boundary_tol: float | None = None, start: Any = None, control: dict | None = None,
                 calc_derivs: bool | None = None) -> LmerOpt:
    """lme4's ``optimizeLmer``: minimise ``devfun`` over theta (lower bounds ``devfun.lower``).

    R equivalent: ``lme4::optimizeLmer(devfun, optimizer = "nloptwrap")``.

    Parameters
    ----------
    devfun : LmerDevfun
        From :func:`mkLmerDevfun`.
    optimizer : {"nloptwrap", "bobyqa", "Nelder_Mead", "optimx", "gradient"} or None
        Default: the lFormula call's ``control["optimizer"]`` (lme4's default ``"nloptwrap"``);
        ``None`` evaluates ``devfun`` at the start.
    restart_edge, boundary_tol, calc_derivs : optional
        lme4's ``restart_edge`` (restart when a theta on its bound has a negative one-sided
        derivative), ``boundary.tol`` (put theta within it of its bound on it when no worse),
        ``calc.derivs``; default the control's (True, 1e-5, True).
    start : array-like, optional
        Start values of theta (default ``devfun.start``).
    control : dict, optional
        The optimiser's settings (lme4's ``optCtrl``): for ``nloptwrap`` ``xtol_abs``, ``ftol_abs``,
        ``xtol_rel``, ``maxeval`` and ours (``polish``...); for ``bobyqa`` minqa's ``rhobeg``,
        ``rhoend``, ``npt``, ``maxfun``; for ``Nelder_Mead`` lme4's ``FtolAbs``, ``FtolRel``,
        ``XtolRel``, ``maxfun``, ``xst``, ``xt``.

    Returns
    -------
    LmerOpt
        ``par``, ``fval``, ``conv``, ``feval``, ``message`` as lme4's (and ``derivs``).  lme4's
        ``checkConv`` is not run here (``lmer()`` runs it; see :func:`checked_conv`).

    Raises
    ------
    DataError
        An unknown optimiser (lme4: "couldn't find optimizer function"), an unknown setting, a bad start.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> f = mc.mkLmerDevfun(mc.lFormula("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy")))
    >>> opt = mc.optimizeLmer(f)
    >>> np.round(opt.par, 4).tolist(), round(opt.fval, 3), opt.conv
    ([0.9667, 0.0152, 0.2309], 1743.628, 0)
    """
    if not isinstance(devfun, LmerDevfun):
        raise TypeError(f"optimizeLmer() takes the result of mkLmerDevfun(), not {type(devfun).__name__}")
    settings = dict(devfun.lf.control)
    opt_ctrl: dict = {}
    for k, v in (control or {}).items():
        if canonical_name(k) in LMER_CONTROL_NAMES:
            settings[canonical_name(k)] = v
        else:
            opt_ctrl[k] = v
    if optimizer != "default":
        settings["optimizer"] = optimizer
    for key, value in (("restart_edge", restart_edge), ("boundary_tol", boundary_tol),
                       ("calc_derivs", calc_derivs)):
        if value is not None:
            settings[key] = value
    ctrl = lmer_control(settings)
    th0 = devfun.start if start is None else start_values(start, devfun.lf.terms, devfun.layout, what="start")
    with blas_threads(ctrl["blas_threads"]):
        opt = minimize_lmer(devfun.deviance, devfun.lf.terms, th0, ctrl, opt_ctrl)
    return LmerOpt.of(opt)
