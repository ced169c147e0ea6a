"""Every shipped export profile on a hand-written fixture in the vendor's shape, language and encoding
(tests/fixtures/ingest/, made by build_fixtures.py): the canonical rows come out right, and every
record read is accounted for."""

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from analysis.config import profile_path
from analysis.ingest import ingest_file, load_profile
from analysis.pseudonym import pseudonym
from analysis.validation import SCHEMAS

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
USER_PROFILES = FIXTURES / "profiles"
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
KEY = b"test-key-0123456789"


def profile(name):
    return load_profile(USER_PROFILES / f"{name}.yaml" if (USER_PROFILES / f"{name}.yaml").exists() else profile_path(name))


@pytest.fixture(scope="module")
def catalogue():
    return ingest_file(DEMO / "survey_items.csv", profile("survey_items"), key=KEY).table


@pytest.fixture(scope="module")
def roster():
    return ingest_file(DEMO / "hris_roster.csv", profile("generic_roster"), key=KEY).table


def ingest(name, prof, **kw):
    kw.setdefault("max_reject_share", 1.0)
    return ingest_file(FIXTURES / name, profile(prof), key=KEY, **kw)


def reconciles(result):
    s = result.stats
    assert s["rows_read"] == s["rows_accepted"] + s["rows_rejected"]
    assert s["rows_in_file"] == s["rows_read"] + s["rows_not_selected"] + s["blank_rows"]
    assert result.rejects.get_column("source_row").n_unique() == s["rows_rejected"]
    schema = SCHEMAS[s["table"]]
    assert result.table.select(schema.column_names()).schema == pl.Schema({n: c.dtype for n, c in schema.columns().items()})
    return s


# ------------------------------------------------------------------ rosters in five languages and six encodings


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter", "date", "decimal", "salary", "reason"),
    [
        ("roster_en_utf8.csv", "utf-8", ",", "%Y-%m-%d", ".", 36250.5, "Better pay elsewhere"),
        ("roster_fr_cp1252.csv", "cp1252", ";", "%d/%m/%Y", ",", 33900.0, "Départ à l’étranger"),
        ("roster_pl_cp1250.csv", "cp1250", ";", "%d.%m.%Y", ",", 5920.5, "Przeprowadzka do innego miasta"),
        ("roster_ru_cp1251.csv", "cp1251", "\t", "%d.%m.%Y", ",", 5100.5, "Переезд в другой город"),
        ("roster_nl_utf8bom.csv", "utf-8-sig", ";", "%d-%m-%Y", ",", 31900.0, None),
        ("roster_us_utf16.txt", "utf-16", "\t", "%m/%d/%Y", ".", 61000.0, "Career change"),
    ],
)
def test_generic_roster_detects_encoding_delimiter_dates_and_decimal_mark(name, encoding, delimiter, date, decimal, salary, reason):
    result = ingest(name, "generic_roster", max_reject_share=0.0)
    s = reconciles(result)
    assert (s["encoding"], s["delimiter"], s["encoding_from"], s["delimiter_from"]) == (encoding, delimiter, "detected", "detected")
    assert s["date_formats"]["hire_date"] == date and s["decimal"]["annual_salary"] == decimal
    assert s["rows_rejected"] == 0 and result.table.height == s["rows_read"]
    assert salary in result.table["annual_salary"].to_list()
    if reason:
        assert reason in result.table["exit_reason"].to_list()
    assert s["personal_columns_dropped"] == ["First Name", "Last Name", "Work Email"]


def test_rehire_is_a_second_spell_of_the_same_pseudonym():
    table = ingest("roster_en_utf8.csv", "generic_roster").table
    ben = table.filter(pl.col("employee_key") == pseudonym(KEY, "E1002")).sort("hire_date")
    assert ben.select("spell", "hire_date", "exit_type").rows() == [(1, dt.date(2019, 11, 18), "voluntary"), (2, dt.date(2025, 1, 13), None)]


def test_parquet_roster_with_a_users_own_profile():
    result = ingest("roster.parquet", "roster_parquet", max_reject_share=0.0)
    s = reconciles(result)
    assert s["format"] == "parquet" and s["rows_read"] == 3
    assert sorted(result.table["source_row"].to_list()) == [2, 3, 4]  # numbered as under a header row
    assert result.table.filter(pl.col("exit_type") == "voluntary")["exit_date"].to_list() == [dt.date(2024, 3, 31)]


# ------------------------------------------------------------------ HR systems


