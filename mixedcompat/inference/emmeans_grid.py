"""Estimated marginal means as the R package emmeans (1.8.4) computes them: the reference grid, the
linear functions of beta that average it, their estimates, standard errors and degrees of freedom.

The reference grid (emmeans' ``ref_grid``): every combination of the levels of the factors of the
fixed part, each covariate at its mean over the rows the model used (``at=`` overrides a value);
a variable wrapped in ``factor()`` / ``as.factor()`` / ``ordered()`` in the formula is a factor.  Its
rows are model-matrix rows built with the fit's own contrasts.  ``emmeans(m, specs)`` averages the
rows over the factors not named in ``specs`` / ``by`` with equal weights (emmeans' default
``weights = "equal"``), so the marginal means are balanced whatever the cell counts.

Degrees of freedom of a linear function ``k' beta`` (emmeans' ``dffun``):

* lmer (``lmerMod``), emmeans' ``lmer.df``: ``"kenward-roger"`` (default): the standard error from
  pbkrtest's adjusted covariance ``vcovAdj`` and the df from pbkrtest's ``Lb_ddf`` (both
  :mod:`mixedcompat.inference.kenward_roger`); ``"satterthwaite"``: lmerTest's ``calcSatterth``
  (``contest1D``'s df, :mod:`mixedcompat.inference.satterthwaite`) with ``vcov``; ``"asymptotic"``: Inf.
  Above 3000 observations emmeans turns Kenward-Roger into Satterthwaite and Satterthwaite into
  asymptotic (its ``pbkrtest.limit`` / ``lmerTest.limit``) with its message: so do we.  A
  Kenward-Roger grid of an ML fit uses the REML refit's adjusted covariance, as pbkrtest's ``vcovAdj``.
* glmer: asymptotic (Inf), whatever ``ddf`` says (emmeans ignores ``lmer.df`` for a GLMM).

A GLMM's link, and for lmer / lme a response written ``log(y)``, ``log2``, ``log10``, ``log1p`` or
``sqrt(y)``, is emmeans' transformation: results on that scale with its note, ``type="response"``
back-transforms (delta-method SEs, limits back-transformed), contrasts of log-type scales are ratios.
* nlme ``lme``: emmeans' default ``mode = "containment"``: ``min`` over the coefficients with
  ``|k_j| > 1e-4`` of nlme's denominator df (``fixDF$X``), the intercept's replaced by the number of
  groups of the outermost grouping factor minus 1; ``"asymptotic"``: Inf.  emmeans'
  ``"satterthwaite"`` for lme (its ``gradV.kludge``) is not implemented: refused, naming the two
  modes that are.  An ML fit's covariance is scaled by ``N / (N - p)`` (emmeans' ``sigmaAdjust``).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.front.design import build_fixed
from mixedcompat.front.rlang import parse
from mixedcompat.glmer.fit import GlmerMod
from mixedcompat.inference.emm_summary import EmmeansMessage, label_of, summary_emm
from mixedcompat.inference.kenward_roger import kr_adjusted, lb_ddf
from mixedcompat.inference.satterthwaite import contest_1d, satterthwaite_state
from mixedcompat.lme4.fit import LmerMod, update
from mixedcompat.model import require_rows
from mixedcompat.nlme.fit import NlmeFit
from mixedcompat.nlme.nlme_inference import fixed_df
from mixedcompat.present.html import HtmlRepr

__all__ = ["EmmGrid", "Tran", "marginal_means", "parse_specs", "ratio_tran", "DF_LIMIT", "INTERACTION_NOTE"]

DF_LIMIT = 3000          # emmeans' pbkrtest.limit and lmerTest.limit
INTERACTION_NOTE = "NOTE: Results may be misleading due to involvement in interactions"
_FACTOR_CALLS = ("factor", "as.factor", "ordered", "as.ordered")
_LMER_DDF = {"kenward-roger": "kenward-roger", "kenwardroger": "kenward-roger", "kr": "kenward-roger",
             "satterthwaite": "satterthwaite", "asymptotic": "asymptotic"}
_LME_DDF = {"containment": "containment", "asymptotic": "asymptotic"}


# ------------------------------------------------------------------------------------------------
# the transformation (emmeans' misc$tran for a GLMM's link)


@dataclass(frozen=True)
class Tran:
    """A link as emmeans labels it: ``tran`` (emmeans' code: the link's R name or ``"log.o.r."``), ``name``
    ("logit", "log", "log odds ratio"...), ``inv_lbl`` (the response column's name: "prob", "rate",
    "response", "odds.ratio", "ratio"); the inverse link and its derivative from ``family`` (a GLMM's
    family) or, for ratios, ``base ** x``.  Picklable (no closures)."""

    tran: str
    name: str
    inv_lbl: str
    family: Any = None
    base: float | None = None

    def linkinv(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.family is not None:
            return np.asarray(self.family.linkinv(x), dtype=float)
        return np.power(self.base, x)

    def mu_eta(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.family is not None:
            return np.asarray(self.family.mu_eta(x), dtype=float)
        return np.power(self.base, x) * np.log(self.base)


def _family_tran(m: Any) -> Tran | None:
    """emmeans' ``.std.link.labels``: no transformation for an identity link."""
    fam = m.family
    link = fam.link.name
    if link == "identity":
        return None
    lbl = "prob" if "binomial" in fam.family else "rate" if "poisson" in fam.family else "response"
    return Tran(link, link, lbl, family=fam)


