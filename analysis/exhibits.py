"""The registry of exhibits (charts and tables) the reports show, and the code that writes them.

An exhibit is declared once, below, with its kind, its file stem, the report it belongs to and the
tables it reads; the workflow derives the figure rules' inputs and outputs from these
declarations, and a builder can read only the tables it declared (so the rule's inputs are right).

    Exhibit("fig", "turnover-trend", "quarterly", ("turnover",), "analysis.figures:turnover_trend")

Adding an exhibit for a new analysis:
1. make sure its table is in `analysis.pipeline.TABLES` (name -> path);
2. write a builder `def my_chart(ctx: Context) -> Figure` (or `-> Table`) in analysis/figures.py
   (charts) or analysis/report_tables.py (tables): read with `ctx.table("name")`, write words
   with `ctx.t(<message ID>, ...)` (analysis/messages.yaml) and return Figure(title, caption,
   chart, data) — `data` is exactly what the chart shows;
3. add one `Exhibit(...)` line to EXHIBITS;
4. show it in a template: `r.figure("fig:my-chart:" + quarter)` / `r.table("tbl:…")`.

Files, under results/figures/<label>/ (label: the quarter, or "research"):
- chart: `<stem>.vl.json` (Vega-Lite spec with its data inline and `usermeta.retain` = id, title,
  caption, source tables, language), `<stem>.parquet` (the data), `<stem>.svg` (vl-convert);
- table: `<stem>.tbl.json` (id, title, caption, columns with labels and number formats) and
  `<stem>.parquet`.
IDs: `fig:<stem>:<label>` and `tbl:<stem>:<label>`.

This module imports nothing heavy at load time: Snakemake reads the registry when it parses the
workflow.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis import messages

if TYPE_CHECKING:
    import polars as pl

SCOPES = ("quarterly", "research")
FILE_KINDS = {"fig": ("vl.json", "parquet", "svg"), "tbl": ("tbl.json", "parquet")}
RESEARCH = "research"  # the label (directory, ID suffix) of the research report's exhibits


@dataclass(frozen=True)
class Exhibit:
    kind: str  # "fig" (chart) or "tbl" (table)
    stem: str  # file stem, and the middle of the ID
    scope: str  # which report shows it: "quarterly" (one per quarter) or "research"
    tables: tuple[str, ...]  # names in analysis.pipeline.exhibit_sources() it reads
    builder: str  # "module:function"

    def id(self, label: str) -> str:
        return f"{self.kind}:{self.stem}:{label}"

    def files(self, directory: str | Path) -> dict[str, str]:
        """Extension -> path of each file this exhibit writes into `directory`."""
        return {ext: f"{directory}/{self.stem}.{ext}" for ext in FILE_KINDS[self.kind]}


EXHIBITS: tuple[Exhibit, ...] = (
    # quarterly report
    Exhibit("fig", "turnover-trend", "quarterly", ("turnover",), "analysis.figures:turnover_trend"),
    Exhibit("fig", "turnover-by-site", "quarterly", ("turnover",), "analysis.figures:turnover_by_site"),
    Exhibit("fig", "turnover-by-team", "quarterly", ("turnover",), "analysis.figures:turnover_by_team"),
    Exhibit("fig", "driver-trend", "quarterly", ("engagement",), "analysis.figures:driver_trend"),
    Exhibit("fig", "team-driver-heatmap", "quarterly", ("engagement",), "analysis.figures:team_driver_heatmap"),
    Exhibit("fig", "km-curves", "quarterly", ("km_curves", "km_logrank"), "analysis.figures:km_curves"),
    Exhibit("fig", "hazard-ratios", "quarterly", ("cox_hazard_ratios", "competing_risks_hr"), "analysis.figures:hazard_ratios"),
    # one event study per programme type (analysis.numbers.PROGRAMMES); the builder reads the type from the stem
    Exhibit("fig", "event-study-mission", "quarterly", ("programme_event_study", "programme_effects"), "analysis.figures:event_study"),
    Exhibit("fig", "event-study-recognition", "quarterly", ("programme_event_study", "programme_effects"), "analysis.figures:event_study"),
    Exhibit("fig", "event-study-worklife", "quarterly", ("programme_event_study", "programme_effects"), "analysis.figures:event_study"),
    Exhibit("fig", "response-rates", "quarterly", ("response_rates",), "analysis.figures:response_rates"),
    Exhibit("tbl", "ingest-summary", "quarterly", ("ingest_manifest",), "analysis.report_tables:ingest_summary"),
    Exhibit("tbl", "privacy-summary", "quarterly", ("turnover", "engagement", "enps", "response_rates"), "analysis.report_tables:privacy_summary"),
    # research report
    Exhibit("fig", "driver-intervals", "research", ("engagement",), "analysis.figures:driver_intervals"),
    Exhibit("fig", "enps-trend", "research", ("enps",), "analysis.figures:enps_trend"),
    Exhibit("fig", "response-rate-trend", "research", ("response_rates",), "analysis.figures:response_rate_trend"),
    Exhibit("tbl", "turnover-organisation", "research", ("turnover",), "analysis.report_tables:turnover_organisation"),
    Exhibit("tbl", "turnover-site", "research", ("turnover",), "analysis.report_tables:turnover_site"),
    Exhibit("tbl", "turnover-team", "research", ("turnover",), "analysis.report_tables:turnover_team"),
    Exhibit("tbl", "cost", "research", ("cost",), "analysis.report_tables:cost"),
    Exhibit("tbl", "engagement-organisation", "research", ("engagement",), "analysis.report_tables:engagement_organisation"),
    Exhibit("tbl", "engagement-site", "research", ("engagement",), "analysis.report_tables:engagement_site"),
    Exhibit("tbl", "engagement-team", "research", ("engagement",), "analysis.report_tables:engagement_team"),
    Exhibit("tbl", "enps", "research", ("enps",), "analysis.report_tables:enps"),
    Exhibit("tbl", "response-rates", "research", ("response_rates",), "analysis.report_tables:response_rates"),
    Exhibit("fig", "hazard-ratio-models", "research", ("cox_hazard_ratios",), "analysis.figures:hazard_ratio_models"),
    Exhibit("tbl", "km-curves", "research", ("km_curves",), "analysis.report_tables:km_curves_table"),
    Exhibit("tbl", "km-logrank", "research", ("km_logrank",), "analysis.report_tables:km_logrank"),
    Exhibit("tbl", "cox-hazard-ratios", "research", ("cox_hazard_ratios",), "analysis.report_tables:cox_hazard_ratios"),
    Exhibit("tbl", "exit12-odds-ratios", "research", ("exit12_odds_ratios",), "analysis.report_tables:exit12_odds_ratios"),
    Exhibit("tbl", "competing-risks-hr", "research", ("competing_risks_hr",), "analysis.report_tables:competing_risks_hr"),
    Exhibit("tbl", "competing-risks-cif", "research", ("competing_risks_cif",), "analysis.report_tables:competing_risks_cif"),
    Exhibit("tbl", "team-panel", "research", ("team_panel",), "analysis.report_tables:team_panel"),
    Exhibit("tbl", "programme-effects", "research", ("programme_effects",), "analysis.report_tables:programme_effects"),
    Exhibit("tbl", "programme-event-study", "research", ("programme_event_study",), "analysis.report_tables:programme_event_study_table"),
    Exhibit("tbl", "programme-group-time", "research", ("programme_group_time",), "analysis.report_tables:programme_group_time"),
    Exhibit("tbl", "programme-savings", "research", ("programme_savings",), "analysis.report_tables:programme_savings"),
    Exhibit("tbl", "driver-importance", "research", ("driver_importance",), "analysis.report_tables:driver_importance"),
    Exhibit("tbl", "reliability", "research", ("reliability",), "analysis.report_tables:reliability"),
    Exhibit("tbl", "programme-pretrends", "research", ("programme_effects",), "analysis.report_tables:programme_pretrends"),
    Exhibit("tbl", "cox-sensitivity", "research", ("cox_hazard_ratios",), "analysis.report_tables:cox_sensitivity"),
    Exhibit("tbl", "ingest-files", "research", ("ingest_manifest",), "analysis.report_tables:ingest_files"),
    Exhibit("tbl", "privacy-summary", "research", ("turnover", "engagement", "enps", "response_rates"), "analysis.report_tables:privacy_summary"),
    Exhibit("tbl", "config", "research", (), "analysis.report_tables:config_used"),
)


def registered(scope: str) -> list[Exhibit]:
    if scope not in SCOPES:
        raise ValueError(f"unknown exhibit scope {scope!r}; expected one of {SCOPES}")
    return [e for e in EXHIBITS if e.scope == scope]


def tables_read(scope: str) -> list[str]:
    """The table names the exhibits of a scope read, in first-use order."""
    return list(dict.fromkeys(name for e in registered(scope) for name in e.tables))


def label_directory(label: str) -> str:
    return f"results/figures/{label}"


# ------------------------------------------------------------------ what builders return


@dataclass
class Figure:
    title: str  # states the finding
    caption: str  # how to read it: definitions, intervals, what is hidden
    chart: Any  # an Altair chart
    data: pl.DataFrame  # exactly the rows the chart shows


@dataclass
class Table:
    title: str
    caption: str
    data: pl.DataFrame
    columns: list[dict[str, Any]]  # {"name", "label", "format"} in display order (format: analysis.messages)
    collapsed: bool = False  # long tables: folded in HTML (<details>)
    meta: dict[str, Any] = field(default_factory=dict)


class Context:
    """What a builder gets: its declared tables, the report's quarter, the config and the language."""

    def __init__(self, exhibit: Exhibit, sources: dict[str, str], label: str, quarter: str, config: dict, lang: str):
        self.exhibit = exhibit
        self.sources = sources
        self.label = label
        self.quarter = quarter
        self.config = config
        self.lang = messages.check_language(lang)
        self._cache: dict[str, Any] = {}

    @property
    def id(self) -> str:
        return self.exhibit.id(self.label)

    @property
    def benchmarks(self) -> dict[str, float]:
        return self.config["benchmarks"]

    @property
    def min_group_size(self) -> int:
        return self.config["privacy"]["min_group_size"]

    def table(self, name: str) -> Any:
        """A declared table: a Polars DataFrame for .parquet, the parsed document for .json."""
        if name not in self.exhibit.tables:
            raise KeyError(f"{self.id} reads {name!r} but declares only {self.exhibit.tables} (analysis/exhibits.py)")
        if name not in self._cache:
            path = Path(self.sources[name])
            if path.suffix == ".parquet":
                import polars as pl

                self._cache[name] = pl.read_parquet(path)
            else:
                self._cache[name] = json.loads(path.read_text(encoding="utf-8"))
        return self._cache[name]

    def t(self, key: str, /, **values: Any) -> str:
        return messages.text(key, self.lang, **values)

    def fmt(self, value: Any, fmt: dict[str, Any]) -> str:
        return messages.fmt_value(value, fmt, self.lang)

    def pct(self, value: float | None, digits: int = 0) -> str:
        return messages.fmt_value(value, {"kind": "pct", "digits": digits}, self.lang)


