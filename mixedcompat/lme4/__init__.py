"""lme4's models: ``lmer`` (the PLS criterion, lme4's optimiser path, the ``LmerMod`` fit); ``glmer`` joins here."""
