"""Live comparison with the R package emmeans on random two-factor designs (lmer, at R's theta; glmer
binomial at R's theta and beta; nlme lme with emmeans' containment df, at each one's optimum): the marginal
means and a contrast table, numbers and printed text.

Each seed draws a design: two factors (2-4 levels, every cell observed, unbalanced), sometimes a
covariate; specs (one factor, ``"~ A | B"``, both factors), the df method (Kenward-Roger, Satterthwaite,
asymptotic; lme: containment), the weights, a contrast method and an adjustment; the contrasts' confint.  Skipped where R, rpy2
or emmeans is missing.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import TOL, assert_close, assert_same_printout  # noqa: E402

pytestmark = pytest.mark.r

_R = r"""
function(d, kind, formula, specs, ddf, method, adjust, type, weights) {
    suppressPackageStartupMessages({library(lme4); library(nlme); library(emmeans)})
    options(width = 80, digits = 7)
    m <- suppressMessages(suppressWarnings(
        # the formula itself in the call, as a user writes it (emmeans reads the response's transformation
        # there), and lme4's lmer whatever else earlier tests attached (lmerTest's lmer keeps another call)
        if (kind == "lmer") do.call(lme4::lmer, list(formula = as.formula(formula), data = quote(d)))
        else if (kind == "lme")
            do.call(lme, list(fixed = as.formula(sub(" \\+ \\(1 \\| g\\)", "", formula)), data = quote(d),
                              random = ~ 1 | g))
        else do.call(lme4::glmer, list(formula = as.formula(formula), data = quote(d), family = quote(binomial)))))
    e <- suppressMessages(if (kind == "lmer") emmeans(m, as.formula(specs), lmer.df = ddf, type = type, weights = weights)
                          else if (kind == "lme") emmeans(m, as.formula(specs), mode = ddf, weights = weights, type = type)
                          else emmeans(m, as.formula(specs), type = type, weights = weights))
    cc <- if (adjust == "") contrast(e, method) else contrast(e, method, adjust = adjust)
    tab <- function(x) { s <- as.data.frame(if (inherits(x, "summary_emm")) x else suppressMessages(summary(x)))
        lapply(s, function(v) if (is.numeric(v)) as.numeric(v) else as.character(v)) }
    txt <- function(x) paste(suppressMessages(capture.output(print(x))), collapse = "\n")
    list(theta = if (kind == "lme") 0 else unname(getME(m, "theta")), beta = unname(fixef(m)),
         emm = tab(e), emm_text = txt(e), con = tab(cc), con_text = txt(cc),
         ci = tab(suppressMessages(confint(cc))), ci_text = txt(suppressMessages(confint(cc))))
}
"""


def _emmeans_available() -> tuple[bool, str]:
    try:
        import rlive
        ro = rlive.robjects()
        ok = bool(ro.r("isTRUE(requireNamespace(\"emmeans\", quietly = TRUE))")[0])
    except Exception as exc:  # pragma: no cover - depends on the machine
        return False, f"R or rpy2 not usable: {exc}"
    return (ok, "" if ok else "the R package emmeans is not installed")


def _design(seed: int) -> dict:
    rng = np.random.default_rng(10_000 + seed)
    la, lb = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    n_g = int(rng.integers(6, 12))
    per = int(rng.integers(la * lb, 2 * la * lb + 4))
    n = n_g * per
    g = np.repeat(np.arange(n_g), per)
    cells = np.tile(np.resize(np.arange(la * lb), per), n_g)   # every cell observed in every group
    A, B = cells % la, cells // la
    x = rng.normal(size=n)
    u = rng.random()
    kind = "glmer" if u < 0.3 else "lme" if u < 0.5 else "lmer"
    eta = 0.3 * (A == 1) - 0.4 * (B == 1) + 0.2 * A * (B == 0) + rng.normal(0, 0.8, n_g)[g] + 0.3 * x
    if kind == "lmer":
        y = 10 + 3 * eta + rng.normal(0, 1, n)
    else:
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    df = pd.DataFrame({"y": y, "yp": np.exp(y / 10), "x": x, "A": pd.Categorical([f"a{i}" for i in A]),
                       "B": pd.Categorical([f"lev{i + 1}" for i in B]), "g": pd.Categorical([f"g{i:02d}" for i in g])})
    if kind == "glmer":       # no separation: both outcomes in every cell (lme4's Hessian SEs are noise there)
        for cell in range(la * lb):
            rows = np.flatnonzero(cells == cell)
            if np.all(y[rows] == y[rows[0]]):
                y[rows[: max(1, len(rows) // 3)]] = 1.0 - y[rows[0]]
        df["y"] = y
        df["yp"] = np.exp(y / 10)
    drop = rng.random(n) < 0.15                              # unbalanced, first row of each group kept
    drop[np.r_[0, np.flatnonzero(np.diff(g)) + 1]] = False
    df = df[~drop].reset_index(drop=True)
    fixed = ["A * B", "A + B + x", "A * x + B", "A * B + x"][int(rng.integers(4))]
    specs = ["~ A", "~ B", "~ A | B", "~ A * B"][int(rng.integers(4))]
    ddf = ["kenward-roger", "satterthwaite", "asymptotic"][int(rng.integers(3))]
    if kind == "lme":
        ddf = "containment" if ddf != "asymptotic" else ddf
    response = "log(yp)" if kind != "glmer" and rng.random() < 0.3 else "y"
    return dict(data=df, kind=kind, formula=f"{response} ~ {fixed} + (1 | g)", specs=specs, ddf=ddf,
                method=["pairwise", "trt.vs.ctrl", "poly", "revpairwise", "eff"][int(rng.integers(5))],
                adjust=["", "", "", "holm", "sidak", "bonferroni", "none", "scheffe"][int(rng.integers(8))],
                type="response" if (kind == "glmer" or response != "y") and rng.random() < 0.5 else "link",
                weights=["equal", "equal", "proportional", "cells", "outer", "flat"][int(rng.integers(6))])


def _columns(ours: pd.DataFrame, theirs: dict, what: str, kind: str) -> None:
    assert list(ours.columns) == list(theirs), f"{what}: columns {list(ours.columns)} vs R {list(theirs)}"
    for c, r in theirs.items():
        if r and isinstance(r[0], str):
            assert [str(v) for v in ours[c]] == r, f"{what}: {c}"
            continue
        rv, ov = np.asarray(r, dtype=float), ours[c].to_numpy(dtype=float)
        if np.all(np.isinf(rv)):
            assert np.all(np.isinf(ov)), f"{what}: {c}"
            continue
        tol = TOL["emmeans_p"] if c == "p.value" else TOL["ddf_df"] if c in ("df", "lower.CL", "upper.CL") \
            else TOL["emmeans_estimate"]
        if kind == "lme":    # nlme's optimum, ours and R's (nlme_coef / nlme_se)
            tol = TOL["emmeans_lme"]
        if kind == "glmer":    # lme4's vcov from its finite-difference Hessian: every SE-derived number follows glmer_se
            tol = TOL["emmeans_glmer_p" if c == "p.value" else "glmer_se"]
        assert_close(ov, rv, f"{what}: {c}", **tol)


@pytest.mark.parametrize("seed", range(36))
def test_emmeans_random_design(seed):
    ok, why = _emmeans_available()
    if not ok:
        pytest.skip(why)
    import mixedcompat as mc
    import rlive
    d = _design(seed)
    ro = rlive.robjects()
    r = rlive._py(ro.r(_R)(rlive.to_r_frame(d["data"]), d["kind"], d["formula"], d["specs"], d["ddf"], d["method"],
                           d["adjust"], d["type"], d["weights"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if d["kind"] == "lmer":
            m = mc.lmer(d["formula"], d["data"], control={"optimizer": None, "start": [float(v) for v in r["theta"]]})
        elif d["kind"] == "lme":
            m = mc.lme(d["formula"].replace(" + (1 | g)", ""), d["data"], random="~ 1 | g")
        else:
            m = mc.glmer(d["formula"], d["data"], family="binomial", control={"optimizer": None},
                         start={"theta": [float(v) for v in r["theta"]], "fixef": [float(v) for v in r["beta"]]})
        e = mc.emmeans(m, d["specs"], ddf=d["ddf"], type=d["type"], weights=d["weights"])
        c = mc.contrast(e, d["method"], adjust=d["adjust"] or None)
        emm_text, con_text = str(e), str(c)
        emm, con = e.to_frame(), c.to_frame()
        ci = mc.confint(c)
        ci_text = str(ci)
    what = (f"seed {seed} {d['kind']} {d['formula']} {d['specs']} {d['ddf']} {d['weights']} {d['method']} "
            f"{d['adjust']!r}")
    _columns(emm, r["emm"], what + " emmeans", d["kind"])
    _columns(con, r["con"], what + " contrast", d["kind"])
    rel = TOL[{"glmer": "glmer_text", "lme": "emmeans_lme"}.get(d["kind"], "emmeans_text")]["rtol"]
    assert_same_printout(emm_text, r["emm_text"][0], what + " emmeans text", rel=rel, ties=1)
    assert_same_printout(con_text, r["con_text"][0], what + " contrast text", rel=rel, ties=1)
    _columns(ci.to_frame(), r["ci"], what + " confint", d["kind"])
    assert_same_printout(ci_text, r["ci_text"][0], what + " confint text", rel=rel, ties=1)
