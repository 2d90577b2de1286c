"""print(m) and print(summary(m)) of glmer fits compared with lme4 1.1-31's text, line by line.

Two kinds of comparison, as tests/test_printing.py does for lmer:

1. formatting alone: each fixture's R numbers are put in a stand-in fit (:class:`GlmerFixtureFit`)
   implementing the printing protocol of :mod:`mixedcompat.present.glmer_printing`; the text must equal
   R's (trailing blanks ignored). Fixtures: tests/fixtures/glmer_print/ (gen_glmer_print.R: layouts,
   messages, Control / Subset lines, p > 12) and tests/fixtures/glmer/ (gen_glmer.R, when present: every
   family and link);
2. our fits: ``mc.glmer`` on the fixture's data and call, printed; when our optimiser stopped at another
   point than lme4's (the house rule, tests/helpers.py), the text is that of our model evaluated at R's
   own parameters (theta, beta) -- our objective, PIRLS and residuals there, with lme4's derivatives at
   its optimum (see :func:`at_r_parameters`);
3. live R (``@pytest.mark.r``): random binomial (0/1, cbind) and Poisson designs (crossed terms, offsets,
   nAGQ 0 / 1 / 5) fitted by lme4 through rpy2, compared as in 2.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixedcompat as mc
from glmer_fixtures import family_arg
from helpers import FIXTURES, TOL, assert_close, assert_same_printout, load_fixture_data, theta_gap, theta_parted
from mixedcompat.front.formula import parse_formula
from mixedcompat.front.rlang import deparse, parse
from mixedcompat.glmer.fit import GlmerMod
from mixedcompat.glmer.stages import GlmerOpt
from mixedcompat.glmer.summary import GlmerSummary
from mixedcompat.lme4.convergence import Derivs, deriv12
from mixedcompat.present.glmer_printing import (control_text, family_lines, format_glmer_print,
                                                 format_glmer_summary, glmer_coef_table, glmer_optinfo,
                                                 method_title)
from mixedcompat.present.lme4_printing import deparse_lines, title_lines
from test_printing import LogLikValue, assert_same_text, varcorr_from_rows

PRINT_DIR = FIXTURES / "glmer_print"
GLMER_DIR = FIXTURES / "glmer"
PRINT_PATHS = sorted(PRINT_DIR.glob("*.json"))
GLMER_PATHS = sorted(GLMER_DIR.glob("*.json"))
STANDIN_PATHS = PRINT_PATHS + GLMER_PATHS
# our finite-difference Hessian is checked on these (each costs 2 p^2 objective evaluations)
HESSIAN_CASES = ("cbpp_cbind", "cbpp_nagq25", "bernoulli", "poisson_offset_arg", "subset")
# known differences of our fits, each a strict xfail (it fails loudly once fixed, so the mark is removed)
FIT_XFAIL: dict[str, str] = {}


FIT_PARAMS = [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=FIT_XFAIL[p.stem]))
              if p.stem in FIT_XFAIL else p for p in PRINT_PATHS]


def _load(path: pathlib.Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def _as_list(x) -> list:
    if x is None:
        return []
    return [x] if isinstance(x, (str, int, float)) else list(x)


def _standin_record(fx: dict) -> dict:
    """The numbers of a fixture in gen_glmer_print.R's layout (tests/fixtures/glmer/ is converted)."""
    ex, inp = fx["expected"], fx["input"]
    if "method_title" in ex:
        return ex
    dims = ex["devcomp"]["dims"]
    use_sc = bool(dims["useSc"])
    sigma = float(ex["sigma"])
    res = np.asarray(ex["residuals"]["pearson"], dtype=float) / (sigma if use_sc else 1.0)
    oi = ex["optinfo"]
    captured = _as_list(ex.get("warnings")) + _as_list(ex.get("messages"))
    return {
        "method_title": None, "family": ex["family"], "link": ex["link"], "nAGQ": ex["nAGQ"], "useScale": use_sc,
        "call": {"formula": None, "data": inp["data"], "weights": inp.get("weights"), "offset": inp.get("offset"),
                 "control": None, "subset": inp.get("subset")},
        "AICtab": {"AIC": ex["AIC"], "BIC": ex["BIC"], "logLik": ex["logLik"], "deviance": -2 * ex["logLik"],
                   "df.resid": ex["df_residual"]},
        "logLik": ex["logLik"], "logLik_df": ex["logLik_df"], "df_residual": ex["df_residual"], "sigma": sigma,
        "nobs": ex["nobs"], "ngrps": ex["ngrps"],
        "residuals_pearson_scaled": res.tolist() if int(ex["n_stored"]) == int(ex["nobs"]) else None,
        "varcorr": ex["varcorr"], "fixef": ex["fixef"], "vcov": ex["vcov"], "coefficients": None,
        "theta": ex["theta"], "beta": ex["beta"],
        "optinfo": {"optimizer": oi["optimizer"], "conv_opt": oi["conv_opt"], "message": oi["message"],
                    "warnings": _as_list(oi.get("warnings")), "lme4_messages": _as_list(oi.get("conv_messages"))},
        "fit_msgs": [w for w in captured if w.startswith("Some predictor variables are on very different scales")],
        "summary_text": ex["summary_text"], "print_text": ex["print_text"], "varcorr_text": ex["varcorr_text"],
    }


