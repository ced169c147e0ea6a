"""End to end: the Snakemake workflow on the demo data, in a temporary directory."""

import json
import re

import polars as pl
import pytest

from conftest import snakemake

pytestmark = pytest.mark.e2e
SECTIONS = ["Summary", "Turnover", "Engagement drivers", "Data quality", "Methods"]


@pytest.fixture(scope="module")
def run(workflow_run):
    """The session's one workflow run (tests/conftest.py)."""
    return workflow_run


def test_report_has_every_section_and_two_charts(run):
    workdir, formats, _ = run
    html = (workdir / "results/reports/2026Q3/quarterly.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert re.search(rf"<h2[^>]*>\s*{section}", html), section
    figures = re.findall(r'data-figure-id="(fig:[^"]+)"', html)
    from analysis.exhibits import registered

    assert figures == [e.id("2026Q3") for e in registered("quarterly") if e.kind == "fig"]
    assert figures[:2] == ["fig:turnover-trend:2026Q3", "fig:turnover-by-site:2026Q3"]
    assert not re.search(r'<(script|img|link)[^>]+(src|href)="https?://', html), "the HTML must not load anything from the network"
    assert "Rendered by the <b>jupyter</b> engine" in html or "Rendered by the <b>quarto</b> engine" in html
    if "pdf" in formats:
        assert (workdir / "results/reports/2026Q3/quarterly.pdf").read_bytes().startswith(b"%PDF")


def test_numbers_in_the_text_match_the_tables_they_came_from(run):
    workdir, _, _ = run
    html = (workdir / "results/reports/2026Q3/quarterly.html").read_text(encoding="utf-8")
    records = json.loads((workdir / "results/numbers/2026Q3.json").read_text())
    checked = 0
    for record in records:
        source = record["source"]
        plain_cell = "derivation" not in source and not any(isinstance(v, list) for v in source["filter"].values())
        if source["table"].endswith(".parquet") and "{" not in source["table"] and plain_cell:
            table = pl.read_parquet(workdir / source["table"])
            expr = pl.lit(True)
            for key, value in source["filter"].items():
                expr &= pl.col(key).is_null() if value is None else pl.col(key) == value
            rows = table.filter(expr)
            assert rows.height == 1, record["id"]
            assert rows[source["column"]][0] == pytest.approx(record["value"]), record["id"]
            checked += 1
        if record["id"] in html:
            assert f'data-id="{record["id"]}">{record["display"]}<' in html, record["id"]
    assert checked >= 15
    headcount = next(r for r in records if r["id"] == "num:headcount:2026Q3")
    assert 200 < headcount["value"] < 1000


def test_manifest_hashes_every_input_and_output(run):
    workdir, _, _ = run
    manifest = json.loads((workdir / "results/audit/manifest.json").read_text())
    inputs = {e["path"] for e in manifest["inputs"]}
    assert "data/demo/hris_roster.csv" in inputs and "data/demo/interventions.xlsx" in inputs
    assert sum(p.startswith("data/demo/surveys/") for p in inputs) == len(list((workdir / "data/demo/surveys").glob("*.csv")))
    outputs = {e["path"]: e["sha256"] for e in manifest["outputs"]}
    import hashlib

    for path in ("results/reports/2026Q3/quarterly.html", "results/tables/turnover.parquet", "results/figures/2026Q3/turnover-trend.svg"):
        assert outputs[path] == hashlib.sha256((workdir / path).read_bytes()).hexdigest()
    roster = next(e for e in manifest["inputs"] if e["path"] == "data/demo/hris_roster.csv")
    assert roster["rows_read"] == roster["rows_accepted"] + roster["rows_rejected"]
    assert roster["personal_columns_dropped"] == ["First Name", "Last Name", "Work Email"]
    assert str(workdir) not in (workdir / "results/audit/manifest.json").read_text(), "no absolute paths in the manifest"


def test_rerun_with_no_changes_does_nothing(run):
    workdir, _, report = run
    dry = snakemake(workdir, "--config", f"report={json.dumps(report)}", "--dry-run")
    assert dry.returncode == 0
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_no_identifier_or_name_reaches_an_output(run):
    workdir, _, _ = run
    roster = pl.read_csv(workdir / "data/demo/hris_roster.csv", infer_schema=False)
    full_names = (roster["First Name"] + " " + roster["Last Name"]).head(50)
    secrets = set(roster["Employee ID"].head(50)) | set(full_names) | set(roster["Work Email"].head(50))
    pattern = re.compile(r"\b(" + "|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True) if s) + r")\b")  # one pass per file
    for path in (workdir / "results").rglob("*"):
        if path.suffix in {".parquet", ".json", ".csv", ".html"} and path.is_file():
            text = pl.read_parquet(path).write_csv() if path.suffix == ".parquet" else path.read_text(encoding="utf-8", errors="replace")
            leaked = sorted(set(pattern.findall(text)))
            assert not leaked, f"{path.relative_to(workdir)} contains {leaked[:3]}"
