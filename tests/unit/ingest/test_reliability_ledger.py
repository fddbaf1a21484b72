"""The ledger's last word on a file is the detection outcome, however fast detection finishes.

On AWS a detection execution can finish (and record ``detected``) before the function that started
it writes its own update; that update must not turn ``detected`` back into ``detecting``.
"""

from __future__ import annotations

from typing import Any

from accesswatch.config import IngestSettings, ReferenceSettings
from accesswatch.dal.ledger import FileStatus
from accesswatch.models import SourceObject
from accesswatch.services.ingest import ingest_object
from accesswatch.services.reference import release_waiting_files

LOG = b"event_id,occurred_at,user_id,client_id,action\ne1,2025-04-01T09:00:00Z,u1,000001,view\n"
STORAGE = {"raw_bucket": "raw", "curated_bucket": "cur", "findings_table": "f", "cases_table": "c",
           "ledger_table": "l", "idempotency_table": "i"}


class MemoryLedger:
    def __init__(self, snapshot_id: str | None) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.snapshot_id = snapshot_id

    def start_file(self, ingest_id: str, **attrs: Any) -> None:
        self.items[ingest_id] = {"ingest_id": ingest_id, "status": FileStatus.INGESTING.value, **attrs}

    def update_file(self, ingest_id: str, status: FileStatus, **attrs: Any) -> None:
        self.items.setdefault(ingest_id, {"ingest_id": ingest_id}).update(status=status.value, **attrs)

    def note_file(self, ingest_id: str, **attrs: Any) -> None:
        self.items.setdefault(ingest_id, {"ingest_id": ingest_id}).update(**attrs)

    def current_snapshot_id(self) -> str | None:
        return self.snapshot_id

    def files_with_status(self, status: FileStatus) -> list[dict[str, Any]]:
        return [dict(i) for i in self.items.values() if i.get("status") == status.value]


class InstantExecutions:
    """Starting an execution runs it to the end at once: its outcome step writes the ledger."""

    def __init__(self, ledger: MemoryLedger) -> None:
        self.ledger = ledger
        self.started: list[str] = []

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        self.started.append(name)
        self.ledger.update_file(payload["ingest_id"], FileStatus.DETECTED, events_detected=1)
        return f"{state_machine_arn}:{name}"


class MemoryStore:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def stream(self, bucket: str, key: str, version_id: str | None = None) -> Any:
        yield self.objects[key]

    def put_parquet(self, bucket: str, key: str, frame: Any) -> int:
        self.objects[key] = b"parquet"
        return 7

    def keys(self, bucket: str, prefix: str) -> Any:  # no other file's partitions: nothing to compare with
        return iter(())

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "") -> None:
        self.objects[key] = data

    def put_json(self, bucket: str, key: str, value: Any) -> None:
        self.objects[key] = b"json"


def test_ingest_leaves_a_fast_detection_outcome_in_place():
    ledger = MemoryLedger("S1")
    executions = InstantExecutions(ledger)
    settings = IngestSettings(**STORAGE, known_systems=("cms",), partition_rows=100, max_decompressed_mib=10,
                              detection_state_machine_arn="arn:sm")
    source = SourceObject("raw", "access-logs/cms/f.csv", "etag1")
    result = ingest_object(source, settings=settings, store=MemoryStore({source.key: LOG}),  # type: ignore[arg-type]
                           ledger=ledger, executions=executions)  # type: ignore[arg-type]
    assert executions.started and result.execution_arn
    item = ledger.items[source.ingest_id]
    assert item["status"] == "detected", item
    assert item["execution_arn"] == result.execution_arn and item["accepted"] == 1


def test_release_of_waiting_files_leaves_a_fast_detection_outcome_in_place():
    ledger = MemoryLedger(None)
    ledger.update_file("w1", FileStatus.AWAITING_REFERENCE, manifest_key="manifests/w1.json")
    executions = InstantExecutions(ledger)
    settings = ReferenceSettings(**STORAGE, max_decompressed_mib=10, detection_state_machine_arn="arn:sm")
    assert release_waiting_files("S2", settings=settings, ledger=ledger, executions=executions) == ["w1"]  # type: ignore[arg-type]
    assert ledger.items["w1"]["status"] == "detected"
    assert ledger.items["w1"]["snapshot_id"] == "S2" and ledger.items["w1"]["execution_arn"]


def test_redrive_names_a_file_that_failed_before_its_ledger_item_was_written():
    from accesswatch.services.redrive import Redrive

    class Refuses:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"nothing to do, yet {name} was called")

    ledger = MemoryLedger(None)
    ledger.items["x"] = {"pk": "FILE#x", "status": "failed", "reason": "KeyError while ingesting"}
    service = Redrive(ledger=ledger, cases=Refuses(), executions=Refuses(), functions=Refuses(),  # type: ignore[arg-type]
                      dead_letters=Refuses(), detection_state_machine_arn="arn:d", case_state_machine_arn="arn:c",
                      ingest_function="ingest", reference_function="reference")
    actions, left = service.ingests(dry_run=False)
    assert actions == [] and len(left) == 1 and left[0].startswith("file FILE#x failed before its ledger item")
