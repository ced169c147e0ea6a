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
- response rate: respondents / people employed (on the roster) on the wave's first response date;
- reliability: Cronbach's alpha of each Likert driver's items (drivers with two or more items),
  alpha = k / (k - 1) * (1 - sum of item variances / variance of the item total), over the
  respondents who answered every item of the driver (sample variances, n - 1);
- change against the previous wave (the wave before it in the data, per group and driver):
  the difference in % favourable with Newcombe's hybrid score 95% interval (method 10 of
  Newcombe 1998: the two Wilson intervals above, combined), and the difference in means with a
  Welch 95% interval (unequal variances, Welch-Satterthwaite degrees of freedom).
  `significant_change` is true when the % favourable interval excludes 0, `mean_change_significant`
  when the mean's does. Both intervals treat the waves as independent samples; with linked,
  largely repeated respondents the true interval is narrower (positively correlated answers),
  so the flag errs on the side of "no change". A change is shown only when both waves' cells are
  shown and the wave-to-wave rule (privacy.gate_wave_changes) lets it through.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from analysis.privacy import assert_gated, gate, gate_wave_changes

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
    """`aggs` per group at each level (organisation, site, team), the same on every run.

    A float sum depends on the order its terms are added in, and join and group_by output comes
    in a different order on every run: the rows are sorted eagerly (a lazy sort before a group_by
    may be optimised away) and aggregated by the in-memory engine (the streaming engine adds
    partial sums as they arrive), and the cells come back sorted (docs/audit.md).
    """
    rows = frame.collect(engine="in-memory")
    rows = rows.sort(rows.columns, nulls_last=False).lazy()
    parts = [
        rows.group_by(*keys, *level_keys).agg(aggs).with_columns(pl.lit(level).alias("level"))
        for level, level_keys in LEVEL_KEYS.items()
    ]
    cells = pl.concat(parts, how="diagonal").collect(engine="in-memory")
    return cells.sort(cells.columns, nulls_last=False).lazy()


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


def reliability_table(responses: pl.LazyFrame, items: pl.LazyFrame, employees: pl.LazyFrame, min_group_size: int) -> pl.DataFrame:
    """The `reliability` table (docs/tables.md): Cronbach's alpha per driver, wave and group, privacy-gated."""
    likert = items.filter(pl.col("scale") == "likert5").select("item_id", "driver")
    k_items = likert.group_by("driver").agg(pl.len().alias("n_items")).filter(pl.col("n_items") >= 2)
    answers = (
        responses.filter(pl.col("score").is_not_null())
        .join(likert, on="item_id")
        .join(k_items, on="driver")
        .select("response_id", "team", "wave", "quarter", "driver", "n_items", "item_id", pl.col("score").cast(pl.Float64))
    )
    complete = (
        answers.group_by("response_id", "team", "wave", "quarter", "driver", "n_items")
        .agg(pl.col("score").sum().alias("total"), pl.col("item_id").n_unique().alias("answered"))
        .filter(pl.col("answered") == pl.col("n_items"))
        .join(team_sites(employees), on="team", how="left")
    )
    complete_answers = answers.join(complete.select("response_id", "driver", "site"), on=["response_id", "driver"])
    keys = ["level", "site", "team", "wave", "quarter", "driver"]
    item_var = (
        by_levels(complete_answers, ["wave", "quarter", "driver", "item_id"], [pl.col("score").var().alias("var")])
        .group_by(keys)
        .agg(pl.col("var").sum().alias("item_var"))
    )
    totals = by_levels(
        complete,
        ["wave", "quarter", "driver", "n_items"],
        [pl.col("response_id").n_unique().alias("n_respondents"), pl.col("total").var().alias("total_var")],
    )
    k = pl.col("n_items").cast(pl.Float64)
    table = (
        totals.join(item_var, on=keys, how="left", nulls_equal=True)
        .with_columns(
            pl.when(pl.col("total_var") > 0)
            .then(k / (k - 1) * (1 - pl.col("item_var") / pl.col("total_var")))
            .otherwise(None)
            .alias("alpha")
        )
        .collect(engine="in-memory")  # item_var's sum adds the sorted by_levels rows in order
    )
    gated = gate(table, size="n_respondents", values=["alpha"], cell=["wave", "quarter", "driver"], min_group_size=min_group_size)
    assert_gated(gated, "n_respondents", min_group_size)
    return _order(gated, ["driver"]).select(
        "level", "site", "team", "driver", "wave", "quarter", "alpha", pl.col("n_items").cast(pl.Int32), "n_respondents", "suppressed"
    )


