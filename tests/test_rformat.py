"""R's number formatting (mixedcompat.present.rformat): pieces of R's printed fixture texts, and invariants.

Expected strings come only from the R fixtures (tests/fixtures/lmer/*.json); the property tests
check rules that hold whatever R's exact choices are.
"""
from __future__ import annotations

import json
import math
import pathlib
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mixedcompat.present.rformat import (EPS, abbreviate, cat_number, formatC, format_pval, format_real,
                                         format_pval_nlme, print_anova, print_coefmat, print_matrix, print_named_vector,
                                         quantile7, r_round, signif, signif_stars, zapsmall)

from helpers import FIXTURES as FIXTURE_DIR, TOL

FIXTURES = sorted((FIXTURE_DIR / "lmer").glob("*.json"))
HALF_UNIT = TOL["half_unit"]
# no timing checks: on a loaded 2-core CI machine, data generation itself can be "too slow"
PROPERTY = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])


def _load(path: pathlib.Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def _names(ex: dict) -> list[str]:
    n = ex["fixef"]["names"]
    return [n] if isinstance(n, str) else list(n)


def _section(text: str, header: str) -> list[str]:
    lines = text.split("\n")
    i = lines.index(header)
    out = []
    for line in lines[i + 1:]:
        if not line.strip():
            break
        out.append(line)
    return out


needs_fixtures = pytest.mark.skipif(not FIXTURES, reason="no lmer fixtures")
ids = [p.stem for p in FIXTURES]


# ------------------------------------------------------------------ against R's printed text

@needs_fixtures
@pytest.mark.parametrize("path", FIXTURES, ids=ids)
def test_coefficient_table_is_r_printcoefmat(path: pathlib.Path) -> None:
    ex = _load(path)["expected"]
    beta = np.atleast_1d(np.asarray(ex["fixef"]["values"], dtype=float))
    se = np.sqrt(np.diag(np.asarray(ex["vcov"], dtype=float).reshape(beta.size, beta.size)))
    ours = print_coefmat(np.column_stack([beta, se, beta / se]), _names(ex),
                         ["Estimate", "Std. Error", "t value"], digits=4)
    r = _section(ex["summary_text"], "Fixed effects:")[: len(_names(ex)) + 1]
    assert [x.rstrip() for x in ours] == [x.rstrip() for x in r]


@needs_fixtures
@pytest.mark.parametrize("path", FIXTURES, ids=ids)
def test_scaled_residual_quantiles(path: pathlib.Path) -> None:
    ex = _load(path)["expected"]
    if len(ex["residuals_pearson_scaled"]) != ex["nobs"]:
        pytest.skip("fixture stores only some residuals")
    q = zapsmall(quantile7(ex["residuals_pearson_scaled"]), 5)
    ours = print_named_vector(format_real(q, 4), ["Min", "1Q", "Median", "3Q", "Max"])
    assert ours == _section(ex["summary_text"], "Scaled residuals: ")[:2]


@needs_fixtures
@pytest.mark.parametrize("path", FIXTURES, ids=ids)
def test_fixed_effects_named_vector_of_print(path: pathlib.Path) -> None:
    ex = _load(path)["expected"]
    beta = np.atleast_1d(np.asarray(ex["fixef"]["values"], dtype=float))
    ours = print_named_vector(format_real(beta, 4), _names(ex), gap=2)
    lines = ex["print_text"].split("\n")
    start = lines.index("Fixed Effects:") + 1
    assert ours == lines[start:start + len(ours)]


@needs_fixtures
@pytest.mark.parametrize("path", FIXTURES, ids=ids)
def test_criterion_line_uses_cat_digits(path: pathlib.Path) -> None:
    ex = _load(path)["expected"]
    if not ex["REML"]:
        pytest.skip("ML fit")
    lines = ex["print_text"].split("\n")
    assert f"REML criterion at convergence: {cat_number(float(r_round(ex['REMLcrit'], 4)))}" in lines
    lines = ex["summary_text"].split("\n")
    assert f"REML criterion at convergence: {cat_number(float(r_round(ex['REMLcrit'], 1)))}" in lines


@needs_fixtures
@pytest.mark.parametrize("path", FIXTURES, ids=ids)
def test_correlation_header_uses_abbreviate(path: pathlib.Path) -> None:
    ex = _load(path)["expected"]
    names = _names(ex)
    text = ex["summary_text"].split("\n")
    if "Correlation of Fixed Effects:" not in text:
        pytest.skip("no correlation block")
    block = _section(ex["summary_text"], "Correlation of Fixed Effects:")
    rows = abbreviate(names, 11)[1:]
    rw = max(len(r) for r in rows)
    assert [line[:rw].rstrip() for line in block[1:len(names)]] == rows
    pos = 0
    for col in abbreviate(names, 6)[: len(names) - 1]:
        found = block[0].find(col, pos)
        if found < 0:  # the matrix continues in a second block
            break
        pos = found + len(col)
    assert pos > 0


# ------------------------------------------------------------------ invariants

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
vectors = st.lists(finite, min_size=1, max_size=6)
digits_st = st.integers(min_value=1, max_value=15)


def _shown_precision_ok(shown: float, x: float, digits: int, strict: bool = False) -> bool:
    if x == 0:
        return shown == 0
    unit = 10.0 ** (math.floor(math.log10(abs(x))) - digits + 1)
    if strict:
        return abs(shown - x) < 0.5 * unit * (1 - HALF_UNIT["rtol"])
    return abs(shown - x) <= 0.5 * unit * (1 + HALF_UNIT["rtol"]) + abs(x) * HALF_UNIT["atol"]


@PROPERTY
@given(vectors, digits_st)
def test_format_real_common_width_and_precision(xs: list[float], digits: int) -> None:
    out = format_real(xs, digits)
    assert len({len(s) for s in out}) == 1
    assert all(s == s.strip() or s.startswith(" ") and not s.endswith(" ") for s in out)
    for s, x in zip(out, xs):
        assert _shown_precision_ok(float(s), x, digits), (xs, digits, out)


@PROPERTY
@given(vectors, digits_st)
def test_format_real_is_all_fixed_or_all_scientific(xs: list[float], digits: int) -> None:
    out = format_real(xs, digits)
    sci = ["e" in s for s in out]
    assert all(sci) or not any(sci)
    if not any(sci):
        decimals = {len(s.strip().split(".")[1]) if "." in s else 0 for s in out}
        assert len(decimals) == 1


@PROPERTY
@given(vectors, st.integers(min_value=1, max_value=12))
@example([0.95], 1)   # a decimal tie below its binary value: R's format(0.95, digits = 1) is "0.9"
def test_format_real_uses_fewest_decimals(xs: list[float], digits: int) -> None:
    out = format_real(xs, digits)
    if any("e" in s for s in out) or "." not in out[0]:
        return
    d = len(out[0].strip().split(".")[1])
    fewer = [float(f"{x:.{d - 1}f}") for x in xs]
    # strictly inside half a unit: a decimal tie such as 0.95 (binary 0.94999...) is R's "0.9" at
    # digits = 1, and "1" (0 decimals) is not an exact representation of it
    assert not all(_shown_precision_ok(f, x, digits, strict=True) for f, x in zip(fewer, xs))


@PROPERTY
@given(vectors, st.integers(min_value=1, max_value=7), st.integers(min_value=0, max_value=6))
def test_format_real_nsmall(xs: list[float], digits: int, nsmall: int) -> None:
    out = format_real(xs, digits, nsmall=nsmall)
    if not any("e" in s for s in out):
        shown = len(out[0].strip().split(".")[1]) if "." in out[0] else 0
        assert shown >= nsmall


def test_format_real_special_values() -> None:
    out = format_real([1.5, float("nan"), None, float("inf"), -float("inf")], 3)
    assert [s.strip() for s in out] == ["1.5", "NaN", "NA", "Inf", "-Inf"]
    assert len({len(s) for s in out}) == 1


@PROPERTY
@given(finite, digits_st)
def test_signif_keeps_digits(x: float, digits: int) -> None:
    y = signif(x, digits)
    assert _shown_precision_ok(y, x, digits)
    if y != 0:
        assert len(f"{abs(y):.{digits - 1}e}".split("e")[0].replace(".", "").rstrip("0")) <= digits


@PROPERTY
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), st.integers(min_value=0, max_value=8))
def test_r_round_is_within_half_unit(x: float, d: int) -> None:
    assert abs(r_round(x, d) - x) <= 0.5 * 10.0 ** -d * (1 + HALF_UNIT["rtol"]) + abs(x) * HALF_UNIT["atol"]


