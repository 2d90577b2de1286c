"""Conditional variances of the random effects (lme4's ``ranef(m, condVar = TRUE)``) and R's ranef printout.

The conditional covariance of ``b`` given the data, at the estimated parameters, is

    Var(b | y) = sigma^2 Lambda (Lambda' Z' W Z Lambda + I)^{-1} Lambda' = sigma^2 Lambda (L L')^{-1} Lambda'

with ``L`` the random-effects part of the PLS factor (lme4's ``condVar``; the uncertainty in beta is
not included, as in lme4).  lme4 reports only the q_k x q_k diagonal blocks, one per term and level;
with several terms on one grouping factor (``(1|g) + (0+x|g)``) it reports one array per term
(``attr(, "postVar")`` is then a list) and no covariances between the terms.

Only those diagonal blocks are computed, from the blocked factor of :mod:`mixedcompat.lme4.pls`:
``L = [[L11, 0], [G, L22]]`` with ``L11`` block diagonal (first term), ``G`` sparse and ``L22`` dense.
With ``S = (L22 L22')^{-1}`` (one LAPACK ``potri`` on the dense part, which the fit already holds):

* blocks of later terms are the diagonal blocks of ``S``;
* the block of level j of the first term is ``L11_j^{-T} (I + G_j' S G_j) L11_j^{-1}``, computed from
  the sparse columns ``G_j`` in chunks, so nothing of size (levels of the first term)^2 is formed.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

from mixedcompat.present.rformat import format_real, print_matrix

__all__ = ["RanefDict", "ranef_with_condvar", "as_ranef_dict", "conditional_variances", "format_ranef"]

R_MAX_PRINT = 99999          # getOption("max.print")
_CHUNK_ENTRIES = 4_000_000   # dense doubles per chunk of S @ G (32 MB)


class RanefDict(dict):
    """``ranef(m)``: grouping factor -> DataFrame (levels x columns); ``str()`` prints as R's ``print(ranef(m))``.

    With conditional variances each DataFrame carries ``.attrs["postVar"]`` (levels x q x q).

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff"))
    >>> re = m.ranef(condVar=True)
    >>> re["Batch"].attrs["postVar"].shape
    (6, 1, 1)
    >>> print(str(re).splitlines()[-1])
    with conditional variances for “Batch” 
    """

    def __str__(self) -> str:
        return format_ranef(self)

    def __repr__(self) -> str:
        return self.__str__()


def as_ranef_dict(mapping: Mapping[str, pd.DataFrame]) -> RanefDict:
    """Wrap a mapping group -> DataFrame (as returned by ``m.ranef()``) as a :class:`RanefDict`.

    Example
    -------
    >>> import pandas as pd
    >>> re = as_ranef_dict({"g": pd.DataFrame({"(Intercept)": [0.5, -0.5]}, index=["a", "b"])})
    >>> print(re)
    $g
      (Intercept)
    a         0.5
    b        -0.5
    <BLANKLINE>
    """
    return mapping if isinstance(mapping, RanefDict) else RanefDict(mapping)


# ------------------------------------------------------------------------------ computation

def conditional_variances(m) -> list[np.ndarray]:
    """Conditional covariance blocks of the random effects, one array (levels, q_k, q_k) per term.

    Terms in the fit's (lme4's) order; ``sigma^2 T_k [(L L')^{-1}]_{jj} T_k'`` for each level j.

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> [v.shape for v in conditional_variances(m)]
    [(18, 2, 2)]
    """
    f = m.factor
    terms = m.terms
    sizes = [t.n_levels * t.q for t in terms]
    if f.L_full is not None:                       # DenseDeviance: one dense factor of the whole system
        q = sum(sizes)
        S = _inverse_from_cholesky(f.L_full[:q, :q])
        unscaled = _diagonal_blocks(S, terms, 0)
    else:
        unscaled = _blocked_diagonal_blocks(f, m.devfun)
    s2 = m.sigma() ** 2
    out = []
    for t, Tk, V in zip(terms, f.templates, unscaled):
        out.append(s2 * (Tk[None, :, :] @ V @ Tk.T[None, :, :]))
    return out


def _inverse_from_cholesky(L: np.ndarray) -> np.ndarray:
    """(L L')^{-1} from a lower Cholesky factor (LAPACK potri), symmetric."""
    if L.shape[0] == 0:
        return np.zeros((0, 0))
    inv, info = lapack.dpotri(np.asfortranarray(L), lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"potri failed (info={info})")
    lower = np.tril(inv)
    return lower + np.tril(lower, -1).T


def _diagonal_blocks(S: np.ndarray, terms, start_term: int) -> list[np.ndarray]:
    """The per-level q x q diagonal blocks of S for terms[start_term:] (S indexed from their first column)."""
    out, off = [], 0
    for t in terms[start_term:]:
        n, q = t.n_levels, t.q
        idx = off + np.arange(n * q).reshape(n, q)
        out.append(S[idx[:, :, None], idx[:, None, :]])
        off += n * q
    return out


def _blocked_diagonal_blocks(f, devfun) -> list[np.ndarray]:
    """Diagonal blocks of (L L')^{-1} from the blocked factor, one (levels, q_k, q_k) array per term
    in lme4's order.

    With the first engine block eliminated, ``[(L L')^{-1}]_11 = L_11^{-T} (I + G' C^{-1} G) L_11^{-1}``
    level by level and ``[(L L')^{-1}]_rr = C^{-1}`` (``C`` the later blocks' Schur complement):
    both from solves with ``C``'s factor, in chunks of columns.
    """
    blocks = devfun.blocks
    first = blocks[0]
    n1, q1 = first.n_levels, first.q
    L11inv = np.linalg.inv(f.L11) if q1 > 1 else 1.0 / f.L11
    H = np.broadcast_to(np.eye(q1), (n1, q1, q1)).copy()
    per_block = []
    if f.rest is not None:
        G = devfun.lower_block(f).tocsc()
        q2 = G.shape[0]
        per_chunk = max(1, _CHUNK_ENTRIES // max(q2 * q1, 1))
        for l0 in range(0, n1, per_chunk):
            l1 = min(n1, l0 + per_chunk)
            Gc = G[:, l0 * q1:l1 * q1].toarray()
            X = f.rest.solve(Gc)
            for a in range(q1):
                for b in range(a, q1):
                    h = np.sum(Gc[:, a::q1] * X[:, b::q1], axis=0)
                    H[l0:l1, a, b] += h
                    if a != b:
                        H[l0:l1, b, a] += h
        off = 0
        for blk in blocks[1:]:
            nb, qb = blk.n_levels, blk.q
            V = np.empty((nb, qb, qb))
            per_chunk = max(1, _CHUNK_ENTRIES // max(q2 * qb, 1))
            for l0 in range(0, nb, per_chunk):
                l1 = min(nb, l0 + per_chunk)
                cols = off + np.arange(l0 * qb, l1 * qb)
                E = np.zeros((q2, len(cols)))
                E[cols, np.arange(len(cols))] = 1.0
                X = f.rest.solve(E)[cols].reshape(l1 - l0, qb, l1 - l0, qb)
                idx = np.arange(l1 - l0)
                V[l0:l1] = X[idx, :, idx, :]
            per_block.append(V)
            off += blk.size
    first_V = np.transpose(L11inv, (0, 2, 1)) @ H @ L11inv
    out: list = [None] * len(devfun.terms)
    for blk, V in zip(blocks, [first_V] + per_block):
        for k, Vk in zip(blk.members, blk.split_blocks(V)):
            out[k] = Vk
    return out


def ranef_with_condvar(m) -> RanefDict:
    """``ranef(m, condVar = TRUE)``: the conditional modes with lme4's conditional variances.

    Each DataFrame (levels x columns) carries ``.attrs["postVar"]``, an array (levels, q, q) equal to
    lme4's ``attr(ranef(m, condVar = TRUE)[[g]], "postVar")`` (q x q x levels in R).  When several
    terms share the grouping factor, R's attribute is a list with one array per term; here
    ``.attrs["postVar_terms"]`` holds that list (arrays levels x q_k x q_k) and ``postVar`` is their
    block-diagonal combination (zero between terms, as lme4 computes no such covariances).

    Example
    -------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> pv = ranef_with_condvar(m)["Subject"].attrs["postVar"]
    >>> pv.shape
    (18, 2, 2)
    """
    variances = conditional_variances(m)
    frames: dict[str, list] = {}
    for t, bk, V in zip(m.terms, m.b, variances):
        df = pd.DataFrame(np.array(bk), index=pd.Index([str(lv) for lv in t.levels]), columns=list(t.names))
        frames.setdefault(t.group, []).append((df, V))
    out = RanefDict()
    for g, parts in frames.items():
        df = pd.concat([d for d, _ in parts], axis=1) if len(parts) > 1 else parts[0][0]
        blocks = [V for _, V in parts]
        if len(blocks) == 1:
            pv = blocks[0]
        else:
            q = sum(b.shape[1] for b in blocks)
            pv = np.zeros((len(df), q, q))
            at = 0
            for b in blocks:
                k = b.shape[1]
                pv[:, at:at + k, at:at + k] = b
                at += k
            df.attrs["postVar_terms"] = blocks
        df.attrs["postVar"] = pv
        out[g] = df
    return out


# ------------------------------------------------------------------------------ printing

_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE", "NULL",
             "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in"}
_SYNTACTIC = re.compile(r"^((([A-Za-z]|[.][A-Za-z._])[A-Za-z0-9._]*)|[.])$")


def _list_tag(name: str) -> str:
    """R's tag for a list element when printing: ``$name`` or ``$`non syntactic```."""
    if _SYNTACTIC.match(name) and name not in _RESERVED and not re.match(r"^\.\.(\.|\d+)$", name):
        return f"${name}"
    return f"$`{name}`"


def _data_frame_lines(df: pd.DataFrame, digits: int = 7) -> list[str]:
    """R's ``print.data.frame`` of a numeric data frame (each column formatted on its own)."""
    n, ncol = df.shape
    cols = [str(c) for c in df.columns]
    if ncol == 0:
        return [f"data frame with 0 columns and {n} rows"]
    if n == 0:
        return [f"[1] {' '.join(cols)}", "<0 rows> (or 0-length row.names)"]
    n0 = R_MAX_PRINT // ncol
    omit = n0 < n
    shown = df.iloc[:n0] if omit else df
    values = np.asarray(shown, dtype=float)
    formatted = [format_real([None if np.isnan(v) else float(v) for v in values[:, j]], digits)
                 for j in range(ncol)]
    cells = [[formatted[j][i] for j in range(ncol)] for i in range(len(shown))]
    lines = print_matrix(cells, [str(r) for r in shown.index], cols, right=True)
    if omit:
        lines.append(f" [ reached 'max' / getOption(\"max.print\") -- omitted {n - n0} rows ]")
    return lines


def format_ranef(re: Mapping[str, pd.DataFrame]) -> str:
    """R's ``print(ranef(m))`` (``print.ranef.mer``), lines joined by newlines.

    Each grouping factor as ``$name`` and its data frame, a blank line after each, then
    ``with conditional variances for “g1” “g2” `` naming the factors that carry a ``postVar``.

    Example
    -------
    >>> import pandas as pd
    >>> print(format_ranef({"b:a": pd.DataFrame({"(Intercept)": [1.25]}, index=["1:A1"])}))
    $`b:a`
         (Intercept)
    1:A1        1.25
    <BLANKLINE>
    """
    lines: list[str] = []
    with_pv = []
    for g, df in re.items():
        lines.append(_list_tag(str(g)))
        lines += _data_frame_lines(df)
        lines.append("")
        if "postVar" in getattr(df, "attrs", {}):
            with_pv.append(str(g))
    if with_pv:
        lines.append("with conditional variances for " + " ".join(f"\u201c{g}\u201d" for g in with_pv) + " ")
    return "\n".join(lines)
