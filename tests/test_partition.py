"""Partitioning (docs/cluster.md): the engagement counts split by quarter and by groups of teams
(config `partition:`) give exactly the tables of one job.

Fast: any split of a generated survey into slices, counted and combined, gives the same frames,
bit for bit, as one slice, and the means and standard deviations equal a direct float
computation. End to end: the demo workflow run partitioned (quarter x 3 site groups) writes
every table, figure and numbers file byte-identical to the session's unpartitioned run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from analysis import pipeline
from analysis.engagement import PARTIAL_KINDS, Slice, collect_counts, combine_counts, partial_counts, unit_bucket
from conftest import REPO, WORKFLOW_PARTS

QUARTERS = ["2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1"]
DRIVERS = {"mission": 3, "recognition": 2, "worklife": 1}  # items per driver: respondent means are thirds, halves, wholes


def survey(seed: int = 7) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """A generated organisation: 30 teams on 4 sites, 5 quarterly waves, unanswered items, eNPS."""
    rng = np.random.default_rng(seed)
    teams = [f"T{t:02d}" for t in range(30)]
    site_of = {team: f"S{int(rng.integers(4))}" for team in teams}
    people = [(f"k{p:04d}", teams[int(rng.integers(len(teams)))]) for p in range(900)]
    employees = pl.DataFrame(
        {
            "employee_key": [k for k, _ in people],
            "team": [t for _, t in people],
            "site": [site_of[t] for _, t in people],
            "hire_date": [dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 2300, len(people))],
            "exit_date": [None if rng.random() < 0.7 else dt.date(2025, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 500, len(people))],
        }
    )
    items = pl.DataFrame(
        {
            "item_id": [f"{d}_{i}" for d, k in DRIVERS.items() for i in range(k)] + ["enps"],
            "driver": [d for d, k in DRIVERS.items() for _ in range(k)] + ["enps"],
            "scale": ["likert5"] * sum(DRIVERS.values()) + ["nps11"],
        }
    )
    rows = []
    for q, quarter in enumerate(QUARTERS):
        wave = dt.date(2025 + (q + 0) // 4, 3 * (q % 4) + 1, 1)
        for p, (key, team) in enumerate(people):
            if rng.random() < 0.35:
                continue
            response = f"r{q}-{p}"
            date = wave + dt.timedelta(days=int(rng.integers(3, 20)))
            for item in items["item_id"]:
                if item == "enps":
                    value = int(rng.integers(0, 11))
                else:
                    value = None if rng.random() < 0.15 else int(rng.integers(1, 6))
                rows.append((response, key, team, date, item, value, wave, quarter))
    responses = pl.DataFrame(
        rows,
        schema={"response_id": pl.String, "employee_key": pl.String, "team": pl.String, "response_date": pl.Date, "item_id": pl.String, "value": pl.Int8, "wave": pl.Date, "quarter": pl.String},
        orient="row",
    ).with_columns(pl.col("value").alias("score"))
    return responses.lazy(), items.lazy(), employees.lazy()


def slices(by_quarter: bool, units: str | None, groups: int) -> list[Slice]:
    spans = [(None if i == 0 else q, None if i == len(QUARTERS) - 1 else q) for i, q in enumerate(QUARTERS)] if by_quarter else [(None, None)]
    buckets = [None] if units is None else list(range(groups))
    return [Slice(first, last, unit, units or "team_group", groups) for first, last in spans for unit in buckets]


@pytest.mark.parametrize(("by_quarter", "units", "groups"), [(True, None, 1), (False, "site", 3), (False, "team_group", 4), (True, "team_group", 3), (True, "site", 2)])
def test_any_split_of_the_answers_gives_the_same_bytes(by_quarter, units, groups):
    responses, items, employees = survey()
    whole = combine_counts([collect_counts(partial_counts(responses, items, employees, 4))], min_group_size=5)
    counted = [collect_counts(partial_counts(responses, items, employees, 4, part)) for part in slices(by_quarter, units, groups)]
    assert sum(c["responded"]["respondents"].sum() for c in counted) == responses.select(pl.col("response_id").n_unique()).collect().item()
    split = combine_counts(counted[::-1], min_group_size=5)  # the order slices arrive in does not matter
    for name, table in whole.items():
        assert table.height > 0 and table.equals(split[name]), name


def test_means_and_sds_from_integer_sums_equal_a_direct_computation():
    responses, items, employees = survey(seed=11)
    table = combine_counts([collect_counts(partial_counts(responses, items, employees, 4))], min_group_size=5)["engagement"]
    scores = (
        responses.join(items.filter(pl.col("scale") == "likert5"), on="item_id")
        .group_by("response_id", "team", "wave", "driver")
        .agg(pl.col("score").cast(pl.Float64).mean().alias("m"))
        .group_by("wave", "driver")
        .agg(pl.len().alias("respondents"), pl.col("m").mean().alias("mean"), pl.col("m").std().alias("sd"))
        .collect()
    )
    org = table.filter(pl.col("level") == "organisation").join(scores, on=["wave", "driver"], suffix="_direct")
    assert org.height == len(QUARTERS) * len(DRIVERS)
    assert (org["respondents"] == org["respondents_direct"]).all()
    assert np.allclose(org["mean"], org["mean_direct"], rtol=1e-13, atol=0) and np.allclose(org["sd"], org["sd_direct"], rtol=1e-12, atol=0)


def test_slices_cover_the_period_and_name_their_jobs():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text(encoding="utf-8"))
    assert list(pipeline.engagement_slices(config)) == ["all_all"]  # the default: one job
    config["partition"] = {"by": "quarter", "units": "site", "groups": 3}
    named = pipeline.engagement_slices(config)
    assert len(named) == 3 * len(pipeline.quarters_between(config["period"]["start"], config["period"]["end"]))
    first, last = named[f"{config['period']['start']}_site-1of3"], named[f"{config['period']['end']}_site-3of3"]
    assert (first["first"], first["last"], first["unit"]) == (None, config["period"]["start"], 0)  # also earlier quarters
    assert (last["first"], last["last"], last["unit"]) == (config["period"]["end"], None, 2)  # also later quarters
    assert len(pipeline.engagement_partial_files(config)) == len(PARTIAL_KINDS) * len(named)
    assert unit_bucket("AMS", 3) == zlib.crc32(b"AMS") % 3 and unit_bucket(None, 3) == zlib.crc32(b"") % 3


# ------------------------------------------------------------------ the workflow, end to end

# Files that differ between the two runs because the config differs (partition: is part of it),
# not because a number does: each with the reason. Every other file under results/ must match.
CONFIG_DEPENDENT = {
    "results/audit/build_manifest.json": "states the config's SHA-256 (compared below without it)",
    "results/audit/manifest.json": "holds the config, job times and job records (compared below: same output hashes)",
    "results/figures/research/config.parquet": "the research report's table of the configuration",
    "results/figures/research/config.tbl.json": "the research report's table of the configuration",
}


def config_dependent(path: str) -> str | None:
    if path.startswith("results/reports/"):
        return "reports state the build manifest's hash (and the research report shows the config)"
    return CONFIG_DEPENDENT.get(path)


def hashes(workdir: Path) -> dict[str, str]:
    return {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((workdir / "results").rglob("*")) if p.is_file()}


@pytest.mark.e2e
def test_partitioned_run_writes_the_same_tables_figures_and_numbers(workflow_run, tmp_path_factory):
    unsplit, _, report = workflow_run
    workdir = tmp_path_factory.mktemp("retain-partitioned")
    for part in WORKFLOW_PARTS:
        shutil.copytree(REPO / part, workdir / part)
    config = yaml.safe_load((workdir / "config/config.yaml").read_text(encoding="utf-8"))
    config["partition"] = {"by": "quarter", "units": "site", "groups": 3}
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", "workflow/Snakefile", "--cores", "2", "--config", f"report={json.dumps(report)}"],
        cwd=workdir, capture_output=True, text=True, check=False, env={**os.environ, "RETAIN_PSEUDONYM_KEY": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    jobs = len(pipeline.engagement_slices(config))
    assert jobs == 3 * 12 and re.search(rf"^count_engagement\s+{jobs}$", done.stdout + done.stderr, re.MULTILINE), "one job per quarter and site group"
    assert not (workdir / "results/partials").exists() or not any((workdir / "results/partials").rglob("*.parquet")), "partials are temporary"

    one, split = hashes(unsplit), hashes(workdir)
    assert sorted(one) == sorted(split)
    compared = [p for p in one if config_dependent(p) is None]
    assert {"results/tables/engagement.parquet", "results/tables/enps.parquet", "results/tables/response_rates.parquet"} <= set(compared)
    assert any(p.startswith("results/figures/") for p in compared) and any(p.startswith("results/numbers/") for p in compared)
    differ = [p for p in compared if one[p] != split[p]]
    assert differ == [], f"a partitioned run changed {differ}"

    built = [json.loads((d / "results/audit/build_manifest.json").read_text()) for d in (unsplit, workdir)]
    assert built[0]["config"] != built[1]["config"]
    same = [{k: v for k, v in b.items() if k != "config"} | {"outputs": [e for e in b["outputs"] if not config_dependent(e["path"])]} for b in built]
    assert same[0] == same[1], "the build manifests differ beyond the config and the research report's config table"
    manifests = [json.loads((d / "results/audit/manifest.json").read_text()) for d in (unsplit, workdir)]
    outputs = [{e["path"]: e["sha256"] for e in m["outputs"] if not config_dependent(e["path"])} for m in manifests]
    assert outputs[0] == outputs[1]
    engagement = next(e for e in manifests[1]["outputs"] if e["path"] == "results/tables/engagement.parquet")
    assert engagement["rule"] == "compute_engagement" and all(Path(workdir / p).is_file() for p in engagement["inputs"])
