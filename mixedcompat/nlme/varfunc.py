"""nlme's variance functions (varIdent, varPower, varExp, varConstPower, varFixed, varComb) for lme and gls.

A constructor call such as ``varPower(form="~ fitted(.) | g")`` is an *unbound* specification, like the
object R's ``varPower()`` returns before ``Initialize``.  :meth:`VarFunc.bind` attaches it to the model's
rows (in the order the model uses them) and returns a :class:`BoundVarFunc`: a pure description of the
parameters and the weights, with nlme's parameterisation.

Parameters and scales (as nlme's ``coef(vf)`` / ``coef(vf, unconstrained = FALSE)``)
----------------------------------------------------------------------------------
=============  ===================================  ==========================  ==========================
class          weight of row i (1 / sd multiplier)   unconstrained parameter     natural names
=============  ===================================  ==========================  ==========================
varIdent       1 / ratio[s_i] (reference ratio 1)    log(ratio)                  stratum labels (not ref.)
varPower       1 / abs(v_i) ** power[s_i]            power                       ``power`` or stratum labels
varExp         exp(-expon[s_i] * v_i)                expon                       ``expon`` or stratum labels
varConstPower  1 / (const[s] + abs(v_i) ** power[s]) log(const), power           ``const``, ``power`` or
                                                                                 ``const.<s>``, ``power.<s>``
varFixed       1 / sqrt(v_i)                         (none)                      (none)
varComb        product of its components' weights    concatenation               ``A.<name>``, ``B.<name>``
=============  ===================================  ==========================  ==========================

Starting values are nlme's defaults and never depend on the data: ratios 1, powers and exponents 0,
``const`` 0.1 (checked in R with ``lme(..., control = lmeControl(maxIter = 0, msMaxIter = 0))``).
For ``fitted(.)`` covariates nlme's gls starts from the unweighted (OLS) fitted values; the caller supplies
the fitted values to :meth:`BoundVarFunc.weights`.

Strata and their order (nlme 3.1-162, found by experiment)
---------------------------------------------------------
Stratum labels are R's ``as.character`` of the strata variables, joined with ``*`` for ``~ 1 | a * b``
(``"b*u"``).  Their order is the order of first appearance **in the data rows**, not the factor levels:
Orthodont sorted Female-first gives a ``Male`` parameter.  (lme, and gls with a correlation structure,
sort the rows by group before nlme initialises the variance function, so bind on the rows in that order.)
varIdent's reference stratum is the first stratum in that order that is not named in a multi-valued
``value`` or in ``fixed``; then come the strata named in ``value`` (in the dict's order), the other free
strata in data order, and the ``fixed`` strata (in the dict's order).  varPower / varExp put the strata
named in a ``value`` dict first (dict order), then the others in data order; varConstPower keeps data order.

Deliberate differences from nlme
--------------------------------
* A dict ``value`` / ``fixed`` is always matched **by name**.  nlme silently ignores the names of a
  length-one ``value`` (``varIdent(c(Male = 0.5), ~ 1 | Sex)`` sets *Female* to 0.5 and, with more strata,
  recycles it to every stratum), assigns named ``fixed`` powers and varConstPower's named ``const`` /
  ``power`` by position, and for varPower with both a multi-valued ``value`` and ``fixed`` gives the values
  to the wrong strata.  A scalar ``value`` is recycled to every free stratum exactly as in nlme.
* varIdent refuses a stratum with a single observation (:class:`DataError`): nlme fits it, but the ratio
  of that stratum is confounded with its one residual and is not identifiable.
* varPower refuses a covariate equal to 0 (nlme 3.1-162 aborts with "R_Calloc could not allocate memory");
  varFixed refuses a covariate <= 0 (nlme stops with "computed gls fit is singular").
* varPower uses ``abs(v)`` everywhere, as nlme's fitting code does (nlme's ``Initialize`` alone returns NaN
  weights for negative covariates with non-integer powers until the coefficients are set).

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"x": [1.0, 2.0, 4.0], "g": ["b", "a", "b"]})
>>> bv = varPower(0.5, form="~ x").bind(d)
>>> bv.names, bv.weights(bv.start).round(4).tolist()
(['power'], [1.0, 0.7071, 0.5])
"""
from __future__ import annotations

import string
from typing import Mapping

import numpy as np
import pandas as pd

from mixedcompat.errors import DataError, FormulaError

