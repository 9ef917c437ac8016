"""DAG parse time of each file in dags/, as a ratio to an empty DAG file parsed in the same run.

    .venv/bin/python bench/parse_time.py [--runs 7] [--no-pyc]

Every parse runs in a fresh Python process, so module caches cannot hide a DAG file's imports. The
process first imports airflow.sdk and Airflow's DagBag (what a dag-processor has already loaded)
and then times only the parse of the one file, the way the dag-processor does it:
BundleDagBag(dag_folder=<file>, bundle_path=<its folder>, load_op_links=False). Files are parsed
interleaved (empty, dag 1, dag 2, empty, ...), and each file's median over --runs is compared with
the empty file's median. Target: every DAG file parses in under 1.5x the empty DAG, under every
profile that has a platform module (`--profiles`, default all of them: local, aws, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _env

TARGET = 1.5
MARK = "BENCH_PARSE "
EMPTY_DAG = '''\
from airflow.sdk import dag, task


@dag(dag_id="bench_empty", schedule=None)
def bench_empty():
    @task
    def noop():
        pass

    noop()


bench_empty()
'''


def child(path: str) -> None:
    """Runs in the fresh process: import the baseline, then time the parse of one file."""
    started = time.perf_counter()
    import airflow.sdk  # noqa: F401  (the baseline every DAG file pays; a dag-processor has it loaded)
    from airflow.dag_processing.dagbag import BundleDagBag

    baseline = time.perf_counter() - started
    before = set(sys.modules)
    started = time.perf_counter()
    bag = BundleDagBag(dag_folder=path, bundle_path=Path(path).parent, bundle_name="bench", load_op_links=False)
    parse = time.perf_counter() - started
    new = set(sys.modules) - before
    print(MARK + json.dumps({
        "parse_s": parse, "baseline_s": baseline, "dag_ids": sorted(bag.dag_ids),
        "errors": {k: v.strip().splitlines()[-1] for k, v in bag.import_errors.items()},
        "heavy_new": _env.loaded(names=new), "heavy_before": _env.loaded(names=before),
        "new_modules": len(new),
    }), flush=True)


def parse_once(path: Path, env: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", str(path)], env=env, cwd=_env.PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"parsing {path} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def child_env(state: Path, pyc: bool) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pyc:  # bytecode goes to a private cache, never into the venv or the project
        env["PYTHONPYCACHEPREFIX"] = str(state / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="DAG parse time relative to an empty DAG file")
    parser.add_argument("--runs", type=int, default=7, help="parses per file; the median is reported (default 7)")
    parser.add_argument("--no-pyc", action="store_true",
                        help="compile every module from source in every parse (no bytecode cache at all)")
    parser.add_argument("--profiles", help="comma-separated profiles (default: every built platform)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0

    state = _env.private_env("contrail-bench-parse-")
    from contrail.platforms import PLATFORMS

    try:
        profiles = args.profiles.split(",") if args.profiles else list(PLATFORMS)
        return max(measure(state, args.runs, pyc=not args.no_pyc, profile=p) for p in profiles)
    finally:
        _env.remove(state)


# A lake root per cloud profile: parsing needs none of their settings, only the profile's name.
ROOTS = {"aws": "s3://contrail-bench/lake", "gcp": "gs://contrail-bench/lake",
         "azure": "abfs://lake@contrailbench.dfs.core.windows.net/lake"}


def measure(state: Path, runs: int, pyc: bool, profile: str = "local") -> int:
    report = _env.Report(("parse_time" if pyc else "parse_time-no-pyc") + ("" if profile == "local" else f"-{profile}"))
    report.header(f"DAG parse time vs an empty DAG file, profile {profile}")
    empty = state / "empty_dag" / "bench_empty.py"
    empty.parent.mkdir(exist_ok=True)
    empty.write_text(EMPTY_DAG)
    files = [empty, *sorted(_env.DAGS_DIR.glob("*.py"))]
    names = {f: ("<empty DAG>" if f == empty else f"dags/{f.name}") for f in files}
    env = {**child_env(state, pyc), "CONTRAIL_PROFILE": profile, **({"CONTRAIL_DATA_ROOT": ROOTS[profile]} if profile in ROOTS else {})}
    report(f"{runs} runs per file, interleaved, each parse in a fresh process after `import airflow.sdk` + DagBag; "
           f"bytecode cache: {'private, warmed by one untimed round' if pyc else 'none (compiled from source each time)'}")

    for f in files:  # untimed warm-up: airflow.cfg creation, page cache, bytecode cache
        parse_once(f, env)
    results: dict[Path, list[dict]] = {f: [] for f in files}
    started = time.perf_counter()
    for r in range(runs):
        order = files[r % len(files):] + files[:r % len(files)]  # rotate so no file always goes first
        for f in order:
            results[f].append(parse_once(f, env))
    report(f"measured in {time.perf_counter() - started:.0f} s")
    report()

    base = _env.median(x["parse_s"] for x in results[empty])
    rows, failed = [], 0
    for f in files:
        med = _env.median(x["parse_s"] for x in results[f])
        ratio = med / base
        errors = results[f][-1]["errors"]
        ok = ratio < TARGET and not errors and results[f][-1]["dag_ids"]
        failed += f != empty and not ok
        spread = f"{min(x['parse_s'] for x in results[f]) * 1000:.1f}-{max(x['parse_s'] for x in results[f]) * 1000:.1f}"
        rows.append([names[f], _env.ms(med), spread, f"{ratio:.2f}x", f"< {TARGET}x",
                     "-" if f == empty else ("PASS" if ok else "FAIL"), ",".join(results[f][-1]["dag_ids"]) or "NONE"])
    report.table(["file", "median ms", "min-max ms", "ratio", "target", "result", "DAGs"], rows, right={1, 2, 3})
    report()

    report("Heavy modules imported by parsing the file (sys.modules before/after the parse):")
    for f in files:
        heavy = sorted(set().union(*(x["heavy_new"] for x in results[f])))
        new = _env.median(x["new_modules"] for x in results[f])
        report(f"  {names[f]:<28} {', '.join(heavy) if heavy else 'none'}   ({new:.0f} modules newly imported)")
        for name, err in results[f][-1]["errors"].items():
            report(f"    import error in {name}: {err}")
    preloaded = sorted(set().union(*(x["heavy_before"] for xs in results.values() for x in xs)))
    report(f"  already loaded by the baseline (airflow.sdk + DagBag): {', '.join(preloaded) or 'none'}")
    baseline = _env.median(x["baseline_s"] for xs in results.values() for x in xs)
    report(f"  baseline import itself (not counted in the parse times): median {_env.ms(baseline)} ms")
    report()
    report(f"{'All DAG files PASS' if not failed else f'{failed} DAG file(s) FAIL'} the < {TARGET}x target "
           f"under profile {profile}.")
    report.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
