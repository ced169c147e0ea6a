"""Keyed pseudonyms for identifiers: HMAC-SHA256 with a key from the environment.

The key never comes from a file in the repository and is never written to an output.
Only synthetic demo data may fall back to the published demo key below.
"""

from __future__ import annotations

import hmac
import os

import polars as pl

# Published on purpose: it protects nothing and is only accepted for synthetic data.
DEMO_KEY = "retain-synthetic-demo-key-not-secret"


class PseudonymKeyError(RuntimeError):
    pass


MIN_KEY_LENGTH = 16


def resolve_key(env_var: str, synthetic: bool) -> bytes:
    """The pseudonymisation key from the environment. Real data needs a real key: not empty, not the
    published demo key, at least 16 characters. Only synthetic data may fall back to the demo key."""
    value = os.environ.get(env_var, "").strip()
    if value and not synthetic:
        if value == DEMO_KEY:
            raise PseudonymKeyError(f"environment variable {env_var} holds the published demo key, which protects nothing; set a secret key of your own")
        if len(value) < MIN_KEY_LENGTH:
            raise PseudonymKeyError(
                f"environment variable {env_var} is only {len(value)} characters long; use at least {MIN_KEY_LENGTH} "
                f"(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
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
    return "k" + hmac.digest(key, raw_id.encode("utf-8"), "sha256").hex()[:20]


def pseudonymise(frame: pl.LazyFrame, column: str, key: bytes, target: str = "employee_key") -> pl.LazyFrame:
    """Replace `column` by its pseudonym in `target`; HMAC is computed once per distinct id.
    Ids are compared as exported: '00012345' and '12345' are two people (leading zeros are kept)."""
    if not key:
        raise PseudonymKeyError("empty pseudonymisation key")
    distinct = frame.select(pl.col(column).drop_nulls().unique()).collect().to_series()
    mapping = pl.LazyFrame(
        {column: distinct, target: [pseudonym(key, raw) for raw in distinct.to_list()]},
        schema={column: pl.String, target: pl.String},
    )
    return frame.join(mapping, on=column, how="left", maintain_order="left").drop(column)
