"""Live comparison with lmerTest / pbkrtest: summary and anova tables on random designs, at R's theta.

Each design (drawn from a seed by :func:`random_design`) is fitted by ``lmerTest::lmer`` in R; our
model is evaluated at R's theta (``control={"optimizer": None, "start": theta}``) so that the
comparison is about the ddf code (contrasts, numerical derivatives, Kenward-Roger), not the optimiser.
Compared: ``summary(m)$coefficients`` (Satterthwaite, Kenward-Roger), ``anova(m, type = 1, 2, 3)``
with both ddf methods, lmerTest's fit-time Hessian warnings and its Kenward-Roger fallback warnings.

The designs cover: factors with 2-4 levels, interactions with and without their main effects,
``poly()``, ``I()``, aliased terms, covariates and responses on scales 1e-6 .. 1e6, near-singular
random effects, unbalanced data (rows dropped), prior weights, one or two grouping factors and
random slopes.  Run as a script for the survey of agreement by class::

    .venv/bin/python tests/test_live_r_ddf.py 200
"""
from __future__ import annotations

import re
import sys
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import TOL  # noqa: E402

pytestmark = pytest.mark.r

# fixed-effects templates: (formula text with x, z, A, B; classes)
FIXED = [
    ("A", {"factor"}),
    ("A * B", {"factor", "interaction"}),
    ("A + A:B", {"factor", "interaction_without_main"}),
    ("A:B", {"factor", "interaction_without_main"}),
    ("x", {"covariate"}),
    ("A * x", {"factor", "covariate", "interaction"}),
    ("A + A:x", {"factor", "covariate", "interaction_without_main"}),
    ("x + A:x", {"factor", "covariate", "interaction_without_main"}),
    ("poly(x, 2)", {"poly"}),
    ("A + poly(x, 2)", {"factor", "poly"}),
    ("A * poly(x, 2)", {"factor", "poly", "interaction"}),
    ("x + poly(x, 2)", {"poly", "aliased"}),
    ("x + I(x^2) + z", {"covariate"}),
    ("A * B + x", {"factor", "covariate", "interaction"}),
    ("A + B + A:B:x", {"factor", "covariate", "interaction_without_main"}),
    ("A * B * x", {"factor", "covariate", "interaction"}),
    ("x * z", {"covariate", "interaction"}),
    ("A + x + z + A:z", {"factor", "covariate", "interaction"}),
    ("0 + A + x", {"factor", "covariate", "no_intercept"}),
    ("0 + A:B + x", {"factor", "covariate", "no_intercept", "interaction_without_main"}),
    ("A * scale(x)", {"factor", "scale()", "interaction"}),
    ("A + A:scale(x)", {"factor", "scale()", "interaction_without_main"}),
    ("L * x", {"logical", "covariate", "interaction"}),
    ("L + A + L:A:x", {"logical", "factor", "covariate", "interaction_without_main"}),
    ("A * B + log(z + 5)", {"factor", "covariate", "interaction"}),
]
RANDOM = [
    ("(1 | g)", set()),
    ("(1 | g) + (1 | h)", {"crossed"}),
    ("(x | g)", {"random_slope"}),
    ("(1 | g) + (1 | g:A)", {"nested"}),
]

