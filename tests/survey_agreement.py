"""Survey: fit N random lmer designs here and in live lme4 and print the agreement rate by class.

Not a test (pytest does not collect it).  Run from the repository root, niced on a shared machine::

    nice -n 10 .venv/bin/python tests/survey_agreement.py --n 300 --jsonl /tmp/survey.jsonl

Design number ``s`` is ``random_designs.draw_design(s)``: each failure printed below reproduces with
``cd tests && python -c "import random_designs as rd; print(rd.compare(rd.draw_design(s)).report())"``.
The classes (tests/random_designs.py): a = our criterion above lme4's (beyond 1e-8 relative),
b = a table differs at R's theta, c = error mismatch, e = crash in our code; d = warning-class
mismatch, counted separately.
"""
from __future__ import annotations

import argparse
import collections
import json
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import random_designs as rd  # noqa: E402

CLASS_NAMES = {"a": "ours above lme4's criterion", "b": "table differs at R's theta",
               "c": "error mismatch", "d": "warning-class mismatch", "e": "crash in our code"}


def _rate(outcomes, pred) -> str:
    k = sum(1 for o in outcomes if pred(o))
    n = len(outcomes)
    return f"{k}/{n} = {100.0 * k / n:.1f}%" if n else "0/0"


def _record(o: rd.Outcome) -> dict:
    return {"seed": o.design.seed, "design": repr(o.design), "formula": o.formula, "classes": sorted(o.classes),
            "details": o.details, "r_error": o.r_error, "our_error": o.our_error,
            "r_warnings": o.r_warnings, "our_warnings": [m for _, m in o.our_warnings],
            "r_warning_classes": sorted(o.r_warning_classes),
            "our_warning_classes": sorted(o.our_warning_classes),
            "criterion_r": o.criterion_r, "criterion_ours": o.criterion_ours, "gap": o.gap,
            "theta_r": o.theta_r, "theta_ours": o.theta_ours, "parted": o.parted,
            "undetermined": o.undetermined, "time_r": o.time_r, "time_ours": o.time_ours}


def _parted(rec: dict) -> bool:
    a, b = rec.get("theta_ours"), rec.get("theta_r")
    return a is not None and b is not None and len(a) == len(b) and rd.theta_parted(a, b)


def _outcome(rec: dict) -> rd.Outcome:
    """An Outcome rebuilt from one JSON record (for --from-jsonl)."""
    design = eval(rec["design"], {"Design": rd.Design})   # our own repr of a frozen dataclass
    o = rd.Outcome(design=design, formula=rec["formula"], classes=list(rec["classes"]),
                   details=[tuple(d) for d in rec["details"]], r_error=rec["r_error"],
                   our_error=rec["our_error"], r_warnings=rec["r_warnings"],
                   our_warnings=[("", m) for m in rec["our_warnings"]],
                   r_warning_classes=set(rec["r_warning_classes"]),
                   our_warning_classes=set(rec["our_warning_classes"]),
                   criterion_r=rec["criterion_r"], criterion_ours=rec["criterion_ours"],
                   theta_r=rec["theta_r"], theta_ours=rec["theta_ours"], parted=rec.get("parted", _parted(rec)),
                   undetermined=rec.get("undetermined", False),
                   time_r=rec["time_r"], time_ours=rec["time_ours"])
    # the warning classes from the messages, by the current classifier
    o.r_warning_classes = {rd.warning_class(w) for w in o.r_warnings} & set(rd.WARNING_CLASSES)
    o.our_warning_classes = {rd.warning_class(w) for _, w in o.our_warnings} & set(rd.WARNING_CLASSES)
    o.classes = [c for c in o.classes if c != "d"]
    o.details = [(c, t) for c, t in o.details if c != "d"]
    if o.r_warning_classes != o.our_warning_classes and not (o.r_error is None and o.our_error):
        o.add("d", f"lme4 warns {sorted(o.r_warning_classes - o.our_warning_classes)} where we do not; we warn "
                   f"{sorted(o.our_warning_classes - o.r_warning_classes)} where lme4 does not "
                   f"({'at another optimum' if o.parted else 'at the same optimum'})")
    return o