def test_r_round_ties_to_even_and_rounds_digits() -> None:
    assert [r_round(v) for v in (0.5, 1.5, 2.5, -0.5)] == [0.0, 2.0, 2.0, -0.0]
    assert r_round(1.234567, 2.5) == r_round(1.234567, 3)


@PROPERTY
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=40))
def test_quantile7_is_linear_interpolation(xs: list[float]) -> None:
    np.testing.assert_allclose(quantile7(xs), np.quantile(xs, [0, .25, .5, .75, 1]), **TOL["quantile7"])


@PROPERTY
@given(st.lists(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=1, max_size=10),
       st.integers(min_value=1, max_value=10))
def test_zapsmall_rounds_relative_to_largest(xs: list[float], digits: int) -> None:
    z = zapsmall(xs, digits)
    mx = max(abs(v) for v in xs)
    if mx > 0:
        d = math.floor(max(0.0, digits - math.log10(mx)) + 0.5)
        assert np.all(np.abs(z - np.asarray(xs)) <= 0.5 * 10.0 ** -d * (1 + HALF_UNIT["rtol"]) + mx * HALF_UNIT["atol"])


names_st = st.lists(st.text(alphabet="abcdeiouxyzABC:()_.^0123 ", min_size=1, max_size=25)
                    .filter(lambda s: s.strip()), min_size=1, max_size=8)


