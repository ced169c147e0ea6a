"""analysis.reportkit: what templates call, on hand-built results (no workflow run, no kernel)."""

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

import report_fixtures as fx
from analysis import reportkit
from analysis.reportkit import Report, ReportError
from conftest import REPO

QUARTER = "2026Q3"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("kit")
    fx.build_results(root)
    return root


@pytest.fixture
def shown(monkeypatch):
    """What the report displayed (HTML/SVG/Markdown objects), in order."""
    out = []
    monkeypatch.setattr(reportkit, "display", out.append)
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_build_manifest(root: Path, path: Path, *, commit: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """A build manifest in the provenance rule's shape (workflow/schemas/build_manifest.schema.json)."""
    results = root / "results"
    outputs = [{"path": str(p.relative_to(root)), "sha256": sha(p), "bytes": p.stat().st_size} for p in sorted(results.rglob("*")) if p.is_file() and "audit" not in p.parts]
    ids = []
    for p in sorted(results.glob("figures/*/*.vl.json")):
        meta = json.loads(p.read_text(encoding="utf-8"))["usermeta"]["retain"]
        ids.append({"id": meta["id"], "file": str(p.relative_to(root)), "data": str(p.relative_to(root)).replace(".vl.json", ".parquet")})
    for p in sorted(results.glob("figures/*/*.tbl.json")):
        meta = json.loads(p.read_text(encoding="utf-8"))
        ids.append({"id": meta["id"], "file": str(p.relative_to(root)), "data": str(p.relative_to(root)).replace(".tbl.json", ".parquet")})
    for record in json.loads((results / "numbers" / f"{QUARTER}.json").read_text(encoding="utf-8")):
        ids.append({"id": record["id"], "file": f"results/numbers/{QUARTER}.json", "data": record["source"]["table"]})
    manifest = {"code": {"git_commit": commit, "dirty": False}, "config": {"sha256": "c" * 64}, "inputs": [], "outputs": outputs, "ids": ids}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def report(root: Path, **kw) -> Report:
    kw.setdefault("build_manifest", None)
    return Report(str(root / "results"), QUARTER, kw.pop("output_format", "html"), kw.pop("render_engine", "jupyter"), **kw)


def html_of(objs) -> str:
    return "\n".join(getattr(o, "data", "") or "" for o in objs)


# ------------------------------------------------------------------ numbers and sentences


def test_num_prints_the_record_display_tagged_with_its_id(root):
    r = report(root)
    record = r.record("voluntary-turnover")
    assert r.num("voluntary-turnover") == (
        f'<span class="num" data-id="{record["id"]}">{record["display"]}</span><sup class="num-id">{record["id"]}</sup>'
    )
    assert list(r.used) == ["num:voluntary-turnover:2026Q3"]
    with pytest.raises(ReportError, match="no number 'num:nope:2026Q3'"):
        r.num("nope")


def test_say_fills_a_sentence_with_numbers_by_name(root):
    r = report(root)
    text = r.say("turnover.sites", high_site=("text", r.subject("site-highest-turnover")), high="site-highest-turnover", low_site=("text", "Beta"), low="site-lowest-turnover")
    assert text.startswith("By site, Alpha ran highest at <span") and 'data-id="num:site-lowest-turnover:2026Q3"' in text


def test_french_report_reformats_values_and_translates_categories(root):
    r = report(root, language="fr")
    assert r.display("voluntary-turnover").endswith("\u202f%") and "," in r.display("voluntary-turnover")
    assert r.display("voluntary-turnover-band") == "dans la fourchette des centres de contact"
    assert r.subject("driver-mission") == "Mission" and r.display("driver-strongest") == "Management"
    assert r.section("summary") == '\n<h2 id="summary">Synthèse</h2>\n'


def test_sections_keep_stable_anchors_per_engine(root):
    assert report(root).section("data-quality") == '\n<h2 id="data-quality">Data quality</h2>\n'
    assert report(root, render_engine="quarto").section("data-quality") == "\n## Data quality {#data-quality}\n"
    typst = report(root, output_format="pdf", render_engine="quarto")
    assert typst.mode == "typst" and typst.section("methods") == "\n## Methods {#methods}\n"
    assert report(root, output_format="pdf").mode == "print"


def test_typst_numbers_are_markdown(root):
    r = report(root, output_format="pdf", render_engine="quarto")
    assert re.fullmatch(r"[0-9.]+%\^\\\[num:voluntary-turnover:2026Q3\\\]\^", r.num("voluntary-turnover"))


def test_kpi_cards_show_value_interval_change_and_gauge(root, shown):
    r = report(root)
    r.kpis([{"title": "kpi.voluntary-turnover", "value": "voluntary-turnover", "interval": "voluntary-turnover", "change": "voluntary-turnover-change", "gauge": True}])
    page = html_of(shown)
    assert 'data-kpi="voluntary-turnover"' in page and 'class="kpi-gauge"' in page and "gauge-band" in page
    for name in ("voluntary-turnover", "voluntary-turnover-low", "voluntary-turnover-high", "voluntary-turnover-change", "benchmark-band-low"):
        assert f"num:{name}:2026Q3" in page or name.startswith("benchmark"), name
    assert "since 2026Q2" in page


# ------------------------------------------------------------------ exhibits


def test_figure_in_html_embeds_the_spec_and_caption(root, shown):
    r = report(root)
    r.figure("fig:turnover-trend:2026Q3")
    page = html_of(shown)
    assert 'data-figure-id="fig:turnover-trend:2026Q3"' in page and "window.vegaEmbed(" in page
    assert "fig:turnover-trend:2026Q3 — Annualised voluntary turnover" in page
    assert "<code>results/figures/2026Q3/turnover-trend.parquet</code>" in page


def test_figure_for_print_is_the_static_svg(root, shown):
    r = report(root, output_format="pdf")
    r.figure("fig:driver-trend:2026Q3")
    page = html_of(shown)
    assert '<img class="retain-static"' in page and "data:image/svg+xml;base64," in page and "vegaEmbed" not in page


def test_figure_for_typst_is_svg_then_markdown_caption(root, shown):
    r = report(root, output_format="pdf", render_engine="quarto")
    r.figure("fig:driver-trend:2026Q3")
    assert type(shown[0]).__name__ == "SVG" and type(shown[1]).__name__ == "Markdown"
    assert "fig:driver-trend:2026Q3 —" in shown[1].data


def test_figure_ids_are_checked(root):
    r = report(root)
    with pytest.raises(ReportError, match="does not belong to this report"):
        r.figure("fig:turnover-trend:2026Q2")
    with pytest.raises(ReportError, match="not a figure or table ID"):
        r.figure("turnover-trend")
    with pytest.raises(ReportError, match="missing"):
        r.figure("fig:nope:2026Q3")


def test_table_marks_hidden_cells_and_folds_long_tables(root, shown):
    r = report(root, label="research")
    r.table("tbl:turnover-team:research")
    page = html_of(shown)
    assert page.count('class="number hidden-cell">hidden</td>') > 0
    assert "<details><summary>Turnover per team" in page and "hidden: small group" in page and "hidden: would reveal a small group" in page
    assert 'data-table-id="tbl:turnover-team:research"' in page


# ------------------------------------------------------------------ audit appendix


def test_fixture_build_manifest_has_the_provenance_rules_shape(root, tmp_path):
    schema = json.loads((REPO / "workflow/schemas/build_manifest.schema.json").read_text(encoding="utf-8")) if (REPO / "workflow/schemas/build_manifest.schema.json").exists() else None
    if schema is None:
        pytest.skip("build manifest schema not present")
    manifest = json.loads(make_build_manifest(root, tmp_path / "bm.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(manifest)


def test_appendix_states_the_build_manifest_hash_and_every_id_used(root, shown, tmp_path):
    manifest = make_build_manifest(root, root / "results" / "audit" / "build_manifest.json")
    r = report(root, build_manifest=str(manifest))
    r.num("voluntary-turnover")
    r.num("suppressed-cells")
    r.num("benchmark-band-low")
    r.figure("fig:turnover-trend:2026Q3")
    shown.clear()
    r.audit_appendix()
    page = html_of(shown)
    assert f"This report was built from manifest <code>{sha(manifest)}</code>" in page
    assert "git <code>0123456789abcdef0123456789abcdef01234567</code>" in page
    rows = {row["id"]: row for row in r.audit_rows()}
    assert list(rows) == ["num:voluntary-turnover:2026Q3", "num:suppressed-cells:2026Q3", "num:benchmark-band-low:2026Q3", "fig:turnover-trend:2026Q3"]
    turnover = root / "results/tables/turnover.parquet"
    assert rows["num:voluntary-turnover:2026Q3"]["sha256"] == sha(turnover) and rows["num:voluntary-turnover:2026Q3"]["status"] == "manifest"
    assert rows["num:suppressed-cells:2026Q3"]["sha256"].startswith(f"turnover.parquet:{sha(turnover)} engagement.parquet:")
    assert rows["num:benchmark-band-low:2026Q3"]["sha256"] == "c" * 64  # the config's hash
    assert rows["fig:turnover-trend:2026Q3"]["data"] == "results/figures/2026Q3/turnover-trend.parquet"
    for row_id in rows:
        assert f'<tr data-audit-id="{row_id}">' in page and f"<code>retain trace {row_id}</code>" in page


def test_appendix_says_plainly_when_the_code_has_no_commit(root, shown, tmp_path):
    manifest = make_build_manifest(root, root / "results" / "audit" / "build_manifest.json", commit=None)
    r = report(root, build_manifest=str(manifest))
    r.num("voluntary-turnover")
    shown.clear()
    r.audit_appendix()
    page = html_of(shown)
    assert "Code version: not recorded — this run was not made from a git checkout" in page
    assert "git <code>" not in page and "None" not in page


def test_appendix_refuses_a_stale_build_manifest(root, tmp_path):
    manifest = make_build_manifest(root, tmp_path / "bm.json")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    for entry in data["outputs"]:
        if entry["path"] == "results/tables/turnover.parquet":
            entry["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data), encoding="utf-8")
    r = report(root, build_manifest=str(manifest))
    r.num("headcount")
    with pytest.raises(ReportError, match="stale build manifest: results/tables/turnover.parquet"):
        r.audit_rows()


def test_appendix_flags_ids_missing_from_the_manifest(root, tmp_path, shown):
    manifest = make_build_manifest(root, tmp_path / "bm.json")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["ids"] = [e for e in data["ids"] if e["id"] != "num:headcount:2026Q3"]
    manifest.write_text(json.dumps(data), encoding="utf-8")
    r = report(root, build_manifest=str(manifest))
    r.num("headcount")
    r.audit_appendix()
    assert "(hashed at render: not in the build manifest)" in html_of(shown)


def test_appendix_without_a_manifest_hashes_the_files(root, shown):
    r = report(root)
    r.num("rows-read")
    r.audit_appendix()
    page = html_of(shown)
    assert "No build manifest was given" in page
    assert r.audit_rows()[0]["sha256"] == sha(root / "results/ingest/manifest.json")


def test_appendix_in_typst_is_a_markdown_table(root, shown, tmp_path):
    manifest = make_build_manifest(root, tmp_path / "bm.json")
    r = report(root, output_format="pdf", render_engine="quarto", build_manifest=str(manifest))
    r.num("headcount")
    r.audit_appendix()
    text = shown[-1].data
    assert f"`{sha(manifest)}`" in text and "| `num:headcount:2026Q3` |" in text


def test_templates_only_call_reportkit(repo):
    """Templates never compute: they import only reportkit and use no data library."""
    for qmd in (repo / "reports").glob("*.qmd"):
        body = qmd.read_text(encoding="utf-8")
        for cell in re.findall(r"```\{python\}\n(.*?)```", body, re.S):
            imports = re.findall(r"^\s*(?:from\s+\S+\s+)?import\s+.*$", cell, re.M)
            assert all(line.strip() == "from analysis.reportkit import Report" for line in imports), (qmd.name, imports)
            assert not re.search(r"\b(pl|pd|np|polars|pandas|numpy|json|open)\b[.(]", cell), (qmd.name, cell)
            assert not re.search(r"r\.value\([^)]*\)\s*[-+*/<>]", cell), (qmd.name, "arithmetic or comparison on a value")


def test_quarto_project_lists_the_shared_theme(repo):
    project = yaml.safe_load((repo / "reports/_quarto.yml").read_text(encoding="utf-8"))
    assert project["format"]["html"]["css"] == "theme/retain.css"
    assert (repo / "reports" / project["format"]["html"]["css"]).is_file()
    assert project["format"]["html"]["embed-resources"] is True
    assert project["format"]["typst"]["papersize"] == "a4"
