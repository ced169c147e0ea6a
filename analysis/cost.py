"""Cost of turnover per quarter, organisation-wide, and what the programmes saved.

cost = exits x replacement cost per exit (default 15,000, Employee Benefit News), or, when
cost.salary_share is set, the sum over leavers of salary_share x annual salary (a leaver with
no salary on file is costed at the flat replacement cost, and counted in `salary_missing`).
Each exit's cost is rounded to the cent and summed as an integer number of cents, so the total
does not depend on the order in which a (streaming, parallel) group-by adds the rows.

Savings (`programme_savings`): voluntary exits avoided by each programme = its estimated effect on
annualised voluntary turnover x the treated teams' person-years, priced the same way.
"""

from __future__ import annotations

import polars as pl

from analysis.turnover import spell_quarters


def cost_table(employees: pl.LazyFrame, quarters: list[str], cost: dict) -> pl.DataFrame:
    flat = float(cost["replacement_cost"])
    share = cost.get("salary_share")
    per_exit = (pl.col("annual_salary") * share).fill_null(flat) if share else pl.lit(flat)
    cents = (per_exit * 100).round().cast(pl.Int64)
    leavers = spell_quarters(employees, quarters).filter(pl.col("exits") == 1).with_columns(cents.alias("exit_cents"))
    table = (
        pl.LazyFrame({"quarter": quarters})
        .join(
            leavers.group_by("quarter").agg(
                pl.len().alias("exits"),
                pl.col("voluntary_exits").sum(),
                (pl.col("exit_cents").sum() / 100).alias("cost"),
                ((pl.col("exit_cents") * pl.col("voluntary_exits")).sum() / 100).alias("cost_voluntary"),
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


SAVINGS_SCHEMA = {
    "intervention": pl.String,
    "treated_team_quarters": pl.Int64,
    "person_years": pl.Float64,
    "att": pl.Float64,
    "exits_avoided": pl.Float64,
    "exits_avoided_low": pl.Float64,
    "exits_avoided_high": pl.Float64,
    "cost_per_exit": pl.Float64,
    "money_saved": pl.Float64,
    "money_saved_low": pl.Float64,
    "money_saved_high": pl.Float64,
    "method": pl.String,
    "currency": pl.String,
}


def programme_savings(effects: pl.DataFrame, exposure: pl.DataFrame, cost: dict) -> pl.DataFrame:
    """Voluntary exits avoided by each programme and the replacement cost they saved.

    exits_avoided = -ATT x person_years, where ATT is the programme's overall (`simple`) effect on
    annualised voluntary turnover (exits per person-year) and person_years = sum over the treated
    team-quarters after the start of avg_headcount / 4; this equals the sum of the team-quarter
    effects when they do not vary with team size. The interval maps the ATT's interval through
    the same product, [-ci_high, -ci_low] x person_years (the exposure is taken as known).
    money = exits x cost per exit: cost.replacement_cost, or, with cost.salary_share, that share
    of the mean annual salary of the people in the treated team-quarters (the flat cost when no
    salary is on file). Positive = exits avoided / money saved.
    """
    if exposure.is_empty() or effects.is_empty():
        return pl.DataFrame(schema=SAVINGS_SCHEMA)
    flat = float(cost["replacement_cost"])
    share = cost.get("salary_share")
    per_exit = (pl.col("mean_annual_salary") * share).fill_null(flat) if share else pl.lit(flat)
    att = effects.filter((pl.col("outcome") == "voluntary_turnover") & (pl.col("estimand") == "simple")).select(
        "intervention", "att", "ci_low", "ci_high"
    )
    table = (
        exposure.join(att, on="intervention", how="inner")
        .with_columns(
            (-pl.col("att") * pl.col("person_years")).alias("exits_avoided"),
            (-pl.col("ci_high") * pl.col("person_years")).alias("exits_avoided_low"),
            (-pl.col("ci_low") * pl.col("person_years")).alias("exits_avoided_high"),
            per_exit.cast(pl.Float64).alias("cost_per_exit"),
        )
        .with_columns(
            (pl.col(c) * pl.col("cost_per_exit")).alias(m)
            for c, m in (("exits_avoided", "money_saved"), ("exits_avoided_low", "money_saved_low"), ("exits_avoided_high", "money_saved_high"))
        )
        .with_columns(
            pl.lit("salary_share" if share else "flat").alias("method"),
            pl.lit(cost["currency"]).alias("currency"),
        )
    )
    return table.select([pl.col(c).cast(t) for c, t in SAVINGS_SCHEMA.items()]).sort("intervention")
