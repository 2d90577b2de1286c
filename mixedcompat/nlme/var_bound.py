"""The bound variance function and its helpers: form parsing, strata, values, weights.

:class:`BoundVarFunc` is what ``varPower(...).bind(data)`` (in :mod:`mixedcompat.nlme.varfunc`)
returns; nlme's rules are described in that module's docstring.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front import rlang
from mixedcompat.front.transforms import EvalContext, Fac, Num, evaluate, labels_for

FITTED = "fitted(.)"
Value = float | Sequence[float] | Mapping[str, float] | None

# --------------------------------------------------------------------------------------------
# form parsing


def parse_var_form(form: str, cls: str) -> tuple[str | None, list[str]]:
    """Parse a variance-function ``form`` into (covariate expression or None, strata expressions),
    each as R deparses it (:func:`var_form_nodes` gives them as trees).

    ``"~ 1 | g"`` -> ``(None, ["g"])``; ``"~ fitted(.) | a * b"`` -> ``("fitted(.)", ["a", "b"])``.

    Examples
    --------
    >>> parse_var_form("~ x | g * h", "varPower")
    ('x', ['g', 'h'])
    """
    return var_form_texts(*var_form_nodes(form, cls))


def var_form_texts(cov: rlang.Node | str | None, strata: list[rlang.Node]) -> tuple[str | None, list[str]]:
    """:func:`var_form_nodes`' trees as R deparses them (``FITTED`` and None kept).

    Examples
    --------
    >>> var_form_texts(*var_form_nodes("~ fitted(.) | a * b", "varPower"))
    ('fitted(.)', ['a', 'b'])
    """
    return (cov if cov is None or isinstance(cov, str) else cov.deparse()), [n.deparse() for n in strata]


def var_form_nodes(form: str, cls: str) -> tuple[rlang.Node | str | None, list[rlang.Node]]:
    """The ``form`` parsed once: the covariate's tree (``FITTED`` for ``fitted(.)``, None for ``1``) and
    the strata's trees.

    Examples
    --------
    >>> cov, strata = var_form_nodes("~ log(x) | g", "varPower")
    >>> cov.deparse(), [n.deparse() for n in strata]
    ('log(x)', ['g'])
    """
    if not isinstance(form, str):
        raise FormulaError(f"{cls}: form must be a one-sided formula string such as '~ x | g', not {form!r}")
    text = form.strip()
    if not text.startswith("~") or "~" in text[1:]:
        raise FormulaError(f"{cls}: form {form!r} must be a one-sided formula such as '~ x | g'")
    toks = rlang.tokenize(text)
    if len(toks) == 1 or toks[1].text == "|":
        raise FormulaError(f"{cls}: form {form!r} has no covariate (use '~ 1 | g' for strata only)")
    if toks[-1].text == "|":
        raise FormulaError(f"{cls}: form {form!r} has nothing after '|'")
    try:
        body = rlang.parse(text).args[0]
    except FormulaError as exc:
        raise FormulaError(f"{cls}: cannot read form {form!r}: {exc}") from exc
    bars = rlang.split_top(body, "|")
    if len(bars) > 2 or any(rlang.is_binop(n, "||") for n in bars):
        raise FormulaError(f"{cls}: form {form!r} has more than one '|'")
    cov = bars[0]
    if cov.deparse() == FITTED:
        cov_expr: rlang.Node | str | None = FITTED
    elif cov == rlang.num(1):
        cov_expr = None
    else:
        if len(rlang.split_top(cov, "+")) > 1:
            raise FormulaError(f"{cls}: the covariate {cov.deparse()!r} in form {form!r} must be a single "
                               f"expression")
        cov_expr = cov
    strata: list[rlang.Node] = []
    if len(bars) == 2:
        grp = bars[1]
        if any(rlang.is_binop(n, "/", ":") for n in rlang.walk(grp)):
            raise FormulaError(f"{cls}: invalid formula for groups {grp.deparse()!r} in form {form!r}: "
                               "strata are crossed with '*' (e.g. '~ 1 | a * b'), as nlme requires")
        strata = list(rlang.split_top(grp, "*"))
    return cov_expr, strata


def r_form_text(cov: str | None, strata: list[str]) -> str:
    """The form as R deparses it: ``~1 | Sex``, ``~age``, ``~fitted(.) | g * h``.

    Examples
    --------
    >>> r_form_text(None, ["g", "h"]), r_form_text("age", [])
    ('~1 | g * h', '~age')
    """
    text = "~" + (cov if cov is not None else "1")
    return text + (" | " + " * ".join(strata) if strata else "")


def numeric_covariate(expr: str | rlang.Node, data: pd.DataFrame, cls: str) -> np.ndarray:
    """The variance covariate ``expr`` evaluated on ``data``: one finite number per row, else a
    DataError / FormulaError naming ``cls`` and the covariate.

    Examples
    --------
    >>> numeric_covariate("log(x)", pd.DataFrame({"x": [1.0, np.e]}), "varPower").round(12).tolist()
    [0.0, 1.0]
    """
    if isinstance(expr, rlang.Node):
        node, expr = expr, expr.deparse()
    else:
        try:
            node = rlang.parse(expr)
        except FormulaError as exc:
            raise FormulaError(f"{cls}: cannot parse the covariate {expr!r}: {exc}") from exc
    v = evaluate(node, EvalContext(data))
    if isinstance(v, Fac):
        raise DataError(f"{cls}: the covariate {expr!r} is a factor; a variance covariate must be numeric")
    values = np.broadcast_to(np.asarray(v.values if isinstance(v, Num) else v, dtype=float), (len(data),))
    if values.ndim != 1:
        raise DataError(f"{cls}: the covariate {expr!r} must be one numeric vector")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(f"{cls}: the covariate {expr!r} is missing or not finite in row {bad[0]} "
                        f"(0-based; {bad.size} such rows)")
    return values.astype(float, copy=True)


def stratum_labels(strata: list[str] | list[rlang.Node], data: pd.DataFrame, cls: str) -> tuple[np.ndarray, list[str]]:
    """Per-row stratum codes and the labels (crossed strata joined by ``*``) in order of first appearance.

    Examples
    --------
    >>> codes, labels = stratum_labels(["g"], pd.DataFrame({"g": ["b", "a", "b"]}), "varIdent")
    >>> codes.tolist(), labels
    ([0, 1, 0], ['b', 'a'])
    """
    ctx = EvalContext(data)
    per_var: list[np.ndarray] = []
    for expr in strata:
        node = expr if isinstance(expr, rlang.Node) else rlang.parse(expr)
        expr = node.deparse()
        v = evaluate(node, ctx)
        if isinstance(v, Fac):
            codes = np.asarray(v.codes)
            if (codes < 0).any():
                raise DataError(f"{cls}: the strata variable {expr!r} is missing in row "
                                f"{int(np.flatnonzero(codes < 0)[0])} (0-based)")
            lab = np.asarray(v.levels, dtype=object)[codes]
        else:
            vals = np.broadcast_to(np.asarray(v.values if isinstance(v, Num) else v, dtype=float),
                                   (len(data),))
            if np.isnan(vals).any():
                raise DataError(f"{cls}: the strata variable {expr!r} is missing in row "
                                f"{int(np.flatnonzero(np.isnan(vals))[0])} (0-based)")
            if isinstance(v, Num) and v.logical:
                lab = np.where(vals != 0, "TRUE", "FALSE").astype(object)
            else:
                uniq, inv = np.unique(vals, return_inverse=True)
                integer = bool(isinstance(v, Num) and v.integer)
                lab = np.asarray(labels_for(uniq, integer=integer), dtype=object)[inv]
        per_var.append(lab.astype(str))
    combined = per_var[0]
    for lab in per_var[1:]:
        combined = np.char.add(np.char.add(combined, "*"), lab)
    codes, uniques = pd.factorize(pd.Series(combined), sort=False)
    return np.asarray(codes, dtype=np.int64), [str(u) for u in uniques]


# --------------------------------------------------------------------------------------------
# value / fixed handling


def as_scalar_or_dict(value: Value, what: str, cls: str, allow_dict: bool) -> float | dict[str, float] | None:
    """None, a float, or a dict label -> float (a length-one sequence is a scalar).

    Examples
    --------
    >>> as_scalar_or_dict([0.5], "value", "varPower", False), as_scalar_or_dict({"a": 2}, "value", "varIdent", True)
    (0.5, {'a': 2.0})
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        if not allow_dict:
            raise DataError(f"{cls}: {what} has stratum names {list(value)} but the form has no strata")
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, pd.Series):
        return as_scalar_or_dict(dict(value.items()), what, cls, allow_dict)
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.size == 0:
        return None
    if arr.size > 1:
        raise DataError(f"{cls}: {what} {arr.tolist()} must be a single number or a dict stratum -> value "
                        "(nlme: initial values must have group names)")
    return float(arr[0])


