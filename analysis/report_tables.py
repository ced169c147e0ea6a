"""The tables the reports show, as exhibits (registered in analysis/exhibits.py).

Each builder selects rows and columns of an analysis table (or the ingest manifest, or the config)
and declares each column's label and number format, so the template only prints. Rows the privacy
gate hid keep their place: their numbers are null and `suppressed` says why.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analysis.config import config_hash
from analysis.exhibits import Context, Table
from analysis.figures import _upto

PCT1 = {"kind": "pct", "digits": 1}
PCT0 = {"kind": "pct", "digits": 0}
PCT2 = {"kind": "pct", "digits": 2}
INT = {"kind": "int"}
DEC1 = {"kind": "decimal", "digits": 1}
DEC2 = {"kind": "decimal", "digits": 2}
SCORE1 = {"kind": "score", "digits": 1}
TEXT = {"kind": "text"}
SUPPRESSED = {"kind": "category", "group": "suppressed"}
LEVEL_ORDER = {"organisation": 0, "site": 1, "team": 2}


def _columns(ctx: Context, spec: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"name": name, "label": ctx.t(f"col.{name}"), "format": fmt} for name, fmt in spec]


def _reason(frame: pl.DataFrame) -> pl.DataFrame:
    """The privacy gate's reason as a short code (primary / complementary), for display."""
    if "suppressed" not in frame.columns:
        return frame
    return frame.with_columns(
        pl.when(pl.col("suppressed").is_null())
        .then(pl.lit(None, pl.String))
        .when(pl.col("suppressed").str.contains("complementary"))
        .then(pl.lit("complementary"))
        .otherwise(pl.lit("primary"))
        .alias("suppressed")
    )


def _select(ctx: Context, frame: pl.DataFrame, spec: list[tuple[str, dict[str, Any]]]) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    names = [name for name, _ in spec]
    return _reason(frame.select(names)), _columns(ctx, spec)


TURNOVER_RATES = [
    ("voluntary_rate", PCT1),
    ("voluntary_rate_low", PCT1),
    ("voluntary_rate_high", PCT1),
]


# ------------------------------------------------------------------ turnover and cost


def turnover_organisation(ctx: Context) -> Table:
    frame = _upto(ctx.table("turnover").filter(pl.col("level") == "organisation"), ctx.quarter).sort("quarter")
    data, columns = _select(ctx, frame, [
        ("quarter", TEXT), ("headcount_start", INT), ("headcount_end", INT), ("hires", INT), ("exits", INT),
        ("voluntary_exits", INT), ("involuntary_exits", INT), ("early_exits_90d", INT), ("early_exits_6m", INT),
        ("early_exits_12m", INT), ("avg_headcount", DEC1), *TURNOVER_RATES, ("involuntary_rate", PCT1), ("total_rate", PCT1),
    ])  # fmt: skip
    return Table(ctx.t("tbl.turnover-organisation.title", n=str(data.height)), ctx.t("tbl.turnover.caption"), data, columns)


def _turnover_groups(ctx: Context, level: str, collapsed: bool) -> Table:
    frame = _upto(ctx.table("turnover").filter(pl.col("level") == level), ctx.quarter).sort("site", "team", "quarter")
    keys = [("site", TEXT)] + ([("team", TEXT)] if level == "team" else [])
    data, columns = _select(ctx, frame, [
        *keys, ("quarter", TEXT), ("group_size", INT), ("hires", INT), ("voluntary_exits", INT), ("involuntary_exits", INT),
        ("early_exits_90d", INT), ("avg_headcount", DEC1), *TURNOVER_RATES, ("suppressed", SUPPRESSED),
    ])  # fmt: skip
    hidden = data.filter(pl.col("suppressed").is_not_null()).height
    title = ctx.t(f"tbl.turnover-{level}.title", n=str(data.height), hidden=str(hidden))
    return Table(title, ctx.t("tbl.turnover.caption"), data, columns, collapsed=collapsed)


def turnover_site(ctx: Context) -> Table:
    return _turnover_groups(ctx, "site", collapsed=False)


def turnover_team(ctx: Context) -> Table:
    return _turnover_groups(ctx, "team", collapsed=True)


def cost(ctx: Context) -> Table:
    frame = _upto(ctx.table("cost"), ctx.quarter).sort("quarter")
    data, columns = _select(ctx, frame, [
        ("quarter", TEXT), ("exits", INT), ("voluntary_exits", INT), ("cost", {"kind": "money", "currency": ctx.config["cost"]["currency"]}),
        ("cost_voluntary", {"kind": "money", "currency": ctx.config["cost"]["currency"]}), ("method", TEXT), ("salary_missing", INT),
    ])  # fmt: skip
    total = data["cost"].sum()
    title = ctx.t("tbl.cost.title", n=str(data.height), total=ctx.fmt(total, {"kind": "money", "currency": ctx.config["cost"]["currency"]}))
    return Table(title, ctx.t("tbl.cost.caption"), data, columns)


