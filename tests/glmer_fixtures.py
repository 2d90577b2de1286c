"""lme4's glmer golden masters (tests/fixtures/glmer, written by gen_glmer.R): loading, the model each
fixture describes as an ``mc.glmer`` / ``mc.glmer_nb`` call, and the optimum rule for glmer fits.

The layout of the fixtures is in tests/fixtures/glmer/README.md.  Test files import from here
(``from glmer_fixtures import ...``); the tolerances are helpers' ``TOL`` (``glmer_*`` entries).

The optimum rule for glmer (as helpers' for lmer, with beta a parameter of the outer optimiser too):

1. the objective (``-2 logLik``): ours at most R's + ``TOL["criterion_above"]`` relative -- lower passes;
2. theta and beta: when ours are within ``TOL["glmer_theta"]`` (absolute) and ``TOL["glmer_beta"]``
   (in standard errors) of R's, the two optimisers stopped at the same optimum up to lme4's own stopping
   noise (measured by gen_glmer.R's refit from a perturbed start), and our fit is compared as it is;
3. otherwise (a flat objective, or lme4 stopping early with a convergence warning) everything downstream
   of the parameters is compared on our model evaluated at R's own (theta, beta), without optimising
   (:func:`glmer_at_params`).
"""
from __future__ import annotations

import json
import pathlib
import warnings
from typing import Any

import numpy as np
import pandas as pd

from helpers import FIXTURES, TOL, load_fixture_data

GLMER_DIR = FIXTURES / "glmer"
BAD_INPUT_DIR = GLMER_DIR / "bad_input"

# R's default link of each family (a fixture with this link passes the family as R's name, a string)
DEFAULT_LINKS = {"binomial": "logit", "poisson": "log", "Gamma": "inverse", "inverse.gaussian": "1/mu^2",
                 "gaussian": "identity", "negative.binomial": "log"}
# R's family name -> the constructor's name in mc.family
FAMILY_CONSTRUCTORS = {"binomial": "binomial", "poisson": "poisson", "Gamma": "Gamma",
                       "inverse.gaussian": "inverse_gaussian", "gaussian": "gaussian"}

# every field a model fixture holds (the schema of tests/fixtures/glmer/README.md)
INPUT_FIELDS = ("data", "formula", "family", "link", "glmer_nb", "weights", "offset", "nAGQ", "subset",
                "na_action", "r_call")
EXPECTED_FIELDS = (
    "nAGQ", "family", "link", "objective", "minus2logLik", "logLik", "logLik_df", "AIC", "BIC", "deviance",
    "df_residual", "sigma", "nobs", "ngrps", "fixef", "beta", "se", "vcov", "se_rx", "vcov_rx", "theta",
    "theta_names", "lower", "glmer_nb_theta", "varcorr", "ranef", "coef", "n_stored", "rows_used", "fitted",
    "residuals", "predict", "newdata", "predict_newdata", "isSingular", "devcomp", "warnings", "messages",
    "optinfo", "objective_nagq0", "objective_nagqk", "objective_nagqk_k", "stage1", "refit_perturbed",
    "summary_text", "print_text", "varcorr_text")
RESIDUAL_TYPES = ("deviance", "pearson", "response", "working")
PREDICT_KINDS = ("link", "response", "link_population")
OPTINFO_FIELDS = ("optimizer", "feval", "message", "conv_opt", "conv_lme4_code", "conv_messages", "warnings",
                  "derivs")
REFIT_FIELDS = ("start_theta", "theta", "beta", "objective", "feval", "se", "se_rx", "eta_max_abs_diff",
                "fitted_max_rel_diff", "ranef_max_abs_diff", "postvar_max_rel_diff")
BAD_INPUT_FIELDS = ("name", "meta", "what", "input", "expected")


def glmer_paths() -> list[pathlib.Path]:
    """The model fixtures, sorted."""
    return sorted(GLMER_DIR.glob("*.json"))


