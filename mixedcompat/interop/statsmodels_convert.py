"""Translating lme4 formulas to statsmodels' ``MixedLM`` and back.

statsmodels' ``MixedLM`` has one grouping factor (``groups=``) with a correlated random-effects block
(``re_formula``) plus independent variance components inside each group (``vc_formula``).  An lme4
formula maps onto that when one grouping factor contains all the others:

==============================================  ==================================================
lme4                                            statsmodels ``MixedLM.from_formula``
==============================================  ==================================================
``(1 | g)``                                     ``groups="g", re_formula="1"``
``(x | g)``, ``(0 + x | g)``                    ``groups="g", re_formula="~x"`` / ``"~0 + x"``
``(1 | a/b)``, ``(1 | a) + (1 | a:b)``          ``groups="a", re_formula="1", vc_formula={"b": "0 + C(b)"}``
``(x || g)`` = ``(1 | g) + (0 + x | g)``        ``groups="g", re_formula="1", vc_formula={"x": "0 + x"}``
``(0 + x | a:b)`` with ``(1 | a)``              ``vc_formula={"b:x": "0 + C(b):x"}``
crossed ``(1 | p) + (1 | s)``                   one constant group, ``vc_formula={"p": "0 + C(p)", "s": "0 + C(s)"}``
==============================================  ==================================================

The last row is the "one group" trick of statsmodels' documentation: every crossed factor becomes a
variance component of a single group spanning all rows (dense, so only for moderate sizes).  A variance
component is one variance shared by independent effects, so a correlated term with several columns
(``(1 + x | s)``) can only be the ``re_formula`` of the grouping factor itself; anywhere else
:class:`~mixedcompat.errors.FormulaError` names the term.  The fixed part is passed to statsmodels'
formula engine (patsy) unchanged: plain variables, factors, interactions and ``I()`` mean the same
there; R-only functions (``poly``, ``scale``, ``ns``) and ordered factors (``contr.poly``) do not.

Examples
--------
>>> import mixedcompat as mc
>>> md = to_statsmodels("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
>>> from_statsmodels(md)
'Reaction ~ Days + (Days | Subject)'
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixedcompat.front.data_input import as_data_frame
from mixedcompat.front.design import model_matrix
from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front import rlang
from mixedcompat.front.formula import RETerm, parse_formula

__all__ = ["StatsmodelsSpec", "statsmodels_spec", "to_statsmodels", "from_statsmodels", "r_coef_name"]

ONE_GROUP_COLUMN = "one_group"
# R functions a formula may use that mean the same in numpy (the formula namespace statsmodels sees)
R_FUNCTIONS = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, "log10": np.log10,
               "log2": np.log2, "log1p": np.log1p, "sin": np.sin, "cos": np.cos}


@dataclass(frozen=True)
class StatsmodelsSpec:
    """The arguments of ``MixedLM.from_formula`` that reproduce an lme4 formula.

    ``data`` is the caller's data, copied only when a column had to be added (the interaction that
    is the grouping factor, or the constant column of the one-group trick).
    """

    formula: str
    groups: str
    re_formula: str | None
    vc_formula: dict[str, str] | None
    data: pd.DataFrame
    one_group: bool = False
    notes: list[str] = field(default_factory=list)
    components: dict[str, str] = field(default_factory=dict)   # lme4 term label -> "re" or vc name


# ---------------------------------------------------------------------------- lme4 -> statsmodels
def _quote(name: str) -> str:
    """A column name as patsy reads it (``Q('a b')`` for non-identifiers and Python keywords).

    Examples
    --------
    >>> _quote("Days"), _quote("yield"), _quote("Petal.Width")
    ('Days', "Q('yield')", "Q('Petal.Width')")
    """
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"Q({name!r})"


def _patsy_text(text: str | rlang.Node, data: pd.DataFrame, used: set | None = None) -> str:
    """An R formula (part) with column names patsy cannot read quoted: ``yield ~ x`` -> ``Q('yield') ~ x``.

    Examples
    --------
    >>> _patsy_text("yield ~ nitro + `a b`", pd.DataFrame(columns=["yield", "nitro", "a b"]))
    "Q('yield') ~ nitro + Q('a b')"
    """
    def spell(name: str) -> str:
        if name in data.columns:
            if used is not None:
                used.add(name)
            return _quote(name)
        return name
    # R's ^ is a power both for terms ((a + b)^2) and inside I(); patsy spells it **
    return rlang.deparse_one(_tree(text), spell_symbol=spell).replace("^", "**")


def _tree(expr: str | rlang.Node) -> rlang.Node:
    return expr if isinstance(expr, rlang.Node) else rlang.parse(expr)


def _colon_pieces(node: rlang.Node) -> list[rlang.Node]:
    """The factors of an interaction ``a:b`` / ``c:(b:a)``, parentheses removed."""
    node = rlang.strip_parens(node)
    if rlang.is_binop(node, ":"):
        return _colon_pieces(node.args[0]) + _colon_pieces(node.args[1])
    return [node]


def _group_components(term: RETerm, data: pd.DataFrame) -> list[str]:
    """Variables of a grouping factor ``a:b`` / ``c:(b:a)``, each checked against the data."""
    comps: list[str] = []
    for piece in _colon_pieces(_tree(term.group)):
        name = piece.value if piece.kind == "sym" else piece.deparse()
        if name not in data.columns:
            raise FormulaError(f"grouping factor {name!r} of the random-effects term ({term.label}) "
                               f"is not a column of the data")
        if name not in comps:
            comps.append(name)
    return comps


def _term_columns(term: RETerm, data: pd.DataFrame) -> list[str]:
    """R's column names of the term's model matrix (``model.matrix(~ expr)``)."""
    try:
        return list(model_matrix(term.expr, data)[1])
    except (FormulaError, DataError):
        raise
    except Exception as exc:  # an unknown variable or function inside the term
        raise FormulaError(f"cannot evaluate the random-effects term ({term.label}): {exc}") from exc


def _slope_expr(expr: str) -> str:
    """The expression of a one-column term without its intercept removal: ``0 + x`` -> ``x``."""
    zero, one = rlang.num(0), rlang.num(1)
    kept = [p for s, p in rlang.signed_terms(_tree(expr))
            if not (rlang.strip_parens(p) in (zero, one) or (s == "-" and rlang.strip_parens(p) == one))]
    return " + ".join(p.deparse() for p in kept)


def _re_formula(term: RETerm, columns: list[str], data: pd.DataFrame) -> str:
    if columns == ["(Intercept)"]:
        return "1"
    return "~" + _patsy_text(term.expr, data)


def _vc_for(term: RETerm, columns: list[str], extra: list[str], why: str,
            data: pd.DataFrame) -> tuple[str, str]:
    """Variance-component name and formula for a one-column term nested by ``extra`` factors."""
    if len(columns) != 1:
        raise FormulaError(f"statsmodels MixedLM cannot express the random-effects term ({term.label}): "
                           f"{why}; its variance components are independent effects with one shared "
                           f"variance, so only one-column terms such as (1 | {term.group_text}) or "
                           f"(0 + x | {term.group_text}) fit there, and this term has {len(columns)} columns "
                           f"({', '.join(columns)})")
    fac = ":".join(f"C({_quote(c)})" for c in extra)
    if columns == ["(Intercept)"]:
        if not extra:
            raise FormulaError(f"statsmodels MixedLM cannot express the random-effects term ({term.label}): "
                               f"a second random intercept for the same grouping factor")
        return ":".join(extra), f"0 + {fac}"
    slope = _slope_expr(term.expr)
    name = ":".join(extra + [slope])
    slope_text = _patsy_text(slope, data)
    return name, (f"0 + {fac}:({slope_text})" if fac else f"0 + {slope_text}")


def _add_vc(vcs: dict[str, str], name: str, formula: str) -> str:
    key, k = name, 1
    while key in vcs:
        k += 1
        key = f"{name}.{k}"
    vcs[key] = formula
    return key


def _interaction_column(data: pd.DataFrame, comps: list[str]) -> pd.Series:
    labels = data[comps[0]].astype(str)
    for c in comps[1:]:
        labels = labels + ":" + data[c].astype(str)
    mask = data[comps].isna().any(axis=1)
    return labels.where(~mask, None)


def _unused_name(data: pd.DataFrame, base: str) -> str:
    name, k = base, 1
    while name in data.columns:
        k += 1
        name = f"{base}{k}"
    return name


def statsmodels_spec(formula: str, data: pd.DataFrame) -> StatsmodelsSpec:
    """The ``MixedLM.from_formula`` arguments (groups, re_formula, vc_formula) for an lme4 formula.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"strength ~ 1 + (1 | batch/cask)"``.
    data : pandas.DataFrame

    Returns
    -------
    StatsmodelsSpec

    Raises
    ------
    FormulaError
        No random-effects term, or a term statsmodels cannot express (named in the message).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> s = statsmodels_spec("strength ~ 1 + (1 | batch/cask)", mc.datasets.load("Pastes"))
    >>> s.groups, s.re_formula, s.vc_formula
    ('batch', '1', {'cask': '0 + C(cask)'})
    """
    data = as_data_frame(data)
    parts = parse_formula(formula)
    if not parts.re_terms:
        raise FormulaError(f"formula {formula!r} has no random-effects term: statsmodels MixedLM needs a "
                           f"grouping factor, e.g. '+ (1 | g)'")
    used: set[str] = set()
    fixed = _patsy_text(rlang.binop("~", parts.response, parts.fixed), data, used)
    comps = [_group_components(t, data) for t in parts.re_terms]
    for t, cs in zip(parts.re_terms, comps):
        _patsy_text(t.expr, data, used)
        used.update(cs)
    complete = data[sorted(used)].notna().all(axis=1).to_numpy()
    if not complete.all():   # lme4's na.omit; statsmodels' own missing="drop" loses Q('name') columns
        data = data.loc[complete]
    columns = [_term_columns(t, data) for t in parts.re_terms]
    sets = [frozenset(c) for c in comps]
    tops = [s for s in sets if all(s <= other for other in sets)]
    if tops:
        return _grouped_spec(fixed, parts.re_terms, comps, columns, sets, tops[0], data)
    return _one_group_spec(fixed, parts.re_terms, comps, columns, data)


def _grouped_spec(fixed, terms, comps, columns, sets, top, data) -> StatsmodelsSpec:
    """One grouping factor contains all the others: groups = that factor."""
    top_idx = [i for i, s in enumerate(sets) if s == top]
    group_vars = next(comps[i] for i in top_idx)
    multi = [i for i in top_idx if len(columns[i]) > 1]
    if len(multi) > 1:
        t = terms[multi[1]]
        raise FormulaError(f"statsmodels MixedLM cannot express the random-effects term ({t.label}): "
                           f"only one correlated block per grouping factor (re_formula), and "
                           f"({terms[multi[0]].label}) is already that block")
    if multi:
        re_i = multi[0]
    else:
        with_intercept = [i for i in top_idx if columns[i] == ["(Intercept)"]]
        re_i = with_intercept[0] if with_intercept else top_idx[0]
    re_formula = _re_formula(terms[re_i], columns[re_i], data)
    vcs: dict[str, str] = {}
    components = {terms[re_i].label: "re"}
    for i, t in enumerate(terms):
        if i == re_i:
            continue
        extra = [c for c in comps[i] if c not in top]
        why = (f"it shares the grouping factor {terms[re_i].group_text} with ({terms[re_i].label})" if not extra
               else f"it is nested in {':'.join(group_vars)} and becomes a variance component there")
        components[t.label] = _add_vc(vcs, *_vc_for(t, columns[i], extra, why, data))
    notes: list[str] = []
    if len(group_vars) == 1:
        groups = group_vars[0]
    else:
        groups = ":".join(group_vars)
        data = data.copy()
        data[groups] = _interaction_column(data, group_vars)
        notes.append(f"grouping factor {groups} is a new column of interaction labels")
    return StatsmodelsSpec(fixed, groups, re_formula, vcs or None, data, False, notes, components)


def _one_group_spec(fixed, terms, comps, columns, data) -> StatsmodelsSpec:
    """Crossed factors: statsmodels' one-group trick (one constant group, a variance component per term)."""
    vcs: dict[str, str] = {}
    components = {}
    why = ("its grouping factor is crossed with another, and statsmodels has crossed random effects only "
           "as variance components of one group spanning all rows")
    for t, cs, cols in zip(terms, comps, columns):
        components[t.label] = _add_vc(vcs, *_vc_for(t, cols, cs, why, data))
    groups = _unused_name(data, ONE_GROUP_COLUMN)
    data = data.copy()
    data[groups] = 1
    note = (f"crossed grouping factors: one constant group ({groups!r}) with one variance component "
            f"per term (statsmodels' one-group trick; dense, so memory grows as rows x levels)")
    return StatsmodelsSpec(fixed, groups, None, vcs, data, True, [note], components)


