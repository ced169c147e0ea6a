"""The HTML reports in headless Chromium (Debian's; no browser download) with the network blocked:
no request leaves the page, no request fails, no console error, every chart is drawn, every
section is there, tooltips work. Screenshots go to test-artifacts/ (git-ignored)."""

import json
import re
from pathlib import Path

import pytest

from analysis.exhibits import registered
from conftest import REPO, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ARTIFACTS = REPO / "test-artifacts"
QUARTERLY_SECTIONS = ["summary", "turnover", "drivers", "retention", "programmes", "data-quality", "methods", "audit"]
PROGRAMME_SECTIONS = ["programme-mission", "programme-recognition", "programme-worklife"]  # h3 under "programmes"
RESEARCH_SECTIONS = ["turnover-models", "engagement-models", "enps-models", "response", "retention-models", "programme-models", "diagnostics", "data-and-privacy", "config-used", "audit"]


@pytest.fixture(scope="module")
def browser():
    binary = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def open_offline(browser, path: Path, width: int = 1280):
    """Load a report from disk with every non-file request blocked; returns (page, problems)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, offline=True)
    problems: dict[str, list[str]] = {"network": [], "failed": [], "console": [], "pageerror": []}

    def route(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            problems["network"].append(url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("requestfailed", lambda request: problems["failed"].append(f"{request.url} {request.failure}"))
    page.on("console", lambda message: problems["console"].append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems["pageerror"].append(str(error)))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, problems


def wait_for_charts(page, expected: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('figure.retain-figure .retain-chart svg.marks, figure.retain-figure .retain-chart canvas').length >= n",
        arg=expected,
        timeout=60_000,
    )


def check_report(browser, path: Path, figure_ids: list[str], sections: list[str], shot: str) -> dict:
    page, problems = open_offline(browser, path)
    wait_for_charts(page, len(figure_ids))
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}-first-screen.png"))
    assert problems == {"network": [], "failed": [], "console": [], "pageerror": []}, problems

    shown = page.eval_on_selector_all("figure.retain-figure", "els => els.map(e => e.dataset.figureId)")
    assert shown == figure_ids
    charts = page.eval_on_selector_all(
        "figure.retain-figure",
        """els => els.map(e => {
            const svg = e.querySelector('.retain-chart svg.marks');
            const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return {id: e.dataset.figureId, marks: svg ? svg.querySelectorAll('path, rect, line, circle, text').length : 0,
                    width: box.width, height: box.height, text: svg ? svg.textContent : ''};
        })""",
    )
    for chart in charts:
        assert chart["marks"] > 20 and chart["width"] > 300 and chart["height"] > 150, chart["id"]
    for section in sections:
        assert page.locator(f"h2#{section}").count() == 1, section
    return {"page": page, "charts": {c["id"]: c for c in charts}}


def quarterly_figures(quarter: str) -> list[str]:
    return [e.id(quarter) for e in registered("quarterly") if e.kind == "fig"]


def test_quarterly_report_offline_every_chart_and_section(browser, workflow_run):
    workdir, _, _ = workflow_run
    html = workdir / "results/reports/2026Q3/quarterly.html"
    result = check_report(browser, html, quarterly_figures("2026Q3"), QUARTERLY_SECTIONS, "quarterly-2026Q3")
    page = result["page"]
    # Each chart states its finding: the drawn title is the spec's title (from the same table as the text).
    for figure_id, chart in result["charts"].items():
        stem = figure_id.split(":")[1]
        spec = json.loads((workdir / f"results/figures/2026Q3/{stem}.vl.json").read_text(encoding="utf-8"))
        title = spec["usermeta"]["retain"]["title"]
        assert title in chart["text"], figure_id
    # The one-screen summary: six cards, all above the fold at 1280x900.
    cards = page.locator(".kpi")
    assert cards.count() == 6
    assert all(cards.nth(i).bounding_box()["y"] + cards.nth(i).bounding_box()["height"] <= 900 for i in range(6))
    # Every number shown carries its ID.
    ids = page.eval_on_selector_all("span.num", "els => els.map(e => e.dataset.id)")
    assert len(ids) > 40 and all(re.fullmatch(r"num:[a-z0-9-]+:2026Q3", i) for i in ids)
    # Tooltips are HTML and work offline.
    page.locator("#turnover").scroll_into_view_if_needed()
    point = page.locator("figure[data-figure-id='fig:turnover-trend:2026Q3'] svg.marks path[aria-roledescription='line mark'], figure[data-figure-id='fig:turnover-trend:2026Q3'] svg.marks g.mark-symbol path").last
    point.hover(force=True)
    page.wait_for_selector("#vg-tooltip-element.visible", timeout=10_000)
    assert "2026Q3" in page.inner_text("#vg-tooltip-element")
    # One subsection per programme; the new sections' charts are saved on their own for review.
    for section in PROGRAMME_SECTIONS:
        assert page.locator(f"h3#{section}").count() == 1, section
    for stem in ("km-curves", "hazard-ratios", "event-study-mission"):
        page.locator(f"figure[data-figure-id='fig:{stem}:2026Q3']").screenshot(path=str(ARTIFACTS / f"quarterly-2026Q3-{stem}.png"))
    # The forest plot is on a log scale with its reference line at 1; the event study marks the start.
    forest = json.loads((workdir / "results/figures/2026Q3/hazard-ratios.vl.json").read_text(encoding="utf-8"))
    assert any(layer.get("encoding", {}).get("x", {}).get("scale", {}).get("type") == "log" for layer in forest["layer"])
    assert "no association (1)" in result["charts"]["fig:hazard-ratios:2026Q3"]["text"]
    assert "start" in result["charts"]["fig:event-study-mission:2026Q3"]["text"]
    # The engine is in the footer and the audit appendix lists what the page showed.
    assert page.locator(".retain-footer[data-engine]").count() == 1
    audit_ids = page.eval_on_selector_all("tr[data-audit-id]", "els => els.map(e => e.dataset.auditId)")
    assert set(ids) | set(quarterly_figures("2026Q3")) <= set(audit_ids)
    page.context.close()


def test_research_report_offline_every_chart_and_section(browser, workflow_run):
    workdir, _, _ = workflow_run
    html = workdir / "results/reports/research.html"
    figures = [e.id("research") for e in registered("research") if e.kind == "fig"]
    result = check_report(browser, html, figures, RESEARCH_SECTIONS, "research")
    page = result["page"]
    tables = page.eval_on_selector_all("[data-table-id]", "els => els.map(e => e.dataset.tableId)")
    assert tables == [e.id("research") for e in registered("research") if e.kind == "tbl"]
    assert page.locator("h3#sensitivity").count() == 1
    # Long tables fold but are complete.
    team = page.locator("[data-table-id='tbl:turnover-team:research'] details")
    team.locator("summary").click()
    assert team.locator("tbody tr").count() == 144
    page.context.close()


def test_report_opens_narrow_without_errors(browser, workflow_run):
    """A phone-width window: cards reflow, charts still draw."""
    workdir, _, _ = workflow_run
    page, problems = open_offline(browser, workdir / "results/reports/2026Q3/quarterly.html", width=420)
    wait_for_charts(page, len(quarterly_figures("2026Q3")))
    page.screenshot(path=str(ARTIFACTS / "quarterly-2026Q3-narrow.png"))
    assert not any(problems.values()), problems
    page.context.close()
