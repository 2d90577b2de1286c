"""Live comparison with lme4: random designs fitted here and in R (through rpy2), compared number by number.

All tests are marked ``r``: conftest skips them (with the reason) when R or rpy2 is missing, and
rpy2 is only imported inside tests/rlive.py's functions, so collection never needs it.

The hypothesis strategy :func:`designs` draws the *shape* of a design (1-3 grouping factors,
nested or crossed, the random-effects term of each, a factor covariate, prior weights, missing
responses, REML or ML) and a seed; the data are then simulated by ``numpy.random.default_rng(seed)``,
so a failing example (printed by hypothesis as a ``Design(...)``) reproduces with
``Design(...).data()``. Tolerances are helpers' ``TOL``, and the comparison follows helpers' one
rule: our criterion is at most R's + 1e-8 relative (lower passes: lme4 stopped early); when theta
parted from R's (the optimisers stopped at different points of a flat criterion) theta is reported,
not compared, and everything downstream of theta is compared on our model evaluated at R's theta.
"""
from __future__ import annotations

import dataclasses
import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import event as _event, note as _note
from hypothesis import strategies as st

from random_designs import categorical, nested_codes, re_term, unbalanced_sizes
from helpers import (TOL, assert_close, assert_same_printout, at_theta, check_criterion, model_at_r_theta,
                      theta_gap, theta_parted)

pytestmark = pytest.mark.r

RE_KINDS = ("1", "1+x", "x||", "0+x")
STRUCTURES = ("one", "nested", "nested-slash", "crossed", "nested+crossed", "crossed3")
# lme4's own identifiability checks (lmerControl defaults check.nlev.gtr.1 / check.nobs.vs.nlev /
# check.nobs.vs.nRE = "stop"): R refuses such designs, and so must mixedcompat (DataError).
LME4_REJECTS = re.compile(r"number of levels of each grouping factor must be|"
                          r"grouping factors must have > 1 sampled level|"
                          r"number of observations \(=\d+\) (<=|<) number of random effects|"
                          r"must be < number of observations")
R_NONCONVERGENCE = re.compile(r"converge|unidentifiable|eigenvalue|degenerate Hessian", re.I)


def note(text: str) -> None:
    try:
        _note(text)
    except Exception:  # outside a hypothesis test (the fixed designs)
        print(text)


def event(text: str) -> None:
    try:
        _event(text)
    except Exception:
        print(text)


@dataclasses.dataclass(frozen=True)
class Design:
    """A random design: everything but the numbers, which come from ``seed``."""
    seed: int
    structure: str
    kinds: tuple            # one RE kind per grouping term
    n_rows: int             # before missing responses are added
    n_g1: int               # levels of the first grouping factor
    n_small: int            # how many g1 groups get only 1-2 observations
    factor_covariate: bool
    weights: bool
    n_missing: int          # responses set to NA
    REML: bool
    shuffle_levels: bool    # factor levels in a non-alphabetical order

    # ---------------------------------------------------------------- the model
    def formula(self) -> str:
        fixed = "y ~ x + f" if self.factor_covariate else "y ~ x"
        k = self.kinds
        terms = {
            "one": lambda: [re_term(k[0], "g1")],
            "nested": lambda: [re_term(k[0], "g1"), re_term(k[1], "g1:g2")],
            "nested-slash": lambda: [re_term(k[0], "g1/g2")],
            "crossed": lambda: [re_term(k[0], "g1"), re_term(k[1], "g3")],
            "nested+crossed": lambda: [re_term(k[0], "g1"), re_term(k[1], "g1:g2"), re_term(k[2], "g3")],
            "crossed3": lambda: [re_term(k[0], "g1"), re_term(k[1], "g3"), re_term(k[2], "g4")],
        }[self.structure]()
        return " + ".join([fixed] + terms)

    # ---------------------------------------------------------------- the data
    def data(self) -> pd.DataFrame:
        rng = np.random.default_rng(self.seed)
        n, n1 = self.n_rows, self.n_g1
        sizes = unbalanced_sizes(rng, n, n1, self.n_small, min_size=3, concentration=1.5)
        g1 = np.repeat(np.arange(n1), sizes)
        n = len(g1)
        # g2 nested in g1, its labels reused in every g1 group ("s1", "s2", ...)
        g2 = nested_codes(rng, g1, n1, 1, 5)
        # crossed factors: unbalanced random assignment
        n3, n4 = int(rng.integers(3, 9)), int(rng.integers(3, 7))
        g3 = rng.choice(n3, size=n, p=rng.dirichlet(np.full(n3, 1.0)))
        g4 = rng.choice(n4, size=n, p=rng.dirichlet(np.full(n4, 2.0)))
        x = np.round(rng.uniform(0, 9, size=n), 3)
        nf = int(rng.integers(2, 4))
        f = rng.integers(0, nf, size=n)

        def re_sd():
            return float(rng.choice([0.0, 0.3, 1.0, 3.0]))

        y = 5.0 + 1.5 * x + np.array([0.0, 2.0, -1.0])[f] if self.factor_covariate else 5.0 + 1.5 * x
        for codes, m in ((g1, n1), (g1 * 10 + g2, n1 * 10), (g3, n3), (g4, n4)):
            u0, u1 = rng.normal(0, re_sd(), m), rng.normal(0, re_sd() / 3, m)
            y = y + u0[codes] + u1[codes] * x
        w = np.round(rng.uniform(0.2, 3.0, size=n), 3) if rng.random() < 0.5 else \
            rng.integers(1, 6, size=n).astype(float)
        eps = rng.normal(0, 1.0, size=n)
        y = y + (eps / np.sqrt(w) if self.weights else eps)
        y = np.round(y, 6)
        if self.n_missing:
            y[rng.choice(n, size=min(self.n_missing, n - 1), replace=False)] = np.nan

        def factor(codes, labels):
            return categorical(codes, labels, rng, self.shuffle_levels)

        df = pd.DataFrame({
            "y": y, "x": x,
            "f": factor(f, ["lo", "mid", "hi"][:nf]),
            "g1": factor(g1, [f"A{i + 1:02d}" for i in range(n1)]),
            "g2": factor(g2, [f"s{i + 1}" for i in range(4)]),
            "g3": factor(g3, [f"C{i + 1}" for i in range(n3)]),
            "g4": factor(g4, [f"D{i + 1}" for i in range(n4)]),
        })
        if self.weights:
            df["w"] = w
        df = df.iloc[rng.permutation(n)].reset_index(drop=True)
        df.attrs["name"] = "d"
        return df


