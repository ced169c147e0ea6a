"""Tests for analysis.render: the Jupyter engine for real, the Quarto engine up to the command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from analysis.render import (
    RenderError,
    RenderResult,
    find_chromium,
    offline_violations,
    parse_qmd,
    quarto_command,
    render,
    resolve_engine,
)

FIXTURES = Path(__file__).parent / "fixtures" / "render"
BASIC = FIXTURES / "basic" / "report.qmd"
BROKEN = FIXTURES / "broken"

URL_ATTR = re.compile(r"""\b(?:src|href|srcset)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def _build_dirs(out_dir: Path) -> list[Path]:
    return [p for p in out_dir.iterdir() if p.name.startswith(".build-")] if out_dir.exists() else []


# --------------------------------------------------------------------------------------------
# Jupyter engine, for real
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_html(tmp_path_factory: pytest.TempPathFactory) -> tuple[RenderResult, str, list[str]]:
    out_dir = tmp_path_factory.mktemp("basic")
    messages: list[str] = []
    result = render(
        BASIC, out_dir, output_stem="retain-2026Q3", params={"quarter": "2026Q3"}, engine="jupyter",
        log=messages.append,
    )
    assert _build_dirs(out_dir) == []
    return result, result.outputs["html"].read_text(encoding="utf-8"), messages


def test_jupyter_result_and_log(basic_html):
    result, _page, messages = basic_html
    assert result.engine == "jupyter"
    assert set(result.outputs) == {"html"}
    assert result.outputs["html"].name == "retain-2026Q3.html"
    assert result.commands == []  # no subprocess for html in the jupyter engine
    assert any(m.startswith("executing ") and " cells " in m for m in messages)
    assert any("exporting html" in m for m in messages)


def test_parameters_and_reserved_params_reach_the_document(basic_html):
    _, page, _ = basic_html
    assert "QUARTER-VALUE=2026Q3" in page
    assert "2020Q1" not in page  # the template default was overridden
    assert "ENGINE-VALUE=jupyter" in page
    assert "FORMAT-VALUE=html" in page


def test_front_matter_becomes_page_header(basic_html):
    _, page, _ = basic_html
    assert "<title>Engagement and retention – Fixture report</title>" in page
    assert '<h1 class="title">Engagement and retention</h1>' in page
    assert "Fixture report" in page and "2026-01-15" in page and "Retain test suite" in page


def test_cell_options_echo_include_output(basic_html):
    _, page, _ = basic_html
    assert "ECHO-FALSE-CODE-MARKER" not in page  # echo: false (document default) hides code
    assert "echo_true_code_marker" in page  # echo: true shows it
    assert ">42" in page
    assert "INCLUDE-FALSE-OUTPUT-MARKER" not in page  # include: false drops code and output
    assert "OUTPUT-FALSE-MARKER" not in page  # output: false
    assert "#|" not in page  # option lines never shown


def test_asis_output_is_rendered_as_markdown(basic_html):
    _, page, _ = basic_html
    table = re.search(r"<table>.*?</table>", page, re.DOTALL)
    assert table, "asis markdown table was not converted to <table>"
    assert "<th" in table.group(0) and "2026Q3" in table.group(0)
    assert "<strong>Retention held steady in 2026Q3.</strong>" in page
    assert "| Metric |" not in page


def test_warnings(basic_html):
    _, page, _ = basic_html
    assert "WARNING-SHOWN-MARKER" in page
    assert "WARNING-HIDDEN-MARKER" not in page  # warning: false drops stderr
    assert "after the hidden warning" in page


def test_conditional_content_and_callout(basic_html):
    _, page, _ = basic_html
    assert "HTML-ONLY-BLOCK" in page
    assert "HTML-DISPLAY-MARKER" in page and 'class="from-html-output"' in page
    assert "PDF-ONLY-BLOCK" not in page
    assert "NOT-IN-HTML-BLOCK" not in page
    assert "NESTED-PDF-ONLY" not in page
    assert ":::" not in page
    callout = re.search(r'<div class="callout callout-note">(.*?)</div>\s*</div>', page, re.DOTALL)
    assert callout and "CALLOUT-BODY with <em>emphasis</em>" in callout.group(1)
    assert "Reading the numbers" in callout.group(1)


