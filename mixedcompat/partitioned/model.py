"""``lmer`` on a Dask DataFrame: the fit (:class:`PartitionedLmerMod`, an ``LmerMod``) from the
partitioned criterion, and its row-level results as lazy Dask collections.

Everything an ``LmerMod`` computes from the optimum -- fixed and random effects, ``vcov``,
``VarCorr``, ``logLik``, ``ranef`` with conditional variances, profiles and Wald intervals,
Satterthwaite tests, the ML refit of ``anova`` -- reads only the criterion's block sums
(:class:`~mixedcompat.partitioned.criterion.PartitionedCriterion`), so it is the same code as in
memory.  The rows stay in the Dask DataFrame: ``fitted()``, ``residuals()`` and ``predict(newdata=)``
are lazy Dask Series computed partition by partition, and the summary's residual quantiles are
exact order statistics (:func:`~mixedcompat.partitioned.quantiles.quantiles7`).  What needs the rows
in memory (``getME("X")``, ``simulate``, ``refit``, ``bootMer`` ...) raises a :class:`DataError`
that says so.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dask import delayed

from mixedcompat.errors import DataError
from mixedcompat.front.data_input import is_dask_frame
from mixedcompat.front.design import model_frame_on_levels
from mixedcompat.front.formula import FormulaParts, parse_formula
from mixedcompat.front.reterms import make_reterms
from mixedcompat.front.rlang import Node
from mixedcompat.interop.statsmodels_api import CallableInt
from mixedcompat.lme4.checks import check_rank_x, with_rank_messages
from mixedcompat.lme4.control import lmer_control
from mixedcompat.lme4.fit import LmerMod
from mixedcompat.model import require_rows
from mixedcompat.lme4.optimize import OptSummary
from mixedcompat.lme4.prediction import predict
from mixedcompat.numerics.threads import blas_threads
from mixedcompat.partitioned.criterion import PartitionedCriterion
from mixedcompat.partitioned.levels import GlobalLevels, ModelInputs
from mixedcompat.partitioned.quantiles import quantiles7

__all__ = ["lmer_partitioned", "PartitionedLmerMod", "RowModel", "partition_rows"]

ROW_COMPONENTS = ("X", "Z", "Zt", "flist", "y", "mu", "offset", "weights")


@dataclass(frozen=True)
class RowModel:
    """What a partition needs to compute its fitted values: how its model frame is built and the
    fit's estimates (kept fixed-effects columns, beta, the random effects per term)."""

    inputs: ModelInputs
    levels: GlobalLevels
    kept: tuple[int, ...]
    beta: np.ndarray
    b: tuple[np.ndarray, ...]


def partition_rows(pdf: pd.DataFrame, rm: RowModel) -> pd.DataFrame:
    """One partition's kept rows (index: their labels): the response ``y``, the fitted value
    ``fitted`` (``X beta + Z b + offset``, as the in-memory fit) and ``sqrtw``, the square root of
    the prior weight.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> d = mc.datasets.load("sleepstudy")
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    >>> inputs = ModelInputs(m.parts)
    >>> lv = GlobalLevels(180, {"Subject": list(m.terms[0].levels)})
    >>> rows = partition_rows(d.iloc[:10], RowModel(inputs, lv, (0, 1), m.beta, tuple(m.b)))
    >>> bool(np.allclose(rows["fitted"], m.fitted()[:10], rtol=1e-12))
    True
    """
    inp = rm.inputs
    frame = model_frame_on_levels(inp.parts, pdf, rm.levels.levels, inp.weights, inp.offset, inp.na_action,
                                  inp.contrasts, inp.params)
    n = len(frame.y)
    X = frame.X[:, list(rm.kept)]
    eta = X @ rm.beta if X.shape[1] else np.zeros(n)
    terms = make_reterms(inp.parts.re_terms, frame.re_X, frame.re_groups, n)
    for t, bk in zip(terms, rm.b):
        eta = eta + np.einsum("ij,ij->i", t.X, bk[t.codes])
    if frame.offset is not None:
        eta = eta + frame.offset
    sqrtw = np.ones(n) if frame.weights is None else np.sqrt(frame.weights)
    return pd.DataFrame({"y": np.asarray(frame.y, dtype=float), "fitted": eta, "sqrtw": sqrtw},
                        index=frame.data.index)


