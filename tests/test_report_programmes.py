"""The programme subsections never overstate: the reading says "reduced" (or "increased") only when
the whole 95% interval is below (above) zero, "no clear effect" otherwise, and no causal verb
("caused", "causes", "proved", …) appears when the interval includes zero — checked for every
programme, in both languages, on synthetic tables where each programme's interval once excludes and
once includes zero, by running the quarterly template's own programme cells; and on the demo run."""

import contextlib
import io
import json
import re
from html import unescape
from pathlib import Path

import pytest

import report_fixtures as fx
from analysis import messages
from analysis.numbers import PROGRAMMES, effect_reading, km_reading, ratio_reading
from analysis.reportkit import Report
from conftest import REPO

QUARTER = "2026Q3"
CAUSAL = {
    "en": re.compile(r"\b(cause[ds]?|causing|causal(ly)?|prove[ds]?|proven|proof)\b", re.I),
    "fr": re.compile(r"\b(caus[ée]e?s?|cause|causal(e|es|ement)?|prouv[ée]e?s?|prouve|preuve|provoqu[ée]e?s?)\b", re.I),
}
# The words each reading must use (the category phrases of analysis/messages.yaml).
READING_WORDS = {
    "en": {"reduced": "was reduced", "increased": "increased", "no-clear-effect": "no clear effect"},
    "fr": {"reduced": "a été réduit", "increased": "a augmenté", "no-clear-effect": "pas d’effet net"},
}
ESTIMATE = {"en": re.compile(r"\bestimate\b", re.I), "fr": re.compile(r"\bestimation\b", re.I)}
# Two synthetic worlds: across them every programme has one interval that excludes zero and one that includes it.
WORLDS = {
    "default": fx.PROGRAMME_EFFECTS,  # mission below zero, recognition across zero, work-life above zero
    "flipped": {"mission": (-0.05, -0.12, 0.02), "recognition": (-0.15, -0.25, -0.05), "worklife": (0.01, -0.03, 0.05)},
}


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(-0.3, -0.01, "reduced"), (0.01, 0.2, "increased"), (-0.2, 0.1, "no-clear-effect"), (-0.2, 0.0, "no-clear-effect"), (0.0, 0.2, "no-clear-effect"), (None, 0.1, None)],
)
def test_effect_reading_needs_the_whole_interval_on_one_side_of_zero(low, high, expected):
    assert effect_reading(low, high) == expected


def test_ratio_and_survival_readings_need_the_interval_or_the_test():
    assert ratio_reading(0.5, 0.9) == "lower" and ratio_reading(1.1, 1.4) == "higher" and ratio_reading(0.8, 1.2) == "unclear"
    assert km_reading(0.01, 0.5, 0.8) == "less-engaged-leave-sooner"
    assert km_reading(0.01, 0.8, 0.5) == "more-engaged-leave-sooner"
    assert km_reading(0.2, 0.5, 0.8) == "no-clear-difference"  # a gap the log-rank test does not support is no finding
    assert km_reading(None, 0.5, 0.8) is None


def programme_cells() -> dict[str, str]:
    """The quarterly template's text cell of each programme subsection (the code the report runs)."""
    body = (REPO / "reports/quarterly.qmd").read_text(encoding="utf-8")
    cells = re.findall(r"```\{python\}\n(.*?)```", body, re.S)
    found = {p: c for p in PROGRAMMES for c in cells if f'r.section("programme-{p}"' in c}
    assert set(found) == set(PROGRAMMES), "every programme has its subsection in reports/quarterly.qmd"
    return found


def run_cell(cell: str, report: Report) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(cell, {"r": report, "quarter": QUARTER})  # noqa: S102 - the template's own cell, on synthetic numbers
    return unescape(re.sub(r"<sup[^>]*>.*?</sup>|<[^>]+>", "", out.getvalue()))


@pytest.fixture(scope="module", params=[(w, lang) for w in WORLDS for lang in messages.LANGUAGES], ids=lambda p: f"{p[0]}-{p[1]}")
def world(request, tmp_path_factory):
    name, lang = request.param
    root = tmp_path_factory.mktemp(f"programmes-{name}-{lang}")
    fx.build_results(root, language=lang, effects=WORLDS[name])
    return name, lang, root / "results"