N_TERMS = {"one": 1, "nested": 2, "nested-slash": 1, "crossed": 2, "nested+crossed": 3, "crossed3": 3}


@st.composite
def designs(draw) -> Design:
    structure = draw(st.sampled_from(STRUCTURES))
    kinds = tuple(draw(st.sampled_from(RE_KINDS)) for _ in range(N_TERMS[structure]))
    n_g1 = draw(st.integers(3, 12))
    return Design(
        seed=draw(st.integers(0, 2**32 - 1)),
        structure=structure,
        kinds=kinds,
        n_rows=draw(st.integers(40, 300)),
        n_g1=n_g1,
        n_small=draw(st.integers(0, min(3, n_g1 - 2))),
        factor_covariate=draw(st.booleans()),
        weights=draw(st.booleans()),
        n_missing=draw(st.sampled_from([0, 0, 1, 3, 6])),
        REML=draw(st.booleans()),
        shuffle_levels=draw(st.booleans()),
    )


# -------------------------------------------------------------------------------- comparison


def _fit_ours(design: Design, df: pd.DataFrame, control: dict | None = None, npartitions: int | None = None):
    """Our fit of the design: in memory, or (``npartitions``) from a Dask DataFrame of that many partitions."""
    import mixedcompat as mc
    data = df
    if npartitions is not None:
        import dask.dataframe as dd
        data = dd.from_pandas(df, npartitions=npartitions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mc.lmer(design.formula(), data, REML=design.REML, weights="w" if design.weights else None,
                       control=control)


def _theta_diag_mask(m) -> np.ndarray:
    lower = np.asarray(m.getME("lower"), dtype=float)
    return lower == 0.0


def compare_with_r(design: Design, npartitions: int | None = None) -> None:
    """Fit ``design`` in R and here (in memory, or from a Dask DataFrame of ``npartitions``
    partitions) and compare everything."""
    import mixedcompat as mc
    import rlive

    df = design.data()
    formula = design.formula()
    note(f"formula: {formula}; REML={design.REML}; weights={design.weights}; rows={len(df)}")
    t0 = time.perf_counter()
    r = rlive.lmer_in_r(df, formula, design.REML, "w" if design.weights else None)
    t_r = time.perf_counter() - t0
    note(f"R: error={r['error']!r} warnings={r['warnings']} messages={r['messages']}")

    if r["error"] is not None:
        if LME4_REJECTS.search(r["error"]):
            event("lme4 rejects the design: mixedcompat must raise DataError")
            with pytest.raises(mc.DataError):
                _fit_ours(design, df, npartitions=npartitions)
            return
        event("R failed to fit (skipped)")
        assume(False)
    if any(R_NONCONVERGENCE.search(w) for w in r["warnings"] + r["conv_messages"]):
        event("R warns about convergence (skipped)")
        assume(False)

    t0 = time.perf_counter()
    m = _fit_ours(design, df, npartitions=npartitions)
    t_ours = time.perf_counter() - t0
    note(f"time: R {t_r:.3f}s, mixedcompat {t_ours:.3f}s")

    # ---- the optimum (helpers' rule): our criterion at most R's + 1e-8 relative
    ours, theirs = m.REMLcrit(), r["criterion"]
    note(f"criterion: ours {ours!r}, R {theirs!r}")
    check_criterion(ours, theirs, f"{design}: criterion")
    if ours < theirs - TOL["criterion_better_report"]["rtol"] * abs(theirs):
        event("better optimum than R")
    theta = m.getME("theta")
    assert list(theta.index) == r["theta_names"], "theta names"
    # the criterion at R's theta does not involve the optimiser: it must agree tightly
    assert_close(m.devfun(r["theta"]), theirs, "criterion at R's theta", **TOL["objective_at"])
    assert m.logLik().df == r["logLik_df"]
    assert m.nobs() == r["nobs"]
    assert_close(m.getME("lower"), r["lower"], "lower bounds")

    # ---- theta where determined; everything downstream of it on our model at R's theta when the
    # optimisers parted (a better optimum, or another point of a flat criterion)
    if theta_parted(theta.values, r["theta"]):
        event("theta parted: theta-dependent results compared at R's theta")
        note(f"theta gap to R {theta_gap(theta.values, r['theta']):.3g}, criterion ours - R's {ours - theirs:.3g}")
    else:
        assert_close(theta.values, r["theta"], "theta", **TOL["theta"])
    refit_at = (lambda control: _fit_ours(design, df, control=control, npartitions=npartitions))
    if npartitions is None:
        m = model_at_r_theta(m, r["theta"], refit_at)
    else:
        # the block sums round differently from the rows: on a flat criterion BOBYQA can end 1e-6 away
        # (with fitted values 1e-5 away on a singular fit): downstream compared at R's theta always
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = refit_at(at_theta(r["theta"]))
    assert_close(m.REMLcrit(), theirs, "criterion of the model compared", **TOL["objective_at"])
    assert m.isSingular() == r["isSingular"], "isSingular"
    if r["isSingular"]:
        event("singular fit")

    assert_close(float(m.logLik()), r["logLik"], "logLik", **TOL["logLik"])
    assert_close(m.sigma(), r["sigma"], "sigma", **TOL["sigma"])

    fe = m.fixef()
    assert list(fe.index) == r["fixef_names"], "fixef names"
    se = r["se"]
    assert_close(fe.values, r["fixef"], "fixef", rtol=TOL["fixef"]["rtol"], atol=TOL["fixef_floor"]["atol"] * se.min())
    assert_close(m.bse.values, se, "standard errors", **TOL["se"])

    vc = m.VarCorr().to_frame()
    norm = (lambda v: None if v is None or v != v else v)
    assert list(vc["grp"]) == r["vc_grp"], "VarCorr groups"
    assert [norm(v) for v in vc["var1"]] == r["vc_var1"], "VarCorr var1"
    assert [norm(v) for v in vc["var2"]] == r["vc_var2"], "VarCorr var2"
    vcov_r = np.asarray(r["vc_vcov"], dtype=float)
    sdcor_r = np.asarray(r["vc_sdcor"], dtype=float)
    scale = np.max(np.abs(vcov_r))
    assert_close(vc["vcov"], vcov_r, "VarCorr vcov", rtol=TOL["varcorr"]["rtol"],
                 atol=TOL["varcorr"]["atol"] * scale)
    assert_close(vc["sdcor"], sdcor_r, "VarCorr sdcor", **TOL["varcorr"])

    ranef = m.ranef()
    assert list(ranef) == list(r["ranef"]), "ranef groups"
    sd_by_group: dict[str, float] = {}
    for g, v1, v2, sd in zip(r["vc_grp"], r["vc_var1"], r["vc_var2"], sdcor_r):
        if v2 is None and g != "Residual":
            base = g.split(".")[0] if g not in r["ranef"] else g
            sd_by_group[base] = max(sd_by_group.get(base, 0.0), sd)
    for g, spec in r["ranef"].items():
        ours_g = ranef[g]
        assert list(ours_g.index) == spec["levels"], f"ranef levels of {g}"
        assert list(ours_g.columns) == spec["columns"], f"ranef columns of {g}"
        scale = sd_by_group.get(g, 1.0) or 1.0
        assert_close(ours_g.values, spec["values"], f"ranef {g}", rtol=TOL["ranef"]["rtol"],
                     atol=TOL["ranef_floor"]["atol"] * scale)

    y = df["y"].to_numpy()
    ysd = float(np.nanstd(y))
    ftol = TOL["fitted"]["rtol"]
    fitted = m.fitted()
    fitted = fitted.compute() if hasattr(fitted, "compute") else fitted      # a Dask fit's: lazy
    assert_close(np.asarray(fitted, dtype=float), r["fitted"], "fitted", rtol=ftol, atol=ftol * ysd)


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(designs())
def test_random_designs_match_lme4(design):
    compare_with_r(design)


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(designs(), st.integers(1, 6))
def test_random_designs_from_dask_partitions_match_lme4(design, npartitions):
    """The same designs fitted from a Dask DataFrame (issue 13): lme4's numbers from the block sums."""
    pytest.importorskip("dask.dataframe")
    compare_with_r(design, npartitions=npartitions)


@pytest.mark.parametrize("design", [
    # a fixed handful that exercise each structure whatever hypothesis draws
    Design(1, "one", ("1+x",), 120, 8, 2, True, False, 0, True, False),
    Design(2, "nested", ("1", "x||"), 200, 6, 1, False, True, 3, False, True),
    Design(3, "nested-slash", ("1+x",), 180, 5, 0, True, False, 1, True, True),
    Design(4, "crossed", ("0+x", "1"), 90, 10, 3, False, True, 0, True, False),
    Design(5, "nested+crossed", ("1", "1", "1+x"), 250, 9, 2, True, True, 6, False, True),
    Design(0, "nested-slash", ("x||",), 40, 3, 0, False, False, 0, False, False),
    Design(230, "nested-slash", ("1+x",), 183, 3, 0, False, True, 1, False, False),
    Design(6, "crossed3", ("x||", "1", "1"), 150, 7, 1, True, False, 0, True, False),
], ids=lambda d: f"{d.structure}-{d.seed}-{'-'.join(d.kinds)}")
def test_fixed_designs_match_lme4(design):
    compare_with_r(design)


def test_varcorr_names_use_make_names():
    """lme4's mkVarCorr renames repeated group names with make.names(unique = TRUE): g1:g2 -> g1.g2."""
    design = Design(0, "nested", ("1", "x||"), 40, 3, 0, False, False, 0, False, False)
    import rlive
    df = design.data()
    r = rlive.lmer_in_r(df, design.formula(), design.REML)
    assert r["vc_grp"] == ["g1.g2", "g1.g2.1", "g1", "Residual"]
    m = _fit_ours(design, df)
    assert list(m.VarCorr().to_frame()["grp"]) == r["vc_grp"]


def test_reaches_the_boundary_like_lme4():
    """A singular optimum that a plain BOBYQA run stops short of (mixedcompat/lme4/optimize.py's boundary polish)."""
    design = Design(201947, "nested+crossed", ("x||", "1", "x||"), 40, 8, 0, False, False, 0, True, False)
    import rlive
    df = design.data()
    r = rlive.lmer_in_r(df, design.formula(), design.REML)
    assert r["isSingular"]
    m = _fit_ours(design, df)
    assert m.isSingular() == r["isSingular"]
    check_criterion(m.REMLcrit(), r["criterion"], "criterion")


# -------------------------------------------------------------------------------- printed summary

@pytest.mark.parametrize("formula,REML", [
    ("Reaction ~ Days + (Days | Subject)", True),
    ("Reaction ~ Days + (Days || Subject)", False),
])
def test_sleepstudy_summary_prints_as_lme4(formula, REML):
    printing = pytest.importorskip("mixedcompat.present.lme4_printing")  # noqa: F841
    import mixedcompat as mc
    import rlive
    df = mc.datasets.load("sleepstudy")
    df.attrs["name"] = "sleepstudy"
    m = mc.lmer(formula, df, REML=REML)
    theirs = "\n".join(rlive.r_eval_lines(
        f"print(summary(lme4::lmer({formula}, sleepstudy, REML = {'TRUE' if REML else 'FALSE'})))"))
    assert_same_printout(str(mc.summary(m)), theirs, "summary(m)")