def test_workday_worker_report_xlsx_with_title_row():
    result = ingest("workday_workers.xlsx", "workday_workers")
    s = reconciles(result)
    assert (s["format"], s["skip_rows"], s["rows_read"], s["rows_rejected"]) == ("xlsx", 1, 4, 1)
    reject = result.rejects.row(0, named=True)
    assert (reject["source_row"], reject["column"]) == (6, "exit_type")  # "Terminate Employee > Retirement": neither
    table = result.table.sort("source_row")
    assert table.select("exit_type", "team", "language", "schedule").rows() == [
        (None, "WAW-Billing", "pl", "fixed"),
        ("voluntary", "BRU-Sales", "nl", "hybrid"),
        ("involuntary", "LIL-Technical", "fr", "remote"),
    ]
    assert table["hire_date"].to_list()[0] == dt.date(2019, 4, 1)  # a real date cell
    assert set(s["personal_columns_dropped"]) == {"Worker", "Email - Primary Work", "Manager"}


def test_workday_job_history_becomes_assignments_checked_against_spells(roster):
    result = ingest("workday_job_history.csv", "workday_job_history", employees=roster)
    s = reconciles(result)
    assert (s["rows_in_file"], s["rows_not_selected"], s["rows_read"]) == (6, 1, 5)  # the Termination row is not an assignment
    assert s["date_formats"]["effective_date"] == "%m/%d/%Y"
    assert result.rejects.select("source_row", "reason").rows() == [(7, "the effective date is outside the person's employment spells on the roster")]
    chloe = result.table.filter(pl.col("employee_key") == pseudonym(KEY, "E000001")).sort("effective_date")
    assert chloe.select("effective_date", "team").rows() == [(dt.date(2018, 1, 1), "BRU-Billing"), (dt.date(2021, 3, 15), "BRU-Complaints")]


def test_bamboohr_history_builds_spells_from_status_rows():
    result = ingest("bamboohr_history.csv", "bamboohr_employment")
    s = reconciles(result)
    assert (s["rows_read"], s["rows_rejected"]) == (13, 3)
    spells = result.table.sort("employee_key", "spell")
    first = spells.filter(pl.col("employee_key") == pseudonym(KEY, "101"))
    # Full-Time -> Part-Time continues the spell; Terminated ends it; team as on the last day.
    assert first.select("spell", "hire_date", "exit_date", "exit_type", "team", "role").rows() == [
        (1, dt.date(2019, 3, 4), dt.date(2023, 1, 31), "voluntary", "WAW-Complaints", "Senior Agent"),
        (2, dt.date(2024, 2, 5), None, None, "WAW-Sales", "Team Leader"),
    ]
    reasons = dict(result.rejects.select("source_row", "reason").iter_rows())
    assert reasons[11] == "not a date in the format YYYY-MM-DD"
    assert reasons[9] == "rejected together with row 11: they make one spell"  # 102's unreadable termination takes its spell along
    assert reasons[12] == "termination without an employed status before it"


def test_bamboohr_job_info_rows_of_the_same_file_are_assignments():
    employees = ingest("bamboohr_history.csv", "bamboohr_employment").table
    result = ingest("bamboohr_history.csv", "bamboohr_job_info", employees=employees)
    s = reconciles(result)
    assert (s["rows_not_selected"], s["rows_read"]) == (8, 5)
    # 102's spell was rejected, so its job row has no spell to belong to
    assert result.rejects.select("source_row", "reason").rows() == [(10, "the person is not on the roster (employees)")]
    assert sorted(result.table["team"].to_list()) == ["BRU-Technical", "WAW-Billing", "WAW-Complaints", "WAW-Sales"]


def test_successfactors_two_header_rows_status_and_leading_zeros():
    result = ingest("successfactors_users.csv", "successfactors_users")
    s = reconciles(result)
    assert (s["encoding"], s["header_rows"], s["rows_read"]) == ("utf-8-sig", 2, 4)
    assert result.rejects.select("source_row", "column", "reason").rows() == [(5, "status", "inactive but no termination date")]
    keys = set(result.table["employee_key"])
    assert {pseudonym(KEY, "00012345"), pseudonym(KEY, "12345")} <= keys  # two people, not one
    paul = result.table.filter(pl.col("employee_key") == pseudonym(KEY, "00012346"))
    assert paul.select("hire_date", "exit_date", "exit_type", "language").rows() == [(dt.date(2019, 11, 15), dt.date(2024, 6, 30), "voluntary", "en")]
    assert {"FIRSTNAME", "LASTNAME", "EMAIL", "USERNAME"} <= set(s["personal_columns_dropped"])


# ------------------------------------------------------------------ survey tools


