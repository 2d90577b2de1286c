"""nlme's printed text for lme / gls fits: ``print(summary(m))``, ``print(m)``, ``VarCorr``, ``intervals``, ``anova``.

Every function returns R's text as one string, line by line as R 4.2 with nlme 3.1 prints it at
``options(width = 80, digits = 7)``; nothing is printed.  The number formatting is R's (see
:mod:`mixedcompat.present.rformat`): data-frame columns are ``format(zapsmall(x))``, p-values
``format(round(p, 4))`` (``"<.0001"`` where that is 0, in anova tables: ``format_pval_nlme``),
correlations ``format(round(r, 3))`` in a lower triangle, and formulas are deparsed as R does
(``sin(2*pi*Time)`` -> ``sin(2 * pi * Time)``).

Examples
--------
>>> import mixedcompat as mc
>>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
>>> print(format_summary(m).splitlines()[0])
Linear mixed-effects model fit by REML
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mixedcompat.front import rlang
from mixedcompat.present.rformat import (abbreviate, cat_number, format_number, format_real, print_matrix, print_named_vector,
                       format_pval_nlme, print_numeric_matrix, quantile7, r_round, zapsmall)

__all__ = ["format_summary", "format_print", "format_varcorr", "format_intervals", "format_anova", "deparse"]

_PD_STRUCTURE = {"pdLogChol": "General positive-definite, Log-Cholesky parametrization",
                 "pdSymm": "General positive-definite", "pdDiag": "Diagonal",
                 "pdIdent": "Multiple of an Identity", "pdCompSymm": "Compound Symmetry"}
_COR_TITLE = {"corAR1": "AR(1)", "corCAR1": "Continuous AR(1)", "corCompSymm": "Compound symmetry",
              "corSymm": "General", "corExp": "Exponential spatial correlation",
              "corGaus": "Gaussian spatial correlation", "corLin": "Linear spatial correlation",
              "corRatio": "Rational quadratic spatial correlation", "corSpher": "Spherical spatial correlation"}
_CUTOFF = 60      # deparse's width.cutoff


# ------------------------------------------------------------------------------ R's deparse of a formula
def deparse(text: str) -> list[str]:
    """R's ``deparse()`` of a formula or call given as text: R's spacing, lines broken past 60 characters
    (:func:`mixedcompat.front.rlang.deparse`).

    Examples
    --------
    >>> deparse("follicles ~ sin(2*pi*Time) + cos(2*pi*Time)")
    ['follicles ~ sin(2 * pi * Time) + cos(2 * pi * Time)']
    >>> deparse("~ 1 | Worker/Machine")
    ['~1 | Worker/Machine']
    """
    return rlang.deparse(rlang.parse(text), _CUTOFF)


def _dp(text: str) -> str:
    """``cat(deparse(x))``: the deparsed lines joined by a space."""
    return " ".join(deparse(text))


# ------------------------------------------------------------------------------ small layouts
def _vector(values, names, digits: int = 7) -> list[str]:
    """``print()`` of a named numeric vector."""
    return print_named_vector(format_real(list(values), digits), [str(n) for n in names], gap=1)


def _zap_col(x) -> list[str]:
    """``format(zapsmall(x))`` of a data-frame column (NA kept as ``"NA"``)."""
    return format_real([None if np.isnan(v) else float(v) for v in zapsmall(np.asarray(x, dtype=float))])


def _lower_tri(corr: np.ndarray, abbrev_row: list[str] | None = None) -> list[list[str]]:
    """Cells of nlme's correlation layout: ``format(round(r, 3))`` below the diagonal, blanks above."""
    q = corr.shape[0]
    il = np.tril_indices(q, -1)
    vals = format_real(r_round(corr[il], 3).tolist()) if q > 1 else []
    cells = [["" for _ in range(q)] for _ in range(q)]
    for k, (i, j) in enumerate(zip(*il)):
        cells[i][j] = vals[k]
    cells[0][:len(abbrev_row or [])] = abbrev_row or []
    return cells


def _correlation_print(corr: np.ndarray, names: list[str], title: str = " Correlation: ") -> list[str]:
    """nlme's ``print.correlation``: the lower triangle without the first row and last column."""
    p = corr.shape[0]
    if p < 2:
        return []
    cells = _lower_tri(np.asarray(corr, float))
    cols = abbreviate(names, 6)
    body = [row[:-1] for row in cells[1:]]
    return [title] + print_matrix(body, names[1:], cols[:-1], right=False)


def _cov2cor(v: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(v))
    with np.errstate(divide="ignore", invalid="ignore"):      # a standard deviation of 0: NaN, as R
        return v / np.outer(sd, sd)


