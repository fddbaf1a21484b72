"""A client's footprint from a deployment: events (partitions or Athena), staff, assignments, findings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import polars as pl

from accesswatch.contract import ReferenceKind
from accesswatch.dal.athena import AthenaQueries
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.dal.partitions import PartitionStore
from accesswatch.dal.reporting import FindingQueries
from accesswatch.footprint import (
    EVENT_COLUMNS,
    ClientIdCheck,
    FootprintAnswer,
    FootprintMeta,
    build_footprint,
    check_client_id,
    footprint_sql,
    log_coverage,
)
from accesswatch.reference.index import ReferenceIndex
from accesswatch.services.reference import RawSnapshotUnavailable, read_raw_snapshot
from accesswatch.services.report import staff_snapshot

EARLIEST = date(2000, 1, 1)  # the Glue table's partition projection starts here


class EventSource(Protocol):
    def client_events(self, client_id: str, start: date, end: date,
                      systems: Sequence[str] | None = None) -> pl.DataFrame: ...


class PartitionEvents:
    """Polars over the curated partitions of the days asked for (downloaded, optionally cached)."""

    def __init__(self, partitions: PartitionStore) -> None:
        self.partitions = partitions

    def client_events(self, client_id: str, start: date, end: date,
                      systems: Sequence[str] | None = None) -> pl.DataFrame:
        objects = self.partitions.list(start, end, systems)
        return self.partitions.read(objects, EVENT_COLUMNS, pl.col("client_id") == client_id)


class AthenaEvents:
    """The same question as one Athena query over the Glue table (partition projection prunes days)."""

    def __init__(self, queries: AthenaQueries, table: str) -> None:
        self.queries = queries
        self.table = table

    def client_events(self, client_id: str, start: date, end: date,
                      systems: Sequence[str] | None = None) -> pl.DataFrame:
        sql, parameters = footprint_sql(self.queries.database, self.table, client_id, start, end, systems)
        return self.queries.run(sql, parameters)


@dataclass
class FootprintSources:
    events: EventSource
    findings: FindingQueries
    ledger: Ledger
    store: ObjectStore
    curated_bucket: str
    partitions: PartitionStore | None = None  # for what the logs cover (listing keys only)
    known_systems: tuple[str, ...] = field(default=())  # systems the deployment accepts logs from
    raw_bucket: str | None = None  # staff names, read from the current raw staff snapshot when asked for


# Staff names are read from a raw snapshot the reference function accepted; this only bounds a damaged one.
RAW_SNAPSHOT_MAX_BYTES = 4096 * 1024 * 1024
NAME_FIELDS = ("user_id", "family_name", "given_names")


def staff_names(sources: FootprintSources) -> pl.DataFrame | None:
    """user_id, family_name, given_names of the current staff snapshot, read from its raw upload now (the
    curated copy holds no names: reference/minimise.py); None before any staff snapshot arrived."""
    pointer = sources.ledger.reference_pointer() or {}
    entry = (pointer.get("kinds") or {}).get("staff")
    if not entry:
        return None
    if not (entry.get("source_bucket") or sources.raw_bucket):
        raise RawSnapshotUnavailable("staff names come from the raw staff snapshot: its bucket is not known")
    return read_raw_snapshot(sources.store, entry, ReferenceKind.STAFF, default_bucket=sources.raw_bucket or "",
                             max_decompressed_bytes=RAW_SNAPSHOT_MAX_BYTES, columns=NAME_FIELDS)


CLIENT_DETAIL_FIELDS = ("client_id", "family_name", "given_names", "date_of_birth", "address", "flags")


def client_details(store: ObjectStore, ledger: Ledger, raw_bucket: str, client_id: str) -> dict[str, str] | None:
    """One client's personal details (name, date of birth, address, flags) from the current clients snapshot's
    raw upload (the curated copy holds ids only); None when the snapshot has no such client or there is no
    snapshot. For the console's deliberate "show personal details", which is recorded as an access."""
    pointer = ledger.reference_pointer() or {}
    entry = (pointer.get("kinds") or {}).get("clients")
    if not entry:
        return None
    frame = read_raw_snapshot(store, entry, ReferenceKind.CLIENTS, default_bucket=raw_bucket,
                              max_decompressed_bytes=RAW_SNAPSHOT_MAX_BYTES, columns=CLIENT_DETAIL_FIELDS)
    rows = frame.filter(pl.col("client_id") == client_id).head(1).to_dicts()
    return {k: "" if v is None else str(v) for k, v in rows[0].items()} if rows else None


def known_ids(ledger: Ledger, store: ObjectStore, bucket: str, kind: str, column: str) -> set[str] | None:
    """One id column of the current ``kind`` snapshot (``clients``/``client_id``, ``staff``/``user_id``), or
    None before any snapshot of that kind arrived."""
    pointer = ledger.reference_pointer() or {}
    current = (pointer.get("kinds") or {}).get(kind)
    if not current or not current.get("key"):
        return None
    frame = store.get_parquet(bucket, current["key"], [column])
    return {str(v) for v in frame[column].drop_nulls().to_list()}


def known_client_ids(ledger: Ledger, store: ObjectStore, bucket: str) -> set[str] | None:
    """The client ids of the current clients snapshot (the id column only), or None before any arrived."""
    return known_ids(ledger, store, bucket, "clients", "client_id")


def known_user_ids(ledger: Ledger, store: ObjectStore, bucket: str) -> set[str] | None:
    """The user ids of the current staff snapshot, or None before any arrived."""
    return known_ids(ledger, store, bucket, "staff", "user_id")


