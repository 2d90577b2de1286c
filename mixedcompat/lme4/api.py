"""lme4's small API on fitted models: ``isREML``, ``isLMM``, ``isGLMM``, ``isNLMM``, ``refitML``,
``extractAIC``, ``model.frame``, ``model.matrix``, ``terms``, ``hatvalues`` and ``cooks.distance``
(lme4 1.1-31's ``merMod`` methods), for lmer and glmer fits.

Each function takes a fit of :func:`mixedcompat.lmer` or :func:`mixedcompat.glmer`; anything else gets
a ``TypeError`` naming what it was given.  Of nlme's fits (``lme`` / ``gls``) only ``isREML`` and
``refitML`` accept them, where the nlme equivalent is immediate (the fit's ``method``; the refit with
``method = "ML"``); lme4's other functions have no nlme method in R and raise here too.

R's names map to Python as ``model.frame`` -> :func:`model_frame`, ``model.matrix`` -> :func:`model_matrix`,
``cooks.distance`` -> :func:`cooks_distance`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp

from mixedcompat.errors import DataError
from mixedcompat.front.design import model_variables, qr_rank
from mixedcompat.front.rlang import Node, binop, num, paren
from mixedcompat.front.terms import rhs_terms
from mixedcompat.front.transforms import Fac, Num
from mixedcompat.inference.lrt import refit_ml
from mixedcompat.lme4.fit import LmerMod
from mixedcompat.present.html import HtmlRepr

MODEL_MATRIX_TYPES = ("fixed", "random", "randomListRaw")
GLMM_HAT_WARNING = "the hat matrix may not make sense for GLMMs"


def _type_name(x: Any) -> str:
    kind = getattr(x, "kind", None)
    if getattr(x, "r_package", None) == "nlme" and kind:
        return f"an nlme {kind} fit"
    return type(x).__name__


def _require_merMod(m: Any, what: str) -> None:
    """lme4's generics dispatch on ``merMod``: anything else is a TypeError naming what it is."""
    if not isinstance(m, LmerMod):
        extra = " (lme4's function has no method for nlme fits in R)" if getattr(m, "r_package", None) == "nlme" else ""
        raise TypeError(f"{what}() takes an lmer or glmer fit, not {_type_name(m)}{extra}")


def _is_nlme(m: Any) -> bool:
    return getattr(m, "r_package", None) == "nlme" and getattr(m, "kind", None) in ("lme", "gls")


# ------------------------------------------------------------------------------------------------ is*
def isREML(m: Any) -> bool:
    """lme4's ``isREML(m)``: was the fit made by REML?  glmer fits: ``False``.  nlme fits: their
    ``method == "REML"`` (nlme's equivalent).

    R equivalent: ``lme4::isREML(m)``.

    Parameters
    ----------
    m : LmerMod, GlmerMod or an lme / gls fit
        The fit.

    Returns
    -------
    bool

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> isREML(m)
    True
    """
    if _is_nlme(m):
        return bool(m.REML)
    _require_merMod(m, "isREML")
    return bool(m.REML) and not isGLMM(m)


def isGLMM(m: Any) -> bool:
    """lme4's ``isGLMM(m)``: is it a generalized linear mixed model (a glmer fit)?

    R equivalent: ``lme4::isGLMM(m)``.

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit (an lme / gls fit raises ``TypeError``: lme4's function has no method for it).

    Returns
    -------
    bool

    Examples
    --------
    >>> import mixedcompat as mc
    >>> isGLMM(mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy")))
    False
    """
    _require_merMod(m, "isGLMM")
    return getattr(m, "family", None) is not None


def isNLMM(m: Any) -> bool:
    """lme4's ``isNLMM(m)``: is it a nonlinear mixed model (``nlmer``)?  Always ``False``: there is
    no ``nlmer`` here.

    R equivalent: ``lme4::isNLMM(m)``.

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit (an lme / gls fit raises ``TypeError``: lme4's function has no method for it).

    Returns
    -------
    bool
        Always ``False``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> isNLMM(mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy")))
    False
    """
    _require_merMod(m, "isNLMM")
    return False


