"""What report templates call: load numbers, figures and tables by ID and print them. No computing.

A template makes one `Report` and prints what it returns from `output: asis` cells:

    r = Report(results_dir, quarter, output_format, render_engine, language=language, build_manifest=build_manifest)
    r.head()                                  # first cell: the offline chart library (HTML)
    print(r.section("turnover"))              # a heading from the message catalogue, stable anchor
    print(r.say("turnover.summary", rate="voluntary-turnover", ...))   # a sentence, numbers by name
    r.figure("fig:turnover-trend:2026Q3")     # a chart with its ID and caption
    r.table("tbl:ingest-summary:2026Q3")      # a table exhibit
    r.audit_appendix()                        # last: every ID this report used, its data and hash
    print(r.footer())

Output modes:
- "html": interactive Vega-Lite charts (the Vega/Vega-Lite/vega-embed bundle from vl-convert is
  inlined once, so the page works offline) and numbers as HTML with their ID in a superscript;
- "print": the Jupyter engine's PDF (HTML printed by Chromium): the same page, but each chart is
  the static SVG vl-convert drew (no script timing, nothing to cut between pages);
- "typst": Quarto's PDF path: charts as static SVG, numbers and tables as pandoc markdown.

Numbers are formatted in the report's language from the record's value and format (analysis/
messages.py), so an English report prints exactly the record's `display`.
"""

from __future__ import annotations

import base64
import html
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

from IPython.display import HTML, SVG, Markdown, display

from analysis import messages
from analysis.ingest import sha256_file

ID_PATTERN = re.compile(r"^(num|fig|tbl):([a-z0-9][a-z0-9-]*):([0-9]{4}Q[1-4]|research)$")


class ReportError(RuntimeError):
    """A template asked for something the workflow did not produce (or the audit trail disagrees)."""


def _display_path(path: Path, results_dir: Path) -> str:
    """The path as the run directory sees it: results/..., never an absolute path."""
    try:
        return str(Path("results") / path.resolve().relative_to(results_dir.resolve()))
    except ValueError:
        return path.name


