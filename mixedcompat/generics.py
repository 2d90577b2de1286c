"""R-named generic functions (``fixef(m)``, ``VarCorr(m)``, ``anova(m0, m1)``...) that call the fit's methods.

As R's S3 generics dispatch on the class of their argument, each function here hands its work to a
method of the fit object (:class:`mixedcompat.model.MixedModel` and its subclasses), so the same call
works for lmer and lme / gls fits.  This module imports no fit module.
"""
from __future__ import annotations

import inspect
from typing import Any


# generics' full text, one entry per generic (the Examples section is added from _EXAMPLES)
_DOCS = {
    "fixef": """Fixed-effects estimates of a fit.

    R equivalent: ``lme4::fixef(m)``, ``nlme::fixef(m)`` (a gls fit: ``coef(m)``).

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``fixef(m)`` is ``m.fixef()``.
    *args, **kwargs
        Passed on to the fit's method; ``m.fixef()`` takes none.

    Returns
    -------
    pandas.Series
        The estimates, indexed by R's coefficient names in R's order (``"(Intercept)"``,
        ``"Days"``, ``"x:trthi"``). Columns of a rank-deficient model matrix that R drops are
        absent, as in lme4.
    """,
    "vcov": """Variance-covariance matrix of the fixed-effects estimates.

    R equivalent: ``vcov(m)`` (lme4's ``vcov.merMod``, nlme's ``vcov.lme`` / ``vcov.gls``).

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``vcov(m)`` is ``m.vcov()``.
    use_hessian : bool, optional
        glmer fits only (lme4's ``use.hessian``): ``None`` (default) takes the matrix from the
        finite-difference Hessian of the objective when lme4 1.1-31 would, ``False`` from
        ``sigma^2 (R_X' R_X)^-1``; lme4's warnings when the two disagree.

    Returns
    -------
    pandas.DataFrame
        Rows and columns named by the coefficients, as :func:`fixef`. lmer and lme fits: ``sigma^2
        (X' V^-1 X)^-1``; an ML gls fit scales it by ``N / (N - p)`` as nlme does.
    """,
    "sigma": """Residual standard deviation of a fit.

    R equivalent: ``sigma(m)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``sigma(m)`` is ``m.sigma()``.
    *args, **kwargs
        Passed on to the fit's method; ``m.sigma()`` takes none.

    Returns
    -------
    float
        The REML or ML estimate, as the fit; 1 for binomial and Poisson glmer fits, lme4's
        ``sqrt(pwrss / n)`` for glmer families with a scale.
    """,
    "logLik": """Log-likelihood of a fit (the restricted log-likelihood of a REML fit).

    R equivalent: ``logLik(m)``, ``logLik(m, REML = FALSE)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``logLik(m)`` is ``m.logLik()``.
    REML : bool, optional
        lmer fits: ``None`` (default) the fit's own criterion; ``False`` the ML log-likelihood at
        the REML estimates (``True`` the REML one at ML estimates), as lme4. glmer fits accept and
        ignore it; lme / gls fits do not take it.

    Returns
    -------
    LogLik
        A float (``float(logLik(m))`` is R's value) with ``.df`` (the number of parameters:
        fixed effects, variance parameters, sigma) and ``.nobs``; it prints as R's ``'log Lik.'
        -871.8141 (df=6)``.
    """,
    "AIC": """Akaike's information criterion, ``-2 logLik + 2 df``.

    R equivalent: ``AIC(m)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``AIC(m)`` is ``m.AIC()``. A REML fit gives the REML criterion's AIC, as
        R: compare fixed effects with ML fits (``refitML``).
    *args, **kwargs
        Passed on to the fit's method; ``m.AIC()`` takes none.

    Returns
    -------
    float
    """,
    "BIC": """Schwarz's Bayesian information criterion, ``-2 logLik + log(n) df``.

    R equivalent: ``BIC(m)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``BIC(m)`` is ``m.BIC()``. ``n`` is the number of observations; for
        REML lme / gls fits ``N - p``, as nlme counts.
    *args, **kwargs
        Passed on to the fit's method; ``m.BIC()`` takes none.

    Returns
    -------
    float
    """,
    "deviance": """Deviance of a fit.

    R equivalent: ``deviance(m)``, ``deviance(m, REML = FALSE)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``deviance(m)`` is ``m.deviance()``.
    REML : bool, optional
        lmer fits: for a REML fit, ``None`` (default) returns the REML criterion with lme4's
        ``FutureWarning`` ("deviance() is deprecated for REML fits..."), ``False`` the ML deviance
        ``-2 logLik`` at the REML estimates; an ML fit returns its deviance. glmer fits ignore it.

    Returns
    -------
    float
        lmer fits: ``-2 logLik`` (ML) as above; glmer fits: lme4's sum of the squared deviance
        residuals (not ``-2 logLik``); lme / gls fits: ``-2 logLik``.
    """,
    "REMLcrit": """The REML criterion at the optimum (the deviance of an ML fit).

    R equivalent: ``lme4::REMLcrit(m)``.

    Parameters
    ----------
    model : LmerMod
        An lmer fit; ``REMLcrit(m)`` is ``m.REMLcrit()``. A glmer fit raises
        :class:`~mixedcompat.DataError` (no REML criterion); lme / gls fits have no such method
        (``-2 * logLik(m)``).
    *args, **kwargs
        Passed on to the fit's method; ``m.REMLcrit()`` takes none.

    Returns
    -------
    float
        ``-2`` times the REML log-likelihood of a REML fit; the deviance of an ML fit.
    """,
    "nobs": """Number of observations used in the fit (after removing rows with missing values).

    R equivalent: ``nobs(m)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``nobs(m)`` is ``m.nobs()`` (``m.nobs`` is the same number).
    *args, **kwargs
        Passed on to the fit's method; ``m.nobs()`` takes none.

    Returns
    -------
    int
    """,
    "ngrps": """Number of levels of each grouping factor.

    R equivalent: ``lme4::ngrps(m)``.

    Parameters
    ----------
    model : LmerMod or GlmerMod
        The fitted model; ``ngrps(m)`` is ``m.ngrps()`` (lme fits: ``len(ranef(m)[level])``).
    *args, **kwargs
        Passed on to the fit's method; ``m.ngrps()`` takes none.

    Returns
    -------
    dict
        Grouping factor -> number of levels, in lme4's order of the factors.
    """,
    "VarCorr": """Estimated variances, standard deviations and correlations of the random effects.

    R equivalent: ``lme4::VarCorr(m)``, ``print(VarCorr(m), comp = "Variance")``, ``nlme::VarCorr(m)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme fit
        The fitted model; ``VarCorr(m)`` is ``m.VarCorr()``. A gls fit has no random effects and
        raises :class:`~mixedcompat.DataError`.
    comp : str or list of str, optional
        lmer / glmer fits: ``"Variance"`` and / or ``"Std.Dev."``, the columns ``str()`` shows (R's
        ``print(VarCorr(m), comp = c("Variance", "Std.Dev."))``); default lme4's ``"Std.Dev."``.

    Returns
    -------
    VarCorr or NlmeVarCorr
        ``str()`` prints as R's ``print(VarCorr(m))`` (lme4's or nlme's layout); ``.to_frame()`` is
        R's ``as.data.frame(VarCorr(m))``: columns ``grp, var1, var2, vcov, sdcor``, one row per
        variance and covariance, the residual last; the same shape for lme fits.
    """,
    "ranef": """Conditional modes (BLUPs) of the random effects.

    R equivalent: ``lme4::ranef(m, condVar = TRUE)``, ``nlme::ranef(m, level = 1)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme fit
        The fitted model; ``ranef(m)`` is ``m.ranef()``.
    condVar : bool, optional
        lmer / glmer fits (default ``True``, as lme4): attach the conditional variances, in each
        DataFrame's ``.attrs["postVar"]`` (an array levels x q x q). lme fits (default ``False``):
        ``True`` raises :class:`~mixedcompat.DataError` (nlme has no conditional variances).
    level : int, optional
        lme fits only: the level of nesting (1 = outermost) whose effects are returned alone;
        ``None`` (default) returns every level.

    Returns
    -------
    dict
        Grouping factor (lme: level name) -> pandas.DataFrame, index the level labels (str),
        columns the random-effect terms (``"(Intercept)"``, ``"Days"``); ``str()`` of lmer's
        prints as R's ``print(ranef(m))``. With ``level=``, that level's DataFrame.
    """,
    "coef": """Coefficients per group: the fixed effects plus each level's random effects.

    R equivalent: ``coef(m)`` (lme4's ``coef.merMod``, nlme's ``coef.lme``; for gls, the fixed effects).

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``coef(m)`` is ``m.coef()``.
    level : int, optional
        lme fits only: the level of nesting whose coefficients are returned alone (nlme adds the
        random effects of the enclosing levels); ``None`` (default) returns every level.

    Returns
    -------
    dict or pandas.Series
        lmer / glmer / lme fits: grouping factor -> DataFrame (one row per level, columns in R's
        order: random-only terms first, then the fixed-effect names); with ``level=``, that
        DataFrame; gls fits: the fixed effects (a Series), as nlme.
    """,
    "fitted": """Fitted values of a fit, in the data's row order.

    R equivalent: ``fitted(m)``; nlme's ``fitted(m, level = 0)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``fitted(m)`` is ``m.fitted()``. lmer fits include the random effects
        (and the offset); glmer fits are on the response scale (the means, lme4's ``fitted``).
    level : int, optional
        lme fits only: 0 (population, fixed effects only) up to the innermost level of nesting
        (the default).

    Returns
    -------
    numpy.ndarray
        One value per row used in the fit.
    """,
    "residuals": """Residuals of a fit, in the data's row order (``resid`` is the same function).

    R equivalent: ``residuals(m, type = "pearson", scaled = TRUE)``; nlme's ``residuals(m, type = "normalized", level = 0)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``residuals(m)`` is ``m.residuals()``.
    type : str, optional
        lmer fits: ``"response"`` (default, ``y - fitted``), ``"pearson"`` (times the square root
        of the prior weights) or ``"working"``. glmer fits: ``"deviance"`` (default),
        ``"pearson"``, ``"working"`` or ``"response"`` (lme4's ``residuals.glmResp``). lme / gls
        fits: ``"response"`` (default), ``"pearson"`` (divided by sigma times the variance
        function) or ``"normalized"`` (also whitened by the estimated correlation structure);
        nlme's abbreviations ``"r"``, ``"p"``, ``"n"`` are accepted.
    scaled : bool, optional
        lmer / glmer fits: divide by sigma (default ``False``).
    level : int, optional
        lme fits: the level of nesting the fitted values are taken at (0 = population; default
        the innermost).
    r_compatible : bool, optional
        lme / gls fits, ``type="normalized"``: ``True`` (default) reproduces nlme 3.1-162's known
        bug (the correlation factor, laid out for rows sorted by group, is applied to residuals in
        the data's row order, so rows of data not sorted by group are whitened with the wrong
        neighbours); ``False`` whitens each row within its own group.

    Returns
    -------
    numpy.ndarray
        One residual per row used in the fit.
    """,
    "getME": """A component of a fitted lmer / glmer model, by lme4's name.

    R equivalent: ``lme4::getME(m, "theta")``.

    Parameters
    ----------
    model : LmerMod or GlmerMod
        The fitted model; ``getME(m, name)`` is ``m.getME(name)``.
    name : str
        ``"X"`` (fixed-effects model matrix), ``"Z"`` / ``"Zt"`` (sparse random-effects model
        matrix / its transpose), ``"theta"`` (a Series, lme4's names and order), ``"beta"``,
        ``"u"`` (spherical random effects), ``"b"``, ``"Lambda"`` / ``"Lambdat"`` (sparse relative
        covariance factor), ``"lower"`` (theta's lower bounds), ``"flist"`` (grouping factors),
        ``"cnms"`` (term names per factor), ``"devcomp"`` (lme4's ``cmp`` and ``dims`` lists).
        An unknown name raises ``KeyError``.

    Returns
    -------
    object
        numpy arrays, scipy.sparse matrices (``Z``, ``Zt``, ``Lambda``, ``Lambdat``), a Series
        (``theta``) or dicts (``flist``, ``cnms``, ``devcomp``), as listed above.
    """,
    "isSingular": """Whether the fit is singular (on the boundary of the parameter space).

    R equivalent: ``lme4::isSingular(m, tol = 1e-4)``.

    Parameters
    ----------
    model : LmerMod or GlmerMod
        The fitted model; ``isSingular(m)`` is ``m.isSingular()``.
    tol : float, optional
        lme4's tolerance (default ``1e-4``): the fit is singular when a diagonal element of the
        relative covariance factor (a theta with lower bound 0) is below ``tol`` -- a variance
        estimated as (nearly) 0 or a correlation of +-1.

    Returns
    -------
    bool
    """,
    "summary": """The summary of a fit: ``str()`` prints R's text, the tables are DataFrames.

    R equivalent: ``summary(m)``; lmerTest's ``summary(m, ddf = "Kenward-Roger")``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``summary(m)`` is ``m.summary()``.
    ddf : {None, "Satterthwaite", "Kenward-Roger", "lme4"}, optional
        lmer fits: ``None`` (default) or ``"lme4"`` gives lme4's summary (t values, no p-values); a
        method name gives lmerTest's (``df`` and ``Pr(>|t|)`` columns; Kenward-Roger as pbkrtest). glmer fits
        have z tests and refuse ``ddf``; lme / gls fits do not take it (nlme's own df).
    use_hessian : bool, optional
        glmer fits: lme4's ``use.hessian`` for the standard errors (see :func:`vcov`).
    correlation : bool, optional
        glmer fits: print the correlation of the fixed effects (lme4's default when ``p <= 12``).

    Returns
    -------
    LmerSummary, GlmerSummary or NlmeSummary
        ``str()`` is R's printed summary; ``.coefficients`` is the coefficient table with R's
        column names (``Estimate``, ``Std. Error``, [``df``], ``t value``, [``Pr(>|t|)``]; glmer:
        ``z value``, ``Pr(>|z|)``).
    """,
    "predict": """Predictions from a fit, for the fitted rows or new data.

    R equivalent: ``predict(m, newdata, re.form = NA, allow.new.levels = TRUE)``; nlme's ``predict(m, newdata, level = 0)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``predict(m, ...)`` is ``m.predict(...)``.
    newdata : pandas.DataFrame, optional
        Rows to predict for; ``None`` (default) the rows of the fit. Factors are matched to the
        fit's levels by label.
    re_form : None, "NA", "~0" or str, optional
        lmer / glmer fits: ``None`` (default) all random effects; ``"NA"`` or ``"~0"`` none (the
        population level); a formula of random-effect terms such as ``"~(1 | Subject)"``: only
        those.
    allow_new_levels : bool, optional
        lmer / glmer fits: give levels of grouping factors not in the fit a zero random effect
        (default ``False``: they raise :class:`~mixedcompat.DataError`, as lme4).
    type : {"link", "response"}, optional
        glmer fits: the linear predictor (default) or the mean.
    interval : {None, "confidence", "prediction"}, optional
        lmer / glmer fits: with an interval, a DataFrame ``fit, lwr, upr`` from a parametric
        bootstrap of ``nsim`` refits (``seed``, ``level`` as their names say; R has no such
        argument for merMod: its documentation points to ``bootMer``).
    nsim, seed
        The bootstrap of ``interval=``: number of refits (default 500) and numpy's seed.
    level : float, int or list of int, optional
        lmer / glmer fits with ``interval=``: the confidence level (default 0.95). lme fits (nlme's
        meaning): the level of nesting (0 = population; default the innermost); a list gives nlme's
        data frame with one ``predict.<level>`` column per level. Groups not in the fit give NaN
        at levels that use them.

    Returns
    -------
    numpy.ndarray or pandas.DataFrame
        One prediction per row; a DataFrame with ``interval=`` (lmer / glmer) or a list of levels
        (lme).
    """,
    "simulate": """Responses simulated from a fitted lmer / glmer model, or from a formula at given parameters.

    R equivalent: ``simulate(m, nsim = 2, seed = 1, use.u = FALSE)``; ``simulate(~ x + (1 | g), newdata = d, newparams = list(theta = 1, beta = c(2, 0.5), sigma = 1))``.

    A formula (a string) as first argument is lme4's ``simulate.formula``: no fit, the model built
    on ``newdata`` at ``newparams`` (see :func:`mixedcompat.lme4.simulate_formula.simulate_formula`,
    whose ``newparams``, ``family``, ``weights`` and ``offset`` it takes).

    Parameters
    ----------
    model : LmerMod, GlmerMod or str
        The fitted model (``simulate(m, ...)`` is ``m.simulate(...)``), or an lme4 formula; lme /
        gls fits raise ``TypeError`` (nlme has no ``simulate`` for them).
    nsim : int, optional
        Number of simulated responses (default 1).
    seed : int, numpy.random.Generator or None, optional
        Seed of numpy's generator. R's random numbers are not reproduced, only their law.
    use_u : bool, optional
        ``True``: keep the fitted random effects (simulate the residual only); ``False`` (default)
        draws new random effects.
    re_form : None, "NA", "~0" or str, optional
        As lme4: the random-effect terms to condition on (``"~0"``: none, as ``use_u=False``).
    newdata : pandas.DataFrame, optional
        Simulate for these rows instead of the fitted ones (a formula: the design, required).
    newparams : dict, optional
        A formula: ``{"theta": ..., "beta": ..., "sigma": ...}``, as lme4's (required).
    family, weights, offset
        A formula: the GLMM family (default none: a linear mixed model), prior weights, offset.
    allow_new_levels, gamma_shape
        glmer fits (see :func:`mixedcompat.glmer.refit.simulate`).
    prior_weights : bool, optional
        lmer fits with prior weights: lme4 1.1-31 draws every residual with sd ``sigma``, ignoring the
        weights (kept by default, as R); ``True`` uses ``sigma / sqrt(w)``, the fitted model's law.

    Returns
    -------
    pandas.DataFrame
        One column per simulation (``sim_1``, ``sim_2``...), one row per observation; a
        ``cbind(s, f)`` binomial response gives two columns per simulation.
    """,
    "refit": """The same model fitted to a new response (same design, starting from the fit's theta).

    R equivalent: ``lme4::refit(m, newresp)``.

    Parameters
    ----------
    model : LmerMod or GlmerMod
        The fitted model; ``refit(m, y)`` is ``m.refit(y)``. lme / gls fits raise ``TypeError``.
    newresp : array-like or pandas.DataFrame
        The new response, one value per row of the fit (a column of :func:`simulate`'s result
        works; a binomial glmer takes a proportion or a two-column matrix of successes and failures).

    Returns
    -------
    LmerMod or GlmerMod
        The new fit.
    """,
    "update": """The fit redone with a changed formula or arguments.

    R equivalent: ``update(m, . ~ . - Days)``, ``update(m, REML = FALSE)``.

    Parameters
    ----------
    model : LmerMod, GlmerMod or an lme / gls fit
        The fitted model; ``update(m, ...)`` is ``m.update(...)``.
    formula : str, optional
        lmer / glmer fits: a new formula in R's ``update.formula`` syntax (``". ~ . - Days"``,
        ``". ~ . + (1 | g)"``) or a full formula. lme / gls fits take it as ``fixed`` (or
        ``model=``): the fixed-effects formula.
    **kwargs
        Any argument of the fitting function (``REML=False``, ``data=``, ``weights=``,
        ``family=``; lme / gls: ``correlation=``, ``weights=``, ``method=``; ``None`` removes an
        nlme structure).

    Returns
    -------
    LmerMod, GlmerMod or an lme / gls fit
        The new fit (the original is unchanged: fits are immutable).
    """,
}


