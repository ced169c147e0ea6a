"""The canonical tables' schemas, and how a failed check becomes a row-level reject.

The schemas are dataframely schemas: column types, required columns (not nullable), ranges,
allowed values, primary keys and row rules such as "exit not before hire". They are the contract
between ingest and the analyses (docs/tables.md describes the same columns in words). Ingest
filters every canonical table through its schema; each rule a row breaks becomes one reject
(file, row, column, reason) instead of an exception.

Checks that need another table (is the respondent on the roster? was the answer given during an
employment spell?) and the privacy checks at the door (does a column hold names, e-mails, IP
addresses, free text?) live here too.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import dataframely as dy
import polars as pl

DRIVERS = ("mission", "recognition", "worklife", "growth", "autonomy", "manager", "engagement", "intent_to_stay", "enps")
INTERVENTIONS = ("mission", "recognition", "worklife", "training", "rotation", "autonomy", "coaching", "perks", "other")
CHOICES: dict[str, tuple[str, ...]] = {
    "exit_type": ("voluntary", "involuntary"),
    "schedule": ("fixed", "flexible", "remote", "hybrid"),
    "driver": DRIVERS,
    "scale": ("likert5", "nps11"),
    "intervention": INTERVENTIONS,
    "status": ("active", "inactive"),
}
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
LANGUAGES = ("en", "fr", "nl", "ru", "pl")


def _one_of(name: str) -> dict[str, Any]:
    choices = list(CHOICES[name])
    return {"one_of": lambda col: col.is_in(choices)}


def _date(**kw: Any) -> dy.Date:
    return dy.Date(min=EARLIEST, max=LATEST, **kw)


def _source() -> tuple[dy.String, dy.Int64]:
    return dy.String(description="the export's path as configured"), dy.Int64(min=1, description="record number in the file, header records included")


class Employees(dy.Schema):
    """One row per employment spell. Spells of one person must not overlap: `overlapping_spells`
    checks that across rows (a sort, much faster than a window rule on a million people)."""

    employee_key = dy.String(primary_key=True, description="HMAC-SHA256 pseudonym of the employee id")
    spell = dy.Int32(min=1, description="1, 2, ... by hire date")
    hire_date = _date(primary_key=True)
    exit_date = _date(nullable=True, description="last day worked; null while employed")
    exit_type = dy.String(nullable=True, check=_one_of("exit_type"))
    exit_reason = dy.String(nullable=True)
    team = dy.String(min_length=1)
    site = dy.String(min_length=1)
    role = dy.String(nullable=True)
    language = dy.String(nullable=True)
    schedule = dy.String(nullable=True, check=_one_of("schedule"))
    pay_band = dy.String(nullable=True)
    annual_salary = dy.Float64(nullable=True, min=0)
    source_file, source_row = _source()

    @dy.rule()
    def exit_not_before_hire(cls) -> pl.Expr:
        return pl.col("exit_date") >= pl.col("hire_date")

    @dy.rule()
    def exit_type_with_exit_date(cls) -> pl.Expr:
        return pl.col("exit_date").is_null() | pl.col("exit_type").is_not_null()

    @dy.rule()
    def exit_date_with_exit_type(cls) -> pl.Expr:
        return pl.col("exit_type").is_null() | pl.col("exit_date").is_not_null()


class Assignments(dy.Schema):
    """Effective-dated team and role of each person (optional table)."""

    employee_key = dy.String(primary_key=True)
    effective_date = _date(primary_key=True)
    team = dy.String(min_length=1)
    role = dy.String(nullable=True)
    source_file, source_row = _source()


class Timesheets(dy.Schema):
    employee_key = dy.String(primary_key=True)
    month = _date(primary_key=True, check={"first_day": lambda col: col.dt.day() == 1})
    hours = dy.Float64(min=0, max=744)
    overtime_hours = dy.Float64(min=0, max=400)
    complaint_share = dy.Float64(nullable=True, min=0, max=1)
    source_file, source_row = _source()


class SurveyItems(dy.Schema):
    item_id = dy.String(primary_key=True, min_length=1)
    driver = dy.String(check=_one_of("driver"))
    reverse_scored = dy.Bool()
    scale = dy.String(check=_one_of("scale"))
    text_en = dy.String(nullable=True)
    text_fr = dy.String(nullable=True)
    text_nl = dy.String(nullable=True)
    text_ru = dy.String(nullable=True)
    text_pl = dy.String(nullable=True)
    source_file, source_row = _source()


class SurveyResponses(dy.Schema):
    """One row per answer (long)."""

    response_id = dy.String(primary_key=True, min_length=1)
    employee_key = dy.String(nullable=True, description="null for anonymous surveys")
    team = dy.String(min_length=1)
    response_date = _date()
    item_id = dy.String(primary_key=True)
    value = dy.Int8(min=0, max=10, description="as answered: 1-5, or 0-10 on an nps11 item")
    score = dy.Int8(min=0, max=10, description="value after reverse scoring")
    wave = _date()
    quarter = dy.String(regex=r"^[0-9]{4}Q[1-4]$")
    source_file, source_row = _source()


class Interventions(dy.Schema):
    team = dy.String(primary_key=True, min_length=1)
    intervention = dy.String(primary_key=True, check=_one_of("intervention"))
    programme = dy.String(primary_key=True, min_length=1)
    start_date = _date(primary_key=True)
    end_date = _date(nullable=True)
    source_file, source_row = _source()

    @dy.rule()
    def end_not_before_start(cls) -> pl.Expr:
        return pl.col("end_date") >= pl.col("start_date")


SCHEMAS: dict[str, type[dy.Schema]] = {
    "employees": Employees,
    "assignments": Assignments,
    "timesheets": Timesheets,
    "survey_items": SurveyItems,
    "survey_responses": SurveyResponses,
    "interventions": Interventions,
}
# Columns ingest derives rather than reads.
DERIVED = {"spell", "source_file", "source_row", "value", "score", "wave", "quarter"}
SORT_KEYS = {
    "employees": ["employee_key", "hire_date"],
    "assignments": ["employee_key", "effective_date"],
    "timesheets": ["employee_key", "month"],
    "survey_items": ["item_id"],
    "survey_responses": ["response_id", "item_id"],
    "interventions": ["team", "intervention", "start_date", "programme"],
}

# What a broken rule means, in the words a reject file shows: rule -> (column, reason).
RULE_REASONS = {
    "exit_not_before_hire": ("exit_date", "exit date is before hire date"),
    "exit_type_with_exit_date": ("exit_type", "exit date given without an exit type (voluntary/involuntary)"),
    "exit_date_with_exit_type": ("exit_type", "exit type given without an exit date"),
    "end_not_before_start": ("end_date", "end date is before start date"),
}


def dtype_kind(dtype: pl.DataType) -> str:
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_numeric():
        return "number"
    return "text"


def _column_reason(schema: type[dy.Schema], column: str, check: str) -> str:
    spec = schema.columns()[column]
    if check == "nullability":
        return "required value is empty"
    if check in ("min", "max", "min_exclusive", "max_exclusive"):
        low, high = getattr(spec, "min", None), getattr(spec, "max", None)
        return f"outside the range {low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
    if check == "min_length":
        return "required value is empty"
    if check == "check__one_of":
        return f"not one of {list(CHOICES[column])}"
    if check == "check__first_day":
        return "not the first day of a month"
    if check == "regex":
        return f"does not match {spec.regex}"
    return f"fails the {check} check"


def validate(table: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows that pass the table's schema, one problem per broken rule: source_row, column, value, reason)."""
    schema = SCHEMAS[table]
    valid, failure = schema.filter(frame)
    details = failure.details()
    keys = schema.primary_key()
    parts = []
    for rule in failure.counts():
        broken = details.filter(pl.col(rule) == "invalid")
        if rule == "primary_key":
            column = "+".join(keys)
            value = pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator="|")
            reason = "duplicate key: another row has the same " + ", ".join(keys)
        elif "|" in rule:
            column, check = rule.split("|", 1)
            value, reason = pl.col(column).cast(pl.String), _column_reason(schema, column, check)
        else:
            column, reason = RULE_REASONS.get(rule, ("(row)", f"breaks the rule {rule}"))
            value = pl.col(column).cast(pl.String) if column in details.columns else pl.lit(None, pl.String)
        parts.append(broken.select(pl.col("source_row").alias("__row"), pl.lit(column).alias("column"), value.alias("value"), pl.lit(reason).alias("reason")))
    empty = pl.DataFrame(schema={"__row": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String})
    return valid, pl.concat([empty, *parts])


