"""Byte-identical reruns and the audit trail, end to end.

Two runs of the demo workflow in two fresh directories (the session's run, tests/conftest.py,
and a second one here, with another hash seed, time zone, directory name and core count) must
write identical files, reports included (HTML, and PDF when Chromium exists); their run
manifests may differ only in their timestamps. On the session's run: both manifests validate,
every ID traces down to input hashes, verify names exactly the file whose byte was flipped,
`trace --rows` points at input rows and respects the privacy gate, and `snakemake --report`
builds a provenance report with every chart in it. Nothing here leaves a change in that run:
flipped bytes are restored with their modification times, rows and reports go to tmp_path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from analysis import audit, trace
from analysis.periods import quarter_start
from conftest import REPO, WORKFLOW_PARTS

pytestmark = pytest.mark.e2e
NOT_IN_MANIFEST = {"results/audit/manifest.json"}


@dataclass
class Runs:
    a: Path
    b: Path
    formats: list[str]
    quarter: str


def snakemake_command(*args: str, cores: int = 2) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", "workflow/Snakefile", "--cores", str(cores), *args]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "RETAIN_PSEUDONYM_KEY": "", **extra}


@pytest.fixture(scope="module")
def runs(workflow_run, tmp_path_factory) -> Runs:
    first, formats, report = workflow_run
    second = tmp_path_factory.mktemp("retain-second-run")  # another directory name and length
    for part in WORKFLOW_PARTS:
        shutil.copytree(REPO / part, second / part)
    done = subprocess.run(
        snakemake_command("--config", f"report={json.dumps(report)}", cores=1),
        cwd=second,
        env=env(PYTHONHASHSEED="2", TZ="Pacific/Auckland"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"workflow failed in {second}:\n{done.stderr[-4000:]}"
    config = json.loads((first / "results/audit/manifest.json").read_text())["config"]["content"]
    return Runs(first, second, formats, config["period"]["end"])


def result_files(workdir: Path) -> dict[str, str]:
    """Every file the run wrote under results/ (not what tests wrote there after it finished)."""
    finished = (workdir / "results/audit/manifest.json").stat().st_mtime
    return {
        str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((workdir / "results").rglob("*"))
        if p.is_file() and p.stat().st_mtime <= finished
    }


def manifest(workdir: Path, name: str = "manifest.json") -> dict:
    return json.loads((workdir / "results/audit" / name).read_text(encoding="utf-8"))


# ------------------------------------------------------------------ byte-identical reruns


def test_two_runs_write_byte_identical_files(runs):
    first, second = result_files(runs.a), result_files(runs.b)
    assert sorted(first) == sorted(second)
    differ = sorted(path for path in first if first[path] != second[path] and path not in NOT_IN_MANIFEST)
    assert differ == [], f"outputs differ between two runs from the same inputs: {differ}"
    for fmt in runs.formats:
        assert f"results/reports/{runs.quarter}/quarterly.{fmt}" in first


def test_run_manifests_differ_only_in_their_timestamps(runs):
    first, second = manifest(runs.a), manifest(runs.b)
    assert audit.without_timestamps(first) == audit.without_timestamps(second)


def test_no_absolute_path_or_wall_clock_time_in_any_output(runs):
    today = dt.date.today().isoformat()
    for workdir in (runs.a, runs.b):
        for rel in result_files(workdir):
            if rel in NOT_IN_MANIFEST:
                continue
            path = workdir / rel
            data = path.read_bytes()
            for root in (runs.a, runs.b):
                assert str(root).encode() not in data, f"{rel} contains the absolute path {root}"
            # Today's date in an output means a clock leaked (the demo's data ends before any test run).
            assert today.encode() not in data or today <= "2026-09-30", f"{rel} contains today's date {today}"
            if path.suffix == ".pdf":
                dates = re.findall(rb"/(?:CreationDate|ModDate)\s*\(D:(\d+)", data)
                assert dates and all(d.startswith(b"19700101") for d in dates), f"{rel}: PDF dates {dates}"


class OutputPaths(dict):
    """output name -> a file in a directory, for whatever names a builder asks for."""

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory

    def __missing__(self, name: str) -> str:
        self[name] = str(self.directory / f"{name}.parquet")
        return self[name]


def test_table_builders_write_identical_bytes_on_every_call(runs, tmp_path):
    """More samples than two runs: a float aggregation must not depend on row order or threads."""
    from types import SimpleNamespace

    from analysis import engagement, pipeline

    config = manifest(runs.a)["config"]["content"]
    canonical = {name: str(runs.a / f"results/canonical/{name}.parquet") for name in ("employees", "survey_responses", "survey_items")}
    seen = []
    for attempt in range(3):
        out = OutputPaths(tmp_path / str(attempt))
        out.directory.mkdir()
        engagement.build(canonical["survey_responses"], canonical["survey_items"], canonical["employees"], config, out)
        pipeline.turnover(SimpleNamespace(employees=canonical["employees"]), SimpleNamespace(turnover=out["turnover"], cost=out["cost"]), config)
        seen.append({name: hashlib.sha256(Path(path).read_bytes()).hexdigest() for name, path in sorted(out.items())})
    assert seen[0] == seen[1] == seen[2]
    assert seen[0]["engagement"] == result_files(runs.a)["results/tables/engagement.parquet"]


# ------------------------------------------------------------------ the manifests


def test_manifests_validate_and_cover_every_file(runs):
    built, run = manifest(runs.a, "build_manifest.json"), manifest(runs.a)
    audit.validate(built, "build_manifest.schema.json")
    audit.validate(run, "manifest.schema.json")
    assert list(built) == ["code", "config", "ids", "inputs", "outputs"]
    assert {"git_commit": None, "dirty": None} == built["code"]  # a copy, not a git checkout
    outputs = {e["path"]: e for e in run["outputs"]}
    inputs = {e["path"]: e for e in run["inputs"]}
    for entry in built["outputs"]:
        assert outputs[entry["path"]]["sha256"] == entry["sha256"], entry["path"]
    assert not any(p.startswith("results/reports/") for p in (e["path"] for e in built["outputs"]))
    assert {"results/tables/turnover.parquet", f"results/numbers/{runs.quarter}.json", "results/canonical/employees.parquet"} <= {e["path"] for e in built["outputs"]}
    assert run["build_manifest"]["sha256"] == outputs["results/audit/build_manifest.json"]["sha256"]
    assert built["ids"] == [{k: e[k] for k in ("id", "file", "data")} for e in run["ids"]]
    # every file the run wrote is accounted for, and Snakemake's record says which job wrote it
    written = set(result_files(runs.a)) - NOT_IN_MANIFEST
    assert written - set(outputs) == set(), "files under results/ the manifest does not cover"
    assert [p for p, e in outputs.items() if not e["rule"]] == []
    # script: rules pass the hash of the code they run as a param (analysis.pipeline.rule_code)
    assert [p for p, e in outputs.items() if not e["code_sha256"]] == [], "every output names the code that wrote it"
    assert not [p for p, e in outputs.items() if any("code-sha256:" in str(v) for v in e["params"])]
    turnover, engagement = outputs["results/tables/turnover.parquet"], outputs["results/tables/engagement.parquet"]
    assert turnover["code_sha256"] == outputs["results/tables/cost.parquet"]["code_sha256"] != engagement["code_sha256"]
    for path, e in outputs.items():
        assert set(e["inputs"]) <= set(outputs) | set(inputs), f"{path}: inputs outside the manifest"
    assert {e["kind"] for e in inputs.values()} >= {"export", "profile", "template"}
    roster = inputs["data/demo/hris_roster.csv"]
    assert roster["rows_read"] == roster["rows_accepted"] + roster["rows_rejected"]
    assert outputs[f"results/reports/{runs.quarter}/quarterly.html"]["rule"] == "render_quarterly"
    assert outputs["results/tables/turnover.parquet"]["inputs"] == ["results/canonical/employees.parquet"]


def test_every_id_a_report_shows_is_in_the_manifest(runs):
    known = {e["id"] for e in manifest(runs.a)["ids"]}
    kinds = {i.split(":")[0] for i in known}
    assert kinds == {"fig", "tbl", "num", "tab"}
    shown_anywhere = set()
    for report in (runs.a / "results/reports").rglob("*.html"):
        shown = audit.ids_shown_in(str(report))
        unknown = {i for i in shown - known if not i.startswith("tab:")}  # "tab:…" may occur in inlined scripts
        assert unknown == set(), f"{report.name} shows IDs the manifest does not know"
        shown_anywhere |= shown & known
    assert f"fig:turnover-trend:{runs.quarter}" in shown_anywhere and f"num:voluntary-turnover:{runs.quarter}" in shown_anywhere


# ------------------------------------------------------------------ trace


def test_every_id_traces_down_to_input_hashes(runs):
    run = manifest(runs.a)
    inputs = {e["path"]: e["sha256"] for e in run["inputs"] if e["kind"] == "export"}
    pattern = re.compile(r"^\s+(\S+)  sha256 ([0-9a-f]{64})  \[input: export\]", re.MULTILINE)
    for entry in run["ids"]:
        text = "\n".join(trace.trace(run, entry["id"], runs.a))
        assert f"config       sha256 {run['config']['sha256']}" in text
        source = entry["source"]
        if entry["data"] == "config" or (entry["kind"] in ("fig", "tbl") and not source.get("tables")):
            continue  # read from the configuration: its hash (above) is the whole lineage
        reached = dict(pattern.findall(text))
        assert reached, f"{entry['id']} does not trace down to an input file:\n{text[:3000]}"
        assert all(inputs[p] == h for p, h in reached.items()), entry["id"]
        single_table = entry["kind"] == "num" and source["table"].endswith(".parquet") and "{" not in source["table"]
        if single_table and "suppressed" not in source["filter"]:
            assert re.search(r"→ [1-9]\d* row\(s\)", text), f"{entry['id']}: its row filter selects no table row"


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis.cli", *args], cwd=workdir, capture_output=True, text=True, env=env(), check=False)


def test_trace_of_an_unknown_id_lists_near_matches(runs):
    done = cli(runs.a, "trace", f"num:voluntary-turnovr:{runs.quarter}")
    assert done.returncode == 2
    assert f"unknown ID 'num:voluntary-turnovr:{runs.quarter}'" in done.stderr
    assert f"Nearest IDs:\n  num:voluntary-turnover:{runs.quarter}" in done.stderr


def test_contributing_rows_reproduce_the_table_cell_and_point_at_input_rows(runs, tmp_path):
    q = runs.quarter
    done = cli(runs.a, "trace", f"num:voluntary-turnover:{q}", "--rows", str(tmp_path / "turnover.csv"))
    assert done.returncode == 0, done.stderr
    rows = pl.read_csv(tmp_path / "turnover.csv", try_parse_dates=True)
    cell = pl.read_parquet(runs.a / "results/tables/turnover.parquet").filter((pl.col("level") == "organisation") & (pl.col("quarter") == q)).row(0, named=True)
    start = quarter_start(q)
    employed_at_start = rows.filter((pl.col("hire_date") <= start) & (pl.col("exit_date").is_null() | (pl.col("exit_date") >= start)))
    assert employed_at_start.height == cell["headcount_start"]
    roster = next(e for e in manifest(runs.a)["inputs"] if e["path"] == "data/demo/hris_roster.csv")
    assert rows["source_file"].unique().to_list() == ["data/demo/hris_roster.csv"]
    assert rows["source_row"].min() >= 2 and rows["source_row"].max() <= roster["rows_read"] + 1
    assert not any(c in rows.columns for c in ("First Name", "Last Name", "Work Email", "Employee ID"))

    done = cli(runs.a, "trace", f"num:respondents:{q}", "--rows", str(tmp_path / "respondents.parquet"))
    assert done.returncode == 0, done.stderr
    answers = pl.read_parquet(tmp_path / "respondents.parquet")
    record = next(r for r in json.loads((runs.a / f"results/numbers/{q}.json").read_text()) if r["id"] == f"num:respondents:{q}")
    assert answers["response_id"].n_unique() == record["value"]
    assert set(answers["source_file"].unique()) <= {e["path"] for e in manifest(runs.a)["inputs"]}


def test_rows_are_refused_below_the_minimum_group_size(runs, tmp_path):
    strict = manifest(runs.a)
    strict["config"]["content"]["privacy"]["min_group_size"] = 100_000
    (tmp_path / "strict.json").write_text(json.dumps(strict))
    done = cli(runs.a, "trace", f"num:voluntary-turnover:{runs.quarter}", "--manifest", str(tmp_path / "strict.json"), "--rows", str(tmp_path / "rows.csv"))
    assert done.returncode == 3 and "fewer than privacy.min_group_size = 100000 people" in done.stderr
    assert not (tmp_path / "rows.csv").exists()


# ------------------------------------------------------------------ verify


@pytest.mark.parametrize("changed", ["data/demo/hris_roster.csv", "results/figures/{quarter}/turnover-trend.svg", "results/audit/build_manifest.json"])
def test_verify_names_exactly_the_file_whose_byte_flipped(runs, changed):
    path = runs.a / changed.format(quarter=runs.quarter)
    assert cli(runs.a, "verify").returncode == 0
    original, times = path.read_bytes(), path.stat()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    try:
        path.write_bytes(bytes(flipped))
        done = cli(runs.a, "verify")
        assert done.returncode == 1
        named = done.stdout.strip().splitlines()
        assert len(named) == 1 and named[0].split(" (")[0].endswith(f"changed: {changed.format(quarter=runs.quarter)}"), named
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))  # the shared run must stay up to date for Snakemake
    assert cli(runs.a, "verify").returncode == 0


# ------------------------------------------------------------------ Snakemake's own report


def test_snakemake_report_is_a_provenance_document(runs, tmp_path):
    formats = json.dumps({"quarters": [], "formats": runs.formats, "engine": "auto"})
    target = tmp_path / "snakemake-report.html"  # docs/audit.md: results/audit/snakemake-report.html; not in the shared run
    done = subprocess.run(snakemake_command("--config", f"report={formats}", "--report", str(target)), cwd=runs.a, env=env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    html = target.read_text(encoding="utf-8", errors="replace")
    for figure in ("turnover-trend", "driver-trend", "team-driver-heatmap"):
        assert f"fig:{figure}:{runs.quarter}" in html, figure
    assert "Annualised voluntary turnover per quarter" in html  # a figure's caption
    assert "build manifest" in html and "Figures" in html
