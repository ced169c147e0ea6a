"""The privacy gate: primary and complementary suppression, as explicit markers."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.privacy import COMPLEMENTARY, PRIMARY, gate


def hierarchy(sites: dict[str, dict[str, int]], quarter: str = "Q1") -> pl.DataFrame:
    rows = []
    for site, teams in sites.items():
        for team, n in teams.items():
            rows.append(("team", site, team, quarter, n, float(n) / 10))
        total = sum(teams.values())
        rows.append(("site", site, None, quarter, total, float(total) / 10))
    grand = sum(sum(t.values()) for t in sites.values())
    rows.append(("organisation", None, None, quarter, grand, float(grand) / 10))
    return pl.DataFrame(rows, schema={"level": pl.String, "site": pl.String, "team": pl.String, "quarter": pl.String, "n": pl.Int64, "v": pl.Float64}, orient="row")


def shown(frame, level, site=None, team=None):
    row = frame.filter((pl.col("level") == level) & (pl.col("site").eq_missing(site)) & (pl.col("team").eq_missing(team))).row(0, named=True)
    return row


def test_small_group_hidden_and_smallest_sibling_complemented():
    out = gate(hierarchy({"A": {"a1": 3, "a2": 12, "a3": 15}, "B": {"b1": 20, "b2": 30}}), size="n", values=["v"], cell=["quarter"], min_group_size=5)
    assert shown(out, "team", "A", "a1")["suppressed"] == PRIMARY
    assert shown(out, "team", "A", "a1")["v"] is None and shown(out, "team", "A", "a1")["n"] is None
    assert shown(out, "team", "A", "a2")["suppressed"] == COMPLEMENTARY  # smallest other sibling
    assert shown(out, "team", "A", "a3")["suppressed"] is None
    assert shown(out, "site", "A")["v"] == pytest.approx(3.0)  # the site total may stay: two unknowns


def test_only_child_hidden_takes_its_parent_and_the_parent_family_along():
    out = gate(hierarchy({"A": {"a1": 4}, "B": {"b1": 20}}), size="n", values=["v"], cell=["quarter"], min_group_size=5)
    # a1 is A's only team: site A equals it, so A is hidden; then B must go (org - B = A), then b1.
    assert out.filter(pl.col("level") != "organisation")["suppressed"].null_count() == 0
    assert shown(out, "organisation")["suppressed"] is None


def test_nothing_hidden_when_every_group_is_large_enough():
    out = gate(hierarchy({"A": {"a1": 5, "a2": 6}}), size="n", values=["v"], cell=["quarter"], min_group_size=5)
    assert out["suppressed"].null_count() == out.height
    assert out.drop("suppressed").equals(hierarchy({"A": {"a1": 5, "a2": 6}}))


def test_two_hidden_siblings_that_together_are_small_take_a_third():
    # Site A shown (24): hiding a1 (2) and a2 (2) alone would leave A - a3 - a4 = 4 people in view.
    out = gate(hierarchy({"A": {"a1": 2, "a2": 2, "a3": 10, "a4": 10}, "B": {"b1": 30, "b2": 30}}), size="n", values=["v"], cell=["quarter"], min_group_size=5)
    hidden = set(out.filter(pl.col("suppressed").is_not_null())["team"].drop_nulls())
    assert {"a1", "a2"} < hidden and len(hidden & {"a3", "a4"}) == 1


def test_a_lone_small_organisation_row_terminates():
    lone = pl.DataFrame([("organisation", None, None, "Q1", 3, 0.3)], schema={"level": pl.String, "site": pl.String, "team": pl.String, "quarter": pl.String, "n": pl.Int64, "v": pl.Float64}, orient="row")
    out = gate(lone, size="n", values=["v"], cell=["quarter"], min_group_size=5)
    assert out["suppressed"].to_list() == [PRIMARY]


def test_minimum_below_three_is_refused():
    with pytest.raises(ValueError, match="never be below 3"):
        gate(hierarchy({"A": {"a1": 5}}), size="n", values=["v"], cell=["quarter"], min_group_size=2)


team_sizes = st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 30), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["S1", "S2", "S3"]), team_sizes, min_size=1, max_size=3), st.integers(3, 8))
def test_no_hidden_cell_can_be_recovered_by_subtraction(sites, min_n):
    sites = {s: {f"{s}-{t}": n for t, n in teams.items()} for s, teams in sites.items()}
    out = gate(hierarchy(sites), size="n", values=["v"], cell=["quarter"], min_group_size=min_n)
    # 1. no shown cell comes from a group under the minimum
    assert out.filter(pl.col("suppressed").is_null() & (pl.col("n") < min_n)).height == 0
    # 2. no family (parent + its children) has exactly one hidden cell, and where the parent is
    #    shown its hidden children together are at least the minimum
    hidden = pl.col("suppressed").is_not_null()
    sizes = hierarchy(sites)
    for site in sites:
        family = out.filter((pl.col("site") == site) & pl.col("level").is_in(["site", "team"]))
        assert family.filter(hidden).height != 1, family
        hidden_teams = family.filter(hidden & (pl.col("level") == "team"))["team"].to_list()
        parent_shown = family.filter(~hidden & (pl.col("level") == "site")).height == 1
        if parent_shown and hidden_teams:
            assert sizes.filter(pl.col("team").is_in(hidden_teams))["n"].sum() >= min_n, family
    top = out.filter(pl.col("level").is_in(["organisation", "site"]))
    assert top.filter(hidden).height != 1, top
    # 3. hidden cells are explicit markers with nulls, never zeros
    assert out.filter(hidden)["v"].null_count() == out.filter(hidden).height


# ---------------------------------------------------------------- wave-to-wave changes


def _two_waves(previous: set[int], current: set[int], linked: bool, seed: int):
    """One team's answers (two Likert items of one driver) in two waves, people numbered 0..39."""
    import datetime as dt
    import random

    rng = random.Random(seed)
    rows = []
    for wave, people in ((dt.date(2024, 1, 1), previous), (dt.date(2024, 4, 1), current)):
        quarter = f"2024Q{(wave.month - 1) // 3 + 1}"
        for person in sorted(people):
            for item in ("M1", "M2"):
                score = rng.randint(1, 5)
                key = f"k{person}" if linked else None
                rows.append((f"{wave}-{person}", key, "T", wave + dt.timedelta(days=14), item, score, score, wave, quarter))
    schema = {
        "response_id": pl.String, "employee_key": pl.String, "team": pl.String, "response_date": pl.Date, "item_id": pl.String,
        "value": pl.Int8, "score": pl.Int8, "wave": pl.Date, "quarter": pl.String,
    }  # fmt: skip
    responses = pl.LazyFrame(rows, schema=schema, orient="row")
    items = pl.LazyFrame({"item_id": ["M1", "M2"], "driver": ["mission", "mission"], "scale": ["likert5", "likert5"], "reverse_scored": [False, False]})
    employees = pl.LazyFrame(
        {"employee_key": [f"k{i}" for i in range(40)], "hire_date": [dt.date(2020, 1, 1)] * 40, "exit_date": [None] * 40, "site": ["S"] * 40, "team": ["T"] * 40},
        schema={"employee_key": pl.String, "hire_date": pl.Date, "exit_date": pl.Date, "site": pl.String, "team": pl.String},
    )
    return responses, items, employees


