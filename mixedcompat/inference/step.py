"""lmerTest's ``step``: backward elimination of random-effect terms, then of fixed-effect terms.

As lmerTest 3.1-3's ``step.lmerModLmerTest``:

1. random part (``reduce_random``): :func:`~mixedcompat.inference.lrt.ranova` of the model; while a
   row's p-value is above ``alpha_random``, the row with the largest one is eliminated (the model is
   refitted with lmerTest's formula for that row: ``update(full, ~ . - (term) [+ (reduced | g)])``,
   R's ``update.formula``), and ``ranova`` is run again on the reduced fit;
2. fixed part (``reduce_fixed``): lmerTest's ``drop1`` F tests
   (:func:`~mixedcompat.inference.ftests.drop1_ftable`, Satterthwaite or Kenward-Roger), which offer
   only the terms contained in no other term (R's ``drop.scope``: marginality is respected); while a
   term not in ``keep`` has a p-value above ``alpha_fixed``, the one with the largest p-value is
   dropped (``update(m, ~ . - term)``) and ``drop1`` is run again.

The tables have lmerTest's columns with ``Eliminated`` first (the order of elimination; 0 for the
terms left in the model; NA for the ``<none>`` row) and print as lmerTest's ``print.step_list``.

When every random-effect term is eliminated, lmerTest goes on with a linear model (``lm``): so does
:func:`step`, with :class:`~mixedcompat.inference.linear_model.LinearModel` and R's
``drop1(lm, test = "F")`` (columns ``Df, Sum of Sq, RSS, AIC, F value, Pr(>F)``, no df-method line).
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.front.formula import is_bar, parse_formula
from mixedcompat.front.rlang import Node, binop, is_binop, map_nodes, parse, split_top, sym
from mixedcompat.front.terms import drop_scope, rhs_of_terms, rhs_terms, term_node, update_formula_tree
from mixedcompat.glmer.fit import GlmerMod
from mixedcompat.inference.ftests import drop1_ftable, normalise_ddf
from mixedcompat.inference.linear_model import LinearModel, drop1_lm_ftable, lm_from
from mixedcompat.inference.lrt import ROWS_CHANGED_ERROR, printed_formula, ranova
from mixedcompat.lme4.fit import LmerMod, update
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.tables import AnovaTable

__all__ = ["StepResult", "step", "get_model", "ranova_formulae", "lme4_formula", "RANDOM_HEADING",
           "FIXED_HEADING"]

RANDOM_HEADING = "Backward reduced random-effect table:\n"
FIXED_HEADING = "Backward reduced fixed-effect table:"


class StepResult(HtmlRepr):
    """lmerTest's ``step_list``: ``.random`` and ``.fixed`` (:class:`AnovaTable` with the column
    ``Eliminated``), ``.model`` (the final fit, also :func:`get_model`: an lmer fit, or a
    :class:`~mixedcompat.inference.linear_model.LinearModel`) and ``.drop1`` (the last ``drop1`` table).  ``str()`` is lmerTest's ``print(step(m))``.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> s = mc.step(m)
    >>> str(s).splitlines()[-1]
    'Reaction ~ Days + (Days | Subject)'
    """

    def __init__(self, random: AnovaTable, fixed: AnovaTable, model: Any, drop1: AnovaTable | None) -> None:
        self.random = random
        self.fixed = fixed
        self.model = model
        self.drop1 = drop1

    def __getitem__(self, key: str) -> AnovaTable:
        """``s["random"]`` / ``s["fixed"]``, as R's ``s$random``."""
        if key not in ("random", "fixed"):
            raise KeyError(f"a step result has 'random' and 'fixed', not {key!r}")
        return getattr(self, key)

    def get_model(self) -> Any:
        """The final model (lmerTest's ``get_model``)."""
        return self.model

    def __str__(self) -> str:
        lines = str(self.random).split("\n") + [""] + str(self.fixed).split("\n")
        lines += ["", "Model found:", printed_formula(_formula_tree_of(self.model))]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def _formula_tree_of(model: Any) -> Node:
    return model.tree if isinstance(model, LinearModel) else model.parts.tree


