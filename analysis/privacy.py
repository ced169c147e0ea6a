"""The privacy gate every group-level table passes through before it is written.

Rule 1 (primary suppression): a group with fewer than `min_group_size` people shows no number.
Rule 2 (complementary suppression): when a parent total is shown (team -> site -> organisation),
a lone suppressed child could be recovered by subtracting its shown siblings from the parent,
so the smallest other sibling is suppressed too, repeated until no parent has exactly one
hidden child. Suppressed cells keep their row, with nulls and an explicit `suppressed` reason,
never zeros.
"""

from __future__ import annotations

import polars as pl

LEVELS = ("organisation", "site", "team")
PRIMARY = "fewer than the minimum group size"
COMPLEMENTARY = "complementary: would reveal a suppressed sibling by subtraction"


def check_min_group_size(min_group_size: int) -> int:
    if min_group_size < 3:
        raise ValueError(f"privacy.min_group_size is {min_group_size}; it may never be below 3")
    return min_group_size


def gate(
    table: pl.DataFrame,
    *,
    size: str,
    values: list[str],
    cell: list[str],
    min_group_size: int,
) -> pl.DataFrame:
    """Suppress cells of a table with a `level` column (organisation/site/team) plus `site`, `team`.

    size   column holding the number of people behind the cell (headcount, respondents)
    values columns to null out when the cell is suppressed (the size column is nulled too)
    cell   columns that identify a cell apart from the hierarchy (e.g. quarter, driver)
    """
    check_min_group_size(min_group_size)
    frame = table.with_columns(
        pl.when(pl.col(size) < min_group_size).then(pl.lit(PRIMARY)).otherwise(pl.lit(None, pl.String)).alias("suppressed")
    )
    # A family is a parent cell with its children: a site with its teams, the organisation with
    # its sites. Parent = sum of children, so a family leaks when (a) exactly one of its cells is
    # hidden (solve the one unknown), or (b) the parent is shown and its hidden children together
    # are fewer than the minimum (parent - shown children = their combined small group).
    families = [("site", "team", ["site"]), ("organisation", "site", [])]
    where = [*cell, "site", "team", "level"]
    hidden = pl.col("suppressed").is_not_null()
    is_child = pl.col("__is_child")
    while True:
        targets = []
        for parent_level, child_level, parent_keys in families:
            family = [*cell, *parent_keys]
            members = frame.filter(pl.col("level").is_in([parent_level, child_level])).with_columns(
                (pl.col("level") == child_level).alias("__is_child")
            )
            summary = members.group_by(family).agg(
                pl.len().alias("n_members"),
                hidden.sum().alias("n_hidden"),
                (hidden & is_child).sum().alias("n_hidden_children"),
                (~hidden & ~is_child).any().alias("parent_shown"),
                pl.col(size).filter(hidden & is_child).sum().alias("hidden_children_size"),
            )
            leaking = summary.filter(
                ((pl.col("n_hidden") == 1) & (pl.col("n_members") > 1))
                | (pl.col("parent_shown") & (pl.col("n_hidden_children") >= 1) & (pl.col("hidden_children_size") < min_group_size))
            ).select(family)
            if leaking.height == 0:
                continue
            # Hide the smallest shown child; where every child is hidden already, the parent.
            pick = (
                members.join(leaking, on=family, how="semi", nulls_equal=True)
                .filter(~hidden)
                .sort([*family, "__is_child", size, "site", "team"], descending=[False] * len(family) + [True, False, False, False], nulls_last=True)
                .unique(subset=family, keep="first", maintain_order=True)
                .select(where)
            )
            if pick.height:
                targets.append(pick)
        if not targets:
            break
        hits = pl.concat(targets).unique().with_columns(pl.lit(True).alias("__hit"))
        frame = (
            frame.join(hits, on=where, how="left", nulls_equal=True)
            .with_columns(
                pl.when(pl.col("__hit")).then(pl.lit(COMPLEMENTARY)).otherwise(pl.col("suppressed")).alias("suppressed")
            )
            .drop("__hit")
        )
    hide = pl.col("suppressed").is_not_null()
    return frame.with_columns(
        [pl.when(hide).then(pl.lit(None, dtype=table.schema[c])).otherwise(pl.col(c)).alias(c) for c in [size, *values]]
    )


