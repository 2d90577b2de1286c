"""lmer on partitioned data (a Dask DataFrame): the fit from block sums reduced over partitions.

:mod:`~mixedcompat.partitioned.transforms` (``poly()`` / ``scale()`` coefficients of the whole data,
before the levels pass; only with such calls), :mod:`~mixedcompat.partitioned.levels` (first pass:
rows kept, global factor levels), :mod:`~mixedcompat.partitioned.blocks` (per-partition sums of the
blocks of ``A`` and their combination), :mod:`~mixedcompat.partitioned.criterion` (the reduction on
the active Dask scheduler, the criterion and its optimum), :mod:`~mixedcompat.partitioned.memory`
(the up-front size check of crossed blocks), :mod:`~mixedcompat.partitioned.model` (``lmer`` on Dask
data: the fit object, its lazy rows), :mod:`~mixedcompat.partitioned.quantiles` (exact type-7
quantiles in two passes), :mod:`~mixedcompat.partitioned.reduce` (the tree reduction every pass ends
with).  Needs the optional ``dask`` extra; ``mixedcompat.lmer`` imports it only for Dask data.
"""
