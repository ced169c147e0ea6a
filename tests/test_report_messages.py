"""The message catalogue and number formats shared by charts and report text."""

import re
from pathlib import Path

import pytest
import yaml

from analysis import messages
from conftest import REPO


def test_every_message_has_every_language_with_the_same_placeholders():
    catalogue = messages.catalogue()
    assert len(catalogue) > 100
    for key, entry in catalogue.items():
        assert set(entry) == set(messages.LANGUAGES), f"{key}: languages {sorted(entry)}"
        english = messages.placeholders(entry["en"])
        for lang in messages.LANGUAGES:
            assert messages.placeholders(entry[lang]) == english, f"{key} [{lang}]"


def test_config_schema_offers_exactly_the_catalogue_languages():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text(encoding="utf-8"))
    language = schema["properties"]["report"]["properties"]["language"]
    assert language["enum"] == list(messages.LANGUAGES)
    assert language["default"] == messages.DEFAULT_LANGUAGE


def test_every_message_key_used_in_code_and_templates_exists():
    """Literal keys passed to t()/say()/text() in the analysis code and the .qmd templates."""
    used = set()
    sources = [*(REPO / "analysis").glob("*.py"), *(REPO / "reports").glob("*.qmd")]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\b(?:t|say|text)\(\s*["']([a-z][a-z0-9_.-]+\.[a-z0-9_.-]+)["']""", text))
        used |= {f"section.{key}" for key in re.findall(r"""section\(\s*["']([a-z0-9-]+)["']""", text)}
        used |= set(re.findall(r"""["'](kpi\.[a-z-]+)["']""", text))
    missing = sorted(k for k in used if not messages.has(k))
    assert not missing, missing
    assert len(used) > 60


@pytest.mark.parametrize(
    ("value", "fmt", "en", "fr"),
    [
        (0.26564, {"kind": "pct", "digits": 1}, "26.6%", "26,6\u202f%"),
        (36219, {"kind": "int"}, "36,219", "36\u00a0219"),
        (-0.4, {"kind": "score", "digits": 0}, "0", "0"),
        (-10.2, {"kind": "score", "digits": 0}, "\u221210", "\u221210"),
        (2.57, {"kind": "points", "digits": 1}, "+2.6 pts", "+2,6\u00a0pts"),
        (-1.2, {"kind": "points", "digits": 0}, "\u22121 pt", "\u22121\u00a0pt"),
        (1.04, {"kind": "points", "digits": 1}, "+1.0 pts", "+1,0\u00a0pts"),
        (2.0, {"kind": "points", "digits": 0}, "+2 pts", "+2\u00a0pts"),
        (450000.0, {"kind": "money", "currency": "USD"}, "USD 450,000", "450\u00a0000\u00a0USD"),
        (-30000.0, {"kind": "signed_money", "currency": "USD"}, "\u2212USD 30,000", "\u221230\u00a0000\u00a0USD"),
        (None, {"kind": "pct", "digits": 1}, "n/a", "n.d."),
        ("inside", {"kind": "category", "group": "band"}, "inside the contact-centre range", "dans la fourchette des centres de contact"),
        (1234.5, {"kind": "decimal", "digits": 1}, "1,234.5", "1\u00a0234,5"),
        (0.17864, {"kind": "pvalue"}, "0.179", "0,179"),
        (0.00008, {"kind": "pvalue"}, "< 0.001", "< 0,001"),
        (0.17864, {"kind": "pvalue", "relation": True}, "= 0.179", "= 0,179"),
        (0.00008, {"kind": "pvalue", "relation": True}, "below 0.001", "inférieur à 0,001"),
    ],
)
def test_number_formats_per_language(value, fmt, en, fr):
    assert messages.fmt_value(value, fmt, "en") == en
    assert messages.fmt_value(value, fmt, "fr") == fr


def test_french_numbers_match_the_charts_d3_locale():
    """Text and chart axes group and mark per cent the same way (vl-convert's fr-FR locale)."""
    locale = messages.vega_locale("fr")
    assert locale["thousands"] == messages.NBSP and locale["decimal"] == ","
    assert locale["percent"] == messages.NNBSP + "%"


def test_missing_placeholder_and_unknown_key_are_clear_errors():
    with pytest.raises(messages.MessageError, match="needs rate"):
        messages.text("fig.turnover-trend.title", "en", quarter="2026Q3", band="x")
    with pytest.raises(messages.MessageError, match="no message 'nope.nope'"):
        messages.text("nope.nope", "en")
    with pytest.raises(ValueError, match="unknown report language 'de'"):
        messages.text("section.summary", "de")


def test_catalogue_is_valid_yaml_without_duplicate_keys():
    seen = []

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        keys = [loader.construct_object(k) for k, _ in node.value]
        if node.start_mark.line == 0 or node.start_mark.column == 0:
            seen.extend(keys)
        return loader.construct_mapping(node, deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    yaml.load(Path(messages.CATALOGUE).read_text(encoding="utf-8"), Loader=Loader)
    top = [k for k in seen if isinstance(k, str) and "." in k]
    assert len(top) == len(set(top)), sorted({k for k in top if top.count(k) > 1})


# Counts that can be 0 or 1 are put after a label ("Hires: 1"), never before a plural noun or verb ("1 people were
# hired", "1 ont été licenciées"): sentences with counts must read right for every count.
COUNT_SENTENCES = {
    "summary.turnover": ("voluntary", "involuntary"),
    "turnover.summary": ("hires", "early", "early12"),
    "turnover.teams": ("above", "shown", "hidden"),
    "drivers.heatmap": ("hidden",),
    "programme.savings": ("exits",),
}
PLURAL_AFTER_ONE = {
    "en": re.compile(r"(?<![\d.,])1 (people|persons|were|are|have|cells|teams|exits|fewer)\b"),
    "fr": re.compile(r"(?<![\d.,])1 (personnes|ont|sont|cases|équipes|départs)\b"),
}


@pytest.mark.parametrize("key", sorted(COUNT_SENTENCES))
@pytest.mark.parametrize("lang", messages.LANGUAGES)
def test_sentences_with_counts_read_right_for_one(key, lang):
    template = messages.catalogue()[key][lang]
    fields = set(re.findall(r"\{(\w+)\}", template))
    assert set(COUNT_SENTENCES[key]) <= fields, (key, fields)
    text = template.format(**{f: ("1" if f in COUNT_SENTENCES[key] else "X") for f in fields})
    assert not PLURAL_AFTER_ONE[lang].search(text), (key, lang, text)