def test_svg_caption_crossref_inline_and_plain_code(basic_html):
    _, page, _ = basic_html
    assert '<img alt="No description has been provided for this image" src="data:image/svg+xml;base64,' in page
    assert "Figure 1: A small SVG shape" in page
    assert '<a href="#fig-shape">Figure 1</a>' in page
    assert "the quarter is 2026Q3." in page  # inline `{python} quarter`
    assert "PLAIN-CODE-BLOCK" in page  # non-executable block shown verbatim


def test_sibling_css_inlined(basic_html):
    _, page, _ = basic_html
    assert ".fixture-css-marker" in page


def test_html_is_offline(basic_html):
    _, page, _ = basic_html
    assert not URL_ATTR.search(page), URL_ATTR.search(page)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    for needle in ("mathjax", "require.js", "requirejs", "cdn.", "unpkg", "jsdelivr", "fonts.googleapis", "@import"):
        assert needle not in page.lower(), needle
    assert offline_violations(page) == []


def test_offline_violations_detects_network_loads():
    page = """<html><head>
    <script src="https://cdn.example.org/require.js"></script>
    <link rel="stylesheet" href="//fonts.example.org/x.css">
    <style>@import "https://x.example/y.css"; body { background: url(http://x.example/bg.png) }</style>
    <script>var s = '<img src="https://inside.script/ignored.png">';</script>
    </head><body><img src="data:image/png;base64,AAAA"><a href="https://quarto.org">a link</a>
    <img src="http://example.org/pic.png"></body></html>"""
    found = offline_violations(page)
    assert len(found) == 5, found
    assert not any("inside.script" in f or "quarto.org" in f for f in found)


def test_jupyter_render_is_deterministic(tmp_path: Path, basic_html):
    _, first, _ = basic_html
    again = render(BASIC, tmp_path, output_stem="x", params={"quarter": "2026Q3"}, engine="jupyter")
    strip = lambda s: re.sub(r"/tmp/ipykernel_\d+/\d+\.py", "<kernel-file>", s)  # noqa: E731 (warning path)
    assert strip(again.outputs["html"].read_text(encoding="utf-8")) == strip(first)


def test_parameters_injected_at_top_without_parameters_cell(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "plain.qmd").write_text(
        "---\ntitle: Plain\n---\n\n```{python}\nprint(f'VALUE={quarter}|{output_format}|{flag}|{n + 1}')\n```\n",
        encoding="utf-8",
    )
    out = render(src / "plain.qmd", tmp_path / "out", output_stem="p", params={"quarter": "Q", "flag": True, "n": 41})
    page = out.outputs["html"].read_text(encoding="utf-8")
    assert "VALUE=Q|html|True|42" in page
    assert '<div class="highlight hl-ipython3">' in page  # echo defaults to true without `execute:`


def test_error_cell_raises_render_error_naming_the_cell(tmp_path: Path):
    qmd = BROKEN / "error_cell.qmd"
    with pytest.raises(RenderError) as info:
        render(qmd, tmp_path, output_stem="e", params={"quarter": "2026Q3"}, engine="jupyter")
    msg = str(info.value)
    assert "jupyter engine" in msg and str(qmd) in msg
    assert "code cell 3 of 3" in msg
    assert "values = {\"a\": 1}" in msg  # first line of the failing cell
    assert "error_cell.qmd line 14" in msg and "boom-cell" in msg
    assert "KeyError" in msg and "missing-key" in msg
    kept = _build_dirs(tmp_path)
    assert len(kept) == 1 and str(kept[0]) in msg  # build dir kept for inspection
    assert (kept[0] / "error_cell.failed.ipynb").is_file()
    assert not (tmp_path / "e.html").exists()


