"""A reference snapshot lands: validate it, keep it, and compile the versioned reference index.

The raw bucket keeps each snapshot whole; the curated copy keeps only the columns read back from it
(``reference.minimise``: no names, addresses, dates of birth or columns outside the contract), and the
snapshot's report lists what it left out. The index is compiled once both staff and clients are present,
from the newest snapshot of every kind (staff and clients read again from their raw upload, at its version:
the pair rules need the values the curated copies lack); its id is a hash of the snapshots it was built from. Files that were waiting for reference
data start detection against it as soon as it is published.

Every put of a reference file is a snapshot of its own (``SourceObject.put_id``: the object's version
id, else the event's sequencer), so putting back an earlier file makes it current again, while a
notification delivered again is the same put, processed once. The newest put of a kind is current
whatever order the notifications arrive in (``reference.uploads``): a put older than the current
one is validated and kept, and its ledger item says which newer put superseded it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from accesswatch.config import ReferenceSettings
from accesswatch.contract import REFERENCE_FIELDS, ReferenceKind
from accesswatch.dal.executions import Executions
from accesswatch.dal.ledger import FileStatus, Ledger
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.ingest.pipeline import QuarantinedLine, read_table
from accesswatch.ingest.records import LINE_COLUMN
from accesswatch.ingest.source import FileRejected
from accesswatch.models import SourceObject, reference_kind_of
from accesswatch.reference.index import build_index
from accesswatch.reference.minimise import COMPILED_FROM_RAW, curated_copy
from accesswatch.reference.uploads import Upload, decidable, is_newer
from accesswatch.reference.uploads import newest as newest_of
from accesswatch.reference.validate import cross_validate, validate_snapshot
from accesswatch.rules import CATALOG
from accesswatch.services.ingest import start_detection, write_quarantine

REQUIRED_KINDS = (ReferenceKind.STAFF, ReferenceKind.CLIENTS)


@dataclass
class ReferenceResult:
    key: str
    kind: str | None
    status: str  # accepted | rejected
    rows: int = 0
    lines_read: int = 0
    quarantined: int = 0
    reason: str | None = None
    snapshot_id: str | None = None
    detections_started: list[str] = field(default_factory=list)
    ingest_id: str | None = None  # this put's ledger item
    current: bool = False  # whether this put is the current snapshot of its kind
    superseded_by: str | None = None  # the newer put of the kind that is current instead (its ledger item)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def upload_of(source: SourceObject, earlier: dict[str, Any] | None) -> Upload:
    """What orders this put. A redriven notification (rebuilt from the ledger) lacks the sequencer and
    event time: the item its first attempt wrote keeps them."""
    before = Upload.from_item(earlier or {})
    return Upload(source.key, source.version_id or before.version_id, source.sequencer or before.sequencer,
                  source.event_time or before.uploaded_at)


def newer_entry(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether one entry of the current-reference pointer (``Ledger.set_reference_kind``) is a later put."""
    return is_newer(Upload.from_item(mine, "source_key"), Upload.from_item(theirs, "source_key"))