def required_inputs(table: str) -> list[str]:
    """Canonical columns a profile must map (the raw employee id stands for employee_key)."""
    schema = SCHEMAS[table]
    out = []
    for name, column in schema.columns().items():
        if name in DERIVED or column.nullable:
            continue
        out.append("employee_id" if name == "employee_key" else name)
    return out


def input_kinds(table: str) -> dict[str, str]:
    """Canonical columns a profile may map, with how their text is parsed."""
    schema = SCHEMAS[table]
    kinds: dict[str, str] = {}
    for name, column in schema.columns().items():
        if name in DERIVED:
            continue
        kind = "enum" if name in CHOICES else dtype_kind(column.dtype)
        kinds["employee_id" if name == "employee_key" else name] = kind
    if table == "survey_responses":
        kinds["answer"] = "text"
    if table == "employees":
        kinds["status"] = "enum"  # checked (inactive needs an exit date), not stored
    return kinds


# ------------------------------------------------------------------ checks across rows and tables


def overlapping_spells(frame: pl.DataFrame) -> pl.DataFrame:
    """Problems for spells that begin before the person's previous spell (by hire date) ended;
    a previous spell without an exit date has not ended."""
    repeated = frame.filter(pl.col("employee_key").is_not_null() & pl.col("hire_date").is_not_null() & pl.col("employee_key").is_duplicated())
    ordered = repeated.select("employee_key", "hire_date", "exit_date", "source_row").sort("employee_key", "hire_date", "source_row")
    previous_exit = pl.col("exit_date").shift(1)
    same_person = pl.col("employee_key") == pl.col("employee_key").shift(1)
    overlaps = ordered.filter(same_person & (previous_exit.is_null() | (previous_exit >= pl.col("hire_date"))))
    return overlaps.select(
        pl.col("source_row").alias("__row"),
        pl.lit("hire_date").alias("column"),
        pl.col("hire_date").cast(pl.String).alias("value"),
        pl.lit("employment spell overlaps the person's previous spell").alias("reason"),
    )


