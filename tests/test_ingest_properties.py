"""Property-based: random bytes and random valid-but-odd tables fed to the readers. The result is
always either canonical rows plus rejects that reconcile with the file, or one IngestError naming
the file — never a library traceback, never a silently dropped row."""

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis.config import profile_path
from analysis.ingest import IngestError, ingest_file, load_profile
from analysis.profiles import builtin_codebooks

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
KEY = b"property-key-0123456789"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CATALOGUE = pl.DataFrame(
    {"item_id": ["Q01", "Q09", "Q20"], "driver": ["mission", "worklife", "enps"], "reverse_scored": [False, True, False], "scale": ["likert5", "likert5", "nps11"]}
)


def reconciles(path, result, expected_rows=None):
    s = result.stats
    assert s["rows_read"] == s["rows_accepted"] + s["rows_rejected"]
    assert s["rows_in_file"] == s["rows_read"] + s["rows_not_selected"] + s["blank_rows"]
    rejected = set(result.rejects["source_row"].to_list())
    accepted = set(result.table["source_row"].to_list())
    assert len(rejected) == s["rows_rejected"]
    assert not accepted & rejected
    if expected_rows is not None:
        assert s["rows_read"] == expected_rows
    assert set(result.rejects["source_file"].to_list()) <= {str(path)}
    assert result.rejects["reason"].null_count() == 0


def attempt(data: bytes, profile: str, name: str = "export.csv", **kw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            result = ingest_file(path, load_profile(profile_path(profile)), key=KEY, max_reject_share=1.0, **kw)
        except IngestError as exc:
            assert str(path) in str(exc), f"the error does not name the file: {exc}"
            return None
        reconciles(path, result)
        return result


HEADER = b"Employee ID,First Name,Last Name,Work Email,Hire Date,Termination Date,Termination Type,Termination Reason,Team,Site,Job Title,Language,Work Schedule,Pay Band,Annual Salary\n"


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes_roster(data):
    attempt(data, "generic_roster")


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_after_a_valid_header(data):
    attempt(HEADER + data, "generic_roster")


@SETTINGS
@given(st.binary(max_size=2000), st.sampled_from(["qualtrics_wide", "surveymonkey", "google_forms", "pulse_long_pl"]))
def test_random_bytes_survey_profiles(data, profile):
    attempt(data, profile, survey_items=CATALOGUE)


@SETTINGS
@given(st.binary(max_size=1500), st.sampled_from([b"PK\x03\x04", b"PAR1", b""]))
def test_random_bytes_as_xlsx_and_parquet(data, magic):
    attempt(magic + data, "workday_workers", name="export.xlsx")
    attempt(magic + data, "programmes_xlsx", name="export.xlsx")


# ------------------------------------------------------------------ odd but valid tables

ODD = "abcXYZ019 -_'\",;\t\n|()[]/#&éèłąЖжÉ"
ENCODINGS = {"utf-8": ODD + "€✓中", "utf-8-sig": ODD + "€", "utf-16": ODD + "✓", "cp1252": "abcXYZ019 -_'\",;\t\n|()/#&éèÉ€", "cp1250": "abcXYZ019 -_'\",;\t\n|()/#&łąÉ", "cp1251": "abcXYZ019 -_'\",;\t\n|()/#&Жж"}
FORMATS = {"%Y-%m-%d": "auto", "%d.%m.%Y": "%d.%m.%Y", "%d/%m/%Y": "%d/%m/%Y", "%m/%d/%Y": "%m/%d/%Y"}


@st.composite
def odd_rosters(draw):
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    alphabet = ENCODINGS[encoding]
    text = st.text(alphabet=alphabet, max_size=12)
    ident = st.text(alphabet="ABCxyz0123456789-", min_size=1, max_size=6)
    day = st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2090, 12, 31))
    rows = draw(
        st.lists(
            st.tuples(ident, day, st.one_of(st.none(), day), text, text, st.sampled_from(["", "Voluntary", "Involuntary", "Quit"]), text),
            max_size=12,
        )
    )
    return encoding, draw(st.sampled_from([",", ";", "\t", "|"])), draw(st.sampled_from(sorted(FORMATS))), draw(st.sampled_from(["\n", "\r\n"])), rows


