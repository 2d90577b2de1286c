"""Random-effects variances and correlations of a fit, printed and tabulated as lme4's ``VarCorr``.

``VarCorr(terms, sigma)`` holds one :class:`VCTerm` (grouping factor, column names, q x q
covariance on the variance scale) per random-effects term and the residual standard deviation.
``str()`` is R's ``print(VarCorr(m))`` (``VarCorr(m, comp=...)`` / :meth:`VarCorr.with_comp`: R's
``print(VarCorr(m), comp = ...)``), :meth:`VarCorr.format` is the table inside
``summary(m)``, :meth:`VarCorr.to_frame` is ``as.data.frame(VarCorr(m))``.
"""
from __future__ import annotations

import re

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.rformat import format_real, print_matrix, r_round

__all__ = ["VCTerm", "VarCorr", "make_unique", "make_names", "group_names", "match_comp", "PRINT_COMP", "PRINT_DIGITS"]

_COMPONENTS = ("Variance", "Std.Dev.")
PRINT_COMP = ("Std.Dev.",)
"""The columns ``print(VarCorr(m))`` shows by default (lme4's ``comp = "Std.Dev."``)."""
PRINT_DIGITS = 5
"""lme4's ``print.VarCorr.merMod`` digits: ``max(3, getOption("digits") - 2)``."""


def match_comp(comp: str | Sequence[str]) -> tuple[str, ...]:
    """lme4's ``pmatch(comp, c("Variance", "Std.Dev."))``: each entry an exact name or a unique prefix
    of one, each name at most once.

    Raises
    ------
    DataError
        lme4's "Illegal 'comp': ..." (an entry that matches nothing or a name already taken), or
        "Must *either* show variances or standard deviations" (no entry).

    Examples
    --------
    >>> match_comp(["Var", "Std"])
    ('Variance', 'Std.Dev.')
    """
    given = [comp] if isinstance(comp, str) else list(comp)
    if not given:
        raise DataError("Must *either* show variances or standard deviations")
    out: list[str] = []
    bad: list[str] = []
    for c in given:
        hits = [n for n in _COMPONENTS if n == c] or [n for n in _COMPONENTS if isinstance(c, str) and c and n.startswith(c)]
        if len(hits) != 1 or hits[0] in out:
            bad.append(str(c))
        else:
            out.append(hits[0])
    if bad:
        raise DataError(f"Illegal 'comp': {' '.join(bad)} (use 'Variance' and/or 'Std.Dev.', or a unique prefix)")
    return tuple(out)


def make_unique(names: Sequence[str]) -> list[str]:
    """R's ``make.unique``: later duplicates get ``.1``, ``.2``, ... appended.

    Examples
    --------
    >>> make_unique(["Subject", "Subject", "Item"])
    ['Subject', 'Subject.1', 'Item']
    """
    seen = set(names)
    counts: dict[str, int] = {}
    used: set[str] = set()
    out = []
    for n in names:
        if n not in used:
            used.add(n)
            out.append(n)
            continue
        k = counts.get(n, 0)
        while True:
            k += 1
            cand = f"{n}.{k}"
            if cand not in seen and cand not in used:
                break
        counts[n] = k
        used.add(cand)
        out.append(cand)
    return out


def make_names(names: Sequence[str], unique: bool = True) -> list[str]:
    """R's ``make.names``: characters that cannot appear in an R name become ``.``.

    Examples
    --------
    >>> make_names(["g1:g2", "g1:g2", "g1"])
    ['g1.g2', 'g1.g2.1', 'g1']
    """
    out = []
    for n in names:
        m = re.sub(r"[^A-Za-z0-9._]", ".", n)
        if not m or not (m[0].isalpha() or (m[0] == "." and not (len(m) > 1 and m[1].isdigit()))):
            m = "X" + m
        out.append(m)
    return make_unique(out) if unique else out


def group_names(groups: Sequence[str]) -> list[str]:
    """The group labels lme4 gives VarCorr terms: as they are, or ``make.names(unique = TRUE)``
    of all of them when some repeat.

    Examples
    --------
    >>> group_names(["Subject", "Subject"])
    ['Subject', 'Subject.1']
    >>> group_names(["b:a", "a"])
    ['b:a', 'a']
    """
    groups = list(groups)
    return make_names(groups) if len(set(groups)) < len(groups) else groups