def isLMM(m: Any) -> bool:
    """lme4's ``isLMM(m)``: a linear mixed model (neither GLMM nor NLMM)?

    R equivalent: ``lme4::isLMM(m)``.

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit (an lme / gls fit raises ``TypeError``: lme4's function has no method for it).

    Returns
    -------
    bool
        ``True`` for lmer fits, ``False`` for glmer fits.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> isLMM(mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy")))
    True
    """
    _require_merMod(m, "isLMM")
    return not isGLMM(m) and not isNLMM(m)


# ------------------------------------------------------------------------------------------------ refitML, extractAIC
def refitML(m: Any):
    """lme4's ``refitML(m)``: the ML fit of a REML fit (the optimiser starts at the REML theta); ML
    and glmer fits are returned unchanged.  nlme fits: the refit with ``method = "ML"``.  The same as
    :func:`mixedcompat.inference.lrt.refit_ml`.

    R equivalent: ``lme4::refitML(m)``; nlme's ``update(m, method = "ML")``.

    Parameters
    ----------
    m : LmerMod, GlmerMod or an lme / gls fit
        The fit.

    Returns
    -------
    LmerMod, GlmerMod or an lme / gls fit
        The ML fit (``m`` itself when it is one already).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> isREML(refitML(m))
    False
    """
    if not _is_nlme(m):
        _require_merMod(m, "refitML")
    return refit_ml(m)


def extractAIC(m: Any, scale: float = 0, k: float = 2) -> np.ndarray:
    """lme4's ``extractAIC(m, scale = 0, k = 2)``: ``[edf, -2 logLik + k edf]`` of the ML fit
    (:func:`refitML`: a REML fit is refitted by ML first).  ``scale`` is ignored, as in lme4.

    R equivalent: ``extractAIC(m, scale = 0, k = 2)``.

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit.
    scale : float, optional
        Ignored (lme4 ignores it for mixed models); default 0.
    k : float, optional
        The penalty per parameter (default 2: AIC; ``log(n)`` gives BIC).

    Returns
    -------
    numpy.ndarray
        ``[edf, -2 logLik + k edf]`` of the ML fit.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> extractAIC(m).round(3).tolist()
    [6.0, 1763.939]
    """
    _require_merMod(m, "extractAIC")
    try:
        k = float(k)
    except (TypeError, ValueError):
        raise DataError(f"k must be a number, not {k!r}") from None
    if not np.isfinite(k):
        raise DataError(f"k must be a finite number, not {k!r}")
    L = refitML(m).logLik()
    edf = float(L.df)
    return np.array([edf, -2.0 * float(L) + k * edf])


# ------------------------------------------------------------------------------------------------ model frame
def _frame_columns(name: str, value: Num | Fac, original: pd.Series | None) -> dict[str, Any]:
    """One model-frame variable as pandas columns, named as R prints the frame (``format``): a matrix
    variable (``poly(x, 2)``, ``cbind(a, b)``, ``scale(x)``) becomes one column per matrix column,
    ``name.<colname>`` (no colnames: ``name.1``, ``name.2``...; an empty colname: ``name.V<j>``; a
    single column without colnames keeps ``name``)."""
    if original is not None:
        return {name: original.to_numpy()}
    if isinstance(value, Fac):
        return {name: pd.Categorical.from_codes(value.codes, categories=value.levels, ordered=value.ordered)}
    vals = np.asarray(value.values)
    if value.logical:
        vals = np.where(np.isnan(vals), np.nan, vals.astype(bool)) if np.isnan(vals).any() else vals.astype(bool)
    if vals.ndim == 1:
        return {name: vals}
    cn = value.colnames
    if vals.shape[1] == 1 and not cn:
        return {name: vals[:, 0]}
    out = {}
    for j in range(vals.shape[1]):
        label = str(j + 1) if not cn else (cn[j] if cn[j] != "" else f"V{j + 1}")
        out[f"{name}.{label}"] = vals[:, j]
    return out