def summarize(outcomes: list[rd.Outcome]) -> str:
    """The survey's tables: agreement overall, by disagreement class, by design feature."""
    lines = []
    fitted = [o for o in outcomes if o.r_error is None]
    no_scale = [o for o in outcomes if not o.r_scale_warning]
    lines.append(f"designs: {len(outcomes)} (lme4 fits {len(fitted)}, lme4 stops {len(outcomes) - len(fitted)})")
    lines.append(f"agreement (a, b, c, e absent):         {_rate(outcomes, lambda o: o.agrees)}")
    lines.append(f"  without lme4's scale warning:        {_rate(no_scale, lambda o: o.agrees)}")
    lines.append(f"  where lme4 fits:                     {_rate(fitted, lambda o: o.agrees)}")
    lines.append(f"  tables not determined at R's theta counted as rounding: "
                 f"{_rate(outcomes, lambda o: o.agrees_where_determined)}")
    lines.append(f"warning-class agreement (d absent):    {_rate(outcomes, lambda o: o.warnings_agree)}")
    lines.append(f"  without lme4's scale warning:        {_rate(no_scale, lambda o: o.warnings_agree)}")
    same = [o for o in outcomes if not o.parted]
    lines.append(f"  where theta is R's (same optimum):   {_rate(same, lambda o: o.warnings_agree)}")
    lines.append(f"  same optimum, no scale warning:      "
                 f"{_rate([o for o in same if not o.r_scale_warning], lambda o: o.warnings_agree)}")
    lines.append(f"everything incl. warnings:             {_rate(outcomes, lambda o: not o.classes)}")
    lines.append(f"lme4 gives its scale warning in        {_rate(outcomes, lambda o: o.r_scale_warning)}")
    lines.append(f"ours below lme4's criterion (> {rd.BETTER_RTOL:g} rel.): {_rate(outcomes, lambda o: o.better)}")
    lines.append("")
    lines.append("by disagreement class (a design can be in several):")
    for c, name in CLASS_NAMES.items():
        lines.append(f"  {c} {name:32s} {_rate(outcomes, lambda o, c=c: c in o.classes)}")
    b_tables = collections.Counter(text.split(":")[0] for o in outcomes for cls, text in o.details if cls == "b")
    if b_tables:
        lines.append("  b by table: " + ", ".join(f"{t} {k}" for t, k in b_tables.most_common()))
    d_kinds = collections.Counter()
    for o in (o for o in outcomes if "d" in o.classes):
        for w in sorted(o.r_warning_classes - o.our_warning_classes):
            d_kinds[f"lme4 only: {w}"] += 1
        for w in sorted(o.our_warning_classes - o.r_warning_classes):
            d_kinds[f"ours only: {w}"] += 1
    if d_kinds:
        lines.append("  d by warning: " + ", ".join(f"{t} {k}" for t, k in d_kinds.most_common()))
    lines.append("")
    features = {
        "structure": lambda d: d.structure,
        "RE kind": lambda d: "+".join(sorted(set(d.kinds))),
        "x form": lambda d: d.x_form,
        "f form": lambda d: d.f_form or "-",
        "offset": lambda d: d.offset,
        "weights": lambda d: d.weights,
        "NA columns": lambda d: ",".join(d.na_cols) or "-",
        "y scale": lambda d: f"{d.y_scale:g}",
        "x scale": lambda d: f"{d.x_scale:g}",
        "RE sd": lambda d: f"{d.re_sd[0]:g}/{d.re_sd[1]:g}",
        "rows": lambda d: str(d.n_rows),
        "method": lambda d: "REML" if d.REML else "ML",
    }
    for fname, key in features.items():
        groups = collections.defaultdict(list)
        for o in outcomes:
            groups[key(o.design)].append(o)
        cells = [f"{k}: {sum(o.agrees for o in v)}/{len(v)}" for k, v in sorted(groups.items())]
        lines.append(f"agreement by {fname}: " + "; ".join(cells))
    return "\n".join(lines)


def _package_at(rev: str) -> str:
    """A directory holding the ``mixedcompat`` package as committed at ``rev`` (git archive)."""
    root = pathlib.Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=root, check=True, capture_output=True,
                            text=True).stdout.strip()
    dest = pathlib.Path(tempfile.gettempdir()) / f"mixedcompat-at-{commit}"
    if not (dest / "mixedcompat").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit, "mixedcompat"], cwd=root, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    print(f"package as committed at {commit}", flush=True)
    return str(dest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="number of designs")
    ap.add_argument("--first", type=int, default=0, help="first design seed")
    ap.add_argument("--max-rows", type=int, default=None, help="largest design (rows)")
    ap.add_argument("--time-limit", type=int, default=300, help="seconds allowed for one of our fits")
    ap.add_argument("--jsonl", type=str, default=None, help="write one JSON record per design here")
    ap.add_argument("--package-at", type=str, default=None,
                    help="survey the package as committed at this git revision (extracted to a temporary "
                         "directory), not the working tree that other work may be changing")
    ap.add_argument("--from-jsonl", nargs="+", default=None,
                    help="no fitting: summarize the records of earlier runs (several files are merged)")
    ap.add_argument("--show-warnings", action="store_true", help="also print designs that differ only in warnings")
    args = ap.parse_args(argv)

    if args.from_jsonl:
        outcomes = [_outcome(json.loads(line)) for path in args.from_jsonl for line in open(path)]
        _print_results(outcomes, args.show_warnings, f"{len(outcomes)} designs from {' '.join(args.from_jsonl)}")
        return 0
    if args.package_at:
        sys.path.insert(0, _package_at(args.package_at))
    import mixedcompat
    print(f"mixedcompat from {mixedcompat.__file__}", flush=True)
    outcomes = []
    sink = open(args.jsonl, "w") if args.jsonl else None
    t_start = time.perf_counter()
    for seed in range(args.first, args.first + args.n):
        design = rd.draw_design(seed, max_rows=args.max_rows)
        o = rd.compare(design, time_limit=args.time_limit)
        outcomes.append(o)
        if sink:
            sink.write(json.dumps(_record(o), default=str) + "\n")
            sink.flush()
        print(f"[{seed}] {','.join(sorted(o.classes)) or 'ok'} n={design.n_rows} R {o.time_r:.1f}s "
              f"ours {o.time_ours:.1f}s  {o.formula}", flush=True)
    if sink:
        sink.close()
    _print_results(outcomes, args.show_warnings,
                   f"{len(outcomes)} designs ({time.perf_counter() - t_start:.0f} s)")
    return 0


def _print_results(outcomes: list[rd.Outcome], show_warnings: bool, title: str) -> None:
    print(f"\n==== survey of {title} ====")
    print(summarize(outcomes))
    print("\n==== disagreements (a, b, c, e) ====")
    for o in outcomes:
        if not o.agrees:
            print(o.report())
            print()
    if show_warnings:
        print("\n==== warning-only disagreements (d) ====")
        for o in outcomes:
            if o.agrees and not o.warnings_agree:
                print(o.report())
                print()


if __name__ == "__main__":
    sys.exit(main())
