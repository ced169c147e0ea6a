"""Canonical tables of a generated synthetic organisation, through the real ingest (no workflow run)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analysis import config as cfg
from analysis.ingest import add_spells, ingest_file, load_profile
from analysis.synth import SynthConfig, generate

KEY = b"tests-only-pseudonym-key"
SURVEY_PROFILES = {"wide": "qualtrics_wide", "long": "pulse_long_pl"}


def canonical_org(out: Path, synth: SynthConfig) -> dict[str, pl.DataFrame]:
    """Generate the exports into `out` and ingest them: employees, survey_items, survey_responses."""
    generate(synth, out)
    employees = add_spells(ingest_file(out / "hris_roster.csv", load_profile(cfg.profile_path("generic_roster")), key=KEY).table)
    items = ingest_file(out / "survey_items.csv", load_profile(cfg.profile_path("survey_items")), key=KEY).table
    parts = []
    for path in sorted((out / "surveys").iterdir()):
        profile = SURVEY_PROFILES["wide" if "_wide_" in path.name else "long"]
        parts.append(ingest_file(path, load_profile(cfg.profile_path(profile)), key=KEY, survey_items=items).table)
    responses = pl.concat(parts).sort("response_id", "item_id")
    return {"employees": employees, "survey_items": items, "survey_responses": responses}
