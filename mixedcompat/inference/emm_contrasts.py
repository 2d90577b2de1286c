"""emmeans' contrasts of estimated marginal means: ``emmeans`` (the public front, with R's
``"pairwise ~ A"`` form), ``contrast`` and ``pairs`` (emmeans 1.8.4).

Contrast methods are emmeans' ``.emmc`` functions: ``pairwise`` / ``revpairwise`` (adjust ``"tukey"``),
``trt.vs.ctrl`` / ``dunnett`` (``ref`` = 1-based index or level label; adjust ``"dunnettx"``),
``trt.vs.ctrlk`` (the last level), ``poly`` (emmeans' integer orthogonal-polynomial coefficients,
adjust ``"none"``), ``consec`` (adjust ``"mvt"``: refused unless ``adjust`` is given), ``eff`` /
``del.eff`` (adjust ``"fdr"``) and a dict ``{name: coefficients}`` (adjust ``"none"``).  Labels as
emmeans: levels joined by a space across factors; a factor whose levels all read as numbers gets its
name in front (``"nf0 - nf0.2"``); a label holding ``-``, ``+``, ``/`` or ``*`` is put in parentheses.
On a glmer grid shown on the response scale, contrasts of log-type links are ratios (``odds.ratio``
for logit, ``ratio`` for log) labelled ``"A / B"``; other links keep the link scale with emmeans' note.
"""
from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError
from mixedcompat.inference.emm_summary import find_by_rows, label_of
from mixedcompat.inference.emmeans_grid import EmmGrid, marginal_means, ratio_tran
from mixedcompat.present.html import HtmlRepr

__all__ = ["emmeans", "contrast", "pairs", "EmmList", "contrast_coefficients", "CONTRAST_METHODS"]

_PARENS = re.compile(r"-|\+|/|\*")


class EmmList(HtmlRepr, dict):
    """emmeans' ``emm_list`` (``emmeans(m, pairwise ~ A)``): ``{"emmeans": ..., "contrasts": ...}``;
    ``str()`` is R's print of the list."""

    def __str__(self) -> str:
        out: list[str] = []
        for k, v in self.items():
            out.append(f"${k}")
            out += str(v).split("\n")
            out.append("")
        return "\n".join(out)

    def __repr__(self) -> str:
        return self.__str__()


# ------------------------------------------------------------------------------------------------
# emmeans' .emmc functions: (list of (label, coefficients), attributes)


def _pairwise(levs: list[str], **_: Any) -> tuple[list, dict]:
    k = len(levs)
    out = []
    for i in range(k - 1):
        for j in range(i + 1, k):
            c = np.zeros(k)
            c[i], c[j] = 1.0, -1.0
            out.append((f"{levs[i]} - {levs[j]}", c))
    return out, {"adjust": "tukey", "type": "pairs", "famSize": k, "desc": "pairwise differences"}


def _revpairwise(levs: list[str], **_: Any) -> tuple[list, dict]:
    k = len(levs)
    out = []
    for i in range(1, k):
        for j in range(i):
            c = np.zeros(k)
            c[i], c[j] = 1.0, -1.0
            out.append((f"{levs[i]} - {levs[j]}", c))
    return out, {"adjust": "tukey", "type": "pairs", "desc": "pairwise differences"}


def _ref_index(levs: list[str], ref: Any) -> list[int]:
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    out = []
    raw = getattr(levs, "raw", levs)
    for r in refs:
        if isinstance(r, str):
            hits = [i for i, (lv, rw) in enumerate(zip(levs, raw)) if r in (lv, rw)]
            if not hits:
                raise DataError(f"trt.vs.ctrl: ref {r!r} is not one of the levels ({', '.join(levs)})")
            out.append(hits[0])
        else:
            i = int(r)
            if i < 1 or i > len(levs):
                raise DataError("In trt.vs.ctrl.emmc(), 'ref' levels are out of range")
            out.append(i - 1)
    return out


