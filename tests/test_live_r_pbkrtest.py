"""Live comparison with pbkrtest: KRmodcomp, SATmodcomp and vcovAdj on random designs, at R's theta.

Each design (:func:`test_live_r_ddf.random_design`) is fitted by ``lme4::lmer`` (by REML: pbkrtest refits
an ML fit so) and compared with the intercept-only fixed part (same random effects), and with a
restriction matrix of one row (the last coefficient).  Our large model is evaluated at R's theta, so
the comparison is about the restriction matrix and the Kenward-Roger / Satterthwaite code, not the
optimiser.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import TOL, assert_close  # noqa: E402
from test_live_r_ddf import random_design  # noqa: E402

pytestmark = pytest.mark.r

_R = r"""
function(d, formula, small, use_weights, ordered) {
    suppressPackageStartupMessages(library(pbkrtest))
    for (cn in ordered) d[[cn]] <- factor(d[[cn]], levels = levels(d[[cn]]), ordered = TRUE)
    if ("L" %in% names(d)) d$L <- d$L > 0.5
    fit <- function(f) suppressMessages(suppressWarnings(
        if (use_weights) lmer(as.formula(f), data = d, REML = TRUE, weights = w)
        else lmer(as.formula(f), data = d, REML = TRUE)))
    m <- fit(formula); m0 <- fit(small)
    p <- length(fixef(m))
    Lv <- as.numeric(seq_len(p) == p)
    tab <- function(x) lapply(as.data.frame(x$test), as.numeric)
    kr <- tryCatch(suppressWarnings(KRmodcomp(m, m0)), error = function(e) NULL)
    krL <- tryCatch(suppressWarnings(KRmodcomp(m, Lv)), error = function(e) NULL)
    sat <- tryCatch(suppressWarnings(SATmodcomp(m, m0)), error = function(e) NULL)
    list(theta = unname(getME(m, "theta")), rank_deficient = ncol(getME(m, "X")) < p,
         kr = if (is.null(kr)) NULL else tab(kr), krL = if (is.null(krL)) NULL else tab(krL),
         sat = if (is.null(sat)) NULL else tab(sat),
         vcovAdj = tryCatch(as.numeric(as.matrix(vcovAdj(m))), error = function(e) NULL))
}
"""


def _in_r(design: dict, small: str) -> dict:
    import rlive
    ro = rlive.robjects()
    df = design["data"]
    ordered = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype) and df[c].cat.ordered]
    return rlive._py(ro.r(_R)(rlive.to_r_frame(df), design["formula"], small, design["weights"],
                              ro.StrVector(ordered)))


def _compare(ours, theirs: dict | None, columns: list[str], what: str, tol: str) -> None:
    if theirs is None:
        return
    for c in columns:
        assert_close(ours[c].to_numpy(dtype=float), np.asarray(theirs[c], dtype=float), f"{what} {c}", **TOL[tol])


@pytest.mark.parametrize("seed", range(30))
def test_modcomp_random_design(seed):
    import mixedcompat as mc
    d = random_design(seed)
    small = "y ~ 1 + (" + d["formula"].split(" + (", 1)[1]
    r = _in_r(d, small)
    w = "w" if d["weights"] else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(d["formula"], d["data"], REML=True, weights=w,
                    control={"optimizer": None, "start": [float(v) for v in r["theta"]]})
        m0 = mc.lmer(small, d["data"], REML=True, weights=w)
        p = len(mc.fixef(m))
        L = (np.arange(p) == p - 1).astype(float)
        _compare(mc.KRmodcomp(m, m0).test, r["kr"], ["stat", "ddf", "F.scaling", "p.value"], "KR", "pbkr_live")
        _compare(mc.KRmodcomp(m, L).test, r["krL"], ["stat", "ddf", "F.scaling", "p.value"], "KR(L)",
                 "pbkr_live")
        _compare(mc.SATmodcomp(m, m0).test, r["sat"], ["statistic", "ddf", "p.value"], "SAT", "pbkr_live_sat")
        if r["vcovAdj"] is not None:
            want = np.asarray(r["vcovAdj"], dtype=float).reshape(p, p, order="F")
            assert_close(mc.vcovAdj(m).to_numpy(), want, "vcovAdj", scale=np.abs(want).max(), **TOL["pbkr_live"])
