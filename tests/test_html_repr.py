"""Notebook rendering: every result class of mixedcompat has ``_repr_html_``, and its HTML shows R's text.

The results are discovered, not listed: each public name of ``mc.__all__`` is either called here on a
few fits (``CALLS``) or named in ``NOT_RESULTS`` with the reason; every object the calls return whose
class is mixedcompat's must render as HTML (or be in ``NO_HTML`` with the reason). A new public
function, or a new result class, without HTML fails ``test_every_public_name_is_exercised`` or
``test_every_result_class_has_html``.

For each object: the HTML is well formed (tags balance), shows exactly the tokens of ``str(obj)`` (same
numbers, same rounding, same words: nothing added, nothing lost), escapes ``<`` and ``&``, and the
classes that print tables (``MUST_HAVE_TABLES``) draw them as ``<table>``.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter
from html.parser import HTMLParser

import pytest

import mixedcompat as mc
from mixedcompat.glmer.negbin import GlmerNbMod
from mixedcompat.present.html import HtmlRepr, TableLayout, html_of_text, note_layout, recorded_layouts, repr_html
from mixedcompat.present.rformat import print_matrix


# ------------------------------------------------------------------------------------------ fits
@pytest.fixture(scope="module")
def fits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ss = mc.datasets.load("sleepstudy")
        machines = mc.datasets.load("Machines")
        ortho = mc.datasets.load("Orthodont")
        cbpp = mc.datasets.load("cbpp")
        f = {
            "m": mc.lmer("Reaction ~ Days + (Days | Subject)", ss),
            "m0": mc.lmer("Reaction ~ 1 + (Days | Subject)", ss),
            "mf": mc.lmer("score ~ Machine + (1 | Worker)", machines),
            "g": mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"),
            "lme": mc.lme("distance ~ age", ortho, random="~ 1 | Subject"),
            "gls": mc.gls("distance ~ age", ortho, correlation=mc.corAR1(form="~ 1 | Subject")),
            "ss": ss,
        }
    return f


def _lf(f):
    return mc.lFormula("Reaction ~ Days + (Days | Subject)", f["ss"])


# public name -> calls producing results from the fits (each call: fits -> object)
CALLS = {
    "lmer": [lambda f: f["m"]],
    "glmer": [lambda f: f["g"]],
    "lme": [lambda f: f["lme"]],
    "gls": [lambda f: f["gls"]],
    "summary": [lambda f: mc.summary(f["m"]), lambda f: mc.summary(f["m"], ddf="Satterthwaite"),
                lambda f: mc.summary(f["mf"], ddf="Kenward-Roger"), lambda f: mc.summary(f["g"]),
                lambda f: mc.summary(f["lme"]), lambda f: mc.summary(f["gls"])],
    "VarCorr": [lambda f: mc.VarCorr(f["m"]), lambda f: mc.VarCorr(f["lme"])],
    "ranef": [lambda f: mc.ranef(f["m"]), lambda f: mc.ranef(f["lme"])],
    "coef": [lambda f: mc.coef(f["m"]), lambda f: mc.coef(f["gls"])],
    "fixef": [lambda f: mc.fixef(f["m"])],
    "vcov": [lambda f: mc.vcov(f["m"])],
    "sigma": [lambda f: mc.sigma(f["m"])],
    "logLik": [lambda f: mc.logLik(f["m"]), lambda f: mc.logLik(f["lme"])],
    "AIC": [lambda f: mc.AIC(f["m"])],
    "BIC": [lambda f: mc.BIC(f["m"])],
    "deviance": [lambda f: mc.deviance(f["g"])],
    "REMLcrit": [lambda f: mc.REMLcrit(f["m"])],
    "nobs": [lambda f: mc.nobs(f["m"])],
    "ngrps": [lambda f: mc.ngrps(f["m"])],
    "fitted": [lambda f: mc.fitted(f["m"])],
    "residuals": [lambda f: mc.residuals(f["m"])],
    "resid": [lambda f: mc.resid(f["lme"])],
    "getME": [lambda f: mc.getME(f["m"], "theta")],
    "isSingular": [lambda f: mc.isSingular(f["m"])],
    "predict": [lambda f: mc.predict(f["m"])],
    "simulate": [lambda f: mc.simulate(f["m"], seed=1)],
    "refit": [lambda f: mc.refit(f["m"], mc.fitted(f["m"]))],
    "update": [lambda f: mc.update(f["m"], REML=False)],
    "anova": [lambda f: mc.anova(f["m0"], f["m"]), lambda f: mc.anova(f["m"]),
              lambda f: mc.anova(f["mf"], ddf="Kenward-Roger"), lambda f: mc.anova(f["g"]),
              lambda f: mc.anova(f["lme"]),
              lambda f: mc.anova(f["lme"], mc.update(f["lme"], random="~ age | Subject"))],
    "drop1": [lambda f: mc.drop1(f["m"]), lambda f: mc.drop1(f["g"], test="Chisq")],
    "ranova": [lambda f: mc.ranova(f["m"])],
    "confint": [lambda f: mc.confint(f["m"], method="Wald"),
                lambda f: mc.confint(mc.lmList("Reaction ~ Days | Subject", f["ss"]))],
    "profile": [lambda f: mc.profile(f["m"])],
    "bootMer": [lambda f: mc.bootMer(f["m"], mc.fixef, nsim=5, seed=1, progress=False)],
    "boot_ci": [lambda f: mc.boot_ci(mc.bootMer(f["m"], mc.fixef, nsim=20, seed=1, progress=False))],
    "PBmodcomp": [lambda f: mc.PBmodcomp(f["m"], f["m0"], nsim=20, seed=1, progress=False),
                  lambda f: mc.summary(mc.PBmodcomp(f["m"], f["m0"], nsim=20, seed=1, progress=False))],
    "PBrefdist": [lambda f: mc.PBrefdist(f["m"], f["m0"], nsim=5, seed=1, progress=False)],
    "getLRT": [lambda f: mc.getLRT(f["m"], f["m0"])],
    "KRmodcomp": [lambda f: mc.KRmodcomp(f["m"], f["m0"])],
    "SATmodcomp": [lambda f: mc.SATmodcomp(f["m"], f["m0"])],
    "getKR": [lambda f: mc.getKR(mc.KRmodcomp(f["m"], f["m0"]), "ddf")],
    "getSAT": [lambda f: mc.getSAT(mc.SATmodcomp(f["m"], f["m0"]), "ddf")],
    "vcovAdj": [lambda f: mc.vcovAdj(f["m"])],
    "contest": [lambda f: mc.contest(f["m"], [0, 1]), lambda f: mc.contest(f["m"], [0, 1], joint=False)],
    "show_tests": [lambda f: mc.show_tests(mc.anova(f["mf"], ddf="Satterthwaite"))],
    "step": [lambda f: mc.step(f["m"])],
    "get_model": [lambda f: mc.get_model(mc.step(f["m"]))],
    "ls_means": [lambda f: mc.ls_means(f["mf"])],
    "difflsmeans": [lambda f: mc.difflsmeans(f["mf"])],
    "emmeans": [lambda f: mc.emmeans(f["g"], "period"), lambda f: mc.emmeans(f["mf"], "pairwise ~ Machine"),
                lambda f: mc.summary(mc.emmeans(f["mf"], "Machine"), infer=(True, True))],
    "contrast": [lambda f: mc.contrast(mc.emmeans(f["g"], "period"))],
    "pairs": [lambda f: mc.pairs(mc.emmeans(f["mf"], "Machine"))],
    "model_table": [lambda f: mc.model_table(f["m"], f["m0"])],
    "cross_validate": [lambda f: mc.cross_validate(f["m"], folds=3, seed=1)],
    "intervals": [lambda f: mc.intervals(f["lme"]), lambda f: mc.intervals(f["gls"]),
                  lambda f: mc.intervals(mc.lmList("Reaction ~ Days | Subject", f["ss"]))],
    "getVarCov": [lambda f: mc.getVarCov(f["lme"])],
    "ACF": [lambda f: mc.ACF(f["lme"])],
    "Variogram": [lambda f: mc.Variogram(f["gls"])],
    "augPred": [lambda f: mc.augPred(f["lme"], primary="~ age")],
    "isREML": [lambda f: mc.isREML(f["m"])],
    "isLMM": [lambda f: mc.isLMM(f["m"])],
    "isGLMM": [lambda f: mc.isGLMM(f["g"])],
    "isNLMM": [lambda f: mc.isNLMM(f["m"])],
    "refitML": [lambda f: mc.refitML(f["m"])],
    "extractAIC": [lambda f: mc.extractAIC(f["m"])],
    "model_frame": [lambda f: mc.model_frame(f["m"])],
    "model_matrix": [lambda f: mc.model_matrix(f["m"])],
    "terms": [lambda f: mc.terms(f["m"])],
    "hatvalues": [lambda f: mc.hatvalues(f["m"])],
    "cooks_distance": [lambda f: mc.cooks_distance(f["m"])],
    "allFit": [lambda f: mc.allFit(f["m"], progress=False), lambda f: mc.allFit(f["m"], progress=False).summary()],
    "influence": [lambda f: mc.influence(f["m0"])],
    "dfbeta": [lambda f: mc.dfbeta(mc.influence(f["m0"]))],
    "dfbetas": [lambda f: mc.dfbetas(mc.influence(f["m0"]), match_r=False)],
    "lFormula": [_lf],
    "glFormula": [lambda f: mc.glFormula("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                         mc.datasets.load("cbpp"))],
    "mkLmerDevfun": [lambda f: mc.mkLmerDevfun(_lf(f))],
    "optimizeLmer": [lambda f: mc.optimizeLmer(mc.mkLmerDevfun(_lf(f)))],
    "mkMerMod": [lambda f: (lambda d: mc.mkMerMod(d, mc.optimizeLmer(d)))(mc.mkLmerDevfun(_lf(f)))],
    "lmList": [lambda f: mc.lmList("Reaction ~ Days | Subject", f["ss"]),
               lambda f: mc.summary(mc.lmList("Reaction ~ Days | Subject", f["ss"]))],
}

# public names that are not functions returning a result, and why
NOT_RESULTS = {
    **{n: "an error or warning class" for n in
       ("FormulaError", "DataError", "ConvergenceWarning", "GradientWarning", "HessianWarning", "ConvergenceError",
        "ScaleWarning", "IdentifiabilityWarning", "VarparHessianWarning", "KenwardRogerFallbackWarning",
        "MissingCellsWarning", "SingularFitWarning", "RankDeficiencyWarning")},
    **{n: "a model-structure constructor (an argument of lme / gls, not a result)" for n in
       ("pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "pdLogChol", "pdBlocked", "corAR1", "corCAR1", "corARMA",
        "corCompSymm", "corSymm", "corExp", "corGaus", "corSpher", "corLin", "corRatio", "varIdent", "varPower",
        "varExp", "varConstPower", "varFixed", "varComb")},
    **{n: "a fit class: its objects come from the fitting functions called above" for n in
       ("LmerMod", "GlmerMod", "MixedModel")},
    "LogLik": "the class of logLik()'s result (called above)",
    "glmer_nb": "returns a GlmerNbMod, a GlmerMod subclass (test_glmer_nb_fits_render_as_glmer_fits)",
    "family": "a module of GLM family constructors (arguments, not results)",
    "datasets": "a module of data sets (pandas DataFrames)",
    "make_cc": "builds a control dict (an argument)",
    "lmeControl": "builds a control dict (an argument)",
    "to_statsmodels": "returns statsmodels' own objects (optional extra)",
    "from_statsmodels": "returns an R formula string from a statsmodels model (optional extra)",
}

# mixedcompat classes returned by the calls that deliberately have no HTML of their own, and why
NO_HTML = {
    "LmerFormula": "lme4's modular interface's intermediate (R prints it as a raw list); not a result to show",
    "LmerDevfun": "the objective function of the modular interface (R prints a function)",
    "LmerOpt": "the optimizer's output of the modular interface (R prints a raw list)",
    "InfluenceMerMod": "lme4's influence.merMod has no print method (a list); its parts are DataFrames",
}

# the classes whose printed text holds tables: their HTML must draw them as <table>
MUST_HAVE_TABLES = {"LmerMod", "GlmerMod", "NlmeFit", "LmerSummary", "GlmerSummary", "NlmeSummary", "VarCorr",
                    "NlmeVarCorr", "RanefDict", "AnovaTable", "NlmeAnovaTable", "Intervals", "ContestTable",
                    "Hypotheses", "EmmGrid", "SummaryEmm", "EmmList", "PBModComp", "PBModCompSummary", "PBRefDist",
                    "KRModComp", "SATModComp", "StepResult", "BootResult", "LsMeansTable", "LmList",
                    "LmListSummary", "LmListIntervals", "AllFitSummary"}


@pytest.fixture(scope="module")
def results(fits):
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, calls in CALLS.items():
            for k, call in enumerate(calls):
                out.append((f"{name}[{k}]", call(fits)))
    return out


def _ours(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "mixedcompat"


@pytest.fixture(scope="module")
def rendered(results):
    """(label, object, text, html) of every result of a mixedcompat class that has HTML."""
    out = []
    for label, obj in results:
        if _ours(obj) and type(obj).__name__ not in NO_HTML:
            out.append((label, obj, str(obj), obj._repr_html_()))
    return out


# ------------------------------------------------------------------------------------------ parsing
class _Checker(HTMLParser):
    """Collects the text and checks that tags nest and close."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.tags: Counter = Counter()

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        self.tags[tag] += 1

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if not self.stack:
            self.errors.append(f"text outside the root element: {data!r}")
        self.text.append(data)


