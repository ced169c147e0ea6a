"""Passes of whole quarters (analysis/passes.py): reading the survey answers a few quarters at a
time, to bound memory at a million employees, gives exactly the results of one pass."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from test_partition import survey

from analysis import passes, survival
from analysis.engagement import Slice, combine_counts, count_slice
from analysis.periods import quarters_between
from analysis.programmes import driver_panel


def answers(quarters: dict[str | None, int]) -> pl.LazyFrame:
    """`n` answer rows per quarter (None: answers without a quarter)."""
    return pl.LazyFrame({"quarter": [q for q, n in quarters.items() for _ in range(n)]}, schema={"quarter": pl.String})


def covered(frame: pl.LazyFrame, ranges) -> list[int]:
    """How many of the ranges each row falls in."""
    hits = frame.with_columns(pl.sum_horizontal(passes.quarter_filter(a, b).cast(pl.Int32) for a, b in ranges).alias("hits"))
    return hits.collect()["hits"].to_list()


def test_one_pass_when_everything_fits():
    assert passes.quarter_ranges(answers({"2025Q1": 3, "2025Q2": 3}), limit=6) == [(None, None)]


def test_passes_are_runs_of_whole_quarters_within_the_limit():
    frame = answers({None: 1, "2025Q1": 3, "2025Q2": 3, "2025Q3": 9, "2025Q4": 2, "2026Q1": 2})
    ranges = passes.quarter_ranges(frame, limit=6)
    # the first pass is open at the start (and takes the answers without a quarter), the last at the end;
    # a quarter above the limit is a pass of its own
    assert ranges == [(None, "2025Q1"), ("2025Q2", "2025Q2"), ("2025Q3", "2025Q3"), ("2025Q4", None)]
    assert covered(frame, ranges) == [1] * frame.collect().height  # every answer in exactly one pass


def test_passes_keep_a_slices_open_or_closed_ends():
    frame = answers({"2025Q1": 3, "2025Q2": 3, "2025Q3": 3})
    ranges = passes.quarter_ranges(frame.filter(passes.quarter_filter("2025Q2", "2025Q3")), limit=1, first="2025Q2", last="2025Q3")
    assert ranges == [("2025Q2", "2025Q2"), ("2025Q3", "2025Q3")]


def test_the_setting_is_validated():
    assert passes.answers_per_pass({}) == passes.ANSWERS_PER_PASS
    assert passes.answers_per_pass({"partition": {"answers_per_pass": 10}}) == 10
    with pytest.raises(ValueError, match="answers_per_pass must be >= 1"):
        passes.answers_per_pass({"partition": {"answers_per_pass": 0}})


@pytest.mark.parametrize("part", [Slice(), Slice(first="2025Q2", last="2025Q4"), Slice(unit=0, units="team_group", groups=3)])
def test_counting_in_passes_gives_the_bytes_of_one_pass(part):
    responses, items, employees = survey()
    one = count_slice(responses, items, employees, 4, part)
    many = count_slice(responses, items, employees, 4, part, answers_per_pass=1)  # one pass per quarter
    for kind, frame in one.items():
        assert frame.height > 0 and frame.equals(many[kind]), kind
    tables_one, tables_many = combine_counts([one], 5), combine_counts([many], 5)
    for name, table in tables_one.items():
        assert table.equals(tables_many[name]), name


def test_survival_and_programme_inputs_in_passes_equal_one_pass(workflow_run):
    run, _, _ = workflow_run
    canonical = {name: pl.scan_parquet(run / "results" / "canonical" / f"{name}.parquet") for name in ("survey_responses", "survey_items")}
    responses, items = canonical["survey_responses"], canonical["survey_items"]
    total = responses.select(pl.len()).collect().item()
    limit = total // 7  # several passes of one or two quarters
    assert len(passes.quarter_ranges(responses, limit)) >= 5

    whole = survival.respondent_scores(responses, items).collect()
    stacked = survival.collect_scores(responses, items, limit)
    assert whole.height > 0 and whole.equals(stacked)

    ids = whole.select("response_id").head(whole.height // 2).lazy()
    alpha = survival.cronbach_alpha(responses.join(ids, on="response_id"), items).collect()
    alpha_passes = survival.alpha_from_sums(*survival._stacked_alpha_sums(responses, ids, items, limit)).collect()
    assert alpha["alpha"].drop_nulls().len() >= 3 and alpha.equals(alpha_passes)

    quarters = quarters_between(str(whole["quarter"].min()), str(whole["quarter"].max()))
    panel = driver_panel(responses, items, quarters).collect()
    assert panel.height > 0 and panel.equals(driver_panel(responses, items, quarters, limit).collect())


def test_a_pass_reads_only_its_quarters():
    frame = answers({"2025Q1": 2, "2025Q2": 2})
    seen = passes.in_passes(frame.with_columns(pl.lit(dt.date(2025, 1, 1)).alias("wave")), lambda a: {"q": a.select("quarter").unique()}, 2, "test")
    assert [r["q"]["quarter"].to_list() for r in seen] == [["2025Q1"], ["2025Q2"]]
