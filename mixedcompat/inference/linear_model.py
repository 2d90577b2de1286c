"""The linear model (R's ``lm``) that lmerTest's ``step`` goes on with once every random-effect term is
eliminated, and R's ``drop1(lm, test = "F")`` table it reduces it by.

lmerTest builds the ``lm`` call from the mixed fit's call (same data, subset, weights, offset;
lmerTest's ``get_lm_call``); :func:`lm_from` does the same from an lmer fit.  The fit is least squares
on R's model matrix (aliased columns dropped by R's QR rule, their coefficients NA).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedcompat.front.design import ModelFrame, model_frame
from mixedcompat.front.formula import parse_formula
from mixedcompat.front.rlang import Node, binop, sym
from mixedcompat.front.terms import drop_scope, term_node, update_formula_tree
from mixedcompat.model import require_rows
from mixedcompat.present.lme4_printing import deparse_formula
from mixedcompat.present.tables import AnovaTable

__all__ = ["LinearModel", "lm_from", "drop1_lm_ftable", "DROP1_LM_COLUMNS"]

DROP1_LM_COLUMNS = ["Df", "Sum of Sq", "RSS", "AIC", "F value", "Pr(>F)"]


@dataclass(frozen=True, repr=False)
class LinearModel:
    """An ``lm`` fit: its formula (a tree), model frame, coefficients (NaN where aliased, R's NA), the
    residual sum of squares (weighted) and residual df; ``call`` holds the data arguments for refits.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (1 | Subject)", mc.datasets.load("sleepstudy"))
    >>> fit = lm_from(m, "Reaction ~ Days")
    >>> round(float(fit.coefficients["Days"]), 4)
    10.4673
    """

    tree: Node
    frame: ModelFrame
    coefficients: pd.Series
    rss: float
    df_residual: int
    call: dict
    log_det_r: float = 0.0          # log |det R| of the weighted model matrix's QR (logLik.lm's REML term)

    @property
    def formula(self) -> str:
        """The formula as R prints it."""
        return deparse_formula(self.tree)

    @property
    def rank(self) -> int:
        return int(self.frame.X.shape[1])

    def nobs(self) -> int:
        """Number of observations with non-zero weight, as R's ``nobs.lm``."""
        w = self.frame.weights
        return int(len(self.frame.y) if w is None else np.sum(np.asarray(w) != 0))

    def fixef(self) -> pd.Series:
        """The coefficients (R's ``coef(lm)``)."""
        return self.coefficients

    def loglik(self, REML: bool = False) -> float:
        """R's ``logLik.lm`` (zero-weight cases dropped; ``REML`` as ``logLik(fit, REML = TRUE)``).

        Examples
        --------
        >>> m = mc.lmer("Reaction ~ Days + (1 | Subject)", mc.datasets.load("sleepstudy"))
        >>> round(lm_from(m, "Reaction ~ Days").loglik(REML=True), 4)
        -946.8318
        """
        w = np.ones(len(self.frame.y)) if self.frame.weights is None else np.asarray(self.frame.weights, float)
        w = w[w != 0]
        n = len(w)
        N = n - self.rank if REML else n
        val = 0.5 * (float(np.sum(np.log(w))) - N * (math.log(2 * math.pi) + 1 - math.log(N) + math.log(self.rss)))
        return val - self.log_det_r if REML else val

    def __repr__(self) -> str:
        return f"LinearModel({self.formula!r}, rank={self.rank}, df_residual={self.df_residual})"

    def update(self, formula: str | Node) -> "LinearModel":
        """Refit with an update formula (``". ~ . - x"``) on the same data."""
        tree = update_formula_tree(parse_formula(self.tree), formula, require_random=False)
        return _fit(tree, self.call)


def _fit(tree: Node, call: dict) -> LinearModel:
    frame = model_frame(parse_formula(tree), call["data"], weights=call.get("weights"),
                        offset=call.get("offset"), subset=call.get("subset"),
                        na_action=call.get("na_action", "omit"), contrasts=call.get("contrasts"))
    y = np.asarray(frame.y, dtype=float)
    if frame.offset is not None:
        y = y - np.asarray(frame.offset, dtype=float)
    X = np.asarray(frame.X, dtype=float)
    w = np.ones(len(y)) if frame.weights is None else np.asarray(frame.weights, dtype=float)
    sw = np.sqrt(w)
    if X.shape[1]:
        beta, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
        res = y - X @ beta
        log_det_r = float(np.sum(np.log(np.abs(np.diag(np.linalg.qr(X * sw[:, None], mode="r"))))))
    else:
        beta, res, log_det_r = np.zeros(0), y, 0.0
    spec = frame.fixed_spec
    coef = pd.Series(np.nan, index=list(spec.colnames), dtype=float)
    coef.iloc[list(spec.keep)] = beta
    n = int(np.sum(w != 0))
    return LinearModel(tree=tree, frame=frame, coefficients=coef, rss=float(np.sum(w * res ** 2)),
                       df_residual=n - X.shape[1], call=call, log_det_r=log_det_r)


def lm_from(m: Any, formula: str | Node) -> LinearModel:
    """lmerTest's ``get_lm_call``: ``lm(formula)`` with the data, subset, weights, offset, na_action and
    contrasts of the mixed fit ``m``.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (1 | Subject)", mc.datasets.load("sleepstudy"))
    >>> lm_from(m, "Reaction ~ Days").df_residual
    178
    """
    require_rows(m, "lm")
    call = {k: m.call.get(k) for k in ("data", "weights", "offset", "subset", "na_action", "contrasts")}
    if call.get("na_action") is None:
        call["na_action"] = "omit"
    tree = parse_formula(formula).tree if isinstance(formula, str) else formula
    return _fit(tree, call)


def drop1_lm_ftable(fit: LinearModel) -> AnovaTable:
    """R's ``drop1(lm, test = "F")[-1, ]``: for each term contained in no other (R's ``drop.scope``),
    ``Df`` (parameters dropped), ``Sum of Sq`` (increase of the (weighted) RSS), ``RSS``, ``AIC``
    (``n log(RSS / n) + 2 rank``, ``n`` the rows of the model matrix), ``F value = (Sum of Sq / Df) / (RSS / df.residual)``
    of the full model and its p-value.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (1 | Subject)", mc.datasets.load("sleepstudy"))
    >>> drop1_lm_ftable(lm_from(m, "Reaction ~ Days")).index.tolist()
    ['Days']
    """
    struct = fit.frame.fixed_spec.structure
    scope = drop_scope(struct)
    n = len(fit.frame.y)                  # R: nrow(model.matrix), zero weights included
    rows = {}
    dot = sym(".")
    for label in scope:
        term = struct.terms[list(struct.labels).index(label)]
        reduced = fit.update(binop("~", dot, binop("-", dot, term_node(struct, term))))
        df = fit.rank - reduced.rank
        ss = reduced.rss - fit.rss
        aic = n * math.log(reduced.rss / n) + 2 * reduced.rank
        F = (ss / df) / (fit.rss / fit.df_residual) if df > 0 else np.nan
        p = float(stats.f.sf(F, df, fit.df_residual)) if df > 0 else np.nan
        rows[label] = [df, ss, reduced.rss, aic, F, p]
    tab = AnovaTable.from_dict(rows, orient="index", columns=DROP1_LM_COLUMNS)
    if tab.empty:
        tab = AnovaTable(columns=DROP1_LM_COLUMNS, dtype=float)
    tab.attrs["heading"] = ["Single term deletions", "\nModel:", fit.formula]
    return tab
