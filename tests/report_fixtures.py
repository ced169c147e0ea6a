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
}


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


def ingest_manifest() -> dict:
    files = [
        {"file": "data/roster.csv", "profile": "generic_roster", "table": "employees", "rows_read": 100, "rows_accepted": 98, "rows_rejected": 2, "sha256": "a" * 64},
        {"file": "data/s1.csv", "profile": "qualtrics_wide", "table": "survey_responses", "rows_read": 400, "rows_accepted": 400, "rows_rejected": 0, "sha256": "b" * 64},
        {"file": "data/s2.csv", "profile": "pulse_long_pl", "table": "survey_responses", "rows_read": 300, "rows_accepted": 299, "rows_rejected": 1, "sha256": "c" * 64},
    ]  # fmt: skip
    return {"files": files, "rows_read": 800, "rows_accepted": 797, "rows_rejected": 3}


def write_tables(root: Path) -> dict[str, str]:
    """Write the tables under root/results/; return name -> path (as the workflow names them)."""
    tables = root / "results" / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in (("turnover", turnover()), ("engagement", engagement()), ("enps", enps()), ("response_rates", response_rates()), ("cost", cost()), ("reliability", reliability())):
        path = tables / f"{name}.parquet"
        frame.write_parquet(path)
        paths[name] = str(path)
    manifest = root / "results" / "ingest" / "manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(ingest_manifest()), encoding="utf-8")
    paths["ingest_manifest"] = str(manifest)
    return paths


def build_results(root: Path, language: str = "en", quarter: str = "2026Q3") -> dict[str, str]:
    """Tables, numbers and every exhibit (quarterly and research) under root/results/."""
    from analysis.exhibits import RESEARCH, build
    from analysis.numbers import build_numbers, write

    import os

    config = json.loads(json.dumps(CONFIG))
    config["report"]["language"] = language
    here = os.getcwd()
    os.chdir(root)  # paths as the workflow has them: relative to the run directory
    try:
        paths = {name: os.path.relpath(path, root) for name, path in write_tables(root).items()}
        write(build_numbers(paths, quarter, config), f"results/numbers/{quarter}.json")
        build("quarterly", quarter, quarter, paths, config, f"results/figures/{quarter}")
        build("research", RESEARCH, quarter, paths, config, f"results/figures/{RESEARCH}")
    finally:
        os.chdir(here)
    return paths
