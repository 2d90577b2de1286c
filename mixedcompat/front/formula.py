"""Splitting an lme4 formula into its response, fixed part and random-effect terms, as R trees.

The random-effect grammar follows lme4's ``findbars`` / ``nobars`` / ``expandDoubleVerts`` /
``expandSlash``: ``(expr | g)``, ``(expr || g)`` (uncorrelated: one term per model term),
``(expr | a/b)`` -> ``(expr | b:a) + (expr | a)``.  Every part is an R expression tree
(:class:`mixedcompat.front.rlang.Node`, read once by :func:`mixedcompat.front.rlang.parse`); the later
stages (:mod:`mixedcompat.front.terms`, :mod:`mixedcompat.front.design`) consume the trees, and the
``*_text`` properties give R's deparsed spelling where text is printed.

R's precedence decides what a bar without parentheses means: ``|`` and ``||`` bind more loosely than
``+`` and more tightly than ``~``, so ``y ~ x + 1 | g`` is ``y ~ ((x + 1) | g)``: the whole right-hand
side is one random-effects term and the fixed part is ``1`` (lme4's ``findbars`` / ``nobars`` of the
right-hand side, as ``lFormula`` uses them).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mixedcompat.errors import FormulaError
from mixedcompat.front.rlang import (Node, binop, deparse_one, num, paren, parse, signed_terms, split_top, strip_parens,
                                     tokenize)

__all__ = ["RETerm", "FormulaParts", "parse_formula", "parse_bar", "double_vert_terms", "is_bar", "BARS"]

#: the random-effects bars: ``|`` (correlated) and ``||`` (uncorrelated)
BARS = ("|", "||")


@dataclass(frozen=True)
class RETerm:
    """One random-effects term ``(expr | group)`` after ``||`` and ``/`` expansion, as trees.

    Examples
    --------
    >>> t = RETerm(parse("1 + Days"), parse("Subject"))
    >>> t.label, t.expr_text, t.group_text
    ('1 + Days | Subject', '1 + Days', 'Subject')
    """

    expr: Node
    group: Node

    @property
    def expr_text(self) -> str:
        """R's spelling of the term's left-hand side."""
        return self.expr.deparse()

    @property
    def group_text(self) -> str:
        """R's spelling of the grouping factor (lme4's name of the factor: ``b:a``, ``g``)."""
        return self.group.deparse()

    @property
    def label(self) -> str:
        """``expr | group`` as R deparses the bar (lme4's ``findbars`` element)."""
        return f"{self.expr_text} | {self.group_text}"

    @property
    def bar(self) -> Node:
        """The term as the tree ``(expr | group)``."""
        return paren(binop("|", self.expr, self.group))


@dataclass(frozen=True)
class FormulaParts:
    """A parsed mixed-model formula: the response, the fixed-effects right-hand side and the
    random-effects terms as R trees; ``text`` is the formula as given (whitespace normalised) and
    ``tree`` the whole formula as parsed.

    Examples
    --------
    >>> p = parse_formula("Reaction ~ Days + (Days | Subject)")
    >>> p.response_text, p.fixed_text, [t.label for t in p.re_terms]
    ('Reaction', 'Days', ['Days | Subject'])
    """

    text: str
    response: Node | None
    fixed: Node
    re_terms: tuple[RETerm, ...]
    tree: Node

    @property
    def response_text(self) -> str | None:
        """R's spelling of the response (None for a one-sided formula)."""
        return None if self.response is None else self.response.deparse()

    @property
    def fixed_text(self) -> str:
        """R's spelling of the fixed part (lme4's ``nobars`` of the right-hand side)."""
        return self.fixed.deparse()


# ------------------------------------------------------------------------------------------------
# walks


def is_bar(node: Node) -> bool:
    """Whether ``node`` is a random-effects bar ``expr | g`` or ``expr || g`` (not in parentheses).

    Examples
    --------
    >>> is_bar(parse("x || g")), is_bar(parse("(x | g)"))
    (True, False)
    """
    return node.kind == "binop" and node.value in BARS


def _top_level(node: Node) -> Iterator[Node]:
    """The nodes of ``node`` outside any parentheses and function call (pre-order)."""
    yield node
    if node.kind in ("binop", "unop"):
        for a in node.args:
            yield from _top_level(a)


def _outside_calls(node: Node) -> Iterator[Node]:
    """The nodes of ``node`` outside function calls (parentheses are entered)."""
    yield node
    if node.kind in ("binop", "unop", "paren"):
        for a in node.args:
            yield from _outside_calls(a)


def _has_tilde(node: Node) -> bool:
    return any(n.kind in ("binop", "unop") and n.value == "~" for n in _top_level(node))


def _join(pieces: list[tuple[str, Node]]) -> Node:
    """``+``/``-`` chain of signed pieces, as R reads ``a + b - c``; a leading ``-`` reads ``1 - x``."""
    sign, acc = pieces[0]
    if sign == "-":
        acc = binop("-", num(1), acc)
    for sign, piece in pieces[1:]:
        acc = binop(sign, acc, piece)
    return acc


# ------------------------------------------------------------------------------------------------
# errors R's parser would give less clearly


def _check_tokens(text: str, one_sided: bool) -> None:
    """Unbalanced parentheses, a missing ``~``, response or right-hand side, named in words."""
    toks = tokenize(text)
    depth = 0
    for tok in toks:
        if tok.kind != "op":
            continue
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced parentheses in formula {text!r}: "
                                   f"')' at position {tok.pos} has no matching '('")
    if depth > 0:
        raise FormulaError(f"unbalanced parentheses in formula {text!r}: {depth} '(' not closed")
    ops = [t.text if t.kind == "op" else None for t in toks]
    if "~" not in ops:
        raise FormulaError(f"formula {text!r} has no '~'")
    if ops[0] == "~" and not one_sided:
        raise FormulaError(f"formula {text!r} has no response: write it as 'y ~ ...'")
    if ops[-1] == "~":
        raise FormulaError(f"formula {text!r} has an empty right-hand side")


