"""Survival analyses: a published Cox fit, the synthetic organisation's truth, no look-ahead, privacy."""

import datetime as dt
import math
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from analysis import survival
from analysis.privacy import gate_flat
from analysis.synth import TRUE_EFFECTS, SynthConfig
from synthetic_canonical import canonical_org

CONFIG = {
    "retention": {"tier_cutoffs": [3.0, 4.0], "horizon_days": 365, "curve_step_days": 30},
    "privacy": {"min_group_size": 5},
    "period": {"start": "2023Q4", "end": "2026Q3"},
}
END = dt.date(2026, 9, 30)
SEEDS = (1, 2, 3)  # fixed before looking at the results; 2 500 people each (about 2 200 linked spells)


# ------------------------------------------------------------------ a published result


ROSSI_COVARIATES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
# Fox & Weisberg, "Cox proportional-hazards regression for survival data" (R appendix), reproduced in
# the lifelines documentation (CoxPHFitter on load_rossi): coefficient and standard error.
ROSSI_PUBLISHED = {
    "fin": (-0.379, 0.191), "age": (-0.057, 0.022), "race": (0.314, 0.308), "wexp": (-0.150, 0.212),
    "mar": (-0.434, 0.382), "paro": (-0.085, 0.196), "prio": (0.091, 0.029),
}  # fmt: skip


@pytest.fixture(scope="module")
def rossi():
    from lifelines.datasets import load_rossi

    return pl.from_pandas(load_rossi())


def test_cox_wrapper_reproduces_the_published_rossi_fit(rossi):
    table = survival.cox_hazard_ratios(rossi, duration="week", event="arrest", covariates=ROSSI_COVARIATES, ph_test=True)
    got = {row["driver"]: row for row in table.iter_rows(named=True)}
    for name, (coef, se) in ROSSI_PUBLISHED.items():
        assert got[name]["log_hr"] == pytest.approx(coef, abs=5e-4), name
        assert got[name]["se"] == pytest.approx(se, abs=5e-4), name
        assert got[name]["hr"] == pytest.approx(math.exp(got[name]["log_hr"]))
        assert got[name]["hr_low"] < got[name]["hr"] < got[name]["hr_high"]
    assert table["n_subjects"].unique().to_list() == [432] and table["n_events"].unique().to_list() == [114]
    # lifelines' documentation of the PH check on this model: age and wexp violate proportional hazards.
    violating = set(table.filter(pl.col("ph_test_p") < 0.05)["driver"])
    assert violating == {"age", "wexp"}


def test_time_varying_wrapper_equals_the_plain_fit_when_nothing_varies(rossi):
    intervals = rossi.with_row_index("subject").with_columns(pl.lit(0).alias("start"), pl.col("week").alias("stop"))
    tv = survival.time_varying_hazard_ratios(intervals, event="arrest", covariates=ROSSI_COVARIATES)
    for name, (coef, _) in ROSSI_PUBLISHED.items():
        assert tv.filter(pl.col("driver") == name)["log_hr"].item() == pytest.approx(coef, abs=5e-4), name


# ------------------------------------------------------------------ hand-built frames

SCORES = list(survival.SCORES)


def scores_frame(rows):
    """rows: (response_id, employee_key, team, response_date, mission) with the other scores = mission."""
    data = [(r, k, t, d, d.replace(day=1), f"{d.year}Q{(d.month - 1) // 3 + 1}", *([m] * len(SCORES))) for r, k, t, d, m in rows]
    schema = {"response_id": pl.String, "employee_key": pl.String, "team": pl.String, "response_date": pl.Date, "wave": pl.Date, "quarter": pl.String}
    return pl.LazyFrame(data, schema=schema | {s: pl.Float64 for s in SCORES}, orient="row")


def employees_frame(rows):
    """rows: (employee_key, spell, hire_date, exit_date, exit_type)."""
    schema = {"employee_key": pl.String, "spell": pl.Int32, "hire_date": pl.Date, "exit_date": pl.Date, "exit_type": pl.String}
    return pl.LazyFrame(rows, schema=schema, orient="row")


