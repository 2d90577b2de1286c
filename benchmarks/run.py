"""Time mixedcompat and lme4 on the same models in the same run and print the ratio.

Every fit runs in a fresh subprocess on each side (``mc_fit.py`` with this interpreter,
``lme4_fit.R`` with ``Rscript``), both reading the same CSV + JSON sidecar, so imports, JIT and
caches are comparable and peak memory can be measured per model. CSV reading is excluded on both
sides; the timed span is ``lmer(formula, data, ...)`` from the formula to the fitted object.
Small models are fitted 20 times after one warm-up inside each process (median taken); large
models once per process (cold). The two processes alternate order across repetitions, and the
reported time is the median over ``--repeat`` processes.

Usage
-----
``python benchmarks/run.py [--only NAME ...] [--repeat K] [--inner N] [--timeout S]``

Results are printed as a table and written to ``benchmarks/results.json`` (gitignored).

Example
-------
``python benchmarks/run.py --only sleepstudy penicillin``
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATASETS_DIR = REPO_ROOT / "mixedcompat" / "datasets"
RESULTS_PATH = BENCH_DIR / "results.json"
CRITERION_TOL = 1e-6
GRADIENT_ABOVE_RTOL = 1e-8
MEMORY_TARGET_MB = 2048.0

sys.path.insert(0, str(BENCH_DIR))
import simulate  # noqa: E402  (benchmarks/simulate.py, next to this file)


@dataclass(frozen=True)
class Model:
    """One benchmark model: data source, formula, and the speed target for mixedcompat / lme4."""

    name: str
    data: str  # bundled data set name, or "sim:<name>" for benchmarks/simulate.py
    formula: str
    reml: bool
    small: bool  # small: many fits per process; large: one cold fit per process
    target_ratio: float
    lme4_reference_s: float  # lme4's time on the reference machines (from the issue)
    memory_target_mb: float | None = None
    optimizer: str = "nloptwrap"  # mixedcompat's side: lme4's BOBYQA path, or "gradient" (ours)
    family: str | None = None     # a glmer model: R's family name (both sides fit glmer, default control)
    nAGQ: int = 1


MODELS = [
    Model("sleepstudy", "sleepstudy", "Reaction ~ Days + (Days | Subject)", True, True, 0.4, 0.013),
    Model("penicillin", "Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", True, True, 0.4, 0.015),
    Model("insteval_3re", "InstEval", "y ~ 1 + (1|s) + (1|d) + (1|dept)", False, False, 0.1, 16.0),
    Model("insteval_service_dept", "InstEval", "y ~ service * dept + (1|s) + (1|d)", False, False,
          0.1, 8.5),
    Model("sim1m", "sim:sim1m", "y ~ x + (1|g)", True, False, 0.03, 5.0, MEMORY_TARGET_MB),
    Model("sim200k", "sim:sim200k", "y ~ t + (1 + t | subj) + (1 | item)", True, False, 0.1, 9.0),
    Model("simxg", "sim:simxg", "y ~ x + (x || g)", True, False, 0.5, 0.28),
    Model("simnest", "sim:simnest", "y ~ x + (1 | g) + (1 | g:b)", True, False, 0.5, 1.7),
    Model("sim3x", "sim:sim3x", "y ~ x + (1 | a) + (1 | b) + (1 | c)", True, False, 0.5, 30.0),
    # the same large models with mixedcompat's optional gradient optimiser (lme4 as above)
    Model("insteval_3re_grad", "InstEval", "y ~ 1 + (1|s) + (1|d) + (1|dept)", False, False, 0.1, 16.0,
          optimizer="gradient"),
    Model("insteval_service_dept_grad", "InstEval", "y ~ service * dept + (1|s) + (1|d)", False, False,
          0.1, 8.5, optimizer="gradient"),
    Model("sim200k_grad", "sim:sim200k", "y ~ t + (1 + t | subj) + (1 | item)", True, False, 0.1, 9.0,
          optimizer="gradient"),
    # glmer (issue 12): both sides glmer(formula, data, family, nAGQ) with the default glmerControl
    Model("cbpp", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", False, True, 0.3, 0.1,
          family="binomial"),
    Model("grouseticks", "grouseticks", "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)", False,
          True, 0.3, 0.3, family="poisson"),
    Model("verbagg", "VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", False, False,
          0.3, 2.6, family="binomial"),
    Model("verbagg_nagq0", "VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", False,
          False, 0.3, 0.5, family="binomial", nAGQ=0),
    Model("simbern", "sim:simbern", "y ~ x + (1 | subj) + (1 | item)", False, False, 0.3, 35.0,
          family="binomial"),
]


def data_path(model: Model) -> Path:
    """CSV file of a model's data (simulating it first when needed)."""
    if model.data.startswith("sim:"):
        return simulate.ensure(model.data[4:])
    return DATASETS_DIR / f"{model.data}.csv"


BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def run_child(cmd: list[str], timeout: float, blas_threads: int | None = None) -> dict:
    """Run one timing subprocess; its last stdout line is JSON. Errors are returned, not raised."""
    env = dict(os.environ)
    if blas_threads is not None:
        env.update({var: str(blas_threads) for var in BLAS_THREAD_VARS})
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit code {proc.returncode}", "stderr": proc.stderr[-2000:]}
    result = json.loads(lines[-1])
    if proc.stderr.strip():
        result["stderr"] = proc.stderr[-2000:]
    return result


def commands(model: Model, csv: Path, reps: int, warmup: int, rscript: str) -> dict[str, list[str]]:
    """The mixedcompat and lme4 command lines for one process of one model."""
    reml = "TRUE" if model.reml else "FALSE"
    common = ["--csv", str(csv), "--formula", model.formula, "--reml", reml,
              "--reps", str(reps), "--warmup", str(warmup)]
    if model.family is not None:
        common += ["--family", model.family, "--nagq", str(model.nAGQ)]
    return {"mixedcompat": [sys.executable, str(BENCH_DIR / "mc_fit.py"), *common, "--optimizer", model.optimizer],
            "lme4": [rscript, str(BENCH_DIR / "lme4_fit.R"), *common]}


def summarize(model: Model, runs: dict[str, list[dict]]) -> dict:
    """Median times, ratio, target status, criterion agreement and memory for one model."""
    ok = {side: [r for r in rs if "error" not in r] for side, rs in runs.items()}
    out: dict = {"status": "ok"}
    if not ok["mixedcompat"] or not ok["lme4"]:
        failed = [side for side in ok if not ok[side]]
        out["status"] = f"failed: {', '.join(failed)}"
        return out
    mc, r = ok["mixedcompat"], ok["lme4"]
    mc_s = statistics.median(x["fit_s"] for x in mc)
    lme4_s = statistics.median(x["fit_s"] for x in r)
    ratio = mc_s / lme4_s
    crit_mc, crit_r = mc[-1]["criterion"], r[-1]["criterion"]
    rel = abs(crit_mc - crit_r) / abs(crit_r)
    out.update({
        "n": mc[-1]["n"], "mixedcompat_s": mc_s, "lme4_s": lme4_s, "ratio": ratio,
        "target_ratio": model.target_ratio, "target_met": ratio <= model.target_ratio,
        "lme4_vs_reference": lme4_s / model.lme4_reference_s,
        "criterion_mixedcompat": crit_mc, "criterion_lme4": crit_r, "criterion_rel_diff": rel,
        # the gradient optimiser stops at its own point of lme4's optimum: at most lme4's + 1e-8 relative
        "criterion_ok": (rel <= CRITERION_TOL if model.optimizer == "nloptwrap"
                         else crit_mc - crit_r <= GRADIENT_ABOVE_RTOL * abs(crit_r)),
        "optimizer": model.optimizer,
        "criterion_mixedcompat_lower": crit_mc < crit_r,
        "theta_mixedcompat": mc[-1]["theta"], "theta_lme4": r[-1]["theta"],
        "peak_rss_mb_mixedcompat": max(x["peak_rss_mb"] for x in mc),
        "peak_rss_mb_lme4": max(x["peak_rss_mb"] for x in r),
        "peak_is_fit_only": all(x.get("peak_is_fit_only") for x in mc + r),
        "mixedcompat_source_sha256": sorted({x.get("source_sha256") for x in mc}),
    })
    if model.memory_target_mb is not None:
        out["memory_target_mb"] = model.memory_target_mb
        out["memory_target_met"] = out["peak_rss_mb_mixedcompat"] < model.memory_target_mb
    return out


