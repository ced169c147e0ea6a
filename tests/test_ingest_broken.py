"""Broken exports and broken profiles: each gives rejects that say why, or one clear IngestError
naming the file (and row and column) — quickly, without a library traceback."""

import time
from pathlib import Path

import polars as pl
import pytest

from analysis.config import profile_path
from analysis.ingest import IngestError, ingest_file, load_profile
from analysis.readers import MAX_HEADER_BYTES

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
KEY = b"test-key-0123456789"


def roster(name, **kw):
    kw.setdefault("max_reject_share", 1.0)
    return ingest_file(FIXTURES / name, load_profile(profile_path("generic_roster")), key=KEY, **kw)


@pytest.fixture(scope="module")
def catalogue():
    return ingest_file(DEMO / "survey_items.csv", load_profile(profile_path("survey_items")), key=KEY).table


def test_truncated_file_rejects_the_cut_record():
    result = roster("roster_truncated.csv")
    assert (result.stats["rows_read"], result.stats["rows_rejected"]) == (2, 1)
    assert result.rejects.select("source_row", "column", "reason").rows() == [(3, "(row)", "the file ends inside this record (9 of 15 fields): it looks truncated")]


def test_ragged_records_and_blank_lines_are_accounted_for():
    result = roster("roster_ragged.csv")
    s = result.stats
    assert (s["rows_in_file"], s["blank_rows"], s["rows_read"], s["rows_accepted"]) == (5, 1, 4, 2)
    reasons = dict(result.rejects.select("source_row", "reason").iter_rows())
    assert reasons[3].startswith("the record has more fields than the header (15)")
    assert "extra value" not in result.rejects.write_csv()
    assert reasons[4] == "the record has 10 fields, the header 15"
    assert result.table["source_row"].sort().to_list() == [2, 6]  # row numbers skip nothing, not even the blank line


def test_unbalanced_quote_is_one_clear_error(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('Employee ID,Hire Date,Team,Site\nE1,2024-01-01,"T1,S1\nE2,2024-01-02,T2,S2\n', encoding="utf-8")
    with pytest.raises(IngestError, match=r"quote.csv: "):
        ingest_file(path, load_profile(profile_path("generic_roster")), key=KEY)


def test_wrong_encoding_in_the_profile_names_the_row_and_the_likely_encoding(tmp_path):
    prof = load_profile(profile_path("generic_roster"))
    prof.read["encoding"] = "utf-8"
    with pytest.raises(IngestError, match=r"roster_pl_cp1250.csv: row 2: cannot decode byte 0x.. as utf-8; .* It looks like cp1250"):
        ingest_file(FIXTURES / "roster_pl_cp1250.csv", prof, key=KEY)
    prof.read["encoding"] = "cp1250"  # and the other way round: UTF-8 text read as cp1250 would be garbled
    with pytest.raises(IngestError, match=r"the profile says cp1250 but the file is UTF-8 text"):
        ingest_file(FIXTURES / "roster_nl_utf8bom.csv", prof, key=KEY)


def test_missing_column_names_file_and_what_the_file_has():
    with pytest.raises(IngestError, match=r"roster_missing_column.csv: row 1: missing column\(s\) 'Hire Date' required by profile generic_roster; the file has: .*'Start Dt'"):
        roster("roster_missing_column.csv")


def test_duplicate_header_is_refused():
    with pytest.raises(IngestError, match=r"roster_duplicate_header.csv: row 1: duplicate column header 'Team' \(columns 9 and 12\)"):
        roster("roster_duplicate_header.csv")


def test_dates_out_of_order_exit_before_hire_and_overlapping_spells():
    result = roster("roster_dates_out_of_order.csv")
    assert result.rejects.select("source_row", "column", "reason").rows() == [
        (2, "exit_date", "exit date is before hire date"),
        (4, "hire_date", "employment spell overlaps the person's previous spell"),
    ]


def test_ambiguous_day_month_order_is_refused_until_the_profile_says():
    with pytest.raises(IngestError, match=r"column 'Hire Date': dates like '03/04/2021' fit both DD/MM/YYYY and MM/DD/YYYY; say which"):
        roster("roster_dates_ambiguous.csv")
    prof = load_profile(profile_path("generic_roster"))
    prof.columns["hire_date"]["date"] = "%d/%m/%Y"
    prof.columns["exit_date"]["date"] = "%d/%m/%Y"
    result = ingest_file(FIXTURES / "roster_dates_ambiguous.csv", prof, key=KEY, max_reject_share=0.0)
    assert str(result.table.sort("source_row")["hire_date"][0]) == "2021-04-03"


def test_likert_text_that_matches_no_codebook(catalogue):
    result = ingest_file(FIXTURES / "qualtrics_likert_nomatch.csv", load_profile(profile_path("qualtrics_wide")), key=KEY, survey_items=catalogue, max_reject_share=1.0)
    assert result.rejects.select("source_row", "value").rows() == [(4, "Agreee"), (5, "Kind of")]
    assert result.rejects["reason"][0] == "answer matches no code or label of scale likert5 (codebooks: likert5_en)"
    assert result.stats["rows_drop_columns_absent"] == ["Status"]


def test_a_header_line_of_many_megabytes_fails_fast(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:
        handle.write(b"Employee ID,")
        for _ in range(40):  # 40 MB without a line break
            handle.write(b"x" * (1 << 20))
    started = time.perf_counter()
    with pytest.raises(IngestError, match=rf"huge.csv: row 1: no end of the header record within the first {MAX_HEADER_BYTES >> 20} MB"):
        ingest_file(path, load_profile(profile_path("generic_roster")), key=KEY)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"PK\x03\x04\x14\x00\x00\x00", "this is an XLSX \\(zip\\) file; set read.format: xlsx"),
        (b"PAR1\x00\x00", "this is a Parquet file"),
        (b"\x00\x01\x02\x03binary\x00" * 50, "contains NUL bytes"),
        (b"Employee ID,Hire Date\n", "missing column"),
    ],
)
def test_files_that_are_not_exports(tmp_path, content, message):
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=rf"odd.csv: .*{message}"):
        ingest_file(path, load_profile(profile_path("generic_roster")), key=KEY)


