"""Ingest one export file into a canonical table, driven by an export profile.

Every data record read ends up either accepted (its rows in the canonical Parquet) or rejected
(in the rejects CSV, with file, row, column and reason): rows_read = rows_accepted + rows_rejected.
A record is accepted only if everything made from it is valid; the checks are the canonical
schemas (analysis/validation.py, dataframely) plus the parse, codebook and roster-link checks here.

Identifiers are pseudonymised here. Columns the profile does not map never leave; among them,
the ones that hold personal data (names, e-mails, IP addresses, free text) — declared in the
profile or detected from the header or the values — are listed in the stats, and so are mapped
columns whose values turn out to be e-mail or IP addresses (those are dropped with a note).

Row numbers are record numbers in the file, counting header records: the first data record of
a file with one header row is row 2, as a spreadsheet shows it.

The pieces: analysis/readers.py (bytes -> text columns), analysis/profiles.py (profiles and
codebooks), analysis/validation.py (schemas, links, personal data).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from analysis.periods import quarter_of
from analysis.profiles import Codebook, Profile, load_profile, normalise_label, resolve_codebook
from analysis.pseudonym import pseudonymise
from analysis.readers import PROBLEM_SCHEMA, ROW, IngestError, RawTable, normalise_name, read_table
from analysis.validation import CHOICES, LATEST, SCHEMAS, SORT_KEYS, input_kinds, overlapping_spells, personal_by_name, personal_by_values, validate, within_spells

__all__ = [
    "IngestError",
    "IngestResult",
    "Profile",
    "TooManyRejects",
    "add_spells",
    "combine_parts",
    "ingest_export",
    "ingest_file",
    "load_profile",
    "sha256_file",
    "write_manifest",
]

REJECT_SCHEMA = {"source_file": pl.String, "source_row": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String}
WITHHELD = "<withheld: personal data>"

# Dates: the date part of a value (a time of day, AM/PM and a zone may follow) in these layouts.
_TIME_SUFFIX = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?[AaPp]\.?[Mm]\.?)?(?:\s?(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}))?)$"
DATE_CANDIDATES = {
    "%Y-%m-%d": "YYYY-MM-DD",
    "%Y/%m/%d": "YYYY/MM/DD",
    "%Y%m%d": "YYYYMMDD",
    "%d.%m.%Y": "DD.MM.YYYY",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d-%m-%Y": "DD-MM-YYYY",
}
TIME_DIRECTIVES = re.compile(r"%[HMSIpTfzZ]")
TRUE_WORDS = ("true", "yes", "y", "1", "t", "ja", "oui", "tak", "да", "wahr")
FALSE_WORDS = ("false", "no", "n", "0", "f", "nee", "non", "nie", "нет", "falsch")
# A numeric answer, possibly with its label: "4", "4.0", "4 - Agree", "10 (Extremely likely)".
_NUMERIC_ANSWER = r"^([+-]?\d{1,3})(?:[.,]0+)?(?:\s*[-–—:.)]\s*.*|\s*\(.*\)\s*|\s+\D.*)?$"


@dataclass
class Step:
    """What one shape produced: canonical-input rows (with `__row`, and `__rows` when several records
    make one row), problems, and notes for the stats."""

    frame: pl.DataFrame
    problems: list[pl.DataFrame] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # source columns read besides the mapped ones


@dataclass
class IngestResult:
    table: pl.DataFrame
    rejects: pl.DataFrame
    stats: dict[str, Any]


class TooManyRejects(IngestError):
    """More than ingest.max_reject_share of a file's records were rejected; `result` has them all."""

    def __init__(self, message: str, result: IngestResult) -> None:
        super().__init__(message)
        self.result = result


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _problems(frame: pl.DataFrame, column: str, mask: pl.Expr, value: pl.Expr, reason: str | pl.Expr) -> pl.DataFrame:
    return frame.filter(mask).select(
        pl.col("__row"),
        pl.lit(column).alias("column"),
        value.cast(pl.String).alias("value"),
        (reason if isinstance(reason, pl.Expr) else pl.lit(reason)).alias("reason"),
    )


# ------------------------------------------------------------------ parsing text into types


def _date_part(raw: pl.Expr) -> pl.Expr:
    return raw.str.replace(_TIME_SUFFIX, "")


def _strptime(raw: pl.Expr, fmt: str) -> pl.Expr:
    if TIME_DIRECTIVES.search(fmt):
        return raw.str.strptime(pl.Datetime("us"), fmt, strict=False).dt.date()
    return _date_part(raw).str.strptime(pl.Date, fmt, strict=False)


def _date_formats(path: Path, frame: pl.DataFrame, source: str, target: str, mapping: dict[str, Any], raw: RawTable, profile: Profile) -> list[str]:
    """The formats to parse a date column with: the profile's, or the one layout that fits the values."""
    if source in raw.typed_dates:
        return ["%Y-%m-%d"]
    given = mapping.get("date", "auto")
    given = given if isinstance(given, list) else [given]
    if given != ["auto"]:
        # Spreadsheet cells that are real dates arrive as 'YYYY-MM-DD 00:00:00' whatever the layout.
        return given + (["%Y-%m-%d"] if raw.info["format"] == "xlsx" and "%Y-%m-%d" not in given else [])
    # Distinct values decide the layout: a 1M-row roster has a few thousand dates.
    values = frame.select(pl.col(source).str.strip_chars()).filter(pl.col(source) != "").unique(maintain_order=True)
    if values.height == 0:
        return ["%Y-%m-%d"]
    parsed = values.select(**{fmt: _strptime(pl.col(source), fmt) for fmt in DATE_CANDIDATES})
    counts = parsed.select(pl.all().count()).row(0, named=True)
    best = max(counts.values())
    if best == 0:
        return list(DATE_CANDIDATES)
    winners = [fmt for fmt, n in counts.items() if n == best]
    chosen = winners[0]
    for other in winners[1:]:
        differs = parsed.filter(pl.col(chosen).ne_missing(pl.col(other)))
        if differs.height:
            example = values.filter(parsed[chosen].ne_missing(parsed[other]))[source][0]
            raise IngestError(
                f"{path}: column {source!r}: dates like {example!r} fit both {DATE_CANDIDATES[chosen]} and {DATE_CANDIDATES[other]}; "
                f"say which in profile {profile.name}: columns.{target}.date: '{chosen}' or '{other}'"
            )
    return [chosen]


