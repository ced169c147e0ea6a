"""Read one export file (CSV, XLSX or Parquet) into a frame of text columns, without losing a record.

What a reader guarantees:

- every data record of the file is a row of the frame, numbered `__row` as a spreadsheet shows it
  (header records count: the first data record under one header row is row 2); blank records
  are counted and left out;
- records with more or fewer fields than the header are reported as problems, never silently
  padded or cut;
- the encoding (UTF-8, UTF-8 with BOM, UTF-16 with BOM, cp1250, cp1251, cp1252) and the delimiter
  (`,` `;` tab `|`) are detected unless the profile names them, and what was used is reported;
- anything wrong with the file itself is one `IngestError` naming the file (and the row where
  there is one), never a traceback from inside a library.

UTF-8 files are handed to Polars' CSV reader by path (no Python strings for the data); other
encodings are transcoded to UTF-8 in chunks first. A header longer than `MAX_HEADER_BYTES` is
refused after reading only that much, so a file that is one giant line fails fast.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl


class IngestError(ValueError):
    """A problem with an input file or its profile; the message names file, row and column."""


MAX_HEADER_BYTES = 8 << 20  # all header records together; a real export's header is a few hundred KB at most
CHUNK = 4 << 20
FIELD_CHECK_MAX_BYTES = 128 << 20  # count fields of every record below this size; above it only the last record
DELIMITERS = (",", ";", "\t", "|")
LEGACY_ENCODINGS = ("cp1252", "cp1250", "cp1251")
MAX_COLUMNS = 20_000  # a wide survey has hundreds; tens of thousands means a wrong delimiter or not a table
PROBLEM_SCHEMA = {"__row": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String}
ROW = "(row)"  # the `column` of a problem that concerns the whole record

# A long free-text answer or a wide header can exceed the csv module's default 128 KB per field.
csv.field_size_limit(max(csv.field_size_limit(), MAX_HEADER_BYTES * 2))


@dataclass
class RawTable:
    """All columns as text, named from the header, plus `__row`; and what reading found out."""

    path: Path
    frame: pl.DataFrame
    columns: list[str]
    header: list[list[str]]
    info: dict[str, Any]
    problems: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PROBLEM_SCHEMA))
    typed_dates: set[str] = field(default_factory=set)  # columns that held real dates (Parquet), now ISO text


def normalise_name(text: str) -> str:
    """How header names and profile `from:` names are compared: NFC, one space, no BOM, trimmed."""
    text = unicodedata.normalize("NFC", str(text)).replace("\ufeff", "").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip()


def read_table(path: Path, read: dict[str, Any]) -> RawTable:
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: file not found")
    from fastexcel import FastExcelError

    fmt = read.get("format", "csv")
    readers = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet}
    if fmt not in readers:
        raise IngestError(f"{path}: unknown format {fmt!r}")
    try:
        return readers[fmt](path, read)
    except IngestError:
        raise
    except (pl.exceptions.PolarsError, FastExcelError, csv.Error, UnicodeError, OSError, zipfile.BadZipFile, ValueError, KeyError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestError(f"{path}: cannot read as {fmt}: {first[:300]}") from None


# ------------------------------------------------------------------ header handling


def _header_names(path: Path, records: list[list[str]], names: Any, first_row: int) -> list[str]:
    """Column names from the header records: one of them (1-based), or 'join' (row 1 filled
    forward over merged cells, then ' | ' and the rows below where they say something)."""
    width = max((len(r) for r in records), default=0)
    padded = [[normalise_name(v) for v in r] + [""] * (width - len(r)) for r in records]
    if names == "join":
        result, current = [], ""
        for index, value in enumerate(padded[0]):
            below = [row[index] for row in padded[1:] if row[index]]
            current = value or (current if below else "")
            result.append(" | ".join(p for p in [current, *below] if p))
        row = first_row
    else:
        index = int(names) - 1
        if not 0 <= index < len(padded):
            raise IngestError(f"{path}: read.names is {names} but there are only {len(padded)} header row(s)")
        result, row = padded[index], first_row + index
    if len(result) > MAX_COLUMNS:
        raise IngestError(f"{path}: row {row}: {len(result):,} columns, more than {MAX_COLUMNS:,}: is the delimiter right?")
    seen: dict[str, int] = {}
    out = []
    for index, name in enumerate(result):
        if name and name in seen:
            raise IngestError(f"{path}: row {row}: duplicate column header {name!r} (columns {seen[name] + 1} and {index + 1})")
        seen[name] = index
        out.append(name or f"(unnamed column {index + 1})")
    return out


# ------------------------------------------------------------------ encodings

_MAGIC = {
    b"PK\x03\x04": "an XLSX (zip) file; set read.format: xlsx",
    b"PAR1": "a Parquet file; set read.format: parquet",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) file; save it as XLSX or CSV",
    b"%PDF": "a PDF, not an export",
}


def _magic(path: Path, head: bytes) -> None:
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            raise IngestError(f"{path}: this is {kind}")


def _bom(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    return None


def _line_of(path: Path, offset: int) -> int:
    """1-based line number of a byte offset, counted in chunks."""
    line, done = 1, 0
    with open(path, "rb") as handle:
        while done < offset:
            block = handle.read(min(CHUNK, offset - done))
            if not block:
                break
            line += block.count(b"\n")
            done += len(block)
    return line


def _first_decode_error(path: Path, encoding: str) -> tuple[int, int] | None:
    """(byte offset, byte) of the first byte that does not decode, reading in chunks; None if all decode."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(CHUNK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                # exc.object is the decoder's buffer: bytes held back from the previous block, then this block
                held = len(exc.object) - len(block)
                position = offset - held + exc.start
                return position, exc.object[exc.start] if exc.start < len(exc.object) else 0
            if not block:
                return None
            offset += len(block)