def model_frame(m: Any, fixed_only: bool = False) -> pd.DataFrame:
    """lme4's ``model.frame(m)``: the variables of the model on the rows the fit kept.

    R equivalent: ``model.frame(m, fixed.only = FALSE)``.

    Columns in R's order -- the response, the fixed-effects variables, the random-effects variables,
    the grouping factors' variables, then ``(weights)`` and ``(offset)`` when ``weights=`` / ``offset=``
    were given -- with R's names: a transformed variable is named by its R text (``log(Days + 1)``,
    ``offset(off)``).  A matrix variable (``poly(x, 2)``, a ``cbind(...)`` response, ``scale(x)``) is
    one column in R's frame; pandas holds it as one column per matrix column, named as R prints the
    frame (``names(format(model.frame(m)))``): ``poly(x, 2).1``, ``poly(x, 2).2``;
    ``cbind(incidence, size - incidence).incidence``, ``cbind(incidence, size - incidence).V2``;
    a one-column matrix without column names (``scale(x)``) keeps its name.  Numeric data columns keep
    their dtype, factors (and character grouping columns) are categoricals with R's levels; the index is the data's index of the kept rows (R's row names).

    ``fixed_only=True``: the response, the fixed-effects variables and ``(weights)`` / ``(offset)``
    (lme4's ``fixed.only``: the random-effects variables and grouping factors are left out).

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit.
    fixed_only : bool, optional
        Only the response, the fixed-effects variables and ``(weights)`` / ``(offset)`` (default
        ``False``), as above.

    Returns
    -------
    pandas.DataFrame
        R's model frame, one row per row used in the fit.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ poly(Days, 2) + (1 | Subject)", mc.datasets.load("sleepstudy"))
    >>> model_frame(m).columns.tolist()
    ['Reaction', 'poly(Days, 2).1', 'poly(Days, 2).2', 'Subject']
    """
    _require_merMod(m, "model.frame")
    return frame_table(m.parts, m.frame, m.call, fixed_only=fixed_only)


def frame_table(parts: Any, frame: Any, call: dict, fixed_only: bool = False) -> pd.DataFrame:
    """R's model frame (see :func:`model_frame`) from a parsed formula, its :class:`ModelFrame` and the
    call's ``data`` / ``weights`` / ``offset`` (lme4's ``lFormula(...)$fr`` before there is a fit).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (1 | Subject)", mc.datasets.load("sleepstudy"))
    >>> frame_table(m.parts, m.frame, m.call).columns.tolist()
    ['Reaction', 'Days', 'Subject']
    """
    data = call.get("data")
    rows = np.asarray(frame.rows)
    if not isinstance(data, pd.DataFrame):      # the data are not stored: the kept rows are
        data, rows = frame.data, np.arange(len(frame.data))
    mv = model_variables(parts, data)
    fixed_vars = {mv.response, *mv.fixed.variables}
    # R's order: first appearance in the formula with its bars made "+" (``(1 | g/h)``: g, then h)
    order = {name: i for i, name in enumerate(_formula_terms(parts, False, False).variables)}
    items = sorted(mv.values.items(), key=lambda kv: order.get(kv[0].deparse(), len(order)))
    cols: dict[str, Any] = {}
    for node, value in items:
        if fixed_only and node not in fixed_vars:
            continue
        name = node.deparse()
        # a numeric data column keeps its dtype (integer stays integer); factors are categoricals on R's levels
        original = data[node.value].iloc[rows] if (node.kind == "sym" and node.value in data.columns and isinstance(
            value, Num) and pd.api.types.is_numeric_dtype(data[node.value]) and not value.logical) else None
        taken = value if original is not None else _take(value, rows)
        if node.kind == "call" and node.value == "cbind" and isinstance(taken, Num):
            # R's cbind (deparse.level = 1) names only the columns given as bare symbols
            taken = Num(taken.values, [a.deparse() if a.kind == "sym" else "" for a in node.args])
        cols.update(_frame_columns(name, taken, original))
    # lme4's fixed.only frame keeps (weights) and (offset) too
    for role in ("weights", "offset"):
        arg = call.get(role)
        if arg is not None:
            values = data[arg].to_numpy(dtype=float) if isinstance(arg, str) else np.asarray(arg, dtype=float)
            cols[f"({role})"] = values.ravel()[rows]
    return pd.DataFrame(cols, index=data.index[rows])


