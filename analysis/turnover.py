"""Headcount, hires, exits and annualised turnover per quarter, at organisation, site and team level.

Definitions (SHRM-style):
- a person is employed on day d when hire_date <= d <= exit_date (exit_date is the last day worked);
- headcount_start / headcount_end: employed on the quarter's first / last day;
- average headcount = (headcount_start + headcount_end) / 2;
- annualised turnover = exits in the quarter / average headcount x 4;
- its 95% interval treats exits as Poisson (exact Garwood interval) over the same exposure;
- early-tenure exit: an exit within 90 / 182 / 365 days of the spell's hire date.

`spell_quarters` spells these definitions out row by row (one row per spell and quarter it
overlaps); `team_quarter_counts` gives the same sums per team and quarter in one pass over the
spells, which is what the table needs (at a million spells and 40 quarters it avoids tens of
millions of intermediate rows).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from analysis.periods import parse_quarter, quarter_end, quarter_start, quarters_between
from analysis.privacy import assert_gated, gate

COUNTS = [
    "headcount_start",
    "headcount_end",
    "hires",
    "exits",
    "voluntary_exits",
    "involuntary_exits",
    "early_exits_90d",
    "early_exits_6m",
    "early_exits_12m",
]
RATES = ["avg_headcount", "voluntary_rate", "voluntary_rate_low", "voluntary_rate_high", "involuntary_rate", "total_rate"]


def quarter_grid(quarters: list[str]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "quarter": quarters,
            "q_start": [quarter_start(q) for q in quarters],
            "q_end": [quarter_end(q) for q in quarters],
        }
    )


def spell_quarters(employees: pl.LazyFrame, quarters: list[str]) -> pl.LazyFrame:
    """One row per spell and quarter with the 0/1 events of that spell in that quarter."""
    exit_in = pl.col("exit_date").is_between(pl.col("q_start"), pl.col("q_end"))
    tenure_days = (pl.col("exit_date") - pl.col("hire_date")).dt.total_days()
    employed_on = lambda day: (pl.col("hire_date") <= day) & (pl.col("exit_date").is_null() | (pl.col("exit_date") >= day))  # noqa: E731
    return (
        employees.join(quarter_grid(quarters), how="cross")
        .filter(
            (pl.col("hire_date") <= pl.col("q_end"))
            & (pl.col("exit_date").is_null() | (pl.col("exit_date") >= pl.col("q_start")))
        )
        .with_columns(
            employed_on(pl.col("q_start")).cast(pl.Int64).alias("headcount_start"),
            employed_on(pl.col("q_end")).cast(pl.Int64).alias("headcount_end"),
            pl.col("hire_date").is_between(pl.col("q_start"), pl.col("q_end")).cast(pl.Int64).alias("hires"),
            exit_in.cast(pl.Int64).alias("exits"),
            (exit_in & (pl.col("exit_type") == "voluntary")).cast(pl.Int64).alias("voluntary_exits"),
            (exit_in & (pl.col("exit_type") == "involuntary")).cast(pl.Int64).alias("involuntary_exits"),
            (exit_in & (tenure_days <= 90)).cast(pl.Int64).alias("early_exits_90d"),
            (exit_in & (tenure_days <= 182)).cast(pl.Int64).alias("early_exits_6m"),
            (exit_in & (tenure_days <= 365)).cast(pl.Int64).alias("early_exits_12m"),
        )
    )


def team_quarter_counts(employees: pl.LazyFrame, quarters: list[str]) -> pl.LazyFrame:
    """Per site, team and quarter: the COUNTS of `spell_quarters` summed, without its spell x quarter rows.

    Headcounts come from running sums over the checkpoint days d_0 < d_1 < ... (every quarter's first
    and last day): employed on d_k = hired on or before d_k - last day worked before d_k, which holds
    because exit_date >= hire_date (a canonical-table check, verified here). Hires and exits are
    counted by the quarter they fall in. A team-quarter has a row when some spell overlaps the
    quarter (hired by its last day and not gone before its first), as in `spell_quarters`.
    """
    grid = quarter_grid(quarters).collect()
    days = pl.concat([grid["q_start"], grid["q_end"]]).unique().sort()
    checkpoint = pl.lit(days)
    spells = employees.select("site", "team", "hire_date", "exit_date", "exit_type").filter(pl.col("hire_date").is_not_null())
    keys = ["site", "team"]
    # slot of a hire: how many checkpoints fall before it (it counts from checkpoint `slot` on);
    # slot of an exit: how many checkpoints fall on or before it (it is gone from checkpoint `slot` on).
    hired = spells.group_by(*keys, checkpoint.search_sorted(pl.col("hire_date"), side="left").cast(pl.Int64).alias("k")).agg(pl.len().cast(pl.Int64).alias("hired"))
    gone = (
        spells.filter(pl.col("exit_date").is_not_null())
        .group_by(*keys, checkpoint.search_sorted(pl.col("exit_date"), side="right").cast(pl.Int64).alias("k"))
        .agg(pl.len().cast(pl.Int64).alias("gone"))
    )
    running = (
        spells.select(keys)
        .unique()
        .join(pl.LazyFrame({"k": pl.int_range(days.len(), eager=True, dtype=pl.Int64)}), how="cross")
        .join(hired, on=[*keys, "k"], how="left", nulls_equal=True)
        .join(gone, on=[*keys, "k"], how="left", nulls_equal=True)
        .sort(*keys, "k", nulls_last=False)
        .select(
            *keys,
            pl.col("k"),
            pl.col("hired").fill_null(0).cum_sum().over(keys).alias("hired_by"),
            pl.col("gone").fill_null(0).cum_sum().over(keys).alias("gone_before"),
        )
    )
    slot = {day: k for k, day in enumerate(days.to_list())}
    checkpoints = pl.LazyFrame(
        {
            "quarter": grid["quarter"],
            "q": [_quarter_number(q) for q in grid["quarter"].to_list()],
            "k_start": [slot[d] for d in grid["q_start"].to_list()],
            "k_end": [slot[d] for d in grid["q_end"].to_list()],
        },
        schema={"quarter": pl.String, "q": pl.Int64, "k_start": pl.Int64, "k_end": pl.Int64},
    )
    at_start = running.select(*keys, pl.col("k").alias("k_start"), pl.col("hired_by").alias("hired_by_start"), pl.col("gone_before").alias("gone_before_start"))
    at_end = running.select(*keys, pl.col("k").alias("k_end"), pl.col("hired_by").alias("hired_by_end"), pl.col("gone_before").alias("gone_before_end"))
    headcounts = (
        checkpoints.join(at_start, on="k_start")
        .join(at_end, on=[*keys, "k_end"], nulls_equal=True)
        .filter(pl.col("hired_by_end") - pl.col("gone_before_start") > 0)  # some spell overlaps the quarter
        .select(
            *keys,
            "quarter",
            "q",
            (pl.col("hired_by_start") - pl.col("gone_before_start")).alias("headcount_start"),
            (pl.col("hired_by_end") - pl.col("gone_before_end")).alias("headcount_end"),
        )
    )
    hires = (
        spells.group_by(*keys, _quarter_number_of(pl.col("hire_date")).alias("q"))
        .agg(pl.len().cast(pl.Int64).alias("hires"))
    )
    tenure_days = (pl.col("exit_date") - pl.col("hire_date")).dt.total_days()
    exits = (
        spells.filter(pl.col("exit_date").is_not_null())
        .group_by(*keys, _quarter_number_of(pl.col("exit_date")).alias("q"))
        .agg(
            pl.len().cast(pl.Int64).alias("exits"),
            (pl.col("exit_type") == "voluntary").sum().cast(pl.Int64).alias("voluntary_exits"),
            (pl.col("exit_type") == "involuntary").sum().cast(pl.Int64).alias("involuntary_exits"),
            (tenure_days <= 90).sum().cast(pl.Int64).alias("early_exits_90d"),
            (tenure_days <= 182).sum().cast(pl.Int64).alias("early_exits_6m"),
            (tenure_days <= 365).sum().cast(pl.Int64).alias("early_exits_12m"),
            (tenure_days < 0).sum().alias("__exit_before_hire"),
        )
    )
    return (
        headcounts.join(hires, on=[*keys, "q"], how="left", nulls_equal=True)
        .join(exits, on=[*keys, "q"], how="left", nulls_equal=True)
        .with_columns(pl.col(COUNTS[2:]).fill_null(0))
        .select(*keys, "quarter", *COUNTS, pl.col("__exit_before_hire").fill_null(0))
    )


def _quarter_number(label: str) -> int:
    year, q = parse_quarter(label)
    return year * 4 + q - 1


def _quarter_number_of(date: pl.Expr) -> pl.Expr:
    """Quarters since year 0 (2024Q1 -> 8096): a cheap integer key for a date's quarter."""
    return date.dt.year().cast(pl.Int64) * 4 + date.dt.quarter().cast(pl.Int64) - 1