def previous_waves(engagement: pl.DataFrame) -> pl.DataFrame:
    """Each wave with the one before it in the data (null for the first)."""
    return (
        engagement.select("wave", "quarter")
        .unique()
        .sort("wave")
        .with_columns(pl.col("wave").shift(1).alias("previous_wave"), pl.col("quarter").shift(1).alias("previous_quarter"))
    )


def wave_membership(responses: pl.LazyFrame, items: pl.LazyFrame, employees: pl.LazyFrame, waves: pl.DataFrame) -> pl.LazyFrame:
    """Per level x group x wave x driver: how many respondents joined and left since the previous wave.

    joined = respondents now who did not answer the driver in the previous wave, left = the
    reverse (both by employee_key; null unless linked); linked = every respondent of both waves
    has an employee_key.
    """
    likert = items.filter(pl.col("scale") == "likert5").select("item_id", "driver")
    answered = (
        responses.join(likert, on="item_id")
        .select("employee_key", "team", "wave", "driver")
        .unique()
        .join(team_sites(employees), on="team", how="left")
    )
    members = pl.concat(
        [answered.select(pl.lit(level).alias("level"), *level_keys, "wave", "driver", "employee_key") for level, level_keys in LEVEL_KEYS.items()]
    ).unique()
    # the previous wave's members, labelled with the wave they are compared to
    following = pl.from_dict({"wave": waves["previous_wave"], "next_wave": waves["wave"]}).drop_nulls().lazy()
    before = members.join(following, on="wave").drop("wave").rename({"next_wave": "wave"})
    keys = ["level", "site", "team", "wave", "driver"]
    now_in = members.with_columns(pl.lit(True).alias("now"))
    before_in = before.with_columns(pl.lit(True).alias("before"))
    keyed = now_in.filter(pl.col("employee_key").is_not_null()).join(
        before_in.filter(pl.col("employee_key").is_not_null()), on=[*keys, "employee_key"], how="full", coalesce=True, nulls_equal=True
    )
    counts = keyed.group_by(keys).agg(
        (pl.col("now").fill_null(False) & pl.col("before").is_null()).sum().cast(pl.Int64).alias("respondents_joined"),
        (pl.col("before").fill_null(False) & pl.col("now").is_null()).sum().cast(pl.Int64).alias("respondents_left"),
    )
    anonymous = (
        pl.concat([now_in.select(*keys, "employee_key"), before_in.select(*keys, "employee_key")])
        .group_by(keys)
        .agg(pl.col("employee_key").is_null().any().alias("anonymous"))
    )
    return (
        anonymous.join(counts, on=keys, how="left", nulls_equal=True)
        .with_columns((~pl.col("anonymous")).alias("linked"))
        .with_columns(
            [pl.when(pl.col("linked")).then(pl.col(c).fill_null(0)).alias(c) for c in ("respondents_joined", "respondents_left")]
        )
        .drop("anonymous")
    )


NO_PREVIOUS = "no shown cell for the previous wave"


def _welch_t_critical(df: pl.Series) -> pl.Series:
    from scipy import stats

    values = df.cast(pl.Float64).to_numpy()
    with np.errstate(invalid="ignore"):
        critical = stats.t.ppf(0.975, values)
    return pl.Series(df.name, critical, dtype=pl.Float64).fill_nan(None)