D = dt.date


def test_intervals_open_on_the_day_each_score_was_given_and_only_the_last_carries_the_exit():
    scores = scores_frame([("r1", "a", "T", D(2024, 2, 15), 2.0), ("r2", "a", "T", D(2024, 5, 15), 4.0)])
    employees = employees_frame([("a", 1, D(2024, 1, 1), D(2024, 6, 30), "voluntary")])
    got = survival.time_varying_intervals(survival.linked_scores(scores, employees, END)).collect()
    expected = pl.DataFrame(
        {
            "subject": ["a#1", "a#1"],
            "start": [45, 135],  # days since hire on the response days
            "stop": [135, 182],  # the next response's day; the last day worked, counted in full
            "cause": pl.Series([0, 1], dtype=pl.Int8),
            "mission": [2.0, 4.0],
        }
    )
    assert_frame_equal(got.select("subject", "start", "stop", "cause", "mission"), expected)


def test_responses_link_to_the_spell_they_were_given_in_and_nothing_outside_follow_up():
    scores = scores_frame(
        [
            ("r1", "a", "T", D(2024, 2, 15), 2.0),  # first spell
            ("r2", "a", "T", D(2024, 8, 15), 3.0),  # between the spells: no spell
            ("r3", "a", "T", D(2025, 2, 15), 5.0),  # second spell (rehire)
            ("r4", "b", "T", D(2026, 11, 15), 1.0),  # after the end of follow-up
            ("r5", "c", "T", D(2026, 8, 15), 3.0),  # exit after the end of follow-up: censored there
        ]
    )
    employees = employees_frame(
        [
            ("a", 1, D(2023, 1, 1), D(2024, 3, 31), "voluntary"),
            ("a", 2, D(2025, 1, 1), None, None),
            ("b", 1, D(2020, 1, 1), None, None),
            ("c", 1, D(2020, 1, 1), D(2026, 12, 1), "voluntary"),
        ]
    )
    linked = survival.linked_scores(scores, employees, END).collect().sort("response_id")
    assert linked["response_id"].to_list() == ["r1", "r3", "r5"]
    assert linked["subject"].to_list() == ["a#1", "a#2", "c#1"]
    assert linked["cause"].to_list() == [1, 0, 0]
    assert linked["until"].to_list() == [D(2024, 3, 31), END, END]


