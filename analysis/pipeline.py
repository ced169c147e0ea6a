"""What the Snakemake rules call: one function per rule, plus the helpers that name their files.

Rules stay thin (input, output, log and one call); all logic lives in the analysis modules.
"""

from __future__ import annotations

import glob
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

from analysis import config as cfg
from analysis.periods import quarters_between

TABLES = {
    "turnover": "results/tables/turnover.parquet",
    "cost": "results/tables/cost.parquet",
    "engagement": "results/tables/engagement.parquet",
    "enps": "results/tables/enps.parquet",
    "response_rates": "results/tables/response_rates.parquet",
}
# Canonical table <- config input name, for the one-file tables.
TABLE_INPUTS = {"employees": "roster", "timesheets": "timesheets", "survey_items": "survey_items", "interventions": "interventions"}
FIGURES = ("turnover-trend", "driver-trend", "team-driver-heatmap")
FIGURE_KINDS = ("vl.json", "parquet", "svg")

log = logging.getLogger("retain")


# ------------------------------------------------------------------ naming files


def validate_config(config: dict[str, Any]) -> None:
    try:
        cfg.validate(config, "config")
    except cfg.ConfigError as exc:
        sys.exit(f"Retain: {exc}")


def profile_file(name: str) -> str:
    """The profile's path, relative to the run directory when it lies inside it (no absolute paths in outputs)."""
    path = cfg.profile_path(name).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def survey_sources(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each survey export file, keyed by its file stem (the Snakemake `source` wildcard)."""
    sources: dict[str, dict[str, str]] = {}
    for entry in config["inputs"]["surveys"]:
        matches = sorted(glob.glob(entry["glob"]))
        if not matches:
            sys.exit(f"Retain: inputs.surveys: no file matches {entry['glob']!r}")
        for path in matches:
            stem = Path(path).name.split(".")[0]
            if stem in sources:
                sys.exit(f"Retain: two survey exports share the name {stem!r}: {sources[stem]['path']} and {path}")
            sources[stem] = {"path": path, "profile_path": profile_file(entry["profile"])}
    return sources


def alternatives(names: dict[str, Any] | list[str]) -> str:
    """A wildcard constraint matching exactly these names."""
    import re

    return "|".join(re.escape(name) for name in sorted(names))


def report_quarters(config: dict[str, Any]) -> list[str]:
    return cfg.report_quarters(config)


def figure_outputs(quarter: str) -> dict[str, str]:
    return {
        f"{stem.replace('-', '_')}_{kind.replace('.', '_')}": f"results/figures/{quarter}/{stem}.{kind}"
        for stem in FIGURES
        for kind in FIGURE_KINDS
    }


def figure_files(quarter: str) -> list[str]:
    return list(figure_outputs(quarter).values())


def quarterly_outputs(config: dict[str, Any], quarter: str) -> dict[str, str]:
    return {fmt: f"results/reports/{quarter}/quarterly.{fmt}" for fmt in config["report"]["formats"]}


def report_outputs(config: dict[str, Any]) -> list[str]:
    return [path for q in report_quarters(config) for path in quarterly_outputs(config, q).values()]


def input_files(config: dict[str, Any]) -> list[str]:
    files = [entry["path"] for name, entry in config["inputs"].items() if name != "surveys"]
    files += [source["path"] for source in survey_sources(config).values()]
    return sorted(files)


def ingest_stats_files(config: dict[str, Any]) -> list[str]:
    return sorted([f"results/ingest/{t}.json" for t in single_tables(config)] + [f"results/ingest/{s}.json" for s in survey_sources(config)])


def single_tables(config: dict[str, Any]) -> list[str]:
    """The canonical tables ingested from one configured file each (optional ones only if configured)."""
    return [table for table, name in TABLE_INPUTS.items() if name in config["inputs"]]


def audited_outputs(config: dict[str, Any]) -> list[str]:
    tables = single_tables(config)
    outputs = [f"results/canonical/{t}.parquet" for t in tables] + ["results/canonical/survey_responses.parquet"]
    outputs += [f"results/rejects/{t}.csv" for t in tables] + [f"results/rejects/{s}.csv" for s in survey_sources(config)]
    outputs += ["results/ingest/manifest.json", *TABLES.values()]
    for quarter in report_quarters(config):
        outputs += [f"results/numbers/{quarter}.json", *figure_files(quarter), *quarterly_outputs(config, quarter).values()]
        outputs.append(f"results/reports/{quarter}/render.json")
    return sorted(outputs)


# ------------------------------------------------------------------ running a rule


def run_logged(log_path: str, func: Callable[..., Any], *args: Any) -> None:
    """Run one rule's function with its log file attached; a user error ends the job with its message."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        func(*args)
        log.info("done in %.1f s", time.perf_counter() - started)
    except Exception as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        raise
    finally:
        log.removeHandler(handler)
        handler.close()


def ingest(input: Any, output: Any, config: dict[str, Any]) -> None:
    from analysis.ingest import ingest_export

    result = ingest_export(
        input.export,
        input.profile,
        config,
        output.table,
        output.rejects,
        output.stats,
        survey_items_path=getattr(input, "catalogue", None),
    )
    s = result.stats
    log.info("%s: read %d rows, accepted %d, rejected %d", s["file"], s["rows_read"], s["rows_accepted"], s["rows_rejected"])


def combine(input: Any, output: Any) -> None:
    from analysis.ingest import combine_parts

    table = combine_parts(list(input.parts), list(input.stats), output.table, output.manifest)
    log.info("combined %d survey exports into %d answers", len(input.parts), table.height)


def turnover(input: Any, output: Any, config: dict[str, Any]) -> None:
    import polars as pl

    from analysis.cost import cost_table
    from analysis.turnover import turnover_table

    quarters = quarters_between(config["period"]["start"], config["period"]["end"])
    employees = pl.scan_parquet(input.employees)
    turnover_table(employees, quarters, config["privacy"]["min_group_size"]).write_parquet(output.turnover)
    cost_table(employees, quarters, config["cost"]).write_parquet(output.cost)


def engagement(input: Any, output: Any, config: dict[str, Any]) -> None:
    from analysis.engagement import build

    build(input.responses, input.catalogue, input.employees, config, {k: getattr(output, k) for k in ("engagement", "enps", "response_rates")})


def numbers(input: Any, output: Any, config: dict[str, Any], quarter: str) -> None:
    from analysis.numbers import build_numbers, write

    tables = {name: getattr(input, name) for name in [*TABLES, "ingest_manifest"]}
    records = build_numbers(tables, quarter, config)
    write(records, output.numbers)
    log.info("%d numbers for %s", len(records), quarter)


def figures(input: Any, output: Any, config: dict[str, Any], quarter: str) -> None:
    from analysis.figures import build

    built = build({"turnover": input.turnover, "engagement": input.engagement}, quarter, config, f"results/figures/{quarter}")
    for figure in built:
        log.info("%s: %s", figure.id, figure.title)


def render_quarterly(input: Any, output: Any, config: dict[str, Any], quarter: str) -> None:
    from analysis.render import render

    out_dir = Path(f"results/reports/{quarter}")
    result = render(
        Path(input.template),
        out_dir,
        output_stem="quarterly",
        params={"quarter": quarter, "results_dir": str(Path("results").resolve()), "organisation": config["organisation"]},
        formats=tuple(config["report"]["formats"]),
        engine=config["report"]["engine"],
        log=log.info,
    )
    log.info("rendered %s with the %s engine", ", ".join(str(p) for p in result.outputs.values()), result.engine)
    Path(output.render_record).write_text(
        json.dumps({"engine": result.engine, "outputs": {k: str(v) for k, v in sorted(result.outputs.items())}}, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )


def manifest(input: Any, output: Any, config: dict[str, Any]) -> None:
    from analysis.audit import write_manifest

    write_manifest(list(input.inputs), list(input.outputs), config, output.manifest)

