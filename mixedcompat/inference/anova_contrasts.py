"""lmerTest's hypothesis matrices for ``anova(m, type = 1 | 2 | 3)`` and ``drop1``, built as lmerTest does.

- Type I (``get_contrasts_type1``): rows of ``t(L)`` of lmerTest's Doolittle factor of ``X'X``,
  one block of rows per term (columns of ``X`` after lme4 dropped aliased ones).
- Type II (``get_contrasts_type2_unfolded``): terms contained in no other term get the rows of the
  identity for their columns; the others the Doolittle rows with the term and the terms containing
  it moved last.
- Type III (``get_contrasts_type3``): ``t(ginv(X) rdX)`` where ``X`` is the treatment-coded design
  (the model's own when every factor already uses ``contr.treatment``; otherwise rebuilt with
  ``contr.treatment`` and reduced to full rank) and ``rdX`` the over-parameterised design (each term
  with an indicator per level); each term's columns are made orthogonal (least-squares residuals)
  to those of the terms containing it, higher order first; rows are then mapped back to the model's
  coding with ``zapsmall(ginv(X) X_model)``.

Containment is lmerTest's: ``A`` is contained in ``B`` when the variables that ``B`` codes with
contrasts (R's ``factors`` attribute = 1) include those of ``A``, ``B`` has more, and both have the
same *numeric* variables (R's ``dataClasses == "numeric"``: ``poly()`` and ``scale()`` are matrices,
so they count as non-numeric).  Terms whose contrast has no rows are listed by the tables with NAs.
"""
from __future__ import annotations

import warnings

import numpy as np

from mixedcompat.errors import MissingCellsWarning
from mixedcompat.front.design import MatrixSpec, assemble, qr_rank, spec_variables
from mixedcompat.front.terms import TermStructure, factor_codes
from mixedcompat.front.transforms import Fac, Num
from mixedcompat.numerics.rlinalg import doolittle, ginv, lm_resid, zapsmall

__all__ = ["contrasts_type1", "contrasts_type2", "contrasts_type3", "contrasts_drop1", "containment",
           "term_columns"]


def term_columns(m) -> dict[str, np.ndarray]:
    """lmerTest's ``term2colX``: term label -> indices of its columns in the model's ``X`` (maybe none).

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> term_columns(m)
    {'Days': array([1])}
    """
    assign = np.asarray(m.frame.x_assign)
    return {t: np.flatnonzero(assign == j) for j, t in enumerate(m.frame.x_terms, start=1)}


def _doolittle_rows(X: np.ndarray) -> np.ndarray:
    """``t(doolittle(crossprod(X))$L)`` (``matrix(1)`` for one column)."""
    if X.shape[1] == 1:
        return np.ones((1, 1))
    L, _U = doolittle(X.T @ X)
    return L.T


def contrasts_type1(m) -> dict[str, np.ndarray]:
    """lmerTest's type I contrasts: term -> rows of the Doolittle factor of ``X'X`` for its columns.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> contrasts_type1(m)["Days"]
    array([[0., 1.]])
    """
    X = np.asarray(m.frame.X, dtype=float)
    p = X.shape[1]
    if p == 0 or (p == 1 and m.frame.fixed_spec.structure.intercept):
        return {}
    L = _doolittle_rows(X)
    return {t: L[idx] for t, idx in term_columns(m).items()}


def _term_codes(struct) -> list[dict[int, int]]:
    """R's ``attr(terms, "factors")`` per term: variable -> 1 (coded by contrasts) or 2 (indicators).

    A variable gets 1 when the term without it is empty or contained in a preceding term (R's TermCode).
    """
    sets = [frozenset(t) for t in struct.terms]
    out = []
    for j, t in enumerate(struct.terms):
        codes = {}
        for v in t:
            rest = sets[j] - {v}
            codes[v] = 1 if not rest or any(rest <= sets[i] for i in range(j)) else 2
        out.append(codes)
    return out


def _variable_values(m) -> dict[int, Num | Fac]:
    """The fixed-effect variables on the model frame's rows, as the fit evaluated them."""
    return spec_variables(m.frame.fixed_spec, m.frame.data)


def _is_numeric_class(node, value) -> bool:
    """R's ``.MFclass(x) == "numeric"``: a plain numeric vector (not a logical, factor or matrix)."""
    if not isinstance(value, Num) or value.logical or value.values.ndim != 1:
        return False
    return not (node.kind == "call" and node.value == "scale")