# further examples of a generic on other fits: (call, printed result); ``fm`` an lme fit, ``g`` a gls fit
# and ``gm`` a glmer fit, each defined in the example when one of its calls uses it
_FITS = {
    "fm": 'fm = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ age | Subject")',
    "g": 'g = mc.gls("follicles ~ 1", mc.datasets.load("Ovary"), correlation=mc.corAR1(form="~ 1 | Mare"))',
    "gm": ('gm = mc.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mc.datasets.load("cbpp"),\n'
           '...              family="binomial")'),
}
_MORE_EXAMPLES = {
    "fixef": [('fixef(fm).round(4).tolist()', '[16.7611, 0.6602]'),
              ('fixef(gm).round(3).tolist()', '[-1.398, -0.992, -1.128, -1.58]')],
    "sigma": [('round(sigma(fm), 4)', '1.31')],
    "logLik": [('logLik(m, REML=False)', "'log Lik.' -875.9929 (df=6)"),
               ('logLik(fm)', "'log Lik.' -221.3183 (df=6)")],
    "AIC": [('round(AIC(fm), 3)', '454.637')],
    "BIC": [('round(BIC(fm), 3)', '470.617')],
    "deviance": [('round(deviance(gm), 3)', '73.474')],
    "nobs": [('nobs(fm)', '108')],
    "VarCorr": [('VarCorr(fm).to_frame()["sdcor"].round(3).tolist()', '[2.327, 0.226, -0.609, 1.31]')],
    "ranef": [('ranef(fm, level=1).shape', '(27, 2)')],
    "coef": [('coef(fm)["Subject"].columns.tolist()', "['(Intercept)', 'age']"),
             ('coef(g).round(3).tolist()', '[11.952]')],
    "fitted": [('fitted(fm, level=0)[:2].round(3).tolist()', '[22.043, 23.363]'),
               ('fitted(gm)[:2].round(4).tolist()', '[0.3082, 0.1418]')],
    "residuals": [('residuals(g, type="normalized")[:2].round(3).tolist()', '[1.59, -1.059]'),
                  ('residuals(gm, type="pearson")[:2].round(4).tolist()', '[-1.3396, 1.0748]')],
    "getME": [('getME(m, "Z").shape', '(180, 36)')],
    "summary": [('summary(m, ddf="Kenward-Roger").coefficients.columns.tolist()',
                 "['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)']"),
                ('summary(gm).coefficients.columns.tolist()', "['Estimate', 'Std. Error', 'z value', 'Pr(>|z|)']")],
    "predict": [('predict(m, re_form="~0")[:2].round(3).tolist()', '[251.405, 261.872]'),
                ('predict(fm, level=0)[:2].round(3).tolist()', '[22.043, 23.363]'),
                ('predict(gm, type="response")[:2].round(4).tolist()', '[0.3082, 0.1418]')],
    "update": [('update(fm, method="ML").method', "'ML'")],
    "simulate": [('import pandas as pd', ''),
                 ('d = pd.DataFrame({"g": list("aabbcc"), "x": [0.0, 1.0] * 3})', ''),
                 ('simulate("~ x + (1 | g)", newdata=d, nsim=2, seed=1,\n'
                  '...          newparams={"theta": [1.0], "beta": [2.0, 0.5], "sigma": 1.0}).shape', '(6, 2)')],
    "VarCorr": [('print(VarCorr(m, comp=["Variance", "Std.Dev."]))',
                 " Groups   Name        Variance Std.Dev. Corr\n"
                 " Subject  (Intercept) 612.100  24.7407\n"
                 "          Days         35.072   5.9221  0.066\n"
                 " Residual             654.940  25.5918")],
}