# Letters each single-byte code page is chosen for (the organisations write English, French, Dutch,
# German, Polish and Russian); a decoding that yields symbols or odd letter runs scores low.
_PRIMARY = {
    "cp1252": set("àâäæçéèêëîïôœùûüÿñáíóúÀÂÄÆÇÉÈÊËÎÏÔŒÙÛÜŸÑÁÍÓÚßøåØÅ’‘“”–—€…«»°"),
    "cp1250": set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻáéíóúäöüôçëâîčďěňřšťůžýÁÉÍÓÚÄÖÜČĎĚŇŘŠŤŮŽÝ’‘“”„–—€…«»°"),
    "cp1251": set("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ’‘“”„–—€…«»№°"),
}
_WORD = re.compile(r"[^\W\d_]+")


def _plausibility(text: str, encoding: str) -> float:
    """Higher when the decoded text looks like words of the languages the code page serves."""
    score = 0.0
    primary = _PRIMARY[encoding]
    for char in text:
        if ord(char) < 128:
            continue
        if char in primary:
            score += 2
        elif char.isalpha():
            score += 0.5
        else:
            score -= 3
    for word in _WORD.findall(text):
        high = sum(ord(c) >= 128 for c in word)
        if not high:
            continue
        if encoding == "cp1251":
            if high < len(word):  # Cyrillic and Latin letters mixed inside one word
                score -= 4 * high
        elif len(word) >= 4 and high / len(word) > 0.6:  # Latin-script words are mostly ASCII letters
            score -= 4 * high
    return score


def detect_legacy(path: Path, sample: bytes) -> str:
    """Pick cp1250, cp1251 or cp1252 for text that is not UTF-8; refuse a guess that is a coin toss."""
    lines = [line for line in sample.splitlines() if any(b >= 0x80 for b in line)]
    text = b"\n".join(lines)[: 1 << 18]
    scored = []
    for encoding in LEGACY_ENCODINGS:
        try:
            decoded = text.decode(encoding)
        except UnicodeDecodeError:
            continue
        scored.append((_plausibility(decoded, encoding), encoding, decoded))
    if not scored:
        raise IngestError(f"{path}: the file is neither UTF-8 nor cp1250, cp1251 or cp1252 text; set read.encoding in the profile")
    scored.sort(key=lambda s: -s[0])
    best = scored[0]
    if len(scored) > 1 and scored[1][2] != best[2] and best[0] - scored[1][0] < 2:
        raise IngestError(
            f"{path}: cannot tell whether the file is {best[1]} or {scored[1][1]} (too few accented letters to decide); "
            f"set read.encoding in the profile"
        )
    return best[1]


