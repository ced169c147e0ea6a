"""Ingest: profiles turn vendor exports into canonical rows; every rejected row is accounted for."""

import polars as pl
import pytest

from analysis.config import profile_path
from analysis.ingest import IngestError, add_spells, ingest_file, load_profile
from analysis.pseudonym import DEMO_KEY, PseudonymKeyError, pseudonym, resolve_key

KEY = b"test-key"

ROSTER = """Employee ID,First Name,Last Name,Work Email,Hire Date,Termination Date,Termination Type,Termination Reason,Team,Site,Job Title,Language,Work Schedule,Pay Band,Annual Salary
E001,Anna,Nowak,anna@example.com,2022-01-10,,,,WAW-Billing,Warsaw,Customer Service Agent,pl,Fixed,B1,31000
E002,Jan,Peeters,jan@example.com,2021-05-01,2024-02-29,Voluntary,Better pay elsewhere,BRU-Sales,Brussels,Senior Agent,nl,Hybrid,B2,36000
E002,Jan,Peeters,jan@example.com,2024-09-01,,,,BRU-Sales,Brussels,Senior Agent,nl,Hybrid,B2,37000
E003,Marie,Dubois,marie@example.com,2023-03-01,2023-02-01,Involuntary,Performance,LIL-Tech,Lille,Customer Service Agent,fr,Fixed,B1,29000
E004,Olga,Ivanova,olga@example.com,2023-13-01,,,,WAW-Tech,Warsaw,Customer Service Agent,ru,Remote,B1,30000
E005,Tom,Smith,tom@example.com,2022-06-01,2024-01-15,,,BRU-Tech,Brussels,Customer Service Agent,en,Fixed,B1,30000
"""

ITEMS = pl.DataFrame(
    {
        "item_id": ["Q01", "Q02", "Q20"],
        "driver": ["mission", "worklife", "enps"],
        "reverse_scored": [False, True, False],
        "scale": ["likert5", "likert5", "nps11"],
    }
)

QUALTRICS = """StartDate,EndDate,Status,IPAddress,RecordedDate,ResponseId,ExternalReference,Team,Q01,Q02,Q20,Q21_TEXT
Start Date,End Date,Response Type,IP Address,Recorded Date,Response ID,External Data Reference,Team,I know who my work helps,I often feel exhausted,How likely...,Comments
"{""ImportId"":""startDate""}","{""ImportId"":""endDate""}","{""ImportId"":""status""}","{""ImportId"":""ipAddress""}","{""ImportId"":""recordedDate""}","{""ImportId"":""_recordId""}","{""ImportId"":""externalDataReference""}","{""ImportId"":""Team""}","{""ImportId"":""QID1""}","{""ImportId"":""QID2""}","{""ImportId"":""QID20""}","{""ImportId"":""QID21_TEXT""}"
2024-05-15 09:00:00,2024-05-15 09:05:00,IP Address,10.1.2.3,2024-05-15 09:05:00,R_aaa,E001,WAW-Billing,Strongly agree,Agree,9,"Great team, long hours"
2024-05-16 09:00:00,2024-05-16 09:05:00,IP Address,10.1.2.4,2024-05-16 09:05:00,R_bbb,E002,BRU-Sales,Disagree,,3,
2024-05-16 10:00:00,2024-05-16 10:05:00,IP Address,10.1.2.5,2024-05-16 10:05:00,R_ccc,E003,LIL-Tech,Agreee,Agree,7,
"""

PL_LONG = (
    "ID odpowiedzi;Nr pracownika;Zespół;Data wypełnienia;Pytanie;Odpowiedź\r\n"
    "P1;E001;WAW-Billing;15.05.2024;Q01;Zdecydowanie się zgadzam\r\n"
    "P1;E001;WAW-Billing;15.05.2024;Q02;Nie zgadzam się\r\n"
    "P1;E001;WAW-Billing;15.05.2024;Q20;10\r\n"
    "P2;E004;WAW-Tech;31.05.2024;Q01;Może\r\n"
)


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def roster(tmp_path, **kw):
    path = write(tmp_path, "roster.csv", ROSTER)
    return path, ingest_file(path, load_profile(profile_path("generic_roster")), key=KEY, max_reject_share=1.0, **kw)


