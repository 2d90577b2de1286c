"""nlme's tests and intervals for lme / gls fits: denominator df, F tables, LRT tables, ``intervals()``.

- ``fixed_df``: nlme's "containment" rule for lme (Pinheiro & Bates 2000, sec. 4.2.2): a column of X
  is estimated in the innermost stratum within whose groups it varies; each stratum has its number of
  groups minus the next outer stratum's, minus the columns estimated in it (the intercept counted in
  the outermost stratum, or one added back to the inner strata when there is no intercept); the
  intercept takes the residual stratum's df. gls: ``N - p``.
- ``anova_single``: nlme's sequential (``type = "sequential"``) or marginal F tests.
- ``anova_models``: nlme's likelihood-ratio table (no ML refit, unlike lme4).
- ``intervals``: fixed effects with t quantiles on ``fixed_df``; variance components, correlation and
  variance parameters and sigma with normal quantiles on nlme's natural scale (``apVar``).

The results are numbers (DataFrames, a dict of DataFrames); their ``str()`` is nlme's printed text
from :mod:`mixedcompat.present.nlme_printing`, which reads the tables and the fit and computes no test.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.stats as st

from mixedcompat.errors import DataError
from mixedcompat.front.design import qr_rank
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.nlme_printing import format_anova, format_intervals
from mixedcompat.nlme.estimate import cor_natural, natural_vector


# --- denominator degrees of freedom ---------------------------------------------------------------------------
def _varies_within(col: np.ndarray, codes: np.ndarray | None) -> bool:
    if codes is None:
        return bool(np.ptp(col) > 0)
    s = pd.Series(col).groupby(codes)
    return bool((s.max() - s.min() > 0).any())


def fixed_df(m) -> tuple[pd.Series, pd.Series]:
    """Denominator df per coefficient and per term (nlme's ``m$fixDF$X`` and ``$terms``)."""
    lik = m.likelihood
    X = lik.X
    names = m.x_names
    frame = m.setup.frame
    assign = np.asarray(frame.x_assign)
    term_names = ["(Intercept)"] + list(frame.x_terms)
    if m.kind == "gls" or not lik.levels:
        d = float(lik.n - lik.p)
        terms = [term_names[a] for a in dict.fromkeys(assign)]
        return pd.Series(d, index=names), pd.Series(d, index=terms)
    Q = len(lik.levels)
    ngrps = [lv.n_groups for lv in lik.levels]
    sizes = np.array(ngrps + [lik.n], float)
    dfX = sizes - np.r_[0.0, ngrps]                       # strata 0 .. Q (Q = residual)
    is_int = np.all(X == 1.0, axis=0)
    codes = [None] + [lv.codes for lv in lik.levels]       # level j-1 groups for stratum j
    strat = np.full(X.shape[1], Q)
    for i in range(X.shape[1]):
        if is_int[i]:
            continue
        s = 0
        for j in range(Q + 1):
            if _varies_within(X[:, i], codes[j]):
                s = j
        strat[i] = s
    notint = ~is_int
    for s in strat[notint]:
        dfX[s] -= 1
    if is_int.any():
        dfX[0] -= 1
    else:
        dfX[1:] += 1
    val = np.where(notint, dfX[strat], dfX[Q])
    by_coef = pd.Series(val, index=names)
    terms = {}
    for a in dict.fromkeys(assign):
        cols = np.flatnonzero(assign == a)
        if np.all(is_int[cols]):
            terms[term_names[a]] = dfX[Q]
        else:
            terms[term_names[a]] = dfX[max(strat[c] for c in cols if notint[c])]
    return by_coef, pd.Series(terms)


def t_table(m) -> pd.DataFrame:
    """Value, Std.Error, DF (lme), t-value, p-value as nlme's ``summary(m)$tTable``."""
    beta = m.fixef()
    se = np.sqrt(np.diag(m.vcov().to_numpy()))
    if m.kind == "lme" and not m.REML:   # summary.lme (ML) scales the standard errors by sqrt(N / (N - p))
        se = se * np.sqrt(m.nobs() / (m.nobs() - len(se)))
    df, _ = fixed_df(m)
    t = beta.to_numpy() / se
    p = 2 * st.t.sf(np.abs(t), df.to_numpy())
    out = pd.DataFrame({"Value": beta.to_numpy(), "Std.Error": se, "DF": df.to_numpy(), "t-value": t,
                        "p-value": p}, index=beta.index)
    if m.kind == "gls":
        out = out.drop(columns="DF")
    return out


# --- F tables ----------------------------------------------------------------------------------------------------
class NlmeAnovaTable(HtmlRepr, pd.DataFrame):
    """A DataFrame that prints as nlme's ``print(anova(...))`` (``.attrs["kind"]`` = "lme" / "gls")."""

    @property
    def _constructor(self):
        return NlmeAnovaTable

    def __str__(self) -> str:
        return format_anova(self)

    def __repr__(self) -> str:
        return self.__str__()

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self)


