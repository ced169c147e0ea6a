"""Export profiles: how a vendor's file maps onto a canonical table (docs/profiles.md).

A profile is YAML: which table, how to read the file (format, encoding, delimiter, header rows),
which source column feeds each canonical column (with date formats and code maps), and for survey
exports which columns are items and which codebook decodes their answers. `load_profile` checks
all of it up front and says exactly what a profile lacks or misspells.
"""

from __future__ import annotations

import codecs
import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from analysis.readers import IngestError
from analysis.validation import CHOICES, SCHEMAS, input_kinds, required_inputs

CODEBOOKS = Path(__file__).with_name("codebooks.yaml")
SHAPES = {"long", "wide", "history"}
PROFILE_KEYS = {"description", "table", "shape", "read", "columns", "items", "personal", "rows", "history"}
READ_KEYS = {"format", "encoding", "delimiter", "decimal", "skip_rows", "header_rows", "names", "sheet", "quote"}
COLUMN_KEYS = {"from", "value", "date", "map", "match", "number"}
ITEMS_KEYS = {"pattern", "columns", "by_text", "codebook", "not_applicable", "negative_is_na", "recode"}
ROWS_KEYS = {"keep", "drop"}
HISTORY_KEYS = {"date", "status", "kind"}
HISTORY_STATES = ("employed", "terminated")
DATE_DIRECTIVES = re.compile(r"%[YmdHMSIpyjbBaAfzZT%e-]")
SPECIAL_SOURCES = {"@row": "the record number", "@file": "the export's file name"}


@dataclass
class Profile:
    name: str
    table: str
    read: dict[str, Any]
    columns: dict[str, dict[str, Any]]
    shape: str = "long"
    items: dict[str, Any] = field(default_factory=dict)
    personal: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    history: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: str = ""


def _near(name: str, options: Any) -> str:
    near = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _check_keys(where: str, given: dict[str, Any], allowed: set[str]) -> None:
    for key in given:
        if key not in allowed:
            raise IngestError(f"{where}: unknown key {key!r}{_near(key, allowed)}; allowed: {', '.join(sorted(allowed))}")


def _check_mapping(where: str, name: str, mapping: Any, kind: str) -> dict[str, Any]:
    if isinstance(mapping, str):  # shorthand: `team: Department`
        mapping = {"from": mapping}
    if not isinstance(mapping, dict):
        raise IngestError(f"{where}: columns.{name} must be a mapping like {{from: <source column>}}")
    _check_keys(f"{where}: columns.{name}", mapping, COLUMN_KEYS)
    if ("from" in mapping) == ("value" in mapping):
        raise IngestError(f"{where}: columns.{name} needs 'from: <source column>' (or 'value: <constant>'), not both")
    if "from" in mapping:
        names = mapping["from"] if isinstance(mapping["from"], list) else [mapping["from"]]
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise IngestError(f"{where}: columns.{name}.from must be a column name, or a list of alternative names")
        for source in names:
            if source.startswith("@") and source not in SPECIAL_SOURCES:
                raise IngestError(f"{where}: columns.{name}.from: {source!r} is not one of {sorted(SPECIAL_SOURCES)}")
    if "date" in mapping:
        if kind != "date":
            raise IngestError(f"{where}: columns.{name}: 'date' applies to date columns only")
        formats = mapping["date"] if isinstance(mapping["date"], list) else [mapping["date"]]
        for fmt in formats:
            if fmt != "auto" and (not isinstance(fmt, str) or not DATE_DIRECTIVES.search(fmt)):
                raise IngestError(f"{where}: columns.{name}.date: {fmt!r} is not a strftime format like '%d.%m.%Y' (or 'auto')")
    if "map" in mapping:
        if not isinstance(mapping["map"], dict) or not mapping["map"]:
            raise IngestError(f"{where}: columns.{name}.map must map source codes to canonical values")
        _check_targets(where, name, mapping["map"].values(), kind)
    if "match" in mapping:
        if not isinstance(mapping["match"], dict) or not mapping["match"]:
            raise IngestError(f"{where}: columns.{name}.match must map regular expressions to canonical values")
        for pattern in mapping["match"]:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                raise IngestError(f"{where}: columns.{name}.match: {pattern!r} is not a valid regular expression: {exc}") from None
        _check_targets(where, name, mapping["match"].values(), kind)
    return mapping


def _check_targets(where: str, name: str, values: Any, kind: str) -> None:
    for value in values:
        if value is None:
            continue
        if kind == "bool" and not isinstance(value, bool):
            raise IngestError(f"{where}: columns.{name}: maps to {value!r}, expected true or false")
        if kind == "enum" and name in CHOICES and str(value) not in CHOICES[name]:
            raise IngestError(f"{where}: columns.{name}: maps to {value!r}{_near(value, CHOICES[name])}, expected one of {list(CHOICES[name])}")


