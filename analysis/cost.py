"""Cost of turnover per quarter, organisation-wide.

cost = exits x replacement cost per exit (default 15,000, Employee Benefit News), or, when
cost.salary_share is set, the sum over leavers of salary_share x annual salary (a leaver with
no salary on file is costed at the flat replacement cost, and counted in `salary_missing`).
"""

from __future__ import annotations

import polars as pl

from analysis.turnover import spell_quarters


def cost_table(employees: pl.LazyFrame, quarters: list[str], cost: dict) -> pl.DataFrame:
    flat = float(cost["replacement_cost"])
    share = cost.get("salary_share")
    per_exit = (pl.col("annual_salary") * share).fill_null(flat) if share else pl.lit(flat)
    leavers = spell_quarters(employees, quarters).filter(pl.col("exits") == 1).with_columns(per_exit.alias("exit_cost"))
    table = (
        pl.LazyFrame({"quarter": quarters})
        .join(
            leavers.group_by("quarter").agg(
                pl.len().alias("exits"),
                pl.col("voluntary_exits").sum(),
                pl.col("exit_cost").sum().alias("cost"),
                (pl.col("exit_cost") * pl.col("voluntary_exits")).sum().alias("cost_voluntary"),
                (pl.col("annual_salary").is_null().sum() if share else pl.lit(0, pl.UInt32)).alias("salary_missing"),
            ),
            on="quarter",
            how="left",
        )
        .with_columns(pl.col("exits", "voluntary_exits", "salary_missing").fill_null(0), pl.col("cost", "cost_voluntary").fill_null(0.0))
        .with_columns(
            pl.lit("salary_share" if share else "flat").alias("method"),
            pl.lit(cost["currency"]).alias("currency"),
        )
        .sort("quarter")
        .collect()
    )
    return table.select("quarter", "exits", "voluntary_exits", "cost", "cost_voluntary", "method", "currency", pl.col("salary_missing").cast(pl.Int64))
