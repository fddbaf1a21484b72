"""Which put of a reference file a notification reports, how puts are ordered, how the current snapshot
pointer is kept under out-of-order and concurrent delivery, and the check ``verify`` can make of it
(issue 18, item 4)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import jmespath
import pytest
from moto import mock_aws

from accesswatch.dal.ledger import Ledger
from accesswatch.models import S3Notification, SourceObject
from accesswatch.reference.uploads import Upload, decidable, is_newer, newest
from accesswatch.s3_objects import Identity
from accesswatch.services.reference import newer_entry as newer
from accesswatch.services.reference import snapshot_id_of, stale_reference


def notification(*, version: str | None = "v1", sequencer: str | None = "0055AED6DCD90281E5",
                 key: str = "reference/staff.csv", etag: str = "abc", time: str = "2025-04-01T02:15:00.123Z"
                 ) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "eTag": etag, "size": 10}
    if version is not None:
        obj["versionId"] = version
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "eventTime": time,
                         "s3": {"bucket": {"name": "raw"}, "object": obj}}]}


def source(**kwargs: Any) -> SourceObject:
    return S3Notification.model_validate(notification(**kwargs)).created()[0].source()


# ------------------------------------------------------------------ which put


def test_a_notification_names_its_put():
    obj = source()
    assert (obj.version_id, obj.sequencer, obj.event_time) == ("v1", "0055AED6DCD90281E5", "2025-04-01T02:15:00.123Z")


def test_a_redelivery_is_the_same_put_and_a_new_put_of_the_same_bytes_is_not():
    first = source()
    assert source().put_id == first.put_id  # the same event again
    assert source(version="v2", sequencer="0055AED6DCD90281F0").put_id != first.put_id  # a new put, same ETag
    # Access logs keep content identity: the same bytes at the same key are the same file.
    assert source(version="v2", sequencer="0055AED6DCD90281F0").ingest_id == first.ingest_id


def test_without_a_version_the_sequencer_tells_puts_apart():
    for version in (None, "null"):  # unversioned, or versioning suspended
        a, b = source(version=version, sequencer="01"), source(version=version, sequencer="02")
        assert a.put_id != b.put_id and a.put_id == source(version=version, sequencer="01").put_id
    # Neither: nothing tells a put from a re-delivery, and the identity is the content's.
    assert source(version=None, sequencer=None).put_id == source(version=None, sequencer=None).ingest_id


def test_the_idempotency_keys():
    def key(identity: Identity, obj: SourceObject) -> Any:
        return jmespath.search(identity.event_key, obj.__dict__)

    first, again = source(), source()
    new_put = source(version="v2", sequencer="0055AED6DCD90281F0", time="2025-04-02T00:00:00.000Z")
    assert key(Identity.PUT, first) == key(Identity.PUT, again) != key(Identity.PUT, new_put)
    assert key(Identity.CONTENT, first) == key(Identity.CONTENT, new_put)  # access logs: unchanged
    assert Identity.PUT.file_id(first) == first.put_id and Identity.CONTENT.file_id(first) == first.ingest_id
    unversioned = [source(version=None, sequencer=s) for s in ("01", "02")]
    assert key(Identity.PUT, unversioned[0]) != key(Identity.PUT, unversioned[1])


# ------------------------------------------------------------------ which put is newer


def up(sequencer: str | None = None, at: str | None = None, key: str = "reference/staff.csv") -> Upload:
    return Upload(key, None, sequencer, at)


def test_sequencers_compare_as_left_padded_hex():
    assert is_newer(up("0100"), up("FF")) and not is_newer(up("FF"), up("0100"))
    assert is_newer(up("55AED6DCD90281E6"), up("0055AED6DCD90281E5"))
    assert is_newer(up("0a"), up("09"))  # case does not matter
    # Within one key the sequencer decides, even against the event times.
    assert is_newer(up("02", "2025-04-01T00:00:00.000Z"), up("01", "2025-04-01T00:00:05.000Z"))


def test_different_keys_and_missing_sequencers_are_ordered_by_upload_time():
    a = up("FF", "2025-04-01T00:00:00.500Z", key="reference/staff.csv")
    b = up("01", "2025-04-01T00:00:01.000Z", key="reference/staff.jsonl")
    assert is_newer(b, a) and not is_newer(a, b)  # sequencers of different keys are not compared
    assert is_newer(up(None, "2025-04-01T00:00:01.000+00:00"), up("01", "2025-04-01T00:00:00.000Z"))


def test_an_undecidable_order_lets_the_later_processed_win_and_says_so():
    same = "2025-04-01T00:00:00.000Z"
    assert is_newer(up(None, same), up(None, same)) and is_newer(up(), up())
    assert not decidable(up(None, same), up(None, same)) and decidable(up("01"), up("02"))
    assert newest([(up("03"), "c"), (up("01"), "a"), (up("02"), "b")]) == "c"
    assert newest([]) is None


# ------------------------------------------------------------------ the pointer


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="ap-southeast-2")
        dynamodb.create_table(TableName="ledger", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        yield Ledger("ledger", dynamodb)


def entry(digest: str, sequencer: str, key: str = "reference/staff.csv") -> dict[str, Any]:
    return {"digest": digest, "key": f"reference/snapshots/staff/{digest}.parquet", "ingest_id": digest + "0" * 16,
            "source_key": key, "sequencer": sequencer, "uploaded_at": "2025-04-01T00:00:00.000Z"}


def test_the_newest_put_stays_current_whatever_order_they_arrive_in(ledger: Ledger):
    assert ledger.set_reference_kind("staff", entry("b", "02"), newer)[1]
    pointer, current = ledger.set_reference_kind("staff", entry("a", "01"), newer)  # older, late
    assert not current and pointer["kinds"]["staff"]["digest"] == "b"
    assert ledger.set_reference_kind("staff", entry("b", "02"), newer)[1]  # the current one again: still current
    pointer, current = ledger.set_reference_kind("staff", entry("c", "03"), newer)
    assert current and pointer["kinds"]["staff"] == entry("c", "03")
    # Kinds stay apart.
    ledger.set_reference_kind("clients", {**entry("k", "01"), "source_key": "reference/clients.csv"}, newer)
    assert set((ledger.reference_pointer() or {})["kinds"]) == {"staff", "clients"}


def test_a_put_racing_another_of_its_kind_compares_again(ledger: Ledger, monkeypatch: pytest.MonkeyPatch):
    """Between reading the pointer and writing it, a newer put lands: the conditional write fails, the
    pointer is read again, and the older put is then not current."""
    ledger.set_reference_kind("staff", entry("a", "01"), newer)
    real = ledger.reference_pointer
    raced: list[bool] = []

    def pointer_then_race() -> dict[str, Any] | None:
        seen = real()
        if not raced:
            raced.append(True)
            ledger.set_reference_kind("staff", entry("c", "03"), newer)  # the other function's write
        return seen

    monkeypatch.setattr(ledger, "reference_pointer", pointer_then_race)
    pointer, current = ledger.set_reference_kind("staff", entry("b", "02"), newer)
    assert raced and not current and pointer["kinds"]["staff"]["digest"] == "c"


# ------------------------------------------------------------------ the check for verify


def item(digest: str, sequencer: str, at: str, status: str = "ingested", kind: str = "staff") -> dict[str, Any]:
    return {"pk": f"FILE#{digest}", "ingest_id": digest * 4, "kind": "reference", "reference_kind": kind,
            "status": status, "key": f"reference/{kind}.csv", "version_id": f"v{digest}", "sequencer": sequencer,
            "uploaded_at": at, "reference_digest": digest}


def pointer_of(**current: str) -> dict[str, Any]:
    kinds = {kind: {"digest": digest, "key": f"snap/{digest}", "ingest_id": digest * 4}
             for kind, digest in current.items()}
    return {"kinds": kinds, "snapshot_id": snapshot_id_of(kinds)}


def test_verify_names_a_current_snapshot_that_is_not_the_newest_upload():
    files = [item("a", "01", "2025-04-01T00:00:00.000Z"), item("b", "02", "2025-04-01T00:00:01.000Z"),
             item("c", "03", "2025-04-01T00:00:02.000Z", status="rejected"),
             item("k", "01", "2025-04-01T00:00:00.000Z", kind="clients")]
    assert stale_reference(pointer_of(staff="b", clients="k"), files) == []
    problems = stale_reference(pointer_of(staff="a", clients="k"), files)
    assert [p[0] for p in problems] == ["reference staff"] and "bbbb" in problems[0][1]
    stale_index = {**pointer_of(staff="b", clients="k"), "snapshot_id": pointer_of(staff="a", clients="k")["snapshot_id"]}
    assert [p[0] for p in stale_reference(stale_index, files)] == ["reference index"]
    assert [p[0] for p in stale_reference({"kinds": {}}, files)] == ["reference clients", "reference staff"]
    # A tie nothing can order is not a problem (either may be current).
    tie = [item("a", "", "2025-04-01T00:00:00.000Z"), {**item("b", "", "2025-04-01T00:00:00.000Z"),
                                                       "key": "reference/staff.jsonl"}]
    assert stale_reference({"kinds": {"staff": {"digest": "a"}}}, tie) == []