def _date_expr(raw: pl.Expr, formats: list[str]) -> pl.Expr:
    return pl.coalesce([_strptime(raw, fmt) for fmt in formats])


def _decimal_for(path: Path, frame: pl.DataFrame, source: str, target: str, decimal: str) -> str:
    """'.' or ',' for a number column; with 'auto', decided from the values, refusing a toss-up."""
    if decimal != "auto":
        return decimal
    text = pl.col(source).str.replace_all(r"[\s\u00a0\u202f']", "")
    frame = frame.select(pl.col(source).unique())
    flags = frame.select(
        comma=(text.str.contains(r"^[+-]?\d*,\d+$") & ~text.str.contains(r"^[+-]?\d{1,3},\d{3}$")).any()
        | text.str.contains(r"\.\d{3},\d*$").any(),
        dot=(text.str.contains(r"^[+-]?\d*\.\d+$") & ~text.str.contains(r"^[+-]?\d{1,3}\.\d{3}$")).any()
        | text.str.contains(r",\d{3}\.\d*$").any(),
        comma_3=text.str.contains(r"^[+-]?\d{1,3}(,\d{3})+$").any(),
        dot_3=text.str.contains(r"^[+-]?\d{1,3}(\.\d{3})+$").any(),
    ).row(0, named=True)
    if flags["comma"] and flags["dot"]:
        raise IngestError(f"{path}: column {source!r}: some numbers use a decimal comma and others a decimal point; set read.decimal")
    if flags["comma"]:
        return ","
    if flags["dot"]:
        return "."
    if flags["comma_3"] or flags["dot_3"]:
        sample = frame.filter(text.str.contains(r"^[+-]?\d{1,3}([.,]\d{3})+$"))[source][0]
        raise IngestError(
            f"{path}: column {source!r} ({target}): {sample!r} could be a thousands separator or a decimal mark; "
            f"set read.decimal to '.' or ',' in the profile"
        )
    return "."


def _number_expr(raw: pl.Expr, decimal: str) -> pl.Expr:
    text = raw.str.replace_all(r"[\s\u00a0\u202f']", "")
    thousands, point = (",", ".") if decimal == "." else (".", ",")
    grouped = rf"^[+-]?\d{{1,3}}(\{thousands}\d{{3}})+(\{point}\d*)?$"
    text = pl.when(text.str.contains(grouped)).then(text.str.replace_all(thousands, "", literal=True)).otherwise(text)
    if decimal == ",":
        text = text.str.replace(",", ".", literal=True)
    return text.cast(pl.Float64, strict=False)


def _map_expr(raw: pl.Expr, mapping: dict[str, Any], kind: str) -> pl.Expr:
    dtype = pl.Boolean if kind == "bool" else pl.String
    parts = []
    if "map" in mapping:
        table = {normalise_label(k): v for k, v in mapping["map"].items()}
        key = raw.str.replace_all(r"\s+", " ").str.strip_chars().str.to_lowercase().str.replace_all("\u2019", "'")
        parts.append(key.replace_strict(table, default=None, return_dtype=dtype))
    if "match" in mapping:
        chain = None
        for pattern, value in mapping["match"].items():
            hit = raw.str.contains(str(pattern))
            chain = pl.when(hit).then(pl.lit(value, dtype)) if chain is None else chain.when(hit).then(pl.lit(value, dtype))
        parts.append(chain.otherwise(pl.lit(None, dtype)))
    return pl.coalesce(parts)


def _parse(raw: pl.Expr, name: str, kind: str, mapping: dict[str, Any], *, formats: list[str], decimal: str) -> tuple[pl.Expr, str]:
    """(parsed expression, the reason a non-empty value that parses to null is rejected)."""
    if "map" in mapping or "match" in mapping:
        codes = [*mapping.get("map", {}), *mapping.get("match", {})]
        shown = ", ".join(map(str, codes[:8])) + (", …" if len(codes) > 8 else "")
        return _map_expr(raw, mapping, kind), f"not one of the profile's codes ({shown})"
    if kind == "date":
        described = ", ".join(DATE_CANDIDATES.get(f, f) for f in formats)
        return _date_expr(raw, formats), f"not a date in the format {described}"
    if kind == "number":
        return _number_expr(raw, decimal), "not a number"
    if kind == "bool":
        words = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
        return raw.str.to_lowercase().replace_strict(words, default=None, return_dtype=pl.Boolean), "not true/false"
    if kind == "enum" and name in CHOICES:
        return raw.str.to_lowercase(), ""  # the schema says which values are allowed
    return raw, ""


def _source_expr(mapping: dict[str, Any], path: Path) -> pl.Expr:
    if "value" in mapping:
        return pl.lit(str(mapping["value"]), pl.String)
    source = mapping["from"]
    if source == "@row":
        return pl.format("{}#{}", pl.lit(path.name), pl.col("__row"))
    if source == "@file":
        return pl.lit(path.name)
    return pl.col(normalise_name(source))


def resolve_aliases(raw: RawTable, profile: Profile) -> Profile:
    """A profile whose `from:` lists (alternative header names, e.g. per language) name the one
    this file has; when none is present the list stays, and the missing-column error shows it."""
    present = set(raw.columns)

    def pick(mapping: Any) -> Any:
        if not isinstance(mapping, dict) or not isinstance(mapping.get("from"), list):
            return mapping
        found = next((n for n in mapping["from"] if n.startswith("@") or normalise_name(n) in present), None)
        return mapping | {"from": found} if found else mapping

    columns = {name: pick(m) for name, m in profile.columns.items()}
    history = {name: pick(m) for name, m in profile.history.items()}
    return replace(profile, columns=columns, history=history)