def within_spells(frame: pl.DataFrame, employees: pl.DataFrame, date: str, what: str) -> pl.DataFrame:
    """Problems for rows whose person is not on the roster, or whose `date` falls outside every
    employment spell of that person. Rows without an employee_key (anonymous) are not checked."""
    linked = frame.filter(pl.col("employee_key").is_not_null() & pl.col(date).is_not_null()).select("__row", "employee_key", date)
    # The verdict depends on the person and the date only: one check per distinct pair (a
    # 5-million-answer export has ~220 000), then the rows of the few failing pairs.
    pairs = linked.lazy().select("employee_key", date).unique().collect().sort(date)
    spells = employees.select("employee_key", "hire_date", "exit_date").sort("hire_date")
    # Spells do not overlap, so the only candidate is the latest spell that began on or before the
    # date; none (hire_date null) means the person is unknown or the date precedes every spell.
    matched = pairs.join_asof(spells, left_on=date, right_on="hire_date", by="employee_key", strategy="backward", check_sortedness=False)
    failing = matched.filter(pl.col("hire_date").is_null() | (pl.col("exit_date").is_not_null() & (pl.col("exit_date") < pl.col(date))))
    on_roster = failing.join(employees.select("employee_key"), on="employee_key", how="semi").get_column("employee_key")
    failing = failing.with_columns((~pl.col("employee_key").is_in(on_roster.implode())).alias("__unknown"))
    rows = linked.join(failing.select("employee_key", date, "__unknown"), on=["employee_key", date])
    unknown = rows.filter(pl.col("__unknown"))
    outside = rows.filter(~pl.col("__unknown"))
    return pl.concat(
        [
            unknown.select("__row", pl.lit("employee_id").alias("column"), pl.col("employee_key").alias("value"), pl.lit("the person is not on the roster (employees)").alias("reason")),
            outside.select(
                "__row",
                pl.lit(date).alias("column"),
                pl.col(date).cast(pl.String).alias("value"),
                pl.lit(f"{what} is outside the person's employment spells on the roster").alias("reason"),
            ),
        ]
    )


