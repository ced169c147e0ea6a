"""Survey answers in passes of whole quarters, so memory does not grow with the number of answers.

At a million employees the canonical `survey_responses` table holds hundreds of millions of
answers (one row per response and item). A group-by over all of them at once holds every group's
state in memory (13 GB for 80 million answers). Every per-response or per-wave computation is
instead run once per *pass*: a run of consecutive survey quarters holding at most
`answers_per_pass` answers (whole quarters, so no response or wave is split), and the passes'
results are concatenated (or, for sums, added). The canonical table is written quarter by quarter
(combine_surveys), so a pass reads only its quarters' row groups.

A pass's rows never meet another pass's rows, so the results are the same bytes for any pass size;
tests/test_passes.py runs every analysis that uses passes with one pass and with one per quarter.
Below `answers_per_pass` answers (the demo, 100k employees) there is one pass and nothing changes.

Setting: `partition: {answers_per_pass: N}` in the config (default 20 000 000, about 3.5 GB at the
peak of the engagement counts); lower it on a smaller machine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import polars as pl

ANSWERS_PER_PASS = 20_000_000

log = logging.getLogger(__name__)


def answers_per_pass(config: dict[str, Any] | None) -> int:
    """`partition.answers_per_pass` of a config (the default when absent)."""
    value = ((config or {}).get("partition") or {}).get("answers_per_pass", ANSWERS_PER_PASS)
    if int(value) < 1:
        raise ValueError(f"partition.answers_per_pass must be >= 1, not {value}")
    return int(value)


def quarter_filter(first: str | None, last: str | None) -> pl.Expr:
    """Rows of the survey quarters `first` .. `last` (inclusive; None: open). A range open at the
    start also takes answers without a quarter, so consecutive ranges cover every row once."""
    expr = pl.lit(True)
    if first is not None:
        expr &= pl.col("quarter") >= first
    if last is not None:
        expr &= pl.col("quarter") <= last
        if first is None:
            expr |= pl.col("quarter").is_null()
    return expr


def quarter_ranges(responses: pl.LazyFrame, limit: int, first: str | None = None, last: str | None = None) -> list[tuple[str | None, str | None]]:
    """Split the quarter range `first` .. `last` into runs of whole quarters of at most `limit`
    answers each (a quarter above the limit is a pass of its own). One range when everything fits:
    counting rows is free for Parquet (metadata), counting per quarter reads one column."""
    if responses.select(pl.len()).collect().item() <= limit:
        return [(first, last)]
    sizes = responses.filter(quarter_filter(first, last)).group_by("quarter").len().collect().sort("quarter", nulls_last=False)
    runs: list[list[str | None]] = []
    total = limit + 1
    for quarter, size in sizes.iter_rows():
        if total + size > limit or not runs:
            runs.append([quarter])
            total = 0
        else:
            runs[-1].append(quarter)
        total += size
    named = [[q for q in run if q is not None] for run in runs]
    named = [run for run in named if run] or [[None]]
    ranges = [(run[0], run[-1]) for run in named]
    # the first range stays open at the start (and takes answers without a quarter), the last open at the end
    ranges[0] = (first, ranges[0][1])
    ranges[-1] = (ranges[-1][0], last)
    return ranges


def in_passes(
    responses: pl.LazyFrame,
    build: Callable[[pl.LazyFrame], dict[str, pl.LazyFrame]],
    limit: int,
    what: str,
    first: str | None = None,
    last: str | None = None,
) -> list[dict[str, pl.DataFrame]]:
    """Collect `build(answers of one pass)` for each pass over the quarters `first` .. `last`
    (None: open); the frames of each pass, in quarter order."""
    responses = responses.filter(quarter_filter(first, last))
    ranges = quarter_ranges(responses, limit, first, last)
    results = []
    for number, (first, last) in enumerate(ranges, 1):
        frames = build(responses.filter(quarter_filter(first, last)))
        if len(ranges) > 1:
            log.info("%s: pass %d of %d (quarters %s to %s)", what, number, len(ranges), first or "first", last or "last")
        results.append(dict(zip(frames, pl.collect_all(list(frames.values())), strict=True)))
    return results


def concat_passes(results: list[dict[str, pl.DataFrame]], name: str) -> pl.DataFrame:
    """One frame of every pass, concatenated in pass order."""
    frames = [result[name] for result in results]
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")
