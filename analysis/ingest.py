"""Ingest one export file into a canonical table, driven by an export profile.

Every record read ends up either accepted (in the canonical Parquet) or rejected (in the
rejects CSV, with file, row, column and reason): rows_read = rows_accepted + rows_rejected.
Identifiers are pseudonymised here; personal columns (names, e-mails, IPs, comments) and
every column the profile does not map are dropped, and the stats say which.

Row numbers are record numbers in the file, counting header records: the first data record of
a file with one header row is row 2, as a spreadsheet shows it.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from analysis.periods import quarter_of
from analysis.pseudonym import pseudonymise

CODEBOOKS = Path(__file__).with_name("codebooks.yaml")

REJECT_SCHEMA = {
    "source_file": pl.String,
    "source_row": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "reason": pl.String,
}

DRIVERS = ["mission", "recognition", "worklife", "growth", "autonomy", "manager", "engagement", "intent_to_stay", "enps"]
INTERVENTIONS = ["mission", "recognition", "worklife", "training", "rotation", "autonomy", "coaching", "perks", "other"]


class IngestError(ValueError):
    """A problem with an input file or its profile; the message names file, row and column."""


@dataclass(frozen=True)
class Column:
    kind: str  # text | date | number | bool | enum
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


# The canonical tables (DESIGN.md). `employee_id` is raw on the way in and leaves as `employee_key`.
CANONICAL: dict[str, dict[str, Column]] = {
    "employees": {
        "employee_id": Column("text", required=True),
        "hire_date": Column("date", required=True),
        "exit_date": Column("date"),
        "exit_type": Column("enum", choices=("voluntary", "involuntary")),
        "exit_reason": Column("text"),
        "team": Column("text", required=True),
        "site": Column("text", required=True),
        "role": Column("text"),
        "language": Column("text"),
        "schedule": Column("enum", choices=("fixed", "flexible", "remote", "hybrid")),
        "pay_band": Column("text"),
        "annual_salary": Column("number", minimum=0),
    },
    "timesheets": {
        "employee_id": Column("text", required=True),
        "month": Column("date", required=True),
        "hours": Column("number", required=True, minimum=0, maximum=744),
        "overtime_hours": Column("number", required=True, minimum=0, maximum=400),
        "complaint_share": Column("number", minimum=0, maximum=1),
    },
    "survey_items": {
        "item_id": Column("text", required=True),
        "driver": Column("enum", required=True, choices=tuple(DRIVERS)),
        "reverse_scored": Column("bool", required=True),
        "scale": Column("enum", required=True, choices=("likert5", "nps11")),
        **{f"text_{lang}": Column("text") for lang in ("en", "fr", "nl", "ru", "pl")},
    },
    "survey_responses": {
        "response_id": Column("text", required=True),
        "employee_id": Column("text"),
        "team": Column("text", required=True),
        "response_date": Column("date", required=True),
        "item_id": Column("text", required=True),
        "answer": Column("text"),
    },
    "interventions": {
        "team": Column("text", required=True),
        "intervention": Column("enum", required=True, choices=tuple(INTERVENTIONS)),
        "programme": Column("text", required=True),
        "start_date": Column("date", required=True),
        "end_date": Column("date"),
    },
}

# Primary keys checked for duplicates after parsing (survey responses are checked per answer).
UNIQUE_KEYS = {
    "employees": ["employee_id", "hire_date"],
    "timesheets": ["employee_id", "month"],
    "survey_items": ["item_id"],
    "survey_responses": ["response_id", "item_id"],
    "interventions": ["team", "intervention", "programme", "start_date"],
}


@dataclass
class Profile:
    name: str
    table: str
    read: dict[str, Any]
    columns: dict[str, dict[str, Any]]
    shape: str = "long"
    items: dict[str, Any] = field(default_factory=dict)
    personal: list[str] = field(default_factory=list)


def load_profile(path: Path) -> Profile:
    """Read and check a profile; say exactly what it lacks."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise IngestError(f"profile {path}: cannot read: {exc}") from None
    if not isinstance(raw, dict):
        raise IngestError(f"profile {path}: expected a mapping")
    known = {"description", "table", "read", "columns", "shape", "items", "personal"}
    unknown = set(raw) - known
    if unknown:
        raise IngestError(f"profile {path}: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
    table = raw.get("table")
    if table not in CANONICAL:
        raise IngestError(f"profile {path}: 'table' must be one of {sorted(CANONICAL)}, got {table!r}")
    columns = raw.get("columns") or {}
    spec = CANONICAL[table]
    for name, mapping in columns.items():
        if name not in spec:
            near = difflib.get_close_matches(name, spec, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise IngestError(f"profile {path}: columns: {name!r} is not a column of {table}{hint}")
        if not isinstance(mapping, dict) or "from" not in mapping:
            raise IngestError(f"profile {path}: columns.{name} needs 'from: <source column>'")
    shape = raw.get("shape", "long")
    items = raw.get("items") or {}
    required = [c for c, col in spec.items() if col.required]
    if table == "survey_responses":
        if shape not in ("wide", "long"):
            raise IngestError(f"profile {path}: shape must be 'wide' or 'long'")
        if shape == "wide":
            required = [c for c in required if c != "item_id"]
            if "pattern" not in items:
                raise IngestError(f"profile {path}: a wide survey profile needs items.pattern (a regex of item columns)")
        elif "answer" not in columns:
            raise IngestError(f"profile {path}: a long survey profile needs columns.answer")
    missing = [c for c in required if c not in columns]
    if missing:
        raise IngestError(f"profile {path}: columns lacks required canonical column(s) {missing} for table {table}")
    read = {"format": "csv", "encoding": "utf-8", "delimiter": ",", "header_rows": 1, "decimal": "."} | (raw.get("read") or {})
    if read["format"] not in ("csv", "xlsx", "parquet"):
        raise IngestError(f"profile {path}: read.format must be csv, xlsx or parquet")
    return Profile(Path(path).stem, table, read, columns, shape, items, list(raw.get("personal") or []))


# ---------------------------------------------------------------- reading


def _decode(path: Path, data: bytes, encoding: str) -> str:
    if encoding == "auto":
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise IngestError(
            f"{path}: row {line}: cannot decode byte 0x{data[exc.start]:02x} as {encoding}; "
            f"is the file in another encoding? Set read.encoding in the profile."
        ) from None
    except LookupError:
        raise IngestError(f"{path}: unknown encoding {encoding!r} in profile") from None


def read_raw(path: Path, profile: Profile) -> pl.DataFrame:
    """All columns as text, named from the first header record, plus `__row` (record number)."""
    opts = profile.read
    header_rows = int(opts.get("header_rows", 1))
    try:
        if opts["format"] == "csv":
            text = _decode(path, path.read_bytes(), opts.get("encoding", "utf-8")).lstrip("\ufeff")
            frame = pl.read_csv(
                io.BytesIO(text.encode("utf-8")),
                separator=opts.get("delimiter", ","),
                has_header=False,
                infer_schema=False,
                quote_char='"',
            )
        elif opts["format"] == "xlsx":
            frame = pl.read_excel(path, sheet_name=opts.get("sheet"), has_header=False, infer_schema_length=0)
        else:
            data = pl.read_parquet(path)
            header = pl.DataFrame([pl.Series(c, [c], pl.String) for c in data.columns])
            frame = pl.concat([header, data.cast(pl.String)])
            frame.columns = [f"column_{i}" for i in range(frame.width)]
    except IngestError:
        raise
    except Exception as exc:  # the reader's own message, but always with the file named
        raise IngestError(f"{path}: cannot read as {opts['format']}: {str(exc).splitlines()[0]}") from None
    if frame.height < header_rows:
        raise IngestError(f"{path}: file is empty or has fewer than {header_rows} header row(s)")
    names = [("" if v is None else str(v)).strip() for v in frame.row(0)]
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name and name in seen:
            raise IngestError(f"{path}: row 1: duplicate column header {name!r} (columns {seen[name] + 1} and {index + 1})")
        seen[name] = index
    frame = frame.slice(header_rows)
    frame.columns = [name or f"__unnamed_{i}" for i, name in enumerate(names)]
    return frame.with_row_index("__row", offset=header_rows + 1).with_columns(pl.col("__row").cast(pl.Int64))


# ---------------------------------------------------------------- parsing


def _normalise_label(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip().casefold()


@lru_cache(maxsize=None)
def codebook(name: str) -> dict[str, int]:
    books = yaml.safe_load(CODEBOOKS.read_text(encoding="utf-8"))
    if name not in books:
        raise IngestError(f"unknown codebook {name!r}; known: {', '.join(sorted(books))}")
    return {_normalise_label(label): int(code) for code, labels in books[name].items() for label in labels}


def _parse(raw: pl.Expr, col: Column, mapping: dict[str, Any], decimal: str) -> tuple[pl.Expr, str]:
    """(parsed expression, reason used when a non-empty raw value fails to parse)."""
    if "map" in mapping:
        table = {str(k).casefold(): v for k, v in mapping["map"].items()}
        dtype = pl.Boolean if col.kind == "bool" else pl.String
        parsed = raw.str.to_lowercase().replace_strict(table, default=None, return_dtype=dtype)
        return parsed, f"not one of the profile's codes {sorted(mapping['map'])}"
    if col.kind == "date":
        fmt = mapping.get("date", "%Y-%m-%d")
        value = raw + "-01" if fmt == "%Y-%m" else raw
        fmt = "%Y-%m-%d" if fmt == "%Y-%m" else fmt
        # Spreadsheet readers give dates as 'YYYY-MM-DD 00:00:00'; accept that midnight suffix.
        parsed = pl.coalesce(
            value.str.strptime(pl.Date, fmt, strict=False),
            value.str.strip_suffix(" 00:00:00").str.strptime(pl.Date, fmt, strict=False),
        )
        return parsed, f"not a date in format {mapping.get('date', '%Y-%m-%d')}"
    if col.kind == "number":
        text = raw.str.replace_all(" ", "").str.replace_all("\u00a0", "")
        if decimal == ",":
            text = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
        return text.cast(pl.Float64, strict=False), "not a number"
    if col.kind == "bool":
        return raw.str.to_lowercase().replace_strict(
            {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}, default=None, return_dtype=pl.Boolean
        ), "not true/false"
    if col.kind == "enum":
        parsed = raw.str.to_lowercase()
        return pl.when(parsed.is_in(list(col.choices))).then(parsed), f"not one of {list(col.choices)}"
    return raw, ""


def _range_check(parsed: pl.Expr, col: Column) -> pl.Expr | None:
    checks = []
    if col.minimum is not None:
        checks.append(parsed < col.minimum)
    if col.maximum is not None:
        checks.append(parsed > col.maximum)
    return pl.any_horizontal(checks) if checks else None


@dataclass
class Parsed:
    frame: pl.DataFrame  # canonical columns + __row
    problems: pl.DataFrame  # __row, column, value, reason


def _problem_frames(frame: pl.DataFrame, checks: list[tuple[str, pl.Expr, pl.Expr, str | pl.Expr]]) -> pl.DataFrame:
    """checks: (column, failed-mask, raw value, reason) -> long table of problems."""
    parts = [
        frame.filter(mask).select(
            pl.col("__row"),
            pl.lit(column).alias("column"),
            value.cast(pl.String).alias("value"),
            (reason if isinstance(reason, pl.Expr) else pl.lit(reason)).alias("reason"),
        )
        for column, mask, value, reason in checks
    ]
    empty = pl.DataFrame(schema={"__row": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String})
    return pl.concat([empty, *parts]) if parts else empty


def parse_columns(path: Path, raw: pl.DataFrame, profile: Profile, spec: dict[str, Column]) -> Parsed:
    missing = [m["from"] for m in profile.columns.values() if m["from"] not in raw.columns]
    if missing:
        available = [c for c in raw.columns if not c.startswith("__")]
        hints = []
        for name in missing:
            near = difflib.get_close_matches(name, available, n=1)
            hints.append(repr(name) + (f" (found {near[0]!r})" if near else ""))
        raise IngestError(
            f"{path}: row 1: missing column(s) {', '.join(hints)} required by profile {profile.name}; "
            f"the file has: {', '.join(map(repr, available))}"
        )
    decimal = profile.read.get("decimal", ".")
    stripped = raw.with_columns(
        pl.col(m["from"]).str.strip_chars().replace("", None) for m in profile.columns.values()
    )
    parsed_exprs, checks = [], []
    for name, mapping in profile.columns.items():
        col = spec[name]
        source = pl.col(mapping["from"])
        parsed, reason = _parse(source, col, mapping, decimal)
        parsed_exprs.append(parsed.alias(name))
        if col.required:
            checks.append((name, source.is_null(), source, "required value is empty"))
        if reason:
            checks.append((name, source.is_not_null() & parsed.is_null(), source, reason))
        out_of_range = _range_check(parsed, col)
        if out_of_range is not None:
            checks.append((name, out_of_range.fill_null(False), source, f"outside the range {col.minimum}..{col.maximum}"))
    problems = _problem_frames(stripped, checks)
    frame = stripped.select(pl.col("__row"), *parsed_exprs)
    for name, col in spec.items():  # canonical columns the profile does not provide are null
        if name not in frame.columns:
            dtype = {"date": pl.Date, "number": pl.Float64, "bool": pl.Boolean}.get(col.kind, pl.String)
            frame = frame.with_columns(pl.lit(None, dtype).alias(name))
    return Parsed(frame.select("__row", *spec), problems)


# ---------------------------------------------------------------- table-specific rules


def _duplicates(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    dup = frame.filter(pl.struct(keys).is_duplicated() & pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
    return dup.select(
        pl.col("__row"),
        pl.lit("+".join(keys)).alias("column"),
        pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator="|").alias("value"),
        pl.lit("duplicate key: another row has the same " + ", ".join(keys)).alias("reason"),
    )


def employee_rules(frame: pl.DataFrame) -> pl.DataFrame:
    """Exit not before hire; exit type iff exit date; no overlapping spells of one person."""
    ordered = frame.sort("employee_id", "hire_date", "__row")
    previous_exit = pl.col("exit_date").shift(1).over("employee_id")
    overlaps = ordered.filter(
        pl.col("hire_date").is_not_null()
        & pl.col("employee_id").is_not_null()
        & (pl.col("employee_id") == pl.col("employee_id").shift(1))
        & (previous_exit.is_null() | (previous_exit >= pl.col("hire_date")))
    )
    return pl.concat(
        [
            _problem_frames(
                frame,
                [
                    ("exit_date", pl.col("exit_date") < pl.col("hire_date"), pl.col("exit_date"), "exit date is before hire date"),
                    ("exit_type", pl.col("exit_date").is_not_null() & pl.col("exit_type").is_null(), pl.col("exit_type"), "exit date given without an exit type (voluntary/involuntary)"),
                    ("exit_type", pl.col("exit_date").is_null() & pl.col("exit_type").is_not_null(), pl.col("exit_type"), "exit type given without an exit date"),
                ],
            ),
            overlaps.select(
                pl.col("__row"),
                pl.lit("hire_date").alias("column"),
                pl.col("hire_date").cast(pl.String).alias("value"),
                pl.lit("employment spell overlaps the person's previous spell").alias("reason"),
            ),
        ]
    )


def _answers(frame: pl.DataFrame, items: pl.DataFrame, book: dict[str, int]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode answers to numbers by item scale; apply reverse scoring. Returns (frame, problems)."""
    joined = frame.join(items.select("item_id", "scale", "reverse_scored"), on="item_id", how="left", maintain_order="left")
    answer = pl.col("answer").str.strip_chars()
    numeric = answer.cast(pl.Int64, strict=False)
    label = answer.map_elements(_normalise_label, return_dtype=pl.String).replace_strict(book, default=None, return_dtype=pl.Int64)
    value = (
        pl.when(pl.col("scale") == "nps11")
        .then(pl.when(numeric.is_between(0, 10)).then(numeric))
        .otherwise(pl.coalesce(pl.when(numeric.is_between(1, 5)).then(numeric), label))
    )
    decoded = joined.with_columns(value.cast(pl.Int8).alias("value"))
    problems = _problem_frames(
        decoded,
        [
            ("item_id", pl.col("scale").is_null(), pl.col("item_id"), "item is not in the survey item catalogue"),
            (
                "answer",
                pl.col("scale").is_not_null() & pl.col("answer").is_not_null() & pl.col("value").is_null(),
                pl.col("answer"),
                pl.format("answer matches no code or label of scale {}", pl.col("scale")),
            ),
        ],
    )
    score = pl.when(pl.col("reverse_scored")).then(6 - pl.col("value")).otherwise(pl.col("value")).cast(pl.Int8)
    return decoded.with_columns(score.alias("score")).drop("scale", "reverse_scored", "answer"), problems


# ---------------------------------------------------------------- the entry point


@dataclass
class IngestResult:
    table: pl.DataFrame
    rejects: pl.DataFrame
    stats: dict[str, Any]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_file(
    path: Path,
    profile: Profile,
    *,
    key: bytes,
    mode: str = "quarantine",
    max_reject_share: float = 0.02,
    keep_columns: tuple[str, ...] = (),
    survey_items: pl.DataFrame | None = None,
    wave: str = "quarter",
) -> IngestResult:
    path = Path(path)
    raw = read_raw(path, profile)
    spec = CANONICAL[profile.table]
    if profile.table == "survey_responses" and profile.shape == "wide":
        pattern = re.compile(profile.items["pattern"])
        item_columns = [c for c in raw.columns if pattern.match(c) and c not in profile.personal]
        if not item_columns:
            raise IngestError(f"{path}: row 1: no column matches the profile's item pattern {pattern.pattern!r}")
        meta = {k: v for k, v in spec.items() if k not in ("item_id", "answer")}
        parsed = parse_columns(path, raw.drop(item_columns), profile, meta)
        long = raw.select("__row", *item_columns).unpivot(index="__row", variable_name="item_id", value_name="answer")
        long = long.with_columns(pl.col("answer").str.strip_chars().replace("", None)).filter(pl.col("answer").is_not_null())
        frame = parsed.frame.join(long, on="__row", how="inner")
        problems = [parsed.problems]
    else:
        parsed = parse_columns(path, raw, profile, spec)
        frame, problems = parsed.frame, [parsed.problems]
        if profile.table == "survey_responses":
            frame = frame.filter(pl.col("answer").is_not_null())  # long exports: an empty answer is no answer
        item_columns = []

    if profile.table == "survey_responses":
        if survey_items is None:
            raise IngestError(f"{path}: survey responses need the survey item catalogue")
        frame, answer_problems = _answers(frame, survey_items, codebook(profile.items.get("codebook", "likert5_en")))
        problems.append(answer_problems)
    if profile.table == "employees":
        problems.append(employee_rules(frame))
    problems.append(_duplicates(frame, UNIQUE_KEYS[profile.table]))

    rejects = pl.concat(problems).unique(maintain_order=True).sort("__row", "column", "reason")
    if mode == "strict" and rejects.height:
        first = rejects.row(0, named=True)
        raise IngestError(f"{path}: row {first['__row']}: column {first['column']}: {first['reason']} (value {first['value']!r})")
    bad_rows = rejects.get_column("__row").unique()
    accepted = frame.filter(~pl.col("__row").is_in(bad_rows.implode()))
    rows_read = raw.height
    rows_rejected = bad_rows.len()
    share = rows_rejected / rows_read if rows_read else 0.0

    table = accepted.lazy()
    if "employee_id" in spec:
        table = pseudonymise(table, "employee_id", key)
    table = table.with_columns(pl.lit(str(path)).alias("source_file"), pl.col("__row").alias("source_row")).drop("__row")
    if profile.table == "survey_responses":
        period = pl.col("response_date").dt.truncate("1q" if wave == "quarter" else "1mo")
        table = table.with_columns(period.alias("wave"), quarter_of(pl.col("response_date")).alias("quarter"))
    table = table.collect()
    table = table.select(_column_order(profile.table, table.columns)).sort(_sort_keys(profile.table))

    # Rejects must not leak raw identifiers: show the pseudonym instead.
    reject_out = rejects.join(raw.select("__row"), on="__row").with_columns(
        pl.when(pl.col("column") == "employee_id").then(pl.lit("<identifier withheld>")).otherwise(pl.col("value")).alias("value"),
        pl.lit(str(path)).alias("source_file"),
    ).select("source_file", pl.col("__row").alias("source_row"), "column", "value", "reason")

    used = {m["from"] for m in profile.columns.values()} | set(item_columns)
    personal = [c for c in raw.columns if c in profile.personal and c not in keep_columns]
    dropped = sorted(c for c in raw.columns if not c.startswith("__") and c not in used)
    stats = {
        "file": str(path),
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "profile": profile.name,
        "table": profile.table,
        "rows_read": rows_read,
        "rows_accepted": rows_read - rows_rejected,
        "rows_rejected": rows_rejected,
        "records_out": table.height,
        "personal_columns_dropped": sorted(personal),
        "other_columns_dropped": [c for c in dropped if c not in personal],
    }
    if rows_read and share > max_reject_share:
        raise IngestError(
            f"{path}: {rows_rejected} of {rows_read} rows rejected ({share:.1%}), more than ingest.max_reject_share "
            f"({max_reject_share:.1%}); first problem: row {reject_out.row(0)[1]}, column {reject_out.row(0)[2]}: {reject_out.row(0)[4]}"
        )
    return IngestResult(table, reject_out, stats)


def _column_order(table: str, columns: list[str]) -> list[str]:
    spec = [("employee_key" if c == "employee_id" else c) for c in CANONICAL[table] if c != "answer"]
    extra = {"survey_responses": ["value", "score", "wave", "quarter"]}.get(table, [])
    order = [c for c in spec + extra if c in columns]
    return order + ["source_file", "source_row"]


def _sort_keys(table: str) -> list[str]:
    return {
        "employees": ["employee_key", "hire_date"],
        "timesheets": ["employee_key", "month"],
        "survey_items": ["item_id"],
        "survey_responses": ["response_id", "item_id"],
        "interventions": ["team", "intervention", "start_date", "programme"],
    }[table]


def add_spells(employees: pl.DataFrame) -> pl.DataFrame:
    """Number each person's employment spells 1, 2, ... by hire date."""
    return employees.with_columns(
        pl.col("hire_date").rank("ordinal").over("employee_key").cast(pl.Int32).alias("spell")
    ).select("employee_key", "spell", pl.exclude("employee_key", "spell"))


def write_outputs(result: IngestResult, table_path: Path, rejects_path: Path, stats_path: Path) -> None:
    for path in (table_path, rejects_path, stats_path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    result.table.write_parquet(table_path)
    result.rejects.write_csv(rejects_path)
    Path(stats_path).write_text(json.dumps(result.stats, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- workflow entry points


def ingest_export(
    source: Path,
    profile_file: Path,
    config: dict[str, Any],
    table_path: Path,
    rejects_path: Path,
    stats_path: Path,
    survey_items_path: Path | None = None,
) -> IngestResult:
    """One export file -> canonical part, rejects CSV and stats (the `ingest_*` rules)."""
    from analysis.pseudonym import resolve_key

    profile = load_profile(Path(profile_file))
    items = pl.read_parquet(survey_items_path) if survey_items_path else None
    result = ingest_file(
        Path(source),
        profile,
        key=resolve_key(config["privacy"]["key_env"], config["synthetic"]),
        mode=config["ingest"]["mode"],
        max_reject_share=config["ingest"]["max_reject_share"],
        keep_columns=tuple(config["privacy"].get("keep_columns", [])),
        survey_items=items,
        wave=config["survey"]["wave"],
    )
    if profile.table == "employees":
        result.table = add_spells(result.table)
    write_outputs(result, table_path, rejects_path, stats_path)
    return result


def combine_parts(parts: list[Path], stats_files: list[Path], table_path: Path, manifest_path: Path) -> pl.DataFrame:
    """Concatenate per-file canonical parts into one table and write the ingest manifest.

    Duplicate response ids across files are an error: the same response exported twice
    would otherwise be counted twice.
    """
    frames = [pl.scan_parquet(p) for p in sorted(map(str, parts))]
    table = pl.concat(frames, how="vertical").collect()
    keys = [k for k in ("response_id", "item_id") if k in table.columns]
    if keys:
        dup = table.filter(pl.struct(keys).is_duplicated())
        if dup.height:
            first = dup.sort("source_file", "source_row").row(0, named=True)
            others = sorted(dup.get_column("source_file").unique().to_list())
            raise IngestError(
                f"{first['source_file']}: row {first['source_row']}: response {first['response_id']} "
                f"appears in more than one export ({', '.join(others)})"
            )
        table = table.sort(keys)
    Path(table_path).parent.mkdir(parents=True, exist_ok=True)
    table.write_parquet(table_path)
    stats = [json.loads(Path(s).read_text(encoding="utf-8")) for s in sorted(map(str, stats_files))]
    manifest = {
        "files": stats,
        "rows_read": sum(s["rows_read"] for s in stats),
        "rows_accepted": sum(s["rows_accepted"] for s in stats),
        "rows_rejected": sum(s["rows_rejected"] for s in stats),
        "records_out": table.height,
    }
    Path(manifest_path).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return table
