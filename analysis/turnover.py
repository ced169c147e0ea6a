"""Headcount, hires, exits and annualised turnover per quarter, at organisation, site and team level.

Definitions (SHRM-style):
- a person is employed on day d when hire_date <= d <= exit_date (exit_date is the last day worked);
- headcount_start / headcount_end: employed on the quarter's first / last day;
- average headcount = (headcount_start + headcount_end) / 2;
- annualised turnover = exits in the quarter / average headcount x 4;
- its 95% interval treats exits as Poisson (exact Garwood interval) over the same exposure;
- early-tenure exit: an exit within 90 / 182 / 365 days of the spell's hire date.

`spell_quarters` spells these definitions out row by row (one row per spell and quarter it
overlaps); `team_quarter_counts` gives the same sums per team and quarter from a single group-by
over the spells, which is what the table needs (at a million spells and 40 quarters it avoids tens
of millions of intermediate rows). `turnover_table` adds sites and the organisation up from the
teams and works out rates and intervals on those small arrays, then builds the table once and
gates it: at ten thousand people most of the time is fixed cost per Polars query, and this takes
one before the privacy gate.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
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


_EPOCH = dt.date(1970, 1, 1)  # day 0 of a Polars Date


def _slot(date: pl.Expr, checkpoints: list[dt.date]) -> pl.Expr:
    """Where a day falls among the sorted checkpoint days d_0 < d_1 < ...: 2k + 1 on d_k itself, 2k
    strictly between d_{k-1} and d_k (before d_0 for k = 0, after the last one for k = len); null for
    a null day. So the day is on or before d_k when its slot is <= 2k + 1, and before d_k when <= 2k.

    Looked up in a table of the slots of every day from the one before d_0 to the one after the last
    checkpoint (days further out share the slot of that end), which is cheaper than a search per row.
    """
    day_numbers = np.array([(day - _EPOCH).days for day in checkpoints], dtype=np.int64)
    span = np.arange(day_numbers[0] - 1, day_numbers[-1] + 2)
    slots = pl.Series(np.searchsorted(day_numbers, span, side="left") + np.searchsorted(day_numbers, span, side="right"), dtype=pl.Int64)
    return pl.lit(slots).gather((date.cast(pl.Date).to_physical().cast(pl.Int64) - span[0]).clip(0, len(span) - 1))


def _team_counts(employees: pl.LazyFrame, quarters: list[str]) -> tuple[list[tuple[str | None, str | None]], list[str], np.ndarray, np.ndarray]:
    """The COUNTS of `spell_quarters` summed per team and quarter, as arrays.

    Returns the teams ((site, team), sorted, nulls first), the quarter labels (sorted, unique),
    counts[team, quarter, COUNTS index] and overlaps[team, quarter]: some spell overlaps the quarter
    (hired by its last day and not gone before its first), i.e. the team-quarter has rows in
    `spell_quarters`. A quarter listed twice counts twice, as in `spell_quarters`.

    Every comparison with a quarter's first or last day only needs to know where a date falls among
    the checkpoint days, every quarter's first and last day (`_slot`); so one group-by per team, hire
    slot and exit slot reads all that is needed, and the rest is running totals over the slots:
    - hires / exits in a quarter: the hire / exit date is on or after its first day and on or before
      its last;
    - employed on checkpoint d = hired on or before d - last day worked before d, which holds because
      exit_date >= hire_date (a canonical-table check, verified here).
    """
    labels = sorted(set(quarters))
    times = np.array([quarters.count(q) for q in labels], dtype=np.int64)
    checkpoints = sorted({quarter_start(q) for q in labels} | {quarter_end(q) for q in labels})
    index = {day: k for k, day in enumerate(checkpoints)}
    first = np.array([index[quarter_start(q)] for q in labels], dtype=np.int64)
    last = np.array([index[quarter_end(q)] for q in labels], dtype=np.int64)

    keys = ["site", "team"]
    tenure_days = (pl.col("exit_date") - pl.col("hire_date")).dt.total_days()
    exit_kinds = {  # the spells of a group with an exit slot are exits
        "spells": pl.len(),
        "voluntary": (pl.col("exit_type") == "voluntary").sum(),
        "involuntary": (pl.col("exit_type") == "involuntary").sum(),
        "within_90d": (tenure_days <= 90).sum(),
        "within_6m": (tenure_days <= 182).sum(),
        "within_12m": (tenure_days <= 365).sum(),
    }
    groups = (
        employees.filter(pl.col("hire_date").is_not_null())
        .group_by(*keys, _slot(pl.col("hire_date"), checkpoints).alias("hire_slot"), _slot(pl.col("exit_date"), checkpoints).fill_null(-1).alias("exit_slot"))
        .agg(**exit_kinds, exit_before_hire=(tenure_days < 0).sum())
        .sort(*keys, nulls_last=False)
        .with_columns(pl.struct(keys).rle_id().alias("team_index"))
        .collect()
    )
    if groups["exit_before_hire"].sum():
        raise ValueError("employees: an exit_date before its hire_date (the canonical table should have rejected it)")
    team = groups["team_index"].to_numpy()
    teams = groups.select(keys).gather(np.flatnonzero(np.diff(team, prepend=-1))).rows()
    hire_slot, exit_slot = groups["hire_slot"].to_numpy(), groups["exit_slot"].to_numpy()
    left = exit_slot >= 0
    kinds = groups.select(list(exit_kinds)).to_numpy().astype(np.int64)
    # per team and slot: the spells hired in it; the exits in it, of each kind
    n_slots = 2 * len(checkpoints) + 1
    hired = np.zeros((len(teams), n_slots), dtype=np.int64)
    np.add.at(hired, (team, hire_slot), kinds[:, 0])
    exited = np.zeros((len(teams), n_slots, len(exit_kinds)), dtype=np.int64)
    np.add.at(exited, (team[left], exit_slot[left]), kinds[left])
    # running totals over the slots, read at the slots of the quarters' first and last days
    hired_by, exited_by = hired.cumsum(axis=1), exited.cumsum(axis=1)
    gone_by = exited_by[:, :, 0]
    on_or_before = lambda running, k: running[:, 2 * k + 1]  # noqa: E731
    before = lambda running, k: running[:, 2 * k]  # noqa: E731
    counts = np.concatenate(
        [
            (on_or_before(hired_by, first) - before(gone_by, first))[..., None],  # headcount_start
            (on_or_before(hired_by, last) - before(gone_by, last))[..., None],  # headcount_end
            (on_or_before(hired_by, last) - before(hired_by, first))[..., None],  # hires
            on_or_before(exited_by, last) - before(exited_by, first),  # exits, of each kind
        ],
        axis=2,
    )
    overlaps = on_or_before(hired_by, last) - before(gone_by, first) > 0
    return teams, labels, counts * times[:, None], overlaps


def _text(values: list[str | None], index: np.ndarray) -> pl.Series:
    """A String column of values[i] for each i in index."""
    return pl.Series(np.array(values, dtype=object)[index].tolist(), dtype=pl.String)


def team_quarter_counts(employees: pl.LazyFrame, quarters: list[str]) -> pl.DataFrame:
    """Per site, team and quarter: the COUNTS of `spell_quarters` summed, without its spell x quarter
    rows; a team-quarter has a row when some spell overlaps the quarter, as in `spell_quarters`."""
    teams, labels, counts, overlaps = _team_counts(employees, quarters)
    team, quarter = np.nonzero(overlaps)
    return pl.DataFrame(
        {
            "site": _text([site for site, _ in teams], team),
            "team": _text([name for _, name in teams], team),
            "quarter": _text(labels, quarter),
            **dict(zip(COUNTS, counts[team, quarter].T)),
        },
        schema_overrides=dict.fromkeys(COUNTS, pl.Int64),
    )


def _poisson_interval(count: int | None, exposure: float | None) -> tuple[float | None, float | None]:
    if count is None or not exposure:
        return None, None
    low = stats.chi2.ppf(0.025, 2 * count) / 2 if count > 0 else 0.0
    high = stats.chi2.ppf(0.975, 2 * count + 2) / 2
    return low / exposure, high / exposure


def poisson_intervals(counts: np.ndarray, exposures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_poisson_interval` for whole float arrays at once (NaN where the count or the exposure is NaN or 0)."""
    shown = ~np.isnan(counts) & ~np.isnan(exposures) & (exposures != 0)
    low, high = np.full(counts.shape, np.nan), np.full(counts.shape, np.nan)
    c = counts[shown]
    low_count, high_count = stats.chi2.ppf([[0.025], [0.975]], [2 * np.maximum(c, 1), 2 * c + 2]) / 2
    low[shown] = np.where(c > 0, low_count, 0.0) / exposures[shown]
    high[shown] = high_count / exposures[shown]
    return low, high


