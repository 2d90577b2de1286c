"""R's number and table formatting, as used by lme4's print methods.

Implements (from R's documented behaviour and experiments with R 4.2) the pieces that decide
every printed digit: ``format()`` of a numeric vector (common significant digits, fixed vs
scientific choice with ``scipen = 0``), ``formatC``, ``signif``, ``round``, ``zapsmall``,
``cat`` of a number, ``abbreviate``, quantile type 7, and ``print.default`` of named vectors and
matrices (column justification and wrapping at ``width = 80``), plus ``printCoefmat``.
All functions return strings or lists of strings; nothing is printed.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mixedcompat.present.html import note_layout

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "format_real", "format_number", "formatC", "signif", "r_round", "zapsmall", "cat_number",
    "abbreviate", "quantile7", "quantile7_ranks", "quantile7_interpolate",
    "print_named_vector", "print_matrix", "print_numeric_matrix",
    "format_coefmat", "print_coefmat", "print_anova", "format_pval", "format_pval_nlme", "signif_stars", "signif_legend_lines",
    "SIGNIF_LEGEND", "EPS", "strwrap",
]

PRINT_WIDTH = 80



def _sci(x: float, digits: int) -> tuple[int, int]:
    """Decimal exponent and significant digits needed (<= digits) of x rounded to digits."""
    if x == 0.0:
        return 0, 1
    mant, exp = f"{abs(x):.{digits - 1}e}".split("e")
    return int(exp), len(mant.replace(".", "").rstrip("0")) or 1


def _format_spec(xs: Sequence[float | None], digits: int, nsmall: int) -> tuple[int, int, int]:
    """R's formatReal: common (width, decimals, exponent digits) for a numeric vector."""
    neg = False
    mxsl = mxl = rgt = mxns = -10**9
    mxe, mne = -10**9, 10**9
    nfinite = 0
    width_special = 0
    for x in xs:
        if x is None:
            width_special = max(width_special, 2)
            continue
        if math.isnan(x):
            width_special = max(width_special, 3)
            continue
        if math.isinf(x):
            width_special = max(width_special, 3 if x > 0 else 4)
            continue
        nfinite += 1
        kpower, nsig = _sci(x, digits)
        neg_i = x < 0
        left = kpower + 1
        # R's "roundingwidens": 995 at 2 digits is 1e+03 in scientific notation but 995 in fixed
        rgt_i = min(max(digits - kpower, 0), 22)
        if 0 < kpower <= 22 and abs(x) < 10.0 ** kpower - 0.5 / 10.0 ** rgt_i:
            left -= 1
        sleft = int(neg_i) + (1 if left <= 0 else left)
        right = nsig - left
        neg = neg or neg_i
        rgt, mxl, mxsl = max(rgt, right), max(mxl, left), max(mxsl, sleft)
        mxns = max(mxns, nsig)
        mxe, mne = max(mxe, kpower), min(mne, kpower)
    if nfinite == 0:
        return width_special, 0, 0
    if mxl < 0:
        mxsl = 1 + int(neg)
    rgt = max(rgt, 0)
    w_fixed = mxsl + rgt + (rgt != 0)
    e = 2 if (mxe >= 100 or mne <= -99) else 1
    d = mxns - 1
    w_sci = int(neg) + (d > 0) + d + 4 + e
    if w_fixed <= w_sci:
        if nsmall > rgt:
            rgt = nsmall
            w_fixed = mxsl + rgt + 1
        return max(w_fixed, width_special), rgt, 0
    return max(w_sci, width_special), d, e


def _encode(x: float | None, w: int, d: int, e: int) -> str:
    if x is None:
        s = "NA"
    elif math.isnan(x):
        s = "NaN"
    elif math.isinf(x):
        s = "Inf" if x > 0 else "-Inf"
    elif e:
        x = 0.0 if x == 0 else x
        s = f"{x:.{d}e}"
    else:
        x = 0.0 if x == 0 else x
        s = f"{x:.{d}f}"
    return s.rjust(w)


def _as_floats(x: object) -> list[float | None]:
    arr = x if isinstance(x, (list, tuple)) else np.atleast_1d(np.asarray(x, dtype=float)).ravel().tolist()
    return [None if v is None else float(v) for v in arr]