class GlmerFixtureFit:
    """A stand-in glmerMod built from R's numbers: implements the printing protocol only."""

    def __init__(self, fx: dict) -> None:
        ex = _standin_record(fx)
        inp = fx["input"]
        self.ex = ex
        self.formula = inp["formula"]
        self.parts = parse_formula(self.formula)
        self.nAGQ = int(ex["nAGQ"])
        self.REML = False
        self.family = SimpleNamespace(family=ex["family"], link=ex["link"])
        self.use_scale = bool(ex["useScale"])
        call = ex["call"]
        self.data_name, self.weights_name, self.offset_name = call["data"], call["weights"], call["offset"]
        self.control_name, self.subset_name = call["control"], call["subset"]
        self.df_residual = int(ex["df_residual"])
        oi = ex["optinfo"]
        self.optinfo = {"optimizer": oi["optimizer"], "conv": {"opt": oi["conv_opt"],
                                                               "lme4": {"messages": _as_list(oi["lme4_messages"])}},
                        "message": oi["message"], "warnings": _as_list(oi["warnings"]),
                        "fit_warnings": _as_list(ex["fit_msgs"])}
        self._varcorr = varcorr_from_rows(ex["varcorr"], ex["sigma"] if self.use_scale else None)

    def logLik(self) -> LogLikValue:
        return LogLikValue(self.ex["AICtab"]["logLik"], self.ex["logLik_df"])

    def AIC(self) -> float:
        return self.ex["AICtab"]["AIC"]

    def BIC(self) -> float:
        return self.ex["AICtab"]["BIC"]

    def residuals(self, type: str = "pearson", scaled: bool = True) -> np.ndarray:  # noqa: A002
        assert type == "pearson" and scaled
        res = self.ex["residuals_pearson_scaled"]
        return np.asarray(res if res is not None else [0.0], dtype=float)

    def VarCorr(self):
        return self._varcorr

    def ngrps(self) -> dict:
        return dict(self.ex["ngrps"])

    def nobs(self) -> int:
        return int(self.ex["nobs"])

    def _names(self) -> list[str]:
        return [str(n) for n in _as_list(self.ex["fixef"]["names"])]

    def fixef(self) -> pd.Series:
        return pd.Series(np.asarray(_as_list(self.ex["fixef"]["values"]), dtype=float), index=self._names())

    def vcov(self, use_hessian: bool | None = None) -> pd.DataFrame:
        names = self._names()
        v = np.asarray(self.ex["vcov"], dtype=float).reshape(len(names), len(names))
        return pd.DataFrame(v, index=names, columns=names)


def _skip_residual_lines(fit: GlmerFixtureFit, r_text: str) -> set[int]:
    if fit.ex["residuals_pearson_scaled"] is not None:
        return set()
    at = r_text.split("\n").index("Scaled residuals: ")
    return {at + 1, at + 2}


# ------------------------------------------------------------------ 1. formatting alone (R's numbers)

@pytest.mark.skipif(not STANDIN_PATHS, reason="no glmer printing fixtures (run tests/fixtures/gen_glmer_print.R)")
@pytest.mark.parametrize("path", STANDIN_PATHS, ids=[f"{p.parent.name}/{p.stem}" for p in STANDIN_PATHS])
def test_summary_text_from_r_numbers(path: pathlib.Path) -> None:
    fit = GlmerFixtureFit(_load(path))
    r_text = fit.ex["summary_text"]
    assert_same_text(format_glmer_summary(fit), r_text, f"{path.stem}: print(summary(m))",
                     _skip_residual_lines(fit, r_text))