def test_xlsx_problems(tmp_path):
    prof = load_profile(profile_path("workday_workers"))
    prof.read["sheet"] = "Nope"
    with pytest.raises(IngestError, match=r"no sheet named 'Nope'; the sheets are \['Workers with Terminations'\]"):
        ingest_file(FIXTURES / "workday_workers.xlsx", prof, key=KEY)
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"Employee ID,Hire Date\n")
    with pytest.raises(IngestError, match="not an XLSX file"):
        ingest_file(fake, load_profile(profile_path("workday_workers")), key=KEY)


def test_strict_mode_stops_at_the_first_problem():
    with pytest.raises(IngestError, match=r"roster_dates_out_of_order.csv: row 2: column exit_date: exit date is before hire date"):
        roster("roster_dates_out_of_order.csv", mode="strict")


def test_too_many_rejects_fail_with_a_summary():
    with pytest.raises(IngestError, match=r"2 of 4 rows rejected \(50.0%\), more than ingest.max_reject_share \(2.0%\); first problem: row 2, .*most common"):
        roster("roster_dates_out_of_order.csv", max_reject_share=0.02)


# ------------------------------------------------------------------ profiles that lack something


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("table: employee\n", r"'table' must be one of .* \(did you mean 'employees'\?\)"),
        ("table: employees\ncolumns: {employee_id: {from: ID}}\n", r"lacks required canonical column\(s\) \['hire_date', 'team', 'site'\]"),
        ("table: employees\ncolumns: {hire_dat: {from: X}}\n", r"did you mean 'hire_date'"),
        ("table: employees\ncolumns: {employee_id: {form: ID}}\n", r"columns.employee_id: unknown key 'form' \(did you mean 'from'\?\)"),
        ("table: employees\nread: {encodng: utf-8}\n", r"read: unknown key 'encodng' \(did you mean 'encoding'\?\)"),
        ("table: employees\nread: {encoding: latin-9x}\n", r"read.encoding 'latin-9x' is not an encoding"),
        ("table: employees\nread: {delimiter: '::'}\n", r"read.delimiter must be one character"),
        ("table: employees\ncolumns: {hire_date: {from: H, date: 'DD.MM.YYYY'}}\n", r"is not a strftime format like '%d.%m.%Y'"),
        ("table: employees\ncolumns: {exit_type: {from: T, map: {Quit: quit}}}\n", r"maps to 'quit', expected one of \['voluntary', 'involuntary'\]"),
        ("table: survey_responses\nshape: wide\ncolumns: {}\n", r"a wide survey profile needs items.pattern"),
        ("table: survey_responses\ncolumns: {response_id: {from: R}, team: {from: T}, response_date: {from: D}, item_id: {from: I}}\n", r"lacks required canonical column\(s\) \['answer'\]"),
        ("table: employees\nshape: history\ncolumns: {}\n", r"a history profile needs history.date"),
        ("- just\n- a list\n", r"expected a mapping"),
        ("table: [unclosed\n", r"cannot read"),
    ],
)
def test_a_profile_that_lacks_something_says_what(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IngestError, match=message):
        load_profile(path)


def test_unknown_codebook_is_named(tmp_path, catalogue):
    prof = load_profile(profile_path("pulse_long_pl"))
    prof.items["codebook"] = "likert5_xx"
    with pytest.raises(IngestError, match=r"unknown codebook 'likert5_xx'"):
        ingest_file(FIXTURES / "pulse_long_pl_cp1250.csv", prof, key=KEY, survey_items=catalogue)


# ------------------------------------------------------------------ privacy at the door