def _check_sources(path: Path, raw: RawTable, profile: Profile, names: list[Any]) -> None:
    import difflib

    present = set(raw.columns)
    missing = []
    for name in names:
        options = name if isinstance(name, list) else [name]
        if not any(o.startswith("@") or normalise_name(o) in present for o in options):
            missing.append(options)
    if missing:
        hints = []
        for options in missing:
            near = difflib.get_close_matches(normalise_name(options[0]), raw.columns, n=1)
            shown = " or ".join(map(repr, options))
            hints.append(shown + (f" (found {near[0]!r})" if near else ""))
        header_row = raw.info.get("skip_rows", 0) + 1
        shown = ", ".join(repr(c if len(c) <= 80 else c[:77] + "...") for c in raw.columns[:40]) + (", …" if len(raw.columns) > 40 else "")
        raise IngestError(f"{path}: row {header_row}: missing column(s) {', '.join(hints)} required by profile {profile.name}; the file has: {shown}")


PARSED = "__parsed."  # prefix of a parsed column beside its source while the problems are found


def parse_columns(
    path: Path, frame: pl.DataFrame, raw: RawTable, profile: Profile, columns: dict[str, dict[str, Any]], suppressed: set[str], kinds: dict[str, str] | None = None
) -> Step:
    """Canonical-input columns from the mapped source columns; a problem for each value that fails to parse."""
    kinds = kinds or input_kinds(profile.table)
    sources = {m["from"] for m in columns.values() if "from" in m and not m["from"].startswith("@")}
    _check_sources(path, raw, profile, sorted(sources))
    stripped = frame.with_columns(pl.col(normalise_name(s)).str.strip_chars().replace("", None) for s in sources)
    exprs, problems, notes = [pl.col("__row")], [], {"date_formats": {}, "decimal": {}}
    checks: list[tuple[str, pl.Expr, pl.Expr, str]] = []
    for name, mapping in columns.items():
        kind = kinds[name]
        source = _source_expr(mapping, path)
        column = normalise_name(mapping["from"]) if "from" in mapping else None
        if column in suppressed:  # personal data found in a mapped column: dropped, so the value is empty
            exprs.append(pl.lit(None, pl.String).alias(name))
            continue
        formats: list[str] = []
        decimal = "."
        if kind == "date" and column and not column.startswith("@"):
            formats = _date_formats(path, stripped, column, name, mapping, raw, profile)
            notes["date_formats"][name] = formats[0] if len(formats) == 1 else formats
        elif kind == "date":
            formats = [f for f in (mapping.get("date") if isinstance(mapping.get("date"), list) else [mapping.get("date", "%Y-%m-%d")]) if f != "auto"] or ["%Y-%m-%d"]
        if kind == "number" and column and not column.startswith("@"):
            decimal = _decimal_for(path, stripped, column, name, profile.read.get("decimal", "auto"))
            notes["decimal"][name] = decimal
        parsed, reason = _parse(source, name, kind, mapping, formats=formats, decimal=decimal)
        exprs.append(parsed.alias(name))
        if reason:
            shown = pl.lit(WITHHELD) if name == "employee_id" else source
            checks.append((name, source, shown, reason))
    # Every column is parsed once; the problems compare each parsed column with its source
    # (filtering on the parse expression itself parsed the column again: parse_columns took 28 s
    # of 38 million timesheet rows, 15 s now).
    parsed_frame = stripped.select(exprs)
    if checks:
        prefix = PARSED
        while any(c.startswith(prefix) for c in stripped.columns):  # a header could be named so
            prefix = "_" + prefix
        both = stripped.with_columns(parsed_frame.select(pl.col(name).alias(f"{prefix}{name}") for name, *_ in checks))
        problems = [_problems(both, name, source.is_not_null() & pl.col(f"{prefix}{name}").is_null(), shown, reason) for name, source, shown, reason in checks]
    return Step(parsed_frame, problems, notes)


# ------------------------------------------------------------------ shapes


def _rows_selected(raw: RawTable, profile: Profile) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The records the profile's `rows:` keeps; the others are counted, not read."""
    frame, mask = raw.frame, pl.lit(True)
    for column, values in (profile.rows.get("keep") or {}).items():
        _check_sources(raw.path, raw, profile, [column])
        mask &= pl.col(normalise_name(column)).str.strip_chars().is_in([str(v) for v in values])
    absent = []
    for column, values in (profile.rows.get("drop") or {}).items():
        if normalise_name(column) not in raw.columns:  # nothing to drop by a column the file lacks
            absent.append(column)
            continue
        mask &= ~pl.col(normalise_name(column)).str.strip_chars().is_in([str(v) for v in values])
    selected = frame.filter(mask)
    notes: dict[str, Any] = {"rows_not_selected": frame.height - selected.height}
    if absent:
        notes["rows_drop_columns_absent"] = absent
    return selected, notes


def _long(path: Path, frame: pl.DataFrame, raw: RawTable, profile: Profile, suppressed: set[str]) -> Step:
    return parse_columns(path, frame, raw, profile, profile.columns, suppressed)


def _item_texts(catalogue: pl.DataFrame | None, languages: Any) -> dict[str, str]:
    if catalogue is None:
        return {}
    langs = ["en", "fr", "nl", "ru", "pl"] if languages is True else list(languages)
    texts: dict[str, str] = {}
    for lang in langs:
        column = f"text_{lang}"
        if column in catalogue.columns:
            for item, text in catalogue.select("item_id", column).drop_nulls().iter_rows():
                texts.setdefault(normalise_label(text), item)
    return texts


def _text_candidates(header: str) -> list[str]:
    """The question text inside a header: all of it, a Google Forms grid row '[...]', a
    SurveyMonkey question or matrix row around ' | ', or a Qualtrics matrix statement after ' - '."""
    out = [header]
    bracket = re.search(r"\[([^\]]+)\]\s*$", header)
    if bracket:
        out.append(bracket.group(1))
    for sep in (" | ", " - "):
        if sep in header:
            before, after = header.rsplit(sep, 1)
            out += [after, before]
    return out


