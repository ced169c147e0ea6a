"""Engagement per driver, wave and group (organisation, site, team), with intervals; response rates.

Definitions:
- score: the answer after reverse scoring (6 - answer on reverse-scored items);
- mean: the mean over respondents of each respondent's mean score on the driver's items,
  with a 95% t interval;
- % favourable: favourable answers (score >= survey.favourable_min, default 4) / all answers on
  the driver's items; 95% Wilson interval computed with n = respondents (not answers), because a
  person's answers to one driver's items are strongly correlated: the conservative choice;
- eNPS: % promoters (9-10) - % detractors (0-6) on the 0-10 item, in points, with a 95% normal
  interval from the multinomial variance (p + d - (p - d)^2) / n;
- response rate: respondents / people employed (on the roster) on the wave's first response date.
"""

from __future__ import annotations

import polars as pl

from analysis.privacy import assert_gated, gate

Z = 1.959963984540054  # two-sided 95%


def wilson(successes: pl.Expr, n: pl.Expr, z: float = Z) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval for a proportion p = successes / n (expressions)."""
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * ((p * (1 - p) / n + z**2 / (4 * n**2)).sqrt()) / denom
    return centre - half, centre + half


LEVEL_KEYS = {
    "organisation": [pl.lit(None, pl.String).alias("site"), pl.lit(None, pl.String).alias("team")],
    "site": [pl.col("site"), pl.lit(None, pl.String).alias("team")],
    "team": [pl.col("site"), pl.col("team")],
}


def team_sites(employees: pl.LazyFrame) -> pl.LazyFrame:
    """Each team's site (the site most of its spells belong to; ties broken by name)."""
    return (
        employees.group_by("team", "site")
        .len()
        .sort("team", "len", "site", descending=[False, True, False])
        .unique(subset="team", keep="first", maintain_order=True)
        .select("team", "site")
    )


def by_levels(frame: pl.LazyFrame, keys: list[str], aggs: list[pl.Expr]) -> pl.LazyFrame:
    parts = [
        frame.group_by(*keys, *level_keys).agg(aggs).with_columns(pl.lit(level).alias("level"))
        for level, level_keys in LEVEL_KEYS.items()
    ]
    return pl.concat(parts, how="diagonal")


def driver_scores(responses: pl.LazyFrame, items: pl.LazyFrame, favourable_min: int) -> pl.LazyFrame:
    """One row per response and Likert driver: the respondent's mean, favourable and answer counts."""
    return (
        responses.join(items.select("item_id", "driver", "scale"), on="item_id")
        .filter(pl.col("scale") == "likert5")
        .group_by("response_id", "team", "wave", "quarter", "driver")
        .agg(
            pl.col("score").cast(pl.Float64).mean().alias("respondent_mean"),
            (pl.col("score") >= favourable_min).sum().alias("favourable"),
            pl.col("score").count().alias("answers"),
        )
    )


def engagement_table(
    responses: pl.LazyFrame, items: pl.LazyFrame, employees: pl.LazyFrame, favourable_min: int, min_group_size: int
) -> pl.DataFrame:
    """The `engagement` table (docs/tables.md), privacy-gated."""
    scored = driver_scores(responses, items, favourable_min).join(team_sites(employees), on="team", how="left")
    aggs = [
        pl.col("response_id").n_unique().alias("respondents"),
        pl.col("respondent_mean").mean().alias("mean"),
        pl.col("respondent_mean").std().alias("sd"),
        pl.col("favourable").sum().alias("favourable_answers"),
        pl.col("answers").sum().alias("answers"),
    ]
    cells = by_levels(scored, ["wave", "quarter", "driver"], aggs).collect()
    n = pl.col("respondents")
    fav_low, fav_high = wilson(pl.col("favourable_answers") / pl.col("answers") * n, n)
    t_crit = pl.col("respondents").map_elements(_t_critical, return_dtype=pl.Float64)
    half = t_crit * pl.col("sd") / n.cast(pl.Float64).sqrt()
    table = cells.with_columns(
        (pl.col("favourable_answers") / pl.col("answers")).alias("pct_favourable"),
        fav_low.alias("pct_favourable_low"),
        fav_high.alias("pct_favourable_high"),
        (pl.col("mean") - half).alias("mean_low"),
        (pl.col("mean") + half).alias("mean_high"),
    )
    values = ["mean", "mean_low", "mean_high", "sd", "pct_favourable", "pct_favourable_low", "pct_favourable_high", "favourable_answers", "answers"]
    gated = gate(table, size="respondents", values=values, cell=["wave", "quarter", "driver"], min_group_size=min_group_size)
    assert_gated(gated, "respondents", min_group_size)
    return _order(gated, ["driver"]).select(
        "level", "site", "team", "wave", "quarter", "driver", "respondents", *values, "suppressed"
    )


