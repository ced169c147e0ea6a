"""The `retain` command line: synth reproduces the demo, trace and verify work on a manifest."""

import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from analysis.cli import main
from conftest import REPO


def test_retain_synth_reproduces_the_committed_demo(tmp_path):
    done = subprocess.run([sys.executable, "-m", "analysis.cli", "synth", "--out", str(tmp_path), "--quiet"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    committed = sorted(p.relative_to(REPO / "data/demo") for p in (REPO / "data/demo").rglob("*") if p.is_file())
    assert committed == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for rel in committed:
        assert (tmp_path / rel).read_bytes() == (REPO / "data/demo" / rel).read_bytes(), rel


def entry(root: Path, path: str, **extra) -> dict:
    data = (root / path).read_bytes()
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} | extra


@pytest.fixture
def audited_run(tmp_path, monkeypatch):
    """A miniature run: an export, its canonical table, the turnover table, a number, and their manifest."""
    from analysis.turnover import turnover_table

    monkeypatch.chdir(tmp_path)
    for d in ("data", "results/canonical", "results/tables", "results/numbers", "results/audit"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "data/roster.csv").write_text("id,team\n" + "".join(f"{i},A\n" for i in range(8)))
    employees = pl.DataFrame(
        {
            "employee_key": [f"k{i:02d}" for i in range(8)],
            "hire_date": [date(2020, 1, 1)] * 8,
            "exit_date": [None] * 7 + [date(2026, 8, 1)],
            "exit_type": [None] * 7 + ["voluntary"],
            "team": ["A"] * 8,
            "site": ["S"] * 8,
            "source_file": ["data/roster.csv"] * 8,
            "source_row": list(range(2, 10)),
        }
    )
    employees.write_parquet(tmp_path / "results/canonical/employees.parquet")
    table = turnover_table(employees.lazy(), ["2026Q3"], 5)
    table.write_parquet(tmp_path / "results/tables/turnover.parquet")
    headcount = table.filter(pl.col("level") == "organisation")["headcount_end"][0]
    source = {"table": "results/tables/turnover.parquet", "filter": {"level": "organisation", "quarter": "2026Q3"}, "column": "headcount_end"}
    record = {"id": "num:headcount:2026Q3", "label": "Headcount", "value": headcount, "display": str(headcount), "unit": "people", "source": source}
    (tmp_path / "results/numbers/2026Q3.json").write_text(json.dumps([record]))
    job = {"params": [], "log": [], "code_sha256": "b" * 64, "shellcmd": None, "started": "2026-01-01T00:00:00Z", "finished": "2026-01-01T00:00:01Z"}
    manifest = {
        "code": {"git_commit": "c" * 40, "dirty": False},
        "config": {"sha256": "d" * 64, "content": {"privacy": {"min_group_size": 5}}},
        "inputs": [entry(tmp_path, "data/roster.csv", kind="export", rows_read=8, rows_accepted=8, rows_rejected=0)],
        "outputs": [
            entry(tmp_path, "results/canonical/employees.parquet", rule="ingest_table", inputs=["data/roster.csv"], **job),
            entry(tmp_path, "results/numbers/2026Q3.json", rule="collect_numbers", inputs=["results/tables/turnover.parquet"], **job),
            entry(tmp_path, "results/tables/turnover.parquet", rule="compute_turnover", inputs=["results/canonical/employees.parquet"], **job),
        ],
        "ids": [
            {"id": "num:headcount:2026Q3", "kind": "num", "file": "results/numbers/2026Q3.json", "data": source["table"], "source": source, "reports": []},
            {"id": "tab:turnover", "kind": "tab", "file": "results/tables/turnover.parquet", "data": "results/tables/turnover.parquet", "source": {}, "reports": []},
        ],
    }
    (tmp_path / "results/audit/manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def flip_byte(path: Path, at: int = 0) -> bytes:
    original = path.read_bytes()
    changed = bytearray(original)
    changed[at] ^= 0x01
    path.write_bytes(bytes(changed))
    return original


def test_verify_passes_then_names_exactly_the_changed_file(audited_run, capsys):
    assert main(["verify"]) == 0
    assert "all 1 inputs and 3 outputs match" in capsys.readouterr().out
    for changed, kind in (("data/roster.csv", "input"), ("results/tables/turnover.parquet", "output")):
        original = flip_byte(audited_run / changed, at=10)
        assert main(["verify"]) == 1
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and out[0].startswith(f"{kind} changed: {changed} (manifest "), out
        (audited_run / changed).write_bytes(original)
    (audited_run / "results/numbers/2026Q3.json").unlink()
    assert main(["verify"]) == 1
    assert capsys.readouterr().out.strip() == "output missing: results/numbers/2026Q3.json"


def test_verify_and_trace_without_a_manifest_say_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["verify"]) == 2 and "no manifest at results/audit/manifest.json" in capsys.readouterr().err
    assert main(["trace", "tab:turnover"]) == 2 and "run the workflow first" in capsys.readouterr().err


def test_trace_prints_the_row_filter_the_rows_and_the_lineage_down_to_input_hashes(audited_run, capsys):
    assert main(["trace", "num:headcount:2026Q3"]) == 0
    out = capsys.readouterr().out
    roster_sha = hashlib.sha256((audited_run / "data/roster.csv").read_bytes()).hexdigest()
    assert 'row filter   {"level": "organisation", "quarter": "2026Q3"}' in out
    assert "level = organisation and quarter = 2026Q3  → 1 row(s)" in out
    assert "the value the report states" in out
    assert "results/canonical/employees.parquet: 8 row(s), 8 people, in 1 cell(s)" in out
    assert "from data/roster.csv: 8 rows (rows 2–9) → employees" in out
    assert "← rule compute_turnover" in out and "← rule ingest_table" in out
    assert f"data/roster.csv  sha256 {roster_sha}  [input: export]  rows read 8, accepted 8, rejected 0" in out


def test_trace_of_an_unknown_id_lists_near_matches(audited_run, capsys):
    assert main(["trace", "num:headcont:2026Q3"]) == 2
    err = capsys.readouterr().err
    assert "unknown ID 'num:headcont:2026Q3'" in err and "Nearest IDs:\n  num:headcount:2026Q3" in err
    assert main(["trace", "--list", "tab:"]) == 0 and capsys.readouterr().out.strip() == "tab:turnover"


def test_trace_rows_writes_pseudonymised_rows_pointing_at_input_rows(audited_run, capsys):
    assert main(["trace", "num:headcount:2026Q3", "--rows", "rows.csv"]) == 0
    rows = pl.read_csv(audited_run / "rows.csv")
    assert rows["source_file"].unique().to_list() == ["data/roster.csv"] and rows["source_row"].to_list() == list(range(2, 10))
    assert rows["employee_key"].to_list() == [f"k{i:02d}" for i in range(8)] and "person" not in rows.columns


def test_trace_rows_refuses_a_group_below_the_minimum_size(audited_run, capsys):
    manifest_path = audited_run / "results/audit/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["config"]["content"]["privacy"]["min_group_size"] = 10
    manifest_path.write_text(json.dumps(manifest))
    assert main(["trace", "num:headcount:2026Q3", "--rows", "rows.csv"]) == 3
    assert "fewer than privacy.min_group_size = 10 people" in capsys.readouterr().err
    assert not (audited_run / "rows.csv").exists()