# one real call per generic, on sleepstudy's lmer fit (the docstrings' examples)
_EXAMPLES = {
    "fixef": ('fixef(m).round(2).tolist()', '[251.41, 10.47]'),
    "vcov": ('vcov(m).shape', '(2, 2)'),
    "sigma": ('round(sigma(m), 4)', '25.5918'),
    "logLik": ('logLik(m)', "'log Lik.' -871.8141 (df=6)"),
    "AIC": ('round(AIC(m), 3)', '1755.628'),
    "BIC": ('round(BIC(m), 3)', '1774.786'),
    "deviance": ('round(deviance(m, REML=False), 3)', '1751.986'),
    "REMLcrit": ('round(REMLcrit(m), 3)', '1743.628'),
    "nobs": ('nobs(m)', '180'),
    "ngrps": ('ngrps(m)', "{'Subject': 18}"),
    "VarCorr": ('VarCorr(m).to_frame()["sdcor"].round(3).tolist()', '[24.741, 5.922, 0.066, 25.592]'),
    "ranef": ('ranef(m)["Subject"].shape', '(18, 2)'),
    "coef": ('coef(m)["Subject"].shape', '(18, 2)'),
    "fitted": ('fitted(m).shape', '(180,)'),
    "residuals": ('residuals(m).shape', '(180,)'),
    "getME": ('getME(m, "theta").round(4).tolist()', '[0.9667, 0.0152, 0.2309]'),
    "isSingular": ('isSingular(m)', 'False'),
    "summary": ('summary(m).coefficients.shape', '(2, 3)'),
    "predict": ('predict(m).shape', '(180,)'),
    "simulate": ('simulate(m, nsim=2, seed=1).shape', '(180, 2)'),
    "refit": ('round(refit(m, m.frame.y).REMLcrit(), 3)', '1743.628'),
    "update": ('update(m, ". ~ . - Days").formula', "'Reaction ~ (Days | Subject)'"),
}