def _t_critical(n: int) -> float | None:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n and n > 1 else None


def enps_table(responses: pl.LazyFrame, items: pl.LazyFrame, employees: pl.LazyFrame, min_group_size: int) -> pl.DataFrame:
    answers = (
        responses.join(items.filter(pl.col("scale") == "nps11").select("item_id"), on="item_id")
        .join(team_sites(employees), on="team", how="left")
    )
    aggs = [
        pl.col("response_id").n_unique().alias("respondents"),
        (pl.col("value") >= 9).sum().alias("promoters"),
        (pl.col("value") <= 6).sum().alias("detractors"),
    ]
    cells = by_levels(answers, ["wave", "quarter"], aggs).collect()
    p = pl.col("promoters") / pl.col("respondents")
    d = pl.col("detractors") / pl.col("respondents")
    half = Z * ((p + d - (p - d) ** 2) / pl.col("respondents")).sqrt()
    table = cells.with_columns(
        ((p - d) * 100).alias("enps"),
        ((p - d - half) * 100).clip(-100, 100).alias("enps_low"),
        ((p - d + half) * 100).clip(-100, 100).alias("enps_high"),
    )
    values = ["promoters", "detractors", "enps", "enps_low", "enps_high"]
    gated = gate(table, size="respondents", values=values, cell=["wave", "quarter"], min_group_size=min_group_size)
    assert_gated(gated, "respondents", min_group_size)
    return _order(gated, []).select("level", "site", "team", "wave", "quarter", "respondents", *values, "suppressed")


def response_rate_table(responses: pl.LazyFrame, employees: pl.LazyFrame, min_group_size: int) -> pl.DataFrame:
    """Respondents / people on the roster on the wave's first response date, per group."""
    waves = responses.group_by("wave", "quarter").agg(pl.col("response_date").min().alias("fielded"))
    invited = (
        employees.join(waves, how="cross")
        .filter((pl.col("hire_date") <= pl.col("fielded")) & (pl.col("exit_date").is_null() | (pl.col("exit_date") >= pl.col("fielded"))))
        .select("wave", "quarter", "team", "site", "employee_key")
    )
    sites = team_sites(employees)
    respondents = responses.select("wave", "quarter", "team", "response_id").unique().join(sites, on="team", how="left")
    invited_n = by_levels(invited, ["wave", "quarter"], [pl.len().alias("invited")])
    responded_n = by_levels(respondents, ["wave", "quarter"], [pl.len().alias("respondents")])
    keys = ["level", "site", "team", "wave", "quarter"]
    table = (
        invited_n.join(responded_n, on=keys, how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("invited", "respondents").fill_null(0))
        .with_columns((pl.col("respondents") / pl.col("invited")).alias("response_rate"))
        .collect()
    )
    gated = gate(table, size="invited", values=["respondents", "response_rate"], cell=["wave", "quarter"], min_group_size=min_group_size)
    # A team with few respondents but many invited shows its rate: the rate reveals no answer.
    assert_gated(gated, "invited", min_group_size)
    return _order(gated, []).select(*keys, "invited", "respondents", "response_rate", "suppressed")


def _order(frame: pl.DataFrame, extra: list[str]) -> pl.DataFrame:
    level_order = pl.col("level").replace_strict({"organisation": 0, "site": 1, "team": 2}, return_dtype=pl.Int8)
    return frame.sort(level_order, "site", "team", "wave", *extra, nulls_last=False)


def build(responses_path: str, items_path: str, employees_path: str, config: dict, out: dict[str, str]) -> None:
    responses = pl.scan_parquet(responses_path)
    items = pl.scan_parquet(items_path)
    employees = pl.scan_parquet(employees_path)
    min_n = config["privacy"]["min_group_size"]
    engagement_table(responses, items, employees, config["survey"]["favourable_min"], min_n).write_parquet(out["engagement"])
    enps_table(responses, items, employees, min_n).write_parquet(out["enps"])
    response_rate_table(responses, employees, min_n).write_parquet(out["response_rates"])

