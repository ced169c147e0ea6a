"""Retain's benchmark: the whole workflow at 10k, 100k and 1M employees, and a pandas baseline.

    .venv/bin/python -m bench.run --sizes 10k,100k --repeats 3
    .venv/bin/python -m bench.run --sizes 1M --repeats 1 --compare-repeats 1
    .venv/bin/python -m bench.run --workflow-overhead

A script that measures and prints, not a timed test. For each size it
1. generates the synthetic organisation once (`retain synth`, Parquet surveys; with
   --formats parquet,csv also the CSV exports, whose ingest is measured separately);
2. runs the real Snakemake workflow stage by stage from empty (bench/stages.py), `--repeats`
   times, measuring wall time and peak memory of every stage;
3. runs the whole workflow up to the figures in one Snakemake invocation (jobs in parallel on
   the 2 cores), the number the "under 2 minutes at 100k" target is about;
4. times a dry run and a rerun with nothing changed;
5. runs the core computations with the workflow's Polars functions and with the pandas baseline
   (bench/compare.py), each in its own measured process, `--compare-repeats` times, and asserts
   both give the same numbers (on every size up to --check-up-to).
Raw records go to <root>/results/<run>.json; bench/report.py turns them into Markdown tables.

Final measurements need a quiet machine: with --wait-quiet the harness polls /proc/loadavg every
60 s and starts when the 1-minute load is below 1.5 (up to --max-wait seconds; after that it
measures anyway). Every measurement records the load before and the highest load during it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from bench import compare, measure, stages, workload

GiB = 2**30


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    versions = {}
    for module in ("polars", "pandas", "numpy", "snakemake", "pyarrow", "scipy", "lifelines", "statsmodels"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "memory_bytes": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
    }


def wait_for_quiet(threshold: float, max_wait: float, log=print) -> dict:
    """Poll the 1-minute load every 60 s until it is below `threshold` (or `max_wait` passed)."""
    started, history = time.time(), []
    while True:
        load = measure.load_average()
        history.append((round(time.time() - started), load))
        if load < threshold:
            return {"quiet": True, "waited_seconds": time.time() - started, "load": load, "history": history}
        if time.time() - started >= max_wait:
            log(f"the machine never got quiet (load {load:.2f} after {max_wait / 60:.0f} min): measuring under load")
            return {"quiet": False, "waited_seconds": time.time() - started, "load": load, "history": history}
        log(f"load {load:.2f} ≥ {threshold}: waiting (polling every 60 s)")
        time.sleep(60)


def counts(run: Path) -> dict:
    """What the organisation amounted to after ingest: spells, responses, answers (long rows)."""
    canonical = run / "results" / "canonical"
    responses = pl.scan_parquet(canonical / "survey_responses.parquet")
    row = responses.select(pl.len().alias("answers"), pl.col("response_id").n_unique().alias("responses"), pl.col("wave").n_unique().alias("waves"), pl.col("item_id").n_unique().alias("items")).collect().row(0, named=True)
    employees = pl.scan_parquet(canonical / "employees.parquet").select(pl.len().alias("spells"), pl.col("employee_key").n_unique().alias("people")).collect().row(0, named=True)
    sizes = {p.name: p.stat().st_size for p in canonical.glob("*.parquet")}
    return {**row, **employees, "canonical_bytes": sizes}


def run_comparisons(run: Path, root: Path, *, size: str, employees: int, repeats: int, check: bool, cap_bytes: int, timeout_seconds: float | None, skip_pandas: bool, log=print) -> dict:
    """Polars and pandas, each computation `repeats` times in its own measured process; then the equality check."""
    out_dir = root / "compare" / run.name
    out_dir.mkdir(parents=True, exist_ok=True)
    env = workload.run_env(workload.snapshot(root))
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{workload.REPO}"  # bench.* from the repo, analysis.* from the snapshot
    records: dict = {}
    for computation in compare.COMPUTATIONS:
        records[computation] = {}
        for implementation in ("polars", "pandas"):
            if implementation == "pandas" and skip_pandas:
                records[computation][implementation] = {"skipped": True}
                continue
            runs = []
            for i in range(repeats):
                prefix = out_dir / f"{computation}-{implementation}"
                log_path = out_dir / f"{computation}-{implementation}-{i}.log"
                m = measure.run(
                    [workload.python(), "-m", "bench.compare", computation, implementation, str(run), str(prefix)],
                    cwd=workload.REPO, env=env, log_path=log_path, cap_bytes=cap_bytes, timeout_seconds=timeout_seconds,
                )  # fmt: skip
                record = m.as_dict()
                if m.returncode == 0:
                    record |= json.loads(log_path.read_text().strip().splitlines()[-1])
                runs.append(record)
                status = f"{record.get('seconds', float('nan')):8.2f} s" if m.returncode == 0 else f"FAILED ({m.returncode}{', killed at cap/timeout' if m.capped else ''})"
                log(f"  {computation:<21} {implementation:<7} {status}  peak {m.peak_tree_rss / GiB:6.2f} GiB  load {m.load_before:.2f}→{m.load_max:.2f}")
                if m.returncode != 0:
                    break
            records[computation][implementation] = {"runs": runs}
        polars_ok = all(r["returncode"] == 0 for r in records[computation]["polars"]["runs"])
        pandas_runs = records[computation]["pandas"].get("runs", [])
        if check and polars_ok and pandas_runs and all(r["returncode"] == 0 for r in pandas_runs):
            frames = compare.SURVIVAL_FRAMES if computation == "survival_preparation" else (computation,)
            checked = {}
            for name in frames:
                left = pl.read_parquet(out_dir / f"{computation}-polars.{name}.parquet")
                right = pl.read_parquet(out_dir / f"{computation}-pandas.{name}.parquet")
                try:
                    checked[name] = compare.check_same(name, left, right)
                except AssertionError as exc:
                    checked[name] = {"error": str(exc)[:2000], "rows": left.height}
                    log(f"  {computation}: {name}: pandas and Polars DIFFER: {str(exc).splitlines()[0]}")
            records[computation]["equal"] = checked
            if any("error" in c for c in checked.values()):
                if employees <= workload.SIZES["10k"]:
                    raise AssertionError(f"{computation}: the pandas baseline and the Polars code differ at {size}; see {out_dir}")
            else:
                compared = ", ".join(f"{name} {c['rows']} rows" for name, c in checked.items())
                log(f"  {computation}: pandas baseline == Polars ({compared})")
    return records


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def bench_size(args: argparse.Namespace, size: str, root: Path, log=print) -> dict:
    employees = workload.SIZES[size]
    cap = int(args.cap_gib * GiB)
    result: dict = {"size": size, "employees": employees, "started": dt.datetime.now().isoformat(timespec="seconds")}
    code = workload.snapshot(root)
    data, record = workload.generate(root, employees, "parquet", extra_items=workload.EXTRA_ITEMS.get(size, 0), log=log)
    result["generation"] = record
    config = workload.bench_config(code, record)
    if args.drivers_reps is not None:
        config["drivers"]["bootstrap_reps"] = args.drivers_reps
    result["drivers_bootstrap_reps"] = config["drivers"]["bootstrap_reps"]
    run = workload.run_directory(root, f"{size}-parquet", config, data)
    log(f"{size}: {record['summary']['survey_answers']:,} answers from {record['summary']['spells']:,} spells; run directory {run}")

    result["stage_runs"] = []
    log(f"{size}: stage sequence 1/{args.repeats} (from empty)")
    result["stage_runs"].append(stages.run_all_stages(run, cap_bytes=cap, timeout_seconds=args.stage_timeout, log=log))
    if any(r["returncode"] != 0 and not r.get("repaired") for r in result["stage_runs"][0]):
        log(f"{size}: a stage failed; see {run}/bench-logs and {run}/logs")
        result["failed_stages"] = [r["stage"] for r in result["stage_runs"][0] if r["returncode"] != 0 and not r.get("repaired")]
        if (run / "results" / "canonical" / "survey_responses.parquet").exists():
            result["counts"] = counts(run)
            result["comparisons"] = run_comparisons(
                run, root, size=size, employees=employees, repeats=args.compare_repeats, check=employees <= workload.SIZES[args.check_up_to], cap_bytes=cap,
                timeout_seconds=args.stage_timeout, skip_pandas=args.skip_pandas, log=log,
            )  # fmt: skip
        result["finished"] = dt.datetime.now().isoformat(timespec="seconds")
        return result
    result["counts"] = counts(run)
    # the no-op check needs a settled run directory: right after the sequence from empty
    result["noop"] = stages.noop(run)
    log(f"{size}: dry run {result['noop']['dry_run']['wall_seconds']:.1f} s, no-op rerun {result['noop']['rerun']['wall_seconds']:.1f} s (nothing to be done: {result['noop']['rerun']['nothing_to_be_done']})")
    skip = tuple(s for s in args.measure_once.split(",") if s)
    for i in range(1, args.repeats):
        log(f"{size}: stage sequence {i + 1}/{args.repeats} (each stage rerun with --forcerun{'; once only: ' + ', '.join(skip) if skip else ''})")
        result["stage_runs"].append(stages.rerun_stages(run, skip=skip, cap_bytes=cap, timeout_seconds=args.stage_timeout, log=log))
    result["comparisons"] = run_comparisons(
        run, root, size=size, employees=employees, repeats=args.compare_repeats, check=employees <= workload.SIZES[args.check_up_to], cap_bytes=cap,
        timeout_seconds=args.stage_timeout, skip_pandas=args.skip_pandas, log=log,
    )  # fmt: skip
    if args.drivers_probe:
        result["drivers_probe"] = [stages.drivers_probe(run, reps, timeout_seconds=args.stage_timeout) for reps in map(int, args.drivers_probe.split(","))]
        for probe in result["drivers_probe"]:
            log(f"{size}: rank_drivers with {probe['bootstrap_reps']} bootstrap replicates: {probe['rule_seconds']:.1f} s in the rule, {probe['wall_seconds']:.1f} s wall")
    result["end_to_end"] = []
    for i in range(args.end_to_end_repeats):
        e2e = stages.run_end_to_end(run, cap_bytes=cap, timeout_seconds=args.stage_timeout)
        log(f"{size}: up to the figures in one run {e2e['wall_seconds']:.1f} s, peak {e2e['peak_tree_rss'] / GiB:.2f} GiB ({i + 1}/{args.end_to_end_repeats})")
        result["end_to_end"].append(e2e)

    if "csv" in args.formats:
        csv_data, csv_record = workload.generate(root, employees, "csv", extra_items=workload.EXTRA_ITEMS.get(size, 0), log=log)
        result["csv_generation"] = csv_record
        csv_run = workload.run_directory(root, f"{size}-csv", workload.bench_config(code, csv_record), csv_data)
        result["csv_ingest"] = []
        for i in range(args.repeats):
            records = stages.run_all_stages(csv_run, stages=("ingest",), cap_bytes=cap, timeout_seconds=args.stage_timeout, log=log)
            result["csv_ingest"].append(records[0])
    result["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    return result


def workflow_overhead(args: argparse.Namespace, root: Path, log=print) -> dict:
    """A 40-quarter, 50-team organisation: dry run on an empty run directory, the real run, then the no-op."""
    code = workload.snapshot(root)
    data, record = workload.generate(root, args.overhead_employees, "parquet", name=f"overhead-{args.overhead_employees}", teams=50, quarters=40, log=log)
    from analysis.periods import shift_quarter

    quarters = [shift_quarter(workload.START_QUARTER, i) for i in range(40)]
    config = workload.bench_config(code, record, report_quarters=quarters, formats=["html"])
    run = workload.run_directory(root, "overhead-40q-50t", config, data)
    env = workload.run_env(run.resolve())
    out: dict = {"generation": record, "report_quarters": len(quarters)}
    (run / "bench-logs").mkdir(exist_ok=True)
    dry = []
    for i in range(args.repeats):
        m = measure.run(stages.snakemake_command("-n"), cwd=run, env=env, log_path=run / "bench-logs" / f"dry-run-empty-{i}.log")
        dry.append(m.as_dict())
    text = (run / "bench-logs" / "dry-run-empty-0.log").read_text()
    jobs = next((line.split()[-1] for line in text.splitlines() if line.startswith("total")), None)
    out["dry_run_empty"] = {"runs": dry, "jobs": jobs}
    log(f"overhead: {jobs} jobs; dry run on an empty directory {median([d['wall_seconds'] for d in dry]):.1f} s (median of {len(dry)})")
    full = measure.run(stages.snakemake_command(), cwd=run, env=env, log_path=run / "bench-logs" / "full-run.log", timeout_seconds=args.stage_timeout)
    out["full_run"] = full.as_dict()
    log(f"overhead: the whole workflow ({jobs} jobs) {full.wall_seconds:.0f} s, returncode {full.returncode}")
    noops = [stages.noop(run) for _ in range(args.repeats)]
    out["noop"] = noops
    log(
        f"overhead: no-op dry run {median([n['dry_run']['wall_seconds'] for n in noops]):.1f} s, "
        f"no-op rerun {median([n['rerun']['wall_seconds'] for n in noops]):.1f} s, nothing to be done: {all(n['rerun']['nothing_to_be_done'] for n in noops)}"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,100k", help="comma-separated: 10k, 100k, 100k-headcount, 1M, 1M-headcount (headcount sizes: about that many employees at any time; 25 items except 1M)")
    parser.add_argument("--formats", default="parquet", help="parquet (full pipeline) and optionally csv (ingest of the CSV exports)")
    parser.add_argument("--repeats", type=int, default=3, help="stage sequences per size: the first from empty, the others rerun each stage (medians are reported)")
    parser.add_argument("--measure-once", default="", help="comma-separated stages not repeated (e.g. survival,drivers when each takes long)")
    parser.add_argument("--compare-repeats", type=int, default=3)
    parser.add_argument("--end-to-end-repeats", type=int, default=1)
    parser.add_argument("--check-up-to", default="100k", help="assert pandas == Polars on sizes up to this one")
    parser.add_argument("--skip-pandas", action="store_true", help="no pandas baseline (e.g. at 1M, where it does not fit)")
    parser.add_argument("--cap-gib", type=float, default=22.0, help="kill a measured process tree above this resident size")
    parser.add_argument("--stage-timeout", type=float, default=3600.0, help="kill a measured process after this many seconds")
    parser.add_argument("--workflow-overhead", action="store_true", help="measure the 40-quarter x 50-team DAG instead of the sizes")
    parser.add_argument("--overhead-employees", type=int, default=5_000)
    parser.add_argument("--drivers-reps", type=int, help="drivers.bootstrap_reps for the stage runs (default: the config's)")
    parser.add_argument("--drivers-probe", help="comma-separated bootstrap_reps values to time rank_drivers with, to extrapolate its cost")
    parser.add_argument("--wait-quiet", action="store_true", help="wait for a 1-minute load below 1.5 first")
    parser.add_argument("--max-wait", type=float, default=3600.0)
    parser.add_argument("--root", type=Path, default=workload.DEFAULT_ROOT)
    parser.add_argument("--refresh-snapshot", action="store_true", help="take a new snapshot of the code (else reuse <root>/code)")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)

    root = args.root
    root.mkdir(parents=True, exist_ok=True)
    code = workload.snapshot(root, refresh=args.refresh_snapshot)
    results_dir = root / "results"
    results_dir.mkdir(exist_ok=True)
    header = {"machine": machine(), "code": json.loads((code / "SNAPSHOT.json").read_text()), "argv": sys.argv[1:]}
    if args.wait_quiet:
        header["quiet"] = wait_for_quiet(1.5, args.max_wait, log=log)
    log(f"disk: {shutil.disk_usage(root).free / GiB:.0f} GiB free under {root}")
    if args.workflow_overhead:
        result = {**header, "workflow_overhead": workflow_overhead(args, root, log=log)}
        (results_dir / f"overhead-{dt.datetime.now():%Y%m%dT%H%M%S}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        return 0
    for size in args.sizes.split(","):
        result = {**header, **bench_size(args, size, root, log=log)}
        path = results_dir / f"{size}-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
        path.write_text(json.dumps(result, indent=1, default=str) + "\n")
        log(f"{size}: results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