# ------------------------------------------------------------------------------ pieces of the model
def _title(m) -> str:
    what = "Generalized least squares" if m.kind == "gls" else "Linear mixed-effects model"
    return f"{what} fit by {'REML' if m.REML else 'maximum likelihood'}"


def _data_name(m) -> str:
    return str(getattr(m.call.get("data"), "attrs", {}).get("name", "data"))


def _level_groups(m) -> list[list[str]]:
    return [list(lv.groups) for lv in m.setup.random]


def _group_label(groups: list[str]) -> str:
    """nlme's name of a nesting level: ``Machine %in% Worker``."""
    return " %in% ".join(reversed(groups))


def _pd_rhs(pd_) -> str:
    """The deparsed covariates of a pd formula: ``~ age | Subject`` -> ``age`` (``1`` when empty)."""
    return " ".join(rlang.deparse(pd_.covariates, _CUTOFF))


def _re_blocks(m) -> list[tuple[str, str, str, pd.DataFrame]]:
    """(level name, formula line, pd kind, covariance) per level, outermost first."""
    covs = m.re_cov()
    return [(lv.name, f"~{_pd_rhs(rl.pd)} | {_group_label(list(rl.groups))}", lv.pd.kind, covs[lv.name])
            for lv, rl in zip(m.likelihood.levels, m.setup.random)]


def _has_corr(kind: str, q: int) -> bool:
    return kind in ("pdLogChol", "pdSymm", "pdCompSymm") and q > 1


def _re_table(kind: str, cov: pd.DataFrame, sigma: float | None) -> list[str]:
    """The StdDev (/ Corr) table of one level; ``sigma`` adds the Residual row or column."""
    names, v = [str(c) for c in cov.columns], cov.to_numpy(float)
    q, res = len(names), ([] if sigma is None else [sigma])
    vals = list(np.sqrt(np.diag(v))) + res
    if not _has_corr(kind, q):
        return print_numeric_matrix(np.array([vals]), ["StdDev:"], names + ["Residual"] * len(res))
    sds = format_real(vals)
    abbrev = abbreviate(names, 6)[:-1] if kind != "pdCompSymm" else None
    corr = _lower_tri(_cov2cor(v), abbrev)
    rows = [[sds[i]] + corr[i][:-1] for i in range(q)]
    if sigma is not None:
        rows.append([sds[-1]] + [""] * (q - 1))
    return print_matrix(rows, names + (["Residual"] if sigma is not None else []),
                        ["StdDev", "Corr"] + [""] * (q - 2), right=False)


def _blocked_effects(m, k: int, cov: pd.DataFrame, sigma: float | None) -> list[str]:
    """nlme's ``print.summary.pdMat`` of a pdBlocked level: ``Composite Structure: Blocked``, then per
    block its columns, formula, structure (blocks of more than one column) and table; the Residual
    column goes with the last block of the last level."""
    bound = m.likelihood.levels[k].pd
    spec = m.setup.random[k]
    level = _group_label(list(spec.groups))
    lines = [" Composite Structure: Blocked"]
    at = 0
    for i, (b, pdm) in enumerate(zip(bound.blocks, spec.pd.blocks)):
        sub = cov.iloc[at:at + b.q, at:at + b.q]
        at += b.q
        lines += ["", f" Block {i + 1}: {', '.join(str(c) for c in b.columns)}",
                  f" Formula: ~{_pd_rhs(pdm)} | {level}"]
        if b.q > 1:
            lines.append(f" Structure: {_PD_STRUCTURE[b.kind]}")
        lines += _re_table(b.kind, sub, sigma if i == len(bound.blocks) - 1 else None)
    return lines


def _random_effects(m) -> list[str]:
    lines = ["Random effects:"]
    blocks = _re_blocks(m)
    for k, (_, formula, kind, cov) in enumerate(blocks):
        if kind == "pdBlocked":
            lines += _blocked_effects(m, k, cov, m.sigma() if k == len(blocks) - 1 else None) + [""]
            continue
        lines.append(f" Formula: {formula}")
        if cov.shape[0] > 1:
            lines.append(f" Structure: {_PD_STRUCTURE[kind]}")
        lines += _re_table(kind, cov, m.sigma() if k == len(blocks) - 1 else None)
        lines.append("")
    return lines


def _cor_formula(m, cor) -> str:
    text = cor.form.strip()[1:]
    if "|" not in text and m.kind == "lme":
        text += " | " + "/".join(_level_groups(m)[-1])
    return "~" + _dp(text)