def anova_single(m, type: str = "sequential") -> pd.DataFrame:  # noqa: A002
    """nlme's ``anova(m)``: one F test per term (sequential by default, or ``"marginal"``)."""
    if type not in ("sequential", "marginal"):
        raise DataError(f"type must be 'sequential' or 'marginal', not {type!r}")
    frame = m.setup.frame
    assign = np.asarray(frame.x_assign)
    term_names = ["(Intercept)"] + list(frame.x_terms)
    beta = m.fixef().to_numpy()
    V = m.vcov().to_numpy()
    if m.kind == "lme" and not m.REML:   # as summary.lme's standard errors (ML): N / (N - p)
        V = V * m.nobs() / (m.nobs() - len(beta))
    _, term_df = fixed_df(m)
    rows = []
    if type == "sequential":
        # R' R = V^{-1}: c = R beta; a term's F = sum of its c^2 / numDF (upper-triangular R)
        Vinv = np.linalg.inv(V)
        R = np.linalg.cholesky(Vinv).T          # upper triangular, Vinv = R'R
        c = R @ beta
    for a in dict.fromkeys(assign):
        cols = np.flatnonzero(assign == a)
        if type == "sequential":
            F = float(np.sum(c[cols] ** 2) / len(cols))
        else:
            b = beta[cols]
            F = float(b @ np.linalg.solve(V[np.ix_(cols, cols)], b) / len(cols))
        name = term_names[a]
        den = float(term_df[name])
        rows.append((name, len(cols), den, F, float(st.f.sf(F, len(cols), den))))
    out = NlmeAnovaTable(rows, columns=["term", "numDF", "denDF", "F-value", "p-value"]).set_index("term")
    out.index.name = None
    out.attrs["kind"] = m.kind
    return out


def anova_models(*models, names: list[str] | None = None) -> pd.DataFrame:
    """nlme's likelihood-ratio table of several fits, in the order given."""
    if len(models) < 2:
        raise DataError("anova of several models needs at least two fits")
    n = {mm.nobs() for mm in models}
    if len(n) > 1:
        raise DataError("all fitted objects must use the same number of observations")
    methods = {mm.method for mm in models}
    if len(methods) > 1:
        raise DataError("all fitted objects must have the same estimation method (REML or ML)")
    if models[0].method == "REML":
        fx = {tuple(mm.x_names) for mm in models}
        if len(fx) > 1:
            warnings.warn("fitted objects with different fixed effects. REML comparisons are not meaningful.",
                          UserWarning, stacklevel=3)
    names = names or [f"m{i + 1}" for i in range(len(models))]
    rows = []
    prev = None
    for i, mm in enumerate(models):
        ll = mm.logLik()
        row = {"call": names[i], "Model": i + 1, "df": ll.df, "AIC": mm.AIC(), "BIC": mm.BIC(),
               "logLik": float(ll), "Test": "", "L.Ratio": np.nan, "p-value": np.nan}
        if prev is not None:
            lr = 2 * abs(float(ll) - float(prev.logLik()))
            ddf = abs(ll.df - prev.logLik().df)
            row["Test"] = f"{i} vs {i + 1}"
            row["L.Ratio"] = lr
            row["p-value"] = float(st.chi2.sf(lr, ddf)) if ddf > 0 else np.nan
        rows.append(row)
        prev = mm
    return NlmeAnovaTable(rows).set_index("call").rename_axis(None)


# --- intervals -----------------------------------------------------------------------------------------------------
class Intervals(HtmlRepr, dict):
    """nlme's ``intervals()`` result: dict of DataFrames with columns lower, est., upper."""

    def __str__(self) -> str:
        return format_intervals(self)


def _tri(lo, est, hi, index) -> pd.DataFrame:
    return pd.DataFrame({"lower": lo, "est.": est, "upper": hi}, index=index)