def check_stratum_names(d: Mapping[str, float], labels: list[str], what: str, cls: str) -> None:
    """A DataError when a key of ``d`` is not one of the strata ``labels``.

    Examples
    --------
    >>> check_stratum_names({"a": 1.0}, ["a", "b"], "value", "varIdent")
    """
    unknown = [k for k in d if k not in labels]
    if unknown:
        raise DataError(f"{cls}: {what} names {unknown} are not strata labels; the strata are {labels}")


def check_positive(values: Mapping[str, float] | float | None, what: str, cls: str) -> None:
    """A DataError when a value (or a stratum's value) is not a finite positive number.

    Examples
    --------
    >>> check_positive({"a": 1.0, "b": 2.0}, "value", "varIdent")
    """
    items = values.items() if isinstance(values, Mapping) else [("", values)] if values is not None else []
    for k, v in items:
        if not (np.isfinite(v) and v > 0):
            raise DataError(f"{cls}: {what}{' for stratum ' + repr(k) if k else ''} must be > 0, not {v}")


class BoundVarFunc:
    """A variance function bound to the model's rows: parameters, their scales and the weights.

    Attributes
    ----------
    kind : str
        nlme's class name (``"varIdent"``, ...).
    names : list of str
        R's ``names(coef(vf, unconstrained = FALSE))``: the free parameters (not the fixed ones, not
        varIdent's reference stratum).  ``n_free == len(names)``.
    all_names : list of str
        R's ``coef(vf, unconstrained = FALSE, allCoef = TRUE)`` names (fixed ones and varIdent's reference
        stratum included; varConstPower's matrix flattened as ``const.<s>`` then ``power.<s>``).
    start : numpy.ndarray
        nlme's starting values of the free parameters on the unconstrained scale (``coef(vf)``).
    uses_fitted : bool
        True when a covariate is ``fitted(.)``: :meth:`weights` then needs the current fitted values.
    group_names : list of str or None
        nlme's ``attr(vf, "groupNames")`` (strata in nlme's order), None without strata.
    formula : str
        The form as R prints it (``"~fitted(.) | g"``); ``structure`` is nlme's description.
    """

    def __init__(self, kind: str, all_names: list[str], full_start: np.ndarray, free: np.ndarray,
                 is_log: np.ndarray, weight_fn, uses_fitted: bool, group_names: list[str] | None,
                 formula: str, structure: str, n_rows: int):
        self.kind = kind
        self.all_names = list(all_names)
        self._full_start = np.asarray(full_start, dtype=float)
        self._free = np.asarray(free, dtype=bool)
        self._is_log = np.asarray(is_log, dtype=bool)
        self._weight_fn = weight_fn
        self.uses_fitted = uses_fitted
        self.group_names = group_names
        self.formula = formula
        self.structure = structure
        self.n_rows = n_rows
        self.names = [n for n, f in zip(self.all_names, self._free) if f]
        self.n_free = int(self._free.sum())
        fs = self._full_start[self._free]
        self.start = np.where(self._is_log[self._free], np.log(np.where(fs > 0, fs, 1.0)), fs)

    def __reduce__(self):
        """Pickle as the unbound specification and the rows it was bound to; unpickling binds again."""
        recipe = getattr(self, "_recipe", None)
        if recipe is None:
            raise TypeError(f"{self.kind}: a variance function built without its specification cannot be pickled")
        return (_rebind, recipe)

    def _full(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float).reshape(-1)
        if u.size != self.n_free:
            raise ValueError(f"{self.kind}: expected {self.n_free} unconstrained parameters, got {u.size}")
        full = self._full_start.copy()
        logs = self._is_log[self._free]
        with np.errstate(over="ignore"):          # unbounded log parameters: exp() saturates at inf
            full[self._free] = np.where(logs, np.exp(u), u)
        return full

    def natural_array(self, u: np.ndarray, all_coef: bool = True) -> np.ndarray:
        """Parameters on the natural scale in R's order (``allCoef = TRUE`` unless ``all_coef=False``)."""
        full = self._full(u)
        return full if all_coef else full[self._free]

    def natural(self, u: np.ndarray, all_coef: bool = True) -> dict[str, float]:
        """``dict(name -> value)``: R's ``coef(vf, FALSE, allCoef = all_coef)`` at unconstrained ``u``."""
        names = self.all_names if all_coef else self.names
        return dict(zip(names, self.natural_array(u, all_coef).tolist()))

    def unconstrained(self, natural: Mapping[str, float]) -> np.ndarray:
        """The inverse of :meth:`natural` for the free parameters (``coef(vf)`` from natural values)."""
        vals = np.array([float(natural[n]) for n in self.names])
        logs = self._is_log[self._free]
        vals[logs] = np.log(vals[logs])
        return vals

    def weights(self, u: np.ndarray, fitted: np.ndarray | None = None) -> np.ndarray:
        """nlme's ``varWeights``: one weight per row, 1 / (standard-deviation multiplier)."""
        if self.uses_fitted:
            if fitted is None:
                raise ValueError(f"{self.kind} with form {self.formula!r} needs the current fitted values")
            fitted = np.asarray(fitted, dtype=float).reshape(-1)
            if fitted.size != self.n_rows:
                raise ValueError(f"{self.kind}: {fitted.size} fitted values for {self.n_rows} rows")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._weight_fn(self._full(u), fitted)

    def log_weights_sum(self, u: np.ndarray, fitted: np.ndarray | None = None) -> float:
        """``sum(log(weights))``, the term nlme's ``logLik`` adds for the variance function."""
        return float(np.sum(np.log(self.weights(u, fitted))))

    def __repr__(self) -> str:
        return f"<bound {self.kind} {self.formula} with {self.n_free} free parameters {self.names}>"


def _rebind(spec, data: pd.DataFrame) -> BoundVarFunc:
    """Unpickling a :class:`BoundVarFunc`: bind its specification to the same rows again."""
    return spec.bind(data)
