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


# ------------------------------------------------------------------ engagement and retention (survival models)

PVALUE = {"kind": "pvalue"}
DEC3 = {"kind": "decimal", "digits": 3}
DRIVER = {"kind": "category", "group": "driver"}
TIER = {"kind": "category", "group": "tier"}
HR_SPEC = [("log_hr", DEC3), ("se", DEC3), ("hr", DEC2), ("hr_low", DEC2), ("hr_high", DEC2), ("p", PVALUE)]


def km_curves_table(ctx: Context) -> Table:
    """Every Kaplan-Meier point per tier (hidden points marked: fewer people at risk than the minimum group)."""
    frame = ctx.table("km_curves").sort(pl.col("tier").replace_strict({"low": 0, "mid": 1, "high": 2}, default=9), "time_days")
    return _curve_table(ctx, frame, "km-curves", [("tier", TIER), ("time_days", INT), ("at_risk", INT), ("survival", PCT1)])


def _curve_table(ctx: Context, frame: pl.DataFrame, key: str, head: list[tuple[str, dict[str, Any]]]) -> Table:
    """A survival or incidence curve in full, folded: hidden points (too few at risk) keep their row, marked."""
    data, columns = _select(ctx, frame, [
        *head, ("ci_low", PCT1), ("ci_high", PCT1), ("n_subjects", INT), ("n_events", INT), ("suppressed", SUPPRESSED), ("note", TEXT),
    ])  # fmt: skip
    hidden = data.filter(pl.col("suppressed").is_not_null()).height
    return Table(ctx.t(f"tbl.{key}.title", n=str(data.height), hidden=str(hidden)), ctx.t(f"tbl.{key}.caption", n=ctx.min_group_size), data, columns, collapsed=True)


def km_logrank(ctx: Context) -> Table:
    frame = ctx.table("km_logrank")
    data, columns = _select(ctx, frame, [
        ("test", TEXT), ("tier_a", TIER), ("tier_b", TIER),
        ("n_subjects", INT), ("n_events", INT), ("test_statistic", DEC2), ("df", INT), ("p", PVALUE), ("note", TEXT),
    ])  # fmt: skip
    overall = data.filter(pl.col("test") == "all tiers")
    p = overall["p"][0] if overall.height else None
    return Table(ctx.t("tbl.km-logrank.title", p=ctx.fmt(p, PVALUE | {"relation": True})), ctx.t("tbl.km-logrank.caption"), data, columns)


def cox_hazard_ratios(ctx: Context) -> Table:
    """All three Cox models, every driver, with the proportional-hazards test."""
    frame = ctx.table("cox_hazard_ratios")
    data, columns = _select(ctx, frame, [
        ("model", {"kind": "category", "group": "cox-model"}), ("driver", DRIVER), *HR_SPEC, ("ph_test_p", PVALUE),
        ("n_subjects", INT), ("n_events", INT), ("note", TEXT),
    ])  # fmt: skip
    ph = data.filter(pl.col("model") == "first_response").select("driver", "ph_test_p").drop_nulls()
    flagged = ph.filter(pl.col("ph_test_p") < 0.05).height
    title = ctx.t("tbl.cox.title", flagged=str(flagged), n=str(ph.height), low=ctx.fmt(ph["ph_test_p"].min() if ph.height else None, PVALUE | {"relation": True}))
    return Table(title, ctx.t("tbl.cox.caption"), data, columns)


def cox_sensitivity(ctx: Context) -> Table:
    """Raw against measurement-error-calibrated Cox hazard ratios, per driver (a sensitivity check)."""
    frame = ctx.table("cox_hazard_ratios").filter(pl.col("hr").is_not_null())
    wide = None
    for model, suffix in (("time_varying", "raw"), ("time_varying_calibrated", "calibrated"), ("first_response", "first")):
        part = frame.filter(pl.col("model") == model).select(
            "driver", pl.col("hr").alias(f"hr_{suffix}"), pl.col("hr_low").alias(f"hr_low_{suffix}"), pl.col("hr_high").alias(f"hr_high_{suffix}")
        )
        wide = part if wide is None else wide.join(part, on="driver", how="full", coalesce=True)
    if wide is None or wide.is_empty():
        wide = pl.DataFrame(schema={"driver": pl.String, **{f"{c}_{s}": pl.Float64 for s in ("raw", "calibrated", "first") for c in ("hr", "hr_low", "hr_high")}})
    for suffix in ("raw", "calibrated", "first"):
        for c in ("hr", "hr_low", "hr_high"):
            if f"{c}_{suffix}" not in wide.columns:
                wide = wide.with_columns(pl.lit(None, pl.Float64).alias(f"{c}_{suffix}"))
    data = wide.with_columns(
        pl.struct("hr_low_raw", "hr_high_raw", "hr_low_calibrated", "hr_high_calibrated").map_elements(
            lambda r: _same_side(r["hr_low_raw"], r["hr_high_raw"], r["hr_low_calibrated"], r["hr_high_calibrated"]), return_dtype=pl.String
        ).alias("agrees")
    ).sort(pl.col("driver").replace_strict({d: i for i, d in enumerate(("mission", "recognition", "worklife", "growth", "autonomy", "manager"))}, default=99))
    columns = _columns(ctx, [
        ("driver", DRIVER), ("hr_raw", DEC2), ("hr_low_raw", DEC2), ("hr_high_raw", DEC2), ("hr_calibrated", DEC2), ("hr_low_calibrated", DEC2),
        ("hr_high_calibrated", DEC2), ("hr_first", DEC2), ("hr_low_first", DEC2), ("hr_high_first", DEC2), ("agrees", {"kind": "category", "group": "agrees"}),
    ])  # fmt: skip
    same = data.filter(pl.col("agrees") == "yes").height
    return Table(ctx.t("tbl.cox-sensitivity.title", same=str(same), n=str(data.height)), ctx.t("tbl.cox-sensitivity.caption"), data, columns)


