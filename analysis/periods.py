"""Quarters: parsing, ranges and the Polars expression that assigns a date to its quarter."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def parse_quarter(label: str) -> tuple[int, int]:
    """'2025Q3' -> (2025, 3); a clear ValueError otherwise."""
    match = _QUARTER.match(label)
    if not match:
        raise ValueError(f"not a quarter label (expected like 2025Q3): {label!r}")
    return int(match.group(1)), int(match.group(2))


def quarter_start(label: str) -> dt.date:
    year, q = parse_quarter(label)
    return dt.date(year, 3 * (q - 1) + 1, 1)


def quarter_end(label: str) -> dt.date:
    """Last day of the quarter (inclusive)."""
    year, q = parse_quarter(label)
    next_start = dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    return next_start - dt.timedelta(days=1)


def quarter_label(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def shift_quarter(label: str, by: int) -> str:
    year, q = parse_quarter(label)
    index = year * 4 + (q - 1) + by
    return f"{index // 4}Q{index % 4 + 1}"


def quarters_between(first: str, last: str) -> list[str]:
    """Inclusive list of quarter labels; first must not be after last."""
    y0, q0 = parse_quarter(first)
    y1, q1 = parse_quarter(last)
    count = (y1 * 4 + q1) - (y0 * 4 + q0) + 1
    if count < 1:
        raise ValueError(f"period start {first} is after its end {last}")
    return [shift_quarter(first, i) for i in range(count)]


def quarter_of(date: pl.Expr) -> pl.Expr:
    """Quarter label ('2025Q3') of a Date expression."""
    return pl.format("{}Q{}", date.dt.year(), date.dt.quarter())