_FORMULA_METHODS: dict = {}
"""Generics that also take a formula first (R's ``simulate.formula``): name -> function, registered by
the module that implements it (as R's S3 registration), so that this module imports no fit module."""


def register_formula_method(name: str, fun: Any) -> None:
    """Make the generic ``name`` hand a formula (a string or a parsed tree) first argument to ``fun``.

    Examples
    --------
    >>> register_formula_method("simulate", _FORMULA_METHODS["simulate"])   # what simulate_formula does
    """
    _FORMULA_METHODS[name] = fun


def _method(name: str):
    def generic(model: Any, *args, **kwargs):
        if name in _FORMULA_METHODS and (isinstance(model, str) or type(model).__name__ in ("Node", "FormulaParts")):
            return _FORMULA_METHODS[name](model, *args, **kwargs)
        try:
            method = getattr(model, name)
        except AttributeError:
            raise TypeError(f"{name}() does not apply to an object of type {type(model).__name__}") from None
        return method(*args, **kwargs)

    generic.__name__ = name
    generic.__qualname__ = name
    doc = inspect.cleandoc(_DOCS.get(name, f"R's ``{name}(m)``: the same as ``m.{name}()``.")) + "\n"
    if name in _EXAMPLES:
        call, shown = _EXAMPLES[name]
        doc += ("\nExamples\n--------\n>>> import mixedcompat as mc\n"
                ">>> m = mc.lmer(\"Reaction ~ Days + (Days | Subject)\", mc.datasets.load(\"sleepstudy\"))\n"
                f">>> from mixedcompat.generics import {name}\n>>> {call}\n{shown}\n")
        more = _MORE_EXAMPLES.get(name, [])
        for fit, setup in _FITS.items():
            if any(f"({fit})" in c or f"({fit}," in c for c, _ in more):
                doc += f">>> {setup}\n"
        doc += "".join(f">>> {c}\n" + (f"{shown}\n" if shown else "") for c, shown in more)
    generic.__doc__ = doc
    return generic


