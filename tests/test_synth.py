"""Tests of the synthetic demo-organisation generator (analysis/synth.py)."""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import json
import re
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis import synth
from analysis.synth import SynthConfig, generate, simulate

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
SMALL = SynthConfig(employees=300)

ROSTER_COLUMNS = [
    "Employee ID", "First Name", "Last Name", "Work Email", "Hire Date", "Termination Date", "Termination Type",
    "Termination Reason", "Team", "Site", "Job Title", "Language", "Work Schedule", "Pay Band", "Annual Salary",
]
WIDE_COLUMNS = (
    ["StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)", "Finished", "RecordedDate",
     "ResponseId", "ExternalReference", "UserLanguage", "Team"]
    + [f"Q{i:02d}" for i in range(1, 21)]
    + ["Q21_TEXT"]
)
LONG_COLUMNS = ["ID odpowiedzi", "Nr pracownika", "Zespół", "Data wypełnienia", "Pytanie", "Odpowiedź"]


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read_roster(root: Path) -> pl.DataFrame:
    return pl.read_csv(root / "hris_roster.csv", infer_schema=False).with_columns(
        pl.col("Hire Date").str.to_date("%Y-%m-%d"),
        pl.col("Termination Date").str.to_date("%Y-%m-%d"),
    )


def _read_wide(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False, skip_rows_after_header=2)


def _read_long(path: Path) -> pl.DataFrame:
    text = path.read_bytes().decode("cp1250")
    return pl.read_csv(io.StringIO(text), separator=";", infer_schema=False)


@pytest.fixture(scope="module")
def default_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo_default")
    generate(SynthConfig(), out)
    return out


@pytest.fixture(scope="module")
def small_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo_small")
    generate(SMALL, out)
    return out


# ---------------------------------------------------------------- reproducibility


def test_default_config_reproduces_committed_demo(default_out):
    committed = _hashes(DEMO)
    generated = _hashes(default_out)
    assert committed, f"no committed demo files in {DEMO}; run `retain synth --out data/demo`"
    missing = sorted(set(generated) - set(committed))
    extra = sorted(set(committed) - set(generated))
    mismatched = sorted(k for k in set(committed) & set(generated) if committed[k] != generated[k])
    assert not (missing or extra or mismatched), (
        "data/demo differs from `generate(SynthConfig())` output: "
        f"mismatching={mismatched} not_committed={missing} not_generated={extra}. "
        "Regenerate with `retain synth --out data/demo` if the change is intended."
    )


def test_same_seed_identical_different_seed_differs(small_out, tmp_path):
    again = tmp_path / "again"
    generate(SMALL, again)
    assert _hashes(again) == _hashes(small_out)
    other = tmp_path / "other"
    generate(SynthConfig(employees=300, seed=SMALL.seed + 1), other)
    assert (other / "hris_roster.csv").read_bytes() != (small_out / "hris_roster.csv").read_bytes()


def test_generate_summary_lists_written_files(small_out, tmp_path):
    summary = generate(SMALL, tmp_path / "s")
    for name, rows in summary["files"].items():
        assert (tmp_path / "s" / name).is_file(), name
        assert rows > 0
    assert summary["people"] > 0 and summary["survey_answers"] > summary["survey_responses"] > 0


# ---------------------------------------------------------------- roster and timesheets


