"""Inference and model selection for lmer fits: lme4's / lmerTest's / pbkrtest's tables and intervals.

``anova(m)`` with one model gives lmerTest's F table (Satterthwaite or Kenward-Roger denominator
degrees of freedom); with several models, lme4's likelihood-ratio table.  ``anova`` is R's generic
(:func:`mixedcompat.generics.anova`), re-exported here.
"""
from __future__ import annotations

from mixedcompat.generics import anova

__all__ = ["anova"]
