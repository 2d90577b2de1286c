"""R's term algebra: ``terms.formula`` (term labels, order, intercept, offsets, factor pattern) and
``drop.scope``; ``update.formula``.

A formula right-hand side (an R expression tree) expands into R's terms exactly as R's C routine
``termsform`` does: ``+``, ``-``, ``:``, ``*``, ``/``, ``%in%``, ``^``, ``0`` / ``1`` / ``- 1``, ``offset()``;
terms are sets of variables ordered by degree, then first appearance.  :mod:`mixedcompat.front.design`
builds model matrices from a :class:`TermStructure`; the likelihood-ratio and F tables take their drop
scopes from :func:`drop_scope`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mixedcompat.errors import FormulaError
from mixedcompat.front.formula import FormulaParts, double_vert_terms, is_bar, parse_bar, parse_formula
from mixedcompat.front.rlang import (Node, binop, deparse_one, map_nodes, num, paren, parse, signed_terms, strip_parens,
                                     sym)

__all__ = ["TermStructure", "rhs_terms", "factor_codes", "drop_scope", "rhs_of_terms", "term_node", "update_formula",
           "update_formula_tree"]



@dataclass(frozen=True)
class TermStructure:
    """R's ``terms`` object for a right-hand side.

    ``variables`` are the formula variables in R's order (first appearance); each term is a sorted
    tuple of variable indices; terms are ordered by degree as R does.

    Examples
    --------
    >>> rhs_terms("(a + b + c)^2").labels
    ['a', 'b', 'c', 'a:b', 'a:c', 'b:c']
    """

    variables: tuple[Node, ...]
    names: tuple[str, ...]
    terms: tuple[tuple[int, ...], ...]
    intercept: bool
    offsets: tuple[int, ...]

    @property
    def labels(self) -> list[str]:
        return [":".join(self.names[i] for i in t) for t in self.terms]


class _TermEncoder:
    """R's EncodeVars: formula operators -> list of terms (frozensets of variable indices)."""

    def __init__(self) -> None:
        self.variables: list[Node] = []
        self.names: list[str] = []
        self.offsets: list[int] = []
        self.intercept = True
        self.parity = True

    def var(self, node: Node) -> int:
        if node not in self.variables:
            self.names.append(node.deparse())
            self.variables.append(node)
        return self.variables.index(node)

    @staticmethod
    def trim(terms: list[frozenset]) -> list[frozenset]:
        out: list[frozenset] = []
        for t in terms:
            if t and t not in out:
                out.append(t)
        return out

    def encode(self, node: Node) -> list[frozenset]:
        k = node.kind
        if k == "num":
            if node.value == 1:
                self.intercept = self.parity
                return []
            if node.value == 0:
                self.intercept = not self.parity
                return []
            raise FormulaError(f"invalid model formula: the number {node.deparse()} cannot be a term")
        if k == "paren":
            return self.encode(node.args[0])
        if k == "sym" and node.value == ".":
            raise FormulaError("'.' in a formula is not supported: name the variables")
        if k == "unop" and node.value in "+-":
            if node.value == "+":
                return self.encode(node.args[0])
            self.parity = not self.parity
            self.encode(node.args[0])
            self.parity = not self.parity
            return []
        if k == "binop":
            op = node.value
            if op == "+":
                return self.trim(self.encode(node.args[0]) + self.encode(node.args[1]))
            if op == "-":
                left = self.encode(node.args[0])
                self.parity = not self.parity
                right = self.encode(node.args[1])
                self.parity = not self.parity
                return [t for t in left if t not in right]
            if op == ":":
                left, right = self.encode(node.args[0]), self.encode(node.args[1])
                return self.trim([a | b for a in left for b in right])
            if op == "*":
                left, right = self.encode(node.args[0]), self.encode(node.args[1])
                return self.trim(left + right + [a | b for a in left for b in right])
            if op == "/":
                left, right = self.encode(node.args[0]), self.encode(node.args[1])
                allbits = frozenset().union(*left) if left else frozenset()
                return self.trim(left + [b | allbits for b in right])
            if op == "%in%":
                left, right = self.encode(node.args[0]), self.encode(node.args[1])
                allbits = frozenset().union(*right) if right else frozenset()
                return self.trim([a | allbits for a in left])
            if op == "^":
                power = node.args[1]
                if power.kind != "num" or power.value < 1 or power.value != int(power.value):
                    raise FormulaError(f"invalid power in formula term {node.deparse()!r}")
                left = self.encode(node.args[0])
                right = left
                for _ in range(int(power.value) - 1):
                    right = self.trim([a | b for a in left for b in right])
                return right
        if k == "call" and node.value == "offset":
            self.offsets.append(self.var(node))
            return []
        if k == "binop" and node.value in ("|", "||"):
            raise FormulaError(f"random-effects term {node.deparse()!r} must be enclosed in parentheses")
        return [frozenset([self.var(node)])]


