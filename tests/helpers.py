"""Shared test helpers: the one tolerance table, the fixture path and loaders for R's golden-master
fixtures, and the comparison rules (the optimum, rounding noise, printed text).

Test files import from here (``from helpers import TOL, load_fixture``); ``conftest.py`` holds only
pytest's hooks and options.
"""
from __future__ import annotations

import json
import pathlib
import re
import warnings
from typing import Callable

import numpy as np
import pandas as pd

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

# One table of tolerances for every comparison in the tests (see ../docs/r_users.md "Agreement with R").
# Each entry is the keyword arguments of a comparison (``assert_close(..., **TOL["fixef"])``); an
# entry with only ``rtol`` is read as ``TOL[name]["rtol"]`` where a test needs the bare number.
# Add entries here; do not define tolerances in test files.
TOL = {
    # ---- lme4 fits against R's fixtures and live R
    "criterion": dict(rtol=1e-6),      # REMLcrit / deviance at the optimum; lower than R's passes
    "logLik": dict(rtol=1e-6),         # logLik at the optimum: as the criterion
    "AIC": dict(rtol=1e-6),            # AIC = -2 logLik + 2 df: as the criterion
    "BIC": dict(rtol=1e-6),            # BIC: as the criterion
    "objective_at": dict(rtol=1e-8),   # the criterion at fixed theta: no optimiser involved
    "fixef": dict(rtol=1e-5),          # plus fixef_floor (1e-4 standard errors) for coefficients near zero
    "se": dict(rtol=1e-4),             # fixed-effect standard errors: follow theta and sigma
    "vcov": dict(rtol=2e-4),          # vcov(beta) entries: products of two SEs (tests/test_pls_precision.py)
    "sigma": dict(rtol=1e-5),          # residual SD at the optimum: as fixef
    "theta": dict(atol=1e-4),          # theta when the optimisers took the same path (theta_same_path below)
    "varcorr": dict(rtol=1e-4, atol=1e-8),   # SDs and correlations: functions of theta and sigma
    "ranef": dict(rtol=1e-3),          # plus ranef_floor (1e-4 of the term's standard deviation)
    "fitted": dict(rtol=1e-6),         # plus fitted_floor (1e-6 of the response's standard deviation)
    "model_matrix": dict(rtol=1e-10, atol=1e-12),   # X and Z built from the formula: no optimiser involved
    # the conditional variances (postVar) of the compared model against R's; atol is on the correlation
    # scale (times sqrt(v_ii v_jj)), for covariances near 0
    "postvar": dict(rtol=1e-5, atol=1e-5),
    # postVar at R's own theta: nothing depends on the optimiser, agreement to rounding (no atol)
    "postvar_at_r_theta": dict(rtol=1e-6, atol=0.0),
    # predict(): linear algebra at fixed theta (rtol), atol for predictions that cancel to ~0
    "predict": dict(rtol=1e-6, atol=1e-8),
    # profile() confidence intervals: ends found by spline interpolation of zeta on R's own grid of
    # points, so they agree to the interpolation's precision, not the criterion's
    "profile_ci": dict(rtol=1e-3),
    # lme4's hatvalues / cooks.distance at R's own parameters (tests/test_lme4_api.py): linear algebra at
    # fixed theta (glmer: theta and beta, through one PIRLS solve), no optimiser involved
    "hat_at_r_theta": dict(rtol=1e-7, atol=1e-12),
    # glmer's: lme4 factors L / RX at the working weights of PIRLS's last iteration (before its final
    # update of u), so the hat values carry PIRLS's convergence (its relative deviance change < 1e-7
    # leaves ~1e-7 in the weights): our fit on lme4's path agrees to rounding, at R's parameters (PIRLS
    # started elsewhere) to ~1e-6 (cbpp: hatvalues 9e-7, cooks.distance 3.5e-6 relative)
    "hat_glmm_at_r_params": dict(rtol=2e-5, atol=1e-12),
    # allFit (tests/test_allfit.py): a refit on R's path (theta within theta_same_path) -- fixef and
    # sdcor follow theta, as "fixef" / "varcorr"
    "allfit_fixef": dict(rtol=1e-5),
    "allfit_sdcor": dict(rtol=1e-4, atol=1e-8),
    # influence (tests/test_influence.py): each refit compared at R's own theta (ours refitted there
    # when our optimiser stopped elsewhere): linear algebra at fixed theta, no optimiser involved
    "influence_at_r_theta": dict(rtol=1e-6, atol=1e-9),
    # ---- the optimum rule (check_criterion / theta_parted below)
    "criterion_above": dict(rtol=1e-8),     # how far our criterion may sit above R's (relative)
    "theta_same_path": dict(atol=1e-6),     # theta closer than this: our BOBYQA followed lme4's path
    # minqa's BOBYQA evaluation count when theta agrees to theta_same_path: the paths may still part at
    # rounding level near the end (lmer sleepstudy ML: from evaluation 46, then 63 evaluations vs R's 64
    # with numpy 2.4; 62 with numpy 1.23, whose BLAS rounds the criterion's sums differently)
    "bobyqa_feval": dict(atol=2),
    # random designs: our criterion below lme4's by more than this means lme4 stopped early
    "criterion_better": dict(rtol=1e-6),
    # rounding noise: a value below this times its scale is zero up to rounding (is_noise)
    "noise": dict(rtol=1e-10),
    # ---- glmer's optimisers (issue 12): the points lme4's Nelder-Mead / minqa's BOBYQA evaluated, ours
    # against R's, evaluation by evaluation (same operations in the same order: rounding at most)
    "optimizer_path": dict(rtol=1e-15, atol=0.0),
    # ---- R's nlminb (PORT; tests/test_nlminb.py): every evaluated point against R's, for objectives
    # computed by the same operations here and in R (R's JSON keeps 15 significant digits)
    "nlminb_path": dict(rtol=1e-13, atol=0.0),
    # nlminb's par when the objective's arithmetic differs in the last bits (numpy's matrix products,
    # our lmer deviance): the same counts and codes, the end point parted by finite differences
    "nlminb_par": dict(rtol=1e-6, atol=1e-9),
    # ---- lmer on partitioned (Dask) data (issue 13): the same criterion from block sums reduced over
    # partitions (summation order only differs), and beta / sigma at the same theta
    "partitioned_criterion": dict(rtol=1e-10),
    "partitioned_at_theta": dict(rtol=1e-9, atol=1e-12),
    # poly() / scale() coefficients from sums over partitions against the in-memory ones (summation
    # order, pooled moments, and poly's three-term recurrence against its QR: rounding only)
    "partitioned_transform": dict(rtol=1e-11),
    # ---- nlme (issue 5): nlme's own optimiser (nlminb after EM) stops at ~1e-6 relative precision, so
    # estimates are compared at the issue's tolerances, not lme4's
    "nlme_coef": dict(rtol=1e-4),      # plus 1e-3 standard errors for coefficients near zero
    "nlme_se": dict(rtol=1e-3),        # SEs from nlme's numerical derivatives
    "nlme_logLik": dict(rtol=1e-6),    # logLik at the optimum (also checked before nlme's printouts)
    "nlme_params": dict(rtol=1e-3),    # variance components, correlation and variance parameters, sigma
    # var-cov intervals rest on a numerical Hessian (nlme's apVar, a finite-difference Hessian with
    # .relStep = eps^(1/3)).  nlme's own bounds move when that step changes (by ~0.5% on Orthodont +
    # varIdent, ~6% on the weakly identified varConstPower fits); ours are stable over steps
    # 1e-2 .. 3e-4.  test_intervals allows the larger of this and twice nlme's own change.
    "nlme_intervals": dict(rtol=2e-3),
    "nlme_fitted": dict(rtol=1e-4),    # fitted values: functions of the estimates
    # nlme's printed text, relative to the largest number on the line. Loose on purpose: printing a
    # wrong quantity (a variance for an SD, an unrounded value) is off by far more; flat likelihoods
    # (BodyWeight with corCAR1 + varPower) leave sigma ~1e-4 apart at equal logLik
    "nlme_text": dict(rtol=2e-3),
    # lmList: per-group least squares, no optimiser: R's numbers to rounding
    "lmlist": dict(rtol=1e-9, atol=1e-12),
    # anova(m, Terms = / L = ): F of the fitted lme / gls (follows the fit, as nlme_coef)
    "nlme_anova_F": dict(rtol=1e-4),
    # var-cov intervals of pdBlocked fits: as nlme_intervals, but our own finite-difference apVar moves by
    # 0.2% between steps 1e-2 and 1e-3 on the correlation of Oxboys' pdSymm block (-2 logLik carries
    # ~4e-11 relative rounding noise, which bounds the step from below), while nlme's does not move
    "nlme_blocked_intervals": dict(rtol=5e-3),
    # intervals' text: the layout is checked; the numbers rest on nlme's finite-difference apVar, which
    # moves by up to ~6% with its step on weakly identified fits (see nlme_intervals)
    "nlme_intervals_text": dict(rtol=1e-1),
    # ACF, variogram and their bounds (nlme diagnostics): closed-form sums of residuals, no optimiser
    "nlme_diagnostics": dict(rtol=1e-8, atol=1e-12),
    # ---- lme4's deriv12 at R's theta (issue 9): finite differences with step 1e-4 amplify the criterion's
    # rounding (atol here is relative to |criterion|, times 1e4 for the gradient, 1e8 for the Hessian;
    # lme4's criterion carries up to ~1e-11 relative rounding on boundary fits)
    "derivs_gradient": dict(rtol=1e-4, atol=1e-10),
    "derivs_hessian": dict(rtol=1e-4, atol=1e-12),
    # ---- lmerTest / pbkrtest tables at R's theta (tests/test_live_r_ddf.py): estimates and SEs as fixef
    # (atol: that fraction of the SE); df, F and Sum Sq from numDeriv's differences (same steps as R,
    # Richardson-amplified rounding noise ~1e-6 relative; atol 1e-6 for F near 0, times sigma^2 for Sum Sq)
    "ddf_estimate": dict(rtol=1e-5),
    "ddf_df": dict(rtol=1e-3, atol=1e-6),
    "ddf_p": dict(rtol=1e-3, atol=1e-8),
    # the same tables against the committed fixtures (tests/test_ddf.py): Estimate, SE and t as fixef;
    # df, p, F and sums of squares from numerical derivatives as ddf_df
    "ddf_fixture_coef": dict(rtol=1e-5),
    # lmerTest's contest() against tests/fixtures/lmertest (test_lmertest_contest.py): estimates and SEs as
    # fixef; df, t, p, F, intervals from numerical derivatives as ddf_df; atol for zero estimates
    "lmertest_contest_coef": dict(rtol=1e-5),
    "lmertest_contest_df": dict(rtol=1e-3),
    "lmertest_contest_atol": dict(atol=1e-9),
    "lmertest_contest_text": dict(rtol=1e-5),
    # lmerTest's step() (tests/test_lmertest_step.py): every row of its tables comes from a refit (a new
    # optimum, not R's theta), so logLik, F, Sum Sq as the criterion chain allows and df as ddf_df; p-values
    # of F > 50 move by F/2 times F's relative error; the final model's fixef as se
    "lmertest_step_table": dict(rtol=1e-3, atol=1e-8),
    "lmertest_step_p": dict(rtol=5e-3, atol=1e-12),
    "lmertest_step_beta": dict(rtol=1e-4, atol=1e-6),
    # lmerTest's type III hypothesis matrices keep zapsmall leftovers of ~1e-7 (cake); ours ~1e-6: both noise
    "lmertest_hypotheses_noise": dict(atol=1e-5),
    "ddf_fixture_df": dict(rtol=1e-3),
    # pbkrtest's KRmodcomp / vcovAdj / SATmodcomp's F at R's theta (tests/test_pbkrtest.py): closed forms of
    # theta (atol for p-values near 0)
    "pbkr_kr": dict(rtol=1e-6, atol=1e-12),
    # ... the auxiliary A1, A2, V0-V2, rho (differences of nearly equal terms: V0 = 1 + c1 B near 0)
    "pbkr_kr_aux": dict(rtol=1e-5, atol=1e-9),
    # ... SATmodcomp's ddf and p from numDeriv's Hessian and Jacobian (Richardson-amplified rounding)
    "pbkr_sat": dict(rtol=1e-5, atol=1e-12),
    # ... the restriction matrix: R's zapsmall(L) rounds to 7 significant digits
    "pbkr_L": dict(atol=1e-7),
    # ... the printed tables: numbers printed to 5 significant digits
    "pbkr_text": dict(rtol=1e-6),
    # ... live against R on random designs at R's theta (tests/test_live_r_pbkrtest.py): our model evaluated
    # at R's printed-to-full-precision theta; scales 1e-6 .. 1e6 (atol for p-values near 0)
    "pbkr_live": dict(rtol=1e-5, atol=1e-10),
    # ... SATmodcomp there: numDeriv's Richardson-amplified rounding, as ddf_df
    "pbkr_live_sat": dict(rtol=1e-3, atol=1e-8),
    # ---- emmeans (tests/test_emmeans.py, tests/test_live_r_emmeans.py) at R's parameters: estimates and SEs as
    # fixef / se (KR's adjusted SEs a closed form of theta); df: Kenward-Roger a closed form (rtol 1e-6),
    # Satterthwaite from numDeriv (as ddf_df); p values and limits follow (atol for p near 0); lme fits are
    # nlme's own optimum (nlme_coef / nlme_se)
    "emmeans_estimate": dict(rtol=1e-5, atol=1e-9),
    "emmeans_df": dict(rtol=1e-3, atol=1e-6),
    "emmeans_p": dict(rtol=1e-3, atol=1e-7),
    "emmeans_lme": dict(rtol=1e-3, atol=1e-6),
    # printed text: numbers printed to 3-4 significant digits from the compared values
    "emmeans_text": dict(rtol=1e-4),
    # glmer grids: SE-derived numbers follow glmer_se; p values also absolute (tails near 0 amplify the SE's noise)
    "emmeans_glmer_p": dict(rtol=1e-3, atol=1e-7),
    # scipy's studentized_range against R's ptukey (both numerical integrations; R's Gauss-Legendre rule is the
    # coarser): 1e-9 relative for df >= 45, up to 4.5e-5 at df = 3 and q = 6.5 (tests/test_emmeans.py::test_numerics)
    "emmeans_ptukey": dict(rtol=1e-4, atol=1e-12),
    # R's qtukey search and emmeans' uniroot Dunnett quantile, replayed step by step on scipy's ptukey: the same
    # iterates up to ptukey's differences: 1e-5 relative for df >= 7.3; at df = 3, where R's ptukey is off by up
    # to 5e-5, the 99% quantiles move by up to 1.4e-3 (R 16.7134 vs 16.6908 for 10 means)
    "emmeans_qtukey": dict(rtol=1e-5),
    "emmeans_qtukey_small_df": dict(rtol=2e-3),
    # ---- statsmodels interop (tests/test_interop.py): statsmodels' loglike at our estimates against our
    # logLik (the same model, two implementations of one formula), and how far statsmodels' own optimum
    # may exceed ours (it may not find a better one)
    "statsmodels_same_model": dict(rtol=1e-7),
    "statsmodels_not_better": dict(rtol=1e-7),
    # ---- simulation: bootstrap SDs of 400 replicates against R's (a different random stream), so the
    # Monte-Carlo error of an SD, ~1/sqrt(2 * 400) = 3.5% per side, times ~3
    "bootstrap_sd": dict(rtol=0.15),
    # ---- glmer (issue 12; tests/test_glmer_fixtures.py, tests/test_live_r_glmer.py). lme4's stage 2 is a
    # Nelder-Mead that stops at x tolerances of 5e-4 of its initial steps (1e-5 in theta, 1e-4 standard
    # errors in beta), so its optimum is known to that much.  gen_glmer.R refits every model from a
    # perturbed start and records how far lme4 itself moves (expected.refit_perturbed); over the fixtures
    # whose fit converged (no convergence warning, not glmer.nb) the largest moves are 1.9e-5 in theta,
    # 1.9e-4 SE in beta, 2.7e-4 relative in the Hessian SEs (VerbAgg), 2e-5 in the R_X SEs, 3.5e-5 in
    # eta, 4e-5 relative in fitted values, 3.7e-5 in ranef, 9e-5 relative in postVar.  The entries are
    # about 2.5x those; test_glmer_fixtures.py::test_tolerances_cover_lme4s_own_noise re-checks that on
    # every regeneration.  The objective itself is not toleranced: check_criterion's rule (ours at most
    # R's + criterion_above) holds for glmer too.
    "glmer_theta": dict(atol=5e-5),         # theta of the same optimum (else: compared at R's parameters)
    "glmer_beta": dict(atol=5e-4),          # beta of the same optimum, in R's standard errors
    # the objective at fixed parameters (devFunOnly): no optimiser, but lme4's PIRLS stops at a relative
    # change of 1e-7 and its value lies up to ~1e-5 relative from the converged one (the fixtures'
    # value_converged): agreement to this needs lme4's PIRLS path (same stored start, same stopping)
    "glmer_objective_at": dict(rtol=1e-9),
    # logLik / AIC / BIC of the compared model: at R's parameters the objective is R's to
    # glmer_objective_at; at the same optimum it moves by <= 5e-11 relative in lme4's own refits
    "glmer_logLik": dict(rtol=1e-8),
    "glmer_se": dict(rtol=1e-3),            # SEs from 1.1-31's finite-difference Hessian (step 1e-4)
    "glmer_se_rx": dict(rtol=1e-4),         # SEs from R_X (vcov(use.hessian = FALSE))
    "glmer_eta": dict(atol=1e-4),           # linear predictor (link scale), absolute
    "glmer_fitted": dict(rtol=1e-4),        # fitted means and response-scale predictions
    # residuals of each type, atol times the largest |residual| of that type (Pearson and working
    # residuals divide by variances / mu.eta that are small where mu is near a bound)
    "glmer_residuals": dict(rtol=1e-4, atol=1e-4),
    "glmer_ranef": dict(atol=1e-4),         # conditional modes (absolute, on the scale of theta)
    "glmer_postvar": dict(rtol=3e-4, atol=1e-10),   # conditional variances; atol for exact zeros
    "glmer_varcorr": dict(rtol=2e-4, atol=5e-5),    # VarCorr sdcor (and vcov, atol times 2 max sd)
    # getME(m, "devcomp")$cmp: ldL2, wrss, ussq, pwrss, drsum, ... functions of (theta, beta) as fitted
    "glmer_devcomp": dict(rtol=1e-4, atol=1e-8),
    # glmer.nb's theta: R's optimize() on log(theta) with tol 5e-5, each step a full glmer fit
    "glmer_nb_theta": dict(rtol=1e-4),
    # stage 1 (nAGQ = 0, BOBYQA to rhoend = 1e-6 rhobeg): lme4's own refits move its theta by <= 3.6e-7
    "glmer_stage1_theta": dict(atol=1e-6),
    # printed glmer summaries: numbers within this times their column's scale (the Hessian SEs' noise)
    "glmer_text": dict(rtol=1e-3),
    # the compiled PIRLS kernel against the numpy PIRLS (tests/test_compiled_pirls.py): the same loop and
    # iterations, sums taken in another order; the objective, and the state (linear predictor, u, beta,
    # working weights); R_X's (X'WX)^-1 loses up to cond(R_X) of that
    "compiled_objective": dict(rtol=1e-11, atol=1e-9),
    "compiled_state": dict(rtol=1e-9, atol=1e-11),
    "compiled_rx": dict(rtol=1e-7, atol=1e-12),
    # ---- inference on glmer fits (tests/test_glmer_inference.py): the fits agree with lme4's to the
    # criterion's tolerance, so logLik / AIC / BIC / deviance columns follow "criterion"; a chi-square is a
    # difference of two criteria of ~1e2-1e3 (absolute); Wald intervals follow glmer_se; the single-model
    # table's Sum Sq rests on R_X of the last PIRLS iteration, which moves with where PIRLS stopped
    "glmer_lrt": dict(rtol=1e-6),
    "glmer_lrt_chisq": dict(rtol=1e-5, atol=1e-3),
    "glmer_anova1": dict(rtol=1e-3),
    # refit() to a stored response, on lme4's refit path (its first PIRLS, one Nelder-Mead from the fitted
    # parameters): the same evaluations as lme4's (cbpp 459, Bernoulli 337, grouseticks 685) and the optimum
    # to the last digits; the criterion also by the rule (ours at most R's + criterion_above)
    "glmer_refit_criterion": dict(rtol=1e-9),
    "glmer_refit_theta": dict(atol=1e-6),
    "glmer_refit_fixef": dict(rtol=1e-6, atol=1e-6),
    # simulate() against R's draws (another random stream): per-row means of 4000 draws, as z-scores
    # against the two Monte-Carlo errors; variances relative
    "simulate_mean_z": dict(atol=5.0),
    "simulate_var": dict(rtol=0.25, atol=0.05),
    # bootstrap / PBmodcomp distributions: our 60 replicates against R's 200: SDs (Monte-Carlo error
    # ~9% and ~5% per side, times ~3), means within 0.5 SD, PB p-values within 0.15
    "glmer_boot_sd": dict(rtol=0.3),
    "glmer_boot_mean_sd": dict(atol=0.5),
    "glmer_pb_p": dict(atol=0.15),
    # the families' log densities (cross_validate): closed forms against R's d* functions
    "glm_log_density": dict(rtol=1e-12, atol=1e-12),
    # ... integrated over a new level's random effect by 21-node Gauss-Hermite (its error ~2e-8 on a
    # Poisson with variance 0.4 against a 200,000-point trapezoid rule)
    "glm_predictive_density": dict(rtol=1e-6, atol=1e-7),
    # ---- floors: absolute tolerances that scale with a quantity of the model (atol times that quantity)
    # times the smallest standard error: fixed effects near zero (with fixef)
    "fixef_floor": dict(atol=1e-4),
    # times the term's standard deviation: conditional modes near zero (with ranef)
    "ranef_floor": dict(atol=1e-4),
    # absolute, added to ranef_floor where a term's modes may all be 0 (singular fit)
    "ranef_all_zero": dict(atol=1e-10),
    # times the response's standard deviation: fitted values near zero (with fitted)
    "fitted_floor": dict(atol=1e-6),
    # times the largest |vcov| entry: covariances near zero
    "vcov_floor": dict(atol=1e-6),
    # times max(1, |fixef|): live-R formula stages, fixef at R's theta
    "fixef_stage_floor": dict(atol=1e-8),
    # times the SE (or largest SE): nlme coefficients, intervals and vcov near zero
    "nlme_coef_floor": dict(atol=1e-3),
    # absolute: correlation / variance parameters near zero (with nlme_params)
    "nlme_params_floor": dict(atol=1e-4),
    # times the largest SD: random-effect SDs near zero (with nlme_params)
    "nlme_sd_floor": dict(atol=1e-6),
    # times the response's SD or the largest |prediction| (with nlme_fitted)
    "nlme_fitted_floor": dict(atol=1e-4),
    # ---- lme4 fits: other checks against R
    # scaled Pearson residuals are O(1): absolute, as fitted / sigma
    "pearson_residuals": dict(atol=1e-5),
    # coef() (fixef + ranef) per column divided by its largest |value|
    "coef_scaled": dict(atol=1e-5),
    # postVar in the CLI's JSON (optimised fit): as ranef; atol times the largest |postVar|
    "postvar_json": dict(rtol=1e-3, atol=1e-6),
    # population predictions against R's fixef at the same points: as fitted
    "predict_from_fixef": dict(rtol=1e-6),
    # numbers of ranef printouts at R's theta, relative to their column's scale
    "ranef_text": dict(rtol=1e-8),
    # numbers in lmerTest tables printed at R's theta (beyond ties in the last digit)
    "ddf_text": dict(rtol=1e-6),
    # Satterthwaite df of a rescaled response: numDeriv's steps are relative, df equal to their noise
    "ddf_units": dict(rtol=1e-4),
    # live R: a criterion this far below R's is reported as a better optimum
    "criterion_better_report": dict(rtol=1e-9),
    # relative rounding of lme4's criterion, amplified by 1/delta^2 in a Hessian entry
    "hessian_noise": dict(atol=1e-12),
    # ---- GLM families (issue 12, tests/test_glm_family.py): closed-form links, variances, deviance
    # residuals, aic and initial values against lme4's C++ and R's functions: agreement to rounding
    "glm_family": dict(rtol=1e-13),
    # values that are differences of terms that cancel (a unit deviance where y ~ mu, the negative
    # binomial's aic at large theta): numpy's vectorised log / exp differ from the C library's by an
    # ulp in ~1% of arguments, and lme4 sums with Eigen's vectorised reduction in another order; this
    # times the sum of the terms' absolute values (a few ulps of them)
    "glm_cancellation": dict(rtol=2e-15),
    # Gauss-Hermite rules: ours from numpy's hermgauss, lme4's from its stored table; atol for an odd
    # rule's middle node (0 here, a residue < 2e-15 in lme4's table). Weights agree to 1e-14 for
    # k <= 25 (glmer's nAGQ), 2.2e-13 at k = 100 (the outermost weights, ~1e-67)
    "gh_nodes": dict(rtol=1e-14, atol=2e-15),
    "gh_weights": dict(rtol=5e-13),
    # MASS::theta.ml: Newton steps on digamma / trigamma sums (scipy's against R's, ~1e-15 each); the
    # score is a sum of digamma differences that cancel as theta grows, so a flat likelihood moves
    # theta by rounding: plus theta_ml_se_floor times R's standard error of theta
    "theta_ml": dict(rtol=1e-10),
    "theta_ml_se_floor": dict(atol=1e-8),
    # theta.ml where it does not converge (R's "iteration limit reached" with SE > theta: data with
    # little or no overdispersion): theta grows step by step and the score is a difference of nearly
    # equal digammas, where R's and scipy's roundings part (5e-9 at theta = 1.9e3, 7e-6 at 2.8e5
    # after 19 steps)
    "theta_ml_diverging": dict(rtol=1e-4),
    # lme4's starting theta: closed-form, no optimiser
    "start_theta": dict(rtol=1e-10, atol=1e-12),
    # ---- the analytic gradient of the criterion (tests/test_gradient.py) against central differences
    # (step 1e-5: truncation ~1e-10 times the third derivative, rounding ~1e-11 |criterion| / 1e-5),
    # relative to max(1, largest |difference|)
    "gradient_fd": dict(rtol=1e-6),
    # at a bound: a singular term's entries are themselves Richardson-extrapolated central differences,
    # compared with the same differences at another step (truncation ~h^4, rounding ~1e-11 |crit| / h)
    "gradient_fd_boundary": dict(rtol=1e-6),
    # ---- our own computations against each other (no R, no optimiser): rounding only
    # one model fitted from another data container or via update(): same arithmetic up to ordering
    "same_fit": dict(rtol=1e-10),
    # the criterion of the same model from another data container
    "same_fit_criterion": dict(rtol=1e-12),
    # dense and blocked PLS: beta (atol times max |beta|)
    "dense_blocked_beta": dict(rtol=1e-9, atol=1e-9),
    # dense and blocked PLS: u, which carries the factor's rounding (atol times max(1, |u|))
    "dense_blocked_u": dict(rtol=1e-7, atol=1e-9),
    # dense and blocked PLS: unscaled vcov(beta)
    "dense_blocked_vcov": dict(rtol=1e-9, atol=1e-12),
    # conditional variances against a brute-force inverse (atol times its largest entry)
    "condvar_brute": dict(rtol=1e-9, atol=1e-12),
    # one quantity computed by two of our paths or read back from a table we built
    "same_computation": dict(rtol=1e-12),
    # a printing table built from R's stored values (SEs as square roots of stored vcov)
    "table_from_fixture": dict(rtol=1e-10),
    # ACF of interleaved groups against the same groups in blocks
    "acf_by_blocks": dict(rtol=1e-12),
    # ---- numerical building blocks against R (tests/test_ddf.py)
    # numDeriv's hessian (Richardson, same steps as R) on badly scaled inputs
    "numderiv_hessian": dict(rtol=1e-7, atol=1e-12),
    # numDeriv's jacobian: fewer differences than the Hessian, less noise
    "numderiv_jacobian": dict(rtol=1e-9, atol=1e-14),
    # Doolittle LU of a small matrix against R's: rounding only
    "doolittle": dict(rtol=1e-12, atol=0),
    # MASS::ginv of a near-singular matrix against R's: rounding amplified by its small singular values
    "ginv": dict(rtol=1e-6, atol=1e-9),
    # solve(A) %*% A == I for a well-conditioned 2 x 2
    "r_solve": dict(atol=1e-14),
    # ---- nlme building blocks against nlme's own C / R code
    # corStruct start / natural / unconstrained coefficients: closed forms
    "corstruct_coef": dict(rtol=1e-10, atol=1e-12),
    # corMatrix() entries: closed forms in the parameters
    "corstruct_matrix": dict(rtol=1e-10, atol=1e-13),
    # recursive (whitened) matrix against nlme's corFactor
    "whiten": dict(rtol=1e-9, atol=1e-11),
    # half log-determinant of the correlation against nlme's
    "whiten_logdet": dict(rtol=1e-10, atol=1e-12),
    # unconstrained -> natural -> unconstrained (atan / log transforms)
    "corstruct_round_trip": dict(rtol=1e-8, atol=1e-10),
    # whitening against a dense Cholesky of the correlation (random examples)
    "whiten_cholesky": dict(rtol=1e-8, atol=1e-9),
    # its log-determinant against the dense Cholesky's
    "whiten_cholesky_logdet": dict(rtol=1e-9, atol=1e-10),
    # the dense path with many distinct patterns against a dense reference
    "whiten_dense_patterns": dict(rtol=1e-9, atol=1e-10),
    # its log-determinant
    "whiten_dense_patterns_logdet": dict(rtol=1e-10),
    # compound symmetry on a balanced layout against a dense reference
    "whiten_balanced": dict(rtol=1e-10, atol=1e-12),
    # its log-determinant
    "whiten_balanced_logdet": dict(rtol=1e-12),
    # varFunc starting values: closed forms
    "varfunc_start": dict(rtol=1e-12, atol=1e-12),
    # varFunc natural-scale coefficients: exp / identity of the unconstrained
    "varfunc_natural": dict(rtol=1e-12),
    # unconstrained -> natural -> unconstrained
    "varfunc_round_trip": dict(rtol=1e-12, atol=1e-14),
    # varWeights and the sum of their logs
    "varfunc_weights": dict(rtol=1e-10),
    # the sum of log weights (atol for a sum near 0)
    "varfunc_weights_logsum": dict(rtol=1e-10, atol=1e-12),
    # nlme's correlation parameters read back at nlme's own estimate
    "nlme_at_r_params": dict(rtol=1e-10, atol=1e-12),
    # ---- nlme fits: other checks against R
    # t values: coefficient over SE, so as nlme_se
    "nlme_t": dict(rtol=1e-3),
    # p-values from t: the tail amplifies t's relative error, so ten times nlme_t (atol for p near 0)
    "nlme_p": dict(rtol=0.01, atol=1e-10),
    # random-effect correlations: absolute (they lie in [-1, 1]) and weakly determined by the likelihood
    "nlme_corr": dict(atol=5e-3),
    # conditional modes: as nlme_params (atol times the term's scale)
    "nlme_ranef": dict(rtol=1e-3, atol=1e-3),
    # coef(): fixed + random, as nlme_coef
    "nlme_coef_table": dict(rtol=1e-4),
    # residuals of every type, times their largest |value|
    "nlme_residuals": dict(atol=1e-3),
    # anova F-values: ratios of quadratic forms in the estimates
    "nlme_F": dict(rtol=1e-3),
    # fixed-effect intervals: estimate +- t quantile x SE, as nlme_coef
    "nlme_fixed_intervals": dict(rtol=1e-4),
    # absolute floor of var-cov intervals (with nlme_intervals)
    "nlme_varcov_intervals_floor": dict(atol=1e-3),
    # L.Ratio: twice a logLik difference (atol for nested fits at the same optimum)
    "nlme_lrt_ratio": dict(rtol=1e-4, atol=1e-5),
    # LRT p-values from the ratio
    "nlme_lrt_p": dict(rtol=1e-3),
    # ACF of a fit's residuals: follows the estimates (atol for autocorrelations near 0)
    "nlme_acf": dict(rtol=1e-4, atol=1e-6),
    # semivariogram of a fit's residuals
    "nlme_variogram": dict(rtol=1e-4),
    # the model's semivariogram curve: a function of the estimated range / nugget
    "nlme_variogram_model": dict(rtol=1e-3),
    # distances between positions: arithmetic on the data
    "nlme_distances": dict(rtol=1e-10),
    # getVarCov blocks: as nlme_params (atol times the largest |entry|)
    "nlme_getvarcov": dict(rtol=1e-3, atol=1e-4),
    # ---- R's fixtures checked against themselves (tests/test_nlme_fixture_schema.py): rounding of stored numbers
    # a value R derived from others (t = fixef / se, SE from vcov, LRT ratio)
    "schema_derived": dict(rtol=1e-8),
    # the same, with an absolute floor for values near 0
    "schema_derived_abs": dict(rtol=1e-8, atol=1e-12),
    # one value R stored twice or computed in closed form from stored values
    "schema_same": dict(rtol=1e-10),
    # the same, with an absolute floor
    "schema_same_abs": dict(rtol=1e-10, atol=1e-12),
    # vcov against its transpose
    "schema_symmetric": dict(rtol=1e-10, atol=1e-14),
    # one number stored in two places
    "schema_identical": dict(rtol=1e-12),
    # fitted = X beta + Z b from stored pieces (atol times the response's SD)
    "schema_fitted": dict(rtol=1e-8, atol=1e-8),
    # an LRT p-value recomputed from the stored ratio (pchisq's precision)
    "schema_p": dict(rtol=1e-6),
    # ---- statsmodels interop and other checks
    # statsmodels' fixef at its own optimum (its optimiser's precision)
    "statsmodels_fixef": dict(rtol=1e-4),
    # statsmodels' residual scale at its own optimum
    "statsmodels_sigma": dict(rtol=1e-3),
    # statsmodels' conf_int against ours
    "statsmodels_ci": dict(rtol=1e-4),
    # statsmodels (Powell, run to convergence) reaches our optimum
    "statsmodels_powell": dict(rtol=1e-8),
    # a model converted to statsmodels' spec and back: the same criterion
    "round_trip_criterion": dict(rtol=1e-8),
    # ... and the same parameters (optimiser precision)
    "round_trip_params": dict(rtol=1e-6),
    # Wald intervals from R's fixef and SEs: as fixef
    "wald_ci": dict(rtol=1e-5),
    # the sum of a bundled data column against R's (4 decimals stored)
    "dataset_sum": dict(atol=1e-8),
    # ---- more of our own computations against each other (no R): rounding only
    # one quantity by two of our paths, with an absolute floor for values near 0 (beta, b = Lambda u)
    "same_computation_abs": dict(rtol=1e-12, atol=1e-12),
    # lme4's criterion formula against the same formula written out: a few ulps
    "criterion_formula": dict(rtol=1e-15),
    # the ML deviance at sigma^2 = pwrss / n against the profiled one: log(sigma^2) re-derived
    "deviance_at_sigma": dict(rtol=1e-14),
    # AIC / BIC against -2 logLik + k df written out: a few ulps
    "aic_formula": dict(rtol=1e-14),
    # a fast criterion (kernels, dense, one term, refit for a new response) against the model's
    # Deviance at arbitrary theta: other summation orders, so rounding amplified by the factorisation
    "fast_criterion": dict(rtol=1e-10),
    # ... its beta (absolute floor for coefficients near 0)
    "fast_criterion_beta": dict(rtol=1e-9, atol=1e-9),
    # ... its penalised weighted residual sum of squares
    "fast_criterion_pwrss": dict(rtol=1e-9),
    # profiling's lean (ldL2, pwrss) evaluation against the factor's
    "lean_criterion": dict(rtol=1e-10),
    # ... and the ML deviance it gives
    "lean_ml_deviance": dict(rtol=1e-12),
    # Deviance.criteria(thetas) against one call per theta (tests/test_criterion.py)
    "batched_criteria": dict(rtol=1e-12),
    # the same at deriv12's points around the optimum (tests/test_convergence.py)
    "batched_criteria_derivs": dict(rtol=1e-13),
    # deriv12 from batched criteria against deriv12 from single calls: the Hessian's 1e4 amplification
    # of rounding (atol for gradient entries near 0 at the optimum)
    "derivs_batched": dict(rtol=1e-9, atol=1e-9),
    # a bootstrap replicate's light fit against the complete fit of the same optimum: beta, fixef,
    # fitted, ranef, vcov (the light fit solves with the fast criterion's factor)
    "replicate_fit": dict(rtol=1e-9),
    # ... u and b (absolute floor for modes near 0)
    "replicate_fit_u": dict(rtol=1e-9, atol=1e-9),
    # ... sigma
    "replicate_fit_sigma": dict(rtol=1e-10),
    # ... the criterion and logLik
    "replicate_fit_criterion": dict(rtol=1e-12),
    # the same model fitted in a worker process and unpickled: the same arithmetic
    "same_fit_other_process": dict(rtol=1e-12),
    # Deviance.with_response(y2) against a Deviance built from y2
    "with_response": dict(rtol=1e-14),
    # ---- invariances of the criterion (tests/test_pls_precision.py)
    # criterion(a + b y) = criterion(y) + 2 denom log|b| (and a column's units move only log|R_X|^2)
    "criterion_invariance": dict(rtol=1e-12),
    # beta of a + b y against b beta + (a, 0); atol times |b| max|beta| (rtol alone for a rescaled column)
    "beta_invariance": dict(rtol=1e-11, atol=1e-11),
    # theta of the fits to y and a + b y: the same optimum to the optimiser's precision
    "theta_invariance": dict(atol=1e-6),
    # fixef of y + 1e6 minus the shift against fixef of y (absolute)
    "fixef_shifted_response": dict(atol=1e-8),
    # the criterion's rounding noise between neighbouring thetas, relative (lme4's is ~1e-15)
    "criterion_noise": dict(rtol=1e-13),
    # the same on lme4's fewlevels test (y'y ~ 1e12)
    "criterion_noise_fewlevels": dict(rtol=1e-14),
    # ResponseReduction's residual r against sqrt(w) (y - offset - X c) (absolute, r is O(1))
    "reduction_residual": dict(atol=1e-13),
    # r's orthogonality to sqrt(w) X, relative to |r| |X|
    "reduction_orthogonal": dict(rtol=1e-12),
    # ---- optimiser and derivatives on closed-form functions
    # BOBYQA on a quadratic with a wall and a box (xtol_abs 1e-10, ftol_abs 1e-12): the minimiser
    "bobyqa_toy_x": dict(atol=1e-6),
    # ... and the minimum
    "bobyqa_toy_f": dict(atol=1e-10),
    # deriv12's central differences (step 1e-4) on a smooth function: truncation error, gradient
    "deriv12_gradient": dict(rtol=1e-7),
    # ... Hessian
    "deriv12_hessian": dict(rtol=1e-6),
    # ---- convergence fixtures (tests/test_convergence.py)
    # lme4's start theta against the convergence fixtures': closed form, no optimiser
    "start_theta_fixture": dict(rtol=1e-12, atol=1e-14),
    # polish = "always" is never worse than the default, beyond rounding (relative)
    "polish_not_worse": dict(rtol=1e-10),
    # lme4 stopped at the fixture's point (relative criterion gap): then its messages are compared
    "lme4_stop_same": dict(rtol=1e-6),
    # ---- refit / bootstrap / PBmodcomp against R or against another optimiser run
    # a second optimiser run on one response (refit from the fit's theta, the bootstrap's fast
    # criterion): BOBYQA may stop at another point of a flat valley, the criterion
    "refit_criterion": dict(rtol=1e-7),
    # ... and the statistics (fixef, sigma) at that point
    "refit_statistics": dict(rtol=1e-4),
    # refit() to R's new response, fixef at R's theta: as fixef, atol for coefficients near 0
    "refit_fixef": dict(rtol=1e-5, atol=1e-6),
    # boot.ci on R's own replicates: deterministic given t, order statistics and interpolation
    "boot_ci": dict(rtol=1e-9),
    # PBmodcomp's observed LRT statistic: twice a logLik difference of two ML fits (atol for stat near 0)
    "pb_lrt_stat": dict(rtol=1e-5, atol=1e-6),
    # ... its chi-square p-value
    "pb_lrt_p": dict(rtol=1e-4),
    # pbkrtest's tables from R's own reference distribution (tests/test_pbrefdist.py): functions of R's samples
    # only (moments, Gamma scale / shape, F's ddf, PBtest's p-value): floating-point noise
    "pbref_from_samples": dict(rtol=1e-12, atol=1e-15),
    # ... entries that also involve our observed statistic (stat, Bartlett's, F's, the p-values): its error
    # (pb_lrt_stat) times the tail's slope; a p-value's relative error is about tobs / 2 times tobs's
    "pbref_with_tobs": dict(rtol=1e-4, atol=1e-12),
    # ... glmer pairs: the Laplace deviances agree to about 1e-6 relative (glmer_lrt_chisq)
    "pbref_glmer": dict(rtol=1e-3, atol=1e-6),
    # ... their printed text: numbers within this relative error of R's column scale
    "pbref_text": dict(rtol=1e-5),
    # SD of 400 bootstrap LRT statistics against R's: Monte-Carlo error of a heavy right tail
    "bootstrap_lrt_sd": dict(rtol=0.25),
    # lme4's isSingular(tol = 1e-4): a theta below this is on the boundary
    "singular_theta": dict(atol=1e-4),
    # ---- anova / model_table / cross-validation
    # anova's LRT table against R's: AIC, BIC, logLik, deviance, Chisq at the ML optima (atol near 0)
    "lrt_table": dict(rtol=1e-6, atol=1e-8),
    # ... its p-values (the chi-square tail amplifies Chisq's relative error)
    "lrt_p": dict(rtol=1e-5),
    # model_table's ML refit against update(REML = False): two optimiser runs of one model
    "ml_refit_logLik": dict(rtol=1e-7),
    # cross-validation: a fold's predictions and predictive variances against a direct fit to the same
    # training rows (two optimiser runs of one model)
    "cv_fold": dict(rtol=1e-8),
    # ... the fold's log predictive density, RMSE and sigma^2 from those
    "cv_fold_summary": dict(rtol=1e-10),
    # ---- profile
    # absolute floor of profile intervals: bounds at 0 (singular fits stop at the boundary)
    "profile_ci_floor": dict(atol=1e-8),
    # zeta at R's profile points: our zeta function against R's (spline-free, but at R's optimum)
    "profile_zeta": dict(rtol=1e-3, atol=1e-3),
    # ---- printing
    # nlme printouts are skipped when our sigma and SDs are not nlme's (equal logLik, other point)
    "nlme_same_estimates": dict(rtol=1e-2),
    # R's type-7 quantile against numpy's: one formula, other rounding (atol for values near 0)
    "quantile7": dict(rtol=1e-12, atol=1e-9),
    # a number rounded to a unit lies within half a unit: rtol is slack on the half unit (ties
    # computed in binary), atol times |x| for x's own representation
    "half_unit": dict(rtol=1e-9, atol=1e-15),
}
# The one rule for comparing a fit with R's when the two optimisers may stop at different points
# (see ../docs/r_users.md "Agreement with R"):
# 1. the criterion: ours is at most R's + CRITERION_ABOVE_RTOL relative (lower passes: we found a
#    better optimum, and the gap is printed) -- check_criterion;
# 2. theta: on most models our BOBYQA path is lme4's and theta agrees to PATH_DIVERGED_THETA.  On flat
#    criteria the paths can part (floating-point differences in the last bits, another BLAS) and the two
#    optimisers stop at different points of the flat valley, or lme4 stops early: theta is then not
#    determined by the data to better than the valley, so it is reported, not compared -- theta_parted;
# 3. everything downstream of theta (fixef, SEs, VarCorr, ranef, postVar, fitted, predictions, printed
#    text, isSingular) is compared on our model evaluated at R's own theta whenever theta parted
#    (lmerControl(optimizer = NULL); the criterion there is R's to TOL["objective_at"]) -- model_at_r_theta.
# Seen with R 4.2.2 / lme4 1.1-31: 32 of 40 fixtures follow lme4's path exactly; the others part on
# long paths over flat criteria (3 x 3 random covariance, factor slopes), criteria within 2e-9
# relative and theta within 2.5e-3.
PATH_DIVERGED_THETA = TOL["theta_same_path"]["atol"]
CRITERION_ABOVE_RTOL = TOL["criterion_above"]["rtol"]