@dataclass(frozen=True)
class VCTerm:
    """Covariance of one random-effects term ``(names | group)``.

    Parameters
    ----------
    group : str
        Grouping factor name as lme4 prints it (``"Subject"``, ``"cask:batch"``).
    names : list of str
        Column names of the term (``["(Intercept)", "Days"]``).
    cov : ndarray
        q x q covariance matrix on the variance scale (sigma^2 Lambda Lambda').

    Examples
    --------
    >>> t = VCTerm("Subject", ["(Intercept)", "Days"], np.array([[612.1, 9.6], [9.6, 35.07]]))
    >>> [round(float(s), 3) for s in t.stddev]
    [24.741, 5.922]
    """

    group: str
    names: list[str]
    cov: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        cov = np.atleast_2d(np.asarray(self.cov, dtype=float))
        if cov.shape != (len(self.names), len(self.names)):
            raise ValueError(f"covariance of term '{self.group}' is {cov.shape}, "
                             f"expected {len(self.names)} x {len(self.names)}")
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "names", list(self.names))

    @property
    def stddev(self) -> np.ndarray:
        """Standard deviations, ``sqrt(diag(cov))``."""
        return np.sqrt(np.diag(self.cov))

    @property
    def correlation(self) -> np.ndarray:
        """Correlation matrix (NaN where a standard deviation is 0, as R's division)."""
        sd = self.stddev
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = self.cov / np.outer(sd, sd)
        np.fill_diagonal(corr, 1.0)
        return corr


