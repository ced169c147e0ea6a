"""The numbers a quarterly report states, each with a stable ID and its lineage.

A number record: `id` (e.g. "num:voluntary-turnover:2026Q3"), `label` (English), `value`,
`display` (as printed in English; reports in other languages re-format `value` with the same
`format` through analysis.messages), `format`, `unit`, an optional `subject` (the team, site or
driver the number is about) and `source`: the file, the row filter and the column it was read
from. Category records (e.g. where turnover sits against the benchmark band) hold a catalogue
key as their value. Reports read these records by ID and never compute.

The judgements sentences and chart titles share (band position, driver ranking, team positions)
are functions here, so a chart's title and the sentence beside it cannot disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from scipy import stats

from analysis.messages import fmt_value
from analysis.periods import shift_quarter

DRIVERS = ("mission", "recognition", "worklife", "growth", "autonomy", "manager")
CONFIG_SOURCE = "config"  # `source.table` of numbers read from the validated configuration

PCT1 = {"kind": "pct", "digits": 1}
PCT0 = {"kind": "pct", "digits": 0}
INT = {"kind": "int"}
SIGNED_INT = {"kind": "signed_int"}
POINTS1 = {"kind": "points", "digits": 1}
POINTS0 = {"kind": "points", "digits": 0}
SCORE = {"kind": "score", "digits": 0}
DECIMAL1 = {"kind": "decimal", "digits": 1}
DECIMAL2 = {"kind": "decimal", "digits": 2}
SIGNED2 = {"kind": "score", "digits": 2}
PVALUE = {"kind": "pvalue", "relation": True}  # printed after "p": "= 0.179" or "below 0.001"
ALPHA = 0.05  # the reports' 95% intervals; also the level of the log-rank and pre-trend readings
PROGRAMMES = ("mission", "recognition", "worklife")  # the programme types the quarterly report has a subsection for
IMPORTANCE_OUTCOMES = {"intent_to_stay": "intent", "voluntary_exit_12m": "exit"}  # driver_importance outcome -> number name stem
HR_MODEL = "time_varying"  # the Cox model the quarterly report shows (the others are sensitivity checks)


# ------------------------------------------------------------------ shared judgements


def band_position(rate: float | None, low: float | None, high: float | None, band_low: float, band_high: float) -> str | None:
    """Where a rate sits against a band, counting its 95% interval.

    'above' / 'below': the whole interval is outside the band; 'above-uncertain' /
    'below-uncertain': the estimate is outside but its interval reaches into the band;
    'inside': the estimate is in the band. None when the rate is missing (hidden or no data).
    """
    if rate is None:
        return None
    if low is not None and low > band_high:
        return "above"
    if high is not None and high < band_low:
        return "below"
    if rate > band_high:
        return "above-uncertain"
    if rate < band_low:
        return "below-uncertain"
    return "inside"


def line_position(rate: float | None, low: float | None, high: float | None, line: float) -> str | None:
    """'above' / 'below' a reference line when the whole interval is; otherwise 'overlaps'."""
    if rate is None:
        return None
    if low is not None and low > line:
        return "above"
    if high is not None and high < line:
        return "below"
    return "overlaps"


def interval_side(low: float | None, high: float | None, reference: float) -> str | None:
    """'below' / 'above' when the whole interval is below / above `reference`, else 'across' (None: missing)."""
    if low is None or high is None:
        return None
    return "below" if high < reference else "above" if low > reference else "across"


def effect_reading(low: float | None, high: float | None) -> str | None:
    """A programme effect's reading from its interval: 'reduced' only when the whole interval is
    below zero, 'increased' when it is all above, otherwise 'no-clear-effect' (None: not estimated)."""
    side = interval_side(low, high, 0.0)
    return None if side is None else {"below": "reduced", "above": "increased", "across": "no-clear-effect"}[side]


def ratio_reading(low: float | None, high: float | None) -> str | None:
    """A hazard ratio's reading: 'lower' / 'higher' risk only when the whole interval is below / above 1."""
    side = interval_side(low, high, 1.0)
    return None if side is None else {"below": "lower", "above": "higher", "across": "unclear"}[side]


def km_reading(p: float | None, low_tier: float | None, high_tier: float | None) -> str | None:
    """What the survival curves by engagement tier say: 'less-engaged-leave-sooner' when the log-rank
    test over the tiers is significant at ALPHA and the low tier retains fewer people than the high
    tier at the horizon; the reverse finding when it retains more; otherwise 'no-clear-difference'."""
    if p is None or low_tier is None or high_tier is None:
        return None
    if p < ALPHA and low_tier < high_tier:
        return "less-engaged-leave-sooner"
    if p < ALPHA and low_tier > high_tier:
        return "more-engaged-leave-sooner"
    return "no-clear-difference"