def _mixedlm_class():
    """statsmodels' ``MixedLM``, or an ImportError saying which extra installs it."""
    try:
        from statsmodels.regression.mixed_linear_model import MixedLM
    except ImportError as exc:
        raise ImportError("the statsmodels interop needs statsmodels and patsy: install mixedcompat's "
                          "'statsmodels' extra (pip install 'mixedcompat[statsmodels]')") from exc
    return MixedLM


def _formula_namespace():
    """R's functions (``log``, ``exp``, ...) for statsmodels' formula evaluation: a plain mapping for
    statsmodels 0.15 and later (its formula manager takes one), a patsy ``EvalEnvironment`` before
    (statsmodels 0.13 / 0.14 hand ``eval_env`` to patsy, which takes no mapping)."""
    import statsmodels
    if tuple(int(p) for p in re.findall(r"\d+", statsmodels.__version__)[:2]) >= (0, 15):
        return dict(R_FUNCTIONS)
    from patsy import EvalEnvironment
    return EvalEnvironment([dict(R_FUNCTIONS)])


def to_statsmodels(formula: str, data: pd.DataFrame):
    """The equivalent, unfitted ``statsmodels`` ``MixedLM`` of an lme4 formula.

    R equivalent: none (statsmodels is Python's); it translates ``lmer(formula, data)``'s model.

    Rows with missing values in the model's variables are dropped first, as lme4's ``na.omit``.

    Parameters
    ----------
    formula : str
        lme4 formula.
    data : pandas.DataFrame

    Returns
    -------
    statsmodels.regression.mixed_linear_model.MixedLM

    Raises
    ------
    FormulaError
        A term statsmodels cannot express (see the module docstring), named in the message.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> md = to_statsmodels("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> round(md.fit(reml=True).llf, 3)  # doctest: +SKIP
    -871.814
    """
    MixedLM = _mixedlm_class()

    spec = statsmodels_spec(formula, data)
    try:
        model = MixedLM.from_formula(spec.formula, spec.data, re_formula=spec.re_formula,
                                     vc_formula=spec.vc_formula, groups=spec.groups, missing="none",
                                     eval_env=_formula_namespace())
    except (FormulaError, DataError):
        raise
    except Exception as exc:
        raise FormulaError(f"statsmodels could not build the model for {formula!r}: "
                           f"{type(exc).__name__}: {exc}") from exc
    setattr(model, GROUPS_ATTRIBUTE, None if spec.one_group else spec.groups)
    return model