def test_personal_data_the_profile_forgot_is_detected_and_dropped(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(
        "Employee ID,Name,Contact,Hire Date,Team,Site,Job Title,Notes,Login IP\n"
        "E1,Ann Lee,ann@example.com,2024-01-02,ann.lee@example.com,S1,Agent,very nice,10.0.0.1\n"
        "E2,Bo Kim,bo@example.com,2024-02-03,bo.kim@example.com,S1,Agent,,10.0.0.2\n",
        encoding="utf-8",
    )
    prof = load_profile(profile_path("generic_roster"))
    for optional in ("exit_date", "exit_type", "exit_reason", "language", "schedule", "pay_band", "annual_salary"):
        del prof.columns[optional]
    prof.personal = []
    result = ingest_file(path, prof, key=KEY, max_reject_share=1.0)
    why = result.stats["personal_columns_why"]
    assert why["Name"] == "header suggests name"
    assert why["Contact"] == "values look like e-mail addresses"
    assert why["Login IP"] == "header suggests IP address"
    assert why["Notes"] == "header suggests free-text answer"
    assert why["Team"].startswith("values look like e-mail addresses; the mapped column team is left empty")
    assert result.table.height == 0 and set(result.rejects["reason"]) == {"required value is empty"}
    assert "example.com" not in result.table.write_csv() + result.rejects.write_csv()


def test_keep_columns_carries_an_explicitly_kept_column(tmp_path):
    result = ingest_file(FIXTURES / "roster_en_utf8.csv", load_profile(profile_path("generic_roster")), key=KEY, keep_columns=("Job Title", "Work Email"))
    assert "Work Email" in result.table.columns and "Work Email" not in result.stats["personal_columns_dropped"]
    assert result.stats["kept_columns"] == ["Job Title", "Work Email"]
    with pytest.raises(IngestError, match="would replace canonical columns"):
        ingest_file(FIXTURES / "roster_en_utf8.csv", load_profile(profile_path("generic_roster")), key=KEY, keep_columns=("Team",))


def test_rejects_never_show_a_raw_employee_id(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("Employee ID,Hire Date,Team,Site\nSECRET-ID-1,not a date,T,S\nSECRET-ID-1,2024-01-01,T,S\nSECRET-ID-1,2024-01-01,T,S\n", encoding="utf-8")
    prof = load_profile(profile_path("generic_roster"))
    prof.columns = {k: v for k, v in prof.columns.items() if k in ("employee_id", "hire_date", "team", "site")}
    result = ingest_file(path, prof, key=KEY, max_reject_share=1.0)
    assert result.stats["rows_rejected"] == 3
    assert "SECRET-ID-1" not in result.rejects.write_csv() + result.table.write_csv()
    assert pl.Series(result.rejects["reason"]).str.starts_with("duplicate key").sum() == 2


def test_a_comment_column_caught_by_the_item_pattern_is_not_read_as_answers(tmp_path, catalogue):
    path = tmp_path / "q.csv"
    path.write_text(
        "ResponseId,ExternalReference,Team,RecordedDate,Q01,Q02\nid,ext,team,date,q1,q2\n{},{},{},{},{},{}\n"
        "R1,,T,2024-05-15 09:00:00,Agree,My manager never listens to what we say\n"
        "R2,,T,2024-05-15 09:00:00,Disagree,Too many calls and not enough breaks today\n",
        encoding="utf-8",
    )
    result = ingest_file(path, load_profile(profile_path("qualtrics_wide")), key=KEY, survey_items=catalogue, max_reject_share=0.0)
    assert result.stats["personal_columns_why"]["Q02"] == "values look like free text"
    assert "manager" not in result.table.write_csv() + result.rejects.write_csv()
    assert result.table["item_id"].to_list() == ["Q01", "Q01"]


def test_a_failed_run_keeps_its_rejects_for_inspection(tmp_path):
    from analysis.ingest import TooManyRejects, ingest_export

    config = {
        "privacy": {"key_env": "RETAIN_TEST_UNSET_KEY", "keep_columns": []},
        "synthetic": True,
        "ingest": {"mode": "quarantine", "max_reject_share": 0.1},
        "survey": {"wave": "quarter"},
    }
    out = tmp_path / "results"
    with pytest.raises(TooManyRejects, match=r"every rejected row is in .*rejects/roster.failed.csv"):
        ingest_export(FIXTURES / "roster_dates_out_of_order.csv", profile_path("generic_roster"), config, out / "canonical/e.parquet", out / "rejects/roster.csv", out / "ingest/roster.json")
    assert pl.read_csv(out / "rejects/roster.failed.csv")["source_row"].to_list() == [2, 4]
    config["ingest"]["max_reject_share"] = 1.0
    ingest_export(FIXTURES / "roster_dates_out_of_order.csv", profile_path("generic_roster"), config, out / "canonical/e.parquet", out / "rejects/roster.csv", out / "ingest/roster.json")
    assert not (out / "rejects/roster.failed.csv").exists() and (out / "rejects/roster.csv").exists()