def test_roster_shape_and_invariants(small_out):
    raw = (small_out / "hris_roster.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    r = _read_roster(small_out)
    assert r.columns == ROSTER_COLUMNS
    assert r.get_column("Employee ID").str.contains(r"^E\d{6}$").all()
    assert r.equals(r.sort(["Employee ID", "Hire Date"]))
    # exit >= hire, type iff date
    ended = r.filter(pl.col("Termination Date").is_not_null())
    assert (ended["Termination Date"] >= ended["Hire Date"]).all()
    assert (r["Termination Date"].is_null() == r["Termination Type"].is_null()).all()
    assert (r["Termination Date"].is_null() == r["Termination Reason"].is_null()).all()
    assert set(r["Termination Type"].drop_nulls().unique()) == {"Voluntary", "Involuntary"}
    # spells of one person never overlap
    s = r.sort(["Employee ID", "Hire Date"]).with_columns(
        prev_end=pl.col("Termination Date").shift(1).over("Employee ID"),
        n=pl.int_range(pl.len()).over("Employee ID"),
    )
    later = s.filter(pl.col("n") > 0)
    assert later.height > 0, "expected some rehires"
    assert later["prev_end"].is_not_null().all()
    assert (later["Hire Date"] > later["prev_end"]).all()
    # rosters cover the window only
    gt = json.loads((small_out / "ground_truth.json").read_text())
    first = pl.Series([gt["window"]["first_month"] + "-01"]).str.to_date()[0]
    assert ended["Termination Date"].min() >= first
    # languages, sites, values
    assert set(r["Language"].unique()) == {"en", "fr", "nl", "ru", "pl"}
    assert set(r["Site"].unique()) == {"Brussels", "Lille", "Warsaw"}
    assert set(r["Work Schedule"].unique()) <= {"Fixed", "Flexible", "Remote", "Hybrid"}
    assert set(r["Pay Band"].unique()) <= {"B1", "B2", "B3", "B4"}
    sal = r["Annual Salary"].cast(pl.Int64)
    assert sal.min() >= 26000 and sal.max() <= 55000
    warsaw = r.filter(pl.col("Site") == "Warsaw")
    assert set(warsaw["Language"].unique()) <= {"pl", "ru", "en"}
    assert r["Work Email"].str.contains(r"^[a-z0-9.]+@example\.com$").all()
    # one e-mail per person, distinct across people
    per_person = r.group_by("Employee ID").agg(pl.col("Work Email").n_unique())
    assert (per_person["Work Email"] == 1).all()
    assert r.unique("Employee ID")["Work Email"].n_unique() == r["Employee ID"].n_unique()


def test_ground_truth_counts_match_roster(small_out):
    gt = json.loads((small_out / "ground_truth.json").read_text())
    real = gt["realised"]
    r = _read_roster(small_out)
    assert r.height == real["spells"]
    assert r["Employee ID"].n_unique() == real["people"]
    assert (r["Termination Type"] == "Voluntary").sum() == real["exits"]["voluntary"]
    assert (r["Termination Type"] == "Involuntary").sum() == real["exits"]["involuntary"]
    assert r["Termination Date"].is_null().sum() == real["headcount_window_end"]


def test_realised_turnover_in_contact_centre_band(small_out):
    real = json.loads((small_out / "ground_truth.json").read_text())["realised"]
    assert 0.25 <= real["annualised_voluntary_turnover_whole_window"] <= 0.50
    assert 0.02 <= real["annualised_involuntary_turnover_whole_window"] <= 0.15
    for y in real["turnover_by_window_year"]:
        assert 0.18 <= y["annualised_voluntary_turnover"] <= 0.55, y


def test_timesheets(small_out):
    raw = (small_out / "timesheets.csv").read_bytes()
    assert raw.startswith(b"Employee ID,Month,Hours Worked,Overtime Hours,Complaint Share\n")
    t = pl.read_csv(small_out / "timesheets.csv", infer_schema=False)
    assert t["Hours Worked"].str.contains(r"^\d+\.\d$").all()
    assert t["Overtime Hours"].str.contains(r"^\d+\.\d$").all()
    assert t["Complaint Share"].str.contains(r"^[01]\.\d\d$").all()
    assert t.equals(t.sort(["Month", "Employee ID"]))
    assert t.select(pl.struct("Employee ID", "Month").is_unique().all()).item()
    # one row per employee per month employed: compare with the roster
    r = _read_roster(small_out)
    months = pl.date_range(
        pl.Series(["2023-10-01"]).str.to_date()[0], pl.Series(["2026-09-01"]).str.to_date()[0], "1mo", eager=True
    )
    expected = 0
    for m in months:
        m_end = m.replace(day=calendar.monthrange(m.year, m.month)[1])
        expected += r.filter(
            (pl.col("Hire Date") <= m_end)
            & (pl.col("Termination Date").is_null() | (pl.col("Termination Date") >= m))
        ).height
    assert t.height == expected
    compl = t.join(r.unique("Employee ID").select("Employee ID", "Team"), on="Employee ID").with_columns(
        c=pl.col("Complaint Share").cast(pl.Float64)
    )
    means = compl.group_by(pl.col("Team").str.ends_with("Complaints")).agg(pl.col("c").mean())
    by = dict(zip(means["Team"].to_list(), means["c"].to_list()))
    assert by[True] > 0.6 and by[False] < 0.25


# ---------------------------------------------------------------- surveys


def test_survey_items_catalogue(small_out):
    items = pl.read_csv(small_out / "survey_items.csv", infer_schema=False)
    assert items.columns == [
        "item_id", "driver", "reverse_scored", "scale", "text_en", "text_fr", "text_nl", "text_ru", "text_pl"
    ]
    assert items["item_id"].to_list() == [f"Q{i:02d}" for i in range(1, 21)]
    assert set(items["driver"]) == {
        "mission", "recognition", "worklife", "growth", "autonomy", "manager", "engagement", "intent_to_stay", "enps"
    }
    assert items.filter(pl.col("reverse_scored") == "true")["item_id"].to_list() == ["Q09"]
    assert items.filter(pl.col("scale") == "nps11")["item_id"].to_list() == ["Q20"]
    for c in ("text_en", "text_fr", "text_nl", "text_ru", "text_pl"):
        assert items[c].str.len_chars().min() > 10
    assert items["text_ru"].str.contains("[а-яА-Я]").all()


def test_wide_exports(small_out):
    gt = json.loads((small_out / "ground_truth.json").read_text())
    wave_date = {w["wave"]: w["date"] for w in gt["window"]["waves"]}
    r = _read_roster(small_out)
    files = sorted((small_out / "surveys").glob("pulse_*_wide_en.csv"))
    assert len(files) == len(wave_date)
    likert = {"Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"}
    for f in files:
        rows = list(csv.reader(io.StringIO(f.read_text(encoding="utf-8"))))
        assert rows[0] == WIDE_COLUMNS
        assert rows[1][0] == "Start Date" and rows[1][12].startswith("I understand")
        assert all(c.startswith('{"ImportId":') for c in rows[2])
        assert not rows[3][0].startswith(("Start", "{")), "exactly 3 header rows"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[3][0])
        df = _read_wide(f)
        assert df.columns == WIDE_COLUMNS
        assert df["ResponseId"].str.contains(r"^R_[A-Za-z0-9]{15}$").all()
        assert df["ResponseId"].is_sorted() and df["ResponseId"].n_unique() == df.height
        assert set(df["UserLanguage"].unique()) <= {"EN", "FR", "NL"}
        assert not df["Team"].str.starts_with("WAW").any()
        for q in [f"Q{i:02d}" for i in range(1, 20)]:
            assert set(df[q].drop_nulls().unique()) <= likert
        assert df["Q20"].drop_nulls().cast(pl.Int64).is_between(0, 10).all()
        # respondents were employed on the wave date
        wave = f.name.split("_")[1]
        d = pl.Series([wave_date[wave]]).str.to_date()[0]
        emp = r.filter(
            (pl.col("Hire Date") <= d) & (pl.col("Termination Date").is_null() | (pl.col("Termination Date") >= d))
        )
        assert set(df["ExternalReference"]) <= set(emp["Employee ID"]), f.name
        start = df["StartDate"].str.to_datetime("%Y-%m-%d %H:%M:%S").dt.date()
        assert (start >= d).all() and ((start - d).dt.total_days() <= 7).all()
    allw = pl.concat([_read_wide(f) for f in files])
    assert allw["Q21_TEXT"].drop_nulls().str.contains(",").any()
    assert allw["ResponseId"].n_unique() == allw.height