# ------------------------------------------------------------------ building and writing


def _builder(exhibit: Exhibit):
    module, _, function = exhibit.builder.partition(":")
    return getattr(importlib.import_module(module), function)


def write_figure(exhibit: Exhibit, label: str, figure: Figure, directory: Path, lang: str) -> dict[str, str]:
    import vl_convert as vlc

    directory.mkdir(parents=True, exist_ok=True)
    spec = figure.chart.to_dict()
    spec["usermeta"] = {
        "retain": {
            "id": exhibit.id(label),
            "title": figure.title,
            "caption": figure.caption,
            "source_tables": list(exhibit.tables),
            "language": lang,
            "format_locale": messages.VEGA_LOCALES[lang],
        }
    }
    paths = exhibit.files(directory)
    Path(paths["vl.json"]).write_text(json.dumps(spec, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    figure.data.write_parquet(paths["parquet"])
    svg = vlc.vegalite_to_svg(spec, format_locale=messages.VEGA_LOCALES[lang])
    Path(paths["svg"]).write_text(svg, encoding="utf-8")
    return paths


def write_table(exhibit: Exhibit, label: str, table: Table, directory: Path, lang: str) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    missing = [c["name"] for c in table.columns if c["name"] not in table.data.columns]
    if missing:
        raise KeyError(f"{exhibit.id(label)}: columns {missing} are not in its data")
    meta = {
        "id": exhibit.id(label),
        "title": table.title,
        "caption": table.caption,
        "columns": table.columns,
        "collapsed": table.collapsed,
        "source_tables": list(exhibit.tables),
        "language": lang,
        **table.meta,
    }
    paths = exhibit.files(directory)
    Path(paths["tbl.json"]).write_text(json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    table.data.write_parquet(paths["parquet"])
    return paths


def build(scope: str, label: str, quarter: str, sources: dict[str, str], config: dict, out_dir: str | Path) -> list[tuple[str, str]]:
    """Build and write every exhibit of `scope`; returns (id, title) pairs."""
    lang = config["report"].get("language", messages.DEFAULT_LANGUAGE)
    built = []
    for exhibit in registered(scope):
        ctx = Context(exhibit, sources, label, quarter, config, lang)
        result = _builder(exhibit)(ctx)
        if exhibit.kind == "fig":
            if not isinstance(result, Figure):
                raise TypeError(f"{exhibit.builder} must return a Figure")
            write_figure(exhibit, label, result, Path(out_dir), lang)
        else:
            if not isinstance(result, Table):
                raise TypeError(f"{exhibit.builder} must return a Table")
            write_table(exhibit, label, result, Path(out_dir), lang)
        built.append((exhibit.id(label), result.title))
    return built