_ROWS_META = pd.DataFrame({"y": np.zeros(0), "fitted": np.zeros(0), "sqrtw": np.zeros(0)})


def _predict_partition(pdf: pd.DataFrame, m: "PartitionedLmerMod", kwargs: dict) -> pd.Series:
    return pd.Series(np.asarray(predict(m, newdata=pdf, **kwargs), dtype=float), index=pdf.index)


def lmer_partitioned(formula: str | Node | FormulaParts, data: Any, REML: bool = True, weights: str | None = None,
                     offset: str | None = None, subset: Any = None, na_action: str = "omit",
                     contrasts: dict | None = None, control: dict | None = None, split_every: int = 8,
                     memory: int | None = None) -> PartitionedLmerMod:
    """``lmer`` on a Dask DataFrame (see :func:`mixedcompat.lmer`): the block sums of the model are
    reduced over the partitions on the active Dask scheduler, then lme4's optimiser runs on them.

    Parameters
    ----------
    formula, REML, na_action, contrasts, control
        As :func:`mixedcompat.lmer`.
    data : dask.dataframe.DataFrame
    weights, offset : str, optional
        Column names.
    subset : None
        Not taken: filter the Dask DataFrame (``data[data.x > 0]``).
    split_every : int
        Partitions combined per node of the reduction tree.
    memory : int, optional
        See :class:`~mixedcompat.partitioned.criterion.PartitionedCriterion`.

    Returns
    -------
    PartitionedLmerMod

    Examples
    --------
    >>> import dask.dataframe as dd, mixedcompat as mc
    >>> d = dd.from_pandas(mc.datasets.load("Dyestuff"), npartitions=2)
    >>> round(lmer_partitioned("Yield ~ 1 + (1 | Batch)", d).sigma(), 3)
    49.51
    """
    if subset is not None:
        raise DataError("subset= of a fit on a Dask DataFrame: filter the Dask DataFrame instead "
                        "(data[data.x > 0]) and fit that")
    if not isinstance(REML, (bool, np.bool_)):
        raise DataError(f"REML must be True or False, not {REML!r}")
    ctrl = lmer_control(control)
    parts = parse_formula(formula)
    crit, fit_warnings = with_rank_messages(
        lambda: PartitionedCriterion(parts, data, REML=bool(REML), weights=weights, offset=offset,
                                     na_action=na_action, contrasts=contrasts, split_every=split_every,
                                     memory=memory), ctrl)
    check_rank_x(crit.dropped, len(crit.x_names) + len(crit.dropped), ctrl["check_rankX"])
    fit_warnings += crit.scale_messages(ctrl["check_scaleX"])
    with blas_threads(ctrl["blas_threads"]):
        opt = crit.optimize(control)
    attrs = getattr(getattr(data, "_meta", None), "attrs", None)      # a pandas frame's name survives in the meta
    names = {"data_name": attrs.get("name", "data") if isinstance(attrs, dict) else "data",
             "weights_name": weights, "offset_name": offset}
    call = {"formula": formula, "data": data, "REML": bool(REML), "weights": weights, "offset": offset,
            "subset": subset, "na_action": na_action, "contrasts": contrasts, "control": control}
    text = formula if isinstance(formula, str) else parts.text
    with blas_threads(ctrl["blas_threads"]):
        return PartitionedLmerMod(text, crit, data, opt, control or {}, fit_warnings, call, names)


