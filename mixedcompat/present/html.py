"""HTML rendering of printed results for notebooks: the ``_repr_html_`` of fits, summaries and tables.

A result's HTML is its R text (``str(obj)``) laid out for a browser, never a second rendering of the
numbers: while the text is produced, :func:`note_layout` records every matrix and named vector that
:mod:`mixedcompat.present.rformat` lays out (``print_matrix``, ``print_named_vector``: the cells exactly
as R formats them, stars and ``"< 2e-16"`` included). :func:`html_of_text` then finds those lines in
the text and draws each as an HTML ``<table>``; the lines around them (titles, formula, ``Data:``,
``Number of obs:``, the significance legend, footnotes) stay as R prints them, escaped, in ``<pre>``
blocks. A result whose text has no recorded table renders as its escaped text in ``<pre>``.

Styles are inline (no ``<style>`` element, no class names to resolve), in ``currentColor`` so that
JupyterLab, VS Code and the documentation site render the same in light and dark themes.
"""
from __future__ import annotations

import contextvars
import html
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TableLayout", "note_layout", "note_frame_lines", "recorded_layouts", "html_of_text", "repr_html",
           "HtmlRepr"]


@dataclass(frozen=True)
class TableLayout:
    """One table as the text printer laid it out: its text lines and its cells.

    ``row_names`` all empty means the table has no row-name column (lme4's random-effects table,
    emmeans' tables); an empty column name is a column R prints without a heading (the
    significance stars, the correlation columns of ``VarCorr``).

    Examples
    --------
    >>> t = TableLayout(("   x", "a 1"), ("a",), ("x",), (("1",),), True)
    >>> t.col_names
    ('x',)
    """

    lines: tuple[str, ...]
    row_names: tuple[str, ...]
    col_names: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    right: bool


_RECORDER: contextvars.ContextVar[list[TableLayout] | None] = contextvars.ContextVar("mixedcompat_layouts",
                                                                                      default=None)


def note_layout(lines: Sequence[str], cells: Sequence[Sequence[str]], row_names: Sequence[str],
                col_names: Sequence[str], right: bool = True) -> None:
    """Record a table the text printer just laid out (nothing happens unless :func:`recorded_layouts` is active).

    Parameters
    ----------
    lines : sequence of str
        The text lines the printer returned for this table.
    cells : sequence of sequence of str
        The formatted cells, one sequence per row, as printed.
    row_names, col_names : sequence of str
        The row and column labels as printed.
    right : bool
        Whether the cells are right-justified (numbers) or left-justified (text).

    Returns
    -------
    None

    Examples
    --------
    >>> with recorded_layouts() as found:
    ...     note_layout(["   x", "a 1"], [["1"]], ["a"], ["x"])
    >>> len(found)
    1
    """
    found = _RECORDER.get()
    if found is not None:
        found.append(TableLayout(tuple(lines), tuple(str(r) for r in row_names), tuple(str(c) for c in col_names),
                                 tuple(tuple(str(c) for c in row) for row in cells), bool(right)))


def note_frame_lines(frame: "pd.DataFrame", lines: Sequence[str]) -> None:
    """Record a numeric DataFrame printed by pandas' ``to_string()`` (one header line, row labels, no wrapping).

    The cells are read back from ``lines`` (numbers hold no spaces), so the table shows what the text
    shows; a layout that does not split into the frame's shape is not recorded (it stays text).

    Parameters
    ----------
    frame : pandas.DataFrame
        The frame printed, numeric columns only.
    lines : sequence of str
        ``frame.to_string().split("\\n")``.

    Returns
    -------
    None

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"std. error": [1.5, 2.25]}, index=["a", "bb"])
    >>> with recorded_layouts() as found:
    ...     note_frame_lines(df, df.to_string().split("\\n"))
    >>> found[0].cells
    (('1.50',), ('2.25',))
    """
    if _RECORDER.get() is None:
        return
    names = [str(i) for i in frame.index]
    width = max((len(n) for n in names), default=0)
    rows = [line[width:].split() for line in lines[1:]]
    if (len(lines) != len(names) + 1 or any(len(r) != frame.shape[1] for r in rows)
            or any(not line.startswith(n) for line, n in zip(lines[1:], names))):
        return
    note_layout(lines, rows, names, [str(c) for c in frame.columns], right=True)


@contextmanager
def recorded_layouts() -> Iterator[list[TableLayout]]:
    """Collect, in order, the tables laid out while the block runs.

    Returns
    -------
    list of TableLayout
        Filled as the block runs (the context manager yields it).

    Examples
    --------
    >>> with recorded_layouts() as found:
    ...     pass
    >>> found
    []
    """
    found: list[TableLayout] = []
    token = _RECORDER.set(found)
    try:
        yield found
    finally:
        _RECORDER.reset(token)


# ------------------------------------------------------------------------------------------ layout
_BOX = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace;font-size:0.85em;"
_PRE = "margin:0.15em 0;padding:0;background:transparent;border:none;line-height:1.35;white-space:pre;"
_TABLE = "border-collapse:collapse;margin:0.3em 0 0.5em 0;border:none;font-family:inherit;font-size:inherit;"
_CELL = "padding:0.1em 0.6em;white-space:pre;"
_HEAD = _CELL + "border-bottom:1px solid currentColor;"
_TITLE = "font-weight:700;"
_NUMBER = re.compile(r"^(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?%?|NA|NaN|-?Inf|<\s?\S+)$")
_STARS = {"***", "**", "*", ".", ""}


