"""Live comparison with lmerTest's ``contest`` and ``show_tests`` on random designs, at R's theta.

Designs from :func:`test_live_r_ddf.random_design` (factors, interactions, poly(), aliased terms, scales,
weights, ML fits, ...); on each, a random contrast matrix (1-3 rows of small integers, sometimes with a
repeated row: rank deficient) and a random ``rhs`` are tested jointly and row by row with both ddf
methods, and the hypothesis matrices of ``anova(m, type = 1, 2, 3)`` are compared with ``show_tests``.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import TOL  # noqa: E402
from test_live_r_ddf import _table_frame, compare_table, random_design  # noqa: E402

pytestmark = pytest.mark.r

_R_CONTEST = r"""
function(d, formula, REML, use_weights, ordered, L, rhs) {
    suppressPackageStartupMessages({library(lmerTest); library(pbkrtest)})
    for (cn in ordered) d[[cn]] <- factor(d[[cn]], levels = levels(d[[cn]]), ordered = TRUE)
    if ("L" %in% names(d)) d$L <- d$L > 0.5
    m <- tryCatch(suppressWarnings(suppressMessages(
        if (use_weights) lmerTest::lmer(as.formula(formula), data = d, REML = REML, weights = w)
        else lmerTest::lmer(as.formula(formula), data = d, REML = REML))), error = function(e) e)
    if (inherits(m, "error")) return(list(error = conditionMessage(m)))
    p <- length(fixef(m))
    L <- matrix(L, ncol = p)
    tab <- function(x) {
        if (inherits(x, "error")) return(list(error = conditionMessage(x)))
        x <- as.data.frame(x)
        list(index = rownames(x), columns = colnames(x),
             values = lapply(colnames(x), function(cn) as.numeric(x[[cn]])))
    }
    run <- function(expr) tab(tryCatch(suppressWarnings(expr), error = function(e) e))
    out <- list(error = NULL, theta = unname(getME(m, "theta")), p = p)
    out$coef_df <- unname(summary(m)$coefficients[, "df"])
    if (REML) out$vcov_adj <- tryCatch(as.numeric(as.matrix(pbkrtest::vcovAdj(m))), error = function(e) NULL)
    for (joint in c(TRUE, FALSE)) for (ddf in c("Satterthwaite", "Kenward-Roger")) {
        if (ddf == "Kenward-Roger" && !REML) next
        out[[paste(joint, ddf)]] <- run(contest(m, L, joint = joint, ddf = ddf, rhs = rhs))
    }
    out$tests <- lapply(1:3, function(type) {
        tt <- tryCatch(show_tests(suppressWarnings(suppressMessages(anova(m, type = type)))),
                       error = function(e) NULL)
        if (is.null(tt)) return(NULL)
        lapply(tt, function(x) list(rows = rownames(x), values = as.numeric(t(x)), nrow = nrow(x)))
    })
    out
}
"""


def _contest_in_r(design: dict, L: np.ndarray, rhs: float) -> dict:
    import rlive
    ro = rlive.robjects()
    fn = ro.r(_R_CONTEST)
    df = design["data"]
    ordered = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype) and df[c].cat.ordered]
    return rlive._py(fn(rlive.to_r_frame(df), design["formula"], design["REML"], design["weights"],
                        ro.StrVector(ordered), ro.FloatVector(L.T.ravel()), rhs))


def _fit_probe(design: dict):
    """Our fit of the design at our optimum (only its number of fixed effects is used, checked against R)."""
    import mixedcompat as mc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer(design["formula"], design["data"], REML=design["REML"],
                       weights="w" if design["weights"] else None)


SEEDS = list(range(101, 131))


@pytest.mark.parametrize("seed", SEEDS)
def test_random_contrasts_match_lmertest(seed):
    import mixedcompat as mc
    design = random_design(seed)
    rng = np.random.default_rng(seed)
    p = len(_fit_probe(design).fixef())
    L = rng.integers(-2, 3, size=(int(rng.integers(1, 4)), p)).astype(float)
    if L.shape[0] > 1 and rng.random() < 0.3:
        L[-1] = 2 * L[0]                                              # rank deficient
    rhs = float(rng.choice([0.0, 1.5]))
    r = _contest_in_r(design, L, rhs)
    if r.get("error"):
        pytest.skip(f"R refuses the design: {r['error']}")
    assert int(r["p"][0] if isinstance(r["p"], list) else r["p"]) == p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(design["formula"], design["data"], REML=design["REML"],
                    weights="w" if design["weights"] else None,
                    control={"optimizer": None, "start": list(np.atleast_1d(r["theta"]))})
    sigma2 = float(m.sigma()) ** 2
    bad = {}
    for key in [k for k in r if k.startswith(("TRUE", "FALSE"))]:
        joint, ddf = key.split(" ", 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ours = mc.contest(m, L, joint=joint == "TRUE", ddf=ddf, rhs=rhs)
            except Exception as exc:  # reported as a disagreement
                ours = f"error: {type(exc).__name__}: {exc}"
        diffs = compare_table(ours, _table_frame(r[key]), sigma2)
        if diffs:
            bad[key] = diffs
    for kind, tests in enumerate(r["tests"] or [], start=1):
        if not tests:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = mc.show_tests(mc.anova(m, type=kind))
        assert list(ours) == list(tests), f"type {kind}"
        for term, t in tests.items():
            exp = np.asarray(t["values"] or [], dtype=float).reshape(-1, p)
            np.testing.assert_allclose(ours[term].to_numpy(dtype=float), exp, rtol=1e-5,
                                       atol=TOL["lmertest_hypotheses_noise"]["atol"], err_msg=f"type {kind} {term}")
            if t["rows"]:
                assert list(ours[term].index) == list(np.atleast_1d(t["rows"])), f"type {kind} {term}"
    kr_differs = False
    if r.get("vcov_adj") is not None:
        from mixedcompat.inference.kenward_roger import kr_adjusted
        try:
            ours_adj = kr_adjusted(m).vcov_adj
            kr_differs = not np.allclose(ours_adj, np.reshape(r["vcov_adj"], (p, p)), rtol=1e-3,
                                         atol=1e-3 * np.abs(ours_adj).max())
        except Exception:
            kr_differs = True
    from mixedcompat.inference.ftests import coef_table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours_df = coef_table(m, "Satterthwaite")["df"].to_numpy(dtype=float)
    satt_differs = not np.allclose(ours_df, np.atleast_1d(r["coef_df"]), rtol=TOL["ddf_df"]["rtol"])
    if kr_differs:
        # Only where KR is numerically ill-posed may R's and our adjusted covariance differ: when [X Z] has
        # rank n, the REML information of sigma^2 is a difference of terms of order 1 / sigma^4 that cancel,
        # so pbkrtest's W (and everything after it) is rounding noise in R as here (seed 110).
        XZ = np.hstack([np.asarray(m.frame.X, dtype=float), m.getME("Z").toarray()])
        assert np.linalg.matrix_rank(XZ) == XZ.shape[0], "vcovAdj differs from pbkrtest's on a well-posed design"
        bad = {k: v for k, v in bad.items() if "Kenward-Roger" not in k}
    if satt_differs:
        # Only where the Hessian of the variance parameters has eigenvalues at lmerTest's 1e-8 cut-off of its
        # pseudo-inverse (or below zero: lmerTest's "failed to converge with 1 negative eigenvalue") may the df
        # differ: which eigenvalues are kept is then decided by rounding noise (seed 114).
        from mixedcompat.inference.satterthwaite import satterthwaite_state
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eig = np.linalg.eigvalsh(satterthwaite_state(m).hessian)
        assert eig.min() < 1e-7, "Satterthwaite df differ from lmerTest's with a well-conditioned Hessian"
        bad = {k: v for k, v in bad.items() if "Satterthwaite" not in k}
    assert not bad, f"{design['formula']} L={L.tolist()} rhs={rhs}: {bad}"
    if satt_differs:
        pytest.xfail("the varpar Hessian has eigenvalues at lmerTest's 1e-8 cut-off: its pseudo-inverse is rounding noise")
    if kr_differs:
        pytest.xfail("rank([X Z]) = n: the KR information of sigma^2 cancels to rounding noise (in pbkrtest too)")
