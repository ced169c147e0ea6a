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

import math
import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from analysis.passes import ANSWERS_PER_PASS, answers_per_pass, in_passes, quarter_filter
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


# ------------------------------------------------------------------ engagement, eNPS, response rates
# Two steps, so that the work can be split over jobs (docs/cluster.md, "Partitioning"):
# `partial_counts` reads one slice of the data (a quarter, a group of teams, or everything) and
# counts integer sufficient statistics per wave, team and driver; `combine_counts` sums any number
# of slices, rolls the sums up to sites and the organisation, computes every statistic once and
# only then applies the privacy gate. Sums of integers do not depend on how the rows were split or
# ordered, so every partitioning gives the same bytes; one machine runs the same two steps with
# one slice (`Slice()`), so there is no second implementation to drift.

PARTIAL_KINDS = ("engagement", "enps", "invited", "responded", "alpha", "alpha_items", "membership")
# per kind: the cell keys besides site and team, and the integer statistics summed over slices
PARTIAL_STATS = {
    "engagement": (["wave", "quarter", "driver"], ["respondents", "scored", "s1", "s2", "favourable_answers", "answers"]),
    "enps": (["wave", "quarter"], ["respondents", "promoters", "detractors"]),
    "invited": (["wave", "quarter"], ["invited"]),
    "responded": (["wave", "quarter"], ["respondents"]),
    # Cronbach's alpha: per driver, over the responses answering every item of it: n, sum and sum
    # of squares of the item total; per item the sum and sum of squares (reliability_from_counts)
    "alpha": (["wave", "quarter", "driver", "n_items"], ["n", "st", "stt"]),
    "alpha_items": (["wave", "quarter", "driver", "item_id"], ["sx", "sxx"]),
}
# membership is not summed: one row per person (employee_key), team and wave with a boolean per
# Likert driver answered (`answered.<driver>`); slices hold disjoint rows (wave_membership)
MEMBERSHIP_KEYS = ["wave", "quarter", "employee_key"]
ANSWERED = "answered."


def partial_keys(kind: str) -> list[str]:
    """The keys of a partial frame, in its sort order."""
    return [*(MEMBERSHIP_KEYS if kind == "membership" else PARTIAL_STATS[kind][0]), "site", "team"]


UNITS = ("site", "team_group")


@dataclass(frozen=True)
class Slice:
    """The rows one partial job counts: survey quarters from `first` to `last` (inclusive; None:
    open) and the teams whose unit bucket is `unit` (None: every team). A team's bucket is a stable
    hash (CRC-32) of its site (units "site", so a site's teams stay together) or of its name
    (units "team_group"), modulo `groups`: it depends on nothing but the name."""

    first: str | None = None
    last: str | None = None
    unit: int | None = None
    units: str = "team_group"
    groups: int = 1

    def quarters(self) -> pl.Expr:
        return quarter_filter(self.first, self.last)


def unit_bucket(name: str | None, groups: int) -> int:
    """A site's or team's bucket: the same on every machine, run and Python (no hash seed)."""
    return zlib.crc32((name or "").encode("utf-8")) % groups


def _teams_in_unit(responses: pl.LazyFrame, employees: pl.LazyFrame, sites: pl.LazyFrame, part: Slice) -> pl.Expr:
    """An expression on `team` selecting the slice's teams (every team when the slice has no unit)."""
    if part.unit is None:
        return pl.lit(True)
    if part.units not in UNITS:
        raise ValueError(f"partition.units must be one of {UNITS}, not {part.units!r}")
    teams = (
        pl.concat([employees.select("team"), responses.select("team")]).unique().join(sites, on="team", how="left").collect()
    )
    key = "site" if part.units == "site" else "team"
    chosen = [team for team, name in zip(teams["team"], teams[key], strict=True) if unit_bucket(name, part.groups) == part.unit]
    expr = pl.col("team").is_in([t for t in chosen if t is not None])
    return expr | pl.col("team").is_null() if None in chosen else expr


