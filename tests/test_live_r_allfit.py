"""lme4's optimizers by name against live lme4 on random designs (tests/random_designs.py): with
``lmerControl(optimizer = ..., optCtrl = ...)`` in R and the same ``control`` here, each
optimizer's criterion is at most R's + TOL["criterion_above"] (relative), and where R stops with
an error, so do we (a DataError / FormulaError).  optimx runs only where R has the optimx package."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedcompat as mc
from helpers import check_criterion
from random_designs import draw_design

pytestmark = pytest.mark.r

RUNS = [("bobyqa", {}), ("Nelder_Mead", {}), ("nloptwrap", {"algorithm": "NLOPT_LN_NELDERMEAD"}),
        ("optimx", {"method": "L-BFGS-B"})]
N_DESIGNS = 8

_R_FIT = r"""
function(d, formula, REML, use_w, use_off, optimizer, ctrl) {
    if (optimizer == "optimx" && !requireNamespace("optimx", quietly = TRUE)) return(list(skip = TRUE))
    ctl <- lme4::lmerControl(optimizer = optimizer, optCtrl = as.list(ctrl))
    fit <- tryCatch(suppressMessages(suppressWarnings({
        f <- as.formula(formula)
        if (use_w && use_off) lme4::lmer(f, data = d, REML = REML, weights = w, offset = off, control = ctl)
        else if (use_w) lme4::lmer(f, data = d, REML = REML, weights = w, control = ctl)
        else if (use_off) lme4::lmer(f, data = d, REML = REML, offset = off, control = ctl)
        else lme4::lmer(f, data = d, REML = REML, control = ctl)
    })), error = function(e) e)
    if (inherits(fit, "error")) return(list(error = conditionMessage(fit)))
    list(criterion = if (REML) lme4::REMLcrit(fit) else deviance(fit), theta = unname(lme4::getME(fit, "theta")),
         conv = fit@optinfo$conv$opt)
}
"""


def _r_fit(df, design, optimizer, opt_ctrl):
    import rlive
    ro = rlive.robjects()
    fun = ro.r(_R_FIT)
    ctrl = ro.ListVector({k: v for k, v in opt_ctrl.items()}) if opt_ctrl else ro.r("list()")
    out = fun(rlive.to_r_frame(df), design.formula(), design.REML, design.weights != "none",
              design.offset == "argument", optimizer, ctrl)
    res = dict(zip(out.names, [list(v) for v in out]))
    return {k: (v[0] if len(v) == 1 else v) for k, v in res.items()}


@pytest.mark.parametrize("seed", range(N_DESIGNS))
@pytest.mark.parametrize("run", RUNS, ids=[r[0] + ("_" + "_".join(r[1].values()) if r[1] else "") for r in RUNS])
def test_optimizer_criterion_not_above_lme4(seed, run):
    optimizer, opt_ctrl = run
    design = draw_design(1000 + seed, max_rows=400)
    df = design.data()
    r = _r_fit(df, design, optimizer, opt_ctrl)
    if r.get("skip"):
        pytest.skip("R has no optimx package here")
    control = {"optimizer": optimizer, "optCtrl": dict(opt_ctrl)}
    if "error" in r:
        with pytest.raises((mc.DataError, mc.FormulaError)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mc.lmer(design.formula(), df, REML=design.REML, weights=design.weights_arg(),
                        offset=design.offset_arg(), control=control)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(design.formula(), df, REML=design.REML, weights=design.weights_arg(),
                    offset=design.offset_arg(), control=control)
    ours = m.REMLcrit() if m.REML else m.deviance()
    check_criterion(ours, float(r["criterion"]), f"{design.formula()} [{optimizer}]")
    assert m.optinfo["optimizer"] == optimizer
    assert np.all(np.isfinite(m.theta))
