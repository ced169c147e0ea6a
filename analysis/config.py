"""Load and validate the Retain configuration (JSON schema, additionalProperties: false)."""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from analysis.periods import parse_quarter, quarters_between

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
PROFILE_DIR = REPO_ROOT / "config" / "profiles"


class ConfigError(ValueError):
    """A user-caused configuration problem; the message names the file and the key."""


def _where(error: jsonschema.ValidationError) -> str:
    parts = []
    for part in error.absolute_path:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".") or "(top level)"


def _explain(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        hints = []
        for key in unknown:
            near = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        return "; ".join(hints) + f"; allowed keys: {', '.join(allowed)}"
    return error.message


def validate(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Validate against the schema and the cross-field rules; return the config unchanged."""
    schema = yaml.safe_load(CONFIG_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{source}: {_where(e)}: {_explain(e)}" for e in errors]
        raise ConfigError("invalid configuration\n  " + "\n  ".join(lines))
    period = config["period"]
    try:
        quarters_between(period["start"], period["end"])
    except ValueError as exc:
        raise ConfigError(f"{source}: period: {exc}") from None
    bench = config["benchmarks"]
    if bench["contact_centre_low"] > bench["contact_centre_high"]:
        raise ConfigError(f"{source}: benchmarks: contact_centre_low is above contact_centre_high")
    for quarter in config["report"]["quarters"]:
        if parse_quarter(quarter) > parse_quarter(period["end"]) or parse_quarter(quarter) < parse_quarter(
            period["start"]
        ):
            raise ConfigError(f"{source}: report.quarters: {quarter} is outside the period {period['start']}..{period['end']}")
    return config


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return validate(config, str(path))


def report_quarters(config: dict[str, Any]) -> list[str]:
    """The latest quarter (period.end) plus any listed in report.quarters, sorted."""
    return sorted({config["period"]["end"], *config["report"]["quarters"]})


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def profile_path(name: str) -> Path:
    """A profile is a name in config/profiles/ or a path to a YAML file."""
    candidate = Path(name)
    if candidate.suffix in {".yaml", ".yml"}:
        return candidate
    # The run directory's own profiles first, then the ones shipped with Retain.
    local = Path("config/profiles") / f"{name}.yaml"
    path = local if local.exists() else PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted({p.stem for d in (Path("config/profiles"), PROFILE_DIR) for p in d.glob("*.yaml")})
        near = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ConfigError(f"unknown export profile {name!r}{hint}; known profiles: {', '.join(known)}")
    return path