def format_real(x: Sequence[float] | np.ndarray, digits: int = 7, nsmall: int = 0) -> list[str]:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` of a numeric vector.

    Every element shows at least ``digits`` significant digits with a common number of
    decimals; fixed notation unless scientific is narrower; all strings have equal width.
    ``None`` is R's ``NA``.

    Examples
    --------
    >>> format_real([612.1002, 35.0717, 654.94], digits=4)
    ['612.10', ' 35.07', '654.94']
    >>> format_real([3.949, 9.424e-4, 20.67], digits=4)
    ['3.949e+00', '9.424e-04', '2.067e+01']
    """
    xs = _as_floats(x)
    w, d, e = _format_spec(xs, digits, nsmall)
    return [_encode(v, w, d, e) for v in xs]


def format_number(x: float, digits: int = 7, nsmall: int = 0) -> str:
    """R's ``format()`` of one number.

    Examples
    --------
    >>> format_number(1743.62821, digits=7)
    '1743.628'
    """
    return format_real([x], digits, nsmall)[0]


def cat_number(x: float) -> str:
    """How ``cat(x)`` prints a number (7 significant digits, no padding).

    Examples
    --------
    >>> cat_number(247.0)
    '247'
    """
    return format_number(x, 7)


def formatC(x: float | Sequence[float], width: int = 0, digits: int | None = None,
            format: str = "g", flag: str = "") -> str | list[str]:  # noqa: A002 (R's name)
    """R's ``formatC``: C ``sprintf`` of each element with ``%<flag><width>.<digits><format>``.

    Examples
    --------
    >>> formatC(3.14159, digits=3, format="f")
    '3.142'
    >>> formatC([1, 10], width=4, format="d", flag="0")
    ['0001', '0010']
    """
    scalar = np.ndim(x) == 0
    vals = [x] if scalar else list(x)
    if format == "d":
        spec = f"%{flag}{width or ''}d"
        out = [spec % int(round(float(v))) for v in vals]
    else:
        prec = "" if digits is None else f".{digits}"
        spec = f"%{flag}{width or ''}{prec}{format}"
        out = [spec % float(v) for v in vals]
    return out[0] if scalar else out


def signif(x: float, digits: int = 6) -> float:
    """R's ``signif``: round to ``digits`` significant digits.

    Examples
    --------
    >>> signif(123456, 2)
    120000.0
    """
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.{max(1, digits) - 1}e}")


def _pow_di(x: float, n: int) -> float:
    """R's ``R_pow_di``: ``x^n`` by repeated squaring (not correctly rounded for large ``n``)."""
    xn, neg, n = 1.0, n < 0, abs(n)
    while n:
        if n & 1:
            xn *= x
        n >>= 1
        if n:
            x *= x
    return 1.0 / xn if neg else xn


def _fround(x: float, digits: float) -> float:
    """R 4.x's ``round(x, digits)`` of one double."""
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if not math.isfinite(x) or digits > 323 or x == 0.0:
        return x
    if digits < -308:
        return 0.0
    if digits == 0:
        return float(round(x))                      # nearest integer, ties to even
    dig = int(math.floor(digits + 0.5))
    sgn = -1.0 if x < 0 else 1.0
    x = abs(x)
    # R's cheap log10(x): log10(2) * (0.5 + the binary exponent)
    if math.log10(2.0) * (0.5 + (math.frexp(x)[1] - 1)) + dig > 15:
        return sgn * x                              # more digits than a double holds: unchanged
    if dig <= 308:
        p10 = _pow_di(10.0, dig)
        x10 = p10 * x
        i10 = math.floor(x10)
        down, up = i10 / p10, math.ceil(x10) / p10
    else:                                           # 10^dig overflows: two factors, in long double
        e10, big = np.longdouble(_pow_di(10.0, dig - 308)), np.longdouble(_pow_di(10.0, 308))
        x10 = float((np.longdouble(x) * big) * e10)
        i10 = math.floor(x10)
        down = float(np.longdouble(i10) / big / e10)
        up = float(np.longdouble(math.ceil(x10)) / big / e10)
    du, dd = up - x, x - down
    return sgn * (up if (du < dd or (du == dd and math.fmod(i10, 2.0) == 1)) else down)


def r_round(x: float | np.ndarray, digits: float = 0) -> float | np.ndarray:
    """R (>= 4.0) ``round``: of the two neighbours ``floor`` and ``ceiling`` of ``x`` at ``digits``
    decimals (computed in doubles), the closer to ``x``, the even one on a tie; ``digits`` rounded half
    up.  This is not Python's ``round`` (the correctly rounded decimal of the binary value): R's
    ``round(251.405, 2)`` is 251.4 and ``round(6.825, 2)`` is 6.82 (the two candidates are equally
    far from ``x`` in double arithmetic), Python's 251.41 and 6.83.  Checked against R on random and
    tie-heavy inputs (tests/test_rformat.py::test_r_round_is_r); only ``digits > 308`` (numbers below
    1e-290), where R works in long double, can differ from R, by an ulp.

    Examples
    --------
    >>> r_round(2.675, 2), r_round(0.5), r_round(1.234567, 2.5), r_round(6.825, 2)
    (2.67, 0.0, 1.235, 6.82)
    """
    if np.ndim(x) == 0:
        return _fround(float(x), float(digits))
    return np.array([_fround(float(v), float(digits)) for v in np.asarray(x, dtype=float).ravel()]).reshape(np.shape(x))


def zapsmall(x: Sequence[float] | np.ndarray, digits: int = 7) -> np.ndarray:
    """R 4.2's ``zapsmall``: ``round(x, max(0, digits - log10(max|x|)))``.

    Examples
    --------
    >>> zapsmall([1.0, 1e-20], 7).tolist()
    [1.0, 0.0]
    """
    arr = np.asarray(x, dtype=float)
    finite = arr[~np.isnan(arr)]
    if finite.size == 0:
        return arr
    mx = float(np.max(np.abs(finite)))
    d = max(0.0, digits - math.log10(mx)) if mx > 0 else digits
    return np.asarray(r_round(arr, d), dtype=float)


def quantile7_ranks(n: int, probs: Sequence[float] = (0, .25, .5, .75, 1)) -> list[tuple[int, int, float]]:
    """The order statistics R's ``quantile`` type 7 reads from ``n`` sorted values: per prob
    ``(lo, hi, frac)`` (0-based ranks and the weight of ``hi``), as R 4.2's ``quantile.default``
    computes them: ``index = 1 + (n - 1) p``, ``lo = floor(index)``, ``hi = ceiling(index)`` (1-based),
    ``frac = index - lo``.  The one home of this arithmetic, shared by :func:`quantile7` and the
    partitioned (Dask) quantiles.

    Parameters
    ----------
    n : int
        Number of (non-NA) values, at least 1.
    probs : sequence of float
        Probabilities in [0, 1].

    Returns
    -------
    list of (int, int, float)
        ``quantile7_interpolate(x[lo], x[hi], frac)`` of the sorted values ``x`` is the quantile.

    Examples
    --------
    >>> quantile7_ranks(4, (0, .25, 1))
    [(0, 0, 0.0), (0, 1, 0.75), (3, 3, 0.0)]
    """
    if n < 1:
        raise ValueError(f"quantile7_ranks needs at least one value, not n = {n}")
    out = []
    for p in probs:
        index = 1.0 + (n - 1) * float(p)
        lo = int(math.floor(index))
        out.append((lo - 1, int(math.ceil(index)) - 1, float(index - lo)))
    return out


def quantile7_interpolate(x_lo: float, x_hi: float, frac: float) -> float:
    """Type-7 interpolation between the order statistics ``x_lo`` and ``x_hi`` at weight ``frac``
    (from :func:`quantile7_ranks`), R's form bit for bit: ``x_lo`` where ``frac`` is 0 or the two
    are equal (R's ``x[hi] != qs`` test: equal infinities give that infinity, not NaN), else
    ``(1 - frac) x_lo + frac x_hi`` (so ``-Inf`` and 1 give ``-Inf``).

    Examples
    --------
    >>> quantile7_interpolate(1.0, 2.0, 0.75), quantile7_interpolate(-math.inf, 1.0, 0.25)
    (1.75, -inf)
    """
    if frac <= 0 or x_hi == x_lo:
        return x_lo
    return (1 - frac) * x_lo + frac * x_hi


def quantile7(x: Sequence[float] | np.ndarray, probs: Sequence[float] = (0, .25, .5, .75, 1)) -> np.ndarray:
    """R's default ``quantile`` (type 7), NA removed; NA (NaN) for each prob when no value is left.

    Examples
    --------
    >>> quantile7([1, 2, 3, 4]).tolist()
    [1.0, 1.75, 2.5, 3.25, 4.0]
    >>> quantile7([np.nan]).tolist()
    [nan, nan, nan, nan, nan]
    """
    arr = np.asarray(x, dtype=float)
    arr = np.sort(arr[~np.isnan(arr)])
    if arr.size == 0:
        return np.full(len(probs), np.nan)
    return np.asarray([quantile7_interpolate(float(arr[lo]), float(arr[hi]), frac)
                       for lo, hi, frac in quantile7_ranks(arr.size, probs)], dtype=float)


# ---------------------------------------------------------------- abbreviate

def _strip_chars(s: str, minlength: int) -> str:
    """R's C-level abbreviation of one string (use.classes = TRUE)."""
    buf = list(s.strip())

    def length() -> int:
        return len(buf) - sum(1 for c in buf if c == " ")

    def first_of_word(i: int) -> bool:
        return buf[i - 1].isspace()

    def last_of_word(i: int) -> bool:
        return not buf[i - 1].isspace() and (i + 1 >= len(buf) or buf[i + 1].isspace())

    if len(buf) >= minlength and length() > minlength:
        passes = (
            lambda i: buf[i] in "aeiou" and not first_of_word(i),
            lambda i: buf[i].islower() and last_of_word(i),
            lambda i: buf[i].islower() and not first_of_word(i),
            lambda i: not first_of_word(i) and not buf[i].isspace(),
        )
        done = False
        for drop in passes:
            for i in range(len(buf) - 1, 0, -1):
                if i < len(buf) and drop(i):
                    del buf[i]
                if length() <= minlength:
                    done = True
                    break
            if done:
                break
    if len(buf) > minlength:
        buf = [buf[0]] + [c for c in buf[1:] if not c.isspace()]
    return "".join(buf)


def abbreviate(names: Sequence[str], minlength: int = 4) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (method "left.kept", strict = FALSE).

    Lower-case vowels are dropped from the right (never a word's first letter), then
    lower-case letters, then anything; ``minlength`` grows for abbreviations that clash.

    Examples
    --------
    >>> abbreviate(["(Intercept)", "Days", "recipeB:temp"], 6)
    ['(Intr)', 'Days', 'rcpB:t']
    """
    full = [n.strip() for n in names]
    uniq = list(dict.fromkeys(full))
    out = list(uniq)
    todo = [True] * len(uniq)
    m = minlength
    while True:
        for i, name in enumerate(uniq):
            if todo[i]:
                out[i] = _strip_chars(name, m)
        seen: dict[str, int] = {}
        dup = [False] * len(out)
        for i, a in enumerate(out):
            if a in seen:
                dup[i] = True
            else:
                seen[a] = i
        if not any(dup):
            break
        m += 1
        clash = {out[i] for i in range(len(out)) if dup[i]}
        todo = [dup[i] or out[i] in clash for i in range(len(out))]
    lookup = dict(zip(uniq, out))
    return [lookup[n] for n in full]


# ---------------------------------------------------------------- strwrap

def strwrap(text: str, width: int, indent: int = 0, exdent: int = 0) -> list[str]:
    """R's ``strwrap(text, width, indent, exdent)`` of one paragraph (no blank-line breaks inside).

    As R: words are split at each blank, empty words are dropped except after a word ending a
    sentence (``.``, ``?``, ``!``, so a double space there survives), and a line takes as many words
    as keep it shorter than ``width`` (at least one).

    Examples
    --------
    >>> strwrap("Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)", 78, exdent=2)
    ['Generalized linear mixed model fit by maximum likelihood (Laplace', '  Approximation)']
    """
    raw = re.split(r"[ \t\n]", text)
    words = [w for i, w in enumerate(raw)
             if w or (i > 0 and re.search(r"[.?!][)\"']?$", raw[i - 1]) is not None)]
    if not words:
        return [""]
    lines: list[str] = []
    start, max_len, prefix = 0, width - indent, " " * indent
    while start < len(words):
        used, k = 0, 0
        for w in words[start:]:
            if used + len(w) + 1 > max_len:
                break
            used += len(w) + 1
            k += 1
        k = max(k, 1)
        end = start + k
        chunk = words[start:end]
        if end < len(words) and words[end] == "":    # R: an empty word after the break is skipped
            end += 1
        if chunk and chunk[-1] == "":
            chunk = chunk[:-1]
        lines.append(prefix + " ".join(chunk))
        start, max_len, prefix = end, width - exdent, " " * exdent
    return lines


# ---------------------------------------------------------------- print.default layouts

def print_vector(values: Sequence[str], width: int = PRINT_WIDTH) -> list[str]:
    """Lines of ``print.default`` of an unnamed vector whose elements are already formatted.

    Each line starts with the index of its first element (``[1]``, right-justified to the widest
    label), then as many right-justified elements, each after one space, as fit in ``width``.

    Examples
    --------
    >>> print_vector(["0.5", "12.0"])
    ['[1]  0.5 12.0']
    """
    n = len(values)
    if n == 0:
        return []
    w = max(len(s) for s in values)
    lab = len(f"[{n}]")
    per_line = max(1, (width - lab) // (w + 1))
    return [f"[{start + 1}]".rjust(lab) + "".join(" " + values[i].rjust(w)
                                               for i in range(start, min(start + per_line, n)))
            for start in range(0, n, per_line)]


def print_named_vector(values: Sequence[str], names: Sequence[str], gap: int = 1,
                       width: int = PRINT_WIDTH) -> list[str]:
    """Lines of ``print.default`` of a named vector whose elements are already formatted.

    Names and values are right-justified to a common width, each followed by ``gap`` spaces,
    ``floor(width / (w + gap))`` per line.

    Examples
    --------
    >>> print_named_vector(["251.41", "10.47"], ["(Intercept)", "Days"], gap=2)
    ['(Intercept)         Days  ', '     251.41        10.47  ']
    """
    w = max([len(s) for s in values] + [len(s) for s in names] + [0])
    per_line = max(1, width // (w + gap))
    lines = []
    for start in range(0, len(values), per_line):
        chunk = range(start, min(start + per_line, len(values)))
        lines.append("".join(names[i].rjust(w) + " " * gap for i in chunk))
        lines.append("".join(values[i].rjust(w) + " " * gap for i in chunk))
    note_layout(lines, [values], [""], names, right=True)
    return lines


def print_matrix(cells: Sequence[Sequence[str]], row_names: Sequence[str], col_names: Sequence[str],
                 right: bool = True, gap: int = 1, width: int = PRINT_WIDTH) -> list[str]:
    """Lines of ``print.default`` of a character matrix (``quote = FALSE``).

    Row names are left-justified; cells and column names are right-justified when ``right``
    (numbers, ``printCoefmat``) and left-justified otherwise (character matrices). Columns
    that do not fit in ``width`` continue in a further block below.

    Examples
    --------
    >>> print_matrix([["-0.138"]], ["Days"], ["(Intr)"], right=False)
    ['     (Intr)', 'Days -0.138']
    """
    nrow, ncol = len(row_names), len(col_names)
    rw = max([len(r) for r in row_names] + [0]) if nrow else len("[0,]")   # R: a 0-row matrix as "[0,]"
    widths = [max([len(col_names[j])] + [len(cells[i][j]) for i in range(nrow)]) for j in range(ncol)]
    just = (lambda s, n: s.rjust(n)) if right else (lambda s, n: s.ljust(n))
    lines: list[str] = []
    j0 = 0
    while j0 < ncol or (ncol == 0 and not lines):
        total, j1 = rw, j0
        while j1 < ncol:
            total += widths[j1] + gap
            j1 += 1
            if j1 < ncol and total + widths[j1] + gap >= width:
                break
        cols = range(j0, j1)
        lines.append(" " * rw + "".join(" " * gap + just(col_names[j], widths[j]) for j in cols))
        for i in range(nrow):
            lines.append(row_names[i].ljust(rw) + "".join(" " * gap + just(cells[i][j], widths[j]) for j in cols))
        if ncol == 0:
            break
        j0 = j1
    note_layout(lines, cells, row_names, col_names, right)
    return lines


def print_numeric_matrix(x: np.ndarray, row_names: Sequence[str], col_names: Sequence[str],
                         digits: int = 7) -> list[str]:
    """Lines of ``print.default`` of a numeric matrix: each column formatted on its own.

    Examples
    --------
    >>> print_numeric_matrix(np.array([[1.5, 10.0], [2.25, 3.0]]), ["a", "b"], ["x", "y"])
    ['     x  y', 'a 1.50 10', 'b 2.25  3']
    """
    arr = np.asarray(x, dtype=float)
    cols = [format_real(arr[:, j], digits) for j in range(arr.shape[1])]
    cells = [[cols[j][i] for j in range(arr.shape[1])] for i in range(arr.shape[0])]
    return print_matrix(cells, row_names, col_names, right=True)


# ---------------------------------------------------------------- p-values and significance stars

EPS = float(np.finfo(float).eps)  # .Machine$double.eps, printCoefmat's eps.Pvalue
SIGNIF_CUTPOINTS = (0.0, 0.001, 0.01, 0.05, 0.1, 1.0)
SIGNIF_SYMBOLS = ("***", "**", "*", ".", " ")
SIGNIF_LEGEND = "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"


def format_pval(pv: float | Sequence[float] | np.ndarray, digits: int = 5, eps: float = EPS,
                na_form: str = "NA") -> list[str]:
    """R 4.2's ``format.pval(pv, digits, eps, na.form)``.

    The p-values at or above ``eps`` fall in two groups, ``floor(log10(p)) >= -3`` (or ``== -4``
    when ``digits > 1``) and the rest; each group is one ``format(group, digits = digits)``, i.e.
    common significant digits and R's own fixed-versus-scientific choice (``scipen = 0``: fixed
    unless scientific is narrower) for the group as a whole.  So neither "fixed down to 1e-3" nor
    "down to 1e-4" is the rule: with 3 digits, ``c(0.5, 0.0005)`` prints ``"5e-01" "5e-04"`` and
    ``c(0.5123, 0.0005)`` prints ``"0.5123" "0.0005"``; with 1 digit, ``c(0.5, 0.0005)`` is two
    groups, ``"0.5" "5e-04"``.  Values below ``eps`` print as ``"<" eps``
    with ``max(1, digits - 2)`` digits (fewer when the other strings are narrow) and a space unless
    everything is one digit wide; NaN (R's NA) prints as ``na_form``.  ``digits`` defaults to R's
    ``max(1, getOption("digits") - 2)``; ``printCoefmat`` passes ``dig.tst`` and
    ``.Machine$double.eps``.

    Examples
    --------
    >>> format_pval([1e-20, 3.26382e-06], digits=3)
    ['< 2e-16', '3.26e-06']
    >>> format_pval([0.5, 0.0005], digits=1), format_pval([0.5123, 0.0005, float("nan")], digits=3)
    (['0.5', '5e-04'], ['0.5123', '0.0005', 'NA'])
    """
    arr = np.atleast_1d(np.asarray(pv, dtype=float)).ravel()
    out = [na_form] * arr.size
    ok = np.flatnonzero(~np.isnan(arr))
    vals = arr[ok]
    is0 = vals < eps
    rr: list[str] = []
    if np.any(~is0):
        p = vals[~is0]
        with np.errstate(divide="ignore"):
            expo = np.floor(np.log10(np.where(p > 0, p, 1e-50)))
        fixp = (expo >= -3) | ((expo == -4) & (digits > 1))
        rr = [""] * p.size
        for group in (fixp, ~fixp):
            idx = np.flatnonzero(group)
            for i, s in zip(idx, format_real(p[idx].tolist(), digits) if idx.size else []):
                rr[i] = s
        for i, s in zip(ok[~is0], rr):
            out[i] = s
    if np.any(is0):
        d = max(1, int(digits) - 2)
        if np.any(~is0):
            nc = max(len(s) for s in rr)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if (d == 1 and nc <= 6) else " "
        else:
            sep = "" if d == 1 else " "
        text = "<" + sep + format_real([eps], d)[0]
        for i in ok[is0]:
            out[i] = text
    return out


def signif_stars(pv: float | Sequence[float] | np.ndarray) -> list[str]:
    """R's significance symbols: ``symnum(pv, corr = FALSE, na = FALSE, cutpoints = c(0, 0.001,
    0.01, 0.05, 0.1, 1), symbols = c("***", "**", "*", ".", " "))``; NaN (NA) gives ``""``.

    Intervals are closed on the right (``0.001`` is ``"***"``, ``0.1`` is ``"."``).  As R, a
    value more than 1e-5 outside [0, 1] is an error.

    Examples
    --------
    >>> signif_stars([0.001, 0.0011, 0.05, 0.5, float("nan")])
    ['***', '**', '*', ' ', '']
    """
    arr = np.atleast_1d(np.asarray(pv, dtype=float)).ravel()
    finite = arr[~np.isnan(arr)]
    if np.any(finite < -1e-5) or np.any(finite > 1 + 1e-5):
        raise ValueError("'x' must be between 0 and 1")
    out = []
    for p in arr:
        if np.isnan(p):
            out.append("")
            continue
        out.append(next((sym for cut, sym in zip(SIGNIF_CUTPOINTS[1:], SIGNIF_SYMBOLS) if p <= cut),
                        SIGNIF_SYMBOLS[-1]))
    return out


_symnum_stars = signif_stars   # printCoefmat's argument of the same name shadows it there


def signif_legend_lines() -> list[str]:
    """The lines ``printCoefmat`` prints under a table with significance stars (``width = 80``).

    Examples
    --------
    >>> signif_legend_lines()[0]
    '---'
    """
    return ["---", SIGNIF_LEGEND]


def format_pval_nlme(p: Sequence[float] | np.ndarray, less_than: bool = True, na_form: str = "") -> list[str]:
    """nlme's p-value column: ``format(round(p, 4))``.

    With ``less_than`` (``print.anova.lme``) the non-NA values are formatted together, a value
    that rounds to 0 prints ``"<.0001"`` and NA prints ``na_form``; without it
    (``print.summary.lme``'s tTable) NA is R's ``"NA"`` inside the one ``format``.  The cut is
    the rounding, not 1e-4: nlme prints a p-value of 7e-5 as ``1e-04`` (or ``0.0001``).

    Examples
    --------
    >>> format_pval_nlme([3e-5, 7e-5, float("nan")]), format_pval_nlme([0.5, 3e-5], less_than=False)
    (['<.0001', '1e-04', ''], ['0.5', '0.0'])
    """
    arr = np.atleast_1d(np.asarray(p, dtype=float)).ravel()
    rounded = [None if math.isnan(v) else float(r_round(float(v), 4)) for v in arr]
    if not less_than:
        return format_real(rounded)
    ok = [i for i, v in enumerate(rounded) if v is not None]
    out = [na_form] * arr.size
    for i, s in zip(ok, format_real([rounded[i] for i in ok]) if ok else []):
        out[i] = "<.0001" if rounded[i] == 0 else s
    return out


# ---------------------------------------------------------------- printCoefmat

def _has_pvalue(col_names: Sequence[str]) -> bool:
    return len(col_names) >= 4 and str(col_names[-1])[:3] in ("Pr(", "p-v")


def _fmt_block(values: np.ndarray, digits: int) -> list[str]:
    return format_real([None if np.isnan(v) else float(v) for v in values], digits)


def format_coefmat(x: np.ndarray, digits: int, cs_ind: Sequence[int] | None = (0, 1),
                   tst_ind: Sequence[int] = (2,), zap_ind: Sequence[int] = (), has_pvalue: bool = False,
                   signif_stars: bool = True, dig_tst: int | None = None, eps_pvalue: float = EPS,
                   na_print: str = "NA") -> tuple[list[list[str]], bool]:
    """Cells of R's ``printCoefmat`` before ``print.default``, and whether stars were added.

    As R: columns ``zap_ind`` are ``zapsmall``-ed; estimates and standard errors (``cs_ind``) share
    one ``format`` after rounding to ``max(1, digits - digmin)`` decimals; test statistics
    (``tst_ind``) are rounded to ``dig.tst = max(1, min(5, digits - 1))`` decimals and formatted
    together; NaN is R's NA (R's separate "NaN" cells do not arise); other columns each on their own; a non-zero number shown as zero is reformatted with
    ``digits - 1``; NA cells get ``na_print``; the last column (``has_pvalue``) is
    :func:`format_pval` with ``dig.tst`` and ``eps_pvalue``, and the stars column is appended when
    ``signif_stars`` and a p-value is below 0.1.

    Examples
    --------
    >>> format_coefmat(np.array([[251.405, 6.825, 36.838], [10.467, 1.546, 6.771]]), 4)[0]
    [['251.405', '  6.825', '36.838'], [' 10.467', '  1.546', ' 6.771']]
    """
    xm = np.array(x, dtype=float, copy=True)
    nr, nc = xm.shape
    cells = [["" for _ in range(nc)] for _ in range(nr)]
    ina = np.isnan(xm)
    ok = ~ina
    dig_tst = max(1, min(5, digits - 1)) if dig_tst is None else dig_tst
    cs = list(cs_ind) if cs_ind is not None else []
    ts = list(tst_ind)
    for j in zap_ind:
        xm[:, j] = zapsmall(xm[:, j], digits)
    if cs:
        block = xm[:, cs]
        acs = np.abs(block)
        finite = np.isfinite(acs)
        if np.any(finite):
            nz = acs[finite & (acs != 0)]
            digmin = 1 + (np.floor(np.log10([nz.min(), nz.max()])) if nz.size else np.array([0.0]))
            dec = max(1.0, float(np.max(digits - digmin)))
            flat = _fmt_block(np.asarray(r_round(block, dec)).T.ravel(), digits)  # R: column-major
            for k, j in enumerate(cs):
                for i in range(nr):
                    cells[i][j] = flat[k * nr + i]
    if ts:
        flat = _fmt_block(np.asarray(r_round(xm[:, ts], dig_tst)).T.ravel(), digits)
        for k, j in enumerate(ts):
            for i in range(nr):
                cells[i][j] = flat[k * nr + i]
    last = nc - 1 if has_pvalue else nc
    for j in range(last):
        if j not in cs and j not in ts:
            col = _fmt_block(xm[:, j], digits)
            for i in range(nr):
                cells[i][j] = col[i]
    check = [(i, j) for j in range(last) if j not in ts for i in range(nr) if ok[i, j]]

    def shown_zero(s: str) -> bool | None:
        try:
            return float(s) == 0
        except ValueError:
            return None

    redo = [(i, j) for i, j in check
            if shown_zero(cells[i][j]) is not None and (xm[i, j] == 0) != shown_zero(cells[i][j])]
    if redo:
        for (i, j), s in zip(redo, format_real([float(xm[i, j]) for i, j in redo], max(1, digits - 1))):
            cells[i][j] = s
    for i, j in zip(*np.nonzero(ina)):
        cells[i][j] = na_print
    stars = False
    if has_pvalue:
        pv = xm[:, nc - 1]
        okp = np.flatnonzero(ok[:, nc - 1])
        if okp.size:
            for i, s in zip(okp, format_pval(pv[okp], dig_tst, eps_pvalue)):
                cells[i][nc - 1] = s
            stars = bool(signif_stars and np.any(pv[okp] < 0.1))
            if stars:
                sym = _symnum_stars(pv)
                w = max(len(s) for s in sym)
                for i in range(nr):
                    cells[i].append(sym[i].ljust(w))
    return cells, stars


def print_coefmat(x: np.ndarray, row_names: Sequence[str], col_names: Sequence[str], digits: int = 4,
                  *, cs_ind: Sequence[int] | None = None, tst_ind: Sequence[int] | None = None,
                  zap_ind: Sequence[int] = (), has_pvalue: bool | None = None, signif_stars: bool = True,
                  signif_legend: bool | None = None, dig_tst: int | None = None, eps_pvalue: float = EPS,
                  na_print: str = "NA") -> list[str]:
    """Lines of R's ``printCoefmat(x, digits, ...)`` (``right = TRUE``, ``width = 80``).

    Defaults as R: ``has_pvalue`` when there are at least 4 columns and the last name starts with
    ``"Pr("`` or ``"p-v"``; ``tst_ind`` the column before the p-values (or the last);
    ``cs_ind`` the columns before it.  With p-values below 0.1 the stars column and (when
    ``signif_legend``, default ``signif_stars``) the legend follow.

    Examples
    --------
    >>> print_coefmat(np.array([[1527.5, 19.38, 78.8]]), ["(Intercept)"],
    ...               ["Estimate", "Std. Error", "t value"])[1]
    '(Intercept)  1527.50      19.38    78.8'
    >>> print_coefmat(np.array([[251.405, 6.825, 17.0, 36.838, 1e-17]]), ["(Intercept)"],
    ...               ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])[1]
    '(Intercept)  251.405      6.825  17.000   36.84   <2e-16 ***'
    """
    xm = np.asarray(x, dtype=float)
    nc = xm.shape[1]
    has_p = _has_pvalue(col_names) if has_pvalue is None else has_pvalue
    if tst_ind is None:
        k = nc - int(has_p) - 1
        tst_ind = (k,) if k >= 0 else ()
    else:
        k = nc - int(has_p) - len(tst_ind)
    if cs_ind is None:
        cs_ind = tuple(range(max(k, 0)))
    cells, stars = format_coefmat(xm, digits, cs_ind, tst_ind, zap_ind, has_p, signif_stars, dig_tst,
                                  eps_pvalue, na_print)
    names = list(col_names) + ([""] if stars else [])
    lines = print_matrix(cells, list(row_names), names, right=True)
    if stars and (signif_stars if signif_legend is None else signif_legend):
        lines += signif_legend_lines()
    return lines


def print_anova(table: "pd.DataFrame", heading: Sequence[str] = (), digits: int = 5,
                signif_stars: bool = True) -> list[str]:
    """Lines of R's ``print.anova``: the heading, then ``printCoefmat`` with ``cs.ind = NULL``,
    the test statistics (columns ``"F"``, ``"Cp"``, ``"Chisq"`` or ``"<x> value"``) as ``tst.ind``,
    every other column but ``*Df`` and the p-values zapped, NA cells blank.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"npar": [4.0, 6.0], "Chisq": [np.nan, 42.1]}, index=["m0", "m1"])
    >>> print_anova(t)
    ['   npar Chisq', 'm0    4      ', 'm1    6  42.1']
    """
    cols = [str(c) for c in table.columns]
    nc = len(cols)
    has_p = nc > 0 and bool(re.match(r"^(P|Pr)\(", cols[-1]))
    tst = [j for j, c in enumerate(cols) if c[1:7] == " value"]
    tst += [j for j, c in enumerate(cols) if c in ("F", "Cp", "Chisq")]
    zap = [j for j in range(nc - 1 if has_p else nc) if j not in tst and not cols[j].endswith("Df")]
    lines: list[str] = []
    for h in heading:
        lines.extend(str(h).split("\n"))
    lines += print_coefmat(table.to_numpy(dtype=float), [str(r) for r in table.index], cols, digits,
                           cs_ind=(), tst_ind=tst, zap_ind=zap, has_pvalue=has_p, signif_stars=signif_stars,
                           na_print="")
    return lines