@pytest.mark.skipif(not STANDIN_PATHS, reason="no glmer printing fixtures (run tests/fixtures/gen_glmer_print.R)")
@pytest.mark.parametrize("path", STANDIN_PATHS, ids=[f"{p.parent.name}/{p.stem}" for p in STANDIN_PATHS])
def test_print_text_from_r_numbers(path: pathlib.Path) -> None:
    fit = GlmerFixtureFit(_load(path))
    assert_same_text(format_glmer_print(fit), fit.ex["print_text"], f"{path.stem}: print(m)")


@pytest.mark.skipif(not STANDIN_PATHS, reason="no glmer printing fixtures (run tests/fixtures/gen_glmer_print.R)")
@pytest.mark.parametrize("path", STANDIN_PATHS, ids=[f"{p.parent.name}/{p.stem}" for p in STANDIN_PATHS])
def test_varcorr_text_from_r_numbers(path: pathlib.Path) -> None:
    fit = GlmerFixtureFit(_load(path))
    assert_same_text(str(fit.VarCorr()), fit.ex["varcorr_text"], f"{path.stem}: print(VarCorr(m))")


@pytest.mark.skipif(not PRINT_PATHS, reason="no glmer printing fixtures (run tests/fixtures/gen_glmer_print.R)")
@pytest.mark.parametrize("path", PRINT_PATHS, ids=[p.stem for p in PRINT_PATHS])
def test_coefficient_table_is_r_summary(path: pathlib.Path) -> None:
    fx = _load(path)
    ex = fx["expected"]
    table = glmer_coef_table(GlmerFixtureFit(fx))
    assert list(table.columns) == ex["coefficients"]["columns"]
    r_values = np.asarray(ex["coefficients"]["values"], dtype=float).reshape(table.shape)
    assert_close(table.to_numpy(), r_values, f"{path.stem}: summary(m)$coefficients", **TOL["table_from_fixture"])


@pytest.mark.skipif(not PRINT_PATHS, reason="no glmer printing fixtures (run tests/fixtures/gen_glmer_print.R)")
@pytest.mark.parametrize("path", PRINT_PATHS, ids=[p.stem for p in PRINT_PATHS])
def test_call_texts_are_r_deparse(path: pathlib.Path) -> None:
    """The formula, control and subset as R deparses them in the call (our rendering of the Python input)."""
    fx = _load(path)
    call, inp = fx["expected"]["call"], fx["input"]
    assert "\n".join(deparse_lines(inp["formula"])) == call["formula"]
    assert control_text(inp["control"]) == call["control"]
    if inp["subset"] is not None:
        assert " ".join(deparse(parse(inp["subset"]), 10**9)) == call["subset"]
    assert method_title(fx["expected"]["nAGQ"]) == fx["expected"]["method_title"]


# ------------------------------------------------------------------ 2. our fits (at R's optimum when parted)

def _fit(inp: dict, data: pd.DataFrame) -> GlmerMod:
    if inp["glmer_nb"]:
        if not hasattr(mc, "glmer_nb"):
            pytest.skip("glmer_nb is not available yet")
        return mc.glmer_nb(inp["formula"], data, weights=inp["weights"], offset=inp["offset"], subset=inp["subset"])
    return mc.glmer(inp["formula"], data, family=family_arg(inp["family"], inp["link"]), weights=inp["weights"], offset=inp["offset"],
                    subset=inp["subset"], nAGQ=inp["nAGQ"], control=inp["control"])


def at_r_parameters(m: GlmerMod, theta, beta, derivs: dict | None) -> GlmerMod:
    """``m``'s model evaluated at R's parameters: our objective (same stored linear predictor) and PIRLS at
    R's (theta, beta) (theta alone for nAGQ = 0), no optimisation, with lme4's ``deriv12`` output at that
    point (``derivs``: the Hessian behind vcov, the gradient behind checkConv's messages).

    R's derivatives, not ours: they are second differences of the objective with step 1e-4, so the last
    bits of each evaluation (ours agree with lme4's to ~1e-15 relative) are amplified 1e8-fold and the
    standard errors agree to ~5e-6 relative only -- enough to move a printed p-value's last digit on a
    near-tie.  Our own Hessian at R's parameters is compared at TOL["se"] in test_hessian_at_r_parameters.
    """
    theta = np.asarray(theta, dtype=float)
    obj = m.opt.objective
    par = theta if m.nAGQ == 0 else np.concatenate([theta, np.asarray(beta, dtype=float)])
    fval, state = obj.evaluate(par)
    d = None if derivs is None else Derivs(np.asarray(derivs["gradient"], dtype=float),
                                           np.asarray(derivs["Hessian"], dtype=float))
    opt = GlmerOpt(obj, par, fval, state, m.opt.stage1, m.opt.stage2, d, m.opt.lower)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GlmerMod(m.formula, m.parts, m.frame, m.terms, m.gdata, m.layout, opt, m.nAGQ, m.control,
                        list(m.optinfo["fit_warnings"]), m.call, m.data_name)