# ------------------------------------------------------------------ personal data at the door

# Header names that say "this column is about a person" (English, French, Dutch, Russian, Polish,
# and the metadata survey tools add). Matched against the casefolded header.
PERSONAL_NAMES = [
    (r"e-?mail|courriel|adres e-?mail|почт|эл\. ?адрес", "e-mail address"),
    (r"\bip\b|ipaddress|adresse ip|ip-adres|ip-адрес|adres ip", "IP address"),
    (r"(first|last|middle|given|family|full|preferred|legal|user)[ _]?name|^name$|^worker$|^employee name$|recipient", "name"),
    (r"^(prénom|nom|nom de famille|voornaam|achternaam|naam|имя|фамилия|отчество|фио|imię|nazwisko)$", "name"),
    (r"phone|t[ée]l[ée]phone|telefoon|telefon|телефон|mobile|gsm", "phone number"),
    (r"latitude|longitude|geoloc", "location"),
    (r"birth|naissance|geboorte|urodzenia|рождени", "date of birth"),
    (r"\b(ssn|nir|bsn|pesel|снилс|инн)\b|social security|national id", "national identifier"),
    (r"(^|\W|_)address|adresse|adres|адрес", "postal address"),
    (r"_text$|comment|\bnotes?\b|opmerking|toelichting|remarque|komentarz|uwagi|комментар|примечани|open-ended|free ?text|feedback|remarks", "free-text answer"),
]
_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
_IPV4 = r"^\d{1,3}(\.\d{1,3}){3}$"
_IPV6 = r"^[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}$"


def personal_by_name(name: str) -> str | None:
    lowered = name.casefold()
    for pattern, reason in PERSONAL_NAMES:
        if re.search(pattern, lowered):
            return reason
    return None


def personal_by_values(frame: pl.DataFrame, columns: list[str], sample: int = 2000) -> dict[str, str]:
    """Columns where most non-empty values look like e-mail or IP addresses."""
    if not columns or frame.height == 0:
        return {}
    head = frame.select(columns).head(sample)
    stats = head.select(
        [
            pl.struct(
                (pl.col(c).str.strip_chars() != "").sum().alias("n"),
                pl.col(c).str.strip_chars().str.contains(_EMAIL).sum().alias("email"),
                (pl.col(c).str.strip_chars().str.contains(_IPV4) | pl.col(c).str.strip_chars().str.contains(_IPV6)).sum().alias("ip"),
            ).alias(c)
            for c in columns
        ]
    ).row(0, named=True)
    found = {}
    for column, counts in stats.items():
        if counts["n"] and counts["email"] / counts["n"] >= 0.5:
            found[column] = "values look like e-mail addresses"
        elif counts["n"] and counts["ip"] / counts["n"] >= 0.5:
            found[column] = "values look like IP addresses"
    return found