def _free_text(frame: pl.DataFrame, columns: list[str], book: Codebook, sample: int = 500) -> dict[str, str]:
    """Item columns whose answers are mostly sentences rather than codes or labels (a comment box
    the profile's pattern caught): their text must not reach a canonical table or a reject file."""
    labels = set().union(*[set(v) for v in book.labels.values()], book.not_applicable)
    found = {}
    for column in columns:
        values = [v for v in frame.get_column(column).head(sample).to_list() if v and v.strip()]
        odd = [v for v in values if normalise_label(v) not in labels and not re.match(_NUMERIC_ANSWER, v.strip())]
        if values and len(odd) / len(values) >= 0.5 and sum(len(v) for v in odd) / len(odd) > 20:
            found[column] = "values look like free text"
    return found


def _item_columns(path: Path, raw: RawTable, profile: Profile, catalogue: pl.DataFrame | None, meta: set[str], book: Codebook) -> tuple[dict[str, str], dict[str, str]]:
    """(source column -> item id, free-text or personal columns left out of the items with the reason)."""
    items = profile.items
    found: dict[str, str] = {}
    explicit = {normalise_name(k): str(v) for k, v in (items.get("columns") or {}).items()}
    _check_sources(path, raw, profile, list(explicit))
    found |= explicit
    if "pattern" in items:
        pattern = re.compile(items["pattern"])
        for column in raw.columns:
            match = pattern.search(column)
            if match and column not in found:
                found[column] = match.groupdict().get("item") or column
    if items.get("by_text"):
        texts = _item_texts(catalogue, items["by_text"])
        for column in raw.columns:
            if column in found:
                continue
            for candidate in _text_candidates(column):
                item = texts.get(normalise_label(candidate))
                if item:
                    found[column] = item
                    break
    excluded = {}
    for column in list(found):
        reason = None if column in explicit else personal_by_name(column)
        if column in meta:
            del found[column]
        elif column in profile.personal or reason:
            excluded[column] = reason or "listed as personal in the profile"
            del found[column]
    values_flagged = personal_by_values(raw.frame, list(found)) | _free_text(raw.frame, list(found), book)
    for column, reason in values_flagged.items():
        excluded[column] = reason
        del found[column]
    if not found:
        what = items.get("pattern") or items.get("columns") or "the survey item catalogue's texts"
        raise IngestError(f"{path}: row {raw.info.get('skip_rows', 0) + 1}: no column is a survey item (looked for {what!r}) in profile {profile.name}")
    by_item: dict[str, str] = {}
    for column, item in found.items():
        if item in by_item:
            raise IngestError(f"{path}: columns {by_item[item]!r} and {column!r} both hold item {item}; map them in items.columns")
        by_item[item] = column
    return found, excluded


def _wide(path: Path, frame: pl.DataFrame, raw: RawTable, profile: Profile, suppressed: set[str], catalogue: pl.DataFrame | None, book: Codebook) -> Step:
    meta = {k: v for k, v in profile.columns.items() if k not in ("item_id", "answer")}
    meta_sources = {normalise_name(m["from"]) for m in meta.values() if "from" in m}
    item_columns, excluded = _item_columns(path, raw, profile, catalogue, meta_sources, book)
    step = parse_columns(path, frame, raw, profile, meta, suppressed)
    answers = (
        frame.select("__row", *item_columns)
        .unpivot(index="__row", variable_name="__column", value_name="answer")
        .with_columns(pl.col("answer").str.strip_chars().replace("", None), pl.col("__column").replace_strict(item_columns, return_dtype=pl.String).alias("item_id"))
        .filter(pl.col("answer").is_not_null())
        .drop("__column")
    )
    step.frame = step.frame.join(answers, on="__row", how="inner", maintain_order="left")
    step.notes |= {"item_columns": len(item_columns), "items_excluded": excluded}
    step.used = set(item_columns)
    return step


def _history(path: Path, frame: pl.DataFrame, raw: RawTable, profile: Profile, suppressed: set[str]) -> Step:
    """Employment spells from effective-dated rows (BambooHR employmentStatus/jobInfo style).

    A spell starts at an 'employed' status that follows no status or a 'terminated' one, and ends
    at the next 'terminated' status (its date is the exit date; exit type and reason come from that
    row). Team, site, role and the other attributes are those in effect on the spell's last day
    (or on the latest row, while employed)."""
    hist = profile.history
    columns = dict(profile.columns) | {"__date": hist["date"], "__state": hist["status"]}
    kinds = input_kinds(profile.table) | {"__date": "date", "__state": "text"}
    step = parse_columns(path, frame, raw, profile, columns, suppressed, kinds)
    parsed = step.frame
    kind_spec = hist.get("kind")
    if kind_spec:
        kind_col = normalise_name(kind_spec["from"])
        _check_sources(path, raw, profile, [kind_col])
        row_kinds = frame.select("__row", pl.col(kind_col).str.strip_chars().alias("__kind"))
        parsed = parsed.join(row_kinds, on="__row", how="left", maintain_order="left")
        is_status = pl.col("__kind").is_in([str(v) for v in kind_spec.get("status", [])])
        is_attr = pl.col("__kind").is_in([str(v) for v in kind_spec.get("attributes", [])])
        other = parsed.filter(~is_status & ~is_attr)
        step.problems.append(_problems(other, "history.kind", pl.lit(True), pl.col("__kind"), f"not a status row ({kind_spec.get('status')}) nor an attribute row ({kind_spec.get('attributes')})"))
    else:
        is_status = is_attr = pl.lit(True)
    # Every history row needs a person and a date, or it could not be placed in any spell.
    step.problems.append(_problems(parsed, "employee_id", pl.col("employee_id").is_null(), pl.lit(None), "required value is empty"))
    step.problems.append(_problems(parsed, "__date", pl.col("__date").is_null(), pl.lit(None), "required value is empty"))
    status = parsed.filter(is_status).sort("employee_id", "__date", "__row")
    step.problems.append(_problems(status, "history.status", pl.col("__state").is_null() & pl.col("__date").is_not_null(), pl.lit(None), "status row without a status"))
    status = status.filter(pl.col("__state").is_not_null() & pl.col("__date").is_not_null() & pl.col("employee_id").is_not_null())
    previous = pl.col("__state").shift(1).over("employee_id")
    status = status.with_columns(
        ((pl.col("__state") == "employed") & (previous.is_null() | (previous == "terminated"))).alias("__start"),
    ).with_columns(pl.col("__start").cast(pl.Int32).cum_sum().over("employee_id").alias("__spell"))
    orphan = (pl.col("__state") == "terminated") & ((pl.col("__spell") == 0) | (previous == "terminated"))
    step.problems.append(_problems(status, "history.status", orphan, pl.col("__state"), "termination without an employed status before it"))
    status = status.filter(~orphan)
    attributes = [c for c in ("team", "site", "role", "language", "schedule", "pay_band", "annual_salary") if c in profile.columns]
    spells = status.group_by("employee_id", "__spell", maintain_order=True).agg(
        pl.col("__date").filter(pl.col("__start")).first().alias("hire_date"),
        pl.col("__row").filter(pl.col("__start")).first().alias("__row"),
        pl.col("__date").filter(pl.col("__state") == "terminated").first().alias("exit_date"),
        *[pl.col(c).filter(pl.col("__state") == "terminated").first().alias(c) for c in ("exit_type", "exit_reason") if c in profile.columns],
        pl.col("__row").alias("__rows"),
    )
    attr_rows = parsed.filter(is_attr & pl.col("__date").is_not_null() & pl.col("employee_id").is_not_null()).select("employee_id", "__date", *attributes).sort("__date")
    if kind_spec is None:  # every row carries the attributes: use the status rows' own values
        attr_rows = attr_rows.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in attributes))
    last_day = spells.with_columns(
        pl.coalesce("exit_date", pl.lit(LATEST)).alias("__asof")
    ).sort("__asof")
    joined = last_day.join_asof(attr_rows.rename({"__date": "__attr_date"}), left_on="__asof", right_on="__attr_date", by="employee_id", strategy="backward", check_sortedness=False)
    # A row that could not be read (bad date, unknown status) might have started or ended a spell,
    # or changed its team: every spell of that person goes with it rather than being built without it.
    bad = pl.concat([p.select("__row") for p in step.problems]).get_column("__row")
    unreadable = parsed.filter(pl.col("__row").is_in(bad.implode()) & pl.col("employee_id").is_not_null())
    unreadable = unreadable.group_by("employee_id").agg(pl.col("__row").alias("__bad"))
    joined = joined.join(unreadable, on="employee_id", how="left").with_columns(
        pl.concat_list("__rows", pl.col("__bad").fill_null(pl.lit([], pl.List(pl.Int64)))).alias("__rows")
    )
    step.frame = joined.drop("__asof", "__attr_date", "__spell", "__bad")
    step.problems = [p.with_columns(pl.col("column").replace({"__date": "history.date", "__state": "history.status"})) for p in step.problems]
    step.notes["date_formats"] = {k.replace("__date", "history.date"): v for k, v in step.notes.get("date_formats", {}).items()}
    step.notes["history_spells"] = joined.height
    return step


