"""Correlation structures for lme() and gls(): nlme's corAR1, corCAR1, corARMA, corCompSymm, corSymm, spatial.

A constructor (``corAR1(value=0.5, form="~ t | g")``) is an unbound specification, like an
uninitialised ``corStruct`` in R.  ``spec.bind(data)`` plays the role of nlme's ``Initialize``: it reads
positions and groups from the data, checks them, fills in the initial value and returns a
:class:`BoundCorStruct`, which maps the unconstrained parameters (nlme's own transformation, so that
``intervals()`` works on nlme's scale) to correlation matrices and whitens blocks of rows.

Behaviours taken from nlme 3.1-162 by experiment:

* ``corAR1`` whose positions do not step by exactly 1 (in row order) inside some group becomes a
  ``corARMA(p=1)`` (coefficient name ``"Phi1"``); the correlation is ``phi ** |t_i - t_j|``.
* Non-integer positions for corAR1 / corARMA are silently truncated by nlme's C code (reading
  uninitialised memory); here they are an error.  corSymm positions must be the integers 1..K.
* Spatial classes refuse zero distances, with or without a nugget; the default range is
  0.9 * (smallest distance) (1.1 * for corSpher / corLin, whose unconstrained range is
  ``log(range - minD)``); the default nugget is 0.1.

Examples
--------
>>> import pandas as pd
>>> cs = corAR1(0.5, form="~ 1 | g").bind(pd.DataFrame({"g": ["a", "a", "b"]}))
>>> cs.names, cs.natural(cs.start)
(['Phi'], array([0.5]))
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd


from mixedcompat.errors import DataError, FormulaError

__all__ = ["corAR1", "corCAR1", "corARMA", "corCompSymm", "corSymm", "corExp", "corGaus", "corSpher",
           "corLin", "corRatio", "CorStruct", "BoundCorStruct", "CorForm", "parse_cor_form"]

from mixedcompat.nlme.cor_bound import (BoundCorStruct, arma_acf, coef_to_pacf, cor_to_spherical, expit, log_expit, logit,
                                         pacf_to_coef, spherical_to_cor, symm_pairs)

_NAME = re.compile(r"^[A-Za-z.][A-Za-z0-9._]*$|^`[^`]+`$")


# ----------------------------------------------------------------------------------------- form
@dataclass(frozen=True)
class CorForm:
    """A parsed ``form``: covariate column names (empty for ``~ 1``) and grouping columns (``a/b`` -> both).

    Examples
    --------
    >>> parse_cor_form("~ x + y | a/b")
    CorForm(covariates=('x', 'y'), groups=('a', 'b'), text='~ x + y | a/b')
    """

    covariates: tuple[str, ...]
    groups: tuple[str, ...]
    text: str


def _names(part: str, what: str, sep: str, form: str) -> tuple[str, ...]:
    tokens = [t.strip() for t in part.split(sep)]
    for t in tokens:
        if not _NAME.match(t):
            raise FormulaError(f"bad {what} {t!r} in correlation form {form!r}: use column names "
                               f"(covariates joined by '+', nested groups by '/')")
    return tuple(t.strip("`") for t in tokens)


def parse_cor_form(form: str) -> CorForm:
    """Parse ``"~ 1"``, ``"~ t"``, ``"~ x + y | g"``, ``"~ 1 | a/b"`` into a :class:`CorForm`.

    Examples
    --------
    >>> parse_cor_form("~t|g").covariates
    ('t',)
    """
    if not isinstance(form, str):
        raise FormulaError(f"correlation form must be a string like '~ t | g', not {form!r}")
    text = form.strip()
    if not text.startswith("~") or text.count("~") != 1:
        raise FormulaError(f"correlation form {form!r} must be one-sided: '~ covariate | group'")
    body = text[1:]
    if body.count("|") > 1:
        raise FormulaError(f"correlation form {form!r} has more than one '|'")
    cov_part, _, grp_part = body.partition("|")
    if not cov_part.strip():
        raise FormulaError(f"correlation form {form!r} has no covariate (use '~ 1 | g')")
    covs = () if cov_part.strip() == "1" else _names(cov_part, "covariate", "+", form)
    grps = _names(grp_part, "grouping term", "/", form) if "|" in body else ()
    return CorForm(covs, grps, "~ " + " | ".join(p.strip() for p in body.split("|")))


# --------------------------------------------------------------------------------- unbound specs
def _value_array(value, cls: str) -> Optional[np.ndarray]:
    if value is None:
        return None
    v = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    if not np.all(np.isfinite(v)):
        raise DataError(f"{cls}: value must be finite numbers, got {v.tolist()}")
    return v


class CorStruct:
    """Base class of the unbound correlation specifications (R's uninitialised ``corStruct``)."""

    class_name = "corStruct"
    _quantity = "lag"

    def __init__(self, value=None, form: str = "~ 1", fixed: bool = False):
        self.value = _value_array(value, self.class_name)
        self.form = parse_cor_form(form)
        self.fixed = bool(fixed)
        self._check_value()

    def __repr__(self) -> str:
        v = "" if self.value is None else f"value={self.value.tolist()}, "
        return f"{self.class_name}({v}form={self.form.text!r}, fixed={self.fixed})"

    def _check_value(self) -> None:
        """Checks R's constructor makes."""

    # ------------------------------------------------------------------ binding
    def _groups(self, data: pd.DataFrame, default_groups) -> tuple[np.ndarray, list[str]]:
        n = len(data)
        if self.form.groups:
            for g in self.form.groups:
                if g not in data.columns:
                    raise DataError(f"{self.class_name}: grouping column {g!r} (form {self.form.text!r}) "
                                    f"is not in the data")
                if data[g].isna().any():
                    raise DataError(f"{self.class_name}: grouping column {g!r} has missing values")
            lab = data[self.form.groups[0]].astype(str).to_numpy(dtype=object)
            for g in self.form.groups[1:]:
                lab = lab + "/" + data[g].astype(str).to_numpy(dtype=object)
            codes, labels = pd.factorize(pd.Series(lab))      # order of appearance, as nlme's getGroups
            return codes.astype(np.intp), [str(x) for x in labels]
        if default_groups is not None:
            dg = np.asarray(default_groups).ravel()
            if len(dg) != n:
                raise DataError(f"{self.class_name}: default_groups has {len(dg)} entries for {n} rows")
            labels, codes = np.unique(dg, return_inverse=True)
            return codes.astype(np.intp), [str(x) for x in labels]
        return np.zeros(n, np.intp), ["1"]

    def _column(self, data: pd.DataFrame, name: str) -> np.ndarray:
        if name not in data.columns:
            raise DataError(f"{self.class_name}: covariate {name!r} (form {self.form.text!r}) is not in the data")
        col = data[name]
        if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
            raise DataError(f"{self.class_name}: covariate {name!r} must be numeric, not {col.dtype}")
        x = col.to_numpy(dtype=float)
        if not np.all(np.isfinite(x)):
            raise DataError(f"{self.class_name}: covariate {name!r} has missing or infinite values")
        return x

    def _positions(self, data: pd.DataFrame, codes: np.ndarray) -> np.ndarray:
        """Order within group (``~ 1``) or the covariate column (several columns -> (n, d))."""
        if not self.form.covariates:
            order = np.argsort(codes, kind="stable")
            sizes = np.bincount(codes)
            starts = np.repeat(np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
            pos = np.empty(len(codes))
            pos[order] = np.arange(len(codes)) - starts + 1.0
            return pos
        cols = [self._column(data, c) for c in self.form.covariates]
        if len(cols) == 1:
            return cols[0]
        if self._quantity != "dist":
            raise FormulaError(f"{self.class_name} takes one covariate; form {self.form.text!r} has "
                               f"{len(cols)} ({' + '.join(self.form.covariates)})")
        return np.column_stack(cols)

    def _check_unique(self, pos: np.ndarray, codes: np.ndarray, labels: list[str]) -> None:
        o = np.lexsort((pos, codes))
        dup = (codes[o[1:]] == codes[o[:-1]]) & (pos[o[1:]] == pos[o[:-1]])
        if dup.any():
            i = o[1:][np.argmax(dup)]
            cov = self.form.covariates[0] if self.form.covariates else "order"
            raise DataError(f'covariate must have unique values within groups for "{self.class_name}" '
                            f"objects: {cov} = {pos[i]:g} repeats in group {labels[codes[i]]!r}")

    def _check_integer(self, pos: np.ndarray) -> None:
        bad = np.flatnonzero(pos != np.round(pos))
        if len(bad):
            raise DataError(f"{self.class_name}: covariate {self.form.covariates[0]!r} must be integer-valued "
                            f"(positions in time); row {bad[0]} has {pos[bad[0]]:g}")

    def bind(self, data: pd.DataFrame, default_groups: Optional[np.ndarray] = None) -> BoundCorStruct:
        """Initialise on the model's rows (nlme's ``Initialize``): groups, positions, checks, start values.

        Parameters
        ----------
        data : the model's rows in the model's order (after NA removal).
        default_groups : int code per row used when ``form`` has no ``| group`` (lme passes its innermost
            grouping); otherwise all rows form one group.

        Examples
        --------
        >>> import pandas as pd
        >>> corCompSymm(form="~ 1 | g").bind(pd.DataFrame({"g": [1, 1, 2, 2, 2]})).start
        array([-0.69314718])
        """
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"{self.class_name}: data must be a pandas DataFrame")
        codes, labels = self._groups(data, default_groups)
        pos = self._positions(data, codes)
        return self._bind(pos, codes, labels)

    def _make(self, pos, codes, labels, **kw) -> BoundCorStruct:
        b = BoundCorStruct(fixed=self.fixed, group_codes=codes, group_labels=labels, positions=pos,
                           form=self.form.text, **kw)
        b._recipe = (self, pos, codes, labels)
        return b

    def _bind(self, pos, codes, labels) -> BoundCorStruct:  # pragma: no cover - abstract
        raise NotImplementedError


def _power_corr(nat: np.ndarray, Q: np.ndarray) -> np.ndarray:
    return np.power(nat[0], Q)


def _exp_corr(log_phi: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """corCAR1 on the log scale: ``phi ** Q = exp(Q log phi)``, exact however small phi is."""
    return np.exp(Q * log_phi[0])


class corAR1(CorStruct):
    """Autoregressive correlation of order 1: ``phi ** |i - j|`` between the i-th and j-th rows of a group (nlme's ``corAR1``).

    R equivalent: ``nlme::corAR1(value = 0, form = ~ 1 | Mare)``, as in ``gls(follicles ~ 1, Ovary, correlation = corAR1(form = ~ 1 | Mare))``.

    The rows are taken at integer times: the position within the group, or an integer covariate in
    ``form``. The parameter phi lies in (-1, 1); nlme's unconstrained scale is ``log((1 + phi) / (1
    - phi))``.

    Parameters
    ----------
    value : float, optional
        Starting (or, with ``fixed=True``, fixed) phi, in (-1, 1); default 0 (R's).
    form : str, optional
        One-sided formula ``"~ t | g"``: an integer time covariate (default: the rows' order) and
        the grouping (correlation only within a group; ``"~ 1"``, the default, is the rows' order in
        one group). In ``lme`` the grouping defaults to the innermost random-effects grouping.
    fixed : bool, optional
        Keep the parameters at ``value`` instead of estimating them (default ``False``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> ovary = mc.datasets.load("Ovary")
    >>> g = mc.gls("follicles ~ 1", ovary, correlation=mc.corAR1(form="~ 1 | Mare"))
    >>> g.cor_params.round(2).tolist()
    [0.79]
    """

    class_name = "corAR1"

    def _check_value(self) -> None:
        if self.value is not None and (len(self.value) != 1 or abs(self.value[0]) >= 1):
            raise DataError(f"parameter in AR(1) structure must be between -1 and 1 (got {self.value.tolist()})")

    def _bind(self, pos, codes, labels):
        self._check_integer(pos)
        self._check_unique(pos, codes, labels)
        value = np.array([0.0]) if self.value is None else self.value
        o = np.argsort(codes, kind="stable")
        steps = np.diff(pos[o])[codes[o][1:] == codes[o][:-1]]
        name, cls = ("Phi", "corAR1") if np.all(steps == 1) else ("Phi1", "corARMA")
        return self._make(pos, codes, labels, class_name=cls, names=[name], value=value,
                          to_natural=lambda u: np.tanh(u / 2), to_unconstrained=lambda v: 2 * np.arctanh(v),
                          corr=_power_corr, quantity="lag", closed_form="ar1")


class corCAR1(CorStruct):
    """Continuous-time autoregressive correlation: ``phi ** |t_i - t_j|`` for real times t (nlme's ``corCAR1``).

    R equivalent: ``nlme::corCAR1(value = 0.2, form = ~ Time | Mare)``.

    The parameter phi lies in (0, 1) (nlme's unconstrained scale ``log(phi / (1 - phi))``); the
    times need not be integers or equally spaced.

    Parameters
    ----------
    value : float, optional
        Starting (or fixed) phi, in (0, 1); default 0.2 (R's).
    form : str, optional
        One-sided formula ``"~ Time | g"``: the time covariate (default: the rows' positions 1, 2,
        ...) and the grouping (correlation only within a group; ``"~ 1"``, the default, is the rows'
        order in one group). In ``lme`` the grouping defaults to the innermost random-effects
        grouping.
    fixed : bool, optional
        Keep the parameters at ``value`` instead of estimating them (default ``False``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> ovary = mc.datasets.load("Ovary")
    >>> g = mc.gls("follicles ~ 1", ovary, correlation=mc.corCAR1(form="~ Time | Mare"))
    >>> round(float(g.logLik()), 2)
    -792.16
    """

    class_name = "corCAR1"

    def _check_value(self) -> None:
        if self.value is not None and (len(self.value) != 1 or not 0 < self.value[0] < 1):
            raise DataError(f"parameter in CAR(1) structure must be between 0 and 1 (got {self.value.tolist()})")

    def _bind(self, pos, codes, labels):
        self._check_unique(pos, codes, labels)
        value = np.array([0.2]) if self.value is None else self.value
        return self._make(pos, codes, labels, class_name="corCAR1", names=["Phi"], value=value,
                          to_natural=expit, to_unconstrained=logit, corr=_exp_corr, quantity="lag",
                          closed_form="car1", to_internal=log_expit)


class corARMA(CorStruct):
    """Autoregressive moving-average correlation ARMA(p, q) at integer lags (nlme's ``corARMA``).

    R equivalent: ``nlme::corARMA(value, form = ~ 1 | Mare, p = 1, q = 1)``.

    The parameters are the p autoregressive then q moving-average coefficients, constrained to a
    stationary and invertible process; nlme's unconstrained scale is ``log((1 + r) / (1 - r))`` of
    their partial autocorrelations r. ``p = q = 0`` (nlme's deprecated ``corIdent``) is refused.

    Parameters
    ----------
    value : sequence of float, optional
        p + q starting (or fixed) coefficients; default all 0 (R's).
    form : str, optional
        One-sided formula ``"~ t | g"``: an integer time covariate (default: the rows' order) and
        the grouping (correlation only within a group; ``"~ 1"``, the default, is the rows' order in
        one group). In ``lme`` the grouping defaults to the innermost random-effects grouping.
    p, q : int, optional
        Orders of the autoregressive and moving-average parts (default 0; p + q >= 1).
    fixed : bool, optional
        Keep the parameters at ``value`` instead of estimating them (default ``False``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> ovary = mc.datasets.load("Ovary")
    >>> g = mc.gls("follicles ~ 1", ovary, correlation=mc.corARMA(form="~ 1 | Mare", p=1, q=1))
    >>> g.cor_params.round(2).tolist()
    [0.86, -0.19]
    """

    class_name = "corARMA"

    def __init__(self, value=None, form: str = "~ 1", p: int = 0, q: int = 0, fixed: bool = False):
        if int(p) != p or int(q) != q or p < 0 or q < 0:
            raise DataError(f"corARMA: p and q must be non-negative integers (got p = {p}, q = {q})")
        self.p, self.q = int(p), int(q)
        if self.p == 0 and self.q == 0:
            raise DataError("corARMA with p = 0 and q = 0 is nlme's deprecated corIdent (no correlation): "
                            "drop the correlation argument or use corAR1(0, fixed=True)")
        super().__init__(value, form, fixed)

    def _check_value(self) -> None:
        v = self.value
        if v is None:
            return
        if len(v) != self.p + self.q:
            raise DataError(f"corARMA: initial value for parameter of wrong length ({len(v)} values for "
                            f"p + q = {self.p + self.q})")
        if np.any(np.abs(v) >= 1):
            raise DataError(f"parameters in ARMA structure must be < 1 in absolute value (got {v.tolist()})")
        if not np.all(np.isfinite(self._unconstrained(v))):
            raise DataError(f"corARMA: value {v.tolist()} is not stationary / invertible (nlme: 'All parameters "
                            f"must be less than 1 in absolute value' for the partial autocorrelations)")

    def _unconstrained(self, v: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            r = np.concatenate([coef_to_pacf(v[:self.p]), -coef_to_pacf(-v[self.p:])])
            return np.log((1 + r) / (1 - r))

    def _natural(self, u: np.ndarray) -> np.ndarray:
        r = np.tanh(np.asarray(u, dtype=float) / 2)
        return np.concatenate([pacf_to_coef(r[:self.p]), -pacf_to_coef(-r[self.p:])])

    def _bind(self, pos, codes, labels):
        self._check_integer(pos)
        self._check_unique(pos, codes, labels)
        value = np.zeros(self.p + self.q) if self.value is None else self.value
        p = self.p
        names = [f"Phi{i + 1}" for i in range(p)] + [f"Theta{j + 1}" for j in range(self.q)]

        def corr(nat, Q):
            Qi = Q.astype(np.intp)
            acf = arma_acf(nat[:p], nat[p:], int(Qi.max()) if Qi.size else 0)
            return acf[Qi]
        return self._make(pos, codes, labels, class_name="corARMA", names=names, value=value,
                          to_natural=self._natural, to_unconstrained=self._unconstrained, corr=corr,
                          quantity="lag", closed_form="ar1" if self.q == 0 and p == 1 else None)


class corCompSymm(CorStruct):
    """Compound symmetry: one correlation Rho between any two rows of a group (nlme's ``corCompSymm``).

    R equivalent: ``nlme::corCompSymm(value = 0, form = ~ 1 | Mare)``.

    Rho lies in (-1 / (n - 1), 1), n the size of the largest group; with a random intercept in
    ``lme`` it adds a within-group correlation on top of the one the intercept induces.

    Parameters
    ----------
    value : float, optional
        Starting (or fixed) Rho; default 0 (R's).
    form : str, optional
        One-sided formula ``"~ 1 | g"``: no covariate is used and the grouping (correlation only
        within a group; ``"~ 1"``, the default, is one group). In ``lme`` the grouping defaults to
        the innermost random-effects grouping.
    fixed : bool, optional
        Keep the parameters at ``value`` instead of estimating them (default ``False``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> ovary = mc.datasets.load("Ovary")
    >>> g = mc.gls("follicles ~ 1", ovary, correlation=mc.corCompSymm(form="~ 1 | Mare"))
    >>> g.cor_params.round(2).tolist()
    [0.35]
    """

    class_name = "corCompSymm"

    def _check_value(self) -> None:
        if self.value is not None and (len(self.value) != 1 or abs(self.value[0]) >= 1):
            raise DataError(f'parameter in "corCompSymm" structure must be < 1 in absolute value '
                            f"(got {self.value.tolist()})")

    def _bind(self, pos, codes, labels):
        maxdim = int(np.bincount(codes).max())
        if maxdim < 2:
            raise DataError("corCompSymm: every group has a single observation, so Rho is not defined "
                            "(nlme fails in corFactor)")
        a = 1.0 / (maxdim - 1)
        value = np.array([0.0]) if self.value is None else self.value
        if value[0] <= -a:
            raise DataError(f'initial value in "corCompSymm" must be greater than {-a:.15g} '
                            f"(largest group has {maxdim} rows)")
        return self._make(pos, codes, labels, class_name="corCompSymm", names=["Rho"], value=value,
                          to_natural=lambda u: (np.exp(u) - a) / (1 + np.exp(u)),
                          to_unconstrained=lambda v: np.log((v + a) / (1 - v)),
                          corr=lambda nat, Q: np.full(Q.shape, nat[0]), quantity="lag", closed_form="cs")


class corSymm(CorStruct):
    """General correlation: a free correlation between each pair of positions 1..K (nlme's ``corSymm``).

    R equivalent: ``nlme::corSymm(form = ~ occ | Subject)``.

    K (K - 1) / 2 parameters, estimated through nlme's spherical parameterisation (always a
    positive-definite matrix). The covariate must take the values 1, 2, ..., K (the position of each
    row in the full pattern).

    Parameters
    ----------
    value : sequence of float, optional
        K (K - 1) / 2 starting (or fixed) correlations, in R's order (by columns of the lower
        triangle: cor(1,2), cor(1,3), ...); default all 0.
    form : str, optional
        One-sided formula ``"~ occ | g"``: the position 1..K of each row (default: the rows' order)
        and the grouping (correlation only within a group; ``"~ 1"``, the default, is the rows'
        order in one group). In ``lme`` the grouping defaults to the innermost random-effects
        grouping.
    fixed : bool, optional
        Keep the parameters at ``value`` instead of estimating them (default ``False``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> d = mc.datasets.load("Orthodont")
    >>> d["occ"] = d.groupby("Subject", observed=True).cumcount() + 1
    >>> g = mc.gls("distance ~ age", d, correlation=mc.corSymm(form="~ occ | Subject"))
    >>> len(g.cor_params)
    6
    """

    class_name = "corSymm"
    _quantity = "pair"

    def _bind(self, pos, codes, labels):
        cov = self.form.covariates[0] if self.form.covariates else "order"
        uniq = np.unique(pos)
        if not np.array_equal(uniq, np.arange(1, len(uniq) + 1)):
            raise DataError(f'unique values of the covariate {cov!r} for "corSymm" objects must be a sequence '
                            f"of consecutive integers 1, 2, ..., K (found {uniq[:8].tolist()})")
        self._check_unique(pos, codes, labels)
        K = len(uniq)
        npar = K * (K - 1) // 2
        pairs = symm_pairs(K)
        if self.value is None:
            value = np.zeros(npar)
        else:
            value = self.value
            if len(value) != npar:
                raise DataError(f'initial value for "corSymm" parameters of wrong dimension: {len(value)} '
                                f"values for {K} positions (need {npar})")
            C = np.eye(K)
            for (i, j), v in zip(pairs, value):
                C[i, j] = C[j, i] = v
            if np.any(np.abs(value) >= 1) or np.linalg.eigvalsh(C)[0] <= 0:
                raise DataError('initial values for "corSymm" do not define a positive-definite correlation '
                                f"structure: {value.tolist()}")
        iu = np.triu_indices(K, 1)

        def to_unc(v):
            C = np.eye(K)
            C[iu] = v
            C.T[iu] = v
            return cor_to_spherical(C)

        def corr(nat, Q):
            C = np.eye(K)
            C[iu] = nat
            C.T[iu] = nat
            return C.ravel()[Q]
        return self._make(pos, codes, labels, class_name="corSymm",
                          names=[f"cor({i + 1},{j + 1})" for i, j in pairs], value=value,
                          to_natural=lambda u: spherical_to_cor(u, K)[iu], to_unconstrained=to_unc,
                          corr=corr, quantity="pair", closed_form=None,
                          symm_index=(pos - 1).astype(np.intp))


# ------------------------------------------------------------------------------------ spatial
_METRICS = ("euclidean", "maximum", "manhattan")


class _CorSpatial(CorStruct):
    """Isotropic spatial correlation ``(1 - nugget) * f(d / range)`` between distinct rows of a group."""

    _quantity = "dist"
    _range_factor = 0.9
    _shifted = False       # corSpher / corLin: unconstrained range is log(range - minD)

    def __init__(self, value=None, form: str = "~ 1", nugget: bool = False, metric: str = "euclidean",
                 fixed: bool = False):
        matches = [m for m in _METRICS if isinstance(metric, str) and metric and m.startswith(metric)]
        if len(matches) != 1:
            raise DataError(f"{self.class_name}: metric {metric!r} should be one of "
                            f"{', '.join(repr(m) for m in _METRICS)}")
        self.metric, self.nugget = matches[0], bool(nugget)
        super().__init__(value, form, fixed)

    @staticmethod
    def _f(x: np.ndarray) -> None:  # pragma: no cover - abstract
        """Overwrite x = d / range with the correlation function's values."""
        raise NotImplementedError

    def _bind(self, pos, codes, labels):
        b = self._make(pos, codes, labels, class_name=self.class_name, names=["range"], value=np.ones(1),
                       to_natural=np.exp, to_unconstrained=np.log, corr=None, quantity="dist",
                       closed_form=None, metric=self.metric)
        minD = np.inf
        for st in b._stacks:
            rows, Q = st.rows[st.rep], st.Q
            s = Q.shape[-1]
            if s < 2:
                continue
            off = Q[:, ~np.eye(s, dtype=bool)].reshape(len(Q), -1)
            if np.any(off == 0):
                gi, pi = np.argwhere(off == 0)[0]
                i, j = divmod(int(pi), s - 1)
                j += j >= i
                raise DataError(f'cannot have zero distances in "corSpatial": rows {rows[gi, i]} and '
                                f"{rows[gi, j]} of group {labels[codes[rows[gi, i]]]!r} are at the same "
                                f"position ({self.form.text})")
            minD = min(minD, float(off.min()))
        if not np.isfinite(minD):
            minD = 1.0
        value = self._initial_value(minD)
        shift = minD if self._shifted else 0.0
        nug = self.nugget
        f = self._f

        def to_nat(u):
            out = np.exp(u[:1]) + shift
            return np.concatenate([out, expit(u[1:])]) if nug else out

        def to_unc(v):
            out = np.log(v[:1] - shift)
            return np.concatenate([out, logit(v[1:])]) if nug else out

        def corr(nat, Q):
            C = np.multiply(Q, 1.0 / nat[0])          # one buffer, transformed in place
            f(C)
            if nug:
                C *= 1.0 - nat[1]
            return C
        bound = self._make(pos, codes, labels, class_name=self.class_name,
                           names=["range", "nugget"] if nug else ["range"], value=value, to_natural=to_nat,
                           to_unconstrained=to_unc, corr=corr, quantity="dist", closed_form=None,
                           metric=self.metric)
        bound.__dict__["_stacks"] = b._stacks          # same rows and distances: reuse the layout
        return bound

    def _initial_value(self, minD: float) -> np.ndarray:
        cls = "corSpatial" if not self._shifted else self.class_name
        if self.value is None:
            v = np.array([self._range_factor * minD])
        else:
            v = self.value.copy()
            if len(v) != (1 + self.nugget) and not (self.nugget and len(v) == 1):
                raise DataError(f'initial value for "corSpatial" parameters of wrong dimension: {len(v)} '
                                f"values with nugget = {self.nugget}")
            if v[0] <= 0:
                raise DataError(f"'range' must be > 0 in \"{cls}\" initial value (got {v[0]:g})")
            if self._shifted and v[0] <= minD:
                warnings.warn("initial value for 'range' less than minimum distance. Setting it to "
                              f"1.1 * min(distance) ({1.1 * minD:g})", UserWarning, stacklevel=4)
                v[0] = 1.1 * minD
        if self.nugget:
            if len(v) == 1:
                v = np.append(v, 0.1)
            if not 0 < v[1] < 1:
                raise DataError(f"initial value of nugget ratio must be between 0 and 1 (got {v[1]:g})")
        return v


def _spatial_doc(title: str, nugget_shape: str, value: str, shifted: bool = False):
    """The docstring of a spatial correlation class (the five share their arguments): ``title`` is its first
    line, ``nugget_shape`` the correlation the nugget multiplies, ``value`` its range fitted on Ovary."""
    def fill(cls: type) -> type:
        name = cls.class_name
        scale = "its log, shifted by the smallest distance" if shifted else "its log"
        cls.__doc__ = f"""{title}

    R equivalent: ``nlme::{name}(value, form = ~ x + y | g, nugget = FALSE, metric = "euclidean")``.

    Distances are taken between the rows of a group from the covariate(s) of ``form``; the range is
    positive (nlme's unconstrained scale: {scale}).

    Parameters
    ----------
    value : float or sequence of float, optional
        Starting (or fixed) range, or ``[range, nugget]`` with ``nugget=True``; default nlme's (a
        fraction of the distances' range).
    form : str, optional
        One-sided formula ``"~ x + y | g"``: the coordinates whose distances are used (default: the
        rows' positions) and the grouping (correlation only within a group; ``"~ 1"``, the default,
        is one group). In ``lme`` the grouping defaults to the innermost random-effects grouping.
    nugget : bool, optional
        Add a nugget effect: the correlation is ``(1 - nugget)`` times {nugget_shape}
        between distinct rows (default ``False``); ``value`` is then ``[range, nugget]``.
    metric : {{"euclidean", "maximum", "manhattan"}}, optional
        Distance between the rows' coordinates (default ``"euclidean"``; unique prefixes accepted).
    fixed : bool, optional
        Keep the parameters at ``value`` instead of estimating them (default ``False``).

    Examples
    --------
    >>> import mixedcompat as mc
    >>> ovary = mc.datasets.load("Ovary")
    >>> g = mc.gls("follicles ~ 1", ovary, correlation=mc.{name}(form="~ Time | Mare"))
    >>> g.cor_params.round(2).tolist()
    {value}
    """
        return cls
    return fill


@_spatial_doc("Exponential spatial correlation: ``exp(-d / range)`` at distance d (nlme's ``corExp``).",
              'exp(-d / range)', '[0.2]')
class corExp(_CorSpatial):

    class_name = "corExp"

    @staticmethod
    def _f(x: np.ndarray) -> None:
        np.exp(np.negative(x, out=x), out=x)


@_spatial_doc("Gaussian spatial correlation: ``exp(-(d / range)^2)`` at distance d (nlme's ``corGaus``).",
              'exp(-(d / range)^2)', '[0.06]')
class corGaus(_CorSpatial):

    class_name = "corGaus"

    @staticmethod
    def _f(x: np.ndarray) -> None:
        np.exp(np.negative(np.square(x, out=x), out=x), out=x)


@_spatial_doc("Rational quadratic spatial correlation: ``1 / (1 + (d / range)^2)`` at distance d (nlme's ``corRatio``).",
              '1 / (1 + (d / range)^2)', '[0.06]')
class corRatio(_CorSpatial):

    class_name = "corRatio"

    @staticmethod
    def _f(x: np.ndarray) -> None:
        np.reciprocal(np.add(np.square(x, out=x), 1.0, out=x), out=x)


@_spatial_doc("Linear spatial correlation: ``1 - d / range`` for d < range, else 0 (nlme's ``corLin``).",
              '(1 - d / range)', '[0.66]', shifted=True)
class corLin(_CorSpatial):

    class_name = "corLin"
    _range_factor = 1.1
    _shifted = True

    @staticmethod
    def _f(x: np.ndarray) -> None:
        far = x >= 1.0
        np.subtract(1.0, x, out=x)
        x[far] = 0.0


@_spatial_doc("Spherical spatial correlation: ``1 - 1.5 (d / range) + 0.5 (d / range)^3`` for d < range, else 0 (nlme's ``corSpher``).",
              'the spherical function', '[0.41]', shifted=True)
class corSpher(_CorSpatial):

    class_name = "corSpher"
    _range_factor = 1.1
    _shifted = True

    @staticmethod
    def _f(x: np.ndarray) -> None:
        far = x >= 1.0
        t = np.square(x)
        t *= -0.5
        t += 1.5
        t *= x
        np.subtract(1.0, t, out=x)
        x[far] = 0.0
