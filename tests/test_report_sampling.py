"""The reports say when a model was fitted on a random sample of people: the Cox, 12-month exit and
competing-risks models above `retention.max_people` (sample_people of eligible_people in their
tables), driver importance above `drivers.max_people` (people of eligible_people per outcome).
Checked on hand-made tables in two worlds, one below the caps (the demo: nothing sampled) and one
above them, by running the templates' own cells in both languages; the numbers behind the sentences
re-derive from their tables with tests/test_report_numbers.py::expected_value."""

import contextlib
import io
import re
from html import unescape

import polars as pl
import pytest

import report_fixtures as fx
from analysis.numbers import sample_reading
from analysis.reportkit import Report
from conftest import REPO
from test_report_numbers import expected_value

QUARTER = "2026Q3"
SAMPLE_NUMBERS = [f"{stem}-{suffix}" for stem in ("models", "importance-intent", "importance-exit") for suffix in ("people", "eligible-people", "sample-reading")]
WORDS = {"en": "random sample", "fr": "échantillon aléatoire"}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """Results (tables, numbers, exhibits) below the caps ("everyone") and above them ("sampled")."""
    out = {}
    for name, samples in (("everyone", fx.SAMPLES), ("sampled", fx.SAMPLED)):
        root = tmp_path_factory.mktemp(f"sampling-{name}")
        fx.build_results(root, samples=samples)
        out[name] = root
    return out


def template_cells(template: str) -> list[str]:
    """The template's code cells that state a sample (the code the report runs)."""
    body = (REPO / "reports" / template).read_text(encoding="utf-8")
    cells = [c for c in re.findall(r"```\{python\}\n(.*?)```", body, re.S) if "sample_note(" in c]
    assert cells, f"reports/{template} states no sample"
    return cells


def run_cells(template: str, root, lang: str) -> tuple[str, Report]:
    label = "research" if template == "research.qmd" else QUARTER
    report = Report(str(root / "results"), QUARTER, language=lang, label=label)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for cell in template_cells(template):
            exec(cell, {"r": report, "quarter": QUARTER})  # noqa: S102 - the template's own cell, on hand-made numbers
    text = unescape(re.sub(r"<sup[^>]*>.*?</sup>|<[^>]+>", "", out.getvalue()))
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\xa0", " ")), report


def test_sample_reading_needs_fewer_people_than_eligible():
    assert sample_reading(100, 2500) == "sampled"
    assert sample_reading(800, 800) == "everyone"
    assert sample_reading(None, 800) is None and sample_reading(800, None) is None


@pytest.mark.parametrize("world", ["everyone", "sampled"])
def test_sample_numbers_rederive_from_their_tables(worlds, world):
    import json

    root = worlds[world]
    records = {r["id"]: r for r in json.loads((root / f"results/numbers/{QUARTER}.json").read_text(encoding="utf-8"))}

    def table(path):
        return pl.read_parquet(root / path)

    for name in SAMPLE_NUMBERS:
        record = records[f"num:{name}:{QUARTER}"]
        assert record["value"] == expected_value(record, fx.CONFIG, table, root), record["id"]
    samples = fx.SAMPLES if world == "everyone" else fx.SAMPLED
    for stem, key in (("models", "models"), ("importance-intent", "intent_to_stay"), ("importance-exit", "voluntary_exit_12m")):
        sample, eligible = samples[key]
        assert records[f"num:{stem}-people:{QUARTER}"]["value"] == sample
        assert records[f"num:{stem}-eligible-people:{QUARTER}"]["value"] == eligible
        assert records[f"num:{stem}-sample-reading:{QUARTER}"]["value"] == world


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_quarterly_methods_note_states_the_sample_only_when_there_is_one(worlds, lang):
    sampled, report = run_cells("quarterly.qmd", worlds["sampled"], lang)
    people, eligible = (report.display(n).replace("\u202f", " ").replace("\xa0", " ") for n in ("models-people", "models-eligible-people"))
    assert (people, eligible) == (("130", "2,600") if lang == "en" else ("130", "2 600"))
    phrase = {"en": f"fitted on a random sample of {people} of {eligible} people", "fr": f"échantillon aléatoire de {people} des {eligible} personnes"}[lang]
    assert phrase in sampled, sampled
    assert {f"num:models-people:{QUARTER}", f"num:models-eligible-people:{QUARTER}"} <= set(report.used)
    everyone, report = run_cells("quarterly.qmd", worlds["everyone"], lang)
    assert WORDS[lang] not in everyone and "130" not in everyone, everyone
    assert not any(i.startswith("num:models-") for i in report.used)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_research_report_states_sample_or_everyone(worlds, lang):
    sampled, _ = run_cells("research.qmd", worlds["sampled"], lang)
    everyone, _ = run_cells("research.qmd", worlds["everyone"], lang)
    if lang == "en":
        assert "fitted on a random sample of 130 of 2,600 linked people" in sampled
        assert "Driver importance for intent to stay was fitted on a random sample of 120 of 900 people" in sampled
        assert "Driver importance for voluntary exit within the horizon was fitted on a random sample of 110 of 880 people" in sampled
        assert "models were fitted on all 130 linked people" in everyone
        assert "Driver importance for intent to stay was fitted on all 120 people" in everyone
    else:
        assert "échantillon aléatoire de 130 des 2 600 personnes reliées" in sampled
        assert "pour intention de rester a été estimée sur un échantillon aléatoire de 120 des 900 personnes" in sampled
        assert "pour départ volontaire dans l’horizon a été estimée sur un échantillon aléatoire de 110 des 880 personnes" in sampled
        assert "sur l’ensemble des 130 personnes reliées" in everyone
    assert WORDS[lang] not in everyone, everyone


def test_no_sentence_when_the_tables_do_not_say(tmp_path):
    """Tables without the counts (no model fitted, or written before sampling): the numbers are missing, no sentence."""
    fx.build_results(tmp_path, samples={k: (None, None) for k in fx.SAMPLES})
    for template in ("quarterly.qmd", "research.qmd"):
        text, report = run_cells(template, tmp_path, "en")
        assert "random sample" not in text and "fitted on all" not in text, text
        assert report.value("models-sample-reading") is None
