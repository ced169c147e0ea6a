"""Altair charts for the reports: one theme, titles that state the finding, tooltips in HTML.

Each function here is an exhibit builder registered in analysis/exhibits.py: it gets a Context
(its declared tables, the quarter, the config, the language) and returns a Figure whose `data` is
exactly what the chart shows. Words come from analysis/messages.yaml; judgements shared with the
text (band position, driver ranking) come from analysis/numbers.py, so a chart title and the
sentence beside it never disagree. Quarterly charts show data up to their quarter only.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from analysis.exhibits import Context, Figure
from analysis.messages import has as has_message
from analysis.numbers import DRIVERS, HR_MODEL, PVALUE, band_position, driver_ranking, effect_reading, group_positions, km_horizon_day, km_reading, ratio_reading

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
INK = "#1f2933"
MUTED = "#6b7280"
BENCH_FILL = "#E69F00"
BENCH_INK = "#8a5a00"
# Sites are drawn over the orange benchmark band: their colours leave its orange out, so no site reads as the band.
SITE_PALETTE = [c for c in PALETTE if c != BENCH_FILL]
HIDDEN_FILL = "#f3f4f6"
HIDDEN_STROKE = "#6b7280"
FONT = "Helvetica, Arial, sans-serif"
WIDTH = 640


@alt.theme.register("retain", enable=True)
def retain_theme() -> alt.theme.ThemeConfig:
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "padding": 8,
            "view": {"stroke": None, "continuousWidth": WIDTH, "continuousHeight": 260},
            "title": {"fontSize": 15, "fontWeight": 600, "anchor": "start", "color": INK, "subtitleColor": MUTED, "subtitleFontSize": 12, "offset": 12, "limit": 0},
            "axis": {"labelFontSize": 12, "titleFontSize": 12, "labelColor": INK, "titleColor": MUTED, "gridColor": "#e5e7eb", "domainColor": "#9ca3af", "tickColor": "#9ca3af", "labelLimit": 160},
            "legend": {"labelFontSize": 12, "titleFontSize": 12, "titleColor": MUTED, "orient": "bottom"},
            "header": {"labelFontSize": 12, "labelColor": INK, "titleFontSize": 12},
            "range": {"category": PALETTE},
            "line": {"strokeWidth": 2.5},
            "point": {"size": 50, "filled": True},
        }
    }


def _upto(frame: pl.DataFrame, quarter: str) -> pl.DataFrame:
    """Rows up to and including `quarter` (labels like 2026Q3 sort in time order)."""
    return frame.filter(pl.col("quarter") <= quarter)


def _values(data: pl.DataFrame) -> alt.Data:
    return alt.Data(values=data.to_dicts())


def _driver(ctx: Context, driver: str | None) -> str:
    return ctx.t(f"category.driver.{driver or 'unknown'}")


def _benchmark_layers(ctx: Context, axis: str) -> list[alt.Chart]:
    """The contact-centre band (shaded) and the all-industry line (dashed), labelled, on `axis`."""
    bench = ctx.benchmarks
    low, high, line = bench["contact_centre_low"], bench["contact_centre_high"], bench["all_industry"]
    band_text = ctx.t("fig.band-label", low=ctx.pct(low), high=ctx.pct(high))
    line_text = ctx.t("fig.industry-label", rate=ctx.pct(line, 1))
    band = alt.Chart(alt.Data(values=[{"low": low, "high": high}])).mark_rect(color=BENCH_FILL, opacity=0.16).encode(
        **{axis: alt.X("low:Q") if axis == "x" else alt.Y("low:Q"), f"{axis}2": "high:Q"}
    )
    rule = alt.Chart(alt.Data(values=[{"v": line}])).mark_rule(color=MUTED, strokeDash=[5, 4]).encode(
        **{axis: alt.X("v:Q") if axis == "x" else alt.Y("v:Q")}
    )
    if axis == "y":
        band_label = alt.Chart(alt.Data(values=[{"v": high, "t": band_text}])).mark_text(
            align="left", baseline="bottom", dx=4, dy=-2, color=BENCH_INK, fontSize=11
        ).encode(y="v:Q", text="t:N", x=alt.value(0))
        line_label = alt.Chart(alt.Data(values=[{"v": line, "t": line_text}])).mark_text(
            align="left", baseline="top", dx=4, dy=3, color=MUTED, fontSize=11
        ).encode(y="v:Q", text="t:N", x=alt.value(0))
    else:
        band_label = alt.Chart(alt.Data(values=[{"v": high, "t": band_text}])).mark_text(
            align="right", baseline="bottom", dx=-3, dy=-4, color=BENCH_INK, fontSize=11
        ).encode(x="v:Q", text="t:N", y=alt.value(0))
        line_label = alt.Chart(alt.Data(values=[{"v": line, "t": line_text}])).mark_text(
            align="left", baseline="bottom", dx=3, dy=-4, color=MUTED, fontSize=11
        ).encode(x="v:Q", text="t:N", y=alt.value(0))
    return [band, band_label, rule, line_label]


def _rate_tooltip(ctx: Context, extra: list[alt.Tooltip]) -> list[alt.Tooltip]:
    return [
        *extra,
        alt.Tooltip("voluntary_rate:Q", title=ctx.t("col.voluntary_rate"), format=".1%"),
        alt.Tooltip("voluntary_rate_low:Q", title=ctx.t("col.voluntary_rate_low"), format=".1%"),
        alt.Tooltip("voluntary_rate_high:Q", title=ctx.t("col.voluntary_rate_high"), format=".1%"),
        alt.Tooltip("voluntary_exits:Q", title=ctx.t("col.voluntary_exits")),
        alt.Tooltip("avg_headcount:Q", title=ctx.t("col.avg_headcount"), format=".0f"),
    ]


# ------------------------------------------------------------------ turnover


def turnover_trend(ctx: Context) -> Figure:
    turnover = ctx.table("turnover")
    data = _upto(turnover.filter(pl.col("level") == "organisation"), ctx.quarter).select(
        "quarter", "voluntary_rate", "voluntary_rate_low", "voluntary_rate_high", "avg_headcount", "voluntary_exits"
    ).sort("quarter")
    now = data.filter(pl.col("quarter") == ctx.quarter)
    latest = now.row(0, named=True) if now.height else {}
    rate, low, high = latest.get("voluntary_rate"), latest.get("voluntary_rate_low"), latest.get("voluntary_rate_high")
    bench = ctx.benchmarks
    position = band_position(rate, low, high, bench["contact_centre_low"], bench["contact_centre_high"])
    title = ctx.t("fig.turnover-trend.title", rate=ctx.pct(rate, 1), quarter=ctx.quarter, band=ctx.t(f"category.band-short.{position or 'unknown'}"))
    subtitle = ctx.t("fig.turnover-trend.subtitle", low=ctx.pct(low, 1), high=ctx.pct(high, 1))
    base = alt.Chart(_values(data))
    x = alt.X("quarter:O", title=None, axis=alt.Axis(labelAngle=0))
    interval = base.mark_area(opacity=0.18, color=PALETTE[0]).encode(x=x, y=alt.Y("voluntary_rate_low:Q"), y2="voluntary_rate_high:Q")
    line = base.mark_line(point=True, color=PALETTE[0]).encode(
        x=x,
        y=alt.Y("voluntary_rate:Q", title=ctx.t("axis.voluntary-turnover"), axis=alt.Axis(format="%")),
        tooltip=_rate_tooltip(ctx, [alt.Tooltip("quarter:O", title=ctx.t("col.quarter"))]),
    )
    chart = alt.layer(*_benchmark_layers(ctx, "y"), interval, line).properties(
        title=alt.Title(title, subtitle=subtitle), width=WIDTH, height=280
    )
    return Figure(title, ctx.t("fig.turnover-trend.caption"), chart, data)


def turnover_by_site(ctx: Context) -> Figure:
    turnover = ctx.table("turnover")
    data = _upto(turnover.filter(pl.col("level") == "site"), ctx.quarter).select(
        "site", "quarter", "voluntary_rate", "voluntary_rate_low", "voluntary_rate_high", "avg_headcount", "voluntary_exits", "suppressed"
    ).sort("site", "quarter")
    sites = sorted(data["site"].unique().to_list())
    now = group_positions(turnover, ctx.quarter, "site", ctx.benchmarks).filter(pl.col("voluntary_rate").is_not_null())
    if now.height:
        ranked = now.sort(["voluntary_rate", "site"], descending=[True, False])
        top, bottom = ranked.row(0, named=True), ranked.row(-1, named=True)
        title = ctx.t("fig.turnover-by-site.title", quarter=ctx.quarter, high_site=top["site"], high_rate=ctx.pct(top["voluntary_rate"], 1), low_site=bottom["site"], low_rate=ctx.pct(bottom["voluntary_rate"], 1))
    else:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    base = alt.Chart(_values(data))
    colour = alt.Color("site:N", title=ctx.t("col.site"), scale=alt.Scale(domain=sites, range=SITE_PALETTE[: len(sites)]))
    x = alt.X("quarter:O", title=None, axis=alt.Axis(labelAngle=0))
    lines = base.mark_line(point=True).encode(
        x=x,
        y=alt.Y("voluntary_rate:Q", title=ctx.t("axis.voluntary-turnover"), axis=alt.Axis(format="%")),
        color=colour,
        tooltip=_rate_tooltip(ctx, [alt.Tooltip("site:N", title=ctx.t("col.site")), alt.Tooltip("quarter:O", title=ctx.t("col.quarter"))]),
    )
    chart = alt.layer(*_benchmark_layers(ctx, "y"), lines).properties(
        title=alt.Title(title, subtitle=ctx.t("fig.turnover-by-site.subtitle")), width=WIDTH, height=260
    )
    return Figure(title, ctx.t("fig.turnover-by-site.caption", n=ctx.min_group_size), chart, data)


def turnover_by_team(ctx: Context) -> Figure:
    turnover = ctx.table("turnover")
    rows = group_positions(turnover, ctx.quarter, "team", ctx.benchmarks)
    hidden_text = ctx.t("fig.hidden-cell", n=ctx.min_group_size)
    data = rows.select(
        "site", "team", "group_size", "voluntary_exits", "avg_headcount", "voluntary_rate", "voluntary_rate_low", "voluntary_rate_high", "band_position", "suppressed"
    ).with_columns(
        pl.when(pl.col("suppressed").is_not_null()).then(pl.lit(hidden_text)).otherwise(pl.lit(None, pl.String)).alias("hidden_label"),
        pl.col("band_position").replace_strict(
            {p: ctx.t(f"category.band-short.{p}") for p in ("above", "above-uncertain", "inside", "below-uncertain", "below")}, default=None
        ).alias("band_label"),
    )
    shown = data.filter(pl.col("voluntary_rate").is_not_null())
    above = shown.filter(pl.col("band_position") == "above").height
    if shown.height == 0:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    elif above:
        title = ctx.t("fig.turnover-by-team.title-above", n=str(above), total=str(shown.height), quarter=ctx.quarter)
    else:
        top = shown.sort(["voluntary_rate", "team"], descending=[True, False]).row(0, named=True)
        title = ctx.t("fig.turnover-by-team.title-none", quarter=ctx.quarter, team=top["team"], rate=ctx.pct(top["voluntary_rate"], 1))
    order = data.sort("site", "team")["team"].to_list()
    sites = sorted(data["site"].unique().to_list())
    top_x = max([1.0, *[v for v in shown["voluntary_rate_high"].to_list() if v is not None]])
    scale = alt.Scale(domain=[0, min(top_x, 2.0)], clamp=True, nice=True)
    base = alt.Chart(_values(data)).encode(y=alt.Y("team:N", title=None, sort=order))
    tooltip = _rate_tooltip(ctx, [alt.Tooltip("team:N", title=ctx.t("col.team")), alt.Tooltip("site:N", title=ctx.t("col.site")), alt.Tooltip("band_label:N", title=ctx.t("col.band_position"))])
    colour = alt.Color("site:N", title=ctx.t("col.site"), scale=alt.Scale(domain=sites, range=SITE_PALETTE[: len(sites)]))
    whisker = base.transform_filter("datum.voluntary_rate != null").mark_rule(strokeWidth=2).encode(
        x=alt.X("voluntary_rate_low:Q", scale=scale, title=ctx.t("axis.voluntary-turnover"), axis=alt.Axis(format="%", orient="bottom")),
        x2="voluntary_rate_high:Q",
        color=colour,
        tooltip=tooltip,
    )
    dot = base.transform_filter("datum.voluntary_rate != null").mark_point(filled=True, size=70).encode(
        x=alt.X("voluntary_rate:Q", scale=scale), color=colour, tooltip=tooltip
    )
    hidden = base.transform_filter("datum.suppressed != null").mark_text(align="left", dx=4, color=HIDDEN_STROKE, fontStyle="italic", fontSize=11).encode(
        x=alt.value(0), text="hidden_label:N", tooltip=[alt.Tooltip("team:N", title=ctx.t("col.team")), alt.Tooltip("hidden_label:N", title=ctx.t("col.value"))]
    )
    # The band and line are named in the subtitle: in-chart labels would collide on a narrow band.
    band, _, rule, _ = _benchmark_layers(ctx, "x")
    bench = ctx.benchmarks
    subtitle = ctx.t(
        "fig.turnover-by-team.subtitle", quarter=ctx.quarter,
        low=ctx.pct(bench["contact_centre_low"]), high=ctx.pct(bench["contact_centre_high"]), line=ctx.pct(bench["all_industry"], 1),
    )  # fmt: skip
    chart = alt.layer(band, rule, whisker, dot, hidden).properties(
        title=alt.Title(title, subtitle=subtitle), width=WIDTH, height=alt.Step(22)
    )
    return Figure(title, ctx.t("fig.turnover-by-team.caption", n=ctx.min_group_size), chart, data)


# ------------------------------------------------------------------ engagement drivers


def _driver_frame(ctx: Context, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("driver").replace_strict({d: _driver(ctx, d) for d in DRIVERS}, default=None).alias("driver_label"))


def driver_trend(ctx: Context) -> Figure:
    engagement = ctx.table("engagement")
    data = _driver_frame(
        ctx,
        _upto(engagement.filter((pl.col("level") == "organisation") & pl.col("driver").is_in(DRIVERS)), ctx.quarter)
        .select("quarter", "driver", "respondents", "pct_favourable", "pct_favourable_low", "pct_favourable_high")
        .sort("quarter", "driver"),
    )
    ranking = driver_ranking(engagement, ctx.quarter)
    if ranking.height:
        best, worst = ranking.row(0, named=True), ranking.row(-1, named=True)
        title = ctx.t(
            "fig.driver-trend.title", quarter=ctx.quarter,
            best=_driver(ctx, best["driver"]), best_pct=ctx.pct(best["pct_favourable"]),
            worst=_driver(ctx, worst["driver"]), worst_pct=ctx.pct(worst["pct_favourable"]),
        )  # fmt: skip
    else:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    labels = [_driver(ctx, d) for d in DRIVERS]
    colour = alt.Color("driver_label:N", title=ctx.t("col.driver"), sort=labels, scale=alt.Scale(domain=labels, range=PALETTE[: len(labels)]))
    chart = alt.Chart(_values(data)).mark_line(point=True).encode(
        x=alt.X("quarter:O", title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("pct_favourable:Q", title=ctx.t("axis.favourable"), axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=colour,
        tooltip=[
            alt.Tooltip("driver_label:N", title=ctx.t("col.driver")),
            alt.Tooltip("quarter:O", title=ctx.t("col.quarter")),
            alt.Tooltip("pct_favourable:Q", title=ctx.t("col.pct_favourable"), format=".1%"),
            alt.Tooltip("pct_favourable_low:Q", title=ctx.t("col.pct_favourable_low"), format=".1%"),
            alt.Tooltip("pct_favourable_high:Q", title=ctx.t("col.pct_favourable_high"), format=".1%"),
            alt.Tooltip("respondents:Q", title=ctx.t("col.respondents")),
        ],
    ).properties(title=alt.Title(title, subtitle=ctx.t("fig.driver-trend.subtitle")), width=WIDTH, height=280)
    return Figure(title, ctx.t("fig.driver-trend.caption"), chart, data)


def team_driver_heatmap(ctx: Context) -> Figure:
    engagement = ctx.table("engagement")
    hidden_text = ctx.t("fig.hidden-cell", n=ctx.min_group_size)
    data = _driver_frame(
        ctx,
        engagement.filter((pl.col("level") == "team") & (pl.col("quarter") == ctx.quarter) & pl.col("driver").is_in(DRIVERS))
        .select("site", "team", "driver", "respondents", "pct_favourable", "pct_favourable_low", "pct_favourable_high", "suppressed")
        .sort("site", "team", "driver"),
    ).with_columns(
        pl.when(pl.col("suppressed").is_not_null())
        .then(pl.lit(hidden_text))
        .otherwise(pl.col("pct_favourable").map_elements(lambda v: ctx.pct(v), return_dtype=pl.String))
        .alias("label"),
    )
    hidden = data.filter(pl.col("suppressed").is_not_null()).height
    shown = data.filter(pl.col("pct_favourable").is_not_null())
    # Each team's weakest driver; the title names the driver weakest in most teams.
    weakest = (
        shown.sort(["team", "pct_favourable", "driver"]).group_by("team", maintain_order=True).first()
        .group_by("driver").len().sort(["len", "driver"], descending=[True, False])
    )  # fmt: skip
    teams = shown["team"].n_unique()
    if weakest.height:
        top = weakest.row(0, named=True)
        title = ctx.t("fig.heatmap.title", driver=_driver(ctx, top["driver"]), n=str(top["len"]), total=str(teams), quarter=ctx.quarter)
    else:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    subtitle = ctx.t("fig.heatmap.subtitle", hidden=str(hidden))
    labels = [_driver(ctx, d) for d in DRIVERS]
    base = alt.Chart(_values(data)).encode(
        x=alt.X("driver_label:N", title=None, sort=labels, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("team:N", title=None, sort=data.sort("site", "team")["team"].unique(maintain_order=True).to_list()),
    )
    cell_tooltip = [
        alt.Tooltip("team:N", title=ctx.t("col.team")),
        alt.Tooltip("driver_label:N", title=ctx.t("col.driver")),
        alt.Tooltip("label:N", title=ctx.t("col.pct_favourable")),
        alt.Tooltip("pct_favourable_low:Q", format=".1%", title=ctx.t("col.pct_favourable_low")),
        alt.Tooltip("pct_favourable_high:Q", format=".1%", title=ctx.t("col.pct_favourable_high")),
        alt.Tooltip("respondents:Q", title=ctx.t("col.respondents")),
    ]
    shown_cells = base.transform_filter("datum.suppressed == null").mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color("pct_favourable:Q", title=ctx.t("axis.favourable"), scale=alt.Scale(scheme="blues", domain=[0.2, 0.9]), legend=alt.Legend(format="%")),
        tooltip=cell_tooltip,
    )
    # Hidden cells: hatched grey with a dashed border and the word "hidden", never blank or zero.
    masked = base.transform_filter("datum.suppressed != null").mark_rect(color=HIDDEN_FILL, stroke=HIDDEN_STROKE, strokeDash=[3, 2], strokeWidth=1).encode(
        tooltip=[alt.Tooltip("team:N", title=ctx.t("col.team")), alt.Tooltip("driver_label:N", title=ctx.t("col.driver")), alt.Tooltip("label:N", title=ctx.t("col.value"))]
    )
    text = base.transform_filter("datum.suppressed == null").mark_text(fontSize=10).encode(
        text="label:N",
        color=alt.condition("datum.pct_favourable > 0.65", alt.value("white"), alt.value(INK)),
    )
    hidden_text = base.transform_filter("datum.suppressed != null").mark_text(fontSize=9, fontStyle="italic", color=HIDDEN_STROKE).encode(text="label:N")
    chart = alt.layer(shown_cells, masked, text, hidden_text).properties(title=alt.Title(title, subtitle=subtitle), width=WIDTH, height=alt.Step(24))
    return Figure(title, ctx.t("fig.heatmap.caption", quarter=ctx.quarter, n=ctx.min_group_size), chart, data)


# ------------------------------------------------------------------ survey response


def response_rates(ctx: Context) -> Figure:
    rates = ctx.table("response_rates")
    hidden_text = ctx.t("fig.hidden-cell", n=ctx.min_group_size)
    data = (
        rates.filter((pl.col("level") == "team") & (pl.col("quarter") == ctx.quarter))
        .select("site", "team", "invited", "respondents", "response_rate", "suppressed")
        .sort("site", "team")
        .with_columns(pl.when(pl.col("suppressed").is_not_null()).then(pl.lit(hidden_text)).otherwise(pl.lit(None, pl.String)).alias("hidden_label"))
    )
    org = rates.filter((pl.col("level") == "organisation") & (pl.col("quarter") == ctx.quarter))
    org_rate = org["response_rate"][0] if org.height else None
    shown = data.filter(pl.col("response_rate").is_not_null())
    if shown.height and org_rate is not None:
        low = shown.sort(["response_rate", "team"]).row(0, named=True)
        title = ctx.t("fig.response-rates.title", rate=ctx.pct(org_rate), quarter=ctx.quarter, team=low["team"], team_rate=ctx.pct(low["response_rate"]))
    else:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    sites = sorted(data["site"].unique().to_list())
    base = alt.Chart(_values(data)).encode(y=alt.Y("team:N", title=None, sort=data["team"].to_list()))
    bars = base.transform_filter("datum.response_rate != null").mark_bar(height=14).encode(
        x=alt.X("response_rate:Q", title=ctx.t("col.response_rate"), axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("site:N", title=ctx.t("col.site"), scale=alt.Scale(domain=sites, range=SITE_PALETTE[: len(sites)])),
        tooltip=[
            alt.Tooltip("team:N", title=ctx.t("col.team")),
            alt.Tooltip("response_rate:Q", title=ctx.t("col.response_rate"), format=".1%"),
            alt.Tooltip("respondents:Q", title=ctx.t("col.respondents")),
            alt.Tooltip("invited:Q", title=ctx.t("col.invited")),
        ],
    )
    hidden = base.transform_filter("datum.suppressed != null").mark_text(align="left", dx=4, color=HIDDEN_STROKE, fontStyle="italic", fontSize=11).encode(
        x=alt.value(0), text="hidden_label:N"
    )
    layers = [bars, hidden]
    if org_rate is not None:
        label = ctx.t("fig.response-rates.org-label", rate=ctx.pct(org_rate))
        rule = alt.Chart(alt.Data(values=[{"v": org_rate, "t": label}])).mark_rule(color=INK, strokeDash=[4, 3]).encode(x="v:Q")
        rule_text = rule.mark_text(align="left", baseline="bottom", dx=3, dy=-4, color=INK, fontSize=11).encode(text="t:N", y=alt.value(0))
        layers += [rule, rule_text]
    chart = alt.layer(*layers).properties(title=alt.Title(title, subtitle=ctx.t("fig.response-rates.subtitle", quarter=ctx.quarter)), width=WIDTH, height=alt.Step(22))
    return Figure(title, ctx.t("fig.response-rates.caption", n=ctx.min_group_size), chart, data)


# ------------------------------------------------------------------ research report


def driver_intervals(ctx: Context) -> Figure:
    engagement = ctx.table("engagement")
    data = _driver_frame(
        ctx,
        _upto(engagement.filter((pl.col("level") == "organisation") & pl.col("driver").is_in(DRIVERS)), ctx.quarter)
        .select("quarter", "driver", "respondents", "pct_favourable", "pct_favourable_low", "pct_favourable_high")
        .sort("driver", "quarter"),
    )
    # Which driver ranked first in most waves (the same ranking as the quarterly text).
    firsts: dict[str, int] = {}
    waves = sorted(data["quarter"].unique().to_list())
    for wave in waves:
        ranking = driver_ranking(engagement, wave)
        if ranking.height:
            firsts[ranking["driver"][0]] = firsts.get(ranking["driver"][0], 0) + 1
    if firsts:
        best = max(sorted(firsts), key=lambda d: firsts[d])
        title = ctx.t("fig.driver-intervals.title", driver=_driver(ctx, best), n=str(firsts[best]), total=str(len(waves)))
    else:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    labels = [_driver(ctx, d) for d in DRIVERS]
    x = alt.X("quarter:O", title=None, axis=alt.Axis(labelAngle=-90, labelFontSize=10))
    y = alt.Y("pct_favourable:Q", title=ctx.t("axis.favourable"), axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    area = alt.Chart().mark_area(opacity=0.2, color=PALETTE[0]).encode(x=x, y=alt.Y("pct_favourable_low:Q"), y2="pct_favourable_high:Q")
    line = alt.Chart().mark_line(point=True, color=PALETTE[0]).encode(
        x=x,
        y=y,
        tooltip=[
            alt.Tooltip("driver_label:N", title=ctx.t("col.driver")),
            alt.Tooltip("quarter:O", title=ctx.t("col.quarter")),
            alt.Tooltip("pct_favourable:Q", title=ctx.t("col.pct_favourable"), format=".1%"),
            alt.Tooltip("pct_favourable_low:Q", title=ctx.t("col.pct_favourable_low"), format=".1%"),
            alt.Tooltip("pct_favourable_high:Q", title=ctx.t("col.pct_favourable_high"), format=".1%"),
            alt.Tooltip("respondents:Q", title=ctx.t("col.respondents")),
        ],
    )
    chart = (
        alt.layer(area, line, data=_values(data))
        .properties(width=170, height=130)
        .facet(facet=alt.Facet("driver_label:N", title=None, sort=labels), columns=3)
        .properties(title=alt.Title(title, subtitle=ctx.t("fig.driver-intervals.subtitle")))
    )
    return Figure(title, ctx.t("fig.driver-intervals.caption"), chart, data)


def enps_trend(ctx: Context) -> Figure:
    enps = ctx.table("enps")
    data = _upto(enps.filter(pl.col("level") == "organisation"), ctx.quarter).select("quarter", "respondents", "promoters", "detractors", "enps", "enps_low", "enps_high").sort("quarter")
    now = data.filter(pl.col("quarter") == ctx.quarter)
    score = {"kind": "score", "digits": 0}
    if now.height and now["enps"][0] is not None:
        row = now.row(0, named=True)
        title = ctx.t("fig.enps-trend.title", quarter=ctx.quarter, enps=ctx.fmt(row["enps"], score), low=ctx.fmt(row["enps_low"], score), high=ctx.fmt(row["enps_high"], score))
    else:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    base = alt.Chart(_values(data))
    x = alt.X("quarter:O", title=None, axis=alt.Axis(labelAngle=0))
    area = base.mark_area(opacity=0.18, color=PALETTE[2]).encode(x=x, y="enps_low:Q", y2="enps_high:Q")
    line = base.mark_line(point=True, color=PALETTE[2]).encode(
        x=x,
        y=alt.Y("enps:Q", title=ctx.t("col.enps"), scale=alt.Scale(domain=[-100, 100])),
        tooltip=[
            alt.Tooltip("quarter:O", title=ctx.t("col.quarter")),
            alt.Tooltip("enps:Q", title=ctx.t("col.enps"), format="+.1f"),
            alt.Tooltip("enps_low:Q", title=ctx.t("col.enps_low"), format="+.1f"),
            alt.Tooltip("enps_high:Q", title=ctx.t("col.enps_high"), format="+.1f"),
            alt.Tooltip("respondents:Q", title=ctx.t("col.respondents")),
        ],
    )
    zero = alt.Chart(alt.Data(values=[{"v": 0}])).mark_rule(color=MUTED).encode(y="v:Q")
    chart = alt.layer(zero, area, line).properties(title=alt.Title(title, subtitle=ctx.t("fig.enps-trend.subtitle")), width=WIDTH, height=240)
    return Figure(title, ctx.t("fig.enps-trend.caption"), chart, data)


def response_rate_trend(ctx: Context) -> Figure:
    rates = ctx.table("response_rates")
    data = _upto(rates.filter(pl.col("level").is_in(["organisation", "site"])), ctx.quarter).with_columns(
        pl.when(pl.col("level") == "organisation").then(pl.lit(ctx.t("col.organisation"))).otherwise(pl.col("site")).alias("group")
    ).select("group", "level", "quarter", "invited", "respondents", "response_rate").sort("level", "group", "quarter")
    shown = data.filter(pl.col("response_rate").is_not_null())
    if shown.height:
        title = ctx.t("fig.response-rate-trend.title", low=ctx.pct(shown["response_rate"].min()), high=ctx.pct(shown["response_rate"].max()), n=str(shown["quarter"].n_unique()))
    else:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    groups = data["group"].unique(maintain_order=True).to_list()
    chart = alt.Chart(_values(data)).mark_line(point=True).encode(
        x=alt.X("quarter:O", title=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("response_rate:Q", title=ctx.t("col.response_rate"), axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("group:N", title=None, sort=groups, scale=alt.Scale(domain=groups, range=[INK, *PALETTE][: len(groups)])),
        tooltip=[
            alt.Tooltip("group:N", title=ctx.t("col.group")),
            alt.Tooltip("quarter:O", title=ctx.t("col.quarter")),
            alt.Tooltip("response_rate:Q", title=ctx.t("col.response_rate"), format=".1%"),
            alt.Tooltip("respondents:Q", title=ctx.t("col.respondents")),
            alt.Tooltip("invited:Q", title=ctx.t("col.invited")),
        ],
    ).properties(title=alt.Title(title, subtitle=ctx.t("fig.response-rate-trend.subtitle")), width=WIDTH, height=240)
    return Figure(title, ctx.t("fig.response-rate-trend.caption"), chart, data)


def chart_titles(spec: dict[str, Any]) -> str:
    """The title text of a written Vega-Lite spec (for tests and the audit appendix)."""
    title = spec.get("title", {})
    return title.get("text", "") if isinstance(title, dict) else str(title)


# ------------------------------------------------------------------ engagement and retention

TIERS = ("low", "mid", "high")
TIER_COLOURS = {"low": PALETTE[5], "mid": PALETTE[4], "high": PALETTE[0]}  # vermillion, sky blue, blue
READING_COLOURS = {"lower": PALETTE[0], "unclear": MUTED, "higher": PALETTE[5]}


def _tier(ctx: Context, tier: str | None) -> str:
    return ctx.t(f"category.tier.{tier or 'unknown'}")


def km_curves(ctx: Context) -> Figure:
    """Kaplan-Meier curves of staying (no voluntary exit) by engagement tier, with 95% bands."""
    km = ctx.table("km_curves")
    logrank = ctx.table("km_logrank").filter(pl.col("test") == "all tiers")
    day = km_horizon_day(km, ctx.config["retention"]["horizon_days"])
    at_day = {r["tier"]: r for r in km.filter(pl.col("time_days") == day).iter_rows(named=True)} if day is not None else {}
    p = logrank["p"][0] if logrank.height else None
    reading = km_reading(p, at_day.get("low", {}).get("survival"), at_day.get("high", {}).get("survival"))
    data = (
        km.filter(pl.col("survival").is_not_null())
        .select("tier", "time_days", "at_risk", "survival", "ci_low", "ci_high", "n_subjects", "n_events")
        .with_columns(pl.col("tier").replace_strict({t: _tier(ctx, t) for t in TIERS}, default=None).alias("tier_label"))
        .sort(pl.col("tier").replace_strict({t: i for i, t in enumerate(TIERS)}, default=9), "time_days")
    )
    if reading is None:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    else:
        title = ctx.t(
            f"fig.km-curves.title-{reading}", days=ctx.fmt(day, {"kind": "int"}),
            low=ctx.pct(at_day["low"]["survival"]), high=ctx.pct(at_day["high"]["survival"]), p=ctx.fmt(p, PVALUE),
        )  # fmt: skip
    labels = [_tier(ctx, t) for t in TIERS if t in data["tier"].to_list()]
    tier_scale = alt.Scale(domain=labels, range=[TIER_COLOURS[t] for t in TIERS if _tier(ctx, t) in labels])
    # One legend for the three layers, drawn as lines (the bands would otherwise make it pale).
    legend = alt.Legend(symbolType="stroke", symbolStrokeWidth=3, symbolOpacity=1, symbolFillColor="transparent")
    colour = alt.Color("tier_label:N", title=ctx.t("col.tier"), sort=labels, scale=tier_scale, legend=legend)
    base = alt.Chart(_values(data))
    x = alt.X("time_days:Q", title=ctx.t("axis.days-since-survey"), axis=alt.Axis(tickMinStep=30))
    band = base.mark_area(opacity=0.15, interpolate="step-after").encode(x=x, y=alt.Y("ci_low:Q"), y2="ci_high:Q", color=colour)
    line = base.mark_line(interpolate="step-after").encode(
        x=x,
        y=alt.Y("survival:Q", title=ctx.t("axis.still-employed"), axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=colour,
        tooltip=[
            alt.Tooltip("tier_label:N", title=ctx.t("col.tier")),
            alt.Tooltip("time_days:Q", title=ctx.t("col.time_days")),
            alt.Tooltip("survival:Q", title=ctx.t("col.survival"), format=".1%"),
            alt.Tooltip("ci_low:Q", title=ctx.t("col.ci_low"), format=".1%"),
            alt.Tooltip("ci_high:Q", title=ctx.t("col.ci_high"), format=".1%"),
            alt.Tooltip("at_risk:Q", title=ctx.t("col.at_risk")),
            alt.Tooltip("n_subjects:Q", title=ctx.t("col.n_subjects")),
        ],
    )
    points = base.mark_point(filled=True, size=30).encode(x=x, y="survival:Q", color=colour, tooltip=line.encoding.tooltip)
    layers = [band, line, points]
    if day is not None:
        marker = alt.Chart(alt.Data(values=[{"v": day, "t": ctx.t("fig.km-curves.day-label", days=ctx.fmt(day, {"kind": "int"}))}]))
        layers += [
            marker.mark_rule(color=MUTED, strokeDash=[4, 3]).encode(x="v:Q"),
            marker.mark_text(align="left", baseline="top", dx=4, dy=4, color=MUTED, fontSize=11).encode(x="v:Q", y=alt.value(0), text="t:N"),
        ]
    subtitle = ctx.t("fig.km-curves.subtitle", p=ctx.fmt(p, PVALUE))
    chart = alt.layer(*layers).properties(title=alt.Title(title, subtitle=subtitle), width=WIDTH, height=280)
    return Figure(title, ctx.t("fig.km-curves.caption", n=ctx.min_group_size), chart, data)


def hazard_ratios(ctx: Context) -> Figure:
    """Forest plot: hazard ratio of a voluntary exit per point of engagement (alone) and of each driver
    (all six in the report's Cox model), with 95% intervals, on a log scale with a line at 1."""
    cox = ctx.table("cox_hazard_ratios").filter((pl.col("model") == HR_MODEL) & pl.col("driver").is_in(DRIVERS))
    alone = ctx.table("competing_risks_hr").filter((pl.col("cause") == "voluntary") & (pl.col("model") == "engagement") & (pl.col("driver") == "engagement"))
    columns = ["driver", "hr", "hr_low", "hr_high", "p", "n_subjects", "n_events"]
    order = ["engagement", *DRIVERS]
    data = (
        pl.concat([
            alone.select(columns).with_columns(pl.lit(ctx.t("fig.hazard-ratios.alone")).alias("model_label")),
            cox.select(columns).with_columns(pl.lit(ctx.t("fig.hazard-ratios.together")).alias("model_label")),
        ])  # fmt: skip
        .filter(pl.col("hr").is_not_null())
        .with_columns(
            pl.col("driver").replace_strict({d: _driver(ctx, d) for d in DRIVERS} | {"engagement": f"{_driver(ctx, 'engagement')} ({ctx.t('fig.hazard-ratios.alone')})"}, default=None).alias("driver_label"),
            pl.struct("hr_low", "hr_high").map_elements(lambda r: ratio_reading(r["hr_low"], r["hr_high"]), return_dtype=pl.String).alias("reading"),
        )
        .with_columns(pl.col("reading").replace_strict({k: ctx.t(f"category.hr-short.{k}") for k in READING_COLOURS}, default=None).alias("reading_label"))
        .sort(pl.col("driver").replace_strict({d: i for i, d in enumerate(order)}, default=99))
    )
    head = data.filter(pl.col("driver") == "engagement")
    if head.height:
        row = head.row(0, named=True)
        two = {"kind": "decimal", "digits": 2}
        title = ctx.t(f"fig.hazard-ratios.title-{row['reading']}", hr=ctx.fmt(row["hr"], two), low=ctx.fmt(row["hr_low"], two), high=ctx.fmt(row["hr_high"], two))
    else:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    labels = data["driver_label"].to_list()
    readings = [k for k in READING_COLOURS if k in data["reading"].to_list()]
    colour = alt.Color(
        "reading_label:N", title=None, sort=[ctx.t(f"category.hr-short.{k}") for k in readings], legend=alt.Legend(labelLimit=0),
        scale=alt.Scale(domain=[ctx.t(f"category.hr-short.{k}") for k in readings], range=[READING_COLOURS[k] for k in readings]),
    )  # fmt: skip
    base = alt.Chart(_values(data)).encode(y=alt.Y("driver_label:N", title=None, sort=labels))
    layers = _forest(ctx, data, base, colour, "p", {"filled": True, "size": 90, "shape": "diamond"})
    chart = alt.layer(*layers).properties(title=alt.Title(title, subtitle=ctx.t("fig.hazard-ratios.subtitle")), width=WIDTH, height=alt.Step(30))
    return Figure(title, ctx.t("fig.hazard-ratios.caption"), chart, data)


def _forest(ctx: Context, data: pl.DataFrame, base: alt.Chart, colour: alt.Color, last: str, dot: dict[str, Any]) -> list[alt.Chart]:
    """Forest-plot layers on a log scale: the labelled reference line at 1, then each row's 95% interval
    (rule) and hazard ratio (point). `last`: the tooltip's closing column (p, or the PH test's p)."""
    bounds = [v for v in [*data["hr_low"].to_list(), *data["hr_high"].to_list()] if v is not None]
    scale = alt.Scale(type="log", domain=[min([0.5, *bounds]) * 0.95, max([1.5, *bounds]) * 1.05], nice=False)
    tooltip = [
        alt.Tooltip("driver_label:N", title=ctx.t("col.driver")),
        alt.Tooltip("model_label:N", title=ctx.t("col.model")),
        *[alt.Tooltip(f"{c}:Q", title=ctx.t(f"col.{c}"), format=".2f") for c in ("hr", "hr_low", "hr_high")],
        alt.Tooltip(f"{last}:Q", title=ctx.t(f"col.{last}"), format=".3f"),
        alt.Tooltip("n_events:Q", title=ctx.t("col.n_events")),
    ]
    whisker = base.mark_rule(strokeWidth=2.5).encode(
        x=alt.X("hr_low:Q", scale=scale, title=ctx.t("axis.hazard-ratio"), axis=alt.Axis(values=[0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2], format=".2~f")),
        x2="hr_high:Q", color=colour, tooltip=tooltip,
    )  # fmt: skip
    point = base.mark_point(**dot).encode(x=alt.X("hr:Q", scale=scale), color=colour, tooltip=tooltip)
    one = alt.Chart(alt.Data(values=[{"v": 1, "t": ctx.t("fig.hazard-ratios.one")}]))
    rule = one.mark_rule(color=INK, strokeDash=[4, 3]).encode(x=alt.X("v:Q", scale=scale))
    rule_text = one.mark_text(align="left", baseline="bottom", dx=4, dy=-4, color=INK, fontSize=11).encode(x=alt.X("v:Q", scale=scale), y=alt.value(0), text="t:N")
    return [rule, rule_text, whisker, point]


def hazard_ratio_models(ctx: Context) -> Figure:
    """Research: each driver's hazard ratio under the three Cox models side by side (a sensitivity
    check: the calibrated model corrects for measurement error, the first-response model ignores later waves)."""
    cox = ctx.table("cox_hazard_ratios").filter(pl.col("driver").is_in(DRIVERS) & pl.col("hr").is_not_null())
    models = [m for m in ("time_varying", "time_varying_calibrated", "first_response") if m in cox["model"].to_list()]
    data = (
        cox.select("model", "driver", "hr", "hr_low", "hr_high", "p", "ph_test_p", "n_subjects", "n_events")
        .with_columns(
            pl.col("driver").replace_strict({d: _driver(ctx, d) for d in DRIVERS}, default=None).alias("driver_label"),
            pl.col("model").replace_strict({m: ctx.t(f"category.cox-model.{m}") for m in models}, default=None).alias("model_label"),
        )
        .sort(pl.col("driver").replace_strict({d: i for i, d in enumerate(DRIVERS)}, default=99), pl.col("model").replace_strict({m: i for i, m in enumerate(models)}, default=99))
    )
    lower = {m: data.filter((pl.col("model") == m) & (pl.col("hr_high") < 1)).height for m in models}
    if models:
        title = ctx.t("fig.hazard-ratio-models.title", raw=str(lower.get("time_varying", 0)), calibrated=str(lower.get("time_varying_calibrated", 0)), first=str(lower.get("first_response", 0)), n=str(len(DRIVERS)))
    else:
        title = ctx.t("fig.not-measured", quarter=ctx.quarter)
    model_labels = [ctx.t(f"category.cox-model.{m}") for m in models]
    colour = alt.Color("model_label:N", title=ctx.t("col.model"), sort=model_labels, scale=alt.Scale(domain=model_labels, range=PALETTE[: len(models)]))
    labels = [_driver(ctx, d) for d in DRIVERS]
    base = alt.Chart(_values(data)).encode(y=alt.Y("driver_label:N", title=None, sort=labels), yOffset=alt.YOffset("model_label:N", sort=model_labels))
    layers = _forest(ctx, data, base, colour, "ph_test_p", {"filled": True, "size": 50})
    chart = alt.layer(*layers).properties(title=alt.Title(title, subtitle=ctx.t("fig.hazard-ratio-models.subtitle")), width=WIDTH, height=alt.Step(14))
    return Figure(title, ctx.t("fig.hazard-ratio-models.caption"), chart, data)


# ------------------------------------------------------------------ programmes

PERIOD_COLOURS = {"before": MUTED, "after": PALETTE[0]}


def programme_of(ctx: Context) -> str:
    """The programme type an event-study exhibit is about: its stem is `event-study-<programme>`."""
    return ctx.exhibit.stem.removeprefix("event-study-")


def event_study(ctx: Context) -> Figure:
    """One programme's event study: the effect per quarter since the start (estimate and 95% interval),
    on voluntary turnover (percentage points a year) and on its driver's score (points), placebo
    quarters before the start drawn hollow and grey on a shaded background, zero line, start marked."""
    programme = programme_of(ctx)
    study = ctx.table("programme_event_study").filter(pl.col("intervention") == programme)
    effects = ctx.table("programme_effects").filter((pl.col("intervention") == programme) & (pl.col("estimand") == "simple"))
    outcomes = [o for o in ("voluntary_turnover", "driver_score") if o in study["outcome"].to_list()]
    scale_of = {"voluntary_turnover": 100.0, "driver_score": 1.0}  # turnover in percentage points a year
    data = (
        study.filter(pl.col("outcome").is_in(outcomes))
        .select("outcome", "event_time", "att", "ci_low", "ci_high", "n_treated_teams", "band")
        .with_columns(
            pl.col("outcome").replace_strict({o: ctx.t(f"category.outcome.{o}") for o in outcomes}, default=None).alias("outcome_label"),
            *[(pl.col(c) * pl.col("outcome").replace_strict(scale_of, default=1.0)).alias(f"shown_{c}") for c in ("att", "ci_low", "ci_high")],
            pl.when(pl.col("event_time") < 0).then(pl.lit("before")).otherwise(pl.lit("after")).alias("period"),
        )
        .with_columns(pl.col("period").replace_strict({k: ctx.t(f"category.period.{k}") for k in PERIOD_COLOURS}, default=None).alias("period_label"))
        .sort(pl.col("outcome").replace_strict({o: i for i, o in enumerate(outcomes)}, default=9), "event_time")
    )
    turnover = effects.filter(pl.col("outcome") == "voluntary_turnover")
    name = ctx.t(f"category.programme.{programme}" if has_message(f"category.programme.{programme}") else "category.programme.unknown")
    if turnover.height and turnover["att"][0] is not None:
        row = turnover.row(0, named=True)
        pts = {"kind": "points", "digits": 1}
        reading = effect_reading(row["ci_low"], row["ci_high"])
        title = ctx.t(
            f"fig.event-study.title-{reading}", programme=name,
            effect=ctx.fmt(row["att"] * 100, pts), low=ctx.fmt(row["ci_low"] * 100, pts), high=ctx.fmt(row["ci_high"] * 100, pts),
        )  # fmt: skip
    else:
        title = ctx.t("fig.event-study.title-not-estimated", programme=name)
    period_labels = [ctx.t(f"category.period.{k}") for k in PERIOD_COLOURS]
    colour = alt.Color("period_label:N", title=None, sort=period_labels, scale=alt.Scale(domain=period_labels, range=list(PERIOD_COLOURS.values())))
    panels = []
    low_e = int(data["event_time"].min()) if data.height else -1
    high_e = int(data["event_time"].max()) if data.height else 1
    x_scale = alt.Scale(domain=[low_e - 0.6, high_e + 0.6], nice=False)
    for outcome in outcomes:
        part = data.filter(pl.col("outcome") == outcome)
        unit = ctx.t(f"axis.effect.{outcome}")
        x = alt.X("event_time:Q", title=ctx.t("axis.quarters-since-start"), scale=x_scale, axis=alt.Axis(tickMinStep=1, format="d", grid=False))
        tooltip = [
            alt.Tooltip("outcome_label:N", title=ctx.t("col.outcome")),
            alt.Tooltip("event_time:Q", title=ctx.t("col.event_time")),
            alt.Tooltip("shown_att:Q", title=ctx.t("col.att"), format="+.2f"),
            alt.Tooltip("shown_ci_low:Q", title=ctx.t("col.ci_low"), format="+.2f"),
            alt.Tooltip("shown_ci_high:Q", title=ctx.t("col.ci_high"), format="+.2f"),
            alt.Tooltip("n_treated_teams:Q", title=ctx.t("col.n_treated_teams")),
            alt.Tooltip("period_label:N", title=ctx.t("col.period")),
        ]
        base = alt.Chart(_values(part))
        shade = alt.Chart(alt.Data(values=[{"a": low_e - 0.6, "b": -0.5, "t": ctx.t("fig.event-study.before-label")}]))
        start = alt.Chart(alt.Data(values=[{"v": -0.5, "t": ctx.t("fig.event-study.start-label")}]))
        layers = [
            shade.mark_rect(color=HIDDEN_FILL).encode(x=alt.X("a:Q", scale=x_scale), x2="b:Q"),
            shade.mark_text(align="left", baseline="top", dx=4, dy=4, color=MUTED, fontSize=11, fontStyle="italic").encode(x=alt.X("a:Q", scale=x_scale), y=alt.value(0), text="t:N"),
            alt.Chart(alt.Data(values=[{"v": 0}])).mark_rule(color=INK).encode(y="v:Q"),
            start.mark_rule(color=INK, strokeDash=[5, 3], strokeWidth=1.5).encode(x=alt.X("v:Q", scale=x_scale)),
            start.mark_text(align="left", baseline="top", dx=4, dy=4, color=INK, fontSize=11).encode(x=alt.X("v:Q", scale=x_scale), y=alt.value(0), text="t:N"),
            base.mark_rule(strokeWidth=2).encode(x=x, y=alt.Y("shown_ci_low:Q", title=unit), y2="shown_ci_high:Q", color=colour, tooltip=tooltip),
            base.mark_point(size=60, strokeWidth=2, filled=False, opacity=1).encode(
                x=x, y="shown_att:Q", stroke=alt.Stroke("period_label:N", title=None, sort=period_labels, scale=colour.to_dict()["scale"]), tooltip=tooltip,
                # Filled after the start, hollow before; one fill scale on the same field as the stroke so
                # the (merged) legend draws its symbols exactly as the chart draws its dots.
                fill=alt.Fill("period_label:N", title=None, sort=period_labels, scale=alt.Scale(domain=period_labels, range=["white", PERIOD_COLOURS["after"]])),
            ),  # fmt: skip
        ]
        panels.append(alt.layer(*layers).properties(title=alt.Title(ctx.t(f"category.outcome.{outcome}"), fontSize=13, fontWeight=500), width=300, height=220))
    chart = alt.hconcat(*panels, spacing=28) if panels else alt.Chart(_values(data)).mark_point()
    subtitle = ctx.t("fig.event-study.subtitle", teams=str(int(turnover["n_treated_teams"][0])) if turnover.height and turnover["n_treated_teams"][0] is not None else "0")
    chart = chart.properties(title=alt.Title(title, subtitle=subtitle))
    return Figure(title, ctx.t("fig.event-study.caption"), chart, data)