_NAMES = ["fixef", "vcov", "sigma", "logLik", "AIC", "BIC", "deviance", "REMLcrit", "nobs", "ngrps",
          "VarCorr", "ranef", "coef", "fitted", "residuals", "getME", "isSingular", "summary",
          "predict", "simulate", "refit", "update"]

fixef = _method("fixef")
vcov = _method("vcov")
sigma = _method("sigma")
logLik = _method("logLik")
AIC = _method("AIC")
BIC = _method("BIC")
deviance = _method("deviance")
REMLcrit = _method("REMLcrit")
nobs = _method("nobs")
ngrps = _method("ngrps")
VarCorr = _method("VarCorr")   # VarCorr(m, comp=...): the fit's method takes R's print argument
ranef = _method("ranef")
coef = _method("coef")
fitted = _method("fitted")
residuals = _method("residuals")
getME = _method("getME")
isSingular = _method("isSingular")
summary = _method("summary")
predict = _method("predict")
simulate = _method("simulate")
refit = _method("refit")
update = _method("update")
resid = residuals



def anova(*models: Any, type: int | str | None = None, ddf: str = "Satterthwaite", refit: bool = True,  # noqa: A002
          **named_models: Any):
    """Analysis-of-variance tables: F tests of one fit's fixed effects, or likelihood-ratio tests
    between fits.

    R equivalent: ``anova(m)``, ``anova(m, ddf = "Kenward-Roger")`` (lmerTest), ``anova(m0, m1)`` (lme4, nlme).

    One model: lmerTest's F tests of the fixed-effect terms (lmer fits), lme4's sequential sums of
    squares (glmer fits, no p-values), nlme's F tests (lme / gls fits). Several models: lme4's
    likelihood-ratio table, or nlme's when any model is an lme / gls fit. The table is made by the
    fit class's ``anova_models`` (see :class:`mixedcompat.model.MixedModel`): the class of the first
    lme / gls fit among the models when there is one (nlme's ``anova`` takes the models in any
    order), else the class of the first model.

    Parameters
    ----------
    *models : LmerMod, GlmerMod or lme / gls fits
        One fit, or several fits of the same data (rows labelled ``m0, m1, ...``; nlme: ``m1,
        m2, ...``).
    type : {None, 1, 2, 3, "I", "II", "III", "sequential", "marginal"}, optional
        One lmer fit: the type of the hypotheses (default 3, as lmerTest). One lme / gls fit:
        ``"sequential"`` (default, also 1) or ``"marginal"`` (also 3), as nlme.
    ddf : {"Satterthwaite", "Kenward-Roger"}, optional
        One lmer fit: the denominator degrees of freedom (default ``"Satterthwaite"``;
        Kenward-Roger as pbkrtest; lmerTest's ``"lme4"``, F values without df, is not implemented).
        Not used by nlme.
    refit : bool, optional
        Several lmer fits: refit REML fits by ML first (default ``True``, lme4's, with its message
        "refitting model(s) with ML (instead of REML)"). Not used by nlme.
    **named_models : fits
        Models passed by keyword are labelled by the keyword, as R labels rows by the argument
        expressions; ``model_names=[...]`` gives the labels of all models (R's ``model.names``).

    Returns
    -------
    AnovaTable or pandas.DataFrame
        One model: one row per term, lmerTest's columns ``Sum Sq, Mean Sq, NumDF, DenDF, F value,
        Pr(>F)`` (nlme: ``numDF, denDF, F-value, p-value``). Several: one row per model, lme4's
        columns ``npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)`` (nlme's ``Model, df,
        AIC, BIC, logLik, Test, L.Ratio, p-value``). ``str()`` prints R's table.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> list(anova(m).index)
    ['Days']
    >>> data = mc.datasets.load("sleepstudy")
    >>> m0 = mc.lmer("Reaction ~ Days + (1 | Subject)", data, REML=False)
    >>> m1 = mc.lmer("Reaction ~ Days + (Days | Subject)", data, REML=False)
    >>> anova(m0, m1)["npar"].tolist()
    [4.0, 6.0]
    """
    fits = list(models) + [v for k, v in named_models.items() if k != "model_names"]
    if not fits:
        raise TypeError("anova() needs at least one fitted model")
    lead = next((m for m in fits if getattr(m, "r_package", None) == "nlme"), fits[0])
    method = getattr(lead, "anova_models", None)
    if method is None:
        raise TypeError(f"anova() does not apply to an object of type {lead.__class__.__name__}")
    return method(*models, type=type, ddf=ddf, refit=refit, **named_models)


