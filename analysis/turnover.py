"""Headcount, hires, exits and annualised turnover per quarter, at organisation, site and team level.

Definitions (SHRM-style):
- a person is employed on day d when hire_date <= d <= exit_date (exit_date is the last day worked);
- headcount_start / headcount_end: employed on the quarter's first / last day;
- average headcount = (headcount_start + headcount_end) / 2;
- annualised turnover = exits in the quarter / average headcount x 4;
- its 95% interval treats exits as Poisson (exact Garwood interval) over the same exposure;
- early-tenure exit: an exit within 90 / 182 / 365 days of the spell's hire date.
"""

from __future__ import annotations

import polars as pl
from scipy import stats

from analysis.periods import quarter_end, quarter_start, quarters_between
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


def _poisson_interval(count: int | None, exposure: float | None) -> tuple[float | None, float | None]:
    if count is None or not exposure:
        return None, None
    low = stats.chi2.ppf(0.025, 2 * count) / 2 if count > 0 else 0.0
    high = stats.chi2.ppf(0.975, 2 * count + 2) / 2
    return low / exposure, high / exposure


def turnover_table(employees: pl.LazyFrame, quarters: list[str], min_group_size: int) -> pl.DataFrame:
    """The `turnover` table (docs/tables.md), privacy-gated."""
    per_spell = spell_quarters(employees, quarters)
    levels = {
        "organisation": [pl.lit(None, pl.String).alias("site"), pl.lit(None, pl.String).alias("team")],
        "site": [pl.col("site"), pl.lit(None, pl.String).alias("team")],
        "team": [pl.col("site"), pl.col("team")],
    }
    parts = [
        per_spell.group_by("quarter", *keys).agg(pl.col(COUNTS).sum()).with_columns(pl.lit(level).alias("level"))
        for level, keys in levels.items()
    ]
    counts = pl.concat(parts, how="diagonal").select("level", "site", "team", "quarter", *COUNTS).collect()
    avg = (pl.col("headcount_start") + pl.col("headcount_end")) / 2
    table = counts.with_columns(avg.alias("avg_headcount")).with_columns(
        (pl.col("voluntary_exits") / pl.col("avg_headcount") * 4).alias("voluntary_rate"),
        (pl.col("involuntary_exits") / pl.col("avg_headcount") * 4).alias("involuntary_rate"),
        (pl.col("exits") / pl.col("avg_headcount") * 4).alias("total_rate"),
    )
    # Exact Poisson interval on voluntary exits over avg_headcount/4 person-years, per cell (few cells).
    bounds = [
        _poisson_interval(count, headcount / 4 if headcount else None)
        for count, headcount in zip(table["voluntary_exits"].to_list(), table["avg_headcount"].to_list(), strict=True)
    ]
    table = table.with_columns(
        pl.Series("voluntary_rate_low", [b[0] for b in bounds], pl.Float64),
        pl.Series("voluntary_rate_high", [b[1] for b in bounds], pl.Float64),
    )
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