def model_at_r_optimum(m: GlmerMod, theta_r, beta_r, derivs_r: dict | None, what: str) -> GlmerMod:
    """The model whose text is compared with R's: ``m`` when its parameters are R's, else ``m``'s model at
    R's parameters.  For printing, any gap counts (not only TOL["theta_same_path"]): a theta of 1e-8
    against our 0 prints as ``1.304e-08`` against ``0``, and a p-value's last digit can move with 1e-6."""
    ours = np.concatenate([m.theta, m.beta])
    r = np.concatenate([np.asarray(theta_r, dtype=float), np.asarray(beta_r, dtype=float)])
    if np.array_equal(ours, r):
        return m
    print(f"{what}: parameters differ from R's by {theta_gap(ours, r):.3g} "
          f"({'parted' if theta_parted(ours, r) else 'same path'}): comparing at R's")
    return at_r_parameters(m, theta_r, beta_r, derivs_r)


_MODELS: dict[str, tuple] = {}


def model_to_compare(path: pathlib.Path) -> tuple[dict, GlmerMod]:
    """(fixture, model): our fit, or -- when its parameters differ from R's -- the model at R's."""
    key = str(path)
    if key not in _MODELS:
        fx = _load(path)
        inp, ex = fx["input"], fx["expected"]
        data = load_fixture_data(inp["data"], PRINT_DIR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = _fit(inp, data)
        _MODELS[key] = (fx, model_at_r_optimum(m, ex["theta"], ex["beta"], ex["derivs"], fx["name"]))
    return _MODELS[key]


@pytest.mark.skipif(not PRINT_PATHS, reason="no glmer printing fixtures (run tests/fixtures/gen_glmer_print.R)")
@pytest.mark.parametrize("path", FIT_PARAMS, ids=[p.stem for p in PRINT_PATHS])
def test_fit_summary_text(path: pathlib.Path) -> None:
    fx, m = model_to_compare(path)
    assert_same_printout(str(mc.summary(m)), fx["expected"]["summary_text"], f"{path.stem}: print(summary(m))")


@pytest.mark.skipif(not PRINT_PATHS, reason="no glmer printing fixtures (run tests/fixtures/gen_glmer_print.R)")
@pytest.mark.parametrize("path", [p for p in PRINT_PATHS if p.stem in HESSIAN_CASES],
                         ids=[p.stem for p in PRINT_PATHS if p.stem in HESSIAN_CASES])
def test_hessian_at_r_parameters(path: pathlib.Path) -> None:
    """Our own finite-difference Hessian at R's parameters gives R's standard errors (TOL["se"])."""
    fx, m = model_to_compare(path)
    par = np.concatenate([m.theta, m.beta])
    d = deriv12(m.opt.objective, par, fx=m.criterion)
    nt = len(m.theta)
    vh = np.linalg.inv(d.Hessian)[nt:, nt:]
    se = np.sqrt(np.diag(vh + vh.T))
    r_se = np.asarray(fx["expected"]["coefficients"]["values"], dtype=float).reshape(len(se), -1)[:, 1]
    assert_close(se, r_se, f"{path.stem}: standard errors from our Hessian at R's parameters", **TOL["se"])


@pytest.mark.skipif(not PRINT_PATHS, reason="no glmer printing fixtures (run tests/fixtures/gen_glmer_print.R)")
@pytest.mark.parametrize("path", FIT_PARAMS, ids=[p.stem for p in PRINT_PATHS])
def test_fit_print_text(path: pathlib.Path) -> None:
    fx, m = model_to_compare(path)
    assert_same_printout(str(m), fx["expected"]["print_text"], f"{path.stem}: print(m)")


# ------------------------------------------------------------------ units

def test_title_wraps_as_lme4() -> None:
    assert title_lines(method_title(1), "glmerMod") == [
        "Generalized linear mixed model fit by maximum likelihood (Laplace", "  Approximation) [glmerMod]"]
    assert title_lines(method_title(25), "glmerMod")[1] == "  Gauss-Hermite Quadrature, nAGQ = 25) [glmerMod]"
    assert title_lines("Linear mixed model fit by REML", "lmerMod") == ["Linear mixed model fit by REML ['lmerMod']"]


def test_family_line() -> None:
    assert family_lines(SimpleNamespace(family="Negative Binomial(2.0492)", link="log")) == [
        " Family: Negative Binomial(2.0492)  ( log )"]
    assert family_lines(SimpleNamespace(family="binomial", link=SimpleNamespace(name="probit"))) == [
        " Family: binomial  ( probit )"]


def test_control_text_renders_r_values() -> None:
    assert control_text(None) is None
    assert control_text({}) == "glmerControl()"
    assert control_text("ctrl") == "ctrl"
    assert control_text({"optimizer": ["bobyqa", "Nelder_Mead"], "check_conv_grad": "ignore",
                         "calc_derivs": False}) == (
        'glmerControl(optimizer = c("bobyqa", "Nelder_Mead"), check.conv.grad = "ignore", calc.derivs = FALSE)')


def test_optinfo_reads_last_stage() -> None:
    info = glmer_optinfo(SimpleNamespace(optinfo={"optimizer": ["bobyqa", "Nelder_Mead"], "message": "m",
                                                  "conv": {"opt": 4, "lme4": {"messages": ["a"]}},
                                                  "warnings": ["w"], "fit_warnings": []}))
    assert info == {"optimizer": "Nelder_Mead", "conv_code": 4, "messages": ["a"], "warnings": ["w"],
                    "message": "m", "fit_warnings": []}


def test_coef_table_with_scale_is_t_value_with_normal_p() -> None:
    class Fit:
        use_scale = True

        def fixef(self):
            return pd.Series([1.0, -3.0], index=["(Intercept)", "x"])

        def vcov(self, use_hessian=None):
            return pd.DataFrame(np.diag([0.25, 1.0]))

    table = glmer_coef_table(Fit())
    assert list(table.columns) == ["Estimate", "Std. Error", "t value", "Pr(>|z|)"]
    from scipy.stats import norm
    np.testing.assert_allclose(table["Pr(>|z|)"], 2 * norm.sf([2.0, 3.0]), **TOL["same_computation"])


def test_summary_object_and_ddf() -> None:
    path = PRINT_DIR / "cbpp_cbind.json"
    if not path.exists():
        pytest.skip("no glmer printing fixtures")
    fx, m = model_to_compare(path)
    s = mc.summary(m)
    assert isinstance(s, GlmerSummary)
    assert s.family == "binomial" and s.link == "logit" and not s.use_scale
    assert list(s.AICtab.index) == ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    assert_close(s.AICtab["deviance"], -2 * fx["expected"]["logLik"], "AICtab deviance", **TOL["criterion"])
    with pytest.warns(UserWarning, match="finite-difference Hessian\nand from RX differ"):   # lme4's, too
        rx = m.summary(use_hessian=False).coefficients["Std. Error"]
    hess = s.coefficients["Std. Error"]
    assert not np.allclose(rx, hess, rtol=1e-4)   # lme4 1.1-31 prints the Hessian's, not R_X's
    with pytest.raises(mc.DataError, match="lmerTest"):
        m.summary(ddf="Satterthwaite")


# ------------------------------------------------------------------ live R: random binomial / Poisson designs

_R_GLMER_PRINT = r"""
function(d, formula, family, nAGQ, use_off) {
    call <- if (use_off)
        substitute(lme4::glmer(FORM, data = d, family = FAM, offset = off, nAGQ = K),
                   list(FORM = as.formula(formula), FAM = as.name(family), K = nAGQ))
    else substitute(lme4::glmer(FORM, data = d, family = FAM, nAGQ = K),
                    list(FORM = as.formula(formula), FAM = as.name(family), K = nAGQ))
    m <- suppressWarnings(suppressMessages(eval(call)))
    txt <- function(x) paste(capture.output(print(x), type = "output"), collapse = "\n")
    msg <- function(x) { out <- character(); con <- textConnection("out", "w", local = TRUE)
        sink(con); sink(con, type = "message"); print(x); sink(type = "message"); sink(); close(con)
        paste(out, collapse = "\n") }
    h <- m@optinfo$derivs
    list(summary_text = msg(summary(m)), print_text = txt(m),
         theta = unname(getME(m, "theta")), beta = unname(getME(m, "beta")),
         gradient = if (is.null(h)) NULL else as.numeric(h$gradient),
         Hessian = if (is.null(h)) NULL else as.numeric(t(h$Hessian)))
}
"""


@dataclasses.dataclass(frozen=True)
class GlmmDesign:
    """A random binomial / Poisson design; the numbers come from ``seed``."""
    seed: int
    response: str          # "bernoulli", "cbind", "poisson"
    n_groups: int
    per: int
    crossed: bool          # a second, crossed grouping factor
    factor_covariate: bool
    offset: bool           # Poisson only
    nAGQ: int
    sd_g: float

    def formula(self) -> str:
        lhs = {"bernoulli": "y", "cbind": "cbind(s, n - s)", "poisson": "cnt"}[self.response]
        fixed = " + ".join(["x"] + (["f"] if self.factor_covariate else []))
        re_ = "(1 | g)" + (" + (1 | h)" if self.crossed else "")
        return f"{lhs} ~ {fixed} + {re_}"

    def family(self) -> str:
        return "poisson" if self.response == "poisson" else "binomial"

    def data(self) -> pd.DataFrame:
        rng = np.random.default_rng(self.seed)
        n = self.n_groups * self.per
        g = np.repeat(np.arange(self.n_groups), self.per)
        h = rng.integers(0, 5, size=n)
        x = np.round(rng.normal(size=n), 3)
        f = rng.integers(0, 3, size=n)
        eta = 0.3 + 0.7 * x + np.array([0.0, 0.5, -0.4])[f] * self.factor_covariate
        eta = eta + rng.normal(0, self.sd_g, self.n_groups)[g] + self.crossed * rng.normal(0, 0.5, 5)[h]
        off = np.round(np.log(rng.uniform(0.5, 3.0, size=n)), 6)
        trials = rng.integers(1, 12, size=n)
        df = pd.DataFrame({
            "x": x, "f": pd.Categorical.from_codes(f, ["a", "b", "c"]),
            "g": pd.Categorical.from_codes(g, [f"G{i + 1:02d}" for i in range(self.n_groups)]),
            "h": pd.Categorical.from_codes(h, [f"H{i + 1}" for i in range(5)]),
            "off": off, "n": trials.astype(float),
            "y": rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float),
            "s": rng.binomial(trials, 1 / (1 + np.exp(-eta))).astype(float),
            "cnt": rng.poisson(np.exp(eta + (off if self.offset else 0.0))).astype(float),
        })
        df.attrs["name"] = "d"
        return df


