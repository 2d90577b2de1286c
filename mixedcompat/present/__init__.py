"""Presentation: R's number formats and the printed text of lme4, lmerTest and nlme; plots."""
