"""The words and number formats of generated text, per report language.

Every sentence, chart title, heading and label a report generates comes from one catalogue,
`analysis/messages.yaml`: one entry per message ID, with a text per language and `{name}`
placeholders (the same placeholders in every language; tests/test_report_messages.py checks).
Numbers are formatted here too, so a chart title and the sentence beside it print a value the
same way:

    >>> fmt_value(0.2656, {"kind": "pct", "digits": 1}, "fr")
    '26,6\u202f%'

Formats (a number record's `format`): int, signed_int, pct (share → per cent), points
(percentage points, signed), score (signed, e.g. eNPS), decimal, pvalue (three decimals, "< 0.001"; with `relation`, for "p {p}" in a sentence: "= 0.179", "below 0.001"), money, signed_money (optional
`round`: to the nearest multiple),
category (a catalogue key: `category.<group>.<value>`), text (printed as is).
"""

from __future__ import annotations

import math
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
CATALOGUE = Path(__file__).with_name("messages.yaml")

MINUS = "\u2212"  # a real minus sign, not a hyphen
NBSP = "\u00a0"  # French thousands separator (as d3's fr-FR locale, so charts and text agree)
NNBSP = "\u202f"  # French space before % (as d3's fr-FR locale)

# d3-format locales for Vega (vl-convert names), per report language.
VEGA_LOCALES = {"en": "en-US", "fr": "fr-FR"}


class MessageError(KeyError):
    """A message ID or a placeholder the catalogue does not have."""


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise MessageError(f"{CATALOGUE}: expected a mapping of message IDs")
    return data


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    return lang


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def has(key: str) -> bool:
    return key in catalogue()


def text(key: str, lang: str, /, **values: Any) -> str:
    """The message `key` in `lang` with its `{placeholders}` filled in."""
    entry = catalogue().get(key)
    if entry is None:
        raise MessageError(f"no message {key!r} in {CATALOGUE.name}")
    template = entry.get(check_language(lang))
    if template is None:
        raise MessageError(f"message {key!r} has no {lang!r} text in {CATALOGUE.name}")
    missing = placeholders(template) - set(values)
    if missing:
        raise MessageError(f"message {key!r} needs {', '.join(sorted(missing))}")
    return template.format(**values)


def category(group: str, value: str | None, lang: str) -> str:
    """The phrase for a category value, e.g. category('band', 'inside', 'en')."""
    return text(f"category.{group}.{'unknown' if value is None else value}", lang)


# ------------------------------------------------------------------ numbers


def _group(digits: str, lang: str) -> str:
    sep = "," if lang == "en" else NBSP
    head, _, tail = digits.partition(".")
    out = ""
    while len(head) > 3:
        out = sep + head[-3:] + out
        head = head[:-3]
    out = head + out
    if tail:
        out += ("." if lang == "en" else ",") + tail
    return out


def fmt_number(value: float, digits: int, lang: str, signed: bool = False) -> str:
    """Grouped, rounded to `digits`; signed adds '+' (and never prints '-0')."""
    rounded = round(float(value), digits)
    if rounded == 0:
        rounded = 0.0
    body = _group(f"{abs(rounded):.{digits}f}", lang)
    if rounded < 0:
        return MINUS + body
    return ("+" + body) if signed and rounded > 0 else body


def fmt_value(value: Any, fmt: dict[str, Any], lang: str) -> str:
    """A value as printed in `lang`, by its format spec; 'n/a' for missing values."""
    kind = fmt["kind"]
    if kind == "text":
        return "n/a" if value is None else str(value)
    if kind == "category":
        return category(fmt["group"], value, lang)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return text("value.missing", lang)
    digits = fmt.get("digits", 0)
    if kind == "int":
        return fmt_number(value, 0, lang)
    if kind == "signed_int":
        return fmt_number(value, 0, lang, signed=True)
    if kind == "decimal":
        return fmt_number(value, digits, lang)
    if kind == "pvalue":  # three decimals, "< 0.001" below that (never "0.000"); relation (after "p"): "= 0.179" / "below 0.001"
        if value < 0.001:
            floor = fmt_number(0.001, 3, lang)
            return text("value.p-below", lang, p=floor) if fmt.get("relation") else "< " + floor
        return ("= " if fmt.get("relation") else "") + fmt_number(value, 3, lang)
    if kind == "pct":
        number = fmt_number(value * 100, digits, lang)
        return number + ("%" if lang == "en" else NNBSP + "%")
    if kind == "points":  # "−1 pt", "+2 pts", "+1.0 pts" (a whole one is singular in both languages)
        number = fmt_number(value, digits, lang, signed=True)
        unit = "pt" if digits == 0 and abs(round(float(value))) == 1 else "pts"
        return number + (" " if lang == "en" else NBSP) + unit
    if kind == "score":
        return fmt_number(value, digits, lang, signed=True)
    if kind in ("money", "signed_money"):
        step = fmt.get("round")  # e.g. 1000: an interval bound shown to the nearest thousand
        number = fmt_number(round(value / step) * step if step else value, 0, lang, signed=kind == "signed_money")
        currency = fmt.get("currency", "")
        if lang == "en":
            sign = number[0] if number[0] in "+" + MINUS else ""
            return f"{sign}{currency} {number[len(sign):]}".strip()
        return f"{number}{NBSP}{currency}".strip()
    raise ValueError(f"unknown number format {kind!r}")


def vega_locale(lang: str) -> dict[str, Any]:
    """The d3-format locale Vega uses for axis labels and tooltips in `lang`."""
    import vl_convert as vlc

    return vlc.get_format_locale(VEGA_LOCALES[check_language(lang)])
