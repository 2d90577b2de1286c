"""The public ``lmer``: the engine is chosen from the data -- a pandas DataFrame (or anything
:func:`~mixedcompat.front.data_input.as_data_frame` takes) is fitted in memory
(:func:`mixedcompat.lme4.fit.lmer`), a Dask DataFrame partition by partition
(:func:`mixedcompat.partitioned.model.lmer_partitioned`, from the optional ``dask`` extra, imported
only when Dask data is given: Dask data cannot exist without Dask).
"""
from __future__ import annotations

import functools
import warnings
from typing import Any

from mixedcompat.front.data_input import is_dask_frame
from mixedcompat.lme4.fit import LmerMod
from mixedcompat.lme4.fit import lmer as lmer_in_memory

__all__ = ["lmer"]


@functools.wraps(lmer_in_memory)
def lmer(formula: Any, data: Any, REML: bool = True, weights: Any = None, offset: Any = None, subset: Any = None,
         na_action: str = "omit", contrasts: dict | None = None, control: dict | None = None,
         **partitioned: Any) -> LmerMod:
    args = dict(REML=REML, weights=weights, offset=offset, subset=subset, na_action=na_action,
                contrasts=contrasts, control=control)
    if not is_dask_frame(data) and partitioned:
        raise TypeError(f"lmer() got unexpected keyword argument(s) {', '.join(sorted(partitioned))} "
                        "(split_every and memory are for Dask data)")
    # lme4's warnings are passed on as from the caller's line (this function is one frame more)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if is_dask_frame(data):
            # --- optional-extra imports: mixedcompat.partitioned needs dask (import mixedcompat loads no extra)
            from mixedcompat.partitioned.model import lmer_partitioned
            # --- end of the optional-extra imports
            fit = lmer_partitioned(formula, data, **args, **partitioned)
        else:
            fit = lmer_in_memory(formula, data, **args)
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    return fit


lmer.__doc__ = (lmer_in_memory.__doc__ or "").replace(
    "    data : pandas.DataFrame\n        The data; string, bool and Categorical columns are factors.\n",
    "    data : pandas.DataFrame or dask.dataframe.DataFrame\n"
    "        The data; string, bool and Categorical columns are factors.  A Dask DataFrame is fitted\n"
    "        partition by partition on the active Dask scheduler (threads, or a ``dask.distributed``\n"
    "        client): same estimates, printed summary and warnings, with memory that does not grow with\n"
    "        the rows; ``weights`` / ``offset`` are then column names, ``subset`` is not taken, and the\n"
    "        fit's row-level results are lazy Dask Series (see :mod:`mixedcompat.partitioned.model`;\n"
    "        extra keywords ``split_every``, ``memory``).\n")