def _is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(c in it for c in short)


@PROPERTY
@given(names_st, st.integers(min_value=1, max_value=12))
def test_abbreviate_invariants(names: list[str], minlength: int) -> None:
    out = abbreviate(names, minlength)
    assert len(out) == len(names)
    for full, short in zip(names, out):
        full = full.strip()
        assert short[:1] == full[:1]
        assert _is_subsequence(short, full)
        if len(full) <= minlength:
            assert short == full
    distinct = {n.strip() for n in names}
    assert len({a for n, a in zip(names, out)}) == len(distinct)


def test_formatC_is_sprintf() -> None:
    assert formatC(3.14159, digits=3, format="f") == f"{3.14159:.3f}"
    assert formatC([1, 22], width=5, format="d") == [f"{1:5d}", f"{22:5d}"]
    assert formatC(1234.5, digits=3, format="e") == f"{1234.5:.3e}"


@PROPERTY
@given(st.lists(st.text(alphabet="abc()", min_size=1, max_size=30), min_size=1, max_size=30),
       st.integers(min_value=1, max_value=3))
def test_named_vector_layout(names: list[str], gap: int) -> None:
    values = [str(len(n)) for n in names]
    lines = print_named_vector(values, names, gap=gap)
    assert all(len(lines[i]) == len(lines[i + 1]) for i in range(0, len(lines), 2))
    assert len({len(line) for line in lines[:-2]} | {len(lines[0])}) == 1
    w = max(len(s) for s in names + values)
    per_line = max(1, 80 // (w + gap))
    assert len(lines) == 2 * math.ceil(len(names) / per_line)


@PROPERTY
@given(st.integers(min_value=1, max_value=6), st.integers(min_value=1, max_value=30),
       st.booleans())
def test_matrix_layout_fits_width(nrow: int, ncol: int, right: bool) -> None:
    cells = [[f"{i * j - 7:.3f}" for j in range(ncol)] for i in range(nrow)]
    lines = print_matrix(cells, [f"row{i}" for i in range(nrow)], [f"c{j}" for j in range(ncol)], right=right)
    assert all(len(line) <= 80 for line in lines)
    blocks = len(lines) // (nrow + 1)
    assert len(lines) == blocks * (nrow + 1)
    headers = " ".join(lines[b * (nrow + 1)] for b in range(blocks)).split()
    assert headers == [f"c{j}" for j in range(ncol)]


def test_coefmat_reformats_nonzero_values_shown_as_zero() -> None:
    lines = print_coefmat(np.array([[1234.5, 1.0, 3.0], [1e-7, 2e-8, 5.0]]), ["a", "b"],
                          ["Estimate", "Std. Error", "t value"], digits=4)
    b = re.split(r"\s+", lines[2].strip())
    assert float(b[1]) != 0 and float(b[2]) != 0


# ------------------------------------------------------------------ format.pval / printCoefmat / print.anova vs live R

def _r_doubles(values) -> object:
    """An R double vector (NaN -> NA)."""
    import rlive
    ro = rlive.robjects()
    return ro.FloatVector([ro.NA_Real if math.isnan(v) else float(v) for v in values])


def _r_matrix(x: np.ndarray, col_names: list[str]) -> object:
    import rlive
    ro = rlive.robjects()
    m = ro.r.matrix(_r_doubles(np.asarray(x, dtype=float).T.ravel()), nrow=x.shape[0])
    return ro.r("function(m, cn) { colnames(m) <- cn; rownames(m) <- paste0('r', seq_len(nrow(m))); m }")(
        m, ro.StrVector(col_names))


R_LIVE = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
pvalues = st.one_of(
    st.floats(min_value=1e-300, max_value=1e-14),                       # tiny: around and below eps
    st.floats(min_value=1e-6, max_value=2e-3),                          # the 1e-3 .. 1e-5 borderline
    st.builds(lambda x, d: float(f"{x:.{d}g}"), st.floats(min_value=1e-6, max_value=1.0),
              st.integers(min_value=1, max_value=3)),                   # short decimals (ties, trailing zeros)
    st.floats(min_value=0.0, max_value=1.0),
    st.sampled_from([0.0, 1.0, math.nan, EPS, EPS / 2, 1e-16, 1e-4, 1e-3, 9.9995e-4, 9.99995e-5, 5e-5, 0.05, 0.1,
                     0.9995]),
)


@pytest.mark.r
@R_LIVE
@given(st.lists(pvalues, min_size=1, max_size=8), st.integers(min_value=1, max_value=7),
       st.sampled_from([EPS, 1e-10, 1e-4]))
@example([0.5, 0.0005], 1, EPS)        # two groups: "0.5" "5e-04" (one group with 3 digits: "5e-01" "5e-04")
@example([0.5, 0.0005], 3, EPS)
@example([1e-20], 6, EPS)              # "< 2.22e-16": format(eps, digits = 4) drops the trailing zero
def test_format_pval_is_r(pv: list[float], digits: int, eps: float) -> None:
    import rlive
    ro = rlive.robjects()
    theirs = [str(s) for s in ro.r("function(p, d, e) format.pval(p, digits = d, eps = e)")(_r_doubles(pv), digits, eps)]
    assert format_pval(pv, digits, eps) == theirs


@pytest.mark.r
@R_LIVE
@given(st.lists(pvalues, min_size=1, max_size=8))
def test_signif_stars_are_r_symnum(pv: list[float]) -> None:
    import rlive
    ro = rlive.robjects()
    theirs = ro.r("""function(p) as.vector(unclass(symnum(p, corr = FALSE, na = FALSE,
        cutpoints = c(0, 0.001, 0.01, 0.05, 0.1, 1), symbols = c("***", "**", "*", ".", " "))))""")(_r_doubles(pv))
    assert signif_stars(pv) == [str(s) for s in theirs]


COEF_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
COEF_TABLES = {
    # lmerTest-like: a p-value below eps, borderline 1e-4 .. 1e-3 values, NA
    "tiny": [[251.405, 6.825, 17.0, 36.838, 1e-17], [10.467, 1.546, 17.0, 6.771, 3.26382e-06]],
    "borderline": [[1.5, 0.4, 30.2, 3.75, 7.6e-4], [-0.3, 0.07, 30.2, -4.3, 1.6e-4], [0.01, 0.2, 12.5, 0.05, 0.96]],
    "fixed_group": [[0.2, 0.1, 8.1, 2.0, 0.0805], [2.1, 0.5, 8.1, 4.2, 0.00297]],
    "with_na": [[1.0, 0.5, 10.0, 2.0, math.nan], [3.0, 0.2, 10.5, 15.0, 2e-11], [0.0, 0.1, 10.0, 0.0, 1.0]],
    "no_stars": [[0.1, 0.3, 40.0, 0.33, 0.74], [0.2, 0.4, 41.0, 0.5, 0.62]],
}


@pytest.mark.r
@pytest.mark.parametrize("name", sorted(COEF_TABLES))
@pytest.mark.parametrize("digits", [3, 4, 7])
def test_coefficient_table_p_column_is_r_printcoefmat(name: str, digits: int) -> None:
    import rlive
    ro = rlive.robjects()
    x = np.array(COEF_TABLES[name], dtype=float)
    rows = [f"r{i + 1}" for i in range(len(x))]
    ours = print_coefmat(x, rows, COEF_COLUMNS, digits)
    theirs = [str(s) for s in ro.r("function(x, d) capture.output(printCoefmat(x, digits = d))")(
        _r_matrix(x, COEF_COLUMNS), digits)]
    # the p-value column (and stars) first, then every line
    p_ours = [line[len(ours[0].split("Pr(>|t|)")[0]):] for line in ours[: len(rows) + 1]]
    p_theirs = [line[len(theirs[0].split("Pr(>|t|)")[0]):] for line in theirs[: len(rows) + 1]]
    assert p_ours == p_theirs
    assert ours == theirs


@pytest.mark.r
@R_LIVE
@given(st.lists(st.tuples(st.floats(min_value=-1e3, max_value=1e3), st.floats(min_value=1e-3, max_value=1e2),
                          st.floats(min_value=1.0, max_value=500.0), pvalues), min_size=1, max_size=5),
       st.integers(min_value=2, max_value=7))
@example(rows=[(0.0, 1.0, 1.0, 9.929234143626e-15), (995.0, 1.0, 1.0, 1e-300)], digits=2)   # R's roundingwidens
def test_printcoefmat_is_r(rows: list[tuple[float, float, float, float]], digits: int) -> None:
    import rlive
    ro = rlive.robjects()
    x = np.array([[b, se, df, b / se, p] for b, se, df, p in rows], dtype=float)
    names = [f"r{i + 1}" for i in range(len(x))]
    theirs = [str(s) for s in ro.r("function(x, d) capture.output(printCoefmat(x, digits = d))")(
        _r_matrix(x, COEF_COLUMNS), digits)]
    assert print_coefmat(x, names, COEF_COLUMNS, digits) == theirs


ANOVA_TABLES = {
    "lrt": (["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"],
            [[4, 1802.1, 1814.8, -897.04, 1794.1, math.nan, math.nan, math.nan],
             [6, 1763.9, 1783.1, -875.97, 1751.9, 42.139, 2, 7.072e-10]]),
    "drop1": (["npar", "AIC", "LRT", "Pr(Chi)"],
              [[math.nan, 1763.9, math.nan, math.nan], [1, 1785.5, 23.537, 1.226e-06], [1, 1764.2, 2.3, 0.1294]]),
    "ranova": (["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"],
               [[6, -871.81, 1755.6, math.nan, math.nan, math.nan], [4, -893.23, 1794.5, 42.836, 2, 4.99e-10],
                [5, -871.9, 1753.8, 0.18, 1, 0.6714]]),
}


@pytest.mark.r
@pytest.mark.parametrize("name", sorted(ANOVA_TABLES))
def test_print_anova_is_r(name: str) -> None:
    import pandas as pd
    import rlive
    ro = rlive.robjects()
    cols, rows = ANOVA_TABLES[name]
    x = np.array(rows, dtype=float)
    tab = pd.DataFrame(x, columns=cols, index=[f"r{i + 1}" for i in range(len(x))])
    theirs = [str(s) for s in ro.r("""function(x) { d <- as.data.frame(x);
        class(d) <- c("anova", "data.frame"); attr(d, "heading") <- c("Heading", "line 2");
        capture.output(print(d)) }""")(_r_matrix(x, cols))]
    assert print_anova(tab, ["Heading", "line 2"]) == theirs


@pytest.mark.r
@R_LIVE
@given(st.lists(pvalues, min_size=1, max_size=8))
@example([3e-5, 7e-5, math.nan])       # nlme's "<.0001" is round(p, 4) == 0: 7e-5 prints 1e-04
def test_nlme_pvalue_column_is_r(pv: list[float]) -> None:
    import rlive
    ro = rlive.robjects()
    anova = ro.r("""function(p) { xx <- round(p, 4); xna <- is.na(xx); xx[!xna] <- format(xx[!xna]);
        xx[as.double(xx) == 0] <- "<.0001"; xx[xna] <- ""; xx }""")   # nlme:::print.anova.lme
    summary = ro.r("function(p) format(round(p, 4))")                  # nlme:::print.summary.lme
    assert format_pval_nlme(pv) == [str(s) for s in anova(_r_doubles(pv))]
    assert format_pval_nlme(pv, less_than=False) == [str(s) for s in summary(_r_doubles(pv))]


@R_LIVE
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), st.integers(min_value=-3, max_value=9))
@example(251.405, 2)                    # R: 251.4, Python's round: 251.41
@example(6.825, 2)                      # R: 6.82, Python's round: 6.83
@pytest.mark.r
def test_r_round_is_r(x: float, digits: int) -> None:
    import rlive
    ro = rlive.robjects()
    assert r_round(x, digits) == float(ro.r("round")(x, digits)[0])
