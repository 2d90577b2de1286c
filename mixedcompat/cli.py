"""The command line: ``python -m mixedcompat fit FORMULA --data NAME|file.csv [--ml]`` and ``datasets``.

``fit`` prints lme4's summary to stdout and lme4's messages (singular fit, rank deficiency,
convergence) to stderr.  ``--json [FILE|-]`` writes every result of the fit as JSON (``-`` or no
argument: to stdout, replacing the summary); ``--predict newdata.csv`` writes predictions as CSV
(to stdout, replacing the summary, or to ``--out FILE``).  Exit code 2 with a message on stderr for
a bad formula, bad data, an unknown data set or a newdata file that lacks a column the model needs.

Examples
--------
``python -m mixedcompat fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy --json fit.json``
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd

import mixedcompat.datasets as datasets
from mixedcompat.errors import DataError, FormulaError
from mixedcompat.front.formula import parse_formula
from mixedcompat.front.rlang import Node, walk
from mixedcompat.glmer.fit import GlmerMod, glmer
from mixedcompat.lme4.fit import lmer

STDOUT = "-"
JSON_SCHEMA_VERSION = 1


class CliError(Exception):
    """A problem with the command's inputs: reported on stderr with exit code 2."""


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
    fit.add_argument("--family", default=None,
                     help="fit a GLMM with glmer and this family (R's name: binomial, poisson, Gamma, ...)")
    fit.add_argument("--nAGQ", dest="nAGQ", type=int, default=1, help="glmer's nAGQ (with --family)")
    fit.add_argument("--json", nargs="?", const=STDOUT, default=None, metavar="FILE",
                     help="write all results as JSON to FILE ('-' or no FILE: stdout, instead of the summary)")
    fit.add_argument("--predict", metavar="NEWDATA_CSV",
                     help="write predictions for the rows of this CSV file (as lme4's predict)")
    fit.add_argument("--re-form", dest="re_form", default=None,
                     help="random effects to condition on: '~0' or 'NA' for none, or a formula of terms "
                          "(default: all, as lme4's re.form = NULL)")
    fit.add_argument("--allow-new-levels", dest="allow_new_levels", action="store_true",
                     help="predict new grouping levels at the population value (lme4's allow.new.levels)")
    fit.add_argument("--out", metavar="FILE", help="write the predictions CSV to FILE instead of stdout")
    sub.add_parser("datasets", help="list the bundled data sets")
    return parser


