"""The pandas baseline: Retain's core computations written plainly, as an analyst would in pandas.

Three computations, each producing the same numbers as the Polars code the workflow runs
(bench/compare.py and tests/test_bench_baseline.py assert it):

- `turnover`: headcount, hires, exits and annualised rates per quarter at organisation, site and
  team level, with the exact Poisson interval (analysis/turnover.py `turnover_table`, before its
  privacy gate);
- `engagement`: respondents, mean, sd, % favourable and their intervals per driver, wave and group
  (analysis/engagement.py `engagement_table`, before its privacy gate);
- `survival_preparation`: the model inputs of analysis/survival.py — time-varying intervals, each
  spell's first response (all drivers; engagement tier cohort) and the 12-month exit rows.

Plain means: pd.read_parquet, boolean masks, merge, groupby/agg, pivot_table, sort_values and
drop_duplicates; a loop over the dozen quarters where an analyst would write one; no
hand-tuning (no categoricals, no pyarrow string dtype, no numba). Only the columns used are read,
as any analyst would. This file is the benchmark's only reimplementation of Retain's logic.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy import stats

DRIVERS = ["mission", "recognition", "worklife", "growth", "autonomy", "manager"]
SCORES = [*DRIVERS, "engagement"]
COUNTS = ["headcount_start", "headcount_end", "hires", "exits", "voluntary_exits", "involuntary_exits", "early_exits_90d", "early_exits_6m", "early_exits_12m"]
Z = 1.959963984540054


# ------------------------------------------------------------------ reading


def read_employees(path: str) -> pd.DataFrame:
    employees = pd.read_parquet(path, columns=["employee_key", "spell", "hire_date", "exit_date", "exit_type", "team", "site"])
    employees["hire_date"] = pd.to_datetime(employees["hire_date"])
    employees["exit_date"] = pd.to_datetime(employees["exit_date"])
    return employees


def read_responses(path: str, columns: list[str]) -> pd.DataFrame:
    responses = pd.read_parquet(path, columns=columns)
    for column in ("response_date", "wave"):
        if column in responses:
            responses[column] = pd.to_datetime(responses[column])
    return responses


def read_items(path: str) -> pd.DataFrame:
    return pd.read_parquet(path, columns=["item_id", "driver", "scale"])


# ------------------------------------------------------------------ turnover


def quarter_bounds(label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    year, q = int(label[:4]), int(label[-1])
    start = dt.date(year, 3 * (q - 1) + 1, 1)
    end = dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - dt.timedelta(days=1)
    return pd.Timestamp(start), pd.Timestamp(end)


def turnover(employees: pd.DataFrame, quarters: list[str]) -> pd.DataFrame:
    """Per level x group x quarter: counts, average headcount, annualised rates, Poisson interval."""
    per_quarter = []
    for quarter in quarters:
        start, end = quarter_bounds(quarter)
        hire, leave = employees["hire_date"], employees["exit_date"]
        active = employees[(hire <= end) & (leave.isna() | (leave >= start))].copy()
        hire, leave = active["hire_date"], active["exit_date"]
        left_in_quarter = (leave >= start) & (leave <= end)
        tenure_days = (leave - hire).dt.days
        active["quarter"] = quarter
        active["headcount_start"] = ((hire <= start) & (leave.isna() | (leave >= start))).astype(int)
        active["headcount_end"] = ((hire <= end) & (leave.isna() | (leave >= end))).astype(int)
        active["hires"] = ((hire >= start) & (hire <= end)).astype(int)
        active["exits"] = left_in_quarter.astype(int)
        active["voluntary_exits"] = (left_in_quarter & (active["exit_type"] == "voluntary")).astype(int)
        active["involuntary_exits"] = (left_in_quarter & (active["exit_type"] == "involuntary")).astype(int)
        active["early_exits_90d"] = (left_in_quarter & (tenure_days <= 90)).astype(int)
        active["early_exits_6m"] = (left_in_quarter & (tenure_days <= 182)).astype(int)
        active["early_exits_12m"] = (left_in_quarter & (tenure_days <= 365)).astype(int)
        per_quarter.append(active)
    spells = pd.concat(per_quarter, ignore_index=True)

    levels = []
    for level, keys in (("organisation", []), ("site", ["site"]), ("team", ["site", "team"])):
        counts = spells.groupby(["quarter", *keys])[COUNTS].sum().reset_index()
        counts["level"] = level
        levels.append(counts)
    table = pd.concat(levels, ignore_index=True)
    table["avg_headcount"] = (table["headcount_start"] + table["headcount_end"]) / 2
    table["voluntary_rate"] = table["voluntary_exits"] / table["avg_headcount"] * 4
    table["involuntary_rate"] = table["involuntary_exits"] / table["avg_headcount"] * 4
    table["total_rate"] = table["exits"] / table["avg_headcount"] * 4
    person_years = (table["avg_headcount"] / 4).replace(0, np.nan)
    count = table["voluntary_exits"]
    low = np.where(count > 0, stats.chi2.ppf(0.025, 2 * count) / 2, 0.0)
    high = stats.chi2.ppf(0.975, 2 * count + 2) / 2
    table["voluntary_rate_low"] = low / person_years
    table["voluntary_rate_high"] = high / person_years
    table["group_size"] = table[["headcount_start", "headcount_end"]].max(axis=1)
    return table


# ------------------------------------------------------------------ engagement


def team_sites(employees: pd.DataFrame) -> pd.DataFrame:
    """Each team's site: the site most of its spells belong to (ties: first site by name)."""
    sizes = employees.groupby(["team", "site"]).size().reset_index(name="spells")
    sizes = sizes.sort_values(["team", "spells", "site"], ascending=[True, False, True])
    return sizes.drop_duplicates("team")[["team", "site"]]


