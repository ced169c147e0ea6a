"""Small hand-built analysis tables for the report tests: two sites, four teams, two quarters.

Team B-2 is too small (primary suppression) and B-1 is hidden with it (complementary), so the
privacy marks can be checked; numbers are chosen so the band positions differ by team.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl

QUARTERS = ("2026Q2", "2026Q3")
WAVES = {"2026Q2": dt.date(2026, 4, 1), "2026Q3": dt.date(2026, 7, 1)}
TEAMS = {"A-1": ("Alpha", 40, 2), "A-2": ("Alpha", 30, 4), "B-1": ("Beta", 20, 1), "B-2": ("Beta", 3, 0)}
DRIVERS = ("mission", "recognition", "worklife", "growth", "autonomy", "manager", "engagement", "intent_to_stay")
PRIMARY = "fewer than the minimum group size"
COMPLEMENTARY = "complementary: would reveal a suppressed sibling by subtraction"
CONFIG: dict[str, Any] = {
    "organisation": "Fixture Org",
    "period": {"start": "2026Q2", "end": "2026Q3"},
    "privacy": {"min_group_size": 5},
    "benchmarks": {"contact_centre_low": 0.30, "contact_centre_high": 0.45, "all_industry": 0.151},
    "cost": {"replacement_cost": 15000, "salary_share": None, "currency": "USD"},
    "report": {"quarters": [], "formats": ["html"], "engine": "jupyter", "language": "en"},
    "retention": {"tier_cutoffs": [3.0, 4.0], "horizon_days": 365, "curve_step_days": 30},
    "programmes": {"drivers": {"mission": "mission", "recognition": "recognition", "worklife": "worklife"}, "alpha": 0.05},
}
# Each programme's headline effect on voluntary turnover (share per year) and its 95% interval: by default one
# clear reduction, one interval that includes zero and one clear increase, so every reading is exercised.
PROGRAMME_EFFECTS = {"mission": (-0.12, -0.2, -0.04), "recognition": (-0.05, -0.15, 0.05), "worklife": (0.08, 0.02, 0.14)}
# People the models were fitted on and people eligible (sample_people/eligible_people of the survival model tables,
# people/eligible_people per driver_importance outcome). By default everyone, as on the demo (below the caps);
# SAMPLED is a run above retention.max_people and drivers.max_people.
SAMPLES = {"models": (130, 130), "intent_to_stay": (120, 120), "voluntary_exit_12m": (120, 120)}
SAMPLED = {"models": (130, 2600), "intent_to_stay": (120, 900), "voluntary_exit_12m": (110, 880)}


def _hidden(team: str) -> str | None:
    return PRIMARY if team == "B-2" else COMPLEMENTARY if team == "B-1" else None


def _rate_row(level: str, site: str | None, team: str | None, quarter: str, size: int, vol: int, q_shift: int, hidden: str | None) -> dict:
    avg = size - 0.5
    rate = vol / avg * 4
    row = {
        "level": level, "site": site, "team": team, "quarter": quarter, "group_size": size,
        "headcount_start": size - 1, "headcount_end": size + q_shift, "hires": 2 + q_shift, "exits": vol + 1,
        "voluntary_exits": vol, "involuntary_exits": 1, "early_exits_90d": 1 + q_shift, "early_exits_6m": 2, "early_exits_12m": 3,
        "avg_headcount": avg, "voluntary_rate": rate, "voluntary_rate_low": rate * 0.5, "voluntary_rate_high": rate * 1.8 + 0.01,
        "involuntary_rate": 4 / avg, "total_rate": (vol + 1) / avg * 4, "suppressed": hidden,
    }  # fmt: skip
    if hidden:
        for key in list(row):
            if key not in ("level", "site", "team", "quarter", "suppressed"):
                row[key] = None
    return row


def turnover() -> pl.DataFrame:
    rows = []
    for i, quarter in enumerate(QUARTERS):
        total = sum(size for _, size, _ in TEAMS.values())
        rows.append(_rate_row("organisation", None, None, quarter, total, 7 + i, i, None))
        for site in ("Alpha", "Beta"):
            size = sum(s for name, (st, s, _) in TEAMS.items() if st == site)
            vol = sum(v for name, (st, _, v) in TEAMS.items() if st == site)
            rows.append(_rate_row("site", site, None, quarter, size, vol + i, i, None))
        for team, (site, size, vol) in TEAMS.items():
            rows.append(_rate_row("team", site, team, quarter, size, vol, i, _hidden(team)))
    schema = {
        "level": pl.String, "site": pl.String, "team": pl.String, "quarter": pl.String, "group_size": pl.Int64,
        **{c: pl.Int64 for c in ("headcount_start", "headcount_end", "hires", "exits", "voluntary_exits", "involuntary_exits", "early_exits_90d", "early_exits_6m", "early_exits_12m")},
        **{c: pl.Float64 for c in ("avg_headcount", "voluntary_rate", "voluntary_rate_low", "voluntary_rate_high", "involuntary_rate", "total_rate")},
        "suppressed": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def engagement() -> pl.DataFrame:
    rows = []
    for i, quarter in enumerate(QUARTERS):
        groups = [("organisation", None, None, 80)] + [("site", s, None, 40) for s in ("Alpha", "Beta")]
        groups += [("team", site, team, size) for team, (site, size, _) in TEAMS.items()]
        for level, site, team, size in groups:
            for k, driver in enumerate(DRIVERS):
                pct = 0.25 + 0.07 * k + 0.01 * i + (0.02 if team == "A-2" else 0.0)
                hidden = _hidden(team) if team else None
                row = {
                    "level": level, "site": site, "team": team, "wave": WAVES[quarter], "quarter": quarter, "driver": driver,
                    "respondents": size, "mean": 2.5 + k * 0.2, "mean_low": 2.4 + k * 0.2, "mean_high": 2.6 + k * 0.2, "sd": 0.8,
                    "pct_favourable": pct, "pct_favourable_low": pct - 0.05, "pct_favourable_high": pct + 0.05,
                    "favourable_answers": int(pct * size * 2), "answers": size * 2, "suppressed": hidden,
                }  # fmt: skip
                if hidden:
                    for key in ("respondents", "mean", "mean_low", "mean_high", "sd", "pct_favourable", "pct_favourable_low", "pct_favourable_high", "favourable_answers", "answers"):
                        row[key] = None
                rows.append(row)
    schema = {
        "level": pl.String, "site": pl.String, "team": pl.String, "wave": pl.Date, "quarter": pl.String, "driver": pl.String,
        "respondents": pl.UInt32, **{c: pl.Float64 for c in ("mean", "mean_low", "mean_high", "sd", "pct_favourable", "pct_favourable_low", "pct_favourable_high")},
        "favourable_answers": pl.UInt32, "answers": pl.UInt32, "suppressed": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def _groups():
    yield "organisation", None, None, 80
    for site in ("Alpha", "Beta"):
        yield "site", site, None, 40
    for team, (site, size, _) in TEAMS.items():
        yield "team", site, team, size


def enps() -> pl.DataFrame:
    rows = []
    for i, quarter in enumerate(QUARTERS):
        for level, site, team, size in _groups():
            hidden = _hidden(team) if team else None
            score = -5.0 + 6 * i
            row = {"level": level, "site": site, "team": team, "wave": WAVES[quarter], "quarter": quarter, "respondents": size,
                   "promoters": size // 3, "detractors": size // 3, "enps": score, "enps_low": score - 9, "enps_high": score + 9, "suppressed": hidden}  # fmt: skip
            if hidden:
                row.update({k: None for k in ("respondents", "promoters", "detractors", "enps", "enps_low", "enps_high")})
            rows.append(row)
    schema = {"level": pl.String, "site": pl.String, "team": pl.String, "wave": pl.Date, "quarter": pl.String, "respondents": pl.UInt32,
              "promoters": pl.UInt32, "detractors": pl.UInt32, "enps": pl.Float64, "enps_low": pl.Float64, "enps_high": pl.Float64, "suppressed": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def response_rates() -> pl.DataFrame:
    rows = []
    for i, quarter in enumerate(QUARTERS):
        for level, site, team, size in _groups():
            hidden = _hidden(team) if team else None
            invited = size + 10
            row = {"level": level, "site": site, "team": team, "wave": WAVES[quarter], "quarter": quarter, "invited": invited,
                   "respondents": size, "response_rate": size / invited - 0.01 * i, "suppressed": hidden}  # fmt: skip
            if hidden:
                row.update({k: None for k in ("invited", "respondents", "response_rate")})
            rows.append(row)
    schema = {"level": pl.String, "site": pl.String, "team": pl.String, "wave": pl.Date, "quarter": pl.String, "invited": pl.UInt32,
              "respondents": pl.UInt32, "response_rate": pl.Float64, "suppressed": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def reliability() -> pl.DataFrame:
    rows = []
    for quarter in QUARTERS:
        for level, site, team, size in _groups():
            for k, driver in enumerate(DRIVERS[:6]):
                hidden = _hidden(team) if team else None
                rows.append({"level": level, "site": site, "team": team, "driver": driver, "wave": WAVES[quarter], "quarter": quarter,
                             "alpha": None if hidden else 0.62 + 0.04 * k, "n_items": 3, "n_respondents": None if hidden else size, "suppressed": hidden})  # fmt: skip
    schema = {"level": pl.String, "site": pl.String, "team": pl.String, "driver": pl.String, "wave": pl.Date, "quarter": pl.String,
              "alpha": pl.Float64, "n_items": pl.Int32, "n_respondents": pl.UInt32, "suppressed": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def cost() -> pl.DataFrame:
    return pl.DataFrame(
        {"quarter": list(QUARTERS), "exits": [8, 9], "voluntary_exits": [7, 8], "cost": [120000.0, 135000.0], "cost_voluntary": [105000.0, 120000.0],
         "method": ["flat", "flat"], "currency": ["USD", "USD"], "salary_missing": [0, 0]},
        schema={"quarter": pl.String, "exits": pl.UInt32, "voluntary_exits": pl.Int64, "cost": pl.Float64, "cost_voluntary": pl.Float64,
                "method": pl.String, "currency": pl.String, "salary_missing": pl.Int64},
    )  # fmt: skip


def _frame(rows: list[dict], schema: dict) -> pl.DataFrame:
    """Rows as a frame with exactly the analysis module's schema (missing columns null)."""
    return pl.DataFrame([{k: row.get(k) for k in schema} for row in rows], schema=schema, orient="row")


