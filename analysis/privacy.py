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
    # its sites. Parent = sum of children, so a family with exactly one hidden cell leaks it.
    families = [("site", "team", ["site"]), ("organisation", "site", [])]
    where = [*cell, "site", "team", "level"]
    while True:
        targets = []
        for parent_level, child_level, parent_keys in families:
            family = [*cell, *parent_keys]
            members = frame.filter(pl.col("level").is_in([parent_level, child_level]))
            counts = members.group_by(family).agg(pl.col("suppressed").is_not_null().sum().alias("n_hidden"))
            leaking = counts.filter(pl.col("n_hidden") == 1).drop("n_hidden")
            if leaking.height == 0:
                continue
            # Hide the smallest shown child; where every child is hidden already, the parent.
            pick = (
                members.join(leaking, on=family, how="semi")
                .filter(pl.col("suppressed").is_null())
                .with_columns((pl.col("level") == parent_level).alias("__is_parent"))
                .sort([*family, "__is_parent", size, "site", "team"], nulls_last=True)
                .unique(subset=family, keep="first", maintain_order=True)
                .select(where)
            )
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


def assert_gated(table: pl.DataFrame, size: str, min_group_size: int) -> None:
    """Defensive check before writing: no shown cell may come from a group below the minimum."""
    small = table.filter(pl.col("suppressed").is_null() & (pl.col(size) < min_group_size))
    if small.height:
        raise AssertionError(f"privacy gate bypassed: {small.height} cells below {min_group_size}")