def engagement(responses: pd.DataFrame, items: pd.DataFrame, employees: pd.DataFrame, favourable_min: int) -> pd.DataFrame:
    """Per level x group x wave x Likert driver: respondents, mean, sd, % favourable, intervals."""
    likert = items[items["scale"] == "likert5"][["item_id", "driver"]]
    answers = responses.merge(likert, on="item_id")
    answers["favourable"] = answers["score"] >= favourable_min
    per_response = (
        answers.groupby(["response_id", "team", "wave", "quarter", "driver"])
        .agg(respondent_mean=("score", "mean"), favourable=("favourable", "sum"), answers=("score", "count"))
        .reset_index()
    )
    per_response = per_response.merge(team_sites(employees), on="team", how="left")

    levels = []
    for level, keys in (("organisation", []), ("site", ["site"]), ("team", ["site", "team"])):
        cells = (
            per_response.groupby(["wave", "quarter", "driver", *keys])
            .agg(
                respondents=("response_id", "nunique"),
                mean=("respondent_mean", "mean"),
                sd=("respondent_mean", "std"),
                favourable_answers=("favourable", "sum"),
                answers=("answers", "sum"),
            )
            .reset_index()
        )
        cells["level"] = level
        levels.append(cells)
    table = pd.concat(levels, ignore_index=True)
    n = table["respondents"]
    table["pct_favourable"] = table["favourable_answers"] / table["answers"]
    # Wilson interval with n = respondents (successes = share x respondents)
    p = table["favourable_answers"] / table["answers"] * n / n
    denom = 1 + Z**2 / n
    centre = (p + Z**2 / (2 * n)) / denom
    half = Z * np.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / denom
    table["pct_favourable_low"] = centre - half
    table["pct_favourable_high"] = centre + half
    t_crit = pd.Series(np.where(n > 1, stats.t.ppf(0.975, (n - 1).clip(lower=1)), np.nan), index=table.index)
    half_mean = t_crit * table["sd"] / np.sqrt(n)
    table["mean_low"] = table["mean"] - half_mean
    table["mean_high"] = table["mean"] + half_mean
    return table


# ------------------------------------------------------------------ survival data preparation


def respondent_scores(responses: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """One row per response: keys and the mean score per driver (NaN when the driver was not answered)."""
    likert = items[items["scale"] == "likert5"][["item_id", "driver"]]
    answered = responses.merge(likert, on="item_id")
    answered = answered[answered["score"].notna()]
    keys = answered.groupby("response_id")[["employee_key", "team", "response_date", "wave", "quarter"]].first()
    means = answered.pivot_table(index="response_id", columns="driver", values="score", aggfunc="mean")
    means = means.reindex(columns=SCORES)
    return keys.join(means).reset_index()


def linked_scores(scores: pd.DataFrame, employees: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Responses matched to the spell employed on the response date; one per spell and wave (the last)."""
    spells = employees[["employee_key", "spell", "hire_date", "exit_date", "exit_type"]].copy()
    after_end = spells["exit_date"] > end
    spells.loc[after_end, "exit_date"] = pd.NaT
    spells.loc[after_end, "exit_type"] = None
    keyed = scores[scores["employee_key"].notna() & (scores["response_date"] <= end)]
    linked = keyed.merge(spells, on="employee_key")
    linked = linked[(linked["hire_date"] <= linked["response_date"]) & (linked["exit_date"].isna() | (linked["response_date"] <= linked["exit_date"]))]
    linked = linked.sort_values(["employee_key", "spell", "response_date", "response_id"])
    linked = linked.drop_duplicates(["employee_key", "spell", "wave"], keep="last").copy()
    linked["subject"] = linked["employee_key"] + "#" + linked["spell"].astype(str)
    linked["until"] = linked["exit_date"].fillna(end)
    linked["cause"] = np.select(
        [linked["exit_date"].isna(), linked["exit_type"] == "voluntary", linked["exit_type"] == "involuntary"], [0, 1, 2], default=3
    )
    return linked


def time_varying_intervals(linked: pd.DataFrame) -> pd.DataFrame:
    """(start, stop] on the tenure clock, one per response; the exit cause on the spell's last interval."""
    frame = linked.sort_values(["subject", "response_date"]).copy()
    frame["start"] = (frame["response_date"] - frame["hire_date"]).dt.days
    following = frame.groupby("subject")["start"].shift(-1)
    spell_end = (frame["until"] - frame["hire_date"]).dt.days + 1
    frame["stop"] = following.fillna(spell_end).astype("int64")
    frame["cause"] = np.where(following.isna(), frame["cause"], 0)
    frame = frame[frame["stop"] > frame["start"]]
    return frame[["subject", "team", "response_date", "start", "stop", "cause", *SCORES]].sort_values(["subject", "start"])


def first_response(linked: pd.DataFrame, needed: list[str]) -> pd.DataFrame:
    frame = linked.dropna(subset=needed).sort_values(["subject", "response_date"])
    frame = frame.drop_duplicates("subject", keep="first").copy()
    frame["duration"] = (frame["until"] - frame["response_date"]).dt.days + 1
    return frame[["subject", "team", "response_date", "duration", "cause", *SCORES]]


def survival_preparation(responses: pd.DataFrame, items: pd.DataFrame, employees: pd.DataFrame, end: dt.date, cutoffs: list[float], horizon_days: int) -> dict[str, pd.DataFrame]:
    """The inputs of the survival models: intervals, snapshot, cohort (with tier), exit rows."""
    end = pd.Timestamp(end)
    linked = linked_scores(respondent_scores(responses, items), employees, end)
    cohort = first_response(linked, ["engagement"])
    low, high = cutoffs
    cohort["tier"] = np.select([cohort["engagement"] < low, cohort["engagement"] < high], ["low", "mid"], default="high")
    rows = linked.copy()
    rows["window_end"] = rows["response_date"] + pd.Timedelta(days=horizon_days - 1)
    rows["exit_in"] = (rows["cause"] > 0) & (rows["until"] <= rows["window_end"])
    rows = rows[rows["exit_in"] | (rows["window_end"] <= end)].copy()
    rows["exited"] = (rows["exit_in"] & (rows["cause"] == 1)).astype("int8")
    exit_rows = rows[["subject", "team", "response_date", "exited", *SCORES]].sort_values(["subject", "response_date"])
    return {
        "intervals": time_varying_intervals(linked),
        "snapshot": first_response(linked, DRIVERS),
        "cohort": cohort,
        "exit_rows": exit_rows,
    }