def gate_flat(
    table: pl.DataFrame,
    *,
    size: str,
    values: list[str],
    min_group_size: int,
    reason: str = PRIMARY,
) -> pl.DataFrame:
    """Primary suppression only, for cells that no shown total contains (no hierarchy to subtract from).

    E.g. the points of a survival curve, gated on the people still at risk: a cell whose `size` is
    below the minimum keeps its row with `size` and `values` nulled and `reason` in `suppressed`;
    a reason already in `suppressed` is kept.
    """
    check_min_group_size(min_group_size)
    earlier = pl.col("suppressed") if "suppressed" in table.columns else pl.lit(None, pl.String)
    frame = table.with_columns(
        pl.when(pl.col(size) < min_group_size).then(pl.lit(reason)).otherwise(earlier).alias("suppressed")
    )
    hide = pl.col("suppressed").is_not_null()
    return frame.with_columns(
        [pl.when(hide).then(pl.lit(None, dtype=table.schema[c])).otherwise(pl.col(c)).alias(c) for c in [size, *values]]
    )


WAVE_DIFFERENCE = "wave-to-wave: the respondents differ from the previous wave's by fewer than the minimum group size"


def wave_difference(*, joined: str, left: str, size: str, previous_size: str, linked: str) -> pl.Expr:
    """The group a change between two waves could reveal by subtraction: its size (people).

    Linked responses (every respondent of both waves has an employee_key): the people in one
    wave's set and not the other's, |joined| + |left| (the symmetric difference). If the same
    people answered alike, wave t minus wave t-1 would show exactly that group's answers.
    Anonymous responses: only the counts are known, so the group is |size - previous_size|
    (12 respondents then 13: one newcomer).
    """
    return (
        pl.when(pl.col(linked))
        .then(pl.col(joined) + pl.col(left))
        .otherwise((pl.col(size).cast(pl.Int64) - pl.col(previous_size).cast(pl.Int64)).abs())
    )


def gate_wave_changes(
    table: pl.DataFrame,
    *,
    joined: str,
    left: str,
    size: str,
    previous_size: str,
    linked: str,
    values: list[str],
    min_group_size: int,
) -> pl.DataFrame:
    """Suppress changes between two waves that would reveal a group smaller than the minimum.

    A change is hidden when the group it could reveal (`wave_difference`) has between 1 and
    min_group_size - 1 people, or cannot be told; 0 (the same people, or the same count) reveals
    nobody. Hidden rows keep their keys, get `values`, `joined` and `left` nulled and
    WAVE_DIFFERENCE in `suppressed`; a reason already there is kept. Each wave's own cell is
    gated separately (`gate`).
    """
    check_min_group_size(min_group_size)
    earlier = pl.col("suppressed") if "suppressed" in table.columns else pl.lit(None, pl.String)
    group = wave_difference(joined=joined, left=left, size=size, previous_size=previous_size, linked=linked)
    risky = group.is_null() | ((group > 0) & (group < min_group_size))  # unknown: hide (fail closed)
    frame = table.with_columns(
        pl.when(earlier.is_null() & risky).then(pl.lit(WAVE_DIFFERENCE)).otherwise(earlier).alias("suppressed")
    )
    hide = pl.col("suppressed").is_not_null()
    return frame.with_columns(
        [pl.when(hide).then(pl.lit(None, dtype=table.schema[c])).otherwise(pl.col(c)).alias(c) for c in [joined, left, *values]]
    )


def assert_gated(table: pl.DataFrame, size: str, min_group_size: int) -> None:
    """Defensive check before writing: no shown cell may come from a group below the minimum."""
    small = table.filter(pl.col("suppressed").is_null() & (pl.col(size) < min_group_size))
    if small.height:
        raise AssertionError(f"privacy gate bypassed: {small.height} cells below {min_group_size}")
