"""The R language as model formulas use it: R's tokenizer, parser (R's precedence table) and ``deparse``.

This module is the one home of R expression syntax in the package: formulas, transformations inside
them (``log(x + 1)``, ``poly(x, 2)``), nlme's ``form = ~ x | g`` arguments and the printed
``Formula:`` lines are all read by :func:`parse` and written back by :func:`deparse`.

Public API
----------
Node
    The one immutable, hashable syntax-tree node (frozen dataclass ``kind, value, args, names, text``).
    Kinds:

    ``"num"``      a number: ``value`` float (R reads ``1L``, ``0x10``, ``1e-4`` as numbers), ``text`` the
                   spelling R's deparse gives it (``"1e-04"``, ``"16L"``); ``text`` ends in ``L`` for R
                   integers, so ``1L`` and ``1`` are different keys while ``1`` and ``1.0`` are the same.
    ``"str"``      a string constant: ``value`` the decoded string.
    ``"sym"``      a symbol: ``value`` the name (backticks removed). ``TRUE``, ``NA``, ``Inf`` ... are symbols.
    ``"call"``     a call: ``value`` the function name (str) or, for a computed function such as
                   ``stats::poly(x)``, the function expression (a Node); ``args`` the arguments,
                   ``names`` their names (None when unnamed), always ``len(args)`` long.
    ``"index"``    ``x[i, j]`` / ``x[[i]]``: ``value`` is ``"["`` or ``"[["``, ``args`` = (x, i, j, ...),
                   ``names`` = (None, names of i, j ...).
    ``"binop"``    a binary operator: ``value`` the operator (``+``, ``%in%``, ``::``, ``$`` ...), ``args`` (lhs, rhs).
                   ``->`` / ``->>`` are stored as R stores them: ``<-`` / ``<<-`` with the sides swapped.
    ``"unop"``     a prefix operator (``-``, ``+``, ``!``, ``~``, ``?``): ``value`` the operator, ``args`` (operand,).
    ``"paren"``    parentheses as written: ``args`` (inner,).
    ``"missing"``  an empty argument, as in ``x[, 1]``.

    Methods: ``deparse()`` (one line, R's spelling), ``symbols()`` (R's ``all.vars``), ``deparse_lines(width_cutoff)``.

Constructors: :func:`sym`, :func:`num`, :func:`string`, :func:`call`, :func:`binop`, :func:`unop`, :func:`paren`.

Reading: :func:`tokenize` (``Token(kind, text, pos)``), :func:`parse` (one expression; raises
:class:`~mixedcompat.errors.FormulaError`).

Writing: :func:`deparse` (the lines of R's ``deparse(x, width.cutoff)``, line breaking as R does;
``spell_symbol=`` writes symbols another way), :func:`deparse_one` (one line), :func:`r_symbol`, :func:`r_number`, :func:`r_string`, :data:`BINARY_OPS`.

Walking: :func:`walk` (pre-order), :func:`symbols`, :func:`split_top` (``a + b + c`` -> ``[a, b, c]``),
:func:`signed_terms` (``a + b - c`` -> ``[("+", a), ("+", b), ("-", c)]``), :func:`strip_parens`,
:func:`find_calls`, :func:`is_binop`, :func:`is_call`, :func:`map_nodes` (bottom-up rewrite).

Examples
--------
>>> t = parse("y~x*f+(1|a/b)+log(z+1)+I(x^2)")
>>> t.deparse()
'y ~ x * f + (1 | a/b) + log(z + 1) + I(x^2)'
>>> [n.deparse() for n in split_top(t.args[1], "+")]
['x * f', '(1 | a/b)', 'log(z + 1)', 'I(x^2)']
>>> t.symbols()
['y', 'x', 'f', 'a', 'b', 'z']
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from mixedcompat.errors import FormulaError

__all__ = ["Node", "Token", "tokenize", "parse", "deparse", "deparse_one", "r_symbol", "r_number", "r_string",
           "sym", "num", "string", "call", "binop", "unop", "paren", "walk", "symbols", "split_top",
           "signed_terms", "strip_parens", "find_calls", "is_binop", "is_call", "map_nodes", "BINARY_OPS",
           "CONSTANTS"]

# --------------------------------------------------------------------------------------------- numbers, names


def r_number(v: float) -> str:
    """A double as R's ``as.character`` / ``deparse`` writes it (15 significant digits, fixed unless
    scientific is narrower).

    Examples
    --------
    >>> [r_number(v) for v in (308.0, 1e5, 0.1 + 0.2, 123456.0, 1e-4)]
    ['308', '1e+05', '0.3', '123456', '1e-04']
    """
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    target = f"{v:.14e}"
    sig = 15
    for d in range(1, 16):
        if float(f"{v:.{d - 1}e}") == float(target):
            sig = d
            break
    sci = f"{v:.{sig - 1}e}"
    mant, exp = sci.split("e")
    e = int(exp)
    sci = f"{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    rgt = max(0, sig - 1 - e)
    fixed = f"{v:.{rgt}f}"
    return fixed if len(fixed) <= len(sci) else sci


_SYNTACTIC = re.compile(r"^(?:(?:[^\W\d_]|[.](?![0-9]))[\w.]*|[.])$")
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
             "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in"}
#: symbols that are constants in R, not variables (left out of :func:`symbols`, as ``all.vars`` leaves
#: out R's literal constants; ``T``, ``F`` and ``pi`` are variables to R but constants to model formulas)
CONSTANTS = frozenset({"TRUE", "FALSE", "T", "F", "pi", "NA", "NULL", "Inf", "NaN"})
_LITERALS = {"TRUE", "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_",
             "NA_complex_"}


def r_symbol(name: str) -> str:
    """A symbol as R deparses it: backticks around a name that is not syntactic or is reserved.

    Examples
    --------
    >>> r_symbol("x.1"), r_symbol("my var"), r_symbol("if")
    ('x.1', '`my var`', '`if`')
    """
    if _SYNTACTIC.match(name) and name not in _RESERVED:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


_STR_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", '"': '\\"', "\a": "\\a", "\b": "\\b",
                "\f": "\\f", "\v": "\\v", "\0": "\\0"}


def r_string(s: str) -> str:
    """A string constant as R deparses it: double quotes, R's escapes.

    Examples
    --------
    >>> r_string("it's \\"x\\"")
    '"it\\'s \\\\"x\\\\""'
    """
    out = []
    for ch in s:
        if ch in _STR_ESCAPES:
            out.append(_STR_ESCAPES[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# --------------------------------------------------------------------------------------------- the node


@dataclass(frozen=True)
class Node:
    """One node of an R expression (see the module docstring for the kinds). Immutable and hashable.

    Examples
    --------
    >>> parse("I(x^2)").deparse()
    'I(x^2)'
    >>> parse("log(x, base = 2)") == parse("log(x,base=2)")
    True
    """

    kind: str
    value: Any = None
    args: tuple["Node", ...] = ()
    names: tuple[str | None, ...] = ()
    text: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.args, tuple):
            object.__setattr__(self, "args", tuple(self.args))
        if self.kind in ("call", "index"):
            if len(self.names) != len(self.args):
                if self.names:
                    raise ValueError(f"{len(self.names)} names for {len(self.args)} arguments")
                object.__setattr__(self, "names", (None,) * len(self.args))
            elif not isinstance(self.names, tuple):
                object.__setattr__(self, "names", tuple(self.names))
        if self.kind == "num":
            integer = self.text is not None and self.text.endswith("L")
            object.__setattr__(self, "value", float(self.value))
            object.__setattr__(self, "text", _num_text(self.value, integer))

    def deparse(self) -> str:
        """R's ``deparse`` of the expression on one line.

        Examples
        --------
        >>> parse("a%in%b").deparse()
        'a %in% b'
        """
        return deparse_one(self)

    def deparse_lines(self, width_cutoff: int = 60) -> list[str]:
        """The lines of R's ``deparse(x, width.cutoff = width_cutoff)``.

        Examples
        --------
        >>> parse("y ~ x").deparse_lines()
        ['y ~ x']
        """
        return deparse(self, width_cutoff)

    def symbols(self) -> list[str]:
        """Names of the symbols in the expression, in order of first appearance (R's ``all.vars``).

        Examples
        --------
        >>> parse("log(y) ~ x + x:g + pi").symbols()
        ['y', 'x', 'g']
        """
        return symbols(self)

    def __repr__(self) -> str:
        return f"Node<{self.kind}: {deparse_one(self)}>"


def _num_text(v: float, integer: bool) -> str:
    if integer and v == int(v) and abs(v) < 2 ** 31:
        return f"{int(v)}L"
    return r_number(v)


def sym(name: str) -> Node:
    """A symbol node. Example: ``sym("x").deparse() == 'x'``."""
    return Node("sym", name)


def num(value: float, integer: bool = False) -> Node:
    """A number node (``integer=True`` for R's ``1L``).

    Examples
    --------
    >>> num(1e5).deparse(), num(3, integer=True).deparse()
    ('1e+05', '3L')
    """
    return Node("num", float(value), text="L" if integer else None)


def string(value: str) -> Node:
    """A string constant node. Example: ``string("a").deparse() == '"a"'``."""
    return Node("str", value)


def call(fn: str | Node, *args: Node, **named: Node) -> Node:
    """A call node; keyword arguments become named arguments.

    Examples
    --------
    >>> call("log", sym("x"), base=num(2)).deparse()
    'log(x, base = 2)'
    """
    return Node("call", fn, tuple(args) + tuple(named.values()), (None,) * len(args) + tuple(named))


def binop(op: str, lhs: Node, rhs: Node) -> Node:
    """A binary-operator node. Example: ``binop("+", sym("a"), sym("b")).deparse() == 'a + b'``."""
    return Node("binop", op, (lhs, rhs))


def unop(op: str, operand: Node) -> Node:
    """A prefix-operator node. Example: ``unop("-", num(1)).deparse() == '-1'``."""
    return Node("unop", op, (operand,))


def paren(inner: Node) -> Node:
    """Parentheses around ``inner``. Example: ``paren(sym("a")).deparse() == '(a)'``."""
    return Node("paren", None, (inner,))


# --------------------------------------------------------------------------------------------- tokenizer


class Token(NamedTuple):
    """One token: ``kind`` is ``num``, ``str``, ``name``, ``op`` or ``end``; ``pos`` its offset in the text."""

    kind: str
    text: str
    pos: int


_TOKEN_RE = re.compile(r"""
    (?P<ws>(?:\s|\#[^\n]*)+)
  | (?P<num>0[xX][0-9a-fA-F]+(?:[pP][+-]?\d+)?[Li]?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[Li]?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<bq>`(?:[^`\\]|\\.)*`)
  | (?P<name>(?:[^\W\d_]|\.(?![0-9]))[\w.]*|\.)
  | (?P<op>%[^%\n]*%|\*\*|:::|::|\|\||&&|\|>|==|!=|<=|>=|<<-|->>|<-|->|\[\[|[-+*/^:~()\[\],=<>!&|$@?{};])
""", re.VERBOSE | re.DOTALL)


def tokenize(text: str) -> list[Token]:
    """R's tokens of ``text`` (whitespace and comments dropped; ``**`` read as ``^``, as R does).

    Examples
    --------
    >>> [t.text for t in tokenize("a %in% b[[1]]")]
    ['a', '%in%', 'b', '[[', '1', ']', ']']
    """
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            what = "unterminated quote" if text[pos] in "\"'`" else f"unexpected character {text[pos]!r}"
            raise FormulaError(f"{what} in {text!r}")
        kind, tok = m.lastgroup, m.group()
        if kind != "ws":
            if kind == "op" and tok == "**":
                tok = "^"
            out.append(Token(kind, tok, pos))
        pos = m.end()
    return out


_ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|u\{[0-9a-fA-F]{1,4}\}|u[0-9a-fA-F]{1,4}|U\{[0-9a-fA-F]{1,8}\}"
                        r"|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE_ESC = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unescape(body: str) -> str:
    def one(m: re.Match) -> str:
        e = m.group(1)
        if e[0] == "x":
            return chr(int(e[1:], 16))
        if e[0] in "uU":
            return chr(int(e[1:].strip("{}"), 16))
        if e[0] in "01234567" and (len(e) > 1 or e != "0"):
            return chr(int(e, 8))
        return _SIMPLE_ESC.get(e, e)
    return _ESCAPE_RE.sub(one, body)


def _number(tok: str) -> Node:
    t = tok
    if t.endswith("i"):
        raise FormulaError(f"complex constant {tok!r} is not supported in model formulas")
    integer = t.endswith("L")
    if integer:
        t = t[:-1]
    if t[:2].lower() == "0x":
        value = float.fromhex(t) if "p" in t.lower() else float(int(t, 16))
    else:
        value = float(t)
    return Node("num", value, text="L" if integer else None)


# --------------------------------------------------------------------------------------------- parser

# R's ?Syntax, lowest first.  Binary operators: (left binding power, right binding power); left-associative
# operators bind their right operand one step tighter, right-associative ones (^, <-, =) one step looser.
_BP = {"?": 2, "=": 4, "<-": 6, "->": 8, "~": 10, "||": 12, "&&": 14, "!": 16, "==": 18, "+": 20, "*": 22,
       "%%": 24, ":": 26, "unary": 28, "^": 30, "[": 32, "$": 34, "::": 36}
_BINARY: dict[str, tuple[int, int]] = {}
for _ops, _key, _right in (("?", "?", False), ("=", "=", True), ("<- <<-", "<-", True), ("-> ->>", "->", False),
                           ("~", "~", False), ("| ||", "||", False), ("& &&", "&&", False),
                           ("== != < > <= >=", "==", None), ("+ -", "+", False), ("* /", "*", False),
                           ("|>", "%%", False), (":", ":", False), ("^", "^", True), ("$ @", "$", False),
                           ("::  :::", "::", False)):
    for _op in _ops.split():
        _lbp = _BP[_key]
        _BINARY[_op] = (_lbp, _lbp - 1 if _right else _lbp + 1)
_COMPARISON = {"==", "!=", "<", ">", "<=", ">="}
# a prefix operator's operand: what binds tighter than the operator (R's grammar reduces ``-a`` before
# a following operator of the same or lower precedence: ``~a ~ b`` is ``(~a) ~ b``)
_PREFIX = {"-": _BP["unary"] + 1, "+": _BP["unary"] + 1, "!": _BP["!"] + 1, "~": _BP["~"] + 1, "?": _BP["?"] + 1}
#: the binary operators the parser knows, with R's precedence (higher binds tighter) and any ``%op%``
BINARY_OPS = frozenset(_BINARY) | {"%any%"}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise FormulaError(f"unexpected end of expression in {self.text!r}")
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        tok = self.peek()
        if tok is None or tok.kind != "op" or tok.text != op:
            found = "the end" if tok is None else repr(tok.text)
            raise FormulaError(f"expected {op!r} but found {found} in {self.text!r}")
        self.i += 1

    def is_op(self, tok: Token | None, *ops: str) -> bool:
        return tok is not None and tok.kind == "op" and tok.text in ops

    def binding(self, tok: Token | None) -> tuple[int, int] | None:
        if tok is None or tok.kind != "op":
            return None
        if tok.text.startswith("%"):
            return _BINARY["|>"]
        return _BINARY.get(tok.text)

    def expr(self, min_bp: int = 0) -> Node:
        left = self.prefix(self.next())
        while True:
            tok = self.peek()
            if self.is_op(tok, "(", "[", "[["):
                if _BP["["] < min_bp:
                    break
                self.next()
                left = self.postfix(left, tok.text)
                continue
            bp = self.binding(tok)
            if bp is None or bp[0] < min_bp:
                break
            self.next()
            op = tok.text
            right = self.expr(bp[1])
            if op in _COMPARISON and self.is_op(self.peek(), *_COMPARISON):
                raise FormulaError(f"unexpected {self.peek().text!r} in {self.text!r}: R's comparison "
                                   f"operators do not chain")
            if op in ("->", "->>"):
                left = Node("binop", "<-" if op == "->" else "<<-", (right, left))
            elif op == "|>":
                left = self.pipe(left, right)
            else:
                left = Node("binop", op, (left, right))
        return left

    def pipe(self, lhs: Node, rhs: Node) -> Node:
        if rhs.kind != "call":
            raise FormulaError(f"the pipe |> needs a function call on its right in {self.text!r}")
        return Node("call", rhs.value, (lhs,) + rhs.args, (None,) + rhs.names)

    def prefix(self, tok: Token) -> Node:
        kind, t = tok.kind, tok.text
        if kind == "num":
            return _number(t)
        if kind == "str":
            return Node("str", _unescape(t[1:-1]))
        if kind == "bq":
            return Node("sym", _unescape(t[1:-1]))
        if kind == "name":
            return Node("sym", t)
        if t == "(":
            inner = self.expr(0)
            self.expect(")")
            return Node("paren", None, (inner,))
        if t in _PREFIX:
            return Node("unop", t, (self.expr(_PREFIX[t]),))
        raise FormulaError(f"unexpected {t!r} in {self.text!r}")

    def postfix(self, left: Node, op: str) -> Node:
        close = ")" if op == "(" else "]"
        args, names = self.arglist(close)
        if op == "[[":
            self.expect("]")
        if op == "(":
            fn: Any = left.value if left.kind == "sym" else left
            if left.kind == "str":
                fn = left.value
            return Node("call", fn, args, names)
        return Node("index", op, (left,) + args, (None,) + names)

    def arglist(self, close: str) -> tuple[tuple[Node, ...], tuple[str | None, ...]]:
        args: list[Node] = []
        names: list[str | None] = []
        if self.is_op(self.peek(), close):
            self.next()
            return (), ()
        while True:
            tok, nxt = self.peek(), self.peek(1)
            name = None
            if tok is not None and tok.kind in ("name", "bq", "str") and self.is_op(nxt, "="):
                name = _unescape(tok.text[1:-1]) if tok.kind in ("bq", "str") else tok.text
                self.i += 2
            if self.is_op(self.peek(), ",", close):
                args.append(Node("missing"))
            else:
                args.append(self.expr(_BP["="] + 1))
            names.append(name)
            tok = self.next()
            if tok.kind == "op" and tok.text == close:
                break
            if tok.kind != "op" or tok.text != ",":
                raise FormulaError(f"expected ',' or '{close}' but found {tok.text!r} in {self.text!r}")
        if close == ")" and len(args) == 1 and args[0].kind == "missing" and names[0] is None:
            return (), ()
        return tuple(args), tuple(names)


def parse(text: str) -> Node:
    """Parse one R expression (formula operators included) with R's precedence and associativity.

    Raises :class:`~mixedcompat.errors.FormulaError` naming the text when it is not one R expression.

    Examples
    --------
    >>> parse("-2^2:3").deparse()
    '-2^2:3'
    >>> parse("a - b - c").args[0].deparse()
    'a - b'
    >>> parse("a^b^c").args[1].deparse()
    'b^c'
    """
    p = _Parser(text)
    if not p.toks:
        raise FormulaError(f"empty expression {text!r}")
    node = p.expr(0)
    if p.peek() is not None:
        raise FormulaError(f"unexpected {p.peek().text!r} in {text!r}")
    return node


# --------------------------------------------------------------------------------------------- deparser

# R's PP kinds: spaced binary operators break the line after themselves (PP_BINARY and %op%); the
# others are written without spaces (PP_BINARY2, PP_DOLLAR) or with spaces but no break (assignment).
_SPACED_BREAK = {"+", "-", "*", "~", "==", "!=", "<", ">", "<=", ">=", "&", "&&", "|", "||", "%*%"}
_TIGHT = {"/", "^", ":", "%%", "%/%", "$", "@", "::", ":::"}
_ASSIGN = {"<-", "<<-", "=", "?"}
# R's deparse precedences (PREC_*) of operators, for its needsparens() rule
_PREC = {"?": 1, "=": 2, "<-": 3, "<<-": 3, "~": 5, "||": 6, "|": 6, "&&": 7, "&": 7, "!": 8,
         "==": 9, "!=": 9, "<": 9, ">": 9, "<=": 9, ">=": 9, "+": 10, "-": 10, "*": 11, "/": 11,
         "%%": 12, ":": 13, "^": 15, "$": 16, "@": 16, "::": 17, ":::": 17}
_PREC_SIGN = 14
_RIGHT_ASSOC = {"^", "<-", "<<-", "="}


def _prec(node: Node) -> tuple[int, bool] | None:
    """(R's deparse precedence, is unary) of an operator node, else None."""
    if node.kind == "binop":
        op = node.value
        return (_PREC["%%"] if op.startswith("%") else _PREC.get(op, 0)), False
    if node.kind == "unop":
        op = node.value
        if op in ("-", "+"):
            return _PREC_SIGN, True
        return _PREC.get(op, 0), True
    return None


def _needs_parens(main: tuple[int, bool, bool], arg: Node, left: bool) -> bool:
    """R's ``needsparens()``: parentheses R's deparse adds around an operand (never the case for a tree
    read from text, except the few places where R's grammar and its deparse table disagree)."""
    info = _prec(arg)
    if info is None:
        return False
    prec, unary = info
    main_prec, _, main_right = main
    if unary:
        if not left:                # R 4.2: a prefix operator on the right is written bare (a + !b, !!a)
            return False
    elif main_prec == _PREC["=="] and prec == _PREC["=="]:
        return True
    return main_prec > prec or (main_prec == prec and left == main_right)


class _Writer:
    """R's deparse line buffer: the current line, the indent, the lines written."""

    def __init__(self, cutoff: int, spell_symbol: Callable[[str], str] | None = None):
        self.cutoff = cutoff
        self.spell_symbol = spell_symbol
        self.lines: list[str] = []
        self.cur = ""
        self.indent = 0
        self.startline = True

    def put(self, s: str) -> None:
        if self.startline:
            self.startline = False
            self.cur += "".join("    " if i < 4 else "  " for i in range(self.indent))
        self.cur += s

    def writeline(self) -> None:
        self.lines.append(self.cur)
        self.cur, self.startline = "", True

    def linebreak(self, flag: list[bool]) -> None:
        if len(self.cur) > self.cutoff:
            if not flag[0]:
                flag[0] = True
                self.indent += 1
            self.writeline()

    def operand(self, main: Node, arg: Node, left: bool) -> None:
        info = _prec(main)
        wrap = info is not None and _needs_parens((info[0], info[1], main.value in _RIGHT_ASSOC), arg, left)
        if wrap:
            self.put("(")
        self.node(arg)
        if wrap:
            self.put(")")

    def node(self, n: Node) -> None:
        k = n.kind
        if k == "num":
            self.put(n.text)
        elif k == "str":
            self.put(r_string(n.value))
        elif k == "sym":
            if self.spell_symbol is not None:
                self.put(self.spell_symbol(n.value))
            else:
                self.put(n.value if n.value in _LITERALS else r_symbol(n.value))
        elif k == "missing":
            pass
        elif k == "paren":
            self.put("(")
            self.node(n.args[0])
            self.put(")")
        elif (k == "unop" or k == "binop") and n.value == "?":      # `?` is a function to R's deparse
            self.put("`?`(")
            self.arguments(n.args, (None,) * len(n.args))
            self.put(")")
        elif k == "unop":
            self.put(n.value)
            self.operand(n, n.args[0], False)
        elif k == "binop":
            self.binary(n)
        elif k == "call":
            if isinstance(n.value, Node):
                self.node(n.value)
            else:
                self.put(r_symbol(n.value))
            self.put("(")
            self.arguments(n.args, n.names)
            self.put(")")
        elif k == "index":
            self.node(n.args[0])
            self.put(n.value)
            self.arguments(n.args[1:], n.names[1:])
            self.put("]" if n.value == "[" else "]]")
        else:
            raise AssertionError(k)

    def binary(self, n: Node) -> None:
        op = n.value
        lhs, rhs = n.args
        if op in ("::", ":::") and lhs.kind in ("sym", "str") and rhs.kind in ("sym", "str"):
            self.put(r_symbol(lhs.value) + op + r_symbol(rhs.value))
            return
        self.operand(n, lhs, True)
        if op in _TIGHT:
            self.put(op)
            if op in ("$", "@") and rhs.kind in ("sym", "str"):
                self.put(r_symbol(rhs.value))
            else:
                self.operand(n, rhs, False)
        elif op in _ASSIGN:
            self.put(f" {op} ")
            self.operand(n, rhs, False)
        else:
            self.put(f" {op} ")
            flag = [False]
            self.linebreak(flag)
            self.operand(n, rhs, False)
            if flag[0]:
                self.indent -= 1

    def arguments(self, args: tuple[Node, ...], names: tuple[str | None, ...]) -> None:
        flag = [False]
        for k, (a, name) in enumerate(zip(args, names)):
            if name is not None:
                self.put(f"{r_symbol(name)} = ")
            self.node(a)
            if k < len(args) - 1:
                self.put(", ")
                self.linebreak(flag)
        if flag[0]:
            self.indent -= 1


def deparse(node: Node, width_cutoff: int = 60, *, spell_symbol: Callable[[str], str] | None = None) -> list[str]:
    """The lines of R's ``deparse(node, width.cutoff = width_cutoff)``.

    R breaks a line after a spaced binary operator (``+``, ``*``, ``~``, ``|``, ``%in%`` ...) or an
    argument's comma once the line is longer than ``width_cutoff``, indenting continuation lines by 4
    spaces per level (2 past level 4).  ``spell_symbol``, when given, writes each symbol (variable)
    instead of R's backtick rule, e.g. to write the names of another formula language.

    Examples
    --------
    >>> deparse(parse("y ~ aaaaaaaaaa + bbbbbbbbbb + cccccccccc + dddddddddd"), width_cutoff=20)
    ['y ~ aaaaaaaaaa + bbbbbbbbbb + ', '    cccccccccc + dddddddddd']
    """
    w = _Writer(width_cutoff, spell_symbol)
    w.node(node)
    w.writeline()
    return w.lines


def deparse_one(node: Node, *, spell_symbol: Callable[[str], str] | None = None) -> str:
    """R's deparse of ``node`` on one line (no width cutoff); ``spell_symbol`` as in :func:`deparse`.

    Examples
    --------
    >>> deparse_one(parse("f(x,y=`a b`)"))
    'f(x, y = `a b`)'
    >>> deparse_one(parse("`a b` ~ x"), spell_symbol=lambda s: f"Q({s!r})")
    "Q('a b') ~ Q('x')"
    """
    return deparse(node, width_cutoff=1 << 30, spell_symbol=spell_symbol)[0]


# --------------------------------------------------------------------------------------------- walking


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, pre-order (a computed call's function expression included).

    Examples
    --------
    >>> [n.kind for n in walk(parse("f(-x)"))]
    ['call', 'unop', 'sym']
    """
    yield node
    if node.kind == "call" and isinstance(node.value, Node):
        yield from walk(node.value)
    for a in node.args:
        yield from walk(a)


def symbols(node: Node) -> list[str]:
    """R's ``all.vars``: the variable names in order of first appearance (function names and
    :data:`CONSTANTS` left out; the right side of ``$``/``@``/``::`` is not a variable).

    Examples
    --------
    >>> symbols(parse("log(y) ~ x * f + pi"))
    ['y', 'x', 'f']
    """
    out: list[str] = []

    def visit(n: Node) -> None:
        if n.kind == "sym":
            if n.value not in CONSTANTS and n.value and n.value not in out:
                out.append(n.value)
            return
        if n.kind == "binop" and n.value in ("$", "@", "::", ":::"):
            if n.value in ("$", "@"):
                visit(n.args[0])
            return
        if n.kind == "call" and isinstance(n.value, Node):
            visit(n.value)
        for a in n.args:
            visit(a)

    visit(node)
    return out


def is_binop(node: Node, *ops: str) -> bool:
    """Whether ``node`` is a binary operator among ``ops`` (any binary operator when none are given).

    Examples
    --------
    >>> is_binop(parse("a | b"), "|", "||")
    True
    """
    return node.kind == "binop" and (not ops or node.value in ops)


def is_call(node: Node, *names: str) -> bool:
    """Whether ``node`` calls one of the functions ``names`` (any call when none are given).

    Examples
    --------
    >>> is_call(parse("offset(log(n))"), "offset")
    True
    """
    return node.kind == "call" and (not names or node.value in names)


def strip_parens(node: Node) -> Node:
    """``node`` without its enclosing parentheses (all levels).

    Examples
    --------
    >>> strip_parens(parse("((a + b))")).deparse()
    'a + b'
    """
    while node.kind == "paren":
        node = node.args[0]
    return node


def split_top(node: Node, op: str) -> list[Node]:
    """The operands of a chain of the binary operator ``op`` at the top of ``node`` (parentheses
    stop the split), in order: ``a + b + c`` -> ``[a, b, c]``; ``a^b^c`` on ``^`` -> ``[a, b, c]``.

    Examples
    --------
    >>> [n.deparse() for n in split_top(parse("a + (b + c) + d"), "+")]
    ['a', '(b + c)', 'd']
    >>> [n.deparse() for n in split_top(parse("a * b"), "+")]
    ['a * b']
    """
    if node.kind == "binop" and node.value == op:
        return split_top(node.args[0], op) + split_top(node.args[1], op)
    return [node]


def signed_terms(node: Node) -> list[tuple[str, Node]]:
    """The terms of a ``+``/``-`` chain with their signs; a leading unary sign counts as the first
    term's: ``a + b - c`` -> ``[("+", a), ("+", b), ("-", c)]``, ``-1 + x`` -> ``[("-", 1), ("+", x)]``.

    Examples
    --------
    >>> [(s, n.deparse()) for s, n in signed_terms(parse("0 + x - (1 | g)"))]
    [('+', '0'), ('+', 'x'), ('-', '(1 | g)')]
    """
    if node.kind == "binop" and node.value in ("+", "-"):
        left = signed_terms(node.args[0])
        right = signed_terms(node.args[1])
        if node.value == "-":
            right = [("-" if s == "+" else "+", t) for s, t in right[:1]] + right[1:]
        return left + right
    if node.kind == "unop" and node.value in ("+", "-"):
        inner = signed_terms(node.args[0]) if node.args[0].kind != "paren" else [("+", node.args[0])]
        s0, t0 = inner[0]
        first = ("-" if s0 == "+" else "+") if node.value == "-" else s0
        return [(first, t0)] + inner[1:]
    return [("+", node)]


def find_calls(node: Node, *names: str) -> list[Node]:
    """The calls (to ``names``, or any) anywhere in ``node``, pre-order.

    Examples
    --------
    >>> [c.deparse() for c in find_calls(parse("y ~ log(x) + poly(z, 2)"), "poly")]
    ['poly(z, 2)']
    """
    return [n for n in walk(node) if is_call(n, *names)]


def map_nodes(node: Node, fn: Callable[[Node], Node]) -> Node:
    """Rewrite a tree bottom-up: ``fn`` is applied to each node after its children were rewritten.

    Examples
    --------
    >>> map_nodes(parse("a + b"), lambda n: sym("z") if n == sym("b") else n).deparse()
    'a + z'
    """
    args = tuple(map_nodes(a, fn) for a in node.args)
    value = map_nodes(node.value, fn) if isinstance(node.value, Node) else node.value
    if args != node.args or value is not node.value:
        node = Node(node.kind, value, args, node.names, node.text)
    return fn(node)