__all__ = ["VarFunc", "BoundVarFunc", "varIdent", "varPower", "varExp", "varConstPower", "varFixed",
           "varComb"]
from mixedcompat.nlme.var_bound import (FITTED, Value, var_form_nodes, var_form_texts, r_form_text, numeric_covariate, stratum_labels, as_scalar_or_dict, check_stratum_names, check_positive, BoundVarFunc)


# --------------------------------------------------------------------------------------------
# unbound specifications


class VarFunc:
    """An unbound nlme variance function; :meth:`bind` attaches it to the model's rows."""

    kind = "varFunc"
    default_form = "~ 1"

    def __init__(self, form: str | None = None):
        self.form = self.default_form if form is None else form
        self._cov_node, self._strata_nodes = var_form_nodes(self.form, self.kind)
        self.covariate, self.strata = var_form_texts(self._cov_node, self._strata_nodes)

    @property
    def uses_fitted(self) -> bool:
        return self.covariate == FITTED

    def _covariate(self, data: pd.DataFrame):
        """Per-row covariate getter: ``fn(fitted) -> v`` (fitted(.) is read at weight time)."""
        if self.covariate == FITTED:
            return lambda fitted: fitted
        if self.covariate is None:
            ones = np.ones(len(data))
            return lambda fitted: ones
        values = numeric_covariate(self._cov_node, data, self.kind)
        self._check_covariate(values)
        return lambda fitted: values

    def _check_covariate(self, values: np.ndarray) -> None:
        """Subclasses refuse covariate values that make nlme fail."""

    def _strata(self, data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        if not self.strata:
            return np.zeros(len(data), dtype=np.int64), []
        return stratum_labels(self._strata_nodes, data, self.kind)

    def bind(self, data: pd.DataFrame) -> BoundVarFunc:
        """Bind to ``data``: the model's rows in the model's row order (nlme's ``Initialize``).

        The bound function remembers this specification and ``data``: it pickles as them and binds
        again when unpickled (its weight function is a closure over the data)."""
        bound = self._bind(data)
        bound._recipe = (self, data)
        return bound

    def _bind(self, data: pd.DataFrame) -> BoundVarFunc:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.kind}(form = {r_form_text(self.covariate, self.strata)})"