def intervals(m, level: float = 0.95, which: str = "all") -> Intervals:
    """Approximate confidence intervals as nlme's ``intervals``."""
    if not 0 < level < 1:
        raise DataError(f"level must be in (0, 1), not {level!r}")
    if which not in ("all", "fixed", "var-cov"):
        raise DataError(f"which must be 'all', 'fixed' or 'var-cov', not {which!r}")
    out = Intervals()
    out.level, out.model = level, m
    if which in ("all", "fixed"):
        tt = t_table(m)
        df = fixed_df(m)[0].to_numpy()
        q = st.t.ppf((1 + level) / 2, df)
        est = tt["Value"].to_numpy()
        se = np.sqrt(np.diag(m.vcov().to_numpy()))   # lme (ML): vcov's, not summary's scaled ones
        out["fixed"] = _tri(est - q * se, est, est + q * se, tt.index)
    if which == "fixed":
        return out
    lik = m.likelihood
    if lik.n_par == 0:
        # no variance parameters besides sigma (gls; nlme has no apVar): chi-square interval
        dfr = m.nobs() - (lik.p if m.REML else 0)
        s2 = m.sigma() ** 2
        lo_hi = np.sqrt(dfr * s2 / st.chi2.ppf([(1 + level) / 2, (1 - level) / 2], dfr))
        out["sigma"] = pd.Series({"lower": lo_hi[0], "est.": m.sigma(), "upper": lo_hi[1]})
        return out
    if not m.control.get("apVar", True):       # lmeControl(apVar = FALSE): nlme's words
        raise DataError("cannot get confidence intervals on var-cov components: Approximate variance-covariance "
                        "matrix not available\n Consider 'which = \"fixed\"'")
    nonpd = ("cannot get confidence intervals on var-cov components: Non-positive definite approximate "
             "variance-covariance\n Consider 'which = \"fixed\"'")     # nlme's words
    # a standard deviation at 0 (a boundary fit) has log sd = -inf: no Hessian there, as in nlme
    with np.errstate(all="ignore"):
        try:
            A = m.apVar
        except np.linalg.LinAlgError:
            raise DataError(nonpd) from None
        evals = np.linalg.eigvalsh((A + A.T) / 2) if np.all(np.isfinite(A)) else np.array([np.nan])
    if not np.all(evals > 0):
        raise DataError(nonpd)
    with np.errstate(divide="ignore"):
        nat = natural_vector(lik, m.opt.params, m.sigma())
    se = np.sqrt(np.diag(A))
    z = st.norm.ppf((1 + level) / 2)
    lo, hi = nat - z * se, nat + z * se
    with np.errstate(over="ignore"):            # exp of huge bounds is Inf (R prints 1e259 there)
        return _var_cov_intervals(out, m, lik, nat, lo, hi)