def check_client(sources: FootprintSources, client_id: str) -> ClientIdCheck:
    return check_client_id(client_id, known_client_ids(sources.ledger, sources.store, sources.curated_bucket))


def log_days(partitions: PartitionStore, systems: Sequence[str] | None = None) -> dict[str, set[date]]:
    """The NZ dates with a curated partition, per system (a key listing; nothing is downloaded)."""
    days: dict[str, set[date]] = defaultdict(set)
    for obj in partitions.list(EARLIEST, date(9999, 12, 31), systems):
        days[obj.system].add(obj.nz_date)
    return dict(days)


def held_log_days(sources: FootprintSources, systems: Sequence[str] | None = None) -> dict[str, set[date]]:
    """``log_days`` of the deployment's curated bucket."""
    return log_days(sources.partitions or PartitionStore(sources.store.s3, sources.curated_bucket), systems)


def footprint_meta(sources: FootprintSources, client: ClientIdCheck, start: date, end: date,
                   held: dict[str, set[date]], *, systems: Sequence[str] | None = None,
                   notes: Sequence[str] = ()) -> FootprintMeta:
    """The period asked for, each system's coverage in it (gaps included; the systems asked for, else every
    system the deployment accepts, are listed even without logs) and the client check."""
    expected = list(systems) if systems else list(sources.known_systems)
    if systems:
        held = {s: d for s, d in held.items() if s in systems}
    return FootprintMeta(client, start, end, tuple(log_coverage(held, start, end, expected)), tuple(notes))


def current_index(ledger: Ledger, store: ObjectStore, bucket: str) -> ReferenceIndex | None:
    snapshot_id = ledger.current_snapshot_id()
    if not snapshot_id:
        return None
    return ReferenceIndex.from_bytes(store.get_bytes(bucket, CuratedLayout.reference_index(snapshot_id)))


def client_footprint(sources: FootprintSources, client_id: str, start: date, end: date, *,
                     systems: Sequence[str] | None = None, with_names: bool = False) -> pl.DataFrame:
    events = sources.events.client_events(client_id, start, end, systems)
    staff = staff_snapshot(sources.ledger, sources.store, sources.curated_bucket)
    index = current_index(sources.ledger, sources.store, sources.curated_bucket)
    assignments = (index.assignments if index is not None else
                   pl.DataFrame(schema={"user_id": pl.String, "client_id": pl.String, "valid_from": pl.Date,
                                        "valid_to": pl.Date}))
    findings = [f for f in sources.findings.for_client(client_id)]
    if with_names and staff is not None:
        names = staff_names(sources)
        if names is not None:
            names = names.filter(pl.col("user_id").is_not_null()).unique("user_id", keep="first")
            staff = staff.drop([c for c in NAME_FIELDS[1:] if c in staff.columns]).join(
                names, on="user_id", how="left")
    return build_footprint(events, staff=staff if staff is not None else pl.DataFrame({"user_id": []},
                                                                                         schema={"user_id": pl.String}),
                           assignments=assignments.filter(pl.col("client_id") == client_id),
                           findings=findings, with_names=with_names)


# --------------------------------------------------------------------------- a footprint as asked for
class PeriodError(ValueError):
    """A period that cannot be answered (it ends before it starts)."""


class UnknownClient(ValueError):
    """The client id is not in the current clients snapshot (or there is none to check it against); ``check``
    carries the near misses (ids only)."""

    def __init__(self, check: ClientIdCheck) -> None:
        super().__init__(check.problem() or f"client {check.client_id!r} is unknown")
        self.check = check


def asked_period(held: Mapping[str, Any], start: date | None, end: date | None,
                 today: date) -> tuple[date, date, list[str]]:
    """The period a footprint or a staff history covers: ``--to`` clipped to today, a missing ``--from`` from the
    first day any logs are held; with a note for each; PeriodError if it ends before it starts."""
    notes: list[str] = []
    if end is None:
        end = today
    elif end > today:
        notes.append(f"--to {end} is after today ({today}): the period is clipped to {today}")
        end = today
    if start is None:
        firsts = [min(d) for d in held.values() if d]
        start = min(min(firsts), end) if firsts else end
        notes.append(f"no --from: the period starts on the first day any logs are held ({start})")
    if end < start:
        raise PeriodError(f"the period ends ({end}) before it starts ({start})")
    return start, end, notes


FootprintReader = Callable[..., pl.DataFrame]


def answer_footprint(sources: FootprintSources, client_id: str, start: date | None, end: date | None, *,
                     today: date, allow_unknown: bool = False, systems: Sequence[str] | None = None,
                     with_names: bool = False, read: FootprintReader = client_footprint) -> FootprintAnswer:
    """A client's footprint with its coverage. The id is checked first: unknown (or no clients snapshot to
    check it against) raises ``UnknownClient`` with its near misses, unless ``allow_unknown``, when the
    footprint says so. The period follows ``asked_period`` (``PeriodError``). ``read`` is ``client_footprint``
    or a caller's wrapper of it (same arguments)."""
    client = check_client(sources, client_id)
    if client.problem() and not allow_unknown:
        raise UnknownClient(client)
    held = held_log_days(sources, systems)
    start, end, notes = asked_period(held, start, end, today)
    frame = read(sources, client_id, start, end, systems=systems, with_names=with_names)
    meta = footprint_meta(sources, client, start, end, held, systems=systems, notes=notes)
    return FootprintAnswer(frame, meta)
