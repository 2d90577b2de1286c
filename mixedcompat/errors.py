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
    """The optimiser stopped before meeting its convergence criteria, or lme4's ``checkConv``
    found a problem at the optimum (the subclasses below)."""


class GradientWarning(ConvergenceWarning):
    """lme4's ``check.conv.grad``: ``"Model failed to converge with max|grad| = ..."``.

    Example
    -------
    >>> issubclass(GradientWarning, ConvergenceWarning)
    True
    """


class HessianWarning(ConvergenceWarning):
    """lme4's ``check.conv.hess``: ``"Model is nearly unidentifiable: very large eigenvalue ..."``,
    ``"Model failed to converge: degenerate  Hessian with k negative eigenvalues"`` and the like."""


class ConvergenceError(RuntimeError):
    """A convergence check set to ``"stop"`` failed (lme4's ``stop()`` in ``checkConv``)."""


class ScaleWarning(UserWarning):
    """lme4's ``check.scaleX``: ``"Some predictor variables are on very different scales: consider
    rescaling"``."""


class IdentifiabilityWarning(UserWarning):
    """An ``lmerControl`` data check set to ``"warning"`` failed (``check.nobs.vs.rankZ``,
    ``check.nobs.vs.nlev``, ``check.nlev.gtr.1``, ``check.nobs.vs.nRE``, ``check.nlev.gtreq.5``)."""


class VarparHessianWarning(ConvergenceWarning):
    """lmerTest's check of the Hessian of the deviance in ``(theta, sigma)`` when it builds its
    Satterthwaite quantities: ``"Model failed to converge with k negative eigenvalue(s): ..."`` or
    ``"Model may not have converged with k eigenvalue(s) close to zero: ..."`` (within 1e-8 of 0)."""


class KenwardRogerFallbackWarning(UserWarning):
    """lmerTest's ``"Unable to compute Kenward-Roger F-test: using Satterthwaite instead"`` (or
    ``t-test``): pbkrtest stopped and Satterthwaite's df are used."""


class MissingCellsWarning(UserWarning):
    """lmerTest's message for type III tests when a cell of an interaction has no data:
    ``"Missing cells for: ... Interpret type III hypotheses with care."``."""


class SingularFitWarning(UserWarning):
    """The fit is on the boundary of the parameter space (lme4's ``isSingular``)."""


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient and columns were dropped."""


SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"
