"""Polars (the workflow's own functions) against the pandas baseline, one computation at a time.

    python -m bench.compare COMPUTATION IMPLEMENTATION RUN_DIR OUT.parquet-prefix

runs one computation (turnover, engagement, survival_preparation) with one implementation (polars,
pandas) on the canonical tables of a finished run directory, writes its result(s) and prints the
seconds spent (reading the Parquet files included, interpreter start-up and imports excluded). The
harness runs it as a measured subprocess, so each side's peak memory is its own, then calls
`check_same` on the two results.

The Polars side calls exactly what the workflow calls:
- turnover: analysis.turnover.turnover_table (all levels, intervals, privacy gate);
- engagement: analysis.engagement.engagement_table (all levels, intervals, privacy gate);
- survival_preparation: analysis.survival's preparation as survival.build runs it: collect_scores
  (respondent_scores in passes of whole quarters; one pass below 20 million answers), then
  linked_scores, time_varying_intervals, first_response, tier_cohort, exit_within, collected together.
The privacy gate only hides cells; the comparison is on the cells it shows.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from polars.testing import assert_frame_equal

COMPUTATIONS = ("turnover", "engagement", "survival_preparation")
SURVIVAL_FRAMES = ("intervals", "snapshot", "cohort", "exit_rows")
REL_TOL = 1e-9  # sums in a different order differ in the last bits, nothing more
ABS_TOL = 1e-12


def settings(run: Path) -> dict[str, Any]:
    config = yaml.safe_load((run / "config" / "bench.yaml").read_text(encoding="utf-8"))
    from analysis.passes import answers_per_pass
    from analysis.periods import quarter_end, quarters_between

    return {
        "quarters": quarters_between(config["period"]["start"], config["period"]["end"]),
        "end": quarter_end(config["period"]["end"]),
        "min_group_size": config["privacy"]["min_group_size"],
        "favourable_min": config["survey"]["favourable_min"],
        "cutoffs": config["retention"]["tier_cutoffs"],
        "horizon_days": config["retention"]["horizon_days"],
        "answers_per_pass": answers_per_pass(config),
    }


def canonical(run: Path, table: str) -> str:
    return str(run / "results" / "canonical" / f"{table}.parquet")


# ------------------------------------------------------------------ the two implementations


def run_polars(computation: str, run: Path, s: dict[str, Any]) -> dict[str, pl.DataFrame]:
    employees = pl.scan_parquet(canonical(run, "employees"))
    if computation == "turnover":
        from analysis.turnover import turnover_table

        return {"turnover": turnover_table(employees, s["quarters"], s["min_group_size"])}
    responses = pl.scan_parquet(canonical(run, "survey_responses"))
    items = pl.scan_parquet(canonical(run, "survey_items"))
    if computation == "engagement":
        from analysis.engagement import engagement_table

        return {"engagement": engagement_table(responses, items, employees, s["favourable_min"], s["min_group_size"])}
    from analysis import survival

    linked = survival.linked_scores(survival.collect_scores(responses, items, s["answers_per_pass"]).lazy(), employees, s["end"])
    lazy = {
        "intervals": survival.time_varying_intervals(linked),
        "snapshot": survival.first_response(linked, list(survival.DRIVERS)),
        "cohort": survival.tier_cohort(linked, s["cutoffs"]),
        "exit_rows": survival.exit_within(linked, s["end"], s["horizon_days"]),
    }
    return dict(zip(lazy, pl.collect_all(list(lazy.values())), strict=True))


def run_pandas(computation: str, run: Path, s: dict[str, Any]) -> dict[str, Any]:
    from bench import baseline

    employees = baseline.read_employees(canonical(run, "employees"))
    if computation == "turnover":
        return {"turnover": baseline.turnover(employees, s["quarters"])}
    items = baseline.read_items(canonical(run, "survey_items"))
    if computation == "engagement":
        responses = baseline.read_responses(canonical(run, "survey_responses"), ["response_id", "team", "wave", "quarter", "item_id", "score"])
        return {"engagement": baseline.engagement(responses, items, employees, s["favourable_min"])}
    responses = baseline.read_responses(canonical(run, "survey_responses"), ["response_id", "employee_key", "team", "response_date", "wave", "quarter", "item_id", "score"])
    return baseline.survival_preparation(responses, items, employees, s["end"], s["cutoffs"], s["horizon_days"])


# ------------------------------------------------------------------ equality


KEYS = {
    "turnover": ["level", "site", "team", "quarter"],
    "engagement": ["level", "site", "team", "wave", "quarter", "driver"],
    "intervals": ["subject", "start"],
    "snapshot": ["subject"],
    "cohort": ["subject"],
    "exit_rows": ["subject", "response_date"],
}
VALUES = {
    "turnover": ["group_size", "headcount_start", "headcount_end", "hires", "exits", "voluntary_exits", "involuntary_exits", "early_exits_90d", "early_exits_6m", "early_exits_12m",
                 "avg_headcount", "voluntary_rate", "voluntary_rate_low", "voluntary_rate_high", "involuntary_rate", "total_rate"],
    "engagement": ["respondents", "mean", "sd", "mean_low", "mean_high", "pct_favourable", "pct_favourable_low", "pct_favourable_high", "favourable_answers", "answers"],
    "intervals": ["team", "response_date", "stop", "cause", "mission", "recognition", "worklife", "growth", "autonomy", "manager", "engagement"],
    "snapshot": ["team", "response_date", "duration", "cause", "mission", "recognition", "worklife", "growth", "autonomy", "manager", "engagement"],
    "cohort": ["team", "response_date", "duration", "cause", "tier", "mission", "recognition", "worklife", "growth", "autonomy", "manager", "engagement"],
    "exit_rows": ["team", "exited", "mission", "recognition", "worklife", "growth", "autonomy", "manager", "engagement"],
}  # fmt: skip


def _normalise(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Common dtypes (dates as Date, numbers as Float64, text as String), key order."""
    columns = [*KEYS[name], *VALUES[name]]
    out = frame.select(columns)
    casts = []
    for column, dtype in out.schema.items():
        if dtype.is_temporal():
            casts.append(pl.col(column).cast(pl.Date))
        elif dtype.is_numeric() or dtype == pl.Boolean:
            casts.append(pl.col(column).cast(pl.Float64))
        else:
            casts.append(pl.col(column).cast(pl.String))
    return out.with_columns(casts).sort(KEYS[name], nulls_last=True)


