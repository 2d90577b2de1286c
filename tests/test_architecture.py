"""The house rules that can be checked mechanically: what ``import mixedcompat`` pulls in, and the import graph."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("optional", ["statsmodels", "patsy", "matplotlib", "rpy2", "polars"])
def test_import_does_not_load_optional_dependencies(optional):
    code = ("import sys, mixedcompat as mc\n"
            "m = mc.lmer('Reaction ~ Days + (Days | Subject)', mc.datasets.load('sleepstudy'))\n"
            "str(mc.summary(m))\n"
            f"print({optional!r} in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False", f"import mixedcompat + an lmer fit loaded {optional}"
