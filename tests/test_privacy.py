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
    # 2. no family (parent + its children) has exactly one hidden cell
    hidden = pl.col("suppressed").is_not_null()
    for site in sites:
        family = out.filter((pl.col("site") == site) & pl.col("level").is_in(["site", "team"]))
        assert family.filter(hidden).height != 1, family
    top = out.filter(pl.col("level").is_in(["organisation", "site"]))
    assert top.filter(hidden).height != 1, top
    # 3. hidden cells are explicit markers with nulls, never zeros
    assert out.filter(hidden)["v"].null_count() == out.filter(hidden).height