def _cor_block(m) -> list[str]:
    cor = m.likelihood.cor
    if cor is None:
        return []
    params = np.asarray(m.cor_params, float)
    names = list(cor.names)
    cls = cor.class_name
    p = sum(n.startswith("Phi") for n in names)
    title = f"ARMA({p},{len(names) - p})" if cls == "corARMA" else _COR_TITLE.get(cls, cls)
    lines = [f"Correlation Structure: {title}", f" Formula: {_cor_formula(m, cor)} ", " Parameter estimate(s):"]
    if cls == "corSymm":
        K = int(round((1 + math.sqrt(1 + 8 * len(params))) / 2))
        C = np.zeros((K, K))
        C[np.triu_indices(K, 1)] = params
        return lines + _correlation_print(np.eye(K) + C + C.T, [str(i + 1) for i in range(K)])
    return lines + _vector(params, names)


def _var_parts(m) -> list[tuple[object, np.ndarray]]:
    """(bound varFunc, natural parameters with allCoef) per component; varComb's components rebound."""
    var = m.likelihood.var
    _, _, vu = m.likelihood.split(m.opt.params)
    full = var.natural_array(vu, all_coef=True)
    if var.kind != "varComb":
        return [(var, full)]
    parts, at = [], 0
    for sub in getattr(m.call.get("weights"), "varfuncs", ()):
        bv = sub.bind(m.setup.sorted_data)
        parts.append((bv, full[at:at + len(bv.all_names)]))
        at += len(bv.all_names)
    return parts


def _var_component(bv, values: np.ndarray) -> list[str]:
    lines = [f" Structure: {bv.structure}", f" Formula: {_dp(bv.formula)} "]
    if bv.kind != "varFixed" and len(values):
        lines.append(" Parameter estimates:")
        lines += _vector(values, bv.all_names)
    return lines


def _var_block(m) -> list[str]:
    var = m.likelihood.var
    if var is None:
        return []
    parts = _var_parts(m)
    if var.kind == "varComb":
        lines = ["Combination of variance functions: "]
        for bv, vals in parts:
            lines += _var_component(bv, vals)
        return lines
    return ["Variance function:"] + _var_component(*parts[0])


def _fit_stats(m) -> list[str]:
    cells = [[format_number(m.AIC()), format_number(m.BIC()), format_number(float(m.logLik()))]]
    return print_matrix(cells, [" "], ["AIC", "BIC", "logLik"], right=True)


def _t_table(m) -> list[str]:
    tt = m.tTable()
    cols = list(tt.columns)
    cells = [format_pval_nlme(tt[c], less_than=False) if c == "p-value" else _zap_col(tt[c]) for c in cols]
    rows = [[cells[j][i] for j in range(len(cols))] for i in range(len(tt))]
    return print_matrix(rows, [str(i) for i in tt.index], cols, right=True)


def _fixed_corr(m) -> list[str]:
    return _correlation_print(_cov2cor(m.vcov().to_numpy(float)), [str(c) for c in m.vcov().columns])


def _resid_quantiles(m) -> list[str]:
    return _vector(quantile7(m.residuals(type="pearson")), ["Min", "Q1", "Med", "Q3", "Max"])


def _groups_lines(m) -> list[str]:
    ng = [lv.n_groups for lv in m.likelihood.levels]
    if len(ng) == 1:
        return [f"Number of Groups: {ng[0]} "]
    labels = [_group_label(g) for g in _level_groups(m)]
    return ["Number of Groups: "] + print_named_vector([str(v) for v in ng], labels, gap=1)


def _loglik_line(m) -> str:
    what = "Log-restricted-likelihood" if m.REML else "Log-likelihood"
    return f"  {what}: {format_number(float(m.logLik()))}"


# ------------------------------------------------------------------------------ public
def format_summary(m) -> str:
    """nlme's ``print(summary(m))`` for an lme or gls fit.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.gls("distance ~ age", mc.datasets.load("Orthodont"))
    >>> format_summary(m).splitlines()[-1]
    'Degrees of freedom: 108 total; 106 residual'
    """
    fixed = " ".join(rlang.deparse(m.setup.fixed, _CUTOFF))
    structs = _cor_block(m) + _var_block(m)
    if m.kind == "gls":
        lines = [_title(m), f"  Model: {fixed} ", f"  Data: {_data_name(m)} "] + _fit_stats(m)
        if structs:
            lines += [""] + structs
        lines += ["", "Coefficients:"] + _t_table(m) + [""]
        corr = _fixed_corr(m)
        if corr:
            lines += corr + [""]
        lines += ["Standardized residuals:"] + _resid_quantiles(m) + [""]
        n, p = m.nobs(), len(m.x_names)
        lines += [f"Residual standard error: {format_number(m.sigma())} ",
                  f"Degrees of freedom: {n} total; {n - p} residual"]
        return "\n".join(lines)
    lines = [_title(m), f"  Data: {_data_name(m)} "] + _fit_stats(m) + [""]
    lines += _random_effects(m) + structs
    lines += [f"Fixed effects:  {fixed} "] + _t_table(m) + _fixed_corr(m)
    lines += ["", "Standardized Within-Group Residuals:"] + _resid_quantiles(m)
    lines += ["", f"Number of Observations: {m.nobs()}"] + _groups_lines(m)
    return "\n".join(lines)