def from_pandas(frame: Any) -> pl.DataFrame:
    return pl.from_pandas(frame.reset_index(drop=True))


def check_same(name: str, polars_frame: pl.DataFrame, pandas_frame: pl.DataFrame) -> dict[str, int]:
    """Assert the two results hold the same numbers; the privacy-gated Polars tables are compared on their shown cells.

    Returns what was compared (rows, and for gated tables the cells hidden by the gate)."""
    hidden = 0
    left = polars_frame
    right = _normalise(pandas_frame, name)
    if "suppressed" in left.columns:
        hidden = left.filter(pl.col("suppressed").is_not_null()).height
        left = left.filter(pl.col("suppressed").is_null())
        if pandas_frame.height != polars_frame.height:
            raise AssertionError(f"{name}: pandas has {pandas_frame.height} cells, Polars {polars_frame.height} (shown and hidden)")
    left = _normalise(left, name)
    right = right.join(left.select(KEYS[name]), on=KEYS[name], how="semi", nulls_equal=True)
    if right.height != left.height:
        raise AssertionError(f"{name}: the pandas baseline has {right.height} of the {left.height} rows the Polars code gives")
    assert_frame_equal(left, right, check_exact=False, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return {"rows": left.height, "hidden_by_privacy_gate": hidden}


def warm_up(implementation: str) -> None:
    """Import everything before the clock starts (imports are start-up, not computation)."""
    import scipy.stats  # noqa: F401

    if implementation == "polars":
        import analysis.engagement  # noqa: F401
        import analysis.survival  # noqa: F401
        import analysis.turnover  # noqa: F401
    else:
        import pandas  # noqa: F401

        import bench.baseline  # noqa: F401


def main(argv: list[str]) -> int:
    computation, implementation, run, out = argv
    run = Path(run)
    s = settings(run)
    warm_up(implementation)
    started = time.perf_counter()
    result = run_polars(computation, run, s) if implementation == "polars" else run_pandas(computation, run, s)
    seconds = time.perf_counter() - started
    rows = {}
    for name, frame in result.items():
        frame = frame if isinstance(frame, pl.DataFrame) else from_pandas(frame)
        frame.write_parquet(f"{out}.{name}.parquet")
        rows[name] = frame.height
    print(json.dumps({"computation": computation, "implementation": implementation, "seconds": seconds, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