# ------------------------------------------------------------------ engagement, eNPS, response


ENGAGEMENT_COLUMNS = [
    ("driver", {"kind": "category", "group": "driver"}), ("quarter", TEXT), ("respondents", INT), ("mean", DEC2), ("mean_low", DEC2),
    ("mean_high", DEC2), ("sd", DEC2), ("pct_favourable", PCT1), ("pct_favourable_low", PCT1), ("pct_favourable_high", PCT1),
]  # fmt: skip


def _engagement(ctx: Context, level: str, collapsed: bool) -> Table:
    frame = _upto(ctx.table("engagement").filter(pl.col("level") == level), ctx.quarter).sort("site", "team", "driver", "quarter")
    keys = {"organisation": [], "site": [("site", TEXT)], "team": [("site", TEXT), ("team", TEXT)]}[level]
    data, columns = _select(ctx, frame, [*keys, *ENGAGEMENT_COLUMNS, ("suppressed", SUPPRESSED)])
    hidden = data.filter(pl.col("suppressed").is_not_null()).height
    title = ctx.t(f"tbl.engagement-{level}.title", n=str(data.height), hidden=str(hidden))
    return Table(title, ctx.t("tbl.engagement.caption"), data, columns, collapsed=collapsed)


def engagement_organisation(ctx: Context) -> Table:
    return _engagement(ctx, "organisation", collapsed=False)


def engagement_site(ctx: Context) -> Table:
    return _engagement(ctx, "site", collapsed=True)


def engagement_team(ctx: Context) -> Table:
    return _engagement(ctx, "team", collapsed=True)


