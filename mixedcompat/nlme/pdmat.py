"""nlme's positive-definite matrix classes for the random effects of ``lme`` (pdSymm, pdDiag, pdIdent, pdCompSymm).

A ``pdMat`` here is a specification (a one-sided formula for the random-effects columns and a
structure); bound to a number of columns ``q`` it maps an unconstrained parameter vector to the
*relative* covariance factor ``T`` (``Psi / sigma^2 = T T'``) that the likelihood uses, and the
absolute covariance to nlme's "natural" parameters (log standard deviations and
``log((1 + r) / (1 - r))`` of correlations), the scale on which nlme's ``intervals()`` works.

Examples
--------
>>> pd = pdDiag("~ age")
>>> b = pd.bind(["(Intercept)", "age"])
>>> b.n_par
2
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mixedcompat.errors import FormulaError
from mixedcompat.front.rlang import Node, is_binop, num, parse

PD_CLASSES = ("pdLogChol", "pdSymm", "pdDiag", "pdIdent", "pdCompSymm")


class pdMat:
    """A random-effects covariance structure as nlme's ``pdMat`` constructors (``pdSymm(~ age)``).

    Parameters
    ----------
    form : str
        One-sided formula of the random-effects columns, ``"~ age"``, ``"~ 1"``, ``"~ Sex - 1"``;
        a grouping ``"~ age | Subject"`` is accepted when the pdMat is given alone as ``random``.
    """

    kind = "pdLogChol"

    def __init__(self, form: str = "~ 1"):
        if not isinstance(form, str) or "~" not in form:
            raise FormulaError(f"{type(self).__name__}: form must be a one-sided formula such as '~ age', not {form!r}")
        self.form = form.strip()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.form!r})"

    @functools.cached_property
    def covariates(self) -> Node:
        """The random-effects columns' formula as a tree, parsed once: ``~ age | Subject`` -> ``age``
        (``1`` when empty).

        Examples
        --------
        >>> pdDiag("~ age | Subject").covariates.deparse()
        'age'
        """
        if not self.form.lstrip("~").strip():
            return num(1)
        node = parse(self.form)
        node = node.args[0] if node.kind == "unop" and node.value == "~" else node
        return node.args[0] if is_binop(node, "|") else node

    def bind(self, columns: list[str]) -> "BoundPd":
        """The structure for these random-effects column names."""
        q = len(columns)
        if self.kind == "pdCompSymm" and q < 2:
            raise FormulaError(f"pdCompSymm({self.form!r}) needs at least two random-effects columns, has {q}")
        return BoundPd(self.kind, list(columns), self.covariates.deparse())


class pdSymm(pdMat):
    """General positive-definite covariance of the random effects (nlme's ``pdSymm``).

    R equivalent: ``nlme::pdSymm(~ age)``, as in ``lme(distance ~ age, Orthodont, random = list(Subject = pdSymm(~ age)))``.

    Every variance and correlation is free (q (q + 1) / 2 parameters). It is fitted through a
    log-Cholesky parameterisation (as ``pdLogChol``: the same model and optimum; nlme's ``pdSymm``
    uses the matrix logarithm), and printed as nlme prints ``pdSymm``.

    Parameters
    ----------
    form : str
        One-sided formula of the random-effects columns, as R's form: ``"~ age"``, ``"~ 1"``,
        ``"~ Sex - 1"``. Give the structure as the value of ``random={"Subject": ...}``; a grouping
        ``"~ age | Subject"`` is accepted when the pdMat is given alone as ``random``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> pdSymm("~ age").bind(["(Intercept)", "age"]).n_par
    3
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random={"Subject": mc.pdSymm("~ age")})
    >>> round(float(mc.logLik(m)), 3)
    -221.318
    """

    kind = "pdSymm"


class pdLogChol(pdMat):
    """General positive-definite covariance, log-Cholesky parameterisation (nlme's default for ``random``).

    R equivalent: ``nlme::pdLogChol(~ age)`` (what ``lme(..., random = ~ age | Subject)`` uses).

    Every variance and correlation is free (q (q + 1) / 2 parameters); the parameters are the
    Cholesky factor's entries with its diagonal on the log scale. A bare random formula
    (``random="~ age | Subject"``) gives this structure.

    Parameters
    ----------
    form : str
        One-sided formula of the random-effects columns, as R's form: ``"~ age"``, ``"~ 1"``,
        ``"~ Sex - 1"``. Give the structure as the value of ``random={"Subject": ...}``; a grouping
        ``"~ age | Subject"`` is accepted when the pdMat is given alone as ``random``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> pdLogChol("~ age").bind(["(Intercept)", "age"]).n_par
    3
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random={"Subject": mc.pdLogChol("~ age")})
    >>> round(float(mc.logLik(m)), 3)
    -221.318
    """

    kind = "pdLogChol"


class pdDiag(pdMat):
    """Diagonal covariance: independent random effects, each with its own variance (nlme's ``pdDiag``).

    R equivalent: ``nlme::pdDiag(~ age)``, as in ``lme(distance ~ age, Orthodont, random = pdDiag(~ age))``.

    q parameters (the log standard deviations); the correlations are fixed at 0 (lme4's
    ``(1 + age || Subject)``).

    Parameters
    ----------
    form : str
        One-sided formula of the random-effects columns, as R's form: ``"~ age"``, ``"~ 1"``,
        ``"~ Sex - 1"``. Give the structure as the value of ``random={"Subject": ...}``; a grouping
        ``"~ age | Subject"`` is accepted when the pdMat is given alone as ``random``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> pdDiag("~ age").bind(["(Intercept)", "age"]).n_par
    2
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random={"Subject": mc.pdDiag("~ age")})
    >>> round(float(mc.logLik(m)), 3)
    -221.657
    """

    kind = "pdDiag"


class pdIdent(pdMat):
    """Multiple of the identity: independent random effects with one common variance (nlme's ``pdIdent``).

    R equivalent: ``nlme::pdIdent(~ Machine - 1)``.

    One parameter (the log standard deviation shared by all q effects).

    Parameters
    ----------
    form : str
        One-sided formula of the random-effects columns, as R's form: ``"~ age"``, ``"~ 1"``,
        ``"~ Sex - 1"``. Give the structure as the value of ``random={"Subject": ...}``; a grouping
        ``"~ age | Subject"`` is accepted when the pdMat is given alone as ``random``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> pdIdent("~ age").bind(["(Intercept)", "age"]).n_par
    1
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random={"Subject": mc.pdIdent("~ age")})
    >>> round(float(mc.logLik(m)), 3)
    -222.508
    """

    kind = "pdIdent"


class pdCompSymm(pdMat):
    """Compound symmetry: one common variance and one common correlation (nlme's ``pdCompSymm``).

    R equivalent: ``nlme::pdCompSymm(~ Machine - 1)``, as in ``lme(score ~ Machine, Machines, random = list(Worker = pdCompSymm(~ Machine - 1)))``.

    Two parameters: the log standard deviation and the correlation, which lies in (-1 / (q - 1), 1);
    at least two random-effects columns are needed (a :class:`~mixedcompat.FormulaError` otherwise).

    Parameters
    ----------
    form : str
        One-sided formula of the random-effects columns, as R's form: ``"~ age"``, ``"~ 1"``,
        ``"~ Sex - 1"``. Give the structure as the value of ``random={"Subject": ...}``; a grouping
        ``"~ age | Subject"`` is accepted when the pdMat is given alone as ``random``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> pdCompSymm("~ Machine - 1").bind(["MachineA", "MachineB", "MachineC"]).n_par
    2
    >>> m = mc.lme("score ~ Machine", mc.datasets.load("Machines"),
    ...            random={"Worker": mc.pdCompSymm("~ Machine - 1")})
    >>> round(float(mc.logLik(m)), 3)
    -107.844
    """

    kind = "pdCompSymm"


_BY_NAME = {"pdSymm": pdSymm, "pdLogChol": pdLogChol, "pdDiag": pdDiag, "pdIdent": pdIdent,
            "pdCompSymm": pdCompSymm}


def pd_from_text(text: str) -> pdMat:
    """``"pdDiag(~ age)"`` -> ``pdDiag("~ age")``; a bare formula gives nlme's default ``pdLogChol``."""
    t = text.strip()
    for name, cls in _BY_NAME.items():
        if t.startswith(name + "(") and t.endswith(")"):
            inner = t[len(name) + 1:-1].strip()
            if inner.startswith(("'", '"')) and inner.endswith(("'", '"')):
                inner = inner[1:-1]
            if inner.startswith("form") and "=" in inner:
                inner = inner.split("=", 1)[1].strip().strip("'\"")
            return cls(inner)
    if t.startswith("pd"):
        raise FormulaError(f"unknown positive-definite class in {text!r}; use one of {', '.join(PD_CLASSES)}")
    return pdLogChol(t)


def _cs_rho(z: float, q: int) -> float:
    """pdCompSymm's correlation from its unconstrained value (range (-1/(q-1), 1))."""
    a = 1.0 / (q - 1)
    e = np.exp(z)
    return float((e - a) / (e + 1.0))


def _cs_z(rho: float, q: int) -> float:
    a = 1.0 / (q - 1)
    return float(np.log((rho + a) / (1.0 - rho)))


@dataclass(frozen=True)
class BoundPd:
    """A pdMat bound to its columns: parameters <-> relative factor, natural parameters."""

    kind: str
    columns: list
    formula: str | None = None      # the covariates as deparsed (nlme names pdIdent's sd by it)

    @property
    def q(self) -> int:
        return len(self.columns)

    @property
    def n_par(self) -> int:
        q = self.q
        return {"pdDiag": q, "pdIdent": 1, "pdCompSymm": 2}.get(self.kind, q * (q + 1) // 2)

    # The optimiser works on lme4's scale: relative standard deviations / Cholesky diagonals bounded
    # below by 0 (so that a variance that vanishes reaches its boundary in a few steps, as in lme4,
    # instead of a log-scale parameter crawling towards -inf), off-diagonals and pdCompSymm's
    # correlation unconstrained.  nlme's own parameterisation is used only for apVar (natural scale).
    def start(self) -> np.ndarray:
        """Start: relative covariance = identity (lme4's start)."""
        q = self.q
        if self.kind == "pdDiag":
            return np.ones(q)
        if self.kind == "pdIdent":
            return np.ones(1)
        if self.kind == "pdCompSymm":
            return np.array([1.0, _cs_z(0.0, q)])
        return np.concatenate([np.ones(q), np.zeros(q * (q - 1) // 2)])

    def lower(self) -> np.ndarray:
        """Lower bounds of the parameters (0 on standard deviations / Cholesky diagonals)."""
        q = self.q
        if self.kind in ("pdDiag", "pdIdent"):
            return np.zeros(self.n_par)
        if self.kind == "pdCompSymm":
            return np.array([0.0, -np.inf])
        return np.concatenate([np.zeros(q), np.full(q * (q - 1) // 2, -np.inf)])

    def factor(self, par: np.ndarray) -> np.ndarray:
        """The lower-triangular relative factor ``T`` (``Psi / sigma^2 = T T'``)."""
        q = self.q
        if self.kind == "pdDiag":
            return np.diag(par)
        if self.kind == "pdIdent":
            return par[0] * np.eye(q)
        if self.kind == "pdCompSymm":
            rho = _cs_rho(par[1], q)
            D = par[0] ** 2 * ((1.0 - rho) * np.eye(q) + rho * np.ones((q, q)))
            return np.linalg.cholesky(D + 1e-300 * np.eye(q)) if par[0] > 0 else np.zeros((q, q))
        T = np.zeros((q, q))
        T[np.diag_indices(q)] = par[:q]
        rows, cols = np.tril_indices(q, -1)
        T[rows, cols] = par[q:]
        return T

    def relative_cov(self, par: np.ndarray) -> np.ndarray:
        T = self.factor(par)
        return T @ T.T

    def par_from_cov(self, D: np.ndarray) -> np.ndarray:
        """Parameters whose relative covariance is (the structure's projection of) ``D``."""
        q = self.q
        sd = np.sqrt(np.maximum(np.diag(D), 0.0))
        if self.kind == "pdDiag":
            return sd
        if self.kind == "pdIdent":
            return np.array([np.sqrt(np.mean(sd ** 2))])
        if self.kind == "pdCompSymm":
            v = float(np.mean(sd ** 2))
            off = D[~np.eye(q, dtype=bool)].mean() / v
            off = float(np.clip(off, -1.0 / (q - 1) + 1e-6, 1 - 1e-6))
            return np.array([np.sqrt(v), _cs_z(off, q)])
        T = np.linalg.cholesky(D)
        rows, cols = np.tril_indices(q, -1)
        return np.concatenate([np.diag(T), T[rows, cols]])

    # --- natural parameters (absolute scale), nlme's apVar / intervals scale -------------------------
    def natural_names(self) -> list[str]:
        """nlme's names of the natural parameters: ``sd(x)``, ``cor(x,y)`` (intervals' rows)."""
        c = self.columns
        if self.kind in ("pdDiag",):
            return [f"sd({n})" for n in c]
        if self.kind == "pdIdent":       # nlme's coef.pdIdent: "sd(<formula's right side>)"
            return [f"sd({self.formula if self.formula is not None else c[-1]})"]
        if self.kind == "pdCompSymm":
            return ["std. dev", "corr."]
        names = [f"sd({n})" for n in c]
        for j in range(self.q):
            for i in range(j):
                names.append(f"cor({c[i]},{c[j]})")
        return names

    def natural_from_cov(self, Psi: np.ndarray) -> np.ndarray:
        """Natural unconstrained parameters of an absolute covariance: log sd, log((1+r)/(1-r))."""
        q = self.q
        sd = np.sqrt(np.diag(Psi))
        if self.kind == "pdDiag":
            return np.log(sd)
        if self.kind == "pdIdent":
            return np.array([np.log(sd[0])])
        if self.kind == "pdCompSymm":
            rho = Psi[0, 1] / (sd[0] * sd[1])
            return np.array([np.log(sd[0]), _cs_z(rho, q)])
        R = Psi / np.outer(sd, sd)
        z = [np.log((1 + R[i, j]) / (1 - R[i, j])) for j in range(q) for i in range(j)]
        return np.concatenate([np.log(sd), np.array(z)])

    def cov_from_natural(self, nat: np.ndarray) -> np.ndarray:
        q = self.q
        if self.kind == "pdDiag":
            return np.diag(np.exp(2 * nat))
        if self.kind == "pdIdent":
            return np.exp(2 * nat[0]) * np.eye(q)
        if self.kind == "pdCompSymm":
            rho = _cs_rho(nat[1], q)
            return np.exp(2 * nat[0]) * ((1 - rho) * np.eye(q) + rho * np.ones((q, q)))
        sd = np.exp(nat[:q])
        R = np.eye(q)
        k = q
        for j in range(q):
            for i in range(j):
                r = np.tanh(nat[k] / 2.0)
                R[i, j] = R[j, i] = r
                k += 1
        return R * np.outer(sd, sd)

    def natural_to_display(self, nat: np.ndarray) -> np.ndarray:
        """Natural parameters -> (sd, ..., cor, ...) as ``intervals()`` prints them."""
        q = self.q
        if self.kind in ("pdDiag", "pdIdent"):
            return np.exp(nat)
        if self.kind == "pdCompSymm":
            return np.array([np.exp(nat[0]), _cs_rho(nat[1], q)])
        return np.concatenate([np.exp(nat[:q]), np.tanh(nat[q:] / 2.0)])


# --- pdBlocked: a block-diagonal covariance of pdMat blocks ---------------------------------------------------
class pdBlocked(pdMat):
    """Block-diagonal covariance (nlme's ``pdBlocked``): the random-effects columns are those of the
    blocks, in order; effects of different blocks are independent, each block has its own structure.

    R equivalent: ``nlme::pdBlocked(list(pdIdent(~ 1), pdIdent(~ Machine - 1)))``.

    Parameters
    ----------
    blocks : list of pdMat or str
        ``[mc.pdIdent("~ 1"), mc.pdIdent("~ Machine - 1")]``; a formula string is a block of
        ``pdClass`` (nlme's default ``"pdSymm"``).  Blocks may not share a column (nlme:
        "cannot have duplicated column names"), nor hold a grouping ``| g`` (the grouping is the key
        of ``random={"g": pdBlocked([...])}``).
    pdClass : str
        The class of the blocks given as formulas.

    Examples
    --------
    >>> b = pdBlocked([pdIdent("~ 1"), pdIdent("~ Machine - 1")])
    >>> b
    pdBlocked([pdIdent('~ 1'), pdIdent('~ Machine - 1')])
    """

    kind = "pdBlocked"

    def __init__(self, blocks, pdClass: str = "pdSymm"):
        if isinstance(blocks, (pdMat, str)) or not hasattr(blocks, "__iter__"):
            raise FormulaError("pdBlocked takes a list of pdMat blocks, e.g. "
                               "pdBlocked([pdIdent('~ 1'), pdIdent('~ Machine - 1')])")
        if pdClass not in _BY_NAME:
            raise FormulaError(f"pdBlocked: unknown pdClass {pdClass!r}; use one of {', '.join(PD_CLASSES)}")
        out = []
        for b in blocks:
            if isinstance(b, pdBlocked):
                raise FormulaError("pdBlocked: a block cannot itself be a pdBlocked")
            if isinstance(b, str):
                b = _BY_NAME[pdClass](b)
            if not isinstance(b, pdMat):
                raise FormulaError(f"pdBlocked: each block must be a pdMat or a formula string, not {b!r}")
            if "|" in b.form:
                raise FormulaError(f"pdBlocked: block {b!r} cannot have a grouping factor; give it as the key of "
                                   "random={'g': pdBlocked([...])}")
            out.append(b)
        if not out:
            raise FormulaError("pdBlocked needs at least one block")
        self.blocks = out
        self.form = "~ " + " + ".join(b.form.lstrip("~").strip() or "1" for b in out)

    def __repr__(self) -> str:
        return f"pdBlocked([{', '.join(repr(b) for b in self.blocks)}])"

    def bind_blocks(self, columns: list[list[str]]) -> "BoundBlocked":
        """The structure for the blocks' random-effects column names (one list per block)."""
        seen: list[str] = []
        for cols in columns:
            dup = [c for c in cols if c in seen]
            if dup:
                raise FormulaError(f"pdBlocked: column(s) {', '.join(dup)} appear in more than one block (nlme: "
                                   "cannot have duplicated column names in a \"pdMat\" object); "
                                   "write e.g. pdBlocked([pdIdent('~ 1'), pdIdent('~ f - 1')])")
            seen += list(cols)
        return BoundBlocked(tuple(b.bind(list(c)) for b, c in zip(self.blocks, columns)))

    def bind(self, columns: list[str]) -> "BoundPd":
        raise FormulaError("pdBlocked is bound block by block (bind_blocks)")


@dataclass(frozen=True)
class BoundBlocked:
    """A pdBlocked bound to its blocks' columns: the same interface as :class:`BoundPd`, block by
    block (parameters, factor and natural parameters are the blocks' concatenated)."""

    blocks: tuple
    kind: str = "pdBlocked"

    @property
    def columns(self) -> list:
        return [c for b in self.blocks for c in b.columns]

    @property
    def q(self) -> int:
        return sum(b.q for b in self.blocks)

    @property
    def n_par(self) -> int:
        return sum(b.n_par for b in self.blocks)

    def _split(self, par: np.ndarray) -> list[np.ndarray]:
        out, k = [], 0
        for b in self.blocks:
            out.append(np.asarray(par[k:k + b.n_par], float))
            k += b.n_par
        return out

    def _ranges(self) -> list[slice]:
        out, k = [], 0
        for b in self.blocks:
            out.append(slice(k, k + b.q))
            k += b.q
        return out

    def start(self) -> np.ndarray:
        return np.concatenate([b.start() for b in self.blocks])

    def lower(self) -> np.ndarray:
        return np.concatenate([b.lower() for b in self.blocks])

    def factor(self, par: np.ndarray) -> np.ndarray:
        T = np.zeros((self.q, self.q))
        for b, p, r in zip(self.blocks, self._split(par), self._ranges()):
            T[r, r] = b.factor(p)
        return T

    def relative_cov(self, par: np.ndarray) -> np.ndarray:
        T = self.factor(par)
        return T @ T.T

    def par_from_cov(self, D: np.ndarray) -> np.ndarray:
        return np.concatenate([b.par_from_cov(D[r, r]) for b, r in zip(self.blocks, self._ranges())])

    def natural_names(self) -> list[str]:
        """nlme's names: each block's (a pdIdent block's sd named by its formula, ``sd(Machine - 1)``)."""
        return [n for b in self.blocks for n in b.natural_names()]

    def natural_from_cov(self, Psi: np.ndarray) -> np.ndarray:
        return np.concatenate([b.natural_from_cov(Psi[r, r]) for b, r in zip(self.blocks, self._ranges())])

    def cov_from_natural(self, nat: np.ndarray) -> np.ndarray:
        out = np.zeros((self.q, self.q))
        for b, p, r in zip(self.blocks, self._split(nat), self._ranges()):
            out[r, r] = b.cov_from_natural(p)
        return out

    def natural_to_display(self, nat: np.ndarray) -> np.ndarray:
        return np.concatenate([b.natural_to_display(p) for b, p in zip(self.blocks, self._split(nat))])
