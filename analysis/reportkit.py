"""What report templates call: load numbers and figures by ID and print them. No computing here.

Two output modes:
- "html": interactive Vega-Lite charts (the Vega/Vega-Lite/vega-embed bundle from vl-convert is
  inlined once, so the page works offline) and numbers as HTML with their ID in a superscript;
  also used when the Jupyter engine prints a PDF through Chromium;
- "typst": Quarto's PDF path; charts as static SVG, numbers as pandoc markdown (^id^).
"""

from __future__ import annotations

import hashlib
import html
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from IPython.display import HTML, SVG, display

RELATIVE_TO = Path.cwd  # overridden in tests; paths shown in reports are relative to the run directory


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _display_path(path: Path, results_dir: Path) -> str:
    """The path as the run directory sees it: results/..., never an absolute path."""
    try:
        return str(Path("results") / path.resolve().relative_to(results_dir.resolve()))
    except ValueError:
        return path.name


class Report:
    def __init__(self, results_dir: str, quarter: str, output_format: str = "html", render_engine: str = "jupyter"):
        self.results = Path(results_dir)
        self.quarter = quarter
        self.mode = "typst" if (output_format == "pdf" and render_engine == "quarto") else "html"
        self.output_format = output_format
        self.render_engine = render_engine
        self._chart_count = 0

    # ------------------------------------------------------------ data by ID

    @cached_property
    def numbers(self) -> dict[str, dict[str, Any]]:
        path = self.results / "numbers" / f"{self.quarter}.json"
        return {record["id"]: record for record in json.loads(path.read_text(encoding="utf-8"))}

    def record(self, name: str) -> dict[str, Any]:
        """A number record by short name ('voluntary-turnover') or full ID."""
        key = name if name.startswith("num:") else f"num:{name}:{self.quarter}"
        if key not in self.numbers:
            raise KeyError(f"no number {key!r} in results/numbers/{self.quarter}.json")
        return self.numbers[key]

    def value(self, name: str) -> Any:
        return self.record(name)["value"]

    def num(self, name: str) -> str:
        """The number as printed, followed by its ID."""
        rec = self.record(name)
        if self.mode == "typst":
            return f"{rec['display']}^\\[{rec['id']}\\]^"
        return f'<span class="num" data-id="{rec["id"]}">{html.escape(rec["display"])}</span><sup class="num-id">{rec["id"]}</sup>'

    # ------------------------------------------------------------ page furniture

    def head(self) -> None:
        """Styles and, in HTML, the offline chart library. Call once, in the first cell."""
        if self.mode == "typst":
            return
        import vl_convert as vlc

        css = (Path(__file__).with_name("report.css")).read_text(encoding="utf-8")
        bundle = vlc.javascript_bundle("window.vegaEmbed = vegaEmbed;")
        display(HTML(f"<style>{css}</style>\n<script type=\"module\">{bundle}</script>"))

    def kpis(self, items: list[tuple[str, str, str | None, str | None]]) -> None:
        """Summary cards: (title, number, interval-from, interval-to or change name)."""
        if self.mode == "typst":
            print("| Measure | Value | 95% interval | Change since last quarter |\n|---|---|---|---|")
            for title, name, low_high, change in items:
                interval = self._interval(low_high)
                delta = self.num(change) if change else "—"
                print(f"| {title} | {self.num(name)} | {interval} | {delta} |")
            print()
            return
        cards = []
        for title, name, low_high, change in items:
            interval = self._interval(low_high)
            delta = f'<div class="kpi-change">{self.num(change)} since last quarter</div>' if change else ""
            interval_html = f'<div class="kpi-interval">95% interval {interval}</div>' if low_high else ""
            cards.append(
                f'<div class="kpi"><div class="kpi-title">{html.escape(title)}</div>'
                f'<div class="kpi-value">{self.num(name)}</div>{interval_html}{delta}</div>'
            )
        display(HTML('<div class="kpis">' + "".join(cards) + "</div>"))

    def _interval(self, base: str | None) -> str:
        if not base:
            return "—"
        low, high = self.record(f"{base}-low"), self.record(f"{base}-high")
        return f"{low['display']} to {high['display']}"

    # ------------------------------------------------------------ figures by ID

    def figure_files(self, figure_id: str) -> dict[str, Path]:
        kind, stem, quarter = figure_id.split(":")
        if kind != "fig" or quarter != self.quarter:
            raise KeyError(f"figure {figure_id!r} does not belong to the {self.quarter} report")
        base = self.results / "figures" / quarter / stem
        files = {ext: base.with_name(f"{stem}.{ext}") for ext in ("vl.json", "parquet", "svg")}
        missing = [str(p) for p in files.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(f"figure {figure_id}: missing {', '.join(missing)}")
        return files

    def figure(self, figure_id: str) -> None:
        """Show the chart and print its caption (call from an `output: asis` cell)."""
        files = self.figure_files(figure_id)
        spec = json.loads(files["vl.json"].read_text(encoding="utf-8"))
        caption = spec.get("usermeta", {}).get("retain", {}).get("caption", "")
        if self.mode == "typst":
            display(SVG(files["svg"].read_text(encoding="utf-8")))
        else:
            self._chart_count += 1
            div = f"chart-{self._chart_count}-{figure_id.split(':')[1]}"
            payload = json.dumps(spec, sort_keys=True).replace("</", "<\\/")
            display(
                HTML(
                    f'<figure class="retain-figure" data-figure-id="{figure_id}"><div id="{div}" class="retain-chart"></div></figure>\n'
                    f'<script type="module">window.vegaEmbed("#{div}", {payload}, {{"actions": false, "renderer": "svg"}});</script>'
                )
            )
        data_path = _display_path(files["parquet"], self.results)
        print(
            f"\n**{figure_id}** — {caption} Data: `{data_path}` (SHA-256 `{_sha256(files['parquet'])[:16]}…`). "
            f"Trace: `retain trace {figure_id}`.\n"
        )
