"""pbkrtest's parametric bootstrap comparison of nested mixed models (pbkrtest 0.5.2): ``PBrefdist``,
``PBmodcomp`` with its print and its summary table (``LRT``, ``PBtest``, ``Gamma``, ``Bartlett``,
``F``), and ``getLRT``.

* :func:`PBrefdist` draws the reference distribution of the likelihood-ratio statistic: each sample
  simulates a response from the small model (both models refitted by maximum likelihood first, as
  pbkrtest), refits both models to it and records ``2 (logLik(large) - logLik(small))``.  The
  replicates run on :func:`mixedcompat.inference.bootstrap.lrt_replicates` (serial, processes,
  threads or a Dask cluster; one random stream per sample, so the same ``seed`` gives the same
  samples whatever the number of workers).  The result, :class:`PBRefDist`, is R's ``refdist``: the
  samples with the attributes ``cl``, ``ctime``, ``stat``, ``samples`` (and our ``seed``).
* :func:`PBmodcomp` gives pbkrtest's test table from a reference distribution -- one it draws, or one
  given as ``ref=`` (a :class:`PBRefDist` or plain numbers, as R) -- and :meth:`PBModComp.summary`
  pbkrtest's ``summary``: with ``E``, ``V`` the mean and variance of the positive samples, the
  Bartlett-corrected statistic ``ndf * tobs / E`` against chi-square(ndf), the Gamma distribution
  with the same mean and variance (scale ``V / E``, shape ``E^2 / V``), and ``F = tobs / ndf`` against
  ``F(ndf, 2 E / (E - 1))``.

As pbkrtest, the p-values are ``1 - cdf`` (so 0 below about 1e-16), the samples counted are the
positive ones (``npos``), and ``PBtest``'s p-value is ``(1 + #{samples > tobs}) / (1 + npos)``.
"""
from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedcompat.errors import DataError
from mixedcompat.glmer.fit import GlmerMod
from mixedcompat.inference.bootstrap import check_parallel, lrt_replicates
from mixedcompat.inference.dask_executor import client_threads, is_client
from mixedcompat.lme4.fit import LmerMod, update
from mixedcompat.lme4.prediction import check_nsim, type_name
from mixedcompat.model import require_rows
from mixedcompat.numerics.rlinalg import rank_matrix
from mixedcompat.present.html import HtmlRepr
from mixedcompat.present.lme4_printing import deparse_formula
from mixedcompat.present.rformat import (format_real, print_coefmat, print_named_vector, print_vector,
                                         r_round)

__all__ = ["PBRefDist", "PBModComp", "PBModCompSummary", "PBrefdist", "PBmodcomp", "getLRT"]

_RESTRICTION_FAILS = ("{fun}: a restriction matrix as the small model is not supported: pbkrtest 0.5.2 fails on it "
                      "for lmer and glmer fits (R: bad 'data': object 'new.data' not found); fit the restricted "
                      "model and give it as the small model, or use KRmodcomp / SATmodcomp, which take L")


# ================================================================================================
# the two models


def _check_model(m: Any, what: str, fun: str) -> None:
    if not isinstance(m, LmerMod):
        raise TypeError(f"{fun}: the {what} model must be an lmer or glmer fit, not {type_name(m)}")
    require_rows(m, fun)


def _ml_fit(m: LmerMod) -> LmerMod:
    """pbkrtest's ``update(m, REML = FALSE)`` of a REML fit (glmer fits are ML fits already)."""
    if not getattr(m, "REML", False):
        return m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return update(m, REML=False)


def _same_response(large: LmerMod, small: LmerMod) -> bool:
    """Both fits model the same observations of the same response (glmer: also the same weights)."""
    if large.nobs() != small.nobs() or isinstance(large, GlmerMod) != isinstance(small, GlmerMod):
        return False
    if isinstance(large, GlmerMod):
        return bool(np.array_equal(large.gdata.y, small.gdata.y) and
                    np.array_equal(large.gdata.weights, small.gdata.weights) and
                    large.family.family == small.family.family and large.family.link.name == small.family.link.name)
    return bool(np.array_equal(large.frame.y, small.frame.y))


