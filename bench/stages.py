"""The pipeline's stages, run through the real Snakemake workflow one stage at a time.

A stage is a set of rules: every rule of workflow/rules/ingest.smk is the `ingest` stage, each
analysis rule of analyse.smk is its own stage (`turnover`, `engagement`, `survival`, …), then
`numbers` (collect_numbers), `figures` (figures.smk), `render` (report.smk) and `audit`
(audit.smk). Rules are read from the .smk files, so a rule added later lands in its file's stage.
A stage runs as `snakemake <the outputs of its rules' jobs>`, the jobs read from a dry run of the
whole workflow (Snakemake's `--until` would say the same, but it stalls with "out of jobs ready" on
this workflow). Run in order on an empty run directory, every rule of the workflow runs exactly
once, with the same rules, functions and inputs as `retain run`; each stage is one measured
Snakemake process (wall time, peak memory). The time each job spent inside its analysis function
comes from the rule's own log ("done in X s", written by analysis.pipeline.run_logged), so the
Snakemake overhead of a stage is the difference.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from bench import measure, workload

ANALYSIS_FAMILIES = {
    "compute_turnover": "turnover",
    "count_engagement": "engagement",
    "compute_engagement": "engagement",
    "fit_survival": "survival",
    "evaluate_programmes": "programmes",
    "rank_drivers": "drivers",
    "collect_numbers": "numbers",
}
FILE_STAGES = {"ingest.smk": "ingest", "figures.smk": "figures", "report.smk": "render", "audit.smk": "audit"}
UP_TO_FIGURES_END = "figures"
DONE = re.compile(r"done in ([0-9.]+) s")
RULE = re.compile(r"^rule (\w+):", re.MULTILINE)


def snakemake_command(*args: str, cores: int = 2) -> list[str]:
    return [workload.python(), "-m", "snakemake", "--snakefile", "workflow/Snakefile", "--configfile", "config/bench.yaml", "--cores", str(cores), *args]


def plan(run: Path) -> dict[str, list[str]]:
    """Stage -> its rules, in an order the workflow can run them (see ordered)."""
    return ordered(run, stage_rules(run))


def stage_rules(run: Path) -> dict[str, list[str]]:
    """Stage -> its rules, by the file and family each rule belongs to."""
    rules_dir = run / "workflow" / "rules"
    stages: dict[str, list[str]] = {"ingest": RULE.findall((rules_dir / "ingest.smk").read_text())}
    analyses = RULE.findall((rules_dir / "analyse.smk").read_text())
    for rule in [r for r in analyses if r != "collect_numbers"] + [r for r in analyses if r == "collect_numbers"]:
        stages.setdefault(ANALYSIS_FAMILIES.get(rule, rule), []).append(rule)
    for file, stage in list(FILE_STAGES.items())[1:]:
        if (rules_dir / file).exists():
            stages[stage] = RULE.findall((rules_dir / file).read_text())
    others = sorted(set(RULE.findall("".join(p.read_text() for p in rules_dir.glob("*.smk")))) - {r for rules in stages.values() for r in rules})
    if others:
        stages["other"] = others
    return {stage: rules for stage, rules in stages.items() if rules}


JOB = re.compile(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    output: (.*)$", re.MULTILINE)


def job_outputs(run: Path) -> dict[str, list[str]]:
    """Rule -> the output files of all its jobs, from a dry run of the whole workflow (run before any output exists)."""
    cached = run / "bench-logs" / "jobs.json"
    if cached.exists():
        return json.loads(cached.read_text())
    (run / "bench-logs").mkdir(exist_ok=True)
    dry = subprocess.run(snakemake_command("-n"), cwd=run, env=workload.run_env(run.resolve()), capture_output=True, text=True, check=True)
    outputs: dict[str, list[str]] = {}
    for rule, files in JOB.findall(dry.stdout + dry.stderr):
        outputs.setdefault(rule, []).extend(f.strip() for f in files.split(","))
    cached.write_text(json.dumps(outputs, indent=1))
    return outputs


def stage_targets(run: Path, rules: list[str]) -> list[str]:
    outputs = job_outputs(run)
    return [f for rule in rules for f in outputs.get(rule, [])]


NODE = re.compile(r"^\s*(\d+)\[label = \"(\w+)\"", re.MULTILINE)
EDGE = re.compile(r"^\s*(\d+) -> (\d+)", re.MULTILINE)


def rule_graph(run: Path) -> dict[str, set[str]]:
    """Rule -> the rules it needs (`snakemake --rulegraph`)."""
    dot = subprocess.run(snakemake_command("--rulegraph"), cwd=run, env=workload.run_env(run.resolve()), capture_output=True, text=True, check=True).stdout
    names = dict(NODE.findall(dot))
    needs: dict[str, set[str]] = {name: set() for name in names.values()}
    for upstream, downstream in EDGE.findall(dot):
        needs[names[downstream]].add(names[upstream])
    return needs


def ordered(run: Path, stages: dict[str, list[str]]) -> dict[str, list[str]]:
    """The stages in an order that respects the rule graph: rules are taken in topological order
    (ties: the stage order above), and consecutive rules of one stage form one step. A stage whose
    rules sit on both sides of another stage (audit: the build manifest before the reports, the run
    manifest after) becomes two steps, named `stage:rule`."""
    needs = rule_graph(run)
    stage_of = {rule: stage for stage, rules in stages.items() for rule in rules}
    rank = {stage: i for i, stage in enumerate(stages)}
    done: list[str] = []
    waiting = {r for r in needs if r in stage_of}
    while waiting:
        ready = sorted((r for r in waiting if not (needs[r] & waiting)), key=lambda r: (rank[stage_of[r]], r))
        done.append(ready[0])
        waiting.discard(ready[0])
    steps: list[tuple[str, list[str]]] = []
    for rule in done:
        if steps and steps[-1][0] == stage_of[rule]:
            steps[-1][1].append(rule)
        else:
            steps.append((stage_of[rule], [rule]))
    counts = {stage: sum(1 for s, _ in steps if s == stage) for stage in stages}
    return {(f"{stage}:{'+'.join(rules)}" if counts[stage] > 1 else stage): rules for stage, rules in steps}


def up_to(run: Path, last: str) -> list[str]:
    """The rules of every stage up to and including `last`."""
    rules: list[str] = []
    for stage, names in plan(run).items():
        rules += names
        if stage == last:
            break
    return rules


def job_times(run: Path, since: float, rules: list[str] | None = None) -> dict[str, float]:
    """Seconds each job spent in its rule function, from the logs (logs/<rule>/…) of `rules` written
    since `since` (log path -> s)."""
    times = {}
    for log in sorted((run / "logs").rglob("*.log")):
        if log.stat().st_mtime + 1 < since or (rules is not None and log.relative_to(run / "logs").parts[0] not in rules):
            continue
        found = DONE.findall(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            times[str(log.relative_to(run / "logs"))] = float(found[-1])
    return times


def run_stage(run: Path, stage: str, rules: list[str], *, cores: int = 2, cap_bytes: int | None = None, timeout_seconds: float | None = None, force: bool = False, extra: tuple[str, ...] = ()) -> dict:
    """Run one stage's rules (and anything they still need) with Snakemake and measure it; with
    `force`, rerun them although their outputs are up to date (and nothing downstream of them)."""
    (run / "bench-logs").mkdir(exist_ok=True)
    started = time.time()
    m = measure.run(
        snakemake_command(*stage_targets(run, rules), "--allowed-rules", *rules, *(["--forcerun", *rules] if force else []), *extra, cores=cores),
        cwd=run,
        env=workload.run_env(run.resolve()),
        log_path=run / "bench-logs" / f"{stage}.log",
        cap_bytes=cap_bytes,
        timeout_seconds=timeout_seconds,
    )
    jobs = job_times(run, started, rules)
    return {"stage": stage, "rules": rules, "forced": force, **m.as_dict(), "jobs": jobs, "rule_seconds": sum(jobs.values())}


def run_all_stages(
    run: Path, *, cores: int = 2, cap_bytes: int | None = None, timeout_seconds: float | None = None, stages: tuple[str, ...] | None = None,
    after_stage=None, log=print,
) -> list[dict]:
    """Every stage (or the given ones) in order from an empty run directory.

    A stage runs only its own rules (--allowed-rules), so after a failure the later stages that do
    not need the failed one still run and are measured, and those that do fail at once for the
    missing input (marked `blocked`). `after_stage(stage, record)`, if given, may repair a failure
    and returns True if it did."""
    workload.clean_results(run)
    job_outputs(run)
    records = []
    failed: list[str] = []
    for stage, rules in plan(run).items():
        if stages is not None and stage not in stages:
            continue
        record = run_stage(run, stage, rules, cores=cores, cap_bytes=cap_bytes, timeout_seconds=timeout_seconds)
        if record["returncode"] != 0 and after_stage is not None and after_stage(stage, record):
            record["repaired"] = True
        elif record["returncode"] != 0:
            if failed and "MissingInputException" in (run / "bench-logs" / f"{stage}.log").read_text(errors="replace"):
                record["blocked_by"] = list(failed)
            failed.append(stage)
        records.append(record)
        status = "" if record["returncode"] == 0 else f"  FAILED ({record['returncode']}{', killed at the memory cap or timeout' if record['capped'] else ''})"
        status += f"  (blocked by {', '.join(record['blocked_by'])})" if "blocked_by" in record else "  (repaired)" if record.get("repaired") else ""
        log(f"  {stage:<11} {record['wall_seconds']:8.1f} s wall  {record['rule_seconds']:8.1f} s in rules  peak {record['peak_tree_rss'] / 2**30:6.2f} GiB  load {record['load_before']:.2f}→{record['load_max']:.2f}{status}")
    return records


def rerun_stages(run: Path, *, skip: tuple[str, ...] = (), cores: int = 2, cap_bytes: int | None = None, timeout_seconds: float | None = None, log=print) -> list[dict]:
    """Every stage again, one at a time, on a finished run directory (--forcerun its rules): a repeat
    that costs one stage sequence. Stages in `skip` (e.g. the hour-long ones) are left out."""
    records = []
    for stage, rules in plan(run).items():
        if stage in skip:
            continue
        record = run_stage(run, stage, rules, cores=cores, cap_bytes=cap_bytes, timeout_seconds=timeout_seconds, force=True)
        records.append(record)
        log(f"  {stage:<11} {record['wall_seconds']:8.1f} s wall  {record['rule_seconds']:8.1f} s in rules  peak {record['peak_tree_rss'] / 2**30:6.2f} GiB  load {record['load_before']:.2f}→{record['load_max']:.2f} (rerun)" + ("" if record["returncode"] == 0 else f"  FAILED ({record['returncode']})"))
        if record["returncode"] != 0:
            break
    return records


def run_end_to_end(run: Path, last: str = UP_TO_FIGURES_END, *, cores: int = 2, cap_bytes: int | None = None, timeout_seconds: float | None = None) -> dict:
    """One Snakemake invocation for every stage up to `last` (jobs run in parallel on `cores`)."""
    workload.clean_results(run)
    rules = up_to(run, last)
    started = time.time()
    (run / "bench-logs").mkdir(exist_ok=True)
    m = measure.run(snakemake_command(*stage_targets(run, rules), cores=cores), cwd=run, env=workload.run_env(run.resolve()), log_path=run / "bench-logs" / "end-to-end.log", cap_bytes=cap_bytes, timeout_seconds=timeout_seconds)
    jobs = job_times(run, started)
    return {"up_to": last, "rules": rules, **m.as_dict(), "jobs": jobs, "rule_seconds": sum(jobs.values())}


def noop(run: Path, *, cores: int = 2) -> dict:
    """Time a dry run and a real rerun of the whole workflow when nothing changed."""
    env = workload.run_env(run.resolve())
    out = {}
    for name, args in (("dry_run", ["-n"]), ("rerun", [])):
        m = measure.run(snakemake_command(*args, cores=cores), cwd=run, env=env, log_path=run / "bench-logs" / f"noop-{name}.log")
        text = (run / "bench-logs" / f"noop-{name}.log").read_text(encoding="utf-8", errors="replace")
        out[name] = {**m.as_dict(), "nothing_to_be_done": "Nothing to be done" in text}
    return out


def drivers_probe(run: Path, reps: int, *, cores: int = 2, timeout_seconds: float | None = None) -> dict:
    """rank_drivers alone, rerun with drivers.bootstrap_reps = reps (its cost grows with the replicates)."""
    import yaml

    config = yaml.safe_load((run / "config" / "bench.yaml").read_text(encoding="utf-8"))
    config["drivers"]["bootstrap_reps"] = reps
    probe = run / "config" / f"bench-drivers-{reps}.yaml"
    probe.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    command = snakemake_command(*stage_targets(run, ["rank_drivers"]), "--forcerun", "rank_drivers", cores=cores)
    command[command.index("config/bench.yaml")] = str(probe.relative_to(run))
    started = time.time()
    m = measure.run(command, cwd=run, env=workload.run_env(run.resolve()), log_path=run / "bench-logs" / f"drivers-probe-{reps}.log", timeout_seconds=timeout_seconds)
    jobs = job_times(run, started, ["rank_drivers"])
    return {"bootstrap_reps": reps, **m.as_dict(), "jobs": jobs, "rule_seconds": sum(jobs.values())}
