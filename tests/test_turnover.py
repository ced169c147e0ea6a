"""Turnover definitions on a hand-built roster, worked out by hand."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis.cost import cost_table
from analysis.turnover import _poisson_interval, turnover_table

D = dt.date


def roster(rows):
    return pl.LazyFrame(
        rows,
        schema={"employee_key": pl.String, "hire_date": pl.Date, "exit_date": pl.Date, "exit_type": pl.String, "site": pl.String, "team": pl.String, "annual_salary": pl.Float64},
        orient="row",
    )


def team_of(n, team, site="S", hire=D(2020, 1, 1)):
    return [(f"{team}{i}", hire, None, None, site, team, 30000.0) for i in range(n)]


def test_counts_and_annualised_rates_by_hand():
    rows = team_of(18, "A") + [
        ("x1", D(2020, 1, 1), D(2024, 2, 10), "voluntary", "S", "A", 30000.0),  # leaves mid-quarter, long tenure
        ("x2", D(2024, 1, 5), D(2024, 3, 1), "voluntary", "S", "A", 30000.0),  # hired and left within 90 days
        ("x3", D(2020, 1, 1), D(2024, 3, 31), "involuntary", "S", "A", 30000.0),  # last day = quarter end: still counted at end
        ("h1", D(2024, 3, 15), None, None, "S", "A", 30000.0),
    ]
    table = turnover_table(roster(rows), ["2024Q1"], min_group_size=5)
    team = table.filter(pl.col("level") == "team").row(0, named=True)
    assert team["headcount_start"] == 20  # 18 + x1 + x3 (x2 and h1 not yet hired)
    assert team["headcount_end"] == 20  # 18 + x3 + h1
    assert (team["hires"], team["exits"], team["voluntary_exits"], team["involuntary_exits"]) == (2, 3, 2, 1)
    assert (team["early_exits_90d"], team["early_exits_6m"], team["early_exits_12m"]) == (1, 1, 1)
    assert team["voluntary_rate"] == pytest.approx(2 / 20 * 4)
    assert team["involuntary_rate"] == pytest.approx(1 / 20 * 4)
    low, high = _poisson_interval(2, 20 / 4)
    assert (team["voluntary_rate_low"], team["voluntary_rate_high"]) == pytest.approx((low, high))
    org = table.filter(pl.col("level") == "organisation").row(0, named=True)
    assert org["exits"] == 3 and org["suppressed"] is None


def test_exact_poisson_interval_matches_reference_values():
    # Garwood interval for 10 events: 4.7954 .. 18.3904 (standard tables)
    low, high = _poisson_interval(10, 1.0)
    assert low == pytest.approx(4.7954, abs=1e-4) and high == pytest.approx(18.3904, abs=1e-4)
    assert _poisson_interval(0, 1.0) == pytest.approx((0.0, 3.6889), abs=1e-4)


def test_small_team_is_suppressed_with_its_complement_never_zero():
    rows = team_of(3, "tiny") + team_of(10, "mid") + team_of(30, "big")
    table = turnover_table(roster(rows), ["2024Q1"], min_group_size=5)
    teams = {r["team"]: r for r in table.filter(pl.col("level") == "team").to_dicts()}
    assert teams["tiny"]["suppressed"] and teams["tiny"]["voluntary_rate"] is None and teams["tiny"]["headcount_end"] is None
    assert teams["mid"]["suppressed"] and teams["mid"]["exits"] is None
    assert teams["big"]["suppressed"] is None and teams["big"]["headcount_end"] == 30


def test_cost_flat_and_salary_share():
    rows = team_of(10, "A") + [
        ("x1", D(2020, 1, 1), D(2024, 2, 10), "voluntary", "S", "A", 40000.0),
        ("x2", D(2020, 1, 1), D(2024, 2, 11), "involuntary", "S", "A", None),
    ]
    flat = cost_table(roster(rows), ["2024Q1", "2024Q2"], {"replacement_cost": 15000, "salary_share": None, "currency": "USD"})
    expected = pl.DataFrame(
        {"quarter": ["2024Q1", "2024Q2"], "exits": [2, 0], "voluntary_exits": [1, 0], "cost": [30000.0, 0.0], "cost_voluntary": [15000.0, 0.0], "method": ["flat", "flat"], "currency": ["USD", "USD"], "salary_missing": [0, 0]},
        schema_overrides={"exits": pl.UInt32, "voluntary_exits": pl.Int64},
    )
    assert_frame_equal(flat, expected, check_dtypes=False)
    share = cost_table(roster(rows), ["2024Q1"], {"replacement_cost": 15000, "salary_share": 0.21, "currency": "EUR"})
    row = share.row(0, named=True)
    assert row["cost"] == pytest.approx(0.21 * 40000 + 15000)  # missing salary falls back to the flat cost, and is counted
    assert row["salary_missing"] == 1 and row["method"] == "salary_share"


def test_salary_share_cost_is_exact_cents_whatever_the_row_order():
    # salaries whose 21% shares are not exact binary fractions: a float sum would depend on the
    # order the group-by adds them in; the cost is summed in whole cents, so it cannot.
    salaries = [31337.33, 28999.99, 45001.07, 30000.01, 27777.77, 52345.67, 33333.33, 29876.54]
    rows = team_of(10, "A") + [(f"x{i}", D(2020, 1, 1), D(2024, 2, 1 + i), "voluntary", "S", "A", s) for i, s in enumerate(salaries)]
    cost = {"replacement_cost": 15000, "salary_share": 0.21, "currency": "EUR"}
    expected = sum(round(s * 0.21 * 100) for s in salaries) / 100
    for seed in range(6):
        shuffled = pl.DataFrame(rows, schema=roster([]).collect_schema(), orient="row").sample(fraction=1.0, shuffle=True, seed=seed)
        row = cost_table(shuffled.lazy(), ["2024Q1"], cost).row(0, named=True)
        assert row["cost"] == expected and row["cost_voluntary"] == expected


# ------------------------------------------------------------------ the one-pass counts


from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.turnover import COUNTS, poisson_intervals, spell_quarters, team_quarter_counts

QUARTERS = ["2023Q4", "2024Q1", "2024Q2", "2024Q3", "2024Q4"]
# days on and around the quarter boundaries, where an off-by-one would show
EDGES = [D(2023, 9, 30), D(2023, 10, 1), D(2023, 12, 31), D(2024, 1, 1), D(2024, 3, 31), D(2024, 4, 1), D(2024, 6, 30), D(2024, 7, 1), D(2024, 12, 31), D(2025, 1, 1)]
day = st.one_of(st.sampled_from(EDGES), st.dates(min_value=D(2022, 1, 1), max_value=D(2025, 12, 31)))


@st.composite
def spells(draw):
    hire = draw(day)
    leave = draw(st.one_of(st.none(), day.filter(lambda d: d >= hire)))
    exit_type = None if leave is None else draw(st.sampled_from(["voluntary", "involuntary", None]))
    site = draw(st.sampled_from(["S1", "S2", None]))
    return ("k", hire, leave, exit_type, site, draw(st.sampled_from(["A", "B", None])), 1.0)


@settings(max_examples=150, deadline=None)
@given(st.lists(spells(), min_size=0, max_size=40), st.lists(st.sampled_from(QUARTERS), min_size=1, max_size=5, unique=True))
def test_team_quarter_counts_equal_the_row_by_row_definition(rows, quarters):
    employees = roster(rows)
    expected = spell_quarters(employees, quarters).group_by("site", "team", "quarter").agg(pl.col(COUNTS).sum()).collect()
    got = team_quarter_counts(employees, quarters)
    keys = ["site", "team", "quarter"]
    assert_frame_equal(got.sort(keys, nulls_last=True), expected.sort(keys, nulls_last=True).select(got.columns), check_dtypes=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(spells(), min_size=0, max_size=40), st.lists(st.sampled_from(QUARTERS), min_size=1, max_size=5, unique=True))
def test_table_levels_add_up_the_row_by_row_definition(rows, quarters):
    # every level's cells (shown or not) are the row-by-row definition summed over its spells
    employees = roster(rows)
    by_spell = spell_quarters(employees, quarters).collect()
    levels = {"organisation": [], "site": ["site"], "team": ["site", "team"]}
    expected = pl.concat(
        [
            by_spell.group_by("quarter", *keys).agg(pl.col(COUNTS).sum()).with_columns(pl.lit(level).alias("level"), *[pl.lit(None, pl.String).alias(k) for k in {"site", "team"} - set(keys)])
            for level, keys in levels.items()
        ],
        how="diagonal",
    ).with_columns(pl.max_horizontal("headcount_start", "headcount_end").alias("group_size"))
    table = turnover_table(employees, quarters, min_group_size=3)
    cells = ["level", "site", "team", "quarter"]
    assert_frame_equal(table.select(cells).sort(cells, nulls_last=True), expected.select(cells).sort(cells, nulls_last=True))
    shown = table.filter(pl.col("suppressed").is_null()).select(*cells, "group_size", *COUNTS)
    assert_frame_equal(shown.sort(cells, nulls_last=True), expected.join(shown.select(cells), on=cells, nulls_equal=True).select(shown.columns).sort(cells, nulls_last=True), check_dtypes=False)


def test_vectorised_poisson_intervals_match_the_scalar_one():
    counts = np.array([0.0, 1.0, 2.0, 10.0, 37.0, 5.0, np.nan])
    exposures = np.array([1.0, 0.5, 5.0, 1.0, 12.25, 0.0, 3.0])
    low, high = poisson_intervals(counts, exposures)
    for k in range(len(counts)):
        one = _poisson_interval(None if np.isnan(counts[k]) else int(counts[k]), exposures[k])
        assert (None if np.isnan(low[k]) else low[k], None if np.isnan(high[k]) else high[k]) == one


def test_an_exit_before_the_hire_is_refused():
    rows = team_of(10, "A") + [("bad", D(2024, 3, 1), D(2024, 2, 1), "voluntary", "S", "A", 1.0)]
    with pytest.raises(ValueError, match="exit_date before its hire_date"):
        turnover_table(roster(rows), ["2024Q1"], min_group_size=5)
