"""Do the programmes work? Staggered-adoption difference-in-differences per programme type.

Design. Units are teams, time is the quarters of the configured period (1..Q). A team's cohort
g for a programme type is the quarter of the first start date of any programme of that type in
the team; treatment is taken as absorbing from then on (a programme replaced by another of the
same type continues it; a programme that ends for good is still counted as treated, i.e. the
estimand is the effect of having started the programme, and the run log names such teams).
Teams that started before the period cannot be evaluated and are left out; teams that never
start within the period are never-treated controls.

Outcomes, per team and quarter, from the canonical tables:
- voluntary_turnover: voluntary exits / average headcount x 4, built from the same per-spell
  quarter rows as the turnover table (analysis.turnover.spell_quarters);
- driver_score: mean over the quarter's respondents of their mean score on the items of the
  programme's matching driver (programmes.drivers; mission -> mission, ...), as in the
  engagement table (analysis.engagement.driver_scores).

Estimator (Callaway & Sant'Anna 2021, through the `differences` package): for every cohort g
and quarter t, ATT(g,t) = (mean change of cohort g's teams from the base quarter b to t) -
(mean change of the control teams over the same quarters), with b = g - 1 for t >= g and
b = t - 1 for t < g (pre-period placebo estimates), and as controls the teams never treated or
not yet treated by max(t, b) (programmes.control_group). No covariates (outcome-regression DiD
reduces to the plain difference of means). Aggregations: `simple` = average of the post-period
ATT(g,t) weighted by cohort size, i.e. the mean effect over treated team-quarters; `dynamic` =
the event-study curve ATT(e), e = t - g, averaged over e >= 0; `cohort` = each cohort's mean over
its post quarters, and `cohort_average` = their cohort-size-weighted mean.

Inference uses the package's influence functions, which cluster by team. With
programmes.bootstrap_reps = 0 the standard errors are analytic, sqrt(sum IF^2) / G scaled by
sqrt(G / (G - 1)) (the usual CR1 small-sample factor, G teams), and intervals use a Student t
critical value with G - 1 degrees of freedom: with 12 teams the package's plain normal interval
under-covers noticeably; with bootstrap_reps > 0 the package's multiplier
(Rademacher) bootstrap gives the standard errors and the critical values, which for the event
study form a uniform band over all event times. The bootstrap seed is programmes.seed.

Pre-trends: a joint test that the event-study ATT(e) for e = -1 .. -programmes.pretrend_window
are all zero, with their influence-function covariance V: W = b' V^-1 b, referred to Hotelling's
small-sample F: F = W (G - q) / (q G) ~ F(q, G - q), G teams, q pre-periods tested.

For comparison only, a static two-way fixed-effects regression (team and quarter effects, one
treated-after-start dummy, standard errors clustered by team) is reported as estimand `twfe`. It
is biased under staggered adoption when effects differ by cohort or grow over time (already
treated teams serve as controls), which is why it is not the headline estimate.

Privacy: estimation panels keep only team-quarter cells with at least privacy.min_group_size
people (headcount for turnover, respondents for driver scores; smaller cells are dropped before
estimation and counted in the log), so every number written is an aggregate over cells each of
at least that size; no cell-level value is written.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from analysis.engagement import driver_scores
from analysis.passes import ANSWERS_PER_PASS, answers_per_pass, concat_passes, in_passes
from analysis.periods import parse_quarter, quarter_end, quarters_between
from analysis.privacy import check_min_group_size
from analysis.turnover import spell_quarters

log = logging.getLogger("retain")

OUTCOMES = {
    "voluntary_turnover": "share per year",
    "driver_score": "points (1-5)",
}
ESTIMANDS = ("simple", "dynamic", "cohort_average", "cohort", "twfe")

ESTIMATE = {"att": pl.Float64, "se": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64}
EFFECTS_SCHEMA = {
    "intervention": pl.String,
    "outcome": pl.String,
    "unit": pl.String,
    "estimand": pl.String,
    "cohort": pl.String,
    **ESTIMATE,
    "p_value": pl.Float64,
    "n_teams": pl.Int64,
    "n_treated_teams": pl.Int64,
    "n_control_teams": pl.Int64,
    "team_quarters": pl.Int64,
    "pretrend_stat": pl.Float64,
    "pretrend_df": pl.Int64,
    "pretrend_p": pl.Float64,
    "max_abs_pre_att": pl.Float64,
    "method": pl.String,
    "control_group": pl.String,
    "inference": pl.String,
    "note": pl.String,
}
EVENT_SCHEMA = {
    "intervention": pl.String,
    "outcome": pl.String,
    "event_time": pl.Int64,
    **ESTIMATE,
    "n_treated_teams": pl.Int64,
    "band": pl.String,
}
GROUP_TIME_SCHEMA = {
    "intervention": pl.String,
    "outcome": pl.String,
    "cohort": pl.String,
    "quarter": pl.String,
    "base_quarter": pl.String,
    "event_time": pl.Int64,
    **ESTIMATE,
    "n_treated_teams": pl.Int64,
    "n_control_teams": pl.Int64,
}

CS_METHOD = "Callaway-Sant'Anna ATT(g,t), outcome-regression DiD without covariates, varying base period (differences {version})"
TWFE_METHOD = "two-way fixed effects OLS (biased under staggered adoption with heterogeneous effects; comparison only)"


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class DidSettings:
    """How the staggered DiD is estimated (the config's `programmes` section, minus the outcomes)."""

    control_group: str = "not_yet_treated"
    alpha: float = 0.05
    bootstrap_reps: int = 0
    seed: int = 20261122
    pretrend_window: int = 4

    def __post_init__(self) -> None:
        if self.control_group not in ("not_yet_treated", "never_treated"):
            raise ValueError(f"programmes.control_group must be not_yet_treated or never_treated, not {self.control_group!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"programmes.alpha must lie in (0, 1), not {self.alpha}")
        if self.bootstrap_reps < 0:
            raise ValueError("programmes.bootstrap_reps must be >= 0")
        # the package treats a falsy random_state as "unseeded"
        if self.bootstrap_reps and self.seed <= 0:
            raise ValueError("programmes.seed must be a positive integer when bootstrapping")

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> DidSettings:
        return cls(
            control_group=section["control_group"],
            alpha=section["alpha"],
            bootstrap_reps=section["bootstrap_reps"],
            seed=section["seed"],
            pretrend_window=section["pretrend_window"],
        )

    @property
    def inference(self) -> str:
        if self.bootstrap_reps:
            return f"multiplier bootstrap (Rademacher, {self.bootstrap_reps} draws, seed {self.seed}), clustered by team"
        return "analytic influence-function standard errors clustered by team (CR1: x sqrt(G / (G - 1))); t(G - 1) critical value"


# ------------------------------------------------------------------ estimator


@dataclass
class DidResult:
    """One staggered DiD: group-time effects, event study, aggregates and the pre-trend test."""

    group_time: pl.DataFrame  # cohort, period, base_period, event_time, att, se, ci_low, ci_high, n_treated_teams, n_control_teams
    event_study: pl.DataFrame  # event_time, att, se, ci_low, ci_high, n_treated_teams, band
    aggregates: pl.DataFrame  # estimand, cohort (period), att, se, ci_low, ci_high, p_value, n_treated_teams, n_control_teams
    pretrend: dict[str, float | int | None]
    n_teams: int
    team_quarters: int
    method: str
    dropped: dict[str, list] = field(default_factory=dict)


def _ntl(model: Any, aggregation: str | None = None, overall: bool = False) -> list:
    return model.results(type_of_aggregation=aggregation, overall=overall, to_dataframe=False)["full_sample"]


def _dense(influence_func: Any) -> np.ndarray:
    return np.asarray(influence_func.toarray() if hasattr(influence_func, "toarray") else influence_func, dtype=float).ravel()


def _interval(att: float, se: float, lower: float, upper: float, crit: float | None) -> tuple[float, float]:
    """Analytic: att -/+ crit x se (crit from the t distribution); bootstrap: the package's bounds."""
    if crit is None:
        return float(lower), float(upper)
    return att - crit * se, att + crit * se


def _p_value(att: float, se: float, df: int) -> float | None:
    if not np.isfinite(se) or se <= 0:
        return None
    return float(2 * stats.t.sf(abs(att / se), df))


def _controls(cohorts: dict[int, int | None], g: int, t: int, base: int, control_group: str, observed: set[tuple[int, int]]) -> set[int]:
    last = max(t, base)
    return {
        u
        for u, c in cohorts.items()
        if (c is None or (control_group == "not_yet_treated" and c > last and c != g))
        and (u, t) in observed
        and (u, base) in observed
    }


def staggered_did(panel: pl.DataFrame, outcome: str, settings: DidSettings) -> DidResult:
    """Callaway-Sant'Anna group-time ATTs and their aggregations for one outcome.

    panel: one row per unit and period with columns `unit` (str), `period` (int, 1..Q),
    `cohort` (int period of first treatment; null = never treated) and the outcome (rows with a
    null outcome are dropped). Units first treated in or before their first observed period
    carry no information and are dropped; cohorts after the last period count as never treated.
    """
    import differences
    from differences import ATTgt

    frame = panel.filter(pl.col(outcome).is_not_null() & pl.col(outcome).is_finite()).select("unit", "period", "cohort", outcome)
    last_period = frame["period"].max()
    frame = frame.with_columns(
        pl.when(pl.col("cohort") > last_period).then(None).otherwise(pl.col("cohort")).alias("cohort")
    )
    first_seen = frame.group_by("unit").agg(pl.col("period").min().alias("first"))
    always = frame.join(first_seen, on="unit").filter(pl.col("cohort") <= pl.col("first"))["unit"].unique().sort().to_list()
    frame = frame.filter(~pl.col("unit").is_in(always)).sort("unit", "period")
    units = frame["unit"].unique().sort().to_list()
    code = {u: i for i, u in enumerate(units)}
    cohorts_by_unit = {
        code[u]: (None if c is None else int(c)) for u, c in frame.group_by("unit").agg(pl.col("cohort").first()).iter_rows()
    }
    treated_cohorts = sorted({c for c in cohorts_by_unit.values() if c is not None})
    if not treated_cohorts:
        raise ValueError("no team starts the programme within the period (after its first observed quarter)")
    if all(c is not None for c in cohorts_by_unit.values()) and settings.control_group == "never_treated":
        raise ValueError("no never-treated team: use control_group not_yet_treated")
    observed = {(code[u], int(p)) for u, p in frame.select("unit", "period").iter_rows()}

    data = (
        frame.with_columns(pl.col("unit").replace_strict(code, return_dtype=pl.Int64).alias("unit_code"))
        .select("unit_code", "period", pl.col("cohort").cast(pl.Float64).alias("cohort"), pl.col(outcome).alias("y"))
        .to_pandas()
        .set_index(["unit_code", "period"])
    )
    boot = dict(boot_iterations=settings.bootstrap_reps, random_state=settings.seed if settings.bootstrap_reps else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ATTgt(data=data, cohort_column="cohort", base_period="varying")
        model.fit(
            "y",
            est_method="reg",
            control_group=settings.control_group,
            as_repeated_cross_section=False,
            alpha=settings.alpha,
            n_jobs=1,
            progress_bar=False,
            **boot,
        )
        for aggregation, overall in (("simple", False), ("event", False), ("event", True), ("cohort", False), ("cohort", True)):
            model.aggregate(aggregation, overall=overall, alpha=settings.alpha, n_jobs=1, **boot)
    for w in caught:
        log.info("differences: %s", str(w.message).replace("\n", " "))

    n_teams = len(units)
    df = max(n_teams - 1, 1)
    crit = None if settings.bootstrap_reps else float(stats.t.ppf(1 - settings.alpha / 2, df))
    # analytic: the influence-function variance sum(IF^2) / n^2 is a CR0 cluster variance; G / (G - 1) makes it CR1
    scale = 1.0 if settings.bootstrap_reps else float(np.sqrt(n_teams / df))

    # group-time effects
    gt_rows = []
    for nt in _ntl(model):
        if nt.base_period == nt.time or not np.isfinite(nt.ATT):
            continue
        se = float(nt.std_error) * scale
        low, high = _interval(nt.ATT, se, nt.lower, nt.upper, crit)
        treated = {u for u, c in cohorts_by_unit.items() if c == nt.cohort and (u, nt.time) in observed and (u, nt.base_period) in observed}
        controls = _controls(cohorts_by_unit, nt.cohort, nt.time, nt.base_period, settings.control_group, observed)
        gt_rows.append(
            {
                "cohort": int(nt.cohort),
                "period": int(nt.time),
                "base_period": int(nt.base_period),
                "event_time": int(nt.time - nt.cohort),
                "att": float(nt.ATT),
                "se": se,
                "ci_low": low,
                "ci_high": high,
                "n_treated_teams": len(treated),
                "n_control_teams": len(controls),
            }
        )
    group_time = pl.DataFrame(
        gt_rows,
        schema={"cohort": pl.Int64, "period": pl.Int64, "base_period": pl.Int64, "event_time": pl.Int64, **ESTIMATE,
                "n_treated_teams": pl.Int64, "n_control_teams": pl.Int64},
    ).sort("cohort", "period")  # fmt: skip
    post = group_time.filter(pl.col("event_time") >= 0)

    def treated_teams(cells: pl.DataFrame) -> int:
        cohorts = set(cells["cohort"].to_list())
        return sum(1 for c in cohorts_by_unit.values() if c in cohorts)

    def control_teams(cells: pl.DataFrame) -> int:
        union: set[int] = set()
        for g, t, b in cells.select("cohort", "period", "base_period").iter_rows():
            union |= _controls(cohorts_by_unit, g, t, b, settings.control_group, observed)
        return len(union)

    # event study
    band = "uniform" if settings.bootstrap_reps else "pointwise"
    ev_rows, pre = [], []
    for nt in _ntl(model, "event"):
        e = int(nt.relative_period)
        se = float(nt.std_error) * scale
        low, high = _interval(nt.ATT, se, nt.lower, nt.upper, crit)
        cells = group_time.filter(pl.col("event_time") == e)
        ev_rows.append(
            {"event_time": e, "att": float(nt.ATT), "se": se, "ci_low": low, "ci_high": high,
             "n_treated_teams": treated_teams(cells), "band": band}
        )  # fmt: skip
        if -settings.pretrend_window <= e <= -1 and np.isfinite(nt.ATT):
            pre.append((e, float(nt.ATT), _dense(nt.influence_func)))
    event_study = pl.DataFrame(ev_rows, schema={k: v for k, v in EVENT_SCHEMA.items() if k not in ("intervention", "outcome")}).sort("event_time")

    # aggregates
    agg_rows = []

    def add(estimand: str, nt: Any, cells: pl.DataFrame, cohort: int | None = None) -> None:
        se = float(nt.std_error) * scale
        low, high = _interval(nt.ATT, se, nt.lower, nt.upper, crit)
        agg_rows.append(
            {
                "estimand": estimand,
                "cohort": cohort,
                "att": float(nt.ATT),
                "se": se,
                "ci_low": low,
                "ci_high": high,
                "p_value": _p_value(float(nt.ATT), se, df),
                "n_treated_teams": treated_teams(cells),
                "n_control_teams": control_teams(cells),
            }
        )

    add("simple", _ntl(model, "simple")[0], post)
    add("dynamic", _ntl(model, "event", overall=True)[0], post)
    add("cohort_average", _ntl(model, "cohort", overall=True)[0], post)
    for nt in _ntl(model, "cohort"):
        add("cohort", nt, post.filter(pl.col("cohort") == nt.cohort), int(nt.cohort))
    twfe = two_way_fixed_effects(frame.rename({outcome: "y"}), "y", settings.alpha)
    agg_rows.append({**twfe, "estimand": "twfe", "cohort": None, "n_treated_teams": treated_teams(post), "n_control_teams": None})
    aggregates = pl.DataFrame(
        agg_rows,
        schema={"estimand": pl.String, "cohort": pl.Int64, **ESTIMATE, "p_value": pl.Float64,
                "n_treated_teams": pl.Int64, "n_control_teams": pl.Int64},
    )  # fmt: skip

    pretrend = pretrend_test(pre, n_teams)
    pretrend["max_abs_pre_att"] = max((abs(a) for _, a, _ in pre), default=None)
    method = CS_METHOD.format(version=differences.__version__)
    return DidResult(group_time, event_study, aggregates, pretrend, n_teams, frame.height, method, {"always_treated": always})


def pretrend_test(pre: list[tuple[int, float, np.ndarray]], n_teams: int) -> dict[str, float | int | None]:
    """Joint test that the pre-period event-study ATTs are zero (see the module docstring).

    pre: (event_time, att, influence function over the G teams) for each tested pre-period.
    Returns statistic (the F value), df (q, the number of pre-periods tested) and p.
    """
    none = {"pretrend_stat": None, "pretrend_df": None, "pretrend_p": None}
    q = len(pre)
    if q == 0 or n_teams - q < 1:
        return none
    att = np.array([a for _, a, _ in pre])
    inf = np.stack([f for _, _, f in pre], axis=1)
    n = inf.shape[0]
    vcv = inf.T @ inf / n**2
    if np.linalg.matrix_rank(vcv) < q:
        return none
    wald = float(att @ np.linalg.solve(vcv, att))
    f_stat = wald * (n_teams - q) / (q * n_teams)
    return {"pretrend_stat": f_stat, "pretrend_df": q, "pretrend_p": float(stats.f.sf(f_stat, q, n_teams - q))}


def two_way_fixed_effects(panel: pl.DataFrame, outcome: str, alpha: float) -> dict[str, float | None]:
    """Static TWFE: y_it = a_i + l_t + beta D_it + e_it, D_it = 1[cohort_i <= t]; SE clustered by unit (CR1),
    t(G - 1) interval. Biased under staggered adoption with heterogeneous effects: comparison only."""
    import statsmodels.api as sm

    frame = panel.sort("unit", "period").with_columns(
        (pl.col("cohort").is_not_null() & (pl.col("period") >= pl.col("cohort"))).cast(pl.Float64).alias("treated")
    )
    unit_dummies = frame.select(pl.col("unit")).to_dummies(drop_first=True)
    period_dummies = frame.select(pl.col("period").cast(pl.String)).to_dummies(drop_first=True)
    x = pl.concat([frame.select("treated"), unit_dummies, period_dummies], how="horizontal").to_numpy()
    x = np.column_stack([np.ones(len(x)), x])
    groups = frame["unit"].rank("dense").cast(pl.Int64).to_numpy()
    fit = sm.OLS(frame[outcome].to_numpy(), x).fit(cov_type="cluster", cov_kwds={"groups": groups})
    n_groups = len(np.unique(groups))
    att, se = float(fit.params[1]), float(fit.bse[1])
    crit = float(stats.t.ppf(1 - alpha / 2, max(n_groups - 1, 1)))
    return {"att": att, "se": se, "ci_low": att - crit * se, "ci_high": att + crit * se, "p_value": _p_value(att, se, max(n_groups - 1, 1))}


# ------------------------------------------------------------------ panels from the canonical tables


def period_of(date: pl.Expr, first_quarter: str) -> pl.Expr:
    """The period number of a date: 1 = first_quarter, 0 or below = before it, and so on."""
    y0, q0 = parse_quarter(first_quarter)
    return (date.dt.year().cast(pl.Int64) * 4 + date.dt.quarter().cast(pl.Int64)) - (y0 * 4 + q0) + 1


def programme_cohorts(interventions: pl.LazyFrame, quarters: list[str]) -> pl.LazyFrame:
    """team, intervention, first_start, cohort (period of the first start of that type in the team)."""
    return (
        interventions.group_by("team", "intervention")
        .agg(pl.col("start_date").min().alias("first_start"))
        .with_columns(period_of(pl.col("first_start"), quarters[0]).alias("cohort"))
        .sort("intervention", "team")
    )


def treatment_gaps(interventions: pl.LazyFrame, quarters: list[str]) -> pl.DataFrame:
    """Team-programme types whose programmes stop (a gap, or an end before the period ends).

    The evaluation still counts them as treated from the first start (intention to treat); the
    rule's log names them so a reader can judge.
    """
    period_end = quarter_end(quarters[-1])
    far = pl.lit(period_end) + pl.duration(days=1)
    return (
        interventions.sort("team", "intervention", "start_date")
        .with_columns(pl.col("end_date").fill_null(far).cum_max().over("team", "intervention").alias("covered_to"))
        .with_columns(pl.col("start_date").shift(-1).over("team", "intervention").alias("next_start"))
        .filter(
            (pl.col("next_start").is_not_null() & (pl.col("next_start") > pl.col("covered_to") + pl.duration(days=1)))
            | (pl.col("next_start").is_null() & (pl.col("covered_to") < period_end))
        )
        .select("team", "intervention", "covered_to", "next_start")
        .collect()
    )


def turnover_panel(employees: pl.LazyFrame, quarters: list[str]) -> pl.LazyFrame:
    """Ungated team x quarter counts: group_size, avg_headcount, voluntary_exits, voluntary_turnover.

    Same definitions as the turnover table: avg_headcount = (headcount_start + headcount_end) / 2,
    voluntary_turnover = voluntary_exits / avg_headcount x 4, group_size = max(start, end).
    Internal only: it never leaves this module below the privacy minimum.
    """
    index = {q: i + 1 for i, q in enumerate(quarters)}
    return (
        spell_quarters(employees, quarters)
        .group_by("team", "quarter")
        .agg(pl.col("headcount_start", "headcount_end", "voluntary_exits").sum())
        .with_columns(
            pl.col("quarter").replace_strict(index, return_dtype=pl.Int64).alias("period"),
            ((pl.col("headcount_start") + pl.col("headcount_end")) / 2).alias("avg_headcount"),
            pl.max_horizontal("headcount_start", "headcount_end").alias("group_size"),
        )
        .with_columns(
            pl.when(pl.col("avg_headcount") > 0)
            .then(pl.col("voluntary_exits") / pl.col("avg_headcount") * 4)
            .alias("voluntary_turnover")
        )
        .select("team", "quarter", "period", "group_size", "avg_headcount", "voluntary_exits", "voluntary_turnover")
    )


def _exact_mean(values: pl.Series) -> float:
    return math.fsum(values) / len(values)


def driver_panel(responses: pl.LazyFrame, items: pl.LazyFrame, quarters: list[str], limit: int = ANSWERS_PER_PASS) -> pl.LazyFrame:
    """Ungated team x quarter x driver: respondents and driver_score (mean of respondents' driver
    means). Collected in passes of whole quarters (analysis.passes): every cell is one quarter's."""
    passes = in_passes(responses, lambda answers: {"panel": _driver_panel(answers, items, quarters)}, limit, "driver panel")
    return concat_passes(passes, "panel").sort("team", "quarter", "driver").lazy()


def _driver_panel(responses: pl.LazyFrame, items: pl.LazyFrame, quarters: list[str]) -> pl.LazyFrame:
    index = {q: i + 1 for i, q in enumerate(quarters)}
    return (
        driver_scores(responses, items, favourable_min=4)
        .filter(pl.col("quarter").is_in(quarters))
        .group_by("team", "quarter", "driver")
        .agg(pl.col("response_id").n_unique().alias("group_size"), pl.col("respondent_mean").alias("respondent_means"))
        .with_columns(
            # exactly rounded: a plain float sum depends on the (parallel, varying) order of the rows
            pl.col("respondent_means").map_elements(_exact_mean, return_dtype=pl.Float64).alias("driver_score"),
            pl.col("quarter").replace_strict(index, return_dtype=pl.Int64).alias("period"),
        )
        .select("team", "quarter", "period", "driver", "group_size", "driver_score")
    )


def keep_publishable(panel: pl.DataFrame, min_group_size: int, what: str) -> pl.DataFrame:
    """Drop cells below the privacy minimum before estimation (and say how many)."""
    small = panel.filter(pl.col("group_size") < min_group_size)
    if small.height:
        log.info("%s: %d team-quarter cells below the minimum group size (%d) left out of the estimation", what, small.height, min_group_size)
    kept = panel.filter(pl.col("group_size") >= min_group_size)
    if kept.height and kept["group_size"].min() < min_group_size:  # defensive, as privacy.assert_gated
        raise AssertionError("privacy: a cell below the minimum group size reached the estimation panel")
    return kept


# ------------------------------------------------------------------ the tables


def treated_exposure(employees: pl.LazyFrame, panel: pl.DataFrame, cohorts: pl.DataFrame, quarters: list[str]) -> pl.DataFrame:
    """Per intervention: treated team-quarters after the start (in the estimation panel; teams that
    started in the period's first quarter or before are not evaluated, so not counted), their
    person-years (sum of avg_headcount / 4) and the mean annual salary of the people in them."""
    cells = (
        panel.join(cohorts.select("team", "intervention", "cohort"), on="team")
        .filter((pl.col("cohort") >= 2) & (pl.col("period") >= pl.col("cohort")))
        .select("intervention", "team", "quarter", "avg_headcount")
    )
    salaries = (
        spell_quarters(employees, quarters)
        .select("team", "quarter", "annual_salary")
        .join(cells.lazy().select("intervention", "team", "quarter"), on=["team", "quarter"])
        .group_by("intervention")
        .agg(pl.col("annual_salary").mean().alias("mean_annual_salary"))
        .collect()
    )
    return (
        cells.group_by("intervention")
        .agg(pl.len().cast(pl.Int64).alias("treated_team_quarters"), (pl.col("avg_headcount").sum() / 4).alias("person_years"))
        .join(salaries, on="intervention", how="left")
        .sort("intervention")
    )


def evaluate(
    employees: pl.LazyFrame,
    interventions: pl.LazyFrame | None,
    responses: pl.LazyFrame,
    items: pl.LazyFrame,
    quarters: list[str],
    section: dict[str, Any],
    min_group_size: int,
    cost: dict[str, Any],
    pass_limit: int = ANSWERS_PER_PASS,
) -> dict[str, pl.DataFrame]:
    """The four programme tables: effects, event_study, group_time, savings (docs/tables.md)."""
    from analysis.cost import programme_savings

    check_min_group_size(min_group_size)
    settings = DidSettings.from_config(section)
    outcomes = list(section["outcomes"])
    drivers: dict[str, str] = dict(section["drivers"])
    label = dict(enumerate(quarters, start=1))
    empty = {
        "effects": pl.DataFrame(schema=EFFECTS_SCHEMA),
        "event_study": pl.DataFrame(schema=EVENT_SCHEMA),
        "group_time": pl.DataFrame(schema=GROUP_TIME_SCHEMA),
    }
    if interventions is None:
        log.info("no interventions input configured: programme tables are empty")
        return {**empty, "savings": programme_savings(empty["effects"], pl.DataFrame(), cost)}

    cohorts = programme_cohorts(interventions, quarters).collect()
    known_teams = set(employees.select("team").unique().collect()["team"].to_list())
    unknown = sorted(set(cohorts["team"].to_list()) - known_teams)
    if unknown:
        log.warning("interventions name teams with nobody on the roster (ignored): %s", ", ".join(unknown))
    for team, intervention, covered_to, next_start in treatment_gaps(interventions, quarters).iter_rows():
        log.warning(
            "%s / %s: programmes stop on %s%s; the evaluation counts the team as treated from its first start",
            team, intervention, covered_to, "" if next_start is None else f" and restart on {next_start}",
        )  # fmt: skip

    turnover = keep_publishable(turnover_panel(employees, quarters).collect(), min_group_size, "voluntary turnover")
    scores = keep_publishable(driver_panel(responses, items, quarters, pass_limit).collect(), min_group_size, "driver scores")
    present_drivers = set(scores["driver"].unique().to_list())

    effects, events, group_times = [], [], []
    for intervention in sorted(cohorts["intervention"].unique().to_list()):
        type_cohorts = cohorts.filter(pl.col("intervention") == intervention).select("team", "cohort")
        for outcome in outcomes:
            if outcome == "voluntary_turnover":
                cells = turnover
            elif drivers.get(intervention) in present_drivers:
                cells = scores.filter(pl.col("driver") == drivers[intervention])
            else:
                log.info("%s: no matching survey driver configured or answered; driver_score not evaluated", intervention)
                continue
            panel = (
                cells.join(type_cohorts, on="team", how="left")
                .select(pl.col("team").alias("unit"), "period", "cohort", pl.col(outcome))
                .sort("unit", "period")
            )
            base = {"intervention": intervention, "outcome": outcome}
            try:
                result = staggered_did(panel, outcome, settings)
            except ValueError as exc:
                log.warning("%s / %s: not estimated: %s", intervention, outcome, exc)
                effects.append({**base, "unit": OUTCOMES[outcome], "estimand": "simple", "control_group": settings.control_group, "note": str(exc)})
                continue
            if result.dropped.get("always_treated"):
                log.info("%s: teams treated before the period, left out: %s", intervention, ", ".join(result.dropped["always_treated"]))
            est = result.aggregates.with_columns(
                pl.col("cohort").replace_strict(label, default=None, return_dtype=pl.String),
                pl.lit(OUTCOMES[outcome]).alias("unit"),
                pl.lit(result.n_teams).alias("n_teams"),
                pl.lit(result.team_quarters).alias("team_quarters"),
                *[pl.lit(v).alias(k) for k, v in result.pretrend.items()],
                pl.when(pl.col("estimand") == "twfe").then(pl.lit(TWFE_METHOD)).otherwise(pl.lit(result.method)).alias("method"),
                pl.lit(settings.control_group).alias("control_group"),
                pl.when(pl.col("estimand") == "twfe")
                .then(pl.lit("OLS, standard errors clustered by team (CR1); t(teams - 1) critical value"))
                .otherwise(pl.lit(settings.inference))
                .alias("inference"),
            )
            effects.extend({**base, **row} for row in est.to_dicts())
            events.append(result.event_study.with_columns(**{k: pl.lit(v) for k, v in base.items()}))
            group_times.append(
                result.group_time.with_columns(
                    **{k: pl.lit(v) for k, v in base.items()},
                    cohort=pl.col("cohort").replace_strict(label, return_dtype=pl.String),
                    quarter=pl.col("period").replace_strict(label, return_dtype=pl.String),
                    base_quarter=pl.col("base_period").replace_strict(label, return_dtype=pl.String),
                )
            )

    estimand_order = pl.col("estimand").replace_strict({e: i for i, e in enumerate(ESTIMANDS)}, return_dtype=pl.Int8)
    effects_table = (
        pl.DataFrame(effects, schema=EFFECTS_SCHEMA)
        .sort("intervention", "outcome", estimand_order, "cohort", nulls_last=False)
        .select(list(EFFECTS_SCHEMA))
    )
    event_table = (pl.concat(events).select(list(EVENT_SCHEMA)) if events else empty["event_study"]).sort("intervention", "outcome", "event_time")
    gt_table = (
        pl.concat(group_times).select(list(GROUP_TIME_SCHEMA)) if group_times else empty["group_time"]
    ).sort("intervention", "outcome", "cohort", "quarter")
    exposure = treated_exposure(employees, turnover, cohorts, quarters)
    return {
        "effects": effects_table,
        "event_study": event_table,
        "group_time": gt_table,
        "savings": programme_savings(effects_table, exposure, cost),
    }


def run_rule(input: Any, output: Any, config: dict[str, Any]) -> None:
    """The `evaluate_programmes` rule."""
    quarters = quarters_between(config["period"]["start"], config["period"]["end"])
    interventions = list(input.interventions) if hasattr(input, "interventions") else []
    tables = evaluate(
        employees=pl.scan_parquet(input.employees),
        interventions=pl.scan_parquet(interventions[0]) if interventions else None,
        responses=pl.scan_parquet(input.responses),
        items=pl.scan_parquet(input.catalogue),
        quarters=quarters,
        section=config["programmes"],
        min_group_size=config["privacy"]["min_group_size"],
        cost=config["cost"],
        pass_limit=answers_per_pass(config),
    )
    for name, table in tables.items():
        table.write_parquet(getattr(output, name))
    for row in tables["effects"].filter(pl.col("estimand") == "simple").iter_rows(named=True):
        if row["att"] is not None:
            log.info(
                "%s / %s: ATT %.4f [%.4f, %.4f] (%s), pre-trend p %s",
                row["intervention"], row["outcome"], row["att"], row["ci_low"], row["ci_high"], row["unit"],
                "n/a" if row["pretrend_p"] is None else f"{row['pretrend_p']:.3f}",
            )  # fmt: skip