# ---------------------------------------------------------------------------- JSON
def json_value(x: Any) -> Any:
    """Plain JSON: floats for numbers, ``None`` (``null``) for NaN and infinities, lists for arrays.

    Examples
    --------
    >>> json_value({"a": np.float64(1.5), "b": [np.nan, np.int64(2)], "c": np.array([[1, 2]])})
    {'a': 1.5, 'b': [None, 2], 'c': [[1, 2]]}
    """
    if isinstance(x, dict):
        return {str(k): json_value(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_value(v) for v in x]
    if isinstance(x, np.ndarray):
        return [json_value(v) for v in x.tolist()]
    if isinstance(x, pd.Series):
        return json_value(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None
    if x is None or isinstance(x, str):
        return x
    if x is pd.NA or x is pd.NaT:
        return None
    return str(x)


def _ranef_json(model) -> tuple[dict, str | None]:
    """Conditional modes per grouping factor with lme4's conditional variances (``condVar = TRUE``)."""
    note = None
    try:
        re = model.ranef(condVar=True)
    except (ImportError, NotImplementedError) as exc:
        re = model.ranef()
        note = f"conditional variances (postVar) are not available in this version: {exc}"
    out = {}
    for group, df in re.items():
        post = df.attrs.get("postVar") if hasattr(df, "attrs") else None
        out[group] = {"levels": [str(i) for i in df.index], "columns": [str(c) for c in df.columns],
                      "values": df.to_numpy(dtype=float),
                      "postVar": None if post is None else np.asarray(post, dtype=float)}
    if note is None and any(v["postVar"] is None for v in out.values()):
        note = "conditional variances (postVar) were not returned for every grouping factor"
    return out, note


def _varcorr_rows(model) -> list[dict]:
    frame = model.VarCorr().to_frame()
    rows = []
    for rec in frame.to_dict(orient="records"):
        rows.append({k: (None if (isinstance(v, float) and not math.isfinite(v)) or v is None
                         or (not isinstance(v, str) and pd.isna(v)) else v) for k, v in rec.items()})
    return rows


def fit_results(model, formula: str, data_name: str, messages: list[str]) -> dict:
    """Everything ``fit --json`` writes: lme4's results under R's names.

    Examples
    --------
    >>> f = "Reaction ~ Days + (Days | Subject)"
    >>> fit_results(mc.lmer(f, mc.datasets.load("sleepstudy")), f, "sleepstudy", [])["fixef"]["names"]
    ['(Intercept)', 'Days']
    """
    fe = model.fixef()
    vc = model.vcov()
    theta = model.getME("theta")
    ll = model.logLik()
    ranef, ranef_note = _ranef_json(model)
    glmm = isinstance(model, GlmerMod)
    crit_name = "-2logLik" if glmm else ("REMLcrit" if model.REML else "deviance")
    crit = -2.0 * float(ll) if glmm else model.REMLcrit()
    info = dict(model.optinfo)
    result = {
        "schema": JSON_SCHEMA_VERSION,
        "formula": formula,
        "data": data_name,
        "REML": bool(model.REML),
        "fixef": {"names": list(fe.index), "values": fe.to_numpy(dtype=float)},
        "se": np.sqrt(np.diag(vc.to_numpy(dtype=float))),
        "vcov": {"names": list(vc.index), "values": vc.to_numpy(dtype=float)},
        "theta": {"names": list(theta.index), "values": theta.to_numpy(dtype=float)},
        "lower": model.getME("lower"),
        "sigma": model.sigma(),
        "VarCorr": _varcorr_rows(model),
        "ranef": ranef,
        "logLik": float(ll),
        "df": ll.df,
        "AIC": model.AIC(),
        "BIC": model.BIC(),
        "criterion": {"name": crit_name, "value": crit},
        "REMLcrit": crit if model.REML else None,
        "deviance": model.deviance() if glmm else (None if model.REML else crit),
        "nobs": int(model.nobs()),
        "df_residual": int(model.nobs()) - int(ll.df),
        "ngrps": model.ngrps(),
        "isSingular": model.isSingular(),
        "optimizer": {"name": info.get("optimizer"), "conv_code": info.get("conv_code"),
                      "feval": info.get("feval"), "message": info.get("message"),
                      "messages": list(info.get("messages") or []),
                      "warnings": list(info.get("warnings") or [])},
        "messages": list(messages),
    }
    if ranef_note is not None:
        result["note"] = ranef_note
    return json_value(result)


def _write_text(text: str, target: str) -> None:
    if target == STDOUT:
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")
    else:
        with open(target, "w") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")


# ---------------------------------------------------------------------------- predictions
def _names_in(node: Node, columns) -> list[str]:
    """The symbols of ``node`` that are data columns, in order of first appearance."""
    out = []
    for n in walk(node):
        if n.kind == "sym" and n.value in columns and n.value not in out:
            out.append(n.value)
    return out


def required_columns(model, re_form: str | None) -> list[str]:
    """Data columns ``predict(newdata, re_form)`` reads: the fixed part's and those of the kept terms.

    Examples
    --------
    >>> m = mc.lmer("Reaction ~ Days + (Days | Subject)", mc.datasets.load("sleepstudy"))
    >>> required_columns(m, "~0")
    ['Days']
    """
    data = (getattr(model, "call", None) or {}).get("data")
    if not isinstance(data, pd.DataFrame):
        data = getattr(model.frame, "data", None)
    columns = list(data.columns) if isinstance(data, pd.DataFrame) else []
    parts = model.parts
    needed = _names_in(parts.fixed, columns)
    if model.frame.offset is not None and isinstance(getattr(model, "offset_name", None), str) \
            and model.offset_name in columns:
        needed.append(model.offset_name)
    if re_form is None:
        kept = list(parts.re_terms)
    elif re_form.strip() in ("~0", "~ 0", "NA", "~-1", "~ -1"):
        kept = []
    else:
        kept = list(parse_formula(re_form if re_form.strip().startswith("~") else "~ " + re_form,
                                  one_sided=True).re_terms)
    for t in kept:
        for name in _names_in(t.expr, columns) + _names_in(t.group, columns):
            if name not in needed:
                needed.append(name)
    return needed


def _predictions(model, args) -> pd.DataFrame:
    if not os.path.exists(args.predict):
        raise DataError(f"newdata file {args.predict!r} does not exist")
    newdata = datasets.read_csv_with_levels(args.predict)
    missing = [c for c in required_columns(model, args.re_form) if c not in newdata.columns]
    if missing:
        raise DataError(f"newdata file {args.predict!r} has no column {missing[0]!r} "
                        f"(the model needs: {', '.join(missing)})")
    try:
        pred = model.predict(newdata, re_form=args.re_form, allow_new_levels=args.allow_new_levels)
    except ImportError as exc:
        raise CliError(f"prediction is not available in this version: {exc}") from exc
    out = newdata.copy()
    name = "fit"
    while name in out.columns:
        name = name + "_"
    out[name] = np.asarray(pred, dtype=float)
    return out


# ---------------------------------------------------------------------------- main
def _fit_command(args) -> int:
    json_target = args.json
    pred_target = (args.out or STDOUT) if args.predict else None
    if json_target == STDOUT and pred_target == STDOUT:
        raise CliError("--json - and --predict without --out both write to stdout: give --out FILE "
                       "or --json FILE")
    if args.out and not args.predict:
        raise CliError("--out is the file for --predict's CSV; give --predict newdata.csv")
    if (args.re_form is not None or args.allow_new_levels) and not args.predict:
        raise CliError("--re-form and --allow-new-levels apply to --predict newdata.csv")
    data = _load_data(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.family is not None:
            model = glmer(args.formula, data, family=args.family, nAGQ=args.nAGQ)
        else:
            model = lmer(args.formula, data, REML=not args.ml)
    messages = [str(w.message) for w in caught]
    for msg in messages:   # lme4 reports these as messages on stderr
        print(msg, file=sys.stderr)
    predictions = _predictions(model, args) if args.predict else None
    if json_target is not None:
        results = fit_results(model, args.formula, data.attrs.get("name", args.data), messages)
        _write_text(json.dumps(results, indent=1, allow_nan=False), json_target)
    if predictions is not None:
        if pred_target == STDOUT:
            predictions.to_csv(sys.stdout, index=False)
        else:
            predictions.to_csv(pred_target, index=False)
    if json_target != STDOUT and pred_target != STDOUT:
        print(model.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code.

    Examples
    --------
    >>> main(["datasets"])  # doctest: +SKIP
    """
    args = build_parser().parse_args(argv)
    if args.command == "datasets":
        for name in datasets.list_datasets():
            print(name)
        return 0
    try:
        return _fit_command(args)
    except (FormulaError, DataError, KeyError, CliError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except OSError as exc:   # an output file that cannot be written
        print(f"error: {exc}", file=sys.stderr)
        return 2