def ingest_reference(source: SourceObject, *, settings: ReferenceSettings, store: ObjectStore, ledger: Ledger,
                     executions: Executions) -> ReferenceResult:
    ingest_id = source.put_id
    name = reference_kind_of(source.key)
    upload = upload_of(source, ledger.get_file(ingest_id))
    ledger.start_file(ingest_id, bucket=source.bucket, key=source.key, etag=source.etag, kind="reference",
                      reference_kind=name or "", **upload.as_item())
    try:
        kind = ReferenceKind(name or "")
    except ValueError:
        return _reject(ledger, ingest_id, source.key, name,
                       f"unknown reference snapshot name (expected one of {', '.join(k.value for k in ReferenceKind)})")
    try:
        table = read_table(store.stream(source.bucket, source.key, source.version_id), key=source.key,
                           fields=REFERENCE_FIELDS[kind], max_decompressed_bytes=settings.max_decompressed_bytes)
    except FileRejected as rejected:
        return _reject(ledger, ingest_id, source.key, kind.value, rejected.reason)
    if table.rejected:
        # Unreadable lines are kept with their line number and reason (their text only where configured).
        write_quarantine(store, settings.curated_bucket, "reference", ingest_id, source.key,
                         [QuarantinedLine(r.line, r.reason, r.raw) for r in table.rejected],
                         raw_text=settings.quarantine_raw_text)
    rows = table.rows.drop(LINE_COLUMN) if LINE_COLUMN in table.rows.columns else table.rows
    report = validate_snapshot(kind, rows, absent=table.absent)
    digest = ingest_id[:16]
    curated = curated_copy(kind, rows)
    store.put_json(settings.curated_bucket, CuratedLayout.reference_report(kind.value, digest), {
        "key": source.key, "lines_read": table.lines_read,
        "unreadable_lines": [{"line": r.line, "reason": r.reason} for r in table.rejected],
        "validation": report.model_dump(mode="json"),
        "curated": curated.summary(),
    })
    if not report.usable:
        return _reject(ledger, ingest_id, source.key, kind.value,
                       "; ".join(i.message for i in report.errors) or "snapshot unusable")
    # The curated copy keeps only what is read back from it (reference/minimise.py); the raw snapshot is whole.
    snapshot_key = CuratedLayout.reference_snapshot(kind.value, digest)
    store.put_parquet(settings.curated_bucket, snapshot_key, curated.frame)
    ledger.update_file(ingest_id, FileStatus.INGESTED, lines_read=table.lines_read, accepted=rows.height,
                       quarantined=len(table.rejected), reference_digest=digest,
                       validation_errors=len(report.errors), validation_warnings=len(report.warnings))
    entry = {"digest": digest, "key": snapshot_key, "ingest_id": ingest_id, "source_key": source.key,
             "source_bucket": source.bucket, **upload.as_item()}
    pointer, current = ledger.set_reference_kind(kind.value, entry, newer=newer_entry)
    result = ReferenceResult(source.key, kind.value, "accepted", rows.height, table.lines_read, len(table.rejected),
                             ingest_id=ingest_id, current=current)
    kinds: dict[str, dict[str, str]] = pointer.get("kinds", {})
    if not current:
        # An older put delivered after a newer one: kept, never current (its index is not compiled).
        newer_put = kinds[kind.value]
        result.superseded_by = str(newer_put.get("ingest_id") or newer_put["digest"])
        ledger.note_file(ingest_id, superseded_by=result.superseded_by)
        return result
    if all(k.value in kinds for k in REQUIRED_KINDS):
        result.snapshot_id = compile_index(kinds, settings=settings, store=store, ledger=ledger,
                                           loaded={kind.value: (digest, rows)})
        if result.snapshot_id is not None:
            result.detections_started = release_waiting_files(result.snapshot_id, settings=settings,
                                                              ledger=ledger, executions=executions)
    return result


def snapshot_id_of(kinds: dict[str, dict[str, str]]) -> str:
    basis = "|".join(f"{k}:{kinds[k]['digest']}" for k in sorted(kinds))
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:20]


def compile_index(kinds: dict[str, dict[str, str]], *, settings: ReferenceSettings, store: ObjectStore,
                  ledger: Ledger, loaded: dict[str, tuple[str, pl.DataFrame]] | None = None) -> str | None:
    """Build (or reuse) the index of these snapshots and publish it; None if newer data overtook it.

    Kinds whose curated copy is minimised (``COMPILED_FROM_RAW``: staff, clients) are read from their raw
    snapshot, the others from their curated copy. ``loaded``: kind -> (digest, rows) already read in this
    invocation (the put being processed), used instead of reading its snapshot again."""
    snapshot_id = snapshot_id_of(kinds)
    index_key = CuratedLayout.reference_index(snapshot_id)
    if not store.exists(settings.curated_bucket, index_key):
        frames: dict[ReferenceKind, pl.DataFrame] = {}
        for name, entry in kinds.items():
            kind = ReferenceKind(name)
            digest, rows = (loaded or {}).get(name, ("", None))
            if rows is not None and digest == entry["digest"]:
                frames[kind] = rows
            elif kind in COMPILED_FROM_RAW:
                frames[kind] = read_raw_snapshot(store, entry, kind, default_bucket=settings.raw_bucket,
                                                 max_decompressed_bytes=settings.max_decompressed_bytes)
            else:
                frames[kind] = store.get_parquet(settings.curated_bucket, entry["key"])
        store.put_json(settings.curated_bucket, f"reference/reports/cross/{snapshot_id}.json",
                       cross_validate(frames).model_dump(mode="json"))
        store.put_bytes(settings.curated_bucket, index_key, build_index(frames, snapshot_id, rules=CATALOG).to_bytes())
    published = ledger.publish_index(snapshot_id, {k: v["digest"] for k, v in kinds.items()})
    return snapshot_id if published else None


class RawSnapshotUnavailable(RuntimeError):
    """The raw snapshot a pointer entry names no longer reads (or names none); ids and keys only."""