def format_print(m) -> str:
    """nlme's ``print(m)`` for an lme or gls fit (estimates without standard errors).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.gls("distance ~ age", mc.datasets.load("Orthodont"))
    >>> format_print(m).splitlines()[3]
    '  Log-restricted-likelihood: -254.5847'
    """
    fixed = " ".join(rlang.deparse(m.setup.fixed, _CUTOFF))
    beta = m.fixef()
    coef = _vector(beta.to_numpy(), [str(i) for i in beta.index])
    structs = _cor_block(m) + _var_block(m)
    if m.kind == "gls":
        n, p = m.nobs(), len(m.x_names)
        lines = [_title(m), f"  Model: {fixed} ", f"  Data: {_data_name(m)} ", _loglik_line(m), "",
                 "Coefficients:"] + coef + [""] + structs
        lines += [f"Degrees of freedom: {n} total; {n - p} residual",
                  f"Residual standard error: {format_number(m.sigma())} "]
        return "\n".join(lines)
    lines = [_title(m), f"  Data: {_data_name(m)} ", _loglik_line(m), f"  Fixed: {fixed} "] + coef + [""]
    lines += _random_effects(m) + structs
    lines += [f"Number of Observations: {m.nobs()}"] + _groups_lines(m)
    return "\n".join(lines)


def format_varcorr(m) -> str:
    """nlme's ``print(VarCorr(m))`` for an lme fit (one block per level when nested).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> format_varcorr(m).splitlines()[0]
    'Subject = pdLogChol(1) '
    """
    blocks = _re_blocks(m)
    sigma = m.sigma()
    ncorr = max([cov.shape[0] - 1 for _, _, kind, cov in blocks if _has_corr(kind, cov.shape[0])] + [0])
    var_vals, sd_vals, rows, names, headers = [], [], [], [], []
    for (name, _, kind, cov), rl in zip(blocks, m.setup.random):
        cols, v = [str(c) for c in cov.columns], cov.to_numpy(float)
        pdtext = ", ".join(f"{b.kind}({_pd_rhs(b)})" for b in rl.pd.blocks) if kind == "pdBlocked" else \
            f"{kind}({_pd_rhs(rl.pd)})"      # pdBlocked: no correlations shown (nlme's VarCorr)
        headers.append((len(rows), f"{name} =", pdtext))
        corr = None
        if _has_corr(kind, len(cols)):
            corr = _lower_tri(_cov2cor(v), abbreviate(cols, 6)[:-1] if kind != "pdCompSymm" else None)
        for i in range(len(cols)):
            var_vals.append(v[i, i])
            sd_vals.append(math.sqrt(v[i, i]))
            cells = corr[i][:-1] if corr is not None else []
            rows.append(cells + [""] * (ncorr - len(cells)))
        names += cols
    var_vals, sd_vals = var_vals + [sigma ** 2], sd_vals + [sigma]
    rows, names = rows + [[""] * ncorr], names + ["Residual"]
    fv, fs = format_real(var_vals), format_real(sd_vals)
    table = [[fv[i], fs[i]] + rows[i] for i in range(len(rows))]
    col_names = ["Variance", "StdDev"] + (["Corr"] + [""] * (ncorr - 1) if ncorr else [])
    if len(blocks) == 1:
        lines = [f"{headers[0][1]} {headers[0][2]} "]
        return "\n".join(lines + print_matrix(table, names, col_names, right=False))
    for at, label, pdtext in reversed(headers):
        table.insert(at, [pdtext] + [""] * (1 + ncorr))
        names.insert(at, label)
    return "\n".join(print_matrix(table, names, col_names, right=False))


def _is_gls(obj) -> bool:
    kind = getattr(getattr(obj, "model", None), "kind", None) or getattr(obj, "kind", None)
    return kind == "gls" if kind is not None else "reStruct" not in obj


