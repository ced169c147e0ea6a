"""The quarterly PDF: its pages rasterise (pdftoppm) with every chart drawn, and no chart is cut
from its caption by a page break. Page images go to test-artifacts/ (git-ignored)."""

import json
import os
import re
import shutil
import subprocess

import pytest

from analysis.exhibits import registered
from conftest import REPO, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ARTIFACTS = REPO / "test-artifacts"


def require_poppler() -> None:
    if not (shutil.which("pdftoppm") and shutil.which("pdftotext")):
        message = "poppler-utils (pdftoppm, pdftotext) are not installed"
        if os.environ.get("RETAIN_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " but RETAIN_REQUIRE_BROWSER=1")
        pytest.skip(message)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def page_texts(pdf) -> list[str]:
    done = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True)
    return [flat(page) for page in done.stdout.split("\f")]


def ink(png) -> float:
    """Share of pixels that are not (near) white."""
    from PIL import Image

    image = Image.open(png).convert("L")
    histogram = image.histogram()
    return 1 - sum(histogram[245:]) / (image.width * image.height)


@pytest.fixture(scope="module")
def pdf(workflow_run):
    require_chromium()
    require_poppler()
    workdir, formats, _ = workflow_run
    assert "pdf" in formats
    path = workdir / "results/reports/2026Q3/quarterly.pdf"
    assert path.read_bytes().startswith(b"%PDF")
    return workdir, path


def test_pages_rasterise_and_none_is_blank(pdf):
    _, path = pdf
    out = ARTIFACTS / "pdf-2026Q3"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(out / "page")], check=True)
    pages = sorted(out.glob("page-*.png"))
    assert 4 <= len(pages) <= 24, len(pages)  # summary, turnover, drivers, retention, three programmes, quality, methods, appendix
    for png in pages:
        assert ink(png) > 0.004, f"{png.name} is blank"


def test_every_chart_is_drawn_next_to_its_caption(pdf):
    workdir, path = pdf
    pages = page_texts(path)
    for exhibit in registered("quarterly"):
        if exhibit.kind != "fig":
            continue
        figure_id = exhibit.id("2026Q3")
        spec = json.loads((workdir / f"results/figures/2026Q3/{exhibit.stem}.vl.json").read_text(encoding="utf-8"))
        title = flat(spec["usermeta"]["retain"]["title"])
        with_title = [i for i, text in enumerate(pages) if title in text]
        with_caption = [i for i, text in enumerate(pages) if f"{figure_id} —" in text]
        assert len(with_title) == 1, f"{figure_id}: chart title drawn on pages {with_title}"
        assert with_caption == with_title, f"{figure_id}: chart on page {with_title}, caption on {with_caption}"
        # The drawn chart has its axis labels too (not just a title over an empty box).
        assert sum(label in pages[with_title[0]] for label in ("2026Q3", "%", "Mission")) >= 1


def test_summary_is_on_the_first_page_and_sections_follow(pdf):
    workdir, path = pdf
    pages = page_texts(path)
    records = {r["id"]: r for r in json.loads((workdir / "results/numbers/2026Q3.json").read_text(encoding="utf-8"))}
    first = pages[0]
    assert "Summary" in first
    for name in ("headcount", "voluntary-turnover", "engagement-favourable", "turnover-cost"):
        assert records[f"num:{name}:2026Q3"]["display"] in first, name
    whole = " ".join(pages)
    order = [whole.find(heading) for heading in ("Summary", "Turnover", "Engagement drivers", "Engagement → retention", "Programmes", "Mission programme", "Recognition programme", "Work-life programme", "Data quality", "Methods", "Audit appendix")]
    assert -1 not in order and order == sorted(order)
    audit_page = next(i for i, text in enumerate(pages) if text.startswith("Audit appendix"))
    assert audit_page >= 2  # the appendix starts on its own page, after the report
    assert "This report was built from manifest" in whole or "No build manifest was given" in whole


def test_audit_appendix_prints_every_id_whole(pdf):
    """An auditor reads IDs off the printed appendix: each one must be there in full, never cut by an ellipsis."""
    workdir, path = pdf
    pages = page_texts(path)
    appendix = " ".join(pages[next(i for i, text in enumerate(pages) if text.startswith("Audit appendix")) :])
    html = (workdir / "results/reports/2026Q3/quarterly.html").read_text(encoding="utf-8")
    ids = re.findall(r'data-audit-id="([^"]+)"', html)  # the rows of the appendix (same template, same run)
    assert len(ids) > 100 and {e.id("2026Q3") for e in registered("quarterly")} <= set(ids)
    missing = [i for i in ids if i not in appendix]
    assert not missing, missing
    assert "…:2026Q3" not in appendix and not re.search(r"num:[a-z0-9-]+…", appendix)