def format_table(rows: list[dict]) -> str:
    """Plain-text table: one row per model."""
    head = (f"{'model':<22} {'n':>9} {'mc s':>9} {'lme4 s':>9} {'ratio':>7} {'target':>7} {'met':>7} "
            f"{'|dcrit|/|crit|':>14} {'crit':>5} {'mc MB':>7} {'lme4 MB':>7} {'mem<2GB':>7}")
    lines = [head, "-" * len(head)]
    for row in rows:
        s = row["summary"]
        if s["status"] != "ok":
            lines.append(f"{row['name']:<22} {s['status']}")
            continue
        mem = "" if "memory_target_met" not in s else ("met" if s["memory_target_met"] else "NOT MET")
        crit = "ok" if s["criterion_ok"] else ("LOWER" if s["criterion_mixedcompat_lower"] else "FLAG")
        lines.append(
            f"{row['name']:<22} {s['n']:>9} {s['mixedcompat_s']:>9.4g} {s['lme4_s']:>9.4g} "
            f"{s['ratio']:>7.3f} {'<=' + format(s['target_ratio'], 'g'):>7} "
            f"{'met' if s['target_met'] else 'NOT MET':>7} {s['criterion_rel_diff']:>14.2e} {crit:>5} "
            f"{s['peak_rss_mb_mixedcompat']:>7.0f} {s['peak_rss_mb_lme4']:>7.0f} {mem:>7}")
    return "\n".join(lines)


def git_state() -> dict:
    """HEAD commit and modified files of the checkout (read-only git commands), when git is available."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"head": git("rev-parse", "HEAD"), "modified": git("status", "--short").splitlines()}


def machine_info() -> dict:
    """Context for reading the timings: cores, load, versions, thread settings."""
    threads = {k: os.environ[k] for k in BLAS_THREAD_VARS if k in os.environ}
    return {"cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg(), "platform": platform.platform(),
            "python": sys.executable, "thread_env": threads, "git": git_state(),
            "started": _dt.datetime.now().isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    names = [m.name for m in MODELS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME",
                        help=f"models to run (default all): {', '.join(names)}")
    parser.add_argument("--repeat", type=int, default=None,
                        help="processes per side and model (default 3 for small models, 1 for large)")
    parser.add_argument("--inner", type=int, default=20, help="timed fits per process for small models")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per subprocess")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="set OMP/OPENBLAS/MKL_NUM_THREADS in both subprocesses (default: inherit)")
    parser.add_argument("--rscript", default=shutil.which("Rscript") or "Rscript")
    args = parser.parse_args(argv)

    selected = [m for m in MODELS if args.only is None or m.name in args.only]
    meta = machine_info()
    meta["blas_threads_option"] = args.blas_threads
    rows = []
    for model in selected:
        csv = data_path(model)
        repeat = args.repeat or (3 if model.small else 1)
        reps, warmup = (args.inner, 1) if model.small else (1, 0)
        cmds = commands(model, csv, reps, warmup, args.rscript)
        runs: dict[str, list[dict]] = {"mixedcompat": [], "lme4": []}
        for k in range(repeat):
            order = ["mixedcompat", "lme4"] if k % 2 == 0 else ["lme4", "mixedcompat"]
            for side in order:
                print(f"[{model.name}] {side} process {k + 1}/{repeat} ...", file=sys.stderr, flush=True)
                runs[side].append(run_child(cmds[side], args.timeout, args.blas_threads))
                if "error" in runs[side][-1]:
                    print(f"  {side} failed: {runs[side][-1]}", file=sys.stderr, flush=True)
        rows.append({"name": model.name, "model": asdict(model), "csv": str(csv.relative_to(REPO_ROOT)),
                     "repeat": repeat, "fits_per_process": reps, "warmup_fits": warmup,
                     "finished": _dt.datetime.now().isoformat(timespec="seconds"), "loadavg": os.getloadavg(),
                     "blas_threads_option": args.blas_threads,
                     "summary": summarize(model, runs), "runs": runs})
    meta["loadavg_end"] = os.getloadavg()

    print(format_table(rows))
    print(f"\nmedian of --repeat processes; small models: median of {args.inner} fits after 1 warm-up per "
          f"process; ratio = mixedcompat / lme4; criterion tolerance {CRITERION_TOL:g} "
          f"(LOWER: mixedcompat found a lower criterion); MB = peak RSS while fitting.")
    load = max(meta["loadavg_start"][0], meta["loadavg_end"][0])
    if load > 0.5 * (meta["cpu_count"] or 1):
        print(f"note: load average {load:.2f} on {meta['cpu_count']} cores: timings may be noisy.")

    previous = {}
    if RESULTS_PATH.is_file():
        try:
            previous = {r["name"]: r for r in json.loads(RESULTS_PATH.read_text())["models"]}
        except (ValueError, KeyError, TypeError):
            previous = {}
    previous.update({r["name"]: r for r in rows})
    merged = [previous[m.name] for m in MODELS if m.name in previous]
    RESULTS_PATH.write_text(json.dumps({"meta": meta, "models": merged}, indent=1) + "\n")
    print(f"results written to {RESULTS_PATH.relative_to(REPO_ROOT)}")
    return 0 if all(r["summary"]["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