def _empty_bar_side(text: str) -> None:
    """After a parse error: a bar with nothing before it or no grouping factor after it."""
    toks = tokenize(text)
    opens: list[int] = []
    for i, tok in enumerate(toks):
        if tok.kind == "op" and tok.text == "(":
            opens.append(i)
        elif tok.kind == "op" and tok.text == ")" and opens:
            opens.pop()
        elif tok.kind == "op" and tok.text in BARS:
            start = toks[opens[-1]].pos + 1 if opens else toks[0].pos
            before = toks[i - 1] if i > 0 else None
            after = toks[i + 1] if i + 1 < len(toks) else None
            close = next((t for t in toks[i + 1:] if t.kind == "op" and t.text == ")"), None) if opens else None
            term = text[start:close.pos if close is not None else len(text)].strip()
            if before is None or (before.kind == "op" and before.text in ("(", "~")):
                raise FormulaError(f"random-effects term ({term}) has nothing before the bar")
            if after is None or (after.kind == "op" and after.text == ")"):
                raise FormulaError(f"random-effects term ({term}) has no grouping factor")


# ------------------------------------------------------------------------------------------------
# lme4's expandSlash / expandDoubleVerts


def _expand_slash(group: Node) -> list[Node]:
    """lme4's expandSlash: ``a/b`` -> ``[b:a, a]``; ``a/b/c`` -> ``[c:(b:a), b:a, a]``."""
    parts = split_top(group, "/")
    names = [parts[0]]
    for part in parts[1:]:
        prev = names[-1]
        names.append(binop(":", part, paren(prev) if prev.kind == "binop" and prev.value == ":" else prev))
    return names[::-1]