class Report:
    def __init__(
        self,
        results_dir: str,
        quarter: str,
        output_format: str = "html",
        render_engine: str = "jupyter",
        *,
        language: str = messages.DEFAULT_LANGUAGE,
        build_manifest: str | None = None,
        label: str | None = None,
    ):
        """`quarter`: the report's quarter (for the research report: the last quarter of the period);
        `label`: the ID suffix of its exhibits (the quarter, or "research")."""
        self.results = Path(results_dir)
        self.quarter = quarter
        self.label = label or quarter
        self.output_format = output_format
        self.render_engine = render_engine
        self.lang = messages.check_language(language)
        if output_format == "pdf" and render_engine == "quarto":
            self.mode = "typst"
        elif output_format == "pdf":
            self.mode = "print"
        else:
            self.mode = "html"
        self.build_manifest_path = Path(build_manifest) if build_manifest else None
        self.used: dict[str, None] = {}  # IDs shown, in order of first use
        self._chart_count = 0

    # ------------------------------------------------------------ words

    def t(self, key: str, /, **values: Any) -> str:
        return messages.text(key, self.lang, **values)

    def fmt(self, value: Any, fmt: dict[str, Any]) -> str:
        return messages.fmt_value(value, fmt, self.lang)

    # ------------------------------------------------------------ numbers by ID

    @cached_property
    def numbers(self) -> dict[str, dict[str, Any]]:
        path = self.results / "numbers" / f"{self.quarter}.json"
        if not path.exists():
            return {}
        return {record["id"]: record for record in json.loads(path.read_text(encoding="utf-8"))}

    def _key(self, name: str) -> str:
        return name if name.startswith("num:") else f"num:{name}:{self.quarter}"

    def has(self, name: str) -> bool:
        return self._key(name) in self.numbers

    def record(self, name: str) -> dict[str, Any]:
        """A number record by short name ('voluntary-turnover') or full ID."""
        key = self._key(name)
        if key not in self.numbers:
            raise ReportError(f"no number {key!r} in results/numbers/{self.quarter}.json")
        return self.numbers[key]

    def value(self, name: str) -> Any:
        return self.record(name)["value"]

    def display(self, name: str) -> str:
        """The number as printed in the report's language (the record's `display` in English)."""
        rec = self.record(name)
        return rec["display"] if self.lang == "en" else self.fmt(rec["value"], rec["format"])

    def subject(self, name: str) -> str:
        """What a number is about (a team, a site, a driver), as printed."""
        rec = self.record(name)
        subject = rec.get("subject")
        if subject is None:
            raise ReportError(f"number {rec['id']} has no subject")
        if messages.has(f"category.driver.{subject}"):
            return self.t(f"category.driver.{subject}")
        return html.escape(subject) if self.mode != "typst" else subject

    def num(self, name: str) -> str:
        """The number as printed, tagged with its ID (HTML superscript, or a Typst-PDF footnote-style mark)."""
        rec = self.record(name)
        self.used[rec["id"]] = None
        shown = self.display(name)
        if self.mode == "typst":
            return f"{_md_escape(shown)}^\\[{rec['id']}\\]^"
        kind = " num-category" if rec.get("format", {}).get("kind") == "category" else ""
        return f'<span class="num{kind}" data-id="{rec["id"]}">{html.escape(shown)}</span><sup class="num-id">{rec["id"]}</sup>'

    def say(self, key: str, /, **names: Any) -> str:
        """A catalogue sentence; each placeholder is a number name (printed with `num`) or, given as
        `("text", value)`, a plain value. Numbers always come from their records."""
        values = {}
        for placeholder, name in names.items():
            if isinstance(name, tuple) and name and name[0] == "text":
                values[placeholder] = str(name[1])
            else:
                values[placeholder] = self.num(name)
        return self.t(key, **values)

    def sample_note(self, name: str, sampled: str, everyone: str | None = None, /, **names: Any) -> str:
        """The sentence saying whether a model family was fitted on a random sample of people, from
        the numbers `<name>-people`, `<name>-eligible-people` and `<name>-sample-reading`
        (analysis/numbers.py): catalogue key `sampled` ({sample} of {eligible}) when it was,
        `everyone` ({eligible}) when it was not, and "" when there is no such sentence or the numbers
        are missing (no model fitted, or tables from before sampling). `names` as in `say`."""
        reading = self.value(f"{name}-sample-reading") if self.has(f"{name}-sample-reading") else None
        if reading == "sampled":
            return self.say(sampled, sample=f"{name}-people", eligible=f"{name}-eligible-people", **names)
        if reading == "everyone" and everyone is not None:
            return self.say(everyone, eligible=f"{name}-eligible-people", **names)
        return ""

    # ------------------------------------------------------------ page furniture

    def head(self, wide: bool = False) -> None:
        """In HTML, the offline chart library (styles come from the theme in reports/). Call once, first.
        `wide`: a wider page for long tables (the Jupyter engine; Quarto uses `page-layout: full`)."""
        if self.mode == "typst":
            return
        if wide:
            display(HTML('<style>.retain-container { max-width: 1240px; }</style>'))
        if self.mode != "html":
            return
        import vl_convert as vlc

        bundle = vlc.javascript_bundle("window.vegaEmbed = vegaEmbed;").replace("</script", "<\\/script")
        display(HTML(f'<script type="module">{bundle}</script>'))

    def section(self, key: str, level: int = 2) -> str:
        """A heading from the catalogue (`section.<key>`) with a stable anchor (`#<key>`) in every language."""
        title = self.t(f"section.{key}")
        hashes = "#" * level
        if self.mode == "typst" or (self.mode == "html" and self.render_engine == "quarto"):
            return f"\n{hashes} {title} {{#{key}}}\n"
        return f'\n<h{level} id="{key}">{html.escape(title)}</h{level}>\n'

    def paragraph(self, text: str) -> str:
        return f"\n{text}\n"

    def bullets(self, items: list[str]) -> str:
        return "\n" + "\n".join(f"- {item}" for item in items) + "\n"

    def lead(self, organisation: str) -> str:
        """The line under the title: who, which quarter, how to trace a number."""
        example = self._key("headcount")
        return self.paragraph(self.t("report.lead", organisation=self._escape(organisation), quarter=self.quarter, example=f"`{example}`"))

    def _escape(self, text: str) -> str:
        return _md_escape(text) if self.mode == "typst" else html.escape(text)

    def kpis(self, items: list[dict[str, Any]]) -> None:
        """Summary cards. Each item: title (catalogue key), value (number name), and optionally
        interval (base name with -low/-high numbers), change (number name), note (catalogue key),
        gauge (True: turnover against the benchmark band)."""
        if self.mode == "typst":
            rows = [f"| {self.t('kpi.col-measure')} | {self.t('kpi.col-value')} | {self.t('kpi.col-interval')} | {self.t('kpi.col-change', prev=self._previous())} |", "|---|---|---|---|"]
            for item in items:
                interval = self._interval(item.get("interval")) or "—"
                change = self.num(item["change"]) if item.get("change") else "—"
                rows.append(f"| {self.t(item['title'])} | {self.num(item['value'])} | {interval} | {change} |")
            display(Markdown("\n".join(rows) + "\n"))
            return
        cards = []
        for item in items:
            parts = [f'<div class="kpi-title">{html.escape(self.t(item["title"]))}</div>', f'<div class="kpi-value">{self.num(item["value"])}</div>']
            interval = self._interval(item.get("interval"))
            if interval:
                parts.append(f'<div class="kpi-interval">{self.t("kpi.interval-text", interval=interval)}</div>')
            if item.get("gauge"):
                parts.append(self._gauge(item["value"], item.get("interval")))
            if item.get("change"):
                change = self.record(item["change"])
                direction = "flat" if not change["value"] else ("up" if change["value"] > 0 else "down")
                parts.append(f'<div class="kpi-change kpi-{direction}">{self.t("kpi.change-text", change=self.num(item["change"]), prev=self._previous())}</div>')
            if item.get("note"):
                parts.append(f'<div class="kpi-note">{html.escape(self.t(item["note"]))}</div>')
            cards.append(f'<div class="kpi" data-kpi="{html.escape(item["value"])}">' + "".join(parts) + "</div>")
        display(HTML('<div class="kpis">' + "".join(cards) + "</div>"))

    def _previous(self) -> str:
        from analysis.periods import shift_quarter

        return shift_quarter(self.quarter, -1)

    def _interval(self, base: str | None) -> str:
        if not base:
            return ""
        return self.t("interval.range", low=self.num(f"{base}-low"), high=self.num(f"{base}-high"))

    def _gauge(self, name: str, base: str | None) -> str:
        """A small scale under the turnover card: band shaded, all-industry tick, the rate and its interval."""
        low_b, high_b, line = (self.value(n) for n in ("benchmark-band-low", "benchmark-band-high", "benchmark-all-industry"))
        rate = self.value(name)
        values = [v for v in (rate, high_b, self.value(f"{base}-high") if base else None) if v is not None]
        top = max(0.6, *values) * 1.05

        def at(v: float) -> str:
            return f"{min(max(v / top, 0), 1) * 100:.1f}%"

        parts = [
            f'<span class="gauge-band" style="left:{at(low_b)};width:calc({at(high_b)} - {at(low_b)})"></span>',
            f'<span class="gauge-line" style="left:{at(line)}"></span>',
        ]
        if base and self.value(f"{base}-low") is not None:
            lo, hi = self.value(f"{base}-low"), self.value(f"{base}-high")
            parts.append(f'<span class="gauge-interval" style="left:{at(lo)};width:calc({at(hi)} - {at(lo)})"></span>')
        if rate is not None:
            parts.append(f'<span class="gauge-dot" style="left:{at(rate)}"></span>')
        legend = self.t(
            "kpi.gauge-legend",
            low=html.escape(self.display("benchmark-band-low")), high=html.escape(self.display("benchmark-band-high")),
            line=html.escape(self.display("benchmark-all-industry")),
        )  # fmt: skip
        return f'<div class="kpi-gauge" role="img" aria-label="{html.escape(legend)}">{"".join(parts)}</div><div class="kpi-note">{legend}</div>'

    def footer(self) -> str:
        text = self.t("report.footer", engine=self.render_engine)
        if self.mode == "typst":
            return f"\n---\n\n{text.replace('<b>', '**').replace('</b>', '**')}\n"
        return f'\n<div class="retain-footer" data-engine="{self.render_engine}">{text}</div>\n'

    # ------------------------------------------------------------ exhibits by ID

    def _exhibit_dir(self, exhibit_id: str) -> tuple[str, str, Path]:
        match = ID_PATTERN.match(exhibit_id)
        if not match or match.group(1) == "num":
            raise ReportError(f"{exhibit_id!r} is not a figure or table ID (fig:<stem>:<label>, tbl:<stem>:<label>)")
        kind, stem, label = match.groups()
        if label != self.label:
            raise ReportError(f"{exhibit_id!r} does not belong to this report (its exhibits end in :{self.label})")
        return kind, stem, self.results / "figures" / label

    def figure_files(self, figure_id: str) -> dict[str, Path]:
        kind, stem, directory = self._exhibit_dir(figure_id)
        if kind != "fig":
            raise ReportError(f"{figure_id!r} is not a figure")
        files = {ext: directory / f"{stem}.{ext}" for ext in ("vl.json", "parquet", "svg")}
        missing = [str(p) for p in files.values() if not p.exists()]
        if missing:
            raise ReportError(f"figure {figure_id}: missing {', '.join(missing)}")
        return files

    def figure(self, figure_id: str) -> None:
        """Show the chart with its ID and caption (from any cell)."""
        files = self.figure_files(figure_id)
        spec = json.loads(files["vl.json"].read_text(encoding="utf-8"))
        meta = spec.get("usermeta", {}).get("retain", {})
        self.used[figure_id] = None
        data_path = _display_path(files["parquet"], self.results)
        caption = self.t("figure.caption", id=figure_id, caption=meta.get("caption", ""), data=f"`{data_path}`")
        if self.mode == "typst":
            display(SVG(files["svg"].read_text(encoding="utf-8")))
            display(Markdown(f"\n{caption}\n"))
            return
        self._chart_count += 1
        div = f"chart-{self._chart_count}-{figure_id.split(':')[1]}"
        alt_text = html.escape(meta.get("title", figure_id))
        if self.mode == "print":
            svg = base64.b64encode(files["svg"].read_bytes()).decode("ascii")
            body = f'<img class="retain-static" alt="{alt_text}" src="data:image/svg+xml;base64,{svg}">'
            script = ""
        else:
            body = ""
            payload = json.dumps(spec, sort_keys=True).replace("</", "<\\/")
            options = {"actions": False, "renderer": "svg"}
            if self.lang != "en":
                options["formatLocale"] = messages.vega_locale(self.lang)
            script = (
                f'\n<script type="module">window.vegaEmbed("#{div}", {payload}, {json.dumps(options, ensure_ascii=False)})'
                f'.catch((e) => {{ document.getElementById("{div}").textContent = "Chart failed to draw: " + e; console.error(e); }});</script>'
            )
        display(
            HTML(
                f'<figure class="retain-figure" data-figure-id="{figure_id}">'
                f'<div id="{div}" class="retain-chart" role="img" aria-label="{alt_text}">{body}</div>'
                f'<figcaption class="retain-caption">{_markdown_code(caption)}</figcaption></figure>{script}'
            )
        )

    def table(self, table_id: str) -> None:
        """Show a table exhibit (hidden cells marked, never blank), its ID and caption."""
        kind, stem, directory = self._exhibit_dir(table_id)
        if kind != "tbl":
            raise ReportError(f"{table_id!r} is not a table")
        meta_path, data_path = directory / f"{stem}.tbl.json", directory / f"{stem}.parquet"
        missing = [str(p) for p in (meta_path, data_path) if not p.exists()]
        if missing:
            raise ReportError(f"table {table_id}: missing {', '.join(missing)}")
        import polars as pl

        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        data = pl.read_parquet(data_path)
        self.used[table_id] = None
        columns = meta["columns"]
        caption = self.t("table.caption", id=table_id, caption=meta["caption"], data=f"`{_display_path(data_path, self.results)}`")
        hidden_word = self.t("table.hidden")
        rows = data.to_dicts()

        def cell(row: dict[str, Any], column: dict[str, Any]) -> tuple[str, bool]:
            value = row.get(column["name"])
            if value is None and row.get("suppressed") is not None and column["format"]["kind"] not in ("text", "category"):
                return hidden_word, True
            if value is None:
                return "—", False
            return self.fmt(value, column["format"]), False

        if self.mode == "typst":
            lines = [f"**{_md_escape(meta['title'])}**", "", "| " + " | ".join(_md_escape(c["label"]) for c in columns) + " |"]
            lines.append("|" + "|".join("---:" if c["format"]["kind"] not in ("text", "category") else "---" for c in columns) + "|")
            for row in rows:
                lines.append("| " + " | ".join(_md_escape(cell(row, c)[0]) for c in columns) + " |")
            lines += ["", caption, ""]
            display(Markdown("\n".join(lines)))
            return
        head = "".join(f'<th class="{_align(c)}">{html.escape(c["label"])}</th>' for c in columns)
        body = []
        for row in rows:
            tds = []
            for c in columns:
                text, hidden = cell(row, c)
                cls = _align(c) + (" hidden-cell" if hidden else "")
                tds.append(f'<td class="{cls}">{html.escape(text)}</td>')
            body.append("<tr>" + "".join(tds) + "</tr>")
        table_html = f'<table class="retain-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        title = html.escape(meta["title"])
        if meta.get("collapsed") and self.mode == "html":
            inner = f'<details><summary>{title} <span class="rows">({self.t("table.rows", n=str(len(rows)))})</span></summary><div class="table-scroll">{table_html}</div></details>'
        else:
            inner = f'<div class="retain-table-title">{title}</div><div class="table-scroll">{table_html}</div>'
        display(HTML(f'<div class="retain-exhibit" data-table-id="{table_id}">{inner}<div class="retain-caption">{_markdown_code(caption)}</div></div>'))

    # ------------------------------------------------------------ audit appendix

    @cached_property
    def build_manifest(self) -> dict[str, Any] | None:
        if self.build_manifest_path is None:
            return None
        if not self.build_manifest_path.exists():
            raise ReportError(f"build manifest {self.build_manifest_path} does not exist")
        return json.loads(self.build_manifest_path.read_text(encoding="utf-8"))

    def _run_dir(self) -> Path:
        return self.results.resolve().parent

    def audit_rows(self) -> list[dict[str, str]]:
        """One row per ID this report showed: id, what it is, the file it lives in, its data file and that file's SHA-256.

        With a build manifest, hashes come from it and each data file is re-hashed to prove the
        manifest describes what the report shows (a mismatch is an error: a stale manifest).
        """
        manifest = self.build_manifest
        known = {e["id"]: e for e in manifest.get("ids", [])} if manifest else {}
        hashes: dict[str, str] = {}
        if manifest:
            for section in ("inputs", "outputs"):
                hashes.update({e["path"]: e["sha256"] for e in manifest.get(section, [])})
        run_dir = self._run_dir()
        rows = []
        for item in self.used:
            kind, stem, label = ID_PATTERN.match(item).groups()
            if kind == "num":
                record = self.numbers[item]
                what = self._number_label(record)
                lives_in = f"results/numbers/{self.quarter}.json"
                data = record["source"]["table"]
            else:
                ext = "vl.json" if kind == "fig" else "tbl.json"
                lives_in = f"results/figures/{label}/{stem}.{ext}"
                data = f"results/figures/{label}/{stem}.parquet"
                what = self.t("audit.figure") if kind == "fig" else self.t("audit.table")
            entry = known.get(item)
            if entry:
                lives_in, data = entry.get("file", lives_in), entry.get("data", data)
            sha, status = self._data_hash(data, hashes, run_dir, manifest is not None, entry is not None)
            rows.append({"id": item, "what": what, "file": lives_in, "data": data, "sha256": sha, "status": status})
        return rows

    def _data_hash(self, data: str, hashes: dict[str, str], run_dir: Path, have_manifest: bool, in_manifest: bool) -> tuple[str, str]:
        if data == "config":
            config = (self.build_manifest or {}).get("config", {})
            return config.get("sha256", "—"), "config"
        paths = _expand_braces(data)
        if len(paths) > 1:  # a number read from several tables: one hash per table
            found = [self._data_hash(p, hashes, run_dir, have_manifest, in_manifest) for p in paths]
            statuses = {status for _, status in found}
            joined = " ".join(f"{Path(p).name}:{sha}" for p, (sha, _) in zip(paths, found, strict=True))
            return joined, "not-in-manifest" if "not-in-manifest" in statuses else found[0][1]
        path = run_dir / data
        on_disk = sha256_file(path) if path.is_file() else None
        if not have_manifest:
            return on_disk or "—", "hashed"
        recorded = hashes.get(data)
        if recorded and on_disk and recorded != on_disk:
            raise ReportError(f"stale build manifest: {data} has SHA-256 {on_disk}, the manifest says {recorded}")
        if recorded and in_manifest:
            return recorded, "manifest"
        return on_disk or recorded or "—", "not-in-manifest"

    def _number_label(self, record: dict[str, Any]) -> str:
        name = record["id"].split(":")[1]
        key = f"num.{name}"
        if messages.has(key):
            return self.t(key)
        subject = record.get("subject")
        for suffix, label_key in (("-change", "num.driver-change"), ("-low", "num.driver-low"), ("-high", "num.driver-high"), ("", "num.driver")):
            if subject and name == f"driver-{subject}{suffix}":
                return self.t(label_key, driver=self.t(f"category.driver.{subject}"))
        # Per-programme and per-tier numbers share one label each: num.programme-<rest>, num.km-tier<rest>.
        if subject and name.startswith(f"programme-{subject}-") and messages.has(f"num.programme-{name.removeprefix(f'programme-{subject}-')}"):
            return self.t(f"num.programme-{name.removeprefix(f'programme-{subject}-')}", programme=self.t(f"category.programme.{subject}"))
        if subject and name.startswith(f"km-{subject}") and messages.has(f"num.km-tier{name.removeprefix(f'km-{subject}')}"):
            return self.t(f"num.km-tier{name.removeprefix(f'km-{subject}')}", tier=self.t(f"category.tier.{subject}"))
        return record["label"]

    def audit_appendix(self) -> None:
        """The audit appendix (under `section("audit")`, last): code version, config, the build
        manifest's own hash, and every ID shown above with its data file, SHA-256 and trace command."""
        rows = self.audit_rows()
        manifest = self.build_manifest
        if manifest:
            code = manifest.get("code", {})
            commit = code.get("git_commit")
            dirty = code.get("dirty")
            # Without a commit the code cannot be pinned: say so plainly rather than print "git <not a git checkout>".
            code_text = self.t("audit.code", commit=commit, dirty=self.t("audit.dirty") if dirty else "") if commit else self.t("audit.no-git")
            config_text = self.t("audit.config", sha=manifest.get("config", {}).get("sha256", "—"))
            manifest_sha = sha256_file(self.build_manifest_path)
            intro = self.t("audit.built-from", sha=manifest_sha, path=_display_path(self.build_manifest_path, self.results))
        else:
            code_text = self.t("audit.code-unknown")
            config_text = ""
            intro = self.t("audit.no-manifest")
        trace = self.t("audit.trace")
        statement = [intro, code_text, config_text, trace]
        files = self._audit_files(rows)
        if self.mode == "typst":
            lines = [*[s for s in statement if s], ""]
            lines.append(f"| {self.t('audit.col-id')} | {self.t('audit.col-what')} | {self.t('audit.col-data')} | SHA-256 |")
            lines.append("|---|---|---|---|")
            for row in rows:
                lines.append(f"| `{row['id']}` | {_md_escape(row['what'])} | `{row['data']}` | `{_short_sha(row['sha256'])}` |")
            lines += ["", f"| {self.t('audit.col-data')} | SHA-256 | {self.t('audit.col-ids')} |", "|---|---|---:|"]
            lines += [f"| `{path}` | `{sha}` | {count} |" for path, (sha, count) in files.items()]
            display(Markdown("\n".join(lines) + "\n"))
            return
        body = []
        for row in rows:
            lives_in = self.t("audit.lives-in", file=f"<code>{html.escape(row['file'])}</code>")
            note = f' <span class="audit-status">{html.escape(self.t("audit.not-in-manifest"))}</span>' if row["status"] == "not-in-manifest" else ""
            body.append(
                f'<tr data-audit-id="{row["id"]}"><td><code>{row["id"]}</code></td><td>{html.escape(row["what"])}</td>'
                f'<td><code>{html.escape(row["data"])}</code><div class="audit-file">{lives_in}</div></td>'
                f'<td><code class="sha" title="{row["sha256"]}" data-sha256="{row["sha256"]}">{html.escape(_short_sha(row["sha256"]))}</code>{note}</td>'
                f'<td class="screen-only"><code>retain trace {row["id"]}</code></td></tr>'
            )
        heads = (self.t("audit.col-id"), self.t("audit.col-what"), self.t("audit.col-data"), "SHA-256")
        head = "".join(f"<th>{html.escape(h)}</th>" for h in heads) + f'<th class="screen-only">{html.escape(self.t("audit.col-command"))}</th>'
        file_rows = "".join(
            f'<tr data-audit-file="{html.escape(path)}"><td><code>{html.escape(path)}</code></td><td><code class="sha">{sha}</code></td><td class="number">{count}</td></tr>'
            for path, (sha, count) in files.items()
        )
        file_head = f"<th>{html.escape(self.t('audit.col-data'))}</th><th>SHA-256</th><th class=\"number\">{html.escape(self.t('audit.col-ids'))}</th>"
        paragraphs = "".join(f"<p>{_markdown_code(s)}</p>" for s in statement if s)
        display(
            HTML(
                f'<div class="retain-audit" data-build-manifest="{"yes" if manifest else "no"}">{paragraphs}'
                f'<div class="table-scroll"><table class="retain-table audit-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
                f'<p class="retain-table-title">{html.escape(self.t("audit.files-title"))}</p>'
                f'<div class="table-scroll"><table class="retain-table audit-files"><thead><tr>{file_head}</tr></thead><tbody>{file_rows}</tbody></table></div></div>'
            )
        )

    def _audit_files(self, rows: list[dict[str, str]]) -> dict[str, tuple[str, int]]:
        """Each data file behind the IDs, once, with its full SHA-256 and how many IDs rest on it."""
        files: dict[str, tuple[str, int]] = {}
        for row in rows:
            paths = _expand_braces(row["data"])
            shas = row["sha256"].split(" ") if len(paths) > 1 else [row["sha256"]]
            for path, sha in zip(paths, shas, strict=False):
                sha = sha.split(":", 1)[1] if len(paths) > 1 and ":" in sha else sha
                count = files.get(path, (sha, 0))[1]
                files[path] = (sha, count + 1)
        return dict(sorted(files.items()))


def _expand_braces(path: str) -> list[str]:
    """'results/tables/{a,b}.parquet' -> both paths (numbers read from several tables name them so)."""
    match = re.search(r"\{([^{}]+)\}", path)
    if not match:
        return [path]
    return [p for option in match.group(1).split(",") for p in _expand_braces(path[: match.start()] + option + path[match.end() :])]


def _short_sha(text: str) -> str:
    """The first 12 hex digits of each hash (full hashes are in the data-file table and the title)."""
    return re.sub(r"\b([0-9a-f]{12})[0-9a-f]{52}\b", r"\1…", text)


def _align(column: dict[str, Any]) -> str:
    return "text" if column["format"]["kind"] in ("text", "category") else "number"


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>|#^~])", r"\\\1", str(text))


def _markdown_code(text: str) -> str:
    """`code` spans to <code> (captions are written once, for markdown and HTML)."""
    parts = re.split(r"`([^`]*)`", text)
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p, quote=False) for i, p in enumerate(parts))