# ---------------------------------------------------------------------------- statsmodels -> lme4
_BRACKET = re.compile(r"\[[^\]]*\]")
_C_CALL = re.compile(r"^C\((.+)\)$")
_Q_CALL = re.compile(r"^Q\((['\"])(.+)\1\)$")


def _one_argument(inner: str) -> bool:
    """Whether ``C(inner)`` has one argument (``C(f)``, not ``C(f, Treatment)``); False when unreadable."""
    try:
        return len(rlang.parse(f"C({inner})").args) == 1
    except FormulaError:
        return False


def _plain_name(piece: str) -> str:
    """patsy's name of a variable without coding decorations: ``C(b)[T.x]`` -> ``b``, ``Q('a b')`` -> ``a b``."""
    name = _BRACKET.sub("", piece).strip()
    m = _C_CALL.match(name)
    if m and _one_argument(m.group(1)):
        name = m.group(1).strip()
    m = _Q_CALL.match(name)
    if m:
        name = m.group(2)
    return name


def _r_name(name: str) -> str:
    """A variable name as an R formula writes it (backquoted when not syntactic)."""
    return name if re.fullmatch(r"[A-Za-z.][A-Za-z0-9._]*", name) else f"`{name}`"


def _unique(seq):
    out = []
    for s in seq:
        if s not in out:
            out.append(s)
    return out


