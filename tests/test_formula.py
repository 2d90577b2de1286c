"""Formula parsing: lme4's findbars / nobars / expandDoubleVerts / expandSlash semantics."""
from __future__ import annotations

import pytest

import mixedcompat as mc
from mixedcompat.formula import parse_formula


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
    assert p.fixed == fixed
    assert labels(formula) == terms


@pytest.mark.parametrize("formula, message", [
    ("y ~ (1 | g", "not closed"),
    ("y ~ (1 | g))", "no matching"),
    ("~ x + (1 | g)", "no response"),
    ("y ~ x + 1 | g", "enclosed in parentheses"),
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
