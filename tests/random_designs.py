"""Random lmer designs fitted here and in live lme4, and the classification of how they disagree.

Shared by tests/test_live_r_designs.py (hypothesis property tests, marked ``r``) and
tests/survey_agreement.py (a script that measures the agreement rate over many designs).

A :class:`Design` holds the *shape* of a model and its data (grouping structure, random-effects terms,
fixed part, missing values, weights, offset, scales, variance sizes, REML/ML, number of rows) and a
seed; :meth:`Design.data` simulates the data from the seed, so a design reproduces exactly from its
``repr`` (or, for the survey's designs, from ``draw_design(seed)``).  The same function,
:func:`build_design`, draws a design from a numpy generator (the survey) and from a hypothesis
``draw`` (the tests): it asks a *picker* for each choice, so both explore one design space.

Agreement (issue 9) of one design, computed by :func:`compare`:

* our criterion is at most lme4's + 1e-8 relative (``CRITERION_SLACK``);
* at R's theta (our model with ``control={"optimizer": None, "start": R's theta}``) the criterion
  agrees to ``TOL["objective_at"]`` and fixef, SEs, sigma, logLik, VarCorr, ranef and fitted agree
  to helpers' ``TOL`` (with the same absolute floors as tests/test_live_r.py);
* where lme4 stops with an error, we raise ``mc.DataError`` / ``mc.FormulaError``, and only there;
* warning agreement is recorded separately: the set of {singular, convergence, rescale} conditions
  lme4 signals (warnings and messages) against the set we warn.

Each disagreement is classified: ``a`` ours above lme4's criterion, ``b`` a table differs at R's
theta, ``c`` error mismatch, ``d`` warning mismatch, ``e`` a crash in our code (not a
DataError/FormulaError).
"""
from __future__ import annotations

import dataclasses
import re
import signal
import time
import traceback
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from helpers import CRITERION_ABOVE_RTOL, TOL, at_theta, is_noise, theta_parted

# ours may be above lme4's criterion by at most this much, relative (issue 9)
CRITERION_SLACK = CRITERION_ABOVE_RTOL
# a criterion below lme4's by more than this (relative) is counted as "lme4 stopped early"
BETTER_RTOL = TOL["criterion_better"]["rtol"]
# the warning classes whose agreement is recorded (lme4's checkConv / checkScaleX and isSingular)
WARNING_CLASSES = ("singular", "convergence", "rescale")
_WARNING_PATTERNS = (
    ("singular", re.compile(r"boundary \(singular\) fit", re.I)),
    ("rescale", re.compile(r"very different scales", re.I)),
    ("convergence", re.compile(r"converge|unidentifiable|eigenvalue|degenerate\s+Hessian", re.I)),
    ("rank", re.compile(r"rank deficient", re.I)),
)


def warning_class(message: str) -> str:
    """The class of one warning / message text: singular, rescale, convergence, rank or other.

    Example
    -------
    >>> warning_class("Some predictor variables are on very different scales: consider rescaling")
    'rescale'
    >>> warning_class("Model is nearly unidentifiable: very large eigenvalue\\n - Rescale variables?")
    'convergence'
    """
    for name, pat in _WARNING_PATTERNS:
        if pat.search(message):
            return name
    return "other"


# ------------------------------------------------------------------------------------------ designs

STRUCTURES = ("one", "one", "nested-slash", "nested-colon", "nested-implicit", "crossed", "partial",
              "nested+crossed", "crossed3", "four")
# "f" ((f | g), factor slopes with an intercept) is not drawn by build_design (adding an option would
# renumber every survey design); use it with dataclasses.replace(draw_design(seed), kinds=("f",), ...)
ROW_COUNTS = (20, 30, 50, 50, 100, 100, 200, 200, 400, 1000, 2500, 5000)
G1_KINDS = ("1", "1", "1", "x", "x", "x||", "0+x", "0+f")
NESTED_KINDS = ("1", "1", "1", "x||", "x")
CROSSED_KINDS = ("1", "1", "x", "x||")
X_FORMS = ("x", "x", "x", "x", "poly(x, 2)", "x + I(x^2)", "scale(x)", "log(x)")
Z_FORMS = ("", "", "", "z", "log(z)", "scale(z)")
F_FORMS = ("", "", "f", "f", "x:f", "x*f", "f:h")
OFFSETS = ("none", "none", "none", "formula", "argument")
WEIGHTS = ("none", "none", "continuous", "integer")
NA_SETS = ((), (), (), ("y",), ("x",), ("y", "f"), ("g1",), ("y", "x", "z", "g1"))
SCALES = (1e-3, 1.0, 1.0, 1.0, 1e3, 1e5)
RE_SDS = (0.0, 1e-4, 0.1, 0.5, 1.0, 3.0)