def _same_side(low_a: float | None, high_a: float | None, low_b: float | None, high_b: float | None) -> str | None:
    """'yes' when two hazard-ratio intervals give the same reading against 1 (below, above, or spanning it)."""
    from analysis.numbers import ratio_reading

    a, b = ratio_reading(low_a, high_a), ratio_reading(low_b, high_b)
    return None if a is None or b is None else ("yes" if a == b else "no")


def exit12_odds_ratios(ctx: Context) -> Table:
    frame = ctx.table("exit12_odds_ratios")
    data, columns = _select(ctx, frame, [
        ("model", TEXT), ("horizon_days", INT), ("driver", DRIVER), ("log_or", DEC3), ("se", DEC3), ("odds_ratio", DEC2), ("or_low", DEC2),
        ("or_high", DEC2), ("p", PVALUE), ("n_responses", INT), ("n_subjects", INT), ("n_events", INT), ("n_clusters", INT), ("note", TEXT),
    ])  # fmt: skip
    lower = data.filter(pl.col("or_high") < 1).height
    return Table(ctx.t("tbl.exit12.title", lower=str(lower), n=str(data.height)), ctx.t("tbl.exit12.caption"), data, columns)


def competing_risks_hr(ctx: Context) -> Table:
    frame = ctx.table("competing_risks_hr")
    data, columns = _select(ctx, frame, [("cause", {"kind": "category", "group": "cause"}), ("model", TEXT), ("driver", DRIVER), *HR_SPEC, ("n_subjects", INT), ("n_events", INT), ("note", TEXT)])
    return Table(ctx.t("tbl.competing-hr.title", n=str(data.height)), ctx.t("tbl.competing-hr.caption"), data, columns)


def competing_risks_cif(ctx: Context) -> Table:
    frame = ctx.table("competing_risks_cif").sort("cause", pl.col("tier").replace_strict({"low": 0, "mid": 1, "high": 2}, default=9), "time_days")
    return _curve_table(ctx, frame, "competing-cif", [("cause", {"kind": "category", "group": "cause"}), ("tier", TIER), ("time_days", INT), ("at_risk", INT), ("cif", PCT1)])


def team_panel(ctx: Context) -> Table:
    frame = ctx.table("team_panel")
    data, columns = _select(ctx, frame, [
        ("model", TEXT), ("term", TEXT), ("estimate", DEC3), ("se", DEC3), ("rate_ratio", DEC2), ("rr_low", DEC2), ("rr_high", DEC2), ("p", PVALUE),
        ("n_teams", INT), ("n_cells", INT), ("n_exits", INT), ("note", TEXT),
    ])  # fmt: skip
    return Table(ctx.t("tbl.team-panel.title", n=str(data.height)), ctx.t("tbl.team-panel.caption"), data, columns)


def driver_importance(ctx: Context) -> Table:
    frame = ctx.table("driver_importance").sort("outcome", "rank")
    data, columns = _select(ctx, frame, [
        ("outcome", {"kind": "category", "group": "importance-outcome"}), ("driver", DRIVER), ("rank", INT), ("rank_low", INT), ("rank_high", INT),
        ("share", PCT1), ("share_low", PCT1), ("share_high", PCT1), ("p_top", PCT0), ("r2_total", DEC3), ("r2_kind", TEXT), ("n", INT),
        ("people", INT), ("events", INT), ("suppressed", SUPPRESSED),
    ])  # fmt: skip
    intent = data.filter((pl.col("outcome") == "intent_to_stay") & (pl.col("rank") == 1))
    top = intent.row(0, named=True) if intent.height else {}
    title = ctx.t("tbl.driver-importance.title", driver=ctx.fmt(top.get("driver"), DRIVER), p_top=ctx.fmt(top.get("p_top"), PCT0)) if top else ctx.t("tbl.driver-importance.title-none")
    return Table(title, ctx.t("tbl.driver-importance.caption"), data, columns)


