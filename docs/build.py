"""Build the documentation site: ``python docs/build.py`` (needs the ``docs`` extra).

Runs Sphinx with warnings as errors; every tutorial notebook is executed during the build.  The site is
written to ``docs/_build/html`` (``--out`` to change it).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "_build" / "html"), help="output directory")
    parser.add_argument("--builder", default="html")
    args = parser.parse_args(argv)
    # The tutorials run in a Jupyter kernel, where bootMer / profile / allFit draw tqdm progress bars: a static page
    # has no use for them (tqdm reads TQDM_DISABLE; the kernels inherit this environment).
    os.environ.setdefault("TQDM_DISABLE", "1")
    from sphinx.cmd.build import build_main
    return build_main(["-W", "--keep-going", "-b", args.builder, "-j", "1", str(HERE), args.out])


if __name__ == "__main__":
    sys.exit(main())