def engagement_change_table(
    engagement: pl.DataFrame, responses: pl.LazyFrame, items: pl.LazyFrame, employees: pl.LazyFrame, min_group_size: int
) -> pl.DataFrame:
    """The `engagement_change` table (docs/tables.md): each shown cell against the group's previous wave."""
    waves = previous_waves(engagement)
    group = ["level", "site", "team", "driver"]
    shown = ["respondents", "mean", "sd", "pct_favourable", "pct_favourable_low", "pct_favourable_high"]
    previous = engagement.select(
        *group, pl.col("wave").alias("previous_wave"), *[pl.col(c).alias(f"previous_{c}") for c in shown], pl.col("suppressed").alias("previous_suppressed")
    )
    membership = wave_membership(responses, items, employees, waves).collect()
    joined = (
        engagement.select(*group, "wave", "quarter", *shown, "suppressed")
        .join(waves.drop("quarter"), on="wave")
        .filter(pl.col("previous_wave").is_not_null())
        .join(previous, on=[*group, "previous_wave"], how="left", nulls_equal=True)
        .join(membership, on=[*group, "wave"], how="left", nulls_equal=True)
    )
    p1, l1, u1 = pl.col("pct_favourable"), pl.col("pct_favourable_low"), pl.col("pct_favourable_high")
    p2, l2, u2 = pl.col("previous_pct_favourable"), pl.col("previous_pct_favourable_low"), pl.col("previous_pct_favourable_high")
    v1 = pl.col("sd") ** 2 / pl.col("respondents")
    v2 = pl.col("previous_sd") ** 2 / pl.col("previous_respondents")
    welch_df = (v1 + v2) ** 2 / (v1**2 / (pl.col("respondents") - 1) + v2**2 / (pl.col("previous_respondents") - 1))
    table = joined.with_columns(
        (p1 - p2).alias("pct_favourable_change"),
        (p1 - p2 - ((p1 - l1) ** 2 + (u2 - p2) ** 2).sqrt()).alias("pct_favourable_change_low"),
        (p1 - p2 + ((u1 - p1) ** 2 + (p2 - l2) ** 2).sqrt()).alias("pct_favourable_change_high"),
        (pl.col("mean") - pl.col("previous_mean")).alias("mean_change"),
        (v1 + v2).sqrt().alias("__se"),
        welch_df.map_batches(_welch_t_critical, return_dtype=pl.Float64).alias("__t"),
    ).with_columns(
        (pl.col("mean_change") - pl.col("__t") * pl.col("__se")).alias("mean_change_low"),
        (pl.col("mean_change") + pl.col("__t") * pl.col("__se")).alias("mean_change_high"),
    ).with_columns(
        ((pl.col("pct_favourable_change_low") > 0) | (pl.col("pct_favourable_change_high") < 0)).alias("significant_change"),
        ((pl.col("mean_change_low") > 0) | (pl.col("mean_change_high") < 0)).alias("mean_change_significant"),
        pl.coalesce(
            "suppressed",
            pl.when(pl.col("previous_respondents").is_null()).then(pl.lit(NO_PREVIOUS)),
        ).alias("suppressed"),
    )
    values = [
        "respondents", "previous_respondents", "pct_favourable", "previous_pct_favourable", "pct_favourable_change",
        "pct_favourable_change_low", "pct_favourable_change_high", "mean", "previous_mean", "mean_change",
        "mean_change_low", "mean_change_high", "significant_change", "mean_change_significant",
    ]  # fmt: skip
    gated = gate_wave_changes(
        table,
        joined="respondents_joined",
        left="respondents_left",
        size="respondents",
        previous_size="previous_respondents",
        linked="linked",
        values=values,
        min_group_size=min_group_size,
    )
    assert_gated(gated, "respondents", min_group_size)
    assert_gated(gated, "previous_respondents", min_group_size)
    return _order(gated, ["driver"]).select(
        "level", "site", "team", "driver", "wave", "quarter", "previous_wave", "previous_quarter", *values[:2],
        "linked", "respondents_joined", "respondents_left", *values[2:], "suppressed",
    )  # fmt: skip


def build(responses_path: str, items_path: str, employees_path: str, config: dict, out: dict[str, str]) -> None:
    responses = pl.scan_parquet(responses_path)
    items = pl.scan_parquet(items_path)
    employees = pl.scan_parquet(employees_path)
    min_n = config["privacy"]["min_group_size"]
    engagement = engagement_table(responses, items, employees, config["survey"]["favourable_min"], min_n)
    engagement.write_parquet(out["engagement"])
    enps_table(responses, items, employees, min_n).write_parquet(out["enps"])
    response_rate_table(responses, employees, min_n).write_parquet(out["response_rates"])
    if "reliability" in out:
        reliability_table(responses, items, employees, min_n).write_parquet(out["reliability"])
    if "engagement_change" in out:
        engagement_change_table(engagement, responses, items, employees, min_n).write_parquet(out["engagement_change"])
