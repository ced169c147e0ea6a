"""`retain trace ID`: the lineage of a figure, table or number, down to the input files and rows.

For an ID in the run manifest this prints: where the ID lives and its data file; the table
rows it was read from (the row filter of a number, the rows a chart or report table shows) and
the canonical rows those table rows were computed from (e.g. the spells employed in a team in a
quarter, the answers to a driver's items in a wave); then the chain of Snakemake jobs (rule,
parameters, code hash) down to the input files with their SHA-256 and row counts.

`--rows FILE` writes the contributing canonical rows (pseudonymised: employee keys are keyed
hashes, names and e-mails never reach canonical tables), each with `source_file`/`source_row`
pointing at the export row it came from, unless a contributing group is below
`privacy.min_group_size` or a selected cell is hidden by the privacy gate.

Row selectors know how each analysis table is computed (`ROW_SELECTORS`); a table without one
still traces to its inputs, without row-level detail.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import polars as pl

from analysis.audit import resolve, sha256_file

LEVEL_KEYS = {"organisation": [], "site": ["site"], "team": ["site", "team"]}
CONFIG_SOURCE = "config"
# Columns an exhibit's rows are matched back to its source table on, when the values were changed.
QUARTER = re.compile(r"^[0-9]{4}Q[1-4]$")
KEY_COLUMNS = ("level", "site", "team", "quarter", "wave", "driver", "intervention", "programme", "item_id")


class TraceError(Exception):
    """A trace that cannot be done; the message says why and what to do instead."""


class UnknownId(TraceError):
    def __init__(self, wanted: str, near: list[str]):
        self.near = near
        hint = ("\nNearest IDs:\n  " + "\n  ".join(near)) if near else "\n(no similar ID; `retain trace --list` lists them all)"
        super().__init__(f"unknown ID {wanted!r}: the manifest has no figure, table or number with this ID.{hint}")


class RowsRefused(TraceError):
    """--rows would reveal a group the privacy gate protects."""


# ------------------------------------------------------------------ the manifest


def load_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise TraceError(f"no manifest at {path}; run the workflow first (retain run)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TraceError(f"{path} is not valid JSON ({exc}); rerun the workflow to rewrite it") from exc


def near_matches(wanted: str, known: list[str], n: int = 8) -> list[str]:
    """IDs like `wanted`: close spellings first, then IDs sharing its name or containing it."""
    lowered = {k.lower(): k for k in known}
    close = [lowered[k] for k in difflib.get_close_matches(wanted.lower(), list(lowered), n=n, cutoff=0.6)]
    parts = wanted.split(":")
    name = parts[1] if len(parts) > 1 else parts[0]
    related = [k for k in sorted(known) if name and (k.split(":")[1:2] == [name] or wanted.lower() in k.lower())]
    return list(dict.fromkeys(close + related))[:n]


def find_id(manifest: dict[str, Any], wanted: str) -> dict[str, Any]:
    ids = {entry["id"]: entry for entry in manifest["ids"]}
    if wanted not in ids:
        raise UnknownId(wanted, near_matches(wanted, list(ids)))
    return ids[wanted]


# ------------------------------------------------------------------ table rows


def filter_expr(filter_: dict[str, Any], columns: list[str], where: str) -> pl.Expr:
    """A number record's row filter: value (equals), null, "not null", or a list (one of)."""
    expr = pl.lit(True)
    for column, value in filter_.items():
        if column not in columns:
            raise TraceError(f"the row filter names column {column!r}, which {where} does not have (columns: {', '.join(columns)})")
        if value is None:
            expr &= pl.col(column).is_null()
        elif value == "not null":
            expr &= pl.col(column).is_not_null()
        elif isinstance(value, list):
            expr &= pl.col(column).is_in(value)
        else:
            expr &= pl.col(column) == value
    return expr


def describe_filter(filter_: dict[str, Any]) -> str:
    if not filter_:
        return "all rows"
    parts = []
    for column, value in filter_.items():
        if value is None:
            parts.append(f"{column} is null")
        elif value == "not null":
            parts.append(f"{column} is not null")
        elif isinstance(value, list):
            parts.append(f"{column} in ({', '.join(map(str, value))})")
        else:
            parts.append(f"{column} = {value}")
    return " and ".join(parts)


def expand_braces(path: str) -> list[str]:
    """results/tables/{a,b}.parquet -> [results/tables/a.parquet, results/tables/b.parquet]."""
    if "{" not in path:
        return [path]
    head, _, rest = path.partition("{")
    options, _, tail = rest.partition("}")
    return [p for option in options.split(",") for p in expand_braces(head + option + tail)]