def _take(value: Num | Fac, rows: np.ndarray) -> Num | Fac:
    if isinstance(value, Fac):
        return value.take(rows)
    return Num(np.asarray(value.values)[rows], value.colnames, value.logical, value.integer)


# ------------------------------------------------------------------------------------------------ model matrix
def model_matrix(m: Any, type: str = "fixed"):  # noqa: A002
    """lme4's ``model.matrix(m, type = "fixed" | "random" | "randomListRaw")``.

    R equivalent: ``model.matrix(m, type = "fixed")``, ``model.matrix(m, type = "random")``.

    ``"fixed"``: X as a DataFrame (columns named as R's, after rank-deficient columns were dropped);
    ``"random"``: Z as a scipy CSC matrix (n x q, lme4's ``getME(m, "Z")``; its column names, the
    levels of each term's grouping factor repeated for each of its columns, are in
    :func:`random_colnames`); ``"randomListRaw"``: a dict, one entry per random-effects term named
    as lme4 (``"Days | Subject"``; a ``||`` term gives one entry per column), of that term's raw
    model matrix (n x q DataFrame, before the grouping factor is applied).

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit.
    type : {"fixed", "random", "randomListRaw"}, optional
        Which model matrix (default ``"fixed"``), as above.

    Returns
    -------
    pandas.DataFrame, scipy.sparse.csc_matrix or dict
        X (a DataFrame), Z (sparse) or the raw per-term matrices (a dict of DataFrames).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> model_matrix(m).columns.tolist(), model_matrix(m, "random").shape
    (['(Intercept)', 'Days'], (180, 36))
    """
    _require_merMod(m, "model.matrix")
    if type == "fixed":
        X = np.asarray(m.frame.X, dtype=float)
        return pd.DataFrame(X, columns=list(m.frame.x_names))
    if type == "random":
        return m.getME("Z")
    if type == "randomListRaw":
        return {t.label: pd.DataFrame(np.asarray(t.X, dtype=float), columns=list(t.names)) for t in m.terms}
    raise DataError(f"model_matrix: unknown type {type!r}: use one of {', '.join(map(repr, MODEL_MATRIX_TYPES))}")


def random_colnames(m: Any) -> list[str]:
    """The column names of Z (``colnames(getME(m, "Z"))``): each term's grouping-factor levels, each
    repeated once per column of the term.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> random_colnames(m)[:3]
    ['308', '308', '309']
    """
    _require_merMod(m, "model.matrix")
    return [lev for t in m.terms for lev in t.levels for _ in range(t.q)]


# ------------------------------------------------------------------------------------------------ terms
@dataclass(frozen=True)
class Terms(HtmlRepr):
    """A light R ``terms`` object: ``str()`` is R's deparse of its formula; ``term_labels`` is
    ``attr(terms, "term.labels")``, ``intercept`` / ``response`` R's attributes of those names.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> str(terms(m)), terms(m).term_labels
    ('Reaction ~ Days', ['Days'])
    """

    formula: str
    term_labels: list[str]
    intercept: int
    response: int
    variables: list[str]

    def __str__(self) -> str:
        return self.formula

    def __repr__(self) -> str:
        return f"<terms: {self.formula}>"


def _subbars(node: Node) -> Node:
    """lme4's ``subbars`` after ``expandDoubleVerts``: ``a | g`` -> ``a + g``; ``a || g`` -> ``(1 + g) +
    (0 + a1 + g) + ...`` (one parenthesised term per column of ``a``)."""
    if node.kind == "binop" and node.value == "|":
        return binop("+", _subbars(node.args[0]), _subbars(node.args[1]))
    if node.kind == "binop" and node.value == "||":
        lhs, g = node.args
        s = rhs_terms(lhs)
        pieces = [paren(binop("+", num(1), g))] if s.intercept else []
        for label_node in _term_nodes(lhs):
            pieces.append(paren(binop("+", binop("+", num(0), label_node), g)))
        out = pieces[0]
        for p in pieces[1:]:
            out = binop("+", out, p)
        return out
    if node.args:
        return Node(node.kind, node.value, tuple(_subbars(a) for a in node.args), node.names, node.text)
    return node


