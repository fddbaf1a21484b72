"""Event identity: an event_id seen again with different content is a conflict, never a silent duplicate.

The contract says event_id is unique within its source system and that the same event may be delivered
twice. So a line whose event_id was already accepted is one of two things:

- the same event again (same instant, user, client, action, screen, site and session): a harmless
  duplicate, accepted as before (detection derives the same finding ids, so nothing doubles);
- another access under a reused id: a **conflict**. Accepting it would hide it: its findings would share
  the earlier event's finding ids and never be written. It is quarantined with a reason that names the
  event id and the file that holds the earlier event, and counted.

What is compared: the events of the same system and New Zealand date already in curated partitions
(another file's) and the lines of this file seen so far. The earlier partitions' event ids are read once per
date, when this file first reaches it, and kept only as 8-byte hashes with the partition that holds each; the
earlier events' content is read only from a partition holding an id this file repeats (rare: re-deliveries
and reused ids), once per file. So what a file holds of its date's earlier events is ~12 bytes an event, not
the events, and decoding a partition's ids alone is cheap: a day delivered in many files is not read whole
again for each (each partition object is still fetched whole: S3 has no column reads). Pure: the earlier
partitions come from a source the caller provides (services/ingest.py reads them from the curated bucket).
What this does not see (two files of one date ingested at the same moment, or an id reused on another date)
detection's check of the finding it would have hidden still catches (services/partition_detection.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl

# The content that makes two deliveries the same event (occurred_at is compared as the instant, so a CSV
# and a JSON Lines delivery of one event agree).
IDENTITY_COLUMNS = ("occurred_at_utc", "user_id", "client_id", "action", "screen", "site", "session_id")
KNOWN_COLUMNS = ("event_id", *IDENTITY_COLUMNS, "source_key", "line")


@dataclass(frozen=True)
class EarlierPartitions:
    """The curated partitions that hold a (system, NZ date)'s events already accepted, in the order of their keys
    (where two hold one id, the first one's content is the id's), and how to read given columns of one of them."""

    keys: Sequence[str]
    read: Callable[[str, Sequence[str]], pl.DataFrame]  # (partition key, columns) -> those columns of it


EarlierEvents = Callable[[str, date], EarlierPartitions]
"""(system, nz_date) -> that day's earlier partitions."""

_EMPTY_SUMMARY = {"event_id": pl.String, "_digest": pl.UInt64, "_key": pl.String, "_line": pl.Int64}


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


@dataclass
class _Day:
    """What a file knows of one (system, NZ date): the earlier partitions, their ids' hashes (``_hash``, ``_part``:
    an index into the keys), the content of each earlier partition it has needed (summarised, read once), and its
    own admitted events so far (summarised)."""

    partitions: EarlierPartitions
    hashes: pl.DataFrame
    here: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_EMPTY_SUMMARY))
    content: dict[int, pl.DataFrame] = field(default_factory=dict)


class KnownEvents:
    """The events already accepted, per (system, NZ date): the first content seen for each event_id."""

    def __init__(self, earlier: EarlierEvents) -> None:
        self._earlier = earlier
        self._days: dict[tuple[str, date], _Day] = {}

    def _day(self, system: str, day: date) -> _Day:
        """The day as this file knows it; the earlier partitions' ids read at its first call."""
        known = self._days.get((system, day))
        if known is None:
            partitions = self._earlier(system, day)
            hashes = [pl.DataFrame({"_hash": partitions.read(key, ["event_id"])["event_id"].hash()})
                      .with_columns(pl.lit(part, dtype=pl.UInt32).alias("_part"))
                      for part, key in enumerate(partitions.keys)]
            known = self._days[(system, day)] = _Day(partitions, pl.concat(hashes) if hashes else pl.DataFrame(
                schema={"_hash": pl.UInt64, "_part": pl.UInt32}))
        return known

    @staticmethod
    def _summarise(events: pl.DataFrame) -> pl.DataFrame:
        return (events.with_columns(content_digest())
                .select("event_id", "_digest", pl.col("source_key").alias("_key"), pl.col("line").alias("_line"))
                .unique("event_id", keep="first", maintain_order=True))

    def _earlier_of(self, known: _Day, ids: pl.Series) -> pl.DataFrame:
        """The earlier events (summarised, the first of each id) whose event_id is one of ``ids``: from the
        partitions that hold one of their hashes (a hash shared by two ids only costs a read), each read once."""
        parts = known.hashes.filter(pl.col("_hash").is_in(ids.hash().implode()))["_part"].unique().sort().to_list()
        if not parts:
            return pl.DataFrame(schema=_EMPTY_SUMMARY)
        for part in parts:
            if part not in known.content:
                known.content[part] = self._summarise(known.partitions.read(known.partitions.keys[part], KNOWN_COLUMNS))
        wanted = ids.unique().implode()
        found = pl.concat([known.content[part].filter(pl.col("event_id").is_in(wanted)) for part in parts])
        return found.unique("event_id", keep="first", maintain_order=True)

    def admit(self, system: str, day: date, events: pl.DataFrame) -> tuple[pl.DataFrame, list[Conflict]]:
        """Split ``events`` (one system, one date) into those admitted and the conflicts; remembers the
        admitted ones, so a later line of the same file is compared with them too."""
        if events.is_empty():
            return events, []
        day_known = self._day(system, day)
        known = pl.concat([self._earlier_of(day_known, events["event_id"]), day_known.here])
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
        day_known.here = pl.concat([day_known.here, first_here])
        return admitted, conflicts