class VarCorr(HtmlRepr):
    """Estimated random-effects covariances and residual standard deviation (lme4's ``VarCorr``).

    Parameters
    ----------
    terms : list of VCTerm
        One per random-effects term, in lme4's order. Repeated group names are printed as
        R does (``Subject``, ``Subject.1``).
    sigma : float or None
        Residual standard deviation; ``None`` (or ``use_sc=False``) drops the Residual row.
    use_sc : bool
        Whether the model has a scale parameter (always True for ``lmer``).

    Examples
    --------
    >>> vc = VarCorr([VCTerm("Batch", ["(Intercept)"], np.array([[1764.05]]))], 49.51)
    >>> print(vc)
     Groups   Name        Std.Dev.
     Batch    (Intercept) 42.001  
     Residual             49.510  
    """

    def __init__(self, terms: Sequence[VCTerm], sigma: float | None, use_sc: bool = True,
                 comp: str | Sequence[str] | None = None) -> None:
        self.terms = list(terms)
        self.sigma = None if sigma is None else float(sigma)
        self.use_sc = bool(use_sc) and sigma is not None
        self.groups = group_names([t.group for t in self.terms])
        self.comp = PRINT_COMP if comp is None else match_comp(comp)

    def __str__(self) -> str:
        return self.format(comp=self.comp, digits=PRINT_DIGITS)

    def with_comp(self, comp: str | Sequence[str]) -> "VarCorr":
        """The same table printing the columns ``comp`` (R's ``print(VarCorr(m), comp = comp)``).

        Examples
        --------
        >>> vc = VarCorr([VCTerm("g", ["(Intercept)"], np.array([[4.0]]))], 1.0)
        >>> print(vc.with_comp("Var"))
         Groups   Name        Variance
         g        (Intercept) 4       
         Residual             1       
        """
        return VarCorr(self.terms, self.sigma, self.use_sc, comp=comp)

    def __repr__(self) -> str:
        return str(self)

    def format_lines(self, comp: Sequence[str] = ("Std.Dev.",), digits: int = 5,
                     corr: bool | None = None) -> list[str]:
        """Lines of lme4's ``formatVC`` table printed with ``quote = FALSE``.

        Parameters
        ----------
        comp : sequence of {"Variance", "Std.Dev."}
            Columns to show, in this order (``summary`` uses both).
        digits : int
            Significant digits of the variance / std.dev. columns; correlations get
            ``max(2, digits - 2)`` decimals.
        corr : bool, optional
            Show the correlation block (default: as lme4 1.1-31's ``formatVC``, whenever a term has
            more than one column, whatever ``comp`` is).

        Examples
        --------
        >>> vc = VarCorr([VCTerm("g", ["(Intercept)"], np.array([[4.0]]))], 1.0)
        >>> vc.format_lines(("Variance", "Std.Dev."), 4)[1]
        ' g        (Intercept) 4        2       '
        """
        comp = match_comp(comp)
        if corr is None:
            corr = True
        sds = [list(t.stddev) for t in self.terms]
        groups = list(self.groups)
        names = [n for t in self.terms for n in t.names]
        if self.use_sc:
            sds.append([self.sigma])
            groups.append("Residual")
            names.append("")
        flat_sd = np.array([s for block in sds for s in block], dtype=float)
        group_col = []
        for g, block in zip(groups, sds):
            group_col += [g] + [""] * (len(block) - 1)
        columns: dict[str, list[str]] = {"Groups": group_col, "Name": names}
        for c in comp:
            values = flat_sd ** 2 if c == "Variance" else flat_sd
            columns[c] = format_real(values, digits)
        col_names = list(columns)
        rows = [[columns[c][i] for c in col_names] for i in range(len(flat_sd))]
        maxlen = max((len(t.names) for t in self.terms), default=0)
        if corr and maxlen > 1:
            dig = max(2, digits - 2)
            corr_rows: list[list[str]] = []
            for t in self.terms:
                q = len(t.names)
                cc = format_real(r_round(t.correlation.ravel(), dig), 7, nsmall=dig) if q else []
                for i in range(q):
                    row = [cc[i * q + j] if j < i else "" for j in range(q)] + [""] * (maxlen - q)
                    corr_rows.append(row[: maxlen - 1])
            corr_rows += [[""] * (maxlen - 1)] * (len(rows) - len(corr_rows))
            rows = [r + c for r, c in zip(rows, corr_rows)]
            col_names += ["Corr"] + [""] * (maxlen - 2)
        return print_matrix(rows, [""] * len(rows), col_names, right=False)

    def format(self, comp: Sequence[str] = ("Variance", "Std.Dev."), digits: int = 4,
               corr: bool | None = None) -> str:
        """The table as one string (lines joined by newlines); see :meth:`format_lines`.

        Examples
        --------
        >>> vc = VarCorr([VCTerm("g", ["(Intercept)"], np.array([[4.0]]))], 1.0)
        >>> vc.format().splitlines()[0]
        ' Groups   Name        Variance Std.Dev.'
        """
        return "\n".join(self.format_lines(comp, digits, corr))

    def to_frame(self) -> pd.DataFrame:
        """R's ``as.data.frame(VarCorr(m))``: columns ``grp, var1, var2, vcov, sdcor``.

        Per term the variances, then the covariances (pairs i < j, row-wise), then the
        Residual row; missing names are ``None``.

        Examples
        --------
        >>> vc = VarCorr([VCTerm("g", ["(Intercept)"], np.array([[4.0]]))], 1.0)
        >>> vc.to_frame().values.tolist()
        [['g', '(Intercept)', None, 4.0, 2.0], ['Residual', None, None, 1.0, 1.0]]
        """
        rows = []
        for g, t in zip(self.groups, self.terms):
            sd, corr = t.stddev, t.correlation
            for i, n in enumerate(t.names):
                rows.append((g, n, None, float(t.cov[i, i]), float(sd[i])))
            q = len(t.names)
            for i in range(q):
                for j in range(i + 1, q):
                    rows.append((g, t.names[i], t.names[j], float(t.cov[i, j]), float(corr[i, j])))
        if self.use_sc:
            rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        cols = list(zip(*rows)) if rows else [[]] * 5
        frame = pd.DataFrame({
            "grp": pd.Series(cols[0], dtype=object), "var1": pd.Series(cols[1], dtype=object),
            "var2": pd.Series(cols[2], dtype=object), "vcov": pd.Series(cols[3], dtype=float),
            "sdcor": pd.Series(cols[4], dtype=float)})
        return frame
