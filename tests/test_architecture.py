"""The house rules that can be checked mechanically: what ``import mixedcompat`` pulls in, and the import graph."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("optional", ["statsmodels", "patsy", "matplotlib", "rpy2", "polars", "dask", "distributed"])
def test_import_does_not_load_optional_dependencies(optional):
    code = ("import sys, mixedcompat as mc\n"
            "m = mc.lmer('Reaction ~ Days + (Days | Subject)', mc.datasets.load('sleepstudy'))\n"
            "str(mc.summary(m))\n"
            f"print({optional!r} in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False", f"import mixedcompat + an lmer fit loaded {optional}"


# ------------------------------------------------------------------ the import graph (tools/archcheck.py)
def _archcheck():
    import importlib.util
    if "archcheck" in sys.modules:
        return sys.modules["archcheck"]
    spec = importlib.util.spec_from_file_location("archcheck", ROOT / "tools" / "archcheck.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["archcheck"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_the_one_import_cycle_is_the_fit_objects_delegating_block():
    ac = _archcheck()
    graph = ac.collect()
    assert len(ac.cycles(graph)) <= 1, ac.cycles(graph)
    assert ac.cycles(ac.without_delegating_blocks(graph)) == [], "a cycle outside the marked delegating blocks"


def test_no_private_name_is_imported_from_another_module():
    ac = _archcheck()
    found = [f"{f.source}:{f.lineno} <- {f.target}: {', '.join(f.names)}" for f in ac.private_imports(ac.collect())]
    assert found == [], "make the helper public in its home module instead"


def test_function_local_imports_only_in_the_delegating_blocks():
    ac = _archcheck()
    outside = ac.local_imports_outside_blocks(ac.collect())
    assert [f"{f.source}:{f.lineno} <- {f.target}" for f in outside] == []


def test_archcheck_sees_a_planted_cycle_and_private_import(tmp_path):
    ac = _archcheck()
    pkg = tmp_path / "mixedcompat"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from mixedcompat.b import _hidden\n")
    (pkg / "b.py").write_text("def f():\n    from mixedcompat.a import g\n")
    graph = ac.collect(tmp_path)
    assert ac.cycles(graph) == [["mixedcompat.a", "mixedcompat.b"]]
    assert [f.names for f in ac.private_imports(graph)] == [("_hidden",)]
    assert len(ac.local_imports(graph)) == 1


@pytest.mark.parametrize("definition, home", [
    ("def format_pval(", "mixedcompat/present/rformat.py"),
    ("def signif_stars(", "mixedcompat/present/rformat.py"),
    ("def profiled_criterion(", "mixedcompat/lme4/criterion.py"),
    ("def bobyqa(", "mixedcompat/numerics/optimizers.py"),
    ("nlopt.opt(", "mixedcompat/numerics/optimizers.py"),
    ("class ThetaLayout", "mixedcompat/front/reterms.py"),
])
def test_one_home_per_concept(definition, home):
    homes = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mixedcompat").rglob("*.py")
                   if definition in p.read_text())
    assert homes == [home]


def test_statsmodels_interop_without_the_extra_names_it(monkeypatch):
    """Without statsmodels installed, the interop says which extra installs it (no bare ModuleNotFoundError)."""
    import mixedcompat as mc
    monkeypatch.setitem(sys.modules, "statsmodels.regression.mixed_linear_model", None)
    with pytest.raises(ImportError, match=r"mixedcompat\[statsmodels\]"):
        mc.to_statsmodels("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
