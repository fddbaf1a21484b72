"""A client's footprint from a deployment: events (partitions or Athena), staff, assignments, findings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import polars as pl

from accesswatch.dal.athena import AthenaQueries
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.dal.partitions import PartitionStore
from accesswatch.dal.reporting import FindingQueries
from accesswatch.footprint import EVENT_COLUMNS, build_footprint, footprint_sql
from accesswatch.reference.index import ReferenceIndex
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
    return build_footprint(events, staff=staff if staff is not None else pl.DataFrame({"user_id": []},
                                                                                         schema={"user_id": pl.String}),
                           assignments=assignments.filter(pl.col("client_id") == client_id),
                           findings=findings, with_names=with_names)
