"""Incremental ingest: each export file is its own Snakemake job, so adding a file schedules that
file's ingest and what depends on it — nothing else. Checked with --dry-run in a temporary copy
whose outputs are marked up to date (--touch), so no job has to run."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.e2e
INGEST_RULES = {"ingest_table", "ingest_survey", "ingest_part", "combine_surveys", "combine_parts", "write_ingest_manifest"}


def snakemake(workdir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", "workflow/Snakefile", "--cores", "1", *args],
        cwd=workdir, capture_output=True, text=True, check=False,
        env={**os.environ, "RETAIN_PSEUDONYM_KEY": "", "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def scheduled(workdir: Path) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run would run."""
    out = snakemake(workdir, "--dry-run")
    jobs, rule = [], None
    for line in out.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line)
        if match:
            rule = match.group(1)
            jobs.append((rule, ""))
        elif rule and line.strip().startswith("wildcards:"):
            jobs[-1] = (rule, line.split(":", 1)[1].strip())
    return jobs


def job_history(roster: pl.DataFrame, years: range) -> pl.DataFrame:
    """A Workday-style job history export made from the demo roster: one Hire row per spell."""
    spells = roster.filter(pl.col("Hire Date").str.slice(0, 4).cast(pl.Int32).is_in(list(years)))
    return spells.select(
        pl.col("Employee ID"),
        (pl.col("First Name") + " " + pl.col("Last Name")).alias("Worker"),
        pl.col("Hire Date").str.strptime(pl.Date, "%Y-%m-%d").dt.strftime("%m/%d/%Y").alias("Effective Date"),
        pl.lit("Hire").alias("Business Process Type"),
        pl.col("Team").alias("Supervisory Organization"),
        pl.col("Job Title").alias("Job Profile"),
        pl.col("Site").alias("Location"),
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("retain-incremental")
    for part in ("workflow", "config", "reports", "data/demo"):
        shutil.copytree(REPO / part, workdir / part)
    roster = pl.read_csv(workdir / "data/demo/hris_roster.csv", infer_schema=False)
    exports = workdir / "data/exports"
    exports.mkdir()
    job_history(roster, range(1990, 2022)).write_csv(exports / "job_history_to_2021.csv")
    job_history(roster, range(2022, 2025)).write_csv(exports / "job_history_2022_2024.csv")
    config = yaml.safe_load((workdir / "config/config.yaml").read_text(encoding="utf-8"))
    config["inputs"]["assignments"] = [{"glob": "data/exports/job_history_*.csv", "profile": "workday_job_history"}]
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    # Mark every output up to date without running a job: create them, then let Snakemake touch them in order.
    summary = snakemake(workdir, "--summary").splitlines()
    outputs = [line.split("\t")[0] for line in summary if "\t" in line and not line.startswith("output_file")]
    assert "results/canonical/assignments.parquet" in outputs and "results/ingest/job_history_to_2021.json" in outputs
    for output in outputs:
        (workdir / output).parent.mkdir(parents=True, exist_ok=True)
        (workdir / output).touch()
    snakemake(workdir, "--touch")
    assert scheduled(workdir) == []
    return workdir


def test_a_new_survey_export_reingests_only_itself_and_what_uses_it(workdir):
    new = workdir / "data/demo/surveys/pulse_2026Q4_wide_en.csv"
    shutil.copy(workdir / "data/demo/surveys/pulse_2026Q3_wide_en.csv", new)
    try:
        jobs = scheduled(workdir)
    finally:
        new.unlink()
    ingest_jobs = [job for job in jobs if job[0] in INGEST_RULES]
    assert sorted(ingest_jobs) == [("combine_surveys", ""), ("ingest_survey", "source=pulse_2026Q4_wide_en"), ("write_ingest_manifest", "")]
    rules = {rule for rule, _ in jobs}
    assert "compute_engagement" in rules  # downstream of the survey table
    assert "compute_turnover" not in rules  # the roster did not change


def test_a_new_quarter_of_job_history_reingests_only_that_file(workdir):
    roster = pl.read_csv(workdir / "data/demo/hris_roster.csv", infer_schema=False)
    new = workdir / "data/exports/job_history_2025_2026.csv"
    job_history(roster, range(2025, 2027)).write_csv(new)
    try:
        jobs = scheduled(workdir)
    finally:
        new.unlink()
    ingest_jobs = sorted(job for job in jobs if job[0] in INGEST_RULES)
    assert ingest_jobs == [("combine_parts", "table=assignments"), ("ingest_part", "part=job_history_2025_2026"), ("write_ingest_manifest", "")]


def test_a_changed_roster_reingests_what_is_checked_against_it(workdir):
    roster = workdir / "data/demo/hris_roster.csv"
    os.utime(roster)  # a newer export of the same file
    jobs = scheduled(workdir)
    rules = [rule for rule, _ in jobs]
    assert rules.count("ingest_table") == 1  # employees only; timesheets, items, programmes untouched
    assert rules.count("ingest_part") == 2 and rules.count("ingest_survey") == 24  # linked to the roster's spells
