"""What the Snakemake rules call: one function per rule, plus the helpers that name their files.

Rules stay thin (input, output, log and one call); all logic lives in the analysis modules.
"""

from __future__ import annotations

import functools
import glob
import json
import logging
import os
import re
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
    "reliability": "results/tables/reliability.parquet",
    "engagement_change": "results/tables/engagement_change.parquet",
    "driver_importance": "results/tables/driver_importance.parquet",
    "km_curves": "results/tables/km_curves.parquet",
    "km_logrank": "results/tables/km_logrank.parquet",
    "cox_hazard_ratios": "results/tables/cox_hazard_ratios.parquet",
    "exit12_odds_ratios": "results/tables/exit12_odds_ratios.parquet",
    "competing_risks_cif": "results/tables/competing_risks_cif.parquet",
    "competing_risks_hr": "results/tables/competing_risks_hr.parquet",
    "team_panel": "results/tables/team_panel.parquet",
    "programme_effects": "results/tables/programme_effects.parquet",
    "programme_event_study": "results/tables/programme_event_study.parquet",
    "programme_group_time": "results/tables/programme_group_time.parquet",
    "programme_savings": "results/tables/programme_savings.parquet",
}
# Canonical table <- config input name, for the one-file tables.
TABLE_INPUTS = {
    "employees": "roster",
    "timesheets": "timesheets",
    "survey_items": "survey_items",
    "interventions": "interventions",
    "assignments": "assignments",
}
# Tables whose input may also be a list of {glob, profile}: one ingest job per file, then combined.
MULTI_FILE_TABLES = ("timesheets", "assignments")
# Files the report exhibits (analysis/exhibits.py) may read besides TABLES.
EXHIBIT_EXTRA_SOURCES = {"ingest_manifest": "results/ingest/manifest.json"}
# Files every render reads besides the template and what it shows: the Quarto project and theme.
REPORT_THEME = ("reports/_quarto.yml", "reports/theme/retain.css")

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


def exhibit_sources() -> dict[str, str]:
    """Table name -> file, for everything an exhibit builder may declare it reads."""
    return {**TABLES, **EXHIBIT_EXTRA_SOURCES}


def exhibit_inputs(scope: str) -> dict[str, str]:
    """The files the exhibits of a scope ("quarterly" or "research") read, from their declarations."""
    from analysis.exhibits import tables_read

    sources = exhibit_sources()
    unknown = [name for name in tables_read(scope) if name not in sources]
    if unknown:
        sys.exit(f"Retain: analysis/exhibits.py declares unknown tables {unknown}; known: {sorted(sources)}")
    return {name: sources[name] for name in tables_read(scope)}


def exhibit_outputs(scope: str, label: str) -> dict[str, str]:
    """Every file the exhibits of a scope write under results/figures/<label>/, keyed for Snakemake."""
    from analysis.exhibits import label_directory, registered

    return {
        f"{e.kind}_{e.stem.replace('-', '_')}_{ext.replace('.', '_')}": path
        for e in registered(scope)
        for ext, path in e.files(label_directory(label)).items()
    }