def _trt_vs_ctrl(levs: list[str], ref: Any = 1, reverse: bool = False, **_: Any) -> tuple[list, dict]:
    refs = _ref_index(levs, ref)
    k = len(levs)
    cnm = levs[refs[0]] if len(refs) == 1 else "avg(" + ",".join(levs[r] for r in refs) + ")"
    templ = np.zeros(k)
    templ[refs] = -1.0 / len(refs)
    out = []
    for i in range(k):
        if i in refs:
            continue
        c = templ.copy()
        c[i] = 1.0
        name = f"{cnm} - {levs[i]}" if reverse else f"{levs[i]} - {cnm}"
        out.append((name, -c if reverse else c))
    return out, {"adjust": "dunnettx", "desc": "differences from control"}


def _trt_vs_ctrlk(levs: list[str], ref: Any = None, **kw: Any) -> tuple[list, dict]:
    return _trt_vs_ctrl(levs, ref=len(levs) if ref is None else ref, **kw)


def poly_coefficients(k: int, max_degree: int | None = None) -> list[np.ndarray]:
    """emmeans' ``poly.emmc``: R's orthogonal polynomials on ``1..k`` (``poly``), each column scaled to
    small integers.

    Examples
    --------
    >>> [c.tolist() for c in poly_coefficients(4)]
    [[-3.0, -1.0, 1.0, 3.0], [1.0, -1.0, -1.0, 1.0], [-1.0, 3.0, -3.0, 1.0]]
    """
    degree = min(6, k - 1) if max_degree is None else max_degree
    degree = min(20, degree)
    x = np.arange(1, k + 1, dtype=float)
    x = x - x.mean()
    basis = [np.ones(k)]
    out = []
    for d in range(1, degree + 1):
        v = x ** d
        for b in basis:
            v = v - (v @ b) / (b @ b) * b
        basis.append(v)
        con = v / np.sqrt(v @ v)
        pos = con > 0.01
        con = con / np.min(con[pos])
        z = np.max(np.abs(con - np.round(con)))
        while z > 0.05:
            con = con / z
            z = np.max(np.abs(con - np.round(con)))
        out.append(np.round(con) + 0.0)
    return out


def _poly(levs: list[str], max_degree: int | None = None, **_: Any) -> tuple[list, dict]:
    names = ["linear", "quadratic", "cubic", "quartic"] + [f"degree {d}" for d in range(5, 21)]
    cols = poly_coefficients(len(levs), max_degree)
    return [(names[j], c) for j, c in enumerate(cols)], {"adjust": "none", "desc": "polynomial contrasts"}


def _consec(levs: list[str], reverse: bool = False, **_: Any) -> tuple[list, dict]:
    k = len(levs)
    sgn = -1.0 if reverse else 1.0
    out = []
    for i in range(k - 1):
        c = np.zeros(k)
        c[i], c[i + 1] = -sgn, sgn
        name = f"{levs[i]} - {levs[i + 1]}" if reverse else f"{levs[i + 1]} - {levs[i]}"
        out.append((name, c))
    return out, {"adjust": "mvt", "desc": "changes between consecutive levels"}


def _eff(levs: list[str], **_: Any) -> tuple[list, dict]:
    k = len(levs)
    w = np.full(k, 1.0 / k)
    out = []
    for i in range(k):
        c = -w.copy()
        c[i] += 1.0
        out.append((f"{levs[i]} effect", c))
    return out, {"adjust": "fdr", "desc": "differences from grand mean"}


def _del_eff(levs: list[str], **kw: Any) -> tuple[list, dict]:
    out, attrs = _eff(levs, **kw)
    return [(n, c / c[i]) for i, (n, c) in enumerate(out)], dict(attrs, desc="differences from mean of others")


CONTRAST_METHODS: dict[str, Callable[..., tuple[list, dict]]] = {
    "pairwise": _pairwise, "revpairwise": _revpairwise, "trt.vs.ctrl": _trt_vs_ctrl, "dunnett": _trt_vs_ctrl,
    "trt.vs.ctrl1": _trt_vs_ctrl, "trt.vs.ctrlk": _trt_vs_ctrlk, "poly": _poly, "consec": _consec,
    "eff": _eff, "del.eff": _del_eff}