def test_exit_within_the_horizon_counts_the_response_day():
    rows = [
        ("r1", "a", "T", D(2024, 2, 15), 3.0),  # voluntary exit on the 365th day: 1
        ("r2", "b", "T", D(2024, 2, 15), 3.0),  # voluntary exit on the 366th day: 0
        ("r3", "c", "T", D(2024, 2, 15), 3.0),  # involuntary exit within: 0
        ("r4", "d", "T", D(2026, 2, 15), 3.0),  # window outlasts follow-up, no exit: left out
        ("r5", "e", "T", D(2026, 2, 15), 3.0),  # window outlasts follow-up, but exited: 1
    ]
    employees = employees_frame(
        [
            ("a", 1, D(2020, 1, 1), D(2025, 2, 13), "voluntary"),
            ("b", 1, D(2020, 1, 1), D(2025, 2, 14), "voluntary"),
            ("c", 1, D(2020, 1, 1), D(2024, 6, 1), "involuntary"),
            ("d", 1, D(2020, 1, 1), None, None),
            ("e", 1, D(2020, 1, 1), D(2026, 3, 1), "voluntary"),
        ]
    )
    got = survival.exit_within(survival.linked_scores(scores_frame(rows), employees, END), END, 365).collect()
    assert dict(zip(got["subject"], got["exited"], strict=True)) == {"a#1": 1, "b#1": 0, "c#1": 0, "e#1": 1}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sets(st.integers(0, 40), min_size=1, max_size=6), st.integers(1, 1300), st.sampled_from([None, "voluntary", "involuntary"])),
        min_size=1,
        max_size=5,
    ),
    st.randoms(use_true_random=False),
)
def test_no_score_is_used_before_the_day_it_was_given(spells, rnd):
    """Property: every interval starts on the day of the response whose scores it carries, never earlier."""
    hire = D(2023, 1, 2)
    employees, responses, given_on = [], [], {}
    for i, (weeks, length, exit_type) in enumerate(spells):
        exit_date = hire + dt.timedelta(days=length) if exit_type else None
        employees.append((f"k{i}", 1, hire, exit_date, exit_type))
        for w in sorted(weeks):
            day = hire + dt.timedelta(days=7 * w * 4)  # one response per 4-week "wave", all distinct waves
            if exit_date is not None and day > exit_date:
                continue
            rid = f"r{i}-{w}"
            score = rnd.choice([1.0, 2.0, 3.0, 4.0, 5.0])
            responses.append((rid, f"k{i}", "T", day, score))
            given_on[(f"k{i}#1", (day - hire).days)] = score
    if not responses:
        return
    scores = scores_frame(responses).with_columns(pl.col("response_date").alias("wave"))  # every response its own wave
    intervals = survival.time_varying_intervals(survival.linked_scores(scores, employees_frame(employees), END)).collect()
    for row in intervals.iter_rows(named=True):
        # the interval opens exactly on a response day of its subject and carries that response's score
        assert given_on[(row["subject"], row["start"])] == row["mission"]
        assert row["stop"] > row["start"]
    # intervals of a subject are contiguous, and only the last can carry an exit
    for _, group in intervals.group_by("subject"):
        group = group.sort("start")
        assert group["start"][1:].to_list() == group["stop"][:-1].to_list()
        assert (group["cause"][:-1] == 0).all()


def test_cronbach_alpha_matches_the_textbook_formula_on_complete_responses():
    answers = np.array([[4, 5, 4], [2, 3, 2], [3, 3, 4], [5, 4, 5], [1, 2, 2]])
    rows = [(f"r{i}", f"M{j}", int(v)) for i, row in enumerate(answers) for j, v in enumerate(row)]
    rows += [("r9", "M0", 5), ("r9", "M1", 1)]  # incomplete: left out
    responses = pl.LazyFrame(rows, schema={"response_id": pl.String, "item_id": pl.String, "score": pl.Int8}, orient="row")
    items = pl.LazyFrame({"item_id": ["M0", "M1", "M2"], "driver": ["mission"] * 3, "scale": ["likert5"] * 3})
    k = answers.shape[1]
    expected = k / (k - 1) * (1 - answers.var(axis=0, ddof=1).sum() / answers.sum(axis=1).var(ddof=1))
    got = survival.cronbach_alpha(responses, items).collect()
    assert got["driver"].to_list() == ["mission"] and got["alpha"].item() == pytest.approx(expected)


def test_calibration_stretches_scores_by_their_reliability():
    rng = np.random.default_rng(5)
    true = rng.normal(3, 0.6, 4000)
    frame = pl.DataFrame({"w": true + rng.normal(0, 0.4, 4000)})
    reliability = 0.36 / (0.36 + 0.16)
    out = survival.calibrate(frame, ["w"], {"w": reliability})
    slope = np.polyfit(frame["w"].to_numpy(), out["w"].to_numpy(), 1)[0]
    assert slope == pytest.approx(reliability, rel=1e-9)  # one score: E[X | W] shrinks W towards its mean by the reliability


def cohort(sizes: dict[str, int], durations_step: int = 20) -> pl.DataFrame:
    rows = [(f"{tier}{i}", tier, (i + 1) * durations_step, 1 if i % 2 else 0) for tier, n in sizes.items() for i in range(n)]
    return pl.DataFrame(rows, schema={"subject": pl.String, "tier": pl.String, "duration": pl.Int64, "cause": pl.Int8}, orient="row")


