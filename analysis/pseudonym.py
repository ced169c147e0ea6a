"""Keyed pseudonyms for identifiers: HMAC-SHA256 with a key from the environment.

The key never comes from a file in the repository and is never written to an output.
Only synthetic demo data may fall back to the published demo key below.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import polars as pl

# Published on purpose: it protects nothing and is only accepted for synthetic data.
DEMO_KEY = "retain-synthetic-demo-key-not-secret"


class PseudonymKeyError(RuntimeError):
    pass


def resolve_key(env_var: str, synthetic: bool) -> bytes:
    value = os.environ.get(env_var, "")
    if value:
        return value.encode("utf-8")
    if synthetic:
        return DEMO_KEY.encode("utf-8")
    raise PseudonymKeyError(
        f"environment variable {env_var} is not set: it must hold the secret key used to pseudonymise "
        f"employee identifiers (HMAC-SHA256). Set it, e.g. `export {env_var}=$(python -c 'import secrets; "
        f"print(secrets.token_hex(32))')`, and keep it out of the repository. Only configs with "
        f"`synthetic: true` may run without it."
    )


def pseudonym(key: bytes, raw_id: str) -> str:
    """'k' + first 20 hex digits (80 bits) of HMAC-SHA256(key, id)."""
    return "k" + hmac.new(key, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()[:20]


def pseudonymise(frame: pl.LazyFrame, column: str, key: bytes, target: str = "employee_key") -> pl.LazyFrame:
    """Replace `column` by its pseudonym in `target`; HMAC is computed once per distinct id."""
    distinct = frame.select(pl.col(column).drop_nulls().unique()).collect().to_series()
    mapping = pl.LazyFrame(
        {column: distinct, target: [pseudonym(key, raw) for raw in distinct.to_list()]},
        schema={column: pl.String, target: pl.String},
    )
    return frame.join(mapping, on=column, how="left", maintain_order="left").drop(column)