def _poisson_interval(count: int | None, exposure: float | None) -> tuple[float | None, float | None]:
    if count is None or not exposure:
        return None, None
    low = stats.chi2.ppf(0.025, 2 * count) / 2 if count > 0 else 0.0
    high = stats.chi2.ppf(0.975, 2 * count + 2) / 2
    return low / exposure, high / exposure


def poisson_intervals(counts: pl.Series, exposures: pl.Series) -> tuple[pl.Series, pl.Series]:
    """`_poisson_interval` for whole columns at once (null where the count or the exposure is null or 0)."""
    count = counts.cast(pl.Float64).to_numpy()
    exposure = exposures.cast(pl.Float64).to_numpy()
    shown = ~np.isnan(count) & ~np.isnan(exposure) & (exposure != 0)
    low, high = np.full(count.shape, np.nan), np.full(count.shape, np.nan)
    c = count[shown]
    low[shown] = np.where(c > 0, stats.chi2.ppf(0.025, 2 * np.maximum(c, 1)) / 2, 0.0) / exposure[shown]
    high[shown] = stats.chi2.ppf(0.975, 2 * c + 2) / 2 / exposure[shown]
    return pl.Series(low, dtype=pl.Float64).fill_nan(None), pl.Series(high, dtype=pl.Float64).fill_nan(None)