def test_curve_points_with_few_people_at_risk_and_small_tiers_are_suppressed():
    table = survival.km_curves(cohort({"low": 3, "mid": 8}), step_days=30, min_group_size=5)
    low = table.filter(pl.col("tier") == "low")
    assert low.height == 1 and low["suppressed"].item() == survival.SMALL_TIER
    assert low.select(["survival", "at_risk", "n_subjects", "n_events"]).null_count().row(0) == (1, 1, 1, 1)
    mid = table.filter(pl.col("tier") == "mid").sort("time_days")
    # durations 20, 40, ..., 160: at day t, people followed beyond t = #(duration > t)
    assert mid["time_days"].to_list() == [0, 30, 60, 90, 120, 150]
    shown = mid.filter(pl.col("suppressed").is_null())
    assert shown["at_risk"].to_list() == [8, 7, 5]
    hidden = mid.filter(pl.col("suppressed").is_not_null())
    assert hidden["suppressed"].unique().to_list() == [survival.AT_RISK]
    assert hidden.select("at_risk", "survival", "ci_low", "ci_high").null_count().row(0) == (3, 3, 3, 3)
    assert table.filter(pl.col("suppressed").is_null() & (pl.col("at_risk") < 5)).height == 0
    # Kaplan–Meier: censored at 20, first exit at 40 days with 7 at risk
    assert shown["survival"].to_list() == pytest.approx([1.0, 1.0, 6 / 7])


def test_cumulative_incidence_is_gated_the_same_way_and_reruns_identically():
    data = cohort({"low": 4, "mid": 9, "high": 12}).with_columns(pl.when(pl.col("cause") == 1).then(pl.lit(2, pl.Int8)).otherwise(pl.col("cause")).alias("cause"))
    state = np.random.get_state()[1].copy()
    first = survival.cumulative_incidence(data, step_days=30, min_group_size=5)
    assert (np.random.get_state()[1] == state).all(), "the global NumPy generator must be left as it was"
    assert_frame_equal(first, survival.cumulative_incidence(data, step_days=30, min_group_size=5))
    assert first.filter(pl.col("suppressed").is_null() & (pl.col("at_risk") < 5)).height == 0
    assert first.filter((pl.col("tier") == "low"))["suppressed"].to_list() == [survival.SMALL_TIER] * 2
    voluntary = first.filter((pl.col("cause") == "voluntary") & pl.col("cif").is_not_null())
    assert voluntary["cif"].unique().to_list() == [0.0]  # every exit here is involuntary


def test_flat_gate_hides_small_cells_and_keeps_earlier_reasons():
    table = pl.DataFrame({"n": [2, 9, 9], "v": [0.5, 0.6, 0.7], "suppressed": [None, None, "earlier"]})
    out = gate_flat(table, size="n", values=["v"], min_group_size=5)
    assert out["suppressed"].to_list() == ["fewer than the minimum group size", None, "earlier"]
    assert out["n"].to_list() == [None, 9, None] and out["v"].to_list() == [None, 0.6, None]
    with pytest.raises(ValueError, match="never be below 3"):
        gate_flat(table, size="n", values=["v"], min_group_size=2)


# ------------------------------------------------------------------ the synthetic organisation's truth


@pytest.fixture(scope="module")
def organisations(tmp_path_factory):
    built = {}
    for seed in SEEDS:  # the canonical tables through the same profiles and ingest code the workflow uses
        tables = canonical_org(tmp_path_factory.mktemp(f"synth-{seed}"), SynthConfig(seed=seed, employees=2500))
        canonical = {"employees": tables["employees"].lazy(), "responses": tables["survey_responses"].lazy(), "items": tables["survey_items"].lazy()}
        built[seed] = (canonical, survival.build(canonical["employees"], canonical["responses"], canonical["items"], CONFIG))
    return built