def sample_reading(sample: int | None, eligible: int | None) -> str | None:
    """Were the models fitted on a random sample? 'sampled' when fewer people than were eligible,
    'everyone' otherwise; None when the table does not say (no model was fitted)."""
    if sample is None or eligible is None:
        return None
    return "sampled" if sample < eligible else "everyone"


def km_horizon_day(km_curves: pl.DataFrame, horizon_days: int) -> int | None:
    """The last grid day at or before the horizon at which every tier with a curve is shown."""
    drawn = km_curves.filter(pl.col("survival").is_not_null())
    shown = drawn.filter(pl.col("time_days") <= horizon_days)
    days = shown.group_by("time_days").agg(pl.col("tier").n_unique().alias("n")).filter(pl.col("n") == drawn["tier"].n_unique())
    return int(days["time_days"].max()) if days.height else None


def strongest_hazard_ratio(cox: pl.DataFrame) -> dict[str, Any]:
    """The driver with the lowest hazard ratio in the report's Cox model (ties: by name); {} when none."""
    rows = cox.filter((pl.col("model") == HR_MODEL) & pl.col("hr").is_not_null()).sort(["hr", "driver"])
    return rows.row(0, named=True) if rows.height else {}


def driver_ranking(engagement: pl.DataFrame, quarter: str) -> pl.DataFrame:
    """Organisation-level drivers in `quarter`, strongest first (% favourable), shown rows only."""
    return (
        engagement.filter(
            (pl.col("level") == "organisation")
            & (pl.col("quarter") == quarter)
            & pl.col("driver").is_in(DRIVERS)
            & pl.col("pct_favourable").is_not_null()
        )
        .select("driver", "respondents", "pct_favourable", "pct_favourable_low", "pct_favourable_high")
        .sort(["pct_favourable", "driver"], descending=[True, False])
    )


def group_positions(turnover: pl.DataFrame, quarter: str, level: str, benchmarks: dict) -> pl.DataFrame:
    """Sites or teams in `quarter` with their voluntary rate, interval and band position; hidden rows kept."""
    rows = turnover.filter((pl.col("level") == level) & (pl.col("quarter") == quarter)).sort("site", "team")
    positions = [
        band_position(r["voluntary_rate"], r["voluntary_rate_low"], r["voluntary_rate_high"], benchmarks["contact_centre_low"], benchmarks["contact_centre_high"])
        for r in rows.iter_rows(named=True)
    ]
    return rows.select(
        "level", "site", "team", "quarter", "group_size", "voluntary_exits", "avg_headcount",
        "voluntary_rate", "voluntary_rate_low", "voluntary_rate_high", "suppressed",
    ).with_columns(pl.Series("band_position", positions, pl.String))  # fmt: skip


def poisson_count_interval(count: int | None) -> tuple[float | None, float | None]:
    """Exact (Garwood) 95% interval for the expected count behind an observed Poisson count."""
    if count is None:
        return None, None
    low = float(stats.chi2.ppf(0.025, 2 * count) / 2) if count > 0 else 0.0
    return low, float(stats.chi2.ppf(0.975, 2 * count + 2) / 2)


# ------------------------------------------------------------------ records


class Registry:
    def __init__(self, quarter: str):
        self.quarter = quarter
        self.records: list[dict[str, Any]] = []

    def add(
        self,
        name: str,
        label: str,
        value: Any,
        fmt: dict[str, Any],
        unit: str,
        table: str,
        filter_: dict,
        column: str,
        subject: str | None = None,
        derivation: str | None = None,
    ) -> None:
        """`derivation`: how the value follows from the rows the filter selects when it is not
        simply their one cell (a count, a ranking, a band position, a Poisson bound)."""
        if isinstance(value, float) and value != value:  # NaN -> missing
            value = None
        record = {
            "id": f"num:{name}:{self.quarter}",
            "label": label,
            "value": value,
            "display": fmt_value(value, fmt, "en"),
            "format": fmt,
            "unit": unit,
            "source": {"table": table, "filter": filter_, "column": column},
        }
        if derivation is not None:
            record["source"]["derivation"] = derivation
        if subject is not None:
            record["subject"] = subject
        self.records.append(record)


def _row(frame: pl.DataFrame, **where: Any) -> dict[str, Any]:
    expr = pl.lit(True)
    for key, value in where.items():
        expr = expr & (pl.col(key).is_null() if value is None else (pl.col(key) == value))
    rows = frame.filter(expr)
    return rows.row(0, named=True) if rows.height else {}


def _delta(now: Any, before: Any, scale: float = 1.0) -> float | None:
    return None if now is None or before is None else (now - before) * scale


