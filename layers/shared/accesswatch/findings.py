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


def conflict_finding_id(system: str, event_id: str, rule: str, user_id: str, client_id: str,
                        occurred_at_utc: str) -> str:
    """The id of a finding whose event reused an ``event_id`` already judged with other content (a source
    fault the contract excludes): derived as ``finding_id`` but with the event's content beside its id, so
    the access is recorded under its own id instead of vanishing behind the earlier event's finding. The
    item names the earlier finding in ``event_conflict_of``."""
    content = FINDING_ID_SEPARATOR.join(("conflict", user_id, client_id, occurred_at_utc))
    return finding_id(system, f"{event_id}{FINDING_ID_SEPARATOR}{content}", rule)


def expected_finding_id(item: dict[str, object]) -> str:
    """The id a stored finding item must have: ``finding_id``, or ``conflict_finding_id`` for a conflict."""
    parts = [str(item.get(k) or "") for k in ("system", "event_id", "rule")]
    if item.get("event_conflict_of"):
        return conflict_finding_id(*parts, *(str(item.get(k) or "") for k in ("user_id", "client_id",
                                                                              "occurred_at_utc")))
    return finding_id(*parts)


def finding_ids(system: pl.Series, event_id: pl.Series, rule: pl.Series) -> pl.Series:
    """``finding_id`` over three aligned string series (nulls read as ``""``)."""
    ids = [
        finding_id(s or "", e or "", r or "")
        for s, e, r in zip(system.to_list(), event_id.to_list(), rule.to_list(), strict=True)
    ]
    return pl.Series("finding_id", ids, dtype=pl.String)