def km_curves() -> pl.DataFrame:
    """Three tiers on a 30-day grid to 390 days; the low tier's last point is hidden (too few at risk)."""
    from analysis.survival import AT_RISK, SCHEMAS

    rows = []
    for tier, people, hazard in (("low", 30, 0.0012), ("mid", 60, 0.0008), ("high", 40, 0.0004)):
        for day in range(0, 391, 30):
            survival = (1 - hazard) ** day
            at_risk = int(people * survival) - day // 60
            row = {"tier": tier, "time_days": day, "at_risk": at_risk, "survival": survival, "ci_low": survival * 0.9, "ci_high": min(1.0, survival * 1.08),
                   "n_subjects": people, "n_events": int(people * hazard * 300)}  # fmt: skip
            if tier == "low" and day == 390:
                row = {"tier": tier, "time_days": day, "n_subjects": people, "n_events": row["n_events"], "suppressed": AT_RISK}
            rows.append(row)
    return _frame(rows, SCHEMAS["km_curves"])


def km_logrank() -> pl.DataFrame:
    from analysis.survival import SCHEMAS

    rows = [{"test": "all tiers", "n_subjects": 130, "n_events": 40, "test_statistic": 9.1, "df": 2, "p": 0.0106}]
    rows += [{"test": "pairwise", "tier_a": a, "tier_b": b, "n_subjects": 70, "n_events": 20, "test_statistic": 4.0 + i, "df": 1, "p": 0.04 / (i + 1)} for i, (a, b) in enumerate((("low", "mid"), ("low", "high"), ("mid", "high")))]
    return _frame(rows, SCHEMAS["km_logrank"])