def _check(html_text: str) -> _Checker:
    c = _Checker()
    c.feed(html_text)
    c.close()
    return c


def _tokens(text: str) -> Counter:
    return Counter(text.split())


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


# ------------------------------------------------------------------------------------------ coverage
def test_every_public_name_is_exercised():
    public = set(mc.__all__)
    assert public - set(CALLS) - set(NOT_RESULTS) == set(), "call the new public names here, or say why not"
    assert set(CALLS) & set(NOT_RESULTS) == set()
    assert set(CALLS) | set(NOT_RESULTS) <= public


def test_every_result_class_has_html(results):
    ours = {type(obj).__name__: type(obj) for _, obj in results if _ours(obj)}
    missing = sorted(n for n, cls in ours.items() if n not in NO_HTML and not issubclass(cls, HtmlRepr))
    assert missing == []
    assert set(NO_HTML) <= set(ours), "an exemption for a class no call returns"
    assert MUST_HAVE_TABLES <= set(ours), sorted(MUST_HAVE_TABLES - set(ours))


def test_glmer_nb_fits_render_as_glmer_fits():
    assert issubclass(GlmerNbMod, mc.GlmerMod) and issubclass(GlmerNbMod, HtmlRepr)


def test_dataframe_results_replace_pandas_html(results):
    frames = [obj for _, obj in results if _ours(obj) and hasattr(obj, "to_numpy") and hasattr(obj, "columns")]
    assert {type(f).__name__ for f in frames} >= {"AnovaTable", "NlmeAnovaTable", "ContestTable", "SummaryEmm",
                                                  "LsMeansTable"}
    for f in frames:
        assert type(f)._repr_html_ is HtmlRepr._repr_html_