def test_qualtrics_choice_text_export(catalogue, roster):
    result = ingest("qualtrics_labels_en.csv", "qualtrics_wide", survey_items=catalogue, employees=roster, max_reject_share=0.0)
    s = reconciles(result)
    assert (s["rows_in_file"], s["rows_not_selected"], s["rows_read"]) == (3, 1, 2)  # the Survey Preview row is left out
    assert (s["answers_read"], s["answers_not_applicable"]) == (8, 1)
    table = result.table.sort("response_id", "item_id")
    assert table.select("response_id", "item_id", "value", "score").rows() == [
        ("R_1a2b3c", "Q01", 5, 5), ("R_1a2b3c", "Q02", 4, 4), ("R_1a2b3c", "Q09", 1, 5), ("R_1a2b3c", "Q20", 9, 9),
        ("R_4d5e6f", "Q01", 3, 3), ("R_4d5e6f", "Q09", 4, 2), ("R_4d5e6f", "Q20", 10, 10),
    ]  # fmt: skip
    assert {"IPAddress", "Q21_TEXT", "RecipientEmail", "LocationLatitude", "LocationLongitude"} <= set(s["personal_columns_dropped"])
    assert s["personal_columns_why"]["RecipientEmail"] == "header suggests e-mail address"
    text = table.write_csv() + result.rejects.write_csv()
    assert "Great team" not in text and "203.0.113" not in text and "anna@example.com" not in text


def test_qualtrics_numeric_export_negative_codes_are_not_applicable(catalogue):
    result = ingest("qualtrics_numeric.csv", "qualtrics_numeric", survey_items=catalogue)
    s = reconciles(result)
    assert (s["rows_not_selected"], s["rows_read"], s["rows_rejected"]) == (1, 3, 1)
    assert s["answers_not_applicable"] == 2  # -99 and -1
    assert "Q4_NPS_GROUP" in s["other_columns_dropped"] and "Q5_TEXT" in s["personal_columns_dropped"]
    values = dict(result.table.filter(pl.col("response_id") == "R_n1").select("item_id", "value").iter_rows())
    assert values == {"Q01": 5, "Q02": 4, "Q03": 4, "Q04": 3, "Q06": 2, "Q07": 4, "Q08": 4, "Q09": 2, "Q20": 8}
    assert set(result.rejects["value"]) == {"6", "11"}  # off the 1-5 and 0-10 scales


def test_surveymonkey_french_two_header_rows_and_matrix(catalogue):
    result = ingest("surveymonkey_fr.csv", "surveymonkey", survey_items=catalogue)
    s = reconciles(result)
    assert (s["rows_read"], s["rows_rejected"], s["item_columns"], s["answers_not_applicable"]) == (3, 1, 4, 1)
    assert result.rejects.select("source_row", "value").rows() == [(5, "Peut-être")]
    first = dict(result.table.filter(pl.col("response_id") == "114230001").select("item_id", "value").iter_rows())
    assert first == {"Q01": 5, "Q02": 4, "Q09": 1, "Q20": 9}  # "Tout à fait d’accord" with a curly apostrophe
    assert result.table["response_date"].unique().to_list() == [dt.date(2024, 11, 15)]
    assert "Avez-vous d'autres commentaires ? | Open-Ended Response" in s["personal_columns_dropped"]
    assert "Rien à signaler" not in result.table.write_csv()


@pytest.mark.parametrize(
    ("name", "date", "expected"),
    [
        ("google_forms_nl.csv", "%d-%m-%Y", {("google_forms_nl.csv#2", "Q01"): 5, ("google_forms_nl.csv#3", "Q02"): 1, ("google_forms_nl.csv#4", "Q20"): 10}),
        ("google_forms_ru.csv", "%d.%m.%Y", {("google_forms_ru.csv#2", "Q01"): 5, ("google_forms_ru.csv#3", "Q01"): 3, ("google_forms_ru.csv#4", "Q01"): 1}),
    ],
)
def test_google_forms_locale_timestamps_and_question_text_headers(catalogue, name, date, expected):
    result = ingest(name, "google_forms", survey_items=catalogue, max_reject_share=0.0)
    s = reconciles(result)
    assert s["date_formats"]["response_date"] == date
    values = {(r, i): v for r, i, v in result.table.select("response_id", "item_id", "value").iter_rows()}
    assert expected.items() <= values.items()
    assert result.table["employee_key"].is_null().all()  # anonymous


def test_long_exports_polish_cp1250_and_russian_cp1251_with_a_users_profile(catalogue):
    polish = ingest("pulse_long_pl_cp1250.csv", "pulse_long_pl", survey_items=catalogue, max_reject_share=0.0)
    assert reconciles(polish)["answers_not_applicable"] == 1  # "Nie dotyczy"
    assert polish.table.select("item_id", "value").rows() == [("Q01", 5), ("Q02", 2), ("Q20", 10), ("Q01", 3)]
    russian = ingest("pulse_long_ru_cp1251.csv", "pulse_long_ru", survey_items=catalogue, max_reject_share=0.0)
    s = reconciles(russian)
    assert s["encoding"] == "cp1251"
    assert russian.table.select("item_id", "value", "score").rows() == [("Q01", 5, 5), ("Q09", 2, 4), ("Q01", 3, 3), ("Q20", 7, 7)]