def test_long_polish_exports(small_out):
    gt = json.loads((small_out / "ground_truth.json").read_text())
    wave_date = {w["wave"]: w["date"] for w in gt["window"]["waves"]}
    r = _read_roster(small_out)
    files = sorted((small_out / "surveys").glob("pulse_*_long_pl.csv"))
    assert len(files) == len(wave_date)
    labels = set(synth.LIKERT_PL) | {str(i) for i in range(11)}
    for f in files:
        raw = f.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        text = raw.decode("cp1250")
        assert "ę" in text
        assert text.startswith("ID odpowiedzi;Nr pracownika;Zespół;Data wypełnienia;Pytanie;Odpowiedź\r\n")
        assert text.count("\r\n") == text.count("\n")
        df = _read_long(f)
        assert df.columns == LONG_COLUMNS
        assert df.equals(df.sort(["ID odpowiedzi", "Pytanie"]))
        assert df["Data wypełnienia"].str.contains(r"^\d\d\.\d\d\.\d{4}$").all()
        assert set(df["Odpowiedź"].unique()) <= labels
        assert df["Zespół"].str.starts_with("WAW").all()
        assert df.select(pl.struct("ID odpowiedzi", "Pytanie").is_unique().all()).item()
        wave = f.name.split("_")[1]
        d = pl.Series([wave_date[wave]]).str.to_date()[0]
        emp = r.filter(
            (pl.col("Hire Date") <= d) & (pl.col("Termination Date").is_null() | (pl.col("Termination Date") >= d))
        )
        assert set(df["Nr pracownika"]) <= set(emp["Employee ID"]), f.name


