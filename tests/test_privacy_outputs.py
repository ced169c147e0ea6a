"""Across the analysis tables: no shown number comes from a group below the minimum, directly or
by subtraction (a parent minus its shown children; a wave minus the previous wave).

The organisation is synthetic (20 teams, some deliberately tiny or thin), the group sizes are
recounted here from the canonical rows, independently of the tables' own (nulled) size columns.
"""

from __future__ import annotations

from collections import defaultdict

import polars as pl
import pytest

from analysis import drivers
from analysis.engagement import engagement_change_table, engagement_table, enps_table, reliability_table, response_rate_table
from analysis.periods import quarter_end, quarter_start, quarters_between
from analysis.privacy import WAVE_DIFFERENCE
from analysis.synth import SynthConfig
from analysis.turnover import turnover_table
from synthetic_canonical import canonical_org

MIN_N = 5
QUARTERS = quarters_between("2023Q4", "2026Q3")
LEVELS = ["level", "site", "team"]
TOGETHER = "hidden children together"


# ---------------------------------------------------------------- a small organisation with tiny groups


def _shrink(org: dict[str, pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    """Make one team tiny on the roster, thin out another's respondents in two waves, and give a third
    team the classic differencing case: wave t's respondents are wave t-1's plus one newcomer."""
    employees, responses = org["employees"], org["survey_responses"]
    by_site = employees.select("site", "team").unique().sort("site", "team").group_by("site", maintain_order=True).agg("team")
    (tiny, thin, *_), (grown, *_) = by_site["team"][0], by_site["team"][1]  # tiny and thin share a site
    keep = employees.filter(pl.col("team") == tiny)["employee_key"].unique().sort().head(3)
    employees = employees.filter((pl.col("team") != tiny) | pl.col("employee_key").is_in(keep.implode()))
    responses = responses.filter((pl.col("team") != tiny) | pl.col("employee_key").is_in(keep.implode()))

    waves = sorted(responses["wave"].unique())
    thin_ids = (
        responses.filter((pl.col("team") == thin) & pl.col("wave").is_in([waves[2], waves[5]]))
        .select("wave", "response_id").unique().sort("wave", "response_id")
        .group_by("wave", maintain_order=True).head(2)["response_id"]
    )  # fmt: skip
    responses = responses.filter(
        (pl.col("team") != thin) | ~pl.col("wave").is_in([waves[2], waves[5]]) | pl.col("response_id").is_in(thin_ids.implode())
    )

    def keys(wave):
        return set(responses.filter((pl.col("team") == grown) & (pl.col("wave") == wave))["employee_key"])

    before, after = next((w0, w1) for w0, w1 in zip(waves[3:], waves[4:]) if keys(w1) - keys(w0) and len(keys(w0) & keys(w1)) >= MIN_N)
    stayers = keys(before) & keys(after)
    newcomer = sorted(keys(after) - keys(before))[0]
    in_grown = pl.col("team") == grown
    responses = responses.filter(
        ~in_grown
        | ~pl.col("wave").is_in([before, after])
        | ((pl.col("wave") == before) & pl.col("employee_key").is_in(sorted(stayers)))
        | ((pl.col("wave") == after) & pl.col("employee_key").is_in([*sorted(stayers), newcomer]))
    )
    return {**org, "employees": employees, "survey_responses": responses}, {"tiny": tiny, "thin": thin, "grown": grown, "grown_wave": after}


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    data = canonical_org(tmp_path_factory.mktemp("tiny-teams"), SynthConfig(employees=600, teams=20, seed=4))
    return _shrink(data)


@pytest.fixture(scope="module")
def tables(org):
    data, _ = org
    employees, items, responses = data["employees"].lazy(), data["survey_items"].lazy(), data["survey_responses"].lazy()
    anonymous = responses.with_columns(pl.lit(None, pl.String).alias("employee_key"))
    engagement = engagement_table(responses, items, employees, favourable_min=4, min_group_size=MIN_N)
    anonymous_engagement = engagement_table(anonymous, items, employees, favourable_min=4, min_group_size=MIN_N)
    config = {
        "privacy": {"min_group_size": MIN_N},
        "period": {"start": QUARTERS[0], "end": QUARTERS[-1]},
        "retention": {"horizon_days": 365},
        "drivers": {"waves": "all", "exit_r2": "ols", "bootstrap_reps": 5, "seed": 1},
    }
    return {
        "turnover": turnover_table(employees, QUARTERS, MIN_N),
        "engagement": engagement,
        "enps": enps_table(responses, items, employees, MIN_N),
        "response_rates": response_rate_table(responses, employees, MIN_N),
        "reliability": reliability_table(responses, items, employees, MIN_N),
        "engagement_change": engagement_change_table(engagement, responses, items, employees, MIN_N),
        "engagement_change_anonymous": engagement_change_table(anonymous_engagement, anonymous, items, employees, MIN_N),
        "driver_importance": drivers.driver_importance_table(responses, items, employees, config),
    }


# ---------------------------------------------------------------- true group sizes, recounted


def _sites(employees: pl.DataFrame) -> pl.DataFrame:
    return employees.group_by("team").agg(pl.col("site").mode().sort().first())


def _by_level(frame: pl.DataFrame, cell: list[str], count: pl.Expr) -> pl.DataFrame:
    parts = [
        frame.group_by(cell).agg(count.alias("true_size")).with_columns(pl.lit("organisation").alias("level"), pl.lit(None, pl.String).alias("site"), pl.lit(None, pl.String).alias("team")),
        frame.group_by(*cell, "site").agg(count.alias("true_size")).with_columns(pl.lit("site").alias("level"), pl.lit(None, pl.String).alias("team")),
        frame.group_by(*cell, "site", "team").agg(count.alias("true_size")).with_columns(pl.lit("team").alias("level")),
    ]  # fmt: skip
    return pl.concat([p.select(*LEVELS, *cell, pl.col("true_size").cast(pl.Int64)) for p in parts])


def true_sizes(data: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    employees, items, responses = data["employees"], data["survey_items"], data["survey_responses"]
    responses = responses.join(_sites(employees), on="team", how="left")
    likert = items.filter(pl.col("scale") == "likert5").select("item_id", "driver")
    answered = responses.join(likert, on="item_id")
    k = likert.group_by("driver").agg(pl.len().alias("k"))
    complete = (
        answered.group_by("response_id", "site", "team", "wave", "driver").agg(pl.col("item_id").n_unique().alias("answered"))
        .join(k, on="driver").filter((pl.col("answered") == pl.col("k")) & (pl.col("k") >= 2))
    )  # fmt: skip
    nps = responses.join(items.filter(pl.col("scale") == "nps11").select("item_id"), on="item_id")
    fielded = responses.group_by("wave").agg(pl.col("response_date").min().alias("day"))
    invited = employees.join(fielded, how="cross").filter(
        (pl.col("hire_date") <= pl.col("day")) & (pl.col("exit_date").is_null() | (pl.col("exit_date") >= pl.col("day")))
    )
    grid = pl.DataFrame({"quarter": QUARTERS, "start": [quarter_start(q) for q in QUARTERS], "end": [quarter_end(q) for q in QUARTERS]})
    spells = employees.join(grid, how="cross")
    on_roster = []
    employed = lambda day: (pl.col("hire_date") <= pl.col(day)) & (pl.col("exit_date").is_null() | (pl.col("exit_date") >= pl.col(day)))  # noqa: E731
    for day in ("start", "end"):
        on_roster.append(_by_level(spells.filter(employed(day)), ["quarter"], pl.len()).rename({"true_size": day}))
    headcount = on_roster[0].join(on_roster[1], on=[*LEVELS, "quarter"], how="full", coalesce=True, nulls_equal=True)
    return {
        "engagement": _by_level(answered.select("response_id", "site", "team", "wave", "driver").unique(), ["wave", "driver"], pl.len()),
        "enps": _by_level(nps.select("response_id", "site", "team", "wave").unique(), ["wave"], pl.len()),
        "response_rates": _by_level(invited, ["wave"], pl.len()),
        "reliability": _by_level(complete, ["wave", "driver"], pl.len()),
        "turnover": headcount.select(*LEVELS, "quarter", pl.max_horizontal(pl.col("start").fill_null(0), pl.col("end").fill_null(0)).alias("true_size")),
    }


# ---------------------------------------------------------------- what a reader can work out


def exposed_groups(table: pl.DataFrame, sizes: pl.DataFrame, cell: list[str], min_n: int) -> list[tuple]:
    """Groups under min_n (1..min_n-1 people) a reader can isolate from the shown cells.

    A cell is known when shown; a hidden (or absent) cell becomes known when its parent is known
    and it is the only unknown child, and a parent when all its children are known. Then the
    known cells, and each known parent's unknown children taken together, must be empty or at
    least min_n people.
    """
    marks = table.select(*LEVELS, *cell, pl.col("suppressed").is_null().alias("shown"))
    merged = sizes.join(marks, on=[*LEVELS, *cell], how="left", nulls_equal=True).with_columns(pl.col("shown").fill_null(False))
    found = []
    for key, part in merged.partition_by(cell, as_dict=True).items():
        size = {(r["level"], r["site"], r["team"]): r["true_size"] for r in part.iter_rows(named=True)}
        known = {(r["level"], r["site"], r["team"]): r["shown"] for r in part.iter_rows(named=True)}
        families = defaultdict(list)
        for level, site, team in size:
            if level == "site":
                families[("organisation", None, None)].append((level, site, team))
            elif level == "team":
                families[("site", site, None)].append((level, site, team))
        changed = True
        while changed:
            changed = False
            for parent, children in families.items():
                unknown = [c for c in children if not known[c]]
                if known.get(parent) and len(unknown) == 1:
                    known[unknown[0]] = changed = True
                elif parent in known and not known[parent] and not unknown:
                    known[parent] = changed = True
        for node, is_known in known.items():
            if is_known and 0 < size[node] < min_n:
                found.append((key, node, "recoverable cell", size[node]))
        for parent, children in families.items():
            hidden = sum(size[c] for c in children if not known[c])
            if known.get(parent) and 0 < hidden < min_n:
                found.append((key, parent, TOGETHER, hidden))
    return found


GATED = {
    "turnover": (["quarter"], "group_size"),
    "engagement": (["wave", "driver"], "respondents"),
    "enps": (["wave"], "respondents"),
    "response_rates": (["wave"], "invited"),
    "reliability": (["wave", "driver"], "n_respondents"),
}


def test_the_organisation_has_the_tiny_groups_it_should(org):
    data, special = org
    sizes = true_sizes(data)
    engagement = sizes["engagement"].filter(pl.col("level") == "team")
    assert engagement.filter(pl.col("team") == special["thin"])["true_size"].min() == 2
    assert engagement.filter(pl.col("team") == special["tiny"])["true_size"].max() <= 3
    assert engagement.filter(pl.col("true_size") < MIN_N)["team"].n_unique() >= 2


@pytest.mark.parametrize("name", sorted(GATED))
def test_no_shown_cell_comes_from_a_small_group(org, tables, name):
    data, _ = org
    cell, size_column = GATED[name]
    table, sizes = tables[name], true_sizes(data)[name]
    shown = table.filter(pl.col("suppressed").is_null())
    assert shown.filter(pl.col(size_column) < MIN_N).height == 0
    # the size a shown cell states is the true one
    check = shown.join(sizes, on=[*LEVELS, *cell], how="left", nulls_equal=True)
    assert check.filter(pl.col("true_size").is_null() | (pl.col(size_column) != pl.col("true_size"))).height == 0, check
    assert table.filter(pl.col("suppressed").is_not_null()).height > 0, "the tiny groups must be hidden somewhere"


@pytest.mark.parametrize("name", sorted(GATED))
def test_no_small_group_by_subtraction_within_a_wave(org, tables, name):
    data, _ = org
    cell, _ = GATED[name]
    leaks = exposed_groups(tables[name], true_sizes(data)[name], cell, MIN_N)
    assert leaks == [], leaks[:5]


@pytest.mark.parametrize("name", ["engagement", "enps", "reliability"])
def test_hidden_siblings_together_are_not_a_small_group(org, tables, name):
    data, _ = org
    cell, _ = GATED[name]
    leaks = exposed_groups(tables[name], true_sizes(data)[name], cell, MIN_N)
    assert [leak for leak in leaks if leak[2] == TOGETHER] == [], leaks[:5]


def _members(responses: pl.DataFrame, items: pl.DataFrame, employees: pl.DataFrame) -> pl.DataFrame:
    likert = items.filter(pl.col("scale") == "likert5").select("item_id", "driver")
    people = responses.join(likert, on="item_id").select("employee_key", "team", "wave", "driver").unique().join(_sites(employees), on="team")
    return pl.concat(
        [
            people.with_columns(pl.lit("organisation").alias("level"), pl.lit(None, pl.String).alias("site"), pl.lit(None, pl.String).alias("team")),
            people.with_columns(pl.lit("site").alias("level"), pl.lit(None, pl.String).alias("team")),
            people.with_columns(pl.lit("team").alias("level")),
        ],
        how="diagonal",
    ).select(*LEVELS, "wave", "driver", "employee_key")


def test_no_change_reveals_a_small_group_between_waves(org, tables):
    data, special = org
    change = tables["engagement_change"]
    members = _members(data["survey_responses"], data["survey_items"], data["employees"])
    sets = {key: set(frame["employee_key"]) for key, frame in members.partition_by([*LEVELS, "wave", "driver"], as_dict=True).items()}
    shown = change.filter(pl.col("suppressed").is_null())
    assert shown.height > 0
    for row in shown.iter_rows(named=True):
        now = sets[(row["level"], row["site"], row["team"], row["wave"], row["driver"])]
        before = sets[(row["level"], row["site"], row["team"], row["previous_wave"], row["driver"])]
        difference = len(now ^ before)
        assert not 0 < difference < MIN_N, row
        assert (row["respondents_joined"], row["respondents_left"]) == (len(now - before), len(before - now))
    grown = change.filter((pl.col("team") == special["grown"]) & (pl.col("wave") == special["grown_wave"]))
    assert grown.height and set(grown["suppressed"]) == {WAVE_DIFFERENCE}  # 12 then 13: one newcomer


def test_anonymous_changes_follow_the_count_rule(org, tables):
    _, special = org
    change = tables["engagement_change_anonymous"]
    shown = change.filter(pl.col("suppressed").is_null())
    assert shown.height > 0 and not shown["linked"].any()
    step = (shown["respondents"].cast(pl.Int64) - shown["previous_respondents"].cast(pl.Int64)).abs()
    assert not ((step > 0) & (step < MIN_N)).any()
    grown = change.filter((pl.col("team") == special["grown"]) & (pl.col("wave") == special["grown_wave"]))
    assert set(grown["suppressed"]) == {WAVE_DIFFERENCE}


def test_a_change_is_shown_only_where_both_waves_are(tables):
    engagement, change = tables["engagement"], tables["engagement_change"]
    shown_cells = engagement.filter(pl.col("suppressed").is_null()).select(*LEVELS, "wave", "driver")
    shown = change.filter(pl.col("suppressed").is_null())
    for wave_column in ("wave", "previous_wave"):
        lost = shown.select(*LEVELS, pl.col(wave_column).alias("wave"), "driver").join(shown_cells, on=[*LEVELS, "wave", "driver"], how="anti", nulls_equal=True)
        assert lost.height == 0, lost


def test_driver_importance_rests_on_enough_people(tables):
    table = tables["driver_importance"]
    shown = table.filter(pl.col("suppressed").is_null())
    assert shown.height > 0 and shown["people"].min() >= MIN_N