def detect_encoding(path: Path, head: bytes) -> str:
    """BOM, else UTF-8 if the whole file decodes as UTF-8, else the likeliest Windows code page."""
    bom = _bom(head)
    if bom:
        return bom
    if b"\x00" in head[:4096]:
        sample = head[:4096]
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) // 4 and even < odd // 8:
            return "utf-16-le"
        if even > len(sample) // 4 and odd < even // 8:
            return "utf-16-be"
        raise IngestError(f"{path}: the file contains NUL bytes: it is binary, not CSV text (is read.format right?)")
    error = _first_decode_error(path, "utf-8")
    if error is None:
        return "utf-8"
    offset = error[0]
    with open(path, "rb") as handle:
        sample = handle.read(CHUNK)
        if offset > len(sample) - 1024:  # the first non-UTF-8 byte lies past the sample: look around it too
            handle.seek(max(0, offset - (1 << 16)))
            sample += b"\n" + handle.read(1 << 17)
    return detect_legacy(path, sample)


def _decode_error(path: Path, encoding: str) -> IngestError:
    found = _first_decode_error(path, encoding)
    offset, byte = found if found else (0, 0)
    try:
        with open(path, "rb") as handle:
            likely = detect_encoding(path, handle.read(CHUNK))
    except IngestError:
        likely = None
    hint = f" It looks like {likely}." if likely and likely != encoding else ""
    return IngestError(
        f"{path}: row {_line_of(path, offset)}: cannot decode byte 0x{byte:02x} as {encoding}; "
        f"is the file in another encoding?{hint} Set read.encoding in the profile (or 'auto')."
    )


def _is_utf8_text(head: bytes) -> bool:
    """Valid UTF-8 with at least one multi-byte character (a legacy code page would rarely give that)."""
    if all(b < 0x80 for b in head[: 1 << 20]):
        return False
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
        return True
    except UnicodeDecodeError:
        return False


# ------------------------------------------------------------------ CSV


def _record_ends(text: str, count: int, quote: str) -> list[int]:
    """Character offsets just past the first `count` records (quote-aware); fewer if the text ends first."""
    ends: list[int] = []
    in_quote = False
    for match in re.finditer("[" + re.escape(quote) + "\n]", text):
        if match.group() == quote:
            in_quote = not in_quote
        elif not in_quote:
            ends.append(match.end())
            if len(ends) == count:
                break
    return ends


def _sniff_delimiter(records: list[str], quote: str) -> str:
    """The candidate that splits the header into the most fields and most next records into as many."""
    best, best_fields = ",", 1
    for delimiter in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(records, delimiter=delimiter, quotechar=quote) if r]
        except csv.Error:  # quoting that makes no sense with this delimiter: not the one
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(c == counts[0] for c in counts[1:]) >= (len(counts) - 1) * 0.8
        if consistent and counts[0] > best_fields:
            best, best_fields = delimiter, counts[0]
    return best