def build_numbers(tables: dict[str, str], quarter: str, config: dict) -> list[dict[str, Any]]:
    turnover = pl.read_parquet(tables["turnover"])
    engagement = pl.read_parquet(tables["engagement"])
    enps = pl.read_parquet(tables["enps"])
    rates = pl.read_parquet(tables["response_rates"])
    cost = pl.read_parquet(tables["cost"])
    ingest = json.loads(Path(tables["ingest_manifest"]).read_text(encoding="utf-8"))
    bench = config["benchmarks"]
    prev = shift_quarter(quarter, -1)
    reg = Registry(quarter)
    org = {"level": "organisation", "quarter": quarter}
    both = {"level": "organisation", "quarter": [prev, quarter]}

    # --- benchmarks (from the configuration)
    for key, name, label, fmt in [
        ("contact_centre_low", "benchmark-band-low", "Contact-centre turnover band, from", PCT0),
        ("contact_centre_high", "benchmark-band-high", "Contact-centre turnover band, to", PCT0),
        ("all_industry", "benchmark-all-industry", "All-industry annual turnover", PCT1),
    ]:
        reg.add(name, label, bench[key], fmt, "share per year", CONFIG_SOURCE, {}, f"benchmarks.{key}")
    reg.add("min-group-size", "Minimum reporting group", config["privacy"]["min_group_size"], INT, "people", CONFIG_SOURCE, {}, "privacy.min_group_size")

    # --- turnover, organisation-wide
    tt = tables["turnover"]
    t_now, t_prev = _row(turnover, **org), _row(turnover, level="organisation", quarter=prev)
    reg.add("headcount", "Headcount at quarter end", t_now.get("headcount_end"), INT, "people", tt, org, "headcount_end")
    change = _delta(t_now.get("headcount_end"), t_prev.get("headcount_end"))
    reg.add("headcount-change", f"Headcount change since {prev}", change, SIGNED_INT, "people", tt, both, "headcount_end")
    for col, name, label in [
        ("voluntary_rate", "voluntary-turnover", "Annualised voluntary turnover"),
        ("voluntary_rate_low", "voluntary-turnover-low", "Voluntary turnover, 95% interval from"),
        ("voluntary_rate_high", "voluntary-turnover-high", "Voluntary turnover, 95% interval to"),
        ("involuntary_rate", "involuntary-turnover", "Annualised involuntary turnover"),
    ]:
        reg.add(name, label, t_now.get(col), PCT1, "share per year", tt, org, col)
    change = _delta(t_now.get("voluntary_rate"), t_prev.get("voluntary_rate"), 100)
    reg.add("voluntary-turnover-change", f"Change in voluntary turnover since {prev}", change, POINTS1, "percentage points", tt, both, "voluntary_rate")
    rate, low, high = (t_now.get(c) for c in ("voluntary_rate", "voluntary_rate_low", "voluntary_rate_high"))
    reg.add(
        "voluntary-turnover-band", "Voluntary turnover against the contact-centre band",
        band_position(rate, low, high, bench["contact_centre_low"], bench["contact_centre_high"]),
        {"kind": "category", "group": "band"}, "category", tt, org, "voluntary_rate, voluntary_rate_low, voluntary_rate_high",
        derivation="band_position(voluntary_rate, voluntary_rate_low, voluntary_rate_high, benchmarks.contact_centre_low, benchmarks.contact_centre_high)",
    )  # fmt: skip
    reg.add(
        "voluntary-turnover-vs-industry", "Voluntary turnover against the all-industry rate",
        line_position(rate, low, high, bench["all_industry"]),
        {"kind": "category", "group": "line"}, "category", tt, org, "voluntary_rate, voluntary_rate_low, voluntary_rate_high",
        derivation="line_position(voluntary_rate, voluntary_rate_low, voluntary_rate_high, benchmarks.all_industry)",
    )  # fmt: skip
    for col, name, label in [
        ("hires", "hires", "Hires"),
        ("voluntary_exits", "voluntary-exits", "Voluntary exits"),
        ("involuntary_exits", "involuntary-exits", "Involuntary exits"),
        ("early_exits_90d", "early-exits-90d", "Exits within 90 days of hire"),
        ("early_exits_12m", "early-exits-12m", "Exits within 12 months of hire"),
    ]:
        reg.add(name, label, t_now.get(col), INT, "people", tt, org, col)
    early_low, early_high = poisson_count_interval(t_now.get("early_exits_90d"))
    reg.add("early-exits-90d-low", "Exits within 90 days, 95% interval from (Poisson)", early_low, DECIMAL1, "people", tt, org, "early_exits_90d", derivation="poisson_low")
    reg.add("early-exits-90d-high", "Exits within 90 days, 95% interval to (Poisson)", early_high, DECIMAL1, "people", tt, org, "early_exits_90d", derivation="poisson_high")
    change = _delta(t_now.get("early_exits_90d"), t_prev.get("early_exits_90d"))
    reg.add("early-exits-90d-change", f"Change in exits within 90 days since {prev}", change, SIGNED_INT, "people", tt, both, "early_exits_90d")

    # --- turnover by site and team (the by-site and by-team charts read the same rows)
    sites = group_positions(turnover, quarter, "site", bench).filter(pl.col("voluntary_rate").is_not_null())
    if sites.height:
        ranked = sites.sort(["voluntary_rate", "site"], descending=[True, False])
        for name, label, row in [("site-highest", "Site with the highest voluntary turnover", ranked.row(0, named=True)), ("site-lowest", "Site with the lowest voluntary turnover", ranked.row(-1, named=True))]:
            where = {"level": "site", "site": row["site"], "quarter": quarter}
            reg.add(f"{name}-turnover", label, row["voluntary_rate"], PCT1, "share per year", tt, where, "voluntary_rate", subject=row["site"])
    teams = group_positions(turnover, quarter, "team", bench)
    shown = teams.filter(pl.col("voluntary_rate").is_not_null())
    team_filter = {"level": "team", "quarter": quarter}
    reg.add("teams-shown", "Teams with a turnover rate shown", shown.height, INT, "teams", tt, team_filter, "voluntary_rate", derivation="count(voluntary_rate not null)")
    reg.add("teams-hidden", "Teams hidden by the privacy gate (turnover)", teams.height - shown.height, INT, "teams", tt, team_filter, "suppressed", derivation="count(voluntary_rate null)")
    above = shown.filter(pl.col("band_position") == "above").height
    reg.add("teams-above-band", "Teams clearly above the contact-centre band (whole interval above)", above, INT, "teams", tt, team_filter, "voluntary_rate_low", derivation="count(voluntary_rate_low > benchmarks.contact_centre_high)")
    if shown.height:
        top = shown.sort(["voluntary_rate", "team"], descending=[True, False]).row(0, named=True)
        where = {"level": "team", "team": top["team"], "quarter": quarter}
        reg.add("team-highest-turnover", "Team with the highest voluntary turnover", top["voluntary_rate"], PCT1, "share per year", tt, where, "voluntary_rate", subject=top["team"])
        reg.add("team-highest-turnover-low", "Highest team turnover, 95% interval from", top["voluntary_rate_low"], PCT1, "share per year", tt, where, "voluntary_rate_low", subject=top["team"])
        reg.add("team-highest-turnover-high", "Highest team turnover, 95% interval to", top["voluntary_rate_high"], PCT1, "share per year", tt, where, "voluntary_rate_high", subject=top["team"])

    # --- engagement index, eNPS and the drivers
    te = tables["engagement"]
    ef = {"level": "organisation", "quarter": quarter, "driver": "engagement"}
    e_now, e_prev = _row(engagement, **ef), _row(engagement, **(ef | {"quarter": prev}))
    for col, name, label in [
        ("pct_favourable", "engagement-favourable", "Engagement index (% favourable)"),
        ("pct_favourable_low", "engagement-favourable-low", "Engagement index, 95% interval from"),
        ("pct_favourable_high", "engagement-favourable-high", "Engagement index, 95% interval to"),
    ]:
        reg.add(name, label, e_now.get(col), PCT0, "share", te, ef, col)
    change = _delta(e_now.get("pct_favourable"), e_prev.get("pct_favourable"), 100)
    reg.add("engagement-favourable-change", f"Change in engagement index since {prev}", change, POINTS1, "percentage points", te, ef | {"quarter": [prev, quarter]}, "pct_favourable")
    reg.add("respondents", "Survey respondents", e_now.get("respondents"), INT, "people", te, ef, "respondents")

    tn = tables["enps"]
    n_now, n_prev = _row(enps, **org), _row(enps, level="organisation", quarter=prev)
    for col, name, label in [("enps", "enps", "eNPS"), ("enps_low", "enps-low", "eNPS, 95% interval from"), ("enps_high", "enps-high", "eNPS, 95% interval to")]:
        reg.add(name, label, n_now.get(col), SCORE, "points (-100..100)", tn, org, col)
    change = _delta(n_now.get("enps"), n_prev.get("enps"))
    reg.add("enps-change", f"Change in eNPS since {prev}", change, POINTS0, "points", tn, both, "enps")

    driver_changes: dict[str, float] = {}
    for driver in DRIVERS:
        where = {"level": "organisation", "quarter": quarter, "driver": driver}
        d_now, d_prev = _row(engagement, **where), _row(engagement, **(where | {"quarter": prev}))
        for col, suffix, label in [("pct_favourable", "", "% favourable"), ("pct_favourable_low", "-low", "% favourable, 95% interval from"), ("pct_favourable_high", "-high", "% favourable, 95% interval to")]:
            reg.add(f"driver-{driver}{suffix}", f"{driver}: {label}", d_now.get(col), PCT0, "share", te, where, col, subject=driver)
        change = _delta(d_now.get("pct_favourable"), d_prev.get("pct_favourable"), 100)
        reg.add(f"driver-{driver}-change", f"{driver}: change in % favourable since {prev}", change, POINTS1, "percentage points", te, where | {"quarter": [prev, quarter]}, "pct_favourable", subject=driver)
        if change is not None:
            driver_changes[driver] = change
    ranking = driver_ranking(engagement, quarter)
    ranked = {"level": "organisation", "quarter": quarter, "driver": list(DRIVERS)}
    strongest = ranking["driver"][0] if ranking.height else None
    weakest = ranking["driver"][-1] if ranking.height else None
    reg.add("driver-strongest", "Strongest driver (% favourable)", strongest, {"kind": "category", "group": "driver"}, "driver", te, ranked, "pct_favourable", derivation="argmax(pct_favourable)")
    reg.add("driver-weakest", "Weakest driver (% favourable)", weakest, {"kind": "category", "group": "driver"}, "driver", te, ranked, "pct_favourable", derivation="argmin(pct_favourable)")
    mover = max(driver_changes, key=lambda d: (abs(driver_changes[d]), d)) if driver_changes else None
    if "engagement_change" in tables and mover is not None:
        # The change's own 95% interval (engagement_change), so the text can say whether it is noise.
        tch = tables["engagement_change"]
        where = {"level": "organisation", "quarter": quarter, "driver": mover}
        ch = _row(pl.read_parquet(tch), **where)
        low, high = (None if ch.get(c) is None else ch[c] * 100 for c in ("pct_favourable_change_low", "pct_favourable_change_high"))
        reg.add("driver-largest-change-low", "Largest driver change, 95% interval from", low, POINTS1, "percentage points", tch, where, "pct_favourable_change_low", subject=mover, derivation="100 * pct_favourable_change_low")
        reg.add("driver-largest-change-high", "Largest driver change, 95% interval to", high, POINTS1, "percentage points", tch, where, "pct_favourable_change_high", subject=mover, derivation="100 * pct_favourable_change_high")
        reading = None if low is None or high is None else "clear-rise" if low > 0 else "clear-fall" if high < 0 else "noise"
        reg.add("driver-largest-change-reading", "Is the largest driver change beyond noise?", reading, {"kind": "category", "group": "change"}, "category", tch, where, "pct_favourable_change_low, pct_favourable_change_high", subject=mover, derivation="change_reading(pct_favourable_change_low, pct_favourable_change_high)")
    reg.add("driver-largest-change", f"Driver whose % favourable moved most since {prev}", mover, {"kind": "category", "group": "driver"}, "driver", te, ranked | {"quarter": [prev, quarter]}, "pct_favourable", derivation="argmax(abs(change in pct_favourable))")
    hidden = engagement.filter((pl.col("level") == "team") & (pl.col("quarter") == quarter) & pl.col("driver").is_in(DRIVERS) & pl.col("suppressed").is_not_null()).height
    reg.add("heatmap-hidden-cells", "Team × driver cells hidden by the privacy gate", hidden, INT, "cells", te, {"level": "team", "quarter": quarter, "driver": list(DRIVERS)}, "suppressed", derivation="count(suppressed not null)")

    # --- survey response
    tr = tables["response_rates"]
    r_now, r_prev = _row(rates, **org), _row(rates, level="organisation", quarter=prev)
    reg.add("response-rate", "Survey response rate", r_now.get("response_rate"), PCT0, "share", tr, org, "response_rate")
    change = _delta(r_now.get("response_rate"), r_prev.get("response_rate"), 100)
    reg.add("response-rate-change", f"Change in response rate since {prev}", change, POINTS0, "percentage points", tr, both, "response_rate")
    reg.add("invited", "Staff invited to the survey", r_now.get("invited"), INT, "people", tr, org, "invited")
    team_rates = rates.filter((pl.col("level") == "team") & (pl.col("quarter") == quarter) & pl.col("response_rate").is_not_null())
    if team_rates.height:
        low_team = team_rates.sort(["response_rate", "team"]).row(0, named=True)
        reg.add("response-rate-lowest-team", "Team with the lowest response rate", low_team["response_rate"], PCT0, "share", tr, {"level": "team", "team": low_team["team"], "quarter": quarter}, "response_rate", subject=low_team["team"])

    # --- cost
    currency = config["cost"]["currency"]
    money, signed_money = {"kind": "money", "currency": currency}, {"kind": "signed_money", "currency": currency}
    tc = tables["cost"]
    c_now, c_prev = _row(cost, quarter=quarter), _row(cost, quarter=prev)
    reg.add("turnover-cost", "Cost of turnover this quarter", c_now.get("cost"), money, currency, tc, {"quarter": quarter}, "cost")
    exits = c_now.get("exits")
    per_exit = (c_now["cost"] / exits) if exits else config["cost"]["replacement_cost"]
    exits_low, exits_high = poisson_count_interval(exits)
    for name, label, bound in [("turnover-cost-low", "Cost of turnover, 95% interval from (Poisson on exits)", exits_low), ("turnover-cost-high", "Cost of turnover, 95% interval to (Poisson on exits)", exits_high)]:
        reg.add(name, label, None if bound is None or per_exit is None else bound * per_exit, money | {"round": 1000}, currency, tc, {"quarter": quarter}, "cost, exits", derivation=f"poisson_{name.rsplit('-', 1)[1]}(exits) * cost / exits")
    change = _delta(c_now.get("cost"), c_prev.get("cost"))
    reg.add("turnover-cost-change", f"Change in cost of turnover since {prev}", change, signed_money, currency, tc, {"quarter": [prev, quarter]}, "cost")
    reg.add("replacement-cost", "Replacement cost per exit (flat rate)", config["cost"]["replacement_cost"], money, currency, CONFIG_SOURCE, {}, "cost.replacement_cost")

    # --- engagement and retention (survival tables: the whole period, not one quarter)
    if "km_curves" in tables:
        _retention_numbers(reg, tables, config)
        _sample_numbers(reg, tables["cox_hazard_ratios"], "models", {}, "sample_people", "Survival models (Cox, 12-month exit, competing risks)")
    if "driver_importance" in tables:
        for outcome, stem in IMPORTANCE_OUTCOMES.items():
            where = {"level": "organisation", "outcome": outcome}
            _sample_numbers(reg, tables["driver_importance"], f"importance-{stem}", where, "people", f"Driver importance for {outcome}")

    # --- programmes (difference-in-differences over the whole period), one set per programme type
    if "programme_effects" in tables:
        for programme in PROGRAMMES:
            _programme_numbers(reg, tables, programme, money, config)

    # --- data quality
    suppressed = sum(
        pl.read_parquet(tables[name]).filter((pl.col("quarter") == quarter) & pl.col("suppressed").is_not_null()).height
        for name in ("turnover", "engagement", "enps", "response_rates")
    )
    reg.add("suppressed-cells", "Cells hidden by the privacy gate", suppressed, INT, "cells", "results/tables/{turnover,engagement,enps,response_rates}.parquet", {"quarter": quarter}, "suppressed", derivation="count(suppressed not null)")
    ti = tables["ingest_manifest"]
    reg.add("files-read", "Export files read", len(ingest.get("files", [])), INT, "files", ti, {}, "files")
    reg.add("rows-rejected", "Input rows rejected at ingest (all files)", ingest["rows_rejected"], INT, "rows", ti, {}, "rows_rejected")
    reg.add("rows-read", "Input rows read (all files)", ingest["rows_read"], INT, "rows", ti, {}, "rows_read")
    share = ingest["rows_rejected"] / ingest["rows_read"] if ingest["rows_read"] else None
    reg.add("rows-rejected-share", "Share of input rows rejected at ingest", share, {"kind": "pct", "digits": 2}, "share", ti, {}, "rows_rejected", derivation="rows_rejected / rows_read")
    return reg.records


