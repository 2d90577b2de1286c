"""Exceptions and warnings raised by mixedcompat (names mirror the conditions lme4 reports)."""
from __future__ import annotations


class FormulaError(ValueError):
    """A model formula cannot be parsed or names something that is not there.

    Example
    -------
    >>> raise FormulaError("unbalanced parentheses in 'y ~ (1 | g'")
    Traceback (most recent call last):
    ...
    mixedcompat.errors.FormulaError: unbalanced parentheses in 'y ~ (1 | g'
    """


class DataError(ValueError):
    """The data cannot support the model: a bad column, value, weight or grouping factor."""


class ConvergenceWarning(UserWarning):
    """The optimiser stopped before meeting its convergence criteria."""


class SingularFitWarning(UserWarning):
    """The fit is on the boundary of the parameter space (lme4's ``isSingular``)."""


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient and columns were dropped."""


SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"