def hr(table: pl.DataFrame, **where) -> dict:
    expr = pl.lit(True)
    for key, value in where.items():
        expr &= pl.col(key) == value
    return table.filter(expr).row(0, named=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_mission_hazard_ratio_recovers_the_truth_after_calibration(organisations, seed):
    tables = organisations[seed][1]["cox_hazard_ratios"]
    truth = TRUE_EFFECTS["voluntary_hazard"]["hazard_ratio_per_point"]["mission"]
    calibrated = hr(tables, model="time_varying_calibrated", driver="mission")
    naive = hr(tables, model="time_varying", driver="mission")
    # The survey score is a noisy 3-item mean: as measured, the ratio is attenuated towards 1 ...
    assert naive["hr_high"] < 1 and calibrated["hr"] < naive["hr"] < 1
    # ... and the measurement-error-corrected interval covers the documented truth.
    assert calibrated["hr_low"] <= truth <= calibrated["hr_high"], calibrated
    assert calibrated["n_subjects"] > 1500 and calibrated["n_events"] > 500


@pytest.mark.parametrize("seed", SEEDS)
def test_engagement_tiers_order_survival(organisations, seed):
    tables = organisations[seed][1]
    at_year = tables["km_curves"].filter(pl.col("time_days") == 360).sort("tier")
    survival_at = dict(zip(at_year["tier"], at_year["survival"], strict=True))
    assert survival_at["low"] < survival_at["mid"] < survival_at["high"]
    overall = hr(tables["km_logrank"], test="all tiers")
    assert overall["p"] < 1e-3 and overall["df"] == 2
    cif = tables["competing_risks_cif"].filter((pl.col("time_days") == 360) & (pl.col("cause") == "voluntary"))
    cif_at = dict(zip(cif["tier"], cif["cif"], strict=True))
    assert cif_at["low"] > cif_at["mid"] > cif_at["high"]


@pytest.mark.parametrize("seed", SEEDS)
def test_engagement_matters_for_voluntary_exits_only(organisations, seed):
    tables = organisations[seed][1]["competing_risks_hr"]
    voluntary = hr(tables, cause="voluntary", model="engagement")
    involuntary = hr(tables, cause="involuntary", model="engagement")
    assert voluntary["hr_high"] < 1
    assert involuntary["hr_low"] <= 1 <= involuntary["hr_high"], involuntary
    odds = hr(organisations[seed][1]["exit12_odds_ratios"], model="engagement")
    assert odds["or_high"] < 1 and odds["n_clusters"] == 12


def test_every_table_has_its_documented_columns_and_the_panel_runs(organisations):
    tables = organisations[SEEDS[0]][1]
    for name, table in tables.items():
        assert table.schema == pl.Schema(survival.SCHEMAS[name]), name
        assert table.height > 0 and table["note"].null_count() == table.height, name
    panel = tables["team_panel"]
    assert panel["model"].to_list() == ["pooled", "team_fixed_effects"]
    assert panel["n_teams"].to_list() == [12, 12]
    assert hr(panel, model="pooled")["rate_ratio"] < 1


def test_anonymous_surveys_run_the_team_panel_and_say_why_the_rest_is_empty(organisations, caplog):
    canonical = organisations[SEEDS[0]][0]
    anonymous = canonical["responses"].with_columns(pl.lit(None, pl.String).alias("employee_key"))
    with caplog.at_level("WARNING", logger="retain"):
        tables = survival.build(canonical["employees"], anonymous, canonical["items"], CONFIG)
    assert survival.UNLINKED in caplog.text
    for name in survival.TABLE_NAMES[:-1]:
        assert tables[name].height == 1 and tables[name]["note"].item() == survival.UNLINKED, name
    assert_frame_equal(tables["team_panel"], organisations[SEEDS[0]][1]["team_panel"])


def test_tier_cutoffs_must_increase(organisations):
    canonical = organisations[SEEDS[0]][0]
    bad = CONFIG | {"retention": CONFIG["retention"] | {"tier_cutoffs": [4.0, 3.0]}}
    with pytest.raises(ValueError, match="retention.tier_cutoffs"):
        survival.build(canonical["employees"], canonical["responses"], canonical["items"], bad)


# ------------------------------------------------------------------ the models' people sample (retention.max_people)


def test_people_sample_is_deterministic_order_free_and_exact():
    from analysis.sampling import sample_key, sample_people

    keys = pl.Series("employee_key", [f"k{i:05d}" for i in range(2000)])
    assert sample_people(keys, None, 1) is None and sample_people(keys, 2000, 1) is None  # at or below the cap: everyone
    kept = sample_people(keys, 300, 7)
    assert kept.len() == 300 and kept.is_sorted() and kept.is_unique().all() and kept.is_in(keys.implode()).all()
    shuffled = pl.concat([keys, keys]).sample(fraction=1.0, shuffle=True, seed=3)  # repeats and row order do not matter
    assert sample_people(shuffled, 300, 7).to_list() == kept.to_list()
    assert sample_people(keys, 300, 8).to_list() != kept.to_list()  # the seed matters
    assert sample_key("k00001", 7) == int.from_bytes(__import__("hashlib").sha256(b"7\x1fk00001").digest()[:8], "big")  # stable across runs and machines
    with pytest.raises(ValueError, match="no seed"):
        sample_people(keys, 300, None)


def test_models_use_the_people_sample_above_the_cap_and_everyone_below(organisations):
    canonical, full = organisations[SEEDS[0]]
    linked = full["cox_hazard_ratios"]["eligible_people"].unique().to_list()
    assert len(linked) == 1 and linked[0] > 1500
    people = linked[0]
    for name in survival.SAMPLED_TABLES:  # below the cap (CONFIG has none): everyone, and the tables say so
        assert full[name]["sample_people"].unique().to_list() == [people], name
    uncapped = survival.build(canonical["employees"], canonical["responses"], canonical["items"], CONFIG | {"retention": CONFIG["retention"] | {"max_people": people, "seed": 1}})
    for name in survival.TABLE_NAMES:
        assert_frame_equal(uncapped[name], full[name])
    capped_config = CONFIG | {"retention": CONFIG["retention"] | {"max_people": 800, "seed": 1}}
    capped = survival.build(canonical["employees"], canonical["responses"], canonical["items"], capped_config)
    again = survival.build(canonical["employees"], canonical["responses"], canonical["items"], capped_config)
    for name in survival.TABLE_NAMES:
        assert_frame_equal(capped[name], again[name])  # the same sample on every rerun
        assert capped[name].schema == pl.Schema(survival.SCHEMAS[name]), name
    for name in ("km_curves", "competing_risks_cif", "km_logrank", "team_panel"):
        assert_frame_equal(capped[name], full[name])  # curves, tests and the panel use everyone
    tv = hr(capped["cox_hazard_ratios"], model="time_varying", driver="mission")
    tv_full = hr(full["cox_hazard_ratios"], model="time_varying", driver="mission")
    assert tv["sample_people"] == 800 and tv["eligible_people"] == people
    assert 800 <= tv["n_subjects"] < tv_full["n_subjects"]  # spells of 800 people (a rehire is a second spell)
    assert tv["hr_high"] - tv["hr_low"] > tv_full["hr_high"] - tv_full["hr_low"]  # fewer people, wider interval
    odds = capped["exit12_odds_ratios"]
    assert odds["sample_people"].unique().to_list() == [800] and (odds["n_subjects"] < hr(full["exit12_odds_ratios"], model="engagement")["n_subjects"]).all()


def test_calibrated_model_starts_at_the_mapped_estimate_and_ends_at_the_cold_fit(organisations, monkeypatch):
    canonical, _ = organisations[SEEDS[0]]
    calls = []
    real = survival.time_varying_hazard_ratios

    def spy(frame, *, event, covariates, start=None):
        calls.append((frame, event, covariates, start))
        return real(frame, event=event, covariates=covariates, start=start)

    monkeypatch.setattr(survival, "time_varying_hazard_ratios", spy)
    tables = survival.build(canonical["employees"], canonical["responses"], canonical["items"], CONFIG)
    # the six-driver voluntary model is fitted once, for both tables: five time-varying fits, not six
    assert len(calls) == 5
    started = [c for c in calls if c[3] is not None]
    assert len(started) == 1
    frame, event, covariates, start = started[0]
    warm = real(frame, event=event, covariates=covariates, start=start)
    cold = real(frame, event=event, covariates=covariates)
    np.testing.assert_allclose(warm["log_hr"].to_numpy(), cold["log_hr"].to_numpy(), rtol=0, atol=1e-7)
    np.testing.assert_allclose(warm["se"].to_numpy(), cold["se"].to_numpy(), rtol=1e-6)
    # the start is the maximum itself (calibration is linear in the scores), not merely near it
    np.testing.assert_allclose(start, cold["log_hr"].to_numpy(), rtol=0, atol=1e-6)
    calibrated = tables["cox_hazard_ratios"].filter(pl.col("model") == "time_varying_calibrated")
    np.testing.assert_allclose(calibrated["log_hr"].to_numpy(), cold["log_hr"].to_numpy(), rtol=0, atol=1e-7)
    # ... and it reaches lifelines on lifelines' scale: one Newton step from it stays there (a start
    # not divided into lifelines' standardised covariates would move by most of the way)
    from lifelines import CoxTimeVaryingFitter

    fit = CoxTimeVaryingFitter.fit
    monkeypatch.setattr(CoxTimeVaryingFitter, "fit", lambda self, *a, **k: fit(self, *a, **k, fit_options={"max_steps": 1}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "failed to converge in 1 step"
        one_step = real(frame, event=event, covariates=covariates, start=start)
    np.testing.assert_allclose(one_step["log_hr"].to_numpy(), start, rtol=0, atol=1e-6)
    monkeypatch.setattr(CoxTimeVaryingFitter, "fit", fit)
    # the competing-risks row for voluntary exits on the drivers is that model fitted on the
    # competing-risks event (voluntary exits, the other exits censor)
    intervals = calls[0][0]
    refit = real(intervals.with_columns((pl.col("cause") == survival.CAUSES["voluntary"]).cast(pl.Int8).alias("event")), event="event", covariates=list(survival.DRIVERS))
    competing = tables["competing_risks_hr"].filter((pl.col("cause") == "voluntary") & (pl.col("model") == "drivers"))
    assert competing["driver"].to_list() == list(survival.DRIVERS) == refit["driver"].to_list()
    for column in ("log_hr", "se", "p"):
        np.testing.assert_allclose(competing[column].to_numpy(), refit[column].to_numpy(), rtol=1e-9)
    assert competing["n_subjects"].to_list() == refit["n_subjects"].to_list() and competing["n_events"].to_list() == refit["n_events"].to_list()


def test_calibration_alpha_is_that_of_the_sampled_responses(organisations, monkeypatch):
    from analysis.sampling import sample_people

    canonical, _ = organisations[SEEDS[0]]
    responses, items, employees = canonical["responses"], canonical["items"], canonical["employees"]
    seen = []
    real = survival.hazard_ratio_table
    monkeypatch.setattr(survival, "hazard_ratio_table", lambda intervals, snapshot, alpha, n: seen.append(alpha) or real(intervals, snapshot, alpha, n))
    capped_config = CONFIG | {"retention": CONFIG["retention"] | {"max_people": 800, "seed": 1}}
    survival.build(employees, responses, items, capped_config)
    survival.build(employees, responses, items, CONFIG)
    capped, everyone = seen

    def alpha_of(ids: pl.DataFrame) -> dict:
        return dict(survival.cronbach_alpha(responses.join(ids.lazy(), on="response_id"), items).collect().iter_rows())

    linked = survival.linked_scores(survival.respondent_scores(responses, items), employees, END).collect()
    kept = sample_people(linked["employee_key"], 800, 1)
    assert capped == alpha_of(linked.filter(pl.col("employee_key").is_in(kept.implode())).select("response_id"))
    assert everyone == alpha_of(linked.select("response_id"))
    assert capped != everyone and all(abs(capped[d] - everyone[d]) < 0.05 for d in survival.DRIVERS)
