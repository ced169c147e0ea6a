import datetime as dt

import polars as pl
import pytest

from analysis.periods import quarter_end, quarter_of, quarter_start, quarters_between, shift_quarter


def test_quarter_bounds():
    assert quarter_start("2024Q1") == dt.date(2024, 1, 1)
    assert quarter_end("2024Q1") == dt.date(2024, 3, 31)
    assert quarter_end("2024Q4") == dt.date(2024, 12, 31)


def test_ranges_and_shifts():
    assert quarters_between("2023Q4", "2024Q2") == ["2023Q4", "2024Q1", "2024Q2"]
    assert shift_quarter("2024Q1", -1) == "2023Q4"
    assert shift_quarter("2023Q4", 5) == "2025Q1"
    with pytest.raises(ValueError, match="not a quarter"):
        quarters_between("2024-1", "2024Q2")


def test_quarter_of_expression():
    frame = pl.DataFrame({"d": [dt.date(2024, 3, 31), dt.date(2024, 4, 1)]})
    assert frame.select(quarter_of(pl.col("d"))).to_series().to_list() == ["2024Q1", "2024Q2"]