def turnover_table(employees: pl.LazyFrame, quarters: list[str], min_group_size: int) -> pl.DataFrame:
    """The `turnover` table (docs/tables.md), privacy-gated."""
    teams, labels, counts, overlaps = _team_counts(employees, quarters)
    # Counts add up: a site's (the organisation's) are the sums over its teams (all teams), and it
    # has a row in a quarter when one of its teams has. Teams come sorted, so a site's are adjacent.
    counts = np.where(overlaps[..., None], counts, 0)
    new_site = [k == 0 or site != teams[k - 1][0] for k, (site, _) in enumerate(teams)]
    sites = [site for (site, _), new in zip(teams, new_site, strict=True) if new]
    site_of_team = np.cumsum(new_site, dtype=np.int64) - 1
    site_counts = np.zeros((len(sites), *counts.shape[1:]), dtype=np.int64)
    np.add.at(site_counts, site_of_team, counts)
    site_overlaps = np.zeros((len(sites), len(labels)), dtype=bool)
    np.logical_or.at(site_overlaps, site_of_team, overlaps)
    levels = [("organisation", None, None)] + [("site", site, None) for site in sites] + [("team", site, name) for site, name in teams]
    group_counts = np.concatenate([counts.sum(axis=0, keepdims=True), site_counts, counts])
    group_overlaps = np.concatenate([overlaps.any(axis=0, keepdims=True), site_overlaps, overlaps])

    group, quarter = np.nonzero(group_overlaps)  # one row per group and quarter, in level, site, team, quarter order
    cell = dict(zip(COUNTS, group_counts[group, quarter].T))
    avg_headcount = (cell["headcount_start"] + cell["headcount_end"]) / 2
    with np.errstate(divide="ignore", invalid="ignore"):  # no one there at either end: NaN or inf, gated away below
        rates = {f"{kind}_rate": cell[exits] / avg_headcount * 4 for kind, exits in (("voluntary", "voluntary_exits"), ("involuntary", "involuntary_exits"), ("total", "exits"))}
    # Exact Poisson interval on voluntary exits over avg_headcount/4 person-years, per cell.
    low, high = poisson_intervals(cell["voluntary_exits"].astype(np.float64), avg_headcount / 4)
    table = pl.DataFrame(
        {
            **{column: _text([g[i] for g in levels], group) for i, column in enumerate(("level", "site", "team"))},
            "quarter": _text(labels, quarter),
            # Group size for privacy: the people employed at some point in the quarter, at least the average.
            "group_size": np.maximum(cell["headcount_start"], cell["headcount_end"]),
            **cell,
            "avg_headcount": avg_headcount,
            **rates,
            "voluntary_rate_low": pl.Series(low, dtype=pl.Float64, nan_to_null=True),
            "voluntary_rate_high": pl.Series(high, dtype=pl.Float64, nan_to_null=True),
        },
        schema_overrides={"group_size": pl.Int64, **dict.fromkeys(COUNTS, pl.Int64), **dict.fromkeys(RATES, pl.Float64)},
    )
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
