"""Conditional variances (``ranef(m, condVar = TRUE)``) and R's ranef printout against the R fixtures.

postVar: ``tests/fixtures/lmer/*.json`` (``expected.ranef.<grp>.postVar``, per level q x q, block
diagonal when a factor has several terms).  Printed text: ``tests/fixtures/ranef/*.json`` from
``tests/fixtures/gen_ranef.R``.
"""
from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

from helpers import (FIXTURES, TOL, assert_close, assert_same_printout, fit_fixture_at_r_theta,
                     fixture_model_to_compare, fixture_paths, load_fixture, load_fixture_data)
from mixedcompat.lme4.condvar import RanefDict, as_ranef_dict, conditional_variances, format_ranef, ranef_with_condvar

PATHS = fixture_paths("lmer")
IDS = [p.stem for p in PATHS]
RANEF_PATHS = fixture_paths("ranef")
RANEF_IDS = [p.stem for p in RANEF_PATHS]

pytestmark = pytest.mark.skipif(not PATHS, reason="no lmer fixtures (run tests/fixtures/generate_fixtures.R)")


def _model_to_compare(path: pathlib.Path):
    """The fit, or the model at R's theta when the optimisers stopped at different points (helpers' optimum rule)."""
    return fixture_model_to_compare(path)


def _check_postvar(re: dict, expected: dict, what: str, rtol: float, atol: float) -> None:
    assert list(re) == list(expected), f"{what}: grouping factors {list(re)} != R's {list(expected)}"
    for g, spec in expected.items():
        df = re[g]
        assert list(df.index) == list(spec["levels"]), f"{what}: levels of {g}"
        assert list(df.columns) == list(spec["columns"]), f"{what}: columns of {g}"
        pv_r = np.asarray(spec["postVar"], dtype=float)
        pv = df.attrs["postVar"]
        assert pv.shape == pv_r.shape, f"{what}: postVar of {g} has shape {pv.shape}, R's {pv_r.shape}"
        # absolute slack on the correlation scale: sqrt(v_ii v_jj) * atol (covariances near 0)
        d = np.sqrt(np.abs(np.diagonal(pv_r, axis1=1, axis2=2)))
        slack = atol * d[:, :, None] * d[:, None, :]
        bad = ~(np.abs(pv - pv_r) <= slack + rtol * np.abs(pv_r))
        assert not bad.any(), (f"{what}: postVar of {g}: {int(bad.sum())} entries differ; first at "
                               f"{np.argwhere(bad)[0].tolist()}: ours {pv[bad][0]!r} vs R {pv_r[bad][0]!r}")


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_postvar_matches_lme4(path: pathlib.Path) -> None:
    fx, m = _model_to_compare(path)
    _check_postvar(m.ranef(condVar=True), fx["expected"]["ranef"], path.stem, **TOL["postvar"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_postvar_at_r_theta_is_tight(path: pathlib.Path) -> None:
    """At R's own theta nothing depends on the optimiser: agreement to rounding."""
    fx = load_fixture(path)
    m = fit_fixture_at_r_theta(path)
    _check_postvar(ranef_with_condvar(m), fx["expected"]["ranef"], path.stem, **TOL["postvar_at_r_theta"])


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_condvar_modes_are_the_plain_ranef(path: pathlib.Path) -> None:
    _, m = _model_to_compare(path)
    plain = m.ranef()
    with_cv = m.ranef(condVar=True)
    assert isinstance(with_cv, RanefDict)
    assert list(plain) == list(with_cv)
    for g in plain:
        pd.testing.assert_frame_equal(pd.DataFrame(plain[g]), pd.DataFrame(with_cv[g]), check_index_type=False)
        pv = with_cv[g].attrs["postVar"]
        assert pv.shape == (len(plain[g]), plain[g].shape[1], plain[g].shape[1])
        assert np.allclose(pv, np.transpose(pv, (0, 2, 1)))
        assert np.all(np.diagonal(pv, axis1=1, axis2=2) >= 0)


def test_two_terms_on_one_factor_as_lme4() -> None:
    """(1|Subject) + (0+Days|Subject): lme4 gives one postVar per term (a list) and no cross-term block."""
    path = FIXTURES / "lmer" / "sleepstudy_uncorr.json"
    _, m = _model_to_compare(path)
    df = m.ranef(condVar=True)["Subject"]
    terms = df.attrs["postVar_terms"]
    assert [a.shape for a in terms] == [(18, 1, 1), (18, 1, 1)]
    pv = df.attrs["postVar"]
    assert np.all(pv[:, 0, 1] == 0) and np.all(pv[:, 1, 0] == 0)
    assert np.array_equal(pv[:, 0, 0], terms[0][:, 0, 0]) and np.array_equal(pv[:, 1, 1], terms[1][:, 0, 0])


# ---------------------------------------------------------------- the mathematics, independently

def _brute_force_blocks(m) -> list[np.ndarray]:
    """sigma^2 Lambda (Lambda' Z' W Z Lambda + I)^{-1} Lambda', dense: small models only."""
    Z = m.getME("Z").toarray()
    lam = m.getME("Lambda").toarray()
    w = m.frame.weights
    ZW = Z.T * (w if w is not None else 1.0)
    A = lam.T @ ZW @ Z @ lam + np.eye(lam.shape[0])
    C = m.sigma() ** 2 * lam @ np.linalg.solve(A, lam.T)
    out, off = [], 0
    for t in m.terms:
        idx = off + np.arange(t.n_levels * t.q).reshape(t.n_levels, t.q)
        out.append(C[idx[:, :, None], idx[:, None, :]])
        off += t.n_levels * t.q
    return out


BLOCKED_FORMULAS = ["y ~ x + (x | g) + (1 | h)", "y ~ x + (1 | g) + (0 + x | g)", "y ~ x + (x | g) + (x | h)",
                    "y ~ x + (1 | h) + (f | g)", "y ~ x + (x | g)", "y ~ x + (1 | g) + (1 | h) + (1 | f)"]


@pytest.mark.parametrize("formula", BLOCKED_FORMULAS)
@pytest.mark.parametrize("factorisation", ["dense", "blocked"])
def test_blocks_equal_the_dense_formula(formula: str, factorisation: str, monkeypatch) -> None:
    """Both factorisations (DenseDeviance, blocked Deviance, small chunks) give the dense formula's blocks."""
    import mixedcompat as mc
    import mixedcompat.lme4.omega_inverse as omega_inverse
    import mixedcompat.lme4.pls as pls
    if factorisation == "blocked":
        monkeypatch.setattr(pls, "DENSE_MAX_Q", 0)
        monkeypatch.setattr(omega_inverse, "_CHUNK_ENTRIES", 7)     # several chunks of the solves
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(formula, load_fixture_data("sim_main"), weights="w")
    assert (m.factor.L_full is None) == (factorisation == "blocked")
    for ours, brute, t in zip(conditional_variances(m), _brute_force_blocks(m), m.terms):
        assert_close(ours, brute, f"{formula}: term ({t.label})", rtol=TOL["condvar_brute"]["rtol"],
                     atol=TOL["condvar_brute"]["atol"] * np.abs(brute).max())


def test_large_model_insteval() -> None:
    """InstEval y ~ 1 + (1|s) + (1|d) + (1|dept), ML: q = 4114, blocked path; R's postVar."""
    path = FIXTURES / "lmer" / "insteval_ml.json"
    fx, m = _model_to_compare(path)
    assert m.factor.L_full is None, "InstEval should use the blocked factorisation"
    re = m.ranef(condVar=True)
    assert [re[g].shape[0] for g in re] == [2972, 1128, 14]
    _check_postvar(re, fx["expected"]["ranef"], "insteval_ml", **TOL["postvar"])


# ---------------------------------------------------------------- printing

def _fixture_ranef(fx: dict, condvar: bool) -> RanefDict:
    """R's own ranef values from an lmer fixture as a RanefDict (tests the formatter alone)."""
    out = {}
    for g, spec in fx["expected"]["ranef"].items():
        df = pd.DataFrame(np.asarray(spec["values"], dtype=float), index=spec["levels"], columns=spec["columns"])
        if condvar:
            df.attrs["postVar"] = np.asarray(spec["postVar"], dtype=float)
        out[g] = df
    return as_ranef_dict(out)


@pytest.mark.skipif(not RANEF_PATHS, reason="no ranef fixtures (run Rscript tests/fixtures/gen_ranef.R)")
@pytest.mark.parametrize("path", RANEF_PATHS, ids=RANEF_IDS)
def test_print_format_exact(path: pathlib.Path) -> None:
    """R's values, our formatter: the printout is R's, character for character."""
    rf = load_fixture(path)
    fx = load_fixture(FIXTURES / "lmer" / path.name)
    assert format_ranef(_fixture_ranef(fx, condvar=True)) == rf["print_condvar_true"]
    assert str(_fixture_ranef(fx, condvar=True)) == rf["print_default"]          # lme4's default: condVar = TRUE
    assert str(_fixture_ranef(fx, condvar=False)) == rf["print_condvar_false"]


@pytest.mark.skipif(not RANEF_PATHS, reason="no ranef fixtures (run Rscript tests/fixtures/gen_ranef.R)")
@pytest.mark.parametrize("path", RANEF_PATHS, ids=RANEF_IDS)
def test_print_of_our_model(path: pathlib.Path) -> None:
    """Our model at R's theta printed: R's text, numbers within 1e-8 of their column's scale, rounding
    noise as zero (ergostool: R prints 1.641913e-15 for a level we compute as 0)."""
    rf = load_fixture(path)
    m = fit_fixture_at_r_theta(FIXTURES / "lmer" / path.name)
    assert_same_printout(str(m.ranef(condVar=True)), rf["print_condvar_true"], f"{path.stem} condVar=TRUE",
                         rel=TOL["ranef_text"]["rtol"])
    assert_same_printout(str(m.ranef(condVar=False)), rf["print_condvar_false"], f"{path.stem} condVar=FALSE",
                         rel=TOL["ranef_text"]["rtol"])


def test_print_tags_and_footer() -> None:
    frames = {
        "g": pd.DataFrame({"(Intercept)": [1.0, -2.5]}, index=["a", "b"]),
        "b:a": pd.DataFrame({"(Intercept)": [0.125]}, index=["1:A1"]),
        "if": pd.DataFrame({"x": [3.0]}, index=["z"]),
    }
    frames["g"].attrs["postVar"] = np.ones((2, 1, 1))
    frames["b:a"].attrs["postVar"] = np.ones((1, 1, 1))
    text = str(as_ranef_dict(frames))
    assert text.split("\n") == [
        "$g", "  (Intercept)", "a         1.0", "b        -2.5", "",
        "$`b:a`", "     (Intercept)", "1:A1       0.125", "",
        "$`if`", "  x", "z 3", "",
        "with conditional variances for \u201cg\u201d \u201cb:a\u201d ",
    ]
    wrapped = as_ranef_dict(frames)
    assert isinstance(wrapped, dict) and as_ranef_dict(wrapped) is wrapped and repr(wrapped) == text


def test_print_reaches_max_print(monkeypatch) -> None:
    import mixedcompat.lme4.condvar as condvar
    monkeypatch.setattr(condvar, "R_MAX_PRINT", 5)
    df = pd.DataFrame({"a": np.arange(4.0), "b": np.arange(4.0)}, index=list("pqrs"))
    lines = format_ranef({"g": df}).split("\n")
    assert lines == ["$g", "  a b", "p 0 0", "q 1 1",
                     " [ reached 'max' / getOption(\"max.print\") -- omitted 2 rows ]", ""]