def get_model(x: Any) -> Any:
    """lmerTest's ``get_model(step(m))``: the model that backward elimination arrived at.

    R equivalent: ``lmerTest::get_model(step(m))``.

    Parameters
    ----------
    x : StepResult
        The result of :func:`step`.

    Returns
    -------
    LmerMod or LinearModel
        The final model (a :class:`~mixedcompat.inference.linear_model.LinearModel` when every
        random term was eliminated).

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> get_model(mc.step(m)).formula
    'Reaction ~ Days + (Days | Subject)'
    """
    if not isinstance(x, StepResult):
        raise TypeError(f"get_model() takes the result of step(), not a {type(x).__name__}")
    return x.model


# ------------------------------------------------------------------------------------------------
# the formulae of ranova's rows, as lmerTest writes them

def _full_formula_text(m) -> str:
    """lmerTest's ``full_form``: ``response ~ fixed + (bar_1) + (bar_2) ...`` (bars as lme4's
    ``findbars`` expands them), simplified by R's ``update.formula``."""
    parts = m.parts
    pieces = [parts.fixed_text] + [f"({t.label})" for t in parts.re_terms]
    return printed_formula(update_formula_tree(parts, ". ~ " + " + ".join(pieces), require_random=False))


def ranova_formulae(m) -> list[Node]:
    """The formula behind each reduced row of ``ranova(m)`` (in its row order), as lmerTest's
    ``get_newforms``: ``update(full_form, ~ . - (term))`` for a term removed whole, and
    ``update(full_form, ~ . - (term) + (reduced | g))`` for each variable dropped from a term.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> [printed_formula(f) for f in ranova_formulae(m)]
    ['Reaction ~ Days + (1 | Subject)']
    """
    full = _full_formula_text(m)
    out: list[Node] = []
    for t in m.parts.re_terms:
        struct = rhs_terms(t.expr)
        scope = drop_scope(struct)
        if not struct.labels or not scope:
            out.append(update_formula_tree(full, f"~ . - ({t.label})", require_random=False))
            continue
        group = t.group.deparse()
        for term in scope:
            if set(struct.labels) == {term}:
                lhs = "1"
            else:
                rest = [k for k, s in enumerate(struct.labels) if s != term]
                lhs = rhs_of_terms(struct, rest).deparse()
            out.append(update_formula_tree(full, f"~ . - ({t.label}) + ({lhs} | {group})", require_random=False))
    return out


def _has_bars(formula: Node) -> bool:
    return any(is_bar(n) for n in _walk(formula))


def _walk(node: Node):
    yield node
    for a in node.args or ():
        if isinstance(a, Node):
            yield from _walk(a)


# ------------------------------------------------------------------------------------------------
# the two reductions

def _reduce_random(m, alpha: float) -> tuple[pd.DataFrame, Any, AnovaTable]:
    ran = ranova(m)
    reduced = [ran.iloc[[0]]]
    fit = m
    forms = ranova_formulae(fit)
    n0 = int(m.nobs())
    while True:
        p = ran["Pr(>Chisq)"].to_numpy(dtype=float)[1:]
        above = ~np.isnan(p) & (p > alpha)
        if not above.any():
            break
        remove = int(np.nanargmax(p))                    # R's which.max: first of the largest, NA skipped
        newform = forms[remove]
        reduced.append(ran.iloc[[1 + remove]])
        if not _has_bars(newform):                      # lmerTest: lm(), ranova_lm (no row to test)
            fit = lm_from(fit, newform)
            if fit.nobs() != n0:
                raise DataError(ROWS_CHANGED_ERROR)
            return pd.concat(reduced), fit, ran.iloc[:1]
        fit = update(fit, newform)
        if int(fit.nobs()) != n0:
            raise DataError(ROWS_CHANGED_ERROR)
        ran = ranova(fit)
        forms = ranova_formulae(fit)
    return pd.concat(reduced), fit, ran


