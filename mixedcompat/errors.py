"""Exceptions and warnings raised by mixedcompat (names mirror the conditions lme4 reports).

Errors: :class:`FormulaError` (a formula, or a name it uses, is wrong), :class:`DataError` (the
data cannot support the model), :class:`ConvergenceError` (a convergence check set to ``"stop"``).
Warnings, each with R's message: :class:`ConvergenceWarning` and its subclasses
:class:`GradientWarning`, :class:`HessianWarning`, :class:`VarparHessianWarning`;
:class:`SingularFitWarning`, :class:`RankDeficiencyWarning`, :class:`ScaleWarning`,
:class:`IdentifiabilityWarning`, :class:`KenwardRogerFallbackWarning`, :class:`MissingCellsWarning`.
Filter them with :mod:`warnings` as any Python warning (``warnings.simplefilter("error",
mc.ConvergenceWarning)`` turns them into errors).
"""
from __future__ import annotations


class FormulaError(ValueError):
    """A model formula cannot be parsed or names something that is not there.

    R equivalent: R's errors ``object 'x' not found`` and ``unexpected ... in "y ~ (1 | g"`` from
    ``lmer`` / ``lme`` / ``gls``.

    Raised when a formula is malformed (unbalanced parentheses, a term R would not parse), or a
    formula, ``weights`` / ``offset`` / ``form`` names a column that is not in the data; the message
    names the formula, term or column. A ``ValueError``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> mc.lmer("Reaction ~ Dayz + (1 | Subject)", mc.datasets.load("sleepstudy"))
    Traceback (most recent call last):
    ...
    mixedcompat.errors.FormulaError: object 'Dayz' not found: no column 'Dayz' in the data
    >>> raise FormulaError("unbalanced parentheses in 'y ~ (1 | g'")
    Traceback (most recent call last):
    ...
    mixedcompat.errors.FormulaError: unbalanced parentheses in 'y ~ (1 | g'
    """


class DataError(ValueError):
    """The data cannot support the model: a bad column, value, weight or grouping factor.

    R equivalent: lme4's / nlme's ``stop()`` on the data, e.g. ``negative weights not allowed``,
    ``number of levels of each grouping factor must be < number of observations``.

    Raised with R's message (and the column or value at fault) for negative or missing weights, a
    response outside the family's range, too few levels or observations for the random effects
    (lme4's ``check.*`` set to ``"stop"``), an argument value R refuses. A ``ValueError``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> d = mc.datasets.load("sleepstudy")
    >>> mc.lmer("Reaction ~ Days + (1 | Subject)", d, weights=-d["Days"])
    Traceback (most recent call last):
    ...
    mixedcompat.errors.DataError: negative weights not allowed: 162 negative value(s) in '(weights)'
    """


class ConvergenceWarning(UserWarning):
    """The optimiser stopped before meeting its convergence criteria, or lme4's ``checkConv``
    found a problem at the optimum (the subclasses below).

    R equivalent: lme4's ``convergence code 1 from bobyqa`` and ``checkConv`` warnings, e.g.
    ``Model failed to converge with max|grad| = ...``.

    The base class of :class:`GradientWarning`, :class:`HessianWarning` and
    :class:`VarparHessianWarning`: filter it to act on all of them.

    Examples
    --------
    >>> import warnings
    >>> import mixedcompat as mc
    >>> issubclass(mc.GradientWarning, ConvergenceWarning), issubclass(mc.HessianWarning, ConvergenceWarning)
    (True, True)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", ConvergenceWarning)   # fail on a convergence warning
    ...     m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    """


class GradientWarning(ConvergenceWarning):
    """lme4's ``check.conv.grad``: the scaled gradient at the optimum is above its tolerance.

    R equivalent: lme4's warning ``Model failed to converge with max|grad| = 0.00213 (tol = 0.002,
    component 1)``.

    Given after an lmer / glmer fit (with R's text) when the check's action is ``"warning"`` (the
    default: ``control={"check_conv_grad": make_cc("warning", 2e-3)}``); ``"stop"`` raises
    :class:`ConvergenceError` instead, ``"ignore"`` skips the check.

    Examples
    --------
    >>> issubclass(GradientWarning, ConvergenceWarning)
    True
    """


class HessianWarning(ConvergenceWarning):
    """lme4's ``check.conv.hess``: the Hessian at the optimum is not positive definite or is badly
    conditioned.

    R equivalent: lme4's warnings ``Model failed to converge: degenerate  Hessian with 1 negative
    eigenvalues`` and ``Model is nearly unidentifiable: very large eigenvalue - Rescale variables?``.

    Given after an lmer / glmer fit with R's text when the check's action is ``"warning"`` (the
    default); ``"stop"`` raises :class:`ConvergenceError`.

    Examples
    --------
    >>> issubclass(HessianWarning, ConvergenceWarning)
    True
    """


class ConvergenceError(RuntimeError):
    """A convergence check set to ``"stop"`` failed (lme4's ``stop()`` in ``checkConv``).

    R equivalent: the error lme4 gives with ``lmerControl(check.conv.singular = "stop")`` (or
    ``check.conv.grad`` / ``check.conv.hess`` with action ``"stop"``), carrying the warning's text.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff2"),
    ...         control={"check_conv_singular": "stop"})
    Traceback (most recent call last):
    ...
    mixedcompat.errors.ConvergenceError: boundary (singular) fit: see help('isSingular')
    """