def _retention_numbers(reg: Registry, tables: dict[str, str], config: dict) -> None:
    """Survival by engagement tier at the horizon, the log-rank test, the engagement hazard ratio and
    the driver with the strongest association (the KM chart and the forest plot read the same rows)."""
    tk, tl, tc, th = (tables[n] for n in ("km_curves", "km_logrank", "cox_hazard_ratios", "competing_risks_hr"))
    km = pl.read_parquet(tk)
    horizon = config["retention"]["horizon_days"]
    day = km_horizon_day(km, horizon)
    reg.add("km-day", "Days after the survey at which the tiers are compared", day, INT, "days", tk, {}, "time_days", derivation=f"km_horizon_day(time_days <= {horizon}, survival shown in every tier)")
    survival = {}
    for tier in ("low", "mid", "high"):
        where = {"tier": tier, "time_days": day}
        row = _row(km, **where) if day is not None else {}
        survival[tier] = row.get("survival")
        for col, suffix, label in [("survival", "", "still employed"), ("ci_low", "-low", "still employed, 95% interval from"), ("ci_high", "-high", "still employed, 95% interval to")]:
            reg.add(f"km-{tier}{suffix}", f"{tier} engagement tier: {label}", row.get(col), PCT0, "share", tk, where, col, subject=tier)
        reg.add(f"km-{tier}-people", f"{tier} engagement tier: people followed", row.get("n_subjects"), INT, "people", tk, where, "n_subjects", subject=tier)
    test = _row(pl.read_parquet(tl), test="all tiers")
    reg.add("km-logrank-p", "Log-rank test over the engagement tiers, p", test.get("p"), PVALUE, "p", tl, {"test": "all tiers"}, "p")
    reg.add(
        "km-reading", "What the survival curves by engagement tier say",
        km_reading(test.get("p"), survival["low"], survival["high"]),
        {"kind": "category", "group": "km"}, "category", tk, {"tier": ["low", "high"], "time_days": day}, "survival",
        derivation=f"km_reading(p of num:km-logrank-p:{reg.quarter}, survival[low], survival[high])",
    )  # fmt: skip
    where = {"cause": "voluntary", "model": "engagement", "driver": "engagement"}
    row = _row(pl.read_parquet(th), **where)
    for col, suffix, label in [("hr", "", "Hazard ratio of a voluntary exit per point of engagement"), ("hr_low", "-low", "Engagement hazard ratio, 95% interval from"), ("hr_high", "-high", "Engagement hazard ratio, 95% interval to")]:
        reg.add(f"engagement-hr{suffix}", label, row.get(col), DECIMAL2, "ratio per point", th, where, col)
    reg.add("engagement-hr-reading", "Engagement hazard ratio against 1", ratio_reading(row.get("hr_low"), row.get("hr_high")), {"kind": "category", "group": "hr"}, "category", th, where, "hr_low, hr_high", derivation="ratio_reading(hr_low, hr_high)")
    cox = pl.read_parquet(tc)
    top = strongest_hazard_ratio(cox)
    driver = top.get("driver")
    cox_filter = {"model": HR_MODEL, "driver": list(DRIVERS)}
    reg.add("hr-strongest-driver", "Driver with the strongest association with exits (lowest hazard ratio)", driver, {"kind": "category", "group": "driver"}, "driver", tc, cox_filter, "hr", derivation="argmin(hr)")
    where = {"model": HR_MODEL, "driver": driver}
    for col, suffix, label in [("hr", "", "Lowest driver hazard ratio"), ("hr_low", "-low", "Lowest driver hazard ratio, 95% interval from"), ("hr_high", "-high", "Lowest driver hazard ratio, 95% interval to")]:
        reg.add(f"hr-strongest{suffix}", label, top.get(col), DECIMAL2, "ratio per point", tc, where, col, subject=driver)
    clear = cox.filter((pl.col("model") == HR_MODEL) & (pl.col("hr_high") < 1)).height
    reg.add("hr-drivers-lower", "Drivers whose whole hazard-ratio interval is below 1", clear, INT, "drivers", tc, cox_filter, "hr_high", derivation="count(hr_high < 1)")