def contrast_coefficients(method: Any, levs: list[str], **kw: Any) -> tuple[list, dict]:
    """The coefficients (list of (label, vector over ``levs``)) and attributes of a contrast method."""
    if isinstance(method, dict):
        out = []
        for name, coefs in method.items():
            c = np.asarray(coefs, dtype=float).ravel()
            if len(c) != len(levs):
                raise DataError(f"contrast: custom contrast {name!r} has {len(c)} coefficients for {len(levs)} "
                                f"means ({', '.join(levs)}): Nonconforming number of contrast coefficients")
            out.append((str(name), c))
        return out, {}
    if not isinstance(method, str) or method not in CONTRAST_METHODS:
        raise DataError(f"Contrast function '{method}.emmc' not found: use one of "
                        f"{', '.join(CONTRAST_METHODS)} or a dict of coefficient lists")
    return CONTRAST_METHODS[method](levs, **kw)


# ------------------------------------------------------------------------------------------------
# contrast()


def _is_num(values: pd.Series) -> bool:
    """emmeans' ``.is.num``: every label reads as a number."""
    for v in values:
        try:
            float(label_of(v))
        except ValueError:
            return False
    return True


_METHOD_ARGS = {"ref", "reverse", "max_degree"}


class _Levels(list):
    """Level labels with the raw (unparenthesised) labels alongside, as emmeans' ``attr(levs, "raw")``."""
    raw: list