class PartitionedLmerMod(LmerMod):
    """An ``LmerMod`` fitted to a Dask DataFrame (:func:`lmer_partitioned`): the estimates and
    everything computed from them are an in-memory fit's; row-level results are lazy Dask Series.

    Extra attributes: ``data`` (the Dask DataFrame), ``partitioned`` (its
    :class:`~mixedcompat.partitioned.criterion.PartitionedCriterion`).  ``frame`` has no rows.

    Examples
    --------
    >>> import dask.dataframe as dd, mixedcompat as mc
    >>> d = dd.from_pandas(mc.datasets.load("sleepstudy"), npartitions=3)
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", d)
    >>> m.nobs, round(m.REMLcrit(), 3), type(m.fitted()).__name__
    (180, 1743.628, 'Series')
    """

    holds_rows = False
    fitter = staticmethod(lmer_partitioned)

    def __init__(self, text: str, crit: PartitionedCriterion, data: Any, opt: OptSummary, control: dict,
                 fit_warnings: list[str], call: dict, names: dict):
        self.data = data
        self.partitioned = crit
        self.n = crit.n
        super().__init__(text, crit.parts, crit.frame, crit.terms, crit.devfun, opt, crit.REML, control,
                         fit_warnings=fit_warnings, call=call, **names)

    def __getstate__(self) -> dict:
        # pickled (to Dask workers, for predict) without the Dask collection and the reduced sums
        state = {k: v for k, v in self.__dict__.items() if k not in ("data", "partitioned", "_rows")}
        return dict(state, data=None, partitioned=None)

    @property
    def nobs(self) -> CallableInt:
        """Number of observations used (after NA removal)."""
        return CallableInt(self.n)

    # ---------------------------------------------------------------- rows, lazily
    @functools.cached_property
    def _rows(self):
        crit = self.partitioned
        rm = delayed(RowModel(crit.inputs, crit.levels, tuple(crit.kept), np.asarray(self.beta),
                              tuple(np.asarray(b) for b in self.b)), traverse=False)
        return self.data.map_partitions(partition_rows, rm, meta=_ROWS_META)

    def fitted(self):
        """The fitted values of the rows used (after NA removal), a lazy Dask Series."""
        return self._rows["fitted"].rename("fitted")

    def residuals(self, type: str = "response", scaled: bool = False):  # noqa: A002
        """Residuals of the rows used, a lazy Dask Series (types as :meth:`LmerMod.residuals`)."""
        rows = self._rows
        r = rows["y"] - rows["fitted"]
        if type == "pearson":
            r = r * rows["sqrtw"]
        elif type not in ("response", "working"):
            raise ValueError(f"unknown residual type {type!r}: use 'response', 'pearson' or 'working'")
        if scaled:
            r = r / self._sigma
        return r.rename("residuals")

    @functools.cached_property
    def _scaled_quantiles(self) -> np.ndarray:
        return quantiles7(self.residuals(type="pearson", scaled=True))

    def scaled_residual_quantiles(self) -> np.ndarray:
        """Min, quartiles and max of the scaled Pearson residuals (R's type 7), exact, from two
        passes over the data; computed once."""
        return self._scaled_quantiles.copy()

    def predict(self, newdata: Any = None, re_form: str | None = None, allow_new_levels: bool = False,
                interval: str | None = None, **kwargs):
        """``predict.merMod``: without ``newdata`` the fitted values (lazy); with a Dask DataFrame a lazy
        Dask Series, partition by partition; with a pandas DataFrame a numpy array (as in memory)."""
        if interval is not None:
            raise DataError("predict(interval=) refits bootstrap replicates from the rows of the data, which a "
                            "fit on a Dask DataFrame does not hold: fit in memory for prediction intervals")
        if newdata is None:
            if re_form is not None:
                raise DataError("predict() without newdata of a fit on a Dask DataFrame gives the fitted values "
                                "only: pass newdata=the Dask DataFrame to predict with re_form")
            return self.fitted()
        args = dict(kwargs, re_form=re_form, allow_new_levels=allow_new_levels)
        if is_dask_frame(newdata):
            return newdata.map_partitions(_predict_partition, delayed(self, traverse=False), args,
                                          meta=pd.Series(np.zeros(0), dtype=float))
        return predict(self, newdata=newdata, **args)

    # ---------------------------------------------------------------- what needs the rows
    def getME(self, name: str):
        if name in ROW_COMPONENTS:
            raise DataError(f"getME({name!r}) has one row per observation, which a fit on a Dask DataFrame does "
                            f"not hold: compute it per partition from the data, or fit in memory")
        return super().getME(name)

    def simulate(self, *args: Any, **kwargs: Any):
        require_rows(self, "simulate")

    def refit(self, newresp: Any):
        require_rows(self, "refit")