# ------------------------------------------------------------------ surveys


def _normalised_answers(answers: pl.Series) -> dict[str, str]:
    return {a: normalise_label(a) for a in answers.drop_nulls().unique().to_list()}


def decode_answers(frame: pl.DataFrame, catalogue: pl.DataFrame, book: Codebook, items: dict[str, Any]) -> tuple[pl.DataFrame, list[pl.DataFrame], dict[str, int]]:
    """value = the answer as a number on the item's scale (label via codebook, or the number itself);
    score = value after reverse scoring. 'Not applicable' answers (codebook labels, negative codes)
    are counted and dropped; anything else that is not on the scale is a problem."""
    # An export holds few distinct answers (16 in a 12-million-answer export, a few hundred
    # (item, answer) pairs): each pair is decoded once and joined back onto the answers (4.6 -> ~1 s there).
    pairs = frame.lazy().select("item_id", "answer").unique().collect().join(catalogue.select("item_id", "scale", "reverse_scored"), on="item_id", how="left")
    mapping = _normalised_answers(pairs["answer"])
    norm = pl.col("answer").replace_strict(mapping, default=None, return_dtype=pl.String)
    recode = {normalise_label(str(k)): v for k, v in (items.get("recode") or {}).items()}
    na_labels = set(book.not_applicable) | {normalise_label(str(v)) for v in items.get("not_applicable") or []}
    na_labels |= {k for k, v in recode.items() if v is None}
    numeric = norm.str.extract(_NUMERIC_ANSWER, 1).cast(pl.Int64, strict=False)
    negative_na = items.get("negative_is_na", True)
    is_na = (norm.is_in(list(na_labels)) | (pl.lit(negative_na) & (numeric < 0))).fill_null(False)
    recoded = norm.replace_strict({k: v for k, v in recode.items() if v is not None}, default=None, return_dtype=pl.Int64)
    by_label = pl.lit(None, pl.Int64)
    for scale, labels in book.labels.items():
        by_label = pl.when(pl.col("scale") == scale).then(norm.replace_strict(labels, default=None, return_dtype=pl.Int64)).otherwise(by_label)
    low = pl.when(pl.col("scale") == "nps11").then(0).otherwise(1)
    high = pl.when(pl.col("scale") == "nps11").then(10).otherwise(5)
    candidate = pl.coalesce(recoded, by_label, numeric)
    value = pl.when(candidate.is_between(low, high)).then(candidate)
    top = pl.when(pl.col("scale") == "nps11").then(10).otherwise(6)
    score = pl.when(pl.col("reverse_scored")).then(top - pl.col("value")).otherwise(pl.col("value")).cast(pl.Int8)
    pairs = pairs.with_columns(is_na.alias("__na"), value.cast(pl.Int8).alias("value")).with_columns(score.alias("score"))
    decoded = frame.join(pairs, on=["item_id", "answer"], how="left", nulls_equal=True, maintain_order="left")
    problems = [
        _problems(decoded, "item_id", pl.col("scale").is_null(), pl.col("item_id"), "item is not in the survey item catalogue"),
        _problems(
            decoded,
            "answer",
            pl.col("scale").is_not_null() & ~pl.col("__na") & pl.col("value").is_null(),
            pl.col("answer").str.slice(0, 60),
            pl.format("answer matches no code or label of scale {} (codebooks: {})", pl.col("scale"), pl.lit(", ".join(book.names))),
        ),
    ]
    counts = {"answers_read": decoded.height, "answers_not_applicable": decoded.filter(pl.col("__na") & pl.col("scale").is_not_null()).height}
    decoded = decoded.filter(pl.col("value").is_not_null())  # the others are counted (n/a) or problems above
    return decoded.drop("scale", "reverse_scored", "answer", "__na"), problems, counts


