"""`--extra-items K` of the synthetic generator (analysis/synth.py): K extra Likert items Q22.. for
benchmark surveys of ~25 items, without changing anything else the generator writes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis import synth
from analysis.config import profile_path
from analysis.ingest import ingest_file, load_profile
from analysis.synth import (
    DRIVERS,
    SynthConfig,
    generate,
    programme_truth,
    simulate,
    simulate_wave,
)

K = 5
EXTRA_IDS = [f"Q{22 + i}" for i in range(K)]  # Q22..Q26
CFG = SynthConfig(employees=300, quarters=4, extra_items=K)
CFG0 = SynthConfig(employees=300, quarters=4)
META = [
    "StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)", "Finished", "RecordedDate",
    "ResponseId", "ExternalReference", "UserLanguage", "Team",
]
WIDE_COLUMNS = META + [f"Q{i:02d}" for i in range(1, 21)] + EXTRA_IDS + ["Q21_TEXT"]
LIKERT_EN = {"Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"}
KEY = b"tests-only-pseudonym-key"


def _read_wide(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.read_csv(path, infer_schema=False, skip_rows_after_header=2)


def _read_long(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.read_csv(io.StringIO(path.read_bytes().decode("cp1250")), separator=";", infer_schema=False)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> dict[str, Path]:
    """The same organisation with 5 extra items (CSV and Parquet surveys) and without."""
    root = tmp_path_factory.mktemp("extra_items")
    dirs = {"csv": root / "csv", "parquet": root / "parquet", "none": root / "none"}
    generate(CFG, dirs["csv"])
    generate(SynthConfig(employees=300, quarters=4, extra_items=K, survey_format="parquet"), dirs["parquet"])
    generate(CFG0, dirs["none"])
    return dirs


# ---------------------------------------------------------------- config and CLI


def test_config_validates_and_records_extra_items_only_when_used():
    assert SynthConfig().extra_items == 0
    assert SynthConfig(extra_items=0) == SynthConfig()
    assert "extra_items" not in SynthConfig().as_dict()
    assert SynthConfig(extra_items=60).as_dict()["extra_items"] == 60
    for bad in (-1, 61):
        with pytest.raises(ValueError, match="extra_items"):
            SynthConfig(extra_items=bad)
    for bad in (2.0, True, "5"):
        with pytest.raises(TypeError, match="extra_items"):
            SynthConfig(extra_items=bad)
    assert synth.effective_effects(SynthConfig()) is synth.TRUE_EFFECTS
    assert "extra_items" not in synth.TRUE_EFFECTS["survey"]


def test_cli_option():
    parser = synth.build_arg_parser()
    assert synth.config_from_args(parser.parse_args([])).extra_items == 0
    assert synth.config_from_args(parser.parse_args(["--extra-items", "5"])).extra_items == 5
    assert "round-robin" in parser.format_help()


def test_extra_items_round_robin_over_drivers():
    extra = synth.extra_survey_items(13)
    assert [it[0] for it in extra] == [f"Q{i}" for i in range(22, 35)]
    assert [it[1] for it in extra] == list(DRIVERS) * 2 + ["mission"]
    assert all(it[2] is False and it[3] == "likert5" for it in extra)
    assert len(extra[0]) == len(synth.SURVEY_ITEMS[0])
    for lang in range(5):  # en, fr, nl, ru, pl: distinct, plainly synthetic texts
        texts = [it[4 + lang] for it in extra]
        assert len(set(texts)) == len(texts)
        assert all(("benchmark" in t or "бенчмарк" in t) for t in texts)
    assert extra[0][4] == "Additional pulse item 1 on mission (benchmark)."
    assert extra[12][4] == "Additional pulse item 3 on mission (benchmark)."
    assert synth.survey_items(SynthConfig()) == synth.SURVEY_ITEMS
    assert synth.extra_survey_items(60)[-1][0] == "Q81"


# ---------------------------------------------------------------- the exports


def test_survey_items_catalogue_lists_the_extra_items(out):
    items = pl.read_csv(out["csv"] / "survey_items.csv", infer_schema=False)
    assert items.height == 25
    assert items["item_id"].to_list() == [f"Q{i:02d}" for i in range(1, 21)] + EXTRA_IDS
    extra = items.filter(pl.col("item_id").is_in(EXTRA_IDS))
    assert extra["driver"].to_list() == list(DRIVERS[:K])
    assert set(extra["reverse_scored"]) == {"false"} and set(extra["scale"]) == {"likert5"}
    assert extra["text_ru"].str.contains("[а-яА-Я]").all()
    # the first 20 rows are the standard catalogue, unchanged
    base = (out["none"] / "survey_items.csv").read_bytes()
    assert (out["csv"] / "survey_items.csv").read_bytes().startswith(base)
    gt = json.loads((out["csv"] / "ground_truth.json").read_text())
    assert gt["files"]["survey_items.csv"] == 25


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_wide_exports_carry_the_extra_items(out, fmt):
    files = sorted((out[fmt] / "surveys").glob(f"pulse_*_wide_en.{fmt}"))
    assert len(files) == CFG.quarters
    allw = pl.concat([_read_wide(f) for f in files])
    assert allw.columns == WIDE_COLUMNS
    for q in EXTRA_IDS:
        assert set(allw[q].drop_nulls()) <= LIKERT_EN
        assert allw[q].drop_nulls().n_unique() >= 4, q
        assert 0 < allw[q].null_count() < 0.15 * allw.height, q
    # partial responses never reach the extra items (they follow Q20 in the survey flow)
    partial = allw.filter(pl.col("Finished") == "False")
    assert partial.height > 0
    assert partial.select(pl.all_horizontal(pl.col(EXTRA_IDS).is_null()).all()).item()
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(files[0].read_text(encoding="utf-8"))))
        assert rows[0] == WIDE_COLUMNS
        text = dict(zip(rows[0], rows[1]))
        assert text["Q22"] == "Additional pulse item 1 on mission (benchmark)."
        assert text["Q21_TEXT"] == synth.Q21_TEXT_EN and text["Q01"].startswith("I understand")
        import_id = dict(zip(rows[0], rows[2]))
        assert [import_id[q] for q in ("Q01", "Q20", "Q22", "Q26", "Q21_TEXT")] == [
            '{"ImportId":"QID1"}', '{"ImportId":"QID20"}', '{"ImportId":"QID22"}', '{"ImportId":"QID26"}',
            '{"ImportId":"QID21_TEXT"}',
        ]
        assert not rows[3][0].startswith(("Start", "{")), "exactly 3 header rows"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_long_polish_exports_carry_the_extra_items(out, fmt):
    files = sorted((out[fmt] / "surveys").glob(f"pulse_*_long_pl.{fmt}"))
    assert len(files) == CFG.quarters
    df = pl.concat([_read_long(f) for f in files])
    per_item = df.group_by("Pytanie").len()
    counts = dict(zip(per_item["Pytanie"].to_list(), per_item["len"].to_list()))
    assert sorted(counts) == [f"Q{i:02d}" for i in range(1, 21)] + EXTRA_IDS
    responses = df["ID odpowiedzi"].n_unique()
    for q in EXTRA_IDS:
        assert 0.8 * responses < counts[q] < responses, q  # item non-response and partials: some missing
    assert set(df.filter(pl.col("Pytanie").is_in(EXTRA_IDS))["Odpowiedź"]) <= set(synth.LIKERT_PL)
    assert set(df.filter(pl.col("Pytanie") == "Q20")["Odpowiedź"]) <= {str(i) for i in range(11)}
    for f in files:
        one = _read_long(f)
        assert one.equals(one.sort(["ID odpowiedzi", "Pytanie"]))


def test_extra_answers_follow_the_driver_model():
    sim = simulate(CFG)
    sd = sim.effects["survey"]["item_noise_sd"]
    for w in range(CFG.quarters):
        sw = simulate_wave(sim, w)
        assert sw.answers.shape == (len(sw.spell), 20 + K)
        x = sw.answers[:, 20:]
        assert set(np.unique(x)) <= {-1, 1, 2, 3, 4, 5}
        assert (x[~sw.finished] == -1).all()
        missing = (x[sw.finished] == -1).mean()
        assert 0.005 < missing < 0.07  # item non-response 3 %
        for i in range(K):
            d = DRIVERS.index(DRIVERS[i % 6])
            ok = x[:, i] >= 0
            expected = synth._expected_item_score(sim.drivers[sw.spell[ok], w, d].astype(float), sd).mean()
            assert abs(x[ok, i].mean() - expected) < 0.15, (w, i)
            # an extra item correlates with its own driver's latent score more than with the others'
            r = [np.corrcoef(x[ok, i], sim.drivers[sw.spell[ok], w, k])[0, 1] for k in range(6)]
            assert int(np.argmax(r)) == d, (w, i, r)


def test_default_outputs_are_untouched_by_extra_items(out):
    """Everything but the extra items is what the same config without them writes (the extra
    items' random numbers are drawn after all others); the committed demo's byte-for-byte test
    (test_synth.py, test_cli.py) guards the default itself."""
    sim0, sim5 = simulate(CFG0), simulate(CFG)
    for w in range(CFG.quarters):
        a, b = simulate_wave(sim0, w), simulate_wave(sim5, w)
        assert np.array_equal(a.answers, b.answers[:, :20])
        for f in ("spell", "start", "duration", "finished", "progress", "response_id", "long_id", "ip", "invited"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
        assert a.comment.tolist() == b.comment.tolist()
    for name in ("hris_roster.csv", "timesheets.csv", "interventions.xlsx"):
        assert (out["csv"] / name).read_bytes() == (out["none"] / name).read_bytes(), name
    for f in sorted((out["none"] / "surveys").iterdir()):
        g = out["csv"] / "surveys" / f.name
        if "_wide_" in f.name:
            assert _read_wide(g).drop(EXTRA_IDS).equals(_read_wide(f)), f.name
        else:
            assert _read_long(g).filter(~pl.col("Pytanie").is_in(EXTRA_IDS)).equals(_read_long(f)), f.name


def test_ground_truth_documents_the_extra_items(out):
    gt = json.loads((out["csv"] / "ground_truth.json").read_text())
    gt0 = json.loads((out["none"] / "ground_truth.json").read_text())
    assert gt["config"]["extra_items"] == K and "extra_items" not in gt0["config"]
    survey = gt["true_effects"]["survey"]
    assert survey["extra_items"]["drivers"] == dict(zip(EXTRA_IDS, DRIVERS))
    assert all(survey["item_offsets"][q] == 0.0 for q in EXTRA_IDS)
    assert "extra_items" not in gt0["true_effects"]["survey"]
    assert "Q22" not in gt0["true_effects"]["survey"]["item_offsets"]
    real, real0 = gt["realised"]["survey"], gt0["realised"]["survey"]
    assert real["responses"] == real0["responses"]
    assert 23.0 <= real["answers"] / real["responses"] <= 24.9  # 25 items, 3 % missing + partials
    md = (out["csv"] / "GROUND_TRUTH.md").read_text()
    assert "Extra items (5)" in md and "mission Q22" in md
    assert "Extra items" not in (out["none"] / "GROUND_TRUTH.md").read_text()
    # the realised answer count is what the exports hold
    n = 0
    for f in (out["csv"] / "surveys").iterdir():
        if "_wide_" in f.name:
            n += _read_wide(f).select(pl.sum_horizontal(pl.col(WIDE_COLUMNS[12:-1]).is_not_null()).sum()).item()
        else:
            n += _read_long(f).height
    assert n == real["answers"]


def test_programme_truth_scores_include_the_extra_items():
    """The expected driver score is over all the driver's answered items, extra items included."""
    cfg = SynthConfig(employees=300, quarters=6, extra_items=K)
    sim = simulate(cfg, counterfactual=True)
    truth = programme_truth(sim)["driver_score"]
    truth0 = programme_truth(simulate(SynthConfig(employees=300, quarters=6), counterfactual=True))["driver_score"]
    assert truth["respondents"].equals(truth0["respondents"])
    assert not truth["expected_score"].equals(truth0["expected_score"])
    items = synth.survey_items(cfg)
    sd = sim.effects["survey"]["item_noise_sd"]
    offsets = sim.effects["survey"]["item_offsets"]
    w = 5
    sw = simulate_wave(sim, w)
    for pt in synth.PROGRAMME_TYPES:
        driver = sim.effects["programmes"][pt]["driver"]
        cols = [k for k, it in enumerate(items) if it[1] == driver]
        assert items[cols[-1]][0] in EXTRA_IDS
        off = np.array([offsets[items[k][0]] for k in cols])
        e = synth._expected_item_score(sim.drivers[sw.spell, w, DRIVERS.index(driver)][:, None] + off, sd)
        answered = sw.answers[:, cols] >= 0
        keep = answered.any(axis=1)
        person = (e * answered).sum(axis=1)[keep] / answered.sum(axis=1)[keep]
        team = sim.spell_team[sw.spell][keep]
        for t in np.unique(team)[:3]:
            row = truth.filter(
                (pl.col("intervention") == pt)
                & (pl.col("quarter") == sim.quarter_labels[w])
                & (pl.col("team") == sim.team_names[t])
            )
            assert row["expected_score"].item() == pytest.approx(person[team == t].mean(), abs=1e-9)
        # the realised canonical mean score on all the driver's items is close to the truth
        canon = np.where(answered, sw.answers[:, cols], 0).astype(float)
        rev = np.array([items[k][2] for k in cols])
        canon[:, rev] = np.where(answered[:, rev], 6 - canon[:, rev], 0)
        realised = (canon.sum(axis=1)[keep] / answered.sum(axis=1)[keep]).mean()
        assert realised == pytest.approx(person.mean(), abs=0.06), pt


# ---------------------------------------------------------------- the pipeline's ingest accepts them


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_ingest_accepts_the_extra_items(out, fmt):
    profiles = {
        "csv": ("qualtrics_wide", "pulse_long_pl"),
        "parquet": ("qualtrics_wide_parquet", "pulse_long_pl_parquet"),
    }[fmt]
    root = out[fmt]
    items = ingest_file(root / "survey_items.csv", load_profile(profile_path("survey_items")), key=KEY).table
    catalogue = items.filter(pl.col("item_id").is_in(EXTRA_IDS)).select("item_id", "driver")
    assert catalogue.rows() == list(zip(EXTRA_IDS, DRIVERS))
    parts = []
    for path in sorted((root / "surveys").iterdir()):
        prof = load_profile(profile_path(profiles[0] if "_wide_" in path.name else profiles[1]))
        result = ingest_file(path, prof, key=KEY, survey_items=items, max_reject_share=0.0)
        assert result.stats["rows_rejected"] == 0, (path.name, result.stats["reject_reasons"])
        assert result.stats["rows_read"] == result.stats["rows_accepted"]
        parts.append(result.table)
    answers = pl.concat(parts).join(items.select("item_id", "driver"), on="item_id", how="left")
    gt = json.loads((root / "ground_truth.json").read_text())
    assert answers.height == gt["realised"]["survey"]["answers"]
    extra = answers.filter(pl.col("item_id").is_in(EXTRA_IDS))
    by_item = extra.group_by("item_id", "driver").len().sort("item_id")
    assert by_item.select("item_id", "driver").rows() == list(zip(EXTRA_IDS, DRIVERS))
    assert (by_item["len"] > 0.8 * answers["response_id"].n_unique()).all()
    assert extra["value"].is_between(1, 5).all() and extra["score"].is_between(1, 5).all()