def test_response_rate_and_nonresponse(small_out):
    real = json.loads((small_out / "ground_truth.json").read_text())["realised"]["survey"]
    assert 0.65 <= real["response_rate"] <= 0.85
    # item non-response ~3% (+ partials): answers per response between 18.5 and 19.9
    assert 18.5 <= real["answers"] / real["responses"] <= 19.9


# ---------------------------------------------------------------- programmes


def test_interventions_staggered_rollout(small_out):
    iv = pl.read_excel(small_out / "interventions.xlsx", sheet_name="Programmes")
    assert iv.columns == ["Team", "Programme type", "Programme", "Start date", "End date"]
    assert iv.schema["Start date"] in (pl.Date, pl.Datetime("ms"), pl.Datetime("us"), pl.Datetime("ns"))
    assert set(iv["Programme type"]) == {"Mission", "Recognition", "Work-life"}
    key = iv.with_columns(pl.col("Start date").cast(pl.Date))
    assert key.equals(key.sort(["Start date", "Team", "Programme type"]))
    teams = set(_read_roster(small_out)["Team"])
    gt = json.loads((small_out / "ground_truth.json").read_text())
    third_wave = pl.Series([gt["window"]["waves"][2]["date"]]).str.to_date()[0]
    for ptype, g in key.group_by("Programme type"):
        first = g.group_by("Team").agg(pl.col("Start date").min())
        quarters = first["Start date"].dt.year() * 10 + first["Start date"].dt.quarter()
        assert quarters.n_unique() >= 2, ptype
        assert len(teams - set(first["Team"])) >= 2, f"{ptype}: needs never-treated teams"
        assert first["Start date"].min() > third_wave, "no rollout in the first 3 quarters"
    assert iv["End date"].null_count() >= iv.height - 4


def test_interventions_xlsx_byte_identical(tmp_path):
    sim = simulate(SMALL)
    a, b = tmp_path / "a", tmp_path / "b"
    synth._write_interventions(sim, a)
    time.sleep(1.1)
    synth._write_interventions(sim, b)
    assert (a / "interventions.xlsx").read_bytes() == (b / "interventions.xlsx").read_bytes()


# ---------------------------------------------------------------- the hazard model bites