def bad_input_paths() -> list[pathlib.Path]:
    """The bad-input fixtures (lme4's messages), sorted."""
    return sorted(BAD_INPUT_DIR.glob("*.json"))


_JSON: dict[str, dict] = {}


def load_glmer_fixture(path: pathlib.Path) -> dict:
    key = str(path)
    if key not in _JSON:
        with open(path, encoding="utf-8") as fh:
            _JSON[key] = json.load(fh)
    return _JSON[key]


_DATA: dict[str, pd.DataFrame] = {}


def glmer_data(stem: str) -> pd.DataFrame:
    """A fixture's data set (tests/fixtures/glmer/data/<stem>.csv with R's column types); a fresh copy."""
    if stem not in _DATA:
        _DATA[stem] = load_fixture_data(stem, root=GLMER_DIR)
    df = _DATA[stem].copy()
    df.attrs["name"] = stem
    return df


def family_arg(family: str, link: str) -> Any:
    """The ``family=`` argument for ``mc.glmer``: R's family name when the link is its default, else
    ``mc.family.<family>(link=link)``."""
    if DEFAULT_LINKS.get(family) == link:
        return family
    import mixedcompat as mc
    return getattr(mc.family, FAMILY_CONSTRUCTORS[family])(link=link)


def glmer_args(inp: dict) -> dict:
    """Keyword arguments of ``mc.glmer`` (or ``mc.glmer_nb``) for a fixture's ``input``, without data."""
    kw: dict[str, Any] = {"formula": inp["formula"], "weights": inp.get("weights"), "offset": inp.get("offset")}
    if not inp.get("glmer_nb"):
        kw["family"] = family_arg(inp["family"], inp["link"])
        kw["nAGQ"] = inp["nAGQ"]
    return kw


def fit_input(inp: dict, data: pd.DataFrame, **extra):
    """Fit a fixture's model (``glmer_nb`` for glmer.nb fixtures) with extra keyword arguments."""
    import mixedcompat as mc
    kw = glmer_args(inp)
    kw.update(extra)
    formula = kw.pop("formula")
    if inp.get("glmer_nb"):
        return mc.glmer_nb(formula, data, **kw)
    return mc.glmer(formula, data, **kw)


def fixed_family_input(fx: dict) -> dict:
    """The fixture's input with the family made fixed: for glmer.nb, ``glmer`` with
    ``negative.binomial(theta = lme4's estimate)`` (what gen_glmer.R evaluates the fixed-parameter
    objectives, stage 1 and the perturbed refit on); other fixtures unchanged."""
    inp = dict(fx["input"])
    if inp.get("glmer_nb"):
        inp["glmer_nb"] = False
        inp["nb_theta"] = fx["expected"]["glmer_nb_theta"]
    return inp


def _family_for(inp: dict) -> Any:
    if "nb_theta" in inp:
        import mixedcompat as mc
        return mc.family.negative_binomial(theta=inp["nb_theta"])
    return family_arg(inp["family"], inp["link"])