@SETTINGS
@given(odd_rosters(), st.booleans())
def test_odd_rosters_round_trip(case, detect):
    encoding, delimiter, fmt, newline, rows = case
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(["Employee ID", "Hire Date", "Termination Date", "Team", "Site", "Termination Type", "Termination Reason"])
    for ident, hire, leave, team, site, kind, reason in rows:
        writer.writerow([ident, hire.strftime(fmt), leave.strftime(fmt) if leave else "", team, site, kind, reason])
    data = buffer.getvalue().encode(encoding)
    profile = load_profile(profile_path("generic_roster"))
    profile.columns = {k: v for k, v in profile.columns.items() if k in ("employee_id", "hire_date", "exit_date", "team", "site", "exit_type", "exit_reason")}
    profile.personal = []
    for column in ("hire_date", "exit_date"):
        profile.columns[column]["date"] = FORMATS[fmt]
    profile.read |= {"encoding": encoding if not detect or encoding.startswith("cp") else "auto", "delimiter": "auto" if detect else delimiter}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "roster.csv"
        path.write_bytes(data)
        try:
            result = ingest_file(path, profile, key=KEY, max_reject_share=1.0)
        except IngestError as exc:
            assert str(path) in str(exc)
            # Only what a person would also have to decide may stop a valid table: delimiter or encoding guesses.
            assert detect or "UTF-8 text" in str(exc), str(exc)
            return
        reconciles(path, result, expected_rows=len(rows))
        accepted = {r["source_row"]: r for r in result.table.to_dicts()}
        for number, (ident, hire, leave, team, site, kind, reason) in enumerate(rows, start=2):
            if number in accepted:
                got = accepted[number]
                assert got["hire_date"] == hire and got["exit_date"] == leave
                assert got["team"] == team.strip() and got["site"] == site.strip()
                assert got["exit_type"] == (kind.lower() or None)


LABELS = [label for book in ("likert5_en", "likert5_fr", "likert5_ru") for code, labels in builtin_codebooks()[book]["codes"].items() for label in labels]


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", *LABELS, "1", "5", "-99", "-1", "Maybe", "0", "11", " Agree "]),
            st.sampled_from(["", *LABELS, "2", "Nope"]),
            st.sampled_from(["", "0", "7", "10", "10 - Extremely likely", "12", "-99", "x"]),
        ),
        max_size=15,
    )
)
def test_odd_wide_surveys_decode_or_reject_every_answer(answers):
    lines = ["ResponseId,ExternalReference,Team,RecordedDate,Q01,Q09,Q20", "Response ID,External,Team,Recorded,q1,q9,q20", '{"x":1},{"x":2},{"x":3},{"x":4},{"x":5},{"x":6},{"x":7}']
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for index, (q1, q9, q20) in enumerate(answers):
        writer.writerow([f"R{index}", "", "T1", "2024-05-15 10:00:00", q1, q9, q20])
    data = ("\n".join(lines) + "\n" + buffer.getvalue()).encode("utf-8")
    result = attempt(data, "qualtrics_wide", survey_items=CATALOGUE)
    assume(result is not None)
    assert result.stats["rows_read"] == len(answers)
    rejected = set(result.rejects["source_row"].to_list())
    for row in result.table.iter_rows(named=True):
        assert row["source_row"] not in rejected
        scale = (1, 5) if row["item_id"] != "Q20" else (0, 10)
        assert scale[0] <= row["value"] <= scale[1]
        assert row["score"] == (6 - row["value"] if row["item_id"] == "Q09" else row["value"])


@st.composite
def histories(draw):
    rows = []
    for person in draw(st.lists(st.sampled_from(["101", "102", "103", ""]), min_size=1, max_size=4, unique=True)):
        for _ in range(draw(st.integers(0, 5))):
            kind = draw(st.sampled_from(["employmentStatus", "jobInfo", "other"]))
            day = draw(st.one_of(st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2025, 12, 31)).map(str), st.sampled_from(["", "2021-13-01"])))
            status = draw(st.sampled_from(["Full-Time", "Part-Time", "Terminated", "Sabbatical", ""])) if kind == "employmentStatus" else ""
            team = draw(st.sampled_from(["", "T1", "T2"])) if kind == "jobInfo" else ""
            rows.append([person, kind, day, status, "Voluntary" if status == "Terminated" else "", "", team, "S1" if team else "", "Agent" if team else ""])
    return rows


@SETTINGS
@given(histories())
def test_odd_histories_give_spells_or_rejects_for_every_row(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Employee #", "Table", "Date", "Employment Status", "Termination Type", "Termination Reason", "Department", "Location", "Job Title"])
    writer.writerows(rows)
    result = attempt(buffer.getvalue().encode("utf-8"), "bamboohr_employment")
    assume(result is not None)
    assert result.stats["rows_read"] == len([r for r in rows if any(v.strip() for v in r)])
    rejected = set(result.rejects["source_row"].to_list())
    for spell in result.table.iter_rows(named=True):
        assert spell["source_row"] not in rejected
        assert spell["exit_date"] is None or spell["exit_date"] >= spell["hire_date"]
        assert spell["team"] in ("T1", "T2")
