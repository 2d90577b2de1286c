"""nlme's linear models: ``lme`` and ``gls`` with correlation structures and variance functions.

Modules: ``model_setup`` (arguments -> sorted rows), ``likelihood`` (the criterion), ``estimate``
(optimiser, apVar), ``fit`` (the result object), ``nlme_inference`` (df, F / LRT tables,
intervals), ``nlme_printing`` (nlme's text), ``pdmat``, ``corstruct``, ``varfunc``, ``diagnostics``.
"""
from __future__ import annotations

from mixedcompat.nlme.lme import gls, lme
from mixedcompat.nlme.pdmat import pdCompSymm, pdDiag, pdIdent, pdLogChol, pdSymm

__all__ = ["lme", "gls", "pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "pdLogChol"]
