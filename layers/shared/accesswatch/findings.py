"""Finding identity: a replay of the same event never yields a second finding."""

from __future__ import annotations

import hashlib
from typing import Final

import polars as pl

FINDING_ID_SEPARATOR: Final = "\x1f"


def finding_id(system: str, event_id: str, rule: str) -> str:
    """sha256 of ``system \\x1f event_id \\x1f rule`` (UTF-8), first 32 hex digits."""
    key = FINDING_ID_SEPARATOR.join((system, event_id, rule)).encode("utf-8")
    return hashlib.sha256(key).hexdigest()[:32]


def finding_ids(system: pl.Series, event_id: pl.Series, rule: pl.Series) -> pl.Series:
    """``finding_id`` over three aligned string series (nulls read as ``""``)."""
    ids = [
        finding_id(s or "", e or "", r or "")
        for s, e, r in zip(system.to_list(), event_id.to_list(), rule.to_list(), strict=True)
    ]
    return pl.Series("finding_id", ids, dtype=pl.String)