def _small_model(large: Any, small: Any, fun: str) -> LmerMod:
    """The small model as a fit: an update formula of ``large`` is fitted; a restriction matrix is
    refused (pbkrtest 0.5.2 fails on it)."""
    if isinstance(small, str):
        _check_model(large, "large", fun)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return update(large, small)
    if isinstance(small, (np.ndarray, list, tuple, pd.DataFrame, int, float, np.number)) \
            and not isinstance(small, bool):
        raise DataError(_RESTRICTION_FAILS.format(fun=fun))
    return small


def _checked_pair(large: Any, small: Any, fun: str) -> tuple[LmerMod, LmerMod]:
    """The models as given, after pbkrtest's implicit requirements are checked: lmer / glmer fits of the
    same response, the small one's fixed-effects columns inside the large one's."""
    small = _small_model(large, small, fun)
    _check_model(large, "large", fun)
    _check_model(small, "small", fun)
    if not _same_response(large, small):
        raise DataError(f"{fun}: the two models must be fitted to the same observations of the same response "
                        f"(and, for glmer fits, the same family and weights): the large model has "
                        f"{large.nobs()} observations, the small one {small.nobs()}")
    X = np.asarray(large.frame.X, dtype=float)
    X2 = np.asarray(small.frame.X, dtype=float)
    r_both = rank_matrix(np.hstack([X, X2]))
    if r_both > rank_matrix(X):
        hint = " (give the larger model first)" if r_both == rank_matrix(X2) else ""
        raise DataError(f"{fun}: the models are not nested: the fixed effects of the small model "
                        f"({deparse_formula(small.parts.tree)}) are not inside those of the large model "
                        f"({deparse_formula(large.parts.tree)}){hint}")
    return large, small


def getLRT(largeModel: LmerMod, smallModel: LmerMod) -> pd.Series:
    """pbkrtest's ``getLRT``: the likelihood-ratio statistic of two maximum-likelihood fits.

    R equivalent: ``pbkrtest::getLRT(largeModel, smallModel)``.

    REML fits are refitted by ML first.  ``p.value`` is ``1 - pchisq(tobs, df)`` as pbkrtest.

    Parameters
    ----------
    largeModel, smallModel : LmerMod or GlmerMod

    Returns
    -------
    pandas.Series
        ``tobs`` (``2 (logLik(large) - logLik(small))``), ``df`` (difference in the number of
        parameters) and ``p.value``.

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    >>> m0 = mc.lmer("Reaction ~ 1 + (Days | Subject)", d)
    >>> round(float(mc.getLRT(m1, m0)["tobs"]), 3)
    23.537
    """
    _check_model(largeModel, "large", "getLRT")
    _check_model(smallModel, "small", "getLRT")
    return _lrt_stat(_ml_fit(largeModel), _ml_fit(smallModel))


def _lrt_stat(large_ml: LmerMod, small_ml: LmerMod) -> pd.Series:
    ll_large, ll_small = large_ml.logLik(), small_ml.logLik()
    tobs = 2.0 * (float(ll_large) - float(ll_small))
    df = float(ll_large.df - ll_small.df)
    p = 1.0 - float(stats.chi2.cdf(tobs, df)) if df > 0 else np.nan
    return pd.Series({"tobs": tobs, "df": df, "p.value": p})


def _nested_stat(large_ml: LmerMod, small_ml: LmerMod, fun: str) -> pd.Series:
    stat = _lrt_stat(large_ml, small_ml)
    if stat["df"] <= 0:
        raise DataError(f"{fun}: the large model has {large_ml.logLik().df} parameters and the small one "
                        f"{small_ml.logLik().df}: the models are not nested (give the larger model first)")
    return stat


# ================================================================================================
# the reference distribution


