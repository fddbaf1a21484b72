"""Replay judges stored partitions again: new reference data changes findings, nothing is duplicated."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from accesswatch.dal.findings import FindingStore
from accesswatch.services.replay import plan_replay
from accesswatch_tools.operate.replay import replay
from accesswatch_tools.operate.world_run import run_world, upload

pytestmark = pytest.mark.e2e


def test_plan_picks_partitions_by_nz_date():
    keys = ["events/system=cms/nz_date=2025-03-31/a-00000.parquet", "events/system=cms/nz_date=2025-04-02/b.parquet",
            "events/system=payment/nz_date=2025-04-01/c.parquet", "manifests/x.json"]
    plan = plan_replay(keys, "bkt", date(2025, 4, 1), date(2025, 4, 2))
    assert [p["key"] for p in plan.partitions] == keys[1:3]
    assert plan.replay_id == plan_replay(list(reversed(keys)), "bkt", date(2025, 4, 1), date(2025, 4, 2)).replay_id


def test_replay_after_a_new_declaration(aws, small_world: Path, tmp_path: Path):
    outcome = run_world(aws, small_world / "reference", small_world / "logs", tmp_path / "first")
    assert outcome.ok, outcome.problems
    findings = [json.loads(x) for x in (tmp_path / "first/findings.jsonl").read_text().splitlines()]
    declared = {(f["user_id"], f["client_id"]) for f in findings if f["rule"] == "DECLARED_ASSOCIATE"}
    # A staff member now declares a conflict with a client they opened without any finding.
    events = [json.loads(x) for x in (small_world / "truth.jsonl").read_text().splitlines()]
    flagged = {(e["user_id"], e["client_id"]) for e in events}
    target = next(f for f in findings if f["rule"] == "SENSITIVE_LOOKUP" and (f["user_id"], f["client_id"]) not in declared)
    pair = (target["user_id"], target["client_id"])
    assert pair in flagged
    text = (small_world / "reference/declarations.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    dropped = rows.pop(0)  # and one earlier declaration is withdrawn
    rows.append({**rows[0], "user_id": pair[0], "client_id": pair[1], "nature": "friend", "declared_at": "2025-04-05"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    changed = tmp_path / "declarations.csv"
    changed.write_text(out.getvalue(), encoding="utf-8")
    upload(aws, changed, "reference/declarations.csv")

    days = sorted({f["occurred_at"][:10] for f in findings})
    day = timedelta(days=1)  # occurred_at may be UTC: widen by a day each side of the NZ dates
    report = replay(aws, date.fromisoformat(days[0]) - day, date.fromisoformat(days[-1]) + day, timeout_s=600)
    assert report["execution"] == "SUCCEEDED"
    assert report["new"].get("DECLARED_ASSOCIATE", 0) >= 1
    was_declared = [f for f in findings if f["rule"] == "DECLARED_ASSOCIATE"
                    and (f["user_id"], f["client_id"]) == (dropped["user_id"], dropped["client_id"])]
    assert report["no_longer_raised"].get("DECLARED_ASSOCIATE", 0) == len(was_declared)

    stored = list(FindingStore(aws.resource_name("FindingsTable")).scan())
    assert len({s["finding_id"] for s in stored}) == len(stored)
    new_total = sum(report["new"].values())
    assert len(stored) == len(findings) + new_total
