"""Sphinx configuration of mixedcompat's documentation (built by ``python docs/build.py``).

The API reference is generated from the docstrings (autosummary + numpydoc); the tutorials are MyST
notebooks executed at every build (myst-nb), so their tables, summaries and figures are the package's
output of the day.  Warnings are errors (build.py passes ``-W``).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mixedcompat  # noqa: E402

project = "mixedcompat"
author = "the mixedcompat developers"
copyright = "2026, the mixedcompat developers"  # noqa: A001
release = mixedcompat.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
root_doc = "index"

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set = set()
numpydoc_xref_param_type = False

nb_execution_mode = "force"          # every tutorial cell runs at every build
nb_execution_raise_on_error = True   # a cell that raises fails the build
nb_execution_timeout = 1800
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "dollarmath"]

html_theme = "pydata_sphinx_theme"
html_title = "mixedcompat"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_pages import write_reference  # noqa: E402

write_reference(Path(__file__).resolve().parent / "reference" / "index.rst", list(mixedcompat.__all__))
