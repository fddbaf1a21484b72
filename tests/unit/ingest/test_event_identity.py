"""Event identity (ingest/identity.py): an event_id seen again with other content is quarantined with a
reason naming the id and the earlier file; an identical re-delivery is a harmless duplicate."""

from __future__ import annotations

import json
from datetime import date

import polars as pl

from accesswatch.ingest.identity import KnownEvents
from accesswatch.ingest.pipeline import ingest_stream

DAY = date(2025, 3, 31)


def lines(*rows: tuple[str, str, str, str]) -> bytes:
    """(event_id, occurred_at, user_id, client_id) -> a JSON Lines file of views."""
    return "".join(json.dumps({"event_id": e, "occurred_at": t, "user_id": u, "client_id": c, "action": "view"}) + "\n"
                   for e, t, u, c in rows).encode()


def ingest(data: bytes, key: str, known: KnownEvents, stored: dict[str, pl.DataFrame]) -> object:
    def sink(system: str, day: date, frame: pl.DataFrame, seq: int) -> None:
        stored[f"{key}#{seq}"] = frame

    return ingest_stream([data], key=key, system="cms", partition_rows=1000, max_decompressed_bytes=10**8,
                         sink=sink, known=known)


def no_earlier(system: str, day: date) -> pl.DataFrame:
    return pl.DataFrame()


def test_an_event_id_reused_with_other_content_in_one_file_is_quarantined_and_a_repeat_is_not() -> None:
    stored: dict[str, pl.DataFrame] = {}
    data = lines(("e1", "2025-03-31T09:00:00+13:00", "u1", "c1"),
                 ("e2", "2025-03-31T09:01:00+13:00", "u1", "c2"),
                 ("e1", "2025-03-30T20:00:00Z", "u1", "c1"),   # the same instant, another notation: a repeat
                 ("e2", "2025-03-31T09:01:00+13:00", "u9", "c9"))  # another access under e2: a conflict
    report = ingest(data, "access-logs/cms/a.jsonl", KnownEvents(no_earlier), stored)
    assert (report.lines_read, report.accepted, report.quarantined, report.conflicts) == (4, 3, 1, 1)
    assert report.conserved
    [q] = report.quarantine
    assert q.line == 4
    assert q.reason == "event_id e2 was already accepted with different content (access-logs/cms/a.jsonl line 2)"
    assert json.loads(q.raw)["user_id"] == "u9"
    written = pl.concat(stored.values())
    assert sorted(written["line"].to_list()) == [1, 2, 3]


def test_an_event_id_of_another_file_of_the_same_date_is_compared_with_what_that_file_stored() -> None:
    stored: dict[str, pl.DataFrame] = {}
    first = ingest(lines(("e1", "2025-03-31T09:00:00+13:00", "u1", "c1")), "access-logs/cms/a.jsonl",
                   KnownEvents(no_earlier), stored)
    assert first.accepted == 1
    asked: list[tuple[str, date]] = []

    def earlier(system: str, day: date) -> pl.DataFrame:
        asked.append((system, day))
        return pl.concat(stored.values())

    again = lines(("e1", "2025-03-31T09:00:00+13:00", "u1", "c1"),   # re-delivered: fine
                  ("e3", "2025-03-31T10:00:00+13:00", "u2", "c3"))
    report = ingest(again, "access-logs/cms/b.jsonl", KnownEvents(earlier), stored)
    assert (report.accepted, report.conflicts) == (2, 0)

    reused = lines(("e1", "2025-03-31T09:00:00+13:00", "u7", "c7"))  # the probe: another user and client
    report = ingest(reused, "access-logs/cms/c.jsonl", KnownEvents(earlier), stored)
    assert (report.accepted, report.quarantined, report.conflicts) == (0, 1, 1)
    assert report.quarantine[0].reason.startswith("event_id e1 was already accepted with different content "
                                                  "(access-logs/cms/a.jsonl line 1)")
    assert asked == [("cms", DAY), ("cms", DAY)]  # once per file and date


def test_without_a_check_nothing_changes() -> None:
    data = lines(("e1", "2025-03-31T09:00:00+13:00", "u1", "c1"), ("e1", "2025-03-31T09:00:00+13:00", "u9", "c9"))
    report = ingest_stream([data], key="access-logs/cms/a.jsonl", system="cms", partition_rows=1000,
                           max_decompressed_bytes=10**8, sink=lambda *a: None)
    assert (report.accepted, report.conflicts) == (2, 0)