@dataclass
class Selection:
    """The rows of one analysis table an ID is read from."""

    table: str  # path
    how: str  # the filter, in words
    rows: pl.DataFrame | None  # None: not a row table (config, JSON record)
    notes: list[str] = field(default_factory=list)


def _exhibit_rows(data: pl.DataFrame, table: pl.DataFrame, label: str) -> tuple[pl.DataFrame, str, list[str]]:
    """The table rows an exhibit shows: matched on every column they share (values are copied as is).

    A quarterly exhibit shows data up to its quarter only, so later rows never match.
    """
    if QUARTER.match(label) and "quarter" in table.columns:
        table = table.filter(pl.col("quarter") <= label)
    common = [c for c in data.columns if c in table.columns and data.schema[c] == table.schema[c]]
    if not common:
        return table.clear(), "no column in common", ["the exhibit's data shares no column with this table"]
    shown = data.select(common).unique()
    rows = table.join(shown, on=common, how="semi", nulls_equal=True)
    matched = shown.join(table.select(common), on=common, how="semi", nulls_equal=True).height
    if matched == shown.height:
        notes = []
        if rows.height > shown.height:
            notes.append(
                f"{rows.height} table rows match the exhibit's {shown.height}: its data lacks a key column the table has "
                "(e.g. quarter or level), so rows of other cells with the same values are included; the exhibit's "
                "builder can state its row filter (usermeta.retain.filter) to make this exact"
            )
        return rows, f"the {shown.height} rows the exhibit shows (matched on {', '.join(common)})", notes
    keys = [c for c in common if c in KEY_COLUMNS]
    if not keys:
        return rows, f"rows matching the exhibit on {', '.join(common)}", [f"only {matched} of the exhibit's {shown.height} rows were found in the table"]
    rows = table.join(data.select(keys).unique(), on=keys, how="semi", nulls_equal=True)
    return rows, f"rows with the exhibit's {', '.join(keys)}", [f"values differ from the table's (transformed for display); matched on key columns {keys} only"]


def selections(entry: dict[str, Any], root: Path) -> list[Selection]:
    """The analysis-table rows behind an ID."""
    kind = entry.get("kind") or entry["id"].split(":", 1)[0]
    source = entry.get("source") or {}
    if kind == "tab":
        table = pl.read_parquet(root / entry["file"])
        return [Selection(entry["file"], "all rows", table)]
    if kind == "num":
        out = []
        for path in expand_braces(source.get("table", entry["data"])):
            if path == CONFIG_SOURCE:
                out.append(Selection(path, f"configuration value {source.get('column')}", None))
            elif not path.endswith(".parquet"):
                out.append(Selection(path, f"field {source.get('column')} of {path} ({describe_filter(source.get('filter', {}))})", None))
            elif not (root / path).is_file():
                out.append(Selection(path, f"{describe_filter(source.get('filter', {}))} (the file is missing: rerun the workflow)", None))
            else:
                table = pl.read_parquet(root / path)
                rows = table.filter(filter_expr(source.get("filter", {}), table.columns, path))
                out.append(Selection(path, describe_filter(source.get("filter", {})), rows))
        return out
    # fig / tbl: the exhibit's data against each source table it declares
    data = pl.read_parquet(root / entry["data"]) if (root / entry["data"]).exists() else None
    if not source.get("tables") and "filter" not in source:
        return [Selection(CONFIG_SOURCE, "no table: built from the configuration", None)]
    out = []
    for name in source.get("tables", []):
        path = name if "/" in name else _table_path(name, root)
        if path is None or not path.endswith(".parquet"):
            out.append(Selection(path or name, "not a row table", None))
            continue
        table = pl.read_parquet(root / path)
        if "filter" in source:
            out.append(Selection(path, describe_filter(source["filter"]), table.filter(filter_expr(source["filter"], table.columns, path))))
        elif data is None:
            out.append(Selection(path, "unknown rows (the exhibit's data file is missing)", None))
        else:
            rows, how, notes = _exhibit_rows(data, table, entry["id"].rsplit(":", 1)[-1])
            out.append(Selection(path, how, rows, notes))
    return out


def _table_path(name: str, root: Path) -> str | None:
    """A source-table name (as exhibits declare them) -> its file."""
    for candidate in (f"results/tables/{name}.parquet", f"results/ingest/{name.removeprefix('ingest_')}.json"):
        if (root / candidate).exists():
            return candidate
    return None


