"""An event_id reused with different content never hides an access (issue 18, item 3).

On the embedded runtime, after a small world has run:
- a file of the same date that reuses three accepted event ids for other users and clients has those
  lines quarantined (the reason names the id and the earlier file), counted in the ledger, and raises
  EventIdConflictAlarm; a line it repeats unchanged stays a harmless duplicate;
- lines reusing ids of findings on *another* date (ingest does not compare across dates) are kept by
  detection under their own conflict ids, naming the earlier finding, instead of vanishing;
- `verify` passes, and names an accepted conflict planted behind ingest's back.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from support.reliability import tiny_world

from accesswatch.dal.cases import CaseStore
from accesswatch.dal.findings import FindingStore
from accesswatch.dal.ledger import Ledger
from accesswatch.dal.objects import ObjectStore
from accesswatch_tools.embedded.metrics import evaluate_local_alarms
from accesswatch_tools.embedded.runtime import EmbeddedAws
from accesswatch_tools.operate.stored_state import verify
from accesswatch_tools.operate.world_run import run_world, settle, upload

pytestmark = pytest.mark.e2e


def _events(path: Path) -> list[dict[str, Any]]:
    """The well-formed view lines of a world's JSON Lines file (the world plants malformed ones too)."""
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    events = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and all(isinstance(event.get(k), str) and event.get(k)
                                               for k in ("event_id", "occurred_at", "user_id", "client_id")):
                events.append(event)
    return events


def _file(ledger: Ledger, key: str) -> dict[str, Any]:
    return next(f for f in ledger.all_files() if f.get("key") == key)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("identity")
    world = tiny_world(root / "world")
    with EmbeddedAws() as aws:
        outcome = run_world(aws, world / "reference", world / "logs", root / "out")
        assert outcome.ok, outcome.problems
        yield aws, world, root


def test_a_reused_event_id_of_the_same_date_is_quarantined_with_its_reason_and_raises_the_alarm(system: Any) -> None:
    aws, world, root = system
    original = _events(world / "logs" / "cms_0000_20250331.jsonl.gz")
    people = [e for e in original if e["user_id"].startswith("u")]
    reused = [{**e, "user_id": other["user_id"], "client_id": other["client_id"]}
              for e, other in zip(people[:3], people[-3:], strict=True)]
    repeated = people[5]
    path = root / "reused.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in [*reused, repeated]), encoding="utf-8")
    key = "access-logs/cms/reused_20250331.jsonl"
    upload(aws, path, key)
    settle(aws, CaseStore(aws.resource_name("CasesTable")), 300)

    ledger = Ledger(aws.resource_name("LedgerTable"))
    item = _file(ledger, key)
    assert (int(item["lines_read"]), int(item["accepted"]), int(item["quarantined"]), int(item["conflicts"])) \
        == (4, 1, 3, 3)
    body = ObjectStore(aws.client("s3")).get_bytes(aws.resource_name("CuratedBucket"),
                                                   f"quarantine/system=cms/{item['ingest_id']}.jsonl")
    records = [json.loads(line) for line in body.decode().split("\n") if line]
    assert [r["line"] for r in records] == [1, 2, 3]
    for record, event in zip(records, reused, strict=True):
        assert record["reason"].startswith(f"event_id {event['event_id']} was already accepted with different "
                                           "content (access-logs/cms/cms_0000_20250331.jsonl.gz line ")
    # A minute of data counts once that minute has passed (as in CloudWatch): evaluated two minutes on.
    alarms = {s.logical_id: s.as_dict() for s in evaluate_local_alarms(aws, time.time() + 120)}
    assert alarms["EventIdConflictAlarm"]["state"] == "ALARM", alarms["EventIdConflictAlarm"]
    report = verify(aws)
    assert report.ok, "\n".join(str(p) for p in report.problems)


def test_a_reused_event_id_on_another_date_keeps_its_finding_under_a_conflict_id(system: Any) -> None:
    aws, world, root = system
    findings = FindingStore(aws.resource_name("FindingsTable"))
    before = list(findings.scan())
    sensitive = [f for f in before if f["rule"] == "SENSITIVE_LOOKUP" and not f.get("event_conflict_of")][:5]
    assert sensitive
    lines = []
    for f in sensitive:
        other_day = "2025-04-01T10:00:00+13:00" if f["nz_date"] == "2025-03-31" else "2025-03-31T10:00:00+13:00"
        screen = json.loads(f["evidence"])["screen"]
        lines.append({"event_id": f["event_id"], "occurred_at": other_day, "user_id": f["user_id"],
                      "client_id": f["client_id"], "action": "view", "screen": screen})
    path = root / "reused_other_day.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    upload(aws, path, "access-logs/cms/reused_other_day.jsonl")
    settle(aws, CaseStore(aws.resource_name("CasesTable")), 300)

    kept = [f for f in findings.scan() if f.get("event_conflict_of")]
    assert kept, "no conflicting finding was kept"
    originals = {f["finding_id"]: f for f in sensitive}
    for f in kept:
        earlier = originals[f["event_conflict_of"]]
        assert f["event_id"] == earlier["event_id"] and f["occurred_at_utc"] != earlier["occurred_at_utc"]
        assert f["finding_id"] != earlier["finding_id"]
    report = verify(aws)
    assert report.ok, "\n".join(str(p) for p in report.problems)


def test_verify_names_an_accepted_conflict_planted_behind_ingests_back(system: Any) -> None:
    aws, _world, _root = system
    store = ObjectStore(aws.client("s3"))
    bucket = aws.resource_name("CuratedBucket")
    key = sorted(k for k in store.keys(bucket, "events/system=cms/nz_date=2025-03-31/"))[0]
    frame = store.get_parquet(bucket, key)
    first = frame.head(1)
    planted = first.with_columns(pl.lit("u-planted").alias("user_id"), (pl.col("line") + 10**6).alias("line"))
    try:
        store.put_parquet(bucket, key, pl.concat([frame, planted]))
        report = verify(aws)
        assert any(p.check == "partitions" and p.subject == f"cms/{first['event_id'][0]}"
                   and "accepted with different content" in p.detail for p in report.problems), report.problems
    finally:
        store.put_parquet(bucket, key, frame)
