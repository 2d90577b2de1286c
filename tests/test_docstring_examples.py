"""Every docstring example in the package runs (doctest, ELLIPSIS and NORMALIZE_WHITESPACE), so the
examples cannot rot: one test per module that has examples.  Plotting examples are skipped when
matplotlib is missing."""
from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import warnings

import numpy
import pytest

import mixedcompat

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
# modules whose examples draw (need matplotlib); their names say so
PLOTTING = ("plot",)


def _module_names() -> list[str]:
    names = [mixedcompat.__name__]
    for info in pkgutil.walk_packages(mixedcompat.__path__, prefix=mixedcompat.__name__ + "."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        if info.name.startswith(mixedcompat.__name__ + "._native."):
            continue             # compiled C loaded with ctypes, not a Python module
        names.append(info.name)
    return sorted(names)


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    # the module's globals plus the two names every example may use unimported
    tests = [t for t in finder.find(module, name, extraglobs={"np": numpy, "mc": mixedcompat})
             if t.examples and _defined_here(t, module)]
    return sorted(tests, key=lambda t: t.name)


def _defined_here(test: doctest.DocTest, module) -> bool:
    """Examples of the module's own objects only (not of names it re-exports)."""
    return test.filename == getattr(module, "__file__", None)


MODULES = [name for name in _module_names() if _examples(name)]


def test_some_modules_have_examples():
    assert len(MODULES) >= 10, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    if not HAS_MATPLOTLIB and any(p in name.rsplit(".", 1)[-1] for p in PLOTTING):
        pytest.skip("matplotlib is not installed (plotting examples)")
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    failures = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for test in _examples(name):
            if not HAS_MATPLOTLIB and any("plot" in ex.source for ex in test.examples):
                continue
            out: list[str] = []
            result = runner.run(test, out=out.append, clear_globs=True)
            if result.failed:
                failures.append("".join(out))
    assert not failures, "\n".join(failures)
