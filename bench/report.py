"""Markdown tables from the benchmark's raw records (<root>/results/*.json).

    .venv/bin/python -m bench.report [RESULT.json ...]     (default: the latest record per size)

Every time is the median of the runs recorded (the count is shown); peak memory is the largest
seen over those runs; load is the 1-minute load average before / highest during the runs.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from bench import workload

GiB = 2**30
SIZE_ORDER = list(workload.SIZES)


def latest(root: Path) -> list[Path]:
    records: dict[str, Path] = {}
    for path in sorted((root / "results").glob("*.json")):
        size = path.stem.rsplit("-", 1)[0]  # <size>-<timestamp>.json
        if size in SIZE_ORDER:  # the workflow-overhead record has its own section
            records[size] = path  # names end in a timestamp: the last one wins
    return [records[s] for s in sorted(records, key=lambda s: SIZE_ORDER.index(s) if s in SIZE_ORDER else 99)]


def med(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}" if seconds < 100 else f"{seconds:.0f}"


def fmt_gib(n: float | None) -> str:
    return "–" if n is None else f"{n / GiB:.2f}"


def load_range(records: list[dict]) -> str:
    if not records:
        return "–"
    return f"{min(r['load_before'] for r in records):.1f}–{max(r['load_max'] for r in records):.1f}"


def stage_table(results: list[dict]) -> str:
    lines = [
        "| size | stage | wall s (Snakemake process) | s inside the rules | peak GiB | runs | load (1-min) |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for result in results:
        runs = result.get("stage_runs", [])
        stages = [record["stage"] for record in runs[0]] if runs else []
        total_wall = total_rule = 0.0
        complete = bool(stages)
        for stage in stages:
            records = [r for sequence in runs for r in sequence if r["stage"] == stage]
            ok = [r for r in records if r["returncode"] == 0]
            complete = complete and bool(ok)
            total_wall += med([r["wall_seconds"] for r in ok]) or 0.0
            total_rule += med([r["rule_seconds"] for r in ok]) or 0.0
            note = "" if len(ok) == len(records) else f" ({len(records) - len(ok)} failed{', killed at cap/timeout' if any(r['capped'] for r in records) else ''})"
            lines.append(
                f"| {result['size']} | {stage}{note} | {fmt_s(med([r['wall_seconds'] for r in ok]))} | {fmt_s(med([r['rule_seconds'] for r in ok]))} "
                f"| {fmt_gib(max((r['peak_tree_rss'] for r in records), default=None))} | {len(ok)} | {load_range(records)} |"
            )
        if complete:
            lines.append(f"| {result['size']} | **sum of the stage medians** | **{fmt_s(total_wall)}** | **{fmt_s(total_rule)}** | | | |")
    return "\n".join(lines)


def comparison_table(results: list[dict]) -> str:
    lines = [
        "| size | computation | Polars s | pandas s | pandas / Polars | Polars peak GiB | pandas peak GiB | runs | same numbers | load (1-min) |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for result in results:
        for computation, sides in result.get("comparisons", {}).items():
            polars = [r for r in sides.get("polars", {}).get("runs", [])]
            pandas = [r for r in sides.get("pandas", {}).get("runs", [])]
            p_s = med([r.get("seconds") for r in polars if r["returncode"] == 0])
            pd_s = med([r.get("seconds") for r in pandas if r["returncode"] == 0])
            failed = [r for r in pandas if r["returncode"] != 0]
            pandas_text = fmt_s(pd_s) if pd_s is not None else ("killed at the memory cap" if any(r["capped"] for r in failed) else "failed" if failed else "not run")
            ratio = f"{pd_s / p_s:.1f}×" if p_s and pd_s else "–"
            equal = sides.get("equal")
            if not equal:
                same = "not checked"
            elif any("error" in v for v in equal.values()):
                same = "**no**: " + "; ".join(f"{k}: {v['error'].splitlines()[0]}" for k, v in equal.items() if "error" in v)
            else:
                same = "yes (" + ", ".join(f"{k}: {v['rows']:,} rows" for k, v in equal.items()) + ")"
            lines.append(
                f"| {result['size']} | {computation} | {fmt_s(p_s)} | {pandas_text} | {ratio} | {fmt_gib(max((r['peak_tree_rss'] for r in polars), default=None))} "
                f"| {fmt_gib(max((r['peak_tree_rss'] for r in pandas), default=None))} | {len(polars)}/{len(pandas)} | {same} | {load_range(polars + pandas)} |"
            )
    return "\n".join(lines)


def workload_table(results: list[dict]) -> str:
    lines = [
        "| size | people | spells | survey responses | answers (long rows) | waves × items | exports (Parquet surveys) | generation s | generation peak GiB |",
        "|---|--:|--:|--:|--:|---|--:|--:|--:|",
    ]
    for result in results:
        g = result["generation"]
        c = result.get("counts", {})
        lines.append(
            f"| {result['size']} | {c.get('people', g['summary']['people']):,} | {c.get('spells', g['summary']['spells']):,} | {c.get('responses', g['summary']['survey_responses']):,} "
            f"| {c.get('answers', g['summary']['survey_answers']):,} | {c.get('waves', '?')} × {c.get('items', '?')} | {g['bytes'] / 2**20:,.0f} MiB "
            f"| {fmt_s(g['measurement']['wall_seconds'])} | {fmt_gib(g['measurement']['peak_tree_rss'])} |"
        )
    return "\n".join(lines)


def end_to_end_table(results: list[dict]) -> str:
    lines = [
        "| size | up to the figures, one `snakemake --cores 2` s | peak GiB | runs | dry run (nothing to do) s | no-op rerun s | \"Nothing to be done\" | load (1-min) |",
        "|---|--:|--:|--:|--:|--:|---|---|",
    ]
    for result in results:
        e2e = result.get("end_to_end", [])
        ok = [r for r in e2e if r["returncode"] == 0]
        noop = result.get("noop")
        lines.append(
            f"| {result['size']} | {fmt_s(med([r['wall_seconds'] for r in ok]))}{'' if len(ok) == len(e2e) else ' (failed)'} | {fmt_gib(max((r['peak_tree_rss'] for r in e2e), default=None))} | {len(ok)} "
            f"| {fmt_s(noop['dry_run']['wall_seconds']) if noop else '–'} | {fmt_s(noop['rerun']['wall_seconds']) if noop else '–'} | {noop['rerun']['nothing_to_be_done'] if noop else '–'} | {load_range(e2e)} |"
        )
    return "\n".join(lines)


def csv_table(results: list[dict]) -> str:
    lines = ["| size | ingest of Parquet surveys s | ingest of CSV exports s | CSV peak GiB | runs |", "|---|--:|--:|--:|--:|"]
    for result in results:
        if "csv_ingest" not in result:
            continue
        parquet = [r for sequence in result["stage_runs"] for r in sequence if r["stage"] == "ingest" and r["returncode"] == 0]
        csv = [r for r in result["csv_ingest"] if r["returncode"] == 0]
        lines.append(f"| {result['size']} | {fmt_s(med([r['wall_seconds'] for r in parquet]))} | {fmt_s(med([r['wall_seconds'] for r in csv]))} | {fmt_gib(max((r['peak_tree_rss'] for r in result['csv_ingest']), default=None))} | {len(csv)} |")
    return "\n".join(lines)


def job_table(results: list[dict], top: int = 12) -> str:
    """The slowest jobs (time inside the rule, median over the stage runs)."""
    lines = ["| size | job (log) | s inside the rule |", "|---|---|--:|"]
    for result in results:
        per_job: dict[str, list[float]] = {}
        for sequence in result.get("stage_runs", []):
            for record in sequence:
                for job, seconds in record["jobs"].items():
                    per_job.setdefault(job, []).append(seconds)
        for job, values in sorted(per_job.items(), key=lambda kv: -med(kv[1]))[:top]:
            lines.append(f"| {result['size']} | {job} | {fmt_s(med(values))} |")
    return "\n".join(lines)


def render(paths: list[Path]) -> str:
    results = [json.loads(p.read_text()) for p in paths]
    m = results[0]["machine"]
    header = (
        f"Machine: {m['cpu']}, {m['affinity']} cores, {m['memory_bytes'] / GiB:.0f} GiB; Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
        + f". Code: {results[0]['code']['git_head'][:10]} + working tree (snapshot {results[0]['code']['snapshot_sha256'][:12]}). "
        + "Records: " + ", ".join(f"{p.name} ({json.loads(p.read_text())['started']})" for p in paths) + "."
    )
    parts = [
        header,
        "### Workload\n\n" + workload_table(results),
        "### Stages (Snakemake, one stage at a time)\n\n" + stage_table(results),
        "### Slowest jobs\n\n" + job_table(results),
        "### Whole workflow and no-op\n\n" + end_to_end_table(results),
        "### Polars against the pandas baseline\n\n" + comparison_table(results),
    ]
    if any("csv_ingest" in r for r in results):
        parts.append("### CSV exports\n\n" + csv_table(results))
    probes = [(r["size"], p) for r in results for p in r.get("drivers_probe", [])]
    if probes:
        lines = ["| size | drivers.bootstrap_reps | s inside rank_drivers |", "|---|--:|--:|"]
        lines += [f"| {size} | {p['bootstrap_reps']} | {fmt_s(p['rule_seconds'])} |" for size, p in probes]
        parts.append("### rank_drivers against its bootstrap replicates\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or latest(workload.DEFAULT_ROOT)
    print(render(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
