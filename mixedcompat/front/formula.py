"""Splitting an lme4 formula string into its response, fixed part and random-effect terms.

The random-effect grammar follows lme4's ``findbars`` / ``nobars`` / ``expandDoubleVerts`` /
``expandSlash``: ``(expr | g)``, ``(expr || g)`` (uncorrelated: one term per model term),
``(expr | a/b)`` -> ``(expr | b:a) + (expr | a)``.  The fixed part is returned as an R formula
right-hand side; :mod:`mixedcompat.front.design` turns it into a model matrix.

R's precedence decides what a bar without parentheses means: ``|`` and ``||`` bind more loosely than
``+`` and more tightly than ``~``, so ``y ~ x + 1 | g`` is ``y ~ ((x + 1) | g)``: the whole right-hand
side is one random-effects term and the fixed part is ``1`` (lme4's ``findbars`` / ``nobars`` of the
right-hand side, as ``lFormula`` uses them).
"""
from __future__ import annotations

from dataclasses import dataclass

from mixedcompat.errors import FormulaError


@dataclass(frozen=True)
class RETerm:
    """One random-effects term ``(expr | group)`` after ``||`` and ``/`` expansion.

    Example
    -------
    >>> RETerm("1 + Days", "Subject").label
    '1 + Days | Subject'
    """

    expr: str
    group: str

    @property
    def label(self) -> str:
        return f"{self.expr} | {self.group}"


@dataclass(frozen=True)
class FormulaParts:
    """A parsed mixed-model formula.

    Example
    -------
    >>> p = parse_formula("Reaction ~ Days + (Days | Subject)")
    >>> p.response, p.fixed, p.re_terms
    ('Reaction', 'Days', (RETerm(expr='Days', group='Subject'),))
    """

    text: str
    response: str | None
    fixed: str
    re_terms: tuple[RETerm, ...]


def _check_balance(text: str) -> None:
    depth = 0
    for pos, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced parentheses in formula {text!r}: "
                                   f"')' at position {pos} has no matching '('")
    if depth != 0:
        raise FormulaError(f"unbalanced parentheses in formula {text!r}: {depth} '(' not closed")


def split_top_level(text: str, seps: str = "+-") -> list[tuple[str, str]]:
    """Split ``text`` at depth-0 occurrences of the characters in ``seps``.

    Returns ``(sign, piece)`` pairs; the first piece has sign ``'+'``.

    Example
    -------
    >>> split_top_level("a + (b + c) - 1")
    [('+', 'a'), ('+', '(b + c)'), ('-', '1')]
    """
    out: list[tuple[str, str]] = []
    depth = 0
    sign = "+"
    start = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch in seps:
            # a sign inside a number's exponent (1e-3) is not a separator
            prev = text[start:i].rstrip()
            if ch in "+-" and len(prev) >= 2 and prev[-1] in "eE" and prev[-2].isdigit() and i > 0 \
                    and text[i - 1] in "eE":
                continue
            piece = text[start:i].strip()
            if piece:
                out.append((sign, piece))
            elif ch == "-" and out == [] and i == start:
                pass
            sign = ch if ch in "+-" else "+"
            start = i + 1
    piece = text[start:].strip()
    if piece:
        out.append((sign, piece))
    return out


def _find_top(text: str, token: str) -> int:
    """Index of the first depth-0 ``token`` in ``text`` or -1."""
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text.startswith(token, i):
            return i
        i += 1
    return -1


def _strip_parens(text: str) -> str:
    """Remove redundant enclosing parentheses: ``((a | g))`` -> ``a | g``."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0 and i != len(text) - 1:
                    return text
        text = text[1:-1].strip()
    return text


def _bar_position(inner: str) -> tuple[int, int]:
    """Position and width (1 or 2) of the top-level bar in an RE term body, or (-1, 0)."""
    pos = _find_top(inner, "|")
    if pos < 0:
        return -1, 0
    return (pos, 2) if inner.startswith("||", pos) else (pos, 1)


def _expand_slash(group: str, term_text: str) -> list[str]:
    """lme4's expandSlash: ``a/b`` -> ``['b:a', 'a']``; ``a/b/c`` -> ``['c:(b:a)', 'b:a', 'a']``."""
    parts = [p.strip() for p in group.split("/")]
    if any(not p for p in parts):
        raise FormulaError(f"empty grouping factor in random-effects term ({term_text})")
    names = [parts[0]]
    for part in parts[1:]:
        prev = names[-1]
        names.append(f"{part}:({prev})" if ":" in prev else f"{part}:{prev}")
    return names[::-1]


def _normalise_group(group: str, term_text: str) -> str:
    g = _strip_parens(group)
    if not g:
        raise FormulaError(f"random-effects term ({term_text}) has no grouping factor")
    for bad in ("+", "*", "|", "~"):
        if _find_top(g, bad) >= 0:
            raise FormulaError(f"Invalid grouping factor specification, {g}: the grouping factor {g!r} in "
                               f"random-effects term ({term_text}) may only combine variables with ':' or "
                               f"'/', not {bad!r}")
    return ":".join(p.strip() for p in g.split(":")) if "(" not in g else g


