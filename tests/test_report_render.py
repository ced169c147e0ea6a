"""The real templates rendered by the Jupyter engine on hand-built results (no workflow run):
language parameterisation, metadata (title, lang), the audit appendix from a build manifest,
hidden cells, and the wiring of the render rules."""

import json
import re
from pathlib import Path

import pytest

import report_fixtures as fx
from analysis import pipeline
from analysis.render import quarto_command, render
from conftest import REPO
from test_report_kit import make_build_manifest, sha

QUARTER = "2026Q3"


def render_report(root: Path, template: str, language: str, manifest: Path | None = None) -> str:
    config = json.loads(json.dumps(fx.CONFIG))
    config["report"]["language"] = language
    kind = template.removesuffix(".qmd")
    result = render(
        REPO / "reports" / template,
        root / "out" / f"{kind}-{language}",
        output_stem=kind,
        params={
            "quarter": QUARTER,
            "results_dir": str(root / "results"),
            "organisation": "Fixture Org",
            "language": language,
            "build_manifest": str(manifest) if manifest else "",
        },
        metadata=pipeline.report_metadata(config, kind, QUARTER),
        engine="jupyter",
    )
    return result.outputs["html"].read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def french(tmp_path_factory):
    root = tmp_path_factory.mktemp("render-fr")
    fx.build_results(root, language="fr")
    return render_report(root, "quarterly.qmd", "fr")


def template_tree() -> list[str]:
    return sorted(str(p.relative_to(REPO)) for p in (REPO / "reports").rglob("*"))


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    root = tmp_path_factory.mktemp("render-en")
    fx.build_results(root, language="en")
    manifest = make_build_manifest(root, root / "results" / "audit" / "build_manifest.json")
    before = template_tree()
    page = render_report(root, "quarterly.qmd", "en", manifest)
    assert template_tree() == before, "a render wrote into reports/ (renders must use private build directories)"
    assert not list((root / "out").rglob(".build-*"))
    return root, manifest, page


def test_french_report_speaks_french_throughout(french):
    assert '<html lang="fr">' in french
    assert "<title>Rapport trimestriel sur la fidélisation et l’engagement – Fixture Org · 2026Q3</title>" in french
    for anchor, heading in (("summary", "Synthèse"), ("drivers", "Leviers d’engagement"), ("data-quality", "Qualité des données"), ("methods", "Méthodes"), ("audit", "Annexe d’audit")):
        assert f'<h2 id="{anchor}">{heading}</h2>' in french
    assert "Le turnover volontaire s’établit à" in french and "Produit par le moteur <b>jupyter</b>" in french
    assert '"formatLocale": {"decimal": ","' in french  # charts format numbers the French way
    numbers = re.findall(r'data-id="num:voluntary-turnover:2026Q3">([^<]+)<', french)
    assert numbers and all(n.endswith("\u202f%") and "," in n for n in numbers)
    visible = re.sub(r"<(script|style)\b.*?</\1>", "", french, flags=re.S)
    for english_word in ("Summary", "Data quality", "since 2026Q2", "95% interval", "hidden (n", "hidden: small"):
        assert english_word not in visible, english_word


def test_english_report_states_its_build_manifest(english):
    root, manifest, page = english
    assert '<html lang="en">' in page
    assert f"This report was built from manifest <code>{sha(manifest)}</code>" in page
    used = set(re.findall(r'data-id="(num:[^"]+)"', page)) | set(re.findall(r'data-figure-id="([^"]+)"', page)) | set(re.findall(r'data-table-id="([^"]+)"', page))
    audited = set(re.findall(r'<tr data-audit-id="([^"]+)"', page))
    assert used == audited
    assert "(hashed at render: not in the build manifest)" not in page


def test_report_opens_with_a_table_of_contents(english, french):
    """_quarto.yml asks for a table of contents (toc-depth 2): the Jupyter engine draws it too, under the title."""
    _, _, page = english
    nav = re.search(r'<nav class="retain-toc" aria-label="Contents">(.*?)</nav>', page, re.S)
    assert nav and page.index("</header>") < nav.start() < page.index('<h2 id="summary">')
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', nav.group(1))
    assert links[0] == ("summary", "Summary") and ("audit", "Audit appendix") in links
    assert [a for a, _ in links] == [a for a in re.findall(r'<h2 id="([^"]+)"', page)]  # every h2, in order; no h3 at depth 2
    assert '<nav class="retain-toc" aria-label="Sommaire">' in french and '<a href="#summary">Synthèse</a>' in french


def test_hidden_teams_are_marked_in_the_rendered_report(english):
    _, _, page = english
    assert "teams hidden to protect small groups: 2." in page.replace('<span class="num" data-id="num:teams-hidden:2026Q3">2</span><sup class="num-id">num:teams-hidden:2026Q3</sup>', "2")
    assert '"hidden_label": "hidden (n<5)"' in page or "hidden (n\\u003c5)" in page or "hidden (n<5)" in page


def test_research_report_renders_every_table(tmp_path):
    fx.build_results(tmp_path)
    page = render_report(tmp_path, "research.qmd", "en")
    tables = re.findall(r'data-table-id="([^"]+)"', page)
    from analysis.exhibits import registered

    assert tables == [e.id("research") for e in registered("research") if e.kind == "tbl"]
    assert "<details><summary>Turnover per team" in page and "hidden: small group" in page
    assert '<h2 id="config-used">Configuration used</h2>' in page


def test_metadata_reaches_quarto_as_dash_m():
    cmd = quarto_command(Path("quarterly.qmd"), "pdf", "quarterly.pdf", {"quarter": "2026Q3"}, {"title": "Rapport : T3", "lang": "fr"})
    assert cmd[:5] == ["quarto", "render", "quarterly.qmd", "--to", "typst"]
    assert ["-M", 'title:"Rapport : T3"'] == cmd[-4:-2] and ["-M", "lang:fr"] == cmd[-2:]
    with pytest.raises(ValueError, match="metadata key"):
        quarto_command(Path("q.qmd"), "html", "q.html", {}, {"bad key": 1})


def test_render_rules_are_wired_from_the_registry():
    config = {"period": {"start": "2026Q2", "end": QUARTER}, "report": {"quarters": [], "formats": ["html", "pdf"], "engine": "auto"}}
    outputs = pipeline.report_outputs(config)
    assert outputs == [f"results/reports/{QUARTER}/quarterly.html", f"results/reports/{QUARTER}/quarterly.pdf", "results/reports/research.html"]
    theme = pipeline.report_theme()
    assert theme[:2] == ["reports/_quarto.yml", "reports/theme/retain.css"] and theme[2].endswith("analysis/messages.yaml")
    smk = (REPO / "workflow/rules/report.smk").read_text(encoding="utf-8")
    assert "rule render_research:" in smk
    # The rule runs pipeline.render_research: named in a `run:` block, or through pipeline.RULES for `script:` rules.
    rules = getattr(pipeline, "RULES", {})
    assert "pipeline.render_research" in smk or rules.get("render_research", ("",))[0] == "analysis.pipeline:render_research"
    assert "pipeline.research_files()" in smk and "pipeline.figure_files(\"{quarter}\")" in smk
