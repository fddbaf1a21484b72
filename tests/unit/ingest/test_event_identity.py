"""Event identity (ingest/identity.py): an event_id seen again with other content is quarantined with a
reason naming the id and the earlier file; an identical re-delivery is a harmless duplicate."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from accesswatch.ingest.identity import KNOWN_COLUMNS, EarlierPartitions, KnownEvents
from accesswatch.ingest.pipeline import ingest_stream

DAY = date(2025, 3, 31)


def lines(*rows: tuple[str, str, str, str]) -> bytes:
    """(event_id, occurred_at, user_id, client_id) -> a JSON Lines file of views."""
    return "".join(json.dumps({"event_id": e, "occurred_at": t, "user_id": u, "client_id": c, "action": "view"}) + "\n"
                   for e, t, u, c in rows).encode()


def ingest(data: bytes, key: str, known: KnownEvents, stored: dict[str, pl.DataFrame], rows: int = 1000) -> object:
    def sink(system: str, day: date, frame: pl.DataFrame, seq: int) -> None:
        stored[f"{key}#{seq}"] = frame

    return ingest_stream([data], key=key, system="cms", partition_rows=rows, max_decompressed_bytes=10**8,
                         sink=sink, known=known)


def no_earlier(system: str, day: date) -> EarlierPartitions:
    return EarlierPartitions([], lambda key, columns: pl.DataFrame())


class Partitions:
    """Curated partitions in memory (as the sink stored them), and every read of them: (key, columns)."""

    def __init__(self, stored: dict[str, pl.DataFrame]) -> None:
        self.stored, self.reads = stored, list[tuple[str, tuple[str, ...]]]()
        self.asked: list[tuple[str, date]] = []

    def __call__(self, system: str, day: date) -> EarlierPartitions:
        self.asked.append((system, day))
        return EarlierPartitions(sorted(self.stored), self.read)

    def read(self, key: str, columns: object) -> pl.DataFrame:
        self.reads.append((key, tuple(columns)))  # type: ignore[call-overload]
        return self.stored[key].select(columns)


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
    earlier = Partitions(stored)

    again = lines(("e1", "2025-03-31T09:00:00+13:00", "u1", "c1"),   # re-delivered: fine
                  ("e3", "2025-03-31T10:00:00+13:00", "u2", "c3"))
    report = ingest(again, "access-logs/cms/b.jsonl", KnownEvents(earlier), stored)
    assert (report.accepted, report.conflicts) == (2, 0)

    reused = lines(("e1", "2025-03-31T09:00:00+13:00", "u7", "c7"))  # the probe: another user and client
    report = ingest(reused, "access-logs/cms/c.jsonl", KnownEvents(earlier), stored)
    assert (report.accepted, report.quarantined, report.conflicts) == (0, 1, 1)
    assert report.quarantine[0].reason.startswith("event_id e1 was already accepted with different content "
                                                  "(access-logs/cms/a.jsonl line 1)")
    assert earlier.asked == [("cms", DAY), ("cms", DAY)]  # once per file and date


def test_without_a_check_nothing_changes() -> None:
    data = lines(("e1", "2025-03-31T09:00:00+13:00", "u1", "c1"), ("e1", "2025-03-31T09:00:00+13:00", "u9", "c9"))
    report = ingest_stream([data], key="access-logs/cms/a.jsonl", system="cms", partition_rows=1000,
                           max_decompressed_bytes=10**8, sink=lambda *a: None)
    assert (report.accepted, report.conflicts) == (2, 0)


def test_a_file_reads_its_dates_earlier_ids_once_and_their_content_only_where_it_repeats_one() -> None:
    """Many files of one date: each reads the earlier partitions' event ids once, and the content (the identity
    columns) only of the partition that holds an id it repeats, not the whole date again."""
    stored: dict[str, pl.DataFrame] = {}
    for n in range(4):
        rows = [(f"f{n}-{i}", f"2025-03-31T09:{i:02d}:00+13:00", f"u{i}", f"c{n}") for i in range(30)]
        report = ingest(lines(*rows), f"access-logs/cms/{n}.jsonl", KnownEvents(no_earlier), stored)
        assert report.accepted == 30
    assert len(stored) == 4
    earlier = Partitions(dict(stored))
    fresh = [(f"g-{i}", "2025-03-31T11:00:00+13:00", "u1", "c1") for i in range(5)]
    repeat = ("f2-7", "2025-03-31T09:07:00+13:00", "u7", "c2")  # the same event again: fine
    reused = ("f2-8", "2025-03-31T09:08:00+13:00", "u99", "c2")  # another access under f2-8: a conflict
    report = ingest(lines(*fresh, repeat, reused), "access-logs/cms/9.jsonl", KnownEvents(earlier), stored)
    assert (report.accepted, report.conflicts) == (6, 1)
    assert report.quarantine[0].reason == ("event_id f2-8 was already accepted with different content "
                                           "(access-logs/cms/2.jsonl line 9)")
    ids_read = [key for key, columns in earlier.reads if columns == ("event_id",)]
    content_read = [key for key, columns in earlier.reads if columns == KNOWN_COLUMNS]
    assert sorted(ids_read) == sorted(k for k in stored if not k.startswith("access-logs/cms/9"))
    assert content_read == ["access-logs/cms/2.jsonl#0"]
    assert len(earlier.reads) == 5


def test_an_id_whose_hash_is_shared_is_still_judged_by_the_id_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every id hashed alike: every earlier partition is read for content, and only an equal id is compared."""
    stored: dict[str, pl.DataFrame] = {}
    ingest(lines(("e1", "2025-03-31T09:00:00+13:00", "u1", "c1")), "access-logs/cms/a.jsonl", KnownEvents(no_earlier),
           stored)
    monkeypatch.setattr(pl.Series, "hash", lambda self, *a, **k: pl.Series(self.name, [7] * len(self), pl.UInt64))
    earlier = Partitions(dict(stored))
    report = ingest(lines(("e2", "2025-03-31T09:00:00+13:00", "u7", "c7"),   # another id, the same hash
                          ("e1", "2025-03-31T09:00:00+13:00", "u8", "c8")),  # e1 reused: the conflict
                    "access-logs/cms/b.jsonl", KnownEvents(earlier), stored)
    assert (report.accepted, report.conflicts) == (1, 1)
    assert report.quarantine[0].reason.startswith("event_id e1 was already accepted")
    assert [columns for _, columns in earlier.reads] == [("event_id",), KNOWN_COLUMNS]


def test_a_redelivery_in_another_order_reads_each_earlier_partition_once() -> None:
    """Every chunk of the re-delivery repeats ids of every earlier partition: each is still read once."""
    stored: dict[str, pl.DataFrame] = {}
    rows = [(f"e{i:02d}", f"2025-03-31T09:{i:02d}:00+13:00", f"u{i}", "c1") for i in range(50)]
    ingest(lines(*rows), "access-logs/cms/a.jsonl", KnownEvents(no_earlier), stored, rows=10)
    assert len(stored) == 5
    earlier = Partitions(dict(stored))
    shuffled = sorted(rows, key=lambda row: (int(row[0][1:]) % 5, row[0]))  # each ten from all five partitions
    report = ingest(lines(*shuffled), "access-logs/cms/b.jsonl", KnownEvents(earlier), stored, rows=10)
    assert (report.accepted, report.conflicts) == (50, 0)
    content_read = [key for key, columns in earlier.reads if columns == KNOWN_COLUMNS]
    assert sorted(content_read) == sorted(earlier.stored)