def _check_group(group: Node, term_text: str) -> Node:
    """The grouping factor without enclosing parentheses; only ``:`` may combine variables."""
    g = strip_parens(group)
    for bad in ("+", "*", "|", "~"):
        if any(n.kind in ("binop", "unop") and (n.value == bad or (bad == "|" and n.value == "||"))
               for n in _top_level(g)):
            text = g.deparse()
            raise FormulaError(f"Invalid grouping factor specification, {text}: the grouping factor {text!r} in "
                               f"random-effects term ({term_text}) may only combine variables with ':' or "
                               f"'/', not {bad!r}")
    return g


def _expand_double_vert(expr: Node) -> list[Node]:
    """lme4's expandDoubleVerts: ``1 + x + z`` -> ``[1, 0 + x, 0 + z]``."""
    intercept = True
    terms: list[Node] = []
    for sign, piece in signed_terms(expr):
        p = strip_parens(piece)
        if p.kind == "num" and p.value == 0:
            intercept = False
        elif p.kind == "num" and p.value == 1:
            intercept = sign == "+"
        elif sign == "-":
            raise FormulaError(f"cannot remove {p.deparse()!r} inside an uncorrelated '||' term")
        elif p.kind == "binop" and p.value == "*":
            factors = split_top(p, "*")
            terms.extend(f for f in factors if f not in terms)
            inter = factors[0]
            for f in factors[1:]:
                inter = binop(":", inter, f)
            terms.append(inter)
        elif p not in terms:
            terms.append(p)
    out = [num(1)] if intercept else []
    out.extend(binop("+", num(0), t) for t in terms)
    return out


def double_vert_terms(term: Node) -> list[Node]:
    """lme4's ``expandDoubleVerts`` of one ``(expr || g)``: the uncorrelated terms ``(1 | g)``,
    ``(0 + x | g)``... as formula pieces (the group as written: ``/`` is expanded later).

    Examples
    --------
    >>> [t.deparse() for t in double_vert_terms(parse("(x || a/b)"))]
    ['(1 | a/b)', '(0 + x | a/b)']
    """
    bar = strip_parens(term)
    expr, group = bar.args
    return [paren(binop("|", e, group)) for e in _expand_double_vert(expr)]


def parse_bar(term: Node) -> list[RETerm]:
    """The random-effects terms of one bar ``expr | g`` / ``expr || g`` after lme4's ``||`` and ``/``
    expansion (``||`` first: all groups of the first expression, then the next expression).

    Raises
    ------
    FormulaError
        A bar in the left-hand side, more than one bar, a grouping factor combining variables with
        anything but ``:`` or ``/``, a ``-`` term inside ``||``.

    Examples
    --------
    >>> [t.label for t in parse_bar(parse("x || a/b"))]
    ['1 | b:a', '1 | a', '0 + x | b:a', '0 + x | a']
    """
    original = term.deparse()
    first = term
    while is_bar(first.args[0]):           # 'x | g | h' reads '(x | g) | h'
        first = first.args[0]
    expr, group = first.args
    if any(is_bar(n) for n in _outside_calls(expr)):
        raise FormulaError(f"random-effects term ({original}) has a bar in its left-hand side {expr.deparse()!r}: "
                           f"put each term in its own parentheses, as in '(x | g) + (1 | h)' (lme4 stops "
                           f"with 'model frame and formula mismatch in model.matrix()')")
    if first is not term:
        raise FormulaError(f"random-effects term ({original}) has more than one bar")
    groups = _expand_slash(group) if any(n.kind == "binop" and n.value == "/" for n in _top_level(group)) \
        else [group]
    groups = [_check_group(g, original) for g in groups]
    exprs = _expand_double_vert(expr) if term.value == "||" else [expr]
    # lme4 expands '||' before '/': all groups of the first expression, then the next expression
    return [RETerm(e, g) for e in exprs for g in groups]


# ------------------------------------------------------------------------------------------------
# the formula