def contrast(e: Any, method: Any = "eff", by: Any = "__default__", adjust: str | None = None,
             type: str | None = None, name: str = "contrast", **kwargs: Any) -> EmmGrid:  # noqa: A002
    """emmeans' ``contrast(e, method, by, adjust, type)``: linear combinations of the rows of ``e``.

    R equivalent: ``emmeans::contrast(emmeans(m, ~ Machine), "trt.vs.ctrl", adjust = "dunnettx")``.

    Parameters
    ----------
    e : EmmGrid
        From :func:`emmeans` (or from ``contrast``).
    method : str or dict
        ``"pairwise"``, ``"revpairwise"``, ``"trt.vs.ctrl"`` (``ref=``, ``reverse=``), ``"trt.vs.ctrlk"``,
        ``"dunnett"``, ``"poly"``, ``"consec"``, ``"eff"`` (default, as emmeans), ``"del.eff"``, or a dict
        ``{label: coefficients}``.
    by : str, list of str or None
        The grid's ``by`` factors (default), ``None`` for none, or other factor name(s).
    adjust : str, optional
        The p-value adjustment (default: the method's, as emmeans: ``"tukey"`` for pairwise,
        ``"dunnettx"`` for trt.vs.ctrl, ``"fdr"`` for eff, ``"none"`` for poly).
    type : {"link", "response"}, optional
        Default: the grid's.
    name : str
        The name of the contrast column (emmeans' ``name``, default ``"contrast"``).
    **kwargs
        The method's own arguments, as emmeans' ``...``: ``ref``, ``reverse``, ``exclude`` of the
        method, ``max.degree`` of poly...; emmeans' ``interaction=``, ``simple=``, ``combine=`` are
        refused (not implemented).

    Returns
    -------
    EmmGrid
        ``str()`` prints emmeans' table ``contrast, estimate, SE, df, t.ratio, p.value``.

    Examples
    --------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", mc.datasets.load("Machines"))
    >>> mc.contrast(mc.emmeans(m, "Machine"), "trt.vs.ctrl").to_frame()["contrast"].tolist()
    ['B - A', 'C - A']
    """
    if not isinstance(e, EmmGrid):
        raise TypeError(f"contrast() takes the result of mc.emmeans, not {e.__class__.__name__}")
    unknown = sorted(set(kwargs) - _METHOD_ARGS)
    if unknown:
        raise NotImplementedError(f"contrast: argument(s) {', '.join(unknown)} not implemented (emmeans' "
                                  "interaction=, simple=, combine=, exclude=, include=...); the method arguments "
                                  f"taken are {', '.join(sorted(_METHOD_ARGS))}")
    if by == "__default__":
        by_list = list(e.by)
    else:
        by_list = [] if by is None else ([by] if isinstance(by, str) else list(by))
    args = e.grid.copy()
    for b in by_list:
        if b not in args.columns:
            raise DataError(f"contrast: by names {b!r}, not a variable of the grid ({', '.join(args.columns)})")
    if adjust is not None and not isinstance(adjust, str):
        raise DataError(f"adjust must be a method name, not {adjust!r}")
    for c in args.columns:
        if c not in by_list and _is_num(args[c]):
            args[c] = [f"{c}{label_of(v)}" for v in args[c]]
    by_rows = find_by_rows(args, tuple(by_list))
    if len({len(r) for r in by_rows}) > 1:
        raise DataError("`by` groups are of irregular size")
    keep = [c for c in args.columns if c not in by_list]
    all_levs = args[keep].apply(lambda col: col.map(label_of)).agg(" ".join, axis=1).tolist() if keep \
        else [""] * len(args)
    paren = any(_PARENS.search(s) for s in all_levs)
    levs_all = [f"({s})" if paren and _PARENS.search(s) else s for s in all_levs]
    first = by_rows[0]
    levs = _Levels(levs_all[i] for i in first)
    levs.raw = [all_levs[i] for i in first]
    pairs_, attrs = contrast_coefficients(method, levs, **kwargs)
    if not pairs_:
        raise DataError("contrast: the method gives no contrasts (one level only)")
    C = np.array([c for _n, c in pairs_])
    names_by_group = []
    for rows in by_rows:
        lv = [levs_all[i] for i in rows]
        if lv != list(levs):
            g = _Levels(lv)
            g.raw = [all_levs[i] for i in rows]
            names_by_group.append([n for n, _c in contrast_coefficients(method, g, **kwargs)[0]])
        else:
            names_by_group.append([n for n, _c in pairs_])
    L = np.vstack([C @ e.linfct[rows] for rows in by_rows])
    grid = {name: [n for names in names_by_group for n in names]}
    for b in by_list:
        grid[b] = [e.grid[b].iloc[rows[0]] for rows in by_rows for _ in range(len(C))]
    grid = pd.DataFrame(grid)
    sums = C.sum(axis=1)
    est_type = attrs.get("type") or ("contrast" if np.all(np.abs(sums) < 0.001) else "prediction")
    fam_size = attrs.get("famSize", len(first))
    adj = adjust if adjust is not None else attrs.get("adjust", "none")
    true_con = bool(np.all(np.abs(sums / (1e-6 + np.max(np.abs(C), axis=1))) < 1e-6))
    tran, init = e.tran, []
    if tran is not None:
        rt = ratio_tran(tran) if true_con else None
        if rt is None:
            init.append(f"Note: contrasts are still on the {tran.tran} scale")
        tran = rt
    levels = {name: list(dict.fromkeys(grid[name]))}
    for b in by_list:
        levels[b] = list(e.levels.get(b, list(dict.fromkeys(grid[b]))))
    df = np.array([e.df_fun(k) for k in L])
    out = replace(e, levels=levels, grid=grid, linfct=L, df=df, est_name="estimate", infer=(False, True),
                  adjust=adj, by=tuple(by_list), pri_vars=(name,), tran=tran, est_type=est_type,
                  fam_size=int(fam_size), init_mesg=tuple(init),
                  pairby=",".join([""] + by_list) if est_type == "pairs" else None)
    if type is not None:
        out = out.update(type=type)
    return out


