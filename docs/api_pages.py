"""Write the API reference's index page from ``mixedcompat.__all__`` (called by conf.py at every build).

Every public name appears under one heading of :data:`GROUPS`; a name missing from the groups is listed
under "Other" (and ``tests/test_public_docstrings.py`` fails on it), so a new public function cannot be left out.
"""
from __future__ import annotations

from pathlib import Path

GROUPS: dict[str, list[str]] = {
    "Fitting": ["lmer", "glmer", "glmer_nb", "lme", "gls", "lmList", "family", "LmerMod", "GlmerMod", "MixedModel",
                "LogLik", "make_cc"],
    "lme4's modular steps and optimizers": ["lFormula", "glFormula", "mkLmerDevfun", "optimizeLmer", "mkMerMod",
                                            "allFit"],
    "Estimates and fit statistics": ["fixef", "ranef", "coef", "VarCorr", "vcov", "sigma", "logLik", "AIC", "BIC",
                                     "deviance", "REMLcrit", "nobs", "ngrps", "getME", "isSingular", "summary",
                                     "extractAIC", "isREML", "isLMM", "isGLMM", "isNLMM"],
    "Predictions, residuals, simulation": ["fitted", "residuals", "resid", "predict", "simulate", "refit", "update",
                                           "refitML", "model_frame", "model_matrix", "terms", "hatvalues",
                                           "cooks_distance", "influence", "dfbeta", "dfbetas"],
    "Tests and intervals": ["anova", "drop1", "ranova", "confint", "profile", "bootMer", "boot_ci", "PBmodcomp",
                            "PBrefdist", "KRmodcomp", "SATmodcomp", "getKR", "getSAT", "getLRT", "vcovAdj", "contest",
                            "show_tests"],
    "Model reduction and marginal means (lmerTest, emmeans)": ["step", "get_model", "ls_means", "difflsmeans",
                                                               "emmeans", "contrast", "pairs"],
    "Model selection": ["model_table", "cross_validate"],
    "nlme": ["intervals", "getVarCov", "ACF", "Variogram", "augPred", "lmeControl", "pdBlocked", "pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "pdLogChol",
             "corAR1", "corCAR1", "corARMA", "corCompSymm", "corSymm", "corExp", "corGaus", "corSpher", "corLin",
             "corRatio", "varIdent", "varPower", "varExp", "varConstPower", "varFixed", "varComb"],
    "statsmodels interoperation": ["to_statsmodels", "from_statsmodels"],
    "Errors and warnings": ["FormulaError", "DataError", "ConvergenceError", "ConvergenceWarning", "GradientWarning",
                            "HessianWarning", "ScaleWarning", "IdentifiabilityWarning", "VarparHessianWarning",
                            "KenwardRogerFallbackWarning", "MissingCellsWarning", "SingularFitWarning",
                            "RankDeficiencyWarning"],
    "Data sets": ["datasets"],
}


def ungrouped(names: list[str]) -> list[str]:
    """The public names no group lists (in ``__all__``'s order)."""
    listed = {n for group in GROUPS.values() for n in group}
    return [n for n in names if n not in listed]


def write_reference(out: Path, names: list[str]) -> None:
    """Write ``out`` (reST): one autosummary table per group, each name documented on its own page."""
    public = set(names)
    groups = {title: [n for n in members if n in public] for title, members in GROUPS.items()}
    rest = ungrouped(names)
    if rest:
        groups["Other"] = rest
    lines = ["API reference", "=============", "",
             "Every public name of ``mixedcompat`` (``import mixedcompat as mc``), with its R namesake.", "",
             ".. currentmodule:: mixedcompat", ""]
    for title, members in groups.items():
        if not members:
            continue
        lines += [title, "-" * len(title), "", ".. autosummary::", "   :toctree: generated", ""]
        lines += [f"   {n}" for n in members]
        lines.append("")
    text = "\n".join(lines)
    if not out.exists() or out.read_text() != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
