"""mixedcompat.front.rlang: R's tokenizer, precedence table and deparse.

The offline tests pin the tree shapes R's grammar gives (``?Syntax``) and the deparse spelling; the
live-R property test (marked ``r``) draws R expressions over every precedence level and checks that our
``deparse`` equals R's ``deparse(str2lang(s), width.cutoff = w)`` line by line, which is what shows the
precedence table and the line breaking are R's.
"""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixedcompat.errors import FormulaError
from mixedcompat.front.rlang import (Node, binop, call, deparse, find_calls, map_nodes, num, parse, r_number,
                                     r_symbol, signed_terms, split_top, strip_parens, sym, symbols, tokenize)


def shape(node: Node) -> str:
    """Fully parenthesised structure of a tree, to check grouping."""
    if node.kind == "binop":
        return f"({shape(node.args[0])} {node.value} {shape(node.args[1])})"
    if node.kind == "unop":
        return f"({node.value}{shape(node.args[0])})"
    if node.kind == "paren":
        return f"[{shape(node.args[0])}]"
    return node.deparse()


@pytest.mark.parametrize("text, grouping", [
    ("a^b^c", "(a ^ (b ^ c))"),                  # ^ is right-associative
    ("-a^b", "(-(a ^ b))"),                      # unary minus binds looser than ^
    ("-a:b", "((-a) : b)"),                      # ... and tighter than :
    ("a:b %in% c", "((a : b) %in% c)"),          # : above %op%
    ("a %in% b * c", "((a %in% b) * c)"),        # %op% above * /
    ("a * b + c / d", "((a * b) + (c / d))"),
    ("a - b - c", "((a - b) - c)"),
    ("a + b == c", "((a + b) == c)"),
    ("!a == b", "(!(a == b))"),                  # ! below comparison
    ("!a & b", "((!a) & b)"),                    # ... above & &&
    ("a & b | c && d", "((a & b) | (c && d))"),
    ("y ~ a | b", "(y ~ (a | b))"),
    ("~a ~ b", "((~a) ~ b)"),
    ("a <- b ~ c", "(a <- (b ~ c))"),
    ("a <- b <- c", "(a <- (b <- c))"),
    ("a^-b^c", "(a ^ (-(b ^ c)))"),
    ("a * -b + c", "((a * (-b)) + c)"),
    ("a + !b + c", "(a + (!(b + c)))"),          # yacc's shift: ! takes the rest
    ("x$y^2", "((x $ y) ^ 2)"),
    ("a::b$c", "((a :: b) $ c)"),
    ("a -> b", "(b <- a)"),
    ("(a + b) * c", "([(a + b)] * c)"),
])
def test_precedence_matches_r_syntax(text, grouping):
    assert shape(parse(text)) == grouping


@pytest.mark.parametrize("text, expected", [
    ("y~x*f+(1|a/b)+log(z+1)+I(x^2)", "y ~ x * f + (1 | a/b) + log(z + 1) + I(x^2)"),
    ("a%in%b", "a %in% b"), ("a%%b", "a%%b"), ("a%/%b", "a%/%b"), ("a%*%b", "a %*% b"),
    ("x**2", "x^2"), ("-x", "-x"), ("! x", "!x"), ("~ 1 | g", "~1 | g"),
    ("1e-4", "1e-04"), ("100000", "1e+05"), ("123456", "123456"), ("0.1", "0.1"), ("1L", "1L"),
    ("1e5L", "100000L"), ("0x10", "16"), ("0x10L", "16L"), (".5", "0.5"), ("1.5L", "1.5"),
    ("'a'", '"a"'), ("'it\"s'", '"it\\"s"'), ('"tab\\there"', '"tab\\there"'),
    ("`a b` + `x`", "`a b` + x"), ("`if`", "`if`"), ("f(a=1,`b c`=2)", "f(a = 1, `b c` = 2)"),
    ("x[, 1]", "x[, 1]"), ("x[['a']]", 'x[["a"]]'), ("a$b(c)[1]", "a$b(c)[1]"), ("pkg::f(x)", "pkg::f(x)"),
    ("f()", "f()"), ("f(x)(y)", "f(x)(y)"), ("x |> f(y)", "f(x, y)"), ("a+!b", "a + !b"), ("!!a", "!!a"),
    ("(-a)^2", "(-a)^2"), ("a+-b", "a + -b"), ("TRUE & NA", "TRUE & NA"), ("?a", "`?`(a)"),
    ("1e300*10", "1e+300 * 10"), ("0.1234567890123456", "0.123456789012346"),
])
def test_deparse_spelling(text, expected):
    assert parse(text).deparse() == expected
    assert parse(expected).deparse() == expected          # deparse output reads back to itself


def test_width_cutoff_breaks_after_operators_and_commas():
    t = parse("y ~ aaaaaaaaaa + bbbbbbbbbb + cccccccccc + f(dddddddddd, eeeeeeeeee, ffffffffff, gggggggggg)")
    assert deparse(t, 20) == ["y ~ aaaaaaaaaa + bbbbbbbbbb + ", "    cccccccccc + f(dddddddddd, ",
                              "    eeeeeeeeee, ffffffffff, ", "    gggggggggg)"]
    assert deparse(t, 500) == [t.deparse()]


def test_nodes_are_values():
    assert parse("log(x, base=2)") == parse("log( x,base = 2 )")
    assert hash(parse("a + b")) == hash(binop("+", sym("a"), sym("b")))
    assert parse("1") == parse("1.0") == num(1)
    assert parse("1L") != parse("1")                       # R: identical(1L, 1) is FALSE
    assert parse("(a)") != parse("a")
    assert {parse("poly(x, 2)"): 1}[call("poly", sym("x"), num(2))] == 1
    with pytest.raises(Exception):
        parse("a").kind = "num"                          # frozen