def _expand_double_vert(expr: str) -> list[str]:
    """lme4's expandDoubleVerts: ``1 + x + z`` -> ``['1', '0 + x', '0 + z']``."""
    intercept = True
    terms: list[str] = []
    for sign, piece in split_top_level(expr):
        p = _strip_parens(piece)
        if p in ("0", "-1") or (sign == "-" and p == "1"):
            intercept = False
        elif p == "1":
            intercept = sign == "+"
        elif sign == "-":
            raise FormulaError(f"cannot remove {p!r} inside an uncorrelated '||' term")
        elif _find_top(p, "*") >= 0:
            factors = [f.strip() for f in p.split("*")]
            terms.extend(f for f in factors if f not in terms)
            inter = ":".join(factors)
            terms.append(inter)
        else:
            if p not in terms:
                terms.append(p)
    out = ["1"] if intercept else []
    out.extend(f"0 + {t}" for t in terms)
    return out


def _has_bar(text: str) -> bool:
    """Whether ``text`` holds a ``|`` / ``||`` outside function calls (a random-effects bar)."""
    depth_call: list[bool] = []             # for each open parenthesis: does it open a call?
    prev = ""
    for i, ch in enumerate(text):
        if ch == "(":
            depth_call.append(bool(prev) and (prev.isalnum() or prev in "._`"))
        elif ch == ")":
            if depth_call:
                depth_call.pop()
        elif ch == "|" and not any(depth_call):
            return True
        if not ch.isspace():
            prev = ch
    return False


def _parse_re_term(body: str, original: str) -> list[RETerm]:
    pos, width = _bar_position(body)
    expr = body[:pos].strip()
    group = body[pos + width:].strip()
    if not expr:
        raise FormulaError(f"random-effects term ({original}) has nothing before the bar")
    if _has_bar(expr):
        raise FormulaError(f"random-effects term ({original}) has a bar in its left-hand side {expr!r}: "
                           f"put each term in its own parentheses, as in '(x | g) + (1 | h)' (lme4 stops "
                           f"with 'model frame and formula mismatch in model.matrix()')")
    if width == 2 and _find_top(group, "|") >= 0:
        raise FormulaError(f"random-effects term ({original}) has more than one bar")
    if _find_top(group, "|") >= 0:
        raise FormulaError(f"random-effects term ({original}) has more than one bar")
    groups = _expand_slash(group, original) if _find_top(group, "/") >= 0 else [group]
    groups = [_normalise_group(g, original) for g in groups]
    exprs = _expand_double_vert(expr) if width == 2 else [expr]
    # lme4 expands '||' before '/': all groups of the first expression, then the next expression
    return [RETerm(e, g) for e in exprs for g in groups]


def parse_formula(formula: str) -> FormulaParts:
    """Split an lme4 formula into response, fixed-effects right-hand side and random-effect terms.

    Parameters
    ----------
    formula : str
        An R formula such as ``"y ~ x + (1 + x | g) + (1 | a/b)"``.

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

    Example
    -------
    >>> [t.label for t in parse_formula("y ~ x + (x || g) + (1 | a/b)").re_terms]
    ['1 | g', '0 + x | g', '1 | b:a', '1 | a']
    >>> p = parse_formula("log(y) ~ x | z")
    >>> p.fixed, [t.label for t in p.re_terms]
    ('1', ['x | z'])
    """
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError("the formula must be a non-empty string such as 'y ~ x + (1 | g)'")
    text = " ".join(formula.split())
    _check_balance(text)
    tilde = _find_top(text, "~")
    if tilde < 0:
        raise FormulaError(f"formula {text!r} has no '~'")
    response = text[:tilde].strip()
    if not response:
        raise FormulaError(f"formula {text!r} has no response: write it as 'y ~ ...'")
    rhs = text[tilde + 1:].strip()
    if not rhs:
        raise FormulaError(f"formula {text!r} has an empty right-hand side")
    if _find_top(rhs, "~") >= 0:
        raise FormulaError(f"formula {text!r} has more than one '~'")
    if _bar_position(rhs)[0] >= 0:
        # a bar outside parentheses: '|' binds more loosely than '+', so the whole right-hand side is
        # one random-effects term and the fixed part is the intercept (lme4: nobars(x | g) -> 1)
        return FormulaParts(text=text, response=response, fixed="1", re_terms=tuple(_parse_re_term(rhs, rhs)))
    re_terms: list[RETerm] = []
    fixed: list[str] = []
    for sign, piece in split_top_level(rhs):
        inner = _strip_parens(piece)
        is_bracketed = piece.strip().startswith("(") and inner != piece.strip()
        if is_bracketed and _bar_position(inner)[0] >= 0:
            if sign == "-":
                raise FormulaError(f"cannot subtract the random-effects term {piece}")
            re_terms.extend(_parse_re_term(inner, inner))
            continue
        fixed.append(("- " if sign == "-" else "+ ") + piece)
    fixed_text = " ".join(fixed).strip()
    if fixed_text.startswith("+ "):
        fixed_text = fixed_text[2:]
    if not fixed_text:
        fixed_text = "1"
    elif fixed_text.startswith("- "):
        fixed_text = "1 " + fixed_text
    return FormulaParts(text=text, response=response, fixed=fixed_text, re_terms=tuple(re_terms))