def _read_csv(path: Path, read: dict[str, Any]) -> RawTable:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(MAX_HEADER_BYTES + 1)
    if not head:
        raise IngestError(f"{path}: file is empty")
    _magic(path, head)
    if b"\r" in head[: 1 << 16] and b"\n" not in head[: 1 << 16] and b"\r\x00" not in head[: 1 << 16]:
        raise IngestError(f"{path}: lines end in a bare carriage return (old Mac 'CSV (Macintosh)'); save it again as 'CSV UTF-8'")
    encoding = read.get("encoding", "auto")
    encoding_from = "profile"
    if encoding == "auto":
        encoding, encoding_from = detect_encoding(path, head), "detected"
    elif codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    elif codecs.lookup(encoding).name in {codecs.lookup(e).name for e in LEGACY_ENCODINGS} and _is_utf8_text(head):
        raise IngestError(
            f"{path}: the profile says {encoding} but the file is UTF-8 text (its accented letters would come out garbled); "
            f"set read.encoding: utf-8 or auto"
        )
    try:
        head_text = codecs.getincrementaldecoder(encoding)("strict").decode(head, final=len(head) >= size)
    except UnicodeDecodeError:
        raise _decode_error(path, encoding) from None
    head_text = head_text.lstrip("\ufeff")
    skip = int(read.get("skip_rows", 0))
    header_rows = int(read.get("header_rows", 1))
    quote = read.get("quote", '"')
    ends = _record_ends(head_text, skip + header_rows + 50, quote)
    needed = skip + header_rows
    if len(ends) < needed and len(head) < size:
        raise IngestError(
            f"{path}: row {len(ends) + 1}: no end of the header record within the first {MAX_HEADER_BYTES >> 20} MB; "
            f"this is not a CSV export with {header_rows} header row(s) (a binary file, or one giant line?)"
        )
    # Complete records only (plus the rest of a small file that ends without a newline).
    bounds = [0, *ends] if len(ends) >= needed + 1 or len(head) < size else [0, *ends, len(head_text)]
    records = [head_text[a:b] for a, b in zip(bounds, bounds[1:]) if a < b][skip:]
    delimiter = read.get("delimiter", "auto")
    delimiter_from = "profile"
    if delimiter == "auto":
        delimiter, delimiter_from = _sniff_delimiter(records, quote), "detected"
    header = list(csv.reader(records[:header_rows], delimiter=delimiter, quotechar=quote))
    if len(header) < header_rows or not any(any(v.strip() for v in r) for r in header):
        raise IngestError(f"{path}: file is empty or has fewer than {header_rows} header row(s)")
    names = _header_names(path, header, read.get("names", 1), skip + 1)
    width = len(names)

    # Polars reads UTF-8 straight from the file; anything else is transcoded in chunks first.
    with tempfile.TemporaryDirectory(prefix="retain-ingest-") as tmp:
        source = path
        if encoding not in ("utf-8", "utf-8-sig"):
            source = Path(tmp) / "utf8.csv"
            _transcode(path, source, encoding)
        elif encoding_from == "profile" and _first_decode_error(path, encoding) is not None:
            raise _decode_error(path, encoding)
        fields = _field_counts(source, delimiter, quote, needed)
        frame = _polars_csv(path, source, delimiter, quote, needed, width)
        ends_with_newline = _ends_with_newline(source)
        last_fields = None if fields is not None or ends_with_newline else _last_record_fields(source, delimiter, quote)
    frame = frame.with_row_index("__row", offset=needed + 1).with_columns(pl.col("__row").cast(pl.Int64))
    if fields is not None:
        if len(fields) != frame.height:
            raise IngestError(
                f"{path}: records cannot be split consistently ({frame.height} by one reader, {len(fields)} by another): "
                f"a quote character is probably unbalanced"
            )
        frame = frame.with_columns(pl.Series("__fields", fields, pl.Int64).alias("__fields"))
    else:  # a large file: only the last record is checked, the one a truncated file damages
        last = frame.height + needed
        frame = frame.with_columns(pl.when(pl.col("__row") == last).then(pl.lit(last_fields, pl.Int64)).alias("__fields"))
    blank = pl.all_horizontal(pl.col(f"c{i}").str.strip_chars() == "" for i in range(width + 1))
    blank_rows = frame.filter(blank).height
    frame = frame.filter(~blank)
    last_row = frame.height and frame["__row"].max()
    short = pl.col("__fields") < width
    truncated = short & (pl.col("__row") == last_row) & pl.lit(not ends_with_newline)
    surplus = pl.col(f"c{width}").str.strip_chars() != ""
    problems = frame.select(
        "__row",
        pl.lit(ROW).alias("column"),
        pl.lit(None, pl.String).alias("value"),  # a shifted record may put anything there, e-mails included
        pl.when(truncated)
        .then(pl.format("the file ends inside this record ({} of {} fields): it looks truncated", pl.col("__fields"), pl.lit(width)))
        .when(short)
        .then(pl.format("the record has {} fields, the header {}", pl.col("__fields"), pl.lit(width)))
        .when(surplus)
        .then(pl.lit(f"the record has more fields than the header ({width}): values past the last column would be lost"))
        .alias("reason"),
    ).filter(pl.col("reason").is_not_null())
    frame = frame.select("__row", *[pl.col(f"c{i}").alias(name) for i, name in enumerate(names)])
    info = {
        "format": "csv",
        "encoding": encoding,
        "encoding_from": encoding_from,
        "delimiter": delimiter,
        "delimiter_from": delimiter_from,
        "header_rows": header_rows,
        "skip_rows": skip,
        "rows_in_file": frame.height + blank_rows,
        "blank_rows": blank_rows,
    }
    return RawTable(path, frame, names, header, info, problems)