class PBRefDist(HtmlRepr):
    """pbkrtest's ``refdist``: the simulated likelihood-ratio statistics with R's attributes.

    Behaves as a 1-d float array (``len``, indexing, ``numpy.asarray``); ``str()`` is R's ``print`` of it
    (pbkrtest 0.5.2 registers no print method, so R prints the vector and its attributes).  Built by
    :func:`PBrefdist`, or from samples drawn elsewhere (R's, say): ``PBRefDist(values, stat, nsim=,
    ctime=, cl=)``, with ``samples`` computed from ``values`` and ``stat["tobs"]`` as pbkrtest does.

    Attributes
    ----------
    values : numpy.ndarray
        The samples (NaN for a replicate whose refit failed; R stops instead).
    cl : int
        Number of workers (R's ``attr(, "cl")``).
    ctime : float
        Seconds spent sampling (R's ``attr(, "ctime")``, its elapsed time).
    stat : pandas.Series
        ``tobs``, ``df``, ``p.value`` (:func:`getLRT`).
    samples : pandas.Series
        ``nsim`` (requested), ``npos`` (positive samples), ``n.extreme`` (samples above ``tobs``),
        ``pPB`` (``(1 + n.extreme) / (1 + npos)``).
    seed : int or numpy.random.SeedSequence
        What reproduces the samples (ours: pbkrtest 0.5.2 ignores its ``seed`` argument).
    nfail : int
        Replicates whose refit failed.

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    >>> r = mc.PBrefdist(m1, mc.lmer("Reaction ~ 1 + (Days | Subject)", d, REML=False), nsim=10, seed=1)
    >>> len(r), int(r.samples["nsim"])
    (10, 10)
    """

    def __init__(self, values: Any, stat: pd.Series, nsim: int | None = None, ctime: float | None = None,
                 cl: int = 1, seed: Any = None, nfail: int = 0):
        self.values = np.asarray(values, dtype=float).ravel()
        self.values.flags.writeable = False
        self.stat = pd.Series(stat, dtype=float)
        self.cl = cl
        self.ctime = ctime
        self.seed = seed
        self.nfail = int(nfail)
        ref = self.values
        tobs = float(self.stat["tobs"])
        npos = int(np.sum(ref > 0))
        n_extreme = int(np.sum(ref > tobs))
        self.samples = pd.Series({"nsim": float(len(ref) if nsim is None else nsim), "npos": float(npos),
                                  "n.extreme": float(n_extreme), "pPB": (1 + n_extreme) / (1 + npos)})

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values.astype(dtype or float, copy=True)

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self):
        return iter(self.values)

    def __getitem__(self, item: Any) -> Any:
        return self.values[item]

    def to_numpy(self) -> np.ndarray:
        """The samples (a copy)."""
        return self.values.copy()

    def __str__(self) -> str:
        """R's ``print(ref)``: the values, then ``attr(,"cl")``, ``attr(,"ctime")``, ``attr(,"stat")``,
        ``attr(,"samples")`` and ``attr(,"class")``."""
        lines = print_vector(format_real(_r_numbers(self.values), 7))
        lines += ['attr(,"cl")', f"[1] {self.cl}"]
        if self.ctime is not None:
            lines += ['attr(,"ctime")'] + print_named_vector(format_real([round(self.ctime, 3)], 7), ["elapsed"])
        lines += ['attr(,"stat")'] + print_named_vector(format_real(_r_numbers(self.stat.to_numpy()), 7),
                                                         list(self.stat.index))
        lines += ['attr(,"samples")'] + print_named_vector(format_real(_r_numbers(self.samples.to_numpy()), 7),
                                                            list(self.samples.index))
        lines += ['attr(,"class")', '[1] "refdist"']
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def _r_numbers(x: np.ndarray) -> list:
    return [None if np.isnan(v) else float(v) for v in np.asarray(x, dtype=float)]


def _workers_of_cl(cl: Any, parallel: Any) -> tuple[Any, int]:
    """(``parallel`` for the replicate runner, number of workers) from pbkrtest's ``cl``."""
    if cl is None:
        return parallel, 1
    if parallel is not None:
        raise ValueError("give cl (pbkrtest's argument) or parallel, not both")
    if is_client(cl):
        return cl, client_threads(cl)
    if isinstance(cl, (bool, np.bool_)) or not isinstance(cl, (int, np.integer, float)) or not cl >= 1 \
            or (isinstance(cl, float) and not float(cl).is_integer()):
        raise ValueError(f"invalid 'cl' specified in call: {cl!r} (a number of workers >= 1 or a "
                         f"dask.distributed Client)")
    return (None if int(cl) == 1 else int(cl)), int(cl)


