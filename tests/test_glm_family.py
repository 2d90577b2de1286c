"""GLM links, families, responses, Gauss-Hermite rules and theta.ml (mixedcompat/glm) against R's
fixtures (tests/fixtures/gen_glm_family.R): lme4 1.1-31's C++ family functions (glmFamily$new),
R's make.link, lme4's mkRespMod with family$initialize, glmer's messages, lme4::GHrule and
MASS::theta.ml.

Everything here is closed form (no optimiser): numbers agree to rounding (TOL["glm_family"]).
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from glm_checks import dev_term_size, same_up_to_cancellation
from helpers import FIXTURES, TOL, assert_close
from mixedcompat.errors import DataError, FormulaError
from mixedcompat.glm import families as fams
from mixedcompat.glm.families import Family, family_of, negative_binomial, nb_family_name
from mixedcompat.glm.gauss_hermite import GHrule
from mixedcompat.glm.links import LINK_NAMES, make_link
from mixedcompat.glm.negbin import est_theta, theta_ml
from mixedcompat.glm.response import glm_response

DIR = FIXTURES / "glm_family"


def _load(name: str) -> dict:
    with open(DIR / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)


def num(values) -> np.ndarray:
    """A fixture's exact number text ("%.17g", "Inf", "NaN"; null = NA) as floats."""
    if values is None:
        return np.zeros(0)
    if isinstance(values, (str, int, float)):
        values = [values]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def same(ours, theirs, what: str, tol: str = "glm_family") -> None:
    """Ours against R's, relative (no rounding-noise floor: scale 0), NaN and +-Inf where R has them."""
    assert_close(ours, theirs, what, scale=0.0, **TOL[tol])


LINKS = _load("links")["links"]
FAMILIES = _load("families")["families"]
INIT = _load("initialize")["cases"]
MESSAGES = _load("messages")
GH = _load("ghrule")["rules"]
THETA = _load("theta_ml")["cases"]


def _family(case: dict) -> Family:
    if case["family"].startswith("Negative Binomial("):
        return negative_binomial(num(case["theta"])[0], link=case["link"])
    return family_of(case["family"]) if case["link"] is None else \
        fams._CONSTRUCTORS[case["family"]](link=case["link"])


# ---------------------------------------------------------------- links
def test_fixture_covers_every_link():
    assert sorted(c["link"] for c in LINKS) == sorted(LINK_NAMES)