def rhs_terms(rhs: str | Node) -> TermStructure:
    """Expand an R formula right-hand side into R's terms (ordered by degree, stable).

    Parameters
    ----------
    rhs : str or Node
        A right-hand side (text or an R tree) such as ``"x * f - 1"`` or ``"(a + b + c)^2"``.

    Examples
    --------
    >>> s = rhs_terms("b:a + a + offset(z) - 1")
    >>> s.labels, s.intercept, [s.names[i] for i in s.offsets]
    (['a', 'b:a'], False, ['offset(z)'])
    """
    node = parse(rhs) if isinstance(rhs, str) else rhs
    enc = _TermEncoder()
    terms = enc.encode(node)
    terms = [t for t in terms if not (t & set(enc.offsets))]
    order = sorted(range(len(terms)), key=lambda i: len(terms[i]))
    sorted_terms = tuple(tuple(sorted(terms[i])) for i in order)
    return TermStructure(tuple(enc.variables), tuple(enc.names), sorted_terms, enc.intercept,
                         tuple(enc.offsets))


def factor_codes(struct: TermStructure, is_factor: list[bool]) -> list[list[tuple[int, int]]]:
    """R's factor-pattern codes: 1 = contrasts, 2 = one indicator per level, for each term's variables.

    A factor gets contrasts when the term without it is contained in a preceding term (the empty
    term counts as present); without an intercept the first factor of the first term holding a
    factor gets indicators.

    Examples
    --------
    >>> factor_codes(rhs_terms("a + a:b"), [True, True])
    [[(0, 1)], [(0, 2), (1, 1)]]
    """
    sets = [frozenset(t) for t in struct.terms]
    out: list[list[tuple[int, int]]] = []
    for j, t in enumerate(struct.terms):
        row = []
        for v in t:
            rest = sets[j] - {v}
            code = 1 if not rest or any(rest <= sets[i] for i in range(j)) else 2
            row.append((v, code))
        out.append(row)
    if not struct.intercept:
        done = False
        for row in out:
            for pos, (v, _code) in enumerate(row):
                if is_factor[v]:
                    row[pos] = (v, 2)
                    done = True
                    break
            if done:
                break
    return out


def drop_scope(struct: TermStructure) -> list[str]:
    """R's ``drop.scope``: the labels of the terms not contained in (marginal to) another term.

    Examples
    --------
    >>> drop_scope(rhs_terms("x * f + z"))
    ['z', 'x:f']
    """
    terms = [set(t) for t in struct.terms]
    out = []
    for i, t in enumerate(terms):
        if not any(j != i and t < u for j, u in enumerate(terms)):
            out.append(struct.labels[i])
    return out



def rhs_of_terms(struct: TermStructure, keep: Sequence[int] | None = None) -> Node:
    """The right-hand side R writes for terms of ``struct`` (those at positions ``keep``, all when None):
    ``a + b + a:b``, with ``- 1`` when ``struct`` has no intercept; ``1`` / ``0`` when no term is kept.

    Examples
    --------
    >>> s = rhs_terms("0 + x * f")
    >>> rhs_of_terms(s, [0, 2]).deparse()
    'x + x:f - 1'
    """
    terms = [struct.terms[k] for k in (range(len(struct.terms)) if keep is None else keep)]
    nodes = [term_node(struct, term) for term in terms]
    if not nodes:
        return num(1 if struct.intercept else 0)
    acc = nodes[0]
    for node in nodes[1:]:
        acc = binop("+", acc, node)
    return acc if struct.intercept else binop("-", acc, num(1))

