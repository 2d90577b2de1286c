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
class NlmeAnovaTable(pd.DataFrame):
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
class Intervals(dict):
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


def anova_nlme(*models, type=None, **named_models) -> pd.DataFrame:  # noqa: A002
    """``anova`` for lme / gls fits: one model -> F tests (``type="sequential"`` default, or
    ``"marginal"``); several -> nlme's likelihood-ratio table."""
    named = {k: v for k, v in named_models.items() if k != "model_names"}
    all_models = list(models) + list(named.values())
    if len(all_models) == 1:
        t = {None: "sequential", 1: "sequential", 3: "marginal"}.get(type, type)
        return anova_single(all_models[0], type=t)
    names = named_models.get("model_names") or ([f"m{i + 1}" for i in range(len(models))] + list(named))
    return anova_models(*all_models, names=names)