class varIdent(VarFunc):
    """nlme's ``varIdent(value, form = ~ 1 | g, fixed)``: a standard deviation ratio per stratum.

    R equivalent: ``nlme::varIdent(form = ~ 1 | Sex)``, as in ``gls(distance ~ age, Orthodont, weights = varIdent(form = ~ 1 | Sex))``.

    A stratum with one observation is refused with :class:`DataError` (nlme fits it, but its ratio is
    not identifiable).

    Parameters
    ----------
    value : float or dict, optional
        Initial ratios sd(stratum) / sd(reference).  A number is used for every free stratum (as nlme);
        a dict ``{label: ratio}`` sets the named strata (matched by name, see the module docstring).
    form : str
        ``"~ 1 | g"`` or ``"~ 1 | a * b"`` (strata = the interaction, labels ``"a1*b1"``).  A covariate
        left of ``|`` is ignored, as in nlme.
    fixed : dict, optional
        ``{label: ratio}`` held fixed.

    Examples
    --------
    >>> d = pd.DataFrame({"g": ["m", "f", "m", "f"]})
    >>> bv = varIdent(form="~ 1 | g").bind(d)
    >>> bv.names, bv.all_names, bv.start.tolist()
    (['f'], ['m', 'f'], [0.0])
    >>> import mixedcompat as mc
    >>> g = mc.gls("distance ~ age", mc.datasets.load("Orthodont"), weights=mc.varIdent(form="~ 1 | Sex"))
    >>> {k: round(v, 3) for k, v in g.var_params.items()}
    {'Female': 1.049}
    """

    kind = "varIdent"
    default_form = "~ 1"

    def __init__(self, value: Value = None, form: str = "~ 1", fixed: Mapping[str, float] | None = None):
        super().__init__(form)
        self.value = as_scalar_or_dict(value, "value", self.kind, allow_dict=True)
        if fixed is not None and not isinstance(fixed, Mapping):
            raise DataError("varIdent: fixed parameters must have names: give a dict {stratum: ratio} "
                            "(nlme: fixed parameters must have names in 'varIdent')")
        self.fixed = {str(k): float(v) for k, v in (fixed or {}).items()}
        check_positive(self.value, "initial value", self.kind)
        check_positive(self.fixed, "fixed value", self.kind)

    def _bind(self, data: pd.DataFrame) -> BoundVarFunc:
        codes, labels = self._strata(data)
        struct = "Different standard deviations per stratum"
        if not labels:
            if self.value is not None or self.fixed:
                raise DataError("varIdent: value/fixed given but the form has no strata ('~ 1 | g')")
            return BoundVarFunc(self.kind, [], np.zeros(0), np.zeros(0, bool), np.zeros(0, bool),
                                lambda full, fitted: np.ones(len(data)), False, None,
                                r_form_text(None, []), struct, len(data))
        counts = np.bincount(codes, minlength=len(labels))
        if (counts == 1).any():
            solo = [labels[i] for i in np.flatnonzero(counts == 1)]
            raise DataError(f"varIdent: stratum {solo[0]!r} of {' * '.join(self.strata)} has a single "
                            "observation; its variance ratio is not identifiable")
        check_stratum_names(self.fixed, labels, "fixed", self.kind)
        named = self.value if isinstance(self.value, dict) else {}
        check_stratum_names(named, labels, "value", self.kind)
        clash = [k for k in named if k in self.fixed]
        if clash:
            raise DataError(f"varIdent: strata {clash} are both in value and fixed")
        rest = [s for s in labels if s not in named and s not in self.fixed]
        if not rest:
            raise DataError("varIdent: value and fixed name every stratum; one stratum must be left "
                            "as the reference (ratio 1)")
        order = [rest[0]] + list(named) + rest[1:] + list(self.fixed)
        scalar = self.value if isinstance(self.value, float) else 1.0
        full = np.array([1.0] + [named.get(s, scalar) for s in order[1:len(order) - len(self.fixed)]]
                        + list(self.fixed.values()))
        free = np.array([False] + [True] * (len(order) - 1 - len(self.fixed)) + [False] * len(self.fixed))
        pos = {s: i for i, s in enumerate(order)}
        row_param = np.array([pos[labels[c]] for c in range(len(labels))])[codes]
        return BoundVarFunc(self.kind, order, full, free, np.ones(len(order), bool),
                            lambda full, fitted: 1.0 / full[row_param], False, order,
                            r_form_text(None, self.strata), struct, len(data))

    def __repr__(self) -> str:
        return f"varIdent(form = {r_form_text(None, self.strata)})"