def test_high_mission_quits_less():
    sim = simulate(SynthConfig(employees=3000))
    mission = sim.drivers[sim.pm_spell, sim.pm_month // 3, synth.DRIVERS.index("mission")]
    cuts = np.quantile(mission, [1 / 3, 2 / 3])
    terc = np.searchsorted(cuts, mission)
    rate = [np.mean(sim.pm_event[terc == k] == synth.EXIT_VOL) for k in range(3)]
    assert rate[0] > rate[1] > rate[2]
    assert rate[2] < 0.75 * rate[0]
    # intent to stay (latent) is lower among the people who go on to quit
    last_q = np.minimum(sim.exit_month, len(sim.months) - 1) // 3
    intent = sim.intent[np.arange(sim.n_spells), last_q]
    assert intent[sim.exit_type == synth.EXIT_VOL].mean() < intent[sim.exit_type == 0].mean() - 0.2


def _poisson_irls(X: np.ndarray, y: np.ndarray, iters: int = 25) -> np.ndarray:
    b = np.zeros(X.shape[1])
    b[0] = np.log(y.mean())
    for _ in range(iters):
        mu = np.exp(X @ b)
        step = np.linalg.solve(X.T @ (X * mu[:, None]), X.T @ (y - mu))
        b += step
        if np.abs(step).max() < 1e-8:
            break
    return b


def test_oracle_model_recovers_true_hazard_ratios():
    """A Poisson model on the true latent covariates recovers the documented hazard ratios."""
    sim = simulate(SynthConfig(employees=20_000, seed=7))
    pm = sim.person_months()
    k = pm["tenure_months"].to_numpy()
    X = np.column_stack(
        [np.ones(pm.height)]
        + [pm[d].to_numpy() - 3.0 for d in synth.DRIVERS]
        + [
            pm["overtime_prev"].to_numpy() / 10.0,
            (k >= 1) & (k <= 3),
            (k >= 4) & (k <= 6),
            pm["complaints_team"].to_numpy() & (k >= 6) & (k <= 12),
            pm["programme_mission"].to_numpy(),
            pm["programme_recognition"].to_numpy(),
            pm["programme_worklife"].to_numpy(),
            pm["month"].to_numpy() / 12.0,
            pm["frailty"].to_numpy(),
        ]
    ).astype(float)
    y = (pm["event"].to_numpy() == synth.EXIT_VOL).astype(float)
    hr = np.exp(_poisson_irls(X, y))
    te = synth.TRUE_EFFECTS
    truth = [te["voluntary_hazard"]["hazard_ratio_per_point"][d] for d in synth.DRIVERS] + [
        te["voluntary_hazard"]["hazard_ratio_overtime_per_10h"],
        te["voluntary_hazard"]["tenure_multipliers"]["first_90_days"]["hazard_ratio"],
        te["voluntary_hazard"]["tenure_multipliers"]["months_4_to_6"]["hazard_ratio"],
        te["voluntary_hazard"]["complaints_burnout"]["hazard_ratio"],
        te["programmes"]["mission"]["hazard_multiplier"],
        te["programmes"]["recognition"]["hazard_multiplier"],
        te["programmes"]["worklife"]["hazard_multiplier"],
    ]
    got = hr[1 : 1 + len(truth)]
    assert np.allclose(np.log(got), np.log(truth), atol=0.12), list(zip(truth, got.round(3)))


# ---------------------------------------------------------------- scale


def test_scale_smoke_20k_parquet(tmp_path):
    t0 = time.perf_counter()
    summary = generate(SynthConfig(employees=20_000, survey_format="parquet"), tmp_path)
    elapsed = time.perf_counter() - t0
    assert elapsed < 30, elapsed
    assert 17_000 <= summary["people"] <= 23_000
    wide = sorted((tmp_path / "surveys").glob("pulse_*_wide_en.parquet"))
    long = sorted((tmp_path / "surveys").glob("pulse_*_long_pl.parquet"))
    assert len(wide) == len(long) == 12
    assert not list((tmp_path / "surveys").glob("*.csv"))
    w = pl.read_parquet(wide[0])
    assert w.columns == WIDE_COLUMNS and all(dt == pl.String for dt in w.dtypes)
    lg = pl.read_parquet(long[0])
    assert lg.columns == LONG_COLUMNS and all(dt == pl.String for dt in lg.dtypes)
    assert summary["files"]["timesheets.csv"] > 20_000 * 12
    r = pl.read_csv(tmp_path / "hris_roster.csv", infer_schema=False)
    assert r["Employee ID"].str.contains(r"^E\d{6}$").all()