def _sample_numbers(reg: Registry, table: str, name: str, where: dict[str, Any], column: str, what: str) -> None:
    """The people a model was fitted on (`column`) against those eligible, and whether that was a
    random sample (retention.max_people, drivers.max_people). Every row of the filter carries the
    same two counts (the sample is drawn once per model family); the maximum skips marker rows.
    Tables written before sampling existed lack the columns: the numbers are then missing."""
    frame = pl.read_parquet(table)
    rows = frame.filter(pl.all_horizontal([pl.col(k) == v for k, v in where.items()])) if where else frame
    counts = {c: (int(rows[c].max()) if c in rows.columns and rows[c].null_count() < rows.height else None) for c in (column, "eligible_people")}
    reg.add(f"{name}-people", f"{what}: people the models were fitted on", counts[column], INT, "people", table, where, column, derivation=f"max({column})")
    reg.add(f"{name}-eligible-people", f"{what}: people eligible", counts["eligible_people"], INT, "people", table, where, "eligible_people", derivation="max(eligible_people)")
    reg.add(
        f"{name}-sample-reading", f"{what}: fitted on a random sample?", sample_reading(counts[column], counts["eligible_people"]),
        {"kind": "category", "group": "sample"}, "category", table, where, f"{column}, eligible_people",
        derivation=f"sample_reading(max({column}), max(eligible_people))",
    )  # fmt: skip