def _hr_row(driver: str, hr: float, width: float, **extra: Any) -> dict:
    import math

    return {"driver": driver, "log_hr": math.log(hr), "se": width / 4, "hr": hr, "hr_low": hr * (1 - width), "hr_high": hr * (1 + width), "p": 0.03,
            "n_subjects": 130, "n_events": 40, **extra}  # fmt: skip


def _sample(samples: dict[str, tuple[int, int]] | None, key: str = "models") -> dict[str, int]:
    sample, eligible = (samples or SAMPLES)[key]
    return {"sample_people": sample, "eligible_people": eligible}


def cox_hazard_ratios(samples: dict[str, tuple[int, int]] | None = None) -> pl.DataFrame:
    from analysis.survival import SCHEMAS

    drivers = DRIVERS[:6]
    rows = []
    for model, shift in (("time_varying", 0.0), ("time_varying_calibrated", -0.05), ("first_response", 0.03)):
        for k, driver in enumerate(drivers):
            rows.append({"model": model, **_hr_row(driver, 0.7 + 0.06 * k + shift, 0.12), "ph_test_p": 0.2 + 0.1 * k, **_sample(samples)})
    return _frame(rows, SCHEMAS["cox_hazard_ratios"])


def competing_risks_hr(samples: dict[str, tuple[int, int]] | None = None) -> pl.DataFrame:
    from analysis.survival import SCHEMAS

    rows = [{"cause": "voluntary", "model": "engagement", **_hr_row("engagement", 0.66, 0.15)}, {"cause": "involuntary", "model": "engagement", **_hr_row("engagement", 0.95, 0.3)}]
    rows += [{"cause": "voluntary", "model": "drivers", **_hr_row(d, 0.8 + 0.02 * k, 0.12)} for k, d in enumerate(DRIVERS[:6])]
    rows = [row | _sample(samples) for row in rows]
    return _frame(rows, SCHEMAS["competing_risks_hr"])