_R_DDF = r"""
function(d, formula, REML, use_weights, ordered) {
    suppressPackageStartupMessages({library(lmerTest); library(pbkrtest)})
    for (cn in ordered) d[[cn]] <- factor(d[[cn]], levels = levels(d[[cn]]), ordered = TRUE)
    if ("L" %in% names(d)) d$L <- d$L > 0.5
    warns <- character(0)
    catch <- function(expr) {
        w <- character(0)
        val <- tryCatch(withCallingHandlers(expr,
            warning = function(x) { w <<- c(w, conditionMessage(x)); invokeRestart("muffleWarning") },
            message = function(x) invokeRestart("muffleMessage")),
            error = function(e) structure(list(msg = conditionMessage(e)), class = "err"))
        list(value = val, warnings = w)
    }
    tab <- function(x) {
        if (inherits(x, "err")) return(list(error = x$msg))
        x <- as.data.frame(x)
        list(index = rownames(x), columns = colnames(x),
             values = lapply(colnames(x), function(cn) as.numeric(x[[cn]])))
    }
    fit <- catch(if (use_weights) lmerTest::lmer(as.formula(formula), data = d, REML = REML, weights = w)
                 else lmerTest::lmer(as.formula(formula), data = d, REML = REML))
    m <- fit$value
    if (inherits(m, "err")) return(list(error = m$msg))
    out <- list(error = NULL, fit_warnings = fit$warnings, theta = unname(getME(m, "theta")),
                coef_names = names(fixef(m)))
    run <- function(expr) { r <- catch(expr); list(table = tab(r$value), warnings = r$warnings) }
    out$coef_satterthwaite <- run(summary(m)$coefficients)
    out$anova1 <- run(anova(m, type = 1))
    out$anova2 <- run(anova(m, type = 2))
    out$anova3 <- run(anova(m, type = 3))
    if (REML) {
        out$coef_kr <- run(summary(m, ddf = "Kenward-Roger")$coefficients)
        out$anova1_kr <- run(anova(m, type = 1, ddf = "Kenward-Roger"))
        out$anova2_kr <- run(anova(m, type = 2, ddf = "Kenward-Roger"))
        out$anova3_kr <- run(anova(m, type = 3, ddf = "Kenward-Roger"))
    }
    out
}
"""

TABLES = {"coef_satterthwaite": ("coef", "Satterthwaite", None), "anova1": ("anova", "Satterthwaite", 1),
          "anova2": ("anova", "Satterthwaite", 2), "anova3": ("anova", "Satterthwaite", 3),
          "coef_kr": ("coef", "Kenward-Roger", None), "anova1_kr": ("anova", "Kenward-Roger", 1),
          "anova2_kr": ("anova", "Kenward-Roger", 2), "anova3_kr": ("anova", "Kenward-Roger", 3)}
LMERTEST_FIT_WARNING = re.compile(r"^Model (failed to converge with \d+ negative|may not have converged with)")


def random_design(seed: int) -> dict:
    """A random design: data, formula, REML, weights flag and the classes it belongs to.

    Example
    -------
    >>> d = random_design(1); sorted(d) == ['REML', 'classes', 'data', 'formula', 'weights']
    True
    """
    rng = np.random.default_rng(seed)
    fixed, fcls = FIXED[rng.integers(len(FIXED))]
    rand, rcls = RANDOM[rng.integers(len(RANDOM))]
    classes = set(fcls) | set(rcls)
    n_g, n_h = int(rng.integers(5, 12)), int(rng.integers(3, 7))
    per = int(rng.integers(4, 9))
    n = n_g * per
    la, lb = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    g = np.repeat(np.arange(n_g), per)
    h = rng.integers(0, n_h, n)
    A = rng.integers(0, la, n)
    B = rng.integers(0, lb, n)
    x_scale = 10.0 ** rng.uniform(-6, 6) if rng.random() < 0.4 else 1.0
    y_scale = 10.0 ** rng.uniform(-6, 6) if rng.random() < 0.4 else 1.0
    if x_scale != 1.0 or y_scale != 1.0:
        classes.add("scale")
    x = rng.normal(size=n) + rng.uniform(-1, 1)
    z = rng.normal(size=n)
    sd_g = 10.0 ** rng.uniform(-4, -2) if rng.random() < 0.2 else rng.uniform(0.3, 1.5)
    if sd_g < 0.01:
        classes.add("near_singular")
    bg = rng.normal(0, sd_g, n_g)[g]
    bh = rng.normal(0, 0.7, n_h)[h]
    bs = rng.normal(0, rng.uniform(0.05, 0.5), n_g)[g] * x
    mu = 1.0 + 0.5 * (A == 1) - 0.3 * (B == 2) + 0.4 * x - 0.2 * x ** 2 + 0.3 * z + 0.3 * (A == 1) * x
    y = mu + bg + ("h)" in rand) * bh + ("x |" in rand) * bs + rng.normal(0, 1, n)
    df = pd.DataFrame({"y": y * y_scale, "x": x * x_scale, "z": z,
                       "A": pd.Categorical([f"a{i}" for i in A]), "B": pd.Categorical([f"b{i}" for i in B]),
                       "g": pd.Categorical([f"g{i:02d}" for i in g]), "h": pd.Categorical([f"h{i}" for i in h])})
    if rng.random() < 0.4:
        keep = rng.random(n) > 0.2
        df = df[keep].reset_index(drop=True)
        classes.add("unbalanced")
    for col in ("A", "B", "g", "h"):
        df[col] = df[col].cat.remove_unused_categories()
    if " L" in f" {fixed}":
        df["L"] = rng.random(len(df)) < 0.5          # a logical (TRUE/FALSE) variable
    if "A" in fixed and rng.random() < 0.25:
        df["A"] = df["A"].cat.as_ordered()           # R's contr.poly
        classes.add("contr.poly")
    weights = bool(rng.random() < 0.25)
    if weights:
        df["w"] = rng.uniform(0.5, 2.0, len(df))
        classes.add("weights")
    REML = bool(rng.random() < 0.8)
    if not REML:
        classes.add("ML")
    return {"data": df, "formula": f"y ~ {fixed} + {rand}", "REML": REML, "weights": weights,
            "classes": classes}