def turnover_table(employees: pl.LazyFrame, quarters: list[str], min_group_size: int) -> pl.DataFrame:
    """The `turnover` table (docs/tables.md), privacy-gated."""
    teams = team_quarter_counts(employees, quarters).collect()
    if teams["__exit_before_hire"].sum():
        raise ValueError("employees: an exit_date before its hire_date (the canonical table should have rejected it)")
    # Counts add up: a site's (the organisation's) are the sums over its teams (all teams).
    levels = {
        "organisation": [pl.lit(None, pl.String).alias("site"), pl.lit(None, pl.String).alias("team")],
        "site": [pl.col("site"), pl.lit(None, pl.String).alias("team")],
        "team": [pl.col("site"), pl.col("team")],
    }
    parts = [
        teams.group_by("quarter", *keys).agg(pl.col(COUNTS).sum()).with_columns(pl.lit(level).alias("level"))
        for level, keys in levels.items()
    ]
    counts = pl.concat(parts, how="diagonal").select("level", "site", "team", "quarter", *COUNTS)
    avg = (pl.col("headcount_start") + pl.col("headcount_end")) / 2
    table = counts.with_columns(avg.alias("avg_headcount")).with_columns(
        (pl.col("voluntary_exits") / pl.col("avg_headcount") * 4).alias("voluntary_rate"),
        (pl.col("involuntary_exits") / pl.col("avg_headcount") * 4).alias("involuntary_rate"),
        (pl.col("exits") / pl.col("avg_headcount") * 4).alias("total_rate"),
    )
    # Exact Poisson interval on voluntary exits over avg_headcount/4 person-years, per cell.
    low, high = poisson_intervals(table["voluntary_exits"], table["avg_headcount"] / 4)
    table = table.with_columns(low.alias("voluntary_rate_low"), high.alias("voluntary_rate_high"))
    # Group size for privacy: the people employed at some point in the quarter, at least the average.
    table = table.with_columns(pl.max_horizontal("headcount_start", "headcount_end").alias("group_size"))
    gated = gate(
        table,
        size="group_size",
        values=[c for c in COUNTS + RATES],
        cell=["quarter"],
        min_group_size=min_group_size,
    )
    assert_gated(gated, "group_size", min_group_size)
    level_order = pl.col("level").replace_strict({"organisation": 0, "site": 1, "team": 2}, return_dtype=pl.Int8)
    return gated.sort(level_order, "site", "team", "quarter", nulls_last=False).select(
        "level", "site", "team", "quarter", "group_size", *COUNTS, *RATES, "suppressed"
    )


def build(employees_path: str, config: dict, out_path: str) -> pl.DataFrame:
    quarters = quarters_between(config["period"]["start"], config["period"]["end"])
    table = turnover_table(pl.scan_parquet(employees_path), quarters, config["privacy"]["min_group_size"])
    table.write_parquet(out_path)
    return table