@pytest.mark.parametrize(
    ("name", "line", "words"),
    [("unbalanced.qmd", 7, "never closed"), ("stray_close.qmd", 7, "no matching opening")],
)
def test_unbalanced_fenced_divs(tmp_path: Path, name: str, line: int, words: str):
    qmd = BROKEN / name
    with pytest.raises(RenderError, match=rf"line {line}: .*{words}"):
        parse_qmd(qmd.read_text(encoding="utf-8"), "html", path=name)
    with pytest.raises(RenderError) as info:
        render(qmd, tmp_path, output_stem="u", params={}, engine="jupyter")
    assert f"line {line}" in str(info.value) and str(qmd) in str(info.value)


def test_parse_qmd_for_pdf_keeps_hidden_cells_for_execution():
    doc = parse_qmd(BASIC.read_text(encoding="utf-8"), "pdf", path="report.qmd")
    text = "".join(b.text() for b in doc.blocks if type(b).__name__ == "_Markdown")
    assert "PDF-ONLY-BLOCK" in text and "NESTED-PDF-ONLY" in text and "NOT-IN-HTML-BLOCK" in text
    assert "HTML-ONLY-BLOCK" not in text
    hidden = [c for c in doc.code_cells if not c.visible]
    assert [c.first_line for c in hidden] == [
        "display(HTML('<div class=\"from-html-output\">HTML-DISPLAY-MARKER</div>'))"
    ]
    assert doc.code_cells[0].options["tags"] == ["parameters"]
    assert doc.code_cells[0].options["echo"] is False  # execute: default from the front matter


EXTRAS_QMD = """---
title: Extras
execute:
  echo: false
---

## Section heading {#sec-extra .unnumbered}

::: {.callout-warning}
Before the code.

```{python}
print("CODE-INSIDE-CALLOUT")
```

After the code.
:::

```{=html}
<p class="raw-html-marker">RAW-HTML</p>
```

```{=typst}
#pagebreak()
```

{{< pagebreak >}}

```{python}
#| eval: false
raise SystemExit("EVAL-FALSE-NOT-RUN")
```

```{python}
#| error: true
raise ValueError("ALLOWED-ERROR")
```

```{python}
#| label: tbl-small
#| tbl-cap: "Small table"
#| output: asis
print("| a |\\n|---|\\n| 1 |")
```

See @tbl-small and @fig-unknown.
"""


def test_extras_render(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "extras.qmd").write_text(EXTRAS_QMD, encoding="utf-8")
    page = render(src / "extras.qmd", tmp_path / "out", output_stem="x", params={}).outputs["html"].read_text(
        encoding="utf-8"
    )
    assert ">Section heading</h2>" in page and "{#sec-extra" not in page
    # a div that contains a code cell cannot be wrapped reliably: fence lines dropped, content kept
    assert "Before the code." in page and "CODE-INSIDE-CALLOUT" in page and "After the code." in page
    assert 'class="callout' not in page
    assert '<p class="raw-html-marker">RAW-HTML</p>' in page
    assert "#pagebreak()" not in page and '<div class="page-break"></div>' in page
    assert "EVAL-FALSE-NOT-RUN" not in page  # eval: false, echo: false -> nothing at all
    assert "ALLOWED-ERROR" in page  # error: true keeps the traceback and carries on
    assert re.search(r'<div class="table-caption" id="tbl-small">\s*<p>Table 1: Small table</p>', page)
    assert '<a href="#tbl-small">Table 1</a>' in page and "@fig-unknown" in page


def test_out_dir_inside_template_dir_is_not_copied(tmp_path: Path, fake_quarto: Path):
    src = tmp_path / "reports"
    shutil.copytree(BASIC.parent, src)
    out_dir = src / "out" / "2026Q3"
    for _ in range(2):
        render(src / "report.qmd", out_dir, output_stem="r", params={}, engine="quarto")
    calls = [json.loads(row) for row in fake_quarto.read_text(encoding="utf-8").splitlines()]
    assert all("out" not in call["files"] for call in calls)
    assert sorted(p.name for p in out_dir.iterdir()) == ["r.html"]


def test_reserved_and_invalid_params_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match="reserved"):
        render(BASIC, tmp_path, output_stem="x", params={"output_format": "pdf"}, engine="jupyter")
    with pytest.raises(ValueError, match="identifier"):
        render(BASIC, tmp_path, output_stem="x", params={"not-valid": 1}, engine="jupyter")