# ------------------------------------------------------------------------------------------------
# update.formula


def _is_re_term(piece: Node) -> bool:
    return piece.kind == "paren" and is_bar(strip_parens(piece))


def _flat_signed_terms(rhs: Node) -> list[tuple[str, Node]]:
    """``signed_terms`` with parenthesised sums of random-effects terms opened, as R's term algebra opens
    them: ``x + ((1 | g) + (0 + x | g))`` (lme4's expansion of ``(x || g)``, which the formula lme4
    keeps has in place of ``(x || g)``) has three terms."""
    out: list[tuple[str, Node]] = []
    for sign, piece in signed_terms(rhs):
        inner = strip_parens(piece) if piece.kind == "paren" else None
        if inner is not None and inner.kind == "binop" and inner.value == "||":    # as lme4 stores the formula
            out += [(sign, p) for p in double_vert_terms(piece)]
            continue
        if inner is not None and not is_bar(inner) and inner.kind == "binop" and inner.value in ("+", "-"):
            parts = _flat_signed_terms(inner)
            if any(_is_re_term(p) for _, p in parts):
                out += [(s if sign == "+" else ("-" if s == "+" else "+"), p) for s, p in parts]
                continue
        out.append((sign, piece))
    return out


def _placeholders(rhs: Node, table: dict[tuple, Node], pieces: dict[str, Node]) -> Node:
    """``rhs`` with every random-effects term replaced by a symbol (one per distinct expanded term), so
    that the term algebra treats each as one term; ``pieces`` maps the symbols to the terms."""
    signed = []
    for sign, piece in _flat_signed_terms(rhs):
        inner = strip_parens(piece)
        if piece.kind == "paren" and is_bar(inner):
            key = tuple(parse_bar(inner))
            if key not in table:
                table[key] = sym(f"re_term_{len(table) + 1}__")
                pieces[table[key].value] = piece
            piece = table[key]
        signed.append((sign, piece))
    acc = signed[0][1] if signed[0][0] == "+" else binop("-", num(0), signed[0][1])  # '- x' keeps R's meaning
    for sign, piece in signed[1:]:
        acc = binop(sign, acc, piece)
    return acc


def update_formula(old: str | FormulaParts, new: str, require_random: bool = True) -> str:
    """R's ``update.formula(old, new)`` for lme4 formulas, as text: ``.`` is the old side; terms simplified.

    Random-effects terms behave as single terms (added with ``+``, removed with ``-``); the result
    lists the terms in R's order (by degree, then first appearance), then the offsets, then ``- 1``.
    :func:`update_formula_tree` gives the same formula as a tree (what ``lmer`` refits take).

    Parameters
    ----------
    old : str or FormulaParts
        The model's formula (text, or as :func:`mixedcompat.front.formula.parse_formula` returned it).
    new : str
        The update, such as ``". ~ . - x"``, ``"log(.) ~ . + (1 | h)"``.
    require_random : bool
        Refuse a result without random-effects terms (lmer's rule).

    Raises
    ------
    FormulaError
        ``new`` is not a formula, the result has no random-effects term, or a random-effects term
        would be crossed with another term.

    Examples
    --------
    >>> update_formula("y ~ x * f + (x | g)", "log(.) ~ . - x + (1 | h)")
    'log(y) ~ f + (x | g) + (1 | h) + x:f'
    """
    return _update(old, new, require_random)[0]


def update_formula_tree(old: str | FormulaParts, new: str | Node, require_random: bool = True) -> Node:
    """:func:`update_formula` as a formula tree, built from the term algebra without writing text:
    ``new`` may be a tree too (``. ~ . - x`` built by a caller), so nothing is re-parsed.

    Examples
    --------
    >>> from mixedcompat.front.rlang import deparse_one
    >>> deparse_one(update_formula_tree("y ~ x * f + (x | g)", "log(.) ~ . - x + (1 | h)"))
    'log(y) ~ f + (x | g) + (1 | h) + x:f'
    """
    return _update(old, new, require_random)[1]