def _check_read(where: str, read: dict[str, Any]) -> dict[str, Any]:
    _check_keys(f"{where}: read", read, READ_KEYS)
    out = {"format": "csv", "encoding": "auto", "delimiter": "auto", "decimal": "auto", "skip_rows": 0, "header_rows": 1, "names": 1, "quote": '"'} | read
    if out["format"] not in ("csv", "xlsx", "parquet"):
        raise IngestError(f"{where}: read.format must be csv, xlsx or parquet, got {out['format']!r}")
    if out["encoding"] != "auto":
        try:
            codecs.lookup(str(out["encoding"]))
        except LookupError:
            raise IngestError(f"{where}: read.encoding {out['encoding']!r} is not an encoding Python knows (e.g. utf-8, cp1250, auto)") from None
    if out["delimiter"] in ("tab", "\\t"):
        out["delimiter"] = "\t"
    if out["delimiter"] != "auto" and (not isinstance(out["delimiter"], str) or len(out["delimiter"]) != 1):
        raise IngestError(f"{where}: read.delimiter must be one character (',', ';', tab) or auto, got {out['delimiter']!r}")
    if out["decimal"] not in (".", ",", "auto"):
        raise IngestError(f"{where}: read.decimal must be '.', ',' or auto")
    for key, low in (("skip_rows", 0), ("header_rows", 1)):
        if not isinstance(out[key], int) or isinstance(out[key], bool) or out[key] < low:
            raise IngestError(f"{where}: read.{key} must be a whole number >= {low}")
    names = out["names"]
    if names != "join" and (not isinstance(names, int) or not 1 <= names <= out["header_rows"]):
        raise IngestError(f"{where}: read.names must be 'join' or a header row number 1..{out['header_rows']}")
    if not isinstance(out["quote"], str) or len(out["quote"]) != 1:
        raise IngestError(f"{where}: read.quote must be one character")
    return out