def test_roster_rows_reconcile_and_every_reject_says_why(tmp_path):
    path, result = roster(tmp_path)
    stats = result.stats
    assert stats["rows_read"] == 6
    assert stats["rows_read"] == stats["rows_accepted"] + stats["rows_rejected"]
    assert stats["rows_rejected"] == 3
    reasons = {(r["source_row"], r["column"]): r["reason"] for r in result.rejects.to_dicts()}
    assert reasons[(5, "exit_date")] == "exit date is before hire date"
    assert reasons[(6, "hire_date")] == "not a date in the format YYYY-MM-DD"
    assert reasons[(7, "exit_type")].startswith("exit date given without an exit type")
    assert set(result.rejects["source_file"]) == {str(path)}


def test_roster_is_pseudonymised_and_drops_personal_columns(tmp_path):
    _, result = roster(tmp_path)
    table = result.table
    assert "employee_id" not in table.columns
    assert set(table["employee_key"]) == {pseudonym(KEY, "E001"), pseudonym(KEY, "E002")}
    text = table.write_csv()
    for personal in ("Anna", "Nowak", "example.com", "E001"):
        assert personal not in text
    assert result.stats["personal_columns_dropped"] == ["First Name", "Last Name", "Work Email"]
    assert table.schema["hire_date"] == pl.Date and table.schema["annual_salary"] == pl.Float64
    assert table.filter(pl.col("exit_type") == "voluntary").height == 1


def test_rehire_spells_are_numbered(tmp_path):
    _, result = roster(tmp_path)
    spells = add_spells(result.table).filter(pl.col("employee_key") == pseudonym(KEY, "E002")).sort("hire_date")
    assert spells["spell"].to_list() == [1, 2]


def test_overlapping_spells_are_rejected(tmp_path):
    text = ROSTER.replace("2024-09-01,,,,BRU-Sales", "2024-01-01,,,,BRU-Sales")
    path = write(tmp_path, "roster.csv", text)
    result = ingest_file(path, load_profile(profile_path("generic_roster")), key=KEY, max_reject_share=1.0)
    assert "employment spell overlaps the person's previous spell" in result.rejects["reason"].to_list()


def test_strict_mode_stops_at_the_first_problem_naming_file_row_column(tmp_path):
    with pytest.raises(IngestError, match=r"roster.csv: row 5: column exit_date: exit date is before hire date"):
        roster(tmp_path, mode="strict")


def test_too_many_rejects_fail_the_run(tmp_path):
    path = write(tmp_path, "roster.csv", ROSTER)
    with pytest.raises(IngestError, match=r"3 of 6 rows rejected \(50.0%\), more than ingest.max_reject_share"):
        ingest_file(path, load_profile(profile_path("generic_roster")), key=KEY, max_reject_share=0.1)


def test_missing_column_names_the_file_and_the_nearest_header(tmp_path):
    path = write(tmp_path, "roster.csv", ROSTER.replace("Hire Date", "Hire Dt", 1))
    with pytest.raises(IngestError, match=r"roster.csv: row 1: missing column\(s\) 'Hire Date' \(found 'Hire Dt'\)"):
        ingest_file(path, load_profile(profile_path("generic_roster")), key=KEY)


def test_duplicate_header_is_refused(tmp_path):
    path = write(tmp_path, "roster.csv", ROSTER.replace("Language", "Team", 1))
    with pytest.raises(IngestError, match=r"duplicate column header 'Team'"):
        ingest_file(path, load_profile(profile_path("generic_roster")), key=KEY)


def test_wrong_encoding_names_row(tmp_path):
    path = write(tmp_path, "pl.csv", PL_LONG, encoding="cp1250")
    profile = load_profile(profile_path("pulse_long_pl"))
    profile.read["encoding"] = "utf-8"
    with pytest.raises(IngestError, match=r"pl.csv: row 1: cannot decode byte 0x.. as utf-8"):
        ingest_file(path, profile, key=KEY, survey_items=ITEMS)


