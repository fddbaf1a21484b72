"""The ingest ledger: one item per source file (and the current reference snapshot pointer).

Reference files have one item per put (``SourceObject.put_id``), with the attributes that order puts
(``key``, ``version_id``, ``sequencer``, ``uploaded_at``: ``accesswatch.reference.uploads``); the pointer
``REFERENCE#CURRENT`` holds, per kind, the current snapshot's ``digest``, snapshot ``key``, ``ingest_id``,
``source_key`` and the same ordering attributes, and the published index's ``snapshot_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key

from accesswatch.dal.paging import items

CURRENT_REFERENCE = "REFERENCE#CURRENT"
_POINTER_ATTEMPTS = 20


class FileStatus(StrEnum):
    INGESTING = "ingesting"
    AWAITING_REFERENCE = "awaiting_reference"  # partitioned; detection starts when reference data arrives
    DETECTING = "detecting"
    DETECTED = "detected"
    INGESTED = "ingested"  # read, nothing accepted to detect
    REJECTED = "rejected"  # the file as a whole could not be read; see reason
    FAILED = "failed"  # the system failed on it; see reason (alarmed)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Ledger:
    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self.table = (resource or boto3.resource("dynamodb")).Table(table_name)

    # ---------------------------------------------------------------- files
    @staticmethod
    def file_pk(ingest_id: str) -> str:
        return f"FILE#{ingest_id}"

    def start_file(self, ingest_id: str, **attrs: Any) -> None:
        stamp = now_iso()
        self.table.put_item(Item={
            "pk": self.file_pk(ingest_id), "ingest_id": ingest_id, "status": FileStatus.INGESTING.value,
            "started_at": stamp, "updated_at": stamp, **attrs,
        })

    def update_file(self, ingest_id: str, status: FileStatus, **attrs: Any) -> None:
        self.note_file(ingest_id, status=status.value, updated_at=now_iso(), **attrs)

    def note_file(self, ingest_id: str, **attrs: Any) -> None:
        """Set attributes of a file's item without touching its status."""
        names = {f"#{k}": k for k in attrs}
        self.table.update_item(
            Key={"pk": self.file_pk(ingest_id)},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in attrs),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={f":{k}": v for k, v in attrs.items()},
        )

    def get_file(self, ingest_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": self.file_pk(ingest_id)}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def files_with_status(self, status: FileStatus) -> list[dict[str, Any]]:
        found = items(self.table.query, IndexName="by_status", KeyConditionExpression=Key("status").eq(status.value))
        return [_plain(i) for i in found if str(i["pk"]).startswith("FILE#")]

    def all_files(self) -> list[dict[str, Any]]:
        return [_plain(i) for i in items(self.table.scan) if str(i["pk"]).startswith("FILE#")]

    # ---------------------------------------------------------------- reference
    def set_reference_kind(self, kind: str, entry: dict[str, Any],
                           newer: Callable[[dict[str, Any], dict[str, Any]], bool]) -> tuple[dict[str, Any], bool]:
        """Make ``entry`` (``digest``, ``key`` of the stored snapshot, and what orders it) the current snapshot
        of ``kind`` unless the current one is newer (``newer(entry, current)`` is false). Returns the whole
        pointer afterwards and whether ``entry`` is the current snapshot of its kind.

        Each kind is its own map entry, so snapshots of different kinds landing at once never overwrite
        each other; within a kind the write is a compare-and-set on the entry it replaces, so of two puts
        processed at once the newer one ends up current whichever writes last.
        """
        from botocore.exceptions import ClientError

        self.table.update_item(
            Key={"pk": CURRENT_REFERENCE},
            UpdateExpression="SET kinds = if_not_exists(kinds, :empty), #status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":empty": {}, ":status": "reference"},
        )
        names = {"#kinds": "kinds", "#kind": kind}
        for _ in range(_POINTER_ATTEMPTS):
            pointer = self.reference_pointer() or {}
            current = (pointer.get("kinds") or {}).get(kind)
            if current is not None and current.get("digest") == entry["digest"]:
                return pointer, True  # already current: this snapshot again (a re-delivery, a redrive)
            if current is not None and not newer(entry, current):
                return pointer, False
            values: dict[str, Any] = {":value": entry, ":now": now_iso()}
            if current is None:
                condition = "attribute_not_exists(#kinds.#kind)"
            else:
                condition = "#kinds.#kind.digest = :replaced"
                values[":replaced"] = current["digest"]
            try:
                result = self.table.update_item(
                    Key={"pk": CURRENT_REFERENCE},
                    UpdateExpression="SET #kinds.#kind = :value, updated_at = :now",
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue  # another snapshot of this kind changed the entry meanwhile: compare again
                raise
            return dict(_plain(result["Attributes"])), True
        raise RuntimeError(f"the current {kind} snapshot kept changing; not set after {_POINTER_ATTEMPTS} attempts")

    def reference_pointer(self) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": CURRENT_REFERENCE}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def publish_index(self, snapshot_id: str, built_from: dict[str, str]) -> bool:
        """Point at a new index, unless a newer snapshot of any kind arrived while it was built."""
        from botocore.exceptions import ClientError

        condition = " AND ".join(f"#kinds.#k{i}.digest = :d{i}" for i in range(len(built_from)))
        names = {"#kinds": "kinds", **{f"#k{i}": kind for i, kind in enumerate(built_from)}}
        values: dict[str, Any] = {f":d{i}": digest for i, digest in enumerate(built_from.values())}
        values[":sid"] = snapshot_id
        values[":now"] = now_iso()
        try:
            self.table.update_item(
                Key={"pk": CURRENT_REFERENCE},
                UpdateExpression="SET snapshot_id = :sid, index_published_at = :now",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def current_snapshot_id(self) -> str | None:
        pointer = self.reference_pointer()
        return pointer.get("snapshot_id") if pointer else None