# ------------------------------------------------------------------------------------------ each rendering
def test_html_is_well_formed(rendered):
    for label, _, _, html_text in rendered:
        c = _check(html_text)
        assert c.errors == [] and c.stack == [], (label, c.errors, c.stack)


def _expected_tokens(obj, text: str) -> Counter:
    """The text's tokens, less the row names R repeats above each further column block of a wide
    matrix (the HTML shows such a matrix as one table, its row names once)."""
    with recorded_layouts() as found:
        assert str(obj) == text
    expected = _tokens(text)
    for t in found:
        blocks = len(t.lines) // (len(t.row_names) + 1)
        for _ in range(blocks - 1):
            expected -= _tokens(" ".join(t.row_names))
    return expected


def test_html_shows_exactly_the_tokens_of_the_text(rendered):
    """Same numbers (same rounding), same words: a table's cells are the text's cells."""
    for label, obj, text, html_text in rendered:
        shown = _tokens(" ".join(_check(html_text).text))
        expected = _expected_tokens(obj, text)
        assert shown == expected, (label, expected - shown, shown - expected)


def test_every_printed_number_is_in_the_html(rendered):
    for label, _, text, html_text in rendered:
        shown = set(_NUMBER.findall(" ".join(_check(html_text).text)))
        assert set(_NUMBER.findall(text)) == shown, label