def _interval_frame(df: pd.DataFrame) -> list[str]:
    return print_numeric_matrix(df[["lower", "est.", "upper"]].to_numpy(float), [str(i) for i in df.index],
                                ["lower", "est.", "upper"])


def format_intervals(iv) -> str:
    """nlme's ``print(intervals(m))``; the level and the fit's kind come from ``iv.level`` and
    ``iv.model`` when set (default 0.95; lme unless ``iv.model`` is a gls or there is no
    ``reStruct`` and no model).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> from mixedcompat.nlme.nlme_inference import intervals
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> format_intervals(intervals(m)).splitlines()[0]
    'Approximate 95% confidence intervals'
    """
    gls = _is_gls(iv)
    level = getattr(iv, "level", None) or getattr(iv, "attrs", {}).get("level", 0.95)
    lines = [f"Approximate {cat_number(100 * float(level))}% confidence intervals"]
    if "fixed" in iv:
        lines += ["", " Coefficients:" if gls else " Fixed effects:"] + _interval_frame(iv["fixed"])
    if iv.get("reStruct"):
        lines += ["", " Random Effects:"]
        for name, df in iv["reStruct"].items():
            lines += [f"  Level: {name} "] + _interval_frame(df)
    if iv.get("corStruct") is not None:
        lines += ["", " Correlation structure:"] + _interval_frame(iv["corStruct"])
    if iv.get("varStruct") is not None:
        lines += ["", " Variance function:"] + _interval_frame(iv["varStruct"])
    if iv.get("sigma") is not None:
        s = iv["sigma"]
        lines += ["", " Residual standard error:" if gls else " Within-group standard error:"]
        lines += _vector([s["lower"], s["est."], s["upper"]], ["lower", "est.", "upper"])
    return "\n".join(lines)


def _contrast_lines(L: pd.DataFrame) -> list[str]:
    """``print(zapsmall(L))`` of anova.lme's ``L``: one row prints as a vector (named by its columns,
    unnamed when a single column is left), several as a matrix."""
    vals = zapsmall(L.to_numpy(float))
    if vals.shape[0] == 1:
        cells = format_real(vals[0].tolist())
        if vals.shape[1] == 1:
            return [f"[1] {cells[0]}"]
        return print_named_vector(cells, [str(c) for c in L.columns], gap=1)
    return print_numeric_matrix(vals, [str(i) for i in L.index], [str(c) for c in L.columns])


def format_anova(table: pd.DataFrame, model=None) -> str:
    """nlme's ``print(anova(m))`` (F tests) or ``print(anova(m1, m2))`` (likelihood-ratio table).

    ``model`` (or ``table.attrs["kind"] == "gls"``) marks a gls F table: nlme prints its common
    denominator df on a ``Denom. DF:`` line and drops the denDF column.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> from mixedcompat.nlme.nlme_inference import anova_single
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> format_anova(anova_single(m)).splitlines()[0]
    '            numDF denDF   F-value p-value'
    """
    tab = table.copy()
    rows = [str(i) for i in tab.index]
    lines: list[str] = []
    if "L.Ratio" in tab.columns:
        cols = [c for c in ["Model", "df", "AIC", "BIC", "logLik", "Test", "L.Ratio", "p-value"] if c in tab.columns]

        def cell(c: str) -> list[str]:
            if c == "p-value":
                return format_pval_nlme(tab[c])
            if c == "Test":
                return [x if isinstance(x, str) else "" for x in tab[c]]
            if c in ("Model", "df"):
                return [str(int(x)) for x in tab[c]]
            return ["" if np.isnan(x) else f for x, f in zip(np.asarray(tab[c], float), _zap_col(tab[c]))]
        cells = [cell(c) for c in cols]
    else:
        kind = getattr(model, "kind", None) or tab.attrs.get("kind")
        cols = ["numDF", "denDF", "F-value", "p-value"]
        label = tab.attrs.get("label")
        if label is not None:        # anova(m, Terms = ) / anova(m, L = ): the label, then the L used
            lines += label.split("\n")
            if tab.attrs.get("L") is not None:
                lines += _contrast_lines(tab.attrs["L"])
        if kind == "gls":
            den = np.asarray(tab["denDF"], float)
            if label is None:
                lines.append(f"Denom. DF: {cat_number(den[0])} ")
            cols.remove("denDF")
        cells = [format_pval_nlme(tab[c]) if c == "p-value" else _zap_col(tab[c]) for c in cols]
    body = [[cells[j][i] for j in range(len(cols))] for i in range(len(rows))]
    return "\n".join(lines + print_matrix(body, rows, cols, right=True))
