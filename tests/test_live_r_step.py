"""Live comparison with lmerTest's ``step`` and ``ls_means`` / ``difflsmeans`` on random designs.

Each seed draws a design (:func:`random_step_design`): two or three crossed factors and a covariate with
effects switched on at random, one to three grouping factors whose variances may be zero, random slopes
sometimes, sometimes a transformed covariate (``I(x^2)``: lmerTest's grid), REML or ML, Satterthwaite or
Kenward-Roger.  lmerTest's ``step`` and ours must eliminate the
same terms in the same order and find the same model, unless a p-value R computed sits within
``KNIFE_EDGE`` (relative) of its alpha (then the two decisions may differ by rounding: the design is
skipped); the tables agree to the step tolerances (the random table only when no fit of ours reaches a
higher likelihood than lme4's: our criterion is never above R's, but may be below).  ``ls_means`` (all factor terms, with a random
``pairwise``) is compared at R's theta with the contest tolerances.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import TOL, assert_close, at_theta  # noqa: E402
from test_lmertest_step import lrt_atol  # noqa: E402

pytestmark = [pytest.mark.r,
              pytest.mark.filterwarnings("ignore::mixedcompat.errors.VarparHessianWarning"),
              pytest.mark.filterwarnings("ignore::mixedcompat.errors.SingularFitWarning"),
              pytest.mark.filterwarnings("ignore::mixedcompat.errors.KenwardRogerFallbackWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

KNIFE_EDGE = 0.02
SEEDS = list(range(1, 21))

_R_STEP = r"""
function(d, formula, REML, ddf, alpha_random, alpha_fixed, pairwise) {
    suppressPackageStartupMessages({library(lmerTest); library(pbkrtest)})
    assign(".live_step_d", d, envir = globalenv())
    on.exit(rm(".live_step_d", envir = globalenv()))
    m <- tryCatch(suppressWarnings(suppressMessages(eval(
        call("lmer", as.formula(formula), data = quote(.live_step_d), REML = REML), globalenv()))),
        error = function(e) e)
    if (inherits(m, "error")) return(list(error = conditionMessage(m)))
    tab <- function(x) {
        if (inherits(x, "error")) return(list(error = conditionMessage(x)))
        class(x) <- "data.frame"
        list(index = rownames(x), columns = colnames(x),
             values = lapply(colnames(x), function(cn) as.numeric(x[[cn]])))
    }
    s <- tryCatch(suppressWarnings(suppressMessages(
        step(m, ddf = ddf, alpha.random = alpha_random, alpha.fixed = alpha_fixed))), error = function(e) e)
    out <- list(error = NULL, theta = unname(getME(m, "theta")))
    if (inherits(s, "error")) {
        out$step_error <- conditionMessage(s)
    } else {
        out$random <- tab(s$random)
        out$fixed <- tab(s$fixed)
        out$formula <- paste(deparse(formula(get_model(s)), width.cutoff = 500), collapse = " ")
        out$model_class <- class(get_model(s))[1]
    }
    out$lsm <- tab(tryCatch(suppressWarnings(suppressMessages(
        ls_means(m, ddf = ddf, pairwise = pairwise))), error = function(e) e))
    out
}
"""


def random_step_design(seed: int) -> dict:
    """A random design for step / ls_means (reproducible from ``seed``)."""
    rng = np.random.default_rng(seed)
    n_g = int(rng.integers(6, 13))
    per = int(rng.integers(6, 11))
    n = n_g * per
    g = np.repeat(np.arange(n_g), per)
    k_a, k_b = int(rng.integers(2, 5)), int(rng.integers(2, 4))
    A = rng.integers(0, k_a, n)
    A[:k_a] = np.arange(k_a)
    B = rng.integers(0, k_b, n)
    B[:k_b] = np.arange(k_b)
    x = rng.normal(0, 1, n)
    y = rng.normal(0, 1, n)
    terms = ["A * B", "x"]
    if rng.random() < 0.5:
        C = rng.integers(0, 2, n)
        C[:2] = [0, 1]
        y += rng.choice([0.0, 0.8]) * C
        terms.append("C")
    y += rng.choice([0.0, 1.0]) * (A - A.mean()) + rng.choice([0.0, 0.7]) * (B == 1)
    y += rng.choice([0.0, 0.6]) * x + rng.choice([0.0, 1.2]) * (A == 1) * (B == 1)
    y += rng.choice([0.0, 0.3, 1.0]) * rng.normal(0, 1, n_g)[g]
    if rng.random() < 0.25:     # a transformed covariate: lmerTest's grid evaluates it at mean(x)
        terms.append("I(x^2)")
    random = ["(1 | g)"]
    slope = rng.random() < 0.35
    if slope:
        random = ["(x | g)"]
        y += rng.choice([0.0, 0.5]) * rng.normal(0, 1, n_g)[g] * x
    cols = {"y": y, "x": x, "A": pd.Categorical([f"a{v}" for v in A]),
            "B": pd.Categorical([f"b{v}" for v in B]), "g": pd.Categorical([f"g{v:02d}" for v in g])}
    if "C" in terms:
        cols["C"] = pd.Categorical(np.where(C == 1, "yes", "no"))
    if rng.random() < 0.6:
        n_h = int(rng.integers(3, 7))
        h = rng.integers(0, n_h, n)
        h[:n_h] = np.arange(n_h)
        y += rng.choice([0.0, 0.8]) * rng.normal(0, 1, n_h)[h]
        cols["h"] = pd.Categorical([f"h{v}" for v in h])
        random.append("(1 | h)")
    cols["y"] = y
    REML = bool(rng.random() < 0.75)
    ddf = "Kenward-Roger" if REML and rng.random() < 0.4 else "Satterthwaite"
    return {"data": pd.DataFrame(cols), "formula": "y ~ " + " + ".join(terms + random), "REML": REML,
            "ddf": ddf, "alpha_random": float(rng.choice([0.1, 0.2])),
            "alpha_fixed": float(rng.choice([0.05, 0.1])), "pairwise": bool(rng.random() < 0.4)}


def _in_r(design: dict) -> dict:
    import rlive
    ro = rlive.robjects()
    fn = ro.r(_R_STEP)
    return rlive._py(fn(rlive.to_r_frame(design["data"]), design["formula"], design["REML"], design["ddf"],
                        design["alpha_random"], design["alpha_fixed"], design["pairwise"]))


def _frame(t: dict) -> pd.DataFrame:
    vals = t["values"]
    if isinstance(vals, dict):
        vals = list(vals.values())
    return pd.DataFrame({c: np.asarray(v if v is not None else [], dtype=float)
                         for c, v in zip(t["columns"], vals)}, index=t["index"] or [])


def _knife_edge(r: dict, design: dict) -> bool:
    for part, col, alpha in (("random", "Pr(>Chisq)", design["alpha_random"]),
                             ("fixed", "Pr(>F)", design["alpha_fixed"])):
        t = r.get(part)
        if not t or not t.get("index"):
            continue
        p = _frame(t)[col].to_numpy(float)
        if np.any(np.abs(p[~np.isnan(p)] - alpha) <= KNIFE_EDGE * alpha):
            return True
    return False


@pytest.fixture(scope="module")
def rlive_available():
    pytest.importorskip("rpy2")
    import rlive
    try:
        rlive.robjects().r("suppressPackageStartupMessages(library(lmerTest))")
    except Exception as exc:  # noqa: BLE001 - R or lmerTest missing: skip with the reason
        pytest.skip(f"R with lmerTest not available: {exc}")


@pytest.mark.parametrize("seed", SEEDS)
def test_step_as_lmertest(seed, rlive_available):
    import mixedcompat as mc
    from mixedcompat.present.lme4_printing import deparse_formula
    design = random_step_design(seed)
    r = _in_r(design)
    if r.get("error"):
        pytest.skip(f"lmer stops in R: {r['error']}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(design["formula"], design["data"], REML=design["REML"])
    if r.get("step_error"):
        with pytest.raises((mc.DataError, ValueError)):
            mc.step(m, ddf=design["ddf"], alpha_random=design["alpha_random"], alpha_fixed=design["alpha_fixed"])
        return
    s = mc.step(m, ddf=design["ddf"], alpha_random=design["alpha_random"], alpha_fixed=design["alpha_fixed"])
    same = (list(s.random.index) == list(r["random"]["index"]) and list(s.fixed.index) == list(r["fixed"]["index"])
            and s.random["Eliminated"].fillna(-1).tolist() == _frame(r["random"])["Eliminated"].fillna(-1).tolist()
            and s.fixed["Eliminated"].tolist() == _frame(r["fixed"])["Eliminated"].tolist())
    if not same and _knife_edge(r, design):
        pytest.skip("a p-value sits on alpha: the elimination may differ by rounding")
    assert same, f"{design['formula']}: ours\n{s}\nR's random {r['random']['index']}, fixed {r['fixed']['index']}"
    final = mc.get_model(s)
    formula = final.formula if r["model_class"][0] == "lm" else deparse_formula(final.parts.tree)
    assert formula == r["formula"][0]
    ll_ours, ll_r = s.random["logLik"].to_numpy(float), _frame(r["random"])["logLik"].to_numpy(float)
    assert np.all(ll_ours >= ll_r - TOL["lmertest_step_table"]["rtol"] * np.abs(ll_r)), "a fit worse than lme4's"
    better = ll_ours > ll_r + TOL["criterion_better"]["rtol"] * np.abs(ll_r)
    if better.any():            # lme4 stopped early on a fit of the chain: its LRTs are not comparable
        print(f"seed {seed}: our fits reach higher logLik than lme4's ({ll_ours - ll_r}): random table not compared")
    for part in ("random", "fixed") if not better.any() else ("fixed",):
        theirs = _frame(r[part])
        for col in theirs.columns[1:]:
            tol = TOL["lmertest_step_p"] if col.startswith("Pr(") else TOL["lmertest_step_table"]
            if col == "LRT":        # a difference of two criteria: their tolerance, absolute
                tol = dict(rtol=0.0, atol=lrt_atol(theirs["logLik"].to_numpy(float)))
            assert_close(getattr(s, part)[col].to_numpy(float), theirs[col].to_numpy(float),
                         f"seed {seed} {part} {col}", **tol)


@pytest.mark.parametrize("seed", SEEDS)
def test_ls_means_as_lmertest(seed, rlive_available):
    import mixedcompat as mc
    design = random_step_design(seed)
    r = _in_r(design)
    if r.get("error"):
        pytest.skip(f"lmer stops in R: {r['error']}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(design["formula"], design["data"], REML=design["REML"],
                    control=at_theta(np.asarray(r["theta"], dtype=float)))
    lsm = r["lsm"]
    if lsm.get("error"):
        with pytest.raises((mc.DataError, ValueError)):
            mc.ls_means(m, ddf=design["ddf"], pairwise=design["pairwise"])
        return
    tab = mc.ls_means(m, ddf=design["ddf"], pairwise=design["pairwise"])
    theirs = _frame(lsm)
    assert list(tab.index) == list(theirs.index)
    coef, df = TOL["lmertest_contest_coef"]["rtol"], TOL["lmertest_contest_df"]["rtol"]
    for col in theirs.columns:
        rtol = coef if col in ("Estimate", "Std. Error", "t value") else df
        assert_close(tab[col].to_numpy(float), theirs[col].to_numpy(float), f"seed {seed} {col}", rtol=rtol,
                     atol=TOL["lmertest_contest_atol"]["atol"])