def drop1(m: Any, test: str | None = None, ddf: str = "Satterthwaite", **kwargs: Any):
    """Tests of single term deletions: lmerTest's F tests, or lme4's AIC / likelihood-ratio table.

    R equivalent: ``drop1(m)`` (lmerTest), ``drop1(m, test = "Chisq")`` (lme4's ``drop1.merMod``).

    Parameters
    ----------
    m : LmerMod or GlmerMod
        The fit; ``drop1(m)`` is ``m.drop1()``. lme / gls fits have no ``drop1``.
    test : {None, "Chisq", "none"}, optional
        ``None`` (default) on an lmer fit: lmerTest's marginal F tests of each term that can be
        dropped. ``"Chisq"`` / ``"none"`` (and any glmer fit): lme4's table -- each term dropped in
        turn, every fit refitted by ML, ``npar, AIC`` and (``"Chisq"``) ``LRT, Pr(Chi)``.
    ddf : {"Satterthwaite", "Kenward-Roger"}, optional
        lmerTest's denominator degrees of freedom (default ``"Satterthwaite"``).
    **kwargs
        lme4's ``scope`` (terms to drop: a formula string or a list of labels), ``scale`` (must be
        0) and ``k`` (AIC penalty per parameter, default 2); giving any selects lme4's table (see
        :func:`mixedcompat.inference.lrt.drop1`).

    Returns
    -------
    AnovaTable
        One row per term: lmerTest's columns ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)``,
        or lme4's ``npar, AIC[, LRT, Pr(Chi)]`` with a ``<none>`` row. ``str()`` prints R's table.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> drop1(m).index.tolist()
    ['Days']
    >>> drop1(m, test="Chisq").columns.tolist()
    ['npar', 'AIC', 'LRT', 'Pr(Chi)']
    """
    return _method("drop1")(m, test=test, ddf=ddf, **kwargs)