def lmertest_in_r(design: dict) -> dict:
    """lmerTest's tables for ``design`` in a live R session (through rpy2)."""
    import rlive
    ro = rlive.robjects()
    fn = ro.r(_R_DDF)
    df = design["data"]
    ordered = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype) and df[c].cat.ordered]
    return rlive._py(fn(rlive.to_r_frame(df), design["formula"], design["REML"], design["weights"],
                        ro.StrVector(ordered)))


def _table_frame(t: dict) -> pd.DataFrame | str:
    if "error" in t:
        return f"error: {t['error'][0] if isinstance(t['error'], list) else t['error']}"
    idx = t["index"] or []
    cols = t["columns"] or []
    vals = t["values"] or []
    if isinstance(vals, dict):
        vals = list(vals.values())
    data = {c: np.asarray(v if v is not None else [], dtype=float) for c, v in zip(cols, vals)}
    return pd.DataFrame(data, index=idx)


def ours_tables(design: dict, theta) -> dict:
    """Our tables (and the warnings they give) on the model evaluated at ``theta``."""
    import mixedcompat as mc
    from mixedcompat.inference.ftests import anova_table, coef_table
    kw = dict(REML=design["REML"], weights="w" if design["weights"] else None,
              control={"optimizer": None, "start": list(np.atleast_1d(theta))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(design["formula"], design["data"], **kw)
    out: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from mixedcompat.inference.satterthwaite import satterthwaite_state
        satterthwaite_state(m)
    out["fit_warnings"] = [str(w.message) for w in caught]
    for key, (what, ddf, kind) in TABLES.items():
        if ddf == "Kenward-Roger" and not design["REML"]:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                tab = coef_table(m, ddf) if what == "coef" else anova_table(m, type=kind, ddf=ddf)
            except Exception as exc:  # reported as a disagreement, with its type
                tab = f"error: {type(exc).__name__}: {exc}"
        out[key] = (tab, [str(w.message) for w in caught])
    return out


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: np.ndarray | float) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(b)
    same_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    with np.errstate(invalid="ignore"):
        ok = np.abs(a - b) <= atol + rtol * np.abs(b)
    return both_nan | same_inf | ok


def compare_table(ours: pd.DataFrame | str, r: pd.DataFrame | str, sigma2: float) -> list[str]:
    """Differences between our table and R's (empty when they agree within helpers' TOL["ddf_*"])."""
    if isinstance(ours, str) or isinstance(r, str):
        if isinstance(ours, str) and isinstance(r, str):
            return []
        return [f"ours {ours if isinstance(ours, str) else 'a table'} vs R {r if isinstance(r, str) else 'a table'}"]
    if list(ours.index) != list(r.index):
        return [f"rows {list(ours.index)} vs R {list(r.index)}"]
    out = []
    for col in r.columns:
        a, b = ours[col].to_numpy(dtype=float), r[col].to_numpy(dtype=float)
        if col in ("Estimate", "Std. Error"):
            tol = TOL["ddf_estimate"]
            atol = tol["rtol"] * np.nan_to_num(r["Std. Error"].to_numpy(dtype=float))
        elif col in ("Sum Sq", "Mean Sq"):
            tol = TOL["ddf_df"]
            atol = tol["atol"] * sigma2 * np.maximum(1.0, np.nan_to_num(r["NumDF"].to_numpy(dtype=float)))
        elif col in ("Pr(>|t|)", "Pr(>F)"):
            tol = TOL["ddf_p"]
            atol = tol["atol"]
        else:
            tol = TOL["ddf_df"]
            atol = tol["atol"]
        bad = ~_close(a, b, tol["rtol"], atol)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            out.append(f"{col}[{r.index[i]}]: ours {a[i]!r} vs R {b[i]!r}")
    return out


def compare_design(design: dict) -> dict:
    """Fit in R and here; return ``{"error": ...}`` or per-table lists of differences."""
    r = lmertest_in_r(design)
    if r.get("error"):
        return {"error": r["error"]}
    theta = np.asarray(r["theta"], dtype=float)
    ours = ours_tables(design, theta)
    import mixedcompat as mc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sigma2 = float(mc.lmer(design["formula"], design["data"], REML=design["REML"],
                               weights="w" if design["weights"] else None,
                               control={"optimizer": None, "start": list(theta)}).sigma()) ** 2
    res: dict = {"tables": {}}
    r_fit_w = sorted(w for w in (r.get("fit_warnings") or []) if LMERTEST_FIT_WARNING.match(w))
    ours_fit_w = sorted(w for w in ours["fit_warnings"] if LMERTEST_FIT_WARNING.match(w))
    res["fit_warnings"] = [] if [_warning_key(w) for w in r_fit_w] == [_warning_key(w) for w in ours_fit_w] \
        else [f"fit warnings {ours_fit_w} vs R {r_fit_w}"]
    for key in TABLES:
        if key not in r or key not in ours:
            continue
        tab, our_w = ours[key]
        diffs = compare_table(tab, _table_frame(r[key]["table"]), sigma2)
        r_w = sorted(set(r[key]["warnings"] or []) & {"Unable to compute Kenward-Roger F-test: using Satterthwaite instead",
                                                     "Unable to compute Kenward-Roger t-test: using Satterthwaite instead"})
        o_w = sorted(set(our_w) & set(r_w) | {w for w in our_w if w.startswith("Unable to compute")})
        if r_w != o_w:
            diffs.append(f"warnings {o_w} vs R {r_w}")
        res["tables"][key] = diffs
    return res


def _warning_key(w: str) -> str:
    """lmerTest's Hessian warning without its eigenvalues (numerical noise near zero)."""
    return w.split(":")[0]


# designs checked on every run of the suite (the survey below draws many more)
SEEDS = list(range(1, 31))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_design_tables_match_lmertest(seed):
    design = random_design(seed)
    res = compare_design(design)
    if "error" in res:
        pytest.skip(f"R refuses the design: {res['error']}")
    bad = {k: v for k, v in res["tables"].items() if v}
    assert not res["fit_warnings"], res["fit_warnings"]
    assert not bad, f"{design['formula']} (REML={design['REML']}, weights={design['weights']}): {bad}"


def survey(n: int, start: int = 1000) -> None:
    """Print the agreement rate by class over ``n`` random designs (seeds ``start`` ...)."""
    per_class: dict[str, Counter] = defaultdict(Counter)
    reasons: list[str] = []
    for seed in range(start, start + n):
        design = random_design(seed)
        try:
            res = compare_design(design)
        except Exception as exc:  # a crash of ours counts against every table of the design
            res = {"tables": {k: [f"crash {type(exc).__name__}: {exc}"] for k in TABLES}, "fit_warnings": []}
        if "error" in res:
            per_class["R refuses"]["n"] += 1
            continue
        for key, diffs in res["tables"].items():
            method = "KR" if key.endswith("_kr") else "Satterthwaite"
            for cls in sorted(design["classes"]) + ["all", f"all {method}", key]:
                per_class[cls]["n"] += 1
                per_class[cls]["ok"] += not diffs
            if diffs:
                reasons.append(f"seed {seed} {key} {design['formula']} REML={design['REML']} "
                               f"w={design['weights']} {sorted(design['classes'])}: {diffs[:2]}")
        per_class["fit warnings"]["n"] += 1
        per_class["fit warnings"]["ok"] += not res["fit_warnings"]
        if res["fit_warnings"]:
            reasons.append(f"seed {seed} {design['formula']}: {res['fit_warnings']}")
    for cls, c in sorted(per_class.items()):
        if c["n"]:
            print(f"{cls:28s} {c['ok']:5d} / {c['n']:5d}  {100.0 * c['ok'] / c['n']:6.1f}%")
    print("\n".join(reasons))


if __name__ == "__main__":
    survey(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
