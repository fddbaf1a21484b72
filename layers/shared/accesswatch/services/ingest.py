"""Ingesting one access-log object: validate, quarantine, partition, then hand it to detection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from accesswatch.config import IngestSettings
from accesswatch.dal.executions import Executions
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.ingest.identity import EarlierPartitions, KnownEvents
from accesswatch.ingest.pipeline import (
    FileReport,
    QuarantinedLine,
    ingest_stream,
    quarantine_jsonl,
    quarantine_raw_jsonl,
)
from accesswatch.models import SourceObject, system_of


@dataclass
class IngestResult:
    ingest_id: str
    key: str
    status: FileStatus
    lines_read: int
    accepted: int
    quarantined: int
    partitions: int
    reason: str | None = None
    execution_arn: str | None = None
    conflicts: int = 0  # of the quarantined lines: event ids reused with other content (ingest/identity.py)

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, FileStatus) else v) for k, v in self.__dict__.items()}


def ingest_object(source: SourceObject, *, settings: IngestSettings, store: ObjectStore, ledger: Ledger,
                  executions: Executions) -> IngestResult:
    ingest_id = source.ingest_id
    system = system_of(source.key)
    ledger.start_file(ingest_id, bucket=source.bucket, key=source.key, etag=source.etag,
                      version_id=source.version_id or "", system=system or "", kind="access-log")
    if system is None or system not in settings.known_systems:
        reason = ("key is not under access-logs/<system>/" if system is None
                  else f"unknown system prefix (known: {', '.join(settings.known_systems)})")
        report = FileReport(key=source.key, rejected_reason=reason, quarantine=[QuarantinedLine(None, reason)])
        return _finish(source, report, ingest_id, system or "unknown", [], settings, store, ledger, executions)

    partitions: list[dict[str, Any]] = []

    def sink(system_name: str, day: date, frame: pl.DataFrame, seq: int) -> None:
        key = CuratedLayout.partition(system_name, day, ingest_id, seq)
        size = store.put_parquet(settings.curated_bucket, key, frame)
        partitions.append({"bucket": settings.curated_bucket, "key": key, "rows": frame.height,
                           "system": system_name, "nz_date": day.isoformat(), "bytes": size})

    report = ingest_stream(
        store.stream(source.bucket, source.key, source.version_id),
        key=source.key, system=system, partition_rows=settings.partition_rows,
        max_decompressed_bytes=settings.max_decompressed_bytes, sink=sink,
        known=KnownEvents(earlier_events(store, settings.curated_bucket, ingest_id)),
    )
    return _finish(source, report, ingest_id, system, partitions, settings, store, ledger, executions)


def earlier_events(store: ObjectStore, bucket: str, ingest_id: str) -> Callable[[str, date], EarlierPartitions]:
    """The curated partitions other files put in a (system, NZ date) (this file's own, from an earlier attempt,
    are left out: they are about to be written again), each read from the bucket when asked for."""
    def locate(system: str, day: date) -> EarlierPartitions:
        prefix = CuratedLayout.partition(system, day, ingest_id, 0).rsplit("/", 1)[0] + "/"
        keys = [key for key in sorted(store.keys(bucket, prefix)) if not key[len(prefix):].startswith(f"{ingest_id}-")]
        return EarlierPartitions(keys, lambda key, columns: store.get_parquet(bucket, key, columns))
    return locate


def _finish(source: SourceObject, report: FileReport, ingest_id: str, system: str, partitions: list[dict[str, Any]],
            settings: IngestSettings, store: ObjectStore, ledger: Ledger, executions: Executions) -> IngestResult:
    counts: dict[str, Any] = {"lines_read": report.lines_read, "accepted": report.accepted,
                              "quarantined": report.quarantined, "partitions": len(partitions),
                              "conflicts": report.conflicts}
    if report.quarantine:
        write_quarantine(store, settings.curated_bucket, system, ingest_id, source.key, report.quarantine,
                         raw_text=settings.quarantine_raw_text)
    if report.rejected_reason is not None:
        ledger.update_file(ingest_id, FileStatus.REJECTED, reason=report.rejected_reason, **counts)
        return IngestResult(ingest_id, source.key, FileStatus.REJECTED, 0, 0, 0, 0, report.rejected_reason)
    if not partitions:
        ledger.update_file(ingest_id, FileStatus.INGESTED, **counts)
        return IngestResult(ingest_id, source.key, FileStatus.INGESTED, **counts)
    manifest_key = CuratedLayout.manifest(ingest_id)
    store.put_json(settings.curated_bucket, manifest_key, partitions)
    snapshot_id = ledger.current_snapshot_id()
    if snapshot_id is None:
        ledger.update_file(ingest_id, FileStatus.AWAITING_REFERENCE, manifest_key=manifest_key, **counts)
        return IngestResult(ingest_id, source.key, FileStatus.AWAITING_REFERENCE, **counts)
    # Marked before the start: the execution's last step records its outcome in the same item, and a
    # write after the start could land later and turn "detected" back into "detecting".
    ledger.update_file(ingest_id, FileStatus.DETECTING, manifest_key=manifest_key, snapshot_id=snapshot_id,
                       **counts)
    arn = start_detection(ingest_id, manifest_key, snapshot_id, settings.curated_bucket,
                          settings.detection_state_machine_arn, executions)
    ledger.note_file(ingest_id, execution_arn=arn)
    return IngestResult(ingest_id, source.key, FileStatus.DETECTING, execution_arn=arn, **counts)


def write_quarantine(store: ObjectStore, bucket: str, system: str, ingest_id: str, key: str,
                     lines: list[QuarantinedLine], *, raw_text: bool) -> None:
    """A file's quarantine records (file, line, reason, field names: never a value) under ``quarantine/``;
    with ``raw_text`` (``QUARANTINE_RAW_TEXT``, default off) the lines' raw text too, under the stricter
    ``quarantine-raw/`` prefix. Neither is ever logged."""
    store.put_bytes(bucket, CuratedLayout.quarantine(system, ingest_id), quarantine_jsonl(key, lines),
                    "application/x-ndjson")
    raw = quarantine_raw_jsonl(key, lines) if raw_text else b""
    if raw:
        store.put_bytes(bucket, CuratedLayout.quarantine_raw(system, ingest_id), raw, "application/x-ndjson")


def start_detection(ingest_id: str, manifest_key: str, snapshot_id: str, curated_bucket: str,
                    state_machine_arn: str, executions: Executions) -> str:
    """One detection execution per (file, reference snapshot): named so that it starts once."""
    return executions.start(state_machine_arn, f"{ingest_id[:40]}-{snapshot_id[:24]}", {
        "ingest_id": ingest_id,
        "snapshot_id": snapshot_id,
        "manifest": {"bucket": curated_bucket, "key": manifest_key},
    })
