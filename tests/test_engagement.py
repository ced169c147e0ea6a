"""Engagement definitions on hand-built answers."""

import datetime as dt

import polars as pl
import pytest

from analysis.engagement import engagement_table, enps_table, response_rate_table, wilson

ITEMS = pl.LazyFrame(
    {"item_id": ["M1", "M2", "N"], "driver": ["mission", "mission", "enps"], "scale": ["likert5", "likert5", "nps11"], "reverse_scored": [False, False, False]}
)


def responses(scores_by_person, nps, team="A"):
    rows = []
    for i, (m1, m2) in enumerate(scores_by_person):
        for item, v in (("M1", m1), ("M2", m2), ("N", nps[i])):
            rows.append((f"{team}-r{i}", f"k{team}{i}", team, dt.date(2024, 5, 15), dt.date(2024, 4, 1), "2024Q2", item, v, v))
    return rows


def frame(rows):
    return pl.LazyFrame(
        rows,
        schema={"response_id": pl.String, "employee_key": pl.String, "team": pl.String, "response_date": pl.Date, "wave": pl.Date, "quarter": pl.String, "item_id": pl.String, "value": pl.Int8, "score": pl.Int8},
        orient="row",
    )


def employees(teams):
    rows = [(f"k{t}{i}", dt.date(2020, 1, 1), None, "S", t) for t, n in teams.items() for i in range(n)]
    return pl.LazyFrame(rows, schema={"employee_key": pl.String, "hire_date": pl.Date, "exit_date": pl.Date, "site": pl.String, "team": pl.String}, orient="row")


SCORES = [(5, 4), (4, 4), (2, 3), (1, 2), (5, 5), (3, 4)]
NPS = [10, 9, 6, 0, 8, 9]


def test_mean_and_pct_favourable_by_hand():
    table = engagement_table(frame(responses(SCORES, NPS)), ITEMS, employees({"A": 8}), favourable_min=4, min_group_size=5)
    row = table.filter((pl.col("level") == "team") & (pl.col("driver") == "mission")).row(0, named=True)
    assert row["respondents"] == 6
    assert row["pct_favourable"] == pytest.approx(7 / 12)  # 5,4,4,4,5,5,4 favourable of 12 answers
    person_means = [4.5, 4.0, 2.5, 1.5, 5.0, 3.5]
    assert row["mean"] == pytest.approx(sum(person_means) / 6)
    assert row["mean_low"] < row["mean"] < row["mean_high"]
    assert row["pct_favourable_low"] < 7 / 12 < row["pct_favourable_high"]


def test_wilson_matches_reference():
    # Wilson 95% for 7/12: 0.3196 .. 0.8063 (e.g. statsmodels proportion_confint method='wilson')
    frame_ = pl.DataFrame({"x": [7.0], "n": [12.0]})
    low, high = wilson(pl.col("x"), pl.col("n"))
    lo, hi = frame_.select(low.alias("lo"), high.alias("hi")).row(0)
    from statsmodels.stats.proportion import proportion_confint

    ref = proportion_confint(7, 12, alpha=0.05, method="wilson")
    assert (lo, hi) == pytest.approx(ref, abs=1e-9)


def test_enps_by_hand():
    table = enps_table(frame(responses(SCORES, NPS)), ITEMS, employees({"A": 8}), min_group_size=5)
    row = table.filter(pl.col("level") == "team").row(0, named=True)
    assert (row["promoters"], row["detractors"]) == (3, 2)
    assert row["enps"] == pytest.approx((3 / 6 - 2 / 6) * 100)
    assert row["enps_low"] < row["enps"] < row["enps_high"]


def test_small_team_hidden_in_engagement():
    rows = responses(SCORES, NPS, "A") + responses(SCORES[:3], NPS[:3], "B") + responses(SCORES, NPS, "C")
    table = engagement_table(frame(rows), ITEMS, employees({"A": 8, "B": 8, "C": 8}), favourable_min=4, min_group_size=5)
    b = table.filter((pl.col("team") == "B")).row(0, named=True)
    assert b["suppressed"] and b["pct_favourable"] is None and b["respondents"] is None
    assert table.filter(pl.col("suppressed").is_null() & (pl.col("respondents") < 5)).height == 0


def test_response_rate():
    table = response_rate_table(frame(responses(SCORES, NPS)), employees({"A": 8}), min_group_size=5)
    row = table.filter(pl.col("level") == "team").row(0, named=True)
    assert (row["invited"], row["respondents"]) == (8, 6)
    assert row["response_rate"] == pytest.approx(0.75)
