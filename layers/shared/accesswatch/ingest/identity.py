"""Event identity: an event_id seen again with different content is a conflict, never a silent duplicate.

The contract says event_id is unique within its source system and that the same event may be delivered
twice. So a line whose event_id was already accepted is one of two things:

- the same event again (same instant, user, client, action, screen, site and session): a harmless
  duplicate, accepted as before (detection derives the same finding ids, so nothing doubles);
- another access under a reused id: a **conflict**. Accepting it would hide it: its findings would share
  the earlier event's finding ids and never be written. It is quarantined with a reason that names the
  event id and the file that holds the earlier event, and counted.

What is compared: the events of the same system and New Zealand date already in curated partitions
(another file's, read once per date when this file first reaches it) and the lines of this file seen so
far. Pure: the earlier events come from a loader the caller provides (services/ingest.py reads them from
the curated bucket). What this does not see (two files of one date ingested at the same moment, or an id
reused on another date) detection's check of the finding it would have hidden still catches
(services/partition_detection.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl

# The content that makes two deliveries the same event (occurred_at is compared as the instant, so a CSV
# and a JSON Lines delivery of one event agree).
IDENTITY_COLUMNS = ("occurred_at_utc", "user_id", "client_id", "action", "screen", "site", "session_id")
KNOWN_COLUMNS = ("event_id", *IDENTITY_COLUMNS, "source_key", "line")

EarlierEvents = Callable[[str, date], pl.DataFrame]
"""(system, nz_date) -> the events of that day already in curated partitions (at least KNOWN_COLUMNS)."""


def content_digest() -> pl.Expr:
    """The event's content (IDENTITY_COLUMNS) as one hash, column ``_digest``."""
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("\x00") for c in IDENTITY_COLUMNS],
                         separator="\x1f").hash().alias("_digest")


# What a quarantined conflicting line keeps for investigators (its parsed fields: the raw text is gone by
# the time partitions are emitted).
RAW_FIELDS = ("event_id", "occurred_at", "user_id", "client_id", "action", "screen", "site", "session_id")


@dataclass(frozen=True)
class Conflict:
    line: int
    event_id: str
    earlier_key: str
    earlier_line: int | None
    raw: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the fields holding a value on the line (from ``raw``; never a value)."""
        try:
            parsed = json.loads(self.raw) if self.raw else {}
        except ValueError:
            return ()
        return tuple(k for k in RAW_FIELDS if parsed.get(k) is not None)

    @property
    def reason(self) -> str:
        where = f"{self.earlier_key} line {self.earlier_line}" if self.earlier_line is not None else self.earlier_key
        return f"event_id {self.event_id} was already accepted with different content ({where})"


class KnownEvents:
    """The events already accepted, per (system, NZ date): the first content seen for each event_id."""

    def __init__(self, earlier: EarlierEvents) -> None:
        self._earlier = earlier
        self._known: dict[tuple[str, date], pl.DataFrame] = {}

    def _day(self, system: str, day: date) -> pl.DataFrame:
        known = self._known.get((system, day))
        if known is None:
            earlier = self._earlier(system, day)
            known = self._summarise(earlier) if earlier.height else pl.DataFrame(
                schema={"event_id": pl.String, "_digest": pl.UInt64, "_key": pl.String, "_line": pl.Int64})
            self._known[(system, day)] = known
        return known

    @staticmethod
    def _summarise(events: pl.DataFrame) -> pl.DataFrame:
        return (events.with_columns(content_digest())
                .select("event_id", "_digest", pl.col("source_key").alias("_key"), pl.col("line").alias("_line"))
                .unique("event_id", keep="first", maintain_order=True))

    def admit(self, system: str, day: date, events: pl.DataFrame) -> tuple[pl.DataFrame, list[Conflict]]:
        """Split ``events`` (one system, one date) into those admitted and the conflicts; remembers the
        admitted ones, so a later line of the same file is compared with them too."""
        if events.is_empty():
            return events, []
        known = self._day(system, day)
        incoming = events.with_columns(content_digest())
        # Within the events themselves the first line of an id sets its content; ids already known keep theirs.
        first_here = self._summarise(events).join(known.select("event_id"), on="event_id", how="anti")
        reference = pl.concat([known, first_here])
        judged = incoming.join(reference.rename({"_digest": "_ref_digest"}), on="event_id", how="left",
                               maintain_order="left")
        clash = pl.col("_ref_digest").is_not_null() & (pl.col("_digest") != pl.col("_ref_digest"))
        conflicts = [
            Conflict(int(row["line"]), str(row["event_id"]), str(row["_key"]),
                     None if row["_line"] is None else int(row["_line"]),
                     json.dumps({f: row[f] for f in RAW_FIELDS}, ensure_ascii=False))
            for row in judged.filter(clash).select("line", "_key", "_line", *RAW_FIELDS).iter_rows(named=True)
        ]
        admitted = judged.filter(~clash).select(events.columns)
        self._known[(system, day)] = reference
        return admitted, conflicts