def _term_nodes(lhs: Node) -> list[Node]:
    """The non-intercept terms of a ``||`` left-hand side, as trees (lme4 splits on ``+``)."""
    out: list[Node] = []

    def split(n: Node) -> None:
        if n.kind == "binop" and n.value == "+":
            split(n.args[0])
            split(n.args[1])
        elif n.kind == "binop" and n.value == "-" and len(n.args) == 2:
            split(n.args[0])
        elif not (n.kind == "num" and n.value in (0, 1)):
            out.append(n)
    split(lhs)
    return out


def terms(m: Any, fixed_only: bool | None = None, random_only: bool = False) -> Terms:
    """lme4's ``terms(m, fixed.only = TRUE, random.only = FALSE)``.

    R equivalent: ``terms(m, fixed.only = TRUE, random.only = FALSE)``.

    ``fixed_only`` (default: ``True``, or ``False`` when ``random_only=True``, as lme4): the terms of
    the fixed-effects formula (``Reaction ~ Days``); ``random_only=True``: of the random-effects terms
    with their bars made ``+`` (lme4's ``subbars``: ``Reaction ~ (Days + Subject)``); both false: the
    whole formula so (``Reaction ~ Days + (Days + Subject)``, a ``(x || g)`` term written as lme4
    expands it, ``((1 + g) + (0 + x + g))``).  ``str()`` of the result is R's deparse of that formula;
    ``term_labels`` R's ``attr(terms(m), "term.labels")``.

    Raises
    ------
    DataError
        ``fixed_only`` and ``random_only`` both true (lme4: "can't specify 'only fixed' and 'only random' terms").

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit.
    fixed_only : bool, optional
        The terms of the fixed-effects formula only (default ``None``: ``True`` unless
        ``random_only``).
    random_only : bool, optional
        The terms of the random-effects part only (default ``False``).

    Returns
    -------
    Terms
        ``str()`` is R's deparse of the formula; ``term_labels`` R's ``attr(, "term.labels")``;
        ``variables`` the variables in R's order.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> str(terms(m, fixed_only=False))
    'Reaction ~ Days + (Days + Subject)'
    """
    _require_merMod(m, "terms")
    if fixed_only is None:
        fixed_only = not random_only
    if fixed_only and random_only:
        raise DataError("can't specify 'only fixed' and 'only random' terms")
    return _formula_terms(m.parts, fixed_only, random_only)


def _formula_terms(parts: Any, fixed_only: bool, random_only: bool) -> "Terms":
    """:func:`terms` of a parsed formula."""
    if fixed_only:
        rhs = parts.fixed if parts.fixed is not None else num(1)
    elif random_only:
        pieces = [paren(binop("+", t.expr, t.group)) for t in parts.re_terms]
        rhs = pieces[0]
        for p in pieces[1:]:
            rhs = binop("+", rhs, p)
    else:
        rhs = _subbars(parts.tree.args[-1])
    s = rhs_terms(rhs)
    text = f"{parts.response.deparse()} ~ {rhs.deparse()}"
    return Terms(formula=text, term_labels=list(s.labels), intercept=int(bool(s.intercept)),
                 response=1, variables=[parts.response.deparse()] + [v.deparse() for v in s.variables])


