"""Every put of a reference file is a snapshot, the newest put of a kind is current, and a notification
delivered again is the same put (issue 18, item 4), through the embedded runtime: real puts to the
versioned raw bucket, whose notifications carry the version id and sequencer as S3's do."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.reliability import assert_sound, declarations_with_pairs, tiny_world, wrap

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import Ledger
from accesswatch.services.reference import snapshot_id_of, stale_reference
from accesswatch_tools.operate.world_run import reference_files, settle, upload

pytestmark = pytest.mark.e2e

DECLARATIONS = "reference/declarations.csv"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_world(tmp_path_factory.mktemp("world"))


class Held:
    """A handler wrapper for the reference function: holds back (records, does not run) the
    notifications of ``key`` while ``holding``; records every notification it sees."""

    def __init__(self) -> None:
        self.holding = False
        self.held: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []

    def __call__(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            self.seen.append(json.loads(json.dumps(event)))
            if self.holding:
                self.held.append(event)
                return {"held": True}
            return handler(event, context)
        return wrapped


@pytest.fixture
def system(world: Path) -> Iterator[tuple[Any, Held]]:
    from accesswatch_tools.embedded.runtime import EmbeddedAws

    held = Held()
    with EmbeddedAws(handler_wrapper=wrap("ReferenceFunction", held)) as aws:
        yield aws, held


def _put(aws: Any, key: str, data: bytes) -> str:
    return str(aws.client("s3").put_object(Bucket=aws.resource_name("RawBucket"), Key=key, Body=data)["VersionId"])


def _deliver(aws: Any, notification: dict[str, Any]) -> dict[str, Any]:
    response = aws.client("lambda").invoke(FunctionName=aws.resource_name("ReferenceFunction"),
                                           Payload=json.dumps(notification).encode())
    body = json.loads(response["Payload"].read() or b"{}")
    assert "FunctionError" not in response, body
    return dict(body)


def _uploads(ledger: Ledger, kind: str) -> list[dict[str, Any]]:
    return sorted((f for f in ledger.all_files() if f.get("kind") == "reference" and f.get("reference_kind") == kind),
                  key=lambda f: str(f["uploaded_at"]))


def _declared_findings(aws: Any, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    """For each of ``pairs``: the snapshots its DECLARED_ASSOCIATE findings name."""
    out: dict[tuple[str, str], set[str]] = {}
    for f in FindingStore(aws.resource_name("FindingsTable")).scan():
        pair = (f["user_id"], f["client_id"])
        if f["rule"] == "DECLARED_ASSOCIATE" and pair in pairs:
            out.setdefault(pair, set()).add(f["snapshot_id"])
    return out


def _upload_world_reference(aws: Any, world: Path, declarations: bytes | None = None) -> None:
    for path in reference_files(world / "reference"):
        if path.name == "declarations.csv" and declarations is not None:
            _put(aws, DECLARATIONS, declarations)
        else:
            upload(aws, path, f"reference/{path.name}")


def test_the_previous_reference_file_put_back_becomes_current(world: Path, system: tuple[Any, Held]):
    aws, _ = system
    log = sorted((world / "logs").iterdir())[0]
    with_pairs, pairs = declarations_with_pairs(world, [log], per_file=6)
    without = (world / "reference" / "declarations.csv").read_bytes()
    ledger = Ledger(aws.resource_name("LedgerTable"))

    _upload_world_reference(aws, world, declarations=with_pairs)  # 1: declarations with the pairs
    first = ledger.current_snapshot_id()
    _put(aws, DECLARATIONS, without)  # 2: a newer file without them replaces it
    replaced = ledger.current_snapshot_id()
    _put(aws, DECLARATIONS, with_pairs)  # 3: the previous file put back
    restored = ledger.current_snapshot_id()

    puts = _uploads(ledger, "declarations")
    assert len(puts) == 3 and len({p["ingest_id"] for p in puts}) == 3  # a ledger row per put
    assert {p["status"] for p in puts} == {"ingested"}
    assert puts[0]["etag"] == puts[2]["etag"] != puts[1]["etag"]  # the same bytes as the first
    assert len({p["version_id"] for p in puts}) == 3 and all(p["sequencer"] for p in puts)
    pointer = ledger.reference_pointer() or {}
    assert pointer["kinds"]["declarations"]["ingest_id"] == puts[2]["ingest_id"]
    assert len({first, replaced, restored}) == 3  # a new snapshot: the put back is current again
    assert restored == pointer["snapshot_id"] == snapshot_id_of(pointer["kinds"])
    assert stale_reference(pointer, ledger.all_files()) == []

    # Detection judges against the file put back: its declarations are there again.
    upload(aws, log, f"access-logs/cms/{log.name}")
    settle(aws, CaseStore(aws.resource_name("CasesTable")), 300)
    file = next(f for f in ledger.all_files() if f.get("kind") == "access-log")
    assert file["status"] == "detected" and file["snapshot_id"] == restored
    found = _declared_findings(aws, pairs)
    assert set(found) == pairs and set().union(*found.values()) == {restored}
    assert_sound(aws)


def test_a_notification_delivered_again_is_processed_once(world: Path, system: tuple[Any, Held]):
    aws, held = system
    ledger = Ledger(aws.resource_name("LedgerTable"))
    _upload_world_reference(aws, world)
    (notification,) = [n for n in held.seen if n["Records"][0]["s3"]["object"]["key"].endswith("declarations.csv")]
    before = (ledger.all_files(), ledger.reference_pointer())
    for _ in range(2):  # S3 and Lambda deliver at least once: the same event again
        again = _deliver(aws, notification)
        assert again["snapshots"][0]["status"] == "accepted" and again["snapshots"][0]["current"]
    assert (ledger.all_files(), ledger.reference_pointer()) == before  # nothing new, nothing changed

    # A new put of the same bytes is not a re-delivery: it is a new snapshot, and current.
    _put(aws, DECLARATIONS, (world / "reference" / "declarations.csv").read_bytes())
    puts = _uploads(ledger, "declarations")
    assert len(puts) == 2 and puts[0]["etag"] == puts[1]["etag"]
    assert (ledger.reference_pointer() or {})["kinds"]["declarations"]["ingest_id"] == puts[1]["ingest_id"]
    # ... and the first put's notification delivered once more still does not make it current.
    _deliver(aws, notification)
    assert (ledger.reference_pointer() or {})["kinds"]["declarations"]["ingest_id"] == puts[1]["ingest_id"]
    assert stale_reference(ledger.reference_pointer(), ledger.all_files()) == []


def test_out_of_order_notifications_leave_the_newer_put_current(world: Path, system: tuple[Any, Held]):
    aws, held = system
    log = sorted((world / "logs").iterdir())[0]
    with_pairs, pairs = declarations_with_pairs(world, [log], per_file=6)
    without = (world / "reference" / "declarations.csv").read_bytes()
    ledger = Ledger(aws.resource_name("LedgerTable"))
    _upload_world_reference(aws, world)

    held.holding = True
    _put(aws, DECLARATIONS, without)  # the older put: its notification is late
    held.holding = False
    (late,) = held.held
    _put(aws, DECLARATIONS, with_pairs)  # the newer put, delivered first
    newer = ledger.current_snapshot_id()
    newer_put = (ledger.reference_pointer() or {})["kinds"]["declarations"]

    result = _deliver(aws, late)["snapshots"][0]  # the older put's notification arrives now
    assert result["status"] == "accepted" and not result["current"] and result["snapshot_id"] is None
    assert result["superseded_by"] == newer_put["ingest_id"]
    assert ledger.current_snapshot_id() == newer
    assert (ledger.reference_pointer() or {})["kinds"]["declarations"] == newer_put
    older = ledger.get_file(result["ingest_id"]) or {}
    assert older["status"] == "ingested" and older["superseded_by"] == newer_put["ingest_id"]
    late_object = late["Records"][0]["s3"]["object"]
    assert older["version_id"] == late_object["versionId"] and older["sequencer"] == late_object["sequencer"]
    assert stale_reference(ledger.reference_pointer(), ledger.all_files()) == []

    upload(aws, log, f"access-logs/cms/{log.name}")
    settle(aws, CaseStore(aws.resource_name("CasesTable")), 300)
    found = _declared_findings(aws, pairs)
    assert set(found) == pairs and set().union(*found.values()) == {newer}  # judged against the newer put
    assert_sound(aws)