def _polars_csv(path: Path, source: Path, delimiter: str, quote: str, skip: int, width: int) -> pl.DataFrame:
    try:
        return pl.read_csv(
            source,
            has_header=False,
            separator=delimiter,
            quote_char=quote,
            skip_rows=skip,
            schema={f"c{i}": pl.String for i in range(width + 1)},  # one extra column catches surplus fields
            missing_columns="insert",
            truncate_ragged_lines=True,
            empty_string_is_null=False,
            raise_if_empty=False,
        )
    except pl.exceptions.ComputeError as exc:
        if "escaped" in str(exc) or "could not parse" in str(exc):
            raise IngestError(f"{path}: cannot split the file into records: a quoted field is not closed (an unbalanced {quote} character?)") from None
        raise


def _transcode(path: Path, target: Path, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    with open(path, "rb") as src, open(target, "wb") as dst:
        while True:
            block = src.read(CHUNK)
            try:
                dst.write(decoder.decode(block, final=not block).encode("utf-8"))
            except UnicodeDecodeError:
                raise _decode_error(path, encoding) from None
            if not block:
                break


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        if handle.tell() == 0:
            return True
        handle.seek(-1, 2)
        return handle.read(1) in (b"\n", b"\r")


def _has_byte(path: Path, byte: bytes) -> bool:
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            if byte in block:
                return True
    return False


def _field_counts(source: Path, delimiter: str, quote: str, skip: int) -> list[int] | pl.Series | None:
    """Fields per data record (0 for a blank line), or None for files too large to check every record.

    Without a quote character in the file a record is a line, and Polars counts the delimiters;
    otherwise Python's csv module splits the records (up to FIELD_CHECK_MAX_BYTES)."""
    if not _has_byte(source, quote.encode("utf-8")):
        lines = pl.read_csv(
            source, has_header=False, separator="\x00", quote_char=None, skip_rows=skip,
            schema={"line": pl.String}, truncate_ragged_lines=True, empty_string_is_null=False, raise_if_empty=False,
        )  # fmt: skip
        text = pl.col("line").str.strip_suffix("\r")
        counts = lines.select(pl.when(text == "").then(0).otherwise(text.str.count_matches(delimiter, literal=True) + 1).cast(pl.Int64))
        return counts.to_series()
    if source.stat().st_size > FIELD_CHECK_MAX_BYTES:
        return None
    with open(source, encoding="utf-8-sig", newline="") as handle:
        counts = [len(record) for record in csv.reader(handle, delimiter=delimiter, quotechar=quote, strict=False)]
    return counts[skip:]


def _last_record_fields(source: Path, delimiter: str, quote: str) -> int:
    with open(source, "rb") as handle:
        handle.seek(0, 2)
        handle.seek(max(0, handle.tell() - (1 << 16)))
        tail = handle.read().decode("utf-8", errors="replace")
    records = list(csv.reader(io.StringIO(tail.split("\n", 1)[-1], newline=""), delimiter=delimiter, quotechar=quote, strict=False))
    return len(records[-1]) if records else 0


# ------------------------------------------------------------------ XLSX


def _xlsx_first_row(path: Path, sheet_name: str) -> int:
    """Spreadsheet row number of the sheet's first stored row (readers drop leading empty rows)."""
    try:
        with zipfile.ZipFile(path) as archive:
            workbook = archive.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            sheets = re.findall(r'<sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"', workbook)
            rid = next((r for name, r in sheets if _xml_unescape(name) == sheet_name), None)
            target = re.search(rf'<Relationship\b[^>]*?Id="{re.escape(rid)}"[^>]*?Target="([^"]*)"', rels) if rid else None
            if not target:
                target = re.search(rf'<Relationship\b[^>]*?Target="([^"]*)"[^>]*?Id="{re.escape(rid)}"', rels) if rid else None
            if not target:
                return 1
            member = target.group(1).lstrip("/")
            member = member if member.startswith("xl/") else f"xl/{member}"
            with archive.open(member) as handle:
                chunk = handle.read(1 << 16).decode("utf-8", "replace")
            found = re.search(r'<(?:\w+:)?row\b[^>]*?\br="(\d+)"', chunk)
            return int(found.group(1)) if found else 1
    except (KeyError, zipfile.BadZipFile, OSError, StopIteration):
        return 1


def _xml_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'").replace("&amp;", "&")


def _read_xlsx(path: Path, read: dict[str, Any]) -> RawTable:
    import fastexcel

    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise IngestError(f"{path}: not an XLSX file (an XLSX file is a zip archive); is read.format right?")
    reader = fastexcel.read_excel(str(path))
    wanted = read.get("sheet")
    names = reader.sheet_names
    if wanted is None:
        sheet_name = names[0]
    elif isinstance(wanted, int):
        if not 0 <= wanted < len(names):
            raise IngestError(f"{path}: sheet {wanted} does not exist; the sheets are {names}")
        sheet_name = names[wanted]
    elif wanted not in names:
        raise IngestError(f"{path}: no sheet named {wanted!r}; the sheets are {names}")
    else:
        sheet_name = wanted
    sheet = reader.load_sheet(sheet_name, header_row=None, dtypes="string")
    data = sheet.to_polars()
    data = data.select([pl.col(c).cast(pl.String) for c in data.columns])
    first = _xlsx_first_row(path, sheet_name)
    skip = int(read.get("skip_rows", 0))
    header_rows = int(read.get("header_rows", 1))
    # skip_rows counts spreadsheet rows from row 1, as the user sees them.
    drop = max(0, skip - (first - 1))
    data = data.slice(drop)
    first += drop
    if data.height < header_rows:
        raise IngestError(f"{path}: sheet {sheet_name!r} is empty or has fewer than {header_rows} header row(s)")
    header = [["" if v is None else str(v) for v in data.row(i)] for i in range(header_rows)]
    names_ = _header_names(path, header, read.get("names", 1), first)
    body = data.slice(header_rows)
    body.columns = names_
    frame = body.with_row_index("__row", offset=first + header_rows).with_columns(pl.col("__row").cast(pl.Int64))
    blank = pl.all_horizontal(pl.col(c).fill_null("").str.strip_chars() == "" for c in names_) if names_ else pl.lit(True)
    blank_rows = frame.filter(blank).height
    frame = frame.filter(~blank).with_columns(pl.col(c).fill_null("") for c in names_)
    info = {"format": "xlsx", "sheet": sheet_name, "header_rows": header_rows, "skip_rows": skip, "rows_in_file": frame.height + blank_rows, "blank_rows": blank_rows}
    return RawTable(path, frame.select("__row", *names_), names_, header, info)


# ------------------------------------------------------------------ Parquet


def _read_parquet(path: Path, read: dict[str, Any]) -> RawTable:
    with open(path, "rb") as handle:
        if handle.read(4) != b"PAR1":
            raise IngestError(f"{path}: not a Parquet file; is read.format right?")
    lazy = pl.scan_parquet(path)
    schema = lazy.collect_schema()
    names, exprs, typed, unsupported = [], [], set(), []
    for original, dtype in schema.items():
        name = normalise_name(original)
        if name in names:
            raise IngestError(f"{path}: duplicate column {name!r}")
        col = pl.col(original)
        if dtype == pl.Date or isinstance(dtype, pl.Datetime):
            typed.add(name)
            expr = col.dt.strftime("%Y-%m-%d")
        elif dtype.is_nested() or dtype == pl.Binary or dtype == pl.Object:
            unsupported.append(name)
            continue
        else:
            expr = col.cast(pl.String)
        names.append(name)
        exprs.append(expr.fill_null("").alias(name))
    # Rows are numbered as if the column names were a header row, so a CSV and a Parquet copy agree.
    frame = lazy.select(exprs).with_row_index("__row", offset=2).with_columns(pl.col("__row").cast(pl.Int64)).collect()
    blank = pl.all_horizontal(pl.col(c).str.strip_chars() == "" for c in names) if names else pl.lit(True)
    blank_rows = frame.filter(blank).height
    frame = frame.filter(~blank)
    info = {
        "format": "parquet",
        "header_rows": 1,
        "skip_rows": 0,
        "rows_in_file": frame.height + blank_rows,
        "blank_rows": blank_rows,
        "unsupported_columns": unsupported,
    }
    return RawTable(path, frame, names, [names], info, typed_dates=typed)