def _programme_numbers(reg: Registry, tables: dict[str, str], programme: str, money: dict[str, Any], config: dict) -> None:
    """One programme type: its effect on voluntary turnover and on its driver's score (the `simple`
    estimand) with intervals and readings, the pre-trend test, and exits avoided and money saved."""
    te, ts = tables["programme_effects"], tables["programme_savings"]
    effects, savings = pl.read_parquet(te), pl.read_parquet(ts)
    name = f"programme-{programme}"
    where = {"intervention": programme, "outcome": "voluntary_turnover", "estimand": "simple"}
    row = _row(effects, **where)
    reg.add(f"{name}-teams", f"{programme}: teams that started it (evaluated)", row.get("n_treated_teams"), INT, "teams", te, where, "n_treated_teams", subject=programme)
    reg.add(f"{name}-teams-total", f"{programme}: teams in the evaluation", row.get("n_teams"), INT, "teams", te, where, "n_teams", subject=programme)
    for col, suffix, label in [("att", "", "effect on voluntary turnover"), ("ci_low", "-low", "effect on voluntary turnover, 95% interval from"), ("ci_high", "-high", "effect on voluntary turnover, 95% interval to")]:
        value = None if row.get(col) is None else row[col] * 100
        reg.add(f"{name}-turnover{suffix}", f"{programme}: {label}", value, POINTS1, "percentage points per year", te, where, col, subject=programme, derivation=f"100 * {col}")
    reading = effect_reading(row.get("ci_low"), row.get("ci_high"))
    reg.add(f"{name}-turnover-reading", f"{programme}: reading of the effect on voluntary turnover", reading, {"kind": "category", "group": "programme-turnover"}, "category", te, where, "ci_low, ci_high", subject=programme, derivation="effect_reading(ci_low, ci_high)")
    reg.add(f"{name}-pretrend-p", f"{programme}: pre-trend test (turnover), p", row.get("pretrend_p"), PVALUE, "p", te, where, "pretrend_p", subject=programme)
    pre = row.get("pretrend_p")
    reg.add(
        f"{name}-pretrend-reading", f"{programme}: do the pre-trends cast doubt on the estimate?",
        None if pre is None else ("doubt" if pre < ALPHA else "no-doubt"), {"kind": "category", "group": "pretrend"}, "category", te, where, "pretrend_p",
        subject=programme, derivation=f"pretrend_p < {ALPHA}",
    )  # fmt: skip
    where = {"intervention": programme, "outcome": "driver_score", "estimand": "simple"}
    row = _row(effects, **where)
    driver = config.get("programmes", {}).get("drivers", {}).get(programme)
    reg.add(f"{name}-driver", f"{programme}: the survey driver it should move", driver, {"kind": "category", "group": "driver"}, "driver", CONFIG_SOURCE, {}, f"programmes.drivers.{programme}", subject=programme)
    for col, suffix, label in [("att", "", "effect on the driver score"), ("ci_low", "-low", "effect on the driver score, 95% interval from"), ("ci_high", "-high", "effect on the driver score, 95% interval to")]:
        reg.add(f"{name}-score{suffix}", f"{programme}: {label}", row.get(col), SIGNED2, "points (1-5)", te, where, col, subject=programme)
    reading = effect_reading(row.get("ci_low"), row.get("ci_high"))
    reg.add(f"{name}-score-reading", f"{programme}: reading of the effect on the driver score", reading, {"kind": "category", "group": "programme-score"}, "category", te, where, "ci_low, ci_high", subject=programme, derivation="effect_reading(ci_low, ci_high)")
    where = {"intervention": programme}
    row = _row(savings, **where)
    for col, suffix, label, fmt in [
        ("exits_avoided", "", "exits avoided", INT),
        ("exits_avoided_low", "-low", "exits avoided, 95% interval from", INT),
        ("exits_avoided_high", "-high", "exits avoided, 95% interval to", INT),
        ("money_saved", "", "money saved", money | {"round": 1000}),
        ("money_saved_low", "-low", "money saved, 95% interval from", money | {"round": 1000}),
        ("money_saved_high", "-high", "money saved, 95% interval to", money | {"round": 1000}),
        ("cost_per_exit", "-cost-per-exit", "cost per exit used", money),
    ]:
        stem = "exits-avoided" if col.startswith("exits") else "money-saved" if col.startswith("money") else ""
        reg.add(f"{name}-{stem}{suffix}" if stem else f"{name}{suffix}", f"{programme}: {label}", row.get(col), fmt, "exits" if fmt is INT else money["currency"], ts, where, col, subject=programme)
    reg.add(
        f"{name}-savings-reading", f"{programme}: are the exits avoided beyond noise?",
        effect_reading(*(None if row.get(c) is None else -row[c] for c in ("exits_avoided_high", "exits_avoided_low"))),
        {"kind": "category", "group": "programme-savings"}, "category", ts, where, "exits_avoided_low, exits_avoided_high",
        subject=programme, derivation="effect_reading(-exits_avoided_high, -exits_avoided_low)",
    )  # fmt: skip


def write(records: list[dict[str, Any]], out_path: str) -> None:
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(json.dumps(records, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
