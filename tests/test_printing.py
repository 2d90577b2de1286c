"""print(m), print(summary(m)) and print(VarCorr(m)) compared with R's text, line by line.

Each fixture's R numbers are put in a stand-in fit (:class:`FixtureFit`) that implements the
printing protocol of :mod:`mixedcompat.present.lme4_printing`; the printed text must equal R's
(trailing whitespace ignored). This checks the formatting alone, independently of the fitting.
"""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pandas as pd
import pytest

from mixedcompat.present.lme4_printing import (cat_fill, deparse_formula, deparse_lines, format_fixef_table,
                                  format_print, format_summary)
from mixedcompat.lme4.varcorr import VarCorr, VCTerm, make_unique
from mixedcompat.front.formula import parse_formula
from helpers import FIXTURES, TOL

FIXTURE_DIR = FIXTURES / "lmer"
# Extra fixtures in the same format (e.g. written by hand-run R sessions) can be added with
# MIXEDCOMPAT_PRINT_FIXTURES=/some/dir.
_EXTRA = os.environ.get("MIXEDCOMPAT_PRINT_FIXTURES")
PATHS = [p for p in sorted(FIXTURE_DIR.glob("*.json"))
         + (sorted(pathlib.Path(_EXTRA).glob("*.json")) if _EXTRA else [])
         if '"expected"' in p.read_text()]
RANK_DROP = "fixed-effect model matrix is rank deficient"


class LogLikValue(float):
    """float with ``.df``, as R's logLik."""

    def __new__(cls, value: float, df: int) -> "LogLikValue":
        obj = super().__new__(cls, value)
        obj.df = df
        return obj


def varcorr_from_rows(rows: list[dict], sigma: float | None) -> VarCorr:
    """Rebuild the VCTerm covariances from the rows of R's as.data.frame(VarCorr(m))."""
    terms: dict[str, dict] = {}
    for r in rows:
        if r["grp"] == "Residual":
            continue
        t = terms.setdefault(r["grp"], {"names": [], "var": {}, "cor": {}})
        if r["var2"] is None:
            t["names"].append(r["var1"])
            t["var"][r["var1"]] = r["vcov"]
        else:
            t["cor"][(r["var1"], r["var2"])] = r["vcov"]
    out = []
    for grp, t in terms.items():
        q = len(t["names"])
        cov = np.diag([t["var"][n] for n in t["names"]])
        for (a, b), v in t["cor"].items():
            i, j = t["names"].index(a), t["names"].index(b)
            cov[i, j] = cov[j, i] = v
        out.append(VCTerm(grp, t["names"], cov.reshape(q, q)))
    return VarCorr(out, sigma)


class FixtureFit:
    """A stand-in lmerMod built from an R fixture: implements the printing protocol only."""

    def __init__(self, fx: dict) -> None:
        inp, ex = fx["input"], fx["expected"]
        self.ex = ex
        self.formula = inp["formula"]
        self.parts = parse_formula(self.formula)
        self.data_name = inp.get("data")
        self.weights_name = inp.get("weights")
        self.offset_name = inp.get("offset")
        self.subset_name = inp.get("subset")
        self.control_name = inp.get("control")
        self.REML = bool(ex["REML"])
        self.df_residual = int(ex["df_residual"])
        opt_msgs = list(ex.get("optinfo_messages") or [])
        captured = list(ex.get("warnings") or []) + list(ex.get("messages") or [])
        self.optinfo = {
            "optimizer": ex.get("optimizer", "nloptwrap"),
            "conv_code": int(ex.get("conv_code") or 0),
            "messages": opt_msgs,
            "warnings": list(ex.get("optinfo_warnings") or []),
            "message": ex.get("optinfo_message"),
            "fit_warnings": [w for w in captured if w.startswith(RANK_DROP)],
        }
        self._varcorr = varcorr_from_rows(ex["varcorr"], ex["sigma"])

    def REMLcrit(self) -> float:
        return self.ex["REMLcrit"]

    def deviance(self) -> float:
        return self.ex["deviance"]

    def logLik(self) -> LogLikValue:
        return LogLikValue(self.ex["logLik"], self.ex["logLik_df"])

    def AIC(self) -> float:
        return self.ex["AIC"]

    def BIC(self) -> float:
        return self.ex["BIC"]

    def residuals(self, type: str = "pearson", scaled: bool = True) -> np.ndarray:  # noqa: A002
        return np.asarray(self.ex["residuals_pearson_scaled"], dtype=float)

    def VarCorr(self) -> VarCorr:
        return self._varcorr

    def ngrps(self) -> dict:
        return dict(self.ex["ngrps"])

    def nobs(self) -> int:
        return int(self.ex["nobs"])

    def _names(self) -> list[str]:
        names = self.ex["fixef"]["names"]
        return [names] if isinstance(names, str) else list(names)

    def fixef(self) -> pd.Series:
        return pd.Series(np.atleast_1d(self.ex["fixef"]["values"]), index=self._names(), dtype=float)

    def vcov(self) -> pd.DataFrame:
        names = self._names()
        return pd.DataFrame(np.asarray(self.ex["vcov"], dtype=float).reshape(len(names), len(names)),
                            index=names, columns=names)