def competing_risks_cif() -> pl.DataFrame:
    from analysis.survival import AT_RISK, SCHEMAS

    rows = []
    for cause in ("voluntary", "involuntary"):
        for tier in ("low", "mid", "high"):
            for day in (0, 30, 60):
                row = {"cause": cause, "tier": tier, "time_days": day, "at_risk": 30 - day // 10, "cif": day / 600, "ci_low": day / 900, "ci_high": day / 400, "n_subjects": 30, "n_events": 3}
                rows.append(row if (tier, day) != ("low", 60) else {"cause": cause, "tier": tier, "time_days": day, "n_subjects": 30, "n_events": 3, "suppressed": AT_RISK})
    return _frame(rows, SCHEMAS["competing_risks_cif"])


def exit12_odds_ratios(samples: dict[str, tuple[int, int]] | None = None) -> pl.DataFrame:
    from analysis.survival import SCHEMAS

    rows = [{"model": "engagement", "horizon_days": 365, "driver": "engagement", "log_or": -0.5, "se": 0.1, "odds_ratio": 0.61, "or_low": 0.5, "or_high": 0.74, "p": 0.001,
             "n_responses": 300, "n_subjects": 120, "n_events": 40, "n_clusters": 4, **_sample(samples)}]  # fmt: skip
    return _frame(rows, SCHEMAS["exit12_odds_ratios"])


def team_panel() -> pl.DataFrame:
    from analysis.survival import SCHEMAS

    rows = [{"model": m, "term": "engagement", "estimate": -1.0, "se": 0.3, "rate_ratio": 0.37, "rr_low": 0.2, "rr_high": 0.66, "p": 0.001, "n_teams": 4, "n_cells": 8, "n_exits": 20} for m in ("pooled", "team_fixed_effects")]
    return _frame(rows, SCHEMAS["team_panel"])


def driver_importance(samples: dict[str, tuple[int, int]] | None = None) -> pl.DataFrame:
    rows = []
    for outcome in ("intent_to_stay", "voluntary_exit_12m"):
        people, eligible = (samples or SAMPLES)[outcome]
        for k, driver in enumerate(DRIVERS[:6]):
            share = (6 - k) / 21
            rows.append({"level": "organisation", "outcome": outcome, "driver": driver, "share": share, "share_low": share * 0.8, "share_high": share * 1.2, "rank": k + 1,
                         "rank_low": max(1, k), "rank_high": min(6, k + 2), "p_top": 0.7 if k == 0 else 0.06, "r2_part": share * 0.3, "r2_total": 0.3, "r2_total_low": 0.25,
                         "r2_total_high": 0.35, "r2_kind": "ols" if outcome == "intent_to_stay" else "mcfadden", "n": 300, "people": people, "eligible_people": eligible,
                         "events": None if outcome == "intent_to_stay" else 40, "first_wave": WAVES["2026Q2"], "last_wave": WAVES["2026Q3"], "bootstrap_reps": 50})  # fmt: skip
    schema = {"level": pl.String, "site": pl.String, "team": pl.String, "outcome": pl.String, "driver": pl.String, **{c: pl.Float64 for c in ("share", "share_low", "share_high")},
              **{c: pl.Int32 for c in ("rank", "rank_low", "rank_high")}, "p_top": pl.Float64, **{c: pl.Float64 for c in ("r2_part", "r2_total", "r2_total_low", "r2_total_high")},
              "r2_kind": pl.String, "n": pl.Int32, "people": pl.Int32, "eligible_people": pl.Int32, "events": pl.Int64, "first_wave": pl.Date, "last_wave": pl.Date, "bootstrap_reps": pl.Int32, "suppressed": pl.String}  # fmt: skip
    return _frame(rows, schema)


def programme_effects(effects: dict[str, tuple[float, float, float]]) -> pl.DataFrame:
    """`simple` and `twfe` rows per programme and outcome; the turnover `simple` row has the given effect and interval."""
    from analysis.programmes import EFFECTS_SCHEMA

    rows = []
    for programme, (att, low, high) in effects.items():
        for outcome, unit, values in (("driver_score", "points (1-5)", (0.25, 0.05, 0.45)), ("voluntary_turnover", "share per year", (att, low, high))):
            for estimand, shift in (("simple", 0.0), ("twfe", 0.01)):
                a, lo, hi = (v + shift for v in values)
                rows.append({"intervention": programme, "outcome": outcome, "unit": unit, "estimand": estimand, "att": a, "se": (hi - lo) / 4, "ci_low": lo, "ci_high": hi,
                             "p_value": 0.04, "n_teams": 4, "n_treated_teams": 2, "n_control_teams": None if estimand == "twfe" else 2, "team_quarters": 8,
                             "pretrend_stat": 1.2, "pretrend_df": 1, "pretrend_p": 0.03 if programme == "recognition" else 0.4, "max_abs_pre_att": 0.02,
                             "method": "fixture", "control_group": "not_yet_treated", "inference": "analytic"})  # fmt: skip
    return _frame(rows, EFFECTS_SCHEMA)


def programme_event_study(effects: dict[str, tuple[float, float, float]]) -> pl.DataFrame:
    from analysis.programmes import EVENT_SCHEMA

    rows = []
    for programme, (att, low, high) in effects.items():
        for outcome, post in (("driver_score", (0.25, 0.05, 0.45)), ("voluntary_turnover", (att, low, high))):
            for e in range(-3, 4):
                a, lo, hi = (0.01 * e, -0.1 + 0.01 * e, 0.1 + 0.01 * e) if e < 0 else post
                rows.append({"intervention": programme, "outcome": outcome, "event_time": e, "att": a, "se": (hi - lo) / 4, "ci_low": lo, "ci_high": hi, "n_treated_teams": 2, "band": "pointwise"})
    return _frame(rows, EVENT_SCHEMA)


def programme_group_time(effects: dict[str, tuple[float, float, float]]) -> pl.DataFrame:
    from analysis.programmes import GROUP_TIME_SCHEMA

    rows = [{"intervention": programme, "outcome": "voluntary_turnover", "cohort": "2026Q3", "quarter": "2026Q3", "base_quarter": "2026Q2", "event_time": 0,
             "att": att, "se": (high - low) / 4, "ci_low": low, "ci_high": high, "n_treated_teams": 2, "n_control_teams": 2} for programme, (att, low, high) in effects.items()]  # fmt: skip
    return _frame(rows, GROUP_TIME_SCHEMA)


def programme_savings(effects: dict[str, tuple[float, float, float]]) -> pl.DataFrame:
    from analysis.cost import SAVINGS_SCHEMA

    rows = []
    for programme, (att, low, high) in effects.items():
        years = 20.0
        rows.append({"intervention": programme, "treated_team_quarters": 4, "person_years": years, "att": att, "exits_avoided": -att * years, "exits_avoided_low": -high * years,
                     "exits_avoided_high": -low * years, "cost_per_exit": 15000.0, "money_saved": -att * years * 15000, "money_saved_low": -high * years * 15000,
                     "money_saved_high": -low * years * 15000, "method": "flat", "currency": "USD"})  # fmt: skip
    return _frame(rows, SAVINGS_SCHEMA)


def ingest_manifest() -> dict:
    files = [
        {"file": "data/roster.csv", "profile": "generic_roster", "table": "employees", "rows_read": 100, "rows_accepted": 98, "rows_rejected": 2, "sha256": "a" * 64},
        {"file": "data/s1.csv", "profile": "qualtrics_wide", "table": "survey_responses", "rows_read": 400, "rows_accepted": 400, "rows_rejected": 0, "sha256": "b" * 64},
        {"file": "data/s2.csv", "profile": "pulse_long_pl", "table": "survey_responses", "rows_read": 300, "rows_accepted": 299, "rows_rejected": 1, "sha256": "c" * 64},
    ]  # fmt: skip
    return {"files": files, "rows_read": 800, "rows_accepted": 797, "rows_rejected": 3}


def write_tables(root: Path, effects: dict[str, tuple[float, float, float]] | None = None, samples: dict[str, tuple[int, int]] | None = None) -> dict[str, str]:
    """Write the tables under root/results/; return name -> path (as the workflow names them).
    `effects`: each programme's turnover effect and interval (default PROGRAMME_EFFECTS);
    `samples`: people fitted on and eligible per model family (default SAMPLES: everyone)."""
    effects = PROGRAMME_EFFECTS if effects is None else effects
    tables = root / "results" / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    paths = {}
    frames = (
        ("turnover", turnover()), ("engagement", engagement()), ("enps", enps()), ("response_rates", response_rates()), ("cost", cost()),
        ("reliability", reliability()), ("km_curves", km_curves()), ("km_logrank", km_logrank()), ("cox_hazard_ratios", cox_hazard_ratios(samples)),
        ("exit12_odds_ratios", exit12_odds_ratios(samples)), ("competing_risks_cif", competing_risks_cif()), ("competing_risks_hr", competing_risks_hr(samples)),
        ("team_panel", team_panel()), ("driver_importance", driver_importance(samples)), ("programme_effects", programme_effects(effects)),
        ("programme_event_study", programme_event_study(effects)), ("programme_group_time", programme_group_time(effects)),
        ("programme_savings", programme_savings(effects)),
    )  # fmt: skip
    for name, frame in frames:
        path = tables / f"{name}.parquet"
        frame.write_parquet(path)
        paths[name] = str(path)
    manifest = root / "results" / "ingest" / "manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(ingest_manifest()), encoding="utf-8")
    paths["ingest_manifest"] = str(manifest)
    return paths


def build_results(
    root: Path, language: str = "en", quarter: str = "2026Q3", effects: dict[str, tuple[float, float, float]] | None = None, samples: dict[str, tuple[int, int]] | None = None
) -> dict[str, str]:
    """Tables, numbers and every exhibit (quarterly and research) under root/results/."""
    from analysis.exhibits import RESEARCH, build
    from analysis.numbers import build_numbers, write

    import os

    config = json.loads(json.dumps(CONFIG))
    config["report"]["language"] = language
    here = os.getcwd()
    os.chdir(root)  # paths as the workflow has them: relative to the run directory
    try:
        paths = {name: os.path.relpath(path, root) for name, path in write_tables(root, effects, samples).items()}
        write(build_numbers(paths, quarter, config), f"results/numbers/{quarter}.json")
        build("quarterly", quarter, quarter, paths, config, f"results/figures/{quarter}")
        build("research", RESEARCH, quarter, paths, config, f"results/figures/{RESEARCH}")
    finally:
        os.chdir(here)
    return paths
