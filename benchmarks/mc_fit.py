"""Time one mixedcompat.lmer fit in a fresh process and print the result as one line of JSON.

With ``--family``, times ``mc.glmer(formula, df, family=..., nAGQ=...)`` with the default control (lme4_fit.R
fits ``glmer`` likewise) and reports ``-2 logLik``.

The Python counterpart of ``lme4_fit.R``: reads the CSV with its JSON sidecar
(``mixedcompat.datasets.read_csv_with_levels``; not timed), then times ``mc.lmer(formula, df,
REML=..., control={"calc_derivs": False})`` (like with like: lme4_fit.R sets ``calc.derivs = FALSE``) by wall clock from the formula string to the fitted object, ``--warmup`` discarded
fits first, then ``--reps`` timed fits (``gc.collect()`` before each). Imports happen before the
timer (as ``library(lme4)`` does in R); anything compiled or cached on the first fit is inside
the first fit's time.

Peak memory is VmHWM from ``/proc/self/status`` after the fits, reset via ``/proc/self/clear_refs``
after the data is loaded (falls back to ``ru_maxrss`` of the whole process when the reset fails).

Example
-------
``python benchmarks/mc_fit.py --csv mixedcompat/datasets/sleepstudy.csv
--formula "Reaction ~ Days + (Days | Subject)" --reml 1 --reps 20 --warmup 1``
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import resource
import statistics
import sys
import time
from pathlib import Path


def vm_kb(field: str) -> float | None:
    """A ``Vm*`` field of ``/proc/self/status`` in kB (None when unavailable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; True when it worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def source_digest(package_dir: Path) -> str:
    """sha256 (first 12 hex digits) of the package's .py files: which code was timed, when it changes under us."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(str(path.relative_to(package_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--formula", required=True)
    parser.add_argument("--reml", required=True, choices=["0", "1", "TRUE", "FALSE"])
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--optimizer", default="nloptwrap", choices=["nloptwrap", "gradient"],
                        help="lme4's BOBYQA path (default) or mixedcompat's gradient optimiser")
    parser.add_argument("--family", default=None, help="fit glmer with this family (default control)")
    parser.add_argument("--nagq", type=int, default=1)
    args = parser.parse_args()
    reml = args.reml in ("1", "TRUE")

    repo_root = str(Path(__file__).resolve().parents[1])
    if repo_root not in sys.path:  # run from a checkout: use this working tree's mixedcompat
        sys.path.insert(0, repo_root)
    t0 = time.perf_counter()
    import mixedcompat as mc
    import_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    df = mc.datasets.read_csv_with_levels(args.csv)
    read_s = time.perf_counter() - t0

    gc.collect()
    rss_before_kb = vm_kb("VmRSS")
    peak_reset = reset_peak()

    times: list[float] = []
    model = None
    for k in range(args.warmup + args.reps):
        model = None
        gc.collect()
        t0 = time.perf_counter()
        if args.family is not None:                                                      # as lme4_fit.R
            model = mc.glmer(args.formula, df, family=args.family, nAGQ=args.nagq)
        else:
            model = mc.lmer(args.formula, df, REML=reml,                                   # as lme4_fit.R
                            control={"calc_derivs": False, "optimizer": args.optimizer})
        elapsed = time.perf_counter() - t0
        if k >= args.warmup:
            times.append(elapsed)

    peak_kb = vm_kb("VmHWM") if peak_reset else None
    if peak_kb is None:
        peak_kb = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # kB on Linux
    if args.family is not None:
        criterion = -2.0 * float(model.logLik())
    else:
        criterion = model.REMLcrit() if reml else model.deviance()
    result = {
        "engine": "mixedcompat", "mixedcompat_version": mc.__version__,
        "python_version": sys.version.split()[0],
        "source_sha256": source_digest(Path(mc.__file__).resolve().parent),
        "n": int(model.nobs()), "reml": reml, "times_s": times,
        "fit_s": statistics.median(times), "min_s": min(times), "optimizer": args.optimizer,
        "import_s": import_s, "read_s": read_s,
        "criterion": float(criterion), "theta": [float(v) for v in model.theta],
        "optimizer_feval": _feval(model),
        "rss_before_fit_mb": (rss_before_kb or 0.0) / 1024, "peak_rss_mb": peak_kb / 1024,
        "peak_is_fit_only": peak_reset,
    }
    print(json.dumps(result))


def _feval(model) -> int | None:
    """Number of objective evaluations, when the fit records it."""
    feval = getattr(model, "optinfo", {}).get("feval") if hasattr(model, "gdata") else \
        getattr(getattr(model, "opt", None), "feval", None)
    return int(feval) if feval is not None else None


if __name__ == "__main__":
    main()