def _split_colon(name: str) -> list[str]:
    """Split a patsy column name at ``:`` outside brackets and parentheses.

    A patsy column name is not R syntax (its ``[T.level]`` holds a level label verbatim, spaces and
    ``:`` included), so this stays a character scan rather than an :mod:`~mixedcompat.front.rlang` parse.
    """
    out, depth, start = [], 0, 0
    for i, ch in enumerate(name):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == ":" and depth == 0:
            out.append(name[start:i])
            start = i + 1
    out.append(name[start:])
    return out


def _term_text(names: list[str]) -> str:
    """An R term list from patsy column names: ``['x', 'f[T.b]', 'x:f[T.b]']`` -> ``x + f + x:f``."""
    terms = _unique(":".join(_r_name(_plain_name(p)) for p in _split_colon(n)) for n in names)
    return " + ".join(terms)


_Q_ANY = re.compile(r"\bQ\(\s*(['\"])(.+?)\1\s*\)")
_C_SIMPLE = re.compile(r"\bC\(\s*([A-Za-z_.][\w.]*)\s*\)")


def _r_formula_text(text: str) -> str:
    """patsy's spelling of names in R's: ``Q('yield')`` -> ``yield``, ``C(f)`` -> ``f``.

    Examples
    --------
    >>> _r_formula_text("Q('yield') ~ C(f) + x:C(g) + Q('a b')")
    'yield ~ f + x:g + `a b`'
    """
    text = _Q_ANY.sub(lambda m: _r_name(m.group(2)), text)
    return _C_SIMPLE.sub(lambda m: m.group(1), text)


