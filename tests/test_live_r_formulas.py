"""Live comparison with lme4 of the formula and data stages: random formulas fitted here and in R.

Each case draws (from a fixed seed) a response (``y`` or ``log(y)``), fixed-effects terms from a pool
of R's formula classes (``poly()``, ``log()``, ``I()``, ``scale()``, interactions without their main
effects, factors), random-effects terms with and without parentheses, and missing values in several
columns.  R fits it with lme4; ours is built at R's theta (``control={"optimizer": None, "start": R's
theta}``) so that the optimiser does not enter, and compared on what the formula and data stages
decide: the rows used (nobs), the fixed-effects model matrix (column names and values, after lme4's
rank check), the random-effects matrix Z (column names = level labels, values), the grouping
factors and their column names, and the fixed effects and criterion at R's theta.

Marked ``r``: skipped (with the reason) when R or rpy2 is missing.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedcompat as mc
from helpers import TOL

pytestmark = pytest.mark.r

_R_FORMULA_FIT = r"""
function(d, formula) {
    fit <- tryCatch(suppressWarnings(suppressMessages(lme4::lmer(as.formula(formula), data = d, REML = TRUE))),
                    error = function(e) e)
    if (inherits(fit, "error")) return(list(error = conditionMessage(fit)))
    X <- getME(fit, "X"); Z <- as.matrix(getME(fit, "Z"))
    list(error = NULL, nobs = nobs(fit), x_names = colnames(X), X = as.numeric(t(X)),
         z_names = colnames(Z), Z = as.numeric(t(Z)), z_ncol = ncol(Z),
         flist = names(getME(fit, "flist")),
         cnms_groups = names(getME(fit, "cnms")), cnms = unname(lapply(getME(fit, "cnms"), as.character)),
         criterion_no_x = with(as.list(getME(fit, "devcomp")$cmp),
                               ldL2 + nobs(fit) * (1 + log(2 * pi * pwrss / nobs(fit)))),
         theta = unname(getME(fit, "theta")), fixef = unname(fixef(fit)), criterion = REMLcrit(fit),
         rows = as.integer(rownames(model.frame(fit))))
}
"""

FIXED_POOL = ("x", "log(x)", "poly(x, 2)", "I(x^2)", "scale(z)", "f", "f:x", "x:z", "f:f2", "log(x + 1)",
              "I(z * 2)", "poly(z, 3)", "f2:z", "scale(x, scale = FALSE)", "exp(z/4)", "sqrt(x)")
RANDOM_POOL = ("(1 | g)", "(x | g)", "(x || g)", "(1 | g) + (1 | h)", "(1 | g:h)", "(1 + scale(z) | g)",
               "(log(x) | g)", "(0 + f2 | g)", "(1 | g/h)", "(I(x/10) || h)", "(1 | h) + (0 + z | g)")
BARE_BARS = ("x | g", "1 | g", "scale(z) | g", "x || g", "1 | g/h", "0 + log(x) | g")
N_CASES = 36


def _data(rng: np.random.Generator) -> pd.DataFrame:
    n = int(rng.integers(90, 160))
    g = rng.integers(0, 12, n)
    h = rng.integers(0, 5, n)
    x = rng.uniform(0.2, 9.0, n)
    z = rng.normal(0.0, 2.0, n)
    f = rng.choice(["lo", "mid", "hi"], n)
    f2 = rng.choice(["a", "b"], n)
    u = rng.normal(0.0, 0.3, 12)[g]
    y = np.exp(1.0 + 0.1 * x + 0.05 * z + u + rng.normal(0.0, 0.2, n))
    d = pd.DataFrame({"y": y, "x": x, "z": z,
                      "f": pd.Categorical(f, categories=["lo", "mid", "hi"]),
                      "f2": f2.astype(object),
                      "g": pd.Categorical([f"g{k:02d}" for k in g]),
                      "h": pd.Categorical([f"h{k}" for k in h])})
    for col in rng.choice(["y", "x", "z", "f", "f2", "g"], size=int(rng.integers(0, 4)), replace=False):
        rows = rng.choice(n, size=int(rng.integers(1, 6)), replace=False)
        d[col] = d[col].astype(object) if col == "f2" else d[col]
        d.loc[rows, col] = np.nan if col in ("y", "x", "z") else None
    return d


def _formula(rng: np.random.Generator) -> str:
    response = "log(y)" if rng.random() < 0.3 else "y"
    if rng.random() < 0.2:
        return f"{response} ~ {BARE_BARS[int(rng.integers(len(BARE_BARS)))]}"
    k = int(rng.integers(0, 4))
    fixed = [FIXED_POOL[i] for i in rng.choice(len(FIXED_POOL), size=k, replace=False)]
    if rng.random() < 0.15:
        fixed.append("0")
    random = RANDOM_POOL[int(rng.integers(len(RANDOM_POOL)))]
    return f"{response} ~ " + " + ".join(fixed + [random])


def _r_frame(d: pd.DataFrame):
    """The data in R: numbers as doubles (NaN -> NA), Categoricals as factors with the same levels,
    object columns as character vectors (R's factor() in model.frame sorts them as we do)."""
    from rlive import robjects
    ro = robjects()
    cols = {}
    for name in d.columns:
        s = d[name]
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels = [str(c) for c in s.cat.categories]
            vals = ro.StrVector([levels[c] if c >= 0 else ro.NA_Character for c in s.cat.codes.to_numpy()])
            cols[name] = ro.r["factor"](vals, levels=ro.StrVector(levels))
        elif s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            cols[name] = ro.StrVector([ro.NA_Character if v is None or (isinstance(v, float) and math.isnan(v))
                                       else str(v) for v in s])
        else:
            cols[name] = ro.FloatVector([ro.NA_Real if math.isnan(v) else float(v) for v in s.to_numpy(float)])
    return ro.DataFrame(cols)


def _r_fit(d: pd.DataFrame, formula: str) -> dict:
    from rlive import _py, robjects
    ro = robjects()
    fun = ro.r(_R_FORMULA_FIT)
    out = _py(fun(_r_frame(d), formula))
    err = out.get("error")
    out["error"] = err[0] if err else None
    return out


def _our_z_names(m) -> list[str]:
    return [lv for t in m.terms for lv in t.levels for _ in t.names]


@pytest.mark.parametrize("case", range(N_CASES))
def test_random_formula_stages_match_lme4(case):
    pytest.importorskip("rpy2", reason="rpy2 is not installed")
    rng = np.random.default_rng(9000 + case)
    d = _data(rng)
    formula = _formula(rng)
    r = _r_fit(d, formula)
    if r["error"] is not None:
        with pytest.raises((mc.DataError, mc.FormulaError)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mc.lmer(formula, d)
        return
    theta_r = np.asarray(r["theta"], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(formula, d, control={"optimizer": None, "start": list(theta_r)})
    context = f"case {case}: {formula}"
    assert m.nobs() == int(r["nobs"][0]), context
    np.testing.assert_array_equal(np.asarray(m.frame.rows) + 1, np.asarray(r["rows"], dtype=int), err_msg=context)
    x_names = r["x_names"] or []
    assert list(m.fixef().index) == x_names, context
    X_r = np.asarray(r["X"] or [], dtype=float).reshape(m.nobs(), len(x_names))
    np.testing.assert_allclose(m.frame.X, X_r, **TOL["model_matrix"], err_msg=context)
    assert list(mc.ngrps(m)) == r["flist"], context
    # getME(m, "cnms") is a dict here (a repeated factor, as from '||', gets a ".1" key); R's list
    # repeats the name: compare each term's factor and column names in lme4's order
    assert [t.group for t in m.terms] == r["cnms_groups"], context
    r_cnms = r["cnms"] if isinstance(r["cnms"], list) else list(r["cnms"].values())
    assert [list(t.names) for t in m.terms] == [list(v) for v in r_cnms], context
    assert _our_z_names(m) == r["z_names"], context
    Z = mc.getME(m, "Z").toarray()
    np.testing.assert_allclose(Z, np.asarray(r["Z"], dtype=float).reshape(Z.shape), **TOL["model_matrix"],
                               err_msg=context)
    criterion_r = r["criterion"][0]
    if not x_names:
        # lme4 1.1-31 adds log|R_X|^2 to the REML criterion also when there is no fixed effect, read from
        # memory it never set (seen: 0, 1e-309, 1.0, NaN on the same data): the determined value is without it,
        # R's own log|L|^2 and penalised RSS at its theta
        criterion_r = r["criterion_no_x"][0]
    np.testing.assert_allclose(m.REMLcrit(), criterion_r, **TOL["objective_at"], err_msg=context)
    fixef_scale = max(1.0, float(np.max(np.abs(r["fixef"] or [0.0]))))
    np.testing.assert_allclose(m.fixef().to_numpy(), np.asarray(r["fixef"] or [], dtype=float), **TOL["fixef"],
                               atol=TOL["fixef_stage_floor"]["atol"] * fixef_scale, err_msg=context)
