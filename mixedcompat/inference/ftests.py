"""F tests and t tests of the fixed effects of lmer fits, as lmerTest's ``anova`` and ``summary``.

Type 1 (sequential) contrasts are the rows of the unit upper-triangular factor of ``X'X``
(Doolittle / LDL'), one block of rows per term.  Type 3 contrasts follow lmerTest's construction
(SAS-style): contrasts in treatment coding from the generalised inverse of the full-rank treatment
design against the over-parameterised design (one indicator per level), each term orthogonalised
against the terms that contain it (higher order first), then mapped to the coding actually used.
A term ``A`` is contained in ``B`` when ``B`` has all of ``A``'s variables and the same numeric ones.
Denominator df: Satterthwaite (:mod:`.satterthwaite`) or Kenward-Roger (:mod:`.kenward_roger`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["anova_table", "coef_table", "contrasts_type1", "contrasts_type3"]

ANOVA_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
COEF_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]


def _normalise_ddf(ddf: str) -> str:
    key = str(ddf).lower().replace("-", "").replace("_", "").replace(" ", "")
    if key in ("satterthwaite", "satt"):
        return "Satterthwaite"
    if key in ("kenwardroger", "kr"):
        return "Kenward-Roger"
    if key == "lme4":
        return "lme4"
    raise ValueError(f"ddf={ddf!r}: use 'Satterthwaite', 'Kenward-Roger' or 'lme4'")


def _zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    finite = np.abs(x[np.isfinite(x)])
    if finite.size == 0 or finite.max() == 0:
        return x
    return np.round(x, max(0, digits - int(np.ceil(np.log10(finite.max())))))


def _term_columns(m) -> dict[str, np.ndarray]:
    assign = np.asarray(m.frame.x_assign)
    return {t: np.flatnonzero(assign == j) for j, t in enumerate(m.frame.x_terms, start=1)}


def contrasts_type1(m) -> dict[str, np.ndarray]:
    """lmerTest's type 1 contrasts: term -> rows of the unit upper-triangular Doolittle factor of X'X.

    Example
    -------
    >>> # contrasts_type1(m)["Days"]   # array([[0., 1.]])
    """
    X = np.asarray(m.frame.X, dtype=float)
    p = X.shape[1]
    if p == 0:
        return {}
    R = np.linalg.cholesky(X.T @ X).T          # upper; X'X = R'R
    U = R / np.diag(R)[:, None]                # unit diagonal rows: Doolittle's t(L)
    cols = _term_columns(m)
    return {t: U[idx] for t, idx in cols.items() if len(idx)}


def _variables_of(spec, term_index: int) -> tuple[set[int], set[int]]:
    """(all variables, numeric variables) of fixed term ``term_index`` (0-based)."""
    vars_ = set(spec.structure.terms[term_index])
    numeric = {v for v in vars_ if v not in spec.levels}
    return vars_, numeric


def _containment(spec) -> dict[int, list[int]]:
    n = len(spec.structure.terms)
    out = {}
    for a in range(n):
        va, na = _variables_of(spec, a)
        out[a] = [b for b in range(n) if b != a and va <= _variables_of(spec, b)[0]
                  and na == _variables_of(spec, b)[1]]
    return out


def _rebuild(m, codings, contrast_mats) -> tuple[np.ndarray, list[str], np.ndarray]:
    from ..design import MatrixSpec, build_matrix
    spec = m.frame.fixed_spec
    names, assign = _names_assign(spec.structure, codings, contrast_mats, spec.levels)
    new = MatrixSpec(spec.structure, spec.params, spec.levels, codings, contrast_mats, tuple(names),
                     tuple(range(len(names))))
    X = build_matrix(new, m.frame.data)
    if X.shape[1] != len(names):
        raise NotImplementedError("type 3 contrasts: matrix-valued terms (poly(), ns(), ...) are not "
                                  "supported; use type=1")
    return X, names, assign


def _names_assign(struct, codings, cmats, levels) -> tuple[list[str], np.ndarray]:
    names, assign = [], []
    if struct.intercept:
        names.append("(Intercept)")
        assign.append(0)
    for j, coding in enumerate(codings, start=1):
        cn: list[str] = []
        for v, code in coding:
            nm = struct.names[v]
            if v in levels:
                sfx = list(levels[v][0]) if code == 2 else list(cmats[v][1])
                new = [nm + s for s in sfx]
            else:
                new = [nm]
            cn = new if not cn else [f"{b}:{a}" for a in new for b in cn]
        names += cn
        assign += [j] * len(cn)
    return names, np.asarray(assign)


def _full_rank_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    from ..design import qr_rank
    rank, pivot = qr_rank(X, tol)
    return np.sort(np.asarray(pivot)[:rank])


def contrasts_type3(m) -> dict[str, np.ndarray]:
    """lmerTest's type 3 contrasts: term -> contrast matrix on the model's coefficients.

    Example
    -------
    >>> # contrasts_type3(m)["recipe"].shape   # (2, 18) for cake's recipe * temperature
    """
    spec = m.frame.fixed_spec
    terms = list(m.frame.x_terms)
    X0 = np.asarray(m.frame.X, dtype=float)
    if X0.shape[1] <= 1 or len(terms) <= 1:
        return contrasts_type1(m)
    treatment = {v: (np.eye(len(lv))[:, 1:], list(lv[1:])) for v, (lv, _o, _l) in spec.levels.items()}
    # treatment-coded full-rank design (the original one when every factor already uses contr.treatment)
    Xt_all, t_names, t_assign = _rebuild(m, spec.codings, treatment)
    keep = _full_rank_columns(Xt_all)
    Xt, t_names, t_assign = Xt_all[:, keep], [t_names[i] for i in keep], t_assign[keep]
    # over-parameterised design: an indicator per level in every term
    full_codings = tuple(tuple((v, 2 if v in spec.levels else c) for v, c in coding) for coding in spec.codings)
    rdX, rd_names, _ = _rebuild(m, full_codings, {})
    Xt_pinv = np.linalg.pinv(Xt)
    L = _zapsmall((Xt_pinv @ rdX).T)              # rows: rdX columns, cols: Xt columns
    cols = {t: np.flatnonzero(t_assign == j) for j, t in enumerate(terms, start=1)}
    contained = _containment(spec)
    order = sorted(range(len(terms)), key=lambda j: -len(spec.structure.terms[j]))
    for j in order:
        if contained[j]:
            idx = cols[terms[j]]
            others = np.concatenate([cols[terms[b]] for b in contained[j]])
            Y, Z = L[:, idx], L[:, others]
            coef, *_ = np.linalg.lstsq(Z, Y, rcond=None)
            L[:, idx] = _zapsmall(Y - Z @ coef)
    row_of = {nm: i for i, nm in enumerate(rd_names)}
    missing = [nm for nm in t_names if nm not in row_of]
    if missing:
        raise NotImplementedError(f"type 3 contrasts: cannot match coefficient(s) {missing} of the "
                                  "treatment-coded design (use type=1)")
    L = L[[row_of[nm] for nm in t_names]]
    out = {}
    same = list(t_names) == list(m.frame.x_names) and Xt.shape == X0.shape and np.allclose(Xt, X0)
    mapping = None if same else _zapsmall(Xt_pinv @ X0)
    for t in terms:
        Lt = L[:, cols[t]].T
        if mapping is not None:
            Lt = Lt @ mapping
        Lt = Lt[np.sum(np.abs(Lt), axis=1) > 1e-8]
        out[t] = Lt
    return out


def _test_term(m, L: np.ndarray, method: str) -> dict:
    if method == "Satterthwaite":
        from .satterthwaite import contest_md, satterthwaite_state
        return contest_md(satterthwaite_state(m), L)
    from .kenward_roger import kr_ftest
    return kr_ftest(m, L)


def anova_table(m, type: int = 3, ddf: str = "Satterthwaite") -> pd.DataFrame:  # noqa: A002
    """lmerTest's ``anova(m, type, ddf)``: one row per fixed term.

    Columns ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)``; ``Mean Sq = F sigma^2`` and
    ``Sum Sq = Mean Sq NumDF`` as lmerTest.

    Example
    -------
    >>> # anova_table(m, type=3, ddf="Satterthwaite").loc["Days", "DenDF"]
    """
    method = _normalise_ddf(ddf)
    if method == "lme4":
        raise NotImplementedError("anova(m, ddf='lme4') (F values without df) is not implemented")
    t = str(type).upper()
    kind = {"1": 1, "I": 1, "3": 3, "III": 3}.get(t)
    if kind is None:
        raise ValueError(f"type={type!r}: only type 1 and type 3 tests are implemented (type 2 is not)")
    if method == "Kenward-Roger" and not m.REML:
        raise ValueError("Kenward-Roger's method is only available for REML model fits")
    Ls = contrasts_type1(m) if kind == 1 else contrasts_type3(m)
    sigma2 = float(m.sigma()) ** 2
    rows = {}
    for term in m.frame.x_terms:
        L = Ls.get(term)
        if L is None or L.shape[0] == 0:
            continue
        res = _test_term(m, L, method)
        ms = res["F value"] * sigma2
        rows[term] = [ms * res["NumDF"], ms, res["NumDF"], res["DenDF"], res["F value"], res["Pr(>F)"]]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=ANOVA_COLUMNS)
    if out.empty:
        out = pd.DataFrame(columns=ANOVA_COLUMNS, dtype=float)
    out["NumDF"] = out["NumDF"].astype(int) if len(out) else out["NumDF"]
    what = {"Satterthwaite": "Satterthwaite's", "Kenward-Roger": "Kenward-Roger's"}[method]
    out.attrs["heading"] = f"Type {'I' if kind == 1 else 'III'} Analysis of Variance Table with {what} method"
    return out


def coef_table(m, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """lmerTest's ``summary(m, ddf)$coefficients``: Estimate, Std. Error, df, t value, Pr(>|t|).

    With Kenward-Roger the standard errors come from the adjusted covariance matrix (pbkrtest's
    ``vcovAdj``), as lmerTest.
    """
    method = _normalise_ddf(ddf)
    names = list(m.frame.x_names)
    p = len(names)
    if method == "lme4":
        from ..printing import format_fixef_table
        return format_fixef_table(m)
    rows = []
    if method == "Satterthwaite":
        from .satterthwaite import contest_1d, satterthwaite_state
        st = satterthwaite_state(m)
        for i in range(p):
            L = np.zeros(p)
            L[i] = 1.0
            r = contest_1d(st, L)
            rows.append([r[c] for c in COEF_COLUMNS])
    else:
        if not m.REML:
            raise ValueError("Kenward-Roger's method is only available for REML model fits")
        from .kenward_roger import kr_adjusted, lb_ddf
        adj = kr_adjusted(m)
        beta = np.asarray(m.beta, dtype=float)
        for i in range(p):
            L = np.zeros((1, p))
            L[0, i] = 1.0
            se = float(np.sqrt(adj.vcov_adj[i, i]))
            df = lb_ddf(adj, L)
            t = beta[i] / se
            rows.append([beta[i], se, df, t, 2.0 * stats.t.sf(abs(t), df)])
    return pd.DataFrame(rows, index=names, columns=COEF_COLUMNS, dtype=float)


def drop1_ftable(m, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """lmerTest's ``drop1``: F tests (Satterthwaite or Kenward-Roger) of dropping each fixed-effect
    term that is not contained in another one (R's ``drop.scope``), as single term deletions.

    For those terms the marginal contrast is the type III one, so the rows are those of
    ``anova_table(m, type=3, ddf=ddf)`` for the terms in the drop scope.

    Example
    -------
    >>> # drop1_ftable(mc.lmer("distance ~ age * Sex + (1 | Subject)", orthodont)).index.tolist()
    >>> # ['age:Sex']
    """
    from ..design import rhs_terms
    from .lrt import _drop_scope
    table = anova_table(m, type=3, ddf=ddf)
    scope = _drop_scope(rhs_terms(m.parts.fixed))
    out = table.loc[[t for t in table.index if t in scope]]
    out.attrs["heading"] = f"Single term deletions using {ddf}'s method:"
    return out
