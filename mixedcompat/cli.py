"""The command line: ``python -m mixedcompat fit FORMULA --data NAME|file.csv [--ml]`` and ``datasets``."""
from __future__ import annotations

import argparse
import os
import sys
import warnings

from . import datasets
from .errors import DataError, FormulaError


def _load_data(spec: str):
    if spec.lower().endswith(".csv") or os.path.sep in spec or os.path.exists(spec):
        if not os.path.exists(spec):
            raise DataError(f"data file {spec!r} does not exist")
        df = datasets.read_csv_with_levels(spec)
        df.attrs["name"] = os.path.splitext(os.path.basename(spec))[0]
        return df
    return datasets.load(spec)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mixedcompat",
                                     description="Linear mixed models with lme4's numbers.")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit an lmer model and print lme4's summary")
    fit.add_argument("formula", help='lme4 formula, e.g. "Reaction ~ Days + (Days | Subject)"')
    fit.add_argument("--data", required=True, help="a bundled data set name or a CSV file")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    sub.add_parser("datasets", help="list the bundled data sets")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code.

    Example
    -------
    >>> main(["datasets"])  # doctest: +SKIP
    """
    args = build_parser().parse_args(argv)
    if args.command == "datasets":
        for name in datasets.list_datasets():
            print(name)
        return 0
    from .lmer import lmer
    try:
        data = _load_data(args.data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = lmer(args.formula, data, REML=not args.ml)
    except (FormulaError, DataError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in caught:   # lme4 reports these as messages on stderr
        print(w.message, file=sys.stderr)
    print(model.summary())
    return 0
