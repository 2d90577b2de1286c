"""Inference and model selection for lmer fits: lme4's / lmerTest's / pbkrtest's tables and intervals.

``anova(m)`` with one model gives lmerTest's F table (Satterthwaite or Kenward-Roger denominator
degrees of freedom); with several models, lme4's likelihood-ratio table.
"""
from __future__ import annotations

from typing import Any


def anova(*models: Any, type: int | str | None = None, ddf: str = "Satterthwaite", refit: bool = True,  # noqa: A002
          **named_models: Any):
    """R's ``anova``: one model -> F tests of the fixed effects (lmerTest); several -> LRT (lme4).

    Example
    -------
    >>> # mc.anova(m0, m1)            # likelihood-ratio table, REML fits refitted with ML
    >>> # mc.anova(m, ddf="Kenward-Roger")
    """
    n_models = len(models) + sum(k != "model_names" for k in named_models)
    if n_models == 0:
        raise TypeError("anova() needs at least one fitted model")
    from mixedcompat.nlme.fit import NlmeFit
    if any(isinstance(m, NlmeFit) for m in list(models) + list(named_models.values())):
        from mixedcompat.nlme.nlme_inference import anova_nlme
        return anova_nlme(*models, type=type, **named_models)
    if n_models == 1 and not named_models:
        from mixedcompat.inference.ftests import anova_table
        return anova_table(models[0], type=3 if type is None else type, ddf=ddf)
    from mixedcompat.inference.lrt import anova_lrt
    return anova_lrt(*models, refit=refit, **named_models)