def _var_cov_intervals(out: Intervals, m, lik, nat: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Intervals:
    k = 0
    re = {}
    for lv in lik.levels:
        n = lv.pd.n_par
        sl = slice(k, k + n)
        re[lv.name] = _tri(lv.pd.natural_to_display(lo[sl]), lv.pd.natural_to_display(nat[sl]),
                           lv.pd.natural_to_display(hi[sl]), lv.pd.natural_names())
        k += n
    if re:
        out["reStruct"] = re
    _, cu, vu = lik.split(m.opt.params)
    if lik.cor is not None and lik.n_cor:
        sl = slice(k, k + lik.n_cor)
        to_nat = (lambda z: np.tanh(z / 2.0)) if cor_natural(lik) else lik.cor.natural
        out["corStruct"] = _tri(np.asarray(to_nat(lo[sl]), float), np.asarray(lik.cor.natural(cu), float),
                                np.asarray(to_nat(hi[sl]), float), list(lik.cor.names))
        k += lik.n_cor
    if lik.var is not None and lik.n_var:
        sl = slice(k, k + lik.n_var)
        nat_var = lik.var.natural(vu, all_coef=False)
        names = list(nat_var)
        out["varStruct"] = _tri(_free_values(lik.var, lo[sl]), np.array(list(nat_var.values())),
                                _free_values(lik.var, hi[sl]), names)
        k += lik.n_var
    out["sigma"] = pd.Series({"lower": np.exp(lo[-1]), "est.": m.sigma(), "upper": np.exp(hi[-1])})
    return out


def _free_values(var, u: np.ndarray) -> np.ndarray:
    return np.array(list(var.natural(u, all_coef=False).values()), float)


def anova_nlme(*models, type=None, Terms=None, L=None, **named_models) -> pd.DataFrame:  # noqa: A002
    """``anova`` for lme / gls fits: one model -> F tests (``type="sequential"`` default, or
    ``"marginal"``; ``Terms=`` / ``L=``: one F test, :func:`anova_terms_or_L`); several -> nlme's
    likelihood-ratio table (``Terms`` and ``L`` not used, as in nlme)."""
    named = {k: v for k, v in named_models.items() if k != "model_names"}
    all_models = list(models) + list(named.values())
    if len(all_models) == 1 and (Terms is not None or L is not None):
        return anova_terms_or_L(all_models[0], Terms=Terms, L=L)
    if len(all_models) == 1:
        t = {None: "sequential", 1: "sequential", 3: "marginal"}.get(type, type)
        return anova_single(all_models[0], type=t)
    names = named_models.get("model_names") or ([f"m{i + 1}" for i in range(len(models))] + list(named))
    return anova_models(*all_models, names=names)


# --- anova(m, Terms =) and anova(m, L =): one F test of selected terms or of linear combinations ------------
def _fixed_vcov_for_tests(m) -> np.ndarray:
    """The fixed effects' covariance nlme's F tests use: lme (ML) scaled by N / (N - p) (anova.lme's
    ``adjustSigma``); gls as ``vcov`` (anova.gls's ``adjustSigma`` is FALSE for gls)."""
    V = m.vcov().to_numpy()
    if m.kind == "lme" and not m.REML:
        V = V * m.nobs() / (m.nobs() - V.shape[0])
    return V


def _term_index(m) -> tuple[list[str], dict[str, list[int]]]:
    """nlme's ``assign`` list: term label -> columns of X (the intercept named "(Intercept)")."""
    frame = m.setup.frame
    assign = np.asarray(frame.x_assign)
    labels = ["(Intercept)"] + list(frame.x_terms)
    out: dict[str, list[int]] = {}
    for j, a in enumerate(assign):
        out.setdefault(labels[a], []).append(j)
    return list(out), out


def _terms_matrix(m, Terms) -> tuple[np.ndarray, str, list[str]]:
    """``Terms`` (1-based positions or term labels, as R) -> the rows of the identity selecting their
    columns, the label line and the selected term names."""
    names, assign = _term_index(m)
    items = list(Terms) if isinstance(Terms, (list, tuple, np.ndarray, pd.Index, pd.Series)) else [Terms]
    if not items:
        raise DataError("Terms must name at least one term")
    if all(isinstance(t, (int, np.integer, float, np.floating)) and not isinstance(t, bool) for t in items):
        if not all(float(t) == int(t) for t in items):
            raise DataError("terms can only be integers or characters")
        idx = [int(t) for t in items]
        if min(idx) < 1 or max(idx) > len(names):
            raise DataError(f"'Terms' must be between 1 and {len(names)}")
        chosen = [names[i - 1] for i in idx]
    elif all(isinstance(t, str) for t in items):
        bad = [t for t in items if t not in assign]
        if bad:
            raise DataError(f"term{'s' if len(bad) > 1 else ''} {', '.join(bad)} not matched "
                            f"(the terms are {', '.join(names)})")
        chosen = list(items)
    else:
        raise DataError("terms can only be integers or characters")
    cols = [c for t in chosen for c in assign[t]]
    L = np.eye(len(m.x_names))[cols]
    return L, f"F-test for: {', '.join(chosen)} ", chosen


def _as_L(L, coef_names: list[str], kind: str) -> tuple[np.ndarray, list[str] | None]:
    """R's handling of ``L``: a vector is one row; columns matched by name when named, else the first
    columns (the rest 0).  Returns the full matrix (rows x coefficients) and the row names given."""
    rownames = None
    colnames = None
    if isinstance(L, dict):
        colnames, vals = list(L), np.asarray(list(L.values()), float)[None, :]
    elif isinstance(L, pd.Series):
        colnames, vals = [str(i) for i in L.index], L.to_numpy(float)[None, :]
    elif isinstance(L, pd.DataFrame):
        vals = L.to_numpy(float)
        colnames = None if isinstance(L.columns, pd.RangeIndex) else [str(c) for c in L.columns]
        if not isinstance(L.index, pd.RangeIndex):
            rownames = [str(i) for i in L.index]
    else:
        try:
            vals = np.asarray(L, float)
        except (TypeError, ValueError):
            raise DataError(f"L must be a numeric vector, a dict name -> value or a matrix, not {L!r}") from None
        if vals.ndim == 1:
            vals = vals[None, :]
        elif vals.ndim != 2:
            raise DataError(f"L must be a vector or a matrix, not an array of {vals.ndim} dimensions")
    if vals.shape[1] == 1 and vals.shape[0] > 1 and colnames is None:
        vals = vals.T                      # R: a one-column L is one row
    nX = len(coef_names)
    if vals.shape[1] > nX:
        n = nX if kind == "lme" else vals.shape[1]        # anova.gls reports ncol(L) (nlme's message)
        raise DataError(f"'L' must have at most {n} column{'s' if n != 1 else ''} "
                        f"(the coefficients are {', '.join(coef_names)})")
    full = np.zeros((vals.shape[0], nX))
    if colnames is None:
        full[:, :vals.shape[1]] = vals
    else:
        bad = [c for c in colnames if c not in coef_names]
        if bad:
            raise DataError(f"effect{'s' if len(bad) > 1 else ''} {', '.join(bad)} not matched "
                            f"(the coefficients are {', '.join(coef_names)})")
        for j, c in enumerate(colnames):
            full[:, coef_names.index(c)] = vals[:, j]
    if not np.all(np.isfinite(full)):
        raise DataError("L must be finite")
    return full, rownames


def _projected_F(V: np.ndarray, beta: np.ndarray, L: np.ndarray) -> tuple[int, float]:
    """nlme's F of ``L beta = 0``: numDF = the number of positive singular values of L; F = the squared
    norm of the first numDF components of Q' c0 (``c0 = W'^{-1} beta``, ``V = W'W``, Q from R's
    pivoting QR of ``W L'``), over numDF."""
    n_df = int(np.sum(np.linalg.svd(L, compute_uv=False) > 0))
    Wt = np.linalg.cholesky(V)                      # V = Wt Wt', W = Wt'
    c0 = np.linalg.solve(Wt, beta)
    A = Wt.T @ L.T
    _, pivot = qr_rank(A)
    Q, _ = np.linalg.qr(A[:, np.asarray(pivot)], mode="complete")
    c = (Q.T @ c0)[:n_df]
    return n_df, float(np.sum(c ** 2) / n_df)


def anova_terms_or_L(m, Terms=None, L=None) -> pd.DataFrame:
    """nlme's ``anova(m, Terms = )`` / ``anova(m, L = )``: one F test of the selected terms (1-based
    positions or labels, the intercept counted) or of the linear combinations ``L beta = 0`` (rows
    of ``L``; a dict / Series / named columns match coefficients by name, unnamed values fill the first
    columns).  As in nlme, ``L`` wins when both are given, all the coefficients involved must share
    one denominator df (lme), and all-zero rows of ``L`` are dropped.  The table (one row, ``"1"``)
    prints as nlme's, with its ``F-test for: ...`` / ``F-test for linear combination(s)`` label
    and the ``L`` used (``.attrs["label"]``, ``.attrs["L"]``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age * Sex", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> round(float(anova_terms_or_L(m, Terms=["age", "age:Sex"])["F-value"].iloc[0]), 4)
    64.3765
    """
    coef_names = m.x_names
    beta = m.fixef().to_numpy()
    by_coef, by_term = fixed_df(m)
    n, p = m.nobs(), len(coef_names)
    L_shown = None
    if L is None:
        Lm, label, chosen = _terms_matrix(m, Terms)
        if m.kind == "lme":
            den = np.unique(by_term[chosen].to_numpy())
            if len(den) > 1:
                raise DataError(f"terms must all have the same denominator DF (terms {', '.join(chosen)} have "
                                f"{', '.join(cat_df(d) for d in by_term[chosen].to_numpy())})")
    else:
        full, rownames = _as_L(L, coef_names, m.kind)
        nonzero_row = np.any(full != 0, axis=1)
        Lm = full[nonzero_row]
        if Lm.shape[0] == 0:
            raise DataError("L has no non-zero row: nothing to test")
        rn = [str(i + 1) for i in range(Lm.shape[0])] if rownames is None else \
            [r for r, k in zip(rownames, nonzero_row) if k]
        nonzero_col = np.any(Lm != 0, axis=0)
        if m.kind == "lme":
            den = np.unique(by_coef.to_numpy()[nonzero_col])
            if len(den) > 1:
                raise DataError("L may only involve fixed effects with the same denominator DF")
        label = "F-test for linear combination(s)"
        L_shown = pd.DataFrame(Lm[:, nonzero_col], index=rn,
                               columns=[c for c, k in zip(coef_names, nonzero_col) if k])
    if m.kind == "gls":
        den = np.array([float(n - p)])
        label = f"Denom. DF: {n - p} \n {label}"
    n_df, F = _projected_F(_fixed_vcov_for_tests(m), beta, Lm)
    d = float(den[0])
    out = NlmeAnovaTable([(n_df, d, F, float(st.f.sf(F, n_df, d)))],
                         columns=["numDF", "denDF", "F-value", "p-value"], index=["1"])
    out.attrs["kind"] = m.kind
    out.attrs["label"] = label
    if L_shown is not None:
        out.attrs["L"] = L_shown
    return out


def cat_df(d: float) -> str:
    """A denominator df as R's ``cat`` shows it."""
    return str(int(d)) if float(d).is_integer() else repr(float(d))