def PBrefdist(largeModel: LmerMod, smallModel: Any, nsim: int = 1000, seed: Any = None, cl: Any = None,
              details: int = 0, *, parallel: Any = None, progress: bool = True,
              ncpus: int | None = None) -> PBRefDist:
    """The parametric-bootstrap reference distribution of the likelihood-ratio statistic (pbkrtest's
    ``PBrefdist``).

    R equivalent: ``pbkrtest::PBrefdist(largeModel, smallModel, nsim = 1000, seed = 1)``.

    Both models are refitted by maximum likelihood when they are REML fits; each sample simulates a
    response from the small model, refits both models to it (from their fitted theta) and records
    ``2 (logLik(large) - logLik(small))``.

    Parameters
    ----------
    largeModel : LmerMod or GlmerMod
    smallModel : LmerMod, GlmerMod or str
        A fit nested in ``largeModel`` (same response and observations) or an update formula for it
        (``". ~ . - Days"``).  A restriction matrix is refused: pbkrtest 0.5.2 fails on it.
    nsim : int
        Number of samples (>= 1).
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None
        numpy's random numbers, not R's: sample ``i`` draws from ``SeedSequence(seed).spawn(nsim)[i]``,
        so the samples depend on ``seed`` only, whatever the workers.  (pbkrtest 0.5.2 ignores its
        ``seed``: R users call ``set.seed`` first.)
    cl : int or dask.distributed Client, optional
        pbkrtest's argument: ``cl`` workers, each drawing ``nsim %/% cl`` samples as pbkrtest does, so
        ``cl * (nsim // cl)`` samples in all while ``samples["nsim"]`` says ``nsim`` (R's behaviour:
        the samples are the first ones of the run with ``cl = 1``).  ``parallel=`` runs all ``nsim``.
    details : int
        > 0: print pbkrtest's line with the number of samples and the time.
    parallel, progress, ncpus
        As :func:`mixedcompat.bootMer` (a worker count, ``"threads"``, or a Dask client).

    Returns
    -------
    PBRefDist

    Raises
    ------
    DataError
        ``nsim < 1``; the models are fitted to different observations or responses, are not nested
        (the small model's fixed effects outside the large one's, or not fewer parameters), or
        ``smallModel`` is a restriction matrix.
    TypeError
        A model that is not an lmer / glmer fit.
    ValueError
        An unknown ``parallel`` or ``cl``.

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    >>> r = mc.PBrefdist(m1, ". ~ . - Days", nsim=20, seed=1)
    >>> r.stat.index.tolist(), r.samples.index.tolist()
    (['tobs', 'df', 'p.value'], ['nsim', 'npos', 'n.extreme', 'pPB'])
    """
    nsim = check_nsim(nsim)
    run_parallel, n_cl = _workers_of_cl(cl, parallel)
    check_parallel(run_parallel, ncpus)
    large, small = _checked_pair(largeModel, smallModel, "PBrefdist")
    large_ml, small_ml = _ml_fit(large), _ml_fit(small)
    stat = _nested_stat(large_ml, small_ml, "PBrefdist")
    n_draw = n_cl * (nsim // n_cl)
    if n_draw < 1:
        raise DataError(f"PBrefdist: nsim = {nsim} with cl = {n_cl} workers draws nsim %/% cl = 0 samples per "
                        f"worker (pbkrtest's rule); give nsim >= cl or use parallel=")
    start = time.perf_counter()
    ref, fails, seed_out = lrt_replicates(large_ml, small_ml, n_draw, seed, run_parallel, ncpus, progress,
                                          "PBrefdist")
    ctime = round(time.perf_counter() - start, 3)
    nfail = sum(fails.values())
    if nfail:
        warnings.warn(f"some bootstrap runs failed ({nfail}/{n_draw})", UserWarning, stacklevel=2)
    if details > 0:
        print(f"Reference distribution with {len(ref):5d} samples; computing time: {ctime:5.2f} secs. ")
    workers = n_cl if cl is not None else check_parallel(run_parallel, ncpus)[1]
    return PBRefDist(ref, stat, nsim=nsim, ctime=ctime, cl=workers, seed=seed_out, nfail=nfail)


# ================================================================================================
# the test and its summary


def _header(ctime: float | None, samples: dict, n_extreme: int, formula_large: str,
            formula_small: str) -> list[str]:
    """pbkrtest's ``.PBcommon``: time, samples and extremes, then the formulas (the small one without
    its ``small :`` label: pbkrtest keeps it as a call, which it prints bare)."""
    nsim, npos = samples["nsim"], samples["npos"]
    time_part = f"time: {r_round(ctime, 2):.2f} sec;" if ctime is not None else ""
    lines = [f"Bootstrap test; {time_part} samples: {nsim}; extremes: {n_extreme};"]
    if npos < nsim:
        lines.append(f"Requested samples: {nsim} Used samples: {npos} Extremes: {n_extreme}")
    return lines + [f"large : {formula_large}", formula_small]


def _table_lines(test: pd.DataFrame) -> list[str]:
    """``printCoefmat(test, tst.ind = 1, na.print = "", has.Pvalue = TRUE)`` (digits 5)."""
    return print_coefmat(test.to_numpy(dtype=float), list(test.index), list(test.columns), digits=5,
                         tst_ind=(0,), has_pvalue=True, na_print="")


class PBModComp(HtmlRepr):
    """pbkrtest's ``PBmodcomp`` result.

    Attributes
    ----------
    test : pandas.DataFrame
        Rows ``LRT``, ``PBtest``; columns ``stat``, ``df``, ``p.value`` (``df`` NaN for PBtest).
    ref : numpy.ndarray
        The reference distribution (NaN for failed replicates).
    LRTstat : pandas.Series
        ``tobs``, ``df``, ``p.value``.
    samples : dict
        ``nsim`` (the number of samples) and ``npos`` (positive samples, what the p-value counts).
    n_extreme : int
        Positive samples above the observed statistic.
    ctime : float or None
        Seconds spent sampling (None when ``ref`` was given as plain numbers, as R).
    formula_large, formula_small : str
    seed : int, numpy.random.SeedSequence or None
        What reproduces ``ref``.

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    >>> pb = mc.PBmodcomp(m1, ". ~ . - Days", ref=[0.5, 1.2, 30.0])
    >>> pb.n_extreme, round(float(pb.test.loc["PBtest", "p.value"]), 2)
    (1, 0.5)
    """

    def __init__(self, test: pd.DataFrame, ref: np.ndarray, LRTstat: pd.Series, samples: dict,
                 n_extreme: int, ctime: float | None, formula_large: str, formula_small: str, seed: Any):
        self.test = test
        self.ref = ref
        self.LRTstat = LRTstat
        self.samples = samples
        self.n_extreme = n_extreme
        self.ctime = ctime
        self.formula_large = formula_large
        self.formula_small = formula_small
        self.seed = seed

    def __str__(self) -> str:
        """pbkrtest's ``print.PBmodcomp``: its header, then the ``LRT`` and ``PBtest`` rows."""
        return "\n".join(_header(self.ctime, self.samples, self.n_extreme, self.formula_large,
                                 self.formula_small) + _table_lines(self.test))

    def __repr__(self) -> str:
        return self.__str__()

    def to_frame(self) -> pd.DataFrame:
        """``as.data.frame(pb)``: the test table."""
        return self.test.copy()

    def tidy(self) -> pd.DataFrame:
        """pbkrtest's ``tidy(pb)``: the test table with the row names as a first column ``type``."""
        return _tidy(self.test)

    def summary(self) -> "PBModCompSummary":
        """pbkrtest's ``summary(pb)``: the table with the ``Gamma``, ``Bartlett`` and ``F`` rows."""
        return _summarize(self)


class PBModCompSummary(HtmlRepr):
    """pbkrtest's ``summary_PBmodcomp``.

    Attributes
    ----------
    test : pandas.DataFrame
        Rows ``LRT, PBtest, Gamma, Bartlett, F``; columns ``stat, df, ddf, p.value``.
    moment : pandas.Series
        ``mean``, ``var`` of the positive samples.
    gamma : pandas.Series
        ``scale``, ``shape`` of the Gamma distribution with those moments.
    samples : dict
        ``nsim``, ``npos``.
    ci, se
        pbkrtest's rounded (4 decimals) standard error of the ``PBtest`` p-value and its 95% interval.
    n_extreme, ctime, ref, formula_large, formula_small
        As :class:`PBModComp`.
    """

    type = "X2test"

    def __init__(self, test: pd.DataFrame, moment: pd.Series, samples: dict, gamma: pd.Series,
                 ref: np.ndarray, ci: np.ndarray, se: float, n_extreme: int, ctime: float | None,
                 formula_large: str, formula_small: str):
        self.test = test
        self.moment = moment
        self.samples = samples
        self.gamma = gamma
        self.ref = ref
        self.ci = ci
        self.se = se
        self.n_extreme = n_extreme
        self.ctime = ctime
        self.formula_large = formula_large
        self.formula_small = formula_small

    def __str__(self) -> str:
        """pbkrtest's ``print.summary_PBmodcomp``: the header, the five rows and an empty line."""
        return "\n".join(_header(self.ctime, self.samples, self.n_extreme, self.formula_large,
                                 self.formula_small) + _table_lines(self.test) + [""])

    def __repr__(self) -> str:
        return self.__str__()

    def to_frame(self) -> pd.DataFrame:
        """``as.data.frame(summary(pb))``: the table (the other components in ``.attrs``)."""
        out = self.test.copy()
        out.attrs.update({"type": self.type, "moment": self.moment.copy(), "samples": dict(self.samples),
                          "gamma": self.gamma.copy(), "ci": self.ci.copy(), "se": self.se,
                          "n.extreme": self.n_extreme, "ctime": self.ctime})
        return out

    def tidy(self) -> pd.DataFrame:
        """pbkrtest's ``tidy(summary(pb))``: the table with a first column ``type``."""
        return _tidy(self.test)


def _tidy(test: pd.DataFrame) -> pd.DataFrame:
    out = test.reset_index(names="type")
    out.index = range(len(out))
    return out


def _upper(p_lower: float) -> float:
    """pbkrtest's ``1 - cdf`` (NaN stays NaN)."""
    return 1.0 - p_lower if np.isfinite(p_lower) else np.nan


def _summarize(pb: PBModComp) -> PBModCompSummary:
    """pbkrtest's ``.summarizePB`` of the statistic and the reference distribution."""
    tobs, ndf = float(pb.LRTstat["tobs"]), float(pb.LRTstat["df"])
    ref = np.asarray(pb.ref, dtype=float)
    refpos = ref[ref > 0]
    nsim, npos = len(ref), len(refpos)
    if npos == 0:
        raise DataError("summary(PBmodcomp): no positive sample in the reference distribution, so no moments "
                        "to match (pbkrtest 0.5.2 fails here: missing value where TRUE/FALSE needed)")
    EE = float(np.mean(refpos))
    VV = float(np.var(refpos, ddof=1)) if npos > 1 else np.nan
    p_chi = _upper(stats.chi2.cdf(tobs, ndf))
    n_extreme = int(np.sum(tobs < refpos))
    p_pb = (1 + n_extreme) / (1 + npos)
    se = float(r_round(np.sqrt(p_pb * (1 - p_pb) / npos), 4))
    ci = np.asarray(r_round(np.array([-1.96, 1.96]) * se + p_pb, 4), dtype=float)
    bc_stat = ndf * tobs / EE
    p_bc = _upper(stats.chi2.cdf(bc_stat, ndf))
    scale, shape = VV / EE, EE ** 2 / VV
    p_ga = _upper(stats.gamma.cdf(tobs, a=shape, scale=scale)) if np.isfinite(VV) and VV > 0 else np.nan
    ddf = 2 * EE / (EE - 1) if EE != 1 else np.inf
    fobs = tobs / ndf
    if ddf > 0:
        p_f = _upper(stats.chi2.cdf(fobs * ndf, ndf) if np.isinf(ddf) else stats.f.cdf(fobs, ndf, ddf))
    else:
        p_f = np.nan
    nan = np.nan
    test = pd.DataFrame([[tobs, ndf, nan, p_chi], [tobs, nan, nan, p_pb], [tobs, nan, nan, p_ga],
                         [bc_stat, ndf, nan, p_bc], [fobs, ndf, ddf, p_f]],
                        index=["LRT", "PBtest", "Gamma", "Bartlett", "F"], columns=["stat", "df", "ddf", "p.value"])
    return PBModCompSummary(test, pd.Series({"mean": EE, "var": VV}), {"nsim": nsim, "npos": npos},
                            pd.Series({"scale": scale, "shape": shape}), ref, ci, se, n_extreme, pb.ctime,
                            pb.formula_large, pb.formula_small)


def _reference(ref: Any) -> tuple[np.ndarray, float | None]:
    """``ref=`` as samples and its time: a :class:`PBRefDist` or a 1-d sequence of numbers."""
    if isinstance(ref, PBRefDist):
        return ref.to_numpy(), ref.ctime
    if isinstance(ref, (str, bytes, dict, pd.DataFrame)) or not hasattr(ref, "__len__"):
        raise TypeError(f"PBmodcomp: ref must be a reference distribution (from PBrefdist) or a sequence of "
                        f"numbers, not {type_name(ref)}")
    try:
        values = np.asarray(ref, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"PBmodcomp: ref must hold numbers (the simulated LRT statistics): {exc}") from exc
    if values.ndim != 1:
        raise TypeError(f"PBmodcomp: ref must be one-dimensional (the simulated LRT statistics), not of shape "
                        f"{values.shape}")
    if values.size == 0:
        raise DataError("PBmodcomp: ref has no samples")
    return values, None


def PBmodcomp(largeModel: LmerMod, smallModel: Any, nsim: int = 1000, ref: Any = None, seed: Any = None,
              cl: Any = None, details: int = 0, *, parallel: Any = None, progress: bool = True,
              ncpus: int | None = None) -> PBModComp:
    """Parametric bootstrap likelihood-ratio test of nested models, as pbkrtest's ``PBmodcomp``.

    R equivalent: ``pbkrtest::PBmodcomp(largeModel, smallModel, nsim = 1000, seed = 1)``.

    The observed statistic is ``2 (logLik(large) - logLik(small))`` of the maximum-likelihood fits
    (REML fits are refitted by ML, as pbkrtest); its reference distribution is ``ref`` when given,
    else :func:`PBrefdist`'s.  ``summary(pb)`` (:meth:`PBModComp.summary`) adds pbkrtest's Gamma,
    Bartlett and F approximations.

    Parameters
    ----------
    largeModel : LmerMod or GlmerMod
    smallModel : LmerMod, GlmerMod or str
        As :func:`PBrefdist`.
    nsim : int
        Number of samples when ``ref`` is not given (>= 1).
    ref : PBRefDist or sequence of float, optional
        A reference distribution: from :func:`PBrefdist` (its time is printed), or plain numbers (R's
        samples, say; no time printed, as R).  NaN samples (failed replicates) are not counted.
    seed, cl, details, parallel, progress, ncpus
        As :func:`PBrefdist`.

    Returns
    -------
    PBModComp
        ``.test``: rows ``LRT`` (chi-square with ``df`` = the difference in the number of parameters)
        and ``PBtest`` (``(1 + #{ref > stat}) / (1 + #{ref > 0})``); ``str()`` is pbkrtest's print.

    Raises
    ------
    DataError, TypeError, ValueError
        As :func:`PBrefdist`; ``ref`` that is not a 1-d sequence of numbers (TypeError) or is empty.

    Examples
    --------
    >>> d = mc.datasets.load("sleepstudy")
    >>> m_large = mc.lmer("Reaction ~ Days + (Days | Subject)", d, REML=False)
    >>> m_small = mc.lmer("Reaction ~ 1 + (Days | Subject)", d, REML=False)
    >>> pb = mc.PBmodcomp(m_large, m_small, nsim=20, seed=1)
    >>> pb.test.index.tolist(), round(float(pb.test.loc["LRT", "stat"]), 3)
    (['LRT', 'PBtest'], 23.537)
    >>> pb.summary().test.index.tolist()
    ['LRT', 'PBtest', 'Gamma', 'Bartlett', 'F']
    """
    if ref is None:
        nsim = check_nsim(nsim)
        check_parallel(_workers_of_cl(cl, parallel)[0], ncpus)
    else:
        values, ctime = _reference(ref)
    large, small = _checked_pair(largeModel, smallModel, "PBmodcomp")
    seed_out = None
    if ref is None:
        drawn = PBrefdist(large, small, nsim=nsim, seed=seed, cl=cl, details=details, parallel=parallel,
                          progress=progress, ncpus=ncpus)
        values, ctime, seed_out, stat = drawn.to_numpy(), drawn.ctime, drawn.seed, drawn.stat
    else:
        seed_out = ref.seed if isinstance(ref, PBRefDist) else None
        stat = _nested_stat(_ml_fit(large), _ml_fit(small), "PBmodcomp")
    tobs, df = float(stat["tobs"]), float(stat["df"])
    refpos = values[values > 0]
    n_extreme = int(np.sum(tobs < refpos))
    p_pb = (1 + n_extreme) / (1 + len(refpos))
    test = pd.DataFrame({"stat": [tobs, tobs], "df": [df, np.nan], "p.value": [float(stat["p.value"]), p_pb]},
                        index=["LRT", "PBtest"])
    return PBModComp(test, values, stat.copy(), {"nsim": len(values), "npos": int(len(refpos))}, n_extreme,
                     ctime, deparse_formula(large.parts.tree), deparse_formula(small.parts.tree), seed_out)