def test_walk_helpers():
    t = parse("log(y) ~ 0 + x * f + (x | g) - (1 | h) + poly(z, degree = 2) + pi")
    assert symbols(t) == ["y", "x", "f", "g", "h", "z"]
    rhs = t.args[1]
    assert [(s, n.deparse()) for s, n in signed_terms(rhs)] == [
        ("+", "0"), ("+", "x * f"), ("+", "(x | g)"), ("-", "(1 | h)"), ("+", "poly(z, degree = 2)"), ("+", "pi")]
    assert [n.deparse() for n in split_top(parse("a | b || c | d"), "|")] == ["a | b || c", "d"]   # same level
    assert strip_parens(parse("((x | g))")).deparse() == "x | g"
    assert [c.value for c in find_calls(t)] == ["log", "poly"]
    assert find_calls(t, "poly")[0].names == (None, "degree")
    assert map_nodes(parse("a + b:c"), lambda n: sym("B") if n == sym("b") else n).deparse() == "a + B:c"
    assert r_symbol("1x") == "`1x`" and r_number(1e-5) == "1e-05"
    assert [t.text for t in tokenize("x %in% c('a', \"b\") # comment")] == ["x", "%in%", "c", "(", "'a'", ",",
                                                                          '"b"', ")"]


def test_spell_symbol_writes_another_language():
    t = parse("`a b` ~ log(x) + x^2")
    assert deparse(t, spell_symbol=lambda s: f"Q({s!r})") == ["Q('a b') ~ log(Q('x')) + Q('x')^2"]


def test_one_parser_in_the_package():
    """rlang is the only home of R syntax: no other module defines a tokenizer/parser of its own."""
    import pathlib

    import mixedcompat
    root = pathlib.Path(mixedcompat.__file__).parent
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "rlang.py" and re.search(r"^class _Parser\b|^_TOKEN(_RE)? = re\.compile",
                                                       p.read_text(), re.M)]
    assert offenders == []


@pytest.mark.parametrize("text, message", [
    ("a +", "unexpected end"), ("(a", "expected ')'"), ("a b", "unexpected 'b'"), ("", "empty expression"),
    ("a == b == c", "do not chain"), ("'abc", "unterminated quote"), ("a ; b", "unexpected ';'"),
])
def test_parse_errors_name_the_text(text, message):
    with pytest.raises(FormulaError, match=re.escape(message)):
        parse(text)


# ------------------------------------------------------------------------------------------ live R

_NAMES = st.sampled_from(["x", "y", "a.b", "g2", ".z", "`a b`", "`if`", "T", "pi", "TRUE", "NA", "Inf"])
_NUMBERS = st.sampled_from(["1", "2", "0", "1e-05", "100000", "0.1", "1L", "12L", "1e5", "1e-4", "3.14159",
                            "0x1F", "1e+300", "123456.7", ".25", "2e10"])
_STRINGS = st.sampled_from(['"s"', "'t'", '"a\\"b"', "'it\\'s'"])
_BINARY = st.sampled_from(["+", "-", "*", "/", "^", ":", "%in%", "%%", "%/%", "%o%", "==", "!=", "<", ">=",
                           "&", "&&", "|", "||", "~", "$", "<-"])
_UNARY = st.sampled_from(["-", "+", "!", "~"])
_FUNS = st.sampled_from(["f", "log", "poly", "I", "`my f`", "stats::poly"])
_SPACE = st.sampled_from(["", " ", "  "])


def _expressions() -> st.SearchStrategy[str]:
    """R expression texts: chains of binary operators of every precedence level (no parentheses, so
    the grouping is the parser's), prefix operators, calls with named arguments, some parentheses."""
    leaf = st.one_of(_NAMES, _NAMES, _NUMBERS, _STRINGS)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        chain = st.tuples(inner, st.lists(st.tuples(_SPACE, _BINARY, _SPACE, inner), min_size=1, max_size=5)).map(
            lambda t: t[0] + "".join(f"{a}{op}{b}{x}" if op != "$" else "$x" for a, op, b, x in t[1]))
        unary = st.tuples(_UNARY, inner).map(lambda t: f"{t[0]} {t[1]}" if t[1][:1] in "-+!~" else f"{t[0]}{t[1]}")
        args = st.lists(st.tuples(st.sampled_from(["", "", "n = ", "`b c` = "]), inner), max_size=3)
        calls = st.tuples(_FUNS, args).map(lambda t: f"{t[0]}({', '.join(n + a for n, a in t[1])})")
        parens = inner.map(lambda s: f"({s})")
        return st.one_of(chain, chain, chain, unary, calls, parens)

    return st.recursive(leaf, extend, max_leaves=24)


_R_DEPARSE = """function(s, w) {
    e <- tryCatch(suppressWarnings(str2lang(s)), error = function(e) NULL)
    if (is.null(e)) return(NULL)
    deparse(e, width.cutoff = w, backtick = TRUE)
}"""


@pytest.mark.r
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(_expressions(), st.sampled_from([20, 35, 60]))
def test_deparse_equals_r(text, width):
    import rlive
    ro = rlive.robjects()
    r_deparse = ro.r(_R_DEPARSE)
    r_out = r_deparse(text, width)
    if r_out is ro.NULL or len(r_out) == 0:
        with pytest.raises(FormulaError):
            parse(text)
        return
    assert deparse(parse(text), width) == list(r_out), text