def load_profile(path: Path) -> Profile:
    """Read and check a profile; say exactly what it lacks."""
    where = f"profile {path}"
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise IngestError(f"{where}: cannot read: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise IngestError(f"{where}: expected a mapping with table, read and columns")
    _check_keys(where, raw, PROFILE_KEYS)
    read = _check_read(where, raw.get("read") or {})
    table = raw.get("table")
    if table not in SCHEMAS:
        raise IngestError(f"{where}: 'table' must be one of {sorted(SCHEMAS)}, got {table!r}{_near(table, SCHEMAS)}")
    kinds = input_kinds(table)
    shape = raw.get("shape", "long")
    if shape not in SHAPES:
        raise IngestError(f"{where}: shape must be one of {sorted(SHAPES)}, got {shape!r}")
    if shape == "wide" and table != "survey_responses":
        raise IngestError(f"{where}: shape 'wide' is for survey_responses (one column per item)")
    if shape == "history" and table != "employees":
        raise IngestError(f"{where}: shape 'history' is for employees (spells built from effective-dated status rows)")
    columns_raw = raw.get("columns") or {}
    if not isinstance(columns_raw, dict):
        raise IngestError(f"{where}: columns must map canonical columns to source columns")
    columns = {}
    for name, mapping in columns_raw.items():
        if name not in kinds:
            raise IngestError(f"{where}: columns: {name!r} is not a column of {table}{_near(name, kinds)}; columns: {', '.join(kinds)}")
        columns[name] = _check_mapping(where, name, mapping, kinds[name])
    items = raw.get("items") or {}
    _check_keys(f"{where}: items", items, ITEMS_KEYS)
    history = raw.get("history") or {}
    _check_keys(f"{where}: history", history, HISTORY_KEYS)
    required = required_inputs(table)
    if table == "survey_responses":
        required = [c for c in required if c != "item_id"] if shape == "wide" else [*required, "answer"]
        if shape == "wide" and not ({"pattern", "columns", "by_text"} & set(items)):
            raise IngestError(f"{where}: a wide survey profile needs items.pattern (a regex of item columns), items.columns or items.by_text")
        if "pattern" in items:
            try:
                re.compile(items["pattern"])
            except (re.error, TypeError) as exc:
                raise IngestError(f"{where}: items.pattern is not a valid regular expression: {exc}") from None
    if shape == "history":
        required = [c for c in required if c not in ("hire_date",)]
        for key in ("date", "status"):
            if key not in history:
                raise IngestError(f"{where}: a history profile needs history.{key}")
        history = {k: _check_mapping(f"{where}: history", k, v, "date" if k == "date" else "text") for k, v in history.items() if k != "kind"} | (
            {"kind": history["kind"]} if "kind" in history else {}
        )
        kind = history.get("kind")
        if kind is not None and (
            not isinstance(kind, dict) or not isinstance(kind.get("from"), str) or not isinstance(kind.get("status"), list) or not isinstance(kind.get("attributes", []), list)
        ):
            raise IngestError(f"{where}: history.kind must be like {{from: Table, status: [employmentStatus], attributes: [jobInfo]}}")
        states = set(history["status"].get("map", {}).values())
        if not states or not states <= set(HISTORY_STATES):
            raise IngestError(f"{where}: history.status.map must map each status to one of {list(HISTORY_STATES)}")
    missing = [c for c in required if c not in columns]
    if missing:
        raise IngestError(f"{where}: columns lacks required canonical column(s) {missing} for table {table}")
    rows = raw.get("rows") or {}
    _check_keys(f"{where}: rows", rows, ROWS_KEYS)
    for key, spec in rows.items():
        if not isinstance(spec, dict) or not all(isinstance(v, list) for v in spec.values()):
            raise IngestError(f"{where}: rows.{key} must map a source column to a list of values")
    personal = raw.get("personal") or []
    if not isinstance(personal, list):
        raise IngestError(f"{where}: personal must be a list of source column names")
    return Profile(Path(path).stem, table, read, columns, shape, items, [str(p) for p in personal], rows, history, str(path))


# ------------------------------------------------------------------ codebooks


def normalise_label(text: str) -> str:
    text = unicodedata.normalize("NFC", str(text)).replace("\u2019", "'").replace("\u2018", "'").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip().casefold()


@lru_cache(maxsize=None)
def builtin_codebooks() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(CODEBOOKS.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Codebook:
    """Labels -> code per scale, and the labels that mean 'not applicable'."""

    labels: dict[str, dict[str, int]]  # scale -> normalised label -> code
    not_applicable: frozenset[str]
    names: tuple[str, ...]


def _check_book(where: str, name: str, book: Any) -> None:
    if not isinstance(book, dict) or "codes" not in book or not isinstance(book["codes"], dict):
        raise IngestError(f"{where}: codebook {name!r} needs 'codes: {{1: [labels], 2: [...], ...}}'")
    _check_keys(f"{where}: codebook {name}", book, {"scale", "codes", "not_applicable"})
    scale = book.get("scale", "likert5")
    if scale not in CHOICES["scale"]:
        raise IngestError(f"{where}: codebook {name!r}: scale must be one of {list(CHOICES['scale'])}")
    top = 5 if scale == "likert5" else 10
    low = 1 if scale == "likert5" else 0
    for code, labels in book["codes"].items():
        try:
            number = int(code)
        except (TypeError, ValueError):
            raise IngestError(f"{where}: codebook {name!r}: code {code!r} is not a number") from None
        if not low <= number <= top:
            raise IngestError(f"{where}: codebook {name!r}: code {number} is outside {low}..{top} for scale {scale}")
        if not isinstance(labels, list):
            raise IngestError(f"{where}: codebook {name!r}: code {code} needs a list of labels")


def resolve_codebook(spec: Any, custom: dict[str, Any] | None = None, where: str = "profile") -> Codebook:
    """`spec` is a codebook name, a list of names, an inline codebook, or 'auto' (every codebook)."""
    books = dict(builtin_codebooks()) | dict(custom or {})
    if spec in (None, "auto"):
        chosen = dict(books)
    elif isinstance(spec, dict):
        chosen = {"(inline)": spec}
    else:
        names = [spec] if isinstance(spec, str) else list(spec)
        for name in names:
            if name not in books:
                raise IngestError(f"{where}: unknown codebook {name!r}{_near(name, books)}; known: {', '.join(sorted(books))}")
        chosen = {name: books[name] for name in names}
    labels: dict[str, dict[str, int]] = {}
    origin: dict[tuple[str, str], str] = {}
    na: set[str] = set()
    for name, book in chosen.items():
        _check_book(where, name, book)
        scale = book.get("scale", "likert5")
        for code, texts in book["codes"].items():
            for text in texts:
                label = normalise_label(text)
                previous = labels.setdefault(scale, {}).get(label)
                if previous is not None and previous != int(code):
                    raise IngestError(
                        f"{where}: codebooks {origin[(scale, label)]!r} and {name!r} give the label {text!r} different codes ({previous} and {code})"
                    )
                labels[scale][label] = int(code)
                origin[(scale, label)] = name
        na |= {normalise_label(t) for t in book.get("not_applicable") or []}
    return Codebook(labels, frozenset(na), tuple(chosen))
