"""From nlme's arguments (fixed formula, ``random``, ``correlation``, ``weights``) to a likelihood on sorted rows.

nlme sorts the data by the grouping factors (outermost first, keeping the original order within a
group), binds the correlation structure and the variance function to those rows, and returns
fitted values and residuals in the original row order.  The fixed-effects matrix and the
random-effects columns come from :func:`mixedcompat.front.design.model_frame` (R's model.frame /
model.matrix semantics, NA handling over every variable of the model).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixedcompat.front.data_input import as_data_frame
from mixedcompat.front.design import ModelFrame, model_frame
from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front.formula import FormulaParts, parse_formula
from mixedcompat.front.rlang import Node, binop, deparse_one, paren, parse, sym
from mixedcompat.nlme.likelihood import LevelDesign, NlmeLikelihood
from mixedcompat.nlme.pdmat import pdBlocked, pdMat, pd_from_text
from mixedcompat.nlme.corstruct import CorForm, parse_cor_form

_IDENT = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")


@dataclass
class RandomLevel:
    """One nesting level of ``random``: the grouping variables down to this level and its pdMat."""

    groups: list          # grouping variable names, outermost first (this level = the interaction)
    pd: pdMat

    @property
    def name(self) -> str:
        return self.groups[-1]


def level_blocks(pd_: pdMat) -> list[pdMat]:
    """The pdMat blocks of one level of ``random``: a pdBlocked's blocks, else the pdMat itself."""
    return list(pd_.blocks) if isinstance(pd_, pdBlocked) else [pd_]


def _rhs_and_group(text: str) -> tuple[str, str | None]:
    t = text.strip()
    if not t.startswith("~"):
        raise FormulaError(f"random must be a one-sided formula such as '~ 1 | g', not {text!r}")
    body = t[1:]
    if "|" in body:
        rhs, grp = body.split("|", 1)
        return rhs.strip(), grp.strip()
    return body.strip(), None


def parse_random(random) -> list[RandomLevel]:
    """nlme's ``random``: ``"~ x | g"``, ``"~ 1 | a/b"``, a pdMat with ``| g`` in its form,
    ``{"g": "~ x" | pdMat}`` or a list of such dicts (outermost first)."""
    if random is None:
        raise FormulaError("lme needs random effects: random = '~ 1 | g'")
    if isinstance(random, pdBlocked):
        raise FormulaError(f"{random!r} has no grouping factor: give it as random={{'g': pdBlocked([...])}} "
                           "(nlme takes it from a groupedData, which mixedcompat does not use)")
    if isinstance(random, pdMat):
        rhs, grp = _rhs_and_group(random.form)
        if grp is None:
            raise FormulaError(f"{random!r} has no grouping factor: write {type(random).__name__}('{random.form} | g')"
                               " or random={'g': ...}")
        return parse_random({grp: type(random)("~ " + rhs)})
    if isinstance(random, str):
        rhs, grp = _rhs_and_group(random)
        if grp is None:
            raise FormulaError(f"random = {random!r} has no grouping factor ('~ {rhs} | g')")
        names = [g.strip() for g in grp.split("/")]
        for g in names:
            if not _IDENT.fullmatch(g):
                raise FormulaError(f"grouping factor {g!r} in random = {random!r} must be a column name")
        return [RandomLevel(names[:k + 1], pd_from_text("~ " + rhs)) for k in range(len(names))]
    if isinstance(random, dict):
        out, path = [], []
        for g, spec in random.items():
            path = path + [str(g)]
            pd_ = spec if isinstance(spec, pdMat) else pd_from_text(str(spec))
            if "|" in pd_.form and not isinstance(pd_, pdBlocked):
                raise FormulaError(f"random[{g!r}] = {spec!r}: the grouping factor is the key, drop '| ...'")
            out.append(RandomLevel(list(path), pd_))
        return out
    if isinstance(random, (list, tuple)):
        out = []
        for item in random:
            sub = parse_random(item)
            prefix = out[-1].groups if out else []
            for lv in sub:
                out.append(RandomLevel(prefix + lv.groups, lv.pd))
        return out
    raise FormulaError(f"random must be a formula string, a pdMat or a dict, not {type(random).__name__}")