def read_raw_snapshot(store: ObjectStore, entry: dict[str, Any], kind: ReferenceKind, *, default_bucket: str,
                      max_decompressed_bytes: int, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """The rows of the raw upload a pointer entry names (``source_bucket``/``source_key``, at its
    ``version_id``), read exactly as the reference function read them when it accepted the put: every
    column as text, unreadable lines left out. ``columns``: only those (contract columns; missing -> null)."""
    bucket = str(entry.get("source_bucket") or default_bucket)
    key = str(entry.get("source_key") or "")
    version = str(entry.get("version_id") or "") or None
    if not key:
        raise RawSnapshotUnavailable(f"the current {kind.value} snapshot {entry.get('digest')} names no raw object")
    try:
        table = read_table(store.stream(bucket, key, version), key=key, fields=REFERENCE_FIELDS[kind],
                           max_decompressed_bytes=max_decompressed_bytes)
    except FileRejected as rejected:
        raise RawSnapshotUnavailable(f"the raw {kind.value} snapshot {key} (version {version}) no longer reads: "
                                     f"{rejected.reason}") from None
    rows = table.rows.drop(LINE_COLUMN) if LINE_COLUMN in table.rows.columns else table.rows
    return rows.select(columns) if columns is not None else rows


def release_waiting_files(snapshot_id: str, *, settings: ReferenceSettings, ledger: Ledger,
                          executions: Executions) -> list[str]:
    started = []
    for item in ledger.files_with_status(FileStatus.AWAITING_REFERENCE):
        # Marked before the start (see services.ingest): the execution's outcome must be the last write.
        ledger.update_file(item["ingest_id"], FileStatus.DETECTING, snapshot_id=snapshot_id)
        arn = start_detection(item["ingest_id"], item["manifest_key"], snapshot_id, settings.curated_bucket,
                              settings.detection_state_machine_arn, executions)
        ledger.note_file(item["ingest_id"], execution_arn=arn)
        started.append(item["ingest_id"])
    return started


def _reject(ledger: Ledger, ingest_id: str, key: str, kind: str | None, reason: str) -> ReferenceResult:
    ledger.update_file(ingest_id, FileStatus.REJECTED, reason=reason)
    return ReferenceResult(key, kind, "rejected", reason=reason, ingest_id=ingest_id)


def stale_reference(pointer: dict[str, Any] | None, files: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(subject, detail) for each way the current reference is not the newest: for ``accesswatch verify``.

    For every kind with an accepted upload (ledger file items of ``kind`` "reference", status
    ``ingested``), the pointer's entry for that kind must be the newest of them (``reference.uploads``:
    sequencer within a key, else upload time; a tie that cannot be decided is not a problem); and once
    staff and clients are present, the published index must be the one built from the pointer's entries.
    """
    problems: list[tuple[str, str]] = []
    kinds: dict[str, dict[str, Any]] = dict((pointer or {}).get("kinds") or {})
    accepted: dict[str, list[dict[str, Any]]] = {}
    for item in files:
        if item.get("kind") == "reference" and item.get("status") == FileStatus.INGESTED.value \
                and item.get("reference_kind"):
            accepted.setdefault(str(item["reference_kind"]), []).append(item)
    for kind, items in sorted(accepted.items()):
        items.sort(key=lambda i: str(i.get("ingest_id")))
        newest = newest_of((Upload.from_item(i), i) for i in items)
        if newest is None:
            continue
        entry = kinds.get(kind)
        if entry is None:
            problems.append((f"reference {kind}", f"upload {newest['ingest_id']} was accepted but no snapshot of "
                                                  "this kind is current"))
            continue
        current = next((i for i in items if i.get("reference_digest") == entry.get("digest")), None)
        if current is None:
            problems.append((f"reference {kind}", f"the current snapshot {entry.get('digest')} is no accepted "
                                                  "upload of this kind"))
        elif current is not newest and decidable(Upload.from_item(newest), Upload.from_item(current)):
            problems.append((f"reference {kind}", f"the current snapshot is upload {current['ingest_id']} "
                                                  f"({_when(current)}), but upload {newest['ingest_id']} "
                                                  f"({_when(newest)}) is newer"))
    if all(k.value in kinds for k in REQUIRED_KINDS):
        expected = snapshot_id_of(kinds)
        if (pointer or {}).get("snapshot_id") != expected:
            problems.append(("reference index", f"the published index is {(pointer or {}).get('snapshot_id')}, "
                                                f"not {expected}, the one built from the current snapshots"))
    return problems


def _when(item: dict[str, Any]) -> str:
    upload = Upload.from_item(item)
    return ", ".join(f"{k} {v}" for k, v in (("key", upload.key), ("uploaded", upload.uploaded_at),
                                             ("sequencer", upload.sequencer)) if v)