def _fixed_formula(model) -> tuple[str, str]:
    """Response and fixed right-hand side of the model in R's syntax."""
    text = getattr(model, "formula", None)
    if isinstance(text, str) and "~" in text:
        lhs, rhs = _r_formula_text(" ".join(text.split())).split("~", 1)
        return lhs.strip(), rhs.strip() or "1"
    endog = getattr(model, "endog_names", None) or "y"
    names = list(getattr(model, "exog_names", None) or [])
    intercept = [n for n in names if n in ("const", "Intercept", "(Intercept)")]
    rest = [_r_name(n) for n in names if n not in intercept]
    rhs = " + ".join(rest) if intercept else " + ".join(["0"] + rest)
    return _r_name(str(endog)), rhs if rhs else "1"


GROUPS_ATTRIBUTE = "mixedcompat_groups"   # set on models built by to_statsmodels


def _intercept_columns(model) -> list[bool]:
    """Which columns of ``exog_re`` are constant 1 (statsmodels names those after the group)."""
    exog_re = getattr(model, "exog_re", None)
    if exog_re is None:
        return []
    exog_re = np.asarray(exog_re, dtype=float)
    return [bool(np.all(exog_re[:, j] == 1.0)) for j in range(exog_re.shape[1])]


def _group_name(model, groups: str | None) -> tuple[str, bool]:
    """The name of the grouping variable and whether it is constant (the one-group trick).

    statsmodels does not keep the name: it is taken from ``groups=``, from the model when
    :func:`to_statsmodels` built it, or from the name statsmodels gives the random intercept.
    """
    constant = len(np.unique(np.asarray(model.groups).astype(str))) == 1
    if groups is not None:
        return str(groups), constant
    stored = getattr(model, GROUPS_ATTRIBUTE, None)
    if stored:
        return str(stored), constant
    names = list(getattr(model.data, "exog_re_names", None) or [])
    for name, is_one in zip(names, _intercept_columns(model)):
        if is_one:
            return name, constant
    if constant:
        return "Group", constant
    raise FormulaError("this MixedLM does not record the name of its grouping variable (its random "
                       "effects have no intercept, which statsmodels names after the group): pass it, "
                       "as in from_statsmodels(model, groups='Subject')")