def re_term(kind: str, group: str) -> str:
    """The random-effects term of one kind for ``group`` (both lmer generators: this module and
    tests/test_live_r.py)."""
    return {"1": f"(1 | {group})", "x": f"(x | {group})", "1+x": f"(1 + x | {group})", "x||": f"(x || {group})",
            "0+x": f"(0 + x | {group})", "0+f": f"(0 + f | {group})", "f": f"(f | {group})"}[kind]


def nested_codes(rng: np.random.Generator, g1: np.ndarray, n1: int, k_low: int, k_high: int) -> np.ndarray:
    """Codes of a factor nested in ``g1``: in each g1 group, ``k`` subgroups (``k`` drawn from
    ``[k_low, k_high)``) assigned in a random order, every subgroup present when the group has at
    least ``k`` rows.  Labels are reused across g1 groups (R's implicit nesting)."""
    g2 = np.zeros(len(g1), dtype=int)
    for lev in range(n1):
        rows = np.flatnonzero(g1 == lev)
        k = int(rng.integers(k_low, k_high))
        g2[rows] = rng.permutation(np.arange(len(rows)) % k)
    return g2


def categorical(codes: np.ndarray, labels: Sequence[str], rng: np.random.Generator, shuffle: bool) -> pd.Categorical:
    """A factor with ``labels[codes]``; its levels in ``labels`` order, or shuffled by ``rng``
    (factor levels in a non-alphabetical order)."""
    cats = list(labels)
    if shuffle:
        cats = list(rng.permutation(cats))
    return pd.Categorical([labels[c] for c in codes], categories=cats)