def _formula_columns(obj, data: pd.DataFrame) -> list[str]:
    form = getattr(obj, "form", None)
    texts = [form] if isinstance(form, str) else [getattr(form, "text", "")]
    for sub in getattr(obj, "varfuncs", None) or getattr(obj, "components", None) or []:
        texts.extend(_formula_columns_text(sub))
    cols = []
    for t in texts:
        for tok in _IDENT.findall(t):
            if tok in data.columns and tok not in cols:
                cols.append(tok)
    return cols


def _formula_columns_text(obj) -> list[str]:
    form = getattr(obj, "form", None)
    return [form] if isinstance(form, str) else []


@dataclass
class Setup:
    """The model on sorted rows, and how to get back to the data's rows."""

    frame: ModelFrame
    rows: np.ndarray        # positions in the user's data of the model rows, original order
    order: np.ndarray       # sorted position -> index into frame rows (original order)
    lik: NlmeLikelihood
    random: list            # RandomLevel per level
    sorted_data: pd.DataFrame
    fixed: Node | None = None   # the fixed-effects formula as parsed (once), for printing and update


def _level_codes(frame: ModelFrame, k: int, n_levels: int) -> tuple[np.ndarray, list[str]]:
    codes, labels = frame.re_groups[k]
    return np.asarray(codes), [str(lab).replace(":", "/") for lab in labels]


def _pd_rhs_text(pd_: pdMat) -> str:
    """The pd formula's right-hand side as written (for the error message of the whole formula)."""
    rhs = pd_.form.strip()[1:].strip()
    return rhs if rhs else "1"


def _lme4_formula(fixed: str | Node, random: list[RandomLevel]) -> tuple[FormulaParts, Node]:
    """nlme's ``fixed`` and ``random`` as one lme4 formula, ``fixed + (rhs_1 | g_1) + ...``, joined as
    trees (each user text is parsed once), and the fixed formula's tree.  A text that does not parse, or
    a formula :func:`parse_formula` refuses, is reported as for the whole formula written out."""
    try:
        fixed_tree = fixed if isinstance(fixed, Node) else parse(" ".join(fixed.split()))
        tree = fixed_tree
        for lv in random:
            groups = [sym(g) for g in lv.groups]
            for pd_ in level_blocks(lv.pd):     # pdBlocked: one term per block, on the same grouping
                bar = binop("|", pd_.covariates, functools.reduce(lambda a, b: binop(":", a, b), groups))
                if tree.kind == "binop" and tree.value == "~":
                    tree = binop("~", tree.args[0], binop("+", tree.args[1], paren(bar)))
                else:                           # not a two-sided formula: parse_formula names the fault
                    raise FormulaError(f"formula {fixed!r} is not two-sided")
        return parse_formula(tree), fixed_tree
    except FormulaError:
        if isinstance(fixed, Node):
            raise
        re_text = "".join(f" + ({_pd_rhs_text(b)} | {':'.join(lv.groups)})" for lv in random
                          for b in level_blocks(lv.pd))
        parse_formula(fixed + re_text)      # the message for the formula as written (raises)
        raise


