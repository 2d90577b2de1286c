"""lmer on partitioned data (a Dask DataFrame): the criterion from block sums reduced over partitions.

:mod:`~mixedcompat.partitioned.transforms` (``poly()`` / ``scale()`` coefficients of the whole data,
before the levels pass; only with such calls), :mod:`~mixedcompat.partitioned.levels` (first pass:
rows kept, global factor levels),
:mod:`~mixedcompat.partitioned.blocks` (per-partition sums of the blocks of ``A`` and their
combination), :mod:`~mixedcompat.partitioned.criterion` (the reduction on the active Dask scheduler,
the criterion and its optimum), :mod:`~mixedcompat.partitioned.reduce` (the tree reduction every
pass ends with).  Needs the optional ``dask[dataframe]`` dependency.
"""