class ScaleWarning(UserWarning):
    """lme4's ``check.scaleX``: the fixed-effects columns have very different scales.

    R equivalent: lme4's warning ``Some predictor variables are on very different scales: consider
    rescaling``.

    Given when the ratio of the largest to the smallest column standard deviation of the
    fixed-effects model matrix exceeds 1000 (``check_scaleX="warning"``, the default).

    Examples
    --------
    >>> import warnings
    >>> import mixedcompat as mc
    >>> d = mc.datasets.load("sleepstudy")
    >>> d["Hours"] = d["Days"] * 1e5
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = mc.lmer("Reaction ~ Hours + (1 | Subject)", d)
    >>> [str(w.message) for w in caught if w.category is ScaleWarning]
    ['Some predictor variables are on very different scales: consider rescaling']
    """


class IdentifiabilityWarning(UserWarning):
    """An ``lmerControl`` data check set to ``"warning"`` failed (``check.nobs.vs.rankZ``,
    ``check.nobs.vs.nlev``, ``check.nlev.gtr.1``, ``check.nobs.vs.nRE``, ``check.nlev.gtreq.5``).

    R equivalent: lme4's warnings such as ``grouping factors with < 5 sampled levels may give
    unreliable estimates``.

    The checks set to ``"stop"`` (lme4's defaults for most) raise :class:`DataError` instead.

    Examples
    --------
    >>> import warnings
    >>> import mixedcompat as mc
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = mc.lmer("score ~ 1 + (1 | Machine)", mc.datasets.load("Machines"),
    ...                 control={"check_nlev_gtreq_5": "warning"})
    >>> [str(w.message) for w in caught if w.category is IdentifiabilityWarning]
    ['grouping factors with < 5 sampled levels may give unreliable estimates']
    """


class VarparHessianWarning(ConvergenceWarning):
    """lmerTest's check of the Hessian of the deviance in ``(theta, sigma)`` when it builds its
    Satterthwaite quantities.

    R equivalent: lmerTest's warnings ``Model failed to converge with 1 negative eigenvalue(s):
    -1.2e-02`` and ``Model may not have converged with 1 eigenvalue(s) close to zero: 1.3e-09``
    (within 1e-8 of 0).

    Given by ``summary(m, ddf="Satterthwaite")``, ``anova(m)`` and ``contest`` on an lmer fit whose
    variance-parameter Hessian is not positive definite.

    Examples
    --------
    >>> issubclass(VarparHessianWarning, ConvergenceWarning)
    True
    """


class KenwardRogerFallbackWarning(UserWarning):
    """pbkrtest could not compute the Kenward-Roger quantities: Satterthwaite's df are used.

    R equivalent: lmerTest's warnings ``Unable to compute Kenward-Roger F-test: using
    Satterthwaite instead`` (and ``t-test``).

    Given by ``summary`` / ``anova`` / ``contest`` with ``ddf="Kenward-Roger"`` when pbkrtest's
    computation stops (for instance on a fit whose design leaves no residual information).

    Examples
    --------
    >>> import warnings
    >>> issubclass(KenwardRogerFallbackWarning, UserWarning)
    True
    """


class MissingCellsWarning(UserWarning):
    """A type III test of an interaction whose cells are not all observed.

    R equivalent: lmerTest's message ``Missing cells for: ... Interpret type III hypotheses with
    care.``.

    Given by ``anova(m, type=3)`` on an lmer fit when a cell of an interaction of factors has no
    data (the hypotheses then depend on the contrasts).

    Examples
    --------
    >>> issubclass(MissingCellsWarning, UserWarning)
    True
    """


class SingularFitWarning(UserWarning):
    """The fit is on the boundary of the parameter space (lme4's ``isSingular``).

    R equivalent: lme4's message ``boundary (singular) fit: see help('isSingular')``.

    Given after an lmer / glmer fit when :func:`~mixedcompat.isSingular` is true (a variance
    estimated as 0 or a correlation of +-1); ``control={"check_conv_singular": "stop"}`` raises
    :class:`ConvergenceError`, ``"ignore"`` says nothing.

    Examples
    --------
    >>> import warnings
    >>> import mixedcompat as mc
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = mc.lmer("Yield ~ 1 + (1 | Batch)", mc.datasets.load("Dyestuff2"))
    >>> [str(w.message) for w in caught if w.category is SingularFitWarning]
    ["boundary (singular) fit: see help('isSingular')"]
    """


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient and columns were dropped.

    R equivalent: lme4's message ``fixed-effect model matrix is rank deficient so dropping 1
    column / coefficient``.

    The columns dropped are those R's pivoted QR (``qr(X, tol = 1e-7)``) finds dependent; they are
    absent from :func:`~mixedcompat.fixef`, as in lme4.

    Examples
    --------
    >>> import warnings
    >>> import mixedcompat as mc
    >>> d = mc.datasets.load("sleepstudy")
    >>> d["Days2"] = 2 * d["Days"]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = mc.lmer("Reaction ~ Days + Days2 + (1 | Subject)", d)
    >>> [str(w.message) for w in caught if w.category is RankDeficiencyWarning]
    ['fixed-effect model matrix is rank deficient so dropping 1 column / coefficient']
    """


SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"