def intervals(m: Any, level: float = 0.95, which: str = "all"):
    """Approximate confidence intervals of an lme / gls fit's parameters, as nlme.

    R equivalent: ``nlme::intervals(m, level = 0.95, which = "all")``.

    Fixed effects: t intervals with nlme's denominator df. Variance parameters: normal intervals on
    nlme's unconstrained scale from the approximate covariance ``apVar`` (the inverse Hessian of
    the log-likelihood), mapped back to the natural scale. A gls fit without variance parameters
    gets a chi-square interval for sigma. (lmer fits: :func:`mixedcompat.confint`.)

    Parameters
    ----------
    m : lme or gls fit
        The fit; ``intervals(m)`` is ``m.intervals()``.
    level : float, optional
        Confidence level, in (0, 1) (default 0.95).
    which : {"all", "fixed", "var-cov"}, optional
        The parameters (default ``"all"``). When ``apVar`` is not positive definite, nlme's message
        "cannot get confidence intervals on var-cov components: Non-positive definite approximate
        variance-covariance" (a :class:`~mixedcompat.DataError`).

    Returns
    -------
    Intervals
        A dict of DataFrames / Series with columns ``lower``, ``est.``, ``upper``: ``"fixed"``,
        ``"reStruct"`` (per grouping level), ``"corStruct"``, ``"varStruct"``, ``"sigma"``, as the
        fit has them. ``str()`` prints nlme's text.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> sorted(intervals(m).keys())
    ['fixed', 'reStruct', 'sigma']
    >>> intervals(m, which="fixed")["fixed"].columns.tolist()
    ['lower', 'est.', 'upper']
    """
    return _method("intervals")(m, level=level, which=which)