def _survey_items_by_text(frame: pl.DataFrame, catalogue: pl.DataFrame | None, items: dict[str, Any]) -> pl.DataFrame:
    """Long exports that name the question instead of its id: look the text up in the catalogue."""
    if not items.get("by_text") or catalogue is None:
        return frame
    texts = _item_texts(catalogue, items["by_text"])
    ids = set(catalogue["item_id"].to_list())
    lookup = {v: (v if v in ids else texts.get(normalise_label(v), v)) for v in frame["item_id"].drop_nulls().unique().to_list()}
    return frame.with_columns(pl.col("item_id").replace_strict(lookup, default=None, return_dtype=pl.String))


# ------------------------------------------------------------------ the entry point


def _personal_columns(raw: RawTable, profile: Profile, mapped: dict[str, str], keep: tuple[str, ...]) -> tuple[dict[str, str], set[str]]:
    """(personal source column -> why, mapped columns to suppress because their values are e-mails/IPs)."""
    found: dict[str, str] = {}
    for column in raw.columns:
        if column in {normalise_name(p) for p in profile.personal}:
            found[column] = "listed as personal in the profile"
        elif column not in mapped and personal_by_name(column):
            found[column] = f"header suggests {personal_by_name(column)}"
    unmapped = [c for c in raw.columns if c not in mapped and c not in found]
    for column, reason in personal_by_values(raw.frame, unmapped).items():
        found[column] = reason
    suppressed = set()
    checked = [c for c, target in mapped.items() if target not in ("employee_id", "response_id")]
    for column, reason in personal_by_values(raw.frame, checked).items():
        found[column] = f"{reason}; the mapped column {mapped[column]} is left empty"
        suppressed.add(column)
    for column in keep:
        found.pop(normalise_name(column), None)
        suppressed.discard(normalise_name(column))
    return found, suppressed