def devfun_of(fx: dict, nAGQ: int):
    """``mc.glmer(..., nAGQ=nAGQ, devFunOnly=True)`` for the fixture's model (family fixed as in
    :func:`fixed_family_input`): the objective as a function of theta (nAGQ = 0) or (theta, beta)."""
    import mixedcompat as mc
    inp = fixed_family_input(fx)
    data = glmer_data(inp["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.glmer(inp["formula"], data, family=_family_for(inp), weights=inp.get("weights"),
                        offset=inp.get("offset"), nAGQ=nAGQ, devFunOnly=True)


_FITS: dict[str, Any] = {}


def fit_glmer_fixture(path: pathlib.Path):
    """(fixture, model, warning messages, warning categories) of the fixture's fit (cached per session)."""
    key = str(path)
    if key not in _FITS:
        fx = load_glmer_fixture(path)
        data = glmer_data(fx["input"]["data"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = fit_input(fx["input"], data)
        _FITS[key] = (fx, m, [str(w.message) for w in caught], [w.category for w in caught])
    return _FITS[key]


# ------------------------------------------------------------------------------------------------
# the optimum rule

def at_params(theta, beta) -> dict:
    """``control`` and ``start`` of a glmer evaluated at (theta, beta) without optimising (as lmer's
    ``lmerControl(optimizer = NULL)``): ``{"control": ..., "start": ...}`` keyword arguments."""
    return {"control": {"optimizer": None},
            "start": {"theta": [float(v) for v in np.ravel(theta)], "fixef": [float(v) for v in np.ravel(beta)]}}


def glmer_at_params(inp: dict, data: pd.DataFrame, theta, beta):
    """The model of ``inp`` evaluated at (theta, beta), no optimiser (for glmer.nb, at lme4's NB theta)."""
    import mixedcompat as mc
    if inp.get("glmer_nb"):
        raise ValueError("glmer_at_params takes a fixed-family input (fixed_family_input)")
    kw = at_params(theta, beta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.glmer(inp["formula"], data, family=_family_for(inp), weights=inp.get("weights"),
                        offset=inp.get("offset"), nAGQ=inp["nAGQ"], **kw)


def param_gaps(m, e: dict) -> tuple[float, float]:
    """(largest |theta - R's theta|, largest |beta - R's beta| in R's standard errors)."""
    theta = np.ravel(np.asarray(m.theta, dtype=float))
    beta = np.ravel(np.asarray(m.beta, dtype=float))
    th_r, b_r, se = (np.asarray(e[k], dtype=float) for k in ("theta", "beta", "se"))
    assert theta.shape == th_r.shape and beta.shape == b_r.shape, "parameter vectors differ in length from R's"
    return (float(np.max(np.abs(theta - th_r), initial=0.0)),
            float(np.max(np.abs(beta - b_r) / se, initial=0.0)))


def params_parted(m, e: dict) -> bool:
    """True when our optimum is not R's up to lme4's own stopping noise (helpers' TOL glmer_theta /
    glmer_beta), or (glmer.nb) our NB theta is not lme4's to TOL glmer_nb_theta."""
    dth, db = param_gaps(m, e)
    parted = dth > TOL["glmer_theta"]["atol"] or db > TOL["glmer_beta"]["atol"]
    if e.get("glmer_nb_theta") is not None:
        nb = float(m.getME("glmer.nb.theta"))
        parted = parted or abs(nb - e["glmer_nb_theta"]) > TOL["glmer_nb_theta"]["rtol"] * e["glmer_nb_theta"]
    return parted


# lines a model fitted at R's parameters (no optimiser run: ``optimizer = NULL``) prints about that
# stand-in's own optimisation, which R's fit does not have: its Control line, the optimiser's code and
# the convergence check of derivatives taken there (optimiser results are tested on our own fit)
STAND_IN_LINES = ("Control: glmerControl(optimizer = NULL)", "optimizer (none) convergence code",
                  "Model failed to converge with max|grad|", "Model is nearly unidentifiable")


def printout_of_compared(m, text: str, r_text: str) -> str:
    """``text`` printed by the model of :func:`glmer_model_to_compare`: when that is the stand-in at R's
    parameters, without the :data:`STAND_IN_LINES` R's printout does not have."""
    if id(m) not in _STAND_INS:
        return text
    keep = [ln for ln in text.split("\n")
            if not (ln.startswith(STAND_IN_LINES) and ln not in r_text.split("\n"))]
    return "\n".join(keep)


_STAND_INS: set = set()


def glmer_model_to_compare(path: pathlib.Path, same_path: bool = False):
    """(fixture, model) for everything downstream of the parameters: our fit, or -- when it parted from
    R's optimum -- the fixture's model at R's (theta, beta) (glmer.nb: at lme4's NB theta too).

    ``same_path=True`` (printed output) also takes R's parameters when our optimiser took another number
    of evaluations than lme4's: its path parted from lme4's at rounding level and stopped at its own
    point of the flat optimum, where the finite-difference Hessian (standard errors, z values, the
    correlations printed to three decimals) differs from lme4's at the level of that noise."""
    fx, m, *_ = fit_glmer_fixture(path)
    e = fx["expected"]
    other_path = same_path and int(m.optinfo["feval"]) != int(e["optinfo"]["feval"])
    if not (params_parted(m, e) or other_path):
        return fx, m
    key = str(path) + "@R-params"
    if key not in _FITS:
        dth, db = param_gaps(m, e)
        print(f"{path.stem}: optimum parted from R's (theta by {dth:.3g}, beta by {db:.3g} SE): "
              "comparing at R's parameters")
        inp = fixed_family_input(fx)
        _FITS[key] = glmer_at_params(inp, glmer_data(inp["data"]), e["theta"], e["beta"])
        _STAND_INS.add(id(_FITS[key]))
    return fx, _FITS[key]


# ------------------------------------------------------------------------------------------------
# newdata and bad input

def newdata_of(fx: dict) -> pd.DataFrame:
    """The fixture's newdata: rows ``newdata.rows`` of its data, with every grouping column of row
    ``new_level_row`` set to the new level (added to the Categorical's levels)."""
    spec = fx["expected"]["newdata"]
    nd = glmer_data(fx["input"]["data"]).iloc[spec["rows"]].reset_index(drop=True)
    for col in spec["new_level_columns"]:
        s = nd[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.cat.add_categories([spec["new_level"]])
        else:
            s = s.astype(object)
        s.iloc[spec["new_level_row"]] = spec["new_level"]
        nd[col] = s
    return nd


def bad_input_data(fx: dict) -> pd.DataFrame:
    """The data of a bad-input case: its data set plus the derived (bad on purpose) columns, computed
    from the R expressions in ``input.python.derived``."""
    df = glmer_data(fx["input"]["data"])
    derived = (fx["input"].get("python") or {}).get("derived") or {}
    for col, expr in derived.items():
        df[col] = df.eval(expr)
    return df


def bad_input_call(fx: dict):
    """Run ``mc.glmer`` on a bad-input case; returns the model (the exception propagates)."""
    import mixedcompat as mc
    inp = fx["input"]
    fam_r = inp["family_r"]
    return mc.glmer(inp["formula"], bad_input_data(fx), family=family_from_r(fam_r), weights=inp.get("weights"),
                    nAGQ=inp["nAGQ"])


def family_from_r(text: str) -> Any:
    """R's family argument text (``binomial``, ``"binomal"``, ``binomial(link = "probit")``,
    ``binomial(link = sqrt)``) as ``mc.glmer``'s ``family=``: a bare or quoted name is the string; a call
    is ``mc.family.<name>(link=...)``.  R's family functions treat the two spellings of a link
    differently: a string goes to ``make.link`` (any link R knows is accepted, ``binomial(link = "sqrt")``
    fits and fails later), a bare name must be one of the family's own links (``binomial(link = sqrt)``
    stops at once) -- the latter is ``strict_link=True``."""
    import re
    t = text.strip()
    if re.fullmatch(r'"[^"]*"', t):
        return t[1:-1]
    m = re.fullmatch(r'([\w.]+)\(link = ("?)([^")]*)"?\)', t)
    if m is None:
        return t
    import mixedcompat as mc
    name, quoted, link = m.group(1), m.group(2), m.group(3)
    ctor = getattr(mc.family, FAMILY_CONSTRUCTORS.get(name, name))
    return ctor(link=link) if quoted else ctor(link=link, strict_link=True)


def rows_r(e: dict, key: str) -> np.ndarray:
    """A stored matrix (list of rows) as a 2-d array."""
    return np.asarray(e[key], dtype=float)