def all_residuals_stored(ex: dict) -> bool:
    return len(ex["residuals_pearson_scaled"]) == int(ex["nobs"])


def assert_same_text(ours: str, r_text: str, what: str, skip: set[int] = frozenset()) -> None:
    a = [line.rstrip() for line in ours.split("\n")]
    b = [line.rstrip() for line in r_text.split("\n")]
    for i in range(max(len(a), len(b))):
        if i in skip:
            continue
        la = a[i] if i < len(a) else "<missing line>"
        lb = b[i] if i < len(b) else "<missing line>"
        assert la == lb, f"{what}: first difference at line {i + 1}:\n ours: {la!r}\n    R: {lb!r}"


def _load(path: pathlib.Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


pytestmark = pytest.mark.skipif(not PATHS, reason="no lmer fixtures (run tests/fixtures/generate_fixtures.R)")


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_varcorr_text(path: pathlib.Path) -> None:
    fx = _load(path)
    assert_same_text(str(FixtureFit(fx).VarCorr()), fx["expected"]["varcorr_text"], "print(VarCorr(m))")


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_print_text(path: pathlib.Path) -> None:
    fx = _load(path)
    assert_same_text(format_print(FixtureFit(fx)), fx["expected"]["print_text"], "print(m)")


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_summary_text(path: pathlib.Path) -> None:
    fx = _load(path)
    ex = fx["expected"]
    skip: set[int] = set()
    if not all_residuals_stored(ex):
        r_lines = ex["summary_text"].split("\n")
        at = r_lines.index("Scaled residuals: ")
        skip = {at + 1, at + 2}
    assert_same_text(format_summary(FixtureFit(fx)), ex["summary_text"], "print(summary(m))", skip)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_varcorr_frame_round_trip(path: pathlib.Path) -> None:
    fx = _load(path)
    ex = fx["expected"]
    frame = FixtureFit(fx).VarCorr().to_frame()
    assert list(frame.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    rows = ex["varcorr"]
    assert len(frame) == len(rows)
    for (_, ours), r in zip(frame.iterrows(), rows):
        assert (ours["grp"], ours["var1"], ours["var2"]) == (r["grp"], r["var1"], r["var2"])
        np.testing.assert_allclose([ours["vcov"], ours["sdcor"]], [r["vcov"], r["sdcor"]], **TOL["same_computation"])


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_fixef_table_values(path: pathlib.Path) -> None:
    fx = _load(path)
    ex = fx["expected"]
    table = format_fixef_table(FixtureFit(fx))
    assert list(table.columns) == ["Estimate", "Std. Error", "t value"]
    assert list(table.index) == FixtureFit(fx)._names()
    if "se" in ex:
        np.testing.assert_allclose(table["Std. Error"], ex["se"], **TOL["table_from_fixture"])


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_formula_line_matches_r(path: pathlib.Path) -> None:
    fx = _load(path)
    r_line = fx["expected"]["print_text"].split("\n")[1]
    ours = deparse_formula(fx["input"]["formula"])
    if r_line.startswith("Formula: ") and len(r_line) > len("Formula: "):
        assert r_line.rstrip().startswith("Formula: " + deparse_lines(fx["input"]["formula"])[0].rstrip())
    assert "  " not in ours


# ------------------------------------------------------------------ unit tests without fixtures

def test_make_unique_names_repeated_groups() -> None:
    assert make_unique(["Subject", "Subject", "Subject"]) == ["Subject", "Subject.1", "Subject.2"]
    vc = VarCorr([VCTerm("Subject", ["(Intercept)"], np.array([[4.0]])),
                  VCTerm("Subject", ["Days"], np.array([[1.0]]))], 2.0)
    assert list(vc.to_frame()["grp"]) == ["Subject", "Subject.1", "Residual"]


def test_varcorr_rejects_bad_shapes_and_comp() -> None:
    with pytest.raises(ValueError):
        VCTerm("g", ["a", "b"], np.eye(3))
    vc = VarCorr([VCTerm("g", ["(Intercept)"], np.array([[4.0]]))], 1.0)
    with pytest.raises(ValueError):
        vc.format(comp=("Varianz",))


def test_varcorr_without_scale_has_no_residual_row() -> None:
    vc = VarCorr([VCTerm("g", ["(Intercept)"], np.array([[4.0]]))], None)
    assert all("Residual" not in line for line in vc.format_lines())
    assert list(vc.to_frame()["grp"]) == ["g"]


def test_varcorr_correlation_columns_have_equal_width() -> None:
    cov = np.array([[4.0, 1.0, -0.5], [1.0, 2.0, 0.3], [-0.5, 0.3, 1.0]])
    lines = VarCorr([VCTerm("g", ["(Intercept)", "a", "b"], cov),
                     VCTerm("h", ["(Intercept)"], np.array([[1.0]]))], 1.0).format_lines()
    assert len({len(line) for line in lines}) == 1
    assert lines[0].split()[-1] == "Corr"


@pytest.mark.parametrize("typed, r", [
    ("y~x", "y ~ x"),
    ("y ~ x*f + (1|a/b)", "y ~ x * f + (1 | a/b)"),
    ("y ~ a:b + c^2 + log(x) + (1|g:h)", "y ~ a:b + c^2 + log(x) + (1 | g:h)"),
    ("y~poly(x,2)+ns(x, df=3)+(1|g)", "y ~ poly(x, 2) + ns(x, df = 3) + (1 | g)"),
    ("y ~ -1 + x + offset(o) + (1|g)", "y ~ -1 + x + offset(o) + (1 | g)"),
    ("y ~ a %in% b + I(x * 2) + (1 | g)", "y ~ a %in% b + I(x * 2) + (1 | g)"),
    ("y ~ x + (0+x||h)", "y ~ x + ((0 + x | h))"),
    ("y ~ x + (a + b || g)", "y ~ x + ((1 | g) + (0 + a | g) + (0 + b | g))"),
    ("log(y) ~ x + (1|g)", "log(y) ~ x + (1 | g)"),
    ("y ~ x + I(x^2.50) + (1|g)", "y ~ x + I(x^2.5) + (1 | g)"),
])
def test_deparse_formula_spacing(typed: str, r: str) -> None:
    # spacing rules of R's deparse: spaces around ~ + - * | || and %op%, none around : ^ /
    assert deparse_formula(typed) == r


def test_deparse_breaks_long_formulas_after_an_operator() -> None:
    text = "y ~ " + " + ".join(f"variable_number_{k}" for k in range(8)) + " + (1 | g)"
    lines = deparse_lines(text)
    assert len(lines) > 1
    assert all(line.endswith(" ") for line in lines[:-1])
    assert all(line.startswith("    ") for line in lines[1:])
    assert " ".join(x.strip() for x in lines) == deparse_formula(text)


def test_cat_fill_wraps_at_width() -> None:
    assert cat_fill(["a" * 50, "b" * 40]) == ["a" * 50 + " ", "b" * 40]
    assert cat_fill(["abc", "def"]) == ["abc def"]



_PRT_WARN_CASES = [  # (code, optimizer, message, messages, warnings)
    (-4, "nloptwrap", None, [], []), (1, "bobyqa", None, [], []), (1, "bobyqa", "maxfun", [], []),
    (0, "Nelder_Mead", None, ["m1"], ["w1", "w2"]), (0, "nloptwrap", None, [], []), (4, "bobyqa", "x", ["m"], []),
]


@pytest.mark.r
@pytest.mark.parametrize("case", _PRT_WARN_CASES)
@pytest.mark.parametrize("summary", [True, False])
def test_optimizer_code_line_follows_lme4_prt_warn(case, summary):
    """The optimizer line of print / summary as lme4's .prt.warn writes it for the same optinfo (our
    ``summary=True`` is a summary's print, which calls lme4's .prt.warn with summary = FALSE)."""
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import rlive
    from mixedcompat.present.lme4_printing import warning_lines
    code, optimizer, message, msgs, warns = case
    r_list = lambda xs: "list(" + ", ".join(json.dumps(x) for x in xs) + ")"   # noqa: E731
    r_message = "NULL" if message is None else json.dumps(message)
    expected = rlive.r_eval_lines(
        f"lme4:::.prt.warn(list(conv = list(opt = {code}, lme4 = list(messages = {r_list(msgs)})), "
        f"optimizer = {json.dumps(optimizer)}, message = {r_message}, warnings = {r_list(warns)}), "
        f"summary = {'FALSE' if summary else 'TRUE'})")
    info = {"conv_code": code, "optimizer": optimizer, "message": message, "messages": msgs, "warnings": warns}
    assert warning_lines(None, summary=summary, info=info) == expected
