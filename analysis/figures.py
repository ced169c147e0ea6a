"""Altair figures: one theme, titles that state the finding, and for each figure three files:
`{stem}.vl.json` (the Vega-Lite spec with its data inline), `{stem}.parquet` (exactly the data
behind it) and `{stem}.svg` (a static rendering through vl-convert, for PDF).

Figures for a quarterly report show data up to that quarter only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import altair as alt
import polars as pl
import vl_convert as vlc

from analysis.periods import parse_quarter

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
INK = "#1f2933"
MUTED = "#6b7280"
BENCH_FILL = "#E69F00"
FONT = "Helvetica, Arial, sans-serif"

DRIVER_LABELS = {
    "mission": "Mission",
    "recognition": "Recognition",
    "worklife": "Work-life",
    "growth": "Growth",
    "autonomy": "Autonomy",
    "manager": "Manager",
    "engagement": "Engagement",
    "intent_to_stay": "Intent to stay",
}


@alt.theme.register("retain", enable=True)
def retain_theme() -> alt.theme.ThemeConfig:
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "view": {"stroke": None, "continuousWidth": 560, "continuousHeight": 280},
            "title": {"fontSize": 15, "fontWeight": 600, "anchor": "start", "color": INK, "subtitleColor": MUTED, "subtitleFontSize": 12, "offset": 12},
            "axis": {"labelFontSize": 12, "titleFontSize": 12, "labelColor": INK, "titleColor": MUTED, "gridColor": "#e5e7eb", "domainColor": "#9ca3af", "tickColor": "#9ca3af"},
            "legend": {"labelFontSize": 12, "titleFontSize": 12, "titleColor": MUTED, "orient": "bottom"},
            "range": {"category": PALETTE},
            "line": {"strokeWidth": 2.5},
            "point": {"size": 50, "filled": True},
        }
    }


@dataclass(frozen=True)
class Figure:
    id: str  # stable, e.g. "fig:turnover-trend:2026Q3"
    stem: str  # file stem under results/figures/{quarter}/
    title: str
    caption: str
    chart: alt.TopLevelMixin
    data: pl.DataFrame
    source_tables: tuple[str, ...]


def _upto(frame: pl.DataFrame, quarter: str) -> pl.DataFrame:
    last = parse_quarter(quarter)
    return frame.filter(pl.col("quarter").map_elements(lambda q: parse_quarter(q) <= last, return_dtype=pl.Boolean))


def pct(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def turnover_trend(turnover: pl.DataFrame, quarter: str, benchmarks: dict) -> Figure:
    data = _upto(turnover.filter(pl.col("level") == "organisation"), quarter).select(
        "quarter", "voluntary_rate", "voluntary_rate_low", "voluntary_rate_high", "avg_headcount", "voluntary_exits"
    ).sort("quarter")
    latest = data.filter(pl.col("quarter") == quarter).row(0, named=True) if data.height else {}
    rate = latest.get("voluntary_rate")
    low, high = benchmarks["contact_centre_low"], benchmarks["contact_centre_high"]
    if rate is None:
        position = "could not be measured"
    elif rate < low:
        position = "below the contact-centre band"
    elif rate > high:
        position = "above the contact-centre band"
    else:
        position = "inside the contact-centre band"
    title = f"Voluntary turnover ran at {pct(rate)} a year in {quarter}, {position}"
    base = alt.Chart(alt.Data(values=data.to_dicts()))
    x = alt.X("quarter:O", title=None, axis=alt.Axis(labelAngle=0))
    band = alt.Chart(alt.Data(values=[{"low": low, "high": high, "label": f"Contact centres {pct(low)}–{pct(high)}"}])).mark_rect(
        color=BENCH_FILL, opacity=0.15
    ).encode(y=alt.Y("low:Q"), y2="high:Q")
    band_label = alt.Chart(alt.Data(values=[{"y": high, "label": f"Contact-centre range {pct(low)}–{pct(high)}"}])).mark_text(
        align="left", baseline="bottom", dx=4, dy=-2, color="#8a5a00", fontSize=11
    ).encode(y="y:Q", text="label:N", x=alt.value(0))
    rule = alt.Chart(alt.Data(values=[{"y": benchmarks["all_industry"], "label": f"All industries {pct(benchmarks['all_industry'], 1)}"}])).mark_rule(
        color=MUTED, strokeDash=[5, 4]
    ).encode(y="y:Q")
    rule_label = rule.mark_text(align="left", baseline="top", dx=4, dy=3, color=MUTED, fontSize=11).encode(text="label:N", x=alt.value(0))
    interval = base.mark_area(opacity=0.18, color=PALETTE[0]).encode(x=x, y=alt.Y("voluntary_rate_low:Q"), y2="voluntary_rate_high:Q")
    line = base.mark_line(point=True, color=PALETTE[0]).encode(
        x=x,
        y=alt.Y("voluntary_rate:Q", title="Annualised voluntary turnover", axis=alt.Axis(format="%")),
        tooltip=[
            alt.Tooltip("quarter:O", title="Quarter"),
            alt.Tooltip("voluntary_rate:Q", title="Voluntary turnover", format=".1%"),
            alt.Tooltip("voluntary_rate_low:Q", title="95% interval from", format=".1%"),
            alt.Tooltip("voluntary_rate_high:Q", title="95% interval to", format=".1%"),
            alt.Tooltip("voluntary_exits:Q", title="Voluntary exits"),
            alt.Tooltip("avg_headcount:Q", title="Average headcount", format=".0f"),
        ],
    )
    chart = alt.layer(band, band_label, rule, rule_label, interval, line).properties(
        title=alt.Title(title, subtitle="Annualised rate per quarter with its 95% interval; shaded band: contact-centre benchmark"),
        width=600,
        height=300,
    )
    caption = (
        "Annualised voluntary turnover (voluntary exits in the quarter / average headcount × 4), organisation-wide, "
        "with an exact Poisson 95% interval. Shaded: the contact-centre benchmark band; dashed: all industries."
    )
    return Figure(f"fig:turnover-trend:{quarter}", "turnover-trend", title, caption, chart, data, ("turnover",))


def driver_trend(engagement: pl.DataFrame, quarter: str) -> Figure:
    drivers = [d for d in DRIVER_LABELS if d not in ("engagement", "intent_to_stay")]
    data = (
        _upto(engagement.filter((pl.col("level") == "organisation") & pl.col("driver").is_in(drivers)), quarter)
        .select("quarter", "driver", "respondents", "pct_favourable", "pct_favourable_low", "pct_favourable_high")
        .with_columns(pl.col("driver").replace_strict(DRIVER_LABELS).alias("driver_label"))
        .sort("quarter", "driver")
    )
    now = data.filter(pl.col("quarter") == quarter).sort("pct_favourable", descending=True, nulls_last=True)
    if now.height and now["pct_favourable"][0] is not None:
        best, worst = now.row(0, named=True), now.row(now.height - 1, named=True)
        title = f"{best['driver_label']} is the strongest driver in {quarter} ({pct(best['pct_favourable'])} favourable), {worst['driver_label'].lower()} the weakest ({pct(worst['pct_favourable'])})"
    else:
        title = f"Driver scores for {quarter} could not be measured"
    labels = [DRIVER_LABELS[d] for d in drivers]
    base = alt.Chart(alt.Data(values=data.to_dicts()))
    colour = alt.Color("driver_label:N", title="Driver", sort=labels, scale=alt.Scale(domain=labels, range=PALETTE[: len(labels)]))
    chart = base.mark_line(point=True).encode(
        x=alt.X("quarter:O", title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("pct_favourable:Q", title="% favourable (4 or 5 of 5)", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=colour,
        tooltip=[
            alt.Tooltip("driver_label:N", title="Driver"),
            alt.Tooltip("quarter:O", title="Wave"),
            alt.Tooltip("pct_favourable:Q", title="% favourable", format=".1%"),
            alt.Tooltip("pct_favourable_low:Q", title="95% interval from", format=".1%"),
            alt.Tooltip("pct_favourable_high:Q", title="95% interval to", format=".1%"),
            alt.Tooltip("respondents:Q", title="Respondents"),
        ],
    ).properties(
        title=alt.Title(title, subtitle="Share of favourable answers per driver and wave, organisation-wide"),
        width=600,
        height=300,
    )
    caption = "% favourable per driver and wave: answers of 4 or 5 on the driver's items (reverse-scored items turned round) over all its answers."
    return Figure(f"fig:driver-trend:{quarter}", "driver-trend", title, caption, chart, data, ("engagement",))


def team_driver_heatmap(engagement: pl.DataFrame, quarter: str, min_group_size: int) -> Figure:
    drivers = [d for d in DRIVER_LABELS if d not in ("engagement", "intent_to_stay")]
    data = (
        engagement.filter((pl.col("level") == "team") & (pl.col("quarter") == quarter) & pl.col("driver").is_in(drivers))
        .select("site", "team", "driver", "respondents", "pct_favourable", "suppressed")
        .with_columns(
            pl.col("driver").replace_strict(DRIVER_LABELS).alias("driver_label"),
            pl.when(pl.col("suppressed").is_not_null())
            .then(pl.lit(f"hidden (n<{min_group_size})"))
            .otherwise((pl.col("pct_favourable") * 100).round(0).cast(pl.Int64).cast(pl.String) + "%")
            .alias("label"),
        )
        .sort("site", "team", "driver")
    )
    hidden = data.filter(pl.col("suppressed").is_not_null()).height
    title = f"Team × driver favourability in {quarter}" + (f": {hidden} cells hidden to protect small groups" if hidden else "")
    base = alt.Chart(alt.Data(values=data.to_dicts())).encode(
        x=alt.X("driver_label:N", title=None, sort=[DRIVER_LABELS[d] for d in drivers], axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("team:N", title=None, sort=sorted(data["team"].unique().to_list())),
    )
    shown = base.transform_filter("datum.suppressed == null").mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color("pct_favourable:Q", title="% favourable", scale=alt.Scale(scheme="blues", domain=[0.2, 0.9]), legend=alt.Legend(format="%")),
        tooltip=[alt.Tooltip("team:N", title="Team"), alt.Tooltip("driver_label:N", title="Driver"), alt.Tooltip("pct_favourable:Q", format=".1%", title="% favourable"), alt.Tooltip("respondents:Q", title="Respondents")],
    )
    masked = base.transform_filter("datum.suppressed != null").mark_rect(color="#f3f4f6", stroke="#9ca3af", strokeDash=[3, 2]).encode(
        tooltip=[alt.Tooltip("team:N", title="Team"), alt.Tooltip("label:N", title="Value")]
    )
    text = base.mark_text(fontSize=10).encode(
        text="label:N",
        color=alt.condition("datum.pct_favourable > 0.65", alt.value("white"), alt.value(INK)),
    )
    chart = alt.layer(shown, masked, text).properties(
        title=alt.Title(title, subtitle="Cells hidden for privacy are grey with a dashed border, never blank or zero"),
        width=620,
        height=alt.Step(24),
    )
    caption = (
        f"% favourable per team and driver in {quarter}. Teams with fewer than {min_group_size} respondents, "
        "and cells that would reveal them by subtraction, are hidden."
    )
    return Figure(f"fig:team-driver-heatmap:{quarter}", "team-driver-heatmap", title, caption, chart, data, ("engagement",))


BUILDERS: dict[str, Callable[..., Figure]] = {
    "turnover-trend": turnover_trend,
    "driver-trend": driver_trend,
    "team-driver-heatmap": team_driver_heatmap,
}


def write_figure(figure: Figure, out_dir: Path) -> dict[str, str]:
    """Write spec, data and SVG; return the three paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = figure.chart.to_dict()
    spec["usermeta"] = {"retain": {"id": figure.id, "caption": figure.caption, "source_tables": list(figure.source_tables)}}
    paths = {kind: out_dir / f"{figure.stem}.{kind}" for kind in ("vl.json", "parquet", "svg")}
    paths["vl.json"].write_text(json.dumps(spec, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    figure.data.write_parquet(paths["parquet"])
    paths["svg"].write_text(vlc.vegalite_to_svg(spec), encoding="utf-8")
    return {k: str(v) for k, v in paths.items()}


def build(tables: dict[str, str], quarter: str, config: dict, out_dir: str) -> list[Figure]:
    turnover = pl.read_parquet(tables["turnover"])
    engagement = pl.read_parquet(tables["engagement"])
    figures = [
        turnover_trend(turnover, quarter, config["benchmarks"]),
        driver_trend(engagement, quarter),
        team_driver_heatmap(engagement, quarter, config["privacy"]["min_group_size"]),
    ]
    for figure in figures:
        write_figure(figure, Path(out_dir))
    return figures