def test_timesheets_decimal_comma_with_thousands_points():
    result = ingest("timesheets_decimal_comma.csv", "generic_timesheets")
    s = reconciles(result)
    assert s["decimal"] == {"hours": ",", "overtime_hours": ",", "complaint_share": ","}
    assert result.table.select("hours", "overtime_hours").rows() == [(162.5, 12.25), (170.0, 8.5)]
    assert result.rejects.select("source_row", "value", "reason").rows() == [(3, "1158.0", "outside the range 0..744")]


# ------------------------------------------------------------------ codebooks


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("Strongly agree", 5), ("Tout à fait d'accord", 5), ("Tout à fait d’accord", 5), ("Helemaal mee eens", 5),
        ("Полностью согласен", 5), ("Zdecydowanie się zgadzam", 5), ("Plutôt pas d'accord", 2), ("Mee oneens", 2),
        ("Скорее не согласна", 2), ("Raczej się nie zgadzam", 2), ("Neither agree nor disagree", 3), ("Neutraal", 3),
        ("  strongly   DISAGREE ", 1), ("4 - Agree", 4), ("5.0", 5),
    ],
)  # fmt: skip
def test_likert_labels_in_five_languages(catalogue, tmp_path, label, code):
    path = tmp_path / "long.csv"
    path.write_text(f"ID odpowiedzi;Nr pracownika;Zespół;Data wypełnienia;Pytanie;Odpowiedź\nR1;;T;15.05.2024;Q01;{label}\n", encoding="cp1250" if label.isascii() else "utf-8")
    prof = profile("pulse_long_pl")
    prof.read["encoding"] = "auto"
    prof.items["codebook"] = "auto"
    result = ingest_file(path, prof, key=KEY, survey_items=catalogue, max_reject_share=0.0)
    assert result.table["value"].to_list() == [code]


def test_custom_codebook_from_config(catalogue, tmp_path):
    path = tmp_path / "de.csv"
    path.write_text("ID odpowiedzi;Nr pracownika;Zespół;Data wypełnienia;Pytanie;Odpowiedź\nR1;;T;15.05.2024;Q01;Stimme voll zu\nR1;;T;15.05.2024;Q09;Weiß nicht\n", encoding="utf-8")
    prof = profile("pulse_long_pl")
    prof.read["encoding"] = "auto"
    prof.items["codebook"] = ["likert5_de"]
    books = {"likert5_de": {"scale": "likert5", "codes": {1: ["Stimme überhaupt nicht zu"], 5: ["Stimme voll zu"]}, "not_applicable": ["Weiß nicht"]}}
    result = ingest_file(path, prof, key=KEY, survey_items=catalogue, codebooks=books, max_reject_share=0.0)
    assert result.table.select("item_id", "value").rows() == [("Q01", 5)]
    assert result.stats["answers_not_applicable"] == 1


def test_parquet_survey_profiles_ingest_what_retain_synth_writes_as_parquet(tmp_path):
    """`retain synth --survey-format parquet` exports ingest with the shipped *_parquet profiles
    into the same canonical answers as the same organisation's CSV exports with the CSV profiles."""
    from analysis.synth import SynthConfig, generate

    canonical = {}
    for fmt, profiles in (("csv", ("qualtrics_wide", "pulse_long_pl")), ("parquet", ("qualtrics_wide_parquet", "pulse_long_pl_parquet"))):
        out = tmp_path / fmt
        generate(SynthConfig(employees=120, teams=3, quarters=2, survey_format=fmt), out)
        items = ingest_file(out / "survey_items.csv", profile("survey_items"), key=KEY).table
        parts = []
        for path in sorted((out / "surveys").iterdir()):
            assert path.suffix == f".{fmt}"
            result = ingest_file(path, profile(profiles[0] if "_wide_" in path.name else profiles[1]), key=KEY, survey_items=items)
            assert result.stats["rows_read"] == result.stats["rows_accepted"] + result.stats["rows_rejected"]
            parts.append(result.table.drop("source_file", "source_row"))  # Qualtrics CSVs have three header rows, Parquet one
        canonical[fmt] = pl.concat(parts).sort("response_id", "item_id")
    assert canonical["parquet"].height > 1000
    assert canonical["parquet"].equals(canonical["csv"])