def test_classes_that_print_tables_draw_tables(rendered):
    for label, obj, _, html_text in rendered:
        if type(obj).__name__ in MUST_HAVE_TABLES:
            assert "<table" in html_text, label


def test_less_than_and_ampersand_are_escaped(rendered):
    seen_p = False
    for label, _, text, html_text in rendered:
        assert re.search(r"<(?![a-z/])", html_text) is None, label
        assert re.search(r"&(?!(?:[a-z]+|#x?[0-9a-f]+);)", html_text) is None, label
        if "Pr(>|t|)" in text or "< 2e-16" in text or "<2e-16" in text:
            seen_p = True
            assert "Pr(&gt;|t|)" in html_text or "2e-16" in html_text
    assert seen_p


def test_repr_and_str_stay_r_text(rendered):
    for label, obj, text, _ in rendered:
        assert "<" + "table" not in text and "<div" not in repr(obj), label


# ------------------------------------------------------------------------------------------ the layouts
def test_lmer_summary_tables(fits):
    s = mc.summary(fits["m"], ddf="Satterthwaite")
    html_text = s._repr_html_()
    assert html_text.count("<table") == 4        # scaled residuals, random effects, fixed effects, correlation
    c = _check(html_text)
    cells = [t.strip() for t in c.text if t.strip()]
    assert cells[0].startswith("Linear mixed model fit by REML")
    for value in ("< 2e-16", "3.26e-06", "***", "Pr(>|t|)", "Std. Error", "Corr", "-0.138"):
        assert value in cells, value
    assert "Signif. codes:" in "".join(c.text)