def test_every_programme_reading_follows_its_interval_in_every_language(world):
    name, lang, results = world
    report = Report(str(results), QUARTER, language=lang)
    for programme, cell in programme_cells().items():
        _, low, high = WORLDS[name][programme]
        expected = effect_reading(low, high)
        assert report.value(f"programme-{programme}-turnover-reading") == expected, programme
        text = run_cell(cell, report)
        heading, turnover, savings, score = [line for line in text.splitlines() if line.strip()]
        assert heading == messages.text(f"section.programme-{programme}", lang)
        assert READING_WORDS[lang][expected] in turnover, (programme, expected, turnover)
        assert not [w for other, w in READING_WORDS[lang].items() if other != expected and w in turnover], (programme, turnover)
        assert report.display(f"programme-{programme}-turnover-low") in turnover and report.display(f"programme-{programme}-turnover-high") in turnover
        assert report.display(f"programme-{programme}-exits-avoided") in savings and report.display(f"programme-{programme}-money-saved-high") in savings
        # The number of exits is given as an estimate before it is given at all (never "that is 40 exits avoided"
        # over an interval that runs from extra exits to exits avoided); only the reading, which needs the whole
        # interval above zero, states that exits were avoided.
        reading = report.display(f"programme-{programme}-savings-reading")
        before = savings[: savings.index(report.display(f"programme-{programme}-exits-avoided"))]
        assert reading in savings and ESTIMATE[lang].search(before), (programme, savings)
        assert report.display(f"programme-{programme}-score") in score
        # The pre-trend test is run on turnover: it is reported with the turnover effect, not after the survey score.
        pretrend = report.display(f"programme-{programme}-pretrend-reading")
        assert report.display(f"programme-{programme}-pretrend-p") in turnover and pretrend in turnover, (programme, turnover)
        assert pretrend not in score, (programme, score)
        if low <= 0 <= high:
            assert not CAUSAL[lang].search(text), (programme, CAUSAL[lang].search(text).group(0), text)
        # The event-study chart's title carries the same reading.
        spec = json.loads((results / "figures" / QUARTER / f"event-study-{programme}.vl.json").read_text(encoding="utf-8"))
        title = spec["usermeta"]["retain"]["title"]
        assert title == messages.text(f"fig.event-study.title-{expected}", lang, programme=messages.text(f"category.programme.{programme}", lang),
                                      effect=report.display(f"programme-{programme}-turnover"), low=report.display(f"programme-{programme}-turnover-low"),
                                      high=report.display(f"programme-{programme}-turnover-high"))  # fmt: skip
        if low <= 0 <= high:
            assert not CAUSAL[lang].search(title), title


def test_no_causal_word_anywhere_a_reading_can_be_printed():
    """Every phrase a programme reading can print, in every language, with the interval across zero or not."""
    for key in messages.catalogue():
        if key.startswith(("category.programme-", "fig.event-study.", "programme.", "programmes.")):
            for lang in messages.LANGUAGES:
                text = messages.catalogue()[key][lang]
                assert not CAUSAL[lang].search(text), (key, lang, text)


@pytest.mark.e2e
def test_demo_report_programme_sections_match_their_numbers(workflow_run):
    workdir, _, _ = workflow_run
    html = (workdir / f"results/reports/{QUARTER}/quarterly.html").read_text(encoding="utf-8")
    records = {r["id"]: r for r in json.loads((workdir / f"results/numbers/{QUARTER}.json").read_text(encoding="utf-8"))}
    for programme in PROGRAMMES:
        start = html.index(f'id="programme-{programme}"')
        end = min(i for i in (html.find('id="programme-', start + 10), html.find('id="data-quality"', start)) if i > 0)
        text = unescape(re.sub(r"<sup[^>]*>.*?</sup>|<[^>]+>", "", html[start:end]))
        reading = records[f"num:programme-{programme}-turnover-reading:{QUARTER}"]["value"]
        low = records[f"num:programme-{programme}-turnover-low:{QUARTER}"]["value"]
        high = records[f"num:programme-{programme}-turnover-high:{QUARTER}"]["value"]
        assert reading == effect_reading(low, high)
        assert READING_WORDS["en"][reading] in text, programme
        if low <= 0 <= high:
            assert not CAUSAL["en"].search(text), (programme, text)
        assert f"fig:event-study-{programme}:{QUARTER}" in text


def test_fixture_worlds_cover_both_cases_for_every_programme():
    cases = {p: {effect_reading(w[p][1], w[p][2]) == "no-clear-effect" for w in WORLDS.values()} for p in PROGRAMMES}
    assert all(c == {True, False} for c in cases.values()), cases
    assert Path(fx.__file__).is_file()
