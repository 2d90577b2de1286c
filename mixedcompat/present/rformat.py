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
from collections.abc import Sequence

import numpy as np

__all__ = [
    "format_real", "format_number", "formatC", "signif", "r_round", "zapsmall", "cat_number",
    "abbreviate", "quantile7", "print_named_vector", "print_matrix", "print_numeric_matrix",
    "format_coefmat", "print_coefmat",
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

    Example
    -------
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

    Example
    -------
    >>> format_number(1743.62821, digits=7)
    '1743.628'
    """
    return format_real([x], digits, nsmall)[0]


def cat_number(x: float) -> str:
    """How ``cat(x)`` prints a number (7 significant digits, no padding).

    Example
    -------
    >>> cat_number(247.0)
    '247'
    """
    return format_number(x, 7)


def formatC(x: float | Sequence[float], width: int = 0, digits: int | None = None,
            format: str = "g", flag: str = "") -> str | list[str]:  # noqa: A002 (R's name)
    """R's ``formatC``: C ``sprintf`` of each element with ``%<flag><width>.<digits><format>``.

    Example
    -------
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

    Example
    -------
    >>> signif(123456, 2)
    120000.0
    """
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.{max(1, digits) - 1}e}")


def r_round(x: float | np.ndarray, digits: float = 0) -> float | np.ndarray:
    """R (>= 4.0) ``round``: nearest representable, ties to even; ``digits`` rounded half up.

    Example
    -------
    >>> r_round(2.675, 2), r_round(0.5), r_round(1.234567, 2.5)
    (2.67, 0.0, 1.235)
    """
    d = int(math.floor(digits + 0.5))
    if np.ndim(x) == 0:
        return float(round(float(x), d)) if math.isfinite(float(x)) else float(x)
    return np.array([r_round(v, d) for v in np.asarray(x, dtype=float).ravel()]).reshape(np.shape(x))


def zapsmall(x: Sequence[float] | np.ndarray, digits: int = 7) -> np.ndarray:
    """R 4.2's ``zapsmall``: ``round(x, max(0, digits - log10(max|x|)))``.

    Example
    -------
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


def quantile7(x: Sequence[float] | np.ndarray, probs: Sequence[float] = (0, .25, .5, .75, 1)) -> np.ndarray:
    """R's default ``quantile`` (type 7), NA removed.

    Example
    -------
    >>> quantile7([1, 2, 3, 4]).tolist()
    [1.0, 1.75, 2.5, 3.25, 4.0]
    """
    arr = np.asarray(x, dtype=float)
    arr = np.sort(arr[~np.isnan(arr)])
    n = arr.size
    out = []
    for p in probs:
        h = (n - 1) * p
        lo = int(math.floor(h + 4 * np.finfo(float).eps))
        hi = min(lo + 1, n - 1)
        frac = h - lo
        out.append(arr[lo] if frac <= 0 else arr[lo] + frac * (arr[hi] - arr[lo]))
    return np.asarray(out, dtype=float)


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

    Example
    -------
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


# ---------------------------------------------------------------- print.default layouts

def print_named_vector(values: Sequence[str], names: Sequence[str], gap: int = 1,
                       width: int = PRINT_WIDTH) -> list[str]:
    """Lines of ``print.default`` of a named vector whose elements are already formatted.

    Names and values are right-justified to a common width, each followed by ``gap`` spaces,
    ``floor(width / (w + gap))`` per line.

    Example
    -------
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
    return lines


def print_matrix(cells: Sequence[Sequence[str]], row_names: Sequence[str], col_names: Sequence[str],
                 right: bool = True, gap: int = 1, width: int = PRINT_WIDTH) -> list[str]:
    """Lines of ``print.default`` of a character matrix (``quote = FALSE``).

    Row names are left-justified; cells and column names are right-justified when ``right``
    (numbers, ``printCoefmat``) and left-justified otherwise (character matrices). Columns
    that do not fit in ``width`` continue in a further block below.

    Example
    -------
    >>> print_matrix([["-0.138"]], ["Days"], ["(Intr)"], right=False)
    ['     (Intr)', 'Days -0.138']
    """
    nrow, ncol = len(row_names), len(col_names)
    rw = max([len(r) for r in row_names] + [0])
    widths = [max([len(col_names[j])] + [len(cells[i][j]) for i in range(nrow)]) for j in range(ncol)]
    just = (lambda s, n: s.rjust(n)) if right else (lambda s, n: s.ljust(n))
    lines: list[str] = []
    j0 = 0
    while j0 < ncol or (ncol == 0 and not lines):
        total, j1 = rw, j0
        while j1 < ncol:
            total += widths[j1] + gap
            j1 += 1
            if j1 < ncol and total + widths[j1] + gap > width:
                break
        cols = range(j0, j1)
        lines.append(" " * rw + "".join(" " * gap + just(col_names[j], widths[j]) for j in cols))
        for i in range(nrow):
            lines.append(row_names[i].ljust(rw) + "".join(" " * gap + just(cells[i][j], widths[j]) for j in cols))
        if ncol == 0:
            break
        j0 = j1
    return lines


def print_numeric_matrix(x: np.ndarray, row_names: Sequence[str], col_names: Sequence[str],
                         digits: int = 7) -> list[str]:
    """Lines of ``print.default`` of a numeric matrix: each column formatted on its own.

    Example
    -------
    >>> print_numeric_matrix(np.array([[1.5, 10.0], [2.25, 3.0]]), ["a", "b"], ["x", "y"])
    ['     x  y', 'a 1.50 10', 'b 2.25  3']
    """
    arr = np.asarray(x, dtype=float)
    cols = [format_real(arr[:, j], digits) for j in range(arr.shape[1])]
    cells = [[cols[j][i] for j in range(arr.shape[1])] for i in range(arr.shape[0])]
    return print_matrix(cells, row_names, col_names, right=True)


# ---------------------------------------------------------------- printCoefmat

def format_coefmat(x: np.ndarray, digits: int, cs_ind: Sequence[int] = (0, 1),
                   tst_ind: Sequence[int] = (2,)) -> list[list[str]]:
    """Cells of R's ``printCoefmat`` (no p-values): estimates and standard errors share one
    format, rounded to ``max(1, digits - digmin)`` decimals; test statistics rounded to
    ``dig.tst = max(1, min(5, digits - 1))`` decimals; non-zero numbers shown as zero are
    reformatted with ``digits - 1``.

    Example
    -------
    >>> format_coefmat(np.array([[251.405, 6.825, 36.838], [10.467, 1.546, 6.771]]), 4)
    [['251.405', '  6.825', '36.838'], [' 10.467', '  1.546', ' 6.771']]
    """
    xm = np.asarray(x, dtype=float)
    nr, nc = xm.shape
    cells = [["" for _ in range(nc)] for _ in range(nr)]
    cs, ts = list(cs_ind), list(tst_ind)
    if cs:
        block = xm[:, cs]
        acs = np.abs(block[np.isfinite(block)])
        acs = acs[acs != 0]
        digmin = 1 + (np.floor(np.log10([acs.min(), acs.max()])) if acs.size else np.array([0.0, 0.0]))
        dec = max(1.0, float(np.max(digits - digmin)))
        rounded = r_round(block, dec)
        flat = format_real(np.asarray(rounded).T.ravel(), digits)  # R formats the block column-major
        for k, j in enumerate(cs):
            for i in range(nr):
                cells[i][j] = flat[k * nr + i]
    dig_tst = max(1, min(5, digits - 1))
    for j in ts:
        col = format_real(r_round(xm[:, j], dig_tst), digits)
        for i in range(nr):
            cells[i][j] = col[i]
    for j in range(nc):
        if j not in cs and j not in ts:
            col = format_real(xm[:, j], digits)
            for i in range(nr):
                cells[i][j] = col[i]
    fix = [(i, j) for j in cs for i in range(nr)
           if np.isfinite(xm[i, j]) and xm[i, j] != 0 and float(cells[i][j]) == 0]
    if fix:
        redone = format_real([xm[i, j] for i, j in fix], max(1, digits - 1))
        for (i, j), s in zip(fix, redone):
            cells[i][j] = s
    for i in range(nr):
        for j in range(nc):
            if np.isnan(xm[i, j]):
                cells[i][j] = "NA"
    return cells


def print_coefmat(x: np.ndarray, row_names: Sequence[str], col_names: Sequence[str],
                  digits: int = 4) -> list[str]:
    """Lines of ``printCoefmat(x, digits)`` for an Estimate / Std. Error / t value table.

    Example
    -------
    >>> print_coefmat(np.array([[1527.5, 19.38, 78.8]]), ["(Intercept)"],
    ...               ["Estimate", "Std. Error", "t value"])[1]
    '(Intercept)  1527.50      19.38    78.8'
    """
    cells = format_coefmat(x, digits)
    return print_matrix(cells, row_names, col_names, right=True)