def test_qualtrics_wide_three_header_rows_labels_and_reverse_scoring(tmp_path):
    path = write(tmp_path, "q.csv", QUALTRICS)
    result = ingest_file(path, load_profile(profile_path("qualtrics_wide")), key=KEY, survey_items=ITEMS, max_reject_share=1.0)
    assert result.stats["rows_read"] == 3 and result.stats["rows_rejected"] == 1
    reject = result.rejects.row(0, named=True)
    assert (reject["source_row"], reject["column"], reject["value"]) == (6, "answer", "Agreee")
    table = result.table.sort("response_id", "item_id")
    assert table.select("response_id", "item_id", "value", "score").rows() == [
        ("R_aaa", "Q01", 5, 5), ("R_aaa", "Q02", 4, 2), ("R_aaa", "Q20", 9, 9),
        ("R_bbb", "Q01", 2, 2), ("R_bbb", "Q20", 3, 3),
    ]  # R_bbb left Q02 empty: no answer, no row
    assert table["quarter"].unique().to_list() == ["2024Q2"]
    assert set(result.stats["personal_columns_dropped"]) == {"IPAddress", "Q21_TEXT"}
    assert "Great team" not in table.write_csv() and "10.1.2.3" not in table.write_csv()
    assert table["source_row"].to_list() == [4, 4, 4, 5, 5]


def test_polish_long_cp1250_semicolons_and_dd_mm_yyyy(tmp_path):
    path = write(tmp_path, "pl.csv", PL_LONG, encoding="cp1250")
    result = ingest_file(path, load_profile(profile_path("pulse_long_pl")), key=KEY, survey_items=ITEMS, max_reject_share=1.0)
    assert result.stats["rows_read"] == 4 and result.stats["rows_rejected"] == 1
    assert result.rejects.row(0, named=True)["reason"] == "answer matches no code or label of scale likert5 (codebooks: likert5_pl)"
    rows = result.table.select("item_id", "value", "score").rows()
    assert rows == [("Q01", 5, 5), ("Q02", 2, 4), ("Q20", 10, 10)]
    assert str(result.table["response_date"][0]) == "2024-05-15"


def test_pseudonym_key_required_for_real_data(monkeypatch):
    monkeypatch.delenv("RETAIN_PSEUDONYM_KEY", raising=False)
    with pytest.raises(PseudonymKeyError, match="RETAIN_PSEUDONYM_KEY is not set"):
        resolve_key("RETAIN_PSEUDONYM_KEY", synthetic=False)
    assert resolve_key("RETAIN_PSEUDONYM_KEY", synthetic=True) == DEMO_KEY.encode()
    monkeypatch.setenv("RETAIN_PSEUDONYM_KEY", "s3cret-0123456789abcdef")
    assert resolve_key("RETAIN_PSEUDONYM_KEY", synthetic=False) == b"s3cret-0123456789abcdef"
    for weak in ("s3cret", DEMO_KEY):
        monkeypatch.setenv("RETAIN_PSEUDONYM_KEY", weak)
        with pytest.raises(PseudonymKeyError):
            resolve_key("RETAIN_PSEUDONYM_KEY", synthetic=False)


