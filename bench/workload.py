"""Benchmark inputs and run directories: synthetic organisations, a frozen code snapshot, configs.

Everything is written under the benchmark root (default /tmp/retain-bench), never in the repo:

    <root>/code/                 snapshot of analysis/, workflow/, config/ (with its profiles) and
                                 reports/, taken once, so colleagues' edits do not change a run midway
    <root>/data/<size>-<format>/ `retain synth` output (the exports)
    <root>/runs/<name>/          one Snakemake run directory: a copy of the snapshot, data/ (a link
                                 to the exports), config/bench.yaml, results/, logs/, .snakemake/
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = Path(os.environ.get("RETAIN_BENCH_ROOT", "/tmp/retain-bench"))
# `retain synth --employees` counts distinct people over the three years; at contact-centre
# turnover the headcount is about employees / 2.2. "100k-headcount" and "1M-headcount" are
# organisations of about 100 000 and a million employees at any time. Every size but "1M" (kept
# as measured, 20 items) has the issue's ~25-item survey: the generator's 20 items + 5 extra.
SIZES = {"10k": 10_000, "100k": 100_000, "100k-headcount": 220_000, "1M": 1_000_000, "1M-headcount": 2_200_000}
EXTRA_ITEMS = {"10k": 5, "100k": 5, "100k-headcount": 5, "1M-headcount": 5}
START_QUARTER = "2023Q4"
SNAPSHOT_PARTS = ("analysis", "workflow", "config", "reports")
SURVEY_PROFILES = {
    # `retain synth --survey-format parquet` writes the CSV exports' columns as Parquet text columns
    # under one header: the shipped profiles config/profiles/{qualtrics_wide,pulse_long_pl}_parquet.yaml.
    "parquet": [("pulse_*_wide_en.parquet", "qualtrics_wide_parquet"), ("pulse_*_long_pl.parquet", "pulse_long_pl_parquet")],
    "csv": [("pulse_*_wide_en.csv", "qualtrics_wide"), ("pulse_*_long_pl.csv", "pulse_long_pl")],
}


def python() -> str:
    return sys.executable


def snapshot(root: Path, refresh: bool = False) -> Path:
    """Copy the code the benchmark runs into <root>/code (once); return its path."""
    code = root / "code"
    if code.exists() and not refresh:
        return code
    if code.exists():
        shutil.rmtree(code)
    code.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".snakemake")
    for part in SNAPSHOT_PARTS:
        shutil.copytree(REPO / part, code / part, ignore=ignore)
    (code / "SNAPSHOT.json").write_text(json.dumps(code_identity(code), indent=1) + "\n")
    return code


def code_identity(code: Path) -> dict[str, str]:
    """The git commit the snapshot was taken from and a hash of the snapshot's files (uncommitted edits included)."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
    digest = hashlib.sha256()
    for path in sorted(p for p in code.rglob("*") if p.is_file() and p.name != "SNAPSHOT.json"):
        digest.update(str(path.relative_to(code)).encode() + b"\0" + path.read_bytes())
    return {"git_head": commit, "snapshot_sha256": digest.hexdigest()}


def generate(
    root: Path, employees: int, survey_format: str, *, name: str | None = None, teams: int = 12, quarters: int = 12, extra_items: int = 0, log=print
) -> tuple[Path, dict]:
    """The synthetic exports for one size (generated once, reused); (directory, generation record)."""
    from bench import measure

    name = name or f"e{employees}{f'-x{extra_items}' if extra_items else ''}-{survey_format}"
    out = root / "data" / name
    record_path = root / "data" / f"{name}.json"
    if record_path.exists() and out.exists():
        return out, json.loads(record_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    code = snapshot(root)
    command = [
        python(), "-m", "analysis.cli", "synth", "--out", str(out), "--employees", str(employees), "--start-quarter", START_QUARTER,
        "--teams", str(teams), "--quarters", str(quarters), "--survey-format", survey_format, "--extra-items", str(extra_items), "--quiet",
    ]  # fmt: skip
    log(f"generating {name} …")
    summary_path = root / "data" / f"{name}.summary.json"
    m = measure.run(command, cwd=code, env=run_env(code), log_path=summary_path)
    text = summary_path.read_text()
    if m.returncode != 0:
        raise RuntimeError(f"synth failed for {name}: see {summary_path}")
    summary = json.loads(text[text.index("{") :])
    record = {"name": name, "employees": employees, "extra_items": extra_items, "teams": teams, "start_quarter": START_QUARTER, "quarters": quarters, "survey_format": survey_format, "measurement": m.as_dict(), "summary": summary, "bytes": directory_bytes(out)}
    record_path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    return out, record


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_env(code: Path) -> dict[str, str]:
    """The environment of every benchmark process: the snapshot first on the import path, 2 Polars threads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(code)
    env["RETAIN_PSEUDONYM_KEY"] = ""  # synthetic data: the published demo key
    env.setdefault("POLARS_MAX_THREADS", "2")
    return env


def bench_config(code: Path, record: dict, *, data: str = "data", report_quarters: list[str] | None = None, formats: list[str] | None = None) -> dict:
    """config/config.yaml of the snapshot with the inputs pointed at the generated exports.

    Paths are relative to the run directory by default (`data` inside it, see run_directory): the
    audit manifests accept no absolute paths. Every profile is a shipped one (config/profiles)."""
    from analysis.periods import shift_quarter

    config = yaml.safe_load((code / "config" / "config.yaml").read_text(encoding="utf-8"))
    start = record["start_quarter"]
    fmt = record["survey_format"]
    config["organisation"] = f"Synthetic benchmark organisation ({record['employees']:,} people)"
    config["synthetic"] = True
    config["period"] = {"start": start, "end": shift_quarter(start, record["quarters"] - 1)}
    inputs = config["inputs"]
    inputs["roster"] = {"path": f"{data}/hris_roster.csv", "profile": "generic_roster"}
    inputs["timesheets"] = {"path": f"{data}/timesheets.csv", "profile": "generic_timesheets"}
    inputs["survey_items"] = {"path": f"{data}/survey_items.csv", "profile": "survey_items"}
    inputs["interventions"] = {"path": f"{data}/interventions.xlsx", "profile": "programmes_xlsx"}
    inputs["surveys"] = [
        {"glob": f"{data}/surveys/{pattern}", "profile": profile} for pattern, profile in SURVEY_PROFILES[fmt]
    ]
    if report_quarters is not None:
        config["report"]["quarters"] = report_quarters
    if formats is not None:
        config["report"]["formats"] = formats
    return config


def run_directory(root: Path, name: str, config: dict, data: Path, *, fresh: bool = True) -> Path:
    """A Snakemake working directory: a copy of the snapshot's code and config (with its profiles),
    `data` linked as data/, and the given config as config/bench.yaml."""
    code = snapshot(root)
    run = root / "runs" / name
    if fresh and run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)
    # copies, not links: the audit records code and profile paths resolved, and they must lie inside
    for part in SNAPSHOT_PARTS:
        if not (run / part).exists():
            shutil.copytree(code / part, run / part)
    if not (run / "data").exists():
        (run / "data").symlink_to(data)
    config_dir = run / "config"
    (config_dir / "bench.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return run


def clean_results(run: Path) -> None:
    """Forget every output and Snakemake's records of them: the next stage sequence starts from the exports."""
    for part in ("results", "logs", ".snakemake"):
        if (run / part).exists():
            shutil.rmtree(run / part)