@pytest.mark.parametrize("case", LINKS, ids=lambda c: c["link"])
def test_link_as_lme4_evaluates_it(case):
    lk = make_link(case["link"])
    eta, mu = num(case["eta"]), num(case["mu"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(lk.linkfun(mu), num(case["linkfun"]), f"{lk.name} linkfun")
    same(lk.linkinv(eta), num(case["lme4_linkinv"]), f"{lk.name} lme4 linkInv")
    same(lk.mu_eta(eta), num(case["lme4_mu_eta"]), f"{lk.name} lme4 muEta")


@pytest.mark.parametrize("case", LINKS, ids=lambda c: c["link"])
def test_link_as_make_link_evaluates_it(case):
    lk = make_link(case["link"], engine="R")
    eta = num(case["eta"])
    same(lk.linkinv(eta), num(case["r_linkinv"]), f"{lk.name} R linkinv")
    same(lk.mu_eta(eta), num(case["r_mu_eta"]), f"{lk.name} R mu.eta")
    v = case["valideta"]
    assert lk.valideta(eta) == v["all"]
    assert lk.valideta(np.abs(eta) + 1) == v["positive"]
    assert lk.valideta(np.array([1.0, 0.0])) == v["zero"]


def test_lme4_clamps_differ_from_make_link_where_lme4_says():
    """lme4's probit has no floor on mu or mu.eta, R's clamps eta; logit's clamps differ beyond |eta| 30."""
    eta = np.array([-40.0])
    assert make_link("probit").linkinv(eta)[0] == 0.0 and make_link("probit").mu_eta(eta)[0] == 0.0
    assert make_link("probit").r.linkinv(eta)[0] > 0.0
    assert make_link("logit").r.mu_eta(np.array([31.0]))[0] == np.finfo(float).eps
    assert make_link("logit").mu_eta(np.array([31.0]))[0] > np.finfo(float).eps


def test_logit_linkfun_out_of_range_is_rs_error():
    with pytest.raises(DataError, match=r"^Value 3\.1 out of range \(0, 1\)$"):
        make_link("logit").linkfun(np.array([0.5, 3.1]))


# ---------------------------------------------------------------- families
def test_fixture_covers_every_family_and_listed_link():
    have = {(c["family"], c["link"]) for c in FAMILIES}
    for fam, links in fams.FAMILY_LINKS.items():
        if fam == "negative.binomial":
            continue
        for lk in links:
            assert (fam, lk) in have
    assert {c["link"] for c in FAMILIES if c["family"].startswith("Negative")} == {"log", "identity", "sqrt"}


@pytest.mark.parametrize("case", FAMILIES, ids=lambda c: f"{c['family']}-{c['link']}")
def test_family_as_lme4_evaluates_it(case):
    f = _family(case)
    assert f.family == case["family"] and f.link.name == case["link"]
    mu = num(case["mu"])
    same(f.variance(mu), num(case["variance"]), f"{f.family} variance")
    same(f.variance([np.nan]), num(case["variance_nan"]), f"{f.family} variance(NaN)")
    assert f.validmu(mu) == case["validmu"]
    assert f.validmu(mu[2:5]) == case["validmu_inner"]
    for name, s in case["sets"].items():
        y, n, wt = num(s["y"]), num(s["n"]), num(s["wt"])
        dr = f.dev_resids(y, mu, wt)
        # terms that cancel near y = mu: numpy's log differs from the C library's by an ulp
        same_up_to_cancellation(dr, num(s["dev_resids"]), dev_term_size(f, y, mu, wt), f"{f.family} {name} devResid")
        dev = num(s["dev"])[0]
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            aic = f.aic(y, n, mu, wt, dev)
        same([aic], num(s["aic"]), f"{f.family} {name} aic")
        assert sorted({str(x.message) for x in w}) == sorted(set(s["aic_warnings"]))


@pytest.mark.parametrize("case", [c for c in FAMILIES if c["family"].startswith("Negative")][:3],
                         ids=lambda c: f"{c['family']}-{c['link']}")
def test_negative_binomial_aic_mass_form(case):
    """lme4's C++ weights only the first term of the negative binomial's aic (matched by default);
    nb_aic="MASS" is MASS's weighted form, R's family$aic."""
    f = negative_binomial(num(case["theta"])[0], link=case["link"], nb_aic="MASS")
    mu = num(case["mu"])
    for name, s in case["sets"].items():
        y, n, wt = num(s["y"]), num(s["n"]), num(s["wt"])
        same([f.aic(y, n, mu, wt, 0.0)], num(s["r_aic"]), f"MASS aic {name}")
    s = case["sets"]["weighted"]
    lme4_aic = negative_binomial(num(case["theta"])[0]).aic(num(s["y"]), num(s["n"]), mu, num(s["wt"]), 0.0)
    assert abs(lme4_aic - num(s["r_aic"])[0]) > 1.0    # the two forms differ with weights


def test_negative_binomial_names_as_mass_prints_theta():
    d = _load("nb_names")
    assert [nb_family_name(t) for t in num(d["theta"])] == d["family"]


@pytest.mark.parametrize("kind", ["binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian"])
def test_a_string_names_the_family_with_its_default_link(kind):
    f = family_of(kind)
    assert f.family == kind and f.link.name == fams.DEFAULT_LINK[kind]
    assert f.has_scale == (kind not in ("binomial", "poisson"))
    assert family_of(f) is f
    assert family_of(fams._CONSTRUCTORS[kind]) == f          # R's family = poisson (uncalled)


def test_negative_binomial_has_no_scale_and_takes_theta():
    f = negative_binomial(2.5)
    assert not f.has_scale and f.kind == "negative.binomial"
    np.testing.assert_array_equal(f.variance([2.0]), [2.0 + 4.0 / 2.5])


# ---------------------------------------------------------------- messages
GLMER_MESSAGES = {c["name"]: c for c in MESSAGES["glmer"]}


@pytest.mark.parametrize("name", ["quasipoisson", "quasibinomial", "quasi"])
def test_quasi_families_are_refused_in_lme4s_words(name):
    with pytest.raises(FormulaError) as exc:
        family_of(name)
    assert str(exc.value) == GLMER_MESSAGES[name]["error"]


def test_unknown_family_in_rs_words():
    with pytest.raises(FormulaError) as exc:
        family_of("foo")
    assert str(exc.value).startswith(GLMER_MESSAGES["unknown family"]["error"])


def test_unknown_link_in_rs_words():
    msgs = MESSAGES["family"]
    with pytest.raises(FormulaError) as exc:
        fams.poisson(link="foo")
    assert str(exc.value) == msgs["unknown_link"]
    with pytest.raises(FormulaError) as exc:
        fams.binomial(link="foo")
    assert str(exc.value) == msgs["unknown_link_binomial"]


@pytest.mark.parametrize("kind", ["binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian"])
def test_every_make_link_link_is_taken_as_r_takes_a_string(kind):
    """R accepts any of make.link's links given as a string, also one the family does not list."""
    accepted = MESSAGES["family"]["accepted_string_links"][kind]
    assert sorted(accepted) == sorted(LINK_NAMES)
    for lk in accepted:
        assert fams._CONSTRUCTORS[kind](link=lk).link.name == lk


@pytest.mark.parametrize("kind", ["binomial", "poisson", "Gamma", "inverse.gaussian", "gaussian"])
def test_strict_link_refuses_an_unlisted_link_in_rs_words(kind):
    case = MESSAGES["family"]["not_available"][kind]
    with pytest.raises(FormulaError) as exc:
        fams._CONSTRUCTORS[kind](link=case["link"], strict_link=True)
    assert str(exc.value) == case["error"]


def test_strict_link_negative_binomial_in_mass_words():
    with pytest.raises(FormulaError) as exc:
        negative_binomial(2.0, link="logit", strict_link=True)
    assert str(exc.value) == MESSAGES["family"]["not_available_nb"]


def test_negative_binomial_needs_theta():
    with pytest.raises(FormulaError) as exc:
        family_of("negative.binomial")
    assert str(exc.value).startswith(MESSAGES["family"]["nb_no_theta"])


def _glmer_response_input(case: dict):
    """The response column and weights of a glmer message case (the call's formula names them)."""
    call, data = case["call"], case["data"]
    col = call.split("glmer(")[1].split(" ~")[0].strip()
    w = None
    if "weights = rep(5.5, 20)" in call:
        w = np.full(20, 5.5)
    if "weights = c(-1, rep(1, 19))" in call:
        w = np.r_[-1.0, np.ones(19)]
    if col.startswith("cbind(s, 10 - s)"):
        s = num(data["s"])
        return np.column_stack([s, 10.0 - s]), w
    values = data[col]
    if all(isinstance(v, str) and not _is_number(v) for v in values):
        return np.array(values, dtype=object), w
    return num(values), w


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _glmer_family(case: dict) -> Family:
    call = case["call"]
    spec = call.split("family = ")[1].split(",")[0].rstrip(")")
    if spec.startswith("gaussian(link = \"log\""):
        return fams.gaussian(link="log")
    if spec.startswith("poisson(link = \"logit\""):
        return fams.poisson(link="logit")
    return family_of(spec)


RESPONSE_MESSAGE_CASES = [n for n, c in GLMER_MESSAGES.items()
                          if not n.startswith("quasi") and n != "unknown family"]


@pytest.mark.parametrize("name", RESPONSE_MESSAGE_CASES)
def test_glmer_response_messages_in_rs_words(name):
    case = GLMER_MESSAGES[name]
    fam = _glmer_family(case)
    y, w = _glmer_response_input(case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            r = glm_response(fam, y, w)
            err = None
        except DataError as exc:
            err = str(exc)
            r = None
        if r is not None and fam.kind == "poisson":      # R's dpois warns when the aic is evaluated
            fam.aic(r.y, r.n, r.mustart, r.weights, 0.0)
    if case["error"] is None:
        assert err is None
    else:
        assert err is not None and err.startswith(case["error"]), (err, case["error"])
    assert sorted({str(x.message) for x in caught}) == sorted(case["warnings"])


# ---------------------------------------------------------------- initialize (mkRespMod)
def _init_input(case: dict):
    y = case["y"]
    if y["type"] == "factor":
        return pd.Categorical(y["values"], categories=y["levels"])
    if y["type"] == "logical":
        return np.array(y["values"], dtype=bool)
    if y["type"] == "character":
        return np.array(y["values"], dtype=object)
    if y["type"] == "matrix":
        return num(y["values"]).reshape(-1, y["ncol"])
    return num(y["values"])


@pytest.mark.parametrize("case", INIT, ids=lambda c: c["name"])
def test_response_as_mkRespMod_builds_it(case):
    fam = _family(case)
    y = _init_input(case)
    w = None if case["weights"] is None else num(case["weights"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            r = glm_response(fam, y, w)
            err = None
        except DataError as exc:
            err, r = str(exc), None
    assert sorted({str(x.message) for x in caught}) == sorted(set(case["warnings"]))
    if case["error"] is not None:
        assert err is not None and err.startswith(case["error"]), (err, case["error"])
        return
    assert err is None, err
    same(r.y, num(case["resp_y"]), "y")
    same(r.weights, num(case["resp_weights"]), "weights")
    same(r.n, num(case["resp_n"]), "n")
    same(r.mustart, num(case["mustart"]), "mustart")
    same(r.eta, num(case["eta"]), "eta")
    same(fam.linkinv(r.eta), num(case["mu"]), "mu")


def test_response_rows_must_match():
    with pytest.raises(DataError, match="rows"):
        glm_response(fams.poisson(), np.array([1.0, 2.0]), n_rows=3)


def test_response_from_pandas_columns():
    s = pd.Series(pd.Categorical(["no", "yes", "yes"], categories=["no", "yes"]))
    r = glm_response(fams.binomial(), s)
    np.testing.assert_array_equal(r.y, [0.0, 1.0, 1.0])
    cb = pd.DataFrame({"s": [1, 2], "f": [3, 0]})
    r = glm_response(fams.binomial(), cb)
    np.testing.assert_array_equal(r.y, [0.25, 1.0])
    np.testing.assert_array_equal(r.weights, [4.0, 2.0])


# ---------------------------------------------------------------- Gauss-Hermite
@pytest.mark.parametrize("case", GH, ids=lambda c: f"k{c['k']}")
def test_ghrule_as_lme4_tabulates_it(case):
    """lme4's table and ours agree to rounding; the middle node of an odd rule is 0 here and a
    residue below 2e-15 in lme4's table (gh_nodes is absolute for that reason)."""
    r = GHrule(case["k"])
    assert r.z.shape == (case["k"],)
    same(r.z, num(case["z"]), "z", tol="gh_nodes")
    same(r.w, num(case["w"]), "w", tol="gh_weights")
    same(r.ldnorm, num(case["ldnorm"]), "ldnorm", tol="glm_family")
    if case["k"]:
        assert abs(r.w.sum() - 1.0) < 1e-14


def test_ghrule_order_is_checked():
    with pytest.raises(ValueError):
        GHrule(101)
    with pytest.raises(ValueError):
        GHrule(2.5)


# ---------------------------------------------------------------- theta.ml
@pytest.mark.parametrize("case", THETA, ids=lambda c: c["name"])
def test_theta_ml_as_mass_computes_it(case):
    y, mu = num(case["y"]), num(case["mu"])
    w = None if case["weights"] is None else num(case["weights"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = theta_ml(y, mu, weights=w, limit=case["limit"], eps=num(case["eps"])[0])
    assert [str(x.message) for x in caught] == case["warnings"]
    assert r.warning == case["warn"]
    diverging = case["warn"] == "iteration limit reached" and num(case["se"])[0] > num(case["theta"])[0]
    tol = "theta_ml_diverging" if diverging else "theta_ml"
    same([r.theta], num(case["theta"]), "theta", tol=tol)
    same([r.se], num(case["se"]), "SE", tol=tol)
    if case.get("est_theta") is not None:
        same([est_theta(y, mu, weights=w).theta], num(case["est_theta"]), "est_theta", tol="theta_ml")


# ---------------------------------------------------------------- lme4's response module at fitted glmers
FITS = _load("resp_at_fit")["fits"]


@pytest.mark.parametrize("case", FITS, ids=lambda c: c["name"])
def test_family_at_a_fitted_glmer_as_lme4s_response_module(case):
    """At R's own fitted eta, the family gives lme4's glmResp quantities: mu, unit deviances, aic, the
    PIRLS weights sqrt(w / V(mu)) and sqrt(w / V(mu)) d mu/d eta, the weighted and working residuals."""
    fam = _family(case)
    resp = num(case["response"])
    if case["family"] == "binomial" and resp.size == 2 * num(case["y"]).size:
        resp = resp.reshape(2, -1).T          # R's cbind(successes, failures), column-major
    pw = None if case["prior_weights"] is None else num(case["prior_weights"])
    r = glm_response(fam, resp, pw)
    same(r.y, num(case["y"]), "y")
    same(r.n, num(case["n"]), "n")
    same(r.weights, num(case["weights"]), "weights")
    eta, y, w = num(case["eta"]), r.y, r.weights
    mu = fam.linkinv(eta)
    same(mu, num(case["mu"]), "mu")
    dr = fam.dev_resids(y, mu, w)
    same_up_to_cancellation(dr, num(case["dev_resids"]), dev_term_size(fam, y, mu, w), "devResid")
    same([fam.aic(y, r.n, mu, w, float(np.sum(dr)))], num(case["aic"]), "aic")
    sqrtrwt = np.sqrt(w / fam.variance(mu))
    same(sqrtrwt, num(case["sqrtrwt"]), "sqrtrwt")
    same(fam.mu_eta(eta) * sqrtrwt, num(case["sqrtXwt"]), "sqrtXwt")
    same(sqrtrwt * (y - mu), num(case["wtres"]), "wtres")
    same((y - mu) / fam.mu_eta(eta), num(case["wrkResids"]), "wrkResids")