# ------------------------------------------------------------------ canonical rows


def _cells(rows: pl.DataFrame, keys: list[str]) -> dict[str, pl.DataFrame]:
    """Selected table rows by level, as the key columns that identify their group."""
    if "level" not in rows.columns:
        return {"organisation": rows.select(keys).unique()}
    out = {}
    for level, level_keys in LEVEL_KEYS.items():
        these = rows.filter(pl.col("level") == level)
        if these.height:
            out[level] = these.select(*keys, *level_keys).unique()
    return out


def _match(canonical: pl.LazyFrame, rows: pl.DataFrame, keys: list[str], table: str, person: str, columns: list[str]) -> pl.LazyFrame:
    """Canonical rows joined to the table cells they feed: one row per (canonical row, cell)."""
    parts = []
    for level, cells in _cells(rows, keys).items():
        on = [*keys, *LEVEL_KEYS[level]]
        label = [pl.lit(level)] + [pl.lit(f"{k}=") + pl.col(k).cast(pl.String).fill_null("null") for k in on]
        parts.append(
            canonical.join(cells.lazy(), on=on, how="inner", nulls_equal=True).select(
                pl.lit(table).alias("canonical_table"),
                pl.concat_str(label, separator=" ").alias("cell"),
                pl.col(person).cast(pl.String).alias("person"),
                *columns,
            )
        )
    return pl.concat(parts, how="diagonal_relaxed") if parts else pl.LazyFrame()


def _canonical(root: Path, name: str) -> pl.LazyFrame:
    path = root / f"results/canonical/{name}.parquet"
    if not path.exists():
        raise TraceError(f"results/canonical/{name}.parquet is missing; rerun the workflow")
    return pl.scan_parquet(path)


def _columns(frame: pl.LazyFrame) -> list[str]:
    return frame.collect_schema().names()


def _turnover_rows(rows: pl.DataFrame, root: Path, config: dict[str, Any]) -> pl.LazyFrame:
    from analysis.turnover import spell_quarters

    employees = _canonical(root, "employees")
    columns = _columns(employees)
    spells = spell_quarters(employees, sorted(rows["quarter"].unique().to_list()))
    return _match(spells, rows, ["quarter"], "employees", "employee_key", ["quarter", *[c for c in columns if c != "quarter"]])


def _cost_rows(rows: pl.DataFrame, root: Path, config: dict[str, Any]) -> pl.LazyFrame:
    from analysis.turnover import spell_quarters

    employees = _canonical(root, "employees")
    columns = _columns(employees)
    leavers = spell_quarters(employees, sorted(rows["quarter"].unique().to_list())).filter(pl.col("exits") == 1)
    return _match(leavers, rows, ["quarter"], "employees", "employee_key", ["quarter", *columns])


def _answers(root: Path, scale: str) -> tuple[pl.LazyFrame, list[str]]:
    from analysis.engagement import team_sites

    responses = _canonical(root, "survey_responses")
    items = _canonical(root, "survey_items").filter(pl.col("scale") == scale).select("item_id", "driver")
    columns = _columns(responses)
    answers = responses.join(items, on="item_id").join(team_sites(_canonical(root, "employees")), on="team", how="left")
    return answers, ["site", "driver", *columns]


def _engagement_rows(rows: pl.DataFrame, root: Path, config: dict[str, Any]) -> pl.LazyFrame:
    answers, columns = _answers(root, "likert5")
    return _match(answers, rows, ["wave", "quarter", "driver"], "survey_responses", "response_id", columns)


def _enps_rows(rows: pl.DataFrame, root: Path, config: dict[str, Any]) -> pl.LazyFrame:
    answers, columns = _answers(root, "nps11")
    return _match(answers, rows, ["wave", "quarter"], "survey_responses", "response_id", columns)


def _response_rate_rows(rows: pl.DataFrame, root: Path, config: dict[str, Any]) -> pl.LazyFrame:
    from analysis.engagement import team_sites

    responses = _canonical(root, "survey_responses")
    employees = _canonical(root, "employees")
    waves = responses.group_by("wave", "quarter").agg(pl.col("response_date").min().alias("fielded"))
    on_roster = (pl.col("hire_date") <= pl.col("fielded")) & (pl.col("exit_date").is_null() | (pl.col("exit_date") >= pl.col("fielded")))
    invited = employees.join(waves, how="cross").filter(on_roster)
    answered = responses.join(team_sites(employees), on="team", how="left")
    return pl.concat(
        [
            _match(invited, rows, ["wave", "quarter"], "employees", "employee_key", ["wave", "quarter", *_columns(employees)]),
            _match(answered, rows, ["wave", "quarter"], "survey_responses", "response_id", ["site", *_columns(responses)]),
        ],
        how="diagonal_relaxed",
    )