def likert_scale(items: pl.LazyFrame) -> int:
    """A common denominator of every respondent mean: lcm(1..k), k the most items of a Likert driver.

    A respondent's mean on a driver is sum / answers with answers <= k, so mean * scale is an
    integer: means, and squares of means, add up exactly.
    """
    counts = items.filter(pl.col("scale") == "likert5").group_by("driver").len().collect()
    return math.lcm(*range(1, int(counts["len"].max() or 1) + 1))


def driver_names(items: pl.LazyFrame) -> list[str]:
    """The Likert drivers of the survey catalogue, sorted (their position is their code)."""
    likert = items.filter(pl.col("scale") == "likert5").select("driver").unique().collect()
    return sorted(likert.get_column("driver").to_list())


def driver_codes(items: pl.LazyFrame, names: list[str] | None = None) -> tuple[pl.Expr, pl.Expr]:
    """Two expressions: on `item_id`, the item's Likert driver as a small integer (null for answers
    to other items: eNPS, items not in the catalogue); on `__driver`, that integer's driver name.
    `names`: driver_names(items), when the caller has it already.

    Per-response group-bys key on the integer instead of joining the catalogue's driver text onto
    every answer (the same rows as an inner join on item_id, which is the catalogue's primary key):
    at 10k employees the per-response group-by takes 0.07 s instead of 0.10 s (the whole
    engagement table 0.15 s instead of 0.20 s), and its state holds two bytes per group for the
    driver instead of a string."""
    names = driver_names(items) if names is None else names
    number = {name: n for n, name in enumerate(names)}
    likert = items.filter(pl.col("scale") == "likert5").select("item_id", "driver").collect()
    by_item = {item: number[driver] for item, driver in likert.iter_rows()}
    code = pl.col("item_id").replace_strict(by_item, default=None, return_dtype=pl.Int16)
    name = pl.col("__driver").replace_strict(dict(enumerate(names)), return_dtype=pl.String)
    return code, name


