"""The constructors users call for nlme fits: correlation structures and variance functions, in one namespace."""
from __future__ import annotations

from mixedcompat.nlme.corstruct import (corAR1, corARMA, corCAR1, corCompSymm, corExp, corGaus, corLin, corRatio, corSpher,
                        corSymm)
from mixedcompat.nlme.varfunc import varComb, varConstPower, varExp, varFixed, varIdent, varPower

__all__ = ["corAR1", "corCAR1", "corARMA", "corCompSymm", "corSymm", "corExp", "corGaus", "corSpher", "corLin",
           "corRatio", "varIdent", "varPower", "varExp", "varConstPower", "varFixed", "varComb"]