@dataclass(frozen=True)
class RowSelector:
    select: Callable[[pl.DataFrame, Path, dict[str, Any]], pl.LazyFrame]
    how: str  # which canonical rows feed a cell, in words


ROW_SELECTORS: dict[str, RowSelector] = {
    "turnover": RowSelector(
        _turnover_rows,
        "employees: spells employed at some time in the cell's quarter (hire_date <= quarter end, exit_date null or >= quarter start), in its site/team",
    ),
    "cost": RowSelector(_cost_rows, "employees: spells whose exit_date falls in the cell's quarter"),
    "engagement": RowSelector(
        _engagement_rows,
        "survey_responses: answers to the cell's driver's 5-point items in its wave, from its site/team (a team's site: where most of its spells are)",
    ),
    "enps": RowSelector(_enps_rows, "survey_responses: answers to the 0-10 eNPS item in the cell's wave, from its site/team"),
    "response_rates": RowSelector(
        _response_rate_rows,
        "employees on the roster on the wave's first response date (invited) and survey_responses in the wave (respondents), in the cell's site/team",
    ),
}


@dataclass
class Contributing:
    rows: pl.DataFrame  # canonical_table, cell, person, then the canonical columns
    group_sizes: pl.DataFrame  # cell, people (distinct persons feeding the cell)
    hidden: pl.DataFrame  # selected table rows the privacy gate hid
    how: list[str]


def contributing(selections_: list[Selection], root: Path, config: dict[str, Any]) -> Contributing:
    """The canonical rows behind the selected table rows."""
    frames, hidden, how = [], [], []
    for selection in selections_:
        if selection.rows is None:
            raise TraceError(f"{selection.table} is not a row table ({selection.how}): there are no contributing rows to list")
        name = Path(selection.table).name.removesuffix(".parquet")
        if name not in ROW_SELECTORS:
            raise TraceError(
                f"no row selector for {selection.table} yet (analysis.trace.ROW_SELECTORS knows "
                f"{', '.join(sorted(ROW_SELECTORS))}); its lineage above still leads to the input files"
            )
        if "suppressed" in selection.rows.columns:
            hidden.append(selection.rows.filter(pl.col("suppressed").is_not_null()))
        if selection.rows.height:
            frames.append(ROW_SELECTORS[name].select(selection.rows, root, config))
        how.append(f"{selection.table}: {ROW_SELECTORS[name].how}")
    empty = pl.DataFrame(schema={"canonical_table": pl.String, "cell": pl.String, "person": pl.String, "source_file": pl.String, "source_row": pl.Int64})
    rows = pl.concat(frames, how="diagonal_relaxed").collect() if frames else empty
    sizes = (
        rows.group_by("cell", "canonical_table").agg(pl.col("person").n_unique().alias("people"))
        .group_by("cell").agg(pl.col("people").max())
        .sort("cell")
    )  # fmt: skip
    hidden_rows = pl.concat(hidden, how="diagonal_relaxed") if hidden else pl.DataFrame()
    return Contributing(rows.sort("canonical_table", "cell", "source_file", "source_row"), sizes, hidden_rows, how)


def _source_summary(rows: pl.DataFrame) -> list[str]:
    """Per input file: how many rows and which row numbers feed the ID."""
    out = []
    if rows.is_empty():
        return out
    per_file = rows.group_by("canonical_table", "source_file").agg(
        pl.col("source_row").n_unique().alias("n"), pl.col("source_row").min().alias("first"), pl.col("source_row").max().alias("last")
    )
    for r in per_file.sort("canonical_table", "source_file").iter_rows(named=True):
        out.append(f"{r['source_file']}: {r['n']} rows (rows {r['first']}–{r['last']}) → {r['canonical_table']}")
    return out