def _changes(previous, current, linked, min_n, seed=0):
    from analysis.engagement import engagement_change_table, engagement_table

    responses, items, employees = _two_waves(previous, current, linked, seed)
    engagement = engagement_table(responses, items, employees, favourable_min=4, min_group_size=min_n)
    return engagement_change_table(engagement, responses, items, employees, min_n)


def test_one_newcomer_hides_the_change():
    from analysis.privacy import WAVE_DIFFERENCE

    twelve = set(range(12))
    for linked in (True, False):
        out = _changes(twelve, twelve | {20}, linked, min_n=5)
        assert out.height == 3 and set(out["suppressed"]) == {WAVE_DIFFERENCE}, out  # organisation, site, team
        assert out["pct_favourable_change"].null_count() == 3 and out["mean_change"].null_count() == 3
    # the same twelve people again reveal nobody; six newcomers are a group of six
    for current in (twelve, twelve | set(range(20, 26))):
        out = _changes(twelve, current, linked=True, min_n=5)
        assert out["suppressed"].null_count() == 3 and out["pct_favourable_change"].null_count() == 0


def test_linked_swap_of_one_person_is_hidden_even_with_equal_counts():
    from analysis.privacy import WAVE_DIFFERENCE

    out = _changes(set(range(12)), set(range(1, 13)), linked=True, min_n=5)  # one left, one joined
    assert set(out["suppressed"]) == {WAVE_DIFFERENCE}
    anonymous = _changes(set(range(12)), set(range(1, 13)), linked=False, min_n=5)
    assert anonymous["suppressed"].null_count() == 3  # the counts alone reveal no one


people = st.sets(st.integers(0, 39), max_size=40)


@settings(max_examples=60, deadline=None)
@given(people, people, st.booleans(), st.integers(3, 8), st.integers(0, 1000))
def test_no_published_change_rests_on_a_group_under_the_minimum(previous, current, linked, min_n, seed):
    from analysis.privacy import WAVE_DIFFERENCE

    if not previous or not current:
        return  # a wave nobody answered has no cell to compare
    out = _changes(previous, current, linked, min_n, seed)
    group = len(previous ^ current) if linked else abs(len(current) - len(previous))
    shown = out.filter(pl.col("suppressed").is_null())
    if shown.height:
        assert not 0 < group < min_n
        assert min(len(previous), len(current)) >= min_n
        assert shown["pct_favourable_change"].null_count() == 0
    both_cells_shown = min(len(previous), len(current)) >= min_n
    if both_cells_shown and 0 < group < min_n:
        assert set(out["suppressed"]) == {WAVE_DIFFERENCE}
    hidden = out.filter(pl.col("suppressed").is_not_null())
    assert hidden.select(pl.col("pct_favourable_change", "mean_change", "respondents_joined").null_count()).row(0) == (hidden.height,) * 3