@dataclasses.dataclass(frozen=True)
class Design:
    """A random lmer design: everything but the numbers, which :meth:`data` simulates from ``seed``.

    Example
    -------
    >>> d = Design(seed=1, n_rows=50, structure="one", kinds=("x",), x_form="x", z_form="",
    ...            f_form="f", offset="none", weights="none", na_cols=(), n_g1=6, n_small=0,
    ...            y_scale=1.0, x_scale=1.0, z_scale=1.0, re_sd=(1.0, 0.3), REML=True,
    ...            shuffle_levels=False)
    >>> d.formula()
    'y ~ x + f + (x | g1)'
    >>> len(d.data())
    50
    """
    seed: int
    n_rows: int
    structure: str
    kinds: tuple            # one random-effects kind per term of the structure
    x_form: str             # how x enters the fixed part
    z_form: str             # a second covariate (z > 0), "" for none
    f_form: str             # factor covariates (f 2-4 levels, h 2 levels), "" for none
    offset: str             # "none", "formula" (offset(off) in the formula) or "argument" (offset=)
    weights: str            # "none", "continuous" or "integer" prior weights
    na_cols: tuple          # columns given missing values
    n_g1: int               # levels of the first grouping factor
    n_small: int            # g1 groups with only 1-2 rows
    y_scale: float
    x_scale: float
    z_scale: float
    re_sd: tuple            # (intercept sd, slope sd) of the simulated random effects, times sigma
    REML: bool
    shuffle_levels: bool    # factor levels in a non-alphabetical order

    # -------------------------------------------------------------------------- the model
    def re_terms(self) -> list[str]:
        k = self.kinds
        return {
            "one": lambda: [re_term(k[0], "g1")],
            "nested-slash": lambda: [re_term(k[0], "g1/g2")],
            "nested-colon": lambda: [re_term(k[0], "g1"), re_term(k[1], "g1:g2")],
            "nested-implicit": lambda: [re_term(k[0], "g1"), re_term(k[1], "g2u")],
            "crossed": lambda: [re_term(k[0], "g1"), re_term(k[1], "g3")],
            "partial": lambda: [re_term(k[0], "g1"), re_term(k[1], "g3p")],
            "nested+crossed": lambda: [re_term(k[0], "g1/g2"), re_term(k[1], "g3")],
            "crossed3": lambda: [re_term(k[0], "g1"), re_term(k[1], "g3p"), re_term(k[2], "g4")],
            "four": lambda: [re_term(k[0], "g1"), re_term(k[1], "g1:g2"), re_term(k[2], "g3"), re_term(k[3], "g4")],
        }[self.structure]()

    def formula(self) -> str:
        fixed = [self.x_form]
        if self.z_form:
            fixed.append(self.z_form)
        if self.f_form:
            fixed.append(self.f_form)
        if self.offset == "formula":
            fixed.append("offset(off)")
        return "y ~ " + " + ".join(fixed + self.re_terms())

    def weights_arg(self) -> str | None:
        return None if self.weights == "none" else "w"

    def offset_arg(self) -> str | None:
        return "off" if self.offset == "argument" else None

    # -------------------------------------------------------------------------- the data
    def data(self) -> pd.DataFrame:
        """The simulated data (a pandas DataFrame; factors are Categoricals)."""
        rng = np.random.default_rng(self.seed)
        n, n1 = self.n_rows, self.n_g1
        sizes = unbalanced_sizes(rng, n, n1, self.n_small, min_size=2, concentration=2.0)
        g1 = np.repeat(np.arange(n1), sizes)
        n = len(g1)
        # g2 nested in g1: labels s1..sk reused in every g1 group; g2u: the same, labelled uniquely
        g2 = nested_codes(rng, g1, n1, 2, 5)
        # g3 fully crossed with g1 (each g1 group cycles through the g3 levels); g3p partially
        # crossed (each g1 group meets only two neighbouring g3p levels); g4 crossed at random
        n3 = int(rng.integers(3, 9))
        g3 = np.empty(n, dtype=int)
        for lev in range(n1):
            rows = np.flatnonzero(g1 == lev)
            g3[rows] = rng.permutation(np.arange(len(rows)) % n3)
        g3p = (g1 * 2 // 3 + rng.integers(0, 2, size=n)) % max(n1 * 2 // 3, 2)
        n3p = int(g3p.max()) + 1
        n4 = int(rng.integers(3, 7))
        g4 = rng.choice(n4, size=n, p=rng.dirichlet(np.full(n4, 2.0)))
        xs = rng.uniform(0.05, 3.0, size=n)                   # x on its standard scale
        zs = np.exp(rng.normal(0.0, 0.5, size=n))
        nf = int(rng.integers(2, 5)) if not {"0+f", "f"} & set(self.kinds) else int(rng.integers(2, 4))
        f = rng.integers(0, nf, size=n)
        h = rng.integers(0, 2, size=n)

        eta = 2.0 + 1.0 * xs + 0.5 * np.log(zs) + np.array([0.0, 0.8, -0.5, 0.3])[f] * (1 + 0.2 * h)
        sd0, sd1 = self.re_sd
        for codes, m in ((g1, n1), (g1 * 4 + g2, n1 * 4), (g3, n3), (g3p, n3p), (g4, n4)):
            u0 = rng.normal(0, sd0, m)
            u1 = rng.normal(0, sd1, m)
            uf = rng.normal(0, sd0, (m, nf))
            eta = eta + u0[codes] + u1[codes] * xs + 0.3 * uf[codes, f]
        if self.weights == "continuous":
            w = rng.uniform(0.2, 3.0, size=n)
        elif self.weights == "integer":
            w = rng.integers(1, 6, size=n).astype(float)
        else:
            w = np.ones(n)
        eps = rng.normal(0.0, 1.0, size=n) / np.sqrt(w)
        off = rng.normal(0.0, 1.0, size=n)
        y = self.y_scale * (eta + eps + (off if self.offset != "none" else 0.0))

        def factor(codes, labels):
            return categorical(codes, labels, rng, self.shuffle_levels)

        df = pd.DataFrame({
            "y": y,
            "x": xs * self.x_scale,
            "z": zs * self.z_scale,
            "f": factor(f, ["lo", "mid", "hi", "top"][:nf]),
            "h": factor(h, ["no", "yes"]),
            "g1": factor(g1, [f"A{i + 1:03d}" for i in range(n1)]),
            "g2": factor(g2, [f"s{i + 1}" for i in range(4)]),
            "g2u": factor(g1 * 4 + g2, [f"A{i // 4 + 1:03d}s{i % 4 + 1}" for i in range(n1 * 4)]),
            "g3": factor(g3, [f"C{i + 1}" for i in range(n3)]),
            "g3p": factor(g3p, [f"P{i + 1:03d}" for i in range(n3p)]),
            "g4": factor(g4, [f"D{i + 1}" for i in range(n4)]),
        })
        # drop unused levels of the nested labels (R's factor() would not have them)
        for col in ("g2u",):
            df[col] = df[col].cat.remove_unused_categories()
        if self.weights != "none":
            df["w"] = w
        if self.offset != "none":
            df["off"] = off * self.y_scale
        for col in self.na_cols:
            k = max(1, int(round(0.03 * n)))
            rows = rng.choice(n, size=min(k, n - 1), replace=False)
            if isinstance(df[col].dtype, pd.CategoricalDtype):
                df[col] = df[col].astype(object).where(~np.isin(np.arange(n), rows), None).astype(
                    pd.CategoricalDtype(df[col].cat.categories))
            else:
                vals = df[col].to_numpy(dtype=float).copy()
                vals[rows] = np.nan
                df[col] = vals
        df = df.iloc[rng.permutation(n)].reset_index(drop=True)
        df.attrs["name"] = "d"
        return df


N_TERMS = {"one": 1, "nested-slash": 1, "nested-colon": 2, "nested-implicit": 2, "crossed": 2, "partial": 2,
           "nested+crossed": 2, "crossed3": 3, "four": 4}

Picker = Callable[[str, Sequence[Any]], Any]


def build_design(pick: Picker, seed: int, max_rows: int | None = None) -> Design:
    """Draw a :class:`Design` whose data come from ``seed``, asking ``pick(name, options)`` for each choice.

    ``pick`` chooses one of ``options`` (repeated options weigh more): a numpy generator for the
    survey (:func:`draw_design`), hypothesis' ``draw`` for the tests.  ``max_rows`` bounds the size.

    Example
    -------
    >>> first = lambda name, options: list(options)[0]
    >>> build_design(first, seed=3).formula()
    'y ~ x + (1 | g1)'
    """
    n_rows = pick("n_rows", [r for r in ROW_COUNTS if max_rows is None or r <= max_rows])
    structure = pick("structure", STRUCTURES)
    kinds = [pick("kind_g1", G1_KINDS)]
    for i in range(1, N_TERMS[structure]):
        nested = structure in ("nested-colon", "nested-implicit") or (structure == "four" and i == 1)
        kinds.append(pick(f"kind_{i}", NESTED_KINDS if nested else CROSSED_KINDS))
    if structure in ("nested-slash", "nested+crossed") and kinds[0] == "0+f":
        kinds[0] = "x"       # (0 + f | g1/g2): too many parameters for the small designs
    per_group = pick("rows_per_group", (3, 5, 5, 10, 30))
    n_g1 = int(np.clip(n_rows // per_group, 3, 300))
    return Design(
        seed=int(seed),
        n_rows=n_rows,
        structure=structure,
        kinds=tuple(kinds),
        x_form=pick("x_form", X_FORMS),
        z_form=pick("z_form", Z_FORMS),
        f_form=pick("f_form", F_FORMS),
        offset=pick("offset", OFFSETS),
        weights=pick("weights", WEIGHTS),
        na_cols=tuple(pick("na_cols", NA_SETS)),
        n_g1=n_g1,
        n_small=min(pick("n_small", (0, 0, 1, 3)), n_g1 - 2),
        y_scale=pick("y_scale", SCALES),
        x_scale=pick("x_scale", SCALES),
        z_scale=pick("z_scale", SCALES),
        re_sd=(pick("re_sd0", RE_SDS), pick("re_sd1", RE_SDS)),
        REML=pick("REML", (True, False)),
        shuffle_levels=pick("shuffle_levels", (False, False, True)),
    )


class _RngPicker:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng([int(seed), 9])

    def __call__(self, name: str, options: Sequence[Any]) -> Any:
        options = list(options)
        return options[int(self.rng.integers(len(options)))]


def draw_design(seed: int, max_rows: int | None = None) -> Design:
    """The survey's design number ``seed`` (its data are simulated from the same seed).

    Example
    -------
    >>> draw_design(7) == draw_design(7)
    True
    """
    return build_design(_RngPicker(seed), seed, max_rows=max_rows)


def unbalanced_sizes(rng: np.random.Generator, n: int, n_groups: int, n_small: int, min_size: int,
                     concentration: float) -> np.ndarray:
    """Group sizes summing to about ``n``: ``n_small`` groups of 1-2 rows, the others at least
    ``min_size`` rows with the rest spread by a Dirichlet(``concentration``) draw.

    Example
    -------
    >>> int(unbalanced_sizes(np.random.default_rng(1), 100, 5, 1, 2, 2.0).sum()) >= 99
    True
    """
    sizes = np.zeros(n_groups, dtype=int)
    small = rng.choice(n_groups, size=n_small, replace=False)
    sizes[small] = rng.integers(1, 3, size=n_small)
    big = np.setdiff1d(np.arange(n_groups), small)
    rest = n - sizes.sum() - min_size * len(big)
    sizes[big] = min_size + rng.multinomial(max(rest, 0), rng.dirichlet(np.full(len(big), concentration)))
    return sizes


# ------------------------------------------------------------------------------------------ R side

def lmer_in_r(design: Design, df: pd.DataFrame) -> dict:
    """Fit ``design`` to ``df`` in lme4 (:func:`rlive.lmer_in_r`, which calls ``lme4::lmer``
    explicitly: another live test attaches lmerTest to the shared R session, whose ``lmer`` adds its
    own fit-time warnings) and return plain Python values."""
    import rlive
    return rlive.lmer_in_r(df, design.formula(), design.REML,
                           weights=None if design.weights == "none" else "w",
                           offset="off" if design.offset == "argument" else None)


# ------------------------------------------------------------------------------------------ our side

class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout("our fit took longer than the time limit")


def fit_ours(design: Design, df: pd.DataFrame, control: dict | None = None, time_limit: int = 0):
    """Our fit of ``design`` and the warnings it gave, as ``(model, [(category name, message)])``."""
    import mixedcompat as mc
    old = None
    if time_limit:
        old = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(time_limit)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = mc.lmer(design.formula(), df, REML=design.REML, weights=design.weights_arg(),
                        offset=design.offset_arg(), control=control)
    finally:
        if time_limit:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    return m, [(w.category.__name__, str(w.message)) for w in caught]


# ------------------------------------------------------------------------------------------ comparison

@dataclasses.dataclass
class Outcome:
    """How one design compares with lme4 (see the module docstring for the classes a-e)."""
    design: Design
    formula: str
    classes: list = dataclasses.field(default_factory=list)   # subset of "a".."e" (d: warnings only)
    details: list = dataclasses.field(default_factory=list)   # (class, text) per finding
    r_error: str | None = None
    our_error: str | None = None
    r_warnings: list = dataclasses.field(default_factory=list)
    our_warnings: list = dataclasses.field(default_factory=list)
    r_warning_classes: set = dataclasses.field(default_factory=set)
    our_warning_classes: set = dataclasses.field(default_factory=set)
    criterion_r: float | None = None
    criterion_ours: float | None = None
    theta_r: list | None = None
    theta_ours: list | None = None
    r_singular: bool | None = None
    our_singular: bool | None = None
    parted: bool = False          # our theta is not R's (helpers.theta_parted)
    undetermined: bool = False    # every table that differs at R's theta is not determined there
    time_r: float = 0.0
    time_ours: float = 0.0

    @property
    def agrees(self) -> bool:
        """Agreement without the warnings (classes a, b, c, e)."""
        return not (set(self.classes) - {"d"})

    @property
    def agrees_where_determined(self) -> bool:
        """Agreement, counting differences in tables not determined at R's theta as rounding."""
        return self.agrees or (not (set(self.classes) - {"b", "d"}) and self.undetermined)

    @property
    def warnings_agree(self) -> bool:
        return "d" not in self.classes

    @property
    def warnings_agree_at_same_optimum(self) -> bool | None:
        """Warning agreement where both fits stopped at the same theta (None where they parted)."""
        return None if self.parted else self.warnings_agree

    @property
    def better(self) -> bool:
        """Our criterion below lme4's by more than BETTER_RTOL relative (lme4 stopped early)."""
        return self.gap is not None and self.gap < -BETTER_RTOL

    @property
    def r_scale_warning(self) -> bool:
        return "rescale" in self.r_warning_classes

    @property
    def gap(self) -> float | None:
        """Our criterion minus R's, relative to R's."""
        if self.criterion_r is None or self.criterion_ours is None:
            return None
        return (self.criterion_ours - self.criterion_r) / max(abs(self.criterion_r), 1e-300)

    def add(self, cls: str, text: str) -> None:
        if cls not in self.classes:
            self.classes.append(cls)
        self.details.append((cls, text))

    def report(self) -> str:
        """A multi-line reproduction of the finding: the design, formula and numbers."""
        lines = [f"{self.design!r}",
                 f"  formula: {self.formula}   REML={self.design.REML} weights={self.design.weights_arg()} "
                 f"offset={self.design.offset_arg()}",
                 f"  classes: {','.join(sorted(self.classes)) or '-'}"]
        if self.r_error or self.our_error:
            lines.append(f"  R error: {self.r_error!r}; ours: {self.our_error!r}")
        if self.criterion_r is not None and self.criterion_ours is not None:
            lines.append(f"  criterion: ours {self.criterion_ours!r}, R {self.criterion_r!r}, "
                         f"(ours - R)/|R| = {self.gap:.3g}")
            lines.append(f"  theta: ours {np.round(self.theta_ours, 6).tolist()}, "
                         f"R {np.round(self.theta_r, 6).tolist()}")
        lines.append(f"  warnings: R {sorted(self.r_warning_classes)} {self.r_warnings}; "
                     f"ours {sorted(self.our_warning_classes)} {[m for _, m in self.our_warnings]}")
        for cls, text in self.details:
            lines.append(f"  [{cls}] {text}")
        return "\n".join(lines)


def _close(a, e, rtol: float = 0.0, atol: Any = 0.0) -> str | None:
    """None when ``a`` and ``e`` agree (helpers' optimum rule: within rtol/atol, or rounding noise on both
    sides relative to the largest |R value|), else a description of the first difference."""
    a = np.asarray(a, dtype=float)
    e = np.asarray(e, dtype=float)
    if a.shape != e.shape:
        return f"shape {a.shape} vs R's {e.shape}"
    finite = np.abs(e[np.isfinite(e)])
    scale = float(finite.max()) if finite.size else 0.0
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True) & ~(is_noise(a, scale) & is_noise(e, scale))
    if not np.any(bad):
        return None
    i = int(np.flatnonzero(bad.ravel())[0])
    rel = np.max(np.abs(a - e)[bad] / np.maximum(np.abs(e)[bad], 1e-300))
    atol_i = float(np.broadcast_to(np.asarray(atol, dtype=float), a.shape).ravel()[i])
    return (f"{int(bad.sum())} of {bad.size} beyond rtol={rtol:g} atol={atol_i:.3g}; first at {i}: "
            f"ours {a.ravel()[i]!r} vs R {e.ravel()[i]!r} (max rel diff {rel:.3g})")


def compare_tables(m, r: dict, df: pd.DataFrame) -> list[tuple[str, str]]:
    """The tables of our model ``m`` (evaluated at R's theta) that differ from lme4's, as
    ``[(table, description)]``; tolerances from helpers' TOL (floors as tests/test_live_r.py)."""
    out: list[tuple[str, str]] = []

    def check(table: str, msg: str | None) -> None:
        if msg:
            out.append((table, msg))

    check("criterion at R's theta", _close(m.REMLcrit(), r["criterion"], **TOL["objective_at"]))
    check("logLik", _close(float(m.logLik()), r["logLik"], **TOL["logLik"]))
    check("sigma", _close(m.sigma(), r["sigma"], **TOL["sigma"]))
    if m.nobs() != r["nobs"]:
        out.append(("nobs", f"ours {m.nobs()} vs R {r['nobs']}"))
    fe = m.fixef()
    if list(fe.index) != r["fixef_names"]:
        out.append(("fixef names", f"ours {list(fe.index)} vs R {r['fixef_names']}"))
    else:
        se = r["se"]
        # TOL["fixef"]: rtol, plus 1e-4 of each coefficient's standard error
        check("fixef", _close(fe.values, r["fixef"], rtol=TOL["fixef"]["rtol"], atol=TOL["fixef_floor"]["atol"] * se))
        check("SE", _close(m.bse.values, se, **TOL["se"]))
    vc = m.VarCorr().to_frame()
    norm = (lambda v: None if v is None or v != v else v)
    names_ours = (list(vc["grp"]), [norm(v) for v in vc["var1"]], [norm(v) for v in vc["var2"]])
    names_r = (r["vc_grp"], r["vc_var1"], r["vc_var2"])
    if names_ours != names_r:
        out.append(("VarCorr names", f"ours {names_ours} vs R {names_r}"))
    else:
        vcov_r, sdcor_r = r["vc_vcov"], r["vc_sdcor"]
        scale = float(np.max(np.abs(vcov_r))) if vcov_r.size else 1.0
        check("VarCorr vcov", _close(vc["vcov"], vcov_r, rtol=TOL["varcorr"]["rtol"],
                                     atol=TOL["varcorr"]["atol"] * scale))
        # correlations are compared absolutely (a correlation of a zero-variance term is noise)
        check("VarCorr sdcor", _close(vc["sdcor"], sdcor_r, rtol=TOL["varcorr"]["rtol"],
                                      atol=np.sqrt(TOL["varcorr"]["atol"] * scale)))
    ranef = m.ranef(condVar=False)
    if list(ranef) != list(r["ranef"]):
        out.append(("ranef groups", f"ours {list(ranef)} vs R {list(r['ranef'])}"))
    else:
        sd_by_group: dict[str, float] = {}
        for g, v1, v2, sd in zip(r["vc_grp"], r["vc_var1"], r["vc_var2"], r["vc_sdcor"]):
            if v2 is None and g != "Residual":
                base = g if g in r["ranef"] else g.split(".")[0]
                sd_by_group[base] = max(sd_by_group.get(base, 0.0), sd)
        for g, spec in r["ranef"].items():
            ours_g = ranef[g]
            if list(ours_g.index) != spec["levels"] or list(ours_g.columns) != spec["columns"]:
                out.append((f"ranef {g} names", f"levels/columns differ: ours {list(ours_g.columns)} "
                                                 f"vs R {spec['columns']}"))
                continue
            scale = sd_by_group.get(g, 0.0) or r["sigma"]
            check(f"ranef {g}", _close(ours_g.values, spec["values"], rtol=TOL["ranef"]["rtol"],
                                       atol=TOL["ranef_floor"]["atol"] * scale))
    ftol = TOL["fitted"]["rtol"]
    ysd = float(np.nanstd(df["y"].to_numpy(dtype=float)))
    check("fitted", _close(np.asarray(m.fitted(), dtype=float), r["fitted"], rtol=ftol, atol=ftol * ysd))
    return out


THETA_NUDGE = 1e-9


def tables_of(m) -> dict:
    """Our model's tables in the shape of :func:`lmer_in_r`'s result (to compare a model with itself)."""
    vc = m.VarCorr().to_frame()
    norm = (lambda v: None if v is None or v != v else v)
    ranef = m.ranef(condVar=False)
    return {"criterion": m.REMLcrit(), "logLik": float(m.logLik()), "sigma": m.sigma(), "nobs": m.nobs(),
            "fixef_names": list(m.fixef().index), "fixef": m.fixef().to_numpy(dtype=float),
            "se": m.bse.to_numpy(dtype=float),
            "vc_grp": list(vc["grp"]), "vc_var1": [norm(v) for v in vc["var1"]],
            "vc_var2": [norm(v) for v in vc["var2"]], "vc_vcov": vc["vcov"].to_numpy(dtype=float),
            "vc_sdcor": vc["sdcor"].to_numpy(dtype=float),
            "ranef": {g: dict(levels=list(v.index), columns=list(v.columns), values=v.to_numpy(dtype=float))
                      for g, v in ranef.items()},
            "fitted": np.asarray(m.fitted(), dtype=float)}


def compare(design: Design, time_limit: int = 300) -> Outcome:
    """Fit ``design`` here and in lme4 and classify every disagreement (see the module docstring)."""
    import mixedcompat as mc
    df = design.data()
    out = Outcome(design=design, formula=design.formula())
    t0 = time.perf_counter()
    r = lmer_in_r(design, df)
    out.time_r = time.perf_counter() - t0
    out.r_error = r["error"]
    out.r_warnings = list(r["warnings"]) + list(r["messages"])
    out.r_warning_classes = {warning_class(w) for w in out.r_warnings} & set(WARNING_CLASSES)

    t0 = time.perf_counter()
    try:
        m, caught = fit_ours(design, df, time_limit=time_limit)
    except (mc.DataError, mc.FormulaError) as exc:
        m, caught = None, []
        out.our_error = f"{type(exc).__name__}: {exc}"
    except _Timeout:
        m, caught = None, []
        out.our_error = f"timeout after {time_limit} s"
        out.add("e", f"timeout: our fit did not finish within {time_limit} s (lme4 took {out.time_r:.1f} s)")
    except Exception as exc:   # noqa: BLE001 -- any other exception is a crash (class e)
        m, caught = None, []
        out.our_error = f"{type(exc).__name__}: {exc}"
        out.add("e", "our fit crashed:\n" + traceback.format_exc(limit=-6))
    out.time_ours = time.perf_counter() - t0
    out.our_warnings = caught
    out.our_warning_classes = {warning_class(msg) for _, msg in caught} & set(WARNING_CLASSES)

    # ---- errors
    if r["error"] is not None:
        if m is not None:
            out.add("c", f"lme4 stops ({r['error']!r}); we fit")
        elif "e" in out.classes:
            pass
        return out
    if m is None:
        if "e" not in out.classes:
            out.add("c", f"lme4 fits; we raise {out.our_error}")
        return out

    try:
        # ---- the criterion
        out.criterion_r, out.criterion_ours = float(r["criterion"]), float(m.REMLcrit())
        out.theta_r, out.theta_ours = list(r["theta"]), list(np.asarray(m.theta, dtype=float))
        out.r_singular, out.our_singular = bool(r["isSingular"]), bool(m.isSingular())
        if out.criterion_ours > out.criterion_r + CRITERION_SLACK * abs(out.criterion_r):
            conv = [w for w in out.r_warnings if warning_class(w) in ("convergence", "rescale")]
            out.add("a", f"ours above lme4's criterion by {out.gap:.3g} relative "
                         f"({out.criterion_ours - out.criterion_r:.3g} absolute); "
                         f"lme4 warned: {conv if conv else 'no'}")

        # ---- everything else at R's theta
        if len(r["theta"]) != len(m.theta):
            out.add("b", f"theta has {len(m.theta)} values, R's {len(r['theta'])}: "
                         f"ours {list(m.getME('theta').index)} vs R {r['theta_names']}")
        else:
            at_r, _ = fit_ours(design, df, control=at_theta(r["theta"]), time_limit=time_limit)
            diffs = compare_tables(at_r, r, df)
            if diffs:
                # is each differing table determined at R's theta?  Our own values at theta * (1 + 1e-9)
                # against those at theta: where they move beyond the tolerance too, the table is not
                # determined in double precision there (an ill-conditioned point), and the difference
                # from R's is rounding, not a model difference
                nudged, _ = fit_ours(design, df, control=at_theta(np.asarray(r["theta"]) * (1 + THETA_NUDGE)),
                                     time_limit=time_limit)
                unstable = {t for t, _ in compare_tables(nudged, tables_of(at_r), df)}
                out.undetermined = all(t in unstable for t, _ in diffs)
            for table, text in diffs:
                note = " [not determined at R's theta: ours moves as much under a 1e-9 change of theta]" \
                    if table in unstable else ""
                out.add("b", f"{table}: {text}{note}")
    except Exception:   # noqa: BLE001 -- a crash in an accessor
        out.add("e", "crash after the fit:\n" + traceback.format_exc(limit=-6))

    # ---- warnings (recorded separately).  lme4's checkConv and isSingular describe the point where
    # lme4 stopped: where our optimum is another point, a different warning set is expected, and
    # what lme4's checks say at lme4's stopping point is in our optinfo["lme4_stop"] when our
    # polishing left it.
    if out.theta_r is not None and len(out.theta_r) == len(out.theta_ours):
        out.parted = theta_parted(out.theta_ours, out.theta_r)
    if out.r_warning_classes != out.our_warning_classes:
        missing = sorted(out.r_warning_classes - out.our_warning_classes)
        extra = sorted(out.our_warning_classes - out.r_warning_classes)
        where = "at the same optimum"
        if out.parted:
            tgap = float(np.max(np.abs(np.subtract(out.theta_ours, out.theta_r)), initial=0.0))
            where = f"at another optimum (theta {tgap:.3g} apart, criterion gap {out.gap:.3g} relative)"
            stop = (m.optinfo.get("lme4_stop") or {}) if m is not None else {}
            if stop:
                said = {warning_class(w) for w in stop.get("messages", [])} & set(WARNING_CLASSES)
                where += f"; lme4's checks at lme4's stopping point, by our optinfo['lme4_stop']: {sorted(said)}"
        out.add("d", f"lme4 warns {missing} where we do not; we warn {extra} where lme4 does not, {where}")
    return out


# ------------------------------------------------------------------------------------------ shrinking

SIMPLER = (("offset", "none"), ("weights", "none"), ("na_cols", ()), ("z_form", ""), ("f_form", ""),
           ("x_form", "x"), ("shuffle_levels", False), ("n_small", 0), ("z_scale", 1.0))


def shrink(design: Design, still_fails: Callable[[Outcome], bool], time_limit: int = 120) -> Design:
    """A simpler design that still fails: each feature of ``SIMPLER`` set to its plain value in turn,
    kept when ``still_fails(compare(simpler))``; then fewer rows while it still fails.

    Example
    -------
    ``shrink(draw_design(130), lambda o: "a" in o.classes)``
    """
    current = design
    for field, plain in SIMPLER:
        if getattr(current, field) == plain:
            continue
        trial = dataclasses.replace(current, **{field: plain})
        if still_fails(compare(trial, time_limit=time_limit)):
            current = trial
    for n in (20, 30, 50, 100, 200, 400, 1000):
        if n >= current.n_rows:
            break
        trial = dataclasses.replace(current, n_rows=n, n_g1=max(3, min(current.n_g1, n // 3)))
        if still_fails(compare(trial, time_limit=time_limit)):
            current = trial
            break
    return current