def parse_formula(formula: str | Node | FormulaParts, one_sided: bool = False) -> FormulaParts:
    """Split an lme4 formula into response, fixed-effects right-hand side and random-effect terms.

    Parameters
    ----------
    formula : str or Node
        An R formula such as ``"y ~ x + (1 + x | g) + (1 | a/b)"``, or its tree (as R's ``lmer`` takes a
        formula object; :func:`mixedcompat.front.terms.update_formula_tree` builds one): a tree is not
        re-parsed, its ``text`` is R's one-line deparse of it.  Already parsed parts are returned as they are.
    one_sided : bool
        Accept a formula without response (``"~ (1 | g)"``, as ``re_form``); its ``response`` is None.

    Returns
    -------
    FormulaParts

    Raises
    ------
    FormulaError
        Unbalanced parentheses, a missing response, an empty term, a bar inside a bar term's left side.

    Notes
    -----
    As in R, a bar outside parentheses takes the whole right-hand side: ``"y ~ x + 1 | g"`` is the
    single term ``(x + 1 | g)`` with fixed part ``1`` (lme4 fits it so, without a warning).

    Examples
    --------
    >>> [t.label for t in parse_formula("y ~ x + (x || g) + (1 | a/b)").re_terms]
    ['1 | g', '0 + x | g', '1 | b:a', '1 | a']
    >>> p = parse_formula("log(y) ~ x | z")
    >>> p.fixed_text, [t.label for t in p.re_terms]
    ('1', ['x | z'])
    """
    if isinstance(formula, FormulaParts):
        if formula.response is None and not one_sided:
            raise FormulaError(f"formula {formula.text!r} has no response: write it as 'y ~ ...'")
        return formula
    if isinstance(formula, Node):
        tree = formula
        text = " ".join(deparse_one(tree).split())
        if tree.kind == "unop" and tree.value == "~" and not one_sided:
            raise FormulaError(f"formula {text!r} has no response: write it as 'y ~ ...'")
        return _split_formula(tree, text, one_sided)
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError("the formula must be a non-empty string such as 'y ~ x + (1 | g)'")
    text = " ".join(formula.split())
    _check_tokens(text, one_sided)
    try:
        tree = parse(text)
    except FormulaError:
        _empty_bar_side(text)
        raise
    return _split_formula(tree, text, one_sided)


def _split_formula(tree: Node, text: str, one_sided: bool) -> FormulaParts:
    """:func:`parse_formula` after parsing: response, fixed part and bar terms of the formula ``tree``
    (``text`` its spelling, for messages and ``FormulaParts.text``)."""
    if one_sided and tree.kind == "unop" and tree.value == "~":
        response, rhs = None, tree.args[0]
    elif tree.kind == "binop" and tree.value == "~":
        response, rhs = tree.args
    else:
        raise FormulaError(f"formula {text!r} has no '~'")
    if (response is not None and _has_tilde(response)) or _has_tilde(rhs):
        raise FormulaError(f"formula {text!r} has more than one '~'")
    if is_bar(rhs):
        # a bar outside parentheses: '|' binds more loosely than '+', so the whole right-hand side is
        # one random-effects term and the fixed part is the intercept (lme4: nobars(x | g) -> 1)
        return FormulaParts(text=text, response=response, fixed=num(1), re_terms=tuple(parse_bar(rhs)), tree=tree)
    re_terms: list[RETerm] = []
    fixed: list[tuple[str, Node]] = []
    for sign, piece in signed_terms(rhs):
        inner = strip_parens(piece)
        if piece.kind == "paren" and is_bar(inner):
            if sign == "-":
                raise FormulaError(f"cannot subtract the random-effects term {piece.deparse()}")
            re_terms.extend(parse_bar(inner))
            continue
        fixed.append((sign, piece))
    return FormulaParts(text=text, response=response, fixed=_join(fixed) if fixed else num(1),
                        re_terms=tuple(re_terms), tree=tree)
