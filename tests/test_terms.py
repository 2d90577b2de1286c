"""R's term algebra (mixedcompat.front.terms): terms.formula labels and intercept, drop.scope,
update.formula; examples, then live-R property tests over generated formulas."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixedcompat.errors import FormulaError
from mixedcompat.front.rlang import binop, deparse_one, parse, sym
from mixedcompat.front.terms import (drop_scope, factor_codes, rhs_of_terms, rhs_terms, term_node, update_formula,
                                     update_formula_tree)


@pytest.mark.parametrize("rhs, labels, intercept", [
    ("a + b:a", ["a", "a:b"], True),
    ("b:a + a", ["a", "b:a"], True),
    ("(a + b + c)^2", ["a", "b", "c", "a:b", "a:c", "b:c"], True),
    ("a/b + c", ["a", "c", "a:b"], True),
    ("(a + b)/c", ["a", "b", "a:b:c"], True),
    ("a * b - a", ["b", "a:b"], True),
    ("x - 1", ["x"], False),
    ("0 + f", ["f"], False),
    ("x + offset(z)", ["x"], True),
    ("a + b %in% a", ["a", "a:b"], True),
    ("b:a + a:b", ["b:a"], True),
])
def test_term_algebra(rhs, labels, intercept):
    s = rhs_terms(rhs)
    assert s.labels == labels
    assert s.intercept is intercept


def test_terms_read_a_tree_as_its_text():
    from mixedcompat.front.rlang import parse
    assert rhs_terms(parse("x * f - 1")) == rhs_terms("x * f - 1")
    assert rhs_terms("log( x ) + offset(o)").names == ("log(x)", "offset(o)")


@pytest.mark.parametrize("rhs, scope", [
    ("x * f + z", ["z", "x:f"]),
    ("a/b", ["a:b"]),
    ("(a + b + c)^2", ["a:b", "a:c", "b:c"]),
    ("x + offset(o)", ["x"]),
    ("1", []),
])
def test_drop_scope(rhs, scope):
    assert drop_scope(rhs_terms(rhs)) == scope


def test_factor_codes_follow_r_contrast_rule():
    # a:b after a: a by contrasts? no - b is absent before, so a gets indicators; b contrasts
    assert factor_codes(rhs_terms("a + a:b"), [True, True]) == [[(0, 1)], [(0, 2), (1, 1)]]
    # no intercept: the first factor of the first term gets indicators
    assert factor_codes(rhs_terms("0 + a + b"), [True, True]) == [[(0, 2)], [(1, 1)]]


@pytest.mark.parametrize("rhs, keep, text", [
    ("x * f", None, "x + f + x:f"),
    ("0 + x * f", [0, 2], "x + x:f - 1"),
    ("x", [], "1"),
    ("0 + x", [], "0"),
])
def test_rhs_of_terms(rhs, keep, text):
    assert rhs_of_terms(rhs_terms(rhs), keep).deparse() == text


@pytest.mark.parametrize("old, new, result", [
    ("y ~ x * f + (x | g)", "log(.) ~ . - x + (1 | h)", "log(y) ~ f + (x | g) + (1 | h) + x:f"),
    ("y ~ x + offset(o) + (1|g)", ". ~ . - x", "y ~ (1 | g) + offset(o)"),
    ("y ~ 0 + x + (1|g)", ". ~ . + z", "y ~ x + (1 | g) + z - 1"),
    ("y ~ x + (x || g)", ". ~ . - x", "y ~ (1 | g) + (0 + x | g)"),   # lme4 keeps the formula with || expanded
    ("y ~ x + (1 | g)", "~ . + z", "y ~ x + (1 | g) + z"),
    ("Reaction ~ Days | Subject", ". ~ . + Days", "Reaction ~ (Days | Subject) + Days"),
    ("y ~ x + (1 | a/b)", ". ~ . - (1 | a/b) + (1 | a)", "y ~ x + (1 | a)"),
])
def test_update_formula(old, new, result):
    assert update_formula(old, new) == result


@pytest.mark.parametrize("old, new, message", [
    ("y ~ x + (1|g)", ". ~ . - (1|g)", "no random-effects terms"),
    ("y ~ x + (1|g)", "x + z", "R formula string"),
    ("y ~ x + (1|g)", ". ~ .:z", "crossed with another term"),
    ("y ~ x + (1|g)", ". ~", "empty right-hand side"),
])
def test_update_formula_refusals(old, new, message):
    with pytest.raises(FormulaError, match=message):
        update_formula(old, new)


# ------------------------------------------------------------------------------------------ live R

_VARS = st.sampled_from(["a", "b", "c", "x", "log(z)", "I(x^2)"])
_INTERCEPT = st.sampled_from(["", "", "", " - 1", " + 0", "0 + ", "1 + ", " + offset(o)"])


def _rhs() -> st.SearchStrategy[str]:
    """Fixed-effects right-hand sides: chains of +, -, *, :, / and %in% over variables, parenthesised
    groups, powers of sums, an intercept removal or an offset."""
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        chain = st.tuples(inner, st.lists(st.tuples(st.sampled_from(["+", "+", "*", ":", "/", "-", "%in%"]), inner),
                                          min_size=1, max_size=3)).map(
            lambda t: t[0] + "".join(f" {op} {b}" for op, b in t[1]))
        power = st.tuples(inner, st.sampled_from([2, 3])).map(lambda t: f"({t[0]})^{t[1]}")
        return st.one_of(chain, chain, inner.map(lambda s: f"({s})"), power)
    body = st.recursive(_VARS, extend, max_leaves=6)
    return st.tuples(_INTERCEPT, body).map(lambda t: t[1] + t[0] if t[0].startswith(" ") else t[0] + t[1])


_R_TERMS = """function(s) {
    t <- terms(as.formula(paste("y ~", s)))
    list(labels = attr(t, "term.labels"), intercept = attr(t, "intercept"),
         scope = drop.scope(t))
}"""

_R_UPDATE = """function(old, new) {
    f <- update.formula(lme4::expandDoubleVerts(as.formula(old)), as.formula(new))   # the formula lme4 keeps
    paste(trimws(deparse(f, width.cutoff = 500L)), collapse = " ")
}"""


@pytest.mark.r
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(_rhs())
def test_terms_and_drop_scope_equal_r(rhs):
    import rlive
    ro = rlive.robjects()
    r = ro.r(_R_TERMS)(rhs)
    labels = [str(s) for s in r.rx2("labels")]
    ours = rhs_terms(rhs)
    assert ours.labels == labels, rhs
    assert ours.intercept == bool(r.rx2("intercept")[0]), rhs
    assert drop_scope(ours) == [str(s) for s in r.rx2("scope")], rhs


_UPDATES = st.sampled_from([". ~ . - a", ". ~ . - a:b", ". ~ . + w", ". ~ . - 1", ". ~ . + 0", "log(.) ~ .",
                            ". ~ . + (1 | h)", ". ~ . - (1 | g)", "~ . + x:w", ". ~ a + .", ". ~ (.)^2"])


@pytest.mark.r
@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(_rhs(), st.sampled_from(["", " + (1 | g)", " + (x | g)", " + (1 | g) + (0 + a | h)", " + (a || g)",
                                 " + ((1 | g) + (0 + a | h))", " + (a * b || g/h)"]), _UPDATES)
def test_update_formula_equals_r(rhs, bars, new):
    import rlive
    old = f"y ~ {rhs}{bars}"
    try:
        ours = update_formula(old, new, require_random=False)
    except FormulaError as exc:
        # a random-effects term crossed with another one: lme4 formulas cannot hold that term
        assert "crossed" in str(exc) and bars, (old, new, str(exc))
        return
    r = str(rlive.robjects().r(_R_UPDATE)(old, new)[0])
    assert ours == r, (old, new)


@pytest.mark.parametrize("old, new", [
    ("y ~ x * f + (x | g)", "log(.) ~ . - x + (1 | h)"),
    ("y ~ x + offset(o) + (1|g)", ". ~ . - x"),
    ("y ~ 0 + x + (1|g)", ". ~ . + z"),
    ("y ~ x + (1|g) - 1", ". ~ . - x"),
    ("y ~ x | g", ". ~ . + z"),
    ("y ~ I(x^2) + poly(x, 2) + (x || g)", ". ~ . - I(x^2)"),
    ("y ~ a*b*c + (1|g/h)", ". ~ . - a:b:c"),
    ("y ~ a %in% b + (1|g)", "~ . + log(z)"),
])
def test_update_formula_tree_is_the_text_as_a_tree(old, new):
    tree = update_formula_tree(old, new)
    assert deparse_one(tree) == update_formula(old, new)
    assert tree == parse(update_formula(old, new))
    # the update itself may be a tree: the same result, nothing parsed
    assert update_formula_tree(old, parse(new)) == tree


def test_update_formula_tree_drops_a_term_built_as_a_tree():
    struct = rhs_terms("x * f + z")
    dot = sym(".")
    new = binop("~", dot, binop("-", dot, term_node(struct, struct.terms[3])))
    assert deparse_one(update_formula_tree("y ~ x * f + z + (1 | g)", new)) == "y ~ x + f + z + (1 | g)"
    with pytest.raises(FormulaError, match="update formula must be an R formula"):
        update_formula_tree("y ~ x + (1 | g)", sym("x"))