def check_privacy(result: Contributing, min_group_size: int) -> None:
    if result.hidden.height:
        cells = [
            " ".join(f"{k}={r[k]}" for k in ("level", "site", "team", "quarter", "wave", "driver") if k in r and r[k] is not None)
            + f" ({r['suppressed']})"
            for r in result.hidden.head(5).iter_rows(named=True)
        ]
        raise RowsRefused(
            f"refused: the privacy gate hides {result.hidden.height} of the selected cells, so their rows cannot be listed: "
            + "; ".join(cells)
            + (" …" if result.hidden.height > 5 else "")
        )
    small = result.group_sizes.filter(pl.col("people") < min_group_size)
    if small.height:
        r = small.row(0, named=True)
        raise RowsRefused(
            f"refused: {small.height} contributing group(s) have fewer than privacy.min_group_size = {min_group_size} people "
            f"(e.g. {r['cell']}: {r['people']}); listing their rows could identify someone"
        )


def write_rows(rows: pl.DataFrame, out: Path, drop: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = rows.drop([c for c in drop if c in rows.columns] + ["person"])
    if out.suffix == ".parquet":
        frame.write_parquet(out)
    else:
        frame.write_csv(out)


# ------------------------------------------------------------------ the lineage of files


def _entries(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["path"]: e | {"section": s} for s in ("inputs", "outputs") for e in manifest[s]}


def _rows_note(entry: dict[str, Any]) -> str:
    if "rows_read" not in entry:
        return ""
    return f"  rows read {entry['rows_read']}, accepted {entry.get('rows_accepted', '?')}, rejected {entry.get('rows_rejected', '?')}"


def lineage_lines(manifest: dict[str, Any], paths: list[str], indent: str = "  ", depth: int = 1) -> list[str]:
    """The tree of jobs from `paths` down to the input files, each file with its SHA-256."""
    entries = _entries(manifest)
    lines: list[str] = []
    shown: set[str] = set()

    def walk(path: str, depth: int) -> None:
        pad = indent * depth
        entry = entries.get(path)
        if entry is None:
            lines.append(f"{pad}{path}  (not in the manifest)")
            return
        sha = entry["sha256"]
        if entry["section"] == "inputs":
            lines.append(f"{pad}{path}  sha256 {sha}  [input: {entry.get('kind', 'file')}]{_rows_note(entry)}")
            return
        if path in shown:
            lines.append(f"{pad}{path}  sha256 {sha}  (see above)")
            return
        shown.add(path)
        rule = entry.get("rule")
        if not rule:
            lines.append(f"{pad}{path}  sha256 {sha}  (no Snakemake job record: written outside the workflow or with --drop-metadata)")
            return
        params = ", ".join(entry.get("params") or []) or "none"
        lines.append(f"{pad}{path}  sha256 {sha}")
        lines.append(f"{pad}{indent}← rule {rule}  params: {params}  code sha256 {(entry.get('code_sha256') or '?')[:16]}…")
        for child in entry.get("inputs", []):
            walk(child, depth + 2)

    for path in paths:
        walk(path, depth)
    return lines


# ------------------------------------------------------------------ the whole trace


def _check_value(record: dict[str, Any], chosen: list[Selection]) -> list[str]:
    """For a number read from one table cell: does the table still hold the value the report states?"""
    column = record["source"].get("column")
    if len(chosen) != 1 or chosen[0].rows is None or chosen[0].rows.height != 1 or column not in chosen[0].rows.columns:
        return []
    found, stated = chosen[0].rows[column][0], record.get("value")
    same = found == stated or (isinstance(found, float) and isinstance(stated, (int, float)) and abs(found - stated) <= 1e-9 * max(1.0, abs(found)))
    return [f"  check        the table cell holds {found!r}: " + ("the value the report states" if same else f"DIFFERENT from the stated {stated!r}")]




def trace(manifest: dict[str, Any], wanted: str, root: Path = Path("."), rows_out: Path | None = None) -> list[str]:
    """The lines `retain trace` prints; with rows_out, also writes the contributing rows (or raises RowsRefused)."""
    entry = find_id(manifest, wanted)
    entries = _entries(manifest)
    config = manifest.get("config", {}).get("content", {})
    min_group_size = int(config.get("privacy", {}).get("min_group_size", 5))
    lines = [wanted]
    changed = []

    def sha(path: str) -> str:
        known = entries.get(path)
        if known and resolve(known, root).is_file() and sha256_file(resolve(known, root)) != known["sha256"]:
            changed.append(path)
        return known["sha256"] if known else "(not in the manifest)"

    lines.append(f"  defined in   {entry['file']}  sha256 {sha(entry['file'])}")
    if entry["data"] != entry["file"]:
        for data in expand_braces(entry["data"]):
            lines.append(f"  data         {data}  sha256 {sha(data) if data != CONFIG_SOURCE else '(the configuration; see config below)'}")
    if entry.get("reports"):
        lines.append(f"  shown in     {', '.join(entry['reports'])}")
    if entry["id"].startswith("num:"):
        record = next(r for r in json.loads((root / entry["file"]).read_text(encoding="utf-8")) if r["id"] == wanted)
        lines.append(f"  value        {record.get('display', record.get('value'))}  ({record.get('label', '')})")
        source = record["source"]
        lines.append(f"  read from    column {source.get('column')} of {source.get('table')}")
        lines.append(f"  row filter   {json.dumps(source.get('filter', {}), sort_keys=True, ensure_ascii=False)}")
    elif entry.get("kind") in ("fig", "tbl") or entry["id"].split(":")[0] in ("fig", "tbl"):
        meta_path = root / entry["file"]
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta = meta.get("usermeta", {}).get("retain", meta) if entry["file"].endswith(".vl.json") else meta
        if meta.get("title"):
            lines.append(f"  title        {meta['title']}")
        if meta.get("caption"):
            lines.append(f"  caption      {meta['caption']}")

    chosen = selections(entry, root)
    if entry["id"].startswith("num:"):
        lines.extend(_check_value(record, chosen))
    result: Contributing | None = None
    problem = None
    lines.append("  table rows")
    for selection in chosen:
        count = "" if selection.rows is None else f"  → {selection.rows.height} row(s)"
        lines.append(f"    {selection.table}: {selection.how}{count}")
        lines.extend(f"      note: {note}" for note in selection.notes)
    try:
        result = contributing(chosen, root, config)
    except TraceError as exc:
        problem = str(exc)
    lines.append("  canonical rows")
    if result is None:
        lines.append(f"    {problem}")
    else:
        lines.extend(f"    {how}" for how in result.how)
        tables = result.rows.group_by("canonical_table").agg(pl.len().alias("rows"), pl.col("person").n_unique().alias("people")).sort("canonical_table")
        for r in tables.iter_rows(named=True):
            who = "responses" if r["canonical_table"] == "survey_responses" else "people"
            lines.append(f"    results/canonical/{r['canonical_table']}.parquet: {r['rows']} row(s), {r['people']} {who}, in {result.group_sizes.height} cell(s)")
        lines.extend(f"      from {s}" for s in _source_summary(result.rows))
        if result.hidden.height:
            lines.append(f"    {result.hidden.height} selected cell(s) are hidden by the privacy gate")
    code = manifest.get("code", {})
    lines.append("  lineage")
    own = entries.get(entry["file"], {})
    if own.get("rule"):
        params = ", ".join(own.get("params") or []) or "none"
        lines.append(f"    {entry['file']} ← rule {own['rule']}  params: {params}  code sha256 {(own.get('code_sha256') or '?')[:16]}…")
    roots = [s.table for s in chosen if s.table in entries]
    tree = lineage_lines(manifest, list(dict.fromkeys(roots)), indent="  ", depth=2)
    lines.extend(tree)
    if roots and not any("[input:" in line for line in tree):
        # No job records to narrow it down (e.g. a run with --drop-metadata): every input of the run.
        lines.append("    inputs of the run (no Snakemake job records lead further down):")
        lines.extend(f"      {e['path']}  sha256 {e['sha256']}  [input: {e.get('kind', 'file')}]{_rows_note(e)}" for e in manifest["inputs"])
    lines.append(f"  code         git {code.get('git_commit')} (dirty: {code.get('dirty')})")
    lines.append(f"  config       sha256 {manifest['config']['sha256']}  (privacy.min_group_size = {min_group_size})")
    if changed:
        lines.append(f"  WARNING: {', '.join(sorted(set(changed)))} changed since the manifest was written; run `retain verify`")

    if rows_out is not None:
        if changed:
            raise TraceError(f"refused: {', '.join(sorted(set(changed)))} changed since the manifest was written; rerun the workflow first")
        if result is None:
            raise TraceError(f"--rows: {problem}")
        if result.rows.is_empty():
            raise TraceError("--rows: no table row matches the filter, so no canonical row contributes; nothing written")
        check_privacy(result, min_group_size)
        drop = list(config.get("privacy", {}).get("keep_columns", []))
        write_rows(result.rows, rows_out, drop)
        lines.append(f"  rows written {rows_out}: {result.rows.height} canonical row(s) (pseudonymised), each with source_file/source_row")
    return lines