def test_pdf_without_chromium_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RETAIN_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(RenderError, match="Chromium"):
        render(BASIC, tmp_path, output_stem="x", params={}, formats=("html", "pdf"), engine="jupyter")
    assert not (tmp_path / "x.html").exists()  # checked before anything is rendered


def test_parallel_renders_of_one_template(tmp_path: Path):
    results: dict[str, object] = {}

    def job(quarter: str) -> None:
        try:
            results[quarter] = render(
                BASIC, tmp_path / quarter, output_stem="report", params={"quarter": quarter}, engine="jupyter"
            )
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertions below
            results[quarter] = exc

    threads = [threading.Thread(target=job, args=(q,)) for q in ("2026Q1", "2026Q2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for quarter, other in (("2026Q1", "2026Q2"), ("2026Q2", "2026Q1")):
        res = results[quarter]
        assert isinstance(res, RenderResult), res
        page = res.outputs["html"].read_text(encoding="utf-8")
        assert f"QUARTER-VALUE={quarter}" in page and other not in page
        assert _build_dirs(tmp_path / quarter) == []
    assert not list(BASIC.parent.glob("*.html"))  # nothing written next to the template


# --------------------------------------------------------------------------------------------
# Quarto engine, up to the exact command (a fake `quarto` on PATH)
# --------------------------------------------------------------------------------------------

FAKE_QUARTO = """#!{python}
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_QUARTO_LOG"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps({{
        "argv": args, "cwd": os.getcwd(), "files": sorted(os.listdir(".")),
        "quarto_python": os.environ.get("QUARTO_PYTHON"),
    }}) + "\\n")
if os.environ.get("FAKE_QUARTO_MODE") == "fail":
    sys.stderr.write("Starting python3 kernel...\\nERROR: boom\\n")
    sys.exit(1)
out = args[args.index("--output") + 1]
fmt = args[args.index("--to") + 1]
Path(out).write_bytes(b"%PDF-1.7 fake typst" if fmt == "typst" else b"<!DOCTYPE html><title>fake</title>")
"""


@pytest.fixture
def fake_quarto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "quarto"
    script.write_text(FAKE_QUARTO.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    log = tmp_path / "quarto-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(log))
    monkeypatch.delenv("QUARTO_PYTHON", raising=False)
    return log


def test_quarto_command_html_and_pdf():
    qmd = Path("/b/report.qmd")
    params = {"quarter": "2026Q3", "year": "2026", "n": 3, "ratio": 0.5, "flag": True, "none": None,
              "label": "a: b", "output_format": "html", "render_engine": "quarto"}
    assert quarto_command(qmd, "html", "q.html", params) == [
        "quarto", "render", "/b/report.qmd", "--to", "html", "--output", "q.html",
        "-P", "quarter:2026Q3", "-P", 'year:"2026"', "-P", "n:3", "-P", "ratio:0.5", "-P", "flag:true",
        "-P", "none:null", "-P", 'label:"a: b"', "-P", "output_format:html", "-P", "render_engine:quarto",
    ]
    assert quarto_command(qmd, "pdf", "q.pdf", {"quarter": "2026Q3", "output_format": "pdf"}) == [
        "quarto", "render", "/b/report.qmd", "--to", "typst", "--output", "q.pdf",
        "-P", "quarter:2026Q3", "-P", "output_format:pdf",
    ]
    with pytest.raises(ValueError):
        quarto_command(qmd, "docx", "q.docx", {})
    with pytest.raises(ValueError):
        quarto_command(qmd, "html", "sub/q.html", {})


def test_render_with_fake_quarto(tmp_path: Path, fake_quarto: Path):
    out_dir = tmp_path / "out"
    messages: list[str] = []
    result = render(
        BASIC, out_dir, output_stem="retain-2026Q3", params={"quarter": "2026Q3", "min_n": 5},
        formats=("html", "pdf"), engine="quarto", log=messages.append,
    )
    assert result.engine == "quarto"
    assert result.outputs == {"html": out_dir / "retain-2026Q3.html", "pdf": out_dir / "retain-2026Q3.pdf"}
    assert result.outputs["pdf"].read_bytes().startswith(b"%PDF")
    assert _build_dirs(out_dir) == []  # cleaned on success

    calls = [json.loads(row) for row in fake_quarto.read_text(encoding="utf-8").splitlines()]
    assert len(calls) == 2 == len(result.commands)
    for call, cmd, fmt in zip(calls, result.commands, ("html", "pdf")):
        build = Path(call["cwd"])
        assert build.parent == out_dir and build.name.startswith(f".build-{fmt}-")
        copied_qmd = build / "report.qmd"
        expected = quarto_command(
            copied_qmd, fmt, f"retain-2026Q3.{fmt}",
            {"quarter": "2026Q3", "min_n": 5, "output_format": fmt, "render_engine": "quarto"},
        )
        assert cmd == expected
        assert call["argv"] == expected[1:]
        assert {"report.qmd", "fixture_helpers.py", "fixture.css"} <= set(call["files"])
        assert not any(f.startswith(".") for f in call["files"])
        assert call["quarto_python"] == sys.executable
        assert any(m.startswith("$ quarto render") for m in messages)


def test_fake_quarto_failure_raises_with_stderr(tmp_path: Path, fake_quarto: Path, monkeypatch):
    monkeypatch.setenv("FAKE_QUARTO_MODE", "fail")
    with pytest.raises(RenderError) as info:
        render(BASIC, tmp_path / "out", output_stem="x", params={"quarter": "2026Q3"}, engine="quarto")
    msg = str(info.value)
    assert "boom" in msg and "quarto" in msg and str(BASIC) in msg and "status 1" in msg
    assert len(_build_dirs(tmp_path / "out")) == 1  # kept on failure


def test_resolve_engine(tmp_path: Path, fake_quarto: Path, monkeypatch: pytest.MonkeyPatch):
    assert resolve_engine("auto") == "quarto"
    assert resolve_engine("quarto") == "quarto"
    assert resolve_engine("jupyter") == "jupyter"
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert resolve_engine("auto") == "jupyter"
    assert resolve_engine() == "jupyter"
    with pytest.raises(RenderError, match="not on PATH") as info:
        resolve_engine("quarto")
    assert "conda" in str(info.value) and "quarto.org" in str(info.value)
    with pytest.raises(ValueError):
        resolve_engine("pandoc")


# --------------------------------------------------------------------------------------------
# PDF through headless Chromium
# --------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_pdf_via_chromium(tmp_path: Path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium/chromium-browser/google-chrome binary on PATH (or RETAIN_CHROMIUM)")
    result = render(
        BASIC, tmp_path, output_stem="retain-2026Q3", params={"quarter": "2026Q3"},
        formats=("pdf",), engine="jupyter",
    )
    pdf = result.outputs["pdf"]
    assert pdf == tmp_path / "retain-2026Q3.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert len(result.commands) == 1 and result.commands[0][0] == chromium
    assert "--headless" in result.commands[0] and "--no-pdf-header-footer" in result.commands[0]
    assert _build_dirs(tmp_path) == []
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "QUARTER-VALUE=2026Q3" in text and "FORMAT-VALUE=pdf" in text
        assert "PDF-ONLY-BLOCK" in text and "HTML-ONLY-BLOCK" not in text
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "page")],
                       check=True, capture_output=True)
        (png,) = tmp_path.glob("page*.png")
        _assert_not_blank(png)


def _assert_not_blank(png: Path) -> None:
    """Decode the PNG with the standard library and check it has a fair share of non-white pixels."""
    import struct
    import zlib

    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 3
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {0: 1, 2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    dark = 0
    for row in range(height):
        f = raw[row * (stride + 1)]
        line = bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        dark += sum(1 for i in range(0, stride, channels) if line[i] < 200)
        prev = line
    assert dark > 0.005 * width * height, f"page 1 looks blank ({dark} dark pixels of {width * height})"