def ingest_file(
    path: Path,
    profile: Profile,
    *,
    key: bytes,
    mode: str = "quarantine",
    max_reject_share: float = 0.02,
    keep_columns: tuple[str, ...] = (),
    survey_items: pl.DataFrame | None = None,
    employees: pl.DataFrame | None = None,
    wave: str = "quarter",
    codebooks: dict[str, Any] | None = None,
) -> IngestResult:
    """One export file -> canonical rows, rejects and stats. Raises IngestError for a file that
    cannot be read at all, in strict mode at the first problem, and when too many rows are rejected."""
    path = Path(path)
    try:
        return _ingest(path, profile, key, mode, max_reject_share, keep_columns, survey_items, employees, wave, codebooks)
    except IngestError:
        raise
    except pl.exceptions.PolarsError as exc:  # never a library traceback for a user's file
        raise IngestError(f"{path}: cannot ingest with profile {profile.name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None


def _ingest(path: Path, profile: Profile, key: bytes, mode: str, max_reject_share: float, keep_columns: tuple[str, ...], survey_items: pl.DataFrame | None, employees: pl.DataFrame | None, wave: str, codebooks: dict[str, Any] | None) -> IngestResult:
    raw = read_table(path, profile.read)
    profile = resolve_aliases(raw, profile)
    table_name = profile.table
    book = resolve_codebook(profile.items.get("codebook", "auto"), codebooks, f"profile {profile.path or profile.name}") if table_name == "survey_responses" else None
    frame, selection = _rows_selected(raw, profile)
    wanted = [m["from"] for m in [*profile.columns.values(), *profile.history.values()] if isinstance(m, dict) and "from" in m]
    _check_sources(path, raw, profile, wanted)
    mapped = {normalise_name(m["from"]): name for name, m in profile.columns.items() if "from" in m and not m["from"].startswith("@")}
    for name, m in profile.history.items():
        if isinstance(m, dict) and "from" in m:
            mapped.setdefault(normalise_name(m["from"]), f"history.{name}")
    personal, suppressed = _personal_columns(raw, profile, mapped, keep_columns)
    if table_name == "survey_responses" and profile.shape == "wide":
        step = _wide(path, frame, raw, profile, suppressed, survey_items, book)
    elif profile.shape == "history":
        step = _history(path, frame, raw, profile, suppressed)
    else:
        step = _long(path, frame, raw, profile, suppressed)
    problems = [raw.problems.filter(pl.col("__row").is_in(frame["__row"].implode())), *step.problems]
    out = step.frame
    notes = dict(step.notes)
    for column, reason in notes.pop("items_excluded", {}).items():
        personal.setdefault(column, reason)

    if table_name == "survey_responses":
        if survey_items is None:
            raise IngestError(f"{path}: survey responses need the survey item catalogue")
        if profile.shape == "long":
            out = _survey_items_by_text(out.filter(pl.col("answer").is_not_null()), survey_items, profile.items)
        out, answer_problems, counts = decode_answers(out, survey_items, book, profile.items)
        problems += answer_problems
        notes |= counts
    if table_name == "employees" and "status" in out.columns:
        problems.append(_problems(out, "status", (pl.col("status") == "inactive") & pl.col("exit_date").is_null(), pl.col("status"), "inactive but no termination date"))
        problems.append(_problems(out, "status", pl.col("status").is_not_null() & ~pl.col("status").is_in(CHOICES["status"]), pl.col("status"), f"not one of {list(CHOICES['status'])}"))

    # Canonical shape: pseudonyms, provenance, derived columns; then the schema's verdict.
    out = out.with_columns(pl.lit(str(path)).alias("source_file"), pl.col("__row").alias("source_row"))
    if "employee_id" in out.columns:
        out = pseudonymise(out.lazy(), "employee_id", key).collect()
    if table_name == "survey_responses":
        period = pl.col("response_date").dt.truncate("1q" if wave == "quarter" else "1mo")
        out = out.with_columns(period.alias("wave"), quarter_of(pl.col("response_date")).alias("quarter"))
    if table_name == "employees":
        out = out.with_columns(pl.lit(1, pl.Int32).alias("spell"))  # numbered once the rejected spells are out
    schema = SCHEMAS[table_name]
    for name, column in schema.columns().items():
        if name not in out.columns:
            out = out.with_columns(pl.lit(None, column.dtype).alias(name))
    out = out.with_columns(pl.col(name).cast(column.dtype) for name, column in schema.columns().items())
    if employees is not None and "employee_key" in out.columns:
        date = {"survey_responses": "response_date", "assignments": "effective_date"}.get(table_name)
        if date:
            problems.append(within_spells(out, employees, date, {"response_date": "the response date", "effective_date": "the effective date"}[date]))
    _, schema_problems = validate(table_name, out.select(schema.column_names()))
    problems.append(schema_problems)
    if table_name == "employees":
        problems.append(overlapping_spells(out))

    rejects = _reconcile(pl.concat([pl.DataFrame(schema=PROBLEM_SCHEMA), *[p.select(list(PROBLEM_SCHEMA)).cast(PROBLEM_SCHEMA) for p in problems]]), out)
    if mode == "strict" and rejects.height:
        first = rejects.row(0, named=True)
        raise IngestError(f"{path}: row {first['__row']}: column {first['column']}: {first['reason']} (value {first['value']!r})")
    bad_rows = rejects.get_column("__row").unique()
    if "__rows" in out.columns:  # rows made of several records (spells): all of them must be good
        accepted = out.filter(~pl.col("__rows").list.eval(pl.element().is_in(bad_rows.implode())).list.any())
    else:
        accepted = out.filter(~pl.col("__row").is_in(bad_rows.implode()))
    if table_name == "employees":
        accepted = add_spells(accepted)
    kept = [normalise_name(c) for c in keep_columns if normalise_name(c) in raw.columns]
    table = accepted.select(*schema.column_names(), "__row")
    if kept:
        clash = [c for c in kept if c.casefold() in {t.casefold() for t in table.columns}]
        if clash:
            raise IngestError(f"privacy.keep_columns: {clash} would replace canonical columns of {table_name}")
        table = table.join(raw.frame.select("__row", *kept), on="__row", how="left", maintain_order="left")
    order = SORT_KEYS[table_name] + ["source_row"]
    # nulls last only when a key has nulls: the same order, and Polars' multi-column sort is 2-3x
    # slower with nulls_last (1.7 million timesheet rows at 100k employees)
    table = table.drop("__row").sort(order, nulls_last=any(table.get_column(k).has_nulls() for k in order))

    rows_read = frame.height
    rows_rejected = bad_rows.len()
    reject_out = rejects.select(pl.lit(str(path)).alias("source_file"), pl.col("__row").alias("source_row"), "column", "value", "reason")
    used = set(mapped) | step.used
    dropped_personal = sorted(c for c in personal if c not in kept)
    stats = {
        "file": str(path),
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "profile": profile.name,
        "table": table_name,
        **{k: v for k, v in raw.info.items()},
        **selection,
        "rows_read": rows_read,
        "rows_accepted": rows_read - rows_rejected,
        "rows_rejected": rows_rejected,
        "records_out": table.height,
        "reject_reasons": dict(sorted(rejects.group_by("reason").len().iter_rows(), key=lambda r: (-r[1], r[0]))),
        "personal_columns_dropped": dropped_personal,
        "personal_columns_why": {c: personal[c] for c in dropped_personal},
        "kept_columns": kept,
        "other_columns_dropped": sorted(c for c in raw.columns if c not in used and c not in personal and not c.startswith("(unnamed")),
        **notes,
    }
    if rows_read and rows_rejected / rows_read > max_reject_share:
        summary = "; ".join(f"{n} × {r}" for r, n in list(stats["reject_reasons"].items())[:3])
        first = reject_out.row(0, named=True)
        raise TooManyRejects(
            f"{path}: {rows_rejected} of {rows_read} rows rejected ({rows_rejected / rows_read:.1%}), more than ingest.max_reject_share "
            f"({max_reject_share:.1%}); first problem: row {first['source_row']}, column {first['column']}: {first['reason']}; most common: {summary}",
            IngestResult(table, reject_out, stats),
        )
    return IngestResult(table, reject_out, stats)


def _reconcile(problems: pl.DataFrame, out: pl.DataFrame) -> pl.DataFrame:
    """One line per problem, plus a line for each record rejected only because another record of
    the same output row was (a spell whose start row is bad takes its exit row with it)."""
    problems = problems.unique(maintain_order=True)
    # A value that failed to parse is empty afterwards: the parse problem says more than the
    # checks that then find the column empty ("required value is empty", "exit date without type").
    parse_failed = problems.filter(pl.col("value").is_not_null()).select("__row", "column").unique().with_columns(pl.lit(True).alias("__failed"))
    problems = problems.join(parse_failed, on=["__row", "column"], how="left", maintain_order="left")
    problems = problems.filter(~(pl.col("value").is_null() & pl.col("__failed").fill_null(False))).drop("__failed")
    # A record with too few fields is one problem, not one per field it lacks.
    short = problems.filter((pl.col("column") == ROW) & pl.col("reason").str.contains(r"^the (record has \d+ fields|file ends inside)")).get_column("__row")
    problems = problems.filter(~(pl.col("__row").is_in(short.implode()) & (pl.col("column") != ROW) & pl.col("value").is_null()))
    bad = problems.get_column("__row").unique().implode()
    if "__rows" not in out.columns:
        return problems.sort("__row", "column", "reason")
    spread = (
        out.select("__rows")
        .filter(pl.col("__rows").list.len() > 1)
        .with_columns(pl.col("__rows").list.eval(pl.element().filter(pl.element().is_in(bad))).alias("__bad"))
        .filter(pl.col("__bad").list.len() > 0)
        .explode("__rows")
        .filter(~pl.col("__rows").is_in(bad))
        .select(
            pl.col("__rows").alias("__row"),
            pl.lit(ROW).alias("column"),
            pl.lit(None, pl.String).alias("value"),
            pl.format("rejected together with row {}: they make one spell", pl.col("__bad").list.first()).alias("reason"),
        )
    )
    # Problems found after a mapped column was found to hold personal data must not repeat it.
    return pl.concat([problems, spread]).sort("__row", "column", "reason")


def add_spells(employees: pl.DataFrame) -> pl.DataFrame:
    """Number each person's employment spells 1, 2, ... by hire date (idempotent, row order kept)."""
    ordered = employees.with_row_index("__order").sort("employee_key", "hire_date", "__order")
    position = pl.int_range(pl.len(), dtype=pl.Int64)
    first = pl.when(pl.col("employee_key").ne_missing(pl.col("employee_key").shift(1))).then(position).forward_fill()
    numbered = ordered.with_columns((position - first + 1).cast(pl.Int32).alias("spell")).sort("__order").drop("__order")
    return numbered.select("employee_key", "spell", pl.exclude("employee_key", "spell"))


def write_outputs(result: IngestResult, table_path: Path, rejects_path: Path, stats_path: Path) -> None:
    for path in (table_path, rejects_path, stats_path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    result.table.write_parquet(table_path)
    result.rejects.write_csv(rejects_path)
    Path(stats_path).write_text(json.dumps(result.stats, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ workflow entry points


def ingest_export(
    source: Path,
    profile_file: Path,
    config: dict[str, Any],
    table_path: Path,
    rejects_path: Path,
    stats_path: Path,
    survey_items_path: Path | None = None,
    employees_path: Path | None = None,
) -> IngestResult:
    """One export file -> canonical part, rejects CSV and stats (the `ingest_*` rules)."""
    from analysis.pseudonym import resolve_key

    profile = load_profile(Path(profile_file))
    items = pl.read_parquet(survey_items_path) if survey_items_path else None
    employees = pl.read_parquet(employees_path, columns=["employee_key", "hire_date", "exit_date"]) if employees_path else None
    ingest_config = config["ingest"]
    # The rejects of a run that failed for too many of them, kept where a failed job's outputs are not deleted.
    failed = Path(rejects_path).with_suffix(".failed.csv")
    try:
        result = ingest_file(
            Path(source),
            profile,
            key=resolve_key(config["privacy"]["key_env"], config["synthetic"]),
            mode=ingest_config["mode"],
            max_reject_share=ingest_config["max_reject_share"],
            keep_columns=tuple(config["privacy"].get("keep_columns", [])),
            survey_items=items,
            employees=employees,
            wave=config["survey"]["wave"],
            codebooks=ingest_config.get("codebooks"),
        )
    except TooManyRejects as exc:
        failed.parent.mkdir(parents=True, exist_ok=True)
        exc.result.rejects.write_csv(failed)
        raise TooManyRejects(f"{exc}; every rejected row is in {failed}", exc.result) from None
    failed.unlink(missing_ok=True)
    write_outputs(result, table_path, rejects_path, stats_path)
    return result


def combine_parts(parts: list[Path], stats_files: list[Path] | None, table_path: Path, manifest_path: Path | None = None) -> int:
    """Concatenate per-file canonical parts into one table (and, if asked, write the ingest manifest);
    the number of rows written.

    A key that appears in two exports is an error: the same response (or month of hours) exported
    twice would otherwise be counted twice. (A key repeated within one export is already a reject.)

    Streaming, so memory stays bounded whatever the size (~80 million survey answers at 1M
    employees): the parts are written in sorted path order, each part's rows in its own order
    (ingest sorts a part by its keys and source row), never collected or sorted as a whole; no
    analysis depends on a global row order. The duplicate check gathers only the distinct values
    of the first key column per part (e.g. response ids); a key can repeat across exports only if
    that value does, and only the rows of such shared values are compared.
    """
    paths = sorted(map(str, parts))
    Path(table_path).parent.mkdir(parents=True, exist_ok=True)
    if not paths:
        pl.DataFrame().write_parquet(table_path)
        return 0
    names = set().union(*(pl.scan_parquet(p).collect_schema().names() for p in paths))
    keys = next((SORT_KEYS[t] for t in ("survey_responses", "timesheets", "assignments") if set(SORT_KEYS[t]) <= names), [])
    if keys and len(paths) > 1:
        first_key = keys[0]
        ids = pl.concat([pl.scan_parquet(p).select(pl.col(first_key).unique(), pl.lit(i, pl.Int32).alias("__part")) for i, p in enumerate(paths)]).collect()
        shared = ids.filter(pl.col(first_key).is_duplicated()).select(first_key).unique()
        del ids
        if shared.height:
            rows = (
                pl.concat([pl.scan_parquet(p).select(*keys, "source_file", "source_row") for p in paths], how="vertical_relaxed")
                .join(shared.lazy(), on=first_key, how="semi")
                .collect()
            )
            dup = rows.filter(pl.struct(keys).is_duplicated())
            if dup.height:
                first = dup.sort("source_file", "source_row").row(0, named=True)
                others = sorted(dup.get_column("source_file").unique().to_list())
                shown = ", ".join(f"{k} {first[k]}" for k in keys)
                raise IngestError(f"{first['source_file']}: row {first['source_row']}: {shown} appears in more than one export ({', '.join(others)})")
    pl.concat([pl.scan_parquet(p) for p in paths], how="diagonal_relaxed").sink_parquet(table_path)
    if stats_files is not None and manifest_path is not None:
        write_manifest(stats_files, manifest_path)
    return pl.scan_parquet(table_path).select(pl.len()).collect().item()


def write_manifest(stats_files: list[Path], manifest_path: Path) -> dict[str, Any]:
    """results/ingest/manifest.json: each file's stats and the totals (read = accepted + rejected)."""
    stats = [json.loads(Path(s).read_text(encoding="utf-8")) for s in sorted(map(str, stats_files))]
    manifest = {
        "files": stats,
        "rows_read": sum(s["rows_read"] for s in stats),
        "rows_accepted": sum(s["rows_accepted"] for s in stats),
        "rows_rejected": sum(s["rows_rejected"] for s in stats),
        "records_out": sum(s["records_out"] for s in stats),
        "personal_columns_dropped": sorted({c for s in stats for c in s.get("personal_columns_dropped", [])}),
    }
    Path(manifest_path).parent.mkdir(parents=True, exist_ok=True)
    Path(manifest_path).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest
