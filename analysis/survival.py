"""Does engagement keep people? Time to exit by survey scores.

Kaplan–Meier curves by engagement tier with a log-rank test, Cox models with the driver scores as
time-varying covariates, 12-month exit models, competing risks (voluntary vs involuntary exits),
and a team-quarter panel that needs no link between answers and people (anonymous surveys).

Definitions (the tables are documented in docs/tables.md):
- score: a response's mean over its answered items of one driver, after reverse scoring (1–5);
  `engagement` is the mean of the engagement items (Q17–Q18 in the demo catalogue).
- subject: one employment spell (a rehire is a new subject). A response is linked to the spell of
  the same `employee_key` with hire_date <= response_date <= exit_date; a spell answering a wave
  twice keeps its later response.
- end of follow-up: the last day of `period.end`; later exits are censored there.
- durations are whole days counting both ends: a score given on day r and a last day worked x
  give x - r + 1 days (a spell still employed at the end of follow-up e: e - r + 1, censored).
- exit causes: voluntary (1), involuntary (2), an exit without a type (3, a competing exit).
- tier: the engagement score of the spell's first response that has one: low < c1 <= mid < c2 <=
  high, c1, c2 = `retention.tier_cutoffs`. The Kaplan–Meier and cumulative-incidence clock starts
  on that response's date, so the tier is measured before any of the follow-up (no look-ahead).
  Kaplan–Meier treats other exits as censoring (the cause-specific "net" survival); the
  Aalen–Johansen cumulative incidence is the share actually leaving by each cause.
- time-varying Cox: time scale = tenure (days since hire, so the baseline hazard absorbs the
  early-tenure and burnout patterns); a spell enters at its first response (left truncation) and
  is split at each later response it gave. Each interval carries the scores of the response that
  opened it, until the next response (last observation carried forward), so a score counts only
  from the day it was given. Intervals of a response missing a driver are left out (complete
  cases). Ties: Efron.
- measurement error: a driver score is a 2–3 item mean, so its hazard ratio is attenuated towards
  1. The `time_varying_calibrated` model applies regression calibration (Rosner, Spiegelman &
  Willett 1990): each driver's error variance is (1 - alpha) x its variance, alpha = Cronbach's
  alpha of its items, and the scores are replaced by their best linear prediction of the true
  scores given all six observed scores, E[X | W] = mu + S_X S_W^-1 (W - mu), S_X = S_W - S_U.
  It removes most of the attenuation (on the synthetic organisation the mission ratio comes back
  to its true 0.70, tests/test_survival.py) at the price of wider intervals, and can overshoot for
  weak, collinear drivers; its intervals ignore the uncertainty in alpha (slightly too narrow).
- proportional hazards: Grambsch–Therneau test on the scaled Schoenfeld residuals against
  rank(time) (lifelines `proportional_hazard_test`) of a Cox model on the first-response snapshot
  (scores at the spell's first response, clock from that day); lifelines has no test for the
  time-varying model, so its rows carry the snapshot's p-value per driver.
- 12-month exit: per linked response, 1 when the spell's voluntary exit falls within
  `retention.horizon_days` days of the response (counting its day), 0 otherwise; an involuntary
  exit in the window counts as 0 (that person can no longer quit). Responses whose window runs past
  the end of follow-up without an exit are left out. Logistic GLM with team-clustered (sandwich)
  standard errors; few teams make these intervals approximate.
- sample: the Cox models (time-varying, calibrated, snapshot, competing risks) and the 12-month
  exit model need their rows in memory (lifelines, statsmodels) and are refitted several times;
  with more linked people than `retention.max_people` they are fitted on a random sample of that
  many people (all spells and responses of a sampled person; analysis/sampling.py: a SHA-256 hash
  of the pseudonymised key with `retention.seed`, the same on every rerun). Their rows say so:
  `sample_people` of `eligible_people` (linked people); n_subjects / n_events count the sample,
  and the intervals are those of the sample (wider than with everyone, honestly so). Cronbach's
  alpha for the calibration is that of the sample's responses, the reliability of the scores the
  models use (a random sample of people estimates the same alpha: at 220 million answers the
  calibrated mission hazard ratio moved from 0.7264 to 0.7262, and reading only the sample's
  answers took survival.build from 187 to 115 s).
  The curves, log-rank tests and the team panel use everyone.
- team panel: team engagement in quarter t (mean of respondents' engagement scores, teams with at
  least the minimum group size of respondents) against the team's voluntary exits in quarter t+1,
  Poisson GLM with log person-years (average headcount / 4) as offset and quarter fixed effects;
  `pooled` also compares teams, `team_fixed_effects` only changes within a team. Team-clustered
  standard errors. Uses every response, linked or not.

Privacy: curve points with fewer than `privacy.min_group_size` people at risk, and whole tiers below
it, are suppressed (privacy.gate_flat); models need at least that many subjects and report
n_subjects / n_events. When no response is linked to a person, the individual-level tables hold one
row that says so in `note`, and the log says so too.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from analysis.passes import answers_per_pass, concat_passes, in_passes
from analysis.periods import quarter_end, quarters_between
from analysis.privacy import assert_gated, gate_flat
from analysis.sampling import keep_sampled, sample_people
from analysis.turnover import spell_quarters

log = logging.getLogger("retain")

DRIVERS = ("mission", "recognition", "worklife", "growth", "autonomy", "manager")
SCORES = (*DRIVERS, "engagement")
TIERS = ("low", "mid", "high")
CAUSES = {"voluntary": 1, "involuntary": 2}
OTHER_EXIT = 3
AJ_SEED = 20261122  # lifelines jitters tied event times for Aalen–Johansen: fixed, so reruns are identical

UNLINKED = "no survey response is linked to an employee (anonymous survey): individual-level analysis not run; see team_panel"
UNMATCHED = "no survey response's employee_key matches a spell employed on the response date: individual-level analysis not run; see team_panel"
AT_RISK = "fewer than the minimum group size at risk"
SMALL_TIER = "tier has fewer people than the minimum group size"
TABLE_NAMES = ("km_curves", "km_logrank", "cox_hazard_ratios", "exit12_odds_ratios", "competing_risks_cif", "competing_risks_hr", "team_panel")

F, I, S = pl.Float64, pl.Int64, pl.String
HR_COLUMNS = {"driver": S, "log_hr": F, "se": F, "hr": F, "hr_low": F, "hr_high": F, "p": F, "n_subjects": I, "n_events": I}
# The models' sample (analysis/sampling.py): people whose spells the model was fitted on, of the linked people.
SAMPLE_COLUMNS = {"sample_people": I, "eligible_people": I}
SAMPLED_TABLES = ("cox_hazard_ratios", "exit12_odds_ratios", "competing_risks_hr")
SCHEMAS: dict[str, dict[str, Any]] = {
    "km_curves": {"tier": S, "time_days": I, "at_risk": I, "survival": F, "ci_low": F, "ci_high": F, "n_subjects": I, "n_events": I, "suppressed": S, "note": S},
    "km_logrank": {"test": S, "tier_a": S, "tier_b": S, "n_subjects": I, "n_events": I, "test_statistic": F, "df": I, "p": F, "note": S},
    "cox_hazard_ratios": {"model": S, **HR_COLUMNS, "ph_test_p": F, **SAMPLE_COLUMNS, "note": S},
    "exit12_odds_ratios": {
        "model": S, "horizon_days": I, "driver": S, "log_or": F, "se": F, "odds_ratio": F, "or_low": F, "or_high": F, "p": F,
        "n_responses": I, "n_subjects": I, "n_events": I, "n_clusters": I, **SAMPLE_COLUMNS, "note": S,
    },  # fmt: skip
    "competing_risks_cif": {"cause": S, "tier": S, "time_days": I, "at_risk": I, "cif": F, "ci_low": F, "ci_high": F, "n_subjects": I, "n_events": I, "suppressed": S, "note": S},
    "competing_risks_hr": {"cause": S, "model": S, **HR_COLUMNS, **SAMPLE_COLUMNS, "note": S},
    "team_panel": {
        "model": S, "term": S, "estimate": F, "se": F, "rate_ratio": F, "rr_low": F, "rr_high": F, "p": F,
        "n_teams": I, "n_cells": I, "n_exits": I, "note": S,
    },  # fmt: skip
}


def empty(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMAS[name])


def conform(name: str, rows: list[pl.DataFrame] | pl.DataFrame) -> pl.DataFrame:
    """Rows in the table's documented columns and dtypes (missing columns null)."""
    frames = rows if isinstance(rows, list) else [rows]
    schema = SCHEMAS[name]
    parts = [f.select([(pl.col(c) if c in f.columns else pl.lit(None)).cast(t).alias(c) for c, t in schema.items()]) for f in frames]
    return pl.concat(parts, how="vertical") if parts else empty(name)


def marker(name: str, note: str | None, **values: Any) -> pl.DataFrame:
    """One row of a table saying why there are no estimates (or why a group is hidden)."""
    return conform(name, pl.DataFrame({"note": [note], **{k: [v] for k, v in values.items()}}))


# ================================================================== preparation (Polars, lazy)


def days_between(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_days()


def respondent_scores(responses: pl.LazyFrame, items: pl.LazyFrame) -> pl.LazyFrame:
    """One row per response: its keys and the mean score of each Likert driver (null if unanswered)."""
    likert = items.filter(pl.col("scale") == "likert5").select("item_id", "driver")
    answered = responses.join(likert, on="item_id").filter(pl.col("score").is_not_null())
    # One group_by over the answers: each driver's mean is the mean of a column that holds the
    # score on that driver's answers and null elsewhere (mean skips nulls, so a driver without an
    # answer gets null). A plain aggregation of a computed column, not a filter inside the
    # aggregation (which would hold every answer in the streaming engine: 11 GB instead of 6 GB for
    # 80 million answers); half the time of one group_by per (response, driver) and a join per driver.
    score = pl.col("score").cast(pl.Float64)
    scores = answered.group_by("response_id").agg(
        pl.col("employee_key", "team", "response_date", "wave", "quarter").first(),
        *(pl.when(pl.col("driver") == d).then(score).mean().alias(d) for d in SCORES),
    )
    return scores.sort("response_id")  # group_by returns groups in any order; later sums must not depend on it


def collect_scores(responses: pl.LazyFrame, items: pl.LazyFrame, limit: int) -> pl.DataFrame:
    """respondent_scores collected in passes of whole quarters of at most `limit` answers
    (analysis.passes): memory follows the responses, not the answers; sorted by response_id."""
    scored = in_passes(responses, lambda answers: {"scores": respondent_scores(answers, items)}, limit, "driver scores")
    return concat_passes(scored, "scores").sort("response_id")


def linked_scores(scores: pl.LazyFrame, employees: pl.LazyFrame, end: dt.date) -> pl.LazyFrame:
    """One row per spell and answered wave, with the spell's dates, exit cause and follow-up end.

    `until` is the last day observed (exit_date, or the end of follow-up), `cause` the exit code
    (0 still employed at the end of follow-up).
    """
    in_window = pl.col("exit_date") <= end
    spells = employees.select(
        "employee_key",
        "spell",
        "hire_date",
        pl.when(in_window).then(pl.col("exit_date")).alias("exit_date"),
        pl.when(in_window).then(pl.col("exit_type")).alias("exit_type"),
    )
    cause = (
        pl.when(pl.col("exit_date").is_null()).then(0)
        .when(pl.col("exit_type") == "voluntary").then(CAUSES["voluntary"])
        .when(pl.col("exit_type") == "involuntary").then(CAUSES["involuntary"])
        .otherwise(OTHER_EXIT)
    )  # fmt: skip
    return (
        scores.filter(pl.col("employee_key").is_not_null() & (pl.col("response_date") <= end))
        .join(spells, on="employee_key")
        .filter(
            (pl.col("hire_date") <= pl.col("response_date"))
            & (pl.col("exit_date").is_null() | (pl.col("response_date") <= pl.col("exit_date")))
        )
        .sort("employee_key", "spell", "response_date", "response_id")
        .unique(subset=["employee_key", "spell", "wave"], keep="last", maintain_order=True)
        .with_columns(
            pl.format("{}#{}", "employee_key", "spell").alias("subject"),
            pl.coalesce("exit_date", pl.lit(end)).alias("until"),
            cause.cast(pl.Int8).alias("cause"),
        )
    )


def time_varying_intervals(linked: pl.LazyFrame) -> pl.LazyFrame:
    """Counting-process rows (subject, start, stop] on the tenure clock, one per answered wave.

    An interval opens on the day a response was given (start = tenure in days at that day) and
    closes when the spell's next response opens the next one, or at the end of the spell (the
    last day worked or observed, counted in full: stop = tenure at that day + 1). The exit cause
    sits on the last interval only; the scores are those of the response that opened the interval.
    """
    start = days_between(pl.col("response_date"), pl.col("hire_date"))
    spell_end = days_between(pl.col("until"), pl.col("hire_date")) + 1
    next_start = start.shift(-1).over("subject", order_by="response_date")
    return (
        linked.with_columns(start.alias("start"), next_start.alias("__next"), spell_end.alias("__end"))
        .with_columns(
            pl.coalesce("__next", "__end").alias("stop"),
            pl.when(pl.col("__next").is_null()).then(pl.col("cause")).otherwise(0).cast(pl.Int8).alias("cause"),
        )
        .filter(pl.col("stop") > pl.col("start"))
        .select("subject", "team", "response_date", "start", "stop", "cause", *SCORES)
        .sort("subject", "start")
    )


def engagement_tier(score: pl.Expr, cutoffs: list[float]) -> pl.Expr:
    """low < cutoffs[0] <= mid < cutoffs[1] <= high; null when the score is missing."""
    low, high = cutoffs
    return (
        pl.when(score < low).then(pl.lit("low"))
        .when(score < high).then(pl.lit("mid"))
        .when(score.is_not_null()).then(pl.lit("high"))
    )  # fmt: skip


def first_response(linked: pl.LazyFrame, needed: list[str]) -> pl.LazyFrame:
    """Each spell's first response with every `needed` score, and the days from it to the spell's end."""
    return (
        linked.filter(pl.all_horizontal(pl.col(needed).is_not_null()))
        .sort("subject", "response_date")
        .unique(subset="subject", keep="first", maintain_order=True)
        .with_columns((days_between(pl.col("until"), pl.col("response_date")) + 1).alias("duration"))
        .select("subject", "team", "response_date", "duration", "cause", *SCORES)
    )


def tier_cohort(linked: pl.LazyFrame, cutoffs: list[float]) -> pl.LazyFrame:
    return first_response(linked, ["engagement"]).with_columns(engagement_tier(pl.col("engagement"), cutoffs).alias("tier"))


def exit_within(linked: pl.LazyFrame, end: dt.date, horizon_days: int) -> pl.LazyFrame:
    """Per linked response: `exited` = 1 when the spell's voluntary exit falls within the horizon.

    The window is the response day and the next horizon_days - 1 days. Responses whose window
    outlasts the follow-up with no exit in it are dropped (outcome unknown).
    """
    window_end = pl.col("response_date") + pl.duration(days=horizon_days - 1)
    exit_in = (pl.col("cause") > 0) & (pl.col("until") <= window_end)
    return (
        linked.filter(exit_in | (window_end <= end))
        .with_columns((exit_in & (pl.col("cause") == CAUSES["voluntary"])).cast(pl.Int8).alias("exited"))
        .select("subject", "team", "response_date", "exited", *SCORES)
        .sort("subject", "response_date")
    )


def team_quarter_panel(scores: pl.LazyFrame, employees: pl.LazyFrame, quarters: list[str], min_group_size: int) -> pl.LazyFrame:
    """Team engagement in quarter t beside the team's voluntary exits and person-years in quarter t+1.

    Only team-quarters with at least `min_group_size` respondents (what the privacy gate would show).
    """
    following = pl.LazyFrame({"quarter": quarters[:-1], "next_quarter": quarters[1:]})
    engagement = (
        scores.filter(pl.col("engagement").is_not_null())
        .group_by("team", "quarter")
        .agg(pl.col("response_id").n_unique().alias("respondents"), pl.col("engagement").mean())
        .filter(pl.col("respondents") >= min_group_size)
        .join(following, on="quarter")
    )
    exits = (
        spell_quarters(employees, quarters)
        .group_by("team", "quarter")
        .agg(pl.col("headcount_start", "headcount_end", "voluntary_exits").sum())
        .select(
            "team",
            pl.col("quarter").alias("next_quarter"),
            ((pl.col("headcount_start") + pl.col("headcount_end")) / 8).alias("person_years"),
            "voluntary_exits",
        )
    )
    return (
        engagement.join(exits, on=["team", "next_quarter"])
        .filter(pl.col("person_years") > 0)
        .select("team", "quarter", "next_quarter", "respondents", "engagement", "person_years", "voluntary_exits")
        .sort("team", "quarter")
    )


# ================================================================== model wrappers (pandas at the boundary)


def _ratio_rows(summary: Any, covariates: list[str], prefix: str) -> pl.DataFrame:
    """Per covariate: log ratio, se, ratio, 95% interval, p, from a lifelines summary frame."""
    s = summary.loc[covariates]
    return pl.DataFrame(
        {
            "driver": covariates,
            f"log_{prefix}": s["coef"].to_numpy(float),
            "se": s["se(coef)"].to_numpy(float),
            prefix: s["exp(coef)"].to_numpy(float),
            f"{prefix}_low": s["exp(coef) lower 95%"].to_numpy(float),
            f"{prefix}_high": s["exp(coef) upper 95%"].to_numpy(float),
            "p": s["p"].to_numpy(float),
        }
    )


def cox_hazard_ratios(
    data: pl.DataFrame,
    *,
    duration: str,
    event: str,
    covariates: list[str],
    entry: str | None = None,
    ph_test: bool = False,
) -> pl.DataFrame:
    """Cox proportional hazards (lifelines CoxPHFitter, Efron ties): one row per covariate.

    Columns: driver (the covariate), log_hr, se, hr = exp(log_hr), hr_low, hr_high (95%), p,
    n_subjects, n_events and, with ph_test, ph_test_p (Grambsch–Therneau on rank(time)).
    Rows with a missing value in any column used are left out.
    """
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    used = [duration, event, *([entry] if entry else []), *covariates]
    frame = data.select(used).drop_nulls().to_pandas()
    model = CoxPHFitter().fit(frame, duration_col=duration, event_col=event, entry_col=entry)
    rows = _ratio_rows(model.summary, covariates, "hr").with_columns(
        pl.lit(len(frame), pl.Int64).alias("n_subjects"), pl.lit(int(frame[event].sum()), pl.Int64).alias("n_events")
    )
    if ph_test:
        test = proportional_hazard_test(model, frame, time_transform="rank").summary
        rows = rows.with_columns(pl.Series("ph_test_p", test.loc[covariates, "p"].to_numpy(float)))
    return rows


def time_varying_hazard_ratios(intervals: pl.DataFrame, *, event: str, covariates: list[str], start: np.ndarray | None = None) -> pl.DataFrame:
    """Cox model on counting-process rows (subject, start, stop] (lifelines CoxTimeVaryingFitter).

    Same columns as cox_hazard_ratios; n_subjects counts distinct subjects. start: log hazard
    ratios (one per covariate) for Newton-Raphson to start from instead of zero: the same
    maximum, reached in fewer steps when the start is close to it.
    """
    from lifelines import CoxTimeVaryingFitter

    frame = intervals.select("subject", "start", "stop", event, *covariates).drop_nulls().to_pandas()
    # lifelines iterates on covariates divided by their standard deviation: so is its start
    initial = None if start is None else np.asarray(start, dtype=float) * frame[covariates].std(axis=0).to_numpy(float)
    model = CoxTimeVaryingFitter().fit(frame, event_col=event, start_col="start", stop_col="stop", id_col="subject", initial_point=initial)
    return _ratio_rows(model.summary, covariates, "hr").with_columns(
        pl.lit(frame["subject"].nunique(), pl.Int64).alias("n_subjects"), pl.lit(int(frame[event].sum()), pl.Int64).alias("n_events")
    )


def logistic_odds_ratios(data: pl.DataFrame, *, outcome: str, covariates: list[str], cluster: str, subject: str) -> pl.DataFrame:
    """Logistic regression (statsmodels GLM Binomial) with cluster-robust (sandwich) standard errors.

    One row per covariate: log_or, se, odds_ratio, or_low, or_high (95%), p, plus n_responses
    (rows), n_subjects (distinct `subject`), n_events and n_clusters.
    """
    import statsmodels.api as sm

    frame = data.select(outcome, cluster, subject, *covariates).drop_nulls()
    groups = frame.select(pl.col(cluster).rank("dense")).to_series().to_numpy()
    design = sm.add_constant(frame.select(covariates).to_numpy().astype(float), has_constant="add")
    fit = sm.GLM(frame[outcome].to_numpy().astype(float), design, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    low, high = fit.conf_int()[1:].T
    return pl.DataFrame(
        {
            "driver": covariates,
            "log_or": fit.params[1:],
            "se": fit.bse[1:],
            "odds_ratio": np.exp(fit.params[1:]),
            "or_low": np.exp(low),
            "or_high": np.exp(high),
            "p": fit.pvalues[1:],
        }
    ).with_columns(
        pl.lit(frame.height, pl.Int64).alias("n_responses"),
        pl.lit(frame[subject].n_unique(), pl.Int64).alias("n_subjects"),
        pl.lit(int(frame[outcome].sum()), pl.Int64).alias("n_events"),
        pl.lit(int(groups.max()) if len(groups) else 0, pl.Int64).alias("n_clusters"),
    )


def poisson_rate_ratios(
    data: pl.DataFrame, *, outcome: str, exposure: str, term: str, fixed_effects: list[str], cluster: str
) -> pl.DataFrame:
    """Poisson GLM of counts on `term` with log(exposure) offset and fixed effects, cluster-robust SEs.

    One row for `term`: estimate (log rate ratio per unit), se, rate_ratio, rr_low, rr_high, p.
    """
    import statsmodels.api as sm

    columns = [pl.col(term).cast(pl.Float64)]
    for effect in fixed_effects:
        levels = sorted(data[effect].unique().to_list())
        columns += [(pl.col(effect) == level).cast(pl.Float64).alias(f"{effect}={level}") for level in levels[1:]]
    design = sm.add_constant(data.select(columns).to_numpy(), has_constant="add")
    groups = data.select(pl.col(cluster).rank("dense")).to_series().to_numpy()
    fit = sm.GLM(
        data[outcome].to_numpy().astype(float), design, family=sm.families.Poisson(), offset=np.log(data[exposure].to_numpy())
    ).fit(cov_type="cluster", cov_kwds={"groups": groups})
    low, high = fit.conf_int()[1]
    return pl.DataFrame(
        {
            "term": [term],
            "estimate": [fit.params[1]],
            "se": [fit.bse[1]],
            "rate_ratio": [float(np.exp(fit.params[1]))],
            "rr_low": [float(np.exp(low))],
            "rr_high": [float(np.exp(high))],
            "p": [fit.pvalues[1]],
        }
    )


# ================================================================== measurement error


def cronbach_alpha(responses: pl.LazyFrame, items: pl.LazyFrame, drivers: tuple[str, ...] = DRIVERS) -> pl.LazyFrame:
    """Cronbach's alpha per driver over the responses answering all its items (null for one-item drivers).

    alpha = k/(k-1) * (1 - sum_i var(item_i) / var(sum of items)). With n complete responses every
    variance is (n * sum x^2 - (sum x)^2) / (n (n - 1)), so the ratio is computed from integer
    sums: exact, and the same whatever order the rows arrive in (or passes they are summed over).
    """
    totals, per_item = alpha_sums(responses, items, drivers)
    return alpha_from_sums(totals, per_item)


def alpha_sums(responses: pl.LazyFrame, items: pl.LazyFrame, drivers: tuple[str, ...] = DRIVERS) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The integer sums behind cronbach_alpha: per driver (and its item count k) n, st, stt of the
    complete responses' item totals; per driver and item sx, sxx. Sums of passes add up exactly."""
    likert = items.filter((pl.col("scale") == "likert5") & pl.col("driver").is_in(list(drivers))).select("item_id", "driver")
    answers = responses.join(likert, on="item_id").filter(pl.col("score").is_not_null()).with_columns(pl.col("score").cast(pl.Int64))
    k_items = likert.group_by("driver").agg(pl.len().alias("k"))
    complete = (
        answers.group_by("response_id", "driver")
        .agg(pl.col("score").sum().alias("total"), pl.len().alias("answered"))
        .join(k_items, on="driver")
        .filter(pl.col("answered") == pl.col("k"))
    )
    per_item = (
        answers.join(complete.select("response_id", "driver"), on=["response_id", "driver"])
        .group_by("driver", "item_id")
        .agg(pl.col("score").sum().alias("sx"), (pl.col("score") ** 2).sum().alias("sxx"))
    )
    totals = complete.group_by("driver", "k").agg(pl.len().cast(pl.Int64).alias("n"), pl.col("total").sum().alias("st"), (pl.col("total") ** 2).sum().alias("stt"))
    return totals, per_item


def alpha_from_sums(totals: pl.LazyFrame, per_item: pl.LazyFrame) -> pl.LazyFrame:
    """Cronbach's alpha per driver from alpha_sums (of one pass, or of several stacked)."""
    totals = totals.group_by("driver", "k").agg(pl.col("n", "st", "stt").sum())
    per_item = (
        per_item.group_by("driver", "item_id")
        .agg(pl.col("sx", "sxx").sum())
        .group_by("driver")
        .agg((pl.col("sxx").sum()).alias("item_sxx"), (pl.col("sx") ** 2).sum().alias("item_sx2"))
    )
    n = pl.col("n")
    return (
        totals.join(per_item, on="driver")
        .with_columns(
            pl.when((pl.col("k") > 1) & (n * pl.col("stt") > pl.col("st") ** 2))
            .then(
                pl.col("k") / (pl.col("k") - 1)
                * (1 - (n * pl.col("item_sxx") - pl.col("item_sx2")) / (n * pl.col("stt") - pl.col("st") ** 2))
            )
            .alias("alpha")
        )
        .select("driver", "alpha")
        .sort("driver")
    )


def calibration(frame: pl.DataFrame, covariates: list[str], reliability: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Regression calibration's mean mu and slope S_X S_W^-1: E[X | W] = mu + slope (W - mu).

    S_W is the observed covariance of the scores (rows with all of them), S_U is diagonal with
    (1 - reliability) x var(W_d), S_X = S_W - S_U.
    """
    complete = frame.select(covariates).drop_nulls().to_numpy().astype(float)
    mu = complete.mean(axis=0)
    s_w = np.atleast_2d(np.cov(complete, rowvar=False))
    s_u = np.diag([(1 - reliability[c]) * s_w[i, i] for i, c in enumerate(covariates)])
    return mu, (s_w - s_u) @ np.linalg.inv(s_w)


def calibrate(
    frame: pl.DataFrame, covariates: list[str], reliability: dict[str, float], fitted: tuple[np.ndarray, np.ndarray] | None = None
) -> pl.DataFrame:
    """Regression calibration: replace observed scores W by E[X | W] (`calibration`, or its
    `fitted` mean and slope when the caller has them). Rows with a missing score stay missing."""
    mu, slope = calibration(frame, covariates, reliability) if fitted is None else fitted
    observed = frame.select(covariates).to_numpy().astype(float)
    predicted = mu + (observed - mu) @ slope.T
    return frame.with_columns([pl.Series(c, predicted[:, i], nan_to_null=True) for i, c in enumerate(covariates)])


# ================================================================== curves


def _step_at(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Right-continuous step function through (times, values), evaluated at `at` (times sorted)."""
    index = np.searchsorted(times, at, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], np.nan)


def _curve_grid(durations: np.ndarray, step_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid days 0, step, 2 step, ... up to the longest duration, and the people followed beyond each."""
    grid = np.arange(0, int(durations.max()) + 1, step_days)
    at_risk = (durations[None, :] > grid[:, None]).sum(axis=1)
    return grid, at_risk


def _tier_curves(name: str, cohort: pl.DataFrame, estimate: Any, *, value: str, step_days: int, min_group_size: int, **keys: Any) -> pl.DataFrame:
    """One curve per tier on the grid, privacy-gated on the people at risk.

    estimate(durations, causes, at) -> (value, ci_low, ci_high, events) evaluated at the times
    `at`. All durations are whole days, so evaluating at t + 0.5 counts exactly the exits on days
    <= t (and is immune to the sub-day jitter lifelines adds to tied times).
    """
    parts = []
    for tier in TIERS:
        group = cohort.filter(pl.col("tier") == tier)
        if group.height < min_group_size:
            log.warning("%s %s: tier %s has %d people, fewer than %d: suppressed", name, keys, tier, group.height, min_group_size)
            parts.append(marker(name, None, tier=tier, suppressed=SMALL_TIER, **keys))
            continue
        durations, causes = group["duration"].to_numpy(), group["cause"].to_numpy()
        grid, at_risk = _curve_grid(durations, step_days)
        level, low, high, events = estimate(durations, causes, grid + 0.5)
        curve = pl.DataFrame(
            {"tier": tier, "time_days": grid, "at_risk": at_risk, value: level, "ci_low": low, "ci_high": high, "n_subjects": group.height, "n_events": events},
            nan_to_null=True,
        ).with_columns([pl.lit(v).alias(k) for k, v in keys.items()])
        parts.append(conform(name, curve))
    gated = gate_flat(conform(name, parts), size="at_risk", values=[value, "ci_low", "ci_high"], min_group_size=min_group_size, reason=AT_RISK)
    assert_gated(gated, "at_risk", min_group_size)
    return gated


def kaplan_meier(durations: np.ndarray, causes: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Survival from voluntary exit (other exits censor) at `at`, with lifelines' 95% band (exponential Greenwood)."""
    from lifelines import KaplanMeierFitter

    voluntary = causes == CAUSES["voluntary"]
    kmf = KaplanMeierFitter().fit(durations, event_observed=voluntary)
    times = kmf.survival_function_.index.to_numpy(float)
    bands = kmf.confidence_interval_survival_function_.to_numpy(float)
    survival = _step_at(times, kmf.survival_function_.iloc[:, 0].to_numpy(float), at)
    return survival, _step_at(times, bands[:, 0], at), _step_at(times, bands[:, 1], at), int(voluntary.sum())


def aalen_johansen(code: int) -> Any:
    """Cumulative incidence of exit cause `code` (other exits compete), lifelines' 95% band (0 before the first exit)."""

    def estimate(durations: np.ndarray, causes: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        from lifelines import AalenJohansenFitter

        events = int((causes == code).sum())
        if events == 0:
            zeros = np.zeros(len(at))
            return zeros, zeros, zeros, 0
        state = np.random.get_state()  # lifelines seeds NumPy's global generator for its jitter
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Tied event times")
                ajf = AalenJohansenFitter(seed=AJ_SEED).fit(durations, causes, event_of_interest=code)
        finally:
            np.random.set_state(state)
        times = ajf.cumulative_density_.index.to_numpy(float)
        bands = np.nan_to_num(ajf.confidence_interval_.to_numpy(float), nan=0.0)
        cif = _step_at(times, ajf.cumulative_density_.iloc[:, 0].to_numpy(float), at)
        return cif, _step_at(times, bands[:, 0], at), _step_at(times, bands[:, 1], at), events

    return estimate


def km_curves(cohort: pl.DataFrame, *, step_days: int, min_group_size: int) -> pl.DataFrame:
    """Kaplan–Meier survival from voluntary exit per tier, every step_days days since the tier was measured.

    At grid day t: survival S(t) (voluntary exits on days <= t counted), its 95% interval,
    at_risk = people still followed after day t. Points with fewer than min_group_size at risk
    are suppressed; so is a whole tier below it (one marker row).
    """
    return _tier_curves("km_curves", cohort, kaplan_meier, value="survival", step_days=step_days, min_group_size=min_group_size)


def logrank_tests(cohort: pl.DataFrame, *, min_group_size: int) -> pl.DataFrame:
    """Log-rank tests of voluntary exit between the tiers shown: all together, then each pair."""
    from lifelines.statistics import logrank_test, multivariate_logrank_test

    shown = [t for t in TIERS if cohort.filter(pl.col("tier") == t).height >= min_group_size]
    if len(shown) < 2:
        return marker("km_logrank", f"not tested: fewer than two tiers with at least {min_group_size} people")
    rows = []
    groups = [("all tiers", None, None, shown)] + [("pairwise", a, b, [a, b]) for a, b in combinations(shown, 2)]
    for test, tier_a, tier_b, tiers in groups:
        group = cohort.filter(pl.col("tier").is_in(tiers))
        voluntary = (group["cause"] == CAUSES["voluntary"]).to_numpy()
        if tier_b is None:
            result = multivariate_logrank_test(group["duration"].to_numpy(), group["tier"].to_numpy(), voluntary)
        else:
            a = (group["tier"] == tier_a).to_numpy()
            result = logrank_test(group["duration"].to_numpy()[a], group["duration"].to_numpy()[~a], voluntary[a], voluntary[~a])
        rows.append(
            {
                "test": test,
                "tier_a": tier_a,
                "tier_b": tier_b,
                "n_subjects": group.height,
                "n_events": int(voluntary.sum()),
                "test_statistic": float(result.test_statistic),
                "df": int(result.degrees_of_freedom),
                "p": float(result.p_value),
            }
        )
    return conform("km_logrank", pl.DataFrame(rows))


def cumulative_incidence(cohort: pl.DataFrame, *, step_days: int, min_group_size: int) -> pl.DataFrame:
    """Aalen–Johansen cumulative incidence of each exit cause per tier (the other causes compete).

    Same grid, clock, at-risk definition and suppression as km_curves.
    """
    curves = [
        _tier_curves("competing_risks_cif", cohort, aalen_johansen(code), value="cif", step_days=step_days, min_group_size=min_group_size, cause=cause)
        for cause, code in CAUSES.items()
    ]
    return pl.concat(curves)


# ================================================================== the analyses


def _shortage(n_subjects: int, n_events: int, min_group_size: int) -> str | None:
    """Why a model cannot be estimated on these numbers (None when it can)."""
    if n_subjects < min_group_size:
        return f"not estimated: {n_subjects} subjects, fewer than the minimum group size {min_group_size}"
    if n_events == 0:
        return "not estimated: no events"
    return None


def _estimate(name: str, keys: dict[str, Any], shortage: str | None, counts: dict[str, int], fit: Any, *args: Any, **kwargs: Any) -> pl.DataFrame:
    """fit(*args, **kwargs) labelled with `keys`, or one marker row saying why not (logged, never silent)."""
    if shortage is None:
        try:
            return conform(name, fit(*args, **kwargs).with_columns([pl.lit(v).alias(k) for k, v in keys.items()]))
        except Exception as exc:  # a model that does not converge is reported in its table, not a failed run
            shortage = f"not estimated: {type(exc).__name__}: {exc}"
    log.warning("%s %s: %s", name, keys, shortage)
    return marker(name, shortage, **keys, **counts)


def _counts(frame: pl.DataFrame, covariates: list[str], event: str) -> dict[str, int]:
    """Subjects and events in the complete cases of a model."""
    complete = frame.filter(pl.all_horizontal(pl.col(covariates).is_not_null()))
    return {"n_subjects": complete["subject"].n_unique(), "n_events": int(complete[event].sum() or 0)}


def _cox_or_explain(name: str, keys: dict[str, Any], frame: pl.DataFrame, event: str, covariates: list[str], min_group_size: int, fit: Any, **kwargs: Any) -> pl.DataFrame:
    counts = _counts(frame, covariates, event)
    shortage = _shortage(counts["n_subjects"], counts["n_events"], min_group_size)
    return _estimate(name, keys, shortage, counts, fit, frame, event=event, covariates=covariates, **kwargs)


def _in_driver_order(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per driver, in the order of DRIVERS (the order the models list them)."""
    return rows.sort(pl.col("driver").replace_strict({d: i for i, d in enumerate(DRIVERS)}, return_dtype=pl.Int8))


def hazard_ratio_table(intervals: pl.DataFrame, snapshot: pl.DataFrame, alpha: dict[str, float | None], min_group_size: int) -> pl.DataFrame:
    """cox_hazard_ratios: time-varying (as measured, and calibrated) and first-response snapshot models."""
    drivers = list(DRIVERS)
    voluntary = (pl.col("cause") == CAUSES["voluntary"]).cast(pl.Int8).alias("voluntary")
    intervals, snapshot = intervals.with_columns(voluntary), snapshot.with_columns(voluntary)
    name = "cox_hazard_ratios"
    snap = _cox_or_explain(name, {"model": "first_response"}, snapshot, "voluntary", drivers, min_group_size, cox_hazard_ratios, duration="duration", ph_test=True)
    tv = _cox_or_explain(name, {"model": "time_varying"}, intervals, "voluntary", drivers, min_group_size, time_varying_hazard_ratios)
    if all(alpha.get(d) is not None and 0 < alpha[d] < 1 for d in drivers):
        # The calibrated scores are a linear map of the observed ones, x = mu + slope (w - mu), so
        # the calibrated model's partial likelihood at b is the observed model's at slope' b (Cox
        # ignores the constant) and its maximum is solve(slope', b_observed): Newton starts there
        # and stops after a step or two. It is still fitted, so its standard errors are lifelines'.
        # Without a usable start (no estimate, a singular slope) Newton starts at zero as usual.
        fitted = calibration(intervals, drivers, alpha)
        observed = tv.filter(pl.col("driver").is_not_null())
        start = None
        if observed.height == len(drivers):
            try:
                start = np.linalg.solve(fitted[1].T, _in_driver_order(observed)["log_hr"].to_numpy())
            except np.linalg.LinAlgError:
                start = None
            if start is not None and not np.isfinite(start).all():
                start = None
        calibrated = _cox_or_explain(
            name, {"model": "time_varying_calibrated"}, calibrate(intervals, drivers, alpha, fitted), "voluntary", drivers, min_group_size, time_varying_hazard_ratios, start=start
        )
    else:
        calibrated = _estimate(name, {"model": "time_varying_calibrated"}, f"not estimated: Cronbach's alpha unusable for a driver ({alpha})", {}, None)
    ph = snap.select("driver", pl.col("ph_test_p").alias("__ph")).filter(pl.col("driver").is_not_null())
    tv = pl.concat([tv, calibrated]).join(ph, on="driver", how="left", maintain_order="left").with_columns(pl.col("__ph").alias("ph_test_p")).drop("__ph")
    return conform(name, [tv, snap])


def exit_within_table(rows: pl.DataFrame, horizon_days: int, min_group_size: int) -> pl.DataFrame:
    """exit12_odds_ratios: engagement alone, then the six drivers together."""
    parts = []
    for model, covariates in (("engagement", ["engagement"]), ("drivers", list(DRIVERS))):
        counts = _counts(rows, covariates, "exited")
        parts.append(
            _estimate(
                "exit12_odds_ratios", {"model": model, "horizon_days": horizon_days},
                _shortage(counts["n_subjects"], counts["n_events"], min_group_size), counts,
                logistic_odds_ratios, rows, outcome="exited", covariates=covariates, cluster="team", subject="subject",
            )
        )  # fmt: skip
    return conform("exit12_odds_ratios", parts)


def competing_hazard_table(intervals: pl.DataFrame, min_group_size: int, voluntary_drivers: pl.DataFrame | None = None) -> pl.DataFrame:
    """competing_risks_hr: cause-specific time-varying Cox per exit cause (the other exits censor).

    voluntary_drivers: cox_hazard_ratios' time_varying rows, when estimated: the same model as
    voluntary exits on the six drivers here (same intervals, other exits censor), not fitted twice.
    """
    parts = []
    for cause, code in CAUSES.items():
        frame = intervals.with_columns((pl.col("cause") == code).cast(pl.Int8).alias("event"))
        for model, covariates in (("engagement", ["engagement"]), ("drivers", list(DRIVERS))):
            keys = {"cause": cause, "model": model}
            if (cause, model) == ("voluntary", "drivers") and voluntary_drivers is not None:
                parts.append(conform("competing_risks_hr", _in_driver_order(voluntary_drivers).select(list(HR_COLUMNS)).with_columns([pl.lit(v).alias(k) for k, v in keys.items()])))
                continue
            parts.append(_cox_or_explain("competing_risks_hr", keys, frame, "event", covariates, min_group_size, time_varying_hazard_ratios))
    return conform("competing_risks_hr", parts)


def team_panel_table(panel: pl.DataFrame) -> pl.DataFrame:
    """team_panel: rate ratio of next-quarter voluntary exits per point of team engagement."""
    counts = {"n_teams": panel["team"].n_unique(), "n_cells": panel.height, "n_exits": int(panel["voluntary_exits"].sum() or 0)}
    shortage = None
    if counts["n_teams"] < 2 or counts["n_exits"] == 0:
        shortage = f"not estimated: {counts['n_teams']} team(s) with enough respondents, {counts['n_exits']} exits"
    parts = [
        _estimate(
            "team_panel", {"model": model, "term": "engagement", **counts}, shortage, {},
            poisson_rate_ratios, panel, outcome="voluntary_exits", exposure="person_years", term="engagement", fixed_effects=effects, cluster="team",
        )
        for model, effects in (("pooled", ["quarter"]), ("team_fixed_effects", ["quarter", "team"]))
    ]  # fmt: skip
    return conform("team_panel", parts)


def _stacked_alpha_sums(responses: pl.LazyFrame, ids: pl.DataFrame, items: pl.LazyFrame, limit: int) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """alpha_sums of the responses `ids` (the models' linked responses) in every pass, stacked
    (alpha_from_sums adds them up)."""
    wanted = ids.lazy()

    def sums_of(answers: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
        return dict(zip(("totals", "per_item"), alpha_sums(answers.join(wanted, on="response_id", how="semi"), items), strict=True))

    sums = in_passes(responses, sums_of, limit, "alpha sums")
    return concat_passes(sums, "totals").lazy(), concat_passes(sums, "per_item").lazy()


def build(employees: pl.LazyFrame, responses: pl.LazyFrame, items: pl.LazyFrame, config: dict[str, Any]) -> dict[str, pl.DataFrame]:
    """Every survival table (docs/tables.md), privacy-gated; the one collect of the preparation is here."""
    settings = config["retention"]
    low, high = settings["tier_cutoffs"]
    if not low < high:
        raise ValueError(f"retention.tier_cutoffs: the first cut-off ({low}) must be below the second ({high})")
    min_n = config["privacy"]["min_group_size"]
    end = quarter_end(config["period"]["end"])
    quarters = quarters_between(config["period"]["start"], config["period"]["end"])
    # The driver scores, one row per response, are collected once (in passes of whole quarters,
    # analysis.passes, so memory follows the responses, not the answers); the model inputs are
    # built from them.
    limit = answers_per_pass(config)
    scores = collect_scores(responses, items, limit).lazy()
    linked_frame = linked_scores(scores, employees, end).collect()
    linked = linked_frame.lazy()
    # The Cox and logistic models (lifelines, statsmodels: in memory) use a
    # random sample of people above retention.max_people (alpha for the calibration too); curves and tests use everyone.
    eligible = linked_frame.get_column("employee_key").n_unique()
    kept = sample_people(linked_frame.get_column("employee_key"), settings.get("max_people"), settings.get("seed"))
    sample = {"sample_people": eligible if kept is None else kept.len(), "eligible_people": eligible}
    if kept is not None:
        log.info("models fitted on a random sample of %d of %d linked people (retention.max_people)", kept.len(), eligible)
    sampled = keep_sampled(linked, "employee_key", kept)
    sampled_ids = sampled.select("response_id").collect()
    lazy = {
        "intervals": time_varying_intervals(sampled),
        "snapshot": first_response(sampled, list(DRIVERS)),
        "cohort": tier_cohort(linked, settings["tier_cutoffs"]),
        "exit_rows": exit_within(sampled, end, settings["horizon_days"]),
        "panel": team_quarter_panel(scores, employees, quarters, min_n),
        "alpha": alpha_from_sums(*_stacked_alpha_sums(responses, sampled_ids, items, limit)),
        "counts": scores.select(pl.len().alias("responses"), pl.col("employee_key").is_not_null().sum().alias("keyed")),
        "linked": linked.select(pl.len().alias("linked"), pl.col("subject").n_unique().alias("spells")),
    }
    frames = dict(zip(lazy, pl.collect_all(list(lazy.values())), strict=True))
    counts = frames["counts"].row(0, named=True) | frames["linked"].row(0, named=True)
    log.info(
        "%d responses, %d with an employee_key, %d linked to %d spells (one per spell and wave); %d time-varying intervals in the models' sample",
        counts["responses"], counts["keyed"], counts["linked"], counts["spells"], frames["intervals"].height,
    )  # fmt: skip
    tables = {"team_panel": team_panel_table(frames["panel"])}
    if frames["intervals"].height == 0:
        note = UNLINKED if counts["keyed"] == 0 else UNMATCHED
        log.warning("survival: %s", note)
        for name in TABLE_NAMES[:-1]:
            tables[name] = marker(name, note)
        return {name: tables[name] for name in TABLE_NAMES}
    alpha = dict(frames["alpha"].iter_rows())
    log.info("Cronbach's alpha per driver: %s", {k: round(v, 3) for k, v in alpha.items() if v is not None})
    cohort = frames["cohort"].filter(pl.col("tier").is_not_null())
    tables["km_curves"] = km_curves(cohort, step_days=settings["curve_step_days"], min_group_size=min_n)
    tables["km_logrank"] = logrank_tests(cohort, min_group_size=min_n)
    tables["competing_risks_cif"] = cumulative_incidence(cohort, step_days=settings["curve_step_days"], min_group_size=min_n)
    tables["cox_hazard_ratios"] = hazard_ratio_table(frames["intervals"], frames["snapshot"], alpha, min_n)
    tables["exit12_odds_ratios"] = exit_within_table(frames["exit_rows"], settings["horizon_days"], min_n)
    estimated = tables["cox_hazard_ratios"].filter((pl.col("model") == "time_varying") & pl.col("driver").is_not_null())
    tables["competing_risks_hr"] = competing_hazard_table(frames["intervals"], min_n, estimated if estimated.height == len(DRIVERS) else None)
    for name in SAMPLED_TABLES:
        tables[name] = tables[name].with_columns(pl.lit(v, pl.Int64).alias(k) for k, v in sample.items())
    return {name: tables[name] for name in TABLE_NAMES}


def run_rule(input: Any, output: Any, config: dict[str, Any]) -> None:
    """The `fit_survival` rule: canonical tables in, the seven survival tables out."""
    tables = build(pl.scan_parquet(input.employees), pl.scan_parquet(input.responses), pl.scan_parquet(input.catalogue), config)
    for name, table in tables.items():
        table.write_parquet(getattr(output, name))
        log.info("%s: %d rows", name, table.height)