def _check_keep(m, keep: Sequence[str]) -> None:
    term_names = list(m.frame.fixed_spec.structure.labels)
    bad = [k for k in keep if k not in term_names]
    if bad:
        warnings.warn(f"Invalid 'keep' ignored: {' '.join(bad)}.\nValid terms are: {' '.join(term_names)}.",
                      UserWarning, stacklevel=3)


def lme4_formula(tree: Node) -> Node:
    """The formula lme4 stores in a fit (R's ``formula(m)``), the base of lmerTest's updates: ``(x || g)``
    becomes the separate terms ``(1 | g) + (0 + x | g)`` (R's ``update.formula`` then treats them
    as two terms, as lme4's ``expandDoubleVerts`` leaves them).

    Examples
    --------
    >>> printed_formula(lme4_formula(parse("y ~ x * f + (x || g)")))
    'y ~ x * f + (1 | g) + (0 + x | g)'
    """
    if not any(n.kind == "binop" and n.value == "||" for n in _walk(tree)):
        return tree

    def bars_only(node: Node) -> bool:
        return is_binop(node, "+") and all(p.kind == "paren" and is_bar(p.args[0]) for p in split_top(node, "+"))

    def flatten(node: Node) -> Node:          # bottom-up: ((b1) + (b2)) -> (b1) + (b2), chained to the left
        if node.kind == "paren" and bars_only(node.args[0]):
            return node.args[0]
        if is_binop(node, "+") and bars_only(node.args[1]):
            acc = node.args[0]
            for piece in split_top(node.args[1], "+"):
                acc = binop("+", acc, piece)
            return acc
        return node

    return map_nodes(parse(printed_formula(tree)), flatten)


def _reduce_fixed(m, ddf: str, alpha: float, keep: Sequence[str]) -> tuple[pd.DataFrame, Any, AnovaTable]:
    _check_keep(m, keep)
    is_lm = isinstance(m, LinearModel)
    aov = drop1_lm_ftable(m) if is_lm else drop1_ftable(m, ddf=ddf)
    reduced = [aov.iloc[[]]]
    fit = m
    n0 = int(m.nobs())
    while True:
        consider = [t for t in aov.index if t not in keep]
        p = aov.loc[consider, "Pr(>F)"].to_numpy(dtype=float) if consider else np.array([])
        above = ~np.isnan(p) & (p > alpha)
        if not above.any():
            break
        remove = consider[int(np.nanargmax(p))]
        reduced.append(aov.loc[[remove]])
        struct = fit.frame.fixed_spec.structure
        term = struct.terms[list(struct.labels).index(remove)]
        dot = sym(".")
        formula = binop("~", dot, binop("-", dot, term_node(struct, term)))
        if is_lm:
            fit = fit.update(formula)
        else:       # R: update(formula(m), ~ . - term), lme4's formula(m) as the base
            fit = update(fit, update_formula_tree(parse_formula(lme4_formula(fit.parts.tree)), formula))
        if int(fit.nobs()) != n0:
            raise DataError(ROWS_CHANGED_ERROR)
        aov = drop1_lm_ftable(fit) if is_lm else drop1_ftable(fit, ddf=ddf)
    return pd.concat(reduced), fit, aov


def _with_eliminated(first: pd.DataFrame, eliminated: Sequence[float], rest: pd.DataFrame,
                     heading: list[str]) -> AnovaTable:
    top = pd.DataFrame(first).copy()
    top.insert(0, "Eliminated", np.asarray(eliminated, dtype=float))
    bottom = pd.DataFrame(rest).copy()
    bottom.insert(0, "Eliminated", np.zeros(len(bottom)))
    frames = [f for f in (top, bottom) if len(f)]
    tab = AnovaTable(pd.concat(frames) if frames else top)
    tab.attrs = {"heading": heading}
    return tab