def _locate(lines: list[str], table: TableLayout, start: int) -> int | None:
    """The index of the first line of ``table``'s lines in ``lines`` at or after ``start``."""
    want = [s.rstrip() for s in table.lines]
    if not want:
        return None
    n = len(want)
    for i in range(start, len(lines) - n + 1):
        if lines[i].rstrip() == want[0] and all(lines[i + k].rstrip() == want[k] for k in range(1, n)):
            return i
    return None


def _column_alignments(table: TableLayout) -> list[str]:
    """Per column, as the text shows it: cells the printer padded on the right (labels) left, padded on
    the left (numbers formatted to a common width) right; otherwise numbers and p-values such as
    ``"< 2e-16"`` right, significance stars left, other words as the table's justification."""
    out = []
    for j in range(len(table.col_names)):
        col = [row[j] for row in table.cells if j < len(row)]
        filled = [c for c in col if c.strip()]
        if filled and all(c.strip() in _STARS for c in col):
            out.append("left")
        elif any(c != c.rstrip() for c in filled) and not any(c != c.lstrip() for c in filled):
            out.append("left")
        elif any(c != c.lstrip() for c in filled) or (filled and all(_NUMBER.match(c.strip()) for c in filled)):
            out.append("right")
        else:
            out.append("right" if table.right else "left")
    return out


def _table_html(table: TableLayout) -> str:
    align = _column_alignments(table)
    with_rows = any(r.strip() for r in table.row_names)
    head = "".join(f'<th style="{_HEAD}text-align:{a}">{html.escape(c.strip())}</th>'
                   for c, a in zip(table.col_names, align))
    if with_rows:
        head = f'<th style="{_HEAD}"></th>' + head
    body = []
    for name, row in zip(table.row_names, table.cells):
        cells = "".join(f'<td style="{_CELL}text-align:{a}">{html.escape(c.strip())}</td>'
                        for c, a in zip(row, align))
        if with_rows:
            cells = f'<th style="{_CELL}text-align:left">{html.escape(name.strip())}</th>' + cells
        body.append(f"<tr>{cells}</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if any(c.strip() for c in table.col_names) else ""
    return f'<table style="{_TABLE}">{thead}<tbody>{"".join(body)}</tbody></table>'


def _text_html(lines: list[str], title: bool) -> str:
    if title and lines:
        first = f'<span style="{_TITLE}">{html.escape(lines[0])}</span>'
        rest = "".join("\n" + html.escape(s) for s in lines[1:])
        return f'<pre style="{_PRE}">{first}{rest}</pre>'
    return f'<pre style="{_PRE}">{html.escape(chr(10).join(lines))}</pre>'


def html_of_text(text: str, tables: Sequence[TableLayout] = ()) -> str:
    """HTML of a printed result: the recorded ``tables`` found in ``text`` as ``<table>``, the rest as ``<pre>``.

    R equivalent: none (R prints text; this lays R's text out for a notebook).

    Tables are searched in the order recorded; one not found verbatim (a printer that indents or
    re-wraps the lines it got) stays in the text. A table R wraps into several column blocks at 80
    characters becomes one ``<table>``. The first line of the text, when it is text, is the title.

    Parameters
    ----------
    text : str
        The result as R prints it.
    tables : sequence of TableLayout
        The tables laid out while ``text`` was produced (:func:`recorded_layouts`).

    Returns
    -------
    str
        An HTML fragment (one ``<div>``).

    Examples
    --------
    >>> html_of_text("Pr(>|t|) < 2e-16")
    '<div ...>...Pr(&gt;|t|) &lt; 2e-16</span></pre></div>'
    """
    lines = text.split("\n")
    parts: list[str] = []
    pos = 0

    def add_text(chunk: list[str]) -> None:
        while chunk and not chunk[-1].strip():      # a table's own margin stands for the blank lines above it
            chunk = chunk[:-1]
        if chunk:
            parts.append(_text_html(chunk, title=not parts))

    for table in tables:
        at = _locate(lines, table, pos)
        if at is None:
            continue
        add_text(lines[pos:at])
        parts.append(f'<div style="overflow-x:auto">{_table_html(table)}</div>')
        pos = at + len(table.lines)
    add_text(lines[pos:])
    return f'<div class="mixedcompat-output" style="{_BOX}">{"".join(parts)}</div>'


def repr_html(obj: object) -> str:
    """The HTML of ``obj``'s printed text (``str(obj)``), its tables as ``<table>``.

    R equivalent: none (R prints text; ``print(obj)`` is what this lays out).

    Parameters
    ----------
    obj : object
        A result whose ``str()`` is R's text.

    Returns
    -------
    str
        An HTML fragment showing the same lines and numbers as ``str(obj)``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> "<table" in repr_html(mc.summary(m))
    True
    """
    with recorded_layouts() as found:
        text = str(obj)
    return html_of_text(text, found)


class HtmlRepr:
    """Mixin giving a result class ``_repr_html_``: its R text laid out as HTML (:func:`repr_html`).

    Notebooks (Jupyter, VS Code, the documentation's executed pages) show this instead of the text;
    ``str()`` and ``repr()`` stay R's text. Put it first among the bases of a ``pandas.DataFrame``
    subclass, so that it replaces pandas' own table.

    Examples
    --------
    >>> class Note(HtmlRepr):
    ...     def __str__(self):
    ...         return "a < b"
    >>> Note()._repr_html_().count("&lt;")
    1
    """

    def _repr_html_(self) -> str:
        return repr_html(self)
