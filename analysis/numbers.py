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


def write(records: list[dict[str, Any]], out_path: str) -> None:
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(json.dumps(records, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