def step(m: Any, ddf: str = "Satterthwaite", alpha_random: float = 0.1, alpha_fixed: float = 0.05,
         reduce_fixed: bool = True, reduce_random: bool = True, keep: Sequence[str] | str | None = None
         ) -> StepResult:
    """lmerTest's ``step(m, ddf, alpha.random, alpha.fixed, reduce.fixed, reduce.random, keep)``.

    R equivalent: ``lmerTest::step(m, ddf = "Satterthwaite", alpha.random = 0.1, alpha.fixed = 0.05)``, then ``get_model(s)``.

    Parameters
    ----------
    m : an lmer fit
    ddf : "Satterthwaite" or "Kenward-Roger" (the F tests of the fixed terms)
    alpha_random, alpha_fixed : terms with a p-value above these are eliminated
    reduce_fixed, reduce_random : ``False`` sets the matching alpha to 1 (nothing eliminated), as lmerTest
    keep : fixed-effect term labels never eliminated (R's labels, e.g. ``"recipe:temperature"``).  As
        lmerTest, labels that are not terms of the model are ignored with the warning
        ``"Invalid 'keep' ignored: <labels>.\\nValid terms are: <terms>."``.

    Returns
    -------
    StepResult
        ``.random``: rows ``<none>`` (Eliminated NA), then the eliminated random terms (1, 2, ...) and
        the ``ranova`` rows of the final model (0); columns ``Eliminated, npar, logLik, AIC, LRT, Df,
        Pr(>Chisq)``.  ``.fixed``: the eliminated fixed terms (1, 2, ...) and the final ``drop1`` rows
        (0); columns ``Eliminated, Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)``.  ``.model``: the
        final fit (a :class:`~mixedcompat.inference.linear_model.LinearModel` when no random-effect
        term is left, as lmerTest's ``lm``).

    Raises
    ------
    TypeError
        ``m`` is not an lmer fit (a glmer or nlme fit).
    DataError
        ``"number of rows in use has changed: remove missing values?"``.

    Examples
    --------
    >>> m = mc.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", mc.datasets.load("cake"))
    >>> s = mc.step(m)
    >>> s.fixed.index.tolist()
    ['recipe:temperature', 'recipe', 'temperature']
    >>> mc.get_model(s).formula
    'angle ~ temperature + (1 | recipe:replicate)'
    """
    if isinstance(m, GlmerMod) or not isinstance(m, LmerMod):
        kind = "a glmer fit" if isinstance(m, GlmerMod) else f"an object of type {type(m).__name__}"
        if getattr(m, "r_package", None) == "nlme":
            kind = f"an nlme {type(m).__name__} fit"
        raise TypeError(f"step() applies to lmer fits (lmerTest's lmerModLmerTest), not to {kind}")
    method = normalise_ddf(ddf)
    if method == "lme4":
        raise ValueError("step: ddf must be 'Satterthwaite' or 'Kenward-Roger'")
    for name, a in (("alpha_random", alpha_random), ("alpha_fixed", alpha_fixed)):
        if isinstance(a, bool) or not isinstance(a, (int, float, np.number)) or np.isnan(a):
            raise DataError(f"step: {name} must be a number, not {a!r}")
    if keep is None:
        keep = []
    elif isinstance(keep, str):
        keep = [keep]
    elif isinstance(keep, (list, tuple, pd.Index, np.ndarray, pd.Series)):
        keep = list(keep)
    else:
        keep = [keep]
    if not all(isinstance(k, str) for k in keep):
        raise DataError(f"step: keep must be term labels (strings), not {keep!r}")
    if not reduce_random:
        alpha_random = 1.0
    if not reduce_fixed:
        alpha_fixed = 1.0
    red_random, model, ran = _reduce_random(m, float(alpha_random))
    red_fixed, final, aov = _reduce_fixed(model, method, float(alpha_fixed), keep)
    n_elim = len(red_random) - 1
    random = _with_eliminated(red_random, [np.nan] + list(range(1, n_elim + 1)), ran.iloc[1:], [RANDOM_HEADING])
    heading = [FIXED_HEADING] if isinstance(model, LinearModel) else \
        [FIXED_HEADING, f"Degrees of freedom method: {method} \n"]
    fixed = _with_eliminated(red_fixed, list(range(1, len(red_fixed) + 1)), aov, heading)
    if "NumDF" in fixed.columns and len(fixed) and not fixed["NumDF"].isna().any():
        fixed["NumDF"] = fixed["NumDF"].astype(int)
    return StepResult(random, fixed, final, aov)
