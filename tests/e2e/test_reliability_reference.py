"""A reference snapshot replaced in the middle of a run: every finding names the snapshot it was
judged against, and every partition (every file's execution) is judged against exactly one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.reliability import assert_sound, declarations_with_pairs, tiny_world, wrap

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import CuratedLayout, ObjectStore
from accesswatch.detection import detect
from accesswatch.reference.index import ReferenceIndex
from accesswatch_tools.operate.world_run import reference_files, settle, upload

pytestmark = pytest.mark.e2e


def test_reference_replaced_mid_run(tmp_path: Path):
    world = tiny_world(tmp_path / "world")
    logs = sorted((world / "logs").iterdir())[:2]
    new_declarations = declarations_with_pairs(world, logs, per_file=6)[0]
    swap: dict[str, Any] = {}

    def inner(handler: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(event: dict[str, Any], context: Any) -> Any:
            if event["partition"]["key"].endswith("-00001.parquet") and not swap:
                # Inside a detect invocation, between two partitions of one execution: the
                # declarations snapshot is replaced and a new reference index is published.
                swap["before"] = event["snapshot_id"]
                swap["partition"] = event["partition"]["key"]
                upload_bytes(new_declarations, "reference/declarations.csv")
            return handler(event, context)
        return wrapped

    from accesswatch_tools.embedded.runtime import EmbeddedAws

    with EmbeddedAws(parameters={"PartitionRows": "70"}, handler_wrapper=wrap("DetectFunction", inner)) as aws:
        def upload_bytes(data: bytes, key: str) -> None:
            aws.client("s3").put_object(Bucket=aws.resource_name("RawBucket"), Key=key, Body=data)

        ledger = Ledger(aws.resource_name("LedgerTable"))
        cases = CaseStore(aws.resource_name("CasesTable"))
        for path in reference_files(world / "reference"):
            upload(aws, path, f"reference/{path.name}")
        upload(aws, logs[0], f"access-logs/cms/{logs[0].name}")
        settle(aws, cases, 300)
        assert swap, "the snapshot was never replaced"
        after = ledger.current_snapshot_id()
        assert after is not None and after != swap["before"]
        upload(aws, logs[1], f"access-logs/cms/{logs[1].name}")
        settle(aws, cases, 300)

        files = {Path(f["key"]).name: f for f in ledger.all_files() if f["kind"] == "access-log"}
        assert files[logs[0].name]["snapshot_id"] == swap["before"]  # started before the swap
        assert files[logs[1].name]["snapshot_id"] == after  # started after it
        assert {f["status"] for f in files.values()} == {"detected"}

        store = ObjectStore(aws.client("s3"))
        curated = aws.resource_name("CuratedBucket")
        index = {sid: ReferenceIndex.from_bytes(store.get_bytes(curated, CuratedLayout.reference_index(sid)))
                 for sid in (swap["before"], after)}
        findings = list(FindingStore(aws.resource_name("FindingsTable")).scan())
        by_partition: dict[str, list[dict[str, Any]]] = {}
        for f in findings:
            by_partition.setdefault(f["partition_key"], []).append(f)
        changed = 0
        for file in files.values():
            for key in (k for k in store.keys(curated, "events/") if file["ingest_id"] in k):
                mine = by_partition.get(key, [])
                # One snapshot per partition, the one its execution was started with.
                assert {f["snapshot_id"] for f in mine} <= {file["snapshot_id"]}, key
                events = store.get_parquet(curated, key)
                judged = {sid: set(detect(events, ix)["finding_id"].to_list()) for sid, ix in index.items()}
                assert {f["finding_id"] for f in mine} <= judged[file["snapshot_id"]], key
                changed += judged[swap["before"]] != judged[after]
        assert changed >= 2  # the two snapshots really judge these partitions differently
        # The partition being detected when the snapshot changed was judged against the old one only.
        during = {f["finding_id"] for f in by_partition[swap["partition"]]}
        events = store.get_parquet(curated, swap["partition"])
        old, new = (set(detect(events, index[sid])["finding_id"].to_list()) for sid in (swap["before"], after))
        assert during and during <= old and old <= {f["finding_id"] for f in findings}
        assert not (new - old) & during
        new_pairs = {f["user_id"] + "/" + f["client_id"] for f in findings if f["rule"] == "DECLARED_ASSOCIATE"
                     and f["snapshot_id"] == after}
        assert len(new_pairs) >= 6
        assert_sound(aws)