def containment(m) -> dict[str, list[str]]:
    """lmerTest's ``containment``: term -> the terms that contain it.

    Examples
    --------
    >>> m = mc.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", mc.datasets.load("cake"))
    >>> containment(m)
    {'recipe': ['recipe:temperature'], 'temperature': ['recipe:temperature'], 'recipe:temperature': []}
    """
    struct = m.frame.fixed_spec.structure
    values = _variable_values(m)
    codes = _term_codes(struct)
    labels = struct.labels
    vars_ = [{v for v, c in cd.items() if c == 1} for cd in codes]
    numerics = [{v for v in vs if _is_numeric_class(struct.variables[v], values[v])} for vs in vars_]
    out = {}
    for a, la in enumerate(labels):
        out[la] = [labels[b] for b in range(len(labels))
                   if vars_[a] <= vars_[b] and (vars_[b] - vars_[a]) and numerics[a] == numerics[b]]
    return out


def _treatment(levels: list[str]) -> tuple[np.ndarray, list[str]]:
    return np.eye(len(levels))[:, 1:], list(levels[1:])


def _design(m, values, codings, cmats) -> tuple[np.ndarray, list[str], np.ndarray]:
    struct = m.frame.fixed_spec.structure
    return assemble(struct, values, codings, cmats, len(m.frame.y))


def _all_treatment(spec: MatrixSpec) -> bool:
    """Every factor of the model is coded by ``contr.treatment`` (R's test on ``attr(X, "contrasts")``)."""
    if not spec.contrast_mats:
        return False
    for v, (mat, sfx) in spec.contrast_mats.items():
        tm, ts = _treatment(spec.levels[v][0])
        if list(sfx) != ts or np.shape(mat) != tm.shape or not np.array_equal(np.asarray(mat, float), tm):
            return False
    return True


def _rdX(m, values) -> tuple[np.ndarray, list[str]]:
    """lmerTest's ``get_rdX``: every term as ``model.matrix(~ 0 + term)`` (an indicator per level);
    columns without data give lmerTest's "Missing cells" message, as :class:`MissingCellsWarning`."""
    spec = m.frame.fixed_spec
    full = tuple(tuple((v, 2 if v in spec.levels else 1) for v, _c in coding) for coding in spec.codings)
    X, names, _assign = _design(m, values, full, {})
    empty = [nm for nm, col in zip(names, X.T) if np.all(col == 0)]
    if empty:
        warnings.warn(f"Missing cells for: {', '.join(empty)}.  \nInterpret type III hypotheses with care.",
                      MissingCellsWarning, stacklevel=4)
    return X, names


def contrasts_type3(m, row_names: dict | None = None) -> dict[str, np.ndarray]:
    """lmerTest's type III contrasts: term -> contrast matrix on the model's coefficients.

    Raises
    ------
    NotImplementedError
        A column of the treatment-coded design has no counterpart in the over-parameterised one
        (R stops with "subscript out of bounds" there too).

    Examples
    --------
    >>> m = mc.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", mc.datasets.load("cake"))
    >>> contrasts_type3(m)["recipe"].shape
    (2, 18)

    ``row_names``, when a dict, receives term -> lmerTest's row names (the treatment-coded columns).
    """
    spec = m.frame.fixed_spec
    terms = list(m.frame.x_terms)
    X0 = np.asarray(m.frame.X, dtype=float)
    if X0.shape[1] <= 1 or len(terms) <= 1:
        return contrasts_type1(m)
    values = _variable_values(m)
    if _all_treatment(spec):
        X, names, assign = X0, list(m.frame.x_names), np.asarray(m.frame.x_assign)
        mapping = None
    else:
        tcm = {v: _treatment(lv) for v, (lv, _o, _l) in spec.levels.items()}
        Xt, names, assign = _design(m, values, spec.codings, tcm)
        rank, pivot = qr_rank(Xt)
        keep = np.asarray(pivot)[:rank]                 # ensure_full_rank: R's pivot order
        X, names, assign = Xt[:, keep], [names[i] for i in keep], assign[keep]
        mapping = zapsmall(ginv(X) @ X0)
    rdX, rd_names = _rdX(m, values)
    L = zapsmall((ginv(X) @ rdX).T)                     # rows: rdX columns; columns: X columns
    cols = {t: np.flatnonzero(assign == j) for j, t in enumerate(terms, start=1)}
    contained = containment(m)
    degree = [len(t) for t in spec.structure.terms]
    for j in sorted(range(len(terms)), key=lambda j: -degree[j]):   # stable, as R's order()
        others = contained[terms[j]]
        if others:
            idx = cols[terms[j]]
            Z = L[:, np.concatenate([cols[t] for t in others]).astype(int)]
            L[:, idx] = zapsmall(lm_resid(Z, L[:, idx]))
    row_of = {}
    for i, nm in enumerate(rd_names):
        row_of.setdefault(nm, i)
    missing = [nm for nm in names if nm not in row_of]
    if missing:
        raise NotImplementedError(f"type III contrasts: coefficient(s) {missing} have no column in the "
                                  "over-parameterised design (lmerTest stops here too)")
    L = L[[row_of[nm] for nm in names]]
    out = {}
    for t in terms:
        Lt = L[:, cols[t]].T
        kept = np.sum(np.abs(Lt), axis=1) > 1e-8
        Lt = Lt[kept]
        if row_names is not None:
            row_names[t] = [names[i] for i, k in zip(cols[t], kept) if k]
        out[t] = Lt if mapping is None else Lt @ mapping
    return out