@st.composite
def glmm_designs(draw) -> GlmmDesign:
    response = draw(st.sampled_from(["bernoulli", "cbind", "poisson"]))
    crossed = draw(st.booleans())
    return GlmmDesign(seed=draw(st.integers(0, 2**32 - 1)), response=response,
                      n_groups=draw(st.integers(5, 15)), per=draw(st.integers(4, 12)), crossed=crossed,
                      factor_covariate=draw(st.booleans()),
                      offset=response == "poisson" and draw(st.booleans()),
                      nAGQ=draw(st.sampled_from([1, 1, 0] + ([] if crossed else [5]))),
                      sd_g=draw(st.sampled_from([0.0, 0.4, 1.2])))


def compare_printout_with_r(design: GlmmDesign) -> None:
    from rlive import robjects, to_r_frame, _py
    ro = robjects()
    df = design.data()
    fn = ro.r(_R_GLMER_PRINT)
    r = _py(fn(to_r_frame(df), design.formula(), design.family(), design.nAGQ, design.offset))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.glmer(design.formula(), df, family=design.family(), nAGQ=design.nAGQ,
                     offset="off" if design.offset else None)
    derivs = None
    if r["Hessian"] is not None:
        k = len(r["gradient"])
        derivs = {"gradient": r["gradient"], "Hessian": np.asarray(r["Hessian"], dtype=float).reshape(k, k)}
    what = f"{design}"
    m = model_at_r_optimum(m, r["theta"], r["beta"], derivs, what)
    assert_same_printout(str(m), "\n".join(r["print_text"]), f"{what}: print(m)")
    assert_same_printout(str(mc.summary(m)), "\n".join(r["summary_text"]), f"{what}: print(summary(m))")


@pytest.mark.r
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(glmm_designs())
def test_random_designs_print_as_lme4(design: GlmmDesign) -> None:
    compare_printout_with_r(design)
