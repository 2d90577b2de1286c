"""Formula parsing: lme4's findbars / nobars / expandDoubleVerts / expandSlash semantics."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedcompat as mc
from helpers import TOL, fixture_paths, load_fixture, load_fixture_data
from mixedcompat.front.formula import parse_formula


def labels(formula: str) -> list[str]:
    return [t.label for t in parse_formula(formula).re_terms]


@pytest.mark.parametrize("formula, fixed, terms", [
    ("Reaction ~ Days + (Days | Subject)", "Days", ["Days | Subject"]),
    ("y ~ x + (1 | g) + (0 + x | g)", "x", ["1 | g", "0 + x | g"]),
    ("y ~ (1 | a/b)", "1", ["1 | b:a", "1 | a"]),
    ("y ~ (1 | a/b/c)", "1", ["1 | c:(b:a)", "1 | b:a", "1 | a"]),
    ("y ~ (x || g)", "1", ["1 | g", "0 + x | g"]),
    ("y ~ (0 + x + z || g)", "1", ["0 + x | g", "0 + z | g"]),
    ("y ~ (x || a/b)", "1", ["1 | b:a", "1 | a", "0 + x | b:a", "0 + x | a"]),
    ("y ~ x - 1 + ((1 | g))", "x - 1", ["1 | g"]),
    ("y ~ 0 + (1 | g)", "0", ["1 | g"]),
    ("y ~ (1 + (x) | g) + I(x^2)", "I(x^2)", ["1 + (x) | g"]),
    ("y ~ (a + b + c)^2 + (0 + f | g:h)", "(a + b + c)^2", ["0 + f | g:h"]),
    ("y~x+(1|g)", "x", ["1 | g"]),
])
def test_random_terms_and_fixed_part(formula, fixed, terms):
    p = parse_formula(formula)
    assert p.fixed_text == fixed
    assert labels(formula) == terms


@pytest.mark.parametrize("formula, message", [
    ("y ~ (1 | g", "not closed"),
    ("y ~ (1 | g))", "no matching"),
    ("~ x + (1 | g)", "no response"),
    ("y ~ x + (x | g) | h", "bar in its left-hand side"),
    ("y ~ x | g + h", "Invalid grouping factor specification, g + h"),
    ("y ~ 1 | g + (1 | h)", "Invalid grouping factor specification"),
    ("y ~ x | g | h", "more than one bar"),
    ("y ~ x", None),
    ("y ~ (1 | )", "no grouping factor"),
    ("y ~ ( | g)", "nothing before the bar"),
    ("y ~ (1 | a + b)", "'a + b'"),
    ("y ~ x ~ z + (1 | g)", "more than one '~'"),
    ("", "non-empty"),
])
def test_formula_errors(formula, message):
    if message is None:
        assert parse_formula(formula).re_terms == ()   # lmer itself refuses: see test_errors.py
        return
    with pytest.raises(mc.FormulaError, match=None) as info:
        parse_formula(formula)
    assert message in str(info.value)


# ---- bar terms without parentheses (R's precedence: '|' binds more loosely than '+') -----------

BAR_FIXTURES = [p for p in fixture_paths("input") if p.stem.startswith("bars_")]


@pytest.mark.parametrize("formula, fixed, terms", [
    ("Yield ~ 1|Batch", "1", ["1 | Batch"]),
    ("log(y) ~ x | z", "1", ["x | z"]),
    ("y ~ x + 1|g", "1", ["x + 1 | g"]),               # the whole right-hand side, not x + (1 | g)
    ("y ~ x || g", "1", ["1 | g", "0 + x | g"]),
    ("y ~ 1 | a/b", "1", ["1 | b:a", "1 | a"]),
    ("y ~ I(a | b) + (1 | g)", "I(a | b)", ["1 | g"]),  # a bar inside a call is R's 'or'
])
def test_bar_without_parentheses_takes_the_whole_rhs(formula, fixed, terms):
    p = parse_formula(formula)
    assert p.fixed_text == fixed
    assert [t.label for t in p.re_terms] == terms


@pytest.mark.parametrize("path", BAR_FIXTURES, ids=lambda p: p.stem)
def test_bar_terms_match_lme4_findbars_nobars(path):
    fx = load_fixture(path)
    p = parse_formula(fx["formula"])
    assert p.fixed_text == fx["nobars"]
    ours = [" ".join(t.label.replace("*", " * ").split()) for t in p.re_terms]
    assert ours == fx["findbars"]


@pytest.mark.parametrize("path", BAR_FIXTURES, ids=lambda p: p.stem)
def test_bar_terms_fit_as_lme4(path):
    fx = load_fixture(path)
    data = load_fixture_data(fx["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mc.lmer(fx["formula"], data, REML=fx["REML"])
        at_r = mc.lmer(fx["formula"], data, REML=fx["REML"],
                       control={"optimizer": None, "start": fx["theta"]})
    assert list(m.fixef().index) == fx["x_names"]
    assert list(mc.ngrps(m)) == fx["flist"]
    assert {g: list(v) for g, v in mc.getME(m, "cnms").items()} == fx["cnms"]
    Z = mc.getME(m, "Z")
    assert Z.shape[1] == fx["z_ncol"]
    assert [lv for t in m.terms for lv in t.levels for _ in t.names][:12] == fx["z_colnames_head"]
    assert m.nobs() == fx["nobs"]
    assert m.REMLcrit() <= fx["criterion"] * (1 + 1e-8)
    np.testing.assert_allclose(m.REMLcrit(), fx["criterion"], **TOL["criterion"])
    np.testing.assert_allclose(at_r.fixef().to_numpy(), fx["fixef"], **TOL["fixef"])
    np.testing.assert_allclose(at_r.REMLcrit(), fx["criterion"], **TOL["objective_at"])


def test_update_of_an_unparenthesised_bar_formula():
    # R: update(Reaction ~ Days | Subject, . ~ . + Days) is Reaction ~ (Days | Subject) + Days
    m = mc.lmer("Reaction ~ Days | Subject", mc.datasets.load("sleepstudy"))
    m2 = mc.update(m, ". ~ . + Days")
    assert m2.formula == "Reaction ~ (Days | Subject) + Days"
    assert list(m2.fixef().index) == ["(Intercept)", "Days"]


# ------------------------------------------------------------------------------------------------
# stages pass trees: lmer takes a formula tree, refits never re-parse text they built

def _parse_recorder(monkeypatch) -> list[str]:
    """Route every module-level use of ``rlang.parse`` in the loaded package through a recorder."""
    import sys

    from mixedcompat.front import rlang
    calls: list[str] = []
    original = rlang.parse

    def recording(text, *args, **kwargs):
        calls.append(text)
        return original(text, *args, **kwargs)

    for name, module in list(sys.modules.items()):
        if not name.startswith("mixedcompat.") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                monkeypatch.setattr(module, attr, recording)
    return calls


def test_lmer_takes_a_formula_tree():
    from mixedcompat.front.rlang import parse
    sleepstudy = mc.datasets.load("sleepstudy")
    text = "Reaction ~ Days + (Days | Subject)"
    by_text = mc.lmer(text, sleepstudy)
    by_tree = mc.lmer(parse(text), sleepstudy)
    assert by_tree.formula == by_text.formula == text
    assert by_tree.parts == by_text.parts
    np.testing.assert_array_equal(by_tree.theta, by_text.theta)
    assert float(by_tree.REMLcrit()) == float(by_text.REMLcrit())
    assert str(by_tree) == str(by_text)
    # a tree's text is R's deparse of it, spaced as R writes it
    assert mc.lmer(parse("Reaction~Days+(1|Subject)"), sleepstudy).formula == "Reaction ~ Days + (1 | Subject)"
    with pytest.raises(mc.FormulaError, match="has no response"):
        parse_formula(parse("~ x + (1 | g)"))


def test_update_ranova_drop1_do_not_reparse_built_text(monkeypatch):
    from mixedcompat.inference.lrt import drop1, ranova
    sleepstudy = mc.datasets.load("sleepstudy")
    d = sleepstudy.assign(f=(sleepstudy["Days"] % 3).astype(str))
    m = mc.lmer("log(Reaction) ~ Days * f + (1 | Subject) + (0 + Days | Subject)", d)
    calls = _parse_recorder(monkeypatch)
    updated = m.update(". ~ . - Days:f")
    assert calls == [". ~ . - Days:f"]          # the user's update text, once; the refit takes the tree
    assert updated.formula == "log(Reaction) ~ Days + f + (1 | Subject) + (0 + Days | Subject)"
    calls.clear()
    assert m.update(REML=False).formula == m.formula
    tab_r = ranova(m)
    tab_d = drop1(m, test="Chisq")
    assert calls == []                          # refits and reduced models are built as trees
    assert list(tab_r.index) == ["<none>", "(1 | Subject)", "Days in (0 + Days | Subject)"]
    assert list(tab_d.index) == ["<none>", "Days:f"]
    assert tab_r.attrs["heading"][-1] == "log(Reaction) ~ Days * f + (1 | Subject) + (0 + Days | Subject)"


def test_nlme_update_and_printing_do_not_reparse_built_text(monkeypatch):
    """nlme's ``update`` refits with the updated formula as a tree, and its printouts deparse the tree it
    parsed once: only the user's update text is parsed."""
    d = mc.datasets.load("Orthodont")
    m = mc.lme("distance ~ age + Sex", d, random="~ 1 | Subject")
    calls = _parse_recorder(monkeypatch)
    updated = m.update(". ~ . - Sex")
    str(updated.summary())
    str(updated)
    # the user's update text, and the refit's random form (the user's random text, read once per fit);
    # neither the fixed formula nor any printed formula is parsed again
    assert calls == [". ~ . - Sex", "~ 1"]
    assert updated.formula == "distance ~ age"