def pairs(e: Any, reverse: bool = False, by: Any = "__default__", adjust: str | None = None,
          type: str | None = None) -> EmmGrid:  # noqa: A002
    """emmeans' ``pairs(e)``: ``contrast(e, "pairwise")`` (``reverse=True``: ``"revpairwise"``).

    R equivalent: ``pairs(emmeans(m, ~ Machine), reverse = FALSE, adjust = "tukey")``.

    Parameters
    ----------
    e : EmmGrid
        From :func:`emmeans`.
    reverse : bool
        Pairs in reverse order (``B - A`` instead of ``A - B``).
    by : str, list of str or None
        As :func:`contrast`.
    adjust : str, optional
        The p-value adjustment (default ``"tukey"``).
    type : {"link", "response"}, optional
        Default: the grid's.

    Returns
    -------
    EmmGrid
        The pairwise differences, printed as emmeans' table.

    Examples
    --------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", mc.datasets.load("Machines"))
    >>> mc.pairs(mc.emmeans(m, "Machine")).to_frame()["contrast"].tolist()
    ['A - B', 'A - C', 'B - C']
    """
    return contrast(e, "revpairwise" if reverse else "pairwise", by=by, adjust=adjust, type=type)


def emmeans(m: Any, specs: Any, by: Any = None, ddf: str | None = None, type: str = "link",  # noqa: A002
            level: float = 0.95, at: dict | None = None, weights: str = "equal",
            adjust: str | None = None) -> EmmGrid | EmmList:
    """emmeans' ``emmeans(m, specs, by, lmer.df = ddf, type, level, at)`` on an lmer, glmer or lme fit.

    R equivalent: ``emmeans::emmeans(m, ~ Machine, lmer.df = "kenward-roger", type = "response")``.

    Parameters
    ----------
    m : LmerMod, GlmerMod or lme fit
        Full rank fixed effects, no offset.
    specs : str or list of str
        A factor name (``"Machine"``), a list of names (``["nitro", "Variety"]``) or a formula string:
        ``"~ nitro | Variety"`` (``by`` after the bar), ``"pairwise ~ Machine"`` (also the contrasts: an
        :class:`EmmList` ``{"emmeans": ..., "contrasts": ...}`` as R's ``emm_list``).
    by : str or list of str, optional
        Factor name(s) to condition on (printed in groups; contrasts within each).
    ddf : str, optional
        lmer: ``"Kenward-Roger"`` (default, as emmeans), ``"Satterthwaite"``, ``"asymptotic"``; lme:
        ``"containment"`` (emmeans' default mode for lme) or ``"asymptotic"``; glmer: asymptotic always.
    type : {"link", "response"}
        ``"response"``: back-transformed means, delta-method SEs, limits back-transformed from the link
        scale (glmer families; lmer / lme responses written ``log(y)``, ``sqrt(y)``...).
    level : float
        Confidence level.
    at : dict, optional
        Covariate values (or a subset of factor levels) for the reference grid, ``{"temp": 200}``.
    weights : str
        How the factors not in ``specs`` are averaged over: ``"equal"`` (emmeans' default),
        ``"proportional"`` (their marginal frequencies in the data), ``"outer"`` (the product of each
        one's marginal frequencies), ``"cells"`` (the cell frequencies: the raw means' weights), ``"flat"``
        (equal over the cells that hold data).
    adjust : str, optional
        The adjustment of the contrasts of a ``"pairwise ~ A"`` formula (default: the method's).

    Returns
    -------
    EmmGrid or EmmList

    Examples
    --------
    >>> m = mc.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", mc.datasets.load("Machines"))
    >>> print(mc.emmeans(m, "Machine"))
     Machine emmean   SE   df lower.CL upper.CL
     A         52.4 2.49 8.52     46.7     58.0
     B         60.3 2.49 8.52     54.7     66.0
     C         66.3 2.49 8.52     60.6     71.9
    <BLANKLINE>
    Degrees-of-freedom method: kenward-roger 
    Confidence level used: 0.95 
    """
    e, contr = marginal_means(m, specs, by=by, ddf=ddf, type=type, level=level, at=at, weights=weights)
    if contr is None:
        return e
    return EmmList(emmeans=e, contrasts=contrast(e, contr, adjust=adjust))