def test_profile_lacking_a_required_column_is_explained(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("table: employees\ncolumns:\n  employee_id: {from: ID}\n")
    with pytest.raises(IngestError, match=r"columns lacks required canonical column\(s\) \['hire_date', 'team', 'site'\]"):
        load_profile(bad)
    bad.write_text("table: employees\ncolumns:\n  hire_dat: {from: X}\n")
    with pytest.raises(IngestError, match="did you mean 'hire_date'"):
        load_profile(bad)


# ------------------------------------------------------------------ combining per-file parts


def _survey_part(path, file, rows):
    """A canonical-shaped survey part: rows of (response_id, item_id, source_row)."""
    frame = pl.DataFrame(
        {"response_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "value": [3] * len(rows), "source_file": [file] * len(rows), "source_row": [r[2] for r in rows]},
        schema={"response_id": pl.String, "item_id": pl.String, "value": pl.Int64, "source_file": pl.String, "source_row": pl.Int64},
    )
    frame.write_parquet(path)
    return path


def test_combine_parts_streams_parts_in_path_order_and_rows_in_source_order(tmp_path):
    from analysis.ingest import combine_parts

    b = _survey_part(tmp_path / "b.parquet", "b.csv", [("R1", "Q1", 2), ("R1", "Q2", 3)])
    a = _survey_part(tmp_path / "a.parquet", "a.csv", [("R9", "Q1", 2), ("R2", "Q1", 3), ("R1", "Q3", 4)])  # R1 shared, keys not
    rows = combine_parts([b, a], None, tmp_path / "out.parquet")
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert rows == out.height == 5
    assert out.select("source_file", "source_row").rows() == [("a.csv", 2), ("a.csv", 3), ("a.csv", 4), ("b.csv", 2), ("b.csv", 3)]
    again = combine_parts([a, b], None, tmp_path / "again.parquet")
    assert again == 5 and pl.read_parquet(tmp_path / "again.parquet").equals(out)


def test_combine_parts_names_the_first_row_of_a_key_exported_twice(tmp_path):
    from analysis.ingest import combine_parts

    a = _survey_part(tmp_path / "a.parquet", "exports/a.csv", [("R1", "Q1", 2), ("R2", "Q1", 3), ("R2", "Q2", 4)])
    b = _survey_part(tmp_path / "b.parquet", "exports/b.csv", [("R5", "Q1", 2), ("R2", "Q2", 7)])
    with pytest.raises(IngestError, match=r"^exports/a\.csv: row 4: response_id R2, item_id Q2 appears in more than one export \(exports/a\.csv, exports/b\.csv\)$"):
        combine_parts([a, b], None, tmp_path / "out.parquet")


def test_within_spells_flags_unknown_people_and_dates_outside_every_spell():
    import datetime as dt

    from analysis.validation import within_spells

    d = dt.date
    employees = pl.DataFrame(
        {"employee_key": ["kA", "kA", "kB"], "hire_date": [d(2020, 1, 1), d(2023, 1, 1), d(2021, 6, 1)], "exit_date": [d(2021, 12, 31), None, d(2022, 6, 30)]}
    )
    rows = [
        (1, "kA", d(2020, 5, 1)),  # first spell
        (2, "kA", d(2022, 5, 1)),  # between the spells
        (3, "kA", d(2019, 5, 1)),  # before every spell
        (4, "kA", d(2024, 5, 1)),  # open second spell
        (5, "kB", d(2022, 7, 1)),  # after the exit
        (6, "kZ", d(2022, 1, 1)),  # not on the roster
        (7, None, d(2022, 1, 1)),  # anonymous: not checked
        (8, "kB", d(2022, 7, 1)),  # the same person and date as row 5: flagged too
        (9, "kZ", d(2022, 1, 1)),  # and as row 6
        (10, "kB", None),  # no date: not checked
    ]
    frame = pl.DataFrame(rows, schema={"__row": pl.Int64, "employee_key": pl.String, "response_date": pl.Date}, orient="row")
    problems = within_spells(frame, employees, "response_date", "the response date").sort("__row")
    assert problems["__row"].to_list() == [2, 3, 5, 6, 8, 9]
    assert problems["column"].to_list() == ["response_date", "response_date", "response_date", "employee_id", "response_date", "employee_id"]
    assert problems.filter(pl.col("column") == "employee_id")["value"].to_list() == ["kZ", "kZ"]
    assert problems.filter(pl.col("__row") == 2)["value"].item() == "2022-05-01"
    assert within_spells(frame.filter(pl.col("__row").is_in([1, 4, 7, 10])), employees, "response_date", "x").is_empty()