def message_catalogue() -> str:
    """The catalogue of generated words (relative to the run directory when it lies inside it)."""
    from analysis.messages import CATALOGUE

    try:
        return str(CATALOGUE.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(CATALOGUE.resolve())


def report_theme() -> list[str]:
    """What every render reads besides its template and exhibits: the theme and the words."""
    return [*REPORT_THEME, message_catalogue()]


def exhibit_params(config: dict[str, Any], scope: str) -> dict[str, Any]:
    """The config the exhibits of a scope depend on (a change re-runs their rule); research shows it all."""
    from analysis.config import config_hash

    if scope == "research":
        return {"config_sha256": config_hash(config)}
    report = config["report"]
    return {
        "benchmarks": config["benchmarks"],
        "min_group_size": config["privacy"]["min_group_size"],
        "currency": config["cost"]["currency"],
        "language": report.get("language", "en"),
        # the retention section compares the tiers at the horizon; each programme names the driver it should move
        "horizon_days": config["retention"]["horizon_days"],
        "programme_drivers": config["programmes"]["drivers"],
    }


def figure_outputs(quarter: str) -> dict[str, str]:
    return exhibit_outputs("quarterly", quarter)


def figure_files(quarter: str) -> list[str]:
    return list(figure_outputs(quarter).values())


def research_label() -> str:
    from analysis.exhibits import RESEARCH

    return RESEARCH


def research_files() -> list[str]:
    return list(exhibit_outputs("research", research_label()).values())


def research_outputs() -> dict[str, str]:
    return {"html": "results/reports/research.html"}


def quarterly_outputs(config: dict[str, Any], quarter: str) -> dict[str, str]:
    return {fmt: f"results/reports/{quarter}/quarterly.{fmt}" for fmt in config["report"]["formats"]}


def report_outputs(config: dict[str, Any]) -> list[str]:
    quarterly = [path for q in report_quarters(config) for path in quarterly_outputs(config, q).values()]
    return [*quarterly, *research_outputs().values()]


def table_parts(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each export file of a multi-file table (timesheets, assignments given as globs), keyed by file stem."""
    parts: dict[str, dict[str, str]] = {}
    taken = set(survey_sources(config)) | set(TABLE_INPUTS) | {"manifest"}  # stems name stats and rejects files
    for table in MULTI_FILE_TABLES:
        entries = config["inputs"].get(TABLE_INPUTS[table])
        if not isinstance(entries, list):
            continue
        for entry in entries:
            matches = sorted(glob.glob(entry["glob"]))
            if not matches:
                sys.exit(f"Retain: inputs.{TABLE_INPUTS[table]}: no file matches {entry['glob']!r}")
            for path in matches:
                stem = Path(path).name.split(".")[0]
                if stem in parts or stem in taken:
                    sys.exit(f"Retain: two exports share the name {stem!r} ({path}); every export file needs its own name")
                parts[stem] = {"table": table, "path": path, "profile_path": profile_file(entry["profile"])}
    return parts


def part_tables(config: dict[str, Any]) -> list[str]:
    """Multi-file tables configured as a list of globs."""
    return sorted({part["table"] for part in table_parts(config).values()})


def part_files(config: dict[str, Any], table: str) -> list[str]:
    return sorted(f"results/canonical/parts/{stem}.parquet" for stem, part in table_parts(config).items() if part["table"] == table)


def ingest_links(table: str) -> dict[str, str]:
    """Canonical tables an ingest job checks its rows against (catalogue, roster spells)."""
    employees = "results/canonical/employees.parquet"
    return {
        "survey_responses": {"catalogue": "results/canonical/survey_items.parquet", "employees": employees},
        "assignments": {"employees": employees},
    }.get(table, {})


class IngestInputs:
    """Input functions of the ingest rules (Snakemake calls them with the job's wildcards)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.parts = table_parts(config)

    def part_path(self, wildcards: Any) -> str:
        return self.parts[wildcards.part]["path"]

    def part_profile(self, wildcards: Any) -> str:
        return self.parts[wildcards.part]["profile_path"]

    def part_links(self, wildcards: Any) -> dict[str, str]:
        return ingest_links(self.parts[wildcards.part]["table"])

    def table_links(self, wildcards: Any) -> dict[str, str]:
        return ingest_links(wildcards.table)

    def parts_of_table(self, wildcards: Any) -> list[str]:
        return part_files(self.config, wildcards.table)


def one_of(names: list[str]) -> str:
    """A wildcard constraint matching exactly these names (and nothing when there are none)."""
    return alternatives(names) if names else "(?!)"


def input_files(config: dict[str, Any]) -> list[str]:
    files = [entry["path"] for name, entry in config["inputs"].items() if name != "surveys" and isinstance(entry, dict)]
    files += [source["path"] for source in survey_sources(config).values()]
    files += [part["path"] for part in table_parts(config).values()]
    return sorted(set(files))


def ingest_stats_files(config: dict[str, Any]) -> list[str]:
    stems = [*single_tables(config), *survey_sources(config), *table_parts(config)]
    return sorted(f"results/ingest/{stem}.json" for stem in stems)


def single_tables(config: dict[str, Any]) -> list[str]:
    """The canonical tables ingested from one configured file each (optional ones only if configured)."""
    return [table for table, name in TABLE_INPUTS.items() if isinstance(config["inputs"].get(name), dict)]


def audited_outputs(config: dict[str, Any]) -> list[str]:
    tables = single_tables(config)
    outputs = [f"results/canonical/{t}.parquet" for t in [*tables, *part_tables(config)]] + ["results/canonical/survey_responses.parquet"]
    outputs += [f"results/rejects/{t}.csv" for t in tables] + [f"results/rejects/{s}.csv" for s in survey_sources(config)]
    outputs += [f"results/rejects/{p}.csv" for p in table_parts(config)]
    outputs += ["results/ingest/manifest.json", *TABLES.values()]
    for quarter in report_quarters(config):
        outputs += [f"results/numbers/{quarter}.json", *figure_files(quarter), *quarterly_outputs(config, quarter).values()]
        outputs.append(f"results/reports/{quarter}/render.json")
    outputs += [*research_files(), *research_outputs().values(), "results/reports/research.render.json"]
    return sorted(outputs)


# ------------------------------------------------------------------ running a rule

# What each rule's job runs (workflow/scripts/run_rule.py): "module:function" and the arguments,
# taken from the job's Snakemake object ("quarter" is the wildcard). Rules are `script:` rules, so
# a job runs in one Python process instead of a Snakemake process that re-parses the workflow.
RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ingest_table": ("analysis.pipeline:ingest", ("input", "output", "config")),
    "ingest_survey": ("analysis.pipeline:ingest", ("input", "output", "config")),
    "ingest_part": ("analysis.pipeline:ingest", ("input", "output", "config")),
    "combine_surveys": ("analysis.pipeline:combine", ("input", "output")),
    "combine_parts": ("analysis.pipeline:combine", ("input", "output")),
    "write_ingest_manifest": ("analysis.pipeline:ingest_manifest", ("input", "output")),
    "compute_turnover": ("analysis.pipeline:turnover", ("input", "output", "config")),
    "count_engagement": ("analysis.pipeline:engagement_counts", ("input", "output", "config", "part")),
    "compute_engagement": ("analysis.pipeline:engagement", ("input", "output", "config")),
    "collect_numbers": ("analysis.pipeline:numbers", ("input", "output", "config", "quarter")),
    "evaluate_programmes": ("analysis.programmes:run_rule", ("input", "output", "config")),
    "fit_survival": ("analysis.survival:run_rule", ("input", "output", "config")),
    "rank_drivers": ("analysis.drivers:run_rule", ("input", "output", "config")),
    "build_figures": ("analysis.pipeline:figures", ("input", "output", "config", "quarter")),
    "build_research_figures": ("analysis.pipeline:research_figures", ("input", "output", "config")),
    "render_quarterly": ("analysis.pipeline:render_quarterly", ("input", "output", "config", "quarter")),
    "render_research": ("analysis.pipeline:render_research", ("input", "output", "config")),
    "write_build_manifest": ("analysis.pipeline:build_manifest", ("input", "output", "config")),
    "write_manifest": ("analysis.pipeline:manifest", ("input", "output", "config")),
}
# Errors that are the user's to fix (a bad export, config, key or template): the job ends with
# the message alone. Anything else is a bug and keeps its traceback.
USER_ERRORS = ("IngestError", "ConfigError", "PseudonymKeyError", "RenderError", "ReportError", "ManifestError", "MessageError")


def _entry(target: str) -> Callable[..., Any]:
    import importlib

    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def run_job(job: Any) -> None:
    """Run the function of a job's rule (RULES) with the job's log; called by workflow/scripts/run_rule.py.

    A user error (USER_ERRORS) ends the job with its message, on stderr and in the log; any other
    exception keeps its traceback.
    """
    if job.rule not in RULES:
        sys.exit(f"Retain: rule {job.rule} has no entry in analysis/pipeline.py RULES")
    target, names = RULES[job.rule]
    values = {"input": job.input, "output": job.output, "config": job.config}
    args = [getattr(job.wildcards, name) if name not in values else values[name] for name in names]
    try:
        run_logged(job.log[0], _entry(target), *args)
    except Exception as exc:
        if type(exc).__name__ not in USER_ERRORS:
            raise
        print(f"Retain: rule {job.rule} failed: {type(exc).__name__}: {exc}\n(log: {job.log[0]})", file=sys.stderr)
        sys.exit(1)


def rule_code(rule: str, script: str | Path) -> str:
    """A job's code as a params value (`code-sha256:<hex>`): the SHA-256 of the script every rule runs,
    the source of the rule's function and every analysis module it imports, transitively.

    A params value, so Snakemake records it with each output (the run manifest reports it as the
    output's code hash) and reruns exactly the jobs whose code changed.
    """
    import hashlib

    from analysis.audit import CODE_PARAM_PREFIX  # audit reads it back from Snakemake's job record

    if rule not in RULES:
        sys.exit(f"Retain: rule {rule} has no entry in analysis/pipeline.py RULES")
    target = RULES[rule][0]
    digest = hashlib.sha256()
    for name, text in [("script", Path(script).read_bytes()), *_code_parts(target)]:
        digest.update(f"{name}\0{len(text)}\0".encode())
        digest.update(text)
    return CODE_PARAM_PREFIX + digest.hexdigest()


PACKAGE_DIR = Path(__file__).resolve().parent
_MODULE_REFERENCE = re.compile(r"^analysis\.([a-z_][a-z0-9_]*)(?::[A-Za-z_][A-Za-z0-9_]*)?$")


def _code_parts(target: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of the code behind a RULES target: a pipeline function's own source (not the
    whole of this file, which also names files) or a module, plus the modules it reaches."""
    import ast
    import inspect
    import textwrap

    module, _, function = target.partition(":")
    parts = [("target", target.encode("utf-8"))]
    parts += [(f"analysis.pipeline:{f.__name__}", inspect.getsource(f).encode("utf-8")) for f in (run_job, run_logged)]
    if module == __name__:
        source = inspect.getsource(_entry(target))
        own = ast.parse(textwrap.dedent(source))
        start = set(_references(own)) | set(_references(_module_ast("pipeline"), top_level_only=True))
        parts.append((target, source.encode("utf-8")))
    else:
        start = {module.removeprefix("analysis.")}
    for name in sorted(_closure(start)):
        path = PACKAGE_DIR / name
        parts.append((f"analysis/{name}", path.read_bytes()))
    return parts


@functools.lru_cache(maxsize=None)
def _module_ast(name: str) -> Any:
    import ast

    return ast.parse((PACKAGE_DIR / f"{name}.py").read_text(encoding="utf-8"))


def _references(tree: Any, top_level_only: bool = False) -> list[str]:
    """Analysis modules (by file stem) and package data files a module's code names: imports,
    "analysis.x:function" strings (e.g. the exhibit registry) and data files beside the code."""
    import ast

    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [a.name.split(".")[1] for a in node.names if a.name.startswith("analysis.")]
        elif isinstance(node, ast.ImportFrom):
            if node.module == "analysis" or (node.level == 1 and node.module is None):
                found += [a.name for a in node.names]
            elif node.module and (node.module.startswith("analysis.") or node.level == 1):
                found.append(node.module.removeprefix("analysis.").split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _MODULE_REFERENCE.match(node.value)
            if match:
                found.append(match.group(1))
            elif "/" not in node.value and node.value.endswith((".yaml", ".yml", ".json")) and (PACKAGE_DIR / node.value).is_file():
                found.append(node.value)
    return found


@functools.lru_cache(maxsize=None)
def _closure_of(name: str) -> frozenset[str]:
    """Files (relative to analysis/) a module reaches: itself, its data files and what it imports."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        if current.endswith((".yaml", ".yml", ".json")):
            seen.add(current)
            continue
        if not (PACKAGE_DIR / f"{current}.py").is_file():
            continue  # a name imported from the package that is not a module
        seen.add(current)
        todo += _references(_module_ast(current))
    return frozenset(s if "." in s else f"{s}.py" for s in seen)


def _closure(start: set[str]) -> set[str]:
    return set().union(*(_closure_of(name) for name in start)) if start else set()


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
        employees_path=getattr(input, "employees", None),
    )
    s = result.stats
    log.info("%s: read %d rows, accepted %d, rejected %d", s["file"], s["rows_read"], s["rows_accepted"], s["rows_rejected"])
    if s.get("personal_columns_dropped"):
        log.info("personal columns dropped: %s", ", ".join(s["personal_columns_dropped"]))


def combine(input: Any, output: Any) -> None:
    from analysis.ingest import combine_parts

    rows = combine_parts(list(input.parts), None, output.table)
    log.info("combined %d exports into %d rows", len(input.parts), rows)


def ingest_manifest(input: Any, output: Any) -> None:
    from analysis.ingest import write_manifest

    manifest = write_manifest(list(input.stats), output.manifest)
    log.info("%d files: read %d rows, accepted %d, rejected %d", len(input.stats), manifest["rows_read"], manifest["rows_accepted"], manifest["rows_rejected"])


def turnover(input: Any, output: Any, config: dict[str, Any]) -> None:
    import polars as pl

    from analysis.cost import cost_table
    from analysis.turnover import turnover_table

    quarters = quarters_between(config["period"]["start"], config["period"]["end"])
    employees = pl.scan_parquet(input.employees)
    turnover_table(employees, quarters, config["privacy"]["min_group_size"]).write_parquet(output.turnover)
    cost_table(employees, quarters, config["cost"]).write_parquet(output.cost)


def engagement(input: Any, output: Any, config: dict[str, Any]) -> None:
    """Every engagement table (engagement, enps, response_rates, reliability, engagement_change)
    from the partial counts of every slice (count_engagement jobs); the answers are not read here."""
    import polars as pl

    from analysis.engagement import PARTIAL_KINDS, combine_counts

    files = engagement_partial_files(config)
    if sorted(input.partials) != sorted(files):
        raise ValueError(f"compute_engagement was given partials {sorted(input.partials)}, the config names {files}")
    slices = [{kind: pl.read_parquet(path) for kind, path in engagement_partial_outputs(part).items()} for part in engagement_slices(config)]
    log.info("combining the counts of %d slice(s) (%s)", len(slices), ", ".join(engagement_slices(config)))
    assert sorted(PARTIAL_KINDS) == sorted(slices[0])
    for name, table in combine_counts(slices, config["privacy"]["min_group_size"]).items():
        table.write_parquet(getattr(output, name))


def engagement_counts(input: Any, output: Any, config: dict[str, Any], part: str) -> None:
    """One slice's integer counts (analysis.engagement.partial_counts), one Parquet file per kind."""
    import polars as pl

    from analysis.engagement import Slice, count_slice
    from analysis.passes import answers_per_pass

    part_slice = Slice(**engagement_slices(config)[part])
    counts = count_slice(
        pl.scan_parquet(input.responses),
        pl.scan_parquet(input.catalogue),
        pl.scan_parquet(input.employees),
        config["survey"]["favourable_min"],
        part_slice,
        answers_per_pass=answers_per_pass(config),
    )
    for kind, frame in counts.items():
        frame.write_parquet(getattr(output, kind))
        log.info("%s: %s counts in %d cells", part, kind, frame.height)


# ------------------------------------------------------------------ partitioning (docs/cluster.md)


def partition_settings(config: dict[str, Any]) -> dict[str, Any]:
    """`partition:` with its defaults: by none|quarter, units none|site|team_group, groups N."""
    given = config.get("partition") or {}
    settings = {"by": given.get("by", "none"), "units": given.get("units", "none"), "groups": int(given.get("groups", 1))}
    if (settings["units"] == "none") != (settings["groups"] == 1):
        sys.exit(f"Retain: partition.units {settings['units']!r} needs partition.groups >= 2 (and units none needs groups 1); got groups {settings['groups']}")
    return settings


def engagement_slices(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Slice name -> analysis.engagement.Slice fields, one count_engagement job each.

    By quarter: one slice per quarter of the period (the first also takes earlier survey
    quarters, the last later ones, so every answer is counted once); by unit: one per bucket of
    teams. Unpartitioned: one slice, "all_all".
    """
    settings = partition_settings(config)
    if settings["by"] == "quarter":
        quarters = quarters_between(config["period"]["start"], config["period"]["end"])
        spans = [(None if i == 0 else q, None if i == len(quarters) - 1 else q, q) for i, q in enumerate(quarters)]
    else:
        spans = [(None, None, "all")]
    units = settings["units"]
    buckets = [(None, "all")] if units == "none" else [(u, f"{units}-{u + 1}of{settings['groups']}") for u in range(settings["groups"])]
    return {
        f"{label}_{unit_label}": {"first": first, "last": last, "unit": unit, "units": "team_group" if units == "none" else units, "groups": settings["groups"]}
        for first, last, label in spans
        for unit, unit_label in buckets
    }


def engagement_partial_outputs(part: str) -> dict[str, str]:
    from analysis.engagement import PARTIAL_KINDS

    return {kind: f"results/partials/engagement/{part}/{kind}.parquet" for kind in PARTIAL_KINDS}


def engagement_partial_files(config: dict[str, Any]) -> list[str]:
    return sorted(path for part in engagement_slices(config) for path in engagement_partial_outputs(part).values())


def numbers(input: Any, output: Any, config: dict[str, Any], quarter: str) -> None:
    from analysis.numbers import build_numbers, write

    tables = {name: getattr(input, name) for name in [*TABLES, "ingest_manifest"]}
    records = build_numbers(tables, quarter, config)
    write(records, output.numbers)
    log.info("%d numbers for %s", len(records), quarter)


def figures(input: Any, output: Any, config: dict[str, Any], quarter: str) -> None:
    """The quarterly report's exhibits (charts and tables) for one quarter."""
    from analysis.exhibits import build, label_directory

    sources = {name: getattr(input, name) for name in exhibit_inputs("quarterly")}
    for exhibit_id, title in build("quarterly", quarter, quarter, sources, config, label_directory(quarter)):
        log.info("%s: %s", exhibit_id, title)


def research_figures(input: Any, output: Any, config: dict[str, Any]) -> None:
    """The research report's exhibits, over the whole period."""
    from analysis.exhibits import build, label_directory

    sources = {name: getattr(input, name) for name in exhibit_inputs("research")}
    label = research_label()
    for exhibit_id, title in build("research", label, config["period"]["end"], sources, config, label_directory(label)):
        log.info("%s: %s", exhibit_id, title)


def report_metadata(config: dict[str, Any], kind: str, quarter: str) -> dict[str, str]:
    """Title, subtitle and language of a report, in the report's language (passed as document metadata)."""
    from analysis import messages

    lang = config["report"].get("language", messages.DEFAULT_LANGUAGE)
    subtitle = {
        "quarterly": {"organisation": config["organisation"], "quarter": quarter},
        "research": {"organisation": config["organisation"], "start": config["period"]["start"], "end": config["period"]["end"]},
    }[kind]
    return {
        "title": messages.text(f"title.{kind}", lang),
        "subtitle": messages.text(f"subtitle.{kind}", lang, **subtitle),
        "lang": lang,
        "pagetitle": f"{messages.text(f'title.{kind}', lang)} – {messages.text(f'subtitle.{kind}', lang, **subtitle)}",
    }


def _render_report(input: Any, output: Any, config: dict[str, Any], kind: str, quarter: str, out_dir: Path, stem: str, formats: tuple[str, ...]) -> None:
    from analysis.render import render

    manifest_path = getattr(input, "build_manifest", None)  # results/audit/build_manifest.json, once wired
    params = {
        "quarter": quarter,
        "results_dir": str(Path("results").resolve()),
        "organisation": config["organisation"],
        "language": config["report"].get("language", "en"),
        "build_manifest": str(Path(manifest_path).resolve()) if manifest_path else "",
    }
    result = render(
        Path(input.template),
        out_dir,
        output_stem=stem,
        params=params,
        metadata=report_metadata(config, kind, quarter),
        formats=formats,
        engine=config["report"]["engine"],
        log=log.info,
    )
    written = {fmt: os.path.relpath(path) for fmt, path in sorted(result.outputs.items())}
    log.info("rendered %s with the %s engine", ", ".join(written.values()), result.engine)
    Path(output.render_record).write_text(
        json.dumps({"engine": result.engine, "outputs": written}, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )


def render_quarterly(input: Any, output: Any, config: dict[str, Any], quarter: str) -> None:
    _render_report(input, output, config, "quarterly", quarter, Path(f"results/reports/{quarter}"), "quarterly", tuple(config["report"]["formats"]))


def render_research(input: Any, output: Any, config: dict[str, Any]) -> None:
    _render_report(input, output, config, "research", config["period"]["end"], Path("results/reports"), "research", ("html",))


# ------------------------------------------------------------------ audit (analysis/audit.py)


def profile_files(config: dict[str, Any]) -> list[str]:
    """The export profiles the configured inputs are read with."""
    files = {profile_file(entry["profile"]) for entry in config["inputs"].values() if isinstance(entry, dict)}
    files |= {source["profile_path"] for source in survey_sources(config).values()}
    files |= {part["profile_path"] for part in table_parts(config).values()}
    return sorted(files)


def report_sources(config: dict[str, Any]) -> list[str]:
    """Every file the reports are built from (canonical tables, rejects, ingest records, analysis
    tables, numbers, exhibits): what the build manifest covers."""
    audited = [path for path in audited_outputs(config) if not path.startswith("results/reports/")]
    return sorted({*audited, *ingest_stats_files(config)})


def build_manifest(input: Any, output: Any, config: dict[str, Any]) -> None:
    from analysis.audit import write_build_manifest

    document = write_build_manifest(list(input.inputs), list(input.profiles), list(input.outputs), config, input.ingest_manifest, output.manifest)
    log.info("build manifest: %d inputs, %d outputs, %d IDs", len(document["inputs"]), len(document["outputs"]), len(document["ids"]))


def manifest(input: Any, output: Any, config: dict[str, Any]) -> None:
    from analysis.audit import write_run_manifest

    document = write_run_manifest(
        list(input.inputs), list(input.profiles), list(input.outputs), config, input.ingest_manifest, input.build_manifest, output.manifest
    )
    unrecorded = [entry["path"] for entry in document["outputs"] if entry["rule"] is None]
    if unrecorded:
        log.warning("no Snakemake job record for %d output(s), e.g. %s", len(unrecorded), unrecorded[0])
    log.info("run manifest: %d inputs, %d outputs, %d IDs", len(document["inputs"]), len(document["outputs"]), len(document["ids"]))



EXHIBIT_FILE_LABELS = {"svg": "chart (SVG)", "vl.json": "chart spec (Vega-Lite)", "tbl.json": "table spec", "parquet": "data (Parquet)"}


def exhibit_report_items(scope: str, label: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each exhibit file with the arguments of its report() flag (snakemake --report): a caption
    under workflow/report/ (the exhibit's own, else the generic one of its kind), a category and
    labels naming the exhibit, its ID and the file's role. `label` may be a wildcard ("{quarter}")."""
    from analysis.exhibits import label_directory, registered

    captions = Path(__file__).resolve().parents[1] / "workflow" / "report"
    items = {}
    for e in registered(scope):
        own = f"figures/{e.stem}.rst" if e.kind == "fig" else f"tables/{e.stem}.rst"
        caption = own if (captions / own).is_file() else ("figure.rst" if e.kind == "fig" else "report_table.rst")
        for ext, path in e.files(label_directory(label)).items():
            items[f"{e.kind}_{e.stem.replace('-', '_')}_{ext.replace('.', '_')}"] = (
                path,
                {
                    "caption": f"../report/{caption}",
                    "category": "Figures" if e.kind == "fig" else "Report tables",
                    "subcategory": label,
                    "labels": {"exhibit": e.stem, "ID": e.id(label), "file": EXHIBIT_FILE_LABELS.get(ext, ext)},
                },
            )
    return items
