"""Generalized linear mixed models as lme4's ``glmer``: PIRLS, the Laplace and adaptive Gauss-Hermite
objectives, lme4's two optimisation stages and the ``glmerMod`` fit object."""