def _levels(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(pl.col("level").replace_strict(LEVEL_ORDER, return_dtype=pl.Int8), "site", "team", "quarter")


def enps(ctx: Context) -> Table:
    frame = _levels(_upto(ctx.table("enps"), ctx.quarter))
    data, columns = _select(ctx, frame, [
        ("level", {"kind": "category", "group": "level"}), ("site", TEXT), ("team", TEXT), ("quarter", TEXT), ("respondents", INT),
        ("promoters", INT), ("detractors", INT), ("enps", SCORE1), ("enps_low", SCORE1), ("enps_high", SCORE1), ("suppressed", SUPPRESSED),
    ])  # fmt: skip
    hidden = data.filter(pl.col("suppressed").is_not_null()).height
    return Table(ctx.t("tbl.enps.title", n=str(data.height), hidden=str(hidden)), ctx.t("tbl.enps.caption"), data, columns, collapsed=True)


def response_rates(ctx: Context) -> Table:
    frame = _levels(_upto(ctx.table("response_rates"), ctx.quarter))
    data, columns = _select(ctx, frame, [
        ("level", {"kind": "category", "group": "level"}), ("site", TEXT), ("team", TEXT), ("quarter", TEXT), ("invited", INT),
        ("respondents", INT), ("response_rate", PCT1), ("suppressed", SUPPRESSED),
    ])  # fmt: skip
    hidden = data.filter(pl.col("suppressed").is_not_null()).height
    return Table(ctx.t("tbl.response-rates.title", n=str(data.height), hidden=str(hidden)), ctx.t("tbl.response-rates.caption"), data, columns, collapsed=True)


def reliability(ctx: Context) -> Table:
    """Cronbach's alpha per driver and wave at every level (a diagnostic of the survey scales)."""
    frame = _levels(_upto(ctx.table("reliability"), ctx.quarter).sort("driver"))
    data, columns = _select(ctx, frame, [
        ("level", {"kind": "category", "group": "level"}), ("site", TEXT), ("team", TEXT), ("driver", {"kind": "category", "group": "driver"}),
        ("quarter", TEXT), ("n_items", INT), ("n_respondents", INT), ("alpha", DEC2), ("suppressed", SUPPRESSED),
    ])  # fmt: skip
    org = data.filter((pl.col("level") == "organisation") & pl.col("alpha").is_not_null())
    low = org.filter(pl.col("alpha") < 0.7).height
    title = ctx.t(
        "tbl.reliability.title",
        low=ctx.fmt(org["alpha"].min(), DEC2), high=ctx.fmt(org["alpha"].max(), DEC2), below=str(low), n=str(org.height),
    )  # fmt: skip
    return Table(title, ctx.t("tbl.reliability.caption"), data, columns, collapsed=True)


# ------------------------------------------------------------------ data quality


def _ingest_files(ctx: Context) -> pl.DataFrame:
    files = ctx.table("ingest_manifest").get("files", [])
    return pl.DataFrame(
        [{k: f.get(k) for k in ("file", "profile", "table", "rows_read", "rows_accepted", "rows_rejected", "sha256")} for f in files],
        schema={"file": pl.String, "profile": pl.String, "table": pl.String, "rows_read": pl.Int64, "rows_accepted": pl.Int64, "rows_rejected": pl.Int64, "sha256": pl.String},
        orient="row",
    ).sort("table", "file")


def ingest_summary(ctx: Context) -> Table:
    """Rows read, accepted and rejected per canonical table (every export file of it together)."""
    files = _ingest_files(ctx)
    data = (
        files.group_by("table")
        .agg(pl.len().alias("files"), pl.col("rows_read").sum(), pl.col("rows_accepted").sum(), pl.col("rows_rejected").sum())
        .with_columns((pl.col("rows_rejected") / pl.col("rows_read")).alias("reject_share"))
        .sort("table")
    )
    columns = _columns(ctx, [("table", TEXT), ("files", INT), ("rows_read", INT), ("rows_accepted", INT), ("rows_rejected", INT), ("reject_share", PCT2)])
    title = ctx.t(
        "tbl.ingest-summary.title",
        rejected=ctx.fmt(data["rows_rejected"].sum(), INT), read=ctx.fmt(data["rows_read"].sum(), INT), files=ctx.fmt(files.height, INT),
    )  # fmt: skip
    return Table(title, ctx.t("tbl.ingest-summary.caption"), data, columns)


def ingest_files(ctx: Context) -> Table:
    data = _ingest_files(ctx)
    columns = _columns(ctx, [("file", TEXT), ("profile", TEXT), ("table", TEXT), ("rows_read", INT), ("rows_accepted", INT), ("rows_rejected", INT), ("sha256", TEXT)])
    title = ctx.t("tbl.ingest-files.title", files=ctx.fmt(data.height, INT), rejected=ctx.fmt(data["rows_rejected"].sum(), INT))
    return Table(title, ctx.t("tbl.ingest-summary.caption"), data, columns, collapsed=True)


def privacy_summary(ctx: Context) -> Table:
    """Cells per table and level, and how many the privacy gate hid (this quarter, or every quarter)."""
    parts = []
    for name in ("turnover", "engagement", "enps", "response_rates"):
        frame = ctx.table(name)
        frame = frame.filter(pl.col("quarter") == ctx.quarter) if ctx.exhibit.scope == "quarterly" else _upto(frame, ctx.quarter)
        parts.append(
            frame.group_by("level")
            .agg(pl.len().cast(pl.Int64).alias("cells"), pl.col("suppressed").is_not_null().sum().cast(pl.Int64).alias("hidden_cells"))
            .with_columns(pl.lit(name).alias("table"))
        )
    data = (
        pl.concat(parts)
        .sort("table", pl.col("level").replace_strict(LEVEL_ORDER, return_dtype=pl.Int8))
        .select("table", "level", "cells", "hidden_cells")
    )
    columns = _columns(ctx, [("table", TEXT), ("level", {"kind": "category", "group": "level"}), ("cells", INT), ("hidden_cells", INT)])
    when = ctx.quarter if ctx.exhibit.scope == "quarterly" else ctx.t("tbl.privacy-summary.all-quarters")
    title = ctx.t("tbl.privacy-summary.title", hidden=ctx.fmt(data["hidden_cells"].sum(), INT), cells=ctx.fmt(data["cells"].sum(), INT), when=when)
    return Table(title, ctx.t("tbl.privacy-summary.caption", n=ctx.min_group_size), data, columns)


# ------------------------------------------------------------------ the configuration used


def _flatten(node: Any, prefix: str = "") -> list[tuple[str, str]]:
    import json

    if isinstance(node, dict) and node:
        return [row for key in sorted(node) for row in _flatten(node[key], f"{prefix}.{key}" if prefix else str(key))]
    return [(prefix, json.dumps(node, ensure_ascii=False, sort_keys=True))]


def config_used(ctx: Context) -> Table:
    """Every configuration value the run used (dotted keys), with the config's SHA-256 (canonical JSON)."""
    rows = _flatten(ctx.config)
    data = pl.DataFrame({"key": [k for k, _ in rows], "value": [v for _, v in rows]}, schema={"key": pl.String, "value": pl.String})
    digest = config_hash(ctx.config)
    title = ctx.t("tbl.config.title", n=str(data.height), sha=digest[:12])
    return Table(title, ctx.t("tbl.config.caption"), data, _columns(ctx, [("key", TEXT), ("value", TEXT)]), meta={"config_sha256": digest})