def fixture_paths(kind: str) -> list[pathlib.Path]:
    return sorted((FIXTURES / kind).glob("*.json"))


def load_fixture(path: pathlib.Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def load_fixture_data(stem: str, root: pathlib.Path = FIXTURES):
    """A fixture's data set (``<root>/data/<stem>.csv``, R's factor levels kept), named ``stem``."""
    from mixedcompat.datasets import read_csv_with_levels
    df = read_csv_with_levels(root / "data" / f"{stem}.csv")
    df.attrs["name"] = stem
    return df


_FIT_CACHE: dict[str, object] = {}


# ------------------------------------------------------------------------------------------------
# the optimum: one rule for every test that compares a fit with R's

def at_theta(theta) -> dict:
    """lme4's ``lmerControl(optimizer = NULL)`` with ``start = theta``: the model evaluated at ``theta``."""
    return {"optimizer": None, "start": [float(v) for v in np.ravel(np.asarray(theta, dtype=float))]}


def theta_gap(theta, theta_r) -> float:
    """Largest absolute difference between our theta and R's."""
    a, b = np.ravel(np.asarray(theta, dtype=float)), np.ravel(np.asarray(theta_r, dtype=float))
    assert a.shape == b.shape, f"theta has {a.size} values, R's {b.size}"
    return float(np.max(np.abs(a - b), initial=0.0))


def theta_parted(theta, theta_r) -> bool:
    """True when our optimiser stopped at another point than R's (theta more than PATH_DIVERGED_THETA apart)."""
    return theta_gap(theta, theta_r) > PATH_DIVERGED_THETA


def check_criterion(ours: float, theirs: float, what: str = "criterion") -> None:
    """The criterion rule: ours at most R's + CRITERION_ABOVE_RTOL relative.  Lower passes (a better
    optimum than R's: lme4 stopped early); the gap is printed either way."""
    ours, theirs = float(ours), float(theirs)
    gap = ours - theirs
    assert gap <= CRITERION_ABOVE_RTOL * abs(theirs), (
        f"{what}: ours {ours!r} is above R's {theirs!r} by {gap:.3g} ({gap / abs(theirs):.3g} relative; "
        f"allowed {CRITERION_ABOVE_RTOL:g})")
    if abs(gap) > 1e-10 * abs(theirs):
        print(f"{what}: ours {ours!r}, R's {theirs!r} ({'below' if gap < 0 else 'above'} by {abs(gap):.3g})")


def model_at_r_theta(m, theta_r, evaluate_at: Callable[[dict], object]):
    """The model to compare with R for everything downstream of theta: ``m`` itself when its theta is
    R's (to PATH_DIVERGED_THETA), else ``evaluate_at(at_theta(theta_r))`` -- the same model evaluated
    at R's theta without optimising.  ``evaluate_at`` gets the control dict and returns the model."""
    if not theta_parted(m.theta, theta_r):
        return m
    print(f"theta parted from R's by {theta_gap(m.theta, theta_r):.3g}: comparing at R's theta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_at(at_theta(theta_r))


def _lmer_input(inp: dict, data, control: dict | None = None):
    import mixedcompat as mc
    return mc.lmer(inp["formula"], data, REML=inp["REML"], weights=inp.get("weights"),
                   offset=inp.get("offset"), control=control)


def quietly(fun: Callable, *args, **kwargs):
    """``fun(*args, **kwargs)`` with its warnings silenced (for setup whose warnings a test does not check)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fun(*args, **kwargs)


def fit_bundled(inp: dict, control: dict | None = None):
    """The lmer or glmer fit a fixture's ``input`` describes (``fun``, ``formula``, bundled ``data`` by
    name, ``REML`` or ``family``), with ``control``; warnings are the caller's."""
    import mixedcompat as mc
    d = mc.datasets.load(inp["data"])
    if inp["fun"] == "glmer":
        return mc.glmer(inp["formula"], d, family=inp["family"], control=control)
    return mc.lmer(inp["formula"], d, REML=inp["REML"], control=control)


def fit_criterion(m) -> float:
    """The criterion lme4 minimised: glmer's deviance-scale objective, lmer's REML criterion or ML deviance."""
    if hasattr(m, "nAGQ"):
        return float(m.criterion)
    return float(m.REMLcrit()) if m.REML else float(m.deviance())


def fit_fixture(path: pathlib.Path):
    """Fit the model a fixture describes (cached per session): (fixture, model, messages, categories)."""
    key = str(path)
    if key not in _FIT_CACHE:
        fx = load_fixture(path)
        data = load_fixture_data(fx["input"]["data"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = _lmer_input(fx["input"], data)
        _FIT_CACHE[key] = (fx, m, [str(w.message) for w in caught], [w.category for w in caught])
    return _FIT_CACHE[key]


def fit_fixture_at_r_theta(path: pathlib.Path):
    """The fixture's model evaluated at R's theta, without optimising (lmerControl(optimizer = NULL))."""
    key = str(path) + "@R-theta"
    if key not in _FIT_CACHE:
        fx = load_fixture(path)
        data = load_fixture_data(fx["input"]["data"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FIT_CACHE[key] = _lmer_input(fx["input"], data, at_theta(fx["expected"]["theta"]))
    return _FIT_CACHE[key]


def fixture_model_to_compare(path: pathlib.Path):
    """(fixture, model) for everything downstream of theta: our fit, or -- when the optimisers parted --
    the fixture's model at R's theta (the rule above)."""
    fx, m, *_ = fit_fixture(path)
    return fx, model_at_r_theta(m, fx["expected"]["theta"], lambda control: fit_fixture_at_r_theta(path))


def fit_at_r_optimum(inp: dict, data, theta_r) -> object:
    """Fit ``inp`` (a fixture's "input": formula, REML, weights, offset) to ``data`` and apply the rule
    above: the fit itself, or (when its theta parted from ``theta_r``) the model at R's theta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _lmer_input(inp, data)
    return model_at_r_theta(m, theta_r, lambda control: _lmer_input(inp, data, control))


def json_fixture(kind: str, name: str) -> dict:
    """The fixture ``tests/fixtures/<kind>/<name>.json`` (cached per session)."""
    key = (kind, name)
    if key not in _JSON_CACHE:
        _JSON_CACHE[key] = load_fixture(FIXTURES / kind / f"{name}.json")
    return _JSON_CACHE[key]


def fixture_model_at_r_optimum(kind: str, name: str):
    """The lmer fit a ``<kind>/<name>.json`` fixture describes (its "input" on its data set, with the
    data set's name), by :func:`fit_at_r_optimum` at the fixture's R theta (cached per session)."""
    key = (kind, name)
    if key not in _MODEL_CACHE:
        from mixedcompat.datasets import read_csv_with_levels
        d = json_fixture(kind, name)
        data = read_csv_with_levels(FIXTURES / "data" / f"{d['input']['data']}.csv")
        data.attrs["name"] = d["input"]["data"]
        _MODEL_CACHE[key] = fit_at_r_optimum(d["input"], data, d["theta"])
    return _MODEL_CACHE[key]


_JSON_CACHE: dict = {}
_MODEL_CACHE: dict = {}


# ------------------------------------------------------------------------------------------------
# rounding noise: a value below NOISE_RTOL times its scale is zero (R prints 1.6e-15 where we print
# 0.0000000, or the other way round); both sides' noise compares equal, in numbers and in printed text

NOISE_RTOL = TOL["noise"]["rtol"]


def is_noise(value, scale) -> np.ndarray:
    """True where ``|value| <= NOISE_RTOL * scale``: zero up to rounding."""
    return np.abs(np.asarray(value, dtype=float)) <= NOISE_RTOL * np.abs(np.asarray(scale, dtype=float))


def assert_close(actual, expected, what: str, rtol: float = 0.0, atol: float = 0.0, scale=None) -> None:
    """``actual`` (ours) against ``expected`` (R's) within ``rtol`` / ``atol``; entries that are rounding
    noise on both sides (:func:`is_noise` against ``scale``, by default the largest finite |expected|)
    count as equal."""
    a = np.asarray(actual, dtype=float)
    e = np.asarray(expected, dtype=float)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != R's {e.shape}"
    if scale is None:
        finite = np.abs(e[np.isfinite(e)])
        scale = float(finite.max()) if finite.size else 0.0
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True) & ~(is_noise(a, scale) & is_noise(e, scale))
    if np.any(bad):
        i = int(np.flatnonzero(bad.ravel())[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} differ beyond rtol={rtol}, atol={atol}; "
                             f"first at flat index {i}: ours {a.ravel()[i]!r} vs R {e.ravel()[i]!r}")


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")


def _unit(token: str) -> float:
    """One unit in the last printed digit of a number as printed (``-1.708716e+00`` -> 1e-6)."""
    mant, _, exp = token.lower().partition("e")
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 10.0 ** (int(exp or 0) - decimals)


def _numbers(line: str) -> list[tuple[str, int]]:
    """The numbers of a printed line with their right edge (R right-aligns numeric columns)."""
    return [(mt.group(), mt.end()) for mt in _NUMBER.finditer(line)]


def _column_scales(lines: list[str]) -> dict[int, float]:
    scales: dict[int, float] = {}
    for line in lines:
        for tok, edge in _numbers(line):
            scales[edge] = max(scales.get(edge, 0.0), abs(float(tok)))
    return scales


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    out, start = [], 0
    for i, line in enumerate(lines + [""]):
        if not line.strip():
            if i > start:
                out.append((start, i))
            start = i + 1
    return out


def assert_same_printout(ours: str, theirs: str, what: str, *, rel: float = 0.0, ties: int = 0) -> None:
    """Our printed text against R's, line by line (trailing blanks and blank last lines ignored).

    Numbers may differ only in what the numbers, not the formatting, decide:

    - rounding noise: a number below NOISE_RTOL times its column's scale (the largest |number| with the
      same right edge in that paragraph, on either side) is zero, so ``0.0000000`` equals ``1.641913e-15``.
      R formats a column as a whole, so noise changes its layout: in a paragraph (lines between blank
      lines) holding such a pair, numbers are compared at the coarser of the two printed precisions
      and spacing is ignored;
    - ``rel``: numbers within ``rel`` times their column's scale are equal (for printouts whose
      numbers come from a model, not from R's own values); such a number printed to another number of
      digits (a trailing zero R drops) may change its column's layout;
    - ``ties``: this many numbers in the whole text may differ by one unit in their last printed digit
      (a value on a rounding tie, where the 16th digit decides).
    """
    a = [line.rstrip() for line in ours.rstrip("\n").split("\n")]
    b = [line.rstrip() for line in theirs.rstrip("\n").split("\n")]
    assert len(a) == len(b), (f"{what}: {len(a)} lines, R has {len(b)}\n ours: {ours!r}\n    R: {theirs!r}")
    ties_left = ties
    for lo, hi in _paragraphs(b):
        pa, pb = a[lo:hi], b[lo:hi]
        sa, sb = _column_scales(pa), _column_scales(pb)
        pairs = []          # (line index, ours token, R token, scale) for lines that differ
        relaid = []         # lines whose spacing differs
        for i, (x, y) in enumerate(zip(pa, pb)):
            if x == y:
                continue
            nx, ny = _numbers(x), _numbers(y)
            skeleton_x, skeleton_y = _NUMBER.sub("#", x), _NUMBER.sub("#", y)
            assert " ".join(skeleton_x.split()) == " ".join(skeleton_y.split()) and len(nx) == len(ny), \
                f"{what}: line {lo + i + 1} differs\n ours: {x!r}\n    R: {y!r}"
            if skeleton_x != skeleton_y:
                relaid.append(lo + i)
            for (u, eu), (v, ev) in zip(nx, ny):
                pairs.append((lo + i, u, v, max(sa.get(eu, 0.0), sb.get(ev, 0.0))))
        noisy = any(u != v and is_noise(float(u), s) and is_noise(float(v), s) for _, u, v, s in pairs)
        # a number within ``rel`` printed to another number of digits (R drops trailing zeros: 6.302709 vs
        # 6.30271): R lays the column out again, as with noise
        noisy = noisy or (rel > 0 and any(
            u != v and _unit(u) != _unit(v)
            and abs(float(u) - float(v)) <= rel * s + 0.5 * max(_unit(u), _unit(v)) * (1 + 1e-9)
            for _, u, v, s in pairs))
        for i in relaid:
            assert noisy, f"{what}: line {i + 1} differs in layout\n ours: {a[i]!r}\n    R: {b[i]!r}"
        for i, u, v, s in pairs:
            fu, fv = float(u), float(v)
            if u == v or (is_noise(fu, s) and is_noise(fv, s)):
                continue
            slack = rel * s
            if noisy:       # R chose another format for the column: compare at the coarser precision
                slack += 0.5 * max(_unit(u), _unit(v)) * (1 + 1e-9)
            if abs(fu - fv) <= slack:
                continue
            if ties_left > 0 and abs(fu - fv) <= 1.01 * max(_unit(u), _unit(v)):
                ties_left -= 1
                print(f"{what}: line {i + 1} differs in a last digit only (rounding tie): {a[i]!r} vs R {b[i]!r}")
                continue
            raise AssertionError(f"{what}: line {i + 1} differs in {u!r} vs R's {v!r}\n ours: {a[i]!r}\n"
                                 f"    R: {b[i]!r}")


def r_available() -> tuple[bool, str]:
    import shutil
    if shutil.which("R") is None:
        return False, "R is not installed"
    try:
        import rpy2.robjects  # noqa: F401
    except Exception as exc:  # rpy2 missing or does not load against this R
        return False, f"rpy2 is not usable: {exc}"
    return True, ""


def engine_data(seed: int, n_g: int = 40, per: int = 8) -> pd.DataFrame:
    """Simulated data for the engine's random-effects shapes (tests/test_engine_blocks.py, test_gradient.py):
    g with ``n_g`` levels of ``per`` rows, b nested in g (3 per g), h crossed (25 levels), k partially
    crossed with g (30 levels), covariates x, z, x3 and weights w."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_g), per)
    n = len(g)
    b = rng.integers(0, 3, n)
    h = rng.integers(0, 25, n)
    k = (g // 3 + rng.integers(0, 4, n)) % 30               # partially crossed with g
    x = rng.normal(size=n)
    z = rng.uniform(-1, 2, n)
    x3 = rng.normal(size=n)
    u = rng.normal(size=(n_g, 3))
    y = 1 + x + u[g, 0] + 0.5 * u[g, 1] * x + 0.3 * u[g, 2] * x3 + rng.normal(0, 0.7, 25)[h] \
        + rng.normal(0, 0.5, 30)[k] + rng.normal(0, 0.4, n_g * 3)[g * 3 + b] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "z": z, "x3": x3, "g": [f"g{v:03d}" for v in g],
                         "b": [f"b{v}" for v in b], "h": [f"h{v:02d}" for v in h],
                         "k": [f"k{v:02d}" for v in k], "w": rng.uniform(0.5, 2.0, n)})