class _StrataParam(VarFunc):
    """varPower / varExp: one parameter, or one per stratum (named by the stratum labels)."""

    param_name = ""
    description = ""

    def __init__(self, value: Value = None, form: str = "~ fitted(.)", fixed: Value = None):
        super().__init__(form)
        self.value = as_scalar_or_dict(value, "value", self.kind, allow_dict=bool(self.strata))
        self.fixed = as_scalar_or_dict(fixed, "fixed", self.kind, allow_dict=bool(self.strata))
        if self.strata and isinstance(self.fixed, float):
            raise DataError(f"{self.kind}: with strata, fixed must be a dict {{stratum: value}} "
                            f"(nlme: fixed parameters must have group names in '{self.kind}')")

    def _row_weights(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _bind(self, data: pd.DataFrame) -> BoundVarFunc:
        cov = self._covariate(data)
        codes, labels = self._strata(data)
        struct = self.description + (", different strata" if labels else "")
        if not labels:
            names = [self.param_name]
            fixed = self.fixed is not None
            full = np.array([self.fixed if fixed else (self.value if self.value is not None else 0.0)])
            free = np.array([not fixed])
            row_param = np.zeros(len(data), dtype=np.int64)
        else:
            named = self.value if isinstance(self.value, dict) else {}
            fixed_d = self.fixed if isinstance(self.fixed, dict) else {}
            check_stratum_names(named, labels, "value", self.kind)
            check_stratum_names(fixed_d, labels, "fixed", self.kind)
            clash = [k for k in named if k in fixed_d]
            if clash:
                raise DataError(f"{self.kind}: strata {clash} are both in value and fixed")
            names = list(named) + [s for s in labels if s not in named]
            scalar = self.value if isinstance(self.value, float) else 0.0
            full = np.array([fixed_d.get(s, named.get(s, scalar)) for s in names])
            free = np.array([s not in fixed_d for s in names])
            pos = {s: i for i, s in enumerate(names)}
            row_param = np.array([pos[s] for s in labels])[codes]
        fn = lambda full, fitted: self._row_weights(full[row_param], cov(fitted))  # noqa: E731
        return BoundVarFunc(self.kind, names, full, free, np.zeros(len(names), bool), fn, self.uses_fitted,
                            names if labels else None, r_form_text(self.covariate, self.strata), struct,
                            len(data))

    def __repr__(self) -> str:
        return f"{self.kind}(form = {r_form_text(self.covariate, self.strata)})"


class varPower(_StrataParam):
    """nlme's ``varPower(value, form = ~ fitted(.), fixed)``: sd multiplier ``abs(v) ** power``.

    R equivalent: ``nlme::varPower(form = ~ fitted(.))``, as in ``gls(y ~ x, d, weights = varPower(form = ~ x))``.

    ``value`` / ``fixed``: a number, or with strata (``"~ x | g"``) a dict ``{stratum: power}``; a number
    ``value`` is used for every stratum.  The unconstrained parameter is the power itself.  A covariate
    equal to 0 is refused (:class:`DataError`); negative covariates enter through ``abs``.

    Parameters
    ----------
    value : float or dict, optional
        Initial power: a number (for every stratum), or with strata a dict ``{stratum: power}``
        (matched by name); default 0, nlme's.
    form : str, optional
        ``"~ v"`` or ``"~ v | g"``: the variance covariate ``v`` (default ``"~ fitted(.)"``, the
        fitted values) and optional strata ``g`` with a parameter each.
    fixed : float or dict, optional
        Powers held fixed instead of estimated: a number, or a dict ``{stratum: power}``.

    Examples
    --------
    >>> d = pd.DataFrame({"x": [1.0, 4.0, 9.0, 16.0], "g": ["a", "a", "b", "b"]})
    >>> bv = varPower({"b": 0.5}, form="~ x | g").bind(d)
    >>> bv.names, bv.weights(bv.start).tolist()
    (['b', 'a'], [1.0, 1.0, 0.3333333333333333, 0.25])
    >>> import mixedcompat as mc
    >>> g = mc.gls("distance ~ age", mc.datasets.load("Orthodont"), weights=mc.varPower(form="~ age"))
    >>> round(g.var_params["power"], 3)
    0.319
    """

    kind = "varPower"
    default_form = "~ fitted(.)"
    param_name = "power"
    description = "Power of variance covariate"

    def _check_covariate(self, values: np.ndarray) -> None:
        zero = np.flatnonzero(values == 0)
        if zero.size:
            raise DataError(f"varPower: the covariate {self.covariate!r} is 0 in row {zero[0]} (0-based; "
                            f"{zero.size} such rows): abs(v) ** power gives infinite or zero weights "
                            "(nlme aborts on such data)")

    def _row_weights(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.abs(v) ** (-p)


class varExp(_StrataParam):
    """nlme's ``varExp(value, form = ~ fitted(.), fixed)``: sd multiplier ``exp(expon * v)``.

    R equivalent: ``nlme::varExp(form = ~ fitted(.))``.

    The unconstrained parameter is the exponent itself; names ``expon`` or the stratum labels.

    Parameters
    ----------
    value : float or dict, optional
        Initial expon: a number (for every stratum), or with strata a dict ``{stratum: expon}``
        (matched by name); default 0, nlme's.
    form : str, optional
        ``"~ v"`` or ``"~ v | g"``: the variance covariate ``v`` (default ``"~ fitted(.)"``, the
        fitted values) and optional strata ``g`` with a parameter each.
    fixed : float or dict, optional
        Exponents held fixed instead of estimated: a number, or a dict ``{stratum: expon}``.

    Examples
    --------
    >>> bv = varExp(0.5, form="~ x").bind(pd.DataFrame({"x": [0.0, 2.0]}))
    >>> bv.natural(bv.start), bv.weights(bv.start).round(4).tolist()
    ({'expon': 0.5}, [1.0, 0.3679])
    >>> import mixedcompat as mc
    >>> g = mc.gls("distance ~ age", mc.datasets.load("Orthodont"), weights=mc.varExp(form="~ age"))
    >>> round(g.var_params["expon"], 4)
    0.0312
    """

    kind = "varExp"
    default_form = "~ fitted(.)"
    param_name = "expon"
    description = "Exponential of variance covariate"

    def _row_weights(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.exp(-p * v)


class varConstPower(VarFunc):
    """nlme's ``varConstPower(const, power, form = ~ fitted(.), fixed)``: sd multiplier ``const + abs(v) ** power``.

    R equivalent: ``nlme::varConstPower(form = ~ fitted(.))``.

    Unconstrained parameters: ``log(const)`` for every stratum, then ``power`` for every stratum (names
    ``const``, ``power``, or ``const.<s>``, ``power.<s>`` with strata in data order).  Defaults: const 0.1,
    power 0.  ``fixed={"const": 1.5}`` or ``{"power": {"a": 0.5}}``.

    Parameters
    ----------
    const : float or dict, optional
        Initial ``const`` (> 0; default 0.1), or with strata a dict ``{stratum: const}``.
    power : float or dict, optional
        Initial ``power`` (default 0), or with strata a dict ``{stratum: power}``.
    form : str, optional
        ``"~ v"`` or ``"~ v | g"``: the variance covariate (default ``"~ fitted(.)"``) and strata.
    fixed : dict, optional
        Parameters held fixed: ``{"const": 1.5}``, ``{"power": {"a": 0.5}}``.

    Examples
    --------
    >>> bv = varConstPower(form="~ x").bind(pd.DataFrame({"x": [1.0, 2.0]}))
    >>> bv.names, bv.natural_array(bv.start).round(12).tolist()
    (['const', 'power'], [0.1, 0.0])
    """

    kind = "varConstPower"
    default_form = "~ fitted(.)"

    def __init__(self, const: Value = None, power: Value = None, form: str = "~ fitted(.)",
                 fixed: Mapping[str, Value] | None = None):
        super().__init__(form)
        has = bool(self.strata)
        self.const = as_scalar_or_dict(const, "const", self.kind, allow_dict=has)
        self.power = as_scalar_or_dict(power, "power", self.kind, allow_dict=has)
        if fixed is not None and not isinstance(fixed, Mapping):
            raise DataError("varConstPower: fixed must be a dict with keys 'const' and/or 'power'")
        bad = [k for k in (fixed or {}) if k not in ("const", "power")]
        if bad:
            raise DataError(f"varConstPower: fixed names {bad} must be 'const' and/or 'power'")
        self.fixed = {k: as_scalar_or_dict(v, f"fixed {k}", self.kind, allow_dict=has)
                      for k, v in (fixed or {}).items()}
        check_positive(self.const, "const", self.kind)
        check_positive(self.fixed.get("const"), "fixed const", self.kind)

    def _bind(self, data: pd.DataFrame) -> BoundVarFunc:
        cov = self._covariate(data)
        codes, labels = self._strata(data)
        strata = labels or [None]
        all_names, full, free, is_log = [], [], [], []
        for part, init, default in (("const", self.const, 0.1), ("power", self.power, 0.0)):
            fx = self.fixed.get(part)
            for d in (init, fx):
                if isinstance(d, dict):
                    check_stratum_names(d, labels, part, self.kind)
            for s in strata:
                all_names.append(part if s is None else f"{part}.{s}")
                is_log.append(part == "const")
                if isinstance(fx, float) or (isinstance(fx, dict) and s in fx):
                    full.append(fx if isinstance(fx, float) else fx[s])
                    free.append(False)
                else:
                    full.append(init.get(s, default) if isinstance(init, dict)
                                else (init if init is not None else default))
                    free.append(True)
        k = len(strata)
        fn = lambda full, fitted: 1.0 / (full[:k][codes] + np.abs(cov(fitted)) ** full[k:][codes])  # noqa: E731
        struct = "Constant plus power of variance covariate" + (", different strata" if labels else "")
        return BoundVarFunc(self.kind, all_names, np.array(full), np.array(free), np.array(is_log), fn,
                            self.uses_fitted, labels or None, r_form_text(self.covariate, self.strata),
                            struct, len(data))


class varFixed(VarFunc):
    """nlme's ``varFixed(value = ~ x)``: variance proportional to a positive covariate, no parameters.

    R equivalent: ``nlme::varFixed(~ x)``, as in ``gls(y ~ x, d, weights = varFixed(~ x))``.

    Weights are ``1 / sqrt(x)``; a covariate <= 0 is refused.  Strata after ``|`` are ignored with a
    warning by nlme; here they are an error.

    Parameters
    ----------
    value : str
        ``"~ x"``: the covariate the variance is proportional to (> 0 in every row; not
        ``fitted(.)``, use ``varPower(fixed=0.5)``).

    Examples
    --------
    >>> varFixed("~ x").bind(pd.DataFrame({"x": [1.0, 4.0]})).weights(np.zeros(0)).tolist()
    [1.0, 0.5]
    >>> import mixedcompat as mc
    >>> g = mc.gls("distance ~ age", mc.datasets.load("Orthodont"), weights=mc.varFixed("~ age"))
    >>> round(mc.sigma(g), 4)
    0.7707
    """

    kind = "varFixed"

    def __init__(self, value: str = "~ 1"):
        super().__init__(value)
        if self.strata:
            raise FormulaError(f"varFixed: strata ('| {' * '.join(self.strata)}') are not allowed in "
                               f"{value!r} (nlme ignores them)")
        if self.covariate == FITTED:
            raise FormulaError("varFixed: the covariate cannot be fitted(.); use varPower(fixed = 0.5)")

    def _check_covariate(self, values: np.ndarray) -> None:
        bad = np.flatnonzero(values <= 0)
        if bad.size:
            raise DataError(f"varFixed: the covariate {self.covariate!r} must be > 0; it is {values[bad[0]]} "
                            f"in row {bad[0]} (0-based; {bad.size} such rows)")

    def _bind(self, data: pd.DataFrame) -> BoundVarFunc:
        cov = self._covariate(data)
        return BoundVarFunc(self.kind, [], np.zeros(0), np.zeros(0, bool), np.zeros(0, bool),
                            lambda full, fitted: 1.0 / np.sqrt(cov(fitted)), False, None,
                            r_form_text(self.covariate, []), "fixed weights", len(data))


class varComb(VarFunc):
    """nlme's ``varComb(...)``: the product of variance functions.

    R equivalent: ``nlme::varComb(varIdent(form = ~ 1 | g), varPower(form = ~ x))``.

    Names are prefixed by the component's letter: ``A.<name>``, ``B.<name>`` (``coef(varComb, FALSE)``).

    Parameters
    ----------
    *varfuncs : VarFunc
        The variance functions multiplied (at least one; not a varComb); their parameters are
        estimated together.

    Examples
    --------
    >>> d = pd.DataFrame({"x": [1.0, 4.0, 9.0, 16.0], "g": ["a", "b", "a", "b"]})
    >>> bv = varComb(varIdent(form="~ 1 | g"), varPower(form="~ x")).bind(d)
    >>> bv.names, bv.all_names
    (['A.b', 'B.power'], ['A.a', 'A.b', 'B.power'])
    >>> import mixedcompat as mc
    >>> vf = mc.varComb(mc.varIdent(form="~ 1 | Sex"), mc.varPower(form="~ age"))
    >>> g = mc.gls("distance ~ age", mc.datasets.load("Orthodont"), weights=vf)
    >>> sorted(g.var_params)
    ['A.Female', 'B.power']
    """

    kind = "varComb"

    def __init__(self, *varfuncs: VarFunc):
        if not varfuncs:
            raise FormulaError("varComb needs at least one variance function")
        for i, vf in enumerate(varfuncs):
            if not isinstance(vf, VarFunc) or isinstance(vf, varComb):
                raise FormulaError(f"varComb: argument {i + 1} ({vf!r}) must be a variance function "
                                   "other than varComb")
        if len(varfuncs) > 26:
            raise FormulaError("varComb: at most 26 variance functions")
        self.varfuncs = tuple(varfuncs)

    @property
    def uses_fitted(self) -> bool:
        return any(vf.uses_fitted for vf in self.varfuncs)

    def _bind(self, data: pd.DataFrame) -> BoundVarFunc:
        parts = [vf.bind(data) for vf in self.varfuncs]
        all_names, full, free, is_log, slices = [], [], [], [], []
        at = 0
        for letter, bv in zip(string.ascii_uppercase, parts):
            all_names += [f"{letter}.{n}" for n in bv.all_names]
            full.append(bv._full_start)
            free.append(bv._free)
            is_log.append(bv._is_log)
            slices.append(slice(at, at + len(bv.all_names)))
            at += len(bv.all_names)

        def fn(full_all: np.ndarray, fitted):
            w = np.ones(len(data))
            for bv, sl in zip(parts, slices):
                w = w * bv._weight_fn(full_all[sl], fitted)
            return w
        return BoundVarFunc(self.kind, all_names, np.concatenate(full), np.concatenate(free),
                            np.concatenate(is_log), fn, self.uses_fitted, None,
                            "; ".join(bv.formula for bv in parts), "Combination of variance functions",
                            len(data))

    def __repr__(self) -> str:
        return "varComb(" + ", ".join(repr(vf) for vf in self.varfuncs) + ")"
