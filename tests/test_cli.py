"""The `retain` command line: synth reproduces the demo, trace and verify work on a manifest."""

import hashlib
import json
import subprocess
import sys

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


@pytest.fixture
def manifest_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "results/numbers").mkdir(parents=True)
    (tmp_path / "data/in.csv").write_text("a,b\n1,2\n")
    record = {"id": "num:headcount:2026Q3", "label": "Headcount", "value": 5, "display": "5", "unit": "people", "source": {"table": "results/tables/turnover.parquet", "filter": {"level": "organisation", "quarter": "2026Q3"}, "column": "headcount_end"}}
    (tmp_path / "results/numbers/2026Q3.json").write_text(json.dumps([record]))
    files = ["data/in.csv", "results/numbers/2026Q3.json"]
    entry = lambda p: {"path": p, "sha256": hashlib.sha256((tmp_path / p).read_bytes()).hexdigest(), "bytes": (tmp_path / p).stat().st_size}  # noqa: E731
    manifest = {
        "code": {"git_commit": "abc", "dirty": False},
        "config": {"sha256": "c0ffee"},
        "inputs": [entry(files[0]) | {"rows_read": 1, "rows_rejected": 0}],
        "outputs": [entry(files[1])],
        "ids": [{"id": "num:headcount:2026Q3", "file": "results/numbers/2026Q3.json", "data": "results/tables/turnover.parquet"}],
    }
    (tmp_path / "results/audit").mkdir()
    (tmp_path / "results/audit/manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_verify_passes_then_names_the_changed_file(manifest_dir, capsys):
    assert main(["verify"]) == 0
    path = manifest_dir / "data/in.csv"
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "input changed: data/in.csv" in out and "2026Q3.json" not in out


def test_trace_prints_lineage_and_unknown_ids_get_near_matches(manifest_dir, capsys):
    assert main(["trace", "num:headcount:2026Q3"]) == 0
    out = capsys.readouterr().out
    assert 'row filter {"level": "organisation", "quarter": "2026Q3"}' in out and "data/in.csv  sha256" in out
    assert main(["trace", "num:headcont:2026Q3"]) == 2
    assert "Did you mean: num:headcount:2026Q3" in capsys.readouterr().err