def contrasts_type2(m) -> dict[str, np.ndarray]:
    """lmerTest's type II contrasts (``get_contrasts_type2_unfolded``).

    Examples
    --------
    >>> m = mc.lmer("distance ~ age * Sex + (1 | Subject)", mc.datasets.load("Orthodont"))
    >>> contrasts_type2(m)["Sex"]
    array([[0., 0., 1., 0.]])
    """
    X = np.asarray(m.frame.X, dtype=float)
    terms = list(m.frame.x_terms)
    if X.shape[1] <= 1 or len(terms) <= 1:
        return contrasts_type1(m)
    cols = term_columns(m)
    contained = containment(m)
    p = X.shape[1]
    out = {}
    for t in terms:
        if not contained[t]:                             # marginal: the identity rows of its columns
            out[t] = np.eye(p)[cols[t]]
            continue
        move = np.concatenate([cols[u] for u in [t] + contained[t]]).astype(int)
        stay = np.setdiff1d(np.arange(p), move)
        order = np.r_[stay, move]
        Lc = _doolittle_rows(X[:, order])
        rows = np.isin(order, cols[t])
        back = np.argsort(order)                          # columns back to X's order
        out[t] = Lc[rows][:, back]
    return out


def _matrix_without(m, values, term: str) -> np.ndarray:
    """``model.matrix`` of the fixed part without ``term`` (no rank check), the model's contrasts."""
    spec = m.frame.fixed_spec
    struct = spec.structure
    keep = [t for t, lab in zip(struct.terms, struct.labels) if lab != term]
    reduced = TermStructure(struct.variables, struct.names, tuple(keep), struct.intercept, struct.offsets)
    is_factor = [v in spec.levels for v in range(len(struct.names))]
    codings = tuple(tuple(c) for c in factor_codes(reduced, is_factor))
    X0, _names, _assign = assemble(reduced, values, codings, spec.contrast_mats, len(m.frame.y))
    return X0


def _ldiff(X0: np.ndarray, X: np.ndarray) -> np.ndarray | None:
    """lmerTest's ``get_Ldiffmat2``: the hypothesis that ``X``'s model reduces to ``X0``'s."""
    R = lm_resid(X0, X)
    R = R[:, np.sum(np.abs(R), axis=0) > 1e-8]
    if R.shape[1] == 0:
        return None
    Lt = X.T @ R
    Q, _ = np.linalg.qr(Lt)
    return zapsmall(Q).T


def contrasts_drop1(m, scope: list[str]) -> dict[str, np.ndarray]:
    """lmerTest's ``drop1`` hypotheses: the identity rows of each term's columns (its marginal
    contrast) or, when lme4 dropped aliased columns, the difference between the model and the model
    without the term (``get_Ldiffmat2``; a row of NAs when dropping the term changes nothing).

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> contrasts_drop1(m, ["Days"])["Days"]
    array([[0., 1.]])
    """
    X = np.asarray(m.frame.X, dtype=float)
    p = X.shape[1]
    cols = term_columns(m)
    if not m.frame.dropped:
        return {t: np.eye(p)[cols[t]] for t in scope}
    values = _variable_values(m)
    out = {}
    for t in scope:
        L = _ldiff(_matrix_without(m, values, t), X)
        out[t] = np.full((1, p), np.nan) if L is None else L
    return out