def _update(old: str | FormulaParts, new: str | Node, require_random: bool) -> tuple[str, Node]:
    """:func:`update_formula`'s work: the updated formula as R's text and as a tree."""
    if isinstance(new, Node):
        new_text = deparse_one(new)
        if new.kind not in ("binop", "unop") or new.value != "~":
            raise FormulaError(f"update formula must be an R formula such as '. ~ . - x', not {new_text!r}")
        new_tree = new
    else:
        if not isinstance(new, str) or "~" not in new:
            raise FormulaError(f"update formula must be an R formula string such as '. ~ . - x', not {new!r}")
        new_text = new
    old_parts = old if isinstance(old, FormulaParts) else parse_formula(old)
    old = old_parts.text if isinstance(old, FormulaParts) else old
    old_lhs, old_rhs = old_parts.tree.args
    if is_bar(old_rhs):      # 'y ~ x | g': the bar is the whole right-hand side (R's precedence)
        old_rhs = paren(old_rhs)
    if not isinstance(new, Node):
        if new.rstrip().endswith("~"):
            raise FormulaError(f"update formula {new!r} has an empty right-hand side")
        new_tree = parse(" ".join(new.split()))
    new = new_text
    if new_tree.kind == "unop":
        new_lhs, new_rhs = None, new_tree.args[0]
    else:
        new_lhs, new_rhs = new_tree.args
    dot = sym(".")
    lhs = old_lhs if new_lhs is None else map_nodes(new_lhs, lambda n: old_lhs if n == dot else n)
    table: dict[tuple, Node] = {}
    pieces: dict[str, Node] = {}
    old_ph = _placeholders(old_rhs, table, pieces)
    new_ph = _placeholders(new_rhs, table, pieces)
    texts = {name: piece.deparse() for name, piece in pieces.items()}
    combined = map_nodes(new_ph, lambda n: paren(old_ph) if n == dot else n)
    try:
        struct = rhs_terms(combined)
    except FormulaError as exc:
        raise FormulaError(f"cannot update {old!r} with {new!r}: {exc}") from exc
    labels = []
    nodes: list[Node] = []
    for term, label in zip(struct.terms, struct.labels):
        names = [struct.names[i] for i in term]
        if any(name in texts for name in names):
            if len(names) > 1:
                raise FormulaError(f"cannot update {old!r} with {new!r}: a random-effects term would be "
                                   f"crossed with another term ({':'.join(texts.get(p, p) for p in names)})")
            labels.append(texts[label])
            nodes.append(pieces[label])
        else:
            labels.append(label)
            nodes.append(term_node(struct, term))
    labels += [struct.names[i] for i in struct.offsets]
    nodes += [struct.variables[i] for i in struct.offsets]
    if not labels:
        labels = ["1"]                  # R writes an empty model as 1 (and 1 - 1 without intercept)
        nodes = [num(1)]
    rhs_tree = nodes[0]
    for node in nodes[1:]:
        rhs_tree = binop("+", rhs_tree, node)
    if not struct.intercept:
        labels.append("- 1")
        rhs_tree = binop("-", rhs_tree, num(1))
    rhs = " + ".join(labels).replace("+ - 1", "- 1")
    lhs_text = lhs.deparse()
    if require_random and not any(texts.get(lab) for lab in struct.labels):
        raise FormulaError(f"updated formula '{lhs_text} ~ {rhs}' has no random-effects terms")
    return f"{lhs_text} ~ {rhs}", binop("~", lhs, rhs_tree)


def term_node(struct: TermStructure, term: tuple[int, ...]) -> Node:
    """One term of ``struct`` (a tuple of variable indices) as R writes it: its variables joined by ``:``.

    Examples
    --------
    >>> s = rhs_terms("x * f")
    >>> term_node(s, s.terms[2]).deparse()
    'x:f'
    """
    node = struct.variables[term[0]]
    for i in term[1:]:
        node = binop(":", node, struct.variables[i])
    return node