def partial_counts(
    responses: pl.LazyFrame,
    items: pl.LazyFrame,
    employees: pl.LazyFrame,
    favourable_min: int,
    part: Slice = Slice(),
    kinds: tuple[str, ...] = PARTIAL_KINDS,
    in_unit: pl.Expr | None = None,
) -> dict[str, pl.LazyFrame]:
    """Integer sufficient statistics of one slice, per wave, site, team (and driver), for each of
    `kinds` (PARTIAL_KINDS). Sites are the teams' sites (team_sites) for answers and the spells'
    own sites for the people invited, as the tables define them. One lazy pass over the slice:
    count_slice runs it in passes of whole quarters, which is what the workflow calls."""
    unknown = sorted(set(kinds) - set(PARTIAL_KINDS))
    if unknown:
        raise ValueError(f"unknown partial kinds {unknown}; known: {list(PARTIAL_KINDS)}")
    sites = team_sites(employees)
    if in_unit is None:
        in_unit = _teams_in_unit(responses, employees, sites, part)
    answers = responses.filter(part.quarters() & in_unit)
    frames: dict[str, pl.LazyFrame] = {}
    if "engagement" in kinds or "membership" in kinds:
        names = driver_names(items)
        code, driver_name = driver_codes(items, names)
    if "engagement" in kinds:
        scale = likert_scale(items)
        k = pl.col("__answers")
        scaled = pl.when(k > 0).then(pl.col("__sum") * (pl.lit(scale, pl.Int64) // k))
        per_response = (
            answers.with_columns(code.alias("__driver"))
            .filter(pl.col("__driver").is_not_null())
            .group_by("response_id", "team", "wave", "quarter", "__driver")
            .agg(
                pl.col("score").cast(pl.Int64).sum().alias("__sum"),
                pl.col("score").count().cast(pl.Int64).alias("__answers"),
                (pl.col("score") >= favourable_min).sum().cast(pl.Int64).alias("__favourable"),
            )
        )
        frames["engagement"] = (
            per_response.group_by("wave", "quarter", "__driver", "team")
            .agg(
                pl.len().cast(pl.Int64).alias("respondents"),
                (k > 0).sum().cast(pl.Int64).alias("scored"),
                scaled.sum().alias("s1"),
                (scaled * scaled).sum().alias("s2"),
                pl.col("__favourable").sum().alias("favourable_answers"),
                k.sum().alias("answers"),
                pl.lit(scale, pl.Int64).alias("scale"),
            )
            .join(sites, on="team", how="left")
            .select("wave", "quarter", driver_name.alias("driver"), "site", "team", "respondents", "scored", "s1", "s2", "favourable_answers", "answers", "scale")
        )
    if "enps" in kinds:
        frames["enps"] = (
            answers.join(items.filter(pl.col("scale") == "nps11").select("item_id"), on="item_id")
            .join(sites, on="team", how="left")
            .group_by("wave", "quarter", "site", "team")
            .agg(
                pl.col("response_id").n_unique().cast(pl.Int64).alias("respondents"),
                (pl.col("value") >= 9).sum().cast(pl.Int64).alias("promoters"),
                (pl.col("value") <= 6).sum().cast(pl.Int64).alias("detractors"),
            )
        )
    if "invited" in kinds:
        # A wave is fielded on its first response date over every team, not only the slice's.
        waves = responses.filter(part.quarters()).group_by("wave", "quarter").agg(pl.col("response_date").min().alias("fielded"))
        frames["invited"] = (
            employees.filter(in_unit)
            .join(waves, how="cross")
            .filter((pl.col("hire_date") <= pl.col("fielded")) & (pl.col("exit_date").is_null() | (pl.col("exit_date") >= pl.col("fielded"))))
            .group_by("wave", "quarter", "site", "team")
            .agg(pl.len().cast(pl.Int64).alias("invited"))
        )
    if "responded" in kinds:
        frames["responded"] = (
            answers.select("wave", "quarter", "team", "response_id")
            .unique()
            .join(sites, on="team", how="left")
            .group_by("wave", "quarter", "site", "team")
            .agg(pl.len().cast(pl.Int64).alias("respondents"))
        )
    if "alpha" in kinds or "alpha_items" in kinds:
        totals, per_item = _alpha_sums(answers, items, sites)
        frames.update({"alpha": totals, "alpha_items": per_item})
    if "membership" in kinds:
        frames["membership"] = (
            answers.with_columns(code.alias("__driver"))
            .filter(pl.col("__driver").is_not_null())
            .group_by("employee_key", "team", "wave", "quarter")
            .agg((pl.col("__driver") == number).any().alias(f"{ANSWERED}{d}") for number, d in enumerate(names))
            .join(sites, on="team", how="left")
        )
    return {kind: frames[kind].sort(*partial_keys(kind), nulls_last=False) for kind in kinds}


def _alpha_sums(answers: pl.LazyFrame, items: pl.LazyFrame, sites: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The integer sums behind Cronbach's alpha per team, wave and driver (drivers with two or more
    Likert items): over the responses answering every item of the driver, n and the sum and sum
    of squares of the item total ("alpha"), and of each item ("alpha_items"). One group-by per
    driver over its own answers puts a response's item scores side by side."""
    likert = items.filter(pl.col("scale") == "likert5").select("item_id", "driver").collect().sort("item_id")
    k_items = likert.group_by("driver").agg(pl.col("item_id").sort()).filter(pl.col("item_id").list.len() >= 2).sort("driver")
    cell = ["team", "wave", "quarter"]
    totals, per_item = [], []
    for driver, ids in k_items.iter_rows():
        cols = [f"__i{n}" for n in range(len(ids))]
        total = pl.sum_horizontal(cols)
        sums = (
            answers.filter(pl.col("score").is_not_null() & pl.col("item_id").is_in(ids))
            .group_by("response_id", *cell)
            .agg(pl.col("score").filter(pl.col("item_id") == i).max().cast(pl.Int64).alias(c) for i, c in zip(ids, cols, strict=True))
            .filter(pl.all_horizontal(pl.col(cols).is_not_null()))
            .group_by(cell)
            .agg(
                pl.len().cast(pl.Int64).alias("n"),
                total.sum().alias("st"),
                (total**2).sum().alias("stt"),
                *[pl.col(c).sum().alias(f"sx{c}") for c in cols],
                *[(pl.col(c) ** 2).sum().alias(f"sxx{c}") for c in cols],
            )
            .with_columns(pl.lit(driver).alias("driver"), pl.lit(len(ids), pl.Int32).alias("n_items"))
        )
        totals.append(sums.select(*cell, "driver", "n_items", "n", "st", "stt"))
        per_item += [sums.select(*cell, "driver", pl.lit(i).alias("item_id"), pl.col(f"sx{c}").alias("sx"), pl.col(f"sxx{c}").alias("sxx")) for i, c in zip(ids, cols, strict=True)]
    if not totals:
        schema = {"team": pl.String, "wave": pl.Date, "quarter": pl.String, "driver": pl.String}
        totals = [pl.LazyFrame(schema={**schema, "n_items": pl.Int32, "n": pl.Int64, "st": pl.Int64, "stt": pl.Int64})]
        per_item = [pl.LazyFrame(schema={**schema, "item_id": pl.String, "sx": pl.Int64, "sxx": pl.Int64})]
    return pl.concat(totals).join(sites, on="team", how="left"), pl.concat(per_item).join(sites, on="team", how="left")


def collect_counts(frames: dict[str, pl.LazyFrame]) -> dict[str, pl.DataFrame]:
    """Collect a slice's frames together (one pass over the shared inputs)."""
    return dict(zip(frames, pl.collect_all(list(frames.values())), strict=True))


def count_slice(
    responses: pl.LazyFrame,
    items: pl.LazyFrame,
    employees: pl.LazyFrame,
    favourable_min: int,
    part: Slice = Slice(),
    kinds: tuple[str, ...] = PARTIAL_KINDS,
    answers_per_pass: int = ANSWERS_PER_PASS,
) -> dict[str, pl.DataFrame]:
    """partial_counts of one slice, collected in passes of whole quarters of at most
    `answers_per_pass` answers (analysis.passes): every statistic is per wave, so the passes'
    rows are disjoint and their concatenation, sorted, is the one-pass result to the byte."""
    in_unit = _teams_in_unit(responses, employees, team_sites(employees), part)

    def counts_of(answers: pl.LazyFrame) -> dict[str, pl.LazyFrame]:  # one pass: every team's answers of its quarters
        return partial_counts(answers, items, employees, favourable_min, part, kinds, in_unit)

    results = in_passes(responses, counts_of, answers_per_pass, "engagement counts", part.first, part.last)
    if len(results) == 1:
        return results[0]
    return {kind: pl.concat([r[kind] for r in results]).sort(*partial_keys(kind), nulls_last=False) for kind in kinds}


def _rolled_up(slices: list[pl.DataFrame], kind: str) -> pl.DataFrame:
    """The slices' statistics summed per team, then per site and for the organisation (LEVEL_KEYS)."""
    cell, stats = PARTIAL_STATS[kind]
    teams = pl.concat([s.select(*cell, "site", "team", *stats) for s in slices]).group_by(*cell, "site", "team").agg(pl.col(stats).sum())
    levels = [teams.group_by(*cell, *keys).agg(pl.col(stats).sum()).with_columns(pl.lit(level).alias("level")) for level, keys in LEVEL_KEYS.items()]
    return pl.concat(levels, how="diagonal").sort(*cell, "site", "team", "level", nulls_last=False)


def engagement_from_counts(slices: list[pl.DataFrame], min_group_size: int) -> pl.DataFrame:
    """The `engagement` table (docs/tables.md) from the slices' counts, privacy-gated."""
    scales = set().union(*(s["scale"].unique().to_list() for s in slices))
    if len(scales) > 1:
        raise ValueError(f"engagement partials were counted with different survey catalogues (scales {sorted(scales)}); rerun them")
    scale = float(scales.pop()) if scales else 1.0
    cells = _rolled_up(slices, "engagement")
    n, m = pl.col("respondents"), pl.col("scored")
    s1, s2 = pl.col("s1").cast(pl.Int128), pl.col("s2").cast(pl.Int128)
    spread = (m.cast(pl.Int128) * s2 - s1 * s1).cast(pl.Float64)  # n * sum x^2 - (sum x)^2, exact
    cells = cells.with_columns(
        pl.when(m > 0).then(pl.col("s1").cast(pl.Float64) / (m.cast(pl.Float64) * scale)).alias("mean"),
        pl.when(m > 1).then((spread / (m * (m - 1)).cast(pl.Float64)).sqrt() / scale).alias("sd"),
    )
    fav_low, fav_high = wilson(pl.col("favourable_answers") / pl.col("answers") * n, n)
    t_crit = n.map_batches(_t_critical, return_dtype=pl.Float64)
    half = t_crit * pl.col("sd") / n.cast(pl.Float64).sqrt()
    table = cells.with_columns(
        (pl.col("favourable_answers") / pl.col("answers")).alias("pct_favourable"),
        fav_low.alias("pct_favourable_low"),
        fav_high.alias("pct_favourable_high"),
        (pl.col("mean") - half).alias("mean_low"),
        (pl.col("mean") + half).alias("mean_high"),
    ).with_columns(pl.col("respondents", "favourable_answers", "answers").cast(pl.UInt32))
    values = ["mean", "mean_low", "mean_high", "sd", "pct_favourable", "pct_favourable_low", "pct_favourable_high", "favourable_answers", "answers"]
    gated = gate(table, size="respondents", values=values, cell=["wave", "quarter", "driver"], min_group_size=min_group_size)
    assert_gated(gated, "respondents", min_group_size)
    return _order(gated, ["driver"]).select(
        "level", "site", "team", "wave", "quarter", "driver", "respondents", *values, "suppressed"
    )


def engagement_table(
    responses: pl.LazyFrame, items: pl.LazyFrame, employees: pl.LazyFrame, favourable_min: int, min_group_size: int
) -> pl.DataFrame:
    """The `engagement` table (docs/tables.md), privacy-gated.

    Per cell: respondents (responses answering the driver), mean and sd of the respondents' mean
    scores (from exact integer sums, see likert_scale), % favourable and the intervals.
    """
    counts = count_slice(responses, items, employees, favourable_min, kinds=("engagement",))["engagement"]
    return engagement_from_counts([counts], min_group_size)


def _t_critical(n: pl.Series) -> pl.Series:
    """The two-sided 95% t quantile with n - 1 degrees of freedom (null for n < 2), for a whole column at once."""
    from scipy import stats

    counts = n.cast(pl.Float64).to_numpy()
    with np.errstate(invalid="ignore"):
        critical = np.where(counts > 1, stats.t.ppf(0.975, np.maximum(counts - 1, 1)), np.nan)
    return pl.Series(n.name, critical, dtype=pl.Float64).fill_nan(None)


def enps_from_counts(slices: list[pl.DataFrame], min_group_size: int) -> pl.DataFrame:
    """The `enps` table from the slices' counts, privacy-gated."""
    cells = _rolled_up(slices, "enps").with_columns(pl.col("respondents", "promoters", "detractors").cast(pl.UInt32))
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


def enps_table(responses: pl.LazyFrame, items: pl.LazyFrame, employees: pl.LazyFrame, min_group_size: int) -> pl.DataFrame:
    """The `enps` table (docs/tables.md): promoters, detractors and eNPS per wave and group, privacy-gated."""
    counts = count_slice(responses, items, employees, favourable_min=4, kinds=("enps",))["enps"]  # favourable_min: Likert only
    return enps_from_counts([counts], min_group_size)


def response_rates_from_counts(invited: list[pl.DataFrame], responded: list[pl.DataFrame], min_group_size: int) -> pl.DataFrame:
    """The `response_rates` table from the slices' counts, privacy-gated."""
    keys = ["level", "site", "team", "wave", "quarter"]
    table = (
        _rolled_up(invited, "invited")
        .join(_rolled_up(responded, "responded"), on=keys, how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("invited", "respondents").fill_null(0).cast(pl.UInt32))
        .with_columns((pl.col("respondents") / pl.col("invited")).alias("response_rate"))
    )
    gated = gate(table, size="invited", values=["respondents", "response_rate"], cell=["wave", "quarter"], min_group_size=min_group_size)
    # A team with few respondents but many invited shows its rate: the rate reveals no answer.
    assert_gated(gated, "invited", min_group_size)
    return _order(gated, []).select(*keys, "invited", "respondents", "response_rate", "suppressed")


def response_rate_table(responses: pl.LazyFrame, employees: pl.LazyFrame, min_group_size: int) -> pl.DataFrame:
    """Respondents / people on the roster on the wave's first response date, per group."""
    no_items = pl.LazyFrame(schema={"item_id": pl.String, "driver": pl.String, "scale": pl.String})
    counts = count_slice(responses, no_items, employees, favourable_min=4, kinds=("invited", "responded"))
    return response_rates_from_counts([counts["invited"]], [counts["responded"]], min_group_size)


def combine_counts(slices: list[dict[str, pl.DataFrame]], min_group_size: int) -> dict[str, pl.DataFrame]:
    """Every engagement table from the slices' counts (partial_counts): engagement, enps,
    response_rates, reliability and engagement_change; the answers themselves are not read."""
    engagement = engagement_from_counts([s["engagement"] for s in slices], min_group_size)
    return {
        "engagement": engagement,
        "enps": enps_from_counts([s["enps"] for s in slices], min_group_size),
        "response_rates": response_rates_from_counts([s["invited"] for s in slices], [s["responded"] for s in slices], min_group_size),
        "reliability": reliability_from_counts([s["alpha"] for s in slices], [s["alpha_items"] for s in slices], min_group_size),
        "engagement_change": change_from_counts(engagement, [s["membership"] for s in slices], min_group_size),
    }


def _order(frame: pl.DataFrame, extra: list[str]) -> pl.DataFrame:
    level_order = pl.col("level").replace_strict({"organisation": 0, "site": 1, "team": 2}, return_dtype=pl.Int8)
    return frame.sort(level_order, "site", "team", "wave", *extra, nulls_last=False)


def reliability_table(responses: pl.LazyFrame, items: pl.LazyFrame, employees: pl.LazyFrame, min_group_size: int) -> pl.DataFrame:
    """The `reliability` table (docs/tables.md): Cronbach's alpha per driver, wave and group, privacy-gated."""
    counts = count_slice(responses, items, employees, favourable_min=4, kinds=("alpha", "alpha_items"))
    return reliability_from_counts([counts["alpha"]], [counts["alpha_items"]], min_group_size)


def reliability_from_counts(totals: list[pl.DataFrame], per_item: list[pl.DataFrame], min_group_size: int) -> pl.DataFrame:
    """The `reliability` table from the slices' alpha sums (_alpha_sums), privacy-gated.

    Aggregated first, so memory stays bounded at any size: per team, wave and driver the complete
    responses give integer sums (n, sum and sum of squares of each item and of the item total);
    sites and the organisation add up their teams' sums. With n complete responses every variance
    is (n * sum x^2 - (sum x)^2) / (n (n - 1)), and all of a driver's items share that n, so
    alpha = k/(k-1) * (1 - sum_i (n Sxx_i - Sx_i^2) / (n Stt - St^2)): exact integers up to the
    one division, the same whatever order the rows arrive in or slices they were counted in.
    """
    cells = _rolled_up(totals, "alpha")
    item_cells = _rolled_up(per_item, "alpha_items")
    keys = ["level", "site", "team", "wave", "quarter", "driver"]
    n = pl.col("n")
    item_num = item_cells.join(cells.select(*keys, "n"), on=keys, nulls_equal=True).group_by(keys).agg((n * pl.col("sxx") - pl.col("sx") ** 2).sum().alias("item_num"))
    k = pl.col("n_items").cast(pl.Float64)
    total_num = n * pl.col("stt") - pl.col("st") ** 2
    table = cells.join(item_num, on=keys, how="left", nulls_equal=True).with_columns(
        pl.when((n > 1) & (total_num > 0))
        .then(k / (k - 1) * (1 - pl.col("item_num").cast(pl.Float64) / total_num.cast(pl.Float64)))
        .otherwise(None)
        .alias("alpha"),
        n.cast(pl.UInt32).alias("n_respondents"),
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


def wave_membership(members: pl.DataFrame, waves: pl.DataFrame) -> pl.LazyFrame:
    """Per level x group x wave x driver: how many respondents joined and left since the previous wave.

    joined = respondents now who did not answer the driver in the previous wave, left = the
    reverse (both by employee_key; null unless linked); linked = every respondent of both waves
    has an employee_key.

    From the slices' "membership" rows (partial_counts), so memory is bounded by the responses,
    not the answers: one row per person, team and wave with a boolean per driver answered (rows
    without an employee_key share one row per team and wave), merged per group and compared with
    the previous wave's row of the same person and group.
    """
    flags = sorted(c for c in members.columns if c.startswith(ANSWERED))
    drivers = [c[len(ANSWERED) :] for c in flags]
    answered = members.lazy()
    following = pl.from_dict({"wave": waves["previous_wave"], "next_wave": waves["wave"]}).drop_nulls().lazy()
    cell = ["level", "site", "team", "wave"]
    parts = []
    for level, level_keys in LEVEL_KEYS.items():
        grouped = answered.select(pl.lit(level).alias("level"), *level_keys, "wave", "employee_key", *flags).group_by(*cell, "employee_key").agg(pl.col(flags).any())
        # the previous wave's members, labelled with the wave they are compared to
        before = grouped.join(following, on="wave").drop("wave").rename({"next_wave": "wave", **{f: f"before.{f}" for f in flags}})
        both = grouped.join(before, on=[*cell, "employee_key"], how="full", coalesce=True, nulls_equal=True).with_columns(
            pl.col(*flags, *[f"before.{f}" for f in flags]).fill_null(False)
        )
        keyed = pl.col("employee_key").is_not_null()
        aggs = []
        for driver, flag in zip(drivers, flags, strict=True):
            now, was = pl.col(flag), pl.col(f"before.{flag}")
            aggs += [
                (now | was).any().alias(f"present.{driver}"),
                ((now | was) & ~keyed).any().alias(f"anonymous.{driver}"),
                (now & ~was & keyed).sum().cast(pl.Int64).alias(f"joined.{driver}"),
                (was & ~now & keyed).sum().cast(pl.Int64).alias(f"left.{driver}"),
            ]
        counts = both.group_by(cell).agg(aggs)
        parts += [
            counts.filter(pl.col(f"present.{driver}")).select(
                *cell,
                pl.lit(driver).alias("driver"),
                pl.col(f"joined.{driver}").alias("respondents_joined"),
                pl.col(f"left.{driver}").alias("respondents_left"),
                (~pl.col(f"anonymous.{driver}")).alias("linked"),
            )
            for driver in drivers
        ]
    return pl.concat(parts).with_columns(
        [pl.when(pl.col("linked")).then(pl.col(c)).alias(c) for c in ("respondents_joined", "respondents_left")]
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
    members = count_slice(responses, items, employees, favourable_min=4, kinds=("membership",))["membership"]
    return change_from_counts(engagement, [members], min_group_size)


def change_from_counts(engagement: pl.DataFrame, members: list[pl.DataFrame], min_group_size: int) -> pl.DataFrame:
    """The `engagement_change` table from the engagement table and the slices' membership rows."""
    waves = previous_waves(engagement)
    group = ["level", "site", "team", "driver"]
    shown = ["respondents", "mean", "sd", "pct_favourable", "pct_favourable_low", "pct_favourable_high"]
    previous = engagement.select(
        *group, pl.col("wave").alias("previous_wave"), *[pl.col(c).alias(f"previous_{c}") for c in shown], pl.col("suppressed").alias("previous_suppressed")
    )
    membership = wave_membership(pl.concat(members, how="diagonal_relaxed"), waves).collect()
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
    """Count one slice of the canonical tables in passes (count_slice) and write every engagement
    table to `out[table]`; the workflow splits the same two steps over count_engagement jobs."""
    counts = count_slice(
        pl.scan_parquet(responses_path),
        pl.scan_parquet(items_path),
        pl.scan_parquet(employees_path),
        config["survey"]["favourable_min"],
        answers_per_pass=answers_per_pass(config),
    )
    for name, table in combine_counts([counts], config["privacy"]["min_group_size"]).items():
        table.write_parquet(out[name])