def _re_part(model, group: str) -> str | None:
    """The correlated block ``(expr | group)`` of ``exog_re``, or ``None`` without one."""
    if getattr(model, "k_re", 0) == 0:
        return None
    names = list(getattr(model.data, "exog_re_names", None) or [])
    if len(names) != model.k_re:
        names = [f"x{j + 1}" for j in range(model.k_re)]
    ones = _intercept_columns(model)
    others = [n for n, one in zip(names, ones) if not one]
    body = _term_text(others) if others else ""
    if any(ones):
        expr = body if body else "1"
    else:
        expr = f"0 + {body}"
    return f"({expr} | {_group_text(group)})"


def _group_text(group: str) -> str:
    """A grouping factor as R writes it: ``Subject``, ``a:b`` (an interaction), ```my group```."""
    return ":".join(_r_name(p) for p in group.split(":"))


def _vc_part(name: str, colnames: list[str], group: str | None) -> str:
    """An lme4 term for one variance component, from its columns' patsy names."""
    factors: list[str] = []
    numeric: list[str] = []
    for col in colnames:
        for piece in _split_colon(col):
            plain = _plain_name(piece)
            target = factors if "[" in piece else numeric
            if plain not in target:
                target.append(plain)
    if len(numeric) > 1:
        raise FormulaError(f"variance component {name!r} has several numeric columns per level "
                           f"({', '.join(numeric)}): no lme4 term has one shared variance for them")
    grouping = ([_group_text(group)] if group else []) + [_r_name(f) for f in factors]
    if not grouping:
        raise FormulaError(f"variance component {name!r} of a single-group model has no factor to group by")
    expr = f"0 + {_r_name(numeric[0])}" if numeric else "1"
    return f"({expr} | {':'.join(grouping)})"


def r_coef_name(name: str) -> str:
    """R's name of a statsmodels (patsy) coefficient: ``Sex[T.Female]`` -> ``SexFemale``.

    Interactions keep patsy's order of factors, which can differ from R's (``f[T.b]:x`` -> ``fb:x``
    where R writes ``x:fb``); compare the ``:``-separated pieces as sets when that matters.

    Examples
    --------
    >>> [r_coef_name(n) for n in ["Intercept", "Sex[T.Female]", "C(f)[T.b]:x", "Q('a b')"]]
    ['(Intercept)', 'SexFemale', 'fb:x', 'a b']
    """
    if name == "Intercept":
        return "(Intercept)"
    out = []
    for piece in _split_colon(name):
        m = re.fullmatch(r"(.*)\[(?:T\.)?(.*)\]", piece)
        var, level = (m.group(1), m.group(2)) if m else (piece, "")
        var = _plain_name(var)
        out.append(var + level)
    return ":".join(out)


def from_statsmodels(model, groups: str | None = None) -> str:
    """The lme4 formula of a statsmodels ``MixedLM`` (fixed part, groups, re_formula, vc_formula).

    R equivalent: none (statsmodels is Python's); the formula it returns is the one to give R's ``lmer``.

    Parameters
    ----------
    model : statsmodels.regression.mixed_linear_model.MixedLM
        Built with ``MixedLM.from_formula`` (column names are read from it) or with arrays.
    groups : str, optional
        Name of the grouping variable; needed only when statsmodels does not show it (a model not
        built by :func:`to_statsmodels` whose random effects have no intercept).

    Returns
    -------
    str

    Examples
    --------
    >>> import mixedcompat as mc
    >>> md = to_statsmodels("strength ~ 1 + (1 | batch/cask)", mc.datasets.load("Pastes"))
    >>> from_statsmodels(md)
    'strength ~ 1 + (1 | batch) + (1 | batch:cask)'
    """
    MixedLM = _mixedlm_class()

    if not isinstance(model, MixedLM):
        raise TypeError(f"from_statsmodels() needs a statsmodels MixedLM, not {type(model).__name__}")
    lhs, rhs = _fixed_formula(model)
    group, constant = _group_name(model, groups)
    terms = []
    re_term = _re_part(model, group)
    if re_term is not None:
        terms.append(re_term)
    vc = model.exog_vc
    for name, per_group in zip(vc.names, vc.colnames):
        cols = _unique(c for cols in per_group for c in cols)
        terms.append(_vc_part(name, cols, None if constant else group))
    if not terms:
        raise FormulaError("this MixedLM has no random effects (k_re = 0 and no variance components)")
    return f"{lhs} ~ {rhs} + " + " + ".join(terms)