@dataclass(frozen=True)
class ResponseLink:
    """The inverse of a response transformation (``log(y)``, ``sqrt(y)``...) and its derivative, picklable."""

    fun: str

    def linkinv(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return {"log": np.exp, "log2": lambda v: np.power(2.0, v), "log10": lambda v: np.power(10.0, v),
                "log1p": np.expm1, "sqrt": np.square}[self.fun](x)

    def mu_eta(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.fun == "sqrt":
            return 2.0 * x
        base = {"log": np.e, "log2": 2.0, "log10": 10.0, "log1p": np.e}[self.fun]
        return np.power(base, x) * np.log(base)


RESPONSE_TRANS = ("log", "log2", "log10", "log1p", "sqrt")


def _response_tran(formula: str) -> Tran | None:
    """emmeans' transformation of a response written ``log(y)``, ``log2(y)``, ``log10(y)``, ``log1p(y)`` or
    ``sqrt(y)`` in the formula (results on that scale; ``type="response"`` back-transforms)."""
    tree = parse(formula)
    lhs = tree.args[0] if tree.kind == "binop" and tree.value == "~" and len(tree.args) == 2 else None
    if lhs is None or lhs.kind != "call" or lhs.value not in RESPONSE_TRANS or len(lhs.args) != 1 or any(lhs.names):
        return None
    return Tran(lhs.value, lhs.value, "response", family=ResponseLink(lhs.value))


def ratio_tran(t: Tran) -> Tran | None:
    """The transformation of a contrast of ``t``-scale estimates (``contrast.emmGrid``): log-type
    links give ratios (odds ratios for logit) on the exponential scale; others none.

    Examples
    --------
    >>> ratio_tran(Tran("logit", "logit", "prob", base=np.e)).inv_lbl
    'odds.ratio'
    """
    if t.tran in ("logit", "log.o.r."):
        return Tran("log.o.r.", "log odds ratio", "odds.ratio", base=float(np.e))
    if t.tran in ("log", "log2", "log10"):
        base = {"log": float(np.e), "log2": 2.0, "log10": 10.0}[t.tran]
        return Tran(t.tran, t.tran, "ratio", base=base)
    return None


# ------------------------------------------------------------------------------------------------
# degrees of freedom of one linear function (emmeans' dffun); classes, so that a grid pickles


@dataclass(frozen=True)
class AsymptoticDf:
    """Infinite df (asymptotic z tests)."""

    def __call__(self, k: np.ndarray) -> float:
        return float("inf")


@dataclass(frozen=True)
class KenwardRogerDf:
    """pbkrtest's ``Lb_ddf(k, unadjV, adjV)`` from the adjusted covariance's P and W."""

    adj: Any

    def __call__(self, k: np.ndarray) -> float:
        return float(lb_ddf(self.adj, np.asarray(k, float)[None, :]))


@dataclass(frozen=True)
class SatterthwaiteDf:
    """lmerTest's ``calcSatterth(m, k)$denom`` (contest1D's df)."""

    state: Any

    def __call__(self, k: np.ndarray) -> float:
        return float(contest_1d(self.state, np.asarray(k, float))["df"])


@dataclass(frozen=True)
class ContainmentDf:
    """emmeans' containment df for lme: the least of nlme's df of the coefficients ``k`` uses (|k_j| > 1e-4)."""

    dfx: tuple

    def __call__(self, k: np.ndarray) -> float:
        idx = np.flatnonzero(np.abs(np.asarray(k, float)) > 1e-4)
        return float(np.min(np.asarray(self.dfx)[idx])) if len(idx) else float("nan")


# ------------------------------------------------------------------------------------------------
# the object


@dataclass(frozen=True)
class EmmGrid(HtmlRepr):
    """An emmeans ``emmGrid``: rows of linear functions ``linfct`` of ``bhat`` with their labels.

    ``grid`` holds the label columns (strings); ``df`` one df per row; ``df_fun`` gives the df of any
    further linear function (contrasts).  ``str()`` prints as R's ``print(emmeans(...))``;
    :meth:`to_frame` is R's ``as.data.frame(summary(...))``.

    Examples
    --------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", mc.datasets.load("Machines"))
    >>> e = mc.emmeans(m, "Machine")
    >>> e.to_frame()["emmean"].round(3).tolist()
    [52.356, 60.322, 66.272]
    """

    levels: dict
    grid: pd.DataFrame
    linfct: np.ndarray
    bhat: np.ndarray
    V: np.ndarray
    df: np.ndarray
    df_fun: Callable[[np.ndarray], float] = field(repr=False)
    df_method: str | None = None
    est_name: str = "emmean"
    infer: tuple = (True, False)
    adjust: str = "none"
    by: tuple = ()
    pri_vars: tuple = ()
    avgd_over: tuple = ()
    tran: Tran | None = None
    type: str = "link"
    level: float = 0.95
    est_type: str = "prediction"
    fam_size: int = 0
    init_mesg: tuple = ()
    pairby: str | None = None

    def estimates(self) -> tuple[np.ndarray, np.ndarray]:
        """(estimates, standard errors) on the linear-predictor scale."""
        est = self.linfct @ self.bhat
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", self.linfct, self.V, self.linfct), 0.0))
        return est, se

    def summary(self, infer: tuple | None = None, level: float | None = None, adjust: str | None = None,
                type: str | None = None):  # noqa: A002
        """emmeans' ``summary.emmGrid``: the table with its footer messages (see
        :func:`mixedcompat.inference.emm_contrasts.summary_emm`)."""
        return summary_emm(self, infer=infer, level=level, adjust=adjust, type=type)

    def confint(self, level: float | None = None, adjust: str | None = None):
        """emmeans' ``confint()``: intervals only."""
        return self.summary(infer=(True, False), level=level, adjust=adjust)

    def test(self, adjust: str | None = None):
        """emmeans' ``test()``: tests only."""
        return self.summary(infer=(False, True), adjust=adjust)

    def to_frame(self) -> pd.DataFrame:
        """``as.data.frame(summary(e))`` as a plain DataFrame (R's column names)."""
        return pd.DataFrame(self.summary())

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return self.__str__()

    def update(self, **changes: Any) -> "EmmGrid":
        """A copy with some fields replaced (emmeans' ``update``)."""
        if "type" in changes:
            changes["type"] = _check_type(changes["type"])
        return replace(self, **changes)


# ------------------------------------------------------------------------------------------------
# specs


def parse_specs(specs: Any, by: Any = None) -> tuple[list[str], list[str], str | None]:
    """emmeans' ``specs``: a name, a list of names, or a formula ``"~ A | B"`` / ``"pairwise ~ A"``.

    Returns (factors, by factors, contrast method from the formula's left side or None).

    Examples
    --------
    >>> parse_specs("pairwise ~ nitro | Variety")
    (['nitro'], ['Variety'], 'pairwise')
    """
    by_list = [] if by is None else ([by] if isinstance(by, str) else [str(b) for b in by])
    if isinstance(specs, str) and "~" in specs:
        lhs, rhs = specs.split("~", 1)
        parts = rhs.split("|", 1)
        facs = parse("~ " + parts[0]).symbols() if parts[0].strip() else []
        if parts[0].strip() == "1":
            facs = ["1"]
        form_by = parse("~ " + parts[1]).symbols() if len(parts) > 1 else []
        by_list = [b for b in dict.fromkeys(form_by + by_list) if b not in facs]
        contr = lhs.strip() or None
        if contr is not None and not re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", contr):
            raise DataError(f"emmeans: the left side of specs {specs!r} must name a contrast method "
                            "(pairwise, revpairwise, trt.vs.ctrl, poly, consec, eff, del.eff)")
        return facs, by_list, contr
    if isinstance(specs, str):
        return [specs], [b for b in by_list if b != specs], None
    if isinstance(specs, (list, tuple)) and specs and all(isinstance(s, str) for s in specs):
        facs = list(dict.fromkeys(specs))
        return facs, [b for b in by_list if b not in facs], None
    raise DataError(f"emmeans: specs must be a factor name, a list of factor names or a formula such as "
                    f"'~ A | B' or 'pairwise ~ A', not {specs!r}")


def _check_type(type: str) -> str:  # noqa: A002
    if type not in ("link", "response"):
        raise DataError(f"type must be 'link' or 'response', not {type!r}")
    return type


# ------------------------------------------------------------------------------------------------
# the reference grid


@dataclass
class _GridVar:
    name: str
    levels: list          # labels (factors) or one value (covariates)
    is_factor: bool
    values: list          # what goes into newdata for each level


def _data_rows(m: Any) -> pd.DataFrame:
    require_rows(m, "emmeans (covariate means and cell counts of the reference grid)")
    frame = m.frame
    data = frame.data
    rows = frame.rows
    return data.iloc[np.asarray(rows)] if rows is not None else data


def _grid_variables(m: Any, at: dict | None) -> list[_GridVar]:
    spec = m.frame.fixed_spec
    struct = spec.structure
    data = _data_rows(m)
    out: dict[str, _GridVar] = {}
    for v, node in enumerate(struct.variables):
        if v in struct.offsets:
            continue
        if v in spec.levels:
            levels, _ordered, logical = spec.levels[v]
            if node.kind == "sym":
                name = node.value
                vals = [lv == "TRUE" for lv in levels] if logical else list(levels)
            elif node.kind == "call" and node.value in _FACTOR_CALLS and len(node.args) >= 1 \
                    and node.args[0].kind == "sym":
                name = node.args[0].value
                col = data[name] if name in data.columns else None
                numeric = col is not None and pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
                vals = [float(lv) for lv in levels] if numeric else list(levels)
            else:
                raise NotImplementedError(f"emmeans: the factor {struct.names[v]!r} is an expression; give the "
                                          "model a factor column instead")
            if name not in out:
                out[name] = _GridVar(name, list(levels), True, vals)
            continue
        for name in node.symbols():
            if name in out or name not in data.columns:
                continue
            col = data[name]
            if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                raise NotImplementedError(f"emmeans: variable {name!r} is used numerically but is not numeric")
            value = float(np.mean(np.asarray(col, dtype=float)))
            out[name] = _GridVar(name, [value], False, [value])
    for name, value in (at or {}).items():
        if name not in out:
            raise DataError(f"emmeans: at= names {name!r}, which is not a variable of the fixed effects "
                            f"({', '.join(out)})")
        g = out[name]
        vals = list(np.atleast_1d(value))
        if g.is_factor:
            bad = [v for v in vals if str(v) not in g.levels]
            if bad:
                raise DataError(f"emmeans: at= gives {name!r} the value(s) {bad}, not levels of the factor "
                                f"({', '.join(g.levels)})")
            keep = [g.levels.index(str(v)) for v in vals]
            out[name] = _GridVar(name, [g.levels[i] for i in keep], True, [g.values[i] for i in keep])
        else:
            vals = [float(v) for v in vals]
            out[name] = _GridVar(name, vals, False, vals)
    return list(out.values())


def _grid_frame(gvars: list[_GridVar]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(newdata for the model matrix, labels) over all combinations, the first variable fastest
    (R's ``expand.grid``)."""
    sizes = [len(g.levels) for g in gvars]
    n = int(np.prod(sizes)) if sizes else 1
    idx = np.indices(sizes[::-1]).reshape(len(sizes), -1)[::-1] if sizes else np.zeros((0, 1), int)
    newdata, labels = {}, {}
    for g, ix in zip(gvars, idx):
        newdata[g.name] = [g.values[i] for i in ix]
        labels[g.name] = [g.levels[i] for i in ix]
    return pd.DataFrame(newdata, index=range(n)), pd.DataFrame(labels, index=range(n))


def _some_term_contains(facs: list[str], m: Any) -> bool:
    """emmeans' ``.some.term.contains``: a model term whose label matches every name of ``facs`` (R's
    ``grep``) and has more variables than ``facs``."""
    struct = m.frame.fixed_spec.structure
    for term in struct.terms:
        label = ":".join(struct.names[i] for i in term)
        if all(re.search(f, label) for f in facs):
            nvars = len({s for i in term for s in struct.variables[i].symbols()})
            if nvars > len(facs):
                return True
    return False


# ------------------------------------------------------------------------------------------------
# covariance and df per model class


def _normalise_ddf(m: Any, ddf: str | None) -> str:
    if ddf is not None and not isinstance(ddf, str):
        raise DataError(f"emmeans: ddf must be a string, not {ddf!r}")
    key = None if ddf is None else ddf.lower().replace("_", "-").replace(" ", "-")
    if isinstance(m, NlmeFit):
        if key is None:
            return "containment"
        if key == "asymptotic":       # emmeans: options$df = Inf, shown as mode "fixed"
            return "fixed"
        if key in _LME_DDF:
            return _LME_DDF[key]
        if key in ("satterthwaite", "appx-satterthwaite", "boot-satterthwaite", "auto", "kenward-roger"):
            raise NotImplementedError(f"emmeans for lme: mode {ddf!r} is not implemented (emmeans' "
                                      "gradV.kludge); use ddf='containment' (emmeans' default for lme) or "
                                      "'asymptotic'")
        raise DataError(f"emmeans: unknown ddf {ddf!r} for an lme fit; use 'containment' or 'asymptotic'")
    if key is None:
        key = "kenward-roger"
    norm = _LMER_DDF.get(key.replace("-", "") if key.replace("-", "") in _LMER_DDF else key)
    if norm is None:
        raise DataError(f"emmeans: unknown ddf {ddf!r}; use 'Kenward-Roger', 'Satterthwaite' or 'asymptotic' "
                        "(emmeans' lmer.df)")
    return norm


def _limit_message(pkg: str, n: int) -> str:
    return (f"Note: D.f. calculations have been disabled because the number of observations exceeds "
            f"{DF_LIMIT}.\nTo enable adjustments, add the argument '{pkg}.limit = {n}' (or larger)\n"
            f"[or, globally, 'set emm_options({pkg}.limit = {n})' or larger];\n"
            "but be warned that this may result in large computation time and memory use.")


def _lmer_basis(m: LmerMod, mode: str) -> tuple[np.ndarray, Callable, str]:
    """emmeans' ``emm_basis.merMod`` for an LMM: (V, dffun, df message)."""
    n = int(m.nobs())
    if mode == "kenward-roger" and n > DF_LIMIT:
        warnings.warn(_limit_message("pbkrtest", n), EmmeansMessage, stacklevel=5)
        mode = "satterthwaite"
    if mode == "satterthwaite" and n > DF_LIMIT:
        warnings.warn(_limit_message("lmerTest", n), EmmeansMessage, stacklevel=5)
        mode = "asymptotic"
    V = np.asarray(m.vcov(), dtype=float)
    if mode == "kenward-roger":
        # pbkrtest's vcovAdj refits an ML fit by REML; emmeans' Lb_ddf(k, unadjV, adjV) still takes the
        # fit's own (ML) vcov as the unadjusted one, with the REML refit's P and W
        adj = kr_adjusted(m if m.REML else update(m, REML=True))
        if not m.REML:
            adj = replace(adj, vcov=V)
        V = np.asarray(adj.vcov_adj, dtype=float)
        dffun: Callable = KenwardRogerDf(adj)
    elif mode == "satterthwaite":
        dffun = SatterthwaiteDf(satterthwaite_state(m))
    else:
        dffun = AsymptoticDf()
    return V, dffun, mode


def _lme_basis(m: NlmeFit, mode: str) -> tuple[np.ndarray, Callable, str]:
    """emmeans' ``emm_basis.lme``: (V, dffun, df message)."""
    V = np.asarray(m.vcov(), dtype=float)
    if m.method == "ML":
        n, p = int(m.nobs()), V.shape[0]
        V = V * n / (n - p)
    if mode == "fixed":
        return V, AsymptoticDf(), "fixed"
    dfx = np.asarray(fixed_df(m)[0], dtype=float).copy()
    if m.x_names and m.x_names[0] == "(Intercept)":
        dfx[0] = _outer_groups(m) - 1
    return V, ContainmentDf(tuple(float(v) for v in dfx)), "containment"


def _outer_groups(m: NlmeFit) -> int:
    """Number of levels of nlme's ``groups[[1]]`` (the outermost grouping factor)."""
    labels = m.likelihood.levels[0].labels
    return len({str(lab).split("/")[0] for lab in labels})


# ------------------------------------------------------------------------------------------------
# weights over the averaged factors

WEIGHTS = ("equal", "proportional", "outer", "cells", "flat")


def _cell_counts(m: Any, gvars: list[_GridVar], labels: pd.DataFrame) -> np.ndarray:
    """emmeans' ``.wgt.``: the number of rows of the model's data in each reference-grid row (its factor
    levels; covariates play no part)."""
    facs = [g for g in gvars if g.is_factor]
    data = _data_rows(m)
    if not facs:
        return np.full(len(labels), float(len(data)))
    keys = data[[g.name for g in facs]].apply(lambda col: col.map(label_of)).agg("\x1f".join, axis=1)
    counts = keys.value_counts()
    grid_keys = labels[[g.name for g in facs]].astype(str).agg("\x1f".join, axis=1)
    return np.array([float(counts.get(k, 0)) for k in grid_keys])


def _row_weights(m: Any, gvars: list[_GridVar], labels: pd.DataFrame, avgd: list[str], weights: Any) -> np.ndarray:
    """Each reference-grid row's weight in the average over the factors ``avgd`` (emmeans' ``weights``)."""
    if not isinstance(weights, str):
        raise NotImplementedError("emmeans: numeric weights are not implemented; use 'equal', 'proportional', "
                                  "'outer', 'cells' or 'flat'")
    hits = [w for w in WEIGHTS if w.startswith(weights)] if weights else []
    if not hits:
        raise DataError(f"Invalid 'weights' option: '{weights}' (use one of {', '.join(WEIGHTS)})")
    weights = hits[0]
    if weights == "equal" or not avgd:
        return np.ones(len(labels))
    if (getattr(m, "call", None) or {}).get("weights") is not None:
        raise NotImplementedError(f"emmeans(weights='{weights}') on a fit with prior weights is not implemented "
                                  "(emmeans sums the prior weights per cell); use weights='equal'")
    wgt = _cell_counts(m, gvars, labels)
    if weights == "cells":
        return wgt
    if weights == "flat":
        return (wgt > 0).astype(float)
    akeys = labels[avgd].astype(str).agg("\x1f".join, axis=1)
    marg = pd.Series(wgt).groupby(akeys.to_numpy()).sum()
    if weights == "proportional":
        return np.array([float(marg[k]) for k in akeys])
    n = float(np.sum(wgt))
    out = np.full(len(labels), n)
    for f in avgd:          # outer: the product of each averaged factor's marginal proportions
        mf = pd.Series(wgt).groupby(labels[f].astype(str).to_numpy()).sum() / n
        out = out * np.array([float(mf[v]) for v in labels[f].astype(str)])
    return out


# ------------------------------------------------------------------------------------------------
# emmeans()


def marginal_means(m: Any, specs: Any, by: Any = None, ddf: str | None = None, type: str = "link",  # noqa: A002
                   level: float = 0.95, at: dict | None = None, weights: str = "equal") -> tuple[EmmGrid, str | None]:
    """emmeans' ``emmeans(m, specs, by, lmer.df = ddf, type, level, at)`` on an lmer, glmer or lme fit:
    the grid of marginal means and the contrast method named on the left of a formula ``specs`` (or None).
    The public front is :func:`mixedcompat.inference.emm_contrasts.emmeans`.

    Parameters
    ----------
    m : an lmer, glmer or nlme ``lme`` fit (full rank fixed effects)
    specs : a factor name (``"Machine"``), a list of names (``["nitro", "Variety"]``) or a formula string:
        ``"~ nitro | Variety"`` (``by`` after the bar), ``"pairwise ~ Machine"`` (also the contrasts:
        returns a dict ``{"emmeans": EmmGrid, "contrasts": EmmGrid}`` as R's ``emm_list``).
    by : factor name(s) to condition on (printed in groups, contrasts within each)
    ddf : lmer: ``"Kenward-Roger"`` (default, as emmeans), ``"Satterthwaite"``, ``"asymptotic"``; lme:
        ``"containment"`` (default) or ``"asymptotic"``; glmer: always asymptotic.
    type : ``"link"`` or ``"response"`` (glmer: back-transformed means, delta-method SEs, intervals
        back-transformed from the link scale)
    level : confidence level of the intervals
    at : covariate values (or a subset of factor levels) for the reference grid, ``{"temp": 200}``

    Examples
    --------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", mc.datasets.load("Machines"))
    >>> e, contr = marginal_means(m, "pairwise ~ Machine")
    >>> len(e.grid), contr
    (3, 'pairwise')
    """
    if not isinstance(m, (LmerMod, NlmeFit)) or (isinstance(m, NlmeFit) and m.kind != "lme"):
        what = "a gls fit" if isinstance(m, NlmeFit) else f"an object of type {type_name_of(m)}"
        raise TypeError(f"emmeans() applies to lmer, glmer and lme fits, not to {what}")
    type = _check_type(type)
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise DataError(f"emmeans: level must be a number between 0 and 1, not {level!r}")
    facs, by_list, contr = parse_specs(specs, by)
    frame = m.frame
    if frame.dropped:
        raise NotImplementedError("emmeans on a rank-deficient fit (columns dropped: "
                                  f"{', '.join(frame.dropped)}) is not implemented: emmeans' estimability "
                                  "checks (nonEst rows) are not reproduced")
    if getattr(frame, "offset", None) is not None or frame.fixed_spec.structure.offsets:
        raise NotImplementedError("emmeans on a fit with an offset is not implemented")
    gvars = _grid_variables(m, at)
    names = [g.name for g in gvars]
    covariates = [g.name for g in gvars if not g.is_factor]
    for f in facs + by_list:
        if f == "1":
            continue
        if f not in names:
            raise DataError(f"emmeans: No variable named {f} in the reference grid (its variables: "
                            f"{', '.join(names) or 'none'})")
        if f in covariates:
            raise DataError(f"emmeans: {f!r} is a covariate, not a factor: its marginal mean is taken at its "
                            f"mean only (emmeans would give one row); use at={{'{f}': [values]}} with a "
                            "factor in specs, or emtrends (not implemented) for its slope")
    newdata, labels = _grid_frame(gvars)
    X = build_fixed(frame.fixed_spec, newdata)
    bhat = np.asarray(m.fixef(), dtype=float)

    # basis: V and df
    if isinstance(m, GlmerMod):
        _normalise_ddf(m, ddf)     # a known name (emmeans ignores lmer.df for a GLMM)
        V, dffun, df_method = np.asarray(m.vcov(), dtype=float), AsymptoticDf(), None
        tran = _family_tran(m)
    elif isinstance(m, NlmeFit):
        V, dffun, df_method = _lme_basis(m, _normalise_ddf(m, ddf))
        tran = _response_tran(str(m.call["fixed"]))
    else:
        V, dffun, df_method = _lmer_basis(m, _normalise_ddf(m, ddf))
        tran = _response_tran(str(m.formula))

    # average over the factors not named (emmeans' weights; "equal" by default)
    use = [f for f in dict.fromkeys(facs + by_list) if f != "1"]
    sizes = {g.name: len(g.levels) for g in gvars}
    avgd = [g.name for g in gvars if sizes[g.name] > 1 and g.name not in use]
    keys = labels[use].astype(str).agg("\x1f".join, axis=1) if use else pd.Series([""] * len(labels))
    out_levels = {f: list(next(g for g in gvars if g.name == f).levels) for f in use}
    combos_new, combo_labels = _grid_frame([_GridVar(f, out_levels[f], True, out_levels[f]) for f in use])
    row_w = _row_weights(m, gvars, labels, avgd, weights)
    L = []
    for _, row in combo_labels.iterrows():
        key = "\x1f".join(str(row[f]) for f in use) if use else ""
        sel = (keys == key).to_numpy()
        w = row_w[sel]
        total = float(np.sum(w))
        L.append((w @ X[sel]) / total if total > 1e-8 else np.full(X.shape[1], np.nan))
    L = np.array(L) if L else np.zeros((0, X.shape[1]))
    if "1" in facs:
        combo_labels = combo_labels.assign(**{"1": "overall"})
        out_levels["1"] = ["overall"]
        use = ["1"] + use
    combo_labels = combo_labels[use] if use else combo_labels
    for g in gvars:      # a numeric variable made a factor in the formula: a numeric grid column, as emmeans
        # (and a logical one a logical column)
        if g.name in use and g.is_factor and g.values and isinstance(g.values[0], (float, bool)):
            to_value = dict(zip(g.levels, g.values))
            combo_labels[g.name] = [to_value[v] for v in combo_labels[g.name]]
    if _some_term_contains(list(dict.fromkeys(facs + by_list)), m):    # R's facs, "1" included
        warnings.warn(INTERACTION_NOTE, EmmeansMessage, stacklevel=3)
    df = np.array([dffun(k) for k in L])
    e = EmmGrid(levels=out_levels, grid=combo_labels.reset_index(drop=True), linfct=L, bhat=bhat, V=V, df=df,
                df_fun=dffun, df_method=df_method, est_name="emmean", infer=(True, False), adjust="none",
                by=tuple(by_list), pri_vars=tuple(f for f in use if f not in by_list), avgd_over=tuple(avgd),
                tran=tran, type=type, level=float(level), est_type="prediction", fam_size=len(L))
    return e, contr


def type_name_of(x: Any) -> str:
    return type(x).__name__
