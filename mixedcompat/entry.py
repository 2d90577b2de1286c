"""The public ``lmer``: the engine is chosen from the data -- a pandas DataFrame (or anything
:func:`~mixedcompat.front.data_input.as_data_frame` takes) is fitted in memory
(:func:`mixedcompat.lme4.fit.lmer`), a Dask DataFrame partition by partition
(:func:`mixedcompat.partitioned.model.lmer_partitioned`, the optional ``dask`` extra, imported only
when Dask data is given).
"""
from __future__ import annotations

import functools
from typing import Any

from mixedcompat.lme4.fit import LmerMod
from mixedcompat.lme4.fit import lmer as lmer_in_memory

__all__ = ["lmer", "is_dask_frame"]


def is_dask_frame(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (without importing Dask).

    Example
    -------
    >>> import pandas as pd
    >>> is_dask_frame(pd.DataFrame())
    False
    """
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(data, "npartitions")


@functools.wraps(lmer_in_memory)
def lmer(formula: Any, data: Any, REML: bool = True, weights: Any = None, offset: Any = None, subset: Any = None,
         na_action: str = "omit", contrasts: dict | None = None, control: dict | None = None,
         **partitioned: Any) -> LmerMod:
    if is_dask_frame(data):
        # the optional dependency: imported only for Dask data (mixedcompat.partitioned needs dask)
        from mixedcompat.partitioned.model import lmer_partitioned
        return lmer_partitioned(formula, data, REML=REML, weights=weights, offset=offset, subset=subset,
                                na_action=na_action, contrasts=contrasts, control=control, **partitioned)
    if partitioned:
        raise TypeError(f"lmer() got unexpected keyword argument(s) {', '.join(sorted(partitioned))} "
                        "(split_every and memory are for Dask data)")
    return lmer_in_memory(formula, data, REML=REML, weights=weights, offset=offset, subset=subset,
                          na_action=na_action, contrasts=contrasts, control=control)


lmer.__doc__ = (lmer_in_memory.__doc__ or "").replace(
    "    data : pandas.DataFrame\n        The data; string, bool and Categorical columns are factors.\n",
    "    data : pandas.DataFrame or dask.dataframe.DataFrame\n"
    "        The data; string, bool and Categorical columns are factors.  A Dask DataFrame is fitted\n"
    "        partition by partition on the active Dask scheduler (threads, or a ``dask.distributed``\n"
    "        client): same estimates, printed summary and warnings, with memory that does not grow with\n"
    "        the rows; ``weights`` / ``offset`` are then column names, ``subset`` is not taken, and the\n"
    "        fit's row-level results are lazy Dask Series (see :mod:`mixedcompat.partitioned.model`;\n"
    "        extra keywords ``split_every``, ``memory``).\n")
