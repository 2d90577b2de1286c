"""nlme correlation structures against R: fixtures from tests/fixtures/gen_nlme_corstruct.R, plus properties."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from mixedcompat.errors import DataError, FormulaError
import mixedcompat.nlme.corstruct as cs_mod
from mixedcompat.nlme.corstruct import (corAR1, corARMA, corCAR1, corCompSymm, corExp, corSymm,
                                        parse_cor_form)
from helpers import FIXTURES, TOL

FIX = FIXTURES / "nlme_corstruct"
CASES = sorted(p for p in FIX.glob("*.json") if p.name != "errors.json")


def _frame(cols: dict) -> pd.DataFrame:
    return pd.DataFrame({k: (np.asarray(v, float) if v and not isinstance(v[0], str) else v)
                         for k, v in cols.items()})


def _spec(cls: str, args: dict):
    kw = {}
    for k, v in args.items():
        if k in ("p", "q"):
            v = int(v[0] if isinstance(v, list) else v)
        kw[k] = v
    return getattr(cs_mod, cls)(**kw)


def _load(path):
    with open(path) as fh:
        fx = json.load(fh)
    inp = dict(fx["input"])
    cls, data = inp.pop("class"), _frame(inp.pop("data"))
    return fx, cls, inp, data


@pytest.fixture(scope="module", params=CASES, ids=[p.stem for p in CASES])
def case(request):
    fx, cls, args, data = _load(request.param)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bound = _spec(cls, args).bind(data)
    return fx, bound, [str(w.message) for w in caught]


def test_fixtures_exist():
    assert len(CASES) >= 15


def test_class_names_and_groups(case):
    fx, b, _ = case
    assert b.class_name == fx["class"]
    if b.class_name.startswith(("corExp", "corGaus", "corSpher", "corLin", "corRatio")):
        # nlme's corMatrix leaves out the spatial groups of a single row; we keep them (C = [[1]])
        ours = [lab for lab, rows in zip(b.group_labels, b.group_rows) if len(rows) > 1]
    else:
        ours = b.group_labels
    assert ours == fx["groups"]
    if fx["natural_names"]:
        assert b.names == fx["natural_names"]
    else:                                   # corSymm: R leaves coef() unnamed; intervals() uses cor(i,j)
        assert len(b.names) == len(fx["coef_natural"]) and b.names[0] == "cor(1,2)"


def test_start_and_natural(case):
    fx, b, _ = case
    np.testing.assert_allclose(b.start, fx["coef_unconstrained"], **TOL["corstruct_coef"])
    assert b.n_free == len(fx["coef_unconstrained"])
    assert b.fixed == bool(fx["input"].get("fixed", False))
    np.testing.assert_allclose(b.natural(b.start), fx["coef_natural"], **TOL["corstruct_coef"])
    np.testing.assert_allclose(b.natural(np.asarray(fx["coef_unconstrained"])), fx["coef_natural"],
                               **TOL["corstruct_coef"])


def test_warnings(case):
    fx, _, caught = case
    for w in fx["warnings"]:
        assert any(w in c for c in caught), (w, caught)
    if not fx["warnings"]:
        assert not caught


def test_cor_matrices(case):
    fx, b, _ = case
    ours = dict(zip(b.group_labels, b.cor_matrices(b.start)))
    for label, theirs in zip(fx["groups"], fx["cor_matrices"]):
        np.testing.assert_allclose(ours.pop(label), np.array(theirs, ndmin=2), **TOL["corstruct_matrix"],
                                   err_msg=f"group {label}")
    assert all(m.shape == (1, 1) for m in ours.values())    # only singleton groups are left


def test_whiten_matches_r(case):
    fx, b, _ = case
    M = np.array(fx["M"])
    Mw, half_logdet = b.whiten(b.start, M)
    np.testing.assert_allclose(Mw, np.array(fx["M_white"]), **TOL["whiten"])
    assert half_logdet == pytest.approx(fx["half_logdet"], rel=TOL["whiten_logdet"]["rtol"],
                                        abs=TOL["whiten_logdet"]["atol"])
    w1, ld1 = b.whiten(b.start, M[:, 0])                     # a vector is whitened like a column
    np.testing.assert_allclose(w1, Mw[:, 0], **TOL["same_computation"])
    assert ld1 == pytest.approx(half_logdet)


def test_unconstrained_round_trip(case):
    fx, b, _ = case
    if b.fixed:
        assert b.n_free == 0 and b.natural(np.zeros(0)).tolist() == fx["coef_natural"]
        return
    rng = np.random.default_rng(7)
    u = b.start + rng.normal(0, 0.3, b.n_free)
    nat = b.natural(u)
    rebound = _spec_from_bound(fx, nat)
    np.testing.assert_allclose(rebound.start, u, **TOL["corstruct_round_trip"])


def _spec_from_bound(fx, nat):
    inp = dict(fx["input"])
    cls, data = inp.pop("class"), _frame(inp.pop("data"))
    inp["value"] = list(nat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _spec(cls, inp).bind(data)


# --------------------------------------------------------------------------------------- errors
with open(FIX / "errors.json") as _fh:
    ERRORS = json.load(_fh)["cases"]

# Where our message deliberately differs from nlme's text, the phrase it must contain instead (and why).
OUR_PHRASE = {
    "ar1_fractional": "must be integer-valued",          # nlme: no error, garbage correlations
    "arma_fractional": "must be integer-valued",
    "symm_not_1_to_K": "must be a sequence of consecutive integers",
    "symm_fractional": "must be a sequence of consecutive integers",
    "arma_nonstationary": "All parameters must be less than 1 in absolute value",
    "exp_bad_metric": "'cosine' should be one of",
    "unknown_column": "covariate 'time'",             # nlme: 'first argument must be a vector'
}
# and what it must name besides (column, value or group)
NAMES = {"ar1_duplicated": "group 's1'", "symm_duplicated": "group 's1'", "ar1_fractional": "'t'",
         "exp_zero_distance": "group 'p1'", "symm_not_1_to_K": "'t'", "symm_not_pd": "0.9",
         "ar1_phi_one": "1.0"}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_input(name):
    e = ERRORS[name]
    with pytest.raises((DataError, FormulaError)) as info:
        _spec(e["class"], e["args"]).bind(_frame(e["data"]))
    msg = str(info.value)
    expected = OUR_PHRASE.get(name, e["r_message"])
    assert " ".join(expected.split()) in " ".join(msg.split()), (msg, e["r_message"])
    assert NAMES.get(name, "") in msg


def test_r_does_not_reject_fractional_ar1_positions():
    # documents why our message is our own: nlme 3.1-162 accepts them silently
    assert ERRORS["ar1_fractional"]["r_message"] == "no error"


@pytest.mark.parametrize("form, part", [("t | g", "one-sided"), ("~ I(t) | g", "I(t)"),
                                        ("~ t | g | h", "more than one"), ("~ t | a*b", "a*b"),
                                        ("~ | g", "no covariate"), ("~ x + | g", "''")])
def test_bad_forms(form, part):
    with pytest.raises(FormulaError) as info:
        corAR1(form=form)
    assert part in str(info.value)


def test_form_grammar():
    assert parse_cor_form("~ 1") == parse_cor_form("~1")
    f = parse_cor_form("~ x + y | a / b")
    assert f.covariates == ("x", "y") and f.groups == ("a", "b")
    assert parse_cor_form("~ 1 | g").covariates == ()


def test_one_covariate_only_for_time_classes():
    d = pd.DataFrame({"x": [1.0, 2, 3], "y": [1.0, 3, 2]})
    with pytest.raises(FormulaError, match="x \\+ y"):
        corAR1(form="~ x + y").bind(d)


def test_arma_p0_q0_is_an_error():
    with pytest.raises(DataError, match="corIdent"):
        corARMA(p=0, q=0)


def test_non_numeric_covariate_and_missing_group():
    d = pd.DataFrame({"t": ["a", "b"], "g": [1, 1]})
    with pytest.raises(DataError, match="'t' must be numeric"):
        corCAR1(form="~ t | g").bind(d)
    with pytest.raises(DataError, match="grouping column 'h'"):
        corCAR1(form="~ 1 | h").bind(d)


# ----------------------------------------------------------------------- groups, helpers, paths
def test_default_groups_and_distances():
    d = pd.DataFrame({"t": [1.0, 2.0, 4.0, 1.0, 3.0]})
    b = corCAR1(0.5, form="~ t").bind(d, default_groups=np.array([3, 3, 3, 7, 7]))
    assert b.n_groups == 2 and b.group_codes.tolist() == [0, 0, 0, 1, 1]
    np.testing.assert_allclose(b.distances(0), [[0, 1, 3], [1, 0, 2], [3, 2, 0]])
    np.testing.assert_allclose(b.cor_matrices(b.start)[1], [[1, 0.25], [0.25, 1]])
    one = corCAR1(0.5, form="~ t").bind(d.iloc[:3])        # gls without groups: one group
    assert one.n_groups == 1 and one.cor_matrices(one.start)[0].shape == (3, 3)
    with pytest.raises(DataError, match="t = 1 repeats in group '1'"):
        corCAR1(0.5, form="~ t").bind(d)


def test_form_groups_override_default_groups():
    d = pd.DataFrame({"g": ["b", "b", "a"], "t": [1.0, 2.0, 1.0]})
    b = corAR1(0.2, form="~ t | g").bind(d, default_groups=np.zeros(3, int))
    assert b.group_labels == ["b", "a"]


def _dense_whiten(mats, rows, M):
    Mw = np.empty_like(M)
    ld = 0.0
    for C, r in zip(mats, rows):
        L = np.linalg.cholesky(C)
        Mw[r] = np.linalg.solve(L, M[r])
        ld += np.log(np.diag(L)).sum()
    return Mw, ld


@st.composite
def panels(draw):
    sizes = draw(st.lists(st.integers(1, 7), min_size=1, max_size=6))
    kind = draw(st.sampled_from(["ar1", "car1", "arma21", "cs", "exp", "spher_nugget", "symm"]))
    n = sum(sizes)
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(len(sizes)), sizes)
    if draw(st.booleans()):                                  # interleave the groups' rows
        g = rng.permutation(g)
    t = np.empty(n)
    for k in range(len(sizes)):
        idx = np.flatnonzero(g == k)
        if kind == "car1":
            times = np.cumsum(rng.uniform(0.1, 2.0, len(idx)))
        elif kind == "symm":
            times = rng.choice(np.arange(1, 8), len(idx), replace=False).astype(float)
        else:
            times = np.cumsum(rng.integers(1, 3, len(idx))).astype(float)
        if draw(st.booleans()):
            times = rng.permutation(times)
        t[idx] = times
    d = pd.DataFrame({"g": g, "t": t, "x": rng.uniform(0, 5, n), "y": rng.uniform(0, 5, n)})
    M = rng.normal(size=(n, 3))
    return kind, d, M, rng.normal(0, 1.0, 21)


@settings(max_examples=60, deadline=None)
@given(panels())
def test_whiten_equals_dense_cholesky(example):
    kind, d, M, z = example
    if kind == "symm":
        K = int(d["t"].max())
        d["t"] = pd.factorize(d["t"], sort=True)[0] + 1.0       # positions 1..K, all present
        K = int(d["t"].max())
        spec = corSymm(form="~ t | g")
    else:
        spec = {"ar1": corAR1(form="~ t | g"), "car1": corCAR1(form="~ t | g"),
                "arma21": corARMA(form="~ t | g", p=2, q=1), "cs": corCompSymm(form="~ 1 | g"),
                "exp": corExp(form="~ x + y | g"),
                "spher_nugget": cs_mod.corSpher(form="~ x + y | g", nugget=True)}[kind]
    if kind == "cs" and d.groupby("g").size().max() < 2:
        return
    b = spec.bind(d)
    u = b.start + z[:b.n_free] * 0.8
    mats = b.cor_matrices(u)
    Mw, ld = b.whiten(u, M)
    ref, ref_ld = _dense_whiten(mats, b.group_rows, M)
    np.testing.assert_allclose(Mw, ref, **TOL["whiten_cholesky"])
    assert ld == pytest.approx(ref_ld, rel=TOL["whiten_cholesky_logdet"]["rtol"],
                               abs=TOL["whiten_cholesky_logdet"]["atol"])
    for C, r in zip(mats, b.group_rows):                     # matrices are the definition's
        np.testing.assert_allclose(np.diag(C), 1.0)
        assert np.all(np.linalg.eigvalsh(C) > 0)
        dist = b.distances(int(b.group_codes[r[0]]))
        if kind in ("ar1", "car1"):
            np.testing.assert_allclose(C, b.natural(u)[0] ** dist, **TOL["same_computation"])


def test_ar1_closed_form_is_used_and_fast():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"g": np.repeat(np.arange(1000), 50), "t": np.tile(np.arange(1.0, 51), 1000)})
    b = corAR1(form="~ t | g").bind(d)
    assert b.class_name == "corAR1" and b._ar1_ok
    M = rng.normal(size=(50000, 5))
    u = np.array([0.8])
    Mw, ld = b.whiten(u, M)
    phi = np.tanh(0.4)
    np.testing.assert_allclose(Mw[51], (M[51] - phi * M[50]) / np.sqrt(1 - phi ** 2))
    np.testing.assert_allclose(Mw[50], M[50])
    assert ld == pytest.approx(1000 * 49 * 0.5 * np.log(1 - phi ** 2))


@pytest.mark.parametrize("size, n_groups", [(25, 20), (4, 40)])
def test_dense_path_with_many_distinct_patterns(size, n_groups):
    # > 16 distinct patterns: per-group triangular solves (large groups) or batched LAPACK (small)
    rng = np.random.default_rng(size)
    n = size * n_groups
    d = pd.DataFrame({"g": np.repeat(np.arange(n_groups), size), "x": rng.uniform(0, 9, n),
                      "y": rng.uniform(0, 9, n)})
    b = cs_mod.corSpher(3.0, form="~ x + y | g", nugget=True, metric="manhattan").bind(d)
    assert b._stacks[0].members is None
    M = rng.normal(size=(n, 2))
    Mw, ld = b.whiten(b.start, M)
    ref, ref_ld = _dense_whiten(b.cor_matrices(b.start), b.group_rows, M)
    np.testing.assert_allclose(Mw, ref, **TOL["whiten_dense_patterns"])
    assert ld == pytest.approx(ref_ld, rel=TOL["whiten_dense_patterns_logdet"]["rtol"])


def test_compound_symmetry_balanced_layout():
    d = pd.DataFrame({"g": np.repeat(np.arange(30), 6)})
    b = corCompSymm(-0.15, form="~ 1 | g").bind(d)
    assert b._cs_slots[2]                                    # balanced and sorted: no scatter
    M = np.random.default_rng(3).normal(size=(180, 3))
    Mw, ld = b.whiten(b.start, M)
    ref, ref_ld = _dense_whiten(b.cor_matrices(b.start), b.group_rows, M)
    np.testing.assert_allclose(Mw, ref, **TOL["whiten_balanced"])
    assert ld == pytest.approx(ref_ld, rel=TOL["whiten_balanced_logdet"]["rtol"])


def test_shared_patterns_are_shared():
    # complete panels share one correlation matrix: one pattern per group size
    d = pd.DataFrame({"g": np.repeat(np.arange(50), 5), "t": np.tile(np.arange(5.0), 50) + 3})
    b = corARMA([0.4, 0.2], form="~ t | g", p=1, q=1).bind(d)
    assert [len(st.Q) for st in b._stacks] == [1]
