"""nlme's linear models: ``lme`` and ``gls`` with correlation structures and variance functions.

Modules: ``lme`` (the front doors ``lme`` / ``gls``), ``model_setup`` (arguments -> sorted rows),
``likelihood`` (the criterion), ``estimate`` (optimiser, apVar), ``fit`` (the result object),
``nlme_inference`` (df, F / LRT tables, intervals), ``pdmat``, ``corstruct`` / ``cor_bound``,
``varfunc`` / ``var_bound``, ``structures``, ``diagnostics`` / ``fit_diagnostics``.  nlme's printed
text lives in :mod:`mixedcompat.present.nlme_printing`.
"""
from __future__ import annotations

from mixedcompat.nlme.lme import gls, lme
from mixedcompat.nlme.pdmat import pdBlocked, pdCompSymm, pdDiag, pdIdent, pdLogChol, pdSymm

__all__ = ["lme", "gls", "pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "pdLogChol", "pdBlocked"]