def test_anova_table_keeps_heading_rows_and_stars(fits):
    t = mc.anova(fits["m0"], fits["m"])
    c = _check(t._repr_html_())
    cells = [s.strip() for s in c.text]
    assert c.tags["table"] == 1 and c.tags["tr"] == 3
    assert "Models:" in "".join(c.text) and {"m0", "m1", "Pr(>Chisq)", "***"} <= set(cells)


def test_wrapped_matrix_is_one_table():
    with recorded_layouts() as found:
        lines = print_matrix([["1.5"] * 30], ["r"], [f"column{j}" for j in range(30)])
    assert len(lines) > 2 and len(found) == 1
    html_text = html_of_text("\n".join(lines), found)
    assert html_text.count("<table") == 1 and html_text.count("<th style") == 32


def test_a_table_not_found_verbatim_stays_text():
    layout = TableLayout(("   x", "a 1"), ("a",), ("x",), (("1",),), True)
    html_text = html_of_text("  indented:\n     x\n  a 1", [layout])
    assert "<table" not in html_text and "<pre" in html_text


def test_recording_is_off_outside_the_block():
    with recorded_layouts() as found:
        pass
    note_layout(["x"], [["1"]], ["a"], ["x"])
    assert found == []


def test_repr_html_of_any_object_is_its_escaped_text():
    assert "a &lt; b &amp; c" in repr_html("a < b & c")