# ------------------------------------------------------------------------------------------------ hat values
def _hat_diagonal(m: LmerMod, chunk: int = 4096) -> np.ndarray:
    """diag(H) of lme4's ``hatvalues.merMod``: with ``M = sqrt(W_prior) [Z Lambda, X]`` and ``A`` the
    penalised cross-product of the PLS system (``Lambda' Z' W Z Lambda + I``, ``X' W X``...; for a
    glmer fit, W is the last PIRLS iteration's weights, as lme4's factor L, RZX, RX),
    ``h_i = M_i A^{-1} M_i'``."""
    X = np.asarray(m.frame.X if not isGLMM(m) else m.gdata.X, dtype=float)
    ZL = (m.getME("Z") @ m.getME("Lambda")).tocsc()
    q, p = ZL.shape[1], X.shape[1]
    if isGLMM(m):
        prior = np.asarray(m.gdata.weights, dtype=float)
        # lme4's L, RZX, RX: factored at the working weights of PIRLS's last iteration (before its update)
        w_fit = np.asarray(m.opt.state.work_weights, dtype=float)
    else:
        prior = np.ones(X.shape[0]) if m.frame.weights is None else np.asarray(m.frame.weights, dtype=float)
        w_fit = prior
    M = sp.hstack([ZL, sp.csc_matrix(X)]).tocsc()
    Mw = sp.diags(np.sqrt(w_fit)) @ M
    A = (Mw.T @ Mw).toarray()
    A[np.arange(q), np.arange(q)] += 1.0
    cho = sla.cho_factor(A, lower=True)
    Mr = (sp.diags(np.sqrt(prior)) @ M).tocsr()
    n = Mr.shape[0]
    out = np.empty(n)
    for start in range(0, n, chunk):
        block = Mr[start:start + chunk].toarray()
        sol = sla.cho_solve(cho, block.T)
        out[start:start + chunk] = np.einsum("ij,ji->i", block, sol)
    return out


def hatvalues(m: Any) -> np.ndarray:
    """lme4's ``hatvalues(m)``: the diagonal of the hat matrix, the map from the (prior-weighted)
    response to the fitted values at the fit's theta, ``sqrt(W) [Z Lambda, X]`` times the inverse of the
    penalised cross-product times its transpose.  For a glmer fit lme4 warns "the hat matrix may not
    make sense for GLMMs" and uses its last PIRLS iteration's weighted factor with the prior weights
    (so do we, warning in R's words).

    R equivalent: ``hatvalues(m)`` (lme4's ``hatvalues.merMod``).

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit.

    Returns
    -------
    numpy.ndarray
        One leverage per row used in the fit; their sum is the trace of the hat matrix.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(float(hatvalues(m).sum()), 3)  # trace: the effective number of parameters
    29.022
    """
    _require_merMod(m, "hatvalues")
    if isGLMM(m):
        warnings.warn(GLMM_HAT_WARNING, UserWarning, stacklevel=2)
    return _hat_diagonal(m)


def cooks_distance(m: Any) -> np.ndarray:
    """lme4's ``cooks.distance(m)``: ``(r / (1 - h))^2 h / (sigma^2 p)`` with ``r`` the Pearson
    residuals, ``h`` :func:`hatvalues`, ``p`` the rank of X; infinite values become NaN, as lme4.  For
    a glmer fit, ``sigma = 1`` (binomial, Poisson) and lme4's GLMM warning is given.

    R equivalent: ``cooks.distance(m)`` (lme4's ``cooks.distance.merMod``).

    On the result of :func:`mixedcompat.influence` it is lme4's ``cooks.distance.influence.merMod``
    (the deleted refits' distances, a Series).

    Parameters
    ----------
    m : LmerMod, GlmerMod or InfluenceMerMod
        The fit, or the result of :func:`mixedcompat.influence`.

    Returns
    -------
    numpy.ndarray or pandas.Series
        One distance per row used in the fit (an influence object: per deleted case or group).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> int(cooks_distance(m).argmax())
    59
    """
    if not isinstance(m, LmerMod) and callable(getattr(m, "cooks_distance", None)):
        return m.cooks_distance()      # an influence object (lme4's method for class influence.merMod)
    _require_merMod(m, "cooks.distance")
    if isGLMM(m):
        warnings.warn(GLMM_HAT_WARNING, UserWarning, stacklevel=2)
    h = _hat_diagonal(m)
    X = np.asarray(m.frame.X, dtype=float)
    p = qr_rank(X)[0] if X.shape[1] else 0
    r = np.asarray(m.residuals(type="pearson"), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cd = (r / (1.0 - h)) ** 2 * h / (m.sigma() ** 2 * p)
    cd[np.isinf(cd)] = np.nan
    return cd