def build(fixed: str | Node, data: pd.DataFrame, random: list[RandomLevel], correlation, weights, REML: bool,
          na_action: str) -> Setup:
    """Model frame, sorted rows, bound structures and the likelihood (``fixed``: the user's text, or a
    formula tree such as ``update`` builds)."""
    data = as_data_frame(data)
    text = deparse_one(fixed) if isinstance(fixed, Node) else fixed
    if not isinstance(text, str) or "~" not in text:
        raise FormulaError(f"the fixed-effects formula must be a two-sided formula string, not {text!r}")
    if "|" in text:
        raise FormulaError(f"{text!r}: random effects go in random=, not in the fixed formula")
    extra = []
    for obj in (correlation, weights):
        if obj is not None:
            extra += [c for c in _formula_columns(obj, data) if c not in extra]
    work = data
    if extra:
        bad = work[extra].isna().any(axis=1).to_numpy()
        if bad.any():
            if na_action in ("fail", "na.fail"):
                cols = [c for c in extra if work[c].isna().any()]
                raise DataError(f"missing values in {', '.join(cols)} (na_action='fail')")
            work = work.loc[~bad]
    parts, fixed_tree = _lme4_formula(fixed, random)
    frame = model_frame(parts, work, na_action=na_action)
    base_rows = np.flatnonzero(~bad) if extra and bad.any() else np.arange(len(data))
    rows = base_rows[np.asarray(frame.rows)]
    n = len(frame.y)
    first_term = np.cumsum([0] + [len(level_blocks(lv.pd)) for lv in random])   # each level's first term
    codes = [_level_codes(frame, int(first_term[k]), len(random)) for k in range(len(random))]
    order = np.arange(n)
    if codes:   # outermost level first, the original order within groups (nlme's ordering)
        order = np.lexsort(tuple([np.arange(n)] + [c for c, _ in reversed(codes)]))
    levels = []
    for k, lv in enumerate(random):
        terms = [frame.re_X[t] for t in range(int(first_term[k]), int(first_term[k + 1]))]
        Zk = np.column_stack([np.asarray(z, float) for z, _ in terms])
        c, labels = codes[k]
        bound = lv.pd.bind_blocks([list(cols) for _, cols in terms]) if isinstance(lv.pd, pdBlocked) else \
            lv.pd.bind(list(terms[0][1]))
        levels.append(LevelDesign(name=lv.name, codes=np.asarray(c)[order], labels=labels,
                                  Z=Zk[order], pd=bound))
    if not levels and correlation is not None and hasattr(correlation, "bind"):
        # gls sorts the rows by the correlation groups too (nlme's order for the structures)
        order = _cor_group_order(correlation, data.iloc[rows].reset_index(drop=True))
    sorted_data = data.iloc[rows[order]].reset_index(drop=True)
    cor = var = None
    if weights is not None:
        if not hasattr(weights, "bind"):
            raise FormulaError(f"weights must be a variance function such as varIdent('~ 1 | g'), not {weights!r}")
        var = weights.bind(sorted_data)
    if correlation is not None:
        if not hasattr(correlation, "bind"):
            raise FormulaError(f"correlation must be a corStruct such as corAR1(), not {correlation!r}")
        default = levels[-1].codes if levels else None
        if levels:
            correlation = _coarser_cor_groups(correlation, random)
        cor = correlation.bind(sorted_data, default_groups=default)
        if levels:
            _check_nested(cor.group_codes, levels[-1].codes, levels[-1].name)
    lik = NlmeLikelihood(np.asarray(frame.y, float)[order], np.asarray(frame.X, float)[order], levels, cor, var,
                         REML)
    return Setup(frame=frame, rows=rows, order=order, lik=lik, random=random, sorted_data=sorted_data,
                 fixed=fixed_tree)


def _coarser_cor_groups(correlation, random: list):
    """nlme: correlation groups that are an outer part of random's grouping (``~ 1 | a`` with random
    ``~ 1 | a/b``) are replaced by the innermost random-effects groups, with nlme's warning."""
    import copy
    import warnings

    form = getattr(correlation, "form", None)
    groups = tuple(getattr(form, "groups", ()) or ())
    inner = list(random[-1].groups)
    if groups and len(groups) < len(inner) and list(groups) == inner[:len(groups)]:
        warnings.warn("cannot use smaller level of grouping for 'correlation' than for 'random'. "
                      "Replacing the former with the latter.", UserWarning, stacklevel=4)
        out = copy.copy(correlation)
        text = form.text.split("|")[0].rstrip()
        out.form = CorForm(covariates=form.covariates, groups=(), text=text)
        return out
    return correlation


def _check_nested(cor_codes: np.ndarray, inner_codes: np.ndarray, inner_name: str) -> None:
    """Correlation groups must lie inside the innermost random-effects groups (nlme's rule)."""
    cc = np.asarray(cor_codes)
    df = pd.DataFrame({"c": cc, "g": inner_codes})
    if (df.groupby("c")["g"].nunique() > 1).any():
        raise FormulaError("incompatible formulas for groups in 'random' and 'correlation': correlation groups "
                           f"must be nested in the innermost random-effects grouping ({inner_name})")


def _cor_group_order(correlation, data: pd.DataFrame) -> np.ndarray:
    """Rows sorted by the correlation groups in factor-level order (stable), as gls does."""
    n = len(data)
    form = getattr(correlation, "form", None)
    groups = parse_cor_form(form).groups if isinstance(form, str) else tuple(getattr(form, "groups", ()))
    keys = [np.arange(n)]
    for g in reversed(groups):
        if g not in data.columns:
            return np.arange(n)      # the corStruct's bind reports the missing column
        col = data[g]
        codes = col.cat.codes.to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) else \
            pd.Categorical(col).codes
        keys.append(np.asarray(codes))
    return np.lexsort(tuple(keys))
