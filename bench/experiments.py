"""Measurements behind the recommendations in docs/performance.md, on a finished run directory.

    .venv/bin/python -m bench.experiments engagement-parts RUN_DIR      # time + peak memory of each engagement table
    .venv/bin/python -m bench.experiments engagement-scans RUN_DIR      # driver scores computed once; len vs n_unique
    .venv/bin/python -m bench.experiments survival-prep RUN_DIR         # the preparation with the scores collected once
    .venv/bin/python -m bench.experiments cox-scaling RUN_DIR           # lifelines' time-varying Cox fit against sample size
    .venv/bin/python -m bench.experiments drivers-warm-start RUN_DIR [REPS]  # bootstrap: warm-started Newton against cold starts
    .venv/bin/python -m bench.experiments combine RUN_DIR               # combine_parts: time and peak memory
    .venv/bin/python -m bench.experiments people-sample RUN_DIR [MAX_PEOPLE ...]  # survival and drivers at each cap

RUN_DIR is a benchmark run directory (<root>/runs/<size>-parquet) whose canonical tables exist; the
code measured is the run directory's own copy of analysis/, or the one in RETAIN_EXPERIMENT_CODE
(e.g. the repository, to measure a change before a benchmark snapshot holds it). Each experiment
prints what it found; none writes into the run's results. Prototypes here are measurements, not
replacements: the modules' owners decide what to adopt.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml


def code_dir(run: Path) -> Path:
    """The analysis/ package measured: RETAIN_EXPERIMENT_CODE's, else the run directory's own copy."""
    return Path(os.environ.get("RETAIN_EXPERIMENT_CODE", run)).resolve()


def timed(label: str, func, repeats: int = 2):
    best, value = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<64} {best:8.2f} s", flush=True)
    return value


def tables(run: Path):
    canonical = run / "results" / "canonical"
    return tuple(pl.scan_parquet(canonical / f"{t}.parquet") for t in ("survey_responses", "survey_items", "employees"))


def engagement_parts(run: Path) -> None:
    """Each engagement table in its own process, for its peak memory (/usr/bin/time -v)."""
    for name in ("engagement", "enps", "response_rates", "reliability", "engagement_change"):
        script = (
            "import sys, time, polars as pl; sys.path.insert(0, sys.argv[2]);"
            "from analysis import engagement as e; from bench.experiments import tables;"
            "from pathlib import Path; r, it, em = tables(Path(sys.argv[1])); s = time.perf_counter();"
            f"name = {name!r};"
            "ref = pl.read_parquet(Path(sys.argv[1]) / 'results/tables/engagement.parquet');"
            "{'engagement': lambda: e.engagement_table(r, it, em, 4, 5), 'enps': lambda: e.enps_table(r, it, em, 5),"
            " 'response_rates': lambda: e.response_rate_table(r, em, 5), 'reliability': lambda: e.reliability_table(r, it, em, 5),"
            " 'engagement_change': lambda: e.engagement_change_table(ref, r, it, em, 5)}[name]();"
            "print(f'{name:<20} {time.perf_counter() - s:8.2f} s', end=' ')"
        )
        done = subprocess.run(["/usr/bin/time", "-f", "peak %M KB", sys.executable, "-c", script, str(run), str(code_dir(run))], capture_output=True, text=True, check=False)
        print(done.stdout.strip(), done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "", flush=True)


def engagement_scans(run: Path) -> None:
    sys.path.insert(0, str(code_dir(run)))
    from analysis import engagement as e

    r, it, em = tables(run)
    timed("engagement_table as is", lambda: e.engagement_table(r, it, em, 4, 5), 1)
    timed("  driver_scores (one group_by over every answer)", lambda: e.driver_scores(r, it, 4).collect())
    scored = e.driver_scores(r, it, 4).join(e.team_sites(em), on="team", how="left")
    aggs = [pl.col("respondent_mean").mean().alias("mean"), pl.col("respondent_mean").std().alias("sd"), pl.col("favourable").sum(), pl.col("answers").sum()]
    keys = ["wave", "quarter", "driver"]
    timed("  by_levels on the lazy scores (n_unique respondents)", lambda: e.by_levels(scored, keys, [pl.col("response_id").n_unique().alias("respondents"), *aggs]).collect())
    collected = scored.collect()
    timed("  by_levels on scores collected once (n_unique)", lambda: e.by_levels(collected.lazy(), keys, [pl.col("response_id").n_unique().alias("respondents"), *aggs]).collect())
    timed("  by_levels on scores collected once (len: one row per response)", lambda: e.by_levels(collected.lazy(), keys, [pl.len().alias("respondents"), *aggs]).collect())


def survival_prep(run: Path) -> None:
    sys.path.insert(0, str(code_dir(run)))
    from analysis import survival as s
    from analysis.periods import quarter_end

    config = yaml.safe_load((run / "config" / "bench.yaml").read_text(encoding="utf-8"))
    end = quarter_end(config["period"]["end"])
    r, it, em = tables(run)

    def frames(scores):
        linked = s.linked_scores(scores, em, end)
        return [s.time_varying_intervals(linked), s.first_response(linked, list(s.DRIVERS)), s.tier_cohort(linked, [3.0, 4.0]), s.exit_within(linked, end, 365)]

    scores = s.respondent_scores(r, it)
    timed("respondent_scores alone", lambda: scores.collect())
    timed("collect_all of the four model inputs, as in survival.build", lambda: pl.collect_all(frames(scores)))
    timed("the same with respondent_scores collected first", lambda: pl.collect_all(frames(scores.collect().lazy())))


def cox_scaling(run: Path) -> None:
    sys.path.insert(0, str(code_dir(run)))
    from analysis import survival as s
    from analysis.periods import quarter_end

    config = yaml.safe_load((run / "config" / "bench.yaml").read_text(encoding="utf-8"))
    r, it, em = tables(run)
    linked = s.linked_scores(s.respondent_scores(r, it), em, quarter_end(config["period"]["end"]))
    intervals = s.time_varying_intervals(linked).collect().with_columns((pl.col("cause") == 1).cast(pl.Int8).alias("event"))
    subjects = intervals.select("subject").unique().sort("subject")
    print(f"{intervals.height} intervals, {subjects.height} subjects, {intervals['stop'].n_unique()} distinct stop times")
    for fraction in (0.125, 0.25, 0.5, 1.0):
        part = intervals.join(subjects.sample(fraction=fraction, seed=1), on="subject")
        timed(f"time_varying_hazard_ratios on {fraction:.3f} of the subjects ({part.height} intervals)", lambda p=part: s.time_varying_hazard_ratios(p, event="event", covariates=list(s.DRIVERS)), 1)


def drivers_warm_start(run: Path, reps: int = 20) -> None:
    """drivers.importance for the exit outcome (its bootstrap fits start at the full-sample estimate)
    against the same bootstrap with every fit started from the null model; the largest difference."""
    sys.path.insert(0, str(code_dir(run)))
    from analysis import drivers as d
    from analysis.periods import quarter_end

    config = yaml.safe_load((run / "config" / "bench.yaml").read_text(encoding="utf-8"))
    r, it, em = tables(run)
    scores = d.respondent_scores(r, it)
    data = d.select_waves(d.exit_outcomes(scores, em, config["retention"]["horizon_days"], quarter_end(config["period"]["end"])), d.EXIT, "all").collect()
    x, y, person = data.select(d.DRIVERS).to_numpy().astype(float), data[d.EXIT].to_numpy().astype(float), data["person"].to_numpy()
    print(f"{data.height} responses with a known 12-month outcome")
    warm = timed(f"importance(r2='mcfadden', reps={reps}), warm-started", lambda: d.importance(x, y, person, r2="mcfadden", reps=reps, seed=1), 1)
    W = d.shapley_matrix(6)

    def cold():
        _, index = np.unique(person, return_inverse=True)
        people = index.max() + 1
        rng = np.random.default_rng(1)
        d.mcfadden_r2_by_subset(x, y)
        boot = np.empty((reps, 6))
        for b in range(reps):
            w = np.bincount(rng.integers(0, people, people), minlength=people)[index].astype(float)
            keep = w > 0
            boot[b] = d.mcfadden_r2_by_subset(x[keep], y[keep], w[keep]) @ W
        return boot

    boot = timed("the same bootstrap, every Newton fit from the null model", cold, 1)
    share = boot / boot.sum(axis=1, keepdims=True)
    print("largest difference in share_low/share_high:", float(max(np.abs(warm["share_low"] - np.nanquantile(share, 0.025, axis=0)).max(), np.abs(warm["share_high"] - np.nanquantile(share, 0.975, axis=0)).max())))


def people_sample(run: Path, *caps: int) -> None:
    """survival.build and drivers.driver_importance_table with retention/drivers.max_people at each cap (0: everyone)."""
    sys.path.insert(0, str(code_dir(run)))
    from analysis import drivers as d
    from analysis import survival as s

    config = yaml.safe_load((run / "config" / "bench.yaml").read_text(encoding="utf-8"))
    r, it, em = tables(run)
    for cap in caps or (20000,):
        config["retention"] |= {"max_people": cap or None, "seed": config["retention"].get("seed", 20261122)}
        config["drivers"]["max_people"] = cap or None
        built = timed(f"survival.build, retention.max_people={cap or None}", lambda: s.build(em, r, it, config), 1)
        tv = built["cox_hazard_ratios"].filter(pl.col("model") == "time_varying_calibrated").select("driver", "hr", "hr_low", "hr_high", "n_subjects", "sample_people", "eligible_people")
        print(tv)
        ranked = timed(f"drivers.driver_importance_table, drivers.max_people={cap or None}, {config['drivers']['bootstrap_reps']} replicates", lambda: d.driver_importance_table(r, it, em, config), 1)
        print(ranked.select("outcome", "driver", "share", "share_low", "share_high", "rank", "people", "eligible_people"))


def combine(run: Path) -> None:
    """analysis.ingest.combine_parts on the run's survey parts, in its own process: time and peak memory."""
    parts = sorted((run / "results" / "canonical" / "parts" / "survey_responses").glob("*.parquet"))
    out = Path("/tmp/retain-bench-combine-experiment.parquet")
    script = (
        "import sys, glob; from pathlib import Path; sys.path.insert(0, sys.argv[2]); from analysis.ingest import combine_parts;"
        "parts = sorted(Path(p) for p in glob.glob(sys.argv[1] + '/results/canonical/parts/survey_responses/*.parquet'));"
        "print(combine_parts(parts, None, Path(sys.argv[3])), 'rows')"
    )
    done = subprocess.run(["/usr/bin/time", "-f", "%e s, peak %M KB", sys.executable, "-c", script, str(run), str(code_dir(run)), str(out)], capture_output=True, text=True, check=False)
    print(f"combine_parts, {len(parts)} parts: {done.stdout.strip()}, {done.stderr.strip().splitlines()[-1]}", flush=True)
    out.unlink(missing_ok=True)


EXPERIMENTS = {
    "engagement-parts": engagement_parts,
    "engagement-scans": engagement_scans,
    "survival-prep": survival_prep,
    "cox-scaling": cox_scaling,
    "drivers-warm-start": drivers_warm_start,
    "combine": combine,
    "people-sample": people_sample,
}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in EXPERIMENTS:
        print(__doc__)
        return 2
    extra = [int(a) for a in argv[2:]]
    EXPERIMENTS[argv[0]](Path(argv[1]).resolve(), *extra)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
