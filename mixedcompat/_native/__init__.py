"""Compiled kernels (plain C, loaded with ctypes; built by ``setup.py`` when a C compiler exists).

``glmm_pirls.c``: glmer's PIRLS and Laplace objective for models whose random-effects terms are all
scalar (:mod:`mixedcompat.glmer.compiled` loads it; :mod:`mixedcompat.glmer.pirls` is the reference).
"""
