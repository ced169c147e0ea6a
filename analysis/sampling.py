"""A deterministic random sample of people, for the models that need their data in memory.

lifelines (time-varying Cox) and the bootstrap of Shapley R² refit on every row many times; at
100 000 employees and more that costs minutes to hours while the estimates stop changing long
before. Above a configured cap (`retention.max_people`, `drivers.max_people`) those models are
fitted on a random sample of people instead, and the tables say so (how many of how many).

The sample is a hash sample: each person's pseudonymised key is hashed (SHA-256, with the
configured seed in front) and the `max_people` people with the smallest hashes are kept. So it is
a simple random sample of exactly `max_people` people, the same on every rerun, on every machine
and whatever order the rows arrive in, and a person is either in with all their responses and
spells or out. Below the cap everyone is kept (nothing changes).
"""

from __future__ import annotations

import hashlib

import polars as pl


def sample_key(key: str, seed: int) -> int:
    """The stable 64-bit hash that orders people for the sample."""
    return int.from_bytes(hashlib.sha256(f"{seed}\x1f{key}".encode()).digest()[:8], "big")


def sample_people(keys: pl.Series, max_people: int | None, seed: int | None) -> pl.Series | None:
    """The sorted keys of the people kept, or None when there are no more than max_people (keep all).

    keys: one value per row or per person (duplicates and nulls are ignored).
    """
    people = keys.drop_nulls().unique().sort()
    if max_people is None or people.len() <= max_people:
        return None
    if seed is None:
        raise ValueError(f"{people.len()} people, more than max_people ({max_people}), and no seed for the sample")
    if max_people < 1:
        raise ValueError(f"max_people must be at least 1, got {max_people}")
    hashes = pl.Series("__hash", [sample_key(k, seed) for k in people.cast(pl.String).to_list()], dtype=pl.UInt64)
    ordered = pl.DataFrame({"key": people, "__hash": hashes}).sort("__hash", "key")
    return ordered.head(max_people).get_column("key").sort().rename(keys.name)


def keep_sampled(frame: pl.LazyFrame | pl.DataFrame, column: str, kept: pl.Series | None):
    """frame restricted to the rows whose `column` is a kept person (all rows when kept is None)."""
    if kept is None:
        return frame
    return frame.filter(pl.col(column).is_in(kept.implode()))