def getVarCov(m: Any, individuals: Any = None, type: str = "random.effects"):  # noqa: A002
    """Estimated covariance matrices of an lme / gls fit, as nlme.

    R equivalent: ``nlme::getVarCov(m, individuals, type = "marginal")``.

    Parameters
    ----------
    m : lme or gls fit
        The fit; ``getVarCov(m)`` is ``m.getVarCov()``.
    individuals : label or list of labels, optional
        The groups whose matrices are returned (default: the first group). lme fits: groups of the
        (single) grouping level; gls fits: groups of the correlation structure.
    type : {"random.effects", "conditional", "marginal"}, optional
        lme fits: ``"random.effects"`` (default) the random effects' covariance ``Psi``;
        ``"conditional"`` sigma^2 times the within-group correlation and variance structure of an
        individual; ``"marginal"`` ``Z_i Psi Z_i' + conditional``. gls fits: the ``"conditional"``
        matrix (``"marginal"`` raises: there are no random effects). Several levels of nesting
        raise nlme's "not implemented for multiple levels of nesting".

    Returns
    -------
    pandas.DataFrame or dict
        The matrix; a dict label -> DataFrame for several individuals.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> getVarCov(m).shape
    (1, 1)
    >>> getVarCov(m, type="marginal", individuals="M01").shape
    (4, 4)
    """
    return m.getVarCov(individuals=individuals, type=type)


def ACF(m: Any, maxLag: int | None = None, resType: str = "pearson"):
    """Empirical autocorrelation of an lme / gls fit's residuals within groups, as nlme.

    R equivalent: ``nlme::ACF(m, maxLag = 5, resType = "normalized")``.

    Pairs of residuals are taken within the innermost random-effects groups (lme) or the
    correlation structure's groups (gls; all rows when there is none), in the data's order within
    a group (nlme does not sort by a time covariate). ``m.plot_ACF()`` draws it.

    Parameters
    ----------
    m : lme or gls fit
        The fit; ``ACF(m)`` is ``m.ACF()``.
    maxLag : int, optional
        Largest lag; default nlme's ``min(max group size - 1, 10 log10(N / groups))``, at least 1.
    resType : {"pearson", "normalized", "response"}, optional
        Which residuals (default ``"pearson"``; ``"normalized"`` to check a correlation structure).

    Returns
    -------
    pandas.DataFrame
        Columns ``lag`` and ``ACF``; ``.attrs["n.used"]`` the number of pairs per lag.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> ACF(m).columns.tolist()
    ['lag', 'ACF']
    """
    return m.ACF(maxLag=maxLag, resType=resType)


def Variogram(m: Any, form: str | None = None, resType: str = "pearson", robust: bool = False, maxDist: Any = None):
    """Semivariogram of an lme / gls fit's residuals within groups, as nlme.

    R equivalent: ``nlme::Variogram(m, form = ~ time, resType = "pearson", robust = FALSE, maxDist)``.

    Pairs are taken within groups as in :func:`ACF`; a spatial correlation structure (``corExp``,
    ``corGaus``, ``corSpher``, ``corLin``, ``corRatio``) adds its model semivariogram in
    ``.attrs["model"]``. ``m.plot_Variogram()`` draws it.

    Parameters
    ----------
    m : lme or gls fit
        The fit; ``Variogram(m)`` is ``m.Variogram()``.
    form : str, optional
        ``"~ x"``, ``"~ x + y"`` or ``"~ x | g"``: the covariate(s) whose distances are used (and
        the grouping); default the correlation structure's covariate, else the rows' positions.
    resType : {"pearson", "normalized", "response"}, optional
        Which residuals (default ``"pearson"``).
    robust : bool, optional
        Cressie & Hawkins' robust estimator instead of the mean of half squared differences.
    maxDist : float, optional
        Keep only pairs at distance up to ``maxDist``.

    Returns
    -------
    pandas.DataFrame
        Columns ``variog``, ``dist``, ``n.pairs``.

    Examples
    --------
    >>> import mixedcompat as mc
    >>> m = mc.lme("distance ~ age", mc.datasets.load("Orthodont"), random="~ 1 | Subject")
    >>> Variogram(m).columns.tolist()
    ['variog', 'dist', 'n.pairs']
    """
    return m.Variogram(form=form, resType=resType, robust=robust, maxDist=maxDist)


__all__ = _NAMES + ["resid", "anova", "drop1", "intervals", "getVarCov", "ACF", "Variogram"]