# ------------------------------------------------------------------ programmes

PROGRAMME = {"kind": "category", "group": "programme"}
OUTCOME = {"kind": "category", "group": "outcome"}
EFFECT = {"kind": "decimal", "digits": 3}


def _programme_order(frame: pl.DataFrame, *more: str) -> pl.DataFrame:
    return frame.sort("intervention", "outcome", *more)


def programme_effects(ctx: Context) -> Table:
    """Every estimand of every programme and outcome (the headline is `simple`; `twfe` for comparison only)."""
    frame = ctx.table("programme_effects").with_columns(pl.col("estimand").replace_strict({e: i for i, e in enumerate(("simple", "dynamic", "cohort_average", "cohort", "twfe"))}, default=9).alias("_order"))
    frame = _programme_order(frame, "_order", "cohort").drop("_order")
    data, columns = _select(ctx, frame, [
        ("intervention", PROGRAMME), ("outcome", OUTCOME), ("estimand", TEXT), ("cohort", TEXT), ("att", EFFECT), ("se", EFFECT), ("ci_low", EFFECT),
        ("ci_high", EFFECT), ("p_value", PVALUE), ("n_teams", INT), ("n_treated_teams", INT), ("n_control_teams", INT), ("team_quarters", INT), ("note", TEXT),
    ])  # fmt: skip
    simple = data.filter(pl.col("estimand") == "simple")
    clear = simple.filter((pl.col("ci_high") < 0) | (pl.col("ci_low") > 0)).height
    return Table(ctx.t("tbl.programme-effects.title", clear=str(clear), n=str(simple.height)), ctx.t("tbl.programme-effects.caption"), data, columns, collapsed=True)


def programme_pretrends(ctx: Context) -> Table:
    """The joint pre-trend test (Hotelling F) per programme and outcome."""
    frame = _programme_order(ctx.table("programme_effects").filter(pl.col("estimand") == "simple"))
    data, columns = _select(ctx, frame, [
        ("intervention", PROGRAMME), ("outcome", OUTCOME), ("pretrend_stat", DEC2), ("pretrend_df", INT), ("pretrend_p", PVALUE),
        ("max_abs_pre_att", EFFECT), ("n_teams", INT), ("note", TEXT),
    ])  # fmt: skip
    tested = data.filter(pl.col("pretrend_p").is_not_null())
    flagged = tested.filter(pl.col("pretrend_p") < 0.05).height
    return Table(ctx.t("tbl.programme-pretrends.title", flagged=str(flagged), n=str(tested.height)), ctx.t("tbl.programme-pretrends.caption"), data, columns)


def programme_event_study_table(ctx: Context) -> Table:
    frame = _programme_order(ctx.table("programme_event_study"), "event_time")
    data, columns = _select(ctx, frame, [
        ("intervention", PROGRAMME), ("outcome", OUTCOME), ("event_time", INT), ("att", EFFECT), ("se", EFFECT), ("ci_low", EFFECT),
        ("ci_high", EFFECT), ("n_treated_teams", INT), ("band", TEXT),
    ])  # fmt: skip
    return Table(ctx.t("tbl.programme-event-study.title", n=str(data.height)), ctx.t("tbl.programme-event-study.caption"), data, columns, collapsed=True)


def programme_group_time(ctx: Context) -> Table:
    frame = _programme_order(ctx.table("programme_group_time"), "cohort", "quarter")
    data, columns = _select(ctx, frame, [
        ("intervention", PROGRAMME), ("outcome", OUTCOME), ("cohort", TEXT), ("quarter", TEXT), ("base_quarter", TEXT), ("event_time", INT),
        ("att", EFFECT), ("se", EFFECT), ("ci_low", EFFECT), ("ci_high", EFFECT), ("n_treated_teams", INT), ("n_control_teams", INT),
    ])  # fmt: skip
    return Table(ctx.t("tbl.programme-group-time.title", n=str(data.height)), ctx.t("tbl.programme-group-time.caption"), data, columns, collapsed=True)


def programme_savings(ctx: Context) -> Table:
    frame = ctx.table("programme_savings").sort("intervention")
    money = {"kind": "money", "currency": ctx.config["cost"]["currency"]}
    data, columns = _select(ctx, frame, [
        ("intervention", PROGRAMME), ("treated_team_quarters", INT), ("person_years", DEC1), ("att", EFFECT), ("exits_avoided", DEC1),
        ("exits_avoided_low", DEC1), ("exits_avoided_high", DEC1), ("cost_per_exit", money), ("money_saved", money), ("money_saved_low", money),
        ("money_saved_high", money), ("method", TEXT),
    ])  # fmt: skip
    return Table(ctx.t("tbl.programme-savings.title", n=str(data.height)), ctx.t("tbl.programme-savings.caption"), data, columns)


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
